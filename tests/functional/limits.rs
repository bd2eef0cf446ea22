//! Recording within the account's limits and budget, tried as a user would: the
//! harness against a `mesh-toolkit sim` child standing in for api.meshy.ai, with a
//! 10-task queue; the plan and its refusals; the dry run; a dependent scenario
//! recorded alone; a simulator-only scenario on the real path; commands that carry the
//! target. Fixtures are generated here, never the shipped suite.

use libtest_mimic::{Failed, Trial};

use crate::resume::{Project, RUN_DEADLINE, Sim, assert_success, text};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "limits_thirty_scenarios_through_a_ten_task_queue_record_with_at_most_ten_in_flight",
            thirty_through_ten,
        ),
        Trial::test(
            "limits_the_plan_lists_what_records_with_costs_and_max_credits_refuses_before_any_post",
            plan_and_budget,
        ),
        Trial::test(
            "limits_a_dry_run_uses_the_test_mode_key_checks_every_task_and_writes_nothing",
            dry_run,
        ),
        Trial::test(
            "limits_a_dependent_scenario_records_alone_against_the_simulator",
            dependent_alone,
        ),
        Trial::test(
            "limits_a_simulator_only_scenario_is_skipped_on_the_real_api_with_its_reason",
            simulator_only,
        ),
        Trial::test(
            "limits_an_input_task_meshy_no_longer_knows_names_the_chain_to_record_again",
            chain_hint,
        ),
        Trial::test(
            "limits_rerecord_commands_carry_the_target_they_were_recorded_against",
            commands_carry_the_target,
        ),
    ]
}

// A preview and its refine: a v1 chain (v2 has no refine step), pinned to v1.
const PREVIEW: &str =
    "api = \"v1\"\nspecies = \"otter\"\ntask_type = \"text3d\"\nprompt = \"Planned otter\"\n";
const REFINE: &str = "api = \"v1\"\nspecies = \"otter\"\ntask_type = \"text3d_refine\"\nprompt = \"Planned otter, painted\"\ninput = \"plan_preview\"\n";
const OTHER: &str = "species = \"beaver\"\ntask_type = \"text3d\"\nprompt = \"Planned beaver\"\n";

fn thirty_through_ten() -> Result<(), Failed> {
    let project = Project::new(30, "webhook");
    let sim = Sim::start_full(
        &project,
        "1",
        None,
        Some(Sim::dashboard_url(&project)),
        // The simulator's own queue is larger: only the run's slots keep it at 10.
        &["--max-queued-tasks", "30"],
    );
    let run = project.run(&sim, &["--max-tasks-in-flight=10"]);
    assert_success(&run);
    let log = text(&run);
    assert!(log.contains("test result: ok. 30 passed"), "{log}");
    assert!(
        log.contains("waiting for a task slot"),
        "the run waited for slots: {log}"
    );
    let stats = sim.queue_stats();
    assert!(
        stats["peak_queued"]
            .as_u64()
            .is_some_and(|peak| (5..=10).contains(&peak)),
        "{stats}"
    );
    assert_eq!(
        stats["queue_refusals"], 0,
        "no create was refused for a full queue: {stats}"
    );
    assert_eq!(sim.charges(), 30);
    Ok(())
}

fn plan_and_budget() -> Result<(), Failed> {
    let project = Project::with_files(&[
        ("plan_preview", PREVIEW),
        ("plan_refine", REFINE),
        ("plan_other", OTHER),
    ]);
    let sim = Sim::start(&project, "0", None);
    // A filtered run: the refine, and the preview it requires; nothing else.
    let refused = crate::support::output_within(
        project
            .command(&sim, &["--max-credits=25"])
            .args(["plan_refine"]),
        RUN_DEADLINE,
    );
    assert!(!refused.status.success());
    let log = text(&refused);
    assert!(
        log.contains(
            "(balance: 10000 credits):\n  plan_preview  text3d         20 credits (required by plan_refine)\n  \
             plan_refine   text3d_refine  10 credits\n  total: 30 credits, leaving 9970\n"
        ),
        "{log}"
    );
    assert!(
        log.contains("refusing to record: the plan costs 30 credits, more than --max-credits=25 (MESHY_MAX_CREDITS)"),
        "{log}"
    );
    assert_eq!(sim.balance(), 10_000, "refused before any create call");
    // Unfiltered, with the Rust trial: it is in the plan, of unknown cost.
    let all = crate::support::output_within(
        &mut project.command_with_rust_trial(&sim, &["--max-credits=1"]),
        RUN_DEADLINE,
    );
    let log = text(&all);
    assert!(
        log.contains("  otter_pipeline_in_rust  rust trial     unknown credits\n")
            && log.contains("  plan_other              text3d         20 credits\n")
            && log.contains("  total: 50 credits + 1 of unknown cost, leaving 9950\n"),
        "{log}"
    );
    assert_eq!(sim.balance(), 10_000);
    // Recorded, then the input's prompt changed: under `once` the input replays (and
    // fails its miss), so neither it nor its dependent is in the plan or the cost.
    assert_success(&project.run(&sim, &["plan_refine"]));
    let preview = project.path("scenarios/plan_preview.toml");
    std::fs::write(
        &preview,
        PREVIEW.replace("Planned otter", "Replanned otter"),
    )?;
    let once = project.run(&sim, &[]);
    let log = text(&once);
    assert!(
        log.contains("  plan_other  text3d         20 credits\n  total: 20 credits,"),
        "{log}"
    );
    assert!(!log.contains("  plan_refine "), "{log}");
    Ok(())
}

