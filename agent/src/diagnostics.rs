//! `site-agent diagnostics -c FILE`: what an operator asks when something is wrong, answered
//! online and read-only, one PASS / WARN / FAIL line per check and offering (non-zero exit on
//! any FAIL). Nothing is written to Waldur or the backend; secrets are never printed (errors
//! are already scrubbed, proxy URLs are shown without their credentials).

use crate::config::{Component, Config, Offering};
use crate::retry::RetryPolicy;
use crate::stomp::session::SessionConfig;
use crate::waldur::{WaldurClient, WaldurError};
use site_agent_sdk::ErrorKind;
use std::process::ExitCode;

/// A clock further off than this makes billing periods start at the wrong time.
const SKEW_WARN_S: i64 = 30;
const SKEW_FAIL_S: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Line {
    pub verdict: Verdict,
    /// The offering's name, or empty for checks of the whole agent.
    pub offering: String,
    pub check: &'static str,
    pub detail: String,
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = match self.verdict {
            Verdict::Pass => "PASS",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        };
        if self.offering.is_empty() {
            write!(f, "{v}  {}: {}", self.check, self.detail)
        } else {
            write!(
                f,
                "{v}  [{}] {}: {}",
                self.offering, self.check, self.detail
            )
        }
    }
}

struct Report {
    lines: Vec<Line>,
    offering: String,
}

impl Report {
    fn add(&mut self, verdict: Verdict, check: &'static str, detail: impl Into<String>) {
        self.lines.push(Line {
            verdict,
            offering: self.offering.clone(),
            check,
            detail: detail.into(),
        });
    }
}

/// Runs every check; the lines in order.
pub async fn run(config: &Config) -> Vec<Line> {
    let mut r = Report {
        lines: Vec::new(),
        offering: String::new(),
    };
    database(config, &mut r).await;
    for o in &config.offerings {
        r.offering = o.name.clone();
        offering(o, &mut r).await;
    }
    r.lines
}

/// Prints the report; FAIL anywhere is exit status 1.
pub async fn print(config: &Config) -> ExitCode {
    let lines = run(config).await;
    for l in &lines {
        println!("{l}");
    }
    let worst = lines.iter().map(|l| l.verdict).max();
    println!(
        "{} checks: {} failed, {} warnings",
        lines.len(),
        lines.iter().filter(|l| l.verdict == Verdict::Fail).count(),
        lines.iter().filter(|l| l.verdict == Verdict::Warn).count()
    );
    match worst {
        Some(Verdict::Fail) => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    }
}

/// The database is looked at, never opened by SQLite: opening would create it (owned by
/// whoever runs this) or migrate a running agent's schema.
async fn database(config: &Config, r: &mut Report) {
    let path = &config.database_path;
    let shown = path.display().to_string();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return r.add(
                Verdict::Warn,
                "database",
                format!("{shown} does not exist yet (the agent makes it at its first start)"),
            );
        }
        Err(e) => return r.add(Verdict::Fail, "database", format!("{shown}: {e}")),
    };
    let wal = std::fs::metadata(format!("{shown}-wal")).map_or(0, |m| m.len());
    // Opened for writing without writing: the permission check the agent's own open makes.
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(_) => r.add(
            Verdict::Pass,
            "database",
            format!(
                "{shown} is writable by this user, {} KiB",
                (meta.len() + wal) / 1024
            ),
        ),
        Err(e) => r.add(
            Verdict::Fail,
            "database",
            format!("{shown} is not writable by this user: {e}"),
        ),
    }
}

async fn offering(o: &Offering, r: &mut Report) {
    if let Some(p) = &o.proxy {
        r.add(
            Verdict::Pass,
            "proxy",
            format!(
                "Waldur calls go through {}",
                site_agent_sdk::scrub::redact_url(p)
            ),
        );
    }
    // No retries: a diagnosis reports what happens now.
    let client = match WaldurClient::new(o, RetryPolicy::none(), "site-agent-diagnostics") {
        Ok(c) => c,
        Err(e) => return r.add(Verdict::Fail, "waldur", e.message),
    };
    let reached = waldur(o, &client, r).await;
    if reached {
        offering_and_components(o, &client, r).await;
    }
    backend(o, r).await;
    stomp(o, r).await;
}

