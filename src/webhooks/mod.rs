//! Webhook payloads: what the pipeline does with them ([`WebhookHandler`]), how they
//! are recorded ([`Recording`]), and re-delivering a recording ([`redeliver`]).

mod handler;
mod recording;
mod redeliver;

pub use handler::{Handled, HandlerError, WebhookHandler};
pub use recording::{
    Delivery, Recording, RecordingError, recording_done, recording_path, status_of,
};
pub use redeliver::{Redelivered, redeliver};
