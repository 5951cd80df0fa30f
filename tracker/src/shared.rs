//! What the tracker's parts share: the operator's settings and the state
//! every connection and session reads (Redis, the subscriber hub, counters,
//! the executors of the sync and blocking modes). Its own module so that
//! the server, customers and sessions depend on it and not on each other.

use std::net::TcpStream;
use std::sync::atomic::AtomicU64;
use std::sync::{OnceLock, mpsc as std_mpsc};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::Mode;
use crate::hub::{Hub, Unavailable};

/// What an operator can tune; see the binary's `--help`.
#[derive(Debug, Clone)]
pub struct Config {
    /// e.g. `redis://127.0.0.1:6379`.
    pub redis_url: String,
    /// The mode of `GET /track/{order}` (any mode: `/{mode}/track/{order}`).
    pub mode: Mode,
    /// On shutdown, how long sessions get to close their sockets.
    pub grace: Duration,
    /// HTTP connections open at once before their websocket upgrade (a
    /// customer's session, once upgraded, no longer counts). When full, the
    /// oldest one not serving a request (a slowloris, say) is closed to
    /// make room.
    pub max_connections: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            redis_url: "redis://127.0.0.1:6379".into(),
            mode: Mode::Async,
            grace: Duration::from_secs(5),
            max_connections: 10_000,
        }
    }
}

/// What every connection and session shares.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) client: redis::Client,
    pub(crate) hub: Hub,
    /// Sessions close with 1001 once this is cancelled.
    pub stop: CancellationToken,
    /// Customers being served now.
    pub(crate) customers: AtomicU64,
    /// Updates delivered since start.
    pub delivered: AtomicU64,
    /// The blocking mode's executor: one thread, started with its first
    /// customer (`None`: it could not start).
    pub(crate) blocking: OnceLock<Option<tokio::runtime::Handle>>,
    /// The sync mode's one thread, started with its first customer.
    pub(crate) sync: OnceLock<Option<std::sync::Mutex<std_mpsc::Sender<SyncCustomer>>>>,
}

impl Shared {
    /// Whether the shared subscriber connection is up.
    pub fn redis_up(&self) -> bool {
        self.hub.healthy()
    }
}

/// A sync-mode customer waiting for its turn on the mode's one thread.
pub(crate) struct SyncCustomer {
    pub(crate) order: String,
    pub(crate) subscribed: oneshot::Sender<Result<(), Unavailable>>,
    pub(crate) socket: oneshot::Receiver<(TcpStream, Vec<u8>)>,
}
