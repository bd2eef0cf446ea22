//! The Meshy task types of today's API (`docs/meshy-api.md`, "Endpoints today"), by the
//! names scenario files use, and what the API calls them: endpoint collection, `type`
//! field, and which field names an input task.

// v1's refine and routes stay spoken here: v1 recordings replay, and v1 works until 2027-03-15.
#![allow(deprecated)]

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A kind of Meshy task. The serde and [`FromStr`] names are the ones of scenario
/// files and recordings (`text3d`, `text3d_refine`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskType {
    /// Text to 3D, preview stage (`mode: "preview"`).
    Text3d,
    /// Text to 3D, refine stage (`mode: "refine"`, texturing a preview). API v1 only,
    /// and deprecated: code that names it hears of the 2027-03-15 sunset at build time.
    ///
    /// ```
    /// # #![allow(deprecated)]
    /// let _ = mesh_toolkit::meshy::TaskType::Text3dRefine;
    /// ```
    /// ```compile_fail
    /// # #![deny(deprecated)]
    /// let _ = mesh_toolkit::meshy::TaskType::Text3dRefine;
    /// ```
    #[deprecated(
        since = "0.2.0",
        note = "API v1 only: v1's text-to-3d refine stops working on 2027-03-15. Under API v2 text-to-3d is one call: ask a text3d for a textured result (`should_texture: true` and a `texture_model`). See docs/api-v2.md."
    )]
    Text3dRefine,
    Image3d,
    MultiImage3d,
    Remesh,
    Retexture,
    Rigging,
    Animation,
    TextToImage,
    /// `image-to-image`: `reference_image_urls` (1–5) restyled by `prompt`.
    ImageToImage,
    /// `text-to-motion`: a motion clip (FBX, or BVH in `swift` mode) from `prompt`.
    TextToMotion,
    /// `convert`: a model into other formats (`target_formats`).
    Convert,
    /// `resize`: a model scaled to a height or longest side.
    Resize,
    /// `uv-unwrap`: a model with new UVs (some accounts get 404 while it rolls out).
    UvUnwrap,
    /// `print/analyze`: a printability report, no files; free.
    PrintAnalyze,
    /// `print/repair`: a model repaired for printing.
    PrintRepair,
    /// `print/multi-color`: a 3MF for multi-color printing.
    PrintMultiColor,
    /// `rigging/check` (API v2 only): whether a model can be rigged (`output.riggable`);
    /// 1 credit.
    RigCheck,
}

impl TaskType {
    pub const ALL: [TaskType; 18] = [
        TaskType::Text3d,
        TaskType::Text3dRefine,
        TaskType::Image3d,
        TaskType::MultiImage3d,
        TaskType::Remesh,
        TaskType::Retexture,
        TaskType::Rigging,
        TaskType::Animation,
        TaskType::TextToImage,
        TaskType::ImageToImage,
        TaskType::TextToMotion,
        TaskType::Convert,
        TaskType::Resize,
        TaskType::UvUnwrap,
        TaskType::PrintAnalyze,
        TaskType::PrintRepair,
        TaskType::PrintMultiColor,
        TaskType::RigCheck,
    ];

