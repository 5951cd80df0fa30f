//! The delay server's yardstick: the least a server that sleeps per request
//! can be. hyper's HTTP/1 on tokio's default runtime, one
//! `tokio::time::sleep` per `GET /delay-me?ms=N`, a short fixed reply, and
//! nothing else (no connection cap, no tracing, no faults, no graceful
//! shutdown). `bench delay-server` runs it as a process of its own (`bench
//! minimal-server`) beside the real delay server, so both are measured the
//! same way in the same run.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpSocket;

#[derive(Debug, clap::Args)]
pub struct Options {
    /// Address to listen on; `listening on http://ADDR` is printed.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

pub fn serve(options: Options) -> anyhow::Result<()> {
    tokio::runtime::Runtime::new()?.block_on(async {
        let socket = TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind(options.listen)?;
        // The same accept backlog as the delay server's.
        let listener = socket.listen(8192)?;
        println!("listening on http://{}", listener.local_addr()?);
        std::io::stdout().flush()?;
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of descriptors: wait rather than spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(sleep_then_reply))
                    .await;
            });
        }
    })
}

async fn sleep_then_reply(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let ms = request
        .uri()
        .query()
        .and_then(|query| query.strip_prefix("ms="))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(Response::new(Full::new(Bytes::from_static(b"done"))))
}
