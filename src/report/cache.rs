//! The report's memory between runs: what each entry rendered to last time and what
//! `cassettes check` took from its files. An entry whose files have not changed since
//! is neither collected nor rendered again; when the check found nothing in them, they
//! are not even read: a second report of an unchanged suite costs little more than
//! writing its page, and a replay's trials hand it nothing.
//!
//! The bodies stay where they are, in the last `index.html`; `<report dir>/.entries.json`
//! says where each one is in it, what it was rendered from, and the page's own
//! identity and [`stamp`] (a page changed since, or another run's, is not used).
//!
//! An entry is reused only when all of these are as they were:
//! - the program that renders it (the running executable's size and times) and the
//!   suite's directories and invocation ([`context`]);
//! - its scenario file, its cassette and the webhook recordings of its tasks, by their
//!   size, inode, and change and modification times ([`Seen`]), and the scenarios that
//!   take its task as input;
//! - the model bundles its body names, still whole in `models/` (by their lengths).
//!
//! A file changed less than [`SETTLE`] before it was looked at is never trusted: a
//! second change within the file system's clock tick could keep all its times and its
//! size. The cache only decides what the report renders, never what the trials replay.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::collect::Index;
use super::html::Facts;

/// The cache file, beside `index.html`.
pub const FILE: &str = ".entries.json";

/// How long a file must have been left alone before its times are trusted.
pub const SETTLE: Duration = Duration::from_secs(1);

/// Bumped when what is kept changes shape.
const FORMAT: u32 = 2;

/// What the cache file says.
#[derive(Debug, Deserialize)]
struct Stored {
    format: u32,
    /// [`context`] when it was written.
    context: String,
    /// The identity of the `index.html` written with it.
    page: String,
    /// The [`stamp`] that page opens with.
    stamp: String,
    /// The page's [`frame`] (absent from an earlier version's cache: the page is
    /// written again once).
    #[serde(default)]
    frame: Option<String>,
    entries: BTreeMap<String, Entry>,
}

/// One entry of the last page.
#[derive(Debug, Deserialize)]
struct Entry {
    key: Key,
    facts: Facts,
    scenario_sha256: Option<String>,
    /// Where its body is in the page: offset and length in bytes.
    body: (usize, usize),
}

/// What the last report kept: its entries, and the page that holds their bodies.
#[derive(Debug, Default)]
pub struct Cache {
    entries: BTreeMap<String, Entry>,
    page: Arc<Page>,
    last: Option<Last>,
}

/// The last page, read only when a body kept from it is written (a report that leaves
/// the page as it is never reads it), and then checked: still the page the cache was
/// written with, and each body taken from it whole ([`Body::whole`]).
#[derive(Debug, Default)]
pub struct Page {
    path: PathBuf,
    identity: String,
    stamp: String,
    len: usize,
    bytes: std::sync::OnceLock<Option<Vec<u8>>>,
}

impl Page {
    /// Its bytes, read once; `None` when the file is no longer that page.
    fn bytes(&self) -> Option<&[u8]> {
        self.bytes
            .get_or_init(|| {
                #[cfg(test)]
                crate::cassette::reads::count(&self.path);
                let bytes = std::fs::read(&self.path).ok()?;
                // Not changed since the cache was read, nor another run's written over it.
                let same = identity_of(&self.path).as_ref() == Some(&self.identity)
                    && bytes.starts_with(super::html::stamp_line(&self.stamp).as_bytes());
                same.then_some(bytes)
            })
            .as_deref()
    }
}

/// The last page as the cache knew it: a report whose page would come out the same
/// (but for when it was generated) leaves it as it is.
#[derive(Debug, Clone)]
pub struct Last {
    /// The page file's identity.
    page: String,
    /// Its [`frame`].
    frame: String,
}

impl Last {
    /// Whether `frame` is this page's, and the page on disk is still the one the cache
    /// was written with (no other report replaced it since).
    pub fn same(&self, out: &Path, frame: &str) -> bool {
        self.frame == frame && identity_of(&out.join("index.html")).as_ref() == Some(&self.page)
    }
}

/// What a page is, but for its [`stamp`], when it was generated, and the text of its
/// bodies: its header without those two (`top`), its entries' heads, and where each
/// body is in the page. Bodies kept from a page at the same places are that page's
/// bodies, so two pages with one frame, all of whose bodies were kept, read alike.
pub fn frame<'a>(
    top: &str,
    heads: impl Iterator<Item = &'a str>,
    bodies: impl Iterator<Item = std::ops::Range<usize>>,
) -> String {
    let mut text = String::with_capacity(top.len() + 256 * 1024);
    text.push_str(top);
    for (head, body) in heads.zip(bodies) {
        text.push_str(head);
        text.push_str(&format!("\0{} {}\0", body.start, body.end));
    }
    crate::digest::sha256_hex(text.as_bytes())
}

