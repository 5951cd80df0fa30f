//! The HTTP server: accept loop, routing, connection limit, graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::FutureExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use loadlab_admission::{Admission, Busy, InService};
use rand::RngExt;
use tokio::net::{TcpListener, TcpSocket};
use tracing::Instrument;
use tracing::{debug, info, warn};

use bytes::Bytes;
use http_body_util::{Either, Full};

use crate::body::Reply;
use crate::delay::Delay;
use crate::hiccup::{Frozen, Hiccups};

/// What an operator can tune; see the binary's `--help`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Longest delay a client may ask for.
    pub max_delay: Duration,
    /// Connections open at once. When they are all open and a client
    /// arrives, the oldest one idle for 200 ms (between requests, or still
    /// sending its first header: a slowloris) is closed to make room for
    /// it; when every one is serving, the client waits for a slot and
    /// further clients in the accept queue.
    pub max_connections: usize,
    /// How long in-flight requests may take to finish after shutdown starts.
    pub grace: Duration,
    /// Periodic pauses during which nothing is read or written.
    pub hiccups: Option<Hiccups>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_delay: Duration::from_secs(300),
            max_connections: 10_000,
            grace: Duration::from_secs(30),
            hiccups: None,
        }
    }
}

/// Counters for the shutdown summary.
#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    delayed: AtomicU64,
    refused: AtomicU64,
}

