//! Faults on purpose (`mesh-toolkit sim --chaos-seed N --chaos-rate R`, or
//! [`SimConfig::chaos`](super::SimConfig::chaos)): a flaky network and a flaky Meshy,
//! for the harness's own soak and for users who point their pipeline at one.
//!
//! Each request and each webhook update draws from a hash of the seed, what it is
//! (a create by its body, a read by its path with the task named by its request, an
//! update by its task and position) and how many times the same thing came before —
//! never from arrival order, so concurrent trials get the same faults run after run.
//!
//! Requests (never the asset downloads, streams or `/_sim/` routes):
//! - a create: `lost-answer` (the task is made, the connection drops mid-answer),
//!   `bad-gateway` (the task is made, the answer is a 502), `slow`, `too-many` (a
//!   burst of three 429s; no task is made);
//! - a read: `reset`, `unavailable` (503), `slow`, `too-many`.
//!
//! Webhook updates: `dropped`, `duplicated`, `reordered` (sent after the next one) for
//! the updates before the last; for a task, `only-in-progress` (of those, only its
//! last IN_PROGRESS is sent); the last update may be `duplicated` or `late` (sent
//! after a pause, past any held one), and is lost for good (`final-lost`) only with
//! [`Chaos::lose_final`]. Every fault injected is logged as one line
//! `mesh-toolkit sim: chaos: <kind> <what>`, and counted ([`super::Simulator::chaos_stats`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::log_sink::LogSink;
use crate::sync::lock;

/// How flaky the simulator is.
#[derive(Debug, Clone, PartialEq)]
pub struct Chaos {
    /// The same seed gives the same faults for the same requests.
    pub seed: u64,
    /// The share of requests, and of webhook updates, that get a fault (0 to 1).
    pub rate: f64,
    /// How long a `slow` answer or a `late` delivery waits. Default: 2 s.
    pub pause: Duration,
    /// Whether a task's last update may be lost for good (`final-lost`). Default: off:
    /// it arrives at least once, maybe late.
    pub lose_final: bool,
    /// Only these kinds of fault (their names: `lost-answer`, `reset`, `dropped`, …);
    /// empty: every kind. A fault drawn picks among these.
    pub only: Vec<String>,
}

impl Chaos {
    /// Every kind of fault, by name.
    pub const KINDS: [&'static str; 12] = [
        "lost-answer",
        "bad-gateway",
        "reset",
        "unavailable",
        "slow",
        "too-many",
        "dropped",
        "duplicated",
        "reordered",
        "late",
        "only-in-progress",
        "final-lost",
    ];

    /// `SEED` or `SEED:RATE` (rate from 0 to 1; default 0.1).
    pub fn parse(text: &str) -> Option<Chaos> {
        let (seed, rate) = text.trim().split_once(':').unwrap_or((text.trim(), "0.1"));
        let rate: f64 = rate.trim().parse().ok()?;
        let seed = seed.trim().parse().ok()?;
        (0.0..=1.0).contains(&rate).then(|| Chaos::new(seed, rate))
    }

    pub fn new(seed: u64, rate: f64) -> Chaos {
        Chaos {
            seed,
            rate,
            pause: Duration::from_secs(2),
            lose_final: false,
            only: Vec::new(),
        }
    }
}

/// What a request gets instead of (or besides) its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFault {
    /// A create: the task is made, the connection drops before the answer is whole.
    LostAnswer,
    /// A create: the task is made, the answer is 502.
    BadGateway,
    /// A read: the connection drops.
    Reset,
    /// A read: 503.
    Unavailable,
    /// The answer comes after [`Chaos::pause`].
    Slow,
    /// 429 `RateLimitExceeded`, this time and the next two of the same request.
    TooMany,
}

impl RequestFault {
    pub fn name(self) -> &'static str {
        match self {
            RequestFault::LostAnswer => "lost-answer",
            RequestFault::BadGateway => "bad-gateway",
            RequestFault::Reset => "reset",
            RequestFault::Unavailable => "unavailable",
            RequestFault::Slow => "slow",
            RequestFault::TooMany => "too-many",
        }
    }
}

/// What happens to one webhook update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateFault {
    Dropped,
    Duplicated,
    Reordered,
    Late,
    FinalLost,
}

