//! The webhook receiver: a warp server on 127.0.0.1 that takes Meshy's deliveries,
//! refuses anything not authentic or not storable, and hands the rest to its
//! delivery store; it answers 200 only for what the store kept.
//!
//! Routes (see DESIGN.md, "The webhook receiver"):
//! - `POST /webhook/{species}/{task_type}?token=…`: a per-task callback URL.
//! - `POST /webhook?token=…`: the one URL of the Meshy dashboard; routed by task `id`.
//! - `GET /health[?nonce=…]`: liveness, echoing the nonce (the tunnel preflight).
//!
//! Refusals, none of them ever written (see [`Refusal`]): 401 without the run's
//! token, or — when a webhook secret is configured ([`ReceiverConfig::secret`]) — without
//! the matching `x-meshy-api-webhook-secret-key` (checked as well as the token), 413 over 1 MiB, 400 for a body cut short, a body that is not a JSON object
//! with a valid string `id`, or a path segment that cannot be a file name, 408 for a
//! body that stalls, 503 when the recording could not be written (Meshy delivers
//! again). Each refusal is logged with its reason, one line per reason per second.
//! Authentic deliveries that were stored get 200, so Meshy never disables the webhook.
//! The secret header's value is never stored or logged: a recording keeps its name
//! with a placeholder (see `store.rs`).
//!
//! ```no_run
#![doc = include_str!("../../examples/receiver.rs")]
//! ```

mod delivery;
#[cfg(test)]
mod secret_tests;
#[cfg(test)]
mod spool_tests;
mod store;
#[cfg(test)]
mod tests;
pub mod token;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use warp::Filter;
use warp::http::Response;

pub use delivery::{MAX_BODY, MAX_NAME, Refusal, check_route, is_valid_task_id, parse_payload};
pub use store::{Accepted, Claim, Progress, SPOOL_MAX_AGE, StoreConfig, StoreError, spool_dir};

use crate::cassette::Scrub;
use crate::log_sink::{LogSink, RateLimit};
use crate::secrets::{WEBHOOK_SECRET_HEADER, WebhookSecret, constant_time_eq};
use store::Store;

/// What the receiver prints about deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Announce {
    /// A line on stderr for deliveries nobody waits for (the harness).
    #[default]
    Unclaimed,
    /// A line on stdout for every delivery (the standalone receiver).
    Every,
}

/// How to run the receiver. Its `Debug` shows neither the token nor any secret.
#[derive(Clone)]
pub struct ReceiverConfig {
    /// Port on 127.0.0.1. Default: 0, any free port.
    pub port: u16,
    /// The secret every webhook URL carries. Default: `MESHY_WEBHOOK_TOKEN` if set,
    /// else a random token for this run. An empty one is refused
    /// ([`ReceiverError::EmptyToken`]).
    pub token: Option<String>,
    /// Meshy's webhook secret: when set, a delivery is taken only with this value in
    /// `x-meshy-api-webhook-secret-key` (else 401, nothing stored). Default: `None`, not
    /// checked; the command line and the harness read `MESHY_WEBHOOK_SECRET` or a file
    /// ([`WebhookSecret::resolve`]). Either way the value is never written.
    pub secret: Option<WebhookSecret>,
    pub store: StoreConfig,
    pub announce: Announce,
    /// A delivery whose body sends no bytes for this long is answered 408. Default: 30 s.
    pub body_stall: Duration,
    /// Where refusals and write errors are logged (one line per reason per second).
    /// Default: stderr.
    pub log: LogSink,
    /// What it serves, said in its health answer (a harness run uses a receiver already
    /// running only when it serves the same project and writes the same formats).
    pub serves: Option<Serves>,
}

/// What a receiver serves, in its health answer: the project (its target dir's
/// `mesh-toolkit` directory, where the token is kept), the cassettes and the spool it
/// writes, and the toolkit version and file formats it writes them in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Serves {
    pub project: PathBuf,
    pub cassettes: PathBuf,
    pub spool: PathBuf,
    pub toolkit: String,
    pub formats: std::collections::BTreeMap<String, u32>,
}

