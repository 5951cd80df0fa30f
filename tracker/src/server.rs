//! The HTTP side: accept loop, routing, the websocket handshake, and handing
//! each customer to its mode's session.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use loadlab_admission::Admission;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::Mode;
use crate::customer::{Customer, Serving, blocking_stream, subscribe};
use crate::hub::{Hub, Unavailable};
use crate::session;
use crate::shared::{Config, Shared};

/// Why the tracker cannot serve.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{url:?} is not a Redis URL: {reason}")]
    BadRedisUrl { url: String, reason: String },
    #[error("cannot reach Redis at {address}: {reason}")]
    RedisUnreachable { address: String, reason: String },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Binds `addr` for [`run`]; returns the listener and the address bound.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// A tracker connected to its Redis, ready to serve.
pub struct Tracker {
    shared: Arc<Shared>,
    hub_stop: CancellationToken,
    address: String,
}

impl Tracker {
    /// Checks that Redis answers (else the error names its host:port) and
    /// starts the shared subscriber.
    pub async fn connect(config: Config) -> Result<Tracker, Error> {
        let client =
            redis::Client::open(config.redis_url.as_str()).map_err(|e| Error::BadRedisUrl {
                url: config.redis_url.clone(),
                reason: e.to_string(),
            })?;
        let address = crate::redis_address(&config.redis_url);
        ping(&client)
            .await
            .map_err(|reason| Error::RedisUnreachable {
                address: address.clone(),
                reason,
            })?;
        let hub_stop = CancellationToken::new();
        let shared = Arc::new(Shared {
            hub: Hub::start(client.clone(), address.clone(), hub_stop.clone()),
            client,
            stop: CancellationToken::new(),
            customers: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            blocking: OnceLock::new(),
            sync: OnceLock::new(),
            config,
        });
        if !shared.hub.ready(Duration::from_secs(3)).await {
            return Err(Error::RedisUnreachable {
                address,
                reason: "its subscriber connection did not come up within 3 s".into(),
            });
        }
        Ok(Tracker {
            shared,
            hub_stop,
            address,
        })
    }

    /// Serves `listener` until `shutdown` completes; then closes every
    /// customer's socket with 1001 within the grace period.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        let Tracker {
            shared,
            hub_stop,
            address,
        } = self;
        serve(listener, shared, hub_stop, address, shutdown).await
    }
}

/// [`Tracker::connect`], then [`Tracker::serve`]: fails at once when Redis
/// cannot be reached.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    Tracker::connect(config)
        .await?
        .serve(listener, shutdown)
        .await
}

async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    hub_stop: CancellationToken,
    address: String,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let local = listener.local_addr()?;
    info!(%local, redis = %address, mode = %shared.config.mode, "tracker ready");
    let admission = Admission::new(shared.config.max_connections);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, most likely: wait, do not spin.
                    warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // A slot for it: a free one, or an idle connection's; while every
        // connection is serving, later clients wait in the backlog.
        let ticket = tokio::select! {
            () = &mut shutdown => break,
            ticket = admission.admit() => Arc::new(ticket),
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let serving = ticket.clone();
            let service = service_fn(move |request| {
                let busy = serving.busy();
                let reply = handle(request, shared.clone());
                async move { Ok::<_, Infallible>(busy.reply(reply.await)) }
            });
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                // A client that never finishes its request header does not
                // keep its socket for ever, even when nothing needs the slot.
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            match ticket.serving(served).await {
                Some(Err(error)) => debug!(%peer, %error, "connection ended"),
                Some(Ok(())) => {}
                None => debug!(%peer, "idle connection closed to make room"),
            }
        });
    }
    drop(listener);
    info!(
        customers = shared.customers.load(Ordering::Relaxed),
        "shutting down: closing customers' sockets"
    );
    shared.stop.cancel();
    let closed = async {
        while shared.customers.load(Ordering::Relaxed) > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    if tokio::time::timeout(shared.config.grace, closed)
        .await
        .is_err()
    {
        warn!(
            left = shared.customers.load(Ordering::Relaxed),
            "grace period over with customers still connected"
        );
    }
    hub_stop.cancel();
    info!(
        delivered = shared.delivered.load(Ordering::Relaxed),
        "tracker stopped"
    );
    Ok(())
}

async fn ping(client: &redis::Client) -> Result<(), String> {
    let attempt = async {
        let mut connection = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
    };
    match tokio::time::timeout(Duration::from_secs(3), attempt).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err("no answer within 3 s".into()),
    }
}

type Reply = Response<Full<Bytes>>;

fn text(status: StatusCode, body: impl Into<String>) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(body.into() + "\n")));
    *reply.status_mut() = status;
    reply
}

