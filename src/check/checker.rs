//! The [`Checker`]: the check fed file by file, in parallel, then added in order (every
//! cassette before any recording), and [`check`], which reads the files for it. What one
//! file says is in `cassettes` and `recordings`; what only the whole suite tells (owners,
//! scenarios without a recording) and the fix commands are here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::cassettes::{CassetteChecked, check_cassette};
use super::drift::drift;
use super::leaks::{leaked_headers, secrets};
use super::recordings::{
    RecordingChecked, RecordingFacts, VERSION_LATER, finish_recording, is_unrouted,
};
use super::report::{CheckOptions, Finding, Report, Row, age_text};
use crate::cassette::{Cassette, RecordedAgainst};
use crate::command::Commands;
use crate::webhooks::Recording;

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
        checker.recording(
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
    /// The fix commands: the suite's test target, and the directories when they are
    /// not the defaults.
    commands: Commands,
    scenarios: super::cassettes::Scenarios,
    /// The scenario, path and text of each cassette that cannot be read, and of each set
    /// aside as unreadable (`<file>.unreadable`).
    unreadable: Vec<(String, PathBuf, String)>,
    report: Report,
    /// Task id → who created it.
    owned_tasks: BTreeMap<String, Owner>,
    recorded: BTreeSet<String>,
    /// What every cassette was recorded against, if they agree: computed from the final
    /// owners once the first recording is added (every cassette is added by then).
    suite_against: Option<Option<RecordedAgainst>>,
}

impl<'a> Checker<'a> {
    pub fn new(options: &'a CheckOptions) -> Checker<'a> {
        // The scenario files as the harness finds them (no hidden file, no directory).
        let loaded: Vec<_> = crate::scenario::discover(&options.scenarios)
            .unwrap_or_default()
            .iter()
            .map(|path| {
                (
                    crate::scenario::name_of(path),
                    crate::scenario::Scenario::load(path),
                )
            })
            .collect();
        Checker::with_scenarios(options, loaded)
    }

    /// A checker of the scenario files in `options.scenarios`, already `loaded` (name,
    /// and what loading it gave).
    pub fn with_scenarios(
        options: &'a CheckOptions,
        loaded: Vec<(
            String,
            Result<crate::scenario::Scenario, crate::scenario::ScenarioError>,
        )>,
    ) -> Checker<'a> {
        let commands = Commands::new(
            options.invocation.clone(),
            &options.scenarios,
            &options.cassettes,
        );
        let valid = loaded
            .iter()
            .filter_map(|(name, s)| s.as_ref().ok().map(|s| (name.clone(), s.clone())))
            .collect();
        let mut inputs = crate::scenario::check_inputs(&valid);
        let scenarios = loaded
            .into_iter()
            .map(|(name, loaded)| {
                let loaded = match inputs.remove(&name) {
                    Some(error) => Err(error),
                    None => loaded,
                };
                (name, loaded)
            })
            .collect();
        Checker {
            options,
            commands,
            scenarios,
            unreadable: set_aside(&options.cassettes.join("http")),
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

    /// What the cassette at `path` says about itself: its `text` as the check scans it
    /// (without its `!!binary` blocks' content: [`crate::check::scanned_text`]; the whole
    /// text gives the same findings, only slower), and what parsing it gave.
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
            &self.commands,
        )
    }

    pub fn add_cassette(&mut self, checked: CassetteChecked) {
        self.report.merge(checked.report);
        if let Some(scenario) = checked.scenario {
            self.recorded.insert(scenario);
        }
        self.owned_tasks.extend(checked.owned);
        if let Some((scenario, text)) = checked.unreadable {
            // It has a recording, if not a readable one: that is its finding.
            self.recorded.insert(scenario.clone());
            self.unreadable.push((scenario, checked.path, text));
        }
    }

