//! The account's task queue as this run sees it: at most `--max-tasks-in-flight`
//! unfinished tasks of its own (Meshy 2026: Pro 10, Premium 30, Studio 60, Ultra and
//! Enterprise 100).
//! A recording trial takes a slot before its first create call and gives it back when
//! it ends, so a suite larger than the queue records in waves instead of failing with
//! 429 `NoMoreConcurrentTasks`. The gate sits in front of the trial's cassette, so a
//! create call is journalled only once it has a slot (and an interrupted wait for a
//! slot leaves no intent behind); a resumed task, whose create call replays, takes a
//! slot too, since it occupies one at Meshy. Waiting for a slot does not count against
//! the webhook timeout, which counts from the task's creation. A trial written in Rust
//! that keeps several tasks unfinished at once holds one slot for all of them.
//!
//! The gate is also where a create is stopped once it cannot be worth its price: after
//! Ctrl-C, once the run's receiver has refused deliveries for the webhook secret
//! (every new task's webhooks would be refused too), and while the standing receiver
//! the run uses does not answer — checked after the wait for a slot, so a trial that
//! waited behind the one that found out sends nothing.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::recorder::StopBuying;
use crate::transport::{BoxFuture, HttpRequest, HttpResponse, Transport, TransportError};

/// One trial's way to the API: its first POST waits for a slot of the run's queue.
pub struct SlotGate {
    pub inner: Arc<dyn Transport>,
    pub slots: Arc<Semaphore>,
    /// Held across the wait, so two creates of one trial at once take one slot, not
    /// two (which could deadlock a one-slot run).
    pub held: tokio::sync::Mutex<Option<OwnedSemaphorePermit>>,
    pub interrupt: watch::Receiver<bool>,
    /// For the line printed when the trial has to wait.
    pub trial: String,
    /// Where that line goes (the run's console, above any live lines).
    pub report: crate::progress::Reporter,
    /// Why no further task is worth buying, if so (`Recorder::stop_buying`).
    pub stop_buying: Box<dyn Fn() -> Option<StopBuying> + Send + Sync>,
}

#[derive(Debug, thiserror::Error)]
#[error("trial '{trial}': interrupted before its create call; nothing was sent")]
pub struct SlotInterrupted {
    trial: String,
}

/// A create not sent: the webhook secret does not match what Meshy sends.
#[derive(Debug, thiserror::Error)]
#[error(
    "trial '{trial}' was not sent: the webhook receiver refused {refused} {} for a missing or wrong webhook \
     secret (x-meshy-api-webhook-secret-key), so this task's webhooks would be refused too; set \
     MESHY_WEBHOOK_SECRET (or --webhook-secret-file) to the secret the Meshy dashboard shows, or unset it to \
     not check, then rerun (tasks already created resume without paying again)",
    if *refused == 1 { "delivery" } else { "deliveries" }
)]
pub struct SecretRefused {
    trial: String,
    refused: u64,
}

/// A create not sent: the standing receiver the run uses stopped answering.
#[derive(Debug, thiserror::Error)]
#[error(
    "trial '{trial}' was not sent: {why}, then rerun (tasks already created resume without paying again)"
)]
pub struct ReceiverGone {
    trial: String,
    why: String,
}

impl SlotGate {
    /// Gives the slot back (the trial ended).
    pub fn release(&self) {
        if let Ok(mut held) = self.held.try_lock() {
            held.take();
        }
    }

    async fn take_slot(&self) -> Result<(), TransportError> {
        // After Ctrl-C nothing new is bought, not even a retry after a 429's wait.
        if *self.interrupt.borrow() {
            return Err(TransportError::Layer(Box::new(SlotInterrupted {
                trial: self.trial.clone(),
            })));
        }
        let mut held = self.held.lock().await;
        if held.is_some() {
            return Ok(());
        }
        let permit = match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                (self.report)(&crate::progress::Event::Note(format!(
                    "{} waiting for a task slot: the run has its --max-tasks-in-flight tasks unfinished",
                    self.trial
                )));
                let mut interrupt = self.interrupt.clone();
                tokio::select! {
                    permit = Arc::clone(&self.slots).acquire_owned() => {
                        permit.map_err(|e| TransportError::Layer(Box::new(e)))?
                    }
                    _ = interrupt.wait_for(|stop| *stop) => {
                        return Err(TransportError::Layer(Box::new(SlotInterrupted {
                            trial: self.trial.clone(),
                        })));
                    }
                }
            }
        };
        *held = Some(permit);
        Ok(())
    }

    /// Refuses a create once deliveries were refused for the webhook secret, and while
    /// the standing receiver the run uses does not answer.
    fn check_receiver(&self) -> Result<(), TransportError> {
        let trial = self.trial.clone();
        match (self.stop_buying)() {
            None => Ok(()),
            Some(StopBuying::SecretRefused(refused)) => {
                Err(TransportError::Layer(Box::new(SecretRefused {
                    trial,
                    refused,
                })))
            }
            Some(StopBuying::ReceiverGone(why)) => {
                Err(TransportError::Layer(Box::new(ReceiverGone { trial, why })))
            }
        }
    }
}

