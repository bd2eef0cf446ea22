//! API v2's routes (`meshy-api-v2.md`, "Routes"), beside v1's: creates under
//! `/openapi/v2/<endpoint>` answering 202 with the whole task object, `Location` and
//! `Retry-After`; one set of reads for every task type under `/openapi/v2/tasks`
//! (get, list, stream, delete; v1-created tasks included); balance and usage; the
//! four-field error body of every v2 error; and the v1 sunset switch (410 for every
//! v1 route with a v2 twin). The requests' rules are `meshy::v2_rules`, shared with
//! the SDK. Choices the docs leave open are listed in `docs/unconfirmed.md`.

use std::sync::Arc;

use serde_json::{Map, Value, json};
use warp::http::HeaderValue;

use super::api::{
    ApiRequest, Reply, authenticate, collection, json_reply, key_suffix, sample_task, visible,
};
use super::state::SimState;
use super::task::{SimTask, credits, new_task_id, now_ms, step_delay};
use crate::meshy::v2_rules::{self, Refusal};
use crate::meshy::{ApiGeneration, TASKS_PATH, TEST_MODE_API_KEY, TaskStatus, TaskType, V1_SUNSET};

/// Where the sunset answer points.
pub const MIGRATE_DOC_URL: &str = "https://docs.meshy.ai/en/api/migrate-to-v2";

/// Whether a request is for API v2: anything under `/openapi/v2/` except text-to-3d's
/// v1 routes (a create with `mode`, and its per-type reads, list and delete).
/// v2's 429 for too many requests per second.
pub(super) fn rate_limited(state: &SimState) -> Reply {
    let mut reply = error(
        429,
        "rate_limited",
        "rate_limit_exceeded",
        "Too many requests per second: retry after the time in Retry-After",
    );
    let seconds = state.config.rate_window.as_secs_f64().ceil().max(1.0) as u64;
    set_header(&mut reply, "Retry-After", &seconds.to_string());
    reply
}

pub fn speaks_v2(request: &ApiRequest, segments: &[&str]) -> bool {
    match segments {
        ["openapi", "v2", "text-to-3d"] if request.method == "POST" => {
            let body = serde_json::from_slice::<Value>(&request.body).ok();
            body.is_none_or(|b| b.get("mode").is_none())
        }
        ["openapi", "v2", "text-to-3d", ..] => false,
        ["openapi", "v2", ..] => true,
        _ => false,
    }
}

/// The v2 route that replaces a v1 route, `None` for a route without a twin. Called
/// only for requests that [`speaks_v2`] left to v1, so a text-to-3d create here has a
/// `mode`.
pub fn v1_twin(method: &str, segments: &[&str]) -> Option<String> {
    if segments == ["openapi", "v1", "balance"] {
        return Some(ApiGeneration::V2.balance_path().to_owned());
    }
    let (types, rest) = collection(segments)?;
    let task_type = *types.first()?;
    match (method, rest) {
        ("POST", []) => ApiGeneration::V2.create_path(task_type),
        ("GET", []) => Some(ApiGeneration::V2.list_path(task_type)),
        ("GET" | "DELETE", [id]) => Some(ApiGeneration::V2.task_path(task_type, id)),
        ("GET", [id, "stream"]) => Some(ApiGeneration::V2.stream_path(task_type, id)),
        _ => None,
    }
}

/// 410: v1 stopped on [`V1_SUNSET`] (status and code unconfirmed).
pub fn sunset(twin: &str) -> Reply {
    json_reply(
        410,
        &json!({
            "type": "invalid_request",
            "code": "api_v1_sunset",
            "message": format!("API v1 stopped working on {V1_SUNSET}: use the v2 route {twin}"),
            "doc_url": MIGRATE_DOC_URL,
        }),
    )
}

/// A v2 error: `{type, code, message, doc_url}`.
pub fn error(status: u16, kind: &str, code: &str, message: &str) -> Reply {
    json_reply(
        status,
        &json!({"type": kind, "code": code, "message": message, "doc_url": null}),
    )
}

fn refused(refusal: &Refusal) -> Reply {
    error(
        400,
        v2_rules::REFUSAL_TYPE,
        refusal.code.as_str(),
        &refusal.message,
    )
}

fn task_not_found(id: &str) -> Reply {
    error(
        404,
        "not_found",
        "task_not_found",
        &format!("Task {id} not found"),
    )
}

