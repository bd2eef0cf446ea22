//! Live progress while recording (`src/progress`), as a user sees it: the harness
//! records `tests/fixtures/progress` (a 1 s task and a 3 s task, so one trial's
//! `test … ok` line arrives while the other's live line is drawn) against the
//! simulator, once in a pseudo-terminal (live lines; libtest's lines whole; the
//! summary after them), once with pipes and once with `CI` set on a terminal (today's
//! plain lines, no escape sequence).

use std::io::Read as _;
use std::os::fd::{FromRawFd as _, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use libtest_mimic::{Failed, Trial};

use crate::support::{output_within, wait_within};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "progress_live_lines_in_a_terminal_keep_libtest_lines_whole",
            live_in_a_terminal,
        ),
        Trial::test(
            "progress_plain_lines_when_stderr_is_a_pipe",
            plain_through_pipes,
        ),
        Trial::test(
            "progress_plain_lines_on_a_terminal_when_ci_is_set",
            plain_on_ci,
        ),
    ]
}

/// How long one recording of the fixture may take.
const RUN_DEADLINE: Duration = Duration::from_secs(120);

/// The pseudo-terminal: tall enough that nothing scrolls off, wide enough for a line.
const ROWS: u16 = 200;
const COLS: u16 = 160;

/// A temporary project holding the fixture's scenarios, and the harness command in it.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        let scenarios = dir.path().join("scenarios");
        std::fs::create_dir_all(&scenarios).unwrap();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/progress");
        for entry in std::fs::read_dir(&fixture).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, scenarios.join(path.file_name().unwrap())).unwrap();
        }
        Project { dir }
    }

    fn record(&self) -> Command {
        let mut command = Command::new(crate::harness::harness_binary());
        command
            .current_dir(self.dir.path())
            .args(["--record-webhooks", "--target=sim"])
            .env("CARGO_TARGET_DIR", self.dir.path().join("target"))
            .env("TERM", "xterm-256color");
        for name in [
            "CI",
            "NEXTEST",
            "NO_COLOR",
            "MESH_TOOLKIT_PROGRESS",
            "MESHY_API_KEY",
            "MESHY_RECORD_MODE",
            "MESHY_RECORD_WEBHOOKS",
            "MESHY_TARGET",
            "MESHY_SIM_TASK_SECONDS",
        ] {
            command.env_remove(name);
        }
        command
    }

    /// The id of the task `scenario` recorded (from its webhook recording's name).
    fn task_id(&self, scenario: &str, species: &str) -> String {
        let webhooks: PathBuf = self.dir.path().join("cassettes/webhooks");
        let prefix = format!("{species}_text3d_");
        let names: Vec<String> = std::fs::read_dir(&webhooks)
            .unwrap_or_else(|e| panic!("{}: {e}", webhooks.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(&prefix) && n.ends_with(".json"))
            .collect();
        let recordings: Vec<serde_json::Value> = names
            .iter()
            .map(|n| serde_json::from_slice(&std::fs::read(webhooks.join(n)).unwrap()).unwrap())
            .filter(|r: &serde_json::Value| r["scenario"] == scenario)
            .collect();
        assert_eq!(recordings.len(), 1, "{scenario}: {names:?}");
        recordings[0]["task_id"].as_str().unwrap().to_owned()
    }
}

/// A child that is killed when dropped (a failing test leaves nothing running).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A pseudo-terminal of [`ROWS`] × [`COLS`]: (master, slave).
fn open_pty() -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    let size = libc::winsize {
        ws_row: ROWS,
        ws_col: COLS,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `openpty` writes two descriptors into the integers given; the name and
    // termios pointers may be null; `size` outlives the call.
    let done = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(done, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened and are owned here only.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

/// Runs `command` with `stdin`/`stderr` (and `stdout`, unless given) on a fresh
/// pseudo-terminal until it exits; everything the terminal received, and the piped
/// stdout when one was asked for.
fn run_on_pty(mut command: Command, stdout_on_pty: bool) -> (bool, Vec<u8>, Vec<u8>) {
    let (master, slave) = open_pty();
    let clone = || Stdio::from(slave.try_clone().expect("dup the pty slave"));
    command.stdin(clone()).stderr(clone());
    if stdout_on_pty {
        command.stdout(clone());
    } else {
        command.stdout(Stdio::piped());
    }
    let mut child = Killed(command.spawn().expect("start the harness"));
    // Only the child holds the slave now: reading the master ends when it exits.
    drop(command);
    drop(slave);
    let (sender, received) = mpsc::channel();
    let mut reader = std::fs::File::from(master);
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let mut buffer = [0u8; 8192];
        // Linux answers EIO once no process holds the slave.
        while let Ok(n) = reader.read(&mut buffer) {
            if n == 0 {
                break;
            }
            bytes.extend_from_slice(&buffer[..n]);
        }
        let _ = sender.send(bytes);
    });
    let piped = child.0.stdout.take().map(|mut pipe| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    });
    let status = wait_within(
        &mut child.0,
        RUN_DEADLINE,
        "the harness to record the fixture",
    );
    let terminal = received
        .recv_timeout(Duration::from_secs(30))
        .expect("the pseudo-terminal did not close within 30 s of the harness's exit");
    let stdout = piped
        .map(|t| t.join().unwrap_or_default())
        .unwrap_or_default();
    (status.success(), terminal, stdout)
}

/// What a terminal of [`ROWS`] × [`COLS`] shows after `bytes`, one string per row.
fn screen(bytes: &[u8]) -> Vec<String> {
    let mut parser = vt100::Parser::new(ROWS, COLS, 0);
    parser.process(bytes);
    parser
        .screen()
        .rows(0, COLS)
        .map(|row| row.trim_end().to_owned())
        .collect()
}

