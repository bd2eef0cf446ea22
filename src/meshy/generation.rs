//! Meshy's two API generations (`docs/meshy-api.md` is v1, `meshy-api-v2.md` v2) and the
//! routes each one speaks: where a task type is created, read, listed, streamed and
//! deleted. The client, the simulator and the cassette readers take routes from here.
//!
//! v1 stops working on [`V1_SUNSET`] for every endpoint that has a v2 twin, and so does
//! text-to-3d's `mode` (preview/refine).

// v1's refine and routes stay spoken here: v1 recordings replay, and v1 works until 2027-03-15.
#![allow(deprecated)]

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::TaskType;

/// The day Meshy's API v1 stops working for every endpoint with a v2 twin.
pub const V1_SUNSET: &str = "2027-03-15";

/// The environment variable that picks the generation when the client configuration
/// does not: `v1` or `v2`.
pub const GENERATION_ENV: &str = "MESHY_API_GENERATION";

/// The v2 read routes every task type shares: `GET {TASKS_PATH}/{id}`,
/// `GET {TASKS_PATH}?type=…`, `GET {TASKS_PATH}/{id}/stream`, `DELETE {TASKS_PATH}/{id}`.
pub const TASKS_PATH: &str = "/openapi/v2/tasks";

/// A Meshy API generation. v2 is the default; v1 is for suites recorded before it, until
/// [`V1_SUNSET`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiGeneration {
    /// Per-type routes under `/openapi/v1/` (text-to-3d under `/openapi/v2/`), create
    /// answers `{"result": id}`, results at the task's top level and in `result`.
    V1,
    /// One create route per endpoint under `/openapi/v2/`, reads under
    /// `/openapi/v2/tasks`, the whole task object in the 202 create answer, results in
    /// `output`, four-field error bodies.
    #[default]
    V2,
}

impl ApiGeneration {
    pub const ALL: [ApiGeneration; 2] = [ApiGeneration::V1, ApiGeneration::V2];

    pub fn as_str(self) -> &'static str {
        match self {
            ApiGeneration::V1 => "v1",
            ApiGeneration::V2 => "v2",
        }
    }

    /// The generation [`GENERATION_ENV`] names, `None` when it is unset or empty.
    pub fn from_env() -> Result<Option<ApiGeneration>, UnknownApiGeneration> {
        match std::env::var(GENERATION_ENV) {
            Ok(value) if !value.trim().is_empty() => value.trim().parse().map(Some),
            _ => Ok(None),
        }
    }

    /// Where a task of `task_type` is created (POST), `None` when this generation has no
    /// such endpoint (`text3d_refine` under v2, `rig_check` under v1).
    pub fn create_path(self, task_type: TaskType) -> Option<String> {
        match self {
            ApiGeneration::V1 => {
                (task_type != TaskType::RigCheck).then(|| task_type.collection().to_owned())
            }
            ApiGeneration::V2 => task_type
                .v2_endpoint()
                .map(|endpoint| format!("/openapi/v2/{endpoint}")),
        }
    }

    /// The generation of a create call, from its path and body: a `/openapi/v1/` route,
    /// or v1's text-to-3d (under `/openapi/v2/`, always with `mode`), is v1; any other
    /// `/openapi/v2/` route is v2. `None` for a path under neither.
    pub fn of_create(path: &str, body: &serde_json::Value) -> Option<ApiGeneration> {
        let path = crate::transport::url_path(path).trim_end_matches('/');
        // `mode` tells v1 only on text-to-3d (text-to-motion's `mode` is a v2 field); a
        // base URL may put a prefix before the route (a proxy).
        let v1_text = path.ends_with("/text-to-3d") && body.get("mode").is_some();
        if path.contains("/openapi/v1/") || v1_text {
            Some(ApiGeneration::V1)
        } else if path.contains("/openapi/v2/") {
            Some(ApiGeneration::V2)
        } else {
            None
        }
    }

    /// Where one task is read (GET) and deleted (DELETE).
    pub fn task_path(self, task_type: TaskType, id: &str) -> String {
        match self {
            ApiGeneration::V1 => format!("{}/{id}", task_type.collection()),
            ApiGeneration::V2 => format!("{TASKS_PATH}/{id}"),
        }
    }

    /// Where a task's progress is streamed (server-sent events).
    pub fn stream_path(self, task_type: TaskType, id: &str) -> String {
        format!("{}/stream", self.task_path(task_type, id))
    }

    /// Where tasks of `task_type` are listed, before the paging query: v1's collection,
    /// or v2's `/openapi/v2/tasks?type=…` (the `type` value unconfirmed for most types).
    pub fn list_path(self, task_type: TaskType) -> String {
        match self {
            ApiGeneration::V1 => task_type.collection().to_owned(),
            ApiGeneration::V2 => format!("{TASKS_PATH}?type={}", task_type.v2_type()),
        }
    }

    /// The balance route.
    pub fn balance_path(self) -> &'static str {
        match self {
            ApiGeneration::V1 => "/openapi/v1/balance",
            ApiGeneration::V2 => "/openapi/v2/balance",
        }
    }
}

