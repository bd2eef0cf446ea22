//! The adopting crate of `examples/studio` (a workspace whose member `mygame` runs a
//! scenario suite from its test target `meshy_scenarios`, with mesh-toolkit as its only
//! dev-dependency), used as a team would: its suite recorded against the simulator and
//! replayed from the member and from the workspace root, each kind of command it prints
//! pasted and run (resume after Ctrl-C, re-record, the check's fixes, set aside and
//! record afresh, scrub, the nextest refusal's record and replay, migrate and what it
//! prints next, the report's serve), `mesh-toolkit cassettes check` and `report` run in
//! it. So the way in (docs/own-crate.md) cannot rot.
//!
//! The copy builds into this project's target dir through `build.target-dir` in its
//! `.cargo/config.toml` (only `mygame` and the library build there), with
//! `CARGO_TARGET_DIR` unset: the harness must find that target dir itself, and write
//! nothing into a stray `target/` of the member.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use libtest_mimic::{Failed, Trial};

use crate::support::Guarded;

pub fn trials() -> Vec<Trial> {
    vec![Trial::test(
        "adopting_crate_records_replays_and_runs_every_printed_command_as_pasted",
        adopting_crate,
    )]
}

/// The first build compiles the library for the example (its features differ from the
/// project's own test build): minutes on a cold CI machine.
const BUILD_DEADLINE: Duration = Duration::from_secs(900);

/// A copy of examples/studio in a temporary directory.
struct Studio {
    dir: tempfile::TempDir,
    /// This project's target dir, which the copy builds into.
    target: PathBuf,
    /// `PATH`, with the directory of the cargo-nextest `scripts/test-tools` provisioned
    /// first when it is not on `PATH` already (`cargo nextest` finds it there).
    path: OsString,
}

