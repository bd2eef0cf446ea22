//! The report page: `index.html`. A summary on top (counts, credits represented,
//! oldest recording, API versions, the findings of `cassettes check`), then one section
//! per scenario: what it is and how it last ran, its models in `<model-viewer>`, its
//! images, its delivery timelines and, folded, every request and response body (as in
//! the cassette, scrubbed, with anything that still looks like a Meshy key masked) and
//! every webhook delivery.
//!
//! Models live in bundles beside the page, `models/<bundle>.js` ([`bundle_script`]):
//! scripts, because a page opened from `file://` may load sibling scripts but not
//! `fetch` sibling files. The page loads a bundle when one of its viewers scrolls into
//! view and hands the viewer a `blob:` URL of its model, so a big suite's page stays
//! light until you scroll. `<model-viewer>` itself (vendored, Apache-2.0) is inlined, and so
//! are the page's style sheet and that loader, `report.css` and `report.js` beside this file.
//! One function renders each part of the page.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use base64::Engine as _;

use super::collect::{Asset, CassetteView, Entry};
use super::results::{Status, TrialResult};
use super::timeline;
use crate::cassette::RecordedAgainst;

/// `<model-viewer>`, vendored from the npm package `@google/model-viewer`
/// (`vendor/model-viewer/`, `scripts/refresh-model-viewer`).
const MODEL_VIEWER: &str = include_str!("../../vendor/model-viewer/model-viewer-umd.min.js");
const MODEL_VIEWER_VERSION: &str = include_str!("../../vendor/model-viewer/VERSION");

/// Bodies longer than this are cut in the page (the cassette has them whole).
const BODY_LIMIT: usize = 16 * 1024;

/// `text` escaped, its `` `command` `` spans as `<code>`.
fn code_spans(text: &str) -> String {
    escape(text)
        .split('`')
        .enumerate()
        .map(|(i, part)| match i % 2 {
            1 => format!("<code>{part}</code>"),
            _ => part.to_owned(),
        })
        .collect()
}

/// HTML-escapes text for element content and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, text, &['&', '<', '>', '"', '\''][..]);
    out
}

/// Appends `text` escaped for element content only (`&`, `<`, `>`): a `<pre>` body,
/// whose quotes need no escaping (a JSON body stays a fifth smaller without `&quot;`).
fn push_text(out: &mut String, text: &str) {
    push_escaped(out, text, &['&', '<', '>'][..]);
}

/// Appends `text` with each of `special` replaced by its character reference.
fn push_escaped(out: &mut String, text: &str, special: &[char]) {
    let mut rest = text;
    while let Some(at) = rest.find(special) {
        out.push_str(&rest[..at]);
        out.push_str(match rest.as_bytes()[at] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => "&#39;",
        });
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}

/// What the summary counts of one entry, kept once its section is rendered (its
/// models need not stay in memory), and between reports (`super::cache`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Facts {
    pub name: String,
    pub status: Option<Status>,
    /// Whether it has a cassette; then its credits, target, date and API version.
    pub recorded: bool,
    pub credits: Option<u64>,
    /// What its cassette was recorded against (`None`: it does not say).
    pub against: Option<RecordedAgainst>,
    pub recorded_at: Option<String>,
    pub api_version: Option<String>,
    pub generation: Option<crate::meshy::ApiGeneration>,
}

impl Facts {
    /// The entry's facts; `status` is its result's, set once the results are read.
    pub fn of(entry: &Entry) -> Facts {
        let cassette = entry.cassette.as_ref();
        Facts {
            name: entry.name.clone(),
            status: None,
            recorded: cassette.is_some(),
            credits: cassette.and_then(|c| c.credits),
            against: cassette.and_then(|c| c.against.clone()),
            recorded_at: cassette.and_then(|c| c.recorded_at.clone()),
            api_version: cassette.and_then(|c| c.api_version.clone()),
            generation: cassette.and_then(|c| c.generation),
        }
    }
}

