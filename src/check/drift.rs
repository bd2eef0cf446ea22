//! Drift: the task objects a cassette's reads answered, fields in them the SDK does not
//! model (per task type and API version), and task objects the SDK cannot read.

use std::path::Path;

use serde_json::Value;

use super::report::{Finding, Report};
use crate::meshy::{TASKS_PATH, Task, TaskType};

/// The task objects a read of a task answered (`GET` of a task, or its event stream,
/// one per frame: v1's `<collection>/{id}`, v2's `/openapi/v2/tasks/{id}`); none for any
/// other interaction (a list, a create, a download).
#[allow(deprecated)] // v1's routes: spoken until 2027-03-15, replayed after
pub(crate) fn task_objects(interaction: &crate::cassette::Interaction) -> Vec<Value> {
    let body = interaction.response.body.as_bytes();
    let uri = &interaction.request.uri;
    let path = crate::transport::url_path(uri);
    let v2_read = path
        .strip_prefix(TASKS_PATH)
        .is_some_and(|rest| rest.len() > 1 && rest.starts_with('/'));
    let v1_read = TaskType::ALL.into_iter().any(|t| {
        let collection = t.collection();
        path.contains(collection) && !path.ends_with(collection)
    });
    let is_task_read = interaction.request.method == "GET"
        && interaction.response.status < 400
        && (v2_read || v1_read);
    if !is_task_read {
        return Vec::new();
    }
    if path.ends_with("/stream") {
        crate::meshy::sse_data(&String::from_utf8_lossy(body))
            .iter()
            .filter_map(|d| serde_json::from_str(d).ok())
            .collect()
    } else {
        serde_json::from_slice(body).ok().into_iter().collect()
    }
}

/// Unmodelled fields of a task object, and task objects the SDK cannot read.
pub(super) fn drift(path: &Path, object: &Value, version: &str, report: &mut Report) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::{Body, Interaction, RecordedRequest, RecordedResponse};

    fn get(uri: &str, body: &str) -> Interaction {
        Interaction {
            request: RecordedRequest {
                method: "GET".into(),
                uri: uri.into(),
                headers: vec![],
                body: None,
            },
            response: RecordedResponse {
                status: 200,
                message: "OK".into(),
                headers: vec![],
                body: Body::Text(body.into()),
            },
        }
    }

    #[test]
    fn task_reads_of_both_generations_are_found_and_lists_are_not() {
        let task = r#"{"id":"t1","type":"rig","status":"SUCCEEDED","input":{},"output":{}}"#;
        let api = "https://api.meshy.ai";
        let count =
            |path: &str, body: &str| task_objects(&get(&format!("{api}{path}"), body)).len();
        assert_eq!(count("/openapi/v2/tasks/t1", task), 1);
        let stream = format!("event: message\ndata: {task}\n\nevent: message\ndata: {task}\n\n");
        assert_eq!(count("/openapi/v2/tasks/t1/stream", &stream), 2);
        assert_eq!(count("/openapi/v1/rigging/t1", task), 1);
        assert_eq!(count("/openapi/v2/text-to-3d/t1", task), 1);
        // Lists and collections are not reads of one task.
        assert_eq!(
            count(
                "/openapi/v2/tasks?type=rig",
                &format!("{{\"data\":[{task}]}}")
            ),
            0
        );
        assert_eq!(count("/openapi/v2/tasks", "[]"), 0);
        assert_eq!(
            count("/openapi/v1/rigging?page_num=1", &format!("[{task}]")),
            0
        );
    }
}
