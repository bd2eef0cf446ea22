//! The simulator's HTTP surface: routing, authentication, rate and queue limits,
//! Meshy-style validation and error bodies, SSE streams, and the asset routes.
//!
//! API v2 requests (and, with the sunset switch on, v1 routes with a v2 twin) go to
//! `v2` before anything else. Requests are routed by hand over path segments (rather
//! than with warp filter chains) so the whole API reads top to bottom in [`handle`].

// v1's refine and routes stay spoken here: v1 recordings replay, and v1 works until 2027-03-15.
#![allow(deprecated)]

use std::convert::Infallible;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use warp::Reply as _;
use warp::http::{Response, StatusCode};
use warp::hyper::body::Bytes;

use super::assets;
use super::behaviour::Rule;
use super::state::Bodies;
use super::state::SimState;
use super::task::{SimTask, credits, new_task_id, now_ms};
use crate::meshy::ApiGeneration;
use crate::meshy::{MAX_PROMPT_CHARS, TEST_MODE_API_KEY, TaskStatus, TaskType};
use tokio::sync::watch;

/// What the real API reports in `X-Api-Version` today (the simulator's default).
pub const API_VERSION: &str = "v2026.01.27";

/// A request as the router sees it.
pub struct ApiRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
    /// The `X-Meshy-Metadata` header (API v2).
    pub metadata: Option<String>,
    pub body: Bytes,
}

pub(super) type Reply = warp::reply::Response;

/// Answers one request, with the `X-Api-Version` of the version spoken: the task's
/// own for a call about one task, else the simulator's.
pub async fn handle(state: Arc<SimState>, request: ApiRequest) -> Reply {
    let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    let version = segments
        .iter()
        .find_map(|segment| state.task(segment))
        .map_or(state.config.api_version, |t| t.api_version);
    let fault = (state.chaos.as_ref()).and_then(|c| chaos_fault(&state, c, &request, &segments));
    let mut reply = match fault {
        None => route(&state, &request, &segments).await,
        Some(fault) => with_fault(&state, &request, &segments, fault).await,
    };
    // A create call's answer already says its new task's version; the CDN's asset
    // downloads carry none.
    let asset = segments.first() == Some(&"assets");
    if !asset
        && !reply.headers().contains_key("X-Api-Version")
        && let Ok(value) = warp::http::HeaderValue::from_str(version.as_str())
    {
        reply.headers_mut().insert("X-Api-Version", value);
    }
    reply
}

/// The chaos fault this request draws, if any ([`super::chaos`]): API calls only, not
/// asset downloads, streams or `/_sim/` routes.
fn chaos_fault(
    state: &SimState,
    chaos: &super::chaos::ChaosState,
    request: &ApiRequest,
    segments: &[&str],
) -> Option<super::chaos::RequestFault> {
    let api = segments.first() == Some(&"openapi");
    if !api || segments.last() == Some(&"stream") {
        return None;
    }
    let create = request.method == "POST";
    // A task is named by what was asked of it: its id is new every run.
    let path: Vec<String> = segments
        .iter()
        .map(|segment| match state.task(segment) {
            Some(task) => format!(
                "<{}>",
                super::chaos::task_identity(task.task_type.as_str(), &task.request)
            ),
            None => (*segment).to_owned(),
        })
        .collect();
    let mut identity = format!("{} /{}?{}", request.method, path.join("/"), request.query);
    if create {
        let mut body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        if let Some(fields) = body.as_object_mut() {
            fields.remove("callback_url");
        }
        identity.push(' ');
        identity.push_str(&body.to_string());
    }
    chaos.request(create, &identity)
}

