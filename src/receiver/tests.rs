//! Receiver and recorder tests, on loopback: refusals, recordings, races, load, and
//! the simulator delivering to the receiver end to end; limits, write failures, the
//! memory a finished task gives back, refusal logs, and a property test of the
//! payload path.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::recorder::{Recorder, RecorderError};
use crate::transport::http_client;
use crate::webhooks::Recording;

const WAIT: Duration = Duration::from_secs(30);

async fn start(dir: &std::path::Path) -> Receiver {
    let config = ReceiverConfig {
        token: Some("t0ken-for-tests".into()),
        log: crate::log_sink::LogSink::silent(),
        ..ReceiverConfig::new(dir)
    };
    Receiver::start(config).await.unwrap()
}

/// Log lines, collected.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn sink(&self) -> crate::log_sink::LogSink {
        let lines = Arc::clone(&self.0);
        crate::log_sink::LogSink::to(move |line| lines.lock().unwrap().push(line.to_owned()))
    }

    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// The standalone receiver's configuration (every delivery written), logging into `lines`.
fn standalone(dir: &std::path::Path, lines: &Lines) -> ReceiverConfig {
    let mut config = ReceiverConfig::new(dir);
    config.token = Some("t0ken-for-tests".into());
    config.store.record_all = true;
    config.log = lines.sink();
    config
}

/// A POST with the answer's status and body.
async fn post_answer(url: &str, body: impl Into<reqwest::Body>) -> (u16, String) {
    let response = http_client(None)
        .unwrap()
        .post(url)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Writes `request` on a raw connection, half-closes it when `half_close`, and reads
/// the answer: its status and text. Gives up after 10 s (status 0).
async fn raw_request(
    addr: std::net::SocketAddr,
    request: &[u8],
    half_close: bool,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        if half_close {
            stream.shutdown().await.unwrap();
        }
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    };
    let text = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .unwrap_or_default();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, text)
}

async fn post(url: &str, body: impl Into<reqwest::Body>) -> u16 {
    http_client(None)
        .unwrap()
        .post(url)
        .header("Content-Type", "application/json")
        .header("User-Agent", "Meshy-Webhook")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A POST with `Transfer-Encoding: chunked` (no Content-Length), written by hand; the
/// answer's status code.
async fn chunked_post(addr: std::net::SocketAddr, path: &str, body: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(64 * 1024) {
        // The server may answer and close before reading everything: stop writing then.
        if stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .is_err()
            || stream.write_all(chunk).await.is_err()
            || stream.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

fn task(id: &str, status: &str, progress: u32) -> String {
    json!({"id": id, "status": status, "progress": progress, "model_urls": {"glb": ""}}).to_string()
}

fn files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = walk(dir)
        .into_iter()
        .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
        .collect();
    names.sort();
    names
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            if e.path().is_dir() {
                walk(&e.path())
            } else {
                vec![e.path()]
            }
        })
        .collect()
}

