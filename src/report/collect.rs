//! What the report shows, gathered from disk: one [`Entry`] per scenario file or
//! cassette (a trial written in Rust has only the latter), each with its last result,
//! what its cassette says (API version, date, target, tasks and credits, the models and
//! images it downloaded, every interaction) and its webhook recordings' deliveries.
//! Reading only: nothing here writes, and a file that cannot be read becomes a note on
//! its entry, never an error of the report.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::cassette::{Body, Cassette, CassetteFile, Interaction};
use crate::check::list;
use crate::meshy::TaskType;
use crate::scenario::{Scenario, ScenarioFile};
use crate::webhooks::{Recording, RecordingFile};

use super::handoff::Given;

/// Where a report's inputs are.
#[derive(Debug, Clone)]
pub struct Sources {
    pub scenarios: PathBuf,
    pub cassettes: PathBuf,
    pub results: PathBuf,
    /// How the suite is run, for the commands the report prints.
    pub invocation: crate::command::Invocation,
}

/// One scenario (or Rust trial) as the report shows it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    /// `webhook`, `polling`, `rust` (a cassette without a scenario file) or `invalid`.
    pub kind: String,
    pub task_type: Option<TaskType>,
    pub scenario_file: Option<PathBuf>,
    /// Why the scenario file does not load.
    pub scenario_error: Option<String>,
    /// The scenario whose task this one takes as input.
    pub input: Option<String>,
    /// The scenarios that take this one's task as input.
    pub dependents: Vec<String>,
    /// The sha256 of its scenario file (a result of another one is stale).
    pub scenario_sha256: Option<String>,
    pub cassette: Option<CassetteView>,
    /// Why its cassette exists but cannot be read.
    pub cassette_problem: Option<String>,
    pub recordings: Vec<RecordingView>,
}

/// What a cassette holds, for the report.
#[derive(Debug, Clone)]
pub struct CassetteView {
    pub path: PathBuf,
    /// `X-Api-Version` of its first response that has one.
    pub api_version: Option<String>,
    /// The Meshy API generation it speaks (v1 or v2), read from what it holds.
    pub generation: Option<crate::meshy::ApiGeneration>,
    /// `recorded_at`, else the first response's `date` header.
    pub recorded_at: Option<String>,
    /// What it was recorded against (`None`: it does not say, counted as the real API).
    pub against: Option<crate::cassette::RecordedAgainst>,
    pub incomplete: bool,
    pub pending: usize,
    /// The tasks its create calls made, with their type.
    pub tasks: Vec<(TaskType, String)>,
    /// What those tasks cost at today's prices (`None` when one's price is unknown).
    pub credits: Option<u64>,
    pub models: Vec<Asset>,
    pub images: Vec<Asset>,
    pub interactions: Vec<Interaction>,
    /// Task objects read by polling (`GET` of a task, its stream), in order.
    pub polls: Vec<Mark>,
}

/// A file a scenario downloaded.
#[derive(Debug, Clone)]
pub struct Asset {
    /// The URL's last path segment (`model.glb`, `rigged_character.glb`).
    pub name: String,
    pub content_type: String,
    pub sha256: String,
    pub bytes: Arc<Vec<u8>>,
}

/// A webhook recording of one of the entry's tasks.
#[derive(Debug, Clone)]
pub struct RecordingView {
    pub path: PathBuf,
    pub task_id: String,
    pub incomplete: bool,
    /// The terminal payload came from the API (`--accept-api-payload`).
    pub from_api: bool,
    pub marks: Vec<Mark>,
    pub recording: Arc<Recording>,
}

/// One point of a delivery timeline: a webhook delivery or a poll.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// Milliseconds since the task was submitted (`None`: not known).
    pub at_ms: Option<i64>,
    pub status: String,
    pub progress: Option<u64>,
    /// The same status and progress arrived before.
    pub duplicate: bool,
    /// It arrived after a later state (lower progress, or after the end).
    pub out_of_order: bool,
}

