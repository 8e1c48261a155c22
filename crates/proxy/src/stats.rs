//! What the multiplexer counts: plain integers, bumped on the request path
//! and published to the metrics by the driver on its tick.
//!
//! Requests are counted by operation and by how they were answered
//! ([`Outcome`]): with the server's answer (classified as the server's own
//! metrics do), or here — DISCONNECTED while the server is away, or refused
//! without asking it.

use dc_protocol::{Operation, Status};

use crate::error::LossReason;

/// How a request from a local client was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The server answered OK (ADD stored, REMOVE removed, HAVE present).
    Ok,
    /// The server answered NOTOK (REMOVE or HAVE: absent).
    NotOk,
    /// GET: the server had the session.
    Hit,
    /// GET: the server did not.
    Miss,
    /// ADD refused by the server: no session data (100).
    Corrupt,
    /// ADD refused by the server: the id is taken (101).
    MatchingSession,
    /// ADD refused by the server: timeout out of range (102).
    TimeoutRange,
    /// ADD refused by the server: id length out of range (103).
    IdRange,
    /// ADD refused by the server: data length out of range (104).
    DataRange,
    /// An answer from the server that fits none of the above (an unknown
    /// status, a multi-byte answer to a non-GET). Passed on as it came.
    Other,
    /// Answered here with DISCONNECTED (`0x02`): no usable server
    /// connection, the connection was lost with the request in flight, or
    /// the queue to the server was full.
    Disconnected,
    /// Refused here without asking the server: an ADD with bad fields
    /// (answered with the status the server would give) or too short for
    /// its header (answered DISCONNECTED, not forwarded).
    Refused,
}

impl Outcome {
    /// Every outcome, in index order.
    pub const ALL: [Outcome; 12] = [
        Outcome::Ok,
        Outcome::NotOk,
        Outcome::Hit,
        Outcome::Miss,
        Outcome::Corrupt,
        Outcome::MatchingSession,
        Outcome::TimeoutRange,
        Outcome::IdRange,
        Outcome::DataRange,
        Outcome::Other,
        Outcome::Disconnected,
        Outcome::Refused,
    ];

