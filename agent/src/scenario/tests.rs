use super::*;

fn scenario(name: &str, weight: u32) -> v1::Scenario {
    v1::Scenario {
        name: name.into(),
        weight,
        steps: vec![v1::Step {
            kind: Some(v1::step::Kind::Request(0)),
            ..Default::default()
        }],
    }
}

#[test]
fn weights_pick_scenarios_in_proportion() {
    let assignment = v1::Assignment {
        scenarios: vec![scenario("browse", 7), scenario("buy", 3)],
        requests: vec![v1::Request {
            id: "Home".into(),
            kind: Some(v1::request::Kind::Http(v1::HttpRequest {
                url: "http://127.0.0.1:1/".into(),
                ..Default::default()
            })),
        }],
        ..Default::default()
    };
    let mut round = vec![Request {
        id: "Home".into(),
        target: Target::from_wire(assignment.requests[0].kind.as_ref()).unwrap(),
    }];
    let scenarios = Scenarios::from_wire(&assignment, &mut round)
        .unwrap()
        .unwrap();
    let picked = (0..10_000).filter(|&i| scenarios.pick(i) == 0).count();
    assert!((6_800..=7_200).contains(&picked), "{picked}");
}

#[test]
fn templated_requests_render_url_headers_and_body() {
    let wire = v1::HttpRequest {
        url: "http://127.0.0.1:1/items/{{ row.id }}".into(),
        headers: vec![v1::HttpHeader {
            name: "authorization".into(),
            value: "Bearer {{ token }}".into(),
        }],
        body: br#"{"user":"{{ row.user }}"}"#.to_vec(),
        templated: true,
        ..Default::default()
    };
    let assignment = v1::Assignment {
        scenarios: vec![scenario("s", 1)],
        requests: vec![v1::Request {
            id: "Item".into(),
            kind: Some(v1::request::Kind::Http(wire)),
        }],
        ..Default::default()
    };
    let mut round = vec![Request {
        id: "Item".into(),
        target: Target::from_wire(Some(&v1::request::Kind::Http(v1::HttpRequest {
            url: "http://127.0.0.1:1/".into(),
            ..Default::default()
        })))
        .unwrap(),
    }];
    let scenarios = Scenarios::from_wire(&assignment, &mut round)
        .unwrap()
        .unwrap();
    let row = std::collections::BTreeMap::from([("id", "7"), ("user", "ana")]);
    let scope = Scope {
        row: Some(minijinja::Value::from_serialize(row)),
        vars: std::sync::Arc::new([("token".to_owned(), minijinja::Value::from("t"))].into()),
        ..Scope::default()
    };
    let mut headers = http::HeaderMap::new();
    let (target, rendered) = scenarios.target(0, &round, &scope, &mut headers).unwrap();
    let rendered = rendered.expect("rendered onto the stand-in");
    assert_eq!(rendered.path.as_ref().expect("a rendered path"), "/items/7");
    assert_eq!(headers["authorization"], "Bearer t");
    assert_eq!(rendered.body.as_deref(), Some(&br#"{"user":"ana"}"#[..]));
    let (Target::Http(target), Target::Http(stand_in)) = (&target, &round[0].target) else {
        panic!("not http")
    };
    assert!(
        std::sync::Arc::ptr_eq(target, stand_in),
        "the stand-in, not a copy"
    );
    assert_eq!(
        stand_in.uri(Some(&rendered), false),
        "http://127.0.0.1:1/items/7",
        "the absolute URL (for the blocking client and cookies)"
    );
    assert_eq!(stand_in.uri(Some(&rendered), true), "/items/7");
    assert_eq!(stand_in.url, "http://127.0.0.1:1/items/{{ row.id }}");
    let error = scenarios
        .target(0, &round, &Scope::default(), &mut headers)
        .unwrap_err();
    assert!(error.contains("undefined"), "{error}");
    // A value that cannot stand in a path fails the step, saying so.
    let row = std::collections::BTreeMap::from([("id", "7 8"), ("user", "ana")]);
    let scope = Scope {
        row: Some(minijinja::Value::from_serialize(row)),
        ..scope
    };
    let error = scenarios
        .target(0, &round, &scope, &mut headers)
        .unwrap_err();
    assert_eq!(error, r#""/items/7 8" is not a valid path and query"#);
}

/// A template that changes the host is rendered whole: the request
/// goes to the rendered host, with its own Host header.
#[test]
fn a_templated_host_is_rendered_whole() {
    let wire = v1::HttpRequest {
        url: "http://{{ row.host }}:8080/x?u={{ user }}".into(),
        headers: vec![v1::HttpHeader {
            name: "x-a".into(),
            value: "{{ user }}".into(),
        }],
        templated: true,
        ..Default::default()
    };
    let assignment = v1::Assignment {
        scenarios: vec![scenario("s", 1)],
        requests: vec![v1::Request {
            id: "R".into(),
            kind: Some(v1::request::Kind::Http(wire.clone())),
        }],
        ..Default::default()
    };
    let mut round = vec![Request {
        id: "R".into(),
        target: Target::from_wire(Some(&v1::request::Kind::Http(stand_in(&wire)))).unwrap(),
    }];
    let scenarios = Scenarios::from_wire(&assignment, &mut round)
        .unwrap()
        .unwrap();
    let scope = Scope {
        row: Some(minijinja::Value::from_serialize(
            std::collections::BTreeMap::from([("host", "api.test")]),
        )),
        user: 3,
        ..Scope::default()
    };
    let (Target::Http(target), None) = scenarios
        .target(0, &round, &scope, &mut http::HeaderMap::new())
        .unwrap()
    else {
        panic!("not http, or rendered onto the stand-in")
    };
    assert_eq!(target.url, "http://api.test:8080/x?u=3");
    assert_eq!(target.header("host"), Some("api.test:8080"));
    assert_eq!(target.header("x-a"), Some("3"));
}
