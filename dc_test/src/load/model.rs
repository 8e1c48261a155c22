//! What the cache must answer: one state per id, updated from every answer
//! in the order the server applied the requests.
//!
//! Each id belongs to exactly one connection (the id space is partitioned,
//! see [`IdShare`](super::workload::IdShare)), and a server applies one
//! connection's requests in order. So when answers are settled in the order
//! they arrive, the state here is the server's state for that id just
//! before it handled the request, and the one right answer is known:
//!
//! | request  | id absent          | id present (version v)            |
//! |----------|--------------------|-----------------------------------|
//! | ADD      | OK (0)             | MATCHING_SESSION (101)            |
//! | GET      | miss (1)           | exactly the bytes of version v    |
//! | REMOVE   | absent (1)         | removed (0)                       |
//! | HAVE     | absent (1)         | present (0)                       |
//!
//! **Expiry.** Every ADD asks for `ttl_ms`. The server starts that clock
//! when it handles the ADD, at some moment between our sending it and our
//! receiving the answer, and likewise for every later request. Near the
//! deadline the model cannot know whether the session is still there: a
//! request is certain to find it live only if it was answered more than
//! [`TTL_MARGIN_MS`] before `ADD sent + ttl`, and certain to find it gone
//! only if it was sent more than [`TTL_MARGIN_MS`] after `ADD answered +
//! ttl`. In between either answer is accepted ("maybe present"), and the
//! answer teaches the model: a miss means the session has expired.
//!
//! **Eviction.** The model assumes the server never evicts: keep `--ids`
//! times the data within the server's `-sessions` and `-memory`. With
//! `--allow-evictions` every present id is only "maybe present", so a
//! missing session is not an error; bytes that do come back must still be
//! exactly right.
//!
//! **After a wrong answer** the model follows what the server said where
//! that is unambiguous (a miss means absent, a stored ADD means present),
//! and otherwise marks the id "unknown" — any well-formed answer accepted,
//! hits still checked to be an intact version of that id — so one fault is
//! counted once rather than again at every later request on the id.

use std::fmt;

use dc_ops::Reply;
use dc_protocol::{Operation, Response, Status};

use super::data::{Identity, Keyspace};

/// Slack on both sides of the expiry window, in milliseconds. It covers the
/// server's whole-millisecond clock (a session lives until `now >
/// expires_at`, up to 1 ms past its lifetime) and the rounding of our own
/// timestamps, with room to spare.
pub const TTL_MARGIN_MS: u64 = 20;

/// An answer, as the wire gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// A distcache answer's payload: a status byte or the session.
    Payload(&'a [u8]),
    /// A client codec's reply (RESP, memcache). ADD → `Stored` (OK) or
    /// `NotStored` (already there); GET → `Value` (checked byte for byte)
    /// or `NotFound` (a miss); REMOVE → `Deleted` or `NotFound`; HAVE →
    /// `Found` or `NotFound`. Anything else is a wrong answer.
    Reply(Reply<'a>),
}

/// When a request was sent and when its answer was read, in milliseconds
/// since the run's origin (sent rounded down, answered rounded up). The
/// server handled the request somewhere in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Sent at or after this.
    pub sent_ms: u64,
    /// Answered at or before this.
    pub answered_ms: u64,
}

/// Whether an id is stored, as far as the model knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presence {
    Absent,
    Present,
    /// After a wrong answer: see the module doc.
    Unknown,
}

/// One id's state: 16 bytes, so tens of millions of ids fit in memory.
#[derive(Debug, Clone, Copy)]
struct IdState {
    presence: Presence,
    /// The version of the ADD that stored the session (when present).
    version: u32,
    /// The session expires no earlier than this (ms since origin)...
    expires_lo: u32,
    /// ...and no later than this.
    expires_hi: u32,
    /// An ADD or REMOVE of this id was answered "no cache could answer"
    /// (with `--allow-outages`): the server may still apply it, late, after
    /// later requests on a new link. From then on the id's presence is
    /// never held against the server, only its bytes.
    limbo: bool,
}

const ABSENT: IdState = IdState {
    presence: Presence::Absent,
    version: 0,
    expires_lo: 0,
    expires_hi: 0,
    limbo: false,
};

/// What the model expects of the server for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Belief {
    /// Certainly not stored.
    Absent,
    /// Certainly stored, with the data of this version.
    Present {
        /// The version of the ADD that stored it.
        version: u32,
    },
    /// Stored with this version, or expired (or evicted, when allowed).
    Maybe {
        /// The version of the ADD that stored it.
        version: u32,
    },
    /// Lost track after a wrong answer.
    Unknown,
}

