//! The Meshy simulator: a local stand-in for `api.meshy.ai` that speaks the API of
//! `meshy-api.md` — create, get, list, stream, delete, balance — and API v2 beside it
//! (`meshy-api-v2.md`: `v2` routes, `v2_body` task objects, `v2_usage`), moves tasks through
//! PENDING → IN_PROGRESS → a terminal status, POSTs every update to the configured
//! webhook URLs (and to a task's `callback_url`, a simulator-only extension) with the
//! webhook secret and account headers Meshy sends, and serves real GLB and PNG files
//! for the result URLs.
//!
//! ```no_run
#![doc = include_str!("../../examples/simulator.rs")]
//! ```
//!
//! Outcomes other than success (FAILED, CANCELED, slow tasks, duplicated or reordered
//! deliveries) are chosen by [`Rule`]s in the configuration or posted to
//! `POST /_sim/rules`, never by fields a client would also send to the real API.

mod api;
pub(crate) mod assets;
mod behaviour;
mod chaos;
#[cfg(test)]
mod chaos_tests;
mod delivery;
mod state;
mod task;
#[cfg(test)]
mod tests;
mod v2;
mod v2_body;
#[cfg(test)]
mod v2_tests;
mod v2_usage;
mod version;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use warp::Filter;

pub use api::API_VERSION;
pub use assets::{glb, png};
pub use behaviour::{Behaviour, MAX_TASK_SECONDS, Outcome, Rule, task_time, task_time_text};
pub use chaos::{Chaos, summary as chaos_summary};
pub use delivery::{DeliveryPolicy, DeliveryStats};
pub use state::QueueStats;
pub use version::{ApiVersion, UnknownApiVersion};

use crate::meshy::ApiGeneration;
use state::SimState;

/// How the simulator behaves. The defaults mirror a Meshy Pro account.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Port on 127.0.0.1. Default: 0, any free port.
    pub port: u16,
    /// URLs every task update is POSTed to (the dashboard webhooks). Default: none.
    pub webhook_urls: Vec<String>,
    /// Time from PENDING to the terminal status. Default: 2 s; zero finishes tasks as
    /// fast as possible.
    pub task_time: Duration,
    /// Accepted keys. Default: `None`, any `msy_`-prefixed key. The test-mode key is
    /// always accepted.
    pub api_keys: Option<Vec<String>>,
    /// Credits in the account. Default: 10 000.
    pub balance: u64,
    /// Requests per key within `rate_window` before 429 `RateLimitExceeded`. Default: 20.
    pub requests_per_second: u32,
    /// The window that limit counts in. Default: 1 s (Meshy's limit is per second; a
    /// test can widen it so that its requests' timing cannot matter).
    pub rate_window: Duration,
    /// Unfinished tasks before 429 `NoMoreConcurrentTasks`. Default: 10.
    pub max_queued_tasks: usize,
    pub delivery: DeliveryPolicy,
    /// Outcome rules, first match wins. Default: none (every task succeeds).
    pub rules: Vec<Rule>,
    /// The API version spoken (bodies, streams, `X-Api-Version`). Default: v2026.01.27;
    /// a rule's `api_version` overrides it per task.
    pub api_version: ApiVersion,
    /// Where failed webhook deliveries are logged (answered ≥ 400 or not at all; the
    /// URL's token redacted). Default: stderr.
    pub log: crate::log_sink::LogSink,
    /// The webhook secret every delivery carries in `x-meshy-api-webhook-secret-key`,
    /// as Meshy's do. Default: `None`, a random secret for this simulator (never shown);
    /// set it to the one a receiver checks.
    pub webhook_secret: Option<crate::secrets::WebhookSecret>,
    /// The account id every delivery carries in `x-meshy-api-webhook-user-id`. Default:
    /// [`SIM_USER_ID`] (the shape of Meshy's ids here is unconfirmed).
    pub webhook_user_id: String,
    /// The payload version of each of `webhook_urls`, in the same order: v1 or v2 task
    /// objects, whatever API created the task. A URL without an entry gets v1 (the
    /// version of the dashboard webhooks that predate v2; a new one's is unconfirmed).
    pub webhook_payloads: Vec<ApiGeneration>,
    /// Acts out 2027-03-15: every v1 route with a v2 twin, and text-to-3d with `mode`,
    /// answers 410 `api_v1_sunset`. Default: off.
    pub v1_sunset: bool,
    /// The date retired models are judged by (`YYYY-MM-DD`). Default: `None`, today's
    /// (UTC); a test or a replay sets one so that the calendar cannot fail it.
    pub today: Option<String>,
    /// Faults on purpose: lost and failed answers, slow ones, 429 bursts, webhook
    /// updates dropped, duplicated, reordered or late ([`Chaos`]). Default: none.
    pub chaos: Option<Chaos>,
}

/// The simulator's account id, sent with every webhook delivery.
pub const SIM_USER_ID: &str = "sim-user-0000000000000001";

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            port: 0,
            webhook_urls: Vec::new(),
            task_time: Duration::from_secs(2),
            api_keys: None,
            balance: 10_000,
            requests_per_second: 20,
            rate_window: Duration::from_secs(1),
            max_queued_tasks: 10,
            delivery: DeliveryPolicy::default(),
            rules: Vec::new(),
            api_version: ApiVersion::default(),
            log: crate::log_sink::LogSink::default(),
            webhook_secret: None,
            webhook_user_id: SIM_USER_ID.to_owned(),
            webhook_payloads: Vec::new(),
            v1_sunset: false,
            today: None,
            chaos: None,
        }
    }
}

