//! Errors of the codec. Decoding errors mean the peer sent something that is
//! not valid distcache 1.x; the only safe reaction is to drop that one
//! connection (the byte stream cannot be resynchronised).

use thiserror::Error;

use crate::frame::{Kind, Operation, MAX_PAYLOAD};
use crate::response::Status;

/// Why a byte stream is not a valid sequence of frames.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The frame's protocol version is not 0x0011 (any patch level is fine).
    #[error("protocol version mismatch: peer sent level {found:08x}, expected 0011xxxx{}", tls_hint(*found))]
    Version {
        /// The `proto_level` word received.
        found: u32,
    },
    /// `is_response` is neither 0 nor 1.
    #[error("invalid is_response byte {0} (expected 0 or 1)")]
    InvalidKind(u8),
    /// A request sent to a client, or a response sent to a server.
    #[error("unexpected {found} frame: this endpoint only accepts {expected}s")]
    UnexpectedKind {
        /// What this endpoint accepts.
        expected: Kind,
        /// What arrived.
        found: Kind,
    },
    /// `op_class` is not 0 (the only class, "user").
    #[error("invalid op_class {0} (expected 0)")]
    OpClass(u8),
    /// `operation` is not one of ADD, GET, REMOVE, HAVE.
    #[error("unknown operation {0} (expected 0=ADD, 1=GET, 2=REMOVE or 3=HAVE)")]
    Operation(u8),
    /// `complete` is neither 0 nor 1.
    #[error("invalid complete flag {0} (expected 0 or 1)")]
    CompleteFlag(u8),
    /// `data_len` over 2048.
    #[error("frame data_len {0} is over the maximum of 2048")]
    DataLen(u16),
    /// A non-final frame that is not full.
    #[error("non-final frame carries {0} data bytes (it must carry exactly 2048)")]
    ShortFragment(u16),
    /// A later fragment of a command with another request_uid.
    #[error("fragment has request_uid {found}, but the command being reassembled has {expected}")]
    UidMismatch {
        /// The uid of the command's first frame.
        expected: u32,
        /// The uid of the offending frame.
        found: u32,
    },
    /// A later fragment of a command with another operation.
    #[error("fragment has operation {found}, but the command being reassembled is {expected}")]
    OperationMismatch {
        /// The operation of the command's first frame.
        expected: Operation,
        /// The operation of the offending frame.
        found: Operation,
    },
    /// The reassembled payload would exceed [`MAX_PAYLOAD`].
    #[error("command payload would reach {len} bytes, over the maximum of {MAX_PAYLOAD}")]
    PayloadTooLong {
        /// The payload length the frame would have produced.
        len: usize,
    },
}

/// A payload that cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// Payloads are limited to [`MAX_PAYLOAD`] bytes.
    #[error("payload of {len} bytes is over the maximum of {MAX_PAYLOAD}")]
    PayloadTooLong {
        /// The payload length asked for.
        len: usize,
    },
}

/// A well-framed request whose payload is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RequestError {
    /// An ADD payload too short to hold its 8-byte header. The original
    /// server closes the connection without an answer, so do we.
    #[error("ADD payload of {len} bytes is shorter than its 8-byte header")]
    AddTooShort {
        /// The payload length received.
        len: usize,
    },
    /// An ADD whose fields are out of range. The connection stays up and the
    /// client is answered with this status.
    #[error("ADD refused: {0}")]
    Refused(Status),
}

impl RequestError {
    /// The status to answer with, or `None` when the connection must be
    /// closed instead.
    pub fn answer(&self) -> Option<Status> {
        match self {
            RequestError::AddTooShort { .. } => None,
            RequestError::Refused(status) => Some(*status),
        }
    }
}

/// A response payload that does not fit the operation it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ResponseError {
    /// ADD, REMOVE and HAVE are answered with exactly one status byte.
    #[error("{operation} answer of {len} bytes (expected a 1-byte status)")]
    NotAStatus {
        /// The operation answered.
        operation: Operation,
        /// The payload length received.
        len: usize,
    },
}

/// Words that begin like a TLS record (a handshake, alert or data record of
/// TLS 1.0-1.3, all of which say 0x03 0x0n) come from a peer speaking TLS
/// where the reader expected plain distcache, or the reverse: say so, since
/// the bare number names nothing.
fn tls_hint(found: u32) -> &'static str {
    let [content_type, major, minor, _] = found.to_be_bytes();
    if (0x14..=0x17).contains(&content_type) && major == 0x03 && minor <= 0x04 {
        " (that is a TLS record: one side uses TLS and the other does not; see -tls-cert, -tls-key and -tls-ca)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tls_hint_tests {
    use super::*;

    #[test]
    fn a_tls_record_where_distcache_was_expected_is_named() {
        // A TLS ClientHello, and an alert (what a TLS server answers junk with).
        for level in [0x1603_0100u32, 0x1503_0300] {
            let message = DecodeError::Version { found: level }.to_string();
            assert!(message.contains("that is a TLS record"), "{message}");
        }
        // Other garbage gets no such guess.
        let message = DecodeError::Version { found: 0x4745_5420 }.to_string();
        assert!(!message.contains("TLS"), "{message}");
    }
}
