//! Waiting for one task's terminal webhook while recording: woken by the receiver on
//! every delivery, asking the API for the task's state at once and then periodically
//! (those checks are never written into a cassette: replay does not need them), and
//! deciding when to give up.
//!
//! The policy, in one place:
//! - the wait ends when a write holding the terminal delivery is on disk;
//! - `timeout` counts from the task's creation (per the API), not from the wait's start,
//!   so a resumed task does not get a fresh five minutes;
//! - once the API shows the task terminal, a terminal webhook gets `grace` more (from the
//!   task's `finished_at`; none once the receiver refused deliveries for the webhook
//!   secret, since it would refuse that one too); then the wait fails with a diagnosis,
//!   or, with `accept_api_payload`, completes the recording with the API's task object;
//! - an interruption (Ctrl-C) ends the wait at once; everything seen is already on disk.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;

use super::{RecorderError, seen};
use crate::meshy::{Client, Task, TaskType};
use crate::progress::{Ending, Event, TaskProgress, short_id};
use crate::receiver::{Progress, Receiver};

/// How long to wait, and what to do when the API knows more than the webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitPolicy {
    /// How long after the task's creation to wait at most. Default: 300 s.
    pub timeout: Duration,
    /// After the API shows the task terminal, how long a terminal webhook may still
    /// take. Default: 60 s.
    pub grace: Duration,
    /// Complete the recording with the API's terminal task object when no terminal
    /// webhook came within the grace. Default: off.
    pub accept_api_payload: bool,
    /// How long a task that ended before the run's receiver started is waited for, in
    /// case Meshy delivers again (unconfirmed), instead of the grace (never longer).
    /// Default: [`REDELIVERY`].
    pub redelivery: Duration,
}

impl Default for WaitPolicy {
    fn default() -> Self {
        WaitPolicy {
            timeout: Duration::from_secs(300),
            grace: Duration::from_secs(60),
            accept_api_payload: false,
            redelivery: REDELIVERY,
        }
    }
}

impl WaitPolicy {
    /// How often the API is asked for the task's state: often enough that a short
    /// grace is honoured, at most every 10 s (Meshy allows 20 requests per second).
    pub fn check_every(&self) -> Duration {
        (self.grace / 4).clamp(Duration::from_millis(250), Duration::from_secs(10))
    }
}

/// How long a task that ended before the run's receiver started is waited for (Meshy
/// may deliver again; unconfirmed), instead of the grace.
pub const REDELIVERY: Duration = Duration::from_secs(10);

/// What one wait needs.
pub(super) struct Wait<'a> {
    pub scenario: &'a str,
    pub task_type: &'a str,
    pub task_id: &'a str,
    pub policy: WaitPolicy,
    /// The webhook URL to check, token elided.
    pub url: String,
    pub receiver: &'a Receiver,
    /// Asks the API; `None` when the recorder has no client (then only webhooks count).
    pub api: Option<&'a Client>,
    pub interrupt: Option<watch::Receiver<bool>>,
    pub report: &'a (dyn Fn(&Event) + Send + Sync),
    pub progress_every: Duration,
}

/// What the API said about the task most recently.
struct ApiView {
    task: Task,
    raw: Value,
    /// When the API first showed it terminal, as a local instant.
    terminal_at: Option<Instant>,
}

/// How the wait ended well.
#[derive(Debug)]
pub(super) struct Ended {
    pub payload: Value,
    /// The payload is the API's task object, not a webhook's.
    pub from_api: bool,
}