    /// The metric label (`result="..."`); the server's labels where they
    /// mean the same.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::NotOk => "notok",
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::Corrupt => "corrupt",
            Outcome::MatchingSession => "matching_session",
            Outcome::TimeoutRange => "timeout_range",
            Outcome::IdRange => "id_range",
            Outcome::DataRange => "data_range",
            Outcome::Other => "other",
            Outcome::Disconnected => "disconnected",
            Outcome::Refused => "refused",
        }
    }

    /// Classifies the server's answer to a request of `operation`.
    pub fn of_answer(operation: Operation, payload: &[u8]) -> Outcome {
        let status = match payload {
            [code] => Status::from_code(*code),
            // A GET answer of any other length is session data.
            _ if operation == Operation::Get => return Outcome::Hit,
            _ => return Outcome::Other,
        };
        match (operation, status) {
            (_, Some(Status::Disconnected)) => Outcome::Disconnected,
            (Operation::Get, Some(Status::NotOk)) => Outcome::Miss,
            // A one-byte session cannot be told from a status; the server
            // never sends a status but NOTOK to a GET.
            (Operation::Get, _) => Outcome::Hit,
            (_, Some(Status::Ok)) => Outcome::Ok,
            (_, Some(Status::NotOk)) => Outcome::NotOk,
            (Operation::Add, Some(Status::AddCorrupt)) => Outcome::Corrupt,
            (Operation::Add, Some(Status::AddMatchingSession)) => Outcome::MatchingSession,
            (Operation::Add, Some(Status::AddTimeoutRange)) => Outcome::TimeoutRange,
            (Operation::Add, Some(Status::AddIdRange)) => Outcome::IdRange,
            (Operation::Add, Some(Status::AddDataRange)) => Outcome::DataRange,
            _ => Outcome::Other,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Counters. Limits count here when they are hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Whole requests received from local clients.
    pub requests: u64,
    /// Requests forwarded to the server.
    pub forwarded: u64,
    /// Answers from the server passed back to a client.
    pub answered: u64,
    /// Requests answered here with DISCONNECTED.
    pub disconnected: u64,
    /// ADDs refused here with the status the server would give.
    pub refused: u64,
    /// Malformed requests answered here instead of being forwarded.
    pub malformed: u64,
    /// Requests answered with DISCONNECTED because the upstream output was
    /// full ([`UPSTREAM_OUTPUT_CAP`](crate::mux::UPSTREAM_OUTPUT_CAP)).
    pub overloaded: u64,
    /// Answers dropped because their client had left.
    pub late_answers: u64,
    /// Deletes sent to undo an ADD that some replicas stored and another
    /// refused.
    pub repairs: u64,
    /// Local clients accepted.
    pub clients: u64,
    /// Local clients refused at the `max_clients` limit (every client
    /// busy, none to close to make room).
    pub clients_refused: u64,
    /// Idle local clients closed to make room for a new one at the
    /// `max_clients` limit.
    pub clients_evicted: u64,
    /// Local clients closed for a protocol error.
    pub clients_corrupt: u64,
    /// Local clients cut off at
    /// [`CLIENT_OUTPUT_CAP`](crate::mux::CLIENT_OUTPUT_CAP).
    pub clients_cut_off: u64,
    /// Local clients closed for idleness.
    pub clients_idle: u64,
    /// Times a client's requests were left unread because it had too many
    /// waiting or too many answers unread
    /// ([`CLIENT_PIPELINE_MAX`](crate::mux::CLIENT_PIPELINE_MAX),
    /// [`CLIENT_OUTPUT_HIGH_WATER`](crate::mux::CLIENT_OUTPUT_HIGH_WATER)).
    pub throttled: u64,
    /// Connect attempts.
    pub connect_attempts: u64,
    /// Connections established.
    pub connects: u64,
    /// Established connections lost.
    pub losses: u64,
    /// Connections and connect attempts given up, by
    /// [`LossReason`] (indexed by `reason as usize`).
    pub gave_up: [u64; LossReason::ALL.len()],
    /// Requests by operation (indexed by its wire byte) and [`Outcome`]
    /// (indexed as in [`Outcome::ALL`]).
    pub outcomes: [[u64; Outcome::ALL.len()]; 4],
}

impl Stats {
    /// Counts one answered request.
    pub(crate) fn count(&mut self, operation: Operation, outcome: Outcome) {
        self.outcomes[usize::from(operation.to_byte())][outcome.index()] += 1;
    }

    /// Requests of `operation` answered with `outcome`.
    pub fn outcome(&self, operation: Operation, outcome: Outcome) -> u64 {
        self.outcomes[usize::from(operation.to_byte())][outcome.index()]
    }

    /// Connections and attempts given up for `reason`.
    pub fn gave_up(&self, reason: LossReason) -> u64 {
        self.gave_up[reason as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_like_the_servers_metrics() {
        use Operation::*;
        for (op, payload, want) in [
            (Get, &b"session data"[..], Outcome::Hit),
            (Get, &[1][..], Outcome::Miss),
            (Get, &[7][..], Outcome::Hit),
            (Get, &[2][..], Outcome::Disconnected),
            (Have, &[0][..], Outcome::Ok),
            (Remove, &[1][..], Outcome::NotOk),
            (Add, &[101][..], Outcome::MatchingSession),
            (Add, &[100][..], Outcome::Corrupt),
            (Have, &[101][..], Outcome::Other),
            (Have, &[0, 0][..], Outcome::Other),
            (Add, &[42][..], Outcome::Other),
        ] {
            assert_eq!(Outcome::of_answer(op, payload), want, "{op:?} {payload:?}");
        }
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(o.index(), i);
        }
        for (i, r) in LossReason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
    }
}
