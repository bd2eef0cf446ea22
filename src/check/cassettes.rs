//! What one cassette says about itself: its row, its age, whether it is incomplete or owned
//! by no scenario, its secrets and drift, and the tasks it created (so that the checker can
//! name each webhook recording's owner).

use crate::command::Commands;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::checker::{Fix, Owner, aged, command, ms_ago};
use super::drift::{drift, task_objects};
use super::leaks::secrets;
use super::report::{CheckOptions, Finding, Report, Row};
use crate::cassette::{Cassette, RecordedAgainst};

/// What one cassette says about itself ([`Checker::cassette`](super::Checker::cassette)).
#[derive(Default)]
pub struct CassetteChecked {
    pub(super) path: PathBuf,
    pub(super) report: Report,
    /// The scenario it records, when it parses.
    pub(super) scenario: Option<String>,
    /// The tasks its create calls made, with their owner.
    pub(super) owned: Vec<(String, Owner)>,
    /// When it cannot be read: its scenario and text (the ids of the tasks it holds are
    /// in there, so their webhook recordings are not orphans).
    pub(super) unreadable: Option<(String, String)>,
    /// When it was recorded (ms since the epoch), which its row's age counts from.
    pub(super) recorded_ms: Option<i64>,
}

/// What a cassette that gave no finding tells the rest of the check, in a form the HTML
/// report keeps between runs (`report::cache`): unchanged, it is neither read nor
/// checked again. Its age is kept as the time it counts from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuietCassette {
    scenario: String,
    owned: Vec<(String, Owner)>,
    api_version: String,
    recorded_ms: Option<i64>,
    drift: Vec<((String, String), BTreeSet<String>)>,
}

impl CassetteChecked {
    /// The cassette checked.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What it tells the rest of the check, when it parsed and gave no finding.
    pub fn quiet(&self) -> Option<QuietCassette> {
        let report = &self.report;
        let [row] = report.rows.as_slice() else {
            return None;
        };
        let quiet = report.findings.is_empty() && self.unreadable.is_none();
        Some(QuietCassette {
            scenario: self.scenario.clone()?,
            owned: self.owned.clone(),
            api_version: row.api_version.clone(),
            recorded_ms: self.recorded_ms,
            drift: report.drift.clone().into_iter().collect(),
        })
        .filter(|_| quiet)
    }

    /// The cassette at `path` as checking it gave `quiet` (its age as of now).
    pub fn from_quiet(path: &Path, quiet: QuietCassette) -> CassetteChecked {
        CassetteChecked {
            path: path.to_owned(),
            report: Report {
                rows: vec![Row {
                    file: path.to_owned(),
                    api_version: quiet.api_version,
                    age_secs: quiet.recorded_ms.and_then(ms_ago),
                }],
                findings: Vec::new(),
                drift: quiet.drift.into_iter().collect(),
            },
            scenario: Some(quiet.scenario),
            owned: quiet.owned,
            unreadable: None,
            recorded_ms: quiet.recorded_ms,
        }
    }
}

/// Every scenario file's name, with what loading it (and its input) gave.
pub(super) type Scenarios =
    BTreeMap<String, Result<crate::scenario::Scenario, crate::scenario::ScenarioError>>;

/// The command that records `scenario` afresh (its cassette gone or set aside): against
/// the simulator when it was recorded there, else the real API with its cost.
fn record_afresh(
    scenario: &str,
    scenarios: &Scenarios,
    against: Option<&RecordedAgainst>,
    commands: &Commands,
) -> String {
    let cost = || {
        let price = scenarios
            .get(scenario)
            .and_then(|loaded| loaded.as_ref().ok())
            .and_then(|s| s.credits(s.api.unwrap_or(crate::meshy::ApiGeneration::V2)))
            .map_or("unknown credits".to_owned(), |n| format!("{n} credits"));
        format!("{price}; a task the unreadable file holds is not resumed but paid again")
    };
    commands.record(
        Some(scenario),
        "--record-mode=once",
        against.map_or(crate::command::Aim::Meshy, RecordedAgainst::aim),
        cost,
    )
}

