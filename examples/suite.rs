//! `Suite`: a scenario suite's test target, whole. Your crate's `tests/scenarios.rs`
//! (with `harness = false`) is this file; see docs/own-crate.md.

use mesh_toolkit::suite::Suite;

fn main() -> std::process::ExitCode {
    let (suite, args) = match Suite::from_env() {
        Ok(parts) => parts,
        // `--help` (exit 0) or a mistake in a flag (exit 2), already printed.
        Err(error) => return error.report(),
    };
    let conclusion = libtest_mimic::run(&args, suite.trials());
    // Stops the receiver, tunnel and simulator and prints the summary; 130 after Ctrl-C.
    suite.finish(&conclusion)
}
