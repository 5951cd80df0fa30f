//! The life of a loadlab process, the same for all three binaries: a tokio
//! runtime with telemetry installed inside it, stopping on Ctrl-C or
//! SIGTERM, and every span flushed before exit.

use std::future::Future;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::{TraceConfig, init};

/// How long work still running when `main` returns (a blocking request, a
/// silent peer's connection) may hold the process before it is abandoned.
const LINGER: Duration = Duration::from_secs(1);

/// Runs `main` on a multi-threaded runtime with logging (and trace export,
/// when configured) installed; then exports every span — the runtime's
/// workers are idle and carry the export — and exits the runtime within
/// [`LINGER`]. Fails only if the runtime cannot start.
pub fn run<T>(
    default_directives: &str,
    config: TraceConfig,
    main: impl Future<Output = T>,
) -> std::io::Result<T> {
    let runtime = tokio::runtime::Runtime::new()?;
    let telemetry = {
        let _inside = runtime.enter();
        init(default_directives, config)
    };
    let output = runtime.block_on(main);
    telemetry.shutdown();
    runtime.shutdown_timeout(LINGER);
    Ok(output)
}

/// Which signal stopped the process, once one did: 0 none, else its
/// number (SIGINT 2, SIGTERM 15).
static STOPPED_BY: AtomicU8 = AtomicU8::new(0);

/// The exit code of a process stopped by a signal, by the shell's
/// convention (128 + the signal's number): 130 after Ctrl-C, 143 after
/// SIGTERM (`docker stop`, Kubernetes); 130 when no signal was seen.
pub fn interrupted_exit_code() -> u8 {
    match STOPPED_BY.load(Ordering::Relaxed) {
        15 => 143,
        _ => 130,
    }
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM (what `docker stop` and
/// Kubernetes send).
pub async fn stop_requested() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    let signal = tokio::select! {
        _ = tokio::signal::ctrl_c() => 2,
        () = terminate => 15,
    };
    let _ = STOPPED_BY.compare_exchange(0, signal, Ordering::Relaxed, Ordering::Relaxed);
}

/// A token cancelled on the first SIGINT or SIGTERM. Call inside the runtime.
pub fn cancel_on_stop() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        stop_requested().await;
        cancel.cancel();
    });
    token
}
