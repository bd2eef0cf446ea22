//! What the receiver keeps: every authentic delivery by task id, which tasks are
//! claimed by a waiting trial, and the recording files written for them.
//!
//! Deliveries for tasks nobody claimed yet are kept in memory (deliveries may beat
//! the submit response), so a later claim loses nothing; they are written only once
//! claimed — or always, for the standalone receiver. A claimed task's recording is a
//! journal: rewritten after every delivery and marked `incomplete` until its trial
//! calls [`Store::complete`]; a claim picks up the deliveries an earlier, interrupted
//! run wrote to the same file, so a resumed task loses none. Each task has its own write
//! lock, so files of different tasks are written in parallel while the last write
//! of a task always carries its latest state.
//!
//! Dashboard deliveries (`POST /webhook`, every task of the account) of tasks nobody
//! claimed are kept in the spool when one is configured ([`StoreConfig::spool`]: under
//! the target dir, never in the cassettes directory users commit), one file per task,
//! so that deliveries arriving between runs, or after the run that sent the task
//! stopped, are not lost: a later claim merges the spool's deliveries of its task, and
//! its spool file is removed once the trial passes. Spool files older than
//! [`SPOOL_MAX_AGE`] are pruned when a store starts.
//!
//! Memory stays bounded for a long-running standalone receiver: once an unclaimed
//! task's recording is written after its terminal delivery, the task leaves memory;
//! a late delivery for it reads the file back, merges, and rewrites it atomically.
//! Claimed tasks stay (their trial waits on them and completes them), and so do the
//! harness's unclaimed tasks (a trial may still claim them).

use crate::sync::lock;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;
use tokio::sync::watch;

use crate::cassette::Scrub;
use crate::clock::now_rfc3339;
use crate::meshy::TaskStatus;
use crate::secrets::{CREDENTIAL_HEADERS, MIN_SCRUBBED_ELSEWHERE, is_secret_header, placeholder};
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
    /// The first terminal task object, once it arrived (as received, but for the values
    /// of secret headers it repeated).
    pub terminal: Option<Value>,
    /// When the latest delivery was accepted (for wake-up latency measurements).
    pub accepted_at: Option<Instant>,
    /// The recording file, once written.
    pub file: Option<PathBuf>,
    /// Whether a write that includes the terminal delivery has reached the disk.
    pub terminal_written: bool,
    /// Why the recording could not be written, if it could not.
    pub write_error: Option<Arc<RecordingError>>,
    /// Why its deliveries can no longer arrive (the standing receiver a run attached to
    /// stopped answering), with the command that helps.
    pub gone: Option<Arc<str>>,
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

/// Why a task's recording could not be completed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("task {task_id}: the task has no deliveries or claim to record")]
    NothingToRecord { task_id: String },
    #[error(transparent)]
    Write(Arc<RecordingError>),
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
    /// Where dashboard deliveries of unclaimed tasks wait for a claim
    /// (`<target dir>/mesh-toolkit/spool`); `None`: kept in memory only (and, for the
    /// standalone receiver, written under `unrouted/`).
    pub spool: Option<PathBuf>,
}

/// Spool files older than this are pruned: Meshy keeps a task's results 3 days.
pub const SPOOL_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(3 * 86_400);

/// The spool of the project whose target dir is `workdir` (`workdir::dir()`).
pub fn spool_dir(workdir: &std::path::Path) -> PathBuf {
    workdir.join("spool")
}

pub struct Store {
    config: StoreConfig,
    token: String,
    tasks: Mutex<HashMap<String, Arc<Slot>>>,
    /// Tasks of the run that a trial follows by polling: their deliveries (a dashboard
    /// webhook sends every task's) are expected, not unclaimed strangers.
    polled: Mutex<std::collections::HashSet<String>>,
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
    /// The trial that claimed the task passed: the recording is no longer incomplete.
    complete: bool,
    /// The deliveries a file already held were merged in (or there was no file).
    loaded: bool,
    /// The deliveries the task's spool file held were merged in (or there was none).
    spool_loaded: bool,
    /// What an unclaimed task keeps of the file it was merged from.
    kept: Option<Kept>,
    /// The terminal task object from the API, standing in for a terminal webhook
    /// that never came (`--accept-api-payload`).
    api_payload: Option<Value>,
}

