//! One trial's world and the scenario trial itself: a cassette transport under a
//! client, a repository in a temporary directory, a recorder (recording or
//! replaying), then submit → terminal payload → handler → assertions.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cassette::{CassetteFile, CassetteOptions, CassetteTransport, MatchRules, RecordMode};
use crate::meshy::{
    ApiError, ApiGeneration, Client, ClientConfig, DEFAULT_BASE_URL, PollOptions, ServiceError,
    Task, TaskRequest, TaskService, TaskStatus,
};
use crate::recorder::Recorder;
use crate::repository::{Repository, UpdateSource};
use crate::scenario::{Delivery, Scenario};
use crate::webhooks::WebhookHandler;

/// What a trial works with. Custom trials get the same.
pub struct TrialContext {
    pub name: String,
    pub client: Client,
    pub service: TaskService,
    pub handler: WebhookHandler,
    pub recorder: Recorder,
    /// Whether this trial records (live traffic) or replays.
    pub records: bool,
    /// The webhook timeout of the run.
    pub timeout: Duration,
    pub(crate) cassette: Arc<CassetteTransport>,
    pub(crate) runtime: tokio::runtime::Handle,
    /// Recording against the simulator: tasks carry a per-task callback URL.
    sim_callbacks: bool,
    replaces: Option<PathBuf>,
    interrupt: tokio::sync::watch::Receiver<bool>,
    gate: Option<Arc<super::slots::SlotGate>>,
    /// How a create call whose answer was lost is settled (a trial that records).
    settling: Option<super::settle::Settling>,
    started: Instant,
    /// The repository's scratch directory, when it is on disk (removed on drop).
    _repository: Option<tempfile::TempDir>,
}

impl TrialContext {
    /// Runs a future to completion on the run's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// The cassette file of this trial.
    pub fn cassette_path(&self) -> &Path {
        self.cassette.path()
    }

