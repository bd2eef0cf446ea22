//! What the calendar says of a recording made with Meshy API v1: the note (or, with
//! `--fail-on-v1`, the problem) that v1 stops working on [`V1_SUNSET`], how many days
//! are left, and how to move the scenario to v2 with what that costs. A v1 recording
//! still replays after the date; only re-recording it as it is stops working.

use crate::command::Commands;
use std::path::Path;

use super::report::{CheckOptions, Finding};
use crate::meshy::{ApiGeneration, V1_SUNSET};

/// Days from `today` to `date` (both `YYYY-MM-DD`; negative once it has passed).
pub(super) fn days_until(date: &str, today: &str) -> Option<i64> {
    let day = |d: &str| {
        crate::clock::parse_rfc3339_ms(&format!("{d}T00:00:00Z")).map(|ms| ms / 86_400_000)
    };
    Some(day(date)? - day(today)?)
}

/// The finding for the cassette at `path` of `scenario`, when it speaks v1.
pub(super) fn v1_finding(
    path: &Path,
    scenario: &str,
    generation: Option<ApiGeneration>,
    options: &CheckOptions,
    commands: &Commands,
) -> Option<Finding> {
    if generation != Some(ApiGeneration::V1) {
        return None;
    }
    let today = options
        .today
        .clone()
        .unwrap_or_else(|| crate::clock::now_rfc3339()[..10].to_owned());
    let when = match days_until(V1_SUNSET, &today) {
        Some(days) if days > 0 => format!(
            "which stops working on {V1_SUNSET} ({days} day{} left); it replays, and re-records as v1, until it is moved",
            if days == 1 { "" } else { "s" }
        ),
        Some(0) => format!("which stops working today, {V1_SUNSET}; it still replays"),
        Some(days) => format!(
            "which stopped working on {V1_SUNSET} ({} day{} ago); it still replays, but can no longer be re-recorded as it is",
            -days,
            if days == -1 { "" } else { "s" }
        ),
        None => format!("which stops working on {V1_SUNSET}"),
    };
    let file = options.scenarios.join(format!("{scenario}.toml"));
    let loaded = crate::scenario::Scenario::load(&file);
    #[allow(deprecated)] // v1's refine is what this note is about
    if let Some(refine) = loaded
        .as_ref()
        .ok()
        .filter(|s| s.task_type == crate::meshy::TaskType::Text3dRefine)
    {
        let preview = refine.input.as_deref().unwrap_or("its preview");
        return Some(Finding {
            file: path.to_owned(),
            what: format!("recorded with Meshy API v1, {when}"),
            fix: format!(
                "v2 has no refine step (docs/api-v2.md): `{}` makes '{}' one \
                 textured text3d of '{preview}''s prompt (it shows the change and its cost, then --yes applies it); \
                 then record it free against the simulator first (`--target=sim`)",
                commands.cli("cassettes migrate"),
                file.display()
            ),
            problem: options.v1_is_problem,
        });
    }
    let migrate = format!(
        "move the suite to v2 with `{}` (it shows the change and its cost, then --yes applies it)",
        commands.cli("cassettes migrate")
    );
    // By hand only where pinning alone makes a request v2 accepts. No record command
    // here: recorded over in place, the v1 file (maybe paid for) would be lost.
    let fix = match loaded
        .as_ref()
        .map_err(|e| e.message.clone())
        .and_then(pinned_v2)
    {
        Ok(cost) => format!(
            "{migrate}, or by hand (docs/api-v2.md): move '{}' aside under cassettes/v1/ (kept: it may hold what \
             was paid for), set `api = \"v2\"` in '{}', then record it with --record-mode=once (free with \
             --target=sim; {cost} against the real API)",
            path.display(),
            file.display(),
        ),
        Err(why) => format!(
            "{migrate}; pinning '{}' to v2 alone is not enough ({why})",
            file.display()
        ),
    };
    Some(Finding {
        file: path.to_owned(),
        what: format!("recorded with Meshy API v1, {when}"),
        fix,
        problem: options.v1_is_problem,
    })
}

