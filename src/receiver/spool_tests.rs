//! The spool: dashboard deliveries of tasks nobody claimed kept under the target dir
//! for a later run, a standalone receiver that writes it, a run attached to that
//! receiver taking its tasks' deliveries from it, pruning, and the health answer a
//! run checks before it uses a receiver already running.

use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::json;

use super::*;
use crate::webhooks::Recording;

const TOKEN: &str = "spooltoken0123456789";
const WAIT: Duration = Duration::from_secs(30);

/// A harness run's receiver: recordings in `cassettes`, the spool in `spool`.
fn run_config(cassettes: &Path, spool: &Path) -> ReceiverConfig {
    let mut config = ReceiverConfig::new(cassettes);
    config.token = Some(TOKEN.into());
    config.store.spool = Some(spool.to_owned());
    config.log = crate::log_sink::LogSink::silent();
    config
}

/// `mesh-toolkit receive`: every delivery written, dashboard ones to the spool.
fn standalone_config(cassettes: &Path, spool: &Path) -> ReceiverConfig {
    let mut config = run_config(cassettes, spool);
    config.store.record_all = true;
    config
}

fn otter(task_id: &str) -> Claim {
    Claim {
        scenario: "otter_1".into(),
        species: "otter".into(),
        task_type: "text3d".into(),
        task_id: task_id.into(),
    }
}

async fn deliver(url: &str, task_id: &str, status: &str) {
    let body = json!({"id": task_id, "status": status, "progress": 0});
    assert_eq!(post(url, &body, None).await, 200);
}

/// POSTs `body`, with `secret` in Meshy's secret header if given; the status answered.
async fn post(url: &str, body: &serde_json::Value, secret: Option<&str>) -> u16 {
    let mut request = crate::transport::http_client(None)
        .unwrap()
        .post(url)
        .header("Content-Type", "application/json");
    if let Some(secret) = secret {
        request = request.header(crate::secrets::WEBHOOK_SECRET_HEADER, secret);
    }
    let response = request.body(body.to_string()).send().await.unwrap();
    response.status().as_u16()
}

/// A run's receiver attached to `standing`, as the harness attaches one (taken for gone
/// after a second without an answer).
async fn attach(config: ReceiverConfig, standing: &Receiver) -> Receiver {
    let port = standing.addr().port();
    let said = super::standing(port, TOKEN, None)
        .await
        .expect("a mesh-toolkit receiver");
    let restart = format!("mesh-toolkit receive --port {port} --cassettes /the/cassettes");
    Receiver::attach(config, port, &said, Duration::from_secs(1), &restart).unwrap()
}

/// Waits (at most [`WAIT`]) until the claimed task's terminal delivery is written.
async fn terminal_written(progress: &mut tokio::sync::watch::Receiver<Progress>) {
    tokio::time::timeout(WAIT, progress.wait_for(|p| p.terminal_written))
        .await
        .expect("the terminal delivery is written in time")
        .expect("the receiver still runs");
}

#[tokio::test]
async fn deliveries_nobody_claimed_wait_in_the_spool_for_the_next_run_and_leave_it_once_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (cassettes, spool) = (dir.path().join("webhooks"), dir.path().join("spool"));
    // This run's task finished while no trial waited for it (the trial was killed).
    let first = Receiver::start(run_config(&cassettes, &spool))
        .await
        .unwrap();
    let hook = first.webhook_url(first.local_url());
    deliver(&hook, "t1", "IN_PROGRESS").await;
    deliver(&hook, "t1", "SUCCEEDED").await;
    first.shutdown().await;
    assert!(spool.join("t1.json").is_file(), "kept in the spool");
    assert!(!cassettes.exists(), "nothing in the cassettes users commit");
    // The next run's trial claims it: everything is there at once.
    let next = Receiver::start(run_config(&cassettes, &spool))
        .await
        .unwrap();
    let mut progress = next.claim(otter("t1"));
    terminal_written(&mut progress).await;
    let path = cassettes.join("otter_text3d_t1.json");
    let recording = Recording::read(&path, "cmd").unwrap();
    let statuses: Vec<_> = recording
        .deliveries
        .iter()
        .map(|d| d.payload["status"].clone())
        .collect();
    assert_eq!(statuses, ["IN_PROGRESS", "SUCCEEDED"]);
    next.complete("t1").unwrap();
    assert!(
        !spool.join("t1.json").exists(),
        "recorded, so gone from the spool"
    );
    next.shutdown().await;
}

