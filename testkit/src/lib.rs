//! What loadlab's tests and benchmarks share, written once: real servers on
//! port 0 ([`servers`], and [`echo`], the stand-in for a user's own HTTPS
//! service), processes under test ([`process`]), an OTLP
//! collector that keeps what it receives ([`otlp`]), and a slowloris
//! ([`slowloris`]).

pub mod echo;
pub mod otlp;
pub mod process;
pub mod redis;
pub mod servers;
pub mod slowloris;

/// An address on loopback where nothing listens: connecting to it is
/// refused at once. (The port was free a moment ago and is left free.)
pub fn closed_port() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let address = listener.local_addr().expect("a bound address");
    drop(listener);
    address
}

pub mod grpc;
