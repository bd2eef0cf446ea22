//! What can go wrong with an API call ([`ApiError`]): one variant per answered status
//! (each keeping a v2 body's `type`, `code` and `doc_url`), the transport's failures, a
//! create that may have reached Meshy, and the refusals made before anything is sent.

use std::time::Duration;

use super::client::TEST_MODE_API_KEY;
use super::error_body::{ErrorCode, ErrorKind, shown};
use super::{ApiGeneration, GENERATION_ENV, TaskType, UnknownApiGeneration, V1_SUNSET};
use crate::transport::TransportError;

/// What went wrong with an API call. `request` is `METHOD URL` without the query.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    #[error(
        "no Meshy API key: set MESHY_API_KEY (or ClientConfig::api_key); for a free dry run use the \
         test-mode key {TEST_MODE_API_KEY}"
    )]
    MissingApiKey,
    // Each answered error keeps a v2 body's `type`, `code` and `doc_url` in `v2` (`None`
    // for a v1 body): decide on `ApiError::code`, never on the message.
    #[error("{request}: bad request (400): {message}{}", shown(v2))]
    BadRequest {
        request: String,
        message: String,
        v2: Option<Box<ErrorKind>>,
    },
    #[error(
        "{request}: the API key was refused (401): {message}{}; check MESHY_API_KEY",
        shown(v2)
    )]
    Unauthorized {
        request: String,
        message: String,
        v2: Option<Box<ErrorKind>>,
    },
    #[error(
        "{request}: not enough credits (402): {message}{}; top up the Meshy account or use the test-mode key",
        shown(v2)
    )]
    PaymentRequired {
        request: String,
        message: String,
        v2: Option<Box<ErrorKind>>,
    },
    #[error("{request}: forbidden (403): {message}{}", shown(v2))]
    Forbidden {
        request: String,
        message: String,
        v2: Option<Box<ErrorKind>>,
    },
    #[error("{request}: not found (404): {message}{}", shown(v2))]
    NotFound {
        request: String,
        message: String,
        v2: Option<Box<ErrorKind>>,
    },
    #[error("{request}: unprocessable (422): {message}{}", shown(v2))]
    Unprocessable {
        request: String,
        message: String,
        v2: Option<Box<ErrorKind>>,
    },
    #[error(
        "{request}: rate limited (429) after {attempts} attempts: {message}{}",
        shown(v2)
    )]
    RateLimited {
        request: String,
        message: String,
        attempts: u32,
        v2: Option<Box<ErrorKind>>,
    },
    #[error(
        "{request}: server error ({status}) after {attempts} attempts: {message}{}",
        shown(v2)
    )]
    Server {
        request: String,
        status: u16,
        message: String,
        attempts: u32,
        v2: Option<Box<ErrorKind>>,
    },
    #[error("{request}: unexpected status {status}: {message}{}", shown(v2))]
    UnexpectedStatus {
        request: String,
        status: u16,
        message: String,
        v2: Option<Box<ErrorKind>>,
    },
    /// No response: the transport's error names the request.
    #[error("{source}")]
    Transport {
        request: String,
        source: TransportError,
    },
    /// A create call that may have reached Meshy and got no usable answer (5xx,
    /// timeout, connection lost): it was not sent again, since Meshy may have created,
    /// and charged for, the task.
    #[error(
        "{cause}; Meshy may have created (and charged for) the task, so the request was not sent again: \
         look for it in the task list before sending it again"
    )]
    MaybeCreated { request: String, cause: String },
    /// The server asked to wait longer than the retry budget has left; not slept through.
    #[error(
        "{request}: the server asked to wait {asked} before trying again, more than the {remaining:?} left of \
         this request's retry budget (RetryPolicy::max_total_wait); the last answer: {cause}. Try again later"
    )]
    WaitTooLong {
        request: String,
        asked: String,
        remaining: Duration,
        cause: String,
    },
    #[error("{request}: could not read the response ({reason}); it starts with: {excerpt}")]
    Decode {
        request: String,
        reason: String,
        excerpt: String,
    },
    /// `MESHY_API_GENERATION` names neither generation.
    #[error("{GENERATION_ENV}: {0}")]
    Generation(#[from] UnknownApiGeneration),
    /// The task type has no endpoint in the client's API generation (`text3d_refine`
    /// under v2, `rig_check` under v1); nothing was sent.
    #[error(
        "{task_type} has no endpoint in Meshy API {generation}{}",
        match (task_type, generation) {
            (TaskType::Text3dRefine, ApiGeneration::V2) =>
                ": v2's text-to-3d is one call (a textured text3d names a texture_model); \
                 use v1 for a refine until it stops on 2027-03-15",
            (_, ApiGeneration::V1) => ": it exists only in v2",
            _ => "",
        }
    )]
    NotInGeneration {
        task_type: TaskType,
        generation: ApiGeneration,
    },
    /// A v2 request Meshy would refuse (`meshy::v2_rules`): not sent, nothing paid.
    #[error(
        "{request} was not sent: Meshy API v2 refuses it (400 invalid_input/{}): {}; fix the request's \
         '{}'",
        refusal.code, refusal.message, refusal.field
    )]
    Refused {
        request: String,
        refusal: Box<super::v2_rules::Refusal>,
    },
    /// A v1 request refused once v1 has stopped (on [`V1_SUNSET`], or by a simulator
    /// acting it out): whatever Meshy answers then, the request will not work again.
    #[error(
        "{request}: Meshy API v1 stopped working on {V1_SUNSET}, so Meshy refused it ({}). \
         Move it to v2: {move_to} (docs/api-v2.md)",
        cause.brief()
    )]
    V1Stopped {
        request: String,
        /// What moving this request to v2 means (no `mode`, no refine, the v2 route).
        move_to: String,
        cause: Box<ApiError>,
    },
}