#[tokio::test]
async fn the_standalone_receiver_spools_dashboard_deliveries_and_records_routed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (cassettes, spool) = (dir.path().join("webhooks"), dir.path().join("spool"));
    let receiver = Receiver::start(standalone_config(&cassettes, &spool))
        .await
        .unwrap();
    deliver(
        &receiver.webhook_url(receiver.local_url()),
        "t-dash",
        "SUCCEEDED",
    )
    .await;
    let routed = receiver.callback_url(receiver.local_url(), "otter", "text3d");
    deliver(&routed, "t-routed", "SUCCEEDED").await;
    receiver.shutdown().await;
    assert!(spool.join("t-dash.json").is_file());
    assert!(
        !cassettes.join("unrouted").exists(),
        "not under unrouted/ any more"
    );
    assert!(cassettes.join("otter_text3d_t-routed.json").is_file());
    assert!(!spool.join("t-routed.json").exists());
}

#[tokio::test]
async fn a_run_attached_to_a_standing_receiver_takes_its_tasks_deliveries_from_the_spool() {
    let dir = tempfile::tempdir().unwrap();
    let (cassettes, spool) = (dir.path().join("webhooks"), dir.path().join("spool"));
    let standing = Receiver::start(standalone_config(&cassettes, &spool))
        .await
        .unwrap();
    let attached = attach(run_config(&cassettes, &spool), &standing).await;
    assert_eq!(
        attached.callback_url(attached.local_url(), "otter", "text3d"),
        standing.webhook_url(standing.local_url()),
        "a task's callback goes to the dashboard route: only this run writes its recording"
    );
    let mut progress = attached.claim(otter("t2"));
    let hook = standing.webhook_url(standing.local_url());
    deliver(&hook, "t2", "PENDING").await;
    deliver(&hook, "t2", "SUCCEEDED").await;
    terminal_written(&mut progress).await;
    attached.complete("t2").unwrap();
    let recording = Recording::read(&cassettes.join("otter_text3d_t2.json"), "cmd").unwrap();
    assert_eq!(recording.deliveries.len(), 2, "each delivery once");
    assert!(!recording.incomplete);
    assert_eq!(recording.scenario.as_deref(), Some("otter_1"));
    attached.shutdown().await;
    standing.shutdown().await;
}

#[tokio::test]
async fn spool_files_older_than_three_days_are_pruned_when_a_receiver_starts() {
    let dir = tempfile::tempdir().unwrap();
    let (cassettes, spool) = (dir.path().join("webhooks"), dir.path().join("spool"));
    std::fs::create_dir_all(&spool).unwrap();
    for name in ["old.json", "new.json"] {
        std::fs::write(spool.join(name), "{}").unwrap();
    }
    let four_days = SystemTime::now() - Duration::from_secs(4 * 86_400);
    std::fs::File::options()
        .write(true)
        .open(spool.join("old.json"))
        .unwrap()
        .set_modified(four_days)
        .unwrap();
    let receiver = Receiver::start(run_config(&cassettes, &spool))
        .await
        .unwrap();
    receiver.shutdown().await;
    assert!(!spool.join("old.json").exists());
    assert!(spool.join("new.json").exists());
}

