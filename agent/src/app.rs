//! Wiring: builds the per-offering order processors from the config and runs the roles.

use crate::config::Config;
use crate::events::{EventListener, WorkQueue};
use crate::orders::{OrderProcessor, Outcome};
use crate::retry::RetryPolicy;
use crate::rotation::{RotationOutcome, Rotator};
use crate::store::Store;
use crate::sync::{ResourceSync, SyncReport};
use crate::usage::clock::{Clock, SystemClock};
use crate::usage::{CycleReport, UsageReporter};
use crate::waldur::WaldurClient;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct AppOptions {
    /// Retry policy for Waldur and backend calls.
    pub retry: RetryPolicy,
    pub user_agent: String,
    /// Wall-clock time for billing (tests inject a manual clock).
    pub clock: Arc<dyn Clock>,
    /// STOMP reconnect backoff (min, max): 1 s to 2 min.
    pub event_backoff: (Duration, Duration),
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            user_agent: format!("site-agent/{}", env!("CARGO_PKG_VERSION")),
            clock: Arc::new(SystemClock),
            event_backoff: (Duration::from_secs(1), Duration::from_secs(120)),
        }
    }
}

pub struct App {
    pub config: Config,
    pub store: Store,
    pub processors: Vec<OrderProcessor>,
    pub rotators: Vec<Rotator>,
    pub syncs: Vec<ResourceSync>,
    pub reporters: Vec<UsageReporter>,
    pub listeners: Vec<EventListener>,
    pub queue: Arc<WorkQueue>,
    pub clock: Arc<dyn Clock>,
}

