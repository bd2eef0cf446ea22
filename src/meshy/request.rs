//! Create-task request bodies, one type per task type, with the field names of
//! Meshy's documentation (the old Python SDK sent some under wrong names).
//!
//! Optional fields are omitted when unset; fields we do not model go in `params` and
//! are sent as given. [`TaskRequest`] wraps them all, validates the documented
//! required fields before anything is sent, and computes the spec hash that keys an
//! asset in the repository.

// v1's refine and routes stay spoken here: v1 recordings replay, and v1 works until 2027-03-15.
#![allow(deprecated)]

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::TaskType;

/// Further API fields, sent as given.
pub type Params = Map<String, Value>;

/// `text3d`: `POST /openapi/v2/text-to-3d` with `mode: "preview"` (added when sent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Text3dPreview {
    /// At most 600 characters.
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_polycount: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub should_remesh: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symmetry_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pose_mode: Option<String>,
    /// Deprecated by Meshy, still accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub art_style: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moderation: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_formats: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(flatten)]
    pub params: Params,
}

/// `text3d_refine`: `POST /openapi/v2/text-to-3d` with `mode: "refine"`. API v1 only.
#[deprecated(
    since = "0.2.0",
    note = "API v1 only: v1's text-to-3d refine stops working on 2027-03-15. Under API v2 text-to-3d is one call: ask a text3d for a textured result (`should_texture: true` and a `texture_model`). See docs/api-v2.md."
)]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Text3dRefine {
    /// A SUCCEEDED `text3d` task.
    pub preview_task_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_pbr: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hd_texture: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub texture_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub texture_image_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_lighting: Option<bool>,
    #[serde(flatten)]
    pub params: Params,
}

/// `image3d`: `POST /openapi/v1/image-to-3d`; `image_url` (URL or data URI) or
/// `input_task_id` is required.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Image3d {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_task_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub should_texture: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_pbr: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub texture_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub should_remesh: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_polycount: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pose_mode: Option<String>,
    #[serde(flatten)]
    pub params: Params,
}

/// `multi_image3d`: `POST /openapi/v1/multi-image-to-3d` with 1 to 4 `image_urls`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MultiImage3d {
    pub image_urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub should_texture: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_pbr: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub texture_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub should_remesh: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_polycount: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pose_mode: Option<String>,
    #[serde(flatten)]
    pub params: Params,
}

/// `remesh`: `POST /openapi/v1/remesh`; `input_task_id` or `model_url` is required.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Remesh {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_task_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_formats: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_polycount: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize_height: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin_at: Option<String>,
    #[serde(flatten)]
    pub params: Params,
}

/// `retexture`: `POST /openapi/v1/retexture`; (`input_task_id` or `model_url`) and
/// (`text_style_prompt` or `image_style_url`) are required.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Retexture {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_task_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_style_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_style_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_original_uv: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_pbr: Option<bool>,
    #[serde(flatten)]
    pub params: Params,
}

/// `rigging`: `POST /openapi/v1/rigging`; `input_task_id` or `model_url` (a GLB).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rigging {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_task_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_url: Option<String>,
    /// Default on Meshy's side: 1.7.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height_meters: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub texture_image_url: Option<String>,
    #[serde(flatten)]
    pub params: Params,
}

/// `animation`: `POST /openapi/v1/animations`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Animation {
    /// A SUCCEEDED `rigging` task.
    pub rig_task_id: String,
    /// One action of the library. API v2 takes exactly one of `action_id`, `action_ids`
    /// (several actions, 3 credits each) and `motion_task_id` (the last two in `params`);
    /// v1 takes `action_id` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_process: Option<PostProcess>,
    #[serde(flatten)]
    pub params: Params,
}

/// `post_process` of an animation request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PostProcess {
    pub operation_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<u32>,
    #[serde(flatten)]
    pub params: Params,
}

/// `text_to_image`: `POST /openapi/v1/text-to-image`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TextToImage {
    pub ai_model: String,
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_multi_view: Option<bool>,
    #[serde(flatten)]
    pub params: Params,
}

// The request types below follow Meshy's public API reference (docs.meshy.ai) and its
// CLI's endpoint contracts, where `meshy-api.md` gives only the endpoint.

