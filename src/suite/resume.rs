//! Recording never pays twice: what a trial's files on disk say before it runs, what
//! the record mode makes of that (the one home of that policy), and reconciling a
//! create call that may have reached Meshy without an answer on file.
//!
//! A recording trial's cassette is a journal (see `CassetteOptions::journal`): every
//! answered request is on disk, and every POST has an intent on disk before it is
//! sent. So before a trial sends anything, its cassette tells whether a task for its
//! current request already exists (resume it: no POST), may exist (reconcile: ask the
//! API's task list), or does not (record).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;

use super::settings::Target;
use crate::cassette::{
    Body, Cassette, Intent, Interaction, RecordMode, RecordedAgainst, RecordedRequest,
    RecordedResponse, created_tasks, is_create_for,
};
use crate::clock::{now_ms, now_rfc3339, parse_rfc3339_ms};
use crate::meshy::{ApiError, ApiGeneration, Client, ListPage, TaskRequest, TaskType};
use crate::scenario::{Delivery, Scenario};

/// A create call's answer may take this long to show in the task list; a listing
/// made later that shows no match proves the call created nothing.
pub const LISTING_SETTLES: Duration = Duration::from_secs(30);
/// The same for the simulator the harness runs itself (`--target=sim`), whose list
/// shows a task the moment it is made: tests and benchmarks need not wait 30 s per
/// lost answer. Never chosen from a base URL: a rehearsal URL may be a proxy in front
/// of the real API.
pub const SIM_LISTING_SETTLES: Duration = Duration::from_secs(1);

/// The window of a run: [`SIM_LISTING_SETTLES`] when it runs its own simulator,
/// else [`LISTING_SETTLES`].
pub fn listing_window(own_simulator: bool) -> Duration {
    if own_simulator {
        SIM_LISTING_SETTLES
    } else {
        LISTING_SETTLES
    }
}

/// How a run lists tasks to reconcile a create call.
pub struct Listing<'a> {
    /// The window counts from this time (epoch ms) when it is later than the call's
    /// intent: when its answer was lost, for a call settled in the run that sent it (a
    /// gateway may answer 5xx long after the request left, and the task be made later
    /// still). 0: from the intent (a call an earlier run left pending).
    pub lost_at_ms: i64,
    /// Lists without recording.
    pub client: &'a Client,
    /// What the cassettes on file say, read at each decision (given the cassette and
    /// the call being settled): another scenario's task is never adopted.
    pub on_file: &'a (dyn Fn(&Path, &Intent) -> OnFile + Send + Sync),
    /// A listing made this long after the call that shows no match proves it created
    /// nothing ([`listing_window`]).
    pub window: Duration,
    /// Held from each decision until its outcome is on disk — never across a listing's
    /// requests or a wait: two trials of a run never adopt one task, and listings and
    /// waits overlap.
    pub one_at_a_time: &'a tokio::sync::Mutex<()>,
}

/// What the cassettes on file say when a lost create call is settled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OnFile {
    /// The task ids create calls on file answered.
    pub known: BTreeSet<String>,
    /// Create calls of the same request that other trials of this run sent and have no
    /// answer for yet: a task the list shows may be theirs, known once it comes.
    pub twins_in_flight: usize,
}

/// How long a settle waits for twins' answers ([`OnFile::twins_in_flight`]) at most:
/// longer than a request may take (`LiveConfig::timeout`, 120 s); past it the settle
/// fails, nothing sent, and a rerun settles the call.
const TWINS_WAIT: Duration = Duration::from_secs(150);

/// How often the cassettes are read again while twins' answers are awaited.
const TWINS_POLL: Duration = Duration::from_millis(200);

/// A reconcile's outcome, with the run's listing lock held until the caller has put
/// it on disk (drop it then).
pub type Settled<'a> = (Reconciled, tokio::sync::MutexGuard<'a, ()>);

/// What a cassette on disk holds for a trial's current request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disk {
    /// No cassette, or one with nothing for this request that needs keeping.
    Absent,
    /// A complete recording of this request (and its webhook recording).
    Complete,
    /// A complete cassette that does not hold this request (it changed).
    Changed,
    /// An unfinished recording of this request: its task was created (the answer is
    /// on file) but its recording is not complete, or its create call may have
    /// reached Meshy (an intent without an answer).
    Unfinished { pending: bool },
    /// An incomplete cassette with no task for this request (a refused create, an
    /// older request): nothing to resume, and nothing to replay either.
    Stale,
}

/// What a trial does with its cassette.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Play the recording back; nothing is sent.
    Replay,
    /// Record: journal into `path` (the cassette, or beside it when a complete one
    /// must survive until the new recording is complete) under `mode`.
    Record { path: PathBuf, mode: RecordMode },
    /// Continue the unfinished recording in `path`: its create calls replay (no new
    /// POST), the rest is sent live and appended.
    Resume { path: PathBuf },
    /// Refuse, with the reason and what to run.
    Refuse(Refusal),
}

/// Why the record-mode policy ([`decide`]) refuses a trial; each says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// A recording would write over a cassette (or the journal beside it) that cannot be
    /// read: it may hold answers Meshy was paid for.
    /// `afresh`: the command that sets it aside and records the trial afresh.
    #[error(
        "cassette '{}' cannot be read ({problem}), so it is not recorded over: it may hold answers \
         Meshy was paid for. Mend it by hand to keep what it holds, or set it aside and record the \
         trial afresh: `{afresh}`",
        file.display()
    )]
    Unreadable {
        file: PathBuf,
        problem: String,
        afresh: String,
    },
    /// A `--target=sim` recording would overwrite an unfinished journal recorded against
    /// the real Meshy API (its tasks are paid for) or a rehearsal (`against`: it may
    /// forward to the real API). `resume_command` resumes it there.
    #[error(
        "cassette '{}' holds an unfinished {}; a --target=sim run would overwrite it. Resume it first \
         with `{resume_command}`{}, or delete it to give those tasks up",
        cassette.display(),
        paid_journal(against),
        match against {
            RecordedAgainst::Rehearsal(_) => " (MESHY_BASE_URL set to that rehearsal's URL again)",
            _ => "",
        }
    )]
    RealJournalUnderSim {
        cassette: PathBuf,
        /// What the journal was recorded against (never the simulator).
        against: RecordedAgainst,
        resume_command: String,
    },
    /// Replay (record mode `none`) of an incomplete recording.
    #[error(
        "recording of '{trial}' is incomplete (cassette '{}'): it was interrupted or its trial failed, and \
         replay needs a complete one; resume it with `{resume_command}`",
        cassette.display()
    )]
    Incomplete {
        trial: String,
        cassette: PathBuf,
        resume_command: String,
    },
    /// Replay of a complete cassette whose task's webhook recording is what is missing,
    /// unreadable or unfinished: `problem` says which, naming the recording's file.
    #[error("trial '{trial}': its cassette '{}' is complete, but {problem}", cassette.display())]
    WebhookRecording {
        trial: String,
        cassette: PathBuf,
        problem: String,
    },
}

impl Action {
    /// The file the trial's cassette transport opens, and in which mode (VCR.py's
    /// meaning): a recording rewrites its journal, a resumed one replays the create
    /// calls on file and appends the rest (`new_episodes`), a replay only replays:
    /// under the run's `once` (a complete cassette: the same, and a miss says `once`),
    /// else `none`.
    pub fn cassette(&self, main: &Path, run_mode: RecordMode) -> (PathBuf, RecordMode) {
        match self {
            Action::Record { path, mode } => (path.clone(), *mode),
            Action::Resume { path } => (path.clone(), RecordMode::NewEpisodes),
            Action::Replay if run_mode == RecordMode::Once => (main.to_owned(), RecordMode::Once),
            Action::Replay | Action::Refuse(_) => (main.to_owned(), RecordMode::None),
        }
    }
}

/// One of a trial's files as its plan read it, for [`decide`].
#[derive(Debug, Clone, Copy)]
pub struct File<'a> {
    pub path: &'a Path,
    /// What it holds for the trial's current request.
    pub disk: &'a Disk,
    /// The API its recording says it was made against, if it says.
    pub against: Option<&'a RecordedAgainst>,
}

/// What [`decide`] decides from besides the record mode: the run, the trial's files as
/// its plan read them (reading them is the plan's), and the commands its refusals quote.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The trial's name.
    pub trial: &'a str,
    pub target: Target,
    /// A `--dry-run`: nothing is recorded.
    pub dry_run: bool,
    /// The cassette.
    pub main: File<'a>,
    /// The file a re-recording of a complete cassette journals into ([`side_path`]).
    pub side: File<'a>,
    /// A file of the two that exists but cannot be read, and why.
    pub unreadable: Option<(&'a Path, &'a str)>,
    /// The command that sets the unreadable file aside and records the trial afresh.
    pub afresh: &'a str,
    /// Why the webhook recording of the task of a complete cassette is not complete
    /// (missing, unreadable or unfinished), if it is not.
    pub webhook: Option<&'a str>,
    /// The command that resumes the trial's recording against the API it was made
    /// against (the run's target if it says none).
    pub resume_command: &'a str,
    /// The command that resumes it against the real Meshy API.
    pub resume_on_meshy: &'a str,
}

