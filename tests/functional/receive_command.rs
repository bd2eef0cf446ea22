//! `mesh-toolkit receive` and `mesh-toolkit webhooks replay`: the standalone receiver
//! and re-delivery, as a user runs them.

use std::path::Path;

use libtest_mimic::{Failed, Trial};
use mesh_toolkit::transport::http_client;
use mesh_toolkit::webhooks::Recording;
use serde_json::{Value, json};

use crate::support::{Catcher, Guarded, binary, free_port};

/// How long `webhooks replay` may take for a handful of deliveries.
const REPLAY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "receive_command_records_every_authentic_delivery_with_a_line_each",
            receive_session,
        ),
        Trial::test(
            "a_receiver_killed_mid_write_leaves_only_whole_recordings",
            killed_mid_write,
        ),
        Trial::test(
            "webhooks_replay_posts_recorded_deliveries_in_order_with_their_headers",
            redeliver_session,
        ),
        Trial::test(
            "receive_refuses_an_empty_token_naming_meshy_webhook_token",
            empty_token,
        ),
        Trial::test(
            "receive_refuses_a_weak_token_from_the_environment",
            weak_env_token,
        ),
        Trial::test(
            "receive_answers_503_for_what_it_cannot_write_and_does_not_count_it_recorded",
            unwritable,
        ),
    ]
}

fn empty_token() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let mut command = binary();
    command
        .args(["receive", "--port", "0", "--token", ""])
        .arg("--cassettes")
        .arg(dir.path());
    let output = crate::support::output_within(&mut command, std::time::Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "a usage mistake: {stdout}{stderr}"
    );
    assert!(stderr.starts_with("error: --token is empty"), "{stderr}");
    assert!(stderr.contains("MESHY_WEBHOOK_TOKEN"), "{stderr}");
    assert!(!stdout.contains("webhook URL"), "{stdout}");
    Ok(())
}

/// A weak token from the environment is refused as the harness refuses it, without
/// showing it.
fn weak_env_token() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    for token in ["shortone", "has space&x=1#frag-aaaaaaaaaa"] {
        let mut command = binary();
        command
            .args(["receive", "--port", "0", "--cassettes"])
            .arg(dir.path())
            .env("MESHY_WEBHOOK_TOKEN", token);
        let output =
            crate::support::output_within(&mut command, std::time::Duration::from_secs(60));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{token}: {stdout}{stderr}");
        assert!(
            stderr.starts_with("error: MESHY_WEBHOOK_TOKEN must be 16 or more letters"),
            "{stderr}"
        );
        assert!(
            !stderr.contains(token) && !stdout.contains(token),
            "{stdout}{stderr}"
        );
    }
    Ok(())
}

fn unwritable() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    // `webhooks` is a file: no recording can be written under it.
    std::fs::write(dir.path().join("webhooks"), "in the way")?;
    let (receiver, base) = start_receiver(dir.path());
    let body = json!({"id": "t1", "status": "SUCCEEDED", "progress": 100});
    assert_eq!(
        post(
            &format!("{base}/webhook/otter/text3d?token=functional-token"),
            &body
        ),
        503
    );
    let long = "a".repeat(300);
    assert_eq!(
        post(
            &format!("{base}/webhook/{long}/text3d?token=functional-token"),
            &body
        ),
        400
    );
    let (code, stderr) = receiver.interrupt();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("receiver stopped: 0 deliveries recorded, 1 refused"),
        "{stderr}"
    );
    assert!(
        stderr.contains("refused POST /webhook/otter/text3d with 503")
            && (stderr.contains("error writing") || stderr.contains("error reading")),
        "{stderr}"
    );
    assert!(
        stderr.contains("with 400: species and task type"),
        "{stderr}"
    );
    assert!(!stderr.contains("functional-token"), "{stderr}");
    Ok(())
}

fn start_receiver(dir: &Path) -> (Guarded, String) {
    let mut command = binary();
    command
        .args(["receive", "--port", "0", "--token", "functional-token"])
        .arg("--cassettes")
        .arg(dir)
        // Its spool (dashboard deliveries) goes under this test's own target dir.
        .env("CARGO_TARGET_DIR", dir.join("target"));
    let mut receiver = Guarded::spawn(command);
    let listening = receiver.line();
    let base = listening
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_owned();
    assert_eq!(
        receiver.line(),
        format!("webhook URL: {base}/webhook?token=functional-token")
    );
    (receiver, base)
}

fn post(url: &str, body: &Value) -> u16 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = http_client(None)
            .unwrap()
            .post(url)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await;
        response.map(|r| r.status().as_u16()).unwrap_or(0)
    })
}

