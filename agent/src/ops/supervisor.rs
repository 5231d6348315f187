//! Liveness from real progress. Every periodic loop (per offering and role) runs its cycles
//! through a [`Beat`], which bounds each cycle with a timeout and records when it started.
//! The supervisor feeds systemd's watchdog (and touches the heartbeat file) only while no
//! loop is past its bound: a cycle that outlives its timeout means the runtime itself is
//! stuck, and then a restart is the cure. A slow Waldur or a dead backend only makes cycles
//! long, never the agent "dead". It also tells systemd (`STATUS=`) how many STOMP sessions
//! are connected, since a lost event feed only slows orders down and is easy to miss.

use crate::stomp::session::SessionState;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Beyond its bound, how long a cycle may take to unwind before the agent counts as stuck.
const GRACE: Duration = Duration::from_secs(60);

struct LoopState {
    name: String,
    /// When the running cycle started and how long it may take.
    busy: Mutex<Option<(Instant, Duration)>>,
    /// When a cycle last finished within its bound (else when the loop was registered).
    last_ok: Mutex<Instant>,
}

#[derive(Clone, Default)]
pub struct Supervisor {
    loops: Arc<Mutex<Vec<Arc<LoopState>>>>,
    sessions: Arc<Mutex<Vec<Watched>>>,
}

/// A STOMP session the status line reports on.
struct Watched {
    name: String,
    state: watch::Receiver<SessionState>,
}

/// One loop's handle.
#[derive(Clone)]
pub struct Beat(Arc<LoopState>);

impl Supervisor {
    pub fn register(&self, name: impl Into<String>) -> Beat {
        let state = Arc::new(LoopState {
            name: name.into(),
            busy: Mutex::new(None),
            last_ok: Mutex::new(Instant::now()),
        });
        self.loops
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(state.clone());
        Beat(state)
    }

    /// A STOMP session to watch: its state goes into the status line.
    pub fn session(&self, name: impl Into<String>) -> watch::Sender<SessionState> {
        let (tx, rx) = watch::channel(SessionState::Connecting { attempt: 0 });
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Watched {
                name: name.into(),
                state: rx,
            });
        tx
    }

    /// The status line for systemd: STOMP sessions connected, naming those that are not.
    /// `None` without sessions.
    pub fn status(&self) -> Option<String> {
        let sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if sessions.is_empty() {
            return None;
        }
        let down: Vec<&str> = sessions
            .iter()
            .filter(|w| *w.state.borrow() != SessionState::Connected)
            .map(|w| w.name.as_str())
            .collect();
        let up = sessions.len() - down.len();
        Some(if down.is_empty() {
            format!(
                "running; STOMP sessions connected: {up} of {}",
                sessions.len()
            )
        } else {
            format!(
                "running; STOMP sessions connected: {up} of {} (reconnecting: {}; orders are polled meanwhile)",
                sessions.len(),
                down.join(", ")
            )
        })
    }

    /// Each loop's name and the time since its last finished cycle (since start if none).
    pub fn ages(&self, now: Instant) -> Vec<(String, Duration)> {
        self.loops
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|l| {
                let ok = *l.last_ok.lock().unwrap_or_else(|e| e.into_inner());
                (l.name.clone(), now.saturating_duration_since(ok))
            })
            .collect()
    }

    /// Each STOMP session's name and whether it is connected.
    pub fn sessions(&self) -> Vec<(String, bool)> {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|w| (w.name.clone(), *w.state.borrow() == SessionState::Connected))
            .collect()
    }

    /// Loops whose current cycle is past its bound and grace, with how long it has run.
    pub fn stuck(&self, now: Instant) -> Vec<(String, Duration)> {
        self.loops
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|l| {
                let busy = *l.busy.lock().unwrap_or_else(|e| e.into_inner());
                let (since, bound) = busy?;
                let ran = now.saturating_duration_since(since);
                (ran > bound + GRACE).then(|| (l.name.clone(), ran))
            })
            .collect()
    }

    /// Runs forever: every `interval`, if nothing is stuck, `WATCHDOG=1` and a fresh
    /// heartbeat file; otherwise an error naming the stuck loops (and no watchdog ping).
    pub async fn run(&self, heartbeat: PathBuf, watchdog: Option<Duration>) {
        let interval = watchdog
            .map(|w| w / 2)
            .unwrap_or(Duration::from_secs(30))
            .clamp(Duration::from_millis(100), Duration::from_secs(30));
        let mut reported = false;
        let mut shown: Option<String> = None;
        loop {
            let status = self.status();
            if status.is_some() && status != shown {
                super::notify::notify(&format!("STATUS={}", status.as_deref().unwrap_or("")));
                shown = status;
            }
            let stuck = self.stuck(Instant::now());
            if stuck.is_empty() {
                touch_heartbeat(&heartbeat);
                if watchdog.is_some() {
                    super::notify::notify("WATCHDOG=1");
                }
                reported = false;
            } else if !reported {
                let names: Vec<String> = stuck
                    .iter()
                    .map(|(n, d)| format!("{n} ({} s)", d.as_secs()))
                    .collect();
                tracing::error!(loops = %names.join(", "), "work is stuck past its time limit; the watchdog is no longer fed");
                reported = true;
            }
            tokio::time::sleep(interval).await;
        }
    }
}

