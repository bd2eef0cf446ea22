//! The webhook receiver: a warp server on 127.0.0.1 that takes Meshy's deliveries,
//! refuses anything not authentic, and hands the rest to its delivery store.
//!
//! Routes (see DESIGN.md, "The webhook receiver"):
//! - `POST /webhook/{species}/{task_type}?token=…`: a per-task callback URL.
//! - `POST /webhook?token=…`: the one URL of the Meshy dashboard; routed by task `id`.
//! - `GET /health[?nonce=…]`: liveness, echoing the nonce (the tunnel preflight).
//!
//! Refusals, none of them ever written: 401 without the run's token, 413 over 1 MiB,
//! 400 for a body that is not a JSON object with a string `id`, or a path segment
//! outside `[a-z0-9_-]`. Authentic deliveries always get 200, so Meshy never disables
//! the webhook.
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use mesh_toolkit::receiver::{Receiver, ReceiverConfig};
//! let receiver = Receiver::start(ReceiverConfig::new("cassettes/webhooks")).await?;
//! println!("dashboard URL: {}", receiver.webhook_url(receiver.local_url()));
//! receiver.shutdown().await;
//! # Ok(()) }
//! ```

mod store;
#[cfg(test)]
mod tests;
pub mod token;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use warp::Filter;
use warp::http::Response;

pub use store::{Accepted, Claim, Progress, StoreConfig};

use crate::cassette::Scrub;
use crate::meshy::TaskType;
use crate::repository::is_valid_name;
use store::Store;

/// Largest delivery accepted: 1 MiB.
pub const MAX_BODY: usize = 1024 * 1024;

/// What the receiver prints about deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Announce {
    /// A line on stderr for deliveries nobody waits for (the harness).
    #[default]
    Unclaimed,
    /// A line on stdout for every delivery (the standalone receiver).
    Every,
}

/// How to run the receiver.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// Port on 127.0.0.1. Default: 0, any free port.
    pub port: u16,
    /// The secret every webhook URL carries. Default: `MESHY_WEBHOOK_TOKEN` if set,
    /// else a random token for this run.
    pub token: Option<String>,
    pub store: StoreConfig,
    pub announce: Announce,
}

impl ReceiverConfig {
    /// Defaults, recording into `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> ReceiverConfig {
        ReceiverConfig {
            port: 0,
            token: None,
            store: StoreConfig {
                dir: dir.into(),
                record_all: false,
                scrub: Scrub::default(),
                drop_headers: Vec::new(),
            },
            announce: Announce::Unclaimed,
        }
    }
}

/// Counters of what the receiver answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    pub accepted: u64,
    pub refused: u64,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    refused: AtomicU64,
}

