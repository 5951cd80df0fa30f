//! The four ways the tracker can serve a customer, the same four modes as
//! everywhere in loadlab, here on the server side.

use std::fmt;
use std::str::FromStr;

/// How customers' sessions wait for Redis and for their sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// A task per customer awaiting its updates from one shared Redis
    /// subscriber connection: thousands of idle customers cost tasks.
    Async,
    /// An OS thread per customer, each with its own blocking Redis
    /// subscription and a blocking websocket.
    Threads,
    /// Async handlers on one executor thread that read Redis with a
    /// blocking client (`get_message` with a 1 s timeout, the usual idiom):
    /// while one customer's read waits, no other customer is served.
    Blocking,
    /// One customer at a time, start to end, on one thread; the next waits
    /// in its handshake.
    Sync,
}

impl Mode {
    pub const ALL: [Mode; 4] = [Mode::Async, Mode::Threads, Mode::Blocking, Mode::Sync];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Async => "async",
            Mode::Threads => "threads",
            Mode::Blocking => "blocking",
            Mode::Sync => "sync",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Mode, String> {
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                format!("unknown mode {s:?} (expected async, threads, blocking or sync)")
            })
    }
}
