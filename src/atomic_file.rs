//! Atomic, crash-safe file writes shared by everything the toolkit writes to disk
//! (manifests, artifacts, cassettes, webhook recordings).
//!
//! A file is written to a temporary sibling (a [`tempfile::NamedTempFile`], removed
//! if the write fails), flushed to disk and renamed over the target, so a reader (or
//! a crash) sees either the old file or the new one, never a torn one. The temporary
//! name is unique per process and call, so concurrent writers of the same file never
//! share a temp file; [`sweep`] removes those that killed writers left behind.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use tempfile::NamedTempFile;

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
    write_inner(path, &COUNTER, Durability::Flushed, fill)
}

/// Writes `bytes` to `path` atomically, without flushing it to disk: for derived files
/// a rerun rebuilds (trial results, the HTML report). A crash of the process leaves the
/// old file or the new, never a torn one; a crash of the machine may leave either or
/// none. Skipping the two fsyncs keeps a replay of a thousand trials fast.
pub fn write_derived(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_inner(path, &COUNTER, Durability::Derived, |file| {
        file.write_all(bytes)
    })
}

/// [`write_derived`] with `fill`, which writes the new content into the temporary file.
pub fn write_derived_with(
    path: &Path,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    write_inner(path, &COUNTER, Durability::Derived, fill)
}

/// Whether a write waits for the disk.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Durability {
    Flushed,
    Derived,
}

/// `counter` numbers the temporary names: the process's [`COUNTER`] (tests pass their own).
fn write_inner(
    path: &Path,
    counter: &AtomicU64,
    durability: Durability,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let dir = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => {
            fs::create_dir_all(parent)?;
            parent
        }
        None => Path::new("."),
    };
    // Dropping `temp` on any error (or a panic in `fill`) removes the temporary file.
    let mut temp = create_temp(path, dir, counter)?;
    fill(temp.as_file_mut())?;
    if durability == Durability::Derived {
        temp.persist(path).map_err(|e| e.error)?;
        return Ok(());
    }
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|e| e.error)?;
    // The rename itself is durable only once the directory is.
    sync_dir(path);
    Ok(())
}

/// The `<n>` of the next temporary name.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Creates the temporary sibling of `path` in `dir`, named `.name.tmp-<pid>-<n>`
/// (hidden, beside the target so the rename stays on one file system, unique per
/// process and call; [`sweep`] reads the pid back). Opened with mode 0666 less the
/// umask, as `File::create` would, not tempfile's 0600: the file keeps that mode
/// once renamed.
fn create_temp(path: &Path, dir: &Path, counter: &AtomicU64) -> io::Result<NamedTempFile> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let mut tries = 0;
    loop {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let prefix = format!(".{name}.tmp-{}-{n}", std::process::id());
        // `make_in`, not `tempfile_in`: that one adds the temporary path to the error
        // messages, and callers already name the target.
        let created = tempfile::Builder::new()
            .prefix(&prefix)
            .rand_bytes(0)
            .make_in(dir, |temp| {
                let mut options = File::options();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o666);
                options.open(temp)
            });
        match created {
            // A leftover of an earlier process with the same pid: take the next name.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 100 => tries += 1,
            created => return created,
        }
    }
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

    #[cfg(unix)]
    #[test]
    fn written_files_get_0644_under_the_usual_umask_like_a_plainly_created_file() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        write(&path, b"{}").unwrap();
        let plain = dir.path().join("plain.json");
        File::create(&plain).unwrap();
        assert_eq!(mode(&path), mode(&plain), "not tempfile's 0600");
        // 0666 less the umask: 0644 under the usual 022.
        let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
        if let Some(umask) = status
            .lines()
            .find_map(|l| l.strip_prefix("Umask:"))
            .and_then(|u| u32::from_str_radix(u.trim(), 8).ok())
        {
            assert_eq!(mode(&path), 0o666 & !umask);
        }
    }

    #[test]
    fn a_failed_rename_keeps_the_target_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory cannot be renamed over.
        let path = dir.path().join("manifest.json");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("inside"), b"x").unwrap();
        let err = write(&path, b"new").unwrap_err();
        assert!(
            err.raw_os_error().is_some(),
            "the rename's own error: {err}"
        );
        assert!(!err.to_string().contains(".tmp-"), "{err}");
        assert_eq!(entries(dir.path()), vec!["manifest.json"]);
        assert_eq!(entries(&path), vec!["inside"]);
    }

    #[test]
    fn a_panicking_fill_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        write(&path, b"old").unwrap();
        let panicked = std::panic::catch_unwind(|| {
            write_with(&path, |file| {
                file.write_all(b"half")?;
                panic!("fill panicked")
            })
        });
        assert!(panicked.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(entries(dir.path()), vec!["manifest.json"]);
    }

    #[test]
    fn the_temp_file_is_named_for_sweep_and_leftovers_of_the_same_name_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        // Leftovers under the next names this write picks (as after pid reuse); its own
        // counter, so parallel tests cannot take those numbers first.
        let counter = AtomicU64::new(7);
        let pid = std::process::id();
        let leftovers: Vec<String> = (7..10)
            .map(|n| format!(".manifest.json.tmp-{pid}-{n}"))
            .collect();
        for name in &leftovers {
            fs::write(dir.path().join(name), b"stale").unwrap();
        }
        let mut temp_names = Vec::new();
        write_inner(&path, &counter, Durability::Flushed, |file| {
            temp_names = entries(dir.path())
                .into_iter()
                .filter(|n| !leftovers.contains(n))
                .collect();
            file.write_all(b"new")
        })
        .unwrap();
        assert_eq!(
            temp_names,
            [format!(".manifest.json.tmp-{pid}-10")],
            "the three taken names were skipped"
        );
        assert_eq!(temp_owner(&temp_names[0]), Some(pid), "{temp_names:?}");
        assert_eq!(fs::read(&path).unwrap(), b"new");
        for name in &leftovers {
            assert_eq!(fs::read(dir.path().join(name)).unwrap(), b"stale");
        }
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
