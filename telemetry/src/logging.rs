//! Log lines on stderr, filtered by `RUST_LOG`.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Installs the global `tracing` subscriber with logging only: lines on
/// stderr filtered by `RUST_LOG` (else `default_directives`).
pub fn init_logging(default_directives: &str) {
    let _ = tracing_subscriber::registry()
        .with(layer(default_directives))
        .try_init();
}

/// The logging layer, for a subscriber that also exports traces.
pub(crate) fn layer<S>(default_directives: &str) -> impl Layer<S> + Send + Sync
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_directives));
    // Colours only for a person at a terminal: not in files, pipes or CI
    // logs, nor with NO_COLOR set.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .with_filter(filter)
}