#[tokio::test]
async fn refusals_answer_as_designed_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = start(dir.path()).await;
    let base = receiver.local_url();
    let hook = receiver.callback_url(&base, "otter", "text3d");
    // A task is claimed, so an authentic delivery would be written.
    drop(receiver.claim(Claim {
        scenario: "s".into(),
        species: "otter".into(),
        task_type: "text3d".into(),
        task_id: "t1".into(),
    }));
    let terminal = task("t1", "SUCCEEDED", 100);
    assert_eq!(
        post(&format!("{base}/webhook/otter/text3d"), terminal.clone()).await,
        401,
        "no token"
    );
    assert_eq!(
        post(
            &format!("{base}/webhook/otter/text3d?token=t0ken-for-tesTs"),
            terminal.clone()
        )
        .await,
        401,
        "wrong token"
    );
    assert_eq!(
        post(&format!("{base}/webhook?token="), terminal.clone()).await,
        401,
        "empty token"
    );
    let big = format!(
        "{{\"id\": \"t1\", \"status\": \"SUCCEEDED\", \"pad\": \"{}\"}}",
        "x".repeat(MAX_BODY)
    );
    assert_eq!(post(&hook, big.clone()).await, 413);
    let path = hook.trim_start_matches(&base).to_owned();
    assert_eq!(
        chunked_post(receiver.addr(), &path, big.as_bytes()).await,
        413,
        "no Content-Length does not bypass the limit"
    );
    for bad in [
        "not json",
        "[1, 2]",
        "{\"status\": \"SUCCEEDED\"}",
        "{\"id\": 7}",
        "{\"id\": \"../../etc\"}",
    ] {
        assert_eq!(post(&hook, bad).await, 400, "{bad}");
    }
    for path in [
        "/webhook/Otter/text3d",
        "/webhook/otter/text-3d",
        "/webhook/otter/made_up",
    ] {
        assert_eq!(
            post(
                &format!("{base}{path}?token=t0ken-for-tests"),
                terminal.clone()
            )
            .await,
            400,
            "{path}"
        );
    }
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
    assert_eq!(receiver.stats().refused, 13);
    assert_eq!(receiver.stats().accepted, 0);
    let health = http_client(None)
        .unwrap()
        .get(format!("{base}/health?nonce=abc123"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let health: Value = serde_json::from_slice(&health).unwrap();
    assert_eq!(health["nonce"], "abc123");
}

#[tokio::test]
async fn unclaimed_deliveries_get_200_and_are_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = start(dir.path()).await;
    assert_eq!(
        post(
            &receiver.webhook_url(receiver.local_url()),
            task("stranger", "SUCCEEDED", 100)
        )
        .await,
        200
    );
    receiver.shutdown().await;
    assert!(files(dir.path()).is_empty());
}

#[tokio::test]
async fn a_polled_task_of_the_run_is_not_listed_as_unclaimed() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = start(dir.path()).await;
    receiver.polled("ours");
    for id in ["ours", "stranger"] {
        let delivery = task(id, "SUCCEEDED", 100);
        assert_eq!(
            post(&receiver.webhook_url(receiver.local_url()), delivery).await,
            200
        );
    }
    assert_eq!(receiver.unclaimed(), [("stranger".to_owned(), 1)]);
    receiver.shutdown().await;
}

#[tokio::test]
async fn claimed_task_is_journaled_after_every_delivery_and_complete_only_when_its_trial_passes() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = start(dir.path()).await;
    let mut progress = receiver.claim(Claim {
        scenario: "otter_text3d".into(),
        species: "otter".into(),
        task_type: "text3d".into(),
        task_id: "t1".into(),
    });
    let hook = receiver.callback_url(receiver.local_url(), "otter", "text3d");
    for (status, p) in [("PENDING", 0), ("IN_PROGRESS", 39), ("IN_PROGRESS", 39)] {
        assert_eq!(post(&hook, task("t1", status, p)).await, 200);
    }
    let journal = Recording::read(&dir.path().join("otter_text3d_t1.json"), "cmd").unwrap();
    assert!(
        journal.incomplete,
        "the file is a journal until the trial passes"
    );
    assert_eq!(
        journal.deliveries.len(),
        3,
        "every delivery is on disk at once"
    );
    let err = Recording::load(&dir.path().join("otter_text3d_t1.json"), "cmd").unwrap_err();
    assert!(
        err.to_string().contains("is incomplete"),
        "replay refuses a journal: {err}"
    );
    assert_eq!(post(&hook, task("t1", "SUCCEEDED", 100)).await, 200);
    assert_eq!(post(&hook, task("t1", "SUCCEEDED", 100)).await, 200);
    receiver.complete("t1").unwrap();
    assert_eq!(post(&hook, task("t1", "IN_PROGRESS", 99)).await, 200);
    receiver.shutdown().await;
    progress.mark_changed();
    assert_eq!(
        progress.borrow().terminal.as_ref().unwrap()["status"],
        "SUCCEEDED"
    );
    assert_eq!(files(dir.path()), ["otter_text3d_t1.json"]);
    let recording = Recording::load(&dir.path().join("otter_text3d_t1.json"), "cmd").unwrap();
    assert_eq!(
        recording.payload["status"], "SUCCEEDED",
        "a late IN_PROGRESS is not the outcome"
    );
    let statuses: Vec<&str> = recording
        .deliveries
        .iter()
        .map(|d| d.payload["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "PENDING",
            "IN_PROGRESS",
            "IN_PROGRESS",
            "SUCCEEDED",
            "SUCCEEDED",
            "IN_PROGRESS"
        ]
    );
    assert_eq!(recording.scenario.as_deref(), Some("otter_text3d"));
    assert_eq!(recording.headers["user-agent"], "Meshy-Webhook");
    let text = std::fs::read_to_string(dir.path().join("otter_text3d_t1.json")).unwrap();
    assert!(
        !text.contains("t0ken-for-tests"),
        "the token never reaches a file"
    );
}

