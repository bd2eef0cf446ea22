//! `mesh-toolkit sim`: the simulator as a user runs it from a terminal.

use libtest_mimic::{Failed, Trial};
use mesh_toolkit::transport::http_client;
use serde_json::{Value, json};

use crate::support::{Catcher, Guarded, binary};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "sim_command_prints_its_url_serves_tasks_and_webhooks_and_stops_on_ctrl_c",
            sim_session,
        ),
        Trial::test(
            "sim_command_rejects_unknown_options_with_usage",
            sim_bad_option,
        ),
        Trial::test(
            "every_command_answers_help_and_version",
            help_for_every_command,
        ),
    ]
}

fn sim_session() -> Result<(), Failed> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let catcher = Catcher::start().await;
        let mut command = binary();
        command.args([
            "sim",
            "--port",
            "0",
            "--task-seconds",
            "0",
            "--webhook-url",
            &catcher.url,
        ]);
        let mut sim = Guarded::spawn(command);
        let line = sim.line();
        let base = line
            .strip_prefix("listening on ")
            .ok_or(format!("unexpected first line: {line:?}"))?
            .to_owned();
        assert!(
            base.starts_with("http://127.0.0.1:") && !base.ends_with(":0"),
            "{base}"
        );

        let http = http_client(None).unwrap();
        let response = http
            .post(format!("{base}/openapi/v2/text-to-3d"))
            .bearer_auth("msy_functional_test_key_1234")
            .header("Content-Type", "application/json")
            .body(json!({"mode": "preview", "prompt": "Cute otter"}).to_string())
            .send()
            .await?;
        assert_eq!(response.status().as_u16(), 202);
        let created: Value = serde_json::from_slice(&response.bytes().await?)?;
        let id = created["result"].as_str().ok_or("no task id")?.to_owned();
        let bodies = catcher
            .wait_until(|b| {
                b.iter()
                    .any(|b| b["id"] == id.as_str() && b["status"] == "SUCCEEDED")
            })
            .await;
        let glb_url = bodies.last().unwrap()["model_urls"]["glb"]
            .as_str()
            .unwrap()
            .to_owned();
        let glb = http.get(&glb_url).send().await?.bytes().await?;
        assert_eq!(&glb[..4], b"glTF");

        let (code, stderr) = sim.interrupt();
        assert_eq!(code, Some(0), "stderr: {stderr}");
        assert!(
            stderr.contains("simulator stopped: ") && stderr.contains(" webhook deliveries made"),
            "{stderr}"
        );
        Ok(())
    })
}

fn sim_bad_option() -> Result<(), Failed> {
    let output = crate::support::output_within(
        binary().args(["sim", "--colour", "red"]),
        std::time::Duration::from_secs(30),
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("error: unexpected argument '--colour' found"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Usage: mesh-toolkit sim [OPTIONS]"),
        "{stderr}"
    );
    let misspelt = binary().args(["sim", "--task-second", "1"]).output()?;
    assert_eq!(misspelt.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&misspelt.stderr);
    assert!(
        stderr.contains("tip: a similar argument exists: '--task-seconds'"),
        "{stderr}"
    );
    Ok(())
}

/// Every command's help is an answer (stdout, exit 0), and so is the version.
fn help_for_every_command() -> Result<(), Failed> {
    for (args, expected) in [
        (&["--help"][..], "receive"),
        (&["-h"], "cassettes"),
        (&["sim", "--help"], "--task-seconds <S>"),
        (&["receive", "--help"], "--token <T>"),
        (&["webhooks", "--help"], "replay"),
        (&["webhooks", "replay", "--help"], "--only-terminal"),
        (&["cassettes", "check", "--help"], "--max-age <AGE>"),
        (&["--version"], env!("CARGO_PKG_VERSION")),
        (&["version"], env!("CARGO_PKG_VERSION")),
    ] {
        let output = binary().args(args).output()?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stdout}");
        assert!(
            stdout.contains(expected),
            "{args:?}: no '{expected}' in {stdout}"
        );
    }
    Ok(())
}
