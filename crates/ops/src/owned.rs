//! Owned operations and replies, for whoever must keep one past the input
//! it was read from: a proxy holds each request until a server answers it
//! (and may send it again to the next replica), a backend thread receives
//! operations over a channel and sends replies back.
//!
//! Each keeps its bytes in one `Vec` and its other fields inline, and gives
//! back the borrowed form ([`OpBuf::op`], [`ReplyBuf::reply`]) that every
//! codec already speaks, so no codec needs an owned variant.

use crate::{CounterChange, Millis, Op, Reply, StoreMode, Ttl};

/// An [`Op`] that owns its key and value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OpBuf {
    shape: OpShape,
    /// The key, then the value (for a store).
    bytes: Vec<u8>,
    key_len: usize,
}

/// An [`Op`] without its byte arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum OpShape {
    Get,
    Exists,
    Delete,
    Touch(Ttl),
    Ttl,
    Store {
        mode: StoreMode,
        flags: u32,
        ttl: Ttl,
    },
    Counter(CounterChange),
}

impl OpBuf {
    /// A copy of `op`.
    pub fn new(op: &Op<'_>) -> OpBuf {
        let key = op.key();
        let (shape, value): (OpShape, &[u8]) = match *op {
            Op::Get { .. } => (OpShape::Get, &[]),
            Op::Exists { .. } => (OpShape::Exists, &[]),
            Op::Delete { .. } => (OpShape::Delete, &[]),
            Op::Touch { ttl, .. } => (OpShape::Touch(ttl), &[]),
            Op::Ttl { .. } => (OpShape::Ttl, &[]),
            Op::Store {
                mode,
                value,
                flags,
                ttl,
                ..
            } => (OpShape::Store { mode, flags, ttl }, value),
            Op::Counter { change, .. } => (OpShape::Counter(change), &[]),
        };
        let mut bytes = Vec::with_capacity(key.len() + value.len());
        bytes.extend_from_slice(key);
        bytes.extend_from_slice(value);
        OpBuf {
            shape,
            bytes,
            key_len: key.len(),
        }
    }

    /// The operation, borrowing this buffer.
    pub fn op(&self) -> Op<'_> {
        let (key, value) = self.bytes.split_at(self.key_len);
        match self.shape {
            OpShape::Get => Op::Get { key },
            OpShape::Exists => Op::Exists { key },
            OpShape::Delete => Op::Delete { key },
            OpShape::Touch(ttl) => Op::Touch { key, ttl },
            OpShape::Ttl => Op::Ttl { key },
            OpShape::Store { mode, flags, ttl } => Op::Store {
                mode,
                key,
                value,
                flags,
                ttl,
            },
            OpShape::Counter(change) => Op::Counter { key, change },
        }
    }

    /// The key.
    pub fn key(&self) -> &[u8] {
        &self.bytes[..self.key_len]
    }

    /// Bytes held (key and value), for queue limits.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether it holds no bytes at all (an empty key and no value).
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl From<&Op<'_>> for OpBuf {
    fn from(op: &Op<'_>) -> OpBuf {
        OpBuf::new(op)
    }
}

/// A [`Reply`] that owns its value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReplyBuf {
    shape: ReplyShape,
    data: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ReplyShape {
    Value(u32),
    Found,
    NotFound,
    Stored,
    NotStored,
    Deleted,
    Touched,
    Remaining(Millis),
    Signed(i64),
    Unsigned(u64),
    NotNumeric,
    Overflow,
    TooLarge,
    Unavailable,
}

