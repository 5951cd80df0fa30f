//! How each mode takes a customer in: subscribed to its order (a task on
//! the shared subscriber; a thread with its own blocking connection; a task
//! on the blocking mode's one executor; a turn on the sync mode's thread),
//! then handed its socket once the handshake is done.

use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc as std_mpsc};
use std::time::Duration;

use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

use crate::Mode;
use crate::hub::Unavailable;
use crate::session;
use crate::shared::{Shared, SyncCustomer};

/// A customer subscribed in its mode, waiting for its socket.
pub(crate) enum Customer {
    Async(crate::hub::Subscription),
    /// Threads and sync: the session's thread takes the socket as a
    /// blocking stream.
    Thread(oneshot::Sender<(TcpStream, Vec<u8>)>),
    Blocking(oneshot::Sender<Upgraded>),
}

/// The socket under an upgraded connection, as a blocking stream, with the
/// bytes already read from it.
pub(crate) fn blocking_stream(upgraded: Upgraded) -> Option<(TcpStream, Vec<u8>)> {
    let parts = upgraded.downcast::<TokioIo<tokio::net::TcpStream>>().ok()?;
    let stream = parts.io.into_inner().into_std().ok()?;
    stream.set_nonblocking(false).ok()?;
    Some((stream, parts.read_buf.to_vec()))
}

/// Counts a customer as served while alive.
pub(crate) struct Serving(Arc<Shared>);

impl Serving {
    pub(crate) fn new(shared: &Arc<Shared>) -> Serving {
        shared.customers.fetch_add(1, Ordering::Relaxed);
        Serving(shared.clone())
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.customers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Subscribes a customer to `order` the way its mode does; returns once the
/// subscription is in place, so no update published after the handshake is
/// missed.
pub(crate) async fn subscribe(
    mode: Mode,
    order: &str,
    shared: &Arc<Shared>,
) -> Result<Customer, Unavailable> {
    let order = order.to_owned();
    match mode {
        Mode::Async => shared.hub.join(&order).await.map(Customer::Async),
        Mode::Threads => {
            let (subscribed, ready) = oneshot::channel();
            let (socket, stream) = oneshot::channel::<(TcpStream, Vec<u8>)>();
            let session = shared.clone();
            let started = std::thread::Builder::new()
                .name("customer".into())
                .stack_size(256 * 1024)
                .spawn(move || {
                    session::with_subscription(&session.client, &order, subscribed, |pubsub| {
                        if let Ok((stream, read)) = stream.blocking_recv() {
                            let _serving = Serving::new(&session);
                            session::serve_thread(stream, read, pubsub, &session);
                        }
                    });
                });
            if let Err(error) = started {
                return Err(Unavailable(format!("cannot start a thread: {error}")));
            }
            waited(ready).await.map(|()| Customer::Thread(socket))
        }
        Mode::Sync => {
            let (subscribed, ready) = oneshot::channel();
            let (socket, stream) = oneshot::channel();
            let queue = shared
                .sync
                .get_or_init(|| start_sync(shared.clone()).map(std::sync::Mutex::new));
            let Some(queue) = queue else {
                return Err(Unavailable("cannot start the sync mode's thread".into()));
            };
            let sent = queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .send(SyncCustomer {
                    order,
                    subscribed,
                    socket: stream,
                });
            if sent.is_err() {
                return Err(Unavailable("the tracker is shutting down".into()));
            }
            waited(ready).await.map(|()| Customer::Thread(socket))
        }
        Mode::Blocking => {
            let (subscribed, ready) = oneshot::channel();
            let (socket, upgraded) = oneshot::channel::<Upgraded>();
            let executor = shared
                .blocking
                .get_or_init(|| start_blocking(shared.clone()));
            let Some(executor) = executor else {
                return Err(Unavailable(
                    "cannot start the blocking mode's executor".into(),
                ));
            };
            let session = shared.clone();
            executor.spawn(async move {
                // Blocking, like everything this mode does with Redis.
                let mut redis =
                    match session::connect_blocking(&session.client, session::BLOCKING_READ) {
                        Ok(redis) => redis,
                        Err(error) => {
                            let _ = subscribed.send(Err(Unavailable(error.to_string())));
                            return;
                        }
                    };
                let mut pubsub = redis.as_pubsub();
                if let Err(error) = pubsub.subscribe(&order) {
                    let _ = subscribed.send(Err(Unavailable(error.to_string())));
                    return;
                }
                let _ = subscribed.send(Ok(()));
                if let Ok(upgraded) = upgraded.await {
                    let _serving = Serving::new(&session);
                    session::serve_blocking(upgraded, &mut pubsub, session.clone()).await;
                }
            });
            waited(ready).await.map(|()| Customer::Blocking(socket))
        }
    }
}

async fn waited(ready: oneshot::Receiver<Result<(), Unavailable>>) -> Result<(), Unavailable> {
    ready
        .await
        .map_err(|_| Unavailable("the tracker is shutting down".into()))?
}

/// The blocking mode's executor: a single-threaded runtime on its own
/// thread, running until the tracker stops and its sessions have closed.
fn start_blocking(shared: Arc<Shared>) -> Option<tokio::runtime::Handle> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    let handle = runtime.handle().clone();
    let stop = shared.stop.clone();
    let grace = shared.config.grace;
    std::thread::Builder::new()
        .name("tracker-blocking".into())
        .spawn(move || {
            runtime.block_on(async move {
                stop.cancelled().await;
                // Sessions see the stop after their current read.
                tokio::time::sleep(session::BLOCKING_READ.min(grace)).await;
            });
        })
        .ok()?;
    Some(handle)
}

/// The sync mode's one thread: customers one after the other, each from
/// its subscription to its socket's end.
fn start_sync(shared: Arc<Shared>) -> Option<std_mpsc::Sender<SyncCustomer>> {
    let (queue, customers) = std_mpsc::channel::<SyncCustomer>();
    std::thread::Builder::new()
        .name("tracker-sync".into())
        .spawn(move || {
            while !shared.stop.is_cancelled() {
                let Ok(customer) = customers.recv_timeout(Duration::from_millis(250)) else {
                    continue;
                };
                let SyncCustomer {
                    order,
                    subscribed,
                    socket,
                } = customer;
                session::with_subscription(&shared.client, &order, subscribed, |pubsub| {
                    if let Ok((stream, read)) = socket.blocking_recv() {
                        let _serving = Serving::new(&shared);
                        session::serve_thread(stream, read, pubsub, &shared);
                    }
                });
            }
        })
        .ok()?;
    Some(queue)
}
