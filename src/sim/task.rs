//! A simulated task: its state, its lifecycle plan, and its JSON body rendered with
//! the field set the real API sends at each status (see `meshy-api.md`): the real
//! traffic's shape for text-to-3d, the documented shape for the other types.

// v1's refine and routes stay spoken here: v1 recordings replay, and v1 works until 2027-03-15.
#![allow(deprecated)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::behaviour::{Behaviour, Outcome};
use crate::digest::sha256_hex;
use crate::meshy::{TaskStatus, TaskType};

/// Model formats a task produces by default (what real text-to-3d returned).
const DEFAULT_FORMATS: [&str; 4] = ["glb", "fbx", "usdz", "obj"];

/// One simulated task.
#[derive(Debug, Clone)]
pub struct SimTask {
    pub id: String,
    pub task_type: TaskType,
    /// The create request's fields (without `callback_url`).
    pub request: Map<String, Value>,
    pub callback_url: Option<String>,
    pub behaviour: Behaviour,
    pub status: TaskStatus,
    pub progress: u32,
    pub created_at: i64,
    pub started_at: i64,
    pub finished_at: i64,
    pub credits: u64,
    /// Created with the test-mode key: a fixed sample, not part of the account.
    pub sample: bool,
    /// The API version its bodies follow.
    pub api_version: super::ApiVersion,
    /// The API generation that created it: v2 tasks produce only GLB unless asked.
    pub generation: crate::meshy::ApiGeneration,
    /// The `X-Meshy-Metadata` pairs of its create request (v2), for usage records.
    pub metadata: Option<Map<String, Value>>,
    /// The last four characters of the key that created it, for usage records.
    pub key_suffix: String,
}

/// One step of a task's life: the status and progress it moves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub status: TaskStatus,
    pub progress: u32,
}

impl SimTask {
    /// The steps after PENDING, ending in the behaviour's outcome.
    pub fn plan(&self) -> Vec<Step> {
        let running = |progress| Step {
            status: TaskStatus::InProgress,
            progress,
        };
        let steps = match self.behaviour.outcome {
            Outcome::Succeeded => {
                let mut steps: Vec<Step> = [10, 39, 66, 93, 99].into_iter().map(running).collect();
                steps.push(Step {
                    status: TaskStatus::Succeeded,
                    progress: 100,
                });
                steps
            }
            Outcome::Failed => vec![
                running(10),
                running(39),
                Step {
                    status: TaskStatus::Failed,
                    progress: 39,
                },
            ],
            Outcome::Canceled => vec![
                running(10),
                Step {
                    status: TaskStatus::Canceled,
                    progress: 10,
                },
            ],
        };
        // A task that starts past some steps (text-to-image at 30%) skips them.
        steps
            .into_iter()
            .filter(|s| s.status != TaskStatus::InProgress || s.progress > self.progress)
            .collect()
    }

    /// Moves the task to `step` at `now_ms`.
    pub fn advance(&mut self, step: &Step, now_ms: i64) {
        if self.started_at == 0 && step.status != TaskStatus::Pending {
            self.started_at = now_ms;
        }
        if step.status.is_terminal() {
            self.finished_at = now_ms;
        }
        self.status = step.status.clone();
        self.progress = step.progress;
    }

    /// The task object as the API returns and webhooks deliver it. `assets` is the
    /// base URL of the asset routes; `preceding` the number of tasks queued ahead.
    pub fn body(&self, assets: &str, preceding: usize) -> Value {
        let done = self.status == TaskStatus::Succeeded;
        let mut body = match self.task_type {
            TaskType::Text3d | TaskType::Text3dRefine => self.text_to_3d_fields(),
            _ => self.documented_fields(),
        };
        let fields = body.as_object_mut().expect("bodies are objects");
        fields.insert("id".into(), json!(self.id));
        fields.insert("status".into(), json!(self.status.as_str()));
        fields.insert("progress".into(), json!(self.progress));
        fields.insert("created_at".into(), json!(self.created_at));
        fields.insert("started_at".into(), json!(self.started_at));
        fields.insert("finished_at".into(), json!(self.finished_at));
        if self.status == TaskStatus::Pending {
            fields.insert("preceding_tasks".into(), json!(preceding));
        }
        let error = if self.status == TaskStatus::Failed {
            self.behaviour.task_error()
        } else {
            Value::Null
        };
        // Today's text-to-image tasks carry no `task_error` (meshy-api.md) unless they failed.
        if !(self.api_version.is_2026()
            && self.task_type == TaskType::TextToImage
            && self.status != TaskStatus::Failed)
        {
            fields.insert("task_error".into(), error);
        }
        self.insert_results(fields, assets, done);
        // Today's text-to-image frames before the end carry no finish, expiry or images
        // (January 2026 stream).
        if self.api_version.is_2026()
            && self.task_type == TaskType::TextToImage
            && !self.status.is_terminal()
        {
            for field in ["finished_at", "expires_at", "image_urls"] {
                fields.remove(field);
            }
        }
        body
    }

