//! The recording context of a run: the simulator (for `--target=sim`), the receiver,
//! the tunnel and the recorder, started once — lazily, by the first trial that
//! records — after the guards that keep a run from spending credits by mistake.

use crate::cassette::RecordMode;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;

use super::settings::{Settings, Target};
use crate::cassette::{RecordedAgainst, Scrub};
use crate::meshy::{ApiError, Client, ClientConfig, DEFAULT_BASE_URL};
use crate::receiver::Serves;
use crate::receiver::{Receiver, ReceiverConfig, ReceiverError};
use crate::recorder::{Recorder, WaitPolicy};
use crate::secrets::{SecretError, WebhookSecret};
use crate::sim::{SimConfig, Simulator};
use crate::transport::{LiveConfig, LiveTransport, Transport, TransportError};
use crate::tunnel::{self, Tunnel, TunnelError, TunnelOptions};

/// A recording [`guards`] refuse before anything is started or sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// `record`: the command that records the same under `cargo test` (the run's record
    /// mode unless it is `once`, `--target=sim`, the run's directories when they are not
    /// the defaults); `replay`: the suite under nextest.
    #[error(
        "recording is refused under cargo-nextest, which runs every test in its own process (each would \
         start its own receiver and tunnel); record with `{record}`, then replay with `{replay}`"
    )]
    UnderNextest { record: String, replay: String },
    #[error(
        "recording against the real Meshy API needs MESHY_API_KEY; set it (the test-mode key \
         msy_dummy_api_key_for_test_mode_12345678 spends no credits), or record with --target=sim"
    )]
    NoApiKey,
    #[error(
        "MESHY_API_KEY is Meshy's test-mode key: it answers fixed sample results and sends no \
         webhooks, so a recording made with it would be worthless; check the suite's requests with \
         --dry-run instead (it uses the test-mode key and writes nothing), or set your real key"
    )]
    TestModeKey,
    #[error(
        "refusing to record against the real Meshy API on CI (CI is set): it spends credits; set \
         MESHY_ALLOW_RECORD_ON_CI=1 to allow it, or record with --target=sim"
    )]
    OnCi,
    /// The URL itself is not repeated: its user info is the credential.
    #[error(
        "MESHY_BASE_URL carries user info (`user:password@` before the host): it would be sent as \
         basic auth in place of the API key and could reach an error message; remove it (the key \
         goes in MESHY_API_KEY)"
    )]
    BaseUrlCredentials,
}

/// Why the recording context of a run could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LiveError {
    #[error(transparent)]
    Refused(#[from] GuardError),
    #[error("cannot open the recording lock '{}': {source}", path.display())]
    LockOpen {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "another recording run is using '{}' (it holds '{}'); wait for it to end, or stop it: two runs \
         journalling into the same cassettes could pay twice",
        cassettes.display(),
        lock.display()
    )]
    LockHeld { cassettes: PathBuf, lock: PathBuf },
    #[error("cannot take the recording lock '{}': {source}", path.display())]
    LockTake {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// `MESHY_SIM_TASK_SECONDS` holds no task time.
    #[error(
        "MESHY_SIM_TASK_SECONDS: '{value}' is not a number of seconds from 0 to {}; fix or unset it",
        crate::sim::MAX_TASK_SECONDS
    )]
    SimTaskSeconds { value: String },
    /// `MESHY_SIM_CHAOS` holds no seed and rate.
    #[error(
        "MESHY_SIM_CHAOS: '{value}' is not SEED or SEED:RATE (a whole number, then a share from 0 to 1, \
         e.g. 7:0.1); fix or unset it"
    )]
    SimChaos { value: String },
    #[error("cannot start the simulator: {source}")]
    Simulator { source: std::io::Error },
    /// `MESHY_WEBHOOK_TOKEN` is no usable token; `reason` says why without showing it.
    #[error("{reason}")]
    WebhookToken { reason: String },
    #[error(
        "cannot keep the project's webhook token in '{}': {source}; set MESHY_WEBHOOK_TOKEN instead",
        path.display()
    )]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the webhook receiver on 127.0.0.1:{port}: {source}")]
    Receiver { port: u16, source: ReceiverError },
    /// The webhook port is taken by something that is not a mesh-toolkit receiver.
    #[error(
        "cannot start the webhook receiver on 127.0.0.1:{port}: the port is in use, and not by a mesh-toolkit \
         receiver (it did not answer /health as one); `ss -ltnp 'sport = :{port}'` shows what holds it: stop it, \
         or record with another --webhook-port (the dashboard URL changes with it); nothing was sent"
    )]
    PortBusy { port: u16 },
    /// A mesh-toolkit receiver runs on the webhook port, but not for this run.
    #[error(
        "a mesh-toolkit receiver already runs on 127.0.0.1:{port}, but {why}; nothing was sent. Stop it (Ctrl-C \
         where it runs) and start it again from this project with `{command}`, or record with another \
         --webhook-port"
    )]
    OtherReceiver {
        port: u16,
        why: String,
        /// `mesh-toolkit receive` for this project, as the user runs the binary.
        command: String,
    },
    /// The webhook secret cannot be read or used (the error never shows it).
    #[error(transparent)]
    WebhookSecret(#[from] SecretError),
    /// The tunnel did not start, or its public URL does not reach the receiver (the
    /// error names the provider, the URL and the port).
    #[error(transparent)]
    Tunnel(#[from] TunnelError),
    /// The client for status checks cannot be built (its base URL).
    #[error(transparent)]
    Client(#[from] ApiError),
}

/// What the environment says about this run.
#[derive(Clone, Default)]
pub struct RunEnv {
    pub api_key: Option<String>,
    /// `CI` set and not `false`/`0`.
    pub ci: bool,
    pub allow_record_on_ci: bool,
    /// Running under cargo-nextest (`NEXTEST` set).
    pub nextest: bool,
    /// `MESHY_SIM_TASK_SECONDS`: the simulator's task time (default 2).
    pub sim_task_seconds: Option<String>,
    /// `MESHY_SIM_CHAOS` (`SEED` or `SEED:RATE`): the simulator is flaky on purpose.
    pub sim_chaos: Option<String>,
    /// `MESHY_WEBHOOK_TOKEN`; without it, the project's token file is used.
    pub webhook_token: Option<String>,
    /// `MESHY_WEBHOOK_SECRET`: the receiver checks it (a file given with
    /// `--webhook-secret-file` wins). Never shown: see the `Debug` impl.
    pub webhook_secret: Option<String>,
    /// `MESHY_WEBHOOK_SECRET_FILE` as set (blank included: that is an error).
    pub webhook_secret_file: Option<String>,
    pub ngrok_domain: bool,
    /// `MESHY_BASE_URL`: where `--target=meshy` records (default `https://api.meshy.ai`;
    /// e.g. a `mesh-toolkit sim` standing in for the real API).
    pub base_url: Option<String>,
}

/// Never shows the key, the token or the webhook secret, only whether they are set.
impl std::fmt::Debug for RunEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunEnv")
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("ci", &self.ci)
            .field("allow_record_on_ci", &self.allow_record_on_ci)
            .field("nextest", &self.nextest)
            .field("sim_task_seconds", &self.sim_task_seconds)
            .field("sim_chaos", &self.sim_chaos)
            .field(
                "webhook_token",
                &self.webhook_token.as_ref().map(|_| "<set>"),
            )
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "<set>"),
            )
            .field("ngrok_domain", &self.ngrok_domain)
            .field("base_url", &self.base_url)
            .finish()
    }
}

