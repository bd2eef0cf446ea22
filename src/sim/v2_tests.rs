//! End-to-end tests of the simulator's API v2 (`meshy-api-v2.md`): creates, the shared
//! reads, balance and usage, every validation rule, the 429s, the v1 sunset switch,
//! webhook payload versions, print re-analysis, and today's v1 stream frames. Raw HTTP
//! on loopback; every wait has a deadline (`settle`, `wait_until`).

// v1's refine and routes stay spoken here: v1 recordings replay, and v1 works until 2027-03-15.
#![allow(deprecated)]

use std::time::Duration;

use serde_json::{Value, json};

use super::tests::{KEY, WAIT, fast, raw};
use super::*;
use crate::meshy::{ApiGeneration, TaskType};
use crate::test_support::{Canned, ScriptedServer};
use crate::transport::http_client;

type Answer = (u16, Value, reqwest::header::HeaderMap);

async fn post(sim: &Simulator, path: &str, body: Value) -> Answer {
    raw(
        "POST",
        &format!("{}{path}", sim.base_url()),
        Some(KEY),
        Some(body),
    )
    .await
}

async fn get(sim: &Simulator, path: &str) -> Answer {
    raw("GET", &format!("{}{path}", sim.base_url()), Some(KEY), None).await
}

/// A POST with an `X-Meshy-Metadata` header.
async fn post_with_metadata(sim: &Simulator, path: &str, body: Value, metadata: &str) -> Answer {
    let response = http_client(None)
        .unwrap()
        .post(format!("{}{path}", sim.base_url()))
        .header("Authorization", format!("Bearer {KEY}"))
        .header("X-Meshy-Metadata", metadata)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap_or(Value::Null);
    (status, body, headers)
}