/// Answers a v2 request.
pub async fn route(state: &Arc<SimState>, request: &ApiRequest, segments: &[&str]) -> Reply {
    let key = match authenticate(state, request.authorization.as_deref()) {
        Some(key) => key,
        None if request.authorization.is_none() => {
            return error(401, "unauthorized", "api_key_missing", "Missing API key");
        }
        None => return error(401, "unauthorized", "api_key_invalid", "Invalid API key"),
    };
    if !state.allow_request(&key) {
        return rate_limited(state);
    }
    let test_mode = key == TEST_MODE_API_KEY;
    let rest = segments.get(2..).unwrap_or_default();
    match (request.method.as_str(), rest) {
        ("GET", ["balance"]) => json_reply(200, &json!({"balance": state.balance()})),
        ("GET", ["usage", "tasks"]) => super::v2_usage::usage(state, &request.query),
        ("GET", ["tasks"]) => list(state, &request.query),
        ("GET", ["tasks", id]) => get(state, id, test_mode),
        ("GET", ["tasks", id, "stream"]) => stream(state, id, test_mode),
        ("DELETE", ["tasks", id]) => delete(state, id, test_mode),
        ("POST", endpoint) => {
            let endpoint = endpoint.join("/");
            let task_type = TaskType::ALL
                .into_iter()
                .find(|t| t.v2_endpoint() == Some(endpoint.as_str()));
            match task_type {
                Some(task_type) => create(state, task_type, request, test_mode, &key),
                None => no_route(request),
            }
        }
        _ => no_route(request),
    }
}

/// 404 `route_not_found`: per-type reads such as `GET /openapi/v2/image-to-3d/{id}`.
fn no_route(request: &ApiRequest) -> Reply {
    error(
        404,
        "not_found",
        "route_not_found",
        &format!("NoMatchingRoute: {} {}", request.method, request.path),
    )
}

fn create(
    state: &Arc<SimState>,
    task_type: TaskType,
    request: &ApiRequest,
    test_mode: bool,
    key: &str,
) -> Reply {
    let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(&request.body) else {
        return error(
            400,
            "invalid_input",
            v2_rules::INVALID_PARAMETER,
            "The request body must be a JSON object",
        );
    };
    // The simulator's own extension, as under v1: not a v2 parameter, never validated.
    let callback_url = fields
        .remove("callback_url")
        .and_then(|url| url.as_str().map(str::to_owned));
    if let Err(refusal) = v2_rules::check(task_type, &fields)
        .and_then(|()| v2_rules::check_model(task_type, &fields, &state.config.today()))
    {
        return refused(&refusal);
    }
    let metadata = match request.metadata.as_deref().map(v2_rules::check_metadata) {
        None => None,
        Some(Ok(pairs)) => Some(pairs.into_iter().map(|(k, v)| (k, json!(v))).collect()),
        Some(Err(refusal)) => return refused(&refusal),
    };
    if let Some(reply) = input_refusal(state, task_type, &fields) {
        return reply;
    }
    if test_mode {
        let mut sample = sample_task(task_type, state.config.api_version);
        sample.generation = ApiGeneration::V2;
        let body = sample.v2_body(&state.assets_base(), 0);
        state.insert_sample(sample);
        return created(state, &body, None);
    }
    let reanalysis = task_type == TaskType::PrintAnalyze && analysed_before(state, &fields);
    let queued = state.queued();
    if !reanalysis && queued >= state.config.max_queued_tasks {
        crate::sync::lock(&state.queue).queue_refusals += 1;
        return error(
            429,
            "rate_limited",
            "pending_task_limit_reached",
            "Your plan's unfinished tasks (PENDING and IN_PROGRESS) are at its limit: wait for one to finish",
        );
    }
    let cost = v2_credits(task_type, &fields);
    if !state.charge(cost) {
        return error(
            402,
            "payment_required",
            "insufficient_credits",
            "Insufficient credits",
        );
    }
    let behaviour = state.behaviour(task_type, &Value::Object(fields.clone()));
    let behaviour_status = behaviour.create_status.filter(|s| (100..=599).contains(s));
    let api_version = behaviour.api_version.unwrap_or(state.config.api_version);
    let now = now_ms();
    let (status, progress, started_at, finished_at) = if reanalysis {
        (TaskStatus::Succeeded, 100, now, now)
    } else if api_version.is_2026() && task_type == TaskType::TextToImage {
        (TaskStatus::InProgress, 30, now, 0)
    } else {
        (TaskStatus::Pending, 0, 0, 0)
    };
    let task = SimTask {
        id: new_task_id(),
        task_type,
        request: fields,
        callback_url,
        behaviour,
        status,
        progress,
        created_at: now,
        started_at,
        finished_at,
        credits: cost,
        sample: false,
        api_version,
        generation: ApiGeneration::V2,
        metadata,
        key_suffix: key_suffix(key),
    };
    // Rendered before the lifecycle starts, so the answer is the task as created.
    let body = task.v2_body(&state.assets_base(), queued);
    let retry_after = (!task.status.is_terminal()).then(|| first_read_after(state, &task));
    state.create(task);
    if let Some(status) = behaviour_status {
        let reason = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error");
        return json_reply(status, &json!({ "message": reason }));
    }
    let mut reply = created(state, &body, retry_after);
    set_header(&mut reply, "X-Api-Version", api_version.as_str());
    reply
}

