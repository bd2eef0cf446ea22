//! What a replay's trials read, handed to the report that runs beside them, so each
//! cassette and webhook recording is read and parsed once per run, not once by its
//! trial and again by the report.
//!
//! The run makes a [`Shelf`] naming the trials that will hand their files over. Each
//! such trial [`give`](Shelf::give)s what it read when it ends (or nothing, when it read
//! nothing whole), and the report [`take`](Shelf::take)s an entry's files, waiting for
//! its trial while the run goes on. Once the run [`close`](Shelf::close)s the shelf,
//! nothing is waited for: what no trial gave, the report reads itself.
//!
//! The shelf holds at most [`CAPACITY`] entries the report has not taken yet, so a
//! report that falls behind never holds a suite's cassettes in memory at once. A trial
//! that ends while it is full waits for room: the run waits for its report at the end
//! anyway, so holding a trial back costs no time, while dropping what it read would
//! make the report read it again. Nothing waits in a circle: an entry the report is
//! waiting for is always taken in, and while the report waits and trials wait for room,
//! it drops the entry it would reach last (and reads that one itself) to make some.
//!
//! The shelf also carries the scenario files as the run read them when it started
//! ([`Shelf::with_scenarios`]), so the report reads none of them again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Condvar, Mutex};

use crate::cassette::CassetteFile;
use crate::scenario::ScenarioFile;
use crate::sync::lock;
use crate::webhooks::RecordingFile;

/// Entries given and not yet taken, at most (beside those the report waits for): one of
/// the report's chunks.
pub const CAPACITY: usize = 32;

/// What one trial read: its cassette with what the check scans of its text
/// ([`crate::check::scanned_text`]: a shelf of cassettes holding megabytes of models
/// holds only their structure), and the webhook recordings of its tasks.
#[derive(Debug)]
pub struct Given {
    pub cassette: Option<(CassetteFile, String)>,
    pub recordings: Vec<Arc<RecordingFile>>,
}

impl Given {
    /// Its cassette and its recordings (nothing for `None`).
    pub fn split(
        given: Option<Given>,
    ) -> (Option<(CassetteFile, String)>, Vec<Arc<RecordingFile>>) {
        given.map_or((None, Vec::new()), |g| (g.cassette, g.recordings))
    }
}

/// The run's files handed from its trials to its report.
#[derive(Debug, Default)]
pub struct Shelf {
    state: Mutex<State>,
    changed: Condvar,
    /// The scenario files as the run read them when it started (`None`: the report
    /// reads the scenarios directory itself).
    scenarios: Option<Arc<Vec<ScenarioFile>>>,
}