/// Which periodic work runs, and how often.
#[derive(Debug, Clone, Copy, Default)]
pub struct Roles {
    /// Order polling (and key rotations with it).
    pub orders: Option<Duration>,
    /// The resource reconcile pass (pause/restore, quota drift).
    pub sync: Option<Duration>,
    /// Usage: sampling on the configured cron schedule, reporting at this period, closing
    /// each billing period shortly before it ends.
    pub usage: Option<Duration>,
    /// Orders and key rotations by STOMP events (offerings with `stomp_enabled`).
    pub events: bool,
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
        let (mut processors, mut rotators, mut syncs, mut reporters) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let in_flight = crate::orders::InFlight::default();
        let queue = Arc::new(WorkQueue::default());
        let mut listeners = Vec::new();
        for offering in &config.offerings {
            let reports = offering.reporting_backend.is_some()
                && offering.reported_components().next().is_some();
            let manages = offering.order_processing_backend.is_some()
                || offering.membership_sync_backend.is_some();
            if !reports && !manages {
                continue;
            }
            let waldur = WaldurClient::new(offering, options.retry, &options.user_agent)
                .map_err(|e| anyhow::anyhow!("offering {:?}: {e}", offering.name))?;
            let backend = make_backend(offering)
                .map_err(|e| anyhow::anyhow!("offering {:?}: {e}", offering.name))?;
            let waldur = Arc::new(waldur);
            if reports {
                reporters.push(UsageReporter {
                    offering: offering.clone(),
                    waldur: waldur.clone(),
                    backend: backend.clone(),
                    store: store.clone(),
                    clock: options.clock.clone(),
                    tz: config.timezone,
                    settings: config.usage.clone(),
                });
            }
            if manages {
                syncs.push(ResourceSync {
                    offering: offering.clone(),
                    waldur: waldur.clone(),
                    backend: backend.clone(),
                });
            }
            if offering.order_processing_backend.is_some() && offering.stomp.is_some() {
                listeners.push(EventListener {
                    offering: offering.clone(),
                    waldur: waldur.clone(),
                    store: store.clone(),
                    queue: queue.clone(),
                    backoff_min: options.event_backoff.0,
                    backoff_max: options.event_backoff.1,
                });
            }
            if offering.order_processing_backend.is_some() {
                rotators.push(Rotator {
                    offering: offering.clone(),
                    waldur: waldur.clone(),
                    backend: backend.clone(),
                });
                processors.push(OrderProcessor {
                    in_flight: in_flight.clone(),
                    offering: offering.clone(),
                    waldur,
                    backend,
                    store: store.clone(),
                    expose_details: config.expose_backend_error_details,
                });
            }
        }
        Ok(App {
            config,
            store,
            processors,
            rotators,
            syncs,
            reporters,
            listeners,
            queue,
            clock: options.clock.clone(),
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
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let events = async {
            if !roles.events || self.listeners.is_empty() {
                return std::future::pending::<()>().await;
            }
            self.replay_inbox().await;
            let (states_tx, _states_rx) = tokio::sync::watch::channel(Vec::new());
            let listeners = self
                .listeners
                .iter()
                .map(|l| l.run(stop_rx.clone(), states_tx.clone()));
            tokio::join!(futures_util::future::join_all(listeners), self.work());
        };
        // Shutdown interrupts whatever is in progress: every step is journaled or idempotent,
        // so stopping mid-cycle is as safe as a crash (and much faster than waiting out retries).
        tokio::select! {
            _ = self.run_periodic(roles, std::future::pending::<()>()) => {}
            _ = events => {}
            _ = shutdown => tracing::info!("shutting down"),
        }
        let _ = stop_tx.send(true);
    }

    async fn run_periodic(&self, roles: Roles, shutdown: impl std::future::Future<Output = ()>) {
        let watchdog = crate::ops::notify::watchdog_interval();
        tokio::pin!(shutdown);
        let start = tokio::time::Instant::now();
        let (mut next_orders, mut next_sync, mut next_report) = (start, start, start);
        // Wall-clock deadlines for usage: cron slots and period closes are instants in the
        // configured zone, re-checked at least every minute (DST, NTP steps, suspend).
        let mut next_sample = self.usage_first_sample().await;
        let mut next_close = self.usage_next_close();
        loop {
            touch_heartbeat(&self.config.heartbeat_file);
            // The loop came round: tell systemd's watchdog we are alive.
            if watchdog.is_some() {
                crate::ops::notify::notify("WATCHDOG=1");
            }
            let now = tokio::time::Instant::now();
            if let Some(period) = roles.orders
                && now >= next_orders
                && roles.events
                && !self.listeners.is_empty()
            {
                // With events on, the sweep feeds the same queue the events do.
                let queued = self.sweep_into_queue().await;
                tracing::info!(queued, "reconcile sweep queued work");
                next_orders = tokio::time::Instant::now() + period;
            }
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
            let mut wall_due = Vec::new();
            if let Some(period) = roles.usage {
                let wall = self.clock.now();
                if let Some(t) = next_sample
                    && wall >= t
                {
                    self.usage_sample_cycle().await;
                    next_sample = self.usage_next_sample(self.clock.now());
                }
                if now >= next_report || next_close.is_some_and(|c| wall >= c) {
                    self.usage_report_cycle().await;
                    next_report = tokio::time::Instant::now() + period;
                    next_close = self.usage_next_close();
                }
                wall_due.extend(next_sample);
                wall_due.extend(next_close);
                wall_due.push(
                    wall + chrono::Duration::from_std(next_report.saturating_duration_since(now))
                        .unwrap_or_default(),
                );
            }
            let due = [
                roles.orders.map(|_| next_orders),
                roles.sync.map(|_| next_sync),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(60));
            let mut wait = watchdog
                .map(|w| w / 2)
                .unwrap_or(Duration::MAX)
                .min(Duration::from_secs(60));
            wait = wait.min(due.saturating_duration_since(tokio::time::Instant::now()));
            if let Some(w) = wall_due.into_iter().min() {
                let until = (w - self.clock.now()).to_std().unwrap_or_default();
                wait = wait.min(until);
            }
            tokio::select! {
                _ = &mut shutdown => {
                    tracing::info!("shutting down");
                    return;
                }
                _ = tokio::time::sleep(wait.max(Duration::from_millis(10))) => {}
            }
        }
    }

    /// One sampling pass over every reporting offering.
    pub async fn usage_sample_cycle(&self) {
        for r in &self.reporters {
            r.sample_cycle().await;
        }
    }

    /// One report pass (closing due periods, recomputing, delivering) over every reporting offering.
    pub async fn usage_report_cycle(&self) -> Vec<(String, CycleReport)> {
        let mut out = Vec::new();
        for r in &self.reporters {
            out.push((r.offering.name.clone(), r.report_cycle().await));
        }
        out
    }

    /// The first sampling slot: after a restart, a slot missed while the agent was down is
    /// caught up once, right away (not once per missed slot).
    async fn usage_first_sample(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let r = self.reporters.first()?;
        let now = self.clock.now();
        let last = r
            .store
            .state_get(&r.state_key("last_sample"))
            .await
            .ok()
            .flatten()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(&s).ok())
            .map(|t| t.with_timezone(&chrono::Utc));
        crate::usage::schedule::first_slot(&r.settings.schedule, r.tz, last, now)
    }

    fn usage_next_sample(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        self.reporters.first()?.next_sample_after(now)
    }

    /// When the current billing period's closing figure is due.
    fn usage_next_close(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        let r = self.reporters.first()?;
        let now = self.clock.now();
        let p = crate::usage::period::Period::containing(now, self.config.timezone);
        let close = p.end(self.config.timezone) - self.config.usage.close_lead;
        Some(if close > now {
            close
        } else {
            p.next().end(self.config.timezone) - r.settings.close_lead
        })
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
