//! The `mesh-toolkit` binary's command line, declared with clap's derive API and kept in
//! the library so it is unit-tested; `src/main.rs` only dispatches and runs. Each
//! subcommand's struct turns its flags into the library's configuration type.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::check::CheckOptions;
use crate::meshy::ApiGeneration;
use crate::sim::{ApiVersion, Rule, SimConfig};
use crate::tunnel::Provider;

/// A command line that parsed but cannot be used; the binary prints it and exits 2.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot read the rules file '{}': {source}; pass a JSON array of rules", path.display())]
    RulesUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("rules file '{}' is invalid at line {line}, column {column}: {source}", path.display())]
    RulesInvalid {
        path: PathBuf,
        line: usize,
        column: usize,
        source: serde_json::Error,
    },
    /// The value is never shown: it is the webhook secret.
    #[error(
        "--token is empty (is MESHY_WEBHOOK_TOKEN unset?): give a token of 16 or more letters, digits, '-' or \
         '_', or leave --token out to use MESHY_WEBHOOK_TOKEN or a generated one"
    )]
    EmptyToken,
    #[error("--token: {0}")]
    BadToken(String),
    #[error(
        "MESHY_CASSETTE_MAX_AGE: '{0}' is not an age such as 90d, 12h or 3600; fix or unset it, or pass --max-age"
    )]
    BadMaxAgeEnv(String),
    /// The webhook secret cannot be read or used; never shows the value.
    #[error(transparent)]
    WebhookSecret(#[from] crate::secrets::SecretError),
}

/// The webhook secret of a command: `--webhook-secret-file`, else the file
/// `MESHY_WEBHOOK_SECRET_FILE` names, else `MESHY_WEBHOOK_SECRET` (read through `env`);
/// never a value on the command line, where `ps` and shell history would keep it.
pub fn webhook_secret(
    file: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<crate::secrets::WebhookSecret>, CliError> {
    Ok(crate::secrets::WebhookSecret::resolve(file, env)?)
}

/// `mesh-toolkit`: the Meshy simulator, the webhook receiver and tools for recordings.
#[derive(Debug, Parser)]
#[command(
    name = "mesh-toolkit",
    version,
    about = "The Meshy SDK's command line: simulator, webhook receiver, recordings",
    arg_required_else_help = true,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the Meshy simulator on 127.0.0.1 until Ctrl-C.
    Sim(SimArgs),
    /// Run the webhook receiver alone on 127.0.0.1 until Ctrl-C, recording every authentic
    /// delivery: routed ones under CASSETTES/webhooks, dashboard ones (/webhook) in the
    /// project's spool for recording runs, which use this receiver when it runs on their
    /// --webhook-port.
    Receive(ReceiveArgs),
    /// Webhook recordings: replay one to a URL.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Cassettes: check the recordings.
    #[command(subcommand)]
    Cassettes(CassettesCommand),
    /// Write the HTML report of a suite (its scenarios, recordings and the trials' last
    /// results) to OUT/index.html; with --serve, also serve it on 127.0.0.1 until Ctrl-C.
    Report(ReportArgs),
    /// Print the version.
    Version,
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// POST a recording's deliveries, in order, with their recorded headers, to the URL and
    /// print what each answered.
    Replay(RedeliverArgs),
}

#[derive(Debug, Subcommand)]
pub enum CassettesCommand {
    /// The API version and age of every recording, drift from the SDK's model, incomplete
    /// journals, orphans, unrecorded scenarios and leaked secrets, each with the command
    /// that fixes it; exit 1 on problems.
    Check(CheckArgs),
    /// Mend webhook recordings (CASSETTES/webhooks, unrouted/ included) that hold the
    /// value of a secret header such as x-meshy-api-webhook-secret-key: the value becomes
    /// a placeholder, in place, and every delivery is kept. Rotate the secret afterwards.
    Scrub(ScrubArgs),
    /// Move a suite from Meshy API v1 (it stops working on 2027-03-15) to v2: rewrite its
    /// v1 scenario files for v2, pinned, and set their v1 recordings aside under
    /// CASSETTES/v1 (nothing is deleted). Shows the diff and the cost of re-recording;
    /// changes nothing without --yes.
    Migrate(MigrateArgs),
}