#[derive(Debug, Default)]
struct State {
    /// Trials that will give, and have not yet.
    expected: BTreeSet<String>,
    given: BTreeMap<String, Given>,
    /// The entries the report is waiting for now.
    wanted: BTreeSet<String>,
    /// Trials waiting for room.
    held: usize,
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
            scenarios: None,
        }
    }

    /// With the scenario files the run read: the report reads none of them again.
    pub fn with_scenarios(self, scenarios: Arc<Vec<ScenarioFile>>) -> Shelf {
        Shelf {
            scenarios: Some(scenarios),
            ..self
        }
    }

    /// The scenario files the run read, if it said.
    pub fn scenarios(&self) -> Option<&[ScenarioFile]> {
        self.scenarios.as_deref().map(Vec::as_slice)
    }

    /// [`Shelf::scenarios`], shared.
    pub fn scenarios_shared(&self) -> Option<Arc<Vec<ScenarioFile>>> {
        self.scenarios.clone()
    }

    /// The trial `name` ended, having read `given` (`None`: nothing to hand over). Only
    /// a trial the shelf expects gives, once. While the shelf is full it waits for room,
    /// unless the report waits for this very entry; a closed shelf keeps nothing.
    pub fn give(&self, name: &str, given: Option<Given>) {
        let mut state = lock(&self.state);
        if !state.expected.contains(name) {
            return;
        }
        if let Some(given) = given {
            while state.given.len() >= CAPACITY && !state.wanted.contains(name) && !state.closed {
                state.held += 1;
                state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
                state.held -= 1;
            }
            // Forgotten while it waited (`Shelf::forget`): the report needs none of it.
            if !state.closed && state.expected.contains(name) {
                state.given.insert(name.to_owned(), given);
            }
        }
        state.expected.remove(name);
        self.changed.notify_all();
    }

    /// Whether the trial `name` is still to give.
    pub fn expects(&self, name: &str) -> bool {
        lock(&self.state).expected.contains(name)
    }

    /// The report needs nothing from the trials `names` (its cache holds what it
    /// needs): what they gave is dropped, and they give nothing more.
    pub fn forget<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        let mut state = lock(&self.state);
        for name in names {
            state.expected.remove(name);
            state.given.remove(name);
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
        state.wanted.insert(name.to_owned());
        // Its trial may be waiting for room: it may give now.
        self.changed.notify_all();
        while state.expected.contains(name) && !state.closed {
            // Trials wait for room while this waits for its trial: the entry reached
            // last goes (it is read from disk when its turn comes).
            if state.held > 0 && state.given.len() >= CAPACITY {
                let last = state.given.keys().next_back().cloned();
                if let Some(last) = last {
                    state.given.remove(&last);
                    self.changed.notify_all();
                }
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.wanted.remove(name);
        let taken = state.given.remove(name);
        if taken.is_some() {
            // Room: a trial waiting for it may give.
            self.changed.notify_all();
        }
        taken
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

    /// The names `t000`, `t001`, … of `n` trials.
    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("t{i:03}")).collect()
    }

    /// A trial that ends while the shelf is full waits for the report to take one, and
    /// then its files are kept: nothing is read twice, nothing is held beyond capacity.
    #[test]
    fn a_full_shelf_holds_the_next_trial_until_the_report_takes_one() {
        let names = names(CAPACITY + 1);
        let (shelf, giver, received) = full_with_one_held(&names);
        assert!(shelf.take(&names[0]).is_some());
        received
            .recv_timeout(Duration::from_secs(10))
            .expect("let in once there was room");
        giver.join().unwrap();
        shelf.give(&names[0], None);
        let kept = names[1..]
            .iter()
            .filter(|n| shelf.take(n).is_some())
            .count();
        assert_eq!(kept, CAPACITY, "every other entry kept");
    }

    /// A trial held on a full shelf when the report forgets every entry (the cache
    /// holds them) is let go with nothing kept: no slot is taken by files nobody takes.
    #[test]
    fn a_trial_held_for_room_keeps_nothing_once_forgotten() {
        let names = names(CAPACITY + 1);
        let (shelf, giver, received) = full_with_one_held(&names);
        shelf.forget(names.iter().map(String::as_str));
        received
            .recv_timeout(Duration::from_secs(10))
            .expect("let go once forgotten");
        giver.join().unwrap();
        assert!(lock(&shelf.state).given.is_empty(), "nothing kept");
    }

    /// A shelf expecting `names` (one more than it holds), full with all but the last,
    /// whose give (on another thread) is held for room.
    fn full_with_one_held(
        names: &[String],
    ) -> (
        Arc<Shelf>,
        std::thread::JoinHandle<()>,
        std::sync::mpsc::Receiver<()>,
    ) {
        let shelf = Arc::new(Shelf::new(names.to_vec()));
        for name in &names[..CAPACITY] {
            shelf.give(name, given());
        }
        let (giver, received) = give_in_thread(&shelf, &names[CAPACITY]);
        assert!(
            received.recv_timeout(Duration::from_millis(50)).is_err(),
            "held"
        );
        (shelf, giver, received)
    }

    /// `name` given to `shelf` from another thread, which says when the give returned.
    fn give_in_thread(
        shelf: &Arc<Shelf>,
        name: &str,
    ) -> (std::thread::JoinHandle<()>, std::sync::mpsc::Receiver<()>) {
        let (sent, received) = std::sync::mpsc::channel();
        let (shelf, name) = (Arc::clone(shelf), name.to_owned());
        let giver = std::thread::spawn(move || {
            shelf.give(&name, given());
            sent.send(()).unwrap();
        });
        (giver, received)
    }

    /// The report waits for a trial that has not given while the shelf is full and
    /// another trial waits for room: the entry it would reach last goes, so neither
    /// waits for ever; that one it then reads itself.
    #[test]
    fn a_report_waiting_on_a_full_shelf_makes_room_by_dropping_the_last_entry() {
        let names = names(CAPACITY + 2);
        let shelf = Arc::new(Shelf::new(names.clone()));
        for name in &names[1..=CAPACITY] {
            shelf.give(name, given());
        }
        let (giver, received) = give_in_thread(&shelf, &names[CAPACITY + 1]);
        assert!(
            received.recv_timeout(Duration::from_millis(50)).is_err(),
            "held"
        );
        let (took, taken) = std::sync::mpsc::channel();
        let taker = {
            let (shelf, first) = (Arc::clone(&shelf), names[0].clone());
            std::thread::spawn(move || took.send(shelf.take(&first).is_some()).unwrap())
        };
        received
            .recv_timeout(Duration::from_secs(10))
            .expect("room was made");
        giver.join().unwrap();
        shelf.give(&names[0], given());
        assert_eq!(taken.recv_timeout(Duration::from_secs(10)), Ok(true));
        taker.join().unwrap();
        assert!(
            shelf.take(&names[CAPACITY]).is_none(),
            "the last entry was dropped"
        );
        assert!(shelf.take(&names[CAPACITY + 1]).is_some());
        assert!(shelf.take(&names[1]).is_some());
    }
}
