//! [`CassetteTransport`]: a [`Transport`] that replays from and records to one cassette
//! file, following its [`RecordMode`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::format::{Body, Cassette, Intent, Interaction, RecordedRequest, RecordedResponse};
use super::matching::{Index, Lookup, MatchRules, RequestShape};
use super::{CassetteError, Closest, Miss, RecordMode, Scrub, diff};
use crate::atomic_file;
use crate::transport::{BoxFuture, HttpRequest, HttpResponse, Transport, TransportError};

/// How to open a cassette.
#[derive(Debug, Clone)]
pub struct CassetteOptions {
    pub path: PathBuf,
    /// Default: `none`.
    pub mode: RecordMode,
    /// Default: VCR.py's matchers.
    pub rules: MatchRules,
    /// Default: only the always-dropped credential headers.
    pub scrub: Scrub,
    /// Written as the cassette's `recorded_against` field when it records.
    pub recorded_against: Option<super::RecordedAgainst>,
    /// The command that re-records this cassette, quoted in errors.
    pub rerecord_command: String,
    /// Keep the file as a journal while recording: rewritten atomically after every
    /// recorded interaction and marked `incomplete: true` until `finish(true)`, with an
    /// [`Intent`] written before every POST is sent and replaced by its answer. A
    /// crash at any instant leaves every request that may have spent credits on disk.
    /// Default: off (the file is written once, by `finish`).
    pub journal: bool,
}

impl CassetteOptions {
    pub fn new(path: impl Into<PathBuf>) -> CassetteOptions {
        CassetteOptions {
            path: path.into(),
            mode: RecordMode::None,
            rules: MatchRules::default(),
            scrub: Scrub::default(),
            recorded_against: None,
            rerecord_command: crate::command::Commands::of_this_process()
                .test(None, "--record-mode=new_episodes"),
            journal: false,
        }
    }
}

/// What [`CassetteTransport::finish`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// The file written, if anything was recorded.
    pub written: Option<PathBuf>,
    /// Interactions in the file as written (or as loaded, when nothing was written).
    pub interactions: usize,
    /// Interactions recorded live in this run.
    pub recorded: usize,
    /// Interactions played back from the file in this run.
    pub replayed: usize,
    /// The file as written is complete: not marked incomplete, nothing pending.
    pub complete: bool,
}

/// Replays and records HTTP interactions for one cassette file.
pub struct CassetteTransport {
    options: CassetteOptions,
    live: Option<Arc<dyn Transport>>,
    state: Mutex<State>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    Replay,
    ReplayThenRecord,
    Record,
}

struct State {
    strategy: Strategy,
    /// The cassette as loaded (empty when it did not exist or is being rewritten).
    loaded: Cassette,
    existed: bool,
    index: Index,
    recorded: Vec<Interaction>,
    /// Unanswered POSTs (journal mode), each with a key for finding it again.
    pending: Vec<(u64, Intent)>,
    /// The requests of this run's intents, as sent (for [`CassetteTransport::settle`]).
    sent: Vec<(u64, RequestShape)>,
    /// Tasks the task list showed a lost create call made ([`CassetteTransport::settle`]):
    /// the answer the same request gets next, instead of being sent again.
    adopted: Vec<(RequestShape, HttpResponse)>,
    next_intent: u64,
    /// The journal was written at least once: `finish` must write its final state.
    journaled: bool,
    /// When this recording started (kept from a resumed journal).
    recorded_at: Option<String>,
    replayed: usize,
    finished: bool,
}

impl CassetteTransport {
    /// Opens the cassette at `options.path`. `live` sends what the mode records; it
    /// may be `None` for `none` (nothing is ever sent).
    pub fn open(
        options: CassetteOptions,
        live: Option<Arc<dyn Transport>>,
    ) -> Result<CassetteTransport, CassetteError> {
        let file = CassetteFile::read(&options.path);
        CassetteTransport::open_read(options, file, live)
    }

    /// [`CassetteTransport::open`] with the file already read (by whoever decided what
    /// to do with it), so it is parsed once. A `file` of another path is read again.
    pub fn open_read(
        options: CassetteOptions,
        file: CassetteFile,
        live: Option<Arc<dyn Transport>>,
    ) -> Result<CassetteTransport, CassetteError> {
        let file = if file.path == options.path {
            file
        } else {
            CassetteFile::read(&options.path)
        };
        // `rewrite` ignores the old file, even one that does not parse.
        let loaded = match options.mode {
            RecordMode::Rewrite => None,
            _ => file.into_result(&options.rerecord_command)?,
        };
        let existed = loaded.is_some();
        let complete = loaded.as_ref().is_some_and(|c| !c.incomplete);
        let strategy = match options.mode {
            RecordMode::None => Strategy::Replay,
            RecordMode::Once if complete => Strategy::Replay,
            // A journal left incomplete holds requests that may have been paid for: keep
            // them and replay their answers, instead of sending them again.
            RecordMode::Once if options.journal && existed => Strategy::ReplayThenRecord,
            RecordMode::Once | RecordMode::All | RecordMode::Rewrite => Strategy::Record,
            RecordMode::NewEpisodes => Strategy::ReplayThenRecord,
        };
        // `once` re-records an incomplete cassette from scratch; `rewrite` ignores the old file.
        let keep_old = matches!(
            options.mode,
            RecordMode::None | RecordMode::NewEpisodes | RecordMode::All
        ) || strategy != Strategy::Record;
        let mut loaded = loaded.filter(|_| keep_old).unwrap_or_default();
        // A fresh recording is dated now; one that keeps older interactions keeps its
        // date (none for files from before `recorded_at`: their `date` headers tell).
        let recorded_at = match strategy {
            Strategy::Record => Some(crate::clock::now_rfc3339()),
            _ => loaded.recorded_at.clone(),
        };
        let pending: Vec<(u64, Intent)> = std::mem::take(&mut loaded.pending)
            .into_iter()
            .zip(0..)
            .map(|(intent, key)| (key, intent))
            .collect();
        let index = Index::new(
            loaded.interactions.iter().map(|i| &i.request),
            &options.rules,
        );
        Ok(CassetteTransport {
            live,
            state: Mutex::new(State {
                strategy,
                loaded,
                existed,
                index,
                recorded: Vec::new(),
                next_intent: pending.len() as u64,
                journaled: false,
                recorded_at,
                pending,
                sent: Vec::new(),
                adopted: Vec::new(),
                replayed: 0,
                finished: false,
            }),
            options,
        })
    }

