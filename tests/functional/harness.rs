//! The `scenarios` harness as a user runs it: the built test binary on a temporary
//! copy of the project's own fixture suite (`tests/fixtures/suite`: a webhook chain, a
//! polling scenario, a FAILED outcome), recording against the simulator and replaying
//! with nothing running. Only `the_shipped_suite_replays_whatever_it_holds` reads the
//! shipped `scenarios/` and `cassettes/`, and it derives its counts from them: adding a
//! scenario to the shipped suite never breaks these tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use libtest_mimic::{Failed, Trial};

#[path = "../common/harness_binary.rs"]
mod binaries;

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "harness_records_a_suite_then_replays_it_with_no_simulator",
            record_then_replay,
        ),
        Trial::test(
            "the_shipped_suite_replays_whatever_it_holds",
            shipped_suite_replays,
        ),
        Trial::test(
            "harness_replay_without_a_cassette_fails_with_the_rerecord_command",
            missing_cassette,
        ),
        Trial::test(
            "harness_new_episodes_after_a_prompt_change_records_only_that_scenario",
            new_episodes,
        ),
        Trial::test(
            "harness_failures_name_what_is_wrong_and_the_command_that_records_only_that",
            failures_name_the_command,
        ),
        Trial::test(
            "harness_lists_trials_and_runs_a_filtered_one",
            list_and_filter,
        ),
        Trial::test(
            "harness_a_broken_scenario_file_fails_only_its_trial",
            broken_file,
        ),
        Trial::test("harness_guards_refuse_before_anything_is_sent", guards),
        Trial::test(
            "harness_replays_under_the_nextest_protocol",
            nextest_protocol,
        ),
        Trial::test(
            "nextest_partitions_split_the_suite_and_each_shard_replays",
            nextest_partitions,
        ),
        Trial::test(
            "cargo_test_from_the_repo_root_accepts_the_harness_flags",
            cargo_test_from_root,
        ),
        Trial::test(
            "harness_records_the_real_api_path_through_the_dashboard_webhook",
            real_api_path,
        ),
        Trial::test(
            "harness_checks_the_webhook_secret_of_real_deliveries",
            real_api_secret,
        ),
        Trial::test(
            "harness_records_a_pipeline_under_api_v1_and_v2_and_replays_both_offline",
            pipeline_under_both_generations,
        ),
        Trial::test(
            "harness_after_the_v1_sunset_fails_a_v1_recording_naming_the_date_and_passes_a_v2_one",
            v1_sunset,
        ),
        Trial::test(
            "harness_a_request_v2_refuses_names_its_scenario_file_and_sends_nothing",
            refused_before_sending,
        ),
        Trial::test(
            "harness_an_unpinned_scenario_with_a_v1_cassette_is_never_rerecorded_because_the_default_moved",
            v1_cassette_unpinned,
        ),
        Trial::test(
            "harness_cassettes_migrate_moves_a_v1_suite_to_v2_deleting_nothing_and_a_second_run_changes_nothing",
            migrate_v1_suite,
        ),
        Trial::test(
            "harness_a_rehearsal_is_labelled_never_counted_as_real_and_noted_by_the_check",
            rehearsal_is_labelled,
        ),
    ]
}

/// The harness recording `scenario` alone against a `mesh-toolkit sim` started with
/// `sim_args` (its real-API path: `MESHY_BASE_URL`, no tunnel), the simulator stopped
/// before this returns.
fn record_against_sim(
    work: &Workspace,
    scenario: &str,
    sim_args: &[&str],
    key: &str,
) -> Result<Output, Failed> {
    let mut command = crate::support::binary();
    command
        .args(["sim", "--port", "0", "--task-seconds", "0"])
        .args(sim_args);
    let mut sim = crate::support::Guarded::spawn(command);
    let base = sim
        .line()
        .strip_prefix("listening on ")
        .ok_or("no listening line")?
        .to_owned();
    let output = work.run(
        &["--record-webhooks", "--tunnel=none", scenario, "--exact"],
        &[("MESHY_BASE_URL", base.as_str()), ("MESHY_API_KEY", key)],
    );
    drop(sim);
    Ok(output)
}

/// Every file under `dir`, with its bytes, in path order.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                files.push((path.strip_prefix(dir).unwrap_or(&path).to_owned(), bytes));
            }
        }
    }
    files.sort();
    files
}

/// `mesh-toolkit cassettes migrate` in `work` with `args`.
fn migrate(work: &Workspace, args: &[&str]) -> Output {
    let mut command = crate::support::binary();
    command
        .current_dir(work.path(""))
        .env("CARGO_TARGET_DIR", work.path("target"))
        .args(["cassettes", "migrate"])
        .args(args);
    crate::support::output_within(&mut command, Duration::from_secs(60))
}

