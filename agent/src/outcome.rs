//! What executing a workload reports, request by request.

/// Something that happened to the request at `index` of the workload.
#[derive(Debug, Clone)]
pub enum Event {
    Started { index: usize, start_us: u64 },
    Finished(Outcome),
}

/// The result of one request. Times are microseconds since the workload
/// started on this agent.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub index: usize,
    pub start_us: u64,
    pub end_us: u64,
    /// HTTP status; 0 when no response arrived.
    pub status: u16,
    pub bytes: u64,
    /// The reply (truncated), shown in the report.
    pub body: String,
    /// Why it failed; `None` when it succeeded.
    pub error: Option<String>,
    pub rows: u64,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    pub fn latency_us(&self) -> u64 {
        self.end_us.saturating_sub(self.start_us)
    }
}

/// Longest reply text kept for the report.
pub const MAX_BODY_CHARS: usize = 200;

pub fn truncate_body(body: &str) -> String {
    match body.char_indices().nth(MAX_BODY_CHARS) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body.to_owned(),
    }
}