    /// The per-task callback URL to send with a task: only when recording against the
    /// simulator (the real API takes no such field; it delivers to the dashboard URL).
    pub fn callback_url(&self, species: &str, task_type: &str) -> Option<String> {
        self.sim_callbacks
            .then(|| self.recorder.callback_url(species, task_type))
    }

    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// How to build a trial's context.
pub(crate) struct ContextSpec {
    pub name: String,
    /// The file the trial reads and (when it records) journals into.
    pub cassette: PathBuf,
    /// The complete cassette a passing re-recording replaces (the journal is beside it).
    pub replaces: Option<PathBuf>,
    pub mode: RecordMode,
    pub rerecord: String,
    /// Whether the trial sends anything live; its cassette is then a journal.
    pub records: bool,
    pub timeout: Duration,
    pub interrupt: tokio::sync::watch::Receiver<bool>,
    /// The run's task queue, when the trial records (see `slots.rs`).
    pub slots: Option<Arc<tokio::sync::Semaphore>>,
    /// The cassette file as the plan read it (`None`: read it now).
    pub file: Option<CassetteFile>,
    /// The scenario's `api`, when it pins one.
    pub generation: Option<ApiGeneration>,
    /// The trial's throwaway repository lives in memory (a replayed scenario trial,
    /// whose assertions read back through it); else in a scratch directory (a trial
    /// that records, or one written in Rust, which may ask it for paths).
    pub in_memory: bool,
    /// The webhook recordings the plan read (a replay reads them from there).
    pub reads: crate::webhooks::RecordingReads,
    /// The run's listing lock and the task ids on file, for settling a create call
    /// whose answer was lost (a trial that records).
    pub settling: Option<(Arc<tokio::sync::Mutex<()>>, super::settle::KnownTasks)>,
}

/// The API generation a trial speaks, the one home of that policy, first that tells:
/// 1. what the cassette the trial reads or records into already speaks (a replay, a
///    resumed journal, new episodes in a complete cassette): one cassette never mixes
///    generations, and a create already paid for is never sent again in another shape;
/// 2. the scenario's pin (`api = "v2"`): a migration records afresh under it;
/// 3. what the complete cassette a re-recording would replace speaks, so a v1 suite
///    re-records as v1 until it is pinned, and no default re-records it by itself;
/// 4. for a scenario never recorded, [`NEW_RECORDING`].
pub(crate) fn api_generation(
    loaded: Option<ApiGeneration>,
    pinned: Option<ApiGeneration>,
    replaced: impl FnOnce() -> Option<ApiGeneration>,
) -> ApiGeneration {
    loaded.or(pinned).or_else(replaced).unwrap_or(NEW_RECORDING)
}

/// What the cassette at `path` speaks, if it tells.
pub(crate) fn recorded_generation(path: &Path) -> Option<ApiGeneration> {
    crate::cassette::generation_of(CassetteFile::read(path).cassette()?)
}

/// The generation of a scenario with no pin and no recording.
pub(crate) const NEW_RECORDING: ApiGeneration = ApiGeneration::V2;

impl TrialContext {
    pub(crate) fn new(
        spec: ContextSpec,
        live: Option<super::live::Recording>,
        webhooks_dir: &Path,
        replay_key: &str,
        runtime: tokio::runtime::Handle,
    ) -> Result<TrialContext, TrialError> {
        let mut options = CassetteOptions {
            mode: spec.mode,
            rules: MatchRules::with_json_body(),
            rerecord_command: spec.rerecord.clone(),
            journal: spec.records,
            ..CassetteOptions::new(&spec.cassette)
        };
        let sim_callbacks = live.as_ref().is_some_and(|l| l.against.is_simulator());
        let settling = match (&live, spec.settling) {
            (Some(live), Some((one_at_a_time, known))) => Some(super::settle::Settling {
                client: live.lister().map_err(|e| TrialError::Client(Arc::new(e)))?,
                window: live.listing_window,
                one_at_a_time,
                on_file: known,
            }),
            _ => None,
        };
        let (base_url, key, live_transport, recorder) = match live {
            Some(live) => {
                options.scrub = live.scrub;
                options.recorded_against = Some(live.against);
                (
                    live.base_url,
                    live.api_key,
                    Some(live.transport),
                    live.recorder.for_trial(),
                )
            }
            None => {
                let recorder = Recorder::replaying(webhooks_dir)
                    .with_reads(spec.reads)
                    .with_command(spec.rerecord.clone());
                (
                    DEFAULT_BASE_URL.to_owned(),
                    replay_key.to_owned(),
                    None,
                    recorder,
                )
            }
        };
        let opened = match spec.file {
            Some(file) => CassetteTransport::open_read(options, file, live_transport),
            None => CassetteTransport::open(options, live_transport),
        };
        let cassette = Arc::new(opened.map_err(|e| TrialError::Cassette(Arc::new(e)))?);
        let config = ClientConfig {
            base_url,
            api_key: Some(key),
            generation: api_generation(cassette.generation(), spec.generation, || {
                recorded_generation(spec.replaces.as_deref()?)
            }),
            ..ClientConfig::default()
        };
        let gate = spec.slots.map(|slots| {
            Arc::new(super::slots::SlotGate {
                inner: cassette.clone(),
                slots,
                held: Default::default(),
                interrupt: spec.interrupt.clone(),
                trial: spec.name.clone(),
                report: recorder.reporter(),
                stop_buying: {
                    let recorder = recorder.clone();
                    Box::new(move || recorder.stop_buying())
                },
            })
        });
        let transport: Arc<dyn crate::transport::Transport> = match &gate {
            Some(gate) => gate.clone(),
            None => cassette.clone(),
        };
        let client = Client::new(config, transport).map_err(|e| TrialError::Client(Arc::new(e)))?;
        let (repository, directory) = if spec.in_memory {
            let name = format!("<in memory: trial {}>", spec.name);
            (Repository::in_memory(name), None)
        } else {
            let directory = super::scratch::Scratch::global()
                .trial_dir(&spec.name)
                .map_err(|e| TrialError::Scratch {
                    trial: spec.name.clone(),
                    source: Arc::new(e),
                })?;
            (Repository::ephemeral(directory.path()), Some(directory))
        };
        Ok(TrialContext {
            name: spec.name,
            service: TaskService::new(client.clone(), repository.clone()),
            handler: WebhookHandler::new(repository, client.clone()),
            client,
            recorder,
            records: spec.records,
            timeout: spec.timeout,
            cassette,
            runtime,
            sim_callbacks,
            replaces: spec.replaces,
            interrupt: spec.interrupt,
            gate,
            settling,
            started: Instant::now(),
            _repository: directory,
        })
    }

