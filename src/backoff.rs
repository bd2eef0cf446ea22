//! Exponential backoff, the one doubling of a wait in the crate: the client's retries
//! ([`crate::meshy::RetryPolicy`]) and the simulator's webhook redelivery
//! ([`crate::sim::DeliveryPolicy`]) both grow their waits here. Jitter and
//! `Retry-After` stay with the retry policy; this only doubles and bounds.

use std::time::Duration;

/// The wait after failed attempt number `attempt` (1-based): `initial` after the
/// first, doubled after each further one, never more than `cap`. Attempt 0 counts as
/// the first. Saturating: no attempt number overflows or panics.
pub(crate) fn exponential(initial: Duration, attempt: u32, cap: Duration) -> Duration {
    if initial.is_zero() {
        return Duration::ZERO;
    }
    let doublings = attempt.saturating_sub(1);
    // In nanoseconds, u128 holds every Duration; a factor past 2^127 (or a product
    // past u128) is past Duration::MAX too, since `initial` is at least 1 ns.
    let grown = 1u128
        .checked_shl(doublings)
        .and_then(|factor| initial.as_nanos().checked_mul(factor))
        .map_or(Duration::MAX, from_nanos);
    grown.min(cap)
}

/// `nanos` as a Duration, Duration::MAX when it is longer.
fn from_nanos(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    u64::try_from(nanos / NANOS_PER_SEC).map_or(Duration::MAX, |secs| {
        Duration::new(secs, (nanos % NANOS_PER_SEC) as u32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn the_first_attempt_waits_the_initial_time_and_each_further_one_doubles_it() {
        let cap = Duration::from_secs(600);
        assert_eq!(exponential(100 * MS, 0, cap), 100 * MS);
        assert_eq!(exponential(100 * MS, 1, cap), 100 * MS);
        assert_eq!(exponential(100 * MS, 2, cap), 200 * MS);
        assert_eq!(exponential(100 * MS, 3, cap), 400 * MS);
        assert_eq!(exponential(100 * MS, 11, cap), 102_400 * MS);
    }

    #[test]
    fn the_cap_bounds_every_wait_even_the_first() {
        let cap = Duration::from_secs(1);
        assert_eq!(exponential(100 * MS, 4, cap), 800 * MS);
        assert_eq!(exponential(100 * MS, 5, cap), cap);
        assert_eq!(exponential(100 * MS, 40, cap), cap);
        assert_eq!(exponential(Duration::from_secs(5), 1, cap), cap);
    }

    #[test]
    fn large_attempt_numbers_saturate_instead_of_overflowing() {
        let cap = Duration::from_secs(30);
        for attempt in [31, 32, 33, 64, 127, 128, 129, 1000, u32::MAX] {
            assert_eq!(exponential(MS, attempt, cap), cap, "attempt {attempt}");
        }
        // 2^93 ns still fits a Duration; 2^94 ns is past Duration::MAX.
        let nano = Duration::from_nanos(1);
        // 2^93 ns, written out: 9_903_520_314_283 s and 42_199_192_993_792 ns past it.
        assert_eq!(
            exponential(nano, 94, Duration::MAX),
            Duration::new(9_903_520_314_283_042_199, 192_993_792)
        );
        assert!(exponential(nano, 94, Duration::MAX) < Duration::MAX);
        assert_eq!(exponential(nano, 95, Duration::MAX), Duration::MAX);
        assert_eq!(exponential(nano, u32::MAX, Duration::MAX), Duration::MAX);
        assert_eq!(exponential(Duration::MAX, 2, Duration::MAX), Duration::MAX);
        assert_eq!(exponential(Duration::ZERO, u32::MAX, cap), Duration::ZERO);
    }
}
