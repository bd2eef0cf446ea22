//! The data of one species' manifest (`<root>/<species>/manifest.json`) and the rules
//! by which task updates change it. Pure data and logic: reading, writing and locking
//! the file belong to [`super::Repository`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::meshy::{Task, TaskStatus, TaskType};

/// Everything recorded about one species' assets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub species: String,
    /// Asset specs by spec hash.
    #[serde(default)]
    pub assets: BTreeMap<String, AssetSpec>,
}

/// One requested asset: the request that defines it and the tasks that produced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetSpec {
    pub spec_hash: String,
    pub task_type: TaskType,
    /// The request body as sent, without delivery details such as `callback_url`.
    pub request: Value,
    /// The task graph: every task submitted for this spec, by task id.
    #[serde(default)]
    pub tasks: BTreeMap<String, TaskRecord>,
}

/// Where an update came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateSource {
    /// The submit call.
    Service,
    /// A webhook delivery.
    Webhook,
    /// A `GET task` poll.
    Poll,
}

/// One task and what happened to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub task_id: String,
    pub task_type: TaskType,
    pub status: TaskStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<u32>,
    /// Tasks this one was built from (its preview, input or rig task): the graph's edges.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    /// RFC 3339 UTC.
    pub submitted_at: String,
    pub updated_at: String,
    /// Meshy's own timestamps (epoch ms), as last reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<i64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub result_urls: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<Artifact>,
    #[serde(default)]
    pub history: Vec<Transition>,
}

/// A status change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// `None` for the submission itself.
    pub from: Option<TaskStatus>,
    pub to: TaskStatus,
    pub source: UpdateSource,
    pub at: String,
}

/// A downloaded result file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    /// Relative to the repository root, `/`-separated.
    pub path: String,
    pub sha256: String,
    pub size: u64,
    pub source_url: String,
    pub downloaded_at: String,
}

/// What applying an update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The status changed (a history entry was added).
    StatusChanged,
    /// Same status; progress, timestamps or result URLs were refreshed.
    Refreshed,
    /// Nothing new: a redelivery.
    Unchanged,
    /// The update is older than what is recorded (a late IN_PROGRESS after a terminal
    /// status, say) and was not applied.
    Stale,
}

impl TaskRecord {
    pub fn new(task_id: &str, task_type: TaskType, inputs: Vec<String>, at: &str) -> TaskRecord {
        TaskRecord {
            task_id: task_id.to_owned(),
            task_type,
            status: TaskStatus::Pending,
            progress: None,
            inputs,
            submitted_at: at.to_owned(),
            updated_at: at.to_owned(),
            started_at: None,
            finished_at: None,
            result_urls: BTreeMap::new(),
            error: None,
            artifacts: Vec::new(),
            history: vec![Transition {
                from: None,
                to: TaskStatus::Pending,
                source: UpdateSource::Service,
                at: at.to_owned(),
            }],
        }
    }

    /// Applies a task object seen at `at`. A task never moves back in its lifecycle,
    /// a terminal status is final, and a redelivery changes nothing.
    pub fn apply(&mut self, task: &Task, source: UpdateSource, at: &str) -> Applied {
        if task.status != self.status
            && (self.status.is_terminal() || task.status.stage() < self.status.stage())
        {
            return Applied::Stale;
        }
        let before = self.clone();
        if task.status != self.status {
            self.history.push(Transition {
                from: Some(self.status.clone()),
                to: task.status.clone(),
                source,
                at: at.to_owned(),
            });
            self.status = task.status.clone();
        }
        if task.progress > self.progress {
            self.progress = task.progress;
        }
        self.started_at = task.started_at.filter(|t| *t > 0).or(self.started_at);
        self.finished_at = task.finished_at.filter(|t| *t > 0).or(self.finished_at);
        self.result_urls.extend(task.result_urls());
        if self.status == TaskStatus::Failed {
            let message = task.error_message().unwrap_or("failed without a message");
            self.error = Some(message.to_owned());
        }
        if *self == before {
            return Applied::Unchanged;
        }
        self.updated_at = at.to_owned();
        if self.history.len() > before.history.len() {
            Applied::StatusChanged
        } else {
            Applied::Refreshed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(status: &str, progress: u32) -> Task {
        serde_json::from_value(json!({"id": "t1", "status": status, "progress": progress})).unwrap()
    }

    fn record() -> TaskRecord {
        TaskRecord::new("t1", TaskType::Text3d, vec![], "2026-01-01T00:00:00.000Z")
    }

    #[test]
    fn lifecycle_adds_one_history_entry_per_status_change() {
        let mut r = record();
        assert_eq!(
            r.apply(&task("IN_PROGRESS", 39), UpdateSource::Webhook, "t1"),
            Applied::StatusChanged
        );
        assert_eq!(
            r.apply(&task("IN_PROGRESS", 66), UpdateSource::Webhook, "t2"),
            Applied::Refreshed
        );
        assert_eq!(
            r.apply(&task("SUCCEEDED", 100), UpdateSource::Webhook, "t3"),
            Applied::StatusChanged
        );
        let path: Vec<String> = r.history.iter().map(|t| t.to.to_string()).collect();
        assert_eq!(path, ["PENDING", "IN_PROGRESS", "SUCCEEDED"]);
        assert_eq!(r.progress, Some(100));
        assert_eq!(r.updated_at, "t3");
    }

    #[test]
    fn redelivery_changes_nothing() {
        let mut r = record();
        r.apply(&task("SUCCEEDED", 100), UpdateSource::Webhook, "t1");
        let before = r.clone();
        assert_eq!(
            r.apply(&task("SUCCEEDED", 100), UpdateSource::Webhook, "t2"),
            Applied::Unchanged
        );
        assert_eq!(r, before);
    }

    #[test]
    fn late_updates_never_move_a_task_back() {
        let mut r = record();
        r.apply(&task("SUCCEEDED", 100), UpdateSource::Webhook, "t1");
        assert_eq!(
            r.apply(&task("IN_PROGRESS", 99), UpdateSource::Webhook, "t2"),
            Applied::Stale
        );
        assert_eq!(
            r.apply(&task("FAILED", 0), UpdateSource::Webhook, "t3"),
            Applied::Stale
        );
        assert_eq!(r.status, TaskStatus::Succeeded);

        let mut r = record();
        r.apply(&task("IN_PROGRESS", 50), UpdateSource::Poll, "t1");
        assert_eq!(
            r.apply(&task("PENDING", 0), UpdateSource::Webhook, "t2"),
            Applied::Stale
        );
        assert_eq!(
            r.apply(&task("IN_PROGRESS", 40), UpdateSource::Webhook, "t3"),
            Applied::Unchanged
        );
        assert_eq!(r.progress, Some(50));
    }

    #[test]
    fn failure_records_the_error_message() {
        let mut r = record();
        let failed: Task = serde_json::from_value(json!({"id": "t1", "status": "FAILED",
            "task_error": {"type": "invalid_input", "message": "Prompt was blocked"}}))
        .unwrap();
        r.apply(&failed, UpdateSource::Webhook, "t1");
        assert_eq!(r.error.as_deref(), Some("Prompt was blocked"));
    }
}