/// The `data:` of every frame of a stream, parsed.
async fn stream_frames(sim: &Simulator, path: &str) -> Vec<Value> {
    let text = http_client(None)
        .unwrap()
        .get(format!("{}{path}", sim.base_url()))
        .header("Authorization", format!("Bearer {KEY}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.split("\n\n")
        .filter_map(|frame| frame.lines().find_map(|l| l.strip_prefix("data:")))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect()
}

/// Asserts a four-field v2 error with this status and code.
fn assert_v2_error(answer: &Answer, status: u16, code: &str) {
    let (got, body, _) = answer;
    assert_eq!(*got, status, "{body}");
    let mut keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["code", "doc_url", "message", "type"], "{body}");
    assert_eq!(body["code"], code, "{body}");
}

fn sorted_keys(body: &Value) -> Vec<String> {
    let mut keys: Vec<String> = body.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

const IMAGE3D: &str = "/openapi/v2/image-to-3d";

fn image3d_request() -> Value {
    json!({"image_url": "https://example.com/otter.png", "texture_model": "meshy-7"})
}

#[tokio::test]
async fn a_v2_create_answers_202_with_the_task_location_and_retry_after() {
    let sim = Simulator::start(SimConfig {
        task_time: Duration::from_secs(2),
        ..SimConfig::unlimited()
    })
    .await
    .unwrap();
    let (status, task, headers) = post(&sim, IMAGE3D, image3d_request()).await;
    assert_eq!(status, 202, "{task}");
    assert_eq!(
        sorted_keys(&task),
        [
            "consumed_credits",
            "created_at",
            "expires_at",
            "finished_at",
            "id",
            "input",
            "output",
            "preceding_tasks",
            "progress",
            "started_at",
            "status",
            "task_error",
            "type"
        ]
    );
    assert_eq!(
        (&task["status"], &task["type"]),
        (&json!("PENDING"), &json!("image-to-3d"))
    );
    assert_eq!(task["input"], image3d_request(), "the request as sent");
    for unset in [
        "output",
        "started_at",
        "finished_at",
        "expires_at",
        "task_error",
    ] {
        assert_eq!(task[unset], Value::Null, "{unset}");
    }
    let id = task["id"].as_str().unwrap();
    let location = headers["location"].to_str().unwrap();
    assert_eq!(
        location,
        format!("{}/openapi/v2/tasks/{id}", sim.base_url())
    );
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    // The stream: v2 objects in today's frames, PENDING first, SUCCEEDED last.
    let frames = stream_frames(&sim, &format!("/openapi/v2/tasks/{id}/stream")).await;
    assert_eq!(frames[0]["status"], "PENDING");
    assert!(
        frames
            .iter()
            .all(|f| f.get("output").is_some() && f["type"] == "image-to-3d")
    );
    let last = frames.last().unwrap();
    assert_eq!(last["status"], "SUCCEEDED");
    // GLB only unless other formats are asked for, served as a real file.
    let models = last["output"]["model_urls"].as_object().unwrap();
    assert_eq!(models.keys().collect::<Vec<_>>(), ["glb"]);
    let glb = http_client(None)
        .unwrap()
        .get(models["glb"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(glb.headers()["content-type"], "model/gltf-binary");
    let (status, read, _) = raw("GET", location, Some(KEY), None).await;
    assert_eq!((status, &read), (200, last));
    assert!(read["finished_at"].is_i64() && read["expires_at"].is_i64());
    let delete = raw("DELETE", location, Some(KEY), None).await;
    assert_eq!((delete.0, delete.1), (200, json!({})));
    assert_v2_error(
        &raw("GET", location, Some(KEY), None).await,
        404,
        "task_not_found",
    );
    assert_v2_error(
        &raw("DELETE", location, Some(KEY), None).await,
        404,
        "task_not_found",
    );
    assert_v2_error(
        &get(&sim, &format!("/openapi/v2/tasks/{id}/stream")).await,
        404,
        "task_not_found",
    );
    sim.shutdown().await;
}

/// A minimal v2 request per endpoint; `model` and `rig` are SUCCEEDED inputs.
fn v2_request(task_type: TaskType, model: &str, rig: &str, motion: &str) -> Value {
    match task_type {
        TaskType::Text3d | TaskType::Text3dRefine => {
            json!({"prompt": "otter", "texture_model": "meshy-7"})
        }
        TaskType::Image3d => image3d_request(),
        TaskType::MultiImage3d => {
            json!({"image_urls": ["https://example.com/a.png"], "should_texture": false})
        }
        TaskType::Retexture => {
            json!({"input_task_id": model, "texture_prompt": "wood", "texture_model": "meshy-n1"})
        }
        TaskType::Animation if motion.is_empty() => {
            json!({"rig_task_id": rig, "action_ids": [1, 2]})
        }
        TaskType::Animation => json!({"rig_task_id": rig, "motion_task_id": motion}),
        TaskType::TextToImage => json!({"ai_model": "nano-banana", "prompt": "otter"}),
        TaskType::ImageToImage => json!({"ai_model": "nano-banana", "prompt": "otter",
            "reference_image_urls": ["https://example.com/a.png"]}),
        TaskType::TextToMotion => json!({"prompt": "walk", "duration": 2.5}),
        TaskType::Convert => json!({"input_task_id": model, "target_formats": ["fbx"]}),
        TaskType::Resize => json!({"input_task_id": model, "resize_height": 1.5}),
        _ => json!({"input_task_id": model}),
    }
}

#[tokio::test]
async fn every_v2_endpoint_creates_its_task_and_runs_it_to_the_end() {
    let sim = Simulator::start(fast()).await.unwrap();
    let (_, model, _) = post(&sim, IMAGE3D, image3d_request()).await;
    let model = model["id"].as_str().unwrap().to_owned();
    sim.settle().await;
    let (_, rig, _) = post(&sim, "/openapi/v2/rigging", json!({"input_task_id": model})).await;
    let rig = rig["id"].as_str().unwrap().to_owned();
    let (_, motion, _) = post(
        &sim,
        "/openapi/v2/text-to-motion",
        json!({"prompt": "jump", "mode": "swift"}),
    )
    .await;
    let motion = motion["id"].as_str().unwrap().to_owned();
    sim.settle().await;
    let mut created = Vec::new();
    for task_type in TaskType::ALL
        .into_iter()
        .filter(|t| *t != TaskType::Text3dRefine)
    {
        let path = ApiGeneration::V2.create_path(task_type).unwrap();
        let (status, task, _) = post(&sim, &path, v2_request(task_type, &model, &rig, "")).await;
        assert_eq!(status, 202, "{task_type}: {task}");
        assert_eq!(task["type"], task_type.v2_type(), "{task_type}");
        created.push((task_type, task["id"].as_str().unwrap().to_owned()));
    }
    let (status, by_motion, _) = post(
        &sim,
        "/openapi/v2/animations",
        v2_request(TaskType::Animation, &model, &rig, &motion),
    )
    .await;
    assert_eq!(status, 202, "{by_motion}");
    sim.settle().await;
    for (task_type, id) in created {
        let (_, task, _) = get(&sim, &format!("/openapi/v2/tasks/{id}")).await;
        assert_eq!(task["status"], "SUCCEEDED", "{task_type}: {task}");
        assert!(task["output"].is_object(), "{task_type}");
        match task_type {
            TaskType::RigCheck => {
                assert_eq!(task["output"], json!({"riggable": true}));
                assert_eq!(task["consumed_credits"], 1);
            }
            TaskType::Rigging => assert!(task["output"]["rigged_character_glb_url"].is_string()),
            TaskType::Animation => {
                assert!(task["output"]["animation_glb_url"].is_string());
                assert_eq!(task["consumed_credits"], 6, "3 credits per action");
            }
            TaskType::PrintAnalyze => assert!(task["output"]["printability"].is_object()),
            TaskType::TextToMotion => assert_eq!(task["output"]["motion_format"], "fbx"),
            TaskType::TextToImage | TaskType::ImageToImage => {
                assert_eq!(task["output"]["image_urls"].as_array().unwrap().len(), 1)
            }
            TaskType::Convert => {
                assert!(task["output"]["model_urls"]["fbx"].is_string(), "{task}")
            }
            TaskType::PrintMultiColor => {
                assert!(task["output"]["model_urls"]["3mf"].is_string(), "{task}")
            }
            _ => assert!(
                task["output"]["model_urls"]["glb"].is_string(),
                "{task_type}: {task}"
            ),
        }
    }
}

#[tokio::test]
async fn text_to_3d_with_mode_is_v1_and_without_it_is_v2s_one_call() {
    let sim = Simulator::start(fast()).await.unwrap();
    let (status, v1, _) = post(
        &sim,
        "/openapi/v2/text-to-3d",
        json!({"mode": "preview", "prompt": "otter"}),
    )
    .await;
    assert_eq!(status, 202);
    let v1_id = v1["result"]
        .as_str()
        .expect("v1 answers {result: id}")
        .to_owned();
    let missing = post(&sim, "/openapi/v2/text-to-3d", json!({"prompt": "otter"})).await;
    assert_v2_error(&missing, 400, "missing_parameter");
    assert!(
        missing.1["message"]
            .as_str()
            .unwrap()
            .contains("texture_model")
    );
    let (status, untextured, _) = post(
        &sim,
        "/openapi/v2/text-to-3d",
        json!({"prompt": "otter", "should_texture": false}),
    )
    .await;
    assert_eq!((status, &untextured["type"]), (202, &json!("text-to-3d")));
    assert_eq!(untextured["consumed_credits"], 20);
    let (_, textured, _) = post(
        &sim,
        "/openapi/v2/text-to-3d",
        json!({"prompt": "otter", "texture_model": "meshy-7"}),
    )
    .await;
    assert_eq!(
        textured["consumed_credits"], 30,
        "textured: preview and refine"
    );
    let (_, image_v1, _) = post(
        &sim,
        "/openapi/v1/image-to-3d",
        json!({"image_url": "https://example.com/otter.png"}),
    )
    .await;
    let image_v1 = image_v1["result"].as_str().unwrap().to_owned();
    sim.settle().await;
    // v1's own read keeps answering v1 objects; the v2 read answers v2 ones.
    let (_, old, _) = get(&sim, &format!("/openapi/v2/text-to-3d/{v1_id}")).await;
    assert_eq!(
        (&old["mode"], &old["type"]),
        (&json!("preview"), &json!("text-to-3d-preview"))
    );
    let (_, new, _) = get(&sim, &format!("/openapi/v2/tasks/{v1_id}")).await;
    assert_eq!(new["type"], "text-to-3d");
    assert_eq!(new["input"], json!({"mode": "preview", "prompt": "otter"}));
    assert!(new.get("mode").is_none() && new["output"]["model_urls"]["glb"].is_string());
    let (_, image, _) = get(&sim, &format!("/openapi/v2/tasks/{image_v1}")).await;
    assert_eq!(image["type"], "image-to-3d");
    assert_eq!(
        image["output"]["model_urls"].as_object().unwrap().len(),
        4,
        "a v1-created task keeps v1's formats"
    );
    let frames = stream_frames(&sim, &format!("/openapi/v2/tasks/{image_v1}/stream")).await;
    assert_eq!(frames.last().unwrap()["output"], image["output"]);
}

#[tokio::test]
async fn per_type_v2_reads_and_unknown_v2_routes_are_route_not_found() {
    let sim = Simulator::start(fast()).await.unwrap();
    let (_, task, _) = post(&sim, IMAGE3D, image3d_request()).await;
    let id = task["id"].as_str().unwrap();
    for path in [
        format!("/openapi/v2/image-to-3d/{id}"),
        format!("/openapi/v2/image-to-3d/{id}/stream"),
        "/openapi/v2/image-to-3d".to_owned(),
        "/openapi/v2/no-such-thing".to_owned(),
    ] {
        let answer = get(&sim, &path).await;
        assert_v2_error(&answer, 404, "route_not_found");
        assert_eq!(answer.1["type"], "not_found");
        assert!(
            answer.1["message"]
                .as_str()
                .unwrap()
                .starts_with("NoMatchingRoute: GET /openapi/v2/")
        );
    }
    assert_v2_error(
        &post(&sim, "/openapi/v2/text-to-3d-refine", json!({})).await,
        404,
        "route_not_found",
    );
}

#[tokio::test]
async fn the_v2_list_pages_newest_first_and_filters_by_type() {
    let sim = Simulator::start(fast()).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (_, task, _) = post(&sim, IMAGE3D, image3d_request()).await;
        ids.push(task["id"].as_str().unwrap().to_owned());
    }
    let (_, image, _) = post(
        &sim,
        "/openapi/v2/text-to-image",
        json!({"ai_model": "nano-banana", "prompt": "otter"}),
    )
    .await;
    let ids_of = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, all, _) = get(&sim, "/openapi/v2/tasks").await;
    assert_eq!(status, 200);
    assert_eq!(
        ids_of(&all)[0],
        image["id"].as_str().unwrap(),
        "newest first, every type"
    );
    assert_eq!((ids_of(&all).len(), &all["has_more"]), (4, &json!(false)));
    let (_, first, _) = get(&sim, "/openapi/v2/tasks?type=image-to-3d&page_size=2").await;
    assert_eq!(ids_of(&first), [ids[2].clone(), ids[1].clone()]);
    assert_eq!(first["has_more"], true);
    let (_, second, _) = get(
        &sim,
        "/openapi/v2/tasks?type=image-to-3d&page_size=2&page_num=2",
    )
    .await;
    assert_eq!(
        (ids_of(&second), &second["has_more"]),
        (vec![ids[0].clone()], &json!(false))
    );
    let (_, oldest, _) = get(
        &sim,
        "/openapi/v2/tasks?type=image-to-3d&sort_by=%2Bcreated_at",
    )
    .await;
    assert_eq!(ids_of(&oldest), ids);
    assert_v2_error(
        &get(&sim, "/openapi/v2/tasks?type=image3d").await,
        400,
        "invalid_parameter",
    );
    assert_v2_error(
        &get(&sim, "/openapi/v2/tasks?page_size=51").await,
        400,
        "invalid_parameter",
    );
}

#[tokio::test]
async fn v2_balance_and_usage_records_of_finished_tasks_with_their_metadata() {
    let sim = Simulator::start(SimConfig {
        rules: vec![Rule {
            prompt_contains: Some("cursed".into()),
            task_type: None,
            then: Behaviour {
                outcome: Outcome::Failed,
                ..Behaviour::default()
            },
        }],
        ..fast()
    })
    .await
    .unwrap();
    let (status, balance, _) = get(&sim, "/openapi/v2/balance").await;
    assert_eq!(status, 200);
    let before = balance["balance"].as_u64().unwrap();
    let (_, tagged, _) =
        post_with_metadata(&sim, IMAGE3D, image3d_request(), "team=otters,run=a%2Fb").await;
    let (_, failed, _) = post(
        &sim,
        "/openapi/v2/text-to-motion",
        json!({"prompt": "a cursed walk"}),
    )
    .await;
    sim.settle().await;
    let (_, balance, _) = get(&sim, "/openapi/v2/balance").await;
    assert_eq!(
        balance,
        json!({"balance": before - 30}),
        "the failed v2 task was refunded"
    );
    let (status, usage, _) = get(&sim, "/openapi/v2/usage/tasks").await;
    assert_eq!(status, 200, "{usage}");
    let records = usage["data"].as_array().unwrap();
    assert_eq!(records.len(), 2, "{usage}");
    assert_eq!(usage["has_more"], false);
    let (newest, oldest) = (&records[0], &records[1]);
    assert_eq!(newest["task_id"], failed["id"]);
    assert_eq!(
        (&newest["status"], &newest["consumed_credits"]),
        (&json!("FAILED"), &json!(0))
    );
    assert_eq!(oldest["task_id"], tagged["id"]);
    assert_eq!(
        sorted_keys(oldest),
        [
            "api_key_name",
            "api_key_suffix",
            "consumed_credits",
            "created_at",
            "endpoint",
            "finished_at",
            "metadata",
            "status",
            "task_id"
        ]
    );
    assert_eq!(oldest["metadata"], json!({"team": "otters", "run": "a/b"}));
    assert_eq!(oldest["endpoint"], IMAGE3D);
    assert_eq!(oldest["api_key_suffix"], &KEY[KEY.len() - 4..]);
    assert!(oldest["created_at"].as_str().unwrap().ends_with('Z'));
    let (_, one, _) = get(&sim, "/openapi/v2/usage/tasks?page_size=1").await;
    assert_eq!(
        (one["data"].as_array().unwrap().len(), &one["has_more"]),
        (1, &json!(true))
    );
    let (_, none, _) = get(
        &sim,
        "/openapi/v2/usage/tasks?end_time=2020-01-01T00:00:00Z",
    )
    .await;
    assert_eq!(none["data"], json!([]));
    assert_v2_error(
        &get(&sim, "/openapi/v2/usage/tasks?start_time=yesterday").await,
        400,
        "invalid_parameter",
    );
}

#[tokio::test]
async fn every_validation_rule_is_refused_with_four_fields_and_nothing_created_or_charged() {
    let sim = Simulator::start(SimConfig {
        today: Some("2027-01-01".into()),
        ..fast()
    })
    .await
    .unwrap();
    let (_, balance, _) = get(&sim, "/openapi/v2/balance").await;
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "/openapi/v2/retexture",
            json!({"input_task_id": "t", "texture_model": "meshy-7", "text_style_prompt": null}),
            "removed_parameter",
            "texture_prompt",
        ),
        (
            "/openapi/v2/retexture",
            json!({"input_task_id": "t", "texture_model": "meshy-7", "image_style_url": "u"}),
            "removed_parameter",
            "texture_image_url",
        ),
        (
            "/openapi/v2/retexture",
            json!({"input_task_id": "t", "texture_model": "meshy-7", "enable_original_uv": false}),
            "removed_parameter",
            "uv_mode",
        ),
        (
            "/openapi/v2/retexture",
            json!({"input_task_id": "t", "texture_model": "meshy-7", "hd_texture": false}),
            "removed_parameter",
            "texture_resolution: \"4k\"",
        ),
        (
            "/openapi/v2/image-to-3d",
            json!({"image_url": "u", "should_texture": false, "model_type": null}),
            "removed_parameter",
            "ai_model",
        ),
        (
            "/openapi/v2/remesh",
            json!({"model_url": "u", "resize_height": 1}),
            "removed_parameter",
            "/openapi/v2/resize",
        ),
        (
            "/openapi/v2/remesh",
            json!({"model_url": "u", "resize_longest_side": 1}),
            "removed_parameter",
            "/openapi/v2/resize",
        ),
        (
            "/openapi/v2/remesh",
            json!({"model_url": "u", "origin_at": "bottom"}),
            "removed_parameter",
            "/openapi/v2/resize",
        ),
        (
            "/openapi/v2/remesh",
            json!({"model_url": "u", "auto_size": false}),
            "removed_parameter",
            "/openapi/v2/resize",
        ),
        (
            "/openapi/v2/remesh",
            json!({"model_url": "u", "convert_format_only": false}),
            "removed_parameter",
            "/openapi/v2/convert",
        ),
        (
            "/openapi/v2/text-to-image",
            json!({"ai_model": "nano-banana", "prompt": "p", "remove_background": false}),
            "removed_parameter",
            "background",
        ),
        (
            "/openapi/v2/image-to-image",
            json!({"ai_model": "nano-banana", "prompt": "p", "reference_image_urls": ["u"], "remove_background": true}),
            "removed_parameter",
            "background",
        ),
        (
            "/openapi/v2/rigging",
            json!({"model_url": "u", "experimental_flag": true}),
            "unknown_parameter",
            "height_meters",
        ),
        (
            "/openapi/v2/retexture",
            json!({"input_task_id": "t", "texture_prompt": "wood"}),
            "missing_parameter",
            "meshy-7, meshy-n1, meshy-6-lite",
        ),
        (
            "/openapi/v2/image-to-3d",
            json!({"image_url": "u"}),
            "missing_parameter",
            "texture_model",
        ),
        (
            "/openapi/v2/multi-image-to-3d",
            json!({"image_urls": ["u"]}),
            "missing_parameter",
            "texture_model",
        ),
        (
            "/openapi/v2/text-to-image",
            json!({"prompt": "p"}),
            "missing_parameter",
            "ai_model",
        ),
        (
            "/openapi/v2/text-to-3d",
            json!({"prompt": "p", "texture_model": "meshy-7", "texture_prompt": "a", "texture_image_url": "b"}),
            "parameters_conflict",
            "texture_image_url",
        ),
        (
            "/openapi/v2/remesh",
            json!({"input_task_id": "t", "model_url": "u"}),
            "parameters_conflict",
            "model_url",
        ),
        (
            "/openapi/v2/rigging",
            json!({"input_task_id": "t", "model_url": "u"}),
            "parameters_conflict",
            "model_url",
        ),
        (
            "/openapi/v2/uv-unwrap",
            json!({"input_task_id": "t", "model_url": "u"}),
            "parameters_conflict",
            "model_url",
        ),
        (
            "/openapi/v2/print/analyze",
            json!({"input_task_id": "t", "model_url": "u"}),
            "parameters_conflict",
            "model_url",
        ),
        (
            "/openapi/v2/print/repair",
            json!({"input_task_id": "t", "model_url": "u"}),
            "parameters_conflict",
            "model_url",
        ),
        (
            "/openapi/v2/print/multi-color",
            json!({"input_task_id": "t", "model_url": "u"}),
            "parameters_conflict",
            "model_url",
        ),
        (
            "/openapi/v2/animations",
            json!({"action_id": 1}),
            "missing_parameter",
            "rig_task_id",
        ),
        (
            "/openapi/v2/animations",
            json!({"rig_task_id": "r"}),
            "missing_parameter",
            "action_id",
        ),
        (
            "/openapi/v2/animations",
            json!({"rig_task_id": "r", "action_id": 1, "action_ids": [2]}),
            "parameters_conflict",
            "exactly one",
        ),
        (
            "/openapi/v2/text-to-motion",
            json!({"prompt": "x".repeat(401)}),
            "invalid_parameter",
            "400",
        ),
        (
            "/openapi/v2/text-to-motion",
            json!({"prompt": "walk", "duration": 10.5}),
            "invalid_parameter",
            "0.5",
        ),
        (
            "/openapi/v2/text-to-motion",
            json!({"prompt": "walk", "duration": 3.3}),
            "invalid_parameter",
            "0.5",
        ),
        (
            "/openapi/v2/text-to-motion",
            json!({"prompt": "walk", "mode": "fast"}),
            "invalid_parameter",
            "swift",
        ),
        (
            "/openapi/v2/image-to-3d",
            json!({"image_url": "u", "should_texture": false, "ai_model": "meshy-7"}),
            "model_retired",
            "2026-12-31",
        ),
        (
            "/openapi/v2/text-to-3d",
            json!({"prompt": "p", "should_texture": false, "model_type": "lowpoly"}),
            "model_retired",
            "2026-10-30",
        ),
    ];
    for (path, body, code, replacement) in cases {
        let answer = post(&sim, path, body.clone()).await;
        assert_v2_error(&answer, 400, code);
        assert_eq!(answer.1["type"], "invalid_input");
        let message = answer.1["message"].as_str().unwrap();
        assert!(message.contains(replacement), "{path} {body}: {message}");
    }
    let metadata = post_with_metadata(&sim, IMAGE3D, image3d_request(), "no value here").await;
    assert_v2_error(&metadata, 400, "metadata_invalid");
    let not_json = raw(
        "POST",
        &format!("{}{IMAGE3D}", sim.base_url()),
        Some(KEY),
        None,
    )
    .await;
    assert_v2_error(&not_json, 400, "invalid_parameter");
    // meshy-7 stays a texture model.
    let (status, _, _) = post(&sim, IMAGE3D, image3d_request()).await;
    assert_eq!(status, 202);
    let (_, after, _) = get(&sim, "/openapi/v2/balance").await;
    assert_eq!(
        after["balance"].as_u64().unwrap(),
        balance["balance"].as_u64().unwrap() - 30,
        "only the valid create was charged"
    );
    let (_, list, _) = get(&sim, "/openapi/v2/tasks").await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "refusals create nothing"
    );
}