    pub fn path(&self) -> &Path {
        &self.options.path
    }

    /// The `X-Api-Version` the loaded cassette's first answer carries, if any.
    pub fn api_version(&self) -> Option<String> {
        let state = self.lock();
        let mut answers = state.loaded.interactions.iter();
        answers.find_map(|i| i.response.header("x-api-version").map(str::to_owned))
    }

    /// The API generation the loaded cassette speaks, if it tells
    /// ([`super::generation_of`]).
    pub fn generation(&self) -> Option<crate::meshy::ApiGeneration> {
        super::generation_of(&self.lock().loaded)
    }

    /// Whether this cassette may send requests live.
    pub fn records(&self) -> bool {
        self.lock().strategy != Strategy::Replay
    }

    /// Writes what was recorded, if anything: `complete = false` marks the file
    /// incomplete, so `once` records it again next time. Replay writes nothing.
    /// A cassette with unanswered POSTs is never marked complete.
    pub fn finish(&self, complete: bool) -> Result<Finished, CassetteError> {
        let mut state = self.lock();
        state.finished = true;
        let recorded = state.recorded.len();
        let replayed = state.replayed;
        let must_write = state.strategy != Strategy::Replay
            && (recorded > 0
                || state.journaled
                || !complete
                || !state.pending.is_empty()
                || self.options.mode == RecordMode::Rewrite
                || (state.existed && state.loaded.incomplete));
        if !must_write {
            return Ok(Finished {
                written: None,
                interactions: state.loaded.interactions.len(),
                recorded,
                replayed,
                complete: !state.loaded.incomplete && state.pending.is_empty(),
            });
        }
        let interactions = self.persist(&mut state, complete)?;
        Ok(Finished {
            written: Some(self.options.path.clone()),
            interactions,
            recorded,
            replayed,
            complete: complete && state.pending.is_empty(),
        })
    }

    /// Once [finished](CassetteTransport::finish), a replay's cassette as it was read,
    /// moved out for another reader of the run (the report), which then need not read
    /// the file again. `None` for a cassette that recorded, that did not exist, or that
    /// held unanswered requests (they were set apart when it opened). Afterwards the
    /// transport holds no cassette: [`api_version`](CassetteTransport::api_version) and
    /// [`generation`](CassetteTransport::generation) answer `None`.
    pub fn take_replayed(&self) -> Option<CassetteFile> {
        let mut state = self.lock();
        let whole = state.finished
            && state.existed
            && state.strategy == Strategy::Replay
            && state.pending.is_empty();
        whole.then(|| CassetteFile {
            path: self.options.path.clone(),
            read: Ok(Some(std::mem::take(&mut state.loaded))),
        })
    }

    /// Writes the cassette as it stands: kept and new interactions, unanswered POSTs,
    /// `incomplete` unless `complete` and nothing is pending. Returns the interaction count.
    fn persist(&self, state: &mut State, complete: bool) -> Result<usize, CassetteError> {
        state.journaled = true;
        let cassette = Cassette {
            interactions: self.merged(state),
            recorded_against: self
                .options
                .recorded_against
                .clone()
                .or_else(|| state.loaded.recorded_against.clone()),
            incomplete: !complete || !state.pending.is_empty(),
            pending: state.pending.iter().map(|(_, i)| i.clone()).collect(),
            recorded_at: state.recorded_at.clone(),
        };
        let path = &self.options.path;
        atomic_file::write(path, cassette.to_yaml().as_bytes()).map_err(|source| {
            CassetteError::Write {
                path: path.clone(),
                source,
            }
        })?;
        Ok(cassette.interactions.len())
    }

    /// The interactions to write: old ones the mode keeps, then the new ones.
    fn merged(&self, state: &State) -> Vec<Interaction> {
        let old = state.loaded.interactions.iter();
        let mut kept: Vec<Interaction> = match self.options.mode {
            _ if state.strategy == Strategy::ReplayThenRecord => old.cloned().collect(),
            RecordMode::All => {
                let fresh = Index::new(
                    state.recorded.iter().map(|i| &i.request),
                    &self.options.rules,
                );
                old.filter(|i| {
                    !fresh.contains(&RequestShape::of_recorded(&i.request, &self.options.rules))
                })
                .cloned()
                .collect()
            }
            _ => Vec::new(),
        };
        kept.extend(state.recorded.iter().cloned());
        kept
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        crate::sync::lock(&self.state)
    }

    /// This run's create calls whose answer proves nothing (lost, or a 5xx): each may
    /// have made a task. Keyed for [`CassetteTransport::settle`].
    pub fn ambiguous(&self) -> Vec<(u64, Intent)> {
        let state = self.lock();
        let sent = |key: &u64| state.sent.iter().any(|(k, _)| k == key);
        let done = |intent: &Intent| intent.outcome.is_some();
        let ambiguous = state.pending.iter().filter(|(k, i)| sent(k) && done(i));
        ambiguous.cloned().collect()
    }