/// A v1 suite (a preview, its refine, rigging, animation, an image-to-3d) recorded
/// against the simulator, then migrated: shown first with nothing changed, applied with
/// `--yes` (its v1 recordings set aside, byte for byte), recorded under v2 against the
/// simulator and replayed; a second migration finds nothing to do.
fn migrate_v1_suite() -> Result<(), Failed> {
    let empty = tempfile::tempdir()?;
    let work = Workspace::with_scenarios(empty.path());
    let files = [
        (
            "m_preview",
            "api = \"v1\"\nspecies = \"mig\"\ntask_type = \"text3d\"\nprompt = \"Migrating otter\"\n\n[expect]\nmodel_formats = [\"glb\", \"fbx\"]\n",
        ),
        (
            "m_refine",
            "# Texture it.\napi = \"v1\"\nspecies = \"mig\"\ntask_type = \"text3d_refine\"\nprompt = \"Glossy fur\"\ninput = \"m_preview\"\n\n[params]\nenable_pbr = true\n",
        ),
        (
            "m_rigging",
            "api = \"v1\"\nspecies = \"mig\"\ntask_type = \"rigging\"\ninput = \"m_refine\"\n",
        ),
        (
            "m_animation",
            "api = \"v1\"\nspecies = \"mig\"\ntask_type = \"animation\"\ninput = \"m_rigging\"\n\n[params]\naction_id = 1\n",
        ),
        (
            "m_image3d",
            "api = \"v1\"\nspecies = \"mig\"\ntask_type = \"image3d\"\n\n[params]\nimage_url = \"https://example.com/beaver.png\"\n",
        ),
    ];
    for (name, text) in files {
        std::fs::write(work.path(&format!("scenarios/{name}.toml")), text)?;
    }
    let trials = work.trial_count();
    assert_success(&work.run(&["--record-webhooks", "--target=sim"], &[]));
    let (scenarios, cassettes) = (work.path("scenarios"), work.path("cassettes"));
    let (v1_scenarios, v1_cassettes) = (files_under(&scenarios), files_under(&cassettes));
    // Shown, nothing changed.
    let shown = migrate(&work, &[]);
    assert_success(&shown);
    let log = text(&shown);
    assert!(
        log.contains("+++ scenarios/m_refine.toml (API v2)")
            && log.contains("+task_type = \"text3d\"")
            && log.contains("+should_texture = true")
            && log.contains("+texture_prompt = \"Glossy fur\"")
            && log.contains("+target_formats = [\"glb\", \"fbx\"]")
            && log.contains("5 scenario file(s) move to Meshy API v2")
            && log.contains("nothing was changed: run it again with --yes"),
        "{log}"
    );
    assert!(files_under(&scenarios) == v1_scenarios && files_under(&cassettes) == v1_cassettes);
    // Applied: every v1 recording is under cassettes/v1, byte for byte.
    let applied = migrate(&work, &["--yes"]);
    assert_success(&applied);
    let log = text(&applied);
    // Recorded against the simulator: recorded there again, never the real API (a real
    // suite's rehearsal and real commands: the adopt test pastes them).
    assert!(
        log.ends_with(
            "migrated.\nrecord them where the suite was recorded, the simulator, free (it records exactly the \
             scenarios set aside): `cargo test --test scenarios -- --record-webhooks --record-mode=once --target=sim`\n"
        ),
        "the next command is printed: {log}"
    );
    let set_aside = files_under(&cassettes.join("v1"));
    let names = |files: &[(PathBuf, Vec<u8>)]| -> Vec<String> {
        files.iter().map(|(p, _)| p.display().to_string()).collect()
    };
    // The scenarios' recordings (not the shipped Rust trial's), byte for byte.
    let scenario_files: Vec<(PathBuf, Vec<u8>)> = v1_cassettes
        .iter()
        .filter(|(path, _)| !path.to_string_lossy().contains("otter_"))
        .cloned()
        .collect();
    assert!(
        set_aside == scenario_files,
        "set aside {:?}, expected {:?}",
        names(&set_aside),
        names(&scenario_files)
    );
    for (name, _) in files {
        let text = std::fs::read_to_string(work.path(&format!("scenarios/{name}.toml")))?;
        assert!(
            text.contains("api = \"v2\"") && !text.contains("api = \"v1\""),
            "{text}"
        );
    }
    // Recorded under v2 against the simulator, then replayed with nothing running.
    let recorded = work.run(&["--record-webhooks", "--target=sim"], &[]);
    assert_success(&recorded);
    let log = text(&recorded);
    assert!(
        log.contains(&format!("test result: ok. {trials} passed")),
        "{log}"
    );
    let refine = std::fs::read_to_string(work.path("cassettes/http/m_refine.yaml"))?;
    // The refine's create: one textured call of the preview's prompt.
    for sent in [
        r#"\"prompt\":\"Migrating otter\""#,
        r#"\"should_texture\":true"#,
        r#"\"texture_model\":\"meshy-6-lite\""#,
        r#"\"texture_prompt\":\"Glossy fur\""#,
    ] {
        assert!(refine.contains(sent), "{sent} in {refine}");
    }
    assert!(
        !refine.contains("\\\"mode\\\""),
        "no v1 mode under v2: {refine}"
    );
    assert_success(&work.run(&[], &[]));
    // A second run changes nothing.
    let (scenarios_now, cassettes_now) = (files_under(&scenarios), files_under(&cassettes));
    let again = migrate(&work, &["--yes"]);
    assert_success(&again);
    assert!(
        text(&again).contains("nothing to migrate"),
        "{}",
        text(&again)
    );
    assert!(files_under(&scenarios) == scenarios_now && files_under(&cassettes) == cassettes_now);
    Ok(())
}

/// The pipeline recorded under v1, then unpinned (as a suite recorded before v2 was the
/// default is): no record mode re-records it by itself — `none`, `once` and
/// `new_episodes` send nothing and leave every cassette as it was — and an explicit
/// `rewrite` records it again as v1, its cassette's generation, until it is migrated.
fn v1_cassette_unpinned() -> Result<(), Failed> {
    let empty = tempfile::tempdir()?;
    let work = Workspace::with_scenarios(empty.path());
    pipeline(&work, Some("v1"))?;
    let trials = work.trial_count();
    assert_success(&work.run(&["--record-webhooks", "--target=sim"], &[]));
    for entry in std::fs::read_dir(work.path("scenarios"))? {
        let path = entry?.path();
        let text = std::fs::read_to_string(&path)?;
        let unpinned = text
            .strip_prefix("api = \"v1\"\n")
            .ok_or("the pipeline's files start with their pin")?;
        std::fs::write(&path, unpinned)?;
    }
    let cassettes = || files_under(&work.path("cassettes"));
    let before = cassettes();
    assert!(before.len() >= trials, "{} files", before.len());
    for mode in ["none", "once", "new_episodes"] {
        let run = work.run(
            &[
                "--record-webhooks",
                "--target=sim",
                &format!("--record-mode={mode}"),
            ],
            &[],
        );
        assert_success(&run);
        let log = text(&run);
        assert!(
            log.contains(&format!("test result: ok. {trials} passed; 0 failed"))
                && !log.contains("recorded:"),
            "{mode}: {log}"
        );
        assert!(
            cassettes() == before,
            "{mode}: an unpinned scenario whose cassette is v1 is replayed, never re-recorded as v2"
        );
    }
    // Asked to record again, it records in its cassette's generation.
    let rewrite = work.run(
        &[
            "--record-webhooks",
            "--target=sim",
            "--record-mode=rewrite",
            "p_text3d",
            "--exact",
        ],
        &[],
    );
    assert_success(&rewrite);
    let text3d = std::fs::read_to_string(work.path("cassettes/http/p_text3d.yaml"))?;
    assert!(
        text3d.contains("preview") && !text3d.contains("should_texture"),
        "re-recorded as v1 until it is migrated: {text3d}"
    );
    Ok(())
}

