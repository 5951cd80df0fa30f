//! What the terminal shows while an experiment runs: the request lines of the
//! original demonstration for small runs, a progress bar for load runs.

use console::style;
use indicatif::{ProgressBar, ProgressStyle};
use loadlab_proto::Mode;

use crate::observer::Observer;
use crate::report::text::mode_footer;
use crate::report::{ModeReport, RequestRecord};
use crate::round::Entry;
use crate::spec::variables::Secrets;

/// Prints as things happen, on stdout (the bar goes to stderr and only when
/// it is a terminal).
pub struct Live {
    /// Prefix request lines with the agent's name.
    show_agent: bool,
    /// Print nothing while running (the summary still prints).
    quiet: bool,
    bar: Option<ProgressBar>,
    /// Secret values, written `${NAME}` in every line.
    secrets: Secrets,
    /// Lines go to stderr (stdout carries the JSON).
    on_stderr: bool,
}

impl Live {
    pub fn new(show_agent: bool, quiet: bool, on_stderr: bool, secrets: Secrets) -> Live {
        Live {
            show_agent,
            quiet,
            on_stderr,
            bar: None,
            secrets,
        }
    }

    fn line(&self, text: String) {
        if self.quiet {
            return;
        }
        let text = self.secrets.redact(&text);
        match &self.bar {
            Some(bar) => bar.println(text),
            None if self.on_stderr => eprintln!("{text}"),
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
}

impl Observer for Live {
    fn mode_started(&mut self, mode: Mode, total: u64, live: bool) {
        self.line(format!(
            "{} — {}",
            style(mode).cyan().bold(),
            mode.describe()
        ));
        self.line("==========".to_owned());
        if !live && !self.quiet {
            // Unknown beforehand (users for a time): a count, not a bar.
            let (bar, template) = if total == 0 {
                (
                    ProgressBar::no_length(),
                    "{spinner} {elapsed_precise} {pos} requests  {per_sec}  {msg}",
                )
            } else {
                (
                    ProgressBar::new(total),
                    "{spinner} {elapsed_precise} [{bar:40}] {pos}/{len} requests  {per_sec}  {msg}  eta {eta}",
                )
            };
            bar.set_style(
                ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            if total > 0 {
                self.line(format!("running {total} requests…"));
            } else {
                self.line("running until the time is up…".to_owned());
            }
            self.bar = Some(bar);
        }
    }

    /// `R1: Requesting 'url'` or `R1: Querying 'sql'`.
    fn request_started(&mut self, agent: &str, entry: &Entry) {
        let verb = entry.about.started;
        self.line(format!(
            "{}{}: {verb} '{}'",
            self.prefix(agent),
            entry.id,
            entry.what
        ));
    }

    fn request_finished(&mut self, entry: &Entry, record: &RequestRecord) {
        let prefix = self.prefix(&record.agent);
        let id = &record.id;
        match &record.error {
            None => self.line(format!("{prefix}{id}: {}", (entry.about.done)(record))),
            Some(error) => self.line(format!(
                "{prefix}{id}: {} {error}",
                style("Request failed!").red().bold()
            )),
        }
    }

    fn progress(&mut self, completed: u64, errors: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(completed);
            if errors > 0 {
                bar.set_message(format!("{errors} failed"));
            }
        }
    }

    fn mode_finished(&mut self, report: &ModeReport) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if !self.quiet {
            let footer = self.secrets.redact(&mode_footer(report));
            if self.on_stderr {
                eprint!("{footer}");
            } else {
                print!("{footer}");
            }
        }
    }

    fn note(&mut self, text: &str) {
        self.line(format!("{}", style(text).yellow()));
    }
}
