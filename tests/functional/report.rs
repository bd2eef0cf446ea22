//! The HTML report, checked structurally (the browser check is `cargo test --test
//! browser`): what the harness writes after a run, from its results and the recordings,
//! for a fixture with a resumed, a failed and an ignored scenario and for a copy of the
//! shipped suite; `mesh-toolkit report` assembling results that cargo-nextest-style
//! processes left, and `--serve`.

#[path = "../common/report_fixture.rs"]
mod report_fixture;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use libtest_mimic::{Failed, Trial};
use mesh_toolkit::cassette::Cassette;
use mesh_toolkit::webhooks::Recording;
use sha2::Digest as _;

use crate::harness::{copy_tree, harness_binary};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "report_shows_a_resumed_a_failed_and_an_ignored_scenario_with_viewers_and_timelines",
            fixture_report,
        ),
        Trial::test(
            "report_of_the_shipped_suite_has_a_viewer_per_model_and_a_mark_per_delivery",
            shipped_report,
        ),
        Trial::test(
            "report_command_assembles_what_nextest_style_processes_left_and_serves_it",
            report_command,
        ),
    ]
}

/// How long a harness or `mesh-toolkit report` run may take.
const RUN_DEADLINE: Duration = Duration::from_secs(300);

fn fixture_report() -> Result<(), Failed> {
    let fixture = report_fixture::build(
        harness_binary(),
        Path::new(env!("CARGO_BIN_EXE_mesh-toolkit")),
    );
    assert!(
        fixture.logs[1].contains(&format!("report: {}", fixture.report().display())),
        "the run says where its report is, in one line:\n{}",
        fixture.logs[1]
    );
    let results = fixture.path("target/mesh-toolkit/results/results.json");
    let all: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&results).unwrap_or_else(|e| panic!("{}: {e}", results.display())),
    )
    .unwrap();
    let result = |name: &str| -> serde_json::Value { all[name].clone() };
    let resumed = result("otter_resumed");
    assert_eq!(
        (resumed["status"].as_str(), resumed["ran"].as_str()),
        (Some("passed"), Some("resume")),
        "{resumed}"
    );
    assert!(
        resumed["duration_ms"].as_u64().is_some(),
        "a trial that sent requests says how long: {resumed}"
    );
    let doomed = result("otter_doomed");
    assert_eq!(doomed["status"], "failed", "{doomed}");
    assert!(
        doomed["message"]
            .as_str()
            .unwrap_or_default()
            .contains("FAILED"),
        "{doomed}"
    );
    let ignored = result("otter_sim_only");
    assert_eq!(
        (ignored["status"].as_str(), ignored["ran"].as_str()),
        (Some("ignored"), Some("not-run")),
        "{ignored}"
    );
    assert!(
        ignored["message"]
            .as_str()
            .unwrap_or_default()
            .contains("simulator-only"),
        "{ignored}"
    );

    let html = std::fs::read_to_string(fixture.report())?;
    for (id, n) in [
        ("count-all", 3),
        ("count-passed", 1),
        ("count-failed", 1),
        ("count-ignored", 1),
        ("count-not-run", 0),
    ] {
        assert!(
            html.contains(&format!("<dd id=\"{id}\">{n}</dd>")),
            "{id} = {n}"
        );
    }
    let passed = article(&html, "otter_resumed");
    assert!(
        passed.contains("data-status=\"passed\"")
            // Its simulator stands in for the real API: a rehearsal, by its origin.
            && passed.contains("passed (resumed against the rehearsal at <code>http://127.0.0.1:"),
        "{passed}"
    );
    assert!(
        passed.contains("<dt>Meshy API</dt><dd><span class=\"generation v2\">v2</span></dd>"),
        "each scenario shows the API generation it was recorded with: {passed}"
    );
    assert!(
        html.contains("<li id=\"generations\">Meshy API: 2 recorded with v2, 0 with v1</li>"),
        "the summary counts the generations"
    );
    let failed = article(&html, "otter_doomed");
    assert!(failed.contains("data-status=\"failed\""), "{failed}");
    assert!(
        failed.contains("<pre class=\"message failed\">") && failed.contains("FAILED"),
        "the failure message is shown: {failed}"
    );
    let skipped = article(&html, "otter_sim_only");
    assert!(
        skipped.contains("data-status=\"ignored\"") && skipped.contains("simulator-only"),
        "{skipped}"
    );
    assert!(skipped.contains("none recorded"), "{skipped}");
    assert_models_and_timelines(
        &html,
        &fixture.path("cassettes"),
        &fixture.path("target/mesh-toolkit/report"),
    );
    // The succeeded task has a model; the failed one has none.
    assert_eq!(passed.matches("<model-viewer ").count(), 1, "{passed}");
    assert_eq!(failed.matches("<model-viewer ").count(), 0, "{failed}");
    // Secrets stay out of the report and the results.
    let written = [
        walk(&fixture.path("target/mesh-toolkit/results")),
        walk(&fixture.path("target/mesh-toolkit/report")),
    ];
    assert!(written.iter().all(|files| !files.is_empty()));
    for file in written.iter().flatten() {
        let text = String::from_utf8_lossy(&std::fs::read(file)?).into_owned();
        for secret in [
            "msy_report_fixture_key_1234",
            "reportfixturetoken0123456789",
        ] {
            assert!(!text.contains(secret), "{} leaks a secret", file.display());
        }
    }
    Ok(())
}