/// `image_to_image`: `POST /openapi/v1/image-to-image`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageToImage {
    /// `nano-banana`, `nano-banana-pro`, ….
    pub ai_model: String,
    pub prompt: String,
    /// 1 to 5 images (URLs or data URIs).
    pub reference_image_urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate_multi_view: Option<bool>,
    #[serde(flatten)]
    pub params: Params,
}

/// `text_to_motion`: `POST /openapi/v1/text-to-motion`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TextToMotion {
    /// At most 400 characters.
    pub prompt: String,
    /// Seconds, 2 to 10 in steps of 0.5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    /// `prime` (default, FBX) or `swift` (BVH).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(flatten)]
    pub params: Params,
}

/// A request on an existing model: `input_task_id` (a SUCCEEDED task) or `model_url`,
/// and the endpoint's own fields in `params`. Used by `convert` (`target_formats`),
/// `resize` (`resize_height`, `resize_longest_side` or `auto_size`; `origin_at`),
/// `uv_unwrap`, `rig_check`, `print_analyze` and `print_repair` (`printer_type`,
/// `intended_print_height_mm`), `print_multi_color` (`max_colors`, `max_depth`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelJob {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_task_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_url: Option<String>,
    #[serde(flatten)]
    pub params: Params,
}

/// A create-task request of any type.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskRequest {
    Text3d(Text3dPreview),
    /// API v1 only.
    #[deprecated(
        since = "0.2.0",
        note = "API v1 only: v1's text-to-3d refine stops working on 2027-03-15. Under API v2 text-to-3d is one call: ask a text3d for a textured result (`should_texture: true` and a `texture_model`). See docs/api-v2.md."
    )]
    Text3dRefine(Text3dRefine),
    Image3d(Image3d),
    MultiImage3d(MultiImage3d),
    Remesh(Remesh),
    Retexture(Retexture),
    Rigging(Rigging),
    Animation(Animation),
    TextToImage(TextToImage),
    ImageToImage(ImageToImage),
    TextToMotion(TextToMotion),
    /// `convert`, `resize`, `uv_unwrap`, `print_analyze`, `print_repair`,
    /// `print_multi_color`, `rig_check`: a model job of that type.
    ModelJob(TaskType, ModelJob),
}

/// A request that Meshy would refuse, caught before it is sent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid {task_type} request: {message}")]
pub struct RequestError {
    pub task_type: TaskType,
    pub message: String,
}

/// The documented maximum prompt length of text-to-3d.
pub const MAX_PROMPT_CHARS: usize = 600;

impl TaskRequest {
    /// Builds a typed request from a JSON object of API fields (as a scenario's
    /// `prompt` and `[params]` give them), then validates it.
    pub fn from_json(task_type: TaskType, fields: Value) -> Result<TaskRequest, RequestError> {
        let request = match task_type {
            TaskType::Text3d => TaskRequest::Text3d(typed(task_type, fields)?),
            TaskType::Text3dRefine => TaskRequest::Text3dRefine(typed(task_type, fields)?),
            TaskType::Image3d => TaskRequest::Image3d(typed(task_type, fields)?),
            TaskType::MultiImage3d => TaskRequest::MultiImage3d(typed(task_type, fields)?),
            TaskType::Remesh => TaskRequest::Remesh(typed(task_type, fields)?),
            TaskType::Retexture => TaskRequest::Retexture(typed(task_type, fields)?),
            TaskType::Rigging => TaskRequest::Rigging(typed(task_type, fields)?),
            TaskType::Animation => TaskRequest::Animation(typed(task_type, fields)?),
            TaskType::TextToImage => TaskRequest::TextToImage(typed(task_type, fields)?),
            TaskType::ImageToImage => TaskRequest::ImageToImage(typed(task_type, fields)?),
            TaskType::TextToMotion => TaskRequest::TextToMotion(typed(task_type, fields)?),
            TaskType::Convert
            | TaskType::Resize
            | TaskType::UvUnwrap
            | TaskType::PrintAnalyze
            | TaskType::PrintRepair
            | TaskType::PrintMultiColor
            | TaskType::RigCheck => TaskRequest::ModelJob(task_type, typed(task_type, fields)?),
        };
        request.validate()?;
        Ok(request)
    }

