//! Webhook payloads: what the pipeline does with them ([`WebhookHandler`]), how they
//! are recorded ([`Recording`]), secret values found and mended in recordings
//! ([`scrub_recordings`]), and re-delivering a recording ([`redeliver`]).

mod handler;
mod leaks;
mod recording;
mod redeliver;

pub use handler::{Handled, HandlerError, WebhookHandler};
pub use leaks::{ScrubError, Scrubbed, recording_files, scrub_recordings, text_may_leak};
pub use recording::{
    Delivery, Recording, RecordingError, RecordingFile, RecordingReads, recording_done,
    recording_path, status_of,
};
pub use redeliver::{Redelivered, SecretTransportError, redeliver, secret_may_go_to};