/// The parts of an earlier recording that an unclaimed task's rewrite keeps.
struct Kept {
    scenario: Option<String>,
    incomplete: bool,
}

/// Besides the credential headers (`secrets::CREDENTIAL_HEADERS`): `host`, this run's
/// tunnel or port (it would make every re-record differ).
const NEVER_WRITTEN: [&str; 1] = ["host"];

impl Store {
    pub fn new(config: StoreConfig, token: String) -> Store {
        if let Some(spool) = &config.spool {
            prune(spool, SPOOL_MAX_AGE);
        }
        Store {
            config,
            token,
            tasks: Mutex::default(),
            polled: Mutex::default(),
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
    /// Deliveries an earlier run wrote to the claim's recording come first.
    pub fn claim(&self, claim: Claim) -> watch::Receiver<Progress> {
        let slot = self.slot(&claim.task_id);
        let earlier = recording_path(
            &self.config.dir,
            &claim.species,
            &claim.task_type,
            &claim.task_id,
        );
        let earlier = Recording::read(&earlier, "")
            .ok()
            .filter(|r| r.task_id == claim.task_id)
            .map(|r| self.live_hosts(r));
        let spooled = self.spooled(&claim.task_id);
        let write_now = {
            let mut state = lock(&slot.state);
            let first = state.claim.is_none();
            state.claim = Some(claim);
            if first
                && !state.loaded
                && let Some(earlier) = earlier
            {
                merge(&mut state, earlier, &slot.progress);
            }
            if !state.spool_loaded
                && let Some(spooled) = spooled
            {
                merge(&mut state, spooled, &slot.progress);
            }
            state.loaded = true;
            state.spool_loaded = true;
            !state.deliveries.is_empty()
        };
        let receiver = slot.progress.subscribe();
        if write_now {
            // A failure reaches the waiter through `Progress::write_error`.
            let _ = self.write(&slot);
        }
        receiver
    }

    /// The trial that claimed `task_id` passed: its recording is written once more,
    /// without `incomplete`. The file, or why it could not be written.
    pub fn complete(&self, task_id: &str) -> Result<PathBuf, StoreError> {
        let slot = self.slot(task_id);
        // What the spool received since (a late or repeated delivery) joins first: the
        // file is taken aside, so a delivery spooled meanwhile starts a new one.
        let taken = self.take_spooled(task_id);
        {
            let mut state = lock(&slot.state);
            if let Some((_, spooled)) = &taken {
                merge(&mut state, spooled.clone(), &slot.progress);
            }
            state.complete = true;
        }
        let written = self.write_checked(task_id, &slot)?;
        // Its deliveries are in the recording now.
        if let Some((aside, _)) = taken {
            let _ = std::fs::remove_file(aside);
        }
        Ok(written)
    }

    /// Takes what the spool holds for every claimed task whose terminal delivery is not
    /// written yet (a receiver in another process writes it: [`super::Receiver::attach`]).
    pub fn follow_spool(&self) {
        let waiting: Vec<(String, Arc<Slot>)> = lock(&self.tasks)
            .iter()
            .filter(|(_, slot)| !slot.progress.borrow().terminal_written)
            .filter(|(_, slot)| lock(&slot.state).claim.is_some())
            .map(|(id, slot)| (id.clone(), Arc::clone(slot)))
            .collect();
        for (task_id, slot) in waiting {
            let Some(spooled) = self.spooled(&task_id) else {
                continue;
            };
            let fresh = {
                let mut state = lock(&slot.state);
                let known = |d: &Delivery| {
                    state
                        .deliveries
                        .iter()
                        .any(|k| k.received_at == d.received_at && k.payload == d.payload)
                };
                let fresh: Vec<Delivery> = (spooled.deliveries.iter())
                    .filter(|d| !known(d))
                    .cloned()
                    .collect();
                let any = !fresh.is_empty();
                if any {
                    let recording = Recording {
                        deliveries: fresh,
                        payload_source: None,
                        ..spooled
                    };
                    merge(&mut state, recording, &slot.progress);
                    slot.progress
                        .send_modify(|p| p.accepted_at = Some(Instant::now()));
                }
                any
            };
            if fresh {
                // A failure reaches the waiter through `Progress::write_error`.
                let _ = self.write(&slot);
            }
        }
    }

    /// Deliveries can no longer arrive (`why`): every claimed task still waiting for its
    /// terminal delivery is told.
    pub fn gone(&self, why: &Arc<str>) {
        let tasks = lock(&self.tasks);
        for slot in tasks.values() {
            let waiting = !slot.progress.borrow().terminal_written;
            if waiting && lock(&slot.state).claim.is_some() {
                slot.progress
                    .send_modify(|p| p.gone = Some(Arc::clone(why)));
            }
        }
    }

    /// Where dashboard deliveries nobody claimed wait, if anywhere.
    pub fn spool(&self) -> Option<&std::path::Path> {
        self.config.spool.as_deref()
    }

    /// The task's spool file, if there is one that holds it.
    fn spooled(&self, task_id: &str) -> Option<Recording> {
        let path = self.spool_file(task_id)?;
        Recording::read(&path, "")
            .ok()
            .filter(|r| r.task_id == task_id)
            .map(|r| self.live_hosts(r))
    }

    /// A file's recording as this run's deliveries are held: its canonical hosts back to
    /// the ones this run talks to (a resumed task's asset URLs must reach the simulator
    /// that made them; written again, they become canonical again).
    fn live_hosts(&self, mut recording: Recording) -> Recording {
        let scrub = &self.config.scrub;
        recording.payload = scrub.unhost_value(&recording.payload);
        for delivery in &mut recording.deliveries {
            delivery.payload = scrub.unhost_value(&delivery.payload);
        }
        recording
    }

    /// The task's spool file, moved aside (a receiver spooling meanwhile starts a new
    /// one), and what it holds.
    fn take_spooled(&self, task_id: &str) -> Option<(PathBuf, Recording)> {
        let path = self.spool_file(task_id)?;
        let aside = path.with_file_name(format!(".{task_id}.taken-{}", std::process::id()));
        std::fs::rename(&path, &aside).ok()?;
        match Recording::read(&aside, "")
            .ok()
            .filter(|r| r.task_id == task_id)
        {
            Some(recording) => Some((aside, recording)),
            None => {
                // Not this task's: put back as it was.
                let _ = std::fs::rename(&aside, &path);
                None
            }
        }
    }

    /// Where a task's deliveries wait in the spool; `None` without a spool or for an
    /// id that cannot name a file.
    fn spool_file(&self, task_id: &str) -> Option<PathBuf> {
        let spool = self.config.spool.as_ref()?;
        super::is_valid_task_id(task_id).then(|| spool.join(format!("{task_id}.json")))
    }

    /// No terminal webhook came, and the run accepts the API's task object instead:
    /// the recording's payload becomes `payload`, marked `payload_source: "api"`.
    pub fn accept_api_payload(&self, task_id: &str, payload: Value) -> Result<PathBuf, StoreError> {
        let slot = self.slot(task_id);
        lock(&slot.state).api_payload = Some(payload);
        self.write_checked(task_id, &slot)
    }

    fn write_checked(&self, task_id: &str, slot: &Slot) -> Result<PathBuf, StoreError> {
        match self.write(slot) {
            Ok(Some(path)) => Ok(path),
            Ok(None) => Err(StoreError::NothingToRecord {
                task_id: task_id.to_owned(),
            }),
            Err(e) => Err(StoreError::Write(e)),
        }
    }

    /// Tasks held in memory, and their deliveries.
    pub fn in_memory(&self) -> (usize, usize) {
        let tasks = lock(&self.tasks);
        let deliveries = tasks
            .values()
            .map(|slot| lock(&slot.state).deliveries.len())
            .sum();
        (tasks.len(), deliveries)
    }

    /// Drops an unclaimed task from memory once a write holding its terminal delivery
    /// is on disk and no other delivery of it is in flight (each of those writes, then
    /// tries this itself).
    fn evict_if_done(&self, task_id: &str, slot: &Arc<Slot>) {
        let mut tasks = lock(&self.tasks);
        let done = {
            let state = lock(&slot.state);
            state.claim.is_none() && state.terminal.is_some()
        } && slot.progress.borrow().terminal_written;
        // Held by the map and by the caller only: nobody else can take it meanwhile,
        // since taking it needs the map's lock.
        if done
            && Arc::strong_count(slot) == 2
            && tasks.get(task_id).is_some_and(|s| Arc::ptr_eq(s, slot))
        {
            tasks.remove(task_id);
        }
    }

    /// A task of the run that a trial follows by polling, not by its deliveries.
    pub fn polled(&self, task_id: &str) {
        lock(&self.polled).insert(task_id.to_owned());
    }

    /// Removes what the spool kept of the run's polled tasks: no trial ever claims
    /// their deliveries (the run ends).
    pub fn forget_polled(&self) {
        let polled = lock(&self.polled).clone();
        for task_id in polled {
            if let Some(path) = self.spool_file(&task_id) {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// Tasks that received deliveries but were never claimed (nor polled by a trial of
    /// the run), with their counts.
    pub fn unclaimed(&self) -> Vec<(String, usize)> {
        let polled = lock(&self.polled).clone();
        let tasks = lock(&self.tasks);
        let mut unclaimed: Vec<(String, usize)> = tasks
            .iter()
            .filter(|(id, _)| !polled.contains(*id))
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
    /// `id`). Blocking: it may write a file. An error when the recording it belongs in
    /// could not be written (the delivery stays in memory, so a later write of the task
    /// still carries it).
    pub fn accept(
        &self,
        route: Option<(String, String)>,
        headers: &[(String, String)],
        payload: Value,
    ) -> Result<Accepted, Arc<RecordingError>> {
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
            // A task that left memory (or one an earlier run recorded) continues its file.
            // A file that exists but cannot be read (or holds another task) is never
            // replaced: the delivery is refused (503, delivered again) and the file kept.
            // A dashboard delivery nobody claimed joins what the spool holds of its task.
            let spooling = self.config.spool.is_some() && state.route.is_none();
            if spooling && state.claim.is_none() && !state.spool_loaded {
                if let Some(spooled) = self.spooled(&task_id) {
                    merge(&mut state, spooled, &slot.progress);
                }
                state.spool_loaded = true;
            }
            if self.config.record_all && !spooling && state.claim.is_none() && !state.loaded {
                let path = self.target(&state, &task_id);
                match Recording::read(&path, "mesh-toolkit receive") {
                    Ok(earlier) if earlier.task_id == task_id => {
                        state.kept = Some(Kept {
                            scenario: earlier.scenario.clone(),
                            incomplete: earlier.incomplete,
                        });
                        merge(&mut state, earlier, &slot.progress);
                    }
                    Ok(other) => {
                        return Err(Arc::new(RecordingError::Invalid {
                            path,
                            line: 1,
                            column: 1,
                            message: format!("it holds task '{}', not '{task_id}'", other.task_id),
                            command: "move the file aside".into(),
                        }));
                    }
                    Err(RecordingError::Missing { .. }) => {}
                    Err(error) => return Err(Arc::new(error)),
                }
                state.loaded = true;
            }
            if status.is_terminal() && state.terminal.is_none() {
                state.terminal = Some(state.deliveries.len());
            }
            let (headers, secrets) = self.clean(headers);
            // A secret header's value never travels on inside the payload either.
            let payload = if secrets.secrets.is_empty() {
                payload
            } else {
                secrets.value(&payload)
            };
            state.deliveries.push(Delivery {
                received_at: now_rfc3339(),
                headers,
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
            (state.claim.is_some(), spooling)
        };
        let (claimed, spooling) = claimed;
        let wanted = self.config.record_all || claimed || spooling;
        let file = if wanted { self.write(&slot)? } else { None };
        if file.is_some() && !claimed {
            self.evict_if_done(&task_id, &slot);
        }
        Ok(Accepted {
            task_id,
            status,
            progress,
            claimed,
            file,
        })
    }

    /// Writes the task's recording from its latest state: the file, `None` when there
    /// is nothing to record yet, or why it could not be written (also left in the
    /// task's progress for its waiter, until a later write succeeds).
    fn write(&self, slot: &Slot) -> Result<Option<PathBuf>, Arc<RecordingError>> {
        let _writing = lock(&slot.file);
        let (path, recording, has_terminal) = {
            let state = lock(&slot.state);
            let Some((path, recording)) = self.recording(&state) else {
                return Ok(None);
            };
            (path, recording, state.terminal.is_some())
        };
        let result = recording.save(&path).map_err(Arc::new);
        slot.progress.send_modify(|p| match &result {
            Ok(()) => {
                p.file = Some(path.clone());
                p.terminal_written |= has_terminal;
                p.write_error = None;
            }
            Err(e) => p.write_error = Some(Arc::clone(e)),
        });
        result.map(|()| Some(path))
    }

    /// Where a task's recording goes: by its claim, else by its delivery route, else
    /// under `unrouted/`.
    fn target(&self, state: &SlotState, task_id: &str) -> PathBuf {
        match (&state.claim, &state.route) {
            (Some(claim), _) => recording_path(
                &self.config.dir,
                &claim.species,
                &claim.task_type,
                &claim.task_id,
            ),
            (None, Some((species, task_type))) => {
                recording_path(&self.config.dir, species, task_type, task_id)
            }
            (None, None) => match self.spool_file(task_id) {
                Some(spooled) => spooled,
                None => self
                    .config
                    .dir
                    .join("unrouted")
                    .join(format!("{task_id}.json")),
            },
        }
    }

    /// The file and content for a task's current state.
    fn recording(&self, state: &SlotState) -> Option<(PathBuf, Recording)> {
        if state.deliveries.is_empty() && state.api_payload.is_none() {
            return None;
        }
        let shown = state.terminal.or(state.deliveries.len().checked_sub(1));
        let task_id = match (shown, &state.api_payload, &state.claim) {
            (_, _, Some(claim)) => claim.task_id.clone(),
            (Some(i), _, None) => state.deliveries[i]
                .payload
                .get("id")
                .and_then(Value::as_str)?
                .to_owned(),
            (None, Some(api), None) => api.get("id").and_then(Value::as_str)?.to_owned(),
            (None, None, None) => return None,
        };
        let kept_scenario = state.kept.as_ref().and_then(|k| k.scenario.clone());
        let (species, task_type, scenario) = match (&state.claim, &state.route) {
            (Some(claim), _) => (
                claim.species.clone(),
                claim.task_type.clone(),
                Some(claim.scenario.clone()),
            ),
            (None, Some((species, task_type))) => {
                (species.clone(), task_type.clone(), kept_scenario)
            }
            (None, None) => ("unrouted".to_owned(), "unknown".to_owned(), kept_scenario),
        };
        let path = self.target(state, &task_id);
        let deliveries: Vec<Delivery> = state.deliveries.iter().map(|d| self.scrubbed(d)).collect();
        // The API's task object stands in only where no terminal webhook came.
        let from_api = state
            .terminal
            .is_none()
            .then_some(())
            .and(state.api_payload.as_ref());
        let (received_at, headers, payload) = match (from_api, shown) {
            (Some(api), _) => (now_rfc3339(), BTreeMap::new(), self.config.scrub.value(api)),
            (None, Some(i)) => (
                deliveries[i].received_at.clone(),
                deliveries[i].headers.clone(),
                deliveries[i].payload.clone(),
            ),
            (None, None) => return None,
        };
        let recording = Recording {
            incomplete: match &state.claim {
                Some(_) => !state.complete,
                // A late delivery does not complete a journal an interrupted trial left.
                None => state.kept.as_ref().is_some_and(|k| k.incomplete),
            },
            species,
            task_type,
            task_id,
            scenario,
            received_at,
            headers,
            payload,
            payload_source: from_api.map(|_| "api".to_owned()),
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
            payload: self.config.scrub.value(&delivery.payload),
        }
    }

    /// Headers as written, and the rule that replaces the secret values they carried
    /// wherever else those appear. Lower-case names; credentials, `host`, configured
    /// names and any header carrying the token removed; a secret-bearing header
    /// (`x-meshy-api-webhook-secret-key`, any name `secrets::is_secret_header` flags)
    /// keeps its name with one fixed placeholder, however often and in whatever
    /// spelling it came, so a replay still shows it was sent; other repeated headers
    /// joined with ", ".
    fn clean(&self, headers: &[(String, String)]) -> (BTreeMap<String, String>, Scrub) {
        let mut secrets = Scrub::default();
        for (name, value) in headers {
            if is_secret_header(name) && value.len() >= MIN_SCRUBBED_ELSEWHERE {
                secrets = secrets.secret(value.clone(), placeholder(name));
            }
        }
        let mut kept: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in headers {
            let name = name.to_ascii_lowercase();
            let dropped = NEVER_WRITTEN.contains(&name.as_str())
                || CREDENTIAL_HEADERS.contains(&name.as_str())
                || self
                    .config
                    .drop_headers
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(&name))
                || (!self.token.is_empty() && value.contains(&self.token));
            if dropped {
                continue;
            }
            if is_secret_header(&name) {
                let shown = placeholder(&name).to_owned();
                kept.insert(name, shown);
                continue;
            }
            let value = secrets.text(value);
            kept.entry(name)
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert(value);
        }
        (kept, secrets)
    }
}

/// Puts the deliveries an earlier write of the task's file holds before those in
/// memory, and tells the task's waiter.
fn merge(state: &mut SlotState, mut earlier: Recording, progress: &watch::Sender<Progress>) {
    // A file an older receiver wrote may hold a secret header's value: it is mended
    // before its deliveries join, so no rewrite carries it on.
    earlier.scrub_leaks();
    // A delivery both sources hold (a spool's, already in a recording an earlier run
    // wrote; their payloads may be scrubbed differently) is one delivery.
    let same = |a: &Delivery, b: &Delivery| {
        a.received_at == b.received_at
            && a.payload.get("status") == b.payload.get("status")
            && a.payload.get("progress") == b.payload.get("progress")
    };
    let mut deliveries: Vec<Delivery> = earlier
        .deliveries
        .into_iter()
        .filter(|d| !state.deliveries.iter().any(|kept| same(kept, d)))
        .collect();
    deliveries.append(&mut state.deliveries);
    // In the order they arrived (RFC 3339 UTC times sort as text), a file's first.
    deliveries.sort_by(|a, b| a.received_at.cmp(&b.received_at));
    state.deliveries = deliveries;
    state.terminal = state
        .deliveries
        .iter()
        .position(|d| status_of(&d.payload).is_terminal());
    if earlier.payload_source.as_deref() == Some("api") {
        state.api_payload = Some(earlier.payload);
    }
    let terminal = state.terminal.map(|i| state.deliveries[i].payload.clone());
    let last = state.deliveries.last().map(|d| d.payload.clone());
    progress.send_modify(|p| {
        p.deliveries = state.deliveries.len();
        p.status = last.as_ref().map(status_of);
        p.progress = last
            .as_ref()
            .and_then(|l| l.get("progress"))
            .and_then(Value::as_u64);
        p.terminal = terminal;
    });
}

/// Removes the spool files not written for `max_age` (and torn temporary files).
fn prune(spool: &std::path::Path, max_age: std::time::Duration) {
    crate::atomic_file::sweep(spool);
    let Ok(entries) = std::fs::read_dir(spool) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age > max_age);
        if old && entry.path().extension().is_some_and(|x| x == "json") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
