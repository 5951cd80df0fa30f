//! What happened to one request, on the agent's side.

use bytes::Bytes;

/// The result of one request. A kind's client fills in what came back; the
/// runner stamps the index and the times. Times are microseconds on the
/// mode's time axis.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The request's place in the assignment.
    pub index: u64,
    /// Which request of the round it is, and of which round.
    pub request: usize,
    pub round: u64,
    /// When the schedule wanted it to start (= `start_us` in a closed loop).
    pub intended_us: u64,
    pub start_us: u64,
    pub end_us: u64,
    /// HTTP status; 0 when no response arrived, or for other kinds.
    pub status: u16,
    /// The reply: its size, and its start (made text only for the records
    /// that are sent).
    pub body: BodyPrefix,
    /// Rows a query returned.
    pub rows: u64,
    /// Why it failed; `None` when it succeeded.
    pub error: Option<String>,
    /// Its span id when it was sampled for tracing (its `traceparent` said
    /// so, and its span is exported after it).
    pub sampled: Option<opentelemetry::trace::SpanId>,
    /// The response's headers and body, kept only for a scenario step
    /// that reads them (extraction, a `contains` check, cookies).
    pub reply: Option<Box<Reply>>,
    /// A scenario's request: the number of the user that sent it.
    pub user: Option<u64>,
}

/// A response as a scenario step reads it.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub headers: http::HeaderMap,
    /// At most [`MAX_REPLY_BYTES`] of the body.
    pub body: Vec<u8>,
}

/// The most of a body a scenario step keeps to read.
pub const MAX_REPLY_BYTES: usize = 1 << 20;

impl Reply {
    /// The next chunk of the body, kept up to the limit.
    pub fn push(&mut self, chunk: &[u8]) {
        let room = MAX_REPLY_BYTES.saturating_sub(self.body.len());
        self.body.extend_from_slice(&chunk[..room.min(chunk.len())]);
    }
}

impl Outcome {
    /// A request that failed with `error`.
    pub fn failed(error: impl ToString) -> Outcome {
        Outcome {
            error: Some(error.to_string()),
            ..Outcome::default()
        }
    }

    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    pub fn as_finished(&self) -> loadlab_proto::tally::Finished<'_> {
        loadlab_proto::tally::Finished {
            intended_us: self.intended_us,
            start_us: self.start_us,
            end_us: self.end_us,
            error: self.error.as_deref(),
        }
    }
}

/// Longest reply text kept for the report, in characters.
pub const MAX_BODY_CHARS: usize = 200;

/// Bytes of a body kept to show its start (UTF-8 takes up to 4 a character).
const KEPT_BYTES: usize = MAX_BODY_CHARS * 4;

/// A response body as it streams in: its size, and only its start — held
/// as the first chunk itself when it is enough (no copy).
#[derive(Debug, Clone, Default)]
pub struct BodyPrefix {
    pub bytes: u64,
    kept: Bytes,
}

impl BodyPrefix {
    /// A body that is this text.
    pub fn text_of(text: String) -> BodyPrefix {
        BodyPrefix {
            bytes: text.len() as u64,
            kept: Bytes::from(text),
        }
    }

    /// The next chunk of a body that arrives as `Bytes`.
    pub fn push_bytes(&mut self, chunk: &Bytes) {
        if self.kept.is_empty() {
            self.bytes += chunk.len() as u64;
            self.kept = chunk.slice(..chunk.len().min(KEPT_BYTES));
        } else {
            self.push(chunk);
        }
    }

    /// The next chunk of a body.
    pub fn push(&mut self, chunk: &[u8]) {
        self.bytes += chunk.len() as u64;
        let room = KEPT_BYTES.saturating_sub(self.kept.len());
        if room > 0 && !chunk.is_empty() {
            let mut kept = Vec::with_capacity(self.kept.len() + room.min(chunk.len()));
            kept.extend_from_slice(&self.kept);
            kept.extend_from_slice(&chunk[..room.min(chunk.len())]);
            self.kept = Bytes::from(kept);
        }
    }

    /// The start of the body as text: at most [`MAX_BODY_CHARS`] characters,
    /// with `…` when there was more.
    pub fn text(&self) -> String {
        let text = String::from_utf8_lossy(&self.kept);
        let truncated = self.bytes > self.kept.len() as u64;
        match text.char_indices().nth(MAX_BODY_CHARS) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None if truncated => format!("{}…", text.trim_end_matches('\u{FFFD}')),
            None => text.into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_body_is_counted_whole_and_kept_short() {
        let mut body = BodyPrefix::default();
        for _ in 0..1_000 {
            body.push(&[b'x'; 10_000]);
        }
        assert_eq!(body.bytes, 10_000_000);
        let text = body.text();
        assert_eq!(text.chars().count(), MAX_BODY_CHARS + 1);
        assert!(text.ends_with('…'));
    }

    #[test]
    fn a_short_body_is_kept_as_is() {
        let mut body = BodyPrefix::default();
        body.push("Done, I waited for 2 secs".as_bytes());
        assert_eq!(body.text(), "Done, I waited for 2 secs");
    }
}
