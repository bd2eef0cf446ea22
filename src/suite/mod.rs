//! The scenario suite: what the `scenarios` test target runs. It turns scenario files
//! and harness flags into libtest trials, records or replays each, and keeps the
//! shared recording context (simulator, receiver, tunnel) for the whole run.
//!
//! The harness binary stays a few lines:
//!
//! ```no_run
//! use mesh_toolkit::suite::Suite;
//! fn main() -> std::process::ExitCode {
//!     let (suite, args) = match Suite::from_env() {
//!         Ok(parts) => parts,
//!         Err(message) => {
//!             eprintln!("error: {message}");
//!             return std::process::ExitCode::from(2);
//!         }
//!     };
//!     let conclusion = libtest_mimic::run(&args, suite.trials());
//!     // Stops the receiver, tunnel and simulator, prints the summary; 130 after Ctrl-C.
//!     suite.finish(&conclusion)
//! }
//! ```

mod interrupt;
mod live;
mod report;
mod resume;
mod scenario;
mod settings;
mod trial;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use libtest_mimic::{Arguments, Conclusion, Failed, Trial};

pub use live::{RunEnv, guards};
pub use resume::{Action, Disk, Reconciled, ResumeError};
pub use scenario::{
    Delivery, Scenario, ScenarioError, check_inputs, discover, name_of, prompt_field,
};
pub use settings::{Settings, SettingsError, Target};
pub use trial::{Produced, TrialContext, check_glb, is_recorded, recorded_task_id};

use crate::cassette::RecordMode;
use crate::meshy::{TaskRequest, TaskStatus};
use crate::sim::Rule;
use crate::webhooks::recording_path;
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
}

/// What a trial's files say and what it does with them, decided once before it runs.
struct Plan {
    action: resume::Action,
    /// The command that records this trial again, right for how it was recorded.
    rerecord: String,
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

/// A scenario's outcome, computed once.
type Outcome = OnceLock<Result<Produced, String>>;

/// The body of a trial written in Rust.
pub type CustomTrial =
    dyn Fn(&TrialContext) -> Result<(), Box<dyn std::error::Error>> + Send + Sync;

enum LiveState {
    NotStarted,
    Started(Box<Live>),
    Failed(String),
    Stopped,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The key sent when replaying: never checked (the cassette answers), never written.
const REPLAY_KEY: &str = "msy_replay_placeholder_key";

impl Suite {
    /// Reads the process's arguments and environment, and loads the scenarios.
    pub fn from_env() -> Result<(Arc<Suite>, Arguments), String> {
        let args: Vec<String> = std::env::args().collect();
        Suite::new(&args, |name| std::env::var(name).ok())
    }

