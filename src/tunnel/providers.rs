//! How each agent is started and how its public URL is found:
//! - ngrok: `ngrok http <port> --log stdout --log-format json` (`--url` with
//!   `NGROK_DOMAIN`); the URL from its JSON log or its local API (`/api/tunnels`, on
//!   the web address the log reports: 4040 unless taken).
//! - cloudflared: a quick tunnel with `--metrics 127.0.0.1:<free port>`; the URL from
//!   `GET /quicktunnel` (`{"hostname": …}`).
//! - bore: `bore local <port> --to <BORE_SERVER or bore.pub>`; the URL from its
//!   `listening at <host>:<port>` line (which carries ANSI colour codes).

use std::time::Duration;

use serde_json::Value;

use super::process::{Agent, AgentTunnel, which};
use super::{Provider, TunnelError, TunnelOptions};
use crate::transport::http_client;

pub async fn start(options: &TunnelOptions) -> Result<AgentTunnel, TunnelError> {
    let program = options.provider.as_str();
    let path =
        which(program, options.search_path.as_ref()).ok_or_else(|| TunnelError::NotInstalled {
            provider: options.provider,
            program: program.to_owned(),
            hint: install_hint(options.provider).to_owned(),
        })?;
    let metrics_port = free_port();
    let args = match options.provider {
        Provider::Ngrok => ngrok_args(options)?,
        Provider::Cloudflared => ["tunnel", "--no-autoupdate", "--url"]
            .map(String::from)
            .into_iter()
            .chain([
                format!("http://127.0.0.1:{}", options.port),
                "--metrics".into(),
                format!("127.0.0.1:{metrics_port}"),
            ])
            .collect(),
        Provider::Bore => {
            let server = options
                .var("BORE_SERVER")
                .unwrap_or_else(|| "bore.pub".into());
            vec![
                "local".into(),
                options.port.to_string(),
                "--local-host".into(),
                "127.0.0.1".into(),
                "--to".into(),
                server,
            ]
        }
        Provider::None => unreachable!("Provider::None starts no agent"),
    };
    let http = http_client(Some(Duration::from_secs(2)))?;
    let mut agent = Agent::spawn(options, &path, &args)?;
    let url = discover(options, &mut agent, &http, metrics_port).await?;
    Ok(agent.into_tunnel(url))
}

fn install_hint(provider: Provider) -> &'static str {
    match provider {
        Provider::Ngrok => {
            "install the ngrok agent (https://ngrok.com/download) and set NGROK_AUTHTOKEN, or use --tunnel=cloudflared, \
             which needs no account"
        }
        Provider::Cloudflared => {
            "install cloudflared (https://developers.cloudflare.com/cloudflare-one/connections/connect-networks/downloads/); \
             --tunnel=cloudflared needs no account"
        }
        Provider::Bore => "install it with `cargo install bore-cli`",
        Provider::None => "",
    }
}

fn ngrok_args(options: &TunnelOptions) -> Result<Vec<String>, TunnelError> {
    if options.var("NGROK_AUTHTOKEN").is_none() && !ngrok_config_has_token(options) {
        return Err(TunnelError::MissingCredentials {
            provider: Provider::Ngrok,
            what: "no authtoken: set NGROK_AUTHTOKEN (from https://dashboard.ngrok.com), or use --tunnel=cloudflared, \
                   which needs no account"
                .into(),
        });
    }
    let mut args: Vec<String> = [
        "http",
        &options.port.to_string(),
        "--log",
        "stdout",
        "--log-format",
        "json",
    ]
    .map(String::from)
    .to_vec();
    if let Some(domain) = options.var("NGROK_DOMAIN") {
        args.push(format!("--url={domain}"));
    }
    Ok(args)
}

/// Whether an ngrok config file in a standard place holds an authtoken.
fn ngrok_config_has_token(options: &TunnelOptions) -> bool {
    let Some(home) = options.var("HOME").map(std::path::PathBuf::from) else {
        return false;
    };
    [
        ".config/ngrok/ngrok.yml",
        "Library/Application Support/ngrok/ngrok.yml",
        ".ngrok2/ngrok.yml",
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(home.join(p)).ok())
    .any(|text| text.contains("authtoken:"))
}