impl Transport for SlotGate {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            // A call answered from the task list (a lost answer's task, adopted) buys
            // nothing: it passes after Ctrl-C too, and holds the slot it took.
            if request.method == "POST" && !self.inner.answers_adopted(&request) {
                self.take_slot().await?;
                self.check_receiver()?;
            }
            self.inner.send(request).await
        })
    }

    fn may_send_live(&self, request: &HttpRequest) -> bool {
        self.inner.may_send_live(request)
    }

    fn answers_adopted(&self, request: &HttpRequest) -> bool {
        self.inner.answers_adopted(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn gate(
        slots: &Arc<Semaphore>,
        calls: &Arc<AtomicUsize>,
        interrupt: watch::Receiver<bool>,
    ) -> SlotGate {
        gate_refusing(slots, calls, interrupt, Arc::default())
    }

    fn gate_refusing(
        slots: &Arc<Semaphore>,
        calls: &Arc<AtomicUsize>,
        interrupt: watch::Receiver<bool>,
        refusals: Arc<AtomicUsize>,
    ) -> SlotGate {
        gate_stopping(
            slots,
            calls,
            interrupt,
            Box::new(move || match refusals.load(Ordering::SeqCst) {
                0 => None,
                n => Some(StopBuying::SecretRefused(n as u64)),
            }),
        )
    }

    fn gate_stopping(
        slots: &Arc<Semaphore>,
        calls: &Arc<AtomicUsize>,
        interrupt: watch::Receiver<bool>,
        stop_buying: Box<dyn Fn() -> Option<StopBuying> + Send + Sync>,
    ) -> SlotGate {
        let calls = Arc::clone(calls);
        let inner = move |_: HttpRequest| {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(HttpResponse {
                status: 202,
                headers: Vec::new(),
                body: br#"{"result":"t"}"#.to_vec(),
                replayed: false,
            })
        };
        SlotGate {
            inner: Arc::new(inner),
            slots: Arc::clone(slots),
            held: Default::default(),
            interrupt,
            trial: "otter".into(),
            report: crate::progress::Console::plain().reporter(),
            stop_buying,
        }
    }

    #[tokio::test]
    async fn no_create_is_sent_while_the_standing_receiver_does_not_answer() {
        let slots = Arc::new(Semaphore::new(2));
        let calls = Arc::new(AtomicUsize::new(0));
        let gone = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (_stop, interrupt) = watch::channel(false);
        let answering = Arc::clone(&gone);
        let gate = gate_stopping(
            &slots,
            &calls,
            interrupt,
            Box::new(move || {
                answering.load(Ordering::SeqCst).then(|| {
                    StopBuying::ReceiverGone("the receiver on :8000 stopped; start it".into())
                })
            }),
        );
        let post = || HttpRequest::new("POST", "https://api.meshy.ai/openapi/v2/text-to-3d");
        let err = gate.send(post()).await.unwrap_err().to_string();
        assert_eq!(
            err,
            "trial 'otter' was not sent: the receiver on :8000 stopped; start it, then rerun (tasks already \
             created resume without paying again)"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing bought");
        gone.store(false, Ordering::SeqCst);
        gate.send(post()).await.unwrap();
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "bought once it answers again"
        );
    }

    #[tokio::test]
    async fn a_trial_holds_one_slot_from_its_first_create_until_it_ends() {
        let slots = Arc::new(Semaphore::new(1));
        let calls = Arc::new(AtomicUsize::new(0));
        let (stop, interrupt) = watch::channel(false);
        let first = gate(&slots, &calls, interrupt.clone());
        let second = gate(&slots, &calls, interrupt);
        let post = || HttpRequest::new("POST", "https://api.meshy.ai/openapi/v2/text-to-3d");
        first.send(post()).await.unwrap();
        first.send(post()).await.unwrap();
        assert_eq!(
            slots.available_permits(),
            0,
            "one slot per trial, however many creates"
        );
        second
            .send(HttpRequest::new(
                "GET",
                "https://api.meshy.ai/openapi/v1/balance",
            ))
            .await
            .unwrap();
        let waiting = second.send(post());
        tokio::pin!(waiting);
        assert!(
            futures_util::FutureExt::now_or_never(waiting.as_mut()).is_none(),
            "the second trial's create waits for the slot"
        );
        first.release();
        waiting.await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        // An interrupted wait sends nothing.
        let third = gate(&slots, &calls, stop.subscribe());
        stop.send_replace(true);
        let err = third.send(post()).await.unwrap_err().to_string();
        assert_eq!(
            err,
            "trial 'otter': interrupted before its create call; nothing was sent"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_trial_waiting_for_a_slot_sends_nothing_once_deliveries_were_refused_for_the_secret()
    {
        let slots = Arc::new(Semaphore::new(1));
        let calls = Arc::new(AtomicUsize::new(0));
        let refusals = Arc::new(AtomicUsize::new(0));
        let (_stop, interrupt) = watch::channel(false);
        let first = gate_refusing(&slots, &calls, interrupt.clone(), Arc::clone(&refusals));
        let second = gate_refusing(&slots, &calls, interrupt, Arc::clone(&refusals));
        let post = || HttpRequest::new("POST", "https://api.meshy.ai/openapi/v2/text-to-3d");
        first.send(post()).await.unwrap();
        let waiting = second.send(post());
        tokio::pin!(waiting);
        assert!(futures_util::FutureExt::now_or_never(waiting.as_mut()).is_none());
        // While the first trial waited for its webhooks, the receiver refused them.
        refusals.store(3, Ordering::SeqCst);
        first.release();
        let err = waiting.await.unwrap_err().to_string();
        assert!(
            err.starts_with(
                "trial 'otter' was not sent: the webhook receiver refused 3 deliveries for a missing or wrong \
                 webhook secret"
            ),
            "{err}"
        );
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "the second create was not sent"
        );
        // Reads still go through (a resumed task's state, the balance).
        second
            .send(HttpRequest::new(
                "GET",
                "https://api.meshy.ai/openapi/v1/balance",
            ))
            .await
            .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
