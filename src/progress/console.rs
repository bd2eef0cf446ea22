//! The one sink of a run's progress: [`Event`]s from the recorder and notes from the
//! suite, shown as live `indicatif` lines on stderr (one per task being waited for,
//! in a `MultiProgress`) or as plain lines. In live mode it also owns standard output
//! while the run lasts ([`Console::forward_stdout`]), so that libtest's lines are
//! printed whole, above the live lines, never through them.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::event::{Event, TaskProgress, elapsed_text};
use super::{Reporter, Style};
use crate::log_sink::LogSink;
use crate::sync::lock;

/// How often a live line redraws by itself (spinner, elapsed time).
const TICK: Duration = Duration::from_millis(120);

/// `⠹ otter_text3d 019a97e6… [######>-------------] IN_PROGRESS 33% 4s 3 deliveries`
const TEMPLATE: &str =
    "{spinner:.cyan} {prefix:.bold} [{bar:20.cyan/blue}] {msg} {elapsed_short} {deliveries}";

/// Where a run's progress goes. Cheap to clone (all clones share one display).
#[derive(Clone)]
pub struct Console {
    inner: Arc<Inner>,
}

enum Inner {
    Plain,
    Live(Live),
}

struct Live {
    multi: MultiProgress,
    /// One line per task being waited for, by task id.
    bars: Mutex<HashMap<String, Bar>>,
    stdout: Mutex<Option<super::stdout::Forwarding>>,
}

struct Bar {
    bar: ProgressBar,
    deliveries: Arc<AtomicUsize>,
}

impl Console {
    /// Today's plain lines on stderr.
    pub fn plain() -> Console {
        Console {
            inner: Arc::new(Inner::Plain),
        }
    }

    /// Live lines on stderr.
    pub fn live() -> Console {
        Console::live_to(ProgressDrawTarget::stderr())
    }

    /// Live lines drawn to `target` (tests draw into `indicatif::InMemoryTerm`).
    pub fn live_to(target: ProgressDrawTarget) -> Console {
        Console {
            inner: Arc::new(Inner::Live(Live {
                multi: MultiProgress::with_draw_target(target),
                bars: Mutex::default(),
                stdout: Mutex::default(),
            })),
        }
    }

    /// The console of `style`.
    pub fn of(style: Style) -> Console {
        match style {
            Style::Plain => Console::plain(),
            Style::Live => Console::live(),
        }
    }

    pub fn is_live(&self) -> bool {
        matches!(*self.inner, Inner::Live(_))
    }

    /// Shows one event: a plain line, or the live line's change.
    pub fn report(&self, event: &Event) {
        let live = match &*self.inner {
            Inner::Plain => {
                if let Some(line) = event.plain() {
                    eprintln!("{line}");
                }
                return;
            }
            Inner::Live(live) => live,
        };
        match event {
            Event::Started(progress) | Event::Update(progress) => live.show(progress),
            Event::Note(text) => live.println(text),
            Event::Ended(progress, ending) => {
                if let Some(bar) = lock(&live.bars).remove(&progress.task_id) {
                    bar.bar.finish_and_clear();
                    live.multi.remove(&bar.bar);
                }
                live.println(&format!(
                    "{} {} {} {}: {ending}",
                    progress.label(),
                    progress.state(),
                    elapsed_text(progress.elapsed),
                    progress.deliveries_text()
                ));
            }
        }
    }

    /// A line of text on stderr, above the live lines when there are any.
    pub fn line(&self, text: &str) {
        self.report(&Event::Note(text.to_owned()));
    }

    /// This console as the recorder's reporter.
    pub fn reporter(&self) -> Reporter {
        let console = self.clone();
        Arc::new(move |event: &Event| console.report(event))
    }

    /// This console as the receiver's and simulator's log.
    pub fn log_sink(&self) -> LogSink {
        let console = self.clone();
        LogSink::to(move |line| console.line(line))
    }

    /// Live only: from now until [`Console::finish`], standard output goes through a
    /// pipe whose lines this console prints whole, the live lines cleared before and
    /// drawn again after (see `stdout.rs`). Call it before libtest prints anything,
    /// so no line can be split. Plain, or when the pipe cannot be set up: nothing
    /// changes (live lines then share the terminal with libtest's as they can).
    pub fn forward_stdout(&self) {
        let Inner::Live(live) = &*self.inner else {
            return;
        };
        let mut slot = lock(&live.stdout);
        if slot.is_some() {
            return;
        }
        let multi = live.multi.clone();
        let printer: super::stdout::Printer = Box::new(move |real: &mut File, line: &[u8]| {
            multi.suspend(|| {
                let _ = real.write_all(line);
                let _ = real.flush();
            });
        });
        #[cfg(unix)]
        match super::stdout::Forwarding::start(printer) {
            Ok(forwarding) => *slot = Some(forwarding),
            Err(e) => {
                drop(slot);
                self.line(&format!(
                    "mesh-toolkit: cannot keep libtest's lines apart from the live progress ({e}); set \
                     MESH_TOOLKIT_PROGRESS=plain if they mix"
                ));
            }
        }
        #[cfg(not(unix))]
        drop(printer);
    }

