//! A simulator that is flaky on purpose (`MESHY_SIM_CHAOS`), tried as a user would:
//! one recording run against the harness's own simulator rides out create answers
//! lost or 502 after the task was made, resets, 503s, slow answers, 429 bursts and
//! webhook updates dropped, duplicated, reordered or late. Every scenario passes in
//! that one run, each pays once, every webhook recording holds real deliveries, and
//! the suite replays offline. The 50-scenario soak is `cargo bench --bench harness -- chaos`.
//! Then the same through SIGKILLs: a `mesh-toolkit sim` child under chaos, a standing
//! `mesh-toolkit receive` across three kills and their reruns, still one charge per
//! scenario and every recording from real deliveries.

use std::process::{Command, Output};

use libtest_mimic::{Failed, Trial};

use crate::resume::{
    Killed, Project, RUN_DEADLINE, Sim, TOKEN, all_created, all_delivering, assert_success,
    some_passed, text, wait_until,
};
use crate::support::Guarded;

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "chaos_one_run_records_every_scenario_through_a_flaky_simulator_paying_once_each",
            one_run,
        ),
        Trial::test(
            "chaos_a_standing_receiver_keeps_every_delivery_across_three_sigkills_paying_once_each",
            standing_across_sigkills,
        ),
    ]
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

/// `mesh-toolkit receive` on the project's webhook port, run from the project (its
/// token and spool are the project's).
fn standing_receiver(project: &Project) -> Guarded {
    let mut command = crate::support::binary();
    command
        .current_dir(project.path(""))
        .args(["receive", "--port", &project.webhook_port().to_string()])
        .env("MESHY_WEBHOOK_TOKEN", TOKEN)
        .env("CARGO_TARGET_DIR", project.path("target"))
        .env_remove("MESHY_WEBHOOK_SECRET")
        .env_remove("MESHY_WEBHOOK_SECRET_FILE");
    let mut receiver = Guarded::spawn(command);
    let listening = receiver.line();
    assert!(listening.starts_with("listening on "), "{listening}");
    receiver
}

fn standing_across_sigkills() -> Result<(), Failed> {
    const N: usize = 6;
    let project = Project::new(N, "webhook");
    // Built first: the kills below must not land in a build.
    crate::harness::harness_binary();
    let receiver = standing_receiver(&project);
    let sim = Sim::start_full(
        &project,
        "2",
        None,
        Some(Sim::dashboard_url(&project)),
        &["--chaos-seed", "11", "--chaos-rate", "0.1"],
    );
    type Moment = fn(&Project, usize) -> bool;
    let moments: [(&str, Moment); 3] = [
        ("after every create call was answered", all_created),
        ("while webhooks arrive", all_delivering),
        ("after some trials passed", some_passed),
    ];
    let mut logs = Vec::new();
    for (i, (name, reached)) in moments.into_iter().enumerate() {
        let log = project.path(&format!("run-{i}.log"));
        let child = project
            .command(&sim, &[])
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .spawn()?;
        logs.push(log);
        let child = std::cell::RefCell::new(Killed(child));
        // Reached, or the run ended first (a rerun may finish what is left at once).
        wait_until(&project, name, |p| {
            let ended = child.borrow_mut().0.try_wait().ok().flatten().is_some();
            reached(p, N) || ended
        });
        let mut child = child.into_inner();
        let _ = child.0.kill();
        crate::support::wait_within(
            &mut child.0,
            crate::support::EXIT_DEADLINE,
            "the harness to end after SIGKILL",
        );
        assert!(
            sim.charges() <= N as u64,
            "{name}: never more than one charge per scenario"
        );
    }
    // What the kills left, finished (or, if the last run finished it all, replayed).
    let rerun = project.run(&sim, &[]);
    assert_success(&rerun);
    let log = text(&rerun);
    assert!(
        log.contains(&format!("test result: ok. {N} passed")),
        "{log}"
    );
    let first = std::fs::read_to_string(&logs[0])?;
    assert!(
        first.contains("using the webhook receiver already running on 127.0.0.1:"),
        "the runs use the standing receiver: {first}"
    );
    assert_eq!(sim.charges(), N as u64, "one charge per scenario: {log}");
    let recordings = project.webhook_recordings();
    assert_eq!(recordings.len(), N);
    for path in &recordings {
        let recording = std::fs::read_to_string(path)?;
        assert!(
            !recording.contains("payload_source"),
            "every recording from real deliveries: {recording}"
        );
    }
    drop(sim);
    drop(receiver);
    let replay = project.replay();
    assert_success(&replay);
    Ok(())
}
