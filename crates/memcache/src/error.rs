//! Errors. A [`ProtocolError`] means the stream cannot go on: the server
//! engine closes the connection after the answers already written (as
//! memcached does in the same cases, without a word). A [`ClientError`] is
//! an operation the protocol cannot carry, or a reply that is not one.

use dc_ops::OpKind;
use thiserror::Error;

/// Why a server connection's byte stream cannot go on.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProtocolError {
    /// A text line with no newline within the limit (memcached closes the
    /// connection too).
    #[error("text command line longer than {limit} bytes without a newline")]
    LineTooLong {
        /// The limit that was passed.
        limit: usize,
    },
    /// A binary packet that does not start with the request magic 0x80.
    #[error("binary request starts with 0x{found:02x}, expected the magic 0x80")]
    BadMagic {
        /// The byte found.
        found: u8,
    },
    /// A binary body length no memcached client sends.
    #[error("binary body length {body_len} is over the maximum of {limit}")]
    BodyTooLong {
        /// The length in the header.
        body_len: u32,
        /// [`MAX_BODY_LEN`](crate::binary::MAX_BODY_LEN).
        limit: u32,
    },
}

/// Why a client codec cannot send an operation or read a reply.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClientError {
    /// The operation has no memcache form (`Exists`, `Ttl`, signed
    /// counters; on the text wire, counters that create their key).
    #[error("{} operation cannot be sent over {wire}: {why}", kind.name())]
    Unsupported {
        /// The operation's kind.
        kind: OpKind,
        /// "memcache text" or "memcache binary".
        wire: &'static str,
        /// What it lacks.
        why: &'static str,
    },
    /// A key the wire cannot carry.
    #[error("key of {len} bytes cannot be sent over {wire} (1 to 250 bytes{extra})")]
    BadKey {
        /// The key's length.
        len: usize,
        /// "memcache text" or "memcache binary".
        wire: &'static str,
        /// What else the wire requires.
        extra: &'static str,
    },
    /// A reply that is not an answer to a request of this kind.
    #[error("unexpected reply to a {} request: {found:?}", kind.name())]
    UnexpectedReply {
        /// The request's kind.
        kind: OpKind,
        /// The start of the reply, lossily as text.
        found: String,
    },
    /// A binary reply whose header is malformed.
    #[error("malformed binary reply header: {0}")]
    BadHeader(&'static str),
    /// A text reply line over the limit without a newline.
    #[error("text reply line longer than {0} bytes without a newline")]
    LineTooLong(usize),
}

impl ClientError {
    pub(crate) fn unexpected(kind: OpKind, found: &[u8]) -> ClientError {
        ClientError::UnexpectedReply {
            kind,
            found: String::from_utf8_lossy(&found[..found.len().min(80)]).into_owned(),
        }
    }
}
