//! A slow HTTP server, the thing every loadlab experiment waits on.
//!
//! `GET /delay-me?seconds=N` (or `?ms=N`) answers `Done, I waited for N secs`
//! after N seconds, without holding a thread while it waits: thousands of
//! sleeping requests cost tasks and timers. `GET /healthz` answers 200.
//!
//! The coordinator embeds it for local runs; the `delay-server` binary serves
//! it on its own.

pub mod body;
pub mod delay;
pub mod hiccup;
pub mod server;

pub use delay::{Delay, DelayError};
pub use server::{Config, bind, run};
