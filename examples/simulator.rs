//! `Simulator`: a local Meshy on 127.0.0.1 for tests and rehearsals, started in-process.
//!
//! `cargo run --example simulator`; `mesh-toolkit sim` is the same as a command.

use std::sync::Arc;
use std::time::Duration;

use mesh_toolkit::meshy::{Client, ClientConfig, TaskType};
use mesh_toolkit::sim::{SimConfig, Simulator};
use mesh_toolkit::transport::{LiveConfig, LiveTransport};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = SimConfig {
        task_time: Duration::ZERO, // PENDING to SUCCEEDED at once; default 2 s
        ..SimConfig::unlimited()
    };
    let sim = Simulator::start(config).await?;
    let config = ClientConfig {
        base_url: sim.base_url().into(), // what MESHY_BASE_URL would say
        api_key: Some("msy_any_key_works".into()),
        ..ClientConfig::default()
    };
    let client = Client::new(config, Arc::new(LiveTransport::new(LiveConfig::default())?))?;
    // API v2 (the default): text-to-3d is one call; this one untextured.
    let body = serde_json::json!({"prompt": "otter", "should_texture": false});
    let task_id = client.create_task(TaskType::Text3d, &body).await?;
    sim.settle().await; // every task ended, every webhook delivered
    let task = client.get_task(TaskType::Text3d, &task_id).await?;
    println!("{task_id}: {}", task.status); // SUCCEEDED
    sim.shutdown().await;
    Ok(())
}
