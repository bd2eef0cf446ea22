//! The Meshy SDK: task types, request and task models, the API client, and the task
//! service that submits, fetches and polls tasks.

mod api_error;
mod client;
mod error_body;
mod generation;
pub mod pricing;
mod request;
mod retry;
mod service;
mod sse;
mod task;
mod task_type;
pub mod v2_rules;

pub use api_error::ApiError;
pub use client::{
    AnimationAction, Client, ClientConfig, DEFAULT_BASE_URL, ListPage, TEST_MODE_API_KEY, TaskPage,
};
pub use error_body::{ErrorCode, ErrorKind};
pub use generation::{ApiGeneration, GENERATION_ENV, TASKS_PATH, UnknownApiGeneration, V1_SUNSET};
#[allow(deprecated)] // v1's refine and routes: spoken until 2027-03-15, replayed after
pub use request::{
    Animation, Image3d, ImageToImage, MAX_PROMPT_CHARS, ModelJob, MultiImage3d, Params,
    PostProcess, Remesh, RequestError, Retexture, Rigging, TaskRequest, Text3dPreview,
    Text3dRefine, TextToImage, TextToMotion, canonical_json,
};
pub use retry::{Attempt, Decision, RetryPolicy};
pub use service::{PollOptions, ServiceError, Submission, TaskService};
pub use task::{PrimaryArtifact, Task, TaskError, TaskStatus, created_task_id};
pub use task_type::{TaskType, UnknownTaskType};

/// The `data` of every frame of a server-sent event stream, in order (comment frames
/// skipped): how `cassettes check` reads recorded streams.
pub fn sse_data(text: &str) -> Vec<String> {
    sse::parse(text).into_iter().map(|e| e.data).collect()
}
