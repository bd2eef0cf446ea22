//! What the receiver keeps: every authentic delivery by task id, which tasks are
//! claimed by a waiting trial, and the recording files written for them.
//!
//! Deliveries for tasks nobody claimed yet are kept in memory (deliveries may beat
//! the submit response), so a later claim loses nothing; they are written only once
//! claimed — or always, for the standalone receiver. Each task has its own write
//! lock, so files of different tasks are written in parallel while the last write
//! of a task always carries its latest state.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde_json::Value;
use tokio::sync::watch;

use crate::cassette::Scrub;
use crate::clock::now_rfc3339;
use crate::meshy::TaskStatus;
use crate::webhooks::{Delivery, Recording, RecordingError, recording_path, status_of};

/// A trial's claim on a task's deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub scenario: String,
    pub species: String,
    pub task_type: String,
    pub task_id: String,
}

/// What a waiter sees of its task, updated after every delivery.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub deliveries: usize,
    pub status: Option<TaskStatus>,
    pub progress: Option<u64>,
    /// The first terminal task object, once it arrived (as received: not scrubbed).
    pub terminal: Option<Value>,
    /// When the latest delivery was accepted (for wake-up latency measurements).
    pub accepted_at: Option<Instant>,
    /// The recording file, once written.
    pub file: Option<PathBuf>,
    /// Why the recording could not be written, if it could not.
    pub write_error: Option<String>,
}

/// The outcome of accepting one delivery.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub task_id: String,
    pub status: TaskStatus,
    pub progress: Option<u64>,
    pub claimed: bool,
    pub file: Option<PathBuf>,
}

/// Settings of the store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Where recordings go (`cassettes/webhooks`).
    pub dir: PathBuf,
    /// Record every authentic delivery, claimed or not (the standalone receiver).
    pub record_all: bool,
    /// Applied when writing: secrets replaced and hosts made canonical.
    pub scrub: Scrub,
    /// Header names never written (beyond the credential headers, always dropped).
    pub drop_headers: Vec<String>,
}

pub struct Store {
    config: StoreConfig,
    token: String,
    tasks: Mutex<HashMap<String, Arc<Slot>>>,
}

struct Slot {
    state: Mutex<SlotState>,
    /// Held while this task's file is written.
    file: Mutex<()>,
    progress: watch::Sender<Progress>,
}

#[derive(Default)]
struct SlotState {
    claim: Option<Claim>,
    /// Species and task type from the delivery path, when it had them.
    route: Option<(String, String)>,
    deliveries: Vec<Delivery>,
    terminal: Option<usize>,
}