/// The versions of the files a receiver writes: a harness of another version refuses
/// to use it.
pub const FORMATS: [(&str, u32); 2] = [("webhook_recording", 1), ("spool", 1)];

impl Serves {
    /// What this toolkit serves for the project at `workdir` (`workdir::dir()`) with
    /// `cassettes`: absolute paths, so runs from any directory compare equal.
    pub fn here(workdir: &std::path::Path, cassettes: &std::path::Path) -> Serves {
        let absolute =
            |path: &std::path::Path| std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        Serves {
            project: absolute(workdir),
            cassettes: absolute(cassettes),
            spool: absolute(&store::spool_dir(workdir)),
            toolkit: env!("CARGO_PKG_VERSION").to_owned(),
            formats: FORMATS.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        }
    }
}

impl std::fmt::Debug for ReceiverConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiverConfig")
            .field("port", &self.port)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("secret", &self.secret)
            .field("store", &self.store)
            .field("announce", &self.announce)
            .field("body_stall", &self.body_stall)
            .finish_non_exhaustive()
    }
}

impl ReceiverConfig {
    /// Defaults, recording into `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> ReceiverConfig {
        ReceiverConfig {
            port: 0,
            token: None,
            secret: None,
            store: StoreConfig {
                dir: dir.into(),
                record_all: false,
                scrub: Scrub::default(),
                drop_headers: Vec::new(),
                spool: None,
            },
            announce: Announce::Unclaimed,
            body_stall: Duration::from_secs(30),
            log: LogSink::default(),
            serves: None,
        }
    }

    /// The token this configuration runs with: the given one, else a non-empty
    /// `MESHY_WEBHOOK_TOKEN`, else a random one. A given token that is empty (or only
    /// blanks) is [`ReceiverError::EmptyToken`]: a command line should call this
    /// before starting anything, and show the error as a usage error.
    pub fn resolve_token(&self) -> Result<String, ReceiverError> {
        match &self.token {
            Some(token) if token.trim().is_empty() => Err(ReceiverError::EmptyToken),
            Some(token) => Ok(token.clone()),
            // From the environment: checked as the harness checks it (a weak or
            // URL-breaking token must not end up in a dashboard).
            None => match std::env::var("MESHY_WEBHOOK_TOKEN") {
                Ok(token) if !token.trim().is_empty() => token::check(&token)
                    .map(|()| token)
                    .map_err(ReceiverError::BadToken),
                _ => random_token(),
            },
        }
    }
}

/// Why the receiver did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiverError {
    #[error(
        "the webhook token is empty (`--token \"\"`, or `--token \"$MESHY_WEBHOOK_TOKEN\"` with \
         MESHY_WEBHOOK_TOKEN unset): every webhook URL needs a secret; set MESHY_WEBHOOK_TOKEN to 16 or more \
         letters and digits, or leave --token out to use a generated token"
    )]
    EmptyToken,
    /// `MESHY_WEBHOOK_TOKEN` is too short or has characters a URL would mangle.
    #[error("{0}")]
    BadToken(String),
    /// No token could be generated.
    #[error("cannot make a webhook token: {0}")]
    Token(std::io::Error),
    /// The port could not be bound; the message is the system's.
    #[error("{source}")]
    Listen { port: u16, source: std::io::Error },
}

/// Counters of what the receiver answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ReceiverStats {
    /// Deliveries answered 200: stored (written, or kept for a trial that may claim them).
    pub accepted: u64,
    /// Deliveries refused (4xx): not authentic, or not storable.
    pub refused: u64,
    /// Deliveries answered 5xx because their recording could not be written.
    pub failed: u64,
    /// Deliveries whose recording file was written (included in `accepted`).
    pub recorded: u64,
    /// Deliveries refused for a missing or wrong webhook secret (included in `refused`).
    pub secret_refused: u64,
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
    recorded: AtomicU64,
    secret_refused: AtomicU64,
}

impl Counters {
    fn stats(&self) -> ReceiverStats {
        ReceiverStats {
            accepted: self.accepted.load(Ordering::SeqCst),
            refused: self.refused.load(Ordering::SeqCst),
            failed: self.failed.load(Ordering::SeqCst),
            recorded: self.recorded.load(Ordering::SeqCst),
            secret_refused: self.secret_refused.load(Ordering::SeqCst),
        }
    }
}