fn receive_session() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let (mut receiver, base) = start_receiver(dir.path());
    let routed = format!("{base}/webhook/otter/text3d?token=functional-token");
    assert_eq!(
        post(
            &routed,
            &json!({"id": "t-routed", "status": "PENDING", "progress": 0})
        ),
        200
    );
    let routed_file = dir.path().join("webhooks/otter_text3d_t-routed.json");
    assert_eq!(
        receiver.line(),
        format!("t-routed PENDING 0% -> {}", routed_file.display())
    );
    assert_eq!(
        post(
            &routed,
            &json!({"id": "t-routed", "status": "SUCCEEDED", "progress": 100})
        ),
        200
    );
    assert!(receiver.line().starts_with("t-routed SUCCEEDED 100% -> "));
    assert_eq!(
        post(
            &format!("{base}/webhook?token=functional-token"),
            &json!({"id": "t-dash", "status": "IN_PROGRESS", "progress": 5})
        ),
        200
    );
    let spooled = dir.path().join("target/mesh-toolkit/spool/t-dash.json");
    assert!(
        receiver.line().ends_with(&spooled.display().to_string()),
        "a dashboard delivery waits in the project's spool, not in the cassettes"
    );
    assert_eq!(
        post(
            &format!("{base}/webhook"),
            &json!({"id": "t-evil", "status": "SUCCEEDED"})
        ),
        401
    );

    let (code, stderr) = receiver.interrupt();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("receiver stopped: 3 deliveries recorded, 1 refused"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "serving the project '{}' with cassettes '{}'",
            dir.path().join("target/mesh-toolkit").display(),
            dir.path().display()
        )),
        "it says which project and cassettes it serves: {stderr}"
    );
    let recording = Recording::load(&routed_file, "cmd")?;
    assert_eq!(recording.deliveries.len(), 2);
    assert!(Recording::read(&spooled, "cmd").is_ok());
    assert!(
        !dir.path()
            .join("target/mesh-toolkit/spool/t-evil.json")
            .exists()
    );
    // A receiver that stopped cleanly leaves its recordings and nothing else: no temp file.
    assert_eq!(
        files_under(dir.path())?,
        [
            "target/mesh-toolkit/spool/t-dash.json",
            "webhooks/otter_text3d_t-routed.json"
        ],
        "only the recordings are left"
    );
    Ok(())
}

/// Every file under `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> std::io::Result<Vec<String>> {
    fn walk(root: &Path, dir: &Path, files: &mut Vec<String>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(root, &path, files)?;
            } else {
                let relative = path.strip_prefix(root).unwrap_or(&path);
                files.push(relative.to_string_lossy().into_owned());
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    files.sort();
    Ok(files)
}

fn killed_mid_write() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let (receiver, base) = start_receiver(dir.path());
    let url = format!("{base}/webhook/otter/text3d?token=functional-token");
    // Large deliveries keep the receiver busy writing when the kill lands.
    let pad = "x".repeat(600 * 1024);
    let runtime = tokio::runtime::Runtime::new()?;
    let accepted = runtime.block_on(async {
        let http = http_client(None).unwrap();
        let sends = (0..200).map(|n| {
            let body = json!({"id": format!("task-{}", n % 10), "status": "IN_PROGRESS", "progress": n, "pad": pad}).to_string();
            let request = http.post(&url).header("Content-Type", "application/json").body(body);
            async move { request.send().await.map(|r| r.status().as_u16()).unwrap_or(0) }
        });
        let mut sends = futures_util::stream::iter(sends).buffer_unordered(16);
        let mut accepted = 0;
        use futures_util::StreamExt;
        while let Some(status) = sends.next().await {
            if status == 200 {
                accepted += 1;
            }
            if accepted == 40 {
                // SIGKILL: no chance to finish anything.
                let _ = std::process::Command::new("kill").args(["-KILL", &receiver.child.id().to_string()]).status();
            }
        }
        accepted
    });
    let pid = receiver.child.id();
    drop(receiver);
    assert!(
        accepted >= 40,
        "the receiver accepted {accepted} deliveries before the kill"
    );
    let webhooks = dir.path().join("webhooks");
    let mut whole = 0;
    let mut interrupted = Vec::new();
    for entry in std::fs::read_dir(&webhooks)? {
        let path = entry?.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let task = |name: &str| {
            name.strip_prefix("otter_text3d_task-")
                .and_then(|rest| rest.strip_suffix(".json"))
                .is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n < 10))
        };
        if let Some(target) = temp_file_target(&name, pid) {
            // SIGKILL can land between a temp file's creation and its rename: what is
            // left is that write's temp file, named for its target, never the target.
            assert!(task(target), "a temp file for an unexpected target: {name}");
            interrupted.push(name);
            continue;
        }
        assert!(
            task(&name),
            "an unexpected file in {}: {name}",
            webhooks.display()
        );
        let recording =
            Recording::read(&path, "cmd").map_err(|e| format!("torn file {name}: {e}"))?;
        assert!(!recording.deliveries.is_empty());
        whole += 1;
    }
    assert!(
        whole >= 1,
        "some recordings were written before the kill (interrupted writes: {interrupted:?})"
    );
    // The next receiver on the directory removes what the killed one left half-done.
    let (next, _) = start_receiver(dir.path());
    let (code, stderr) = next.interrupt();
    assert_eq!(code, Some(0), "{stderr}");
    let left: Vec<String> = files_under(dir.path())?
        .into_iter()
        .filter(|f| f.rsplit('/').next().is_some_and(|n| n.starts_with('.')))
        .collect();
    assert!(
        left.is_empty(),
        "temp files of the killed receiver are left: {left:?}"
    );
    Ok(())
}

