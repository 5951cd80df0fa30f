//! A customer's session in each mode: from a subscribed order to a closed
//! socket. Every update is one text frame (binary if it is not UTF-8),
//! sent in the order Redis delivered it.

use std::io::ErrorKind;
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::{FutureExt, SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocket, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};

use tokio::sync::oneshot;

use crate::hub::{Subscription, Unavailable};
use crate::shared::Shared;

/// A blocking Redis read waits at most this long (the usual
/// `get_message(timeout=1)`): how long the blocking mode's executor is held
/// by a quiet customer.
pub const BLOCKING_READ: Duration = Duration::from_secs(1);
/// The threads and sync modes' Redis reads wait this long before looking at
/// the customer's socket and the shutdown.
pub const THREAD_READ: Duration = Duration::from_millis(250);
/// A customer that does not read for this long is dropped (threads, sync).
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a session ended on the tracker's side.
#[derive(Debug, Clone, Copy)]
enum End {
    /// The customer closed or went away.
    Customer,
    Shutdown,
    RedisLost,
    /// Its updates came faster than it read them.
    TooSlow,
}

impl End {
    fn frame(self) -> Option<CloseFrame> {
        let (code, reason) = match self {
            End::Customer => return None,
            End::Shutdown => (CloseCode::Away, "tracker shutting down"),
            End::RedisLost => (CloseCode::Error, "lost the connection to Redis"),
            End::TooSlow => (
                CloseCode::Policy,
                "updates arrived faster than they were read",
            ),
        };
        Some(CloseFrame {
            code,
            reason: reason.into(),
        })
    }
}

/// A blocking Redis connection for one customer's subscription, its reads
/// bounded by `read_timeout`. (Subscribe on the `PubSub` the session then
/// reads from: dropping a `PubSub` unsubscribes.)
pub fn connect_blocking(
    client: &redis::Client,
    read_timeout: Duration,
) -> redis::RedisResult<redis::Connection> {
    let connection = client.get_connection_with_timeout(Duration::from_secs(2))?;
    connection.set_read_timeout(Some(read_timeout))?;
    Ok(connection)
}

/// Small buffers: a customer receives short updates, and 10,000 of them
/// must not cost tungstenite's default 128 KiB each way.
fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
}

/// A customer's own blocking subscription to `order` (threads and sync):
/// connects, subscribes, tells `subscribed` whether that worked, and then
/// runs `serve` with it — here, because dropping a `PubSub` unsubscribes.
pub fn with_subscription<T>(
    client: &redis::Client,
    order: &str,
    subscribed: oneshot::Sender<Result<(), Unavailable>>,
    serve: impl FnOnce(&mut redis::PubSub<'_>) -> T,
) -> Option<T> {
    let mut redis = match connect_blocking(client, THREAD_READ) {
        Ok(redis) => redis,
        Err(error) => {
            let _ = subscribed.send(Err(Unavailable(error.to_string())));
            return None;
        }
    };
    let mut pubsub = redis.as_pubsub();
    if let Err(error) = pubsub.subscribe(order) {
        let _ = subscribed.send(Err(Unavailable(error.to_string())));
        return None;
    }
    subscribed.send(Ok(())).ok()?;
    Some(serve(&mut pubsub))
}

fn frame(message: &redis::Msg) -> Message {
    let payload = message.get_payload_bytes();
    match std::str::from_utf8(payload) {
        Ok(text) => Message::text(text),
        Err(_) => Message::binary(payload.to_vec()),
    }
}

/// `async`: a task awaiting its order's updates from the shared subscriber
/// and the customer's socket at once.
pub async fn serve_async(
    upgraded: Upgraded,
    mut subscription: Subscription,
    shared: Arc<Shared>,
) -> u64 {
    let mut socket = accept(upgraded).await;
    let mut delivered = 0;
    let end = loop {
        tokio::select! {
            () = shared.stop.cancelled() => break End::Shutdown,
            update = subscription.updates.recv() => match update {
                Some(update) => {
                    if socket.send(update).await.is_err() {
                        break End::Customer;
                    }
                    delivered += 1;
                    shared.delivered.fetch_add(1, Ordering::Relaxed);
                }
                // The hub dropped this customer's queue: it fell behind,
                // or Redis was lost.
                None if shared.redis_up() => break End::TooSlow,
                None => break End::RedisLost,
            },
            incoming = socket.next() => match incoming {
                Some(Ok(Message::Close(_)) | Err(_)) | None => break End::Customer,
                Some(Ok(_)) => {}
            },
        }
    };
    close(&mut socket, end).await;
    delivered
}

/// The customer's side of an upgraded connection, as a websocket.
async fn accept(upgraded: Upgraded) -> WebSocketStream<TokioIo<Upgraded>> {
    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config())).await
}

/// Says why the tracker ends a session (nothing when the customer left),
/// waiting at most a second for a customer that does not read.
async fn close(socket: &mut WebSocketStream<TokioIo<Upgraded>>, end: End) {
    if let Some(frame) = end.frame() {
        let _ = tokio::time::timeout(Duration::from_secs(1), socket.close(Some(frame))).await;
    }
}

/// `threads` and `sync`: this thread waits on the customer's own Redis
/// subscription, then writes to its socket, both blocking.
pub fn serve_thread(
    stream: TcpStream,
    read: Vec<u8>,
    pubsub: &mut redis::PubSub<'_>,
    shared: &Shared,
) -> u64 {
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let mut socket = WebSocket::from_partially_read(stream, read, Role::Server, Some(config()));
    let mut delivered = 0;
    let end = loop {
        if shared.stop.is_cancelled() {
            break End::Shutdown;
        }
        match pubsub.get_message() {
            Ok(message) => {
                if socket.send(frame(&message)).is_err() {
                    break End::Customer;
                }
                delivered += 1;
                shared.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) if error.is_timeout() => {}
            Err(_) => break End::RedisLost,
        }
        if !still_connected(&mut socket) {
            break End::Customer;
        }
    };
    if let Some(frame) = end.frame() {
        let _ = socket.close(Some(frame));
        let _ = socket.flush();
    }
    delivered
}

/// Reads what the customer sent without waiting: false once it closed.
fn still_connected(socket: &mut WebSocket<TcpStream>) -> bool {
    if socket.get_ref().set_nonblocking(true).is_err() {
        return false;
    }
    let connected = loop {
        match socket.read() {
            Ok(Message::Close(_)) => break false,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock => break true,
            Err(_) => break false,
        }
    };
    connected && socket.get_ref().set_nonblocking(false).is_ok()
}

/// `blocking`: async code on the one executor thread, calling a blocking
/// Redis read. While it waits (up to [`BLOCKING_READ`] when the order is
/// quiet), the executor runs nothing else: no other customer is served.
pub async fn serve_blocking(
    upgraded: Upgraded,
    pubsub: &mut redis::PubSub<'_>,
    shared: Arc<Shared>,
) -> u64 {
    let mut socket = accept(upgraded).await;
    let mut delivered = 0;
    let end = loop {
        if shared.stop.is_cancelled() {
            break End::Shutdown;
        }
        // The pitfall: a blocking call in async code.
        match pubsub.get_message() {
            Ok(message) => {
                if socket.send(frame(&message)).await.is_err() {
                    break End::Customer;
                }
                delivered += 1;
                shared.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) if error.is_timeout() => {}
            Err(_) => break End::RedisLost,
        }
        if let Some(Some(Ok(Message::Close(_)) | Err(_)) | None) = socket.next().now_or_never() {
            break End::Customer;
        }
        tokio::task::yield_now().await;
    };
    close(&mut socket, end).await;
    delivered
}
