//! The `scenarios` test target (`harness = false`): turns the scenario files and the
//! harness flags into libtest trials and runs them. All logic lives in
//! `mesh_toolkit::suite`; this file only wires it to libtest-mimic.
//!
//! `cargo test` replays every scenario offline; `cargo test -- --record-webhooks`
//! records the missing ones (`cargo test -- --help` lists every flag; docs/ is the manual).

mod custom;

use std::process::ExitCode;

use mesh_toolkit::suite::Suite;

fn main() -> ExitCode {
    let (suite, args) = match Suite::from_env() {
        Ok(parts) => parts,
        // `--help` (exit 0) or a flag mistake (exit 2), already explained.
        Err(error) => return error.report(),
    };
    let mut trials = suite.trials();
    trials.push(custom::otter_pipeline_in_rust(&suite));
    let conclusion = libtest_mimic::run(&args, trials);
    // Not `conclusion.exit()`: the receiver, tunnel and simulator must be stopped first;
    // `finish` returns 130 after Ctrl-C.
    suite.finish(&conclusion)
}