/// What the report reads before its entries: the names (scenario files and
/// cassettes), the webhook recordings by task, and which scenario takes
/// which one's task as input. Entries are then read one at a time ([`Index::entry`]),
/// so a big suite's models are never all in memory at once.
#[derive(Debug)]
pub struct Index {
    pub sources: Sources,
    /// Every entry's name, sorted.
    pub names: Vec<String>,
    /// Unfinished re-recordings beside cassettes (`<name>.rerecording.yaml`): only
    /// `cassettes check` reads them.
    pub rerecordings: Vec<PathBuf>,
    /// The webhook recordings by task id (named `<species>_<task type>_<task id>.json`),
    /// read when their entry is.
    recordings: BTreeMap<String, Vec<PathBuf>>,
    /// The standalone receiver's `webhooks/unrouted/` recordings: no entry reads them;
    /// `cassettes check` and the report's check list them (for leaked secrets).
    unrouted: Vec<PathBuf>,
    /// Scenario name → the scenarios that take its task as input.
    dependents: BTreeMap<String, Vec<String>>,
    /// Scenario name → its file, read and loaded.
    scenarios: BTreeMap<String, ScenarioFile>,
}

impl Index {
    /// Reads the scenario files (unless the run `read` them already), the names of the
    /// cassettes and the webhook recordings.
    pub fn read(sources: &Sources, read: Option<&[ScenarioFile]>) -> Index {
        let read = match read {
            Some(files) => files.to_vec(),
            None => {
                let paths = crate::scenario::discover(&sources.scenarios).unwrap_or_default();
                crate::parallel::map(&paths, |path| ScenarioFile::read(path))
            }
        };
        let scenarios: BTreeMap<_, _> = read.into_iter().map(|f| (f.name.clone(), f)).collect();
        let mut names: BTreeSet<String> = scenarios.keys().cloned().collect();
        let mut rerecordings = Vec::new();
        for path in list(&sources.cassettes.join("http"), "yaml") {
            let stem = crate::scenario::name_of(&path);
            if stem.ends_with(".rerecording") {
                rerecordings.push(path);
            } else {
                names.insert(stem);
            }
        }
        let mut dependents: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, file) in &scenarios {
            if let Ok(Scenario {
                input: Some(input), ..
            }) = &file.loaded
            {
                dependents
                    .entry(input.clone())
                    .or_default()
                    .push(name.clone());
            }
        }
        Index {
            sources: sources.clone(),
            names: names.into_iter().collect(),
            rerecordings,
            recordings: by_task(list(&sources.cassettes.join("webhooks"), "json")),
            unrouted: list(&sources.cassettes.join("webhooks").join("unrouted"), "json"),
            dependents,
            scenarios,
        }
    }

    /// The entry `name`: its scenario, its cassette and the webhook recordings of its
    /// tasks read, and checked for `cassettes check` (by `checker`). What its trial
    /// read already (`given`) is not read again.
    pub fn entry(
        &self,
        name: &str,
        checker: &crate::check::Checker,
        given: Option<super::handoff::Given>,
    ) -> Checked<Entry> {
        let (given_cassette, given_recordings) = Given::split(given);
        let (path, file, text) = self.cassette_of(name, given_cassette);
        let checked = checker.cassette_file(&file, text.as_deref());
        let mut entry = entry(name, self.scenarios.get(name), &path, file);
        entry.dependents = self.dependents.get(name).cloned().unwrap_or_default();
        let mut recordings = Vec::new();
        let tasks: Vec<String> = entry
            .cassette
            .iter()
            .flat_map(|c| c.tasks.iter().map(|(_, id)| id.clone()))
            .collect();
        for file in self.recording_files(&tasks, &given_recordings) {
            let (view, checked) = read_recording(&file, checker);
            recordings.push(checked);
            entry.recordings.extend(view);
        }
        Checked {
            item: entry,
            cassette: checked,
            recordings,
        }
    }

    /// The entry `name` checked for `cassettes check` only, its page kept from an
    /// earlier report (`super::cache`) for the cassette's `tasks`: its files are read
    /// (unless `given`) and checked, not collected or rendered.
    pub fn check_only(
        &self,
        name: &str,
        checker: &crate::check::Checker,
        given: Option<super::handoff::Given>,
        tasks: &[String],
    ) -> Checked<()> {
        let (given_cassette, given_recordings) = Given::split(given);
        let (_, file, text) = self.cassette_of(name, given_cassette);
        Checked {
            item: (),
            cassette: checker.cassette_file(&file, text.as_deref()),
            recordings: self
                .recording_files(tasks, &given_recordings)
                .iter()
                .map(|file| check_recording(file, checker))
                .collect(),
        }
    }

    /// The cassette of the entry `name`: its path, as `given` by its trial or read, and
    /// what the check reads of its text.
    fn cassette_of(
        &self,
        name: &str,
        given: Option<(CassetteFile, String)>,
    ) -> (PathBuf, CassetteFile, Option<String>) {
        let path = self.cassette_path(name);
        let (file, text) = match given.filter(|(file, _)| file.path() == path) {
            Some((file, text)) => (file, Some(text)),
            None => CassetteFile::read_with_text(&path),
        };
        (path, file, text)
    }

    /// The webhook recordings of `tasks`, as `given` by their trial or read.
    fn recording_files(
        &self,
        tasks: &[String],
        given: &[Arc<RecordingFile>],
    ) -> Vec<Arc<RecordingFile>> {
        self.recordings_of(tasks)
            .map(|path| match given.iter().find(|f| f.path() == path) {
                Some(file) => Arc::clone(file),
                None => Arc::new(RecordingFile::read(path)),
            })
            .collect()
    }

    /// The files the entry `name` is read from beside its recordings: its scenario file
    /// (if it has one) and its cassette (which may be absent), and the scenarios that
    /// take its task as input.
    pub fn files_of(&self, name: &str) -> (Option<&Path>, PathBuf, &[String]) {
        (
            self.scenarios.get(name).map(|f| f.path.as_path()),
            self.cassette_path(name),
            self.dependents.get(name).map_or(&[], Vec::as_slice),
        )
    }

    /// Every scenario file's name, with what loading it gave.
    pub fn loaded_scenarios(
        &self,
    ) -> Vec<(String, Result<Scenario, crate::scenario::ScenarioError>)> {
        self.scenarios
            .iter()
            .map(|(name, file)| (name.clone(), file.loaded.clone()))
            .collect()
    }

    /// The sha256 of the scenario file `name` as read (`None`: none, or unreadable).
    pub fn scenario_sha256(&self, name: &str) -> Option<&str> {
        self.scenarios.get(name)?.sha256.as_deref()
    }

    /// The webhook recordings of `tasks`, in order.
    pub fn recordings_of<'a>(&'a self, tasks: &'a [String]) -> impl Iterator<Item = &'a Path> {
        tasks
            .iter()
            .flat_map(|t| self.recordings.get(t))
            .flatten()
            .map(PathBuf::as_path)
    }

    /// Where the entry `name`'s cassette is (or would be).
    pub fn cassette_path(&self, name: &str) -> PathBuf {
        self.sources
            .cassettes
            .join("http")
            .join(format!("{name}.yaml"))
    }

    /// The webhook recordings no entry reads (of tasks no cassette created, and those
    /// under `unrouted/`), checked.
    pub fn other_recordings(
        &self,
        read: &BTreeSet<PathBuf>,
        checker: &crate::check::Checker,
    ) -> Vec<crate::check::RecordingChecked> {
        let others: Vec<&PathBuf> = self
            .recordings
            .values()
            .flatten()
            .filter(|p| !read.contains(*p))
            .chain(&self.unrouted)
            .collect();
        crate::parallel::map(&others, |path| {
            read_recording(&RecordingFile::read(path), checker).1
        })
    }
}