    /// The name used in scenario files, file names and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskType::Text3d => "text3d",
            TaskType::Text3dRefine => "text3d_refine",
            TaskType::Image3d => "image3d",
            TaskType::MultiImage3d => "multi_image3d",
            TaskType::Remesh => "remesh",
            TaskType::Retexture => "retexture",
            TaskType::Rigging => "rigging",
            TaskType::Animation => "animation",
            TaskType::TextToImage => "text_to_image",
            TaskType::ImageToImage => "image_to_image",
            TaskType::TextToMotion => "text_to_motion",
            TaskType::Convert => "convert",
            TaskType::Resize => "resize",
            TaskType::UvUnwrap => "uv_unwrap",
            TaskType::PrintAnalyze => "print_analyze",
            TaskType::PrintRepair => "print_repair",
            TaskType::PrintMultiColor => "print_multi_color",
            TaskType::RigCheck => "rig_check",
        }
    }

    /// The task type a create call is for: its path (`/openapi/v2/text-to-3d`,
    /// `/openapi/v1/remesh` or `/openapi/v2/remesh`, any host before it) and, for
    /// text-to-3d, the body's `mode`.
    pub fn of_create(path: &str, body: &serde_json::Value) -> Option<TaskType> {
        let path = path.trim_end_matches('/');
        let endpoint = |t: TaskType| t.v2_endpoint().map(|e| format!("/openapi/v2/{e}"));
        let mut matching = TaskType::ALL.into_iter().filter(|t| {
            path.ends_with(t.collection()) || endpoint(*t).is_some_and(|e| path.ends_with(&e))
        });
        let first = matching.next()?;
        if first.collection() != TaskType::Text3d.collection() {
            return Some(first);
        }
        match body.get("mode").and_then(serde_json::Value::as_str) {
            Some("refine") => Some(TaskType::Text3dRefine),
            _ => Some(TaskType::Text3d),
        }
    }

    /// The API v1 collection path: create is `POST <collection>`, get is
    /// `GET <collection>/{id}`. v1's per-type routes stop working on 2027-03-15.
    #[deprecated(
        since = "0.2.0",
        note = "API v1's per-type routes stop working on 2027-03-15: build routes with `ApiGeneration::create_path`, `task_path`, `list_path` and `stream_path` (v2's reads go through /openapi/v2/tasks)"
    )]
    pub fn collection(self) -> &'static str {
        match self {
            TaskType::Text3d | TaskType::Text3dRefine => "/openapi/v2/text-to-3d",
            TaskType::Image3d => "/openapi/v1/image-to-3d",
            TaskType::MultiImage3d => "/openapi/v1/multi-image-to-3d",
            TaskType::Remesh => "/openapi/v1/remesh",
            TaskType::Retexture => "/openapi/v1/retexture",
            TaskType::Rigging => "/openapi/v1/rigging",
            TaskType::Animation => "/openapi/v1/animations",
            TaskType::TextToImage => "/openapi/v1/text-to-image",
            TaskType::ImageToImage => "/openapi/v1/image-to-image",
            TaskType::TextToMotion => "/openapi/v1/text-to-motion",
            TaskType::Convert => "/openapi/v1/convert",
            TaskType::Resize => "/openapi/v1/resize",
            TaskType::UvUnwrap => "/openapi/v1/uv-unwrap",
            TaskType::PrintAnalyze => "/openapi/v1/print/analyze",
            TaskType::PrintRepair => "/openapi/v1/print/repair",
            TaskType::PrintMultiColor => "/openapi/v1/print/multi-color",
            // v2 only: its one route.
            TaskType::RigCheck => "/openapi/v2/rigging/check",
        }
    }

    /// The task object's documented `type` value.
    pub fn api_type(self) -> &'static str {
        match self {
            TaskType::Text3d => "text-to-3d-preview",
            TaskType::Text3dRefine => "text-to-3d-refine",
            TaskType::Image3d => "image-to-3d",
            TaskType::MultiImage3d => "multi-image-to-3d",
            TaskType::Remesh => "remesh",
            TaskType::Retexture => "retexture",
            TaskType::Rigging => "rig",
            TaskType::Animation => "animate",
            TaskType::TextToImage => "text-to-image",
            // The `type` values of the new endpoints follow Meshy's public API reference
            // and its CLI's endpoint contracts (not yet seen in recorded traffic).
            TaskType::ImageToImage => "image-to-image",
            TaskType::TextToMotion => "text-to-motion",
            TaskType::Convert => "convert",
            TaskType::Resize => "resize",
            TaskType::UvUnwrap => "uv-unwrap",
            TaskType::PrintAnalyze => "print-analyze",
            TaskType::PrintRepair => "print-repair",
            TaskType::PrintMultiColor => "print-multi-color",
            TaskType::RigCheck => "rig-check",
        }
    }

    /// The API v2 endpoint under `/openapi/v2/` that creates this type (Meshy's "same
    /// path" rule), `None` for `text3d_refine`, which v2 does not have.
    pub fn v2_endpoint(self) -> Option<&'static str> {
        let collection = match self {
            TaskType::Text3dRefine => return None,
            TaskType::RigCheck => return Some("rigging/check"),
            other => other.collection(),
        };
        collection
            .split_once("/openapi/v")
            .map(|(_, rest)| &rest[2..])
    }

    /// The task object's `type` under API v2, also the list's `?type=`: v1's value,
    /// with text-to-3d one type (`text-to-3d`), since v2 has no preview and refine.
    /// Documented for `image-to-3d` and `rig-check`; the rest is unconfirmed
    /// (docs/unconfirmed.md).
    pub fn v2_type(self) -> &'static str {
        match self {
            TaskType::Text3d | TaskType::Text3dRefine => "text-to-3d",
            other => other.api_type(),
        }
    }

    /// The jobs on an existing model (`input_task_id` or `model_url`): convert, resize,
    /// uv-unwrap and the three print endpoints.
    pub fn is_model_job(self) -> bool {
        matches!(
            self,
            TaskType::Convert
                | TaskType::Resize
                | TaskType::UvUnwrap
                | TaskType::PrintAnalyze
                | TaskType::PrintRepair
                | TaskType::PrintMultiColor
        )
    }

    /// The request field that names an input task, if this type takes one.
    pub fn input_field(self) -> Option<&'static str> {
        match self {
            TaskType::Text3dRefine => Some("preview_task_id"),
            TaskType::Image3d
            | TaskType::Remesh
            | TaskType::Retexture
            | TaskType::Rigging
            | TaskType::RigCheck => Some("input_task_id"),
            t if t.is_model_job() => Some("input_task_id"),
            TaskType::Animation => Some("rig_task_id"),
            _ => None,
        }
    }

    /// The task types whose SUCCEEDED tasks are valid inputs for this type.
    pub fn accepted_inputs(self) -> &'static [TaskType] {
        // Tasks with a model; a print repair also takes a print analysis.
        const PRINTABLE: &[TaskType] = &[
            TaskType::Text3d,
            TaskType::Text3dRefine,
            TaskType::Image3d,
            TaskType::MultiImage3d,
            TaskType::Remesh,
            TaskType::Retexture,
            TaskType::PrintAnalyze,
        ];
        const MODELS: &[TaskType] = PRINTABLE.split_at(PRINTABLE.len() - 1).0;
        match self {
            TaskType::Text3dRefine => &[TaskType::Text3d],
            TaskType::Image3d => &[TaskType::TextToImage],
            TaskType::PrintRepair => PRINTABLE,
            TaskType::Animation => &[TaskType::Rigging],
            TaskType::Remesh | TaskType::Retexture | TaskType::Rigging | TaskType::RigCheck => {
                MODELS
            }
            t if t.is_model_job() => MODELS,
            _ => &[],
        }
    }

    /// Whether `GET <collection>` lists tasks (rigging and animation have no list).
    pub fn has_list(self) -> bool {
        !matches!(self, TaskType::Rigging | TaskType::Animation)
    }
}

impl fmt::Display for TaskType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown task type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown task type '{name}'; expected one of: {}", accepted_names())]
pub struct UnknownTaskType {
    pub name: String,
}

fn accepted_names() -> String {
    TaskType::ALL.map(TaskType::as_str).join(", ")
}

impl FromStr for TaskType {
    type Err = UnknownTaskType;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        TaskType::ALL
            .into_iter()
            .find(|t| t.as_str() == name)
            .ok_or_else(|| UnknownTaskType { name: name.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_from_str_and_serde() {
        for task_type in TaskType::ALL {
            assert_eq!(task_type.as_str().parse::<TaskType>(), Ok(task_type));
            let json = serde_json::to_string(&task_type).unwrap();
            assert_eq!(json, format!("\"{}\"", task_type.as_str()));
        }
    }

    #[test]
    fn unknown_name_lists_accepted_ones() {
        let err = "text_3d".parse::<TaskType>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown task type 'text_3d'; expected one of: text3d, text3d_refine, image3d, \
             multi_image3d, remesh, retexture, rigging, animation, text_to_image, image_to_image, \
             text_to_motion, convert, resize, uv_unwrap, print_analyze, print_repair, print_multi_color, rig_check"
        );
    }
}
