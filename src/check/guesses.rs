//! The first real v2 recordings check the simulator's guesses: for a cassette recorded
//! against the real Meshy API (never one made against the simulator or a rehearsal
//! through another base URL), which of the choices docs/unconfirmed.md lists it confirms
//! and which it contradicts — the task `type` values, the list's envelope, the stream's
//! frames, the names inside `output` for rigging and animation, and the error codes.

use std::path::Path;

use serde_json::Value;

use super::report::Finding;
use crate::cassette::{Cassette, RecordedAgainst};
use crate::meshy::{ApiGeneration, ErrorCode, TASKS_PATH, TaskType};

/// What one recording says of the simulator's guesses.
#[derive(Debug, Default, PartialEq, Eq)]
struct Verdicts {
    confirmed: Vec<String>,
    contradicted: Vec<String>,
}

impl Verdicts {
    fn judge(&mut self, holds: bool, choice: String, real: impl FnOnce() -> String) {
        let list = if holds {
            &mut self.confirmed
        } else {
            &mut self.contradicted
        };
        let entry = if holds {
            choice
        } else {
            format!("{choice} (recorded: {})", real())
        };
        if !list.contains(&entry) {
            list.push(entry);
        }
    }
}

/// The `output` keys the simulator gives a SUCCEEDED task of these types (v1's
/// `result` keys moved into `output`; unconfirmed).
const OUTPUT_NAMES: [(TaskType, &[&str]); 2] = [
    (
        TaskType::Rigging,
        &["rigged_character_glb_url", "rigged_character_fbx_url"],
    ),
    (
        TaskType::Animation,
        &["animation_glb_url", "animation_fbx_url"],
    ),
];

/// The note for a real v2 cassette that tells something about the guesses.
/// `generation`: the one the cassette speaks (`cassette::generation_of`).
pub(super) fn guess_finding(
    path: &Path,
    cassette: &Cassette,
    generation: Option<ApiGeneration>,
) -> Option<Finding> {
    if cassette.recorded_against != Some(RecordedAgainst::Meshy)
        || generation != Some(ApiGeneration::V2)
    {
        return None;
    }
    let verdicts = judge(cassette);
    if verdicts.confirmed.is_empty() && verdicts.contradicted.is_empty() {
        return None;
    }
    let list = |items: &[String]| {
        if items.is_empty() {
            "none".to_owned()
        } else {
            items.join("; ")
        }
    };
    Some(Finding {
        file: path.to_owned(),
        what: format!(
            "a recording of the real API v2 checks the simulator's unconfirmed choices: it confirms {}; it contradicts {}",
            list(&verdicts.confirmed),
            list(&verdicts.contradicted)
        ),
        fix: if verdicts.contradicted.is_empty() {
            "mark the confirmed rows of docs/unconfirmed.md as confirmed by this recording".into()
        } else {
            "make the simulator (src/sim/) answer as recorded, and correct those rows of docs/unconfirmed.md".into()
        },
        problem: false,
    })
}

fn judge(cassette: &Cassette) -> Verdicts {
    let mut verdicts = Verdicts::default();
    for interaction in &cassette.interactions {
        let (request, response) = (&interaction.request, &interaction.response);
        let path = crate::transport::url_path(&request.uri);
        let body: Option<Value> = serde_json::from_slice(response.body.as_bytes()).ok();
        if response.status >= 400 {
            if let Some(code) = body
                .as_ref()
                .and_then(|b| b.get("code"))
                .and_then(Value::as_str)
            {
                let known = !matches!(ErrorCode::parse(code), ErrorCode::Other(_));
                verdicts.judge(
                    known,
                    format!("error code `{code}` is one the SDK knows"),
                    || "a code the SDK does not know".into(),
                );
            }
            continue;
        }
        if request.method == "POST" {
            let sent: Value = request
                .body
                .as_ref()
                .and_then(|b| serde_json::from_slice(b.as_bytes()).ok())
                .unwrap_or(Value::Null);
            if let (Some(task_type), Some(kind)) = (
                TaskType::of_create(path, &sent),
                body.as_ref()
                    .and_then(|b| b.get("type"))
                    .and_then(Value::as_str),
            ) {
                verdicts.judge(
                    kind == task_type.v2_type(),
                    format!(
                        "the `type` of {} is `{}`",
                        task_type.as_str(),
                        task_type.v2_type()
                    ),
                    || format!("`{kind}`"),
                );
            }
            continue;
        }
        if request.method != "GET" {
            continue;
        }
        if path == TASKS_PATH {
            let envelope = body.as_ref().is_some_and(|b| {
                b.get("data").is_some_and(Value::is_array)
                    && b.get("has_more").is_some_and(Value::is_boolean)
            });
            verdicts.judge(
                envelope,
                "the task list answers {\"data\": [...], \"has_more\": bool}".into(),
                || shape(body.as_ref()),
            );
            continue;
        }
        if path.starts_with(TASKS_PATH) && path.ends_with("/stream") {
            let text = String::from_utf8_lossy(response.body.as_bytes()).into_owned();
            let events: Vec<&str> = text
                .lines()
                .filter_map(|l| l.strip_prefix("event:"))
                .map(str::trim)
                .collect();
            let frames = crate::meshy::sse_data(&text);
            let whole = !frames.is_empty()
                && frames.iter().all(|d| {
                    serde_json::from_str::<Value>(d)
                        .is_ok_and(|v| v.get("id").is_some() && v.get("status").is_some())
                });
            let holds = whole
                && events.iter().all(|e| *e == "message")
                && response
                    .header("content-type")
                    .is_some_and(|c| c.starts_with("text/event-stream"));
            verdicts.judge(
                holds,
                "the stream sends `event: message` frames of whole task objects".into(),
                || format!("events {events:?}, {} data frame(s)", frames.len()),
            );
            continue;
        }
        for object in crate::check::task_objects(interaction) {
            outputs(&object, &mut verdicts);
        }
    }
    verdicts
}