impl RunEnv {
    /// The webhook secret the receiver checks: the file of `--webhook-secret-file` /
    /// `MESHY_WEBHOOK_SECRET_FILE`, else `MESHY_WEBHOOK_SECRET`; `None` when neither is set.
    pub fn webhook_secret(
        &self,
        settings: &Settings,
    ) -> Result<Option<WebhookSecret>, SecretError> {
        WebhookSecret::resolve(settings.webhook_secret_file.as_deref(), |name| match name {
            crate::secrets::WEBHOOK_SECRET_ENV => self.webhook_secret.clone(),
            crate::secrets::WEBHOOK_SECRET_FILE_ENV => self.webhook_secret_file.clone(),
            _ => None,
        })
    }

    pub fn from(env: impl Fn(&str) -> Option<String>) -> RunEnv {
        let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        RunEnv {
            api_key: set("MESHY_API_KEY"),
            ci: set("CI").is_some_and(|v| !switched_off(&v)),
            allow_record_on_ci: set("MESHY_ALLOW_RECORD_ON_CI").is_some_and(|v| switched_on(&v)),
            nextest: set("NEXTEST").is_some(),
            base_url: set("MESHY_BASE_URL").map(|u| u.trim_end_matches('/').to_owned()),
            sim_task_seconds: set("MESHY_SIM_TASK_SECONDS"),
            sim_chaos: set("MESHY_SIM_CHAOS"),
            webhook_token: set("MESHY_WEBHOOK_TOKEN"),
            // Raw: a variable set but blank is an error, not "unset" (`WebhookSecret::resolve`).
            webhook_secret: env(crate::secrets::WEBHOOK_SECRET_ENV),
            webhook_secret_file: env(crate::secrets::WEBHOOK_SECRET_FILE_ENV),
            ngrok_domain: set("NGROK_DOMAIN").is_some(),
        }
    }
}

/// `0`/`false` in any case (`CI=False`).
fn switched_off(value: &str) -> bool {
    let value = value.trim();
    value == "0" || value.eq_ignore_ascii_case("false")
}

/// `1`/`true` in any case.
fn switched_on(value: &str) -> bool {
    let value = value.trim();
    value == "1" || value.eq_ignore_ascii_case("true")
}

/// The key the simulator is recorded with (any `msy_` key works there).
const SIM_KEY: &str = "msy_simulator_recording_key";

pub struct Live {
    pub sim: Option<Simulator>,
    pub receiver: Arc<Receiver>,
    pub tunnel: Box<dyn Tunnel>,
    pub recorder: Recorder,
    pub transport: Arc<dyn Transport>,
    pub base_url: String,
    pub api_key: String,
    /// What cassettes and recordings of this run must not contain, and the host rewrites.
    pub scrub: Scrub,
    /// Held while the run records: two recording runs never journal into the same
    /// cassettes at once.
    _lock: std::fs::File,
}

