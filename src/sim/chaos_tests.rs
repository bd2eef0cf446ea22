//! Each chaos fault kind acted out by a running simulator, seen from the wire: a
//! create's task made before its answer is lost or 502, 429 bursts that make nothing,
//! reads reset, 503 or slow, and webhook updates dropped, duplicated, reordered, late,
//! cut to one IN_PROGRESS, or the final one lost only when asked.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::tests::{KEY, WAIT, fast};
use super::*;
use crate::test_support::{Canned, ScriptedServer};
use crate::transport::http_client;

/// A simulator whose every request and update draws a fault of `only` these kinds.
async fn flaky(only: &[&str], webhook: Option<&ScriptedServer>) -> Simulator {
    Simulator::start(SimConfig {
        chaos: Some(Chaos {
            pause: Duration::from_millis(300),
            only: only.iter().map(|k| (*k).to_owned()).collect(),
            ..Chaos::new(1, 1.0)
        }),
        webhook_urls: webhook.map(|w| w.base_url.clone()).into_iter().collect(),
        webhook_payloads: vec![crate::meshy::ApiGeneration::V2],
        log: crate::log_sink::LogSink::silent(),
        ..fast()
    })
    .await
    .unwrap()
}

async fn create(sim: &Simulator, prompt: &str) -> Result<reqwest::Response, reqwest::Error> {
    http_client(None)
        .unwrap()
        .post(format!("{}/openapi/v2/text-to-3d", sim.base_url()))
        .bearer_auth(KEY)
        .header("Content-Type", "application/json")
        .body(json!({"prompt": prompt, "should_texture": false}).to_string())
        .send()
        .await
}

/// The whole answer, or the error that cut it.
async fn answer(
    response: Result<reqwest::Response, reqwest::Error>,
) -> Result<(u16, String), String> {
    let response = response.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(|e| e.to_string())?;
    Ok((status, body))
}

