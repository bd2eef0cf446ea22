//! The check checked: pages written into a tempdir, one that must pass and one for each
//! way a report can fail (a model that does not load, one that loads and draws nothing, a
//! console error, a request off the file, no viewers at all, no browser), each with the
//! problem it must report; and the teardown of a browser whose check panicked.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::{Duration, Instant};

use libtest_mimic::{Failed, Trial};

use crate::check::{self, Findings, MIN_DIFFERING};
use crate::devtools::Browser;
use crate::page::{self, Model};

/// A directory to write each viewer's screenshot into (`<label>.png`), to see what the
/// comparison saw. Default: none.
const SCREENSHOTS_VARIABLE: &str = "MESH_TOOLKIT_SCREENSHOTS";

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "a_good_page_passes_with_every_viewer_loaded_and_drawn",
            good_page,
        ),
        Trial::test("a_broken_model_fails_naming_its_viewer", broken_model),
        Trial::test("a_model_that_draws_nothing_is_reported_blank", blank_model),
        Trial::test("a_console_error_is_reported", console_error),
        Trial::test(
            "a_request_off_the_file_is_blocked_and_reported",
            request_off_the_file,
        ),
        Trial::test(
            "a_page_without_viewers_fails_when_viewers_are_expected",
            no_viewers,
        ),
        Trial::test(
            "a_missing_browser_or_page_fails_naming_it_and_the_fix",
            missing_browser,
        ),
        Trial::test(
            "a_browser_dropped_by_a_panicking_check_leaves_no_process_and_no_profile",
            teardown,
        ),
    ]
}

/// Writes a page with `models` and `script`, checks it expecting `expected` viewers, and
/// prints where the time went.
fn check_page(models: &[Model], script: &str, expected: usize) -> Result<Findings, Failed> {
    let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let path = page::write(dir.path(), models, script);
    let findings = check::check_report(&path, expected).map_err(|e| error_chain(&e))?;
    eprintln!("    {}", findings.timings);
    if let Some(dir) = std::env::var_os(SCREENSHOTS_VARIABLE) {
        for viewer in findings.viewers.iter().filter(|v| !v.screenshot.is_empty()) {
            let file = Path::new(&dir).join(format!("{}.png", sanitise(&viewer.label)));
            std::fs::write(&file, &viewer.screenshot)
                .map_err(|e| format!("write '{}': {e}", file.display()))?;
        }
    }
    Ok(findings)
}

fn good_page() -> Result<(), Failed> {
    let models = [
        Model::creature("otter", "otter-task-1"),
        Model::creature("beaver", "beaver-task-2"),
        Model::creature("fox", "fox-task-3"),
    ];
    let findings = check_page(&models, "", 3)?;
    findings.assert_clean()?;
    for viewer in &findings.viewers {
        assert!(viewer.loaded, "{viewer:?}");
        assert!(viewer.differing >= MIN_DIFFERING, "{viewer:?}");
    }
    Ok(())
}

fn broken_model() -> Result<(), Failed> {
    let models = [
        Model::creature("otter", "otter-task-1"),
        Model {
            id: "broken",
            bytes: b"not a GLB at all".to_vec(),
        },
    ];
    let findings = check_page(&models, "", 2)?;
    let problems = findings.problems();
    let expected =
        r#"model-viewer 2 of 2 (id="broken" data-model="broken.glb"): model not loaded: "#;
    assert!(
        problems.iter().any(|p| p.starts_with(expected)),
        "no problem starting {expected:?} in {problems:#?}"
    );
    assert!(
        findings.viewers[0].error.is_none(),
        "{:?}",
        findings.viewers[0]
    );
    assert!(!findings.viewers[1].loaded);
    Ok(())
}

fn blank_model() -> Result<(), Failed> {
    let models = [Model {
        id: "invisible",
        bytes: page::invisible_creature("otter-task-1"),
    }];
    let findings = check_page(&models, "", 1)?;
    assert_eq!(
        findings.problems(),
        [
            r#"model-viewer 1 of 1 (id="invisible" data-model="invisible.glb"): blank: 0.00% of its pixels differ from its background rgb(236, 238, 242), at least 1% must"#
        ]
    );
    Ok(())
}

