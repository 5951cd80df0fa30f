//! The async mode's Redis side: one subscriber connection multiplexing every
//! order's channel, fanned out to the customers watching it. It reconnects
//! by itself with backoff; while Redis is away, the hub is unhealthy, every
//! customer's updates end (their sockets are closed with 1011) and new
//! customers are refused.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use loadlab_wait::backoff::Backoff;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Updates queued for one customer before it is dropped as too slow.
/// (Queues grow in small blocks as they fill: an idle customer costs a
/// few hundred bytes, not the whole backlog.)
const BACKLOG: usize = 1_024;

/// Why a customer cannot subscribe now.
#[derive(Debug, thiserror::Error)]
#[error("Redis is unavailable: {0}")]
pub struct Unavailable(pub String);

/// The handle sessions use; cheap to clone.
#[derive(Clone)]
pub struct Hub {
    commands: mpsc::UnboundedSender<Command>,
    healthy: watch::Receiver<bool>,
}

enum Command {
    Join {
        order: String,
        reply: oneshot::Sender<Result<Subscription, Unavailable>>,
    },
    Leave {
        order: String,
        customer: u64,
    },
}

/// A customer's subscription: its updates, and leaving when dropped. Its
/// updates end when Redis is lost, or when it fell [`BACKLOG`] behind.
pub struct Subscription {
    pub updates: mpsc::Receiver<Message>,
    order: String,
    customer: u64,
    commands: mpsc::UnboundedSender<Command>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Leave {
            order: std::mem::take(&mut self.order),
            customer: self.customer,
        });
    }
}

impl Hub {
    /// Starts the hub's task on the current runtime; it stops with `stop`.
    pub fn start(client: redis::Client, address: String, stop: CancellationToken) -> Hub {
        let (commands, queue) = mpsc::unbounded_channel();
        let (health, healthy) = watch::channel(false);
        tokio::spawn(serve(
            client,
            address,
            commands.clone(),
            queue,
            health,
            stop,
        ));
        Hub { commands, healthy }
    }

    /// Waits until the subscriber connection is up, at most `within`.
    pub async fn ready(&self, within: Duration) -> bool {
        let mut healthy = self.healthy.clone();
        tokio::time::timeout(within, healthy.wait_for(|up| *up))
            .await
            .is_ok_and(|up| up.is_ok())
    }

    /// Whether the subscriber connection is up.
    pub fn healthy(&self) -> bool {
        *self.healthy.borrow()
    }

    /// Subscribes to `order`'s channel; returns once Redis has confirmed, so
    /// every update published afterwards reaches the subscription.
    pub async fn join(&self, order: &str) -> Result<Subscription, Unavailable> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Join {
                order: order.to_owned(),
                reply,
            })
            .map_err(|_| Unavailable("the tracker is stopping".into()))?;
        answer
            .await
            .map_err(|_| Unavailable("the tracker is stopping".into()))?
    }
}

/// Connects, serves until the connection is lost, and again, until `stop`.
async fn serve(
    client: redis::Client,
    address: String,
    commands: mpsc::UnboundedSender<Command>,
    mut queue: mpsc::UnboundedReceiver<Command>,
    health: watch::Sender<bool>,
    stop: CancellationToken,
) {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    loop {
        let connected = tokio::select! {
            connected = client.get_async_pubsub() => connected,
            () = stop.cancelled() => return,
        };
        let pubsub = match connected {
            Ok(pubsub) => pubsub,
            Err(error) => {
                health.send_replace(false);
                let delay = backoff.next_delay();
                warn!(%address, %error, retry_in = ?delay, "cannot reach Redis");
                // Customers arriving meanwhile are refused, not kept waiting.
                let until = tokio::time::Instant::now() + delay;
                loop {
                    tokio::select! {
                        () = tokio::time::sleep_until(until) => break,
                        () = stop.cancelled() => return,
                        command = queue.recv() => match command {
                            Some(Command::Join { reply, .. }) => {
                                let _ = reply.send(Err(Unavailable(format!("cannot reach Redis at {address}"))));
                            }
                            Some(Command::Leave { .. }) => {}
                            None => return,
                        },
                    }
                }
                continue;
            }
        };
        backoff.reset();
        health.send_replace(true);
        info!(%address, "subscribed to Redis");
        let lost = connected_loop(pubsub, &commands, &mut queue, &health, &stop).await;
        health.send_replace(false);
        match lost {
            Some(why) => {
                warn!(%address, %why, "lost Redis; customers' sockets closed, reconnecting")
            }
            None => return,
        }
    }
}

