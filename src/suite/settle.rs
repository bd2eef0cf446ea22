//! A create call whose answer was lost (a reset, a timeout, a 5xx once it was sent),
//! settled in the run that sent it. The trial keeps its queue slot and its intent,
//! waits out the listing window (`resume::listing_window`: 30 s after the call, 1 s
//! on the simulator the harness runs), and the task list says whether Meshy made the
//! task — adopted: the same request is answered from the list and not sent — or not:
//! it is sent again. Nothing is bought twice, and the run goes on.
//!
//! What an earlier run left pending is settled the same way before a trial sends
//! anything (`planning.rs`, through `resume::reconcile_all`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::resume::{self, Listing, OnFile, Reconciled, ResumeError};
use crate::cassette::CassetteTransport;
use crate::cassette::Intent;
use crate::meshy::Client;
use crate::progress::{Event, Reporter};

/// Lost answers one trial settles; the next one fails it, its intent kept on disk for
/// a rerun to settle.
pub(crate) const MAX_SETTLED: u32 = 3;

/// What the cassettes on file say for a call being settled (`resume::OnFile`), read
/// when called.
pub(crate) type KnownTasks = Arc<dyn Fn(&Path, &Intent) -> OnFile + Send + Sync>;

/// What a recording trial settles with, from its run.
#[derive(Clone)]
pub(crate) struct Settling {
    /// Lists without recording.
    pub client: Client,
    pub window: Duration,
    /// The run's listing lock: two trials never adopt one task.
    pub one_at_a_time: Arc<tokio::sync::Mutex<()>>,
    /// What the cassettes on file say: answered task ids (another scenario's task is
    /// never adopted), and twins' calls still awaiting their answers.
    pub on_file: KnownTasks,
}

