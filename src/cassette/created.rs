//! The one reader of created tasks: which tasks a cassette's answered create calls made,
//! and which of them a request made. Resuming, planning, the drift check, the report and
//! the interruption summary all ask here, so they never disagree about what was paid for.

use serde_json::Value;

use super::{Cassette, Interaction};
use crate::meshy::{TaskRequest, TaskType, created_task_id};

/// The task an answered create call made: its type (from the path and body) and id.
/// `None` for any other interaction.
pub fn created_task(interaction: &Interaction) -> Option<(TaskType, String)> {
    let (request, response) = (&interaction.request, &interaction.response);
    if request.method != "POST" || !(200..300).contains(&response.status) {
        return None;
    }
    let body: Value = request
        .body
        .as_ref()
        .and_then(|b| serde_json::from_slice(b.as_bytes()).ok())
        .unwrap_or(Value::Null);
    let answer: Value = serde_json::from_slice(response.body.as_bytes()).ok()?;
    let task_type = TaskType::of_create(crate::transport::url_path(&request.uri), &body)?;
    Some((task_type, created_task_id(&answer)?.to_owned()))
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