fn shipped_report() -> Result<(), Failed> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir()?;
    copy_tree(&root.join("scenarios"), &work.path().join("scenarios"));
    copy_tree(&root.join("cassettes"), &work.path().join("cassettes"));
    let output = harness(work.path(), &[], &[]);
    let log = text(&output);
    assert!(output.status.success(), "{log}");
    let passed: usize = log
        .lines()
        .find_map(|l| l.strip_prefix("test result: ok. "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no libtest summary: {log}"));
    let report = work.path().join("target/mesh-toolkit/report");
    let html = std::fs::read_to_string(report.join("index.html"))?;
    assert!(passed > 0);
    assert!(
        html.contains(&format!("<dd id=\"count-passed\">{passed}</dd>")),
        "every trial passed"
    );
    assert!(html.contains("<dd id=\"count-failed\">0</dd>"));
    let viewers = assert_models_and_timelines(&html, &work.path().join("cassettes"), &report);
    assert!(viewers > 0, "the shipped suite downloads models");
    // A second replay rewrites no result: an unchanged suite leaves them as they are.
    let results = work.path().join("target/mesh-toolkit/results");
    let before = modified(&results);
    let file: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&std::fs::read(results.join("results.json"))?)?;
    assert_eq!(file.len(), passed, "one result per trial");
    let again = harness(work.path(), &[], &[]);
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(
        modified(&results),
        before,
        "an unchanged replay rewrote results"
    );
    // --no-report: neither results nor a report.
    std::fs::remove_dir_all(work.path().join("target/mesh-toolkit"))?;
    let off = harness(work.path(), &["--no-report"], &[]);
    assert!(
        off.status.success() && !text(&off).contains("report: "),
        "{}",
        text(&off)
    );
    assert!(
        !results.exists() && !report.exists(),
        "--no-report wrote files"
    );
    Ok(())
}

