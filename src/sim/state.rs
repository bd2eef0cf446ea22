//! The simulator's account state — tasks, credits, rate limits, outcome rules — and
//! the lifecycle driver that moves each task along its plan, notifying stream
//! watchers and queueing webhook deliveries at every step.

use crate::sync::lock;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::SimConfig;
use super::behaviour::{Rule, behaviour_for};
use super::delivery::{DeliveryCounters, Sender, deliver_updates};
use super::task::{SimTask, Step, now_ms, step_delay};
use crate::meshy::{ApiGeneration, TaskStatus, TaskType};
use crate::transport::RateLimiter;

pub struct SimState {
    pub config: SimConfig,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// By id; ids sort in creation order.
    tasks: Mutex<BTreeMap<String, SimTask>>,
    watchers: Mutex<HashMap<String, watch::Sender<Bodies>>>,
    rules: Mutex<Vec<Rule>>,
    balance: Mutex<u64>,
    limiters: Mutex<HashMap<String, Arc<RateLimiter>>>,
    pub counters: Arc<DeliveryCounters>,
    http: reqwest::Client,
    /// Lifecycle drivers and delivery workers; aborted when the simulator stops.
    workers: Mutex<JoinSet<()>>,
    /// The most unfinished tasks the account had at once, and creates refused as the
    /// queue was full: what `GET /_sim/stats` reports.
    pub queue: Mutex<QueueStats>,
    /// Faults on purpose, when the configuration asks for them.
    pub chaos: Option<super::chaos::ChaosState>,
}

/// A task's body as each API generation renders it, at one moment: what stream
/// watchers and webhook deliveries receive, each picking its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Bodies {
    pub v1: Value,
    pub v2: Value,
}

impl Bodies {
    pub fn of(&self, generation: ApiGeneration) -> &Value {
        match generation {
            ApiGeneration::V1 => &self.v1,
            ApiGeneration::V2 => &self.v2,
        }
    }
}

/// How full the account's task queue got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueStats {
    pub peak_queued: usize,
    pub queue_refusals: usize,
}

impl SimState {
    /// The ids of the tasks it made, in creation order.
    pub fn task_ids(&self) -> Vec<String> {
        crate::sync::lock(&self.tasks).keys().cloned().collect()
    }

    /// `http` delivers the webhooks.
    pub fn new(config: SimConfig, base_url: String, http: reqwest::Client) -> SimState {
        SimState {
            rules: Mutex::new(config.rules.clone()),
            balance: Mutex::new(config.balance),
            base_url,
            tasks: Mutex::default(),
            watchers: Mutex::default(),
            limiters: Mutex::default(),
            counters: Arc::default(),
            http,
            queue: Mutex::default(),
            workers: Mutex::new(JoinSet::new()),
            chaos: config
                .chaos
                .clone()
                .map(|chaos| super::chaos::ChaosState::new(chaos, config.log.clone())),
            config,
        }
    }

    pub fn assets_base(&self) -> String {
        format!("{}/assets", self.base_url)
    }

    /// Whether a request with `key` may go now (the per-key requests-per-second limit).
    pub fn allow_request(&self, key: &str) -> bool {
        let limiter = Arc::clone(
            lock(&self.limiters)
                .entry(key.to_owned())
                .or_insert_with(|| {
                    Arc::new(RateLimiter::new(
                        self.config.requests_per_second as usize,
                        self.config.rate_window,
                    ))
                }),
        );
        limiter.try_acquire(Instant::now())
    }

    pub fn add_rule(&self, rule: Rule) {
        lock(&self.rules).push(rule);
    }

    pub fn behaviour(&self, task_type: TaskType, request: &Value) -> super::behaviour::Behaviour {
        behaviour_for(&lock(&self.rules), task_type, request)
    }

    pub fn balance(&self) -> u64 {
        *lock(&self.balance)
    }

    /// Takes `credits` from the balance; false (and nothing taken) if it is too low.
    pub fn charge(&self, credits: u64) -> bool {
        let mut balance = lock(&self.balance);
        if *balance < credits {
            return false;
        }
        *balance -= credits;
        true
    }