    /// Ends the trial's journals. Passed: the webhook recordings it waited for lose
    /// their `incomplete` mark, then the cassette (the order matters: a complete
    /// cassette implies complete recordings), then a re-recording replaces the old
    /// cassette. Failed: everything stays on disk, marked incomplete. The files written.
    pub(crate) fn finish(&self, passed: bool) -> Result<Vec<PathBuf>, TrialError> {
        if let Some(gate) = &self.gate {
            gate.release();
        }
        let mut written = Vec::new();
        if passed {
            written =
                self.recorder
                    .complete_claimed()
                    .map_err(|source| TrialError::MarkComplete {
                        trial: self.name.clone(),
                        source,
                    })?;
        }
        let finished = self
            .cassette
            .finish(passed)
            .map_err(|e| TrialError::Cassette(Arc::new(e)))?;
        if passed && self.records && !finished.complete {
            return Err(TrialError::Unanswered {
                trial: self.name.clone(),
                cassette: self.cassette.path().to_owned(),
            });
        }
        if let Some(path) = finished.written {
            // A re-recording replaces the complete cassette only when it is complete too.
            match (&self.replaces, passed && finished.complete) {
                (Some(main), true) => {
                    crate::atomic_file::replace(&path, main).map_err(|e| TrialError::Replace {
                        cassette: main.clone(),
                        recording: path.clone(),
                        source: Arc::new(e),
                    })?;
                    written.push(main.clone());
                }
                _ => written.push(path),
            }
        }
        Ok(written)
    }

    /// Whether the run was interrupted (Ctrl-C).
    pub fn interrupted(&self) -> bool {
        *self.interrupt.borrow()
    }
}

/// Ends with `Err` once the run is interrupted; never otherwise.
async fn interrupted(mut interrupt: tokio::sync::watch::Receiver<bool>) {
    let _ = interrupt.wait_for(|stop| *stop).await;
}

/// What a scenario produced: its task, for dependent scenarios and the summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Produced {
    pub scenario: String,
    pub task_id: String,
    pub status: TaskStatus,
    pub duration: Duration,
    pub recorded: bool,
    pub files: Vec<PathBuf>,
    /// The terminal payload came from the API, not a webhook (`--accept-api-payload`).
    pub api_payload: bool,
    /// The terminal task object (to seed a simulator for a dependent scenario).
    pub task: Option<Value>,
}

/// Runs one scenario in `ctx`: submit, terminal payload, handler, assertions.
pub async fn run_scenario(
    ctx: &TrialContext,
    scenario: &Scenario,
    request: &TaskRequest,
) -> Result<Produced, TrialError> {
    let started = Instant::now();
    let callback = match scenario.delivery {
        Delivery::Webhook => ctx.callback_url(&scenario.species, scenario.task_type.as_str()),
        Delivery::Polling => None,
    };
    let submission = submit(ctx, scenario, request, callback.as_deref()).await?;
    // From here on the task exists: every error names it.
    let task_id = submission.task_id.clone();
    let (task, source) = match scenario.delivery {
        Delivery::Webhook => {
            let (species, task_type) = (&scenario.species, scenario.task_type.as_str());
            ctx.recorder
                .claim(&scenario.name, species, task_type, &submission.task_id);
            let payload = ctx
                .recorder
                .payload(
                    &scenario.name,
                    species,
                    task_type,
                    &submission.task_id,
                    ctx.timeout,
                )
                .await
                .map_err(|e| TrialError::Payload(Arc::new(e)))?;
            let task: Task = serde_json::from_value(payload).map_err(|e| TrialError::NotATask {
                task_id: task_id.clone(),
                source: Arc::new(e),
            })?;
            (task, UpdateSource::Webhook)
        }
        Delivery::Polling => {
            ctx.recorder.polled(&task_id);
            let options = PollOptions {
                interval: Duration::from_secs(1),
                timeout: ctx.timeout,
            };
            let poll = ctx.service.poll(&submission, &options, |_| {});
            let task = tokio::select! {
                polled = poll => polled.map_err(|e| TrialError::Task {
                    task_id: task_id.clone(),
                    source: Arc::new(e),
                })?,
                () = interrupted(ctx.interrupt.clone()) => {
                    return Err(TrialError::Interrupted {
                        scenario: scenario.name.clone(),
                        task_id,
                    });
                }
            };
            (task, UpdateSource::Poll)
        }
    };
    if task.id != task_id {
        return Err(TrialError::OtherTask {
            got: task.id,
            created: task_id,
        });
    }
    let handled = ctx
        .handler
        .handle(&task, source)
        .await
        .map_err(|e| TrialError::Task {
            task_id: task_id.clone(),
            source: Arc::new(e),
        })?;
    check(scenario, &task, &handled, source, ctx.handler.repository())
        .map_err(|failure| TrialError::Check { task_id, failure })?;
    Ok(Produced {
        scenario: scenario.name.clone(),
        task_id: task.id.clone(),
        status: task.status.clone(),
        duration: started.elapsed(),
        recorded: ctx.records,
        files: Vec::new(),
        api_payload: ctx.recorder.claimed().iter().any(|c| c.from_api),
        task: serde_json::to_value(&task).ok(),
    })
}

