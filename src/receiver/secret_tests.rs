//! Meshy's webhook secret at the receiver (issue 21): never stored in any spelling or
//! repetition, checked when configured (401 and nothing stored otherwise), and the
//! simulator sending it end to end. Deliveries are written on raw connections, so the
//! header's spelling on the wire is the test's, not the HTTP client's.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::secrets::{SecretSource, WEBHOOK_SECRET_PLACEHOLDER, WebhookSecret};
use crate::webhooks::{Recording, recording_path};

const TOKEN: &str = "t0ken-for-secret-tests";
const SECRET: &str = "whsec-live-0123456789abcdef";
const WAIT: Duration = Duration::from_secs(30);

fn secret(value: &str) -> WebhookSecret {
    WebhookSecret::new(value, SecretSource::Value).unwrap()
}

/// Log lines, collected.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn sink(&self) -> crate::log_sink::LogSink {
        let lines = Arc::clone(&self.0);
        crate::log_sink::LogSink::to(move |line| lines.lock().unwrap().push(line.to_owned()))
    }

    fn all(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }
}

/// A receiver writing into `dir`: the standalone one (every delivery written) or the
/// harness's (claimed tasks only), checking `check` when given.
async fn receiver(dir: &Path, standalone: bool, check: Option<&str>, lines: &Lines) -> Receiver {
    let mut config = ReceiverConfig::new(dir);
    config.token = Some(TOKEN.into());
    config.secret = check.map(secret);
    config.store.record_all = standalone;
    config.log = lines.sink();
    Receiver::start(config).await.unwrap()
}

/// POSTs `body` to `path` (the token added) on a raw connection with `headers` spelt
/// exactly as given; the answer's status (0 when there was none within 10 s).
async fn deliver(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut request = format!(
        "POST {path}{separator}token={TOKEN} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        let text = String::from_utf8_lossy(&answer).into_owned();
        text.split(' ').nth(1).and_then(|code| code.parse().ok())
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .ok()
        .flatten()
        .unwrap_or(0)
}

fn task(id: &str, status: &str) -> String {
    json!({"id": id, "status": status, "progress": if status == "SUCCEEDED" { 100 } else { 10 },
           "echo": format!("a payload that repeats {SECRET}")})
    .to_string()
}

/// Every file under `dir` with its text.
fn texts(dir: &Path) -> Vec<(std::path::PathBuf, String)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                found.push((path, text));
            }
        }
    }
    found.sort();
    found
}

/// The three spellings of the header and a repetition, each a delivery of its own task.
fn spellings() -> Vec<(&'static str, Vec<(&'static str, &'static str)>)> {
    vec![
        ("t-lower", vec![("x-meshy-api-webhook-secret-key", SECRET)]),
        ("t-title", vec![("X-Meshy-Api-Webhook-Secret-Key", SECRET)]),
        ("t-upper", vec![("X-MESHY-API-WEBHOOK-SECRET-KEY", SECRET)]),
        (
            "t-repeated",
            vec![
                ("x-meshy-api-webhook-secret-key", SECRET),
                ("X-Meshy-Api-Webhook-Secret-Key", SECRET),
            ],
        ),
    ]
}

fn assert_placeholder_only(dir: &Path, expected_files: usize) {
    let files = texts(dir);
    assert_eq!(files.len(), expected_files, "{files:?}");
    for (path, text) in &files {
        assert!(
            !text.contains(SECRET) && !text.contains("whsec-"),
            "{}: {text}",
            path.display()
        );
        let recording = Recording::read(path, "").unwrap();
        for headers in std::iter::once(&recording.headers)
            .chain(recording.deliveries.iter().map(|d| &d.headers))
        {
            assert_eq!(
                headers
                    .get("x-meshy-api-webhook-secret-key")
                    .map(String::as_str),
                Some(WEBHOOK_SECRET_PLACEHOLDER),
                "{}: the header's name is kept, with the placeholder",
                path.display()
            );
            assert_eq!(
                headers
                    .get("x-meshy-api-webhook-user-id")
                    .map(String::as_str),
                Some("user-7"),
                "the account id is no credential"
            );
        }
    }
}

