//! The `mesh-toolkit` command line: a thin dispatcher over the library. Parsing lives
//! in `mesh_toolkit::cli`, behaviour in the library modules.

use std::io::Write;
use std::process::ExitCode;

use mesh_toolkit::cli;
use mesh_toolkit::sim::Simulator;

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
  version    print the version
  help       print this help
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("sim") => run_sim(&args[1..]),
        Some("version" | "--version" | "-V") => {
            println!("mesh-toolkit {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        None | Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command '{other}'")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run_sim(args: &[String]) -> Result<(), String> {
    let config = cli::parse_sim_args(args).map_err(|e| e.to_string())?;
    let runtime =
        tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let port = config.port;
        let sim = Simulator::start(config)
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1:{port}: {e}"))?;
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
