//! Tunnels: make the local receiver reachable by Meshy, which delivers only to a
//! public URL. One small trait, [`Tunnel`]; providers chosen by name
//! ([`Provider`]): the ngrok agent, a cloudflared quick tunnel, `bore`, a URL the user
//! already forwards (`--public-url`), or none (the simulator reaches loopback).
//!
//! Agents run as child processes whose output goes to a log file (never the test
//! output); they are killed when the tunnel is stopped or dropped, and
//! [`stop_all`] kills every live one (for Ctrl-C handlers). Failures are reported
//! before anything is spent: a missing binary says how to install it, an agent that
//! exits early shows its last log lines, no URL in time is an error, and
//! [`preflight`] proves the public URL reaches this run's receiver.
//!
//! ```no_run
//! # async fn example() -> Result<(), mesh_toolkit::tunnel::TunnelError> {
//! use mesh_toolkit::tunnel::{Provider, TunnelOptions, preflight, start};
//! let tunnel = start(TunnelOptions::new(Provider::Bore, 8000)).await?;
//! preflight(tunnel.public_url(), 8000).await?;
//! println!("public URL: {}", tunnel.public_url());
//! # Ok(()) }
//! ```

mod process;
mod providers;

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

pub use process::stop_all;

use crate::transport::{TransportError, http_client};

/// A running tunnel. Dropping it stops it.
pub trait Tunnel: Send + Sync {
    /// The public base URL, without a trailing slash.
    fn public_url(&self) -> &str;
    /// Stops the tunnel; calling it again does nothing.
    fn stop(&mut self);
}

/// Tunnel providers, by their `--tunnel` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Provider {
    Ngrok,
    Cloudflared,
    Bore,
    /// The receiver's loopback URL: only the simulator can reach it.
    None,
}

impl Provider {
    pub const NAMES: [&'static str; 4] = ["ngrok", "cloudflared", "bore", "none"];

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Ngrok => "ngrok",
            Provider::Cloudflared => "cloudflared",
            Provider::Bore => "bore",
            Provider::None => "none",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Provider {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        [
            Provider::Ngrok,
            Provider::Cloudflared,
            Provider::Bore,
            Provider::None,
        ]
        .into_iter()
        .find(|p| p.as_str() == name)
        .ok_or_else(|| {
            format!(
                "unknown tunnel '{name}'; expected one of: {}",
                Provider::NAMES.join(", ")
            )
        })
    }
}

/// How to start a tunnel.
#[derive(Debug, Clone)]
pub struct TunnelOptions {
    pub provider: Provider,
    /// The local port to expose (the receiver's).
    pub port: u16,
    /// Where agent output is logged. Default: `target/mesh-toolkit`.
    pub log_dir: PathBuf,
    /// How long the agent may take to report its URL. Default: 30 s.
    pub start_timeout: Duration,
    /// `PATH` to find and run the agent with. Default: the process's `PATH`.
    pub search_path: Option<OsString>,
    /// Extra environment for the agent.
    pub env: Vec<(String, String)>,
}

impl TunnelOptions {
    pub fn new(provider: Provider, port: u16) -> TunnelOptions {
        TunnelOptions {
            provider,
            port,
            log_dir: crate::workdir::dir(),
            start_timeout: Duration::from_secs(30),
            search_path: None,
            env: Vec::new(),
        }
    }

    /// The agent's environment variable `name`: from `env`, else the process's.
    fn var(&self, name: &str) -> Option<String> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
            .filter(|v| !v.trim().is_empty())
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TunnelError {
    #[error("--tunnel={provider}: '{program}' is not on PATH; {hint}")]
    NotInstalled {
        provider: Provider,
        program: String,
        hint: String,
    },
    #[error("--tunnel={provider}: {what}")]
    MissingCredentials { provider: Provider, what: String },
    #[error("--tunnel={provider}: cannot start '{program}': {source}")]
    Spawn {
        provider: Provider,
        program: String,
        source: std::io::Error,
    },
    #[error("--tunnel={provider}: '{program}' exited ({status}) before reporting a public URL; its last log lines ({}):\n{tail}", log.display())]
    ExitedEarly {
        provider: Provider,
        program: String,
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error("--tunnel={provider}: no public URL from '{program}' within {seconds} s; see its log '{}':\n{tail}", log.display())]
    NoUrl {
        provider: Provider,
        program: String,
        seconds: u64,
        log: PathBuf,
        tail: String,
    },
    #[error(
        "preflight failed: GET {url}/health {detail}; the public URL does not reach this run's receiver on \
         127.0.0.1:{port}: check that the tunnel forwards there"
    )]
    Preflight {
        url: String,
        detail: String,
        port: u16,
    },
    /// The HTTP client that asks the agent for its URL, or sends the preflight request,
    /// could not be built (e.g. no root certificates on the system).
    #[error(transparent)]
    HttpClient(#[from] TransportError),
}

/// Starts the tunnel `options` describe. `Provider::None` starts nothing and gives
/// the loopback URL.
pub async fn start(options: TunnelOptions) -> Result<Box<dyn Tunnel>, TunnelError> {
    match options.provider {
        Provider::None => Ok(Box::new(FixedUrl(format!(
            "http://127.0.0.1:{}",
            options.port
        )))),
        _ => Ok(Box::new(providers::start(&options).await?)),
    }
}

/// A URL the user forwards to the receiver themselves (`--public-url`): nothing to start.
pub fn public_url(url: &str) -> Box<dyn Tunnel> {
    Box::new(FixedUrl(url.trim_end_matches('/').to_owned()))
}

struct FixedUrl(String);

impl Tunnel for FixedUrl {
    fn public_url(&self) -> &str {
        &self.0
    }

    fn stop(&mut self) {}
}

/// Proves that `public_url` reaches this run's receiver: `GET /health` with a
/// one-time nonce must come back from it (retried for up to 10 s while a fresh
/// tunnel settles).
pub async fn preflight(public_url: &str, receiver_port: u16) -> Result<(), TunnelError> {
    let nonce = format!("{:016x}", crate::random::nonce());
    let url = public_url.trim_end_matches('/');
    let http = http_client(Some(Duration::from_secs(5)))?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let detail = match http.get(format!("{url}/health?nonce={nonce}")).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let body: serde_json::Value = response
                    .bytes()
                    .await
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or_default();
                if status == 200
                    && body["nonce"] == nonce.as_str()
                    && body["service"] == "mesh-toolkit receiver"
                {
                    return Ok(());
                }
                format!("answered {status} without this run's nonce (another server answered)")
            }
            Err(e) => format!("failed: {}", e.without_url()),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(TunnelError::Preflight {
                url: url.to_owned(),
                detail,
                port: receiver_port,
            });
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The warning to show when Meshy would be asked to deliver to plain http.
pub fn https_warning(public_url: &str) -> Option<String> {
    public_url.starts_with("http://").then(|| {
        format!(
            "warning: the public URL {public_url} is plain http, and Meshy delivers webhooks only to https URLs; put \
             it behind TLS and pass --public-url=https://…, or use --tunnel=ngrok or --tunnel=cloudflared"
        )
    })
}

#[cfg(test)]
mod tests;
