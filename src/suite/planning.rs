//! A trial's plan: what its files say and what the record mode makes of them, decided
//! once before it runs ([`Suite::plan`], with `resume::inspect` and `resume::decide`),
//! made again under the run's recording lock when it records ([`Suite::replan_locked`]);
//! then the recording context ([`Suite::live`], started on first use) and the create
//! calls that may have reached Meshy reconciled ([`Suite::prepare`]). The run's plan
//! printed before recording against the real API is `plan`'s.

use std::path::Path;
use std::sync::Arc;

use super::commands::Rerecord;
use super::live::{Live, Recording};
use super::{LiveState, Suite, Target, TrialError, resume};
use crate::cassette::{CassetteFile, RecordMode, RecordedAgainst, recorded_task_id};
use crate::meshy::TaskRequest;
use crate::scenario::{Delivery, Scenario};
use crate::sync::lock;
use crate::webhooks::{RecordingReads, recording_path};

/// What a trial's files say and what it does with them, decided once before it runs.
pub(super) struct Plan {
    pub(super) action: resume::Action,
    /// The command that records this trial again, right for how it was recorded.
    pub(super) rerecord: String,
    /// The cassette a replay reads, as the plan read it: the trial's cassette transport
    /// opens it without reading it again. `None` for a trial that records: it reads its
    /// journal when opening, under the run's recording lock.
    pub(super) file: Option<CassetteFile>,
    /// The replayed cassette's text, when a report job runs beside the replay to hand it
    /// to (for `cassettes check`'s secret scan).
    pub(super) text: Option<String>,
    /// The webhook recordings the plan read: the trial's replay reads them from here,
    /// then the report.
    pub(super) reads: RecordingReads,
}

impl Plan {
    /// Whether the trial sends anything live (records or resumes).
    pub(super) fn records(&self) -> bool {
        matches!(
            self.action,
            resume::Action::Record { .. } | resume::Action::Resume { .. }
        )
    }
}

