//! The harness command line (clap derive): libtest-mimic's own arguments flattened beside
//! the flags of DESIGN.md's table, and each flag's environment variable, read through an
//! injected `env` so tests need not touch the process's. Unknown flags and bad values are
//! errors naming the flag and what it accepts; `--help` lists every flag.

use std::path::PathBuf;
use std::time::Duration;

use crate::cassette::RecordMode;
use crate::tunnel::Provider;

/// Where recordings are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
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
    /// have at once (the account's queue). Default: 10 (Pro; Premium 30, Studio 60, Ultra and
    /// Enterprise 100).
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
    /// The trials' results and the HTML report at the end (`crate::report`); off
    /// with `--no-report` / `MESHY_NO_REPORT=1`. Default: on.
    pub report: bool,
    /// `--webhook-secret-file` / `MESHY_WEBHOOK_SECRET_FILE`: a file holding Meshy's
    /// webhook secret, which the receiver then checks (as it checks `MESHY_WEBHOOK_SECRET`,
    /// the value itself, which has no flag). Default: none, not checked.
    pub webhook_secret_file: Option<PathBuf>,
    /// The commands printed for the user to run next: the test target running, its
    /// package in a workspace, the directories above (`crate::command`).
    pub commands: crate::command::Commands,
}

/// A harness flag or variable that cannot be used, or a request for help.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A flag mistake (clap's message, with its suggestion), or `--help` (exit code 0).
    #[error("{0}")]
    CommandLine(#[from] clap::Error),
    /// An environment variable with a value its flag would not take.
    #[error("{var}: '{value}' {expected}; fix or unset it")]
    Env {
        var: &'static str,
        value: String,
        expected: String,
    },
}

impl SettingsError {
    /// Prints the error (help to stdout, mistakes to stderr) and gives the exit code:
    /// 0 for `--help`, 2 for a mistake.
    pub fn report(&self) -> std::process::ExitCode {
        match self {
            SettingsError::CommandLine(error) => {
                let _ = error.print();
                std::process::ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2))
            }
            SettingsError::Env { .. } => {
                eprintln!("error: {self}");
                std::process::ExitCode::from(2)
            }
        }
    }
}

const HELP_TEMPLATE: &str = "{about}\n\n{usage-heading} {usage}\n\n{all-args}\n\n{after-help}";

/// What `--help` says after the flags, with the commands of the test target running.
fn after_help(cargo_test: &str) -> String {
    format!(
        "Every harness flag can also be set by its environment variable; a flag wins over it.
Trial names carry the scenario's kind: run one kind with a filter, e.g.
  {cargo_test} -- '[polling]'     (or '[webhook]', '[rust]')
Record what has no cassette yet: {cargo_test} -- --record-webhooks (add --target=sim for the simulator)."
    )
}

/// The harness's command line: libtest's own flags (filters, `--list`, `--exact`,
/// `--test-threads`, …, as libtest-mimic knows them) and the harness flags.
#[derive(Debug, clap::Parser)]
#[command(
    name = "scenarios",
    about = "The scenario suite: replays every scenario's recordings offline, or records them.",
    disable_version_flag = true
)]
pub struct CommandLine {
    #[command(flatten)]
    pub libtest: libtest_mimic::Arguments,
    #[command(flatten)]
    pub harness: HarnessFlags,
}

