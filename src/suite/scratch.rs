//! Scratch space for trial repositories: one directory per run in the system's
//! temporary directory (`TMPDIR`), `mesh-toolkit-<uid>/run-<pid>`, holding one
//! directory per trial. Each trial's directory goes when the trial ends, the run's when
//! the run ends ([`Scratch::remove`], from `Suite::finish`), and the first trial of a run removes
//! what runs that were killed (SIGKILL, a crash) left behind.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// The scratch space of one run; the suite uses [`Scratch::global`].
pub struct Scratch {
    root: PathBuf,
    /// The run's directory, made (and left-overs swept) on first use.
    run: Mutex<Option<PathBuf>>,
}

impl Scratch {
    /// Scratch space under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Scratch {
        Scratch {
            root: root.into(),
            run: Mutex::new(None),
        }
    }

    /// The process's: `<temp dir>/mesh-toolkit-<uid>`, per user, so one user's runs never
    /// trip on another's.
    pub fn global() -> &'static Scratch {
        static GLOBAL: OnceLock<Scratch> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            let uid = rustix::process::getuid().as_raw();
            Scratch::new(std::env::temp_dir().join(format!("mesh-toolkit-{uid}")))
        })
    }

    /// A fresh directory for one trial's repository, removed when the value is dropped.
    pub fn trial_dir(&self, trial: &str) -> std::io::Result<tempfile::TempDir> {
        let run = self.run_dir()?;
        let prefix: String = trial
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(40)
            .collect();
        tempfile::Builder::new()
            .prefix(&format!("{prefix}-"))
            .tempdir_in(run)
    }

    /// Removes the run's directory (the trials holding theirs have ended by now).
    pub fn remove(&self) {
        let taken = self.run.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(dir) = taken {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    fn run_dir(&self) -> std::io::Result<PathBuf> {
        let mut run = self.run.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(dir) = run.as_ref() {
            return Ok(dir.clone());
        }
        let dir = if private_dir(&self.root).is_ok() {
            sweep(&self.root);
            let dir = self.root.join(format!("run-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            dir
        } else {
            // The shared root is not ours (another user made it, or it is a link): a
            // random private directory instead, without the sweep.
            tempfile::Builder::new()
                .prefix("mesh-toolkit-run-")
                .tempdir()?
                .keep()
        };
        *run = Some(dir.clone());
        Ok(dir)
    }
}

/// Makes `dir` (mode 0700) if it is missing, and checks that it is a real directory of
/// this user's that no one else can write: the trial directories inside it are named
/// predictably.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    let uid = rustix::process::getuid().as_raw();
    let private = meta.is_dir() && meta.uid() == uid && meta.permissions().mode() & 0o022 == 0;
    if private {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "'{}' is not a private directory of this user",
            dir.display()
        )))
    }
}

/// Removes the `run-<pid>` directories of processes that no longer exist.
fn sweep(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("run-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !crate::pid::alive(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_overs_of_dead_runs_go_and_live_ones_stay() {
        let root = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let dead_dir = root.path().join(format!("run-{dead}"));
        let live_dir = root.path().join(format!("run-{}", std::process::id()));
        let other = root.path().join("notes");
        for dir in [&dead_dir, &live_dir, &other] {
            std::fs::create_dir_all(dir.join("trial-x/otter")).unwrap();
        }
        sweep(root.path());
        assert!(!dead_dir.exists(), "a killed run's directory is removed");
        assert!(live_dir.exists(), "a running run's directory is kept");
        assert!(other.exists(), "what is not a run directory is left alone");
    }

    #[test]
    fn a_root_that_others_can_write_or_a_link_is_not_used() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let open = root.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let link = root.path().join("link");
        std::os::unix::fs::symlink(root.path(), &link).unwrap();
        for shared in [open, link] {
            let scratch = Scratch::new(&shared);
            let trial = scratch.trial_dir("otter").unwrap();
            assert!(
                !trial.path().starts_with(&shared),
                "{} used for {}",
                shared.display(),
                trial.path().display()
            );
            drop(trial);
            scratch.remove();
        }
        let fresh = root.path().join("fresh");
        assert!(private_dir(&fresh).is_ok());
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn trial_directories_live_in_the_run_directory_and_go_with_it() {
        let root = tempfile::tempdir().unwrap();
        let scratch = Scratch::new(root.path().join("scratch"));
        let trial = scratch.trial_dir("otter_text3d [webhook]").unwrap();
        let run = trial.path().parent().unwrap().to_owned();
        assert_eq!(
            run,
            root.path()
                .join(format!("scratch/run-{}", std::process::id()))
        );
        assert!(
            trial
                .path()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("otter_text3d__webhook_-")
        );
        drop(trial);
        assert!(run.exists());
        scratch.remove();
        assert!(!run.exists());
    }
}
