//! Re-delivery: POSTs a recording's deliveries, in order and with their recorded
//! headers, to any endpoint — a user's own service under test — and reports what
//! each answered. Hop-by-hop headers are not replayed: they described the original
//! connection, not the delivery. Recordings hold a placeholder for Meshy's webhook
//! secret; given the real one, every delivery carries it instead, for an endpoint
//! that checks it.

use crate::secrets::{WEBHOOK_SECRET_HEADER, WebhookSecret};
use crate::transport::{HttpRequest, Transport};

use super::{Recording, status_of};

/// Headers that belong to one connection (RFC 9110 §7.6.1) or that the client sets.
const HOP_BY_HOP: [&str; 11] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// What one re-delivery got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redelivered {
    /// 1-based position in the recording's deliveries.
    pub number: usize,
    /// The delivered task's status and progress, for the report.
    pub task: String,
    /// The HTTP status answered, or the error that prevented an answer.
    pub outcome: Result<u16, String>,
}

impl Redelivered {
    /// Whether the endpoint took it (an answer below 400, as Meshy counts it).
    pub fn ok(&self) -> bool {
        matches!(self.outcome, Ok(status) if status < 400)
    }
}

/// POSTs the deliveries of `recording` (only the terminal one with `only_terminal`)
/// to `url` through `transport`, one after the other; with `secret`, each carries it in
/// `x-meshy-api-webhook-secret-key` in place of the recorded placeholder.
pub async fn redeliver(
    recording: &Recording,
    url: &str,
    only_terminal: bool,
    secret: Option<&WebhookSecret>,
    transport: &dyn Transport,
) -> Vec<Redelivered> {
    let chosen: Vec<(
        usize,
        &serde_json::Value,
        &std::collections::BTreeMap<String, String>,
    )> = if only_terminal {
        let number = recording
            .deliveries
            .iter()
            .position(|d| d.payload == recording.payload)
            .map_or(recording.deliveries.len(), |i| i + 1);
        vec![(number, &recording.payload, &recording.headers)]
    } else {
        recording
            .deliveries
            .iter()
            .enumerate()
            .map(|(i, d)| (i + 1, &d.payload, &d.headers))
            .collect()
    };
    let mut report = Vec::new();
    for (number, payload, headers) in chosen {
        let mut request = HttpRequest::new("POST", url);
        for (name, value) in headers {
            let replaced = secret.is_some() && name.eq_ignore_ascii_case(WEBHOOK_SECRET_HEADER);
            if !HOP_BY_HOP.contains(&name.as_str()) && !replaced {
                request = request.with_header(name.clone(), value.clone());
            }
        }
        if let Some(secret) = secret {
            request = request.with_header(WEBHOOK_SECRET_HEADER, secret.expose());
        }
        if request.header("content-type").is_none() {
            request = request.with_header("Content-Type", "application/json");
        }
        request.body = payload.to_string().into_bytes();
        let progress = payload
            .get("progress")
            .and_then(|p| p.as_u64())
            .map(|p| format!(" {p}%"))
            .unwrap_or_default();
        let outcome = transport
            .send(request)
            .await
            .map(|r| r.status)
            .map_err(|e| e.to_string());
        report.push(Redelivered {
            number,
            task: format!("{}{progress}", status_of(payload)),
            outcome,
        });
    }
    report
}
