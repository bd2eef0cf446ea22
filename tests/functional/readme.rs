//! The README's quick start, run as printed, so the front page cannot rot (issue 23).
//!
//! The steps are read from README.md itself: the fenced blocks whose info string holds
//! `quick-start`, in order. `sh quick-start` lines are commands that must succeed (`fails`:
//! must fail, and the following `text quick-start output` block is the output it shows);
//! `toml quick-start file=PATH` is a file to write, `edit=PATH` lines that replace the lines
//! with the same key; `sh quick-start printed` is the command the failure before it printed,
//! and is run too. Editing the README's quick start changes what this test runs.
//!
//! The commands run in the checkout itself (the same target dir, so nothing is built twice
//! and no second copy of the crate shares it), with `--scenarios` and `--cassettes` pointing
//! at a temporary copy of the shipped suite. Each `cargo` runs in its own process group,
//! which the test kills if it outlives its deadline or the test fails.
//!
//! It also checks that the README's SDK example is an excerpt of the compiled
//! `examples/task_service.rs`.

use std::io::Read;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use libtest_mimic::{Failed, Trial};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test("readme_quick_start_runs_as_printed", quick_start),
        Trial::test(
            "readme_quick_start_blocks_are_read_as_marked",
            blocks_are_read,
        ),
        Trial::test(
            "readme_output_lines_match_with_ellipses_as_wildcards",
            ellipses_match,
        ),
        Trial::test("readme_sdk_example_is_the_compiled_example", sdk_example),
    ]
}

/// How long building what plain `cargo test` builds may take (a cold build on a busy
/// 2-core machine), and how long each quick-start command may take once built.
const BUILD_DEADLINE: Duration = Duration::from_secs(1200);
const COMMAND_DEADLINE: Duration = Duration::from_secs(300);

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One step of the quick start, as the README marks it.
#[derive(Debug, PartialEq)]
enum Step {
    /// A command; `fails` when the README shows it failing.
    Run { command: String, fails: bool },
    /// The command the failure before printed, run as the README says.
    Printed { command: String },
    /// A file to write, relative to the project root.
    Write { path: String, text: String },
    /// `key = value` lines replacing the lines of the same key in a file.
    Edit { path: String, lines: Vec<String> },
    /// What the failure before printed: consecutive lines, `…` matching anything.
    Output { lines: Vec<String> },
}

/// The steps of the fenced blocks whose info string holds `quick-start`, in order.
fn steps(markdown: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let mut lines = markdown.lines().enumerate();
    while let Some((number, line)) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let words: Vec<&str> = info.split_whitespace().collect();
        let mut body = Vec::new();
        for (_, line) in lines.by_ref() {
            if line.starts_with("```") {
                break;
            }
            body.push(line.to_owned());
        }
        if !words.contains(&"quick-start") {
            continue;
        }
        let at = format!("README.md line {}", number + 1);
        let path = |key: &str| {
            words
                .iter()
                .find_map(|word| word.strip_prefix(key))
                .map(str::to_owned)
        };
        match words.first().copied() {
            Some("sh") => {
                let commands = body
                    .iter()
                    .map(|line| line.split(" #").next().unwrap_or("").trim())
                    .filter(|line| !line.is_empty());
                for command in commands {
                    let command = command.to_owned();
                    steps.push(if words.contains(&"printed") {
                        Step::Printed { command }
                    } else {
                        Step::Run {
                            command,
                            fails: words.contains(&"fails"),
                        }
                    });
                }
            }
            Some("toml") => match (path("file="), path("edit=")) {
                (Some(path), None) => steps.push(Step::Write {
                    path,
                    text: body.join("\n") + "\n",
                }),
                (None, Some(path)) => steps.push(Step::Edit { path, lines: body }),
                _ => {
                    return Err(format!(
                        "{at}: a toml quick-start block needs file= or edit="
                    ));
                }
            },
            Some("text") => steps.push(Step::Output { lines: body }),
            other => return Err(format!("{at}: no quick-start step for a {other:?} block")),
        }
    }
    Ok(steps)
}