impl Wait<'_> {
    /// Waits, with the wait's live line from start to end: `Started`, an `Update` per
    /// delivery and per `progress_every` of silence, then `Ended` with how it ended.
    pub(super) async fn run(
        self,
        progress: watch::Receiver<Progress>,
    ) -> Result<Ended, RecorderError> {
        let started = Instant::now();
        let snapshot =
            |p: &Progress| TaskProgress::new(self.scenario, self.task_id, p, started.elapsed());
        // Copied first: reporting must not hold the watch's lock, which the receiver
        // takes before it writes a delivery to disk.
        let now = progress.borrow().clone();
        (self.report)(&Event::Started(snapshot(&now)));
        let last = progress.clone();
        let result = self.wait(progress, started).await;
        let ending = match &result {
            Ok(Ended {
                from_api: false, ..
            }) => Ending::Webhook,
            Ok(Ended { from_api: true, .. }) => Ending::FromApi,
            Err(error) => Ending::Failed(
                match error {
                    RecorderError::Timeout { .. } => "timed out",
                    RecorderError::NoWebhook { .. } => "no terminal webhook",
                    RecorderError::EndedUnheard { .. } => "ended before the receiver started",
                    RecorderError::Interrupted { .. } => "interrupted",
                    RecorderError::WriteFailed { .. } => "could not be written",
                    RecorderError::Stopped { .. } => "the receiver stopped",
                    RecorderError::ReceiverGone { .. } => "the standing receiver stopped answering",
                    _ => "failed",
                }
                .to_owned(),
            ),
        };
        let now = last.borrow().clone();
        (self.report)(&Event::Ended(snapshot(&now), ending));
        result
    }

    async fn wait(
        &self,
        mut progress: watch::Receiver<Progress>,
        started: Instant,
    ) -> Result<Ended, RecorderError> {
        // Checked: `--webhook-timeout=18446744073709551615` must not panic.
        let far = |from: Instant, wait: Duration| {
            from.checked_add(wait)
                .unwrap_or_else(|| from + Duration::from_secs(100 * 365 * 86_400))
        };
        let mut deadline = far(started, self.policy.timeout);
        let mut reported = 0;
        let mut last_report = started;
        let mut next_check = started;
        let mut api: Option<ApiView> = None;
        // The task ended before the receiver started: when to stop waiting, and how long
        // before the start it ended.
        let mut unheard: Option<(Instant, Duration)> = None;
        let mut interrupt = self.interrupt.clone();
        loop {
            let now = progress.borrow_and_update().clone();
            if now.deliveries > reported {
                reported = now.deliveries;
                last_report = Instant::now();
                (self.report)(&Event::Update(TaskProgress::new(
                    self.scenario,
                    self.task_id,
                    &now,
                    started.elapsed(),
                )));
            }
            if let Some(error) = now.write_error {
                return Err(RecorderError::WriteFailed {
                    scenario: self.scenario.into(),
                    task_id: self.task_id.into(),
                    source: crate::receiver::StoreError::Write(error),
                });
            }
            if let (Some(terminal), true) = (now.terminal.clone(), now.terminal_written) {
                return Ok(Ended {
                    payload: terminal,
                    from_api: false,
                });
            }
            if let Some(why) = &now.gone {
                return Err(RecorderError::ReceiverGone {
                    scenario: self.scenario.into(),
                    task_id: self.task_id.into(),
                    why: why.to_string(),
                });
            }
            if interrupt.as_ref().is_some_and(|i| *i.borrow()) {
                return Err(self.interrupted());
            }
            if Instant::now() >= next_check
                && let Some(client) = self.api
            {
                next_check = Instant::now() + self.policy.check_every();
                let checked = tokio::select! {
                    view = self.check(client, api.as_ref()) => view,
                    () = stopped(&mut interrupt) => return Err(self.interrupted()),
                };
                if let Some(view) = checked {
                    if let Some(created) = since_epoch_ms(view.task.created_at) {
                        let created = Instant::now().checked_sub(created).unwrap_or(started);
                        deadline = far(created, self.policy.timeout);
                    }
                    // Ended before the receiver listened, with nothing kept: said at once,
                    // and waited for only while a delivery retried by Meshy may come.
                    if unheard.is_none()
                        && let Some(before) = self.ended_unheard(&view, &now)
                    {
                        (self.report)(&Event::Note(format!(
                            "{} {}… ended {} per the API {} s before this run's webhook receiver started: Meshy \
                             delivered it while nothing listened; waiting {} s more in case Meshy delivers again \
                             (unconfirmed), not the grace",
                            self.scenario,
                            short_id(self.task_id),
                            view.task.status,
                            before.as_secs(),
                            self.redelivery().as_secs_f64()
                        )));
                        unheard = Some((far(Instant::now(), self.redelivery()), before));
                    }
                    api = Some(view);
                }
                continue;
            }
            if let (Some((ends, before)), Some(view)) = (unheard, &api)
                && Instant::now() >= ends
            {
                if self.policy.accept_api_payload {
                    return self.no_webhook(view, &now);
                }
                return Err(RecorderError::EndedUnheard {
                    scenario: self.scenario.into(),
                    task_id: self.task_id.into(),
                    status: view.task.status.to_string(),
                    before_secs: before.as_secs(),
                });
            }
            // Deliveries refused for the webhook secret: the terminal one would be too, so
            // no grace is waited for it.
            let refusing = self.receiver.stats().secret_refused > 0;
            let grace_ends = api
                .as_ref()
                .and_then(|v| v.terminal_at)
                .map(|at| {
                    if refusing {
                        at
                    } else {
                        far(at, self.policy.grace)
                    }
                })
                // Its own deadline replaces the grace: said at once, waited for briefly.
                .map(|ends| unheard.map_or(ends, |(unheard, _)| unheard));
            if let (Some(ends), Some(view)) = (grace_ends, &api)
                && Instant::now() >= ends
            {
                return self.no_webhook(view, &now);
            }
            if Instant::now() >= deadline {
                return Err(self.timeout(&now, api.as_ref()));
            }
            let mut wake = deadline.min(last_report + self.progress_every);
            if self.api.is_some() {
                wake = wake.min(next_check);
            }
            if let Some(ends) = grace_ends {
                wake = wake.min(ends);
            }
            let interrupted = stopped(&mut interrupt);
            tokio::select! {
                changed = progress.changed() => {
                    if changed.is_err() {
                        return Err(RecorderError::Stopped {
                            scenario: self.scenario.into(),
                            task_id: self.task_id.into(),
                        });
                    }
                }
                () = interrupted => return Err(self.interrupted()),
                () = tokio::time::sleep_until(wake.into()) => {
                    if Instant::now() >= last_report + self.progress_every {
                        last_report = Instant::now();
                        (self.report)(&Event::Update(TaskProgress::new(
                            self.scenario,
                            self.task_id,
                            &now,
                            started.elapsed(),
                        )));
                    }
                }
            }
        }
    }

    /// How long a task that ended before the receiver started is waited for: never
    /// longer than the grace.
    fn redelivery(&self) -> Duration {
        self.policy.redelivery.min(self.policy.grace)
    }

    /// How long before the receiver started the task ended, when it did and no terminal
    /// delivery of it is kept (by more than a clock's skew).
    fn ended_unheard(&self, view: &ApiView, now: &Progress) -> Option<Duration> {
        const SKEW_MS: i64 = 5_000;
        let finished = view.task.finished_at.filter(|ms| *ms > 0)?;
        let before = self.receiver.started_ms().checked_sub(finished)?;
        let unheard = view.task.is_terminal() && now.terminal.is_none() && before > SKEW_MS;
        unheard.then(|| Duration::from_millis(u64::try_from(before).unwrap_or(0)))
    }

    /// One status check. Failures are not fatal: webhooks may still come.
    async fn check(&self, client: &Client, before: Option<&ApiView>) -> Option<ApiView> {
        let task_type: TaskType = self.task_type.parse().ok()?;
        let raw = client.get_task_raw(task_type, self.task_id).await.ok()?;
        let task: Task = serde_json::from_value(raw.clone()).ok()?;
        let terminal_at = match before.and_then(|b| b.terminal_at) {
            Some(at) => Some(at),
            None if task.is_terminal() => Some(
                since_epoch_ms(task.finished_at)
                    .and_then(|ago| Instant::now().checked_sub(ago))
                    .unwrap_or_else(Instant::now),
            ),
            None => None,
        };
        Some(ApiView {
            task,
            raw,
            terminal_at,
        })
    }

    fn no_webhook(&self, view: &ApiView, now: &Progress) -> Result<Ended, RecorderError> {
        if self.policy.accept_api_payload {
            self.receiver
                .accept_api_payload(self.task_id, view.raw.clone())
                .map_err(|source| RecorderError::WriteFailed {
                    scenario: self.scenario.into(),
                    task_id: self.task_id.into(),
                    source,
                })?;
            (self.report)(&Event::Note(format!(
                "{} {}… no terminal webhook within {} s of the task ending {}; completed the recording \
                 with the API's task object (payload_source: api)",
                self.scenario,
                short_id(self.task_id),
                self.policy.grace.as_secs(),
                view.task.status
            )));
            return Ok(Ended {
                payload: view.raw.clone(),
                from_api: true,
            });
        }
        Err(RecorderError::NoWebhook {
            scenario: self.scenario.into(),
            task_id: self.task_id.into(),
            what: match self.receiver.stats().secret_refused {
                // Not waited for: it would be refused too.
                0 => format!(
                    "ended {} per the API ({}), but no terminal webhook arrived within {} s ({})",
                    view.task.status,
                    finished_text(view.task.finished_at),
                    self.policy.grace.as_secs(),
                    self.seen(now)
                ),
                _ => format!(
                    "ended {} per the API ({}), and no terminal webhook of it can be taken ({})",
                    view.task.status,
                    finished_text(view.task.finished_at),
                    self.seen(now)
                ),
            },
            url: self.url.clone(),
        })
    }

    fn timeout(&self, now: &Progress, api: Option<&ApiView>) -> RecorderError {
        let api_state = match api {
            Some(view) => {
                let percent = view
                    .task
                    .progress
                    .map(|p| format!(" {p}%"))
                    .unwrap_or_default();
                format!(
                    "; the API shows it {}{percent}: the task is slow, raise --webhook-timeout and rerun (the \
                     rerun resumes this task without paying again)",
                    view.task.status
                )
            }
            None => String::new(),
        };
        RecorderError::Timeout {
            scenario: self.scenario.into(),
            task_id: self.task_id.into(),
            waited_secs: self.policy.timeout.as_secs(),
            seen: format!("{}{api_state}", self.seen(now)),
            url: self.url.clone(),
        }
    }

    /// What the receiver saw of the task, and why deliveries may be missing: it refused
    /// some (of this run, whatever their task) for the webhook secret.
    fn seen(&self, now: &Progress) -> String {
        let refused = match self.receiver.stats().secret_refused {
            0 => return seen(now),
            1 => "1 delivery".to_owned(),
            n => format!("{n} deliveries"),
        };
        let why = format!(
            "the receiver refused {refused} in this run for a missing or wrong webhook secret \
             (x-meshy-api-webhook-secret-key): the secret it checks (MESHY_WEBHOOK_SECRET or \
             --webhook-secret-file) must be the one the Meshy dashboard shows"
        );
        match now.status {
            None => format!("none was accepted: {why}"),
            Some(_) => format!("{}; {why}", seen(now)),
        }
    }

    fn interrupted(&self) -> RecorderError {
        RecorderError::Interrupted {
            scenario: self.scenario.into(),
            task_id: self.task_id.into(),
        }
    }
}

