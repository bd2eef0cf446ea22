//! Webhook recordings: `cassettes/webhooks/<species>_<task_type>_<task_id>.json`, every
//! delivery Meshy made for one task, and the terminal task object that replay hands
//! back. Written atomically, pretty-printed, keys in a fixed order.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::atomic_file;
use crate::meshy::{TaskStatus, TaskType};

/// One webhook recording file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    /// Still being recorded, or its trial did not pass: replay refuses it and a
    /// recording run resumes it. Written only when true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub incomplete: bool,
    pub species: String,
    pub task_type: String,
    pub task_id: String,
    /// The scenario that recorded it (absent for the standalone receiver's files).
    #[serde(default)]
    pub scenario: Option<String>,
    /// When the terminal delivery (or, while there is none, the latest) arrived.
    pub received_at: String,
    /// Its headers, secrets removed.
    pub headers: BTreeMap<String, String>,
    /// The terminal task object (the latest delivery while the task is unfinished).
    pub payload: Value,
    /// `api` when `payload` is the task object fetched from the API because no
    /// terminal webhook arrived (`--accept-api-payload`); absent for a webhook's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_source: Option<String>,
    /// Every delivery in arrival order, duplicates and late ones included.
    pub deliveries: Vec<Delivery>,
}

/// One POST Meshy made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub received_at: String,
    pub headers: BTreeMap<String, String>,
    pub payload: Value,
}

/// A recording that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordingError {
    #[error("no webhook recording '{}'; record it with `{command}`", path.display())]
    Missing { path: PathBuf, command: String },
    #[error(
        "webhook recording '{}' is incomplete: its recording was interrupted or its trial failed; resume it with `{command}`",
        path.display()
    )]
    Incomplete { path: PathBuf, command: String },
    #[error("error reading webhook recording '{}': {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "webhook recording '{}' is invalid at line {line}, column {column}: {message}; re-record it with `{command}`",
        path.display()
    )]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
        command: String,
    },
    #[error("error writing webhook recording '{}': {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// `<dir>/<species>_<task_type>_<task_id>.json`.
pub fn recording_path(dir: &Path, species: &str, task_type: &str, task_id: &str) -> PathBuf {
    dir.join(format!("{species}_{task_type}_{task_id}.json"))
}

/// The status of a task object, as Meshy's string.
pub fn status_of(payload: &Value) -> TaskStatus {
    TaskStatus::from(
        payload
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    )
}

/// Whether the recording at `path` is complete: it exists, is not marked
/// incomplete, and holds a terminal payload.
pub fn recording_done(path: &Path) -> bool {
    RecordingFile::read(path).done()
}

/// A webhook recording file read and parsed once, for every reader of a run that asks
/// (a trial's plan, its replay, then the report and its check): what reading gave,
/// kept, and judged again with each reader's command.
#[derive(Debug)]
pub struct RecordingFile {
    path: PathBuf,
    /// What reading gave: its bytes and what parsing them gave, or why there are none.
    read: Result<Contents, std::io::Error>,
}

#[derive(Debug)]
struct Contents {
    bytes: Vec<u8>,
    /// The recording (shared with the report's view of it), or a parse error's line,
    /// column and message.
    parsed: Result<Arc<Recording>, (usize, usize, String)>,
}

impl RecordingFile {
    /// Reads and parses the file at `path`.
    pub fn read(path: &Path) -> RecordingFile {
        #[cfg(test)]
        crate::cassette::reads::count(path);
        let read = std::fs::read(path).map(|bytes| Contents {
            parsed: serde_json::from_slice(&bytes)
                .map(Arc::new)
                .map_err(|e| (e.line(), e.column(), e.to_string())),
            bytes,
        });
        RecordingFile {
            path: path.to_owned(),
            read,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's bytes, when it could be read.
    pub fn bytes(&self) -> Option<&[u8]> {
        self.read.as_ref().ok().map(|c| c.bytes.as_slice())
    }

    /// The recording, when the file parses.
    pub fn recording(&self) -> Option<&Arc<Recording>> {
        self.read.as_ref().ok()?.parsed.as_ref().ok()
    }

    /// Whether it is complete: it exists, is not marked incomplete, and holds a terminal
    /// payload.
    pub fn done(&self) -> bool {
        self.recording()
            .is_some_and(|r| !r.incomplete && r.is_terminal())
    }

    /// [`Recording::read`] of what was read.
    pub fn get(&self, command: &str) -> Result<Recording, RecordingError> {
        let path = self.path.clone();
        let command = command.to_owned();
        match &self.read {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(RecordingError::Missing { path, command })
            }
            Err(e) => Err(RecordingError::Read {
                path,
                source: std::io::Error::new(e.kind(), e.to_string()),
            }),
            Ok(contents) => match &contents.parsed {
                Ok(recording) => Ok(Recording::clone(recording)),
                Err((line, column, message)) => Err(RecordingError::Invalid {
                    path,
                    line: *line,
                    column: *column,
                    message: message.clone(),
                    command,
                }),
            },
        }
    }

    /// [`Recording::load`] of what was read.
    pub fn load(&self, command: &str) -> Result<Recording, RecordingError> {
        let recording = self.get(command)?;
        recording.validate(&self.path, command)?;
        Ok(recording)
    }
}

/// The webhook recordings one trial read, each read once whoever asks (its plan, its
/// replay), and handed on to the report at its end. Clones share them.
#[derive(Debug, Clone, Default)]
pub struct RecordingReads(Arc<Mutex<BTreeMap<PathBuf, Arc<RecordingFile>>>>);

impl RecordingReads {
    /// The file at `path`, read now if no one read it before.
    pub fn get(&self, path: &Path) -> Arc<RecordingFile> {
        let mut files = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(
            files
                .entry(path.to_owned())
                .or_insert_with(|| Arc::new(RecordingFile::read(path))),
        )
    }