#[tokio::test]
async fn deliveries_that_beat_the_claim_are_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = start(dir.path()).await;
    let hook = receiver.webhook_url(receiver.local_url());
    for (status, p) in [("PENDING", 0), ("IN_PROGRESS", 50), ("SUCCEEDED", 100)] {
        assert_eq!(post(&hook, task("early", status, p)).await, 200);
    }
    assert!(files(dir.path()).is_empty());
    let recorder = Recorder::recording(Arc::new(receiver), "http://127.0.0.1:1", dir.path())
        .for_trial()
        .with_reporter(
            Arc::new(|_: &crate::progress::Event| {}),
            Duration::from_secs(30),
        );
    let payload = recorder
        .payload("beaver_remesh", "beaver", "remesh", "early", WAIT)
        .await
        .unwrap();
    assert_eq!(payload["status"], "SUCCEEDED");
    assert_eq!(
        recorder.complete_claimed().unwrap(),
        [dir.path().join("beaver_remesh_early.json")]
    );
    let recording = Recording::load(&dir.path().join("beaver_remesh_early.json"), "cmd").unwrap();
    assert_eq!(recording.deliveries.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_deliveries_for_a_hundred_tasks_are_all_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = start(dir.path()).await;
    for i in 0..100 {
        drop(receiver.claim(Claim {
            scenario: format!("s{i}"),
            species: "otter".into(),
            task_type: "text3d".into(),
            task_id: format!("task-{i}"),
        }));
    }
    let hook = receiver.webhook_url(receiver.local_url());
    let http = http_client(None).unwrap();
    let sends = (0..1000).map(|n| {
        let (task, step) = (n % 100, n / 100);
        let status = if step == 9 {
            "SUCCEEDED"
        } else {
            "IN_PROGRESS"
        };
        let body = json!({"id": format!("task-{task}"), "status": status, "progress": step * 10})
            .to_string();
        let request = http
            .post(&hook)
            .header("Content-Type", "application/json")
            .body(body);
        async move { request.send().await.map(|r| r.status().as_u16()) }
    });
    let answers = futures_util::future::join_all(sends).await;
    assert!(
        answers.iter().all(|a| matches!(a, Ok(200))),
        "every delivery accepted"
    );
    receiver.shutdown().await;
    let written = files(dir.path());
    assert_eq!(written.len(), 100, "{written:?}");
    for i in 0..100 {
        let recording = Recording::read(
            &dir.path().join(format!("otter_text3d_task-{i}.json")),
            "cmd",
        )
        .unwrap();
        assert_eq!(
            recording.deliveries.len(),
            10,
            "task-{i}: every delivery is in the file"
        );
        assert_eq!(recording.payload["status"], "SUCCEEDED");
    }
}

#[tokio::test]
async fn replaying_hands_back_the_recorded_payload_and_names_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Arc::new(start(dir.path()).await);
    let recorder = Recorder::recording(Arc::clone(&receiver), receiver.local_url(), dir.path())
        .with_reporter(
            Arc::new(|_: &crate::progress::Event| {}),
            Duration::from_secs(30),
        );
    let hook = recorder.callback_url("otter", "rigging");
    let waiting = recorder.payload("otter_rig", "otter", "rigging", "r1", WAIT);
    let deliver = async {
        post(&hook, task("r1", "IN_PROGRESS", 10)).await;
        post(&hook, task("r1", "SUCCEEDED", 100)).await;
    };
    let (recorded, _) = tokio::join!(waiting, deliver);
    let recorded = recorded.unwrap();
    recorder.complete_claimed().unwrap();

    let replay = Recorder::replaying(dir.path());
    assert_eq!(
        replay
            .payload("otter_rig", "otter", "rigging", "r1", WAIT)
            .await
            .unwrap(),
        recorded
    );
    let err = replay
        .payload("otter_rig", "otter", "rigging", "r2", WAIT)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "scenario 'otter_rig': no webhook recording '{}'; record it with `cargo test --test scenarios -- otter_rig --exact --record-webhooks`",
            dir.path().join("otter_rigging_r2.json").display()
        )
    );
}