/// Something read, with what `cassettes check` found in the files it read.
pub struct Checked<T> {
    pub item: T,
    pub cassette: Option<crate::check::CassetteChecked>,
    pub recordings: Vec<crate::check::RecordingChecked>,
}

/// Webhook recordings by the task id in their names (several may name one task).
fn by_task(paths: Vec<PathBuf>) -> BTreeMap<String, Vec<PathBuf>> {
    let mut map: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for path in paths {
        map.entry(crate::check::task_of_recording(&path).to_owned())
            .or_default()
            .push(path);
    }
    map
}

/// A webhook recording read: its view, if it parses, and its check.
fn read_recording(
    file: &RecordingFile,
    checker: &crate::check::Checker,
) -> (Option<RecordingView>, crate::check::RecordingChecked) {
    let checked = check_recording(file, checker);
    let view = file.recording().map(|recording| RecordingView {
        path: file.path().to_owned(),
        task_id: recording.task_id.clone(),
        incomplete: recording.incomplete,
        from_api: recording.payload_source.as_deref() == Some("api"),
        marks: delivery_marks(recording),
        recording: Arc::clone(recording),
    });
    (view, checked)
}

/// A webhook recording checked for `cassettes check`.
fn check_recording(
    file: &RecordingFile,
    checker: &crate::check::Checker,
) -> crate::check::RecordingChecked {
    checker.recording(
        file.path(),
        file.bytes().unwrap_or_default(),
        file.recording().map(|r| &**r),
    )
}

