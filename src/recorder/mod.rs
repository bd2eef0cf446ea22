//! The recorder: what a trial calls to get a task's terminal webhook payload.
//!
//! Recording, it claims the task at the [`Receiver`] and waits — woken by the
//! receiver itself — reporting progress ([`crate::progress::Event`]s: plain lines on
//! stderr by default) as deliveries arrive and at least every 30 s, until the terminal delivery is written to `cassettes/webhooks/`. With
//! a client ([`Recorder::with_status_checks`]) it also asks the API how the task is
//! doing, so a webhook that never comes is diagnosed within the grace ([`WaitPolicy`],
//! in `wait.rs`). Replaying, it loads that file and hands back the same payload.
//!
//! ```no_run
#![doc = include_str!("../../examples/recorder.rs")]
//! ```

mod wait;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use crate::meshy::Client;
use crate::receiver::{Claim, Progress, Receiver};
use crate::webhooks::{RecordingError, RecordingReads, recording_path};
pub use wait::WaitPolicy;

pub use crate::progress::Reporter;

/// Hands trials their terminal webhook payloads, recording or replaying.
#[derive(Clone)]
pub struct Recorder {
    mode: Mode,
    dir: PathBuf,
    /// `{scenario}` is replaced by the scenario's name; `None`: the record command of the
    /// running test target (`crate::command`).
    command: Option<String>,
    progress_every: Duration,
    report: Reporter,
    /// Used for `grace` and `accept_api_payload`; the timeout comes with each call.
    policy: WaitPolicy,
    /// Ends every wait when it turns true (Ctrl-C).
    interrupt: Option<watch::Receiver<bool>>,
    /// The tasks this recorder (one trial's, after [`Recorder::for_trial`]) waited for.
    claimed: Arc<Mutex<Vec<Claimed>>>,
}

/// A task a trial waited for, and how its wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub task_id: String,
    /// The terminal payload came from the API (`--accept-api-payload`), not a webhook.
    pub from_api: bool,
}

#[derive(Clone)]
enum Mode {
    Recording {
        receiver: Arc<Receiver>,
        public_url: String,
        /// Asks the API for a task's state while waiting (never through a cassette).
        api: Option<Client>,
    },
    /// Replaying, reading each recording through `reads` (once, whoever reads it).
    Replaying { reads: RecordingReads },
}

/// Why a run buys no further task ([`Recorder::stop_buying`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopBuying {
    /// Deliveries refused for a missing or wrong webhook secret, so far.
    SecretRefused(u64),
    /// The standing receiver stopped answering: why, and the command that starts it.
    ReceiverGone(String),
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecorderError {
    #[error(
        "scenario '{scenario}': no terminal webhook for task {task_id} within {waited_secs} s ({seen}); check that the \
         tunnel is up, that Meshy delivers to {url} (the dashboard webhook URL, or the callback URL sent with the task), \
         and that the URL carries this run's token"
    )]
    Timeout {
        scenario: String,
        task_id: String,
        waited_secs: u64,
        seen: String,
        url: String,
    },
    #[error(
        "scenario '{scenario}': task {task_id} {what}; check that the Meshy dashboard webhook is {url} (the URL \
         printed at the start of this run) and enabled, then rerun: the rerun resumes this task without paying \
         again (add --accept-api-payload to complete the recording from the API's task object)"
    )]
    NoWebhook {
        scenario: String,
        task_id: String,
        /// `ended SUCCEEDED per the API (3 s ago), but no terminal webhook arrived within 60 s (…)`.
        what: String,
        url: String,
    },
    /// The task ended before this run's receiver started, and no terminal webhook of
    /// it was kept: its deliveries went to a receiver that no longer ran.
    #[error(
        "scenario '{scenario}': task {task_id} ended {status} per the API {before_secs} s before this run's webhook \
         receiver started, and no terminal webhook of it was kept: Meshy delivered it while nothing listened \
         (whether Meshy delivers again later is unconfirmed), so it is not waited for. Rerun with \
         --accept-api-payload to complete the recording from the API's task object (nothing is paid again); to \
         keep what Meshy delivers between runs, leave `mesh-toolkit receive` running on the webhook port across \
         runs (docs/webhooks.md)"
    )]
    EndedUnheard {
        scenario: String,
        task_id: String,
        status: String,
        before_secs: u64,
    },
    #[error(
        "scenario '{scenario}': interrupted while waiting for task {task_id}; what was recorded is on disk, and \
         a rerun resumes the task without paying again"
    )]
    Interrupted { scenario: String, task_id: String },
    #[error(
        "scenario '{scenario}': the terminal webhook of task {task_id} arrived but could not be written: {source}"
    )]
    WriteFailed {
        scenario: String,
        task_id: String,
        source: crate::receiver::StoreError,
    },
    #[error("scenario '{scenario}': the receiver stopped while waiting for task {task_id}")]
    Stopped { scenario: String, task_id: String },
    /// The standing receiver the run attached to stopped answering.
    #[error(
        "scenario '{scenario}': stopped waiting for task {task_id}: {why}, then rerun: the rerun resumes the \
         task without paying again and takes what the receiver spooled"
    )]
    ReceiverGone {
        scenario: String,
        task_id: String,
        why: String,
    },
    #[error("scenario '{scenario}': {source}")]
    Recording {
        scenario: String,
        source: RecordingError,
    },
    #[error("scenario '{scenario}': recording '{}' is for {found}, not {expected}; re-record with `{command}`", path.display())]
    Mismatch {
        scenario: String,
        path: PathBuf,
        found: String,
        expected: String,
        command: String,
    },
}

