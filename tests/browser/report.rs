//! The real reports in the browser: the one `mesh-toolkit report` writes for a copy of
//! the shipped suite, and the one the harness writes for the fixture with a resumed, a
//! failed and an ignored scenario (`tests/common/report_fixture.rs`). Every viewer
//! scrolled into view loads its model from its bundle (`models/<bundle>.js`) and draws it, the
//! console shows no error, and nothing is requested off the files.

#[path = "../common/harness_binary.rs"]
mod binaries;
#[path = "../common/report_fixture.rs"]
mod report_fixture;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use libtest_mimic::{Failed, Trial};
use mesh_toolkit::cassette::Cassette;

const TOOLKIT: &str = env!("CARGO_BIN_EXE_mesh-toolkit");

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "the_shipped_suite_report_shows_every_model_in_the_browser",
            shipped_suite,
        ),
        Trial::test(
            "the_fixture_report_with_a_resumed_a_failed_and_an_ignored_scenario_works_in_the_browser",
            fixture,
        ),
    ]
}

fn shipped_suite() -> Result<(), Failed> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir()?;
    let results = tempfile::tempdir()?;
    let output = Command::new(TOOLKIT)
        .arg("report")
        .arg("--scenarios")
        .arg(root.join("scenarios"))
        .arg("--cassettes")
        .arg(root.join("cassettes"))
        .arg("--results")
        .arg(results.path())
        .arg("--out")
        .arg(out.path())
        .output()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let expected = models_in(&root.join("cassettes/http"));
    assert!(expected > 0, "the shipped suite downloads models");
    let findings = crate::check::check_report(&out.path().join("index.html"), expected)?;
    eprintln!("{}", findings.timings);
    findings.assert_clean().map_err(Failed::from)
}

fn fixture() -> Result<(), Failed> {
    let harness = binaries::build_harness(|c| c.output().expect("run cargo"));
    let fixture = report_fixture::build(&harness, Path::new(TOOLKIT));
    let expected = models_in(&fixture.path("cassettes/http"));
    assert_eq!(expected, 1, "only the resumed scenario's task has a model");
    let findings = crate::check::check_report(&fixture.report(), expected)?;
    eprintln!("{}", findings.timings);
    findings.assert_clean().map_err(|problems| {
        Failed::from(format!(
            "{problems}\nthe run that wrote it:\n{}",
            fixture.logs[1]
        ))
    })
}

/// The distinct GLBs of each cassette in `dir`, added up (one viewer each).
fn models_in(dir: &Path) -> usize {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).expect("the cassettes directory") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_none_or(|x| x != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a readable cassette");
        let cassette = Cassette::parse(&text).expect("a valid cassette");
        let glbs: BTreeSet<&[u8]> = cassette
            .interactions
            .iter()
            .map(|i| i.response.body.as_bytes())
            .filter(|b| b.starts_with(b"glTF"))
            .collect();
        total += glbs.len();
    }
    total
}