/// A request API v2 would refuse (a removed parameter) fails its trial before anything is
/// sent, naming the scenario file, the field and its replacement; the simulator charges
/// nothing.
fn refused_before_sending() -> Result<(), Failed> {
    let empty = tempfile::tempdir()?;
    let work = Workspace::with_scenarios(empty.path());
    let file = work.path("scenarios/refused_text3d.toml");
    std::fs::write(
        &file,
        "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"Refused otter\"\ndelivery = \"polling\"\n\n[params]\nhd_texture = true\n",
    )?;
    let output = record_against_sim(&work, "refused_text3d", &[], "msy_functional_refused_key")?;
    let log = text(&output);
    assert!(!output.status.success(), "{log}");
    assert!(
        log.contains("refused_text3d.toml: POST")
            && log.contains("'hd_texture'")
            && log.contains("texture_resolution")
            && log.contains("nothing was sent or paid: fix the scenario file and run it again"),
        "the failure names the file, the field and its replacement: {log}"
    );
    assert!(log.contains("spent: 0 credits"), "nothing was paid: {log}");
    // Its replay never says a task is waiting to be resumed: there is none.
    let replay = work.run(&["refused_text3d", "--exact"], &[]);
    let log = text(&replay);
    assert!(!replay.status.success(), "{log}");
    assert!(
        !log.contains("resumes its task"),
        "no task was made, so none is resumed: {log}"
    );
    Ok(())
}

/// A six-step pipeline (text-to-3d, image-to-3d, remesh, retexture, rigging, animation),
/// pinned to `api` (or unpinned: a new scenario speaks v2).
fn pipeline(work: &Workspace, api: Option<&str>) -> Result<(), Failed> {
    let pin = api.map_or(String::new(), |a| format!("api = \"{a}\"\n"));
    // v2 asks a retexture for its texture model.
    let texture_model = if api == Some("v1") {
        ""
    } else {
        "texture_model = \"meshy-6-lite\"\n"
    };
    let files = [
        ("p_text3d", "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"Pipeline otter\"\n".to_owned()),
        (
            "p_image3d",
            "species = \"beaver\"\ntask_type = \"image3d\"\n[params]\nimage_url = \"https://example.com/beaver.png\"\nshould_texture = false\n".to_owned(),
        ),
        ("p_remesh", "species = \"otter\"\ntask_type = \"remesh\"\ninput = \"p_text3d\"\n[params]\ntarget_polycount = 5000\n".to_owned()),
        (
            "p_retexture",
            format!("species = \"otter\"\ntask_type = \"retexture\"\ninput = \"p_text3d\"\nprompt = \"Walnut wood\"\n[params]\n{texture_model}"),
        ),
        ("p_rigging", "species = \"otter\"\ntask_type = \"rigging\"\ninput = \"p_text3d\"\n".to_owned()),
        ("p_animation", "species = \"otter\"\ntask_type = \"animation\"\ninput = \"p_rigging\"\n[params]\naction_id = 1\n".to_owned()),
    ];
    for (name, body) in files {
        std::fs::write(
            work.path(&format!("scenarios/{name}.toml")),
            format!("{pin}{body}"),
        )?;
    }
    Ok(())
}

/// The same pipeline recorded against the simulator under v1 (pinned) and v2 (unpinned:
/// the default of a new scenario), each then replayed with nothing running; each
/// cassette speaks its own generation's routes and shapes.
fn pipeline_under_both_generations() -> Result<(), Failed> {
    for api in [Some("v1"), None] {
        let empty = tempfile::tempdir()?;
        let work = Workspace::with_scenarios(empty.path());
        pipeline(&work, api)?;
        let trials = work.trial_count();
        let recording = work.run(&["--record-webhooks", "--target=sim"], &[]);
        assert_success(&recording);
        let log = text(&recording);
        assert!(
            log.contains(&format!("test result: ok. {trials} passed; 0 failed")),
            "{log}"
        );
        let remesh = std::fs::read_to_string(work.path("cassettes/http/p_remesh.yaml"))?;
        let text3d = std::fs::read_to_string(work.path("cassettes/http/p_text3d.yaml"))?;
        if api == Some("v1") {
            assert!(remesh.contains("/openapi/v1/remesh\""), "{remesh}");
            assert!(
                text3d.contains("preview"),
                "v1's text-to-3d sends mode: {text3d}"
            );
            assert!(!remesh.contains("/openapi/v2/tasks/"), "{remesh}");
        } else {
            assert!(remesh.contains("/openapi/v2/remesh\""), "{remesh}");
            assert!(
                remesh.contains("/openapi/v2/tasks/"),
                "v2 reads through tasks: {remesh}"
            );
            assert!(
                text3d.contains("should_texture") && !text3d.contains("preview"),
                "v2's one-call text-to-3d: {text3d}"
            );
            let retexture = std::fs::read_to_string(work.path("cassettes/http/p_retexture.yaml"))?;
            assert!(
                retexture.contains("texture_prompt") && !retexture.contains("text_style_prompt"),
                "{retexture}"
            );
        }
        // Replay: nothing running; every trial passes from the files alone.
        let replay = work.run(&[], &[]);
        assert_success(&replay);
        let log = text(&replay);
        assert!(
            log.contains(&format!("test result: ok. {trials} passed; 0 failed")),
            "{log}"
        );
        assert!(
            !log.contains("recorded:"),
            "nothing is recorded on replay: {log}"
        );
    }
    Ok(())
}

/// With the simulator acting out 2027-03-15 (`mesh-toolkit sim --v1-sunset`), a scenario
/// pinned to v1 cannot be recorded: its trial names the date and the move; the same
/// scenario under v2 records.
fn v1_sunset() -> Result<(), Failed> {
    for (api, passes) in [("v1", false), ("v2", true)] {
        let empty = tempfile::tempdir()?;
        let work = Workspace::with_scenarios(empty.path());
        std::fs::write(
            work.path("scenarios/sunset_text3d.toml"),
            format!(
                "api = \"{api}\"\nspecies = \"otter\"\ntask_type = \"text3d\"\nprompt = \"Sunset otter\"\ndelivery = \"polling\"\n"
            ),
        )?;
        let output = record_against_sim(
            &work,
            "sunset_text3d",
            &["--v1-sunset"],
            "msy_functional_sunset_key",
        )?;
        let log = text(&output);
        if passes {
            assert_success(&output);
        } else {
            assert!(!output.status.success(), "{log}");
            assert!(
                log.contains("POST http://127.0.0.1:")
                    && log.contains("/openapi/v2/text-to-3d: Meshy API v1 stopped working on 2027-03-15, so Meshy refused it (410 api_v1_sunset). Move it to v2: pin the scenario `api = \"v2\"` (SDK: `ClientConfig::generation`); v2's text-to-3d is one call, sent without `mode`"),
                "{log}"
            );
        }
    }
    Ok(())
}

/// The built `scenarios` test binary (built once, through cargo, on first use).
pub fn harness_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        // A cold build of the harness on a busy machine.
        binaries::build_harness(|command| {
            crate::support::output_within(command, Duration::from_secs(1200))
        })
    })
}

/// How long one harness run may take (a whole suite recorded against the simulator).
const RUN_DEADLINE: Duration = Duration::from_secs(300);

