//! The recorder: what a trial calls to get a task's terminal webhook payload.
//!
//! Recording, it claims the task at the [`Receiver`] and waits — woken by the
//! receiver itself, no polling — reporting progress on stderr as deliveries arrive
//! and at least every 30 s, until the terminal delivery is written to
//! `cassettes/webhooks/`. Replaying, it loads that file and hands back the same payload.
//!
//! ```no_run
//! # async fn example(receiver: std::sync::Arc<mesh_toolkit::receiver::Receiver>) -> Result<(), Box<dyn std::error::Error>> {
//! use mesh_toolkit::recorder::Recorder;
//! use std::time::Duration;
//! let recorder = Recorder::recording(receiver, "https://example.ngrok.app", "cassettes/webhooks");
//! let callback = recorder.callback_url("otter", "text3d"); // send with the task
//! # let task_id = "019a97e6";
//! let payload = recorder.payload("otter_text3d", "otter", "text3d", task_id, Duration::from_secs(300)).await?;
//! # Ok(()) }
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::meshy::TaskStatus;
use crate::receiver::{Claim, Progress, Receiver};
use crate::webhooks::{Recording, RecordingError, recording_path};

/// Where progress lines go. Default: stderr.
pub type Reporter = Arc<dyn Fn(&str) + Send + Sync>;

/// Hands trials their terminal webhook payloads, recording or replaying.
#[derive(Clone)]
pub struct Recorder {
    mode: Mode,
    dir: PathBuf,
    /// `{scenario}` is replaced by the scenario's name.
    command: String,
    progress_every: Duration,
    report: Reporter,
}

#[derive(Clone)]
enum Mode {
    Recording {
        receiver: Arc<Receiver>,
        public_url: String,
    },
    Replaying,
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
        "scenario '{scenario}': the terminal webhook of task {task_id} arrived but could not be written: {message}"
    )]
    WriteFailed {
        scenario: String,
        task_id: String,
        message: String,
    },
    #[error("scenario '{scenario}': the receiver stopped while waiting for task {task_id}")]
    Stopped { scenario: String, task_id: String },
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
            },
            dir.into(),
        )
    }

    /// A recorder that replays recordings from `dir`.
    pub fn replaying(dir: impl Into<PathBuf>) -> Recorder {
        Recorder::new(Mode::Replaying, dir.into())
    }

    fn new(mode: Mode, dir: PathBuf) -> Recorder {
        Recorder {
            mode,
            dir,
            command: "cargo test --test scenarios -- {scenario} --exact --record-webhooks".into(),
            progress_every: Duration::from_secs(30),
            report: Arc::new(|line: &str| eprintln!("{line}")),
        }
    }

    /// The command quoted in errors that a re-record fixes; `{scenario}` is replaced.
    pub fn with_command(mut self, template: impl Into<String>) -> Recorder {
        self.command = template.into();
        self
    }

    /// Where progress lines go, and the longest silence between two. Default: stderr, 30 s.
    pub fn with_reporter(mut self, report: Reporter, every: Duration) -> Recorder {
        self.report = report;
        self.progress_every = every;
        self
    }

    pub fn is_recording(&self) -> bool {
        matches!(self.mode, Mode::Recording { .. })
    }

    /// The per-task callback URL to send with a task (a placeholder when replaying:
    /// cassettes ignore `callback_url` when matching).
    pub fn callback_url(&self, species: &str, task_type: &str) -> String {
        match &self.mode {
            Mode::Recording {
                receiver,
                public_url,
            } => receiver.callback_url(public_url, species, task_type),
            Mode::Replaying => {
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
            } => Some(receiver.webhook_url(public_url)),
            Mode::Replaying => None,
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
            } => {
                let progress = receiver.claim(claim(scenario, species, task_type, task_id));
                let url = format!("{public_url}/webhook…");
                self.wait(progress, scenario, task_id, timeout, &url).await
            }
            Mode::Replaying => self.load(scenario, species, task_type, task_id),
        }
    }

    async fn wait(
        &self,
        mut progress: tokio::sync::watch::Receiver<Progress>,
        scenario: &str,
        task_id: &str,
        timeout: Duration,
        url: &str,
    ) -> Result<Value, RecorderError> {
        let started = Instant::now();
        let mut reported = 0;
        let mut last_report = started;
        loop {
            let now = progress.borrow_and_update().clone();
            if now.deliveries > reported {
                reported = now.deliveries;
                last_report = Instant::now();
                (self.report)(&progress_line(scenario, task_id, &now, started.elapsed()));
            }
            if let Some(message) = now.write_error {
                return Err(RecorderError::WriteFailed {
                    scenario: scenario.into(),
                    task_id: task_id.into(),
                    message,
                });
            }
            if let (Some(terminal), Some(_)) = (now.terminal.clone(), &now.file) {
                return Ok(terminal);
            }
            let deadline = started + timeout;
            let wake = deadline.min(last_report + self.progress_every);
            tokio::select! {
                changed = progress.changed() => {
                    if changed.is_err() {
                        return Err(RecorderError::Stopped { scenario: scenario.into(), task_id: task_id.into() });
                    }
                }
                () = tokio::time::sleep_until(wake.into()) => {
                    if Instant::now() >= deadline {
                        return Err(RecorderError::Timeout {
                            scenario: scenario.into(),
                            task_id: task_id.into(),
                            waited_secs: timeout.as_secs(),
                            seen: seen(&now),
                            url: url.into(),
                        });
                    }
                    last_report = Instant::now();
                    (self.report)(&progress_line(scenario, task_id, &now, started.elapsed()));
                }
            }
        }
    }

    fn load(
        &self,
        scenario: &str,
        species: &str,
        task_type: &str,
        task_id: &str,
    ) -> Result<Value, RecorderError> {
        let command = self.command.replace("{scenario}", scenario);
        let path = recording_path(&self.dir, species, task_type, task_id);
        let recording =
            Recording::load(&path, &command).map_err(|source| RecorderError::Recording {
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

/// `otter_text3d 019a97e6… IN_PROGRESS 66% 1m30s`
pub fn progress_line(
    scenario: &str,
    task_id: &str,
    progress: &Progress,
    elapsed: Duration,
) -> String {
    let short: String = task_id.chars().take(8).collect();
    let state = match (&progress.status, progress.progress) {
        (None, _) => "waiting for the first webhook".to_owned(),
        (Some(status), Some(p)) if *status != TaskStatus::Pending => format!("{status} {p}%"),
        (Some(status), _) => status.to_string(),
    };
    format!("{scenario} {short}… {state} {}", elapsed_text(elapsed))
}

fn elapsed_text(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    if secs < 60 {
        format!("{secs}s")
    } else {
        format!("{}m{:02}s", secs / 60, secs % 60)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_read_like_the_spec() {
        let progress = Progress {
            deliveries: 3,
            status: Some(TaskStatus::InProgress),
            progress: Some(66),
            ..Progress::default()
        };
        assert_eq!(
            progress_line(
                "otter_text3d",
                "019a97e6-58dc-7430",
                &progress,
                Duration::from_secs(90)
            ),
            "otter_text3d 019a97e6… IN_PROGRESS 66% 1m30s"
        );
        assert_eq!(
            progress_line(
                "otter_text3d",
                "019a97e6-58dc-7430",
                &Progress::default(),
                Duration::from_secs(30)
            ),
            "otter_text3d 019a97e6… waiting for the first webhook 30s"
        );
    }
}
