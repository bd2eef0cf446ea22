//! The commands the toolkit prints for the user to run next (record, resume, check,
//! report, migrate), built in one place so that each is right in the crate it is printed
//! in: the test target that runs the suite, the package when the crate is a workspace
//! member, the directories when they are not the defaults, and the `mesh-toolkit` binary
//! as the user has it. No command carries a credential: nothing here reads one.
//!
//! [`Invocation`] is how the suite is run; the harness learns it from its own binary
//! ([`Invocation::of_test_binary`]) and leaves it under the target dir for the
//! `mesh-toolkit` binary ([`Invocation::remember`], [`Invocation::of_cli`]).
//! [`Commands`] turns it and the directories into command lines.

use std::path::{Path, PathBuf};

/// How a crate's scenario suite and the `mesh-toolkit` binary are run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Invocation {
    /// The test target that runs the suite (`cargo test --test NAME`).
    pub test_target: String,
    /// The package, when it belongs to a workspace (`cargo test -p NAME`): the command
    /// then works from the workspace root and from any member.
    pub package: Option<String>,
    /// How the `mesh-toolkit` binary is run: `cargo run --` in mesh-toolkit's own
    /// repository, else the installed `mesh-toolkit`.
    pub cli: String,
    /// The package's directory, where cargo runs its test targets: the directories a
    /// command names are made relative to it (absolute outside it), so a command built
    /// by the binary run elsewhere (the workspace root, `--cassettes mygame/cassettes`)
    /// still finds them. `None`: as given.
    #[serde(skip)]
    pub package_dir: Option<PathBuf>,
}

/// The target name of this repository's suite, and what is assumed when nothing says.
pub const DEFAULT_TEST_TARGET: &str = "scenarios";

impl TestTargetSource {
    /// The line the `mesh-toolkit` binary prints under commands it built, saying which
    /// test target they assume; none when `--test-target` named it.
    pub fn note(&self, commands: &Commands) -> Option<String> {
        let cargo_test = commands.cargo_test();
        match self {
            TestTargetSource::Flag | TestTargetSource::NoPackage => None,
            TestTargetSource::LastRun => Some(format!(
                "note: the commands above run `{cargo_test}`, the test target this package's suite last ran \
                 from; --test-target NAME names another"
            )),
            TestTargetSource::Default => Some(format!(
                "note: the commands above run `{cargo_test}`, the default: no run of this package's suite is \
                 recorded under '{}'; --test-target NAME names the target that runs it",
                crate::workdir::dir().display()
            )),
        }
    }
}

/// Where [`Invocation::of_cli`]'s test target came from, for the line that says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestTargetSource {
    /// `--test-target`.
    Flag,
    /// What the last run of the package's suite left under the target dir.
    LastRun,
    /// Nothing said: [`DEFAULT_TEST_TARGET`].
    Default,
    /// No package around the directory: [`DEFAULT_TEST_TARGET`], and nothing to say.
    NoPackage,
}

impl Default for Invocation {
    /// This repository's: `cargo test --test scenarios`, `cargo run --`.
    fn default() -> Invocation {
        Invocation {
            test_target: DEFAULT_TEST_TARGET.to_owned(),
            package: None,
            cli: "cargo run --".to_owned(),
            package_dir: None,
        }
    }
}

impl Invocation {
    /// The suite's, as cargo runs it: `program` is the test binary
    /// (`<target dir>/debug/deps/<target>-<hash>`), `package_dir` the package root
    /// (`CARGO_MANIFEST_DIR`, which cargo sets when it runs a test, else the working
    /// directory). The target's name is the binary's without cargo's hash, as the
    /// package's `Cargo.toml` spells it (a `-` in it is a `_` in the file name).
    pub fn of_test_binary(program: &Path, package_dir: &Path) -> Invocation {
        let package = Package::around(package_dir);
        let file = program
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stem = without_cargo_hash(&file);
        // A `[[test]]` of the manifest, else a test cargo found in `tests/` itself; else
        // not a test target (a unit-test binary): the default.
        let declared = package.as_ref().and_then(|p| {
            p.test_targets
                .iter()
                .find(|name| name.replace('-', "_") == stem)
                .cloned()
        });
        let discovered = || {
            let tests = package_dir.join("tests");
            let stems = [stem.to_owned(), stem.replace('_', "-")];
            stems.into_iter().find(|name| {
                tests.join(format!("{name}.rs")).is_file()
                    || tests.join(name).join("main.rs").is_file()
            })
        };
        let test_target = declared
            .or_else(|| package.is_some().then(discovered).flatten())
            .or_else(|| (stem == DEFAULT_TEST_TARGET).then(|| stem.to_owned()))
            .unwrap_or_else(|| DEFAULT_TEST_TARGET.to_owned());
        Invocation::of_package(package.as_ref(), test_target)
    }

