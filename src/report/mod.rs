//! The HTML report: every scenario of a suite with its last result, its models in an
//! interactive 3D viewer, its delivery timelines and its bodies:
//! `<target dir>/mesh-toolkit/report/index.html`, with the models in `models/` beside it.
//!
//! - [`results`]: the trials' results, which the harness writes as its run ends.
//! - [`collect`]: reads scenarios, cassettes, webhook recordings and results, an
//!   entry at a time.
//! - [`html`] and [`timeline`]: render the page.
//! - [`cache`]: what the last report rendered, reused for entries whose files did not
//!   change.
//! - [`serve`]: `mesh-toolkit report --serve`, the report on 127.0.0.1.
//!
//! The harness writes the report at the end of each run (not under cargo-nextest, where
//! each process runs one trial: `mesh-toolkit report` assembles it afterwards); the
//! harness's `--no-report` or `MESHY_NO_REPORT=1` turns both the results and the
//! report off.

pub mod cache;
pub mod collect;
pub mod handoff;
pub mod html;
pub mod results;
pub mod serve;
pub mod timeline;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use collect::{Index, Sources};
pub use results::{Ran, Status, TrialResult};

/// A report that could not be written.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot write '{}' of the report: {source}; the report's directory (--out, default <target \
     dir>/mesh-toolkit/report) must be a directory you can write",
    path.display()
)]
pub struct ReportError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// `<target dir>/mesh-toolkit/report`.
pub fn default_dir() -> PathBuf {
    crate::workdir::dir().join("report")
}

/// Entries read and rendered at once (in parallel): bounds the models in memory.
const CHUNK: usize = 32;
/// A bundle of models (one file the page loads at once) stops growing at this size,
/// unless it holds a single model.
const BUNDLE_BYTES: usize = 4 * 1024 * 1024;

/// The models of some entries grouped into bundles, in order: bundle id → its models,
/// and model sha256 → its bundle's id.
struct Bundles<'a> {
    members: Vec<(String, Vec<&'a collect::Asset>)>,
    of: std::collections::BTreeMap<String, String>,
}

/// Groups the distinct models of `entries` into bundles of up to [`BUNDLE_BYTES`]; a
/// bundle's id is the sha256 of its models' sha256s (so a bundle file never changes).
fn bundle<'a>(entries: impl Iterator<Item = &'a collect::Entry>) -> Bundles<'a> {
    let mut groups: Vec<Vec<&collect::Asset>> = Vec::new();
    let mut size = 0;
    let mut seen = std::collections::BTreeSet::new();
    for model in entries.flat_map(|e| e.cassette.iter().flat_map(|c| c.models.iter())) {
        if !seen.insert(model.sha256.as_str()) {
            continue;
        }
        match groups.last_mut() {
            Some(group) if size + model.bytes.len() <= BUNDLE_BYTES => group.push(model),
            _ => {
                groups.push(vec![model]);
                size = 0;
            }
        }
        size += model.bytes.len();
    }
    let mut bundles = Bundles {
        members: Vec::new(),
        of: std::collections::BTreeMap::new(),
    };
    for group in groups {
        let names: String = group.iter().map(|m| m.sha256.as_str()).collect();
        let id = crate::digest::sha256_hex(names.as_bytes())[..32].to_owned();
        for model in &group {
            bundles.of.insert(model.sha256.clone(), id.clone());
        }
        bundles.members.push((id, group));
    }
    bundles
}

/// A report read and rendered but for what the trials' results decide: each entry's
/// [`html::body`], the findings of `cassettes check`, and the model files written. The
/// harness prepares it while a replay's trials run (they change no recording), then
/// [`complete`]s it with their results.
pub struct Prepared {
    sources: Sources,
    entries: Vec<PreparedEntry>,
    check: crate::check::Report,
    /// [`cache::context`], for the cache written beside the page.
    context: String,
    /// Entries whose body came from the last report ([`cache`]).
    reused: usize,
    /// The page the cache was written with.
    last: Option<cache::Last>,
    /// The scenario files as the run read them, when it said.
    scenarios: Option<Arc<Vec<crate::scenario::ScenarioFile>>>,
}

struct PreparedEntry {
    facts: html::Facts,
    scenario_sha256: Option<String>,
    body: cache::Body,
    /// What it was rendered from (`None`: a file changed too recently to be trusted).
    key: Option<cache::Key>,
}

/// Reads `sources` and writes `out/models/<bundle>.js`, each holding the distinct
/// models of some entries (written when absent: a bundle is named by its models'
/// hashes, so its file never changes; those no entry shows any more are removed).
/// Each file is read once, for the page and for `cassettes check`.
pub fn prepare(sources: &Sources, out: &Path) -> Result<Prepared, ReportError> {
    prepare_from(sources, out, None)
}

/// [`prepare`] beside a replay's trials: what they read is taken from `shelf` (see
/// [`handoff`]), waiting for each entry's trial, and only the rest is read.
pub fn prepare_from(
    sources: &Sources,
    out: &Path,
    shelf: Option<&handoff::Shelf>,
) -> Result<Prepared, ReportError> {
    prepare_at(sources, out, shelf, std::time::SystemTime::now())
}

/// One entry of a chunk: read and checked to be rendered, or checked only, its page
/// kept from the last report (taken from the reusable entries once the chunk is read).
/// At most a chunk of them exist at once: their sizes need not match.
#[allow(clippy::large_enum_variant)]
enum Read {
    Fresh(collect::Checked<collect::Entry>),
    Kept(collect::Checked<()>),
}