/// The scenario's create call. One whose answer was lost is settled in the run
/// (`settle.rs`): the task list tells whether to adopt the task it made or send the
/// call again, at most [`super::settle::MAX_SETTLED`] times.
async fn submit(
    ctx: &TrialContext,
    scenario: &Scenario,
    request: &TaskRequest,
    callback: Option<&str>,
) -> Result<crate::meshy::Submission, TrialError> {
    let mut settled = 0;
    loop {
        let submitted = ctx
            .service
            .submit_tagged(
                &scenario.species,
                request,
                callback,
                scenario.metadata.as_deref(),
            )
            .await;
        let lost = matches!(
            submitted,
            Err(crate::meshy::ServiceError::Api(
                crate::meshy::ApiError::MaybeCreated { .. }
            ))
        );
        match (&ctx.settling, submitted) {
            (_, Ok(submission)) => return Ok(submission),
            (Some(settling), Err(_)) if lost && settled < super::settle::MAX_SETTLED => {
                settled += 1;
                let report = ctx.recorder.reporter();
                super::settle::settle(
                    &ctx.cassette,
                    settling,
                    &ctx.name,
                    &report,
                    ctx.interrupt.clone(),
                )
                .await
                .map_err(|e| TrialError::Reconcile {
                    trial: ctx.name.clone(),
                    source: Arc::new(e),
                })?;
            }
            (_, Err(e)) => return Err(submit_error(scenario, e)),
        }
    }
}

/// What a create call that failed means for the trial.
fn submit_error(scenario: &Scenario, e: crate::meshy::ServiceError) -> TrialError {
    match e {
        crate::meshy::ServiceError::Api(crate::meshy::ApiError::MaybeCreated { .. }) => {
            TrialError::MaybeCreated {
                scenario: scenario.name.clone(),
                source: Arc::new(e),
            }
        }
        // Refused before it left (v2's rules, a retired model, a request v2 has
        // no route for): the scenario file is what to fix.
        e @ (crate::meshy::ServiceError::Request(_)
        | crate::meshy::ServiceError::Api(
            crate::meshy::ApiError::Refused { .. } | crate::meshy::ApiError::NotInGeneration { .. },
        )) => TrialError::NotSent {
            file: scenario.path.clone(),
            source: Arc::new(e),
        },
        e => TrialError::Submit(Arc::new(e)),
    }
}

/// The assertions of a scenario trial.
fn check(
    scenario: &Scenario,
    task: &Task,
    handled: &crate::webhooks::Handled,
    source: UpdateSource,
    repository: &Repository,
) -> Result<(), CheckFailure> {
    if task.status != scenario.expect_status {
        return Err(CheckFailure::Status {
            status: task.status.clone(),
            message: task.error_message().map(str::to_owned),
            expected: scenario.expect_status.clone(),
        });
    }
    let formats = task.model_formats();
    let missing: Vec<String> = scenario
        .expect_formats
        .iter()
        .filter(|f| !formats.contains(&f.as_str()))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(CheckFailure::Formats {
            missing,
            present: formats.iter().map(|f| (*f).to_owned()).collect(),
        });
    }
    let record = &handled.record;
    let last = record.history.last().ok_or(CheckFailure::NoHistory)?;
    if last.to != task.status || last.source != source {
        return Err(CheckFailure::HistoryEnd {
            to: last.to.clone(),
            from: last.source,
            status: task.status.clone(),
            via: source,
        });
    }
    if record.history.first().map(|t| t.source) != Some(UpdateSource::Service) {
        return Err(CheckFailure::HistoryStart);
    }
    if task.status == TaskStatus::Succeeded && task.primary_artifact(scenario.task_type).is_some() {
        let artifact = record.artifacts.first().ok_or(CheckFailure::NoArtifact)?;
        let path = artifact.path.clone();
        let stored = repository.read_file(&repository.root().join(&path));
        let bytes = stored.map_err(|e| CheckFailure::ArtifactGone {
            path: path.clone(),
            source: Arc::new(e),
        })?;
        if crate::sha256_hex(&bytes) != artifact.sha256 {
            return Err(CheckFailure::Digest { path });
        }
        if path.ends_with(".glb") {
            check_glb(&bytes).map_err(|error| CheckFailure::Glb { path, error })?;
        }
    }
    Ok(())
}

