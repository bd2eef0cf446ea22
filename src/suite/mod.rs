//! The scenario suite: what the `scenarios` test target runs. It turns scenario files
//! and harness flags into libtest trials, records or replays each, and keeps the
//! shared recording context (simulator, receiver, tunnel) for the whole run.
//!
//! The harness binary stays a few lines:
//!
//! ```no_run
#![doc = include_str!("../../examples/suite.rs")]
//! ```

mod interrupt;
mod live;
mod plan;
mod resume;
mod scratch;
mod settings;
mod slots;
mod summary;
mod trial;

use crate::sync::lock;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use libtest_mimic::{Arguments, Completion, Conclusion, Failed, Trial};

pub use live::{GuardError, LiveError, RunEnv, guards};
pub use plan::PlanError;
pub use resume::{Action, Disk, Reconciled, ResumeError};

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

use crate::cassette::{CassetteFile, RecordMode, RecordedAgainst};
use crate::meshy::{TaskRequest, TaskStatus, pricing};
use crate::sim::Rule;
use crate::webhooks::{Recording as WebhookRecording, recording_path};
use interrupt::Interrupt;
use live::{Live, Recording};
use trial::ContextSpec;

/// One run of the suite.
pub struct Suite {
    settings: Settings,
    env: RunEnv,
    runtime: tokio::runtime::Runtime,
    /// Every scenario file's name, in order, with what loading it gave.
    files: Vec<(String, Result<Scenario, ScenarioError>)>,
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
    /// Held while a trial reconciles: two never adopt the same task.
    reconciling: Mutex<()>,
    /// Where progress and the notes printed during trials go: live lines or plain.
    console: crate::progress::Console,
    /// What replayed trials showed that `cassettes check` would report: API versions
    /// other than today's, by trial, and unmodelled task fields.
    freshness: Mutex<(BTreeMap<String, String>, std::collections::BTreeSet<String>)>,
    /// How each trial ran (replay, record, …), for its result file.
    ran: Mutex<HashMap<String, crate::report::Ran>>,
    /// Whether any trial of this process wrote its result: the report is written then.
    results_written: std::sync::atomic::AtomicBool,
    /// The report, read and rendered while a replay's trials run (`report::prepare`).
    report_job: Mutex<Option<ReportJob>>,
}

/// The thread that prepares the report during a replay.
type ReportJob =
    std::thread::JoinHandle<Result<crate::report::Prepared, crate::report::ReportError>>;

/// What a trial's files say and what it does with them, decided once before it runs.
struct Plan {
    action: resume::Action,
    /// The command that records this trial again, right for how it was recorded.
    rerecord: String,
    /// The cassette a replay reads, as the plan read it: the trial's cassette transport
    /// opens it without reading it again. `None` for a trial that records: it reads its
    /// journal when opening, under the run's recording lock.
    file: Option<CassetteFile>,
}

impl Plan {
    /// Whether the trial sends anything live (records or resumes).
    fn records(&self) -> bool {
        matches!(
            self.action,
            resume::Action::Record { .. } | resume::Action::Resume { .. }
        )
    }
}

/// Why a trial would be recorded again, which picks the record mode of the command
/// that does it, so that it records only what needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rerecord {
    /// Its recording is unfinished: `once` resumes it, paying nothing twice.
    Unfinished,
    /// Its request changed: `new_episodes` over the suite records it and every other
    /// changed scenario (its dependents too), replaying unchanged inputs.
    Changed,
    /// Its recording is complete and current: `rewrite` records it and its inputs again
    /// (an input task Meshy no longer knows, an explicit re-record).
    Again,
}

/// A scenario's outcome, computed once.
type Outcome = OnceLock<Result<Produced, TrialError>>;

/// How a trial ended, as libtest and its result file are told.
enum Ended {
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
    fn into_libtest(self) -> Result<Completion, Failed> {
        match self {
            Ended::Passed(_) => Ok(Completion::Completed),
            Ended::Failed(message) => Err(Failed::from(message)),
            Ended::Ignored(reason) => Ok(Completion::ignored_with(reason)),
        }
    }
}

/// The body of a trial written in Rust.
pub type CustomTrial =
    dyn Fn(&TrialContext) -> Result<(), Box<dyn std::error::Error>> + Send + Sync;

enum LiveState {
    NotStarted,
    Started(Box<Live>),
    /// Why it could not start; every trial that needs it fails with this.
    Failed(TrialError),
    Stopped,
}