impl Suite {
    /// What the trial's files say, and what the record mode makes of it
    /// ([`resume::decide`]). `scenario` is `None` for a trial written in Rust.
    pub(super) fn plan(&self, name: &str, scenario: Option<(&Scenario, &TaskRequest)>) -> Plan {
        let main = self.cassette_path(name);
        let side = resume::side_path(&main);
        let webhooks = self.webhooks_dir();
        // Each file is read once; a re-recording that completed but was not swapped
        // in (a crash in between) becomes the cassette.
        let records = self.settings.record_mode != RecordMode::None && !self.settings.dry_run;
        let mut side_file = CassetteFile::read(&side);
        let promote = records
            && side_file
                .cassette()
                .is_some_and(|c| !c.incomplete && c.pending.is_empty());
        let promoted = promote
            && crate::atomic_file::replace(&side, &main)
                .map_err(|e| {
                    self.console.line(&format!(
                        "mesh-toolkit: cannot replace '{}' with its complete re-recording '{}': {e}",
                        main.display(),
                        side.display()
                    ));
                })
                .is_ok();
        let (main_file, text) = if promoted {
            let moved = std::mem::replace(&mut side_file, CassetteFile::read(&side));
            (moved.moved_to(&main), None)
        } else if self.shelf.get().is_some_and(|shelf| shelf.expects(name)) {
            // The report job wants what the check reads of it (see `text` below).
            CassetteFile::read_with_text(&main)
        } else {
            (CassetteFile::read(&main), None)
        };
        let reads = RecordingReads::default();
        // A file that cannot be read may hold paid answers (`decide` refuses to record
        // over it).
        let unreadable = [&main_file, &side_file]
            .into_iter()
            .find_map(|f| f.problem().map(|p| (f.path(), p)));
        let (main_cassette, side_cassette) = (main_file.cassette(), side_file.cassette());
        let disk = |cassette: Option<&crate::cassette::Cassette>| {
            let done = resume::webhook_done(&webhooks, scenario.map(|(s, _)| s), &reads);
            resume::inspect(cassette, scenario.map(|(_, r)| r), done)
        };
        let (main_disk, side_disk) = (disk(main_cassette), disk(side_cassette));
        let unfinished = matches!(main_disk, resume::Disk::Unfinished { .. })
            || matches!(side_disk, resume::Disk::Unfinished { .. });
        let recorded_against = main_cassette.and_then(|c| c.recorded_against.as_ref());
        let side_against = side_cassette.and_then(|c| c.recorded_against.as_ref());
        // What its commands aim at: where the unfinished file (the side file of a
        // rewrite first) was recorded, else the cassette, else where this run records.
        let run_against = self.run_against();
        let unfinished_against = match side_disk {
            resume::Disk::Unfinished { .. } => side_against.or(recorded_against),
            _ => recorded_against,
        };
        let against = unfinished_against.unwrap_or(&run_against);
        // A journal whose create was refused holds no task: its command records, and pays.
        let resume_why = match main_cassette {
            // Only an incomplete one is asked: a replay of complete cassettes parses
            // nothing here.
            Some(c)
                if c.incomplete
                    && c.pending.is_empty()
                    && crate::cassette::created_tasks(c, None).is_empty() =>
            {
                Rerecord::Unstarted
            }
            _ => Rerecord::Unfinished,
        };
        let resume_command = self.rerecord_command(name, resume_why, against);
        // An unreadable file: set aside, then the trial recorded afresh, against what the
        // file says it was recorded against (its line reads even when the YAML does not).
        let afresh = unreadable.as_ref().map(|(path, _)| {
            let said = std::fs::read_to_string(path)
                .ok()
                .and_then(|text| crate::cassette::recorded_against_in(&text));
            crate::command::move_aside_then(
                path,
                &self.rerecord_command(
                    name,
                    Rerecord::Afresh,
                    said.as_ref().unwrap_or(&run_against),
                ),
            )
        });
        // A journal recorded elsewhere than the simulator, resumed where it was recorded.
        let resume_elsewhere = self.rerecord_command(
            name,
            resume_why,
            unfinished_against
                .filter(|a| !a.is_simulator())
                .unwrap_or(&RecordedAgainst::Meshy),
        );
        // A complete cassette whose task's webhook recording is not complete: why
        // (missing, unreadable or unfinished), naming the recording's file.
        let webhook = match (scenario, main_cassette) {
            (Some((s, request)), Some(cassette))
                if !cassette.incomplete
                    && cassette.pending.is_empty()
                    && s.delivery == Delivery::Webhook
                    && matches!(main_disk, resume::Disk::Unfinished { .. }) =>
            {
                recorded_task_id(cassette, request).and_then(|task_id| {
                    let path =
                        recording_path(&webhooks, &s.species, s.task_type.as_str(), &task_id);
                    let file = reads.get(&path);
                    // Its deliveries lost (missing, unreadable): resumed from the API's
                    // task object, the unreadable file first set aside; unfinished:
                    // resumed.
                    let lost = || self.rerecord_command(name, Rerecord::Deliveries, against);
                    let command = match file.get("") {
                        Err(crate::webhooks::RecordingError::Missing { .. }) => lost(),
                        Err(crate::webhooks::RecordingError::Invalid { .. }) => {
                            crate::command::move_aside_then(&path, &lost())
                        }
                        _ => resume_command.clone(),
                    };
                    file.load(&command).err().map(|problem| problem.to_string())
                })
            }
            _ => None,
        };
        let action = resume::decide(
            self.settings.record_mode,
            &resume::Facts {
                trial: name,
                target: self.settings.target,
                dry_run: self.settings.dry_run,
                main: resume::File {
                    path: &main,
                    disk: &main_disk,
                    against: recorded_against,
                },
                side: resume::File {
                    path: &side,
                    disk: &side_disk,
                    against: side_against,
                },
                unreadable: unreadable.as_ref().map(|(f, p)| (*f, p.as_str())),
                afresh: afresh.as_deref().unwrap_or_default(),
                webhook: webhook.as_deref(),
                resume_command: &resume_command,
                resume_on_meshy: &resume_elsewhere,
            },
        );
        let never_recorded =
            matches!(main_disk, resume::Disk::Absent) && matches!(side_disk, resume::Disk::Absent);
        let simulator_only = scenario.and_then(|(s, _)| s.simulator_only());
        let rerecord = match &action {
            resume::Action::Refuse(resume::Refusal::Unreadable { afresh, .. }) => afresh.clone(),
            // A replay of an unreadable cassette fails with this as its fix.
            _ if afresh.is_some() => afresh.clone().unwrap_or_default(),
            resume::Action::Refuse(resume::Refusal::RealJournalUnderSim { .. }) => resume_elsewhere,
            _ if never_recorded && self.settings.target == Target::Sim => {
                self.rerecord_command(name, Rerecord::Unfinished, &RecordedAgainst::Simulator)
            }
            _ if never_recorded => {
                // Never recorded: nothing to rewrite, and the free way first.
                let once =
                    self.rerecord_command(name, Rerecord::Unfinished, &RecordedAgainst::Simulator);
                match simulator_only {
                    Some(why) => format!("{once}  # simulator-only ({why})"),
                    None => {
                        let cost = self
                            .scenarios
                            .get(name)
                            .map_or_else(|| "unknown credits".to_owned(), |s| self.chain_cost(s));
                        format!(
                            "{once}  # the simulator, free; without --target=sim, the real Meshy API: {cost}"
                        )
                    }
                }
            }
            _ => {
                let why = if unfinished {
                    Rerecord::Unfinished
                } else if matches!(main_disk, resume::Disk::Changed) {
                    Rerecord::Changed
                } else {
                    Rerecord::Again
                };
                self.rerecord_command(name, why, against)
            }
        };
        // Only a replay keeps what was read: it never writes, and nothing else may
        // write a cassette the run replays. A trial that records re-reads its journal
        // once the run holds the recording lock (another run may have written it).
        let replays = matches!(action, resume::Action::Replay);
        let file = replays.then_some(main_file);
        Plan {
            action,
            rerecord,
            file,
            // Moved, not copied: cut to what the check reads only if the report wants it.
            text: text.filter(|_| replays && self.shelf.get().is_some()),
            reads,
        }
    }

