//! Extended request payloads: each is one [`Op`]. All integers big-endian.
//!
//! ```text
//! X-GET, X-DELETE, X-EXISTS, X-TTL:
//!   +------------------------------+
//!   | key (the whole payload)      |
//!   +------------------------------+
//! X-ADD, X-SET, X-REPLACE:
//!   +------+-----------+--------+---------+---------+------------------+
//!   | ttl  | ttl value | flags  | key_len | key     | value            |
//!   | kind | u64       | u32    | u16     | key_len | rest of payload  |
//!   +------+-----------+--------+---------+---------+------------------+
//! X-TOUCH:
//!   +------+-----------+------------------+
//!   | ttl  | ttl value | key (the rest)   |
//!   +------+-----------+------------------+
//! X-INCR, X-DECR (memcache's rules):
//!   +--------+--------+---------+------+-----------+----------------+
//!   | delta  | create | initial | ttl  | ttl value | key (the rest) |
//!   | u64    | 0 or 1 | u64     | kind | u64       |                |
//!   +--------+--------+---------+------+-----------+----------------+
//!   (with create 0, initial and the lifetime are sent as zeros and ignored)
//! X-INCRBY (Redis's rules):
//!   +--------+----------------+
//!   | delta  | key (the rest) |
//!   | i64    |                |
//!   +--------+----------------+
//! ```
//!
//! Lifetime kinds: 0 none (the server's maximum applies), 1 milliseconds
//! from now, 2 an absolute Unix time in seconds, 3 already expired.
//!
//! A key over [`MAX_KEY_LEN`] or a value over [`MAX_VALUE_LEN`] is refused
//! with [`ExtStatus::TooLarge`] and the connection goes on, as the RESP and
//! memcache front doors refuse them; a payload whose fields do not add up
//! closes the connection.

use dc_ops::{CounterChange, Op, StoreMode};

use super::error::{ExtEncodeError, ExtRequestError};
use super::frame::encode_extended;
use super::response::ExtStatus;
use super::{read_ttl, ttl_bytes, ExtOperation, MAX_KEY_LEN, MAX_VALUE_LEN, TTL_LEN};
use crate::frame::Kind;

/// Bytes before the key of a store.
pub const STORE_HEADER_LEN: usize = TTL_LEN + 4 + 2;
/// Bytes before the key of an unsigned counter.
pub const COUNTER_HEADER_LEN: usize = 8 + 1 + 8 + TTL_LEN;
/// Bytes before the key of a signed counter.
pub const SIGNED_HEADER_LEN: usize = 8;

/// A well-formed request refused with a status (the connection goes on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The key is longer than [`MAX_KEY_LEN`].
    KeyTooLong(usize),
    /// The value is longer than [`MAX_VALUE_LEN`].
    ValueTooLong(usize),
}

impl Refusal {
    /// The status it is answered with.
    pub fn status(self) -> ExtStatus {
        ExtStatus::TooLarge
    }
}

/// What an extended request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtRequest<'a> {
    /// An operation to run.
    Run(Op<'a>),
    /// A request to answer with [`Refusal::status`] without running it.
    Refused(Refusal),
}

/// The extended operation that carries `op`.
pub fn operation_of(op: &Op<'_>) -> ExtOperation {
    match *op {
        Op::Get { .. } => ExtOperation::Get,
        Op::Exists { .. } => ExtOperation::Exists,
        Op::Delete { .. } => ExtOperation::Delete,
        Op::Touch { .. } => ExtOperation::Touch,
        Op::Ttl { .. } => ExtOperation::Ttl,
        Op::Store { mode, .. } => match mode {
            StoreMode::Add => ExtOperation::Add,
            StoreMode::Set => ExtOperation::Set,
            StoreMode::Replace => ExtOperation::Replace,
        },
        Op::Counter { change, .. } => match change {
            CounterChange::Signed(_) => ExtOperation::IncrBy,
            CounterChange::Unsigned {
                decrement: false, ..
            } => ExtOperation::Incr,
            CounterChange::Unsigned {
                decrement: true, ..
            } => ExtOperation::Decr,
        },
    }
}