#[tokio::test]
async fn a_silent_task_times_out_naming_scenario_task_and_what_to_check() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Arc::new(start(dir.path()).await);
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let recorder = Recorder::recording(Arc::clone(&receiver), "https://tunnel.example", dir.path())
        .with_reporter(
            Arc::new(move |event: &crate::progress::Event| {
                if let Some(line) = event.plain() {
                    sink.lock().unwrap().push(line);
                }
            }),
            Duration::from_millis(20),
        );
    post(
        &receiver.webhook_url(receiver.local_url()),
        task("slow", "IN_PROGRESS", 66),
    )
    .await;
    let err = recorder
        .payload(
            "otter_text3d",
            "otter",
            "text3d",
            "slow",
            Duration::from_millis(100),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, RecorderError::Timeout { .. }));
    assert_eq!(
        err.to_string(),
        "scenario 'otter_text3d': no terminal webhook for task slow within 0 s (last status seen: IN_PROGRESS 66%, after 1 \
         deliveries); check that the tunnel is up, that Meshy delivers to https://tunnel.example/webhook?token=… (the dashboard \
         webhook URL, or the callback URL sent with the task), and that the URL carries this run's token"
    );
    let lines = lines.lock().unwrap();
    assert!(
        lines.len() >= 2,
        "a line per delivery and periodic ones: {lines:?}"
    );
    assert!(
        lines[0].starts_with("otter_text3d slow… IN_PROGRESS 66% "),
        "{lines:?}"
    );
}

#[tokio::test]
async fn the_simulator_delivers_to_the_receiver_end_to_end() {
    use crate::meshy::TaskType;
    use crate::sim::{SimConfig, Simulator};
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulator::start(SimConfig {
        task_time: Duration::from_millis(200),
        ..SimConfig::unlimited()
    })
    .await
    .unwrap();
    let mut config = ReceiverConfig::new(dir.path());
    config.store.scrub = crate::cassette::Scrub::default()
        .host(sim.assets_url(), "https://assets.meshy.ai")
        .host(sim.base_url(), "https://api.meshy.ai");
    let receiver = Arc::new(Receiver::start(config).await.unwrap());
    let recorder = Recorder::recording(Arc::clone(&receiver), receiver.local_url(), dir.path())
        .with_reporter(
            Arc::new(|_: &crate::progress::Event| {}),
            Duration::from_secs(30),
        );
    let client = crate::test_support::live_client(sim.base_url(), "msy_e2e_key_12345678", 1);
    let body = json!({"mode": "preview", "prompt": "otter", "callback_url": recorder.callback_url("otter", "text3d")});
    let id = client.create_task(TaskType::Text3d, &body).await.unwrap();
    let payload = recorder
        .payload("otter_text3d", "otter", "text3d", &id, WAIT)
        .await
        .unwrap();
    assert_eq!(payload["status"], "SUCCEEDED");
    assert!(
        payload["model_urls"]["glb"]
            .as_str()
            .unwrap()
            .starts_with(&sim.assets_url()),
        "the trial sees live URLs"
    );
    receiver.complete(&id).unwrap();
    let recording = Recording::load(
        &crate::webhooks::recording_path(dir.path(), "otter", "text3d", &id),
        "cmd",
    )
    .unwrap();
    assert_eq!(recording.deliveries.len(), 7);
    assert!(
        recording.payload["model_urls"]["glb"]
            .as_str()
            .unwrap()
            .starts_with("https://assets.meshy.ai/tasks/"),
        "the file is portable"
    );
    let text = std::fs::read_to_string(crate::webhooks::recording_path(
        dir.path(),
        "otter",
        "text3d",
        &id,
    ))
    .unwrap();
    assert!(!text.contains("127.0.0.1") && !text.contains(receiver.token()));
}

