//! The file-backed asset repository: `<root>/<species>/manifest.json` per species,
//! holding its asset specs by spec hash, each spec's task graph, downloaded artifacts
//! and status history (see [`Manifest`]).
//!
//! Every change is a locked read-modify-write of one manifest: an exclusive lock on
//! `<species>/.manifest.lock` (threads and processes alike), then an atomic rewrite.
//! Readers never lock: they always see a whole manifest, old or new. An
//! [ephemeral](Repository::ephemeral) repository (a test's) keeps the same guarantees
//! for one process with an in-memory lock and in-place writes instead.
//!
//! ```no_run
//! use mesh_toolkit::repository::Repository;
//! let repo = Repository::new("target/assets");
//! let manifest = repo.load("otter").unwrap();
//! for (hash, spec) in &manifest.assets {
//!     println!("{hash}: {} with {} task(s)", spec.task_type, spec.tasks.len());
//! }
//! ```

mod manifest;

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::Value;

pub use manifest::{Applied, Artifact, AssetSpec, Manifest, TaskRecord, Transition, UpdateSource};

use crate::atomic_file;
use crate::clock::now_rfc3339;
use crate::meshy::{Task, TaskType};

/// A repository rooted at a directory (created on first write).
#[derive(Debug, Clone)]
pub struct Repository {
    root: PathBuf,
    /// `None`: durable, locked on disk. `Some`: ephemeral, locked by this in-memory
    /// lock, which its clones share.
    ephemeral: Option<Arc<RwLock<()>>>,
}

/// A held lock of a species' manifest, released when dropped.
#[allow(dead_code, reason = "the fields are held for their Drop")]
enum Guard<'a> {
    File(File),
    Write(RwLockWriteGuard<'a, ()>),
    Read(RwLockReadGuard<'a, ()>),
    None,
}

/// Where a task is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskLocation {
    pub species: String,
    pub spec_hash: String,
    pub task_type: TaskType,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepositoryError {
    #[error("invalid species name '{species}': use only lower-case letters, digits, '_' and '-'")]
    InvalidSpecies { species: String },
    #[error("error reading '{}': {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error(
        "manifest '{}' is corrupt at line {line}, column {column}: {source}; restore it from version \
         control, or delete it to start the species afresh",
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        line: usize,
        column: usize,
        source: serde_json::Error,
    },
    #[error("error writing '{}': {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("task '{task_id}' is not in the repository at '{}'; submit it through the TaskService first", root.display())]
    UnknownTask { task_id: String, root: PathBuf },
}

