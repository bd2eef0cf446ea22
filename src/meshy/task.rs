//! The task object Meshy returns from `GET task`, streams, and POSTs to webhooks.
//!
//! Parsing is lenient because the documentation and the real traffic disagree (see
//! `meshy-api.md`): every field but `id` and `status` is optional, `task_error` may be
//! null or `{"message": ""}`, `model_urls.glb` is `""` while pending, and fields we do
//! not model are kept in [`Task::extra`] and written back unchanged.
//!
//! One type for both API generations: v1 puts results at the top level (and rigging's
//! and animation's in `result`), v2 in `output` (with the request echoed in `input`,
//! and `null` timestamps while unset). The accessors ([`Task::model_url`],
//! [`Task::thumbnail`], [`Task::result_url`], [`Task::images`], [`Task::result_urls`],
//! [`Task::primary_artifact`]) read either, so user code reads a task the same whatever
//! produced it. The names inside a v2 rigging or animation `output` are unconfirmed
//! (`meshy-api-v2.md`): the accessors take v1's names there (`output.rigged_character_glb_url`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use super::TaskType;

/// A Meshy task as the API describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: String,
    /// The documented `type` (`text-to-3d-preview`, `rig`, …); absent in real traffic.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub status: TaskStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<u32>,
    /// Epoch milliseconds; `0` means not yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Format → URL. Formats not produced are absent; `glb` is `""` while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_urls: Option<BTreeMap<String, Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub texture_urls: Option<Vec<Map<String, Value>>>,
    /// Text-to-3d's stage (`preview`, `refine`), and the echoed request fields real
    /// text-to-3d traffic carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub art_style: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub texture_image_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub texture_richness: Option<String>,
    /// Text-to-image and image-to-image's model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub texture_prompt: Option<String>,
    /// Tasks queued ahead of this one; only meaningful while PENDING.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preceding_tasks: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_error: Option<TaskError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumed_credits: Option<Number>,
    /// Rigging and animation results (`rigged_character_glb_url`, `animation_glb_url`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Map<String, Value>>,
    /// Text-to-image and image-to-image results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_urls: Option<Vec<String>>,
    /// A `print/analyze` task's report (`status`, `issue_count`, `metrics`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printability: Option<Map<String, Value>>,
    /// API v2: the request, echoed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Map<String, Value>>,
    /// API v2: the results (`model_urls`, `thumbnail_url`, `texture_urls`, `image_urls`,
    /// …); `null` until the task is finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Map<String, Value>>,
    /// Every field not modelled above, kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `task_error` as documented: `{type, message, code?, doc_url?}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskError {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_url: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A downloadable result: the file a pipeline keeps from a succeeded task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryArtifact {
    pub url: String,
    /// File extension without the dot (`glb`, `png`).
    pub extension: &'static str,
}

impl Task {
    /// Parses a task object from JSON bytes.
    pub fn from_json(bytes: &[u8]) -> Result<Task, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    pub fn is_terminal(&self) -> bool {
        self.status.is_terminal()
    }

    /// A field of the v2 `output`.
    fn output_field(&self, name: &str) -> Option<&Value> {
        self.output.as_ref()?.get(name)
    }

    /// A non-empty string field of the v2 `output`.
    fn output_url(&self, name: &str) -> Option<&str> {
        non_empty(self.output_field(name)?.as_str())
    }

    /// The URL of model `format` (`glb`, `fbx`, …), if present and not empty (v1's
    /// `model_urls`, else v2's `output.model_urls`).
    pub fn model_url(&self, format: &str) -> Option<&str> {
        let v1 = self
            .model_urls
            .as_ref()
            .and_then(|urls| urls.get(format)?.as_deref());
        non_empty(v1).or_else(|| non_empty(self.output_field("model_urls")?.get(format)?.as_str()))
    }

