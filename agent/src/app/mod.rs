//! Wiring: builds the per-offering order processors from the config and runs the roles.
//!
//! Each offering's roles run as their own loops (orders or events, the reconcile pass, usage),
//! so one stuck offering or role never holds up another; every cycle is bounded, and the
//! supervisor feeds systemd's watchdog from the loops' progress (see `ops::supervisor`).

mod worker;

use crate::config::Config;
use crate::events::{EventListener, WorkQueue};
use crate::locks::ResourceLocks;
use crate::ops::supervisor::{Beat, Supervisor};
use crate::orders::{OrderProcessor, Outcome};
use crate::reconcile::{ReconcileReport, Reconciler};
use crate::retry::{Backoff, RetryPolicy};
use crate::rotation::{RotationOutcome, Rotator};
use crate::store::Store;
use crate::usage::clock::{Clock, SystemClock};
use crate::usage::{CycleReport, UsageReporter};
use crate::waldur::WaldurClient;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The longest one cycle of a role may run before it is cut off (and resumed next cycle).
pub const ORDER_CYCLE_LIMIT: Duration = Duration::from_secs(15 * 60);
pub const WORK_ITEM_LIMIT: Duration = Duration::from_secs(5 * 60);
pub const RECONCILE_CYCLE_LIMIT: Duration = Duration::from_secs(30 * 60);
pub const USAGE_CYCLE_LIMIT: Duration = Duration::from_secs(30 * 60);
/// Database pruning: first run this long after start, then daily.
const PRUNE_FIRST: Duration = Duration::from_secs(10 * 60);
const PRUNE_EVERY: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Clone)]
pub struct AppOptions {
    /// Retry policy for Waldur and backend calls.
    pub retry: RetryPolicy,
    pub user_agent: String,
    /// Wall-clock time for billing (tests inject a manual clock).
    pub clock: Arc<dyn Clock>,
    /// STOMP reconnect backoff: 1 s to 2 min.
    pub event_backoff: Backoff,
    /// How long a call may still be carried out by Waldur after the agent gave up on it
    /// (default: twice `waldur_timeout`; tests shorten it).
    pub late_answers: Option<Duration>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            user_agent: format!("site-agent/{}", env!("CARGO_PKG_VERSION")),
            clock: Arc::new(SystemClock),
            event_backoff: Backoff {
                min: Duration::from_secs(1),
                max: Duration::from_secs(120),
            },
            late_answers: None,
        }
    }
}

pub struct App {
    pub config: Config,
    pub store: Store,
    pub processors: Vec<OrderProcessor>,
    pub rotators: Vec<Rotator>,
    pub reconcilers: Vec<Reconciler>,
    pub reporters: Vec<Arc<UsageReporter>>,
    pub listeners: Vec<EventListener>,
    /// The event work queue of each offering (by 32-hex offering UUID).
    pub queues: BTreeMap<String, Arc<WorkQueue>>,
    pub clock: Arc<dyn Clock>,
    pub supervisor: Supervisor,
}

