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
    /// The directories, as flags of the printed commands, when they are not the defaults.
    dirs: String,
}

/// Why the migration could not be planned or applied.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("cannot read '{}': {source}; run from the project's root, or pass --scenarios DIR", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write '{}': {source}; nothing after it was changed", path.display())]
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
}

/// Reads the suite and says what moving it to v2 means. Changes nothing.
pub fn plan(scenarios: &Path, cassettes: &Path) -> Result<Migration, MigrateError> {
    let mut loaded = BTreeMap::new();
    for path in crate::check::list(scenarios, "toml") {
        let text = std::fs::read_to_string(&path).map_err(|source| MigrateError::Read {
            path: path.clone(),
            source,
        })?;
        // A file that does not load is left for the check and the suite to report.
        if let Ok(scenario) = Scenario::parse(&path, &text) {
            loaded.insert(scenario.name.clone(), (scenario, text));
        }
    }
    let cassette_of = |name: &str| cassettes.join("http").join(format!("{name}.yaml"));
    let is_v1 = |scenario: &Scenario| match scenario.api {
        Some(generation) => generation == ApiGeneration::V1,
        None => {
            crate::cassette::CassetteFile::read(&cassette_of(&scenario.name))
                .cassette()
                .and_then(crate::cassette::generation_of)
                == Some(ApiGeneration::V1)
        }
    };
    let mut migration = Migration::default();
    if cassettes != Path::new("cassettes") {
        migration
            .dirs
            .push_str(&format!(" --cassettes={}", cassettes.display()));
    }
    if scenarios != Path::new("scenarios") {
        migration
            .dirs
            .push_str(&format!(" --scenarios={}", scenarios.display()));
    }
    let mut aside = BTreeSet::new();
    for (scenario, text) in loaded.values().filter(|(s, _)| is_v1(s)) {
        #[allow(deprecated)] // v1's refine is what is migrated away
        let new = if scenario.task_type == TaskType::Text3dRefine {
            let preview = scenario.input.as_ref().and_then(|p| loaded.get(p));
            one_call(scenario, preview.map(|(s, _)| s))
        } else {
            rewrite(scenario, text)
        };
        let price = Scenario::parse(&scenario.path, &new)
            .ok()
            .and_then(|migrated| {
                let request = migrated.request(Some("input-task")).ok()?;
                let body = request.body(ApiGeneration::V2).ok()?;
                crate::meshy::pricing::request_credits(migrated.task_type, ApiGeneration::V2, &body)
            });
        match price {
            Some(n) => migration.cost.0 += n,
            None => migration.cost.1 += 1,
        }
        migration
            .files
            .push((scenario.path.clone(), text.clone(), new));
        let cassette = cassette_of(&scenario.name);
        if let Some(recorded) = crate::cassette::CassetteFile::read(&cassette).cassette() {
            for task in crate::cassette::created_tasks(recorded, None) {
                for recording in crate::webhooks::recording_files(&cassettes.join("webhooks")) {
                    let named = recording
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().ends_with(&format!("_{task}.json")));
                    if named {
                        aside.insert(recording);
                    }
                }
            }
            aside.insert(cassette);
        }
    }
    for from in aside {
        let relative = from.strip_prefix(cassettes).unwrap_or(&from).to_owned();
        let to = cassettes.join(SET_ASIDE).join(relative);
        migration.moves.push((from, to));
    }
    Ok(migration)
}

impl Migration {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.moves.is_empty()
    }

    /// The diff of every scenario file, the recordings set aside and what re-recording
    /// costs, as printed before anything is changed.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.is_empty() {
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
        out
    }

    fn cost_text(&self) -> String {
        match self.cost {
            (known, 0) => format!("{known} credits"),
            (known, unknown) => format!("{known} credits + {unknown} of unknown cost"),
        }
    }

    /// What to run once the migration is applied: free against the simulator first,
    /// then against the real API with its cost.
    pub fn next_steps(&self) -> String {
        let record = format!(
            "cargo test --test scenarios -- --record-webhooks{}",
            self.dirs
        );
        format!(
            "record them, free against the simulator first: `{record} --target=sim`\n\
             then against the real Meshy API: `{record}`  # {}\n",
            self.cost_text()
        )
    }

    /// Writes the scenario files and sets the recordings aside. Every destination is
    /// checked first, so a refused move changes nothing.
    pub fn apply(&self) -> Result<(), MigrateError> {
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
    Rename(&'static str, Option<&'static str>),
    Comment(String),
}

