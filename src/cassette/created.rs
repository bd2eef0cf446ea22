//! The one reader of created tasks: which tasks a cassette's answered create calls made,
//! and which of them a request made. Resuming, planning, the drift check, the report and
//! the interruption summary all ask here, so they never disagree about what was paid for.

use serde_json::Value;

use super::{Cassette, Interaction};
use crate::meshy::{ApiGeneration, TASKS_PATH, TaskRequest, TaskType, created_task_id};

/// The API generation a cassette speaks, read from what it holds, never from a path
/// prefix alone (v1's text-to-3d lives under `/openapi/v2/`): a create answered
/// `{"result": id}` or sent with `mode` is v1, one answered with a task object is v2; a
/// read through `/openapi/v2/tasks` is v2, one through a `/openapi/v1/` route v1. The
/// first interaction that tells decides; create answers the harness wrote itself (an
/// adopted task's) tell nothing. `None` for a cassette that tells nothing.
pub fn generation_of(cassette: &Cassette) -> Option<ApiGeneration> {
    cassette.interactions.iter().find_map(generation_told)
}

/// The JSON body a recorded request sent (`null` when it has none, or none that parses).
fn sent(interaction: &Interaction) -> Value {
    interaction
        .request
        .body
        .as_ref()
        .and_then(|b| serde_json::from_slice(b.as_bytes()).ok())
        .unwrap_or(Value::Null)
}

fn generation_told(interaction: &Interaction) -> Option<ApiGeneration> {
    let (request, response) = (&interaction.request, &interaction.response);
    let path = crate::transport::url_path(&request.uri);
    if request.method == "POST" {
        let body = sent(interaction);
        TaskType::of_create(path, &body)?;
        if ApiGeneration::of_create(path, &body) == Some(ApiGeneration::V1) {
            return Some(ApiGeneration::V1);
        }
        if response.header("X-Mesh-Toolkit-Reconciled").is_some() {
            return None;
        }
        let answer: Value = serde_json::from_slice(response.body.as_bytes()).ok()?;
        return match answer.get("result") {
            Some(Value::String(_)) => Some(ApiGeneration::V1),
            _ if created_task_id(&answer).is_some() => Some(ApiGeneration::V2),
            _ => None,
        };
    }
    if path.starts_with(TASKS_PATH) {
        Some(ApiGeneration::V2)
    } else if path.starts_with("/openapi/v1/") {
        Some(ApiGeneration::V1)
    } else {
        None
    }
}

/// The task an answered create call made: its type (from the path and body) and id.
/// `None` for any other interaction.
pub fn created_task(interaction: &Interaction) -> Option<(TaskType, String)> {
    let (request, response) = (&interaction.request, &interaction.response);
    if request.method != "POST" || !(200..300).contains(&response.status) {
        return None;
    }
    let body = sent(interaction);
    let answer: Value = serde_json::from_slice(response.body.as_bytes()).ok()?;
    let task_type = TaskType::of_create(crate::transport::url_path(&request.uri), &body)?;
    Some((task_type, created_task_id(&answer)?.to_owned()))
}

/// What the task an answered create call made costs at today's prices: its request
/// priced in the generation it was sent in (a v2 price depends on the request). `None`
/// when the price is unknown, or for any other interaction.
pub fn create_credits(interaction: &Interaction) -> Option<u64> {
    let (task_type, _) = created_task(interaction)?;
    let body = sent(interaction);
    let path = crate::transport::url_path(&interaction.request.uri);
    let generation = generation_told(interaction).or(ApiGeneration::of_create(path, &body))?;
    crate::meshy::pricing::request_credits(task_type, generation, &body)
}

/// The ids of the tasks the cassette's answered create calls made (for `request`
/// only, when given), in recorded order.
pub fn created_tasks(cassette: &Cassette, request: Option<&TaskRequest>) -> Vec<String> {
    cassette
        .interactions
        .iter()
        .filter(|i| i.request.method == "POST" && (200..300).contains(&i.response.status))
        .filter(|i| {
            request.is_none_or(|r| {
                let body = i
                    .request
                    .body
                    .as_ref()
                    .map(|b| b.as_bytes())
                    .unwrap_or_default();
                is_create_for(&i.request.uri, body, r)
            })
        })
        .filter_map(|i| {
            let answer: Value = serde_json::from_slice(i.response.body.as_bytes()).ok()?;
            created_task_id(&answer).map(str::to_owned)
        })
        .collect()
}

/// Whether a recorded create call (URI and body) is `request`'s (`callback_url` aside).
pub fn is_create_for(uri: &str, body: &[u8], request: &TaskRequest) -> bool {
    let Ok(mut body) = serde_json::from_slice::<Value>(body) else {
        return false;
    };
    if let Some(fields) = body.as_object_mut() {
        fields.remove("callback_url");
    }
    let path = crate::transport::url_path(uri);
    // Either generation's create call: its route and its body.
    crate::meshy::ApiGeneration::ALL
        .into_iter()
        .any(|generation| {
            generation
                .create_path(request.task_type())
                .is_some_and(|create| path.ends_with(&create))
                && request.body(generation).is_ok_and(|sent| sent == body)
        })
}

