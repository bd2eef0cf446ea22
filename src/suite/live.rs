//! The recording context of a run: the simulator (for `--target=sim`), the receiver,
//! the tunnel and the recorder, started once — lazily, by the first trial that
//! records — after the guards that keep a run from spending credits by mistake.

use std::sync::Arc;

use super::settings::{Settings, Target};
use crate::cassette::Scrub;
use crate::meshy::{Client, ClientConfig, DEFAULT_BASE_URL};
use crate::receiver::{Receiver, ReceiverConfig};
use crate::recorder::Recorder;
use crate::sim::{SimConfig, Simulator};
use crate::transport::{LiveConfig, LiveTransport, Transport};
use crate::tunnel::{self, Tunnel, TunnelOptions};

/// What the environment says about this run.
#[derive(Debug, Clone, Default)]
pub struct RunEnv {
    pub api_key: Option<String>,
    /// `CI` set and not `false`/`0`.
    pub ci: bool,
    pub allow_record_on_ci: bool,
    /// Running under cargo-nextest (`NEXTEST` set).
    pub nextest: bool,
    /// `MESHY_SIM_TASK_SECONDS`: the simulator's task time (default 2).
    pub sim_task_seconds: Option<f64>,
    pub stable_token: bool,
    pub ngrok_domain: bool,
    /// `MESHY_BASE_URL`: where `--target=meshy` records (default `https://api.meshy.ai`;
    /// e.g. a `mesh-toolkit sim` standing in for the real API).
    pub base_url: Option<String>,
}

impl RunEnv {
    pub fn from(env: impl Fn(&str) -> Option<String>) -> RunEnv {
        let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        RunEnv {
            api_key: set("MESHY_API_KEY"),
            ci: set("CI").is_some_and(|v| v != "false" && v != "0"),
            allow_record_on_ci: set("MESHY_ALLOW_RECORD_ON_CI").as_deref() == Some("1"),
            nextest: set("NEXTEST").is_some(),
            base_url: set("MESHY_BASE_URL").map(|u| u.trim_end_matches('/').to_owned()),
            sim_task_seconds: set("MESHY_SIM_TASK_SECONDS").and_then(|v| v.parse().ok()),
            stable_token: set("MESHY_WEBHOOK_TOKEN").is_some(),
            ngrok_domain: set("NGROK_DOMAIN").is_some(),
        }
    }
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
}

/// What a recording trial needs from the run's recording context.
#[derive(Clone)]
pub struct Recording {
    pub scrub: Scrub,
    pub transport: Arc<dyn Transport>,
    pub recorder: Recorder,
    pub base_url: String,
    pub api_key: String,
    /// `simulator` or `meshy`, written into cassettes.
    pub against: &'static str,
}

/// Refusals that come before anything is started or sent.
pub fn guards(settings: &Settings, env: &RunEnv) -> Result<(), String> {
    if env.nextest {
        return Err("recording is refused under cargo-nextest, which runs every test in its own process (each would \
                    start its own receiver and tunnel); record with `cargo test --test scenarios -- --record-webhooks`, \
                    then replay with `cargo nextest run`"
            .into());
    }
    if settings.target == Target::Meshy {
        if env.api_key.is_none() {
            return Err("recording against the real Meshy API needs MESHY_API_KEY; set it (the test-mode key \
                        msy_dummy_api_key_for_test_mode_12345678 spends no credits), or record with --target=sim"
                .into());
        }
        if env.ci && !env.allow_record_on_ci {
            return Err("refusing to record against the real Meshy API on CI (CI is set): it spends credits; set \
                        MESHY_ALLOW_RECORD_ON_CI=1 to allow it, or record with --target=sim"
                .into());
        }
    }
    Ok(())
}

