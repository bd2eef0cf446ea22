//! The file-backed asset repository: `<root>/<species>/manifest.json` per species,
//! holding its asset specs by spec hash, each spec's task graph, downloaded artifacts
//! and status history (see [`Manifest`]).
//!
//! Every change is a locked read-modify-write of one manifest: an exclusive lock on
//! `<species>/.manifest.lock` (threads and processes alike), then an atomic rewrite.
//! Readers never lock: they always see a whole manifest, old or new. Where the files
//! live is the repository's [`Storage`]: durable on disk ([`Repository::new`]), a
//! throwaway directory of one process ([`Repository::ephemeral`]: an in-memory lock and
//! in-place writes), or memory alone ([`Repository::in_memory`]: a replayed trial's,
//! which touches no disk). All three keep the same guarantees for their readers.
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

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::Value;

pub use manifest::{Applied, Artifact, AssetSpec, Manifest, TaskRecord, Transition, UpdateSource};

use crate::atomic_file;
use crate::clock::now_rfc3339;
use crate::meshy::{Task, TaskType};

/// A repository rooted at a directory (created on first write).
#[derive(Debug, Clone)]
pub struct Repository {
    /// The directory (for [`Storage::Memory`], only a name for messages and paths).
    root: PathBuf,
    storage: Storage,
}

/// Where a repository keeps its files; a repository's clones share it.
#[derive(Debug, Clone)]
enum Storage {
    /// Durable: files under the root, written atomically, locked on disk.
    Disk,
    /// A throwaway directory of one process, locked by this in-memory lock.
    Scratch(Arc<RwLock<()>>),
    /// Nothing on disk: manifests and files live in this value.
    Memory(Arc<Memory>),
}

/// The files of an in-memory repository.
#[derive(Debug, Default)]
struct Memory {
    /// Serializes updates, as the lock file does on disk.
    lock: RwLock<()>,
    /// Manifests by species, as the last update left them.
    manifests: Mutex<BTreeMap<String, Manifest>>,
    /// Other files (downloaded artifacts) by path, the root joined.
    files: Mutex<BTreeMap<PathBuf, Arc<[u8]>>>,
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
            storage: Storage::Disk,
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
            storage: Storage::Scratch(Arc::default()),
        }
    }

    /// A repository that touches no disk: its manifests and files live in this value,
    /// which its clones share, and go with the last of them. For a test that only reads
    /// back through the repository ([`Repository::load`], [`Repository::read_file`]): a
    /// replayed trial's throwaway repository, made a thousand times a run. `name` stands
    /// for its root in paths and messages. Nothing of it exists on disk, so a caller
    /// that needs real paths (to hand a file to another program) wants
    /// [`Repository::ephemeral`].
    pub fn in_memory(name: impl Into<PathBuf>) -> Repository {
        Repository {
            root: name.into(),
            storage: Storage::Memory(Arc::default()),
        }
    }

    /// Writes a file of this repository (`path` under its root): atomically and flushed
    /// when durable, in place when ephemeral (its directory made if missing), into
    /// memory when in memory.
    pub(crate) fn write_file(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        match &self.storage {
            Storage::Disk => atomic_file::write(path, bytes),
            Storage::Scratch(_) => match fs::write(path, bytes) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if let Some(parent) = path.parent() {
                        fs::create_dir_all(parent)?;
                    }
                    fs::write(path, bytes)
                }
                other => other,
            },
            Storage::Memory(memory) => {
                crate::sync::lock(&memory.files).insert(path.to_owned(), Arc::from(bytes));
                Ok(())
            }
        }
    }

    /// The bytes of a file of this repository (`path` under its root, as an
    /// [`Artifact`]'s path joined to it), wherever it is stored.
    pub fn read_file(&self, path: &Path) -> std::io::Result<Arc<[u8]>> {
        match &self.storage {
            Storage::Memory(memory) => crate::sync::lock(&memory.files)
                .get(path)
                .cloned()
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("no file '{}' in this in-memory repository", path.display()),
                    )
                }),
            _ => fs::read(path).map(Arc::from),
        }
    }

    /// Whether the file at `path` (under its root) exists.
    pub(crate) fn has_file(&self, path: &Path) -> bool {
        match &self.storage {
            Storage::Memory(memory) => crate::sync::lock(&memory.files).contains_key(path),
            _ => path.is_file(),
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
        if let Storage::Memory(memory) = &self.storage {
            let manifests = crate::sync::lock(&memory.manifests);
            return Ok(manifests.get(species).cloned().unwrap_or_else(|| Manifest {
                species: species.to_owned(),
                assets: Default::default(),
            }));
        }
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
            if let Storage::Memory(memory) = &self.storage {
                crate::sync::lock(&memory.manifests).insert(species.to_owned(), manifest);
                return Ok(result);
            }
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
        if let Storage::Memory(memory) = &self.storage {
            return Ok(crate::sync::lock(&memory.manifests)
                .keys()
                .cloned()
                .collect());
        }
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

    /// The in-memory lock of an ephemeral or in-memory repository.
    fn process_lock(&self) -> Option<&RwLock<()>> {
        match &self.storage {
            Storage::Disk => None,
            Storage::Scratch(lock) => Some(lock),
            Storage::Memory(memory) => Some(&memory.lock),
        }
    }

    /// Readers of an ephemeral repository wait for its writer (it writes in place).
    fn read_lock(&self) -> Guard<'_> {
        match self.process_lock() {
            Some(lock) => Guard::Read(lock.read().unwrap_or_else(|e| e.into_inner())),
            None => Guard::None,
        }
    }

    /// Holds the species' exclusive lock until the returned guard is dropped.
    fn lock(&self, species: &str) -> Result<Guard<'_>, RepositoryError> {
        if let Some(lock) = self.process_lock() {
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

    /// In memory: the same guarantees, and not a file written, not even the root.
    #[test]
    fn an_in_memory_repository_loses_nothing_and_touches_no_disk() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("never-made");
        let repo = Repository::in_memory(&root);
        let files = eight_writers_and_a_reader(repo.clone(), &root);
        assert_eq!(files, Vec::<String>::new());
        assert!(!root.exists());
        assert_eq!(repo.species().unwrap(), ["otter"]);
        let artifact = root.join("otter/model.glb");
        assert!(!repo.has_file(&artifact));
        repo.write_file(&artifact, b"glTF").unwrap();
        assert!(repo.has_file(&artifact));
        assert_eq!(&*repo.read_file(&artifact).unwrap(), b"glTF");
        assert!(!root.exists());
        let missing = repo.read_file(&root.join("otter/other.glb")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        // Another in-memory repository of the same name shares nothing with it.
        let other = Repository::in_memory(&root);
        assert_eq!(other.species().unwrap(), Vec::<String>::new());
        assert!(!other.has_file(&artifact));
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
            .into_iter()
            .flatten()
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
