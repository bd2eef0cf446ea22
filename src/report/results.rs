//! Trial results: what each trial's last run ended with, in one JSON file per results
//! directory, `<target dir>/mesh-toolkit/results/results.json` (by trial name), and
//! read by the report. The harness adds its trials' results when its run ends (and as
//! each trial ends in a run that records, whose trials take minutes), under a lock, so
//! cargo-nextest's one process per trial and `--partition` shards add up. One file, not
//! one per trial: a fresh checkout's first replay of a thousand trials would spend more
//! creating files than replaying.
//!
//! A result holds only what the run knows and the recordings do not: passed, failed
//! or ignored (with the message), how the trial ran (replay, record, resume, dry run)
//! and, for a trial that recorded, how long it took. It names the scenario file (with
//! its sha256) and the cassettes directory it ran against (as given, so a project
//! that moves keeps its results), so the report leaves out
//! results of another suite that shares the target dir and marks a result whose
//! scenario changed since. A run whose trials end as they did last time leaves the file
//! untouched: an unchanged suite rewrites nothing. The per-trial files of earlier
//! versions (`<trial>.json` beside it) are still read, and removed once their trial's
//! result is in the file.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// How a trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    Ignored,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Ignored => "ignored",
        }
    }
}

/// How a trial ran: from its recordings, or sending requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ran {
    /// Answered from its cassette and webhook recording.
    Replay,
    /// Recorded from the start.
    Record,
    /// Went on with an unfinished recording (nothing paid twice).
    Resume,
    /// `--dry-run`: sent with Meshy's test-mode key, nothing written.
    DryRun,
    /// Ended before it sent or replayed anything (an invalid file, a refusal, a failed
    /// input, ignored).
    NotRun,
}

impl Ran {
    pub fn as_str(self) -> &'static str {
        match self {
            Ran::Replay => "replayed",
            Ran::Record => "recorded",
            Ran::Resume => "resumed",
            Ran::DryRun => "dry run",
            Ran::NotRun => "not run",
        }
    }
}

/// One trial's result file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrialResult {
    /// The trial's name: its scenario file's stem, or a Rust trial's name.
    pub trial: String,
    /// `webhook`, `polling`, `rust` or `invalid`.
    pub kind: String,
    pub status: Status,
    /// The failure message, or why it was ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub ran: Ran,
    /// Where a trial that sent requests sent them: `simulator`, `meshy` (the real API),
    /// or `rehearsal <origin>` (another `MESHY_BASE_URL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<crate::cassette::RecordedAgainst>,
    /// The cassettes directory it ran against, as the run was given it (relative to
    /// where it ran, the package root under `cargo test`).
    pub cassettes: PathBuf,
    /// Its scenario file, likewise (`None` for a Rust trial).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_file: Option<PathBuf>,
    /// The sha256 of the scenario file it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_sha256: Option<String>,
    /// The task it made or replayed, when it got that far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// How long a trial that sent requests took; a replay's milliseconds are noise
    /// and would rewrite every file on every run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

/// `<target dir>/mesh-toolkit/results`.
pub fn default_dir() -> PathBuf {
    crate::workdir::dir().join("results")
}

/// Where the results of runs against `cassettes` go under `base`, for the suite run as
/// `invocation` says: for its package's own `cassettes/`, `base` itself, or
/// `base/<package>` in a workspace (its members share the target dir); else
/// `base/<dir name>-<8 hex digits of its absolute path>`, so two suites sharing a target
/// dir keep their results apart. The harness and `mesh-toolkit report` (from any
/// directory) come to the same one.
pub fn dir_for(base: &Path, cassettes: &Path, invocation: &crate::command::Invocation) -> PathBuf {
    let absolute = super::collect::absolute(cassettes);
    let own = match &invocation.package_dir {
        Some(package) => package.join("cassettes"),
        None => super::collect::absolute(Path::new("cassettes")),
    };
    if absolute == own {
        return match &invocation.package {
            Some(package) => base.join(safe_file_name(package)),
            None => base.to_owned(),
        };
    }
    let name = safe_file_name(
        &absolute
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    let digest = crate::digest::sha256_hex(absolute.to_string_lossy().as_bytes());
    base.join(format!("{name}-{}", &digest[..8]))
}

/// `name` as one safe path component (a package name is already one): other
/// characters become `_`.
fn safe_file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The results file in a results directory.
pub const FILE: &str = "results.json";

/// The file an earlier version kept a trial's result in (`<dir>/<trial>.json`). Trial
/// names are file stems already; anything else a Rust trial might be called is kept
/// to a safe file name.
fn legacy_path(dir: &Path, trial: &str) -> PathBuf {
    let safe: String = trial
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '-' | '.' => c,
            _ => '_',
        })
        .collect();
    let safe = safe.trim_start_matches('.');
    dir.join(format!("{safe}.json"))
}