pub(super) fn check_cassette(
    path: &Path,
    text: &str,
    parsed: Result<&Cassette, &crate::cassette::FormatError>,
    scenarios: &Scenarios,
    options: &CheckOptions,
    commands: &Commands,
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
            let scenario = name
                .strip_suffix(".rerecording")
                .unwrap_or(&name)
                .to_owned();
            let against = crate::cassette::recorded_against_in(text);
            let record = record_afresh(&scenario, scenarios, against.as_ref(), commands);
            checked.report.findings.push(Finding {
                file: path.to_owned(),
                what: format!(
                    "not a readable cassette (line {}: {}); it may hold answers Meshy was paid for",
                    e.line, e.message
                ),
                fix: format!(
                    "mend it by hand to keep what it holds, or set it aside and record the trial afresh: `{}`",
                    crate::command::move_aside_then(path, &record)
                ),
                problem: true,
            });
            // Not its models' base64: only the task ids are looked for in it.
            checked.unreadable = Some((scenario, super::leaks::scanned_text(text)));
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
    // Read once: the owner of its tasks, the sunset and the guesses all ask.
    let generation = crate::cassette::generation_of(cassette);
    for task in crate::cassette::created_tasks(cassette, None) {
        let owner = (
            version.clone(),
            cassette.recorded_against.clone(),
            scenario.clone(),
            generation,
        );
        checked.owned.push((task, owner));
    }
    checked.recorded_ms = recorded_ms(cassette);
    let age = checked.recorded_ms.and_then(ms_ago);
    let against = cassette.recorded_against.as_ref();
    aged(
        path,
        &scenario,
        (age, options.max_age),
        against,
        commands,
        &mut checked.report,
    );
    checked.report.rows.push(Row {
        file: path.to_owned(),
        api_version: version.clone(),
        age_secs: age,
    });
    checked.report.findings.extend(super::sunset::v1_finding(
        path, &scenario, generation, options, commands,
    ));
    checked
        .report
        .findings
        .extend(super::guesses::guess_finding(path, cassette, generation));
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
                    command(&scenario, Fix::Resume, cassette.recorded_against.as_ref(), commands)
                ),
                problem: true,
            });
    }
    if !scenarios.contains_key(&scenario) {
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
    if let Some(RecordedAgainst::Rehearsal(at)) = against {
        checked.report.findings.push(Finding {
            file: path.to_owned(),
            what: format!(
                "recorded against a rehearsal ({}), not the real Meshy API: its answers are not taken for the \
                 real API's shapes, nor its credits for real ones",
                at.as_deref().unwrap_or("its URL was not recorded")
            ),
            fix: format!(
                "re-record it against the real API (MESHY_BASE_URL unset) before trusting its shapes: {}",
                command(&scenario, Fix::Again, Some(&RecordedAgainst::Meshy), commands)
            ),
            problem: false,
        });
    }
    let mut objects = Report::default();
    for interaction in &cassette.interactions {
        for object in task_objects(interaction) {
            drift(path, &object, &version, &mut objects);
        }
    }
    // A rehearsal's fields are not evidence of the real API's (a task object the SDK
    // cannot read still fails its replay: that stays a problem).
    if against.is_some_and(RecordedAgainst::is_rehearsal) {
        objects.drift.clear();
    }
    checked.report.merge(objects);
    checked
}

