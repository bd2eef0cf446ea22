//! A simulator that is flaky on purpose (`MESHY_SIM_CHAOS`), tried as a user would:
//! one recording run against the harness's own simulator rides out create answers
//! lost or 502 after the task was made, resets, 503s, slow answers, 429 bursts and
//! webhook updates dropped, duplicated, reordered or late. Every scenario passes in
//! that one run, each pays once, every webhook recording holds real deliveries, and
//! the suite replays offline. The 50-scenario soak is `cargo bench --bench harness -- chaos`.

use std::process::{Command, Output};

use libtest_mimic::{Failed, Trial};

use crate::resume::{Project, RUN_DEADLINE, assert_success, text};

pub fn trials() -> Vec<Trial> {
    vec![Trial::test(
        "chaos_one_run_records_every_scenario_through_a_flaky_simulator_paying_once_each",
        one_run,
    )]
}

const SCENARIOS: usize = 12;
/// A seed and rate whose faults include lost and 502 create answers for these
/// prompts (asserted below, so a change of the draw cannot make this test vacuous).
const CHAOS: &str = "3:0.25";

/// Records `project` against the harness's own simulator under [`CHAOS`].
fn record(project: &Project) -> Output {
    let mut command = Command::new(crate::harness::harness_binary());
    command
        .current_dir(project.path(""))
        .args([
            "--record-webhooks",
            "--tunnel=none",
            "--target=sim",
            "--max-tasks-in-flight=10",
            "--skip",
            "otter_pipeline_in_rust",
            &format!("--webhook-port={}", project.webhook_port()),
        ])
        .env("MESHY_SIM_CHAOS", CHAOS)
        .env("MESHY_SIM_TASK_SECONDS", "1")
        .env("MESHY_WEBHOOK_TOKEN", "chaostoken0123456789abcdef")
        .env("CARGO_TARGET_DIR", project.path("target"));
    for name in [
        "CI",
        "NEXTEST",
        "MESHY_BASE_URL",
        "MESHY_RECORD_MODE",
        "MESHY_RECORD_WEBHOOKS",
        "MESHY_TARGET",
        "MESHY_WEBHOOK_GRACE",
        "MESHY_ACCEPT_API_PAYLOAD",
    ] {
        command.env_remove(name);
    }
    crate::support::output_within(&mut command, RUN_DEADLINE)
}

/// The run's `simulator chaos: N faults injected: …` line.
fn faults(log: &str) -> String {
    log.lines()
        .find_map(|line| line.strip_prefix("simulator chaos: "))
        .unwrap_or_else(|| panic!("the run says what chaos injected: {log}"))
        .to_owned()
}

/// How many faults of `kind` the summary line counts.
fn count(summary: &str, kind: &str) -> usize {
    let kinds = summary.split_once(": ").map_or("", |(_, kinds)| kinds);
    kinds
        .split(", ")
        .filter_map(|entry| entry.split_once(' '))
        .filter(|(_, name)| *name == kind)
        .map(|(n, _)| n.parse::<usize>().unwrap())
        .sum()
}

fn one_run() -> Result<(), Failed> {
    let project = Project::new(SCENARIOS, "webhook");
    let run = record(&project);
    assert_success(&run);
    let log = text(&run);
    assert!(
        log.contains(&format!("test result: ok. {SCENARIOS} passed")),
        "{log}"
    );
    assert!(
        log.contains(&format!("simulator: {} credits charged", SCENARIOS * 20)),
        "one charge per scenario: {log}"
    );
    let summary = faults(&log);
    let total: usize = summary.split(' ').next().unwrap().parse().unwrap();
    assert_eq!(
        log.matches("mesh-toolkit sim: chaos: ").count(),
        total,
        "one log line per fault: {summary}"
    );
    // Every create whose answer was lost was settled in the run: its task adopted.
    let lost = count(&summary, "lost-answer") + count(&summary, "bad-gateway");
    assert!(
        count(&summary, "lost-answer") > 0 && count(&summary, "bad-gateway") > 0,
        "{summary}"
    );
    assert_eq!(
        log.matches("may have made a task").count(),
        lost,
        "a progress line for each: {log}"
    );
    assert_eq!(
        log.matches("whose answer was lost made task").count(),
        lost,
        "{log}"
    );
    let recordings = project.webhook_recordings();
    assert_eq!(recordings.len(), SCENARIOS, "{recordings:?}");
    for path in &recordings {
        let recording = std::fs::read_to_string(path).unwrap();
        assert!(
            !recording.contains("payload_source"),
            "a real delivery, not the API's task object: {recording}"
        );
        assert!(
            recording.contains("\"status\": \"SUCCEEDED\""),
            "{recording}"
        );
    }
    let replay = project.replay();
    assert_success(&replay);
    assert!(
        text(&replay).contains(&format!("test result: ok. {SCENARIOS} passed")),
        "{}",
        text(&replay)
    );
    // The same seed, the same scenarios: the same faults for the same requests,
    // whatever order the trials sent them in. (How often a task is read depends on
    // timing, so the read faults' count may differ; the creates and every task's
    // updates are the same.)
    let again = Project::new(SCENARIOS, "webhook");
    let second = record(&again);
    assert_success(&second);
    let second = faults(&text(&second));
    for kind in [
        "lost-answer",
        "bad-gateway",
        "dropped",
        "duplicated",
        "reordered",
        "late",
        "only-in-progress",
    ] {
        assert_eq!(
            count(&second, kind),
            count(&summary, kind),
            "{kind}: {summary} / {second}"
        );
    }
    Ok(())
}