#[tokio::test]
async fn the_secret_header_in_any_spelling_or_repetition_is_stored_as_its_placeholder() {
    for check in [None, Some(SECRET)] {
        // The standalone receiver: per-task URLs and the dashboard URL (`unrouted/`).
        let dir = tempfile::tempdir().unwrap();
        let lines = Lines::default();
        let standalone = receiver(dir.path(), true, check, &lines).await;
        for (id, mut headers) in spellings() {
            headers.push(("X-Meshy-Api-Webhook-User-Id", "user-7"));
            for path in ["/webhook/otter/text3d", "/webhook"] {
                for status in ["IN_PROGRESS", "SUCCEEDED"] {
                    let answered =
                        deliver(standalone.addr(), path, &headers, &task(id, status)).await;
                    assert_eq!(answered, 200, "{check:?} {id} {path} {status}");
                }
            }
        }
        standalone.shutdown().await;
        // Four routed files, and four under unrouted/ (a finished task leaves memory, so
        // its later deliveries to the dashboard URL have no route).
        assert_placeholder_only(dir.path(), 8);
        assert_eq!(texts(&dir.path().join("unrouted")).len(), 4);
        assert!(!lines.all().contains(SECRET), "{}", lines.all());

        // The harness's receiver: a claimed task's journal.
        let dir = tempfile::tempdir().unwrap();
        let harness = receiver(dir.path(), false, check, &lines).await;
        for (id, mut headers) in spellings() {
            headers.push(("x-meshy-api-webhook-user-id", "user-7"));
            let progress = harness.claim(Claim {
                scenario: format!("otter_{id}"),
                species: "otter".into(),
                task_type: "text3d".into(),
                task_id: id.into(),
            });
            for status in ["IN_PROGRESS", "SUCCEEDED"] {
                assert_eq!(
                    deliver(harness.addr(), "/webhook", &headers, &task(id, status)).await,
                    200
                );
            }
            let mut progress = progress;
            tokio::time::timeout(WAIT, progress.wait_for(|p| p.terminal_written))
                .await
                .expect("the terminal delivery is written")
                .unwrap();
            harness.complete(id).unwrap();
        }
        harness.shutdown().await;
        assert_placeholder_only(dir.path(), 4);
        assert!(!lines.all().contains(SECRET), "{}", lines.all());
    }
}

#[tokio::test]
async fn dashboard_deliveries_land_under_unrouted_with_the_placeholder() {
    let dir = tempfile::tempdir().unwrap();
    let lines = Lines::default();
    let standalone = receiver(dir.path(), true, None, &lines).await;
    let headers = [
        ("X-Meshy-Api-Webhook-Secret-Key", SECRET),
        ("x-meshy-api-webhook-user-id", "user-7"),
    ];
    assert_eq!(
        deliver(
            standalone.addr(),
            "/webhook",
            &headers,
            &task("t-dash", "SUCCEEDED")
        )
        .await,
        200
    );
    standalone.shutdown().await;
    let file = dir.path().join("unrouted/t-dash.json");
    assert!(file.is_file(), "{:?}", texts(dir.path()));
    assert_placeholder_only(dir.path(), 1);
}

#[tokio::test]
async fn with_a_secret_configured_only_the_matching_header_is_taken() {
    for standalone in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let lines = Lines::default();
        let receiver = receiver(dir.path(), standalone, Some(SECRET), &lines).await;
        let wrong = "whsec-wrong-0123456789abcdef";
        let refused: Vec<(&str, Vec<(&str, &str)>)> = vec![
            ("t-missing", vec![]),
            ("t-wrong", vec![("x-meshy-api-webhook-secret-key", wrong)]),
            (
                "t-one-wrong",
                vec![
                    ("x-meshy-api-webhook-secret-key", SECRET),
                    ("X-Meshy-Api-Webhook-Secret-Key", wrong),
                ],
            ),
            (
                "t-prefix",
                vec![("x-meshy-api-webhook-secret-key", &SECRET[..10])],
            ),
            ("t-empty", vec![("x-meshy-api-webhook-secret-key", "")]),
        ];
        for (id, headers) in &refused {
            if !standalone {
                let _ = receiver.claim(Claim {
                    scenario: format!("otter_{id}"),
                    species: "otter".into(),
                    task_type: "text3d".into(),
                    task_id: (*id).into(),
                });
            }
            let answered = deliver(
                receiver.addr(),
                "/webhook/otter/text3d",
                headers,
                &task(id, "SUCCEEDED"),
            )
            .await;
            assert_eq!(answered, 401, "{id} (standalone: {standalone})");
        }
        // The token is still required: the right secret does not stand in for it.
        let addr = receiver.addr();
        let no_token = async {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let body = task("t-no-token", "SUCCEEDED");
            let request = format!(
                "POST /webhook HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\
                 x-meshy-api-webhook-secret-key: {SECRET}\r\n\r\n{body}",
                body.len()
            );
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer).await;
            answer
        };
        let answer = tokio::time::timeout(WAIT, no_token).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

        let accepted = [
            "x-meshy-api-webhook-secret-key",
            "X-MESHY-API-WEBHOOK-SECRET-KEY",
        ];
        for (n, name) in accepted.iter().enumerate() {
            let id = format!("t-right-{n}");
            let progress = (!standalone).then(|| {
                receiver.claim(Claim {
                    scenario: format!("otter_{id}"),
                    species: "otter".into(),
                    task_type: "text3d".into(),
                    task_id: id.clone(),
                })
            });
            let headers = [(*name, SECRET), ("x-meshy-api-webhook-user-id", "user-7")];
            assert_eq!(
                deliver(
                    addr,
                    "/webhook/otter/text3d",
                    &headers,
                    &task(&id, "SUCCEEDED")
                )
                .await,
                200
            );
            if let Some(mut progress) = progress {
                tokio::time::timeout(WAIT, progress.wait_for(|p| p.terminal_written))
                    .await
                    .unwrap()
                    .unwrap();
                receiver.complete(&id).unwrap();
            }
        }
        let stats = receiver.stats();
        receiver.shutdown().await;
        assert_eq!(
            (stats.accepted, stats.refused),
            (2, 6),
            "standalone: {standalone}"
        );
        // Nothing refused is stored; the two accepted hold the placeholder only.
        let names: Vec<String> = texts(dir.path())
            .iter()
            .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["otter_text3d_t-right-0.json", "otter_text3d_t-right-1.json"]
        );
        assert_placeholder_only(dir.path(), 2);
        let log = lines.all();
        assert!(
            log.contains("with 401: missing or wrong webhook secret"),
            "{log}"
        );
        assert!(
            !log.contains(SECRET) && !log.contains(wrong) && !log.contains(TOKEN),
            "{log}"
        );
    }
}