/// True for names made only of `[a-z0-9_-]` (and not empty): safe as one path segment.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl Repository {
    pub fn new(root: impl Into<PathBuf>) -> Repository {
        Repository {
            root: root.into(),
            ephemeral: None,
        }
    }

    /// A repository in a throwaway directory of one process (a test's): nothing in it
    /// needs to survive a crash or be shared with another process. Updates serialize
    /// on an in-memory lock that this value's clones share (open the directory once and
    /// clone the value), and files are written in place, unflushed: a test suite's
    /// thousands of trials would otherwise spend most of their time creating, renaming
    /// and flushing files. Readers through it still never see a partial manifest. Its
    /// lock is not reentrant: an [`update`](Repository::update)'s change must not read
    /// the repository (it would wait for itself), and a write that fails part-way
    /// leaves the file cut short.
    pub fn ephemeral(root: impl Into<PathBuf>) -> Repository {
        Repository {
            root: root.into(),
            ephemeral: Some(Arc::default()),
        }
    }

    /// Writes a file of this repository: atomically and flushed when durable, in place
    /// when ephemeral (its directory made if missing).
    pub(crate) fn write_file(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        if self.ephemeral.is_none() {
            return atomic_file::write(path, bytes);
        }
        match fs::write(path, bytes) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Some(parent) = path.parent() {
                    fs::create_dir_all(parent)?;
                }
                fs::write(path, bytes)
            }
            other => other,
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/<species>`.
    pub fn species_dir(&self, species: &str) -> Result<PathBuf, RepositoryError> {
        if !is_valid_name(species) {
            return Err(RepositoryError::InvalidSpecies {
                species: species.into(),
            });
        }
        Ok(self.root.join(species))
    }

    pub fn manifest_path(&self, species: &str) -> Result<PathBuf, RepositoryError> {
        Ok(self.species_dir(species)?.join("manifest.json"))
    }

    /// The species' manifest; an empty one if nothing was recorded yet.
    pub fn load(&self, species: &str) -> Result<Manifest, RepositoryError> {
        let _reading = self.read_lock();
        self.load_locked(species)
    }

    /// [`Repository::load`] by whoever holds the species' lock already.
    fn load_locked(&self, species: &str) -> Result<Manifest, RepositoryError> {
        let path = self.manifest_path(species)?;
        match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| RepositoryError::Corrupt {
                    line: source.line(),
                    column: source.column(),
                    path,
                    source,
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Manifest {
                species: species.to_owned(),
                assets: Default::default(),
            }),
            Err(source) => Err(RepositoryError::Read { path, source }),
        }
    }

    /// Runs `change` on the species' manifest under its lock and writes the result if
    /// it differs. Concurrent updates of one species (threads or processes) are
    /// serialized, so none is lost.
    pub fn update<R>(
        &self,
        species: &str,
        change: impl FnOnce(&mut Manifest) -> R,
    ) -> Result<R, RepositoryError> {
        let _lock = self.lock(species)?;
        let mut manifest = self.load_locked(species)?;
        let before = manifest.clone();
        let result = change(&mut manifest);
        if manifest != before {
            let path = self.manifest_path(species)?;
            let mut json =
                serde_json::to_vec_pretty(&manifest).expect("manifests serialize to JSON");
            json.push(b'\n');
            self.write_file(&path, &json)
                .map_err(|source| RepositoryError::Write { path, source })?;
        }
        Ok(result)
    }

    /// Records a submitted task under its spec. Recording the same task again changes
    /// nothing.
    pub fn record_submission(
        &self,
        species: &str,
        spec_hash: &str,
        task_type: TaskType,
        request: &Value,
        task_id: &str,
        inputs: Vec<String>,
    ) -> Result<(), RepositoryError> {
        self.update(species, |manifest| {
            let spec = manifest
                .assets
                .entry(spec_hash.to_owned())
                .or_insert_with(|| AssetSpec {
                    spec_hash: spec_hash.to_owned(),
                    task_type,
                    request: request.clone(),
                    tasks: Default::default(),
                });
            spec.tasks
                .entry(task_id.to_owned())
                .or_insert_with(|| TaskRecord::new(task_id, task_type, inputs, &now_rfc3339()));
        })
    }

    /// Finds a task by id across all species.
    pub fn find_task(&self, task_id: &str) -> Result<Option<TaskLocation>, RepositoryError> {
        for species in self.species()? {
            let manifest = self.load(&species)?;
            for (spec_hash, spec) in &manifest.assets {
                if spec.tasks.contains_key(task_id) {
                    return Ok(Some(TaskLocation {
                        species,
                        spec_hash: spec_hash.clone(),
                        task_type: spec.task_type,
                    }));
                }
            }
        }
        Ok(None)
    }

    /// The record of a task at a known location.
    pub fn task(
        &self,
        location: &TaskLocation,
        task_id: &str,
    ) -> Result<TaskRecord, RepositoryError> {
        let manifest = self.load(&location.species)?;
        manifest
            .assets
            .get(&location.spec_hash)
            .and_then(|spec| spec.tasks.get(task_id))
            .cloned()
            .ok_or_else(|| self.unknown(task_id))
    }

    /// Applies a task object to its record (see [`TaskRecord::apply`]) and returns what
    /// happened and the record as it now stands.
    pub fn apply_update(
        &self,
        location: &TaskLocation,
        task: &Task,
        source: UpdateSource,
    ) -> Result<(Applied, TaskRecord), RepositoryError> {
        let at = now_rfc3339();
        self.update(&location.species, |manifest| {
            let record = manifest
                .assets
                .get_mut(&location.spec_hash)?
                .tasks
                .get_mut(&task.id)?;
            Some((record.apply(task, source, &at), record.clone()))
        })?
        .ok_or_else(|| self.unknown(&task.id))
    }

    /// Adds an artifact to a task's record, replacing one with the same path.
    pub fn record_artifact(
        &self,
        location: &TaskLocation,
        task_id: &str,
        artifact: Artifact,
    ) -> Result<(), RepositoryError> {
        self.update(&location.species, |manifest| {
            let record = manifest
                .assets
                .get_mut(&location.spec_hash)?
                .tasks
                .get_mut(task_id)?;
            record.artifacts.retain(|a| a.path != artifact.path);
            record.artifacts.push(artifact);
            Some(())
        })?
        .ok_or_else(|| self.unknown(task_id))
    }

    /// Species with a directory under the root, sorted.
    pub fn species(&self) -> Result<Vec<String>, RepositoryError> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(RepositoryError::Read {
                    path: self.root.clone(),
                    source,
                });
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().join("manifest.json").is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| is_valid_name(name))
            .collect();
        names.sort();
        Ok(names)
    }

    fn unknown(&self, task_id: &str) -> RepositoryError {
        RepositoryError::UnknownTask {
            task_id: task_id.to_owned(),
            root: self.root.clone(),
        }
    }

    /// Readers of an ephemeral repository wait for its writer (it writes in place).
    fn read_lock(&self) -> Guard<'_> {
        match &self.ephemeral {
            Some(lock) => Guard::Read(lock.read().unwrap_or_else(|e| e.into_inner())),
            None => Guard::None,
        }
    }

    /// Holds the species' exclusive lock until the returned guard is dropped.
    fn lock(&self, species: &str) -> Result<Guard<'_>, RepositoryError> {
        if let Some(lock) = &self.ephemeral {
            self.species_dir(species)?;
            return Ok(Guard::Write(
                lock.write().unwrap_or_else(|e| e.into_inner()),
            ));
        }
        let dir = self.species_dir(species)?;
        let path = dir.join(".manifest.lock");
        let write_error = |source| RepositoryError::Write {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(&dir).map_err(write_error)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(write_error)?;
        file.lock().map_err(write_error)?;
        Ok(Guard::File(file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn submit(repo: &Repository, species: &str, task_id: &str) -> TaskLocation {
        repo.record_submission(
            species,
            "hash1",
            TaskType::Text3d,
            &json!({"prompt": "p"}),
            task_id,
            vec![],
        )
        .unwrap();
        repo.find_task(task_id).unwrap().unwrap()
    }

    #[test]
    fn submission_is_idempotent_and_found_across_species() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::new(dir.path());
        submit(&repo, "otter", "t1");
        let first = fs::read(repo.manifest_path("otter").unwrap()).unwrap();
        submit(&repo, "otter", "t1");
        assert_eq!(
            fs::read(repo.manifest_path("otter").unwrap()).unwrap(),
            first
        );
        submit(&repo, "beaver", "t2");
        let found = repo.find_task("t2").unwrap().unwrap();
        assert_eq!(
            (found.species.as_str(), found.task_type),
            ("beaver", TaskType::Text3d)
        );
        assert_eq!(repo.find_task("nope").unwrap(), None);
        assert_eq!(repo.species().unwrap(), ["beaver", "otter"]);
    }

    #[test]
    fn eight_threads_times_fifty_updates_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let files = eight_writers_and_a_reader(Repository::new(dir.path()), dir.path());
        assert_eq!(files, [".manifest.lock", "manifest.json"]);
    }

    /// Ephemeral: the same guarantees through clones, with no lock file and no
    /// temporary files (the trial repositories of a suite make thousands).
    #[test]
    fn an_ephemeral_repository_loses_nothing_and_writes_only_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let files = eight_writers_and_a_reader(Repository::ephemeral(dir.path()), dir.path());
        assert_eq!(files, ["manifest.json"]);
    }

    /// 8 threads record 50 tasks each while a reader loads the manifest: none is lost
    /// and every read is a whole manifest. The species directory's files.
    fn eight_writers_and_a_reader(repo: Repository, dir: &Path) -> Vec<String> {
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (repo, done) = (repo.clone(), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut reads = 0;
                while !done.load(std::sync::atomic::Ordering::SeqCst) || reads == 0 {
                    repo.load("otter").expect("a whole manifest");
                    reads += 1;
                }
            })
        };
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let repo = repo.clone();
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let task_id = format!("task-{t}-{i}");
                        repo.record_submission(
                            "otter",
                            &format!("spec-{t}"),
                            TaskType::Text3d,
                            &json!({}),
                            &task_id,
                            vec![],
                        )
                        .unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        reader.join().unwrap();
        let manifest = repo.load("otter").unwrap();
        let tasks: usize = manifest.assets.values().map(|s| s.tasks.len()).sum();
        assert_eq!(tasks, 400);
        let mut files: Vec<String> = fs::read_dir(dir.join("otter"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        files
    }

    #[test]
    fn corrupt_manifest_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::new(dir.path());
        let path = repo.manifest_path("otter").unwrap();
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, "{\n  \"species\": \"otter\",\n  \"assets\": {,\n}").unwrap();
        let err = repo.load("otter").unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "manifest '{}' is corrupt at line 3,",
                path.display()
            )),
            "{err}"
        );
        assert!(
            err.ends_with("delete it to start the species afresh"),
            "{err}"
        );
    }

    #[test]
    fn species_names_outside_the_safe_set_are_refused() {
        let repo = Repository::new("unused");
        for bad in ["", "Otter", "../x", "a/b", "ot ter"] {
            let err = repo.manifest_path(bad).unwrap_err();
            assert!(
                matches!(err, RepositoryError::InvalidSpecies { .. }),
                "{bad}"
            );
        }
    }

    #[test]
    fn updating_an_unknown_task_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::new(dir.path());
        let location = submit(&repo, "otter", "t1");
        let stranger: Task =
            serde_json::from_value(json!({"id": "t9", "status": "SUCCEEDED"})).unwrap();
        let err = repo
            .apply_update(&location, &stranger, UpdateSource::Webhook)
            .unwrap_err();
        assert!(matches!(err, RepositoryError::UnknownTask { ref task_id, .. } if task_id == "t9"));
    }
}
