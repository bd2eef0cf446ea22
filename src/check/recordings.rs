//! What one webhook recording says about itself, in two steps: what the file alone tells
//! (read in parallel, before any cassette is added), then its findings once the cassettes
//! that created the tasks are known (version, target, owner).

use crate::command::Commands;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::checker::{Fix, Owner, aged, command};
use super::report::{CheckOptions, Finding, Report, Row};
use crate::cassette::RecordedAgainst;
use crate::meshy::ApiGeneration;

/// The task id in a webhook recording's file name, `<species>_<task type>_<task id>.json`
/// (its task id names its scenario).
pub(crate) fn task_of_recording(path: &Path) -> &str {
    path.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.rsplit('_').next())
        .unwrap_or_default()
}

/// The version a recording's drift is filed under until its owner is known.
pub(super) const VERSION_LATER: &str = "";

/// What one webhook recording says about itself ([`Checker::recording`](super::Checker::recording)).
pub struct RecordingChecked {
    pub(super) path: PathBuf,
    /// Its secrets and drift (drift filed under [`VERSION_LATER`]).
    pub(super) early: Report,
    /// `None` when it does not parse.
    pub(super) facts: Option<RecordingFacts>,
    /// Under `webhooks/unrouted/`: only its secret findings count.
    pub(super) unrouted: bool,
}

/// What a webhook recording of an entry's task that gave no finding tells the rest of
/// the check, in a form the HTML report keeps between runs (`report::cache`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuietRecording {
    task_id: String,
    version: Option<String>,
    received_ms: Option<i64>,
    scenario: String,
    incomplete: bool,
    payload_generation: Option<ApiGeneration>,
    drift: Vec<((String, String), BTreeSet<String>)>,
}

impl RecordingChecked {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What it tells the rest of the check, when it parsed, gave no finding of its
    /// own and is not under `unrouted/`.
    pub fn quiet(&self) -> Option<QuietRecording> {
        let facts = self.facts.as_ref()?;
        let quiet = self.early.findings.is_empty() && self.early.rows.is_empty() && !self.unrouted;
        quiet.then(|| QuietRecording {
            task_id: facts.task_id.clone(),
            version: facts.version.clone(),
            received_ms: facts.received_ms,
            scenario: facts.scenario.clone(),
            incomplete: facts.incomplete,
            payload_generation: facts.payload_generation,
            drift: self.early.drift.clone().into_iter().collect(),
        })
    }

    /// The recording at `path` as checking it gave `quiet`.
    pub fn from_quiet(path: &Path, quiet: QuietRecording) -> RecordingChecked {
        RecordingChecked {
            path: path.to_owned(),
            early: Report {
                drift: quiet.drift.into_iter().collect(),
                ..Report::default()
            },
            facts: Some(RecordingFacts {
                task_id: quiet.task_id,
                version: quiet.version,
                received_ms: quiet.received_ms,
                scenario: quiet.scenario,
                incomplete: quiet.incomplete,
                payload_generation: quiet.payload_generation,
            }),
            unrouted: false,
        }
    }
}

/// What the rest of the check needs of a parsed recording.
pub(super) struct RecordingFacts {
    pub(super) task_id: String,
    /// Its `x-api-version` header, when it has one.
    pub(super) version: Option<String>,
    /// Its first delivery's time (ms since the epoch), which its age counts from.
    pub(super) received_ms: Option<i64>,
    pub(super) scenario: String,
    pub(super) incomplete: bool,
    /// The payload version of its terminal delivery: v2's task object (`input`,
    /// `output`) or v1's (results at the top level).
    pub(super) payload_generation: Option<ApiGeneration>,
}

/// The payload version of a delivered task object, when it tells.
pub(super) fn payload_generation(payload: &serde_json::Value) -> Option<ApiGeneration> {
    let object = payload.as_object()?;
    if object.contains_key("output") || object.contains_key("input") {
        Some(ApiGeneration::V2)
    } else if object.contains_key("status") {
        Some(ApiGeneration::V1)
    } else {
        None
    }
}