impl Beat {
    /// Runs one cycle, cancelled after `bound` (every step is journaled or idempotent, so a
    /// cancelled cycle is as safe as a crash and the next one resumes). `None` when cut off.
    pub async fn cycle<T>(&self, bound: Duration, work: impl Future<Output = T>) -> Option<T> {
        self.set(Some((Instant::now(), bound)));
        let r = tokio::time::timeout(bound, work).await;
        self.set(None);
        match r {
            Ok(v) => {
                *self.0.last_ok.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
                Some(v)
            }
            Err(_) => {
                tracing::warn!(work = %self.0.name, limit_s = bound.as_secs(), "cycle took longer than its limit; cut off, the next one resumes");
                None
            }
        }
    }

    fn set(&self, v: Option<(Instant, Duration)>) {
        *self.0.busy.lock().unwrap_or_else(|e| e.into_inner()) = v;
    }
}

/// Liveness for exec probes: the file's mtime says the agent makes progress.
pub fn touch_heartbeat(path: &std::path::Path) {
    let now = chrono::Utc::now().timestamp().to_string();
    if let Err(e) = std::fs::write(path, now) {
        tracing::debug!(path = %path.display(), error = %e, "cannot write the heartbeat file");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_long_cycle_is_cut_off_and_a_stuck_one_reported() {
        let sup = Supervisor::default();
        let beat = sup.register("orders:S3");
        // A slow cycle (say, Waldur answering slowly) is cut off at its bound; the loop is
        // healthy again afterwards.
        let r = beat
            .cycle(
                Duration::from_secs(10),
                tokio::time::sleep(Duration::from_secs(3600)),
            )
            .await;
        assert!(r.is_none());
        assert!(sup.stuck(Instant::now()).is_empty());
        assert_eq!(
            beat.cycle(Duration::from_secs(10), async { 7 }).await,
            Some(7)
        );
        // A cycle that cannot be cancelled (blocking code) shows up as stuck once past its
        // bound and grace.
        beat.set(Some((Instant::now(), Duration::from_secs(10))));
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(sup.stuck(Instant::now()).is_empty(), "within grace");
        tokio::time::advance(Duration::from_secs(60)).await;
        let stuck = sup.stuck(Instant::now());
        assert_eq!(stuck.len(), 1);
        assert_eq!(stuck[0].0, "orders:S3");
    }

    #[test]
    fn status_names_the_sessions_that_are_not_connected() {
        let sup = Supervisor::default();
        assert_eq!(sup.status(), None, "no events configured: nothing to say");
        let a = sup.session("S3/orders");
        let b = sup.session("S3/resources");
        a.send_replace(SessionState::Connected);
        assert_eq!(
            sup.status().unwrap(),
            "running; STOMP sessions connected: 1 of 2 (reconnecting: S3/resources; orders are polled meanwhile)"
        );
        b.send_replace(SessionState::Connected);
        assert_eq!(
            sup.status().unwrap(),
            "running; STOMP sessions connected: 2 of 2"
        );
        a.send_replace(SessionState::Connecting { attempt: 3 });
        assert!(sup.status().unwrap().contains("reconnecting: S3/orders;"));
    }

    #[tokio::test(start_paused = true)]
    async fn heartbeat_is_fresh_only_while_nothing_is_stuck() {
        let dir = tempfile::tempdir().unwrap();
        let hb = dir.path().join("heartbeat");
        let sup = Supervisor::default();
        let beat = sup.register("sync:S3");
        let runner = tokio::spawn({
            let sup = sup.clone();
            let hb = hb.clone();
            async move { sup.run(hb, None).await }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(hb.exists(), "touched at once");
        beat.set(Some((Instant::now(), Duration::from_secs(1))));
        tokio::time::sleep(Duration::from_secs(65)).await;
        std::fs::remove_file(&hb).unwrap();
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert!(!hb.exists(), "not touched while a loop is stuck");
        beat.set(None);
        tokio::time::sleep(Duration::from_secs(31)).await;
        assert!(hb.exists(), "touched again once it recovers");
        runner.abort();
    }
}
