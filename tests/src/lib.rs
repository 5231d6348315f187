pub mod chaos;
pub mod cloudian;
pub mod croit;
pub mod ecs;
pub mod minio;
pub mod myfsio;
pub mod procstat;
pub mod rmq;
pub mod s3;
pub mod sigv4_check;
pub mod waldur;

/// Resolves on SIGTERM or ctrl-c (the simulator binaries run until then).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