/// Never prints the key.
impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// What a recording trial needs from the run's recording context.
#[derive(Clone)]
pub struct Recording {
    pub scrub: Scrub,
    pub transport: Arc<dyn Transport>,
    pub recorder: Recorder,
    pub base_url: String,
    pub api_key: String,
    /// Written into cassettes as `recorded_against`.
    pub against: RecordedAgainst,
    /// How long after a lost create call the task list proves it made nothing.
    pub listing_window: std::time::Duration,
}

impl Recording {
    /// A client that sends without recording (balance checks, reconciling a create
    /// call whose answer was lost).
    pub fn lister(&self) -> Result<Client, ApiError> {
        Client::new(
            ClientConfig {
                base_url: self.base_url.clone(),
                api_key: Some(self.api_key.clone()),
                // The balance and v2's reads outlive v1; a reconcile lists in each
                // create call's own generation.
                generation: crate::meshy::ApiGeneration::V2,
                ..ClientConfig::default()
            },
            Arc::clone(&self.transport),
        )
    }
}

/// Refusals that come before anything is started or sent.
pub fn guards(settings: &Settings, env: &RunEnv) -> Result<(), GuardError> {
    if env
        .base_url
        .as_deref()
        .and_then(|url| reqwest::Url::parse(url).ok())
        .is_some_and(|url| !url.username().is_empty() || url.password().is_some())
    {
        return Err(GuardError::BaseUrlCredentials);
    }
    if env.nextest {
        // The same mode records the same trials under `cargo test`.
        let mode = match settings.record_mode {
            RecordMode::None | RecordMode::Once => String::new(),
            mode => format!(" --record-mode={mode}"),
        };
        let flags = format!("--record-webhooks{mode}{}", settings.target_flag());
        return Err(GuardError::UnderNextest {
            record: settings.commands.test(None, &flags),
            replay: settings.commands.nextest_run(),
        });
    }
    if settings.target == Target::Meshy {
        if env.api_key.is_none() {
            return Err(GuardError::NoApiKey);
        }
        if env.api_key.as_deref() == Some(crate::meshy::TEST_MODE_API_KEY) {
            return Err(GuardError::TestModeKey);
        }
        if env.ci && !env.allow_record_on_ci {
            return Err(GuardError::OnCi);
        }
    }
    Ok(())
}