/// The trials the harness adds to the scenario files: the trial written in Rust.
const RUST_TRIALS: usize = 1;

/// The project's own fixture suite.
fn fixture_suite() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/suite")
}

/// The scenario files (`*.toml`) in `dir`, sorted.
fn scenario_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    files
}

/// Copies the directory tree `from` into `to`.
pub(crate) fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A temporary project: scenarios copied from a suite, cassettes empty unless copied.
struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    /// A copy of the fixture suite, with no cassettes.
    fn new() -> Workspace {
        Workspace::with_scenarios(&fixture_suite())
    }

    fn with_scenarios(suite: &Path) -> Workspace {
        let dir = tempfile::tempdir().expect("temp dir");
        let scenarios = dir.path().join("scenarios");
        std::fs::create_dir_all(&scenarios).unwrap();
        for path in scenario_files(suite) {
            std::fs::copy(&path, scenarios.join(path.file_name().unwrap())).unwrap();
        }
        Workspace { dir }
    }

    /// The scenario files of this workspace.
    fn scenarios(&self) -> Vec<PathBuf> {
        scenario_files(&self.path("scenarios"))
    }

    /// How many trials the harness runs here: one per scenario file, and the Rust trial.
    fn trial_count(&self) -> usize {
        self.scenarios().len() + RUST_TRIALS
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Runs the harness in the workspace (its default directories are relative to it).
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = Command::new(harness_binary());
        command
            .current_dir(self.dir.path())
            .args(args)
            .env("MESHY_SIM_TASK_SECONDS", "0")
            // Its own token file and recording lock, whatever the outer environment says.
            .env("CARGO_TARGET_DIR", self.dir.path().join("target"));
        for name in [
            "CI",
            "NEXTEST",
            "MESHY_API_KEY",
            "MESHY_RECORD_MODE",
            "MESHY_RECORD_WEBHOOKS",
            "MESHY_TARGET",
            "MESHY_WEBHOOK_SECRET",
            "MESHY_WEBHOOK_SECRET_FILE",
        ] {
            command.env_remove(name);
        }
        command.envs(env.iter().copied());
        crate::support::output_within(&mut command, RUN_DEADLINE)
    }

    /// The fixture suite's `otter_text3d` alone.
    fn only_otter_text3d() -> Result<Workspace, Failed> {
        let work = Workspace::new();
        for entry in std::fs::read_dir(work.path("scenarios"))? {
            let path = entry?.path();
            if !path.ends_with("otter_text3d.toml") {
                std::fs::remove_file(path)?;
            }
        }
        Ok(work)
    }

    fn record_all(&self) {
        let output = self.run(&["--record-webhooks", "--target=sim"], &[]);
        assert_success(&output);
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn assert_success(output: &Output) {
    assert!(output.status.success(), "harness failed:\n{}", text(output));
}

fn record_then_replay() -> Result<(), Failed> {
    let work = Workspace::new();
    let recording = work.run(&["--record-webhooks", "--target=sim"], &[]);
    assert_success(&recording);
    let log = text(&recording);
    let trials = work.trial_count();
    assert!(
        log.contains(&format!("test result: ok. {trials} passed; 0 failed")),
        "{log}"
    );
    assert!(
        log.contains("recorded:\n  scenario "),
        "the summary table is printed: {log}"
    );
    assert!(
        log.contains("otter_text3d_blocked") && log.contains("FAILED"),
        "{log}"
    );
    // The fixture: 5 scenarios, one of them polling, and the Rust trial.
    let cassettes = std::fs::read_dir(work.path("cassettes/http"))?.count();
    assert_eq!(cassettes, 6, "one cassette per trial");
    let webhooks = std::fs::read_dir(work.path("cassettes/webhooks"))?.count();
    assert_eq!(
        webhooks, 5,
        "one webhook recording per webhook scenario and the Rust trial"
    );
    for entry in std::fs::read_dir(work.path("cassettes/http"))? {
        let text = std::fs::read_to_string(entry?.path())?;
        assert!(text.contains("recorded_against: simulator"));
        assert!(
            !text.contains("127.0.0.1") && !text.contains("msy_simulator"),
            "portable, no key"
        );
    }
    // Replay: nothing is running now; default mode none.
    let replay = work.run(&[], &[]);
    assert_success(&replay);
    assert!(
        text(&replay).contains(&format!("test result: ok. {trials} passed; 0 failed")),
        "{}",
        text(&replay)
    );
    assert!(
        !text(&replay).contains("recorded:"),
        "nothing is recorded on replay"
    );
    Ok(())
}

/// The shipped suite (`scenarios/` and `cassettes/`), copied: every trial it holds is
/// listed and replays offline, whatever their number.
fn shipped_suite_replays() -> Result<(), Failed> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = Workspace::with_scenarios(&root.join("scenarios"));
    copy_tree(&root.join("cassettes"), &work.path("cassettes"));
    let trials = work.trial_count();
    let listed = work.run(&["--list", "--format", "terse"], &[]);
    assert_success(&listed);
    // `[kind] name: test`
    let names: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(|l| l.rsplit("] ").next().unwrap_or(l).to_owned())
        .collect();
    assert_eq!(
        names.len(),
        trials,
        "one trial per scenario file and the Rust trial: {names:?}"
    );
    for scenario in work.scenarios() {
        let name = scenario.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(names.contains(&name), "{name} is a trial: {names:?}");
    }
    let replay = work.run(&[], &[]);
    let log = text(&replay);
    assert_success(&replay);
    assert!(
        log.contains(&format!("test result: ok. {trials} passed; 0 failed")),
        "every shipped trial replays: {log}"
    );
    assert!(!log.contains("recorded:"), "nothing is recorded on replay");
    Ok(())
}

fn missing_cassette() -> Result<(), Failed> {
    let work = Workspace::new();
    let output = work.run(&["otter_text3d", "--exact"], &[]);
    assert_eq!(
        output.status.code(),
        Some(101),
        "a failing trial fails the run: {}",
        text(&output)
    );
    let log = text(&output);
    assert!(
        log.contains(
            "\nno cassette 'cassettes/http/otter_text3d.yaml' to replay POST https://api.meshy.ai/openapi/v2/text-to-3d from \
             (record mode none); record it with `cargo test --test scenarios -- otter_text3d --exact --record-webhooks \
             --record-mode=once --target=sim  # the simulator, free; without --target=sim, the real Meshy API: 20 \
             credits`"
        ),
        "{log}"
    );
    // Asking to record a webhook scenario without --record-webhooks names the command.
    let output = work.run(
        &[
            "otter_text3d",
            "--exact",
            "--record-mode=once",
            "--target=sim",
        ],
        &[],
    );
    assert!(!output.status.success());
    assert!(
        text(&output).contains("recording a webhook scenario needs --record-webhooks; record it with `cargo test --test scenarios -- otter_text3d --exact --record-webhooks --record-mode=once --target=sim`"),
        "{}",
        text(&output)
    );
    Ok(())
}