/// Whether the scenario file's request, sent under v2 as it is, is one v2 accepts; then
/// what recording it costs, as text.
fn pinned_v2(scenario: &crate::scenario::Scenario) -> Result<String, String> {
    let fields = scenario.v2_body()?;
    if !scenario.expect_formats.iter().all(|f| f == "glb") && !fields.contains_key("target_formats")
    {
        return Err(
            "it expects formats beyond GLB, which v2 answers only when asked with target_formats"
                .into(),
        );
    }
    let body = serde_json::Value::Object(fields);
    let price =
        crate::meshy::pricing::request_credits(scenario.task_type, ApiGeneration::V2, &body);
    Ok(price.map_or("unknown credits".to_owned(), |n| format!("{n} credits")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::{Body, Cassette, Interaction, RecordedRequest, RecordedResponse};

    fn create(body: &str, answer: &str) -> Cassette {
        Cassette {
            interactions: vec![Interaction {
                request: RecordedRequest {
                    method: "POST".into(),
                    uri: "https://api.meshy.ai/openapi/v2/text-to-3d".into(),
                    headers: vec![],
                    body: Some(Body::Text(body.into())),
                },
                response: RecordedResponse {
                    status: 202,
                    message: "Accepted".into(),
                    headers: vec![],
                    body: Body::Text(answer.into()),
                },
            }],
            ..Cassette::default()
        }
    }

    #[test]
    fn a_v1_recording_is_a_note_with_the_days_left_the_move_and_its_cost() {
        let dir = tempfile::tempdir().unwrap();
        let scenarios = dir.path().join("scenarios");
        std::fs::create_dir_all(&scenarios).unwrap();
        std::fs::write(
            scenarios.join("otter.toml"),
            "species = \"otter\"\ntask_type = \"text3d\"\nprompt = \"Otter\"\n",
        )
        .unwrap();
        let mut options = CheckOptions {
            cassettes: dir.path().join("cassettes"),
            scenarios: scenarios.clone(),
            max_age: None,
            v1_is_problem: false,
            today: Some("2026-12-06".into()),
            invocation: Default::default(),
        };
        let v1 = create(
            r#"{"mode":"preview","prompt":"Otter"}"#,
            r#"{"result":"t1"}"#,
        );
        let path = Path::new("cassettes/http/otter.yaml");
        let note = v1_finding(
            path,
            "otter",
            crate::cassette::generation_of(&v1),
            &options,
            &Commands::default(),
        )
        .expect("v1 is noted");
        assert!(
            !note.problem,
            "a note by default: CI does not turn red by the calendar"
        );
        assert_eq!(
            note.what,
            "recorded with Meshy API v1, which stops working on 2027-03-15 (99 days left); it replays, and re-records as v1, until it is moved"
        );
        assert!(
            note.fix.ends_with(&format!(
                "or by hand (docs/api-v2.md): move 'cassettes/http/otter.yaml' aside under cassettes/v1/ (kept: \
                 it may hold what was paid for), set `api = \"v2\"` in '{}', then record it with \
                 --record-mode=once (free with --target=sim; 20 credits against the real API)",
            options.scenarios.join("otter.toml").display()
            )) && !note.fix.contains("rewrite"),
            "{}",
            note.fix
        );
        options.v1_is_problem = true;
        options.today = Some("2027-04-01".into());
        let problem = v1_finding(
            path,
            "otter",
            crate::cassette::generation_of(&v1),
            &options,
            &Commands::default(),
        )
        .unwrap();
        assert!(problem.problem, "--fail-on-v1 makes it a problem");
        assert!(
            problem
                .what
                .contains("stopped working on 2027-03-15 (17 days ago)"),
            "{}",
            problem.what
        );
        // A file v2 refuses as it is: the fix is the migration, never "just pin it".
        std::fs::write(
            scenarios.join("bronze.toml"),
            "species = \"otter\"\ntask_type = \"retexture\"\n\n[params]\ninput_task_id = \"t\"\ntext_style_prompt = \"bronze\"\nhd_texture = true\n",
        )
        .unwrap();
        let bronze = v1_finding(
            Path::new("b.yaml"),
            "bronze",
            crate::cassette::generation_of(&v1),
            &options,
            &Commands::default(),
        )
        .unwrap();
        assert!(
            bronze.fix.contains("pinning '")
                && bronze.fix.contains("to v2 alone is not enough")
                && !bronze.fix.contains("by hand"),
            "{}",
            bronze.fix
        );
        // A refine has no v2 twin: its fix is the chain made one call, never "pin v2".
        std::fs::write(
            scenarios.join("otter_refine.toml"),
            "species = \"otter\"\ntask_type = \"text3d_refine\"\ninput = \"otter\"\n",
        )
        .unwrap();
        let refine = v1_finding(
            Path::new("r.yaml"),
            "otter_refine",
            crate::cassette::generation_of(&v1),
            &options,
            &Commands::default(),
        )
        .unwrap();
        assert!(
            refine.fix.starts_with(
                "v2 has no refine step (docs/api-v2.md): `cargo run -- cassettes migrate` makes"
            ),
            "{}",
            refine.fix
        );
        // A v2 recording says nothing of the sunset.
        let v2 = create(
            r#"{"prompt":"Otter","should_texture":false}"#,
            r#"{"id":"t1","status":"PENDING","input":{},"output":null}"#,
        );
        assert_eq!(
            v1_finding(
                path,
                "otter",
                crate::cassette::generation_of(&v2),
                &options,
                &Commands::default()
            ),
            None
        );
    }

    #[test]
    fn days_are_counted_across_months_and_years() {
        assert_eq!(days_until("2027-03-15", "2026-12-06"), Some(99));
        assert_eq!(days_until("2027-03-15", "2027-03-15"), Some(0));
        assert_eq!(days_until("2027-03-15", "2027-03-20"), Some(-5));
        assert_eq!(days_until("2027-03-15", "not a date"), None);
    }
}