impl Live {
    /// Starts everything a recording needs, in order: simulator, receiver, tunnel,
    /// preflight. Prints what a user must know (the dashboard URL, warnings).
    /// Every wait of the run's recorder ends once `interrupt` turns true; its progress,
    /// and the receiver's and simulator's log lines, go to `console`.
    pub async fn start(
        settings: &Settings,
        env: &RunEnv,
        interrupt: watch::Receiver<bool>,
        console: &crate::progress::Console,
    ) -> Result<Live, LiveError> {
        guards(settings, env)?;
        let secret = env.webhook_secret(settings)?;
        let lock = recording_lock(&settings.cassettes_dir)?;
        // Ours now: what writes of killed runs left half-done goes (the receiver sweeps
        // its own directory when it starts).
        crate::atomic_file::sweep(&settings.cassettes_dir.join("http"));
        // Meshy's 20 requests per second, for the simulator too: the suite is recorded
        // under real limits.
        let live = LiveConfig::default();
        let transport: Arc<dyn Transport> = Arc::new(LiveTransport::new(live)?);
        let token = match &env.webhook_token {
            Some(token) => {
                crate::receiver::token::check(token)
                    .map_err(|reason| LiveError::WebhookToken { reason })?;
                token.clone()
            }
            None => {
                let path = crate::receiver::token::path();
                crate::receiver::token::load_or_create(&path)
                    .map_err(|source| LiveError::TokenFile { path, source })?
            }
        };
        // A receiver already running on the webhook port (`mesh-toolkit receive`) is used
        // instead of binding one: it keeps what Meshy delivers between runs.
        let serves = Serves::here(&crate::workdir::dir(), &settings.cassettes_dir);
        let restart = settings.commands.cli_bare(&format!(
            "receive --port {} --cassettes {}",
            settings.webhook_port,
            serves.cassettes.display()
        ));
        let standing = match settings.webhook_port {
            0 => None,
            port => {
                let ours = Ours {
                    token: &token,
                    serves: &serves,
                    secret: secret.as_ref(),
                    target: settings.target,
                    real_api: settings.target == Target::Meshy
                        && env.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL) == DEFAULT_BASE_URL,
                    restart: restart.clone(),
                };
                standing_receiver(port, &ours).await?
            }
        };
        let (sim, base_url, api_key) = match settings.target {
            Target::Sim => {
                // Checked: an outside value (`inf`, `1e300`, `abc`) is an error, not a panic
                // or a silent default.
                let task_time = match &env.sim_task_seconds {
                    None => std::time::Duration::from_secs(2),
                    Some(text) => crate::sim::task_time_text(text).ok_or_else(|| {
                        LiveError::SimTaskSeconds {
                            value: text.clone(),
                        }
                    })?,
                };
                let chaos =
                    match &env.sim_chaos {
                        None => None,
                        Some(text) => Some(crate::sim::Chaos::parse(text).ok_or_else(|| {
                            LiveError::SimChaos {
                                value: text.clone(),
                            }
                        })?),
                    };
                // Meshy's limits: the run's queue share and 20 requests per second.
                let sim = Simulator::start(SimConfig {
                    chaos,
                    task_time,
                    max_queued_tasks: settings.max_tasks_in_flight,
                    requests_per_second: LiveConfig::default().requests_per_second,
                    log: console.log_sink(),
                    // Meshy's deliveries carry the secret: so do the simulator's (a random
                    // one when none is configured), and the receiver checks it if asked.
                    webhook_secret: secret.clone(),
                    ..SimConfig::unlimited()
                })
                .await
                .map_err(|source| LiveError::Simulator { source })?;
                let base = sim.base_url().to_owned();
                (Some(sim), base, SIM_KEY.to_owned())
            }
            Target::Meshy => (
                None,
                env.base_url
                    .clone()
                    .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned()),
                env.api_key.clone().unwrap_or_default(),
            ),
        };
        let mut scrub = Scrub::default().secret(api_key.clone(), "<MESHY_API_KEY>");
        if let Some(secret) = &secret {
            scrub = scrub.webhook_secret(secret);
        }
        if base_url != DEFAULT_BASE_URL {
            // The simulator, or another deployment of the API: recordings use the canonical
            // hosts so they replay anywhere (the simulator serves assets under /assets).
            scrub = scrub
                .host(format!("{base_url}/assets"), "https://assets.meshy.ai")
                .host(base_url.clone(), DEFAULT_BASE_URL);
        }
        let mut config = ReceiverConfig::new(settings.cassettes_dir.join("webhooks"));
        config.port = settings.webhook_port;
        config.token = Some(token);
        config.secret = secret;
        config.store.scrub = scrub.clone();
        // Dashboard deliveries of tasks no trial claims wait there for a later run.
        config.store.spool = Some(serves.spool.clone());
        config.serves = Some(serves);
        config.log = console.log_sink();
        let receiver = match &standing {
            Some(standing) => Receiver::attach(
                config,
                settings.webhook_port,
                standing,
                crate::receiver::GONE_AFTER,
                &restart,
            ),
            None => Receiver::start(config).await,
        };
        let receiver = receiver.map_err(|source| match source {
            ReceiverError::Listen { port, source }
                if source.kind() == std::io::ErrorKind::AddrInUse =>
            {
                LiveError::PortBusy { port }
            }
            source => LiveError::Receiver {
                port: settings.webhook_port,
                source,
            },
        })?;
        let port = receiver.addr().port();
        let tunnel = match (&standing, &settings.public_url) {
            // The standing receiver's own tunnel (or none: it is reached locally).
            (Some(standing), _) => {
                let url = standing.public_url.clone();
                tunnel::public_url(&url.unwrap_or_else(|| receiver.local_url()))
            }
            (None, Some(url)) => tunnel::public_url(url),
            (None, None) => tunnel::start(TunnelOptions::new(settings.tunnel, port)).await?,
        };
        if standing.is_some() {
            eprintln!(
                "using the webhook receiver already running on 127.0.0.1:{port} (mesh-toolkit receive): what Meshy \
                 delivers to {} reaches this run through the spool, also between runs",
                receiver
                    .webhook_url(tunnel.public_url())
                    .replace(receiver.token(), "…")
            );
        }
        // Callback URLs carry this run's address and token: neither belongs in a cassette.
        let scrub = scrub
            .secret(receiver.token().to_owned(), "<WEBHOOK_TOKEN>")
            .host(tunnel.public_url(), "<WEBHOOK_BASE>");
        tunnel::preflight(tunnel.public_url(), port).await?;
        let receiver = Arc::new(receiver);
        let status_client = Client::new(
            ClientConfig {
                base_url: base_url.clone(),
                api_key: Some(api_key.clone()),
                // v2's reads take a task of either generation, and outlive v1.
                generation: crate::meshy::ApiGeneration::V2,
                ..ClientConfig::default()
            },
            Arc::clone(&transport),
        )?;
        let recorder = Recorder::recording(
            Arc::clone(&receiver),
            tunnel.public_url(),
            settings.cassettes_dir.join("webhooks"),
        )
        .with_status_checks(status_client)
        .with_policy(WaitPolicy {
            timeout: settings.webhook_timeout,
            grace: settings.webhook_grace,
            accept_api_payload: settings.accept_api_payload,
            ..WaitPolicy::default()
        })
        .with_interrupt(interrupt)
        .with_reporter(console.reporter(), std::time::Duration::from_secs(30));
        if settings.target == Target::Meshy {
            if let Some(warning) = tunnel::https_warning(tunnel.public_url()) {
                eprintln!("{warning}");
            }
            let stable = settings.public_url.is_some()
                || env.ngrok_domain
                || (settings.tunnel == crate::tunnel::Provider::None && settings.webhook_port != 0);
            eprintln!(
                "paste this webhook URL into the Meshy dashboard (API settings → Webhooks): {}\n  it {} between runs{}",
                receiver.webhook_url(tunnel.public_url()),
                if stable { "stays the same" } else { "changes" },
                if stable {
                    " (the token is kept in <target dir>/mesh-toolkit/webhook-token, or MESHY_WEBHOOK_TOKEN)"
                } else {
                    " (the tunnel's URL is new each run: use NGROK_DOMAIN, a named tunnel or --public-url to keep it fixed)"
                }
            );
            if let Some(note) = url_changed(tunnel.public_url(), receiver.token()) {
                eprintln!("{note}");
            }
        }
        Ok(Live {
            sim,
            receiver,
            tunnel,
            recorder,
            transport,
            base_url,
            api_key,
            scrub,
            _lock: lock,
        })
    }

    /// A client over the live transport: what it sends is never recorded (status
    /// checks, reconciling a pending create call).
    pub fn client(&self) -> Result<Client, ApiError> {
        self.recording().lister()
    }

    pub fn recording(&self) -> Recording {
        Recording {
            scrub: self.scrub.clone(),
            transport: Arc::clone(&self.transport),
            recorder: self.recorder.clone(),
            base_url: self.base_url.clone(),
            api_key: self.api_key.clone(),
            against: self.against(),
            listing_window: super::resume::listing_window(self.sim.is_some()),
        }
    }

    /// What this run records against. Another base URL (a simulator or a proxy you
    /// run) is a rehearsal, not the real API as far as the toolkit can tell: its
    /// recordings never count as the real API's traffic or credits.
    pub fn against(&self) -> RecordedAgainst {
        if self.sim.is_some() {
            RecordedAgainst::Simulator
        } else {
            RecordedAgainst::of_base_url(&self.base_url)
        }
    }

    /// The account balance (real API only), for the recording plan.
    pub async fn balance(&self) -> Option<u64> {
        self.client().ok()?.balance().await.ok()
    }

    /// What the simulator this run started charged, and the chaos faults it injected:
    /// a line each (none when it runs no simulator of its own).
    pub fn sim_summary(&self) -> Vec<String> {
        let Some(sim) = &self.sim else {
            return Vec::new();
        };
        let mut lines = vec![format!(
            "simulator: {} credits charged",
            sim.credits_charged()
        )];
        let chaos = crate::sim::chaos_summary(&sim.chaos_stats());
        lines.extend(chaos.map(|c| format!("simulator chaos: {c}")));
        lines
    }

    /// Stops the tunnel, the receiver (finishing its writes) and the simulator.
    pub async fn stop(mut self) {
        self.tunnel.stop();
        drop(self.recorder);
        if let Ok(receiver) = Arc::try_unwrap(self.receiver) {
            receiver.shutdown().await;
        }
        if let Some(sim) = self.sim.take() {
            let tasks = sim.task_ids();
            sim.shutdown().await;
            // Its tasks die with it, and a rerun records them afresh: what the spool kept
            // of them (an interrupted trial's deliveries) would never be claimed.
            let spool = crate::receiver::spool_dir(&crate::workdir::dir());
            for id in tasks
                .iter()
                .filter(|id| crate::receiver::is_valid_task_id(id))
            {
                let _ = std::fs::remove_file(spool.join(format!("{id}.json")));
            }
        }
    }
}

