//! What a trace reports: one [`Event`] per request, response, undecodable
//! stream, and connection opened or closed.
//!
//! Events borrow from the decoder (payloads, ids), so the common case of
//! printing a line allocates nothing; an [`Observer`] that wants to keep one
//! copies what it needs.

use std::fmt;
use std::time::Duration;

use dc_protocol::{DecodeError, Operation, Request, RequestError, Status};

use crate::time::Timestamp;

/// Which way bytes flow through the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the peer that connected to us towards the server: requests.
    ClientToServer,
    /// From the server back to the client: responses.
    ServerToClient,
}

impl Direction {
    /// Both directions, client to server first.
    pub const BOTH: [Direction; 2] = [Direction::ClientToServer, Direction::ServerToClient];

    /// `c->s` or `s->c`, as printed.
    pub fn label(self) -> &'static str {
        match self {
            Direction::ClientToServer => "c->s",
            Direction::ServerToClient => "s->c",
        }
    }

    /// 0 for client to server, 1 for server to client: an array index.
    pub fn index(self) -> usize {
        match self {
            Direction::ClientToServer => 0,
            Direction::ServerToClient => 1,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One of the two connections of a relayed pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Peer {
    /// The connection accepted from a client.
    Client,
    /// The connection made to the server.
    Server,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Peer::Client => "client",
            Peer::Server => "server",
        })
    }
}

/// Something seen on a relayed connection.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// When it was seen.
    pub time: Timestamp,
    /// The connection's number: accepted connections count from 0.
    pub connection: u64,
    /// What was seen.
    pub kind: EventKind<'a>,
}

/// The kinds of [`Event`].
#[derive(Debug, Clone, Copy)]
pub enum EventKind<'a> {
    /// A client connected; the connection to the server is under way.
    Opened {
        /// Who connected (`127.0.0.1:40512`, or `unix`).
        client: &'a str,
        /// Where it is relayed to, as given on the command line.
        server: &'a str,
    },
    /// A whole request went from client to server.
    Request(RequestSeen<'a>),
    /// A whole response went from server to client.
    Response(ResponseSeen<'a>),
    /// Bytes that are not distcache 1.x: they are relayed all the same, but
    /// this connection is not decoded any further.
    Undecodable(&'a Undecodable),
    /// Both connections of the pair were closed.
    Closed {
        /// Why.
        reason: &'a CloseReason,
        /// What passed through the pair.
        totals: &'a Totals,
    },
}

/// A session id as shown: the first bytes of an id of `len` bytes.
///
/// Requests show their whole id; for a response the id is that of the
/// request it answers, kept up to [`KEPT_ID_LEN`](crate::KEPT_ID_LEN) bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdPrefix<'a> {
    /// The id's first bytes (all of them when `bytes.len() == len`).
    pub bytes: &'a [u8],
    /// The id's real length.
    pub len: usize,
}

/// A whole request, reassembled from its frames.
#[derive(Debug, Clone, Copy)]
pub struct RequestSeen<'a> {
    /// The request's uid.
    pub uid: u32,
    /// Its operation.
    pub operation: Operation,
    /// The reassembled payload.
    pub payload: &'a [u8],
    /// The session id, when the payload holds one: a lookup's whole payload,
    /// or an ADD's id when its `id_len` fits the payload (shown even when
    /// the server will refuse the ADD).
    pub id: Option<&'a [u8]>,
    /// The parsed request, or why a server would refuse it.
    pub parsed: Result<Request<'a>, RequestError>,
}

/// A whole response, reassembled from its frames.
#[derive(Debug, Clone, Copy)]
pub struct ResponseSeen<'a> {
    /// The uid it echoes.
    pub uid: u32,
    /// The operation it echoes.
    pub operation: Operation,
    /// The reassembled payload.
    pub payload: &'a [u8],
    /// What it says.
    pub outcome: Outcome,
    /// The request it answers, when this connection saw it go out.
    pub answers: Option<Answered<'a>>,
}

/// The request a response answers.
#[derive(Debug, Clone, Copy)]
pub struct Answered<'a> {
    /// The request's session id, if it had one.
    pub id: Option<IdPrefix<'a>>,
    /// Time from the request (fully relayed) to the response (fully relayed).
    pub round_trip: Duration,
}

/// What a response says, classified by the operation it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// A one-byte status code (for a GET, other than the miss byte).
    Status(u8),
    /// GET: the miss byte `0x01`.
    Miss,
    /// GET hit: the session's data, of this many bytes.
    Hit(usize),
    /// An empty payload: what `dc_client` answers when it has no server.
    Empty,
    /// ADD, REMOVE or HAVE answered with more than one byte.
    Malformed(usize),
}

impl Outcome {
    /// Classifies the payload of a response to `operation`.
    pub fn classify(operation: Operation, payload: &[u8]) -> Outcome {
        match (payload, operation) {
            ([], _) => Outcome::Empty,
            ([1], Operation::Get) => Outcome::Miss,
            ([code], _) => Outcome::Status(*code),
            (data, Operation::Get) => Outcome::Hit(data.len()),
            (data, _) => Outcome::Malformed(data.len()),
        }
    }

    /// The outcome with its size dropped: what the summary counts by.
    pub fn key(self) -> Outcome {
        match self {
            Outcome::Hit(_) => Outcome::Hit(0),
            Outcome::Malformed(_) => Outcome::Malformed(0),
            other => other,
        }
    }