/// The file `models/<bundle>.js` that hands a few models to the page: a script,
/// because a page opened from `file://` may load sibling scripts but not `fetch`
/// sibling files. One line per model: `meshToolkitModel("<sha256>", "<base64>");`.
pub fn bundle_script(models: &[&Asset]) -> String {
    let mut out = String::new();
    for model in models {
        let _ = writeln!(
            out,
            "meshToolkitModel(\"{}\", \"{}\");",
            model.sha256,
            base64::engine::general_purpose::STANDARD.encode(model.bytes.as_slice())
        );
    }
    out
}

/// The length of [`bundle_script`]`(models)`, reckoned without encoding them: a bundle
/// file already there is whole when it is this long.
pub fn bundle_len(models: &[&Asset]) -> usize {
    let line = |model: &&Asset| {
        let base64 = model.bytes.len().div_ceil(3) * 4;
        "meshToolkitModel(\"".len() + model.sha256.len() + "\", \"".len() + base64 + "\");\n".len()
    };
    models.iter().map(line).sum()
}

/// How a page stamped `stamp` begins (`super::cache::stamp`).
pub fn stamp_line(stamp: &str) -> String {
    format!("<!doctype html>\n<!-- mesh-toolkit report {stamp} -->\n")
}

/// The page up to its first entry, opening with its `stamp`: the summary of `facts`
/// and the findings of `check`. `generated` says when and by what (`cargo test`,
/// `mesh-toolkit report`).
pub fn top(
    sources: &super::Sources,
    facts: &[Facts],
    check: &crate::check::Report,
    generated: &str,
    stamp: &str,
) -> String {
    let mut before = stamp_line(stamp);
    before.reserve(16_384);
    before.push_str("<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    before.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    before.push_str("<title>mesh-toolkit report</title>\n<style>\n");
    before.push_str(STYLE);
    before.push_str("</style>\n</head>\n<body>\n");
    summary(&mut before, sources, facts, check, generated);
    before.push_str("<main>\n");
    before
}

/// Writes the whole page into `out`: its [`top`], then the entries' `sections` (in
/// `facts`' order: each a [`head`] and a [`body`]), then the viewer.
/// Returns where each body is in it (bytes).
pub fn write_page(
    out: &mut dyn std::io::Write,
    top: &str,
    sections: &[[&str; 2]],
) -> std::io::Result<Vec<std::ops::Range<usize>>> {
    out.write_all(top.as_bytes())?;
    let mut at = top.len();
    let mut bodies = Vec::with_capacity(sections.len());
    for [head, body] in sections {
        out.write_all(head.as_bytes())?;
        out.write_all(body.as_bytes())?;
        let start = at + head.len();
        at = start + body.len();
        bodies.push(start..at);
    }
    let mut after = String::from("</main>\n");
    let _ = write!(
        after,
        "<!-- {} -->\n<script>",
        escape(MODEL_VIEWER_VERSION.lines().next().unwrap_or_default())
    );
    // A `</script` inside the library would end the element early.
    after.push_str(&MODEL_VIEWER.replace("</script", "<\\/script"));
    after.push_str("</script>\n<script>\n");
    after.push_str(LOADER);
    after.push_str("</script>\n</body>\n</html>\n");
    out.write_all(after.as_bytes())?;
    Ok(bodies)
}

/// The page's header: where its files came from, the summary of the suite and the
/// table of contents, one function per part.
fn summary(
    out: &mut String,
    sources: &super::Sources,
    facts: &[Facts],
    check: &crate::check::Report,
    generated: &str,
) {
    let _ = write!(
        out,
        "<header>\n<h1>mesh-toolkit report</h1>\n<p class=\"sources\">scenarios <code>{}</code> · cassettes \
         <code>{}</code> · {}</p>\n",
        escape(&sources.scenarios.display().to_string()),
        escape(&sources.cassettes.display().to_string()),
        escape(generated)
    );
    out.push_str("<section id=\"summary\">\n");
    counts(out, facts);
    out.push_str("<ul class=\"facts\">\n");
    let recorded: Vec<&Facts> = facts.iter().filter(|f| f.recorded).collect();
    credits(out, &recorded);
    oldest(out, &recorded);
    versions(out, &recorded);
    out.push_str("</ul>\n");
    check_findings(out, check);
    contents(out, facts);
    out.push_str("</section>\n</header>\n");
}

/// The trials by status.
fn counts(out: &mut String, facts: &[Facts]) {
    let count = |status: Status| facts.iter().filter(|f| f.status == Some(status)).count();
    let not_run = facts.iter().filter(|f| f.status.is_none()).count();
    let _ = writeln!(
        out,
        "<dl class=\"counts\">\
         <div><dt>trials</dt><dd id=\"count-all\">{}</dd></div>\
         <div class=\"passed\"><dt>passed</dt><dd id=\"count-passed\">{}</dd></div>\
         <div class=\"failed\"><dt>failed</dt><dd id=\"count-failed\">{}</dd></div>\
         <div class=\"ignored\"><dt>ignored</dt><dd id=\"count-ignored\">{}</dd></div>\
         <div class=\"not-run\"><dt>not run</dt><dd id=\"count-not-run\">{not_run}</dd></div>\
         </dl>",
        facts.len(),
        count(Status::Passed),
        count(Status::Failed),
        count(Status::Ignored),
    );
}

/// The credits the `recorded` entries represent: of the real API, of rehearsals (never
/// counted as the real API's), of the simulator, and how many are of unknown price.
fn credits(out: &mut String, recorded: &[&Facts]) {
    let (mut real, mut rehearsal, mut sim, mut unknown_price) = (0u64, 0u64, 0u64, 0usize);
    for f in recorded {
        match (f.credits, &f.against) {
            (None, _) => unknown_price += 1,
            (Some(n), Some(RecordedAgainst::Simulator)) => sim = sim.saturating_add(n),
            (Some(n), Some(RecordedAgainst::Rehearsal(_))) => {
                rehearsal = rehearsal.saturating_add(n)
            }
            (Some(n), _) => real = real.saturating_add(n),
        }
    }
    let mut credits = format!(
        "<li id=\"credits\">credits represented, at today's prices: <b>{real}</b> by recordings of the real API"
    );
    if rehearsal > 0 {
        let _ = write!(
            credits,
            "; {rehearsal} by rehearsals against another base URL, not counted as the real API's"
        );
    }
    if sim > 0 {
        let _ = write!(
            credits,
            "; {sim} by recordings of the simulator, where nothing was paid"
        );
    }
    if unknown_price > 0 {
        let _ = write!(
            credits,
            "; {unknown_price} recording{} of unknown price",
            if unknown_price == 1 { "" } else { "s" }
        );
    }
    credits.push_str("</li>\n");
    out.push_str(&credits);
}

/// The oldest of the `recorded` entries, linked to its section.
fn oldest(out: &mut String, recorded: &[&Facts]) {
    let oldest = recorded
        .iter()
        .filter_map(|f| {
            let at = f.recorded_at.as_deref()?;
            Some((crate::clock::parse_rfc3339_ms(at)?, at, f.name.as_str()))
        })
        .min();
    match oldest {
        Some((_, at, name)) => {
            let _ = writeln!(
                out,
                "<li id=\"oldest\">oldest recording: {} (<a href=\"#s-{}\">{}</a>)</li>",
                escape(at),
                escape(name),
                escape(name)
            );
        }
        None => out.push_str("<li id=\"oldest\">oldest recording: none</li>\n"),
    }
}

/// The API versions of the `recorded` entries, with how many cassettes have each.
fn versions(out: &mut String, recorded: &[&Facts]) {
    let mut versions: BTreeMap<&str, usize> = BTreeMap::new();
    for f in recorded {
        *versions
            .entry(f.api_version.as_deref().unwrap_or("unknown"))
            .or_default() += 1;
    }
    let versions: Vec<String> = versions
        .iter()
        .map(|(v, n)| {
            let plural = if *n == 1 { "" } else { "s" };
            format!("<code>{}</code> ({n} cassette{plural})", escape(v))
        })
        .collect();
    let _ = writeln!(
        out,
        "<li id=\"versions\">API versions: {}</li>",
        if versions.is_empty() {
            "none".to_owned()
        } else {
            versions.join(", ")
        }
    );
    let v1 = recorded
        .iter()
        .filter(|f| f.generation == Some(crate::meshy::ApiGeneration::V1))
        .count();
    let v2 = recorded
        .iter()
        .filter(|f| f.generation == Some(crate::meshy::ApiGeneration::V2))
        .count();
    let _ = writeln!(
        out,
        "<li id=\"generations\">Meshy API: {v2} recorded with v2, {v1} with v1{}</li>",
        if v1 > 0 {
            format!(" (v1 stops working on {})", crate::meshy::V1_SUNSET)
        } else {
            String::new()
        }
    );
}

/// The findings of `cassettes check`, folded unless there is a problem.
fn check_findings(out: &mut String, check: &crate::check::Report) {
    let _ = write!(
        out,
        "<details id=\"check\" class=\"check\"{}><summary>cassettes check: {} problem{}, {} note{}</summary><ul>",
        if check.problems() > 0 { " open" } else { "" },
        check.problems(),
        if check.problems() == 1 { "" } else { "s" },
        check.findings.len() - check.problems(),
        if check.findings.len() - check.problems() == 1 {
            ""
        } else {
            "s"
        },
    );
    for ((task_type, version), fields) in &check.drift {
        let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
        let _ = write!(
            out,
            "<li class=\"note\">drift: {} tasks of {} carry fields the SDK does not model: {}</li>",
            escape(task_type),
            escape(version),
            escape(&fields.join(", "))
        );
    }
    for finding in &check.findings {
        let _ = write!(
            out,
            "<li class=\"{}\"><code>{}</code>: {}<br>fix: {}</li>",
            if finding.problem { "problem" } else { "note" },
            escape(&finding.file.display().to_string()),
            escape(&finding.what),
            code_spans(&finding.fix)
        );
    }
    out.push_str("</ul></details>\n");
}

/// The table of contents: every scenario with its status.
fn contents(out: &mut String, facts: &[Facts]) {
    out.push_str("<nav><ol>");
    for f in facts {
        let _ = write!(
            out,
            "<li><a href=\"#s-{0}\"><span class=\"badge {1}\">{2}</span> {0}</a></li>",
            escape(&f.name),
            class_of(f.status),
            text_of(f.status)
        );
    }
    out.push_str("</ol></nav>\n");
}

fn class_of(status: Option<Status>) -> &'static str {
    match status {
        Some(Status::Passed) => "passed",
        Some(Status::Failed) => "failed",
        Some(Status::Ignored) => "ignored",
        None => "not-run",
    }
}

