//! The operations.

use crate::Ttl;

/// How a store request treats a key that already holds a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreMode {
    /// Only if the key holds nothing (distcache ADD, memcache `add`, Redis
    /// `SET NX`).
    Add,
    /// Whatever the key holds (memcache `set`, Redis `SET`, `SETEX`).
    Set,
    /// Only if the key holds a value (memcache `replace`, Redis `SET XX`).
    Replace,
}

/// How a counter changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CounterChange {
    /// Redis `INCRBY`/`DECRBY`: signed 64-bit; a missing key counts from 0
    /// (and gets the server's maximum lifetime), an existing one keeps its
    /// lifetime; a result outside `i64` is refused.
    Signed(i64),
    /// memcache `incr`/`decr`: unsigned 64-bit; an increment wraps, a
    /// decrement stops at 0. A missing key is created holding `initial`
    /// only when `create` says so (memcache binary); the text protocol never
    /// creates.
    Unsigned {
        /// Decrement rather than increment.
        decrement: bool,
        /// By how much.
        delta: u64,
        /// For a missing key: the value to create it with, and its lifetime.
        create: Option<(u64, Ttl)>,
    },
}

/// One protocol-neutral operation on the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op<'a> {
    /// The value and flags under `key`.
    Get {
        /// The key.
        key: &'a [u8],
    },
    /// Whether `key` holds a value.
    Exists {
        /// The key.
        key: &'a [u8],
    },
    /// Remove `key`.
    Delete {
        /// The key.
        key: &'a [u8],
    },
    /// Give `key` a new lifetime.
    Touch {
        /// The key.
        key: &'a [u8],
        /// The new lifetime.
        ttl: Ttl,
    },
    /// How long `key` has left to live.
    Ttl {
        /// The key.
        key: &'a [u8],
    },
    /// Store `value` under `key`.
    Store {
        /// What to do when the key holds a value already.
        mode: StoreMode,
        /// The key.
        key: &'a [u8],
        /// The value.
        value: &'a [u8],
        /// Opaque flags stored with the value (memcache), 0 elsewhere.
        flags: u32,
        /// The lifetime.
        ttl: Ttl,
    },
    /// Add to the decimal number held under `key`.
    Counter {
        /// The key.
        key: &'a [u8],
        /// By how much, and the rules.
        change: CounterChange,
    },
}

/// The kind of an [`Op`], without its arguments (for counters and for a
/// client matching answers to requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    /// [`Op::Get`].
    Get,
    /// [`Op::Exists`].
    Exists,
    /// [`Op::Delete`].
    Delete,
    /// [`Op::Touch`].
    Touch,
    /// [`Op::Ttl`].
    Ttl,
    /// [`Op::Store`].
    Store,
    /// [`Op::Counter`].
    Counter,
}

impl OpKind {
    /// Every kind, in a fixed order (for counters).
    pub const ALL: [OpKind; 7] = [
        OpKind::Get,
        OpKind::Exists,
        OpKind::Delete,
        OpKind::Touch,
        OpKind::Ttl,
        OpKind::Store,
        OpKind::Counter,
    ];

    /// A short lowercase name, as used in metric labels.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Get => "get",
            OpKind::Exists => "exists",
            OpKind::Delete => "delete",
            OpKind::Touch => "touch",
            OpKind::Ttl => "ttl",
            OpKind::Store => "store",
            OpKind::Counter => "counter",
        }
    }

    /// This kind's place in [`ALL`](Self::ALL).
    pub fn index(self) -> usize {
        self as usize
    }
}

impl<'a> Op<'a> {
    /// The key the operation is about.
    pub fn key(&self) -> &'a [u8] {
        match *self {
            Op::Get { key }
            | Op::Exists { key }
            | Op::Delete { key }
            | Op::Touch { key, .. }
            | Op::Ttl { key }
            | Op::Store { key, .. }
            | Op::Counter { key, .. } => key,
        }
    }

    /// What kind of operation this is.
    pub fn kind(&self) -> OpKind {
        match self {
            Op::Get { .. } => OpKind::Get,
            Op::Exists { .. } => OpKind::Exists,
            Op::Delete { .. } => OpKind::Delete,
            Op::Touch { .. } => OpKind::Touch,
            Op::Ttl { .. } => OpKind::Ttl,
            Op::Store { .. } => OpKind::Store,
            Op::Counter { .. } => OpKind::Counter,
        }
    }
}
