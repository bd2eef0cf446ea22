//! The scenario suite: what the `scenarios` test target runs. It turns scenario files
//! and harness flags into libtest trials, records or replays each, and keeps the
//! shared recording context (simulator, receiver, tunnel) for the whole run.
//!
//! A test target (`harness = false` in `Cargo.toml`) that runs the suite is one call,
//! [`main`] (or [`main_with`], to add trials written in Rust):
//!
//! ```no_run
#![doc = include_str!("../../examples/suite.rs")]
//! ```
//!
//! mesh-toolkit is its only dev-dependency: libtest-mimic, which runs the trials, is
//! re-exported as [`libtest_mimic`] (`Trial`, `Arguments`) for trials written in Rust.
//! docs/own-crate.md has the `Cargo.toml` lines and where the files go.
//!
//! This file holds the run ([`Suite`]: built by [`Suite::new`], its trials, its end);
//! a trial's plan is `planning`'s (the record-mode table itself is `resume`'s), running
//! it `execution`'s, the run's plan printed before recording `plan`'s; what the run
//! adds to failures and replays is in `hints`, the commands it prints in `commands`,
//! the trials' results and the report in `results`.

mod commands;
mod execution;
mod hints;
mod interrupt;
mod live;
mod plan;
mod planning;
mod results;
mod resume;
mod scratch;
mod settings;
mod settle;
mod slots;
mod summary;
mod trial;

use crate::sync::lock;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use libtest_mimic::{Arguments, Conclusion, Trial};

/// The test runner the suite's trials are for, re-exported so that a crate running the
/// suite needs mesh-toolkit alone: `Trial` for trials written in Rust.
pub use libtest_mimic;

/// The whole `main` of a test target that runs the scenario suite: reads the harness
/// flags and the scenario files, runs a trial of each, stops what the run started and
/// returns the exit code (2 for a flag mistake, 130 after Ctrl-C). Return it from `main`.
pub fn main() -> std::process::ExitCode {
    main_with(|_| Vec::new())
}

/// [`main`] with trials written in Rust added after the scenario files' ones:
/// `rust_trials` makes them with [`Suite::custom`].
pub fn main_with(rust_trials: impl FnOnce(&Arc<Suite>) -> Vec<Trial>) -> std::process::ExitCode {
    let (suite, args) = match Suite::from_env() {
        Ok(parts) => parts,
        // `--help` (exit 0) or a mistake in a flag (exit 2), already explained.
        Err(error) => return error.report(),
    };
    let mut trials = suite.trials();
    trials.extend(rust_trials(&suite));
    let conclusion = libtest_mimic::run(&args, trials);
    // Not `conclusion.exit()`: the receiver, tunnel and simulator are stopped first.
    suite.finish(&conclusion)
}

pub use execution::CustomTrial;

pub use live::{GuardError, LiveError, RunEnv, guards};
pub use plan::PlanError;
pub use resume::{Action, Disk, Reconciled, Refusal, ResumeError};

/// The ids of the tasks a cassette's answered create calls made.
pub fn created_tasks(cassette: &crate::cassette::Cassette) -> Vec<String> {
    crate::cassette::created_tasks(cassette, None)
}
pub use crate::cassette::{created_task, recorded_task_id};
pub use crate::scenario::{
    Delivery, DiscoverError, Scenario, ScenarioError, check_inputs, discover, name_of, prompt_field,
};
pub use resume::is_recorded;
pub use settings::{Settings, SettingsError, Target};
pub use trial::{CheckFailure, GlbError, Produced, TrialContext, TrialError, check_glb};

use crate::cassette::RecordMode;
use crate::scenario::ScenarioFile;
use interrupt::Interrupt;
use live::Live;
use results::{Ended, ReportJob};