#[tokio::test]
async fn the_simulator_sends_the_secret_and_the_recording_holds_the_placeholder() {
    use crate::meshy::TaskType;
    use crate::recorder::Recorder;
    use crate::sim::{SimConfig, Simulator};
    // A secret configured on both sides (checked), then the simulator's own random one
    // with no check: Meshy always sends the header, so the recording always has it.
    for configured in [Some(SECRET), None] {
        let dir = tempfile::tempdir().unwrap();
        let lines = Lines::default();
        let receiver = Arc::new(receiver(dir.path(), false, configured, &lines).await);
        let sim = Simulator::start(SimConfig {
            task_time: Duration::from_millis(200),
            webhook_secret: configured.map(secret),
            ..SimConfig::unlimited()
        })
        .await
        .unwrap();
        let recorder = Recorder::recording(Arc::clone(&receiver), receiver.local_url(), dir.path())
            .with_reporter(
                Arc::new(|_: &crate::progress::Event| {}),
                Duration::from_secs(30),
            );
        let body = json!({"mode": "preview", "prompt": "otter", "callback_url": recorder.callback_url("otter", "text3d")});
        let client = crate::test_support::live_client(sim.base_url(), "msy_secret_key_12345678", 1);
        let id = client.create_task(TaskType::Text3d, &body).await.unwrap();
        let payload = recorder
            .payload("otter_text3d", "otter", "text3d", &id, WAIT)
            .await
            .unwrap();
        assert_eq!(payload["status"], "SUCCEEDED");
        receiver.complete(&id).unwrap();
        let stats = sim.delivery_stats();
        sim.shutdown().await;
        assert_eq!(
            (stats.retried, stats.abandoned),
            (0, 0),
            "{configured:?}: {stats:?}"
        );
        assert_eq!(receiver.stats().refused, 0);
        let path = recording_path(dir.path(), "otter", "text3d", &id);
        let recording = Recording::load(&path, "cmd").unwrap();
        assert!(recording.deliveries.len() >= 2);
        for delivery in &recording.deliveries {
            assert_eq!(
                delivery.headers["x-meshy-api-webhook-secret-key"],
                WEBHOOK_SECRET_PLACEHOLDER
            );
            assert_eq!(
                delivery.headers["x-meshy-api-webhook-user-id"],
                crate::sim::SIM_USER_ID
            );
        }
        for (path, text) in texts(dir.path()) {
            assert!(!text.contains(SECRET), "{}", path.display());
        }
    }
}

#[tokio::test]
async fn the_tunnel_check_passes_with_a_secret_configured() {
    let dir = tempfile::tempdir().unwrap();
    let lines = Lines::default();
    let receiver = receiver(dir.path(), false, Some(SECRET), &lines).await;
    // The preflight carries no secret: it asks /health, which the secret does not guard.
    let checked = tokio::time::timeout(
        WAIT,
        crate::tunnel::preflight(&receiver.local_url(), receiver.addr().port()),
    )
    .await
    .expect("the preflight ends within its deadline");
    assert!(checked.is_ok(), "{checked:?}");
    assert_eq!(receiver.stats().refused, 0);
    receiver.shutdown().await;
}
