//! A real HTTP/1 client for tests that talk to a server directly: hyper's
//! pooled one, and a GET that reads the whole reply.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::{self, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;

/// Keeps up to a set number of idle keep-alive connections per server.
#[derive(Clone)]
pub struct Client(legacy::Client<HttpConnector, Empty<Bytes>>);

impl Client {
    /// Keeps every idle connection.
    pub fn new() -> Client {
        Client::keeping_idle(usize::MAX)
    }

    pub fn keeping_idle(idle: usize) -> Client {
        Client(
            legacy::Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(idle)
                .build_http(),
        )
    }

    /// GETs `url`; the reply's body is left to read.
    pub async fn send(&self, url: &str) -> Result<hyper::Response<Incoming>, legacy::Error> {
        self.0.get(url.parse().expect("a URL")).await
    }
}

impl Default for Client {
    fn default() -> Client {
        Client::new()
    }
}

/// GETs `url` and reads the reply: its status and its body as text.
pub async fn get(client: &Client, url: &str) -> (u16, String) {
    let response = client.send(url).await.expect("request sent");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.expect("body read");
    (
        status,
        String::from_utf8_lossy(&body.to_bytes()).into_owned(),
    )
}
