//! `CassetteTransport`: record a call once into a VCR.py cassette, replay it after.
//!
//! `MESHY_API_KEY=msy_… cargo run --example cassette_transport`: the first run asks
//! Meshy and writes `balance.yaml` (without the key); every later run replays it offline.

use std::sync::Arc;

use mesh_toolkit::cassette::{CassetteOptions, CassetteTransport, MatchRules, RecordMode, Scrub};
use mesh_toolkit::meshy::{Client, ClientConfig};
use mesh_toolkit::transport::{LiveConfig, LiveTransport};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = ClientConfig::from_env()?; // MESHY_API_KEY; MESHY_BASE_URL, MESHY_API_GENERATION optional
    let key = config.api_key.clone().unwrap_or_default();
    let live = Arc::new(LiveTransport::new(LiveConfig::default())?);
    let options = CassetteOptions {
        mode: RecordMode::Once, // record what is missing, replay the rest
        rules: MatchRules::with_json_body(),
        scrub: Scrub::default().secret(key, "<MESHY_API_KEY>"),
        ..CassetteOptions::new("balance.yaml")
    };
    let cassette = Arc::new(CassetteTransport::open(options, Some(live))?);
    let client = Client::new(config, cassette.clone())?;
    println!("balance: {} credits", client.balance().await?);
    cassette.finish(true)?; // `false` would mark the recording incomplete
    Ok(())
}
