//! The webhook handler: what a pipeline does with a task update, whether it came from
//! a webhook delivery or a poll. It records the status transition and result URLs in
//! the repository and, when a task succeeds, downloads its primary result file through
//! the client's transport (so cassettes record and replay the download too).

use std::path::PathBuf;

use crate::clock::now_rfc3339;
use crate::digest::sha256_hex;
use crate::meshy::{ApiError, Client, Task, TaskStatus};
use crate::repository::{
    Applied, Artifact, Repository, RepositoryError, TaskLocation, TaskRecord, UpdateSource,
};

/// Applies task updates to a repository.
///
/// ```no_run
/// # async fn example(client: mesh_toolkit::meshy::Client, body: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
/// use mesh_toolkit::meshy::Task;
/// use mesh_toolkit::repository::{Repository, UpdateSource};
/// use mesh_toolkit::webhooks::WebhookHandler;
/// let handler = WebhookHandler::new(Repository::new("assets"), client);
/// let handled = handler.handle(&Task::from_json(body)?, UpdateSource::Webhook).await?;
/// if let Some(artifact) = &handled.downloaded {
///     println!("saved {} ({} bytes)", artifact.path, artifact.size);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct WebhookHandler {
    repository: Repository,
    client: Client,
}

/// The outcome of one update.
#[derive(Debug, Clone, PartialEq)]
pub struct Handled {
    pub location: TaskLocation,
    pub applied: Applied,
    /// The task's record after the update.
    pub record: TaskRecord,
    /// The artifact downloaded by this call (none on redelivery, or when the task
    /// produced no downloadable file).
    pub downloaded: Option<Artifact>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerError {
    #[error(
        "update for unknown task '{task_id}' (status {status}): it is not in the repository at '{}'; \
         was it submitted through this repository's TaskService?",
        root.display()
    )]
    UnknownTask {
        task_id: String,
        status: TaskStatus,
        root: PathBuf,
    },
    #[error(transparent)]
    Repository(#[from] RepositoryError),
    #[error("downloading the result of task '{task_id}': {source}")]
    Download { task_id: String, source: ApiError },
    #[error("error writing artifact '{}' of task '{task_id}': {source}", path.display())]
    WriteArtifact {
        task_id: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl WebhookHandler {
    pub fn new(repository: Repository, client: Client) -> WebhookHandler {
        WebhookHandler { repository, client }
    }

    pub fn repository(&self) -> &Repository {
        &self.repository
    }

    /// Records `task` as seen from `source`; on SUCCEEDED downloads the primary model
    /// (model GLB, rigged character GLB, animation GLB, or first image) to
    /// `<root>/<species>/<spec_hash>_<task_type>.<ext>`. Idempotent: a redelivered
    /// update changes nothing and downloads nothing again.
    pub async fn handle(&self, task: &Task, source: UpdateSource) -> Result<Handled, HandlerError> {
        let location =
            self.repository
                .find_task(&task.id)?
                .ok_or_else(|| HandlerError::UnknownTask {
                    task_id: task.id.clone(),
                    status: task.status.clone(),
                    root: self.repository.root().to_owned(),
                })?;
        let (applied, mut record) = self.repository.apply_update(&location, task, source)?;
        let mut downloaded = None;
        if applied != Applied::Stale && record.status == TaskStatus::Succeeded {
            downloaded = self.download_if_missing(&location, task, &record).await?;
            if let Some(artifact) = &downloaded {
                record.artifacts.retain(|a| a.path != artifact.path);
                record.artifacts.push(artifact.clone());
            }
        }
        Ok(Handled {
            location,
            applied,
            record,
            downloaded,
        })
    }

    async fn download_if_missing(
        &self,
        location: &TaskLocation,
        task: &Task,
        record: &TaskRecord,
    ) -> Result<Option<Artifact>, HandlerError> {
        let Some(primary) = task.primary_artifact(location.task_type) else {
            return Ok(None);
        };
        let relative = format!(
            "{}/{}_{}.{}",
            location.species, location.spec_hash, location.task_type, primary.extension
        );
        let path = self.repository.root().join(&relative);
        if record.artifacts.iter().any(|a| a.path == relative) && self.repository.has_file(&path) {
            return Ok(None);
        }
        let bytes =
            self.client
                .download(&primary.url)
                .await
                .map_err(|source| HandlerError::Download {
                    task_id: task.id.clone(),
                    source,
                })?;
        self.repository
            .write_file(&path, &bytes)
            .map_err(|source| HandlerError::WriteArtifact {
                task_id: task.id.clone(),
                path: path.clone(),
                source,
            })?;
        let artifact = Artifact {
            path: relative,
            sha256: sha256_hex(&bytes),
            size: bytes.len() as u64,
            source_url: primary.url,
            downloaded_at: now_rfc3339(),
        };
        self.repository
            .record_artifact(location, &task.id, artifact.clone())?;
        Ok(Some(artifact))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meshy::{ClientConfig, TaskRequest, TaskService, TaskType};
    use crate::transport::{HttpRequest, HttpResponse, Transport};
    use serde_json::{Value, json};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const GLB: &[u8] = b"glTF\x02\x00\x00\x00 pretend model bytes";

    struct Fixture {
        _dir: tempfile::TempDir,
        handler: WebhookHandler,
        downloads: Arc<AtomicUsize>,
        task_id: String,
    }

    /// A repository with one submitted text3d task, and a transport that creates task
    /// "t1" and serves GLB for any download.
    async fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let downloads = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&downloads);
        let transport: Arc<dyn Transport> = Arc::new(move |request: HttpRequest| {
            let body = if request.method == "POST" {
                json!({"result": "t1"}).to_string().into_bytes()
            } else {
                counter.fetch_add(1, Ordering::SeqCst);
                GLB.to_vec()
            };
            Ok(HttpResponse {
                status: 200,
                headers: vec![],
                body,
                replayed: false,
            })
        });
        let config = ClientConfig {
            api_key: Some("msy_test_key_12345678".into()),
            ..ClientConfig::default()
        };
        let client = Client::new(config, transport).unwrap();
        let repository = Repository::new(dir.path());
        let service = TaskService::new(client.clone(), repository.clone());
        let request = TaskRequest::from_json(TaskType::Text3d, json!({"prompt": "otter"})).unwrap();
        let submission = service.submit("otter", &request).await.unwrap();
        Fixture {
            _dir: dir,
            handler: WebhookHandler::new(repository, client),
            downloads,
            task_id: submission.task_id,
        }
    }

    fn task(body: Value) -> Task {
        serde_json::from_value(body).unwrap()
    }

    fn succeeded() -> Task {
        task(json!({"id": "t1", "status": "SUCCEEDED", "progress": 100,
                    "model_urls": {"glb": "https://assets.meshy.ai/t1/model.glb?Signature=s", "fbx": "https://assets.meshy.ai/t1/model.fbx"}}))
    }

    #[tokio::test]
    async fn success_downloads_the_glb_with_its_hash_and_records_it() {
        let f = fixture().await;
        let handled = f
            .handler
            .handle(&succeeded(), UpdateSource::Webhook)
            .await
            .unwrap();
        assert_eq!(handled.applied, Applied::StatusChanged);
        let artifact = handled.downloaded.clone().unwrap();
        assert_eq!(
            artifact.path,
            format!("otter/{}_text3d.glb", handled.location.spec_hash)
        );
        let on_disk = std::fs::read(f.handler.repository().root().join(&artifact.path)).unwrap();
        assert_eq!(on_disk, GLB);
        assert_eq!(artifact.sha256, sha256_hex(GLB));
        assert_eq!(artifact.size, GLB.len() as u64);
        assert_eq!(
            artifact.source_url,
            "https://assets.meshy.ai/t1/model.glb?Signature=s"
        );
        let record = f
            .handler
            .repository()
            .task(&handled.location, &f.task_id)
            .unwrap();
        assert_eq!(record.artifacts, vec![artifact]);
        assert_eq!(
            record.result_urls["fbx"],
            "https://assets.meshy.ai/t1/model.fbx"
        );
        let history: Vec<_> = record
            .history
            .iter()
            .map(|t| (t.to.to_string(), t.source))
            .collect();
        assert_eq!(
            history,
            [
                ("PENDING".into(), UpdateSource::Service),
                ("SUCCEEDED".into(), UpdateSource::Webhook)
            ]
        );
    }

    #[tokio::test]
    async fn redelivery_changes_nothing_and_downloads_nothing() {
        let f = fixture().await;
        f.handler
            .handle(&succeeded(), UpdateSource::Webhook)
            .await
            .unwrap();
        let manifest_path = f.handler.repository().manifest_path("otter").unwrap();
        let before = std::fs::read(&manifest_path).unwrap();
        let again = f
            .handler
            .handle(&succeeded(), UpdateSource::Webhook)
            .await
            .unwrap();
        assert_eq!(again.applied, Applied::Unchanged);
        assert_eq!(again.downloaded, None);
        assert_eq!(f.downloads.load(Ordering::SeqCst), 1);
        assert_eq!(std::fs::read(&manifest_path).unwrap(), before);
    }

    #[tokio::test]
    async fn out_of_order_deliveries_never_move_the_task_back() {
        let f = fixture().await;
        f.handler
            .handle(
                &task(json!({"id": "t1", "status": "IN_PROGRESS", "progress": 66})),
                UpdateSource::Webhook,
            )
            .await
            .unwrap();
        f.handler
            .handle(&succeeded(), UpdateSource::Webhook)
            .await
            .unwrap();
        let late = f
            .handler
            .handle(
                &task(json!({"id": "t1", "status": "IN_PROGRESS", "progress": 99})),
                UpdateSource::Webhook,
            )
            .await
            .unwrap();
        assert_eq!(late.applied, Applied::Stale);
        assert_eq!(late.record.status, TaskStatus::Succeeded);
        assert_eq!(late.record.history.len(), 3);
        assert_eq!(f.downloads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn failure_records_the_message_and_downloads_nothing() {
        let f = fixture().await;
        let failed = task(
            json!({"id": "t1", "status": "FAILED", "model_urls": {"glb": ""},
            "task_error": {"type": "server_error", "message": "Internal server error", "code": "timeout"}}),
        );
        let handled = f.handler.handle(&failed, UpdateSource::Poll).await.unwrap();
        assert_eq!(handled.record.status, TaskStatus::Failed);
        assert_eq!(
            handled.record.error.as_deref(),
            Some("Internal server error")
        );
        assert_eq!(handled.downloaded, None);
        assert_eq!(f.downloads.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn update_for_unknown_task_is_a_typed_error() {
        let f = fixture().await;
        let err = f
            .handler
            .handle(
                &task(json!({"id": "stranger", "status": "SUCCEEDED"})),
                UpdateSource::Webhook,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, HandlerError::UnknownTask { ref task_id, .. } if task_id == "stranger")
        );
        assert!(
            err.to_string()
                .starts_with("update for unknown task 'stranger' (status SUCCEEDED)"),
            "{err}"
        );
    }
}
