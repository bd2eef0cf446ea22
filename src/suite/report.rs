//! The summary printed on stderr after a recording run: what was recorded, how it
//! ended, how long it took, and which files were written.

use std::fmt::Write as _;

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
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meshy::TaskStatus;
    use std::path::PathBuf;
    use std::time::Duration;

    #[test]
    fn lists_scenario_task_status_duration_and_files() {
        let produced = Produced {
            scenario: "otter_text3d".into(),
            task_id: "019a97e6-58dc-7430-85a1-9bf2d9e97430".into(),
            status: TaskStatus::Succeeded,
            duration: Duration::from_millis(2150),
            recorded: true,
            files: vec![PathBuf::from("cassettes/http/otter_text3d.yaml")],
        };
        let table = summary(&[produced]).unwrap();
        assert!(table.contains("  otter_text3d  019a97e6-58dc-7430-85a1-9bf2d9e97430  SUCCEEDED      2.1s  cassettes/http/otter_text3d.yaml"), "{table}");
        assert_eq!(summary(&[]), None);
    }
}