    /// Settles the ambiguous create call `key` once the task list has told: `adopted`
    /// is its interaction for the task it made, recorded now and answered to the same
    /// request when it is made again (it is not sent); `None`, it made nothing, and the
    /// request may be sent. Written at once.
    pub fn settle(&self, key: u64, adopted: Option<Interaction>) -> Result<(), CassetteError> {
        let mut state = self.lock();
        state.pending.retain(|(k, _)| *k != key);
        let shape = state.sent.iter().position(|(k, _)| *k == key);
        let shape = shape.map(|at| state.sent.remove(at).1);
        if let (Some(mut interaction), Some(shape)) = (adopted, shape) {
            self.options.scrub.apply(&mut interaction);
            state.adopted.push((shape, replay(&interaction.response)));
            state.recorded.push(interaction);
        }
        self.persist(&mut state, false).map(drop)
    }

    async fn respond(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let uri = self.options.scrub.uri(&request.url);
        let shape = RequestShape::new(&request.method, &uri, &request.body, &self.options.rules);
        let strategy = {
            let mut state = self.lock();
            let strategy = state.strategy;
            if strategy != Strategy::Record {
                match state.index.take(&shape) {
                    Lookup::Found(i) => {
                        state.replayed += 1;
                        return Ok(replay(&state.loaded.interactions[i].response));
                    }
                    Lookup::Exhausted { matching } if strategy == Strategy::Replay => {
                        return Err(layer(CassetteError::Exhausted {
                            path: self.options.path.clone(),
                            request: label(&request.method, &uri),
                            matching,
                            command: self.options.rerecord_command.clone(),
                        }));
                    }
                    _ if strategy == Strategy::Replay => {
                        return Err(layer(self.miss(&state, &request, &uri, &shape)));
                    }
                    _ => {}
                }
            }
            strategy
        };
        debug_assert!(strategy != Strategy::Replay);
        let live = self.live.as_ref().ok_or_else(|| {
            layer(CassetteError::NoCassette {
                path: self.options.path.clone(),
                request: label(&request.method, &uri),
                mode: self.options.mode,
                command: self.options.rerecord_command.clone(),
            })
        })?;
        if !self.options.journal {
            let response = live.send(request.clone()).await?;
            self.lock()
                .recorded
                .push(self.interaction(&request, &response));
            return Ok(response);
        }
        if request.method == "POST" {
            let mut state = self.lock();
            let rules = &self.options.rules;
            let adopted = state
                .adopted
                .iter()
                .position(|(adopted, _)| shape.differences(adopted, rules).is_empty());
            match adopted {
                Some(at) => return Ok(state.adopted.remove(at).1),
                // An adopted task waits for its own request: nothing else is bought first.
                None if !state.adopted.is_empty() => {
                    return Err(layer(CassetteError::AdoptedNotAsked {
                        path: self.options.path.clone(),
                        request: label(&request.method, &uri),
                    }));
                }
                // A create whose answer was lost may have made a task: nothing else is
                // bought until the task list has said (`settle`).
                None if state.pending.iter().any(|(k, i)| {
                    i.outcome.is_some() && state.sent.iter().any(|(s, _)| s == k)
                }) =>
                {
                    return Err(layer(CassetteError::Unsettled {
                        path: self.options.path.clone(),
                        request: label(&request.method, &uri),
                    }));
                }
                None => {}
            }
        }
        // Journal: a POST may create (and charge for) a task, so the intent is on disk
        // before the request leaves; if it cannot be written, nothing is sent.
        let intent = (request.method == "POST").then(|| self.intend(&request, &uri, &shape));
        let intent = intent.transpose().map_err(layer)?;
        let result = live.send(request.clone()).await;
        let mut state = self.lock();
        let ambiguous = match &result {
            Ok(response) if response.status < 500 => None,
            // Never sent: nothing to keep (the client may send it again).
            Err(TransportError::Connect { .. }) => None,
            Ok(response) => Some(format!(
                "{} {}",
                response.status,
                reqwest::StatusCode::from_u16(response.status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("")
            )),
            // The cause alone: the request is named beside it already.
            Err(TransportError::Network { message, .. }) => Some(self.options.scrub.text(message)),
            Err(TransportError::Timeout { seconds, .. }) => {
                Some(format!("no answer within {seconds} s"))
            }
            Err(e) => Some(self.options.scrub.text(&e.to_string())),
        };
        match (intent, ambiguous) {
            // No answer that proves the task was or was not created: keep the intent.
            (Some(key), Some(outcome)) => {
                if let Some((_, intent)) = state.pending.iter_mut().find(|(k, _)| *k == key) {
                    intent.outcome = Some(outcome.trim().to_owned());
                }
            }
            (intent, _) => {
                state.pending.retain(|(k, _)| Some(*k) != intent);
                state.sent.retain(|(k, _)| Some(*k) != intent);
                match &result {
                    Ok(response) => {
                        let interaction = self.interaction(&request, response);
                        state.recorded.push(interaction);
                    }
                    Err(_) if intent.is_none() => {
                        // A GET that failed: nothing to record.
                        return result;
                    }
                    // A POST that never left: its intent is gone, written below.
                    Err(_) => {}
                }
            }
        }
        if let Err(error) = self.persist(&mut state, false) {
            // The answer came, but could not be put on disk: say what it was, so a
            // paid task's id is not lost with the error.
            let answer = match &result {
                Ok(response) => excerpt(&response.body, &self.options.scrub)
                    .map(|b| format!("{} {b}", response.status))
                    .unwrap_or_else(|| response.status.to_string()),
                Err(e) => self.options.scrub.text(&e.to_string()),
            };
            return Err(layer(CassetteError::JournalWrite {
                request: label(&request.method, &uri),
                answer,
                source: Box::new(error),
            }));
        }
        result
    }

    /// Records (and writes) the intent of a POST about to be sent; its key.
    fn intend(
        &self,
        request: &HttpRequest,
        uri: &str,
        shape: &RequestShape,
    ) -> Result<u64, CassetteError> {
        let mut state = self.lock();
        let key = state.next_intent;
        state.next_intent += 1;
        state.sent.push((key, shape.clone()));
        let body = String::from_utf8_lossy(&request.body);
        state.pending.push((
            key,
            Intent {
                method: request.method.clone(),
                uri: uri.to_owned(),
                body: self.options.scrub.text(&body),
                recorded_at: crate::clock::now_rfc3339(),
                outcome: None,
            },
        ));
        if let Err(error) = self.persist(&mut state, false) {
            state.pending.retain(|(k, _)| *k != key);
            state.sent.retain(|(k, _)| *k != key);
            return Err(error);
        }
        Ok(key)
    }

    fn interaction(&self, request: &HttpRequest, response: &HttpResponse) -> Interaction {
        let mut interaction = Interaction {
            request: recorded_request(request),
            response: recorded_response(response),
        };
        self.options.scrub.apply(&mut interaction);
        interaction
    }

    fn miss(
        &self,
        state: &State,
        request: &HttpRequest,
        uri: &str,
        shape: &RequestShape,
    ) -> CassetteError {
        let shown = label(&request.method, uri);
        if !state.existed {
            return CassetteError::NoCassette {
                path: self.options.path.clone(),
                request: shown,
                mode: self.options.mode,
                command: self.options.rerecord_command.clone(),
            };
        }
        let closest = state
            .index
            .closest(shape, 3)
            .into_iter()
            .map(|(i, differs)| {
                let recorded = &state.loaded.interactions[i].request;
                let recorded_shape = RequestShape::of_recorded(recorded, &self.options.rules);
                let fields = diff::field_diffs(&recorded_shape, shape, &differs);
                Closest {
                    request: label(&recorded.method, &self.options.scrub.uri(&recorded.uri)),
                    fields: diff::render(&fields, &self.options.scrub),
                    differs,
                }
            })
            .collect();
        CassetteError::Miss(Box::new(Miss {
            path: self.options.path.clone(),
            request: shown,
            body_excerpt: excerpt(&request.body, &self.options.scrub),
            closest,
            mode: self.options.mode,
            incomplete: state.loaded.incomplete,
            command: self.options.rerecord_command.clone(),
        }))
    }
}

impl Transport for CassetteTransport {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(self.respond(request))
    }

