//! When and how long to wait before trying a request again: exponential backoff with
//! jitter, or the server's `Retry-After` when it sends one.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::Duration;

/// How the client retries 429 and 5xx answers (other 4xx never retry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included. Default: 5.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubled for each further one. Default: 500 ms.
    pub initial_backoff: Duration,
    /// Upper bound of the exponential backoff (not of `Retry-After`). Default: 30 s.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based). `Retry-After` in
    /// seconds wins when present; otherwise exponential backoff with "equal jitter"
    /// (a random point in the upper half), so many clients do not retry in lockstep.
    /// `jitter` is a number in `[0, 1)`.
    pub fn delay(&self, attempt: u32, retry_after: Option<&str>, jitter: f64) -> Duration {
        let seconds = retry_after.and_then(|v| v.trim().parse::<f64>().ok());
        if let Some(seconds) = seconds.filter(|s| s.is_finite() && *s >= 0.0) {
            return Duration::from_secs_f64(seconds);
        }
        let doublings = attempt.saturating_sub(1).min(30);
        let backoff = self
            .initial_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff);
        backoff.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
    }
}

/// A random number in `[0, 1)`. `RandomState` is seeded randomly per instance, which
/// is all the randomness backoff jitter needs, without a dependency.
pub(crate) fn jitter() -> f64 {
    let bits = RandomState::new().hash_one(std::time::Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
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
    fn jitter_is_in_unit_interval_and_varies() {
        let samples: Vec<f64> = (0..100).map(|_| jitter()).collect();
        assert!(samples.iter().all(|j| (0.0..1.0).contains(j)));
        assert!(samples.iter().any(|j| *j != samples[0]));
    }
}