/// A GLB header: magic `glTF`, version 2, and the total length of the file.
pub fn check_glb(bytes: &[u8]) -> Result<(), GlbError> {
    if bytes.len() < 12 || &bytes[..4] != b"glTF" {
        return Err(GlbError::Magic);
    }
    let word = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    if word(4) != 2 {
        return Err(GlbError::Version(word(4)));
    }
    if word(8) as usize != bytes.len() {
        return Err(GlbError::Length {
            header: word(8),
            actual: bytes.len(),
        });
    }
    Ok(())
}

/// What is wrong with a GLB's header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlbError {
    #[error("no glTF magic")]
    Magic,
    #[error("version {0} (expected 2)")]
    Version(u32),
    #[error("header length {header} but the file has {actual} bytes")]
    Length { header: u32, actual: usize },
}

/// Why a trial failed, naming the scenario, task or file it concerns. Cloned to the
/// dependents of a scenario that failed, so sources are shared.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TrialError {
    #[error(
        "scenario '{scenario}': {source}. Rerun it: before sending anything, the harness asks the task list \
         whether that task exists (and adopts it) or not (and sends it then), so nothing is bought twice"
    )]
    MaybeCreated {
        scenario: String,
        source: Arc<crate::meshy::ServiceError>,
    },
    #[error(transparent)]
    Submit(Arc<crate::meshy::ServiceError>),
    /// The request was refused before it was sent: nothing was paid.
    #[error("{}: {source}; nothing was sent or paid: fix the scenario file and run it again", file.display())]
    NotSent {
        file: PathBuf,
        source: Arc<crate::meshy::ServiceError>,
    },
    #[error(transparent)]
    Payload(Arc<crate::recorder::RecorderError>),
    #[error("task {task_id}: the terminal webhook payload is not a task object: {source}")]
    NotATask {
        task_id: String,
        source: Arc<serde_json::Error>,
    },
    /// Following or handling the task failed; the message names the task once.
    #[error("{}", with_task(task_id, source))]
    Task {
        task_id: String,
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "task {task_id}: scenario '{scenario}': interrupted while polling; what was recorded is on disk, and a \
         rerun resumes the task without paying again"
    )]
    Interrupted { scenario: String, task_id: String },
    #[error("the terminal payload is for task {got}, but the submission created {created}")]
    OtherTask { got: String, created: String },
    #[error("{}", with_task(task_id, failure))]
    Check {
        task_id: String,
        failure: CheckFailure,
    },
    #[error(transparent)]
    Cassette(Arc<crate::cassette::CassetteError>),
    #[error(transparent)]
    Client(Arc<crate::meshy::ApiError>),
    #[error("trial '{trial}': cannot create a temporary directory for its repository: {source}")]
    Scratch {
        trial: String,
        source: Arc<std::io::Error>,
    },
    #[error("trial '{trial}': cannot mark its webhook recordings complete: {source}")]
    MarkComplete {
        trial: String,
        source: crate::receiver::StoreError,
    },
    #[error(
        "trial '{trial}' passed, but its cassette '{}' still holds create calls without an answer; rerun to \
         reconcile them from the task list before anything is sent",
        cassette.display()
    )]
    Unanswered { trial: String, cassette: PathBuf },
    #[error(
        "cannot replace cassette '{}' with its new recording '{}': {source}",
        cassette.display(),
        recording.display()
    )]
    Replace {
        cassette: PathBuf,
        recording: PathBuf,
        source: Arc<std::io::Error>,
    },

    // What the suite decides around a trial (`suite/mod.rs`).
    #[error("scenario '{scenario}' is not run here: {reason}")]
    NotRun { scenario: String, reason: String },
    #[error("no scenario '{0}'")]
    NoScenario(String),
    #[error(transparent)]
    Invalid(super::ScenarioError),
    #[error("input scenario '{input}' failed: {source}")]
    InputFailed {
        input: String,
        source: Box<TrialError>,
    },
    #[error("input scenario '{input}' ended {status}, so its task cannot be an input")]
    InputNotSucceeded { input: String, status: TaskStatus },
    #[error("{}: {source}", path.display())]
    Request {
        path: PathBuf,
        source: crate::meshy::RequestError,
    },
    #[error(
        "scenario '{scenario}' is to be recorded (record mode {mode}), and recording a webhook scenario needs \
         --record-webhooks; record it with `{command}`"
    )]
    NeedsWebhooks {
        scenario: String,
        mode: RecordMode,
        command: String,
    },
    #[error("trial '{trial}' has no complete recording; record it with `{command}`")]
    NotRecorded { trial: String, command: String },
    /// The record-mode policy refused the trial (`suite::resume::decide`).
    #[error("{0}")]
    Refused(super::Refusal),
    #[error("trial '{0}' did not start: the run was interrupted")]
    NotStarted(String),
    /// The recording context (simulator, receiver, tunnel) could not start.
    #[error(transparent)]
    Live(Arc<super::LiveError>),
    /// The recording plan was refused before anything was sent.
    #[error(transparent)]
    Plan(super::PlanError),
    /// The recording context is not running (stopped, or never started).
    #[error("{0}")]
    NotRunning(&'static str),
    #[error("trial '{trial}': {source}")]
    Reconcile {
        trial: String,
        source: Arc<super::ResumeError>,
    },
    #[error(
        "{source}\n(this trial resumed the task its journal '{}' holds; if that task can never pass — it \
         failed, or Meshy expired it — delete the journal and the task's webhook recording to record anew, \
         which pays again)",
        journal.display()
    )]
    Resumed {
        source: Box<TrialError>,
        journal: PathBuf,
    },
    #[error(
        "{source}\nthe input task {task_id} comes from the recording of '{input}'; if Meshy no longer knows it \
         (results are kept 3 days), record the chain again, inputs first, with `{command}`"
    )]
    Chain {
        source: Box<TrialError>,
        task_id: String,
        input: String,
        command: String,
    },
    #[error(
        "--dry-run checks the real API with Meshy's test-mode key; against the simulator nothing is paid, \
         so record with --target=sim instead"
    )]
    DryRunOnSim,
    #[error("dry run of '{scenario}': the request was refused: {source}")]
    DryRunRefused {
        scenario: String,
        source: Arc<crate::meshy::ServiceError>,
    },
    #[error("dry run of '{scenario}': the task did not end: {source}")]
    DryRunUnfinished {
        scenario: String,
        source: Arc<crate::meshy::ServiceError>,
    },
    #[error(transparent)]
    Transport(Arc<crate::transport::TransportError>),
    /// A trial written in Rust returned an error.
    #[error("{0}")]
    Custom(String),
}

