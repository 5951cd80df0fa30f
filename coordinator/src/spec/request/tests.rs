use super::*;
use crate::spec::tests::error;
use crate::spec::{HttpTarget, Spec};

const REAL: &str = "name: api\nmodes: [async]\nrequests:\n";

/// A real target's request: method, headers, a JSON body, an absolute
/// URL, the statuses expected — read as written.
#[test]
fn real_target_requests_are_read_with_their_fields() {
    let spec = Spec::parse(
        &format!(
            "{REAL}  - id: create\n    method: post\n    url: https://api.test:8443/orders?x=1\n\
                 \x20   headers: {{ Authorization: Bearer t0k, X-Retry: 3 }}\n\
                 \x20   body: {{ json: {{ item: 42, tags: [a, b] }} }}\n\
                 \x20   expect: {{ status: [200, 201] }}\n\
                 \x20 - {{ id: note, path: /notes, method: PUT, body: hello }}\n\
                 target: https://api.test:8443\ninsecure: true\n"
        ),
        "x.yaml",
    )
    .unwrap();
    let create = &spec.requests[0];
    assert_eq!(create.method, Some(HttpMethod("POST".into())));
    assert_eq!(
        create.to,
        Destination::Url(RequestUrl("https://api.test:8443/orders?x=1".into()))
    );
    assert_eq!(
        create.body.as_ref().unwrap().bytes(),
        br#"{"item":42,"tags":["a","b"]}"#.to_vec()
    );
    assert_eq!(
        create.headers_sent(),
        [
            ("Authorization".to_owned(), "Bearer t0k".to_owned()),
            ("X-Retry".to_owned(), "3".to_owned()),
            ("content-type".to_owned(), "application/json".to_owned()),
        ]
    );
    assert_eq!(create.expect.as_ref().unwrap().status, [200, 201]);
    assert_eq!(
        spec.requests[1].body,
        Some(RequestBody::Text("hello".into()))
    );
    assert!(
        spec.requests[1].headers_sent().is_empty(),
        "a text body sets no type"
    );
    assert!(spec.insecure);
    assert_eq!(
        spec.target.http,
        Some(HttpTarget("https://api.test:8443".into()))
    );
    // A report's copy of the spec reads back, its secrets redacted.
    let json = serde_json::to_value(&spec).unwrap();
    assert_eq!(
        json["requests"][0]["headers"],
        serde_json::json!({"Authorization": "(redacted)", "X-Retry": "3"})
    );
    let back: Spec = serde_json::from_value(json).unwrap();
    assert_eq!(
        back.requests[0].headers.0[1],
        ("X-Retry".into(), "3".into())
    );
    assert_eq!(back.requests[0].body, create.body);
}

/// Every mistake in a request's new fields is refused at its line.
#[test]
fn real_target_mistakes_are_located() {
    let cases = [
        (
            "  - { id: a, path: /x, url: http://h/x }\n",
            "both `path` and `url`",
        ),
        ("  - { id: a, method: POST }\n", "neither `path` nor `url`"),
        ("  - { id: a, url: /relative }\n", "not an absolute URL"),
        (
            "  - { id: a, url: \"ftp://h/x\" }\n",
            "only http:// and https://",
        ),
        (
            "  - { id: a, path: /x, method: \"GE T\" }\n",
            "not an HTTP method",
        ),
        (
            "  - { id: a, path: /x, headers: { \"a b\": x } }\n",
            "not an HTTP header name",
        ),
        (
            "  - { id: a, path: /x, headers: { A: [1] } }\n",
            "a header value is text",
        ),
        (
            "  - { id: a, path: /x, body: hi, headers: { Content-Length: 100 } }\n",
            "header Content-Length is the HTTP client's own",
        ),
        (
            "  - { id: a, path: /x, headers: { transfer-encoding: chunked } }\n",
            "header transfer-encoding is the HTTP client's own",
        ),
        (
            "  - { id: a, path: /x, body: [1, 2] }\n",
            "`body: { json: ... }`",
        ),
        (
            "  - { id: a, path: /x, body: { jsn: 1 } }\n",
            "`body: { json: ... }`",
        ),
        (
            "  - { id: a, path: /x, method: HEAD, body: x }\n",
            "HEAD request cannot have a body",
        ),
        (
            "  - { id: a, path: /x, expect: { status: [200, 700] } }\n",
            "status 700 is not an HTTP status",
        ),
        (
            "  - { id: a, path: /x, expect: { status: [] } }\n",
            "lists no status",
        ),
        (
            "  - { id: a, path: /x, expect: { statuses: [200] } }\n",
            "unknown field `statuses`",
        ),
        (
            "  - { id: a, path: /x, metod: POST }\n",
            "unknown field `metod`",
        ),
        (
            "  - { id: a, url: \"https://u:p@h/x\" }\n",
            "credentials in a URL are not sent",
        ),
    ];
    for (request, expected) in cases {
        let (line, _, message) = error(&format!("{REAL}{request}"));
        assert_eq!(line, 4, "{request}: {message}");
        assert!(message.contains(expected), "{request}: {message}");
    }
}
