//! The run cut into slices of time, for `--plot`: how many operations were
//! answered in each slice and how long they took, so the chart can show
//! throughput and latency over the run and not only their totals.
//!
//! Each slice is a small histogram (2 significant digits, counts in `u32`,
//! about 10 KB) created when its first answer comes; recording an answer is
//! a subtraction, two comparisons and a histogram increment, with no
//! allocation. A run of known length is cut into [`SLICES`] slices; one
//! that stops after `--ops` starts with [`OPEN_SLICE`] slices and, when it
//! reaches twice [`SLICES`], merges neighbours in pairs (doubling the
//! width), so memory stays bounded however long it runs.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Slices a run of known length is cut into.
pub const SLICES: usize = 60;
/// The first slice width of a run whose length is not known in advance.
pub const OPEN_SLICE: Duration = Duration::from_millis(100);
/// Narrowest slice: below this a slice holds too few answers to say much.
pub const MIN_SLICE: Duration = Duration::from_millis(10);
/// Highest latency a slice tells apart, in microseconds (a minute; a
/// connection is given up after 10 s without an answer, but a paced run
/// that falls behind can see more). Longer ones count as this.
pub const SLICE_MAX_US: u64 = 60_000_000;

/// The slice width for a run that stops after `duration` (or, if `None`,
/// after a number of operations).
pub fn slice_width(duration: Option<Duration>) -> Duration {
    match duration {
        Some(d) => (d / SLICES as u32).max(MIN_SLICE),
        None => OPEN_SLICE,
    }
}

/// Answers per slice of the timed phase.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// Start of the first slice.
    origin: Instant,
    /// Width of every slice, in nanoseconds.
    width_ns: u64,
    /// Latencies answered in each slice, in microseconds.
    slices: Vec<Histogram<u32>>,
    /// The slice the last answer went to and its bounds (ns from
    /// `origin`), so that the usual case, the same slice again, needs no
    /// division.
    current: (usize, u64, u64),
}

/// One slice, for the chart.
#[derive(Debug, Clone, Copy)]
pub struct Slice<'a> {
    /// When it starts, from the start of the timed phase.
    pub start: Duration,
    /// How much of it the run covered (the last one may be cut short).
    pub length: Duration,
    /// Latencies of the operations answered in it, in microseconds.
    pub latency: &'a Histogram<u32>,
}

fn slice_histogram() -> Histogram<u32> {
    // Constant, valid bounds (low >= 1, high >= 2 * low, sigfig <= 5).
    Histogram::new_with_bounds(1, SLICE_MAX_US, 2).expect("constant histogram bounds are valid")
}

impl Timeline {
    /// An empty timeline from `origin`, in slices of `width`.
    pub fn new(origin: Instant, width: Duration) -> Timeline {
        let width_ns = u64::try_from(width.as_nanos()).unwrap_or(u64::MAX).max(1);
        Timeline {
            origin,
            width_ns,
            slices: Vec::new(),
            current: (0, 0, width_ns),
        }
    }

    /// The width of a slice.
    pub fn width(&self) -> Duration {
        Duration::from_nanos(self.width_ns)
    }