/// What one entry's page was rendered from, beside the [`context`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Key {
    /// The digest of its scenario file's, its cassette's and its dependents' [`Seen`].
    digest: String,
    /// The tasks its cassette created, and their webhook recordings with their [`Seen`].
    pub tasks: Vec<String>,
    recordings: Vec<(PathBuf, String)>,
    /// The model bundles its body names, with their files' lengths.
    pub bundles: Vec<(String, u64)>,
    /// What `cassettes check` took from its files, when none of them gave a finding:
    /// they need not be read or checked again.
    pub quiet: Option<Quiet>,
}

/// What the check took from an entry's files, none of which gave a finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quiet {
    /// `None`: it has no cassette.
    pub cassette: Option<crate::check::QuietCassette>,
    pub recordings: Vec<(PathBuf, crate::check::QuietRecording)>,
}

impl Quiet {
    /// What the check took from `checked`, if none of its files gave a finding.
    pub fn of<T>(checked: &super::collect::Checked<T>) -> Option<Quiet> {
        let cassette = match &checked.cassette {
            Some(cassette) => Some(cassette.quiet()?),
            None => None,
        };
        let recordings = checked
            .recordings
            .iter()
            .map(|r| Some((r.path().to_owned(), r.quiet()?)))
            .collect::<Option<_>>()?;
        Some(Quiet {
            cassette,
            recordings,
        })
    }

    /// The check of the entry whose cassette is at `cassette`, as its files gave it.
    pub fn checked(&self, cassette: &Path) -> super::collect::Checked<()> {
        super::collect::Checked {
            item: (),
            cassette: self
                .cassette
                .clone()
                .map(|quiet| crate::check::CassetteChecked::from_quiet(cassette, quiet)),
            recordings: self
                .recordings
                .iter()
                .map(|(path, quiet)| {
                    crate::check::RecordingChecked::from_quiet(path, quiet.clone())
                })
                .collect(),
        }
    }
}

/// One entry as the last report rendered it.
#[derive(Debug)]
pub struct Kept {
    pub key: Key,
    pub facts: Facts,
    pub scenario_sha256: Option<String>,
    pub body: Body,
}

/// An entry's rendered body: just rendered, or a part of the last page.
#[derive(Debug)]
pub enum Body {
    Rendered(String),
    Kept(Arc<Page>, std::ops::Range<usize>),
}

impl Body {
    pub fn as_str(&self) -> &str {
        match self {
            Body::Rendered(text) => text,
            // Read and checked as UTF-8 only when written ([`Body::whole`] first).
            Body::Kept(page, range) => page
                .bytes()
                .and_then(|bytes| bytes.get(range.clone()))
                .and_then(|bytes| std::str::from_utf8(bytes).ok())
                .unwrap_or_default(),
        }
    }

    /// Whether it can be written: rendered, or kept from a page still there, whole
    /// (one `<article>`'s end, on character boundaries).
    pub fn whole(&self) -> bool {
        match self {
            Body::Rendered(_) => true,
            Body::Kept(page, range) => page
                .bytes()
                .and_then(|bytes| bytes.get(range.clone()))
                .is_some_and(|body| {
                    body.ends_with(b"</article>\n") && std::str::from_utf8(body).is_ok()
                }),
        }
    }

    /// Where it is in the last page, when it was kept from it.
    pub fn kept(&self) -> Option<std::ops::Range<usize>> {
        match self {
            Body::Rendered(_) => None,
            Body::Kept(_, range) => Some(range.clone()),
        }
    }
}

/// What is written of one entry: its key and facts, and where its body is in the page.
pub struct Written<'a> {
    pub name: &'a str,
    pub key: &'a Key,
    pub facts: &'a Facts,
    pub scenario_sha256: &'a Option<String>,
    pub body: std::ops::Range<usize>,
}

/// A file as `stat` sees it, without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Absent,
    /// Its size, inode and times, as text.
    File(String),
    /// Changed less than [`SETTLE`] ago (or its times cannot be read): not trusted.
    Unsettled,
}

fn seen(path: &Path, now: SystemTime) -> Seen {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Seen::Absent,
        Err(_) => return Seen::Unsettled,
    };
    let settled = |at: Option<SystemTime>| {
        at.and_then(|at| now.duration_since(at).ok())
            .is_some_and(|age| age >= SETTLE)
    };
    if settled(meta.modified().ok()) && settled(changed(&meta)) {
        Seen::File(identity(&meta))
    } else {
        Seen::Unsettled
    }
}