    fn text_to_3d_fields(&self) -> Value {
        let text = |field: &str| {
            self.request
                .get(field)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let mode = if self.task_type == TaskType::Text3d {
            "preview"
        } else {
            "refine"
        };
        let mut fields = json!({
            "mode": mode,
            "name": "",
            "seed": self.request.get("seed").cloned().unwrap_or_else(|| json!(self.seed())),
            "art_style": self.request.get("art_style").cloned().unwrap_or_else(|| json!("realistic")),
            "texture_richness": "",
            "prompt": text("prompt"),
            "negative_prompt": "",
            "texture_prompt": text("texture_prompt"),
            "texture_image_url": text("texture_image_url"),
        });
        if self.api_version.is_2026() {
            fields["type"] = json!(self.task_type.api_type());
        }
        fields
    }

    fn documented_fields(&self) -> Value {
        let mut fields = json!({ "type": self.task_type.api_type() });
        if self.api_version.is_2026() {
            // January 2026 traffic: rig and animate tasks carry `name` and `expires_at`
            // and end without `consumed_credits`; text-to-image carries `ai_model`,
            // `prompt` and `expires_at` and no credits.
            let expires = json!(self.created_at + 3 * 24 * 3600 * 1000);
            match self.task_type {
                TaskType::Rigging | TaskType::Animation => {
                    fields["name"] = json!("");
                    fields["expires_at"] = expires;
                    return fields;
                }
                TaskType::TextToImage | TaskType::ImageToImage => {
                    let text = |field: &str, default: &str| {
                        self.request
                            .get(field)
                            .and_then(Value::as_str)
                            .unwrap_or(default)
                            .to_owned()
                    };
                    fields["ai_model"] = json!(text("ai_model", "nano-banana"));
                    fields["prompt"] = json!(text("prompt", ""));
                    fields["expires_at"] = expires;
                    return fields;
                }
                _ => {}
            }
        }
        if self.status.is_terminal() {
            fields["expires_at"] = json!(self.finished_at + 3 * 24 * 3600 * 1000);
            fields["consumed_credits"] = json!(if self.status == TaskStatus::Succeeded {
                self.credits
            } else {
                0
            });
        }
        fields
    }

    fn insert_results(&self, fields: &mut Map<String, Value>, assets: &str, done: bool) {
        let url = |file: &str| self.asset_url(assets, file);
        match self.task_type {
            TaskType::Rigging => {
                // Today's rig frames carry the result keys from the first one, empty
                // until done (January 2026 stream).
                if done || self.api_version.is_2026() {
                    let url = |file: &str| if done { url(file) } else { String::new() };
                    let mut result = json!({
                        "rigged_character_glb_url": url("rigged_character.glb"),
                        "rigged_character_fbx_url": url("rigged_character.fbx"),
                        "basic_animations": {},
                    });
                    for action in ["walking", "running"] {
                        result["basic_animations"][format!("{action}_glb_url")] =
                            json!(url(&format!("{action}.glb")));
                        result["basic_animations"][format!("{action}_fbx_url")] =
                            json!(url(&format!("{action}.fbx")));
                        result["basic_animations"][format!("{action}_armature_glb_url")] =
                            json!(url(&format!("{action}_armature.glb")));
                    }
                    fields.insert("result".into(), result);
                }
            }
            TaskType::Animation => {
                if done || self.api_version.is_2026() {
                    let url = |file: &str| if done { url(file) } else { String::new() };
                    fields.insert(
                        "result".into(),
                        json!({
                            "animation_glb_url": url("animation.glb"),
                            "animation_fbx_url": url("animation.fbx"),
                            "processed_usdz_url": url("processed.usdz"),
                            "processed_armature_fbx_url": url("processed_armature.fbx"),
                            "processed_animation_fps_fbx_url": url("processed_animation_fps.fbx"),
                        }),
                    );
                }
            }
            TaskType::TextToImage | TaskType::ImageToImage => {
                let images = if done {
                    vec![url("image_0.png")]
                } else {
                    Vec::new()
                };
                fields.insert("image_urls".into(), json!(images));
            }
            // The result shapes of the newer endpoints follow Meshy's public API
            // reference and CLI (not yet seen in recorded traffic).
            TaskType::TextToMotion => {
                if done {
                    let swift = self.request.get("mode").and_then(Value::as_str) == Some("swift");
                    let format = if swift { "bvh" } else { "fbx" };
                    fields.insert(
                        "result".into(),
                        json!({"motion_url": url(&format!("motion.{format}")), "motion_format": format}),
                    );
                }
            }
            TaskType::RigCheck => {
                if done {
                    fields.insert("riggable".into(), json!(true));
                }
            }
            TaskType::PrintAnalyze => {
                if done {
                    fields.insert(
                        "printability".into(),
                        json!({
                            "_version": 1,
                            "status": "healthy",
                            "issue_count": 0,
                            "error_count": 0,
                            "warning_count": 0,
                            "metrics": {"watertight": true, "holes": 0, "non_manifold_edges": 0, "degenerate_faces": 0},
                            "evaluated_at": self.finished_at,
                        }),
                    );
                }
            }
            _ => {
                let mut models = Map::new();
                if done {
                    for format in self.formats() {
                        models.insert(format.clone(), json!(url(&format!("model.{format}"))));
                    }
                } else {
                    models.insert("glb".into(), json!(""));
                }
                fields.insert("model_urls".into(), Value::Object(models));
                let (thumbnail, video) = if done {
                    (url("preview.png"), url("output.mp4"))
                } else {
                    (String::new(), String::new())
                };
                // Today's refine results: an `mtl` next to the model, base-color textures.
                let refine_2026 =
                    self.api_version.is_2026() && self.task_type == TaskType::Text3dRefine;
                if done
                    && refine_2026
                    && let Some(Value::Object(models)) = fields.get_mut("model_urls")
                {
                    models.insert("mtl".into(), json!(url("model.mtl")));
                }
                fields.insert("thumbnail_url".into(), json!(thumbnail));
                if matches!(self.task_type, TaskType::Text3d | TaskType::Text3dRefine) {
                    fields.insert("video_url".into(), json!(video));
                }
                let textures = match (done, refine_2026) {
                    (true, true) => json!([{ "base_color": url("texture_0.png") }]),
                    (true, false) => json!([]),
                    (false, _) => Value::Null,
                };
                fields.insert("texture_urls".into(), textures);
            }
        }
    }

    /// Formats produced: `target_formats` when the request gives them, else the
    /// defaults; glb always comes first.
    fn formats(&self) -> Vec<String> {
        let requested: Vec<String> = self
            .request
            .get("target_formats")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        match self.task_type {
            _ if !requested.is_empty() => requested,
            TaskType::PrintMultiColor => vec!["3mf".into()],
            // API v2: GLB unless other formats are asked for.
            _ if self.generation == crate::meshy::ApiGeneration::V2 => vec!["glb".into()],
            TaskType::Resize | TaskType::UvUnwrap | TaskType::PrintRepair => vec!["glb".into()],
            _ => DEFAULT_FORMATS.map(String::from).to_vec(),
        }
    }

    /// A signed-looking CDN URL on the simulator's asset route, deterministic per task.
    pub(super) fn asset_url(&self, assets: &str, file: &str) -> String {
        let expires = self.created_at / 1000 + 3 * 24 * 3600;
        let signature = &sha256_hex(format!("{}/{file}", self.id).as_bytes())[..32];
        format!(
            "{assets}/tasks/{}/output/{file}?Expires={expires}&Signature={signature}&Key-Pair-Id=SIMULATOR",
            self.id
        )
    }

    fn seed(&self) -> u64 {
        u64::from_str_radix(&sha256_hex(self.id.as_bytes())[..8], 16).unwrap_or(0)
    }
}

/// Credits a task of this type costs (roughly Meshy's price list).
/// Meshy's prices where known (the one table, `meshy::pricing`); for the task types
/// whose price is not known, a stand-in.
pub fn credits(task_type: TaskType) -> u64 {
    crate::meshy::pricing::credits(task_type).unwrap_or(match task_type {
        TaskType::MultiImage3d => 30,
        _ => 3,
    })
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    crate::clock::now_ms()
}

/// A k-sortable UUIDv7-style id: 48-bit millisecond time, version 7, then a
/// process-wide counter, so ids sort in creation order even within one millisecond.
pub fn new_task_id() -> String {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = (now_ms() as u64) << 16;
    // Each id takes the next value above both the clock and the last id issued.
    let value = LAST
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
            Some(now.max(last + 1))
        })
        .map(|last| now.max(last + 1))
        .unwrap_or(now);
    let ms = value >> 16;
    let seq = value & 0xFFFF;
    let tail = u64::from_str_radix(&sha256_hex(&value.to_le_bytes())[..12], 16).unwrap_or(0);
    format!(
        "{:08x}-{:04x}-7{:03x}-{:04x}-{:012x}",
        ms >> 16,
        ms & 0xFFFF,
        seq >> 4,
        0x8000 | ((seq & 0xF) << 10) | (tail >> 38 & 0x3FF),
        tail & 0xFFFF_FFFF_FFFF
    )
}