fn report_command() -> Result<(), Failed> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir()?;
    copy_tree(&root.join("scenarios"), &work.path().join("scenarios"));
    copy_tree(&root.join("cassettes"), &work.path().join("cassettes"));
    let names: Vec<String> = std::fs::read_dir(work.path().join("scenarios"))?
        .filter_map(|e| Some(e.ok()?.path().file_stem()?.to_string_lossy().into_owned()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .take(2)
        .collect();
    assert_eq!(
        names.len(),
        2,
        "the shipped suite has two scenarios at least"
    );
    // Two processes, one trial each, as cargo-nextest runs them: results, no report.
    for name in &names {
        let output = harness(work.path(), &["--exact", name], &[("NEXTEST", "1")]);
        assert!(output.status.success(), "{}", text(&output));
        assert!(!text(&output).contains("report: "), "{}", text(&output));
    }
    let report = work.path().join("target/mesh-toolkit/report/index.html");
    assert!(!report.exists(), "no report under nextest");
    let mut command = Command::new(env!("CARGO_BIN_EXE_mesh-toolkit"));
    command
        .arg("report")
        .current_dir(work.path())
        .env("CARGO_TARGET_DIR", work.path().join("target"));
    let output = crate::support::output_within(&mut command, RUN_DEADLINE);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains(&format!("report: {}", report.display())),
        "{}",
        text(&output)
    );
    let html = std::fs::read_to_string(&report)?;
    assert!(
        html.contains("<dd id=\"count-passed\">2</dd>"),
        "both processes' results are in it"
    );
    for name in &names {
        assert!(
            article(&html, name).contains("data-status=\"passed\""),
            "{name}"
        );
    }
    // Another suite in the same target dir keeps its results apart: this one's stay.
    copy_tree(
        &root.join("scenarios"),
        &work.path().join("other/scenarios"),
    );
    copy_tree(
        &root.join("cassettes"),
        &work.path().join("other/cassettes"),
    );
    let other = harness(
        work.path(),
        &["--scenarios=other/scenarios", "--cassettes=other/cassettes"],
        &[],
    );
    assert!(other.status.success(), "{}", text(&other));
    let output = crate::support::output_within(&mut command, RUN_DEADLINE);
    assert!(output.status.success(), "{}", text(&output));
    let html = std::fs::read_to_string(&report)?;
    assert!(
        html.contains("<dd id=\"count-passed\">2</dd>"),
        "the other suite's run replaced this one's results"
    );
    // No results at all: said, with what to do.
    let mut empty = Command::new(env!("CARGO_BIN_EXE_mesh-toolkit"));
    empty
        .args([
            "report",
            "--results",
            "no-such-results",
            "--out",
            "empty-report",
        ])
        .current_dir(work.path());
    let output = crate::support::output_within(&mut empty, RUN_DEADLINE);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("note: no trial results for these cassettes in 'no-such-results'")
            && text(&output).contains("run `cargo test --test scenarios` first"),
        "{}",
        text(&output)
    );
    // --serve hands out the same files on 127.0.0.1 until stopped.
    let mut serve = Command::new(env!("CARGO_BIN_EXE_mesh-toolkit"));
    serve
        .args(["report", "--serve", "--port", "0"])
        .current_dir(work.path())
        .env("CARGO_TARGET_DIR", work.path().join("target"));
    let mut server = crate::support::Guarded::spawn(serve);
    let line = server.line();
    let url = line
        .strip_prefix("serving the report on http://")
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("unexpected line: {line}"))
        .to_owned();
    let (addr, path) = url.split_once('/').expect("host:port/path");
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let served = http_get(addr, &format!("/{path}"));
    assert_eq!(
        served,
        std::fs::read(&report)?,
        "the served page is the file"
    );
    Ok(())
}