    /// A plan that records is made again once the run holds the recording lock
    /// (`live` takes it): another run may have written the trial's files since, and a
    /// decision on what they held before could send a create call twice.
    pub(super) fn replan_locked(
        &self,
        plan: Plan,
        again: impl FnOnce() -> Plan,
    ) -> Result<Plan, TrialError> {
        if !plan.records() || self.interrupt.is_set() {
            return Ok(plan);
        }
        self.live()?;
        Ok(again())
    }

    /// Before a recording trial: the recording context, and every create call of the
    /// cassette that may have reached Meshy reconciled, so nothing is bought twice.
    pub(super) fn prepare(&self, name: &str, plan: &Plan) -> Result<Option<Recording>, TrialError> {
        let path = match &plan.action {
            resume::Action::Refuse(refusal) => return Err(TrialError::Refused(refusal.clone())),
            resume::Action::Replay => return Ok(None),
            _ if self.interrupt.is_set() => {
                return Err(TrialError::NotStarted(name.to_owned()));
            }
            resume::Action::Record { .. } => return self.live().map(Some),
            resume::Action::Resume { path } => path.clone(),
        };
        let recording = self.live()?;
        // Read under the run's recording lock (taken by `live`), not the plan's copy.
        if resume::load(&path).is_some_and(|c| !c.pending.is_empty()) {
            let client = match &*lock(&self.live) {
                LiveState::Started(live) => {
                    live.client().map_err(|e| TrialError::Client(Arc::new(e)))?
                }
                _ => {
                    return Err(TrialError::NotRunning(
                        "the recording context is not running",
                    ));
                }
            };
            let known = self.known_tasks();
            let listing = resume::Listing {
                // When the answer was lost is not on file: the window counts from the intent.
                lost_at_ms: 0,
                client: &client,
                on_file: &*known,
                window: recording.listing_window,
                one_at_a_time: &self.reconciling,
            };
            let reconciled = self.runtime.block_on(resume::reconcile_all(
                &path,
                &listing,
                &recording.scrub,
                Some(self.interrupt.receiver()),
            ));
            let outcomes = reconciled.map_err(|e| {
                lock(&self.unfinished).push((name.to_owned(), path.clone()));
                TrialError::Reconcile {
                    trial: name.to_owned(),
                    source: Arc::new(e),
                }
            })?;
            for outcome in outcomes {
                match outcome {
                    resume::Reconciled::Adopted { task_id, .. } => self.console.line(&format!(
                        "{name}: the create call without an answer on file did create task {task_id}: adopted, \
                         no new task"
                    )),
                    resume::Reconciled::NotCreated => self.console.line(&format!(
                        "{name}: the create call without an answer on file created no task (the task list shows \
                         none {} s later): sending it again",
                        recording.listing_window.as_secs_f64()
                    )),
                }
            }
        }
        Ok(Some(recording))
    }

    /// What the cassettes on file say, read when called: the task ids create calls
    /// answered (a reconcile never adopts another scenario's task), and the calls of
    /// the same request that other trials of this run sent and await answers for.
    pub(super) fn known_tasks(&self) -> super::settle::KnownTasks {
        let http = self.settings.cassettes_dir.join("http");
        let run_started_ms = self.started_ms;
        Arc::new(move |own: &Path, settling: &crate::cassette::Intent| {
            resume::on_file(&http, own, settling, run_started_ms)
        })
    }

    /// The recording context, started on first use.
    pub(super) fn live(&self) -> Result<Recording, TrialError> {
        let mut state = lock(&self.live);
        if let LiveState::NotStarted = *state {
            *state = match self.runtime.block_on(Live::start(
                &self.settings,
                &self.env,
                self.interrupt.receiver(),
                &self.console,
            )) {
                Ok(live) => match self.announce_plan(&live) {
                    Ok(()) => {
                        self.interrupt
                            .watch_ctrl_c(self.runtime.handle(), self.console.clone());
                        LiveState::Started(Box::new(live))
                    }
                    Err(refusal) => {
                        self.runtime.block_on(live.stop());
                        LiveState::Failed(Some(TrialError::Plan(refusal)))
                    }
                },
                Err(e) => LiveState::Failed(Some(TrialError::Live(Arc::new(e)))),
            };
        }
        match &mut *state {
            LiveState::Started(live) => Ok(live.recording()),
            // The reason once, for the trial that tried first; the others say where it is.
            LiveState::Failed(error) => Err(error.take().unwrap_or(TrialError::NotRunning(
                "not recorded: the recording context could not start; the reason is given once, under the first \
                 recording trial that failed",
            ))),
            _ => Err(TrialError::NotRunning(
                "the run is over: the recording context was stopped",
            )),
        }
    }
}