fn text_of(status: Option<Status>) -> &'static str {
    match status {
        Some(status) => status.as_str(),
        None => "not run",
    }
}

/// Where a rehearsal was recorded: its origin when known (HTML).
fn rehearsal_at(origin: Option<&str>) -> String {
    match origin {
        Some(origin) => format!("<code>{}</code>", escape(origin)),
        None => "another base URL".to_owned(),
    }
}

/// The part of a scenario's `<article>` its last result decides: its status, how it
/// ran, and its failure message or reason for being ignored.
pub fn head(name: &str, result: Option<&TrialResult>, stale: bool) -> String {
    let status = result.map(|r| r.status);
    let mut out = String::new();
    let name = escape(name);
    let _ = write!(
        out,
        "<article class=\"scenario\" id=\"s-{name}\" data-status=\"{0}\">\n<h2>{name} <span class=\"badge {0}\">{1}</span></h2>\n",
        class_of(status),
        text_of(status)
    );
    let Some(result) = result else {
        out.push_str("<p class=\"last-run\">last run: not run against these cassettes</p>\n");
        return out;
    };
    let mut last = format!("{} ({}", result.status.as_str(), result.ran.as_str());
    if let Some(target) = &result.target {
        let _ = write!(
            last,
            " against the {}",
            match target {
                RecordedAgainst::Simulator => "simulator".to_owned(),
                RecordedAgainst::Rehearsal(at) =>
                    format!("rehearsal at {}", rehearsal_at(at.as_deref())),
                _ => "API".to_owned(),
            }
        );
    }
    last.push(')');
    if let Some(ms) = result.duration_ms {
        let _ = write!(last, " in {:.1} s", ms as f64 / 1000.0);
    }
    if stale {
        last.push_str(" <em>— the scenario file changed since</em>");
    }
    let _ = writeln!(out, "<p class=\"last-run\">last run: {last}</p>");
    if let Some(message) = &result.message {
        let _ = writeln!(
            out,
            "<pre class=\"message {}\">{}</pre>",
            class_of(status),
            escape(message)
        );
    }
    out
}

