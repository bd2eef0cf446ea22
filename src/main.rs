//! The `mesh-toolkit` command line: a thin dispatcher over the library. Parsing lives
//! in `mesh_toolkit::cli`, behaviour in the library modules.

use std::io::Write;
use std::process::ExitCode;

use mesh_toolkit::cli;
use mesh_toolkit::receiver::{Announce, Receiver, ReceiverConfig};
use mesh_toolkit::sim::Simulator;
use mesh_toolkit::transport::{LiveConfig, LiveTransport};
use mesh_toolkit::tunnel::{self, Provider, TunnelOptions};
use mesh_toolkit::webhooks::{Recording, redeliver};

const USAGE: &str = "\
mesh-toolkit: the Meshy SDK's command line

usage: mesh-toolkit <command> [options]

commands:
  sim        run the Meshy simulator on 127.0.0.1 until Ctrl-C
               --port P                 port (default 0: any free port; the line printed shows it)
               --webhook-url URL        POST every task update here (repeatable)
               --task-seconds S         PENDING to done (default 2; 0 = as fast as possible)
               --balance N              account credits (default 10000)
               --api-key K              accept only these keys (repeatable; default: any msy_ key)
               --requests-per-second N  per key, before 429 RateLimitExceeded (default 20)
               --max-queued-tasks N     before 429 NoMoreConcurrentTasks (default 10)
               --rules FILE             JSON array of outcome rules (failed, canceled, slow, ...)
               --api-version V          v2026.01.27 (default: today's shapes) or v2025.11.18
  receive    run the webhook receiver alone on 127.0.0.1 until Ctrl-C, recording every
             authentic delivery under <cassettes>/webhooks (deliveries to /webhook under
             webhooks/unrouted/)
               --port P                 port (default 0: any free port)
               --cassettes DIR          default: cassettes
               --token T                the URL token (default: MESHY_WEBHOOK_TOKEN, else random)
               --tunnel NAME            make it public: ngrok, cloudflared, bore or none (default)
               --public-url URL         a public URL you already forward to it (no tunnel started)
  webhooks replay <recording.json> --to <url> [--only-terminal]
             POST a recording's deliveries, in order, with their recorded headers, to <url>
             and print what each answered (--only-terminal: just the final one)
  cassettes check [--cassettes DIR] [--scenarios DIR] [--max-age 90d]
             the API version and age of every recording, drift from the SDK's model,
             incomplete journals, orphans, unrecorded scenarios and leaked secrets, each
             with the command that fixes it; exit 1 on problems (MESHY_CASSETTE_MAX_AGE)
  version    print the version
  help       print this help
";

/// How a command failed: a usage mistake (exit 2, with the usage text) or a failure
/// while running (exit 1).
enum Failure {
    Usage(String),
    Run(String),
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("sim") => run_sim(&args[1..]),
        Some("receive") => run_receive(&args[1..]),
        Some("webhooks") if args.get(1).map(String::as_str) == Some("replay") => {
            run_redeliver(&args[2..])
        }
        Some("cassettes") if args.get(1).map(String::as_str) == Some("check") => {
            run_check(&args[2..])
        }
        Some("version" | "--version" | "-V") => {
            println!("mesh-toolkit {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        None | Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(Failure::Usage(format!("unknown command '{other}'"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Run(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run_check(args: &[String]) -> Result<(), Failure> {
    let options = cli::parse_check_args(args, std::env::var("MESHY_CASSETTE_MAX_AGE").ok())
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let report = mesh_toolkit::check::check(&options);
    print!("{}", report.render());
    match report.problems() {
        0 => Ok(()),
        n => Err(Failure::Run(format!(
            "cassettes check found {n} problems in '{}'",
            options.cassettes.display()
        ))),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Runtime::new()
        .map_err(|e| Failure::Run(format!("cannot start the async runtime: {e}")))
}

fn run_sim(args: &[String]) -> Result<(), Failure> {
    let config = cli::parse_sim_args(args).map_err(|e| Failure::Usage(e.to_string()))?;
    runtime()?.block_on(async {
        let port = config.port;
        let sim = Simulator::start(config)
            .await
            .map_err(|e| Failure::Run(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
        println!("listening on {}", sim.base_url());
        let _ = std::io::stdout().flush();
        let _ = tokio::signal::ctrl_c().await;
        let stats = sim.delivery_stats();
        sim.shutdown().await;
        eprintln!(
            "simulator stopped: {} webhook deliveries made, {} retried, {} abandoned",
            stats.delivered, stats.retried, stats.abandoned
        );
        Ok(())
    })
}

fn run_receive(args: &[String]) -> Result<(), Failure> {
    let parsed = cli::parse_receive_args(args).map_err(|e| Failure::Usage(e.to_string()))?;
    let mut config = ReceiverConfig::new(parsed.cassettes.join("webhooks"));
    config.port = parsed.port;
    config.token = parsed.token.clone();
    config.store.record_all = true;
    config.announce = Announce::Every;
    runtime()?.block_on(async {
        // Registered first, so a Ctrl-C at any point (even while a tunnel starts) is ours
        // to handle, and the tunnel agent is stopped with us.
        let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .map_err(|e| Failure::Run(format!("cannot handle Ctrl-C: {e}")))?;
        let receiver = Receiver::start(config)
            .await
            .map_err(|e| Failure::Run(format!("cannot listen on 127.0.0.1:{}: {e}", parsed.port)))?;
        println!("listening on {}", receiver.local_url());
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
            if let Some(warning) = tunnel::https_warning(tunnel.public_url()) {
                eprintln!("{warning}");
            }
            let _ = std::io::stdout().flush();
        }
        interrupt.recv().await;
        drop(tunnel);
        let stats = receiver.stats();
        receiver.shutdown().await;
        eprintln!("receiver stopped: {} deliveries recorded, {} refused", stats.accepted, stats.refused);
        Ok(())
    })
}

fn run_redeliver(args: &[String]) -> Result<(), Failure> {
    let parsed = cli::parse_redeliver_args(args).map_err(|e| Failure::Usage(e.to_string()))?;
    let recording = Recording::read(&parsed.recording, "mesh-toolkit receive")
        .map_err(|e| Failure::Run(e.to_string()))?;
    let transport =
        LiveTransport::new(LiveConfig::default()).map_err(|e| Failure::Run(e.to_string()))?;
    let report = runtime()?.block_on(redeliver(
        &recording,
        &parsed.to,
        parsed.only_terminal,
        &transport,
    ));
    let total = recording.deliveries.len();
    for delivery in &report {
        match &delivery.outcome {
            Ok(status) => println!("{}/{total} {} -> {status}", delivery.number, delivery.task),
            Err(error) => println!(
                "{}/{total} {} -> failed: {error}",
                delivery.number, delivery.task
            ),
        }
    }
    let failed = report.iter().filter(|d| !d.ok()).count();
    if failed > 0 {
        return Err(Failure::Run(format!(
            "{failed} of {} deliveries were not accepted by {}",
            report.len(),
            parsed.to
        )));
    }
    Ok(())
}