/// Ends once `interrupt` is true; never without one.
async fn stopped(interrupt: &mut Option<watch::Receiver<bool>>) {
    match interrupt.as_mut() {
        Some(i) => drop(i.wait_for(|stop| *stop).await),
        None => std::future::pending().await,
    }
}

/// How long ago an epoch-milliseconds timestamp was (`None` for 0, unset, or the future).
fn since_epoch_ms(ms: Option<i64>) -> Option<Duration> {
    ms.filter(|ms| *ms > 0).and_then(crate::clock::ago)
}

fn finished_text(finished_at: Option<i64>) -> String {
    match since_epoch_ms(finished_at) {
        Some(ago) => format!("{} s ago", ago.as_secs()),
        None => "at an unknown time".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receiver::{Claim, ReceiverConfig};
    use crate::test_support::Canned;
    use crate::transport::HttpRequest;
    use serde_json::json;
    use std::sync::{Arc, Mutex};

    /// A client whose every read shows the task SUCCEEDED `ago_ms` ago.
    fn ended(ago_ms: i64) -> Client {
        let finished = crate::clock::now_ms() - ago_ms;
        let task = json!({"id": "t-1", "status": "SUCCEEDED", "progress": 100,
            "created_at": finished - 5_000, "started_at": finished - 4_000, "finished_at": finished});
        let api = move |_: HttpRequest| Ok(Canned::json(200, task.clone()).response(false));
        Client::new(
            crate::meshy::ClientConfig {
                api_key: Some("msy_wait_unit_key_123".into()),
                ..Default::default()
            },
            Arc::new(api),
        )
        .unwrap()
    }

    /// The wait of scenario `otter` for task `t-1` (claimed) at `receiver`, asking `client`.
    fn otter_wait<'a>(
        receiver: &'a Receiver,
        client: &'a Client,
        policy: WaitPolicy,
        report: &'a (dyn Fn(&Event) + Send + Sync),
    ) -> (Wait<'a>, watch::Receiver<Progress>) {
        let progress = receiver.claim(Claim {
            scenario: "otter".into(),
            species: "otter".into(),
            task_type: "text3d".into(),
            task_id: "t-1".into(),
        });
        let wait = Wait {
            scenario: "otter",
            task_type: "text3d",
            task_id: "t-1",
            policy,
            url: "http://127.0.0.1:9/webhook?token=…".into(),
            receiver,
            api: Some(client),
            interrupt: None,
            report,
            progress_every: Duration::from_secs(30),
        };
        (wait, progress)
    }

    async fn wait_for(
        client: &Client,
        policy: WaitPolicy,
    ) -> (Result<Ended, RecorderError>, Vec<String>, Duration) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ReceiverConfig::new(dir.path());
        config.token = Some("waitunittoken0123456789".into());
        let receiver = Receiver::start(config).await.unwrap();
        let notes = Arc::new(Mutex::new(Vec::new()));
        let seen = notes.clone();
        let report = move |event: &Event| {
            if let Event::Note(note) = event {
                seen.lock().unwrap().push(note.clone());
            }
        };
        let (wait, progress) = otter_wait(&receiver, client, policy, &report);
        let started = Instant::now();
        let result = wait.run(progress).await;
        let notes = notes.lock().unwrap().clone();
        (result, notes, started.elapsed())
    }

    #[tokio::test]
    async fn a_task_that_ended_before_the_receiver_started_is_said_at_once_not_waited_the_grace() {
        let policy = WaitPolicy {
            grace: Duration::from_secs(600),
            redelivery: Duration::from_millis(300),
            ..WaitPolicy::default()
        };
        let (result, notes, took) = wait_for(&ended(60_000), policy.clone()).await;
        let error = result.expect_err("nothing to wait for").to_string();
        assert!(
            error.contains(
                "ended SUCCEEDED per the API 60 s before this run's webhook receiver started"
            ) && error.contains("Rerun with --accept-api-payload")
                && error.contains("`mesh-toolkit receive`"),
            "{error}"
        );
        assert!(
            notes[0].contains(
                "waiting 0.3 s more in case Meshy delivers again (unconfirmed), not the grace"
            ),
            "{notes:?}"
        );
        assert!(
            took < Duration::from_secs(60),
            "not the 600 s grace: {took:?}"
        );
        assert!(
            took >= Duration::from_millis(300),
            "but a redelivery may come: {took:?}"
        );
        // --accept-api-payload completes it from the API in the same time.
        let accepting = WaitPolicy {
            accept_api_payload: true,
            grace: Duration::from_millis(300),
            ..policy
        };
        let (result, notes, _) = wait_for(&ended(60_000), accepting).await;
        assert!(result.is_ok_and(|ended| ended.from_api), "{notes:?}");
    }

    #[tokio::test]
    async fn a_wait_ends_once_the_standing_receiver_it_takes_deliveries_from_stops_answering() {
        let dir = tempfile::tempdir().unwrap();
        let token = "waitunittoken0123456789";
        let config = || {
            let mut config = ReceiverConfig::new(dir.path().join("webhooks"));
            config.token = Some(token.into());
            config.store.spool = Some(dir.path().join("spool"));
            config.serves = Some(crate::receiver::Serves::here(dir.path(), dir.path()));
            config.log = crate::log_sink::LogSink::silent();
            config
        };
        let standing = Receiver::start(config()).await.unwrap();
        let port = standing.addr().port();
        let said = crate::receiver::standing(port, token, None).await.unwrap();
        let restart = format!("cargo run -- receive --port {port} --cassettes c");
        let attached =
            Receiver::attach(config(), port, &said, Duration::from_secs(1), &restart).unwrap();
        let running = json!({"id": "t-1", "status": "IN_PROGRESS", "progress": 40,
            "created_at": crate::clock::now_ms()});
        let api = move |_: HttpRequest| Ok(Canned::json(200, running.clone()).response(false));
        let client = Client::new(
            crate::meshy::ClientConfig {
                api_key: Some("msy_wait_unit_key_123".into()),
                ..Default::default()
            },
            Arc::new(api),
        )
        .unwrap();
        let (wait, progress) =
            otter_wait(&attached, &client, WaitPolicy::default(), &|_: &Event| {});
        standing.shutdown().await;
        let error = tokio::time::timeout(Duration::from_secs(30), wait.run(progress))
            .await
            .expect("not the 300 s timeout")
            .expect_err("no delivery can come")
            .to_string();
        assert!(
            error.starts_with(
                "scenario 'otter': stopped waiting for task t-1: the webhook receiver on 127.0.0.1:"
            ) && error.contains(&format!(
                "start it again with `cargo run -- receive --port {port} --cassettes c`"
            )) && error.contains("the rerun resumes the task without paying again"),
            "{error}"
        );
        attached.shutdown().await;
    }

    #[tokio::test]
    async fn a_task_that_ended_while_its_deliveries_were_refused_for_the_secret_is_not_waited_the_grace()
     {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ReceiverConfig::new(dir.path());
        config.token = Some("waitunittoken0123456789".into());
        config.secret = Some(
            crate::secrets::WebhookSecret::new(
                "the-dashboard-secret-0123",
                crate::secrets::SecretSource::Env,
            )
            .unwrap(),
        );
        config.log = crate::log_sink::LogSink::silent();
        let receiver = Receiver::start(config).await.unwrap();
        let refused = crate::transport::http_client(None)
            .unwrap()
            .post(receiver.webhook_url(receiver.local_url()))
            .header("Content-Type", "application/json")
            .header(crate::secrets::WEBHOOK_SECRET_HEADER, "another-secret-0123")
            .body(json!({"id": "t-1", "status": "IN_PROGRESS", "progress": 50}).to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(refused, 401);
        // Ended just now, while this receiver listened: the grace would apply.
        let client = ended(-1_000);
        let policy = WaitPolicy {
            grace: Duration::from_secs(600),
            ..WaitPolicy::default()
        };
        let (wait, progress) = otter_wait(&receiver, &client, policy, &|_: &Event| {});
        let error = tokio::time::timeout(Duration::from_secs(30), wait.run(progress))
            .await
            .expect("not the 600 s grace")
            .expect_err("no terminal webhook can be taken")
            .to_string();
        assert!(
            error.contains(
                "the receiver refused 1 delivery in this run for a missing or wrong webhook secret"
            ),
            "{error}"
        );
        receiver.shutdown().await;
    }

    #[tokio::test]
    async fn a_task_that_ended_while_the_receiver_listened_gets_the_grace() {
        let policy = WaitPolicy {
            grace: Duration::from_millis(500),
            ..WaitPolicy::default()
        };
        // Ended just now: after the receiver started, by the time it is asked.
        let (result, notes, _) = wait_for(&ended(-1_000), policy).await;
        let error = result.expect_err("no webhook").to_string();
        assert!(
            error.contains("but no terminal webhook arrived within"),
            "{error}"
        );
        assert!(notes.is_empty(), "{notes:?}");
    }
}
