//! Thresholds: the gate a run must pass, judged per mode on the merged
//! figures of every agent after the run. `p99 < 250ms`, `errors < 1%`,
//! `rps > 500`. Any threshold failed exits 99 (as k6 does); with
//! thresholds set, they alone decide the exit code of a finished run.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use loadlab_proto::histogram::LatencyHistogram;

use crate::report::{LatencySummary, ModeReport, PercentilePoint};

/// The forms a threshold takes, for messages.
pub const FORMS: &str = "`p50|p90|p95|p99|p99.9|p(N)|max|mean <|<=|>|>= DURATION` (e.g. `p99 < 250ms`, \
     `p(99.9) < 1s`), \
     `errors <|<=|>|>= PERCENT` (e.g. `errors < 1%`) or `rps <|<=|>|>= NUMBER` (e.g. `rps > 500`)";

/// One threshold, as written and as understood.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub expr: String,
    /// `Slow: p99 < 120ms` names request `Slow`: judged on its figures
    /// alone. `None`: on the mode's.
    pub request: Option<String>,
    metric: Metric,
    op: Op,
    /// Milliseconds for latencies (whole µs, as they are measured), a
    /// percentage for errors, per second for rps.
    limit: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Metric {
    /// The response time below which this percent of requests ended
    /// (above 0, at most 100).
    Percentile(f64),
    Max,
    Mean,
    Errors,
    Rps,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Op::Lt => value < limit,
            Op::Le => value <= limit,
            Op::Gt => value > limit,
            Op::Ge => value >= limit,
        }
    }
}

impl FromStr for Threshold {
    type Err = String;

    fn from_str(text: &str) -> Result<Threshold, String> {
        let bad = |why: &str| format!("threshold {text:?}: {why}; write {FORMS}");
        let expr = text.trim();
        // `ID: ...` before the measure names one request.
        let (request, expr_of_measure) = match expr.split_once(':') {
            Some((id, rest)) if !id.contains(['<', '>']) => {
                let id = id.trim();
                if id.is_empty() || id.contains(char::is_whitespace) {
                    return Err(bad(&format!(
                        "{id:?} is not a request id (write `ID: p99 < 250ms`)"
                    )));
                }
                (Some(id.to_owned()), rest.trim())
            }
            _ => (None, expr),
        };
        let parsed = measure(expr_of_measure).map_err(|why| bad(&why))?;
        Ok(Threshold {
            expr: expr.to_owned(),
            request,
            ..parsed
        })
    }
}

