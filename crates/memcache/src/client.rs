//! The client side of both wires: [`TextClient`] and [`BinaryClient`] turn
//! [`Op`]s into requests and replies back into [`Reply`]s (for a load
//! generator, and for `dc_client`'s memcache upstreams).
//!
//! Lifetimes go out as memcached exptimes: [`Ttl::Unlimited`] is 0,
//! [`Ttl::After`] is whole seconds rounded up (at most 30 days, the longest
//! relative exptime: the server caps lifetimes anyway), [`Ttl::AtUnix`]
//! is absolute, [`Ttl::Expired`] is -1 on the text wire and a time in
//! January 1970 on the binary one (whose expiration is unsigned).

use std::collections::VecDeque;

use dc_ops::{
    ClientCodec, Correlation, CounterChange, Op, OpKind, Reply, StoreMode, Ttl, MAX_KEY_LEN,
    MEMCACHE_RELATIVE_LIMIT_SECS,
};

use crate::binary::{
    opcode, status, Header, HEADER_LEN, MAX_BODY_LEN, REQUEST_MAGIC, RESPONSE_MAGIC,
};
use crate::error::ClientError;
use crate::response::write_u64;
use crate::text::{strtoull, valid_text_key, MAX_LINE_LEN};

const TEXT: &str = "memcache text";
const BINARY: &str = "memcache binary";

/// An absolute exptime long past: expires at once on any memcached.
const LONG_AGO: i64 = MEMCACHE_RELATIVE_LIMIT_SECS + 1;

/// The exptime for `ttl`; `unsigned` for the binary wire.
fn exptime(ttl: Ttl, unsigned: bool) -> i64 {
    let expired = if unsigned { LONG_AGO } else { -1 };
    let cap = if unsigned {
        i64::from(u32::MAX - 1)
    } else {
        i64::from(i32::MAX)
    };
    match ttl {
        Ttl::Unlimited => 0,
        Ttl::After(0) | Ttl::Expired => expired,
        Ttl::After(ms) => (ms.div_ceil(1000)).min(MEMCACHE_RELATIVE_LIMIT_SECS as u64) as i64,
        Ttl::AtUnix(secs) if secs <= MEMCACHE_RELATIVE_LIMIT_SECS as u64 => expired,
        Ttl::AtUnix(secs) => secs.min(cap as u64) as i64,
    }
}

/// The text-wire client. Replies come in request order; the tags given to
/// [`encode`](ClientCodec::encode) are handed back in that order.
#[derive(Debug, Clone, Default)]
pub struct TextClient {
    tags: VecDeque<u32>,
}

impl TextClient {
    /// A client for a new connection.
    pub fn new() -> TextClient {
        TextClient::default()
    }
}

impl ClientCodec for TextClient {
    type Error = ClientError;
    const CORRELATION: Correlation = Correlation::Fifo;

    fn encode(&mut self, tag: u32, op: &Op<'_>, out: &mut Vec<u8>) -> Result<(), ClientError> {
        let key = op.key();
        let unsupported = |why| ClientError::Unsupported {
            kind: op.kind(),
            wire: TEXT,
            why,
        };
        if !matches!(op, Op::Exists { .. } | Op::Ttl { .. }) && !valid_text_key(key) {
            return Err(ClientError::BadKey {
                len: key.len(),
                wire: TEXT,
                extra: ", no space or control byte",
            });
        }
        let push_exptime = |out: &mut Vec<u8>, ttl| {
            let e = exptime(ttl, false);
            if e < 0 {
                out.push(b'-');
            }
            write_u64(out, e.unsigned_abs());
        };
        match *op {
            Op::Get { key } => {
                out.extend_from_slice(b"get ");
                out.extend_from_slice(key);
            }
            Op::Store {
                mode,
                key,
                value,
                flags,
                ttl,
            } => {
                out.extend_from_slice(match mode {
                    StoreMode::Set => b"set ",
                    StoreMode::Add => b"add ",
                    StoreMode::Replace => b"replace ",
                });
                out.extend_from_slice(key);
                out.push(b' ');
                write_u64(out, flags.into());
                out.push(b' ');
                push_exptime(out, ttl);
                out.push(b' ');
                write_u64(out, value.len() as u64);
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(value);
            }
            Op::Delete { key } => {
                out.extend_from_slice(b"delete ");
                out.extend_from_slice(key);
            }
            Op::Touch { key, ttl } => {
                out.extend_from_slice(b"touch ");
                out.extend_from_slice(key);
                out.push(b' ');
                push_exptime(out, ttl);
            }
            Op::Counter {
                key,
                change:
                    CounterChange::Unsigned {
                        decrement,
                        delta,
                        create: None,
                    },
            } => {
                out.extend_from_slice(if decrement { b"decr " } else { b"incr " });
                out.extend_from_slice(key);
                out.push(b' ');
                write_u64(out, delta);
            }
            Op::Counter {
                change: CounterChange::Unsigned { .. },
                ..
            } => return Err(unsupported("the text incr/decr never creates a key")),
            Op::Counter { .. } => return Err(unsupported("memcache counters are unsigned")),
            Op::Exists { .. } | Op::Ttl { .. } => {
                return Err(unsupported("memcache has no such command"))
            }
        }
        out.extend_from_slice(b"\r\n");
        self.tags.push_back(tag);
        Ok(())
    }