impl Recorder {
    /// A recorder that waits for real deliveries at `receiver`, reachable from Meshy
    /// at `public_url`, and writes recordings into `dir`.
    pub fn recording(
        receiver: Arc<Receiver>,
        public_url: impl Into<String>,
        dir: impl Into<PathBuf>,
    ) -> Recorder {
        let public_url = public_url.into().trim_end_matches('/').to_owned();
        Recorder::new(
            Mode::Recording {
                receiver,
                public_url,
                api: None,
            },
            dir.into(),
        )
    }

    /// A recorder that replays recordings from `dir`.
    pub fn replaying(dir: impl Into<PathBuf>) -> Recorder {
        Recorder::new(
            Mode::Replaying {
                reads: RecordingReads::default(),
            },
            dir.into(),
        )
    }

    fn new(mode: Mode, dir: PathBuf) -> Recorder {
        Recorder {
            mode,
            dir,
            command: None,
            progress_every: Duration::from_secs(30),
            report: crate::progress::Console::plain().reporter(),
            policy: WaitPolicy::default(),
            interrupt: None,
            claimed: Arc::default(),
        }
    }

    /// Replaying, read each recording through `reads`: one already read there (by the
    /// trial's plan) is not read again, and what it reads is kept there (for the report).
    pub fn with_reads(mut self, with: RecordingReads) -> Recorder {
        if let Mode::Replaying { reads } = &mut self.mode {
            *reads = with;
        }
        self
    }

    /// While waiting, ask the API for the task's state through `client` (over the live
    /// transport: these checks are not recorded), at once and then periodically.
    pub fn with_status_checks(mut self, client: Client) -> Recorder {
        if let Mode::Recording { api, .. } = &mut self.mode {
            *api = Some(client);
        }
        self
    }

    /// The grace and `accept_api_payload` of [`WaitPolicy`] (its timeout is ignored:
    /// each [`Recorder::payload`] call brings its own). Default: 60 s, off.
    pub fn with_policy(mut self, policy: WaitPolicy) -> Recorder {
        self.policy = policy;
        self
    }

    /// Every wait ends with [`RecorderError::Interrupted`] once `interrupt` is true.
    pub fn with_interrupt(mut self, interrupt: watch::Receiver<bool>) -> Recorder {
        self.interrupt = Some(interrupt);
        self
    }

    /// A clone that keeps its own list of [`Recorder::claimed`] tasks (one per trial).
    pub fn for_trial(&self) -> Recorder {
        let mut recorder = self.clone();
        recorder.claimed = Arc::default();
        recorder
    }

