//! Atomic, crash-safe file writes shared by everything the toolkit writes to disk
//! (manifests, artifacts, cassettes, webhook recordings).
//!
//! A file is written to a temporary sibling, flushed to disk and renamed over the
//! target, so a reader (or a crash) sees either the old file or the new one, never a
//! torn one. The temporary name is unique per process and call, so concurrent
//! writers of the same file never share a temp file.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Writes `bytes` to `path` atomically, creating parent directories as needed.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_with(path, |file| file.write_all(bytes))
}

/// Moves the finished file `from` over `to` in one step (same directory, so the
/// rename is atomic), flushing `from` first: a reader sees the old file or the new.
pub fn replace(from: &Path, to: &Path) -> io::Result<()> {
    File::open(from)?.sync_all()?;
    fs::rename(from, to)?;
    sync_dir(to);
    Ok(())
}

/// Flushes the directory holding `path` (best effort: not every platform can).
fn sync_dir(path: &Path) {
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Ok(dir) = File::open(parent) {
        let _ = dir.sync_all();
    }
}

/// Writes `path` atomically with `fill`, which writes the new content into a
/// temporary file. If `fill` fails, the temporary file is removed and `path` keeps
/// its old content.
pub fn write_with(path: &Path, fill: impl FnOnce(&mut File) -> io::Result<()>) -> io::Result<()> {
    write_inner(path, true, fill)
}

fn write_inner(
    path: &Path,
    flush: bool,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)?;
    }
    let temp = temp_path(path);
    let result = (|| {
        let mut file = File::create(&temp)?;
        fill(&mut file)?;
        if flush {
            file.sync_all()?;
        }
        drop(file);
        fs::rename(&temp, path)?;
        // The rename itself is durable only once the directory is.
        if flush {
            sync_dir(path);
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// `dir/.name.tmp-<pid>-<n>`: hidden, beside the target so the rename stays on one
/// file system, and unique per process and call.
fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}-{n}", std::process::id()))
}

/// Removes the temporary files that writes of processes no longer running left in
/// `dir` (a SIGKILL between write and rename); returns how many. Those of running
/// processes are theirs to finish.
pub fn sweep(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temp_owner) else {
            continue;
        };
        if !crate::pid::alive(pid) && fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// The pid in a temporary file's name, `.name.tmp-<pid>-<n>`.
fn temp_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (_, tail) = rest.rsplit_once(".tmp-")?;
    let (pid, n) = tail.split_once('-')?;
    n.parse::<u64>().ok()?;
    pid.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_file_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/manifest.json");
        write(&path, b"{\"a\": 1}").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"{\"a\": 1}");
        assert_eq!(entries(&dir.path().join("sub")), vec!["manifest.json"]);
    }

    #[test]
    fn failed_write_keeps_old_content_and_removes_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        write(&path, b"old").unwrap();
        let err = write_with(&path, |file| {
            file.write_all(b"half of the new con")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(entries(dir.path()), vec!["manifest.json"]);
    }

    #[test]
    fn sweep_removes_the_temporary_files_of_ended_processes_only() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let live = std::process::id();
        for name in [
            format!(".otter_text3d_t1.json.tmp-{dead}-0"),
            format!(".otter_text3d_t2.json.tmp-{live}-3"),
            "otter_text3d_t1.json".to_owned(),
            ".hidden-note".to_owned(),
            format!(".x.tmp-{dead}-notanumber"),
        ] {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        assert_eq!(sweep(dir.path()), 1);
        let mut kept = vec![
            format!(".otter_text3d_t2.json.tmp-{live}-3"),
            ".hidden-note".to_owned(),
            format!(".x.tmp-{dead}-notanumber"),
            "otter_text3d_t1.json".to_owned(),
        ];
        kept.sort();
        assert_eq!(entries(dir.path()), kept);
        assert_eq!(sweep(Path::new("/nonexistent/dir")), 0);
    }
}
