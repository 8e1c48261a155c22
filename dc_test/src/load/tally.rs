//! What a driver thread counts: operations, answers, latencies and errors;
//! merged across threads at the end. Also why a connection was given up.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dc_protocol::{DecodeError, Operation};
use hdrhistogram::Histogram;
use nal::NalError;
use thiserror::Error;

use super::model::Answer;
use super::timeline::Timeline;
use super::workload::Pending;

/// Errors printed in full; the rest are only counted.
pub const MAX_REPORTED: usize = 10;
/// Highest latency the histogram tracks precisely, in microseconds (an
/// hour); longer ones are recorded as this.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Why a connection was given up. Each is one error; the requests it still
/// had in flight are counted as unanswered.
#[derive(Debug, Error)]
pub enum ConnectionFailure {
    /// Connecting failed.
    #[error("{0}")]
    Connect(#[from] NalError),
    /// Reading or writing failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// The server closed the connection while answers were owed.
    #[error("the server closed the connection with {pending} requests unanswered")]
    Closed {
        /// Requests in flight.
        pending: usize,
    },
    /// The answer bytes are not valid distcache 1.x.
    #[error("undecodable answer: {0}")]
    Decode(#[from] DecodeError),
    /// An answer that does not belong to the oldest request in flight.
    #[error(
        "answer uid {got_uid} ({got_op}) where uid {uid} ({op}) was due: answers out of order"
    )]
    OutOfOrder {
        /// The uid due.
        uid: u32,
        /// Its operation.
        op: Operation,
        /// The uid received.
        got_uid: u32,
        /// Its operation.
        got_op: Operation,
    },
    /// An answer with no request in flight.
    #[error("answer uid {0} with no request in flight")]
    Unsolicited(u32),
    /// Bytes from the server with no request in flight (a protocol whose
    /// answers carry no tag).
    #[error("{len} bytes from the server with no request in flight")]
    Stray {
        /// Bytes waiting.
        len: usize,
    },
    /// The client codec cannot read the answer (RESP, memcache).
    #[error("undecodable answer: {0}")]
    Codec(String),
    /// An answer by tag to a request that is not the oldest in flight, while
    /// an older one on the same id is still waiting: the order the server
    /// applied them in is unknown.
    #[error("answer tag {tag} came before the answer to an older request on the same id")]
    Overtaken {
        /// The tag of the answer.
        tag: u32,
    },
    /// No answer for too long.
    #[error("no answer for {waited:?} with {pending} requests in flight")]
    Stalled {
        /// How long nothing came.
        waited: Duration,
        /// Requests in flight.
        pending: usize,
    },
    /// A request did not fit the connection's output buffer (a bug here).
    #[error("internal error: a request did not fit the output buffer")]
    OutputFull,
}

/// Counters the progress line reads while threads run.
#[derive(Debug, Default)]
pub struct Live {
    /// Timed operations answered.
    pub ops: AtomicU64,
    /// Prefill ADDs answered.
    pub prefilled: AtomicU64,
    /// Errors.
    pub errors: AtomicU64,
}

/// Right answers by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Answers {
    /// ADDs stored.
    pub stored: u64,
    /// ADDs refused as duplicates.
    pub duplicate: u64,
    /// GET hits.
    pub hits: u64,
    /// GET misses.
    pub misses: u64,
    /// REMOVE/HAVE found.
    pub found: u64,
    /// REMOVE/HAVE not found.
    pub not_found: u64,
    /// "No cache could answer", with `--allow-outages`.
    pub unavailable: u64,
}

/// One thread's counts (or, merged, the run's).
#[derive(Debug, Clone)]
pub struct Tally {
    /// Timed operations answered (right or wrong).
    pub ops: u64,
    /// Timed operations answered, by operation (wire order).
    pub by_op: [u64; 4],
    /// Prefill ADDs answered.
    pub prefilled: u64,
    /// Right answers, timed and prefill.
    pub answers: Answers,
    /// Wrong answers and connection failures.
    pub errors: u64,
    /// Requests still in flight when their connection failed.
    pub unanswered: u64,
    /// Latency of timed operations, in microseconds.
    pub latency: Histogram<u64>,
    /// The first [`MAX_REPORTED`] errors, described.
    pub reported: Vec<String>,
    /// When the timed phase started.
    pub started: Option<Instant>,
    /// When it ended (last answer).
    pub finished: Option<Instant>,
    /// Answers per slice of the timed phase, kept for `--plot`.
    pub timeline: Option<Timeline>,
    published: (u64, u64, u64),
}

impl Default for Tally {
    fn default() -> Tally {
        Tally::new()
    }
}

impl Tally {
    /// Nothing counted yet.
    pub fn new() -> Tally {
        Tally {
            ops: 0,
            by_op: [0; 4],
            prefilled: 0,
            answers: Answers::default(),
            errors: 0,
            unanswered: 0,
            // 1 µs to an hour at 3 significant digits: constant, valid
            // bounds (low >= 1, high >= 2 * low, sigfig <= 5).
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("constant histogram bounds are valid"),
            reported: Vec::new(),
            started: None,
            finished: None,
            timeline: None,
            published: (0, 0, 0),
        }
    }

    /// The timed phase starts at `at`; with `slices`, answers are also
    /// counted per slice of that width (for `--plot`).
    pub fn start_timed(&mut self, at: Instant, slices: Option<Duration>) {
        self.started = Some(at);
        self.timeline = slices.map(|width| Timeline::new(at, width));
    }

