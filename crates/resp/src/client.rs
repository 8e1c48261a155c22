//! [`RespClient`]: the client codec, for the load generator and
//! `dc_client`. Each operation becomes one Redis command; replies come
//! back in order (RESP has no tags), so the codec keeps the tags of the
//! requests outstanding and hands back the oldest.
//!
//! ```text
//!   Get            GET k                    $n data | $-1
//!   Exists         EXISTS k                 :1 | :0
//!   Delete         DEL k                    :1 | :0
//!   Touch  After   PEXPIRE k ms             :1 | :0
//!          AtUnix  EXPIREAT k s
//!          Expired PEXPIRE k 0  (Redis deletes the key)
//!          Unlim.  PERSIST k
//!   Ttl            PTTL k                   :ms | :-2 (missing) | :-1 (no expiry)
//!   Store          SET k v [PX ms|EXAT s] [NX|XX]    +OK | $-1
//!   Counter Signed INCRBY k n               :n
//! ```

use std::collections::VecDeque;

use dc_ops::{ClientCodec, Correlation, CounterChange, Millis, Op, OpKind, Reply, StoreMode, Ttl};

use crate::error::{ClientError, EncodeError, ReplyError};
use crate::reply::{parse_frame, write_array_header, write_bulk_header, Frame};
use crate::server::{NOT_INTEGER, OVERFLOW, UNAVAILABLE};
use dc_ops::number::{format_i64, format_u64};

/// The RESP2 client codec of one connection.
#[derive(Debug, Default, Clone)]
pub struct RespClient {
    /// Tags of the requests sent and not yet answered, oldest first.
    outstanding: VecDeque<u32>,
}

impl RespClient {
    /// A codec for a new connection.
    pub fn new() -> RespClient {
        RespClient::default()
    }

    /// Requests sent and not yet answered.
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }
}