    /// The `mesh-toolkit` binary's, for the suite in `dir` (its scenarios directory, or
    /// where it runs): the package around it, and the test target `flag` names, else the
    /// one its suite last ran from (`remember`), else [`DEFAULT_TEST_TARGET`].
    pub fn of_cli(dir: &Path, flag: Option<&str>) -> (Invocation, TestTargetSource) {
        let package = Package::around(dir);
        let (target, source) = match flag {
            Some(flag) => (flag.to_owned(), TestTargetSource::Flag),
            None => match &package {
                None => (DEFAULT_TEST_TARGET.to_owned(), TestTargetSource::NoPackage),
                Some(package) => match remembered(&package.name) {
                    Some(target) => (target, TestTargetSource::LastRun),
                    None => (DEFAULT_TEST_TARGET.to_owned(), TestTargetSource::Default),
                },
            },
        };
        let mut invocation = Invocation::of_package(package.as_ref(), target);
        // The binary may run elsewhere than the package's directory.
        invocation.package_dir = package.map(|p| p.root);
        (invocation, source)
    }

    fn of_package(package: Option<&Package>, test_target: String) -> Invocation {
        let own = package.is_some_and(|p| p.name == env!("CARGO_PKG_NAME"));
        Invocation {
            test_target,
            package_dir: None,
            package: package.filter(|p| p.in_workspace).map(|p| p.name.clone()),
            cli: if own {
                "cargo run --".to_owned()
            } else {
                "mesh-toolkit".to_owned()
            },
        }
    }

    /// Leaves the test target under the target dir for the `mesh-toolkit` binary run
    /// in the same package (`suites/<package>.json`); written only when it changed.
    /// Best effort: a run that cannot write it still runs.
    pub fn remember(&self, package_dir: &Path) {
        let Some(package) = Package::around(package_dir) else {
            return;
        };
        let path = remembered_path(&package.name);
        let text = format!(
            "{}\n",
            serde_json::json!({ "test_target": self.test_target })
        );
        if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
            return;
        }
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = crate::atomic_file::write(&path, text.as_bytes());
    }
}

fn remembered_path(package: &str) -> PathBuf {
    crate::workdir::dir()
        .join("suites")
        .join(format!("{package}.json"))
}

fn remembered(package: &str) -> Option<String> {
    let text = std::fs::read_to_string(remembered_path(package)).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    let target = value.get("test_target")?.as_str()?;
    (!target.is_empty()
        && target
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)))
    .then(|| target.to_owned())
}

/// `name-0123456789abcdef` → `name`: cargo names a test binary after its target and a
/// hash of 16 hex digits.
fn without_cargo_hash(file: &str) -> &str {
    match file.rsplit_once('-') {
        Some((stem, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            stem
        }
        _ => file,
    }
}

/// The package whose root is `dir` or its nearest ancestor with a `[package]` manifest.
struct Package {
    /// Its directory (where its `Cargo.toml` is).
    root: PathBuf,
    name: String,
    /// Its `[[test]]` targets' names.
    test_targets: Vec<String>,
    /// Its manifest, or one above it, has a `[workspace]` table.
    in_workspace: bool,
}

impl Package {
    fn around(dir: &Path) -> Option<Package> {
        let manifest = |dir: &Path| -> Option<toml::Table> {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .ok()?
                .parse()
                .ok()
        };
        let dir = std::path::absolute(dir).ok()?;
        let (root, table) = dir.ancestors().find_map(|d| {
            manifest(d)
                .filter(|t| t.contains_key("package"))
                .map(|t| (d, t))
        })?;
        let name = table.get("package")?.get("name")?.as_str()?.to_owned();
        let test_targets = table
            .get("test")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| t.get("name")?.as_str().map(str::to_owned))
            .collect();
        let in_workspace = table.contains_key("workspace")
            || root
                .ancestors()
                .skip(1)
                .any(|d| manifest(d).is_some_and(|t| t.contains_key("workspace")));
        Some(Package {
            root: root.to_owned(),
            name,
            test_targets,
            in_workspace,
        })
    }
}