/// Reachable, TLS, the token and whose it is, the clock. `true` when the token works.
async fn waldur(o: &Offering, client: &WaldurClient, r: &mut Report) -> bool {
    let answer = client
        .call(
            "users/me",
            reqwest::Method::GET,
            "/api/users/me/",
            &Vec::new(),
            None,
        )
        .await;
    let tls = if !o.api_url.starts_with("https://") {
        "plain HTTP"
    } else if o.verify_ssl {
        "TLS certificate verified"
    } else {
        "TLS NOT verified (verify_ssl: false)"
    };
    let (headers, text) = match answer {
        Ok(a) => a,
        Err(e) if e.status.is_some() => {
            r.add(
                Verdict::Pass,
                "waldur",
                format!("{} answers ({tls})", shown_url(&o.api_url)),
            );
            let (check, what) = match e.kind {
                ErrorKind::Unauthorized => ("token", "Waldur refused the token"),
                _ => ("token", "users/me failed"),
            };
            r.add(Verdict::Fail, check, format!("{what}: {}", e.message));
            return false;
        }
        Err(e) => {
            r.add(Verdict::Fail, "waldur", unreachable(o, &e));
            return false;
        }
    };
    r.add(
        if o.verify_ssl {
            Verdict::Pass
        } else {
            Verdict::Warn
        },
        "waldur",
        format!("{} answers ({tls})", shown_url(&o.api_url)),
    );
    match serde_json::from_str::<crate::waldur::types::Me>(&text) {
        Ok(me) => r.add(
            Verdict::Pass,
            "token",
            format!(
                "accepted: user {:?}{}",
                me.username,
                if me.is_staff { " (staff)" } else { "" }
            ),
        ),
        Err(e) => r.add(
            Verdict::Fail,
            "token",
            format!("users/me answered something else: {e}"),
        ),
    }
    clock(&headers, r);
    true
}

fn unreachable(o: &Offering, e: &WaldurError) -> String {
    format!("{} not reachable: {}", shown_url(&o.api_url), e.message)
}

/// A URL as printed: without any credentials it may carry.
fn shown_url(url: &str) -> String {
    site_agent_sdk::scrub::redact_url(url)
}

fn clock(headers: &reqwest::header::HeaderMap, r: &mut Report) {
    let theirs = headers
        .get(reqwest::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok());
    let Some(theirs) = theirs else {
        return r.add(Verdict::Warn, "clock", "Waldur sent no Date header");
    };
    let skew = chrono::Utc::now().timestamp() - theirs.timestamp();
    let verdict = match skew.abs() {
        s if s > SKEW_FAIL_S => Verdict::Fail,
        s if s > SKEW_WARN_S => Verdict::Warn,
        _ => Verdict::Pass,
    };
    r.add(
        verdict,
        "clock",
        format!("this host is {skew:+} s from Waldur (by its Date header, to the second)"),
    );
}

async fn offering_and_components(o: &Offering, client: &WaldurClient, r: &mut Report) {
    let uuid = o.offering_uuid.simple().to_string();
    let found = match client.offering(&uuid).await {
        Ok(f) => f,
        Err(e) if e.kind == ErrorKind::NotFound => {
            return r.add(
                Verdict::Fail,
                "offering",
                format!(
                    "{uuid} does not exist or is not visible to this token's user (a service provider of its customer is needed)"
                ),
            );
        }
        Err(e) => return r.add(Verdict::Fail, "offering", e.message),
    };
    r.add(
        Verdict::Pass,
        "offering",
        format!("{uuid} is {:?}", found.name),
    );
    let mut problems = Vec::new();
    let mut extra = Vec::new();
    for (ctype, c) in &o.components {
        match found.components.iter().find(|w| w.component_type == *ctype) {
            None => problems.push(format!(
                "{ctype}: not in Waldur (site-agent load-components adds it)"
            )),
            Some(w) => problems.extend(differences(ctype, c, w)),
        }
    }
    for w in &found.components {
        if !o.components.contains_key(&w.component_type) {
            extra.push(w.component_type.clone());
        }
    }
    if problems.is_empty() {
        r.add(
            Verdict::Pass,
            "components",
            format!("{} configured, all match Waldur", o.components.len()),
        );
    } else {
        r.add(Verdict::Fail, "components", problems.join("; "));
    }
    if !extra.is_empty() {
        r.add(
            Verdict::Warn,
            "components",
            format!(
                "in Waldur but not in backend_components (never reported): {}",
                extra.join(", ")
            ),
        );
    }
}

