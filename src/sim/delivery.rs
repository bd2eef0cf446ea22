//! Webhook delivery: POSTs every update of a task, the bare task object in the payload
//! version of the target (v1 or v2, whatever API created the task), to each target URL, with the headers Meshy's deliveries carry (the webhook secret in plain
//! text and the account id). Updates of one task leave in order; a delivery answered ≥ 400 or that
//! cannot connect is retried with exponential backoff a bounded number of times, and
//! each such attempt is logged (status or error, URL with its token redacted).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;

use super::state::Bodies;
use crate::meshy::ApiGeneration;

use crate::log_sink::LogSink;
use crate::secrets::{WEBHOOK_SECRET_HEADER, WEBHOOK_USER_HEADER, WebhookSecret, redact_url};

/// Counters of what the simulator delivered, for tests and the CLI.
#[derive(Debug, Default)]
pub struct DeliveryCounters {
    delivered: AtomicU64,
    retried: AtomicU64,
    abandoned: AtomicU64,
}

/// What the simulator delivered so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryStats {
    /// Deliveries answered < 400.
    pub delivered: u64,
    /// Attempts that failed and were tried again.
    pub retried: u64,
    /// Deliveries given up after the last attempt.
    pub abandoned: u64,
}

impl DeliveryCounters {
    pub fn snapshot(&self) -> DeliveryStats {
        DeliveryStats {
            delivered: self.delivered.load(Ordering::SeqCst),
            retried: self.retried.load(Ordering::SeqCst),
            abandoned: self.abandoned.load(Ordering::SeqCst),
        }
    }
}

/// How deliveries are retried.
#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    /// Attempts per delivery, the first included. Default: 5.
    pub attempts: u32,
    /// Wait before the second attempt, doubled for each further one (at most 16 times:
    /// 3.6 h at the default). Default: 200 ms.
    pub backoff: Duration,
}

/// The doublings after which a delivery's wait stops growing.
const MAX_DOUBLINGS: u32 = 16;

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy {
            attempts: 5,
            backoff: Duration::from_millis(200),
        }
    }
}

/// Who the deliveries come from: the headers every Meshy delivery carries.
#[derive(Debug, Clone)]
pub struct Sender {
    /// Sent in `x-meshy-api-webhook-secret-key` (plain text, as Meshy does).
    pub secret: Option<WebhookSecret>,
    /// Sent in `x-meshy-api-webhook-user-id`.
    pub user_id: String,
}

/// Delivers the updates arriving on `updates` to every URL in `targets`, in order;
/// each update twice when `duplicate`. Ends when the sender is dropped.
#[allow(clippy::too_many_arguments)]
pub async fn deliver_updates(
    http: reqwest::Client,
    policy: DeliveryPolicy,
    counters: std::sync::Arc<DeliveryCounters>,
    log: LogSink,
    sender: Sender,
    targets: Vec<(String, ApiGeneration)>,
    duplicate: bool,
    mut updates: mpsc::UnboundedReceiver<Bodies>,
) {
    while let Some(bodies) = updates.recv().await {
        let (v1, v2) = (bodies.v1.to_string(), bodies.v2.to_string());
        for _ in 0..if duplicate { 2 } else { 1 } {
            let sends = targets.iter().map(|(url, payload)| {
                let body = match payload {
                    ApiGeneration::V1 => &v1,
                    ApiGeneration::V2 => &v2,
                };
                deliver(&http, &policy, &counters, &log, &sender, url, body)
            });
            futures_util::future::join_all(sends).await;
        }
    }
}

async fn deliver(
    http: &reqwest::Client,
    policy: &DeliveryPolicy,
    counters: &DeliveryCounters,
    log: &LogSink,
    sender: &Sender,
    url: &str,
    body: &str,
) {
    let attempts = policy.attempts.max(1);
    for attempt in 1..=attempts {
        let mut request = http
            .post(url)
            .header("Content-Type", "application/json")
            .header("User-Agent", "Meshy-Webhook (mesh-toolkit simulator)")
            .header(WEBHOOK_USER_HEADER, &sender.user_id);
        if let Some(secret) = &sender.secret {
            request = request.header(WEBHOOK_SECRET_HEADER, secret.expose());
        }
        let sent = request.body(body.to_owned()).send().await;
        let failure = match sent {
            Ok(response) if response.status().as_u16() < 400 => {
                counters.delivered.fetch_add(1, Ordering::SeqCst);
                return;
            }
            Ok(response) => format!("got {}", response.status()),
            Err(error) => format!("got no answer ({})", error_text(&error)),
        };
        let backoff = crate::backoff::exponential(
            policy.backoff,
            attempt.min(MAX_DOUBLINGS + 1),
            Duration::MAX,
        );
        let next = if attempt < attempts {
            format!("retrying in {} ms", backoff.as_millis())
        } else {
            "giving up".to_owned()
        };
        log.line(&format!(
            "mesh-toolkit sim: webhook delivery to {} {failure} (attempt {attempt} of {attempts}; {next})",
            redact_url(url)
        ));
        if attempt < attempts {
            counters.retried.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(backoff).await;
        }
    }
    counters.abandoned.fetch_add(1, Ordering::SeqCst);
}

/// The error and its causes, without the URL (it carries the token).
fn error_text(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&redact_url(&cause.to_string()));
        source = cause.source();
    }
    text
}