    pub fn task_type(&self) -> TaskType {
        match self {
            TaskRequest::Text3d(_) => TaskType::Text3d,
            TaskRequest::Text3dRefine(_) => TaskType::Text3dRefine,
            TaskRequest::Image3d(_) => TaskType::Image3d,
            TaskRequest::MultiImage3d(_) => TaskType::MultiImage3d,
            TaskRequest::Remesh(_) => TaskType::Remesh,
            TaskRequest::Retexture(_) => TaskType::Retexture,
            TaskRequest::Rigging(_) => TaskType::Rigging,
            TaskRequest::Animation(_) => TaskType::Animation,
            TaskRequest::TextToImage(_) => TaskType::TextToImage,
            TaskRequest::ImageToImage(_) => TaskType::ImageToImage,
            TaskRequest::TextToMotion(_) => TaskType::TextToMotion,
            TaskRequest::ModelJob(task_type, _) => *task_type,
        }
    }

    /// The JSON body sent to the API (`mode` included for text-to-3d).
    pub fn to_json(&self) -> Value {
        let (mut body, mode) = match self {
            TaskRequest::Text3d(r) => (to_value(r), Some("preview")),
            TaskRequest::Text3dRefine(r) => (to_value(r), Some("refine")),
            TaskRequest::Image3d(r) => (to_value(r), None),
            TaskRequest::MultiImage3d(r) => (to_value(r), None),
            TaskRequest::Remesh(r) => (to_value(r), None),
            TaskRequest::Retexture(r) => (to_value(r), None),
            TaskRequest::Rigging(r) => (to_value(r), None),
            TaskRequest::Animation(r) => (to_value(r), None),
            TaskRequest::TextToImage(r) => (to_value(r), None),
            TaskRequest::ImageToImage(r) => (to_value(r), None),
            TaskRequest::TextToMotion(r) => (to_value(r), None),
            TaskRequest::ModelJob(_, r) => (to_value(r), None),
        };
        if let (Some(mode), Some(fields)) = (mode, body.as_object_mut()) {
            fields.insert("mode".into(), Value::from(mode));
        }
        body
    }

    /// The JSON body sent to the API of `generation`. v1: [`TaskRequest::to_json`]
    /// (`mode` for text-to-3d). v2: no `mode`; a text3d is v2's one-call text-to-3d,
    /// untextured (`should_texture: false`, what a v1 preview was) unless its params ask
    /// for a texture (`should_texture: true` and a `texture_model`); a retexture's
    /// `text_style_prompt`/`image_style_url` go as `texture_prompt`/`texture_image_url`.
    /// A `text3d_refine` has no v2 body: [`RequestError`].
    pub fn body(&self, generation: super::ApiGeneration) -> Result<Value, RequestError> {
        let mut body = self.to_json();
        if generation == super::ApiGeneration::V1 {
            return Ok(body);
        }
        if let TaskRequest::Text3dRefine(_) = self {
            return Err(RequestError {
                task_type: TaskType::Text3dRefine,
                message: "Meshy API v2 has no refine step: its text-to-3d is one call (a textured text3d \
                          sets should_texture = true and names a texture_model); use v1 until 2027-03-15 \
                          for a refine"
                    .into(),
            });
        }
        if let (TaskRequest::Text3d(_), Some(fields)) = (self, body.as_object_mut()) {
            fields.remove("mode");
            fields.entry("should_texture").or_insert(Value::Bool(false));
        }
        // The typed retexture's style fields under their v2 names (a scenario's prompt
        // lands in `text_style_prompt`); both names at once would lose one value.
        if let (TaskRequest::Retexture(_), Some(fields)) = (self, body.as_object_mut()) {
            for (v1, v2) in [
                ("text_style_prompt", "texture_prompt"),
                ("image_style_url", "texture_image_url"),
            ] {
                let Some(value) = fields.remove(v1) else {
                    continue;
                };
                if fields.contains_key(v2) {
                    return Err(RequestError {
                        task_type: TaskType::Retexture,
                        message: format!(
                            "both {v1} (v1's name, where a scenario's prompt goes) and {v2} are given; \
                             under API v2 they are one field, {v2}: give it once"
                        ),
                    });
                }
                fields.insert(v2.to_owned(), value);
            }
        }
        Ok(body)
    }

    /// The ids of the tasks this request builds on (preview, input or rig task).
    pub fn input_task_ids(&self) -> Vec<String> {
        let fields = self.to_json();
        let field = self.task_type().input_field();
        field
            .and_then(|f| fields.get(f)?.as_str().map(str::to_owned))
            .into_iter()
            .collect()
    }

