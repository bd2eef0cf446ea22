//! Harness benchmarks (`cargo bench --bench harness`), on the `scenarios` test binary
//! as `cargo test` builds it, in a temporary directory. Medians of 5 runs, each beside
//! a baseline measured in the same run.
//!
//! - replay: 1000 generated scenarios (one recorded with the simulator, its cassette
//!   copied to the others with their prompts): wall time and peak memory (target
//!   <= 2 s and <= 150 MB); baseline: the same binary with `--list` (start-up and
//!   loading the scenario files, no trial).
//! - record: 50 scenarios against the in-process simulator under Meshy's limits (a
//!   10-task queue, 20 requests per second) with 2 s tasks (target <= 12 s wall);
//!   baseline: 5 waves of the 2 s task time, 10 s.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 5;

fn main() {
    let binary = harness_binary();
    let work = tempfile::tempdir().expect("temp dir");

    generate_recorded(&binary, work.path(), 1000);
    let replays: Vec<Sample> = (0..RUNS)
        .map(|_| run(&binary, work.path(), &[], "0"))
        .collect();
    assert!(replays.iter().all(|s| s.ok), "a replay failed");
    let lists: Vec<Sample> = (0..RUNS)
        .map(|_| run(&binary, work.path(), &["--list"], "0"))
        .collect();
    let (wall, peak) = medians(&replays);
    let (list_wall, list_peak) = medians(&lists);
    println!(
        "replay 1000 scenarios: median wall {:.2} s, peak memory {} (targets <= 2 s, <= 150 MB); baseline --list {:.2} s, {}; \
         ratio {:.1}x wall",
        wall.as_secs_f64(),
        mb(peak),
        list_wall.as_secs_f64(),
        mb(list_peak),
        wall.as_secs_f64() / list_wall.as_secs_f64()
    );

    let fifty = tempfile::tempdir().expect("temp dir");
    generate(fifty.path(), 50);
    let records: Vec<Sample> = (0..RUNS)
        .map(|_| {
            let _ = std::fs::remove_dir_all(fifty.path().join("cassettes"));
            run(
                &binary,
                fifty.path(),
                &["--record-webhooks", "--target=sim"],
                "2",
            )
        })
        .collect();
    assert!(records.iter().all(|s| s.ok), "a recording run failed");
    let (wall, _) = medians(&records);
    println!(
        "record 50 scenarios against the simulator (10-task queue, 20 req/s), 2 s tasks: median wall {:.2} s \
         (target <= 12 s); baseline 5 waves of 2 s = 10.00 s; ratio {:.2}x",
        wall.as_secs_f64(),
        wall.as_secs_f64() / 10.0
    );
}

struct Sample {
    ok: bool,
    wall: Duration,
    /// Peak resident memory in KiB, from /usr/bin/time when it is there.
    peak_kib: Option<u64>,
}

fn run(binary: &Path, dir: &Path, args: &[&str], task_seconds: &str) -> Sample {
    let timed = Path::new("/usr/bin/time").is_file();
    let mut command = if timed {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "peak-kib %M"]).arg(binary);
        c
    } else {
        Command::new(binary)
    };
    command
        .current_dir(dir)
        .args(args)
        .env("MESHY_SIM_TASK_SECONDS", task_seconds)
        .env_remove("CI");
    let start = Instant::now();
    let output = command.output().expect("run the harness");
    let wall = start.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let peak_kib = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("peak-kib "))
        .and_then(|v| v.trim().parse().ok());
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stdout));
        eprintln!("{stderr}");
    }
    Sample {
        ok: output.status.success(),
        wall,
        peak_kib,
    }
}

fn medians(samples: &[Sample]) -> (Duration, Option<u64>) {
    let mut walls: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
    walls.sort();
    let mut peaks: Vec<u64> = samples.iter().filter_map(|s| s.peak_kib).collect();
    peaks.sort();
    (walls[walls.len() / 2], peaks.get(peaks.len() / 2).copied())
}

fn mb(kib: Option<u64>) -> String {
    kib.map_or("n/a (no /usr/bin/time)".into(), |k| {
        format!("{:.1} MB", k as f64 / 1024.0)
    })
}

/// `n` recorded otter scenarios with distinct prompts: the first recorded against
/// the simulator, the others given its cassette with their own prompt (one task, one
/// webhook recording, so the setup does not take 1000 tasks at 20 requests a second).
fn generate_recorded(binary: &Path, dir: &Path, n: usize) {
    let scenarios = dir.join("scenarios");
    std::fs::create_dir_all(&scenarios).expect("scenarios dir");
    let prompt = |i: usize| format!("otter number {i:04}, sculpture style");
    for i in 0..n {
        let text = format!(
            "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"{}\"\n",
            prompt(i)
        );
        std::fs::write(scenarios.join(format!("otter_{i:04}.toml")), text).expect("scenario file");
    }
    let first = run(
        binary,
        dir,
        &["--record-webhooks", "--target=sim", "otter_0000", "--exact"],
        "0",
    );
    assert!(first.ok, "recording the first scenario failed");
    let http = dir.join("cassettes/http");
    let cassette =
        std::fs::read_to_string(http.join("otter_0000.yaml")).expect("the recorded cassette");
    for i in 1..n {
        let copy = cassette.replace(&prompt(0), &prompt(i));
        std::fs::write(http.join(format!("otter_{i:04}.yaml")), copy).expect("cassette copy");
    }
    // The Rust trial of the shipped harness records too.
    let rust = run(
        binary,
        dir,
        &[
            "--record-webhooks",
            "--target=sim",
            "otter_pipeline_in_rust",
        ],
        "0",
    );
    assert!(rust.ok, "recording the Rust trial failed");
}

/// `n` text-to-3D webhook scenarios with distinct prompts.
fn generate(dir: &Path, n: usize) {
    let scenarios = dir.join("scenarios");
    std::fs::create_dir_all(&scenarios).expect("scenarios dir");
    for i in 0..n {
        let species = ["otter", "beaver", "heron", "lynx"][i % 4];
        let text = format!(
            "species = \"{species}\"\ntask_type = \"text3d\"\nprompt = \"{species} number {i}, sculpture style\"\n"
        );
        std::fs::write(scenarios.join(format!("{species}_{i:04}.toml")), text)
            .expect("scenario file");
    }
}

/// The `scenarios` test binary, as `cargo test` builds it.
fn harness_binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "test",
            "--test",
            "scenarios",
            "--no-run",
            "--message-format=json",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find_map(|m| {
            (m["target"]["name"] == "scenarios")
                .then(|| m["executable"].as_str().map(PathBuf::from))
                .flatten()
        })
        .expect("cargo built the scenarios harness")
}
