//! The run's figures to Prometheus by remote write (`--prometheus-rw URL`),
//! for Grafana: as each mode ends, one sample per second of it, per mode
//! and per request id — requests and errors so far (counters), and that
//! second's p50, p99 and slowest response (gauges, seconds) — labelled with
//! the experiment's name, the run and the mode.
//!
//! The wire format is Prometheus' remote write 1.0: a protobuf
//! `WriteRequest`, snappy-compressed (block format), POSTed with
//! `Content-Encoding: snappy` and `X-Prometheus-Remote-Write-Version: 0.1.0`.

use std::time::Duration;

use prost::Message;

use crate::observer::Observer;
use crate::report::model::{IntervalSummary, ModeReport};
use loadlab_proto::Mode;

/// `prometheus.WriteRequest`, the fields remote write 1.0 needs.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// The labels every series of a run carries.
#[derive(Debug, Clone)]
pub struct RunLabels {
    /// The spec's `name`.
    pub experiment: String,
    /// This run: the trace id when there is one, else the start time.
    pub run: String,
}

/// The series of one mode, from its per-second figures: `base_ms` is the
/// Unix time (ms) of the mode's second 0; `request` is None for the whole
/// mode. Call it when the mode has ended.
pub fn series(
    labels: &RunLabels,
    mode: Mode,
    request: Option<&str>,
    seconds: &[IntervalSummary],
    base_ms: i64,
) -> Vec<TimeSeries> {
    let label = |metric: &str, extra: Option<(&str, &str)>| {
        let mut list = vec![
            Label {
                name: "__name__".into(),
                value: metric.into(),
            },
            Label {
                name: "experiment".into(),
                value: labels.experiment.clone(),
            },
            Label {
                name: "mode".into(),
                value: mode.to_string(),
            },
        ];
        if let Some((name, value)) = extra {
            list.push(Label {
                name: name.into(),
                value: value.into(),
            });
        }
        if let Some(id) = request {
            list.push(Label {
                name: "request".into(),
                value: id.into(),
            });
        }
        list.push(Label {
            name: "run".into(),
            value: labels.run.clone(),
        });
        // Remote write wants labels sorted by name.
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    };
    // Each second's sample is stamped at its end, but never later than now
    // (the mode's last second ends when it did, and a sample from the
    // future would hide from queries until then), always after the one
    // before.
    let now = now_ms();
    let mut last = i64::MIN;
    let mut at = |second: u32| {
        let end = (base_ms + (i64::from(second) + 1) * 1000).min(now);
        last = end.max(last.saturating_add(1));
        last
    };
    let mut requests = Vec::with_capacity(seconds.len());
    let mut errors = Vec::with_capacity(seconds.len());
    let (mut total, mut failed) = (0u64, 0u64);
    let mut quantiles: [Vec<Sample>; 3] = Default::default();
    for s in seconds {
        total += s.count;
        failed += s.errors;
        let timestamp = at(s.second);
        requests.push(Sample {
            value: total as f64,
            timestamp,
        });
        errors.push(Sample {
            value: failed as f64,
            timestamp,
        });
        for (i, ms) in [s.p50_ms, s.p99_ms, s.max_ms].into_iter().enumerate() {
            if s.count > 0 {
                quantiles[i].push(Sample {
                    value: ms / 1000.0,
                    timestamp,
                });
            }
        }
    }
    let mut out = vec![
        TimeSeries {
            labels: label("loadlab_requests_total", None),
            samples: requests,
        },
        TimeSeries {
            labels: label("loadlab_errors_total", None),
            samples: errors,
        },
    ];
    for (quantile, samples) in ["0.5", "0.99", "1"].into_iter().zip(quantiles) {
        out.push(TimeSeries {
            labels: label("loadlab_response_seconds", Some(("quantile", quantile))),
            samples,
        });
    }
    out.retain(|s| !s.samples.is_empty());
    out
}

/// The body of a remote write: the request, protobuf-encoded, snappy
/// block-compressed.
pub fn encode(request: &WriteRequest) -> Vec<u8> {
    let raw = request.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("snappy compresses any buffer")
}

/// Sends a mode's series as it ends; failures are reported once per mode
/// on stderr and in [`RemoteWrite::problems`], and never stop the run.
pub struct RemoteWrite {
    url: String,
    labels: RunLabels,
    mode_started_ms: i64,
    sent: Vec<std::thread::JoinHandle<Result<(), String>>>,
}

impl RemoteWrite {
    pub fn new(url: String, labels: RunLabels) -> RemoteWrite {
        RemoteWrite {
            url,
            labels,
            mode_started_ms: now_ms(),
            sent: Vec::new(),
        }
    }

    /// Waits for every write (each bounded by a 10 s timeout); returns
    /// what failed.
    pub fn finish(self) -> Vec<String> {
        self.sent
            .into_iter()
            .filter_map(|handle| match handle.join() {
                Ok(result) => result.err(),
                Err(_) => Some("a remote write panicked".into()),
            })
            .collect()
    }
}

impl Observer for RemoteWrite {
    fn mode_started(&mut self, _mode: Mode, _total: u64, _live: bool) {
        self.mode_started_ms = now_ms();
    }

    fn mode_finished(&mut self, report: &ModeReport) {
        let mut timeseries = series(
            &self.labels,
            report.mode,
            None,
            &report.intervals,
            self.mode_started_ms,
        );
        for (id, figures) in &report.by_request {
            timeseries.extend(series(
                &self.labels,
                report.mode,
                Some(id),
                &figures.intervals,
                self.mode_started_ms,
            ));
        }
        let body = encode(&WriteRequest { timeseries });
        let url = self.url.clone();
        let mode = report.mode;
        self.sent.push(std::thread::spawn(move || {
            post(&url, body).map_err(|e| format!("--prometheus-rw {url}: {mode}: {e}"))
        }));
    }
}

fn post(url: &str, body: Vec<u8>) -> Result<(), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent
        .post(url)
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .header("User-Agent", concat!("loadlab/", env!("CARGO_PKG_VERSION")))
        .send(&body[..])
        .map_err(|e| e.to_string())?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.into_body().read_to_string().unwrap_or_default();
    Err(format!("HTTP {status}: {}", text.trim()))
}

fn now_ms() -> i64 {
    loadlab_proto::unix::now_ms() as i64
}
