//! Assignments as the coordinator sends them, for tests that hand one to
//! an agent directly: a closed loop, with the fields
//! a test changes set by name and the rest as the wire's defaults.

use loadlab_proto::v1;

/// An assignment being written.
#[derive(Debug, Clone)]
pub struct Assignment(v1::Assignment);

/// A closed loop of `items` requests (rounds × the round's requests) in
/// `mode` (the wire's number, so that a test can give one that does not
/// exist), no request in its round yet.
pub fn closed(run_id: &str, mode: i32, items: u64) -> Assignment {
    Assignment(v1::Assignment {
        run_id: run_id.into(),
        mode,
        schedule: Some(v1::assignment::Schedule::Closed(v1::ClosedLoop {
            items: vec![v1::Range {
                start: 0,
                end: items,
            }],
        })),
        ..Default::default()
    })
}

/// A GET of `url`, as a request of the round.
pub fn http(id: &str, url: &str) -> v1::Request {
    v1::Request {
        id: id.into(),
        kind: Some(v1::request::Kind::Http(v1::HttpRequest {
            url: url.into(),
            ..Default::default()
        })),
    }
}

/// `sql` against `database_url`, as a request of the round.
pub fn sql(id: &str, database_url: &str, sql: &str) -> v1::Request {
    v1::Request {
        id: id.into(),
        kind: Some(v1::request::Kind::Sql(v1::SqlQuery {
            database_url: database_url.into(),
            sql: sql.into(),
            ..Default::default()
        })),
    }
}

impl Assignment {
    /// Adds `request` to the round.
    pub fn request(mut self, request: v1::Request) -> Assignment {
        self.0.requests.push(request);
        self
    }

    pub fn concurrency(mut self, concurrency: u32) -> Assignment {
        self.0.concurrency = concurrency;
        self
    }

    pub fn timeout_ms(mut self, timeout_ms: u64) -> Assignment {
        self.0.timeout_ms = timeout_ms;
        self
    }

    /// Every start and end sent as it happens.
    pub fn live_events(mut self, live: bool) -> Assignment {
        self.0.live_events = live;
        self
    }

    /// Every request's record sent, not a sample.
    pub fn all_records(mut self, all: bool) -> Assignment {
        self.0.all_records = all;
        self
    }

    /// Anything else, on the wire message itself.
    pub fn with(mut self, change: impl FnOnce(&mut v1::Assignment)) -> Assignment {
        change(&mut self.0);
        self
    }

    pub fn build(self) -> v1::Assignment {
        self.0
    }
}