/// [`prepare_from`], with the files' times judged as of `now` ([`cache`]).
fn prepare_at(
    sources: &Sources,
    out: &Path,
    shelf: Option<&handoff::Shelf>,
    now: std::time::SystemTime,
) -> Result<Prepared, ReportError> {
    let scenarios = shelf.and_then(handoff::Shelf::scenarios_shared);
    prepare_with(sources, out, shelf, scenarios, now, true)
}

/// [`prepare_at`] from the scenario files the run read (`None`: read them), taking
/// what it can from the last report only when `cached`.
fn prepare_with(
    sources: &Sources,
    out: &Path,
    shelf: Option<&handoff::Shelf>,
    scenarios: Option<Arc<Vec<crate::scenario::ScenarioFile>>>,
    now: std::time::SystemTime,
    cached: bool,
) -> Result<Prepared, ReportError> {
    let index = Index::read(sources, scenarios.as_deref().map(Vec::as_slice));
    let models = out.join("models");
    std::fs::create_dir_all(&models).map_err(failed(&models))?;
    let context = cache::context(sources);
    let mut cache = if cached {
        cache::Cache::read(out, &context)
    } else {
        cache::Cache::default()
    };
    let mut reusable: std::collections::BTreeMap<String, cache::Kept> = index
        .names
        .iter()
        .filter_map(|name| Some((name.clone(), cache.reuse(&index, name, &models, now)?)))
        .collect();
    let last = cache.last();
    drop(cache);
    let reused = reusable.len();
    // What the check took from their files stands: their trials need hand nothing over.
    if let Some(shelf) = shelf {
        shelf.forget(
            reusable
                .iter()
                .filter(|(_, kept)| kept.key.quiet.is_some())
                .map(|(name, _)| name.as_str()),
        );
    }
    let options = crate::check::CheckOptions {
        cassettes: sources.cassettes.clone(),
        scenarios: sources.scenarios.clone(),
        max_age: None,
        v1_is_problem: false,
        today: None,
        invocation: sources.invocation.clone(),
    };
    let mut checker = crate::check::Checker::with_scenarios(&options, index.loaded_scenarios());
    let mut entries = Vec::with_capacity(index.names.len());
    let mut shown = std::collections::BTreeSet::new();
    let mut cassettes_checked = Vec::with_capacity(index.names.len());
    let mut recordings_checked = Vec::with_capacity(index.names.len());
    for chunk in index.names.chunks(CHUNK) {
        // Each entry waits for its trial (if one hands it over), then is read and
        // rendered; one the last report rendered is only checked, and not even read when
        // the check found nothing in its files then.
        let read = crate::parallel::map(chunk, |name| {
            let given = || shelf.and_then(|s| s.take(name));
            match reusable.get(name) {
                Some(kept) => Read::Kept(match &kept.key.quiet {
                    Some(quiet) => quiet.checked(&index.cassette_path(name)),
                    None => index.check_only(name, &checker, given(), &kept.key.tasks),
                }),
                None => Read::Fresh(index.entry(name, &checker, given())),
            }
        });
        let bundles = bundle(read.iter().filter_map(|r| match r {
            Read::Fresh(checked) => Some(&checked.item),
            Read::Kept(..) => None,
        }));
        let mut lengths = std::collections::BTreeMap::new();
        for (id, members) in &bundles.members {
            let path = models.join(format!("{id}.js"));
            let length = u64::try_from(html::bundle_len(members)).unwrap_or(u64::MAX);
            lengths.insert(id.as_str(), length);
            // Named by its models' hashes: one already there holds the same, unless
            // something else cut it short (a copied artifact, a full disk).
            let whole = std::fs::metadata(&path).is_ok_and(|m| m.is_file() && m.len() == length);
            if !whole {
                let script = html::bundle_script(members);
                crate::atomic_file::write_derived(&path, script.as_bytes())
                    .map_err(failed(&path))?;
            }
            shown.insert(id.clone());
        }
        let bundle_of = |sha: &str| bundles.of.get(sha).cloned().unwrap_or_default();
        let length_of = |id: &str| lengths.get(id).copied().unwrap_or(u64::MAX);
        let rendered = crate::parallel::map(&read, |read| match read {
            Read::Fresh(checked) => Some(render(&index, checked, &bundle_of, &length_of, now)),
            Read::Kept(..) => None,
        });
        // The entries (their models, their recordings) go: only their pages stay.
        for ((name, read), rendered) in chunk.iter().zip(read).zip(rendered) {
            let (cassette, recordings) = match read {
                Read::Fresh(checked) => {
                    entries.extend(rendered);
                    (checked.cassette, checked.recordings)
                }
                Read::Kept(checked) => {
                    if let Some(kept) = reusable.remove(name) {
                        shown.extend(kept.key.bundles.iter().map(|(id, _)| id.clone()));
                        entries.push(PreparedEntry {
                            facts: kept.facts,
                            scenario_sha256: kept.scenario_sha256,
                            body: kept.body,
                            key: Some(kept.key),
                        });
                    }
                    (checked.cassette, checked.recordings)
                }
            };
            cassettes_checked.extend(cassette);
            recordings_checked.extend(recordings);
        }
    }
    sweep_models(&models, &shown);
    cassettes_checked.extend(
        crate::parallel::map(&index.rerecordings, |path| {
            let (file, text) = crate::cassette::CassetteFile::read_with_text(path);
            checker.cassette_file(&file, text.as_deref())
        })
        .into_iter()
        .flatten(),
    );
    // In file order, as `cassettes check` adds them; every cassette before any recording.
    cassettes_checked.sort_by(|a, b| a.path().cmp(b.path()));
    for cassette in cassettes_checked {
        checker.add_cassette(cassette);
    }
    let read: std::collections::BTreeSet<PathBuf> = recordings_checked
        .iter()
        .map(|r| r.path().to_owned())
        .collect();
    recordings_checked.extend(index.other_recordings(&read, &checker));
    recordings_checked.sort_by(|a, b| a.path().cmp(b.path()));
    for recording in recordings_checked {
        checker.add_recording(recording);
    }
    let check = checker.finish();
    Ok(Prepared {
        sources: sources.clone(),
        entries,
        check,
        context,
        reused,
        last,
        scenarios,
    })
}