    /// Counts an answer read at `at` that took `us` microseconds.
    pub fn record(&mut self, at: Instant, us: u64) {
        let offset =
            u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX);
        let (mut index, low, high) = self.current;
        if offset < low || offset >= high {
            let mut slot = offset / self.width_ns;
            while slot >= (2 * SLICES) as u64 {
                self.coarsen();
                slot = offset / self.width_ns;
            }
            // Below 2 * SLICES after the loop: fits a usize.
            index = slot as usize;
            let low = slot * self.width_ns;
            self.current = (index, low, low.saturating_add(self.width_ns));
        }
        if index >= self.slices.len() {
            self.slices.resize_with(index + 1, slice_histogram);
        }
        self.slices[index].saturating_record(us.clamp(1, SLICE_MAX_US));
    }

    /// Merges neighbouring slices in pairs: half as many, twice as wide.
    fn coarsen(&mut self) {
        let old = std::mem::take(&mut self.slices);
        let mut pairs = old.into_iter();
        while let Some(mut first) = pairs.next() {
            if let Some(second) = pairs.next() {
                // Same bounds on both sides, so this cannot fail.
                let _ = first.add(&second);
            }
            self.slices.push(first);
        }
        self.width_ns = self.width_ns.saturating_mul(2);
        // Recomputed by the next record.
        self.current = (0, u64::MAX, 0);
    }

    /// Adds another thread's slices. Both are coarsened to the wider of the
    /// two widths; each thread's own start of the timed phase counts as the
    /// start (they differ by the microseconds it takes threads to pass the
    /// gate).
    pub fn merge(&mut self, other: &Timeline) {
        let mut other = other.clone();
        while self.width_ns < other.width_ns {
            self.coarsen();
        }
        while other.width_ns < self.width_ns {
            other.coarsen();
        }
        self.origin = self.origin.min(other.origin);
        if self.slices.len() < other.slices.len() {
            self.slices.resize_with(other.slices.len(), slice_histogram);
        }
        for (mine, theirs) in self.slices.iter_mut().zip(&other.slices) {
            let _ = mine.add(theirs);
        }
        self.current = (0, u64::MAX, 0);
    }

    /// The slices from the start to `finished` (the last answer), in order;
    /// a slice with no answer is there, empty.
    pub fn slices(&self, finished: Instant) -> Vec<Slice<'_>> {
        let width = self.width();
        let end = finished.saturating_duration_since(self.origin);
        self.slices
            .iter()
            .enumerate()
            .map(|(i, latency)| {
                let start = width * u32::try_from(i).unwrap_or(u32::MAX);
                let length = end.saturating_sub(start).min(width);
                Slice {
                    start,
                    length,
                    latency,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn answers_land_in_their_slice() {
        let t0 = Instant::now();
        let mut t = Timeline::new(t0, 100 * MS);
        t.record(t0, 5);
        t.record(t0 + 50 * MS, 7);
        t.record(t0 + 250 * MS, 900);
        // Out of order (another connection's answers read a pass earlier).
        t.record(t0 + 120 * MS, 40);
        let slices = t.slices(t0 + 260 * MS);
        let counts: Vec<u64> = slices.iter().map(|s| s.latency.len()).collect();
        assert_eq!(counts, [2, 1, 1]);
        assert_eq!(slices[2].start, 200 * MS);
        assert_eq!(slices[2].length, 60 * MS, "the last slice is cut short");
        assert_eq!(slices[0].length, 100 * MS);
        assert!((895..=905).contains(&slices[2].latency.max()));
        // Longer than a slice tells apart: counted at the top.
        t.record(t0, SLICE_MAX_US * 10);
        assert!(t.slices(t0)[0].latency.max() >= SLICE_MAX_US * 99 / 100);
    }

    #[test]
    fn a_long_open_run_is_coarsened_and_merges_align() {
        let t0 = Instant::now();
        let mut a = Timeline::new(t0, 100 * MS);
        // 30 s of one answer every 100 ms: 300 slices' worth.
        for i in 0..300u32 {
            a.record(t0 + i * 100 * MS, 10);
        }
        assert!(a.slices.len() < 2 * SLICES);
        assert_eq!(a.width(), 400 * MS);
        let total: u64 = a.slices(t0).iter().map(|s| s.latency.len()).sum();
        assert_eq!(total, 300);

        let mut b = Timeline::new(t0, 100 * MS);
        b.record(t0 + 150 * MS, 20);
        b.record(t0 + 950 * MS, 20);
        b.merge(&a);
        assert_eq!(b.width(), 400 * MS);
        let slices = b.slices(t0 + Duration::from_secs(30));
        assert_eq!(slices.iter().map(|s| s.latency.len()).sum::<u64>(), 302);
        // 0-400 ms: four of a's and one of b's.
        assert_eq!(slices[0].latency.len(), 5);
        // 800-1200 ms: four of a's and b's 950 ms one.
        assert_eq!(slices[2].latency.len(), 5);
    }

    #[test]
    fn widths_follow_the_run_length() {
        assert_eq!(
            slice_width(Some(Duration::from_secs(60))),
            Duration::from_secs(1)
        );
        assert_eq!(slice_width(Some(MS)), MIN_SLICE);
        assert_eq!(slice_width(None), OPEN_SLICE);
    }
}