/// The rest of a scenario's `<article>`, from its files alone: what it is, its models
/// and images, its timelines and its bodies. `bundle_of` names the model bundle
/// (`models/<bundle>.js`) that holds a model, by its sha256.
pub fn body(entry: &Entry, bundle_of: &dyn Fn(&str) -> String) -> String {
    let mut out = String::new();
    facts_list(&mut out, entry);
    problems(&mut out, entry);
    if let Some(cassette) = &entry.cassette {
        assets(&mut out, &entry.name, cassette, bundle_of);
        polls(&mut out, cassette);
    }
    delivery_timelines(&mut out, entry);
    bodies(&mut out, entry);
    out.push_str("</article>\n");
    out
}

/// What the scenario is: its kind and task type, its cassette's facts, and the
/// scenarios it takes its input from or gives its output to.
fn facts_list(out: &mut String, entry: &Entry) {
    out.push_str("<dl class=\"facts\">");
    let mut fact = |label: &str, value: String| {
        let _ = write!(out, "<dt>{label}</dt><dd>{value}</dd>");
    };
    fact("kind", escape(&entry.kind));
    if let Some(task_type) = entry.task_type {
        fact("task type", escape(task_type.as_str()));
    }
    if let Some(cassette) = &entry.cassette {
        cassette_facts(cassette, &mut fact);
    } else {
        fact("cassette", "none recorded".into());
    }
    if let Some(input) = &entry.input {
        fact(
            "input",
            format!("<a href=\"#s-{0}\">{0}</a>", escape(input)),
        );
    }
    if !entry.dependents.is_empty() {
        let links: Vec<String> = entry
            .dependents
            .iter()
            .map(|d| format!("<a href=\"#s-{0}\">{0}</a>", escape(d)))
            .collect();
        fact("input of", links.join(", "));
    }
    out.push_str("</dl>\n");
}