/// After recording: a missing webhook recording is named as such (its cassette is
/// complete); a changed dependent under `once` replays, says so, and prints the
/// `new_episodes` command, which records it and its own dependents without recording
/// its unchanged input: the suite then replays.
fn failures_name_the_command() -> Result<(), Failed> {
    let work = Workspace::new();
    work.record_all();
    let webhooks = work.path("cassettes/webhooks");
    let recording = std::fs::read_dir(&webhooks)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .find(|p| {
            std::fs::read_to_string(p).is_ok_and(|t| t.contains("\"scenario\": \"otter_text3d\""))
        })
        .ok_or("no webhook recording of otter_text3d")?;
    let kept = std::fs::read(&recording)?;
    std::fs::remove_file(&recording)?;
    let log = text(&work.run(&["otter_text3d", "--exact"], &[]));
    assert!(
        log.contains("its cassette 'cassettes/http/otter_text3d.yaml' is complete, but no webhook recording '")
            && log.contains(&recording.file_name().unwrap_or_default().to_string_lossy().into_owned())
            // Recorded against the simulator: recorded there again, free.
            && log.contains("record it with `cargo test --test scenarios -- otter_text3d --exact --record-webhooks --record-mode=once --target=sim`"),
        "{log}"
    );
    // Recorded against the real API: its deliveries are gone for good (Meshy sends no
    // webhook again), so the task is resumed and completed from the API, never bought.
    let cassette = work.path("cassettes/http/otter_text3d.yaml");
    let yaml = std::fs::read_to_string(&cassette)?;
    assert!(yaml.contains("\nrecorded_against: simulator\n"), "{yaml}");
    std::fs::write(
        &cassette,
        yaml.replace(
            "\nrecorded_against: simulator\n",
            "\nrecorded_against: meshy\n",
        ),
    )?;
    let log = text(&work.run(&["otter_text3d", "--exact"], &[]));
    assert!(
        log.contains("record it with `cargo test --test scenarios -- otter_text3d --exact --record-webhooks \
             --record-mode=once --accept-api-payload  # real Meshy API: resumes its task, 0 credits; its result from \
             the API's task object, as its deliveries are gone`"),
        "{log}"
    );
    std::fs::write(&cassette, yaml)?;
    std::fs::write(&recording, kept)?;

    let refine = work.path("scenarios/otter_text3d_refine.toml");
    let changed = std::fs::read_to_string(&refine)?.replace("Soft brown fur", "Sleek grey fur");
    std::fs::write(&refine, changed)?;
    let input = std::fs::read(work.path("cassettes/http/otter_text3d.yaml"))?;
    let once = work.run(
        &[
            "otter_text3d_refine",
            "--exact",
            "--record-webhooks",
            "--target=sim",
        ],
        &[],
    );
    assert!(
        !once.status.success(),
        "once does not record a changed scenario"
    );
    let log = text(&once);
    let command =
        "cargo test --test scenarios -- --record-webhooks --record-mode=new_episodes --target=sim";
    assert!(
        log.contains("record mode is once; to re-record run `"),
        "{log}"
    );
    assert!(log.contains(command), "{log}");
    let args: Vec<&str> = command.split(' ').skip(5).collect();
    let again = work.run(&args, &[]);
    assert_success(&again);
    assert_eq!(
        std::fs::read(work.path("cassettes/http/otter_text3d.yaml"))?,
        input,
        "the unchanged input replayed: its cassette is as it was"
    );
    assert!(
        std::fs::read_to_string(work.path("cassettes/http/otter_text3d_refine.yaml"))?
            .contains("Sleek grey fur")
    );
    assert_success(&work.run(&[], &[]));
    Ok(())
}

