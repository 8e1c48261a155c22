//! Errors of the extension's codec. As for 1.x, a decoding error means the
//! stream cannot be resynchronised: the connection is dropped.

use thiserror::Error;

use super::frame::AnyOperation;
use super::{ExtOperation, ExtStatus, MAX_EXT_PAYLOAD, MAX_KEY_LEN, MAX_VALUE_LEN};
use crate::error::DecodeError;
use dc_ops::OpKind;

/// Why a byte stream of 1.x and extended frames is broken.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExtDecodeError {
    /// A 1.x frame rule was broken (including a class 1 frame on a
    /// connection that never negotiated the extension: `op_class 1`).
    #[error(transparent)]
    Frame(#[from] DecodeError),
    /// A class 1 frame at another level than the one negotiated.
    #[error("extended frame at protocol level {found:08x}, but this connection negotiated {expected:08x}")]
    Level {
        /// The `proto_level` received.
        found: u32,
        /// The level of the negotiated version.
        expected: u32,
    },
    /// A class 1 operation byte that names none.
    #[error("unknown extended operation {0} (expected 0..=10)")]
    Operation(u8),
    /// A later fragment of a command with another operation, where one of
    /// the two is extended.
    #[error("fragment has operation {found}, but the command being reassembled is {expected}")]
    OperationMismatch {
        /// The operation of the command's first frame.
        expected: AnyOperation,
        /// The operation of the offending frame.
        found: AnyOperation,
    },
    /// The reassembled extended payload would exceed [`MAX_EXT_PAYLOAD`].
    #[error(
        "extended command payload would reach {len} bytes, over the maximum of {MAX_EXT_PAYLOAD}"
    )]
    PayloadTooLong {
        /// The payload length the frame would have produced.
        len: usize,
    },
}

/// An extended request or answer that cannot be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ExtEncodeError {
    /// Payloads are limited to [`MAX_EXT_PAYLOAD`] bytes.
    #[error("extended payload of {len} bytes is over the maximum of {MAX_EXT_PAYLOAD}")]
    PayloadTooLong {
        /// The payload length asked for.
        len: usize,
    },
    /// A key longer than the extension carries.
    #[error("key of {len} bytes is over the maximum of {MAX_KEY_LEN}")]
    KeyTooLong {
        /// The key length asked for.
        len: usize,
    },
    /// A value longer than the extension carries.
    #[error("value of {len} bytes is over the maximum of {MAX_VALUE_LEN}")]
    ValueTooLong {
        /// The value length asked for.
        len: usize,
    },
    /// A reply the operation answered cannot come to (its client would
    /// refuse the answer).
    #[error("{operation} cannot be answered with that reply")]
    WrongReply {
        /// The operation answered.
        operation: ExtOperation,
    },
    /// An operation sent before the server accepted the extension.
    #[error("{0:?} needs the protocol extension, which this server has not accepted")]
    NotNegotiated(OpKind),
}

/// A well-framed extended request whose payload is broken (the connection
/// is dropped: only a faulty client sends one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ExtRequestError {
    /// The payload ends before its fixed fields do.
    #[error("{operation} payload of {len} bytes is shorter than its {need}-byte header")]
    TooShort {
        /// The operation.
        operation: ExtOperation,
        /// The payload length received.
        len: usize,
        /// The bytes its fixed fields take.
        need: usize,
    },
    /// A store's `key_len` runs past the end of the payload.
    #[error("{operation} key_len {key_len} runs past the {len}-byte payload")]
    KeyLen {
        /// The operation.
        operation: ExtOperation,
        /// The key length declared.
        key_len: usize,
        /// The payload length received.
        len: usize,
    },
    /// A lifetime kind byte that names none.
    #[error("{operation} lifetime kind {kind} is unknown (expected 0..=3)")]
    TtlKind {
        /// The operation.
        operation: ExtOperation,
        /// The kind byte received.
        kind: u8,
    },
    /// A counter's `create` byte is neither 0 nor 1.
    #[error("{operation} create flag {flag} is neither 0 nor 1")]
    CreateFlag {
        /// The operation.
        operation: ExtOperation,
        /// The byte received.
        flag: u8,
    },
}

/// An extended answer that does not fit the request it answers.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ExtResponseError {
    /// The payload is empty: there is no status byte.
    #[error("{operation} answer is empty (expected a status byte)")]
    Empty {
        /// The operation answered.
        operation: ExtOperation,
    },
    /// A status byte that names none.
    #[error("{operation} answer has unknown status {code}")]
    UnknownStatus {
        /// The operation answered.
        operation: ExtOperation,
        /// The byte received.
        code: u8,
    },
    /// A status this operation cannot be answered with.
    #[error("{operation} cannot be answered {status}")]
    WrongStatus {
        /// The operation answered.
        operation: ExtOperation,
        /// The status received.
        status: ExtStatus,
    },
    /// The bytes after the status are not what the status carries.
    #[error(
        "{operation} answer {status} carries {len} bytes after the status, expected {expected}"
    )]
    Body {
        /// The operation answered.
        operation: ExtOperation,
        /// The status received.
        status: ExtStatus,
        /// The bytes after the status.
        len: usize,
        /// What the status carries.
        expected: &'static str,
    },
    /// The answer is a 1.x command where an extended one was due.
    #[error("a 1.x {0} answer arrived where an extended answer was due")]
    Classic(crate::frame::Operation),
    /// The answer's frames are broken.
    #[error(transparent)]
    Frame(#[from] ExtDecodeError),
    /// The hello answer is neither a 1.x answer nor an acceptance.
    #[error("the answer to the extension probe is {len} bytes that are not an acceptance{why}")]
    Probe {
        /// The payload length received.
        len: usize,
        /// What was wrong.
        why: &'static str,
    },
}
