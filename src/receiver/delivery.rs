//! One delivery on its way in: the checks a webhook POST must pass before anything is
//! stored (route names, body size and completeness, the task object and its id), and
//! the refusals with their status codes and messages.
//!
//! Limits keep every recording's file name (and the temporary name beside it that
//! `atomic_file` writes first) well under the 255 bytes file systems allow: species
//! and task type at most 64 characters of `[a-z0-9_-]`, task ids at most 64 of
//! `[A-Za-z0-9-]`.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;

use crate::meshy::TaskType;
use crate::repository::is_valid_name;

/// Largest delivery accepted: 1 MiB.
pub const MAX_BODY: usize = 1024 * 1024;

/// Longest species, task type and task id accepted.
pub const MAX_NAME: usize = 64;

/// Why a webhook POST was not stored. Each is answered with [`Refusal::status`] and a
/// JSON body `{"error": <message>}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    #[error("webhooks are POSTed")]
    Method,
    #[error("missing or wrong token")]
    Token,
    /// The receiver checks Meshy's webhook secret and the delivery's
    /// `x-meshy-api-webhook-secret-key` is missing, wrong, or repeated with a wrong value.
    #[error("missing or wrong webhook secret (x-meshy-api-webhook-secret-key)")]
    Secret,
    #[error(
        "species and task type must each be 1 to 64 characters of [a-z0-9_-], the task type a known one \
         (/webhook/{{species}}/{{task_type}})"
    )]
    Route,
    #[error("deliveries are limited to 1 MiB")]
    TooLarge,
    #[error(
        "the body ended early: the connection closed before the whole body (Content-Length or the last \
         chunk) arrived; send it again, whole"
    )]
    Truncated,
    #[error("the body stalled: no bytes arrived for {0} ms; send it again without pausing")]
    Stalled(u64),
    #[error("the body must be a JSON task object")]
    NotJson,
    #[error("the task object needs a string id of 1 to 64 letters, digits and '-'")]
    BadId,
    #[error(
        "the delivery could not be recorded on the receiver's disk; it is taken when delivered again"
    )]
    NotStored,
}

impl Refusal {
    /// The HTTP status it is answered with.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Method => 405,
            Refusal::Token | Refusal::Secret => 401,
            Refusal::Route | Refusal::Truncated | Refusal::NotJson | Refusal::BadId => 400,
            Refusal::TooLarge => 413,
            Refusal::Stalled(_) => 408,
            Refusal::NotStored => 503,
        }
    }

    /// A short name, one per kind of refusal (what log lines are rate-limited by).
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Method => "method",
            Refusal::Token => "token",
            Refusal::Secret => "webhook secret",
            Refusal::Route => "route",
            Refusal::TooLarge => "too large",
            Refusal::Truncated => "body ended early",
            Refusal::Stalled(_) => "body stalled",
            Refusal::NotJson => "not a task object",
            Refusal::BadId => "bad task id",
            Refusal::NotStored => "not stored",
        }
    }
}

/// Species and task type of a per-task callback URL.
pub fn check_route(species: &str, task_type: &str) -> Result<(), Refusal> {
    let fits = |name: &str| name.len() <= MAX_NAME && is_valid_name(name);
    if fits(species) && fits(task_type) && task_type.parse::<TaskType>().is_ok() {
        Ok(())
    } else {
        Err(Refusal::Route)
    }
}

/// 1 to 64 characters of `[A-Za-z0-9-]`: safe in a file name, with room to spare.
pub fn is_valid_task_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_NAME
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The task object in a delivery's body: a JSON object with a valid string `id`.
pub fn parse_payload(body: &[u8]) -> Result<Value, Refusal> {
    let payload: Value = match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => Value::Object(fields),
        _ => return Err(Refusal::NotJson),
    };
    if payload
        .get("id")
        .and_then(Value::as_str)
        .is_some_and(is_valid_task_id)
    {
        Ok(payload)
    } else {
        Err(Refusal::BadId)
    }
}

/// The whole body: refused once it passes `limit` bytes (whatever Content-Length
/// said), when the connection ends before it is complete, when no bytes arrive for
/// `stall`, and when the whole body takes longer than twice that.
pub async fn read_body<S, B>(mut body: S, limit: usize, stall: Duration) -> Result<Vec<u8>, Refusal>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Unpin,
    B: warp::Buf,
{
    let mut bytes = Vec::new();
    // A trickle (a byte now and then) must not hold the connection either: the whole
    // body gets twice the stall time.
    let deadline = tokio::time::Instant::now() + stall.saturating_mul(2);
    loop {
        let wait = stall.min(deadline.saturating_duration_since(tokio::time::Instant::now()));
        let next = match tokio::time::timeout(wait, body.next()).await {
            Ok(next) => next,
            Err(_) => {
                return Err(Refusal::Stalled(
                    u64::try_from(stall.as_millis()).unwrap_or(u64::MAX),
                ));
            }
        };
        let Some(chunk) = next else {
            return Ok(bytes);
        };
        // hyper ends the body with an error when the connection closes (or a chunk
        // header is broken) before the body is complete.
        let mut chunk = chunk.map_err(|_| Refusal::Truncated)?;
        while chunk.has_remaining() {
            let part = chunk.chunk();
            let n = part.len();
            if bytes.len() + n > limit {
                return Err(Refusal::TooLarge);
            }
            bytes.extend_from_slice(part);
            chunk.advance(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_that_cannot_make_a_file_name_are_refused() {
        assert_eq!(check_route("otter", "text3d"), Ok(()));
        assert_eq!(check_route(&"a".repeat(64), "text3d"), Ok(()));
        assert_eq!(check_route(&"a".repeat(65), "text3d"), Err(Refusal::Route));
        assert_eq!(check_route(&"a".repeat(300), "text3d"), Err(Refusal::Route));
        assert_eq!(check_route("otter", "made_up"), Err(Refusal::Route));
        assert!(is_valid_task_id(&"0".repeat(64)));
        assert!(!is_valid_task_id(&"0".repeat(65)));
        assert!(!is_valid_task_id("a_b") && !is_valid_task_id("../x") && !is_valid_task_id(""));
        let long = format!("{{\"id\": \"{}\"}}", "a".repeat(65));
        assert_eq!(parse_payload(long.as_bytes()), Err(Refusal::BadId));
        assert!(parse_payload(br#"{"id": "019a97e6-58dc"}"#).is_ok());
    }
}