    /// Every file read, by path.
    pub fn files(&self) -> Vec<Arc<RecordingFile>> {
        let files = self.0.lock().unwrap_or_else(|e| e.into_inner());
        files.values().cloned().collect()
    }
}

impl Recording {
    /// Loads and validates a recording: its task id, its payload's id, and a terminal
    /// payload status. `command` is the re-record command quoted in errors.
    pub fn load(path: &Path, command: &str) -> Result<Recording, RecordingError> {
        RecordingFile::read(path).load(command)
    }

    /// The checks of [`Recording::load`] on a recording read from `path`.
    fn validate(&self, path: &Path, command: &str) -> Result<(), RecordingError> {
        let recording = self;
        if recording.incomplete {
            return Err(RecordingError::Incomplete {
                path: path.to_owned(),
                command: command.to_owned(),
            });
        }
        let invalid = |message: String| RecordingError::Invalid {
            path: path.to_owned(),
            line: 1,
            column: 1,
            message,
            command: command.to_owned(),
        };
        if recording.payload.get("id").and_then(Value::as_str) != Some(recording.task_id.as_str()) {
            return Err(invalid(format!(
                "the payload's id is not the recording's task id '{}'",
                recording.task_id
            )));
        }
        if !recording.is_terminal() {
            return Err(invalid(format!(
                "the payload's status {} is not terminal: the recording stopped early",
                status_of(&recording.payload)
            )));
        }
        if recording.task_type.parse::<TaskType>().is_err() {
            return Err(invalid(format!(
                "unknown task type '{}'",
                recording.task_type
            )));
        }
        Ok(())
    }

    /// Reads a recording without checking that it is complete (the standalone
    /// receiver's files may hold unfinished or unrouted tasks).
    pub fn read(path: &Path, command: &str) -> Result<Recording, RecordingError> {
        RecordingFile::read(path).get(command)
    }

    /// A recording from the bytes of the file at `path` (named in errors), read already.
    pub fn parse(path: &Path, bytes: &[u8], command: &str) -> Result<Recording, RecordingError> {
        serde_json::from_slice(bytes).map_err(|e| RecordingError::Invalid {
            path: path.to_owned(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
            command: command.to_owned(),
        })
    }

    /// Writes the recording atomically, pretty-printed, with a trailing newline.
    pub fn save(&self, path: &Path) -> Result<(), RecordingError> {
        let mut json = serde_json::to_vec_pretty(self).expect("recordings serialize to JSON");
        json.push(b'\n');
        atomic_file::write(path, &json).map_err(|source| RecordingError::Write {
            path: path.to_owned(),
            source,
        })
    }

    /// Whether the terminal delivery has arrived.
    pub fn is_terminal(&self) -> bool {
        status_of(&self.payload).is_terminal()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn recording(status: &str) -> Recording {
        let payload = json!({"id": "019a97e6", "status": status, "progress": 100});
        Recording {
            incomplete: false,
            payload_source: None,
            species: "otter".into(),
            task_type: "text3d".into(),
            task_id: "019a97e6".into(),
            scenario: Some("otter_text3d".into()),
            received_at: "2026-11-28T15:00:00.000Z".into(),
            headers: BTreeMap::from([("content-type".into(), "application/json".into())]),
            payload: payload.clone(),
            deliveries: vec![Delivery {
                received_at: "2026-11-28T15:00:00.000Z".into(),
                headers: BTreeMap::new(),
                payload,
            }],
        }
    }

    #[test]
    fn save_then_load_round_trips_with_fixed_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = recording_path(dir.path(), "otter", "text3d", "019a97e6");
        recording("SUCCEEDED").save(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let keys: Vec<usize> = [
            "\"species\"",
            "\"task_type\"",
            "\"task_id\"",
            "\"scenario\"",
            "\"received_at\"",
            "\"headers\"",
            "\"payload\"",
            "\"deliveries\"",
        ]
        .iter()
        .map(|k| text.find(k).unwrap())
        .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert_eq!(
            Recording::load(&path, "cmd").unwrap(),
            recording("SUCCEEDED")
        );
    }

    #[test]
    fn missing_corrupt_and_unfinished_recordings_say_what_to_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("otter_text3d_x.json");
        let err = Recording::load(&path, "cargo test -- otter_text3d --record-webhooks")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "no webhook recording '{}'; record it with `cargo test -- otter_text3d --record-webhooks`",
                path.display()
            )
        );
        std::fs::write(&path, "{\n  \"species\": \"otter\",\n  oops\n}").unwrap();
        let err = Recording::load(&path, "cmd").unwrap_err().to_string();
        assert!(err.contains("is invalid at line 3, column 3"), "{err}");
        recording("IN_PROGRESS").save(&path).unwrap();
        let err = Recording::load(&path, "cmd").unwrap_err().to_string();
        assert!(err.contains("status IN_PROGRESS is not terminal"), "{err}");
        let mut unfinished = recording("SUCCEEDED");
        unfinished.incomplete = true;
        unfinished.save(&path).unwrap();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .starts_with("{\n  \"incomplete\": true,\n  \"species\""),
        );
        let err = Recording::load(&path, "cargo test -- otter_text3d --record-mode=once")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "webhook recording '{}' is incomplete: its recording was interrupted or its trial failed; \
                 resume it with `cargo test -- otter_text3d --record-mode=once`",
                path.display()
            )
        );
    }
}