fn entry(
    name: &str,
    scenario: Option<&ScenarioFile>,
    cassette_path: &Path,
    file: CassetteFile,
) -> Entry {
    let (kind, task_type, input, scenario_file, scenario_error, sha) = match scenario {
        Some(ScenarioFile {
            path,
            loaded: Ok(s),
            sha256,
            ..
        }) => (
            s.delivery.as_str().to_owned(),
            Some(s.task_type),
            s.input.clone(),
            Some(path.clone()),
            None,
            sha256.clone(),
        ),
        Some(ScenarioFile {
            path,
            loaded: Err(e),
            ..
        }) => (
            "invalid".to_owned(),
            None,
            None,
            Some(path.clone()),
            Some(e.to_string()),
            None,
        ),
        None => ("rust".to_owned(), None, None, None, None, None),
    };
    let cassette_problem = file.problem();
    let cassette = file.into_cassette().map(|c| view(cassette_path, c));
    Entry {
        name: name.to_owned(),
        kind,
        task_type: task_type.or_else(|| cassette.as_ref()?.tasks.first().map(|(t, _)| *t)),
        scenario_file,
        scenario_error,
        input,
        dependents: Vec::new(),
        scenario_sha256: sha,
        cassette,
        cassette_problem,
        recordings: Vec::new(),
    }
}

fn view(path: &Path, cassette: Cassette) -> CassetteView {
    let generation = crate::cassette::generation_of(&cassette);
    let api_version = cassette
        .interactions
        .iter()
        .find_map(|i| i.response.header("x-api-version").map(str::to_owned));
    let recorded_at = cassette.recorded_at.clone().or_else(|| {
        cassette
            .interactions
            .iter()
            .find_map(|i| i.response.header("date"))
            .and_then(crate::clock::parse_http_date_ms)
            .map(rfc3339_ms)
    });
    let mut tasks = Vec::new();
    let mut prices = Vec::new();
    let mut models = Vec::new();
    let mut images = Vec::new();
    let mut polls = Vec::new();
    let mut submitted_ms = None;
    for interaction in &cassette.interactions {
        let (request, response) = (&interaction.request, &interaction.response);
        if request.method == "POST" {
            if let Some(task) = crate::cassette::created_task(interaction) {
                tasks.push(task);
                prices.push(crate::cassette::create_credits(interaction));
                submitted_ms = submitted_ms.or_else(|| date_ms(interaction));
            }
            continue;
        }
        if request.method != "GET" || response.status >= 400 {
            continue;
        }
        let content_type = response
            .header("content-type")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let bytes = response.body.as_bytes();
        if content_type.starts_with("model/gltf-binary") || bytes.starts_with(b"glTF") {
            models.push(asset(&request.uri, "model/gltf-binary", bytes));
            continue;
        }
        if let Some(kind) = image_type(&content_type, bytes) {
            images.push(asset(&request.uri, kind, bytes));
            continue;
        }
        let objects = crate::check::task_objects(interaction);
        if objects.is_empty() {
            continue;
        }
        let at = match (date_ms(interaction), submitted_ms) {
            (Some(at), Some(from)) => at.checked_sub(from),
            _ => None,
        };
        for object in objects.iter().filter(|o| o.get("status").is_some()) {
            polls.push(mark(object, at));
        }
    }
    flag_order(&mut polls);
    let credits = prices
        .into_iter()
        .try_fold(0u64, |sum, price| sum.checked_add(price?));
    CassetteView {
        path: path.to_owned(),
        api_version,
        generation,
        recorded_at,
        against: cassette.recorded_against.clone(),
        incomplete: cassette.incomplete,
        pending: cassette.pending.len(),
        tasks,
        credits,
        models,
        images,
        interactions: cassette.interactions,
        polls,
    }
}