/// The facts of a scenario's cassette, each handed to `fact` as a label and its HTML.
fn cassette_facts(cassette: &CassetteView, fact: &mut dyn FnMut(&str, String)) {
    let ids: Vec<String> = cassette
        .tasks
        .iter()
        .map(|(t, id)| {
            if cassette.tasks.len() > 1 {
                format!("<code>{}</code> ({})", escape(id), t.as_str())
            } else {
                format!("<code>{}</code>", escape(id))
            }
        })
        .collect();
    if !ids.is_empty() {
        fact(
            if ids.len() > 1 { "task ids" } else { "task id" },
            ids.join(", "),
        );
    }
    fact(
        "Meshy API",
        match cassette.generation {
            Some(crate::meshy::ApiGeneration::V1) => format!(
                "<span class=\"generation v1\">v1</span> (stops working on {})",
                crate::meshy::V1_SUNSET
            ),
            Some(crate::meshy::ApiGeneration::V2) => {
                "<span class=\"generation v2\">v2</span>".into()
            }
            None => "unknown".into(),
        },
    );
    fact(
        "API version",
        escape(cassette.api_version.as_deref().unwrap_or("unknown")),
    );
    fact(
        "recorded",
        escape(cassette.recorded_at.as_deref().unwrap_or("unknown")),
    );
    fact(
        "target",
        match &cassette.against {
            Some(RecordedAgainst::Simulator) => "simulator".into(),
            Some(RecordedAgainst::Rehearsal(at)) => format!(
                "<span class=\"badge rehearsal\">rehearsal</span> at {}, not the real API",
                rehearsal_at(at.as_deref())
            ),
            _ => "real API".into(),
        },
    );
    fact(
        "credits",
        match (cassette.credits, &cassette.against) {
            (Some(n), Some(RecordedAgainst::Simulator)) => format!("{n} (simulator: none paid)"),
            (Some(n), Some(RecordedAgainst::Rehearsal(_))) => {
                format!("{n} (rehearsal: not counted as the real API's)")
            }
            (Some(n), _) => n.to_string(),
            (None, _) => "unknown".into(),
        },
    );
    if cassette.incomplete || cassette.pending > 0 {
        fact(
            "journal",
            format!(
                "incomplete{}",
                if cassette.pending > 0 {
                    format!(
                        ", {} create call(s) with no answer on file",
                        cassette.pending
                    )
                } else {
                    String::new()
                }
            ),
        );
    }
    fact(
        "cassette",
        format!(
            "<code>{}</code>",
            escape(&cassette.path.display().to_string())
        ),
    );
}