impl fmt::Display for ApiGeneration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A generation name that is neither `v1` nor `v2`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown Meshy API generation '{name}'; expected v1 or v2")]
pub struct UnknownApiGeneration {
    pub name: String,
}

impl FromStr for ApiGeneration {
    type Err = UnknownApiGeneration;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.to_ascii_lowercase().as_str() {
            "v1" | "1" => Ok(ApiGeneration::V1),
            "v2" | "2" => Ok(ApiGeneration::V2),
            _ => Err(UnknownApiGeneration { name: name.into() }),
        }
    }
}

impl TryFrom<String> for ApiGeneration {
    type Error = UnknownApiGeneration;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        name.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_creates_go_under_openapi_v2_and_reads_through_tasks() {
        let v2 = ApiGeneration::V2;
        assert_eq!(
            v2.create_path(TaskType::Image3d).as_deref(),
            Some("/openapi/v2/image-to-3d")
        );
        assert_eq!(
            v2.create_path(TaskType::RigCheck).as_deref(),
            Some("/openapi/v2/rigging/check")
        );
        assert_eq!(
            v2.create_path(TaskType::PrintMultiColor).as_deref(),
            Some("/openapi/v2/print/multi-color")
        );
        assert_eq!(v2.create_path(TaskType::Text3dRefine), None);
        assert_eq!(
            v2.task_path(TaskType::Image3d, "t1"),
            "/openapi/v2/tasks/t1"
        );
        assert_eq!(
            v2.stream_path(TaskType::Rigging, "t1"),
            "/openapi/v2/tasks/t1/stream"
        );
        assert_eq!(
            v2.list_path(TaskType::RigCheck),
            "/openapi/v2/tasks?type=rig-check"
        );
    }

    #[test]
    fn v1_keeps_the_per_type_routes() {
        let v1 = ApiGeneration::V1;
        assert_eq!(
            v1.create_path(TaskType::Image3d).as_deref(),
            Some("/openapi/v1/image-to-3d")
        );
        assert_eq!(
            v1.create_path(TaskType::Text3dRefine).as_deref(),
            Some("/openapi/v2/text-to-3d")
        );
        assert_eq!(v1.create_path(TaskType::RigCheck), None);
        assert_eq!(
            v1.task_path(TaskType::Rigging, "t1"),
            "/openapi/v1/rigging/t1"
        );
    }

    #[test]
    fn every_v2_endpoint_has_a_create_path_and_a_type() {
        for task_type in TaskType::ALL {
            if task_type == TaskType::Text3dRefine {
                continue;
            }
            let path = ApiGeneration::V2.create_path(task_type).unwrap();
            assert!(path.starts_with("/openapi/v2/"), "{task_type}: {path}");
            assert!(!task_type.v2_type().is_empty());
        }
    }

    #[test]
    fn a_create_calls_generation_is_told_by_its_route_and_mode() {
        use serde_json::json;
        let of = ApiGeneration::of_create;
        let text = "https://api.meshy.ai/openapi/v2/text-to-3d";
        assert_eq!(
            of(text, &json!({"mode": "preview"})),
            Some(ApiGeneration::V1)
        );
        assert_eq!(of(text, &json!({"prompt": "o"})), Some(ApiGeneration::V2));
        assert_eq!(
            of("https://api.meshy.ai/openapi/v1/remesh", &json!({})),
            Some(ApiGeneration::V1)
        );
        assert_eq!(
            of("http://127.0.0.1:9/openapi/v2/remesh", &json!({})),
            Some(ApiGeneration::V2)
        );
        assert_eq!(of("/web/x", &json!({})), None);
        // Text-to-motion's `mode` is v2's own field.
        assert_eq!(
            of(
                "https://api.meshy.ai/openapi/v2/text-to-motion",
                &json!({"mode": "swift"})
            ),
            Some(ApiGeneration::V2)
        );
        assert_eq!(
            of("http://proxy/meshy/openapi/v1/remesh", &json!({})),
            Some(ApiGeneration::V1)
        );
    }

    #[test]
    fn names_parse_and_unknown_ones_say_what_is_expected() {
        assert_eq!("v1".parse(), Ok(ApiGeneration::V1));
        assert_eq!("V2".parse(), Ok(ApiGeneration::V2));
        let error = "v3".parse::<ApiGeneration>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown Meshy API generation 'v3'; expected v1 or v2"
        );
        assert_eq!(ApiGeneration::default(), ApiGeneration::V2);
    }
}