#[tokio::test]
async fn a_delivery_whose_recording_cannot_be_written_gets_503_and_counts_as_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    // The recordings directory is a file: nothing can be written under it.
    let blocked = dir.path().join("webhooks");
    std::fs::write(&blocked, "not a directory").unwrap();
    let lines = Lines::default();
    let receiver = Receiver::start(standalone(&blocked, &lines)).await.unwrap();
    let hook = receiver.callback_url(receiver.local_url(), "otter", "text3d");
    let (status, body) = post_answer(&hook, task("t1", "SUCCEEDED", 100)).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("could not be recorded"), "{body}");
    assert!(
        !body.contains(&*dir.path().to_string_lossy()),
        "no local paths in answers: {body}"
    );
    let stats = receiver.stats();
    assert_eq!(
        (stats.accepted, stats.recorded, stats.failed),
        (0, 0, 1),
        "{stats:?}"
    );
    let logged = lines.all();
    assert!(
        logged.iter().any(|l| l.contains("with 503")
            && (l.contains("error writing") || l.contains("error reading"))),
        "{logged:?}"
    );
    // Once the disk takes it, the redelivery is answered 200 and recorded.
    std::fs::remove_file(&blocked).unwrap();
    assert_eq!(post(&hook, task("t1", "SUCCEEDED", 100)).await, 200);
    let stats = receiver.stats();
    assert_eq!(
        (stats.accepted, stats.recorded, stats.failed),
        (1, 1, 1),
        "{stats:?}"
    );
    receiver.shutdown().await;
    assert_eq!(files(&blocked), ["otter_text3d_t1.json"]);
}

#[tokio::test]
async fn names_that_cannot_make_a_file_name_are_refused_before_anything_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let lines = Lines::default();
    let receiver = Receiver::start(standalone(dir.path(), &lines))
        .await
        .unwrap();
    let base = receiver.local_url();
    let terminal = task("t1", "SUCCEEDED", 100);
    for species in ["a".repeat(300), "a".repeat(65)] {
        let (status, body) = post_answer(
            &receiver.callback_url(&base, &species, "text3d"),
            terminal.clone(),
        )
        .await;
        assert_eq!(status, 400, "{} characters", species.len());
        assert!(body.contains("1 to 64 characters of [a-z0-9_-]"), "{body}");
    }
    for id in ["0".repeat(65), "has_underscore".to_owned()] {
        let (status, body) = post_answer(
            &receiver.callback_url(&base, "otter", "text3d"),
            task(&id, "SUCCEEDED", 100),
        )
        .await;
        assert_eq!(status, 400, "{id}");
        assert!(body.contains("1 to 64 letters, digits and '-'"), "{body}");
    }
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
    assert_eq!(receiver.stats().refused, 4);
    // The longest names accepted still make a file (with room for the temp suffix).
    let longest = "a".repeat(64);
    let id = "0".repeat(64);
    assert_eq!(
        post(
            &receiver.callback_url(&base, &longest, "text3d"),
            task(&id, "SUCCEEDED", 100)
        )
        .await,
        200
    );
    assert_eq!(
        post(&receiver.webhook_url(&base), task(&id, "SUCCEEDED", 100)).await,
        200
    );
    receiver.shutdown().await;
    assert_eq!(
        files(dir.path()),
        [
            format!("{longest}_text3d_{id}.json"),
            format!("unrouted/{id}.json")
        ]
    );
}