/// A running receiver. Dropping it stops the server; [`Receiver::shutdown`] also waits
/// for deliveries being written.
#[must_use = "the receiver stops when this handle is dropped"]
pub struct Receiver {
    addr: SocketAddr,
    token: String,
    announce: Announce,
    log: LogSink,
    store: Arc<Store>,
    counters: Arc<Counters>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    /// When it started listening (milliseconds since the epoch).
    started_ms: i64,
    public_url: Arc<std::sync::Mutex<Option<String>>>,
    /// Attached to a receiver in another process ([`Receiver::attach`]).
    attached: bool,
    /// Attached: why that receiver is taken for gone (it stopped answering), while it is.
    gone: Arc<std::sync::Mutex<Option<Arc<str>>>>,
}

impl Receiver {
    pub async fn start(config: ReceiverConfig) -> Result<Receiver, ReceiverError> {
        let token = config.resolve_token()?;
        // What writes of killed runs left half-done (recordings are written whole and
        // renamed into place).
        for dir in [config.store.dir.clone(), config.store.dir.join("unrouted")] {
            crate::atomic_file::sweep(&dir);
        }
        let listen = |source| ReceiverError::Listen {
            port: config.port,
            source,
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port))
            .await
            .map_err(listen)?;
        let addr = listener.local_addr().map_err(listen)?;
        let mut store_config = config.store.clone();
        if let Some(secret) = &config.secret {
            // Wherever else it might appear (a proxy's header, a payload), it is replaced;
            // a short one only in its header (it would mangle ordinary text).
            store_config.scrub = store_config.scrub.webhook_secret(secret);
        }
        let store = Arc::new(Store::new(store_config, token.clone()));
        let counters = Arc::new(Counters::default());
        let public_url = Arc::default();
        let context = Arc::new(Context {
            token: token.clone(),
            secret: config.secret.clone(),
            store: Arc::clone(&store),
            counters: Arc::clone(&counters),
            announce: config.announce,
            body_stall: config.body_stall,
            log: config.log.clone(),
            limit: RateLimit::per_second(),
            writers: tokio::sync::Semaphore::new(MAX_WRITERS),
            serves: config.serves.clone(),
            public_url: Arc::clone(&public_url),
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
            log: config.log,
            store,
            counters,
            shutdown: Some(shutdown),
            server: Some(tokio::spawn(server.run())),
            started_ms: crate::clock::now_ms(),
            public_url,
            attached: false,
            gone: Arc::default(),
        })
    }

    /// When it started listening, in milliseconds since the epoch: a task that ended
    /// before then was delivered while nothing listened.
    pub fn started_ms(&self) -> i64 {
        self.started_ms
    }

    /// A receiver for a run that uses one already running on `port` in another process
    /// (`mesh-toolkit receive`, which said of itself `standing`, see [`standing`]): it
    /// binds nothing, and its claimed tasks take their deliveries from the spool that
    /// receiver writes ([`StoreConfig::spool`], required), as they are written. It asks
    /// that receiver's health every [`HEALTH_EVERY`]: the deliveries it refused for the
    /// webhook secret since count as this receiver's ([`Receiver::stats`]), and once it
    /// has not answered for `gone_after`, the run's waits end ([`Progress::gone`]) and
    /// [`Receiver::gone`] says why, until it answers again.
    /// `restart` is the command that starts it again, as the user runs the binary.
    pub fn attach(
        config: ReceiverConfig,
        port: u16,
        standing: &Standing,
        gone_after: Duration,
        restart: &str,
    ) -> Result<Receiver, ReceiverError> {
        let token = config.resolve_token()?;
        let mut store_config = config.store.clone();
        if let Some(secret) = &config.secret {
            store_config.scrub = store_config.scrub.webhook_secret(secret);
        }
        let store = Arc::new(Store::new(store_config, token.clone()));
        let counters = Arc::new(Counters::default());
        let gone: Arc<std::sync::Mutex<Option<Arc<str>>>> = Arc::default();
        let (shutdown, signal) = oneshot::channel::<()>();
        let tunnel = match &standing.public_url {
            Some(url) => format!(
                " and the --tunnel or --public-url it had (it was reached at {url}; a new tunnel URL goes into \
                 the Meshy dashboard again)"
            ),
            None => String::new(),
        };
        let watch = Watch {
            port,
            token: token.clone(),
            secret: config.secret.as_ref().map(|s| s.fingerprint(&token)),
            store: Arc::clone(&store),
            counters: Arc::clone(&counters),
            gone: Arc::clone(&gone),
            first: standing.clone(),
            gone_after,
            restart: format!("`{restart}`{tunnel}"),
        };
        let follow = tokio::spawn(watch.run(signal));
        Ok(Receiver {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            token,
            announce: config.announce,
            log: config.log,
            store,
            counters,
            shutdown: Some(shutdown),
            server: Some(follow),
            // The receiver in the other process listened all along: no task of the
            // run's is taken for one that ended while nothing listened.
            started_ms: 0,
            public_url: Arc::default(),
            attached: true,
            gone,
        })
    }

    /// Attached ([`Receiver::attach`]): why the receiver in the other process is taken
    /// for gone, with the command that starts it again, while it does not answer.
    pub fn gone(&self) -> Option<Arc<str>> {
        crate::sync::lock(&self.gone).clone()
    }

    /// Says in the health answer where the receiver is reached from outside (its
    /// tunnel's URL), for a harness run that uses it.
    pub fn set_public_url(&self, url: &str) {
        *crate::sync::lock(&self.public_url) = Some(url.to_owned());
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

    /// The per-task callback URL under `base`. Attached to a receiver in another
    /// process, the dashboard URL: its deliveries reach the spool, and the other
    /// receiver never writes the task's recording that this one writes.
    pub fn callback_url(&self, base: impl AsRef<str>, species: &str, task_type: &str) -> String {
        if self.attached {
            return self.webhook_url(base);
        }
        format!(
            "{}/webhook/{species}/{task_type}?token={}",
            base.as_ref().trim_end_matches('/'),
            self.token
        )
    }

    /// Claims a task's deliveries for a waiting trial: deliveries that arrived
    /// before the claim count too.
    /// Tasks with deliveries that no trial claimed nor polled, with their counts: what
    /// shutdown reports.
    pub fn unclaimed(&self) -> Vec<(String, usize)> {
        self.store.unclaimed()
    }

    /// A task of the run that a trial follows by polling: its deliveries are not listed
    /// as unclaimed at shutdown.
    pub fn polled(&self, task_id: &str) {
        self.store.polled(task_id);
    }

    pub fn claim(&self, claim: Claim) -> watch::Receiver<Progress> {
        self.store.claim(claim)
    }

    /// The claiming trial passed: the task's recording loses its `incomplete` mark.
    pub fn complete(&self, task_id: &str) -> Result<PathBuf, StoreError> {
        self.store.complete(task_id)
    }

    /// Completes a task's recording with the API's terminal task object, marked
    /// `payload_source: "api"`, when its terminal webhook never came.
    pub fn accept_api_payload(
        &self,
        task_id: &str,
        payload: serde_json::Value,
    ) -> Result<PathBuf, StoreError> {
        self.store.accept_api_payload(task_id, payload)
    }

    /// What it answered. Attached ([`Receiver::attach`]): only the deliveries the
    /// standing receiver refused for the webhook secret since the run attached count.
    pub fn stats(&self) -> ReceiverStats {
        self.counters.stats()
    }

    /// Tasks whose deliveries are held in memory, and those deliveries: a task leaves
    /// memory once its recording is written after its terminal delivery, unless a
    /// trial claimed it (or, in the harness, may still claim it).
    pub fn in_memory(&self) -> (usize, usize) {
        self.store.in_memory()
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
        // Written by this receiver, or (attached) the standing one: never claimed.
        self.store.forget_polled();
        if self.announce == Announce::Unclaimed
            && let Some(line) = unclaimed_summary(&self.unclaimed())
        {
            let line = match self.store.spool() {
                Some(spool) => line.replace(
                    "answered 200 and not recorded",
                    &format!(
                        "answered 200 and kept for a later run in the spool '{}'",
                        spool.display()
                    ),
                ),
                None => line,
            };
            self.log.line(&line);
        }
    }
}

