//! Logging a recurring condition without flooding the log.

use std::time::{Duration, Instant};

/// Logs a warning at most once per interval, saying how many occurrences
/// were left out in between.
#[derive(Debug)]
pub struct RateLimitedLog {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    /// At most one line per `interval`.
    pub fn new(interval: Duration) -> RateLimitedLog {
        RateLimitedLog {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// Records one occurrence at `now`, logging `message()` if the interval
    /// has passed. Returns whether it logged.
    pub fn warn(&mut self, now: Instant, message: impl FnOnce() -> String) -> bool {
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < self.interval)
        {
            self.suppressed += 1;
            return false;
        }
        let text = message();
        if self.suppressed > 0 {
            log::warn!("{text} ({} more since the last report)", self.suppressed);
        } else {
            log::warn!("{text}");
        }
        self.last = Some(now);
        self.suppressed = 0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_once_per_interval() {
        let mut r = RateLimitedLog::new(Duration::from_secs(10));
        let t = Instant::now();
        assert!(r.warn(t, || "x".into()));
        assert!(!r.warn(t + Duration::from_secs(1), || "x".into()));
        assert!(!r.warn(t + Duration::from_secs(9), || "x".into()));
        assert!(r.warn(t + Duration::from_secs(10), || "x".into()));
        assert_eq!(r.suppressed, 0);
    }
}
