//! `mesh-toolkit cassettes migrate`: a suite's move from Meshy API v1 to v2 in one command.
//!
//! [`plan`] reads the scenario files and cassettes and says what would change, changing
//! nothing: each v1 scenario (pinned `api = "v1"`, or unpinned with a v1 cassette) is
//! rewritten for v2 — pinned `api = "v2"`, removed parameters under their v2 names (or
//! commented out, with the reason, where v2 has no twin), a `texture_model` where v2
//! asks for one, `target_formats` where the scenario expects formats beyond GLB, and a
//! v1 refine made one textured text-to-3d of its preview's prompt — and its v1
//! recordings are set aside under `cassettes/v1/` (which the suite and the check never
//! read), nothing deleted. [`Migration::render`] shows the diff and what re-recording
//! costs; [`Migration::apply`] writes it (atomically, file by file). A second run finds
//! nothing to do.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::meshy::{ApiGeneration, TaskType};
use crate::scenario::Scenario;

/// The texture model the migration names where v2 asks for one (v1 had none to keep).
pub const TEXTURE_MODEL: &str = "meshy-6-lite";

/// Where the v1 recordings of migrated scenarios are set aside, under the cassettes dir.
pub const SET_ASIDE: &str = "v1";

/// What the migration would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Migration {
    /// Scenario files rewritten: path, old text, new text.
    pub files: Vec<(PathBuf, String, String)>,
    /// Recordings set aside: from, to.
    pub moves: Vec<(PathBuf, PathBuf)>,
    /// Re-recording the migrated scenarios under v2: the known credits, and how many
    /// have no known price.
    pub cost: (u64, usize),
    /// Why the migration cannot be applied as it is (an unfinished recording, a file v2
    /// would refuse): [`Migration::apply`] changes nothing while there is one.
    pub refusals: Vec<String>,
    /// The printed commands: the suite's test target, the directories.
    commands: crate::command::Commands,
    /// The scenario files' directory.
    scenarios: PathBuf,
    /// What each scenario whose recording is set aside was recorded against (the real
    /// API when its cassette does not say): its v2 recording is made there again.
    aims: BTreeMap<String, crate::cassette::RecordedAgainst>,
}

/// Why the migration could not be planned or applied.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("cannot read '{}': {source}; run from the project's root, or pass --scenarios DIR", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot write '{}': {source}; run the same `cassettes migrate --yes` again to finish: it picks up where this stopped",
        path.display()
    )]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "'{}' exists already, so '{}' cannot be set aside there; move one of them by hand (nothing was changed)",
        to.display(),
        from.display()
    )]
    Occupied { from: PathBuf, to: PathBuf },
    #[error("nothing was changed:\n{}", .0.join("\n"))]
    Refused(Vec<String>),
}