async fn handle(request: Request<Incoming>, shared: Arc<Shared>) -> Reply {
    let path = request.uri().path().to_owned();
    match path.as_str() {
        "/healthz" if shared.hub.healthy() => text(StatusCode::OK, "ok"),
        "/healthz" => text(StatusCode::SERVICE_UNAVAILABLE, "Redis is unreachable"),
        "/stats" => stats(&shared),
        _ => match route(&path, shared.config.mode) {
            Route::Track(mode, order) => track(request, mode, order, shared).await,
            Route::BadOrder => text(
                StatusCode::BAD_REQUEST,
                "order ids are 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-'",
            ),
            Route::BadMode(mode) => text(
                StatusCode::NOT_FOUND,
                format!(
                    "no mode {mode:?}: /track/ORDER, or /{{async,threads,blocking,sync}}/track/ORDER"
                ),
            ),
            Route::None => text(StatusCode::NOT_FOUND, "not found: try /track/ORDER_ID"),
        },
    }
}

enum Route {
    Track(Mode, String),
    BadOrder,
    BadMode(String),
    None,
}

fn route(path: &str, default: Mode) -> Route {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (mode, order) = match parts.as_slice() {
        ["track", order] => (default, *order),
        [mode, "track", order] => match mode.parse() {
            Ok(mode) => (mode, *order),
            Err(_) => return Route::BadMode((*mode).to_owned()),
        },
        _ => return Route::None,
    };
    if valid_order(order) {
        Route::Track(mode, order.to_owned())
    } else {
        Route::BadOrder
    }
}

/// 1–64 characters of `[A-Za-z0-9_-]`.
pub fn valid_order(order: &str) -> bool {
    (1..=64).contains(&order.len())
        && order
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn stats(shared: &Shared) -> Reply {
    let (threads, rss_mb) = crate::stats::process().unwrap_or((0, 0.0));
    let body = serde_json::json!({
        "mode": shared.config.mode.as_str(),
        "customers": shared.customers.load(Ordering::Relaxed),
        "delivered": shared.delivered.load(Ordering::Relaxed),
        "threads": threads,
        "rss_mb": (rss_mb * 10.0).round() / 10.0,
        "redis": if shared.hub.healthy() { "up" } else { "down" },
    });
    let mut reply = text(StatusCode::OK, body.to_string());
    reply
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    reply
}

async fn track(
    mut request: Request<Incoming>,
    mode: Mode,
    order: String,
    shared: Arc<Shared>,
) -> Reply {
    if request.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET only");
    }
    let headers = request.headers();
    let upgrade = headers
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let Some(key) = headers.get(SEC_WEBSOCKET_KEY).filter(|_| upgrade) else {
        return text(
            StatusCode::UPGRADE_REQUIRED,
            "this is a websocket endpoint: connect with a websocket client",
        );
    };
    let accept = derive_accept_key(key.as_bytes());
    if shared.stop.is_cancelled() {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the tracker is shutting down",
        );
    }
    if !shared.hub.healthy() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "Redis is unreachable");
    }
    let span = loadlab_telemetry::span(|| {
        tracing::info_span!(
            target: loadlab_telemetry::TARGET,
            "customer",
            otel.name = "track customer",
            otel.kind = "server",
            tracker.mode = mode.as_str(),
            tracker.order = order.as_str(),
            tracker.delivered = tracing::field::Empty,
        )
    });
    loadlab_telemetry::propagation::set_parent_from_headers(&span, request.headers());
    let customer = match subscribe(mode, &order, &shared).await {
        Ok(customer) => customer,
        Err(Unavailable(why)) => return text(StatusCode::SERVICE_UNAVAILABLE, why),
    };
    let upgrading = hyper::upgrade::on(&mut request);
    let session = shared.clone();
    tokio::spawn(async move {
        let upgraded = match upgrading.await {
            Ok(upgraded) => upgraded,
            Err(error) => {
                debug!(%error, "the customer left during the handshake");
                return;
            }
        };
        let delivered = match customer {
            Customer::Async(subscription) => {
                let _serving = Serving::new(&session);
                session::serve_async(upgraded, subscription, session.clone()).await
            }
            Customer::Blocking(socket) => {
                let _ = socket.send(upgraded);
                return;
            }
            Customer::Thread(socket) => {
                if let Some(stream) = blocking_stream(upgraded) {
                    let _ = socket.send(stream);
                }
                return;
            }
        };
        span.record("tracker.delivered", delivered);
    });
    let mut reply = Response::new(Full::new(Bytes::new()));
    *reply.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = reply.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    }
    reply
}
