//! Meshy's error bodies. API v2 answers every request error with four fields,
//! `{"type", "code", "message", "doc_url"}`; decisions branch on the `code`, else on the
//! `type` for codes this version does not know, and never on the message (Meshy's
//! "Errors" page says so). v1 answers `{"message": …}` alone, and its queue-full 429 is
//! told by that message (`NoMoreConcurrentTasks`), as real v1 traffic showed: the one
//! place a message still decides, and only for a body without a code.

use serde_json::Value;

/// The `code` of a v2 error: those Meshy's pages document, and any other as received.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 400: two parameters that exclude each other (`texture_prompt` with
    /// `texture_image_url`, `input_task_id` with `model_url`).
    ParametersConflict,
    /// 400: the input task has not SUCCEEDED yet.
    InputTaskNotReady,
    /// 400: the input task is of a type this endpoint does not take.
    InputTaskUnsupported,
    /// 400: the `X-Meshy-Metadata` header is malformed; no task was created.
    MetadataInvalid,
    /// 403: moderation refused the prompt or image.
    ModerationBlockedNsfw,
    /// 404: no such route (`NoMatchingRoute`): the request's path is wrong, not its task.
    RouteNotFound,
    /// 429: too many requests per second; the only 429 with `Retry-After`.
    RateLimitExceeded,
    /// 429: the plan's unfinished tasks (PENDING and IN_PROGRESS) are at its limit; a slot
    /// frees when one ends.
    PendingTaskLimitReached,
    /// 429: an unlimited plan running without credits is at its concurrent limit: wait
    /// for a task to end, or top up.
    ConcurrentTaskLimitReached,
    /// A code this version does not know (its `type` still tells the class).
    Other(String),
}

impl ErrorCode {
    /// The code as Meshy spells it.
    pub fn parse(code: &str) -> ErrorCode {
        match code {
            "parameters_conflict" => ErrorCode::ParametersConflict,
            "input_task_not_ready" => ErrorCode::InputTaskNotReady,
            "input_task_unsupported" => ErrorCode::InputTaskUnsupported,
            "metadata_invalid" => ErrorCode::MetadataInvalid,
            "moderation_blocked_nsfw" => ErrorCode::ModerationBlockedNsfw,
            "route_not_found" => ErrorCode::RouteNotFound,
            "rate_limit_exceeded" => ErrorCode::RateLimitExceeded,
            "pending_task_limit_reached" => ErrorCode::PendingTaskLimitReached,
            "concurrent_task_limit_reached" => ErrorCode::ConcurrentTaskLimitReached,
            other => ErrorCode::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::ParametersConflict => "parameters_conflict",
            ErrorCode::InputTaskNotReady => "input_task_not_ready",
            ErrorCode::InputTaskUnsupported => "input_task_unsupported",
            ErrorCode::MetadataInvalid => "metadata_invalid",
            ErrorCode::ModerationBlockedNsfw => "moderation_blocked_nsfw",
            ErrorCode::RouteNotFound => "route_not_found",
            ErrorCode::RateLimitExceeded => "rate_limit_exceeded",
            ErrorCode::PendingTaskLimitReached => "pending_task_limit_reached",
            ErrorCode::ConcurrentTaskLimitReached => "concurrent_task_limit_reached",
            ErrorCode::Other(other) => other,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a v2 error body adds to the message: its class, its code and its page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorKind {
    /// `type`: `invalid_input`, `not_found`, `rate_limited`, … (empty when absent).
    pub kind: String,
    pub code: Option<ErrorCode>,
    pub doc_url: Option<String>,
}

impl ErrorKind {
    /// What the caller can do about it, where the code says (empty otherwise).
    pub fn advice(&self) -> &'static str {
        match self.code {
            Some(ErrorCode::ConcurrentTaskLimitReached) => {
                "; the account runs tasks without credits up to its plan's concurrent limit: wait for a task \
                 to finish, or top up credits"
            }
            Some(ErrorCode::RouteNotFound) => {
                "; Meshy has no such route: this is a wrong path in the request (a bug in the SDK or the base \
                 URL), not a missing task"
            }
            _ => "",
        }
    }
}

/// How an error's v2 fields are shown after its message: ` [type/code; see doc_url]` and
/// the advice; nothing for a v1 body.
pub(super) fn shown(kind: &Option<Box<ErrorKind>>) -> String {
    let Some(kind) = kind else {
        return String::new();
    };
    let mut names: Vec<&str> = Vec::new();
    if !kind.kind.is_empty() {
        names.push(&kind.kind);
    }
    if let Some(code) = &kind.code {
        names.push(code.as_str());
    }
    let see = kind
        .doc_url
        .as_deref()
        .map(|url| format!("; see {url}"))
        .unwrap_or_default();
    format!(" [{}{see}]{}", names.join("/"), kind.advice())
}

/// An error body, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ErrorBody {
    /// Meshy's message (the API key removed if a server echoed it), or the start of a
    /// body of another shape.
    pub message: String,
    /// The v2 fields; `None` for a v1 body (`message` alone) or another shape.
    pub kind: Option<Box<ErrorKind>>,
}

impl ErrorBody {
    pub fn parse(body: &[u8], api_key: &str) -> ErrorBody {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let field = |name: &str| {
            parsed
                .as_ref()
                .and_then(|v| v.get(name))
                .and_then(Value::as_str)
                .map(|s| crate::secrets::redact(s, api_key))
        };
        let message = match field("message") {
            Some(message) => message,
            None if body.is_empty() => "(empty body)".into(),
            None => excerpt(body, api_key),
        };
        let (kind, code) = (field("type"), field("code"));
        let kind = (kind.is_some() || code.is_some()).then(|| {
            Box::new(ErrorKind {
                kind: kind.unwrap_or_default(),
                code: code.as_deref().map(ErrorCode::parse),
                doc_url: field("doc_url"),
            })
        });
        ErrorBody { message, kind }
    }

