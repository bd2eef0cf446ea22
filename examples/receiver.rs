//! `Receiver`: take Meshy's webhook deliveries on 127.0.0.1 until Ctrl-C.
//!
//! `cargo run --example receiver`; make it public with a tunnel (see docs/tunnels.md)
//! and paste the URL into the Meshy dashboard. `mesh-toolkit receive` is this, with flags.

use mesh_toolkit::receiver::{Receiver, ReceiverConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut config = ReceiverConfig::new("cassettes/webhooks");
    config.store.record_all = true; // write every authentic delivery, not only claimed ones
    let receiver = Receiver::start(config).await?; // token: MESHY_WEBHOOK_TOKEN, else random
    let url = receiver.webhook_url(receiver.local_url());
    println!("webhook URL: {url}");
    tokio::signal::ctrl_c().await?;
    println!("{:?}", receiver.stats());
    receiver.shutdown().await; // finishes the writes in flight
    Ok(())
}