/// One run of the suite.
pub struct Suite {
    settings: Settings,
    /// The harness's arguments as given (after the program), for the rerun command
    /// printed after Ctrl-C.
    args: Vec<String>,
    env: RunEnv,
    runtime: tokio::runtime::Runtime,
    /// Every scenario file's name, sorted, with what loading it gave ([`Suite::file`]).
    files: Vec<(String, Result<Scenario, ScenarioError>)>,
    /// The scenario files as read, sorted by name: what their trials' results and the
    /// report take their digests from (each file is read once per run).
    read: Arc<Vec<ScenarioFile>>,
    scenarios: BTreeMap<String, Scenario>,
    live: Mutex<LiveState>,
    produced: Mutex<HashMap<String, Arc<Outcome>>>,
    recorded: Mutex<Vec<Produced>>,
    /// Cassettes of recording trials that did not pass: what they hold may be running.
    unfinished: Mutex<Vec<(String, PathBuf)>>,
    interrupt: Interrupt,
    /// The run's share of the account's task queue (`--max-tasks-in-flight`).
    slots: Arc<tokio::sync::Semaphore>,
    /// libtest's arguments: the plan applies their filters.
    arguments: Arguments,
    /// The names of the trials written in Rust, as registered.
    customs: Mutex<Vec<String>>,
    /// The account's balance when the plan was made (real API).
    balance_before: Mutex<Option<u64>>,
    /// What `--dry-run` sent, and where.
    dry_runs: Mutex<Vec<(Produced, String)>>,
    /// The dry run's one transport: one limiter of 20 requests per second for all trials.
    dry_transport: OnceLock<Arc<crate::transport::LiveTransport>>,
    /// Held across each listing of a reconcile until its outcome is on disk: two trials
    /// never adopt the same task.
    reconciling: Arc<tokio::sync::Mutex<()>>,
    /// When the run started (epoch ms): a create call journalled since, with no answer
    /// yet, is in flight in this run.
    started_ms: i64,
    /// Where progress and the notes printed during trials go: live lines or plain.
    console: crate::progress::Console,
    /// What replayed trials showed that `cassettes check` would report: API versions
    /// other than today's, by trial, and unmodelled task fields.
    freshness: Mutex<(BTreeMap<String, String>, std::collections::BTreeSet<String>)>,
    /// How each trial ran (replay, record, …), for its result.
    ran: Mutex<HashMap<String, crate::report::Ran>>,
    /// Whether any trial of this process wrote its result: the report is written then.
    results_written: std::sync::atomic::AtomicBool,
    /// Results of trials that ended, not yet in the results file, and when it was last
    /// written.
    results: Mutex<(Vec<crate::report::TrialResult>, std::time::Instant)>,
    /// The report, read and rendered while a replay's trials run (`report::prepare`),
    /// started by the first trial.
    report_job: Mutex<Option<ReportJob>>,
    report_started: std::sync::Once,
    /// What the replay's trials read, handed to the report job (`report::handoff`).
    shelf: OnceLock<Arc<crate::report::handoff::Shelf>>,
}

/// A scenario file's trial kind: its delivery, or `invalid` when it does not load.
fn trial_kind(loaded: &Result<Scenario, ScenarioError>) -> &'static str {
    match loaded {
        Ok(scenario) => scenario.delivery.as_str(),
        Err(_) => "invalid",
    }
}

/// A scenario's outcome, computed once.
type Outcome = OnceLock<Result<Produced, TrialError>>;

enum LiveState {
    NotStarted,
    Started(Box<Live>),
    /// Why it could not start: the first trial that needs it fails with this (taken),
    /// the others with a line that says where it is.
    Failed(Option<TrialError>),
    Stopped,
}

/// Why a run could not start; [`StartError::report`] prints it and gives the exit code.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Scenarios(#[from] DiscoverError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Progress(#[from] crate::progress::StyleError),
}

impl StartError {
    /// Prints the error (`--help` to stdout) and returns the exit code: 0 for `--help`,
    /// 2 otherwise.
    pub fn report(&self) -> std::process::ExitCode {
        match self {
            StartError::Settings(error) => error.report(),
            other => {
                eprintln!("error: {other}");
                std::process::ExitCode::from(2)
            }
        }
    }
}

impl Suite {
    /// What loading the scenario file `name` gave, if there is one.
    /// The scenario file `name` as the run read it.
    fn scenario_file(&self, name: &str) -> Option<&ScenarioFile> {
        let at = self
            .read
            .binary_search_by(|f| f.name.as_str().cmp(name))
            .ok()?;
        Some(&self.read[at])
    }

