//! Logging: structured JSON lines (readable text on a terminal). Secrets never reach a log
//! line: tokens and keys are `SecretString`s and every error text is scrubbed where it is made.

pub mod throttle;

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Auto,
    Json,
    Text,
}

/// Maps upstream level names to a tracing filter; `RUST_LOG` wins when set.
pub fn filter_for(level: &str) -> EnvFilter {
    let base = match level.to_uppercase().as_str() {
        "DEBUG" => "debug",
        "WARNING" | "WARN" => "warn",
        "ERROR" | "CRITICAL" => "error",
        _ => "info",
    };
    // Dependencies stay quiet: HTTP client logs carry full URLs, and some backends put secrets in URLs.
    let directives = format!("{base},hyper=warn,reqwest=warn,rustls=warn,h2=warn");
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(directives))
}

pub fn init(level: &str, format: LogFormat) {
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter_for(level))
        .with_writer(std::io::stdout);
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
}
