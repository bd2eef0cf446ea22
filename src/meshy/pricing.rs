//! What each task type costs, in credits: the one price table of the toolkit (the
//! recording plan, the interruption summary). Prices change; update them here.
//! Source: `meshy-api.md`, "Credits per task" (a live run of September 2026).

use super::TaskType;

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