/// The record-mode policy of a trial, given its files: the one place the harness's
/// record modes, and its refusals, are decided. In order:
///
/// 1. A recording (any mode but `none`, not a dry run) never writes over a file it
///    cannot read: it may hold paid answers ([`Refusal::Unreadable`]).
/// 2. A `--target=sim` recording never overwrites an unfinished journal (the cassette
///    or the one beside it) recorded against the real Meshy API: its tasks are paid for
///    ([`Refusal::RealJournalUnderSim`]); nor one of a rehearsal, which may forward to it.
/// 3. The record-mode table (`main` is the cassette, `side` the file a re-recording of a
///    complete cassette journals into); its one refusal is [`Refusal::Incomplete`]:
///
/// | files                 | `none`  | `once`                         | `new_episodes` | `all`, `rewrite` |
/// |-----------------------|---------|--------------------------------|----------------|------------------|
/// | complete              | replay  | replay                         | replay         | record beside    |
/// | changed request       | replay (the miss says what to run) | replay (the miss says) | record beside | record beside |
/// | unfinished (meshy)    | refuse  | resume                         | resume         | resume           |
/// | unfinished (simulator)| refuse  | record afresh                  | record afresh  | record afresh    |
/// | absent                | replay (the miss says what to run) | record | record | record  |
///
/// 4. A refused replay of a complete cassette whose task's webhook recording is what is
///    not complete says that, naming the recording's file ([`Refusal::WebhookRecording`]).
///
/// `new_episodes` keeps VCR.py's meaning, at the granularity of a trial: what matches
/// replays, what does not is recorded. A trial whose request changed is recorded
/// whole (beside, replacing the old cassette once complete): its old interactions
/// answer a request that is no longer made. Recording always rewrites the file it
/// journals into; resuming replays the journal's answers and appends the rest
/// ([`Action::cassette`]).
///
/// An unfinished re-recording beside a complete cassette is resumed first, in every
/// recording mode. Against the simulator nothing is paid, so nothing is resumed.
pub fn decide(mode: RecordMode, facts: &Facts) -> Action {
    let Facts {
        main, side, target, ..
    } = *facts;
    let unfinished = |file: File| matches!(file.disk, Disk::Unfinished { .. });
    // 1. Unreadable files.
    if let Some((file, problem)) = facts.unreadable
        && mode != RecordMode::None
        && !facts.dry_run
    {
        return Action::Refuse(Refusal::Unreadable {
            file: file.to_owned(),
            problem: problem.to_owned(),
            afresh: facts.afresh.to_owned(),
        });
    }
    // 2. Paid journals under a simulator run.
    // The real API, or a rehearsal (another base URL: it may be a proxy in front of
    // the real API), or a value this version does not know.
    let paid = [main, side].into_iter().find_map(|file| {
        file.against
            .filter(|a| unfinished(file) && !a.is_simulator())
    });
    if target == Target::Sim
        && mode != RecordMode::None
        && let Some(against) = paid
    {
        return Action::Refuse(Refusal::RealJournalUnderSim {
            cassette: main.path.to_owned(),
            against: against.clone(),
            resume_command: facts.resume_on_meshy.to_owned(),
        });
    }
    // 3. The table, and 4. its refusal of a complete cassette.
    if mode == RecordMode::None {
        return match (main.disk, facts.webhook) {
            (Disk::Unfinished { .. } | Disk::Stale, Some(problem)) => {
                Action::Refuse(Refusal::WebhookRecording {
                    trial: facts.trial.to_owned(),
                    cassette: main.path.to_owned(),
                    problem: problem.to_owned(),
                })
            }
            (Disk::Unfinished { .. } | Disk::Stale, None) => Action::Refuse(Refusal::Incomplete {
                trial: main
                    .path
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                cassette: main.path.to_owned(),
                resume_command: facts.resume_command.to_owned(),
            }),
            _ => Action::Replay,
        };
    }
    let resumable = |file: File| unfinished(file) && target == Target::Meshy;
    if resumable(side) {
        return Action::Resume {
            path: side.path.to_owned(),
        };
    }
    if resumable(main) {
        return Action::Resume {
            path: main.path.to_owned(),
        };
    }
    let beside = |mode| Action::Record {
        path: side.path.to_owned(),
        mode,
    };
    match (main.disk, mode) {
        (Disk::Complete, RecordMode::Once | RecordMode::NewEpisodes) => Action::Replay,
        // `once` records only what was never recorded: the miss names what to run.
        (Disk::Changed, RecordMode::Once) => Action::Replay,
        (Disk::Complete | Disk::Changed, _) => beside(RecordMode::Rewrite),
        (Disk::Absent | Disk::Stale | Disk::Unfinished { .. }, _) => Action::Record {
            path: main.path.to_owned(),
            mode: RecordMode::Rewrite,
        },
    }
}

/// What an unfinished journal that a simulator run must not overwrite holds: a rehearsal
/// is never presented as the real API, yet counts as paid.
fn paid_journal(against: &RecordedAgainst) -> String {
    match against {
        RecordedAgainst::Rehearsal(at) => format!(
            "rehearsal against {} (possibly paid tasks: it may forward to the real Meshy API)",
            at.as_deref().unwrap_or("another base URL")
        ),
        _ => "recording against the real Meshy API (paid tasks)".to_owned(),
    }
}

/// Where a re-recording of the complete cassette `main` journals until it is complete.
pub fn side_path(main: &Path) -> PathBuf {
    let stem = main.file_stem().unwrap_or_default().to_string_lossy();
    main.with_file_name(format!("{stem}.rerecording.yaml"))
}

/// Reads a cassette if there is one; a corrupt one counts as absent here (opening it
/// for the trial reports it).
pub fn load(path: &Path) -> Option<Cassette> {
    crate::cassette::CassetteFile::read(path).into_cassette()
}

/// What `cassette` holds for `request` (`None`: a trial written in Rust, whose
/// requests are not known beforehand: any create counts). `webhook_done` tells
/// whether a task's webhook recording is complete (always true for polling).
pub fn inspect(
    cassette: Option<&Cassette>,
    request: Option<&TaskRequest>,
    webhook_done: impl Fn(&str) -> bool,
) -> Disk {
    let Some(cassette) = cassette else {
        return Disk::Absent;
    };
    let pending = cassette
        .pending
        .iter()
        .any(|intent| request.is_none_or(|r| intent_is_for(intent, r)));
    let tasks = created_tasks(cassette, request);
    if !cassette.incomplete && !pending {
        return match tasks.first() {
            Some(task) if webhook_done(task) => Disk::Complete,
            Some(_) => Disk::Unfinished { pending: false },
            None if request.is_none() => Disk::Complete,
            None => Disk::Changed,
        };
    }
    if pending || !tasks.is_empty() {
        Disk::Unfinished { pending }
    } else {
        Disk::Stale
    }
}

fn intent_is_for(intent: &Intent, request: &TaskRequest) -> bool {
    is_create_for(&intent.uri, intent.body.as_bytes(), request)
}

/// How reconciling an intent ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reconciled {
    /// Exactly one task created since the intent matches it: this is the task, as the
    /// list showed it.
    Adopted { task_id: String, as_listed: Value },
    /// No task matches, on a listing made `LISTING_SETTLES` (30 s) after the intent: the
    /// call created nothing, and sending it is safe.
    NotCreated,
}

/// Why an intent could not be reconciled; nothing was sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResumeError {
    #[error(
        "cassette '{}': the create call {request} sent at {sent} may have reached Meshy ({outcome}), and {} tasks \
         created since then match it: {}; nothing was sent. Keep the one that belongs to this scenario: delete the \
         others in the Meshy dashboard and rerun (the rerun adopts the one left), or delete the `pending:` entry \
         from the cassette to record anew (that pays again)",
        path.display(), ids.len(), ids.join(", ")
    )]
    Several {
        path: PathBuf,
        request: String,
        sent: String,
        outcome: String,
        ids: Vec<String>,
    },
    #[error(
        "cassette '{}': the create call {request} sent at {sent} may have reached Meshy ({outcome}), and the API \
         cannot list {task_type} tasks to find out ({source}); nothing was sent. Look for a {task_type} task created \
         at about {sent} in the Meshy dashboard: if there is none, delete the `pending:` entry from the cassette and \
         rerun; if there is one, it is paid for, and deleting the entry records anew (that pays again)",
        path.display()
    )]
    CannotList {
        path: PathBuf,
        request: String,
        sent: String,
        outcome: String,
        task_type: TaskType,
        source: ListingError,
    },
    #[error(
        "cassette '{}': the pending create call {request} cannot be reconciled: {reason}; nothing was sent. Delete \
         the `pending:` entry from the cassette to record anew (if Meshy created the task, that pays again)",
        path.display()
    )]
    Unreadable {
        path: PathBuf,
        request: String,
        reason: String,
    },
    /// A listed task may be the task of another trial's identical call, whose answer
    /// has not come.
    #[error(
        "cassette '{}': the create call {request} sent at {sent} may have reached Meshy ({outcome}), and the task \
         list shows a task it may have made; but another trial of this run sent the same request and has had no \
         answer for {waited_secs} s, so the task may be that trial's; nothing was sent. Rerun: the rerun settles \
         the call once the other trial's answer is on file",
        path.display()
    )]
    TwinUnanswered {
        path: PathBuf,
        request: String,
        sent: String,
        outcome: String,
        waited_secs: u64,
    },
    #[error("cassette '{}': interrupted while reconciling the pending create call {request}", path.display())]
    Interrupted { path: PathBuf, request: String },
    #[error("error writing cassette '{}' after reconciling its pending create call: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The fields Meshy echoes unchanged in a task object that identify the request
/// behind it (URLs are left out: Meshy may store an uploaded image under its own URL).
const IDENTITY_FIELDS: [&str; 14] = [
    "prompt",
    "mode",
    "texture_prompt",
    "text_style_prompt",
    "preview_task_id",
    "input_task_id",
    "rig_task_id",
    "action_id",
    "action_ids",
    "motion_task_id",
    "image_url",
    "image_urls",
    "model_url",
    "reference_image_urls",
];

