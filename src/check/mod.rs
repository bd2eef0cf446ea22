//! `mesh-toolkit cassettes check`: what the recordings on disk say about themselves,
//! for CI and humans. Per cassette and webhook recording: the API version it was
//! recorded against (`X-Api-Version`) and its age (`recorded_at`, else the first
//! response's `date` header, else the first delivery's time); drift (fields in
//! recorded task objects the SDK does not model, per task type and version, and task
//! objects the SDK cannot read); hygiene (incomplete or pending journals, recordings no
//! scenario owns, scenarios without recordings, anything that looks like a secret the
//! scrubber should have removed). Every problem comes with the command that fixes it.
//! A maximum age (`--max-age 90d`, `MESHY_CASSETTE_MAX_AGE`) is off by default, so CI
//! does not turn red by the calendar alone.
//!
//! The report and its text are in `report`; the [`Checker`] that builds it, file by file,
//! in `checker`; what one cassette and one webhook recording say about themselves in
//! `cassettes` and `recordings`; the task objects and their drift in `drift`; the secret
//! scan and the scrub command in `leaks`; what the v1 sunset means for a recording in
//! `sunset`; what a real v2 recording says of the simulator's guesses in `guesses`.

mod cassettes;
mod checker;
mod drift;
mod guesses;
mod leaks;
mod recordings;
mod report;
mod sunset;

pub use cassettes::{CassetteChecked, QuietCassette};
pub use checker::{Checker, check};
pub use leaks::scanned_text;
pub use recordings::{QuietRecording, RecordingChecked};
pub use report::{CheckOptions, Finding, Report, Row, parse_age};

pub(crate) use checker::{list, set_aside};
pub(crate) use drift::task_objects;
pub(crate) use recordings::{is_unrouted, task_of_recording};