impl SimConfig {
    /// Each webhook URL with its payload version (v1 where none is given).
    pub fn webhooks(&self) -> Vec<(String, ApiGeneration)> {
        self.webhook_urls
            .iter()
            .enumerate()
            .map(|(i, url)| {
                let payload = self.webhook_payloads.get(i).copied();
                (url.clone(), payload.unwrap_or(ApiGeneration::V1))
            })
            .collect()
    }

    /// The date retired models are judged by: [`SimConfig::today`], else today (UTC).
    pub fn today(&self) -> String {
        match &self.today {
            Some(day) => day.clone(),
            None => crate::clock::now_rfc3339().chars().take(10).collect(),
        }
    }

    /// No practical rate, queue or credit limits: for test suites that run many tasks.
    pub fn unlimited() -> SimConfig {
        SimConfig {
            balance: u64::MAX / 2,
            requests_per_second: 1_000_000,
            max_queued_tasks: usize::MAX,
            ..SimConfig::default()
        }
    }
}

/// A running simulator. Dropping it stops the server and every task; prefer
/// [`Simulator::shutdown`] to also wait for the server to close.
#[must_use = "the simulator stops when this handle is dropped"]
pub struct Simulator {
    addr: SocketAddr,
    base_url: String,
    state: Arc<SimState>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl Simulator {
    /// Binds 127.0.0.1 on the configured port and starts serving on the current
    /// tokio runtime.
    pub async fn start(mut config: SimConfig) -> std::io::Result<Simulator> {
        if config.webhook_secret.is_none() {
            config.webhook_secret = Some(crate::secrets::WebhookSecret::random()?);
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let http = crate::transport::http_client(Some(Duration::from_secs(30)))
            .map_err(std::io::Error::other)?;
        let state = Arc::new(SimState::new(config, base_url.clone(), http));
        let (shutdown, signal) = oneshot::channel::<()>();
        let server = warp::serve(routes(Arc::clone(&state)))
            .incoming(listener)
            .graceful(async {
                let _ = signal.await;
            });
        Ok(Simulator {
            addr,
            base_url,
            state,
            shutdown: Some(shutdown),
            server: Some(tokio::spawn(server.run())),
        })
    }

    /// `http://127.0.0.1:<port>`: the API base URL (use it as `MESHY_BASE_URL`).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where result files are served: `<base_url>/assets`.
    pub fn assets_url(&self) -> String {
        self.state.assets_base()
    }

    /// Adds an outcome rule for tasks created from now on.
    pub fn add_rule(&self, rule: Rule) {
        self.state.add_rule(rule);
    }

    /// Waits until every task created so far has reached its end and every webhook
    /// delivery for it was made or abandoned.
    pub async fn settle(&self) {
        self.state.settle().await;
    }

    /// Seeds a finished task recorded elsewhere (same id, its assets served), so a
    /// dependent scenario can be recorded alone: `payload` is its terminal task object.
    /// Nothing is charged; no webhooks are sent. `false` if `payload` has no string `id`.
    pub fn seed_task(
        &self,
        task_type: crate::meshy::TaskType,
        payload: &serde_json::Value,
    ) -> bool {
        let Some(id) = payload.get("id").and_then(serde_json::Value::as_str) else {
            return false;
        };
        let number = |field: &str| {
            payload
                .get(field)
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(0)
        };
        let status = crate::webhooks::status_of(payload);
        self.state.seed(task::SimTask {
            id: id.to_owned(),
            task_type,
            request: payload.as_object().cloned().unwrap_or_default(),
            callback_url: None,
            behaviour: Default::default(),
            progress: if status.is_terminal() { 100 } else { 0 },
            status,
            created_at: number("created_at"),
            started_at: number("started_at"),
            finished_at: number("finished_at"),
            credits: 0,
            sample: false,
            api_version: self.state.config.api_version,
            generation: crate::meshy::ApiGeneration::V1,
            metadata: None,
            key_suffix: String::new(),
        });
        true
    }

    /// How full the task queue got: its peak and the creates refused for it.
    pub fn queue_stats(&self) -> state::QueueStats {
        *crate::sync::lock(&self.state.queue)
    }

    /// Webhook deliveries made so far.
    pub fn delivery_stats(&self) -> DeliveryStats {
        self.state.counters.snapshot()
    }

    /// The ids of the tasks it made, in creation order.
    pub fn task_ids(&self) -> Vec<String> {
        self.state.task_ids()
    }

    /// Credits taken from the account since the simulator started (refunds counted).
    pub fn credits_charged(&self) -> u64 {
        self.state
            .config
            .balance
            .saturating_sub(self.state.balance())
    }

    /// The chaos faults injected so far, by kind (empty without chaos).
    pub fn chaos_stats(&self) -> std::collections::BTreeMap<String, u64> {
        self.state
            .chaos
            .as_ref()
            .map(|c| c.counts())
            .unwrap_or_default()
    }

    /// Stops accepting requests, stops every task, and waits for the server to close.
    pub async fn shutdown(mut self) {
        self.stop();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.state.stop_workers();
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One catch-all route: `api::handle` does the routing.
fn routes(
    state: Arc<SimState>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    warp::method()
        .and(warp::path::full())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::header::optional::<String>("x-meshy-metadata"))
        .and(warp::body::bytes())
        .then(
            move |method: warp::http::Method,
                  path: warp::path::FullPath,
                  query,
                  authorization,
                  metadata,
                  body| {
                let request = api::ApiRequest {
                    method: method.to_string(),
                    path: path.as_str().to_owned(),
                    query,
                    authorization,
                    metadata,
                    body,
                };
                api::handle(Arc::clone(&state), request)
            },
        )
}