    fn decode_reply<'a>(
        &mut self,
        input: &'a [u8],
        kind: OpKind,
    ) -> Result<Option<(usize, u32, Reply<'a>)>, ClientError> {
        let Some((line, mut used)) = reply_line(input)? else {
            return Ok(None);
        };
        let unexpected = || ClientError::unexpected(kind, line);
        let reply = match (kind, line) {
            (_, b"SERVER_ERROR temporarily unavailable") => Reply::Unavailable,
            (OpKind::Get, b"END") => Reply::NotFound,
            (OpKind::Get, _) if line.starts_with(b"VALUE ") => {
                let mut tokens = line.split(|&b| b == b' ').filter(|t| !t.is_empty());
                let (Some(_), Some(_key), Some(flags), Some(bytes)) =
                    (tokens.next(), tokens.next(), tokens.next(), tokens.next())
                else {
                    return Err(unexpected());
                };
                let flags = strtoull(flags)
                    .and_then(|f| u32::try_from(f).ok())
                    .ok_or_else(unexpected)?;
                let bytes = strtoull(bytes)
                    .and_then(|b| usize::try_from(b).ok())
                    .filter(|&b| b <= MAX_BODY_LEN as usize)
                    .ok_or_else(unexpected)?;
                let end = used + bytes;
                if input.len() < end + 2 + 5 {
                    return Ok(None);
                }
                if &input[end..end + 2] != b"\r\n" || &input[end + 2..end + 7] != b"END\r\n" {
                    return Err(ClientError::unexpected(kind, &input[end..end + 7]));
                }
                let data = &input[used..end];
                used = end + 7;
                Reply::Value { data, flags }
            }
            (OpKind::Store, b"STORED") => Reply::Stored,
            (OpKind::Store, b"NOT_STORED" | b"EXISTS") => Reply::NotStored,
            (OpKind::Store, b"SERVER_ERROR object too large for cache") => Reply::TooLarge,
            (OpKind::Delete, b"DELETED") => Reply::Deleted,
            (OpKind::Touch, b"TOUCHED") => Reply::Touched,
            (OpKind::Delete | OpKind::Touch | OpKind::Counter, b"NOT_FOUND") => Reply::NotFound,
            (OpKind::Counter, b"CLIENT_ERROR cannot increment or decrement non-numeric value") => {
                Reply::NotNumeric
            }
            (OpKind::Counter, _) => Reply::Unsigned(strtoull(line).ok_or_else(unexpected)?),
            _ => return Err(unexpected()),
        };
        let tag = self.tags.pop_front().unwrap_or(0);
        Ok(Some((used, tag, reply)))
    }
}

/// The reply line at the front of `input` without its CRLF, and the bytes
/// it takes.
fn reply_line(input: &[u8]) -> Result<Option<(&[u8], usize)>, ClientError> {
    let window = &input[..input.len().min(MAX_LINE_LEN + 1)];
    match window.iter().position(|&b| b == b'\n') {
        Some(at) => {
            let line = &input[..at];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            Ok(Some((line, at + 1)))
        }
        None if input.len() > MAX_LINE_LEN => Err(ClientError::LineTooLong(MAX_LINE_LEN)),
        None => Ok(None),
    }
}

/// The binary-wire client: the tag travels as the opaque, so replies may
/// be matched in any order. Gets go out as GETK.
#[derive(Debug, Clone, Copy, Default)]
pub struct BinaryClient;

impl BinaryClient {
    /// A client for a new connection.
    pub fn new() -> BinaryClient {
        BinaryClient
    }
}

fn request_packet(op: u8, tag: u32, extras: &[u8], key: &[u8], value: &[u8], out: &mut Vec<u8>) {
    Header {
        magic: REQUEST_MAGIC,
        opcode: op,
        key_len: key.len() as u16,
        extras_len: extras.len() as u8,
        data_type: 0,
        status: 0,
        body_len: (extras.len() + key.len() + value.len()) as u32,
        opaque: tag,
        cas: 0,
    }
    .write(out);
    out.extend_from_slice(extras);
    out.extend_from_slice(key);
    out.extend_from_slice(value);
}

impl ClientCodec for BinaryClient {
    type Error = ClientError;
    const CORRELATION: Correlation = Correlation::Tagged;

