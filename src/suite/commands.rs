//! The commands a run prints for the user to run next: the one that records a trial
//! again, in the record mode that records only what needs it and against what it was
//! recorded against, with what it costs as a shell comment; and the paths they name.

use std::path::PathBuf;

use super::Suite;
use crate::cassette::{RecordMode, RecordedAgainst};
use crate::scenario::Scenario;

/// Why a trial would be recorded again, which picks the record mode of the command
/// that does it, so that it records only what needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rerecord {
    /// Its recording is unfinished: `once` resumes it, paying nothing twice.
    Unfinished,
    /// Its journal holds no task and no unanswered create (the create was refused):
    /// `once` records it, and pays for it.
    Unstarted,
    /// Its request changed: `new_episodes` over the suite records it and every other
    /// changed scenario (its dependents too), replaying unchanged inputs.
    Changed,
    /// Its cassette cannot be read and is set aside: `once` records it afresh, and pays
    /// again for a task the unreadable file held.
    Afresh,
    /// Its recording is complete and current: `rewrite` records it and its inputs again
    /// (an input task Meshy no longer knows, an explicit re-record).
    Again,
    /// Its cassette is complete but its task's deliveries are lost (the webhook
    /// recording missing or unreadable): `once` resumes the task, and Meshy sends no
    /// webhook again, so its result comes from the API's task object
    /// (`--accept-api-payload`). The simulator records it again instead.
    Deliveries,
}

impl Suite {
    pub(super) fn cassette_path(&self, name: &str) -> PathBuf {
        self.settings
            .cassettes_dir
            .join("http")
            .join(format!("{name}.yaml"))
    }

    pub(super) fn webhooks_dir(&self) -> PathBuf {
        self.settings.cassettes_dir.join("webhooks")
    }

    /// What `--record-mode=rewrite` of `scenario` spends: its task and, recorded again
    /// first, its inputs'.
    pub(super) fn chain_cost(&self, scenario: &Scenario) -> String {
        let mut total = Some(0);
        let mut links = 0;
        let mut next = Some(scenario);
        while let Some(link) = next {
            links += 1;
            total = total.zip(self.price(link)).map(|(t, c)| t + c);
            next = link.input.as_ref().and_then(|i| self.scenarios.get(i));
            if links > self.scenarios.len() {
                break;
            }
        }
        match (total, links) {
            (Some(credits), 1) => format!("{credits} credits"),
            (Some(credits), n) => format!("{credits} credits for the chain of {n} tasks"),
            (None, _) => "unknown credits".to_owned(),
        }
    }

    /// The command that records one trial again, against what its cassette was
    /// recorded against, in the mode that records only what needs it (see [`Rerecord`]).
    pub(super) fn rerecord_command(
        &self,
        name: &str,
        why: Rerecord,
        against: &RecordedAgainst,
    ) -> String {
        let mode = match why {
            Rerecord::Unfinished
            | Rerecord::Unstarted
            | Rerecord::Afresh
            | Rerecord::Deliveries => RecordMode::Once,
            Rerecord::Changed => RecordMode::NewEpisodes,
            Rerecord::Again => RecordMode::Rewrite,
        };
        let mut flags = format!("--record-mode={mode}");
        if why == Rerecord::Deliveries && !against.is_simulator() {
            flags.push_str(" --accept-api-payload");
        }
        // A changed request: the whole suite under `new_episodes`, which records every
        // scenario whose request changed, dependents included, and replays the rest.
        let one = match why {
            Rerecord::Changed => None,
            _ => Some(name),
        };
        // What the command spends against the real API.
        let credits = |scenario: &Scenario| {
            self.price(scenario)
                .map_or("unknown credits".to_owned(), |n| format!("{n} credits"))
        };
        const CHANGED: &str =
            "every scenario whose request changed; the plan shows the cost before anything is sent";
        const DELIVERIES: &str = "resumes its task, 0 credits; its result from the API's task object, as its deliveries are gone";
        let cost = || match (why, self.scenarios.get(name)) {
            (Rerecord::Unfinished, _) => "resumes its task, 0 credits".to_owned(),
            (Rerecord::Deliveries, _) => DELIVERIES.to_owned(),
            (Rerecord::Unstarted, Some(scenario)) => {
                format!(
                    "its journal holds no task: records it, {}",
                    credits(scenario)
                )
            }
            (Rerecord::Changed, _) => CHANGED.to_owned(),
            (Rerecord::Again, Some(scenario)) => self.chain_cost(scenario),
            (Rerecord::Afresh, Some(scenario)) => format!(
                "{}; a task the unreadable file holds is not resumed but paid again",
                credits(scenario)
            ),
            (_, None) => "unknown credits".to_owned(),
        };
        self.settings
            .commands
            .record(one, &flags, against.aim(), cost)
    }

    /// What a recording this run makes is recorded against: the simulator it runs,
    /// else its base URL (Meshy's, or a rehearsal's).
    pub(super) fn run_against(&self) -> RecordedAgainst {
        match self.settings.target {
            super::Target::Sim => RecordedAgainst::Simulator,
            super::Target::Meshy => RecordedAgainst::of_base_url(
                self.env
                    .base_url
                    .as_deref()
                    .unwrap_or(crate::meshy::DEFAULT_BASE_URL),
            ),
        }
    }
}