impl Live {
    /// Starts everything a recording needs, in order: simulator, receiver, tunnel,
    /// preflight. Prints what a user must know (the dashboard URL, warnings).
    pub async fn start(settings: &Settings, env: &RunEnv) -> Result<Live, String> {
        guards(settings, env)?;
        // The client-side limit protects a real account; the simulator has none.
        let requests_per_second = match settings.target {
            Target::Sim => 10_000,
            Target::Meshy => LiveConfig::default().requests_per_second,
        };
        let live = LiveConfig {
            requests_per_second,
            ..LiveConfig::default()
        };
        let transport: Arc<dyn Transport> =
            Arc::new(LiveTransport::new(live).map_err(|e| e.to_string())?);
        let (sim, base_url, api_key) = match settings.target {
            Target::Sim => {
                let task_time = std::time::Duration::from_secs_f64(
                    env.sim_task_seconds.unwrap_or(2.0).max(0.0),
                );
                let sim = Simulator::start(SimConfig {
                    task_time,
                    ..SimConfig::unlimited()
                })
                .await
                .map_err(|e| format!("cannot start the simulator: {e}"))?;
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
        if base_url != DEFAULT_BASE_URL {
            // The simulator, or another deployment of the API: recordings use the canonical
            // hosts so they replay anywhere (the simulator serves assets under /assets).
            scrub = scrub
                .host(format!("{base_url}/assets"), "https://assets.meshy.ai")
                .host(base_url.clone(), DEFAULT_BASE_URL);
        }
        let mut config = ReceiverConfig::new(settings.cassettes_dir.join("webhooks"));
        config.port = settings.webhook_port;
        config.store.scrub = scrub.clone();
        let receiver = Receiver::start(config).await.map_err(|e| {
            format!(
                "cannot start the webhook receiver on 127.0.0.1:{}: {e}",
                settings.webhook_port
            )
        })?;
        let port = receiver.addr().port();
        let tunnel = match &settings.public_url {
            Some(url) => tunnel::public_url(url),
            None => tunnel::start(TunnelOptions::new(settings.tunnel, port))
                .await
                .map_err(|e| e.to_string())?,
        };
        // Callback URLs carry this run's address and token: neither belongs in a cassette.
        let scrub = scrub
            .secret(receiver.token().to_owned(), "<WEBHOOK_TOKEN>")
            .host(tunnel.public_url(), "<WEBHOOK_BASE>");
        tunnel::preflight(tunnel.public_url(), port)
            .await
            .map_err(|e| e.to_string())?;
        let receiver = Arc::new(receiver);
        let recorder = Recorder::recording(
            Arc::clone(&receiver),
            tunnel.public_url(),
            settings.cassettes_dir.join("webhooks"),
        );
        if settings.target == Target::Meshy {
            if let Some(warning) = tunnel::https_warning(tunnel.public_url()) {
                eprintln!("{warning}");
            }
            let stable = env.stable_token && (settings.public_url.is_some() || env.ngrok_domain);
            eprintln!(
                "paste this webhook URL into the Meshy dashboard (API settings → Webhooks): {}\n  it {} between runs{}",
                receiver.webhook_url(tunnel.public_url()),
                if stable { "stays the same" } else { "changes" },
                if stable {
                    ""
                } else {
                    " (set MESHY_WEBHOOK_TOKEN and NGROK_DOMAIN or --public-url to keep it fixed)"
                }
            );
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
        })
    }

    pub fn recording(&self) -> Recording {
        Recording {
            scrub: self.scrub.clone(),
            transport: Arc::clone(&self.transport),
            recorder: self.recorder.clone(),
            base_url: self.base_url.clone(),
            api_key: self.api_key.clone(),
            against: if self.sim.is_some() {
                "simulator"
            } else {
                "meshy"
            },
        }
    }

    /// The account balance (real API only), for the recording plan.
    pub async fn balance(&self) -> Option<u64> {
        let config = ClientConfig {
            base_url: self.base_url.clone(),
            api_key: Some(self.api_key.clone()),
            ..ClientConfig::default()
        };
        Client::new(config, Arc::clone(&self.transport))
            .ok()?
            .balance()
            .await
            .ok()
    }

    /// Stops the tunnel, the receiver (finishing its writes) and the simulator.
    pub async fn stop(mut self) {
        self.tunnel.stop();
        drop(self.recorder);
        if let Ok(receiver) = Arc::try_unwrap(self.receiver) {
            receiver.shutdown().await;
        }
        if let Some(sim) = self.sim.take() {
            sim.shutdown().await;
        }
    }
}