/// What a run asks of a receiver already running on its webhook port.
struct Ours<'a> {
    token: &'a str,
    serves: &'a Serves,
    secret: Option<&'a WebhookSecret>,
    target: Target,
    /// It records against Meshy's own API (not a rehearsal URL, which may be reached
    /// on loopback).
    real_api: bool,
    /// The command that starts a receiver for this run, as the user runs the binary.
    restart: String,
}

/// The receiver already running on `port`, if one does and serves this run (`ours`:
/// the same token, project, cassettes, version and formats, and a webhook secret that
/// lets this run's deliveries in); an error if it does not.
async fn standing_receiver(
    port: u16,
    ours: &Ours<'_>,
) -> Result<Option<crate::receiver::Standing>, LiveError> {
    let serves = ours.serves;
    let fingerprint = ours.secret.map(|s| s.fingerprint(ours.token));
    let asked = crate::receiver::standing(port, ours.token, fingerprint.as_deref()).await;
    let Some(standing) = asked else {
        return Ok(None);
    };
    let other = |why: String| LiveError::OtherReceiver {
        port,
        why,
        command: ours.restart.clone(),
    };
    if !standing.token_ok {
        return Err(other(
            "it checks another webhook token than this run's (MESHY_WEBHOOK_TOKEN, else the project's token file): \
             start it with the same MESHY_WEBHOOK_TOKEN"
                .into(),
        ));
    }
    let theirs = match &standing.serves {
        None => {
            return Err(other(
                "it does not say which project it serves (an older toolkit)".into(),
            ));
        }
        Some(theirs) => theirs,
    };
    if theirs.project != serves.project || theirs.cassettes != serves.cassettes {
        return Err(other(format!(
            "it serves the project '{}' with cassettes '{}', and this run records '{}' with cassettes '{}'",
            theirs.project.display(),
            theirs.cassettes.display(),
            serves.project.display(),
            serves.cassettes.display()
        )));
    }
    if theirs.toolkit != serves.toolkit || theirs.formats != serves.formats {
        return Err(other(format!(
            "it is mesh-toolkit {} writing formats {:?}, and this run is {} writing {:?}",
            theirs.toolkit, theirs.formats, serves.toolkit, serves.formats
        )));
    }
    if let Some(why) = secret_mismatch(ours, &standing) {
        return Err(other(why));
    }
    if ours.real_api && standing.public_url.is_none() {
        return Err(other(
            "it has no public URL (it was started without --tunnel or --public-url), so Meshy cannot reach it: \
             add --tunnel ngrok (or cloudflared) or --public-url URL to that command"
                .into(),
        ));
    }
    Ok(Some(standing))
}