/// The harness flags as given; [`Settings::resolve`] adds the environment and defaults.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Harness flags")]
pub struct HarnessFlags {
    /// Record the scenarios that have no cassette yet (record mode once, unless
    /// --record-mode says otherwise) [env: MESHY_RECORD_WEBHOOKS=1]
    #[arg(long)]
    pub record_webhooks: bool,
    /// When to record and when to replay [env: MESHY_RECORD_MODE] [default: none; once
    /// with --record-webhooks]
    #[arg(long, value_enum, ignore_case = true, value_name = "MODE")]
    pub record_mode: Option<RecordMode>,
    /// Where recordings are made [env: MESHY_TARGET] [default: meshy]
    #[arg(long, value_enum, ignore_case = true, value_name = "TARGET")]
    pub target: Option<Target>,
    /// Makes the webhook receiver public [env: MESHY_TUNNEL] [default: ngrok; none with
    /// --target=sim]
    #[arg(long, value_enum, ignore_case = true, value_name = "NAME")]
    pub tunnel: Option<Provider>,
    /// A public URL you already forward to the receiver; no tunnel is started
    /// [env: MESHY_PUBLIC_URL]
    #[arg(long, value_name = "URL", value_parser = public_url)]
    pub public_url: Option<String>,
    /// The receiver's port [env: MESHY_WEBHOOK_PORT] [default: any free port; 8000 with a
    /// public URL]
    #[arg(long, value_name = "PORT", value_parser = port)]
    pub webhook_port: Option<u16>,
    /// Seconds a task may take, counted from its creation [env: MESHY_WEBHOOK_TIMEOUT]
    /// [default: 300]
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub webhook_timeout: Option<Duration>,
    /// Seconds the terminal webhook may come after the API shows the task finished
    /// [env: MESHY_WEBHOOK_GRACE] [default: 60]
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub webhook_grace: Option<Duration>,
    /// Without a terminal webhook within the grace, complete the recording from the API's
    /// task object [env: MESHY_ACCEPT_API_PAYLOAD=1]
    #[arg(long)]
    pub accept_api_payload: bool,
    /// Unfinished tasks this run may have at once: the account's queue (Pro 10, Premium 30,
    /// Studio 60, Ultra and Enterprise 100) [env: MESHY_MAX_TASKS_IN_FLIGHT] [default: 10]
    #[arg(long, value_name = "N", value_parser = tasks_in_flight)]
    pub max_tasks_in_flight: Option<usize>,
    /// Refuse a recording whose known cost is higher [env: MESHY_MAX_CREDITS] [default: no
    /// limit]
    #[arg(long, value_name = "CREDITS", value_parser = credits)]
    pub max_credits: Option<u64>,
    /// Send each scenario's requests with the test-mode key, follow each task, write
    /// nothing [env: MESHY_DRY_RUN=1]
    #[arg(long)]
    pub dry_run: bool,
    /// The scenario files [env: MESHY_SCENARIOS_DIR] [default: scenarios]
    #[arg(long, value_name = "DIR")]
    pub scenarios: Option<PathBuf>,
    /// The recordings [env: MESHY_CASSETTES_DIR] [default: cassettes]
    #[arg(long, value_name = "DIR")]
    pub cassettes: Option<PathBuf>,
    /// Write no trial results and no HTML report (<target dir>/mesh-toolkit/report)
    /// [env: MESHY_NO_REPORT=1]
    #[arg(long)]
    pub no_report: bool,
    /// A file holding Meshy's webhook secret: deliveries without it are refused (401)
    /// [env: MESHY_WEBHOOK_SECRET_FILE, else the value in MESHY_WEBHOOK_SECRET; default:
    /// not checked]. Its value is never stored either way.
    #[arg(long, value_name = "FILE")]
    pub webhook_secret_file: Option<PathBuf>,
}