/// How often an attached receiver ([`Receiver::attach`]) reads the spool.
const SPOOL_POLL: Duration = Duration::from_millis(200);

/// How often an attached receiver asks the standing one's health.
pub const HEALTH_EVERY: Duration = Duration::from_secs(1);

/// How long a standing receiver may not answer before an attached run takes it for
/// gone: several health probes (each may take up to 3 s under load; a crash answers
/// none).
pub const GONE_AFTER: Duration = Duration::from_secs(15);

/// What an attached receiver runs: it follows the spool and watches the standing
/// receiver's health.
struct Watch {
    port: u16,
    token: String,
    /// The fingerprint of the run's webhook secret, if it has one.
    secret: Option<String>,
    store: Arc<Store>,
    counters: Arc<Counters>,
    gone: Arc<std::sync::Mutex<Option<Arc<str>>>>,
    /// What it said when the run attached: a restart that changed it is not used.
    first: Standing,
    gone_after: Duration,
    /// The command that starts it again.
    restart: String,
}

impl Watch {
    async fn run(self, mut signal: oneshot::Receiver<()>) {
        let mut next_probe = Instant::now() + HEALTH_EVERY;
        let mut unanswered_since: Option<Instant> = None;
        // Its secret refusals: as last seen, and those of this run so far (its counters
        // start again at 0 when it is restarted).
        let mut last_refused = self.first.stats.secret_refused;
        let mut ours = 0;
        loop {
            let store = Arc::clone(&self.store);
            // Reading files: off the runtime's threads.
            let _ = tokio::task::spawn_blocking(move || store.follow_spool()).await;
            if Instant::now() >= next_probe {
                next_probe = Instant::now() + HEALTH_EVERY;
                let answer = tokio::select! {
                    _ = &mut signal => return,
                    answer = standing(self.port, &self.token, self.secret.as_deref()) => answer,
                };
                let why = match answer.filter(|s| s.token_ok) {
                    Some(now) => {
                        unanswered_since = None;
                        let seen = now.stats.secret_refused;
                        ours += seen.checked_sub(last_refused).unwrap_or(seen);
                        last_refused = seen;
                        self.counters.secret_refused.store(ours, Ordering::SeqCst);
                        self.changed(&now)
                    }
                    None => {
                        let since = *unanswered_since.get_or_insert_with(Instant::now);
                        (since.elapsed() >= self.gone_after).then(|| {
                            format!(
                                "the webhook receiver on 127.0.0.1:{} (mesh-toolkit receive) this run uses has not \
                                 answered for {} s, so deliveries no longer reach the run; start it again with {}",
                                self.port,
                                since.elapsed().as_secs(),
                                self.restart
                            )
                        })
                    }
                };
                let why = why.map(Arc::<str>::from);
                if let Some(why) = &why {
                    self.store.gone(why);
                }
                // Unanswered for less than `gone_after`: as it was.
                if why.is_some() || unanswered_since.is_none() {
                    *crate::sync::lock(&self.gone) = why;
                }
            }
            tokio::select! {
                _ = &mut signal => return,
                () = tokio::time::sleep(SPOOL_POLL) => {}
            }
        }
    }

