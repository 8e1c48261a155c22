//! Extended answers: a status byte, then what the status carries. The
//! answer echoes its request's uid and extended operation.
//!
//! ```text
//! +--------+----------------------------------------------------------+
//! | status | body                                                     |
//! +--------+----------------------------------------------------------+
//!   0 OK to X-GET:               flags (u32), then the value (the rest)
//!   0 OK to X-TTL:               milliseconds left (u64)
//!   0 OK to X-INCR, X-DECR:      the new value (u64)
//!   0 OK to X-INCRBY:            the new value (i64)
//!   0 OK to anything else, and every other status: no body
//! ```
//!
//! Unlike a 1.x GET answer, a value of any length (even 0 or 1 byte) is
//! unambiguous: the status comes first.
//!
//! | status | name | answers |
//! |---:|---|---|
//! | 0 | OK | a hit, stored, deleted, touched, present, counted |
//! | 1 | NOT_FOUND | a miss; nothing to delete, touch or count |
//! | 2 | UNAVAILABLE | a proxy with no server to ask (never `dc_server`) |
//! | 3 | NOT_STORED | X-ADD on a live key, X-REPLACE on a missing one |
//! | 4 | NOT_NUMERIC | a counter on a value that is not a number of its kind |
//! | 5 | OVERFLOW | X-INCRBY past the signed 64-bit range |
//! | 6 | TOO_LARGE | a key over 250 bytes, a value over 32 KiB, or one the store cannot hold |

use std::fmt;

use dc_ops::Reply;

use super::error::{ExtEncodeError, ExtResponseError};
use super::frame::encode_extended;
use super::ExtOperation;
use crate::frame::Kind;

/// The status byte of an extended answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ExtStatus {
    /// Done; the body depends on the operation.
    Ok = 0,
    /// The key holds nothing.
    NotFound = 1,
    /// A proxy had no server to ask.
    Unavailable = 2,
    /// The store mode's condition did not hold.
    NotStored = 3,
    /// The value is not a counter.
    NotNumeric = 4,
    /// The counter would leave the signed 64-bit range.
    Overflow = 5,
    /// The key or value is too long.
    TooLarge = 6,
}

impl ExtStatus {
    /// The status for a wire byte, if it names one.
    pub fn from_code(code: u8) -> Option<ExtStatus> {
        Some(match code {
            0 => ExtStatus::Ok,
            1 => ExtStatus::NotFound,
            2 => ExtStatus::Unavailable,
            3 => ExtStatus::NotStored,
            4 => ExtStatus::NotNumeric,
            5 => ExtStatus::Overflow,
            6 => ExtStatus::TooLarge,
            _ => return None,
        })
    }

    /// The wire byte.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The name used in logs and docs.
    pub fn name(self) -> &'static str {
        match self {
            ExtStatus::Ok => "OK",
            ExtStatus::NotFound => "NOT_FOUND",
            ExtStatus::Unavailable => "UNAVAILABLE",
            ExtStatus::NotStored => "NOT_STORED",
            ExtStatus::NotNumeric => "NOT_NUMERIC",
            ExtStatus::Overflow => "OVERFLOW",
            ExtStatus::TooLarge => "TOO_LARGE",
        }
    }

    /// Whether `operation` can be answered with this status.
    pub fn answers(self, operation: ExtOperation) -> bool {
        use ExtOperation::*;
        match self {
            ExtStatus::Ok | ExtStatus::TooLarge | ExtStatus::Unavailable => true,
            ExtStatus::NotFound => !matches!(operation, Add | Set | Replace | IncrBy),
            ExtStatus::NotStored => matches!(operation, Add | Set | Replace),
            ExtStatus::NotNumeric => matches!(operation, Incr | Decr | IncrBy),
            ExtStatus::Overflow => operation == IncrBy,
        }
    }
}

impl fmt::Display for ExtStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

/// Appends the extended answer to a request of `operation` that came to
/// `reply`. A reply that operation cannot come to (a value for X-TOUCH) is
/// refused before anything is written: the client would drop the
/// connection on it.
pub fn encode_reply(
    out: &mut Vec<u8>,
    request_uid: u32,
    version: u16,
    operation: ExtOperation,
    reply: &Reply<'_>,
) -> Result<(), ExtEncodeError> {
    let send = |out: &mut Vec<u8>, status: ExtStatus, body: &[&[u8]]| {
        let mut parts: [&[u8]; 3] = [&[status as u8], &[], &[]];
        parts[1..=body.len()].copy_from_slice(body);
        encode_extended(
            out,
            Kind::Response,
            request_uid,
            version,
            operation,
            &parts[..=body.len()],
        )
    };
    if !reply_fits(operation, reply) {
        return Err(ExtEncodeError::WrongReply { operation });
    }
    match *reply {
        Reply::Value { data, flags } => send(out, ExtStatus::Ok, &[&flags.to_be_bytes(), data]),
        Reply::Found | Reply::Stored | Reply::Deleted | Reply::Touched => {
            send(out, ExtStatus::Ok, &[])
        }
        Reply::Remaining(ms) => send(out, ExtStatus::Ok, &[&ms.to_be_bytes()]),
        Reply::Unsigned(n) => send(out, ExtStatus::Ok, &[&n.to_be_bytes()]),
        Reply::Signed(n) => send(out, ExtStatus::Ok, &[&n.to_be_bytes()]),
        Reply::NotFound => send(out, ExtStatus::NotFound, &[]),
        Reply::NotStored => send(out, ExtStatus::NotStored, &[]),
        Reply::NotNumeric => send(out, ExtStatus::NotNumeric, &[]),
        Reply::Overflow => send(out, ExtStatus::Overflow, &[]),
        Reply::TooLarge => send(out, ExtStatus::TooLarge, &[]),
        Reply::Unavailable => send(out, ExtStatus::Unavailable, &[]),
    }
}