    /// Builds a run from `args` (program name first) and an environment.
    pub fn new(
        args: &[String],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(Arc<Suite>, Arguments), String> {
        let (settings, libtest) = Settings::parse(args, &env).map_err(|e| e.to_string())?;
        let mut arguments = Arguments::from_iter(libtest);
        let paths = discover(&settings.scenarios_dir)?;
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
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
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
                let kind = match loaded {
                    Ok(scenario) => scenario.delivery.as_str(),
                    Err(_) => "invalid",
                };
                let suite = Arc::clone(self);
                let name = name.clone();
                Trial::test(name.clone(), move || {
                    suite.produce(&name).map(drop).map_err(Failed::from)
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
        let suite = Arc::clone(self);
        let trial_name = name.to_owned();
        Trial::test(name, move || {
            suite.run_custom(&trial_name, &body).map_err(Failed::from)
        })
        .with_kind("rust")
    }

    /// Stops the recording context (tunnel, receiver, simulator), prints the summary
    /// of what was recorded (and, after Ctrl-C, which tasks are still running), and
    /// returns the exit code: 130 when interrupted, else the trials'. Call it after
    /// the last trial; return its code from `main` so every destructor runs.
    pub fn finish(&self, conclusion: &Conclusion) -> std::process::ExitCode {
        let state = std::mem::replace(&mut *lock(&self.live), LiveState::Stopped);
        if let LiveState::Started(live) = state {
            self.runtime.block_on(live.stop());
        }
        if let Some(table) = report::summary(&lock(&self.recorded)) {
            eprint!("{table}");
        }
        if self.interrupt.is_set() {
            eprint!(
                "{}",
                report::running(&lock(&self.unfinished), &self.webhooks_dir())
            );
            return std::process::ExitCode::from(130);
        }
        conclusion.exit_code()
    }

    /// The scenario's outcome, computed once however many trials need it (a dependent
    /// scenario asks for its input's). Blocks while another thread computes it.
    fn produce(&self, name: &str) -> Result<Produced, String> {
        let cell = Arc::clone(lock(&self.produced).entry(name.to_owned()).or_default());
        cell.get_or_init(|| self.run_scenario(name)).clone()
    }

    fn run_scenario(&self, name: &str) -> Result<Produced, String> {
        let scenario = match self.files.iter().find(|(n, _)| n == name) {
            Some((_, Ok(scenario))) if self.scenarios.contains_key(name) => scenario,
            Some((_, Err(error))) => return Err(error.to_string()),
            _ => return Err(format!("no scenario '{name}'")),
        };
        let input_task = match &scenario.input {
            None => None,
            Some(input) => {
                let produced = self
                    .produce(input)
                    .map_err(|e| format!("input scenario '{input}' failed: {e}"))?;
                if produced.status != TaskStatus::Succeeded {
                    return Err(format!(
                        "input scenario '{input}' ended {}, so its task cannot be an input",
                        produced.status
                    ));
                }
                Some(produced.task_id)
            }
        };
        let request = scenario
            .request(input_task.as_deref())
            .map_err(|e| format!("{}: {e}", scenario.path.display()))?;
        let plan = self.plan(name, Some((scenario, &request)));
        if plan.records()
            && scenario.delivery == Delivery::Webhook
            && !self.settings.record_webhooks
        {
            return Err(format!(
                "scenario '{name}' is to be recorded (record mode {}), and recording a webhook scenario needs \
                 --record-webhooks; record it with `{}`",
                self.settings.record_mode, plan.rerecord
            ));
        }
        let recording = self.prepare(name, &plan)?;
        if let (Some(_), Some(behaviour)) = (&recording, &scenario.simulator) {
            self.add_sim_rule(Rule {
                prompt_contains: scenario.prompt.clone(),
                task_type: Some(scenario.task_type),
                then: behaviour.clone(),
            });
        }
        let ctx = self.context(name, &plan, recording)?;
        let outcome = ctx.block_on(trial::run_scenario(&ctx, scenario, &request));
        let written = self.conclude(name, &ctx, outcome.is_ok())?;
        let mut produced = outcome?;
        produced.files.extend(written);
        if produced.recorded {
            lock(&self.recorded).push(produced.clone());
        }
        Ok(produced)
    }

    fn run_custom(&self, name: &str, body: &CustomTrial) -> Result<(), String> {
        let plan = self.plan(name, None);
        if plan.records() && !self.settings.record_webhooks {
            return Err(format!(
                "trial '{name}' has no complete recording; record it with `{}`",
                plan.rerecord
            ));
        }
        let recording = self.prepare(name, &plan)?;
        let ctx = self.context(name, &plan, recording)?;
        let outcome = body(&ctx).map_err(|e| e.to_string());
        let written = self.conclude(name, &ctx, outcome.is_ok())?;
        if ctx.records && outcome.is_ok() {
            let produced = Produced {
                scenario: name.to_owned(),
                task_id: "-".into(),
                status: TaskStatus::Succeeded,
                duration: ctx.elapsed(),
                recorded: true,
                files: written,
                api_payload: ctx.recorder.claimed().iter().any(|c| c.from_api),
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
        let disk = |path: &std::path::Path| {
            let cassette = resume::load(path);
            resume::inspect(cassette.as_ref(), scenario.map(|(_, r)| r), |task_id| {
                scenario.is_none_or(|(s, _)| {
                    s.delivery == Delivery::Polling
                        || crate::webhooks::recording_done(&recording_path(
                            &webhooks,
                            &s.species,
                            s.task_type.as_str(),
                            task_id,
                        ))
                })
            })
        };
        let (main_disk, side_disk) = (disk(&main), disk(&side));
        let unfinished = matches!(main_disk, resume::Disk::Unfinished { .. })
            || matches!(side_disk, resume::Disk::Unfinished { .. });
        let against_sim = resume::load(&main)
            .and_then(|c| c.recorded_against)
            .map_or(self.settings.target == Target::Sim, |a| a == "simulator");
        let rerecord = self.rerecord_command(name, unfinished, against_sim);
        let resume_command = self.rerecord_command(name, true, against_sim);
        let action = resume::decide(
            self.settings.record_mode,
            self.settings.target,
            (&main, &main_disk),
            (&side, &side_disk),
            &resume_command,
        );
        Plan { action, rerecord }
    }

    /// Before a recording trial: the recording context, and every create call of the
    /// cassette that may have reached Meshy reconciled, so nothing is bought twice.
    fn prepare(&self, name: &str, plan: &Plan) -> Result<Option<Recording>, String> {
        let path = match &plan.action {
            resume::Action::Refuse(message) => return Err(message.clone()),
            resume::Action::Replay => return Ok(None),
            _ if self.interrupt.is_set() => {
                return Err(format!(
                    "trial '{name}' did not start: the run was interrupted"
                ));
            }
            resume::Action::Record { .. } => return self.live().map(Some),
            resume::Action::Resume { path } => path.clone(),
        };
        let recording = self.live()?;
        if resume::load(&path).is_some_and(|c| !c.pending.is_empty()) {
            let client = match &*lock(&self.live) {
                LiveState::Started(live) => live.client()?,
                _ => return Err("the recording context is not running".into()),
            };
            let reconciled = self.runtime.block_on(resume::reconcile_all(
                &path,
                &client,
                Some(self.interrupt.receiver()),
            ));
            let outcomes = reconciled.map_err(|e| {
                lock(&self.unfinished).push((name.to_owned(), path.clone()));
                format!("trial '{name}': {e}")
            })?;
            for outcome in outcomes {
                match outcome {
                    resume::Reconciled::Adopted { task_id } => eprintln!(
                        "{name}: the create call without an answer on file did create task {task_id}: adopted, \
                         no new task"
                    ),
                    resume::Reconciled::NotCreated => eprintln!(
                        "{name}: the create call without an answer on file created no task (the task list shows \
                         none {} s later): sending it again",
                        resume::LISTING_SETTLES.as_secs()
                    ),
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
    ) -> Result<Vec<PathBuf>, String> {
        if ctx.records && !passed {
            lock(&self.unfinished).push((name.to_owned(), ctx.cassette_path().to_owned()));
        }
        ctx.finish(passed)
    }

    fn context(
        &self,
        name: &str,
        plan: &Plan,
        recording: Option<Recording>,
    ) -> Result<TrialContext, String> {
        let main = self.cassette_path(name);
        let (cassette, mode) = match &plan.action {
            resume::Action::Record { path, mode } => (path.clone(), *mode),
            // Create calls replay from the journal; the rest goes live and is appended.
            resume::Action::Resume { path } => (path.clone(), RecordMode::NewEpisodes),
            _ => (main.clone(), RecordMode::None),
        };
        let spec = ContextSpec {
            name: name.to_owned(),
            rerecord: plan.rerecord.clone(),
            replaces: (cassette != main).then_some(main),
            cassette,
            mode,
            records: plan.records(),
            timeout: self.settings.webhook_timeout,
            interrupt: self.interrupt.receiver(),
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
    fn live(&self) -> Result<Recording, String> {
        let mut state = lock(&self.live);
        if let LiveState::NotStarted = *state {
            *state = match self.runtime.block_on(Live::start(
                &self.settings,
                &self.env,
                self.interrupt.receiver(),
            )) {
                Ok(live) => {
                    self.announce_plan(&live);
                    self.interrupt.watch_ctrl_c(self.runtime.handle());
                    LiveState::Started(Box::new(live))
                }
                Err(message) => LiveState::Failed(message),
            };
        }
        match &*state {
            LiveState::Started(live) => Ok(live.recording()),
            LiveState::Failed(message) => Err(message.clone()),
            _ => Err("the run is over: the recording context was stopped".into()),
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
    fn announce_plan(&self, live: &Live) {
        if self.settings.target != Target::Meshy {
            return;
        }
        let planned: Vec<String> = self
            .scenarios
            .values()
            .filter_map(|s| {
                // A dependent whose input is not recorded yet records too.
                let input = match &s.input {
                    Some(input) => match self
                        .scenarios
                        .get(input)
                        .and_then(|i| self.recorded_task(i))
                    {
                        Some(task) => Some(task),
                        None => return Some(s.name.clone()),
                    },
                    None => None,
                };
                let request = s.request(input.as_deref()).ok()?;
                match self.plan(&s.name, Some((s, &request))).action {
                    resume::Action::Record { .. } => Some(s.name.clone()),
                    resume::Action::Resume { .. } => {
                        Some(format!("{} (resumes its task: 0 credits)", s.name))
                    }
                    _ => None,
                }
            })
            .collect();
        let balance = self
            .runtime
            .block_on(live.balance())
            .map_or("unknown".to_owned(), |b| b.to_string());
        eprintln!(
            "recording against the Meshy API at {}: {} (balance: {balance} credits)",
            live.base_url,
            planned.join(", ")
        );
    }

    /// The task id a scenario's complete recordings hold, following its inputs'
    /// recordings (a dependent is recorded only if its input is).
    fn recorded_task(&self, scenario: &Scenario) -> Option<String> {
        let input = match &scenario.input {
            Some(input) => Some(self.recorded_task(self.scenarios.get(input)?)?),
            None => None,
        };
        let request = scenario.request(input.as_deref()).ok()?;
        let cassette = self.cassette_path(&scenario.name);
        if !is_recorded(&cassette, &self.webhooks_dir(), scenario, &request) {
            return None;
        }
        recorded_task_id(&resume::load(&cassette)?, &request)
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

    /// The command that records one trial again, against what its cassette was
    /// recorded against: `once` for an unfinished recording (it resumes, paying
    /// nothing twice), `rewrite` for a complete one.
    fn rerecord_command(&self, name: &str, unfinished: bool, against_sim: bool) -> String {
        let mode = if unfinished { "once" } else { "rewrite" };
        let mut command = format!(
            "cargo test --test scenarios -- {name} --exact --record-webhooks --record-mode={mode}"
        );
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
        command
    }
}