/// The ids of the tasks the simulator made (its list; reads draw nothing here).
async fn made(sim: &Simulator) -> Vec<String> {
    let list = http_client(None)
        .unwrap()
        .get(format!(
            "{}/openapi/v2/tasks?type=text-to-3d",
            sim.base_url()
        ))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status().as_u16(), 200, "the list draws no fault here");
    let body: Value = serde_json::from_str(&list.text().await.unwrap()).unwrap();
    let tasks = body
        .get("data")
        .or(Some(&body))
        .and_then(Value::as_array)
        .cloned();
    tasks
        .unwrap_or_default()
        .iter()
        .filter_map(|t| t["id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_create_answer_lost_or_502_comes_after_its_task_is_made_and_charged() {
    let sim = flaky(&["lost-answer"], None).await;
    let lost = answer(create(&sim, "lost otter").await).await;
    assert!(lost.is_err(), "the connection drops mid-answer: {lost:?}");
    assert_eq!(made(&sim).await.len(), 1, "the task was made");
    assert_eq!(sim.credits_charged(), 20);
    assert_eq!(sim.chaos_stats()["lost-answer"], 1);
    let sim = flaky(&["bad-gateway"], None).await;
    let (status, body) = answer(create(&sim, "gated otter").await).await.unwrap();
    assert_eq!(status, 502, "{body}");
    assert_eq!(made(&sim).await.len(), 1);
    assert_eq!(sim.credits_charged(), 20);
}

#[tokio::test]
async fn a_429_burst_is_three_answers_that_make_nothing() {
    let sim = flaky(&["too-many"], None).await;
    for _ in 0..3 {
        let (status, _) = answer(create(&sim, "busy otter").await).await.unwrap();
        assert_eq!(status, 429);
    }
    assert_eq!(sim.chaos_stats()["too-many"], 3);
    assert_eq!(sim.credits_charged(), 0, "no task was made");
}

#[tokio::test]
async fn reads_are_reset_answered_503_or_slow() {
    for (kind, expect) in [
        ("reset", None),
        ("unavailable", Some(503)),
        ("slow", Some(200)),
    ] {
        let sim = flaky(&[kind], None).await;
        // Creates draw no read fault: the task is made and answered.
        let (status, body) = answer(create(&sim, "read otter").await).await.unwrap();
        assert_eq!(status, 202, "{kind}: {body}");
        let id = serde_json::from_str::<Value>(&body).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let started = Instant::now();
        let read = http_client(None)
            .unwrap()
            .get(format!("{}/openapi/v2/tasks/{id}", sim.base_url()))
            .bearer_auth(KEY)
            .send()
            .await;
        let got = answer(read).await;
        match expect {
            None => assert!(got.is_err(), "{kind}: {got:?}"),
            Some(status) => assert_eq!(got.unwrap().0, status, "{kind}"),
        }
        if kind == "slow" {
            assert!(
                started.elapsed() >= Duration::from_millis(300),
                "answered after the pause"
            );
        }
        // A create may be slow too: it draws that kind as well.
        let faults = if kind == "slow" { 2 } else { 1 };
        assert_eq!(
            sim.chaos_stats()[kind],
            faults,
            "{kind}: each fault counted"
        );
    }
}

/// The statuses delivered for the one task made by `only`'s simulator, once its
/// deliveries are done.
async fn delivered(only: &[&str], lose_final: bool) -> (Vec<String>, Vec<Instant>) {
    let hook = ScriptedServer::start(|_| Canned::json(200, json!({}))).await;
    let sim = if lose_final {
        Simulator::start(SimConfig {
            chaos: Some(Chaos {
                lose_final: true,
                only: only.iter().map(|k| (*k).to_owned()).collect(),
                ..Chaos::new(1, 1.0)
            }),
            webhook_urls: vec![hook.base_url.clone()],
            log: crate::log_sink::LogSink::silent(),
            ..fast()
        })
        .await
        .unwrap()
    } else {
        flaky(only, Some(&hook)).await
    };
    let (status, _) = answer(create(&sim, "delivered otter").await).await.unwrap();
    assert_eq!(status, 202);
    tokio::time::timeout(WAIT, sim.settle())
        .await
        .expect("deliveries end in time");
    let seen = hook.requests();
    let statuses = seen
        .iter()
        .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
        .map(|b| b["status"].as_str().unwrap_or_default().to_owned())
        .collect();
    (statuses, seen.iter().map(|r| r.at).collect())
}

#[tokio::test]
async fn webhook_updates_are_dropped_duplicated_reordered_cut_or_late() {
    let (dropped, _) = delivered(&["dropped"], false).await;
    assert_eq!(
        dropped,
        ["SUCCEEDED"],
        "every update before the last dropped"
    );
    let (duplicated, _) = delivered(&["duplicated"], false).await;
    assert!(
        duplicated.len() >= 4 && duplicated.chunks(2).all(|p| p[0] == p[1]),
        "{duplicated:?}"
    );
    let (reordered, _) = delivered(&["reordered"], false).await;
    assert!(reordered.contains(&"SUCCEEDED".to_owned()), "{reordered:?}");
    assert_ne!(
        reordered.last().map(String::as_str),
        Some("SUCCEEDED"),
        "one came after the last: {reordered:?}"
    );
    let (cut, _) = delivered(&["only-in-progress"], false).await;
    assert_eq!(cut, ["IN_PROGRESS", "SUCCEEDED"]);
    let (late, at) = delivered(&["late"], false).await;
    assert_eq!(late.last().map(String::as_str), Some("SUCCEEDED"));
    // The pause (300 ms) starts once the update before it is sent; that one's own way
    // to the hook (a few ms, more on a loaded machine) falls inside it.
    let pause = at[at.len() - 1].duration_since(at[at.len() - 2]);
    assert!(
        pause >= Duration::from_millis(250),
        "the last came after the pause: {pause:?}"
    );
}

#[tokio::test]
async fn the_final_update_is_lost_only_when_asked() {
    let (kept, _) = delivered(&["final-lost"], false).await;
    assert_eq!(
        kept.last().map(String::as_str),
        Some("SUCCEEDED"),
        "not asked: {kept:?}"
    );
    let (lost, _) = delivered(&["final-lost"], true).await;
    assert!(
        !lost.is_empty() && !lost.contains(&"SUCCEEDED".to_owned()),
        "{lost:?}"
    );
}