    fn file(&self, name: &str) -> Option<&Result<Scenario, ScenarioError>> {
        let at = self
            .files
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()?;
        Some(&self.files[at].1)
    }

    /// Reads the process's arguments and environment, and loads the scenarios.
    pub fn from_env() -> Result<(Arc<Suite>, Arguments), StartError> {
        let args: Vec<String> = std::env::args().collect();
        let (suite, mut arguments) = Suite::new(&args, |name| std::env::var(name).ok())?;
        // For the `mesh-toolkit` binary's commands (`cassettes check`, `report`); a
        // listing writes nothing.
        if !arguments.list {
            let package_dir = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| ".".into());
            (suite.settings.commands.invocation).remember(std::path::Path::new(&package_dir));
        }
        suite.share_stdout(&mut arguments);
        Ok((suite, arguments))
    }

    /// Live lines on the terminal libtest prints to: from now on libtest's lines go
    /// through the console, which prints each whole above the live lines (see
    /// `progress::Console::forward_stdout`). libtest's colours are decided first, on
    /// the real stdout, since it will write into a pipe.
    fn share_stdout(&self, arguments: &mut Arguments) {
        use std::io::IsTerminal as _;
        let shared = self.console.is_live()
            && self.settings.may_record()
            && arguments.logfile.is_none()
            && std::io::stdout().is_terminal();
        if !shared {
            return;
        }
        arguments
            .color
            .get_or_insert(match anstream::AutoStream::choice(&std::io::stdout()) {
                anstream::ColorChoice::Never => libtest_mimic::ColorSetting::Never,
                _ => libtest_mimic::ColorSetting::Always,
            });
        self.console.forward_stdout();
    }

    /// Builds a run from `args` (program name first) and an environment.
    pub fn new(
        args: &[String],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(Arc<Suite>, Arguments), StartError> {
        let (settings, mut arguments) = Settings::parse(args, &env)?;
        let paths = discover(&settings.scenarios_dir).map_err(StartError::Scenarios)?;
        let mut read: Vec<ScenarioFile> = paths.iter().map(|p| ScenarioFile::read(p)).collect();
        read.sort_by(|a, b| a.name.cmp(&b.name));
        let files: Vec<(String, Result<Scenario, ScenarioError>)> = read
            .iter()
            .map(|f| (f.name.clone(), f.loaded.clone()))
            .collect();
        let mut scenarios: BTreeMap<String, Scenario> = files
            .iter()
            .filter_map(|(name, loaded)| loaded.as_ref().ok().map(|s| (name.clone(), s.clone())))
            .collect();
        let input_errors = check_inputs(&scenarios);
        let mut files: Vec<_> = files
            .into_iter()
            .map(|(name, loaded)| {
                let loaded = match input_errors.get(&name) {
                    Some(error) => Err(error.clone()),
                    None => loaded,
                };
                (name, loaded)
            })
            .collect();
        // By name, for `Suite::file`.
        files.sort_by(|a, b| a.0.cmp(&b.0));
        scenarios.retain(|name, _| !input_errors.contains_key(name));
        // Recordings wait for minutes: let them all wait at once.
        if settings.may_record() && arguments.test_threads.is_none() {
            arguments.test_threads = Some(scenarios.len().max(1) + 1);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        let settings_slots = settings.max_tasks_in_flight;
        let style = crate::progress::Style::choose(&env, crate::progress::stderr_is_drawable())?;
        let suite = Suite {
            env: RunEnv::from(&env),
            args: args.iter().skip(1).cloned().collect(),
            settings,
            runtime,
            files,
            read: Arc::new(read),
            scenarios,
            live: Mutex::new(LiveState::NotStarted),
            produced: Mutex::default(),
            recorded: Mutex::default(),
            unfinished: Mutex::default(),
            interrupt: Interrupt::new(),
            slots: Arc::new(tokio::sync::Semaphore::new(settings_slots)),
            arguments: arguments.clone(),
            customs: Mutex::default(),
            balance_before: Mutex::default(),
            dry_runs: Mutex::default(),
            dry_transport: OnceLock::new(),
            reconciling: Arc::default(),
            started_ms: crate::clock::now_ms(),
            freshness: Mutex::default(),
            ran: Mutex::default(),
            results_written: std::sync::atomic::AtomicBool::new(false),
            results: Mutex::new((Vec::new(), std::time::Instant::now())),
            report_job: Mutex::default(),
            report_started: std::sync::Once::new(),
            shelf: OnceLock::new(),
            console: crate::progress::Console::of(style),
        };
        Ok((Arc::new(suite), arguments))
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// One trial per scenario file, named by its stem, of kind `webhook` or `polling`.
    /// A file that does not load is a failing trial with the file's error.
    pub fn trials(self: &Arc<Self>) -> Vec<Trial> {
        self.files
            .iter()
            .map(|(name, loaded)| {
                let kind = trial_kind(loaded);
                let suite = Arc::clone(self);
                let name = name.clone();
                Trial::ignorable_test(name.clone(), move || {
                    suite.start_report();
                    let outcome = match suite.skipped(&name) {
                        Some(reason) => Ended::Ignored(reason),
                        None => Ended::from(suite.produce(&name)),
                    };
                    suite.hand_over(&name, None);
                    suite.keep_result(&name, kind, &outcome);
                    outcome.into_libtest()
                })
                .with_kind(kind)
            })
            .collect()
    }

    /// A trial written in Rust, run like the scenario trials: same flags and modes, its
    /// own cassette `cassettes/http/<name>.yaml`.
    pub fn custom(
        self: &Arc<Self>,
        name: &str,
        body: impl Fn(&TrialContext) -> Result<(), Box<dyn std::error::Error>> + Send + Sync + 'static,
    ) -> Trial {
        lock(&self.customs).push(name.to_owned());
        let suite = Arc::clone(self);
        let trial_name = name.to_owned();
        Trial::ignorable_test(name, move || {
            suite.start_report();
            let outcome = if suite.settings.dry_run {
                Ended::Ignored(
                    "--dry-run sends the requests of scenario files; a trial written in Rust is not dry-run"
                        .into(),
                )
            } else {
                match suite.run_custom(&trial_name, &body) {
                    Ok(()) => Ended::Passed(None),
                    Err(error) => Ended::Failed(error.to_string()),
                }
            };
            suite.hand_over(&trial_name, None);
            suite.keep_result(&trial_name, "rust", &outcome);
            outcome.into_libtest()
        })
        .with_kind("rust")
    }

    /// Stops the recording context (tunnel, receiver, simulator), prints the summary
    /// of what was recorded (and, after Ctrl-C, which tasks are still running), and
    /// returns the exit code: 130 when interrupted, else the trials'. Call it after
    /// the last trial; return its code from `main` so every destructor runs.
    pub fn finish(&self, conclusion: &Conclusion) -> std::process::ExitCode {
        // Live lines gone, libtest's last lines printed: the summary comes after them.
        self.console.finish();
        scratch::Scratch::global().remove();
        let state = std::mem::replace(&mut *lock(&self.live), LiveState::Stopped);
        if let LiveState::Started(live) = state {
            if let Some(before) = *lock(&self.balance_before)
                && let Some(after) = self.runtime.block_on(live.balance())
            {
                // A rehearsal's balance is its own, not the Meshy account's.
                let on = match live.against() {
                    crate::cassette::RecordedAgainst::Rehearsal(at) => format!(
                        " at the rehearsal {}, not the real Meshy API",
                        at.as_deref().unwrap_or("(another base URL)")
                    ),
                    _ => String::new(),
                };
                eprintln!(
                    "spent: {} credits (balance {before} before the run, {after} after){on}",
                    before.saturating_sub(after)
                );
            }
            for line in live.sim_summary() {
                eprintln!("{line}");
            }
            self.runtime.block_on(live.stop());
        }
        if let Some(table) = summary::summary(&lock(&self.recorded)) {
            eprint!("{table}");
        }
        if let Some(line) = self.freshness_line() {
            eprintln!("{line}");
        }
        if let Some(summary) = summary::dry_run(&lock(&self.dry_runs)) {
            eprint!("{summary}");
        }
        self.write_report();
        if self.interrupt.is_set() {
            // The run's own command, its filters and limits kept; `all` and `rewrite`
            // become `once`, which records nothing finished again; what came from the
            // environment spelt out.
            let mode = match self.settings.record_mode {
                RecordMode::All | RecordMode::Rewrite => Some(RecordMode::Once),
                RecordMode::None | RecordMode::Once => None,
                mode @ RecordMode::NewEpisodes => Some(mode),
            }
            .map(|mode| mode.to_string());
            let mut flags = vec!["--record-webhooks"];
            if self.settings.target == Target::Sim {
                flags.push("--target=sim");
            }
            let against = self.run_against();
            let rerun =
                self.settings
                    .commands
                    .rerun(&self.args, mode.as_deref(), &flags, against.aim());
            if self.settings.target == Target::Sim {
                eprintln!(
                    "interrupted: nothing was paid (the simulator); record the unfinished scenarios again with `{rerun}`"
                );
            } else {
                eprint!(
                    "{}",
                    summary::running(&lock(&self.unfinished), &self.webhooks_dir(), &rerun)
                );
            }
            return std::process::ExitCode::from(130);
        }
        conclusion.exit_code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cassette that exists but does not parse may hold paid answers: a recording
    /// run refuses the trial and leaves the file as it is.
    #[test]
    fn a_recording_never_overwrites_a_cassette_it_cannot_read() {
        let dir = tempfile::tempdir().unwrap();
        let scenarios = dir.path().join("scenarios");
        let http = dir.path().join("cassettes/http");
        std::fs::create_dir_all(&scenarios).unwrap();
        std::fs::create_dir_all(&http).unwrap();
        std::fs::write(
            scenarios.join("beaver_polling.toml"),
            "species = \"beaver\"\ntask_type = \"text3d\"\nprompt = \"Beaver\"\ndelivery = \"polling\"\n",
        )
        .unwrap();
        let cassette = http.join("beaver_polling.yaml");
        for broken in [&b"interactions: [\n"[..], &b"interactions: []\n\xff\n"[..]] {
            std::fs::write(&cassette, broken).unwrap();
            let args = [
                "scenarios".to_owned(),
                format!("--scenarios={}", scenarios.display()),
                format!("--cassettes={}", dir.path().join("cassettes").display()),
                "--target=sim".to_owned(),
                "--record-mode=once".to_owned(),
            ];
            let (suite, _) = Suite::new(&args, |_| None).unwrap();
            let error = suite.produce("beaver_polling").unwrap_err();
            let message = error.to_string();
            assert!(
                matches!(error, TrialError::Refused(Refusal::Unreadable { .. })),
                "{error:?}"
            );
            assert!(
                message.contains("cannot be read (line ")
                    && message.contains("so it is not recorded over"),
                "{message}"
            );
            assert_eq!(
                std::fs::read(&cassette).unwrap(),
                broken,
                "the file is kept"
            );
        }
    }

    /// The harness's arguments for a suite in `scenarios` and `cassettes`, then `extra`.
    fn suite_args(
        scenarios: &std::path::Path,
        cassettes: &std::path::Path,
        extra: &[&str],
    ) -> Vec<String> {
        let mut args = vec![
            "scenarios".to_owned(),
            format!("--scenarios={}", scenarios.display()),
            format!("--cassettes={}", cassettes.display()),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        args
    }

    /// The environment of those tests: the simulator's tasks finish at once.
    fn instant_tasks(name: &str) -> Option<String> {
        (name == "MESHY_SIM_TASK_SECONDS").then(|| "0".to_owned())
    }

    /// A replayed trial reads and parses its cassette once: the plan's read is the one
    /// its cassette transport replays from.
    #[test]
    fn a_replayed_trial_reads_its_cassette_once() {
        let dir = tempfile::tempdir().unwrap();
        let scenarios = dir.path().join("scenarios");
        std::fs::create_dir_all(&scenarios).unwrap();
        std::fs::write(
            scenarios.join("beaver_polling.toml"),
            "species = \"beaver\"\ntask_type = \"text3d\"\nprompt = \"Beaver, low poly\"\ndelivery = \"polling\"\n",
        )
        .unwrap();
        let cassettes = dir.path().join("cassettes");
        let args = |extra: &[&str]| suite_args(&scenarios, &cassettes, extra);
        let (recording, _) = Suite::new(
            &args(&["--target=sim", "--record-mode=once"]),
            instant_tasks,
        )
        .unwrap();
        let recorded = recording.produce("beaver_polling").unwrap();
        assert!(recorded.recorded);
        drop(recording);
        let cassette = dir.path().join("cassettes/http/beaver_polling.yaml");
        let (replay, _) = Suite::new(&args(&[]), instant_tasks).unwrap();
        let before = crate::cassette::reads::of(&cassette);
        let replayed = replay.produce("beaver_polling").unwrap();
        assert!(!replayed.recorded);
        assert_eq!(replayed.task_id, recorded.task_id);
        assert_eq!(
            crate::cassette::reads::of(&cassette) - before,
            1,
            "the replay read its cassette once"
        );
    }

    /// A replayed webhook trial reads its cassette and its webhook recording once each
    /// (the plan's reads are the ones it replays), and hands both to the report job's
    /// shelf, which the report then takes instead of reading them again.
    #[test]
    fn a_replayed_trial_reads_each_file_once_and_hands_it_to_the_report() {
        let dir = tempfile::tempdir().unwrap();
        let scenarios = dir.path().join("scenarios");
        std::fs::create_dir_all(&scenarios).unwrap();
        std::fs::write(
            scenarios.join("fox_webhook.toml"),
            "species = \"fox\"\ntask_type = \"text3d\"\nprompt = \"Fox, low poly\"\n",
        )
        .unwrap();
        let cassettes = dir.path().join("cassettes");
        let args = |extra: &[&str]| suite_args(&scenarios, &cassettes, extra);
        let (recording, _) = Suite::new(
            &args(&["--target=sim", "--record-webhooks", "--tunnel=none"]),
            instant_tasks,
        )
        .unwrap();
        let recorded = recording.produce("fox_webhook").unwrap();
        assert!(recorded.recorded);
        drop(recording);
        let cassette = cassettes.join("http/fox_webhook.yaml");
        let webhook = crate::webhooks::recording_path(
            &cassettes.join("webhooks"),
            "fox",
            "text3d",
            &recorded.task_id,
        );
        assert!(webhook.is_file());

        let (replay, _) = Suite::new(&args(&[]), instant_tasks).unwrap();
        let shelf = Arc::new(crate::report::handoff::Shelf::new([
            "fox_webhook".to_owned()
        ]));
        assert!(replay.shelf.set(Arc::clone(&shelf)).is_ok());
        let reads = |path: &std::path::Path| crate::cassette::reads::of(path);
        let before = (reads(&cassette), reads(&webhook));
        let replayed = replay.produce("fox_webhook").unwrap();
        assert_eq!(replayed.task_id, recorded.task_id);
        let after = (reads(&cassette), reads(&webhook));
        assert_eq!(
            (after.0 - before.0, after.1 - before.1),
            (1, 1),
            "the replay read its cassette and its webhook recording once each"
        );
        let given = shelf
            .take("fox_webhook")
            .expect("the trial handed its files over");
        let (file, text) = given.cassette.expect("its cassette");
        assert_eq!(file.path(), cassette);
        let whole = std::fs::read_to_string(&cassette).unwrap();
        assert!(whole.contains("!!binary |"), "its model is in it");
        assert_eq!(
            text,
            crate::check::scanned_text(&whole),
            "not its model's base64"
        );
        assert_eq!(
            file.cassette(),
            crate::cassette::CassetteFile::read(&cassette).cassette()
        );
        let paths: Vec<_> = given
            .recordings
            .iter()
            .map(|r| r.path().to_owned())
            .collect();
        assert_eq!(paths, [webhook]);
        assert!(given.recordings[0].done());
    }
}
