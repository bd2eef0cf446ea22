//! End-to-end tests of the simulator: the SDK against it for every task type, webhook
//! delivery, errors, outcomes, and scale. Everything runs on loopback.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::meshy::{
    ApiError, Client, PollOptions, TEST_MODE_API_KEY, TaskRequest, TaskService, TaskStatus,
    TaskType,
};
use crate::repository::{Repository, UpdateSource};
use crate::test_support::{Canned, ScriptedServer, free_port};
use crate::transport::http_client;
use crate::webhooks::WebhookHandler;

pub(super) const KEY: &str = "msy_simulator_test_key_123456";
pub(super) const WAIT: Duration = Duration::from_secs(30);

pub(super) fn fast() -> SimConfig {
    SimConfig {
        task_time: Duration::ZERO,
        delivery: DeliveryPolicy {
            attempts: 5,
            backoff: Duration::from_millis(1),
        },
        ..SimConfig::unlimited()
    }
}

fn client(sim: &Simulator, key: &str, attempts: u32) -> Client {
    crate::test_support::live_client(sim.base_url(), key, attempts)
}

/// Creates a text-to-3D preview task and returns its id.
async fn create_preview(client: &Client, prompt: &str) -> String {
    let body = json!({"mode": "preview", "prompt": prompt});
    client.create_task(TaskType::Text3d, &body).await.unwrap()
}