#[tokio::test]
async fn animation_inputs_must_be_a_succeeded_rig() {
    let sim = Simulator::start(SimConfig {
        rules: vec![Rule {
            prompt_contains: None,
            task_type: Some(TaskType::Rigging),
            then: Behaviour {
                task_seconds: Some(3600.0),
                ..Behaviour::default()
            },
        }],
        ..fast()
    })
    .await
    .unwrap();
    let (_, model, _) = post(&sim, IMAGE3D, image3d_request()).await;
    let model = model["id"].as_str().unwrap();
    sim.settle().await;
    let (_, rig, _) = post(&sim, "/openapi/v2/rigging", json!({"input_task_id": model})).await;
    let not_ready = post(
        &sim,
        "/openapi/v2/animations",
        json!({"rig_task_id": rig["id"], "action_id": 1}),
    )
    .await;
    assert_v2_error(&not_ready, 400, "input_task_not_ready");
    let wrong = post(
        &sim,
        "/openapi/v2/animations",
        json!({"rig_task_id": model, "action_id": 1}),
    )
    .await;
    assert_v2_error(&wrong, 400, "input_task_unsupported");
    let missing = post(
        &sim,
        "/openapi/v2/animations",
        json!({"rig_task_id": "019a0000-0000-7000-8000-000000000000", "action_id": 1}),
    )
    .await;
    assert_v2_error(&missing, 400, "input_task_not_found");
    sim.shutdown().await;
}

