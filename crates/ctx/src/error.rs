//! What can go wrong in a client call.
//!
//! Every [`ClientError`] that involves the server names its address, so a
//! binary can print the error as one self-explanatory line. Errors are
//! grouped by what they mean for the connection:
//!
//! * the server answered, and the answer says no or is unusable
//!   ([`Refused`](ClientError::Refused), [`Unavailable`](ClientError::Unavailable),
//!   [`UnexpectedAnswer`](ClientError::UnexpectedAnswer) about the payload):
//!   the answer was consumed and a persistent connection stays usable;
//! * the byte stream can no longer be trusted or is gone (I/O errors,
//!   timeouts, [`Protocol`](ClientError::Protocol) errors, an answer to
//!   another request): the connection is dropped and the next call starts
//!   on a new one;
//! * the call was refused before anything was sent
//!   ([`InvalidArgument`](ClientError::InvalidArgument)).

use std::fmt;
use std::io;
use std::time::Duration;

use dc_protocol::{DecodeError, Operation, Status, MAX_PAYLOAD};
use thiserror::Error;

/// The part of a transaction that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Opening the connection.
    Connect,
    /// Writing the request.
    Send,
    /// Reading the answer.
    Receive,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Connect => "connecting to",
            Step::Send => "sending to",
            Step::Receive => "receiving from",
        })
    }
}

/// Why a well-framed answer cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerProblem {
    /// The answer carries another request's uid.
    Uid {
        /// The uid of the request just sent.
        expected: u32,
        /// The uid the answer carried.
        found: u32,
    },
    /// The answer is for another operation.
    Operation {
        /// The operation the answer carried.
        found: Operation,
    },
    /// A one-byte answer that is not a status this operation can have.
    Code(u8),
    /// ADD, REMOVE and HAVE are answered with exactly one byte.
    Length {
        /// The payload length received.
        len: usize,
    },
    /// A GET answer of 2 to 4 bytes. A hit needs at least
    /// [`MIN_GET_HIT_LEN`](dc_protocol::response::MIN_GET_HIT_LEN) bytes:
    /// the original library refuses shorter ones, because a stored session
    /// that short cannot always be told from a status byte.
    ShortSession {
        /// The payload length received.
        len: usize,
    },
}

impl fmt::Display for AnswerProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AnswerProblem::Uid { expected, found } => write!(
                f,
                "it carries request_uid {found:#010x}, but the request sent was {expected:#010x}"
            ),
            AnswerProblem::Operation { found } => write!(f, "it answers a {found}"),
            AnswerProblem::Code(code) => {
                write!(
                    f,
                    "one-byte answer {code} is not a status this operation can have"
                )
            }
            AnswerProblem::Length { len } => {
                write!(f, "{len}-byte answer where a 1-byte status was expected")
            }
            AnswerProblem::ShortSession { len } => write!(
                f,
                "{len}-byte session; answers under {} bytes are not accepted as hits \
                 (sessions of 1-4 bytes cannot be fetched)",
                dc_protocol::response::MIN_GET_HIT_LEN
            ),
        }
    }
}

/// Why the server could not serve a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailability {
    /// An empty answer: what a `dc_client` proxy sends while it has no
    /// connection to its cache server.
    EmptyAnswer,
    /// Status 2 (DISCONNECTED): a `dc_client` proxy lost its cache server
    /// while the request was in flight.
    Disconnected,
}

impl fmt::Display for Unavailability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unavailability::EmptyAnswer => {
                "empty answer (a dc_client proxy with no cache server behind it answers so)"
            }
            Unavailability::Disconnected => {
                "status DISCONNECTED (2): the proxy lost its cache server during the request"
            }
        })
    }
}

/// A call refused before anything was sent. The original library aborted
/// the process on most of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ArgumentError {
    /// Session ids are at least one byte.
    #[error("{operation}: the session id is empty (it must be 1 to {max} bytes)")]
    EmptyId {
        /// The operation called.
        operation: Operation,
        /// The longest id the operation takes.
        max: usize,
    },
    /// The session id is longer than the operation accepts.
    #[error("{operation}: the session id is {len} bytes long, over the maximum of {max}")]
    IdTooLong {
        /// The operation called.
        operation: Operation,
        /// The id's length.
        len: usize,
        /// The longest id the operation takes.
        max: usize,
    },
    /// ADD needs at least one byte of session data.
    #[error("ADD: the session data is empty (it must be at least 1 byte)")]
    EmptyData,
    /// The ADD payload (8 + id + data bytes) would not fit in one command.
    #[error(
        "ADD: a {id_len}-byte id with {data_len} bytes of data makes a payload of {} bytes, \
         over the maximum of {MAX_PAYLOAD}", 8 + id_len + data_len
    )]
    TooLarge {
        /// The id's length.
        id_len: usize,
        /// The data's length.
        data_len: usize,
    },
    /// ADD timeouts must exceed [`MIN_ADD_TIMEOUT_MS`](crate::MIN_ADD_TIMEOUT_MS).
    #[error(
        "ADD: a timeout of {timeout_ms} ms is too short, it must be over {} ms \
         (timeouts are in milliseconds, not seconds)",
        crate::MIN_ADD_TIMEOUT_MS
    )]
    TimeoutTooShort {
        /// The timeout asked for.
        timeout_ms: u32,
    },
    /// A zero io timeout would fail every wait at once.
    #[error("the io timeout must be greater than zero (use no timeout to wait for ever)")]
    ZeroIoTimeout,
}