/// Why the webhook secret a standing receiver checks does not fit this run: another
/// secret, none where the run checks one, or — for the simulator the run starts, which
/// sends the run's secret, or a random one — one the run lacks.
fn secret_mismatch(ours: &Ours<'_>, theirs: &crate::receiver::Standing) -> Option<String> {
    let same = "start both with the same MESHY_WEBHOOK_SECRET (or --webhook-secret-file)";
    match (ours.secret.is_some(), theirs.checks_secret) {
        (true, true) if theirs.secret_ok != Some(true) => Some(format!(
            "it checks another webhook secret than this run's: {same}"
        )),
        (true, false) => Some(format!(
            "it checks no webhook secret, and this run checks one: {same}"
        )),
        (false, true) if ours.target == Target::Sim => Some(format!(
            "it checks a webhook secret, and the simulator this run starts sends a random one when the run has \
             none, so every delivery would be refused: {same}"
        )),
        _ => None,
    }
}

/// Takes `<target dir>/mesh-toolkit/recording-<cassettes dir hash>.lock`, or says which
/// run holds it.
fn recording_lock(cassettes: &Path) -> Result<std::fs::File, LiveError> {
    let absolute = std::fs::canonicalize(cassettes).unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|d| d.join(cassettes))
            .unwrap_or_else(|_| cassettes.to_owned())
    });
    let digest: String = crate::sha256_hex(absolute.to_string_lossy().as_bytes())
        .chars()
        .take(16)
        .collect();
    let path = crate::workdir::dir().join(format!("recording-{digest}.lock"));
    let open = std::fs::create_dir_all(crate::workdir::dir()).and_then(|()| {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
    });
    let file = match open {
        Ok(file) => file,
        Err(source) => return Err(LiveError::LockOpen { path, source }),
    };
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(LiveError::LockHeld {
            cassettes: cassettes.to_owned(),
            lock: path,
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(LiveError::LockTake { path, source }),
    }
}

/// Compares this run's dashboard webhook URL with the last recording run's (kept in
/// `<target dir>/mesh-toolkit/last-webhook-url` as the public URL and a fingerprint
/// of the token, never the token) and remembers this one. A note when they differ:
/// deliveries for tasks of the earlier run, resumed now, go where the dashboard says.
fn url_changed(public_url: &str, token: &str) -> Option<String> {
    let path = crate::workdir::dir().join("last-webhook-url");
    let fingerprint: String = crate::sha256_hex(token.as_bytes())
        .chars()
        .take(12)
        .collect();
    let now = format!("{public_url} token:{fingerprint}\n");
    let before = std::fs::read_to_string(&path).ok();
    if let Err(e) = crate::atomic_file::write(&path, now.as_bytes()) {
        eprintln!(
            "mesh-toolkit: cannot remember the webhook URL in '{}': {e}",
            path.display()
        );
    }
    let before = before?;
    if before == now {
        return None;
    }
    let (old_url, old_token) = before
        .trim()
        .split_once(" token:")
        .unwrap_or((before.trim(), ""));
    let what = match (old_url == public_url, old_token == fingerprint) {
        (false, _) => format!("the public URL changed from {old_url} to {public_url}"),
        (true, _) => "its token changed".to_owned(),
    };
    Some(format!(
        "note: the webhook URL differs from the last run's ({what}): update it in the Meshy dashboard before \
         tasks are submitted, or their webhooks (and those of resumed tasks) go to the old URL"
    ))
}

#[cfg(test)]
mod env_tests {
    use super::{GuardError, RunEnv, guards};
    use crate::suite::Settings;

