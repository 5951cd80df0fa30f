//! The async mode's Redis side: one subscriber connection multiplexing every
//! order's channel, fanned out to the customers watching it. It reconnects
//! by itself with backoff; while Redis is away, the hub is unhealthy, every
//! customer's updates end (their sockets are closed with 1011) and new
//! customers are refused.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Updates queued for one order before its slowest customer is dropped.
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
        reply: oneshot::Sender<Result<broadcast::Receiver<Message>, Unavailable>>,
    },
    Leave {
        order: String,
    },
}

/// A customer's subscription: its updates, and leaving when dropped.
pub struct Subscription {
    pub updates: broadcast::Receiver<Message>,
    order: String,
    commands: mpsc::UnboundedSender<Command>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Leave {
            order: std::mem::take(&mut self.order),
        });
    }
}

impl Hub {
    /// Starts the hub's task on the current runtime; it stops with `stop`.
    pub fn start(client: redis::Client, address: String, stop: CancellationToken) -> Hub {
        let (commands, queue) = mpsc::unbounded_channel();
        let (health, healthy) = watch::channel(false);
        tokio::spawn(serve(client, address, queue, health, stop));
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
        let updates = answer
            .await
            .map_err(|_| Unavailable("the tracker is stopping".into()))??;
        Ok(Subscription {
            updates,
            order: order.to_owned(),
            commands: self.commands.clone(),
        })
    }
}

/// Connects, serves until the connection is lost, and again, until `stop`.
async fn serve(
    client: redis::Client,
    address: String,
    mut queue: mpsc::UnboundedReceiver<Command>,
    health: watch::Sender<bool>,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let connected = tokio::select! {
            connected = client.get_async_pubsub() => connected,
            () = stop.cancelled() => return,
        };
        let pubsub = match connected {
            Ok(pubsub) => pubsub,
            Err(error) => {
                health.send_replace(false);
                warn!(%address, %error, retry_in = ?backoff, "cannot reach Redis");
                // Customers arriving meanwhile are refused, not kept waiting.
                let until = tokio::time::Instant::now() + backoff;
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
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        health.send_replace(true);
        info!(%address, "subscribed to Redis");
        let lost = connected_loop(pubsub, &mut queue, &stop).await;
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
    queue: &mut mpsc::UnboundedReceiver<Command>,
    stop: &CancellationToken,
) -> Option<String> {
    let (sink, mut messages) = pubsub.split();
    // Subscribe and unsubscribe in the order asked, on their own task, so
    // that fanning out never waits for a round trip.
    let (orders, pending) = mpsc::unbounded_channel::<SinkCommand>();
    let (failed, mut sink_failed) = oneshot::channel();
    tokio::spawn(drive_sink(sink, pending, failed));
    let mut channels: HashMap<String, broadcast::Sender<Message>> = HashMap::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => return None,
            why = &mut sink_failed => return Some(why.unwrap_or_else(|_| "subscriber stopped".into())),
            message = messages.next() => {
                let Some(message) = message else {
                    return Some("the connection closed".into());
                };
                if let Some(customers) = channels.get(message.get_channel_name()) {
                    let payload = message.get_payload_bytes();
                    let frame = match std::str::from_utf8(payload) {
                        Ok(text) => Message::text(text),
                        Err(_) => Message::binary(payload.to_vec()),
                    };
                    // No customer left: the channel is being left anyway.
                    let _ = customers.send(frame);
                }
            }
            command = queue.recv() => match command? {
                Command::Join { order, reply } => {
                    let updates = channels
                        .entry(order.clone())
                        .or_insert_with(|| broadcast::channel(BACKLOG).0)
                        .subscribe();
                    let _ = orders.send(SinkCommand::Subscribe { order, reply, updates });
                }
                Command::Leave { order } => {
                    if channels.get(&order).is_some_and(|c| c.receiver_count() == 0) {
                        channels.remove(&order);
                        let _ = orders.send(SinkCommand::Unsubscribe(order));
                    }
                }
            },
        }
    }
}

enum SinkCommand {
    Subscribe {
        order: String,
        reply: oneshot::Sender<Result<broadcast::Receiver<Message>, Unavailable>>,
        updates: broadcast::Receiver<Message>,
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
                updates,
            } => match sink.subscribe(&order).await {
                Ok(()) => {
                    let _ = reply.send(Ok(updates));
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
