//! Tunnel tests. bore runs for real against a `bore server` on loopback; ngrok and
//! cloudflared are contract tests against stand-in executables (`tests/fakes/`) that
//! print the documented output and serve the documented local APIs.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::providers::{NgrokLog, bore_url, ngrok_log};
use super::*;
use crate::receiver::{Receiver, ReceiverConfig};
use crate::test_support::{Canned, ScriptedServer};

fn fakes_path() -> OsString {
    let fakes = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fakes");
    let mut dirs = vec![fakes];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).unwrap()
}

fn contract(
    provider: Provider,
    port: u16,
    log_dir: &std::path::Path,
    env: &[(&str, &str)],
) -> TunnelOptions {
    TunnelOptions {
        log_dir: log_dir.to_owned(),
        start_timeout: Duration::from_secs(15),
        search_path: Some(fakes_path()),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..TunnelOptions::new(provider, port)
    }
}

fn running(pid: &str) -> bool {
    // A zombie (state Z) has exited; only its exit status is left to collect.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}

#[test]
fn bore_urls_are_read_through_ansi_colour_codes() {
    let line = "\u{1b}[2m2026-11-28T15:00:00Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m \u{1b}[2mbore_cli::client\u{1b}[0m\u{1b}[2m:\u{1b}[0m connected to server \u{1b}[3mremote_port\u{1b}[0m\u{1b}[2m=\u{1b}[0m41234\n";
    assert_eq!(bore_url(line), None);
    let line = "\u{1b}[2m2026-11-28T15:00:00Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m \u{1b}[2mbore_cli::client\u{1b}[0m\u{1b}[2m:\u{1b}[0m listening at bore.pub:41234";
    assert_eq!(bore_url(line).as_deref(), Some("http://bore.pub:41234"));
}

#[test]
fn ngrok_log_lines_give_the_url_or_the_api_address() {
    assert_eq!(
        ngrok_log(
            r#"{"lvl":"info","msg":"started tunnel","obj":"tunnels","url":"https://a.ngrok-free.app"}"#
        ),
        NgrokLog::Url("https://a.ngrok-free.app".into())
    );
    assert_eq!(
        ngrok_log(
            r#"{"lvl":"info","msg":"starting web service","obj":"web","addr":"127.0.0.1:4041"}"#
        ),
        NgrokLog::Api("127.0.0.1:4041".into())
    );
    assert_eq!(ngrok_log("t=2026 lvl=info msg=plain"), NgrokLog::Other);
}

#[test]
fn provider_names_and_http_warning() {
    assert_eq!("cloudflared".parse::<Provider>(), Ok(Provider::Cloudflared));
    assert_eq!(
        "localtunnel".parse::<Provider>().unwrap_err(),
        "unknown tunnel 'localtunnel'; expected one of: ngrok, cloudflared, bore, none"
    );
    assert!(
        https_warning("http://bore.pub:4000")
            .unwrap()
            .contains("Meshy delivers webhooks only to https URLs")
    );
    assert_eq!(https_warning("https://x.ngrok.app"), None);
}

#[tokio::test]
async fn contract_ngrok_url_from_its_json_log_with_reserved_domain_and_stop_kills_it() {
    let dir = tempfile::tempdir().unwrap();
    let args_file = dir.path().join("args");
    let options = contract(
        Provider::Ngrok,
        8123,
        dir.path(),
        &[
            ("NGROK_AUTHTOKEN", "fake-token"),
            ("NGROK_DOMAIN", "otters.ngrok.app"),
            ("FAKE_TUNNEL_URL", "https://otters.ngrok.app"),
            ("FAKE_TUNNEL_ARGS", args_file.to_str().unwrap()),
        ],
    );
    let mut tunnel = start(options).await.unwrap();
    assert_eq!(tunnel.public_url(), "https://otters.ngrok.app");
    let args = std::fs::read_to_string(&args_file).unwrap();
    let mut lines = args.lines();
    let pid = lines.next().unwrap().to_owned();
    assert_eq!(
        lines.collect::<Vec<_>>(),
        [
            "http",
            "8123",
            "--log",
            "stdout",
            "--log-format",
            "json",
            "--url=otters.ngrok.app"
        ]
    );
    let log = std::fs::read_to_string(dir.path().join("tunnel-ngrok.log")).unwrap();
    assert!(
        log.contains("started tunnel"),
        "agent output goes to the log file: {log}"
    );
    assert!(running(&pid));
    tunnel.stop();
    tunnel.stop();
    drop(tunnel);
    assert!(!running(&pid), "the agent is gone after stop");
}

#[tokio::test]
async fn contract_ngrok_url_from_its_local_api_on_a_moved_port_passes_preflight() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(ReceiverConfig::new(dir.path()))
        .await
        .unwrap();
    let port = receiver.addr().port();
    let forward = format!("http://127.0.0.1:{port}");
    let options = contract(
        Provider::Ngrok,
        port,
        dir.path(),
        &[
            ("NGROK_AUTHTOKEN", "fake-token"),
            ("FAKE_TUNNEL_MODE", "api"),
            ("FAKE_TUNNEL_URL", &forward),
        ],
    );
    let tunnel = start(options).await.unwrap();
    assert_eq!(tunnel.public_url(), forward);
    preflight(tunnel.public_url(), port).await.unwrap();
}

