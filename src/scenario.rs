//! Scenario files: `scenarios/<name>.toml`, one trial each (see DESIGN.md, "Scenario
//! files"). Loading validates everything it can before a request is made, and every
//! error names the file, the line and what is wrong.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};
use toml::Spanned;

use crate::meshy::{ApiGeneration, RequestError, TaskRequest, TaskStatus, TaskType};
use crate::repository::is_valid_name;
use crate::sim::Behaviour;

/// How a scenario learns that its task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Webhook,
    Polling,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Webhook => "webhook",
            Delivery::Polling => "polling",
        }
    }
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The file stem: the trial's name.
    pub name: String,
    pub path: PathBuf,
    pub species: String,
    pub task_type: TaskType,
    pub prompt: Option<String>,
    pub delivery: Delivery,
    /// The scenario whose task feeds this one.
    pub input: Option<String>,
    pub params: Map<String, Value>,
    pub expect_status: TaskStatus,
    pub expect_formats: Vec<String>,
    /// Simulator-only: how the simulator should treat this scenario's task.
    pub simulator: Option<Behaviour>,
    /// `[metadata]`: tags sent as the `X-Meshy-Metadata` header (W3C Baggage), in key
    /// order; `None` without the table.
    pub metadata: Option<String>,
    /// `api = "v1"` or `"v2"`: the Meshy API generation the scenario is pinned to.
    /// Unpinned, it speaks what its cassette speaks, and v2 when it has none
    /// ([`crate::suite`] decides, in one place).
    pub api: Option<ApiGeneration>,
}

/// A scenario file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "scenario file '{}', line {line}: {}",
                self.path.display(),
                self.message
            ),
            None => write!(
                f,
                "scenario file '{}': {}",
                self.path.display(),
                self.message
            ),
        }
    }
}

/// A scenarios directory that yields no scenario files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoverError {
    /// Missing, or holds no `*.toml` file: a typo in a directory name must not give a
    /// green run.
    #[error(
        "no scenario files match '{}/*.toml'; add scenario TOML files there, or point --scenarios \
         (MESHY_SCENARIOS_DIR) at the right directory",
        dir.display()
    )]
    NoneFound { dir: PathBuf },
    #[error("cannot list the scenarios directory '{}': {source}", dir.display())]
    CannotList {
        dir: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    species: Spanned<String>,
    task_type: Spanned<String>,
    prompt: Option<Spanned<String>>,
    delivery: Option<Spanned<String>>,
    input: Option<Spanned<String>>,
    params: Option<toml::Table>,
    expect: Option<ExpectFile>,
    simulator: Option<Spanned<toml::Table>>,
    api: Option<Spanned<String>>,
    metadata: Option<Spanned<toml::Table>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectFile {
    status: Option<Spanned<String>>,
    model_formats: Option<Vec<String>>,
}

/// The `*.toml` files directly under `dir` (hidden ones skipped), sorted. The directory
/// is listed, not globbed, so a path with `[` or `*` in it works. None found is an
/// error: a typo in a directory name must not give a green run.
pub fn discover(dir: &Path) -> Result<Vec<PathBuf>, DiscoverError> {
    let none = || DiscoverError::NoneFound {
        dir: dir.to_owned(),
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(none()),
        Err(source) => {
            return Err(DiscoverError::CannotList {
                dir: dir.to_owned(),
                source,
            });
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or(".");
            !name.starts_with('.')
                && path.extension().is_some_and(|e| e == "toml")
                && path.is_file()
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(none());
    }
    Ok(files)
}

/// The trial name of a scenario file: its stem.
pub fn name_of(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A scenario file as a run read it, once: what loading it gave and the sha256 of its
/// bytes (a trial's result and the report compare them to see the file changed since).
#[derive(Debug, Clone)]
pub struct ScenarioFile {
    pub name: String,
    pub path: PathBuf,
    pub loaded: Result<Scenario, ScenarioError>,
    /// `None` when the file could not be read.
    pub sha256: Option<String>,
}

impl ScenarioFile {
    /// Reads and loads the scenario file at `path`.
    pub fn read(path: &Path) -> ScenarioFile {
        let bytes = std::fs::read(path);
        let sha256 = bytes.as_ref().ok().map(|b| crate::digest::sha256_hex(b));
        let loaded = bytes
            .and_then(|b| {
                String::from_utf8(b).map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "stream did not contain valid UTF-8",
                    )
                })
            })
            .map_err(|e| error(path, None, format!("cannot be read: {e}")))
            .and_then(|text| Scenario::parse(path, &text));
        ScenarioFile {
            name: name_of(path),
            path: path.to_owned(),
            loaded,
            sha256,
        }
    }
}