/// The task id of the recorded create call whose body is `request`'s (ignoring
/// `callback_url`), if the cassette has one.
pub fn recorded_task_id(cassette: &Cassette, request: &TaskRequest) -> Option<String> {
    created_tasks(cassette, Some(request)).into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn interaction(method: &str, uri: &str, body: &str, answer: &str) -> Interaction {
        use crate::cassette::{Body, RecordedRequest, RecordedResponse};
        Interaction {
            request: RecordedRequest {
                method: method.into(),
                uri: uri.into(),
                headers: vec![],
                body: (!body.is_empty()).then(|| Body::Text(body.into())),
            },
            response: RecordedResponse {
                status: 202,
                message: "Accepted".into(),
                headers: vec![],
                body: Body::Text(answer.into()),
            },
        }
    }

    #[test]
    fn a_cassettes_generation_is_read_from_what_it_holds_not_the_path() {
        let of = |interactions: Vec<Interaction>| {
            generation_of(&Cassette {
                interactions,
                ..Cassette::default()
            })
        };
        let text = "https://api.meshy.ai/openapi/v2/text-to-3d";
        // v1's text-to-3d lives under /openapi/v2/: its `mode` and `result` tell.
        assert_eq!(
            of(vec![interaction(
                "POST",
                text,
                r#"{"mode":"preview","prompt":"o"}"#,
                r#"{"result":"t"}"#
            )]),
            Some(ApiGeneration::V1)
        );
        let task = r#"{"id":"t","status":"PENDING","input":{},"output":null}"#;
        assert_eq!(
            of(vec![interaction("POST", text, r#"{"prompt":"o"}"#, task)]),
            Some(ApiGeneration::V2)
        );
        assert_eq!(
            of(vec![interaction(
                "POST",
                "https://api.meshy.ai/openapi/v1/remesh",
                "{}",
                r#"{"result":"t"}"#
            )]),
            Some(ApiGeneration::V1)
        );
        assert_eq!(
            of(vec![interaction(
                "GET",
                "https://api.meshy.ai/openapi/v2/tasks/t",
                "",
                task
            )]),
            Some(ApiGeneration::V2)
        );
        assert_eq!(
            of(vec![interaction(
                "GET",
                "https://api.meshy.ai/openapi/v1/balance",
                "",
                "{}"
            )]),
            Some(ApiGeneration::V1)
        );
        assert_eq!(of(vec![]), None);
        // An answer the harness wrote for an adopted task tells nothing.
        let mut adopted = interaction("POST", text, r#"{"prompt":"o"}"#, r#"{"result":"t"}"#);
        adopted
            .response
            .headers
            .push(("X-Mesh-Toolkit-Reconciled".into(), vec!["adopted".into()]));
        assert_eq!(of(vec![adopted]), None);
    }

    #[test]
    fn a_create_is_priced_by_its_request_in_the_generation_it_was_sent_in() {
        let task = r#"{"id":"t","status":"PENDING","input":{},"output":null}"#;
        let v2 = |path: &str, body: &str| {
            create_credits(&interaction(
                "POST",
                &format!("https://api.meshy.ai{path}"),
                body,
                task,
            ))
        };
        // v2 prices depend on the request: the model, the texture, the actions.
        assert_eq!(
            v2(
                "/openapi/v2/text-to-3d",
                r#"{"prompt":"o","should_texture":false}"#
            ),
            Some(20)
        );
        assert_eq!(
            v2(
                "/openapi/v2/text-to-3d",
                r#"{"prompt":"o","should_texture":false,"ai_model":"meshy-5"}"#
            ),
            Some(5)
        );
        assert_eq!(
            v2(
                "/openapi/v2/animations",
                r#"{"rig_task_id":"r","action_ids":[1,2,3]}"#
            ),
            Some(9)
        );
        assert_eq!(
            v2("/openapi/v2/image-to-3d", r#"{"image_url":"u"}"#),
            Some(30)
        );
        // A textured one-call text-to-3d has no price in the table: unknown, never a guess.
        assert_eq!(v2("/openapi/v2/text-to-3d", r#"{"prompt":"o"}"#), None);
        // v1 by the task type, whatever the request asked for.
        assert_eq!(
            create_credits(&interaction(
                "POST",
                "https://api.meshy.ai/openapi/v1/image-to-3d",
                r#"{"image_url":"u"}"#,
                r#"{"result":"t"}"#
            )),
            crate::meshy::pricing::credits(TaskType::Image3d)
        );
        // Not a create: no price.
        assert_eq!(
            create_credits(&interaction(
                "GET",
                "https://api.meshy.ai/openapi/v2/tasks/t",
                "",
                task
            )),
            None
        );
    }

    #[test]
    fn a_create_call_of_either_generation_is_the_requests() {
        let request =
            TaskRequest::from_json(TaskType::Image3d, json!({"image_url": "https://x/y.png"}))
                .unwrap();
        let body = br#"{"image_url":"https://x/y.png","callback_url":"http://127.0.0.1:1/w"}"#;
        for uri in [
            "https://api.meshy.ai/openapi/v1/image-to-3d",
            "https://api.meshy.ai/openapi/v2/image-to-3d",
        ] {
            assert!(is_create_for(uri, body, &request), "{uri}");
        }
        assert!(!is_create_for(
            "https://api.meshy.ai/openapi/v1/remesh",
            body,
            &request
        ));
        let text3d = TaskRequest::from_json(TaskType::Text3d, json!({"prompt": "otter"})).unwrap();
        let uri = "https://api.meshy.ai/openapi/v2/text-to-3d";
        assert!(is_create_for(
            uri,
            br#"{"mode":"preview","prompt":"otter"}"#,
            &text3d
        ));
        assert!(is_create_for(
            uri,
            br#"{"prompt":"otter","should_texture":false}"#,
            &text3d
        ));
        assert!(!is_create_for(uri, br#"{"prompt":"otter"}"#, &text3d));
    }
}