impl TrialError {
    /// Whether the run's interruption (Ctrl-C) ended the trial, here or in its input:
    /// nothing failed, and a rerun resumes it.
    pub fn is_interrupted(&self) -> bool {
        match self {
            TrialError::Interrupted { .. } | TrialError::NotStarted(_) => true,
            TrialError::Payload(error) => {
                matches!(**error, crate::recorder::RecorderError::Interrupted { .. })
            }
            TrialError::Reconcile { source, .. } => {
                matches!(**source, super::ResumeError::Interrupted { .. })
            }
            TrialError::Resumed { source, .. } | TrialError::InputFailed { source, .. } => {
                source.is_interrupted()
            }
            _ => false,
        }
    }

    /// Whether Meshy refused a request of the trial as a bad request (400) or an unknown
    /// task (404), here or in its input: what an input task that is gone gets. A v2
    /// `route_not_found` is a wrong path, never a task that is gone.
    pub fn is_refused_request(&self) -> bool {
        let refused = |error: &ApiError| {
            matches!(
                error,
                ApiError::BadRequest { .. } | ApiError::NotFound { .. }
            ) && error.code() != Some(&crate::meshy::ErrorCode::RouteNotFound)
        };
        let service =
            |error: &ServiceError| matches!(error, ServiceError::Api(api) if refused(api));
        match self {
            TrialError::Submit(error) | TrialError::MaybeCreated { source: error, .. } => {
                service(error)
            }
            TrialError::Client(error) => refused(error),
            TrialError::Task { source, .. } => {
                source.downcast_ref::<ServiceError>().is_some_and(service)
                    || source.downcast_ref::<ApiError>().is_some_and(refused)
            }
            TrialError::Resumed { source, .. } | TrialError::InputFailed { source, .. } => {
                source.is_refused_request()
            }
            _ => false,
        }
    }
}

/// `task <id>: <error>`, unless the error names the task already.
fn with_task(task_id: &str, error: &dyn std::fmt::Display) -> String {
    let message = error.to_string();
    if message.contains(task_id) {
        message
    } else {
        format!("task {task_id}: {message}")
    }
}

