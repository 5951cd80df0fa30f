//! A small shop with a login, the service the scenario tests load: `GET /`
//! and `GET /items/{1..=1000}` for anyone; `POST /login` with a JSON
//! `{user, password}` of one of its users answers a token and sets a
//! `session` cookie; `POST /orders` needs both (`Authorization: Bearer`
//! and the cookie of the same login) and a JSON body naming the same user,
//! and answers 201. It logs every request as it arrived, so tests check
//! from the server's side which rows, tokens and pauses the users had.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;

/// One request as the shop saw it.
#[derive(Debug, Clone)]
pub struct Visit {
    /// When it arrived (the whole request read).
    pub at: Instant,
    pub method: String,
    pub path: String,
    /// The user it was for: the `X-User` header of a page, the JSON body's
    /// of a login, the token's of an order.
    pub user: Option<String>,
    /// The token a login gave or an order carried.
    pub token: Option<String>,
    pub status: u16,
}

#[derive(Default)]
struct State {
    users: HashMap<String, String>,
    /// Token to (user, session).
    logins: HashMap<String, (String, String)>,
    next: u64,
    visits: Vec<Visit>,
}

/// A running shop: its base URL and what it saw; stops when dropped.
pub struct Shop {
    pub url: String,
    state: Arc<Mutex<State>>,
    _stop: tokio_util::sync::DropGuard,
}

impl Shop {
    /// Every request so far, in the order they arrived.
    pub fn visits(&self) -> Vec<Visit> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .visits
            .clone()
    }
}

/// Starts a shop on 127.0.0.1:0 with these `(user, password)`s.
pub async fn start(users: &[(String, String)]) -> Shop {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the shop");
    let address = listener.local_addr().expect("its address");
    let state = Arc::new(Mutex::new(State {
        users: users.iter().cloned().collect(),
        ..State::default()
    }));
    let stop = CancellationToken::new();
    let shared = state.clone();
    crate::servers::accept_until(listener, stop.clone(), move |stream| {
        let state = shared.clone();
        async move {
            let service = service_fn(move |request| serve(request, state.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
    });
    Shop {
        url: format!("http://{address}"),
        state,
        _stop: stop.drop_guard(),
    }
}

type Reply = hyper::Response<Full<Bytes>>;

async fn serve(
    request: hyper::Request<hyper::body::Incoming>,
    state: Arc<Mutex<State>>,
) -> Result<Reply, std::convert::Infallible> {
    let (parts, body) = crate::servers::read_request(request).await;
    let at = Instant::now();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let field = |name: &str| json.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let path = parts.uri.path().to_owned();
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    let mut visit = Visit {
        at,
        method: parts.method.to_string(),
        path: path.clone(),
        user: header("x-user"),
        token: None,
        status: 200,
    };
    let reply = match (parts.method.as_str(), path.as_str()) {
        ("GET", "/") => text(200, "welcome"),
        ("GET", item) if item.starts_with("/items/") => {
            match item["/items/".len()..].parse::<u32>() {
                Ok(n @ 1..=1000) => text(200, &format!("{{\"item\":{n}}}")),
                _ => text(404, "no such item"),
            }
        }
        ("POST", "/login") => {
            let (user, password) = (field("user"), field("password"));
            visit.user.clone_from(&user);
            match (user, password) {
                (Some(user), Some(password)) if state.users.get(&user) == Some(&password) => {
                    state.next += 1;
                    let n = state.next;
                    let token = format!("t-{user}-{n}");
                    let session = format!("s{n}");
                    state.logins.insert(token.clone(), (user, session.clone()));
                    visit.token = Some(token.clone());
                    let mut reply = text(200, &format!("{{\"token\":\"{token}\"}}"));
                    reply.headers_mut().insert(
                        hyper::header::SET_COOKIE,
                        format!("session={session}; Path=/; HttpOnly")
                            .parse()
                            .expect("a cookie"),
                    );
                    reply
                }
                _ => text(401, "wrong user or password"),
            }
        }
        ("POST", "/orders") => {
            let token =
                header("authorization").and_then(|a| a.strip_prefix("Bearer ").map(str::to_owned));
            visit.token.clone_from(&token);
            let login = token.as_ref().and_then(|t| state.logins.get(t)).cloned();
            let cookies = header("cookie").unwrap_or_default();
            match login {
                None => text(401, "no valid bearer token"),
                Some((user, session)) => {
                    visit.user = Some(user.clone());
                    if !cookies
                        .split("; ")
                        .any(|c| c == format!("session={session}"))
                    {
                        text(403, "no session cookie of this login")
                    } else if field("user").as_deref() != Some(user.as_str()) {
                        text(400, "the order names another user")
                    } else {
                        text(201, "{\"order\":\"placed\"}")
                    }
                }
            }
        }
        _ => text(404, "not found"),
    };
    visit.status = reply.status().as_u16();
    state.visits.push(visit);
    Ok(reply)
}

fn text(status: u16, body: &str) -> Reply {
    let mut reply = hyper::Response::new(Full::new(Bytes::from(body.to_owned())));
    *reply.status_mut() = hyper::StatusCode::from_u16(status).expect("a status");
    reply
}
