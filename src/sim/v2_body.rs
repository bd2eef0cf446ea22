//! The API v2 task object (`meshy-api-v2.md`, "The task object"): the same top level for
//! every type — `id, type, status, progress, created_at, started_at, finished_at,
//! expires_at` (epoch ms, `null` while unset), `preceding_tasks, consumed_credits,
//! task_error` (four fields or `null`), `input` (the request as sent) — and the results
//! in `output` (`null` until SUCCEEDED). Rendered from the same simulated task as the v1
//! body, whichever API created it, so a v2 read or a v2 webhook of a v1-created task
//! shows the same files.

use serde_json::{Map, Value, json};

use super::task::SimTask;
use crate::meshy::{ApiGeneration, TaskStatus, TaskType};

/// How long results are kept after the task ends (3 days, as v1's `expires_at`).
const KEPT_MS: i64 = 3 * 24 * 3600 * 1000;

impl SimTask {
    /// The v2 task object. `preceding` is the number of unfinished tasks ahead of it;
    /// v2's `preceding_tasks` is the queue position (1 = next), `null` once it started
    /// (unconfirmed: docs/unconfirmed.md).
    pub fn v2_body(&self, assets: &str, preceding: usize) -> Value {
        let ms = |t: i64| if t == 0 { Value::Null } else { json!(t) };
        let finished = self.status.is_terminal();
        let position = if self.status == TaskStatus::Pending {
            json!(preceding + 1)
        } else {
            Value::Null
        };
        let credits = if self.status == TaskStatus::Failed {
            0
        } else {
            self.credits
        };
        let task_error = if self.status == TaskStatus::Failed {
            four_fields(self.behaviour.task_error())
        } else {
            Value::Null
        };
        let output = if self.status == TaskStatus::Succeeded {
            self.v2_output(assets)
        } else {
            Value::Null
        };
        json!({
            "id": self.id,
            "type": self.task_type.v2_type(),
            "status": self.status.as_str(),
            "progress": self.progress,
            "created_at": ms(self.created_at),
            "started_at": ms(self.started_at),
            "finished_at": ms(self.finished_at),
            "expires_at": if finished && self.finished_at != 0 {
                json!(self.finished_at + KEPT_MS)
            } else {
                Value::Null
            },
            "preceding_tasks": position,
            "consumed_credits": credits,
            "task_error": task_error,
            "input": Value::Object(self.request.clone()),
            "output": output,
        })
    }

    /// The results of a SUCCEEDED task: the v1 body's result fields, moved into one
    /// object (rigging, animation and text-to-motion: v1's `result` keys; print analysis:
    /// its `printability` report; rig check: `riggable`).
    fn v2_output(&self, assets: &str) -> Value {
        let v1 = self.body(assets, 0);
        let take = |names: &[&str]| -> Value {
            let picked: Map<String, Value> = names
                .iter()
                .filter_map(|name| Some(((*name).to_owned(), v1.get(*name)?.clone())))
                .collect();
            Value::Object(picked)
        };
        match self.task_type {
            TaskType::Rigging | TaskType::Animation | TaskType::TextToMotion => {
                v1.get("result").cloned().unwrap_or_else(|| json!({}))
            }
            TaskType::PrintAnalyze => take(&["printability"]),
            TaskType::RigCheck => json!({"riggable": true}),
            TaskType::TextToImage | TaskType::ImageToImage => take(&["image_urls"]),
            _ => {
                let mut output =
                    take(&["model_urls", "thumbnail_url", "texture_urls", "video_url"]);
                if self.v2_textured()
                    && let Some(fields) = output.as_object_mut()
                {
                    fields.insert(
                        "texture_urls".into(),
                        json!([{ "base_color": self.asset_url(assets, "texture_0.png") }]),
                    );
                }
                output
            }
        }
    }