/// The command lines of one suite: its [`Invocation`] and its directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commands {
    pub invocation: Invocation,
    /// The directories for the test target (relative to its package's directory), each
    /// only when it is not the default: (`cassettes` or `scenarios`, the path as a shell
    /// word).
    dirs: Vec<(&'static str, String)>,
    /// The same for the `mesh-toolkit` binary, as given (relative to where it runs).
    cli_dirs: Vec<(&'static str, String)>,
}

/// ` --cassettes=… --scenarios=…` of `dirs`.
fn dir_flags(dirs: &[(&str, String)]) -> String {
    dirs.iter()
        .map(|(name, value)| format!(" --{name}={value}"))
        .collect()
}

impl Default for Commands {
    fn default() -> Commands {
        Commands::new(
            Invocation::default(),
            Path::new("scenarios"),
            Path::new("cassettes"),
        )
    }
}

impl Commands {
    /// The running test binary's, with the default directories: for the SDK's pieces
    /// used outside the suite (a `Recorder`, a `CassetteTransport` of your own).
    /// Worked out once per process.
    pub fn of_this_process() -> &'static Commands {
        static COMMANDS: std::sync::OnceLock<Commands> = std::sync::OnceLock::new();
        COMMANDS.get_or_init(|| {
            let program = std::env::current_exe().unwrap_or_default();
            let package_dir = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| ".".into());
            Commands::new(
                Invocation::of_test_binary(&program, Path::new(&package_dir)),
                Path::new("scenarios"),
                Path::new("cassettes"),
            )
        })
    }

    pub fn new(invocation: Invocation, scenarios: &Path, cassettes: &Path) -> Commands {
        // As the package's test target sees them: relative to its directory.
        let seen = |dir: &Path| -> PathBuf {
            let Some(root) = &invocation.package_dir else {
                return dir.to_owned();
            };
            let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
            match absolute.strip_prefix(root) {
                Ok(inside) if inside.as_os_str().is_empty() => PathBuf::from("."),
                Ok(inside) => inside.to_owned(),
                Err(_) => absolute,
            }
        };
        // Each only when it is not the default.
        let dirs = |scenarios: &Path, cassettes: &Path| {
            [("cassettes", cassettes), ("scenarios", scenarios)]
                .into_iter()
                .filter(|(name, dir)| *dir != Path::new(name))
                .map(|(name, dir)| (name, shell_word(&dir.display().to_string())))
                .collect()
        };
        Commands {
            dirs: dirs(&seen(scenarios), &seen(cassettes)),
            // The binary runs where the user is: the directories as given.
            cli_dirs: dirs(scenarios, cassettes),
            invocation,
        }
    }

    /// `cargo test [-p PACKAGE] --test TARGET -- [SCENARIO --exact] ARGS [DIRS]`: the
    /// suite, or one scenario of it, with the harness's flags `args` (no `--` when
    /// nothing follows it).
    pub fn test(&self, scenario: Option<&str>, args: &str) -> String {
        let mut after = String::new();
        if let Some(scenario) = scenario {
            after.push(' ');
            after.push_str(&shell_word(scenario));
            after.push_str(" --exact");
        }
        if !args.is_empty() {
            after.push(' ');
            after.push_str(args);
        }
        after.push_str(&dir_flags(&self.dirs));
        let mut command = self.cargo_test();
        if !after.is_empty() {
            command.push_str(" --");
            command.push_str(&after);
        }
        command
    }

    /// The command that records `scenario` (or the suite) with `flags` (`--record-mode=…`
    /// and what else the harness needs, after `--record-webhooks`), aimed where the
    /// recording it continues was made (`aim`): the simulator (`--target=sim`, free), a
    /// rehearsal (its `MESHY_BASE_URL` set first, never the real API by default), or the
    /// real Meshy API with `cost` as a shell comment, so the line still runs as pasted
    /// and says what it spends.
    pub fn record(
        &self,
        scenario: Option<&str>,
        flags: &str,
        aim: Aim<'_>,
        cost: impl FnOnce() -> String,
    ) -> String {
        let flags = format!("--record-webhooks {flags}");
        match aim {
            Aim::Simulator => self.test(scenario, &format!("{flags} --target=sim")),
            Aim::Rehearsal(Some(origin)) => format!(
                "MESHY_BASE_URL={} {}  # the rehearsal at {origin} it was recorded against, not the real Meshy API",
                shell_word(origin),
                self.test(scenario, &flags)
            ),
            // No origin on file (an older label): the line runs only with MESHY_BASE_URL
            // set, so it cannot reach the real API as pasted.
            Aim::Rehearsal(None) => format!(
                "{NO_REHEARSAL_URL} {}  # recorded against a rehearsal whose URL is not on file",
                self.test(scenario, &flags)
            ),
            Aim::Meshy => format!(
                "{}  # real Meshy API: {}",
                self.test(scenario, &flags),
                cost()
            ),
        }
    }

    /// The run's own command again, from its harness arguments `args` (as given, after
    /// the program): what `cargo test` passed, so filters and limits stay. `mode`, when
    /// given, replaces the record mode (added when the mode came from MESHY_RECORD_MODE:
    /// a flag wins over it). What the run took from the environment is made explicit, so
    /// the line does the same in a shell that lacks it: `flags` not in `args` are added
    /// (`--record-webhooks`, `--target=sim`), the directories when they are not the
    /// defaults, and `MESHY_BASE_URL` first when `aim` is a rehearsal.
    pub fn rerun(
        &self,
        args: &[String],
        mode: Option<&str>,
        flags: &[&str],
        aim: Aim<'_>,
    ) -> String {
        let mut words = Vec::with_capacity(args.len() + flags.len() + 3);
        let mut moded = false;
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let Some(mode) =
                mode.filter(|_| arg == "--record-mode" || arg.starts_with("--record-mode="))
            else {
                words.push(shell_word(arg));
                continue;
            };
            if arg == "--record-mode" {
                args.next();
            }
            words.push(format!("--record-mode={mode}"));
            moded = true;
        }
        let given = |name: &str| {
            words
                .iter()
                .any(|w| w == name || w.starts_with(&format!("{name}=")))
        };
        let mut added: Vec<String> = Vec::new();
        if let Some(mode) = mode.filter(|_| !moded) {
            added.push(format!("--record-mode={mode}"));
        }
        for flag in flags {
            let name = flag.split('=').next().unwrap_or(flag);
            if !given(name) {
                added.push((*flag).to_owned());
            }
        }
        for (name, value) in &self.dirs {
            if !given(&format!("--{name}")) {
                added.push(format!("--{name}={value}"));
            }
        }
        words.extend(added);
        let mut command = match aim {
            Aim::Rehearsal(Some(origin)) => format!("MESHY_BASE_URL={} ", shell_word(origin)),
            Aim::Rehearsal(None) => format!("{NO_REHEARSAL_URL} "),
            Aim::Simulator | Aim::Meshy => String::new(),
        };
        command.push_str(&self.cargo_test());
        if !words.is_empty() {
            command.push_str(" -- ");
            command.push_str(&words.join(" "));
        }
        command
    }

    /// `cargo test [-p PACKAGE] --test TARGET`: the suite's replay as it is run.
    pub fn cargo_test(&self) -> String {
        let mut command = "cargo test".to_owned();
        if let Some(package) = &self.invocation.package {
            command.push_str(" -p ");
            command.push_str(&shell_word(package));
        }
        command.push_str(" --test ");
        command.push_str(&shell_word(&self.invocation.test_target));
        command
    }

    /// `[DIR VARIABLES] cargo nextest run [-p PACKAGE] --test TARGET`: the suite under
    /// nextest, which takes no harness flags after `--`: the directories go in their
    /// environment variables.
    pub fn nextest_run(&self) -> String {
        let mut command = String::new();
        for (name, value) in &self.dirs {
            command.push_str(&format!("MESHY_{}_DIR={value} ", name.to_ascii_uppercase()));
        }
        command.push_str(
            &self
                .cargo_test()
                .replacen("cargo test", "cargo nextest run", 1),
        );
        command
    }

    /// `mesh-toolkit ARGS [DIRS]` (`cargo run -- …` in mesh-toolkit's repository): a
    /// subcommand of the binary that takes `--cassettes`/`--scenarios`.
    pub fn cli(&self, args: &str) -> String {
        format!(
            "{} {args}{}",
            self.invocation.cli,
            dir_flags(&self.cli_dirs)
        )
    }

    /// The same without the directories: a subcommand that takes other arguments.
    pub fn cli_bare(&self, args: &str) -> String {
        format!("{} {args}", self.invocation.cli)
    }
}

