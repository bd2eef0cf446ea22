//! The summary printed on stderr after a recording run: what was recorded, how it
//! ended, how long it took, and which files were written.

use std::fmt::Write as _;

use std::path::{Path, PathBuf};

use super::trial::Produced;

/// A table of the recorded scenarios, or `None` when nothing was recorded.
pub fn summary(produced: &[Produced]) -> Option<String> {
    if produced.is_empty() {
        return None;
    }
    let mut rows: Vec<&Produced> = produced.iter().collect();
    rows.sort_by(|a, b| a.scenario.cmp(&b.scenario));
    let width = rows
        .iter()
        .map(|p| p.scenario.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let mut out = String::from("recorded:\n");
    let from_api: Vec<&str> = rows
        .iter()
        .filter(|p| p.api_payload)
        .map(|p| p.scenario.as_str())
        .collect();
    let _ = writeln!(
        out,
        "  {:width$}  {:36}  {:9}  {:>8}  files written",
        "scenario", "task id", "status", "duration"
    );
    for p in rows {
        let files: Vec<String> = p.files.iter().map(|f| f.display().to_string()).collect();
        let _ = writeln!(
            out,
            "  {:width$}  {:36}  {:9}  {:>7.1}s  {}",
            p.scenario,
            p.task_id,
            p.status.as_str(),
            p.duration.as_secs_f64(),
            if files.is_empty() {
                "-".to_owned()
            } else {
                files.join(", ")
            }
        );
    }
    if !from_api.is_empty() {
        let _ = writeln!(
            out,
            "  terminal payload from the API, not a webhook (--accept-api-payload; payload_source: api): {}",
            from_api.join(", ")
        );
    }
    Some(out)
}

/// What `--dry-run` did and did not check, or `None` when it did not run.
pub fn dry_run(sent: &[(Produced, String)]) -> Option<String> {
    let (_, base_url) = sent.first()?;
    let mut rows: Vec<&Produced> = sent.iter().map(|(p, _)| p).collect();
    rows.sort_by(|a, b| a.scenario.cmp(&b.scenario));
    let mut out = format!(
        "dry run: sent the requests of {} scenarios to {base_url} with Meshy's test-mode key:\n",
        rows.len()
    );
    for p in rows {
        let _ = writeln!(
            out,
            "  {}  {}  {}",
            p.scenario,
            p.task_id,
            p.status.as_str()
        );
    }
    out.push_str(
        "  checked: every request was accepted and every task ended (followed by polling)\n  not checked: \
         webhooks (test mode sends none), the results themselves (test mode answers fixed samples), the \
         scenarios' expectations, credits (none were spent)\n  nothing was written: no cassette, no webhook \
         recording\n",
    );
    Some(out)
}

/// After Ctrl-C: the tasks the unfinished trials created (their journals say so) that
/// are not recorded to the end, and create calls that may have reached Meshy. A rerun
/// resumes them without paying again.
/// `rerun` is the command that resumes them (the run's own, `--record-mode=once` in
/// place of `all`/`rewrite`, which would record the finished ones again).
pub fn running(unfinished: &[(String, PathBuf)], webhooks_dir: &Path, rerun: &str) -> String {
    // Rows of a table: scenario, task id, task type, credits; or scenario and a note.
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (scenario, path) in unfinished {
        if !seen.insert((scenario.clone(), path.clone())) {
            continue;
        }
        let Some(cassette) = super::resume::load(path) else {
            continue;
        };
        for interaction in &cassette.interactions {
            let Some((task_type, task_id)) = crate::cassette::created_task(interaction) else {
                continue;
            };
            let done = std::fs::read_dir(webhooks_dir).ok().is_some_and(|entries| {
                entries.filter_map(Result::ok).any(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.ends_with(&format!("_{task_id}.json"))
                        && crate::webhooks::recording_done(&e.path())
                })
            });
            if !done {
                rows.push(vec![
                    scenario.clone(),
                    task_id,
                    task_type.as_str().to_owned(),
                    crate::cassette::create_credits(interaction)
                        .map_or("unknown credits".to_owned(), |n| format!("{n} credits")),
                ]);
            }
        }
        for intent in &cassette.pending {
            rows.push(vec![
                scenario.clone(),
                format!(
                    "(no answer on file: {} sent at {})  may have created a task; the rerun asks the task list",
                    intent.uri, intent.recorded_at
                ),
            ]);
        }
    }
    let lines = aligned(&rows);
    if lines.is_empty() {
        return "interrupted: no task of this run is left unfinished\n".into();
    }
    format!(
        "interrupted: these tasks may still be running at Meshy; `{rerun}` resumes them without paying again:\n{}\n",
        lines.join("\n")
    )
}

/// `rows` as lines indented by two spaces, each column but a row's last padded to the
/// widest cell of the column (in characters).
fn aligned(rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (column, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            let width = cell.chars().count();
            match widths.get_mut(column) {
                Some(widest) => *widest = (*widest).max(width),
                None => widths.push(width),
            }
        }
    }
    rows.iter()
        .map(|row| {
            let last = row.len().saturating_sub(1);
            let cells: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(column, cell)| match widths.get(column) {
                    Some(width) if column < last => format!("{cell:<width$}"),
                    _ => cell.clone(),
                })
                .collect();
            format!("  {}", cells.join("  "))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meshy::TaskStatus;
    use std::time::Duration;

    #[test]
    fn the_running_tasks_table_is_aligned_and_a_note_row_keeps_its_text() {
        let row = |cells: &[&str]| cells.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>();
        let lines = aligned(&[
            row(&["otter_text3d", "t-1", "text3d", "20 credits"]),
            row(&["fox", "task-22", "rigging", "5 credits"]),
            row(&[
                "wolf",
                "(no answer on file: POST … sent at 10:00)  may have created a task",
            ]),
        ]);
        assert_eq!(
            lines,
            [
                "  otter_text3d  t-1      text3d   20 credits",
                "  fox           task-22  rigging  5 credits",
                "  wolf          (no answer on file: POST … sent at 10:00)  may have created a task",
            ]
        );
    }

    #[test]
    fn lists_scenario_task_status_duration_and_files() {
        let produced = Produced {
            scenario: "otter_text3d".into(),
            task_id: "019a97e6-58dc-7430-85a1-9bf2d9e97430".into(),
            status: TaskStatus::Succeeded,
            duration: Duration::from_millis(2150),
            recorded: true,
            files: vec![PathBuf::from("cassettes/http/otter_text3d.yaml")],
            api_payload: false,
            task: None,
        };
        let table = summary(&[produced]).unwrap();
        assert!(table.contains("  otter_text3d  019a97e6-58dc-7430-85a1-9bf2d9e97430  SUCCEEDED      2.1s  cassettes/http/otter_text3d.yaml"), "{table}");
        assert_eq!(summary(&[]), None);
    }
}
