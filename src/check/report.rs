//! The check's result: its rows (file, API version, age), findings (problems and notes,
//! each with its fix) and drift, and the text `cassettes check` prints. The age syntax of
//! `--max-age` is here too, since the report prints ages the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

/// What to check.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Default: `cassettes`.
    pub cassettes: PathBuf,
    /// Default: `scenarios`.
    pub scenarios: PathBuf,
    /// Recordings older than this are problems. Default: none.
    pub max_age: Option<Duration>,
    /// Recordings made with Meshy API v1 are problems, not notes (`--fail-on-v1`).
    /// Default: notes, so CI does not turn red by the calendar alone.
    pub v1_is_problem: bool,
    /// The day the v1 sunset is counted from (`YYYY-MM-DD`). Default: today.
    pub today: Option<String>,
    /// How the suite is run, for the fix commands. Default: this repository's.
    pub invocation: crate::command::Invocation,
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub file: PathBuf,
    pub api_version: String,
    /// Seconds since it was recorded, when known.
    pub age_secs: Option<u64>,
}

/// Something to look at. `problem`s make the check fail; notes do not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: PathBuf,
    pub what: String,
    /// The command (or step) that fixes it.
    pub fix: String,
    pub problem: bool,
}

/// The check's result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub rows: Vec<Row>,
    pub findings: Vec<Finding>,
    /// Unmodelled fields: (task type, API version) → field names.
    pub drift: BTreeMap<(String, String), BTreeSet<String>>,
}

impl Report {
    /// Adds `other`'s rows, findings and drift after this one's.
    pub(super) fn merge(&mut self, other: Report) {
        self.rows.extend(other.rows);
        self.findings.extend(other.findings);
        for (key, fields) in other.drift {
            self.drift.entry(key).or_default().extend(fields);
        }
    }

    pub fn problems(&self) -> usize {
        self.findings.iter().filter(|f| f.problem).count()
    }

    /// The report as printed.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let width = self
            .rows
            .iter()
            .map(|r| r.file.display().to_string().len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(out, "{:width$}  {:12}  age", "file", "api version");
        for row in &self.rows {
            let age = row.age_secs.map_or("unknown".to_owned(), age_text);
            let _ = writeln!(
                out,
                "{:width$}  {:12}  {age}",
                row.file.display().to_string(),
                row.api_version
            );
        }
        for ((task_type, version), fields) in &self.drift {
            let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
            let _ = writeln!(
                out,
                "drift: {task_type} tasks of {version} carry fields the SDK does not model: {}",
                fields.join(", ")
            );
        }
        for finding in &self.findings {
            let kind = if finding.problem { "problem" } else { "note" };
            let _ = writeln!(
                out,
                "{kind}: {}: {}\n  fix: {}",
                finding.file.display(),
                finding.what,
                finding.fix
            );
        }
        let count =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let notes = self.findings.len() - self.problems();
        let _ = writeln!(
            out,
            "{} checked: {}, {}",
            count(self.rows.len(), "recording", "recordings"),
            count(self.problems(), "problem", "problems"),
            count(notes, "note", "notes")
        );
        out
    }
}

/// `90d`, `12h`, `30m`, `45s` or plain seconds.
pub fn parse_age(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let n: u64 = number.parse().ok()?;
    let secs = match unit {
        'd' => n.checked_mul(86_400)?,
        'h' => n.checked_mul(3600)?,
        'm' => n.checked_mul(60)?,
        's' => n,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

pub(super) fn age_text(secs: u64) -> String {
    match secs {
        s if s >= 86_400 => format!("{}d", s / 86_400),
        s if s >= 3600 => format!("{}h", s / 3600),
        s => format!("{}m", s / 60),
    }
}
