//! `GET /openapi/v2/usage/tasks` (`meshy-api-v2.md`, "Routes"): the account's finished
//! API tasks (SUCCEEDED and FAILED only) as usage records, newest first, in
//! `{"data": [...], "has_more": bool}`; query `page_size`, `start_time`, `end_time`
//! (ISO 8601; the last 30 days by default). Meshy serves it to Studio and Enterprise
//! team keys only; the simulator serves every key (unconfirmed: docs/unconfirmed.md).

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};

use super::api::{Reply, json_reply};
use super::state::SimState;
use super::task::{SimTask, now_ms};
use super::v2::{Query, error};
use crate::meshy::v2_rules::INVALID_PARAMETER;
use crate::meshy::{ApiGeneration, TaskStatus};

/// The default window: the last 30 days.
const DEFAULT_WINDOW_MS: i64 = 30 * 24 * 3600 * 1000;

/// The most records in one page.
const MAX_PAGE_SIZE: usize = 100;

pub fn usage(state: &SimState, query: &str) -> Reply {
    let params = Query::parse(query);
    let invalid = |message: String| error(400, "invalid_input", INVALID_PARAMETER, &message);
    let time = |name: &str, default: i64| match params.get(name) {
        None => Ok(default),
        // A date alone is its midnight (UTC).
        Some(text) if text.len() == 10 => {
            crate::clock::parse_rfc3339_ms(&format!("{text}T00:00:00Z"))
                .ok_or_else(|| format!("{name} must be an ISO 8601 time, not {text}"))
        }
        Some(text) => crate::clock::parse_rfc3339_ms(text)
            .ok_or_else(|| format!("{name} must be an ISO 8601 time, not {text}")),
    };
    let now = now_ms();
    let (start, end) = match (
        time("start_time", now - DEFAULT_WINDOW_MS),
        time("end_time", now),
    ) {
        (Ok(start), Ok(end)) => (start, end),
        (Err(message), _) | (_, Err(message)) => return invalid(message),
    };
    let page_size = match params.number("page_size", 20) {
        Ok(size) if size <= MAX_PAGE_SIZE => size,
        Ok(_) => return invalid(format!("page_size must be {MAX_PAGE_SIZE} or less")),
        Err(message) => return invalid(message),
    };
    let mut tasks = state.v2_tasks(|t| {
        matches!(t.status, TaskStatus::Succeeded | TaskStatus::Failed)
            && (start..=end).contains(&t.created_at)
    });
    tasks.sort_by_key(|(t, _)| std::cmp::Reverse((t.created_at, t.id.clone())));
    let has_more = tasks.len() > page_size;
    let data: Vec<Value> = tasks
        .iter()
        .take(page_size)
        .map(|(t, _)| record(t))
        .collect();
    json_reply(200, &json!({"data": data, "has_more": has_more}))
}

/// One usage record. Times are ISO 8601 like the query's (unconfirmed).
#[allow(deprecated)] // v1's refine and routes: spoken until 2027-03-15, replayed after
fn record(task: &SimTask) -> Value {
    let endpoint = match task.generation {
        ApiGeneration::V1 => Some(task.task_type.collection().to_owned()),
        ApiGeneration::V2 => ApiGeneration::V2.create_path(task.task_type),
    };
    json!({
        "task_id": task.id,
        "endpoint": endpoint,
        "status": task.status.as_str(),
        "created_at": iso(task.created_at),
        "finished_at": iso(task.finished_at),
        "consumed_credits": if task.status == TaskStatus::Succeeded { task.credits } else { 0 },
        "api_key_name": "simulator",
        "api_key_suffix": task.key_suffix,
        "metadata": task.metadata.clone().map_or(Value::Null, Value::Object),
    })
}

fn iso(ms: i64) -> Value {
    match u64::try_from(ms) {
        Ok(ms) if ms > 0 => json!(crate::clock::rfc3339(
            UNIX_EPOCH + Duration::from_millis(ms)
        )),
        _ => Value::Null,
    }
}
