//! When and how long to wait before trying a request again: exponential backoff with
//! jitter, or the server's `Retry-After` when it sends one.

use std::time::Duration;

/// The one retry policy of the client: which failures are tried again, how often,
/// and how long to wait. 429 and 5xx answers and network failures are retried, with
/// one exception that protects credits: a request that may create a task (a POST) is
/// never sent again once it may have reached Meshy (a 5xx, a timeout, a connection
/// lost after sending), since Meshy may have created and charged for the task. A 429
/// (the task was not created) and a failure to connect (nothing was sent) are safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included. Default: 5.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubled for each further one. Default: 500 ms.
    pub initial_backoff: Duration,
    /// Upper bound of the exponential backoff (not of `Retry-After`). Default: 30 s.
    pub max_backoff: Duration,
    /// Attempts while the account's task queue is full (429 `NoMoreConcurrentTasks` /
    /// `NoMorePendingTasks`: nothing was created, a slot frees when a task ends).
    /// Default: 60 (half an hour at the 30 s backoff bound).
    pub max_queue_attempts: u32,
    /// All the waiting one request may do between its attempts. A `Retry-After` that
    /// would go past it is not slept through: the request fails at once and says so
    /// ([`RetryPolicy::fits`]). Default: 45 minutes (the queue's half hour and more).
    pub max_total_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_queue_attempts: 60,
            max_total_wait: Duration::from_secs(45 * 60),
        }
    }
}

/// What happened to one attempt, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt<'a> {
    /// The server answered with this status (and maybe `Retry-After`).
    Answered {
        status: u16,
        retry_after: Option<&'a str>,
    },
    /// 429 because the account's task queue is full: not created; wait for a slot.
    QueueFull { retry_after: Option<&'a str> },
    /// An answer no retry changes (429 `concurrent_task_limit_reached`: the account
    /// must wait for a task to end or top up).
    Final,
    /// No connection was made: nothing was sent.
    NotSent,
    /// Sent, then no answer (timeout, connection reset).
    Lost,
}

/// Whether to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait this long, then send again.
    Retry(Duration),
    /// Give up: the failure is final (or attempts are used up).
    Stop,
    /// Give up because the request may have taken effect: sending it again could
    /// create (and pay for) a second task.
    MaybeApplied,
}

impl RetryPolicy {
    /// The decision after failed attempt number `attempt` (1-based). `creates` is true
    /// for requests that may create a task (POST); `jitter` is a number in `[0, 1)`.
    pub fn decide(
        &self,
        creates: bool,
        attempt: u32,
        outcome: Attempt<'_>,
        jitter: f64,
    ) -> Decision {
        let retry_after = match outcome {
            Attempt::Answered { status, .. } if status < 400 => return Decision::Stop,
            Attempt::Answered {
                status: 429,
                retry_after,
            } => retry_after,
            Attempt::Answered { status, .. } if status >= 500 && creates => {
                return Decision::MaybeApplied;
            }
            Attempt::Answered {
                status,
                retry_after,
            } if status >= 500 => retry_after,
            Attempt::Answered { .. } => return Decision::Stop,
            Attempt::QueueFull { retry_after } => {
                if attempt >= self.max_queue_attempts.max(1) {
                    return Decision::Stop;
                }
                return Decision::Retry(self.delay(attempt, retry_after, jitter));
            }
            Attempt::Final => return Decision::Stop,
            Attempt::NotSent => None,
            Attempt::Lost if creates => return Decision::MaybeApplied,
            Attempt::Lost => None,
        };
        if attempt >= self.max_attempts.max(1) {
            return Decision::Stop;
        }
        Decision::Retry(self.delay(attempt, retry_after, jitter))
    }

