//! Argument parsing for the `mesh-toolkit` binary's subcommands, kept in the library
//! so it is unit-tested; `src/main.rs` only dispatches and runs.

use std::path::PathBuf;
use std::time::Duration;

use crate::sim::{Rule, SimConfig};
use crate::tunnel::Provider;

/// A command-line mistake; the binary prints it with the usage text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CliError(pub String);

/// Parses `sim` options: `--port P`, `--webhook-url URL` (repeatable),
/// `--task-seconds S`, `--balance N`, `--api-key K` (repeatable),
/// `--requests-per-second N`, `--max-queued-tasks N`, `--rules FILE` (a JSON array of
/// outcome rules), `--api-version V` (`v2026.01.27`, the default, or `v2025.11.18`). Both `--flag value` and `--flag=value` are accepted.
pub fn parse_sim_args(args: &[String]) -> Result<SimConfig, CliError> {
    let mut config = SimConfig::default();
    let mut keys = Vec::new();
    let mut options = Options::new(args);
    while let Some((flag, value)) = options.next_pair()? {
        match flag.as_str() {
            "--port" => config.port = number(&flag, &value)?,
            "--webhook-url" => config.webhook_urls.push(value),
            "--task-seconds" => {
                let seconds: f64 = number(&flag, &value)?;
                if !seconds.is_finite() || seconds < 0.0 {
                    return Err(CliError(format!(
                        "--task-seconds must be 0 or more, not '{value}'"
                    )));
                }
                // Checked: `1e300` is an error, not a panic.
                config.task_time = Duration::try_from_secs_f64(seconds)
                    .map_err(|_| CliError(format!("--task-seconds '{value}' is too large")))?;
            }
            "--balance" => config.balance = number(&flag, &value)?,
            "--api-key" => keys.push(value),
            "--requests-per-second" => config.requests_per_second = number(&flag, &value)?,
            "--max-queued-tasks" => config.max_queued_tasks = number(&flag, &value)?,
            "--api-version" => {
                config.api_version =
                    value.parse().map_err(|e: crate::sim::UnknownApiVersion| {
                        CliError(format!("--api-version: {e}"))
                    })?;
            }
            "--rules" => config.rules = read_rules(&PathBuf::from(value))?,
            _ => return Err(CliError(format!("unknown option '{flag}' for 'sim'"))),
        }
    }
    if !keys.is_empty() {
        config.api_keys = Some(keys);
    }
    Ok(config)
}

/// Options of `receive`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiveArgs {
    /// Default: 0, any free port.
    pub port: u16,
    /// Default: `cassettes`; recordings go under `<cassettes>/webhooks`.
    pub cassettes: PathBuf,
    /// Default: `MESHY_WEBHOOK_TOKEN`, else a random token.
    pub token: Option<String>,
    /// Make the receiver public. Default: none (loopback only).
    pub tunnel: Provider,
    /// A public URL the user already forwards to the receiver.
    pub public_url: Option<String>,
}

/// Parses `receive` options: `--port P`, `--cassettes DIR`, `--token T`,
/// `--tunnel ngrok|cloudflared|bore|none`, `--public-url URL`.
pub fn parse_receive_args(args: &[String]) -> Result<ReceiveArgs, CliError> {
    let mut parsed = ReceiveArgs {
        port: 0,
        cassettes: PathBuf::from("cassettes"),
        token: None,
        tunnel: Provider::None,
        public_url: None,
    };
    let mut options = Options::new(args);
    while let Some((flag, value)) = options.next_pair()? {
        match flag.as_str() {
            "--port" => parsed.port = number(&flag, &value)?,
            "--cassettes" => parsed.cassettes = PathBuf::from(value),
            "--token" => parsed.token = Some(value),
            "--tunnel" => parsed.tunnel = value.parse().map_err(CliError)?,
            "--public-url" => parsed.public_url = Some(value),
            _ => return Err(CliError(format!("unknown option '{flag}' for 'receive'"))),
        }
    }
    Ok(parsed)
}

/// Parses `cassettes check` options: `--cassettes DIR`, `--scenarios DIR`, `--max-age AGE`
/// (`90d`, `12h`; default `MESHY_CASSETTE_MAX_AGE`, else none).
pub fn parse_check_args(
    args: &[String],
    max_age_env: Option<String>,
) -> Result<crate::check::CheckOptions, CliError> {
    let mut options = crate::check::CheckOptions {
        cassettes: PathBuf::from("cassettes"),
        scenarios: PathBuf::from("scenarios"),
        max_age: None,
    };
    let mut max_age = max_age_env.filter(|v| !v.trim().is_empty());
    let mut parser = Options::new(args);
    while let Some((flag, value)) = parser.next_pair()? {
        match flag.as_str() {
            "--cassettes" => options.cassettes = PathBuf::from(value),
            "--scenarios" => options.scenarios = PathBuf::from(value),
            "--max-age" => max_age = Some(value),
            _ => {
                return Err(CliError(format!(
                    "unknown option '{flag}' for 'cassettes check'"
                )));
            }
        }
    }
    if let Some(age) = max_age {
        options.max_age = Some(crate::check::parse_age(&age).ok_or_else(|| {
            CliError(format!(
                "--max-age: '{age}' is not an age such as 90d, 12h or 3600 (MESHY_CASSETTE_MAX_AGE)"
            ))
        })?);
    }
    Ok(options)
}