/// Options of `cassettes migrate`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct MigrateArgs {
    #[arg(long, value_name = "DIR", default_value = "cassettes")]
    pub cassettes: PathBuf,
    #[arg(long, value_name = "DIR", default_value = "scenarios")]
    pub scenarios: PathBuf,
    /// Apply what is shown: write the scenario files and set the recordings aside.
    #[arg(long)]
    pub yes: bool,
    /// The test target the printed commands name (`cargo test --test NAME`) [default:
    /// the one the package's suite last ran from, else scenarios]
    #[arg(long, value_name = "NAME")]
    pub test_target: Option<String>,
}

/// Options of `cassettes scrub`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ScrubArgs {
    #[arg(long, value_name = "DIR", default_value = "cassettes")]
    pub cassettes: PathBuf,
}

/// Options of `sim`.
#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Port (0: any free port; the line printed shows it).
    #[arg(long, value_name = "P", default_value_t = SimConfig::default().port)]
    pub port: u16,
    /// POST every task update here (repeatable).
    #[arg(long = "webhook-url", value_name = "URL")]
    pub webhook_urls: Vec<String>,
    /// Seconds from PENDING to done (0: as fast as possible).
    #[arg(long, value_name = "S", default_value = "2", value_parser = task_seconds)]
    pub task_seconds: Duration,
    /// Account credits.
    #[arg(long, value_name = "N", default_value_t = SimConfig::default().balance)]
    pub balance: u64,
    /// Accept only these keys (repeatable; default: any msy_ key).
    #[arg(long = "api-key", value_name = "K")]
    pub api_keys: Vec<String>,
    /// Requests per key and second before 429 RateLimitExceeded.
    #[arg(long, value_name = "N", default_value_t = SimConfig::default().requests_per_second)]
    pub requests_per_second: u32,
    /// Unfinished tasks before 429 NoMoreConcurrentTasks.
    #[arg(long, value_name = "N", default_value_t = SimConfig::default().max_queued_tasks)]
    pub max_queued_tasks: usize,
    /// JSON array of outcome rules (failed, canceled, slow, ...).
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// The API version spoken: v2026.01.27 (today's shapes) or v2025.11.18.
    #[arg(long, value_name = "V", default_value_t = ApiVersion::default())]
    pub api_version: ApiVersion,
    /// A file holding the webhook secret every delivery carries in
    /// x-meshy-api-webhook-secret-key [env: MESHY_WEBHOOK_SECRET_FILE, else
    /// MESHY_WEBHOOK_SECRET; default: a random secret]
    #[arg(long, value_name = "FILE")]
    pub webhook_secret_file: Option<PathBuf>,
    /// The payload version of each --webhook-url, in order: v1 or v2 task objects,
    /// whatever API created the task (repeatable; a URL without one gets v1).
    #[arg(long = "webhook-payload", value_name = "V")]
    pub webhook_payloads: Vec<ApiGeneration>,
    /// Act out 2027-03-15: every v1 route with a v2 twin (and text-to-3d with mode)
    /// answers 410 api_v1_sunset; v2 keeps working.
    #[arg(long)]
    pub v1_sunset: bool,
    /// Be flaky on purpose: lost and failed answers, slow ones, 429 bursts, webhook
    /// updates dropped, duplicated, reordered or late; the same seed gives the same
    /// faults for the same requests. Each fault is logged as one line.
    #[arg(long, value_name = "N")]
    pub chaos_seed: Option<u64>,
    /// The share of requests and of webhook updates that get a fault (with --chaos-seed).
    #[arg(long, value_name = "R", default_value = "0.1", value_parser = chaos_rate, requires = "chaos_seed")]
    pub chaos_rate: f64,
    /// Under chaos, lose a task's final webhook update for good now and then (by
    /// default it arrives at least once, maybe late).
    #[arg(long, requires = "chaos_seed")]
    pub chaos_lose_final: bool,
    /// Under chaos, only this kind of fault (repeatable): lost-answer, bad-gateway,
    /// reset, unavailable, slow, too-many, dropped, duplicated, reordered, late,
    /// only-in-progress, final-lost.
    #[arg(long = "chaos-only", value_name = "KIND", requires = "chaos_seed", value_parser = chaos_kind)]
    pub chaos_only: Vec<String>,
}

/// A chaos fault kind's name.
fn chaos_kind(text: &str) -> Result<String, String> {
    match crate::sim::Chaos::KINDS.contains(&text) {
        true => Ok(text.to_owned()),
        false => Err(format!(
            "'{text}' is not a chaos fault kind; the kinds: {}",
            crate::sim::Chaos::KINDS.join(", ")
        )),
    }
}