impl Prepared {
    /// How many entries' pages were kept from the last report ([`cache`]).
    pub fn reused(&self) -> usize {
        self.reused
    }
}

/// An entry read and checked, rendered, with the key it is kept under. `bundle_of`
/// names the bundle that holds a model (by its sha256), `length_of` a bundle's length.
fn render(
    index: &Index,
    checked: &collect::Checked<collect::Entry>,
    bundle_of: &dyn Fn(&str) -> String,
    length_of: &dyn Fn(&str) -> u64,
    now: std::time::SystemTime,
) -> PreparedEntry {
    let entry = &checked.item;
    let (tasks, bundles) = entry.cassette.as_ref().map_or_else(Default::default, |c| {
        let tasks = c.tasks.iter().map(|(_, id)| id.clone()).collect();
        let ids: std::collections::BTreeSet<String> =
            c.models.iter().map(|m| bundle_of(&m.sha256)).collect();
        let bundles = ids.into_iter().map(|id| {
            let length = length_of(&id);
            (id, length)
        });
        (tasks, bundles.collect())
    });
    PreparedEntry {
        facts: html::Facts::of(entry),
        scenario_sha256: entry.scenario_sha256.clone(),
        body: cache::Body::Rendered(html::body(entry, bundle_of)),
        key: cache::key(
            index,
            &entry.name,
            tasks,
            bundles,
            cache::Quiet::of(checked),
            now,
        ),
    }
}

/// A report written.
#[derive(Debug, Clone)]
pub struct Written {
    /// Its `index.html`.
    pub path: PathBuf,
    /// How many of its entries have a result (the others show "not run").
    pub with_results: usize,
    pub entries: usize,
    /// Where the results were looked for.
    pub results: PathBuf,
    /// The page was left as it was: it would have come out the same but for when it
    /// was generated.
    pub unchanged: bool,
}

impl Written {
    /// The line that tells where the report is (and when it was left as it was), and
    /// the command that serves it.
    pub fn located(&self, commands: &crate::command::Commands) -> String {
        let shown = collect::absolute(&self.path);
        format!(
            "report: {} ({}open it in a browser; `{}` serves it on 127.0.0.1)",
            shown.display(),
            if self.unchanged {
                "unchanged: nothing it shows changed since it was generated; "
            } else {
                ""
            },
            commands.cli("report --serve")
        )
    }

    /// The line that tells where the report is, and a note when no result was found
    /// (with the command that writes them), as `commands` run the suite.
    pub fn announce(&self, commands: &crate::command::Commands) -> String {
        let mut text = self.located(commands);
        let replay = commands.test(None, "");
        if self.with_results == 0 && self.entries > 0 {
            text.push_str(&format!(
                "\nnote: no trial results for these cassettes in '{}', so every trial shows as not run: run \
                 `{replay}` first (it writes them under <target dir>/mesh-toolkit/results), or pass --results DIR",
                self.results.display()
            ));
        }
        text
    }
}

/// Adds the results (those of runs against these cassettes) and writes
/// `out/index.html` atomically. `generated` says by what and when.
pub fn complete(prepared: Prepared, out: &Path, generated: &str) -> Result<Written, ReportError> {
    let Prepared {
        sources,
        mut entries,
        check,
        context,
        reused: _,
        last,
        scenarios,
    } = prepared;
    let results = results::of_cassettes(&sources.results, &sources.cassettes);
    let mut heads = Vec::with_capacity(entries.len());
    for entry in &mut entries {
        let result = results.get(&entry.facts.name);
        entry.facts.status = result.map(|r| r.status);
        let stale = result.is_some_and(|r| {
            r.scenario_sha256.is_some() && r.scenario_sha256 != entry.scenario_sha256
        });
        heads.push(html::head(&entry.facts.name, result, stale));
    }
    let facts: Vec<html::Facts> = entries.iter().map(|e| e.facts.clone()).collect();
    let with_results = facts.iter().filter(|f| f.status.is_some()).count();
    let path = out.join("index.html");
    let written = Written {
        path: path.clone(),
        with_results,
        entries: facts.len(),
        results: sources.results.clone(),
        unchanged: false,
    };
    // A page that would come out as it is (every body kept where it is, the same
    // heads and summary) is left alone: an unchanged suite rewrites nothing.
    let blank_top = html::top(&sources, &facts, &check, "", "");
    let heads_of = || heads.iter().map(String::as_str);
    let kept: Option<Vec<std::ops::Range<usize>>> = entries.iter().map(|e| e.body.kept()).collect();
    if let (Some(last), Some(kept)) = (&last, kept)
        && last.same(out, &cache::frame(&blank_top, heads_of(), kept.into_iter()))
    {
        return Ok(Written {
            unchanged: true,
            ..written
        });
    }
    // The last page changed since the cache was read (another run wrote it): what was
    // kept of it is gone, so everything is rendered afresh (once: nothing is kept then).
    if !entries.iter().all(|e| e.body.whole()) {
        let now = std::time::SystemTime::now();
        let fresh = prepare_with(&sources, out, None, scenarios, now, false)?;
        return complete(fresh, out, generated);
    }
    let sections: Vec<[&str; 2]> = heads
        .iter()
        .zip(&entries)
        .map(|(head, entry)| [head.as_str(), entry.body.as_str()])
        .collect();
    let stamp = cache::stamp();
    let top = html::top(&sources, &facts, &check, generated, &stamp);
    let mut bodies = Vec::new();
    crate::atomic_file::write_derived_with(&path, |file| {
        let mut file = std::io::BufWriter::with_capacity(1 << 16, file);
        bodies = html::write_page(&mut file, &top, &sections)?;
        std::io::Write::flush(&mut file)
    })
    .map_err(failed(&path))?;
    cache::write(
        out,
        &context,
        &stamp,
        &cache::frame(&blank_top, heads_of(), bodies.iter().cloned()),
        entries.iter().zip(bodies).filter_map(|(entry, body)| {
            Some(cache::Written {
                name: &entry.facts.name,
                key: entry.key.as_ref()?,
                facts: &entry.facts,
                scenario_sha256: &entry.scenario_sha256,
                body,
            })
        }),
    );
    Ok(written)
}

