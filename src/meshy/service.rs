//! Task services: submit a request (and record it in the repository), fetch a task,
//! and poll it until it ends — the "polling" delivery mode.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{ApiError, Client, RequestError, Task, TaskRequest, TaskStatus, TaskType};
use crate::repository::{Repository, RepositoryError};

/// Submits tasks and keeps the repository's record of them.
///
/// ```no_run
#[doc = include_str!("../../examples/task_service.rs")]
/// ```
#[derive(Debug, Clone)]
pub struct TaskService {
    client: Client,
    repository: Repository,
}

/// A task the API accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub task_id: String,
    pub species: String,
    pub task_type: TaskType,
    /// Hex SHA-256 of the canonical request (see [`TaskRequest::spec_hash`]).
    pub spec_hash: String,
    /// Under API v2, the task as the create call answered it (a `print/analyze` may be
    /// SUCCEEDED already: nothing to wait for); `None` under v1.
    pub created: Option<Task>,
    /// When the first read is worth making (v2's `Retry-After`); [`TaskService::poll`]
    /// waits it before its first read.
    pub first_read_after: Option<Duration>,
}

/// How to poll. Default: every 5 s, for at most 300 s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollOptions {
    pub interval: Duration,
    pub timeout: Duration,
}

impl Default for PollOptions {
    fn default() -> Self {
        PollOptions {
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    #[error(
        "{task_type} task '{task_id}' was created, but the repository could not record it: {source}; \
         the task exists: use its id instead of submitting again"
    )]
    Unrecorded {
        task_id: String,
        task_type: TaskType,
        source: RepositoryError,
    },
    #[error(
        "{task_type} task '{task_id}' was still {last_status} after {waited_secs} s of polling; \
         raise the poll timeout or check the task in the Meshy dashboard"
    )]
    PollTimeout {
        task_id: String,
        task_type: TaskType,
        last_status: TaskStatus,
        waited_secs: u64,
    },
}

