//! Live progress while recording: what a recording trial shows while it waits for its
//! task (scenario, task id, status, progress %, elapsed, deliveries), and the one
//! place that decides how. It owns the [`Event`]s the recorder reports, their plain
//! rendering (the lines a log or CI gets, unchanged from before), the live rendering
//! (one `indicatif` line per task on stderr) and, in live mode, standard output while
//! a run lasts, so libtest's `test … ok` lines stay whole (see [`Console`]).
//! The suite picks the [`Style`] once per run; the recorder only reports events.
//!
//! ```
//! use mesh_toolkit::progress::{Console, Style};
//! let style = Style::choose(|name| std::env::var(name).ok(), false).unwrap();
//! assert_eq!(style, Style::Plain); // stderr is no terminal here
//! let console = Console::of(style);
//! console.line("otter_text3d 019a97e6… IN_PROGRESS 66% 1m30s");
//! console.finish();
//! ```

mod console;
mod event;
#[cfg(unix)]
mod stdout;
#[cfg(not(unix))]
mod stdout {
    pub(super) type Printer = Box<dyn FnMut(&mut std::fs::File, &[u8]) + Send>;
    pub(super) struct Forwarding;
    impl Forwarding {
        pub(super) fn stop(&mut self) {}
    }
}

use std::sync::Arc;

pub use console::Console;
pub use event::{Ending, Event, TaskProgress, elapsed_text, short_id};

/// Where a recorder's events go. Default: plain lines on stderr.
pub type Reporter = Arc<dyn Fn(&Event) + Send + Sync>;

/// The environment variable that overrides the choice: `plain`, `live` or `auto`.
pub const OVERRIDE: &str = "MESH_TOOLKIT_PROGRESS";

/// How a run shows progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// One line per delivery and per 30 s of silence, as in a log.
    Plain,
    /// One live line per task being waited for, redrawn in place.
    Live,
}

/// `MESH_TOOLKIT_PROGRESS` holds none of its values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{OVERRIDE}: '{value}' is not one of plain, live, auto; fix or unset it")]
pub struct StyleError {
    pub value: String,
}

/// Whether stderr is a terminal live lines can be drawn on: a terminal that reports no
/// width (a pseudo-terminal nobody sized, as `script` run without one makes) would
/// have them padded into one long line, so it gets plain lines.
pub fn stderr_is_drawable() -> bool {
    use std::io::IsTerminal as _;
    if !std::io::stderr().is_terminal() {
        return false;
    }
    // TIOCGWINSZ; a terminal that cannot say its size is taken as drawable.
    rustix::termios::tcgetwinsize(std::io::stderr()).map_or(true, |size| size.ws_col > 0)
}

impl Style {
    /// Live when stderr is a terminal and `CI` is unset, empty, `false` or `0`;
    /// otherwise plain. `MESH_TOOLKIT_PROGRESS=plain` is always plain; `=live` is live
    /// whenever stderr is a terminal, `CI` or not (indicatif draws nothing elsewhere);
    /// `=auto` or unset is the rule above. Default: that rule.
    pub fn choose(
        env: impl Fn(&str) -> Option<String>,
        stderr_is_terminal: bool,
    ) -> Result<Style, StyleError> {
        let ci = env("CI").is_some_and(|v| {
            let v = v.trim().to_ascii_lowercase();
            !v.is_empty() && v != "false" && v != "0"
        });
        let auto = if stderr_is_terminal && !ci {
            Style::Live
        } else {
            Style::Plain
        };
        match env(OVERRIDE)
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("" | "auto") => Ok(auto),
            Some("plain") => Ok(Style::Plain),
            Some("live") if stderr_is_terminal => Ok(Style::Live),
            Some("live") => Ok(Style::Plain),
            Some(_) => Err(StyleError {
                value: env(OVERRIDE).unwrap_or_default(),
            }),
        }
    }

    /// [`Style::choose`] for this process: its environment and its stderr.
    pub fn for_process() -> Result<Style, StyleError> {
        use std::io::IsTerminal as _;
        Style::choose(
            |name| std::env::var(name).ok(),
            std::io::stderr().is_terminal(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choose(pairs: &[(&str, &str)], terminal: bool) -> Result<Style, StyleError> {
        let env = |name: &str| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        };
        Style::choose(env, terminal)
    }

    #[test]
    fn live_only_on_a_terminal_without_ci() {
        assert_eq!(choose(&[], true), Ok(Style::Live));
        assert_eq!(choose(&[], false), Ok(Style::Plain));
        assert_eq!(choose(&[("CI", "true")], true), Ok(Style::Plain));
        assert_eq!(choose(&[("CI", "1")], true), Ok(Style::Plain));
        for off in ["", "false", "0", "FALSE"] {
            assert_eq!(choose(&[("CI", off)], true), Ok(Style::Live), "CI={off:?}");
        }
    }

    #[test]
    fn the_override_forces_plain_or_live_and_refuses_other_values() {
        assert_eq!(choose(&[(OVERRIDE, "plain")], true), Ok(Style::Plain));
        assert_eq!(
            choose(&[(OVERRIDE, "Live"), ("CI", "true")], true),
            Ok(Style::Live)
        );
        // Nothing would be drawn: a log gets its lines.
        assert_eq!(choose(&[(OVERRIDE, "live")], false), Ok(Style::Plain));
        assert_eq!(choose(&[(OVERRIDE, "auto")], true), Ok(Style::Live));
        assert_eq!(
            choose(&[(OVERRIDE, "fancy")], true)
                .unwrap_err()
                .to_string(),
            "MESH_TOOLKIT_PROGRESS: 'fancy' is not one of plain, live, auto; fix or unset it"
        );
    }
}