/// Identity fields that hold URLs: Meshy may store an uploaded image under its own URL.
const URL_FIELDS: [&str; 4] = [
    "image_url",
    "image_urls",
    "model_url",
    "reference_image_urls",
];

/// Tasks created before the intent by more than this (clock skew between this
/// machine and Meshy's) are not candidates.
/// Generous: a task wrongly taken for older than its intent would be bought again.
const SKEW: i64 = 30_000;
/// Pages of 50 looked at, newest first, at most.
const MAX_PAGES: u32 = 10;

/// Settles every pending intent in the cassette at `path`, in order, asking the API
/// (through `listing`) which tasks exist. Adopted tasks become the create call's
/// interaction (marked `x-mesh-toolkit-reconciled`), intents that created nothing are
/// dropped; the file is rewritten after each. Returns the outcomes. An adopted task's
/// interaction is written through `scrub`, as every recorded one is (the listed task may
/// carry the simulator's address).
pub async fn reconcile_all(
    path: &Path,
    listing: &Listing<'_>,
    scrub: &crate::cassette::Scrub,
    interrupt: Option<watch::Receiver<bool>>,
) -> Result<Vec<Reconciled>, ResumeError> {
    let mut outcomes = Vec::new();
    loop {
        let Some(intent) = load(path).and_then(|c| c.pending.first().cloned()) else {
            return Ok(outcomes);
        };
        let (outcome, _listing) = reconcile(path, &intent, listing, interrupt.clone()).await?;
        // Read again under the lock: the file as it stands is what is rewritten.
        let Some(mut cassette) = load(path) else {
            return Ok(outcomes);
        };
        cassette.pending.retain(|pending| *pending != intent);
        if let Reconciled::Adopted { task_id, as_listed } = &outcome {
            let mut interaction = adopted(&intent, task_id, as_listed);
            scrub.apply(&mut interaction);
            cassette.interactions.push(interaction);
        }
        cassette.incomplete = true;
        crate::atomic_file::write(path, cassette.to_yaml().as_bytes()).map_err(|source| {
            ResumeError::Write {
                path: path.to_owned(),
                source,
            }
        })?;
        outcomes.push(outcome);
    }
}

/// Finds out whether `intent` created a task: lists its task type's tasks, newest
/// first, created since the intent, whose echoed identity fields match its body. No
/// match before the window has passed: waits (without the listing lock) and lists again.
pub async fn reconcile<'a>(
    path: &Path,
    intent: &Intent,
    listing: &Listing<'a>,
    mut interrupt: Option<watch::Receiver<bool>>,
) -> Result<Settled<'a>, ResumeError> {
    let request = format!("{} {}", intent.method, intent.uri);
    let unreadable = |reason: &str| ResumeError::Unreadable {
        path: path.to_owned(),
        request: request.clone(),
        reason: reason.to_owned(),
    };
    let body: Value =
        serde_json::from_str(&intent.body).map_err(|_| unreadable("its body is not JSON"))?;
    let task_type = TaskType::of_create(crate::transport::url_path(&intent.uri), &body)
        .ok_or_else(|| unreadable("its URI is not a create call of a known task type"))?;
    let sent_ms = parse_rfc3339_ms(&intent.recorded_at)
        .ok_or_else(|| unreadable("its recorded_at is not an RFC 3339 UTC time"))?;
    let outcome = intent
        .outcome
        .clone()
        .unwrap_or_else(|| "no answer on file".into());
    let window = i64::try_from(listing.window.as_millis()).unwrap_or(i64::MAX);
    // Listed in the call's own generation: v2 tasks echo their request in `input`.
    let generation =
        ApiGeneration::of_create(&intent.uri, &body).unwrap_or(listing.client.generation());
    let client = &listing.client.clone().with_generation(generation);
    loop {
        let listed_at = now_ms();
        // Tasks already on file are skipped as the list is read (one of another request
        // may not echo this call's fields, and must not stop the listing).
        let known_before = (listing.on_file)(path, intent).known;
        let listed = matching_tasks(client, task_type, &body, sent_ms, &known_before)
            .await
            .map_err(|e| ResumeError::CannotList {
                path: path.to_owned(),
                request: request.clone(),
                sent: intent.recorded_at.clone(),
                outcome: outcome.clone(),
                task_type,
                source: e,
            })?;
        // Decided under the run's lock, with the cassettes as they are now: a task another
        // trial was answered or adopted since the listing is not a candidate.
        let held = listing.one_at_a_time.lock().await;
        let on_file = (listing.on_file)(path, intent);
        let found: Vec<(String, Value)> = (listed.into_iter())
            .filter(|(id, _)| !on_file.known.contains(id))
            .collect();
        if !found.is_empty() && on_file.twins_in_flight > 0 {
            // A listed task may be a twin's whose answer is on its way: once it is on
            // file, the task is known, and the list is read again.
            drop(held);
            let waited = twins_answered(listing, path, intent, &mut interrupt).await;
            match waited {
                Ok(()) => continue,
                Err(Some(waited)) => {
                    return Err(ResumeError::TwinUnanswered {
                        path: path.to_owned(),
                        request,
                        sent: intent.recorded_at.clone(),
                        outcome,
                        waited_secs: waited.as_secs(),
                    });
                }
                Err(None) => {
                    return Err(ResumeError::Interrupted {
                        path: path.to_owned(),
                        request,
                    });
                }
            }
        }
        let ids: Vec<String> = found.iter().map(|(id, _)| id.clone()).collect();
        match found.len() {
            1 => {
                let (task_id, as_listed) = found.into_iter().next().unwrap_or_default();
                return Ok((Reconciled::Adopted { task_id, as_listed }, held));
            }
            0 if listed_at.saturating_sub(sent_ms.max(listing.lost_at_ms)) >= window => {
                return Ok((Reconciled::NotCreated, held));
            }
            0 => {
                drop(held);
                let from = sent_ms.max(listing.lost_at_ms);
                let wait = u64::try_from(from.saturating_add(window) - listed_at).unwrap_or(0);
                let sleep = tokio::time::sleep(Duration::from_millis(wait));
                tokio::select! {
                    () = sleep => {}
                    () = stopped(&mut interrupt) => {
                        return Err(ResumeError::Interrupted { path: path.to_owned(), request });
                    }
                }
            }
            _ => {
                return Err(ResumeError::Several {
                    path: path.to_owned(),
                    request,
                    sent: intent.recorded_at.clone(),
                    outcome,
                    ids,
                });
            }
        }
    }
}

/// What the cassettes in `http` say while the call `settling` of the cassette `own` is
/// settled: the task ids create calls answered, and the calls of the same request that
/// other cassettes journalled since `run_started_ms` (this run) and have no answer for.
pub fn on_file(http: &Path, own: &Path, settling: &Intent, run_started_ms: i64) -> OnFile {
    let mut on_file = OnFile::default();
    let files = std::fs::read_dir(http).into_iter().flatten();
    for path in files.filter_map(Result::ok).map(|e| e.path()) {
        let Some(cassette) = load(&path) else {
            continue;
        };
        if path.file_name() != own.file_name() {
            on_file.twins_in_flight += (cassette.pending.iter())
                .filter(|intent| {
                    intent.outcome.is_none()
                        && parse_rfc3339_ms(&intent.recorded_at)
                            .is_some_and(|at| at >= run_started_ms)
                        && same_request(intent, settling)
                })
                .count();
        }
        on_file
            .known
            .extend(crate::cassette::created_tasks(&cassette, None));
    }
    on_file
}

/// Whether a listed task could be taken for either of two create calls: the same
/// method and URI, and the same identity fields (those a listing matches by; a call
/// that differs elsewhere counts too, which costs a wait, never a wrong adoption).
pub fn same_request(a: &Intent, b: &Intent) -> bool {
    let identity = |intent: &Intent| {
        let body: Value = serde_json::from_str(&intent.body).ok()?;
        let fields = body.as_object()?;
        Some(IDENTITY_FIELDS.map(|field| fields.get(field).cloned()))
    };
    a.method == b.method
        && a.uri == b.uri
        && match (identity(a), identity(b)) {
            (Some(a), Some(b)) => a == b,
            _ => a.body == b.body,
        }
}

/// Waits until no twin of `intent` is in flight ([`OnFile::twins_in_flight`]), reading
/// the cassettes every [`TWINS_POLL`]: `Err(Some(waited))` after [`TWINS_WAIT`],
/// `Err(None)` when interrupted.
async fn twins_answered(
    listing: &Listing<'_>,
    path: &Path,
    intent: &Intent,
    interrupt: &mut Option<watch::Receiver<bool>>,
) -> Result<(), Option<Duration>> {
    let started = tokio::time::Instant::now();
    while (listing.on_file)(path, intent).twins_in_flight > 0 {
        if started.elapsed() >= TWINS_WAIT {
            return Err(Some(started.elapsed()));
        }
        tokio::select! {
            () = tokio::time::sleep(TWINS_POLL) => {}
            () = stopped(interrupt) => return Err(None),
        }
    }
    Ok(())
}

/// Ends once `interrupt` is true; never without one.
async fn stopped(interrupt: &mut Option<watch::Receiver<bool>>) {
    match interrupt.as_mut() {
        Some(i) => drop(i.wait_for(|stop| *stop).await),
        None => std::future::pending().await,
    }
}

