//! Where the receiver and the simulator write their operational lines (refused and
//! failed webhook deliveries): stderr by default, a closure in tests. Also the
//! per-reason rate limit those lines share, and the one redaction of webhook URLs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A function that takes one log line.
type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// A destination for log lines. Default: stderr.
#[derive(Clone, Default)]
pub struct LogSink(Option<Sink>);

impl LogSink {
    /// Lines go to `sink` instead of stderr.
    pub fn to(sink: impl Fn(&str) + Send + Sync + 'static) -> LogSink {
        LogSink(Some(Arc::new(sink)))
    }

    /// Lines go nowhere.
    pub fn silent() -> LogSink {
        LogSink::to(|_| {})
    }

    pub fn line(&self, line: &str) {
        match &self.0 {
            Some(sink) => sink(line),
            None => eprintln!("{line}"),
        }
    }
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "LogSink(custom)"
        } else {
            "LogSink(stderr)"
        })
    }
}

/// At most one line per reason per `every`; the next line says how many were left out.
#[derive(Debug)]
pub struct RateLimit {
    every: Duration,
    /// Per reason: when its last line went out, and how many were suppressed since.
    last: Mutex<HashMap<&'static str, (Instant, u64)>>,
}

impl RateLimit {
    pub fn per_second() -> RateLimit {
        RateLimit::new(Duration::from_secs(1))
    }

    pub fn new(every: Duration) -> RateLimit {
        RateLimit {
            every,
            last: Mutex::default(),
        }
    }

    /// Whether a line for `reason` may go out at `now`: `Some(suppressed since the
    /// last line)`, or `None` (counted as suppressed).
    pub fn admit(&self, reason: &'static str, now: Instant) -> Option<u64> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match last.get_mut(reason) {
            Some((at, suppressed)) if now.saturating_duration_since(*at) < self.every => {
                *suppressed += 1;
                None
            }
            Some((at, suppressed)) => {
                let left_out = *suppressed;
                *at = now;
                *suppressed = 0;
                Some(left_out)
            }
            None => {
                last.insert(reason, (now, 0));
                Some(0)
            }
        }
    }
}

pub use crate::secrets::redact_url;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_reason_per_interval_counting_the_rest() {
        let limit = RateLimit::per_second();
        let t0 = Instant::now();
        assert_eq!(limit.admit("token", t0), Some(0));
        assert_eq!(limit.admit("token", t0 + Duration::from_millis(10)), None);
        assert_eq!(limit.admit("token", t0 + Duration::from_millis(999)), None);
        assert_eq!(limit.admit("body", t0 + Duration::from_millis(20)), Some(0));
        assert_eq!(limit.admit("token", t0 + Duration::from_secs(1)), Some(2));
        assert_eq!(limit.admit("token", t0 + Duration::from_secs(3)), Some(0));
    }
}