/// A recording's findings, knowing which cassettes created which tasks.
/// `in_unreadable`: the scenario and cassette of an unreadable cassette that names the
/// recording's task (the recording is then kept, not called an orphan).
pub(super) fn finish_recording(
    checked: RecordingChecked,
    in_unreadable: Option<(&str, PathBuf)>,
    owned_tasks: &BTreeMap<String, Owner>,
    suite_against: Option<&RecordedAgainst>,
    options: &CheckOptions,
    commands: &Commands,
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
        let fix = match (owned_tasks.get(task_id), &in_unreadable) {
            // Kept, set aside: it may hold deliveries of a paid task. Its cassette is
            // complete: the task is resumed, never bought again.
            (Some((_, against, scenario, _)), _) => format!(
                "mend it by hand to keep its deliveries, or set it aside and complete its scenario from the API: `{}`",
                crate::command::move_aside_then(
                    path,
                    command(scenario, Fix::Deliveries, against.as_ref(), commands)
                        .trim_matches('`')
                )
            ),
            (None, Some((_, cassette))) => format!(
                "keep it: its task is in '{}', which cannot be read either",
                cassette.display()
            ),
            (None, None) => format!("delete '{}' (no cassette holds its task)", path.display()),
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
        .or_else(|| owner.map(|(v, _, _, _)| v.clone()))
        .unwrap_or_else(|| "unknown".into());
    // Without its cassette (deleted, say): what the rest of the suite was recorded against.
    let against = owner.map_or(suite_against, |(_, a, _, _)| a.as_ref());
    // A rehearsal's deliveries are not evidence of the real API's fields.
    if !against.is_some_and(RecordedAgainst::is_rehearsal) {
        for ((kind, _), fields) in early.drift {
            report
                .drift
                .entry((kind, version.clone()))
                .or_default()
                .extend(fields);
        }
    }
    // A dashboard webhook still on v1 delivers v1 payloads for tasks made through v2.
    if let (Some(delivered), Some((_, _, scenario, Some(spoken)))) =
        (facts.payload_generation, owner)
        && delivered != *spoken
    {
        report.findings.push(Finding {
            file: path.to_owned(),
            what: format!(
                "its deliveries carry {} payloads while its cassette speaks {}: the webhook that delivered \
                 them is set to payload version {} in the Meshy dashboard",
                delivered.as_str(),
                spoken.as_str(),
                delivered.as_str()
            ),
            fix: format!(
                "in the Meshy dashboard (API settings → Webhooks) set the webhook's payload version to {}, \
                 then re-record it: {}",
                spoken.as_str(),
                command(scenario, Fix::Again, against, commands)
            ),
            problem: false,
        });
    }
    report.rows.push(Row {
        file: path.to_owned(),
        api_version: version,
        age_secs: facts.received_ms.and_then(super::checker::ms_ago),
    });
    let scenario = facts.scenario;
    if !scenario.is_empty() {
        aged(
            path,
            &scenario,
            (
                facts.received_ms.and_then(super::checker::ms_ago),
                options.max_age,
            ),
            against,
            commands,
            &mut report,
        );
    }
    if facts.incomplete && !scenario.is_empty() {
        report.findings.push(Finding {
            file: path.to_owned(),
            what: "incomplete: its trial did not pass".into(),
            fix: format!(
                "resume it: {}",
                command(&scenario, Fix::Resume, against, commands)
            ),
            problem: true,
        });
    }
    if !owned_tasks.contains_key(&facts.task_id)
        && let Some((scenario, cassette)) = &in_unreadable
    {
        let set_aside = cassette
            .file_name()
            .is_some_and(|n| crate::command::is_set_aside(&n.to_string_lossy()));
        let (what, fix) = if set_aside {
            (
                format!(
                    "its task {} is in '{}', set aside as unreadable: scenario '{scenario}''s earlier \
                     recording, not an orphan",
                    facts.task_id,
                    cassette.display()
                ),
                format!(
                    "keep it with '{}' (they may hold answers Meshy was paid for); remove both together \
                     once you no longer need them",
                    cassette.display()
                ),
            )
        } else {
            (
                format!(
                    "its task {} is in '{}', which cannot be read: it is scenario '{scenario}''s, not an orphan",
                    facts.task_id,
                    cassette.display()
                ),
                format!(
                    "keep it; mend '{}' to replay both (or record the scenario afresh, as its finding says)",
                    cassette.display()
                ),
            )
        };
        report.findings.push(Finding {
            file: path.to_owned(),
            what,
            fix,
            problem: false,
        });
    } else if !owned_tasks.contains_key(&facts.task_id) {
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

/// Whether a webhook recording is one of `webhooks/unrouted/`.
pub(crate) fn is_unrouted(path: &Path) -> bool {
    path.parent()
        .and_then(Path::file_name)
        .is_some_and(|name| name == "unrouted")
}