    fn answers_adopted(&self, request: &HttpRequest) -> bool {
        let uri = self.options.scrub.uri(&request.url);
        let shape = RequestShape::new(&request.method, &uri, &request.body, &self.options.rules);
        let rules = &self.options.rules;
        (self.lock().adopted.iter())
            .any(|(adopted, _)| shape.differences(adopted, rules).is_empty())
    }

    fn may_send_live(&self, request: &HttpRequest) -> bool {
        if self.answers_adopted(request) {
            return false;
        }
        let uri = self.options.scrub.uri(&request.url);
        let shape = RequestShape::new(&request.method, &uri, &request.body, &self.options.rules);
        match self.lock().strategy {
            Strategy::Replay => return false,
            Strategy::Record => return true,
            _ => {}
        }
        // Only a cassette that both replays and records pays for the request's shape.
        !self.lock().index.contains(&shape)
    }
}

/// A recording run that ends without `finish` (a panicking trial, say) still leaves
/// what it recorded on disk, marked incomplete.
impl Drop for CassetteTransport {
    fn drop(&mut self) {
        let pending = {
            let state = self.lock();
            !state.finished && (!state.recorded.is_empty() || !state.pending.is_empty())
        };
        if pending && let Err(e) = self.finish(false) {
            eprintln!("mesh-toolkit: {e}");
        }
    }
}

/// A cassette file as read from disk, once: absent, parsed, or why not.
#[derive(Debug)]
pub struct CassetteFile {
    path: PathBuf,
    read: Result<Option<Cassette>, Unreadable>,
}

#[derive(Debug)]
enum Unreadable {
    Io(std::io::Error),
    Format(super::FormatError),
}

impl CassetteFile {
    /// Reads and parses the file at `path` (a missing file is no cassette).
    pub fn read(path: &Path) -> CassetteFile {
        CassetteFile::read_scanning(path, false).0
    }

    /// [`CassetteFile::read`], also giving what `cassettes check` scans of the file's
    /// text when it exists (not UTF-8: lossily): all but the content of its `!!binary`
    /// blocks ([`crate::check::scanned_text`]), for a reader that scans it too
    /// (`cassettes check`, the report).
    pub fn read_with_text(path: &Path) -> (CassetteFile, Option<String>) {
        CassetteFile::read_scanning(path, true)
    }