    /// Formats with a non-empty model URL, sorted.
    pub fn model_formats(&self) -> Vec<&str> {
        let v1 = self.model_urls.iter().flatten();
        let mut formats: Vec<&str> = v1
            .filter(|(_, url)| url.as_deref().is_some_and(|u| !u.is_empty()))
            .map(|(format, _)| format.as_str())
            .collect();
        if let Some(Value::Object(urls)) = self.output_field("model_urls") {
            formats.extend(
                urls.iter()
                    .filter(|(_, url)| url.as_str().is_some_and(|u| !u.is_empty()))
                    .map(|(format, _)| format.as_str()),
            );
        }
        formats.sort_unstable();
        formats.dedup();
        formats
    }

    /// The thumbnail's URL (v1's `thumbnail_url`, else v2's `output.thumbnail_url`).
    pub fn thumbnail(&self) -> Option<&str> {
        non_empty(self.thumbnail_url.as_deref()).or_else(|| self.output_url("thumbnail_url"))
    }

    /// A result URL of rigging, animation or text-to-motion: v1's `result.<field>`, else
    /// v2's `output.<field>` (names unconfirmed), if present and not empty.
    pub fn result_url(&self, field: &str) -> Option<&str> {
        let v1 = self.result.as_ref().and_then(|r| r.get(field)?.as_str());
        non_empty(v1).or_else(|| self.output_url(field))
    }