fn new_episodes() -> Result<(), Failed> {
    let work = Workspace::new();
    work.record_all();
    let before: Vec<(PathBuf, String)> = std::fs::read_dir(work.path("cassettes/http"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect();
    let scenario = work.path("scenarios/beaver_text3d_polling.toml");
    let changed = std::fs::read_to_string(&scenario)?.replace("tiny axe", "golden axe");
    std::fs::write(&scenario, changed)?;
    let output = work.run(
        &[
            "--record-mode=new_episodes",
            "--record-webhooks",
            "--target=sim",
        ],
        &[],
    );
    assert_success(&output);
    let log = text(&output);
    assert!(log.contains("recorded:"), "{log}");
    let table = &log[log.find("recorded:").unwrap()..];
    assert!(
        table.contains("beaver_text3d_polling") && !table.contains("otter_text3d "),
        "only the changed scenario: {table}"
    );
    for (path, old) in before {
        let new = std::fs::read_to_string(&path)?;
        let is_changed = path.ends_with("beaver_text3d_polling.yaml");
        assert_eq!(new != old, is_changed, "{}", path.display());
    }
    Ok(())
}

fn list_and_filter() -> Result<(), Failed> {
    let work = Workspace::new();
    let output = work.run(&["--list"], &[]);
    assert_success(&output);
    let listed = String::from_utf8_lossy(&output.stdout);
    assert!(listed.contains("[webhook] otter_text3d: test"), "{listed}");
    assert!(
        listed.contains("[polling] beaver_text3d_polling: test"),
        "{listed}"
    );
    assert!(
        listed.contains("[rust] otter_pipeline_in_rust: test"),
        "{listed}"
    );
    let terse = work.run(&["--list", "--format", "terse"], &[]);
    assert_success(&terse);
    let terse = String::from_utf8_lossy(&terse.stdout).into_owned();
    assert_eq!(
        terse.lines().filter(|l| l.ends_with(": test")).count(),
        work.trial_count(),
        "{terse}"
    );
    // Nothing started: no receiver, tunnel or simulator wrote anything anywhere.
    let left: Vec<String> = std::fs::read_dir(work.dir.path())?
        .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    assert_eq!(left, ["scenarios"], "--list starts and writes nothing");

    work.record_all();
    let one = work.run(&["otter_rigging", "--exact"], &[]);
    assert_success(&one);
    let log = text(&one);
    let filtered = work.trial_count() - 1;
    assert!(
        log.contains(&format!(
            "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; {filtered} filtered out"
        )),
        "{log}"
    );
    // One kind of trial, as the seed's pytest markers ran them: the polling scenarios.
    let polling = work.run(&["[polling]"], &[]);
    assert_success(&polling);
    let log = text(&polling);
    assert!(
        log.contains("test [polling] beaver_text3d_polling ... ok"),
        "{log}"
    );
    assert!(
        !log.contains("[webhook]") && !log.contains("[rust]"),
        "{log}"
    );
    assert!(log.contains("test result: ok. 1 passed;"), "{log}");
    Ok(())
}

fn broken_file() -> Result<(), Failed> {
    let work = Workspace::new();
    work.record_all();
    std::fs::write(
        work.path("scenarios/zz_broken.toml"),
        "species = \"otter\"\ntask_type = \"text_3d\"\nprompt = \"x\"\n",
    )?;
    let output = work.run(&[], &[]);
    assert_eq!(output.status.code(), Some(101));
    let log = text(&output);
    let whole = work.trial_count() - 1;
    assert!(
        log.contains(&format!("test result: FAILED. {whole} passed; 1 failed")),
        "{log}"
    );
    assert!(
        log.contains(
            "scenario file 'scenarios/zz_broken.toml', line 2: unknown task type 'text_3d'"
        ),
        "{log}"
    );
    assert!(log.contains("[invalid] zz_broken"), "{log}");
    Ok(())
}

fn guards() -> Result<(), Failed> {
    let work = Workspace::new();
    let no_key = work.run(&["otter_text3d", "--exact", "--record-webhooks"], &[]);
    assert!(!no_key.status.success());
    assert!(
        text(&no_key).contains("recording against the real Meshy API needs MESHY_API_KEY"),
        "{}",
        text(&no_key)
    );
    // A webhook port something else holds: said so, with how to find out what.
    let held = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = held.local_addr()?.port();
    let busy = work.run(
        &[
            "otter_text3d",
            "--exact",
            "--record-webhooks",
            "--target=sim",
            &format!("--webhook-port={port}"),
        ],
        &[],
    );
    assert!(
        text(&busy).contains(&format!(
            "the port is in use, and not by a mesh-toolkit receiver (it did not answer /health as one); \
             `ss -ltnp 'sport = :{port}'` shows what holds it"
        )),
        "{}",
        text(&busy)
    );
    drop(held);
    // Every trial that would record fails, and the reason is given once.
    let all = work.run(&["--record-webhooks"], &[]);
    let all = text(&all);
    assert_eq!(
        all.matches("recording against the real Meshy API needs MESHY_API_KEY")
            .count(),
        1,
        "{all}"
    );
    assert!(
        all.contains("the reason is given once, under the first recording trial that failed"),
        "{all}"
    );
    // An outside value that is no task time is refused, not taken as a day or a panic.
    let endless = work.run(
        &[
            "otter_text3d",
            "--exact",
            "--record-webhooks",
            "--target=sim",
        ],
        &[("MESHY_SIM_TASK_SECONDS", "inf")],
    );
    assert_eq!(endless.status.code(), Some(101), "{}", text(&endless));
    assert!(
        text(&endless)
            .contains("MESHY_SIM_TASK_SECONDS: 'inf' is not a number of seconds from 0 to 86400"),
        "{}",
        text(&endless)
    );
    let on_ci = work.run(
        &["otter_text3d", "--exact", "--record-webhooks"],
        &[
            ("CI", "true"),
            ("MESHY_API_KEY", "msy_would_spend_credits_1234"),
        ],
    );
    assert_eq!(
        on_ci.status.code(),
        Some(101),
        "the refused trial fails the run: {}",
        text(&on_ci)
    );
    assert!(
        text(&on_ci).contains("refusing to record against the real Meshy API on CI"),
        "{}",
        text(&on_ci)
    );
    let nextest = work.run(
        &[
            "otter_text3d",
            "--exact",
            "--record-webhooks",
            "--target=sim",
        ],
        &[("NEXTEST", "1")],
    );
    assert_eq!(
        nextest.status.code(),
        Some(101),
        "the refused trial fails the run: {}",
        text(&nextest)
    );
    assert!(
        text(&nextest).contains("recording is refused under cargo-nextest"),
        "{}",
        text(&nextest)
    );
    assert!(
        !work.path("cassettes").exists(),
        "nothing was recorded by the refused runs"
    );
    let unknown = work.run(&["--record-webhook"], &[]);
    assert_eq!(unknown.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.starts_with("error: unexpected argument '--record-webhook' found")
            && stderr.contains("a similar argument exists: '--record-webhooks'"),
        "{stderr}"
    );
    let help = work.run(&["--help"], &[]);
    assert_eq!(help.status.code(), Some(0), "{}", text(&help));
    let stdout = String::from_utf8_lossy(&help.stdout);
    for expected in [
        "--record-webhooks",
        "[env: MESHY_TARGET]",
        "--test-threads",
        "'[polling]'",
    ] {
        assert!(
            stdout.contains(expected),
            "no '{expected}' in --help: {stdout}"
        );
    }
    Ok(())
}

/// What cargo-nextest does: list with `--list --format terse`, then run each test in
/// its own process with `--exact`, configuration through environment variables.
fn nextest_protocol() -> Result<(), Failed> {
    let work = Workspace::new();
    work.record_all();
    let env = [("NEXTEST", "1"), ("MESHY_CASSETTES_DIR", "cassettes")];
    let listed = work.run(&["--list", "--format", "terse"], &env);
    assert_success(&listed);
    let names: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_owned)
        .collect();
    assert_eq!(names.len(), work.trial_count(), "{names:?}");
    for name in names {
        let output = work.run(&[&name, "--exact", "--nocapture"], &env);
        assert!(
            output.status.success(),
            "{name} under the nextest protocol:\n{}",
            text(&output)
        );
    }
    Ok(())
}

/// Sharding across CI machines: `cargo nextest run --test scenarios --partition
/// hash:k/2` for k = 1, 2 on a recorded suite. Each shard passes on its own (a
/// dependent whose input is in the other shard replays it too), and together they run
/// every trial exactly once.
fn nextest_partitions() -> Result<(), Failed> {
    let work = Workspace::new();
    work.record_all();
    let nextest = mesh_toolkit::workdir::test_tool("bin/cargo-nextest", "cargo-nextest")
        .ok_or_else(|| {
            format!(
                "cargo-nextest is not installed: {}",
                mesh_toolkit::workdir::TEST_TOOLS_HINT
            )
        })?;
    let mut shards: Vec<Vec<String>> = Vec::new();
    for k in 1..=2 {
        let mut command = Command::new(&nextest);
        command
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["nextest", "run", "--test", "scenarios", "--no-fail-fast"])
            .args(["--no-tests=pass", "--color=never"])
            .arg(format!("--partition=hash:{k}/2"))
            .env("MESHY_SCENARIOS_DIR", work.path("scenarios"))
            .env("MESHY_CASSETTES_DIR", work.path("cassettes"))
            .env_remove("CI");
        let output = crate::support::output_within(&mut command, RUN_DEADLINE);
        let log = text(&output);
        assert!(output.status.success(), "shard {k}/2 failed:\n{log}");
        let passed: Vec<String> = log
            .lines()
            .filter(|line| line.trim_start().starts_with("PASS "))
            .filter_map(|line| line.split_whitespace().last().map(str::to_owned))
            .collect();
        assert!(
            !log.contains("FAIL"),
            "shard {k}/2 reported a failure:\n{log}"
        );
        shards.push(passed);
    }
    let mut all: Vec<String> = shards.concat();
    all.sort();
    let listed = work.run(&["--list", "--format", "terse"], &[]);
    let mut expected: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        // `[kind] name`: nextest reports the name.
        .filter_map(|l| l.split(' ').next_back().map(str::to_owned))
        .collect();
    expected.sort();
    assert_eq!(expected.len(), work.trial_count(), "{expected:?}");
    assert_eq!(
        all, expected,
        "the two shards run every trial exactly once (shards: {shards:?})"
    );
    Ok(())
}