    /// Why a receiver that answers again is not the one the run attached to (it was
    /// restarted otherwise), if it is not.
    fn changed(&self, now: &Standing) -> Option<String> {
        let what = if now.serves != self.first.serves {
            "serves another project, cassettes directory or format".to_owned()
        } else if now.public_url != self.first.public_url {
            format!(
                "is reached at {} instead of {} (the Meshy dashboard, and this run's tasks, point at the old URL)",
                now.public_url.as_deref().unwrap_or("no public URL"),
                self.first.public_url.as_deref().unwrap_or("no public URL")
            )
        } else if (now.checks_secret, now.secret_ok)
            != (self.first.checks_secret, self.first.secret_ok)
        {
            "checks another webhook secret".to_owned()
        } else {
            return None;
        };
        Some(format!(
            "the webhook receiver on 127.0.0.1:{} (mesh-toolkit receive) this run uses was restarted and {what}; \
             start it again as it was, with {}",
            self.port, self.restart
        ))
    }
}

/// What a receiver already running on a port said of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub serves: Option<Serves>,
    /// Whether the token asked about is its token.
    pub token_ok: bool,
    /// Where it is reached from outside, when it said (its tunnel).
    pub public_url: Option<String>,
    /// What it answered so far (zeros when it did not say).
    pub stats: ReceiverStats,
    /// Whether it checks a webhook secret.
    pub checks_secret: bool,
    /// Whether the secret it checks is the one whose fingerprint was asked about
    /// ([`WebhookSecret::fingerprint`], salted with the token); `None` when none was
    /// asked about or it checks none. It never says its own.
    pub secret_ok: Option<bool>,
}

