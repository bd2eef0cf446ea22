//! Drift: the task objects a cassette's reads answered, fields in them the SDK does not
//! model (per task type and API version), and task objects the SDK cannot read.

use std::path::Path;

use serde_json::Value;

use super::report::{Finding, Report};
use crate::meshy::{Task, TaskType};

/// The task objects a read of a task answered (`GET` of a task, or its event stream,
/// one per frame); none for any other interaction.
#[allow(deprecated)] // v1's refine and routes: spoken until 2027-03-15, replayed after
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