/// The scenario file's and the cassette's problems, when they have one.
fn problems(out: &mut String, entry: &Entry) {
    let problems = [
        entry.scenario_error.as_ref(),
        entry.cassette_problem.as_ref(),
    ];
    for message in problems.into_iter().flatten() {
        let _ = writeln!(
            out,
            "<pre class=\"message problem\">{}</pre>",
            escape(message)
        );
    }
}

/// The cassette's models, each in a `<model-viewer>` that loads it from its bundle
/// ([`bundle_script`]), and its images, inlined; `name` is the scenario's.
fn assets(
    out: &mut String,
    name: &str,
    cassette: &CassetteView,
    bundle_of: &dyn Fn(&str) -> String,
) {
    let name = escape(name);
    if !cassette.models.is_empty() || !cassette.images.is_empty() {
        out.push_str("<div class=\"assets\">");
        let mut shown = BTreeSet::new();
        for model in &cassette.models {
            if !shown.insert(&model.sha256) {
                continue;
            }
            let _ = write!(
                out,
                "<figure class=\"model\"><model-viewer data-sha256=\"{sha}\" data-bundle=\"{bundle}\" data-name=\"{file}\" \
                 alt=\"{file} of {name}\" camera-controls interaction-prompt=\"none\" \
                 shadow-intensity=\"0.6\" touch-action=\"pan-y\"></model-viewer><figcaption><b>{file}</b> · \
                 {size} · sha256 <code>{sha}</code></figcaption></figure>",
                sha = escape(&model.sha256),
                bundle = escape(&bundle_of(&model.sha256)),
                file = escape(&model.name),
                size = size(model.bytes.len()),
            );
        }
        for image in &cassette.images {
            let _ = write!(
                out,
                "<figure class=\"image\"><img loading=\"lazy\" alt=\"{file} of {name}\" \
                 src=\"data:{kind};base64,{data}\"><figcaption><b>{file}</b> · {size} · sha256 \
                 <code>{sha}</code></figcaption></figure>",
                file = escape(&image.name),
                kind = image.content_type,
                data = base64::engine::general_purpose::STANDARD.encode(image.bytes.as_slice()),
                size = size(image.bytes.len()),
                sha = escape(&image.sha256),
            );
        }
        out.push_str("</div>\n");
    }
}

/// The timeline of the cassette's task reads.
fn polls(out: &mut String, cassette: &CassetteView) {
    if !cassette.polls.is_empty() {
        let _ = writeln!(
            out,
            "<figure class=\"timeline\"><figcaption>polls: {} task reads</figcaption>{}</figure>",
            cassette.polls.len(),
            timeline::svg(&cassette.polls, "poll")
        );
    }
}

/// The timeline of each webhook recording's deliveries.
fn delivery_timelines(out: &mut String, entry: &Entry) {
    for recording in &entry.recordings {
        let mut caption = format!(
            "webhook deliveries of <code>{}</code>: {}",
            escape(&recording.task_id),
            recording.marks.len()
        );
        let repeats = recording.marks.iter().filter(|m| m.duplicate).count();
        let late = recording.marks.iter().filter(|m| m.out_of_order).count();
        if repeats > 0 {
            let _ = write!(caption, ", {repeats} repeated");
        }
        if late > 0 {
            let _ = write!(caption, ", {late} out of order");
        }
        if recording.from_api {
            caption.push_str("; terminal payload from the API (payload_source: api)");
        }
        if recording.incomplete {
            caption.push_str("; <em>incomplete</em>");
        }
        let _ = writeln!(
            out,
            "<figure class=\"timeline\"><figcaption>{caption}</figcaption>{}</figure>",
            timeline::svg(&recording.marks, "delivery")
        );
    }
}

