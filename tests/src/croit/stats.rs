//! C10 `GET /api/stats?graph=s3-user-data&…`: a user's stored-bytes series.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::CroitSim;
use super::error::ApiError;
use super::request::{self, QueryResult};

/// The only graph the simulator knows (croit's internal
/// `graphite-queries.yml` name, not a documented contract).
pub(crate) const USER_DATA_GRAPH: &str = "s3-user-data";

/// A validated C10 query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatsQuery {
    pub graph: String,
    pub uid: String,
    pub start: i64,
    pub end: i64,
    pub max_points: usize,
}

fn param<'a>(q: &'a HashMap<String, String>, key: &str) -> Result<&'a str, ApiError> {
    match q.get(key).map(|s| s.trim()) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ApiError::bad_request(format!("'{key}' is required"))),
    }
}

fn int_param(q: &HashMap<String, String>, key: &str) -> Result<i64, ApiError> {
    param(q, key)?
        .parse()
        .map_err(|_| ApiError::bad_request(format!("'{key}' must be an integer")))
}

/// Parse and resolve the query. Negative times are "that many seconds ago"
/// and `endTime=0` is "now", as croit reads them.
pub(crate) fn parse_query(q: &HashMap<String, String>, now: i64) -> Result<StatsQuery, ApiError> {
    let graph = param(q, "graph")?.to_string();
    let uid = param(q, "template-s3-user-name")?.to_string();
    let resolve = |t: i64| if t < 0 { now.saturating_add(t) } else { t };
    let start = resolve(int_param(q, "startTime")?);
    let end = match int_param(q, "endTime")? {
        0 => now,
        t => resolve(t),
    };
    let max_points = param(q, "maxDataPoints")?
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::bad_request("'maxDataPoints' must be a positive integer"))?;
    if start > end {
        return Err(ApiError::bad_request("'startTime' is after 'endTime'"));
    }
    Ok(StatsQuery {
        graph,
        uid,
        start,
        end,
        max_points,
    })
}

/// The average of a bucket's non-null values: an integer when exact, a
/// float otherwise (graphite averages; the agent must accept both).
fn average(values: &[Option<u64>]) -> Value {
    let present: Vec<u128> = values.iter().flatten().map(|v| u128::from(*v)).collect();
    if present.is_empty() {
        return Value::Null;
    }
    let count = present.len() as u128;
    let sum: u128 = present.iter().sum();
    if sum.is_multiple_of(count) {
        u64::try_from(sum / count).map_or(Value::Null, |v| json!(v))
    } else {
        json!(sum as f64 / count as f64)
    }
}

/// At most `max` points: when there are more, consecutive points are
/// averaged into equal buckets of `ceil(n / max)` (nulls kept out of the
/// average), each stamped with its first point's `t`.
pub(crate) fn consolidate(points: &[(i64, Option<u64>)], max: usize) -> Vec<Value> {
    if points.len() <= max {
        return points
            .iter()
            .map(|(t, v)| json!({ "t": t, "v": v }))
            .collect();
    }
    let per_bucket = points.len().div_ceil(max.max(1));
    points
        .chunks(per_bucket)
        .map(|chunk| {
            let values: Vec<Option<u64>> = chunk.iter().map(|(_, v)| *v).collect();
            let t = chunk.first().map_or(0, |(t, _)| *t);
            json!({ "t": t, "v": average(&values) })
        })
        .collect()
}

/// C10. An unknown graph is 404; a uid with no series gives `graphs: []`.
pub(crate) async fn stats(
    State(sim): State<CroitSim>,
    query: QueryResult,
) -> Result<Json<Value>, ApiError> {
    let q = request::query(query)?;
    let q = parse_query(&q, chrono::Utc::now().timestamp())?;
    if q.graph != USER_DATA_GRAPH {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "Graph not found"));
    }
    let st = sim.lock();
    let graphs = match st.series.get(&q.uid) {
        None => vec![],
        Some(series) => {
            let window: Vec<(i64, Option<u64>)> = series
                .iter()
                .filter(|(t, _)| (q.start..=q.end).contains(t))
                .copied()
                .collect();
            vec![json!({ "datapoints": consolidate(&window, q.max_points) })]
        }
    };
    Ok(Json(
        json!({ "axis1": { "unit": "BYTES", "graphs": graphs } }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const FULL: [(&str, &str); 5] = [
        ("graph", "s3-user-data"),
        ("template-s3-user-name", "u"),
        ("startTime", "100"),
        ("endTime", "200"),
        ("maxDataPoints", "2000"),
    ];

    #[test]
    fn parses_a_full_query() {
        let got = parse_query(&q(&FULL), 1_000).unwrap();
        assert_eq!(
            got,
            StatsQuery {
                graph: "s3-user-data".into(),
                uid: "u".into(),
                start: 100,
                end: 200,
                max_points: 2000
            }
        );
    }

    #[test]
    fn relative_times_resolve_against_now() {
        let mut p = q(&FULL);
        p.insert("startTime".into(), "-60".into());
        p.insert("endTime".into(), "0".into());
        let got = parse_query(&p, 1_000).unwrap();
        assert_eq!((got.start, got.end), (940, 1_000));
    }

    #[test]
    fn each_missing_or_bad_param_is_a_400() {
        for (i, _) in FULL.iter().enumerate() {
            let mut p = q(&FULL);
            p.remove(FULL[i].0);
            let err = parse_query(&p, 1_000).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "without {}", FULL[i].0);
        }
        for (k, v) in [
            ("startTime", "yesterday"),
            ("endTime", "1.5"),
            ("maxDataPoints", "0"),
            ("maxDataPoints", "-3"),
            ("startTime", "300"),
        ] {
            let mut p = q(&FULL);
            p.insert(k.into(), v.into());
            let err = parse_query(&p, 1_000).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{k}={v}");
        }
    }

    #[test]
    fn consolidation_averages_and_skips_nulls() {
        let pts = [
            (0, Some(10)),
            (1, Some(20)),
            (2, None),
            (3, Some(5)),
            (4, None),
            (5, None),
            (6, Some(7)),
        ];
        // 7 points into at most 3: buckets of 3, 3 and 1.
        let got = consolidate(&pts, 3);
        assert_eq!(
            got,
            vec![
                json!({"t": 0, "v": 15}),
                json!({"t": 3, "v": 5}),
                json!({"t": 6, "v": 7}),
            ]
        );
        // An all-null bucket is null; an inexact average is a float.
        let got = consolidate(&[(0, None), (1, None), (2, Some(1)), (3, Some(2))], 2);
        assert_eq!(
            got,
            vec![json!({"t": 0, "v": null}), json!({"t": 2, "v": 1.5})]
        );
        // Few enough points pass through untouched.
        let got = consolidate(&[(0, Some(1)), (9, None)], 2);
        assert_eq!(
            got,
            vec![json!({"t": 0, "v": 1}), json!({"t": 9, "v": null})]
        );
    }
}