    /// The wait after failed attempt number `attempt` (1-based). `Retry-After` in
    /// seconds wins when present; otherwise exponential backoff with "equal jitter"
    /// (a random point in the upper half), so many clients do not retry in lockstep.
    /// `jitter` is a number in `[0, 1)`.
    pub fn delay(&self, attempt: u32, retry_after: Option<&str>, jitter: f64) -> Duration {
        let seconds = retry_after.and_then(|v| v.trim().parse::<f64>().ok());
        // Checked: a server's `Retry-After: 1e20` (or `inf`) must not panic; it is a wait
        // too long for any budget, which `fits` refuses.
        if let Some(seconds) = seconds.filter(|s| !s.is_nan() && *s >= 0.0) {
            return Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX);
        }
        let backoff = crate::backoff::exponential(self.initial_backoff, attempt, self.max_backoff);
        backoff.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

impl RetryPolicy {
    /// Whether waiting `delay` more, after `waited` already, stays within
    /// `max_total_wait`.
    pub fn fits(&self, waited: Duration, delay: Duration) -> bool {
        waited
            .checked_add(delay)
            .is_some_and(|total| total <= self.max_total_wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            max_queue_attempts: 8,
            max_total_wait: Duration::from_secs(60),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_bound_and_jitter_stays_in_the_upper_half() {
        let p = policy();
        assert_eq!(
            p.delay(1, None, 0.999_999),
            Duration::from_millis(100) - Duration::from_nanos(50)
        );
        assert_eq!(p.delay(1, None, 0.0), Duration::from_millis(50));
        assert_eq!(p.delay(2, None, 0.0), Duration::from_millis(100));
        assert_eq!(p.delay(3, None, 0.0), Duration::from_millis(200));
        assert_eq!(p.delay(10, None, 0.0), Duration::from_millis(500));
    }

    #[test]
    fn retry_after_seconds_are_honoured() {
        let p = policy();
        assert_eq!(p.delay(1, Some("7"), 0.3), Duration::from_secs(7));
        assert_eq!(p.delay(1, Some(" 0.25 "), 0.3), Duration::from_millis(250));
        // An HTTP date or garbage falls back to backoff.
        assert_eq!(
            p.delay(1, Some("Wed, 21 Oct 2015 07:28:00 GMT"), 0.0),
            Duration::from_millis(50)
        );
    }

    #[test]
    fn a_create_is_never_sent_again_once_it_may_have_reached_meshy() {
        let p = policy();
        let answered = |status| Attempt::Answered {
            status,
            retry_after: None,
        };
        assert_eq!(
            p.decide(true, 1, answered(502), 0.0),
            Decision::MaybeApplied
        );
        assert_eq!(
            p.decide(true, 1, answered(500), 0.0),
            Decision::MaybeApplied
        );
        assert_eq!(
            p.decide(true, 1, Attempt::Lost, 0.0),
            Decision::MaybeApplied
        );
        // Safe: not created (429), or never sent.
        assert_eq!(
            p.decide(true, 1, answered(429), 0.0),
            Decision::Retry(Duration::from_millis(50))
        );
        assert_eq!(
            p.decide(true, 2, Attempt::NotSent, 0.0),
            Decision::Retry(Duration::from_millis(100))
        );
        // Reads retry 5xx and lost answers; other 4xx are final for everyone.
        assert_eq!(
            p.decide(false, 1, answered(502), 0.0),
            Decision::Retry(Duration::from_millis(50))
        );
        assert_eq!(
            p.decide(false, 1, Attempt::Lost, 0.0),
            Decision::Retry(Duration::from_millis(50))
        );
        assert_eq!(p.decide(false, 1, answered(400), 0.0), Decision::Stop);
        assert_eq!(p.decide(true, 1, answered(402), 0.0), Decision::Stop);
        assert_eq!(p.decide(false, 5, answered(503), 0.0), Decision::Stop);
        // A full queue waits longer than other failures: nothing was created.
        let full = Attempt::QueueFull { retry_after: None };
        assert_eq!(
            p.decide(true, 6, full, 0.0),
            Decision::Retry(Duration::from_millis(500))
        );
        assert_eq!(p.decide(true, 8, full, 0.0), Decision::Stop);
    }

    #[test]
    fn a_huge_retry_after_is_beyond_the_budget_not_a_panic() {
        let p = policy();
        assert_eq!(p.delay(1, Some("1e20"), 0.0), Duration::MAX);
        assert_eq!(p.delay(1, Some("inf"), 0.0), Duration::MAX);
        assert!(!p.fits(Duration::ZERO, p.delay(1, Some("1e20"), 0.0)));
        assert!(
            !p.fits(Duration::from_secs(1), Duration::MAX),
            "no overflow"
        );
        assert!(p.fits(Duration::from_secs(50), Duration::from_secs(10)));
        assert!(!p.fits(Duration::from_secs(50), Duration::from_secs(11)));
        assert_eq!(p.delay(1, Some("-3"), 0.0), Duration::from_millis(50));
        assert_eq!(p.delay(1, Some("NaN"), 0.0), Duration::from_millis(50));
    }
}