/// Adds `results` to the results file in `dir` (a trial's replaces its last), unless
/// it already says the same: under the directory's lock (other processes of the suite
/// add theirs), atomic, not flushed (results are rebuilt by running again).
pub fn write(dir: &Path, results: &[TrialResult]) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let lock = std::fs::File::options()
        .create(true)
        .write(true)
        .truncate(false)
        .open(dir.join(".results.lock"))?;
    // A file system without working locks (unsupported, or NFS without its lock
    // daemon): written unlocked rather than not at all.
    let _ = lock.lock();
    let path = dir.join(FILE);
    // Each entry as it is: one this version cannot read (another version's) is kept.
    let mut all: BTreeMap<String, serde_json::Value> = match std::fs::read(&path) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(all) => all,
            // Damaged (or not ours): set aside, never overwritten with only this run's.
            Err(_) => {
                let _ = std::fs::rename(&path, dir.join(format!("{FILE}.unreadable")));
                BTreeMap::new()
            }
        },
        Err(_) => BTreeMap::new(),
    };
    let mut changed = !path.is_file();
    for result in results {
        let value = serde_json::to_value(result).map_err(io::Error::other)?;
        changed |= all.insert(result.trial.clone(), value.clone()) != Some(value);
    }
    if changed {
        let mut text = serde_json::to_vec_pretty(&all).map_err(io::Error::other)?;
        text.push(b'\n');
        crate::atomic_file::write_derived(&path, &text)?;
    }
    // What an earlier version left, now superseded: looked for in one listing, not
    // tried trial by trial.
    let legacy: std::collections::BTreeSet<PathBuf> =
        results.iter().map(|r| legacy_path(dir, &r.trial)).collect();
    for entry in std::fs::read_dir(dir)?.filter_map(Result::ok) {
        let found = entry.path();
        if found != path && legacy.contains(&found) {
            let _ = std::fs::remove_file(found);
        }
    }
    Ok(())
}

/// The results in the results file at `path` (none when it is absent or unreadable; an
/// entry this version cannot read is left out).
fn read_file(path: &Path) -> BTreeMap<String, TrialResult> {
    let all: BTreeMap<String, serde_json::Value> = std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    all.into_iter()
        .filter_map(|(name, value)| Some((name, serde_json::from_value(value).ok()?)))
        .collect()
}

/// Every readable result in `dir`, by trial name: its results file's, and an earlier
/// version's per-trial files for trials it does not have. A missing directory is no
/// results; a file that does not parse (another version's, a stray file) is left out.
pub fn read_all(dir: &Path) -> BTreeMap<String, TrialResult> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    let file = dir.join(FILE);
    let mut all: BTreeMap<String, TrialResult> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json") && *p != file)
        .filter_map(|p| serde_json::from_slice::<TrialResult>(&std::fs::read(&p).ok()?).ok())
        .map(|r| (r.trial.clone(), r))
        .collect();
    all.extend(read_file(&file));
    all
}