/// When the file's inode last changed: it cannot be set back (`touch -d` and `cp -p`
/// set only the modification time).
#[cfg(unix)]
fn changed(meta: &std::fs::Metadata) -> Option<SystemTime> {
    use std::os::unix::fs::MetadataExt;
    let since = Duration::new(
        u64::try_from(meta.ctime()).ok()?,
        u32::try_from(meta.ctime_nsec()).ok()?,
    );
    SystemTime::UNIX_EPOCH.checked_add(since)
}

#[cfg(not(unix))]
fn changed(meta: &std::fs::Metadata) -> Option<SystemTime> {
    meta.modified().ok()
}

/// A file's size, inode and times, as text.
fn identity(meta: &std::fs::Metadata) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        format!(
            "{} {} {} {}.{} {}.{}",
            meta.dev(),
            meta.ino(),
            meta.len(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec()
        )
    }
    #[cfg(not(unix))]
    {
        format!("{} {:?}", meta.len(), meta.modified().ok())
    }
}

/// The identity of the file at `path`, if it can be read.
pub(super) fn identity_of(path: &Path) -> Option<String> {
    std::fs::metadata(path).ok().map(|meta| identity(&meta))
}

/// What every entry's rendering depends on beside its own files: the program (a
/// rebuilt one may render differently) and the suite's directories and invocation.
pub fn context(sources: &super::Sources) -> String {
    // Its file's identity (inode, size and times); a program that cannot say which file
    // it is (replaced while it runs) matches no cache, nor does what it writes.
    let program = std::env::current_exe()
        .ok()
        .and_then(|exe| identity_of(&exe))
        .unwrap_or_else(|| format!("unknown {:016x}", crate::random::nonce()));
    crate::digest::sha256_hex(
        format!(
            "{FORMAT}\n{}\n{program}\n{}\n{}\n{:?}",
            env!("CARGO_PKG_VERSION"),
            sources.scenarios.display(),
            sources.cassettes.display(),
            sources.invocation
        )
        .as_bytes(),
    )
}

impl Cache {
    /// The cache of the report in `out` if it was written in `context` and its page is
    /// unchanged; else an empty one (an absent, unreadable or foreign cache only means
    /// every entry is rendered).
    pub fn read(out: &Path, context: &str) -> Cache {
        Cache::try_read(out, context).unwrap_or_default()
    }

    /// The page it was written with, when it says what the page was.
    pub fn last(&self) -> Option<Last> {
        self.last.clone()
    }

    fn try_read(out: &Path, context: &str) -> Option<Cache> {
        let bytes = std::fs::read(out.join(FILE)).ok()?;
        let stored: Stored = serde_json::from_slice(&bytes).ok()?;
        let path = out.join("index.html");
        let meta = std::fs::metadata(&path).ok()?;
        let fits =
            stored.format == FORMAT && stored.context == context && identity(&meta) == stored.page;
        // Not another run's page written over the one this cache was written with
        // (same identity, another stamp): its first line says (the rest is read only if
        // written).
        let opening = super::html::stamp_line(&stored.stamp);
        let mut first = vec![0; opening.len()];
        let opens = fits
            && std::fs::File::open(&path)
                .and_then(|mut file| std::io::Read::read_exact(&mut file, &mut first))
                .is_ok_and(|()| first == opening.as_bytes());
        if !fits || !opens {
            return None;
        }
        let page = Page {
            path,
            identity: stored.page.clone(),
            stamp: stored.stamp,
            len: usize::try_from(meta.len()).ok()?,
            bytes: std::sync::OnceLock::new(),
        };
        Some(Cache {
            entries: stored.entries,
            page: Arc::new(page),
            last: stored.frame.map(|frame| Last {
                page: stored.page,
                frame,
            }),
        })
    }

    /// The entry `name` as it was rendered, if nothing it was rendered from changed
    /// (as seen at `now`) and its bundles are still in `models`.
    pub fn reuse(
        &mut self,
        index: &Index,
        name: &str,
        models: &Path,
        now: SystemTime,
    ) -> Option<Kept> {
        let entry = self.entries.remove(name)?;
        let (start, len) = entry.body;
        let range = start..start.checked_add(len)?;
        let unchanged = digest(index, name, now).as_ref() == Some(&entry.key.digest)
            && recordings(index, &entry.key.tasks, now).as_ref() == Some(&entry.key.recordings)
            && entry
                .key
                .bundles
                .iter()
                .all(|(id, length)| bundle_whole(&models.join(format!("{id}.js")), *length))
            // Within the page (read, and the body checked, only if it is written).
            && range.end <= self.page.len;
        unchanged.then(|| Kept {
            key: entry.key,
            facts: entry.facts,
            scenario_sha256: entry.scenario_sha256,
            body: Body::Kept(Arc::clone(&self.page), range),
        })
    }
}

/// Whether the bundle file at `path` is there and `length` long (not cut short by a
/// truncated copy or a full disk).
fn bundle_whole(path: &Path, length: u64) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() == length)
}

