//! Real servers for tests, in this process, on 127.0.0.1:0.

use tokio_util::sync::CancellationToken;

/// A delay server on 127.0.0.1:0 in the current runtime; it stops when the
/// returned token is cancelled or dropped.
pub async fn delay_server(config: delay_server::Config) -> (String, tokio_util::sync::DropGuard) {
    let (listener, addr) = delay_server::bind(([127, 0, 0, 1], 0).into())
        .await
        .expect("bind a delay server");
    let stop = CancellationToken::new();
    tokio::spawn(delay_server::run(
        listener,
        config,
        stop.clone().cancelled_owned(),
    ));
    (format!("http://{addr}"), stop.drop_guard())
}