impl fmt::Display for Belief {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Belief::Absent => f.write_str("absent"),
            Belief::Present { version } => write!(f, "present, version {version}"),
            Belief::Maybe { version } => {
                write!(f, "present (version {version}) or expired/evicted")
            }
            Belief::Unknown => f.write_str("unknown after an earlier wrong answer"),
        }
    }
}

/// A right answer, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// ADD stored the session.
    Stored,
    /// ADD found the id already stored.
    Duplicate,
    /// GET returned the session.
    Hit,
    /// GET missed.
    Miss,
    /// REMOVE removed, or HAVE found, the session.
    Found,
    /// REMOVE or HAVE did not find it.
    NotFound,
    /// The proxy said no cache could answer (distcache DISCONNECTED, or a
    /// codec's `Unavailable`), and outages are tolerated.
    Unavailable,
}

/// What was wrong with an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// An ADD of an absent id was refused with this status code.
    AddRefused(u8),
    /// An ADD of a present id said it stored the session.
    AddStored,
    /// A GET of a present id missed.
    Missed,
    /// A GET of an absent id returned data.
    HitAbsent(Identity),
    /// A GET returned other bytes than the stored session's.
    WrongData {
        /// The version the model expected (`None`: any intact version).
        expected_version: Option<u32>,
        /// Its length.
        expected_len: Option<usize>,
        /// What came back.
        got: Identity,
    },
    /// REMOVE or HAVE said "found" for an absent id.
    FoundAbsent,
    /// REMOVE or HAVE said "not found" for a present id.
    NotFoundPresent,
    /// A codec's reply that is no answer to this operation (an error, a
    /// counter, a value to a REMOVE...), described.
    Reply(String),
    /// An answer that is no valid answer to this operation at all.
    Unexpected {
        /// The payload length.
        len: usize,
        /// Its first byte, if any.
        first: Option<u8>,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::AddRefused(code) => {
                write!(f, "refused with {}, expected OK (0)", status(*code))
            }
            Problem::AddStored => f.write_str("stored it again, expected MATCHING_SESSION (101)"),
            Problem::Missed => f.write_str("missed, expected the stored session"),
            Problem::HitAbsent(got) => write!(f, "returned {got}, expected a miss"),
            Problem::WrongData {
                expected_version,
                expected_len,
                got,
            } => {
                match (expected_version, expected_len) {
                    (Some(v), Some(len)) => write!(f, "expected version {v} ({len} bytes)")?,
                    _ => f.write_str("expected an intact version of this id")?,
                }
                write!(f, ", got {got}")?;
                if let (Identity::Session { version, .. }, Some(v)) = (got, expected_version) {
                    if version < v {
                        f.write_str(" (stale)")?;
                    }
                }
                Ok(())
            }
            Problem::FoundAbsent => f.write_str("said found, expected not found"),
            Problem::NotFoundPresent => f.write_str("said not found, expected found"),
            Problem::Reply(reply) => write!(f, "answered {reply}, which is no answer to it"),
            Problem::Unexpected { len, first } => match (len, first) {
                (0, _) => f.write_str(
                    "answered with an empty payload (a dc_client proxy without a server?)",
                ),
                (1, Some(code)) => {
                    write!(f, "answered {}, which is no answer to it", status(*code))
                }
                (len, _) => write!(f, "answered {len} bytes where a status byte was expected"),
            },
        }
    }
}

fn status(code: u8) -> String {
    match Status::from_code(code) {
        Some(s) => s.to_string(),
        None => format!("unknown status {code}"),
    }
}

/// A wrong answer, with what the model knew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrongAnswer {
    /// The request's operation.
    pub operation: Operation,
    /// The id's index.
    pub index: u32,
    /// What the model expected.
    pub belief: Belief,
    /// What was wrong.
    pub problem: Problem,
}

impl fmt::Display for WrongAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of id #{} {} (the id was {})",
            self.operation, self.index, self.problem, self.belief
        )
    }
}

/// The states of one connection's ids, indexed by slot (see
/// [`IdShare`](super::workload::IdShare)).
#[derive(Debug, Clone)]
pub struct Model {
    states: Vec<IdState>,
    ttl_ms: u32,
    allow_evictions: bool,
    /// Whether "no cache could answer" is a right answer.
    allow_outages: bool,
    /// Slack on both sides of the expiry window.
    margin_ms: u64,
}