impl Settings {
    /// Parses `args` (the program name first) into harness settings and libtest-mimic's
    /// arguments. `env` reads an environment variable; flags win over it. Never exits:
    /// `--help` comes back as [`SettingsError::CommandLine`] with exit code 0.
    pub fn parse(
        args: &[String],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(Settings, libtest_mimic::Arguments), SettingsError> {
        use clap::{CommandFactory, FromArgMatches};
        let program = args.first().map_or("scenarios", String::as_str);
        // The package root: cargo runs a test there and says so in CARGO_MANIFEST_DIR.
        let package_dir = env("CARGO_MANIFEST_DIR").unwrap_or_else(|| ".".to_owned());
        let invocation = crate::command::Invocation::of_test_binary(
            std::path::Path::new(program),
            std::path::Path::new(&package_dir),
        );
        let cargo_test = crate::command::Commands::new(
            invocation.clone(),
            std::path::Path::new("scenarios"),
            std::path::Path::new("cassettes"),
        )
        .cargo_test();
        // Set here, not in the derive: the flattened libtest arguments bring their own
        // template, which would replace ours; the usage names the test target running.
        let matches = CommandLine::command()
            .help_template(HELP_TEMPLATE)
            .override_usage(format!("{cargo_test} -- [OPTIONS] [FILTER]"))
            .after_help(after_help(&cargo_test))
            // libtest-mimic describes both as "Run ignored tests". No trial here is marked
            // ignored before it runs: one is reported ignored when it skips itself.
            .mut_arg("ignored", |arg| {
                arg.help(
                    "Run only trials marked ignored before they run; no scenario trial is \
                     (one that skips itself is reported ignored), so this runs none",
                )
            })
            .mut_arg("include_ignored", |arg| {
                arg.help(
                    "Run trials marked ignored too; no scenario trial is, so this runs the \
                     same trials as without it",
                )
            })
            // A flag given twice takes the last value, as libtest's do (an alias or a
            // script may set one that the command line then overrides).
            .args_override_self(true)
            .try_get_matches_from(args)?;
        let line = CommandLine::from_arg_matches(&matches)?;
        let mut settings = Settings::resolve(line.harness, env)?;
        settings.commands = crate::command::Commands::new(
            invocation,
            &settings.scenarios_dir,
            &settings.cassettes_dir,
        );
        Ok((settings, line.libtest))
    }

    /// The settings from the flags given, then the environment, then the defaults.
    pub fn resolve(
        flags: HarnessFlags,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, SettingsError> {
        let var = |name: &'static str| Variable {
            name,
            value: env(name).filter(|v| !v.trim().is_empty()),
        };
        let record_webhooks = flags.record_webhooks || var("MESHY_RECORD_WEBHOOKS").switch()?;
        let accept_api_payload =
            flags.accept_api_payload || var("MESHY_ACCEPT_API_PAYLOAD").switch()?;
        let dry_run = flags.dry_run || var("MESHY_DRY_RUN").switch()?;
        let report = !(flags.no_report || var("MESHY_NO_REPORT").switch()?);
        let record_mode = match flags.record_mode {
            Some(mode) => Some(mode),
            None => var("MESHY_RECORD_MODE").choice()?,
        };
        let record_mode = match record_mode {
            Some(mode) => mode,
            None if record_webhooks => RecordMode::Once,
            None => RecordMode::None,
        };
        let target = match flags.target {
            Some(target) => target,
            None => var("MESHY_TARGET").choice()?.unwrap_or(Target::Meshy),
        };
        let tunnel = match flags.tunnel {
            Some(tunnel) => Some(tunnel),
            None => var("MESHY_TUNNEL").choice()?,
        };
        let tunnel = match tunnel {
            Some(tunnel) => tunnel,
            None if target == Target::Sim => Provider::None,
            None => Provider::Ngrok,
        };
        let public_url = or_env(flags.public_url, var("MESHY_PUBLIC_URL"), public_url)?;
        let webhook_port = match or_env(flags.webhook_port, var("MESHY_WEBHOOK_PORT"), port)? {
            Some(port) => port,
            None if public_url.is_some() => 8000,
            None => 0,
        };
        let webhook_timeout = or_env(flags.webhook_timeout, var("MESHY_WEBHOOK_TIMEOUT"), seconds)?;
        let webhook_grace = or_env(flags.webhook_grace, var("MESHY_WEBHOOK_GRACE"), seconds)?;
        let max_tasks_in_flight = or_env(
            flags.max_tasks_in_flight,
            var("MESHY_MAX_TASKS_IN_FLIGHT"),
            tasks_in_flight,
        )?;
        let max_credits = or_env(flags.max_credits, var("MESHY_MAX_CREDITS"), credits)?;
        let path = |p: &str| Ok::<_, String>(PathBuf::from(p));
        let scenarios_dir = or_env(flags.scenarios, var("MESHY_SCENARIOS_DIR"), path)?
            .unwrap_or_else(|| PathBuf::from("scenarios"));
        let cassettes_dir = or_env(flags.cassettes, var("MESHY_CASSETTES_DIR"), path)?
            .unwrap_or_else(|| PathBuf::from("cassettes"));
        Ok(Settings {
            record_webhooks,
            record_mode,
            target,
            tunnel,
            public_url,
            webhook_port,
            webhook_timeout: webhook_timeout.unwrap_or(Duration::from_secs(300)),
            webhook_grace: webhook_grace.unwrap_or(Duration::from_secs(60)),
            accept_api_payload,
            max_tasks_in_flight: max_tasks_in_flight.unwrap_or(10),
            max_credits,
            dry_run,
            commands: crate::command::Commands::new(
                crate::command::Invocation::default(),
                &scenarios_dir,
                &cassettes_dir,
            ),
            scenarios_dir,
            cassettes_dir,
            report,
            webhook_secret_file: or_env(
                flags.webhook_secret_file,
                var(crate::secrets::WEBHOOK_SECRET_FILE_ENV),
                path,
            )?,
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

/// One environment variable, read through the injected `env`.
struct Variable {
    name: &'static str,
    value: Option<String>,
}

impl Variable {
    fn invalid(&self, value: &str, expected: impl Into<String>) -> SettingsError {
        SettingsError::Env {
            var: self.name,
            value: value.to_owned(),
            expected: expected.into(),
        }
    }

    /// `1`/`true` or `0`/`false`, any case.
    fn switch(&self) -> Result<bool, SettingsError> {
        match self.value.as_deref().map(str::trim) {
            None => Ok(false),
            Some(v) if v == "1" || v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v == "0" || v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(self.invalid(v, "is not 1/true or 0/false")),
        }
    }

    /// One of a value enum's names, any case (`MESHY_TARGET=Sim`).
    fn choice<T: clap::ValueEnum>(&self) -> Result<Option<T>, SettingsError> {
        let Some(value) = &self.value else {
            return Ok(None);
        };
        T::from_str(value.trim(), true).map(Some).map_err(|_| {
            let names: Vec<String> = T::value_variants()
                .iter()
                .filter_map(|v| v.to_possible_value())
                .map(|v| v.get_name().to_owned())
                .collect();
            self.invalid(value, format!("is not one of: {}", names.join(", ")))
        })
    }
}

/// The flag's value if given, else the variable's, parsed as the flag would be.
fn or_env<T>(
    flag: Option<T>,
    var: Variable,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, SettingsError> {
    match (flag, &var.value) {
        (Some(value), _) => Ok(Some(value)),
        (None, Some(text)) => parse(text.trim())
            .map(Some)
            .map_err(|reason| var.invalid(text, reason)),
        (None, None) => Ok(None),
    }
}

// The value parsers: clap uses them for the flags, `or_env` for the variables.

fn public_url(text: &str) -> Result<String, String> {
    let url = text.trim().trim_end_matches('/');
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(url.to_owned())
    } else {
        Err("is not an http(s) URL".into())
    }
}

fn port(text: &str) -> Result<u16, String> {
    text.parse()
        .map_err(|_| "is not a port number (0-65535)".into())
}

fn seconds(text: &str) -> Result<Duration, String> {
    text.parse()
        .map(Duration::from_secs)
        .map_err(|_| "is not a whole number of seconds".into())
}

fn tasks_in_flight(text: &str) -> Result<usize, String> {
    text.parse::<usize>()
        .ok()
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| "is not a whole number of tasks from 1 to 10000".into())
}

fn credits(text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| "is not a whole number of credits".into())
}

#[cfg(test)]
mod tests {
    use clap::error::ErrorKind;
    use libtest_mimic::Arguments;

    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<(Settings, Arguments), SettingsError> {
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

    fn err(args: &[&str], env: &[(&str, &str)]) -> String {
        parse(args, env).unwrap_err().to_string()
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
        assert_eq!(settings.cassettes_dir, PathBuf::from("cassettes"));
        assert_eq!(libtest.filter, None);
        assert!(!libtest.list && !libtest.exact);
    }

    #[test]
    fn grace_and_api_payload_come_from_flags_or_the_environment() {
        let (settings, _) = parse(&["--webhook-grace=5", "--accept-api-payload"], &[]).unwrap();
        assert_eq!(settings.webhook_grace, Duration::from_secs(5));
        assert!(settings.accept_api_payload);
        let env = [
            ("MESHY_WEBHOOK_GRACE", "7"),
            ("MESHY_ACCEPT_API_PAYLOAD", "TRUE"),
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
            err(&["--max-tasks-in-flight=0"], &[])
                .lines()
                .next()
                .unwrap(),
            "error: invalid value '0' for '--max-tasks-in-flight <N>': is not a whole number of tasks from 1 to 10000"
        );
        assert_eq!(
            err(&[], &[("MESHY_MAX_TASKS_IN_FLIGHT", "0")]),
            "MESHY_MAX_TASKS_IN_FLIGHT: '0' is not a whole number of tasks from 1 to 10000; fix or unset it"
        );
        assert_eq!(
            err(&[], &[("MESHY_ACCEPT_API_PAYLOAD", "yes")]),
            "MESHY_ACCEPT_API_PAYLOAD: 'yes' is not 1/true or 0/false; fix or unset it"
        );
    }

    #[test]
    fn harness_flags_and_libtest_flags_parse_side_by_side() {
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
                "--skip",
                "beaver",
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
        assert_eq!(libtest.filter.as_deref(), Some("otter"));
        assert!(libtest.exact);
        assert_eq!(libtest.test_threads, Some(2));
        assert_eq!(libtest.skip, ["beaver"]);
        assert_eq!(libtest.format, Some(libtest_mimic::FormatSetting::Terse));
        // What cargo-nextest passes.
        let (_, listed) = parse(&["--list", "--format", "terse", "--ignored"], &[]).unwrap();
        assert!(listed.list && listed.ignored);
        let (_, one) = parse(&["--exact", "otter [webhook]", "--nocapture"], &[]).unwrap();
        let (twice, skips) = parse(
            &[
                "--webhook-port=1",
                "--webhook-port=2",
                "--skip=a",
                "--skip=b",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(twice.webhook_port, 2, "the last value wins");
        assert_eq!(skips.skip, ["a", "b"], "--skip still adds up");
        assert_eq!(one.filter.as_deref(), Some("otter [webhook]"));
    }

    #[test]
    fn environment_variables_apply_any_case_and_flags_win() {
        let env = [
            ("MESHY_RECORD_MODE", "new_episodes"),
            ("MESHY_TARGET", "Sim"),
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
        let (settings, _) = parse(
            &["--target=SIM", "--record-mode=New_Episodes"],
            &[("MESHY_TUNNEL", "BORE")],
        )
        .unwrap();
        assert_eq!(
            (settings.target, settings.record_mode, settings.tunnel),
            (Target::Sim, RecordMode::NewEpisodes, Provider::Bore)
        );
        let (settings, _) = parse(&["--target=meshy"], &[("MESHY_TARGET", "staging")]).unwrap();
        assert_eq!(
            settings.target,
            Target::Meshy,
            "the flag wins; the variable is not read"
        );
    }

    #[test]
    fn the_webhook_secret_file_comes_from_the_flag_then_the_environment_never_a_value() {
        assert_eq!(parse(&[], &[]).unwrap().0.webhook_secret_file, None);
        let env = [("MESHY_WEBHOOK_SECRET_FILE", "/run/secrets/meshy")];
        let (settings, _) = parse(&[], &env).unwrap();
        assert_eq!(
            settings.webhook_secret_file,
            Some(PathBuf::from("/run/secrets/meshy"))
        );
        let (settings, _) = parse(&["--webhook-secret-file=own"], &env).unwrap();
        assert_eq!(settings.webhook_secret_file, Some(PathBuf::from("own")));
        // The value itself has no flag: a command line would leave it in `ps` and history.
        let refused = err(&["--webhook-secret=s3cr3t-value"], &[]);
        assert!(
            refused.contains("unexpected argument '--webhook-secret'"),
            "{refused}"
        );
        assert!(!refused.contains("s3cr3t-value"), "{refused}");
    }

    #[test]
    fn unknown_flags_and_bad_values_name_what_is_accepted() {
        let first_lines = |args: &[&str]| -> String {
            err(args, &[])
                .lines()
                .take(3)
                .collect::<Vec<_>>()
                .join("\n")
        };
        let misspelt = err(&["--record-webhook"], &[]);
        assert!(
            misspelt.starts_with("error: unexpected argument '--record-webhook' found"),
            "{misspelt}"
        );
        assert!(
            misspelt.contains("tip: a similar argument exists: '--record-webhooks'"),
            "{misspelt}"
        );
        assert!(
            first_lines(&["--record-mode=sometimes"])
                .contains("[possible values: none, once, new_episodes, all, rewrite]"),
            "{}",
            first_lines(&["--record-mode=sometimes"])
        );
        assert!(first_lines(&["--target", "staging"]).contains("[possible values: meshy, sim]"));
        assert!(
            first_lines(&["--tunnel=ssh"])
                .contains("[possible values: ngrok, cloudflared, bore, none]")
        );
        assert_eq!(
            err(&["--webhook-port=http"], &[]).lines().next().unwrap(),
            "error: invalid value 'http' for '--webhook-port <PORT>': is not a port number (0-65535)"
        );
        assert!(
            err(&["--webhook-timeout"], &[])
                .starts_with("error: a value is required for '--webhook-timeout <SECONDS>'")
        );
        assert!(
            err(&["--record-webhooks=1"], &[])
                .starts_with("error: unexpected value '1' for '--record-webhooks'")
        );
        assert_eq!(
            err(&[], &[("MESHY_RECORD_WEBHOOKS", "yes")]),
            "MESHY_RECORD_WEBHOOKS: 'yes' is not 1/true or 0/false; fix or unset it"
        );
        assert_eq!(
            err(&[], &[("MESHY_TARGET", "staging")]),
            "MESHY_TARGET: 'staging' is not one of: meshy, sim; fix or unset it"
        );
    }

    #[test]
    fn the_declaration_is_consistent() {
        use clap::CommandFactory;
        CommandLine::command().debug_assert();
    }

    #[test]
    fn help_lists_the_harness_flags_with_their_variables_and_defaults() {
        for flag in ["--help", "-h"] {
            let Err(SettingsError::CommandLine(help)) = parse(&[flag], &[]) else {
                panic!("{flag} is not help")
            };
            assert_eq!(help.kind(), ErrorKind::DisplayHelp);
            assert_eq!(help.exit_code(), 0);
            let text = help.render().to_string();
            for expected in [
                "--record-webhooks",
                "[env: MESHY_RECORD_WEBHOOKS=1]",
                "--target <TARGET>",
                "[env: MESHY_TARGET]",
                "[default: meshy]",
                "--max-tasks-in-flight <N>",
                "[default: 10]",
                "--test-threads",
                "--exact",
                "cargo test --test scenarios -- '[polling]'",
                "Usage: cargo test --test scenarios -- [OPTIONS] [FILTER]",
            ] {
                assert!(
                    text.contains(expected),
                    "{flag}: no '{expected}' in:\n{text}"
                );
            }
        }
    }
}
