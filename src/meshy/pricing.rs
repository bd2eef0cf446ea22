//! What each task costs, in credits: the one price table of the toolkit (the recording
//! plan, the interruption summary, the simulator's charges). Prices change; update them
//! here. Sources: `meshy-api.md`, "Credits per task" (v1, a live run of September 2026),
//! and the 2026 v2 pages (`meshy-api-v2.md`, "Credits"), where a price depends on the
//! request (model, texture, number of actions), not only on the task type.

// v1's refine and routes stay spoken here: v1 recordings replay, and v1 works until 2027-03-15.
#![allow(deprecated)]

use serde_json::Value;

use super::{ApiGeneration, TaskType};

/// The credits one task of `task_type` costs, when known.
pub fn credits(task_type: TaskType) -> Option<u64> {
    match task_type {
        TaskType::Text3d => Some(20),
        TaskType::Text3dRefine => Some(10),
        TaskType::Image3d => Some(30),
        TaskType::Remesh => Some(5),
        TaskType::Retexture => Some(10),
        TaskType::Rigging => Some(5),
        TaskType::Animation => Some(3),
        TaskType::TextToMotion => Some(10),
        TaskType::PrintAnalyze => Some(0),
        TaskType::RigCheck => Some(1),
        // Not known here (meshy-api.md): the balance before and after a run tells.
        TaskType::MultiImage3d
        | TaskType::TextToImage
        | TaskType::ImageToImage
        | TaskType::Convert
        | TaskType::Resize
        | TaskType::UvUnwrap
        | TaskType::PrintRepair
        | TaskType::PrintMultiColor => None,
    }
}

/// `20 credits`, or `unknown credits`.
pub fn credits_text(task_type: TaskType) -> String {
    match credits(task_type) {
        Some(n) => format!("{n} credits"),
        None => "unknown credits".into(),
    }
}

/// The credits one create request costs under `generation`, when known: v1 by the task
/// type ([`credits`]); v2 by the request as Meshy's 2026 table prices it. Unknown stays
/// unknown (`None`): a textured one-call text-to-3d, image-to-image, a text-to-image
/// model not in the table.
pub fn request_credits(
    task_type: TaskType,
    generation: ApiGeneration,
    body: &Value,
) -> Option<u64> {
    if generation == ApiGeneration::V1 {
        return credits(task_type);
    }
    let text = |field: &str| body.get(field).and_then(Value::as_str);
    // Meshy-6 is the default model (unconfirmed: "latest" and an absent model are it).
    let meshy_6 = matches!(text("ai_model"), None | Some("meshy-6" | "latest"));
    let textured = body
        .get("should_texture")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    match task_type {
        TaskType::Text3d if textured => None,
        TaskType::Text3d => Some(if meshy_6 { 20 } else { 5 }),
        // Multi-image as image-to-3d: unconfirmed under v2.
        TaskType::Image3d | TaskType::MultiImage3d => Some(match (meshy_6, textured) {
            (true, true) => 30,
            (true, false) => 20,
            (false, true) => 15,
            (false, false) => 5,
        }),
        // 3 credits per action (`action_id`: one; `action_ids`: each); an animation of a
        // motion task (`motion_task_id`) has no price in the table.
        TaskType::Animation => {
            let actions = match (body.get("action_ids"), body.get("action_id")) {
                (Some(Value::Array(ids)), _) if !ids.is_empty() => ids.len(),
                (None, Some(id)) if !id.is_null() => 1,
                _ => return None,
            };
            u64::try_from(actions).ok()?.checked_mul(3)
        }
        TaskType::TextToImage => match text("ai_model")? {
            "nano-banana" => Some(3),
            "nano-banana-2" => Some(6),
            "nano-banana-2-1" => Some(4),
            "nano-banana-pro" | "gpt-image-2" => Some(9),
            _ => None,
        },
        TaskType::Convert | TaskType::Resize => Some(1),
        TaskType::UvUnwrap => Some(5),
        TaskType::PrintRepair | TaskType::PrintMultiColor => Some(10),
        TaskType::Text3dRefine | TaskType::ImageToImage => None,
        other => credits(other),
    }
}

