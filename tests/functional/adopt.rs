//! The adopting crate of `examples/studio` (a workspace whose member `mygame` runs a
//! scenario suite from its test target `meshy_scenarios`, with mesh-toolkit as its only
//! dev-dependency), used as a team would: its suite recorded against the simulator and
//! replayed from the member and from the workspace root, each command it prints pasted
//! and run, `mesh-toolkit cassettes check` and `report` run in it. So the way in
//! (docs/own-crate.md) cannot rot.
//!
//! The copy builds into this project's target dir through `build.target-dir` in its
//! `.cargo/config.toml` (only `mygame` and the library build there), with
//! `CARGO_TARGET_DIR` unset: the harness must find that target dir itself, and write
//! nothing into a stray `target/` of the member.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use libtest_mimic::{Failed, Trial};

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
        Studio { dir, target }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("studio")
    }

    fn member(&self) -> PathBuf {
        self.root().join("mygame")
    }

    /// `program args…` in `cwd`, with nothing of the outer run's environment that would
    /// change what it does (the target dir, CI, harness variables).
    fn run(&self, cwd: &Path, program: &str, args: &[&str], deadline: Duration) -> Output {
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
            .env("MESHY_SIM_TASK_SECONDS", "0");
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("MESHY_") && name != "MESHY_SIM_TASK_SECONDS" {
                command.env_remove(name);
            }
        }
        crate::support::output_within(&mut command, deadline)
    }

    /// `mesh-toolkit cassettes check` in `cwd`.
    fn check(&self, cwd: &Path) -> Output {
        self.run(
            cwd,
            "mesh-toolkit",
            &["cassettes", "check"],
            crate::support::EXIT_DEADLINE,
        )
    }

    fn cargo(&self, cwd: &Path, args: &[&str]) -> Output {
        self.run(cwd, "cargo", args, BUILD_DEADLINE)
    }

    /// A printed command, pasted: split on spaces (the commands quote nothing here).
    fn paste(&self, cwd: &Path, command: &str) -> Output {
        let command = command.split("  #").next().unwrap_or(command).trim();
        let words: Vec<&str> = command.split_whitespace().collect();
        assert!(
            !command.contains('\'') && !command.contains('"'),
            "a command to split: {command}"
        );
        self.run(cwd, words[0], &words[1..], BUILD_DEADLINE)
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

fn adopting_crate() -> Result<(), Failed> {
    let studio = Studio::new();
    let (root, member) = (studio.root(), studio.member());

    // Recorded from the member, against the simulator the harness runs itself.
    let recorded = studio.cargo(
        &member,
        &[
            "test",
            "--locked",
            "--test",
            "meshy_scenarios",
            "--",
            "--record-webhooks",
            "--target=sim",
        ],
    );
    let log = text(&recorded);
    assert!(recorded.status.success(), "recording failed:\n{log}");
    assert!(
        member.join("cassettes/http/hero_fox.yaml").is_file(),
        "{log}"
    );
    // Its files went to the target dir cargo built into, not a stray target/.
    let report = studio.target.join("mesh-toolkit/report/index.html");
    assert!(
        log.contains(&format!(
            "report: {} (open it in a browser; `mesh-toolkit report --serve` serves it on 127.0.0.1)",
            report.display()
        )),
        "{log}"
    );
    assert!(!member.join("target").exists() && !root.join("target").exists());
    assert!(std::fs::read_to_string(&report)?.contains("hero_fox"));

    // Replayed from the workspace root.
    let replayed = studio.cargo(
        &root,
        &["test", "-p", "mygame", "--test", "meshy_scenarios"],
    );
    assert!(replayed.status.success(), "{}", text(&replayed));
    assert!(text(&replayed).contains("test result: ok. 2 passed"));

    // --help names the target that is running.
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

    // A changed request: the replay's miss names the command that records it, which works
    // as pasted from the workspace root.
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
    let pasted = studio.paste(&root, &rerecord);
    assert!(pasted.status.success(), "{}", text(&pasted));
    let replayed = studio.cargo(&member, &["test", "--test", "meshy_scenarios"]);
    assert!(replayed.status.success(), "{}", text(&replayed));

    // `cassettes check` in the member: a scenario's recordings lost; its fix names the
    // target the suite last ran from (and the simulator, as the rest of the suite was
    // recorded), and works as pasted.
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
    let fix = command_after(&log, "fix: ");
    assert!(
        fix.starts_with(
            "cargo test -p mygame --test meshy_scenarios -- hero_fox --exact --record-webhooks"
        ),
        "{log}"
    );
    let pasted = studio.paste(&root, &fix);
    assert!(pasted.status.success(), "{}", text(&pasted));
    let clean = studio.check(&member);
    assert!(clean.status.success(), "{}", text(&clean));

    // A cassette broken by hand (a bad merge): the replay and the check both advise
    // setting it aside (kept) and recording afresh, in one command that works as pasted;
    // its webhook recording is the scenario's, not an orphan to delete.
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
        "mv {0} {0}.unreadable && cargo test -p mygame --test meshy_scenarios -- hero_fox --exact \
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
    assert!(pasted.status.success(), "{}", text(&pasted));
    assert!(
        member
            .join("cassettes/http/hero_fox.yaml.unreadable")
            .is_file()
    );
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

    // `mesh-toolkit report` in the member finds the results in the same target dir.
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
    // The serve command it printed, pasted: it serves that page on 127.0.0.1.
    let serve = command_after(&log, "open it in a browser; ");
    assert_eq!(serve, "mesh-toolkit report --serve");
    let mut command = Command::new(env!("CARGO_BIN_EXE_mesh-toolkit"));
    command
        .current_dir(&member)
        .args(serve.split_whitespace().skip(1))
        .env_remove("CARGO_TARGET_DIR");
    let mut server = crate::support::Guarded::spawn(command);
    let line = server.line();
    let (addr, path) = line
        .strip_prefix("serving the report on http://")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|url| url.split_once('/'))
        .unwrap_or_else(|| panic!("unexpected line: {line}"));
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let served = crate::report::http_get(addr, &format!("/{path}"));
    assert_eq!(
        served,
        std::fs::read(&report)?,
        "the served page is the report"
    );
    drop(server);
    assert!(!member.join("target").exists() && !root.join("target").exists());
    Ok(())
}