    /// What every cassette was recorded against, if they agree.
    fn suite_against(&mut self) -> Option<RecordedAgainst> {
        let owned = &self.owned_tasks;
        self.suite_against
            .get_or_insert_with(|| {
                let targets: BTreeSet<&Option<RecordedAgainst>> =
                    owned.values().map(|(_, a, _, _)| a).collect();
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
    pub fn recording(
        &self,
        path: &Path,
        bytes: &[u8],
        parsed: Option<&Recording>,
    ) -> RecordingChecked {
        let mut early = Report::default();
        let text = String::from_utf8_lossy(bytes);
        // A leaked webhook secret is one finding (with its scrub), not also "a key".
        let unleaked = parsed
            .map(Recording::leak_scrub)
            .filter(|scrub| !scrub.secrets.is_empty())
            .map(|scrub| scrub.text(&text));
        secrets(path, unleaked.as_deref().unwrap_or(&text), &mut early);
        leaked_headers(path, &text, parsed, &self.commands, &mut early);
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
                received_ms: recording
                    .deliveries
                    .first()
                    .and_then(|d| crate::clock::parse_rfc3339_ms(&d.received_at)),
                scenario: recording.scenario.clone().unwrap_or_default(),
                incomplete: recording.incomplete,
                payload_generation: super::recordings::payload_generation(&recording.payload),
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
        // A task no readable cassette holds may be one an unreadable cassette holds.
        let task_id = super::recordings::task_of_recording(&checked.path);
        let in_unreadable = self
            .unreadable
            .iter()
            .find(|(_, _, text)| !task_id.is_empty() && text.contains(task_id))
            .map(|(scenario, path, _)| (scenario.as_str(), path.clone()));
        let report = finish_recording(
            checked,
            in_unreadable,
            &self.owned_tasks,
            suite_against.as_ref(),
            self.options,
            &self.commands,
        );
        self.report.merge(report);
    }

    /// The report, with the scenarios that have no recording.
    pub fn finish(mut self) -> Report {
        let suite_against = self.suite_against();
        for (scenario, loaded) in &self.scenarios {
            let file = self.options.scenarios.join(format!("{scenario}.toml"));
            // An invalid file's trial fails whatever is recorded: that is its finding.
            if let Err(error) = loaded {
                let at = error
                    .line
                    .map(|l| format!("line {l}: "))
                    .unwrap_or_default();
                self.report.findings.push(Finding {
                    file,
                    what: format!("is not a valid scenario file: {at}{}", error.message),
                    fix:
                        "fix the file (docs/scenarios.md has every key); its trial fails until then"
                            .into(),
                    problem: true,
                });
                continue;
            }
            if self.recorded.contains(scenario) {
                continue;
            }
            // A simulator-only scenario records only against the simulator.
            let sim_only = loaded.as_ref().is_ok_and(|s| s.simulator_only().is_some());
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
                    command(scenario, Fix::Record, against, &self.commands)
                ),
                problem: true,
            });
        }
        self.report
    }
}

/// The cassettes of `dir` set aside as unreadable (`<name>.yaml.unreadable[-N]`): their
/// scenario, path and text. Rare files, read whole: the ids of the tasks they hold are in
/// there, and those tasks' webhook recordings are kept with them.
pub(crate) fn set_aside(dir: &Path) -> Vec<(String, PathBuf, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(String, PathBuf, String)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let (stem, _) = name.split_once(".yaml.unreadable")?;
            if !crate::command::is_set_aside(&name) {
                return None;
            }
            let scenario = stem.strip_suffix(".rerecording").unwrap_or(stem).to_owned();
            let bytes = std::fs::read(entry.path()).ok()?;
            Some((
                scenario,
                entry.path(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ))
        })
        .collect();
    found.sort();
    found
}

/// Who created a task: the API version, target and scenario of its cassette.
/// (The fourth: the Meshy API generation its cassette speaks.)
pub(super) type Owner = (
    String,
    Option<RecordedAgainst>,
    String,
    Option<crate::meshy::ApiGeneration>,
);

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

pub(super) fn ms_ago(ms: i64) -> Option<u64> {
    crate::clock::ago(ms).map(|d| d.as_secs())
}

pub(super) fn aged(
    path: &Path,
    scenario: &str,
    (age, max): (Option<u64>, Option<Duration>),
    against: Option<&RecordedAgainst>,
    commands: &Commands,
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
            fix: format!(
                "re-record it: {}",
                command(scenario, Fix::Again, against, commands)
            ),
            problem: true,
        });
    }
}

/// What a check's fix records, which picks its record mode and the cost it states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fix {
    /// An unfinished recording: `once` resumes its task, paying nothing twice.
    Resume,
    /// No recording, or one set aside: `once` records it (its inputs replay).
    Record,
    /// A complete recording made again: `rewrite`, its inputs recorded again first.
    Again,
    /// A complete cassette whose task's deliveries are gone (its webhook recording set
    /// aside): `once` resumes the task, and since Meshy sends no webhook again, its
    /// result is taken from the API's task object (`--accept-api-payload`).
    Deliveries,
}

/// The command that records a scenario, in backticks: in the mode `fix` needs, aimed
/// where it was recorded (the real API when the file does not say).
pub(super) fn command(
    scenario: &str,
    fix: Fix,
    against: Option<&RecordedAgainst>,
    commands: &Commands,
) -> String {
    let (flags, cost) = match fix {
        Fix::Resume => ("--record-mode=once", "resumes its task, 0 credits"),
        Fix::Record => (
            "--record-mode=once",
            "a new task; the plan shows the cost before anything is sent",
        ),
        Fix::Again => (
            "--record-mode=rewrite",
            "a new task and its inputs'; the plan shows the cost before anything is sent",
        ),
        // The simulator records it again, free.
        Fix::Deliveries if against.is_some_and(RecordedAgainst::is_simulator) => {
            ("--record-mode=once", "")
        }
        Fix::Deliveries => (
            "--record-mode=once --accept-api-payload",
            "resumes its task, 0 credits; its result from the API's task object, as its deliveries are gone",
        ),
    };
    format!(
        "`{}`",
        commands.record(
            Some(scenario),
            flags,
            against.map_or(crate::command::Aim::Meshy, RecordedAgainst::aim),
            || cost.to_owned()
        )
    )
}
