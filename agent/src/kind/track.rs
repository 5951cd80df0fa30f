//! The tracking workload: customers watching their orders over the
//! tracker's websockets, and a courier feed publishing their locations to
//! Redis. One request is one update: published on its order's channel, done
//! when the order's customer receives it (latency: publish to delivery, on
//! this agent's clock), failed when it does not arrive within the timeout.
//!
//! The mode is the tracker's (`{tracker}/{mode}/track/{order}`); this side
//! always waits with async tasks, so what is measured is the server.
//!
//! Which order a round's update is for: the run's rounds are dealt to the
//! schedule's shares (`share, share + shares, ...`), and each share owns
//! the orders `share, share + shares, ...`, so customers are split between
//! agents and a takeover reaches the same orders. Within a share, every
//! turn through its orders goes in a different order, as couriers' updates
//! do: a server that serves customers in a fixed order gains nothing.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use loadlab_proto::histogram::{LatencyHistogram, new_latency_histogram, record_latency};
use loadlab_proto::v1;
use opentelemetry::KeyValue;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

use crate::outcome::{BodyPrefix, Outcome};

/// Customers connecting at once.
const CONNECTING: usize = 64;
/// How long a customer's websocket may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One update of the round, ready to run.
#[derive(Debug, Clone)]
pub struct TrackTarget {
    tracker: String,
    redis: String,
    customers: u64,
    prefix: String,
}

impl TrackTarget {
    pub fn from_wire(wire: &v1::TrackUpdate) -> Result<TrackTarget, String> {
        if !wire.tracker_url.starts_with("ws://") {
            return Err(format!("{:?} is not a ws:// URL", wire.tracker_url));
        }
        if !wire.redis_url.starts_with("redis://") {
            return Err(format!("{:?} is not a redis:// URL", wire.redis_url));
        }
        if wire.customers == 0 {
            return Err("has no customers".into());
        }
        Ok(TrackTarget {
            tracker: wire.tracker_url.trim_end_matches('/').to_owned(),
            redis: wire.redis_url.clone(),
            customers: wire.customers,
            prefix: wire.order_prefix.clone(),
        })
    }

    /// The order (0..customers) that round `round` updates, given the
    /// schedule's `shares`; `None` when the share owns no order (more
    /// shares than customers).
    pub fn order_of(&self, round: u64, shares: u64) -> Option<u64> {
        let shares = shares.max(1);
        let share = round % shares;
        let owned = self.customers.saturating_sub(share).div_ceil(shares);
        if owned == 0 {
            return None;
        }
        let turn = round / shares;
        let (pass, slot) = (turn / owned, turn % owned);
        Some(share + shares * shuffle(slot, pass, owned))
    }

    fn order_id(&self, mode: crate::Mode, order: u64) -> String {
        format!("{}{mode}-{order}", self.prefix)
    }

    pub fn span_fields(&self, outcome: &Outcome, fields: &mut Vec<KeyValue>) -> &'static str {
        fields.push(KeyValue::new("messaging.system", "redis"));
        fields.push(KeyValue::new("messaging.operation.type", "publish"));
        fields.push(KeyValue::new("server.address", self.tracker.clone()));
        if outcome.error.is_some() {
            fields.push(KeyValue::new("error.type", "not_delivered"));
        }
        "PUBLISH"
    }
}

