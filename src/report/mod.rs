//! The HTML report: every scenario of a suite with its last result, its models in an
//! interactive 3D viewer, its delivery timelines and its bodies:
//! `<target dir>/mesh-toolkit/report/index.html`, with the models in `models/` beside it.
//!
//! - [`results`]: the per-trial result files the harness writes as trials end.
//! - [`collect`]: reads scenarios, cassettes, webhook recordings and results, an
//!   entry at a time.
//! - [`html`] and [`timeline`]: render the page.
//! - [`serve`]: `mesh-toolkit report --serve`, the report on 127.0.0.1.
//!
//! The harness writes the report at the end of each run (not under cargo-nextest, where
//! each process runs one trial: `mesh-toolkit report` assembles it afterwards); the
//! harness's `--no-report` or `MESHY_NO_REPORT=1` turns both the results and the
//! report off.

pub mod collect;
pub mod handoff;
pub mod html;
pub mod results;
pub mod serve;
pub mod timeline;

use std::path::{Path, PathBuf};

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
}

struct PreparedEntry {
    facts: html::Facts,
    scenario_sha256: Option<String>,
    body: String,
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
    let index = Index::read(sources);
    let models = out.join("models");
    std::fs::create_dir_all(&models).map_err(failed(&models))?;
    let options = crate::check::CheckOptions {
        cassettes: sources.cassettes.clone(),
        scenarios: sources.scenarios.clone(),
        max_age: None,
        v1_is_problem: false,
        today: None,
        invocation: sources.invocation.clone(),
    };
    let mut checker = crate::check::Checker::new(&options);
    let mut entries = Vec::with_capacity(index.names.len());
    let mut shown = std::collections::BTreeSet::new();
    let mut cassettes_checked = Vec::with_capacity(index.names.len());
    let mut recordings_checked = Vec::with_capacity(index.names.len());
    for chunk in index.names.chunks(CHUNK) {
        // Each entry waits for its trial (if one hands it over), then is read and rendered.
        let read = crate::parallel::map(chunk, |name| {
            index.entry(name, &checker, shelf.and_then(|s| s.take(name)))
        });
        let bundles = bundle(read.iter().map(|c| &c.item));
        for (id, members) in &bundles.members {
            let path = models.join(format!("{id}.js"));
            // Named by its models' hashes: one already there holds the same.
            if !path.is_file() {
                crate::atomic_file::write_derived(&path, html::bundle_script(members).as_bytes())
                    .map_err(failed(&path))?;
            }
            shown.insert(id.clone());
        }
        let bundle_of = |sha: &str| bundles.of.get(sha).cloned().unwrap_or_default();
        let rendered = crate::parallel::map(&read, |checked| {
            let entry = &checked.item;
            PreparedEntry {
                facts: html::Facts::of(entry),
                scenario_sha256: entry.scenario_sha256.clone(),
                body: html::body(entry, &bundle_of),
            }
        });
        entries.extend(rendered);
        // The entries (their models, their recordings) go: only their pages stay.
        for checked in read {
            cassettes_checked.extend(checked.cassette);
            recordings_checked.extend(checked.recordings);
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
    })
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
}

impl Written {
    /// The line that tells where the report is, and a note when no result was found
    /// (with the command that writes them), as `commands` run the suite.
    pub fn announce(&self, commands: &crate::command::Commands) -> String {
        let mut text = announce(&self.path, commands);
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
    } = prepared;
    let results = results::of_cassettes(&sources.results, &sources.cassettes);
    let mut sections = Vec::with_capacity(entries.len());
    for entry in &mut entries {
        let result = results.get(&entry.facts.name);
        entry.facts.status = result.map(|r| r.status);
        let stale = result.is_some_and(|r| {
            r.scenario_sha256.is_some() && r.scenario_sha256 != entry.scenario_sha256
        });
        sections.push(html::head(&entry.facts.name, result, stale) + &entry.body);
    }
    let facts: Vec<html::Facts> = entries.into_iter().map(|e| e.facts).collect();
    let with_results = facts.iter().filter(|f| f.status.is_some()).count();
    let page = html::page(&sources, &facts, &sections, &check, generated);
    let path = out.join("index.html");
    crate::atomic_file::write_derived(&path, page.as_bytes()).map_err(failed(&path))?;
    Ok(Written {
        path,
        with_results,
        entries: facts.len(),
        results: sources.results,
    })
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

/// The line that tells where the report is, and the command that serves it.
pub fn announce(path: &Path, commands: &crate::command::Commands) -> String {
    let shown = collect::absolute(path);
    format!(
        "report: {} (open it in a browser; `{}` serves it on 127.0.0.1)",
        shown.display(),
        commands.cli("report --serve")
    )
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
    use std::sync::Arc;

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
            br#"{"result":"task-fox"}"#.to_vec(),
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
        let payload = serde_json::json!({"id": "task-fox", "status": "SUCCEEDED", "progress": 100});
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
                cassette: Some((file, crate::check::scanned_text(&text.unwrap()))),
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

        let bodies = |p: &Prepared| p.entries.iter().map(|e| e.body.clone()).collect::<Vec<_>>();
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
}