/// A failed client call.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The address names no particular host (`IP:<port>`, `:<port>`), so nothing can
    /// connect to it.
    #[error("{address} cannot be connected to: an address without a host can only listen (expected host:port, [ipv6]:port, IP:host:port or a unix socket path)")]
    NotConnectable {
        /// The address, in canonical form.
        address: String,
    },
    /// Opening the connection failed.
    #[error("connect to {address} failed: {}", connect_reason(.source))]
    Connect {
        /// The address, in canonical form.
        address: String,
        /// What the network layer said.
        #[source]
        source: nal::NalError,
    },
    /// A wait ran out of time.
    #[error("{step} {address} timed out after {} ms", .after.as_millis())]
    TimedOut {
        /// The address, in canonical form.
        address: String,
        /// What was being waited for.
        step: Step,
        /// The io timeout that ran out.
        after: Duration,
    },
    /// Sending or receiving failed.
    #[error("{step} {address} failed: {source}")]
    Io {
        /// The address, in canonical form.
        address: String,
        /// Sending or receiving.
        step: Step,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The server closed the connection before its answer was complete.
    #[error("{address} closed the connection before answering the {operation}")]
    Closed {
        /// The address, in canonical form.
        address: String,
        /// The operation left unanswered.
        operation: Operation,
    },
    /// The server sent bytes that are not valid distcache 1.x (including a
    /// wrong protocol version, on which the original library aborted).
    #[error("protocol error from {address}: {source}")]
    Protocol {
        /// The address, in canonical form.
        address: String,
        /// What is wrong with the bytes.
        #[source]
        source: DecodeError,
    },
    /// A well-framed answer that does not fit the request.
    #[error("unexpected answer to {operation} from {address}: {problem}")]
    UnexpectedAnswer {
        /// The address, in canonical form.
        address: String,
        /// The operation sent.
        operation: Operation,
        /// What is wrong with the answer.
        problem: AnswerProblem,
    },
    /// The server refused an ADD, e.g. with
    /// [`Status::AddMatchingSession`] when the id is already stored.
    #[error("{address} refused the ADD: {status}")]
    Refused {
        /// The address, in canonical form.
        address: String,
        /// The status it answered with.
        status: Status,
    },
    /// The server (in practice a `dc_client` proxy) could not reach the
    /// cache.
    #[error("{address} could not serve the {operation}: {reason}")]
    Unavailable {
        /// The address, in canonical form.
        address: String,
        /// The operation sent.
        operation: Operation,
        /// How it said so.
        reason: Unavailability,
    },
    /// The call's arguments were refused before anything was sent.
    #[error("invalid argument: {0}")]
    InvalidArgument(#[from] ArgumentError),
}

impl ClientError {
    /// The server's address, for every error that involves the server.
    pub fn address(&self) -> Option<&str> {
        match self {
            ClientError::NotConnectable { address }
            | ClientError::Connect { address, .. }
            | ClientError::TimedOut { address, .. }
            | ClientError::Io { address, .. }
            | ClientError::Closed { address, .. }
            | ClientError::Protocol { address, .. }
            | ClientError::UnexpectedAnswer { address, .. }
            | ClientError::Refused { address, .. }
            | ClientError::Unavailable { address, .. } => Some(address),
            ClientError::InvalidArgument(_) => None,
        }
    }

    /// The connection broke while in use (as opposed to a server that
    /// answered badly or slowly): worth one reconnect and resend when
    /// [`Options::retry`](crate::Options::retry) is on.
    pub(crate) fn is_connection_lost(&self) -> bool {
        matches!(self, ClientError::Io { .. } | ClientError::Closed { .. })
    }
}

/// The operating system's words when there are some: the address is
/// already in the message.
fn connect_reason(e: &nal::NalError) -> String {
    match e.io_error() {
        Some(io) => io.to_string(),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_address_and_the_value() {
        let e = ClientError::TimedOut {
            address: "IP:127.0.0.1:9001".into(),
            step: Step::Receive,
            after: Duration::from_millis(1500),
        };
        assert_eq!(
            e.to_string(),
            "receiving from IP:127.0.0.1:9001 timed out after 1500 ms"
        );
        let e = ClientError::Refused {
            address: "UNIX:/tmp/c".into(),
            status: Status::AddMatchingSession,
        };
        assert_eq!(
            e.to_string(),
            "UNIX:/tmp/c refused the ADD: MATCHING_SESSION (101)"
        );
        let e = ClientError::from(ArgumentError::TimeoutTooShort { timeout_ms: 500 });
        assert!(e.to_string().contains("500 ms"), "{e}");
        assert_eq!(e.address(), None);
        let e = ArgumentError::TooLarge {
            id_len: 10,
            data_len: 32751,
        };
        assert!(e.to_string().contains("32769 bytes"), "{e}");
        let e = ClientError::UnexpectedAnswer {
            address: "IP:h:1".into(),
            operation: Operation::Get,
            problem: AnswerProblem::Uid {
                expected: 7,
                found: 8,
            },
        };
        assert_eq!(
            e.to_string(),
            "unexpected answer to GET from IP:h:1: it carries request_uid 0x00000008, \
             but the request sent was 0x00000007"
        );
        assert_eq!(e.address(), Some("IP:h:1"));
    }
}
