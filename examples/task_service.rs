//! `TaskService`: submit a task, poll it to its end, let the `WebhookHandler` fetch the GLB.
//!
//! `MESHY_API_KEY=msy_… cargo run --example task_service` (20 credits), or free against
//! `mesh-toolkit sim --port 0` with `MESHY_BASE_URL` set to the URL it prints.

use mesh_toolkit::meshy::{Client, PollOptions, Task, TaskRequest, TaskService, TaskType};
use mesh_toolkit::repository::{Repository, UpdateSource};
use mesh_toolkit::webhooks::WebhookHandler;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?; // MESHY_API_KEY; MESHY_BASE_URL optional
    let repository = Repository::new("assets");
    let service = TaskService::new(client.clone(), repository.clone());
    let prompt = serde_json::json!({"prompt": "Cute otter character, sculpture style"});
    let request = TaskRequest::from_json(TaskType::Text3d, prompt)?;
    let submission = service.submit("otter", &request).await?; // POST, kept in the repository
    let progress = |t: &Task| eprintln!("{} {:?}", t.status, t.progress);
    let options = PollOptions::default(); // every 5 s, at most 300 s
    let task = service.poll(&submission, &options, progress).await?;
    // The same handler takes webhook deliveries; on SUCCEEDED it downloads the GLB.
    let handler = WebhookHandler::new(repository, client);
    let handled = handler.handle(&task, UpdateSource::Poll).await?;
    let downloaded = handled.downloaded.map(|artifact| artifact.path);
    println!("{} -> {downloaded:?}", handled.record.status);
    Ok(())
}