impl Model {
    /// `ids` absent ids; ADDs ask for `ttl_ms`.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn new(ids: usize, ttl_ms: u32, allow_evictions: bool) -> Model {
        Model::with_margin(ids, ttl_ms, allow_evictions, TTL_MARGIN_MS)
    }

    /// The same with `margin_ms` of slack around each expiry instead of
    /// [`TTL_MARGIN_MS`] (memcached's clock ticks once a second).
    pub fn with_margin(ids: usize, ttl_ms: u32, allow_evictions: bool, margin_ms: u64) -> Model {
        Model {
            states: vec![ABSENT; ids],
            ttl_ms,
            allow_evictions,
            allow_outages: false,
            margin_ms,
        }
    }

    /// Tolerates outages: a proxy's "no cache could answer" is then right,
    /// and leaves an ADD's or REMOVE's id unknown (the server may have
    /// applied it before the link failed).
    pub fn with_outages(self, allow_outages: bool) -> Model {
        Model {
            allow_outages,
            ..self
        }
    }

    /// What the server must hold for `slot` for a request sent and answered
    /// in `window`.
    pub fn belief(&self, slot: usize, window: Window) -> Belief {
        let Some(state) = self.states.get(slot) else {
            return Belief::Unknown;
        };
        match state.presence {
            Presence::Absent => Belief::Absent,
            Presence::Unknown => Belief::Unknown,
            Presence::Present => {
                let version = state.version;
                if window.sent_ms > u64::from(state.expires_hi) + self.margin_ms {
                    Belief::Absent
                } else if !self.allow_evictions
                    && window.answered_ms + self.margin_ms < u64::from(state.expires_lo)
                {
                    Belief::Present { version }
                } else {
                    Belief::Maybe { version }
                }
            }
        }
    }

    /// Checks the answer `outcome` to `operation` on `slot` (id `index`;
    /// `version` is the ADD's), sent and answered in `window`, and moves
    /// the id to its new state.
    #[allow(clippy::too_many_arguments)]
    pub fn settle(
        &mut self,
        slot: usize,
        index: u32,
        operation: Operation,
        version: u32,
        outcome: Outcome<'_>,
        window: Window,
        keyspace: &Keyspace,
    ) -> Result<Answer, WrongAnswer> {
        let belief = self.belief(slot, window);
        let was_limbo = self.states.get(slot).is_some_and(|s| s.limbo);
        let mut limbo = was_limbo;
        let (outcome, next) = if self.allow_outages && is_outage(operation, outcome) {
            let next = match operation {
                Operation::Add | Operation::Remove => {
                    limbo = true;
                    Next::Unknown
                }
                Operation::Get | Operation::Have => Next::Same,
            };
            (Ok(Answer::Unavailable), next)
        } else {
            match judge(belief, operation, index, outcome, keyspace) {
                (Err(problem), next) if was_limbo => match late_write(&problem, operation, index) {
                    Some((answer, next)) => (Ok(answer), next),
                    None => (Err(problem), next),
                },
                judged => judged,
            }
        };
        if let Some(state) = self.states.get_mut(slot) {
            *state = match next {
                Next::Same => *state,
                Next::Absent => ABSENT,
                Next::Unknown => IdState {
                    presence: Presence::Unknown,
                    ..ABSENT
                },
                Next::Stored => IdState {
                    presence: Presence::Present,
                    version,
                    expires_lo: ms_u32(window.sent_ms + u64::from(self.ttl_ms)),
                    expires_hi: ms_u32(window.answered_ms + u64::from(self.ttl_ms)),
                    limbo: false,
                },
            };
            state.limbo = limbo;
        }
        outcome.map_err(|problem| WrongAnswer {
            operation,
            index,
            belief,
            problem,
        })
    }
}

/// For an id in limbo, the answer a late ADD or REMOVE explains, and the
/// id's next state: any disagreement about presence, and this id's own
/// intact bytes of another version. Another id's bytes, corrupt bytes and
/// malformed answers are never explained.
fn late_write(problem: &Problem, operation: Operation, index: u32) -> Option<(Answer, Next)> {
    let own = |got: &Identity| matches!(got, Identity::Session { index: i, .. } if *i == index);
    match problem {
        Problem::AddRefused(code) if *code == Status::AddMatchingSession as u8 => {
            Some((Answer::Duplicate, Next::Unknown))
        }
        Problem::AddStored => Some((Answer::Stored, Next::Stored)),
        Problem::Missed => Some((Answer::Miss, Next::Absent)),
        Problem::HitAbsent(got) | Problem::WrongData { got, .. } if own(got) => {
            Some((Answer::Hit, Next::Unknown))
        }
        Problem::FoundAbsent => Some(match operation {
            Operation::Remove => (Answer::Found, Next::Absent),
            _ => (Answer::Found, Next::Unknown),
        }),
        Problem::NotFoundPresent => Some((Answer::NotFound, Next::Absent)),
        _ => None,
    }
}

