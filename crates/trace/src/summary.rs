//! Quiet mode: instead of a line per command, counts per command and result,
//! reported every period.
//!
//! Each periodic report covers the time since the previous one; the report
//! made when dc_snoop stops covers its whole run.

use std::collections::BTreeMap;
use std::time::Duration;

use dc_protocol::Operation;

use crate::event::{Event, EventKind, Outcome};
use crate::time::Timestamp;

/// Counts of what was seen over some span of time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Connections accepted.
    pub opened: u64,
    /// Pairs closed.
    pub closed: u64,
    /// Connections that stopped decoding on bytes that are not distcache.
    pub undecodable: u64,
    /// Requests, indexed by operation (ADD, GET, REMOVE, HAVE).
    pub requests: [u64; 4],
    /// Responses by operation and result ([`Outcome::key`]: hits and
    /// malformed answers of every size count together).
    pub responses: BTreeMap<(u8, Outcome), u64>,
}

impl Counts {
    /// Counts `event`.
    pub fn record(&mut self, event: &Event<'_>) {
        match &event.kind {
            EventKind::Opened { .. } => self.opened += 1,
            EventKind::Closed { .. } => self.closed += 1,
            EventKind::Undecodable(_) => self.undecodable += 1,
            EventKind::Request(r) => self.requests[usize::from(r.operation.to_byte())] += 1,
            EventKind::Response(r) => {
                *self
                    .responses
                    .entry((r.operation.to_byte(), r.outcome.key()))
                    .or_default() += 1
            }
        }
    }

    /// Responses counted, with their operation and result.
    pub fn responses(&self) -> impl Iterator<Item = (Operation, Outcome, u64)> + '_ {
        self.responses
            .iter()
            .filter_map(|(&(op, outcome), &n)| Operation::from_byte(op).map(|op| (op, outcome, n)))
    }

    /// Requests counted for `operation`.
    pub fn requests(&self, operation: Operation) -> u64 {
        self.requests[usize::from(operation.to_byte())]
    }
}

/// What a summary report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The time since the previous report.
    Interval,
    /// The whole run.
    Total,
}

/// One summary report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// When it was made.
    pub time: Timestamp,
    /// What it covers.
    pub scope: Scope,
    /// How long a span it covers.
    pub span: Duration,
    /// The counts over that span.
    pub counts: Counts,
    /// Pairs open when it was made.
    pub open: u64,
}

/// Gathers counts and says when a report is due.
#[derive(Debug)]
pub struct Summary {
    period: Duration,
    started: Timestamp,
    interval_start: Timestamp,
    due: Timestamp,
    interval: Counts,
    total: Counts,
}

impl Summary {
    /// A summary reported every `period` (at least a millisecond), counting
    /// from `now`.
    pub fn new(period: Duration, now: Timestamp) -> Summary {
        let period = period.max(Duration::from_millis(1));
        Summary {
            period,
            started: now,
            interval_start: now,
            due: now.saturating_add(period),
            interval: Counts::default(),
            total: Counts::default(),
        }
    }

    /// Counts `event`.
    pub fn record(&mut self, event: &Event<'_>) {
        self.interval.record(event);
        self.total.record(event);
    }

    /// When the next periodic report is due.
    pub fn due(&self) -> Timestamp {
        self.due
    }

    /// The periodic report, if it is due at `now`; its counts start again
    /// from zero. Reports that fell due while nobody asked are merged into
    /// this one rather than made up as empty ones.
    pub fn take_due(&mut self, now: Timestamp) -> Option<Report> {
        if now < self.due {
            return None;
        }
        while self.due <= now {
            self.due = self.due.saturating_add(self.period);
        }
        let report = Report {
            time: now,
            scope: Scope::Interval,
            span: now.saturating_since(self.interval_start),
            counts: std::mem::take(&mut self.interval),
            open: self.open(),
        };
        self.interval_start = now;
        Some(report)
    }

    /// The report over the whole run.
    pub fn total(&self, now: Timestamp) -> Report {
        Report {
            time: now,
            scope: Scope::Total,
            span: now.saturating_since(self.started),
            counts: self.total.clone(),
            open: self.open(),
        }
    }

    fn open(&self) -> u64 {
        self.total.opened.saturating_sub(self.total.closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{CloseReason, ResponseSeen, Totals};

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_unix_micros(ms * 1000)
    }

    fn response(op: Operation, payload: &[u8]) -> Event<'_> {
        Event {
            time: at(0),
            connection: 0,
            kind: EventKind::Response(ResponseSeen {
                uid: 1,
                operation: op,
                payload,
                outcome: Outcome::classify(op, payload),
                answers: None,
            }),
        }
    }

    #[test]
    fn counts_per_interval_and_in_total() {
        let mut summary = Summary::new(Duration::from_secs(5), at(0));
        assert_eq!(summary.due(), at(5000));
        let open = Event {
            time: at(0),
            connection: 0,
            kind: EventKind::Opened {
                client: "c",
                server: "s",
            },
        };
        summary.record(&open);
        summary.record(&response(Operation::Get, b"hello"));
        summary.record(&response(Operation::Get, b"hello, world"));
        summary.record(&response(Operation::Get, &[1]));
        assert_eq!(summary.take_due(at(4999)), None);
        let report = summary.take_due(at(5001)).unwrap();
        assert_eq!(report.scope, Scope::Interval);
        assert_eq!(report.span, Duration::from_millis(5001));
        assert_eq!(report.open, 1);
        let got: Vec<_> = report.counts.responses().collect();
        assert_eq!(
            got,
            [
                (Operation::Get, Outcome::Miss, 1),
                (Operation::Get, Outcome::Hit(0), 2)
            ]
        );
        assert_eq!(summary.due(), at(10000));

        let totals = Totals::default();
        let reason = CloseReason::Finished;
        summary.record(&Event {
            time: at(6000),
            connection: 0,
            kind: EventKind::Closed {
                reason: &reason,
                totals: &totals,
            },
        });
        // Missed periods are merged into one report.
        let report = summary.take_due(at(21000)).unwrap();
        assert_eq!(report.span, Duration::from_millis(15999));
        assert_eq!(report.counts.closed, 1);
        assert_eq!(report.counts.responses().count(), 0);
        assert_eq!(summary.due(), at(25000));

        let total = summary.total(at(22000));
        assert_eq!(total.scope, Scope::Total);
        assert_eq!(total.counts.opened, 1);
        assert_eq!(total.counts.closed, 1);
        assert_eq!(total.open, 0);
        assert_eq!(total.counts.responses().map(|r| r.2).sum::<u64>(), 3);
    }
}