impl UpdateFault {
    pub fn name(self) -> &'static str {
        match self {
            UpdateFault::Dropped => "dropped",
            UpdateFault::Duplicated => "duplicated",
            UpdateFault::Reordered => "reordered",
            UpdateFault::Late => "late",
            UpdateFault::FinalLost => "final-lost",
        }
    }
}

/// The running chaos of one simulator.
#[derive(Debug)]
pub struct ChaosState {
    pub config: Chaos,
    log: LogSink,
    /// How many times each thing was drawn for, by its hash.
    seen: Mutex<HashMap<[u8; 32], u64>>,
    /// 429s still owed to a request in a burst, by its identity.
    bursts: Mutex<HashMap<String, u32>>,
    counts: Mutex<BTreeMap<&'static str, u64>>,
}

/// The share of a request's draw space a fault kind takes: the kinds in order.
const CREATE_FAULTS: [RequestFault; 4] = [
    RequestFault::LostAnswer,
    RequestFault::BadGateway,
    RequestFault::Slow,
    RequestFault::TooMany,
];
const READ_FAULTS: [RequestFault; 4] = [
    RequestFault::Reset,
    RequestFault::Unavailable,
    RequestFault::Slow,
    RequestFault::TooMany,
];

impl ChaosState {
    pub fn new(mut config: Chaos, log: LogSink) -> ChaosState {
        // A rate outside 0 to 1 (NaN included) is clamped: never "every request".
        config.rate = if config.rate.is_nan() {
            0.0
        } else {
            config.rate.clamp(0.0, 1.0)
        };
        ChaosState {
            config,
            log,
            seen: Mutex::default(),
            bursts: Mutex::default(),
            counts: Mutex::default(),
        }
    }

    /// Two numbers in [0, 1) for the `n`th time `identity` is drawn for.
    fn draw(&self, identity: &str) -> (f64, f64) {
        let key: [u8; 32] = Sha256::digest(identity.as_bytes()).into();
        let nth = {
            let mut seen = lock(&self.seen);
            let count = seen.entry(key).or_insert(0);
            *count += 1;
            *count
        };
        let mut hash = Sha256::new();
        hash.update(self.config.seed.to_le_bytes());
        hash.update(key);
        hash.update(nth.to_le_bytes());
        let bytes: [u8; 32] = hash.finalize().into();
        let unit = |at: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[at..at + 8]);
            (u64::from_le_bytes(word) >> 11) as f64 / (1u64 << 53) as f64
        };
        (unit(0), unit(8))
    }

    /// The fault, if any, for a request: `create` for a POST that makes a task,
    /// `identity` what the request is (see the module's text).
    pub fn request(&self, create: bool, identity: &str) -> Option<RequestFault> {
        {
            let mut bursts = lock(&self.bursts);
            if let Some(left) = bursts.get_mut(identity) {
                *left -= 1;
                if *left == 0 {
                    bursts.remove(identity);
                }
                drop(bursts);
                self.note(RequestFault::TooMany.name(), identity);
                return Some(RequestFault::TooMany);
            }
        }
        let (fault, kind) = self.draw(identity);
        if fault >= self.config.rate {
            return None;
        }
        let kinds = if create { &CREATE_FAULTS } else { &READ_FAULTS };
        let kinds: Vec<RequestFault> = kinds
            .iter()
            .copied()
            .filter(|k| self.allows(k.name()))
            .collect();
        let fault = *pick(&kinds, kind)?;
        if fault == RequestFault::TooMany {
            lock(&self.bursts).insert(identity.to_owned(), 2);
        }
        self.note(fault.name(), identity);
        Some(fault)
    }

    /// Whether a task's updates before its last are cut to its last IN_PROGRESS.
    pub fn only_in_progress(&self, task: &str) -> bool {
        if !self.allows("only-in-progress") {
            return false;
        }
        let (fault, _) = self.draw(&format!("only-in-progress {task}"));
        let chosen = fault < self.config.rate;
        if chosen {
            self.note("only-in-progress", task);
        }
        chosen
    }

    /// The fault, if any, for update `index` of `task`; `last` is its final update.
    pub fn update(&self, task: &str, index: usize, last: bool) -> Option<UpdateFault> {
        let what = format!("update {index} of {task}");
        let (fault, kind) = self.draw(&what);
        if fault >= self.config.rate {
            return None;
        }
        let kinds: &[UpdateFault] = match (last, self.config.lose_final) {
            (true, true) => &[
                UpdateFault::Late,
                UpdateFault::Duplicated,
                UpdateFault::FinalLost,
            ],
            (true, false) => &[UpdateFault::Late, UpdateFault::Duplicated],
            (false, _) => &[
                UpdateFault::Dropped,
                UpdateFault::Duplicated,
                UpdateFault::Reordered,
            ],
        };
        let kinds: Vec<UpdateFault> = kinds
            .iter()
            .copied()
            .filter(|k| self.allows(k.name()))
            .collect();
        let chosen = *pick(&kinds, kind)?;
        self.note(chosen.name(), &what);
        Some(chosen)
    }

    fn allows(&self, kind: &str) -> bool {
        self.config.only.is_empty() || self.config.only.iter().any(|k| k == kind)
    }

    fn note(&self, kind: &'static str, what: &str) {
        *lock(&self.counts).entry(kind).or_insert(0) += 1;
        // A create's body may be a data URI of megabytes: the line shows its start.
        let shown: String = what.chars().take(160).collect();
        let more = if shown.len() < what.len() { "…" } else { "" };
        self.log
            .line(&format!("mesh-toolkit sim: chaos: {kind} {shown}{more}"));
    }

    /// The faults injected so far, by kind.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let counts = lock(&self.counts);
        counts.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }
}