/// Answers `request` as `fault` says: a create's task is made before its answer is
/// lost; a read's failure is all it gets.
async fn with_fault(
    state: &Arc<SimState>,
    request: &ApiRequest,
    segments: &[&str],
    fault: super::chaos::RequestFault,
) -> Reply {
    use super::chaos::RequestFault;
    match fault {
        RequestFault::Slow => {
            let pause = state.config.chaos.as_ref().map(|c| c.pause);
            tokio::time::sleep(pause.unwrap_or_default()).await;
            route(state, request, segments).await
        }
        RequestFault::TooMany if super::v2::speaks_v2(request, segments) => {
            super::v2::rate_limited(state)
        }
        RequestFault::TooMany => error(429, "RateLimitExceeded"),
        RequestFault::Unavailable => error(503, "Service Unavailable"),
        RequestFault::Reset => dropped_connection(),
        RequestFault::LostAnswer => {
            drop(route(state, request, segments).await);
            dropped_connection()
        }
        RequestFault::BadGateway => {
            drop(route(state, request, segments).await);
            Response::builder()
                .status(502)
                .header("Content-Type", "text/html")
                .body("<html><body><h1>502 Bad Gateway</h1></body></html>".into())
                .unwrap_or_else(|_| Response::new(Default::default()))
        }
    }
}

/// An answer whose body fails at once: the connection drops before the answer is
/// whole, as a reset or a proxy's timeout does.
fn dropped_connection() -> Reply {
    let failing = futures_util::stream::once(async {
        Err::<warp::sse::Event, _>(std::io::Error::other("chaos: connection dropped"))
    });
    warp::sse::reply(failing).into_response()
}

async fn route(state: &Arc<SimState>, request: &ApiRequest, segments: &[&str]) -> Reply {
    if let ["assets", "tasks", id, "output", file] = segments[..] {
        return asset(state, &request.method, id, file);
    }
    // The public animation catalog needs no key.
    if request.method == "GET" && segments == ["web", "public", "animations", "resources"] {
        return json_reply(200, &super::assets::animation_catalog());
    }
    if super::v2::speaks_v2(request, segments) {
        return super::v2::route(state, request, segments).await;
    }
    if state.config.v1_sunset
        && let Some(twin) = super::v2::v1_twin(&request.method, segments)
    {
        return super::v2::sunset(&twin);
    }
    let key = match authenticate(state, request.authorization.as_deref()) {
        Some(key) => key,
        // The two 401 bodies seen live (November 2025 said the second for both).
        None if request.authorization.is_none() && state.config.api_version.is_2026() => {
            return error(401, "Missing API key");
        }
        None => return error(401, "Invalid API key"),
    };
    if !state.allow_request(&key) {
        return error(429, "RateLimitExceeded");
    }
    let test_mode = key == TEST_MODE_API_KEY;
    match (request.method.as_str(), segments) {
        ("GET", ["openapi", "v1", "balance"]) => {
            return json_reply(200, &json!({"balance": state.balance()}));
        }
        ("POST", ["_sim", "rules"]) => return add_rule(state, &request.body),
        ("GET", ["_sim", "stats"]) => {
            let queue = *crate::sync::lock(&state.queue);
            return json_reply(200, &json!(queue));
        }
        _ => {}
    }
    let Some((types, rest)) = collection(segments) else {
        return error(404, "Not Found");
    };
    match (request.method.as_str(), rest) {
        ("POST", []) => create(state, types, &request.body, test_mode, &key),
        ("GET", []) if types[0].has_list() => list(state, types, &request.query),
        ("GET", [id]) => get(state, types, id, test_mode),
        ("GET", [id, "stream"]) => stream(state, types, id, test_mode),
        ("DELETE", [id]) => delete(state, types, id, test_mode),
        _ => error(404, "Not Found"),
    }
}

/// The last four characters of a key (what usage records show of it).
pub(super) fn key_suffix(key: &str) -> String {
    let start = key.char_indices().rev().nth(3).map_or(0, |(i, _)| i);
    key[start..].to_owned()
}

/// The key of a valid `Authorization: Bearer msy_…` header.
pub(super) fn authenticate(state: &SimState, header: Option<&str>) -> Option<String> {
    let key = header?.strip_prefix("Bearer ")?.trim();
    let known = match &state.config.api_keys {
        Some(keys) => keys.iter().any(|k| k == key) || key == TEST_MODE_API_KEY,
        None => key.starts_with("msy_") && key.len() > 4,
    };
    known.then(|| key.to_owned())
}

