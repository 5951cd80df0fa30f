//! An agent lost mid-mode: by the spec's policy, its unfinished requests
//! (closed loop) or its share of the rate (open loop) go to the agents
//! left, or the run stops.

use super::*;

impl ModeRun<'_> {
    /// Marks `key`'s running assignments lost and, by the spec's policy,
    /// hands their unfinished requests to the agents left or ends the run
    /// (returns true).
    pub(super) async fn agent_lost(
        &mut self,
        key: AgentKey,
        how: &str,
        agents: &[AgentHandle],
        observer: &mut dyn Observer,
    ) -> bool {
        let name = name_of(agents, key);
        self.lost.insert(key);
        let mut stop = false;
        let orphaned: Vec<usize> = (0..self.dispatches.len())
            .filter(|&i| {
                self.dispatches[i].agent == key && self.dispatches[i].state == State::Running
            })
            .collect();
        for i in orphaned {
            let d = &mut self.dispatches[i];
            d.state = State::Lost;
            d.span = Span::none();
            let delivered = d.delivered.len();
            let lost = if d.schedule.is_timed() {
                format!("agent {name} lost ({how}) after delivering {delivered} requests")
            } else {
                format!(
                    "agent {name} lost ({how}) after delivering {delivered} of its {} requests",
                    d.len()
                )
            };
            observer.note(&lost);
            let survivors: Vec<&AgentHandle> = agents
                .iter()
                .filter(|a| !self.lost.contains(&a.key))
                .collect();
            match (self.spec.on_agent_loss, &self.dispatches[i].schedule) {
                (AgentLoss::Fail, Schedule::Timed { .. }) => {
                    self.failures
                        .push(format!("{lost}; its users stopped (on_agent_loss: fail)"));
                    stop = true;
                }
                (AgentLoss::Fail, _) => {
                    let left = self.dispatches[i].unfinished().len();
                    self.failures
                        .push(format!("{lost}; {left} did not run (on_agent_loss: fail)"));
                    stop = true;
                }
                // Users for a time: the agents left go on to the end with
                // their own users; the lost one's are not restarted.
                (AgentLoss::Redistribute, Schedule::Timed { .. }) => {
                    self.notes.push(format!(
                        "{lost}; its users stopped, the others ran to the end"
                    ));
                }
                (AgentLoss::Redistribute, Schedule::Closed { .. }) => {
                    let d = &self.dispatches[i];
                    let unfinished = d.schedule.items_of(&d.unfinished());
                    let data_share = d.data_share;
                    self.take_over_items(&lost, unfinished, &survivors, observer, data_share)
                        .await;
                }
                (AgentLoss::Redistribute, Schedule::Open(open)) => {
                    let open = open.clone();
                    self.take_over_rate(i, &lost, open, &survivors, observer)
                        .await;
                }
            }
        }
        stop
    }

    /// A lost agent's unfinished closed-loop requests, handed to the agents
    /// left in equal pieces.
    async fn take_over_items(
        &mut self,
        lost: &str,
        unfinished: RangeSet,
        survivors: &[&AgentHandle],
        observer: &mut dyn Observer,
        data_share: (u64, u64),
    ) {
        let left = unfinished.len();
        if left == 0 {
            self.notes.push(lost.to_owned());
            return;
        }
        if survivors.is_empty() {
            self.failures.push(format!(
                "{lost}; no agent is left to take over its {left} unfinished requests"
            ));
            return;
        }
        let mut takers = Vec::new();
        for (agent, piece) in survivors.iter().zip(unfinished.split(survivors.len())) {
            if piece.is_empty() {
                continue;
            }
            let count = piece.len();
            if self
                .dispatch(agent, Schedule::Closed { items: piece }, true, data_share)
                .await
            {
                takers.push(agent.name.clone());
            } else {
                self.failures.push(format!(
                    "{lost}; agent {} was to take over {count} of them but is gone too",
                    agent.name,
                ));
                let last = self.dispatches.len() - 1;
                self.dispatches[last].state = State::Lost;
            }
        }
        let note = format!(
            "{lost}; its {left} unfinished requests went to {}",
            takers.join(", ")
        );
        observer.note(&note);
        self.notes.push(note);
    }

    /// A lost agent's share of an open loop's rate, taken over from now by
    /// the agents left. Its requests due meanwhile (since its last report)
    /// were not run: they are counted, and the dip is said.
    async fn take_over_rate(
        &mut self,
        index: usize,
        lost: &str,
        open: OpenLoop,
        survivors: &[&AgentHandle],
        observer: &mut dyn Observer,
    ) {
        let now = self.now();
        let d = &self.dispatches[index];
        // The lost assignment's own clock started at its `from`.
        let until = now.saturating_sub(open.from);
        let due = open.due_before(until) * d.per_item as u64;
        let missing = RangeSet::of(0..due).difference(&d.delivered).len();
        self.unreported += missing;
        let last_heard = Duration::from_micros(d.tally.last_end_us);
        let dip = now.saturating_sub(last_heard);
        let rate = open.rate();
        let end = open.profile.duration();
        if survivors.is_empty() || now >= end {
            let note = format!(
                "{lost}; {missing} requests due by then were not run, and nobody took over \
                 its {rate:.1} rounds/s"
            );
            observer.note(&note);
            self.failures.push(note);
            return;
        }
        let mut takers = Vec::new();
        let count = survivors.len() as u64;
        for (m, agent) in survivors.iter().enumerate() {
            let takeover = OpenLoop::new(
                open.profile.clone(),
                open.arrival,
                self.seed
                    .wrapping_add(open.share + (m as u64 + 1) * open.shares * 1_000),
                open.share + m as u64 * open.shares,
                open.shares * count,
                now,
            );
            let data_share = self.dispatches[index].data_share;
            if self
                .dispatch(agent, Schedule::Open(takeover), true, data_share)
                .await
            {
                takers.push(agent.name.clone());
            } else {
                let last = self.dispatches.len() - 1;
                self.dispatches[last].state = State::Lost;
            }
        }
        let note = format!(
            "{lost}; the rate dipped by {rate:.1} rounds/s for {:.2} s, until {} took over its \
             share at {:.2} s; {missing} requests due meanwhile or in flight were not run",
            dip.as_secs_f64(),
            takers.join(", "),
            now.as_secs_f64(),
        );
        observer.note(&note);
        self.notes.push(note);
    }
}