impl TaskService {
    pub fn new(client: Client, repository: Repository) -> TaskService {
        TaskService { client, repository }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn repository(&self) -> &Repository {
        &self.repository
    }

    /// Validates and submits `request` for `species`, and records the task.
    pub async fn submit(
        &self,
        species: &str,
        request: &TaskRequest,
    ) -> Result<Submission, ServiceError> {
        self.submit_with_callback(species, request, None).await
    }

    /// Like [`TaskService::submit`], adding `callback_url` to the body: a per-task
    /// webhook URL, which the bundled simulator honours (the real API has no such
    /// field and delivers to the dashboard URL). The callback URL is not part of the
    /// spec hash or the recorded request.
    pub async fn submit_with_callback(
        &self,
        species: &str,
        request: &TaskRequest,
        callback_url: Option<&str>,
    ) -> Result<Submission, ServiceError> {
        self.submit_tagged(species, request, callback_url, None)
            .await
    }

    /// Like [`TaskService::submit_with_callback`], tagging the task with an
    /// `X-Meshy-Metadata` header ([`Client::create_tagged`]).
    pub async fn submit_tagged(
        &self,
        species: &str,
        request: &TaskRequest,
        callback_url: Option<&str>,
        metadata: Option<&str>,
    ) -> Result<Submission, ServiceError> {
        // Both checks come first: nothing is sent (or spent) for a request that
        // cannot be recorded or that Meshy would refuse.
        self.repository.species_dir(species)?;
        request.validate()?;
        let task_type = request.task_type();
        let recorded = request.body(self.client.generation())?;
        let mut body = recorded.clone();
        if let (Some(url), Some(fields)) = (callback_url, body.as_object_mut()) {
            fields.insert("callback_url".into(), Value::from(url));
        }
        let created = self
            .client
            .create_tagged(task_type, &body, metadata)
            .await?;
        let task_id = created.id;
        let spec_hash = request.spec_hash();
        // The task exists (and is paid for) from here on: an error must carry its id.
        self.repository
            .record_submission(
                species,
                &spec_hash,
                task_type,
                &recorded,
                &task_id,
                request.input_task_ids(),
            )
            .map_err(|source| ServiceError::Unrecorded {
                task_id: task_id.clone(),
                task_type,
                source,
            })?;
        Ok(Submission {
            task_id,
            species: species.to_owned(),
            task_type,
            spec_hash,
            created: created.task,
            first_read_after: created.first_read_after,
        })
    }

    /// The task as the API sees it now.
    pub async fn get(&self, task_type: TaskType, task_id: &str) -> Result<Task, ServiceError> {
        Ok(self.client.get_task(task_type, task_id).await?)
    }

    /// Polls `GET task` until the task is terminal, calling `observe` with every answer.
    /// Waits `interval` between polls, except when answers come from a recording.
    pub async fn poll(
        &self,
        submission: &Submission,
        options: &PollOptions,
        mut observe: impl FnMut(&Task),
    ) -> Result<Task, ServiceError> {
        let started = Instant::now();
        // A v2 `print/analyze` may answer a task that is final already (the doc's one
        // case): nothing to wait for, and nothing more to read. Any other type is read.
        if let Some(task) = submission
            .created
            .as_ref()
            .filter(|t| submission.task_type == TaskType::PrintAnalyze && t.is_terminal())
        {
            observe(task);
            return Ok(task.clone());
        }
        if let Some(wait) = submission.first_read_after {
            tokio::time::sleep(wait.min(options.timeout)).await;
        }
        loop {
            let (task, replayed) = self
                .client
                .get_task_traced(submission.task_type, &submission.task_id)
                .await?;
            observe(&task);
            if task.is_terminal() {
                return Ok(task);
            }
            if started.elapsed() >= options.timeout {
                return Err(ServiceError::PollTimeout {
                    task_id: submission.task_id.clone(),
                    task_type: submission.task_type,
                    last_status: task.status,
                    waited_secs: started.elapsed().as_secs(),
                });
            }
            if !replayed {
                tokio::time::sleep(options.interval).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meshy::ClientConfig;
    use crate::transport::{HttpRequest, HttpResponse, Transport};
    use serde_json::json;
    use std::sync::{Arc, Mutex};

    fn answer(status: u16, body: Value, replayed: bool) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![],
            body: body.to_string().into_bytes(),
            replayed,
        }
    }

    /// A fake API: create answers task "t1"; each GET answers the next status.
    fn fake_api(
        statuses: &[&str],
        replayed: bool,
        sent: Arc<Mutex<Vec<HttpRequest>>>,
    ) -> Arc<dyn Transport> {
        let statuses = Mutex::new(statuses.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        Arc::new(move |request: HttpRequest| {
            sent.lock().unwrap().push(request.clone());
            Ok(if request.method == "POST" {
                answer(202, json!({"result": "t1"}), replayed)
            } else {
                let mut statuses = statuses.lock().unwrap();
                let status = if statuses.len() > 1 {
                    statuses.remove(0)
                } else {
                    statuses[0].clone()
                };
                answer(
                    200,
                    json!({"id": "t1", "status": status, "progress": 10}),
                    replayed,
                )
            })
        })
    }

    fn service(transport: Arc<dyn Transport>, root: &std::path::Path) -> TaskService {
        let config = ClientConfig {
            api_key: Some("msy_test_key_12345678".into()),
            ..ClientConfig::default()
        };
        TaskService::new(
            Client::new(config, transport).unwrap(),
            Repository::new(root),
        )
    }

    fn preview() -> TaskRequest {
        TaskRequest::from_json(TaskType::Text3d, json!({"prompt": "Cute otter character"})).unwrap()
    }

    #[tokio::test]
    async fn submit_posts_the_body_and_records_the_task_under_its_spec_hash() {
        let dir = tempfile::tempdir().unwrap();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let service = service(fake_api(&["PENDING"], false, Arc::clone(&sent)), dir.path());
        let submission = service
            .submit_with_callback(
                "otter",
                &preview(),
                Some("http://127.0.0.1:9/webhook/otter/text3d?token=x"),
            )
            .await
            .unwrap();
        assert_eq!(submission.task_id, "t1");
        assert_eq!(submission.spec_hash, preview().spec_hash());
        let sent = sent.lock().unwrap();
        assert_eq!(sent[0].url, "https://api.meshy.ai/openapi/v2/text-to-3d");
        let body: Value = serde_json::from_slice(&sent[0].body).unwrap();
        // API v2 by default: one untextured call, no `mode`.
        assert_eq!(body.get("mode"), None);
        assert_eq!(body["should_texture"], false);
        assert_eq!(
            body["callback_url"],
            "http://127.0.0.1:9/webhook/otter/text3d?token=x"
        );
        let manifest = service.repository().load("otter").unwrap();
        let spec = &manifest.assets[&submission.spec_hash];
        assert!(
            spec.request.get("callback_url").is_none(),
            "delivery details are not part of the spec"
        );
        assert_eq!(
            spec.request["should_texture"], false,
            "the body sent is recorded"
        );
        assert_eq!(spec.tasks["t1"].status, TaskStatus::Pending);
    }

    #[tokio::test]
    async fn invalid_species_or_request_sends_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let service = service(fake_api(&["PENDING"], false, Arc::clone(&sent)), dir.path());
        let err = service.submit("Otter!", &preview()).await.unwrap_err();
        assert!(
            err.to_string().starts_with("invalid species name 'Otter!'"),
            "{err}"
        );
        let mut bad = preview();
        if let TaskRequest::Text3d(r) = &mut bad {
            r.prompt.clear();
        }
        let err = service.submit("otter", &bad).await.unwrap_err();
        assert!(matches!(err, ServiceError::Request(_)), "{err}");
        assert!(sent.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn poll_reports_every_answer_and_returns_the_terminal_task() {
        let dir = tempfile::tempdir().unwrap();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let statuses = ["PENDING", "IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED"];
        // Replayed answers: the hour-long interval must never be slept.
        let service = service(fake_api(&statuses, true, Arc::clone(&sent)), dir.path());
        let submission = service.submit("otter", &preview()).await.unwrap();
        let options = PollOptions {
            interval: Duration::from_secs(3600),
            timeout: Duration::from_secs(7200),
        };
        let mut seen = Vec::new();
        let task = tokio::time::timeout(
            Duration::from_secs(20),
            service.poll(&submission, &options, |t| seen.push(t.status.to_string())),
        )
        .await
        .expect("replayed polls must not wait")
        .unwrap();
        assert_eq!(task.status, TaskStatus::Succeeded);
        assert_eq!(seen, statuses);
    }

    #[tokio::test]
    async fn a_task_the_create_answered_final_is_not_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&sent);
        let log2 = Arc::clone(&sent);
        let log_urls = |log: &Arc<Mutex<Vec<HttpRequest>>>| -> Vec<String> {
            log.lock().unwrap().iter().map(|r| r.url.clone()).collect()
        };
        let transport: Arc<dyn Transport> = Arc::new(move |request: HttpRequest| {
            log.lock().unwrap().push(request.clone());
            Ok(answer(
                202,
                json!({"id": "a1", "type": "print-analyze", "status": "SUCCEEDED",
                       "input": {"input_task_id": "t0"},
                       "output": {"printability": {"printable": true}}}),
                false,
            ))
        });
        let service = service(transport, dir.path());
        let analyze =
            TaskRequest::from_json(TaskType::PrintAnalyze, json!({"input_task_id": "t0"})).unwrap();
        let submission = service.submit("otter", &analyze).await.unwrap();
        let options = PollOptions {
            interval: Duration::from_secs(3600),
            timeout: Duration::from_secs(7200),
        };
        let mut seen = Vec::new();
        let task = tokio::time::timeout(
            Duration::from_secs(20),
            service.poll(&submission, &options, |t| seen.push(t.status.to_string())),
        )
        .await
        .expect("a final task is not waited on")
        .unwrap();
        assert_eq!(task.status, TaskStatus::Succeeded);
        assert_eq!(seen, ["SUCCEEDED"]);
        assert_eq!(
            log_urls(&sent),
            ["https://api.meshy.ai/openapi/v2/print/analyze"],
            "only the create call"
        );
        // Only `print/analyze` is documented to answer final: any other type is read.
        let remesh =
            TaskRequest::from_json(TaskType::Remesh, json!({"input_task_id": "t0"})).unwrap();
        let submission = service.submit("otter", &remesh).await.unwrap();
        let read = tokio::time::timeout(
            Duration::from_secs(20),
            service.poll(&submission, &options, |_| {}),
        )
        .await
        .expect("a final answer ends the poll")
        .unwrap();
        assert_eq!(read.status, TaskStatus::Succeeded);
        assert_eq!(
            log_urls(&log2),
            [
                "https://api.meshy.ai/openapi/v2/print/analyze",
                "https://api.meshy.ai/openapi/v2/remesh",
                "https://api.meshy.ai/openapi/v2/tasks/a1"
            ]
        );
    }

    #[tokio::test]
    async fn poll_timeout_names_task_and_last_status() {
        let dir = tempfile::tempdir().unwrap();
        let service = service(
            fake_api(&["IN_PROGRESS"], false, Arc::default()),
            dir.path(),
        );
        let submission = service.submit("otter", &preview()).await.unwrap();
        let options = PollOptions {
            interval: Duration::from_millis(1),
            timeout: Duration::ZERO,
        };
        let err = service
            .poll(&submission, &options, |_| {})
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "text3d task 't1' was still IN_PROGRESS after 0 s of polling; raise the poll timeout or \
             check the task in the Meshy dashboard"
        );
    }
}