fn removed(task_type: TaskType, key: &str, value: &str) -> Option<Move> {
    let retired = matches!(value.trim(), "\"lowpoly\"");
    match (key, value.trim()) {
        ("text_style_prompt", _) if task_type == TaskType::Retexture => {
            Some(Move::Rename("texture_prompt", None))
        }
        ("image_style_url", _) if task_type == TaskType::Retexture => {
            Some(Move::Rename("texture_image_url", None))
        }
        ("hd_texture", "true") => Some(Move::Rename("texture_resolution", Some("\"4k\""))),
        ("remove_background", "false") => Some(Move::Rename("background", Some("\"opaque\""))),
        ("remove_background", _) => Some(Move::Comment(
            "v2's background is transparent by default".into(),
        )),
        ("ai_model" | "model_type", _) if retired => Some(Move::Comment(
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

/// A scenario file rewritten for v2, line by line (comments and order kept).
fn rewrite(scenario: &Scenario, text: &str) -> String {
    let mut out = Vec::new();
    let mut table: Option<String> = None;
    let mut pinned = false;
    let mut params_seen = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            if !pinned {
                out.push("api = \"v2\"".to_owned());
                pinned = true;
            }
            table = Some(trimmed.trim_matches(['[', ']']).trim().to_owned());
            params_seen |= table.as_deref() == Some("params");
            out.push(line.to_owned());
            continue;
        }
        let Some((key, value)) = trimmed
            .split_once('=')
            .filter(|_| !trimmed.starts_with('#'))
        else {
            out.push(line.to_owned());
            continue;
        };
        let key = key.trim();
        if table.is_none() && key == "api" {
            continue;
        }
        if table.is_none() && !pinned {
            out.push("api = \"v2\"".to_owned());
            pinned = true;
        }
        if table.as_deref() == Some("params") {
            match removed(scenario.task_type, key, value) {
                Some(Move::Rename(name, new_value)) => {
                    out.push(format!("{name} = {}", new_value.unwrap_or(value.trim())));
                    continue;
                }
                Some(Move::Comment(why)) => {
                    out.push(format!("# {trimmed}  # migrated: {why}"));
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
        let at = if params_seen {
            // After the [params] header.
            out.iter()
                .position(|l| l.trim() == "[params]")
                .map_or(out.len(), |i| i + 1)
        } else {
            out.push(String::new());
            out.push("[params]".to_owned());
            out.len()
        };
        for (offset, line) in additions.into_iter().enumerate() {
            out.insert(at + offset, line);
        }
    }
    let mut text = out.join("\n");
    text.push('\n');
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
    if beyond_glb && !has("target_formats") {
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
/// own texture fields, `should_texture = true` and a texture model.
fn one_call(refine: &Scenario, preview: Option<&Scenario>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Migrated from API v1 by `mesh-toolkit cassettes migrate`: v1's refine of '{}' is one textured\n\
         # text-to-3d under v2.",
        refine.input.as_deref().unwrap_or("its preview")
    );
    let _ = writeln!(out, "api = \"v2\"");
    let _ = writeln!(out, "species = {}", toml_string(&refine.species));
    let _ = writeln!(out, "task_type = \"text3d\"");
    let prompt = preview.and_then(|p| p.prompt.clone()).unwrap_or_default();
    let _ = writeln!(out, "prompt = {}", toml_string(&prompt));
    let _ = writeln!(out, "delivery = \"{}\"", refine.delivery.as_str());
    let mut params = toml::Table::new();
    let mut add = |fields: &serde_json::Map<String, serde_json::Value>, task_type| {
        for (key, value) in fields {
            let rendered = serde_json::to_string(value).unwrap_or_default();
            if removed(task_type, key, &rendered).is_some() {
                continue;
            }
            if let Ok(value) = toml::Value::try_from(value) {
                params.insert(key.clone(), value);
            }
        }
    };
    if let Some(preview) = preview {
        add(&preview.params, TaskType::Text3d);
    }
    #[allow(deprecated)]
    add(&refine.params, TaskType::Text3dRefine);
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
        params.insert(
            "target_formats".into(),
            toml::Value::Array(
                refine
                    .expect_formats
                    .iter()
                    .map(|f| toml::Value::String(f.clone()))
                    .collect(),
            ),
        );
    }
    out.push_str("\n[params]\n");
    out.push_str(&toml::to_string(&params).unwrap_or_default());
    if refine.expect_status != crate::meshy::TaskStatus::Succeeded
        || !refine.expect_formats.is_empty()
    {
        out.push_str("\n[expect]\n");
        let _ = writeln!(out, "status = \"{}\"", refine.expect_status);
        if !refine.expect_formats.is_empty() {
            let formats: Vec<String> = refine
                .expect_formats
                .iter()
                .map(|f| toml_string(f))
                .collect();
            let _ = writeln!(out, "model_formats = [{}]", formats.join(", "));
        }
    }
    out
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
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
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            let _ = writeln!(out, "+{}", b[j]);
            j += 1;
        } else {
            let _ = writeln!(out, "-{}", a[i]);
            i += 1;
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
        let text = "# Bronze.\napi = \"v1\"\nspecies = \"otter\"\ntask_type = \"retexture\"\ninput_task_id = \"x\"\n\n[params]\ninput_task_id = \"t\"\ntext_style_prompt = \"bronze\"\nhd_texture = true\nenable_original_uv = true\n";
        let text = text.replace("input_task_id = \"x\"\n", "");
        let new = rewrite(&scenario(&text), &text);
        assert_eq!(
            new,
            "# Bronze.\napi = \"v2\"\nspecies = \"otter\"\ntask_type = \"retexture\"\n\n[params]\n\
             texture_model = \"meshy-6-lite\"  # migrated: v2 asks a textured result for its texture model\n\
             input_task_id = \"t\"\ntexture_prompt = \"bronze\"\ntexture_resolution = \"4k\"\n\
             # enable_original_uv = true  # migrated: removed in v2: use uv_mode\n"
        );
        // What it writes is a scenario v2 accepts.
        let migrated = scenario(&new);
        assert_eq!(migrated.api, Some(ApiGeneration::V2));
        let body = migrated
            .request(None)
            .unwrap()
            .body(ApiGeneration::V2)
            .unwrap();
        assert_eq!(
            crate::meshy::v2_rules::check(TaskType::Retexture, body.as_object().unwrap())
                .map_err(|r| r.field),
            Ok(())
        );
    }

    #[test]
    fn a_retired_model_is_commented_out_and_expected_formats_are_asked_for() {
        let text = "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"p\"\n\n[params]\nmodel_type = \"lowpoly\"\n\n[expect]\nmodel_formats = [\"glb\", \"fbx\"]\n";
        let new = rewrite(&scenario(text), text);
        assert!(new.starts_with("api = \"v2\"\nspecies"), "{new}");
        assert!(
            new.contains(
                "# model_type = \"lowpoly\"  # migrated: the lowpoly model is retired (2026-10-30)"
            ) && new.contains("target_formats = [\"glb\", \"fbx\"]  # migrated"),
            "{new}"
        );
        assert_eq!(
            scenario(&new).params["target_formats"],
            serde_json::json!(["glb", "fbx"])
        );
    }

    #[test]
    fn the_diff_marks_kept_removed_and_added_lines() {
        assert_eq!(diff("a\nb\nc\n", "a\nx\nc\n"), " a\n+x\n-b\n c\n");
    }
}