    /// Hex SHA-256 of the canonical JSON body (keys sorted at every level, no
    /// whitespace): the same request always gets the same hash, whatever order its
    /// fields were given in.
    pub fn spec_hash(&self) -> String {
        crate::digest::sha256_hex(canonical_json(&self.to_json()).as_bytes())
    }

    /// Checks the documented required fields and limits.
    pub fn validate(&self) -> Result<(), RequestError> {
        let problem = match self {
            TaskRequest::Text3d(r) if r.prompt.trim().is_empty() => {
                Some("prompt is required".into())
            }
            TaskRequest::Text3d(r) if r.prompt.chars().count() > MAX_PROMPT_CHARS => Some(format!(
                "prompt has {} characters; at most {MAX_PROMPT_CHARS} are allowed",
                r.prompt.chars().count()
            )),
            TaskRequest::Text3dRefine(r) if r.preview_task_id.is_empty() => {
                Some("preview_task_id is required".into())
            }
            TaskRequest::Image3d(r) if r.image_url.is_none() && r.input_task_id.is_none() => {
                Some("image_url or input_task_id is required".into())
            }
            TaskRequest::MultiImage3d(r) if !(1..=4).contains(&r.image_urls.len()) => {
                Some(format!(
                    "image_urls must hold 1 to 4 images, not {}",
                    r.image_urls.len()
                ))
            }
            TaskRequest::Remesh(r) if r.input_task_id.is_none() && r.model_url.is_none() => {
                Some("input_task_id or model_url is required".into())
            }
            TaskRequest::Retexture(r) if r.input_task_id.is_none() && r.model_url.is_none() => {
                Some("input_task_id or model_url is required".into())
            }
            TaskRequest::Retexture(r)
                if r.text_style_prompt.is_none()
                    && r.image_style_url.is_none()
                    && !["texture_prompt", "texture_image_url"]
                        .iter()
                        .any(|f| r.params.contains_key(*f)) =>
            {
                Some("text_style_prompt or image_style_url is required".into())
            }
            TaskRequest::Rigging(r) if r.input_task_id.is_none() && r.model_url.is_none() => {
                Some("input_task_id or model_url is required".into())
            }
            TaskRequest::Animation(r) if r.rig_task_id.is_empty() => {
                Some("rig_task_id is required".into())
            }
            TaskRequest::Animation(r)
                if r.action_id.is_none()
                    && !["action_ids", "motion_task_id"]
                        .iter()
                        .any(|f| r.params.contains_key(*f)) =>
            {
                Some(
                    "action_id (or, under API v2, action_ids or motion_task_id) is required".into(),
                )
            }
            TaskRequest::TextToImage(r) if r.prompt.trim().is_empty() => {
                Some("prompt is required".into())
            }
            TaskRequest::TextToImage(r) if r.ai_model.is_empty() => {
                Some("ai_model is required".into())
            }
            TaskRequest::ImageToImage(r) if r.prompt.trim().is_empty() => {
                Some("prompt is required".into())
            }
            TaskRequest::ImageToImage(r) if r.ai_model.is_empty() => {
                Some("ai_model is required".into())
            }
            TaskRequest::ImageToImage(r) if !(1..=5).contains(&r.reference_image_urls.len()) => {
                Some(format!(
                    "reference_image_urls must hold 1 to 5 images, not {}",
                    r.reference_image_urls.len()
                ))
            }
            TaskRequest::TextToMotion(r) if r.prompt.trim().is_empty() => {
                Some("prompt is required".into())
            }
            TaskRequest::TextToMotion(r) if r.prompt.chars().count() > 400 => Some(format!(
                "prompt has {} characters; at most 400 are allowed",
                r.prompt.chars().count()
            )),
            TaskRequest::TextToMotion(r)
                if !r.duration.is_some_and(|d| (2.0..=10.0).contains(&d)) =>
            {
                Some("duration is required, 2 to 10 seconds".into())
            }
            TaskRequest::ModelJob(_, r) if r.input_task_id.is_none() && r.model_url.is_none() => {
                Some("input_task_id or model_url is required".into())
            }
            TaskRequest::ModelJob(TaskType::Convert, r)
                if r.params
                    .get("target_formats")
                    .and_then(Value::as_array)
                    .is_none_or(|f| f.is_empty()) =>
            {
                Some("target_formats is required (glb, fbx, obj, usdz, blend, stl, 3mf)".into())
            }
            TaskRequest::ModelJob(TaskType::Resize, r)
                if ["resize_height", "resize_longest_side", "auto_size"]
                    .iter()
                    .filter(|f| r.params.contains_key(**f))
                    .count()
                    != 1 =>
            {
                Some(
                    "exactly one of resize_height, resize_longest_side or auto_size is required"
                        .into(),
                )
            }
            _ => None,
        };
        match problem {
            Some(message) => Err(RequestError {
                task_type: self.task_type(),
                message,
            }),
            None => Ok(()),
        }
    }
}