/// 202 with the task object, its `Location` and, unless it is final, `Retry-After`.
fn created(state: &SimState, body: &Value, retry_after: Option<u64>) -> Reply {
    let mut reply = json_reply(202, body);
    let id = body["id"].as_str().unwrap_or_default();
    let location = format!("{}{TASKS_PATH}/{id}", state.base_url);
    set_header(&mut reply, "Location", &location);
    if let Some(seconds) = retry_after {
        set_header(&mut reply, "Retry-After", &seconds.to_string());
    }
    reply
}

fn set_header(reply: &mut Reply, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        reply.headers_mut().insert(name, value);
    }
}

/// Seconds until the task's first step: when a first read is worth making (at least 1).
fn first_read_after(state: &SimState, task: &SimTask) -> u64 {
    let total = task
        .behaviour
        .task_seconds
        .and_then(super::behaviour::task_time)
        .unwrap_or(state.config.task_time);
    let delay = step_delay(total, task.plan().len());
    delay.as_secs_f64().ceil().max(1.0) as u64
}

/// What a v2 task costs: a textured one-call text-to-3d as preview and refine, an
/// untextured image-to-3d as a Meshy-6 model without texture, animation per action.
#[allow(deprecated)] // v1's refine and routes: spoken until 2027-03-15, replayed after
fn v2_credits(task_type: TaskType, fields: &Map<String, Value>) -> u64 {
    let body = Value::Object(fields.clone());
    crate::meshy::pricing::request_credits(task_type, ApiGeneration::V2, &body).unwrap_or(
        // Where the table is silent: a textured one-call text-to-3d as preview and
        // refine were (30), else the type's price (docs/unconfirmed.md).
        match task_type {
            TaskType::Text3d => credits(TaskType::Text3d) + credits(TaskType::Text3dRefine),
            other => credits(other),
        },
    )
}

/// An input task that does not exist (400 `input_task_not_found`, unconfirmed), is of
/// a type this endpoint does not take (400 `input_task_unsupported`) or has not
/// SUCCEEDED (400 `input_task_not_ready`).
fn input_refusal(
    state: &SimState,
    task_type: TaskType,
    fields: &Map<String, Value>,
) -> Option<Reply> {
    let mut inputs: Vec<(&str, &[TaskType])> = Vec::new();
    if let Some(field) = task_type.input_field() {
        inputs.push((field, task_type.accepted_inputs()));
    }
    if task_type == TaskType::Animation {
        inputs.push(("motion_task_id", &[TaskType::TextToMotion]));
    }
    for (field, accepted) in inputs {
        let Some(id) = fields.get(field).and_then(Value::as_str) else {
            continue;
        };
        let (code, message) = match state.task(id) {
            None => (
                "input_task_not_found",
                format!("{field} refers to task {id}, which does not exist"),
            ),
            Some(input) if !accepted.contains(&input.task_type) => {
                let kinds: Vec<&str> = accepted.iter().map(|t| t.v2_type()).collect();
                (
                    "input_task_unsupported",
                    format!(
                        "{field} must refer to a {} task, not {}",
                        kinds.join(" or "),
                        input.task_type.v2_type()
                    ),
                )
            }
            Some(input) if input.status != TaskStatus::Succeeded => (
                "input_task_not_ready",
                format!(
                    "{field} refers to task {id}, which is {} rather than SUCCEEDED",
                    input.status
                ),
            ),
            Some(_) => continue,
        };
        return Some(error(400, "invalid_input", code, &message));
    }
    None
}