fn asset(uri: &str, content_type: &str, bytes: &[u8]) -> Asset {
    let name = crate::transport::url_path(uri)
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("download")
        .to_owned();
    Asset {
        name,
        content_type: content_type.to_owned(),
        sha256: crate::digest::sha256_hex(bytes),
        bytes: Arc::new(bytes.to_vec()),
    }
}

/// `image/png` or `image/jpeg` for an image body, by type or magic bytes.
fn image_type(content_type: &str, bytes: &[u8]) -> Option<&'static str> {
    if content_type.starts_with("image/png") || bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if content_type.starts_with("image/jpeg") || bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else {
        None
    }
}

/// The response's `date` header, in epoch milliseconds.
fn date_ms(interaction: &Interaction) -> Option<i64> {
    interaction
        .response
        .header("date")
        .and_then(crate::clock::parse_http_date_ms)
}

fn rfc3339_ms(ms: i64) -> String {
    let since = std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    crate::clock::rfc3339(std::time::UNIX_EPOCH + since)
}

fn mark(object: &Value, at_ms: Option<i64>) -> Mark {
    Mark {
        at_ms,
        status: object
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned(),
        progress: object.get("progress").and_then(Value::as_u64),
        duplicate: false,
        out_of_order: false,
    }
}

/// A recording's deliveries, timed from the task's `created_at` (else the first
/// delivery).
fn delivery_marks(recording: &Recording) -> Vec<Mark> {
    let created = recording
        .deliveries
        .iter()
        .filter_map(|d| d.payload.get("created_at").and_then(Value::as_i64))
        .find(|ms| *ms > 0);
    let times: Vec<Option<i64>> = recording
        .deliveries
        .iter()
        .map(|d| crate::clock::parse_rfc3339_ms(&d.received_at))
        .collect();
    let from = created.or_else(|| times.iter().flatten().copied().min());
    let mut marks: Vec<Mark> = recording
        .deliveries
        .iter()
        .zip(times)
        .map(|(d, at)| {
            let at = match (at, from) {
                (Some(at), Some(from)) => at.checked_sub(from),
                _ => None,
            };
            mark(&d.payload, at)
        })
        .collect();
    flag_order(&mut marks);
    marks
}

fn is_terminal(status: &str) -> bool {
    matches!(status, "SUCCEEDED" | "FAILED" | "CANCELED" | "EXPIRED")
}

/// Marks repeats of an earlier state, and states that arrive after a later one.
fn flag_order(marks: &mut [Mark]) {
    let mut seen = BTreeSet::new();
    let mut highest = None;
    let mut ended = false;
    for mark in marks {
        let state = (mark.status.clone(), mark.progress);
        mark.duplicate = !seen.insert(state);
        let terminal = is_terminal(&mark.status);
        let behind = mark.progress.is_some() && mark.progress < highest;
        mark.out_of_order = !mark.duplicate && ((ended && !terminal) || behind);
        highest = highest.max(mark.progress);
        ended |= terminal;
    }
}

