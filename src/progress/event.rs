//! What a recording trial reports while it waits for its task, as data: one
//! [`Event`] per change, rendered by a [`Console`](super::Console) either as a live
//! line or as the plain lines of a log. The plain rendering lives here, next to the
//! data, so the two views cannot drift apart.

use std::time::Duration;

use crate::meshy::TaskStatus;
use crate::receiver::Progress;

/// One task wait, as last seen: what a live line shows and a plain line prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskProgress {
    pub scenario: String,
    pub task_id: String,
    /// The status of the latest delivery; `None` before the first one.
    pub status: Option<TaskStatus>,
    /// The latest delivery's `progress` (0 to 100), if it had one.
    pub percent: Option<u64>,
    /// Webhook deliveries received for the task so far.
    pub deliveries: usize,
    /// Since the wait began.
    pub elapsed: Duration,
}

impl TaskProgress {
    /// The wait of `scenario` for `task_id`, as the receiver's `progress` shows it.
    pub fn new(scenario: &str, task_id: &str, progress: &Progress, elapsed: Duration) -> Self {
        TaskProgress {
            scenario: scenario.to_owned(),
            task_id: task_id.to_owned(),
            status: progress.status.clone(),
            percent: progress.progress,
            deliveries: progress.deliveries,
            elapsed,
        }
    }

    /// `otter_text3d 019a97e6…`: the scenario and the task id's first 8 characters.
    pub fn label(&self) -> String {
        format!("{} {}…", self.scenario, short_id(&self.task_id))
    }

    /// `IN_PROGRESS 66%`, `PENDING`, or `waiting for the first webhook`.
    pub fn state(&self) -> String {
        match (&self.status, self.percent) {
            (None, _) => "waiting for the first webhook".to_owned(),
            (Some(status), Some(p)) if *status != TaskStatus::Pending => format!("{status} {p}%"),
            (Some(status), _) => status.to_string(),
        }
    }

    /// `1 delivery`, `3 deliveries`.
    pub fn deliveries_text(&self) -> String {
        match self.deliveries {
            1 => "1 delivery".to_owned(),
            n => format!("{n} deliveries"),
        }
    }

    /// The plain progress line: `otter_text3d 019a97e6… IN_PROGRESS 66% 1m30s`.
    pub fn line(&self) -> String {
        format!(
            "{} {} {}",
            self.label(),
            self.state(),
            elapsed_text(self.elapsed)
        )
    }
}

/// How a wait ended (the live line's last words).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ending {
    /// The terminal webhook is on disk.
    Webhook,
    /// Completed from the API's task object (`--accept-api-payload`).
    FromApi,
    /// The wait failed; the trial reports why (`timed out`, `interrupted`, …).
    Failed(String),
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Webhook => f.write_str("terminal webhook recorded"),
            Ending::FromApi => f.write_str("completed from the API's task object"),
            Ending::Failed(why) => write!(f, "{why}"),
        }
    }
}

/// What a recording trial reports while it waits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The wait began (a live line appears).
    Started(TaskProgress),
    /// A new delivery arrived, or the wait was silent for a while (a plain line).
    Update(TaskProgress),
    /// Free text about the run (printed as it is, above any live lines).
    Note(String),
    /// The wait ended (the live line goes, its final state stays as a line).
    Ended(TaskProgress, Ending),
}

impl Event {
    /// The line this event prints in a log (stderr not a terminal, or `CI`), exactly
    /// as the recorder printed before live lines existed; `None` for what only a live
    /// line shows (a wait starting or ending).
    pub fn plain(&self) -> Option<String> {
        match self {
            Event::Update(progress) => Some(progress.line()),
            Event::Note(text) => Some(text.clone()),
            Event::Started(_) | Event::Ended(..) => None,
        }
    }
}

/// The first 8 characters of a task id.
pub fn short_id(task_id: &str) -> String {
    task_id.chars().take(8).collect()
}

/// `45s`, `1m30s`.
pub fn elapsed_text(elapsed: Duration) -> String {
    let secs = elapsed.as_secs();
    if secs < 60 {
        format!("{secs}s")
    } else {
        format!("{}m{:02}s", secs / 60, secs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiting(progress: &Progress, secs: u64) -> TaskProgress {
        TaskProgress::new(
            "otter_text3d",
            "019a97e6-58dc-7430",
            progress,
            Duration::from_secs(secs),
        )
    }

    #[test]
    fn plain_lines_read_like_the_spec() {
        let progress = Progress {
            deliveries: 3,
            status: Some(TaskStatus::InProgress),
            progress: Some(66),
            ..Progress::default()
        };
        assert_eq!(
            Event::Update(waiting(&progress, 90)).plain().as_deref(),
            Some("otter_text3d 019a97e6… IN_PROGRESS 66% 1m30s")
        );
        assert_eq!(
            Event::Update(waiting(&Progress::default(), 30))
                .plain()
                .as_deref(),
            Some("otter_text3d 019a97e6… waiting for the first webhook 30s")
        );
        let pending = Progress {
            deliveries: 1,
            status: Some(TaskStatus::Pending),
            progress: Some(0),
            ..Progress::default()
        };
        assert_eq!(
            waiting(&pending, 0).line(),
            "otter_text3d 019a97e6… PENDING 0s"
        );
    }

    #[test]
    fn only_updates_and_notes_print_a_plain_line() {
        let progress = waiting(&Progress::default(), 1);
        assert_eq!(Event::Started(progress.clone()).plain(), None);
        assert_eq!(Event::Ended(progress, Ending::Webhook).plain(), None);
        assert_eq!(
            Event::Note("a note".into()).plain().as_deref(),
            Some("a note")
        );
    }
}