/// `N faults injected: 3 lost-answer, 1 reset, …` for [`ChaosState::counts`]; `None`
/// when there were none.
pub fn summary(counts: &BTreeMap<String, u64>) -> Option<String> {
    let kinds: Vec<String> = counts
        .iter()
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect();
    let total: u64 = counts.values().sum();
    (total > 0).then(|| format!("{total} faults injected: {}", kinds.join(", ")))
}

/// One task's webhook updates on their way out under chaos: update `index` of
/// `last + 1`, the last one final.
pub struct Outbox<'a, T> {
    chaos: Option<&'a ChaosState>,
    task: String,
    last: usize,
    /// Only this update of those before the last is sent (`only-in-progress`).
    only: Option<usize>,
    held: Option<T>,
}

impl<'a, T: Clone> Outbox<'a, T> {
    /// `task`: [`task_identity`]; `last`: the final update's index; `last_running`: the
    /// index of its last IN_PROGRESS update.
    pub fn new(
        chaos: Option<&'a ChaosState>,
        task: String,
        last: usize,
        last_running: Option<usize>,
    ) -> Outbox<'a, T> {
        let drawn = |c: &&ChaosState| last_running.is_some() && c.only_in_progress(&task);
        let only = chaos.filter(drawn).and(last_running);
        Outbox {
            chaos,
            task,
            last,
            only,
            held: None,
        }
    }

    /// Sends update `index` through `send` as its draw says (a held one after it).
    pub async fn send(&mut self, index: usize, update: T, send: &impl Fn(T)) {
        let Some(chaos) = self.chaos else {
            return send(update);
        };
        let last = index == self.last;
        if !last && self.only.is_some_and(|only| only != index) {
            return;
        }
        match chaos.update(&self.task, index, last) {
            None => send(update),
            Some(UpdateFault::Dropped | UpdateFault::FinalLost) => {}
            Some(UpdateFault::Duplicated) => {
                send(update.clone());
                send(update);
            }
            Some(UpdateFault::Reordered) => {
                if let Some(earlier) = self.held.replace(update) {
                    send(earlier);
                }
                return;
            }
            Some(UpdateFault::Late) => {
                tokio::time::sleep(chaos.config.pause).await;
                send(update);
            }
        }
        if let Some(held) = self.held.take() {
            send(held);
        }
    }
}

/// The kind a draw in [0, 1) falls on, `None` among none.
fn pick<T>(kinds: &[T], draw: f64) -> Option<&T> {
    let at = (draw * kinds.len() as f64) as usize;
    kinds.get(at.min(kinds.len().checked_sub(1)?))
}

