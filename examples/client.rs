//! `Client`: the Meshy API, one call per endpoint, typed errors, retries where safe.
//!
//! `MESHY_API_KEY=msy_… cargo run --example client -- <text-to-3d task id>`

use mesh_toolkit::meshy::{Client, TaskType};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?; // MESHY_API_KEY; MESHY_BASE_URL optional
    println!("balance: {} credits", client.balance().await?);
    if let Some(task_id) = std::env::args().nth(1) {
        let task = client.get_task(TaskType::Text3d, &task_id).await?;
        println!("{task_id}: {} {:?}", task.status, task.progress);
    }
    Ok(())
}