/// `recorded_at`, else the first response's `date` header (ms since the epoch).
fn recorded_ms(cassette: &Cassette) -> Option<i64> {
    if let Some(at) = cassette.recorded_at.as_deref() {
        return crate::clock::parse_rfc3339_ms(at);
    }
    cassette
        .interactions
        .iter()
        .find_map(|i| i.response.header("date"))
        .and_then(crate::clock::parse_http_date_ms)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::cassette::{
        Body, Cassette, Interaction, RecordedAgainst, RecordedRequest, RecordedResponse,
    };
    use crate::check::{CheckOptions, Checker, Finding, Report};
    use crate::webhooks::{Delivery, Recording};

    fn answered(method: &str, uri: &str, status: u16, body: &str) -> Interaction {
        Interaction {
            request: RecordedRequest {
                method: method.into(),
                uri: uri.into(),
                headers: vec![],
                body: (method == "POST").then(|| Body::Text(r#"{"prompt":"otter"}"#.into())),
            },
            response: RecordedResponse {
                status,
                message: String::new(),
                headers: vec![("X-Api-Version".into(), vec!["v2026.01.01".into()])],
                body: Body::Text(body.into()),
            },
        }
    }

    /// `otter_text3d`'s cassette recorded against `against` and its webhook recording,
    /// both with a field the SDK does not model, checked as `cassettes check` does; and
    /// the command that re-records it.
    fn check(against: RecordedAgainst) -> (Report, String) {
        check_with(against, false)
    }

    /// [`check`], with each file's check replaced, when `through_quiet`, by what the
    /// HTML report keeps of it between runs (`quiet`, then `from_quiet`).
    fn check_with(against: RecordedAgainst, through_quiet: bool) -> (Report, String) {
        let dir = tempfile::tempdir().unwrap();
        let scenarios = dir.path().join("scenarios");
        std::fs::create_dir_all(&scenarios).unwrap();
        std::fs::write(
            scenarios.join("otter_text3d.toml"),
            "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"otter\"\n",
        )
        .unwrap();
        let commands =
            crate::command::Commands::new(Default::default(), &scenarios, Path::new("cassettes"));
        // A rehearsal is re-recorded against the real API, with what that costs.
        let command = super::super::checker::command(
            "otter_text3d",
            super::Fix::Again,
            Some(&RecordedAgainst::Meshy),
            &commands,
        );
        assert!(
            command.contains("--record-mode=rewrite")
                && command.ends_with(
                    "  # real Meshy API: a new task and its inputs'; the plan shows the cost before anything \
                     is sent`"
                ),
            "{command}"
        );
        let options = CheckOptions {
            cassettes: "cassettes".into(),
            scenarios,
            max_age: None,
            v1_is_problem: false,
            today: None,
            invocation: Default::default(),
        };
        let task = r#"{"id":"t1","type":"text-to-3d","status":"SUCCEEDED","input":{},"output":{},"cassette_only":1}"#;
        let cassette = Cassette {
            interactions: vec![
                answered(
                    "POST",
                    "https://api.meshy.ai/openapi/v2/text-to-3d",
                    202,
                    r#"{"id":"t1","type":"text-to-3d","status":"PENDING","input":{},"output":null}"#,
                ),
                answered("GET", "https://api.meshy.ai/openapi/v2/tasks/t1", 200, task),
            ],
            recorded_against: Some(against),
            ..Cassette::default()
        };
        let mut checker = Checker::new(&options);
        let path = Path::new("cassettes/http/otter_text3d.yaml");
        let mut checked = checker.cassette(path, &cassette.to_yaml(), Ok(&cassette));
        if through_quiet {
            let quiet = checked.quiet().expect("a cassette with no finding");
            checked = super::CassetteChecked::from_quiet(path, quiet);
        }
        checker.add_cassette(checked);
        let payload = serde_json::json!({
            "id": "t1", "type": "text-to-3d", "status": "SUCCEEDED", "input": {}, "output": {},
            "webhook_only": 1
        });
        let recording = Recording {
            incomplete: false,
            species: "otter".into(),
            task_type: "text3d".into(),
            task_id: "t1".into(),
            scenario: Some("otter_text3d".into()),
            received_at: "2026-01-01T00:00:00.000Z".into(),
            headers: Default::default(),
            payload: payload.clone(),
            payload_source: None,
            deliveries: vec![Delivery {
                received_at: "2026-01-01T00:00:00.000Z".into(),
                headers: Default::default(),
                payload,
            }],
        };
        let path = Path::new("cassettes/webhooks/otter_text3d_t1.json");
        let bytes = serde_json::to_vec(&recording).unwrap();
        let mut checked = checker.recording(path, &bytes, Some(&recording));
        if through_quiet {
            let quiet = checked.quiet().expect("a recording with no finding");
            checked = crate::check::RecordingChecked::from_quiet(path, quiet);
        }
        checker.add_recording(checked);
        (checker.finish(), command)
    }

    /// What the report keeps of a file that gave no finding checks as the file itself:
    /// its drift, its owner, its version and age.
    #[test]
    fn a_quiet_files_summary_checks_as_the_file_itself() {
        // Ages as of whole seconds: the two checks may fall either side of one.
        let aged = |mut report: Report| {
            assert!(report.rows.iter().any(|row| row.age_secs.is_some()));
            for row in &mut report.rows {
                row.age_secs = row.age_secs.map(|_| 0);
            }
            report
        };
        let (real, _) = check_with(RecordedAgainst::Simulator, false);
        assert!(!real.drift.is_empty(), "drift to keep: {real:?}");
        let (kept, _) = check_with(RecordedAgainst::Simulator, true);
        assert_eq!(aged(kept), aged(real));
    }

    #[test]
    fn a_rehearsal_is_noted_never_a_problem_and_never_the_real_api_s_drift() {
        let (report, command) = check(RecordedAgainst::of_base_url("http://127.0.0.1:9000"));
        assert_eq!(
            report.findings,
            vec![Finding {
                file: "cassettes/http/otter_text3d.yaml".into(),
                what: "recorded against a rehearsal (http://127.0.0.1:9000), not the real Meshy API: its answers \
                       are not taken for the real API's shapes, nor its credits for real ones"
                    .into(),
                fix: format!(
                    "re-record it against the real API (MESHY_BASE_URL unset) before trusting its shapes: {command}"
                ),
                problem: false,
            }]
        );
        assert_eq!(report.problems(), 0);
        assert!(report.drift.is_empty(), "{:?}", report.drift);
        // An older file's `other-base-url`: a rehearsal whose URL is not known.
        let (older, _) = check(RecordedAgainst::parse("other-base-url"));
        assert_eq!(
            older.findings[0].what,
            "recorded against a rehearsal (its URL was not recorded), not the real Meshy API: its answers are \
             not taken for the real API's shapes, nor its credits for real ones"
        );
        assert!(older.drift.is_empty(), "{:?}", older.drift);
    }

    #[test]
    fn a_recording_of_the_real_api_has_no_rehearsal_note_and_its_drift_counts() {
        let (report, _) = check(RecordedAgainst::Meshy);
        // Its one note: it checks the simulator's guesses, as only the real API's can.
        assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
        assert!(
            report.findings[0].what.starts_with(
                "a recording of the real API v2 checks the simulator's unconfirmed choices"
            ),
            "{:?}",
            report.findings
        );
        let fields: Vec<&String> = report.drift.values().flatten().collect();
        assert_eq!(fields, ["cassette_only", "webhook_only"]);
    }
}