/// Whether `outcome` is a proxy's "no cache could answer".
fn is_outage(operation: Operation, outcome: Outcome<'_>) -> bool {
    match outcome {
        Outcome::Payload(payload) => matches!(
            Response::parse(operation, payload),
            Ok(Response::Status(code)) if code == Status::Disconnected as u8
        ),
        Outcome::Reply(reply) => reply == Reply::Unavailable,
    }
}

/// Times are kept in 32 bits (49 days), saturating beyond.
fn ms_u32(ms: u64) -> u32 {
    u32::try_from(ms).unwrap_or(u32::MAX)
}

/// How an answer moves an id's state.
enum Next {
    Same,
    Absent,
    Unknown,
    /// Present with the ADD's version, expiring `ttl` after the window.
    Stored,
}

fn judge(
    belief: Belief,
    operation: Operation,
    index: u32,
    outcome: Outcome<'_>,
    keyspace: &Keyspace,
) -> (Result<Answer, Problem>, Next) {
    let (code, payload) = match outcome {
        Outcome::Payload(payload) => {
            // Status answers; Response::parse refuses multi-byte non-GET
            // answers.
            let code = match Response::parse(operation, payload) {
                Ok(Response::Status(code)) => Some(code),
                Ok(Response::Session(_)) => None,
                Ok(Response::Empty) | Err(_) => {
                    let unexpected = Problem::Unexpected {
                        len: payload.len(),
                        first: payload.first().copied(),
                    };
                    return (Err(unexpected), Next::Unknown);
                }
            };
            (code, payload)
        }
        Outcome::Reply(reply) => match reply_code(operation, reply) {
            Ok(code) => code,
            Err(problem) => return (Err(problem), Next::Unknown),
        },
    };
    let unexpected = || Problem::Unexpected {
        len: payload.len(),
        first: payload.first().copied(),
    };
    let present = matches!(belief, Belief::Present { .. });
    let absent = belief == Belief::Absent;
    const OK: Option<u8> = Some(Status::Ok as u8);
    const NOT_OK: Option<u8> = Some(Status::NotOk as u8);
    const MATCHING: Option<u8> = Some(Status::AddMatchingSession as u8);
    match operation {
        Operation::Add => match code {
            OK if present => (Err(Problem::AddStored), Next::Stored),
            OK => (Ok(Answer::Stored), Next::Stored),
            MATCHING if absent => (Err(Problem::AddRefused(101)), Next::Unknown),
            MATCHING => (Ok(Answer::Duplicate), Next::Same),
            Some(code) if absent => (Err(Problem::AddRefused(code)), Next::Unknown),
            _ => (Err(unexpected()), Next::Unknown),
        },
        Operation::Get => match code {
            NOT_OK if present => (Err(Problem::Missed), Next::Absent),
            NOT_OK => (Ok(Answer::Miss), Next::Absent),
            Some(_) => (Err(unexpected()), Next::Unknown),
            None => judge_hit(belief, index, payload, keyspace),
        },
        Operation::Remove | Operation::Have => {
            // REMOVE leaves the id absent either way; HAVE changes nothing,
            // but "not found" settles a maybe.
            let after_found = match operation {
                Operation::Remove => Next::Absent,
                _ => Next::Same,
            };
            match code {
                OK if absent => (Err(Problem::FoundAbsent), Next::Unknown),
                OK => (Ok(Answer::Found), after_found),
                NOT_OK if present => (Err(Problem::NotFoundPresent), Next::Absent),
                NOT_OK => (Ok(Answer::NotFound), Next::Absent),
                _ => (Err(unexpected()), Next::Unknown),
            }
        }
    }
}

/// A codec's reply as the distcache answer the rules are written in: the
/// status code, or `None` and the session for a GET hit.
fn reply_code<'a>(
    operation: Operation,
    reply: Reply<'a>,
) -> Result<(Option<u8>, &'a [u8]), Problem> {
    const OK: u8 = Status::Ok as u8;
    const NOT_OK: u8 = Status::NotOk as u8;
    const MATCHING: u8 = Status::AddMatchingSession as u8;
    let code = match (operation, reply) {
        (Operation::Get, Reply::Value { data, .. }) => return Ok((None, data)),
        (Operation::Add, Reply::Stored) => OK,
        (Operation::Add, Reply::NotStored) => MATCHING,
        (Operation::Get | Operation::Remove | Operation::Have, Reply::NotFound) => NOT_OK,
        (Operation::Remove, Reply::Deleted) => OK,
        (Operation::Have, Reply::Found) => OK,
        (_, Reply::Value { data, flags }) => {
            return Err(Problem::Reply(format!(
                "a value of {} bytes (flags {flags})",
                data.len()
            )))
        }
        (_, other) => return Err(Problem::Reply(format!("{other:?}"))),
    };
    Ok((Some(code), &[]))
}

