//! How each trial ended, written to the results file (`report::results`), and the HTML
//! report: prepared beside a replay's trials (the report job) and completed, with the
//! results, at the end of the run.

use libtest_mimic::{Completion, Failed};

use super::{Produced, Suite, Target, TrialError, resume};
use std::sync::Arc;

use crate::cassette::RecordedAgainst;
use crate::report::handoff::{Given, Shelf};
use crate::sync::lock;

/// How often a replay adds the results of its ended trials to the results file.
const RESULTS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The thread that prepares the report during a replay.
pub(super) type ReportJob =
    std::thread::JoinHandle<Result<crate::report::Prepared, crate::report::ReportError>>;

/// What a replayed trial read, for the report job: its cassette, when it replayed it
/// whole and the report wants its text, and the webhook recordings it read.
pub(super) fn read_by(
    ctx: &super::TrialContext,
    plan: &mut super::planning::Plan,
) -> Option<Given> {
    let text = plan.text.take()?;
    let cassette = ctx.cassette.take_replayed()?;
    Some(Given {
        cassette: Some((cassette, text)),
        recordings: plan.reads.files(),
    })
}

/// Closes the report job's shelf when the job ends, however it ends.
struct CloseOnDrop(Arc<Shelf>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// How a trial ended, as libtest and the results file are told.
pub(super) enum Ended {
    /// What a scenario trial produced (`None` for a Rust trial).
    Passed(Option<Produced>),
    Failed(String),
    Ignored(String),
}

impl From<Result<Produced, TrialError>> for Ended {
    fn from(outcome: Result<Produced, TrialError>) -> Ended {
        match outcome {
            Ok(produced) => Ended::Passed(Some(produced)),
            Err(error) => Ended::Failed(error.to_string()),
        }
    }
}

impl Ended {
    pub(super) fn into_libtest(self) -> Result<Completion, Failed> {
        match self {
            Ended::Passed(_) => Ok(Completion::Completed),
            Ended::Failed(message) => Err(Failed::from(message)),
            Ended::Ignored(reason) => Ok(Completion::ignored_with(reason)),
        }
    }
}

impl Suite {
    /// How the trial runs, as its plan decided, for its result.
    pub(super) fn note_ran(&self, name: &str, action: &resume::Action) {
        use crate::report::Ran;
        let ran = match action {
            resume::Action::Replay => Ran::Replay,
            resume::Action::Record { .. } => Ran::Record,
            resume::Action::Resume { .. } => Ran::Resume,
            resume::Action::Refuse(_) => Ran::NotRun,
        };
        lock(&self.ran).insert(name.to_owned(), ran);
    }

    /// Keeps the trial's result for the results file (`crate::report::results`), unless
    /// results are off.
    /// A result that cannot be written is said once on stderr; the trial's outcome stands.
    pub(super) fn keep_result(&self, name: &str, kind: &str, ended: &Ended) {
        use crate::report::{Ran, Status, TrialResult};
        if !self.settings.report {
            return;
        }
        let ran = lock(&self.ran).get(name).copied().unwrap_or(Ran::NotRun);
        let (status, message, produced) = match ended {
            Ended::Passed(produced) => (Status::Passed, None, produced.as_ref()),
            Ended::Failed(message) => (Status::Failed, Some(message.clone()), None),
            Ended::Ignored(reason) => (Status::Ignored, Some(reason.clone()), None),
        };
        let sent = matches!(ran, Ran::Record | Ran::Resume | Ran::DryRun);
        let read = self.scenario_file(name);
        let scenario_file = read.map(|_| self.settings.scenarios_dir.join(format!("{name}.toml")));
        let result = TrialResult {
            trial: name.to_owned(),
            kind: kind.to_owned(),
            status,
            message,
            ran,
            target: sent.then(|| match self.settings.target {
                Target::Sim => RecordedAgainst::Simulator,
                Target::Meshy => RecordedAgainst::of_base_url(
                    self.env
                        .base_url
                        .as_deref()
                        .unwrap_or(crate::meshy::DEFAULT_BASE_URL),
                ),
            }),
            // Absolute: `mesh-toolkit report` run from another directory (a workspace's
            // root) matches it to the same cassettes.
            cassettes: crate::report::collect::absolute(&self.settings.cassettes_dir),
            // As the trial ran it: the file read when the run started.
            scenario_sha256: read.and_then(|f| f.sha256.clone()),
            scenario_file,
            task_id: produced.map(|p| p.task_id.clone()).filter(|id| id != "-"),
            duration_ms: produced
                .filter(|_| sent)
                .map(|p| u64::try_from(p.duration.as_millis()).unwrap_or(u64::MAX)),
        };
        let due = {
            let mut pending = lock(&self.results);
            pending.0.push(result);
            pending.1.elapsed() >= RESULTS_EVERY
        };
        // A recording's trials take minutes: each result is kept as it comes. A
        // replay's are kept as a trial ends a second or more after the last write, and
        // at the end: one write for a quick replay. A replay killed part-way loses the
        // results since the last write (a replay is rerun in moments, and pays nothing).
        if self.settings.may_record() || due {
            self.write_results();
        }
    }

    /// Adds the results of the trials ended since the last call to the results file.
    pub(super) fn write_results(&self) {
        let results = {
            let mut pending = lock(&self.results);
            pending.1 = std::time::Instant::now();
            std::mem::take(&mut pending.0)
        };
        if results.is_empty() {
            return;
        }
        let dir = self.report_sources().results;
        match crate::report::results::write(&dir, &results) {
            Ok(()) => {
                self.results_written
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
            Err(error) => {
                static SAID: std::sync::Once = std::sync::Once::new();
                SAID.call_once(|| {
                    self.console.line(&format!(
                        "mesh-toolkit: cannot write trial results under '{}': {error}; the report will miss \
                         them (--no-report turns results off)",
                        dir.display()
                    ));
                });
            }
        }
    }

    /// Whether this run writes the report at its end: results on, trials to run, and
    /// not under cargo-nextest, whose processes each run one trial (`mesh-toolkit
    /// report` assembles it once they are done).
    pub(super) fn reports(&self) -> bool {
        self.settings.report && !self.env.nextest && !self.arguments.list
    }

    pub(super) fn report_sources(&self) -> crate::report::Sources {
        crate::report::Sources {
            scenarios: self.settings.scenarios_dir.clone(),
            cassettes: self.settings.cassettes_dir.clone(),
            results: crate::report::results::dir_for(
                &crate::report::results::default_dir(),
                &self.settings.cassettes_dir,
                &self.settings.commands.invocation,
            ),
            invocation: self.settings.commands.invocation.clone(),
        }
    }

    /// A replay changes no recording, so the report's reading and rendering run beside
    /// its trials; only their results are added at the end. Started by the first trial
    /// (every trial is registered by then), it takes what the trials read from the
    /// run's shelf instead of reading it again (`report::handoff`).
    pub(super) fn start_report(&self) {
        self.report_started.call_once(|| {
            if !self.reports() || self.settings.may_record() {
                return;
            }
            let shelf =
                Arc::new(Shelf::new(self.trials_that_run()).with_scenarios(Arc::clone(&self.read)));
            let taker = Arc::clone(&shelf);
            let sources = self.report_sources();
            let spawned = std::thread::Builder::new()
                .name("report".into())
                .spawn(move || {
                    // Done, failed or panicked: nothing more is taken, so no trial
                    // waits for room and nothing more is kept.
                    let _closes = CloseOnDrop(Arc::clone(&taker));
                    let out = crate::report::default_dir();
                    crate::report::prepare_from(&sources, &out, Some(&taker))
                });
            // Without a thread, the report is made at the end instead, and no trial
            // hands anything over.
            if let Ok(job) = spawned {
                *lock(&self.report_job) = Some(job);
                let _ = self.shelf.set(shelf);
            }
        });
    }

    /// The names of the trials libtest will run: the scenario files' and the Rust
    /// trials' that its filters leave in (none with `--ignored`: no trial is ignored).
    fn trials_that_run(&self) -> Vec<String> {
        if self.arguments.ignored {
            return Vec::new();
        }
        let files =
            (self.files.iter()).map(|(name, loaded)| (name.clone(), super::trial_kind(loaded)));
        let customs = lock(&self.customs).clone().into_iter().map(|n| (n, "rust"));
        files
            .chain(customs)
            .filter(|(name, kind)| !self.filtered_out(name, kind))
            .map(|(name, _)| name)
            .collect()
    }

    /// Hands what a replayed trial read to the report job (`given`; `None`: nothing).
    /// Each trial hands over once: its first call counts.
    pub(super) fn hand_over(&self, name: &str, given: Option<Given>) {
        if let Some(shelf) = self.shelf.get() {
            // Nothing for an entry the report takes from its cache; for the others what
            // the trial read (of the cassette's text, what the check reads of it, not
            // megabytes of models).
            let given = given.filter(|_| shelf.expects(name));
            shelf.give(name, given);
        }
    }

    /// At the end of a run whose trials wrote results: the HTML report, and the line
    /// that says where it is. Not under cargo-nextest, whose processes each run one
    /// trial: `mesh-toolkit report` assembles it once they are done.
    pub(super) fn write_report(&self) {
        self.write_results();
        // The trials are over: the report job waits for none of them any more.
        if let Some(shelf) = self.shelf.get() {
            shelf.close();
        }
        let job = lock(&self.report_job).take();
        // A report that went wrong is said once; the run's outcome and summary stand.
        let prepared = match job.map(std::thread::JoinHandle::join) {
            Some(Err(_)) => {
                eprintln!(
                    "mesh-toolkit: the report could not be made (a bug: please report it); --no-report turns it off"
                );
                return;
            }
            Some(Ok(prepared)) => Some(prepared),
            None => None,
        };
        let written = self
            .results_written
            .load(std::sync::atomic::Ordering::Relaxed);
        if !self.reports() || !written {
            return;
        }
        let out = crate::report::default_dir();
        let prepared = match prepared {
            Some(prepared) => prepared,
            None => crate::report::prepare(&self.report_sources(), &out),
        };
        let generated = crate::report::generated_by(&format!(
            "{} (the scenario suite)",
            self.settings.commands.cargo_test()
        ));
        match prepared.and_then(|p| crate::report::complete(p, &out, &generated)) {
            Ok(written) => eprintln!("{}", written.located(&self.settings.commands)),
            Err(error) => eprintln!("mesh-toolkit: {error} (--no-report turns the report off)"),
        }
    }
}