    /// The file at `path`, and what the check scans of its text when `scan` asks.
    fn read_scanning(path: &Path, scan: bool) -> (CassetteFile, Option<String>) {
        #[cfg(test)]
        reads::count(path);
        let (read, text) = match std::fs::read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) if scan => {
                    let (cassette, scanned) = Cassette::parse_scanned(&text);
                    (
                        cassette.map(Some).map_err(Unreadable::Format),
                        Some(scanned),
                    )
                }
                Ok(text) => (
                    Cassette::parse(&text).map(Some).map_err(Unreadable::Format),
                    None,
                ),
                Err(e) => (
                    Err(Unreadable::Format(not_utf8(e.as_bytes(), e.utf8_error()))),
                    scan.then(|| {
                        super::scanned(&String::from_utf8_lossy(e.as_bytes())).into_owned()
                    }),
                ),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Ok(None), None),
            Err(e) => (Err(Unreadable::Io(e)), None),
        };
        let file = CassetteFile {
            path: path.to_owned(),
            read,
        };
        (file, text)
    }

    /// Where the file does not parse, when it does not.
    pub fn format_error(&self) -> Option<&super::FormatError> {
        match &self.read {
            Err(Unreadable::Format(e)) => Some(e),
            _ => None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cassette, if the file exists and parses.
    pub fn cassette(&self) -> Option<&Cassette> {
        self.read.as_ref().ok().and_then(Option::as_ref)
    }

    /// Why the file exists but cannot be used (an I/O error, or where it does not
    /// parse); `None` when it parsed or is absent.
    pub fn problem(&self) -> Option<String> {
        match &self.read {
            Ok(_) => None,
            Err(Unreadable::Io(e)) => Some(e.to_string()),
            Err(Unreadable::Format(e)) => Some(e.to_string()),
        }
    }

    pub fn into_cassette(self) -> Option<Cassette> {
        self.read.ok().flatten()
    }

    /// The same contents, now at `path` (the file was renamed there).
    pub fn moved_to(self, path: &Path) -> CassetteFile {
        CassetteFile {
            path: path.to_owned(),
            read: self.read,
        }
    }

    /// The cassette, or the error that names the file and `command` to re-record it.
    fn into_result(self, command: &str) -> Result<Option<Cassette>, CassetteError> {
        let path = self.path;
        self.read.map_err(|e| match e {
            Unreadable::Io(source) => CassetteError::Read { path, source },
            Unreadable::Format(e) => CassetteError::Corrupt {
                path,
                line: e.line,
                column: e.column,
                message: e.message,
                command: command.to_owned(),
            },
        })
    }
}

/// Where a file stops being UTF-8 text, as a format error (so its message carries
/// the re-record command like any other corrupt cassette).
fn not_utf8(bytes: &[u8], error: std::str::Utf8Error) -> super::FormatError {
    let valid = &bytes[..error.valid_up_to()];
    let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
    let start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&valid[start..]).chars().count() + 1;
    super::FormatError {
        line,
        column,
        message: "the file is not UTF-8 text".into(),
    }
}

/// How often each cassette (and webhook recording) file was read, for tests that a run
/// reads each once.
#[cfg(test)]
pub(crate) mod reads {
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};
    use std::sync::{Mutex, OnceLock};

    fn counts() -> &'static Mutex<HashMap<PathBuf, usize>> {
        static COUNTS: OnceLock<Mutex<HashMap<PathBuf, usize>>> = OnceLock::new();
        COUNTS.get_or_init(Mutex::default)
    }

    pub fn count(path: &Path) {
        *crate::sync::lock(counts())
            .entry(path.to_owned())
            .or_default() += 1;
    }

    /// Reads of `path` so far (tests use paths of their own temp dirs).
    pub fn of(path: &Path) -> usize {
        crate::sync::lock(counts()).get(path).copied().unwrap_or(0)
    }
}

fn replay(response: &RecordedResponse) -> HttpResponse {
    HttpResponse {
        status: response.status,
        headers: response
            .headers
            .iter()
            .flat_map(|(name, values)| values.iter().map(move |v| (name.clone(), v.clone())))
            .collect(),
        body: response.body.as_bytes().to_vec(),
        replayed: true,
    }
}

fn recorded_request(request: &HttpRequest) -> RecordedRequest {
    RecordedRequest {
        method: request.method.clone(),
        uri: request.url.clone(),
        headers: group_headers(&request.headers),
        body: (!request.body.is_empty()).then(|| Body::from_bytes(request.body.clone())),
    }
}

fn recorded_response(response: &HttpResponse) -> RecordedResponse {
    let message = reqwest::StatusCode::from_u16(response.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
        .to_owned();
    RecordedResponse {
        status: response.status,
        message,
        headers: group_headers(&response.headers),
        body: Body::from_bytes(response.body.clone()),
    }
}

/// Header pairs grouped by name (first-seen order), as VCR.py stores them.
fn group_headers(headers: &[(String, String)]) -> Vec<(String, Vec<String>)> {
    let mut grouped: Vec<(String, Vec<String>)> = Vec::new();
    for (name, value) in headers {
        match grouped
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some((_, values)) => values.push(value.clone()),
            None => grouped.push((name.clone(), vec![value.clone()])),
        }
    }
    grouped
}

/// `METHOD URI` for a message: credential query values (`?token=…`) hidden.
fn label(method: &str, uri: &str) -> String {
    format!("{method} {}", diff::hide_query_secrets(uri))
}

/// The first 120 characters of a text body, scrubbed (credential query values such as
/// a callback URL's `?token=` hidden); binary bodies are summarized.
fn excerpt(body: &[u8], scrub: &Scrub) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    Some(match std::str::from_utf8(body) {
        Ok(text) => {
            let text = diff::hide_query_secrets(&scrub.text(text));
            let mut short: String = text.chars().take(120).collect();
            if short.len() < text.len() {
                short.push('…');
            }
            short
        }
        Err(_) => format!("<{} bytes of binary data>", body.len()),
    })
}