/// The task types served under the first three segments, and the segments after them.
pub(super) fn collection<'a>(segments: &'a [&'a str]) -> Option<(Vec<TaskType>, &'a [&'a str])> {
    // `/openapi/v1/print/analyze` has four segments, the others three.
    for length in [4, 3] {
        if segments.len() < length {
            continue;
        }
        let path = format!("/{}", segments[..length].join("/"));
        let types: Vec<TaskType> = TaskType::ALL
            .into_iter()
            .filter(|t| t.collection() == path)
            .collect();
        if !types.is_empty() {
            return Some((types, &segments[length..]));
        }
    }
    None
}

fn create(
    state: &Arc<SimState>,
    types: Vec<TaskType>,
    body: &[u8],
    test_mode: bool,
    key: &str,
) -> Reply {
    let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(body) else {
        return error(400, "Invalid request body: expected a JSON object");
    };
    let task_type = match task_type_of(&types, &fields) {
        Ok(task_type) => task_type,
        Err(message) => return error(400, &message),
    };
    let callback_url = fields
        .remove("callback_url")
        .and_then(|v| v.as_str().map(str::to_owned));
    let mut problems = missing_fields(task_type, &fields);
    if problems.is_empty() {
        problems = input_problems(state, task_type, &fields);
    }
    if !problems.is_empty() {
        return error(400, &format!("Invalid values: {}", problems.join("; ")));
    }
    if test_mode {
        let sample = sample_task(task_type, state.config.api_version);
        let id = sample.id.clone();
        state.insert_sample(sample);
        return json_reply(202, &json!({ "result": id }));
    }
    if state.queued() >= state.config.max_queued_tasks {
        state
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .queue_refusals += 1;
        return error(429, "NoMoreConcurrentTasks");
    }
    let cost = credits(task_type);
    if !state.charge(cost) {
        return error(402, "Insufficient credits");
    }
    let behaviour = state.behaviour(task_type, &Value::Object(fields.clone()));
    let behaviour_status = behaviour.create_status.filter(|s| (100..=599).contains(s));
    let id = new_task_id();
    let api_version = behaviour.api_version.unwrap_or(state.config.api_version);
    // Today's text-to-image tasks start IN_PROGRESS at 30%: no PENDING frame.
    let (status, progress, started_at) =
        if api_version.is_2026() && task_type == TaskType::TextToImage {
            (TaskStatus::InProgress, 30, now_ms())
        } else {
            (TaskStatus::Pending, 0, 0)
        };
    state.create(SimTask {
        id: id.clone(),
        task_type,
        request: fields,
        callback_url,
        behaviour,
        status,
        progress,
        created_at: now_ms(),
        started_at,
        finished_at: 0,
        credits: cost,
        sample: false,
        api_version,
        generation: crate::meshy::ApiGeneration::V1,
        metadata: None,
        key_suffix: key_suffix(key),
    });
    if let Some(status) = behaviour_status {
        let reason = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error");
        return error(status, reason);
    }
    let mut reply = json_reply(202, &json!({ "result": id }));
    if let Ok(value) = warp::http::HeaderValue::from_str(api_version.as_str()) {
        reply.headers_mut().insert("X-Api-Version", value);
    }
    reply
}

/// Text-to-3D shares one endpoint for both stages: `mode` decides.
fn task_type_of(types: &[TaskType], fields: &Map<String, Value>) -> Result<TaskType, String> {
    if types.len() == 1 {
        return Ok(types[0]);
    }
    match fields.get("mode").and_then(Value::as_str) {
        Some("preview") => Ok(TaskType::Text3d),
        Some("refine") => Ok(TaskType::Text3dRefine),
        Some(_) => Err("Invalid values: Mode must be one of [preview refine]".into()),
        None => Err("Invalid values: Mode is a required field".into()),
    }
}

/// Meshy's validator names fields in Go style: `input_task_id` → `InputTaskID`.
fn go_name(field: &str) -> String {
    field
        .split('_')
        .map(|part| match part {
            "id" => "ID".to_owned(),
            "url" => "URL".to_owned(),
            "urls" => "URLs".to_owned(),
            other => {
                let mut chars = other.chars();
                chars
                    .next()
                    .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            }
        })
        .collect()
}

/// The documented required fields that are missing or malformed.
fn missing_fields(task_type: TaskType, fields: &Map<String, Value>) -> Vec<String> {
    let text = |name: &str| {
        fields
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
    };
    let required = |name: &str| format!("{} is a required field", go_name(name));
    let mut problems = Vec::new();
    let mut need_one_of = |names: &[&str]| {
        if names.iter().all(|n| text(n).is_none()) {
            problems.extend(names.iter().map(|n| required(n)));
        }
    };
    match task_type {
        TaskType::Text3d
        | TaskType::TextToImage
        | TaskType::ImageToImage
        | TaskType::TextToMotion => need_one_of(&["prompt"]),
        TaskType::Text3dRefine => need_one_of(&["preview_task_id"]),
        TaskType::Image3d => need_one_of(&["image_url", "input_task_id"]),
        TaskType::Remesh | TaskType::Rigging => need_one_of(&["input_task_id", "model_url"]),
        t if t.is_model_job() => need_one_of(&["input_task_id", "model_url"]),
        TaskType::Retexture => {
            need_one_of(&["input_task_id", "model_url"]);
            need_one_of(&["text_style_prompt", "image_style_url"]);
        }
        TaskType::Animation => need_one_of(&["rig_task_id"]),
        _ => {}
    }
    if matches!(task_type, TaskType::TextToImage | TaskType::ImageToImage)
        && text("ai_model").is_none()
    {
        problems.push(required("ai_model"));
    }
    let count = |field: &str| fields.get(field).and_then(Value::as_array).map(Vec::len);
    if task_type == TaskType::ImageToImage {
        match count("reference_image_urls") {
            None | Some(0) => {
                problems.push("ReferenceImageURLs must contain at least 1 item".into())
            }
            Some(n) if n > 5 => {
                problems.push("ReferenceImageURLs must contain at most 5 items".into())
            }
            Some(_) => {}
        }
    }
    if task_type == TaskType::TextToMotion
        && !fields
            .get("duration")
            .and_then(Value::as_f64)
            .is_some_and(|d| (2.0..=10.0).contains(&d))
    {
        problems.push("Duration must be between 2 and 10".into());
    }
    if task_type == TaskType::Convert && count("target_formats").is_none_or(|n| n == 0) {
        problems.push(required("target_formats"));
    }
    if task_type == TaskType::Animation && !fields.get("action_id").is_some_and(Value::is_u64) {
        problems.push(required("action_id"));
    }
    if task_type == TaskType::MultiImage3d {
        match fields
            .get("image_urls")
            .and_then(Value::as_array)
            .map(Vec::len)
        {
            None | Some(0) => problems.push("ImageURLs must contain at least 1 item".into()),
            Some(n) if n > 4 => problems.push("ImageURLs must contain at most 4 items".into()),
            Some(_) => {}
        }
    }
    if text("prompt").is_some_and(|p| p.chars().count() > MAX_PROMPT_CHARS) {
        problems.push(format!(
            "Prompt must be a maximum of {MAX_PROMPT_CHARS} characters in length"
        ));
    }
    problems
}

/// An input task must exist, be of an accepted kind, and have SUCCEEDED.
fn input_problems(
    state: &SimState,
    task_type: TaskType,
    fields: &Map<String, Value>,
) -> Vec<String> {
    let Some(field) = task_type.input_field() else {
        return Vec::new();
    };
    let Some(id) = fields.get(field).and_then(Value::as_str) else {
        return Vec::new();
    };
    let name = go_name(field);
    let problem = match state.task(id) {
        None => format!("{name} refers to task {id}, which does not exist"),
        Some(input) if !task_type.accepted_inputs().contains(&input.task_type) => {
            let kinds: Vec<&str> = task_type
                .accepted_inputs()
                .iter()
                .map(|t| t.api_type())
                .collect();
            format!(
                "{name} must refer to a {} task, not {}",
                kinds.join(" or "),
                input.task_type.api_type()
            )
        }
        Some(input) if input.status != TaskStatus::Succeeded => {
            format!(
                "{name} refers to task {id}, which is {} rather than SUCCEEDED",
                input.status
            )
        }
        Some(_) => return Vec::new(),
    };
    vec![problem]
}

fn add_rule(state: &SimState, body: &[u8]) -> Reply {
    match serde_json::from_slice::<Rule>(body) {
        Ok(rule) => {
            state.add_rule(rule);
            json_reply(200, &json!({}))
        }
        Err(e) => error(400, &format!("Invalid rule: {e}")),
    }
}

/// A task visible under this collection with this key.
pub(super) fn visible(
    state: &SimState,
    types: &[TaskType],
    id: &str,
    test_mode: bool,
) -> Option<SimTask> {
    state
        .task(id)
        .filter(|t| types.contains(&t.task_type) && t.sample == test_mode)
}

fn get(state: &SimState, types: Vec<TaskType>, id: &str, test_mode: bool) -> Reply {
    match visible(state, &types, id, test_mode).and_then(|t| state.body(&t.id)) {
        Some(body) => json_reply(200, &body),
        None => error(404, "Task not found"),
    }
}

fn delete(state: &SimState, types: Vec<TaskType>, id: &str, test_mode: bool) -> Reply {
    if visible(state, &types, id, test_mode).is_some() && state.delete(id) {
        json_reply(200, &json!({}))
    } else {
        error(404, "Task not found")
    }
}

fn list(state: &SimState, types: Vec<TaskType>, query: &str) -> Reply {
    // Decoded as servers do: `%2B` is `+`, `+` is a space, any `%XX` its byte.
    let param = |name: &str| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let number = |name: &str, default: usize| match param(name) {
        None => Ok(default),
        Some(v) => v.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
            format!(
                "Invalid values: {} must be a positive integer",
                go_name(name)
            )
        }),
    };
    let (page_num, page_size) = match (number("page_num", 1), number("page_size", 10)) {
        (Ok(num), Ok(size)) => (num, size),
        (Err(message), _) | (_, Err(message)) => return error(400, &message),
    };
    if page_size > 50 {
        return error(400, "Invalid values: PageSize must be 50 or less");
    }
    let newest_first = match param("sort_by").as_deref() {
        None | Some("-created_at") => true,
        // An unencoded `+` arrives as a space.
        Some("+created_at" | " created_at") => false,
        Some(_) => {
            return error(
                400,
                "Invalid values: SortBy must be one of [+created_at -created_at]",
            );
        }
    };
    let mut bodies = state.bodies(&types);
    bodies.sort_by_key(|(created, _)| *created);
    if newest_first {
        bodies.reverse();
    }
    let page: Vec<Value> = bodies
        .into_iter()
        .skip((page_num - 1) * page_size)
        .take(page_size)
        .map(|(_, b)| b)
        .collect();
    json_reply(200, &Value::Array(page))
}