fn differences(
    ctype: &str,
    c: &Component,
    w: &crate::waldur::types::OfferingComponent,
) -> Vec<String> {
    let mut out = Vec::new();
    if w.billing_type != c.accounting_type {
        out.push(format!(
            "{ctype}: accounting {:?} here, billing_type {:?} in Waldur",
            c.accounting_type, w.billing_type
        ));
    }
    if let Some(unit) = &w.measured_unit
        && *unit != c.measured_unit
    {
        out.push(format!(
            "{ctype}: unit {:?} here, {unit:?} in Waldur",
            c.measured_unit
        ));
    }
    out
}

async fn backend(o: &Offering, r: &mut Report) {
    let b = match crate::backends::build(o.backend.as_ref(), RetryPolicy::none()) {
        Ok(b) => b,
        Err(e) => return r.add(Verdict::Fail, "backend", e.message().to_string()),
    };
    match b.ping().await {
        Ok(()) => {
            let c = b.capabilities();
            r.add(
                Verdict::Pass,
                "backend",
                format!(
                    "{} answers with the admin credentials; capabilities: {:?} buckets, {} keys per resource (secrets made by the {}), pause {}, purge {}",
                    b.kind(),
                    c.buckets,
                    c.keys.keys_per_resource(crate::orders::KEYS_PER_RESOURCE),
                    match c.keys.secret {
                        site_agent_sdk::SecretOrigin::Agent => "agent",
                        site_agent_sdk::SecretOrigin::Backend => "backend",
                    },
                    if c.suspend { "yes" } else { "no" },
                    if c.purge { "yes" } else { "no" }
                ),
            );
        }
        Err(e) => r.add(Verdict::Fail, "backend", format!("{}: {e}", b.kind())),
    }
    b.close().await;
}

async fn stomp(o: &Offering, r: &mut Report) {
    let Some(s) = o.stomp.as_ref().filter(|_| o.stomp_enabled) else {
        return;
    };
    let tls = match s.url.starts_with("wss://") {
        true => match site_agent_sdk::http::tls_config(s.verify_tls) {
            Ok(t) => Some(t),
            Err(e) => return r.add(Verdict::Fail, "stomp", e.message().to_string()),
        },
        false => None,
    };
    // The websocket only: a STOMP login needs the credentials the agent registers at start.
    let cfg = SessionConfig {
        url: s.url.clone(),
        vhost: String::new(),
        login: String::new(),
        passcode: String::new().into(),
        heartbeat_ms: 0,
        subscriptions: Vec::new(),
        tls,
        backoff: crate::retry::Backoff {
            min: std::time::Duration::from_secs(1),
            max: std::time::Duration::from_secs(1),
        },
        name: format!("{}/diagnostics", o.name),
    };
    let open = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        crate::stomp::transport::connect(&cfg),
    )
    .await;
    match open {
        Ok(Ok(_)) => r.add(
            Verdict::Pass,
            "stomp",
            format!(
                "{} accepts a websocket connection (the agent registers its subscriptions at start)",
                shown_url(&s.url)
            ),
        ),
        Ok(Err(e)) => r.add(Verdict::Fail, "stomp", format!("{}: {e}", shown_url(&s.url))),
        Err(_) => r.add(Verdict::Fail, "stomp", format!("{}: no answer in 15 s", shown_url(&s.url))),
    }
}
