//! `Recorder`: wait for a task's terminal webhook and record it, here with the simulator
//! standing in for Meshy (no key, no tunnel, no credits): `cargo run --example recorder`.

use std::sync::Arc;
use std::time::Duration;

use mesh_toolkit::meshy::{Client, ClientConfig, TaskRequest, TaskService, TaskType};
use mesh_toolkit::receiver::{Receiver, ReceiverConfig};
use mesh_toolkit::recorder::Recorder;
use mesh_toolkit::repository::Repository;
use mesh_toolkit::sim::{SimConfig, Simulator};
use mesh_toolkit::transport::{LiveConfig, LiveTransport};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let sim = Simulator::start(SimConfig::default()).await?;
    let receiver = Arc::new(Receiver::start(ReceiverConfig::new(dir.path())).await?);
    let recorder = Recorder::recording(receiver.clone(), receiver.local_url(), dir.path());

    let config = ClientConfig {
        base_url: sim.base_url().into(),
        api_key: Some("msy_example".into()),
        ..ClientConfig::default()
    };
    let client = Client::new(config, Arc::new(LiveTransport::new(LiveConfig::default())?))?;
    let service = TaskService::new(client, Repository::new(dir.path().join("assets")));
    let request = TaskRequest::from_json(TaskType::Text3d, serde_json::json!({"prompt": "otter"}))?;
    let callback = recorder.callback_url("otter", "text3d"); // where this task's updates go
    let task = service
        .submit_with_callback("otter", &request, Some(&callback))
        .await?;

    let timeout = Duration::from_secs(60); // counted from the task's creation
    let payload = recorder
        .payload("example", "otter", "text3d", &task.task_id, timeout)
        .await?;
    println!("{} ended {}", task.task_id, payload["status"]);
    recorder.complete_claimed()?; // the recording was `incomplete` until now
    sim.shutdown().await;
    Ok(())
}