    /// Generated images (text-to-image, image-to-image): v1's `image_urls`, else v2's
    /// `output.image_urls`.
    pub fn images(&self) -> Vec<&str> {
        if let Some(urls) = &self.image_urls {
            return urls.iter().map(String::as_str).collect();
        }
        match self.output_field("image_urls") {
            Some(Value::Array(urls)) => urls.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// The error message of a failed task; `None` when absent or empty.
    pub fn error_message(&self) -> Option<&str> {
        let message = self.task_error.as_ref()?.message.as_str();
        (!message.is_empty()).then_some(message)
    }

    /// The file a pipeline keeps from this task: the model GLB, the rigged character
    /// GLB, the animation GLB, or the first generated image.
    pub fn primary_artifact(&self, task_type: TaskType) -> Option<PrimaryArtifact> {
        let (url, extension) = match task_type {
            TaskType::Rigging => (self.result_url("rigged_character_glb_url")?, "glb"),
            TaskType::Animation => (self.result_url("animation_glb_url")?, "glb"),
            TaskType::TextToImage | TaskType::ImageToImage => (*self.images().first()?, "png"),
            TaskType::TextToMotion => {
                let bvh = self.result_url("motion_format") == Some("bvh");
                (
                    self.result_url("motion_url")?,
                    if bvh { "bvh" } else { "fbx" },
                )
            }
            // A report, no file.
            TaskType::PrintAnalyze | TaskType::RigCheck => return None,
            TaskType::PrintMultiColor => (self.model_url("3mf")?, "3mf"),
            // A conversion may not produce a GLB: its first format, then.
            TaskType::Convert if self.model_url("glb").is_none() => {
                let format = self
                    .model_formats()
                    .into_iter()
                    .find(|f| self.model_url(f).is_some())?;
                let extension = ["fbx", "obj", "usdz", "blend", "stl", "3mf"]
                    .into_iter()
                    .find(|known| *known == format)?;
                (self.model_url(format)?, extension)
            }
            _ => (self.model_url("glb")?, "glb"),
        };
        (!url.is_empty()).then(|| PrimaryArtifact {
            url: url.to_owned(),
            extension,
        })
    }

    /// Every non-empty result URL by name (`glb`, `thumbnail_url`,
    /// `result.rigged_character_glb_url`, `image_urls[0]`, …), for the repository.
    pub fn result_urls(&self) -> BTreeMap<String, String> {
        let mut urls = BTreeMap::new();
        for format in self.model_formats() {
            if let Some(url) = self.model_url(format) {
                urls.insert(format.to_owned(), url.to_owned());
            }
        }
        for (name, value) in [
            ("thumbnail_url", &self.thumbnail_url),
            ("video_url", &self.video_url),
        ] {
            let url = non_empty(value.as_deref()).or_else(|| self.output_url(name));
            if let Some(url) = url {
                urls.insert(name.to_owned(), url.to_owned());
            }
        }
        // v1's `result` fields, and v2's other `output` URLs under the same names, so a
        // repository's manifest reads alike whatever produced the task.
        let known = [
            "model_urls",
            "thumbnail_url",
            "video_url",
            "texture_urls",
            "image_urls",
        ];
        let v2_results = self
            .output
            .iter()
            .flatten()
            .filter(|(name, _)| !known.contains(&name.as_str()));
        for (name, value) in self.result.iter().flatten().chain(v2_results) {
            if let Some(url) = value.as_str().filter(|u| !u.is_empty()) {
                urls.entry(format!("result.{name}"))
                    .or_insert_with(|| url.to_owned());
            }
        }
        for (i, url) in self.images().into_iter().enumerate() {
            urls.insert(format!("image_urls[{i}]"), url.to_owned());
        }
        urls
    }
}

/// The id of the task a create call's answer made: v1 answers `{"result": "<id>"}`, v2
/// the whole task object (202, `id`). The one reader of a create answer, for the client
/// and for recordings alike. `None` for another shape or an empty id.
pub fn created_task_id(answer: &Value) -> Option<&str> {
    // v1's `result` is a string; a v2 task object may hold a `result` of another kind
    // (`null`, an object), and is read by its `id` then.
    let id = match answer.get("result").and_then(Value::as_str) {
        Some(result) => Some(result),
        None => answer
            .get("id")
            .and_then(Value::as_str)
            .filter(|_| answer.get("status").is_some()),
    };
    id.filter(|id| !id.is_empty())
}

fn non_empty(url: Option<&str>) -> Option<&str> {
    url.filter(|u| !u.is_empty())
}

/// A task's status. Unknown values are kept (never rejected) and count as not
/// terminal, so a new status from Meshy cannot end a wait early.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum TaskStatus {
    Pending,
    InProgress,
    Succeeded,
    Failed,
    Canceled,
    /// Not in the docs, but some clients see it.
    Expired,
    Other(String),
}

impl TaskStatus {
    pub fn as_str(&self) -> &str {
        match self {
            TaskStatus::Pending => "PENDING",
            TaskStatus::InProgress => "IN_PROGRESS",
            TaskStatus::Succeeded => "SUCCEEDED",
            TaskStatus::Failed => "FAILED",
            TaskStatus::Canceled => "CANCELED",
            TaskStatus::Expired => "EXPIRED",
            TaskStatus::Other(other) => other,
        }
    }

    /// SUCCEEDED, FAILED, CANCELED or EXPIRED: the task will not change again.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            TaskStatus::Succeeded | TaskStatus::Failed | TaskStatus::Canceled | TaskStatus::Expired
        )
    }

    /// Position in the lifecycle (pending 0, running 1, terminal 2), used to refuse
    /// updates that arrive out of order.
    pub fn stage(&self) -> u8 {
        match self {
            TaskStatus::Pending | TaskStatus::Other(_) => 0,
            TaskStatus::InProgress => 1,
            _ => 2,
        }
    }
}

impl From<String> for TaskStatus {
    fn from(value: String) -> Self {
        match value.as_str() {
            "PENDING" => TaskStatus::Pending,
            "IN_PROGRESS" => TaskStatus::InProgress,
            "SUCCEEDED" => TaskStatus::Succeeded,
            "FAILED" => TaskStatus::Failed,
            "CANCELED" => TaskStatus::Canceled,
            "EXPIRED" => TaskStatus::Expired,
            _ => TaskStatus::Other(value),
        }
    }
}