/// A resumed trial that fails keeps resuming the same task: say how to give it up.
fn resumed_hint(error: TrialError, plan: &Plan) -> TrialError {
    match &plan.action {
        resume::Action::Resume { path } if !error.is_interrupted() => TrialError::Resumed {
            source: Box::new(error),
            journal: path.clone(),
        },
        _ => error,
    }
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

/// The key sent when replaying: never checked (the cassette answers), never written.
const REPLAY_KEY: &str = "msy_replay_placeholder_key";

impl Suite {
    /// Reads the process's arguments and environment, and loads the scenarios.
    pub fn from_env() -> Result<(Arc<Suite>, Arguments), StartError> {
        let args: Vec<String> = std::env::args().collect();
        let (suite, mut arguments) = Suite::new(&args, |name| std::env::var(name).ok())?;
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
        let files: Vec<(String, Result<Scenario, ScenarioError>)> = paths
            .iter()
            .map(|p| (name_of(p), Scenario::load(p)))
            .collect();
        let mut scenarios: BTreeMap<String, Scenario> = files
            .iter()
            .filter_map(|(name, loaded)| loaded.as_ref().ok().map(|s| (name.clone(), s.clone())))
            .collect();
        let input_errors = check_inputs(&scenarios);
        let files = files
            .into_iter()
            .map(|(name, loaded)| {
                let loaded = match input_errors.get(&name) {
                    Some(error) => Err(error.clone()),
                    None => loaded,
                };
                (name, loaded)
            })
            .collect();
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
            settings,
            runtime,
            files,
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
            reconciling: Mutex::default(),
            freshness: Mutex::default(),
            ran: Mutex::default(),
            results_written: std::sync::atomic::AtomicBool::new(false),
            report_job: Mutex::default(),
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
        self.start_report();
        self.files
            .iter()
            .map(|(name, loaded)| {
                let kind = match loaded {
                    Ok(scenario) => scenario.delivery.as_str(),
                    Err(_) => "invalid",
                };
                let suite = Arc::clone(self);
                let name = name.clone();
                Trial::ignorable_test(name.clone(), move || {
                    let outcome = match suite.skipped(&name) {
                        Some(reason) => Ended::Ignored(reason),
                        None => Ended::from(suite.produce(&name)),
                    };
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
                eprintln!(
                    "spent: {} credits (balance {before} before the run, {after} after)",
                    before.saturating_sub(after)
                );
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
            if self.settings.target == Target::Sim {
                eprintln!(
                    "interrupted: nothing was paid (the simulator); a rerun records the unfinished scenarios again"
                );
            } else {
                let rerun = match self.settings.record_mode {
                    RecordMode::All | RecordMode::Rewrite => {
                        "a rerun with --record-mode=once (not the same command: it would record the finished \
                         scenarios again)"
                    }
                    _ => "a rerun of the same command",
                };
                eprint!(
                    "{}",
                    summary::running(&lock(&self.unfinished), &self.webhooks_dir(), rerun)
                );
            }
            return std::process::ExitCode::from(130);
        }
        conclusion.exit_code()
    }

    /// The scenario's outcome, computed once however many trials need it (a dependent
    /// scenario asks for its input's). Blocks while another thread computes it.
    fn produce(&self, name: &str) -> Result<Produced, TrialError> {
        let cell = Arc::clone(lock(&self.produced).entry(name.to_owned()).or_default());
        cell.get_or_init(|| self.run_scenario(name)).clone()
    }

    /// A scenario trial's story, top to bottom, each step a call into the module that
    /// owns it:
    /// 1. the scenario (loaded once, in [`Suite::new`]) and its input's outcome, which
    ///    runs the input first if it has not run ([`Suite::produce`]);
    /// 2. its request, then the plan: its files read once and the record mode applied
    ///    ([`Suite::plan`], `resume::inspect` and `resume::decide`);
    /// 3. the recording context, and create calls that may have reached Meshy
    ///    reconciled ([`Suite::prepare`]);
    /// 4. the trial's world on the cassette the plan read ([`Suite::context`],
    ///    `TrialContext::new`), then submit → terminal payload → handler → assertions
    ///    (`trial::run_scenario`);
    /// 5. its journals completed or left to resume ([`Suite::conclude`]).
    fn run_scenario(&self, name: &str) -> Result<Produced, TrialError> {
        // Also when it is another trial's input: it is never recorded against the real API.
        if let Some(reason) = self.skipped(name) {
            return Err(TrialError::NotRun {
                scenario: name.to_owned(),
                reason,
            });
        }
        let scenario = match self.files.iter().find(|(n, _)| n == name) {
            Some((_, Ok(scenario))) if self.scenarios.contains_key(name) => scenario,
            Some((_, Err(error))) => return Err(TrialError::Invalid(error.clone())),
            _ => return Err(TrialError::NoScenario(name.to_owned())),
        };
        let input = match &scenario.input {
            None => None,
            Some(input) => {
                let produced = self.produce(input).map_err(|e| TrialError::InputFailed {
                    input: input.clone(),
                    source: Box::new(e),
                })?;
                if produced.status != TaskStatus::Succeeded {
                    return Err(TrialError::InputNotSucceeded {
                        input: input.clone(),
                        status: produced.status,
                    });
                }
                Some(produced)
            }
        };
        let request = scenario
            .request(input.as_ref().map(|p| p.task_id.as_str()))
            .map_err(|source| TrialError::Request {
                path: scenario.path.clone(),
                source,
            })?;
        if self.settings.dry_run {
            return self.dry_run(scenario, &request);
        }
        let plan = self.plan(name, Some((scenario, &request)));
        if plan.records()
            && scenario.delivery == Delivery::Webhook
            && !self.settings.record_webhooks
        {
            return Err(TrialError::NeedsWebhooks {
                scenario: name.to_owned(),
                mode: self.settings.record_mode,
                command: plan.rerecord.clone(),
            });
        }
        let mut plan = self.replan_locked(plan, || self.plan(name, Some((scenario, &request))))?;
        self.note_ran(name, &plan.action);
        let recording = self.prepare(name, &plan)?;
        if let (Some(_), Some(behaviour)) = (&recording, &scenario.simulator) {
            self.add_sim_rule(Rule {
                prompt_contains: scenario.prompt.clone(),
                task_type: Some(scenario.task_type),
                then: behaviour.clone(),
            });
        }
        // An input replayed from its recording: a fresh simulator must know its task.
        let replayed_input = input.as_ref().filter(|p| !p.recorded);
        if let (Some(_), Some(input)) = (&recording, replayed_input) {
            self.seed_sim(scenario, input);
        }
        let ctx = self.context(name, &mut plan, recording)?;
        let outcome = ctx.block_on(trial::run_scenario(&ctx, scenario, &request));
        let outcome = outcome.map_err(|error| resumed_hint(error, &plan));
        // A scenario pinned to a version on purpose is not news.
        let pinned = scenario
            .simulator
            .as_ref()
            .is_some_and(|b| b.api_version.is_some());
        if let (Ok(produced), false, false) = (&outcome, ctx.records, pinned) {
            self.note_freshness(name, &ctx, produced);
        }
        let outcome = match (outcome, replayed_input) {
            (Err(error), Some(input)) if ctx.records && error.is_refused_request() => {
                Err(self.chain_hint(error, scenario, input))
            }
            (outcome, _) => outcome,
        };
        let written = self.conclude(name, &ctx, outcome.is_ok())?;
        let mut produced = outcome?;
        produced.files.extend(written);
        if produced.recorded {
            self.remove_stale_recordings(name, std::slice::from_ref(&produced.task_id));
        }
        if produced.recorded {
            lock(&self.recorded).push(produced.clone());
        }
        Ok(produced)
    }

    /// `--dry-run`: the scenario's request sent with the test-mode key, the task
    /// followed by polling (test mode sends no webhooks) until it ends; nothing is
    /// written, no credit is spent.
    fn dry_run(&self, scenario: &Scenario, request: &TaskRequest) -> Result<Produced, TrialError> {
        if self.settings.target == Target::Sim {
            return Err(TrialError::DryRunOnSim);
        }
        lock(&self.ran).insert(scenario.name.clone(), crate::report::Ran::DryRun);
        let started = std::time::Instant::now();
        let base_url = self
            .env
            .base_url
            .clone()
            .unwrap_or_else(|| crate::meshy::DEFAULT_BASE_URL.to_owned());
        let transport = match self.dry_transport.get() {
            Some(transport) => Arc::clone(transport),
            None => {
                let made = crate::transport::LiveTransport::new(Default::default())
                    .map_err(|e| TrialError::Transport(Arc::new(e)))?;
                Arc::clone(self.dry_transport.get_or_init(|| Arc::new(made)))
            }
        };
        let config = crate::meshy::ClientConfig {
            base_url: base_url.clone(),
            api_key: Some(crate::meshy::TEST_MODE_API_KEY.into()),
            ..Default::default()
        };
        let client = crate::meshy::Client::new(config, transport)
            .map_err(|e| TrialError::Client(Arc::new(e)))?;
        let scratch = tempfile::tempdir().map_err(|e| TrialError::Scratch {
            trial: scenario.name.clone(),
            source: Arc::new(e),
        })?;
        let service = crate::meshy::TaskService::new(
            client,
            crate::repository::Repository::ephemeral(scratch.path()),
        );
        let options = crate::meshy::PollOptions {
            interval: std::time::Duration::from_secs(1),
            timeout: self.settings.webhook_timeout,
        };
        let name = &scenario.name;
        let task = self.runtime.block_on(async {
            let submission = service
                .submit(&scenario.species, request)
                .await
                .map_err(|e| TrialError::DryRunRefused {
                    scenario: name.clone(),
                    source: Arc::new(e),
                })?;
            service
                .poll(&submission, &options, |_| {})
                .await
                .map_err(|e| TrialError::DryRunUnfinished {
                    scenario: name.clone(),
                    source: Arc::new(e),
                })
        })?;
        let produced = Produced {
            scenario: name.clone(),
            task_id: task.id.clone(),
            status: task.status.clone(),
            duration: started.elapsed(),
            recorded: false,
            files: Vec::new(),
            api_payload: false,
            task: serde_json::to_value(&task).ok(),
        };
        lock(&self.dry_runs).push((produced.clone(), base_url));
        Ok(produced)
    }

    fn run_custom(&self, name: &str, body: &CustomTrial) -> Result<(), TrialError> {
        let plan = self.plan(name, None);
        if plan.records() && !self.settings.record_webhooks {
            return Err(TrialError::NotRecorded {
                trial: name.to_owned(),
                command: plan.rerecord.clone(),
            });
        }
        let mut plan = self.replan_locked(plan, || self.plan(name, None))?;
        self.note_ran(name, &plan.action);
        let recording = self.prepare(name, &plan)?;
        let ctx = self.context(name, &mut plan, recording)?;
        let outcome = body(&ctx).map_err(|e| TrialError::Custom(e.to_string()));
        let written = self.conclude(name, &ctx, outcome.is_ok())?;
        if ctx.records && outcome.is_ok() {
            let claimed: Vec<String> = ctx
                .recorder
                .claimed()
                .into_iter()
                .map(|c| c.task_id)
                .collect();
            self.remove_stale_recordings(name, &claimed);
            let produced = Produced {
                scenario: name.to_owned(),
                task_id: "-".into(),
                status: TaskStatus::Succeeded,
                duration: ctx.elapsed(),
                recorded: true,
                files: written,
                api_payload: ctx.recorder.claimed().iter().any(|c| c.from_api),
                task: None,
            };
            lock(&self.recorded).push(produced);
        }
        outcome
    }

    /// What the trial's files say, and what the record mode makes of it
    /// ([`resume::decide`]). `scenario` is `None` for a trial written in Rust.
    fn plan(&self, name: &str, scenario: Option<(&Scenario, &TaskRequest)>) -> Plan {
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
        let main_file = if promoted {
            std::mem::replace(&mut side_file, CassetteFile::read(&side)).moved_to(&main)
        } else {
            CassetteFile::read(&main)
        };
        // A file that cannot be read may hold paid answers: a recording never
        // overwrites it.
        if let Some((file, problem)) = [&main_file, &side_file]
            .into_iter()
            .find_map(|f| f.problem().map(|p| (f.path(), p)))
            .filter(|_| records)
        {
            return Plan {
                action: resume::Action::Refuse(format!(
                    "cassette '{}' cannot be read ({problem}), so it is not recorded over: it may hold answers \
                     Meshy was paid for. Fix it, or move it away to record the trial afresh",
                    file.display()
                )),
                rerecord: self.rerecord_command(
                    name,
                    Rerecord::Unfinished,
                    self.settings.target == Target::Sim,
                ),
                file: None,
            };
        }
        let (main_cassette, side_cassette) = (main_file.cassette(), side_file.cassette());
        let disk = |cassette: Option<&crate::cassette::Cassette>| {
            let done = resume::webhook_done(&webhooks, scenario.map(|(s, _)| s));
            resume::inspect(cassette, scenario.map(|(_, r)| r), done)
        };
        let (main_disk, side_disk) = (disk(main_cassette), disk(side_cassette));
        let unfinished = matches!(main_disk, resume::Disk::Unfinished { .. })
            || matches!(side_disk, resume::Disk::Unfinished { .. });
        let recorded_against = main_cassette.and_then(|c| c.recorded_against.clone());
        let side_against = side_cassette.and_then(|c| c.recorded_against.clone());
        let against_sim = recorded_against.as_ref().map_or(
            self.settings.target == Target::Sim,
            RecordedAgainst::is_simulator,
        );
        // An unfinished journal of the real API holds paid tasks: a simulator run must
        // not overwrite it.
        if self.settings.target == Target::Sim
            && self.settings.record_mode != RecordMode::None
            && ((recorded_against == Some(RecordedAgainst::Meshy)
                && matches!(main_disk, resume::Disk::Unfinished { .. }))
                || (side_against == Some(RecordedAgainst::Meshy)
                    && matches!(side_disk, resume::Disk::Unfinished { .. })))
        {
            let rerecord = self.rerecord_command(name, Rerecord::Unfinished, false);
            return Plan {
                action: resume::Action::Refuse(format!(
                    "cassette '{}' holds an unfinished recording against the real Meshy API (paid tasks); a \
                     --target=sim run would overwrite it. Resume it first with `{rerecord}`, or delete it to \
                     give those tasks up",
                    main.display()
                )),
                rerecord,
                file: None,
            };
        }
        let never_recorded =
            matches!(main_disk, resume::Disk::Absent) && matches!(side_disk, resume::Disk::Absent);
        let simulator_only = scenario.and_then(|(s, _)| s.simulator_only());
        let rerecord = if never_recorded && self.settings.target == Target::Sim {
            self.rerecord_command(name, Rerecord::Unfinished, true)
        } else if never_recorded {
            // Never recorded: nothing to rewrite, and the free way first.
            let once = self.rerecord_command(name, Rerecord::Unfinished, true);
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
        } else {
            let why = if unfinished {
                Rerecord::Unfinished
            } else if matches!(main_disk, resume::Disk::Changed) {
                Rerecord::Changed
            } else {
                Rerecord::Again
            };
            self.rerecord_command(name, why, against_sim)
        };
        let resume_command = self.rerecord_command(name, Rerecord::Unfinished, against_sim);
        let action = resume::decide(
            self.settings.record_mode,
            self.settings.target,
            (&main, &main_disk),
            (&side, &side_disk),
            &resume_command,
        );
        let action = match (action, scenario, main_cassette) {
            // A complete cassette whose task's webhook recording is what is missing,
            // unreadable or unfinished: say that, naming the recording's file.
            (resume::Action::Refuse(message), Some((s, request)), Some(cassette))
                if !cassette.incomplete
                    && cassette.pending.is_empty()
                    && s.delivery == Delivery::Webhook =>
            {
                let problem = recorded_task_id(cassette, request).and_then(|task_id| {
                    let path =
                        recording_path(&webhooks, &s.species, s.task_type.as_str(), &task_id);
                    WebhookRecording::load(&path, &resume_command).err()
                });
                resume::Action::Refuse(match problem {
                    Some(problem) => format!(
                        "trial '{name}': its cassette '{}' is complete, but {problem}",
                        main.display()
                    ),
                    None => message,
                })
            }
            (action, _, _) => action,
        };
        // Only a replay keeps what was read: it never writes, and nothing else may
        // write a cassette the run replays. A trial that records re-reads its journal
        // once the run holds the recording lock (another run may have written it).
        let file = matches!(action, resume::Action::Replay).then_some(main_file);
        Plan {
            action,
            rerecord,
            file,
        }
    }

    /// A plan that records is made again once the run holds the recording lock
    /// (`live` takes it): another run may have written the trial's files since, and a
    /// decision on what they held before could send a create call twice.
    fn replan_locked(&self, plan: Plan, again: impl FnOnce() -> Plan) -> Result<Plan, TrialError> {
        if !plan.records() || self.interrupt.is_set() {
            return Ok(plan);
        }
        self.live()?;
        Ok(again())
    }

    /// Before a recording trial: the recording context, and every create call of the
    /// cassette that may have reached Meshy reconciled, so nothing is bought twice.
    fn prepare(&self, name: &str, plan: &Plan) -> Result<Option<Recording>, TrialError> {
        let path = match &plan.action {
            resume::Action::Refuse(message) => return Err(TrialError::Refused(message.clone())),
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
            let _one_at_a_time = lock(&self.reconciling);
            // Tasks other create calls on file answered are never this one.
            let known: std::collections::BTreeSet<String> =
                std::fs::read_dir(self.settings.cassettes_dir.join("http"))
                    .into_iter()
                    .flatten()
                    .filter_map(Result::ok)
                    .filter_map(|e| resume::load(&e.path()))
                    .flat_map(|c| crate::cassette::created_tasks(&c, None))
                    .collect();
            let reconciled = self.runtime.block_on(resume::reconcile_all(
                &path,
                &client,
                &known,
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
                    resume::Reconciled::Adopted { task_id } => self.console.line(&format!(
                        "{name}: the create call without an answer on file did create task {task_id}: adopted, \
                         no new task"
                    )),
                    resume::Reconciled::NotCreated => self.console.line(&format!(
                        "{name}: the create call without an answer on file created no task (the task list shows \
                         none {} s later): sending it again",
                        resume::LISTING_SETTLES.as_secs()
                    )),
                }
            }
        }
        Ok(Some(recording))
    }

    /// After a trial: on success its webhook recordings and cassette are marked
    /// complete (a re-recording replaces the old cassette only now); on failure the
    /// journal stays incomplete, for the next run to resume. The files written.
    fn conclude(
        &self,
        name: &str,
        ctx: &TrialContext,
        passed: bool,
    ) -> Result<Vec<PathBuf>, TrialError> {
        if ctx.records && !passed {
            lock(&self.unfinished).push((name.to_owned(), ctx.cassette_path().to_owned()));
        }
        ctx.finish(passed)
    }

    fn context(
        &self,
        name: &str,
        plan: &mut Plan,
        recording: Option<Recording>,
    ) -> Result<TrialContext, TrialError> {
        let main = self.cassette_path(name);
        let (cassette, mode) = plan.action.cassette(&main, self.settings.record_mode);
        let spec = ContextSpec {
            name: name.to_owned(),
            rerecord: plan.rerecord.clone(),
            replaces: (cassette != main).then_some(main),
            cassette,
            mode,
            records: plan.records(),
            timeout: self.settings.webhook_timeout,
            interrupt: self.interrupt.receiver(),
            slots: plan.records().then(|| Arc::clone(&self.slots)),
            file: plan.file.take(),
        };
        TrialContext::new(
            spec,
            recording,
            &self.webhooks_dir(),
            self.env.api_key.as_deref().unwrap_or(REPLAY_KEY),
            self.runtime.handle().clone(),
        )
    }

    /// The recording context, started on first use.
    fn live(&self) -> Result<Recording, TrialError> {
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
                        LiveState::Failed(TrialError::Plan(refusal))
                    }
                },
                Err(e) => LiveState::Failed(TrialError::Live(Arc::new(e))),
            };
        }
        match &*state {
            LiveState::Started(live) => Ok(live.recording()),
            LiveState::Failed(error) => Err(error.clone()),
            _ => Err(TrialError::NotRunning(
                "the run is over: the recording context was stopped",
            )),
        }
    }

    /// After a trial recorded anew: its webhook recordings of earlier tasks (a
    /// re-recording, an abandoned journal) are no longer its recording.
    fn remove_stale_recordings(&self, trial: &str, keep: &[String]) {
        let dir = self.webhooks_dir();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            if entry.path().extension().is_none_or(|x| x != "json") {
                continue;
            }
            let stale = WebhookRecording::read(&entry.path(), "")
                .is_ok_and(|r| r.scenario.as_deref() == Some(trial) && !keep.contains(&r.task_id));
            if stale && std::fs::remove_file(entry.path()).is_ok() {
                self.console.line(&format!(
                    "{trial}: removed '{}', the webhook recording of its earlier task",
                    entry.path().display()
                ));
            }
        }
    }

    /// Remembers, from what a replayed trial already read, what `cassettes check` would
    /// point out: an older API version, fields the SDK does not model.
    fn note_freshness(&self, name: &str, ctx: &TrialContext, produced: &Produced) {
        let mut notes = lock(&self.freshness);
        if let Some(version) = ctx.cassette.api_version()
            && version != crate::sim::API_VERSION
        {
            notes.0.insert(name.to_owned(), version);
        }
        let task = produced
            .task
            .as_ref()
            .and_then(|t| serde_json::from_value::<crate::meshy::Task>(t.clone()).ok());
        if let Some(task) = task {
            notes.1.extend(task.extra.keys().cloned());
        }
    }

    /// One line after a replay when `cassettes check` would report something.
    fn freshness_line(&self) -> Option<String> {
        let notes = lock(&self.freshness);
        let (old, fields) = &*notes;
        if old.is_empty() && fields.is_empty() {
            return None;
        }
        let mut parts = Vec::new();
        if !old.is_empty() {
            let versions: std::collections::BTreeSet<&String> = old.values().collect();
            let versions: Vec<&str> = versions.into_iter().map(String::as_str).collect();
            parts.push(format!(
                "{} replayed recordings were made against {}, not today's {}",
                old.len(),
                versions.join(", "),
                crate::sim::API_VERSION
            ));
        }
        if !fields.is_empty() {
            let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
            parts.push(format!(
                "recorded tasks carry fields the SDK does not model ({})",
                fields.join(", ")
            ));
        }
        Some(format!(
            "note: {}; see `cargo run -- cassettes check`",
            parts.join("; ")
        ))
    }

    /// Seeds the run's simulator with a replayed input's terminal task (same id).
    fn seed_sim(&self, scenario: &Scenario, input: &Produced) {
        let Some(name) = &scenario.input else { return };
        let (Some(task), Some(input_scenario)) = (&input.task, self.scenarios.get(name)) else {
            return;
        };
        if let LiveState::Started(live) = &*lock(&self.live)
            && let Some(sim) = &live.sim
        {
            sim.seed_task(input_scenario.task_type, task);
        }
    }

    /// A dependent scenario whose recorded input Meshy refused: name the chain to
    /// record again, input first.
    fn chain_hint(&self, error: TrialError, scenario: &Scenario, input: &Produced) -> TrialError {
        // Under `rewrite`, a trial's inputs are recorded again first: one command
        // records the whole chain, each link once.
        let command = self.rerecord_command(
            &scenario.name,
            Rerecord::Again,
            self.settings.target == Target::Sim,
        );
        TrialError::Chain {
            source: Box::new(error),
            task_id: input.task_id.clone(),
            input: input.scenario.clone(),
            command,
        }
    }

    fn add_sim_rule(&self, rule: Rule) {
        if let LiveState::Started(live) = &*lock(&self.live)
            && let Some(sim) = &live.sim
        {
            sim.add_rule(rule);
        }
    }

    /// Before recording against the real API: which scenarios will be recorded, and the
    /// account balance.
    /// What a scenario will do in this run, resolving its input from the recordings
    /// (`None`: its input is not recorded, so both record).
    fn planned_action(&self, scenario: &Scenario) -> Option<resume::Action> {
        let input = match &scenario.input {
            Some(input) => {
                let required = self.scenarios.get(input)?;
                match self.recorded_task(required) {
                    Some(task) => Some(task),
                    // An input that replays without a recording (`once` on a changed
                    // request) fails its miss: its dependents record nothing either.
                    None if matches!(
                        self.planned_action(required),
                        Some(resume::Action::Replay)
                    ) =>
                    {
                        return Some(resume::Action::Replay);
                    }
                    None => return None,
                }
            }
            None => None,
        };
        let request = scenario.request(input.as_deref()).ok()?;
        Some(self.plan(&scenario.name, Some((scenario, &request))).action)
    }

    /// Why a scenario's trial is skipped in this run: one the real API cannot be asked
    /// for (a `[simulator]` outcome or task error) that would record against it.
    fn skipped(&self, name: &str) -> Option<String> {
        let scenario = self.scenarios.get(name)?;
        let why = scenario.simulator_only()?;
        if self.settings.target != Target::Meshy || !self.settings.may_record() {
            return None;
        }
        match self.planned_action(scenario) {
            Some(resume::Action::Replay | resume::Action::Refuse(_)) => None,
            _ => Some(format!(
                "simulator-only ({why}: the real Meshy API cannot be asked for it); record it with --target=sim"
            )),
        }
    }

    /// Before recording against the real API: the plan (what records, at what cost,
    /// the balance), refused when it costs more than `--max-credits` or the balance.
    fn announce_plan(&self, live: &Live) -> Result<(), PlanError> {
        if self.settings.target != Target::Meshy {
            return Ok(());
        }
        let entries = self.plan_entries();
        let balance = self.runtime.block_on(live.balance());
        *lock(&self.balance_before) = balance;
        eprint!("{}", plan::render(&entries, &live.base_url, balance));
        plan::check(plan::cost(&entries), balance, self.settings.max_credits)
    }

    /// The trials this run will send live requests for, after libtest's filters and
    /// the record modes: selected scenarios, the unrecorded inputs they require, and
    /// trials written in Rust.
    fn plan_entries(&self) -> Vec<plan::Entry> {
        let mut entries: Vec<plan::Entry> = Vec::new();
        let mut listed = std::collections::BTreeSet::new();
        for (name, loaded) in &self.files {
            let Ok(scenario) = loaded else { continue };
            if self.filtered_out(name, scenario.delivery.as_str()) || !listed.insert(name.clone()) {
                continue;
            }
            let why = self.skipped(name).or_else(|| {
                (scenario.delivery == Delivery::Webhook && !self.settings.record_webhooks)
                    .then(|| "a webhook scenario records only with --record-webhooks".to_owned())
            });
            if let Some(why) = why {
                entries.push(plan::Entry {
                    name: name.clone(),
                    what: plan::What::Skipped(why),
                    required_by: None,
                });
                continue;
            }
            let what = match self.planned_action(scenario) {
                Some(resume::Action::Replay | resume::Action::Refuse(_)) => continue,
                Some(resume::Action::Resume { path })
                    if resume::load(&path).is_some_and(|c| !c.pending.is_empty()) =>
                {
                    plan::What::Reconciles(Some(scenario.task_type))
                }
                Some(resume::Action::Resume { .. }) => {
                    plan::What::Resumes(Some(scenario.task_type))
                }
                _ => plan::What::Records(Some(scenario.task_type)),
            };
            // Inputs run first, selected or not: unrecorded ones record (and under
            // `all`/`rewrite` recorded ones too), unfinished ones resume.
            let mut input = scenario.input.clone();
            while let Some(input_name) = input {
                let Some(required) = self.scenarios.get(&input_name) else {
                    break;
                };
                input = required.input.clone();
                let what = match self.planned_action(required) {
                    Some(resume::Action::Replay | resume::Action::Refuse(_)) => break,
                    Some(resume::Action::Resume { .. }) => {
                        plan::What::Resumes(Some(required.task_type))
                    }
                    _ => plan::What::Records(Some(required.task_type)),
                };
                let what = match self.skipped(&input_name) {
                    Some(why) => plan::What::Skipped(why),
                    None => what,
                };
                if listed.insert(input_name.clone()) {
                    entries.push(plan::Entry {
                        name: input_name,
                        what,
                        required_by: Some(name.clone()),
                    });
                }
            }
            entries.push(plan::Entry {
                name: name.clone(),
                what,
                required_by: None,
            });
        }
        for name in lock(&self.customs).iter() {
            if self.filtered_out(name, "rust") || !self.settings.record_webhooks {
                continue;
            }
            match self.plan(name, None).action {
                resume::Action::Record { .. } => entries.push(plan::Entry {
                    name: name.clone(),
                    what: plan::What::Records(None),
                    required_by: None,
                }),
                resume::Action::Resume { .. } => entries.push(plan::Entry {
                    name: name.clone(),
                    what: plan::What::Resumes(None),
                    required_by: None,
                }),
                _ => {}
            }
        }
        entries
    }

    /// Whether libtest's filters leave this trial out of the run.
    fn filtered_out(&self, name: &str, kind: &str) -> bool {
        let probe = Trial::test(name, || Ok(())).with_kind(kind);
        self.arguments.is_filtered_out(&probe)
    }

    /// The task id a scenario's complete recordings hold, following its inputs'
    /// recordings (a dependent is recorded only if its input is).
    fn recorded_task(&self, scenario: &Scenario) -> Option<String> {
        let input = match &scenario.input {
            Some(input) => Some(self.recorded_task(self.scenarios.get(input)?)?),
            None => None,
        };
        let request = scenario.request(input.as_deref()).ok()?;
        let cassette = resume::load(&self.cassette_path(&scenario.name));
        if !is_recorded(cassette.as_ref(), &self.webhooks_dir(), scenario, &request) {
            return None;
        }
        recorded_task_id(cassette.as_ref()?, &request)
    }

    /// How the trial runs, as its plan decided, for its result file.
    fn note_ran(&self, name: &str, action: &resume::Action) {
        use crate::report::Ran;
        let ran = match action {
            resume::Action::Replay => Ran::Replay,
            resume::Action::Record { .. } => Ran::Record,
            resume::Action::Resume { .. } => Ran::Resume,
            resume::Action::Refuse(_) => Ran::NotRun,
        };
        lock(&self.ran).insert(name.to_owned(), ran);
    }

    /// Writes the trial's result file (`crate::report::results`), unless results are off.
    /// A result that cannot be written is said once on stderr; the trial's outcome stands.
    fn keep_result(&self, name: &str, kind: &str, ended: &Ended) {
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
        let scenario_file = self
            .files
            .iter()
            .any(|(n, _)| n == name)
            .then(|| self.settings.scenarios_dir.join(format!("{name}.toml")));
        let result = TrialResult {
            trial: name.to_owned(),
            kind: kind.to_owned(),
            status,
            message,
            ran,
            target: sent.then_some(match self.settings.target {
                Target::Sim => RecordedAgainst::Simulator,
                Target::Meshy => RecordedAgainst::Meshy,
            }),
            cassettes: self.settings.cassettes_dir.clone(),
            scenario_sha256: scenario_file
                .as_ref()
                .and_then(|f| std::fs::read(f).ok())
                .map(|bytes| crate::digest::sha256_hex(&bytes)),
            scenario_file,
            task_id: produced.map(|p| p.task_id.clone()).filter(|id| id != "-"),
            duration_ms: produced
                .filter(|_| sent)
                .map(|p| u64::try_from(p.duration.as_millis()).unwrap_or(u64::MAX)),
        };
        let dir = crate::report::results::dir_for(
            &crate::report::results::default_dir(),
            &self.settings.cassettes_dir,
        );
        match crate::report::results::write(&dir, &result) {
            Ok(_) => {
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
    fn reports(&self) -> bool {
        self.settings.report && !self.env.nextest && !self.arguments.list
    }

    fn report_sources(&self) -> crate::report::Sources {
        crate::report::Sources {
            scenarios: self.settings.scenarios_dir.clone(),
            cassettes: self.settings.cassettes_dir.clone(),
            results: crate::report::results::dir_for(
                &crate::report::results::default_dir(),
                &self.settings.cassettes_dir,
            ),
        }
    }

    /// A replay changes no recording, so the report's reading and rendering run beside
    /// its trials; only their results are added at the end.
    fn start_report(&self) {
        if !self.reports() || self.settings.may_record() {
            return;
        }
        let sources = self.report_sources();
        let spawned = std::thread::Builder::new()
            .name("report".into())
            .spawn(move || crate::report::prepare(&sources, &crate::report::default_dir()));
        // Without a thread, the report is made at the end instead.
        *lock(&self.report_job) = spawned.ok();
    }

    /// At the end of a run whose trials wrote results: the HTML report, and the line
    /// that says where it is. Not under cargo-nextest, whose processes each run one
    /// trial: `mesh-toolkit report` assembles it once they are done.
    fn write_report(&self) {
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
        let generated = crate::report::generated_by("cargo test (the scenarios harness)");
        match prepared.and_then(|p| crate::report::complete(p, &out, &generated)) {
            Ok(written) => eprintln!("{}", crate::report::announce(&written.path)),
            Err(error) => eprintln!("mesh-toolkit: {error} (--no-report turns the report off)"),
        }
    }

    fn cassette_path(&self, name: &str) -> PathBuf {
        self.settings
            .cassettes_dir
            .join("http")
            .join(format!("{name}.yaml"))
    }

    fn webhooks_dir(&self) -> PathBuf {
        self.settings.cassettes_dir.join("webhooks")
    }

    /// What `--record-mode=rewrite` of `scenario` spends: its task and, recorded again
    /// first, its inputs'.
    fn chain_cost(&self, scenario: &Scenario) -> String {
        let mut total = Some(0);
        let mut links = 0;
        let mut next = Some(scenario);
        while let Some(link) = next {
            links += 1;
            total = total
                .zip(pricing::credits(link.task_type))
                .map(|(t, c)| t + c);
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
    fn rerecord_command(&self, name: &str, why: Rerecord, against_sim: bool) -> String {
        let mode = match why {
            Rerecord::Unfinished => RecordMode::Once,
            Rerecord::Changed => RecordMode::NewEpisodes,
            Rerecord::Again => RecordMode::Rewrite,
        };
        // A changed request: the whole suite under `new_episodes`, which records every
        // scenario whose request changed, dependents included, and replays the rest.
        let mut command = match why {
            Rerecord::Changed => {
                format!("cargo test --test scenarios -- --record-webhooks --record-mode={mode}")
            }
            _ => format!(
                "cargo test --test scenarios -- {name} --exact --record-webhooks --record-mode={mode}"
            ),
        };
        if against_sim {
            command.push_str(" --target=sim");
        }
        if self.settings.cassettes_dir != std::path::Path::new("cassettes") {
            command.push_str(&format!(
                " --cassettes={}",
                self.settings.cassettes_dir.display()
            ));
        }
        if self.settings.scenarios_dir != std::path::Path::new("scenarios") {
            command.push_str(&format!(
                " --scenarios={}",
                self.settings.scenarios_dir.display()
            ));
        }
        if !against_sim {
            // What the command spends, as a shell comment: it still runs as pasted.
            let cost = match (why, self.scenarios.get(name)) {
                (Rerecord::Unfinished, _) => "resumes its task, 0 credits".to_owned(),
                (Rerecord::Changed, _) => {
                    "every scenario whose request changed; the plan shows the cost before anything is sent"
                        .to_owned()
                }
                (Rerecord::Again, Some(scenario)) => self.chain_cost(scenario),
                (_, None) => "unknown credits".to_owned(),
            };
            command.push_str(&format!("  # real Meshy API: {cost}"));
        }
        command
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
            assert!(matches!(error, TrialError::Refused(_)), "{error:?}");
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
        let args = |extra: &[&str]| -> Vec<String> {
            let mut args = vec![
                "scenarios".to_owned(),
                format!("--scenarios={}", scenarios.display()),
                format!("--cassettes={}", dir.path().join("cassettes").display()),
            ];
            args.extend(extra.iter().map(|a| (*a).to_owned()));
            args
        };
        let env = |name: &str| (name == "MESHY_SIM_TASK_SECONDS").then(|| "0".to_owned());
        let (recording, _) =
            Suite::new(&args(&["--target=sim", "--record-mode=once"]), env).unwrap();
        let recorded = recording.produce("beaver_polling").unwrap();
        assert!(recorded.recorded);
        drop(recording);
        let cassette = dir.path().join("cassettes/http/beaver_polling.yaml");
        let (replay, _) = Suite::new(&args(&[]), env).unwrap();
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
}