fn dry_run() -> Result<(), Failed> {
    let project = Project::with_files(&[
        ("plan_preview", PREVIEW),
        ("plan_refine", REFINE),
        ("plan_other", OTHER),
    ]);
    let sim = Sim::start(&project, "0", None);
    let run = project.run(&sim, &["--dry-run"]);
    assert_success(&run);
    let log = text(&run);
    assert!(
        log.contains(&format!(
            "dry run: sent the requests of 3 scenarios to {} with Meshy's test-mode key:",
            sim.base
        )),
        "{log}"
    );
    assert!(
        log.contains("checked: every request was accepted and every task ended")
            && log.contains("not checked: webhooks (test mode sends none)"),
        "{log}"
    );
    assert!(
        project.cassettes().is_empty() && project.webhook_recordings().is_empty(),
        "nothing written"
    );
    assert_eq!(sim.balance(), 10_000);
    // Recording with the test-mode key is refused, with the advice.
    let refused = crate::support::output_within(
        project
            .command(&sim, &[])
            .env("MESHY_API_KEY", mesh_toolkit::meshy::TEST_MODE_API_KEY),
        RUN_DEADLINE,
    );
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("MESHY_API_KEY is Meshy's test-mode key")
            && text(&refused).contains("--dry-run"),
        "{}",
        text(&refused)
    );
    Ok(())
}

fn dependent_alone() -> Result<(), Failed> {
    let project = Project::with_files(&[("plan_preview", PREVIEW), ("plan_refine", REFINE)]);
    let sim = Sim::start(&project, "0", None);
    let first = project.run(&sim, &["--target=sim", "plan_preview", "--exact"]);
    assert_success(&first);
    // A fresh in-process simulator knows nothing of plan_preview's task: it is seeded.
    let alone = project.run(&sim, &["--target=sim", "plan_refine", "--exact"]);
    assert_success(&alone);
    assert!(
        text(&alone).contains("test result: ok. 1 passed"),
        "{}",
        text(&alone)
    );
    drop(sim);
    assert_success(&project.replay());
    Ok(())
}

fn simulator_only() -> Result<(), Failed> {
    let blocked = "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"Blocked otter\"\n[expect]\nstatus = \"FAILED\"\n[simulator]\noutcome = \"failed\"\n";
    let project = Project::with_files(&[("plan_preview", PREVIEW), ("plan_blocked", blocked)]);
    let sim = Sim::start(&project, "0", None);
    let run = project.run(&sim, &[]);
    assert_success(&run);
    let log = text(&run);
    let reason = "simulator-only ([simulator] outcome = \"failed\": the real Meshy API cannot be asked for it); record it with --target=sim";
    assert!(
        log.contains(&format!("  plan_blocked  skipped: {reason}\n")),
        "{log}"
    );
    assert!(log.contains("plan_blocked ... ignored"), "{log}");
    assert_eq!(sim.charges(), 1, "only plan_preview was paid for");
    // Recorded against the simulator, it replays as usual.
    let sim_run = project.run(&sim, &["--target=sim", "plan_blocked", "--exact"]);
    assert_success(&sim_run);
    drop(sim);
    assert_success(&project.replay());
    Ok(())
}

/// Against the real API, a dependent recorded after its input's task is gone (Meshy
/// keeps results 3 days; here: a fresh Meshy stand-in) is refused, and the failure
/// names the chain to record again, inputs first, with what it costs.
fn chain_hint() -> Result<(), Failed> {
    let project = Project::with_files(&[("plan_preview", PREVIEW), ("plan_refine", REFINE)]);
    let sim = Sim::start(&project, "0", None);
    assert_success(&project.run(&sim, &[]));
    drop(sim);
    std::fs::remove_file(project.path("cassettes/http/plan_refine.yaml"))?;
    let fresh = Sim::start(&project, "0", None);
    let run = project.run(&fresh, &["plan_refine"]);
    assert!(!run.status.success());
    let log = text(&run);
    assert!(
        // Recorded through MESHY_BASE_URL: the command goes back to that rehearsal.
        log.contains(&format!(
            "comes from the recording of 'plan_preview'; if Meshy no longer knows it (results are kept 3 days), \
             record the chain again, inputs first, with `MESHY_BASE_URL={0} cargo test --test scenarios -- plan_refine \
             --exact --record-webhooks --record-mode=rewrite  # the rehearsal at {0} it was recorded against, not the \
             real Meshy API`",
            fresh.base
        )),
        "{log}"
    );
    assert_eq!(fresh.charges(), 0, "the refused create cost nothing");
    Ok(())
}

fn commands_carry_the_target() -> Result<(), Failed> {
    let project = Project::with_files(&[("plan_preview", PREVIEW)]);
    let sim = Sim::start(&project, "0", None);
    assert_success(&project.run(&sim, &["--target=sim"]));
    let scenario = project.path("scenarios/plan_preview.toml");
    std::fs::write(
        &scenario,
        PREVIEW.replace("Planned otter", "Replanned otter"),
    )?;
    let miss = project.replay();
    assert!(!miss.status.success());
    assert!(
        text(&miss).contains(
            "`cargo test --test scenarios -- --record-webhooks --record-mode=new_episodes --target=sim`"
        ),
        "{}",
        text(&miss)
    );
    // Under nextest a scenario that is to be recorded (here: its cassette is gone) is
    // refused, with the command that records it.
    std::fs::remove_file(project.path("cassettes/http/plan_preview.yaml"))?;
    let nextest = crate::support::output_within(
        project.command(&sim, &["--target=sim"]).env("NEXTEST", "1"),
        RUN_DEADLINE,
    );
    assert!(
        text(&nextest).contains(
            "record with `cargo test --test scenarios -- --record-webhooks --target=sim`"
        ),
        "{}",
        text(&nextest)
    );
    Ok(())
}
