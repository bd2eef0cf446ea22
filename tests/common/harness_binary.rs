//! Where cargo puts the `scenarios` test binary: shared by the functional tests
//! (`tests/functional/harness.rs`) and the harness benchmark (`benches/harness.rs`),
//! which include this file with `#[path]`. `run` runs the cargo command (the tests
//! give it a deadline).

use std::path::PathBuf;
use std::process::{Command, Output};

/// Builds the `scenarios` test binary as `cargo test` does and returns its path.
pub fn build_harness(run: impl FnOnce(&mut Command) -> Output) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args([
            "test",
            "--test",
            "scenarios",
            "--no-run",
            "--message-format=json",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    let output = run(&mut command);
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find_map(|message| {
            let is_harness = message["target"]["name"] == "scenarios";
            message["executable"]
                .as_str()
                .filter(|_| is_harness)
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| {
            panic!(
                "cargo did not build the scenarios harness:\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
}