async fn matching_tasks(
    client: &Client,
    task_type: TaskType,
    body: &Value,
    sent_ms: i64,
    known: &BTreeSet<String>,
) -> Result<Vec<(String, Value)>, ListingError> {
    let mut found: Vec<(String, Value)> = Vec::new();
    let mut listed_count = 0usize;
    for page_num in 1..=MAX_PAGES {
        let page = ListPage {
            page_num,
            page_size: 50,
            newest_first: true,
        };
        let listed = client
            .list_page(task_type, &page)
            .await
            .map_err(ListingError::Api)?;
        // v2's has_more rules when given: a short page may not be the last. Without it,
        // v1's full page of 50 means more; a v2 list reads on until an empty page (its
        // paging is unconfirmed: a short page proves nothing there).
        let more = listed.has_more.unwrap_or(match client.generation() {
            ApiGeneration::V1 => listed.tasks.len() == 50,
            ApiGeneration::V2 => !listed.tasks.is_empty(),
        });
        listed_count += listed.tasks.len();
        let tasks = listed.tasks;
        let mut older_seen = false;
        let mut previous: Option<i64> = None;
        for task in tasks {
            // No creation time (v2's `null`): a candidate, never "older".
            if let Some(created) = task.created_at {
                if previous.is_some_and(|p| created > p) {
                    return Err(ListingError::Unsorted);
                }
                previous = Some(created);
                if created < sent_ms - SKEW {
                    older_seen = true;
                    continue;
                }
            }
            // Tasks created while the pages are read shift them: a task seen on an
            // earlier page is the same task, not a second match.
            if known.contains(&task.id) || found.iter().any(|(id, _)| *id == task.id) {
                continue;
            }
            let echoed = serde_json::to_value(&task).unwrap_or(Value::Null);
            match echoes(&echoed, body, task_type) {
                Echo::Same => found.push((task.id.clone(), echoed)),
                Echo::Different => {}
                Echo::Silent(field) => {
                    return Err(ListingError::Silent {
                        task_id: task.id.clone(),
                        field,
                    });
                }
            }
        }
        if !more || older_seen {
            return Ok(found);
        }
    }
    // Never "not created" on a listing that did not reach back to the intent.
    Err(ListingError::TooMany {
        listed: listed_count,
        pages: MAX_PAGES,
    })
}

/// Why the task list could not tell whether a create call made a task.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListingError {
    #[error(transparent)]
    Api(ApiError),
    #[error(
        "{listed} tasks in {pages} pages of the list were created since the call, and the listing did not reach back to it"
    )]
    TooMany { listed: usize, pages: u32 },
    /// The list was not newest first, so reading it back to the call's time proves
    /// nothing.
    #[error(
        "the task list is not sorted newest first (sort_by=-created_at), so it cannot prove the call made no task"
    )]
    Unsorted,
    /// A recent task of the type does not echo a field the request sent (or, under v2,
    /// echoes it otherwise), so it cannot be told apart from the request's own.
    #[error(
        "task {task_id}, created since the call, does not echo the request's '{field}' as it was sent, so \
         the listing cannot tell whether it is this request's task"
    )]
    Silent { task_id: String, field: String },
}

/// What a listed task says of a create request: the request it echoes (v2: `input`,
/// the request whole; v1: some fields at the top level), compared on the identity
/// fields the request sent.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Echo {
    /// Every identity field the request sent is echoed, and equal.
    Same,
    /// An echoed identity field differs: another request's task.
    Different,
    /// No identity field differs, but the task does not echo this field the request
    /// sent, or echoes it otherwise: it cannot be told apart, so it is never counted as
    /// a match (nor as "not created").
    Silent(String),
}

fn echoes(task: &Value, request: &Value, task_type: TaskType) -> Echo {
    let v2_input = task.get("input").filter(|i| i.is_object());
    let echoed = v2_input.unwrap_or(task);
    let mut silent: Option<String> = None;
    for field in IDENTITY_FIELDS {
        let differs = match (echoed.get(field), request.get(field)) {
            // A URL may be stored under Meshy's own address (an uploaded data URI): an
            // equal one confirms, a different one cannot rule the task out.
            (Some(echoed), Some(sent)) if !echoed.is_null() && URL_FIELDS.contains(&field) => {
                if echoed != sent {
                    silent = silent.or(Some(field.to_owned()));
                }
                false
            }
            (Some(echoed), Some(sent)) if !echoed.is_null() => echoed != sent,
            (_, Some(_)) => {
                silent = silent.or(Some(field.to_owned()));
                false
            }
            // v1 refine tasks echo `mode`, and a preview request need not send it; other
            // types echo their own `mode` defaults (text-to-motion's `prime`).
            (Some(Value::String(echoed)), None) if field == "mode" => echoed == "refine",
            _ => false,
        };
        if differs {
            return Echo::Different;
        }
    }
    if let Some(input) = v2_input {
        // v2: `input` is the request whole, so a field sent and echoed otherwise (a
        // textured and an untextured text-to-3d of one prompt), or another `type`, may
        // be another request's task. It may as well be this one's, as Meshy wrote it
        // (its `type` values are unconfirmed, a number may come back as 4 for 4.0): it
        // cannot be told apart, never "another task", which would send it again.
        if task
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|kind| kind != task_type.v2_type())
        {
            silent = silent.or(Some("type".to_owned()));
        }
        let sent = request.as_object().into_iter().flatten();
        for (field, value) in sent {
            if field == "callback_url" || IDENTITY_FIELDS.contains(&field.as_str()) {
                continue;
            }
            if input
                .get(field)
                .is_some_and(|echoed| !echoed.is_null() && echoed != value)
            {
                silent = silent.or(Some(field.clone()));
            }
        }
    }
    silent.map_or(Echo::Same, Echo::Silent)
}

/// The create call's interaction for an adopted task, its answer in the call's
/// generation: v1's `{"result": id}`, v2's task object as the list showed it (a v2
/// create answers the whole task; nothing of it is invented).
pub(crate) fn adopted(intent: &Intent, task_id: &str, as_listed: &Value) -> Interaction {
    let body: Value = serde_json::from_str(&intent.body).unwrap_or(Value::Null);
    let answer = match ApiGeneration::of_create(crate::transport::url_path(&intent.uri), &body) {
        Some(ApiGeneration::V1) => json!({ "result": task_id }),
        _ => as_listed.clone(),
    };
    Interaction {
        request: RecordedRequest {
            method: intent.method.clone(),
            uri: intent.uri.clone(),
            headers: vec![("Content-Type".into(), vec!["application/json".into()])],
            body: Some(Body::Text(intent.body.clone())),
        },
        response: RecordedResponse {
            status: 202,
            message: "Accepted".into(),
            headers: vec![
                ("Content-Type".into(), vec!["application/json".into()]),
                (
                    "X-Mesh-Toolkit-Reconciled".into(),
                    vec![format!(
                        "no answer on file ({}); adopted from the task list at {}",
                        intent.outcome.as_deref().unwrap_or("none"),
                        now_rfc3339()
                    )],
                ),
            ],
            body: Body::Text(answer.to_string()),
        },
    }
}

/// Whether a scenario's recordings are all there: a complete cassette holding this
/// request, and (for webhook delivery) the task's complete webhook recording.
pub fn is_recorded(
    cassette: Option<&Cassette>,
    webhooks_dir: &Path,
    scenario: &Scenario,
    request: &TaskRequest,
) -> bool {
    let reads = crate::webhooks::RecordingReads::default();
    let done = webhook_done(webhooks_dir, Some(scenario), &reads);
    inspect(cassette, Some(request), done) == Disk::Complete
}