/// The target of an atomic write's temp file (`.<target>.tmp-<pid>-<n>`) written by
/// process `pid`.
fn temp_file_target(name: &str, pid: u32) -> Option<&str> {
    let rest = name.strip_prefix('.')?;
    let (target, suffix) = rest.rsplit_once(".tmp-")?;
    let (writer, n) = suffix.split_once('-')?;
    (writer == pid.to_string() && n.parse::<u64>().is_ok()).then_some(target)
}

fn redeliver_session() -> Result<(), Failed> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("otter_text3d_t1.json");
    let delivery = |status: &str, progress: u32| {
        json!({"received_at": "2026-11-28T15:00:00.000Z",
               "headers": {"content-type": "application/json", "user-agent": "Meshy-Webhook", "x-meshy-attempt": "1",
                           "host": "abc.ngrok.app", "content-length": "999", "connection": "keep-alive"},
               "payload": {"id": "t1", "status": status, "progress": progress}})
    };
    let deliveries = vec![
        delivery("PENDING", 0),
        delivery("IN_PROGRESS", 50),
        delivery("SUCCEEDED", 100),
    ];
    let recording = json!({"species": "otter", "task_type": "text3d", "task_id": "t1", "scenario": "otter_text3d",
        "received_at": "2026-11-28T15:00:00.000Z", "headers": deliveries[2]["headers"], "payload": deliveries[2]["payload"],
        "deliveries": deliveries});
    std::fs::write(&path, serde_json::to_vec_pretty(&recording)?)?;

    let runtime = tokio::runtime::Runtime::new()?;
    let catcher = runtime.block_on(Catcher::start());
    let output = crate::support::output_within(
        binary()
            .args(["webhooks", "replay"])
            .arg(&path)
            .args(["--to", &catcher.url]),
        REPLAY_DEADLINE,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "1/3 PENDING 0% -> 200\n2/3 IN_PROGRESS 50% -> 200\n3/3 SUCCEEDED 100% -> 200\n"
    );
    let bodies = runtime.block_on(catcher.wait_until(|b| b.len() == 3));
    let statuses: Vec<&str> = bodies
        .iter()
        .map(|b| b["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["PENDING", "IN_PROGRESS", "SUCCEEDED"]);
    let headers = &catcher.headers()[0];
    assert_eq!(headers["user-agent"], "Meshy-Webhook");
    assert_eq!(headers["x-meshy-attempt"], "1");
    assert_ne!(
        headers["host"], "abc.ngrok.app",
        "hop-by-hop headers are not replayed"
    );
    assert_ne!(headers["content-length"], "999");

    let output = crate::support::output_within(
        binary().args(["webhooks", "replay"]).arg(&path).args([
            "--to",
            &catcher.url,
            "--only-terminal",
        ]),
        REPLAY_DEADLINE,
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "3/3 SUCCEEDED 100% -> 200\n"
    );

    let refusing = runtime.block_on(Catcher::answering(500));
    let secret = "hook-secret-0123456789";
    let output = crate::support::output_within(
        binary()
            .args(["webhooks", "replay"])
            .arg(&path)
            .args(["--to", &format!("{}?token={secret}", refusing.url)]),
        REPLAY_DEADLINE,
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("3 of 3 deliveries were not accepted"),
        "{stderr}"
    );
    assert!(stderr.contains("?token=…"), "{stderr}");
    // And a target that cannot be reached: its error names the URL, without the token.
    let closed = format!("http://127.0.0.1:{}/hook?token={secret}", free_port());
    let unreachable = crate::support::output_within(
        binary()
            .args(["webhooks", "replay"])
            .arg(&path)
            .args(["--to", &closed, "--only-terminal"]),
        REPLAY_DEADLINE,
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&unreachable.stdout),
        String::from_utf8_lossy(&unreachable.stderr)
    );
    assert_eq!(unreachable.status.code(), Some(1), "{all}");
    assert!(all.contains("failed"), "{all}");
    assert!(
        !stderr.contains(secret) && !all.contains(secret),
        "{stderr}{all}"
    );
    Ok(())
}
