//! The browser check: HTML pages opened in the system's headless Chromium (Debian package
//! `chromium`), network off, driven through the DevTools protocol. Its own target, outside
//! plain `cargo test` and the project's main test commands because it needs that browser:
//! `cargo test --test browser` (`.ci/run` installs chromium first). Without chromium every
//! check fails with the command that installs it.
//!
//! `check::check_report(path, expected_viewers)` checks a page; `report.rs` runs it on the
//! real reports (the shipped suite's, and a fixture's), `self_test.rs` checks the check on
//! pages it writes.

mod check;
mod devtools;
mod page;
mod report;
mod self_test;

use libtest_mimic::{Arguments, Trial};

fn main() -> std::process::ExitCode {
    let mut args = Arguments::from_args();
    // One check at a time unless asked (`--test-threads`): each browser renders with
    // SwiftShader on every core; on 2 cores two at once were slower (71 s, against 60 s
    // one after the other).
    args.test_threads.get_or_insert(1);
    let mut trials: Vec<Trial> = Vec::new();
    trials.extend(self_test::trials());
    trials.extend(report::trials());
    libtest_mimic::run(&args, trials).exit_code()
}