/// A raw request, for checking status codes, headers and bodies exactly.
#[tokio::test]
async fn todays_streams_carry_the_whole_task_in_every_frame_with_keep_alives_between() {
    let sim = Simulator::start(SimConfig {
        task_time: Duration::from_secs(2),
        ..SimConfig::unlimited()
    })
    .await
    .unwrap();
    let client = client(&sim, KEY, 1);
    let id = create_preview(&client, "streamed otter").await;
    let response = http_client(None)
        .unwrap()
        .get(format!(
            "{}/openapi/v2/text-to-3d/{id}/stream",
            sim.base_url()
        ))
        .header("Authorization", format!("Bearer {KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream;charset=utf-8"
    );
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    assert_eq!(response.headers()["x-api-version"], "v2026.01.27");
    let text = response.text().await.unwrap();
    assert!(text.starts_with("event:message\ndata:{"), "{text}");
    assert!(
        text.contains("\n\n: keep-alive\n\nevent:message\ndata:{"),
        "{text}"
    );
    let frames: Vec<&str> = text
        .split("\n\n")
        .filter_map(|frame| frame.lines().find_map(|l| l.strip_prefix("data:")))
        .collect();
    let first: Value = serde_json::from_str(frames[0]).unwrap();
    assert_eq!(first["status"], "PENDING");
    for field in [
        "preceding_tasks",
        "task_error",
        "model_urls",
        "type",
        "name",
    ] {
        assert!(
            first.get(field).is_some(),
            "the first frame has {field}: {first}"
        );
    }
    assert_eq!(first["model_urls"]["glb"], "");
    // The SDK reads a running task's stream, skipping the comment frames.
    let running = create_preview(&client, "another streamed otter").await;
    let events = client
        .stream_task(TaskType::Text3d, &running)
        .await
        .unwrap();
    assert!(events.len() > 2, "{} frames", events.len());
    assert!(
        events
            .iter()
            .all(|t| t.model_urls.is_some() && t.kind.is_some()),
        "every frame is the whole task"
    );
    assert_eq!(events[0].status, TaskStatus::Pending);
    assert_eq!(events.last().unwrap().status, TaskStatus::Succeeded);
    // Today's text-to-image tasks start IN_PROGRESS at 30%.
    let image = client
        .create_task(
            TaskType::TextToImage,
            &json!({"ai_model": "nano-banana", "prompt": "otter"}),
        )
        .await
        .unwrap();
    let first = client
        .get_task(TaskType::TextToImage, &image)
        .await
        .unwrap();
    assert_eq!(
        (first.status, first.progress),
        (TaskStatus::InProgress, Some(30))
    );
}

#[tokio::test]
async fn a_simulator_speaks_the_version_asked_for_per_simulator_or_per_task() {
    let sim = Simulator::start(SimConfig {
        task_time: Duration::ZERO,
        api_version: ApiVersion::V2025_11_18,
        rules: vec![Rule {
            prompt_contains: Some("today".into()),
            task_type: None,
            then: Behaviour {
                api_version: Some(ApiVersion::V2026_01_27),
                ..Behaviour::default()
            },
        }],
        ..SimConfig::unlimited()
    })
    .await
    .unwrap();
    let client = client(&sim, KEY, 1);
    let old = create_preview(&client, "an otter of November").await;
    let new = create_preview(&client, "an otter of today").await;
    sim.settle().await;
    let get = |id: String| {
        let url = format!("{}/openapi/v2/text-to-3d/{id}", sim.base_url());
        async move { raw("GET", &url, Some(KEY), None).await }
    };
    let (_, old_body, old_headers) = get(old).await;
    assert_eq!(old_headers["x-api-version"], "v2025.11.18");
    assert!(old_body.get("type").is_none(), "{old_body}");
    let (_, new_body, new_headers) = get(new).await;
    assert_eq!(new_headers["x-api-version"], "v2026.01.27");
    assert_eq!(new_body["type"], "text-to-3d-preview");
}

pub(super) async fn raw(
    method: &str,
    url: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let http = http_client(None).unwrap();
    let mut request = http.request(method.parse().unwrap(), url);
    if let Some(key) = key {
        request = request.header("Authorization", format!("Bearer {key}"));
    }
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap_or(Value::Null);
    (status, body, headers)
}

fn statuses(bodies: &[Value], id: &str) -> Vec<String> {
    bodies
        .iter()
        .filter(|b| b["id"] == id)
        .map(|b| b["status"].as_str().unwrap_or("?").to_owned())
        .collect()
}

fn is_terminal(body: &Value) -> bool {
    TaskStatus::from(body["status"].as_str().unwrap_or_default().to_owned()).is_terminal()
}

#[tokio::test]
#[allow(deprecated)] // v1's refine and routes: spoken until 2027-03-15, replayed after
async fn every_task_type_runs_end_to_end_through_the_sdk_with_real_glb_files() {
    let sim = Simulator::start(fast()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let client = client(&sim, KEY, 3);
    let repository = Repository::new(dir.path());
    let service = TaskService::new(client.clone(), repository.clone());
    let handler = WebhookHandler::new(repository, client);
    let poll = PollOptions {
        interval: Duration::from_millis(5),
        timeout: WAIT,
    };

    let mut ids = std::collections::HashMap::new();
    let plan: Vec<(&str, TaskType, Value)> = vec![
        (
            "preview",
            TaskType::Text3d,
            json!({"prompt": "Cute otter", "ai_model": "meshy-5"}),
        ),
        (
            "refine",
            TaskType::Text3dRefine,
            json!({"preview_task_id": "preview", "enable_pbr": true}),
        ),
        (
            "rig",
            TaskType::Rigging,
            json!({"input_task_id": "refine", "height_meters": 1.2}),
        ),
        (
            "anim",
            TaskType::Animation,
            json!({"rig_task_id": "rig", "action_id": 1}),
        ),
        (
            "remesh",
            TaskType::Remesh,
            json!({"input_task_id": "preview", "target_formats": ["glb", "fbx"]}),
        ),
        (
            "retexture",
            TaskType::Retexture,
            json!({"input_task_id": "preview", "text_style_prompt": "wood"}),
        ),
        (
            "image",
            TaskType::Image3d,
            json!({"image_url": "https://example.invalid/otter.png"}),
        ),
        (
            "multi",
            TaskType::MultiImage3d,
            json!({"image_urls": ["https://example.invalid/a.png", "https://example.invalid/b.png"]}),
        ),
        (
            "picture",
            TaskType::TextToImage,
            json!({"ai_model": "nano-banana", "prompt": "otter"}),
        ),
    ];
    for (name, task_type, mut fields) in plan {
        // Inputs name earlier steps; swap in their task ids.
        if let Some(field) = task_type.input_field()
            && let Some(step) = fields.get(field).and_then(Value::as_str)
        {
            fields[field] = json!(ids[step]);
        }
        let request = TaskRequest::from_json(task_type, fields).unwrap();
        let submission = service.submit("otter", &request).await.unwrap();
        let task = service.poll(&submission, &poll, |_| {}).await.unwrap();
        assert_eq!(task.status, TaskStatus::Succeeded, "{name}");
        let handled = handler.handle(&task, UpdateSource::Poll).await.unwrap();
        let artifact = handled
            .downloaded
            .unwrap_or_else(|| panic!("{name}: nothing downloaded"));
        let bytes = std::fs::read(dir.path().join(&artifact.path)).unwrap();
        if artifact.path.ends_with(".glb") {
            let gltf = gltf::Gltf::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{name}: invalid GLB: {e}"));
            assert_eq!(gltf.meshes().count(), 1, "{name}");
        } else {
            assert!(bytes.starts_with(b"\x89PNG"), "{name}");
        }
        ids.insert(name, submission.task_id);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn todays_new_endpoints_run_end_to_end_with_a_webhook_and_their_files() {
    let hook = ScriptedServer::start(|_| Canned::json(200, json!({}))).await;
    let sim = Simulator::start(SimConfig {
        webhook_urls: vec![hook.base_url.clone()],
        ..fast()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let client = client(&sim, KEY, 3);
    let repository = Repository::new(dir.path());
    let service = TaskService::new(client.clone(), repository.clone());
    let handler = WebhookHandler::new(repository, client.clone());
    let poll = PollOptions {
        interval: Duration::from_millis(5),
        timeout: WAIT,
    };
    let preview = TaskRequest::from_json(TaskType::Text3d, json!({"prompt": "otter"})).unwrap();
    let preview = service.submit("otter", &preview).await.unwrap();
    service.poll(&preview, &poll, |_| {}).await.unwrap();
    let input = || json!(preview.task_id.clone());
    // (task type, request, what the kept file starts with: None = no file)
    let plan: Vec<(TaskType, Value, Option<&[u8]>)> = vec![
        (
            TaskType::ImageToImage,
            json!({"ai_model": "nano-banana", "prompt": "otter in oil", "reference_image_urls": ["https://example.invalid/o.png"]}),
            Some(b"\x89PNG"),
        ),
        (
            TaskType::TextToMotion,
            json!({"prompt": "a happy hop", "duration": 4.0}),
            Some(b"simulated"),
        ),
        (
            TaskType::Convert,
            json!({"input_task_id": input(), "target_formats": ["stl"]}),
            Some(b"simulated"),
        ),
        (
            TaskType::Resize,
            json!({"input_task_id": input(), "resize_height": 1.5}),
            Some(b"glTF"),
        ),
        (
            TaskType::UvUnwrap,
            json!({"input_task_id": input()}),
            Some(b"glTF"),
        ),
        (
            TaskType::PrintAnalyze,
            json!({"input_task_id": input(), "printer_type": "fdm"}),
            None,
        ),
        (
            TaskType::PrintRepair,
            json!({"input_task_id": input()}),
            Some(b"glTF"),
        ),
        (
            TaskType::PrintMultiColor,
            json!({"input_task_id": input(), "max_colors": 4}),
            Some(b"simulated"),
        ),
    ];
    for (task_type, fields, file) in plan {
        let request = TaskRequest::from_json(task_type, fields).unwrap();
        let submission = service.submit("otter", &request).await.unwrap();
        let task = service.poll(&submission, &poll, |_| {}).await.unwrap();
        assert_eq!(task.status, TaskStatus::Succeeded, "{task_type}");
        assert_eq!(
            task.kind.as_deref(),
            Some(task_type.api_type()),
            "{task_type}"
        );
        let handled = handler.handle(&task, UpdateSource::Poll).await.unwrap();
        match (file, handled.downloaded) {
            (Some(start), Some(artifact)) => {
                let bytes = std::fs::read(dir.path().join(&artifact.path)).unwrap();
                assert!(bytes.starts_with(start), "{task_type}: {}", artifact.path);
            }
            (None, None) => {
                assert_eq!(task.printability.as_ref().unwrap()["status"], "healthy");
            }
            (want, got) => panic!("{task_type}: expected a file {want:?}, got {got:?}"),
        }
        // Every update reached the dashboard webhook.
        sim.settle().await;
        let delivered = hook
            .requests()
            .iter()
            .filter(|r| String::from_utf8_lossy(&r.body).contains(&submission.task_id))
            .count();
        assert!(delivered >= 2, "{task_type}: {delivered} deliveries");
    }
    // Listing, streaming and deleting work on the four-segment print collections too.
    let listed = client
        .list_tasks(TaskType::PrintAnalyze, &crate::meshy::ListPage::default())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let frames = client
        .stream_task(TaskType::PrintAnalyze, &listed[0].id)
        .await
        .unwrap();
    assert_eq!(frames.last().unwrap().status, TaskStatus::Succeeded);
    client
        .delete_task(TaskType::PrintAnalyze, &listed[0].id)
        .await
        .unwrap();
    // The public animation catalog, without a key.
    let catalog = client.animation_catalog().await.unwrap();
    assert_eq!(catalog.len(), 157);
    assert!(
        catalog
            .iter()
            .any(|a| a.id == 30 && !a.name.is_empty() && !a.category.is_empty())
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn webhooks_deliver_every_update_in_order_to_dashboard_and_callback_urls() {
    let dashboard = ScriptedServer::start(|_| Canned::json(200, json!({}))).await;
    let callback = ScriptedServer::start(|_| Canned::json(204, json!({}))).await;
    let sim = Simulator::start(SimConfig {
        webhook_urls: vec![format!("{}/webhook", dashboard.base_url)],
        ..fast()
    })
    .await
    .unwrap();
    let body = json!({"mode": "preview", "prompt": "otter", "callback_url": format!("{}/webhook/otter/text3d", callback.base_url)});
    let id = client(&sim, KEY, 1)
        .create_task(TaskType::Text3d, &body)
        .await
        .unwrap();
    for receiver in [&dashboard, &callback] {
        let seen = receiver
            .wait_until(WAIT, |r| {
                r.iter()
                    .any(|r| r.body.windows(9).any(|w| w == b"SUCCEEDED"))
            })
            .await;
        let bodies: Vec<Value> = seen
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect();
        assert_eq!(
            statuses(&bodies, &id),
            [
                "PENDING",
                "IN_PROGRESS",
                "IN_PROGRESS",
                "IN_PROGRESS",
                "IN_PROGRESS",
                "IN_PROGRESS",
                "SUCCEEDED"
            ]
        );
        let progress: Vec<u64> = bodies
            .iter()
            .map(|b| b["progress"].as_u64().unwrap())
            .collect();
        assert_eq!(progress, [0, 10, 39, 66, 93, 99, 100]);
        assert!(
            bodies
                .iter()
                .all(|b| b.get("callback_url").is_none() && b["id"] == id.as_str()),
            "bare task objects"
        );
        assert_eq!(seen[0].header("content-type"), Some("application/json"));
        assert!(seen.iter().all(|r| r.method == "POST"));
    }
    assert_eq!(dashboard.requests()[0].path, "/webhook");
    assert_eq!(callback.requests()[0].path, "/webhook/otter/text3d");
}

#[tokio::test]
async fn deliveries_answered_500_are_retried_until_accepted() {
    let failures = std::sync::atomic::AtomicUsize::new(0);
    let receiver = ScriptedServer::start(move |_| {
        if failures.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2 {
            Canned::json(500, json!({"message": "down"}))
        } else {
            Canned::json(200, json!({}))
        }
    })
    .await;
    let sim = Simulator::start(SimConfig {
        webhook_urls: vec![receiver.base_url.clone()],
        ..fast()
    })
    .await
    .unwrap();
    let id = create_preview(&client(&sim, KEY, 1), "o").await;
    let seen = receiver.wait_until(WAIT, |r| r.len() >= 9).await;
    let bodies: Vec<Value> = seen
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    // The first update was refused twice, then accepted; order is kept throughout.
    assert_eq!(
        statuses(&bodies, &id)[..3],
        ["PENDING", "PENDING", "PENDING"]
    );
    assert_eq!(statuses(&bodies, &id).last().unwrap(), "SUCCEEDED");
    sim.settle().await;
    let stats = sim.delivery_stats();
    assert_eq!((stats.delivered, stats.retried, stats.abandoned), (7, 2, 0));
}

#[tokio::test]
async fn errors_answer_like_meshy() {
    let sim = Simulator::start(SimConfig {
        balance: 25,
        task_time: Duration::from_secs(60),
        ..SimConfig::unlimited()
    })
    .await
    .unwrap();
    let base = sim.base_url().to_owned();
    let create = format!("{base}/openapi/v2/text-to-3d");

    let (status, body, headers) =
        raw("GET", &format!("{base}/openapi/v1/balance"), None, None).await;
    assert_eq!((status, body), (401, json!({"message": "Missing API key"})));
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    assert_eq!(headers["x-api-version"], "v2026.01.27");
    let (status, body, _) = raw(
        "GET",
        &format!("{base}/openapi/v1/balance"),
        Some("not-a-meshy-key"),
        None,
    )
    .await;
    assert_eq!((status, body), (401, json!({"message": "Invalid API key"})));
    assert_eq!(
        raw(
            "GET",
            &format!("{base}/openapi/v1/balance"),
            Some("sk_not_meshy"),
            None
        )
        .await
        .0,
        401
    );

    let (status, body, _) = raw("POST", &create, Some(KEY), Some(json!({"mode": "preview"}))).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"message": "Invalid values: Prompt is a required field"})
        )
    );
    let (status, body, _) = raw(
        "POST",
        &format!("{base}/openapi/v1/remesh"),
        Some(KEY),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"message": "Invalid values: InputTaskID is a required field; ModelURL is a required field"})
        )
    );
    let (status, _, _) = raw(
        "POST",
        &create,
        Some(KEY),
        Some(json!({"mode": "preview", "prompt": "x".repeat(601)})),
    )
    .await;
    assert_eq!(status, 400);

    let (status, created, _) = raw(
        "POST",
        &create,
        Some(KEY),
        Some(json!({"mode": "preview", "prompt": "otter"})),
    )
    .await;
    assert_eq!(status, 202);
    let preview = created["result"].as_str().unwrap().to_owned();
    let (status, body, _) = raw(
        "POST",
        &create,
        Some(KEY),
        Some(json!({"mode": "refine", "preview_task_id": preview})),
    )
    .await;
    assert_eq!(status, 400, "a PENDING preview cannot be refined");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("rather than SUCCEEDED"),
        "{body}"
    );
    let (status, body, _) = raw(
        "POST",
        &format!("{base}/openapi/v1/animations"),
        Some(KEY),
        Some(json!({"rig_task_id": preview, "action_id": 1})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "Invalid values: RigTaskID must refer to a rig task, not text-to-3d-preview"
    );

    let (status, body, _) = raw(
        "GET",
        &format!("{create}/019a0000-0000-7000-8000-000000000000"),
        Some(KEY),
        None,
    )
    .await;
    assert_eq!((status, body), (404, json!({"message": "Task not found"})));
    let (status, body, _) = raw(
        "GET",
        &format!("{base}/openapi/v1/rigging"),
        Some(KEY),
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (404, json!({"message": "Not Found"})),
        "rigging has no list endpoint"
    );

    // 25 credits: the first preview took 20.
    let (status, body, _) = raw(
        "POST",
        &create,
        Some(KEY),
        Some(json!({"mode": "preview", "prompt": "beaver"})),
    )
    .await;
    assert_eq!(
        (status, body),
        (402, json!({"message": "Insufficient credits"}))
    );
    let (_, balance, _) = raw(
        "GET",
        &format!("{base}/openapi/v1/balance"),
        Some(KEY),
        None,
    )
    .await;
    assert_eq!(balance, json!({"balance": 5}));
    sim.shutdown().await;
}

#[tokio::test]
async fn limits_answer_429_with_meshys_messages() {
    let sim = Simulator::start(SimConfig {
        requests_per_second: 3,
        // An hour-long window: the four requests below count together however slow the machine.
        rate_window: Duration::from_secs(3600),
        max_queued_tasks: 1,
        task_time: Duration::from_secs(60),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let create = format!("{}/openapi/v2/text-to-3d", sim.base_url());
    let first = raw(
        "POST",
        &create,
        Some(KEY),
        Some(json!({"mode": "preview", "prompt": "a"})),
    )
    .await;
    assert_eq!(first.0, 202);
    let second = raw(
        "POST",
        &create,
        Some(KEY),
        Some(json!({"mode": "preview", "prompt": "b"})),
    )
    .await;
    assert_eq!(
        (second.0, second.1),
        (429, json!({"message": "NoMoreConcurrentTasks"}))
    );
    let balance = format!("{}/openapi/v1/balance", sim.base_url());
    let third = raw("GET", &balance, Some(KEY), None).await;
    assert_eq!(third.0, 200);
    let fourth = raw("GET", &balance, Some(KEY), None).await;
    assert_eq!(
        (fourth.0, fourth.1),
        (429, json!({"message": "RateLimitExceeded"}))
    );
    let other_key = raw("GET", &balance, Some("msy_another_account_key"), None).await;
    assert_eq!(other_key.0, 200, "limits are per key");
}

#[tokio::test]
async fn restricted_key_list_refuses_other_keys_but_not_test_mode() {
    let sim = Simulator::start(SimConfig {
        api_keys: Some(vec![KEY.into()]),
        ..fast()
    })
    .await
    .unwrap();
    let balance = format!("{}/openapi/v1/balance", sim.base_url());
    assert_eq!(raw("GET", &balance, Some(KEY), None).await.0, 200);
    assert_eq!(
        raw("GET", &balance, Some("msy_someone_else_123"), None)
            .await
            .0,
        401
    );
    assert_eq!(
        raw("GET", &balance, Some(TEST_MODE_API_KEY), None).await.0,
        200
    );
}

#[tokio::test]
async fn test_mode_key_returns_one_fixed_sample_and_spends_nothing() {
    let sim = Simulator::start(fast()).await.unwrap();
    let client = client(&sim, TEST_MODE_API_KEY, 1);
    let a = create_preview(&client, "otter").await;
    let b = create_preview(&client, "beaver").await;
    assert_eq!(a, b);
    let task = client.get_task(TaskType::Text3d, &a).await.unwrap();
    assert_eq!(task.status, TaskStatus::Succeeded);
    assert!(task.model_url("glb").is_some());
    assert_eq!(
        client.balance().await.unwrap(),
        SimConfig::unlimited().balance
    );
    let err = client
        .create_task(TaskType::Text3d, &json!({"mode": "preview"}))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "test mode still validates");
}

#[tokio::test]
async fn rules_give_failed_canceled_duplicated_and_reordered_outcomes() {
    let receiver = ScriptedServer::start(|_| Canned::json(200, json!({}))).await;
    let rule = |needle: &str, then: Value| -> Rule {
        serde_json::from_value(json!({"prompt_contains": needle, "then": then})).unwrap()
    };
    let sim = Simulator::start(SimConfig {
        webhook_urls: vec![receiver.base_url.clone()],
        rules: vec![
            rule("doomed", json!({"outcome": "failed", "task_error": {"type": "invalid_input", "code": "moderation_blocked", "message": "Prompt was blocked"}})),
            rule("abandoned", json!({"outcome": "canceled"})),
            rule("echo", json!({"duplicate_deliveries": true})),
        ],
        ..fast()
    })
    .await
    .unwrap();
    sim.add_rule(rule("shuffled", json!({"out_of_order_deliveries": true})));
    let client = client(&sim, KEY, 1);
    let mut ids = Vec::new();
    for prompt in [
        "doomed otter",
        "abandoned otter",
        "echo otter",
        "shuffled otter",
    ] {
        ids.push(create_preview(&client, prompt).await);
    }
    let seen = receiver
        .wait_until(WAIT, |r| {
            let bodies: Vec<Value> = r
                .iter()
                .filter_map(|r| serde_json::from_slice(&r.body).ok())
                .collect();
            ids.iter().all(|id| {
                bodies
                    .iter()
                    .filter(|b| b["id"] == id.as_str() && is_terminal(b))
                    .count()
                    >= 1
            }) && statuses(&bodies, &ids[2]).len() == 14
                && statuses(&bodies, &ids[3]).len() == 7
        })
        .await;
    let bodies: Vec<Value> = seen
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    let failed = bodies
        .iter()
        .find(|b| b["id"] == ids[0].as_str() && b["status"] == "FAILED")
        .unwrap();
    assert_eq!(failed["task_error"]["message"], "Prompt was blocked");
    assert_eq!(statuses(&bodies, &ids[1]).last().unwrap(), "CANCELED");
    let echoed = statuses(&bodies, &ids[2]);
    assert!(
        echoed.chunks(2).all(|pair| pair[0] == pair[1]),
        "{echoed:?}"
    );
    let shuffled = statuses(&bodies, &ids[3]);
    assert_eq!(shuffled[5..], ["SUCCEEDED", "IN_PROGRESS"]);
    let task = client.get_task(TaskType::Text3d, &ids[0]).await.unwrap();
    assert_eq!(task.error_message(), Some("Prompt was blocked"));
}

#[tokio::test]
async fn stream_list_and_delete_work_like_the_api() {
    // The November 2025 stream: small frames, the whole task last.
    let sim = Simulator::start(SimConfig {
        task_time: Duration::from_millis(300),
        api_version: ApiVersion::V2025_11_18,
        ..SimConfig::unlimited()
    })
    .await
    .unwrap();
    let client = client(&sim, KEY, 1);
    let mut ids = Vec::new();
    for prompt in ["first", "second", "third"] {
        ids.push(create_preview(&client, prompt).await);
    }
    let events = client.stream_task(TaskType::Text3d, &ids[0]).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(last.status, TaskStatus::Succeeded);
    assert!(
        last.model_url("glb").is_some(),
        "the last frame is the full task object"
    );
    assert!(
        events[..events.len() - 1]
            .iter()
            .all(|t| !t.is_terminal() && t.model_urls.is_none())
    );
    let err = client
        .stream_task(TaskType::Text3d, "unknown")
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::NotFound { .. }), "{err}");

    let page = crate::meshy::ListPage {
        page_num: 1,
        page_size: 2,
        newest_first: true,
    };
    let newest: Vec<String> = client
        .list_tasks(TaskType::Text3d, &page)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(newest, [ids[2].clone(), ids[1].clone()]);
    let page = crate::meshy::ListPage {
        page_num: 2,
        page_size: 2,
        newest_first: false,
    };
    let oldest: Vec<String> = client
        .list_tasks(TaskType::Text3d, &page)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(oldest, [ids[2].clone()]);
    let too_big = crate::meshy::ListPage {
        page_num: 1,
        page_size: 51,
        newest_first: true,
    };
    assert_eq!(
        client
            .list_tasks(TaskType::Text3d, &too_big)
            .await
            .unwrap_err()
            .status(),
        Some(400)
    );
    assert!(
        client
            .list_tasks(TaskType::Remesh, &Default::default())
            .await
            .unwrap()
            .is_empty()
    );

    client.delete_task(TaskType::Text3d, &ids[1]).await.unwrap();
    assert_eq!(
        client
            .get_task(TaskType::Text3d, &ids[1])
            .await
            .unwrap_err()
            .status(),
        Some(404)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_tasks_in_flight_all_complete_and_every_delivery_arrives() {
    const TASKS: usize = 1000;
    let receiver = ScriptedServer::start(|_| Canned::json(200, json!({}))).await;
    let sim = Simulator::start(SimConfig {
        webhook_urls: vec![receiver.base_url.clone()],
        ..fast()
    })
    .await
    .unwrap();
    let client = client(&sim, KEY, 3);
    let creates = (0..TASKS).map(|i| {
        let client = client.clone();
        async move { create_preview(&client, &format!("otter {i}")).await }
    });
    let ids = futures_util::future::join_all(creates).await;
    let seen = receiver
        .wait_until(Duration::from_secs(120), |r| {
            r.iter()
                .filter(|r| r.body.windows(9).any(|w| w == b"SUCCEEDED"))
                .count()
                == TASKS
        })
        .await;
    let mut by_task: std::collections::HashMap<String, Vec<u64>> = Default::default();
    for request in &seen {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        by_task
            .entry(body["id"].as_str().unwrap().to_owned())
            .or_default()
            .push(body["progress"].as_u64().unwrap());
    }
    assert_eq!(by_task.len(), TASKS);
    for id in &ids {
        assert_eq!(by_task[id], [0, 10, 39, 66, 93, 99, 100], "task {id}");
    }
    sim.settle().await;
    let stats = sim.delivery_stats();
    assert_eq!((stats.delivered, stats.abandoned), ((TASKS * 7) as u64, 0));
}

#[tokio::test]
async fn assets_are_served_without_authorization_once_the_task_succeeds() {
    let sim = Simulator::start(fast()).await.unwrap();
    let client = client(&sim, KEY, 1);
    let id = create_preview(&client, "otter").await;
    let events = client.stream_task(TaskType::Text3d, &id).await.unwrap();
    let task = events.last().unwrap();
    let http = http_client(None).unwrap();
    let glb = http
        .get(task.model_url("glb").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(glb.headers()["content-type"], "model/gltf-binary");
    let bytes = glb.bytes().await.unwrap();
    assert!(gltf::Gltf::from_slice(&bytes).is_ok());
    let thumbnail = http
        .get(task.thumbnail_url.clone().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(thumbnail.starts_with(b"\x89PNG"));
    let again = http
        .get(task.model_url("glb").unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes, again, "deterministic per task");
    let missing = http
        .get(format!("{}/tasks/nope/output/model.glb", sim.assets_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 404);
}

#[tokio::test]
async fn list_query_parameters_are_decoded_as_a_server_decodes_them() {
    let sim = Simulator::start(fast()).await.unwrap();
    let api = client(&sim, KEY, 1);
    let first = create_preview(&api, "first otter").await;
    let second = create_preview(&api, "second otter").await;
    let base = format!("{}/openapi/v2/text-to-3d", sim.base_url());
    for (query, oldest_first) in [
        ("sort_by=%2Bcreated_at", true),
        ("sort_by=%2bcreated_at", true),
        ("sort_by=+created_at", true),
        ("sort_by=-created_at", false),
        ("sort_by=%2Dcreated_at", false),
        ("page_num=%31&page_size=%32", false),
    ] {
        let (status, body, _) = raw("GET", &format!("{base}?{query}"), Some(KEY), None).await;
        assert_eq!(status, 200, "{query}: {body}");
        let ids: Vec<&str> = body
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["id"].as_str())
            .collect();
        let expected = if oldest_first {
            [first.as_str(), second.as_str()]
        } else {
            [second.as_str(), first.as_str()]
        };
        assert_eq!(ids, expected, "{query}");
    }
    let (status, _, _) = raw("GET", &format!("{base}?sort_by=%2Bname"), Some(KEY), None).await;
    assert_eq!(status, 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn failed_deliveries_are_logged_with_status_or_error_and_the_token_redacted() {
    let closed = format!("127.0.0.1:{}", free_port());
    let dir = tempfile::tempdir().unwrap();
    let receiver = crate::receiver::Receiver::start(crate::receiver::ReceiverConfig {
        token: Some("the-receivers-own-token".into()),
        log: crate::log_sink::LogSink::silent(),
        ..crate::receiver::ReceiverConfig::new(dir.path())
    })
    .await
    .unwrap();
    let (lines, mut logged) = tokio::sync::mpsc::unbounded_channel::<String>();
    let sim = Simulator::start(SimConfig {
        webhook_urls: vec![
            format!("http://{closed}/webhook?token=sim-secret-value"),
            format!("{}/webhook?token=sim-secret-value", receiver.local_url()),
        ],
        delivery: DeliveryPolicy {
            attempts: 2,
            backoff: Duration::from_millis(1),
        },
        log: crate::log_sink::LogSink::to(move |line| drop(lines.send(line.to_owned()))),
        ..fast()
    })
    .await
    .unwrap();
    create_preview(&client(&sim, KEY, 1), "otter").await;
    let mut seen = Vec::new();
    let wanted = |seen: &[String]| {
        seen.iter().any(|l| l.contains("got 401 Unauthorized"))
            && seen
                .iter()
                .any(|l| l.contains("got no answer (cannot connect"))
            && seen.iter().any(|l| l.contains("giving up"))
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while !wanted(&seen) {
        match tokio::time::timeout_at(deadline, logged.recv()).await {
            Ok(Some(line)) => seen.push(line),
            _ => panic!("within {WAIT:?}, no log lines for both failing webhooks: {seen:?}"),
        }
    }
    assert!(
        seen.iter().all(|l| !l.contains("sim-secret-value")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|l| l.starts_with(&format!(
            "mesh-toolkit sim: webhook delivery to {}/webhook?token=… got 401 Unauthorized (attempt 1 of 2; retrying in 1 ms)",
            receiver.local_url()
        ))),
        "{seen:?}"
    );
    sim.shutdown().await;
}