/// The names inside a SUCCEEDED rigging or animation task's `output`.
fn outputs(object: &Value, verdicts: &mut Verdicts) {
    if object.get("status").and_then(Value::as_str) != Some("SUCCEEDED") {
        return;
    }
    let Some(output) = object.get("output").and_then(Value::as_object) else {
        return;
    };
    let kind = object
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    for (task_type, names) in OUTPUT_NAMES {
        if kind != task_type.v2_type() {
            continue;
        }
        let holds = names.iter().all(|name| output.contains_key(*name));
        verdicts.judge(
            holds,
            format!(
                "a {} task's output holds {}",
                task_type.as_str(),
                names.join(", ")
            ),
            || {
                let keys: Vec<&str> = output.keys().map(String::as_str).collect();
                format!("output keys {}", keys.join(", "))
            },
        );
    }
}

fn shape(body: Option<&Value>) -> String {
    match body {
        Some(Value::Array(_)) => "a bare array".into(),
        Some(Value::Object(fields)) => {
            let keys: Vec<&str> = fields.keys().map(String::as_str).collect();
            format!("an object with {}", keys.join(", "))
        }
        _ => "no JSON".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::{Body, Interaction, RecordedRequest, RecordedResponse};

    fn answered(
        method: &str,
        path: &str,
        sent: Option<&str>,
        status: u16,
        body: &str,
    ) -> Interaction {
        Interaction {
            request: RecordedRequest {
                method: method.into(),
                uri: format!("https://api.meshy.ai{path}"),
                headers: vec![],
                body: sent.map(|s| Body::Text(s.into())),
            },
            response: RecordedResponse {
                status,
                message: String::new(),
                headers: vec![("content-type".into(), vec!["application/json".into()])],
                body: Body::Text(body.into()),
            },
        }
    }

    fn real_v2() -> Cassette {
        Cassette {
            interactions: vec![
                // The create answer's type: the simulator says `rig`, Meshy says otherwise.
                answered(
                    "POST",
                    "/openapi/v2/rigging",
                    Some(r#"{"input_task_id":"t0"}"#),
                    202,
                    r#"{"id":"r1","type":"rigging","status":"PENDING","input":{"input_task_id":"t0"},"output":null}"#,
                ),
                // The list's envelope, as the simulator answers it.
                answered(
                    "GET",
                    "/openapi/v2/tasks?type=rig&page_num=1",
                    None,
                    200,
                    r#"{"data":[],"has_more":false}"#,
                ),
            ],
            recorded_against: Some(RecordedAgainst::Meshy),
            ..Cassette::default()
        }
    }

    #[test]
    fn a_real_v2_recording_confirms_one_guess_and_contradicts_another() {
        let finding = guess_finding(Path::new("c.yaml"), &real_v2(), Some(ApiGeneration::V2))
            .expect("it tells something");
        assert!(
            !finding.problem,
            "a note: the recording is right, the guess was not"
        );
        assert_eq!(
            finding.what,
            "a recording of the real API v2 checks the simulator's unconfirmed choices: it confirms the task list \
             answers {\"data\": [...], \"has_more\": bool}; it contradicts the `type` of rigging is `rig` \
             (recorded: `rigging`)"
        );
        assert!(
            finding
                .fix
                .starts_with("make the simulator (src/sim/) answer as recorded")
        );
    }

    #[test]
    fn a_recording_of_the_simulator_or_a_rehearsal_is_never_taken_as_real() {
        for against in [
            Some(RecordedAgainst::Simulator),
            Some(RecordedAgainst::of_base_url("http://127.0.0.1:9000")),
            Some(RecordedAgainst::parse("other-base-url")),
            Some(RecordedAgainst::Other("staging".into())),
            None,
        ] {
            let cassette = Cassette {
                recorded_against: against.clone(),
                ..real_v2()
            };
            assert_eq!(
                guess_finding(Path::new("c.yaml"), &cassette, Some(ApiGeneration::V2)),
                None,
                "{against:?}"
            );
        }
    }
}