    /// Tasks of the account that are not finished yet.
    pub fn queued(&self) -> usize {
        lock(&self.tasks)
            .values()
            .filter(|t| !t.sample && !t.status.is_terminal())
            .count()
    }

    pub fn task(&self, id: &str) -> Option<SimTask> {
        lock(&self.tasks).get(id).cloned()
    }

    /// The task's body as the API returns it now.
    pub fn body(&self, id: &str) -> Option<Value> {
        let tasks = lock(&self.tasks);
        let task = tasks.get(id)?;
        Some(task.body(&self.assets_base(), preceding(&tasks, task)))
    }

    /// The task's body in both generations' shapes, now.
    pub fn both_bodies(&self, id: &str) -> Option<Bodies> {
        let tasks = lock(&self.tasks);
        let task = tasks.get(id)?;
        Some(self.render(&tasks, task))
    }

    fn render(&self, tasks: &BTreeMap<String, SimTask>, task: &SimTask) -> Bodies {
        let (assets, ahead) = (self.assets_base(), preceding(tasks, task));
        Bodies {
            v1: task.body(&assets, ahead),
            v2: task.v2_body(&assets, ahead),
        }
    }

    /// The account's tasks (test-mode samples excluded) that `keep` selects, with their
    /// v2 bodies, oldest first.
    pub fn v2_tasks(&self, keep: impl Fn(&SimTask) -> bool) -> Vec<(SimTask, Value)> {
        let tasks = lock(&self.tasks);
        let assets = self.assets_base();
        tasks
            .values()
            .filter(|t| !t.sample && keep(t))
            .map(|t| (t.clone(), t.v2_body(&assets, preceding(&tasks, t))))
            .collect()
    }

    /// Bodies of the account's tasks of `task_types`, oldest first.
    pub fn bodies(&self, task_types: &[TaskType]) -> Vec<(i64, Value)> {
        let tasks = lock(&self.tasks);
        tasks
            .values()
            .filter(|t| !t.sample && task_types.contains(&t.task_type))
            .map(|t| {
                (
                    t.created_at,
                    t.body(&self.assets_base(), preceding(&tasks, t)),
                )
            })
            .collect()
    }

    pub fn delete(&self, id: &str) -> bool {
        lock(&self.watchers).remove(id);
        lock(&self.tasks).remove(id).is_some()
    }

    /// A receiver of the task's body after every change.
    pub fn subscribe(&self, id: &str) -> Option<watch::Receiver<Bodies>> {
        let body = self.both_bodies(id)?;
        let mut watchers = lock(&self.watchers);
        let sender = watchers
            .entry(id.to_owned())
            .or_insert_with(|| watch::channel(body).0);
        Some(sender.subscribe())
    }

    /// Stores a finished task as it was recorded elsewhere (a dependent scenario's
    /// input, replayed): no lifecycle, no deliveries, no charge; its assets are served.
    pub fn seed(&self, task: SimTask) {
        lock(&self.tasks).entry(task.id.clone()).or_insert(task);
    }

    /// Stores a fixed sample task (test mode); no lifecycle, no deliveries.
    pub fn insert_sample(&self, task: SimTask) {
        lock(&self.tasks).entry(task.id.clone()).or_insert(task);
    }

