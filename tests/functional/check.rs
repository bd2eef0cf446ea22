//! `mesh-toolkit cassettes check` as CI runs it, on fixtures made here: one for each
//! finding (an old API version past the maximum age, a drift field, an orphan, an
//! incomplete journal, a leaked key, a scenario without a recording), with the exact
//! lines and the exit code.

use std::path::Path;

use libtest_mimic::{Failed, Trial};
use mesh_toolkit::cassette::{
    Body, Cassette, Interaction, RecordedAgainst, RecordedRequest, RecordedResponse,
};
use mesh_toolkit::webhooks::{Delivery, Recording};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test(
            "cassettes_check_reports_each_finding_with_its_fix_and_exits_1",
            findings,
        ),
        Trial::test(
            "cassettes_check_passes_a_clean_suite_and_ages_only_with_max_age",
            clean,
        ),
        Trial::test(
            "cassettes_check_fixes_a_simulator_suite_with_target_sim_even_without_the_cassette",
            simulator_suite,
        ),
        Trial::test(
            "a_replay_of_an_older_api_version_says_so_in_one_line",
            replay_note,
        ),
        Trial::test(
            "cassettes_check_notes_v1_webhook_payloads_of_a_v2_recording_with_the_dashboard_step",
            payload_version_mismatch,
        ),
    ]
}

/// A v2 recording whose deliveries are v1 payloads (the dashboard webhook is still on
/// v1): a note naming the dashboard step, and the check passes.
fn payload_version_mismatch() -> Result<(), Failed> {
    let dir = project();
    let root = dir.path();
    std::fs::write(
        root.join("scenarios/a.toml"),
        "api = \"v2\"\nspecies = \"otter\"\ntask_type = \"text3d\"\nprompt = \"otter\"\n",
    )?;
    let mut create = interaction(
        "POST",
        "https://api.meshy.ai/openapi/v2/text-to-3d",
        &[("X-Api-Version", "v2026.01.27")],
        r#"{"id":"task-a","type":"text-to-3d","status":"PENDING","input":{"prompt":"otter","should_texture":false},"output":null}"#,
    );
    create.request.body = Some(Body::Text(
        r#"{"prompt":"otter","should_texture":false}"#.into(),
    ));
    let v2 = Cassette {
        interactions: vec![create],
        recorded_against: Some(RecordedAgainst::Meshy),
        ..Cassette::default()
    };
    std::fs::write(root.join("cassettes/http/a.yaml"), v2.to_yaml())?;
    // v1's payload: the task's results at the top level, no `input`/`output`.
    recording(root, "a", "task-a");
    let (code, text) = run(root, &[]);
    assert_eq!(code, Some(0), "a note, not a problem: {text}");
    assert!(
        text.contains(
            "note: cassettes/webhooks/otter_text3d_task-a.json: its deliveries carry v1 payloads while its cassette speaks v2"
        ) && text.contains(
            "fix: in the Meshy dashboard (API settings → Webhooks) set the webhook's payload version to v2, then re-record it: `cargo test --test scenarios -- a --exact"
        ),
        "{text}"
    );
    assert!(
        !text.contains("recorded with Meshy API v1"),
        "a v2 cassette has no sunset note: {text}"
    );
    Ok(())
}

fn interaction(method: &str, uri: &str, headers: &[(&str, &str)], body: &str) -> Interaction {
    Interaction {
        request: RecordedRequest {
            method: method.into(),
            uri: uri.into(),
            headers: Vec::new(),
            body: (method == "POST")
                .then(|| Body::Text(r#"{"mode":"preview","prompt":"otter"}"#.into())),
        },
        response: RecordedResponse {
            status: if method == "POST" { 202 } else { 200 },
            message: String::new(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), vec![(*v).to_owned()]))
                .collect(),
            body: Body::Text(body.into()),
        },
    }
}

