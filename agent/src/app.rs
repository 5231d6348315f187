//! Wiring: builds the per-offering order processors from the config and runs the roles.

use crate::config::Config;
use crate::orders::{OrderProcessor, Outcome};
use crate::retry::RetryPolicy;
use crate::store::Store;
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
        let mut processors = Vec::new();
        for offering in config
            .offerings
            .iter()
            .filter(|o| o.order_processing_backend.is_some())
        {
            let waldur = WaldurClient::new(offering, options.retry, &options.user_agent)
                .map_err(|e| anyhow::anyhow!("offering {:?}: {e}", offering.name))?;
            let backend = make_backend(offering)
                .map_err(|e| anyhow::anyhow!("offering {:?}: {e}", offering.name))?;
            processors.push(OrderProcessor {
                offering: offering.clone(),
                waldur: Arc::new(waldur),
                backend,
                store: store.clone(),
                expose_details: config.expose_backend_error_details,
            });
        }
        Ok(App {
            config,
            store,
            processors,
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

    /// Polls orders every `period` until `shutdown` resolves; touches the heartbeat each tick.
    pub async fn run_orders(
        &self,
        period: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let tick = Duration::from_secs(60).min(period);
        let mut next = tokio::time::Instant::now();
        loop {
            touch_heartbeat(&self.config.heartbeat_file);
            if tokio::time::Instant::now() >= next {
                let results = self.order_cycle().await;
                let done = results.iter().filter(|(_, o)| *o == Outcome::Done).count();
                tracing::info!(orders = results.len(), done, "order cycle finished");
                next = tokio::time::Instant::now() + period;
            }
            tokio::select! {
                _ = &mut shutdown => {
                    tracing::info!("shutting down");
                    return;
                }
                _ = tokio::time::sleep(tick.min(next.saturating_duration_since(tokio::time::Instant::now())).max(Duration::from_millis(10))) => {}
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