fn layer(error: CassetteError) -> TransportError {
    TransportError::Layer(Box::new(error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const KEY: &str = "msy_cassette_test_key_987654";

    /// A live stand-in that answers every request with its own path and counts calls.
    fn live(calls: Arc<AtomicUsize>) -> Arc<dyn Transport> {
        Arc::new(move |request: HttpRequest| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            let body = json!({"path": request.url, "call": n, "echo": String::from_utf8_lossy(&request.body)});
            Ok(HttpResponse {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: body.to_string().into_bytes(),
                replayed: false,
            })
        })
    }

    fn options(dir: &Path, mode: RecordMode) -> CassetteOptions {
        CassetteOptions {
            mode,
            rules: MatchRules::with_json_body(),
            scrub: Scrub::default().secret(KEY, "<MESHY_API_KEY>"),
            rerecord_command: "cargo test -- otter --record-mode=once".into(),
            ..CassetteOptions::new(dir.join("otter.yaml"))
        }
    }

    fn get(path: &str) -> HttpRequest {
        HttpRequest::new("GET", format!("https://api.meshy.ai{path}"))
            .with_header("Authorization", format!("Bearer {KEY}"))
    }

    fn post(prompt: &str) -> HttpRequest {
        HttpRequest::new("POST", "https://api.meshy.ai/openapi/v2/text-to-3d")
            .with_header("Authorization", format!("Bearer {KEY}"))
            .with_json(&json!({"mode": "preview", "prompt": prompt}))
    }

    async fn record(dir: &Path, requests: Vec<HttpRequest>) {
        let cassette =
            CassetteTransport::open(options(dir, RecordMode::Once), Some(live(Arc::default())))
                .unwrap();
        for request in requests {
            cassette.send(request).await.unwrap();
        }
        cassette.finish(true).unwrap();
    }

    fn message(error: TransportError) -> String {
        error.to_string()
    }

    #[tokio::test]
    async fn none_mode_without_a_cassette_names_file_and_command() {
        let dir = tempfile::tempdir().unwrap();
        let cassette =
            CassetteTransport::open(options(dir.path(), RecordMode::None), None).unwrap();
        let err = message(cassette.send(get("/openapi/v1/balance")).await.unwrap_err());
        assert_eq!(
            err,
            format!(
                "no cassette '{}' to replay GET https://api.meshy.ai/openapi/v1/balance from (record mode none); \
                 record it with `cargo test -- otter --record-mode=once`",
                dir.path().join("otter.yaml").display()
            )
        );
        assert_eq!(cassette.finish(true).unwrap().written, None);
        assert!(!dir.path().join("otter.yaml").exists());
    }

    #[tokio::test]
    async fn once_records_then_replays_without_the_network_in_recorded_order() {
        let dir = tempfile::tempdir().unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let first = CassetteTransport::open(
            options(dir.path(), RecordMode::Once),
            Some(live(Arc::clone(&calls))),
        )
        .unwrap();
        assert!(first.records());
        let live_answers: Vec<Vec<u8>> = vec![
            first.send(post("otter")).await.unwrap().body,
            first.send(get("/t/1")).await.unwrap().body,
            first.send(get("/t/1")).await.unwrap().body,
        ];
        let finished = first.finish(true).unwrap();
        assert_eq!((finished.recorded, finished.interactions), (3, 3));

        let replay = CassetteTransport::open(
            options(dir.path(), RecordMode::Once),
            Some(live(Arc::clone(&calls))),
        )
        .unwrap();
        assert!(!replay.records());
        let replayed = [
            replay.send(post("otter")).await.unwrap(),
            replay.send(get("/t/1")).await.unwrap(),
            replay.send(get("/t/1")).await.unwrap(),
        ];
        assert!(replayed.iter().all(|r| r.replayed));
        let bodies: Vec<Vec<u8>> = replayed.into_iter().map(|r| r.body).collect();
        assert_eq!(
            bodies, live_answers,
            "identical polls come back in recorded order"
        );
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "replay never reached the network"
        );

        let err = message(replay.send(get("/t/1")).await.unwrap_err());
        assert!(err.contains("recorded GET https://api.meshy.ai/t/1 2 time(s), and every recording was already played back"), "{err}");
        let err = message(replay.send(post("beaver")).await.unwrap_err());
        assert!(err.starts_with(&format!("cassette '{}' has no recording of POST https://api.meshy.ai/openapi/v2/text-to-3d\n  body: {{\"mode\":\"preview\",\"prompt\":\"beaver\"}}", dir.path().join("otter.yaml").display())), "{err}");
        assert!(
            err.contains(
                "\nclosest recorded requests (recorded → this request):\n  POST https://api.meshy.ai/openapi/v2/text-to-3d (differs in body)\n    body prompt: \"otter\" → \"beaver\"\n  GET https://api.meshy.ai/t/1 (differs in method, path)"
            ),
            "{err}"
        );
        assert!(
            err.ends_with(
                "record mode is once; to re-record run `cargo test -- otter --record-mode=once`"
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_miss_shows_no_credentials() {
        let dir = tempfile::tempdir().unwrap();
        record(dir.path(), vec![post("otter")]).await;
        let replay = CassetteTransport::open(options(dir.path(), RecordMode::None), None).unwrap();
        let request = HttpRequest::new(
            "POST",
            "https://api.meshy.ai/openapi/v2/text-to-3d?access_token=qs-secret-1",
        )
        .with_header("Authorization", format!("Bearer {KEY}"))
        .with_header("X-Api-Key", "hdr-secret-2")
        .with_json(&json!({
            "mode": "preview",
            "prompt": "beaver",
            "callback_url": "http://127.0.0.1:9/webhook/otter/text3d?token=cb-secret-3",
            "note": format!("key {KEY}"),
        }));
        let err = message(replay.send(request).await.unwrap_err());
        for secret in [KEY, "qs-secret-1", "hdr-secret-2", "cb-secret-3"] {
            assert!(!err.contains(secret), "{secret} in {err}");
        }
        assert!(
            err.contains("    body prompt: \"otter\" → \"beaver\"\n"),
            "{err}"
        );
        assert!(
            err.contains("    query access_token: only in this request (<hidden>)\n"),
            "{err}"
        );
        assert!(
            err.contains("    body note: only in this request (\"key <MESHY_API_KEY>\")"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn new_episodes_replays_what_matches_and_appends_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        record(dir.path(), vec![post("otter"), get("/t/1")]).await;
        let calls = Arc::new(AtomicUsize::new(0));
        let cassette = CassetteTransport::open(
            options(dir.path(), RecordMode::NewEpisodes),
            Some(live(Arc::clone(&calls))),
        )
        .unwrap();
        assert!(cassette.send(post("otter")).await.unwrap().replayed);
        assert!(!cassette.send(post("beaver")).await.unwrap().replayed);
        let finished = cassette.finish(true).unwrap();
        assert_eq!(
            (finished.replayed, finished.recorded, finished.interactions),
            (1, 1, 3)
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let written =
            Cassette::parse(&std::fs::read_to_string(dir.path().join("otter.yaml")).unwrap())
                .unwrap();
        let prompts: Vec<String> = written
            .interactions
            .iter()
            .map(|i| {
                i.request
                    .body
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b.as_bytes()).into_owned())
                    .unwrap_or_default()
            })
            .collect();
        assert!(
            prompts[0].contains("otter") && prompts[1].is_empty() && prompts[2].contains("beaver"),
            "{prompts:?}"
        );
    }

    #[tokio::test]
    async fn all_sends_everything_live_and_keeps_what_was_not_rerecorded() {
        let dir = tempfile::tempdir().unwrap();
        record(dir.path(), vec![post("otter"), get("/t/1")]).await;
        let calls = Arc::new(AtomicUsize::new(0));
        let cassette = CassetteTransport::open(
            options(dir.path(), RecordMode::All),
            Some(live(Arc::clone(&calls))),
        )
        .unwrap();
        assert!(!cassette.send(get("/t/1")).await.unwrap().replayed);
        let finished = cassette.finish(true).unwrap();
        assert_eq!((finished.recorded, finished.interactions), (1, 2));
        let written =
            Cassette::parse(&std::fs::read_to_string(dir.path().join("otter.yaml")).unwrap())
                .unwrap();
        assert_eq!(
            written.interactions[0].request.method, "POST",
            "the old POST was kept"
        );
        assert!(
            String::from_utf8_lossy(written.interactions[1].response.body.as_bytes())
                .contains("\"call\":0"),
            "the GET is the new recording"
        );
    }

    #[tokio::test]
    async fn rewrite_starts_from_an_empty_cassette() {
        let dir = tempfile::tempdir().unwrap();
        record(dir.path(), vec![post("otter"), get("/t/1")]).await;
        let cassette = CassetteTransport::open(
            options(dir.path(), RecordMode::Rewrite),
            Some(live(Arc::default())),
        )
        .unwrap();
        cassette.send(get("/t/2")).await.unwrap();
        assert_eq!(cassette.finish(true).unwrap().interactions, 1);
    }

    #[tokio::test]
    async fn a_failed_recording_is_marked_incomplete_and_once_records_it_again() {
        let dir = tempfile::tempdir().unwrap();
        {
            let cassette = CassetteTransport::open(
                options(dir.path(), RecordMode::Once),
                Some(live(Arc::default())),
            )
            .unwrap();
            cassette.send(post("otter")).await.unwrap();
            // Dropped without finish: the trial panicked.
        }
        let text = std::fs::read_to_string(dir.path().join("otter.yaml")).unwrap();
        assert!(text.starts_with("incomplete: true\n"), "{text}");
        let calls = Arc::new(AtomicUsize::new(0));
        let again = CassetteTransport::open(
            options(dir.path(), RecordMode::Once),
            Some(live(Arc::clone(&calls))),
        )
        .unwrap();
        assert!(again.records(), "an incomplete cassette is recorded again");
        again.send(post("otter")).await.unwrap();
        again.send(get("/t/1")).await.unwrap();
        assert_eq!(
            again.finish(true).unwrap().interactions,
            2,
            "recorded afresh, not appended"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(
            !std::fs::read_to_string(dir.path().join("otter.yaml"))
                .unwrap()
                .contains("incomplete")
        );
    }

    #[tokio::test]
    async fn the_key_and_authorization_never_reach_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut leaky = get(&format!("/echo?api_key={KEY}"));
        leaky.body = format!("key {KEY}").into_bytes();
        record(dir.path(), vec![leaky.clone(), post("otter")]).await;
        let text = std::fs::read_to_string(dir.path().join("otter.yaml")).unwrap();
        assert!(!text.contains(KEY), "{text}");
        assert!(
            !text.to_ascii_lowercase().contains("authorization"),
            "{text}"
        );
        assert!(text.contains("<MESHY_API_KEY>"), "{text}");
        // The scrubbed recording still answers the same request.
        let replay = CassetteTransport::open(options(dir.path(), RecordMode::None), None).unwrap();
        assert!(replay.send(leaky).await.unwrap().replayed);
    }

    #[tokio::test]
    async fn simulator_recordings_replay_under_canonical_hosts_with_no_simulator() {
        let dir = tempfile::tempdir().unwrap();
        let sim = "http://127.0.0.1:45123";
        let mut recording = options(dir.path(), RecordMode::Once);
        recording.scrub = recording
            .scrub
            .host(format!("{sim}/assets"), "https://assets.meshy.ai")
            .host(sim, "https://api.meshy.ai");
        recording.recorded_against = Some(crate::cassette::RecordedAgainst::Simulator);
        let cassette = CassetteTransport::open(recording, Some(live(Arc::default()))).unwrap();
        let live_answer = cassette
            .send(HttpRequest::new("GET", format!("{sim}/openapi/v1/balance")))
            .await
            .unwrap();
        assert!(
            String::from_utf8_lossy(&live_answer.body).contains(sim),
            "the live answer is untouched"
        );
        cassette
            .send(HttpRequest::new(
                "GET",
                format!("{sim}/assets/tasks/t/output/model.glb"),
            ))
            .await
            .unwrap();
        cassette.finish(true).unwrap();
        let text = std::fs::read_to_string(dir.path().join("otter.yaml")).unwrap();
        assert!(!text.contains("127.0.0.1"), "{text}");
        assert!(text.contains("recorded_against: simulator"));
        let replay = CassetteTransport::open(options(dir.path(), RecordMode::None), None).unwrap();
        let balance = replay
            .send(HttpRequest::new(
                "GET",
                "https://api.meshy.ai/openapi/v1/balance",
            ))
            .await
            .unwrap();
        assert!(
            String::from_utf8_lossy(&balance.body)
                .contains("https://api.meshy.ai/openapi/v1/balance")
        );
        assert!(
            replay
                .send(HttpRequest::new(
                    "GET",
                    "https://assets.meshy.ai/tasks/t/output/model.glb"
                ))
                .await
                .is_ok()
        );
    }

    fn journal(dir: &Path, mode: RecordMode) -> CassetteOptions {
        CassetteOptions {
            journal: true,
            ..options(dir, mode)
        }
    }

    /// A live stand-in that reads the cassette file while each request is in flight,
    /// then answers `status`.
    fn peeking(path: PathBuf, status: u16, seen: Arc<Mutex<Vec<String>>>) -> Arc<dyn Transport> {
        Arc::new(move |request: HttpRequest| {
            seen.lock()
                .unwrap()
                .push(std::fs::read_to_string(&path).unwrap_or_default());
            Ok(HttpResponse {
                status: if request.method == "POST" {
                    status
                } else {
                    200
                },
                headers: vec![("content-type".into(), "application/json".into())],
                body: br#"{"result":"task-1"}"#.to_vec(),
                replayed: false,
            })
        })
    }

    #[tokio::test]
    async fn a_journal_has_the_intent_on_disk_before_a_post_leaves_and_the_answer_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("otter.yaml");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let cassette = CassetteTransport::open(
            journal(dir.path(), RecordMode::Once),
            Some(peeking(path.clone(), 202, Arc::clone(&seen))),
        )
        .unwrap();
        cassette.send(post("otter")).await.unwrap();
        let after_post = std::fs::read_to_string(&path).unwrap();
        cassette.send(get("/t/1")).await.unwrap();
        let after_get = Cassette::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        {
            let seen = seen.lock().unwrap();
            let during_post = Cassette::parse(&seen[0]).unwrap();
            assert!(during_post.incomplete && during_post.interactions.is_empty());
            assert_eq!(
                during_post.pending.len(),
                1,
                "the intent is on disk while the POST is out"
            );
            assert_eq!(
                during_post.pending[0].body,
                r#"{"mode":"preview","prompt":"otter"}"#
            );
            assert!(!seen[0].contains(KEY), "no key in the journal");
        }
        let after_post = Cassette::parse(&after_post).unwrap();
        assert!(
            after_post.pending.is_empty(),
            "the answer replaces the intent"
        );
        assert_eq!(after_post.interactions.len(), 1);
        assert!(after_post.incomplete);
        assert_eq!(
            after_get.interactions.len(),
            2,
            "written after every interaction"
        );
        cassette.finish(true).unwrap();
        let done = Cassette::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(!done.incomplete && done.pending.is_empty());
    }

    #[tokio::test]
    async fn a_post_that_could_not_connect_leaves_no_intent() {
        let dir = tempfile::tempdir().unwrap();
        let refused = |request: HttpRequest| -> Result<HttpResponse, TransportError> {
            Err(TransportError::Connect {
                request: request.label(),
                message: "connection refused".into(),
            })
        };
        let cassette = CassetteTransport::open(
            journal(dir.path(), RecordMode::Once),
            Some(Arc::new(refused)),
        )
        .unwrap();
        assert!(cassette.send(post("otter")).await.is_err());
        let finished = cassette.finish(true).unwrap();
        assert!(finished.complete, "nothing was sent, so nothing is pending");
        let written =
            Cassette::parse(&std::fs::read_to_string(dir.path().join("otter.yaml")).unwrap())
                .unwrap();
        assert!(written.pending.is_empty() && !written.incomplete);
    }

    #[tokio::test]
    async fn an_ambiguous_answer_keeps_the_intent_and_the_cassette_incomplete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("otter.yaml");
        let cassette = CassetteTransport::open(
            journal(dir.path(), RecordMode::Once),
            Some(peeking(path.clone(), 502, Arc::default())),
        )
        .unwrap();
        assert_eq!(cassette.send(post("otter")).await.unwrap().status, 502);
        cassette.finish(true).unwrap();
        let written = Cassette::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert!(
            written.interactions.is_empty(),
            "a 502 proves nothing: no interaction"
        );
        assert_eq!(written.pending.len(), 1);
        assert_eq!(
            written.pending[0].outcome.as_deref(),
            Some("502 Bad Gateway")
        );
        assert!(
            written.incomplete,
            "never complete while a create call is unaccounted for"
        );
    }

    #[tokio::test]
    async fn resuming_a_journal_replays_its_create_call_and_appends_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("otter.yaml");
        {
            let first = CassetteTransport::open(
                journal(dir.path(), RecordMode::Once),
                Some(peeking(path.clone(), 202, Arc::default())),
            )
            .unwrap();
            first.send(post("otter")).await.unwrap();
            std::mem::forget(first); // killed: no finish, no Drop
        }
        let calls = Arc::new(AtomicUsize::new(0));
        // `once` on a journal left incomplete resumes it too (a plain cassette is redone).
        let resumed = CassetteTransport::open(
            journal(dir.path(), RecordMode::Once),
            Some(live(Arc::clone(&calls))),
        )
        .unwrap();
        let answer = resumed.send(post("otter")).await.unwrap();
        assert!(answer.replayed, "the create call is not sent again");
        assert_eq!(answer.body, br#"{"result":"task-1"}"#);
        resumed.send(get("/t/1")).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1, "only the GET went live");
        resumed.finish(true).unwrap();
        let done = Cassette::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(done.interactions.len(), 2);
        assert!(!done.incomplete);
    }

    #[test]
    fn a_corrupt_cassette_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("otter.yaml"),
            "interactions:\n- request:\n    method: GET\n    uri: [unclosed\n",
        )
        .unwrap();
        let err = CassetteTransport::open(options(dir.path(), RecordMode::None), None)
            .err()
            .unwrap()
            .to_string();
        let expected = format!(
            "cassette '{}' is corrupt at line ",
            dir.path().join("otter.yaml").display()
        );
        assert!(err.starts_with(&expected), "{err}");
        assert!(
            err.ends_with("fix it, or re-record it with `cargo test -- otter --record-mode=once`"),
            "{err}"
        );
    }
}
