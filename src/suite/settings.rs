//! The harness command line: the flags of DESIGN.md's table and their environment
//! variables, separated from libtest's own flags (which go on to libtest-mimic).
//! Unknown flags and bad values are errors naming the flag and what it accepts.

use std::path::PathBuf;
use std::time::Duration;

use crate::cassette::RecordMode;
use crate::tunnel::Provider;

/// Where recordings are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The real API (needs `MESHY_API_KEY`).
    Meshy,
    /// The bundled simulator, started in-process.
    Sim,
}

/// The harness settings of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `--record-webhooks` / `MESHY_RECORD_WEBHOOKS=1`.
    pub record_webhooks: bool,
    /// `--record-mode` / `MESHY_RECORD_MODE`. Default: `none`, or `once` with
    /// `--record-webhooks`.
    pub record_mode: RecordMode,
    /// `--target` / `MESHY_TARGET`. Default: `meshy`.
    pub target: Target,
    /// `--tunnel` / `MESHY_TUNNEL`. Default: `ngrok` for meshy, `none` for sim.
    pub tunnel: Provider,
    /// `--public-url` / `MESHY_PUBLIC_URL`.
    pub public_url: Option<String>,
    /// `--webhook-port` / `MESHY_WEBHOOK_PORT`. Default: any free port, 8000 with a public URL.
    pub webhook_port: u16,
    /// `--webhook-timeout` / `MESHY_WEBHOOK_TIMEOUT` (seconds). Default: 300.
    pub webhook_timeout: Duration,
    /// `--webhook-grace` / `MESHY_WEBHOOK_GRACE` (seconds): after the API shows a task
    /// terminal, how long its terminal webhook may still take. Default: 60.
    pub webhook_grace: Duration,
    /// `--accept-api-payload` / `MESHY_ACCEPT_API_PAYLOAD=1`: when no terminal webhook
    /// came within the grace, complete the recording with the API's task object
    /// (marked `payload_source: "api"`). Default: off.
    pub accept_api_payload: bool,
    /// `--max-tasks-in-flight` / `MESHY_MAX_TASKS_IN_FLIGHT`: unfinished tasks this run may
    /// have at once (the account's queue). Default: 10 (Pro; Studio 20, Enterprise 50).
    pub max_tasks_in_flight: usize,
    /// `--max-credits` / `MESHY_MAX_CREDITS`: refuse a recording whose known cost is higher.
    /// Default: no limit (the balance still is one).
    pub max_credits: Option<u64>,
    /// `--dry-run` / `MESHY_DRY_RUN=1`: send each scenario's requests with the test-mode key,
    /// follow each task, write nothing. Default: off.
    pub dry_run: bool,
    /// `--scenarios` / `MESHY_SCENARIOS_DIR`. Default: `scenarios`.
    pub scenarios_dir: PathBuf,
    /// `--cassettes` / `MESHY_CASSETTES_DIR`. Default: `cassettes`.
    pub cassettes_dir: PathBuf,
}

/// A harness flag or variable that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

/// The harness flags, with whether each takes a value.
const HARNESS_FLAGS: [(&str, &str, bool); 14] = [
    ("--record-webhooks", "MESHY_RECORD_WEBHOOKS", false),
    ("--record-mode", "MESHY_RECORD_MODE", true),
    ("--target", "MESHY_TARGET", true),
    ("--tunnel", "MESHY_TUNNEL", true),
    ("--public-url", "MESHY_PUBLIC_URL", true),
    ("--webhook-port", "MESHY_WEBHOOK_PORT", true),
    ("--webhook-timeout", "MESHY_WEBHOOK_TIMEOUT", true),
    ("--webhook-grace", "MESHY_WEBHOOK_GRACE", true),
    ("--accept-api-payload", "MESHY_ACCEPT_API_PAYLOAD", false),
    ("--max-tasks-in-flight", "MESHY_MAX_TASKS_IN_FLIGHT", true),
    ("--max-credits", "MESHY_MAX_CREDITS", true),
    ("--dry-run", "MESHY_DRY_RUN", false),
    ("--scenarios", "MESHY_SCENARIOS_DIR", true),
    ("--cassettes", "MESHY_CASSETTES_DIR", true),
];

