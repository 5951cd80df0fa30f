//! Durations as every renderer writes them, from milliseconds: one unit
//! rule (seconds from a second, milliseconds below, microseconds where a
//! tenth of a millisecond would read as 0), at three lengths.

/// `17.004 s`, `250.3 ms`: seconds with millisecond precision above a
/// second, milliseconds below.
pub fn fmt_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.3} s", ms / 1e3)
    } else {
        format!("{ms:.1} ms")
    }
}

/// As [`fmt_ms`], but in µs below a tenth of a millisecond, where
/// `fmt_ms` would say 0.0 ms (a timeline column's span).
pub fn fmt_fine(ms: f64) -> String {
    if ms < 0.1 {
        format!("{:.0} µs", (ms * 1e3).max(1.0))
    } else {
        fmt_ms(ms)
    }
}

/// `0`, `250 ms`, `2.5 s`, `10 s`, `27 µs`: as short as an axis tick
/// allows (no trailing zeros).
pub fn fmt_short(ms: f64) -> String {
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    };
    match ms {
        0.0 => "0".to_owned(),
        ms if ms >= 1000.0 => format!("{} s", trim(format!("{:.3}", ms / 1e3))),
        ms if ms >= 1.0 => format!("{} ms", trim(format!("{ms:.1}"))),
        ms => format!("{} µs", trim(format!("{:.0}", ms * 1e3))),
    }
}
