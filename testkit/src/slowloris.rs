//! A slowloris from one client: connections that send half a request line
//! and stop, holding whatever a server gives each open connection.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Raises this process's open-files limit to at least `needed` (processes
/// it starts afterwards inherit it), or fails saying how: a slowloris and
/// the server it holds both need one file per connection.
pub fn ensure_open_files(needed: u64) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_none_or(|soft| soft >= needed) {
        return;
    }
    let hard = limit.maximum;
    assert!(
        hard.is_none_or(|hard| hard >= needed),
        "this test opens about {needed} files but the hard open-files limit is {hard:?}: \
         raise it (as root: ulimit -Hn {needed})"
    );
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(needed),
            maximum: hard,
        },
    )
    .unwrap_or_else(|e| panic!("cannot raise the open-files limit to {needed}: {e}"));
}

/// Opens `n` connections to `address`, each sending the start of a request
/// line and nothing more. Connections the server has closed are kept too
/// (their sockets are the caller's until dropped).
pub async fn open(address: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(n);
    for i in 0..n {
        let mut stream = TcpStream::connect(address)
            .await
            .unwrap_or_else(|e| panic!("slowloris connection {i} of {n} to {address}: {e}"));
        // Half a request line: the server waits for the rest of the header.
        stream
            .write_all(b"GET /delay-me?ms=1 HT")
            .await
            .unwrap_or_else(|e| panic!("slowloris connection {i}: {e}"));
        held.push(stream);
    }
    held
}

/// The file descriptors process `pid` has open now.
pub fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |dir| dir.count())
}

/// Waits until process `pid` holds at least `n` open files (it has
/// accepted what was sent its way), panicking after `within`.
pub async fn until_open_files(pid: u32, n: usize, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let open = open_files(pid);
        if open >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "process {pid} holds {open} open files after {within:?}, expected {n}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
