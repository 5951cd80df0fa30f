//! gRPC over an in-memory pipe instead of a socket: the server and the
//! client run on the test's runtime and nothing waits on the kernel, so
//! tests with paused time (`tokio::time::pause`) are deterministic.

use std::future::Future;

use tokio::io::DuplexStream;
use tonic::transport::{Channel, Endpoint};

/// The one connection an in-memory server is given.
pub type Incoming = tokio_stream::Once<std::io::Result<DuplexStream>>;

/// Spawns `serve` with the server's end of a pipe (for tonic's
/// `serve_with_incoming`) and returns a channel to it.
pub async fn in_memory<F, Fut>(serve: F) -> Channel
where
    F: FnOnce(Incoming) -> Fut,
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let (client, server) = tokio::io::duplex(1 << 20);
    tokio::spawn(serve(tokio_stream::once(Ok(server))));
    let mut client = Some(client);
    Endpoint::from_static("http://in-memory.invalid")
        .connect_with_connector(tower::service_fn(move |_: http::Uri| {
            let io = client.take();
            async move {
                io.map(hyper_util::rt::TokioIo::new)
                    .ok_or_else(|| std::io::Error::other("the in-memory pipe was used already"))
            }
        }))
        .await
        .expect("an in-memory channel connects")
}