/// Reads the suite and says what moving it to v2 means. Changes nothing.
/// `invocation` is how the suite is run, for the commands the migration prints.
pub fn plan(
    scenarios: &Path,
    cassettes: &Path,
    invocation: crate::command::Invocation,
) -> Result<Migration, MigrateError> {
    let mut loaded = BTreeMap::new();
    let mut migration = Migration::default();
    for path in crate::check::list(scenarios, "toml") {
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|source| MigrateError::Read {
            path: path.clone(),
            source,
        })?;
        match Scenario::parse(&path, &text) {
            Ok(scenario) => {
                loaded.insert(scenario.name.clone(), (scenario, text));
            }
            Err(e) => migration.refusals.push(format!(
                "{e}; fix it first, so that migrate can tell which API it speaks"
            )),
        }
    }
    migration.commands = crate::command::Commands::new(invocation, scenarios, cassettes);
    migration.scenarios = scenarios.to_owned();
    let cassette_of = |name: &str| cassettes.join("http").join(format!("{name}.yaml"));
    // Each scenario's cassette, read once.
    let recorded: BTreeMap<&str, crate::cassette::Cassette> = loaded
        .keys()
        .filter_map(|name| {
            let file = crate::cassette::CassetteFile::read(&cassette_of(name));
            Some((name.as_str(), file.cassette()?.clone()))
        })
        .collect();
    let recorded_v1 = |name: &str| {
        recorded.get(name).and_then(crate::cassette::generation_of) == Some(ApiGeneration::V1)
    };
    // Pinned v1, or unpinned with a v1 cassette.
    let is_v1 = |scenario: &Scenario| match scenario.api {
        Some(generation) => generation == ApiGeneration::V1,
        None => recorded_v1(&scenario.name),
    };
    let mut aside = BTreeSet::new();
    for (scenario, _) in loaded.values() {
        if !is_v1(scenario) && !recorded_v1(&scenario.name) {
            continue;
        }
        // An unfinished recording holds a paid task: set aside, it would never be
        // resumed, and its v2 recording would pay again.
        let side = cassettes
            .join("http")
            .join(format!("{}.rerecording.yaml", scenario.name));
        let unfinished = recorded
            .get(scenario.name.as_str())
            .is_some_and(|c| c.incomplete || !c.pending.is_empty());
        if unfinished || side.exists() {
            // Resumed where it was recorded.
            let against = recorded
                .get(scenario.name.as_str())
                .and_then(|c| c.recorded_against.as_ref())
                .map_or(
                    crate::command::Aim::Meshy,
                    crate::cassette::RecordedAgainst::aim,
                );
            migration.refusals.push(format!(
                "'{}': its recording is unfinished; resume it first (nothing is paid twice) with `{}`, then migrate",
                scenario.path.display(),
                migration.commands.record(
                    Some(&scenario.name),
                    "--record-mode=once",
                    against,
                    || "resumes its task, 0 credits".to_owned()
                ),
            ));
        }
        // Pinned v2 with its cassette still v1 (a migration stopped halfway): only its
        // recordings move.
        if !is_v1(scenario) {
            aside.insert(scenario.name.as_str());
        }
    }
    for (scenario, text) in loaded.values().filter(|(s, _)| is_v1(s)) {
        #[allow(deprecated)] // v1's refine is what is migrated away
        let new = if scenario.task_type == TaskType::Text3dRefine {
            let preview = scenario.input.as_ref().and_then(|p| loaded.get(p));
            one_call(scenario, text, preview.map(|(s, t)| (s, t.as_str())))
        } else {
            rewrite(scenario, text)
        };
        match accepted(&scenario.path, &new) {
            Ok(Some(n)) => migration.cost.0 += n,
            Ok(None) => migration.cost.1 += 1,
            Err(why) => migration.refusals.push(format!(
                "'{}' would not be accepted under v2 as migrated ({why}); edit it by hand \
                 (docs/api-v2.md), then run migrate again",
                scenario.path.display()
            )),
        }
        migration
            .files
            .push((scenario.path.clone(), text.clone(), new));
        if cassette_of(&scenario.name).exists() {
            aside.insert(scenario.name.as_str());
        }
    }
    migration.aims = aside
        .iter()
        .map(|name| {
            let against = recorded.get(name).and_then(|c| c.recorded_against.clone());
            (
                (*name).to_owned(),
                against.unwrap_or(crate::cassette::RecordedAgainst::Meshy),
            )
        })
        .collect();
    // With each cassette set aside, the webhook recordings of the tasks it created.
    let mut moved: BTreeSet<PathBuf> = aside.iter().map(|name| cassette_of(name)).collect();
    let files = crate::webhooks::recording_files(&cassettes.join("webhooks"));
    for cassette in aside.iter().filter_map(|name| recorded.get(name)) {
        for task in crate::cassette::created_tasks(cassette, None) {
            let suffix = format!("_{task}.json");
            moved.extend(
                files
                    .iter()
                    .filter(|f| !crate::check::is_unrouted(f))
                    .filter(|f| {
                        f.file_name()
                            .is_some_and(|n| n.to_string_lossy().ends_with(&suffix))
                    })
                    .cloned(),
            );
        }
    }
    for from in moved {
        let relative = from.strip_prefix(cassettes).unwrap_or(&from).to_owned();
        let to = cassettes.join(SET_ASIDE).join(relative);
        migration.moves.push((from, to));
    }
    Ok(migration)
}