/// A share from 0 to 1.
fn chaos_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(format!(
            "'{text}' is not a share from 0 to 1 (0.1: one in ten)"
        )),
    }
}

impl SimArgs {
    /// The simulator's configuration, with the rules file read.
    pub fn config(&self) -> Result<SimConfig, CliError> {
        Ok(SimConfig {
            port: self.port,
            webhook_urls: self.webhook_urls.clone(),
            task_time: self.task_seconds,
            api_keys: (!self.api_keys.is_empty()).then(|| self.api_keys.clone()),
            balance: self.balance,
            requests_per_second: self.requests_per_second,
            max_queued_tasks: self.max_queued_tasks,
            rules: match &self.rules {
                Some(path) => read_rules(path)?,
                None => Vec::new(),
            },
            api_version: self.api_version,
            webhook_payloads: self.webhook_payloads.clone(),
            v1_sunset: self.v1_sunset,
            chaos: self.chaos_seed.map(|seed| crate::sim::Chaos {
                lose_final: self.chaos_lose_final,
                only: self.chaos_only.clone(),
                ..crate::sim::Chaos::new(seed, self.chaos_rate)
            }),
            ..SimConfig::default()
        })
    }
}

/// Options of `receive`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ReceiveArgs {
    /// Port (0: any free port).
    #[arg(long, value_name = "P", default_value_t = 0)]
    pub port: u16,
    /// Recordings go under DIR/webhooks.
    #[arg(long, value_name = "DIR", default_value = "cassettes")]
    pub cassettes: PathBuf,
    /// The URL token, 16 or more of [A-Za-z0-9_-] (default: MESHY_WEBHOOK_TOKEN, else
    /// the project's, kept in <target dir>/mesh-toolkit/webhook-token as the harness does).
    #[arg(long, value_name = "T")]
    pub token: Option<String>,
    /// Make the receiver public.
    #[arg(long, value_enum, ignore_case = true, value_name = "NAME", default_value_t = Provider::None)]
    pub tunnel: Provider,
    /// A public URL you already forward to the receiver (no tunnel started).
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// A file holding Meshy's webhook secret: deliveries without it in
    /// x-meshy-api-webhook-secret-key are refused (401) [env: MESHY_WEBHOOK_SECRET_FILE,
    /// else MESHY_WEBHOOK_SECRET; default: not checked]. Never stored either way.
    #[arg(long, value_name = "FILE")]
    pub webhook_secret_file: Option<PathBuf>,
}

impl ReceiveArgs {
    /// The token given with `--token`, checked; its value never appears in an error.
    pub fn checked_token(&self) -> Result<Option<&str>, CliError> {
        match self.token.as_deref() {
            None => Ok(None),
            Some(token) if token.trim().is_empty() => Err(CliError::EmptyToken),
            Some(token) => crate::receiver::token::check(token)
                .map(|()| Some(token))
                .map_err(|e| CliError::BadToken(e.replacen("MESHY_WEBHOOK_TOKEN", "the token", 1))),
        }
    }
}

/// Options of `report`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ReportArgs {
    #[arg(long, value_name = "DIR", default_value = "cassettes")]
    pub cassettes: PathBuf,
    #[arg(long, value_name = "DIR", default_value = "scenarios")]
    pub scenarios: PathBuf,
    /// Where the trials' results are [default: <target dir>/mesh-toolkit/results; a
    /// suite with other cassettes than ./cassettes has its own directory in it].
    #[arg(long, value_name = "DIR")]
    pub results: Option<PathBuf>,
    /// Where index.html goes [default: <target dir>/mesh-toolkit/report].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Serve the report directory on 127.0.0.1 until Ctrl-C (the page also opens from
    /// file:// as it is).
    #[arg(long)]
    pub serve: bool,
    /// The port --serve listens on (0: any free port; the line printed shows it).
    #[arg(long, value_name = "P", default_value_t = 0, requires = "serve")]
    pub port: u16,
    /// The test target the printed commands name (`cargo test --test NAME`) [default:
    /// the one the package's suite last ran from, else scenarios]
    #[arg(long, value_name = "NAME")]
    pub test_target: Option<String>,
}

