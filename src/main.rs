//! The `mesh-toolkit` command line. Subcommands arrive with their issues (the
//! simulator, the standalone receiver, webhook re-delivery); each stays a thin layer
//! over the library.

use std::process::ExitCode;

const USAGE: &str = "\
mesh-toolkit: the Meshy SDK's command line

usage: mesh-toolkit <command>

commands:
  version    print the version
  help       print this help
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("version" | "--version" | "-V") => {
            println!("mesh-toolkit {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        None | Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("error: unknown command '{other}'\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