#[tokio::test]
async fn a_body_cut_short_is_400_and_a_stalled_body_408() {
    let dir = tempfile::tempdir().unwrap();
    let lines = Lines::default();
    let mut config = standalone(dir.path(), &lines);
    config.body_stall = Duration::from_millis(200);
    let receiver = Receiver::start(config).await.unwrap();
    let head = |length: usize| {
        format!(
            "POST /webhook?token=t0ken-for-tests HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {length}\r\n\r\n{{\"id\": \"t1\",",
            receiver.addr()
        )
    };
    // Content-Length promises 100 bytes; 12 come, then the client half-closes.
    let (status, text) = raw_request(receiver.addr(), head(100).as_bytes(), true).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("the body ended early"), "{text}");
    // The same, but the connection stays open and silent.
    let (status, text) = raw_request(receiver.addr(), head(100).as_bytes(), false).await;
    assert_eq!(status, 408, "{text}");
    assert!(text.contains("the body stalled"), "{text}");
    // A trickle: a byte every 50 ms never stalls 200 ms, but the body may take 400 ms.
    let trickle = async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(receiver.addr())
            .await
            .unwrap();
        stream.write_all(head(10_000).as_bytes()).await.unwrap();
        let (mut read, mut write) = stream.into_split();
        let writer = tokio::spawn(async move {
            for _ in 0..200 {
                if write.write_all(b" ").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        let mut answer = Vec::new();
        let _ = read.read_to_end(&mut answer).await;
        writer.abort();
        String::from_utf8_lossy(&answer).into_owned()
    };
    let started = std::time::Instant::now();
    let text = tokio::time::timeout(Duration::from_secs(10), trickle)
        .await
        .expect("a trickling body held the connection");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let stats = receiver.stats();
    assert_eq!((stats.refused, stats.accepted), (3, 0), "{stats:?}");
    receiver.shutdown().await;
    assert!(files(dir.path()).is_empty());
}

#[tokio::test]
async fn an_empty_token_is_refused_naming_meshy_webhook_token() {
    let dir = tempfile::tempdir().unwrap();
    for empty in ["", "  "] {
        let mut config = ReceiverConfig::new(dir.path());
        config.token = Some(empty.into());
        let err = match Receiver::start(config.clone()).await {
            Err(err) => err,
            Ok(_) => panic!("{empty:?} accepted as a token"),
        };
        assert!(matches!(err, ReceiverError::EmptyToken), "{err:?}");
        let message = err.to_string();
        assert!(
            message.contains("MESHY_WEBHOOK_TOKEN") && message.contains("leave --token out"),
            "{message}"
        );
        assert!(matches!(
            config.resolve_token(),
            Err(ReceiverError::EmptyToken)
        ));
    }
}

#[tokio::test]
async fn a_finished_task_leaves_memory_and_a_late_duplicate_is_merged_into_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let lines = Lines::default();
    let receiver = Receiver::start(standalone(dir.path(), &lines))
        .await
        .unwrap();
    let hook = receiver.callback_url(receiver.local_url(), "otter", "text3d");
    let dashboard = receiver.webhook_url(receiver.local_url());
    for (status, p) in [("PENDING", 0), ("IN_PROGRESS", 50), ("SUCCEEDED", 100)] {
        assert_eq!(post(&hook, task("t1", status, p)).await, 200);
    }
    assert_eq!(post(&dashboard, task("t2", "IN_PROGRESS", 10)).await, 200);
    assert_eq!(post(&dashboard, task("t3", "FAILED", 10)).await, 200);
    assert_eq!(
        receiver.in_memory(),
        (1, 1),
        "only the unfinished task's delivery stays"
    );
    // Late duplicates of the finished tasks, after they left memory.
    assert_eq!(post(&hook, task("t1", "SUCCEEDED", 100)).await, 200);
    assert_eq!(post(&dashboard, task("t3", "FAILED", 10)).await, 200);
    assert_eq!(receiver.in_memory(), (1, 1));
    assert_eq!(receiver.stats().recorded, 7);
    receiver.shutdown().await;
    let t1 = Recording::load(&dir.path().join("otter_text3d_t1.json"), "cmd").unwrap();
    let statuses: Vec<&str> = t1
        .deliveries
        .iter()
        .map(|d| d.payload["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["PENDING", "IN_PROGRESS", "SUCCEEDED", "SUCCEEDED"]
    );
    assert_eq!(t1.payload["status"], "SUCCEEDED");
    let t3 = Recording::read(&dir.path().join("unrouted/t3.json"), "cmd").unwrap();
    assert_eq!(t3.deliveries.len(), 2);
    assert_eq!(
        files(dir.path()),
        [
            "otter_text3d_t1.json",
            "unrouted/t2.json",
            "unrouted/t3.json"
        ]
    );
}

#[tokio::test]
async fn a_claimed_task_stays_in_memory_until_its_trial_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let lines = Lines::default();
    let receiver = Receiver::start(standalone(dir.path(), &lines))
        .await
        .unwrap();
    let progress = receiver.claim(Claim {
        scenario: "otter_text3d".into(),
        species: "otter".into(),
        task_type: "text3d".into(),
        task_id: "t1".into(),
    });
    let hook = receiver.callback_url(receiver.local_url(), "otter", "text3d");
    assert_eq!(post(&hook, task("t1", "SUCCEEDED", 100)).await, 200);
    assert_eq!(receiver.in_memory(), (1, 1));
    assert!(progress.borrow().terminal_written);
    receiver.complete("t1").unwrap();
    let recording = Recording::load(&dir.path().join("otter_text3d_t1.json"), "cmd").unwrap();
    assert_eq!(recording.scenario.as_deref(), Some("otter_text3d"));
}

