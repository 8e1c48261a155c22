//! Counters of handled requests and the original's activity line.

use std::fmt;

use dc_protocol::{Operation, Status};

/// Every status a server can answer, in a fixed order (for counting).
pub const STATUSES: [Status; 8] = [
    Status::Ok,
    Status::NotOk,
    Status::Disconnected,
    Status::AddCorrupt,
    Status::AddMatchingSession,
    Status::AddTimeoutRange,
    Status::AddIdRange,
    Status::AddDataRange,
];

fn slot(status: Status) -> usize {
    STATUSES.iter().position(|&s| s == status).unwrap_or(0)
}

/// Requests handled, by operation and answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpStats {
    /// Every request answered (the original's "total operations").
    pub operations: u64,
    /// Answers per operation (indexed by the operation's wire byte) and
    /// status (indexed as in [`STATUSES`]). A GET hit counts as `Ok`.
    pub answers: [[u64; STATUSES.len()]; 4],
}

/// Success and failure counts of one operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcomes {
    /// Answered `OK` (ADD stored, GET hit, REMOVE removed, HAVE present).
    pub ok: u64,
    /// Any other answer.
    pub not_ok: u64,
}

impl OpStats {
    /// Counts one answered request.
    pub fn count(&mut self, operation: Operation, status: Status) {
        self.operations += 1;
        self.answers[usize::from(operation.to_byte())][slot(status)] += 1;
    }

    /// How many requests of `operation` were answered with `status`.
    pub fn answered(&self, operation: Operation, status: Status) -> u64 {
        self.answers[usize::from(operation.to_byte())][slot(status)]
    }

    /// The success and failure counts of one operation.
    pub fn of(&self, operation: Operation) -> Outcomes {
        let row = &self.answers[usize::from(operation.to_byte())];
        let ok = row[slot(Status::Ok)];
        Outcomes {
            ok,
            not_ok: row.iter().sum::<u64>() - ok,
        }
    }
}

/// The periodic activity line, in the original's layout:
/// `total operations = %7lu  (+ %5lu), total sessions = %5u  (%c%3u)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgressLine {
    /// Requests handled since start.
    pub operations: u64,
    /// Requests handled since the previous line.
    pub operations_delta: u64,
    /// Sessions stored now.
    pub sessions: usize,
    /// Sessions stored at the previous line.
    pub previous_sessions: usize,
}

impl fmt::Display for ProgressLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (sign, change) = match self.sessions.cmp(&self.previous_sessions) {
            std::cmp::Ordering::Greater => ('+', self.sessions - self.previous_sessions),
            std::cmp::Ordering::Less => ('-', self.previous_sessions - self.sessions),
            std::cmp::Ordering::Equal => ('=', 0),
        };
        write!(
            f,
            "total operations = {:7}  (+ {:5}), total sessions = {:5}  ({}{:3})",
            self.operations, self.operations_delta, self.sessions, sign, change
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_line_matches_the_original_layout() {
        let line = ProgressLine {
            operations: 1000,
            operations_delta: 250,
            sessions: 40,
            previous_sessions: 47,
        };
        assert_eq!(
            line.to_string(),
            "total operations =    1000  (+   250), total sessions =    40  (-  7)"
        );
        let same = ProgressLine {
            previous_sessions: 40,
            ..line
        };
        assert!(same.to_string().ends_with("(=  0)"));
    }

    #[test]
    fn counts_by_operation_and_answer() {
        let mut s = OpStats::default();
        s.count(Operation::Get, Status::Ok);
        s.count(Operation::Get, Status::NotOk);
        s.count(Operation::Add, Status::AddMatchingSession);
        assert_eq!(s.operations, 3);
        assert_eq!(s.of(Operation::Get), Outcomes { ok: 1, not_ok: 1 });
        assert_eq!(s.of(Operation::Add), Outcomes { ok: 0, not_ok: 1 });
        assert_eq!(s.answered(Operation::Add, Status::AddMatchingSession), 1);
    }
}