impl From<TaskStatus> for String {
    fn from(status: TaskStatus) -> Self {
        status.as_str().to_owned()
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The PENDING body of real text-to-3d traffic (Nov 2025), field for field.
    fn real_pending() -> Value {
        json!({
            "id": "019a97e6-58dc-7430-85a1-9bf2d9e97430", "mode": "preview", "name": "",
            "seed": 1234, "art_style": "realistic", "texture_richness": "",
            "prompt": "Cute otter character", "negative_prompt": "", "texture_prompt": "",
            "texture_image_url": "", "status": "PENDING", "created_at": 1763500000000u64,
            "progress": 0, "preceding_tasks": 3, "started_at": 0, "finished_at": 0,
            "task_error": null, "model_urls": {"glb": ""}, "thumbnail_url": "",
            "video_url": "", "texture_urls": null
        })
    }

    #[test]
    fn parses_real_pending_body() {
        let task: Task = serde_json::from_value(real_pending()).unwrap();
        assert_eq!(task.status, TaskStatus::Pending);
        assert_eq!(task.preceding_tasks, Some(3));
        assert_eq!(task.created_at, Some(1_763_500_000_000));
        assert_eq!(task.model_url("glb"), None, "an empty glb URL is no URL");
        assert!(task.model_formats().is_empty());
        assert_eq!(task.error_message(), None);
        assert_eq!(task.mode.as_deref(), Some("preview"));
        assert!(!task.is_terminal());
        assert_eq!(task.primary_artifact(TaskType::Text3d), None);
    }

    #[test]
    fn parses_real_in_progress_body_without_preceding_tasks() {
        let mut body = real_pending();
        body["status"] = json!("IN_PROGRESS");
        body["progress"] = json!(66);
        body["started_at"] = json!(1763500010000u64);
        body.as_object_mut().unwrap().remove("preceding_tasks");
        let task: Task = serde_json::from_value(body).unwrap();
        assert_eq!(task.status, TaskStatus::InProgress);
        assert_eq!(task.progress, Some(66));
        assert_eq!(task.preceding_tasks, None);
    }

    #[test]
    fn parses_real_succeeded_body_with_signed_cdn_urls() {
        let mut body = real_pending();
        let glb = "https://assets.meshy.ai/x/tasks/019a/output/model.glb?Expires=1&Signature=s&Key-Pair-Id=k";
        body["status"] = json!("SUCCEEDED");
        body["progress"] = json!(100);
        body["model_urls"] = json!({"glb": glb, "fbx": "https://assets.meshy.ai/m.fbx",
            "usdz": "https://assets.meshy.ai/m.usdz", "obj": "https://assets.meshy.ai/m.obj"});
        body["texture_urls"] = json!([]);
        let task: Task = serde_json::from_value(body).unwrap();
        assert!(task.is_terminal());
        assert_eq!(task.model_formats(), vec!["fbx", "glb", "obj", "usdz"]);
        let artifact = task.primary_artifact(TaskType::Text3d).unwrap();
        assert_eq!(artifact.url, glb);
        assert_eq!(artifact.extension, "glb");
    }

    #[test]
    fn parses_documented_failed_body() {
        let task: Task = serde_json::from_value(json!({
            "id": "t1", "type": "text-to-3d-preview", "status": "FAILED", "progress": 0,
            "created_at": 1, "started_at": 2, "finished_at": 3, "expires_at": 4,
            "task_error": {"type": "invalid_input", "message": "Prompt was blocked",
                           "code": "moderation_blocked", "doc_url": "https://docs.meshy.ai/x"},
            "consumed_credits": 0
        }))
        .unwrap();
        assert_eq!(task.status, TaskStatus::Failed);
        assert_eq!(task.kind.as_deref(), Some("text-to-3d-preview"));
        assert_eq!(task.error_message(), Some("Prompt was blocked"));
        let error = task.task_error.as_ref().unwrap();
        assert_eq!(error.code.as_deref(), Some("moderation_blocked"));
    }

    #[test]
    fn empty_task_error_object_is_no_error() {
        let task: Task = serde_json::from_value(
            json!({"id": "t", "status": "SUCCEEDED", "task_error": {"message": ""}}),
        )
        .unwrap();
        assert_eq!(task.error_message(), None);
    }

    #[test]
    fn rigging_animation_and_image_results_are_found() {
        let rig: Task = serde_json::from_value(json!({"id": "r", "status": "SUCCEEDED",
            "result": {"rigged_character_glb_url": "https://a/r.glb",
                       "basic_animations": {"walking_glb_url": "https://a/w.glb"}}}))
        .unwrap();
        assert_eq!(
            rig.primary_artifact(TaskType::Rigging).unwrap().url,
            "https://a/r.glb"
        );
        let anim: Task = serde_json::from_value(json!({"id": "a", "status": "SUCCEEDED",
            "result": {"animation_glb_url": "https://a/a.glb"}}))
        .unwrap();
        assert_eq!(
            anim.primary_artifact(TaskType::Animation).unwrap().url,
            "https://a/a.glb"
        );
        let image: Task = serde_json::from_value(json!({"id": "i", "status": "SUCCEEDED",
            "image_urls": ["https://a/i.png"]}))
        .unwrap();
        let artifact = image.primary_artifact(TaskType::TextToImage).unwrap();
        assert_eq!(
            (artifact.url.as_str(), artifact.extension),
            ("https://a/i.png", "png")
        );
        assert_eq!(image.result_urls()["image_urls[0]"], "https://a/i.png");
    }

    #[test]
    fn expired_and_unknown_statuses_are_accepted() {
        let expired: Task =
            serde_json::from_value(json!({"id": "t", "status": "EXPIRED"})).unwrap();
        assert!(expired.is_terminal());
        let new: Task = serde_json::from_value(json!({"id": "t", "status": "QUEUED"})).unwrap();
        assert_eq!(new.status, TaskStatus::Other("QUEUED".into()));
        assert!(!new.is_terminal());
        assert_eq!(serde_json::to_value(&new).unwrap()["status"], "QUEUED");
    }

    #[test]
    fn unknown_fields_are_written_back_unchanged() {
        let body = json!({
            "id": "t", "status": "SUCCEEDED", "progress": 100,
            "brand_new_field": {"nested": [1, 2.5, "x", null]},
            "model_urls": {"glb": "https://a/m.glb", "future_format": "https://a/m.fut"},
            "task_error": {"message": "", "trace_id": "abc"},
            "consumed_credits": 20
        });
        let task: Task = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(serde_json::to_value(&task).unwrap(), body);
    }

    /// A v2 task object as Meshy's v2 pages show it: results in `output`, the request
    /// in `input`, `null` timestamps while unset.
    fn v2_succeeded() -> Value {
        json!({
            "id": "019b0000-0000-7000-8000-000000000001", "type": "image-to-3d",
            "status": "SUCCEEDED", "progress": 100,
            "created_at": 1780000000000u64, "started_at": 1780000001000u64,
            "finished_at": 1780000060000u64, "expires_at": null,
            "preceding_tasks": 0, "consumed_credits": 30, "task_error": null,
            "input": {"image_url": "https://example.com/otter.png", "should_texture": true,
                      "texture_model": "meshy-6-lite"},
            "output": {"model_urls": {"glb": "https://assets.meshy.ai/t/model.glb", "fbx": ""},
                       "thumbnail_url": "https://assets.meshy.ai/t/preview.png",
                       "texture_urls": [{"base_color": "https://assets.meshy.ai/t/c.png"}]},
            "future_field": {"kept": true}
        })
    }

    #[test]
    fn a_v2_task_reads_like_a_v1_task_and_round_trips() {
        let body = v2_succeeded();
        let task: Task = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(task.status, TaskStatus::Succeeded);
        assert_eq!(task.expires_at, None, "null is unset");
        assert_eq!(
            task.model_url("glb"),
            Some("https://assets.meshy.ai/t/model.glb")
        );
        assert_eq!(task.model_url("fbx"), None, "an empty URL is no URL");
        assert_eq!(task.model_formats(), ["glb"]);
        assert_eq!(
            task.thumbnail(),
            Some("https://assets.meshy.ai/t/preview.png")
        );
        assert_eq!(
            task.primary_artifact(TaskType::Image3d).map(|a| a.url),
            Some("https://assets.meshy.ai/t/model.glb".to_owned())
        );
        let urls = task.result_urls();
        assert_eq!(urls["glb"], "https://assets.meshy.ai/t/model.glb");
        assert_eq!(
            urls["thumbnail_url"],
            "https://assets.meshy.ai/t/preview.png"
        );
        assert_eq!(urls.len(), 2, "{urls:?}");
        // Nothing lost (a `null` is written as an absent field, as for v1).
        let written = serde_json::to_value(&task).unwrap();
        for field in [
            "input",
            "output",
            "future_field",
            "type",
            "consumed_credits",
        ] {
            assert_eq!(written[field], body[field], "{field}");
        }
        assert_eq!(serde_json::from_value::<Task>(written).unwrap(), task);
        // A pending one: `output: null`, nothing to read yet.
        let mut pending = body;
        pending["status"] = json!("PENDING");
        pending["output"] = Value::Null;
        pending["finished_at"] = Value::Null;
        let task: Task = serde_json::from_value(pending).unwrap();
        assert_eq!(task.finished_at, None);
        assert_eq!(task.model_url("glb"), None);
        assert!(task.result_urls().is_empty());
    }

    #[test]
    fn v2_rigging_animation_and_image_results_read_through_the_same_accessors() {
        let task: Task = serde_json::from_value(json!({
            "id": "r", "type": "rig", "status": "SUCCEEDED",
            "output": {"rigged_character_glb_url": "https://a/rig.glb",
                       "rigged_character_fbx_url": "https://a/rig.fbx"}
        }))
        .unwrap();
        assert_eq!(
            task.result_url("rigged_character_glb_url"),
            Some("https://a/rig.glb")
        );
        assert_eq!(
            task.primary_artifact(TaskType::Rigging).map(|a| a.url),
            Some("https://a/rig.glb".to_owned())
        );
        assert_eq!(
            task.result_urls()["result.rigged_character_fbx_url"],
            "https://a/rig.fbx"
        );
        let image: Task = serde_json::from_value(json!({
            "id": "i", "status": "SUCCEEDED",
            "output": {"image_urls": ["https://a/1.png", "https://a/2.png"]}
        }))
        .unwrap();
        assert_eq!(image.images(), ["https://a/1.png", "https://a/2.png"]);
        assert_eq!(
            image.primary_artifact(TaskType::TextToImage).map(|a| a.url),
            Some("https://a/1.png".to_owned())
        );
        assert_eq!(image.result_urls()["image_urls[1]"], "https://a/2.png");
        let canceled: Task =
            serde_json::from_value(json!({"id": "c", "status": "CANCELED", "output": null}))
                .unwrap();
        assert!(canceled.is_terminal(), "CANCELED is final");
    }

    #[test]
    fn a_create_answer_names_its_task_in_either_generation() {
        assert_eq!(created_task_id(&json!({"result": "t1"})), Some("t1"));
        let v2 = json!({"id": "t2", "status": "PENDING", "output": null, "input": {"prompt": "x"}});
        assert_eq!(created_task_id(&v2), Some("t2"));
        for other in [
            json!({"result": ""}),
            json!({"result": 7}),
            json!({"id": "t3"}),
            json!({"message": "Invalid API key"}),
            json!([]),
        ] {
            assert_eq!(created_task_id(&other), None, "{other}");
        }
    }
}
