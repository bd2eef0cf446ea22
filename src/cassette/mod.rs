//! HTTP cassettes: VCR.py-compatible record and replay behind the [`Transport`] seam.
//!
//! A [`CassetteTransport`] wraps the live transport. Depending on its
//! [`RecordMode`] it answers requests from the cassette file, sends them live and
//! records them, or both; the SDK cannot tell the difference. Cassettes are VCR.py
//! format version 1 ([`Cassette`]): Python users can read ours, and ours replays theirs.
//!
//! ```no_run
#![doc = include_str!("../../examples/cassette_transport.rs")]
//! ```
//!
//! [`Transport`]: crate::transport::Transport

mod binary_blocks;
pub(crate) use binary_blocks::scanned;
mod created;
mod diff;
mod format;
#[cfg(test)]
mod fuzz;
mod matching;
mod scrub;
mod transport;
mod yaml;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

pub use crate::secrets::is_secret_name;
pub use created::{
    create_credits, created_task, created_tasks, generation_of, is_create_for, recorded_task_id,
};
pub use format::{
    Body, Cassette, FormatError, Intent, Interaction, RecordedAgainst, RecordedRequest,
    RecordedResponse, recorded_against_in,
};
pub use matching::{MatchRules, Matcher};
pub use scrub::Scrub;
#[cfg(test)]
pub(crate) use transport::reads;
pub use transport::{CassetteFile, CassetteOptions, CassetteTransport, Finished};

/// When to replay and when to record, with the meaning VCR.py and pytest-recording
/// give these names, for one cassette ([`CassetteTransport`]). The scenario harness
/// applies the same meanings a trial at a time; its policy is `suite::resume::decide`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RecordMode {
    /// Replay only; any request not in the cassette is an error. The default.
    #[default]
    None,
    /// Record if the cassette does not exist (or was left incomplete), else as `none`.
    Once,
    /// Replay what matches, record the rest and append it.
    #[value(name = "new_episodes", alias = "new-episodes")]
    NewEpisodes,
    /// Send everything live and record it; old interactions not re-recorded are kept.
    All,
    /// Delete the cassette, then record afresh.
    Rewrite,
}

impl RecordMode {
    pub const NAMES: [&'static str; 5] = ["none", "once", "new_episodes", "all", "rewrite"];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordMode::None => "none",
            RecordMode::Once => "once",
            RecordMode::NewEpisodes => "new_episodes",
            RecordMode::All => "all",
            RecordMode::Rewrite => "rewrite",
        }
    }
}

impl fmt::Display for RecordMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RecordMode {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        <RecordMode as clap::ValueEnum>::value_variants()
            .iter()
            .copied()
            .find(|m| m.as_str() == name)
            .ok_or_else(|| {
                format!(
                    "unknown record mode '{name}'; expected one of: {}",
                    RecordMode::NAMES.join(", ")
                )
            })
    }
}

/// What went wrong with a cassette. Each message names the file and, where a
/// re-record fixes it, the command to run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CassetteError {
    #[error("error reading cassette '{}': {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cassette '{}' is corrupt at line {line}, column {column}: {message}; fix it, or re-record it with `{command}`",
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
        command: String,
    },
    #[error("error writing cassette '{}': {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{request} was answered ({answer}) but the cassette could not be written: {source}; keep this answer: \
         if it names a task, that task exists and was paid for"
    )]
    JournalWrite {
        request: String,
        answer: String,
        source: Box<CassetteError>,
    },
    /// A create call other than the one whose lost answer the task list settled was
    /// about to be sent: the adopted task waits for its own request first.
    #[error(
        "cassette '{}': {request} was not sent: the task list showed that an earlier create call whose \
         answer was lost made a task, and that call must be made again first (it is answered from the list, \
         not sent); nothing was paid for this one",
        path.display()
    )]
    AdoptedNotAsked { path: PathBuf, request: String },
    /// A create call was about to be sent while an earlier one's lost answer is not
    /// settled yet: it may have made a task.
    #[error(
        "cassette '{}': {request} was not sent: an earlier create call of this trial lost its answer and may \
         have made a task, which the task list must settle first (a scenario trial does; a trial written in Rust \
         fails, and its rerun settles it before anything is sent); nothing was paid for this one",
        path.display()
    )]
    Unsettled { path: PathBuf, request: String },
    #[error("no cassette '{}' to replay {request} from (record mode {mode}); record it with `{command}`", path.display())]
    NoCassette {
        path: PathBuf,
        request: String,
        mode: RecordMode,
        command: String,
    },
    /// A request the cassette has no recording of; the message lists the closest ones.
    #[error("{0}")]
    Miss(Box<Miss>),
    #[error(
        "cassette '{}' recorded {request} {matching} time(s), and every recording was already played back; \
         the code now makes that request more often than when it was recorded. Re-record with `{command}`",
        path.display()
    )]
    Exhausted {
        path: PathBuf,
        request: String,
        matching: usize,
        command: String,
    },
}

/// The details of a replay miss.
#[derive(Debug)]
pub struct Miss {
    pub path: PathBuf,
    /// `METHOD URI` as it would be recorded.
    pub request: String,
    pub body_excerpt: Option<String>,
    /// The closest recordings, closest first.
    pub closest: Vec<Closest>,
    pub mode: RecordMode,
    pub incomplete: bool,
    pub command: String,
}

/// A recorded request close to the one that missed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closest {
    /// `METHOD URI` as recorded.
    pub request: String,
    /// The matchers under which it differs (none: it matches but was played back).
    pub differs: Vec<Matcher>,
    /// The differing query parameters and body fields, one line each, `recorded →
    /// this request`, values scrubbed and cut; credentials never shown.
    pub fields: Vec<String>,
}

impl fmt::Display for Miss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cassette '{}' has no recording of {}",
            self.path.display(),
            self.request
        )?;
        if let Some(body) = &self.body_excerpt {
            write!(f, "\n  body: {body}")?;
        }
        if self.incomplete {
            write!(
                f,
                "\n  (the cassette is marked incomplete: the run that recorded it failed)"
            )?;
        }
        if self.closest.is_empty() {
            write!(f, "\nthe cassette holds no interactions")?;
        } else {
            write!(f, "\nclosest recorded requests (recorded → this request):")?;
            for closest in &self.closest {
                let names: Vec<&str> = closest.differs.iter().map(|m| m.name()).collect();
                let differs = if names.is_empty() {
                    "already played back".to_owned()
                } else {
                    format!("differs in {}", names.join(", "))
                };
                write!(f, "\n  {} ({differs})", closest.request)?;
                for line in &closest.fields {
                    write!(f, "\n    {line}")?;
                }
            }
        }
        write!(
            f,
            "\nrecord mode is {}; to re-record run `{}`",
            self.mode, self.command
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_modes_parse_by_their_vcrpy_names() {
        for name in RecordMode::NAMES {
            assert_eq!(name.parse::<RecordMode>().unwrap().as_str(), name);
        }
        assert_eq!(
            "sometimes".parse::<RecordMode>().unwrap_err(),
            "unknown record mode 'sometimes'; expected one of: none, once, new_episodes, all, rewrite"
        );
    }
}
