//! The middleware in front of every `/api` request: injected failures
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

pub(crate) async fn api_gate(State(sim): State<CroitSim>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
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