/// Whether `reply` is something a request of `operation` can come to:
/// exactly the replies [`parse_reply`] reads back for it.
fn reply_fits(operation: ExtOperation, reply: &Reply<'_>) -> bool {
    use ExtOperation::*;
    match reply {
        Reply::Value { .. } => operation == Get,
        Reply::Found => operation == Exists,
        Reply::Stored => matches!(operation, Add | Set | Replace),
        Reply::Deleted => operation == Delete,
        Reply::Touched => operation == Touch,
        Reply::Remaining(_) => operation == Ttl,
        Reply::Unsigned(_) => matches!(operation, Incr | Decr),
        Reply::Signed(_) => operation == IncrBy,
        Reply::NotFound => ExtStatus::NotFound.answers(operation),
        Reply::NotStored => ExtStatus::NotStored.answers(operation),
        Reply::NotNumeric => ExtStatus::NotNumeric.answers(operation),
        Reply::Overflow => ExtStatus::Overflow.answers(operation),
        Reply::TooLarge => ExtStatus::TooLarge.answers(operation),
        Reply::Unavailable => ExtStatus::Unavailable.answers(operation),
    }
}

/// Appends a bare status answer (a refusal, or a proxy's UNAVAILABLE). A
/// status the operation cannot be answered with, or OK where the answer
/// carries a body, is refused as [`encode_reply`] refuses them.
pub fn encode_status(
    out: &mut Vec<u8>,
    request_uid: u32,
    version: u16,
    operation: ExtOperation,
    status: ExtStatus,
) -> Result<(), ExtEncodeError> {
    let needs_body = status == ExtStatus::Ok
        && matches!(
            operation,
            ExtOperation::Get
                | ExtOperation::Ttl
                | ExtOperation::Incr
                | ExtOperation::Decr
                | ExtOperation::IncrBy
        );
    if needs_body || !status.answers(operation) {
        return Err(ExtEncodeError::WrongReply { operation });
    }
    encode_extended(
        out,
        Kind::Response,
        request_uid,
        version,
        operation,
        &[&[status.code()]],
    )
}

/// Reads the payload of an extended answer to `operation`.
pub fn parse_reply(operation: ExtOperation, payload: &[u8]) -> Result<Reply<'_>, ExtResponseError> {
    let Some((&code, body)) = payload.split_first() else {
        return Err(ExtResponseError::Empty { operation });
    };
    let status =
        ExtStatus::from_code(code).ok_or(ExtResponseError::UnknownStatus { operation, code })?;
    if !status.answers(operation) {
        return Err(ExtResponseError::WrongStatus { operation, status });
    }
    let body_error = |expected| ExtResponseError::Body {
        operation,
        status,
        len: body.len(),
        expected,
    };
    let empty = |reply: Reply<'static>| {
        if body.is_empty() {
            Ok(reply)
        } else {
            Err(body_error("none"))
        }
    };
    let word = || -> Result<[u8; 8], ExtResponseError> {
        body.try_into().map_err(|_| body_error("8 bytes"))
    };
    match status {
        ExtStatus::Ok => match operation {
            ExtOperation::Get => {
                let (flags, data) = body
                    .split_first_chunk::<4>()
                    .ok_or(body_error("4 bytes of flags and the value"))?;
                Ok(Reply::Value {
                    data,
                    flags: u32::from_be_bytes(*flags),
                })
            }
            ExtOperation::Ttl => Ok(Reply::Remaining(u64::from_be_bytes(word()?))),
            ExtOperation::Incr | ExtOperation::Decr => {
                Ok(Reply::Unsigned(u64::from_be_bytes(word()?)))
            }
            ExtOperation::IncrBy => Ok(Reply::Signed(i64::from_be_bytes(word()?))),
            ExtOperation::Exists => empty(Reply::Found),
            ExtOperation::Delete => empty(Reply::Deleted),
            ExtOperation::Touch => empty(Reply::Touched),
            ExtOperation::Add | ExtOperation::Set | ExtOperation::Replace => empty(Reply::Stored),
        },
        ExtStatus::NotFound => empty(Reply::NotFound),
        ExtStatus::Unavailable => empty(Reply::Unavailable),
        ExtStatus::NotStored => empty(Reply::NotStored),
        ExtStatus::NotNumeric => empty(Reply::NotNumeric),
        ExtStatus::Overflow => empty(Reply::Overflow),
        ExtStatus::TooLarge => empty(Reply::TooLarge),
    }
}