/// Which periodic work runs, and how often.
#[derive(Debug, Clone, Copy, Default)]
pub struct Roles {
    /// Order polling (and key rotations with it).
    pub orders: Option<Duration>,
    /// The resource reconcile pass (pause/restore, quota drift).
    pub reconcile: Option<Duration>,
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
        Self::build_with_backends(config, store, options, |o| {
            crate::backends::build(o.backend.as_ref(), retry)
        })
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
        let (mut processors, mut rotators, mut reconcilers, mut reporters) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let in_flight = crate::orders::InFlight::default();
        let locks = ResourceLocks::default();
        let mut queues = BTreeMap::new();
        let mut listeners = Vec::new();
        let supervisor = Supervisor::default();
        for offering in &config.offerings {
            let reports = offering.reporting_backend.is_some()
                && offering.reported_components().next().is_some();
            let manages = offering.order_processing_backend.is_some()
                || offering.membership_sync_backend.is_some();
            if !reports && !manages {
                continue;
            }
            let key = offering.offering_uuid.simple().to_string();
            let waldur = WaldurClient::new(offering, options.retry, &options.user_agent)
                .map_err(|e| anyhow::anyhow!("offering {:?}: {e}", offering.name))?
                .with_late_answer_window(options.late_answers);
            let backend = make_backend(offering)
                .map_err(|e| anyhow::anyhow!("offering {:?}: {e}", offering.name))?;
            let waldur = Arc::new(waldur);
            let reporter = reports.then(|| {
                Arc::new(UsageReporter {
                    offering: offering.clone(),
                    waldur: waldur.clone(),
                    backend: backend.clone(),
                    store: store.clone(),
                    clock: options.clock.clone(),
                    tz: config.timezone,
                    settings: config.usage.clone(),
                    gate: Default::default(),
                })
            });
            reporters.extend(reporter.clone());
            if manages {
                reconcilers.push(Reconciler {
                    offering: offering.clone(),
                    waldur: waldur.clone(),
                    backend: backend.clone(),
                    store: store.clone(),
                    locks: locks.clone(),
                });
            }
            if offering.order_processing_backend.is_some() {
                let queue = queues
                    .entry(key.clone())
                    .or_insert_with(|| Arc::new(WorkQueue::default()))
                    .clone();
                // STOMP's passcode is the API token: an OIDC-only offering polls instead (as
                // check-config warns), with no listener that would only return at once.
                let token = matches!(offering.auth, crate::config::WaldurAuth::Token(_));
                if offering.stomp.is_some() && token {
                    listeners.push(EventListener {
                        offering: offering.clone(),
                        waldur: waldur.clone(),
                        store: store.clone(),
                        queue,
                        backoff: options.event_backoff,
                        supervisor: supervisor.clone(),
                    });
                }
                rotators.push(Rotator {
                    offering: offering.clone(),
                    waldur: waldur.clone(),
                    backend: backend.clone(),
                    store: store.clone(),
                    locks: locks.clone(),
                });
                processors.push(OrderProcessor {
                    in_flight: in_flight.clone(),
                    locks: locks.clone(),
                    offering: offering.clone(),
                    waldur,
                    backend,
                    store: store.clone(),
                    expose_details: config.expose_backend_error_details,
                    usage: reporter,
                });
            }
        }
        Ok(App {
            config,
            store,
            processors,
            rotators,
            reconcilers,
            reporters,
            listeners,
            queues,
            clock: options.clock.clone(),
            supervisor,
        })
    }

    /// One pass over every offering's pending orders. One offering failing never stops others.
    pub async fn order_cycle(&self) -> Vec<(String, Outcome)> {
        let mut all = Vec::new();
        for p in &self.processors {
            settle_leftovers(p).await;
            all.extend(Self::offering_orders(p).await);
        }
        all
    }

    /// One offering's pending orders (nothing when its backend does not answer).
    async fn offering_orders(p: &OrderProcessor) -> Vec<(String, Outcome)> {
        if let Err(e) = p.backend.ping().await {
            tracing::error!(offering = %p.offering.name, error = %e, "backend not reachable; orders wait for the next cycle");
            return Vec::new();
        }
        match p.process_offering().await {
            Ok(results) => results,
            Err(e) => {
                tracing::error!(offering = %p.offering.name, error = %e, "could not list orders");
                Vec::new()
            }
        }
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
    pub async fn reconcile_cycle(&self) -> Vec<(String, ReconcileReport)> {
        let mut all = Vec::new();
        for s in &self.reconcilers {
            all.extend(s.run().await);
        }
        all
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

    /// True when this offering takes its orders from events (polling is then the sweep).
    fn by_events(&self, roles: Roles, offering: &str) -> bool {
        roles.events
            && self
                .listeners
                .iter()
                .any(|l| l.offering.offering_uuid.simple().to_string() == offering)
    }

    /// Ends every backend's session (one with a login logs out), each bounded: a backend
    /// that does not answer never holds up a stop.
    pub async fn close(&self) {
        for p in &self.processors {
            if tokio::time::timeout(Duration::from_secs(2), p.backend.close())
                .await
                .is_err()
            {
                tracing::debug!(offering = %p.offering.name, "backend session not closed in time");
            }
        }
    }

    /// Runs the roles until `shutdown` resolves. Shutdown interrupts whatever is in progress:
    /// every step is journaled or idempotent, so stopping mid-cycle is as safe as a crash.
    /// Runs the roles until `shutdown`; `false` when a role loop ended on its own first (a
    /// bug: the caller exits non-zero, so that systemd restarts the agent rather than
    /// leaving it half-working or stopped with success).
    pub async fn run(
        &self,
        roles: Roles,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) -> bool {
        // Listeners end when their futures are dropped below; the sender only has to outlive
        // them (a dropped sender would read as a change).
        let (_stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut loops: Vec<std::pin::Pin<Box<dyn Future<Output = ()> + Send + '_>>> = Vec::new();
        let any_events = self
            .processors
            .iter()
            .any(|p| self.by_events(roles, &p.offering.offering_uuid.simple().to_string()));
        if any_events {
            self.replay_inbox().await;
        }
        for (i, p) in self.processors.iter().enumerate() {
            let name = &p.offering.name;
            let key = p.offering.offering_uuid.simple().to_string();
            if self.by_events(roles, &key) {
                let beat = self.supervisor.register(format!("events:{name}"));
                loops.push(Box::pin(self.work(key.clone(), beat)));
                // Polling stays on as the reconcile sweep, feeding the same queue.
                if let Some(period) = roles.orders {
                    let beat = self.supervisor.register(format!("sweep:{name}"));
                    loops.push(Box::pin(self.sweep_loop(key, period, beat)));
                }
            } else if let Some(period) = roles.orders {
                let beat = self.supervisor.register(format!("orders:{name}"));
                loops.push(Box::pin(self.order_loop(i, period, beat)));
            }
        }
        if roles.events {
            for l in &self.listeners {
                loops.push(Box::pin(l.run(stop_rx.clone())));
            }
        }
        for s in &self.reconcilers {
            let Some(period) = roles.reconcile else { break };
            let beat = self
                .supervisor
                .register(format!("reconcile:{}", s.offering.name));
            loops.push(Box::pin(periodic(
                period,
                beat,
                RECONCILE_CYCLE_LIMIT,
                || async {
                    let changed = s
                        .run()
                        .await
                        .into_iter()
                        .filter(|(_, r)| *r != ReconcileReport::default())
                        .count();
                    tracing::info!(offering = %s.offering.name, changed, "resource sync finished");
                },
            )));
        }
        for r in &self.reporters {
            let Some(period) = roles.usage else { break };
            let beat = self
                .supervisor
                .register(format!("usage:{}", r.offering.name));
            loops.push(Box::pin(self.usage_loop(r, period, beat)));
        }
        let beat = self.supervisor.register("maintenance");
        loops.push(Box::pin(self.maintenance(beat)));
        let watchdog = crate::ops::notify::watchdog_interval();
        loops.push(Box::pin(
            self.supervisor
                .run(self.config.heartbeat_file.clone(), watchdog),
        ));
        let shutdown_at = loops.len();
        loops.push(Box::pin(async {
            shutdown.await;
            tracing::info!("shutting down");
        }));
        // Every role loop runs until dropped: the shutdown signal is the one that ends.
        let (_, ended, _) = futures_util::future::select_all(loops).await;
        if ended != shutdown_at {
            tracing::error!(
                "a role loop ended on its own; stopping with an error so that the agent is restarted"
            );
        }
        ended == shutdown_at
    }

    /// Polling: one offering's orders, then its keys to rotate, every `period`.
    async fn order_loop(&self, i: usize, period: Duration, beat: Beat) {
        let p = &self.processors[i];
        let r = &self.rotators[i];
        periodic(period, beat, ORDER_CYCLE_LIMIT, || async {
            settle_leftovers(p).await;
            let results = Self::offering_orders(p).await;
            let done = results.iter().filter(|(_, o)| *o == Outcome::Done).count();
            let rotations = r.sweep(chrono::Utc::now()).await.len();
            if !results.is_empty() || rotations > 0 {
                tracing::info!(offering = %p.offering.name, orders = results.len(), done, rotations, "order cycle finished");
            }
        })
        .await
    }

    /// Events: the reconcile sweep feeds the offering's work queue every `period`.
    async fn sweep_loop(&self, offering: String, period: Duration, beat: Beat) {
        periodic(period, beat, ORDER_CYCLE_LIMIT, || async {
            if let Some(p) = self
                .processors
                .iter()
                .find(|p| p.offering.offering_uuid.simple().to_string() == offering)
            {
                settle_leftovers(p).await;
            }
            let queued = self.sweep_into_queue(&offering).await;
            if queued > 0 {
                tracing::info!(queued, "reconcile sweep queued work");
            }
        })
        .await
    }

    /// Usage for one offering: samples on the cron schedule, reports every `period`, and the
    /// closing figure of each month shortly before it ends (wall-clock instants, re-checked at
    /// least every minute: DST, NTP steps, suspend).
    async fn usage_loop(&self, r: &UsageReporter, period: Duration, beat: Beat) {
        let mut next_sample = r.first_sample().await;
        let mut next_report = tokio::time::Instant::now();
        let mut next_close = r.next_close();
        loop {
            let wall = self.clock.now();
            if next_sample.is_some_and(|t| wall >= t) {
                beat.cycle(USAGE_CYCLE_LIMIT, r.sample_cycle()).await;
                next_sample = r.next_sample_after(self.clock.now());
            }
            let now = tokio::time::Instant::now();
            if now >= next_report || wall >= next_close {
                beat.cycle(USAGE_CYCLE_LIMIT, r.report_cycle()).await;
                next_report = tokio::time::Instant::now() + period;
                next_close = r.next_close();
            }
            let wall = self.clock.now();
            let mut wait = next_report
                .saturating_duration_since(tokio::time::Instant::now())
                .min(Duration::from_secs(60));
            for t in next_sample.into_iter().chain([next_close]) {
                wait = wait.min((t - wall).to_std().unwrap_or_default());
            }
            tokio::time::sleep(wait.max(Duration::from_millis(10))).await;
        }
    }

    /// Daily pruning of what billing no longer needs.
    async fn maintenance(&self, beat: Beat) {
        tokio::time::sleep(PRUNE_FIRST).await;
        loop {
            beat.cycle(USAGE_CYCLE_LIMIT, self.prune()).await;
            tokio::time::sleep(PRUNE_EVERY).await;
        }
    }

    /// Deletes samples, settled figures and journals older than the history, keeping every
    /// period that still has figures to deliver.
    pub async fn prune(&self) -> Option<crate::store::prune::PruneStats> {
        let oldest = match self.store.oldest_open_period().await {
            Ok(p) => p.as_deref().and_then(crate::usage::period::Period::parse),
            Err(e) => {
                tracing::error!(error = %e, "cannot prune the database");
                return None;
            }
        };
        let before = crate::usage::retention::prune_before(
            self.clock.now(),
            self.config.timezone,
            self.config.history_months,
            oldest,
        );
        match self.store.prune(before).await {
            Ok(stats) => {
                tracing::info!(?stats, "database pruned");
                Some(stats)
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot prune the database");
                None
            }
        }
    }
}

/// Keys left in the ledger by an interrupted order or rotation are settled by the order loop
/// itself, so no mode depends on the reconcile pass to retire them.
async fn settle_leftovers(p: &OrderProcessor) {
    if let Err(e) = p.settle_leftovers().await {
        tracing::warn!(offering = %p.offering.name, error = %e, "cannot settle the key ledger");
    }
}

/// Runs `cycle` now and then every `period` (measured from the end of a cycle), each bounded
/// by `limit` through the loop's beat.
async fn periodic<F, Fut>(period: Duration, beat: Beat, limit: Duration, mut cycle: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        beat.cycle(limit, cycle()).await;
        tokio::time::sleep(period).await;
    }
}

/// Bounds of a role period, in minutes: one second (anything shorter is a busy loop) to one
/// week (anything longer is surely a typo).
pub const PERIOD_MINUTES_RANGE: (f64, f64) = (1.0 / 60.0, 7.0 * 24.0 * 60.0);

/// The period for a role: `WALDUR_SITE_AGENT_<ROLE>_PERIOD_MINUTES` (float), else the default.
pub fn period_from_env(var: &str, default_minutes: f64) -> Result<Duration, String> {
    parse_period(var, std::env::var(var).ok().as_deref(), default_minutes)
}

fn parse_period(var: &str, value: Option<&str>, default_minutes: f64) -> Result<Duration, String> {
    let (min, max) = PERIOD_MINUTES_RANGE;
    let minutes = match value {
        None => default_minutes,
        Some(v) => match v.trim().parse::<f64>() {
            Ok(m) if (min..=max).contains(&m) => m,
            _ => {
                return Err(format!(
                    "{var}={v:?} must be a number of minutes between {min:.4} (one second) and {max} (one week)"
                ));
            }
        },
    };
    Ok(Duration::from_secs_f64(minutes * 60.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_bounded_never_panic_nor_spin() {
        let v = "WALDUR_SITE_AGENT_ORDER_PROCESS_PERIOD_MINUTES";
        assert_eq!(parse_period(v, None, 5.0), Ok(Duration::from_secs(300)));
        assert_eq!(
            parse_period(v, Some(" 0.5 "), 5.0),
            Ok(Duration::from_secs(30))
        );
        for bad in [
            "1e300", "1e20", "1e-12", "1e-300", "0", "-1", "NaN", "inf", "x",
        ] {
            let e = parse_period(v, Some(bad), 5.0).unwrap_err();
            assert!(e.contains(v) && e.contains("between"), "{bad}: {e}");
        }
    }
}
