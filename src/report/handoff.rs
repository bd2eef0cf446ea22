//! What a replay's trials read, handed to the report that runs beside them, so each
//! cassette and webhook recording is read and parsed once per run, not once by its
//! trial and again by the report.
//!
//! The run makes a [`Shelf`] naming the trials that will hand their files over. Each
//! such trial [`give`](Shelf::give)s what it read when it ends (or nothing, when it read
//! nothing whole), and the report [`take`](Shelf::take)s an entry's files, waiting for
//! its trial while the run goes on. Once the run [`close`](Shelf::close)s the shelf,
//! nothing is waited for: what no trial gave, the report reads itself. The shelf holds
//! at most [`CAPACITY`] entries the report has not taken yet; a trial that ends while it
//! is full keeps its files to itself (the report then reads them from disk), so a
//! report that falls behind never holds a suite's cassettes in memory at once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Condvar, Mutex};

use crate::cassette::CassetteFile;
use crate::sync::lock;
use crate::webhooks::RecordingFile;

/// Entries given and not yet taken, at most: one of the report's chunks.
pub const CAPACITY: usize = 32;

/// What one trial read: its cassette with what the check reads of the file's text
/// ([`crate::check::scanned_text`]), and the webhook recordings of its tasks.
#[derive(Debug)]
pub struct Given {
    pub cassette: Option<(CassetteFile, String)>,
    pub recordings: Vec<Arc<RecordingFile>>,
}

/// The run's files handed from its trials to its report.
#[derive(Debug, Default)]
pub struct Shelf {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Trials that will give, and have not yet.
    expected: BTreeSet<String>,
    given: BTreeMap<String, Given>,
    closed: bool,
}

impl Shelf {
    /// A shelf the trials named `expected` will give to.
    pub fn new(expected: impl IntoIterator<Item = String>) -> Shelf {
        Shelf {
            state: Mutex::new(State {
                expected: expected.into_iter().collect(),
                ..State::default()
            }),
            changed: Condvar::new(),
        }
    }

    /// The trial `name` ended, having read `given` (`None`: nothing to hand over). Only
    /// a trial the shelf expects gives, once; a full shelf takes nothing (the report
    /// reads that entry itself).
    pub fn give(&self, name: &str, given: Option<Given>) {
        let mut state = lock(&self.state);
        if !state.expected.remove(name) {
            return;
        }
        if let Some(given) = given
            && state.given.len() < CAPACITY
            && !state.closed
        {
            state.given.insert(name.to_owned(), given);
        }
        self.changed.notify_all();
    }

    /// The run's trials are over, or the report is: nothing more is waited for or kept.
    pub fn close(&self) {
        lock(&self.state).closed = true;
        self.changed.notify_all();
    }

    /// What the trial `name` gave, waiting for it while the shelf expects it and is open;
    /// `None` when it gave nothing, or no trial of that name gives.
    pub fn take(&self, name: &str) -> Option<Given> {
        let mut state = lock(&self.state);
        while state.expected.contains(name) && !state.closed {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.given.remove(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn given() -> Option<Given> {
        Some(Given {
            cassette: None,
            recordings: Vec::new(),
        })
    }

    /// A take waits for its trial (on another thread), then has what it gave, once.
    #[test]
    fn the_report_waits_for_an_expected_trial_and_takes_what_it_gave() {
        let shelf = Arc::new(Shelf::new(["a".to_owned()]));
        let (sent, received) = std::sync::mpsc::channel();
        let taker = {
            let shelf = Arc::clone(&shelf);
            std::thread::spawn(move || sent.send(shelf.take("a").is_some()).unwrap())
        };
        // Not before the trial gave (a deadline, not a sleep: nothing may arrive).
        assert!(received.recv_timeout(Duration::from_millis(50)).is_err());
        shelf.give("a", given());
        assert_eq!(received.recv_timeout(Duration::from_secs(10)), Ok(true));
        taker.join().unwrap();
        assert!(shelf.take("a").is_none(), "taken once");
    }

    #[test]
    fn closing_ends_every_wait_and_unexpected_names_are_never_waited_for() {
        let shelf = Arc::new(Shelf::new(["a".to_owned()]));
        assert!(shelf.take("never-expected").is_none());
        shelf.give("never-expected", given());
        assert!(shelf.take("never-expected").is_none(), "not kept");
        let (sent, received) = std::sync::mpsc::channel();
        let taker = {
            let shelf = Arc::clone(&shelf);
            std::thread::spawn(move || sent.send(shelf.take("a").is_none()).unwrap())
        };
        // The taker is waiting (nothing arrives while the shelf is open)...
        assert!(received.recv_timeout(Duration::from_millis(50)).is_err());
        // ...and the close wakes it, with nothing.
        shelf.close();
        assert_eq!(received.recv_timeout(Duration::from_secs(10)), Ok(true));
        taker.join().unwrap();
        // A trial that gives after the close (it ended late) is neither kept nor waited for.
        let late = Shelf::new(["b".to_owned()]);
        late.close();
        late.give("b", given());
        assert!(late.take("b").is_none());
    }

    #[test]
    fn a_full_shelf_keeps_nothing_more_and_a_second_give_is_ignored() {
        let names: Vec<String> = (0..=CAPACITY).map(|i| format!("t{i:03}")).collect();
        let shelf = Shelf::new(names.clone());
        for name in &names {
            shelf.give(name, given());
        }
        shelf.give("t000", None);
        let kept = names.iter().filter(|n| shelf.take(n).is_some()).count();
        assert_eq!(kept, CAPACITY);
    }
}
