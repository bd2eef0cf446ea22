//! A scenario suite's test target, whole: your crate's `tests/meshy_scenarios.rs`, with
//! `harness = false` on its `[[test]]` (docs/own-crate.md).

fn main() -> std::process::ExitCode {
    mesh_toolkit::suite::main()
}
