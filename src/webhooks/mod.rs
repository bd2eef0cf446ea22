//! Webhook payloads and what the pipeline does with them ([`WebhookHandler`]).

mod handler;

pub use handler::{Handled, HandlerError, WebhookHandler};