/// The time one step of a task's life takes, given the task's total time.
pub fn step_delay(total: Duration, steps: usize) -> Duration {
    total / (steps as u32 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(task_type: TaskType, status: TaskStatus) -> SimTask {
        SimTask {
            id: "019a97e6-58dc-7430-85a1-9bf2d9e97430".into(),
            task_type,
            request: json!({"prompt": "Cute otter"}).as_object().unwrap().clone(),
            callback_url: None,
            behaviour: Behaviour::default(),
            status,
            progress: 0,
            created_at: 1_763_500_000_000,
            started_at: 0,
            finished_at: 0,
            credits: 20,
            sample: false,
            // The November 2025 traffic these tests pin; today's shapes are pinned below.
            api_version: crate::sim::ApiVersion::V2025_11_18,
            generation: crate::meshy::ApiGeneration::V1,
            metadata: None,
            key_suffix: "5678".into(),
        }
    }

    /// A task of today's API, run to its end.
    fn finished_2026(task_type: TaskType) -> SimTask {
        let mut t = task(task_type, TaskStatus::Pending);
        t.api_version = crate::sim::ApiVersion::V2026_01_27;
        for step in t.plan() {
            t.advance(&step, 1_763_500_050_000);
        }
        t
    }

    #[test]
    fn todays_bodies_have_the_january_2026_field_sets() {
        let keys_of = |task_type| {
            let body = finished_2026(task_type).body("http://s/assets", 0);
            let keys: Vec<String> = keys(&body).into_iter().map(str::to_owned).collect();
            (body, keys)
        };
        // Every task names its type.
        for task_type in TaskType::ALL {
            let (body, _) = keys_of(task_type);
            assert_eq!(body["type"], task_type.api_type(), "{task_type}");
        }
        let (preview, keys) = keys_of(TaskType::Text3d);
        assert!(keys.contains(&"name".to_owned()) && preview["name"] == "");
        assert!(preview.get("consumed_credits").is_none());
        let (refine, _) = keys_of(TaskType::Text3dRefine);
        assert!(
            refine["model_urls"]["mtl"]
                .as_str()
                .unwrap()
                .contains("/output/model.mtl")
        );
        assert!(
            refine["texture_urls"][0]["base_color"]
                .as_str()
                .unwrap()
                .contains("/output/texture_0.png")
        );
        for task_type in [TaskType::Rigging, TaskType::Animation] {
            let (body, keys) = keys_of(task_type);
            assert_eq!(body["name"], "", "{task_type}");
            assert!(body["expires_at"].is_i64(), "{task_type}");
            assert!(
                !keys.contains(&"consumed_credits".to_owned())
                    && !keys.contains(&"preceding_tasks".to_owned()),
                "{task_type}: {keys:?}"
            );
        }
        let (image, keys) = keys_of(TaskType::TextToImage);
        assert_eq!(
            keys,
            [
                "ai_model",
                "created_at",
                "expires_at",
                "finished_at",
                "id",
                "image_urls",
                "progress",
                "prompt",
                "started_at",
                "status",
                "type"
            ]
        );
        assert_eq!(image["ai_model"], "nano-banana");
    }

    /// Every task type's finished body, per API version, as sorted key paths (one
    /// level into objects): the pinned field sets.
    fn key_paths(task_type: TaskType, version: crate::sim::ApiVersion) -> String {
        let mut t = task(task_type, TaskStatus::Pending);
        t.api_version = version;
        t.request
            .insert("target_formats".into(), json!(["glb", "stl"]));
        for step in t.plan() {
            t.advance(&step, 1_763_500_050_000);
        }
        let body = t.body("http://s/assets", 0);
        let mut paths = Vec::new();
        for (key, value) in body.as_object().unwrap() {
            match value {
                Value::Object(inner) if !inner.is_empty() => {
                    paths.extend(inner.keys().map(|k| format!("{key}.{k}")));
                }
                _ => paths.push(key.clone()),
            }
        }
        paths.sort();
        paths.join(" ")
    }

    #[test]
    fn every_task_types_field_set_is_pinned_for_both_api_versions() {
        let mut table = String::new();
        for version in crate::sim::ApiVersion::ALL {
            // rig_check exists only under API v2, whose task objects have their own pins.
            for task_type in TaskType::ALL
                .into_iter()
                .filter(|t| *t != TaskType::RigCheck)
            {
                table.push_str(&format!(
                    "{version} {task_type}: {}\n",
                    key_paths(task_type, version)
                ));
            }
        }
        assert_eq!(
            table, PINNED_FIELD_SETS,
            "the simulator's field sets changed:\n{table}"
        );
    }

    #[test]
    fn todays_text_to_image_skips_the_steps_below_where_it_starts() {
        let mut t = task(TaskType::TextToImage, TaskStatus::InProgress);
        t.progress = 30;
        let progress: Vec<u32> = t.plan().iter().map(|s| s.progress).collect();
        assert_eq!(progress, [39, 66, 93, 99, 100]);
    }

    fn keys(body: &Value) -> Vec<&str> {
        let mut keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort();
        keys
    }

    #[test]
    fn pending_text3d_body_has_the_real_field_set() {
        let body = task(TaskType::Text3d, TaskStatus::Pending).body("http://sim/assets", 3);
        let mut expected = vec![
            "id",
            "mode",
            "name",
            "seed",
            "art_style",
            "texture_richness",
            "prompt",
            "negative_prompt",
            "texture_prompt",
            "texture_image_url",
            "status",
            "created_at",
            "progress",
            "preceding_tasks",
            "started_at",
            "finished_at",
            "task_error",
            "model_urls",
            "thumbnail_url",
            "video_url",
            "texture_urls",
        ];
        expected.sort();
        assert_eq!(keys(&body), expected);
        assert_eq!(body["model_urls"], json!({"glb": ""}));
        assert_eq!(body["task_error"], Value::Null);
        assert_eq!(body["texture_urls"], Value::Null);
        assert_eq!(body["preceding_tasks"], 3);
    }

    #[test]
    fn succeeded_text3d_body_has_signed_urls_for_four_formats() {
        let mut t = task(TaskType::Text3d, TaskStatus::Pending);
        for step in t.plan() {
            t.advance(&step, 1_763_500_050_000);
        }
        let body = t.body("http://127.0.0.1:9/assets", 0);
        assert_eq!(body["status"], "SUCCEEDED");
        assert_eq!(body["progress"], 100);
        assert!(body.get("preceding_tasks").is_none());
        let glb = body["model_urls"]["glb"].as_str().unwrap();
        assert!(glb.starts_with("http://127.0.0.1:9/assets/tasks/019a97e6-58dc-7430-85a1-9bf2d9e97430/output/model.glb?Expires="));
        assert!(glb.contains("&Signature=") && glb.contains("&Key-Pair-Id="));
        let formats: Vec<&str> = body["model_urls"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(formats.len(), 4);
        assert_eq!(body["texture_urls"], json!([]));
        assert_eq!(
            body,
            t.body("http://127.0.0.1:9/assets", 0),
            "bodies are deterministic"
        );
    }

    #[test]
    fn rigging_animation_and_image_results_use_documented_fields() {
        let mut rig = task(TaskType::Rigging, TaskStatus::Succeeded);
        rig.finished_at = 1;
        let body = rig.body("http://s/assets", 0);
        assert_eq!(body["type"], "rig");
        let rigged = body["result"]["rigged_character_glb_url"].as_str().unwrap();
        assert!(
            rigged.contains("/output/rigged_character.glb?Expires="),
            "{rigged}"
        );
        assert!(body["result"]["basic_animations"]["walking_armature_glb_url"].is_string());
        assert!(body.get("expires_at").is_some() && body.get("consumed_credits").is_some());
        let anim = task(TaskType::Animation, TaskStatus::Succeeded).body("http://s/assets", 0);
        assert!(anim["result"]["processed_animation_fps_fbx_url"].is_string());
        let image = task(TaskType::TextToImage, TaskStatus::Succeeded).body("http://s/assets", 0);
        assert_eq!(image["image_urls"].as_array().unwrap().len(), 1);
        let pending_rig = task(TaskType::Rigging, TaskStatus::Pending).body("http://s/assets", 0);
        assert!(pending_rig.get("result").is_none());
    }

    #[test]
    fn failed_task_carries_a_documented_task_error() {
        let mut t = task(TaskType::Text3d, TaskStatus::Pending);
        t.behaviour.outcome = Outcome::Failed;
        for step in t.plan() {
            t.advance(&step, 5);
        }
        let body = t.body("http://s/assets", 0);
        assert_eq!(body["status"], "FAILED");
        assert_eq!(body["task_error"]["type"], "server_error");
        assert_eq!(body["model_urls"], json!({"glb": ""}));
    }

    #[test]
    fn ids_are_uuid_shaped_and_sort_in_creation_order() {
        let ids: Vec<String> = (0..2000).map(|_| new_task_id()).collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "ids must be k-sortable"
        );
        for id in &ids[..5] {
            assert_eq!(id.len(), 36);
            assert_eq!(&id[14..15], "7", "{id}");
            assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        }
    }

    const PINNED_FIELD_SETS: &str = "\
        v2025.11.18 text3d: art_style created_at finished_at id mode model_urls.glb model_urls.stl name negative_prompt progress prompt seed started_at status task_error texture_image_url texture_prompt texture_richness texture_urls thumbnail_url video_url\n\
        v2025.11.18 text3d_refine: art_style created_at finished_at id mode model_urls.glb model_urls.stl name negative_prompt progress prompt seed started_at status task_error texture_image_url texture_prompt texture_richness texture_urls thumbnail_url video_url\n\
        v2025.11.18 image3d: consumed_credits created_at expires_at finished_at id model_urls.glb model_urls.stl progress started_at status task_error texture_urls thumbnail_url type\n\
        v2025.11.18 multi_image3d: consumed_credits created_at expires_at finished_at id model_urls.glb model_urls.stl progress started_at status task_error texture_urls thumbnail_url type\n\
        v2025.11.18 remesh: consumed_credits created_at expires_at finished_at id model_urls.glb model_urls.stl progress started_at status task_error texture_urls thumbnail_url type\n\
        v2025.11.18 retexture: consumed_credits created_at expires_at finished_at id model_urls.glb model_urls.stl progress started_at status task_error texture_urls thumbnail_url type\n\
        v2025.11.18 rigging: consumed_credits created_at expires_at finished_at id progress result.basic_animations result.rigged_character_fbx_url result.rigged_character_glb_url started_at status task_error type\n\
        v2025.11.18 animation: consumed_credits created_at expires_at finished_at id progress result.animation_fbx_url result.animation_glb_url result.processed_animation_fps_fbx_url result.processed_armature_fbx_url result.processed_usdz_url started_at status task_error type\n\
        v2025.11.18 text_to_image: consumed_credits created_at expires_at finished_at id image_urls progress started_at status task_error type\n\
        v2025.11.18 image_to_image: consumed_credits created_at expires_at finished_at id image_urls progress started_at status task_error type\n\
        v2025.11.18 text_to_motion: consumed_credits created_at expires_at finished_at id progress result.motion_format result.motion_url started_at status task_error type\n\
        v2025.11.18 convert: consumed_credits created_at expires_at finished_at id model_urls.glb model_urls.stl progress started_at status task_error texture_urls thumbnail_url type\n\
        v2025.11.18 resize: consumed_credits created_at expires_at finished_at id model_urls.glb model_urls.stl progress started_at status task_error texture_urls thumbnail_url type\n\
        v2025.11.18 uv_unwrap: consumed_credits created_at expires_at finished_at id model_urls.glb model_urls.stl progress started_at status task_error texture_urls thumbnail_url type\n\
        v2025.11.18 print_analyze: consumed_credits created_at expires_at finished_at id printability._version printability.error_count printability.evaluated_at printability.issue_count printability.metrics printability.status printability.warning_count progress started_at status task_error type\n\
        v2025.11.18 print_repair: consumed_credits created_at expires_at finished_at id model_urls.glb model_urls.stl progress started_at status task_error texture_urls thumbnail_url type\n\
        v2025.11.18 print_multi_color: consumed_credits created_at expires_at finished_at id model_urls.glb model_urls.stl progress started_at status task_error texture_urls thumbnail_url type\n\
        v2026.01.27 text3d: art_style created_at finished_at id mode model_urls.glb model_urls.stl name negative_prompt progress prompt seed started_at status task_error texture_image_url texture_prompt texture_richness texture_urls thumbnail_url type video_url\n\
        v2026.01.27 text3d_refine: art_style created_at finished_at id mode model_urls.glb model_urls.mtl model_urls.stl name negative_prompt progress prompt seed started_at status task_error texture_image_url texture_prompt texture_richness texture_urls thumbnail_url type video_url\n\
        v2026.01.27 image3d: consumed_credits created_at expires_at finished_at id model_urls.glb model_urls.stl progress started_at status task_error texture_urls thumbnail_url type\n\
        v2026.01.27 multi_image3d: consumed_credits created_at expires_at finished_at id model_urls.glb model_urls.stl progress started_at status task_error texture_urls thumbnail_url type\n\
        v2026.01.27 remesh: consumed_credits created_at expires_at finished_at id model_urls.glb model_urls.stl progress started_at status task_error texture_urls thumbnail_url type\n\
        v2026.01.27 retexture: consumed_credits created_at expires_at finished_at id model_urls.glb model_urls.stl progress started_at status task_error texture_urls thumbnail_url type\n\
        v2026.01.27 rigging: created_at expires_at finished_at id name progress result.basic_animations result.rigged_character_fbx_url result.rigged_character_glb_url started_at status task_error type\n\
        v2026.01.27 animation: created_at expires_at finished_at id name progress result.animation_fbx_url result.animation_glb_url result.processed_animation_fps_fbx_url result.processed_armature_fbx_url result.processed_usdz_url started_at status task_error type\n\
        v2026.01.27 text_to_image: ai_model created_at expires_at finished_at id image_urls progress prompt started_at status type\n\
        v2026.01.27 image_to_image: ai_model created_at expires_at finished_at id image_urls progress prompt started_at status task_error type\n\
        v2026.01.27 text_to_motion: consumed_credits created_at expires_at finished_at id progress result.motion_format result.motion_url started_at status task_error type\n\
        v2026.01.27 convert: consumed_credits created_at expires_at finished_at id model_urls.glb model_urls.stl progress started_at status task_error texture_urls thumbnail_url type\n\
        v2026.01.27 resize: consumed_credits created_at expires_at finished_at id model_urls.glb model_urls.stl progress started_at status task_error texture_urls thumbnail_url type\n\
        v2026.01.27 uv_unwrap: consumed_credits created_at expires_at finished_at id model_urls.glb model_urls.stl progress started_at status task_error texture_urls thumbnail_url type\n\
        v2026.01.27 print_analyze: consumed_credits created_at expires_at finished_at id printability._version printability.error_count printability.evaluated_at printability.issue_count printability.metrics printability.status printability.warning_count progress started_at status task_error type\n\
        v2026.01.27 print_repair: consumed_credits created_at expires_at finished_at id model_urls.glb model_urls.stl progress started_at status task_error texture_urls thumbnail_url type\n\
        v2026.01.27 print_multi_color: consumed_credits created_at expires_at finished_at id model_urls.glb model_urls.stl progress started_at status task_error texture_urls thumbnail_url type\n\
";
}