/// Asks `127.0.0.1:port` whether a mesh-toolkit receiver runs there, whether `token`
/// is its token, and — given the fingerprint of a webhook secret — whether it checks that
/// secret. `None`: nothing listens, or something else does.
pub async fn standing(port: u16, token: &str, secret: Option<&str>) -> Option<Standing> {
    let client = crate::transport::loopback_client(Duration::from_secs(3)).ok()?;
    let ask = |url: String| {
        let client = client.clone();
        async move {
            let body = client.get(url).send().await.ok()?.bytes().await.ok()?;
            let answer: Value = serde_json::from_slice(&body).ok()?;
            let ours =
                answer.get("service").and_then(Value::as_str) == Some("mesh-toolkit receiver");
            ours.then_some(answer)
        }
    };
    // The token only to something that says it is a mesh-toolkit receiver.
    ask(format!("http://127.0.0.1:{port}/health")).await?;
    let secret = secret.map(|s| format!("&secret={s}")).unwrap_or_default();
    let answer = ask(format!(
        "http://127.0.0.1:{port}/health?token={token}{secret}"
    ))
    .await?;
    Some(Standing {
        serves: (answer.get("serves").cloned()).and_then(|s| serde_json::from_value(s).ok()),
        token_ok: answer.get("token_ok").and_then(Value::as_bool) == Some(true),
        public_url: answer
            .get("public_url")
            .and_then(Value::as_str)
            .map(str::to_owned),
        stats: (answer.get("stats").cloned())
            .and_then(|s| serde_json::from_value(s).ok())
            .unwrap_or_default(),
        checks_secret: answer.get("checks_secret").and_then(Value::as_bool) == Some(true),
        secret_ok: answer.get("secret_ok").and_then(Value::as_bool),
    })
}

/// How many ids the closing line of unclaimed deliveries names.
const UNCLAIMED_SHOWN: usize = 5;

/// The closing line about deliveries nobody waited for: counts, a few task ids, and
/// how many more; `None` when there were none.
pub fn unclaimed_summary(unclaimed: &[(String, usize)]) -> Option<String> {
    if unclaimed.is_empty() {
        return None;
    }
    let deliveries: usize = unclaimed.iter().map(|(_, n)| n).sum();
    let shown: Vec<String> = unclaimed
        .iter()
        .take(UNCLAIMED_SHOWN)
        .map(|(id, n)| format!("{id} ({n})"))
        .collect();
    let more = unclaimed.len().saturating_sub(UNCLAIMED_SHOWN);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    let tasks = if unclaimed.len() == 1 {
        "task"
    } else {
        "tasks"
    };
    Some(format!(
        "mesh-toolkit receiver: deliveries for tasks no scenario waited for, answered 200 and not recorded: \
         {deliveries} for {} {tasks}: {}{more}",
        unclaimed.len(),
        shown.join(", ")
    ))
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
    secret: Option<WebhookSecret>,
    store: Arc<Store>,
    counters: Arc<Counters>,
    announce: Announce,
    body_stall: Duration,
    log: LogSink,
    limit: RateLimit,
    /// Bounds the blocking threads writing recordings (and so the memory they take).
    writers: tokio::sync::Semaphore,
    serves: Option<Serves>,
    /// Where it is reached from outside, once known (its tunnel's URL).
    public_url: Arc<std::sync::Mutex<Option<String>>>,
}