/// Options of `webhooks replay`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedeliverArgs {
    pub recording: PathBuf,
    pub to: String,
    pub only_terminal: bool,
}

/// Parses `webhooks replay <recording.json> --to <url> [--only-terminal]`.
pub fn parse_redeliver_args(args: &[String]) -> Result<RedeliverArgs, CliError> {
    let mut recording = None;
    let mut to = None;
    let mut only_terminal = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.split_once('=') {
            Some(("--to", value)) => to = Some(value.to_owned()),
            _ if arg == "--to" => {
                to = Some(
                    rest.next()
                        .ok_or_else(|| CliError("--to needs a URL".into()))?
                        .clone(),
                )
            }
            _ if arg == "--only-terminal" => only_terminal = true,
            _ if arg.starts_with("--") => {
                return Err(CliError(format!(
                    "unknown option '{arg}' for 'webhooks replay'"
                )));
            }
            _ if recording.is_none() => recording = Some(PathBuf::from(arg)),
            _ => return Err(CliError(format!("unexpected argument '{arg}'"))),
        }
    }
    Ok(RedeliverArgs {
        recording: recording
            .ok_or_else(|| CliError("webhooks replay needs a recording file".into()))?,
        to: to.ok_or_else(|| CliError("webhooks replay needs --to <url>".into()))?,
        only_terminal,
    })
}

fn read_rules(path: &PathBuf) -> Result<Vec<Rule>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        CliError(format!(
            "error reading rules file '{}': {e}",
            path.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| {
        CliError(format!(
            "rules file '{}' is invalid at line {}, column {}: {e}",
            path.display(),
            e.line(),
            e.column()
        ))
    })
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, CliError> {
    value
        .parse()
        .map_err(|_| CliError(format!("{flag} expects a number, not '{value}'")))
}

/// Walks `--flag value` / `--flag=value` pairs.
struct Options<'a> {
    args: std::slice::Iter<'a, String>,
}

impl<'a> Options<'a> {
    fn new(args: &'a [String]) -> Self {
        Options { args: args.iter() }
    }

    fn next_pair(&mut self) -> Result<Option<(String, String)>, CliError> {
        let Some(arg) = self.args.next() else {
            return Ok(None);
        };
        if !arg.starts_with("--") {
            return Err(CliError(format!("unexpected argument '{arg}'")));
        }
        if let Some((flag, value)) = arg.split_once('=') {
            return Ok(Some((flag.to_owned(), value.to_owned())));
        }
        match self.args.next() {
            Some(value) => Ok(Some((arg.clone(), value.clone()))),
            None => Err(CliError(format!("{arg} needs a value"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn sim_flags_fill_the_config() {
        let config = parse_sim_args(&args(&[
            "--port",
            "8123",
            "--webhook-url",
            "http://127.0.0.1:1/a",
            "--webhook-url=http://127.0.0.1:2/b",
            "--task-seconds",
            "0.5",
            "--api-key",
            "msy_one",
            "--balance=7",
        ]))
        .unwrap();
        assert_eq!(config.port, 8123);
        assert_eq!(
            config.webhook_urls,
            ["http://127.0.0.1:1/a", "http://127.0.0.1:2/b"]
        );
        assert_eq!(config.task_time, Duration::from_millis(500));
        assert_eq!(config.api_keys, Some(vec!["msy_one".to_string()]));
        assert_eq!(config.balance, 7);
    }

    #[test]
    fn receive_and_redeliver_flags_parse() {
        let receive = parse_receive_args(&args(&[
            "--port=8000",
            "--cassettes",
            "rec",
            "--token",
            "t",
            "--tunnel",
            "bore",
        ]))
        .unwrap();
        assert_eq!(
            receive,
            ReceiveArgs {
                port: 8000,
                cassettes: "rec".into(),
                token: Some("t".into()),
                tunnel: Provider::Bore,
                public_url: None,
            }
        );
        let err = parse_receive_args(&args(&["--tunnel", "ssh"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown tunnel 'ssh'; expected one of: ngrok, cloudflared, bore, none"
        );
        let replay = parse_redeliver_args(&args(&[
            "r.json",
            "--to",
            "http://127.0.0.1:9/hook",
            "--only-terminal",
        ]))
        .unwrap();
        assert_eq!(
            replay,
            RedeliverArgs {
                recording: "r.json".into(),
                to: "http://127.0.0.1:9/hook".into(),
                only_terminal: true
            }
        );
        let err = parse_redeliver_args(&args(&["r.json"]))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "webhooks replay needs --to <url>");
    }

    #[test]
    fn sim_flag_mistakes_are_named() {
        let err = |list: &[&str]| parse_sim_args(&args(list)).unwrap_err().to_string();
        assert_eq!(err(&["--port", "x"]), "--port expects a number, not 'x'");
        assert_eq!(
            err(&["--colour", "red"]),
            "unknown option '--colour' for 'sim'"
        );
        assert_eq!(err(&["--port"]), "--port needs a value");
        assert_eq!(
            err(&["--task-seconds", "-1"]),
            "--task-seconds must be 0 or more, not '-1'"
        );
        assert!(
            err(&["--rules", "/nonexistent/rules.json"])
                .starts_with("error reading rules file '/nonexistent/rules.json'")
        );
    }
}