/// A command's prefix for a rehearsal whose URL is not on file: the shell stops with
/// this message unless MESHY_BASE_URL is set, so the line never reaches the real API.
const NO_REHEARSAL_URL: &str =
    "MESHY_BASE_URL=\"${MESHY_BASE_URL:?set it to the rehearsal this was recorded against}\"";

/// Where a command that records aims: where the recording it continues was made
/// (`RecordedAgainst::aim`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aim<'a> {
    /// The simulator the harness runs itself.
    Simulator,
    /// A rehearsal: another base URL, with its origin when on file.
    Rehearsal(Option<&'a str>),
    /// The real Meshy API.
    Meshy,
}

/// The fix for a cassette that cannot be read, as one command that works as pasted from
/// any directory: the file moved aside under a name the suite ignores and no file has yet
/// (`<file>.unreadable`, else `<file>.unreadable-2`, …: kept, it may hold answers Meshy was
/// paid for), then `record`, which records the trial afresh. The name is chosen when the
/// line is printed, so the line first tests that it is still free: pasted twice (or from
/// an older run's output), it stops instead of moving a good file over a set-aside one.
pub fn move_aside_then(path: &Path, record: &str) -> String {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let aside = (1..)
        .map(|n| match n {
            1 => format!("{}.unreadable", path.display()),
            n => format!("{}.unreadable-{n}", path.display()),
        })
        .find(|name| !Path::new(name).exists())
        .unwrap_or_default();
    let aside = shell_word(&aside);
    format!(
        "test ! -e {aside} && mv {} {aside} && {record}",
        shell_word(&path.display().to_string()),
    )
}