    /// Ends the live display: live lines cleared, standard output pointed back and
    /// everything written to it printed. Call it before printing the run's summary;
    /// idempotent (also run when the last clone is dropped).
    pub fn finish(&self) {
        let Inner::Live(live) = &*self.inner else {
            return;
        };
        live.finish();
    }
}

impl Live {
    /// The task's live line, created on first sight, updated after.
    fn show(&self, progress: &TaskProgress) {
        let mut bars = lock(&self.bars);
        let bar = bars.entry(progress.task_id.clone()).or_insert_with(|| {
            let deliveries = Arc::new(AtomicUsize::new(progress.deliveries));
            let bar = ProgressBar::new(100)
                .with_style(style(Arc::clone(&deliveries)))
                .with_prefix(progress.label())
                .with_elapsed(progress.elapsed);
            let bar = self.multi.add(bar);
            bar.enable_steady_tick(TICK);
            Bar { bar, deliveries }
        });
        bar.deliveries.store(progress.deliveries, Ordering::Relaxed);
        bar.bar.set_position(progress.percent.unwrap_or(0).min(100));
        bar.bar.set_message(progress.state());
    }

    fn println(&self, text: &str) {
        // Hidden draw targets drop printed lines: keep them in the log then.
        if self.multi.is_hidden() {
            eprintln!("{text}");
        } else {
            let _ = self.multi.println(text);
        }
    }

    fn finish(&self) {
        for (_, bar) in lock(&self.bars).drain() {
            bar.bar.finish_and_clear();
            self.multi.remove(&bar.bar);
        }
        let _ = self.multi.clear();
        if let Some(mut forwarding) = lock(&self.stdout).take() {
            forwarding.stop();
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The live line's look, with its own deliveries counter.
fn style(deliveries: Arc<AtomicUsize>) -> ProgressStyle {
    ProgressStyle::with_template(TEMPLATE)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("#>-")
        .with_key(
            "elapsed_short",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&elapsed_text(state.elapsed()));
            },
        )
        .with_key(
            "deliveries",
            move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = match deliveries.load(Ordering::Relaxed) {
                    1 => w.write_str("1 delivery"),
                    n => write!(w, "{n} deliveries"),
                };
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meshy::TaskStatus;
    use crate::progress::event::Ending;
    use indicatif::InMemoryTerm;

    fn waiting(
        status: Option<TaskStatus>,
        percent: Option<u64>,
        deliveries: usize,
    ) -> TaskProgress {
        TaskProgress {
            scenario: "otter_text3d".into(),
            task_id: "019a97e6-58dc-7430".into(),
            status,
            percent,
            deliveries,
            elapsed: Duration::from_secs(4),
        }
    }

    #[test]
    fn the_live_line_shows_scenario_task_status_percent_elapsed_and_deliveries() {
        let term = InMemoryTerm::new(10, 120);
        let console = Console::live_to(ProgressDrawTarget::term_like(Box::new(term.clone())));
        console.report(&Event::Started(waiting(None, None, 0)));
        console.report(&Event::Update(waiting(
            Some(TaskStatus::InProgress),
            Some(33),
            3,
        )));
        // Drawing is rate-limited: a printed line forces a redraw of the live lines.
        console.line("a note");
        let screen = term.contents();
        assert!(screen.starts_with("a note\n"), "{screen}");
        let live = screen.lines().nth(1).unwrap_or_default();
        assert!(
            live.contains(
                "otter_text3d 019a97e6… [######>-------------] IN_PROGRESS 33% 4s 3 deliveries"
            ),
            "{screen}"
        );
        console.report(&Event::Ended(
            waiting(Some(TaskStatus::Succeeded), Some(100), 4),
            Ending::Webhook,
        ));
        assert_eq!(
            term.contents(),
            "a note\notter_text3d 019a97e6… SUCCEEDED 100% 4s 4 deliveries: terminal webhook recorded"
        );
    }

    #[test]
    fn notes_go_above_the_live_lines_and_the_end_clears_them() {
        let term = InMemoryTerm::new(10, 120);
        let console = Console::live_to(ProgressDrawTarget::term_like(Box::new(term.clone())));
        console.report(&Event::Started(waiting(
            Some(TaskStatus::Pending),
            Some(0),
            1,
        )));
        console.line("first");
        console.line("second");
        let screen = term.contents();
        let lines: Vec<&str> = screen.lines().collect();
        assert_eq!(lines[..2], ["first", "second"], "{screen}");
        assert!(
            lines[2]
                .contains("otter_text3d 019a97e6… [--------------------] PENDING 4s 1 delivery"),
            "{screen}"
        );
        console.finish();
        assert_eq!(term.contents(), "first\nsecond");
    }

    #[test]
    fn a_plain_console_is_not_live_and_prints_only_plain_lines() {
        let console = Console::plain();
        assert!(!console.is_live());
        // Nothing to see in a test's captured stderr but that it does not panic.
        console.report(&Event::Started(waiting(None, None, 0)));
        console.forward_stdout();
        console.finish();
    }
}