/// Serves `listener` until `shutdown` completes, then stops accepting and lets
/// in-flight requests finish within `config.grace`.
///
/// The listener is bound by the caller, so tests and embedders pick the
/// address (port 0 included) and learn it before the server starts.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let config = Arc::new(config);
    let counters = Arc::new(Counters::default());
    let admission = Admission::new(config.max_connections);
    // Hiccups count from here.
    let origin = tokio::time::Instant::now();
    tokio::pin!(shutdown);
    info!(%local, max_delay = ?config.max_delay, max_connections = config.max_connections, hiccups = ?config.hiccups, "delay server ready");

    loop {
        // Accepting first: in a burst of new connections the accept is
        // ready at once and the shutdown signal is not polled for each.
        let (stream, peer) = tokio::select! {
            biased;
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Typically EMFILE: out of file descriptors. Back off
                    // briefly rather than spinning; existing clients go on.
                    warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // A slot for it: a free one, or an idle connection's. While every
        // connection is serving it waits here, and later clients wait in
        // the kernel's backlog instead of costing us memory.
        // (Admitting first: a free slot, the usual case, is taken at once
        // without polling the shutdown signal.)
        let ticket = tokio::select! {
            biased;
            ticket = admission.admit() => Arc::new(ticket),
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        counters.connections.fetch_add(1, Ordering::Relaxed);

        let service = {
            let config = config.clone();
            let counters = counters.clone();
            let ticket = ticket.clone();
            service_fn(move |request| {
                respond(request, config.clone(), counters.clone(), ticket.busy())
            })
        };
        // No header-read timeout: a client that opens a connection and
        // never sends a whole header holds its slot only until a slot is
        // needed (the admission closes the oldest idle connection then),
        // and a timeout would arm and clear a timer for every request.
        let mut builder = http1::Builder::new();
        builder.keep_alive(true).header_read_timeout(None);
        let connection = builder.serve_connection(
            TokioIo::new(Frozen::new(stream, config.hiccups, origin)),
            service,
        );
        // Spawned as it is, not inside an `async` block: thousands of
        // connections wait at once, each holding its task. At shutdown the
        // admission tells each to finish its request and close.
        let serving = ticket
            .serving(connection)
            .on_drain(|connection| connection.graceful_shutdown());
        tokio::spawn(serving.map(move |ended| match ended {
            Some(Err(error)) => debug!(%peer, %error, "connection ended with an error"),
            Some(Ok(())) => {}
            None => debug!(%peer, "idle connection closed to make room"),
        }));
    }

    drop(listener);
    info!(grace = ?config.grace, "shutting down: no new connections, waiting for in-flight requests");
    admission.drain();
    tokio::select! {
        () = admission.closed() => info!("all connections closed"),
        () = tokio::time::sleep(config.grace) => warn!("grace period over; closing remaining connections"),
    }
    info!(
        connections = counters.connections.load(Ordering::Relaxed),
        delayed_requests = counters.delayed.load(Ordering::Relaxed),
        refused_requests = counters.refused.load(Ordering::Relaxed),
        evicted_connections = admission.evicted(),
        "delay server stopped"
    );
    Ok(())
}

/// The header that marks a reply as an injected failure (`fail=P`).
pub const INJECTED: &str = "loadlab-fault";

/// A `reset=P` fault: the request's connection is closed without an
/// answer (hyper drops a connection whose service fails).
#[derive(Debug, thiserror::Error)]
#[error("connection reset (injected)")]
pub struct InjectedReset;

/// Routes one request. Every outcome is an HTTP response, except an
/// injected reset. `busy` marks the connection as serving until the reply's
/// last byte.
///
/// Thousands of these wait at once, each in a box of its own size: the
/// request is let go before the wait (only the delay, its span and the
/// guard are held through it), and nothing wraps this future.
async fn respond(
    request: Request<Incoming>,
    config: Arc<Config>,
    counters: Arc<Counters>,
    busy: Busy,
) -> Result<Response<InService<Body>>, InjectedReset> {
    let delay = match route(&request) {
        Route::Delay => Delay::from_query(request.uri().query(), config.max_delay),
        Route::Reply(response) => return Ok(busy.reply(response)),
    };
    let delay = match delay {
        Ok(delay) => delay,
        Err(error) => {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            debug!(%error, "bad delay request");
            return Ok(busy.reply(text(StatusCode::BAD_REQUEST, error.to_string())));
        }
    };
    let faults = delay.faults;
    let mut wait = delay.duration;
    if !faults.jitter.is_zero() {
        wait += faults.jitter.mul_f64(rand::rng().random::<f64>());
    }
    debug!(delay = ?wait, "delaying");
    let span = server_span(&request, wait);
    drop(request);
    loadlab_wait::wait(wait).instrument(span).await;
    counters.delayed.fetch_add(1, Ordering::Relaxed);
    if faults.reset > 0.0 && rand::rng().random::<f64>() < faults.reset {
        // No answer: hyper closes the connection.
        return Err(InjectedReset);
    }
    if faults.fail > 0.0 && rand::rng().random::<f64>() < faults.fail {
        let status =
            StatusCode::from_u16(faults.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut reply = text(status, format!("injected failure: HTTP {}", faults.status));
        // Clients that know it (loadlab's agents) report "HTTP 503
        // (injected)" rather than a real failure.
        reply.headers_mut().insert(
            INJECTED,
            hyper::header::HeaderValue::from_static("injected"),
        );
        return Ok(busy.reply(reply));
    }
    let mut reply = match delay.bytes {
        Some(len) => respond_with(
            StatusCode::OK,
            Either::Right(Reply::sized(delay.reply(), len)),
        ),
        None => text(StatusCode::OK, delay.reply()),
    };
    if let Some(cookie) = delay.set_cookie()
        && let Ok(value) = hyper::header::HeaderValue::try_from(cookie)
    {
        reply.headers_mut().insert(hyper::header::SET_COOKIE, value);
    }
    Ok(busy.reply(reply))
}

/// Where a request goes: to a delay, or straight to its reply.
enum Route {
    Delay,
    Reply(Response<Body>),
}

fn route(request: &Request<Incoming>) -> Route {
    let path = request.uri().path();
    match (request.method(), path) {
        (&Method::GET, "/delay-me" | "/delay-me/") => Route::Delay,
        (&Method::GET | &Method::HEAD, "/healthz") => {
            Route::Reply(text(StatusCode::OK, "ok".into()))
        }
        (_, "/delay-me" | "/delay-me/" | "/healthz") => Route::Reply(text(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: use GET".into(),
        )),
        _ => Route::Reply(text(
            StatusCode::NOT_FOUND,
            format!("not found: {path} (try GET /delay-me?seconds=N)"),
        )),
    }
}

/// The server span of one delayed request, a child of the caller's span
/// when the request carries a W3C `traceparent`; none when not tracing, or
/// when the caller's `traceparent` says this request is not sampled (then
/// not even built: a load run samples a few of its requests).
fn server_span(request: &Request<Incoming>, delay: std::time::Duration) -> tracing::Span {
    if loadlab_telemetry::requests::sampled_flag(request.headers()) == Some(false) {
        return tracing::Span::none();
    }
    let span = loadlab_telemetry::span(|| {
        tracing::info_span!(
            target: loadlab_telemetry::TARGET,
            "delay",
            otel.name = "GET /delay-me",
            otel.kind = "server",
            http.request.method = "GET",
            http.route = "/delay-me",
            url.query = request.uri().query().unwrap_or_default(),
            http.response.status_code = 200,
            delay.requested_ms = delay.as_millis() as u64,
        )
    });
    loadlab_telemetry::propagation::set_parent_from_headers(&span, request.headers());
    span
}

/// A reply: a short text (sent whole, with its head), or a padded one
/// streamed in chunks.
type Body = Either<Full<Bytes>, Reply>;

fn text(status: StatusCode, body: String) -> Response<Body> {
    respond_with(status, Either::Left(Full::new(Bytes::from(body))))
}

fn respond_with(status: StatusCode, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Binds `addr` and returns the listener with the address actually bound
/// (useful with port 0). The accept backlog is large so that a burst of
/// thousands of new connections queues instead of being dropped (the kernel
/// caps it at `net.core.somaxconn`).
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(8192)?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}