impl Scenario {
    /// Why the scenario can only be recorded against the simulator: its `[simulator]`
    /// table asks for an outcome or task error the real API cannot be asked for.
    /// Timings and delivery quirks do not make a scenario simulator-only.
    pub fn simulator_only(&self) -> Option<String> {
        let behaviour = self.simulator.as_ref()?;
        if behaviour.outcome != crate::sim::Outcome::Succeeded {
            let outcome = serde_json::to_value(behaviour.outcome).ok()?;
            return Some(format!("[simulator] outcome = {outcome}"));
        }
        behaviour
            .task_error
            .as_ref()
            .map(|_| "[simulator] task_error".to_owned())
    }

    /// Reads and validates one scenario file (inputs are checked against the other
    /// scenarios by [`check_inputs`]).
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        ScenarioFile::read(path).loaded
    }

    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        // Counted on bytes: a span that is not on a character boundary cannot panic.
        let line = |span: std::ops::Range<usize>| {
            let before = &text.as_bytes()[..span.start.min(text.len())];
            Some(before.iter().filter(|&&b| b == b'\n').count() + 1)
        };
        let file: File = toml::from_str(text)
            .map_err(|e| error(path, e.span().and_then(line), with_suggestion(e.message())))?;
        let at = |spanned_start: std::ops::Range<usize>, message: String| {
            error(path, line(spanned_start), message)
        };

        let species = file.species.get_ref().clone();
        if !is_valid_name(&species) {
            return Err(at(
                file.species.span(),
                format!("species '{species}' must match [a-z0-9_-]+"),
            ));
        }
        let task_type: TaskType = file
            .task_type
            .get_ref()
            .parse()
            .map_err(|e: crate::meshy::UnknownTaskType| at(file.task_type.span(), e.to_string()))?;
        let delivery = match file.delivery.as_ref().map(|d| d.get_ref().as_str()) {
            None | Some("webhook") => Delivery::Webhook,
            Some("polling") => Delivery::Polling,
            Some(other) => {
                let span = file
                    .delivery
                    .as_ref()
                    .map(Spanned::span)
                    .unwrap_or_default();
                return Err(at(
                    span,
                    format!("unknown delivery '{other}'; expected one of: webhook, polling"),
                ));
            }
        };
        if let Some(prompt) = &file.prompt
            && prompt_field(task_type).is_none()
        {
            return Err(at(
                prompt.span(),
                format!("a {task_type} task takes no prompt; put its fields under [params]"),
            ));
        }
        if let Some(input) = &file.input
            && task_type.input_field().is_none()
        {
            return Err(at(
                input.span(),
                format!("a {task_type} task takes no input task"),
            ));
        }
        let api = match &file.api {
            None => None,
            Some(name) => {
                let api: ApiGeneration =
                    name.get_ref()
                        .parse()
                        .map_err(|e: crate::meshy::UnknownApiGeneration| {
                            at(name.span(), e.to_string())
                        })?;
                if api.create_path(task_type).is_none() {
                    let why = match api {
                        ApiGeneration::V2 => {
                            "v2's text-to-3d is one call: use task_type = \"text3d\" with [params] \
                             should_texture = true and a texture_model"
                        }
                        ApiGeneration::V1 => "it exists only in v2",
                    };
                    return Err(at(
                        name.span(),
                        format!("a {task_type} task has no endpoint in Meshy API {api}: {why}"),
                    ));
                }
                Some(api)
            }
        };
        let metadata = match &file.metadata {
            None => None,
            Some(table) => {
                let mut pairs = Vec::new();
                for (key, value) in table.get_ref() {
                    let value = match value {
                        toml::Value::String(s) => s.clone(),
                        toml::Value::Integer(_)
                        | toml::Value::Float(_)
                        | toml::Value::Boolean(_) => value.to_string(),
                        _ => {
                            return Err(at(
                                table.span(),
                                format!("[metadata] {key}: a tag is a string, number or boolean"),
                            ));
                        }
                    };
                    pairs.push((key.clone(), value));
                }
                let header = crate::meshy::v2_rules::metadata_header(
                    pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                );
                crate::meshy::v2_rules::check_metadata(&header)
                    .map_err(|refusal| at(table.span(), format!("[metadata]: {refusal}")))?;
                Some(header)
            }
        };
        let expect = file.expect.as_ref();
        let expect_status = match expect.and_then(|e| e.status.as_ref()) {
            None => TaskStatus::Succeeded,
            Some(status) => {
                let parsed = TaskStatus::from(status.get_ref().clone());
                if !parsed.is_terminal() {
                    return Err(at(
                        status.span(),
                        format!(
                            "expected status '{}' is not a terminal status (SUCCEEDED, FAILED, CANCELED, EXPIRED)",
                            status.get_ref()
                        ),
                    ));
                }
                parsed
            }
        };
        let simulator = match &file.simulator {
            None => None,
            Some(table) => {
                if file.prompt.is_none() {
                    return Err(at(
                        table.span(),
                        "[simulator] needs a prompt: the simulator recognises the task by it"
                            .into(),
                    ));
                }
                let behaviour = Behaviour::deserialize(toml::Value::Table(table.get_ref().clone()))
                    .map_err(|e| at(table.span(), format!("[simulator]: {}", e.message())))?;
                Some(behaviour)
            }
        };
        let params = match &file.params {
            None => Map::new(),
            Some(table) => match serde_json::to_value(table) {
                Ok(Value::Object(map)) => map,
                _ => return Err(error(path, None, "[params] must be a table".into())),
            },
        };
        let scenario = Scenario {
            name: name_of(path),
            path: path.to_owned(),
            species,
            task_type,
            prompt: file.prompt.map(Spanned::into_inner),
            delivery,
            input: file.input.map(Spanned::into_inner),
            params,
            expect_status,
            expect_formats: expect
                .and_then(|e| e.model_formats.clone())
                .unwrap_or_default(),
            simulator,
            api,
            metadata,
        };
        // Catch missing or malformed API fields now, with a stand-in for the input task.
        scenario
            .request(Some("input-task-id"))
            .map_err(|e| error(path, None, e.to_string()))?;
        Ok(scenario)
    }

    /// The body this scenario's request sends under API v2 (with a placeholder input
    /// task id), when v2's request rules accept it; else why not. The one check of "would
    /// v2 take this file as it is" (`cassettes check` and `cassettes migrate` ask it).
    pub fn v2_body(&self) -> Result<Map<String, Value>, String> {
        let request = self
            .request(Some("input-task"))
            .map_err(|e| e.to_string())?;
        let body = request.body(ApiGeneration::V2).map_err(|e| e.to_string())?;
        let fields = body.as_object().cloned().unwrap_or_default();
        crate::meshy::v2_rules::check(self.task_type, &fields).map_err(|r| r.message)?;
        Ok(fields)
    }

    /// What its request costs when sent in `generation` (a v2 price depends on the model,
    /// texture and actions), if known. The input task's id changes no price.
    pub fn credits(&self, generation: ApiGeneration) -> Option<u64> {
        let request = self.request(Some("input-task")).ok()?;
        crate::meshy::pricing::request_credits(
            self.task_type,
            generation,
            &request.body(generation).ok()?,
        )
    }

    /// The API request: `[params]`, the prompt under the field its task type uses, and
    /// the input task's id under the type's input field.
    pub fn request(&self, input_task_id: Option<&str>) -> Result<TaskRequest, RequestError> {
        let mut fields = self.params.clone();
        if let (Some(prompt), Some(field)) = (&self.prompt, prompt_field(self.task_type)) {
            fields.insert(field.into(), Value::from(prompt.as_str()));
        }
        if let (Some(id), Some(field), Some(_)) =
            (input_task_id, self.task_type.input_field(), &self.input)
        {
            fields.insert(field.into(), Value::from(id));
        }
        TaskRequest::from_json(self.task_type, Value::Object(fields))
    }
}