/// v2025.11.18: `event:message` frames with `{id, progress, status}` while the task
/// runs, the full task object last. v2026.01.27 (as seen live): every frame carries the
/// whole task object, `: keep-alive` comment frames come between them, and the answer
/// says `text/event-stream;charset=utf-8` and `x-accel-buffering: no`. `event:error`
/// for an unknown task.
fn stream(state: &SimState, types: Vec<TaskType>, id: &str, test_mode: bool) -> Reply {
    let task = visible(state, &types, id, test_mode);
    let today = task
        .as_ref()
        .map_or(state.config.api_version, |t| t.api_version)
        .is_2026();
    let receiver = task.and_then(|t| state.subscribe(&t.id));
    let Some(receiver) = receiver else {
        let frame = warp::sse::Event::default()
            .event("error")
            .data(json!({"status_code": 404, "message": "Task not found"}).to_string());
        let once = futures_util::stream::iter([Ok::<_, Infallible>(frame)]);
        return warp::sse::reply(once).into_response();
    };
    sse(receiver, today, ApiGeneration::V1)
}

/// The stream of a task's bodies in `generation`'s shape: every frame the whole task
/// (`today`), else `{id, progress, status}` frames and the whole task last.
pub(super) fn sse(
    receiver: watch::Receiver<Bodies>,
    today: bool,
    generation: ApiGeneration,
) -> Reply {
    let pick = move |bodies: &Bodies| bodies.of(generation).clone();
    let first = pick(&receiver.borrow());
    // State: the receiver, the next body if known, whether the stream ended, and
    // whether a keep-alive comment is due before the next frame.
    let frames = futures_util::stream::unfold(
        (receiver, Some(first), false, false),
        move |(mut rx, next, finished, keep_alive)| async move {
            if finished {
                return None;
            }
            if keep_alive {
                let comment = warp::sse::Event::default().comment(" keep-alive");
                return Some((Ok::<_, Infallible>(comment), (rx, next, false, false)));
            }
            let body = match next {
                Some(body) => body,
                None => {
                    rx.changed().await.ok()?;
                    pick(&rx.borrow_and_update())
                }
            };
            let status = TaskStatus::from(body["status"].as_str().unwrap_or_default().to_owned());
            let data = if status.is_terminal() || today {
                body.clone()
            } else {
                json!({"id": body["id"], "progress": body["progress"], "status": body["status"]})
            };
            let frame = warp::sse::Event::default()
                .event("message")
                .data(data.to_string());
            let done = status.is_terminal();
            Some((Ok::<_, Infallible>(frame), (rx, None, done, today && !done)))
        },
    );
    let mut reply = warp::sse::reply(frames).into_response();
    if today {
        let headers = reply.headers_mut();
        headers.insert(
            "Content-Type",
            warp::http::HeaderValue::from_static("text/event-stream;charset=utf-8"),
        );
        headers.insert(
            "x-accel-buffering",
            warp::http::HeaderValue::from_static("no"),
        );
    }
    reply
}