/// The folded request/response bodies and webhook deliveries.
fn bodies(out: &mut String, entry: &Entry) {
    if let Some(cassette) = &entry.cassette {
        let _ = write!(
            out,
            "<details class=\"bodies\"><summary>HTTP interactions ({})</summary>",
            cassette.interactions.len()
        );
        for interaction in &cassette.interactions {
            let (request, response) = (&interaction.request, &interaction.response);
            let _ = write!(
                out,
                "<details class=\"interaction\"><summary><code>{} {}</code> → {} {}</summary>",
                escape(&request.method),
                escape(&request.uri),
                response.status,
                escape(&response.message)
            );
            out.push_str("<h4>request body</h4>");
            match &request.body {
                Some(body) => body_block(out, body, None),
                None => out.push_str("<p class=\"none\">none</p>"),
            }
            out.push_str("<h4>response body</h4>");
            body_block(out, &response.body, response.header("content-type"));
            out.push_str("</details>");
        }
        out.push_str("</details>\n");
    }
    for recording in &entry.recordings {
        let deliveries = &recording.recording.deliveries;
        // A recording from before secrets were scrubbed: its secret header's value is
        // masked wherever a payload repeats it (`cassettes check` reports the file).
        let leaks = recording.recording.leak_scrub();
        let _ = write!(
            out,
            "<details class=\"bodies\"><summary>webhook deliveries of <code>{}</code> ({}) · <code>{}</code></summary>",
            escape(&recording.task_id),
            deliveries.len(),
            escape(&recording.path.display().to_string())
        );
        for (i, delivery) in deliveries.iter().enumerate() {
            let status = delivery
                .payload
                .get("status")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("?");
            let _ = write!(
                out,
                "<details class=\"delivery\"><summary>#{} {} at {}</summary><pre>",
                i + 1,
                escape(status),
                escape(&delivery.received_at),
            );
            push_text(
                out,
                &crate::secrets::redact_keys(&cut(&if leaks.secrets.is_empty() {
                    serde_json::to_string_pretty(&delivery.payload)
                } else {
                    serde_json::to_string_pretty(&leaks.value(&delivery.payload))
                }
                .unwrap_or_default())),
            );
            out.push_str("</pre></details>");
        }
        out.push_str("</details>\n");
    }
}

fn body_block(out: &mut String, body: &crate::cassette::Body, content_type: Option<&str>) {
    match super::collect::body_text(body) {
        Some(text) if text.is_empty() => out.push_str("<p class=\"none\">empty</p>"),
        Some(text) => {
            out.push_str("<pre>");
            push_text(out, &crate::secrets::redact_keys(&cut(&text)));
            out.push_str("</pre>");
        }
        None => {
            let _ = write!(
                out,
                "<p class=\"none\">binary, {}{}</p>",
                size(body.as_bytes().len()),
                content_type
                    .map(|t| format!(" of {}", escape(t)))
                    .unwrap_or_default()
            );
        }
    }
}

/// `text` cut at [`BODY_LIMIT`] on a character boundary.
fn cut(text: &str) -> String {
    if text.len() <= BODY_LIMIT {
        return text.to_owned();
    }
    let mut end = BODY_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n… cut: {} more (the recording has it whole)",
        &text[..end],
        size(text.len() - end)
    )
}

