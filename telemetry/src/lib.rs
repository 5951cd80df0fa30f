//! Telemetry set-up shared by every loadlab binary, so that they all log the
//! same way and honour the same environment.

use tracing_subscriber::EnvFilter;

/// Installs the global `tracing` subscriber: human-readable lines on stderr,
/// filtered by `RUST_LOG` (default: `info` for loadlab crates, `warn` for
/// the libraries underneath). Stdout is left to the program's own output.
pub fn init_logging(default_directives: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_directives));
    // A second init (tests calling binaries' entry points) is harmless.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