/// Watches the agent's output (and its local API) until the public URL is known.
async fn discover(
    options: &TunnelOptions,
    agent: &mut Agent,
    http: &reqwest::Client,
    metrics_port: u16,
) -> Result<String, TunnelError> {
    let deadline = tokio::time::Instant::now() + options.start_timeout;
    let mut ngrok_api = "127.0.0.1:4040".to_owned();
    loop {
        if let Some(status) = agent.exited() {
            // The agent's last lines are its diagnosis: wait until its output is read.
            agent.drain(Duration::from_secs(2)).await;
            return Err(agent.error_exited(options.provider, status));
        }
        let from_api = match options.provider {
            Provider::Ngrok => ngrok_api_url(http, &ngrok_api, options.port).await,
            Provider::Cloudflared => cloudflared_url(http, metrics_port).await,
            _ => None,
        };
        if let Some(url) = from_api {
            return Ok(url);
        }
        let wait = tokio::time::sleep(Duration::from_millis(200));
        tokio::select! {
            line = agent.lines.recv() => {
                let Some(line) = line else { continue };
                match options.provider {
                    Provider::Bore => if let Some(url) = bore_url(&line) { return Ok(url) },
                    Provider::Ngrok => match ngrok_log(&line) {
                        NgrokLog::Url(url) => return Ok(url),
                        NgrokLog::Api(addr) => ngrok_api = addr,
                        NgrokLog::Other => {}
                    },
                    _ => {}
                }
            }
            () = wait => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(TunnelError::NoUrl {
                provider: options.provider,
                program: agent.program.clone(),
                seconds: options.start_timeout.as_secs(),
                log: agent.log.clone(),
                tail: agent.tail(),
            });
        }
    }
}

/// `listening at bore.pub:41234` (colour codes and all) → `http://bore.pub:41234`.
pub fn bore_url(line: &str) -> Option<String> {
    let plain = strip_ansi(line);
    let rest = plain.split("listening at ").nth(1)?;
    let address = rest.split_whitespace().next()?;
    address.contains(':').then(|| format!("http://{address}"))
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI sequences: ESC [ parameters final-letter.
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[derive(Debug, PartialEq, Eq)]
pub enum NgrokLog {
    Url(String),
    Api(String),
    Other,
}

/// One line of ngrok's JSON log: the started tunnel's https URL, or the address of
/// its local web API.
pub fn ngrok_log(line: &str) -> NgrokLog {
    let Ok(entry) = serde_json::from_str::<Value>(line) else {
        return NgrokLog::Other;
    };
    match (
        entry["msg"].as_str(),
        entry["url"].as_str(),
        entry["addr"].as_str(),
    ) {
        (Some("started tunnel"), Some(url), _) if url.starts_with("https://") => {
            NgrokLog::Url(url.to_owned())
        }
        (Some("starting web service"), _, Some(addr)) => NgrokLog::Api(addr.to_owned()),
        _ => NgrokLog::Other,
    }
}

/// The https tunnel forwarding to `port`, from ngrok's local API.
async fn ngrok_api_url(http: &reqwest::Client, api: &str, port: u16) -> Option<String> {
    let tunnels = get_json(http, &format!("http://{api}/api/tunnels")).await?;
    tunnels["tunnels"].as_array()?.iter().find_map(|t| {
        let forwards_here = t["config"]["addr"]
            .as_str()
            .is_none_or(|addr| addr.ends_with(&format!(":{port}")));
        let url = t["public_url"].as_str()?;
        (t["proto"] == "https" && forwards_here).then(|| url.to_owned())
    })
}

/// `https://<hostname>` from cloudflared's `/quicktunnel`, once it has one.
async fn cloudflared_url(http: &reqwest::Client, metrics_port: u16) -> Option<String> {
    let answer = get_json(
        http,
        &format!("http://127.0.0.1:{metrics_port}/quicktunnel"),
    )
    .await?;
    let hostname = answer["hostname"].as_str()?.to_owned();
    (!hostname.is_empty()).then(|| format!("https://{hostname}"))
}

/// The JSON an agent's local API answers, if it answers (it may not be up yet).
async fn get_json(http: &reqwest::Client, url: &str) -> Option<Value> {
    let body = http.get(url).send().await.ok()?.bytes().await.ok()?;
    serde_json::from_slice(&body).ok()
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}