impl ReplyBuf {
    /// A copy of `reply`.
    pub fn new(reply: &Reply<'_>) -> ReplyBuf {
        let (shape, data): (ReplyShape, &[u8]) = match *reply {
            Reply::Value { data, flags } => (ReplyShape::Value(flags), data),
            Reply::Found => (ReplyShape::Found, &[]),
            Reply::NotFound => (ReplyShape::NotFound, &[]),
            Reply::Stored => (ReplyShape::Stored, &[]),
            Reply::NotStored => (ReplyShape::NotStored, &[]),
            Reply::Deleted => (ReplyShape::Deleted, &[]),
            Reply::Touched => (ReplyShape::Touched, &[]),
            Reply::Remaining(ms) => (ReplyShape::Remaining(ms), &[]),
            Reply::Signed(n) => (ReplyShape::Signed(n), &[]),
            Reply::Unsigned(n) => (ReplyShape::Unsigned(n), &[]),
            Reply::NotNumeric => (ReplyShape::NotNumeric, &[]),
            Reply::Overflow => (ReplyShape::Overflow, &[]),
            Reply::TooLarge => (ReplyShape::TooLarge, &[]),
            Reply::Unavailable => (ReplyShape::Unavailable, &[]),
        };
        ReplyBuf {
            shape,
            data: data.to_vec(),
        }
    }

    /// A value read from a store, taking its bytes without a copy.
    pub fn value(data: Vec<u8>, flags: u32) -> ReplyBuf {
        ReplyBuf {
            shape: ReplyShape::Value(flags),
            data,
        }
    }

    /// [`Reply::Unavailable`]: no cache could answer.
    pub fn unavailable() -> ReplyBuf {
        ReplyBuf::new(&Reply::Unavailable)
    }

    /// The reply, borrowing this buffer.
    pub fn reply(&self) -> Reply<'_> {
        match self.shape {
            ReplyShape::Value(flags) => Reply::Value {
                data: &self.data,
                flags,
            },
            ReplyShape::Found => Reply::Found,
            ReplyShape::NotFound => Reply::NotFound,
            ReplyShape::Stored => Reply::Stored,
            ReplyShape::NotStored => Reply::NotStored,
            ReplyShape::Deleted => Reply::Deleted,
            ReplyShape::Touched => Reply::Touched,
            ReplyShape::Remaining(ms) => Reply::Remaining(ms),
            ReplyShape::Signed(n) => Reply::Signed(n),
            ReplyShape::Unsigned(n) => Reply::Unsigned(n),
            ReplyShape::NotNumeric => Reply::NotNumeric,
            ReplyShape::Overflow => Reply::Overflow,
            ReplyShape::TooLarge => Reply::TooLarge,
            ReplyShape::Unavailable => Reply::Unavailable,
        }
    }
}

impl From<&Reply<'_>> for ReplyBuf {
    fn from(reply: &Reply<'_>) -> ReplyBuf {
        ReplyBuf::new(reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_round_trips() {
        let ops = [
            Op::Get { key: b"k" },
            Op::Exists { key: b"" },
            Op::Delete { key: b"kk" },
            Op::Touch {
                key: b"k",
                ttl: Ttl::After(5),
            },
            Op::Ttl { key: b"k" },
            Op::Store {
                mode: StoreMode::Replace,
                key: b"key",
                value: b"value",
                flags: 7,
                ttl: Ttl::AtUnix(9),
            },
            Op::Counter {
                key: b"n",
                change: CounterChange::Unsigned {
                    decrement: true,
                    delta: 3,
                    create: Some((1, Ttl::Unlimited)),
                },
            },
        ];
        for op in ops {
            let owned = OpBuf::new(&op);
            assert_eq!(owned.op(), op);
            assert_eq!(owned.key(), op.key());
        }
    }

    #[test]
    fn every_reply_round_trips() {
        let replies = [
            Reply::Value {
                data: b"session",
                flags: 3,
            },
            Reply::Found,
            Reply::NotFound,
            Reply::Stored,
            Reply::NotStored,
            Reply::Deleted,
            Reply::Touched,
            Reply::Remaining(12),
            Reply::Signed(-4),
            Reply::Unsigned(4),
            Reply::NotNumeric,
            Reply::Overflow,
            Reply::TooLarge,
            Reply::Unavailable,
        ];
        for reply in replies {
            assert_eq!(ReplyBuf::new(&reply).reply(), reply);
        }
        assert_eq!(
            ReplyBuf::value(b"v".to_vec(), 1).reply(),
            Reply::Value {
                data: b"v",
                flags: 1
            }
        );
    }
}
