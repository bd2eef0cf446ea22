//! Tunnel agents never outlive the run: `mesh-toolkit receive --tunnel ngrok`, with
//! the stand-in agent of `tests/fakes/` on PATH (a contract test), interrupted with
//! SIGINT once the tunnel is up, and while it is still starting.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libtest_mimic::{Failed, Trial};

use crate::support::{EXIT_DEADLINE, Guarded, LINE_DEADLINE, binary, free_port, wait_within};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "contract_ctrl_c_stops_the_tunnel_agent_of_a_running_receiver",
            interrupt_running,
        ),
        Trial::test(
            "contract_ctrl_c_while_the_tunnel_starts_leaves_no_agent",
            interrupt_starting,
        ),
    ]
}

fn receive_with_fake_ngrok(dir: &Path, mode: &str, port: u16) -> Guarded {
    let fakes = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fakes");
    let mut path = vec![fakes];
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let mut command = binary();
    command
        .current_dir(dir)
        .args([
            "receive",
            "--port",
            &port.to_string(),
            "--tunnel",
            "ngrok",
            "--cassettes",
        ])
        .arg(dir)
        .env("PATH", std::env::join_paths(path).unwrap())
        // The project's token and spool: under this test's own target dir.
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env("NGROK_AUTHTOKEN", "fake-token")
        .env("FAKE_TUNNEL_MODE", mode)
        .env("FAKE_TUNNEL_URL", format!("http://127.0.0.1:{port}"))
        .env("FAKE_TUNNEL_ARGS", dir.join("agent"))
        // Its own log directory, whatever the outer environment says.
        .env("CARGO_TARGET_DIR", dir.join("target"));
    Guarded::spawn(command)
}

/// The agent's pid, if it was started (the stand-in writes it first thing).
fn agent_pid(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join("agent"))
        .ok()?
        .lines()
        .next()
        .filter(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_owned)
}

/// Waits (at most `LINE_DEADLINE`) until the stand-in agent has started and is running;
/// fails the test, saying so, if it never does.
fn started_agent(dir: &Path) -> Result<String, Failed> {
    let started = Instant::now();
    loop {
        if let Some(pid) = agent_pid(dir).filter(|pid| running(pid)) {
            return Ok(pid);
        }
        if started.elapsed() > LINE_DEADLINE {
            return Err(format!(
                "the tunnel agent did not start within {LINE_DEADLINE:?} (no pid in {})",
                dir.join("agent").display()
            )
            .into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}

fn interrupt_running() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let _agent = AgentGuard(dir.path().to_owned());
    let port = free_port();
    let mut receive = receive_with_fake_ngrok(dir.path(), "api", port);
    assert!(receive.line().starts_with("listening on "));
    assert!(receive.line().starts_with("webhook URL: "));
    let public = receive.line();
    assert!(
        public.starts_with(&format!(
            "public webhook URL: http://127.0.0.1:{port}/webhook?token="
        )),
        "{public}"
    );
    let pid = agent_pid(dir.path()).ok_or("the agent did not start")?;
    assert!(
        running(&pid),
        "the tunnel agent {pid} runs while the tunnel is up"
    );
    let (code, stderr) = receive.interrupt();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        !running(&pid),
        "the tunnel agent {pid} outlived the receiver"
    );
    assert!(
        dir.path()
            .join("target/mesh-toolkit/tunnel-ngrok.log")
            .is_file(),
        "agent output goes to a log file"
    );
    Ok(())
}

fn interrupt_starting() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let _agent = AgentGuard(dir.path().to_owned());
    let mut receive = receive_with_fake_ngrok(dir.path(), "silent", free_port());
    assert!(receive.line().starts_with("listening on "));
    assert!(receive.line().starts_with("webhook URL: "));
    // The agent runs and has not reported a URL (it never will): the tunnel is starting.
    let pid = started_agent(dir.path())?;
    let (code, stderr) = receive.interrupt();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        !running(&pid),
        "the tunnel agent {pid} outlived the receiver"
    );
    Ok(())
}

/// The harness recording through a tunnel, interrupted while its trial waits for
/// webhooks: it exits 130 and leaves no agent behind.
pub fn harness_trial() -> Trial {
    Trial::test(
        "contract_ctrl_c_during_a_harness_recording_stops_the_tunnel_agent",
        interrupt_harness,
    )
}

