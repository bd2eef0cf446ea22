//! # mesh-toolkit
//!
//! A Rust SDK for the [Meshy](https://www.meshy.ai) 3D-generation API, and the
//! building blocks of a test harness that records real Meshy traffic once — the HTTP
//! calls and the webhooks Meshy sends back — and replays it offline.
//!
//! # Usage
//!
//! ```no_run
#![doc = include_str!("../examples/task_service.rs")]
//! ```
//!
//! The entry types are re-exported at the crate root (`mesh_toolkit::Client`,
//! `CassetteTransport`, `Receiver`, `Recorder`, `Simulator`, `Suite`, …), and each one's
//! page opens with a short example. The examples are the files in `examples/`: cargo
//! builds them in `cargo test` and `cargo clippy --all-targets`, so they compile (doctests
//! stay off, since `cargo test -- --record-webhooks` would hand them the harness's flags).
//! The user's manual is in `docs/`, starting from README.md.
//!
//! # Modules
//!
//! - [`meshy`]: client, request and task models, task services.
//! - [`transport`]: the one seam every HTTP call goes through (live or recorded).
//! - [`repository`]: per-species manifests of assets, tasks and artifacts.
//! - [`webhooks`]: the handler that applies task updates, webhook recordings, re-delivery.
//! - [`cassette`]: VCR.py-compatible HTTP record and replay behind the transport seam.
//! - [`receiver`] and [`recorder`]: taking Meshy's webhook deliveries and handing trials
//!   their terminal payloads, recorded or replayed.
//! - [`progress`]: live progress lines while recording, or plain ones in a log.
//! - [`tunnel`]: making the receiver public (ngrok, cloudflared, bore, a URL you bring).
//! - [`sim`]: the Meshy simulator.
//! - [`suite`]: the scenario suite the `scenarios` test target runs.
//! - [`command`]: the commands printed for the user to run next, right for their crate.
//! - [`check`]: `mesh-toolkit cassettes check`, API versions, age, drift and hygiene of recordings.
//! - [`migrate`]: `mesh-toolkit cassettes migrate`, a suite's move from Meshy API v1 to v2.
//! - [`cli`]: argument parsing of the `mesh-toolkit` binary.
//! - [`log_sink`]: where the receiver's and the simulator's operational lines go.
//! - [`scenario`]: scenario files (`scenarios/<name>.toml`): what to send, what to expect.
//! - [`secrets`]: which names carry credentials, their placeholders, Meshy's webhook secret.
//! - [`workdir`]: where the toolkit keeps its own files (`<target dir>/mesh-toolkit`).

mod atomic_file;
mod backoff;
pub mod cassette;
pub mod check;
pub mod cli;
mod clock;
pub mod command;
mod digest;
#[cfg(test)]
mod layers;
pub mod log_sink;
pub mod meshy;
pub mod migrate;
mod parallel;
mod pid;
pub mod progress;
mod random;
pub mod receiver;
pub mod recorder;
pub mod report;
pub mod repository;
pub mod scenario;
pub mod secrets;
pub mod sim;
pub mod suite;
mod sync;
#[cfg(test)]
mod test_support;
pub mod transport;
pub mod tunnel;
pub mod webhooks;
pub mod workdir;

pub use clock::{now_rfc3339, rfc3339};
pub use digest::sha256_hex;

// The entry points in one place; each module holds the rest of its surface.
pub use cassette::{CassetteOptions, CassetteTransport, RecordMode};
pub use meshy::{
    ApiError, Client, ClientConfig, Task, TaskRequest, TaskService, TaskStatus, TaskType,
};
pub use receiver::{Receiver, ReceiverConfig};
pub use recorder::{Recorder, RecorderError, WaitPolicy};
pub use repository::Repository;
pub use sim::{SimConfig, Simulator};
pub use suite::Suite;
pub use transport::{LiveTransport, Transport};
pub use webhooks::WebhookHandler;