impl<'a> ExtRequest<'a> {
    /// Parses the payload of an extended request.
    pub fn parse(
        operation: ExtOperation,
        payload: &'a [u8],
    ) -> Result<ExtRequest<'a>, ExtRequestError> {
        let short = |need| ExtRequestError::TooShort {
            operation,
            len: payload.len(),
            need,
        };
        let ttl = |bytes: &[u8; TTL_LEN]| {
            read_ttl(bytes).map_err(|kind| ExtRequestError::TtlKind { operation, kind })
        };
        let op = match operation {
            ExtOperation::Get => Op::Get { key: payload },
            ExtOperation::Delete => Op::Delete { key: payload },
            ExtOperation::Exists => Op::Exists { key: payload },
            ExtOperation::Ttl => Op::Ttl { key: payload },
            ExtOperation::Add | ExtOperation::Set | ExtOperation::Replace => {
                let (head, rest) = payload
                    .split_first_chunk::<STORE_HEADER_LEN>()
                    .ok_or(short(STORE_HEADER_LEN))?;
                let (ttl_field, tail) = head.split_at(TTL_LEN);
                let ttl = ttl(ttl_field.try_into().map_err(|_| short(STORE_HEADER_LEN))?)?;
                let flags = u32::from_be_bytes([tail[0], tail[1], tail[2], tail[3]]);
                let key_len = usize::from(u16::from_be_bytes([tail[4], tail[5]]));
                if key_len > rest.len() {
                    return Err(ExtRequestError::KeyLen {
                        operation,
                        key_len,
                        len: payload.len(),
                    });
                }
                let (key, value) = rest.split_at(key_len);
                if value.len() > MAX_VALUE_LEN {
                    return Ok(ExtRequest::Refused(Refusal::ValueTooLong(value.len())));
                }
                let mode = match operation {
                    ExtOperation::Add => StoreMode::Add,
                    ExtOperation::Set => StoreMode::Set,
                    _ => StoreMode::Replace,
                };
                Op::Store {
                    mode,
                    key,
                    value,
                    flags,
                    ttl,
                }
            }
            ExtOperation::Touch => {
                let (head, key) = payload
                    .split_first_chunk::<TTL_LEN>()
                    .ok_or(short(TTL_LEN))?;
                Op::Touch {
                    key,
                    ttl: ttl(head)?,
                }
            }
            ExtOperation::Incr | ExtOperation::Decr => {
                let (head, key) = payload
                    .split_first_chunk::<COUNTER_HEADER_LEN>()
                    .ok_or(short(COUNTER_HEADER_LEN))?;
                let delta = u64::from_be_bytes(head[..8].try_into().unwrap_or_default());
                let initial = u64::from_be_bytes(head[9..17].try_into().unwrap_or_default());
                let ttl_field: &[u8; TTL_LEN] = head[17..]
                    .try_into()
                    .map_err(|_| short(COUNTER_HEADER_LEN))?;
                let create = match head[8] {
                    0 => None,
                    1 => Some((initial, ttl(ttl_field)?)),
                    flag => return Err(ExtRequestError::CreateFlag { operation, flag }),
                };
                Op::Counter {
                    key,
                    change: CounterChange::Unsigned {
                        decrement: operation == ExtOperation::Decr,
                        delta,
                        create,
                    },
                }
            }
            ExtOperation::IncrBy => {
                let (head, key) = payload
                    .split_first_chunk::<SIGNED_HEADER_LEN>()
                    .ok_or(short(SIGNED_HEADER_LEN))?;
                Op::Counter {
                    key,
                    change: CounterChange::Signed(i64::from_be_bytes(*head)),
                }
            }
        };
        if op.key().len() > MAX_KEY_LEN {
            return Ok(ExtRequest::Refused(Refusal::KeyTooLong(op.key().len())));
        }
        Ok(ExtRequest::Run(op))
    }
}

/// Appends the extended request for `op` (extension `version`, tagged
/// `request_uid`) to `out`, and says which operation carries it. Keys and
/// values over the limits are refused here, before anything is written.
pub fn encode_request(
    out: &mut Vec<u8>,
    request_uid: u32,
    version: u16,
    op: &Op<'_>,
) -> Result<ExtOperation, ExtEncodeError> {
    let key = op.key();
    if key.len() > MAX_KEY_LEN {
        return Err(ExtEncodeError::KeyTooLong { len: key.len() });
    }
    let operation = operation_of(op);
    let send = |out: &mut Vec<u8>, parts: &[&[u8]]| {
        encode_extended(out, Kind::Request, request_uid, version, operation, parts)
    };
    match *op {
        Op::Get { key } | Op::Delete { key } | Op::Exists { key } | Op::Ttl { key } => {
            send(out, &[key])?
        }
        Op::Store {
            key,
            value,
            flags,
            ttl,
            ..
        } => {
            if value.len() > MAX_VALUE_LEN {
                return Err(ExtEncodeError::ValueTooLong { len: value.len() });
            }
            let key_len = key.len() as u16;
            send(
                out,
                &[
                    &ttl_bytes(ttl),
                    &flags.to_be_bytes(),
                    &key_len.to_be_bytes(),
                    key,
                    value,
                ],
            )?
        }
        Op::Touch { key, ttl } => send(out, &[&ttl_bytes(ttl), key])?,
        Op::Counter {
            key,
            change: CounterChange::Signed(delta),
        } => send(out, &[&delta.to_be_bytes(), key])?,
        Op::Counter {
            key,
            change: CounterChange::Unsigned { delta, create, .. },
        } => {
            let (flag, initial, ttl) = match create {
                Some((initial, ttl)) => (1u8, initial, ttl_bytes(ttl)),
                None => (0, 0, [0; TTL_LEN]),
            };
            send(
                out,
                &[
                    &delta.to_be_bytes(),
                    &[flag],
                    &initial.to_be_bytes(),
                    &ttl,
                    key,
                ],
            )?
        }
    }
    Ok(operation)
}