/// Where a scenario's `prompt` goes in the request, by task type.
#[allow(deprecated)] // v1's refine and routes: spoken until 2027-03-15, replayed after
pub fn prompt_field(task_type: TaskType) -> Option<&'static str> {
    match task_type {
        TaskType::Text3d
        | TaskType::TextToImage
        | TaskType::ImageToImage
        | TaskType::TextToMotion => Some("prompt"),
        TaskType::Text3dRefine | TaskType::Image3d | TaskType::MultiImage3d => {
            Some("texture_prompt")
        }
        TaskType::Retexture => Some("text_style_prompt"),
        TaskType::Remesh
        | TaskType::Rigging
        | TaskType::Animation
        | TaskType::Convert
        | TaskType::Resize
        | TaskType::UvUnwrap
        | TaskType::PrintAnalyze
        | TaskType::PrintRepair
        | TaskType::PrintMultiColor
        | TaskType::RigCheck => None,
    }
}

/// Checks every `input` against the loaded scenarios: it must exist, be loadable, and
/// not form a cycle. Returns the errors by scenario name.
pub fn check_inputs(scenarios: &BTreeMap<String, Scenario>) -> BTreeMap<String, ScenarioError> {
    let mut errors = BTreeMap::new();
    for scenario in scenarios.values() {
        let mut chain = vec![scenario.name.clone()];
        let mut current = scenario;
        while let Some(input) = &current.input {
            let Some(next) = scenarios.get(input) else {
                let names = scenarios.keys().map(String::as_str);
                let hint = did_you_mean(input, names)
                    .map(|close| format!("; did you mean '{close}'?"))
                    .unwrap_or_default();
                let message = format!(
                    "input '{input}' is not a scenario (or its file is invalid); expected one of the files in {}{hint}",
                    scenario.path.parent().unwrap_or(Path::new(".")).display()
                );
                errors.insert(scenario.name.clone(), error(&scenario.path, None, message));
                break;
            };
            if chain.contains(input) {
                chain.push(input.clone());
                errors.insert(
                    scenario.name.clone(),
                    error(
                        &scenario.path,
                        None,
                        format!("input cycle: {}", chain.join(" -> ")),
                    ),
                );
                break;
            }
            chain.push(input.clone());
            current = next;
        }
    }
    errors
}