/// A running receiver. Dropping it stops the server; [`Receiver::shutdown`] also waits
/// for deliveries being written.
#[must_use = "the receiver stops when this handle is dropped"]
pub struct Receiver {
    addr: SocketAddr,
    token: String,
    announce: Announce,
    store: Arc<Store>,
    counters: Arc<Counters>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl Receiver {
    pub async fn start(config: ReceiverConfig) -> std::io::Result<Receiver> {
        let token = config
            .token
            .clone()
            .or_else(|| {
                std::env::var("MESHY_WEBHOOK_TOKEN")
                    .ok()
                    .filter(|t| !t.trim().is_empty())
            })
            .unwrap_or_else(random_token);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
        let addr = listener.local_addr()?;
        let store = Arc::new(Store::new(config.store.clone(), token.clone()));
        let counters = Arc::new(Counters::default());
        let context = Arc::new(Context {
            token: token.clone(),
            store: Arc::clone(&store),
            counters: Arc::clone(&counters),
            announce: config.announce,
        });
        let (shutdown, signal) = oneshot::channel::<()>();
        let server = warp::serve(routes(context))
            .incoming(listener)
            .graceful(async {
                let _ = signal.await;
            });
        Ok(Receiver {
            addr,
            token,
            announce: config.announce,
            store,
            counters,
            shutdown: Some(shutdown),
            server: Some(tokio::spawn(server.run())),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn local_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The run's secret token. Never log it.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The dashboard webhook URL under `base` (the local or the public URL).
    pub fn webhook_url(&self, base: impl AsRef<str>) -> String {
        format!(
            "{}/webhook?token={}",
            base.as_ref().trim_end_matches('/'),
            self.token
        )
    }

    /// The per-task callback URL under `base`.
    pub fn callback_url(&self, base: impl AsRef<str>, species: &str, task_type: &str) -> String {
        format!(
            "{}/webhook/{species}/{task_type}?token={}",
            base.as_ref().trim_end_matches('/'),
            self.token
        )
    }

    /// Claims a task's deliveries for a waiting trial: deliveries that arrived
    /// before the claim count too.
    pub fn claim(&self, claim: Claim) -> watch::Receiver<Progress> {
        self.store.claim(claim)
    }

    /// The claiming trial passed: the task's recording loses its `incomplete` mark.
    pub fn complete(&self, task_id: &str) -> Result<PathBuf, String> {
        self.store.complete(task_id)
    }

    /// Completes a task's recording with the API's terminal task object, marked
    /// `payload_source: "api"`, when its terminal webhook never came.
    pub fn accept_api_payload(
        &self,
        task_id: &str,
        payload: serde_json::Value,
    ) -> Result<PathBuf, String> {
        self.store.accept_api_payload(task_id, payload)
    }

    pub fn stats(&self) -> ReceiverStats {
        ReceiverStats {
            accepted: self.counters.accepted.load(Ordering::SeqCst),
            refused: self.counters.refused.load(Ordering::SeqCst),
        }
    }

    /// Stops taking deliveries and waits until those in flight are written. In the
    /// harness, reports deliveries that no trial claimed (answered 200, not written).
    pub async fn shutdown(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        let unclaimed = self.store.unclaimed();
        if self.announce == Announce::Unclaimed && !unclaimed.is_empty() {
            let tasks: Vec<String> = unclaimed
                .iter()
                .map(|(id, n)| format!("{id} ({n})"))
                .collect();
            eprintln!(
                "mesh-toolkit receiver: deliveries for tasks no scenario waited for, answered 200 and not recorded: {}",
                tasks.join(", ")
            );
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

struct Context {
    token: String,
    store: Arc<Store>,
    counters: Arc<Counters>,
    announce: Announce,
}

type Reply = warp::reply::Response;

fn routes(
    context: Arc<Context>,
) -> impl Filter<Extract = (Reply,), Error = warp::Rejection> + Clone {
    warp::method()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(
            move |method: warp::http::Method,
                  path: warp::path::FullPath,
                  query: String,
                  headers: warp::http::HeaderMap,
                  body| {
                let context = Arc::clone(&context);
                let path = path.as_str().to_owned();
                async move {
                    let reply =
                        handle(&context, method.as_str(), &path, &query, &headers, body).await;
                    let counter = if reply.status().as_u16() < 400 {
                        &context.counters.accepted
                    } else {
                        &context.counters.refused
                    };
                    if path.starts_with("/webhook") {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    reply
                }
            },
        )
}

async fn handle<S, B>(
    context: &Context,
    method: &str,
    path: &str,
    query: &str,
    headers: &warp::http::HeaderMap,
    body: S,
) -> Reply
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Unpin,
    B: warp::Buf,
{
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let route = match (method, &segments[..]) {
        ("GET", ["health"]) => {
            return answer(
                200,
                json!({"status": "ok", "service": "mesh-toolkit receiver", "nonce": param(query, "nonce")}),
            );
        }
        ("POST", ["webhook"]) => None,
        ("POST", ["webhook", species, task_type]) => Some((*species, *task_type)),
        (_, ["webhook", ..]) => return answer(405, json!({"error": "webhooks are POSTed"})),
        _ => return answer(404, json!({"error": "not found"})),
    };
    if !param(query, "token").is_some_and(|t| same(&t, &context.token)) {
        return answer(401, json!({"error": "missing or wrong token"}));
    }
    let bad_route = route.is_some_and(|(species, task_type)| {
        !is_valid_name(species)
            || !is_valid_name(task_type)
            || task_type.parse::<TaskType>().is_err()
    });
    if bad_route {
        return answer(
            400,
            json!({"error": "species and task type must be [a-z0-9_-] names of a known task type"}),
        );
    }
    let Some(bytes) = read_limited(body, MAX_BODY).await else {
        return answer(413, json!({"error": "deliveries are limited to 1 MiB"}));
    };
    let payload: Value = match serde_json::from_slice(&bytes) {
        Ok(Value::Object(fields)) => Value::Object(fields),
        _ => return answer(400, json!({"error": "the body must be a JSON task object"})),
    };
    if !payload.get("id").and_then(Value::as_str).is_some_and(|id| {
        !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }) {
        return answer(
            400,
            json!({"error": "the task object needs a string id of letters, digits, '-' and '_'"}),
        );
    }
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let route = route.map(|(s, t)| (s.to_owned(), t.to_owned()));
    let store = Arc::clone(&context.store);
    let accepted =
        match tokio::task::spawn_blocking(move || store.accept(route, &headers, payload)).await {
            Ok(accepted) => accepted,
            Err(_) => return answer(500, json!({"error": "the delivery could not be stored"})),
        };
    announce(context.announce, &accepted);
    answer(200, json!({"received": true}))
}

fn announce(mode: Announce, accepted: &Accepted) {
    let progress = accepted
        .progress
        .map(|p| format!(" {p}%"))
        .unwrap_or_default();
    match (mode, &accepted.file) {
        (Announce::Every, Some(file)) => println!(
            "{} {}{progress} -> {}",
            accepted.task_id,
            accepted.status,
            file.display()
        ),
        (Announce::Every, None) => println!("{} {}{progress}", accepted.task_id, accepted.status),
        // Unclaimed deliveries are reported once, at shutdown: a delivery that beats
        // the submit response is claimed a moment later.
        _ => {}
    }
}

/// The body, or `None` once it passes `limit` bytes (whatever Content-Length said).
async fn read_limited<S, B>(mut body: S, limit: usize) -> Option<Vec<u8>>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Unpin,
    B: warp::Buf,
{
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.ok()?;
        while chunk.has_remaining() {
            let part = chunk.chunk();
            bytes.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
            if bytes.len() > limit {
                return None;
            }
        }
    }
    Some(bytes)
}

fn param(query: &str, name: &str) -> Option<String> {
    let url = reqwest::Url::parse(&format!("http://q/?{query}")).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Compares in time independent of where the strings differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// 32 hex characters from the OS's random source.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 16];
    let read = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if read.is_err() {
        // No /dev/urandom: RandomState is seeded from the OS's randomness too.
        use std::hash::BuildHasher;
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            let value = std::collections::hash_map::RandomState::new().hash_one(i);
            chunk.copy_from_slice(&value.to_le_bytes());
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn answer(status: u16, body: Value) -> Reply {
    Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .body(body.to_string().into())
        .unwrap_or_else(|_| Response::new(Default::default()))
}