impl Studio {
    fn new() -> Studio {
        let project = Path::new(env!("CARGO_MANIFEST_DIR"));
        let example = project.join("examples/studio");
        let dir = tempfile::tempdir().expect("a temporary directory");
        copy_tree(&example, &dir.path().join("studio"));
        // The member's path dependency, pointed at this project from the copy.
        let manifest = dir.path().join("studio/mygame/Cargo.toml");
        let text = std::fs::read_to_string(&manifest).expect("mygame's manifest");
        assert!(text.contains("path = \"../../..\""), "{text}");
        let text = text.replace(
            "path = \"../../..\"",
            &format!("path = {:?}", project.display().to_string()),
        );
        std::fs::write(&manifest, text).expect("write mygame's manifest");
        let target = mesh_toolkit::workdir::dir()
            .parent()
            .map(std::path::absolute)
            .expect("the target dir")
            .expect("an absolute target dir");
        let config = dir.path().join("studio/.cargo");
        std::fs::create_dir_all(&config).expect("create .cargo");
        std::fs::write(
            config.join("config.toml"),
            format!("[build]\ntarget-dir = {:?}\n", target.display().to_string()),
        )
        .expect("write .cargo/config.toml");
        let nextest = mesh_toolkit::workdir::test_tool("bin/cargo-nextest", "cargo-nextest");
        let dirs = nextest
            .iter()
            .filter_map(|path| path.parent().map(Path::to_owned));
        let path = std::env::join_paths(dirs.chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )))
        .expect("a PATH");
        Studio { dir, target, path }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("studio")
    }

    fn member(&self) -> PathBuf {
        self.root().join("mygame")
    }

    /// `program args…` in `cwd`, with nothing of the outer run's environment that would
    /// change what it does (the target dir, CI, harness variables), then `env`.
    fn command(&self, cwd: &Path, program: &str, args: &[&str], env: &[(&str, &str)]) -> Command {
        let program = match program {
            "mesh-toolkit" => env!("CARGO_BIN_EXE_mesh-toolkit"),
            other => other,
        };
        let mut command = Command::new(program);
        command
            .current_dir(cwd)
            .args(args)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CI")
            .env_remove("NEXTEST")
            .env("PATH", &self.path);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("MESHY_") {
                command.env_remove(name);
            }
        }
        command
            .env("MESHY_SIM_TASK_SECONDS", "0")
            .envs(env.iter().copied());
        command
    }

    fn run(&self, cwd: &Path, program: &str, args: &[&str], deadline: Duration) -> Output {
        let mut command = self.command(cwd, program, args, &[]);
        crate::support::output_within(&mut command, deadline)
    }

    /// `mesh-toolkit cassettes check` in `cwd`.
    fn check(&self, cwd: &Path) -> Output {
        self.check_with(cwd, &[])
    }

    /// `mesh-toolkit cassettes check ARGS…` in `cwd`.
    fn check_with(&self, cwd: &Path, args: &[&str]) -> Output {
        let args: Vec<&str> = ["cassettes", "check"].iter().chain(args).copied().collect();
        self.run(cwd, "mesh-toolkit", &args, crate::support::EXIT_DEADLINE)
    }

    fn cargo(&self, cwd: &Path, args: &[&str]) -> Output {
        self.run(cwd, "cargo", args, BUILD_DEADLINE)
    }

    /// A printed command, pasted: split on spaces (the commands quote nothing here); a
    /// trailing `  # …` comment is the shell's.
    fn paste(&self, cwd: &Path, command: &str) -> Output {
        self.paste_with(cwd, command, &[])
    }

    /// [`Studio::paste`] with `env` set, as a user's shell may have it; leading
    /// `NAME=value` words set variables, as the shell does.
    fn paste_with(&self, cwd: &Path, command: &str, env: &[(&str, &str)]) -> Output {
        let command = command.split("  #").next().unwrap_or(command).trim();
        assert!(
            !command.contains('\'') && !command.contains('"'),
            "a command to split: {command}"
        );
        let mut words: Vec<&str> = command.split_whitespace().collect();
        let mut env = env.to_vec();
        while let Some((name, value)) = words.first().and_then(|w| w.split_once('=')) {
            env.push((name, value));
            words.remove(0);
        }
        let mut command = self.command(cwd, words[0], &words[1..], &env);
        crate::support::output_within(&mut command, BUILD_DEADLINE)
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a directory of the copy");
    for entry in std::fs::read_dir(from).expect("read the example") {
        let entry = entry.expect("an entry of the example");
        let name = entry.file_name();
        if name == "target" || name == "cassettes" {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).expect("copy a file of the example");
        }
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The command in backticks after `after` in `log`.
fn command_after(log: &str, after: &str) -> String {
    let start = log
        .find(after)
        .unwrap_or_else(|| panic!("no '{after}' in:\n{log}"))
        + after.len();
    let rest = &log[start..];
    let open = rest.find('`').expect("a command in backticks") + 1;
    let close = rest[open..].find('`').expect("the command's end") + open;
    rest[open..close].to_owned()
}

fn assert_success(output: &Output) {
    assert!(output.status.success(), "{}", text(output));
}

fn adopting_crate() -> Result<(), Failed> {
    let studio = Studio::new();
    recorded_through_ctrl_c_and_the_printed_resumes(&studio)?;
    replayed_from_the_root_with_help_naming_the_target(&studio);
    changed_request_rerecorded_as_printed(&studio)?;
    lost_recording_restored_by_the_checks_fix(&studio)?;
    unreadable_cassette_set_aside_and_recorded_afresh(&studio)?;
    leaked_secret_scrubbed_as_printed(&studio)?;
    aged_recording_rewritten_as_printed(&studio)?;
    nextest_refusal_records_and_replays_as_printed(&studio)?;
    the_cli_from_the_workspace_root_names_the_member(&studio)?;
    v1_scenarios_migrated_and_recorded_as_printed(&studio)?;
    report_found_and_served(&studio)?;
    let (root, member) = (studio.root(), studio.member());
    assert!(!member.join("target").exists() && !root.join("target").exists());
    Ok(())
}

/// Recorded from the member against the simulator the harness runs itself, with Ctrl-C
/// once both tasks are created; the replay's and the check's resume commands finish it,
/// pasted from the workspace root and from the member.
fn recorded_through_ctrl_c_and_the_printed_resumes(studio: &Studio) -> Result<(), Failed> {
    let (root, member) = (studio.root(), studio.member());
    let cassette = |name: &str| member.join(format!("cassettes/http/{name}.yaml"));
    let created = |name: &str| {
        crate::resume::create_answered(&std::fs::read_to_string(cassette(name)).unwrap_or_default())
    };
    let command = studio.command(
        &member,
        "cargo",
        &[
            "test",
            "--locked",
            "--test",
            "meshy_scenarios",
            "--",
            "--record-webhooks",
            "--target=sim",
        ],
        // Tasks that outlast the test: Ctrl-C finds both running.
        &[("MESHY_SIM_TASK_SECONDS", "3600")],
    );
    // Ctrl-C in a terminal reaches cargo and the test binary it runs: their group.
    let mut recording = Guarded::spawn_group(command);
    let started = Instant::now();
    while !(created("hero_fox") && created("wolf_polling")) {
        if let Some(status) = recording.child.try_wait()? {
            let (_, log) = recording.finish();
            return Err(format!(
                "the recording ended ({status}) before both tasks were created:\n{log}"
            )
            .into());
        }
        assert!(
            started.elapsed() < BUILD_DEADLINE,
            "both tasks not created within {BUILD_DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, log) = recording.interrupt();
    assert_ne!(code, Some(0), "{log}");
    // The run's own command again, for the package it ran in.
    let rerun = command_after(
        &log,
        "interrupted: nothing was paid (the simulator); record the unfinished scenarios again with ",
    );
    assert_eq!(
        rerun,
        "cargo test -p mygame --test meshy_scenarios -- --record-webhooks --target=sim"
    );
    assert!(!member.join("target").exists() && !root.join("target").exists());

    // The replay names the command that resumes each; pasted from the workspace root.
    let missed = studio.cargo(&member, &["test", "--test", "meshy_scenarios"]);
    assert!(!missed.status.success());
    let resume = command_after(&text(&missed), "recording of 'hero_fox' is incomplete");
    assert_eq!(
        resume,
        "cargo test -p mygame --test meshy_scenarios -- hero_fox --exact --record-webhooks \
         --record-mode=once --target=sim"
    );
    let before = std::time::SystemTime::now();
    let pasted = studio.paste(&root, &resume);
    assert_success(&pasted);
    // Its files went to the target dir cargo built into, not a stray target/.
    let report = studio.target.join("mesh-toolkit/report/index.html");
    assert!(
        std::fs::metadata(&report)?.modified()? >= before,
        "the report was written"
    );
    assert!(
        text(&pasted).contains(&format!(
            "report: {} (open it in a browser; `mesh-toolkit report --serve` serves it on 127.0.0.1)",
            report.display()
        )),
        "{}",
        text(&pasted)
    );
    assert!(std::fs::read_to_string(&report)?.contains("hero_fox"));

    // `cassettes check` names the other one's resume; the rerun Ctrl-C printed records
    // it, as pasted in the member.
    let check = studio.check(&member);
    let log = text(&check);
    assert!(!check.status.success(), "{log}");
    let resume = command_after(&log, "cassettes/http/wolf_polling.yaml: incomplete");
    assert_eq!(
        resume,
        "cargo test -p mygame --test meshy_scenarios -- wolf_polling --exact --record-webhooks \
         --record-mode=once --target=sim"
    );
    assert_success(&studio.paste(&member, &rerun));
    assert_success(&studio.check(&member));
    assert!(cassette("hero_fox").is_file() && cassette("wolf_polling").is_file());
    Ok(())
}

/// Replayed from the workspace root; `--help` names the target that is running.
fn replayed_from_the_root_with_help_naming_the_target(studio: &Studio) {
    let (root, member) = (studio.root(), studio.member());
    let replayed = studio.cargo(
        &root,
        &["test", "-p", "mygame", "--test", "meshy_scenarios"],
    );
    assert_success(&replayed);
    assert!(text(&replayed).contains("test result: ok. 2 passed"));
    let help = studio.cargo(
        &member,
        &["test", "--test", "meshy_scenarios", "--", "--help"],
    );
    assert!(
        text(&help)
            .contains("Usage: cargo test -p mygame --test meshy_scenarios -- [OPTIONS] [FILTER]"),
        "{}",
        text(&help)
    );
}

/// A changed request: the replay's miss names the command that records it, which works
/// as pasted from the workspace root.
fn changed_request_rerecorded_as_printed(studio: &Studio) -> Result<(), Failed> {
    let (root, member) = (studio.root(), studio.member());
    let scenario = member.join("scenarios/hero_fox.toml");
    let changed = std::fs::read_to_string(&scenario)?.replace("stylised", "stylised, smiling");
    std::fs::write(&scenario, changed)?;
    let missed = studio.cargo(&member, &["test", "--test", "meshy_scenarios"]);
    assert!(!missed.status.success());
    let rerecord = command_after(&text(&missed), "to re-record run ");
    assert_eq!(
        rerecord,
        "cargo test -p mygame --test meshy_scenarios -- --record-webhooks --record-mode=new_episodes --target=sim"
    );
    assert_success(&studio.paste(&root, &rerecord));
    assert_success(&studio.cargo(&member, &["test", "--test", "meshy_scenarios"]));
    Ok(())
}

/// `cassettes check` in the member: a scenario's recordings lost; its fix names the
/// target the suite last ran from (and the simulator, as the rest of the suite was
/// recorded), and works as pasted from the workspace root.
fn lost_recording_restored_by_the_checks_fix(studio: &Studio) -> Result<(), Failed> {
    let (root, member) = (studio.root(), studio.member());
    std::fs::remove_file(member.join("cassettes/http/hero_fox.yaml"))?;
    std::fs::remove_dir_all(member.join("cassettes/webhooks"))?;
    let check = studio.check(&member);
    let log = text(&check);
    assert!(!check.status.success(), "{log}");
    assert!(
        log.contains(
            "note: the commands above run `cargo test -p mygame --test meshy_scenarios`, the test target \
             this package's suite last ran from; --test-target NAME names another"
        ),
        "{log}"
    );
    // `once`: only what has no recording, free against the simulator like the rest.
    let fix = command_after(&log, "fix: ");
    assert_eq!(
        fix,
        "cargo test -p mygame --test meshy_scenarios -- hero_fox --exact --record-webhooks \
         --record-mode=once --target=sim"
    );
    assert_success(&studio.paste(&root, &fix));
    assert_success(&studio.check(&member));
    Ok(())
}

/// A cassette broken by hand (a bad merge): the replay and the check both advise
/// setting it aside (kept) and recording afresh, in one command that works as pasted;
/// its webhook recording is the scenario's, not an orphan to delete.
fn unreadable_cassette_set_aside_and_recorded_afresh(studio: &Studio) -> Result<(), Failed> {
    let (root, member) = (studio.root(), studio.member());
    let cassette = member.join("cassettes/http/hero_fox.yaml");
    let broken = std::fs::read_to_string(&cassette)?.replacen(
        "interactions:",
        "<<<<<<< HEAD\ninteractions:",
        1,
    );
    std::fs::write(&cassette, broken)?;
    let missed = studio.cargo(&member, &["test", "--test", "meshy_scenarios"]);
    assert!(!missed.status.success());
    // Absolute paths: it works from the workspace root too.
    let afresh = format!(
        "test ! -e {0}.unreadable && mv {0} {0}.unreadable && cargo test -p mygame --test meshy_scenarios -- hero_fox --exact \
         --record-webhooks --record-mode=once --target=sim",
        cassette.display()
    );
    assert!(
        text(&missed).contains(&format!("`{afresh}`")),
        "{}",
        text(&missed)
    );
    let check = studio.check(&member);
    let log = text(&check);
    assert!(!check.status.success(), "{log}");
    assert!(
        log.contains(&format!(
            "  fix: mend it by hand to keep what it holds, or set it aside and record the trial afresh: `{afresh}`"
        )),
        "{log}"
    );
    assert!(
        log.contains("which cannot be read: it is scenario 'hero_fox''s, not an orphan")
            && !log.contains("fix: delete"),
        "{log}"
    );
    // Pasted as printed, from the workspace root: `mv … && cargo …` is a shell line.
    let pasted = studio.run(&root, "sh", &["-c", &afresh], BUILD_DEADLINE);
    assert_success(&pasted);
    let aside = member.join("cassettes/http/hero_fox.yaml.unreadable");
    let set_aside = std::fs::read(&aside)?;
    let recorded = std::fs::read(&cassette)?;
    // Pasted again (from scrollback): it stops, moving nothing over the file set aside.
    let again = studio.run(&root, "sh", &["-c", &afresh], BUILD_DEADLINE);
    assert!(!again.status.success(), "{}", text(&again));
    assert!(std::fs::read(&aside)? == set_aside && std::fs::read(&cassette)? == recorded);
    // The file set aside keeps the old task's webhook recording with it: nothing to delete.
    let check = studio.check(&member);
    let log = text(&check);
    assert!(check.status.success(), "{log}");
    assert!(
        log.contains(
            "set aside as unreadable: scenario 'hero_fox''s earlier recording, not an orphan"
        ) && !log.contains("delete"),
        "{log}"
    );
    Ok(())
}

/// A webhook recording holding the secret header's value (an older receiver wrote
/// them): the check's scrub command, pasted in the member, mends it in place.
fn leaked_secret_scrubbed_as_printed(studio: &Studio) -> Result<(), Failed> {
    let member = studio.member();
    let placeholder = format!("\"{}\"", mesh_toolkit::secrets::WEBHOOK_SECRET_PLACEHOLDER);
    let leaked = "\"whsec_adopt_leaked_0123456789\"";
    let mut recordings = Vec::new();
    for entry in std::fs::read_dir(member.join("cassettes/webhooks"))? {
        let path = entry?.path();
        let text = std::fs::read_to_string(&path)?;
        if text.contains(&placeholder) {
            std::fs::write(&path, text.replace(&placeholder, leaked))?;
            recordings.push(path);
        }
    }
    assert!(!recordings.is_empty(), "no webhook recording to leak into");
    let check = studio.check(&member);
    let log = text(&check);
    assert!(!check.status.success(), "{log}");
    let scrub = command_after(&log, "holds the value of the secret header");
    assert_eq!(scrub, "mesh-toolkit cassettes scrub");
    assert_success(&studio.paste(&member, &scrub));
    for path in &recordings {
        let text = std::fs::read_to_string(path)?;
        assert!(
            !text.contains(leaked) && text.contains(&placeholder),
            "{}: {text}",
            path.display()
        );
    }
    assert_success(&studio.check(&member));
    Ok(())
}

/// A recording older than `--max-age`: the check's fix records it again (`rewrite`,
/// against the simulator it was recorded against), and works as pasted from the root.
fn aged_recording_rewritten_as_printed(studio: &Studio) -> Result<(), Failed> {
    let (root, member) = (studio.root(), studio.member());
    let cassette = member.join("cassettes/http/wolf_polling.yaml");
    let yaml = std::fs::read_to_string(&cassette)?;
    let at = yaml
        .lines()
        .find(|line| line.starts_with("recorded_at: "))
        .ok_or("no recorded_at")?
        .to_owned();
    let old = "recorded_at: \"2026-01-07T00:00:00.000Z\"";
    std::fs::write(&cassette, yaml.replace(&at, old))?;
    let check = |cwd: &Path| studio.check_with(cwd, &["--max-age", "90d"]);
    let aged = check(&member);
    let log = text(&aged);
    assert!(!aged.status.success(), "{log}");
    let rewrite = command_after(&log, "older than the maximum age of 90d");
    assert_eq!(
        rewrite,
        "cargo test -p mygame --test meshy_scenarios -- wolf_polling --exact --record-webhooks \
         --record-mode=rewrite --target=sim"
    );
    assert_success(&studio.paste(&root, &rewrite));
    assert!(!std::fs::read_to_string(&cassette)?.contains(old));
    assert_success(&check(&member));
    Ok(())
}

/// Recording under cargo-nextest (asked for through the environment, as nextest passes
/// no harness flags) is refused with the two commands that do it; both work as pasted
/// from the workspace root.
fn nextest_refusal_records_and_replays_as_printed(studio: &Studio) -> Result<(), Failed> {
    let root = studio.root();
    // A scenario to record (with everything recorded, `once` replays).
    std::fs::remove_file(studio.member().join("cassettes/http/wolf_polling.yaml"))?;
    let mut nextest = studio.command(
        &root,
        "cargo",
        &[
            "nextest",
            "run",
            "-p",
            "mygame",
            "--test",
            "meshy_scenarios",
            "--color=never",
        ],
        &[("MESHY_RECORD_WEBHOOKS", "1"), ("MESHY_TARGET", "sim")],
    );
    let refused = crate::support::output_within(&mut nextest, BUILD_DEADLINE);
    let log = text(&refused);
    assert!(
        !log.contains("no such command"),
        "cargo-nextest is not installed: {}",
        mesh_toolkit::workdir::TEST_TOOLS_HINT
    );
    assert!(!refused.status.success(), "{log}");
    let record = command_after(&log, "recording is refused under cargo-nextest");
    assert_eq!(
        record,
        "cargo test -p mygame --test meshy_scenarios -- --record-webhooks --target=sim"
    );
    let replay = command_after(&log, "then replay with ");
    assert_eq!(replay, "cargo nextest run -p mygame --test meshy_scenarios");
    assert_success(&studio.paste(&root, &record));
    let replayed = studio.paste(&root, &replay);
    assert_success(&replayed);
    assert!(text(&replayed).contains("2 passed"), "{}", text(&replayed));
    Ok(())
}

/// `cassettes check` run from the workspace root, given the member's directories: its
/// fix names the member's package and test target, with the directories as the test
/// target sees them (its package's, the defaults: left out), and works as pasted there.
fn the_cli_from_the_workspace_root_names_the_member(studio: &Studio) -> Result<(), Failed> {
    let (root, member) = (studio.root(), studio.member());
    std::fs::remove_file(member.join("cassettes/http/wolf_polling.yaml"))?;
    let check = |cwd: &Path| {
        studio.check_with(
            cwd,
            &[
                "--scenarios",
                "mygame/scenarios",
                "--cassettes",
                "mygame/cassettes",
            ],
        )
    };
    let checked = check(&root);
    let log = text(&checked);
    assert!(!checked.status.success(), "{log}");
    let fix = command_after(&log, "scenarios/wolf_polling.toml: has no recording");
    assert_eq!(
        fix,
        "cargo test -p mygame --test meshy_scenarios -- wolf_polling --exact --record-webhooks \
         --record-mode=once --target=sim"
    );
    assert!(
        log.contains("note: the commands above run `cargo test -p mygame --test meshy_scenarios`"),
        "{log}"
    );
    assert_success(&studio.paste(&root, &fix));
    assert_success(&check(&root));
    // The report from there finds the member's trial results (kept apart per member).
    let reported = studio.run(
        &root,
        "mesh-toolkit",
        &[
            "report",
            "--scenarios",
            "mygame/scenarios",
            "--cassettes",
            "mygame/cassettes",
        ],
        crate::support::EXIT_DEADLINE,
    );
    let log = text(&reported);
    assert!(
        reported.status.success() && !log.contains("no trial results"),
        "{log}"
    );
    assert!(studio.target.join("mesh-toolkit/results/mygame").is_dir());
    Ok(())
}

/// Scenarios recorded under Meshy API v1: the check's note names `cassettes migrate`;
/// pasted, it shows the change, and with `--yes` applies it and prints what records the
/// moved scenarios where they were recorded, which works as pasted: one recorded against
/// the simulator records there again; one recorded as a rehearsal (through
/// `MESHY_BASE_URL` at a `mesh-toolkit sim`) at that rehearsal; one whose cassette says
/// the real API gets a rehearsal into a scratch directory, then the real API (pasted
/// with `MESHY_BASE_URL` at that simulator standing in for it).
fn v1_scenarios_migrated_and_recorded_as_printed(studio: &Studio) -> Result<(), Failed> {
    let (root, member) = (studio.root(), studio.member());
    let v1 = |name: &str, species: &str| {
        std::fs::write(
            member.join(format!("scenarios/{name}.toml")),
            format!(
                "api = \"v1\"\nspecies = \"{species}\"\ntask_type = \"text3d\"\nprompt = \"Wise {species}, low poly\"\n\
                 delivery = \"polling\"\n"
            ),
        )
    };
    let cassette =
        |name: &str| std::fs::read_to_string(member.join(format!("cassettes/http/{name}.yaml")));
    let migrate = |what: &str| -> Result<String, Failed> {
        let applied = studio.paste(&member, "mesh-toolkit cassettes migrate --yes");
        let log = text(&applied);
        assert_success(&applied);
        assert!(log.contains("migrated."), "{what}: {log}");
        Ok(log)
    };

    // A new scenario: the replay names the command that records it (free against the
    // simulator, as the suite was recorded), which works as pasted from the root.
    v1("owl_v1", "owl")?;
    let missed = studio.cargo(&member, &["test", "--test", "meshy_scenarios"]);
    assert!(!missed.status.success());
    let record = command_after(&text(&missed), "no cassette 'cassettes/http/owl_v1.yaml'");
    assert_eq!(
        record,
        "cargo test -p mygame --test meshy_scenarios -- owl_v1 --exact --record-webhooks --record-mode=once \
         --target=sim  # the simulator, free; without --target=sim, the real Meshy API: 20 credits"
    );
    assert_success(&studio.paste(&root, &record));
    let check = studio.check(&member);
    let log = text(&check);
    assert!(check.status.success(), "a note, not a problem: {log}");
    let command = command_after(&log, "owl_v1.yaml: recorded with Meshy API v1");
    assert_eq!(command, "mesh-toolkit cassettes migrate");
    let shown = studio.paste(&member, &command);
    let log = text(&shown);
    assert_success(&shown);
    assert!(
        log.contains("-api = \"v1\"\n+api = \"v2\"\n")
            && log.contains("nothing was changed: run it again with --yes"),
        "{log}"
    );
    let log = migrate("recorded against the simulator")?;
    let again = command_after(
        &log,
        "record them where the suite was recorded, the simulator, free",
    );
    assert_eq!(
        again,
        "cargo test -p mygame --test meshy_scenarios -- --record-webhooks --record-mode=once --target=sim"
    );
    assert!(!log.contains("real Meshy API"), "{log}");
    assert_success(&studio.paste(&root, &again));
    let owl = cassette("owl_v1")?;
    assert!(
        owl.contains("/openapi/v2/text-to-3d") && owl.contains("recorded_against: simulator"),
        "{owl}"
    );

    // A rehearsal, recorded through MESHY_BASE_URL at a `mesh-toolkit sim`.
    let sim = studio.command(
        &root,
        "mesh-toolkit",
        &["sim", "--port", "0", "--task-seconds", "0"],
        &[],
    );
    let mut sim = Guarded::spawn(sim);
    let base = sim
        .line()
        .strip_prefix("listening on ")
        .ok_or("no listening line from mesh-toolkit sim")?
        .to_owned();
    // Its key, and no tunnel (only polling scenarios record), as the user's shell has them.
    let shell = [
        ("MESHY_API_KEY", "msy_adopt_rehearsal_key_0001"),
        ("MESHY_TUNNEL", "none"),
    ];
    let rehearse = |name: &str| -> Result<(), Failed> {
        let mut env = shell.to_vec();
        env.push(("MESHY_BASE_URL", base.as_str()));
        let mut command = studio.command(
            &member,
            "cargo",
            &[
                "test",
                "--test",
                "meshy_scenarios",
                "--",
                name,
                "--exact",
                "--record-webhooks",
            ],
            &env,
        );
        assert_success(&crate::support::output_within(&mut command, BUILD_DEADLINE));
        Ok(())
    };
    v1("bear_v1", "bear")?;
    rehearse("bear_v1")?;
    let log = migrate("recorded against a rehearsal")?;
    let again = command_after(
        &log,
        "record them where the suite was recorded, the rehearsal",
    );
    assert_eq!(
        again,
        format!(
            "MESHY_BASE_URL={base} cargo test -p mygame --test meshy_scenarios -- --record-webhooks \
             --record-mode=once  # the rehearsal at {base} it was recorded against, not the real Meshy API"
        )
    );
    let recorded = studio.paste_with(&member, &again, &shell);
    assert_success(&recorded);
    assert!(text(&recorded).contains(&format!("rehearsing against {base}")));
    let bear = cassette("bear_v1")?;
    assert!(
        bear.contains("/openapi/v2/text-to-3d")
            && bear.contains(&format!("recorded_against: \"rehearsal {base}\"")),
        "{bear}"
    );

    // One whose cassette says the real API (recorded as a rehearsal, relabelled).
    v1("elk_v1", "elk")?;
    rehearse("elk_v1")?;
    let elk = member.join("cassettes/http/elk_v1.yaml");
    let text_of_elk = std::fs::read_to_string(&elk)?;
    let label = format!("recorded_against: \"rehearsal {base}\"");
    assert!(text_of_elk.contains(&label), "{text_of_elk}");
    std::fs::write(&elk, text_of_elk.replace(&label, "recorded_against: meshy"))?;
    let log = migrate("recorded against the real API")?;
    let scratch = studio.target.join("mesh-toolkit/migrate-rehearsal");
    let rehearsal = command_after(&log, "rehearse them, free against the simulator");
    assert_eq!(
        rehearsal,
        format!(
            "cargo test -p mygame --test meshy_scenarios -- --record-webhooks --record-mode=all --target=sim \
             --cassettes={}",
            scratch.display()
        )
    );
    let real = command_after(&log, "then record them against the real Meshy API: ");
    assert_eq!(
        real,
        "cargo test -p mygame --test meshy_scenarios -- --record-webhooks --record-mode=once"
    );
    // The scratch directory may hold an earlier run's files: `all` records over them.
    let before = std::time::SystemTime::now();
    assert_success(&studio.paste(&root, &rehearsal));
    assert!(std::fs::metadata(scratch.join("http/elk_v1.yaml"))?.modified()? >= before);
    let mut env = shell.to_vec();
    env.push(("MESHY_BASE_URL", base.as_str()));
    let recorded = studio.paste_with(&member, &real, &env);
    drop(sim);
    assert_success(&recorded);
    assert!(cassette("elk_v1")?.contains("/openapi/v2/text-to-3d"));
    for name in ["owl_v1", "bear_v1", "elk_v1"] {
        assert!(
            member
                .join(format!("cassettes/v1/http/{name}.yaml"))
                .is_file(),
            "{name}"
        );
    }
    let replayed = studio.cargo(
        &root,
        &["test", "-p", "mygame", "--test", "meshy_scenarios"],
    );
    assert_success(&replayed);
    assert!(text(&replayed).contains("5 passed"), "{}", text(&replayed));
    Ok(())
}

/// `mesh-toolkit report` in the member finds the results in the same target dir; the
/// serve command it printed, pasted, serves that page on 127.0.0.1.
fn report_found_and_served(studio: &Studio) -> Result<(), Failed> {
    let member = studio.member();
    let report = studio.target.join("mesh-toolkit/report/index.html");
    let reported = studio.run(
        &member,
        "mesh-toolkit",
        &["report"],
        crate::support::EXIT_DEADLINE,
    );
    let log = text(&reported);
    assert!(reported.status.success(), "{log}");
    assert!(
        log.contains(&format!("report: {}", report.display())),
        "{log}"
    );
    assert!(!log.contains("no trial results"), "{log}");
    let serve = command_after(&log, "open it in a browser; ");
    assert_eq!(serve, "mesh-toolkit report --serve");
    let words: Vec<&str> = serve.split_whitespace().collect();
    let mut server = Guarded::spawn(studio.command(&member, words[0], &words[1..], &[]));
    let line = server.line();
    let (addr, path) = line
        .strip_prefix("serving the report on http://")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|url| url.split_once('/'))
        .unwrap_or_else(|| panic!("unexpected line: {line}"));
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    // The page on disk just before and just after it was served: a report written in
    // between by another process of the studio (it rewrites the page whole) leaves the
    // served page one of the two.
    let before = std::fs::read(&report)?;
    let served = crate::report::http_get(addr, &format!("/{path}"));
    let after = std::fs::read(&report)?;
    assert!(
        served == before || served == after,
        "the served page is the report: {}",
        String::from_utf8_lossy(&served[..served.len().min(120)])
    );
    drop(server);
    // Pasted at the workspace root, where there is no suite to assemble it from: it
    // serves the report the last run wrote.
    let mut server = Guarded::spawn(studio.command(&studio.root(), words[0], &words[1..], &[]));
    let line = server.line();
    let addr = line
        .strip_prefix("serving the report on http://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("unexpected line: {line}"));
    assert_eq!(
        crate::report::http_get(addr, &format!("/{path}")),
        std::fs::read(&report)?,
        "the served page is the report"
    );
    Ok(())
}