    fn run_env(pairs: &[(&str, &str)]) -> RunEnv {
        RunEnv::from(|name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn ci_switches_read_in_any_case() {
        assert!(run_env(&[("CI", "true")]).ci);
        assert!(run_env(&[("CI", "1")]).ci);
        assert!(!run_env(&[("CI", "False")]).ci);
        assert!(!run_env(&[("CI", "0")]).ci);
        assert!(!run_env(&[]).ci);
        assert!(run_env(&[("MESHY_ALLOW_RECORD_ON_CI", "TRUE")]).allow_record_on_ci);
        assert!(!run_env(&[("MESHY_ALLOW_RECORD_ON_CI", "no")]).allow_record_on_ci);
    }

    #[test]
    fn guards_refuse_with_a_typed_reason_that_names_the_fix() {
        let settings = |target: &str| {
            let args = ["scenarios".to_owned(), format!("--target={target}")];
            Settings::parse(&args, |_| None).unwrap().0
        };
        let refused = |target: &str, env: &[(&str, &str)]| guards(&settings(target), &run_env(env));
        assert_eq!(
            refused("sim", &[("NEXTEST", "1")]),
            Err(GuardError::UnderNextest {
                record: "cargo test --test scenarios -- --record-webhooks --target=sim".into(),
                replay: "cargo nextest run --test scenarios".into(),
            })
        );
        // The command records what this run would have: a mode other than once is kept.
        let args = [
            "scenarios",
            "--record-mode=new_episodes",
            "--target=sim",
            "--scenarios=suite/s",
            "--cassettes=suite/c",
        ]
        .map(String::from);
        let new_episodes = Settings::parse(&args, |_| None).unwrap().0;
        assert_eq!(
            guards(&new_episodes, &run_env(&[("NEXTEST", "1")])),
            Err(GuardError::UnderNextest {
                record:
                    "cargo test --test scenarios -- --record-webhooks --record-mode=new_episodes \
                         --target=sim --cassettes=suite/c --scenarios=suite/s"
                        .into(),
                replay:
                    "MESHY_CASSETTES_DIR=suite/c MESHY_SCENARIOS_DIR=suite/s cargo nextest run --test scenarios"
                        .into(),
            })
        );
        assert!(
            refused("sim", &[("NEXTEST", "1")])
                .unwrap_err()
                .to_string()
                .contains(
                    "record with `cargo test --test scenarios -- --record-webhooks --target=sim`"
                )
        );
        assert_eq!(refused("meshy", &[]), Err(GuardError::NoApiKey));
        // A credential in the base URL: refused, and not repeated.
        let with_user = ("MESHY_BASE_URL", "http://alice:s3cret@127.0.0.1:9/");
        let refusal = refused("sim", &[with_user]).unwrap_err();
        assert_eq!(refusal, GuardError::BaseUrlCredentials);
        assert!(!refusal.to_string().contains("s3cret"));
        assert_eq!(
            refused("sim", &[("MESHY_BASE_URL", "http://127.0.0.1:9")]),
            Ok(())
        );
        let test_key = crate::meshy::TEST_MODE_API_KEY;
        assert_eq!(
            refused("meshy", &[("MESHY_API_KEY", test_key)]),
            Err(GuardError::TestModeKey)
        );
        let real_key = ("MESHY_API_KEY", "msy_would_spend_credits_1234");
        assert_eq!(
            refused("meshy", &[real_key, ("CI", "true")]),
            Err(GuardError::OnCi)
        );
        assert_eq!(
            refused(
                "meshy",
                &[real_key, ("CI", "true"), ("MESHY_ALLOW_RECORD_ON_CI", "1")]
            ),
            Ok(())
        );
        assert_eq!(refused("sim", &[("CI", "true")]), Ok(()));
    }
}

#[cfg(test)]
mod standing_tests {
    use super::*;
    use std::time::Duration;

    const TOKEN: &str = "standingtoken0123456789";

    /// A `--target=sim` run with `token`, `serves` and no webhook secret.
    fn ours_sim<'a>(token: &'a str, serves: &'a Serves) -> Ours<'a> {
        Ours {
            token,
            serves,
            secret: None,
            target: Target::Sim,
            real_api: false,
            restart: "cargo run -- receive --port P".into(),
        }
    }

    /// A receiver on a free port serving `serves`, with the test token.
    async fn running(serves: Serves) -> Receiver {
        running_with(serves, None, None).await
    }

    /// The same, checking `secret`, and reached from outside at `public_url`.
    async fn running_with(
        serves: Serves,
        secret: Option<&WebhookSecret>,
        public_url: Option<&str>,
    ) -> Receiver {
        let mut config = ReceiverConfig::new(serves.cassettes.join("webhooks"));
        config.secret = secret.cloned();
        config.token = Some(TOKEN.into());
        config.store.spool = Some(serves.spool.clone());
        config.serves = Some(serves);
        config.log = crate::log_sink::LogSink::silent();
        let receiver = Receiver::start(config).await.unwrap();
        if let Some(url) = public_url {
            receiver.set_public_url(url);
        }
        receiver
    }

    fn secret(value: &str) -> WebhookSecret {
        WebhookSecret::new(value, crate::secrets::SecretSource::Env).unwrap()
    }

    #[tokio::test]
    async fn a_sim_run_forgets_what_the_spool_kept_of_its_simulators_tasks_when_it_stops() {
        let dir = tempfile::tempdir().unwrap();
        let cassettes = dir.path().join("cassettes");
        let ours = Serves::here(&crate::workdir::dir(), &cassettes);
        let standing = running_with(ours.clone(), None, None).await;
        let port = standing.addr().port();
        let args: Vec<String> = [
            "scenarios",
            "--record-webhooks",
            "--target=sim",
            &format!("--webhook-port={port}"),
            &format!("--cassettes={}", cassettes.display()),
        ]
        .map(str::to_owned)
        .to_vec();
        let (settings, _) = Settings::parse(&args, |_| None).unwrap();
        let env = RunEnv {
            webhook_token: Some(TOKEN.into()),
            ..RunEnv::default()
        };
        let (_stop, interrupt) = watch::channel(false);
        let live = Live::start(
            &settings,
            &env,
            interrupt,
            &crate::progress::Console::plain(),
        )
        .await
        .unwrap();
        // A task of its simulator whose trial never claimed it (interrupted): its
        // deliveries reach the standing receiver's spool.
        let body = serde_json::json!({"mode": "preview", "prompt": "a spooled otter",
            "callback_url": live.recorder.callback_url("otter", "text3d")});
        let answer = crate::transport::loopback_client(Duration::from_secs(10))
            .unwrap()
            .post(format!("{}/openapi/v2/text-to-3d", live.base_url))
            .bearer_auth(&live.api_key)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let created: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        let id = created["result"]
            .as_str()
            .unwrap_or_else(|| panic!("a task id: {created}"))
            .to_owned();
        let spooled = ours.spool.join(format!("{id}.json"));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        // Until its final delivery is spooled: no delivery is in flight when the run stops.
        let finished =
            || std::fs::read_to_string(&spooled).is_ok_and(|text| text.contains("SUCCEEDED"));
        while !finished() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the task's deliveries are spooled"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        live.stop().await;
        assert!(
            !spooled.exists(),
            "the simulator's task died with the run: nothing would ever claim it"
        );
        standing.shutdown().await;
    }

    #[tokio::test]
    async fn a_run_refuses_a_receiver_whose_webhook_secret_would_refuse_its_deliveries_or_meshy_cannot_reach()
     {
        let dir = tempfile::tempdir().unwrap();
        let ours = Serves::here(
            &dir.path().join("target/mesh-toolkit"),
            &dir.path().join("cassettes"),
        );
        let (a, b) = (secret("secret-a-0123456789"), secret("secret-b-0123456789"));
        let run = |secret, target| Ours {
            token: TOKEN,
            serves: &ours,
            secret,
            target,
            real_api: target == Target::Meshy,
            restart: String::new(),
        };
        let (a, b) = (&a, &b);
        let checking_a = running_with(ours.clone(), Some(a), Some("https://hooks.example")).await;
        let port = checking_a.addr().port();
        for (run, expected) in [
            (
                run(Some(b), Target::Meshy),
                "it checks another webhook secret than this run's",
            ),
            (
                run(None, Target::Sim),
                "the simulator this run starts sends a random one",
            ),
        ] {
            let err = standing_receiver(port, &run).await.unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
            assert!(
                !err.contains(a.expose()) && !err.contains(b.expose()),
                "no secret shows: {err}"
            );
        }
        for fits in [
            run(Some(a), Target::Meshy),
            run(Some(a), Target::Sim),
            run(None, Target::Meshy),
        ] {
            assert!(
                standing_receiver(port, &fits).await.unwrap().is_some(),
                "the same secret, or a run that checks none against the real API (stricter is fine)"
            );
        }
        checking_a.shutdown().await;
        let unchecked_local = running_with(ours.clone(), None, None).await;
        let port = unchecked_local.addr().port();
        let err = standing_receiver(port, &run(Some(a), Target::Sim))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("it checks no webhook secret, and this run checks one"),
            "{err}"
        );
        let err = standing_receiver(port, &run(None, Target::Meshy))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("it has no public URL") && err.contains("--tunnel"),
            "Meshy cannot reach it: {err}"
        );
        assert!(
            standing_receiver(port, &run(None, Target::Sim))
                .await
                .unwrap()
                .is_some(),
            "the simulator reaches it on loopback"
        );
        unchecked_local.shutdown().await;
    }