    /// Counts an answer to `pending` read at `now` (right or wrong).
    pub fn answered(&mut self, pending: &Pending, now: Instant) {
        if pending.timed {
            self.ops += 1;
            self.by_op[usize::from(pending.operation.to_byte())] += 1;
            let us = now.saturating_duration_since(pending.sent).as_micros();
            let us = u64::try_from(us)
                .unwrap_or(u64::MAX)
                .clamp(1, MAX_LATENCY_US);
            self.latency.saturating_record(us);
            if let Some(timeline) = &mut self.timeline {
                timeline.record(now, us);
            }
        } else {
            self.prefilled += 1;
        }
    }

    /// Counts a right answer.
    pub fn right(&mut self, answer: Answer) {
        let a = &mut self.answers;
        match answer {
            Answer::Stored => a.stored += 1,
            Answer::Duplicate => a.duplicate += 1,
            Answer::Hit => a.hits += 1,
            Answer::Miss => a.misses += 1,
            Answer::Found => a.found += 1,
            Answer::NotFound => a.not_found += 1,
            Answer::Unavailable => a.unavailable += 1,
        }
    }

    /// Counts an error; `describe` is only called for the first few.
    pub fn error(&mut self, describe: impl FnOnce() -> String) {
        self.errors += 1;
        if self.reported.len() < MAX_REPORTED {
            self.reported.push(describe());
        }
    }

    /// Counts a failed connection and the requests it leaves unanswered.
    pub fn failed(&mut self, conn: usize, failure: &ConnectionFailure, pending: usize) {
        self.unanswered += pending as u64;
        self.error(|| format!("connection {conn}: {failure}"));
    }

    /// Adds what changed since the last call to the live counters.
    pub fn publish(&mut self, live: &Live) {
        let (ops, prefilled, errors) = self.published;
        live.ops.fetch_add(self.ops - ops, Ordering::Relaxed);
        live.prefilled
            .fetch_add(self.prefilled - prefilled, Ordering::Relaxed);
        live.errors
            .fetch_add(self.errors - errors, Ordering::Relaxed);
        self.published = (self.ops, self.prefilled, self.errors);
    }

    /// Adds another thread's counts.
    pub fn merge(&mut self, other: &Tally) {
        self.ops += other.ops;
        for (mine, theirs) in self.by_op.iter_mut().zip(other.by_op) {
            *mine += theirs;
        }
        self.prefilled += other.prefilled;
        let (a, b) = (&mut self.answers, other.answers);
        a.stored += b.stored;
        a.duplicate += b.duplicate;
        a.hits += b.hits;
        a.misses += b.misses;
        a.found += b.found;
        a.not_found += b.not_found;
        a.unavailable += b.unavailable;
        self.errors += other.errors;
        self.unanswered += other.unanswered;
        // Same bounds on both sides, so this cannot fail.
        let _ = self.latency.add(&other.latency);
        for line in &other.reported {
            if self.reported.len() < MAX_REPORTED {
                self.reported.push(line.clone());
            }
        }
        match (&mut self.timeline, &other.timeline) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (None, Some(theirs)) => self.timeline = Some(theirs.clone()),
            _ => {}
        }
        self.started = earliest(self.started, other.started);
        self.finished = latest(self.finished, other.finished);
    }

    /// The timed phase's length: first start to last answer.
    pub fn elapsed(&self) -> Duration {
        match (self.started, self.finished) {
            (Some(s), Some(f)) => f.saturating_duration_since(s),
            _ => Duration::ZERO,
        }
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn latest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(timed: bool, sent: Instant) -> Pending {
        Pending {
            uid: 1,
            operation: Operation::Get,
            slot: 0,
            version: 0,
            sent,
            timed,
        }
    }

    #[test]
    fn counts_merge_and_errors_are_reported_up_to_the_limit() {
        let t0 = Instant::now();
        let mut a = Tally::new();
        a.started = Some(t0);
        a.answered(&pending(true, t0), t0 + Duration::from_micros(50));
        a.answered(&pending(false, t0), t0);
        a.right(Answer::Hit);
        a.right(Answer::Stored);
        let mut b = Tally::new();
        b.finished = Some(t0 + Duration::from_secs(2));
        b.answered(&pending(true, t0), t0 + Duration::from_micros(150));
        b.right(Answer::Unavailable);
        for i in 0..MAX_REPORTED + 5 {
            b.error(|| format!("error {i}"));
        }
        let live = Live::default();
        b.publish(&live);
        b.publish(&live);
        assert_eq!(live.errors.load(Ordering::Relaxed), 15);
        assert_eq!(live.ops.load(Ordering::Relaxed), 1);
        a.merge(&b);
        assert_eq!((a.ops, a.prefilled, a.errors), (2, 1, 15));
        assert_eq!(a.by_op, [0, 2, 0, 0]);
        assert_eq!((a.answers.hits, a.answers.stored), (1, 1));
        assert_eq!(a.answers.unavailable, 1);
        assert_eq!(a.reported.len(), MAX_REPORTED);
        assert_eq!(a.reported[0], "error 0");
        assert_eq!(a.latency.len(), 2);
        assert!((49..=51).contains(&a.latency.min()));
        assert!((149..=151).contains(&a.latency.max()));
        assert_eq!(a.elapsed(), Duration::from_secs(2));
    }
}