/// An assertion of a scenario trial that did not hold.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CheckFailure {
    #[error(
        "ended {status}{}; the scenario expects {expected}",
        message.as_ref().map(|m| format!(" ({m})")).unwrap_or_default()
    )]
    Status {
        status: TaskStatus,
        message: Option<String>,
        expected: TaskStatus,
    },
    #[error("model formats {missing:?} are missing from the result (it has {present:?})")]
    Formats {
        missing: Vec<String>,
        present: Vec<String>,
    },
    #[error("the repository recorded no history")]
    NoHistory,
    #[error("the repository's history ends with {to} from {from:?}, not {status} from {via:?}")]
    HistoryEnd {
        to: TaskStatus,
        from: UpdateSource,
        status: TaskStatus,
        via: UpdateSource,
    },
    #[error("the repository's history does not start with the submission")]
    HistoryStart,
    #[error("the task succeeded but no artifact was downloaded")]
    NoArtifact,
    #[error("artifact '{path}' is not in the trial's repository: {source}")]
    ArtifactGone {
        path: String,
        source: Arc<std::io::Error>,
    },
    #[error("artifact '{path}' does not match its recorded sha256")]
    Digest { path: String },
    #[error("artifact '{path}' is not a valid GLB: {error}")]
    Glb { path: String, error: GlbError },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trial_speaks_its_cassettes_generation_then_its_pin_then_the_replaced_one() {
        use ApiGeneration::{V1, V2};
        // A journal (or any cassette the trial reads) wins over the pin: a paid create
        // is never sent again in another shape.
        assert_eq!(api_generation(Some(V1), Some(V2), || Some(V2)), V1);
        assert_eq!(api_generation(None, Some(V2), || Some(V1)), V2);
        assert_eq!(api_generation(None, None, || Some(V1)), V1);
        assert_eq!(api_generation(None, None, || None), NEW_RECORDING);
        assert_eq!(NEW_RECORDING, V2);
    }
    use crate::cassette::Cassette;

    #[test]
    fn hints_are_decided_on_error_variants_not_on_their_text() {
        let api = |error: ApiError| TrialError::Submit(Arc::new(ServiceError::Api(error)));
        let bad = || ApiError::BadRequest {
            request: "POST /openapi/v1/rigging".into(),
            message: "input task expired".into(),
            v2: None,
        };
        assert!(api(bad()).is_refused_request());
        assert!(
            api(ApiError::NotFound {
                request: "GET /openapi/v1/rigging/t".into(),
                message: "Task not found".into(),
                v2: None,
            })
            .is_refused_request()
        );
        let no_route = ApiError::NotFound {
            request: "GET /openapi/v2/image-to-3d/t".into(),
            message: "NoMatchingRoute: GET /openapi/v2/image-to-3d/t".into(),
            v2: Some(Box::new(crate::meshy::ErrorKind {
                kind: "not_found".into(),
                code: Some(crate::meshy::ErrorCode::RouteNotFound),
                doc_url: None,
            })),
        };
        assert!(
            !api(no_route).is_refused_request(),
            "a wrong route is not an input task that is gone"
        );
        assert!(
            TrialError::Resumed {
                source: Box::new(api(bad())),
                journal: "j.yaml".into(),
            }
            .is_refused_request()
        );
        let task = TrialError::Task {
            task_id: "t".into(),
            source: Arc::new(bad()),
        };
        assert!(task.is_refused_request());
        // The words alone decide nothing: a message that quotes them is not the error.
        let quoted = TrialError::Refused(crate::suite::Refusal::Unreadable {
            file: "c.yaml".into(),
            problem: "the server said: bad request (400), not found (404)".into(),
            afresh: "test ! -e c.yaml.unreadable && mv c.yaml c.yaml.unreadable && cargo test"
                .into(),
        });
        assert!(!quoted.is_refused_request());
        assert!(!TrialError::NotStarted("interrupted trial".into()).is_refused_request());

        let interrupted = TrialError::Interrupted {
            scenario: "s".into(),
            task_id: "t".into(),
        };
        assert!(interrupted.is_interrupted());
        assert!(TrialError::NotStarted("s".into()).is_interrupted());
        assert!(
            TrialError::InputFailed {
                input: "i".into(),
                source: Box::new(interrupted),
            }
            .is_interrupted()
        );
        let refused = TrialError::Refused(crate::suite::Refusal::Incomplete {
            trial: "t".into(),
            cassette: "t.yaml".into(),
            resume_command: "cmd".into(),
        });
        assert!(
            refused.to_string().contains("it was interrupted") && !refused.is_interrupted(),
            "{refused}"
        );
        assert!(!api(bad()).is_interrupted());
    }

    #[test]
    fn glb_headers_are_checked_with_the_reason() {
        let mut glb = b"glTF\x02\0\0\0\x10\0\0\0rest".to_vec();
        assert_eq!(check_glb(&glb), Ok(()));
        assert_eq!(check_glb(b"GLTF"), Err(GlbError::Magic));
        assert_eq!(
            check_glb(b"GLTF\x02\0\0\0\x10\0\0\0rest"),
            Err(GlbError::Magic),
            "a wrong magic on a long enough file"
        );
        glb[4] = 1;
        assert_eq!(check_glb(&glb), Err(GlbError::Version(1)));
        glb[4] = 2;
        glb.push(0);
        let err = check_glb(&glb).unwrap_err();
        assert_eq!(
            err.to_string(),
            "header length 16 but the file has 17 bytes"
        );
    }

    /// Errors about a task name it once, whether or not their source does.
    #[test]
    fn task_errors_name_the_task_once() {
        let task = |message: &str| TrialError::Task {
            task_id: "t-1".into(),
            source: Arc::new(std::io::Error::other(message.to_owned())),
        };
        assert_eq!(task("timed out").to_string(), "task t-1: timed out");
        assert_eq!(task("task t-1 expired").to_string(), "task t-1 expired");
    }

    /// A replayed trial whose scenario's prompt changed since it was recorded fails
    /// with the field that changed, not a truncated body to search through.
    #[test]
    fn a_replay_miss_names_the_changed_field() {
        let dir = tempfile::tempdir().unwrap();
        let cassette = dir.path().join("otter_text3d.yaml");
        let recorded = r#"{"ai_model":"meshy-5","mode":"preview","prompt":"Cute otter character, sculpture style, a long prompt that the old message cut off"}"#;
        let text = Cassette {
            interactions: vec![crate::cassette::Interaction {
                request: crate::cassette::RecordedRequest {
                    method: "POST".into(),
                    uri: "https://api.meshy.ai/openapi/v2/text-to-3d".into(),
                    headers: vec![],
                    body: Some(crate::cassette::Body::Text(recorded.into())),
                },
                response: crate::cassette::RecordedResponse {
                    status: 202,
                    message: "Accepted".into(),
                    headers: vec![],
                    body: crate::cassette::Body::Text(r#"{"result":"t-1"}"#.into()),
                },
            }],
            ..Cassette::default()
        }
        .to_yaml();
        std::fs::write(&cassette, text).unwrap();
        let scenario = Scenario::parse(
            &dir.path().join("otter_text3d.toml"),
            "species = \"otter\"\ntask_type = \"text3d\"\ndelivery = \"polling\"\n\
             prompt = \"Cute otter character, marble style, a long prompt that the old message cut off\"\n\
             [params]\nai_model = \"meshy-5\"\n",
        )
        .unwrap();
        let request = scenario.request(None).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (_interrupt, interrupted) = tokio::sync::watch::channel(false);
        let ctx = TrialContext::new(
            ContextSpec {
                name: "otter_text3d".into(),
                cassette: cassette.clone(),
                replaces: None,
                mode: RecordMode::None,
                rerecord: "cargo test --test scenarios -- otter_text3d --record-mode=rewrite"
                    .into(),
                records: false,
                timeout: Duration::from_secs(5),
                interrupt: interrupted,
                slots: None,
                file: None,
                generation: None,
                in_memory: true,
                reads: Default::default(),
                settling: None,
            },
            None,
            dir.path(),
            "msy_replay_key_000000",
            runtime.handle().clone(),
        )
        .unwrap();
        let err = ctx
            .block_on(run_scenario(&ctx, &scenario, &request))
            .unwrap_err();
        assert!(matches!(err, TrialError::Submit(_)), "{err:?}");
        let err = err.to_string();
        assert!(
            err.contains(
                "\n  POST https://api.meshy.ai/openapi/v2/text-to-3d (differs in body)\n    \
                 body prompt: \"Cute otter character, sculpture style, a long prompt that t… (83 chars) → \
                 \"Cute otter character, marble style, a long prompt that the … (80 chars)\n"
            ),
            "{err}"
        );
        assert!(
            err.contains("to re-record run `cargo test --test scenarios -- otter_text3d --record-mode=rewrite`"),
            "{err}"
        );
        assert!(!err.contains("msy_replay_key"), "{err}");
    }
}