fn interrupt_harness() -> Result<(), Failed> {
    use std::io::BufRead;
    let dir = tempfile::tempdir()?;
    let _agent = AgentGuard(dir.path().to_owned());
    std::fs::create_dir_all(dir.path().join("scenarios"))?;
    std::fs::write(
        dir.path().join("scenarios/otter_slow.toml"),
        "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"A slow otter\"\n",
    )?;
    let port = free_port();
    let fakes = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fakes");
    let mut path = vec![fakes];
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let child = std::process::Command::new(crate::harness::harness_binary())
        .current_dir(dir.path())
        .args([
            "otter_slow",
            "--exact",
            "--record-webhooks",
            "--target=sim",
            "--tunnel=ngrok",
            &format!("--webhook-port={port}"),
        ])
        .env("PATH", std::env::join_paths(path)?)
        .env("NGROK_AUTHTOKEN", "fake-token")
        .env("FAKE_TUNNEL_MODE", "api")
        .env("FAKE_TUNNEL_URL", format!("http://127.0.0.1:{port}"))
        .env("FAKE_TUNNEL_ARGS", dir.path().join("agent"))
        .env("MESHY_SIM_TASK_SECONDS", "600")
        .env("CARGO_TARGET_DIR", dir.path().join("target"))
        .env_remove("CI")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let mut child = Killed(child);
    let stderr = child.0.stderr.take().ok_or("no stderr")?;
    let (sender, lines) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = sender.send(line);
        }
    });
    // The first progress line: the trial is waiting for its webhooks through the tunnel.
    let started = Instant::now();
    let mut log = Vec::new();
    loop {
        let left = LINE_DEADLINE.saturating_sub(started.elapsed());
        match lines.recv_timeout(left) {
            Ok(line) if line.starts_with("otter_slow ") => {
                log.push(line);
                break;
            }
            Ok(line) => log.push(line),
            Err(_) => {
                return Err(format!(
                    "no progress line for otter_slow within {LINE_DEADLINE:?}; stderr so far:\n{}",
                    log.join("\n")
                )
                .into());
            }
        }
    }
    let pid = agent_pid(dir.path()).ok_or("the tunnel agent did not start")?;
    assert!(running(&pid), "the tunnel agent {pid} runs while recording");
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status()?;
    assert!(interrupted.success(), "kill -INT failed");
    let status = wait_within(
        &mut child.0,
        EXIT_DEADLINE,
        "the harness to exit after SIGINT",
    );
    // The harness has exited: its stderr closes, and the reader ends.
    let closing = Instant::now();
    loop {
        let left = EXIT_DEADLINE.saturating_sub(closing.elapsed());
        match lines.recv_timeout(left) {
            Ok(line) => log.push(line),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "the harness's stderr did not close within {EXIT_DEADLINE:?} of its exit"
                )
                .into());
            }
        }
    }
    reader.join().map_err(|_| "stderr reader panicked")?;
    let log = log.join("\n");
    assert_eq!(status.code(), Some(130), "{log}");
    assert!(
        log.contains(
            "interrupted: nothing was paid (the simulator); record the unfinished scenarios again with `cargo test \
             --test scenarios -- "
        ),
        "the interrupted run says what a rerun does: {log}"
    );
    assert!(
        !running(&pid),
        "the tunnel agent {pid} outlived the interrupted harness"
    );
    assert_interrupted_recording(dir.path(), &log)
}

/// What an interrupted recording leaves: the cassette, still marked incomplete, with
/// the create call's answer journalled; the webhook recording of the task, incomplete.
fn assert_interrupted_recording(dir: &Path, log: &str) -> Result<(), Failed> {
    let cassette_path = dir.join("cassettes/http/otter_slow.yaml");
    let cassette = std::fs::read_to_string(&cassette_path)
        .map_err(|e| format!("{}: {e}; stderr:\n{log}", cassette_path.display()))?;
    assert!(
        cassette.starts_with("incomplete: true\n"),
        "an interrupted recording is marked incomplete:\n{cassette}"
    );
    assert!(
        cassette.contains("uri: \"https://api.meshy.ai/openapi/v2/text-to-3d\"")
            && crate::resume::create_answered(&cassette),
        "the create call and its answer are journalled:\n{cassette}"
    );
    let webhooks: Vec<PathBuf> = std::fs::read_dir(dir.join("cassettes/webhooks"))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    assert_eq!(
        webhooks.len(),
        1,
        "one webhook recording, for the one task: {webhooks:?}"
    );
    let recording = std::fs::read_to_string(&webhooks[0])?;
    let name = webhooks[0]
        .file_name()
        .unwrap_or_default()
        .to_string_lossy();
    assert!(
        name.starts_with("otter_text3d_") && name.ends_with(".json"),
        "{name}"
    );
    assert!(
        recording.contains("\"incomplete\": true"),
        "the webhook recording is marked incomplete: {recording}"
    );
    Ok(())
}

/// Kills the stand-in agent (its pid is in `<dir>/agent`) if a failing test left it
/// running: the program under test is what should stop it, but a failure must not leak it.
struct AgentGuard(PathBuf);

impl Drop for AgentGuard {
    fn drop(&mut self) {
        if let Some(pid) = agent_pid(&self.0).filter(|pid| running(pid)) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .status();
        }
    }
}

/// Kills the process if the test fails before it exits.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
