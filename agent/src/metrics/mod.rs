//! Prometheus metrics, kept in one process-wide registry (the official `prometheus-client`
//! crate encodes them; nothing here writes the text format by hand). The choke points record
//! into it — an order's outcome (`orders`), every backend call (the `Layered` layer), every
//! Waldur request (the client's one send), STOMP sessions and events, reconcile findings,
//! usage samples — and the rest is read when scraped (`ops::endpoints`): outbox rows, loop
//! ages, database size. This module depends on nothing of the agent's, so every layer can
//! record into it. Label values come from fixed sets or the config (offering and session
//! names); never from a resource, a user or a message.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OrderLabels {
    pub offering: String,
    pub r#type: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabels {
    pub r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabels {
    pub backend: String,
    pub op: String,
    /// `ok`, or the error's kind.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabels {
    pub backend: String,
    pub op: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WaldurLabels {
    /// The call's fixed name (`list orders`, `set_state_done`, …).
    pub endpoint: String,
    /// The HTTP status, or `transport` where none came.
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SessionLabels {
    pub session: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub offering: String,
    /// `received`, `acked`, `dropped`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FindingLabels {
    pub offering: String,
    /// `suspended`, `resumed`, `quota_repaired`, `missing`, `over_ceiling`.
    pub finding: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub offering: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LoopLabels {
    /// The loop's name (`orders <offering>`, `usage <offering>`, …).
    pub r#loop: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BuildLabels {
    pub version: String,
}

type Timing = Family<OpLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    pub registry: Registry,
    pub orders: Family<OrderLabels, Counter>,
    pub order_seconds: Family<TypeLabels, Histogram, fn() -> Histogram>,
    pub backend_calls: Family<BackendLabels, Counter>,
    pub backend_seconds: Timing,
    pub waldur_requests: Family<WaldurLabels, Counter>,
    pub stomp_connected: Family<SessionLabels, Gauge>,
    pub stomp_reconnects: Family<SessionLabels, Counter>,
    pub events: Family<EventLabels, Counter>,
    pub reconcile_findings: Family<FindingLabels, Counter>,
    pub usage_samples: Family<OutcomeLabels, Counter>,
    pub outbox_rows: Family<StateLabels, Gauge>,
    pub loop_age: Family<LoopLabels, Gauge>,
    pub database_bytes: Gauge,
    pub build_info: Family<BuildLabels, Gauge>,
    /// Set once a Waldur request was answered with success (readiness).
    pub waldur_reached: AtomicBool,
}

/// From 5 ms to about 80 s, doubling.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("site_agent");
        let m = Metrics {
            orders: Family::default(),
            order_seconds: Family::new_with_constructor(seconds),
            backend_calls: Family::default(),
            backend_seconds: Family::new_with_constructor(seconds),
            waldur_requests: Family::default(),
            stomp_connected: Family::default(),
            stomp_reconnects: Family::default(),
            events: Family::default(),
            reconcile_findings: Family::default(),
            usage_samples: Family::default(),
            outbox_rows: Family::default(),
            loop_age: Family::default(),
            database_bytes: Gauge::default(),
            build_info: Family::default(),
            waldur_reached: AtomicBool::new(false),
            registry: Registry::default(),
        };
        registry.register(
            "orders",
            "Orders handled, by type and outcome (done, erred, skipped, retry)",
            m.orders.clone(),
        );
        registry.register(
            "order_duration_seconds",
            "Time to handle an order",
            m.order_seconds.clone(),
        );
        registry.register(
            "backend_calls",
            "Storage backend calls, by operation and result (ok or the error kind)",
            m.backend_calls.clone(),
        );
        registry.register(
            "backend_call_duration_seconds",
            "Time of a storage backend call, retries included",
            m.backend_seconds.clone(),
        );
        registry.register(
            "waldur_requests",
            "Requests to Waldur, by call and HTTP status",
            m.waldur_requests.clone(),
        );
        registry.register(
            "stomp_connected",
            "1 while the STOMP session is connected",
            m.stomp_connected.clone(),
        );
        registry.register(
            "stomp_reconnects",
            "STOMP sessions connected again after being lost",
            m.stomp_reconnects.clone(),
        );
        registry.register(
            "events",
            "STOMP events received, acknowledged and dropped as malformed",
            m.events.clone(),
        );
        registry.register(
            "reconcile_findings",
            "What the reconcile pass found and did",
            m.reconcile_findings.clone(),
        );
        registry.register(
            "usage_samples",
            "Usage samples taken and failed",
            m.usage_samples.clone(),
        );
        registry.register(
            "outbox_rows",
            "Usage figures in the outbox, by state",
            m.outbox_rows.clone(),
        );
        registry.register(
            "loop_last_success_age_seconds",
            "Seconds since each loop last finished a cycle (since start if none yet)",
            m.loop_age.clone(),
        );
        registry.register(
            "database_size_bytes",
            "Size of the SQLite state",
            m.database_bytes.clone(),
        );
        registry.register(
            "build_info",
            "Build information (always 1)",
            m.build_info.clone(),
        );
        m.build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").into(),
            })
            .set(1);
        Metrics { registry, ..m }
    }

    /// An order handled.
    pub fn order(&self, offering: &str, kind: &str, outcome: &str, took: Duration) {
        self.orders
            .get_or_create(&OrderLabels {
                offering: offering.into(),
                r#type: kind.into(),
                outcome: outcome.into(),
            })
            .inc();
        self.order_seconds
            .get_or_create(&TypeLabels {
                r#type: kind.into(),
            })
            .observe(took.as_secs_f64());
    }

    /// A backend call ended (`error`: its kind).
    pub fn backend_call(
        &self,
        backend: &str,
        op: &str,
        error: Option<site_agent_sdk::ErrorKind>,
        took: Duration,
    ) {
        let result = error.map_or_else(|| "ok".to_string(), |k| format!("{k:?}").to_lowercase());
        self.backend_calls
            .get_or_create(&BackendLabels {
                backend: backend.into(),
                op: op.into(),
                result,
            })
            .inc();
        self.backend_seconds
            .get_or_create(&OpLabels {
                backend: backend.into(),
                op: op.into(),
            })
            .observe(took.as_secs_f64());
    }

    /// A Waldur request answered (`status`) or not (`None`: transport failure).
    pub fn waldur_request(&self, what: &str, status: Option<u16>) {
        if status.is_some_and(|s| (200..300).contains(&s)) {
            self.waldur_reached.store(true, Ordering::Relaxed);
        }
        // `what` is a fixed name in the agent's code; anything else is folded.
        let endpoint = if what.len() <= 40
            && what
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b' ')
        {
            what.to_string()
        } else {
            "other".to_string()
        };
        self.waldur_requests
            .get_or_create(&WaldurLabels {
                endpoint,
                status: status.map_or_else(|| "transport".into(), |s| s.to_string()),
            })
            .inc();
    }

    pub fn event(&self, offering: &str, outcome: &str) {
        self.events
            .get_or_create(&EventLabels {
                offering: offering.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    pub fn finding(&self, offering: &str, finding: &str) {
        self.reconcile_findings
            .get_or_create(&FindingLabels {
                offering: offering.into(),
                finding: finding.into(),
            })
            .inc();
    }

    pub fn samples(&self, offering: &str, taken: usize, failed: usize) {
        for (outcome, n) in [("taken", taken), ("failed", failed)] {
            self.usage_samples
                .get_or_create(&OutcomeLabels {
                    offering: offering.into(),
                    outcome: outcome.into(),
                })
                .inc_by(n as u64);
        }
    }

    /// A STOMP session's state changed.
    pub fn stomp(&self, session: &str, connected: bool, again: bool) {
        let l = SessionLabels {
            session: session.into(),
        };
        self.stomp_connected
            .get_or_create(&l)
            .set(i64::from(connected));
        if connected && again {
            self.stomp_reconnects.get_or_create(&l).inc();
        }
    }

    /// The registry in the text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// The process's metrics.
pub fn get() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_values_are_exposed_with_bounded_labels() {
        let m = Metrics::new();
        m.order("Ceph S3", "Create", "done", Duration::from_millis(20));
        m.backend_call(
            "some-store",
            "issue_key",
            Some(site_agent_sdk::ErrorKind::Unavailable),
            Duration::from_millis(3),
        );
        m.waldur_request("list orders", Some(200));
        m.waldur_request("order 1f0c9a…", None);
        m.samples("Ceph S3", 3, 1);
        let text = m.encode();
        for want in [
            "site_agent_orders_total{offering=\"Ceph S3\",type=\"Create\",outcome=\"done\"} 1",
            "site_agent_backend_calls_total{backend=\"some-store\",op=\"issue_key\",result=\"unavailable\"} 1",
            "site_agent_waldur_requests_total{endpoint=\"list orders\",status=\"200\"} 1",
            "site_agent_waldur_requests_total{endpoint=\"other\",status=\"transport\"} 1",
            "site_agent_usage_samples_total{offering=\"Ceph S3\",outcome=\"failed\"} 1",
            "site_agent_build_info{version=",
            "site_agent_order_duration_seconds_bucket{",
        ] {
            assert!(text.contains(want), "{want} missing in:\n{text}");
        }
    }
}