impl ApiError {
    /// The HTTP status behind this error, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::BadRequest { .. } => Some(400),
            ApiError::Unauthorized { .. } => Some(401),
            ApiError::PaymentRequired { .. } => Some(402),
            ApiError::Forbidden { .. } => Some(403),
            ApiError::NotFound { .. } => Some(404),
            ApiError::Unprocessable { .. } => Some(422),
            ApiError::RateLimited { .. } => Some(429),
            ApiError::Server { status, .. } | ApiError::UnexpectedStatus { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The v2 error's `type`, `code` and `doc_url` (`None` for a v1 body, or no answer).
    pub fn v2(&self) -> Option<&ErrorKind> {
        match self {
            ApiError::BadRequest { v2, .. }
            | ApiError::Unauthorized { v2, .. }
            | ApiError::PaymentRequired { v2, .. }
            | ApiError::Forbidden { v2, .. }
            | ApiError::NotFound { v2, .. }
            | ApiError::Unprocessable { v2, .. }
            | ApiError::RateLimited { v2, .. }
            | ApiError::Server { v2, .. }
            | ApiError::UnexpectedStatus { v2, .. } => v2.as_deref(),
            _ => None,
        }
    }

    /// The v2 error's `code`: what decisions branch on.
    pub fn code(&self) -> Option<&ErrorCode> {
        self.v2().and_then(|v2| v2.code.as_ref())
    }

    /// Whether this answer to a v1 request says v1 has stopped: 410 Gone or
    /// `route_not_found` (what a retired route most likely answers; unconfirmed), the
    /// simulator's `api_v1_sunset`, or any client error on or after [`V1_SUNSET`].
    /// The status and, for a v2 body, its code: `410 api_v1_sunset`.
    fn brief(&self) -> String {
        match (self.status(), self.code()) {
            (Some(status), Some(code)) => format!("{status} {}", code.as_str()),
            (Some(status), None) => format!("{status}"),
            _ => "no answer".into(),
        }
    }

    /// What moving the v1 request `method path` (with `body`) to v2 means, for
    /// [`ApiError::V1Stopped`].
    pub(super) fn v1_move(method: &str, path: &str, body: &serde_json::Value) -> String {
        let how = "pin the scenario `api = \"v2\"` (SDK: `ClientConfig::generation`)";
        if method != "POST" {
            return format!(
                "{how}; v2 reads, lists and deletes go through {}",
                super::TASKS_PATH
            );
        }
        match body.get("mode").and_then(serde_json::Value::as_str) {
            Some("refine") => "v2 has no refine step: make the preview and its refine one text3d \
                               with should_texture = true and a texture_model, pinned `api = \"v2\"`"
                .into(),
            Some(_) => format!("{how}; v2's text-to-3d is one call, sent without `mode`"),
            None => match TaskType::of_create(path, body)
                .and_then(|t| ApiGeneration::V2.create_path(t))
            {
                Some(route) => format!("{how}; its v2 route is POST {route}"),
                None => how.into(),
            },
        }
    }

    pub(super) fn says_v1_stopped(&self, today: &str) -> bool {
        let Some(status) = self.status() else {
            return false;
        };
        status == 410
            || matches!(self.code(), Some(ErrorCode::RouteNotFound))
            || self.code().map(ErrorCode::as_str) == Some("api_v1_sunset")
            || ((400..500).contains(&status)
                && status != 429
                && !today.is_empty()
                && today >= V1_SUNSET)
    }
}
