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

/// Accepts connections on `listener` until `stop`, each handed to `serve`
/// on a task of its own (the accept loop of the tests' own HTTP servers).
pub fn accept_until<F, Fut>(
    listener: tokio::net::TcpListener,
    stop: tokio_util::sync::CancellationToken,
    serve: F,
) where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                () = stop.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(_) => continue,
                },
            };
            tokio::spawn(serve(stream));
        }
    });
}

/// A request's head and its whole body (empty when it could not be read).
pub async fn read_request(
    request: hyper::Request<hyper::body::Incoming>,
) -> (http::request::Parts, Vec<u8>) {
    use http_body_util::BodyExt;
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    (parts, body)
}