    /// The size of a GET hit or of a malformed answer.
    pub fn size(self) -> Option<usize> {
        match self {
            Outcome::Hit(n) | Outcome::Malformed(n) => Some(n),
            _ => None,
        }
    }
}

impl fmt::Display for Outcome {
    /// The result word: `OK`, `NOTOK`, an ADD error name (`MATCHING_SESSION`),
    /// `miss`, `hit`, `empty`, `malformed`, or `status:<n>` for a code the
    /// protocol does not define.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Status(code) => match Status::from_code(*code) {
                Some(status) => f.write_str(status.name()),
                None => write!(f, "status:{code}"),
            },
            Outcome::Miss => f.write_str("miss"),
            Outcome::Hit(_) => f.write_str("hit"),
            Outcome::Empty => f.write_str("empty"),
            Outcome::Malformed(_) => f.write_str("malformed"),
        }
    }
}

/// A direction's bytes stopped decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecodable {
    /// Where the bytes flowed.
    pub direction: Direction,
    /// Why they do not decode.
    pub error: DecodeError,
    /// Offset in that direction's byte stream of the first byte the decoder
    /// could not take: the start of the frame (or of the run of frames of
    /// one command) it was reading when it failed.
    pub offset: u64,
    /// The first bytes from `offset` on (at most
    /// [`DUMP_LEN`](crate::DUMP_LEN); fewer if no more had arrived).
    pub first_bytes: Vec<u8>,
}

/// Why a relayed pair was closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// Both directions ended (each peer shut down its sending side, and
    /// everything it sent was delivered).
    Finished,
    /// The connection to the server could not be made.
    ConnectFailed(String),
    /// Reading from or writing to one peer failed (a reset, a broken pipe).
    Failed {
        /// The peer whose connection failed.
        peer: Peer,
        /// The error, as the system describes it.
        error: String,
    },
    /// dc_snoop was asked to stop.
    Shutdown,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Finished => f.write_str("both sides done"),
            CloseReason::ConnectFailed(e) => write!(f, "cannot connect to the server: {e}"),
            CloseReason::Failed { peer, error } => write!(f, "{peer} connection failed: {error}"),
            CloseReason::Shutdown => f.write_str("dc_snoop stopped"),
        }
    }
}

/// What passed one way through a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DirectionTotals {
    /// Bytes relayed.
    pub bytes: u64,
    /// Whole commands decoded.
    pub commands: u64,
    /// Bytes of a command that was still incomplete when the pair closed
    /// (0 when the stream ended on a command boundary, or was not decoded).
    pub partial: u64,
}

/// What passed through a pair, reported when it closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// From the accept to the close.
    pub duration: Duration,
    /// Indexed by [`Direction::index`].
    pub directions: [DirectionTotals; 2],
    /// Requests seen going out with no response seen coming back.
    pub unanswered: u64,
    /// Requests not remembered for pairing with their response, because
    /// [`MAX_IN_FLIGHT`](crate::MAX_IN_FLIGHT) requests were already waiting.
    pub untracked: u64,
    /// Whether decoding stopped on bytes that are not distcache 1.x.
    pub undecodable: bool,
}

impl Totals {
    /// The totals of one direction.
    pub fn direction(&self, direction: Direction) -> &DirectionTotals {
        &self.directions[direction.index()]
    }
}

/// Receives the events of a trace and the loop's pulse.
pub trait Observer {
    /// One event, in the order things happened.
    fn event(&mut self, event: &Event<'_>);

    /// Called once per pass of the event loop, before it waits again: the
    /// moment to write out what was gathered, or to print something
    /// periodic that is due.
    fn idle(&mut self, _now: Timestamp) {}

    /// The latest time the loop should call [`idle`](Self::idle) again even
    /// if no traffic comes.
    fn wake_at(&self) -> Option<Timestamp> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_answers_by_operation() {
        use Operation::*;
        let cases: &[(Operation, &[u8], Outcome, &str)] = &[
            (Add, &[0], Outcome::Status(0), "OK"),
            (Add, &[101], Outcome::Status(101), "MATCHING_SESSION"),
            (Add, &[103], Outcome::Status(103), "ID_RANGE"),
            (Get, &[1], Outcome::Miss, "miss"),
            (Get, &[2], Outcome::Status(2), "DISCONNECTED"),
            (Get, b"data!", Outcome::Hit(5), "hit"),
            (Get, &[], Outcome::Empty, "empty"),
            (Remove, &[0], Outcome::Status(0), "OK"),
            (Remove, &[1], Outcome::Status(1), "NOTOK"),
            (Have, &[1], Outcome::Status(1), "NOTOK"),
            (Have, &[7], Outcome::Status(7), "status:7"),
            (Have, &[0, 0], Outcome::Malformed(2), "malformed"),
        ];
        for &(op, payload, want, name) in cases {
            let got = Outcome::classify(op, payload);
            assert_eq!(got, want, "{op} {payload:?}");
            assert_eq!(got.to_string(), name);
        }
        assert_eq!(Outcome::Hit(77).key(), Outcome::Hit(0));
        assert_eq!(Outcome::Hit(77).size(), Some(77));
        assert_eq!(Outcome::Miss.size(), None);
    }

    #[test]
    fn reasons_read_as_sentences() {
        assert_eq!(CloseReason::Finished.to_string(), "both sides done");
        assert_eq!(
            CloseReason::Failed {
                peer: Peer::Server,
                error: "Connection reset by peer (os error 104)".into()
            }
            .to_string(),
            "server connection failed: Connection reset by peer (os error 104)"
        );
    }
}