#[tokio::test]
async fn contract_cloudflared_url_from_quicktunnel() {
    let dir = tempfile::tempdir().unwrap();
    let tunnel = start(contract(Provider::Cloudflared, 8124, dir.path(), &[]))
        .await
        .unwrap();
    assert_eq!(
        tunnel.public_url(),
        "https://fake-words-here.trycloudflare.com"
    );
}

#[tokio::test]
async fn failures_say_what_went_wrong_before_anything_is_spent() {
    let dir = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let missing = TunnelOptions {
        search_path: Some(empty.path().as_os_str().to_owned()),
        ..TunnelOptions::new(Provider::Cloudflared, 1)
    };
    let err = start(missing).await.err().unwrap().to_string();
    assert!(
        err.starts_with(
            "--tunnel=cloudflared: 'cloudflared' is not on PATH; install cloudflared ("
        ),
        "{err}"
    );
    assert!(
        err.ends_with("--tunnel=cloudflared needs no account"),
        "{err}"
    );

    let home = tempfile::tempdir().unwrap();
    let no_token = contract(
        Provider::Ngrok,
        1,
        dir.path(),
        &[("HOME", home.path().to_str().unwrap())],
    );
    let err = start(no_token).await.err().unwrap().to_string();
    assert!(
        err.starts_with("--tunnel=ngrok: no authtoken: set NGROK_AUTHTOKEN"),
        "{err}"
    );

    let exits = contract(
        Provider::Ngrok,
        1,
        dir.path(),
        &[("NGROK_AUTHTOKEN", "bad"), ("FAKE_TUNNEL_MODE", "exit")],
    );
    let err = start(exits).await.err().unwrap().to_string();
    assert!(
        err.starts_with(
            "--tunnel=ngrok: 'ngrok' exited (exit status: 1) before reporting a public URL"
        ),
        "{err}"
    );
    assert!(
        err.contains(r#""err": "authentication failed: ERR_NGROK_4018""#),
        "the last log lines are shown: {err}"
    );
    assert!(
        err.contains("ERROR:  authentication failed: Usage of ngrok requires a verified account"),
        "the agent's very last line, printed as it exits, is shown: {err}"
    );

    let silent = TunnelOptions {
        start_timeout: Duration::from_secs(1),
        ..contract(
            Provider::Cloudflared,
            1,
            dir.path(),
            &[("FAKE_TUNNEL_MODE", "silent")],
        )
    };
    let err = start(silent).await.err().unwrap().to_string();
    assert!(
        err.starts_with(
            "--tunnel=cloudflared: no public URL from 'cloudflared' within 1 s; see its log"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn preflight_fails_when_the_public_url_reaches_something_else() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(ReceiverConfig::new(dir.path()))
        .await
        .unwrap();
    let impostor =
        ScriptedServer::start(|_| Canned::json(200, serde_json::json!({"status": "ok"}))).await;
    let err = preflight(&impostor.base_url, receiver.addr().port())
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "preflight failed: GET {}/health answered 200 without this run's nonce (another server answered); the public \
             URL does not reach this run's receiver on 127.0.0.1:{}: check that the tunnel forwards there",
            impostor.base_url,
            receiver.addr().port()
        )
    );
}

/// bore for real: a `bore server` on loopback, the receiver tunnelled through it, and
/// a simulator delivery travelling through the tunnel into a recording.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bore_tunnels_a_simulator_delivery_into_a_recording() {
    use crate::meshy::TaskType;
    use crate::recorder::Recorder;
    use crate::sim::{SimConfig, Simulator};
    use tokio::io::AsyncBufReadExt;

    let bore = crate::workdir::test_tool("bin/bore", "bore")
        .unwrap_or_else(|| panic!("bore is not installed: {}", crate::workdir::TEST_TOOLS_HINT));
    let mut server = tokio::process::Command::new(&bore)
        .args([
            "server",
            "--bind-addr",
            "127.0.0.1",
            "--min-port",
            "20000",
            "--max-port",
            "60000",
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(server.stdout.take().unwrap()).lines();
    let listening = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("listening") {
                return;
            }
        }
        panic!("the bore server exited before listening");
    };
    tokio::time::timeout(Duration::from_secs(30), listening)
        .await
        .expect("the bore server did not say it was listening within 30 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let dir = tempfile::tempdir().unwrap();
    let receiver = Arc::new(
        Receiver::start(ReceiverConfig::new(dir.path()))
            .await
            .unwrap(),
    );
    let port = receiver.addr().port();
    let options = TunnelOptions {
        log_dir: dir.path().to_owned(),
        env: vec![("BORE_SERVER".into(), "127.0.0.1".into())],
        // The bore found above (provisioned or on PATH) comes first.
        search_path: Some(
            std::env::join_paths(
                bore.parent()
                    .map(std::path::Path::to_owned)
                    .into_iter()
                    .chain(std::env::split_paths(
                        &std::env::var_os("PATH").unwrap_or_default(),
                    )),
            )
            .unwrap(),
        ),
        ..TunnelOptions::new(Provider::Bore, port)
    };
    let tunnel = start(options).await.unwrap();
    assert!(
        tunnel.public_url().starts_with("http://127.0.0.1:"),
        "{}",
        tunnel.public_url()
    );
    assert_ne!(tunnel.public_url(), receiver.local_url());
    preflight(tunnel.public_url(), port).await.unwrap();

    let sim = Simulator::start(SimConfig {
        task_time: Duration::ZERO,
        ..SimConfig::unlimited()
    })
    .await
    .unwrap();
    let recorder = Recorder::recording(Arc::clone(&receiver), tunnel.public_url(), dir.path())
        .with_reporter(
            Arc::new(|_: &crate::progress::Event| {}),
            Duration::from_secs(30),
        );
    let client = crate::test_support::live_client(sim.base_url(), "msy_bore_test_key_1234", 1);
    let callback = recorder.callback_url("otter", "text3d");
    assert!(callback.starts_with(tunnel.public_url()));
    let body = serde_json::json!({"mode": "preview", "prompt": "otter", "callback_url": callback});
    let id = client.create_task(TaskType::Text3d, &body).await.unwrap();
    let payload = recorder
        .payload(
            "otter_text3d",
            "otter",
            "text3d",
            &id,
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(payload["status"], "SUCCEEDED");
    assert!(crate::webhooks::recording_path(dir.path(), "otter", "text3d", &id).is_file());
    drop(tunnel);
    let _ = server.kill().await;
}