/// `path` made absolute (from the current directory), without resolving links: the
/// same spelling the harness writes into results.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// Text of a body for showing: UTF-8 text as is (JSON pretty-printed), else `None`.
pub fn body_text(body: &Body) -> Option<String> {
    let Body::Text(text) = body else {
        return None;
    };
    match serde_json::from_str::<Value>(text) {
        Ok(value @ (Value::Object(_) | Value::Array(_))) => {
            serde_json::to_string_pretty(&value).ok()
        }
        _ => Some(text.clone()),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn m(status: &str, progress: u64) -> Mark {
        Mark {
            at_ms: Some(0),
            status: status.into(),
            progress: Some(progress),
            duplicate: false,
            out_of_order: false,
        }
    }

    /// A recorded `GET` of `uri` answered 200 with `body` (the report's tests too).
    pub(in crate::report) fn get(uri: &str, content_type: &str, body: Vec<u8>) -> Interaction {
        Interaction {
            request: crate::cassette::RecordedRequest {
                method: "GET".into(),
                uri: uri.into(),
                headers: Vec::new(),
                body: None,
            },
            response: crate::cassette::RecordedResponse {
                status: 200,
                message: "OK".into(),
                headers: vec![("content-type".into(), vec![content_type.into()])],
                body: Body::from_bytes(body),
            },
        }
    }

    #[test]
    fn downloaded_models_and_images_are_found_by_type_and_named_by_their_url() {
        let glb = crate::sim::assets::glb("task-a");
        let png = crate::sim::assets::png("task-a");
        let cassette = Cassette {
            interactions: vec![
                get(
                    "https://assets.meshy.ai/t/output/model.glb?Signature=x",
                    "model/gltf-binary",
                    glb.clone(),
                ),
                // No content type: the magic bytes tell.
                get(
                    "https://assets.meshy.ai/t/output/rigged_character.glb",
                    "",
                    glb.clone(),
                ),
                get(
                    "https://assets.meshy.ai/t/output/preview.png?Expires=1",
                    "image/png",
                    png.clone(),
                ),
                get(
                    "https://assets.meshy.ai/t/output/notes.txt",
                    "text/plain",
                    b"hello".to_vec(),
                ),
            ],
            recorded_against: Some(crate::cassette::RecordedAgainst::Simulator),
            incomplete: false,
            pending: Vec::new(),
            recorded_at: None,
        };
        let view = view(Path::new("c.yaml"), cassette);
        let names: Vec<&str> = view.models.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["model.glb", "rigged_character.glb"]);
        assert_eq!(view.models[0].sha256, crate::digest::sha256_hex(&glb));
        assert_eq!(view.images.len(), 1);
        assert_eq!(
            (
                view.images[0].name.as_str(),
                view.images[0].content_type.as_str()
            ),
            ("preview.png", "image/png")
        );
        assert_eq!(
            view.against,
            Some(crate::cassette::RecordedAgainst::Simulator)
        );
    }

    #[test]
    fn a_v2_cassettes_credits_are_its_requests_prices() {
        let post = |body: &str| {
            let mut create = get(
                "https://api.meshy.ai/openapi/v2/animations",
                "application/json",
                br#"{"id":"t","status":"PENDING","input":{},"output":null}"#.to_vec(),
            );
            create.request.method = "POST".into();
            create.request.body = Some(Body::Text(body.into()));
            create.response.status = 202;
            create
        };
        let cassette = |interactions| Cassette {
            interactions,
            recorded_against: None,
            incomplete: false,
            pending: Vec::new(),
            recorded_at: None,
        };
        // Three actions at 3 credits each, not the type's one-action price.
        let three = view(
            Path::new("c.yaml"),
            cassette(vec![post(r#"{"rig_task_id":"r","action_ids":[1,2,3]}"#)]),
        );
        assert_eq!(three.credits, Some(9));
        assert_eq!(three.tasks, [(TaskType::Animation, "t".to_owned())]);
    }

    #[test]
    fn repeats_and_late_states_are_flagged() {
        let mut marks = vec![
            m("PENDING", 0),
            m("IN_PROGRESS", 50),
            m("IN_PROGRESS", 20),
            m("IN_PROGRESS", 50),
            m("SUCCEEDED", 100),
            m("IN_PROGRESS", 90),
            m("SUCCEEDED", 100),
        ];
        flag_order(&mut marks);
        let flags: Vec<(bool, bool)> = marks
            .iter()
            .map(|m| (m.duplicate, m.out_of_order))
            .collect();
        assert_eq!(
            flags,
            [
                (false, false),
                (false, false),
                (false, true),
                (true, false),
                (false, false),
                (false, true),
                (true, false)
            ]
        );
    }
}
