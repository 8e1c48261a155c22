//! Time stamps for trace lines.
//!
//! The sans-IO parts of this crate never read a clock: they are handed a
//! [`Timestamp`]. The relay makes them with a [`Clock`], which reads the wall
//! clock once at start-up and then advances it by the monotonic clock, so
//! that stamps are wall-clock UTC yet never jump backwards (round-trip times
//! are differences of stamps).

use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

const MICROS_PER_SEC: u64 = 1_000_000;
const SECS_PER_DAY: u64 = 86_400;

impl Timestamp {
    /// The stamp `micros` microseconds after the Unix epoch.
    pub const fn from_unix_micros(micros: u64) -> Timestamp {
        Timestamp(micros)
    }

    /// Microseconds since the Unix epoch.
    pub fn unix_micros(self) -> u64 {
        self.0
    }

    /// Time from `earlier` to `self`; zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }

    /// `self` plus `d`, saturating at the far future.
    pub fn saturating_add(self, d: Duration) -> Timestamp {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(micros))
    }

    /// Displays as `HH:MM:SS.mmm` (UTC time of day), the text trace's stamp.
    pub fn time_of_day(self) -> TimeOfDay {
        TimeOfDay(self)
    }

    /// Displays as RFC 3339 with milliseconds, `2026-11-23T18:58:28.123Z`,
    /// the JSON trace's stamp.
    pub fn rfc3339(self) -> Rfc3339 {
        Rfc3339(self)
    }

    fn split(self) -> (u64, u64, u64, u64, u64) {
        let secs = self.0 / MICROS_PER_SEC;
        let millis = (self.0 % MICROS_PER_SEC) / 1000;
        let in_day = secs % SECS_PER_DAY;
        (
            secs / SECS_PER_DAY,
            in_day / 3600,
            in_day % 3600 / 60,
            in_day % 60,
            millis,
        )
    }
}

/// A [`Timestamp`] shown as `HH:MM:SS.mmm`.
#[derive(Debug, Clone, Copy)]
pub struct TimeOfDay(Timestamp);

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (_, h, m, s, ms) = self.0.split();
        write!(f, "{h:02}:{m:02}:{s:02}.{ms:03}")
    }
}

/// A [`Timestamp`] shown as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
#[derive(Debug, Clone, Copy)]
pub struct Rfc3339(Timestamp);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (days, h, m, s, ms) = self.0.split();
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z"
        )
    }
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Wall-clock stamps that advance with the monotonic clock; see the module
/// doc.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall_at_start: Timestamp,
    start: Instant,
}

impl Clock {
    /// Reads the wall clock once. A clock set before 1970 counts as the
    /// epoch.
    pub fn new() -> Clock {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Clock {
            wall_at_start: Timestamp::default().saturating_add(since_epoch),
            start: Instant::now(),
        }
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        self.wall_at_start.saturating_add(self.start.elapsed())
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        let epoch = Timestamp::from_unix_micros(0);
        assert_eq!(epoch.rfc3339().to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(epoch.time_of_day().to_string(), "00:00:00.000");
        // 2026-11-23T18:58:28.123456Z
        let t = Timestamp::from_unix_micros(1_795_460_308_123_456);
        assert_eq!(t.rfc3339().to_string(), "2026-11-23T18:58:28.123Z");
        assert_eq!(t.time_of_day().to_string(), "18:58:28.123");
        // A leap day, and the last millisecond of a year.
        let leap = Timestamp::from_unix_micros(951_782_400_000_000);
        assert_eq!(leap.rfc3339().to_string(), "2000-02-29T00:00:00.000Z");
        let eve = Timestamp::from_unix_micros(1_704_067_199_999_000);
        assert_eq!(eve.rfc3339().to_string(), "2023-12-31T23:59:59.999Z");
    }

    #[test]
    fn every_day_of_four_centuries_is_a_valid_successor() {
        let mut previous = civil_from_days(0);
        assert_eq!(previous, (1970, 1, 1));
        for days in 1..146_097 {
            let (y, m, d) = civil_from_days(days);
            let (py, pm, pd) = previous;
            let next_day = (y, m, d) == (py, pm, pd + 1);
            let next_month = (y, m, d) == (py, pm + 1, 1);
            let next_year = (y, m, d) == (py + 1, 1, 1) && (pm, pd) == (12, 31);
            assert!(
                next_day || next_month || next_year,
                "{previous:?} -> {y}-{m}-{d}"
            );
            previous = (y, m, d);
        }
    }

    #[test]
    fn durations_saturate() {
        let a = Timestamp::from_unix_micros(10);
        let b = a.saturating_add(Duration::from_micros(5));
        assert_eq!(b.saturating_since(a), Duration::from_micros(5));
        assert_eq!(a.saturating_since(b), Duration::ZERO);
        assert_eq!(
            b.saturating_add(Duration::MAX),
            Timestamp::from_unix_micros(u64::MAX)
        );
    }

    #[test]
    fn clock_never_goes_backwards() {
        let clock = Clock::new();
        let a = clock.now();
        let b = clock.now();
        assert!(b >= a);
        assert!(a.unix_micros() > 1_600_000_000 * MICROS_PER_SEC);
    }
}