#[tokio::test]
async fn the_health_answer_says_what_it_serves_and_whether_a_token_is_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let cassettes = dir.path().join("cassettes");
    let serves = Serves::here(dir.path(), &cassettes);
    let mut config = standalone_config(&cassettes.join("webhooks"), &serves.spool);
    config.serves = Some(serves.clone());
    let receiver = Receiver::start(config).await.unwrap();
    receiver.set_public_url("https://hooks.example");
    let port = receiver.addr().port();
    let ours = standing(port, TOKEN, None)
        .await
        .expect("a mesh-toolkit receiver");
    assert_eq!(ours.serves.as_ref(), Some(&serves));
    assert!(ours.token_ok);
    assert_eq!(ours.public_url.as_deref(), Some("https://hooks.example"));
    let theirs = standing(port, "anothertoken0123456789", None)
        .await
        .unwrap();
    assert!(!theirs.token_ok);
    assert_eq!(
        theirs.serves, None,
        "what it serves, only to who knows its token"
    );
    assert_eq!(theirs.public_url, None);
    assert!(
        !ours.checks_secret && !theirs.checks_secret,
        "no secret checked"
    );
    receiver.shutdown().await;
}

#[tokio::test]
async fn a_rerun_claim_takes_each_spooled_delivery_once() {
    let dir = tempfile::tempdir().unwrap();
    let (cassettes, spool) = (dir.path().join("webhooks"), dir.path().join("spool"));
    let first = Receiver::start(run_config(&cassettes, &spool))
        .await
        .unwrap();
    let hook = first.webhook_url(first.local_url());
    deliver(&hook, "t3", "IN_PROGRESS").await;
    deliver(&hook, "t3", "SUCCEEDED").await;
    first.shutdown().await;
    // A run claims it and is killed before its trial passes: recording and spool both
    // hold the deliveries now.
    let killed = Receiver::start(run_config(&cassettes, &spool))
        .await
        .unwrap();
    let mut progress = killed.claim(otter("t3"));
    terminal_written(&mut progress).await;
    drop(killed);
    let rerun = Receiver::start(run_config(&cassettes, &spool))
        .await
        .unwrap();
    let mut progress = rerun.claim(otter("t3"));
    terminal_written(&mut progress).await;
    rerun.complete("t3").unwrap();
    let recording = Recording::read(&cassettes.join("otter_text3d_t3.json"), "cmd").unwrap();
    assert_eq!(recording.deliveries.len(), 2, "each delivery once");
    rerun.shutdown().await;
}

