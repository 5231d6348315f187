//! `check-config`: a readable summary of a valid configuration (never its secrets).

use crate::config::{Config, WaldurAuth};
use std::process::ExitCode;

pub fn print_summary(config: &Config) -> ExitCode {
    println!("configuration is valid");
    println!("  timezone: {}", config.timezone);
    println!("  database: {}", config.database_path.display());
    println!(
        "  usage sampling: \"{}\" ({}), closing figures {} min before each month ends",
        config.usage.schedule_text,
        config.timezone,
        config.usage.close_lead.num_minutes()
    );

    for o in &config.offerings {
        let auth = match &o.auth {
            WaldurAuth::Token(_) => "token".to_string(),
            WaldurAuth::Oidc { token_url, .. } => format!("OIDC via {token_url}"),
        };
        println!("  offering {:?} ({})", o.name, o.offering_uuid.simple());
        println!("    waldur: {} ({auth})", o.api_url);
        println!("    backend: {}", o.backend.summary());
        let roles: Vec<&str> = [
            o.order_processing_backend.as_ref().map(|_| "orders"),
            o.reporting_backend.as_ref().map(|_| "usage reporting"),
            o.membership_sync_backend
                .as_ref()
                .map(|_| "membership sync"),
        ]
        .into_iter()
        .flatten()
        .collect();
        println!(
            "    roles: {}",
            if roles.is_empty() {
                "none".to_string()
            } else {
                roles.join(", ")
            }
        );
        if o.reporting_backend.is_some() {
            for (key, c) in o.reported_components() {
                let kind = c.usage.map(|k| k.name()).unwrap_or("-");
                println!("    usage: {key} billed as {kind} ({:?})", c.usage_source);
            }
        }
        if let Some((key, c)) = o.storage_component() {
            println!(
                "    storage component: {key} ({}, unit_factor {})",
                c.measured_unit,
                c.unit_factor.unwrap_or(0.0)
            );
        }
    }
    for w in &config.warnings {
        println!("warning: {w}");
    }
    for v in &config.env_overrides {
        println!("overridden by environment: {v}");
    }
    ExitCode::SUCCESS
}
