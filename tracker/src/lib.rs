//! `tracker`: the service of the blog post's third act. Courier locations
//! are published to Redis on a channel named by the order id; each
//! customer's browser holds a websocket to `GET /track/{order_id}`, and the
//! tracker forwards every message of that channel to it, verbatim and in
//! order.
//!
//! It serves customers in one of four [`Mode`]s: `GET /track/{order}` in
//! the process's default mode (`--mode`), `GET /{mode}/track/{order}` in
//! any mode, so one process serves a whole experiment. `GET /healthz` is
//! 200 while Redis is reachable, 503 otherwise; `GET /stats` says how many
//! customers are served, updates delivered, and the process's threads and
//! memory.
//!
//! Library first: [`run`] serves an already-bound listener until its
//! shutdown future completes.

mod customer;
mod hub;
mod mode;
mod server;
mod session;
mod shared;
mod stats;

pub use mode::Mode;
pub use server::{Error, Tracker, bind, run, valid_order};
pub use shared::Config;

/// `host:port` of a Redis URL, for messages.
pub fn redis_address(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() {
        "127.0.0.1:6379".to_owned()
    } else if host.contains(':') && !host.ends_with(']') {
        host.to_owned()
    } else {
        format!("{host}:6379")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redis_addresses_are_named_with_their_port() {
        assert_eq!(
            super::redis_address("redis://127.0.0.1:6379"),
            "127.0.0.1:6379"
        );
        assert_eq!(super::redis_address("redis://:pw@cache/0"), "cache:6379");
        assert_eq!(super::redis_address("redis://[::1]:7000/"), "[::1]:7000");
    }
}
