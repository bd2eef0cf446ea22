//! Webhook delivery: POSTs every update of a task, the bare task object, to each
//! target URL. Updates of one task leave in order; a delivery answered ≥ 400 or that
//! cannot connect is retried with exponential backoff a bounded number of times.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

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
    /// Wait before the second attempt, doubled for each further one. Default: 200 ms.
    pub backoff: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy {
            attempts: 5,
            backoff: Duration::from_millis(200),
        }
    }
}

/// Delivers the updates arriving on `updates` to every URL in `targets`, in order;
/// each update twice when `duplicate`. Ends when the sender is dropped.
pub async fn deliver_updates(
    http: reqwest::Client,
    policy: DeliveryPolicy,
    counters: std::sync::Arc<DeliveryCounters>,
    targets: Vec<String>,
    duplicate: bool,
    mut updates: mpsc::UnboundedReceiver<Value>,
) {
    while let Some(body) = updates.recv().await {
        let body = body.to_string();
        for _ in 0..if duplicate { 2 } else { 1 } {
            let sends = targets
                .iter()
                .map(|url| deliver(&http, &policy, &counters, url, &body));
            futures_util::future::join_all(sends).await;
        }
    }
}

async fn deliver(
    http: &reqwest::Client,
    policy: &DeliveryPolicy,
    counters: &DeliveryCounters,
    url: &str,
    body: &str,
) {
    for attempt in 1..=policy.attempts.max(1) {
        let sent = http
            .post(url)
            .header("Content-Type", "application/json")
            .header("User-Agent", "Meshy-Webhook (mesh-toolkit simulator)")
            .body(body.to_owned())
            .send()
            .await;
        if sent.is_ok_and(|response| response.status().as_u16() < 400) {
            counters.delivered.fetch_add(1, Ordering::SeqCst);
            return;
        }
        if attempt < policy.attempts {
            counters.retried.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(policy.backoff.saturating_mul(1 << (attempt - 1).min(16))).await;
        }
    }
    counters.abandoned.fetch_add(1, Ordering::SeqCst);
}