/// Recordings written at once, at most.
const MAX_WRITERS: usize = 16;

impl Context {
    /// One line per refusal reason per second; `detail` is for the log only (it may
    /// name local paths), never for the answer. No query string: it holds the token.
    fn log_refusal(&self, path: &str, refusal: &Refusal, detail: Option<&str>) {
        let Some(left_out) = self.limit.admit(refusal.reason(), Instant::now()) else {
            return;
        };
        let mut shown: String = path.chars().take(100).collect();
        if shown.len() < path.len() {
            shown.push('…');
        }
        let detail = detail.map(|d| format!(" ({d})")).unwrap_or_default();
        let left_out = if left_out > 0 {
            format!("; {left_out} more refused for this reason since the last line")
        } else {
            String::new()
        };
        self.log.line(&format!(
            "mesh-toolkit receiver: refused POST {shown} with {}: {refusal}{detail}{left_out}",
            refusal.status()
        ));
    }
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
                    match handle(&context, method.as_str(), &path, &query, &headers, body).await {
                        Answer::Health(nonce, token_ok) => answer(
                            200,
                            // What it serves only to a caller that knows its token (the
                            // health route is reached through the tunnel too).
                            match token_ok {
                                Some(true) => {
                                    json!({"status": "ok", "service": "mesh-toolkit receiver",
                                    "nonce": nonce, "token_ok": true, "serves": context.serves,
                                    "public_url": *crate::sync::lock(&context.public_url),
                                    "stats": context.counters.stats(),
                                    // Never the secret, nor its fingerprint: whether the
                                    // caller's is the same.
                                    "checks_secret": context.secret.is_some(),
                                    "secret_ok": secret_ok(&context, &query)})
                                }
                                _ => json!({"status": "ok", "service": "mesh-toolkit receiver",
                                    "nonce": nonce, "token_ok": token_ok}),
                            },
                        ),
                        Answer::NotFound => answer(404, json!({"error": "not found"})),
                        Answer::Stored(accepted) => {
                            context.counters.accepted.fetch_add(1, Ordering::SeqCst);
                            if accepted.file.is_some() {
                                context.counters.recorded.fetch_add(1, Ordering::SeqCst);
                            }
                            announce(context.announce, &accepted);
                            answer(200, json!({"received": true}))
                        }
                        Answer::Refused(refusal, detail) => {
                            let counter = if refusal.status() >= 500 {
                                &context.counters.failed
                            } else {
                                &context.counters.refused
                            };
                            counter.fetch_add(1, Ordering::SeqCst);
                            if refusal == Refusal::Secret {
                                context
                                    .counters
                                    .secret_refused
                                    .fetch_add(1, Ordering::SeqCst);
                            }
                            context.log_refusal(&path, &refusal, detail.as_deref());
                            answer(refusal.status(), json!({"error": refusal.to_string()}))
                        }
                    }
                }
            },
        )
}

/// What a request came to.
enum Answer {
    /// The nonce to echo, and whether the token asked about is this receiver's.
    Health(Option<String>, Option<bool>),
    NotFound,
    Stored(Accepted),
    /// With a detail for the log (never for the answer).
    Refused(Refusal, Option<String>),
}

async fn handle<S, B>(
    context: &Context,
    method: &str,
    path: &str,
    query: &str,
    headers: &warp::http::HeaderMap,
    body: S,
) -> Answer
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Unpin,
    B: warp::Buf,
{
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let route = match (method, &segments[..]) {
        ("GET", ["health"]) => {
            // A harness run asks whether its token is this receiver's (never shown).
            let token_ok = param(query, "token")
                .map(|token| constant_time_eq(token.as_bytes(), context.token.as_bytes()));
            return Answer::Health(param(query, "nonce"), token_ok);
        }
        ("POST", ["webhook"]) => None,
        ("POST", ["webhook", species, task_type]) => Some((*species, *task_type)),
        (_, ["webhook", ..]) => return Answer::Refused(Refusal::Method, None),
        _ => return Answer::NotFound,
    };
    match accept(context, route, query, headers, body).await {
        Ok(accepted) => Answer::Stored(accepted),
        Err((refusal, detail)) => Answer::Refused(refusal, detail),
    }
}