    fn encode(&mut self, tag: u32, op: &Op<'_>, out: &mut Vec<u8>) -> Result<(), ClientError> {
        let key = op.key();
        let unsupported = |why| ClientError::Unsupported {
            kind: op.kind(),
            wire: BINARY,
            why,
        };
        let key_ok = !key.is_empty() && key.len() <= MAX_KEY_LEN;
        if !key_ok && !matches!(op, Op::Exists { .. } | Op::Ttl { .. }) {
            return Err(ClientError::BadKey {
                len: key.len(),
                wire: BINARY,
                extra: "",
            });
        }
        let expiration = |ttl| (exptime(ttl, true) as u32).to_be_bytes();
        match *op {
            Op::Get { key } => request_packet(opcode::GETK, tag, &[], key, &[], out),
            Op::Store {
                mode,
                key,
                value,
                flags,
                ttl,
            } => {
                if value.len() > MAX_BODY_LEN as usize - MAX_KEY_LEN - 8 {
                    return Err(unsupported("the value is over the binary body limit"));
                }
                let op = match mode {
                    StoreMode::Set => opcode::SET,
                    StoreMode::Add => opcode::ADD,
                    StoreMode::Replace => opcode::REPLACE,
                };
                let mut extras = [0u8; 8];
                extras[..4].copy_from_slice(&flags.to_be_bytes());
                extras[4..].copy_from_slice(&expiration(ttl));
                request_packet(op, tag, &extras, key, value, out);
            }
            Op::Delete { key } => request_packet(opcode::DELETE, tag, &[], key, &[], out),
            Op::Touch { key, ttl } => {
                request_packet(opcode::TOUCH, tag, &expiration(ttl), key, &[], out)
            }
            Op::Counter {
                key,
                change:
                    CounterChange::Unsigned {
                        decrement,
                        delta,
                        create,
                    },
            } => {
                let mut extras = [0u8; 20];
                extras[..8].copy_from_slice(&delta.to_be_bytes());
                let (initial, exp) = match create {
                    Some((initial, ttl)) => (initial, expiration(ttl)),
                    None => (0, u32::MAX.to_be_bytes()),
                };
                extras[8..16].copy_from_slice(&initial.to_be_bytes());
                extras[16..].copy_from_slice(&exp);
                let op = if decrement {
                    opcode::DECREMENT
                } else {
                    opcode::INCREMENT
                };
                request_packet(op, tag, &extras, key, &[], out);
            }
            Op::Counter { .. } => return Err(unsupported("memcache counters are unsigned")),
            Op::Exists { .. } | Op::Ttl { .. } => {
                return Err(unsupported("memcache has no such command"))
            }
        }
        Ok(())
    }

    fn decode_reply<'a>(
        &mut self,
        input: &'a [u8],
        kind: OpKind,
    ) -> Result<Option<(usize, u32, Reply<'a>)>, ClientError> {
        let Some(header) = Header::read(input) else {
            return Ok(None);
        };
        if header.magic != RESPONSE_MAGIC {
            return Err(ClientError::BadHeader("magic is not 0x81"));
        }
        if header.body_len > MAX_BODY_LEN {
            return Err(ClientError::BadHeader("body length over the limit"));
        }
        let extras_len = usize::from(header.extras_len);
        let key_len = usize::from(header.key_len);
        let end = HEADER_LEN + header.body_len as usize;
        if extras_len + key_len > header.body_len as usize {
            return Err(ClientError::BadHeader(
                "extras and key longer than the body",
            ));
        }
        if input.len() < end {
            return Ok(None);
        }
        let extras = &input[HEADER_LEN..HEADER_LEN + extras_len];
        let value = &input[HEADER_LEN + extras_len + key_len..end];
        let unexpected = || ClientError::unexpected(kind, &input[..end]);
        let reply = match (kind, header.status) {
            (_, status::ETMPFAIL) => Reply::Unavailable,
            (OpKind::Get, status::OK) => {
                let flags = match *extras {
                    [a, b, c, d] => u32::from_be_bytes([a, b, c, d]),
                    [] => 0,
                    _ => return Err(unexpected()),
                };
                Reply::Value { data: value, flags }
            }
            (OpKind::Store, status::OK) => Reply::Stored,
            (OpKind::Store, status::KEY_ENOENT | status::KEY_EEXISTS | status::NOT_STORED) => {
                Reply::NotStored
            }
            (OpKind::Store, status::E2BIG) => Reply::TooLarge,
            (OpKind::Delete, status::OK) => Reply::Deleted,
            (OpKind::Touch, status::OK) => Reply::Touched,
            (OpKind::Counter, status::OK) => match *value {
                [a, b, c, d, e, f, g, h] => {
                    Reply::Unsigned(u64::from_be_bytes([a, b, c, d, e, f, g, h]))
                }
                _ => return Err(unexpected()),
            },
            (OpKind::Counter, status::DELTA_BADVAL) => Reply::NotNumeric,
            (
                OpKind::Get | OpKind::Delete | OpKind::Touch | OpKind::Counter,
                status::KEY_ENOENT,
            ) => Reply::NotFound,
            _ => return Err(unexpected()),
        };
        Ok(Some((end, header.opaque, reply)))
    }
}
