//! `mesh-toolkit cassettes check`: what the recordings on disk say about themselves,
//! for CI and humans. Per cassette and webhook recording: the API version it was
//! recorded against (`X-Api-Version`) and its age (`recorded_at`, else the first
//! response's `date` header, else the first delivery's time); drift (fields in
//! recorded task objects the SDK does not model, per task type and version, and task
//! objects the SDK cannot read); hygiene (incomplete or pending journals, recordings no
//! scenario owns, scenarios without recordings, anything that looks like a secret the
//! scrubber should have removed). Every problem comes with the command that fixes it.
//! A maximum age (`--max-age 90d`, `MESHY_CASSETTE_MAX_AGE`) is off by default, so CI
//! does not turn red by the calendar alone.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::cassette::{Cassette, RecordedAgainst};
use crate::meshy::{Task, TaskType};
use crate::webhooks::Recording;

/// What to check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Default: `cassettes`.
    pub cassettes: PathBuf,
    /// Default: `scenarios`.
    pub scenarios: PathBuf,
    /// Recordings older than this are problems. Default: none.
    pub max_age: Option<Duration>,
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub file: PathBuf,
    pub api_version: String,
    /// Seconds since it was recorded, when known.
    pub age_secs: Option<u64>,
}

/// Something to look at. `problem`s make the check fail; notes do not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: PathBuf,
    pub what: String,
    /// The command (or step) that fixes it.
    pub fix: String,
    pub problem: bool,
}

/// The check's result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub rows: Vec<Row>,
    pub findings: Vec<Finding>,
    /// Unmodelled fields: (task type, API version) → field names.
    pub drift: BTreeMap<(String, String), BTreeSet<String>>,
}

impl Report {
    /// Adds `other`'s rows, findings and drift after this one's.
    fn merge(&mut self, other: Report) {
        self.rows.extend(other.rows);
        self.findings.extend(other.findings);
        for (key, fields) in other.drift {
            self.drift.entry(key).or_default().extend(fields);
        }
    }

    pub fn problems(&self) -> usize {
        self.findings.iter().filter(|f| f.problem).count()
    }

    /// The report as printed.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let width = self
            .rows
            .iter()
            .map(|r| r.file.display().to_string().len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(out, "{:width$}  {:12}  age", "file", "api version");
        for row in &self.rows {
            let age = row.age_secs.map_or("unknown".to_owned(), age_text);
            let _ = writeln!(
                out,
                "{:width$}  {:12}  {age}",
                row.file.display().to_string(),
                row.api_version
            );
        }
        for ((task_type, version), fields) in &self.drift {
            let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
            let _ = writeln!(
                out,
                "drift: {task_type} tasks of {version} carry fields the SDK does not model: {}",
                fields.join(", ")
            );
        }
        for finding in &self.findings {
            let kind = if finding.problem { "problem" } else { "note" };
            let _ = writeln!(
                out,
                "{kind}: {}: {}\n  fix: {}",
                finding.file.display(),
                finding.what,
                finding.fix
            );
        }
        let count =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let notes = self.findings.len() - self.problems();
        let _ = writeln!(
            out,
            "{} checked: {}, {}",
            count(self.rows.len(), "recording", "recordings"),
            count(self.problems(), "problem", "problems"),
            count(notes, "note", "notes")
        );
        out
    }
}