    /// Stores a new task and starts its lifecycle.
    pub fn create(self: &Arc<Self>, task: SimTask) {
        let id = task.id.clone();
        let mut targets = self.config.webhooks();
        // The simulator-only `callback_url` gets the payload of the API that created
        // the task, so a recording under either generation is delivered its own shape.
        targets.extend(task.callback_url.clone().map(|url| (url, task.generation)));
        let (updates, receiver) = mpsc::unbounded_channel();
        let duplicate = task.behaviour.duplicate_deliveries;
        let queued = {
            let mut tasks = lock(&self.tasks);
            tasks.insert(id.clone(), task);
            tasks
                .values()
                .filter(|t| !t.sample && !t.status.is_terminal())
                .count()
        };
        {
            let mut queue = lock(&self.queue);
            queue.peak_queued = queue.peak_queued.max(queued);
        }
        let mut workers = lock(&self.workers);
        while workers.try_join_next().is_some() {}
        if !targets.is_empty() {
            let http = self.http.clone();
            let counters = Arc::clone(&self.counters);
            let sender = Sender {
                secret: self.config.webhook_secret.clone(),
                user_id: self.config.webhook_user_id.clone(),
            };
            let policy = self.config.delivery.clone();
            let log = self.config.log.clone();
            workers.spawn(deliver_updates(
                http, policy, counters, log, sender, targets, duplicate, receiver,
            ));
        }
        workers.spawn(drive(Arc::clone(self), id, updates));
    }

    /// Moves a task to `step` and returns its new bodies; `None` if it was deleted.
    fn advance(&self, id: &str, step: &Step) -> Option<Bodies> {
        let body = {
            let mut tasks = lock(&self.tasks);
            tasks.get_mut(id)?.advance(step, now_ms());
            let task = &tasks[id];
            // v2 says FAILED tasks are refunded; v1 tasks keep today's behaviour.
            if step.status == TaskStatus::Failed && task.generation == ApiGeneration::V2 {
                let mut balance = lock(&self.balance);
                *balance = balance.saturating_add(task.credits);
            }
            self.render(&tasks, task)
        };
        if let Some(watcher) = lock(&self.watchers).get(id) {
            watcher.send_replace(body.clone());
        }
        Some(body)
    }

    /// Waits for every lifecycle driver and delivery worker started so far.
    pub async fn settle(&self) {
        let mut running = std::mem::take(&mut *lock(&self.workers));
        while running.join_next().await.is_some() {}
    }

    /// Stops every lifecycle driver and delivery worker.
    pub fn stop_workers(&self) {
        lock(&self.workers).abort_all();
    }
}

/// Unfinished account tasks created before `task` (ids sort by creation).
fn preceding(tasks: &BTreeMap<String, SimTask>, task: &SimTask) -> usize {
    if task.status != TaskStatus::Pending {
        return 0;
    }
    tasks
        .range(..task.id.clone())
        .filter(|(_, t)| !t.sample && !t.status.is_terminal())
        .count()
}

/// Runs one task's lifecycle: PENDING, then its plan, one step per slice of its task
/// time, queueing a delivery for every change.
async fn drive(state: Arc<SimState>, id: String, updates: mpsc::UnboundedSender<Bodies>) {
    let Some(task) = state.task(&id) else { return };
    // A task created already finished (a print analysis made before) has no steps left.
    let plan = if task.status.is_terminal() {
        Vec::new()
    } else {
        task.plan()
    };
    let total = task
        .behaviour
        .task_seconds
        .and_then(super::behaviour::task_time)
        .unwrap_or(state.config.task_time);
    let delay = step_delay(total, plan.len());
    let last_running = plan
        .iter()
        .rposition(|s| s.status == TaskStatus::InProgress);
    let reorder = task.behaviour.out_of_order_deliveries;
    let identity = super::chaos::task_identity(task.task_type.as_str(), &task.request);
    let mut outbox = super::chaos::Outbox::new(
        state.chaos.as_ref(),
        identity,
        plan.len(),
        last_running.map(|i| i + 1),
    );
    let send = |body: Bodies| drop(updates.send(body));
    if let Some(body) = state.both_bodies(&id) {
        outbox.send(0, body, &send).await;
    }
    let mut held = None;
    for (i, step) in plan.iter().enumerate() {
        if delay.is_zero() {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(delay).await;
        }
        let Some(body) = state.advance(&id, step) else {
            return;
        };
        if reorder && Some(i) == last_running {
            held = Some(body);
            continue;
        }
        outbox.send(i + 1, body, &send).await;
    }
    if let Some(late) = held {
        send(late);
    }
}