impl ReportArgs {
    /// The report's sources, defaults filled in; `invocation` is how the suite is run.
    pub fn sources(&self, invocation: crate::command::Invocation) -> crate::report::Sources {
        crate::report::Sources {
            scenarios: self.scenarios.clone(),
            cassettes: self.cassettes.clone(),
            results: crate::report::results::dir_for(
                &self
                    .results
                    .clone()
                    .unwrap_or_else(crate::report::results::default_dir),
                &self.cassettes,
                &invocation,
            ),
            invocation,
        }
    }

    /// Where index.html goes.
    pub fn out_dir(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(crate::report::default_dir)
    }
}

/// Options of `cassettes check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[arg(long, value_name = "DIR", default_value = "cassettes")]
    pub cassettes: PathBuf,
    #[arg(long, value_name = "DIR", default_value = "scenarios")]
    pub scenarios: PathBuf,
    /// Recordings older than this are problems: 90d, 12h, 3600 (seconds). Default:
    /// MESHY_CASSETTE_MAX_AGE, else none.
    #[arg(long, value_name = "AGE", value_parser = age)]
    pub max_age: Option<Duration>,
    /// Recordings made with Meshy API v1 (it stops working on 2027-03-15) are problems
    /// that fail the check, not notes.
    #[arg(long)]
    pub fail_on_v1: bool,
    /// The test target the printed commands name (`cargo test --test NAME`) [default:
    /// the one the package's suite last ran from, else scenarios]
    #[arg(long, value_name = "NAME")]
    pub test_target: Option<String>,
}

impl CheckArgs {
    /// The check's options; `max_age_env` is `MESHY_CASSETTE_MAX_AGE`, used without
    /// `--max-age`; `invocation` is how the suite is run, for the fix commands.
    pub fn options(
        &self,
        max_age_env: Option<String>,
        invocation: crate::command::Invocation,
    ) -> Result<CheckOptions, CliError> {
        let max_age = match (self.max_age, max_age_env.filter(|v| !v.trim().is_empty())) {
            (Some(age), _) => Some(age),
            (None, Some(text)) => Some(age(&text).map_err(|_| CliError::BadMaxAgeEnv(text))?),
            (None, None) => None,
        };
        Ok(CheckOptions {
            cassettes: self.cassettes.clone(),
            scenarios: self.scenarios.clone(),
            max_age,
            v1_is_problem: self.fail_on_v1,
            today: None,
            invocation,
        })
    }
}

/// Options of `webhooks replay`.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct RedeliverArgs {
    /// A webhook recording (a JSON file under cassettes/webhooks).
    #[arg(value_name = "RECORDING")]
    pub recording: PathBuf,
    /// Where to POST the deliveries.
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Only the final delivery.
    #[arg(long)]
    pub only_terminal: bool,
    /// A file holding the webhook secret to send in x-meshy-api-webhook-secret-key, for
    /// an endpoint that checks it (recordings hold a placeholder) [env:
    /// MESHY_WEBHOOK_SECRET_FILE, else MESHY_WEBHOOK_SECRET; default: the placeholder]
    #[arg(long, value_name = "FILE")]
    pub webhook_secret_file: Option<PathBuf>,
}

fn task_seconds(text: &str) -> Result<Duration, String> {
    crate::sim::task_time_text(text).ok_or_else(|| {
        format!(
            "expected a number of seconds from 0 to {}",
            crate::sim::MAX_TASK_SECONDS
        )
    })
}

fn age(text: &str) -> Result<Duration, String> {
    crate::check::parse_age(text).ok_or_else(|| "expected an age such as 90d, 12h or 3600".into())
}