/// Builds the report of `sources` into `out` ([`prepare`], then [`complete`]).
pub fn write(sources: &Sources, out: &Path, generated: &str) -> Result<Written, ReportError> {
    complete(prepare(sources, out)?, out, generated)
}

fn failed(path: &Path) -> impl Fn(std::io::Error) -> ReportError + use<> {
    let path = path.to_owned();
    move |source| ReportError {
        path: path.clone(),
        source,
    }
}

/// Removes the bundles of `dir` that no entry shows and that are older than the
/// report last written beside it (best effort): a bundle newer than that page may be
/// another process's, written for the page it is about to write.
fn sweep_models(dir: &Path, shown: &std::collections::BTreeSet<String>) {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let Some(page) = dir
        .parent()
        .and_then(|out| modified(&out.join("index.html")))
    else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let unshown = name
            .strip_suffix(".js")
            .is_some_and(|id| !shown.contains(id));
        if unshown && modified(&entry.path()).is_some_and(|at| at < page) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// `generated by <what> at <now>`.
pub fn generated_by(what: &str) -> String {
    format!("generated by {what} at {}", crate::clock::now_rfc3339())
}

#[cfg(test)]
mod tests {
    use super::handoff::Shelf;
    use super::*;
    use crate::cassette::{Cassette, CassetteFile};
    use crate::webhooks::{Recording, RecordingFile};
    use collect::tests::get;

    /// A suite of one webhook scenario `fox` with its cassette (a create call and its
    /// model) and its task's webhook recording: the sources, and the two files' paths.
    fn suite(dir: &Path) -> (Sources, PathBuf, PathBuf) {
        let sources = Sources {
            scenarios: dir.join("scenarios"),
            cassettes: dir.join("cassettes"),
            results: dir.join("results"),
            invocation: Default::default(),
        };
        std::fs::create_dir_all(&sources.scenarios).unwrap();
        std::fs::write(
            sources.scenarios.join("fox.toml"),
            "species = \"fox\"\ntask_type = \"text3d\"\nprompt = \"Fox\"\n",
        )
        .unwrap();
        let mut create = get(
            "https://api.meshy.ai/openapi/v2/text-to-3d",
            "application/json",
            br#"{"id":"task-fox","type":"text-to-3d","status":"PENDING","progress":0}"#.to_vec(),
        );
        create.request.method = "POST".into();
        create.response.status = 202;
        let cassette = Cassette {
            interactions: vec![
                create,
                get(
                    "https://assets.meshy.ai/tasks/task-fox/output/model.glb",
                    "model/gltf-binary",
                    crate::sim::assets::glb("task-fox"),
                ),
            ],
            recorded_against: Some(crate::cassette::RecordedAgainst::Simulator),
            incomplete: false,
            pending: Vec::new(),
            recorded_at: Some("2026-12-01T00:00:00.000Z".into()),
        };
        let cassette_path = sources.cassettes.join("http/fox.yaml");
        std::fs::create_dir_all(cassette_path.parent().unwrap()).unwrap();
        std::fs::write(&cassette_path, cassette.to_yaml()).unwrap();
        let payload = serde_json::json!({
            "id": "task-fox", "type": "text-to-3d", "status": "SUCCEEDED", "progress": 100,
            "input": {}, "output": {"model_urls": {"glb": "https://assets.meshy.ai/tasks/task-fox/output/model.glb"}},
        });
        let recording = Recording {
            incomplete: false,
            species: "fox".into(),
            task_type: "text3d".into(),
            task_id: "task-fox".into(),
            scenario: Some("fox".into()),
            received_at: "2026-12-01T00:01:00.000Z".into(),
            headers: Default::default(),
            payload: payload.clone(),
            payload_source: None,
            deliveries: vec![crate::webhooks::Delivery {
                received_at: "2026-12-01T00:01:00.000Z".into(),
                headers: Default::default(),
                payload,
            }],
        };
        let recording_path = crate::webhooks::recording_path(
            &sources.cassettes.join("webhooks"),
            "fox",
            "text3d",
            "task-fox",
        );
        std::fs::create_dir_all(recording_path.parent().unwrap()).unwrap();
        recording.save(&recording_path).unwrap();
        (sources, cassette_path, recording_path)
    }

    /// The report beside a replay takes the files its trial read from the shelf:
    /// it reads neither again, and what it prepares is what reading them gives.
    #[test]
    fn files_a_trial_handed_over_are_not_read_again_and_render_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let (sources, cassette, recording) = suite(dir.path());
        let read = prepare(&sources, &dir.path().join("read")).unwrap();

        let shelf = Shelf::new(["fox".to_owned()]);
        let (file, text) = CassetteFile::read_with_text(&cassette);
        let recordings = vec![Arc::new(RecordingFile::read(&recording))];
        shelf.give(
            "fox",
            Some(handoff::Given {
                cassette: Some((file, text.unwrap())),
                recordings,
            }),
        );
        let reads = |path: &Path| crate::cassette::reads::of(path);
        let before = (reads(&cassette), reads(&recording));
        let given = prepare_from(&sources, &dir.path().join("given"), Some(&shelf)).unwrap();
        assert_eq!(
            (reads(&cassette), reads(&recording)),
            before,
            "nothing read again"
        );

        let bodies = |p: &Prepared| {
            p.entries
                .iter()
                .map(|e| e.body.as_str().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(bodies(&given), bodies(&read));
        assert!(
            bodies(&given)[0].contains("model.glb"),
            "{:?}",
            bodies(&given)
        );
        assert!(
            bodies(&given)[0].contains("SUCCEEDED"),
            "the recording's delivery is shown"
        );
        assert_eq!(given.check, read.check);
    }

    /// The scenario files ride on the shelf as the run read them when it started: the
    /// report reads none of them again (changed on disk since, the entry still shows
    /// the scenario the trial ran, with its digest).
    #[test]
    fn scenario_files_the_run_read_are_not_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let (sources, _, _) = suite(dir.path());
        let path = sources.scenarios.join("fox.toml");
        let read = Arc::new(vec![crate::scenario::ScenarioFile::read(&path)]);
        std::fs::write(&path, "species = [ broken").unwrap();
        let shelf = Shelf::new(["fox".to_owned()]).with_scenarios(Arc::clone(&read));
        shelf.close();
        let given = prepare_from(&sources, &dir.path().join("given"), Some(&shelf)).unwrap();
        assert_eq!(given.entries[0].scenario_sha256, read[0].sha256);
        assert!(read[0].sha256.is_some());
        let kind = |p: &Prepared| {
            let body = p.entries[0].body.as_str().to_owned();
            let at = body.find("<dt>kind</dt><dd>").expect("a kind") + 17;
            body[at..].split('<').next().unwrap_or_default().to_owned()
        };
        assert_eq!(kind(&given), "webhook");
        // Without the run's files, the report reads the file as it is now.
        let own = prepare(&sources, &dir.path().join("own")).unwrap();
        assert_eq!(kind(&own), "invalid");
        assert_ne!(own.entries[0].scenario_sha256, read[0].sha256);
    }

    /// An entry is kept only for the scenario file as the run read it: a file changed
    /// after the run read it (its times since settled) never passes for the old one.
    #[test]
    fn an_entry_is_kept_only_for_the_scenario_as_the_run_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let (sources, ..) = suite(dir.path());
        let out = dir.path().join("out");
        let read = crate::scenario::ScenarioFile::read(&sources.scenarios.join("fox.toml"));
        let with = |file: crate::scenario::ScenarioFile| {
            let shelf = Shelf::new(Vec::new()).with_scenarios(Arc::new(vec![file]));
            prepare_at(&sources, &out, Some(&shelf), settled())
                .and_then(|p| complete(p, &out, "test"))
                .unwrap();
            let shelf = Shelf::new(Vec::new()).with_scenarios(Arc::new(vec![read.clone()]));
            prepare_at(&sources, &out, Some(&shelf), settled())
                .unwrap()
                .reused()
        };
        assert_eq!(with(read.clone()), 1, "the same read: kept");
        let mut other = read.clone();
        other.sha256 = Some("another".into());
        assert_eq!(
            with(other),
            0,
            "another read of the same file: rendered again"
        );
    }

    /// A model bundle cut short by something else is written whole again when an
    /// entry showing its models is rendered.
    #[test]
    fn a_bundle_cut_short_is_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let (sources, ..) = suite(dir.path());
        let out = dir.path().join("out");
        write(&sources, &out, "test").unwrap();
        let bundle = std::fs::read_dir(out.join("models"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .next()
            .expect("a bundle");
        let whole = std::fs::read(&bundle).unwrap();
        std::fs::write(&bundle, &whole[..whole.len() / 2]).unwrap();
        std::fs::remove_file(out.join(cache::FILE)).unwrap();
        write(&sources, &out, "test").unwrap();
        assert_eq!(std::fs::read(&bundle).unwrap(), whole);
    }

    /// Closed, the shelf waits for nothing: an entry whose trial never gave is read.
    #[test]
    fn an_entry_no_trial_handed_over_is_read_once_the_run_is_over() {
        let dir = tempfile::tempdir().unwrap();
        let (sources, cassette, _) = suite(dir.path());
        let shelf = Shelf::new(["fox".to_owned()]);
        shelf.close();
        let before = crate::cassette::reads::of(&cassette);
        let prepared = prepare_from(&sources, &dir.path().join("out"), Some(&shelf)).unwrap();
        assert_eq!(crate::cassette::reads::of(&cassette), before + 1);
        assert_eq!(prepared.entries.len(), 1);
    }

    /// A time at which every file the test wrote has settled (`cache::SETTLE`).
    fn settled() -> std::time::SystemTime {
        std::time::SystemTime::now() + cache::SETTLE * 2
    }

    /// Prepares and writes the report of `sources` into `out` as of `now`: what was
    /// prepared (its bodies and check) and the reads of `files` it took.
    fn report(
        sources: &Sources,
        out: &Path,
        now: std::time::SystemTime,
        files: &[&Path],
    ) -> (usize, Vec<String>, crate::check::Report, usize) {
        let reads = |files: &[&Path]| -> usize {
            files.iter().map(|f| crate::cassette::reads::of(f)).sum()
        };
        let before = reads(files);
        let prepared = prepare_at(sources, out, None, now).unwrap();
        let mut check = prepared.check.clone();
        // Ages count to the moment of each check: two checks a second apart differ.
        for row in &mut check.rows {
            row.age_secs = row.age_secs.map(|_| 0);
        }
        let reused = prepared.reused();
        let bodies = prepared
            .entries
            .iter()
            .map(|e| e.body.as_str().to_owned())
            .collect();
        complete(prepared, out, "generated by a test").unwrap();
        (reused, bodies, check, reads(files) - before)
    }

    /// An unchanged suite's second report takes each entry from the first: the same
    /// bodies and check, without reading its cassette or its webhook recording.
    #[test]
    fn an_unchanged_entry_is_taken_from_the_last_report_without_reading_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let (sources, cassette, recording) = suite(dir.path());
        let out = dir.path().join("out");
        let files = [cassette.as_path(), recording.as_path()];
        let (reused, bodies, check, reads) = report(&sources, &out, settled(), &files);
        assert_eq!((reused, reads), (0, 2), "the first report reads both");
        assert_eq!(check.findings, [], "a suite the check finds nothing in");
        // The page but for its stamp (`cache::stamp`), new with each page.
        let page = || {
            let page = std::fs::read_to_string(out.join("index.html")).unwrap();
            page.split_once(" -->\n").unwrap().1.to_owned()
        };
        let first = page();

        let (reused, again, check_again, reads) = report(&sources, &out, settled(), &files);
        assert_eq!((reused, reads), (1, 0), "nothing read again");
        assert_eq!(again, bodies);
        assert_eq!(check_again, check);
        assert_eq!(page(), first, "the same page");
        // A page written again from kept bodies (a new result changes a head) is the
        // page a report rendering everything afresh writes.
        results::write(&sources.results, &[passed(&sources)]).unwrap();
        let (reused, ..) = report(&sources, &out, settled(), &files);
        assert_eq!(reused, 1);
        let kept = page();
        assert_ne!(kept, first, "written again");
        std::fs::remove_file(out.join(cache::FILE)).unwrap();
        assert_eq!(report(&sources, &out, settled(), &files).0, 0);
        assert_eq!(page(), kept, "the same as rendered afresh");
    }

    /// A passed replay of the suite's `fox`.
    fn passed(sources: &Sources) -> TrialResult {
        TrialResult {
            trial: "fox".into(),
            kind: "webhook".into(),
            status: Status::Passed,
            message: None,
            ran: Ran::Replay,
            target: None,
            cassettes: collect::absolute(&sources.cassettes),
            scenario_file: None,
            scenario_sha256: None,
            task_id: None,
            duration_ms: None,
        }
    }

    /// Whatever an entry is rendered from, changed, renders it again.
    #[test]
    fn a_changed_file_bundle_or_page_renders_the_entry_again() {
        let dir = tempfile::tempdir().unwrap();
        let (sources, cassette, recording) = suite(dir.path());
        let out = dir.path().join("out");
        let first = report(&sources, &out, settled(), &[]).1;
        let replace = |path: &Path, text: String| {
            let temp = path.with_extension("new");
            std::fs::write(&temp, text).unwrap();
            std::fs::rename(&temp, path).unwrap();
        };
        let again = |what: &str| {
            let (reused, bodies, ..) = report(&sources, &out, settled(), &[]);
            assert_eq!(reused, 0, "{what}: rendered again");
            // And kept again: the next report takes it.
            assert_eq!(report(&sources, &out, settled(), &[]).0, 1, "{what}");
            bodies
        };
        // The cassette: its file replaced, same text.
        replace(&cassette, std::fs::read_to_string(&cassette).unwrap());
        assert_eq!(again("cassette"), first);
        // The webhook recording, with another delivery.
        let text = std::fs::read_to_string(&recording).unwrap();
        replace(&recording, text.replace("\"SUCCEEDED\"", "\"FAILED\""));
        assert_ne!(again("recording"), first);
        // Another recording of its task.
        let second = crate::webhooks::recording_path(
            &sources.cassettes.join("webhooks"),
            "beaver",
            "text3d",
            "task-fox",
        );
        std::fs::copy(&recording, second).unwrap();
        again("a second recording");
        // A scenario that takes its task as input (its body names it), then none.
        let before = report(&sources, &out, settled(), &[]).1;
        let owl = sources.scenarios.join("owl.toml");
        std::fs::write(
            &owl,
            "species = \"owl\"\ntask_type = \"remesh\"\ninput = \"fox\"\n",
        )
        .unwrap();
        let with_owl = report(&sources, &out, settled(), &[]).1;
        assert_ne!(with_owl[0], before[0], "owl takes fox's task");
        std::fs::remove_file(&owl).unwrap();
        assert_eq!(
            report(&sources, &out, settled(), &[]).1,
            before,
            "and no more"
        );
        // The scenario file.
        let scenario = sources.scenarios.join("fox.toml");
        replace(
            &scenario,
            std::fs::read_to_string(&scenario).unwrap() + "\n",
        );
        again("scenario");
        // A model bundle gone.
        // A bundle cut short (a truncated copy, a full disk): the entry is rendered
        // again, and the bundle written whole.
        let bundle = std::fs::read_dir(out.join("models"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let whole = std::fs::metadata(&bundle).unwrap().len();
        std::fs::File::options()
            .write(true)
            .open(&bundle)
            .unwrap()
            .set_len(whole - 1)
            .unwrap();
        again("bundle cut short");
        assert_eq!(std::fs::metadata(&bundle).unwrap().len(), whole);
        for bundle in std::fs::read_dir(out.join("models")).unwrap() {
            std::fs::remove_file(bundle.unwrap().path()).unwrap();
        }
        again("bundle");
        assert_eq!(
            std::fs::read_dir(out.join("models")).unwrap().count(),
            1,
            "written again"
        );
        // The page.
        let page = out.join("index.html");
        replace(
            &page,
            std::fs::read_to_string(&page)
                .unwrap()
                .replace("fox", "fix"),
        );
        again("page");
    }

    /// An unchanged suite's report leaves its page as it is (and says so); a new result
    /// writes it again.
    #[test]
    fn a_page_that_would_come_out_the_same_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (sources, ..) = suite(dir.path());
        let out = dir.path().join("out");
        let page = out.join("index.html");
        let written = |generated: &str| {
            complete(
                prepare_at(&sources, &out, None, settled()).unwrap(),
                &out,
                generated,
            )
            .unwrap()
        };
        let identity = || cache::identity_of(&page).unwrap();
        assert!(!written("generated first").unchanged);
        let first = (identity(), std::fs::read_to_string(&page).unwrap());
        let reads = crate::cassette::reads::of(&page);
        let again = written("generated again");
        assert!(again.unchanged, "{again:?}");
        assert_eq!(
            crate::cassette::reads::of(&page),
            reads,
            "the page left alone is not read"
        );
        assert_eq!((identity(), std::fs::read_to_string(&page).unwrap()), first);
        assert!(
            again
                .located(&crate::command::Commands::default())
                .contains("unchanged")
        );
        // A result for the trial changes its head: the page is written again, and the
        // cache beside it knows it.
        results::write(&sources.results, &[passed(&sources)]).unwrap();
        assert!(!written("generated with a result").unchanged);
        let text = std::fs::read_to_string(&page).unwrap();
        assert!(
            text.contains("generated with a result") && text.contains("last run: passed"),
            "{text}"
        );
        assert!(written("generated once more").unchanged);
        // A new finding of the check (an interrupted re-recording beside the cassette)
        // changes only the summary: written again too.
        std::fs::write(
            sources.cassettes.join("http/fox.rerecording.yaml"),
            "interactions: []\nincomplete: true\nversion: 1\n",
        )
        .unwrap();
        let found = written("generated with a finding");
        assert!(!found.unchanged && found.entries == 1);
        assert!(
            std::fs::read_to_string(&page)
                .unwrap()
                .contains("fox.rerecording.yaml")
        );
        assert!(written("generated once more").unchanged);
        // Nor is a page another run replaced since the cache was written left alone
        // (as a run writes it: a new file renamed over it).
        let prepared = prepare_at(&sources, &out, None, settled()).unwrap();
        let copy = out.join("index.html.copy");
        let before = std::fs::read_to_string(&page).unwrap();
        // Theirs: the same stamp and layout, another body (what a kept range would
        // take from it if the page were not checked).
        let (head, bodies) = before.split_once("<article").unwrap();
        std::fs::write(
            &copy,
            format!("{head}<article{}", bodies.replace("fox", "fix")),
        )
        .unwrap();
        std::fs::rename(&copy, &page).unwrap();
        assert!(
            !complete(prepared, &out, "generated last")
                .unwrap()
                .unchanged
        );
        // Its bodies were not taken from a page that is no longer the one the cache
        // knew: the entry was rendered afresh, whole.
        let body = |page: &str| page.split_once("<article").unwrap().1.to_owned();
        let after = std::fs::read_to_string(&page).unwrap();
        assert!(after.contains("generated last"));
        assert_eq!(body(&after), body(&before));
    }

    /// Two runs writing one report directory at once: a cache written beside another
    /// run's page (same file identity, another stamp) is not used.
    #[test]
    fn a_cache_beside_another_runs_page_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let (sources, ..) = suite(dir.path());
        let out = dir.path().join("out");
        report(&sources, &out, settled(), &[]);
        let cache = out.join(cache::FILE);
        let ours: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
        // Their run writes the page again (its cache, as an earlier version's, does not
        // say what the page was).
        let mut older = ours.clone();
        older.as_object_mut().unwrap().remove("frame");
        std::fs::write(&cache, serde_json::to_vec(&older).unwrap()).unwrap();
        assert_eq!(report(&sources, &out, settled(), &[]).0, 1);
        let theirs: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&cache).unwrap()).unwrap();
        assert_ne!(ours["stamp"], theirs["stamp"]);
        // Ours, written as if after their page was: its identity, our stamp.
        let mut mixed = ours.clone();
        mixed["page"] = theirs["page"].clone();
        std::fs::write(&cache, serde_json::to_vec(&mixed).unwrap()).unwrap();
        assert_eq!(report(&sources, &out, settled(), &[]).0, 0);
        // The same with their stamp is theirs: taken.
        report(&sources, &out, settled(), &[]);
        assert_eq!(report(&sources, &out, settled(), &[]).0, 1);
    }

    /// A file changed less than `cache::SETTLE` ago is not trusted: its entry is
    /// rendered, and not kept for the next report.
    #[test]
    fn an_entry_whose_files_just_changed_is_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (sources, ..) = suite(dir.path());
        let out = dir.path().join("out");
        // As of when the cassette was written: it has not settled then, whatever the
        // test's own pace.
        let cassette = sources.cassettes.join("http/fox.yaml");
        let now = std::fs::metadata(&cassette).unwrap().modified().unwrap();
        report(&sources, &out, now, &[]);
        assert_eq!(
            report(&sources, &out, settled(), &[]).0,
            0,
            "nothing was kept"
        );
        assert_eq!(report(&sources, &out, settled(), &[]).0, 1);
    }

    /// An entry whose files gave a finding keeps its page, but its files are read and
    /// checked again: the finding is never taken on trust, nor its absence.
    #[test]
    fn an_entry_with_a_finding_is_checked_again() {
        let dir = tempfile::tempdir().unwrap();
        let (sources, cassette, _) = suite(dir.path());
        let text = std::fs::read_to_string(&cassette).unwrap();
        let leaked = text.replacen("recorded_at:", "# authorization: Bearer x\nrecorded_at:", 1);
        assert_ne!(leaked, text);
        std::fs::write(&cassette, leaked).unwrap();
        let out = dir.path().join("out");
        let (_, _, check, _) = report(&sources, &out, settled(), &[]);
        let leak = |check: &crate::check::Report| {
            check
                .findings
                .iter()
                .any(|f| f.file == cassette && f.what.contains("authorization"))
        };
        assert!(leak(&check), "{:?}", check.findings);
        let (reused, _, check, reads) = report(&sources, &out, settled(), &[&cassette]);
        assert_eq!((reused, reads), (1, 1));
        assert!(leak(&check), "{:?}", check.findings);
    }

    /// Beside a replay, the report tells the trials of entries it takes whole from its
    /// cache to hand nothing over.
    #[test]
    fn a_replay_hands_nothing_over_for_entries_the_cache_holds() {
        let dir = tempfile::tempdir().unwrap();
        let (sources, ..) = suite(dir.path());
        let out = dir.path().join("out");
        report(&sources, &out, settled(), &[]);
        let shelf = Arc::new(Shelf::new(["fox".to_owned()]));
        let reused = within_deadline(&shelf, move |shelf| {
            prepare_at(&sources, &out, Some(shelf), settled())
                .unwrap()
                .reused()
        });
        assert_eq!(reused, 1);
        assert!(!shelf.expects("fox"), "fox's trial need not give");
    }

    /// `f` given `shelf` on another thread; past a deadline the shelf is closed (so
    /// nothing waits on it any more) and the test fails: a wait that should not happen
    /// fails the test instead of hanging it.
    fn within_deadline<T: Send + 'static>(
        shelf: &Arc<Shelf>,
        f: impl FnOnce(&Shelf) -> T + Send + 'static,
    ) -> T {
        let (sent, received) = std::sync::mpsc::channel();
        let worker = {
            let shelf = Arc::clone(shelf);
            std::thread::spawn(move || {
                let _ = sent.send(f(&shelf));
            })
        };
        match received.recv_timeout(std::time::Duration::from_secs(10)) {
            Ok(value) => {
                worker.join().unwrap();
                value
            }
            Err(_) => {
                shelf.close();
                let _ = worker.join();
                panic!("waited on the shelf for an entry nothing was to give");
            }
        }
    }

    /// What a trial hands over holds what the check reads of its cassette's text, not
    /// its models' base64: the reading gives only that.
    #[test]
    fn what_is_handed_over_is_cut_to_what_the_check_reads() {
        let dir = tempfile::tempdir().unwrap();
        let (_, cassette, _) = suite(dir.path());
        let whole = std::fs::read_to_string(&cassette).unwrap();
        assert!(whole.contains("!!binary"));
        let (file, text) = CassetteFile::read_with_text(&cassette);
        assert!(file.cassette().is_some());
        let kept = text.unwrap();
        assert_eq!(kept, crate::check::scanned_text(&whole));
        assert!(kept.contains("!!binary |"), "{kept}");
        assert!(kept.len() < whole.len() / 2, "{kept}");
    }

    /// The trials of entries the report takes from its cache hand nothing over.
    #[test]
    fn a_shelf_keeps_nothing_of_the_trials_the_report_forgot() {
        let shelf = Shelf::new(["fox".to_owned(), "owl".to_owned()]);
        let given = || handoff::Given {
            cassette: None,
            recordings: Vec::new(),
        };
        shelf.give("fox", Some(given()));
        shelf.forget(["fox", "owl"]);
        shelf.give("owl", Some(given()));
        // Open, and nothing waited for: neither is expected any more.
        let shelf = Arc::new(shelf);
        let taken = within_deadline(&shelf, |shelf| {
            (shelf.take("fox").is_some(), shelf.take("owl").is_some())
        });
        assert_eq!(taken, (false, false));
    }
}