/// The measure, comparison and limit of a threshold (`p99 < 250ms`), or
/// why not.
fn measure(expr: &str) -> Result<Threshold, String> {
    {
        let bad = |why: &str| why.to_owned();
        let split = expr
            .find(['<', '>'])
            .ok_or_else(|| bad("no comparison (<, <=, >, >=)"))?;
        let (name, rest) = expr.split_at(split);
        let comparison = || {
            let start = name
                .trim_end_matches(|c: char| c == '=' || c == '!' || c.is_whitespace())
                .len();
            let written: String = expr[start..]
                .chars()
                .take_while(|c| matches!(c, '<' | '>' | '=' | '!') || c.is_whitespace())
                .collect();
            let written = written.trim();
            let spaced = written.contains(char::is_whitespace);
            bad(&format!(
                "{written:?} is not a comparison: use <, <=, > or >={}",
                if spaced { ", with no space inside" } else { "" }
            ))
        };
        if name.trim_end().ends_with(['=', '!', '<', '>']) {
            return Err(comparison());
        }
        let (op, value) = if let Some(v) = rest.strip_prefix("<=") {
            (Op::Le, v)
        } else if let Some(v) = rest.strip_prefix(">=") {
            (Op::Ge, v)
        } else if let Some(v) = rest.strip_prefix('<') {
            (Op::Lt, v)
        } else if let Some(v) = rest.strip_prefix('>') {
            (Op::Gt, v)
        } else {
            return Err(bad("no comparison (<, <=, >, >=)"));
        };
        let metric = match name.trim() {
            // p999 as wave 2 wrote it: the 99.9th, not the 999th.
            "p999" => Metric::Percentile(99.9),
            p if p.starts_with('p') && percentile(p).is_some() => {
                Metric::Percentile(percentile(p).unwrap_or_default())
            }
            "max" => Metric::Max,
            "mean" => Metric::Mean,
            "errors" => Metric::Errors,
            "rps" => Metric::Rps,
            other => return Err(bad(&format!("unknown measure {other:?}"))),
        };
        let value = value.trim();
        if value.starts_with(['<', '>', '=', '!']) {
            return Err(comparison());
        }
        let limit = match metric {
            Metric::Errors => {
                let percent = value
                    .strip_suffix('%')
                    .and_then(|n| n.trim().parse::<f64>().ok())
                    .filter(|p| p.is_finite() && (0.0..=100.0).contains(p))
                    .ok_or_else(|| {
                        bad(&format!("{value:?} is not a percentage from 0% to 100%"))
                    })?;
                // Kept in percent, as the share is measured: 0.7% is then
                // exactly 7 failures in 1,000 (0.7 / 100 is not 7 / 1,000).
                percent
            }
            Metric::Rps => value
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite() && *n >= 0.0)
                .ok_or_else(|| bad(&format!("{value:?} is not a number of requests per second")))?,
            _ => duration_ms(value).ok_or_else(|| {
                bad(&format!(
                    "{value:?} is not a duration like 250ms, 1.5s, 800us or 1m"
                ))
            })?,
        };
        Ok(Threshold {
            expr: expr.to_owned(),
            request: None,
            metric,
            op,
            limit,
        })
    }
}

/// The percent of `p95`, `p99.9` or `p(99.9)`: above 0, at most 100.
fn percentile(name: &str) -> Option<f64> {
    let number = name.strip_prefix('p')?;
    let number = number
        .strip_prefix('(')
        .and_then(|n| n.strip_suffix(')'))
        .unwrap_or(number);
    if !number.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    number
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|p| *p > 0.0 && *p <= 100.0)
}

/// `250ms`, `1.5s`, `800us`, `1m` in milliseconds: the spec's grammar
/// ([`crate::spec::parse_duration`]), in whole microseconds as latencies
/// are measured (1.001s is 1001 ms exactly).
fn duration_ms(text: &str) -> Option<f64> {
    let duration = crate::spec::parse_duration(text).ok()?;
    Some((duration.as_nanos() as f64 / 1e3).round() / 1e3)
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

impl Serialize for Threshold {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.expr)
    }
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Parsed inside the visitor, so that an error carries the
        // position of the threshold itself.
        struct ThresholdVisitor;
        impl serde::de::Visitor<'_> for ThresholdVisitor {
            type Value = Threshold;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a threshold: {FORMS}")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Threshold, E> {
                text.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(ThresholdVisitor)
    }
}

/// A threshold judged on one mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub expr: String,
    pub mode: String,
    /// What was measured, in the threshold's unit (ms, % or per second).
    pub value: f64,
    pub ok: bool,
}

impl Threshold {
    /// Judges the threshold on a mode's merged figures.
    pub fn judge(&self, mode: &ModeReport) -> Verdict {
        let measured = match &self.request {
            None => self.measure(Figures {
                summary: &mode.histogram,
                histogram: mode.response.as_ref(),
                curve: &mode.percentiles,
                failed: mode.errors + mode.not_started,
                all: mode.histogram.count + mode.not_started,
                rps: mode.achieved_rate,
            }),
            Some(id) => mode.by_request.get(id).map_or(
                // Not one request of it ran in this mode: nothing was
                // measured, which no limit but `errors`/`rps` of 0 passes.
                match self.metric {
                    Metric::Errors | Metric::Rps => 0.0,
                    _ => f64::NAN,
                },
                |r| {
                    self.measure(Figures {
                        summary: &r.histogram,
                        histogram: r.response.as_ref(),
                        curve: &r.percentiles,
                        failed: r.errors,
                        all: r.count,
                        rps: r.rps,
                    })
                },
            ),
        };
        let ok = self.op.holds(measured, self.limit);
        Verdict {
            expr: self.expr.clone(),
            mode: mode.mode.to_string(),
            value: measured,
            ok,
        }
    }
}