fn read_rules(path: &Path) -> Result<Vec<Rule>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|source| CliError::RulesUnreadable {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| CliError::RulesInvalid {
        path: path.to_owned(),
        line: source.line(),
        column: source.column(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    use super::*;

    fn parse(list: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_from(std::iter::once("mesh-toolkit").chain(list.iter().copied()))
            .map(|cli| cli.command)
    }

    fn sim(list: &[&str]) -> SimArgs {
        match parse(&[&["sim"], list].concat()).unwrap() {
            Command::Sim(args) => args,
            other => panic!("not sim: {other:?}"),
        }
    }

    #[test]
    fn the_declaration_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn chaos_flags_fill_the_config_and_bad_values_are_named() {
        let config = sim(&[
            "--chaos-seed",
            "7",
            "--chaos-rate=0.2",
            "--chaos-only",
            "lost-answer",
            "--chaos-only=late",
            "--chaos-lose-final",
        ])
        .config()
        .unwrap();
        let chaos = config.chaos.expect("chaos asked for");
        assert_eq!((chaos.seed, chaos.rate, chaos.lose_final), (7, 0.2, true));
        assert_eq!(chaos.only, ["lost-answer", "late"]);
        assert_eq!(
            sim(&["--chaos-seed", "7"])
                .config()
                .unwrap()
                .chaos
                .unwrap()
                .rate,
            0.1
        );
        assert!(sim(&[]).config().unwrap().chaos.is_none());
        let err = |args: &[&str]| parse(&[&["sim"], args].concat()).unwrap_err().to_string();
        assert!(
            err(&["--chaos-seed", "7", "--chaos-rate", "2"])
                .contains("'2' is not a share from 0 to 1")
        );
        assert!(
            err(&["--chaos-seed", "7", "--chaos-only", "gremlins"])
                .contains("the kinds: lost-answer, bad-gateway")
        );
        assert!(
            err(&["--chaos-rate", "0.2"]).contains("--chaos-seed"),
            "a rate needs a seed"
        );
    }

    #[test]
    fn sim_flags_fill_the_config_and_defaults_are_the_simulators() {
        let config = sim(&[
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
            "--api-version=V2025.11.18",
            "--webhook-payload",
            "v2",
            "--v1-sunset",
        ])
        .config()
        .unwrap();
        assert_eq!(config.port, 8123);
        assert_eq!(
            config.webhook_urls,
            ["http://127.0.0.1:1/a", "http://127.0.0.1:2/b"]
        );
        assert_eq!(config.task_time, Duration::from_millis(500));
        assert_eq!(config.api_keys, Some(vec!["msy_one".to_string()]));
        assert_eq!(config.balance, 7);
        assert_eq!(config.api_version, ApiVersion::V2025_11_18);
        assert_eq!(config.webhook_payloads, [ApiGeneration::V2]);
        assert!(config.v1_sunset);
        assert_eq!(
            config.webhooks(),
            [
                ("http://127.0.0.1:1/a".to_owned(), ApiGeneration::V2),
                ("http://127.0.0.1:2/b".to_owned(), ApiGeneration::V1)
            ],
            "a URL without a payload version gets v1"
        );

        let defaults = sim(&[]).config().unwrap();
        let expected = SimConfig::default();
        assert_eq!(
            (
                defaults.port,
                defaults.task_time,
                defaults.balance,
                defaults.requests_per_second,
                defaults.max_queued_tasks,
                defaults.api_keys,
                defaults.api_version
            ),
            (
                expected.port,
                expected.task_time,
                expected.balance,
                expected.requests_per_second,
                expected.max_queued_tasks,
                expected.api_keys,
                expected.api_version
            )
        );
    }

    #[test]
    fn receive_and_redeliver_flags_parse() {
        let Command::Receive(receive) = parse(&[
            "receive",
            "--port=8000",
            "--cassettes",
            "rec",
            "--token",
            "t0123456789abcdef",
            "--tunnel",
            "Bore",
        ])
        .unwrap() else {
            panic!("not receive")
        };
        assert_eq!(
            receive,
            ReceiveArgs {
                port: 8000,
                cassettes: "rec".into(),
                token: Some("t0123456789abcdef".into()),
                tunnel: Provider::Bore,
                public_url: None,
                webhook_secret_file: None,
            }
        );
        assert_eq!(receive.checked_token().unwrap(), Some("t0123456789abcdef"));
        let err = parse(&["receive", "--tunnel", "ssh"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidValue);
        assert!(
            err.to_string()
                .contains("[possible values: ngrok, cloudflared, bore, none]"),
            "{err}"
        );
        let Command::Webhooks(WebhooksCommand::Replay(replay)) = parse(&[
            "webhooks",
            "replay",
            "r.json",
            "--to",
            "http://127.0.0.1:9/hook",
            "--only-terminal",
        ])
        .unwrap() else {
            panic!("not webhooks replay")
        };
        assert_eq!(
            replay,
            RedeliverArgs {
                recording: "r.json".into(),
                to: "http://127.0.0.1:9/hook".into(),
                only_terminal: true,
                webhook_secret_file: None,
            }
        );
        let err = parse(&["webhooks", "replay", "r.json"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingRequiredArgument);
        assert!(err.to_string().contains("--to <URL>"), "{err}");
    }

    #[test]
    fn an_empty_or_weak_token_is_refused_without_showing_it() {
        let token = |value: &str| ReceiveArgs {
            port: 0,
            cassettes: "c".into(),
            token: Some(value.into()),
            tunnel: Provider::None,
            public_url: None,
            webhook_secret_file: None,
        };
        let empty = token("").checked_token().unwrap_err().to_string();
        assert!(empty.starts_with("--token is empty"), "{empty}");
        let weak = token("hunter2").checked_token().unwrap_err().to_string();
        assert!(
            weak.starts_with("--token: the token must be 16 or more"),
            "{weak}"
        );
        assert!(!weak.contains("hunter2"), "{weak}");
    }

    #[test]
    fn mistakes_are_named_with_suggestions() {
        let err = |list: &[&str]| parse(list).unwrap_err();
        let port = err(&["sim", "--port", "x"]);
        assert_eq!(port.kind(), ErrorKind::ValueValidation);
        assert!(
            port.to_string()
                .contains("invalid value 'x' for '--port <P>'"),
            "{port}"
        );
        let misspelt = err(&["sim", "--task-second", "1"]).to_string();
        assert!(
            misspelt.contains("unexpected argument '--task-second'"),
            "{misspelt}"
        );
        assert!(
            misspelt.contains("similar argument exists: '--task-seconds'"),
            "{misspelt}"
        );
        assert_eq!(err(&["sim", "--port"]).kind(), ErrorKind::InvalidValue);
        for bad in ["-1", "inf", "1e300", "NaN"] {
            let text = err(&["sim", &format!("--task-seconds={bad}")]).to_string();
            assert!(
                text.contains(&format!("invalid value '{bad}' for '--task-seconds <S>'")),
                "{text}"
            );
        }
        let Command::Sim(rules) = parse(&["sim", "--rules", "/nonexistent/rules.json"]).unwrap()
        else {
            panic!("not sim")
        };
        assert!(
            rules
                .config()
                .unwrap_err()
                .to_string()
                .starts_with("cannot read the rules file '/nonexistent/rules.json'")
        );
        let unknown = err(&["simulate"]).to_string();
        assert!(
            unknown.contains("unrecognized subcommand 'simulate'"),
            "{unknown}"
        );
    }

    #[test]
    fn help_and_version_are_answers_not_errors() {
        for list in [
            &["--help"][..],
            &["-h"],
            &["sim", "--help"],
            &["receive", "--help"],
            &["webhooks", "--help"],
            &["webhooks", "replay", "--help"],
            &["cassettes", "check", "-h"],
        ] {
            let err = parse(list).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::DisplayHelp, "{list:?}");
            assert_eq!(err.exit_code(), 0, "{list:?}");
        }
        let version = parse(&["--version"]).unwrap_err();
        assert_eq!(version.kind(), ErrorKind::DisplayVersion);
        assert!(matches!(parse(&["version"]), Ok(Command::Version)));
        let sim_help = parse(&["sim", "--help"]).unwrap_err().to_string();
        assert!(sim_help.contains("--task-seconds <S>"), "{sim_help}");
        assert!(sim_help.contains("[default: 2]"), "{sim_help}");
    }

    #[test]
    fn the_age_comes_from_the_flag_then_the_environment() {
        let Command::Cassettes(CassettesCommand::Check(check)) =
            parse(&["cassettes", "check"]).unwrap()
        else {
            panic!("not check")
        };
        assert_eq!(
            check.options(None, Default::default()).unwrap().max_age,
            None
        );
        assert_eq!(
            check
                .options(Some("2h".into()), Default::default())
                .unwrap()
                .max_age,
            Some(Duration::from_secs(7200))
        );
        assert!(
            check
                .options(Some("soon".into()), Default::default())
                .unwrap_err()
                .to_string()
                .starts_with("MESHY_CASSETTE_MAX_AGE: 'soon'")
        );
        let Command::Cassettes(CassettesCommand::Check(flag)) =
            parse(&["cassettes", "check", "--max-age=1d"]).unwrap()
        else {
            panic!("not check")
        };
        assert_eq!(
            flag.options(Some("2h".into()), Default::default())
                .unwrap()
                .max_age,
            Some(Duration::from_secs(86_400))
        );
    }
}
