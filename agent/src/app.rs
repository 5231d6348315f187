//! Wiring: builds the per-offering order processors from the config and runs the roles.

use crate::config::Config;
use crate::orders::{OrderProcessor, Outcome};
use crate::retry::RetryPolicy;
use crate::rotation::{RotationOutcome, Rotator};
use crate::store::Store;
use crate::sync::{ResourceSync, SyncReport};
use crate::waldur::WaldurClient;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct AppOptions {
    /// Retry policy for Waldur and backend calls.
    pub retry: RetryPolicy,
    pub user_agent: String,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            user_agent: format!("site-agent/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

pub struct App {
    pub config: Config,
    pub store: Store,
    pub processors: Vec<OrderProcessor>,
    pub rotators: Vec<Rotator>,
    pub syncs: Vec<ResourceSync>,
}

/// Which periodic work runs, and how often.
#[derive(Debug, Clone, Copy, Default)]
pub struct Roles {
    /// Order polling (and key rotations with it).
    pub orders: Option<Duration>,
    /// The resource reconcile pass (pause/restore, quota drift).
    pub sync: Option<Duration>,
}

impl App {
    /// Builds every offering's Waldur client and backend. Nothing is contacted yet.
    pub fn build(config: Config, options: &AppOptions) -> anyhow::Result<App> {
        let store = Store::open(&config.database_path)?;
        Self::build_with_store(config, store, options)
    }

    pub fn build_with_store(
        config: Config,
        store: Store,
        options: &AppOptions,
    ) -> anyhow::Result<App> {
        let retry = options.retry;
        Self::build_with_backends(config, store, options, |o| crate::backends::build(o, retry))
    }

    /// As `build_with_store`, with the backend of each offering made by `make_backend`
    /// (tests wrap the real plugin to inject crashes).
    pub fn build_with_backends(
        config: Config,
        store: Store,
        options: &AppOptions,
        make_backend: impl Fn(
            &crate::config::Offering,
        ) -> Result<
            Arc<dyn site_agent_sdk::StorageBackend>,
            site_agent_sdk::BackendError,
        >,
    ) -> anyhow::Result<App> {
        let (mut processors, mut rotators, mut syncs) = (Vec::new(), Vec::new(), Vec::new());
        let active = config.offerings.iter().filter(|o| {
            o.order_processing_backend.is_some() || o.membership_sync_backend.is_some()
        });
        for offering in active {
            let waldur = WaldurClient::new(offering, options.retry, &options.user_agent)
                .map_err(|e| anyhow::anyhow!("offering {:?}: {e}", offering.name))?;
            let backend = make_backend(offering)
                .map_err(|e| anyhow::anyhow!("offering {:?}: {e}", offering.name))?;
            let waldur = Arc::new(waldur);
            syncs.push(ResourceSync {
                offering: offering.clone(),
                waldur: waldur.clone(),
                backend: backend.clone(),
            });
            if offering.order_processing_backend.is_none() {
                continue;
            }
            rotators.push(Rotator {
                offering: offering.clone(),
                waldur: waldur.clone(),
                backend: backend.clone(),
            });
            processors.push(OrderProcessor {
                offering: offering.clone(),
                waldur,
                backend,
                store: store.clone(),
                expose_details: config.expose_backend_error_details,
            });
        }
        Ok(App {
            config,
            store,
            processors,
            rotators,
            syncs,
        })
    }

    /// One pass over every offering's pending orders. One offering failing never stops others.
    pub async fn order_cycle(&self) -> Vec<(String, Outcome)> {
        let mut all = Vec::new();
        for p in &self.processors {
            if let Err(e) = p.backend.ping().await {
                tracing::error!(offering = %p.offering.name, error = %e, "backend not reachable; orders wait for the next cycle");
                continue;
            }
            match p.process_offering().await {
                Ok(results) => all.extend(results),
                Err(e) => {
                    tracing::error!(offering = %p.offering.name, error = %e, "could not list orders")
                }
            }
        }
        all
    }

    /// Rotates every key that Waldur has put in `Updating` (polling: no age threshold).
    pub async fn key_cycle(&self) -> Vec<(String, RotationOutcome)> {
        let mut all = Vec::new();
        for r in &self.rotators {
            all.extend(r.sweep(chrono::Utc::now()).await);
        }
        all
    }

    /// One reconcile pass over every offering's active resources.
    pub async fn sync_cycle(&self) -> Vec<(String, SyncReport)> {
        let mut all = Vec::new();
        for s in &self.syncs {
            all.extend(s.run().await);
        }
        all
    }

    /// Runs the roles on their periods until `shutdown` resolves; all run on the first tick,
    /// and the heartbeat is touched at least every minute.
    pub async fn run(&self, roles: Roles, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let start = tokio::time::Instant::now();
        let (mut next_orders, mut next_sync) = (start, start);
        loop {
            touch_heartbeat(&self.config.heartbeat_file);
            let now = tokio::time::Instant::now();
            if let Some(period) = roles.orders
                && now >= next_orders
            {
                let results = self.order_cycle().await;
                let done = results.iter().filter(|(_, o)| *o == Outcome::Done).count();
                let rotations = self.key_cycle().await.len();
                tracing::info!(
                    orders = results.len(),
                    done,
                    rotations,
                    "order cycle finished"
                );
                next_orders = tokio::time::Instant::now() + period;
            }
            if let Some(period) = roles.sync
                && now >= next_sync
            {
                let changed = self
                    .sync_cycle()
                    .await
                    .into_iter()
                    .filter(|(_, r)| *r != SyncReport::default())
                    .count();
                tracing::info!(changed, "resource sync finished");
                next_sync = tokio::time::Instant::now() + period;
            }
            let due = [
                roles.orders.map(|_| next_orders),
                roles.sync.map(|_| next_sync),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(60));
            let wait = due
                .saturating_duration_since(tokio::time::Instant::now())
                .min(Duration::from_secs(60));
            tokio::select! {
                _ = &mut shutdown => {
                    tracing::info!("shutting down");
                    return;
                }
                _ = tokio::time::sleep(wait.max(Duration::from_millis(10))) => {}
            }
        }
    }
}

/// Liveness for exec probes: the file's mtime says the main loop is alive.
pub fn touch_heartbeat(path: &std::path::Path) {
    let now = chrono::Utc::now().timestamp().to_string();
    if let Err(e) = std::fs::write(path, now) {
        tracing::debug!(path = %path.display(), error = %e, "cannot write the heartbeat file");
    }
}

/// The period for a role: `WALDUR_SITE_AGENT_<ROLE>_PERIOD_MINUTES` (float), else the default.
pub fn period_from_env(var: &str, default_minutes: f64) -> Result<Duration, String> {
    match std::env::var(var) {
        Err(_) => Ok(Duration::from_secs_f64(default_minutes * 60.0)),
        Ok(v) => match v.trim().parse::<f64>() {
            Ok(m) if m > 0.0 && m.is_finite() => Ok(Duration::from_secs_f64(m * 60.0)),
            _ => Err(format!("{var}={v:?} is not a positive number of minutes")),
        },
    }
}
