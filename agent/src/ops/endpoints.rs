//! The metrics and health endpoints (`metrics_listen`; off by default): `GET /metrics`
//! (Prometheus text), `GET /healthz` (alive and making progress: no loop is stuck past its
//! time limit) and `GET /readyz` (the config is loaded, the database answers, and Waldur has
//! accepted a request at least once). Values read on each scrape are filled in here.

use super::supervisor::Supervisor;
use crate::store::Store;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;

/// What the endpoints look at.
#[derive(Clone)]
pub struct Probe {
    pub store: Store,
    pub supervisor: Supervisor,
}

/// Serves until the process ends. A port that cannot be bound is an error at start.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

pub async fn serve(listener: tokio::net::TcpListener, probe: Probe) {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(probe);
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "the metrics endpoint stopped");
    }
}

async fn metrics(State(p): State<Probe>) -> Response {
    let m = crate::metrics::get();
    let now = tokio::time::Instant::now();
    for (name, age) in p.supervisor.ages(now) {
        m.loop_age
            .get_or_create(&crate::metrics::LoopLabels { r#loop: name })
            .set(age.as_secs() as i64);
    }
    for (name, up) in p.supervisor.sessions() {
        m.stomp_connected
            .get_or_create(&crate::metrics::SessionLabels { session: name })
            .set(i64::from(up));
    }
    match p.store.outbox_counts().await {
        Ok(counts) => {
            for (state, n) in counts {
                m.outbox_rows
                    .get_or_create(&crate::metrics::StateLabels { state })
                    .set(n as i64);
            }
        }
        Err(e) => tracing::debug!(error = %e, "metrics: outbox not readable"),
    }
    let size = p.store.size_bytes().await.unwrap_or(0);
    m.database_bytes.set(size as i64);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.encode(),
    )
        .into_response()
}

async fn healthz(State(p): State<Probe>) -> Response {
    let stuck = p.supervisor.stuck(tokio::time::Instant::now());
    if stuck.is_empty() {
        (StatusCode::OK, "alive\n").into_response()
    } else {
        let names: Vec<String> = stuck.into_iter().map(|(n, _)| n).collect();
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("stuck: {}\n", names.join(", ")),
        )
            .into_response()
    }
}

async fn readyz(State(p): State<Probe>) -> Response {
    if let Err(e) = p.store.outbox_counts().await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("database not answering: {e}\n"),
        )
            .into_response();
    }
    if !crate::metrics::get().waldur_reached.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "Waldur not reached yet\n").into_response();
    }
    (StatusCode::OK, "ready\n").into_response()
}