#[tokio::test]
async fn what_the_standing_receiver_spools_after_the_final_delivery_reaches_the_recording() {
    let dir = tempfile::tempdir().unwrap();
    let (cassettes, spool) = (dir.path().join("webhooks"), dir.path().join("spool"));
    let standing = Receiver::start(standalone_config(&cassettes, &spool))
        .await
        .unwrap();
    let attached = attach(run_config(&cassettes, &spool), &standing).await;
    let mut progress = attached.claim(otter("t4"));
    let hook = standing.webhook_url(standing.local_url());
    deliver(&hook, "t4", "SUCCEEDED").await;
    terminal_written(&mut progress).await;
    // A delivery Meshy sends late, after the one the trial waited for.
    deliver(&hook, "t4", "IN_PROGRESS").await;
    attached.complete("t4").unwrap();
    let recording = Recording::read(&cassettes.join("otter_text3d_t4.json"), "cmd").unwrap();
    let statuses: Vec<_> = recording
        .deliveries
        .iter()
        .map(|d| d.payload["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        ["SUCCEEDED", "IN_PROGRESS"],
        "nothing spooled is lost"
    );
    assert_eq!(recording.payload["status"], "SUCCEEDED");
    assert!(!spool.join("t4.json").exists());
    attached.shutdown().await;
    standing.shutdown().await;
}

/// A delivery with `secret` in Meshy's secret header; the status it was answered.
async fn deliver_signed(url: &str, task_id: &str, secret: &str) -> u16 {
    let body = json!({"id": task_id, "status": "SUCCEEDED", "progress": 100});
    post(url, &body, Some(secret)).await
}

#[tokio::test]
async fn a_run_attached_counts_only_the_secret_refusals_of_the_standing_receiver_since_it_attached()
{
    let dir = tempfile::tempdir().unwrap();
    let (cassettes, spool) = (dir.path().join("webhooks"), dir.path().join("spool"));
    let mut config = standalone_config(&cassettes, &spool);
    config.secret = Some(
        crate::secrets::WebhookSecret::new(
            "the-right-secret-0123456789",
            crate::secrets::SecretSource::Env,
        )
        .unwrap(),
    );
    let standing = Receiver::start(config).await.unwrap();
    let port = standing.addr().port();
    let right = crate::secrets::WebhookSecret::new(
        "the-right-secret-0123456789",
        crate::secrets::SecretSource::Env,
    )
    .unwrap();
    let wrong = crate::secrets::WebhookSecret::new(
        "a-wrong-secret-0123",
        crate::secrets::SecretSource::Env,
    )
    .unwrap();
    for (asked, ok) in [
        (Some(right.fingerprint(TOKEN)), Some(true)),
        (Some(wrong.fingerprint(TOKEN)), Some(false)),
        (None, None),
    ] {
        let said = super::standing(port, TOKEN, asked.as_deref())
            .await
            .unwrap();
        assert!(said.checks_secret);
        assert_eq!(said.secret_ok, ok, "whether the run's secret is its own");
    }
    let hook = standing.webhook_url(standing.local_url());
    // An earlier run's problem, not this one's.
    assert_eq!(
        deliver_signed(&hook, "t5", "a-wrong-secret-0123").await,
        401
    );
    let attached = attach(run_config(&cassettes, &spool), &standing).await;
    assert_eq!(
        deliver_signed(&hook, "t6", "a-wrong-secret-0123").await,
        401
    );
    assert_eq!(
        deliver_signed(&hook, "t7", "the-right-secret-0123456789").await,
        200
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    while attached.stats().secret_refused == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refusal reaches the attached run"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        attached.stats().secret_refused,
        1,
        "this run's refusal only"
    );
    attached.shutdown().await;
    standing.shutdown().await;
}

#[tokio::test]
async fn a_run_attached_to_a_standing_receiver_that_stops_answering_ends_its_waits_and_says_how_to_restart_it()
 {
    let dir = tempfile::tempdir().unwrap();
    let (cassettes, spool) = (dir.path().join("webhooks"), dir.path().join("spool"));
    let standing = Receiver::start(standalone_config(&cassettes, &spool))
        .await
        .unwrap();
    let port = standing.addr().port();
    let mut config = run_config(&cassettes, &spool);
    config.serves = Some(Serves::here(dir.path(), dir.path()));
    let attached = attach(config, &standing).await;
    let mut waiting = attached.claim(otter("t8"));
    let mut done = attached.claim(otter("t9"));
    deliver(
        &standing.webhook_url(standing.local_url()),
        "t9",
        "SUCCEEDED",
    )
    .await;
    terminal_written(&mut done).await;
    assert_eq!(attached.gone(), None, "it answers");
    standing.shutdown().await;
    let gone = tokio::time::timeout(WAIT, waiting.wait_for(|p| p.gone.is_some()))
        .await
        .expect("the wait is told within a few seconds")
        .unwrap()
        .gone
        .clone()
        .unwrap();
    assert!(
        gone.contains(&format!("127.0.0.1:{port}"))
            && gone.contains(&format!(
                "`mesh-toolkit receive --port {port} --cassettes /the/cassettes`"
            )),
        "{gone}"
    );
    assert_eq!(attached.gone().as_deref(), Some(&*gone), "no more buying");
    assert!(
        done.borrow().gone.is_none(),
        "a task whose final delivery is on disk is not affected"
    );
    attached.shutdown().await;
}

#[tokio::test]
async fn a_resumed_tasks_payload_from_a_file_points_at_the_deployment_the_run_talks_to() {
    let dir = tempfile::tempdir().unwrap();
    let (cassettes, spool) = (dir.path().join("webhooks"), dir.path().join("spool"));
    let sim_assets = "http://127.0.0.1:9/assets";
    let config = || {
        let mut config = run_config(&cassettes, &spool);
        config.store.scrub =
            crate::cassette::Scrub::default().host(sim_assets, "https://assets.meshy.ai");
        config
    };
    let body = |id: &str| {
        json!({"id": id, "status": "SUCCEEDED", "progress": 100,
            "model_urls": {"glb": format!("{sim_assets}/{id}/model.glb")}})
    };
    // Killed after the terminal delivery was journalled (t10), and before t11's trial
    // claimed its task (spooled).
    let killed = Receiver::start(config()).await.unwrap();
    let mut progress = killed.claim(otter("t10"));
    let hook = killed.webhook_url(killed.local_url());
    assert_eq!(post(&hook, &body("t10"), None).await, 200);
    terminal_written(&mut progress).await;
    assert_eq!(post(&hook, &body("t11"), None).await, 200);
    drop(killed);
    for (file, id) in [
        (cassettes.join("otter_text3d_t10.json"), "t10"),
        (spool.join("t11.json"), "t11"),
    ] {
        let written = std::fs::read_to_string(&file).unwrap();
        assert!(
            written.contains(&format!("https://assets.meshy.ai/{id}/model.glb"))
                && !written.contains(sim_assets),
            "files hold the canonical host: {written}"
        );
    }
    let rerun = Receiver::start(config()).await.unwrap();
    for id in ["t10", "t11"] {
        let mut progress = rerun.claim(otter(id));
        terminal_written(&mut progress).await;
        let terminal = progress.borrow().terminal.clone().unwrap();
        assert_eq!(
            terminal["model_urls"]["glb"],
            format!("{sim_assets}/{id}/model.glb"),
            "the trial downloads from the simulator that made the task"
        );
    }
    rerun.complete("t10").unwrap();
    let written = std::fs::read_to_string(cassettes.join("otter_text3d_t10.json")).unwrap();
    assert!(!written.contains(sim_assets), "{written}");
    rerun.shutdown().await;
}

#[tokio::test]
async fn the_token_is_never_sent_to_something_on_the_port_that_is_not_a_mesh_toolkit_receiver() {
    let foreign = crate::test_support::ScriptedServer::start(|_| {
        crate::test_support::Canned::json(404, json!({"error": "not found"}))
    })
    .await;
    let port: u16 = foreign
        .base_url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    assert_eq!(super::standing(port, TOKEN, None).await, None);
    let seen = foreign.requests();
    assert_eq!(seen.len(), 1, "one health question, without the token");
    assert!(
        seen.iter().all(|r| !r.path.contains(TOKEN)),
        "{:?}",
        seen.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn what_the_spool_kept_of_a_polled_task_goes_when_the_run_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (cassettes, spool) = (dir.path().join("webhooks"), dir.path().join("spool"));
    let standing = Receiver::start(standalone_config(&cassettes, &spool))
        .await
        .unwrap();
    let attached = attach(run_config(&cassettes, &spool), &standing).await;
    attached.polled("t12");
    let hook = standing.webhook_url(standing.local_url());
    deliver(&hook, "t12", "SUCCEEDED").await;
    deliver(&hook, "t13", "SUCCEEDED").await;
    assert!(spool.join("t12.json").is_file());
    attached.shutdown().await;
    assert!(
        !spool.join("t12.json").exists(),
        "the run's polled task: recorded by polling, never claimed"
    );
    assert!(
        spool.join("t13.json").is_file(),
        "another task's deliveries wait for their run"
    );
    standing.shutdown().await;
}
