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
//!     suite.finish(); // stops the receiver, tunnel and simulator, prints the summary
//!     conclusion.exit_code()
//! }
//! ```

mod live;
mod report;
mod scenario;
mod settings;
mod trial;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use libtest_mimic::{Arguments, Failed, Trial};

pub use live::{RunEnv, guards};
pub use scenario::{
    Delivery, Scenario, ScenarioError, check_inputs, discover, name_of, prompt_field,
};
pub use settings::{Settings, SettingsError, Target};
pub use trial::{Produced, TrialContext, check_glb, is_recorded, recorded_task_id};

use crate::cassette::{Cassette, RecordMode};
use crate::meshy::TaskStatus;
use crate::sim::Rule;
use crate::webhooks::recording_path;
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

    /// Stops the recording context (tunnel, receiver, simulator) and prints the summary
    /// of what was recorded. Call it after the last trial.
    pub fn finish(&self) {
        let state = std::mem::replace(&mut *lock(&self.live), LiveState::Stopped);
        if let LiveState::Started(live) = state {
            self.runtime.block_on(live.stop());
        }
        if let Some(table) = report::summary(&lock(&self.recorded)) {
            eprint!("{table}");
        }
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
        let cassette = self.cassette_path(name);
        let webhooks = self.webhooks_dir();
        let recorded = is_recorded(&cassette, &webhooks, scenario, &request);
        let records = self.records(recorded);
        if records && scenario.delivery == Delivery::Webhook && !self.settings.record_webhooks {
            return Err(format!(
                "scenario '{name}' is to be recorded (record mode {}), and recording a webhook scenario needs \
                 --record-webhooks; record it with `{}`",
                self.settings.record_mode,
                self.rerecord_command(name, &cassette)
            ));
        }
        let recording = if records { Some(self.live()?) } else { None };
        if let (Some(_), Some(behaviour)) = (&recording, &scenario.simulator) {
            self.add_sim_rule(Rule {
                prompt_contains: scenario.prompt.clone(),
                task_type: Some(scenario.task_type),
                then: behaviour.clone(),
            });
        }
        let ctx = self.context(name, records, recording)?;
        let outcome = ctx.block_on(trial::run_scenario(&ctx, scenario, &request));
        let written = ctx.finish(outcome.is_ok())?;
        let mut produced = outcome?;
        produced.files.extend(written);
        if records && scenario.delivery == Delivery::Webhook {
            produced.files.push(recording_path(
                &webhooks,
                &scenario.species,
                scenario.task_type.as_str(),
                &produced.task_id,
            ));
        }
        if produced.recorded {
            lock(&self.recorded).push(produced.clone());
        }
        Ok(produced)
    }

    fn run_custom(&self, name: &str, body: &CustomTrial) -> Result<(), String> {
        let cassette = self.cassette_path(name);
        let complete = std::fs::read_to_string(&cassette)
            .ok()
            .and_then(|t| Cassette::parse(&t).ok())
            .is_some_and(|c| !c.incomplete);
        let records = self.records(complete);
        if records && !self.settings.record_webhooks {
            return Err(format!(
                "trial '{name}' has no complete recording; record it with `{}`",
                self.rerecord_command(name, &cassette)
            ));
        }
        let recording = if records { Some(self.live()?) } else { None };
        let ctx = self.context(name, records, recording)?;
        let outcome = body(&ctx).map_err(|e| e.to_string());
        let written = ctx.finish(outcome.is_ok())?;
        if records && outcome.is_ok() {
            let files = written.into_iter().collect();
            let produced = Produced {
                scenario: name.to_owned(),
                task_id: "-".into(),
                status: TaskStatus::Succeeded,
                duration: ctx.elapsed(),
                recorded: true,
                files,
            };
            lock(&self.recorded).push(produced);
        }
        outcome
    }

    /// Whether a scenario records, given whether its recordings are complete.
    fn records(&self, recorded: bool) -> bool {
        match self.settings.record_mode {
            RecordMode::None => false,
            RecordMode::Once | RecordMode::NewEpisodes => !recorded,
            RecordMode::All | RecordMode::Rewrite => true,
        }
    }

    fn context(
        &self,
        name: &str,
        records: bool,
        recording: Option<Recording>,
    ) -> Result<TrialContext, String> {
        let cassette = self.cassette_path(name);
        let mode = match self.settings.record_mode {
            _ if !records => RecordMode::None,
            // A scenario that records under `once` starts from a clean cassette.
            RecordMode::Once => RecordMode::Rewrite,
            mode => mode,
        };
        let spec = ContextSpec {
            name: name.to_owned(),
            rerecord: self.rerecord_command(name, &cassette),
            cassette,
            mode,
            records,
            timeout: self.settings.webhook_timeout,
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
            *state = match self
                .runtime
                .block_on(Live::start(&self.settings, &self.env))
            {
                Ok(live) => {
                    self.announce_plan(&live);
                    self.runtime.spawn(async {
                        if tokio::signal::ctrl_c().await.is_ok() {
                            crate::tunnel::stop_all();
                            eprintln!("interrupted: tunnel stopped; recordings in progress are left incomplete");
                            std::process::exit(130);
                        }
                    });
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
        let planned: Vec<&str> = self
            .scenarios
            .values()
            .filter(|s| self.records(self.recorded_task(s).is_some()))
            .map(|s| s.name.as_str())
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
        let text = std::fs::read_to_string(cassette).ok()?;
        recorded_task_id(&Cassette::parse(&text).ok()?, &request)
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

    /// The command that re-records one scenario, against what its cassette was
    /// recorded against (or this run's target).
    fn rerecord_command(&self, name: &str, cassette: &std::path::Path) -> String {
        let against_sim = std::fs::read_to_string(cassette)
            .ok()
            .and_then(|text| Cassette::parse(&text).ok())
            .and_then(|c| c.recorded_against)
            .map_or(self.settings.target == Target::Sim, |against| {
                against == "simulator"
            });
        let mut command = format!(
            "cargo test --test scenarios -- {name} --exact --record-webhooks --record-mode=rewrite"
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