/// Settles every create call of `cassette` whose answer was lost, telling `report`
/// what it waits for and how each ended. Ctrl-C during the wait sends nothing and
/// leaves the intent in the journal.
pub(crate) async fn settle(
    cassette: &CassetteTransport,
    settling: &Settling,
    trial: &str,
    report: &Reporter,
    interrupt: watch::Receiver<bool>,
) -> Result<(), ResumeError> {
    let listing = Listing {
        // The answer was lost just now: a listing proves nothing before the window has
        // passed since then, however long the call took.
        lost_at_ms: crate::clock::now_ms(),
        client: &settling.client,
        on_file: &*settling.on_file,
        window: settling.window,
        one_at_a_time: &settling.one_at_a_time,
    };
    let seconds = settling.window.as_secs_f64();
    let ambiguous = cassette.ambiguous();
    if ambiguous.is_empty() {
        // The client said the call may have made a task, and the journal holds no such
        // call: never send it again on that.
        return Err(ResumeError::Unreadable {
            path: cassette.path().to_owned(),
            request: "the scenario's create call".into(),
            reason: "its journal holds no create call whose answer was lost".into(),
        });
    }
    for (key, intent) in ambiguous {
        let call = format!("{} {}", intent.method, intent.uri);
        let lost = intent.outcome.as_deref().unwrap_or("no answer");
        report(&Event::Note(format!(
            "{trial}: the create call {call} may have made a task ({lost}): waiting until the task list has \
             settled ({seconds} s after the answer was lost), then adopting the task if it shows one, else \
             sending the call again: nothing is bought twice"
        )));
        let path = cassette.path();
        let (outcome, _listing) =
            resume::reconcile(path, &intent, &listing, Some(interrupt.clone())).await?;
        let adopted = match &outcome {
            Reconciled::Adopted { task_id, as_listed } => {
                Some(resume::adopted(&intent, task_id, as_listed))
            }
            Reconciled::NotCreated => None,
        };
        cassette
            .settle(key, adopted)
            .map_err(|source| ResumeError::Write {
                path: path.to_owned(),
                source: std::io::Error::other(source.to_string()),
            })?;
        report(&Event::Note(match outcome {
            Reconciled::Adopted { task_id, .. } => {
                format!(
                    "{trial}: the create call whose answer was lost made task {task_id}: adopted, no new task"
                )
            }
            Reconciled::NotCreated => format!(
                "{trial}: the create call whose answer was lost made no task (the task list shows none {seconds} s \
                 later): sending it again"
            ),
        }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cassette::{CassetteOptions, MatchRules, RecordMode};
    use crate::test_support::Canned;
    use crate::transport::{HttpRequest, Transport, TransportError};
    use serde_json::{Value, json};
    use std::path::Path;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const CREATE: &str = "https://api.meshy.ai/openapi/v2/text-to-3d";

    fn post(prompt: &str) -> HttpRequest {
        let mut request = HttpRequest::new("POST", CREATE);
        request.body = json!({"mode": "preview", "prompt": prompt})
            .to_string()
            .into_bytes();
        request
    }

    /// A journal in `dir` whose create call for "otter" lost its answer (the request
    /// reached "Meshy": `posts` counts every POST that did).
    async fn lost_create(dir: &Path) -> (CassetteTransport, Arc<AtomicUsize>) {
        let posts = Arc::new(AtomicUsize::new(0));
        let counted = posts.clone();
        let meshy = move |request: HttpRequest| {
            assert_eq!(request.method, "POST", "the journal sends only the creates");
            match counted.fetch_add(1, Ordering::SeqCst) {
                0 => Err(TransportError::Network {
                    request: "POST text-to-3d".into(),
                    message: "connection reset".into(),
                }),
                _ => Ok(Canned::json(202, json!({"result": "t-sent-again"})).response(false)),
            }
        };
        let options = CassetteOptions {
            mode: RecordMode::Once,
            rules: MatchRules::with_json_body(),
            journal: true,
            ..CassetteOptions::new(dir.join("otter.yaml"))
        };
        let cassette = CassetteTransport::open(options, Some(Arc::new(meshy))).unwrap();
        let lost = cassette.send(post("otter")).await;
        assert!(lost.is_err(), "the first answer is lost");
        assert_eq!(cassette.ambiguous().len(), 1);
        (cassette, posts)
    }

    /// Settling through a task list that shows `tasks` (listed at most `listings` times).
    fn settling(tasks: Value, window: Duration) -> Settling {
        let list = move |request: HttpRequest| {
            assert_eq!(request.method, "GET", "settling never creates anything");
            Ok(Canned::json(200, tasks.clone()).response(false))
        };
        let client = Client::new(
            crate::meshy::ClientConfig {
                api_key: Some("msy_settle_unit_key_123".into()),
                ..Default::default()
            },
            Arc::new(list),
        )
        .unwrap();
        Settling {
            client,
            window,
            one_at_a_time: Arc::default(),
            on_file: Arc::new(|_: &Path, _: &Intent| OnFile::default()),
        }
    }

    fn task(id: &str, prompt: &str) -> Value {
        json!({"id": id, "mode": "preview", "prompt": prompt, "status": "IN_PROGRESS",
               "created_at": crate::clock::now_ms()})
    }

    fn notes() -> (Reporter, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let report: Reporter = Arc::new(move |event: &Event| {
            if let Event::Note(note) = event {
                log.lock().unwrap().push(note.clone());
            }
        });
        (report, seen)
    }

    fn on_disk(dir: &Path) -> crate::cassette::Cassette {
        resume::load(&dir.join("otter.yaml")).expect("the journal is on disk")
    }

    #[tokio::test]
    async fn a_task_the_list_shows_is_adopted_and_answers_the_call_made_again_unsent() {
        let dir = tempfile::tempdir().unwrap();
        let (cassette, posts) = lost_create(dir.path()).await;
        let listed = json!([task("t-other", "beaver"), task("t-lost", "otter")]);
        let (report, seen) = notes();
        let (_stop, interrupt) = watch::channel(false);
        let settling = settling(listed, Duration::from_secs(30));
        settle(&cassette, &settling, "otter", &report, interrupt)
            .await
            .unwrap();
        let journal = on_disk(dir.path());
        assert!(journal.pending.is_empty(), "settled on disk at once");
        assert_eq!(crate::cassette::created_tasks(&journal, None), ["t-lost"]);
        let again = cassette.send(post("otter")).await.unwrap();
        assert!(String::from_utf8_lossy(&again.body).contains("t-lost"));
        assert_eq!(
            posts.load(Ordering::SeqCst),
            1,
            "the call is not sent again"
        );
        let seen = seen.lock().unwrap().clone();
        assert!(
            seen[0].starts_with(&format!(
                "otter: the create call POST {CREATE} may have made a task (connection reset): waiting until \
                 the task list has settled (30 s after the answer was lost)"
            )),
            "{seen:?}"
        );
        assert!(
            seen[1].contains("made task t-lost: adopted, no new task"),
            "{seen:?}"
        );
    }

    #[tokio::test]
    async fn a_call_the_list_never_shows_is_sent_again_once_the_window_has_passed() {
        let dir = tempfile::tempdir().unwrap();
        // Before the call: the window counts from its intent.
        let started = std::time::Instant::now();
        let (cassette, posts) = lost_create(dir.path()).await;
        let window = Duration::from_millis(300);
        let (report, seen) = notes();
        let (_stop, interrupt) = watch::channel(false);
        let settling = settling(json!([task("t-other", "beaver")]), window);
        settle(&cassette, &settling, "otter", &report, interrupt)
            .await
            .unwrap();
        // The intent's time is kept to the millisecond.
        let slack = Duration::from_millis(1);
        assert!(
            started.elapsed() + slack >= window,
            "listed only after the window"
        );
        assert!(on_disk(dir.path()).pending.is_empty());
        let again = cassette.send(post("otter")).await.unwrap();
        assert!(String::from_utf8_lossy(&again.body).contains("t-sent-again"));
        assert_eq!(posts.load(Ordering::SeqCst), 2, "sent again, once");
        assert!(
            seen.lock().unwrap()[1]
                .contains("made no task (the task list shows none 0.3 s later): sending it again")
        );
    }

    #[tokio::test]
    async fn the_window_counts_from_when_the_answer_was_lost_not_from_the_call() {
        let dir = tempfile::tempdir().unwrap();
        // The call hangs longer than the window, and its task is made at the end: the
        // list shows it a little after the answer was lost.
        let lost_at: Arc<Mutex<Option<std::time::Instant>>> = Arc::default();
        let lost = lost_at.clone();
        let meshy = move |request: HttpRequest| {
            assert_eq!(request.method, "POST");
            std::thread::sleep(Duration::from_millis(500));
            *lost.lock().unwrap() = Some(std::time::Instant::now());
            Err(TransportError::Timeout {
                request: "POST text-to-3d".into(),
                seconds: 1,
            })
        };
        let options = CassetteOptions {
            mode: RecordMode::Once,
            rules: MatchRules::with_json_body(),
            journal: true,
            ..CassetteOptions::new(dir.path().join("otter.yaml"))
        };
        let cassette = CassetteTransport::open(options, Some(Arc::new(meshy))).unwrap();
        assert!(cassette.send(post("otter")).await.is_err());
        let shown = lost_at.clone();
        let list = move |_: HttpRequest| {
            let since = shown
                .lock()
                .unwrap()
                .map(|at| at.elapsed())
                .unwrap_or_default();
            let tasks = match since >= Duration::from_millis(150) {
                true => json!([task("t-slow", "otter")]),
                false => json!([]),
            };
            Ok(Canned::json(200, tasks).response(false))
        };
        let client = Client::new(
            crate::meshy::ClientConfig {
                api_key: Some("msy_settle_unit_key_123".into()),
                ..Default::default()
            },
            Arc::new(list),
        )
        .unwrap();
        let settling = Settling {
            client,
            window: Duration::from_millis(300),
            one_at_a_time: Arc::default(),
            on_file: Arc::new(|_: &Path, _: &Intent| OnFile::default()),
        };
        let (report, seen) = notes();
        let (_stop, interrupt) = watch::channel(false);
        settle(&cassette, &settling, "otter", &report, interrupt)
            .await
            .unwrap();
        let seen = seen.lock().unwrap().clone();
        assert!(
            seen[1].contains("made task t-slow: adopted"),
            "never sent again: {seen:?}"
        );
    }

    #[tokio::test]
    async fn two_candidates_fail_naming_both_and_keep_the_intent() {
        let dir = tempfile::tempdir().unwrap();
        let (cassette, posts) = lost_create(dir.path()).await;
        let listed = json!([task("t-b", "otter"), task("t-a", "otter")]);
        let (report, _) = notes();
        let (_stop, interrupt) = watch::channel(false);
        let settling = settling(listed, Duration::from_secs(30));
        let err = settle(&cassette, &settling, "otter", &report, interrupt)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("2 tasks created since then match it: t-b, t-a; nothing was sent"),
            "{err}"
        );
        assert_eq!(on_disk(dir.path()).pending.len(), 1, "the rerun settles it");
        assert_eq!(posts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn ctrl_c_during_the_wait_sends_nothing_and_leaves_the_intent_pending() {
        let dir = tempfile::tempdir().unwrap();
        let (cassette, posts) = lost_create(dir.path()).await;
        let (report, _) = notes();
        let (stop, interrupt) = watch::channel(false);
        stop.send_replace(true);
        let settling = settling(json!([]), Duration::from_secs(30));
        let err = settle(&cassette, &settling, "otter", &report, interrupt)
            .await
            .unwrap_err();
        assert!(matches!(err, ResumeError::Interrupted { .. }), "{err}");
        let journal = on_disk(dir.path());
        assert_eq!(journal.pending.len(), 1);
        assert!(
            journal.pending[0]
                .outcome
                .as_deref()
                .is_some_and(|o| o.contains("connection reset"))
        );
        assert_eq!(posts.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_adopted_task_waits_for_its_own_call_nothing_else_is_bought_first() {
        let dir = tempfile::tempdir().unwrap();
        let (cassette, posts) = lost_create(dir.path()).await;
        let (report, _) = notes();
        let (_stop, interrupt) = watch::channel(false);
        let settling = settling(json!([task("t-lost", "otter")]), Duration::from_secs(30));
        settle(&cassette, &settling, "otter", &report, interrupt)
            .await
            .unwrap();
        let err = cassette.send(post("beaver")).await.unwrap_err().to_string();
        assert!(err.contains("was not sent: the task list showed"), "{err}");
        assert_eq!(posts.load(Ordering::SeqCst), 1);
    }
}
