//! Stopping on Ctrl-C or SIGTERM (what `docker stop` and Kubernetes send),
//! for both binaries.

/// Resolves on the first SIGINT or SIGTERM.
pub async fn stop_requested() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
