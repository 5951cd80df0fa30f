//! A report once its modes are in: made, its exemplars picked, its secrets
//! redacted, its thresholds judged, and the exit code it gives.

use super::{Exemplar, Exemplars, FORMAT, ModeReport, Report, RequestRecord, Targets};
use crate::spec::Spec;

impl Report {
    /// A report of `modes`, not traced.
    pub fn new(
        spec: Spec,
        targets: Targets,
        agents: Vec<String>,
        modes: Vec<ModeReport>,
        interrupted: bool,
    ) -> Report {
        Report {
            format: FORMAT.to_owned(),
            trace_id: None,
            trace_url: None,
            spec,
            targets,
            agents,
            modes,
            interrupted,
            requests_file: None,
            thresholds: Vec::new(),
        }
    }

    /// Every request ran and succeeded, and every agent delivered.
    pub fn ok(&self) -> bool {
        !self.interrupted
            && self
                .modes
                .iter()
                .all(|m| m.errors == 0 && m.failures.is_empty())
    }

    /// Picks each mode's exemplars among its traced records: the nearest
    /// to p50, p90 and p99, and the slowest (the records always keep the
    /// slowest, and each kept record is traced). Nothing when not traced.
    pub fn pick_exemplars(&mut self) {
        let Some(trace_id) = self.trace_id.clone() else {
            return;
        };
        for mode in &mut self.modes {
            let traced: Vec<(&RequestRecord, f64)> = mode
                .requests
                .iter()
                .filter(|r| r.span_id.is_some())
                .map(|r| (r, r.response_ms()))
                .collect();
            let exemplar = |(record, response_ms): (&RequestRecord, f64)| Exemplar {
                id: record.id.clone(),
                round: record.round,
                agent: record.agent.clone(),
                trace_id: trace_id.clone(),
                span_id: record.span_id.clone().unwrap_or_default(),
                response_ms,
            };
            let nearest = |target: f64| {
                traced
                    .iter()
                    .copied()
                    .min_by(|a, b| (a.1 - target).abs().total_cmp(&(b.1 - target).abs()))
                    .map(exemplar)
            };
            let exemplars = Exemplars {
                p50: nearest(mode.histogram.p50_ms),
                p90: nearest(mode.histogram.p90_ms),
                p99: nearest(mode.histogram.p99_ms),
                max: traced
                    .iter()
                    .copied()
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .map(exemplar),
            };
            mode.exemplars = (exemplars != Exemplars::default()).then_some(exemplars);
        }
    }

    /// The report with every secret value written `${NAME}`, in every
    /// string it holds (the saved spec, URLs, bodies, reasons): what all
    /// renderers are given. Read back through its JSON form; the in-memory
    /// histograms, used only to judge thresholds, are not kept.
    pub fn redacted(self, secrets: &crate::spec::variables::Secrets) -> Report {
        if secrets.is_empty() {
            return self;
        }
        let Ok(mut value) = serde_json::to_value(&self) else {
            return self;
        };
        secrets.redact_json(&mut value);
        let secrets_kept = self.spec.secrets.clone();
        match serde_json::from_value::<Report>(value) {
            Ok(mut redacted) => {
                redacted.spec.secrets = secrets_kept;
                redacted
            }
            Err(_) => self,
        }
    }

    /// Judges `thresholds` on every mode (replacing earlier verdicts).
    pub fn judge(&mut self, thresholds: &[crate::threshold::Threshold]) {
        self.thresholds = thresholds
            .iter()
            .flat_map(|t| self.modes.iter().map(|m| t.judge(m)))
            .collect();
    }

    /// The exit code of a finished run: with thresholds, 99 when one
    /// failed, else 1 only for a run that could not complete (an agent
    /// lost, requests that never ran); without, 1 when anything failed.
    pub fn exit_code(&self) -> u8 {
        if self.interrupted {
            return 130;
        }
        if !self.thresholds.is_empty() {
            if self.thresholds.iter().any(|v| !v.ok) {
                return 99;
            }
            let incomplete = self.modes.iter().any(|m| !m.failures.is_empty());
            return u8::from(incomplete);
        }
        u8::from(!self.ok())
    }
}