    #[tokio::test]
    async fn a_run_uses_a_receiver_of_its_project_and_refuses_one_of_another_or_another_token() {
        let dir = tempfile::tempdir().unwrap();
        let ours = Serves::here(
            &dir.path().join("target/mesh-toolkit"),
            &dir.path().join("cassettes"),
        );
        let receiver = running(ours.clone()).await;
        let port = receiver.addr().port();
        assert!(
            standing_receiver(port, &ours_sim(TOKEN, &ours))
                .await
                .unwrap()
                .is_some()
        );
        let err = standing_receiver(port, &ours_sim("othertoken0123456789", &ours))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("it checks another webhook token than this run's"),
            "{err}"
        );
        assert!(err.contains("nothing was sent"), "{err}");
        assert!(!err.contains(TOKEN), "the token never shows: {err}");
        let elsewhere = Serves::here(
            &dir.path().join("other/target/mesh-toolkit"),
            &dir.path().join("other/cassettes"),
        );
        let err = standing_receiver(port, &ours_sim(TOKEN, &elsewhere))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("it serves the project")
                && err.contains(
                    "start it again from this project with `cargo run -- receive --port P`"
                ),
            "{err}"
        );
        let newer = Serves {
            toolkit: "9.9.9".into(),
            ..ours.clone()
        };
        let err = standing_receiver(port, &ours_sim(TOKEN, &newer))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("writing formats"), "{err}");
        receiver.shutdown().await;
        assert!(
            standing_receiver(port, &ours_sim(TOKEN, &ours))
                .await
                .unwrap()
                .is_none(),
            "nothing runs there: the run binds its own"
        );
    }
}