fn cargo_test_from_root() -> Result<(), Failed> {
    let cassettes = tempfile::tempdir()?;
    let suite = fixture_suite();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["test", "--", "--record-webhooks", "--target=sim"])
        .arg(format!("--scenarios={}", suite.display()))
        .arg(format!("--cassettes={}", cassettes.path().display()))
        .env("MESHY_SIM_TASK_SECONDS", "0")
        .env_remove("CI");
    let output = crate::support::output_within(&mut command, RUN_DEADLINE);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(
        std::fs::read_dir(cassettes.path().join("http"))?.count(),
        scenario_files(&suite).len() + RUST_TRIALS,
        "one cassette per trial of the suite given with --scenarios"
    );
    Ok(())
}

/// `--target=meshy` end to end, with `mesh-toolkit sim` standing in for api.meshy.ai
/// (`MESHY_BASE_URL`) and delivering to the dashboard route, as Meshy does: the plan
/// with the balance, the dashboard URL, the http warning, a cassette without the key.
fn real_api_path() -> Result<(), Failed> {
    let work = Workspace::only_otter_text3d()?;
    let webhook_port = crate::support::free_port();
    let token = "functional-dashboard-token";
    let (sim, base) = dashboard_sim(webhook_port, token, None)?;
    let key = "msy_functional_real_path_key_42";
    let env = [
        ("MESHY_BASE_URL", base.as_str()),
        ("MESHY_API_KEY", key),
        ("MESHY_WEBHOOK_TOKEN", token),
    ];
    let port = webhook_port.to_string();
    let output = work.run(
        &[
            "--record-webhooks",
            "--tunnel=none",
            &format!("--webhook-port={port}"),
        ],
        &env,
    );
    assert_success(&output);
    let log = text(&output);
    assert!(
        log.contains(&format!(
            "rehearsing against {base}, not the real Meshy API; costs count as if paid, in case it forwards to \
             Meshy (balance: 10000 credits):\n  otter_text3d            text3d         20 credits\n  \
             otter_pipeline_in_rust  rust trial     unknown credits\n  total: 20 credits + 1 of unknown cost, leaving 9980\n"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("paste this webhook URL into the Meshy dashboard (API settings → Webhooks): http://127.0.0.1:{port}/webhook?token={token}")),
        "{log}"
    );
    assert!(
        log.contains("Meshy delivers webhooks only to https URLs"),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "spent: 40 credits (balance 10000 before the run, 9960 after) at the rehearsal {base}, not the \
             real Meshy API\n"
        )),
        "{log}"
    );
    assert!(!log.contains(key), "the key never reaches the output");
    let cassette = std::fs::read_to_string(work.path("cassettes/http/otter_text3d.yaml"))?;
    assert!(
        !cassette.contains(key) && !cassette.contains("callback_url"),
        "no key, and no callback_url for the real API"
    );
    assert!(
        // Recorded through MESHY_BASE_URL: a rehearsal, not known to be the real API.
        cassette.contains(&format!("recorded_against: \"rehearsal {base}\""))
            && cassette.contains("uri: \"https://api.meshy.ai/openapi/v2/text-to-3d\"")
    );
    drop(sim);
    let replay = work.run(&[], &[]);
    assert_success(&replay);
    Ok(())
}

/// `mesh-toolkit sim` standing in for the real API: tasks done at once, every delivery
/// to the dashboard URL `http://127.0.0.1:{webhook_port}/webhook?token={token}` carrying
/// `secret` (a random one without). The running simulator and its base URL.
fn dashboard_sim(
    webhook_port: u16,
    token: &str,
    secret: Option<&str>,
) -> Result<(crate::support::Guarded, String), Failed> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mesh-toolkit"));
    command
        .args(["sim", "--port", "0", "--task-seconds", "0", "--webhook-url"])
        .arg(format!(
            "http://127.0.0.1:{webhook_port}/webhook?token={token}"
        ))
        .env_remove("MESHY_WEBHOOK_SECRET_FILE")
        .env_remove("MESHY_WEBHOOK_SECRET");
    if let Some(secret) = secret {
        command.env("MESHY_WEBHOOK_SECRET", secret);
    }
    let mut sim = crate::support::Guarded::spawn(command);
    let base = sim
        .line()
        .strip_prefix("listening on ")
        .ok_or("no listening line")?
        .to_owned();
    Ok((sim, base))
}

