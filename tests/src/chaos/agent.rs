//! The agent under test, as a real process: started, killed with SIGKILL, started again.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct Agent {
    pub bin: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
}

/// Role periods for the chaos run: short, so an iteration sees work, crashes and recovery
/// within seconds (one second is the shortest period the agent accepts).
const ENV: [(&str, &str); 3] = [
    ("WALDUR_SITE_AGENT_ORDER_PROCESS_PERIOD_MINUTES", "0.0167"),
    ("WALDUR_SITE_AGENT_MEMBERSHIP_SYNC_PERIOD_MINUTES", "0.05"),
    ("WALDUR_SITE_AGENT_REPORT_PERIOD_MINUTES", "0.03"),
];

impl Agent {
    pub fn new(bin: &Path, config: &Path, log: &Path) -> Self {
        Self {
            bin: bin.to_path_buf(),
            config: config.to_path_buf(),
            log: log.to_path_buf(),
            child: None,
        }
    }

    fn command(&self, args: &[&str]) -> std::io::Result<Command> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let mut c = Command::new(&self.bin);
        c.args(args)
            .arg("-c")
            .arg(&self.config)
            .args(["--log-format", "json"])
            .env("RUST_LOG", "info")
            .envs(ENV)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        Ok(c)
    }

    /// Starts `site-agent run` (every role), or with `orders_only` the upstream
    /// `-m order_process` (orders and rotations alone: no reconcile pass to lean on).
    pub fn start(&mut self, orders_only: bool) -> std::io::Result<()> {
        self.kill();
        let args: &[&str] = if orders_only {
            &["-m", "order_process"]
        } else {
            &["run"]
        };
        self.child = Some(self.command(args)?.spawn()?);
        Ok(())
    }

    /// SIGKILL: no clean-up of any kind, as after an OOM kill or a power cut.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// True while the started process runs.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// One cycle of every role (`site-agent run --once`), to completion.
    pub fn once(&mut self) -> std::io::Result<bool> {
        self.kill();
        Ok(self.command(&["run", "--once"])?.status()?.success())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}
