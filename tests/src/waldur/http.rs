//! axum glue: one fallback handler turns every HTTP request into a `Ctx`, applies the
//! latency/outage/failure knobs, routes it, records it, and turns the `Reply` into a response.

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State as AxState};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::context::Ctx;
use super::query::Query;
use super::reply::Reply;
use super::state::State;
use super::{CallRecord, Fault, WaldurSim, auth, control, router};

const MAX_BODY: usize = 16 * 1024 * 1024;

pub(crate) fn app(sim: WaldurSim) -> Router {
    Router::new()
        .fallback(handle)
        .layer(axum::middleware::from_fn_with_state(
            sim.clone(),
            super::events::broker_effects,
        ))
        .with_state(sim)
}

async fn handle(AxState(sim): AxState<WaldurSim>, req: Request) -> Response {
    let path = req.uri().path();
    if path == "/api" || path.starts_with("/api/") {
        // Read under the lock, sleep without it: concurrent requests wait side by side.
        let latency = sim.lock().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b.to_vec(),
        Err(_) => {
            return to_response(
                Reply::detail(413, "Request body is too large."),
                parts.method.as_str() == "HEAD",
            );
        }
    };
    let header_str = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    let (ctx, fault, reply) = {
        let mut st = sim.lock();
        let origin = header_str(header::HOST)
            .filter(|h| !h.is_empty())
            .map(|h| format!("http://{h}"))
            .unwrap_or_else(|| st.origin.clone());
        let ctx = Ctx {
            method: parts.method.as_str().to_string(),
            path: parts.uri.path().to_string(),
            query: Query::parse(&raw_query),
            raw_query,
            origin,
            authorization: header_str(header::AUTHORIZATION),
            content_type: header_str(header::CONTENT_TYPE),
            body: bytes,
        };
        let fault = take_fault(&mut st, &ctx);
        let reply = match fault {
            Some(Fault::Status(status)) => {
                let reply = Reply::detail(status, "Simulated failure");
                record(&mut st, &ctx, &reply);
                reply
            }
            _ => process(&mut st, &ctx),
        };
        if let (Some(f), Some(last)) = (fault, st.calls.last_mut()) {
            last.fault = Some(format!("{f:?}"));
        }
        (ctx, fault, reply)
    };
    match fault {
        Some(Fault::DropResponse) => {
            // The effects (events to publish) happened: they still go out.
            let mut resp = broken_response();
            resp.extensions_mut().insert(reply.effects);
            resp
        }
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            to_response(reply, ctx.is_head())
        }
        _ => to_response(reply, ctx.is_head()),
    }
}

/// The fault for this request, if a rule matches (using up one of its times).
fn take_fault(st: &mut State, ctx: &Ctx) -> Option<Fault> {
    let i = st.faults.iter().position(|r| {
        r.times > 0 && r.method.eq_ignore_ascii_case(&ctx.method) && ctx.path.contains(&r.path)
    })?;
    let rule = &mut st.faults[i];
    rule.times -= 1;
    let fault = rule.fault;
    if rule.times == 0 {
        st.faults.remove(i);
    }
    Some(fault)
}

/// A 200 whose body fails mid-way: the connection is cut before the answer is complete.
fn broken_response() -> Response {
    let stream = futures_util::stream::iter([
        Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"{\"partial")),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated lost answer",
        )),
    ]);
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Everything after HTTP parsing, synchronous under the state lock.
pub(crate) fn process(st: &mut State, ctx: &Ctx) -> Reply {
    let path = ctx.path.as_str();
    if path == "/sim" || path.starts_with("/sim/") {
        return control::handle(st, ctx);
    }
    let reply = if path == "/api" || path.starts_with("/api/") {
        if st.down {
            Reply::detail(503, "Service temporarily unavailable (simulated outage).")
        } else if st.fail_remaining > 0 {
            st.fail_remaining -= 1;
            Reply::detail(st.fail_status, "Simulated failure")
        } else {
            router::dispatch(st, ctx)
        }
    } else if path == "/oidc/token" || path == "/oidc/token/" {
        auth::token_endpoint(st, ctx)
    } else {
        Reply::not_found()
    };
    record(st, ctx, &reply);
    reply
}

fn record(st: &mut State, ctx: &Ctx, reply: &Reply) {
    st.calls.push(CallRecord {
        method: ctx.method.clone(),
        path: ctx.path.clone(),
        query: ctx.raw_query.clone(),
        status: reply.status,
        body: ctx.recorded_body(),
        fault: None,
        at_us: st.started.elapsed().as_micros() as u64,
    });
}

fn to_response(reply: Reply, head: bool) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let bytes = match (&reply.body, head) {
        (Some(v), false) => serde_json::to_vec(v).unwrap_or_default(),
        _ => Vec::new(),
    };
    let mut resp = Response::new(Body::from(bytes));
    resp.extensions_mut().insert(reply.effects);
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (k, v) in reply.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            headers.append(name, value);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::waldur::{SimOptions, WaldurSim};

    #[tokio::test]
    async fn latency_delays_api_requests() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sim = WaldurSim::start(SimOptions::default()).await.unwrap();
        let delay = Duration::from_millis(200);
        sim.set_latency(delay);
        let url = format!("{}marketplace-provider-resources/", sim.api_url());
        let started = Instant::now();
        let r = reqwest::Client::new()
            .get(url)
            .header("Authorization", format!("Token {}", sim.provider_token()))
            .send()
            .await
            .unwrap();
        let took = started.elapsed();
        assert_eq!(r.status(), 200);
        // A lower bound only (with slack): a busy machine may take longer, never less.
        assert!(took >= delay / 2, "answered after {took:?}");
        assert_eq!(
            sim.count_calls("GET", "/marketplace-provider-resources/"),
            1
        );
    }
}