/// Against a stand-in for the real API (`mesh-toolkit sim`, delivering like Meshy to the
/// dashboard's URL with its webhook secret): a harness configured with another secret
/// refuses the deliveries, the trial's failure says so (without either value), and the
/// scenario waiting for its task slot is not sent (one task paid for, not two); with the
/// same secret the recording passes and holds only the placeholder.
fn real_api_secret() -> Result<(), Failed> {
    let sent = "whsec-functional-sim-secret-0123456789";
    let checked_wrong = "whsec-functional-other-secret-98765";
    for (checked, passes) in [(checked_wrong, false), (sent, true)] {
        let work = Workspace::only_otter_text3d()?;
        if !passes {
            let again = std::fs::read_to_string(work.path("scenarios/otter_text3d.toml"))?
                .replace("Cute otter", "Another otter");
            std::fs::write(work.path("scenarios/otter_text3d_again.toml"), again)?;
        }
        let webhook_port = crate::support::free_port();
        let token = "functional-secret-token";
        let (sim, base) = dashboard_sim(webhook_port, token, Some(sent))?;
        let port = webhook_port.to_string();
        let output = work.run(
            &[
                "--record-webhooks",
                "--tunnel=none",
                &format!("--webhook-port={port}"),
                // Ends the wait soon after the API shows the task done (the simulator
                // delivers the moment it is).
                "--webhook-grace=5",
                // One task at a time: the second scenario waits for the first's slot.
                "--max-tasks-in-flight=1",
                // Both scenario files (and not the Rust trial).
                "otter_text3d",
            ],
            &[
                ("MESHY_BASE_URL", base.as_str()),
                ("MESHY_API_KEY", "msy_functional_secret_key_42"),
                ("MESHY_WEBHOOK_TOKEN", token),
                ("MESHY_WEBHOOK_SECRET", checked),
            ],
        );
        let log = text(&output);
        assert!(
            !log.contains(sent) && !log.contains(checked),
            "no secret value in the output:\n{log}"
        );
        let recordings = work.path("cassettes/webhooks");
        if passes {
            assert_success(&output);
            let mut files = 0;
            for entry in std::fs::read_dir(&recordings)? {
                let written = std::fs::read_to_string(entry?.path())?;
                assert!(!written.contains(sent), "{written}");
                assert!(
                    written
                        .contains(r#""x-meshy-api-webhook-secret-key": "<MESHY_WEBHOOK_SECRET>""#),
                    "{written}"
                );
                files += 1;
            }
            assert_eq!(files, 1, "one recording, of otter_text3d's task");
        } else {
            assert!(!output.status.success(), "{log}");
            assert!(
                log.contains("and no terminal webhook of it can be taken (none was accepted: the receiver refused ")
                    && log.contains(" in this run for a missing or wrong webhook secret"),
                "the failure names the secret:\n{log}"
            );
            assert!(
                log.contains("was not sent: the webhook receiver refused "),
                "the second scenario is not paid for:\n{log}"
            );
            assert!(
                log.contains("spent: 20 credits (balance 10000 before the run, 9980 after)"),
                "{log}"
            );
            assert!(
                !recordings.exists() || std::fs::read_dir(&recordings)?.next().is_none(),
                "a refused delivery is not stored"
            );
        }
        drop(sim);
    }
    Ok(())
}

/// A rehearsal: `MESHY_BASE_URL` points at a `mesh-toolkit sim`. The plan, the cassette,
/// the report and `cassettes check` say rehearsal with its origin, and never count it as
/// the real API; the cassette still replays with nothing running. (A credential in the
/// URL's user info never reaches `recorded_against`: `cassette::format`'s unit tests; a
/// client cannot send one, as its basic auth would replace the key.)
fn rehearsal_is_labelled() -> Result<(), Failed> {
    let empty = tempfile::tempdir()?;
    let work = Workspace::with_scenarios(empty.path());
    let name = "rehearsal_text3d";
    std::fs::write(
        work.path(&format!("scenarios/{name}.toml")),
        "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"Rehearsed otter\"\ndelivery = \"polling\"\n",
    )?;
    let mut command = crate::support::binary();
    command.args(["sim", "--port", "0", "--task-seconds", "0"]);
    // Killed when dropped, also when an assertion fails first.
    let mut sim = crate::support::Guarded::spawn(command);
    let origin = sim
        .line()
        .strip_prefix("listening on ")
        .ok_or("no listening line")?
        .to_owned();
    let base = format!("{origin}/");
    let key = "msy_functional_rehearsal_key";
    let recording = work.run(
        &["--record-webhooks", "--tunnel=none", name, "--exact"],
        &[("MESHY_BASE_URL", base.as_str()), ("MESHY_API_KEY", key)],
    );
    drop(sim);
    assert_success(&recording);
    let log = text(&recording);
    assert!(
        log.contains(&format!(
            "rehearsing against {origin}, not the real Meshy API; costs count as if paid, in case it forwards to \
             Meshy (balance: 10000 credits):\n  {name}  text3d         20 credits\n  total: 20 credits, \
             leaving 9980\n"
        )) && log.contains(&format!(
            "spent: 20 credits (balance 10000 before the run, 9980 after) at the rehearsal {origin}, not the \
             real Meshy API\n"
        )),
        "{log}"
    );
    assert!(!log.contains(key), "{log}");

    let cassette = std::fs::read_to_string(work.path(&format!("cassettes/http/{name}.yaml")))?;
    assert!(
        cassette.contains(&format!("\nrecorded_against: \"rehearsal {origin}\"\n")),
        "{cassette}"
    );
    assert!(
        cassette.contains("uri: \"https://api.meshy.ai/openapi/v2/text-to-3d\"")
            && cassette.matches(&origin).count() == 1,
        "its URIs are Meshy's; the origin is only in recorded_against: {cassette}"
    );

    let report = std::fs::read_to_string(work.path("target/mesh-toolkit/report/index.html"))?;
    assert!(
        report.contains(
            "<li id=\"credits\">credits represented, at today's prices: <b>0</b> by recordings of the real API; \
             20 by rehearsals against another base URL, not counted as the real API's</li>"
        ),
        "{}",
        report.lines().find(|l| l.contains("id=\"credits\"")).unwrap_or("no credits line")
    );
    assert!(
        report.contains(&format!(
            "<dt>target</dt><dd><span class=\"badge rehearsal\">rehearsal</span> at <code>{origin}</code>, not the \
             real API</dd>"
        )) && report.contains(&format!(
            "last run: passed (recorded against the rehearsal at <code>{origin}</code>)"
        )),
        "the entry says rehearsal, with its origin"
    );

    let mut check = crate::support::binary();
    check
        .current_dir(work.path(""))
        .args(["cassettes", "check"])
        .env("CARGO_TARGET_DIR", work.path("target"))
        .env_remove("MESHY_CASSETTE_MAX_AGE");
    let checked = crate::support::output_within(&mut check, Duration::from_secs(60));
    let log = text(&checked);
    assert_eq!(
        checked.status.code(),
        Some(0),
        "a note, not a problem: {log}"
    );
    assert!(
        log.contains(&format!(
            "note: cassettes/http/{name}.yaml: recorded against a rehearsal ({origin}), not the real Meshy API: \
             its answers are not taken for the real API's shapes, nor its credits for real ones\n  fix: \
             re-record it against the real API (MESHY_BASE_URL unset) before trusting its shapes: `"
        )) && log.contains("1 recording checked: 0 problems, 1 note"),
        "{log}"
    );

    // Its URIs are Meshy's: it replays with nothing running, like any other.
    let replay = work.run(&[name, "--exact"], &[]);
    assert_success(&replay);
    Ok(())
}