/// Result files: GLB and PNG are real, other formats are labelled placeholder bytes.
/// Served without authorization, like Meshy's CDN.
fn asset(state: &SimState, method: &str, id: &str, file: &str) -> Reply {
    let ready = state
        .task(id)
        .is_some_and(|t| t.status == TaskStatus::Succeeded);
    if method != "GET" || !ready {
        return error(404, "Not Found");
    }
    let seed = format!("{id}/{file}");
    let (content_type, bytes) = match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("glb") => ("model/gltf-binary", assets::glb(&seed)),
        Some("png") => ("image/png", assets::png(&seed)),
        Some("mp4") => (
            "video/mp4",
            format!("simulated video for {seed}\n").into_bytes(),
        ),
        _ => (
            "application/octet-stream",
            format!("simulated {file} for task {id}\n").into_bytes(),
        ),
    };
    Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", content_type)
        .body(bytes.into())
        .unwrap_or_else(|_| error(500, "asset"))
}

/// Test mode: one fixed, SUCCEEDED sample task per task type, whatever the input.
pub(super) fn sample_task(task_type: TaskType, api_version: super::ApiVersion) -> SimTask {
    let index = TaskType::ALL
        .iter()
        .position(|t| *t == task_type)
        .unwrap_or(0);
    SimTask {
        id: format!("018a210d-8ba4-705c-b111-1f1776f7f5{index:02x}"),
        task_type,
        request: json!({"prompt": "a monster mask"})
            .as_object()
            .cloned()
            .unwrap_or_default(),
        callback_url: None,
        behaviour: Default::default(),
        status: TaskStatus::Succeeded,
        progress: 100,
        created_at: 1_692_771_650_657,
        started_at: 1_692_771_667_037,
        finished_at: 1_692_771_669_037,
        credits: 0,
        sample: true,
        api_version,
        generation: crate::meshy::ApiGeneration::V1,
        metadata: None,
        key_suffix: String::new(),
    }
}

pub(super) fn json_reply(status: u16, body: &Value) -> Reply {
    Response::builder()
        .status(status)
        .header("Content-Type", "application/json; charset=utf-8")
        .body(body.to_string().into())
        .unwrap_or_else(|_| Response::new(Default::default()))
}

fn error(status: u16, message: &str) -> Reply {
    json_reply(status, &json!({ "message": message }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_follow_meshys_validator_style() {
        assert_eq!(go_name("input_task_id"), "InputTaskID");
        assert_eq!(go_name("model_url"), "ModelURL");
        assert_eq!(go_name("image_urls"), "ImageURLs");
        assert_eq!(go_name("prompt"), "Prompt");
    }

    #[test]
    fn remesh_without_input_gives_the_documented_message() {
        let problems = missing_fields(TaskType::Remesh, &Map::new());
        assert_eq!(
            format!("Invalid values: {}", problems.join("; ")),
            "Invalid values: InputTaskID is a required field; ModelURL is a required field"
        );
    }
}
