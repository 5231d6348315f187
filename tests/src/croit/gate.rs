//! The middleware in front of every `/api` request: injected latency
//! (`set_latency`, which also delays the `/s3` data plane), injected failures
//! (`fail_next`), authentication, and the call log. `/sim` and other paths
//! pass straight through, unrecorded.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::{CroitSim, SimCall, auth};

fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

fn is_s3(path: &str) -> bool {
    path == "/s3" || path.starts_with("/s3/")
}

pub(crate) async fn api_gate(State(sim): State<CroitSim>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if is_api(&path) || is_s3(&path) {
        // Read under the lock, sleep without it: concurrent requests wait side by side.
        let latency = sim.lock().latency;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }
    if !is_api(&path) {
        return next.run(req).await;
    }
    let method = req.method().as_str().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let refusal = {
        let mut st = sim.lock();
        st.take_failure()
            .or_else(|| (!auth::authorized(&st.auth, req.headers())).then(ApiError::unauthorized))
    };
    let response = match refusal {
        Some(err) => err.into_response(),
        None => next.run(req).await,
    };
    sim.lock().calls.push(SimCall {
        method,
        path,
        query,
        status: response.status().as_u16(),
    });
    response
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::croit::{CroitAuth, CroitSim};

    #[tokio::test]
    async fn latency_delays_api_and_s3_requests() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let sim = CroitSim::start(CroitAuth::Bearer("t".into()))
            .await
            .unwrap();
        sim.add_user("u1", "u1@example.test");
        let delay = Duration::from_millis(200);
        sim.set_latency(delay);
        let http = reqwest::Client::new();
        for url in [
            format!("{}/api/s3/users/u1/buckets", sim.base_url()),
            format!("{}/nobucket", sim.s3_endpoint()),
        ] {
            let started = Instant::now();
            let r = http.get(&url).bearer_auth("t").send().await.unwrap();
            let took = started.elapsed();
            // A lower bound only (with slack): a busy machine may take longer, never less.
            assert!(took >= delay / 2, "{url}: {} after {took:?}", r.status());
        }
        assert_eq!(sim.count_calls("GET", "/api/s3/users/u1/buckets"), 1);
    }
}
