//! The execution modes: the same requests, waited for in four different ways.

use std::fmt;

use crate::v1;
use serde::{Deserialize, Serialize};

/// How an agent runs a round of requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One request after the other, with a blocking client.
    Sync,
    /// Concurrent tasks on the tokio runtime with an async client.
    Async,
    /// Async tasks that call a blocking client on one single-threaded
    /// executor: `async` without an async library, the classic pitfall.
    Blocking,
    /// One OS thread per in-flight request, with a blocking client.
    Threads,
}

impl Mode {
    pub const ALL: [Mode; 4] = [Mode::Sync, Mode::Async, Mode::Blocking, Mode::Threads];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Sync => "sync",
            Mode::Async => "async",
            Mode::Blocking => "blocking",
            Mode::Threads => "threads",
        }
    }

    /// What the mode does, in a few words (the heading of its section).
    pub fn describe(self) -> &'static str {
        match self {
            Mode::Sync => "one request after the other",
            Mode::Async => "all requests as concurrent tasks on the async runtime",
            Mode::Blocking => "async tasks that call a blocking client (the pitfall)",
            Mode::Threads => "one OS thread per request, blocking client",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Mode> for v1::Mode {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Sync => v1::Mode::Sync,
            Mode::Async => v1::Mode::Async,
            Mode::Blocking => v1::Mode::Blocking,
            Mode::Threads => v1::Mode::Threads,
        }
    }
}

impl TryFrom<v1::Mode> for Mode {
    type Error = v1::Mode;

    fn try_from(mode: v1::Mode) -> Result<Self, Self::Error> {
        match mode {
            v1::Mode::Sync => Ok(Mode::Sync),
            v1::Mode::Async => Ok(Mode::Async),
            v1::Mode::Blocking => Ok(Mode::Blocking),
            v1::Mode::Threads => Ok(Mode::Threads),
            v1::Mode::Unspecified => Err(mode),
        }
    }
}