/// The results in `dir` of runs against the cassettes directory `cassettes` (compared
/// as absolute paths from the current directory).
pub fn of_cassettes(dir: &Path, cassettes: &Path) -> BTreeMap<String, TrialResult> {
    let wanted = super::collect::absolute(cassettes);
    read_all(dir)
        .into_iter()
        .filter(|(_, r)| super::collect::absolute(&r.cassettes) == wanted)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(trial: &str) -> TrialResult {
        TrialResult {
            trial: trial.into(),
            kind: "webhook".into(),
            status: Status::Failed,
            message: Some("expected SUCCEEDED, got FAILED".into()),
            ran: Ran::Replay,
            target: None,
            cassettes: "/suite/cassettes".into(),
            scenario_file: Some("/suite/scenarios/otter.toml".into()),
            scenario_sha256: Some("ab".repeat(32)),
            task_id: Some("01a23262-1d76-7000-8a26-8999a1faa88d".into()),
            duration_ms: None,
        }
    }

    #[test]
    fn results_round_trip_and_an_unchanged_result_is_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &[result("otter")]).unwrap();
        let written = dir.path().join(FILE);
        let inode =
            |path: &Path| std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(path).unwrap());
        let before = inode(&written);
        write(dir.path(), &[result("otter")]).unwrap();
        assert_eq!(inode(&written), before, "not rewritten");
        let mut passed = result("otter");
        passed.status = Status::Passed;
        passed.message = None;
        write(dir.path(), &[passed.clone(), result("beaver")]).unwrap();
        assert_ne!(inode(&written), before, "rewritten");
        std::fs::write(dir.path().join("stray.json"), b"{").unwrap();
        let all = read_all(dir.path());
        assert_eq!(all.keys().collect::<Vec<_>>(), ["beaver", "otter"]);
        assert_eq!(all["otter"], passed);
        assert!(read_all(&dir.path().join("absent")).is_empty());
    }

    /// An entry this version cannot read (another version's) is kept, and the others
    /// are still read.
    #[test]
    fn an_entry_of_another_version_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &[result("otter")]).unwrap();
        let path = dir.path().join(FILE);
        let mut all: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        all["newer"] = serde_json::json!({"trial": "newer", "status": "flaky"});
        std::fs::write(&path, serde_json::to_vec(&all).unwrap()).unwrap();
        write(dir.path(), &[result("beaver")]).unwrap();
        let all: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(all["newer"]["status"], "flaky");
        assert_eq!(
            read_all(dir.path()).keys().collect::<Vec<_>>(),
            ["beaver", "otter"]
        );
    }

    /// An earlier version's per-trial files are read until their trial's result is in
    /// the results file, and then removed.
    #[test]
    fn per_trial_files_of_an_earlier_version_are_read_then_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = |trial: &str| {
            let path = legacy_path(dir.path(), trial);
            std::fs::write(&path, serde_json::to_vec(&result(trial)).unwrap()).unwrap();
            path
        };
        let (otter, beaver) = (legacy("otter"), legacy("beaver"));
        assert_eq!(read_all(dir.path()).len(), 2);
        let mut passed = result("otter");
        passed.status = Status::Passed;
        write(dir.path(), &[passed.clone()]).unwrap();
        assert!(!otter.exists() && beaver.exists());
        let all = read_all(dir.path());
        assert_eq!(
            (&all["otter"], &all["beaver"]),
            (&passed, &result("beaver"))
        );
    }

    /// A results file that does not parse (torn by a crash of the machine, edited) is
    /// set aside, never overwritten with only the new results.
    #[test]
    fn a_damaged_results_file_is_set_aside_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        std::fs::write(&path, "{\"otter\": {\"trial\": \"ot").unwrap();
        write(dir.path(), &[result("beaver")]).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(format!("{FILE}.unreadable"))).unwrap(),
            "{\"otter\": {\"trial\": \"ot"
        );
        assert_eq!(read_all(dir.path()).keys().collect::<Vec<_>>(), ["beaver"]);
    }

    /// Processes of one suite (cargo-nextest runs one per trial) add their results to
    /// the one file without losing each other's.
    #[test]
    fn writers_at_once_lose_no_result() {
        let dir = tempfile::tempdir().unwrap();
        std::thread::scope(|scope| {
            for i in 0..8 {
                let dir = dir.path();
                scope.spawn(move || write(dir, &[result(&format!("trial_{i}"))]).unwrap());
            }
        });
        assert_eq!(read_all(dir.path()).len(), 8);
    }

    #[test]
    fn suites_with_other_cassettes_keep_their_results_apart() {
        let base = Path::new("/t/results");
        let here = crate::command::Invocation::default();
        assert_eq!(dir_for(base, Path::new("cassettes"), &here), base);
        assert_eq!(dir_for(base, Path::new("./cassettes"), &here), base);
        // A workspace's members share the target dir: each its own.
        let member = crate::command::Invocation {
            package: Some("mygame".into()),
            package_dir: Some("/w/mygame".into()),
            ..crate::command::Invocation::default()
        };
        assert_eq!(
            dir_for(base, Path::new("/w/mygame/cassettes"), &member),
            base.join("mygame")
        );
        let other = dir_for(base, Path::new("/elsewhere/suite/cassettes"), &here);
        let again = dir_for(base, Path::new("/elsewhere/suite/cassettes"), &here);
        assert_eq!(other, again);
        assert!(
            other.starts_with(base) && other != base,
            "{}",
            other.display()
        );
        assert_ne!(
            other,
            dir_for(base, Path::new("/another/suite/cassettes"), &here)
        );
    }

    #[test]
    fn odd_trial_names_stay_inside_the_results_dir() {
        let dir = Path::new("/r");
        assert_eq!(
            legacy_path(dir, "../etc/passwd"),
            Path::new("/r/_etc_passwd.json")
        );
        assert_eq!(
            legacy_path(dir, "pipeline in rust"),
            Path::new("/r/pipeline_in_rust.json")
        );
    }
}