fn judge_hit(
    belief: Belief,
    index: u32,
    data: &[u8],
    keyspace: &Keyspace,
) -> (Result<Answer, Problem>, Next) {
    match belief {
        Belief::Absent => (
            Err(Problem::HitAbsent(keyspace.identify(data))),
            Next::Unknown,
        ),
        Belief::Present { version } | Belief::Maybe { version } => {
            if keyspace.matches(index, version, data) {
                (Ok(Answer::Hit), Next::Same)
            } else {
                let problem = Problem::WrongData {
                    expected_version: Some(version),
                    expected_len: Some(keyspace.data_len(index, version)),
                    got: keyspace.identify(data),
                };
                (Err(problem), Next::Unknown)
            }
        }
        Belief::Unknown => match keyspace.identify(data) {
            Identity::Session { index: got, .. } if got == index => (Ok(Answer::Hit), Next::Same),
            other => (
                Err(Problem::WrongData {
                    expected_version: None,
                    expected_len: None,
                    got: other,
                }),
                Next::Unknown,
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: u32 = 10_000;

    struct Fixture {
        model: Model,
        keyspace: Keyspace,
    }

    impl Fixture {
        fn new(allow_evictions: bool) -> Fixture {
            Fixture {
                model: Model::new(4, TTL, allow_evictions),
                keyspace: Keyspace::new(77, 32, 24, 300),
            }
        }

        fn data(&self, slot: usize, version: u32) -> Vec<u8> {
            let mut out = Vec::new();
            self.keyspace.write_data(slot as u32, version, &mut out);
            out
        }

        fn send(
            &mut self,
            slot: usize,
            operation: Operation,
            version: u32,
            payload: &[u8],
            at: (u64, u64),
        ) -> Result<Answer, WrongAnswer> {
            let window = Window {
                sent_ms: at.0,
                answered_ms: at.1,
            };
            self.model.settle(
                slot,
                slot as u32,
                operation,
                version,
                Outcome::Payload(payload),
                window,
                &self.keyspace,
            )
        }

        fn problem(
            &mut self,
            slot: usize,
            operation: Operation,
            version: u32,
            payload: &[u8],
            at: (u64, u64),
        ) -> Problem {
            self.send(slot, operation, version, payload, at)
                .expect_err("a wrong answer")
                .problem
        }
    }

    use Operation::{Add, Get, Have, Remove};

    #[test]
    fn an_id_costs_16_bytes() {
        assert_eq!(std::mem::size_of::<IdState>(), 16);
    }
    const T: (u64, u64) = (100, 101);

    #[test]
    fn outages_are_errors_unless_allowed_and_then_leave_writes_unknown() {
        const DISCONNECTED: &[u8] = &[Status::Disconnected as u8];
        let mut strict = Fixture::new(false);
        assert!(matches!(
            strict.problem(0, Get, 0, DISCONNECTED, T),
            Problem::Unexpected { .. }
        ));

        let mut f = Fixture::new(false);
        f.model = f.model.clone().with_outages(true);
        let later = Window {
            sent_ms: 200,
            answered_ms: 201,
        };
        // A GET or HAVE that could not be answered changes nothing.
        assert_eq!(f.send(0, Get, 0, DISCONNECTED, T), Ok(Answer::Unavailable));
        assert_eq!(f.model.belief(0, later), Belief::Absent);
        // An ADD may have reached the server before the link broke.
        assert_eq!(f.send(0, Add, 5, DISCONNECTED, T), Ok(Answer::Unavailable));
        assert_eq!(f.model.belief(0, later), Belief::Unknown);
        // Either answer is then right, but not another session's bytes.
        let data = f.data(0, 5);
        assert_eq!(f.send(0, Get, 0, &data, T), Ok(Answer::Hit));
        let other = f.data(1, 5);
        assert!(matches!(
            f.problem(0, Get, 0, &other, T),
            Problem::WrongData { .. }
        ));
        // The codecs' Unavailable counts the same way.
        let reply = f.model.settle(
            2,
            2,
            Remove,
            0,
            Outcome::Reply(Reply::Unavailable),
            later,
            &f.keyspace,
        );
        assert_eq!(reply, Ok(Answer::Unavailable));
        assert_eq!(f.model.belief(2, later), Belief::Unknown);
    }

    #[test]
    fn a_late_write_explains_presence_but_never_other_bytes() {
        const DISCONNECTED: &[u8] = &[Status::Disconnected as u8];
        let mut f = Fixture::new(false);
        f.model = f.model.clone().with_outages(true);
        // ADD v5 fails over; REMOVE then finds nothing; the late ADD lands.
        assert_eq!(f.send(0, Add, 5, DISCONNECTED, T), Ok(Answer::Unavailable));
        assert_eq!(f.send(0, Remove, 0, &[1], T), Ok(Answer::NotFound));
        let data = f.data(0, 5);
        assert_eq!(f.send(0, Get, 0, &data, T), Ok(Answer::Hit));
        assert_eq!(f.send(0, Add, 6, &[101], T), Ok(Answer::Duplicate));
        // Still: another id's bytes are wrong.
        assert_eq!(f.send(0, Remove, 0, &[0], T), Ok(Answer::Found));
        let other = f.data(1, 5);
        assert!(matches!(
            f.problem(0, Get, 0, &other, T),
            Problem::HitAbsent(_)
        ));
        // An id never in limbo keeps the strict rules.
        assert_eq!(f.send(1, Add, 7, &[0], T), Ok(Answer::Stored));
        assert_eq!(f.problem(1, Get, 0, &[1], T), Problem::Missed);
    }

    #[test]
    fn right_answers_on_an_absent_then_present_id() {
        let mut f = Fixture::new(false);
        assert_eq!(f.send(0, Get, 0, &[1], T), Ok(Answer::Miss));
        assert_eq!(f.send(0, Have, 0, &[1], T), Ok(Answer::NotFound));
        assert_eq!(f.send(0, Remove, 0, &[1], T), Ok(Answer::NotFound));
        assert_eq!(f.send(0, Add, 5, &[0], T), Ok(Answer::Stored));
        assert_eq!(
            f.model.belief(
                0,
                Window {
                    sent_ms: 200,
                    answered_ms: 201
                }
            ),
            Belief::Present { version: 5 }
        );
        assert_eq!(f.send(0, Add, 6, &[101], T), Ok(Answer::Duplicate));
        let data = f.data(0, 5);
        assert_eq!(f.send(0, Get, 0, &data, T), Ok(Answer::Hit));
        assert_eq!(f.send(0, Have, 0, &[0], T), Ok(Answer::Found));
        assert_eq!(f.send(0, Remove, 0, &[0], T), Ok(Answer::Found));
        assert_eq!(f.send(0, Get, 0, &[1], T), Ok(Answer::Miss));
        // Other ids were never touched.
        assert_eq!(
            f.model.belief(
                1,
                Window {
                    sent_ms: 0,
                    answered_ms: 1
                }
            ),
            Belief::Absent
        );
    }

    #[test]
    fn each_wrong_answer_on_an_absent_id_is_caught() {
        let mut f = Fixture::new(false);
        assert_eq!(f.problem(0, Add, 1, &[101], T), Problem::AddRefused(101));
        assert_eq!(f.problem(1, Add, 1, &[103], T), Problem::AddRefused(103));
        let data = f.data(2, 1);
        assert_eq!(
            f.problem(2, Get, 0, &data, T),
            Problem::HitAbsent(Identity::Session {
                index: 2,
                version: 1
            })
        );
        assert_eq!(f.problem(3, Remove, 0, &[0], T), Problem::FoundAbsent);
        let mut f = Fixture::new(false);
        assert_eq!(f.problem(0, Have, 0, &[0], T), Problem::FoundAbsent);
    }

    #[test]
    fn each_wrong_answer_on_a_present_id_is_caught() {
        let mut f = Fixture::new(false);
        for slot in 0..4 {
            f.send(slot, Add, 7, &[0], T).unwrap();
        }
        assert_eq!(f.problem(0, Add, 8, &[0], T), Problem::AddStored);
        assert_eq!(f.problem(1, Get, 0, &[1], T), Problem::Missed);
        assert_eq!(f.problem(2, Remove, 0, &[1], T), Problem::NotFoundPresent);
        assert_eq!(f.problem(3, Have, 0, &[1], T), Problem::NotFoundPresent);

        let mut f = Fixture::new(false);
        for slot in 0..4 {
            f.send(slot, Add, 7, &[0], T).unwrap();
        }
        // Corrupt: one flipped byte.
        let mut corrupt = f.data(0, 7);
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0x80;
        let p = f.problem(0, Get, 0, &corrupt, T);
        assert!(
            matches!(
                p,
                Problem::WrongData {
                    got: Identity::Corrupt(_),
                    ..
                }
            ),
            "{p:?}"
        );
        assert!(p.to_string().contains("corrupt"), "{p}");
        // Stale: an older version of the same id.
        let stale = f.data(1, 6);
        let p = f.problem(1, Get, 0, &stale, T);
        assert_eq!(
            p,
            Problem::WrongData {
                expected_version: Some(7),
                expected_len: Some(f.keyspace.data_len(1, 7)),
                got: Identity::Session {
                    index: 1,
                    version: 6
                }
            }
        );
        assert!(p.to_string().ends_with("(stale)"), "{p}");
        // Another id's data.
        let other = f.data(3, 7);
        let p = f.problem(2, Get, 0, &other, T);
        assert!(p.to_string().contains("id #3"), "{p}");
        // Status codes that answer nothing.
        assert!(matches!(
            f.problem(3, Get, 0, &[2], T),
            Problem::Unexpected {
                len: 1,
                first: Some(2)
            }
        ));
    }

    #[test]
    fn malformed_answers_are_caught_whatever_the_state() {
        let mut f = Fixture::new(false);
        assert_eq!(
            f.problem(0, Get, 0, &[], T),
            Problem::Unexpected {
                len: 0,
                first: None
            }
        );
        assert_eq!(
            f.problem(1, Have, 0, &[0, 0], T),
            Problem::Unexpected {
                len: 2,
                first: Some(0)
            }
        );
        assert_eq!(
            f.problem(2, Remove, 0, &[7], T),
            Problem::Unexpected {
                len: 1,
                first: Some(7)
            }
        );
        f.send(3, Add, 1, &[0], T).unwrap();
        assert_eq!(
            f.problem(3, Add, 2, &[2], T),
            Problem::Unexpected {
                len: 1,
                first: Some(2)
            }
        );
        let text = f.send(0, Get, 0, &[], T).unwrap_err().to_string();
        assert!(
            text.starts_with("GET of id #0 answered with an empty payload"),
            "{text}"
        );
    }

    #[test]
    fn codec_replies_are_judged_by_the_same_rules() {
        let mut f = Fixture::new(false);
        fn reply(
            f: &mut Fixture,
            slot: usize,
            op: Operation,
            version: u32,
            r: Reply<'_>,
        ) -> Result<Answer, Problem> {
            let window = Window {
                sent_ms: T.0,
                answered_ms: T.1,
            };
            let keyspace = f.keyspace;
            f.model
                .settle(
                    slot,
                    slot as u32,
                    op,
                    version,
                    Outcome::Reply(r),
                    window,
                    &keyspace,
                )
                .map_err(|w| w.problem)
        }
        assert_eq!(reply(&mut f, 0, Get, 0, Reply::NotFound), Ok(Answer::Miss));
        assert_eq!(
            reply(&mut f, 0, Remove, 0, Reply::NotFound),
            Ok(Answer::NotFound)
        );
        assert_eq!(
            reply(&mut f, 0, Have, 0, Reply::NotFound),
            Ok(Answer::NotFound)
        );
        assert_eq!(reply(&mut f, 0, Add, 3, Reply::Stored), Ok(Answer::Stored));
        assert_eq!(
            reply(&mut f, 0, Add, 4, Reply::NotStored),
            Ok(Answer::Duplicate)
        );
        let data = f.data(0, 3);
        let value = Reply::Value {
            data: &data,
            flags: 0,
        };
        assert_eq!(reply(&mut f, 0, Get, 0, value), Ok(Answer::Hit));
        assert_eq!(reply(&mut f, 0, Have, 0, Reply::Found), Ok(Answer::Found));
        assert_eq!(
            reply(&mut f, 0, Remove, 0, Reply::Deleted),
            Ok(Answer::Found)
        );
        // Wrong by the rules, or no answer to the operation at all.
        assert_eq!(
            reply(&mut f, 0, Add, 5, Reply::NotStored),
            Err(Problem::AddRefused(101))
        );
        reply(&mut f, 1, Add, 1, Reply::Stored).unwrap();
        assert_eq!(
            reply(&mut f, 1, Get, 0, Reply::NotFound),
            Err(Problem::Missed)
        );
        reply(&mut f, 2, Add, 1, Reply::Stored).unwrap();
        let stale = f.data(2, 0);
        let stale = Reply::Value {
            data: &stale,
            flags: 0,
        };
        assert!(matches!(
            reply(&mut f, 2, Get, 0, stale),
            Err(Problem::WrongData { .. })
        ));
        let p = reply(&mut f, 3, Remove, 0, Reply::Unavailable).unwrap_err();
        assert_eq!(
            p.to_string(),
            "answered Unavailable, which is no answer to it"
        );
        let p = reply(&mut f, 3, Remove, 0, value).unwrap_err();
        assert!(p.to_string().contains("a value of"), "{p}");
        assert!(reply(&mut f, 3, Add, 1, Reply::Deleted).is_err());
    }

    #[test]
    fn one_fault_is_counted_once() {
        let mut f = Fixture::new(false);
        f.send(0, Add, 1, &[0], T).unwrap();
        // A lost session: reported once, then the model follows the server.
        assert!(f.send(0, Get, 0, &[1], T).is_err());
        assert_eq!(f.send(0, Get, 0, &[1], T), Ok(Answer::Miss));
        assert_eq!(f.send(0, Add, 2, &[0], T), Ok(Answer::Stored));
        // Corrupt data: reported, then the id is unknown; intact data of
        // the id is accepted, anything else is still an error.
        let mut bad = f.data(0, 2);
        bad[30] ^= 1;
        assert!(f.send(0, Get, 0, &bad, T).is_err());
        assert_eq!(
            f.model.belief(
                0,
                Window {
                    sent_ms: 0,
                    answered_ms: 1
                }
            ),
            Belief::Unknown
        );
        let good = f.data(0, 2);
        assert_eq!(f.send(0, Get, 0, &good, T), Ok(Answer::Hit));
        assert!(f.send(0, Get, 0, &bad, T).is_err());
        let other = f.data(1, 2);
        assert!(f.send(0, Get, 0, &other, T).is_err());
        // A definite answer brings certainty back.
        assert_eq!(f.send(0, Remove, 0, &[0], T), Ok(Answer::Found));
        assert_eq!(
            f.model.belief(
                0,
                Window {
                    sent_ms: 0,
                    answered_ms: 1
                }
            ),
            Belief::Absent
        );
    }

    #[test]
    fn expiry_window_accepts_either_answer_and_nothing_outside_it() {
        let mut f = Fixture::new(false);
        // Sent at 1000, answered at 1004: expires between 11000 and 11004.
        f.send(0, Add, 1, &[0], (1000, 1004)).unwrap();
        let w = |s, a| Window {
            sent_ms: s,
            answered_ms: a,
        };
        assert_eq!(
            f.model.belief(0, w(10_970, 10_979)),
            Belief::Present { version: 1 }
        );
        assert_eq!(
            f.model.belief(0, w(10_970, 10_980)),
            Belief::Maybe { version: 1 }
        );
        assert_eq!(
            f.model.belief(0, w(11_024, 11_030)),
            Belief::Maybe { version: 1 }
        );
        assert_eq!(f.model.belief(0, w(11_025, 11_030)), Belief::Absent);

        // Well before: a miss is an error.
        let data = f.data(0, 1);
        assert_eq!(f.problem(0, Get, 0, &[1], (5000, 5001)), Problem::Missed);
        f.send(0, Add, 1, &[0], (1000, 1004)).unwrap();
        // In the window: a hit (exact bytes) and a miss are both fine, and
        // the miss teaches the model the session is gone.
        assert_eq!(f.send(0, Get, 0, &data, (10_990, 10_995)), Ok(Answer::Hit));
        assert_eq!(
            f.send(0, Have, 0, &[0], (11_000, 11_002)),
            Ok(Answer::Found)
        );
        assert_eq!(
            f.send(0, Add, 2, &[101], (11_001, 11_003)),
            Ok(Answer::Duplicate)
        );
        assert_eq!(f.send(0, Get, 0, &[1], (11_003, 11_005)), Ok(Answer::Miss));
        assert_eq!(f.model.belief(0, w(11_006, 11_007)), Belief::Absent);
        // Corrupt bytes are wrong even in the window.
        f.send(1, Add, 1, &[0], (1000, 1004)).unwrap();
        let mut bad = f.data(1, 1);
        bad[40] ^= 4;
        assert!(f.send(1, Get, 0, &bad, (11_000, 11_001)).is_err());

        // Well after: the session must be gone.
        f.send(2, Add, 1, &[0], (1000, 1004)).unwrap();
        let data2 = f.data(2, 1);
        assert!(matches!(
            f.problem(2, Get, 0, &data2, (12_000, 12_001)),
            Problem::HitAbsent(_)
        ));
        f.send(3, Add, 1, &[0], (1000, 1004)).unwrap();
        assert_eq!(
            f.send(3, Add, 9, &[0], (12_000, 12_001)),
            Ok(Answer::Stored)
        );
    }

    #[test]
    fn with_evictions_allowed_a_missing_session_is_fine_but_bad_bytes_are_not() {
        let mut f = Fixture::new(true);
        f.send(0, Add, 1, &[0], T).unwrap();
        assert_eq!(
            f.model.belief(
                0,
                Window {
                    sent_ms: 200,
                    answered_ms: 201
                }
            ),
            Belief::Maybe { version: 1 }
        );
        assert_eq!(f.send(0, Have, 0, &[1], T), Ok(Answer::NotFound));
        assert_eq!(f.send(0, Get, 0, &[1], T), Ok(Answer::Miss));
        f.send(1, Add, 1, &[0], T).unwrap();
        let stale = f.data(1, 0);
        assert!(f.send(1, Get, 0, &stale, T).is_err());
        // Eviction never makes an absent id present.
        let data = f.data(2, 1);
        assert!(f.send(2, Get, 0, &data, T).is_err());
    }
}
