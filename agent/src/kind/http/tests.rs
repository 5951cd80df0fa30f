use super::*;

#[test]
fn both_clients_get_one_header_set_host_user_agent_accept_unless_given() {
    let plain = target(url("http://127.0.0.1:80/x?y=1")).unwrap();
    assert_eq!(plain.authority, "127.0.0.1:80");
    assert_eq!(plain.origin, "/x?y=1");
    assert_eq!(plain.headers["host"], "127.0.0.1");
    assert!(
        plain.headers["user-agent"]
            .to_str()
            .unwrap()
            .starts_with("loadlab/")
    );
    assert_eq!(plain.headers["accept"], "*/*");
    let own = target(v1::HttpRequest {
        headers: vec![
            v1::HttpHeader {
                name: "Host".into(),
                value: "api.test".into(),
            },
            v1::HttpHeader {
                name: "traceparent".into(),
                value: "mine".into(),
            },
        ],
        ..url("https://[::1]:8443/v1")
    })
    .unwrap();
    assert_eq!(own.authority, "[::1]:8443");
    assert_eq!(own.host, "::1");
    assert_eq!(own.headers.get_all("host").iter().count(), 1);
    assert_eq!(own.headers["host"], "api.test");
    let mut trace = http::HeaderMap::new();
    trace.insert("traceparent", http::HeaderValue::from_static("ours"));
    let request = own.request(own.origin.clone(), (), trace);
    let sent = request.headers();
    assert_eq!(sent.get_all("traceparent").iter().count(), 1);
    assert_eq!(sent["traceparent"], "ours");
    assert!(
        target(url("https://user:pw@h:1/x"))
            .unwrap_err()
            .contains("credentials in a URL are not sent")
    );
}

fn target(wire: v1::HttpRequest) -> Result<HttpTarget, String> {
    HttpTarget::from_wire(&wire)
}

fn url(url: &str) -> v1::HttpRequest {
    v1::HttpRequest {
        url: url.to_owned(),
        ..Default::default()
    }
}

fn body(text: &str) -> BodyPrefix {
    let mut body = BodyPrefix::default();
    body.push(text.as_bytes());
    body
}

#[test]
fn non_2xx_is_an_error_that_quotes_the_server() {
    let get = target(url("http://127.0.0.1:1/x")).unwrap();
    let outcome = response(
        &get,
        http::StatusCode::BAD_REQUEST,
        false,
        body("parameter `seconds`: \"x\" is not a number\n"),
        None,
    );
    assert_eq!(
        outcome.error.as_deref(),
        Some("HTTP 400 Bad Request: parameter `seconds`: \"x\" is not a number")
    );
    assert!(
        response(&get, http::StatusCode::OK, false, body("fine"), None)
            .error
            .is_none()
    );
}

#[test]
fn success_is_the_statuses_expected_and_injected_failures_say_so() {
    let created = target(v1::HttpRequest {
        expect_status: vec![201, 202],
        ..url("http://127.0.0.1:1/orders")
    })
    .unwrap();
    let ok = response(&created, http::StatusCode::OK, false, body("{}"), None);
    assert_eq!(
        ok.error.as_deref(),
        Some("HTTP 200 OK, expected 201 or 202")
    );
    assert!(
        response(&created, http::StatusCode::ACCEPTED, false, body(""), None)
            .error
            .is_none()
    );
    let get = target(url("http://127.0.0.1:1/x")).unwrap();
    let injected = response(
        &get,
        http::StatusCode::SERVICE_UNAVAILABLE,
        true,
        body("injected failure: HTTP 503"),
        None,
    );
    assert_eq!(injected.error.as_deref(), Some("HTTP 503 (injected)"));
}

#[test]
fn only_http_and_https_urls_methods_headers_and_statuses_are_targets() {
    assert!(target(url("http://127.0.0.1:1/x")).is_ok());
    let https = target(url("https://localhost/x")).unwrap();
    assert_eq!(https.authority, "localhost:443");
    assert!(https.tls.is_some());
    assert!(
        target(url("ftp://x"))
            .unwrap_err()
            .contains("not an http:// or https:// URL")
    );
    let bad_method = v1::HttpRequest {
        method: "GE T".into(),
        ..url("http://127.0.0.1:1/x")
    };
    assert!(
        target(bad_method)
            .unwrap_err()
            .contains("not an HTTP method")
    );
    let bad_header = v1::HttpRequest {
        headers: vec![v1::HttpHeader {
            name: "a b".into(),
            value: "x".into(),
        }],
        ..url("http://127.0.0.1:1/x")
    };
    assert!(
        target(bad_header)
            .unwrap_err()
            .contains("not an HTTP header name")
    );
    let bad_status = v1::HttpRequest {
        expect_status: vec![700],
        ..url("http://127.0.0.1:1/x")
    };
    assert!(target(bad_status).unwrap_err().contains("not 100-599"));
    let bad_ca = v1::HttpRequest {
        tls_ca_pem: "not a certificate".into(),
        ..url("https://127.0.0.1:1/x")
    };
    assert!(target(bad_ca).unwrap_err().contains("no PEM certificate"));
}

#[test]
fn a_cookie_jar_reads_the_scheme_host_and_path_sent() {
    let stand_in = target(url("http://shop.test:8080/stand-in?x=1")).unwrap();
    assert_eq!(
        stand_in.cookie_url(None).unwrap().as_str(),
        "http://shop.test:8080/stand-in"
    );
    let rendered = Rendered {
        path: Some(http::uri::PathAndQuery::from_static("/items/7?q=a%20b")),
        body: None,
    };
    let sent = stand_in.cookie_url(Some(&rendered)).unwrap();
    assert_eq!(sent.as_str(), "http://shop.test:8080/items/7");
    assert_eq!(
        sent.path(),
        stand_in.uri(Some(&rendered), false).path(),
        "the path the jar reads is the one sent"
    );
    // A rendered query alone leaves the stand-in's path.
    let query = Rendered {
        path: Some(http::uri::PathAndQuery::from_static("/stand-in?x=2")),
        body: None,
    };
    assert_eq!(
        stand_in.cookie_url(Some(&query)).unwrap().as_str(),
        "http://shop.test:8080/stand-in"
    );
}