/// Whether the same model (`input_task_id` or `model_url`), printer and size was
/// analysed before: the analysis is answered at once.
fn analysed_before(state: &SimState, fields: &Map<String, Value>) -> bool {
    fn key(fields: &Map<String, Value>) -> [Option<&Value>; 3] {
        [
            fields
                .get("input_task_id")
                .or_else(|| fields.get("model_url")),
            fields.get("printer_type"),
            fields.get("intended_print_height_mm"),
        ]
    }
    let wanted = key(fields);
    wanted[0].is_some()
        && !state
            .v2_tasks(|t| {
                t.task_type == TaskType::PrintAnalyze
                    && t.status == TaskStatus::Succeeded
                    && key(&t.request) == wanted
            })
            .is_empty()
}

fn get(state: &SimState, id: &str, test_mode: bool) -> Reply {
    match visible(state, &TaskType::ALL, id, test_mode).and_then(|t| state.both_bodies(&t.id)) {
        Some(bodies) => json_reply(200, &bodies.v2),
        None => task_not_found(id),
    }
}

/// As v1's delete: 200 `{}` (unconfirmed).
fn delete(state: &SimState, id: &str, test_mode: bool) -> Reply {
    if visible(state, &TaskType::ALL, id, test_mode).is_some() && state.delete(id) {
        json_reply(200, &json!({}))
    } else {
        task_not_found(id)
    }
}

/// As today's v1 stream, with v2 task objects (unconfirmed); an unknown task is a 404
/// with the four-field body rather than an `event:error` frame.
fn stream(state: &SimState, id: &str, test_mode: bool) -> Reply {
    let task = visible(state, &TaskType::ALL, id, test_mode);
    let today = task
        .as_ref()
        .map_or(state.config.api_version, |t| t.api_version)
        .is_2026();
    match task.and_then(|t| state.subscribe(&t.id)) {
        Some(receiver) => super::api::sse(receiver, today, ApiGeneration::V2),
        None => task_not_found(id),
    }
}

/// `GET /openapi/v2/tasks?type=&page_num=&page_size=&sort_by=`: `{"data": [tasks],
/// "has_more": bool}`, newest first by default, every type unless `type` names one
/// (query and envelope unconfirmed).
fn list(state: &SimState, query: &str) -> Reply {
    let params = Query::parse(query);
    let invalid = |message: &str| error(400, "invalid_input", v2_rules::INVALID_PARAMETER, message);
    let task_types: Vec<TaskType> = match params.get("type") {
        None => TaskType::ALL.to_vec(),
        Some(name) => {
            let found: Vec<TaskType> = TaskType::ALL
                .into_iter()
                .filter(|t| t.v2_type() == name)
                .collect();
            if found.is_empty() {
                return invalid(&format!("type {name} is not a task type"));
            }
            found
        }
    };
    let (page_num, page_size) = match (params.number("page_num", 1), params.number("page_size", 10))
    {
        (Ok(num), Ok(size)) if size <= 50 => (num, size),
        (Ok(_), Ok(_)) => return invalid("page_size must be 50 or less"),
        (Err(message), _) | (_, Err(message)) => return invalid(&message),
    };
    let newest_first = match params.get("sort_by") {
        None | Some("-created_at") => true,
        Some("+created_at" | " created_at") => false,
        Some(_) => return invalid("sort_by must be +created_at or -created_at"),
    };
    let mut tasks = state.v2_tasks(|t| task_types.contains(&t.task_type));
    tasks.sort_by_key(|(t, _)| (t.created_at, t.id.clone()));
    if newest_first {
        tasks.reverse();
    }
    let skip = (page_num - 1).saturating_mul(page_size);
    let has_more = tasks.len() > skip.saturating_add(page_size);
    let data: Vec<Value> = tasks
        .into_iter()
        .skip(skip)
        .take(page_size)
        .map(|(_, body)| body)
        .collect();
    json_reply(200, &json!({"data": data, "has_more": has_more}))
}

/// A decoded query string (`%2B` is `+`, `+` a space).
pub(super) struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(query: &str) -> Query {
        Query(
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A positive integer parameter, `default` when absent.
    pub fn number(&self, name: &str, default: usize) -> Result<usize, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| format!("{name} must be a positive integer")),
        }
    }
}