#[tokio::test]
async fn v2_limits_and_keys_answer_with_their_codes_and_only_the_rate_with_retry_after() {
    let sim = Simulator::start(SimConfig {
        requests_per_second: 3,
        // An hour-long window: the requests below count together however slow the machine.
        rate_window: Duration::from_secs(3600),
        max_queued_tasks: 1,
        task_time: Duration::from_secs(60),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let first = post(&sim, IMAGE3D, image3d_request()).await;
    assert_eq!(first.0, 202);
    let queue = post(&sim, IMAGE3D, image3d_request()).await;
    assert_v2_error(&queue, 429, "pending_task_limit_reached");
    assert_eq!(queue.1["type"], "rate_limited");
    assert!(
        queue.2.get("retry-after").is_none(),
        "the queue-full 429 has no Retry-After"
    );
    assert_eq!(get(&sim, "/openapi/v2/balance").await.0, 200);
    let rate = get(&sim, "/openapi/v2/balance").await;
    assert_v2_error(&rate, 429, "rate_limit_exceeded");
    assert_eq!(rate.2["retry-after"], "3600");
    let url = format!("{}/openapi/v2/balance", sim.base_url());
    assert_v2_error(&raw("GET", &url, None, None).await, 401, "api_key_missing");
    assert_v2_error(
        &raw("GET", &url, Some("sk_wrong"), None).await,
        401,
        "api_key_invalid",
    );
    let poor = Simulator::start(SimConfig {
        balance: 10,
        ..fast()
    })
    .await
    .unwrap();
    assert_v2_error(
        &post(&poor, IMAGE3D, image3d_request()).await,
        402,
        "insufficient_credits",
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_sunset_switch_answers_410_on_v1_routes_and_leaves_v2_working() {
    let sim = Simulator::start(SimConfig {
        v1_sunset: true,
        ..fast()
    })
    .await
    .unwrap();
    let gone = |answer: &Answer, route: &str| {
        assert_v2_error(answer, 410, "api_v1_sunset");
        assert_eq!(
            answer.1,
            json!({"type": "invalid_request", "code": "api_v1_sunset",
                "message": format!("API v1 stopped working on 2027-03-15: use the v2 route {route}"),
                "doc_url": "https://docs.meshy.ai/en/api/migrate-to-v2"})
        );
    };
    gone(
        &post(&sim, "/openapi/v1/image-to-3d", json!({"image_url": "u"})).await,
        "/openapi/v2/image-to-3d",
    );
    gone(
        &post(
            &sim,
            "/openapi/v2/text-to-3d",
            json!({"mode": "preview", "prompt": "p"}),
        )
        .await,
        "/openapi/v2/text-to-3d",
    );
    gone(
        &get(&sim, "/openapi/v1/rigging/t1").await,
        "/openapi/v2/tasks/t1",
    );
    gone(
        &get(&sim, "/openapi/v2/text-to-3d/t1").await,
        "/openapi/v2/tasks/t1",
    );
    gone(
        &get(&sim, "/openapi/v2/text-to-3d/t1/stream").await,
        "/openapi/v2/tasks/t1/stream",
    );
    gone(
        &get(&sim, "/openapi/v1/remesh").await,
        "/openapi/v2/tasks?type=remesh",
    );
    gone(
        &get(&sim, "/openapi/v1/balance").await,
        "/openapi/v2/balance",
    );
    let (status, task, _) = post(&sim, IMAGE3D, image3d_request()).await;
    assert_eq!(status, 202);
    let (status, _, _) = post(
        &sim,
        "/openapi/v2/text-to-3d",
        json!({"prompt": "p", "should_texture": false}),
    )
    .await;
    assert_eq!(status, 202, "one-call text-to-3d stays");
    assert_eq!(get(&sim, "/openapi/v2/balance").await.0, 200);
    let read = get(
        &sim,
        &format!("/openapi/v2/tasks/{}", task["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(read.0, 200);
    assert_eq!(
        get(&sim, "/web/public/animations/resources").await.0,
        200,
        "the public catalog stays"
    );
}

#[tokio::test]
async fn a_v2_webhook_receives_v2_objects_for_a_v1_created_task() {
    let v1_hook = ScriptedServer::start(|_| Canned::json(200, json!({}))).await;
    let v2_hook = ScriptedServer::start(|_| Canned::json(200, json!({}))).await;
    let sim = Simulator::start(SimConfig {
        webhook_urls: vec![
            format!("{}/v1", v1_hook.base_url),
            format!("{}/v2", v2_hook.base_url),
        ],
        webhook_payloads: vec![ApiGeneration::V1, ApiGeneration::V2],
        webhook_secret: Some(
            crate::secrets::WebhookSecret::new(
                "whsec_sim_test_secret_0001",
                crate::secrets::SecretSource::Env,
            )
            .unwrap(),
        ),
        ..fast()
    })
    .await
    .unwrap();
    let (_, created, _) = post(
        &sim,
        "/openapi/v2/text-to-3d",
        json!({"mode": "preview", "prompt": "otter"}),
    )
    .await;
    let id = created["result"].as_str().unwrap().to_owned();
    let succeeded = |r: &[crate::test_support::SeenRequest]| {
        r.iter()
            .any(|r| r.body.windows(9).any(|w| w == b"SUCCEEDED"))
    };
    let v1_seen = v1_hook.wait_until(WAIT, succeeded).await;
    let v2_seen = v2_hook.wait_until(WAIT, succeeded).await;
    let bodies = |seen: &[crate::test_support::SeenRequest]| -> Vec<Value> {
        seen.iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    };
    let (v1_bodies, v2_bodies) = (bodies(&v1_seen), bodies(&v2_seen));
    assert_eq!(v1_bodies.len(), v2_bodies.len(), "the same updates");
    assert!(
        v1_bodies
            .iter()
            .all(|b| b["mode"] == "preview" && b.get("output").is_none())
    );
    assert!(v2_bodies.iter().all(|b| b["id"] == id.as_str()
        && b["type"] == "text-to-3d"
        && b.get("input").is_some()
        && b.get("mode").is_none()));
    let last = v2_bodies.last().unwrap();
    assert_eq!(last["status"], "SUCCEEDED");
    assert!(last["output"]["model_urls"]["glb"].is_string());
    assert_eq!(v2_bodies[0]["output"], Value::Null);
    for seen in [&v1_seen, &v2_seen] {
        assert_eq!(
            seen[0].header(crate::secrets::WEBHOOK_SECRET_HEADER),
            Some("whsec_sim_test_secret_0001"),
            "the secret header as today"
        );
        assert_eq!(
            seen[0].header(crate::secrets::WEBHOOK_USER_HEADER),
            Some(SIM_USER_ID)
        );
    }
}

#[tokio::test]
async fn a_print_analysis_made_before_is_answered_succeeded_at_create() {
    let hook = ScriptedServer::start(|_| Canned::json(200, json!({}))).await;
    let sim = Simulator::start(SimConfig {
        webhook_urls: vec![format!("{}/hook", hook.base_url)],
        webhook_payloads: vec![ApiGeneration::V2],
        ..fast()
    })
    .await
    .unwrap();
    let request = json!({"model_url": "https://example.com/otter.glb", "printer_type": "fdm"});
    let (status, first, headers) = post(&sim, "/openapi/v2/print/analyze", request.clone()).await;
    assert_eq!((status, &first["status"]), (202, &json!("PENDING")));
    assert!(headers.get("retry-after").is_some());
    sim.settle().await;
    let (status, again, headers) = post(&sim, "/openapi/v2/print/analyze", request).await;
    assert_eq!(
        (status, &again["status"]),
        (202, &json!("SUCCEEDED")),
        "{again}"
    );
    assert!(again["output"]["printability"].is_object());
    assert_eq!(again["progress"], 100);
    assert!(
        headers.get("retry-after").is_none(),
        "a final task: no Retry-After"
    );
    assert!(headers.get("location").is_some());
    let other = json!({"model_url": "https://example.com/otter.glb", "printer_type": "sla"});
    let (_, other, _) = post(&sim, "/openapi/v2/print/analyze", other).await;
    assert_eq!(
        other["status"], "PENDING",
        "another printer is a new analysis"
    );
    let again_id = again["id"].as_str().unwrap().to_owned();
    let seen = hook
        .wait_until(WAIT, |r| {
            r.iter().any(|r| {
                serde_json::from_slice::<Value>(&r.body)
                    .is_ok_and(|b| b["id"] == again_id.as_str() && b["status"] == "SUCCEEDED")
            })
        })
        .await;
    let deliveries = seen
        .iter()
        .filter(|r| {
            serde_json::from_slice::<Value>(&r.body).is_ok_and(|b| b["id"] == again_id.as_str())
        })
        .count();
    assert_eq!(deliveries, 1, "one delivery, at the final status");
}

#[tokio::test]
async fn todays_rig_frames_carry_result_keys_and_image_frames_no_results_before_the_end() {
    let sim = Simulator::start(SimConfig {
        task_time: Duration::from_millis(600),
        ..SimConfig::unlimited()
    })
    .await
    .unwrap();
    let (_, model, _) = post(
        &sim,
        "/openapi/v1/image-to-3d",
        json!({"image_url": "https://example.com/otter.png"}),
    )
    .await;
    let model = model["result"].as_str().unwrap().to_owned();
    sim.settle().await;
    let (_, rig, _) = post(&sim, "/openapi/v1/rigging", json!({"input_task_id": model})).await;
    let rig = rig["result"].as_str().unwrap().to_owned();
    let frames = stream_frames(&sim, &format!("/openapi/v1/rigging/{rig}/stream")).await;
    let first = &frames[0];
    assert_eq!(first["status"], "PENDING");
    assert_eq!(first["result"]["rigged_character_glb_url"], "");
    assert_eq!(first["result"]["basic_animations"]["walking_glb_url"], "");
    assert!(
        frames.last().unwrap()["result"]["rigged_character_glb_url"]
            .as_str()
            .unwrap()
            .contains("/output/")
    );
    sim.settle().await;
    let (_, anim, _) = post(
        &sim,
        "/openapi/v1/animations",
        json!({"rig_task_id": rig, "action_id": 30}),
    )
    .await;
    let anim = anim["result"].as_str().unwrap().to_owned();
    let frames = stream_frames(&sim, &format!("/openapi/v1/animations/{anim}/stream")).await;
    assert_eq!(frames[0]["result"]["animation_glb_url"], "");
    let (_, image, _) = post(
        &sim,
        "/openapi/v1/text-to-image",
        json!({"ai_model": "nano-banana", "prompt": "otter"}),
    )
    .await;
    let image = image["result"].as_str().unwrap().to_owned();
    let frames = stream_frames(&sim, &format!("/openapi/v1/text-to-image/{image}/stream")).await;
    let first = &frames[0];
    assert_eq!(
        (&first["status"], &first["progress"]),
        (&json!("IN_PROGRESS"), &json!(30))
    );
    for absent in ["finished_at", "expires_at", "image_urls"] {
        assert!(first.get(absent).is_none(), "{absent}: {first}");
    }
    let last = frames.last().unwrap();
    assert_eq!(last["image_urls"].as_array().unwrap().len(), 1);
    assert!(last["finished_at"].is_i64() && last["expires_at"].is_i64());
}