/// A new page's stamp, which it opens with ([`super::html::stamp_line`]): two runs
/// writing one report directory at once never take each other's page for their own.
pub fn stamp() -> String {
    format!("{:016x}", crate::random::nonce())
}

/// Writes what is kept of this report's `entries` into `out`, beside the `index.html`
/// just written there with `stamp` (atomically; best effort: a cache that cannot be
/// written only means the next report renders everything).
pub fn write<'a>(
    out: &Path,
    context: &str,
    stamp: &str,
    frame: &str,
    entries: impl Iterator<Item = Written<'a>>,
) {
    let Some(page) = identity_of(&out.join("index.html")) else {
        return;
    };
    #[derive(Serialize)]
    struct EntryOut<'a> {
        key: &'a Key,
        facts: &'a Facts,
        scenario_sha256: &'a Option<String>,
        body: (usize, usize),
    }
    #[derive(Serialize)]
    struct StoredOut<'a> {
        format: u32,
        context: &'a str,
        page: String,
        stamp: &'a str,
        frame: &'a str,
        entries: BTreeMap<&'a str, EntryOut<'a>>,
    }
    let stored = StoredOut {
        format: FORMAT,
        context,
        page,
        stamp,
        frame,
        entries: entries
            .map(|w| {
                let entry = EntryOut {
                    key: w.key,
                    facts: w.facts,
                    scenario_sha256: w.scenario_sha256,
                    body: (w.body.start, w.body.len()),
                };
                (w.name, entry)
            })
            .collect(),
    };
    if let Ok(bytes) = serde_json::to_vec(&stored) {
        let _ = crate::atomic_file::write_derived(&out.join(FILE), &bytes);
    }
}

/// The key of the entry `name` just rendered, when all its files are settled at `now`
/// (else it is not kept).
pub fn key(
    index: &Index,
    name: &str,
    tasks: Vec<String>,
    bundles: Vec<(String, u64)>,
    quiet: Option<Quiet>,
    now: SystemTime,
) -> Option<Key> {
    Some(Key {
        digest: digest(index, name, now)?,
        recordings: recordings(index, &tasks, now)?,
        tasks,
        bundles,
        quiet,
    })
}

/// The digest of what the entry `name` is rendered from beside its recordings: its
/// scenario file, its cassette and the scenarios that take its task; `None` when one
/// of them is unsettled.
fn digest(index: &Index, name: &str, now: SystemTime) -> Option<String> {
    let (scenario, cassette, dependents) = index.files_of(name);
    // The scenario as read for this report too: a file changed after the run read it
    // and before it was looked at here keeps a key that never matches again.
    let mut text = format!(
        "{name}\n{dependents:?}\n{:?}\n",
        index.scenario_sha256(name)
    );
    for path in scenario.into_iter().chain([cassette.as_path()]) {
        match seen(path, now) {
            Seen::Unsettled => return None,
            other => text.push_str(&format!("{} {other:?}\n", path.display())),
        }
    }
    Some(crate::digest::sha256_hex(text.as_bytes()))
}

/// The webhook recordings of `tasks` with their [`Seen`]; `None` when one is
/// unsettled.
fn recordings(index: &Index, tasks: &[String], now: SystemTime) -> Option<Vec<(PathBuf, String)>> {
    index
        .recordings_of(tasks)
        .map(|path| match seen(path, now) {
            Seen::File(seen) => Some((path.to_owned(), seen)),
            Seen::Absent | Seen::Unsettled => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_trusted_only_once_it_has_settled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.yaml");
        let now = SystemTime::now();
        assert_eq!(seen(&path, now), Seen::Absent);
        std::fs::write(&path, "one").unwrap();
        assert_eq!(
            seen(&path, SystemTime::now()),
            Seen::Unsettled,
            "just written"
        );
        let later = SystemTime::now() + SETTLE + Duration::from_millis(100);
        let Seen::File(first) = seen(&path, later) else {
            panic!("settled")
        };
        // Replaced as every file the toolkit writes is (a new inode), same size.
        std::fs::write(dir.path().join("b.yaml"), "two").unwrap();
        std::fs::rename(dir.path().join("b.yaml"), &path).unwrap();
        let later = SystemTime::now() + SETTLE + Duration::from_millis(100);
        assert!(matches!(seen(&path, later), Seen::File(second) if second != first));
    }

    /// A modification time set back (`touch -d`, `cp -p`) does not make a file just
    /// written look settled: its change time says when it changed.
    #[cfg(unix)]
    #[test]
    fn a_modification_time_set_back_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.yaml");
        std::fs::write(&path, "one").unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
        assert_eq!(seen(&path, SystemTime::now()), Seen::Unsettled);
    }
}