/// Checks a delivery and stores it; refusals come before anything is stored.
async fn accept<S, B>(
    context: &Context,
    route: Option<(&str, &str)>,
    query: &str,
    headers: &warp::http::HeaderMap,
    body: S,
) -> Result<Accepted, (Refusal, Option<String>)>
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Unpin,
    B: warp::Buf,
{
    let refused = |refusal| (refusal, None);
    if !param(query, "token")
        .is_some_and(|t| constant_time_eq(t.as_bytes(), context.token.as_bytes()))
    {
        return Err(refused(Refusal::Token));
    }
    if let Some(secret) = &context.secret
        && !carries(headers, secret)
    {
        let detail = format!(
            "the receiver checks the secret from {}; it must be the one the Meshy dashboard shows",
            secret.source()
        );
        return Err((Refusal::Secret, Some(detail)));
    }
    if let Some((species, task_type)) = route {
        check_route(species, task_type).map_err(refused)?;
    }
    let declared = headers
        .get(warp::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(refused(Refusal::TooLarge));
    }
    let bytes = delivery::read_body(body, MAX_BODY, context.body_stall)
        .await
        .map_err(refused)?;
    let payload = parse_payload(&bytes).map_err(refused)?;
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
    // Never closed: the semaphore lives as long as the context.
    let _permit = context.writers.acquire().await.ok();
    match tokio::task::spawn_blocking(move || store.accept(route, &headers, payload)).await {
        Ok(Ok(accepted)) => Ok(accepted),
        Ok(Err(error)) => Err((Refusal::NotStored, Some(error.to_string()))),
        Err(_) => Err((
            Refusal::NotStored,
            Some("storing the delivery panicked".into()),
        )),
    }
}

fn announce(mode: Announce, accepted: &Accepted) {
    let progress = accepted
        .progress
        .map(|p| format!(" {p}%"))
        .unwrap_or_default();
    let line = match (mode, &accepted.file) {
        (Announce::Every, Some(file)) => format!(
            "{} {}{progress} -> {}",
            accepted.task_id,
            accepted.status,
            file.display()
        ),
        (Announce::Every, None) => format!("{} {}{progress}", accepted.task_id, accepted.status),
        // Unclaimed deliveries are reported once, at shutdown: a delivery that beats
        // the submit response is claimed a moment later.
        _ => return,
    };
    // A closed stdout (`receive | head -1`) must not stop the receiver: the delivery
    // is stored either way.
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}

/// Whether the fingerprint in the health query (`secret=`) is that of the secret this
/// receiver checks; `None` when either has none.
fn secret_ok(context: &Context, query: &str) -> Option<bool> {
    let theirs = param(query, "secret")?;
    let ours = context.secret.as_ref()?.fingerprint(&context.token);
    Some(constant_time_eq(theirs.as_bytes(), ours.as_bytes()))
}

fn param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Whether the delivery carries the webhook secret: at least one
/// `x-meshy-api-webhook-secret-key` (any spelling: header names are case-insensitive),
/// and every one of them the secret — also when a proxy folded repeated headers into
/// one value (`s, s`).
fn carries(headers: &warp::http::HeaderMap, secret: &WebhookSecret) -> bool {
    let mut values = headers.get_all(WEBHOOK_SECRET_HEADER).iter().peekable();
    values.peek().is_some()
        && values.all(|value| {
            let value = value.as_bytes();
            secret.matches(value)
                || value
                    .split(|&b| b == b',')
                    .all(|part| secret.matches(part.trim_ascii()))
        })
}

/// 32 hex characters from the OS's random source.
/// A fresh webhook token: 128 bits from the operating system, as hex.
pub(crate) fn random_token() -> Result<String, ReceiverError> {
    crate::random::secret_hex(16).map_err(ReceiverError::Token)
}

fn answer(status: u16, body: Value) -> Reply {
    Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .body(body.to_string().into())
        .unwrap_or_else(|_| Response::new(Default::default()))
}
