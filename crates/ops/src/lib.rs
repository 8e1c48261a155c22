//! Protocol-neutral cache operations: what every front door of the cache
//! (distcache 1.x, RESP2, memcache text and binary) asks the store to do,
//! and what comes back.
//!
//! A protocol crate parses its own typed requests, then turns each into one
//! or more [`Op`]s; the server's executor runs them on the one store and
//! hands back a [`Reply`] that the protocol composes into its exact bytes.
//! Going through one neutral operation keeps the cost of a new protocol or
//! a new store linear: no storage trait per protocol.
//!
//! ```text
//!   bytes ──parse──> protocol Request ──> Op ──Execute──> Reply ──compose──> bytes
//!         (ServerCodec::serve drives the whole line for one request)
//!   Op ──ClientCodec::encode──> bytes ... bytes ──ClientCodec::decode_reply──> Reply
//! ```
//!
//! Lifetimes travel as a [`Ttl`], the protocol's own meaning of its number
//! (relative, absolute Unix time, none, already expired): only the executor,
//! which has the clocks and the server's `-max-ttl`, turns it into an
//! instant.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod codec;
#[cfg(any(test, feature = "model"))]
pub mod model;
pub mod number;
mod op;
mod owned;
mod reply;
mod ttl;

pub use codec::{ClientCodec, Correlation, Execute, ServerCodec, ServerInfo, Step};
pub use op::{CounterChange, Op, OpKind, StoreMode};
pub use owned::{OpBuf, ReplyBuf};
pub use reply::Reply;
pub use ttl::{Ttl, MEMCACHE_RELATIVE_LIMIT_SECS};

/// Milliseconds, on whichever clock the context says.
pub type Millis = u64;

/// The wire protocols a cache front door speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// The distcache 1.x frames.
    Distcache,
    /// RESP2, as Redis speaks it.
    Redis,
    /// The memcache text protocol.
    MemcacheText,
    /// The memcache binary protocol (requests start with 0x80).
    MemcacheBinary,
}

impl Protocol {
    /// Every protocol, in a fixed order (for per-protocol counters).
    pub const ALL: [Protocol; 4] = [
        Protocol::Distcache,
        Protocol::Redis,
        Protocol::MemcacheText,
        Protocol::MemcacheBinary,
    ];

    /// A short lowercase name, as used in metric labels and on command lines.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Distcache => "distcache",
            Protocol::Redis => "redis",
            Protocol::MemcacheText => "memcache",
            Protocol::MemcacheBinary => "memcache-binary",
        }
    }

    /// This protocol's place in [`ALL`](Self::ALL).
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Longest key any front door accepts (memcache's `KEY_MAX_LENGTH`; RESP
/// keeps the same cap so that a key stored over one protocol can be read
/// over the other).
pub const MAX_KEY_LEN: usize = 250;

/// Longest value the RESP and memcache front doors store. Every consumer's
/// session or staple fits (at most about 13.7 KB); anything longer is
/// refused with that protocol's "too large" answer and its bytes are
/// skipped, so nothing else on the connection is disturbed.
pub const MAX_VALUE_LEN: usize = 32 * 1024;