#[tokio::test]
async fn refusals_are_logged_with_their_reason_at_most_once_a_second_without_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let lines = Lines::default();
    let receiver = Receiver::start(standalone(dir.path(), &lines))
        .await
        .unwrap();
    let base = receiver.local_url();
    let started = std::time::Instant::now();
    for _ in 0..5 {
        let wrong = format!("{base}/webhook?token=wrong-secret-value");
        assert_eq!(post(&wrong, task("t1", "SUCCEEDED", 100)).await, 401);
    }
    let seconds = started.elapsed().as_secs() as usize;
    assert_eq!(post(&receiver.webhook_url(&base), "not json").await, 400);
    receiver.shutdown().await;
    let logged = lines.all();
    let token_lines = logged
        .iter()
        .filter(|l| l.contains("missing or wrong token"))
        .count();
    assert!(
        (1..=1 + seconds).contains(&token_lines),
        "one line per second for 5 refusals in {seconds} s: {logged:?}"
    );
    assert!(
        logged.iter().any(|l| l == "mesh-toolkit receiver: refused POST /webhook with 400: the body must be a JSON task object"),
        "{logged:?}"
    );
    assert!(
        logged
            .iter()
            .all(|l| !l.contains("wrong-secret-value") && !l.contains("t0ken-for-tests")),
        "{logged:?}"
    );
}

#[tokio::test]
async fn the_closing_line_about_unclaimed_deliveries_names_a_few_tasks_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let lines = Lines::default();
    let config = ReceiverConfig {
        token: Some("t0ken-for-tests".into()),
        log: lines.sink(),
        ..ReceiverConfig::new(dir.path())
    };
    let receiver = Receiver::start(config).await.unwrap();
    let hook = receiver.webhook_url(receiver.local_url());
    for i in 0..12 {
        assert_eq!(
            post(&hook, task(&format!("u{i:02}"), "SUCCEEDED", 100)).await,
            200
        );
    }
    assert_eq!(post(&hook, task("u00", "SUCCEEDED", 100)).await, 200);
    receiver.shutdown().await;
    assert_eq!(
        lines.all(),
        [
            "mesh-toolkit receiver: deliveries for tasks no scenario waited for, answered 200 and not recorded: \
          13 for 12 tasks: u00 (2), u01 (1), u02 (1), u03 (1), u04 (1) and 7 more"
        ]
    );
    assert_eq!(
        unclaimed_summary(&[("one".into(), 1)]).unwrap(),
        "mesh-toolkit receiver: deliveries for tasks no scenario waited for, answered 200 and not recorded: \
         1 for 1 task: one (1)"
    );
    assert_eq!(unclaimed_summary(&[]), None);
}

mod payload_path {
    //! No input to the payload path panics: arbitrary bytes and arbitrary JSON-ish
    //! objects through parsing and storing, in both store modes.
    use proptest::prelude::*;
    use serde_json::Value;