/// libtest's flags (as libtest-mimic knows them), with whether each takes a value.
const LIBTEST_FLAGS: [(&str, bool); 16] = [
    ("--include-ignored", false),
    ("--ignored", false),
    ("--test", false),
    ("--bench", false),
    ("--list", false),
    ("--nocapture", false),
    ("--show-output", false),
    ("--exact", false),
    ("--quiet", false),
    ("-q", false),
    ("--help", false),
    ("--test-threads", true),
    ("--logfile", true),
    ("--skip", true),
    ("--color", true),
    ("--format", true),
];

impl Settings {
    /// Splits `args` (the program name first) into harness settings and the arguments
    /// for libtest-mimic. `env` reads an environment variable; flags win over it.
    pub fn parse(
        args: &[String],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(Settings, Vec<String>), SettingsError> {
        let mut given: Vec<(&'static str, String)> = Vec::new();
        let mut libtest = Vec::new();
        let mut rest = args.iter();
        if let Some(program) = rest.next() {
            libtest.push(program.clone());
        }
        while let Some(arg) = rest.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) if name.starts_with("--") => (name, Some(value.to_owned())),
                _ => (arg.as_str(), None),
            };
            if let Some(&(flag, _, takes_value)) = HARNESS_FLAGS.iter().find(|(f, _, _)| *f == name)
            {
                let value = match (takes_value, inline) {
                    (false, None) => "1".to_owned(),
                    (false, Some(_)) => {
                        return Err(SettingsError(format!("{flag} takes no value")));
                    }
                    (true, Some(value)) => value,
                    (true, None) => rest
                        .next()
                        .cloned()
                        .ok_or_else(|| SettingsError(format!("{flag} needs a value")))?,
                };
                given.push((flag, value));
            } else if let Some(&(_, takes_value)) = LIBTEST_FLAGS.iter().find(|(f, _)| *f == name) {
                libtest.push(arg.clone());
                if takes_value && inline.is_none() {
                    libtest.extend(rest.next().cloned());
                }
            } else if name == "-Z" {
                libtest.push(arg.clone());
                libtest.extend(rest.next().cloned());
            } else if arg.starts_with('-') && arg.len() > 1 {
                let harness: Vec<&str> = HARNESS_FLAGS.iter().map(|(f, _, _)| *f).collect();
                return Err(SettingsError(format!(
                    "unknown flag '{arg}'; harness flags: {}; libtest's flags (filters, --list, --exact, --test-threads, \
                     --format, …) work as usual",
                    harness.join(", ")
                )));
            } else {
                libtest.push(arg.clone());
            }
        }
        let value = |flag: &str| -> Option<String> {
            let (_, var, _) = HARNESS_FLAGS
                .iter()
                .find(|(f, _, _)| *f == flag)
                .expect("a known flag");
            given
                .iter()
                .rev()
                .find(|(f, _)| *f == flag)
                .map(|(_, v)| v.clone())
                .or_else(|| env(var).filter(|v| !v.is_empty()))
        };
        Ok((Settings::from_values(value)?, libtest))
    }

    fn from_values(value: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let switch = |flag: &str, var: &str| match value(flag).as_deref() {
            None | Some("0" | "false") => Ok(false),
            Some("1" | "true") => Ok(true),
            Some(other) => Err(SettingsError(format!(
                "{var} must be 1 or 0, not '{other}'"
            ))),
        };
        let record_webhooks = switch("--record-webhooks", "MESHY_RECORD_WEBHOOKS")?;
        let accept_api_payload = switch("--accept-api-payload", "MESHY_ACCEPT_API_PAYLOAD")?;
        let dry_run = switch("--dry-run", "MESHY_DRY_RUN")?;
        let max_tasks_in_flight = match value("--max-tasks-in-flight") {
            Some(n) => n
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=10_000).contains(n))
                .ok_or_else(|| {
                    SettingsError(format!(
                        "--max-tasks-in-flight: '{n}' is not a whole number of tasks from 1 to 10000"
                    ))
                })?,
            None => 10,
        };
        let max_credits = match value("--max-credits") {
            Some(n) => Some(n.parse::<u64>().map_err(|_| {
                SettingsError(format!(
                    "--max-credits: '{n}' is not a whole number of credits"
                ))
            })?),
            None => None,
        };
        let record_mode = match value("--record-mode") {
            Some(mode) => mode
                .parse::<RecordMode>()
                .map_err(|e| SettingsError(format!("--record-mode: {e}")))?,
            None if record_webhooks => RecordMode::Once,
            None => RecordMode::None,
        };
        let target = match value("--target").as_deref() {
            None | Some("meshy") => Target::Meshy,
            Some("sim") => Target::Sim,
            Some(other) => {
                return Err(SettingsError(format!(
                    "--target: unknown target '{other}'; expected one of: meshy, sim"
                )));
            }
        };
        let tunnel = match value("--tunnel") {
            Some(name) => name
                .parse::<Provider>()
                .map_err(|e| SettingsError(format!("--tunnel: {e}")))?,
            None if target == Target::Sim => Provider::None,
            None => Provider::Ngrok,
        };
        let public_url = value("--public-url").map(|u| u.trim_end_matches('/').to_owned());
        if let Some(url) = &public_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(SettingsError(format!(
                "--public-url: '{url}' is not an http(s) URL"
            )));
        }
        let webhook_port = match value("--webhook-port") {
            Some(port) => port.parse().map_err(|_| {
                SettingsError(format!(
                    "--webhook-port: '{port}' is not a port number (0-65535)"
                ))
            })?,
            None if public_url.is_some() => 8000,
            None => 0,
        };
        let seconds = |flag: &str, default: u64| match value(flag) {
            Some(secs) => secs.parse().map(Duration::from_secs).map_err(|_| {
                SettingsError(format!("{flag}: '{secs}' is not a whole number of seconds"))
            }),
            None => Ok(Duration::from_secs(default)),
        };
        let webhook_timeout = seconds("--webhook-timeout", 300)?;
        let webhook_grace = seconds("--webhook-grace", 60)?;
        Ok(Settings {
            webhook_grace,
            accept_api_payload,
            max_tasks_in_flight,
            max_credits,
            dry_run,
            record_webhooks,
            record_mode,
            target,
            tunnel,
            public_url,
            webhook_port,
            webhook_timeout,
            scenarios_dir: value("--scenarios")
                .map_or_else(|| PathBuf::from("scenarios"), PathBuf::from),
            cassettes_dir: value("--cassettes")
                .map_or_else(|| PathBuf::from("cassettes"), PathBuf::from),
        })
    }

    /// Whether this run may send anything live (a dry run sends, but records nothing).
    pub fn may_record(&self) -> bool {
        self.record_mode != RecordMode::None || self.dry_run
    }

    /// The flags that reproduce this run's target, for commands printed in errors.
    pub fn target_flag(&self) -> &'static str {
        match self.target {
            Target::Sim => " --target=sim",
            Target::Meshy => "",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<(Settings, Vec<String>), SettingsError> {
        let args: Vec<String> = std::iter::once("scenarios")
            .chain(args.iter().copied())
            .map(String::from)
            .collect();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::parse(&args, |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_replay_only_against_meshy() {
        let (settings, libtest) = parse(&[], &[]).unwrap();
        assert_eq!(settings.record_mode, RecordMode::None);
        assert_eq!(
            (settings.target, settings.tunnel),
            (Target::Meshy, Provider::Ngrok)
        );
        assert_eq!(settings.webhook_timeout, Duration::from_secs(300));
        assert_eq!(settings.webhook_grace, Duration::from_secs(60));
        assert!(!settings.accept_api_payload);
        assert_eq!(settings.scenarios_dir, PathBuf::from("scenarios"));
        assert_eq!(libtest, ["scenarios"]);
    }

    #[test]
    fn grace_and_api_payload_come_from_flags_or_the_environment() {
        let (settings, _) = parse(&["--webhook-grace=5", "--accept-api-payload"], &[]).unwrap();
        assert_eq!(settings.webhook_grace, Duration::from_secs(5));
        assert!(settings.accept_api_payload);
        let env = [
            ("MESHY_WEBHOOK_GRACE", "7"),
            ("MESHY_ACCEPT_API_PAYLOAD", "1"),
        ];
        let (settings, _) = parse(&[], &env).unwrap();
        assert_eq!(settings.webhook_grace, Duration::from_secs(7));
        assert!(settings.accept_api_payload);
        let (settings, _) = parse(&[], &[]).unwrap();
        assert_eq!(
            (
                settings.max_tasks_in_flight,
                settings.max_credits,
                settings.dry_run
            ),
            (10, None, false)
        );
        let env = [
            ("MESHY_MAX_TASKS_IN_FLIGHT", "20"),
            ("MESHY_MAX_CREDITS", "100"),
            ("MESHY_DRY_RUN", "1"),
        ];
        let (settings, _) = parse(&[], &env).unwrap();
        assert_eq!(
            (
                settings.max_tasks_in_flight,
                settings.max_credits,
                settings.dry_run
            ),
            (20, Some(100), true)
        );
        assert_eq!(
            parse(&["--max-tasks-in-flight=0"], &[])
                .unwrap_err()
                .to_string(),
            "--max-tasks-in-flight: '0' is not a whole number of tasks from 1 to 10000"
        );
        assert_eq!(
            parse(&[], &[("MESHY_ACCEPT_API_PAYLOAD", "yes")])
                .unwrap_err()
                .to_string(),
            "MESHY_ACCEPT_API_PAYLOAD must be 1 or 0, not 'yes'"
        );
    }

    #[test]
    fn harness_flags_are_taken_out_and_libtest_flags_pass_through() {
        let (settings, libtest) = parse(
            &[
                "otter",
                "--record-webhooks",
                "--target=sim",
                "--exact",
                "--test-threads",
                "2",
                "--cassettes",
                "/tmp/c",
                "--format=terse",
            ],
            &[],
        )
        .unwrap();
        assert!(settings.record_webhooks);
        assert_eq!(
            settings.record_mode,
            RecordMode::Once,
            "--record-webhooks alone means once"
        );
        assert_eq!(
            (settings.target, settings.tunnel),
            (Target::Sim, Provider::None)
        );
        assert_eq!(settings.cassettes_dir, PathBuf::from("/tmp/c"));
        assert_eq!(
            libtest,
            [
                "scenarios",
                "otter",
                "--exact",
                "--test-threads",
                "2",
                "--format=terse"
            ]
        );
    }

    #[test]
    fn environment_variables_apply_and_flags_win() {
        let env = [
            ("MESHY_RECORD_MODE", "new_episodes"),
            ("MESHY_TARGET", "sim"),
            ("MESHY_PUBLIC_URL", "https://hooks.example/"),
        ];
        let (settings, _) = parse(&["--record-mode=all"], &env).unwrap();
        assert_eq!(settings.record_mode, RecordMode::All);
        assert_eq!(settings.target, Target::Sim);
        assert_eq!(
            settings.public_url.as_deref(),
            Some("https://hooks.example")
        );
        assert_eq!(
            settings.webhook_port, 8000,
            "a public URL needs a fixed port"
        );
    }

    #[test]
    fn unknown_flags_and_bad_values_name_what_is_accepted() {
        let err = |args: &[&str]| parse(args, &[]).unwrap_err().to_string();
        assert!(err(&["--record"]).starts_with(
            "unknown flag '--record'; harness flags: --record-webhooks, --record-mode,"
        ));
        assert_eq!(
            err(&["--record-mode=sometimes"]),
            "--record-mode: unknown record mode 'sometimes'; expected one of: none, once, new_episodes, all, rewrite"
        );
        assert_eq!(
            err(&["--target", "staging"]),
            "--target: unknown target 'staging'; expected one of: meshy, sim"
        );
        assert_eq!(
            err(&["--tunnel=ssh"]),
            "--tunnel: unknown tunnel 'ssh'; expected one of: ngrok, cloudflared, bore, none"
        );
        assert_eq!(
            err(&["--webhook-port=http"]),
            "--webhook-port: 'http' is not a port number (0-65535)"
        );
        assert_eq!(
            err(&["--webhook-timeout"]),
            "--webhook-timeout needs a value"
        );
        assert_eq!(
            parse(&[], &[("MESHY_RECORD_WEBHOOKS", "yes")])
                .unwrap_err()
                .to_string(),
            "MESHY_RECORD_WEBHOOKS must be 1 or 0, not 'yes'"
        );
    }
}
