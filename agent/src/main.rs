//! Entry point: parse the command line, load the config, run.

use clap::Parser;
use site_agent::app::{App, AppOptions, period_from_env};
use site_agent::cli::{Cli, Command, Mode};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match site_agent::config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if matches!(cli.command, Some(Command::CheckConfig)) {
        return site_agent::check::print_summary(&config);
    }
    site_agent::logging::init(&config.log_level, cli.log_format);
    for w in &config.warnings {
        tracing::warn!("config: {w}");
    }
    let mode = match cli.command {
        Some(Command::Run) => None,
        _ => Some(cli.mode),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(config, mode, cli.once))
}

async fn run(config: site_agent::config::Config, mode: Option<Mode>, once: bool) -> ExitCode {
    match mode {
        Some(Mode::Report) | Some(Mode::MembershipSync) => {
            let m = mode.map(Mode::name).unwrap_or_default();
            tracing::error!(
                mode = m,
                "this mode is not available in this build yet; run `-m order_process` (or `run`) for orders"
            );
            return ExitCode::from(2);
        }
        Some(Mode::EventProcess) => {
            tracing::warn!(
                "event_process: STOMP events are not available in this build yet; processing orders by polling instead"
            );
        }
        _ => {}
    }
    let period = match period_from_env("WALDUR_SITE_AGENT_ORDER_PROCESS_PERIOD_MINUTES", 5.0) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(2);
        }
    };
    let app = match App::build(config, &AppOptions::default()) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("{e:#}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        offerings = app.processors.len(),
        period_s = period.as_secs_f64(),
        "site-agent started"
    );
    if once {
        let results = app.order_cycle().await;
        for (order, outcome) in &results {
            tracing::info!(order = %order, outcome = ?outcome, "order handled");
        }
        return ExitCode::SUCCESS;
    }
    app.run_orders(period, shutdown_signal()).await;
    ExitCode::SUCCESS
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        }
        _ => std::future::pending::<()>().await,
    }
}
