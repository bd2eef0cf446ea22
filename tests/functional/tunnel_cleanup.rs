//! Tunnel agents never outlive the run: `mesh-toolkit receive --tunnel ngrok`, with
//! the stand-in agent of `tests/fakes/` on PATH (a contract test), interrupted with
//! SIGINT once the tunnel is up, and while it is still starting.

use std::path::{Path, PathBuf};

use libtest_mimic::{Failed, Trial};

use crate::support::{Guarded, binary};

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
        .env("NGROK_AUTHTOKEN", "fake-token")
        .env("FAKE_TUNNEL_MODE", mode)
        .env("FAKE_TUNNEL_URL", format!("http://127.0.0.1:{port}"))
        .env("FAKE_TUNNEL_ARGS", dir.join("agent"));
    Guarded::spawn(command)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The agent's pid, if it was started.
fn agent_pid(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join("agent"))
        .ok()?
        .lines()
        .next()
        .map(str::to_owned)
}

fn running(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}

fn interrupt_running() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
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
    assert!(running(&pid));
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
    let mut receive = receive_with_fake_ngrok(dir.path(), "silent", free_port());
    assert!(receive.line().starts_with("listening on "));
    assert!(receive.line().starts_with("webhook URL: "));
    let (code, stderr) = receive.interrupt();
    assert_eq!(code, Some(0), "{stderr}");
    if let Some(pid) = agent_pid(dir.path()) {
        assert!(
            !running(&pid),
            "the tunnel agent {pid} outlived the receiver"
        );
    }
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
    std::fs::create_dir_all(dir.path().join("scenarios"))?;
    let shipped = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/otter_text3d.toml");
    std::fs::copy(shipped, dir.path().join("scenarios/otter_text3d.toml"))?;
    let port = free_port();
    let fakes = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fakes");
    let mut path = vec![fakes];
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let mut child = std::process::Command::new(crate::harness::harness_binary())
        .current_dir(dir.path())
        .args([
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
    let guard = KillOnDrop(child.id());
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let mut lines = std::io::BufReader::new(stderr).lines();
    // The first progress line: the trial is waiting for its webhooks through the tunnel.
    let waiting = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|line| line.starts_with("otter_text3d "));
    assert!(waiting.is_some(), "the recording never started");
    let pid = agent_pid(dir.path()).ok_or("the tunnel agent did not start")?;
    assert!(running(&pid));
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()?;
    let status = child.wait()?;
    drop(guard);
    assert_eq!(status.code(), Some(130));
    assert!(
        !running(&pid),
        "the tunnel agent {pid} outlived the interrupted harness"
    );
    Ok(())
}

/// Kills the process if the test fails before it exits.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let kill = std::process::Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .stderr(std::process::Stdio::null())
            .status();
        drop(kill);
    }
}
