//! The `mesh-toolkit` command line: a thin dispatcher over the library. Parsing (clap)
//! lives in `mesh_toolkit::cli`, behaviour in the library modules.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use mesh_toolkit::cli::{
    CassettesCommand, CheckArgs, Cli, Command, MigrateArgs, ReceiveArgs, RedeliverArgs, ReportArgs,
    ScrubArgs, SimArgs, WebhooksCommand,
};
use mesh_toolkit::command::{Commands, Invocation, TestTargetSource};
use mesh_toolkit::receiver::{Announce, Receiver, ReceiverConfig, ReceiverError};
use mesh_toolkit::sim::Simulator;
use mesh_toolkit::transport::{LiveConfig, LiveTransport};
use mesh_toolkit::tunnel::{self, Provider, TunnelOptions};
use mesh_toolkit::webhooks::{Recording, redeliver};

/// How a command failed: a usage mistake (exit 2) or a failure while running (exit 1).
enum Failure {
    Usage(String),
    Run(String),
}

fn main() -> ExitCode {
    // Results, report, token: under the target dir cargo uses here, whoever runs this.
    mesh_toolkit::workdir::use_cargo_target_dir();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and --version are "errors" with exit code 0, printed to stdout.
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2));
        }
    };
    let result = match &cli.command {
        Command::Sim(args) => run_sim(args),
        Command::Receive(args) => run_receive(args),
        Command::Webhooks(WebhooksCommand::Replay(args)) => run_redeliver(args),
        Command::Cassettes(CassettesCommand::Check(args)) => run_check(args),
        Command::Cassettes(CassettesCommand::Scrub(args)) => run_scrub(args),
        Command::Cassettes(CassettesCommand::Migrate(args)) => run_migrate(args),
        Command::Report(args) => run_report(args),
        Command::Version => {
            println!("mesh-toolkit {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}\n\nFor more information, try '--help'.");
            ExitCode::from(2)
        }
        Err(Failure::Run(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// How the suite whose scenario files are in `scenarios` is run (the package around
/// them, else the one here), for the commands printed, and the note that says which
/// test target they assume.
fn invocation(test_target: Option<&str>, scenarios: &Path) -> (Invocation, TestTargetSource) {
    let dir = if scenarios.is_dir() {
        scenarios
    } else {
        Path::new(".")
    };
    Invocation::of_cli(dir, test_target)
}

fn run_check(args: &CheckArgs) -> Result<(), Failure> {
    let (invocation, assumed) = invocation(args.test_target.as_deref(), &args.scenarios);
    let options = args
        .options(std::env::var("MESHY_CASSETTE_MAX_AGE").ok(), invocation)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    if !options.scenarios.is_dir() && !options.cassettes.is_dir() {
        return Err(Failure::Usage(format!(
            "neither '{}' nor '{}' is a directory: run from the package's root (where the suite's scenarios/ \
             and cassettes/ are), or pass --scenarios DIR and --cassettes DIR",
            options.scenarios.display(),
            options.cassettes.display()
        )));
    }
    let report = mesh_toolkit::check::check(&options);
    print!("{}", report.render());
    // Only under commands it printed.
    if report.findings.iter().any(|f| f.fix.contains("cargo test")) {
        let commands = Commands::new(
            options.invocation.clone(),
            &options.scenarios,
            &options.cassettes,
        );
        if let Some(note) = assumed.note(&commands) {
            println!("{note}");
        }
    }
    match report.problems() {
        0 => Ok(()),
        n => Err(Failure::Run(format!(
            "cassettes check found {n} problem{} in '{}'",
            if n == 1 { "" } else { "s" },
            options.cassettes.display()
        ))),
    }
}

fn run_migrate(args: &MigrateArgs) -> Result<(), Failure> {
    if !args.scenarios.is_dir() {
        return Err(Failure::Usage(format!(
            "'{}' is not a directory: run from the package's root (where the suite's scenarios/ are), or pass \
             --scenarios DIR",
            args.scenarios.display()
        )));
    }
    let (invocation, assumed) = invocation(args.test_target.as_deref(), &args.scenarios);
    let commands = Commands::new(invocation.clone(), &args.scenarios, &args.cassettes);
    let migration = mesh_toolkit::migrate::plan(&args.scenarios, &args.cassettes, invocation)
        .map_err(|e| Failure::Run(e.to_string()))?;
    print!("{}", migration.render());
    if migration.is_empty() {
        return Ok(());
    }
    if !args.yes {
        println!("nothing was changed: run it again with --yes to apply what is shown");
        return Ok(());
    }
    migration.apply().map_err(|e| Failure::Run(e.to_string()))?;
    println!("migrated.");
    print!("{}", migration.next_steps());
    if let Some(note) = assumed.note(&commands) {
        println!("{note}");
    }
    Ok(())
}

fn run_scrub(args: &ScrubArgs) -> Result<(), Failure> {
    let dir = args.cassettes.join("webhooks");
    if !dir.is_dir() {
        return Err(Failure::Usage(format!(
            "'{}' is not a directory: run from the project's root, or pass --cassettes DIR",
            dir.display()
        )));
    }
    let (scrubbed, errors) = mesh_toolkit::webhooks::scrub_recordings(&dir);
    for mended in &scrubbed {
        let headers: Vec<&str> = mended.headers.iter().map(String::as_str).collect();
        println!(
            "scrubbed '{}': {} now {} a placeholder",
            mended.path.display(),
            headers.join(", "),
            if headers.len() == 1 { "holds" } else { "hold" }
        );
    }
    for error in &errors {
        eprintln!("error: {error}");
    }
    if scrubbed.is_empty() {
        println!(
            "nothing to scrub: no webhook recording under '{}' holds a secret header's value",
            dir.display()
        );
    } else {
        println!(
            "{} recording(s) mended, every delivery kept. Now rotate the webhook secret in the Meshy dashboard \
             (API settings → Webhooks): the old one was in these files (and in your repository's history, if \
             they were committed).",
            scrubbed.len()
        );
    }
    match errors.len() {
        0 => Ok(()),
        n => Err(Failure::Run(format!(
            "{n} recording(s) under '{}' could not be read or written; mend them by hand (see above)",
            dir.display()
        ))),
    }
}

fn run_report(args: &ReportArgs) -> Result<(), Failure> {
    let (invocation, _) = invocation(args.test_target.as_deref(), &args.scenarios);
    let sources = args.sources(invocation);
    let out = args.out_dir();
    let here = sources.scenarios.is_dir() || sources.cassettes.is_dir();
    // Only with the default directories: a mistyped --scenarios serves nothing stale.
    let defaults =
        args.scenarios == Path::new("scenarios") && args.cassettes == Path::new("cassettes");
    if !here && defaults && args.serve && out.join("index.html").is_file() {
        // Elsewhere than the package (a workspace's root): the report the last run
        // wrote, as it is.
        eprintln!(
            "no '{}' or '{}' here to assemble the report from: serving the one the last run wrote",
            sources.scenarios.display(),
            sources.cassettes.display()
        );
    } else if !here {
        return Err(Failure::Usage(format!(
            "neither '{}' nor '{}' is a directory: run from the package's root (where the suite's scenarios/ \
             and cassettes/ are), or pass --scenarios DIR and --cassettes DIR",
            sources.scenarios.display(),
            sources.cassettes.display()
        )));
    } else {
        let path = mesh_toolkit::report::write(
            &sources,
            &out,
            &mesh_toolkit::report::generated_by("mesh-toolkit report"),
        )
        .map_err(|e| Failure::Run(e.to_string()))?;
        let commands = Commands::new(
            sources.invocation.clone(),
            &sources.scenarios,
            &sources.cassettes,
        );
        eprintln!("{}", path.announce(&commands));
    }
    if !args.serve {
        return Ok(());
    }
    runtime()?.block_on(async {
        let served = mesh_toolkit::report::serve::serve(
            out.clone(),
            args.port,
            |addr| {
                println!("serving the report on http://{addr}/index.html (Ctrl-C stops)");
                let _ = std::io::stdout().flush();
            },
            async {
                let _ = tokio::signal::ctrl_c().await;
            },
        )
        .await;
        served.map_err(|e| {
            Failure::Run(format!(
                "cannot listen on 127.0.0.1:{}: {e}; pick another --port, or --port 0 for any free one",
                args.port
            ))
        })
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Runtime::new()
        .map_err(|e| Failure::Run(format!("cannot start the async runtime: {e}")))
}

/// `--webhook-secret-file`, else `MESHY_WEBHOOK_SECRET_FILE`, else `MESHY_WEBHOOK_SECRET`.
fn webhook_secret(
    file: Option<&std::path::Path>,
) -> Result<Option<mesh_toolkit::secrets::WebhookSecret>, Failure> {
    mesh_toolkit::cli::webhook_secret(file, |name| std::env::var(name).ok())
        .map_err(|e| Failure::Usage(e.to_string()))
}

fn run_sim(args: &SimArgs) -> Result<(), Failure> {
    let mut config = args.config().map_err(|e| Failure::Usage(e.to_string()))?;
    config.webhook_secret = webhook_secret(args.webhook_secret_file.as_deref())?;
    if config.webhook_secret.is_none() {
        // Its deliveries carry a random secret: a receiver that checks one refuses them.
        eprintln!(
            "webhook secret: a random one for this run (set MESHY_WEBHOOK_SECRET or --webhook-secret-file \
             to send the one your receiver checks)"
        );
    }
    runtime()?.block_on(async {
        let port = config.port;
        let sim = Simulator::start(config)
            .await
            .map_err(|e| Failure::Run(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
        println!("listening on {}", sim.base_url());
        let _ = std::io::stdout().flush();
        let _ = tokio::signal::ctrl_c().await;
        let stats = sim.delivery_stats();
        let chaos = sim.chaos_stats();
        sim.shutdown().await;
        eprintln!(
            "simulator stopped: {} webhook deliveries made, {} retried, {} abandoned",
            stats.delivered, stats.retried, stats.abandoned
        );
        if let Some(line) = mesh_toolkit::sim::chaos_summary(&chaos) {
            eprintln!("chaos: {line}");
        }
        Ok(())
    })
}

fn run_receive(parsed: &ReceiveArgs) -> Result<(), Failure> {
    let token = parsed
        .checked_token()
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let mut config = ReceiverConfig::new(parsed.cassettes.join("webhooks"));
    config.port = parsed.port;
    // Usage errors first: nothing is created for a command that cannot run.
    config.secret = webhook_secret(parsed.webhook_secret_file.as_deref())?;
    // The token the harness keeps for this project (the CLI found its target dir by
    // asking cargo), unless one is given: a harness run can then use this receiver.
    let from_env = std::env::var("MESHY_WEBHOOK_TOKEN").is_ok_and(|t| !t.trim().is_empty());
    config.token = match token {
        Some(token) => Some(token.to_owned()),
        None if from_env => None,
        None => {
            let path = mesh_toolkit::receiver::token::path();
            let token = mesh_toolkit::receiver::token::load_or_create(&path).map_err(|e| {
                Failure::Run(format!(
                    "cannot read or create the project's webhook token '{}': {e}",
                    path.display()
                ))
            })?;
            Some(token)
        }
    };
    config.store.record_all = true;
    // Dashboard deliveries of tasks no run has claimed wait in the project's spool.
    let workdir = mesh_toolkit::workdir::dir();
    config.store.spool = Some(mesh_toolkit::receiver::spool_dir(&workdir));
    config.serves = Some(mesh_toolkit::receiver::Serves::here(
        &workdir,
        &parsed.cassettes,
    ));
    config.announce = Announce::Every;
    let serves = config.serves.clone();
    let checks_secret = config.secret.as_ref().map(|s| s.source().to_string());
    runtime()?.block_on(async {
        // Registered first, so a Ctrl-C at any point (even while a tunnel starts) is ours
        // to handle, and the tunnel agent is stopped with us.
        let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .map_err(|e| Failure::Run(format!("cannot handle Ctrl-C: {e}")))?;
        let receiver = Receiver::start(config)
            .await
            .map_err(|e| match e {
                ReceiverError::Listen { port, source } => {
                    let hint = match source.kind() {
                        std::io::ErrorKind::AddrInUse => format!(
                            "; `ss -ltnp 'sport = :{port}'` shows what holds it (a recording run binds its \
                             --webhook-port while it records): stop it, or pick another --port"
                        ),
                        _ => String::new(),
                    };
                    Failure::Run(format!("cannot listen on 127.0.0.1:{port}: {source}{hint}"))
                }
                other => Failure::Usage(other.to_string()),
            })?;
        println!("listening on {}", receiver.local_url());
        // Said on stderr (stdout's first lines are the URLs): what it serves, and whether
        // deliveries are checked.
        if let Some(serves) = &serves {
            eprintln!(
                "serving the project '{}' with cassettes '{}': dashboard deliveries of tasks no run claimed wait in \
                 '{}' (pruned after {} days); a recording run of this project with --webhook-port {} uses this \
                 receiver",
                serves.project.display(),
                serves.cassettes.display(),
                serves.spool.display(),
                mesh_toolkit::receiver::SPOOL_MAX_AGE.as_secs() / 86_400,
                receiver.addr().port()
            );
        }
        match &checks_secret {
            Some(source) => eprintln!(
                "checking the webhook secret from {source}: deliveries without the matching \
                 x-meshy-api-webhook-secret-key are refused (401)"
            ),
            None => eprintln!(
                "not checking the webhook secret (set MESHY_WEBHOOK_SECRET or --webhook-secret-file to check \
                 it); its value is never stored"
            ),
        }
        // Printed on purpose: this is the URL to paste into the Meshy dashboard.
        println!("webhook URL: {}", receiver.webhook_url(receiver.local_url()));
        let _ = std::io::stdout().flush();
        let port = receiver.addr().port();
        let tunnel = match (&parsed.public_url, parsed.tunnel) {
            (Some(url), _) => Some(tunnel::public_url(url)),
            (None, Provider::None) => None,
            (None, provider) => tokio::select! {
                started = tunnel::start(TunnelOptions::new(provider, port)) => Some(started.map_err(|e| Failure::Run(e.to_string()))?),
                // Interrupted while the agent starts: dropping the start stops the agent.
                _ = interrupt.recv() => {
                    receiver.shutdown().await;
                    return Ok(());
                }
            },
        };
        if let Some(tunnel) = &tunnel {
            tunnel::preflight(tunnel.public_url(), port).await.map_err(|e| Failure::Run(e.to_string()))?;
            println!("public webhook URL: {}", receiver.webhook_url(tunnel.public_url()));
            receiver.set_public_url(tunnel.public_url());
            if let Some(warning) = tunnel::https_warning(tunnel.public_url()) {
                eprintln!("{warning}");
            }
            let _ = std::io::stdout().flush();
        }
        interrupt.recv().await;
        drop(tunnel);
        let stats = receiver.stats();
        receiver.shutdown().await;
        let unstored = match stats.failed {
            0 => String::new(),
            n => format!(", {n} not stored (answered 503: Meshy delivers them again)"),
        };
        eprintln!(
            "receiver stopped: {} deliveries recorded, {} refused{unstored}",
            stats.recorded, stats.refused
        );
        Ok(())
    })
}

fn run_redeliver(parsed: &RedeliverArgs) -> Result<(), Failure> {
    let secret = webhook_secret(parsed.webhook_secret_file.as_deref())?;
    let recording = Recording::read(&parsed.recording, "mesh-toolkit receive")
        .map_err(|e| Failure::Run(e.to_string()))?;
    // The target URL may carry a token (`?token=…`): never printed.
    let shown = mesh_toolkit::secrets::redact_url(&parsed.to);
    if secret.is_some() {
        mesh_toolkit::webhooks::secret_may_go_to(&parsed.to, &shown)
            .map_err(|e| Failure::Usage(e.to_string()))?;
    }
    let transport =
        LiveTransport::new(LiveConfig::default()).map_err(|e| Failure::Run(e.to_string()))?;
    let report = runtime()?.block_on(redeliver(
        &recording,
        &parsed.to,
        parsed.only_terminal,
        secret.as_ref(),
        &transport,
    ));
    let total = recording.deliveries.len();
    for delivery in &report {
        match &delivery.outcome {
            Ok(status) => println!("{}/{total} {} -> {status}", delivery.number, delivery.task),
            Err(error) => println!(
                "{}/{total} {} -> failed: {}",
                delivery.number,
                delivery.task,
                error.to_string().replace(&parsed.to, &shown)
            ),
        }
    }
    let failed = report.iter().filter(|d| !d.ok()).count();
    if report.iter().any(|d| d.outcome == Ok(401)) {
        match &secret {
            None => eprintln!(
                "the endpoint answered 401: if it checks Meshy's webhook secret, set MESHY_WEBHOOK_SECRET (or \
                 --webhook-secret-file) so the deliveries carry it instead of the recorded placeholder"
            ),
            Some(secret) => eprintln!(
                "the endpoint answered 401: the deliveries carried the webhook secret from {}; check it is the \
                 one the endpoint expects (and its URL token, if it takes one)",
                secret.source()
            ),
        }
    }
    if failed > 0 {
        return Err(Failure::Run(format!(
            "{failed} of {} deliveries were not accepted by {shown}",
            report.len(),
        )));
    }
    Ok(())
}
