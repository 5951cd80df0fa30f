//! What loadlab's tests and benchmarks share, written once: assignments as
//! the coordinator sends them ([`assignment`]), real servers on
//! port 0 ([`servers`], and [`echo`], the stand-in for a user's own HTTPS
//! service), a plain HTTP client ([`http`]), processes under test ([`process`]), an OTLP
//! collector that keeps what it receives ([`otlp`]), and a slowloris
//! ([`slowloris`]).

pub mod assignment;
pub mod echo;
pub mod http;
pub mod otlp;
pub mod process;
pub mod redis;
pub mod servers;
pub mod shop;
pub mod slowloris;

/// An address on loopback where nothing listens: connecting to it is
/// refused at once. (The port was free a moment ago and is left free.)
///
/// The port is below the system's ephemeral range (Linux's
/// `ip_local_port_range`, 32768–60999 by default), where no client's source
/// port and no `bind(0)` lands: a client retrying against it cannot connect
/// to itself (a source port equal to the port asked for), and a server
/// started on it later finds it still free. Where that range leaves too
/// little room below it, a port `bind(0)` chose, as before.
pub fn closed_port() -> std::net::SocketAddr {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU32, Ordering};
    const PORTS: u32 = 10_000;
    // Where the ephemeral range starts (None: too low to leave room below),
    // read once.
    static EPHEMERAL_FROM: OnceLock<Option<u32>> = OnceLock::new();
    let ephemeral_from = *EPHEMERAL_FROM.get_or_init(|| {
        let from = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|range| range.split_whitespace().next()?.parse::<u32>().ok())
            .unwrap_or(32_768);
        (from >= PORTS + 2_000).then_some(from)
    });
    let Some(ephemeral_from) = ephemeral_from else {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        return listener.local_addr().expect("a bound address");
    };
    let first = ephemeral_from - PORTS;
    // Where this process starts (apart from other test processes), then
    // one port after another, so no two calls hand out the same port.
    static NEXT: OnceLock<AtomicU32> = OnceLock::new();
    let next = NEXT.get_or_init(|| {
        let seed = std::process::id().wrapping_mul(2_654_435_761)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |t| t.subsec_nanos());
        AtomicU32::new(seed % PORTS)
    });
    for _ in 0..PORTS {
        let port = first + next.fetch_add(1, Ordering::Relaxed) % PORTS;
        let address = std::net::SocketAddr::from(([127, 0, 0, 1], port as u16));
        if std::net::TcpListener::bind(address).is_ok() {
            return address;
        }
    }
    panic!("no free port on 127.0.0.1 in {first}..{ephemeral_from}");
}

pub mod grpc;