fn arg(out: &mut Vec<u8>, bytes: &[u8]) {
    write_bulk_header(out, bytes.len());
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

fn number_arg(out: &mut Vec<u8>, n: i64) {
    arg(out, format_i64(n, &mut [0; 20]));
}

fn unsigned_arg(out: &mut Vec<u8>, n: u64) {
    arg(out, format_u64(n, &mut [0; 20]));
}

fn command(out: &mut Vec<u8>, name: &[u8], key: &[u8], argc: usize) {
    write_array_header(out, argc);
    arg(out, name);
    arg(out, key);
}

/// Milliseconds as Redis takes them (at most i64::MAX).
fn millis(ms: Millis) -> u64 {
    ms.min(i64::MAX as u64)
}

/// Error messages that mean "too large for the store": this crate's
/// server refuses oversized keys, values and requests with them.
fn is_too_large(message: &[u8]) -> bool {
    [
        &b"ERR value is too large"[..],
        b"ERR argument is too large",
        b"ERR request is too large",
        b"ERR key is too long",
    ]
    .iter()
    .any(|p| message.starts_with(p))
}

impl ClientCodec for RespClient {
    type Error = ClientError;
    const CORRELATION: Correlation = Correlation::Fifo;

    /// Appends the command for `op`. Fails, appending nothing, for non-zero
    /// flags (Redis keeps none) and for unsigned counters.
    fn encode(&mut self, tag: u32, op: &Op<'_>, out: &mut Vec<u8>) -> Result<(), ClientError> {
        match *op {
            Op::Get { key } => command(out, b"GET", key, 2),
            Op::Exists { key } => command(out, b"EXISTS", key, 2),
            Op::Delete { key } => command(out, b"DEL", key, 2),
            Op::Ttl { key } => command(out, b"PTTL", key, 2),
            Op::Touch { key, ttl } => match ttl {
                Ttl::After(ms) => {
                    command(out, b"PEXPIRE", key, 3);
                    unsigned_arg(out, millis(ms));
                }
                Ttl::AtUnix(secs) => {
                    command(out, b"EXPIREAT", key, 3);
                    unsigned_arg(out, secs.min(i64::MAX as u64 / 1000));
                }
                Ttl::Expired => {
                    command(out, b"PEXPIRE", key, 3);
                    arg(out, b"0");
                }
                Ttl::Unlimited => command(out, b"PERSIST", key, 2),
            },
            Op::Store {
                mode,
                key,
                value,
                flags,
                ttl,
            } => {
                if flags != 0 {
                    return Err(EncodeError::Flags(flags).into());
                }
                let cond: &[u8] = match mode {
                    StoreMode::Set => b"",
                    StoreMode::Add => b"NX",
                    StoreMode::Replace => b"XX",
                };
                let expiry = match ttl {
                    Ttl::Unlimited => None,
                    // Zero ms is over already: sent as a time in the past.
                    Ttl::After(0) | Ttl::Expired => Some((&b"EXAT"[..], 1)),
                    Ttl::After(ms) => Some((&b"PX"[..], millis(ms))),
                    Ttl::AtUnix(secs) => {
                        Some((&b"EXAT"[..], secs.clamp(1, i64::MAX as u64 / 1000)))
                    }
                };
                let argc = 3 + 2 * usize::from(expiry.is_some()) + usize::from(!cond.is_empty());
                command(out, b"SET", key, argc);
                arg(out, value);
                if let Some((unit, n)) = expiry {
                    arg(out, unit);
                    unsigned_arg(out, n);
                }
                if !cond.is_empty() {
                    arg(out, cond);
                }
            }
            Op::Counter { key, change } => match change {
                CounterChange::Signed(n) => {
                    command(out, b"INCRBY", key, 3);
                    number_arg(out, n);
                }
                CounterChange::Unsigned { .. } => return Err(EncodeError::UnsignedCounter.into()),
            },
        }
        self.outstanding.push_back(tag);
        Ok(())
    }

    /// Reads the reply to the oldest request. An error reply becomes the
    /// [`Reply`] it stands for where there is one (a refused value is
    /// [`Reply::TooLarge`], a non-numeric counter [`Reply::NotNumeric`],
    /// an overflow [`Reply::Overflow`], the proxy's "unavailable"
    /// [`Reply::Unavailable`]); any other is [`ReplyError::Server`].
    /// A real Redis's `PTTL` of -1 (no expiry) reads as
    /// `Reply::Remaining(Millis::MAX)`.
    fn decode_reply<'a>(
        &mut self,
        input: &'a [u8],
        kind: OpKind,
    ) -> Result<Option<(usize, u32, Reply<'a>)>, ClientError> {
        let Some((frame, used)) = parse_frame(input)? else {
            return Ok(None);
        };
        let unexpected = || ReplyError::Unexpected {
            kind,
            reply: frame.to_string(),
        };
        let reply = match (kind, frame) {
            (_, Frame::Error(m)) if m == UNAVAILABLE => Reply::Unavailable,
            (OpKind::Get, Frame::Bulk(data)) => Reply::Value { data, flags: 0 },
            (OpKind::Get, Frame::Nil) => Reply::NotFound,
            (OpKind::Exists, Frame::Integer(n)) if n > 0 => Reply::Found,
            (OpKind::Delete, Frame::Integer(n)) if n > 0 => Reply::Deleted,
            (OpKind::Touch, Frame::Integer(1)) => Reply::Touched,
            (OpKind::Exists | OpKind::Delete | OpKind::Touch, Frame::Integer(0)) => Reply::NotFound,
            (OpKind::Ttl, Frame::Integer(-2)) => Reply::NotFound,
            (OpKind::Ttl, Frame::Integer(-1)) => Reply::Remaining(Millis::MAX),
            (OpKind::Ttl, Frame::Integer(n)) if n >= 0 => Reply::Remaining(n as u64),
            (OpKind::Store, Frame::Simple(b"OK")) => Reply::Stored,
            (OpKind::Store, Frame::Nil) => Reply::NotStored,
            (OpKind::Store, Frame::Error(m)) if is_too_large(m) => Reply::TooLarge,
            (OpKind::Counter, Frame::Integer(n)) => Reply::Signed(n),
            (OpKind::Counter, Frame::Error(m)) if m == NOT_INTEGER => Reply::NotNumeric,
            (OpKind::Counter, Frame::Error(m)) if m == OVERFLOW => Reply::Overflow,
            (_, Frame::Error(m)) => {
                return Err(ReplyError::Server {
                    kind,
                    message: String::from_utf8_lossy(m).into_owned(),
                }
                .into())
            }
            _ => return Err(unexpected().into()),
        };
        let tag = self.outstanding.pop_front().ok_or(ReplyError::NoRequest)?;
        Ok(Some((used, tag, reply)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(op: Op<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        RespClient::new().encode(0, &op, &mut out).unwrap();
        out
    }

    #[test]
    fn operations_become_the_commands_redis_knows() {
        assert_eq!(
            encoded(Op::Get { key: b"k" }),
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
        );
        assert_eq!(
            encoded(Op::Store {
                mode: StoreMode::Add,
                key: b"k",
                value: b"v",
                flags: 0,
                ttl: Ttl::After(1500),
            }),
            b"*6\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nPX\r\n$4\r\n1500\r\n$2\r\nNX\r\n"
        );
        assert_eq!(
            encoded(Op::Counter {
                key: b"c",
                change: CounterChange::Signed(-3)
            }),
            b"*3\r\n$6\r\nINCRBY\r\n$1\r\nc\r\n$2\r\n-3\r\n"
        );
        assert_eq!(
            encoded(Op::Touch {
                key: b"k",
                ttl: Ttl::Expired
            }),
            b"*3\r\n$7\r\nPEXPIRE\r\n$1\r\nk\r\n$1\r\n0\r\n"
        );
    }

    #[test]
    fn what_redis_cannot_express_is_refused() {
        let mut c = RespClient::new();
        let mut out = Vec::new();
        let flagged = Op::Store {
            mode: StoreMode::Set,
            key: b"k",
            value: b"v",
            flags: 1,
            ttl: Ttl::Unlimited,
        };
        assert_eq!(
            c.encode(0, &flagged, &mut out),
            Err(ClientError::Encode(EncodeError::Flags(1)))
        );
        let unsigned = Op::Counter {
            key: b"k",
            change: CounterChange::Unsigned {
                decrement: false,
                delta: 1,
                create: None,
            },
        };
        assert!(c.encode(0, &unsigned, &mut out).is_err());
        assert!(out.is_empty() && c.outstanding() == 0);
    }

    #[test]
    fn replies_come_back_with_the_oldest_tag() {
        let mut c = RespClient::new();
        let mut out = Vec::new();
        c.encode(7, &Op::Get { key: b"a" }, &mut out).unwrap();
        c.encode(8, &Op::Delete { key: b"a" }, &mut out).unwrap();
        let input = b"$1\r\nx\r\n:0\r\n";
        assert_eq!(c.decode_reply(&input[..5], OpKind::Get).unwrap(), None);
        let (used, tag, reply) = c.decode_reply(input, OpKind::Get).unwrap().unwrap();
        assert_eq!(
            (tag, reply),
            (
                7,
                Reply::Value {
                    data: b"x",
                    flags: 0
                }
            )
        );
        let (_, tag, reply) = c
            .decode_reply(&input[used..], OpKind::Delete)
            .unwrap()
            .unwrap();
        assert_eq!((tag, reply), (8, Reply::NotFound));
        assert_eq!(
            c.decode_reply(b"+OK\r\n", OpKind::Get).err(),
            Some(ClientError::Reply(ReplyError::Unexpected {
                kind: OpKind::Get,
                reply: "+OK".into()
            }))
        );
    }
}
