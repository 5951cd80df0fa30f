//! An OTLP/gRPC trace receiver that prints one line per span it receives
//! (`span service=S trace=HEX name=N`): the stand-in for Jaeger in the
//! Compose test, where no image can be pulled.
//!
//!     otlp-sink [LISTEN]        # default 0.0.0.0:4317

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "0.0.0.0:4317".into());
    if let Err(error) = loadlab_testkit::otlp::Collector::serve_printing(&listen).await {
        eprintln!("otlp-sink: {listen}: {error}");
        std::process::exit(1);
    }
}
