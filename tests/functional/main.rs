//! The project's end-to-end tests: they run the built `mesh-toolkit` binary as a user
//! would. One binary with a module per area (run with `cargo test --test functional`);
//! every child process a test starts is stopped by that test, also when it fails.

mod adopt;
mod chaos;
mod check;
mod harness;
mod limits;
mod progress;
mod readme;
mod receive_command;
mod report;
mod resume;
mod sim_command;
mod support;
mod tunnel_cleanup;
mod vcrpy;
mod webhook_secret;

use libtest_mimic::{Arguments, Trial};

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let mut trials: Vec<Trial> = Vec::new();
    trials.extend(adopt::trials());
    trials.extend(chaos::trials());
    trials.extend(check::trials());
    trials.extend(harness::trials());
    trials.extend(limits::trials());
    trials.extend(progress::trials());
    trials.extend(readme::trials());
    trials.extend(receive_command::trials());
    trials.extend(report::trials());
    trials.extend(resume::trials());
    trials.extend(sim_command::trials());
    trials.extend(support::trials());
    trials.extend(tunnel_cleanup::trials());
    trials.push(tunnel_cleanup::harness_trial());
    trials.extend(vcrpy::trials());
    trials.extend(webhook_secret::trials());
    libtest_mimic::run(&args, trials).exit_code()
}