/// Serves one subscriber connection; `Some(why)` when it was lost, `None`
/// when stopped.
async fn connected_loop(
    pubsub: redis::aio::PubSub,
    commands: &mpsc::UnboundedSender<Command>,
    queue: &mut mpsc::UnboundedReceiver<Command>,
    health: &watch::Sender<bool>,
    stop: &CancellationToken,
) -> Option<String> {
    // Unhealthy before the customers' queues close, so that their sessions
    // tell a lost Redis from a customer too slow.
    let lost = |why: String| {
        health.send_replace(false);
        Some(why)
    };
    let (sink, mut messages) = pubsub.split();
    // Subscribe and unsubscribe in the order asked, on their own task, so
    // that fanning out never waits for a round trip.
    let (orders, pending) = mpsc::unbounded_channel::<SinkCommand>();
    let (failed, mut sink_failed) = oneshot::channel();
    tokio::spawn(drive_sink(sink, pending, failed));
    // Each order's customers: their ids and queues.
    let mut channels: HashMap<String, Vec<(u64, mpsc::Sender<Message>)>> = HashMap::new();
    let mut next_customer = 0u64;
    loop {
        tokio::select! {
            () = stop.cancelled() => return None,
            why = &mut sink_failed => return lost(why.unwrap_or_else(|_| "subscriber stopped".into())),
            message = messages.next() => {
                let Some(message) = message else {
                    return lost("the connection closed".into());
                };
                if let Some(customers) = channels.get_mut(message.get_channel_name()) {
                    let payload = message.get_payload_bytes();
                    let frame = match std::str::from_utf8(payload) {
                        Ok(text) => Message::text(text),
                        Err(_) => Message::binary(payload.to_vec()),
                    };
                    // A customer BACKLOG behind is dropped (its queue
                    // closes); nobody waits for it.
                    customers.retain(|(_, queue)| queue.try_send(frame.clone()).is_ok());
                }
            }
            command = queue.recv() => match command? {
                Command::Join { order, reply } => {
                    let (sender, updates) = mpsc::channel(BACKLOG);
                    next_customer += 1;
                    channels.entry(order.clone()).or_default().push((next_customer, sender));
                    let subscription = Subscription {
                        updates,
                        order: order.clone(),
                        customer: next_customer,
                        commands: commands.clone(),
                    };
                    let _ = orders.send(SinkCommand::Subscribe { order, reply, subscription });
                }
                Command::Leave { order, customer } => {
                    if let Some(customers) = channels.get_mut(&order) {
                        customers.retain(|(id, _)| *id != customer);
                        if customers.is_empty() {
                            channels.remove(&order);
                            let _ = orders.send(SinkCommand::Unsubscribe(order));
                        }
                    }
                }
            },
        }
    }
}

enum SinkCommand {
    Subscribe {
        order: String,
        reply: oneshot::Sender<Result<Subscription, Unavailable>>,
        subscription: Subscription,
    },
    Unsubscribe(String),
}

async fn drive_sink(
    mut sink: redis::aio::PubSubSink,
    mut pending: mpsc::UnboundedReceiver<SinkCommand>,
    failed: oneshot::Sender<String>,
) {
    while let Some(command) = pending.recv().await {
        let result = match command {
            SinkCommand::Subscribe {
                order,
                reply,
                subscription,
            } => match sink.subscribe(&order).await {
                Ok(()) => {
                    let _ = reply.send(Ok(subscription));
                    Ok(())
                }
                Err(error) => {
                    let _ = reply.send(Err(Unavailable(error.to_string())));
                    Err(error)
                }
            },
            SinkCommand::Unsubscribe(order) => sink.unsubscribe(&order).await,
        };
        if let Err(error) = result {
            let _ = failed.send(error.to_string());
            return;
        }
    }
}