/// `bytes` without ANSI escape sequences, split at newlines and carriage returns:
/// every text that was drawn, redraws included.
fn drawn(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut plain = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // CSI: parameters until a final byte in @..~.
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
        } else {
            plain.push(c);
        }
    }
    plain
        .split(['\n', '\r'])
        .map(|s| s.trim_end().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Words separated by one space: libtest pads names to a common width.
fn words(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn live_in_a_terminal() -> Result<(), Failed> {
    let project = Project::new();
    let (ok, bytes, _) = run_on_pty(project.record(), true);
    let rows = screen(&bytes);
    let shown = rows.join("\n");
    assert!(ok, "the recording failed:\n{shown}");
    let slow = project.task_id("beaver_slow", "beaver");
    let short: String = slow.chars().take(8).collect();

    // The live line: scenario, short task id, bar, status with its %, elapsed,
    // deliveries; and it updated (several percentages).
    let live: Vec<String> = drawn(&bytes)
        .into_iter()
        .filter(|l| l.contains(&format!("beaver_slow {short}… [")))
        .collect();
    let percents: std::collections::BTreeSet<&str> = live
        .iter()
        .filter(|l| l.contains("] IN_PROGRESS ") && l.contains(" deliveries"))
        .filter_map(|l| l.split("IN_PROGRESS ").nth(1)?.split('%').next())
        .collect();
    assert!(
        percents.len() >= 2,
        "no updating live line for beaver_slow; drawn lines:\n{}",
        live.join("\n")
    );

    // libtest's lines, whole, each on its own row; the summary after them.
    let test_row = |kind: &str, name: &str| {
        let expected = format!("test [{kind}] {name} ... ok");
        rows.iter()
            .position(|r| words(r) == expected)
            .unwrap_or_else(|| panic!("no row '{expected}' on the terminal:\n{shown}"))
    };
    let last_test = [
        test_row("webhook", "otter_quick"),
        test_row("webhook", "beaver_slow"),
        test_row("rust", "otter_pipeline_in_rust"),
    ]
    .into_iter()
    .max()
    .unwrap_or_default();
    let result = rows
        .iter()
        .position(|r| r.starts_with("test result: ok. 3 passed; 0 failed"))
        .unwrap_or_else(|| panic!("no test result row:\n{shown}"));
    let summary = rows
        .iter()
        .position(|r| r == "recorded:")
        .unwrap_or_else(|| panic!("no summary table:\n{shown}"));
    assert!(
        last_test < result && result < summary,
        "test lines, then the result, then the summary:\n{shown}"
    );
    assert!(
        rows[summary + 1].starts_with("  scenario") && rows[summary + 2].contains(&slow),
        "{shown}"
    );
    // Each wait leaves its final state; no live line is left over.
    assert!(
        rows.iter().any(
            |r| r.starts_with(&format!("beaver_slow {short}… SUCCEEDED 100% "))
                && r.ends_with(" deliveries: terminal webhook recorded")
        ),
        "no final line for beaver_slow:\n{shown}"
    );
    assert!(
        !rows
            .iter()
            .any(|r| r.contains("] IN_PROGRESS") || r.contains("] PENDING")),
        "a live line was left on the terminal:\n{shown}"
    );
    Ok(())
}

/// Today's plain progress lines of `scenario` in `text`: `beaver_slow 01a2…… IN_PROGRESS 39% 1s`.
fn plain_lines<'a>(text: &'a str, scenario: &str, short: &str) -> Vec<&'a str> {
    let prefix = format!("{scenario} {short}… ");
    text.lines()
        .filter(|l| l.starts_with(&prefix))
        .filter(|l| {
            let rest = &l[prefix.len()..];
            let Some((state, elapsed)) = rest.rsplit_once(' ') else {
                return false;
            };
            let status_ok = state == "PENDING"
                || state
                    .strip_prefix("IN_PROGRESS ")
                    .is_some_and(|p| p.strip_suffix('%').is_some_and(|n| n.parse::<u8>().is_ok()))
                || state == "SUCCEEDED 100%";
            status_ok
                && elapsed
                    .strip_suffix('s')
                    .is_some_and(|n| n.parse::<u64>().is_ok())
        })
        .collect()
}

fn assert_plain(project: &Project, text: &str) {
    assert!(
        !text.contains('\u{1b}'),
        "an escape sequence in plain output:\n{text}"
    );
    assert!(
        !text.contains("deliveries"),
        "a live line in plain output:\n{text}"
    );
    let slow = project.task_id("beaver_slow", "beaver");
    let short: String = slow.chars().take(8).collect();
    let lines = plain_lines(text, "beaver_slow", &short);
    assert!(
        lines.len() >= 3 && lines.iter().any(|l| l.contains(" IN_PROGRESS ")),
        "today's plain progress lines for beaver_slow, one per delivery:\n{text}"
    );
}

fn plain_through_pipes() -> Result<(), Failed> {
    let project = Project::new();
    let output = output_within(&mut project.record(), RUN_DEADLINE);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}{stderr}");
    assert_plain(&project, &stderr);
    assert!(!stdout.contains('\u{1b}'), "{stdout}");
    assert!(stdout.contains("test result: ok. 3 passed"), "{stdout}");
    Ok(())
}

fn plain_on_ci() -> Result<(), Failed> {
    let project = Project::new();
    let mut command = project.record();
    command.env("CI", "true");
    // stderr (and stdin) on the terminal, stdout piped: only progress reaches the terminal.
    let (ok, bytes, stdout) = run_on_pty(command, false);
    let terminal = String::from_utf8_lossy(&bytes).replace("\r\n", "\n");
    assert!(ok, "{terminal}{}", String::from_utf8_lossy(&stdout));
    assert_plain(&project, &terminal);
    Ok(())
}
