//! Errors. A [`RequestError`] means the client's byte stream cannot be
//! framed any more: the server answers it as Redis does (the text is
//! [`RequestError::reply`]) and closes. A [`ReplyError`] is the client
//! side's: a reply that is not RESP2, or not an answer the operation can
//! have.

use dc_ops::OpKind;
use thiserror::Error;

use crate::request::{MAX_ARGS, MAX_HEADER_LEN};

/// Why a request stream is not valid RESP2. Each is answered with the
/// protocol error Redis sends for it, then the connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RequestError {
    /// A `*<n>` count that is not a number (`*x`, `*+1`, `*01`).
    #[error("invalid multibulk length (expected a decimal count after '*')")]
    MultibulkLength,
    /// A `*<n>` count over [`MAX_ARGS`] (Redis allows 1 Mi arguments).
    #[error("{count} arguments in one command, over the maximum of {MAX_ARGS}")]
    TooManyArguments {
        /// The count the client sent (or the arguments an inline line had).
        count: i64,
    },
    /// A `$<len>` that is not a number, is negative, or is over 512 MB.
    #[error("invalid bulk length (expected a decimal length 0..=536870912 after '$')")]
    BulkLength,
    /// Something other than `$` where an argument of a multibulk starts.
    #[error("expected '$' at the start of an argument, got byte 0x{0:02x}")]
    ExpectedDollar(u8),
    /// A `*` line without `\r` within [`MAX_HEADER_LEN`] bytes.
    #[error("multibulk count line longer than {MAX_HEADER_LEN} bytes")]
    MultibulkLineTooLong,
    /// A `$` line without `\r` within [`MAX_HEADER_LEN`] bytes.
    #[error("bulk length line longer than {MAX_HEADER_LEN} bytes")]
    BulkLineTooLong,
    /// An inline command line without `\n` within [`MAX_HEADER_LEN`] bytes.
    #[error("inline command longer than {MAX_HEADER_LEN} bytes")]
    InlineTooLong,
    /// An inline command whose quotes do not close (or a closing quote
    /// not followed by a space).
    #[error("unbalanced quotes in inline command")]
    UnbalancedQuotes,
}

impl RequestError {
    /// The error line Redis 7 sends for this fault, without `-` and CRLF.
    /// Only [`ExpectedDollar`](Self::ExpectedDollar) varies; it is written
    /// by [`write_reply`](Self::write_reply).
    pub fn reply(&self) -> &'static str {
        match self {
            RequestError::MultibulkLength | RequestError::TooManyArguments { .. } => {
                "ERR Protocol error: invalid multibulk length"
            }
            RequestError::BulkLength => "ERR Protocol error: invalid bulk length",
            RequestError::ExpectedDollar(_) => "ERR Protocol error: expected '$', got '?'",
            RequestError::MultibulkLineTooLong => "ERR Protocol error: too big mbulk count string",
            RequestError::BulkLineTooLong => "ERR Protocol error: too big bulk count string",
            RequestError::InlineTooLong => "ERR Protocol error: too big inline request",
            RequestError::UnbalancedQuotes => "ERR Protocol error: unbalanced quotes in request",
        }
    }

    /// Appends the whole error reply, `-...\r\n`, byte for byte as Redis 7
    /// sends it (which turns a CR or LF in the quoted byte into a space).
    pub fn write_reply(&self, out: &mut Vec<u8>) {
        match *self {
            RequestError::ExpectedDollar(got) => {
                let got = if got == b'\r' || got == b'\n' {
                    b' '
                } else {
                    got
                };
                out.extend_from_slice(b"-ERR Protocol error: expected '$', got '");
                out.push(got);
                out.extend_from_slice(b"'\r\n");
            }
            _ => {
                out.push(b'-');
                out.extend_from_slice(self.reply().as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
    }
}

/// Why a reply cannot be read, or cannot be the answer to its request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReplyError {
    /// The first byte is not a RESP2 type (`+ - : $ *`).
    #[error("unknown reply type byte 0x{0:02x} (expected one of + - : $ *)")]
    Type(u8),
    /// A line that does not end in CRLF (a lone `\r` or `\n`).
    #[error("reply line is not terminated by CRLF")]
    LineEnd,
    /// An integer, bulk length or array count that is not a decimal `i64`.
    #[error("reply number {0:?} is not a decimal integer")]
    Number(String),
    /// A bulk or array length below -1 or above 512 MB.
    #[error("reply length {0} is out of range (-1..=536870912)")]
    Length(i64),
    /// A bulk string not followed by CRLF.
    #[error("bulk reply of {len} bytes is not followed by CRLF")]
    BulkEnd {
        /// The bulk's declared length.
        len: usize,
    },
    /// The server answered with an error this operation cannot have.
    #[error("server error for {kind:?}: {message}")]
    Server {
        /// The operation asked.
        kind: OpKind,
        /// The error line, without `-` and CRLF.
        message: String,
    },
    /// A well-formed reply of a type this operation cannot have.
    #[error("unexpected reply for {kind:?}: {reply}")]
    Unexpected {
        /// The operation asked.
        kind: OpKind,
        /// What came, as text.
        reply: String,
    },
    /// A reply arrived with no request outstanding.
    #[error("reply with no request outstanding")]
    NoRequest,
}

/// An operation the RESP client cannot express as a Redis command.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// Redis keeps no flags with a value.
    #[error("Redis cannot store flags (asked for {0:#x}; only 0 is expressible)")]
    Flags(u32),
    /// memcache-style unsigned counters have no Redis command.
    #[error("Redis has no unsigned counter (memcache incr/decr); use CounterChange::Signed")]
    UnsignedCounter,
}

/// The client codec's error: encoding or decoding.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClientError {
    /// The operation cannot be sent.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The reply cannot be read.
    #[error(transparent)]
    Reply(#[from] ReplyError),
}