    /// Whether a v2-created generation was textured (`should_texture` defaults to true)
    /// or is a retexture.
    fn v2_textured(&self) -> bool {
        if self.generation != ApiGeneration::V2 {
            return false;
        }
        match self.task_type {
            TaskType::Retexture => true,
            TaskType::Text3d | TaskType::Image3d | TaskType::MultiImage3d => self
                .request
                .get("should_texture")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            _ => false,
        }
    }
}

/// A `task_error` with v2's four fields (`type`, `code`, `message`, `doc_url`), those a
/// rule left out filled in.
fn four_fields(error: Value) -> Value {
    let mut fields = error.as_object().cloned().unwrap_or_default();
    for (name, default) in [
        ("type", json!("server_error")),
        ("code", json!("server_error")),
        ("message", json!("")),
        ("doc_url", Value::Null),
    ] {
        fields.entry(name).or_insert(default);
    }
    Value::Object(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::behaviour::{Behaviour, Outcome};

    fn task(task_type: TaskType, generation: ApiGeneration) -> SimTask {
        SimTask {
            id: "019a97e6-58dc-7430-85a1-9bf2d9e97430".into(),
            task_type,
            request: json!({"prompt": "Cute otter"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            callback_url: None,
            behaviour: Behaviour::default(),
            status: TaskStatus::Pending,
            progress: 0,
            created_at: 1_763_500_000_000,
            started_at: 0,
            finished_at: 0,
            credits: 20,
            sample: false,
            api_version: crate::sim::ApiVersion::default(),
            generation,
            metadata: None,
            key_suffix: "5678".into(),
        }
    }

    fn finished(mut t: SimTask) -> SimTask {
        for step in t.plan() {
            t.advance(&step, 1_763_500_050_000);
        }
        t
    }

    /// Sorted key paths, one level into `output`.
    fn key_paths(body: &Value) -> String {
        let mut paths = Vec::new();
        for (key, value) in body.as_object().unwrap() {
            match value {
                Value::Object(inner) if key == "output" && !inner.is_empty() => {
                    paths.extend(inner.keys().map(|k| format!("{key}.{k}")));
                }
                _ => paths.push(key.clone()),
            }
        }
        paths.sort();
        paths.join(" ")
    }

    #[test]
    fn a_pending_v2_task_has_nulls_where_unset_and_no_output() {
        let body = task(TaskType::Image3d, ApiGeneration::V2).v2_body("http://s/assets", 2);
        assert_eq!(body["type"], "image-to-3d");
        assert_eq!(body["status"], "PENDING");
        for field in [
            "started_at",
            "finished_at",
            "expires_at",
            "task_error",
            "output",
        ] {
            assert_eq!(body[field], Value::Null, "{field}");
        }
        assert_eq!(body["preceding_tasks"], 3, "the position, 1 = next");
        assert_eq!(body["input"], json!({"prompt": "Cute otter"}));
        assert_eq!(body["consumed_credits"], 20);
    }

    #[test]
    fn every_task_types_v2_field_set_is_pinned() {
        let mut table = String::new();
        for task_type in TaskType::ALL {
            let body = finished(task(task_type, ApiGeneration::V2)).v2_body("http://s/assets", 0);
            assert_eq!(body["type"], task_type.v2_type(), "{task_type}");
            table.push_str(&format!("{task_type}: {}\n", key_paths(&body)));
        }
        assert_eq!(
            table, PINNED_V2_FIELD_SETS,
            "the v2 field sets changed:\n{table}"
        );
    }

    #[test]
    fn v2_tasks_make_glb_only_unless_asked_and_textured_ones_carry_textures() {
        let body =
            finished(task(TaskType::Text3d, ApiGeneration::V2)).v2_body("http://s/assets", 0);
        let formats: Vec<&String> = body["output"]["model_urls"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(formats, ["glb"]);
        assert!(body["output"]["texture_urls"][0]["base_color"].is_string());
        let v1 = finished(task(TaskType::Text3d, ApiGeneration::V1)).v2_body("http://s/assets", 0);
        assert_eq!(
            v1["output"]["model_urls"].as_object().unwrap().len(),
            4,
            "v1 made four"
        );
        assert_eq!(v1["type"], "text-to-3d");
    }

    #[test]
    fn a_failed_v2_task_is_refunded_and_its_error_has_four_fields() {
        let mut t = task(TaskType::Remesh, ApiGeneration::V2);
        t.behaviour.outcome = Outcome::Failed;
        let body = finished(t).v2_body("http://s/assets", 0);
        assert_eq!(body["status"], "FAILED");
        assert_eq!(body["consumed_credits"], 0);
        assert_eq!(body["output"], Value::Null);
        let error = body["task_error"].as_object().unwrap();
        let mut keys: Vec<&String> = error.keys().collect();
        keys.sort();
        assert_eq!(keys, ["code", "doc_url", "message", "type"]);
        assert!(body["expires_at"].is_i64());
    }

    const PINNED_V2_FIELD_SETS: &str = "\
text3d: consumed_credits created_at expires_at finished_at id input output.model_urls output.texture_urls output.thumbnail_url output.video_url preceding_tasks progress started_at status task_error type
text3d_refine: consumed_credits created_at expires_at finished_at id input output.model_urls output.texture_urls output.thumbnail_url output.video_url preceding_tasks progress started_at status task_error type
image3d: consumed_credits created_at expires_at finished_at id input output.model_urls output.texture_urls output.thumbnail_url preceding_tasks progress started_at status task_error type
multi_image3d: consumed_credits created_at expires_at finished_at id input output.model_urls output.texture_urls output.thumbnail_url preceding_tasks progress started_at status task_error type
remesh: consumed_credits created_at expires_at finished_at id input output.model_urls output.texture_urls output.thumbnail_url preceding_tasks progress started_at status task_error type
retexture: consumed_credits created_at expires_at finished_at id input output.model_urls output.texture_urls output.thumbnail_url preceding_tasks progress started_at status task_error type
rigging: consumed_credits created_at expires_at finished_at id input output.basic_animations output.rigged_character_fbx_url output.rigged_character_glb_url preceding_tasks progress started_at status task_error type
animation: consumed_credits created_at expires_at finished_at id input output.animation_fbx_url output.animation_glb_url output.processed_animation_fps_fbx_url output.processed_armature_fbx_url output.processed_usdz_url preceding_tasks progress started_at status task_error type
text_to_image: consumed_credits created_at expires_at finished_at id input output.image_urls preceding_tasks progress started_at status task_error type
image_to_image: consumed_credits created_at expires_at finished_at id input output.image_urls preceding_tasks progress started_at status task_error type
text_to_motion: consumed_credits created_at expires_at finished_at id input output.motion_format output.motion_url preceding_tasks progress started_at status task_error type
convert: consumed_credits created_at expires_at finished_at id input output.model_urls output.texture_urls output.thumbnail_url preceding_tasks progress started_at status task_error type
resize: consumed_credits created_at expires_at finished_at id input output.model_urls output.texture_urls output.thumbnail_url preceding_tasks progress started_at status task_error type
uv_unwrap: consumed_credits created_at expires_at finished_at id input output.model_urls output.texture_urls output.thumbnail_url preceding_tasks progress started_at status task_error type
print_analyze: consumed_credits created_at expires_at finished_at id input output.printability preceding_tasks progress started_at status task_error type
print_repair: consumed_credits created_at expires_at finished_at id input output.model_urls output.texture_urls output.thumbnail_url preceding_tasks progress started_at status task_error type
print_multi_color: consumed_credits created_at expires_at finished_at id input output.model_urls output.texture_urls output.thumbnail_url preceding_tasks progress started_at status task_error type
rig_check: consumed_credits created_at expires_at finished_at id input output.riggable preceding_tasks progress started_at status task_error type
";
}