fn typed<T: DeserializeOwned>(task_type: TaskType, fields: Value) -> Result<T, RequestError> {
    serde_json::from_value(fields).map_err(|e| RequestError {
        task_type,
        message: e.to_string(),
    })
}

fn to_value<T: Serialize>(request: &T) -> Value {
    // Serializing plain structs of strings, numbers and maps cannot fail.
    serde_json::to_value(request).expect("request types serialize to JSON")
}

/// Compact JSON with object keys sorted at every level. Done by hand rather than
/// relying on `serde_json::Map` being sorted, which another crate enabling serde_json's
/// `preserve_order` feature would silently change.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(fields) => {
            let mut keys: Vec<&String> = fields.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::from(key.as_str()).to_string());
                out.push(':');
                write_canonical(&fields[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn preview_request_uses_documented_names_and_omits_unset_fields() {
        let request = TaskRequest::from_json(
            TaskType::Text3d,
            json!({"prompt": "otter", "ai_model": "meshy-5", "target_polycount": 30000}),
        )
        .unwrap();
        assert_eq!(
            request.to_json(),
            json!({"mode": "preview", "prompt": "otter", "ai_model": "meshy-5", "target_polycount": 30000})
        );
    }

    #[test]
    fn a_v2_text3d_is_one_untextured_call_unless_it_asks_for_a_texture() {
        use crate::meshy::ApiGeneration::{V1, V2};
        let plain = TaskRequest::from_json(TaskType::Text3d, json!({"prompt": "otter"})).unwrap();
        assert_eq!(
            plain.body(V1).unwrap(),
            json!({"mode": "preview", "prompt": "otter"})
        );
        assert_eq!(
            plain.body(V2).unwrap(),
            json!({"prompt": "otter", "should_texture": false})
        );
        let textured = TaskRequest::from_json(
            TaskType::Text3d,
            json!({"prompt": "otter", "should_texture": true, "texture_model": "meshy-6-lite"}),
        )
        .unwrap();
        assert_eq!(
            textured.body(V2).unwrap(),
            json!({"prompt": "otter", "should_texture": true, "texture_model": "meshy-6-lite"})
        );
        let retexture = TaskRequest::from_json(
            TaskType::Retexture,
            json!({"input_task_id": "t", "text_style_prompt": "wood", "texture_model": "meshy-6-lite"}),
        )
        .unwrap();
        assert_eq!(
            retexture.body(V2).unwrap(),
            json!({"input_task_id": "t", "texture_prompt": "wood", "texture_model": "meshy-6-lite"}),
            "the typed style prompt goes under its v2 name"
        );
        assert!(
            TaskRequest::from_json(
                TaskType::Retexture,
                json!({"input_task_id": "t", "texture_prompt": "wood"})
            )
            .is_ok(),
            "v2's own name is a style prompt too"
        );
        // Both names at once: one value would be lost, so nothing is sent.
        let both = TaskRequest::from_json(
            TaskType::Retexture,
            json!({"input_task_id": "t", "text_style_prompt": "bronze statue", "texture_prompt": "bronze"}),
        )
        .unwrap();
        let err = both.body(V2).unwrap_err();
        assert!(
            err.to_string()
                .contains("both text_style_prompt (v1's name, where a scenario's prompt goes) and texture_prompt"),
            "{err}"
        );
        assert!(both.body(V1).is_ok());
        let refine =
            TaskRequest::from_json(TaskType::Text3dRefine, json!({"preview_task_id": "t0"}))
                .unwrap();
        assert!(refine.body(V1).is_ok());
        let err = refine.body(V2).unwrap_err();
        assert!(
            err.to_string().contains("Meshy API v2 has no refine step"),
            "{err}"
        );
    }

    #[test]
    fn unmodelled_params_are_sent_as_given() {
        let request = TaskRequest::from_json(
            TaskType::Rigging,
            json!({"input_task_id": "t1", "experimental_flag": {"x": [1, 2]}}),
        )
        .unwrap();
        assert_eq!(request.to_json()["experimental_flag"], json!({"x": [1, 2]}));
        assert_eq!(request.input_task_ids(), vec!["t1".to_string()]);
    }

    #[test]
    fn every_task_type_has_a_minimal_valid_request() {
        let minimal = [
            (TaskType::Text3d, json!({"prompt": "p"})),
            (TaskType::Text3dRefine, json!({"preview_task_id": "t"})),
            (TaskType::Image3d, json!({"image_url": "https://a/i.png"})),
            (
                TaskType::MultiImage3d,
                json!({"image_urls": ["https://a/i.png"]}),
            ),
            (TaskType::Remesh, json!({"input_task_id": "t"})),
            (
                TaskType::Retexture,
                json!({"input_task_id": "t", "text_style_prompt": "wood"}),
            ),
            (TaskType::Rigging, json!({"model_url": "https://a/m.glb"})),
            (
                TaskType::Animation,
                json!({"rig_task_id": "t", "action_id": 1}),
            ),
            (
                TaskType::TextToImage,
                json!({"ai_model": "nano-banana", "prompt": "p"}),
            ),
        ];
        for (task_type, fields) in minimal {
            let request = TaskRequest::from_json(task_type, fields).unwrap();
            assert_eq!(request.task_type(), task_type);
        }
    }

    #[test]
    fn missing_required_fields_are_refused_before_sending() {
        let cases = [
            (
                TaskType::Text3d,
                json!({"prompt": "  "}),
                "invalid text3d request: prompt is required",
            ),
            (
                TaskType::Remesh,
                json!({"topology": "quad"}),
                "invalid remesh request: input_task_id or model_url is required",
            ),
            (
                TaskType::Retexture,
                json!({"input_task_id": "t"}),
                "invalid retexture request: text_style_prompt or image_style_url is required",
            ),
            (
                TaskType::MultiImage3d,
                json!({"image_urls": ["a", "b", "c", "d", "e"]}),
                "invalid multi_image3d request: image_urls must hold 1 to 4 images, not 5",
            ),
        ];
        for (task_type, fields, message) in cases {
            let err = TaskRequest::from_json(task_type, fields).unwrap_err();
            assert_eq!(err.to_string(), message);
        }
        let err =
            TaskRequest::from_json(TaskType::Animation, json!({"rig_task_id": "t"})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid animation request: action_id (or, under API v2, action_ids or motion_task_id) is required"
        );
        // v2's several actions, or a motion task, in place of one action.
        for other in [
            json!({"action_ids": [1, 2]}),
            json!({"motion_task_id": "m"}),
        ] {
            let mut fields = json!({"rig_task_id": "t"});
            fields
                .as_object_mut()
                .unwrap()
                .extend(other.as_object().unwrap().clone());
            let request = TaskRequest::from_json(TaskType::Animation, fields.clone()).unwrap();
            assert_eq!(
                request.body(crate::meshy::ApiGeneration::V2).unwrap(),
                fields
            );
        }
        let long = "x".repeat(601);
        let err = TaskRequest::from_json(TaskType::Text3d, json!({ "prompt": long })).unwrap_err();
        assert!(err.to_string().contains("601 characters"), "{err}");
    }

    #[test]
    fn spec_hash_ignores_field_order_and_depends_on_content() {
        let a = TaskRequest::from_json(TaskType::Text3d, json!({"prompt": "otter", "seed": 1}))
            .unwrap();
        let b = TaskRequest::from_json(TaskType::Text3d, json!({"seed": 1, "prompt": "otter"}))
            .unwrap();
        let c = TaskRequest::from_json(TaskType::Text3d, json!({"prompt": "beaver", "seed": 1}))
            .unwrap();
        assert_eq!(a.spec_hash(), b.spec_hash());
        assert_ne!(a.spec_hash(), c.spec_hash());
        assert_eq!(a.spec_hash().len(), 64);
    }

    #[test]
    fn canonical_json_sorts_nested_keys() {
        let value = json!({"b": {"z": 1, "a": [ {"y": 2, "x": 1} ]}, "a": "é\"q"});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":"é\"q","b":{"a":[{"x":1,"y":2}],"z":1}}"#
        );
    }
}
