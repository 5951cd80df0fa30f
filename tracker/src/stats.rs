//! What `GET /stats` reports about the process itself.

/// The process's threads and resident memory in MB, from /proc (Linux);
/// `None` elsewhere.
pub fn process() -> Option<(u64, f64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("Threads:")?, field("VmRSS:")? as f64 / 1024.0))
}