/// What a task is, for drawing: its type and request, without the simulator-only
/// `callback_url` (it names this run's port).
pub fn task_identity(task_type: &str, request: &Map<String, Value>) -> String {
    let mut request = request.clone();
    request.remove("callback_url");
    format!("{task_type} {}", Value::Object(request))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(seed: u64, rate: f64) -> ChaosState {
        ChaosState::new(Chaos::new(seed, rate), LogSink::silent())
    }

    fn logged(chaos: Chaos) -> (ChaosState, std::sync::Arc<Mutex<Vec<String>>>) {
        let lines = std::sync::Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let log = LogSink::to(move |line| sink.lock().unwrap().push(line.to_owned()));
        (ChaosState::new(chaos, log), lines)
    }

    #[test]
    fn meshy_sim_chaos_is_a_seed_and_maybe_a_rate() {
        assert_eq!(Chaos::parse("7"), Some(Chaos::new(7, 0.1)));
        assert_eq!(Chaos::parse(" 7:0.3 "), Some(Chaos::new(7, 0.3)));
        for bad in ["", "x", "7:2", "7:", "-1:0.1", "7:0.1:3", "7:nan"] {
            assert_eq!(Chaos::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_faults_whatever_order_requests_come_in() {
        let requests: Vec<String> = (0..200)
            .map(|i| format!("GET /openapi/v2/tasks/{i}"))
            .collect();
        let faults = |order: &mut dyn Iterator<Item = &String>| {
            let chaos = state(7, 0.3);
            let mut got: BTreeMap<String, Option<RequestFault>> = BTreeMap::new();
            for request in order {
                got.insert(request.clone(), chaos.request(false, request));
            }
            got
        };
        let forward = faults(&mut requests.iter());
        let backward = faults(&mut requests.iter().rev());
        assert_eq!(forward, backward);
        let injected = forward.values().filter(|f| f.is_some()).count();
        assert!(
            (30..=90).contains(&injected),
            "about 30% of 200: {injected}"
        );
        let other_seed = state(8, 0.3);
        let differs = requests
            .iter()
            .any(|r| other_seed.request(false, r) != forward[r]);
        assert!(differs, "another seed, other faults");
    }

    #[test]
    fn each_request_fault_kind_is_drawn_logged_and_counted() {
        let (chaos, lines) = logged(Chaos::new(1, 1.0));
        let mut kinds = std::collections::BTreeSet::new();
        for i in 0..200 {
            kinds.extend(
                chaos
                    .request(true, &format!("create {i}"))
                    .map(RequestFault::name),
            );
            kinds.extend(
                chaos
                    .request(false, &format!("read {i}"))
                    .map(RequestFault::name),
            );
        }
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            [
                "bad-gateway",
                "lost-answer",
                "reset",
                "slow",
                "too-many",
                "unavailable"
            ]
        );
        let lines = lines.lock().unwrap().clone();
        let counted: u64 = chaos.counts().values().sum();
        assert_eq!(lines.len() as u64, counted, "one line per fault");
        assert!(
            lines[0].starts_with("mesh-toolkit sim: chaos: "),
            "{}",
            lines[0]
        );
    }

    #[test]
    fn a_too_many_fault_is_a_burst_of_three_for_that_request() {
        let chaos = state(3, 1.0);
        let identity = (0..100)
            .map(|i| format!("read {i}"))
            .find(|r| chaos.request(false, r) == Some(RequestFault::TooMany))
            .expect("some read draws too-many");
        assert_eq!(chaos.request(false, &identity), Some(RequestFault::TooMany));
        assert_eq!(chaos.request(false, &identity), Some(RequestFault::TooMany));
        let after = state(3, 0.0);
        assert_eq!(after.request(false, &identity), None, "rate 0: nothing");
    }

    #[test]
    fn the_final_update_is_never_lost_unless_asked_and_nothing_happens_at_rate_zero() {
        let kept = state(5, 1.0);
        let (lost, _) = logged(Chaos {
            lose_final: true,
            ..Chaos::new(5, 1.0)
        });
        let mut kinds = std::collections::BTreeSet::new();
        for i in 0..100 {
            let task = format!("task {i}");
            assert_ne!(kept.update(&task, 3, true), Some(UpdateFault::FinalLost));
            kinds.extend(lost.update(&task, 3, true).map(UpdateFault::name));
            kinds.extend(kept.update(&task, 1, false).map(UpdateFault::name));
        }
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            ["dropped", "duplicated", "final-lost", "late", "reordered"]
        );
        let (calm, lines) = logged(Chaos::new(5, 0.0));
        assert!((0..100).all(|i| calm.update(&format!("t{i}"), 0, false).is_none()));
        assert!(lines.lock().unwrap().is_empty());
    }
}