/// Whether a migrated scenario file is one v2 accepts: it loads, its request builds, and
/// v2's rules (and the models still there on the sunset day) pass. `Ok` carries its
/// price, when known.
fn accepted(path: &Path, text: &str) -> Result<Option<u64>, String> {
    let scenario = Scenario::parse(path, text).map_err(|e| e.message)?;
    let fields = scenario.v2_body()?;
    crate::meshy::v2_rules::check_model(scenario.task_type, &fields, crate::meshy::V1_SUNSET)
        .map_err(|r| r.message)?;
    Ok(crate::meshy::pricing::request_credits(
        scenario.task_type,
        ApiGeneration::V2,
        &serde_json::Value::Object(fields),
    ))
}

impl Migration {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.moves.is_empty()
    }

    /// The diff of every scenario file, the recordings set aside and what re-recording
    /// costs, as printed before anything is changed.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.is_empty() && self.refusals.is_empty() {
            out.push_str("nothing to migrate: every scenario speaks Meshy API v2 already\n");
            return out;
        }
        for (path, old, new) in &self.files {
            let _ = writeln!(
                out,
                "--- {}\n+++ {} (API v2)",
                path.display(),
                path.display()
            );
            out.push_str(&diff(old, new));
        }
        for (from, to) in &self.moves {
            let _ = writeln!(out, "set aside: {} -> {}", from.display(), to.display());
        }
        let _ = writeln!(
            out,
            "{} scenario file(s) move to Meshy API v2 and {} v1 recording(s) are set aside (nothing is deleted); \
             re-recording them under v2 costs {}",
            self.files.len(),
            self.moves.len(),
            self.cost_text()
        );
        for refusal in &self.refusals {
            let _ = writeln!(out, "cannot migrate: {refusal}");
        }
        out
    }

    fn cost_text(&self) -> String {
        match self.cost {
            (known, 0) => format!("{known} credits"),
            (known, unknown) => format!("{known} credits + {unknown} of unknown cost"),
        }
    }

    /// What to run once the migration is applied: free against the simulator first,
    /// then against the real API with its cost; a suite recorded against the simulator
    /// records there again.
    pub fn next_steps(&self) -> String {
        use crate::cassette::RecordedAgainst;
        let mut aims = self.aims.values();
        let first = aims.next();
        let one_aim = aims.all(|a| Some(a) == first);
        match first {
            // All recorded against the simulator, or the same rehearsal: there again.
            Some(against @ (RecordedAgainst::Simulator | RecordedAgainst::Rehearsal(_)))
                if one_aim =>
            {
                return format!(
                    "record them where the suite was recorded, {} (it records exactly the scenarios set \
                     aside): `{}`\n",
                    match against {
                        RecordedAgainst::Simulator => "the simulator, free".to_owned(),
                        _ => format!("the {against}"),
                    },
                    self.commands
                        .record(None, "--record-mode=once", against.aim(), String::new)
                );
            }
            Some(_) if !one_aim => {
                // Each where it was recorded.
                let lines: Vec<String> = self
                    .aims
                    .iter()
                    .map(|(name, against)| {
                        format!(
                            "  {}\n",
                            self.commands.record(
                                Some(name),
                                "--record-mode=once",
                                against.aim(),
                                || "its v2 recording".to_owned()
                            )
                        )
                    })
                    .collect();
                return format!(
                    "record each where it was recorded (the simulator's free, a rehearsal's at its URL):\n{}",
                    lines.concat()
                );
            }
            _ => {}
        }
        let record = self
            .commands
            .test(None, "--record-webhooks --record-mode=once");
        // The rehearsal writes into a scratch directory under the target dir, so that the
        // real run still finds the moved scenarios unrecorded (`once` records exactly what
        // has no recording); `all`, as an earlier rehearsal's files there would replay.
        let rehearsal = crate::command::Commands::new(
            self.commands.invocation.clone(),
            &self.scenarios,
            &crate::workdir::dir().join("migrate-rehearsal"),
        )
        .test(None, "--record-webhooks --record-mode=all --target=sim");
        format!(
            "rehearse them, free against the simulator, into a scratch directory: `{rehearsal}`\n\
             then record them against the real Meshy API: `{record}`  # {}\n",
            self.cost_text()
        )
    }

    /// Writes the scenario files and sets the recordings aside. Every destination is
    /// checked first, so a refused move changes nothing.
    pub fn apply(&self) -> Result<(), MigrateError> {
        if !self.refusals.is_empty() {
            return Err(MigrateError::Refused(self.refusals.clone()));
        }
        for (from, to) in &self.moves {
            if to.exists() {
                return Err(MigrateError::Occupied {
                    from: from.clone(),
                    to: to.clone(),
                });
            }
        }
        for (path, _, new) in &self.files {
            crate::atomic_file::write(path, new.as_bytes()).map_err(|source| {
                MigrateError::Write {
                    path: path.clone(),
                    source,
                }
            })?;
        }
        for (from, to) in &self.moves {
            let moved = to
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::rename(from, to));
            moved.map_err(|source| MigrateError::Write {
                path: to.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

/// What becomes of a removed v1 parameter: a v2 name (and value), or a comment saying
/// why v2 has none.
enum Move {
    Rename(&'static str, Option<toml::Value>),
    Comment(String),
}

fn removed(task_type: TaskType, key: &str, value: &toml::Value) -> Option<Move> {
    let text = value.as_str();
    match (key, value) {
        ("text_style_prompt", _) if task_type == TaskType::Retexture => {
            Some(Move::Rename("texture_prompt", None))
        }
        ("image_style_url", _) if task_type == TaskType::Retexture => {
            Some(Move::Rename("texture_image_url", None))
        }
        ("hd_texture", toml::Value::Boolean(true)) => Some(Move::Rename(
            "texture_resolution",
            Some(toml::Value::String("4k".into())),
        )),
        ("remove_background", toml::Value::Boolean(false)) => Some(Move::Rename(
            "background",
            Some(toml::Value::String("opaque".into())),
        )),
        ("remove_background", _) => Some(Move::Comment(
            "v2's background is transparent by default".into(),
        )),
        ("ai_model" | "model_type", _) if text == Some("lowpoly") => Some(Move::Comment(
            "the lowpoly model is retired (2026-10-30)".into(),
        )),
        ("mode", _) => Some(Move::Comment(
            "v2's text-to-3d is one call, without mode".into(),
        )),
        _ => crate::meshy::v2_rules::removed_fields(task_type)
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, instead)| Move::Comment(format!("removed in v2: use {instead}"))),
    }
}

/// A `key = value` line read as TOML (quoted keys, trailing comments); `None` for
/// anything else (a comment, a header, a value that goes on over several lines).
fn key_value(line: &str) -> Option<(String, toml::Value)> {
    let table: toml::Table = line.parse().ok()?;
    let mut entries = table.into_iter();
    let entry = entries.next()?;
    entries.next().is_none().then_some(entry)
}

/// A table header line (`[params]`, `[params]  # note`), as its name.
fn header(line: &str) -> Option<String> {
    let trimmed = line.trim();
    let rest = trimmed.strip_prefix('[')?;
    let (name, after) = rest.split_once(']')?;
    let after = after.trim();
    (!name.starts_with('[') && (after.is_empty() || after.starts_with('#')))
        .then(|| name.trim().to_owned())
}

/// A scenario file rewritten for v2, line by line (comments and order kept). What a
/// line-by-line reading cannot be sure of is left as it is, and [`accepted`] judges
/// the result.
fn rewrite(scenario: &Scenario, text: &str) -> String {
    let crlf = text.contains("\r\n");
    let mut out = Vec::new();
    let mut table: Option<String> = None;
    let mut pinned = false;
    for line in text.lines() {
        if let Some(name) = header(line) {
            if !pinned {
                out.push("api = \"v2\"".to_owned());
                pinned = true;
            }
            table = Some(name);
            out.push(line.to_owned());
            continue;
        }
        let Some((key, value)) = key_value(line) else {
            out.push(line.to_owned());
            continue;
        };
        if table.is_none() && key == "api" {
            continue;
        }
        if table.is_none() && !pinned {
            out.push("api = \"v2\"".to_owned());
            pinned = true;
        }
        if table.as_deref() == Some("params") {
            match removed(scenario.task_type, &key, &value) {
                Some(Move::Rename(name, new_value)) => {
                    let value = new_value.unwrap_or(value);
                    out.push(format!("{name} = {value}  # migrated from {key}"));
                    continue;
                }
                Some(Move::Comment(why)) => {
                    out.push(format!("# {}  # migrated: {why}", line.trim()));
                    continue;
                }
                None => {}
            }
        }
        out.push(line.to_owned());
    }
    if !pinned {
        out.push("api = \"v2\"".to_owned());
    }
    let additions = additions(scenario);
    if !additions.is_empty() {
        match out
            .iter()
            .position(|l| header(l).as_deref() == Some("params"))
        {
            Some(at) => {
                for (offset, line) in additions.into_iter().enumerate() {
                    out.insert(at + 1 + offset, line);
                }
            }
            None => {
                out.push(String::new());
                out.push("[params]".to_owned());
                out.extend(additions);
            }
        }
    }
    let newline = if crlf { "\r\n" } else { "\n" };
    let mut text = out.join(newline);
    text.push_str(newline);
    text
}

/// `[params]` lines v2 needs that a v1 scenario lacks: a texture model for a textured
/// result, and `target_formats` for the formats it expects beyond GLB.
fn additions(scenario: &Scenario) -> Vec<String> {
    let has = |field: &str| scenario.params.contains_key(field);
    let textured = scenario
        .params
        .get("should_texture")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(true);
    let mut lines = Vec::new();
    let wants_texture = match scenario.task_type {
        TaskType::Retexture => true,
        TaskType::Image3d | TaskType::MultiImage3d => textured,
        _ => false,
    };
    if wants_texture && !has("texture_model") {
        lines.push(format!(
            "texture_model = \"{TEXTURE_MODEL}\"  # migrated: v2 asks a textured result for its texture model"
        ));
    }
    let beyond_glb = scenario.expect_formats.iter().any(|f| f != "glb");
    let defined =
        crate::meshy::v2_rules::defined_fields(scenario.task_type).contains(&"target_formats");
    if beyond_glb && defined && !has("target_formats") {
        let formats: Vec<String> = scenario
            .expect_formats
            .iter()
            .map(|f| format!("\"{f}\""))
            .collect();
        lines.push(format!(
            "target_formats = [{}]  # migrated: v2 answers GLB only unless asked",
            formats.join(", ")
        ));
    }
    lines
}

/// A v1 refine made one textured text-to-3d: its preview's prompt and parameters, its
/// own texture fields (renamed as [`rewrite`] renames them), `should_texture = true` and
/// a texture model; its other tables (`[expect]`, `[simulator]`, `[metadata]`) kept.
fn one_call(refine: &Scenario, text: &str, preview: Option<(&Scenario, &str)>) -> String {
    let original: toml::Table = text.parse().unwrap_or_default();
    let mut params = toml::Table::new();
    let mut add = |fields: &toml::Table, task_type| {
        for (key, value) in fields {
            match removed(task_type, key, value) {
                Some(Move::Rename(name, new_value)) => {
                    params.insert(name.to_owned(), new_value.unwrap_or_else(|| value.clone()));
                }
                Some(Move::Comment(_)) => {}
                None => {
                    params.insert(key.clone(), value.clone());
                }
            }
        }
    };
    if let Some(params) = preview
        .and_then(|(_, text)| text.parse::<toml::Table>().ok())
        .and_then(|t| t.get("params").and_then(toml::Value::as_table).cloned())
    {
        add(&params, TaskType::Text3d);
    }
    #[allow(deprecated)]
    if let Some(own) = original.get("params").and_then(toml::Value::as_table) {
        add(own, TaskType::Text3dRefine);
    }
    if let Some(texture) = &refine.prompt {
        params.insert(
            "texture_prompt".into(),
            toml::Value::String(texture.clone()),
        );
    }
    params.insert("should_texture".into(), toml::Value::Boolean(true));
    params
        .entry("texture_model")
        .or_insert_with(|| toml::Value::String(TEXTURE_MODEL.into()));
    if refine.expect_formats.iter().any(|f| f != "glb") && !params.contains_key("target_formats") {
        let formats = refine
            .expect_formats
            .iter()
            .cloned()
            .map(toml::Value::String);
        params.insert(
            "target_formats".into(),
            toml::Value::Array(formats.collect()),
        );
    }
    let mut new = toml::Table::new();
    new.insert("api".into(), toml::Value::String("v2".into()));
    new.insert(
        "species".into(),
        toml::Value::String(refine.species.clone()),
    );
    new.insert("task_type".into(), toml::Value::String("text3d".into()));
    // No preview to take the prompt from: [`accepted`] refuses the empty one.
    let prompt = preview
        .and_then(|(p, _)| p.prompt.clone())
        .unwrap_or_default();
    new.insert("prompt".into(), toml::Value::String(prompt));
    if let Some(delivery) = original.get("delivery") {
        new.insert("delivery".into(), delivery.clone());
    }
    new.insert("params".into(), toml::Value::Table(params));
    for kept in ["expect", "simulator", "metadata"] {
        if let Some(table) = original.get(kept) {
            new.insert(kept.into(), table.clone());
        }
    }
    format!(
        "# Migrated from API v1 by `mesh-toolkit cassettes migrate`: v1's refine of '{}' is one textured\n\
         # text-to-3d under v2.\n{}",
        refine.input.as_deref().unwrap_or("its preview"),
        toml::to_string(&new).unwrap_or_default()
    )
}

/// A line diff (longest common subsequence): ` ` kept, `-` removed, `+` added.
fn diff(old: &str, new: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            let _ = writeln!(out, " {}", a[i]);
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            // A removed line before the line that replaces it, as `diff -u` prints them.
            let _ = writeln!(out, "-{}", a[i]);
            i += 1;
        } else {
            let _ = writeln!(out, "+{}", b[j]);
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(text: &str) -> Scenario {
        Scenario::parse(Path::new("scenarios/s.toml"), text).unwrap()
    }

    #[test]
    fn removed_parameters_take_their_v2_names_or_are_commented_with_the_reason() {
        let text = "# Bronze.\napi = \"v1\"\nspecies = \"otter\"\ntask_type = \"retexture\"\n\n[params]  # v1's\ninput_task_id = \"t\"\n\"text_style_prompt\" = \"bronze\"\nhd_texture = true # sharp\nenable_original_uv = true\n";
        let new = rewrite(&scenario(text), text);
        assert_eq!(
            new,
            "# Bronze.\napi = \"v2\"\nspecies = \"otter\"\ntask_type = \"retexture\"\n\n[params]  # v1's\n\
             texture_model = \"meshy-6-lite\"  # migrated: v2 asks a textured result for its texture model\n\
             input_task_id = \"t\"\ntexture_prompt = \"bronze\"  # migrated from text_style_prompt\n\
             texture_resolution = \"4k\"  # migrated from hd_texture\n\
             # enable_original_uv = true  # migrated: removed in v2: use uv_mode\n"
        );
        // What it writes is a scenario v2 accepts.
        assert_eq!(accepted(Path::new("s.toml"), &new).map(|_| ()), Ok(()));
        assert_eq!(scenario(&new).api, Some(ApiGeneration::V2));
        // Line endings are kept.
        let crlf = text.replace('\n', "\r\n");
        assert!(rewrite(&scenario(&crlf), &crlf).contains("api = \"v2\"\r\nspecies"));
    }

    #[test]
    fn a_retired_model_is_commented_out_and_expected_formats_are_asked_for() {
        let text = "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"p\"\n\n[params]\nmodel_type = 'lowpoly'  # small\n\n[expect]\nmodel_formats = [\"glb\", \"fbx\"]\n";
        let new = rewrite(&scenario(text), text);
        assert!(new.starts_with("api = \"v2\"\nspecies"), "{new}");
        assert!(
            new.contains("# model_type = 'lowpoly'  # small  # migrated: the lowpoly model is retired (2026-10-30)")
                && new.contains("target_formats = [\"glb\", \"fbx\"]  # migrated"),
            "{new}"
        );
        assert_eq!(
            scenario(&new).params["target_formats"],
            serde_json::json!(["glb", "fbx"])
        );
        // A rigging expecting FBX gets no target_formats: v2 does not define it there.
        let rig = "species = \"otter\"\ntask_type = \"rigging\"\n\n[params]\ninput_task_id = \"t\"\n\n[expect]\nmodel_formats = [\"glb\", \"fbx\"]\n";
        assert!(!rewrite(&scenario(rig), rig).contains("target_formats"));
    }

    #[test]
    fn a_refine_becomes_one_textured_call_keeping_its_tables_and_renaming_its_fields() {
        let preview_text = "api = \"v1\"\nspecies = \"otter\"\ntask_type = \"text3d\"\nprompt = \"Otter\"\n\n[params]\nai_model = \"meshy-5\"\nmode = \"preview\"\n";
        let preview = Scenario::parse(Path::new("scenarios/p.toml"), preview_text).unwrap();
        let refine_text = "api = \"v1\"\nspecies = \"otter\"\ntask_type = \"text3d_refine\"\nprompt = \"Fur\"\ninput = \"p\"\ndelivery = \"polling\"\n\n[params]\nhd_texture = true\n\n[simulator]\noutcome = \"failed\"\n\n[metadata]\nbuild = \"7\"\n";
        let refine = scenario(refine_text);
        let new = one_call(&refine, refine_text, Some((&preview, preview_text)));
        let migrated = scenario(&new);
        assert_eq!(migrated.task_type, TaskType::Text3d);
        assert_eq!(migrated.prompt.as_deref(), Some("Otter"));
        assert_eq!(migrated.delivery.as_str(), "polling");
        let params = serde_json::Value::Object(migrated.params.clone());
        assert_eq!(
            params,
            serde_json::json!({"ai_model": "meshy-5", "texture_resolution": "4k", "texture_prompt": "Fur",
                               "should_texture": true, "texture_model": "meshy-6-lite"})
        );
        assert!(
            migrated.simulator.is_some() && migrated.metadata.is_some(),
            "{new}"
        );
        assert_eq!(accepted(Path::new("r.toml"), &new).map(|_| ()), Ok(()));
        // Without a preview to take the prompt from, the result is refused, not written.
        let orphan = one_call(&refine, refine_text, None);
        assert!(accepted(Path::new("r.toml"), &orphan).is_err());
    }

    #[test]
    fn an_unfinished_v1_recording_blocks_the_migration_and_a_half_done_one_is_finished() {
        let dir = tempfile::tempdir().unwrap();
        let (scenarios, cassettes) = (dir.path().join("scenarios"), dir.path().join("cassettes"));
        std::fs::create_dir_all(&scenarios).unwrap();
        std::fs::create_dir_all(cassettes.join("http")).unwrap();
        let v1_text3d = crate::cassette::Cassette {
            interactions: vec![crate::cassette::Interaction {
                request: crate::cassette::RecordedRequest {
                    method: "POST".into(),
                    uri: "https://api.meshy.ai/openapi/v2/text-to-3d".into(),
                    headers: vec![],
                    body: Some(crate::cassette::Body::Text(
                        r#"{"mode":"preview","prompt":"o"}"#.into(),
                    )),
                },
                response: crate::cassette::RecordedResponse {
                    status: 202,
                    message: "Accepted".into(),
                    headers: vec![],
                    body: crate::cassette::Body::Text(r#"{"result":"t1"}"#.into()),
                },
            }],
            ..crate::cassette::Cassette::default()
        };
        let write_cassette = |c: &crate::cassette::Cassette| {
            std::fs::write(cassettes.join("http/o.yaml"), c.to_yaml()).unwrap();
        };
        // Pinned v2 already, its cassette still v1: a migration stopped halfway. Only
        // its recording moves.
        std::fs::write(
            scenarios.join("o.toml"),
            "api = \"v2\"\nspecies = \"otter\"\ntask_type = \"text3d\"\nprompt = \"o\"\n",
        )
        .unwrap();
        write_cassette(&v1_text3d);
        let half = plan(&scenarios, &cassettes, Default::default()).unwrap();
        assert!(
            half.files.is_empty() && half.refusals.is_empty(),
            "{half:?}"
        );
        assert_eq!(
            half.moves,
            [(
                cassettes.join("http/o.yaml"),
                cassettes.join("v1/http/o.yaml")
            )]
        );
        // An unfinished v1 journal holds a paid task: nothing moves until it is resumed.
        write_cassette(&crate::cassette::Cassette {
            incomplete: true,
            ..v1_text3d.clone()
        });
        let blocked = plan(&scenarios, &cassettes, Default::default()).unwrap();
        assert!(
            blocked.refusals[0].contains("--record-mode=once"),
            "{:?}",
            blocked.refusals
        );
        assert!(matches!(blocked.apply(), Err(MigrateError::Refused(_))));
        assert!(cassettes.join("http/o.yaml").exists(), "nothing moved");
        // Recorded against the simulator: resumed there, and the suite records there
        // again after the move, never against the real API.
        let on_sim = crate::cassette::Cassette {
            recorded_against: Some(crate::cassette::RecordedAgainst::Simulator),
            ..v1_text3d.clone()
        };
        write_cassette(&crate::cassette::Cassette {
            incomplete: true,
            ..on_sim.clone()
        });
        let blocked = plan(&scenarios, &cassettes, Default::default()).unwrap();
        assert!(
            blocked.refusals[0].contains(
                "`cargo test --test scenarios -- o --exact --record-webhooks --record-mode=once --target=sim --cassettes="
            ),
            "{:?}",
            blocked.refusals
        );
        write_cassette(&on_sim);
        let free = plan(&scenarios, &cassettes, Default::default()).unwrap();
        assert_eq!(
            free.next_steps(),
            format!(
                "record them where the suite was recorded, the simulator, free (it records exactly the scenarios \
                 set aside): `cargo test --test scenarios -- --record-webhooks --record-mode=once --target=sim \
                 --cassettes={} --scenarios={}`\n",
                cassettes.display(),
                scenarios.display()
            )
        );
        // Recorded against a rehearsal: there again, never the real API.
        write_cassette(&crate::cassette::Cassette {
            recorded_against: Some(crate::cassette::RecordedAgainst::of_base_url(
                "http://127.0.0.1:9000",
            )),
            ..v1_text3d.clone()
        });
        let rehearsal = plan(&scenarios, &cassettes, Default::default()).unwrap();
        assert!(
            rehearsal.next_steps().starts_with(
                "record them where the suite was recorded, the rehearsal http://127.0.0.1:9000 (it records exactly \
                 the scenarios set aside): `MESHY_BASE_URL=http://127.0.0.1:9000 cargo test --test scenarios -- \
                 --record-webhooks --record-mode=once --cassettes="
            ),
            "{}",
            rehearsal.next_steps()
        );
        // Mixed: each where it was recorded, the real one with its cost.
        write_cassette(&on_sim);
        std::fs::write(
            scenarios.join("p.toml"),
            "api = \"v2\"\nspecies = \"otter\"\ntask_type = \"text3d\"\nprompt = \"p\"\n",
        )
        .unwrap();
        std::fs::write(cassettes.join("http/p.yaml"), v1_text3d.to_yaml()).unwrap();
        let mixed = plan(&scenarios, &cassettes, Default::default())
            .unwrap()
            .next_steps();
        assert!(
            mixed.starts_with("record each where it was recorded (the simulator's free, a rehearsal's at its URL):\n")
                && mixed.contains(" -- o --exact --record-webhooks --record-mode=once --target=sim --cassettes=")
                && mixed.contains(" -- p --exact --record-webhooks --record-mode=once --cassettes=")
                && mixed.contains("  # real Meshy API: its v2 recording\n"),
            "{mixed}"
        );
        std::fs::remove_file(scenarios.join("p.toml")).unwrap();
        std::fs::remove_file(cassettes.join("http/p.yaml")).unwrap();
        // Recorded against the real API: a rehearsal first, then the real API.
        write_cassette(&v1_text3d);
        let real = plan(&scenarios, &cassettes, Default::default()).unwrap();
        assert!(
            real.next_steps()
                .contains("then record them against the real Meshy API: `cargo test --test scenarios -- --record-webhooks --record-mode=once --cassettes="),
            "{}",
            real.next_steps()
        );
    }

    #[test]
    fn the_diff_marks_kept_removed_and_added_lines() {
        // A replaced line: removed first, as `diff -u` prints it.
        assert_eq!(diff("a\nb\nc\n", "a\nx\nc\n"), " a\n-b\n+x\n c\n");
        assert_eq!(diff("", "a\n"), "+a\n");
        assert_eq!(diff("a\n", ""), "-a\n");
        assert_eq!(diff("a\nb\n", "x\ny\nb\n"), "-a\n+x\n+y\n b\n");
    }
}
