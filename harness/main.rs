//! The `scenarios` test target (`harness = false`): the suite of this repository's
//! scenario files, and one trial written in Rust. All logic lives in
//! `mesh_toolkit::suite`; this file only names the trials.
//!
//! `cargo test` replays every scenario offline; `cargo test -- --record-webhooks`
//! records the missing ones (`cargo test -- --help` lists every flag; docs/ is the manual).

mod custom;

fn main() -> std::process::ExitCode {
    mesh_toolkit::suite::main_with(|suite| vec![custom::otter_pipeline_in_rust(suite)])
}