/// `slot` of `0..n` permuted, differently for every `pass`: an affine map
/// `slot * a + b mod n` with `a` coprime to `n`.
fn shuffle(slot: u64, pass: u64, n: u64) -> u64 {
    if n <= 1 {
        return 0;
    }
    let hash = splitmix(pass);
    let mut a = (hash % n).max(1);
    while gcd(a, n) != 1 {
        a = a % n + 1;
    }
    let b = (hash >> 32) % n;
    ((u128::from(slot) * u128::from(a) + u128::from(b)) % u128::from(n)) as u64
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// How the customers' websockets opened.
#[derive(Debug, Clone)]
pub struct Connected {
    /// Set-up times, microseconds.
    pub histogram: LatencyHistogram,
    pub failures: u64,
}

/// One customer: its socket's reader hands each update to whoever waits for
/// it.
struct Customer {
    waiting: Mutex<HashMap<u64, oneshot::Sender<Instant>>>,
    /// Why its socket closed, once it did.
    closed: Mutex<Option<String>>,
}

impl Customer {
    /// Why its socket closed, if it did.
    fn closed(&self) -> Option<String> {
        self.closed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// The customers of an assignment and the courier feed's connection.
pub struct Customers {
    by_order: HashMap<u64, Result<Arc<Customer>, String>>,
    redis: redis::aio::MultiplexedConnection,
    mode: crate::Mode,
    shares: u64,
    timeout: Duration,
}

impl Customers {
    /// Connects the customers of the `orders` this assignment will update
    /// (each to its order's channel, through the tracker in `mode`), and
    /// the feed to Redis. Fails when Redis cannot be reached; customers
    /// that cannot connect fail their updates, with the reason.
    pub async fn connect(
        target: &TrackTarget,
        mode: crate::Mode,
        orders: BTreeSet<u64>,
        shares: u64,
        timeout: Duration,
    ) -> Result<(Customers, Connected), String> {
        let redis = redis::Client::open(target.redis.as_str())
            .map_err(|e| format!("{:?} is not a Redis URL: {e}", target.redis))?;
        let redis = tokio::time::timeout(CONNECT_TIMEOUT, redis.get_multiplexed_async_connection())
            .await
            .map_err(|_| format!("Redis at {} did not answer within 10 s", target.redis))?
            .map_err(|e| format!("cannot reach Redis at {}: {e}", target.redis))?;
        let opened: Vec<(u64, Opened)> = futures::stream::iter(orders)
            .map(|order| {
                let url = format!(
                    "{}/{mode}/track/{}",
                    target.tracker,
                    target.order_id(mode, order)
                );
                async move { (order, open(url).await) }
            })
            .buffer_unordered(CONNECTING)
            .collect()
            .await;
        let mut connected = Connected {
            histogram: new_latency_histogram(),
            failures: 0,
        };
        let mut by_order = HashMap::with_capacity(opened.len());
        for (order, result) in opened {
            match result {
                Ok((customer, took)) => {
                    record_latency(&mut connected.histogram, took.as_micros() as u64);
                    by_order.insert(order, Ok(customer));
                }
                Err(why) => {
                    connected.failures += 1;
                    by_order.insert(order, Err(why));
                }
            }
        }
        Ok((
            Customers {
                by_order,
                redis,
                mode,
                shares,
                timeout,
            },
            connected,
        ))
    }

    /// Publishes round `round`'s update and waits for its customer to
    /// receive it.
    pub async fn update(&self, target: &TrackTarget, round: u64) -> Outcome {
        let Some(order) = target.order_of(round, self.shares) else {
            return Outcome::failed("this agent's share has no order (more agents than customers)");
        };
        let customer = match self.by_order.get(&order) {
            Some(Ok(customer)) => customer.clone(),
            Some(Err(why)) => return Outcome::failed(format!("customer not connected: {why}")),
            None => return Outcome::failed(format!("order {order} has no customer here")),
        };
        if let Some(why) = customer.closed() {
            return Outcome::failed(format!("the customer's socket closed: {why}"));
        }
        let (delivered, arrival) = oneshot::channel();
        customer
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(round, delivered);
        let sent_us = loadlab_proto::unix::now_us();
        // A courier's position, and what the customer needs to match it.
        let payload = format!(
            r#"{{"round":{round},"sent_us":{sent_us},"lat":{:.5},"lng":{:.5}}}"#,
            -23.55 + (round % 1000) as f64 * 1e-5,
            -46.63 - (round % 777) as f64 * 1e-5
        );
        let channel = target.order_id(self.mode, order);
        let mut redis = self.redis.clone();
        let published: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(&payload)
            .query_async(&mut redis)
            .await;
        let forget = || {
            customer
                .waiting
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&round);
        };
        if let Err(error) = published {
            forget();
            return Outcome::failed(format!("cannot publish to Redis: {error}"));
        }
        match tokio::time::timeout(self.timeout, arrival).await {
            Ok(Ok(_)) => Outcome {
                body: BodyPrefix::text_of(payload),
                ..Outcome::default()
            },
            Ok(Err(_)) => Outcome::failed(format!(
                "the customer's socket closed: {}",
                customer.closed().unwrap_or_default()
            )),
            Err(_) => {
                forget();
                Outcome::failed(format!(
                    "not delivered within {}",
                    humantime::format_duration(self.timeout)
                ))
            }
        }
    }
}

/// A customer whose socket opened, and how long that took; or why not.
type Opened = Result<(Arc<Customer>, Duration), String>;

/// Opens one customer's websocket and starts its reader.
async fn open(url: String) -> Opened {
    let started = Instant::now();
    // Small buffers: updates are short, and thousands of customers must
    // not cost tungstenite's default 128 KiB each way.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0);
    let connecting = tokio_tungstenite::connect_async_with_config(&url, Some(config), false);
    let (socket, _) = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| "the websocket did not open within 10 s".to_owned())?
        .map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(response) => {
                format!("the tracker answered {}", response.status())
            }
            other => other.to_string(),
        })?;
    let took = started.elapsed();
    let customer = Arc::new(Customer {
        waiting: Mutex::new(HashMap::new()),
        closed: Mutex::new(None),
    });
    let reader = customer.clone();
    tokio::spawn(async move {
        let (_write, mut read) = socket.split();
        let why = loop {
            match read.next().await {
                Some(Ok(Message::Text(text))) => {
                    let now = Instant::now();
                    if let Some(round) = round_of(&text) {
                        let waiter = reader
                            .waiting
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .remove(&round);
                        if let Some(waiter) = waiter {
                            let _ = waiter.send(now);
                        }
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    break frame.map_or("closed".to_owned(), |f| {
                        format!("{} {}", u16::from(f.code), f.reason)
                    });
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => break error.to_string(),
                None => break "closed".to_owned(),
            }
        };
        *reader.closed.lock().unwrap_or_else(|e| e.into_inner()) = Some(why);
        // Waiters see their sender dropped.
        reader
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    });
    Ok((customer, took))
}

/// The `round` field of an update's payload.
fn round_of(text: &str) -> Option<u64> {
    let rest = text.split_once(r#""round":"#)?.1;
    let digits = rest.split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(customers: u64) -> TrackTarget {
        TrackTarget {
            tracker: "ws://x".into(),
            redis: "redis://x".into(),
            customers,
            prefix: "p-".into(),
        }
    }

    /// Every turn through a share's orders updates each of them once, in
    /// an order that changes from turn to turn; shares own disjoint orders.
    #[test]
    fn each_share_updates_its_own_orders_once_a_turn_in_shuffled_order() {
        let t = target(10);
        for shares in [1u64, 3] {
            let mut seen_by_share: Vec<BTreeSet<u64>> = vec![BTreeSet::new(); shares as usize];
            for share in 0..shares {
                let owned: Vec<u64> = (0..10).filter(|o| o % shares == share).collect();
                let mut turns = Vec::new();
                for pass in 0..5 {
                    let turn: Vec<u64> = (0..owned.len() as u64)
                        .map(|k| {
                            let round = share + shares * (pass * owned.len() as u64 + k);
                            t.order_of(round, shares).unwrap()
                        })
                        .collect();
                    let mut sorted = turn.clone();
                    sorted.sort_unstable();
                    assert_eq!(sorted, owned, "shares {shares}, share {share}, pass {pass}");
                    turns.push(turn);
                    seen_by_share[share as usize].extend(owned.iter());
                }
                if owned.len() > 2 {
                    assert!(turns.windows(2).any(|w| w[0] != w[1]), "{turns:?}");
                }
            }
        }
        assert_eq!(target(2).order_of(2, 3), None);
    }

    #[test]
    fn the_round_is_read_back_from_the_payload() {
        assert_eq!(round_of(r#"{"round":1234,"sent_us":5}"#), Some(1234));
        assert_eq!(round_of("nonsense"), None);
    }
}
