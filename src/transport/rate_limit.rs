//! Client-side request pacing: at most N requests in any window (one second for the
//! Meshy API), so the SDK stays under the account's documented requests-per-second
//! instead of collecting 429s. Only the live transport paces; replay never waits.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A sliding-window limiter: at most `max` requests start within any `window`.
#[derive(Debug)]
pub struct RateLimiter {
    max: usize,
    window: Duration,
    /// Start times of the most recent `max` reserved requests, oldest first.
    recent: Mutex<VecDeque<Instant>>,
}

impl RateLimiter {
    /// `max` requests per `window`. A `max` of 0 is treated as 1.
    pub fn new(max: usize, window: Duration) -> Self {
        RateLimiter {
            max: max.max(1),
            window,
            recent: Mutex::new(VecDeque::new()),
        }
    }

    /// At most `per_second` requests in any one second.
    pub fn per_second(per_second: u32) -> Self {
        Self::new(per_second as usize, Duration::from_secs(1))
    }

    /// Waits until a request may start.
    pub async fn acquire(&self) {
        let slot = self.reserve(Instant::now());
        tokio::time::sleep_until(slot.into()).await;
    }

    /// Takes a slot at `now` if one is free, without waiting: for servers that refuse
    /// requests over the limit (the simulator's 429).
    pub fn try_acquire(&self, now: Instant) -> bool {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() >= self.max && now < recent[recent.len() - self.max] + self.window {
            return false;
        }
        recent.push_back(now);
        while recent.len() > self.max {
            recent.pop_front();
        }
        true
    }

    /// Reserves the earliest start at or after `now` that keeps every window within
    /// the limit, and returns it. Slots are handed out in call order.
    pub fn reserve(&self, now: Instant) -> Instant {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        let slot = if recent.len() < self.max {
            now.max(recent.back().copied().unwrap_or(now))
        } else {
            let oldest_in_window = recent[recent.len() - self.max];
            now.max(oldest_in_window + self.window)
                .max(recent.back().copied().unwrap_or(now))
        };
        recent.push_back(slot);
        while recent.len() > self.max {
            recent.pop_front();
        }
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_beyond_limit_is_spread_over_later_windows() {
        let limiter = RateLimiter::new(10, Duration::from_secs(1));
        let start = Instant::now();
        let slots: Vec<Duration> = (0..25).map(|_| limiter.reserve(start) - start).collect();
        assert!(slots[..10].iter().all(|s| s.is_zero()));
        assert!(slots[10..20].iter().all(|s| *s == Duration::from_secs(1)));
        assert!(slots[20..].iter().all(|s| *s == Duration::from_secs(2)));
    }

    #[test]
    fn no_window_ever_holds_more_than_the_limit() {
        let limiter = RateLimiter::new(20, Duration::from_secs(1));
        let start = Instant::now();
        // Requests arriving every 10 ms, 300 of them: twice as fast as allowed.
        let slots: Vec<Instant> = (0..300)
            .map(|i| limiter.reserve(start + Duration::from_millis(10 * i)))
            .collect();
        for (i, first) in slots.iter().enumerate() {
            let in_window = slots[i..]
                .iter()
                .take_while(|s| **s < *first + Duration::from_secs(1))
                .count();
            assert!(
                in_window <= 20,
                "window starting at slot {i} holds {in_window}"
            );
        }
    }

    #[test]
    fn try_acquire_refuses_over_the_limit_until_the_window_moves_on() {
        let limiter = RateLimiter::new(3, Duration::from_secs(1));
        let start = Instant::now();
        assert!((0..3).all(|_| limiter.try_acquire(start)));
        assert!(!limiter.try_acquire(start + Duration::from_millis(999)));
        assert!(limiter.try_acquire(start + Duration::from_secs(1)));
    }

    #[test]
    fn requests_under_the_limit_are_not_delayed() {
        let limiter = RateLimiter::new(20, Duration::from_secs(1));
        let start = Instant::now();
        for i in 0..100 {
            let at = start + Duration::from_millis(100 * i);
            assert_eq!(limiter.reserve(at), at);
        }
    }
}