/// Whether a task's webhook recording for `scenario` is complete: always for a polling
/// scenario, and for a trial written in Rust (`None`), whose tasks are not known. The
/// recording is read through `reads` (the trial's replay and the report reuse it).
pub fn webhook_done<'a>(
    webhooks_dir: &'a Path,
    scenario: Option<&'a Scenario>,
    reads: &'a crate::webhooks::RecordingReads,
) -> impl Fn(&str) -> bool + 'a {
    move |task_id| {
        scenario.is_none_or(|s| {
            s.delivery == Delivery::Polling
                || reads
                    .get(&crate::webhooks::recording_path(
                        webhooks_dir,
                        &s.species,
                        s.task_type.as_str(),
                        task_id,
                    ))
                    .done()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The facts of trial `t`: its two files (recorded against no API they say), none
    /// unreadable, no webhook recording missing, not a dry run.
    fn facts<'a>(
        target: Target,
        main: (&'a Path, &'a Disk),
        side: (&'a Path, &'a Disk),
        resume_command: &'a str,
    ) -> Facts<'a> {
        let file = |(path, disk): (&'a Path, &'a Disk)| File {
            path,
            disk,
            against: None,
        };
        Facts {
            trial: "t",
            target,
            dry_run: false,
            main: file(main),
            side: file(side),
            unreadable: None,
            afresh: "test ! -e c/t.rerecording.yaml.unreadable && mv c/t.rerecording.yaml c/t.rerecording.yaml.unreadable && record t",
            webhook: None,
            resume_command,
            resume_on_meshy: "resume on meshy",
        }
    }

    /// The table of `decide`'s documentation, row by row (no side file).
    #[test]
    fn decide_follows_the_record_mode_table() {
        let (main, side) = (
            Path::new("http/t.yaml"),
            Path::new("http/t.rerecording.yaml"),
        );
        let unfinished = Disk::Unfinished { pending: false };
        let code = |action: Action| match action {
            Action::Replay => "replay".to_owned(),
            Action::Refuse(_) => "refuse".to_owned(),
            Action::Resume { path } => format!("resume {}", path.display()),
            Action::Record { path, mode } => format!("record {} {mode}", path.display()),
        };
        let rows: [(&Disk, [&str; 5]); 4] = [
            (
                &Disk::Complete,
                [
                    "replay",
                    "replay",
                    "replay",
                    "record http/t.rerecording.yaml rewrite",
                    "record http/t.rerecording.yaml rewrite",
                ],
            ),
            (
                &Disk::Changed,
                [
                    "replay",
                    "replay",
                    "record http/t.rerecording.yaml rewrite",
                    "record http/t.rerecording.yaml rewrite",
                    "record http/t.rerecording.yaml rewrite",
                ],
            ),
            (
                &unfinished,
                [
                    "refuse",
                    "resume http/t.yaml",
                    "resume http/t.yaml",
                    "resume http/t.yaml",
                    "resume http/t.yaml",
                ],
            ),
            (
                &Disk::Absent,
                [
                    "replay",
                    "record http/t.yaml rewrite",
                    "record http/t.yaml rewrite",
                    "record http/t.yaml rewrite",
                    "record http/t.yaml rewrite",
                ],
            ),
        ];
        for (disk, expected) in rows {
            let modes = <RecordMode as clap::ValueEnum>::value_variants()
                .iter()
                .copied();
            for (mode, expected) in modes.zip(expected) {
                let got = code(decide(
                    mode,
                    &facts(Target::Meshy, (main, disk), (side, &Disk::Absent), "cmd"),
                ));
                assert_eq!(got, expected, "{disk:?} under {mode}");
            }
        }
        // Against the simulator nothing is paid: an unfinished recording is recorded afresh.
        let got = code(decide(
            RecordMode::Once,
            &facts(
                Target::Sim,
                (main, &unfinished),
                (side, &Disk::Absent),
                "cmd",
            ),
        ));
        assert_eq!(got, "record http/t.yaml rewrite");
    }
    use serde_json::json;
    use std::sync::{Arc, Mutex};

    fn preview(prompt: &str) -> TaskRequest {
        TaskRequest::from_json(TaskType::Text3d, json!({ "prompt": prompt })).unwrap()
    }

    fn cassette_with(post_answer: Option<u16>, pending: bool, incomplete: bool) -> Cassette {
        let request = preview("otter");
        let body = request.to_json().to_string();
        let uri = "https://api.meshy.ai/openapi/v2/text-to-3d".to_owned();
        let mut cassette = Cassette {
            incomplete,
            ..Cassette::default()
        };
        if let Some(status) = post_answer {
            cassette.interactions.push(Interaction {
                request: RecordedRequest {
                    method: "POST".into(),
                    uri: uri.clone(),
                    headers: Vec::new(),
                    body: Some(Body::Text(body.clone())),
                },
                response: RecordedResponse {
                    status,
                    message: String::new(),
                    headers: Vec::new(),
                    body: Body::Text(r#"{"result":"t-1"}"#.into()),
                },
            });
        }
        if pending {
            cassette.pending.push(Intent {
                method: "POST".into(),
                uri,
                body,
                recorded_at: "2026-12-01T14:00:00.000Z".into(),
                outcome: Some("502 Bad Gateway".into()),
            });
        }
        cassette
    }

    #[test]
    fn inspect_tells_complete_unfinished_changed_and_absent_apart() {
        let otter = preview("otter");
        let done = |_: &str| true;
        let c = cassette_with(Some(202), false, false);
        assert_eq!(inspect(Some(&c), Some(&otter), done), Disk::Complete);
        assert_eq!(
            inspect(Some(&c), Some(&otter), |_| false),
            Disk::Unfinished { pending: false },
            "a complete cassette whose webhook recording is not complete is resumed"
        );
        assert_eq!(
            inspect(Some(&c), Some(&preview("beaver")), done),
            Disk::Changed
        );
        let c = cassette_with(Some(202), false, true);
        assert_eq!(
            inspect(Some(&c), Some(&otter), done),
            Disk::Unfinished { pending: false }
        );
        assert_eq!(
            inspect(Some(&c), Some(&preview("beaver")), done),
            Disk::Stale
        );
        let c = cassette_with(None, true, true);
        assert_eq!(
            inspect(Some(&c), Some(&otter), done),
            Disk::Unfinished { pending: true }
        );
        assert_eq!(
            inspect(Some(&c), None, done),
            Disk::Unfinished { pending: true }
        );
        let c = cassette_with(Some(400), false, true);
        assert_eq!(
            inspect(Some(&c), Some(&otter), done),
            Disk::Stale,
            "a refused create made no task"
        );
        assert_eq!(inspect(None, Some(&otter), done), Disk::Absent);
    }

    #[test]
    fn the_policy_resumes_what_may_be_paid_for_in_every_recording_mode() {
        let (main, side) = (Path::new("c/x.yaml"), Path::new("c/x.rerecording.yaml"));
        let unfinished = Disk::Unfinished { pending: true };
        let resume_main = Action::Resume { path: main.into() };
        for mode in [
            RecordMode::Once,
            RecordMode::NewEpisodes,
            RecordMode::All,
            RecordMode::Rewrite,
        ] {
            assert_eq!(
                decide(
                    mode,
                    &facts(
                        Target::Meshy,
                        (main, &unfinished),
                        (side, &Disk::Absent),
                        "c"
                    )
                ),
                resume_main
            );
            assert_eq!(
                decide(
                    mode,
                    &facts(
                        Target::Meshy,
                        (main, &Disk::Complete),
                        (side, &unfinished),
                        "c"
                    )
                ),
                Action::Resume { path: side.into() },
                "an unfinished re-recording is resumed before anything else"
            );
            assert_eq!(
                decide(
                    mode,
                    &facts(Target::Sim, (main, &unfinished), (side, &Disk::Absent), "c")
                ),
                Action::Record {
                    path: main.into(),
                    mode: RecordMode::Rewrite
                },
                "the simulator charges nothing: record afresh"
            );
        }
        for mode in [RecordMode::All, RecordMode::Rewrite] {
            assert_eq!(
                decide(
                    mode,
                    &facts(
                        Target::Meshy,
                        (main, &Disk::Complete),
                        (side, &Disk::Absent),
                        "c"
                    )
                ),
                Action::Record {
                    path: side.into(),
                    mode: RecordMode::Rewrite
                },
                "a complete cassette is replaced only by a complete recording"
            );
        }
        assert_eq!(
            decide(
                RecordMode::Once,
                &facts(
                    Target::Meshy,
                    (main, &Disk::Complete),
                    (side, &Disk::Absent),
                    "c"
                )
            ),
            Action::Replay
        );
        assert!(
            matches!(
                decide(
                    RecordMode::None,
                    &facts(
                        Target::Sim,
                        (main, &Disk::Stale),
                        (side, &Disk::Absent),
                        "c"
                    )
                ),
                Action::Refuse(_)
            ),
            "an incomplete cassette holding a refused create never replays as a recording"
        );
        let Action::Refuse(refusal) = decide(
            RecordMode::None,
            &facts(
                Target::Meshy,
                (main, &unfinished),
                (side, &Disk::Absent),
                "cargo test -- x --record-mode=once",
            ),
        ) else {
            panic!("replay of an incomplete cassette must be refused");
        };
        assert_eq!(
            refusal.to_string(),
            "recording of 'x' is incomplete (cassette 'c/x.yaml'): it was interrupted or its trial failed, and \
             replay needs a complete one; resume it with `cargo test -- x --record-mode=once`"
        );
        assert!(matches!(refusal, Refusal::Incomplete { .. }), "{refusal:?}");
    }

    /// The refusals before the table, in their order: a file that cannot be read, then
    /// an unfinished journal of the real API under a simulator run.
    #[test]
    fn a_recording_refuses_to_write_over_what_it_cannot_read_or_what_was_paid_for() {
        let (main, side) = (Path::new("c/t.yaml"), Path::new("c/t.rerecording.yaml"));
        let unfinished = Disk::Unfinished { pending: false };
        let meshy = RecordedAgainst::Meshy;
        let sim = RecordedAgainst::Simulator;

        // A file that cannot be read is never recorded over, in any recording mode.
        let unreadable = Facts {
            unreadable: Some((side, "line 3 column 1: expected ':'")),
            ..facts(
                Target::Meshy,
                (main, &Disk::Complete),
                (side, &Disk::Absent),
                "c",
            )
        };
        for mode in [
            RecordMode::Once,
            RecordMode::NewEpisodes,
            RecordMode::All,
            RecordMode::Rewrite,
        ] {
            let Action::Refuse(refusal) = decide(mode, &unreadable) else {
                panic!("an unreadable file is recorded over under {mode}");
            };
            assert_eq!(
                refusal,
                Refusal::Unreadable {
                    file: side.into(),
                    problem: "line 3 column 1: expected ':'".into(),
                    afresh: "test ! -e c/t.rerecording.yaml.unreadable && mv c/t.rerecording.yaml c/t.rerecording.yaml.unreadable && record t"
                        .into(),
                }
            );
            assert_eq!(
                refusal.to_string(),
                "cassette 'c/t.rerecording.yaml' cannot be read (line 3 column 1: expected ':'), so it is not \
                 recorded over: it may hold answers Meshy was paid for. Mend it by hand to keep what it holds, \
                 or set it aside and record the trial afresh: \
                 `test ! -e c/t.rerecording.yaml.unreadable && mv c/t.rerecording.yaml c/t.rerecording.yaml.unreadable && record t`"
            );
        }
        // A replay, or a dry run, writes nothing: the table decides (the replay reports it).
        assert_eq!(decide(RecordMode::None, &unreadable), Action::Replay);
        let dry_run = Facts {
            dry_run: true,
            ..unreadable
        };
        assert_eq!(decide(RecordMode::Once, &dry_run), Action::Replay);

        // An unfinished journal of the real API, the cassette or the one beside it, is
        // never overwritten by a simulator run: it is resumed against Meshy.
        let paid_main = Facts {
            main: File {
                path: main,
                disk: &unfinished,
                against: Some(&meshy),
            },
            ..facts(Target::Sim, (main, &unfinished), (side, &Disk::Absent), "c")
        };
        let paid_side = Facts {
            side: File {
                path: side,
                disk: &unfinished,
                against: Some(&meshy),
            },
            ..facts(
                Target::Sim,
                (main, &Disk::Complete),
                (side, &unfinished),
                "c",
            )
        };
        // A rehearsal (maybe a proxy in front of the real API), of a known origin or
        // an older file's `other-base-url`: as paid.
        let proxied = RecordedAgainst::of_base_url("http://127.0.0.1:9000");
        let older = RecordedAgainst::parse("other-base-url");
        let paid_proxied = |against| Facts {
            main: File {
                path: main,
                disk: &unfinished,
                against: Some(against),
            },
            ..facts(Target::Sim, (main, &unfinished), (side, &Disk::Absent), "c")
        };
        let (paid_proxied, paid_older) = (paid_proxied(&proxied), paid_proxied(&older));
        let real = "cassette 'c/t.yaml' holds an unfinished recording against the real Meshy API (paid tasks); \
                    a --target=sim run would overwrite it. Resume it first with `resume on meshy`, or delete it \
                    to give those tasks up";
        for (paid, against, message) in [
            (&paid_main, &meshy, real.to_owned()),
            (&paid_side, &meshy, real.to_owned()),
            (
                &paid_proxied,
                &proxied,
                "cassette 'c/t.yaml' holds an unfinished rehearsal against http://127.0.0.1:9000 (possibly paid \
                 tasks: it may forward to the real Meshy API); a --target=sim run would overwrite it. Resume it \
                 first with `resume on meshy` (MESHY_BASE_URL set to that rehearsal's URL again), or delete it \
                 to give those tasks up"
                    .to_owned(),
            ),
            (
                &paid_older,
                &older,
                "cassette 'c/t.yaml' holds an unfinished rehearsal against another base URL (possibly paid \
                 tasks: it may forward to the real Meshy API); a --target=sim run would overwrite it. Resume it \
                 first with `resume on meshy` (MESHY_BASE_URL set to that rehearsal's URL again), or delete it \
                 to give those tasks up"
                    .to_owned(),
            ),
        ] {
            for mode in [
                RecordMode::Once,
                RecordMode::NewEpisodes,
                RecordMode::All,
                RecordMode::Rewrite,
            ] {
                let Action::Refuse(refusal) = decide(mode, paid) else {
                    panic!("a simulator run records over paid tasks under {mode}");
                };
                assert_eq!(
                    refusal,
                    Refusal::RealJournalUnderSim {
                        cassette: main.into(),
                        against: against.clone(),
                        resume_command: "resume on meshy".into()
                    }
                );
                assert_eq!(refusal.to_string(), message);
            }
        }
        // Against Meshy it is resumed; a simulator's journal is recorded afresh; a
        // complete one is not unfinished; a replay overwrites nothing.
        let on_meshy = Facts {
            target: Target::Meshy,
            ..paid_main
        };
        assert_eq!(
            decide(RecordMode::Once, &on_meshy),
            Action::Resume { path: main.into() }
        );
        let free = Facts {
            main: File {
                against: Some(&sim),
                ..paid_main.main
            },
            ..paid_main
        };
        assert_eq!(
            decide(RecordMode::Once, &free),
            Action::Record {
                path: main.into(),
                mode: RecordMode::Rewrite
            }
        );
        let complete = Facts {
            main: File {
                disk: &Disk::Complete,
                ..paid_main.main
            },
            ..paid_main
        };
        assert_eq!(decide(RecordMode::Once, &complete), Action::Replay);
        assert!(
            matches!(
                decide(RecordMode::None, &paid_main),
                Action::Refuse(Refusal::Incomplete { .. })
            ),
            "under none the table's refusal says how to resume"
        );

        // An unreadable file comes first.
        let both = Facts {
            unreadable: Some((main, "oops")),
            ..paid_main
        };
        assert!(
            matches!(
                decide(RecordMode::Once, &both),
                Action::Refuse(Refusal::Unreadable { .. })
            ),
            "{:?}",
            decide(RecordMode::Once, &both)
        );
    }

    /// A complete cassette whose webhook recording is what is not complete: a replay's
    /// refusal names that; a recording resumes as it would.
    #[test]
    fn a_refused_replay_of_a_complete_cassette_names_its_webhook_recording() {
        let (main, side) = (Path::new("c/t.yaml"), Path::new("c/t.rerecording.yaml"));
        let unfinished = Disk::Unfinished { pending: false };
        let problem = "no webhook recording 'w/t.json' (cassette 'w/t.json'): record it with `cmd`";
        let webhook = Facts {
            trial: "otter",
            webhook: Some(problem),
            ..facts(
                Target::Meshy,
                (main, &unfinished),
                (side, &Disk::Absent),
                "cmd",
            )
        };
        let Action::Refuse(refusal) = decide(RecordMode::None, &webhook) else {
            panic!("replay of a cassette whose webhook recording is missing must be refused");
        };
        assert_eq!(
            refusal,
            Refusal::WebhookRecording {
                trial: "otter".into(),
                cassette: main.into(),
                problem: problem.into()
            }
        );
        assert_eq!(
            refusal.to_string(),
            format!("trial 'otter': its cassette 'c/t.yaml' is complete, but {problem}")
        );
        assert_eq!(
            decide(RecordMode::Once, &webhook),
            Action::Resume { path: main.into() }
        );
        let Action::Refuse(refusal) = decide(
            RecordMode::None,
            &Facts {
                webhook: None,
                ..webhook
            },
        ) else {
            panic!("replay of an unfinished recording must be refused");
        };
        assert!(matches!(refusal, Refusal::Incomplete { .. }), "{refusal:?}");
    }

    /// A client whose task list answers `status` with `tasks`.
    fn listing(status: u16, tasks: Value) -> Client {
        use crate::test_support::Canned;
        use crate::transport::HttpRequest;
        let transport = move |request: HttpRequest| {
            assert_eq!(request.method, "GET", "reconciling never creates anything");
            assert!(
                request.url.contains("sort_by=-created_at"),
                "{}",
                request.url
            );
            Ok(Canned::json(status, tasks.clone()).response(false))
        };
        Client::new(
            crate::meshy::ClientConfig {
                api_key: Some("msy_resume_unit_key_123".into()),
                retry: crate::meshy::RetryPolicy {
                    max_attempts: 1,
                    ..Default::default()
                },
                ..Default::default()
            },
            std::sync::Arc::new(transport),
        )
        .unwrap()
    }

    /// A v2 task list answering page N with `pages[N-1]` as `{"data", "has_more"}`.
    fn paged_v2_listing(pages: Vec<(Value, Option<bool>)>) -> (Client, Arc<Mutex<Vec<String>>>) {
        use crate::test_support::Canned;
        use crate::transport::HttpRequest;
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        let transport = move |request: HttpRequest| {
            assert_eq!(request.method, "GET", "reconciling never creates anything");
            log.lock().unwrap().push(request.url.clone());
            let page: usize = request
                .url
                .split("page_num=")
                .nth(1)
                .and_then(|rest| rest.split('&').next())
                .and_then(|n| n.parse().ok())
                .expect("the list names its page");
            let (data, has_more) = pages.get(page - 1).cloned().unwrap_or((json!([]), None));
            let answer = match has_more {
                Some(more) => json!({"data": data, "has_more": more}),
                None => json!({"data": data}),
            };
            Ok(Canned::json(200, answer).response(false))
        };
        let client = Client::new(
            crate::meshy::ClientConfig {
                api_key: Some("msy_resume_unit_key_123".into()),
                ..Default::default()
            },
            Arc::new(transport),
        )
        .unwrap();
        (client, asked)
    }

    #[tokio::test]
    async fn a_short_v2_page_with_has_more_is_not_the_end_of_the_listing() {
        let path = Path::new("cassettes/http/otter.yaml");
        let sent = now_ms() - 40_000;
        let at = std::time::UNIX_EPOCH + Duration::from_millis(sent as u64);
        let intent = Intent {
            method: "POST".into(),
            uri: "https://api.meshy.ai/openapi/v2/text-to-3d".into(),
            body: r#"{"prompt":"otter","should_texture":false}"#.into(),
            recorded_at: crate::clock::rfc3339(at),
            outcome: Some("timed out".into()),
        };
        let task = |id: &str, prompt: &str, created: i64| {
            json!({"id": id, "type": "text-to-3d", "status": "PENDING", "created_at": created,
                   "input": {"prompt": prompt, "should_texture": false}, "output": null})
        };
        // Meshy may answer fewer tasks than asked for and say there are more: the
        // request's own task is on page 2. Stopping at the short page 1 would call it
        // "not created" and pay for it again.
        let (client, asked) = paged_v2_listing(vec![
            (json!([task("other", "beaver", sent + 900)]), Some(true)),
            (
                json!([
                    task("ours", "otter", sent + 500),
                    task("old", "otter", sent - 3_600_000)
                ]),
                Some(false),
            ),
        ]);
        assert_eq!(
            adopted_id(
                reconciled(path, &intent, &client, &BTreeSet::new(), None)
                    .await
                    .unwrap()
            ),
            Some("ours".to_owned())
        );
        let asked = asked.lock().unwrap().clone();
        assert_eq!(asked.len(), 2, "{asked:?}");
        assert!(
            asked
                .iter()
                .all(|url| url.contains("/openapi/v2/tasks?type=text-to-3d")),
            "a v2 intent is reconciled through v2's task list: {asked:?}"
        );
        // Without has_more, a short v2 page proves nothing: the list is read on to an
        // empty page. A task seen twice (the pages shifted) is one task, not two.
        let (client, asked) = paged_v2_listing(vec![
            (json!([task("ours", "otter", sent + 500)]), None),
            (json!([task("ours", "otter", sent + 500)]), None),
        ]);
        assert_eq!(
            adopted_id(
                reconciled(path, &intent, &client, &BTreeSet::new(), None)
                    .await
                    .unwrap()
            ),
            Some("ours".to_owned())
        );
        assert_eq!(
            asked.lock().unwrap().len(),
            3,
            "read on to the empty page 3"
        );
    }

    #[tokio::test]
    async fn an_adopted_task_is_written_through_the_runs_scrub() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("otter.yaml");
        let sent = now_ms() - 40_000;
        let at = std::time::UNIX_EPOCH + Duration::from_millis(sent as u64);
        let cassette = Cassette {
            incomplete: true,
            pending: vec![Intent {
                method: "POST".into(),
                uri: "https://api.meshy.ai/openapi/v2/text-to-3d".into(),
                body: r#"{"prompt":"otter","should_texture":false}"#.into(),
                recorded_at: crate::clock::rfc3339(at),
                outcome: Some("timed out".into()),
            }],
            ..Cassette::default()
        };
        crate::atomic_file::write(&path, cassette.to_yaml().as_bytes()).unwrap();
        // The simulator lists the task with its own address in the output.
        let listed = json!({"id": "ours", "type": "text-to-3d", "status": "SUCCEEDED",
            "created_at": sent + 500, "input": {"prompt": "otter", "should_texture": false},
            "output": {"model_urls": {"glb": "http://127.0.0.1:9/assets/ours/model.glb"}}});
        let (client, _) = paged_v2_listing(vec![(json!([listed]), Some(false))]);
        let scrub = crate::cassette::Scrub::default()
            .host("http://127.0.0.1:9/assets", "https://assets.meshy.ai");
        let lock = tokio::sync::Mutex::new(());
        let listing = Listing {
            lost_at_ms: 0,
            client: &client,
            on_file: &|_: &Path, _: &Intent| OnFile::default(),
            window: LISTING_SETTLES,
            one_at_a_time: &lock,
        };
        let outcomes = reconcile_all(&path, &listing, &scrub, None).await.unwrap();
        assert_eq!(outcomes.len(), 1);
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(
            written.contains("https://assets.meshy.ai/ours/model.glb")
                && !written.contains("127.0.0.1"),
            "{written}"
        );
    }

    /// [`reconcile`] under the real API's window, with `known` on file.
    async fn reconciled(
        path: &Path,
        intent: &Intent,
        client: &Client,
        known: &BTreeSet<String>,
        interrupt: Option<watch::Receiver<bool>>,
    ) -> Result<Reconciled, ResumeError> {
        let lock = tokio::sync::Mutex::new(());
        let known = known.clone();
        let listing = Listing {
            lost_at_ms: 0,
            client,
            on_file: &move |_: &Path, _: &Intent| OnFile {
                known: known.clone(),
                twins_in_flight: 0,
            },
            window: LISTING_SETTLES,
            one_at_a_time: &lock,
        };
        let outcome = reconcile(path, intent, &listing, interrupt).await;
        outcome.map(|(outcome, _held)| outcome)
    }

    fn adopted_id(outcome: Reconciled) -> Option<String> {
        match outcome {
            Reconciled::Adopted { task_id, .. } => Some(task_id),
            Reconciled::NotCreated => None,
        }
    }

    /// An intent sent `ago_ms` before now.
    fn intent(ago_ms: i64) -> (Intent, i64) {
        let sent = now_ms() - ago_ms;
        let at = std::time::UNIX_EPOCH + Duration::from_millis(sent as u64);
        let intent = Intent {
            method: "POST".into(),
            uri: "https://api.meshy.ai/openapi/v2/text-to-3d".into(),
            body: r#"{"mode":"preview","prompt":"otter"}"#.into(),
            recorded_at: crate::clock::rfc3339(at),
            outcome: Some("timed out".into()),
        };
        (intent, sent)
    }

    #[tokio::test]
    async fn reconciling_adopts_one_match_refuses_two_and_proves_none_after_the_listing_settles() {
        let path = Path::new("cassettes/http/otter.yaml");
        let (old, sent) = intent(40_000);
        let task = |id: &str, prompt: &str, created: i64| json!({"id": id, "mode": "preview", "prompt": prompt, "status": "PENDING", "created_at": created});
        let one = listing(
            200,
            json!([
                task("other", "beaver", sent + 900),
                task("new", "otter", sent + 500),
                task("before", "otter", sent - 3_600_000)
            ]),
        );
        assert_eq!(
            adopted_id(
                reconciled(path, &old, &one, &BTreeSet::new(), None)
                    .await
                    .unwrap()
            ),
            Some("new".to_owned())
        );
        let two = listing(
            200,
            json!([task("b", "otter", sent + 20), task("a", "otter", sent + 10)]),
        );
        let known = BTreeSet::from(["a".to_owned()]);
        assert_eq!(
            adopted_id(reconciled(path, &old, &two, &known, None).await.unwrap()),
            Some("b".to_owned()),
            "a task another create call on file answered is never adopted"
        );
        let err = reconciled(path, &old, &two, &BTreeSet::new(), None)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "(timed out), and 2 tasks created since then match it: b, a; nothing was sent"
            ),
            "{err}"
        );
        // A list that is not newest first proves nothing: no "not created" from it.
        let unsorted = listing(
            200,
            json!([
                task("x", "beaver", sent - 3_600_000),
                task("y", "beaver", sent + 10)
            ]),
        );
        let err = reconciled(path, &old, &unsorted, &BTreeSet::new(), None)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("not sorted newest first"), "{err}");
        let none = listing(200, json!([task("other", "beaver", sent + 900)]));
        assert_eq!(
            reconciled(path, &old, &none, &BTreeSet::new(), None)
                .await
                .unwrap(),
            Reconciled::NotCreated
        );
    }

    #[tokio::test]
    async fn a_task_listed_while_a_twin_awaits_its_answer_is_the_twins_once_its_answer_is_on_file()
    {
        let path = Path::new("cassettes/http/otter_1.yaml");
        let (old, sent) = intent(40_000);
        // Another trial sent the same request; its task is listed before its answer is
        // on file. This call made nothing.
        let client = listing(
            200,
            json!([{"id": "twins", "mode": "preview", "prompt": "otter", "status": "PENDING",
                "created_at": sent + 500}]),
        );
        let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&reads);
        let on_file = move |_: &Path, _: &Intent| {
            // The twin's answer reaches its cassette after the third read.
            match counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0..=2 => OnFile {
                    known: BTreeSet::new(),
                    twins_in_flight: 1,
                },
                _ => OnFile {
                    known: BTreeSet::from(["twins".to_owned()]),
                    twins_in_flight: 0,
                },
            }
        };
        let lock = tokio::sync::Mutex::new(());
        let listing = Listing {
            lost_at_ms: 0,
            client: &client,
            on_file: &on_file,
            window: LISTING_SETTLES,
            one_at_a_time: &lock,
        };
        let (outcome, _held) = tokio::time::timeout(
            Duration::from_secs(30),
            reconcile(path, &old, &listing, None),
        )
        .await
        .expect("the twin's answer ends the wait")
        .unwrap();
        assert_eq!(
            outcome,
            Reconciled::NotCreated,
            "the twin's task is not adopted: this call made none"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_twin_whose_answer_never_comes_fails_the_settle_sending_nothing() {
        let path = Path::new("cassettes/http/otter_1.yaml");
        let (old, sent) = intent(40_000);
        let client = listing(
            200,
            json!([{"id": "twins", "mode": "preview", "prompt": "otter", "status": "PENDING",
                "created_at": sent + 500}]),
        );
        let lock = tokio::sync::Mutex::new(());
        let listing = Listing {
            lost_at_ms: 0,
            client: &client,
            on_file: &|_: &Path, _: &Intent| OnFile {
                known: BTreeSet::new(),
                twins_in_flight: 1,
            },
            window: LISTING_SETTLES,
            one_at_a_time: &lock,
        };
        let err = reconcile(path, &old, &listing, None)
            .await
            .expect_err("neither adopted nor sent")
            .to_string();
        assert!(
            err.contains(
                "another trial of this run sent the same request and has had no answer for 150 s"
            ) && err.contains("nothing was sent"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_task_on_file_that_does_not_echo_this_call_does_not_stop_the_listing() {
        let (old, sent) = intent(40_000);
        // Another scenario's task, answered and on file, that sends no prompt.
        let client = listing(
            200,
            json!([{"id": "theirs", "mode": "preview", "status": "SUCCEEDED", "created_at": sent + 500}]),
        );
        let known = BTreeSet::from(["theirs".to_owned()]);
        assert_eq!(
            reconciled(Path::new("c/otter.yaml"), &old, &client, &known, None)
                .await
                .unwrap(),
            Reconciled::NotCreated
        );
    }

    #[test]
    fn twins_in_flight_are_this_runs_unanswered_calls_of_the_same_request_in_other_cassettes() {
        let dir = tempfile::tempdir().unwrap();
        let http = dir.path();
        let (settling, _) = intent(5_000);
        let run_started = now_ms() - 60_000;
        let at = |ms: i64| {
            crate::clock::rfc3339(std::time::UNIX_EPOCH + Duration::from_millis(ms as u64))
        };
        let call = |body: &str, ago_ms: i64, outcome: Option<&str>| Intent {
            body: body.into(),
            recorded_at: at(now_ms() - ago_ms),
            outcome: outcome.map(str::to_owned),
            ..settling.clone()
        };
        let same = r#"{"callback_url":"https://x/webhook/beaver/text3d","mode":"preview","prompt":"otter"}"#;
        for (name, pending) in [
            // Its own cassette: the call being settled, and one of the same request in
            // flight (a Rust trial's second create) are not twins.
            (
                "otter_1.yaml",
                vec![settling.clone(), call(same, 1_000, None)],
            ),
            // In flight: the same request but for its callback URL.
            ("beaver_1.yaml", vec![call(same, 1_000, None)]),
            // Lost too (settled by listing, like this one), another request, an earlier run's.
            (
                "beaver_2.yaml",
                vec![call(same, 1_000, Some("502 Bad Gateway"))],
            ),
            (
                "beaver_3.yaml",
                vec![call(r#"{"mode":"preview","prompt":"beaver"}"#, 1_000, None)],
            ),
            ("beaver_4.yaml", vec![call(same, 120_000, None)]),
        ] {
            let cassette = Cassette {
                pending,
                ..Cassette::default()
            };
            crate::atomic_file::write(&http.join(name), cassette.to_yaml().as_bytes()).unwrap();
        }
        let seen = on_file(http, &http.join("otter_1.yaml"), &settling, run_started);
        assert_eq!(seen.twins_in_flight, 1, "{seen:?}");
        assert!(seen.known.is_empty());
    }

    #[tokio::test]
    async fn a_listing_is_read_without_the_runs_lock_and_decided_under_it() {
        let (old, sent) = intent(40_000);
        let (listed, asked) = tokio::sync::mpsc::unbounded_channel::<()>();
        let task = json!([{"id": "new", "mode": "preview", "prompt": "otter", "status": "PENDING",
            "created_at": sent + 500}]);
        let transport = move |_: crate::transport::HttpRequest| {
            let _ = listed.send(());
            Ok(crate::test_support::Canned::json(200, task.clone()).response(false))
        };
        let client = Client::new(
            crate::meshy::ClientConfig {
                api_key: Some("msy_resume_unit_key_123".into()),
                ..Default::default()
            },
            Arc::new(transport),
        )
        .unwrap();
        let lock = tokio::sync::Mutex::new(());
        let listing = Listing {
            lost_at_ms: 0,
            client: &client,
            on_file: &|_: &Path, _: &Intent| OnFile::default(),
            window: LISTING_SETTLES,
            one_at_a_time: &lock,
        };
        // Another trial decides meanwhile (holds the lock, e.g. through a 429's backoff).
        let other = lock.lock().await;
        let path = Path::new("cassettes/http/otter_1.yaml");
        let settling = reconcile(path, &old, &listing, None);
        tokio::pin!(settling);
        let mut asked = asked;
        tokio::select! {
            _ = &mut settling => panic!("decided while another trial held the lock"),
            got = tokio::time::timeout(Duration::from_secs(30), asked.recv()) => {
                got.expect("the list is read while the lock is held elsewhere");
            }
        }
        for _ in 0..20 {
            tokio::task::yield_now().await;
            assert!(
                futures_util::FutureExt::now_or_never(settling.as_mut()).is_none(),
                "nothing is decided while another trial holds the lock"
            );
        }
        drop(other);
        let (outcome, _held) = tokio::time::timeout(Duration::from_secs(30), settling)
            .await
            .expect("decided once the lock is free")
            .unwrap();
        assert_eq!(adopted_id(outcome), Some("new".to_owned()));
    }

    #[tokio::test]
    async fn an_api_that_cannot_list_leaves_the_ambiguity_spelled_out() {
        let (old, _) = intent(40_000);
        let client = listing(404, json!({"message": "Not Found"}));
        let err = reconciled(
            Path::new("c/otter.yaml"),
            &old,
            &client,
            &BTreeSet::new(),
            None,
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("cassette 'c/otter.yaml': the create call POST https://api.meshy.ai/openapi/v2/text-to-3d sent at "), "{err}");
        assert!(err.contains("may have reached Meshy (timed out), and the API cannot list text3d tasks to find out"), "{err}");
        assert!(
            err.contains("delete the `pending:` entry from the cassette and rerun"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_recent_intent_waits_for_the_listing_to_settle_unless_interrupted() {
        let (recent, _) = intent(0);
        let none = listing(200, json!([]));
        let (stop, interrupt) = watch::channel(false);
        stop.send_replace(true);
        let err = reconciled(
            Path::new("c/otter.yaml"),
            &recent,
            &none,
            &BTreeSet::new(),
            Some(interrupt),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ResumeError::Interrupted { .. }), "{err}");
    }

    /// [`echoes`] for tasks that carry no `type`.
    fn echo(task: &Value, request: &Value) -> Echo {
        echoes(task, request, TaskType::Text3d)
    }

    #[test]
    fn a_v2_task_echoing_another_type_or_value_is_never_adopted_nor_proof_of_none() {
        let v2 = |kind: &str, input: Value| json!({"id": "t", "type": kind, "status": "PENDING", "input": input, "output": null});
        let untextured = json!({"prompt": "otter", "should_texture": false,
                                "callback_url": "https://hooks.example/w"});
        // Same prompt, textured: maybe another scenario's task (v1's preview and refine
        // are one call each under v2, told apart only by what they ask for), maybe this
        // one's as Meshy wrote it: never adopted, and never "not created" either.
        assert_eq!(
            echoes(
                &v2(
                    "text-to-3d",
                    json!({"prompt": "otter", "should_texture": true})
                ),
                &untextured,
                TaskType::Text3d
            ),
            Echo::Silent("should_texture".into())
        );
        assert_eq!(
            echoes(
                &v2(
                    "text-to-3d",
                    json!({"prompt": "otter", "should_texture": false})
                ),
                &untextured,
                TaskType::Text3d
            ),
            Echo::Same,
            "the callback URL is not part of what is compared"
        );
        // Another type under the same prompt (the list's ?type= is unconfirmed).
        assert_eq!(
            echoes(
                &v2(
                    "text-to-image",
                    json!({"prompt": "otter", "should_texture": false})
                ),
                &untextured,
                TaskType::Text3d
            ),
            Echo::Silent("type".into())
        );
        // Another prompt is another request's task, whatever else differs.
        assert_eq!(
            echoes(
                &v2(
                    "text-to-3d",
                    json!({"prompt": "beaver", "should_texture": true})
                ),
                &untextured,
                TaskType::Text3d
            ),
            Echo::Different
        );
        // A number echoed in another form (4 for 4.0) may be this request's own task:
        // it stops the run rather than buy the task again.
        let motion = json!({"prompt": "walk", "duration": 4.0});
        assert_eq!(
            echoes(
                &v2("text-to-motion", json!({"prompt": "walk", "duration": 4})),
                &motion,
                TaskType::TextToMotion
            ),
            Echo::Silent("duration".into())
        );
        // A field the input does not echo rules nothing out.
        assert_eq!(
            echoes(
                &v2("text-to-3d", json!({"prompt": "otter"})),
                &untextured,
                TaskType::Text3d
            ),
            Echo::Same
        );
    }

    #[test]
    fn echoed_identity_fields_must_match_and_others_are_ignored() {
        let request = json!({"mode": "preview", "prompt": "otter", "ai_model": "latest"});
        assert_eq!(
            echo(
                &json!({"prompt": "otter", "mode": "preview", "ai_model": "meshy-6"}),
                &request
            ),
            Echo::Same
        );
        assert_eq!(
            echo(&json!({"prompt": "beaver", "mode": "preview"}), &request),
            Echo::Different
        );
        let refine = json!({"mode": "refine", "preview_task_id": "p-1"});
        assert_eq!(
            echo(
                &json!({"mode": "refine", "preview_task_id": "p-2"}),
                &refine
            ),
            Echo::Different
        );
        assert_eq!(
            echo(
                &json!({"mode": "refine", "prompt": "otter"}),
                &json!({"prompt": "otter"})
            ),
            Echo::Different
        );
    }

    #[test]
    fn a_missing_echo_is_never_a_match_and_v2_is_read_from_input() {
        let request = json!({"input_task_id": "t-1", "topology": "quad"});
        // A v1 remesh task echoes none of its request: it cannot be told apart.
        assert_eq!(
            echo(&json!({"id": "r", "status": "SUCCEEDED"}), &request),
            Echo::Silent("input_task_id".into())
        );
        // v2 echoes the request in `input`.
        let v2 =
            |input: Value| json!({"id": "r", "status": "PENDING", "input": input, "output": null});
        assert_eq!(
            echo(&v2(json!({"input_task_id": "t-1"})), &request),
            Echo::Same
        );
        assert_eq!(
            echo(&v2(json!({"input_task_id": "t-2"})), &request),
            Echo::Different
        );
        assert_eq!(
            echo(&v2(json!({"topology": "quad"})), &request),
            Echo::Silent("input_task_id".into())
        );
        // A URL Meshy may have stored elsewhere confirms when equal, never rules out.
        let image = json!({"image_url": "data:image/png;base64,AAAA"});
        assert_eq!(
            echo(
                &v2(json!({"image_url": "https://assets.meshy.ai/u.png"})),
                &image
            ),
            Echo::Silent("image_url".into())
        );
        assert_eq!(echo(&v2(image.clone()), &image), Echo::Same);
        // Text-to-motion echoes its default `mode`: not another request's task.
        let motion = json!({"prompt": "walk", "duration": 4.0});
        assert_eq!(
            echo(&json!({"prompt": "walk", "mode": "prime"}), &motion),
            Echo::Same
        );
        // v2's one-call text-to-3d: no `mode` sent, none echoed.
        let text = json!({"prompt": "otter", "should_texture": false});
        assert_eq!(echo(&v2(text.clone()), &text), Echo::Same);
        assert_eq!(
            echo(
                &v2(json!({"prompt": "beaver", "should_texture": false})),
                &text
            ),
            Echo::Different
        );
    }
}