fn size(bytes: usize) -> String {
    match bytes {
        b if b >= 1024 * 1024 => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
        b if b >= 1024 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

/// The page's style sheet.
const STYLE: &str = include_str!("report.css");

/// Gives each viewer its model when it comes near the viewport: loads its bundle,
/// `models/<bundle>.js` (once), which hands over each of its models' base64; a model is
/// decoded into a `blob:` URL only when a viewer of it is near.
const LOADER: &str = include_str!("report.js");

#[cfg(test)]
mod tests {
    use super::*;

    /// A bundle on disk is judged whole by its length, reckoned without encoding.
    #[test]
    fn a_bundles_length_is_reckoned_as_written() {
        let models: Vec<Asset> = [0usize, 1, 2, 3, 4, 76, 20_000, 20_001]
            .into_iter()
            .map(|size| Asset {
                name: "model.glb".into(),
                content_type: "model/gltf-binary".into(),
                sha256: crate::digest::sha256_hex(&vec![7u8; size]),
                bytes: std::sync::Arc::new(vec![7u8; size]),
            })
            .collect();
        for n in 0..=models.len() {
            let some: Vec<&Asset> = models[..n].iter().collect();
            assert_eq!(bundle_len(&some), bundle_script(&some).len(), "{n} models");
        }
    }

    fn rehearsal() -> RecordedAgainst {
        RecordedAgainst::of_base_url("http://127.0.0.1:9000")
    }

    fn recorded(name: &str, credits: u64, against: Option<RecordedAgainst>) -> Facts {
        Facts {
            name: name.into(),
            status: None,
            recorded: true,
            credits: Some(credits),
            against,
            recorded_at: None,
            api_version: None,
            generation: None,
        }
    }

    #[test]
    fn bodies_escape_markup_but_keep_their_quotes_and_attributes_escape_both() {
        let text = r#"{"a": "<b>&'x'</b>", "é": "€"}"#;
        let mut body = String::new();
        push_text(&mut body, text);
        assert_eq!(body, r#"{"a": "&lt;b&gt;&amp;'x'&lt;/b&gt;", "é": "€"}"#);
        assert_eq!(
            escape(text),
            "{&quot;a&quot;: &quot;&lt;b&gt;&amp;&#39;x&#39;&lt;/b&gt;&quot;, &quot;é&quot;: &quot;€&quot;}"
        );
        assert_eq!(escape(""), "");
    }

    #[test]
    fn a_rehearsal_s_credits_are_never_counted_as_the_real_api_s() {
        let facts = [
            recorded("real", 20, Some(RecordedAgainst::Meshy)),
            recorded("unsaid", 1, None),
            recorded("rehearsed", 30, Some(rehearsal())),
            recorded("older", 2, Some(RecordedAgainst::parse("other-base-url"))),
            recorded("sim", 5, Some(RecordedAgainst::Simulator)),
        ];
        let mut out = String::new();
        credits(&mut out, &facts.iter().collect::<Vec<_>>());
        assert_eq!(
            out,
            "<li id=\"credits\">credits represented, at today's prices: <b>21</b> by recordings of the real API; \
             32 by rehearsals against another base URL, not counted as the real API's; 5 by recordings of the \
             simulator, where nothing was paid</li>\n"
        );
    }

    #[test]
    fn a_rehearsal_entry_says_so_with_its_origin() {
        let view = CassetteView {
            path: "cassettes/http/fox.yaml".into(),
            api_version: None,
            generation: None,
            recorded_at: None,
            against: Some(rehearsal()),
            incomplete: false,
            pending: 0,
            tasks: vec![],
            credits: Some(20),
            models: vec![],
            images: vec![],
            interactions: vec![],
            polls: vec![],
        };
        let mut facts = Vec::new();
        cassette_facts(&view, &mut |label, value| {
            facts.push((label.to_owned(), value));
        });
        let fact = |label: &str| {
            facts
                .iter()
                .find(|(l, _)| l == label)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            fact("target"),
            Some(
                "<span class=\"badge rehearsal\">rehearsal</span> at <code>http://127.0.0.1:9000</code>, \
                 not the real API"
            )
        );
        assert_eq!(
            fact("credits"),
            Some("20 (rehearsal: not counted as the real API's)")
        );

        let result = TrialResult {
            trial: "fox".into(),
            kind: "webhook".into(),
            status: Status::Passed,
            message: None,
            ran: super::super::Ran::Record,
            target: Some(rehearsal()),
            cassettes: "cassettes".into(),
            scenario_file: None,
            scenario_sha256: None,
            task_id: None,
            duration_ms: Some(1500),
        };
        assert!(
            head("fox", Some(&result), false).contains(
                "<p class=\"last-run\">last run: passed (recorded against the rehearsal at \
                 <code>http://127.0.0.1:9000</code>) in 1.5 s</p>"
            ),
            "{}",
            head("fox", Some(&result), false)
        );
    }
}