/// Whether `name` is a cassette set aside by [`move_aside_then`].
pub fn is_set_aside(name: &str) -> bool {
    name.rsplit_once(".unreadable").is_some_and(|(_, n)| {
        n.is_empty()
            || n.strip_prefix('-')
                .is_some_and(|n| n.parse::<u32>().is_ok())
    })
}

/// `word` as a shell reads it back: unchanged when it holds only safe characters, else
/// single-quoted.
pub(crate) fn shell_word(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_./:@%+=,-".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn the_test_target_is_the_binary_s_without_cargo_s_hash_as_the_manifest_spells_it() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join("Cargo.toml"),
            "[package]\nname = \"mygame\"\n\n[[test]]\nname = \"meshy-scenarios\"\nharness = false\n",
        );
        let of = |program: &str| Invocation::of_test_binary(Path::new(program), dir.path());
        let invocation = of("/w/target/debug/deps/meshy_scenarios-0123456789abcdef");
        assert_eq!(invocation.test_target, "meshy-scenarios");
        assert_eq!(invocation.package, None, "a lone package needs no -p");
        assert_eq!(invocation.cli, "mesh-toolkit");
        // Not cargo's hash: kept whole; a test cargo found in tests/ is named by its file.
        write(&dir.path().join("tests/my_suite-v2.rs"), "");
        assert_eq!(of("/w/t/debug/deps/my_suite-v2").test_target, "my_suite-v2");
        write(&dir.path().join("tests/smoke/main.rs"), "");
        assert_eq!(
            of("/w/t/debug/deps/smoke-0123456789abcdef").test_target,
            "smoke"
        );
        // Not a test target (the lib's unit tests): what the suite is assumed to be.
        assert_eq!(
            of("/w/t/debug/deps/mygame-0123456789abcdef").test_target,
            "scenarios"
        );
    }

    #[test]
    fn a_record_command_aims_where_its_recording_was_made() {
        let commands = Commands::default();
        let record = |aim| {
            commands.record(Some("fox"), "--record-mode=once", aim, || {
                "20 credits".into()
            })
        };
        let base =
            "cargo test --test scenarios -- fox --exact --record-webhooks --record-mode=once";
        assert_eq!(record(Aim::Simulator), format!("{base} --target=sim"));
        assert_eq!(
            record(Aim::Meshy),
            format!("{base}  # real Meshy API: 20 credits")
        );
        // A rehearsal's commands go back to it, never to the real API by default.
        assert_eq!(
            record(Aim::Rehearsal(Some("http://127.0.0.1:9000"))),
            format!(
                "MESHY_BASE_URL=http://127.0.0.1:9000 {base}  # the rehearsal at http://127.0.0.1:9000 it was \
                 recorded against, not the real Meshy API"
            )
        );
        // Its URL not on file: a line the shell refuses (`<` reads a file that is not there).
        assert!(
            record(Aim::Rehearsal(None)).starts_with(
                "MESHY_BASE_URL=\"${MESHY_BASE_URL:?set it to the rehearsal this was recorded against}\" cargo test"
            )
        );
        // As a shell reads it: without MESHY_BASE_URL it stops before running anything.
        let line = record(Aim::Rehearsal(None)).replace("cargo test", "echo ran");
        let run = |base: Option<&str>| {
            let mut shell = std::process::Command::new("sh");
            shell.args(["-c", &line]).env_remove("MESHY_BASE_URL");
            if let Some(base) = base {
                shell.env("MESHY_BASE_URL", base);
            }
            shell.output().expect("run sh")
        };
        let refused = run(None);
        assert!(
            !refused.status.success() && refused.stdout.is_empty(),
            "{refused:?}"
        );
        assert!(run(Some("http://127.0.0.1:9000")).status.success());
    }

    #[test]
    fn the_rerun_after_ctrl_c_keeps_the_run_s_arguments_and_records_nothing_finished_again() {
        let commands = Commands::default();
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let typed = args(&[
            "fox",
            "--record-webhooks",
            "--max-credits=40",
            "--target=sim",
        ]);
        assert_eq!(
            commands.rerun(
                &typed,
                None,
                &["--record-webhooks", "--target=sim"],
                Aim::Simulator
            ),
            "cargo test --test scenarios -- fox --record-webhooks --max-credits=40 --target=sim"
        );
        let once = Some("once");
        assert_eq!(
            commands.rerun(
                &args(&["--record-webhooks", "--record-mode=rewrite"]),
                once,
                &[],
                Aim::Meshy
            ),
            "cargo test --test scenarios -- --record-webhooks --record-mode=once"
        );
        assert_eq!(
            commands.rerun(
                &args(&["--record-mode", "all", "--record-webhooks"]),
                once,
                &[],
                Aim::Meshy
            ),
            "cargo test --test scenarios -- --record-mode=once --record-webhooks"
        );
        // What came from the environment (MESHY_RECORD_MODE, MESHY_RECORD_WEBHOOKS,
        // MESHY_TARGET, the directories, MESHY_BASE_URL) is spelt out: a flag wins over
        // a variable, and the shell the line is pasted in may lack them.
        let from_env = Commands::new(
            Invocation::default(),
            Path::new("scenarios"),
            Path::new("alt"),
        );
        assert_eq!(
            from_env.rerun(
                &args(&["fox"]),
                once,
                &["--record-webhooks", "--target=sim"],
                Aim::Simulator
            ),
            "cargo test --test scenarios -- fox --record-mode=once --record-webhooks --target=sim --cassettes=alt"
        );
        assert_eq!(
            from_env.rerun(
                &args(&["--cassettes=alt", "--record-webhooks"]),
                None,
                &["--record-webhooks"],
                Aim::Rehearsal(Some("http://127.0.0.1:9000"))
            ),
            "MESHY_BASE_URL=http://127.0.0.1:9000 cargo test --test scenarios -- --cassettes=alt --record-webhooks"
        );
        assert_eq!(
            commands.rerun(&args(&["a b"]), None, &[], Aim::Meshy),
            "cargo test --test scenarios -- 'a b'"
        );
    }

    #[test]
    fn directories_are_named_as_the_package_s_test_target_sees_them() {
        let invocation = Invocation {
            package: Some("mygame".into()),
            package_dir: Some("/w/mygame".into()),
            ..Invocation::default()
        };
        let commands = |scenarios: &str, cassettes: &str| {
            Commands::new(
                invocation.clone(),
                Path::new(scenarios),
                Path::new(cassettes),
            )
            .test(None, "")
        };
        // Given from the workspace root: the package's own, so the defaults.
        assert_eq!(
            commands("/w/mygame/scenarios", "/w/mygame/cassettes"),
            "cargo test -p mygame --test scenarios"
        );
        assert_eq!(
            commands("/w/mygame/suite/s", "/elsewhere/c"),
            "cargo test -p mygame --test scenarios -- --cassettes=/elsewhere/c --scenarios=suite/s"
        );
        // The binary runs where the user is: its own commands keep the directories as
        // given.
        let given = Commands::new(
            invocation.clone(),
            Path::new("mygame/scenarios"),
            Path::new("mygame/cassettes"),
        );
        assert_eq!(
            given.cli("cassettes migrate"),
            "cargo run -- cassettes migrate --cassettes=mygame/cassettes --scenarios=mygame/scenarios"
        );
    }

    #[test]
    fn setting_aside_never_overwrites_an_earlier_set_aside_file() {
        let dir = tempfile::tempdir().unwrap();
        let cassette = dir.path().join("fox.yaml");
        write(&cassette, "broken");
        let first = move_aside_then(&cassette, "record");
        let path = cassette.display().to_string();
        assert_eq!(
            first,
            format!("test ! -e {path}.unreadable && mv {path} {path}.unreadable && record")
        );
        write(&dir.path().join("fox.yaml.unreadable"), "broken before");
        assert_eq!(
            move_aside_then(&cassette, "record"),
            format!("test ! -e {path}.unreadable-2 && mv {path} {path}.unreadable-2 && record")
        );
        assert!(is_set_aside("fox.yaml.unreadable") && is_set_aside("fox.yaml.unreadable-2"));
        assert!(!is_set_aside("fox.yaml") && !is_set_aside("fox.yaml.unreadable-x"));
    }

    #[test]
    fn under_nextest_the_directories_go_in_their_variables() {
        let commands = Commands::new(Invocation::default(), Path::new("s dir"), Path::new("c"));
        assert_eq!(
            commands.nextest_run(),
            "MESHY_CASSETTES_DIR=c MESHY_SCENARIOS_DIR='s dir' cargo nextest run --test scenarios"
        );
        assert_eq!(
            Commands::default().nextest_run(),
            "cargo nextest run --test scenarios"
        );
    }

    #[test]
    fn a_workspace_member_s_commands_name_its_package_and_mesh_toolkit_s_own_use_cargo_run() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join("Cargo.toml"),
            "[workspace]\nmembers = [\"mygame\"]\nresolver = \"3\"\n",
        );
        let member = dir.path().join("mygame");
        write(
            &member.join("Cargo.toml"),
            "[package]\nname = \"mygame\"\n[[test]]\nname = \"meshy_scenarios\"\nharness = false\n",
        );
        let invocation = Invocation::of_test_binary(
            Path::new("/t/debug/deps/meshy_scenarios-00112233445566aa"),
            &member.join("src"),
        );
        assert_eq!(invocation.package.as_deref(), Some("mygame"));
        let commands = Commands::new(invocation, Path::new("scenarios"), Path::new("rec dir"));
        assert_eq!(
            commands.test(Some("hero_fox"), "--record-webhooks"),
            "cargo test -p mygame --test meshy_scenarios -- hero_fox --exact --record-webhooks --cassettes='rec dir'"
        );
        assert_eq!(
            commands.cli("cassettes check"),
            "mesh-toolkit cassettes check --cassettes='rec dir'"
        );
        // This repository: no workspace, `cargo run --`.
        let own = Invocation::of_test_binary(
            Path::new("scenarios"),
            Path::new(env!("CARGO_MANIFEST_DIR")),
        );
        assert_eq!(own, Invocation::default());
        assert_eq!(
            Commands::default().test(None, "--record-webhooks"),
            "cargo test --test scenarios -- --record-webhooks"
        );
    }
}
