//! What the terminal shows while an experiment runs: the request lines of the
//! original demonstration for small runs, a progress bar for load runs.

use console::style;
use indicatif::{ProgressBar, ProgressStyle};
use loadlab_agent::Mode;

use crate::report::{ModeReport, RequestRecord, render_mode_footer};

/// Prints as things happen, on stdout (the bar goes to stderr and only when
/// it is a terminal).
pub struct Live {
    /// Prefix request lines with the agent's name.
    pub show_agent: bool,
    /// Print nothing while running (the summary still prints).
    pub quiet: bool,
    bar: Option<ProgressBar>,
}

impl Live {
    pub fn new(show_agent: bool, quiet: bool) -> Live {
        Live {
            show_agent,
            quiet,
            bar: None,
        }
    }

    fn line(&self, text: String) {
        if self.quiet {
            return;
        }
        match &self.bar {
            Some(bar) => bar.println(text),
            None => println!("{text}"),
        }
    }

    fn prefix(&self, agent: &str) -> String {
        if self.show_agent {
            format!("[{agent}] ")
        } else {
            String::new()
        }
    }

    pub fn mode_started(&mut self, mode: Mode, total: u64, live_events: bool) {
        self.line(format!(
            "{} — {}",
            style(mode).cyan().bold(),
            mode.describe()
        ));
        self.line("==========".to_owned());
        if !live_events && !self.quiet {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {elapsed_precise} [{bar:40}] {pos}/{len} requests  {per_sec}  eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            self.line(format!("running {total} requests…"));
            self.bar = Some(bar);
        }
    }

    /// `R1: Requesting 'url'` or `R1: Querying 'sql'`.
    pub fn request_started(&self, agent: &str, id: &str, verb: &str, what: &str) {
        self.line(format!("{}{id}: {verb} '{what}'", self.prefix(agent)));
    }

    pub fn request_finished(&self, record: &RequestRecord) {
        let prefix = self.prefix(&record.agent);
        let id = &record.id;
        match &record.error {
            None if record.rows > 0 || record.status == 0 => self.line(format!(
                "{prefix}{id}: Query made! Db replied '{}' rows",
                record.rows
            )),
            None => self.line(format!(
                "{prefix}{id}: Request done! Server replied '{}'",
                record.body
            )),
            Some(error) => self.line(format!(
                "{prefix}{id}: {} {error}",
                style("Request failed!").red().bold()
            )),
        }
    }

    pub fn progress(&self, completed: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(completed);
        }
    }

    pub fn mode_finished(&mut self, mode: &ModeReport) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if !self.quiet {
            print!("{}", render_mode_footer(mode));
        }
    }

    pub fn note(&self, text: &str) {
        self.line(format!("{}", style(text).yellow()));
    }
}