fn console_error() -> Result<(), Failed> {
    let models = [Model::creature("otter", "otter-task-1")];
    let findings = check_page(&models, "console.error('report broke', 42);", 1)?;
    let [error] = findings.console_errors.as_slice() else {
        return Err(format!("not one console error: {:#?}", findings.problems()).into());
    };
    let expected = "console.error: report broke 42 (at file://";
    assert!(
        error.starts_with(expected),
        "{error:?} does not start {expected:?}"
    );
    assert!(
        findings.viewers[0].error.is_none(),
        "{:?}",
        findings.viewers[0]
    );
    Ok(())
}

fn request_off_the_file() -> Result<(), Failed> {
    let models = [Model::creature("otter", "otter-task-1")];
    let script = "fetch('https://example.com/x').catch(() => {});";
    let findings = check_page(&models, script, 1)?;
    assert_eq!(findings.blocked_requests, ["https://example.com/x"]);
    let problems = findings.problems();
    let expected = "blocked request (the page must work offline): https://example.com/x";
    assert!(
        problems.iter().any(|p| p == expected),
        "no {expected:?} in {problems:#?}"
    );
    Ok(())
}

fn no_viewers() -> Result<(), Failed> {
    let findings = check_page(&[], "", 2)?;
    assert_eq!(
        findings.problems(),
        ["expected 2 model-viewer elements, found 0"]
    );
    Ok(())
}

fn missing_browser() -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let path = page::write(dir.path(), &[], "");
    let program = Path::new("/nonexistent/chromium");
    let Err(error) = check::check_report_with(program, &path, 0) else {
        return Err("a check without a browser passed".into());
    };
    assert_eq!(
        error.to_string(),
        "no chromium: '/nonexistent/chromium' not found; install it with \
         `apt-get install chromium` (Debian's package; `.ci/run` does this) or set \
         MESH_TOOLKIT_CHROMIUM to a Chromium binary"
    );
    // A page that is not there is named before any browser is looked for.
    let missing = dir.path().join("missing.html");
    let Err(error) = check::check_report_with(program, &missing, 0) else {
        return Err("a check of a missing page passed".into());
    };
    assert_eq!(
        error.to_string(),
        format!("no page to check at '{}'", missing.display())
    );
    Ok(())
}

fn teardown() -> Result<(), Failed> {
    let browser = Browser::launch(&Browser::locate().map_err(|e| e.to_string())?)
        .map_err(|e| error_chain(&e))?;
    let (pid, dir) = (browser.pid(), browser.dir().to_owned());
    let alive = processes_mentioning(&dir);
    assert!(
        alive.len() > 1,
        "not several processes of {dir:?}: {alive:?}"
    );
    let unwound = std::panic::catch_unwind(AssertUnwindSafe(move || {
        let _browser = browser;
        panic!("a failing check (this panic is the trial's own)");
    }));
    assert!(unwound.is_err());
    assert!(!dir.exists(), "{dir:?} left behind");
    // SIGKILL is delivered asynchronously and the group's other processes are not our
    // children (no exit event to wait for), so this polls, with a deadline.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = processes_mentioning(&dir);
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("browser {pid} left processes behind: {left:?}").into());
        }
        std::thread::yield_now();
    }
}

/// The live (not zombie) processes whose command line mentions `dir`, as `pid: state`.
fn processes_mentioning(dir: &Path) -> Vec<String> {
    let needle = dir.as_os_str().as_encoded_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            cmdline
                .windows(needle.len())
                .any(|w| w == needle)
                .then_some(())?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (comm) S ...`: the state follows the last ')'.
            let state = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .next()?
                .to_owned();
            (state != "Z").then(|| format!("{pid}: {state}"))
        })
        .collect()
}

/// `label` with every character but ASCII letters, digits, `-` and `_` made `_`.
fn sanitise(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// An error and its sources, `: `-separated.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