/// `90d`, `12h`, `30m`, `45s` or plain seconds.
pub fn parse_age(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let n: u64 = number.parse().ok()?;
    let secs = match unit {
        'd' => n.checked_mul(86_400)?,
        'h' => n.checked_mul(3600)?,
        'm' => n.checked_mul(60)?,
        's' => n,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

fn age_text(secs: u64) -> String {
    match secs {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3600 => format!("{}h", s / 3600),
        s => format!("{}m", s / 60),
    }
}

/// Runs the check, reading each file once (in parallel).
pub fn check(options: &CheckOptions) -> Report {
    let mut checker = Checker::new(options);
    let cassettes = crate::parallel::map(&list(&options.cassettes.join("http"), "yaml"), |path| {
        let (file, text) = crate::cassette::CassetteFile::read_with_text(path);
        checker.cassette_file(&file, text.as_deref())
    });
    for checked in cassettes.into_iter().flatten() {
        checker.add_cassette(checked);
    }
    // `unrouted/` too: the standalone receiver's dashboard deliveries can leak secrets.
    // In path order, as the report adds them.
    let mut files = crate::webhooks::recording_files(&options.cassettes.join("webhooks"));
    files.sort();
    let recordings = crate::parallel::map(&files, |path| {
        let bytes = std::fs::read(path).unwrap_or_default();
        Checker::recording(
            path,
            &bytes,
            Recording::parse(path, &bytes, "").as_ref().ok(),
        )
    });
    for checked in recordings {
        checker.add_recording(checked);
    }
    checker.finish()
}

/// The check fed with files someone else read: the HTML report reads each cassette and
/// recording once for itself and for the check. Each file is checked on its own
/// ([`Checker::cassette`], [`Checker::recording`]: `&self`, so in parallel), then added
/// in file order (every cassette before any recording: a recording's owner is the
/// cassette that created its task); [`Checker::finish`] adds what only the whole suite
/// tells (scenarios without a recording).
pub struct Checker<'a> {
    options: &'a CheckOptions,
    /// The directories, as flags of the fix commands, when they are not the defaults.
    dirs: String,
    scenarios: BTreeSet<String>,
    report: Report,
    /// Task id → who created it.
    owned_tasks: BTreeMap<String, Owner>,
    recorded: BTreeSet<String>,
    /// What every cassette was recorded against, if they agree: computed from the final
    /// owners once the first recording is added (every cassette is added by then).
    suite_against: Option<Option<RecordedAgainst>>,
}

impl CassetteChecked {
    /// The cassette checked.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl<'a> Checker<'a> {
    pub fn new(options: &'a CheckOptions) -> Checker<'a> {
        let mut dirs = String::new();
        if options.cassettes != Path::new("cassettes") {
            dirs.push_str(&format!(" --cassettes={}", options.cassettes.display()));
        }
        if options.scenarios != Path::new("scenarios") {
            dirs.push_str(&format!(" --scenarios={}", options.scenarios.display()));
        }
        let scenarios = list(&options.scenarios, "toml")
            .iter()
            .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .collect();
        Checker {
            options,
            dirs,
            scenarios,
            report: Report::default(),
            owned_tasks: BTreeMap::new(),
            recorded: BTreeSet::new(),
            suite_against: None,
        }
    }

    /// What the cassette `file` says about itself, given its `text` as
    /// `CassetteFile::read_with_text` read it (`None` when it is absent or cannot be
    /// read); `None` for an absent file. The one way both `check` and the report check
    /// a cassette file.
    pub fn cassette_file(
        &self,
        file: &crate::cassette::CassetteFile,
        text: Option<&str>,
    ) -> Option<CassetteChecked> {
        let path = file.path();
        match (text, file.cassette(), file.format_error()) {
            (Some(text), Some(cassette), _) => Some(self.cassette(path, text, Ok(cassette))),
            (Some(text), None, Some(error)) => Some(self.cassette(path, text, Err(error))),
            // Unreadable (a directory, no permission): as a file holding nothing.
            (None, None, None) if file.problem().is_some() => {
                let nothing = Cassette::parse("");
                Some(self.cassette(path, "", nothing.as_ref()))
            }
            _ => None,
        }
    }

    /// What the cassette at `path` says about itself: its `text`, and what parsing
    /// it gave.
    pub fn cassette(
        &self,
        path: &Path,
        text: &str,
        parsed: Result<&Cassette, &crate::cassette::FormatError>,
    ) -> CassetteChecked {
        check_cassette(
            path,
            text,
            parsed,
            &self.scenarios,
            self.options,
            &self.dirs,
        )
    }

    pub fn add_cassette(&mut self, checked: CassetteChecked) {
        self.report.merge(checked.report);
        if let Some(scenario) = checked.scenario {
            self.recorded.insert(scenario);
        }
        self.owned_tasks.extend(checked.owned);
    }

    /// What every cassette was recorded against, if they agree.
    fn suite_against(&mut self) -> Option<RecordedAgainst> {
        let owned = &self.owned_tasks;
        self.suite_against
            .get_or_insert_with(|| {
                let targets: BTreeSet<&Option<RecordedAgainst>> =
                    owned.values().map(|(_, a, _)| a).collect();
                match targets.len() {
                    1 => targets.into_iter().next().cloned().flatten(),
                    _ => None,
                }
            })
            .clone()
    }

    /// What the webhook recording at `path` says about itself, from its `bytes` and
    /// what parsing them gave (`None`: they do not parse). Needs no other file, so it
    /// can run before the cassettes are added, and what it keeps is small.
    pub fn recording(path: &Path, bytes: &[u8], parsed: Option<&Recording>) -> RecordingChecked {
        let mut early = Report::default();
        let text = String::from_utf8_lossy(bytes);
        // A leaked webhook secret is one finding (with its scrub), not also "a key".
        let unleaked = parsed.map(|r| r.leak_scrub().text(&text));
        secrets(path, unleaked.as_deref().unwrap_or(&text), &mut early);
        leaked_headers(path, &text, parsed, &mut early);
        // The standalone receiver's deliveries to `/webhook`: a row, and checked for
        // secrets only (no scenario owns them).
        if is_unrouted(path) {
            early.rows.push(Row {
                file: path.to_owned(),
                api_version: parsed
                    .and_then(|r| r.headers.get("x-api-version").cloned())
                    .unwrap_or_else(|| "unknown".into()),
                age_secs: parsed
                    .and_then(|r| r.deliveries.first())
                    .and_then(|d| crate::clock::parse_rfc3339_ms(&d.received_at))
                    .and_then(ms_ago),
            });
            return RecordingChecked {
                path: path.to_owned(),
                early,
                facts: None,
                unrouted: true,
            };
        }
        let facts = parsed.map(|recording| {
            // The version is the creating cassette's, known once they are all added.
            drift(path, &recording.payload, VERSION_LATER, &mut early);
            RecordingFacts {
                task_id: recording.task_id.clone(),
                version: recording.headers.get("x-api-version").cloned(),
                age: recording
                    .deliveries
                    .first()
                    .and_then(|d| crate::clock::parse_rfc3339_ms(&d.received_at))
                    .and_then(ms_ago),
                scenario: recording.scenario.clone().unwrap_or_default(),
                incomplete: recording.incomplete,
            }
        });
        RecordingChecked {
            path: path.to_owned(),
            early,
            facts,
            unrouted: false,
        }
    }

    /// Adds what [`Checker::recording`] found and what the recording's owner tells
    /// (its version, target, whether a cassette created its task): call it once every
    /// cassette is added.
    pub fn add_recording(&mut self, checked: RecordingChecked) {
        let suite_against = self.suite_against();
        let report = finish_recording(
            checked,
            &self.owned_tasks,
            suite_against.as_ref(),
            self.options,
            &self.dirs,
        );
        self.report.merge(report);
    }

    /// The report, with the scenarios that have no recording.
    pub fn finish(mut self) -> Report {
        let suite_against = self.suite_against();
        for scenario in &self.scenarios {
            if self.recorded.contains(scenario) {
                continue;
            }
            let file = self.options.scenarios.join(format!("{scenario}.toml"));
            // A simulator-only scenario records only against the simulator.
            let sim_only =
                crate::scenario::Scenario::load(&file).is_ok_and(|s| s.simulator_only().is_some());
            let against = (sim_only
                || suite_against
                    .as_ref()
                    .is_some_and(RecordedAgainst::is_simulator))
            .then_some(&RecordedAgainst::Simulator);
            self.report.findings.push(Finding {
                file,
                what: "has no recording".into(),
                fix: format!(
                    "record it: {}",
                    command(scenario, false, against, &self.dirs)
                ),
                problem: true,
            });
        }
        self.report
    }
}

/// Who created a task: the API version, target and scenario of its cassette.
type Owner = (String, Option<RecordedAgainst>, String);

/// What one cassette says about itself ([`Checker::cassette`]).
#[derive(Default)]
pub struct CassetteChecked {
    path: PathBuf,
    report: Report,
    /// The scenario it records, when it parses.
    scenario: Option<String>,
    /// The tasks its create calls made, with their owner.
    owned: Vec<(String, Owner)>,
}

fn check_cassette(
    path: &Path,
    text: &str,
    parsed: Result<&Cassette, &crate::cassette::FormatError>,
    scenarios: &BTreeSet<String>,
    options: &CheckOptions,
    dirs: &str,
) -> CassetteChecked {
    let mut checked = CassetteChecked {
        path: path.to_owned(),
        ..CassetteChecked::default()
    };
    let name = path
        .file_stem()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    secrets(path, text, &mut checked.report);
    let cassette = match parsed {
        Ok(cassette) => cassette,
        Err(e) => {
            checked.report.findings.push(Finding {
                file: path.to_owned(),
                what: format!("not a readable cassette (line {}: {})", e.line, e.message),
                fix: format!("re-record it: {}", command(&name, false, None, dirs)),
                problem: true,
            });
            return checked;
        }
    };
    let scenario = name
        .strip_suffix(".rerecording")
        .unwrap_or(&name)
        .to_owned();
    checked.scenario = Some(scenario.clone());
    let version = cassette
        .interactions
        .iter()
        .find_map(|i| i.response.header("x-api-version").map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    for task in crate::cassette::created_tasks(cassette, None) {
        let owner = (
            version.clone(),
            cassette.recorded_against.clone(),
            scenario.clone(),
        );
        checked.owned.push((task, owner));
    }
    let age = cassette_age(cassette);
    let against = cassette.recorded_against.as_ref();
    aged(
        path,
        &scenario,
        (age, options.max_age),
        against,
        dirs,
        &mut checked.report,
    );
    checked.report.rows.push(Row {
        file: path.to_owned(),
        api_version: version.clone(),
        age_secs: age,
    });
    if cassette.incomplete || !cassette.pending.is_empty() {
        checked.report.findings.push(Finding {
                file: path.to_owned(),
                what: if cassette.pending.is_empty() {
                    "incomplete: its recording was interrupted or its trial failed".into()
                } else {
                    "incomplete, with create calls that may have reached Meshy and have no answer on file".into()
                },
                fix: format!(
                    "resume it (nothing is paid twice): {}",
                    command(&scenario, true, cassette.recorded_against.as_ref(), dirs)
                ),
                problem: true,
            });
    }
    if !scenarios.contains(&scenario) {
        checked.report.findings.push(Finding {
            file: path.to_owned(),
            what: format!(
                "no scenario file '{}' owns it (expected for a trial written in Rust)",
                options.scenarios.join(format!("{scenario}.toml")).display()
            ),
            fix: "delete the cassette if its scenario is gone".into(),
            problem: false,
        });
    }
    for interaction in &cassette.interactions {
        for object in task_objects(interaction) {
            drift(path, &object, &version, &mut checked.report);
        }
    }
    checked
}

/// The task objects a read of a task answered (`GET` of a task, or its event stream,
/// one per frame); none for any other interaction.
pub(crate) fn task_objects(interaction: &crate::cassette::Interaction) -> Vec<Value> {
    let body = interaction.response.body.as_bytes();
    let uri = &interaction.request.uri;
    let task_type = TaskType::ALL
        .into_iter()
        .find(|t| crate::transport::url_path(uri).contains(t.collection()));
    let is_task_read = interaction.request.method == "GET"
        && interaction.response.status < 400
        && task_type.is_some()
        && !crate::transport::url_path(uri).ends_with(task_type.map_or("", |t| t.collection()));
    if !is_task_read {
        return Vec::new();
    }
    if uri.ends_with("/stream") {
        crate::meshy::sse_data(&String::from_utf8_lossy(body))
            .iter()
            .filter_map(|d| serde_json::from_str(d).ok())
            .collect()
    } else {
        serde_json::from_slice(body).ok().into_iter().collect()
    }
}

/// The task id in a webhook recording's file name, `<species>_<task type>_<task id>.json`
/// (its task id names its scenario).
pub(crate) fn task_of_recording(path: &Path) -> &str {
    path.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.rsplit('_').next())
        .unwrap_or_default()
}

/// The version a recording's drift is filed under until its owner is known.
const VERSION_LATER: &str = "";

/// What one webhook recording says about itself ([`Checker::recording`]).
pub struct RecordingChecked {
    path: PathBuf,
    /// Its secrets and drift (drift filed under [`VERSION_LATER`]).
    early: Report,
    /// `None` when it does not parse.
    facts: Option<RecordingFacts>,
    /// Under `webhooks/unrouted/`: only its secret findings count.
    unrouted: bool,
}

impl RecordingChecked {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// What the rest of the check needs of a parsed recording.
struct RecordingFacts {
    task_id: String,
    /// Its `x-api-version` header, when it has one.
    version: Option<String>,
    /// Seconds since its first delivery.
    age: Option<u64>,
    scenario: String,
    incomplete: bool,
}

/// A recording's findings, knowing which cassettes created which tasks.
fn finish_recording(
    checked: RecordingChecked,
    owned_tasks: &BTreeMap<String, Owner>,
    suite_against: Option<&RecordedAgainst>,
    options: &CheckOptions,
    dirs: &str,
) -> Report {
    let RecordingChecked {
        path,
        early,
        facts,
        unrouted,
    } = checked;
    let path = path.as_path();
    let mut report = Report::default();
    report.findings.extend(early.findings);
    if unrouted {
        report.rows.extend(early.rows);
        return report;
    }
    let Some(facts) = facts else {
        let task_id = task_of_recording(path);
        let fix = match owned_tasks.get(task_id) {
            Some((_, against, scenario)) => format!(
                "delete it and re-record its scenario: {}",
                command(scenario, false, against.as_ref(), dirs)
            ),
            _ => format!("delete '{}' (no cassette holds its task)", path.display()),
        };
        report.findings.push(Finding {
            file: path.to_owned(),
            what: "not a readable webhook recording".into(),
            fix,
            problem: true,
        });
        return report;
    };
    // Deliveries carry no version header: the creating cassette's version.
    let owner = owned_tasks.get(&facts.task_id);
    let version = facts
        .version
        .or_else(|| owner.map(|(v, _, _)| v.clone()))
        .unwrap_or_else(|| "unknown".into());
    for ((kind, _), fields) in early.drift {
        report
            .drift
            .entry((kind, version.clone()))
            .or_default()
            .extend(fields);
    }
    // Without its cassette (deleted, say): what the rest of the suite was recorded against.
    let against = owner.map_or(suite_against, |(_, a, _)| a.as_ref());
    report.rows.push(Row {
        file: path.to_owned(),
        api_version: version,
        age_secs: facts.age,
    });
    let scenario = facts.scenario;
    if !scenario.is_empty() {
        aged(
            path,
            &scenario,
            (facts.age, options.max_age),
            against,
            dirs,
            &mut report,
        );
    }
    if facts.incomplete && !scenario.is_empty() {
        report.findings.push(Finding {
            file: path.to_owned(),
            what: "incomplete: its trial did not pass".into(),
            fix: format!("resume it: {}", command(&scenario, true, against, dirs)),
            problem: true,
        });
    }
    if !owned_tasks.contains_key(&facts.task_id) {
        report.findings.push(Finding {
            file: path.to_owned(),
            what: format!(
                "no cassette holds the create call of task {}",
                facts.task_id
            ),
            fix: format!(
                "delete '{}' (its scenario was recorded anew or removed)",
                path.display()
            ),
            problem: true,
        });
    }
    report
}

/// The files in `dir` ending in `.extension`, sorted.
pub(crate) fn list(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == extension))
        .collect();
    paths.sort();
    paths
}

fn ms_ago(ms: i64) -> Option<u64> {
    crate::clock::ago(ms).map(|d| d.as_secs())
}

/// `recorded_at`, else the first response's `date` header.
fn cassette_age(cassette: &Cassette) -> Option<u64> {
    if let Some(at) = cassette.recorded_at.as_deref() {
        return crate::clock::parse_rfc3339_ms(at).and_then(ms_ago);
    }
    cassette
        .interactions
        .iter()
        .find_map(|i| i.response.header("date"))
        .and_then(crate::clock::parse_http_date_ms)
        .and_then(ms_ago)
}

fn aged(
    path: &Path,
    scenario: &str,
    (age, max): (Option<u64>, Option<Duration>),
    against: Option<&RecordedAgainst>,
    dirs: &str,
    report: &mut Report,
) {
    let (Some(age), Some(max)) = (age, max) else {
        return;
    };
    if age > max.as_secs() {
        report.findings.push(Finding {
            file: path.to_owned(),
            what: format!(
                "recorded {} ago, older than the maximum age of {}",
                age_text(age),
                age_text(max.as_secs())
            ),
            fix: format!("re-record it: {}", command(scenario, false, against, dirs)),
            problem: true,
        });
    }
}

/// Unmodelled fields of a task object, and task objects the SDK cannot read.
fn drift(path: &Path, object: &Value, version: &str, report: &mut Report) {
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("text-to-3d (untyped)")
        .to_owned();
    // Error answers and stream error frames are not task objects.
    if object.get("id").is_none() {
        return;
    }
    match serde_json::from_value::<Task>(object.clone()) {
        Ok(task) => {
            if !task.extra.is_empty() {
                report
                    .drift
                    .entry((kind, version.to_owned()))
                    .or_default()
                    .extend(task.extra.keys().cloned());
            }
        }
        Err(e) => report.findings.push(Finding {
            file: path.to_owned(),
            what: format!(
                "a recorded task object the SDK cannot read: {}",
                crate::secrets::redact_keys(&e.to_string())
            ),
            fix: "update the SDK's task model (src/meshy/task.rs), or re-record it".into(),
            problem: true,
        }),
    }
}

/// Anything that looks like a credential the scrubber should have removed. Signed CDN
/// asset URLs (`Signature=`) are expected; the test-mode key is public.
fn secrets(path: &Path, text: &str, report: &mut Report) {
    let mut found = Vec::new();
    // Base64 holds no `:`, `"` or `_`: a `!!binary` block cannot spell a header or a key.
    let text = &*without_binary_blocks(text);
    let lower = text.to_ascii_lowercase();
    for (pattern, name) in [
        ("authorization:", "authorization"),
        ("\"authorization\"", "authorization"),
        ("\\\"authorization\\\"", "authorization"),
        ("cookie:", "cookie"),
        ("\"cookie\"", "cookie"),
        ("\\\"cookie\\\"", "cookie"),
    ] {
        let header = format!("a '{name}' header");
        if lower.contains(pattern) && !found.contains(&header) {
            found.push(header);
        }
    }
    for (i, _) in text.match_indices("msy_") {
        let key: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if key.len() >= 12 && key != crate::meshy::TEST_MODE_API_KEY {
            found.push("a Meshy API key (msy_…)".into());
            break;
        }
    }
    for (i, _) in text.match_indices("token=") {
        // Only webhook URLs carry this toolkit's token; a user's input URL may have
        // its own `token=` (a storage link), which is not ours to judge.
        let before = &text[..i];
        let url_start = before
            .rfind(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            .map_or(0, |p| p + 1);
        if !before[url_start..].contains("/webhook") {
            continue;
        }
        let value: String = text[i + 6..]
            .chars()
            .take_while(|c| !matches!(c, '&' | '"' | '\'' | ' ' | '\n' | '\\'))
            .collect();
        if !value.is_empty() && value != "<WEBHOOK_TOKEN>" && value != "…" && value != "replay" {
            found.push("a token= query value".into());
            break;
        }
    }
    found.dedup();
    if !found.is_empty() {
        report.findings.push(Finding {
            file: path.to_owned(),
            what: format!("looks like it holds a secret: {}", found.join(", ")),
            fix: "remove the value by hand (keep the file: it may have been paid for), then rotate the secret".into(),
            problem: true,
        });
    }
}

/// A webhook recording that holds the value of a secret-bearing header
/// (`x-meshy-api-webhook-secret-key`, …) rather than its placeholder: today's receiver
/// never writes one, older ones did. The fix mends the file in place — never "delete and
/// re-record", which would throw away a recording that may have been paid for.
fn leaked_headers(path: &Path, text: &str, parsed: Option<&Recording>, report: &mut Report) {
    let scrub = scrub_command(path);
    let rotate = "then rotate the webhook secret in the Meshy dashboard (API settings → Webhooks): whoever \
                  read the file has it";
    let (what, fix) = match parsed {
        Some(recording) => {
            let leaked = recording.leaked_headers();
            if leaked.is_empty() {
                return;
            }
            let names: Vec<String> = leaked.iter().map(|n| format!("'{n}'")).collect();
            (
                format!(
                    "holds the value of the secret header {}: whoever can read this file can forge webhook \
                     deliveries to your endpoint",
                    names.join(", ")
                ),
                format!(
                    "`{scrub}` replaces it with a placeholder in place (the deliveries are kept), {rotate}"
                ),
            )
        }
        None if crate::webhooks::text_may_leak(text) => (
            "seems to hold the value of a secret header (the file does not parse, so it cannot be mended \
             by `cargo run -- cassettes scrub`)"
                .to_owned(),
            format!(
                "replace the header's value by hand with {}, {rotate}",
                crate::secrets::WEBHOOK_SECRET_PLACEHOLDER
            ),
        ),
        None => return,
    };
    report.findings.push(Finding {
        file: path.to_owned(),
        what,
        fix,
        problem: true,
    });
}

/// Whether a webhook recording is one of `webhooks/unrouted/`.
fn is_unrouted(path: &Path) -> bool {
    path.parent()
        .and_then(Path::file_name)
        .is_some_and(|name| name == "unrouted")
}

/// The scrub command, as this project's commands are printed (`cargo run -- …`), with
/// `--cassettes` when the recording at `path` is not under `cassettes/webhooks/`.
fn scrub_command(path: &Path) -> String {
    let webhooks = match path.parent() {
        Some(dir) if is_unrouted(path) => dir.parent(),
        dir => dir,
    };
    match webhooks.and_then(Path::parent) {
        Some(cassettes) if cassettes == Path::new("cassettes") => {
            "cargo run -- cassettes scrub".to_owned()
        }
        Some(cassettes) if cassettes.as_os_str().is_empty() => {
            "cargo run -- cassettes scrub --cassettes=.".to_owned()
        }
        Some(cassettes) => format!(
            "cargo run -- cassettes scrub --cassettes={}",
            shell_word(&cassettes.display().to_string())
        ),
        None => "cargo run -- cassettes scrub".to_owned(),
    }
}

/// `word` as a shell reads it back: unchanged when it holds only safe characters, else
/// single-quoted.
fn shell_word(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_./:@%+=,-".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// `text` without the content lines of its YAML `!!binary |` blocks (the lines more
/// indented than the block's key that hold only base64); any other line ends the block
/// and is scanned.
fn without_binary_blocks(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("!!binary |") {
        return std::borrow::Cow::Borrowed(text);
    }
    let indent = |line: &str| line.len() - line.trim_start_matches(' ').len();
    let mut kept = String::with_capacity(text.len() / 4);
    // The indentation of the block whose content lines are being skipped.
    let mut block: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        if let Some(key) = block {
            let content = line.trim();
            let base64 = content
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
            if content.is_empty() || (indent(line) > key && base64) {
                continue;
            }
            block = None;
        }
        kept.push_str(line);
        if line.trim_end().ends_with("!!binary |") {
            block = Some(indent(line));
        }
    }
    std::borrow::Cow::Owned(kept)
}

/// The command that records a scenario again, right for how it was recorded.
fn command(
    scenario: &str,
    unfinished: bool,
    against: Option<&RecordedAgainst>,
    dirs: &str,
) -> String {
    let mode = if unfinished { "once" } else { "rewrite" };
    let target = if against.is_some_and(RecordedAgainst::is_simulator) {
        " --target=sim"
    } else {
        ""
    };
    format!(
        "`cargo test --test scenarios -- {scenario} --exact --record-webhooks --record-mode={mode}{target}{dirs}`"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_scrub_command_names_the_cassettes_dir_as_a_shell_reads_it() {
        let command = |path: &str| super::scrub_command(std::path::Path::new(path));
        assert_eq!(
            command("cassettes/webhooks/a_b_c.json"),
            "cargo run -- cassettes scrub"
        );
        assert_eq!(
            command("cassettes/webhooks/unrouted/c.json"),
            "cargo run -- cassettes scrub"
        );
        assert_eq!(
            command("/srv/rec/webhooks/unrouted/c.json"),
            "cargo run -- cassettes scrub --cassettes=/srv/rec"
        );
        assert_eq!(
            command("my rec$/webhooks/a_b_c.json"),
            "cargo run -- cassettes scrub --cassettes='my rec$'"
        );
        assert_eq!(
            command("it's/webhooks/a_b_c.json"),
            "cargo run -- cassettes scrub --cassettes='it'\\''s'"
        );
        assert_eq!(
            command("webhooks/a_b_c.json"),
            "cargo run -- cassettes scrub --cassettes=."
        );
    }

    #[test]
    fn binary_blocks_are_left_out_of_the_secret_scan_and_nothing_else() {
        let text = "- response:\n    body:\n      string: !!binary |\n        Z2xURgIA\n        bXN5X2Fi\n\n    headers:\n      authorization:\n      - msy_leakedrealkey0123456789\n";
        let kept = super::without_binary_blocks(text);
        assert_eq!(
            kept,
            "- response:\n    body:\n      string: !!binary |\n    headers:\n      authorization:\n      - msy_leakedrealkey0123456789\n"
        );
        let mut report = super::Report::default();
        super::secrets(std::path::Path::new("c.yaml"), text, &mut report);
        assert_eq!(report.findings.len(), 1, "{report:?}");
        assert!(
            report.findings[0].what.contains("authorization")
                && report.findings[0].what.contains("msy_"),
            "{report:?}"
        );
        assert_eq!(super::without_binary_blocks("plain: 1\n"), "plain: 1\n");
        // A line in a block that is not base64 is scanned: it cannot hide a secret.
        let hidden = "      string: !!binary |\n        Z2xURgIA\n        Authorization: Bearer msy_leakedrealkey0123456789\n";
        let mut report = super::Report::default();
        super::secrets(std::path::Path::new("c.yaml"), hidden, &mut report);
        assert_eq!(report.findings.len(), 1, "{report:?}");
        assert!(report.findings[0].what.contains("msy_"), "{report:?}");
    }
}