/// serde's "unknown field `colour`, expected one of `api`, …" with "did you mean
/// `color`?" when one of the expected names is close.
fn with_suggestion(message: &str) -> String {
    let suggestion = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
        .and_then(|(unknown, rest)| {
            let expected = rest.split('`').skip(1).step_by(2);
            did_you_mean(unknown, expected)
        });
    match suggestion {
        Some(close) => format!("{message}; did you mean `{close}`?"),
        None => message.to_owned(),
    }
}

/// The one name of `names` close to `word` (an edit or two away, fewer for short
/// words), if exactly one is.
pub fn did_you_mean<'a>(word: &str, names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let most = match word.chars().count() {
        0..=3 => 1,
        4..=7 => 2,
        _ => 3,
    };
    let mut close = names.filter(|name| *name != word && edit_distance(word, name) <= most);
    let first = close.next()?;
    close.next().is_none().then_some(first)
}

/// Levenshtein distance, on characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

fn error(path: &Path, line: Option<usize>, message: String) -> ScenarioError {
    ScenarioError {
        path: path.to_owned(),
        line,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, String> {
        Scenario::parse(Path::new("scenarios/otter_text3d.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn api_pins_a_generation_and_metadata_becomes_the_header() {
        let base = "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"otter\"\n";
        assert_eq!(parse(base).unwrap().api, None);
        assert_eq!(
            parse(&format!("api = \"v1\"\n{base}")).unwrap().api,
            Some(ApiGeneration::V1)
        );
        let err = parse(&format!("api = \"v3\"\n{base}")).unwrap_err();
        assert_eq!(
            err,
            "scenario file 'scenarios/otter_text3d.toml', line 1: unknown Meshy API generation 'v3'; expected v1 or v2"
        );
        let refine = "api = \"v2\"\nspecies = \"otter\"\ntask_type = \"text3d_refine\"\n";
        let err = parse(refine).unwrap_err();
        assert!(
            err.contains("a text3d_refine task has no endpoint in Meshy API v2"),
            "{err}"
        );
        let tagged = parse(&format!(
            "{base}[metadata]\nproject = \"hero fox\"\nbuild = 42\n"
        ))
        .unwrap();
        assert_eq!(
            tagged.metadata.as_deref(),
            Some("build=42,project=hero%20fox")
        );
        let too_many: String = (0..65).map(|i| format!("k{i} = \"v\"\n")).collect();
        let err = parse(&format!("{base}[metadata]\n{too_many}")).unwrap_err();
        assert!(err.contains("[metadata]: X-Meshy-Metadata"), "{err}");
    }

    #[test]
    fn the_design_example_loads() {
        let scenario = parse(
            r#"
species = "otter"
task_type = "text3d"
prompt = "Cute otter character, sculpture style"
delivery = "webhook"
[params]
ai_model = "meshy-5"
[expect]
status = "SUCCEEDED"
model_formats = ["glb", "fbx"]
"#,
        )
        .unwrap();
        assert_eq!(
            (
                scenario.name.as_str(),
                scenario.task_type,
                scenario.delivery
            ),
            ("otter_text3d", TaskType::Text3d, Delivery::Webhook)
        );
        assert_eq!(scenario.expect_formats, ["glb", "fbx"]);
        let body = scenario.request(None).unwrap().to_json();
        assert_eq!(
            body,
            serde_json::json!({"mode": "preview", "prompt": "Cute otter character, sculpture style", "ai_model": "meshy-5"})
        );
    }

    #[test]
    fn an_unknown_key_or_input_close_to_a_known_one_gets_a_did_you_mean() {
        let path = Path::new("scenarios/otter.toml");
        let typo = "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"p\"\ndeliverry = \"webhook\"\n";
        let err = Scenario::parse(path, typo).unwrap_err().to_string();
        assert!(
            err.starts_with("scenario file 'scenarios/otter.toml', line 4: unknown field `deliverry`, expected one of")
                && err.ends_with("; did you mean `delivery`?"),
            "{err}"
        );
        // Nothing close: no guess.
        let far = "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"p\"\ncolour = \"red\"\n";
        let err = Scenario::parse(path, far).unwrap_err().to_string();
        assert!(!err.contains("did you mean"), "{err}");

        let scenario = |name: &str, input: Option<&str>| {
            let text = match input {
                Some(i) => {
                    format!("species = \"otter\"\ntask_type = \"rigging\"\ninput = \"{i}\"\n")
                }
                None => "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"p\"\n".to_owned(),
            };
            let path = PathBuf::from(format!("scenarios/{name}.toml"));
            (name.to_owned(), Scenario::parse(&path, &text).unwrap())
        };
        let suite: BTreeMap<String, Scenario> = [
            scenario("otter_text3d", None),
            scenario("otter_rig", Some("otter_text3dd")),
            scenario("otter_anim", Some("beaver")),
        ]
        .into_iter()
        .collect();
        let errors = check_inputs(&suite);
        assert_eq!(
            errors["otter_rig"].to_string(),
            "scenario file 'scenarios/otter_rig.toml': input 'otter_text3dd' is not a scenario (or its file is \
             invalid); expected one of the files in scenarios; did you mean 'otter_text3d'?"
        );
        assert!(!errors["otter_anim"].to_string().contains("did you mean"));
        assert_eq!(
            did_you_mean("rig", ["rag", "rug"].into_iter()),
            None,
            "two are close: no guess"
        );
    }

    #[test]
    fn mistakes_name_the_file_the_line_and_the_problem() {
        let cases = [
            (
                "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"p\"\ncolour = \"red\"\n",
                "scenario file 'scenarios/otter_text3d.toml', line 4: unknown field `colour`",
            ),
            (
                "species = \"otter\"\ntask_type = \"text_3d\"\n",
                "scenario file 'scenarios/otter_text3d.toml', line 2: unknown task type 'text_3d'; expected one of:",
            ),
            (
                "species = \"Otter\"\ntask_type = \"text3d\"\n",
                "scenario file 'scenarios/otter_text3d.toml', line 1: species 'Otter' must match [a-z0-9_-]+",
            ),
            (
                "task_type = \"text3d\"\n",
                "scenario file 'scenarios/otter_text3d.toml', line 1: missing field `species`",
            ),
            (
                "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"p\"\ndelivery = \"pigeon\"\n",
                "line 4: unknown delivery 'pigeon'; expected one of: webhook, polling",
            ),
            (
                "species = \"otter\"\ntask_type = \"rigging\"\nprompt = \"p\"\n",
                "line 3: a rigging task takes no prompt",
            ),
            (
                "species = \"otter\"\ntask_type = \"text3d\"\n",
                "scenario file 'scenarios/otter_text3d.toml': invalid text3d request: missing field `prompt`",
            ),
            (
                "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"p\"\n[expect]\nstatus = \"IN_PROGRESS\"\n",
                "line 5: expected status 'IN_PROGRESS' is not a terminal status",
            ),
            (
                "species = \"otter\"\ntask_type = [1]\n",
                "line 2: invalid type: sequence, expected a string",
            ),
            (
                "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"p\"\n[simulator]\noutcome = \"exploded\"\n",
                "line 4: [simulator]: unknown variant `exploded`",
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text).unwrap_err();
            assert!(
                err.contains(expected),
                "{text:?}\n  gave: {err}\n  want: {expected}"
            );
        }
    }

    #[test]
    fn inputs_must_exist_and_not_form_cycles() {
        let load = |name: &str, input: Option<&str>| {
            let text = match input {
                Some(input) => format!(
                    "species = \"otter\"\ntask_type = \"text3d_refine\"\ninput = \"{input}\"\n"
                ),
                None => "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"p\"\n".into(),
            };
            let scenario =
                Scenario::parse(Path::new(&format!("scenarios/{name}.toml")), &text).unwrap();
            (name.to_owned(), scenario)
        };
        let scenarios: BTreeMap<String, Scenario> = [
            load("a", None),
            load("b", Some("a")),
            load("c", Some("d")),
            load("d", Some("c")),
            load("e", Some("nope")),
        ]
        .into_iter()
        .collect();
        let errors = check_inputs(&scenarios);
        assert_eq!(errors.keys().collect::<Vec<_>>(), ["c", "d", "e"]);
        assert_eq!(errors["c"].message, "input cycle: c -> d -> c");
        assert!(
            errors["e"]
                .message
                .starts_with("input 'nope' is not a scenario")
        );
        let refine = scenarios["b"].request(Some("task-a")).unwrap().to_json();
        assert_eq!(refine["preview_task_id"], "task-a");
    }

    #[test]
    fn a_directory_whose_name_looks_like_a_pattern_is_listed() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("suite [v2] *");
        std::fs::create_dir_all(dir.join("nested.toml")).unwrap();
        for name in ["b.toml", "a.toml", ".#a.toml", "notes.md"] {
            std::fs::write(dir.join(name), "").unwrap();
        }
        let found = discover(&dir).unwrap();
        assert_eq!(found, [dir.join("a.toml"), dir.join("b.toml")]);
    }

    #[test]
    fn an_empty_directory_is_an_error_not_a_green_run() {
        let dir = tempfile::tempdir().unwrap();
        let err = discover(dir.path()).unwrap_err();
        assert!(matches!(&err, DiscoverError::NoneFound { dir: d } if d == dir.path()));
        let err = err.to_string();
        assert!(
            err.starts_with(&format!(
                "no scenario files match '{}/*.toml'",
                dir.path().display()
            )),
            "{err}"
        );
    }

    /// Found while fuzzing: `task_seconds = inf` (or `nan`, `-5`, `1e300`) was taken
    /// and silently clamped when the simulator ran the task.
    #[test]
    fn task_seconds_must_be_a_finite_number_of_seconds_up_to_a_day() {
        for value in ["inf", "-inf", "nan", "-5", "1e300", "86401"] {
            let err = parse(&format!(
                "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"p\"\n[simulator]\ntask_seconds = {value}\n"
            ))
            .unwrap_err();
            assert!(
                err.starts_with("scenario file 'scenarios/otter_text3d.toml', line ")
                    && err.contains(": [simulator]: task_seconds = ")
                    && err.ends_with(" is not a number of seconds from 0 to 86400 (a day)"),
                "{value}: {err}"
            );
        }
        let ok = parse(
            "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"p\"\n[simulator]\ntask_seconds = 0.5\n",
        )
        .unwrap();
        assert_eq!(ok.simulator.unwrap().task_seconds, Some(0.5));
    }

    /// Fuzz-style (proptest, bounded cases): whatever a scenario file holds, loading it
    /// gives a scenario or an error naming the file, never a panic.
    mod fuzz {
        use super::*;
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};

        const VALID: &str = r#"species = "otter"
task_type = "text3d"
prompt = "Cute otter character, sculpture style"
delivery = "webhook"

[params]
ai_model = "meshy-5"
target_polycount = 30000
texture = { seed = 7, enable_pbr = true }

[expect]
status = "SUCCEEDED"
model_formats = ["glb", "fbx"]

[simulator]
outcome = "succeeded"
task_seconds = 2.5
create_status = 502
duplicate_deliveries = true
"#;

        fn config() -> Config {
            Config {
                cases: 256,
                failure_persistence: None,
                ..Config::default()
            }
        }

        /// Parses, and on success builds the request as a trial would.
        fn load(text: &str) {
            let path = Path::new("scenarios/fuzz.toml");
            match Scenario::parse(path, text) {
                Ok(scenario) => {
                    let _ = scenario.request(Some("input-task"));
                    let _ = scenario.simulator_only();
                }
                Err(e) => {
                    assert!(
                        e.to_string()
                            .starts_with("scenario file 'scenarios/fuzz.toml'"),
                        "{e}"
                    );
                }
            }
        }

        /// Outside values: numbers at and past every limit, odd types, odd strings.
        fn value() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("inf".to_owned()),
                Just("-inf".to_owned()),
                Just("nan".to_owned()),
                Just("-nan".to_owned()),
                Just("1e300".to_owned()),
                Just("-1e300".to_owned()),
                Just("-1".to_owned()),
                Just("0".to_owned()),
                Just("65536".to_owned()),
                Just("9223372036854775807".to_owned()),
                Just("-9223372036854775808".to_owned()),
                Just("1979-05-27T07:32:00Z".to_owned()),
                Just("[]".to_owned()),
                Just("{}".to_owned()),
                Just("[[1], {a = 2}]".to_owned()),
                Just("\"\"".to_owned()),
                Just("\"\u{e9}t\u{e9}\"".to_owned()),
                Just("true".to_owned()),
                any::<i64>().prop_map(|n| n.to_string()),
                any::<f64>().prop_map(|n| format!("{n:?}")),
                "\"[ -~]{0,16}\"".prop_map(|s| s.replace('\\', "")),
                "[ -~]{0,16}",
            ]
        }

        #[test]
        fn the_valid_scenario_loads() {
            Scenario::parse(Path::new("scenarios/fuzz.toml"), VALID).unwrap();
        }

        #[test]
        fn arbitrary_text_never_panics() {
            TestRunner::new(config())
                .run(&"\\PC{0,200}", |text| {
                    load(&text);
                    Ok(())
                })
                .unwrap();
            TestRunner::new(config())
                .run(&proptest::collection::vec(any::<u8>(), 0..300), |bytes| {
                    load(&String::from_utf8_lossy(&bytes));
                    Ok(())
                })
                .unwrap();
        }

        #[test]
        fn any_value_in_place_of_any_value_never_panics() {
            let lines: Vec<&str> = VALID.lines().collect();
            let assignments: Vec<usize> = (0..lines.len())
                .filter(|&i| lines[i].contains(" = "))
                .collect();
            TestRunner::new(config())
                .run(
                    &(proptest::sample::select(assignments), value()),
                    |(i, value)| {
                        let mut mutated = lines.clone();
                        let key = lines[i].split(" = ").next().unwrap_or_default();
                        let line = format!("{key} = {value}");
                        mutated[i] = &line;
                        load(&mutated.join("\n"));
                        Ok(())
                    },
                )
                .unwrap();
        }

        #[test]
        fn arbitrary_keys_and_tables_never_panic() {
            let key = prop_oneof![
                Just("species".to_owned()),
                Just("task_type".to_owned()),
                Just("task_seconds".to_owned()),
                Just("create_status".to_owned()),
                Just("api_version".to_owned()),
                Just("task_error".to_owned()),
                Just("outcome".to_owned()),
                Just("input".to_owned()),
                Just("\"\"".to_owned()),
                Just("a.b.c".to_owned()),
                "[a-z_]{1,12}",
            ];
            let table = prop_oneof![
                Just("".to_owned()),
                Just("[params]\n".to_owned()),
                Just("[simulator]\n".to_owned()),
                Just("[expect]\n".to_owned()),
                Just("[[simulator]]\n".to_owned()),
                Just("[params.texture]\n".to_owned()),
            ];
            TestRunner::new(config())
                .run(
                    &proptest::collection::vec((table, key, value()), 1..6),
                    |extra| {
                        let mut text = VALID.to_owned();
                        for (table, key, value) in extra {
                            text.push_str(&format!("{table}{key} = {value}\n"));
                        }
                        load(&text);
                        Ok(())
                    },
                )
                .unwrap();
        }

        #[test]
        fn deep_nesting_never_overflows_the_stack() {
            for depth in [100, 10_000, 100_000] {
                let arrays = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
                let tables = format!("{}1{}", "{a = ".repeat(depth), "}".repeat(depth));
                for value in [arrays, tables] {
                    load(&VALID.replace("target_polycount = 30000", &format!("deep = {value}")));
                }
            }
        }

        #[test]
        fn every_truncation_loads_or_says_why() {
            for end in (0..=VALID.len()).filter(|&i| VALID.is_char_boundary(i)) {
                load(&VALID[..end]);
            }
        }
    }
}