/// Credentials, and `host` (this run's tunnel or port: it would make every re-record
/// differ).
const NEVER_WRITTEN: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "host",
];

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Store {
    pub fn new(config: StoreConfig, token: String) -> Store {
        Store {
            config,
            token,
            tasks: Mutex::default(),
        }
    }

    fn slot(&self, task_id: &str) -> Arc<Slot> {
        let mut tasks = lock(&self.tasks);
        Arc::clone(tasks.entry(task_id.to_owned()).or_insert_with(|| {
            Arc::new(Slot {
                state: Mutex::default(),
                file: Mutex::new(()),
                progress: watch::channel(Progress::default()).0,
            })
        }))
    }

    /// Claims a task for a waiting trial and returns a receiver of its progress.
    /// Deliveries that arrived before the claim count, and are written if terminal.
    pub fn claim(&self, claim: Claim) -> watch::Receiver<Progress> {
        let slot = self.slot(&claim.task_id);
        let write_now = {
            let mut state = lock(&slot.state);
            state.claim = Some(claim);
            state.terminal.is_some()
        };
        let receiver = slot.progress.subscribe();
        if write_now {
            self.write(&slot);
        }
        receiver
    }

    /// Tasks that received deliveries but were never claimed, with their counts.
    pub fn unclaimed(&self) -> Vec<(String, usize)> {
        let tasks = lock(&self.tasks);
        let mut unclaimed: Vec<(String, usize)> = tasks
            .iter()
            .filter_map(|(id, slot)| {
                let state = lock(&slot.state);
                state
                    .claim
                    .is_none()
                    .then(|| (id.clone(), state.deliveries.len()))
            })
            .collect();
        unclaimed.sort();
        unclaimed
    }

    /// Accepts an authentic delivery (path route, headers, parsed body with a string
    /// `id`). Blocking: it may write a file.
    pub fn accept(
        &self,
        route: Option<(String, String)>,
        headers: &[(String, String)],
        payload: Value,
    ) -> Accepted {
        let task_id = payload
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let status = status_of(&payload);
        let progress = payload.get("progress").and_then(Value::as_u64);
        let slot = self.slot(&task_id);
        let claimed = {
            let mut state = lock(&slot.state);
            if state.route.is_none() {
                state.route = route;
            }
            if status.is_terminal() && state.terminal.is_none() {
                state.terminal = Some(state.deliveries.len());
            }
            state.deliveries.push(Delivery {
                received_at: now_rfc3339(),
                headers: self.clean(headers),
                payload,
            });
            let terminal = state.terminal.map(|i| state.deliveries[i].payload.clone());
            slot.progress.send_modify(|p| {
                p.deliveries = state.deliveries.len();
                p.status = Some(status.clone());
                p.progress = progress.or(p.progress);
                p.terminal = terminal;
                p.accepted_at = Some(Instant::now());
            });
            state.claim.is_some()
        };
        let wanted = self.config.record_all || (claimed && lock(&slot.state).terminal.is_some());
        let file = if wanted { self.write(&slot) } else { None };
        Accepted {
            task_id,
            status,
            progress,
            claimed,
            file,
        }
    }

    /// Writes the task's recording from its latest state.
    fn write(&self, slot: &Slot) -> Option<PathBuf> {
        let _writing = lock(&slot.file);
        let (path, recording) = {
            let state = lock(&slot.state);
            self.recording(&state)?
        };
        let result = recording.save(&path);
        slot.progress.send_modify(|p| match &result {
            Ok(()) => p.file = Some(path.clone()),
            Err(e) => p.write_error = Some(e.to_string()),
        });
        if let Err(RecordingError::Write { path, source }) = &result {
            eprintln!(
                "mesh-toolkit receiver: error writing '{}': {source}",
                path.display()
            );
        }
        result.ok().map(|()| path)
    }

    /// The file and content for a task's current state.
    fn recording(&self, state: &SlotState) -> Option<(PathBuf, Recording)> {
        let shown = state.terminal.or(state.deliveries.len().checked_sub(1))?;
        let main = &state.deliveries[shown];
        let task_id = main.payload.get("id").and_then(Value::as_str)?.to_owned();
        let (species, task_type, scenario) = match (&state.claim, &state.route) {
            (Some(claim), _) => (
                claim.species.clone(),
                claim.task_type.clone(),
                Some(claim.scenario.clone()),
            ),
            (None, Some((species, task_type))) => (species.clone(), task_type.clone(), None),
            (None, None) => ("unrouted".to_owned(), "unknown".to_owned(), None),
        };
        let path = if state.claim.is_none() && state.route.is_none() {
            self.config
                .dir
                .join("unrouted")
                .join(format!("{task_id}.json"))
        } else {
            recording_path(&self.config.dir, &species, &task_type, &task_id)
        };
        let deliveries: Vec<Delivery> = state.deliveries.iter().map(|d| self.scrubbed(d)).collect();
        let main = &deliveries[shown];
        let recording = Recording {
            species,
            task_type,
            task_id,
            scenario,
            received_at: main.received_at.clone(),
            headers: main.headers.clone(),
            payload: main.payload.clone(),
            deliveries,
        };
        Some((path, recording))
    }

    fn scrubbed(&self, delivery: &Delivery) -> Delivery {
        Delivery {
            received_at: delivery.received_at.clone(),
            headers: delivery
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), self.config.scrub.text(v)))
                .collect(),
            payload: scrub_value(&delivery.payload, &self.config.scrub),
        }
    }

    /// Headers as written: lower-case names; credentials, `host`, configured names and
    /// any header carrying the token removed; repeated headers joined with ", ".
    fn clean(&self, headers: &[(String, String)]) -> BTreeMap<String, String> {
        let mut kept: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in headers {
            let name = name.to_ascii_lowercase();
            let secret = NEVER_WRITTEN.contains(&name.as_str())
                || self
                    .config
                    .drop_headers
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(&name))
                || (!self.token.is_empty() && value.contains(&self.token));
            if !secret {
                kept.entry(name)
                    .and_modify(|v| {
                        v.push_str(", ");
                        v.push_str(value);
                    })
                    .or_insert_with(|| value.clone());
            }
        }
        kept
    }
}

/// Every string in a JSON value passed through the scrubber.
fn scrub_value(value: &Value, scrub: &Scrub) -> Value {
    match value {
        Value::String(s) => Value::String(scrub.text(s)),
        Value::Array(items) => Value::Array(items.iter().map(|v| scrub_value(v, scrub)).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), scrub_value(v, scrub)))
                .collect(),
        ),
        other => other.clone(),
    }
}
