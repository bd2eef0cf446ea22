//! A suite whose report shows every way a trial ends: shared by the functional tests
//! (`tests/functional/report.rs`, the HTML checked structurally) and the browser check
//! (`tests/browser`), which include this file with `#[path]`.
//!
//! Three text3d webhook scenarios recorded with `--target=meshy` against a
//! `mesh-toolkit sim` child standing in for api.meshy.ai (`MESHY_BASE_URL`, its
//! dashboard webhook pointing at the harness's receiver):
//! - `otter_resumed`: its first run times out (`--webhook-timeout=1` against 3 s
//!   tasks), leaving its journal unfinished; the second run resumes its task: passed.
//! - `otter_doomed`: the same, but the simulator fails its task: failed.
//! - `otter_sim_only`: asks for a simulator outcome, so against the real API it is
//!   ignored (and never recorded).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const KEY: &str = "msy_report_fixture_key_1234";
const TOKEN: &str = "reportfixturetoken0123456789";
/// A harness run or the simulator's start that takes longer fails the fixture.
const DEADLINE: Duration = Duration::from_secs(180);

/// The fixture's project directory (removed on drop).
pub struct Fixture {
    pub dir: tempfile::TempDir,
    /// What the two harness runs printed.
    pub logs: [String; 2],
}

impl Fixture {
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// The report the second run wrote.
    pub fn report(&self) -> PathBuf {
        self.path("target/mesh-toolkit/report/index.html")
    }
}

/// A child process killed and reaped on drop, also when the fixture fails.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Records the fixture with `harness` (the `scenarios` test binary) and the
/// `mesh-toolkit` binary `toolkit`, and returns it with its report written.
pub fn build(harness: &Path, toolkit: &Path) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let scenarios = dir.path().join("scenarios");
    std::fs::create_dir_all(&scenarios).unwrap();
    let files = [
        (
            "otter_resumed",
            "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"Otter that waits for its model\"\n",
        ),
        (
            "otter_doomed",
            "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"Doomed otter\"\n",
        ),
        (
            "otter_sim_only",
            "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"Otter the API cannot fail on request\"\n\n\
             [simulator]\noutcome = \"failed\"\n\n[expect]\nstatus = \"FAILED\"\n",
        ),
    ];
    for (name, toml) in files {
        std::fs::write(scenarios.join(format!("{name}.toml")), toml).unwrap();
    }
    let port = free_port();
    let rules = dir.path().join("rules.json");
    std::fs::write(
        &rules,
        r#"[{"prompt_contains": "Doomed", "then": {"outcome": "failed"}}]"#,
    )
    .unwrap();
    let mut sim = Command::new(toolkit);
    sim.args([
        "sim",
        "--port",
        "0",
        "--task-seconds",
        "3",
        "--api-key",
        KEY,
    ])
    .arg("--webhook-url")
    .arg(format!("http://127.0.0.1:{port}/webhook?token={TOKEN}"))
    .arg("--rules")
    .arg(&rules)
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    let mut child = Reaped(sim.spawn().expect("start mesh-toolkit sim"));
    let base = first_line(&mut child.0)
        .strip_prefix("listening on ")
        .expect("the simulator prints its URL")
        .to_owned();
    let run = |extra: &[&str]| -> Output {
        let mut command = Command::new(harness);
        command
            .current_dir(dir.path())
            .args([
                "--record-webhooks",
                "--tunnel=none",
                &format!("--webhook-port={port}"),
                "--skip",
                "otter_pipeline_in_rust",
            ])
            .args(extra)
            .env("MESHY_BASE_URL", &base)
            .env("MESHY_API_KEY", KEY)
            .env("MESHY_WEBHOOK_TOKEN", TOKEN)
            .env("MESHY_SIM_TASK_SECONDS", "3")
            .env("CARGO_TARGET_DIR", dir.path().join("target"));
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("MESHY_") && !is_set_here(&name) {
                command.env_remove(name);
            }
        }
        command.env_remove("CI").env_remove("NEXTEST");
        output_within(&mut command, DEADLINE)
    };
    let first = run(&["--webhook-timeout=1"]);
    let second = run(&[]);
    let log = |o: &Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let logs = [log(&first), log(&second)];
    for (i, text) in logs.iter().enumerate() {
        assert!(
            text.contains("1 ignored"),
            "run {}: the simulator-only scenario is ignored:\n{text}",
            i + 1
        );
    }
    assert!(
        logs[1].contains("1 passed; 1 failed; 1 ignored"),
        "the second run resumes both tasks: one passes, the simulator failed the other:\n{}",
        logs[1]
    );
    drop(child);
    Fixture { dir, logs }
}

fn is_set_here(name: &std::ffi::OsStr) -> bool {
    [
        "MESHY_BASE_URL",
        "MESHY_API_KEY",
        "MESHY_WEBHOOK_TOKEN",
        "MESHY_SIM_TASK_SECONDS",
    ]
    .iter()
    .any(|n| name == *n)
}

/// The child's first line on stdout, within [`DEADLINE`].
fn first_line(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("piped stdout");
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = send.send(line);
    });
    receive
        .recv_timeout(DEADLINE)
        .expect("the simulator printed nothing")
        .trim()
        .to_owned()
}

/// Runs `command`, killed if it takes longer than `deadline`.
fn output_within(command: &mut Command, deadline: Duration) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the harness");
    let pid = child.id();
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(child.wait_with_output());
    });
    match receive.recv_timeout(deadline) {
        Ok(output) => output.expect("wait for the harness"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("the harness took longer than {deadline:?}: killed");
        }
    }
}

/// A free loopback port (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