/// What a threshold is judged on: a mode's figures or one request's.
struct Figures<'a> {
    summary: &'a LatencySummary,
    histogram: Option<&'a LatencyHistogram>,
    curve: &'a [PercentilePoint],
    failed: u64,
    all: u64,
    rps: f64,
}

impl Threshold {
    /// The threshold's measure of `f`, in its unit.
    fn measure(&self, f: Figures<'_>) -> f64 {
        match self.metric {
            Metric::Percentile(p) => percentile_ms(&f, p),
            Metric::Max => f.summary.max_ms,
            Metric::Mean => f.summary.mean_ms,
            Metric::Errors if f.all == 0 => 0.0,
            Metric::Errors => f.failed as f64 * 100.0 / f.all as f64,
            Metric::Rps => f.rps,
        }
    }
}

/// The response time at percentile `p`: from the merged histogram while
/// the run is in memory, else from the summary's or the curve's own points
/// (a saved report), the nearest at or above `p`.
fn percentile_ms(f: &Figures<'_>, p: f64) -> f64 {
    if let Some(h) = f.histogram {
        return h.value_at_quantile(p / 100.0) as f64 / 1e3;
    }
    let s = f.summary;
    let known = [
        (50.0, s.p50_ms),
        (90.0, s.p90_ms),
        (95.0, s.p95_ms),
        (99.0, s.p99_ms),
        (99.9, s.p999_ms),
        (100.0, s.max_ms),
    ];
    known
        .into_iter()
        .chain(f.curve.iter().map(|c| (c.percentile, c.ms)))
        .filter(|(at, _)| *at >= p)
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map_or(s.max_ms, |(_, ms)| ms)
}

impl Verdict {
    /// What was measured, as the report shows it: a duration, a share of
    /// requests, or a rate — as the threshold was written, with digits
    /// enough that the value shown is on the side of the limit the verdict
    /// says (35.02 ms for `p99 <= 35ms`, not 35.0 ms beside a ✗), and not
    /// 0 when something was measured.
    pub fn measured(&self) -> String {
        let threshold = self.expr.parse::<Threshold>().ok();
        // Decimals, the unit's size in the threshold's unit, and its name.
        let (decimals, unit, suffix) = match threshold.as_ref().map(|t| t.metric) {
            Some(Metric::Errors) => (2, 1.0, "%"),
            Some(Metric::Rps) => (1, 1.0, "/s"),
            _ if self.value >= 1000.0 => (3, 1e3, " s"),
            _ => (1, 1.0, " ms"),
        };
        // The value at `extra` more decimals, as text and as the number
        // shown (in the threshold's own unit).
        let shown = |extra: usize| -> (String, f64) {
            let text = format!("{:.*}", decimals + extra, self.value / unit);
            let back = text.parse::<f64>().map_or(self.value, |n| n * unit);
            (format!("{text}{suffix}"), back)
        };
        let faithful = |back: f64| {
            let side = threshold
                .as_ref()
                .is_none_or(|t| t.op.holds(back, t.limit) == self.ok);
            side && (back != 0.0 || self.value == 0.0)
        };
        (0..4)
            .map(shown)
            .find(|(_, back)| faithful(*back))
            .unwrap_or_else(|| shown(4))
            .0
    }
}

#[cfg(test)]
mod tests;