    use super::super::store::{Store, StoreConfig};
    use super::super::{check_route, parse_payload};

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "\\PC{0,20}".prop_map(Value::String),
            prop_oneof![
                Just("SUCCEEDED"),
                Just("FAILED"),
                Just("CANCELED"),
                Just("IN_PROGRESS"),
                Just("PENDING"),
                Just("")
            ]
            .prop_map(|s| Value::String(s.into())),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("\\PC{0,8}|id|status|progress", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A delivery body: a task object with an id of any shape, its other fields anything.
    fn task_body() -> impl Strategy<Value = Vec<u8>> {
        (
            prop_oneof!["[A-Za-z0-9-]{1,64}", "\\PC{0,80}"],
            prop::collection::btree_map("\\PC{0,8}|status|progress|model_urls", json_value(), 0..5),
        )
            .prop_map(|(id, fields)| {
                let mut object: serde_json::Map<String, Value> = fields.into_iter().collect();
                object.insert("id".into(), Value::String(id));
                serde_json::to_vec(&Value::Object(object)).unwrap()
            })
    }

    fn route() -> impl Strategy<Value = Option<(String, String)>> {
        prop::option::of(("\\PC{0,70}|otter", "\\PC{0,20}|text3d|remesh"))
    }

    fn run(
        record_all: bool,
        route: Option<(String, String)>,
        headers: Vec<(String, String)>,
        bodies: Vec<Vec<u8>>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(
            StoreConfig {
                dir: dir.path().to_owned(),
                record_all,
                scrub: crate::cassette::Scrub::default(),
                drop_headers: Vec::new(),
                spool: None,
            },
            "t0ken-for-tests".into(),
        );
        let route = route.filter(|(s, t)| check_route(s, t).is_ok());
        for body in bodies {
            if let Ok(payload) = parse_payload(&body) {
                // A write error is an answer (503), not a panic.
                let _ = store.accept(route.clone(), &headers, payload);
            }
        }
        let _ = store.in_memory();
        let _ = store.unclaimed();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_payload(&bytes);
            run(true, None, Vec::new(), vec![bytes]);
        }

        #[test]
        fn arbitrary_task_objects_never_panic(
            record_all in any::<bool>(),
            route in route(),
            headers in prop::collection::vec(("\\PC{0,12}", "\\PC{0,24}"), 0..4),
            bodies in prop::collection::vec(task_body(), 1..6),
        ) {
            run(record_all, route, headers, bodies);
        }
    }
}

#[tokio::test]
async fn a_recording_that_cannot_be_read_is_kept_and_the_delivery_refused() {
    let dir = tempfile::tempdir().unwrap();
    let torn = dir.path().join("otter_text3d_t9.json");
    std::fs::write(&torn, b"{\"task_id\": \"t9\", \"deliv").unwrap();
    let other = dir.path().join("otter_text3d_t8.json");
    let lines = Lines::default();
    let receiver = Receiver::start(standalone(dir.path(), &lines))
        .await
        .unwrap();
    let hook = receiver.callback_url(receiver.local_url(), "otter", "text3d");
    assert_eq!(post(&hook, task("t9", "SUCCEEDED", 100)).await, 503);
    assert_eq!(
        std::fs::read(&torn).unwrap(),
        b"{\"task_id\": \"t9\", \"deliv",
        "the earlier file is not replaced"
    );
    // A file that holds another task is not replaced either.
    assert_eq!(post(&hook, task("t8", "SUCCEEDED", 100)).await, 200);
    let t8 = std::fs::read(&other).unwrap();
    std::fs::copy(&other, dir.path().join("otter_text3d_t7.json")).unwrap();
    let second = Receiver::start(standalone(dir.path(), &lines))
        .await
        .unwrap();
    let hook = second.callback_url(second.local_url(), "otter", "text3d");
    assert_eq!(post(&hook, task("t7", "SUCCEEDED", 100)).await, 503);
    assert_eq!(
        std::fs::read(dir.path().join("otter_text3d_t7.json")).unwrap(),
        t8
    );
    receiver.shutdown().await;
    second.shutdown().await;
}