/// Whether `line` matches `pattern`, where each `…` in the pattern matches any text.
fn matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split('…').collect();
    let (first, rest) = parts.split_first().expect("split yields one part at least");
    let Some(mut remaining) = line.strip_prefix(first) else {
        return false;
    };
    for (index, part) in rest.iter().enumerate() {
        let last = index + 1 == rest.len();
        if last {
            return part.is_empty() || remaining.ends_with(part);
        }
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.is_empty()
}

/// Whether `wanted` occurs as consecutive lines of `output`.
fn shows(output: &str, wanted: &[String]) -> bool {
    let lines: Vec<&str> = output.lines().collect();
    !wanted.is_empty()
        && lines.windows(wanted.len()).any(|window| {
            window
                .iter()
                .zip(wanted)
                .all(|(line, pattern)| matches(pattern, line))
        })
}

/// A temporary copy of the shipped suite, and what the quick start's commands need to
/// find it.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for name in ["scenarios", "cassettes"] {
            crate::harness::copy_tree(&root.join(name), &dir.path().join(name));
        }
        Project { dir }
    }

    fn scenarios(&self) -> PathBuf {
        self.dir.path().join("scenarios")
    }

    fn cassettes(&self) -> PathBuf {
        self.dir.path().join("cassettes")
    }

    /// A path the README gives relative to the project root, in the temporary copy.
    fn file(&self, path: &str) -> Result<PathBuf, String> {
        match path.split_once('/') {
            Some(("scenarios" | "cassettes", rest)) if !rest.contains("..") => {
                Ok(self.dir.path().join(path))
            }
            _ => Err(format!(
                "the quick start may write only under scenarios/ or cassettes/, not '{path}'"
            )),
        }
    }

    /// `command` as the README prints it, with the temporary directories added after
    /// its `--`, as a `cargo` command run from the checkout.
    fn cargo(&self, command: &str) -> Result<Command, String> {
        if command.contains(['\'', '"', '\\', '$', '`', '|', '&', ';']) {
            return Err(format!(
                "`{command}`: this test splits quick-start commands on spaces; keep them free of \
                 quotes and shell syntax"
            ));
        }
        let words: Vec<&str> = command.split_whitespace().collect();
        if words.get(..2) != Some(&["cargo", "test"]) {
            return Err(format!(
                "`{command}`: this test runs `cargo test` commands only; teach it the new one"
            ));
        }
        let mut args: Vec<String> = words[1..].iter().map(|w| (*w).to_owned()).collect();
        if !args.iter().any(|arg| arg == "--") {
            args.push("--".into());
        }
        args.push(format!("--scenarios={}", self.scenarios().display()));
        args.push(format!("--cassettes={}", self.cassettes().display()));
        Ok(cargo(&args))
    }

    /// The output with the temporary directories written as the README writes them.
    fn as_printed(&self, output: &str) -> String {
        output
            .replace(&self.scenarios().display().to_string(), "scenarios")
            .replace(&self.cassettes().display().to_string(), "cassettes")
    }
}