/// A cassette that created `task` and read it back once (`extra` in the task body).
fn cassette(task: &str, version: &str, date: &str, extra: &str, incomplete: bool) -> String {
    let headers = [("X-Api-Version", version), ("date", date)];
    Cassette {
        interactions: vec![
            interaction(
                "POST",
                "https://api.meshy.ai/openapi/v2/text-to-3d",
                &headers,
                &format!(r#"{{"result":"{task}"}}"#),
            ),
            interaction(
                "GET",
                &format!("https://api.meshy.ai/openapi/v2/text-to-3d/{task}"),
                &headers,
                &format!(
                    r#"{{"id":"{task}","type":"text-to-3d-preview","status":"SUCCEEDED"{extra}}}"#
                ),
            ),
        ],
        recorded_against: Some(RecordedAgainst::Meshy),
        incomplete,
        ..Cassette::default()
    }
    .to_yaml()
}

fn recording(dir: &Path, scenario: &str, task: &str) {
    let payload =
        serde_json::json!({"id": task, "type": "text-to-3d-preview", "status": "SUCCEEDED"});
    let recording = Recording {
        incomplete: false,
        species: "otter".into(),
        task_type: "text3d".into(),
        task_id: task.into(),
        scenario: Some(scenario.into()),
        received_at: "2026-11-30T10:00:00.000Z".into(),
        headers: Default::default(),
        payload: payload.clone(),
        payload_source: None,
        deliveries: vec![Delivery {
            received_at: "2026-11-30T10:00:00.000Z".into(),
            headers: Default::default(),
            payload,
        }],
    };
    recording
        .save(&dir.join(format!("cassettes/webhooks/otter_text3d_{task}.json")))
        .unwrap();
}

fn scenario(dir: &Path, name: &str) {
    std::fs::write(
        dir.join(format!("scenarios/{name}.toml")),
        "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"otter\"\n",
    )
    .unwrap();
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["scenarios", "cassettes/http", "cassettes/webhooks"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    dir
}

fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut command = crate::support::binary();
    command
        .current_dir(dir)
        .args(["cassettes", "check"])
        .args(args)
        .env_remove("MESHY_CASSETTE_MAX_AGE");
    let output = crate::support::output_within(&mut command, std::time::Duration::from_secs(60));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

fn findings() -> Result<(), Failed> {
    let dir = project();
    let root = dir.path();
    let old = "Tue, 18 Nov 2025 21:06:40 GMT";
    // a: old, with a field the SDK does not model, and its webhook recording.
    scenario(root, "a");
    std::fs::write(
        root.join("cassettes/http/a.yaml"),
        cassette(
            "task-a",
            "v2025.11.18",
            old,
            r#","brand_new_field":1"#,
            false,
        ),
    )?;
    recording(root, "a", "task-a");
    // b: a scenario never recorded. c: an incomplete journal of no scenario.
    scenario(root, "b");
    std::fs::write(
        root.join("cassettes/http/c.yaml"),
        cassette("task-c", "v2026.01.27", old, "", true),
    )?;
    // d: a webhook recording of a task no cassette created. e: a leaked key.
    recording(root, "d", "task-d");
    scenario(root, "e");
    std::fs::write(
        root.join("cassettes/http/e.yaml"),
        cassette(
            "task-e",
            "v2026.01.27",
            old,
            r#","prompt":"msy_leakedrealkey0123456789""#,
            false,
        ),
    )?;
    // f: a webhook recording that does not parse, of a task f's cassette made.
    scenario(root, "f");
    std::fs::write(
        root.join("cassettes/http/f.yaml"),
        cassette("task-f", "v2026.01.27", old, "", false),
    )?;
    std::fs::write(
        root.join("cassettes/webhooks/otter_text3d_task-f.json"),
        "{not json",
    )?;
    // h: a scenario file with a typo in a key. i: a cassette broken by a bad merge, and
    // the webhook recording of the task it holds.
    std::fs::write(
        root.join("scenarios/h.toml"),
        "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"otter\"\ndeliverry = \"webhook\"\n",
    )?;
    scenario(root, "i");
    std::fs::write(
        root.join("cassettes/http/i.yaml"),
        format!(
            "<<<<<<< HEAD\n{}",
            cassette("task-i", "v2026.01.27", old, "", false)
        ),
    )?;
    recording(root, "i", "task-i");
    let (code, text) = run(root, &["--max-age", "90d"]);
    assert_eq!(code, Some(1), "{text}");
    for line in [
        "problem: scenarios/h.toml: is not a valid scenario file: line 4: unknown field `deliverry`, expected one of ",
        "; did you mean `delivery`?\n  fix: fix the file (docs/scenarios.md has every key); its trial fails until then\n",
        "problem: cassettes/http/i.yaml: not a readable cassette (line 2: ",
        "); it may hold answers Meshy was paid for\n  fix: mend it by hand to keep what it holds, or set it aside and \
         record the trial afresh: `test ! -e ROOT/cassettes/http/i.yaml.unreadable && mv ROOT/cassettes/http/i.yaml ROOT/cassettes/http/i.yaml.unreadable && cargo test \
         --test scenarios -- i --exact --record-webhooks --record-mode=once  # real Meshy API: ",
        " credits; a task the unreadable file holds is not resumed but paid again`\n",
        "note: cassettes/webhooks/otter_text3d_task-i.json: its task task-i is in 'cassettes/http/i.yaml', which \
         cannot be read: it is scenario 'i''s, not an orphan\n  fix: keep it; mend 'cassettes/http/i.yaml' to \
         replay both (or record the scenario afresh, as its finding says)\n",
        // Set aside (kept), never deleted: it may hold a paid task's deliveries.
        "problem: cassettes/webhooks/otter_text3d_task-f.json: not a readable webhook recording\n  fix: mend it by hand \
         to keep its deliveries, or set it aside and complete its scenario from the API: `test ! -e \
         ROOT/cassettes/webhooks/otter_text3d_task-f.json.unreadable && mv ROOT/cassettes/webhooks/otter_text3d_task-f.json \
         ROOT/cassettes/webhooks/otter_text3d_task-f.json.unreadable && cargo test --test scenarios -- f --exact \
         --record-webhooks --record-mode=once --accept-api-payload  # real Meshy API: resumes its task, 0 credits; its \
         result from the API's task object, as its deliveries are gone`\n",
        "cassettes/http/a.yaml                        v2025.11.18   378d\n",
        "drift: text-to-3d-preview tasks of v2025.11.18 carry fields the SDK does not model: brand_new_field\n",
        "problem: cassettes/http/a.yaml: recorded 378d ago, older than the maximum age of 90d\n  fix: re-record it: \
         `cargo test --test scenarios -- a --exact --record-webhooks --record-mode=rewrite  # real Meshy API: a new task \
         and its inputs'; the plan shows the cost before anything is sent`\n",
        "problem: cassettes/http/c.yaml: incomplete: its recording was interrupted or its trial failed\n  fix: resume it \
         (nothing is paid twice): `cargo test --test scenarios -- c --exact --record-webhooks --record-mode=once  \
         # real Meshy API: resumes its task, 0 credits`\n",
        "note: cassettes/http/c.yaml: no scenario file 'scenarios/c.toml' owns it (expected for a trial written in Rust)\n",
        "problem: cassettes/http/e.yaml: looks like it holds a secret: a Meshy API key (msy_…)\n  fix: remove the value by hand (keep the file: it may have been paid for), then rotate the secret\n",
        "problem: cassettes/webhooks/otter_text3d_task-d.json: no cassette holds the create call of task task-d\n",
        // `once`: its inputs replay, never paid again.
        "problem: scenarios/b.toml: has no recording\n  fix: record it: `cargo test --test scenarios -- b --exact \
         --record-webhooks --record-mode=once  # real Meshy API: a new task; the plan shows the cost before anything \
         is sent`\n",
        "error: cassettes check found ",
    ] {
        let line = line
            .replace("378d", &age_of(old))
            .replace("ROOT", &root.display().to_string());
        assert!(text.contains(&line), "missing {line:?} in:\n{text}");
    }
    // The HTML report shows the same findings, in the same order: it reads each file
    // once for its page and for the check, and must come to what `cassettes check` says,
    // also for files that are hard to read: a directory named like a cassette, a
    // cassette that is not UTF-8, two recordings naming the same task.
    std::fs::create_dir_all(root.join("cassettes/http/zz_dir.yaml"))?;
    std::fs::write(
        root.join("cassettes/http/g.yaml"),
        b"interactions: \xff\xfe\n",
    )?;
    std::fs::copy(
        root.join("cassettes/webhooks/otter_text3d_task-a.json"),
        root.join("cassettes/webhooks/beaver_text3d_task-a.json"),
    )?;
    let (_, plain) = run(root, &[]);
    let mut command = crate::support::binary();
    command
        .current_dir(root)
        .args(["report", "--out", "out", "--results", "no-results"]);
    let output = crate::support::output_within(&mut command, std::time::Duration::from_secs(60));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let html = std::fs::read_to_string(root.join("out/index.html"))?;
    let escape = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#39;")
    };
    // `kind: file: what` lines, and `drift: …` lines, in the order printed.
    let expected: Vec<String> = plain
        .lines()
        .filter_map(|line| {
            if let Some(drift) = line.strip_prefix("drift: ") {
                return Some(format!("<li class=\"note\">drift: {}</li>", escape(drift)));
            }
            let (kind, rest) = line.split_once(": ")?;
            if kind != "problem" && kind != "note" {
                return None;
            }
            let (file, what) = rest.split_once(": ")?;
            Some(format!(
                "<li class=\"{kind}\"><code>{}</code>: {}<br>",
                escape(file),
                escape(what)
            ))
        })
        .collect();
    let section = &html[html.find("<details id=\"check\"").expect("a check section")..];
    let section = &section[..section.find("</details>").unwrap_or(section.len())];
    let shown: Vec<String> = section
        .split("<li ")
        .skip(1)
        .map(|item| {
            let item = format!("<li {item}");
            match item.find("<br>") {
                Some(end) => item[..end + 4].to_owned(),
                None => item[..item.find("</li>").map_or(item.len(), |e| e + 5)].to_owned(),
            }
        })
        .collect();
    assert_eq!(
        shown, expected,
        "the report's findings are the check's:\n{plain}"
    );
    assert!(
        expected.len() >= 9,
        "the files above make findings: {plain}"
    );
    let summary = plain
        .lines()
        .find_map(|l| {
            l.split_once(" checked: ")
                .map(|(_, counts)| counts.to_owned())
        })
        .expect("a summary line");
    assert!(
        html.contains(&format!("cassettes check: {summary}</summary>")),
        "{summary}"
    );
    Ok(())
}

/// How `cassettes check` words the age of `date` today.
fn age_of(date: &str) -> String {
    let then = std::time::SystemTime::UNIX_EPOCH
        + std::time::Duration::from_secs(match date {
            "Tue, 18 Nov 2025 21:06:40 GMT" => 1_763_500_000,
            _ => 0,
        });
    let days = std::time::SystemTime::now()
        .duration_since(then)
        .map_or(0, |d| d.as_secs() / 86_400);
    format!("{days}d")
}

fn clean() -> Result<(), Failed> {
    let dir = project();
    let root = dir.path();
    scenario(root, "a");
    let old = "Tue, 18 Nov 2025 21:06:40 GMT";
    std::fs::write(
        root.join("cassettes/http/a.yaml"),
        cassette("task-a", "v2026.01.27", old, "", false),
    )?;
    recording(root, "a", "task-a");
    let (code, text) = run(root, &[]);
    assert_eq!(code, Some(0), "{text}");
    // A v1 recording is a note (the sunset, the days left, the move and its cost), and
    // CI stays green by the calendar alone.
    assert!(
        text.ends_with("2 recordings checked: 0 problems, 1 note\n"),
        "{text}"
    );
    assert!(
        text.contains("note: cassettes/http/a.yaml: recorded with Meshy API v1, which stops working on 2027-03-15 (")
            && text.contains(
                "or by hand (docs/api-v2.md): move 'cassettes/http/a.yaml' aside under cassettes/v1/ (kept: it may hold \
                 what was paid for)"
            ),
        "{text}"
    );
    // Asked to, it fails the check.
    let (code, text) = run(root, &["--fail-on-v1"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("problem: cassettes/http/a.yaml: recorded with Meshy API v1")
            && text.contains("2 recordings checked: 1 problem, 0 notes\n"),
        "{text}"
    );
    // The same recordings fail once a maximum age is set, from the environment too.
    let mut command = crate::support::binary();
    command
        .current_dir(root)
        .args(["cassettes", "check"])
        .env("MESHY_CASSETTE_MAX_AGE", "30d");
    let output = crate::support::output_within(&mut command, std::time::Duration::from_secs(60));
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("2 recordings checked: 1 problem, 1 note\n"),
        "{stdout}"
    );
    let (code, text) = run(root, &["--max-age", "soon"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains(
            "invalid value 'soon' for '--max-age <AGE>': expected an age such as 90d, 12h or 3600"
        ),
        "{text}"
    );
    Ok(())
}

/// A suite recorded with the simulator: a webhook recording whose cassette is gone is
/// re-recorded with `--target=sim`, as the rest of the suite was (pasting the command must
/// not record against the real API).
fn simulator_suite() -> Result<(), Failed> {
    let dir = project();
    let root = dir.path();
    let now = "Tue, 01 Dec 2026 10:00:00 GMT";
    for (name, task) in [("a", "task-a"), ("b", "task-b")] {
        scenario(root, name);
        let text = cassette(task, "v2026.01.27", now, "", false)
            .replace("recorded_against: meshy", "recorded_against: simulator");
        assert!(text.contains("recorded_against: simulator"), "{text}");
        std::fs::write(root.join(format!("cassettes/http/{name}.yaml")), text)?;
        recording(root, name, task);
    }
    std::fs::remove_file(root.join("cassettes/http/b.yaml"))?;
    let (code, text) = run(root, &["--max-age", "1h"]);
    assert_eq!(code, Some(1), "{text}");
    let aged: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("-- b --exact"))
        .collect();
    assert!(!aged.is_empty(), "{text}");
    for line in aged {
        assert!(line.contains("--target=sim"), "{line}\n{text}");
    }
    Ok(())
}

fn replay_note() -> Result<(), Failed> {
    let dir = project();
    let root = dir.path();
    std::fs::write(
        root.join("scenarios/old_otter.toml"),
        "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"an otter of November\"\n[simulator]\napi_version = \"v2025.11.18\"\n",
    )?;
    std::fs::write(
        root.join("scenarios/new_otter.toml"),
        "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"an otter of today\"\n",
    )?;
    let harness = |args: &[&str]| {
        let mut command = std::process::Command::new(crate::harness::harness_binary());
        command
            .current_dir(root)
            .args(args)
            .args(["--skip", "otter_pipeline_in_rust"])
            .env("MESHY_SIM_TASK_SECONDS", "0")
            .env("CARGO_TARGET_DIR", root.join("target"))
            .env_remove("MESHY_RECORD_MODE")
            .env_remove("MESHY_RECORD_WEBHOOKS");
        crate::support::output_within(&mut command, std::time::Duration::from_secs(120))
    };
    let recorded = harness(&["--record-webhooks", "--target=sim"]);
    assert!(
        recorded.status.success(),
        "{}",
        String::from_utf8_lossy(&recorded.stderr)
    );
    // The version was pinned to record the old shape; unpinned, the replay says so.
    std::fs::write(
        root.join("scenarios/old_otter.toml"),
        "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"an otter of November\"\n",
    )?;
    let replay = harness(&[]);
    let log = String::from_utf8_lossy(&replay.stderr);
    assert!(replay.status.success(), "{log}");
    assert!(
        log.contains(
            "note: 1 replayed recordings were made against v2025.11.18, not today's v2026.01.27; see `cargo run -- cassettes check`"
        ),
        "{log}"
    );
    Ok(())
}