    pub fn code(&self) -> Option<&ErrorCode> {
        self.kind.as_ref().and_then(|k| k.code.as_ref())
    }

    /// Whether a 429 with this body says the account's task queue is full, not the
    /// request rate: v2's `pending_task_limit_reached`, v1's `NoMoreConcurrentTasks` /
    /// `NoMorePendingTasks` message (a v1 body has no code to go by).
    pub fn queue_full(&self) -> bool {
        match &self.kind {
            Some(kind) => kind.code == Some(ErrorCode::PendingTaskLimitReached),
            None => {
                self.message.contains("NoMoreConcurrentTasks")
                    || self.message.contains("NoMorePendingTasks")
            }
        }
    }
}

/// The first 200 characters of a body, with the API key (if a server echoed it) removed.
pub(super) fn excerpt(body: &[u8], api_key: &str) -> String {
    let text = crate::secrets::redact(&String::from_utf8_lossy(body), api_key);
    let mut short: String = text.chars().take(200).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    short
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: Value) -> ErrorBody {
        ErrorBody::parse(value.to_string().as_bytes(), "msy_key_1234567890")
    }

    #[test]
    fn every_documented_v2_code_is_read_and_spelt_back() {
        for code in [
            "parameters_conflict",
            "input_task_not_ready",
            "input_task_unsupported",
            "metadata_invalid",
            "moderation_blocked_nsfw",
            "route_not_found",
            "rate_limit_exceeded",
            "pending_task_limit_reached",
            "concurrent_task_limit_reached",
        ] {
            let parsed = ErrorCode::parse(code);
            assert!(
                !matches!(parsed, ErrorCode::Other(_)),
                "{code} is a documented code"
            );
            assert_eq!(parsed.as_str(), code);
        }
        assert_eq!(
            ErrorCode::parse("quota_exploded"),
            ErrorCode::Other("quota_exploded".into())
        );
    }

    #[test]
    fn a_v2_body_keeps_its_four_fields_and_a_v1_body_its_message() {
        let v2 = body(
            json!({"type": "invalid_input", "code": "parameters_conflict",
            "message": "texture_prompt and texture_image_url are mutually exclusive",
            "doc_url": "https://docs.meshy.ai/api/errors#parameters_conflict"}),
        );
        assert_eq!(
            v2.message,
            "texture_prompt and texture_image_url are mutually exclusive"
        );
        assert_eq!(
            v2.kind.as_deref(),
            Some(&ErrorKind {
                kind: "invalid_input".into(),
                code: Some(ErrorCode::ParametersConflict),
                doc_url: Some("https://docs.meshy.ai/api/errors#parameters_conflict".into()),
            })
        );
        assert_eq!(
            shown(&v2.kind),
            " [invalid_input/parameters_conflict; see https://docs.meshy.ai/api/errors#parameters_conflict]"
        );
        let v1 = body(json!({"message": "Invalid API key"}));
        assert_eq!(v1.message, "Invalid API key");
        assert_eq!(v1.kind, None);
        assert_eq!(shown(&v1.kind), "", "a v1 error reads as before");
        let null_doc = body(json!({"type": "not_found", "code": "route_not_found",
            "message": "NoMatchingRoute: GET /openapi/v2/image-to-3d/t", "doc_url": null}));
        assert_eq!(null_doc.code(), Some(&ErrorCode::RouteNotFound));
        assert!(
            shown(&null_doc.kind)
                .starts_with(" [not_found/route_not_found]; Meshy has no such route")
        );
        assert_eq!(
            ErrorBody::parse(b"", "k").message,
            "(empty body)",
            "no body"
        );
        assert_eq!(
            ErrorBody::parse(b"<html>502</html>", "k").message,
            "<html>502</html>"
        );
    }

    #[test]
    fn the_queue_is_full_by_the_v2_code_or_the_v1_message_never_by_a_v2_message() {
        let v2 = |code: &str, message: &str| {
            body(json!({"type": "rate_limited", "code": code, "message": message, "doc_url": null}))
        };
        assert!(v2("pending_task_limit_reached", "too many tasks").queue_full());
        assert!(!v2("rate_limit_exceeded", "slow down").queue_full());
        assert!(!v2("concurrent_task_limit_reached", "top up").queue_full());
        assert!(
            !v2("rate_limit_exceeded", "NoMoreConcurrentTasks").queue_full(),
            "a v2 message decides nothing"
        );
        assert!(body(json!({"message": "NoMoreConcurrentTasks"})).queue_full());
        assert!(body(json!({"message": "NoMorePendingTasks"})).queue_full());
        assert!(!body(json!({"message": "Too many requests"})).queue_full());
    }

    #[test]
    fn an_echoed_api_key_never_reaches_the_message_or_the_fields() {
        let read = body(
            json!({"type": "invalid_input msy_key_1234567890", "code": "x",
            "message": "bad key msy_key_1234567890", "doc_url": null}),
        );
        assert!(
            !format!("{read:?}").contains("msy_key_1234567890"),
            "{read:?}"
        );
    }
}
