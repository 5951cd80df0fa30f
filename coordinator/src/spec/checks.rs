//! The checks that span several fields of a spec, run once it is read:
//! each error names the field to point at.

use super::Spec;

impl Spec {
    /// `delay_server` configures the embedded one: only without an HTTP
    /// target, and with hiccups that leave time to answer.
    pub(super) fn check_delay_server(&self) -> Result<(), (&'static str, String)> {
        let Some(server) = &self.delay_server else {
            return Ok(());
        };
        if self.target.http.is_some() {
            return Err((
                "delay_server",
                "`delay_server` sets up the embedded delay server, which runs only when there is \
                 no `target`; start your own with `delay-server --hiccup-every .. --hiccup-for ..`"
                    .into(),
            ));
        }
        delay_server::hiccup::Hiccups::new(server.hiccup_every.0, server.hiccup_for.0)
            .map(|_| ())
            .map_err(|e| {
                let e = e
                    .replace("--hiccup-for", "hiccup_for")
                    .replace("--hiccup-every", "hiccup_every");
                ("delay_server", e)
            })
    }

    /// The closed-loop and open-loop fields go together as they should;
    /// the error names the field to point at.
    pub(super) fn check_load(&self) -> Result<(), (&'static str, String)> {
        if let Some(track) = &self.track {
            if !self.requests.is_empty() || !self.queries.is_empty() {
                return Err((
                    "track",
                    "`track` runs alone: put `requests` and `queries` in another spec".into(),
                ));
            }
            if self.rate.is_some()
                || self.duration.is_some()
                || self.stages.is_some()
                || self.repeat.is_some()
                || self.users.is_some()
            {
                return Err((
                    "track",
                    "`track` has its own pace (`updates` per order for `duration`): drop `rate`, \
                     `duration`, `stages`, `repeat` and `users`"
                        .into(),
                ));
            }
            if track.updates.0 <= 0.0 || track.duration.0.is_zero() {
                return Err((
                    "track",
                    "`track` needs `updates` and `duration` above 0, e.g. updates: 1/s, duration: 20s".into(),
                ));
            }
            if self.agents.count.get() > track.customers.get() {
                return Err((
                    "track",
                    format!(
                        "{} customers cannot be split between {} agents: give at least one customer per agent",
                        track.customers, self.agents.count
                    ),
                ));
            }
            return Ok(());
        }
        let open = "open loop: give `rate` with `duration`, or `stages`";
        if self.users.is_some() {
            let other = [
                ("repeat", self.repeat.is_some()),
                ("rate", self.rate.is_some()),
                ("stages", self.stages.is_some()),
                ("arrival", self.arrival.is_some()),
                ("concurrency", self.concurrency > 0),
            ]
            .into_iter()
            .find(|(_, given)| *given);
            return match (other, &self.duration) {
                (Some((field, _)), _) => Err((
                    "users",
                    format!(
                        "`users` (a closed loop for a time: N users for `duration`) and `{field}` \
                         exclude each other: give one"
                    ),
                )),
                (None, None) => Err((
                    "users",
                    "`users` needs `duration`: how long the users keep going, e.g. duration: 30s"
                        .into(),
                )),
                (None, Some(d)) if d.0.is_zero() => {
                    Err(("duration", "`duration` must be more than 0".into()))
                }
                (None, Some(_)) => Ok(()),
            };
        }
        match (&self.rate, &self.duration, &self.stages) {
            (Some(_), _, _) if self.repeat.is_some() => Err((
                "rate",
                "`rate` (open loop) and `repeat` (closed loop) exclude each other: give one".into(),
            )),
            (Some(_), _, Some(_)) => Err((
                "stages",
                "`stages` replace `rate` and `duration`: give one or the other".into(),
            )),
            (Some(_), None, None) => Err((
                "rate",
                "`rate` needs `duration`: how long rounds keep arriving, e.g. duration: 30s".into(),
            )),
            (None, Some(_), _) => Err((
                "duration",
                format!(
                    "`duration` goes with `rate` ({open}) or with `users` (a closed loop for a time)"
                ),
            )),
            (_, Some(d), _) if d.0.is_zero() => {
                Err(("duration", "`duration` must be more than 0".into()))
            }
            (None, None, Some(_)) if self.repeat.is_some() => Err((
                "stages",
                "`stages` (open loop) and `repeat` (closed loop) exclude each other: give one"
                    .into(),
            )),
            (None, None, Some(stages)) if stages.iter().any(|s| s.duration.0.is_zero()) => {
                Err(("stages", "every stage's `for` must be more than 0".into()))
            }
            (None, None, None) if self.arrival.is_some() => {
                Err(("arrival", format!("`arrival` is for open loops ({open})")))
            }
            _ => Ok(()),
        }
    }
}
