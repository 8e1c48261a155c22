//! When to dial a server again: a connect at once after a lasting
//! connection is lost, then pauses that double from [`FIRST_RETRY`], at
//! most [`FAST_RETRY_CAP`] apart for the first [`FAST_PHASE`] of an outage
//! and at most `-retry` after that. Sans-IO: told of attempts, connections
//! and losses with the time, it answers when the next attempt is due. One
//! per server link.
//!
//! ```text
//!  loss  0  1   3    7        15 ...  63   113   163 ... 9963 | 10013  +retry  +retry
//!        ^ at once, then doubling to 50 ms apart for 10 s      | then every -retry
//! ```
//!
//! A server that its supervisor restarts is found within 50 ms of
//! listening again (plus the connect and the extension's probe); one that stays away costs an attempt every `-retry`,
//! as with the original, which waited a whole `-retry` (5 s by default)
//! before its first retry. A connection that closes within
//! [`STABLE_AFTER`] of being made (a full server) keeps the pauses growing,
//! so such a server is not dialled in a loop.

use std::time::{Duration, Instant};

/// The pause before the second attempt after a connection is lost (the
/// first is made at once). Each failed attempt doubles it.
pub const FIRST_RETRY: Duration = Duration::from_millis(1);
/// The longest pause in the first [`FAST_PHASE`] of an outage.
pub const FAST_RETRY_CAP: Duration = Duration::from_millis(50);
/// How long an outage is retried every [`FAST_RETRY_CAP`] at most: long
/// enough for a supervisor's restart and a warm start; then only every
/// `-retry`, so that a fleet of clients does not keep dialling a server
/// that is gone for good.
pub const FAST_PHASE: Duration = Duration::from_secs(10);
/// How long a connection must have lasted for its loss to start the
/// backoff afresh.
pub const STABLE_AFTER: Duration = Duration::from_secs(1);

/// One link's reconnect schedule.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The longest pause (`-retry`).
    retry: Duration,
    last_attempt: Option<Instant>,
    /// When the connection now up was made.
    connected_at: Option<Instant>,
    /// Attempts since the last connection that lasted [`STABLE_AFTER`].
    failures: u32,
    /// When the outage the schedule is in began.
    outage_since: Instant,
}

impl Backoff {
    /// A schedule with pauses of at most `retry`, for a link that has never
    /// connected: its first attempt is due at `now`.
    pub fn new(retry: Duration, now: Instant) -> Backoff {
        Backoff {
            retry,
            last_attempt: None,
            connected_at: None,
            failures: 0,
            outage_since: now,
        }
    }

    /// A connect attempt starts at `now`.
    pub fn attempt(&mut self, now: Instant) {
        self.last_attempt = Some(now);
    }

    /// The attempt succeeded at `now`.
    pub fn connected(&mut self, now: Instant) {
        self.connected_at = Some(now);
    }

    /// The connection or the attempt was lost at `now`: when the next
    /// attempt is due.
    pub fn lost(&mut self, now: Instant) -> Instant {
        let lasted = self
            .connected_at
            .take()
            .is_some_and(|at| now.saturating_duration_since(at) >= STABLE_AFTER);
        match self.last_attempt {
            Some(last) if !lasted => {
                let fast = now.saturating_duration_since(self.outage_since) < FAST_PHASE;
                let cap = if fast {
                    self.retry.min(FAST_RETRY_CAP)
                } else {
                    self.retry
                };
                let pause = pause(self.failures, cap);
                self.failures = self.failures.saturating_add(1);
                (last + pause).max(now)
            }
            _ => {
                self.failures = 0;
                self.outage_since = now;
                now
            }
        }
    }
}

/// The pause after `failures` attempts that gave no lasting connection:
/// [`FIRST_RETRY`] doubled `failures` times, at most `cap`.
fn pause(failures: u32, cap: Duration) -> Duration {
    FIRST_RETRY
        .checked_mul(1u32.checked_shl(failures).unwrap_or(u32::MAX))
        .map_or(cap, |pause| pause.min(cap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_never_passes_its_cap_nor_overflows() {
        let retry = Duration::from_millis(5000);
        assert_eq!(pause(0, retry), FIRST_RETRY);
        assert_eq!(pause(3, retry), Duration::from_millis(8));
        assert_eq!(pause(12, retry), Duration::from_millis(4096));
        assert_eq!(pause(13, retry), retry);
        assert_eq!(pause(31, retry), retry);
        assert_eq!(pause(u32::MAX, retry), retry);
        assert_eq!(pause(0, Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn a_retry_below_the_fast_cap_bounds_every_pause() {
        let start = Instant::now();
        let retry = Duration::from_millis(20);
        let mut backoff = Backoff::new(retry, start);
        let mut now = start;
        let mut gaps = Vec::new();
        for _ in 0..8 {
            backoff.attempt(now);
            let next = backoff.lost(now);
            gaps.push((next - now).as_millis());
            now = next;
        }
        assert_eq!(gaps, [1, 2, 4, 8, 16, 20, 20, 20]);
    }
}