/// Checks that the page shows one viewer per distinct GLB of each cassette, each with
/// its model file (base64 of exactly those bytes), and one timeline mark per webhook
/// delivery of each recording. Returns the number of viewers.
fn assert_models_and_timelines(html: &str, cassettes: &Path, report: &Path) -> usize {
    let mut viewers = 0;
    for path in files(&cassettes.join("http"), "yaml") {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let cassette = Cassette::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let glbs: BTreeSet<String> = cassette
            .interactions
            .iter()
            .map(|i| i.response.body.as_bytes())
            .filter(|b| b.starts_with(b"glTF"))
            .map(hex_sha256)
            .collect();
        let section = article(html, &name);
        assert_eq!(
            section.matches("<model-viewer ").count(),
            glbs.len(),
            "{name}: one viewer per model"
        );
        for sha in &glbs {
            let at = section
                .find(&format!("data-sha256=\"{sha}\" data-bundle=\""))
                .unwrap_or_else(|| panic!("{name}: no viewer of {sha}"));
            let bundle: String = section[at + 92..]
                .chars()
                .take_while(|c| c.is_ascii_hexdigit())
                .collect();
            let file = report.join(format!("models/{bundle}.js"));
            let script = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{name}: {}: {e}", file.display()));
            let base64 = script
                .lines()
                .find_map(|line| {
                    line.strip_prefix(&format!("meshToolkitModel(\"{sha}\", \""))?
                        .strip_suffix("\");")
                })
                .unwrap_or_else(|| panic!("{name}: {} does not hand over {sha}", file.display()));
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(base64)
                .unwrap();
            assert_eq!(
                hex_sha256(&bytes),
                *sha,
                "{name}: {} holds that model",
                file.display()
            );
        }
        viewers += glbs.len();
    }
    for path in files(&cassettes.join("webhooks"), "json") {
        let recording = Recording::read(&path, "").unwrap();
        let scenario = recording.scenario.clone().expect("recorded by a scenario");
        let section = article(html, &scenario);
        let at = section
            .find(&format!(
                "webhook deliveries of <code>{}</code>: ",
                recording.task_id
            ))
            .unwrap_or_else(|| panic!("{scenario}: no timeline of {}", recording.task_id));
        let svg = &section[at..section[at..]
            .find("</svg>")
            .map_or(section.len(), |end| at + end)];
        let n = recording.deliveries.len();
        assert!(
            svg.contains(&format!("data-marks=\"{n}\"")),
            "{scenario}: {n} marks: {svg}"
        );
        assert_eq!(
            svg.matches("<circle class=\"mark delivery").count(),
            n,
            "{scenario}: one mark per delivery"
        );
    }
    viewers
}

/// The `<article>` of scenario `name`.
fn article<'a>(html: &'a str, name: &str) -> &'a str {
    let start = html
        .find(&format!("<article class=\"scenario\" id=\"s-{name}\""))
        .unwrap_or_else(|| panic!("the report has no section for {name}"));
    let end = html[start..]
        .find("</article>")
        .map_or(html.len(), |e| start + e);
    &html[start..end]
}

fn harness(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(harness_binary());
    command
        .current_dir(dir)
        .args(args)
        .env("CARGO_TARGET_DIR", dir.join("target"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MESHY_") {
            command.env_remove(name);
        }
    }
    command
        .env_remove("CI")
        .env_remove("NEXTEST")
        .envs(env.iter().copied());
    crate::support::output_within(&mut command, RUN_DEADLINE)
}

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn hex_sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn files(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    paths.retain(|p| p.extension().is_some_and(|x| x == extension));
    paths.sort();
    paths
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
    {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Each file of `dir` with its modification time.
fn modified(dir: &Path) -> Vec<(PathBuf, std::time::SystemTime)> {
    let mut all: Vec<_> = files(dir, "json")
        .into_iter()
        .map(|p| {
            let at = std::fs::metadata(&p).and_then(|m| m.modified()).unwrap();
            (p, at)
        })
        .collect();
    all.sort();
    all
}

/// A plain HTTP/1.0 GET of `path` on `addr`; the body.
pub fn http_get(addr: &str, path: &str) -> Vec<u8> {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the report server");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read the answer");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    assert!(
        response.starts_with(b"HTTP/1.1 200") || response.starts_with(b"HTTP/1.0 200"),
        "{}",
        String::from_utf8_lossy(&response[..split])
    );
    response[split + 4..].to_vec()
}