    /// The tasks waited for through this recorder (see [`Recorder::for_trial`]).
    pub fn claimed(&self) -> Vec<Claimed> {
        self.claimed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Marks the recordings of every claimed task complete (the trial passed). The
    /// files written.
    pub fn complete_claimed(&self) -> Result<Vec<PathBuf>, crate::receiver::StoreError> {
        let Mode::Recording { receiver, .. } = &self.mode else {
            return Ok(Vec::new());
        };
        self.claimed()
            .iter()
            .map(|c| receiver.complete(&c.task_id))
            .collect()
    }

    /// The command quoted in errors that a re-record fixes; `{scenario}` is replaced.
    pub fn with_command(mut self, template: impl Into<String>) -> Recorder {
        self.command = Some(template.into());
        self
    }

    /// Where progress events go, and the longest silence between two updates. Default:
    /// plain lines on stderr, 30 s.
    pub fn with_reporter(mut self, report: Reporter, every: Duration) -> Recorder {
        self.report = report;
        self.progress_every = every;
        self
    }

    /// Where this recorder's events go (the suite's notes about a trial go there too).
    pub fn reporter(&self) -> Reporter {
        Arc::clone(&self.report)
    }

    pub fn is_recording(&self) -> bool {
        matches!(self.mode, Mode::Recording { .. })
    }

    /// Why no further task is worth buying, if so: the run's receiver refused
    /// deliveries for a missing or wrong webhook secret (every further task's webhooks
    /// would be too), or the standing receiver it uses stopped answering. `None` when
    /// replaying.
    pub fn stop_buying(&self) -> Option<StopBuying> {
        let Mode::Recording { receiver, .. } = &self.mode else {
            return None;
        };
        if let Some(why) = receiver.gone() {
            return Some(StopBuying::ReceiverGone(why.to_string()));
        }
        match receiver.stats().secret_refused {
            0 => None,
            refused => Some(StopBuying::SecretRefused(refused)),
        }
    }

    /// The per-task callback URL to send with a task (a placeholder when replaying:
    /// cassettes ignore `callback_url` when matching).
    pub fn callback_url(&self, species: &str, task_type: &str) -> String {
        match &self.mode {
            Mode::Recording {
                receiver,
                public_url,
                ..
            } => receiver.callback_url(public_url, species, task_type),
            Mode::Replaying { .. } => {
                format!("http://127.0.0.1/webhook/{species}/{task_type}?token=replay")
            }
        }
    }

    /// The dashboard webhook URL, when recording.
    pub fn dashboard_url(&self) -> Option<String> {
        match &self.mode {
            Mode::Recording {
                receiver,
                public_url,
                ..
            } => Some(receiver.webhook_url(public_url)),
            Mode::Replaying { .. } => None,
        }
    }

    /// A task a trial follows by polling: its deliveries (the dashboard webhook sends
    /// every task's) are the run's own, not strangers to report.
    pub fn polled(&self, task_id: &str) {
        if let Mode::Recording { receiver, .. } = &self.mode {
            receiver.polled(task_id);
        }
    }

    /// Claims a task early (right after submitting), so no delivery is missed; `payload`
    /// claims too, so this is optional.
    pub fn claim(&self, scenario: &str, species: &str, task_type: &str, task_id: &str) {
        if let Mode::Recording { receiver, .. } = &self.mode {
            drop(receiver.claim(claim(scenario, species, task_type, task_id)));
        }
    }

    /// The task's terminal task object: waited for (recording) or loaded (replaying).
    /// Recording, `timeout` counts from the task's creation as the API reports it.
    pub async fn payload(
        &self,
        scenario: &str,
        species: &str,
        task_type: &str,
        task_id: &str,
        timeout: Duration,
    ) -> Result<Value, RecorderError> {
        match &self.mode {
            Mode::Recording {
                receiver,
                public_url,
                api,
            } => {
                let progress = receiver.claim(claim(scenario, species, task_type, task_id));
                let wait = wait::Wait {
                    scenario,
                    task_type,
                    task_id,
                    policy: WaitPolicy {
                        timeout,
                        ..self.policy.clone()
                    },
                    url: format!("{public_url}/webhook?token=…"),
                    receiver,
                    api: api.as_ref(),
                    interrupt: self.interrupt.clone(),
                    report: &*self.report,
                    progress_every: self.progress_every,
                };
                let ended = wait.run(progress).await?;
                self.claimed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Claimed {
                        task_id: task_id.to_owned(),
                        from_api: ended.from_api,
                    });
                Ok(ended.payload)
            }
            Mode::Replaying { reads } => self.load(reads, scenario, species, task_type, task_id),
        }
    }

    fn load(
        &self,
        reads: &RecordingReads,
        scenario: &str,
        species: &str,
        task_type: &str,
        task_id: &str,
    ) -> Result<Value, RecorderError> {
        let command = match &self.command {
            Some(template) => template.replace("{scenario}", scenario),
            None => crate::command::Commands::of_this_process()
                .test(Some(scenario), "--record-webhooks"),
        };
        let path = recording_path(&self.dir, species, task_type, task_id);
        let recording =
            reads
                .get(&path)
                .load(&command)
                .map_err(|source| RecorderError::Recording {
                    scenario: scenario.into(),
                    source,
                })?;
        if recording.species != species || recording.task_type != task_type {
            return Err(RecorderError::Mismatch {
                scenario: scenario.into(),
                path,
                found: format!("{}/{}", recording.species, recording.task_type),
                expected: format!("{species}/{task_type}"),
                command,
            });
        }
        Ok(recording.payload)
    }
}

fn claim(scenario: &str, species: &str, task_type: &str, task_id: &str) -> Claim {
    Claim {
        scenario: scenario.into(),
        species: species.into(),
        task_type: task_type.into(),
        task_id: task_id.into(),
    }
}

fn seen(progress: &Progress) -> String {
    match (&progress.status, progress.deliveries) {
        (None, _) => "no delivery arrived at all".into(),
        (Some(status), n) => {
            let percent = progress
                .progress
                .map(|p| format!(" {p}%"))
                .unwrap_or_default();
            format!("last status seen: {status}{percent}, after {n} deliveries")
        }
    }
}