/// `20 credits`, or `unknown credits`, for a request.
pub fn request_credits_text(
    task_type: TaskType,
    generation: ApiGeneration,
    body: &Value,
) -> String {
    match request_credits(task_type, generation, body) {
        Some(n) => format!("{n} credits"),
        None => "unknown credits".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn v2_prices_depend_on_the_request_and_unknown_stays_unknown() {
        let v2 = |t, body: Value| request_credits(t, ApiGeneration::V2, &body);
        assert_eq!(
            v2(
                TaskType::Text3d,
                json!({"prompt": "o", "should_texture": false})
            ),
            Some(20)
        );
        assert_eq!(
            v2(
                TaskType::Text3d,
                json!({"should_texture": false, "ai_model": "meshy-5"})
            ),
            Some(5)
        );
        assert_eq!(
            v2(TaskType::Text3d, json!({"prompt": "o"})),
            None,
            "textured: unconfirmed"
        );
        assert_eq!(v2(TaskType::Image3d, json!({"image_url": "u"})), Some(30));
        assert_eq!(
            v2(TaskType::Image3d, json!({"should_texture": false})),
            Some(20)
        );
        assert_eq!(
            v2(
                TaskType::Image3d,
                json!({"should_texture": false, "ai_model": "meshy-5"})
            ),
            Some(5)
        );
        assert_eq!(
            v2(TaskType::Image3d, json!({"ai_model": "meshy-5"})),
            Some(15)
        );
        assert_eq!(v2(TaskType::Animation, json!({"action_id": 1})), Some(3));
        assert_eq!(
            v2(TaskType::Animation, json!({"action_ids": [1, 2, 3]})),
            Some(9)
        );
        // No price in the table for a motion task's animation, nor for no action.
        assert_eq!(
            v2(TaskType::Animation, json!({"motion_task_id": "m1"})),
            None
        );
        assert_eq!(v2(TaskType::Animation, json!({"action_ids": []})), None);
        assert_eq!(
            v2(
                TaskType::TextToImage,
                json!({"ai_model": "nano-banana-pro"})
            ),
            Some(9)
        );
        assert_eq!(
            v2(
                TaskType::TextToImage,
                json!({"ai_model": "nano-banana-2-1"})
            ),
            Some(4)
        );
        assert_eq!(
            v2(TaskType::TextToImage, json!({"ai_model": "other"})),
            None
        );
        assert_eq!(v2(TaskType::RigCheck, json!({})), Some(1));
        assert_eq!(v2(TaskType::Remesh, json!({})), Some(5));
        assert_eq!(v2(TaskType::Retexture, json!({})), Some(10));
        assert_eq!(v2(TaskType::Rigging, json!({})), Some(5));
        assert_eq!(v2(TaskType::TextToMotion, json!({})), Some(10));
        assert_eq!(v2(TaskType::Convert, json!({})), Some(1));
        assert_eq!(v2(TaskType::Resize, json!({})), Some(1));
        assert_eq!(v2(TaskType::UvUnwrap, json!({})), Some(5));
        assert_eq!(v2(TaskType::PrintAnalyze, json!({})), Some(0));
        assert_eq!(v2(TaskType::PrintRepair, json!({})), Some(10));
        assert_eq!(v2(TaskType::PrintMultiColor, json!({})), Some(10));
        assert_eq!(v2(TaskType::ImageToImage, json!({})), None);
    }

    #[test]
    fn v1_keeps_the_prices_seen_live() {
        let v1 = |t| request_credits(t, ApiGeneration::V1, &json!({"ai_model": "meshy-5"}));
        assert_eq!(v1(TaskType::Text3d), Some(20));
        assert_eq!(v1(TaskType::Text3dRefine), Some(10));
        assert_eq!(v1(TaskType::Image3d), Some(30));
    }
}
