//! A task's delivery timeline as inline SVG: progress (0–100 %) against time since
//! submission, one mark per webhook delivery or poll, coloured by status, with
//! repeats drawn hollow and late (out-of-order) ones outlined in red. Each mark is a
//! `<circle class="mark …">` with a `<title>` that says what it was.

use std::fmt::Write as _;

use super::collect::Mark;
use super::html::escape;

const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 150.0;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// The SVG of `marks`; `what` names them (`delivery` or `poll`).
pub fn svg(marks: &[Mark], what: &str) -> String {
    let timed = marks.iter().all(|m| m.at_ms.is_some());
    let span_ms = marks
        .iter()
        .filter_map(|m| m.at_ms)
        .max()
        .unwrap_or(0)
        .max(0);
    // Without times (or all within the same second), marks are spaced by arrival.
    let by_order = !timed || span_ms == 0;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x_of = |i: usize, m: &Mark| -> f64 {
        if by_order {
            let n = marks.len().saturating_sub(1).max(1) as f64;
            LEFT + plot_w * i as f64 / n
        } else {
            LEFT + plot_w * (m.at_ms.unwrap_or(0).max(0) as f64) / span_ms as f64
        }
    };
    let y_of = |m: &Mark| -> f64 {
        let progress = m.progress.unwrap_or(0).min(100) as f64;
        TOP + plot_h * (1.0 - progress / 100.0)
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"timeline\" data-marks=\"{}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" \
         height=\"{HEIGHT}\" role=\"img\" aria-label=\"{} {what} marks: progress against time since \
         submission\">",
        marks.len(),
        marks.len()
    );
    // Axes and grid.
    for percent in [0, 50, 100] {
        let y = TOP + plot_h * (1.0 - f64::from(percent) / 100.0);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{percent}%</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0
        );
    }
    let axis = if by_order {
        format!("{what}s in arrival order")
    } else {
        format!("{} since submission", seconds(span_ms))
    };
    let _ = write!(
        out,
        "<text class=\"axis\" x=\"{LEFT}\" y=\"{:.1}\">0 s</text><text class=\"axis\" x=\"{:.1}\" \
         y=\"{:.1}\" text-anchor=\"end\">{}</text>",
        HEIGHT - 8.0,
        WIDTH - RIGHT,
        HEIGHT - 8.0,
        escape(&axis)
    );
    if marks.len() > 1 {
        let points: Vec<String> = marks
            .iter()
            .enumerate()
            .map(|(i, m)| format!("{:.1},{:.1}", x_of(i, m), y_of(m)))
            .collect();
        let _ = write!(
            out,
            "<polyline class=\"path\" points=\"{}\"/>",
            points.join(" ")
        );
    }
    for (i, m) in marks.iter().enumerate() {
        // A status is outside input: only its letters and `_` name a class.
        let status_class: String = m
            .status
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect::<String>()
            .to_ascii_lowercase();
        let mut class = format!("mark {what} s-{status_class}");
        let mut notes = String::new();
        if m.duplicate {
            class.push_str(" duplicate");
            notes.push_str(" (a repeat)");
        }
        if m.out_of_order {
            class.push_str(" out-of-order");
            notes.push_str(" (out of order)");
        }
        let at = m.at_ms.map_or_else(
            || "time unknown".to_owned(),
            |ms| format!("+{}", seconds(ms)),
        );
        let progress = m.progress.map_or_else(String::new, |p| format!(" {p}%"));
        let _ = write!(
            out,
            "<circle class=\"{class}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\"><title>{what} {}: {}{progress} at \
             {at}{notes}</title></circle>",
            x_of(i, m),
            y_of(m),
            i + 1,
            escape(&m.status),
        );
    }
    out.push_str("</svg>");
    out
}

fn seconds(ms: i64) -> String {
    if ms.abs() < 10_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} s", ms / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(at_ms: Option<i64>, status: &str, progress: u64, duplicate: bool) -> Mark {
        Mark {
            at_ms,
            status: status.into(),
            progress: Some(progress),
            duplicate,
            out_of_order: false,
        }
    }

    #[test]
    fn one_circle_per_mark_classed_by_status_and_placed_by_time_and_progress() {
        let marks = [
            mark(Some(0), "PENDING", 0, false),
            mark(Some(1000), "IN_PROGRESS", 50, false),
            mark(Some(2000), "SUCCEEDED", 100, false),
            mark(Some(2000), "SUCCEEDED", 100, true),
        ];
        let svg = svg(&marks, "delivery");
        assert_eq!(
            svg.matches("<circle class=\"mark delivery").count(),
            4,
            "{svg}"
        );
        assert!(svg.contains("data-marks=\"4\""));
        assert!(
            svg.contains("class=\"mark delivery s-succeeded duplicate\""),
            "{svg}"
        );
        // PENDING at the left bottom, SUCCEEDED at the right top.
        assert!(svg.contains("cx=\"40.0\" cy=\"122.0\""), "{svg}");
        assert!(svg.contains("cx=\"544.0\" cy=\"12.0\""), "{svg}");
        assert!(svg.contains("2.0 s since submission"));
    }

    #[test]
    fn a_status_cannot_break_out_of_its_attribute() {
        let marks = [mark(Some(0), "X\" onload=\"alert(1)", 10, false)];
        let svg = svg(&marks, "delivery");
        assert!(!svg.contains("onload=\""), "{svg}");
        assert!(
            svg.contains("class=\"mark delivery s-xonloadalert1\""),
            "{svg}"
        );
    }

    #[test]
    fn marks_without_times_are_spaced_in_arrival_order() {
        let marks = [
            mark(None, "IN_PROGRESS", 10, false),
            mark(None, "SUCCEEDED", 100, false),
        ];
        let svg = svg(&marks, "poll");
        assert!(svg.contains("polls in arrival order"), "{svg}");
        assert!(svg.contains("at time unknown"));
    }
}