/// `cargo ARGS` from the checkout, in the environment of a user's shell: none of the
/// harness's variables, not on CI.
fn cargo(args: &[String]) -> Command {
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo.args(args).current_dir(env!("CARGO_MANIFEST_DIR"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("MESHY_") || name.starts_with("MESH_TOOLKIT_") {
            cargo.env_remove(name);
        }
    }
    cargo.env_remove("CI").env_remove("NEXTEST");
    cargo
}

/// Results the harness keeps for a suite whose cassettes are not `./cassettes`: removed
/// when the test ends, passed or not.
struct ResultsDir(PathBuf);

impl Drop for ResultsDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child in its own process group, so that the harness binary cargo starts goes too.
struct Group(Child);

impl Group {
    fn kill(&mut self) {
        // The group's id is the child's pid (`process_group(0)`).
        let group = -(self.0.id() as libc::pid_t);
        // SAFETY: kill(2) with a negative pid signals that process group and touches no
        // memory of ours.
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}

/// Runs `command` to its end within `deadline`; its exit code and stdout + stderr.
fn run(mut command: Command, deadline: Duration) -> (Option<i32>, String) {
    let what = format!("{command:?}");
    let child = command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {what}: {e}"));
    let mut group = Group(child);
    let read = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = read(group.0.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read(group.0.stderr.take().map(|p| Box::new(p) as _));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = group.0.try_wait().expect("wait for cargo") {
            break status;
        }
        if started.elapsed() > deadline {
            group.kill();
            panic!("{what} did not end within {deadline:?}; killed its process group");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = format!(
        "{}{}",
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default()
    );
    (status.code(), text)
}

fn quick_start() -> Result<(), Failed> {
    let steps = steps(&readme())?;
    if !steps.iter().any(|step| matches!(step, Step::Run { .. })) {
        return Err("README.md has no `sh quick-start` block: nothing to check".into());
    }
    let project = Project::new();
    let _results = ResultsDir(mesh_toolkit::report::results::dir_for(
        &mesh_toolkit::report::results::default_dir(),
        &project.cassettes(),
        &Default::default(),
    ));
    // Build first what plain `cargo test` builds, so that each command's own deadline
    // measures the command, not a cold build.
    let build = cargo(&["test".into(), "--no-run".into()]);
    let (code, output) = run(build, BUILD_DEADLINE);
    if code != Some(0) {
        return Err(format!("cargo test --no-run failed:\n{output}").into());
    }

    let mut failure: Option<(String, String)> = None;
    for step in &steps {
        match step {
            Step::Run { command, fails } => {
                let (code, output) = run(project.cargo(command)?, COMMAND_DEADLINE);
                let output = project.as_printed(&output);
                match (code == Some(0), fails) {
                    (true, false) => {}
                    (false, true) => failure = Some((command.clone(), output)),
                    (true, true) => {
                        return Err(format!(
                            "the README shows `{command}` failing, but it passed:\n{output}"
                        )
                        .into());
                    }
                    (false, false) => {
                        return Err(format!(
                            "`{command}` from the README's quick start failed ({code:?}):\n{output}"
                        )
                        .into());
                    }
                }
            }
            Step::Output { lines } => {
                let (command, output) = failure
                    .as_ref()
                    .ok_or("a quick-start output block with no failing command before it")?;
                if !shows(output, lines) {
                    return Err(format!(
                        "`{command}` no longer prints what the README shows:\n{}\n\nit printed:\n{output}",
                        lines.join("\n")
                    )
                    .into());
                }
            }
            Step::Printed { command } => {
                let (failed, output) = failure
                    .as_ref()
                    .ok_or("a printed command with no failing command before it")?;
                let printed = printed_commands(output);
                if !printed.contains(command) {
                    return Err(format!(
                        "the README says `{failed}` prints `{command}`; it printed {printed:?}:\n{output}"
                    )
                    .into());
                }
                let (code, output) = run(project.cargo(command)?, COMMAND_DEADLINE);
                if code != Some(0) {
                    return Err(format!(
                        "`{command}`, printed by a failure, failed ({code:?}):\n{}",
                        project.as_printed(&output)
                    )
                    .into());
                }
            }
            Step::Write { path, text } => std::fs::write(project.file(path)?, text)?,
            Step::Edit { path, lines } => {
                let file = project.file(path)?;
                let mut text = std::fs::read_to_string(&file)?;
                for line in lines {
                    let key = line.split('=').next().unwrap_or("").trim();
                    let old = text
                        .lines()
                        .find(|old| old.split('=').next().is_some_and(|k| k.trim() == key))
                        .ok_or_else(|| format!("'{path}' has no line '{key} = …' to edit"))?
                        .to_owned();
                    text = text.replacen(&old, line, 1);
                }
                std::fs::write(&file, text)?;
            }
        }
    }
    Ok(())
}

/// The `cargo test …` commands quoted in backticks in `output`, without the directory
/// flags a run with other directories adds (the README runs with the defaults).
fn printed_commands(output: &str) -> Vec<String> {
    output
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|quoted| quoted.starts_with("cargo test"))
        .map(|quoted| {
            let command = quoted.split("  #").next().unwrap_or(quoted);
            command
                .split_whitespace()
                .filter(|word| *word != "--scenarios=scenarios" && *word != "--cassettes=cassettes")
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn blocks_are_read() -> Result<(), Failed> {
    let markdown = "\
text
```sh quick-start
cargo test   # replay
```
```sh
cargo test -- --not-a-step
```
```toml quick-start file=scenarios/a.toml
species = \"a\"
```
```toml quick-start edit=scenarios/a.toml
species = \"b\"
```
```sh quick-start fails
cargo test
```
```text quick-start output
failed …
```
```sh quick-start printed
cargo test --test scenarios -- --record-webhooks
```
";
    assert_eq!(
        steps(markdown)?,
        vec![
            Step::Run {
                command: "cargo test".into(),
                fails: false
            },
            Step::Write {
                path: "scenarios/a.toml".into(),
                text: "species = \"a\"\n".into()
            },
            Step::Edit {
                path: "scenarios/a.toml".into(),
                lines: vec!["species = \"b\"".into()]
            },
            Step::Run {
                command: "cargo test".into(),
                fails: true
            },
            Step::Output {
                lines: vec!["failed …".into()]
            },
            Step::Printed {
                command: "cargo test --test scenarios -- --record-webhooks".into()
            },
        ]
    );
    assert_eq!(
        steps("```toml quick-start\nx = 1\n```\n"),
        Err("README.md line 1: a toml quick-start block needs file= or edit=".into())
    );
    let project = Project::new();
    assert_eq!(
        project.cargo("cargo run -- sim").err(),
        Some(
            "`cargo run -- sim`: this test runs `cargo test` commands only; teach it the new one"
                .into()
        )
    );
    assert!(project.file("src/lib.rs").is_err());
    assert!(project.file("scenarios/../../x").is_err());
    assert_eq!(
        printed_commands(
            "record it with `cargo test --test scenarios -- x --exact --cassettes=cassettes  # free`"
        ),
        vec!["cargo test --test scenarios -- x --exact".to_owned()]
    );
    Ok(())
}

fn ellipses_match() -> Result<(), Failed> {
    assert!(matches(
        "GET https://a/…/model.glb?…",
        "GET https://a/tasks/1/model.glb?x=1"
    ));
    assert!(matches(
        "cassette 'x' has no recording of POST https://api…",
        "cassette 'x' has no recording of POST https://api.meshy.ai/v2"
    ));
    assert!(matches("plain", "plain"));
    assert!(!matches("plain", "plain and more"));
    assert!(!matches("GET …/model.glb", "GET /a/model.gltf"));
    let output = "one\ntwo three\nfour\n";
    assert!(shows(output, &["two …".into(), "four".into()]));
    assert!(!shows(output, &["one".into(), "four".into()]));
    Ok(())
}

/// The README's SDK example, line by line, in order, in `examples/task_service.rs`
/// (which cargo compiles): it cannot show code that does not build.
fn sdk_example() -> Result<(), Failed> {
    let readme = readme();
    let marker = "```rust excerpt=";
    let start = readme
        .find(marker)
        .ok_or("README.md has no ```rust excerpt= block")?;
    let rest = &readme[start + marker.len()..];
    let (path, rest) = rest.split_once('\n').ok_or("an unfinished excerpt block")?;
    let block = &rest[..rest.find("```").ok_or("an unclosed excerpt block")?];
    let source_path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path.trim());
    let source = std::fs::read_to_string(&source_path)
        .map_err(|e| format!("{}: {e}", source_path.display()))?;
    let mut source_lines = source.lines().map(str::trim);
    for line in block.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !source_lines.any(|s| s == line) {
            return Err(format!(
                "the README's SDK example line `{line}` is not (in this order) in {path}: \
                 copy the example from the file"
            )
            .into());
        }
    }
    Ok(())
}
