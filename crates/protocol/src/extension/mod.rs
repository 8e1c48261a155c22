//! The distcache-rs protocol extension: the operations distcache 1.x cannot
//! carry (SET, REPLACE, counters, flags, TOUCH, TTL, keys up to 250 bytes),
//! spoken between our own `dc_client` and `dc_server` once both said so.
//!
//! An original 1.x server must never see an extended frame, so a client
//! first sends a probe every 1.x server answers harmlessly: a HAVE (class 0,
//! operation 3) at patch level 1 whose id is 72 bytes long, [`HELLO_MAGIC`]
//! first. The original ignores the patch level, accepts any HAVE id and can
//! hold no id longer than 64 bytes, so it answers the one byte `01`
//! ("absent") and changes nothing. Our server answers a longer payload that
//! starts with the same magic and names the version it chose; only then
//! does the client send extended frames on that connection.
//!
//! ```text
//!   client                                          server
//!     | HAVE, level 0x00110001, id = hello (72 bytes)  |
//!     |----------------------------------------------->|
//!     |   original / 1.x only: HAVE answer `01`        |  -> stay on 1.x frames
//!     |   ours: HAVE answer = accept (40 bytes)        |  -> extended frames allowed
//!     |<-----------------------------------------------|
//!     | class 1 frames (and 1.x frames, as before)     |
//! ```
//!
//! Extended frames keep the 1.x frame layout and fragmentation; they carry
//! the negotiated level in `proto_level` (so the version half stays 0x0011:
//! a stray one never trips the original's abort on a foreign version) and
//! class 1 in `op_class` (so the original drops only that connection, as it
//! does for any other class):
//!
//! ```text
//!  0               4    5               9    10   11   12        14
//!  +---------------+----+---------------+----+----+----+---------+-----------------------+
//!  | 0x00110001    | is | request_uid   | 01 | op | co | data_len| data (0..=2048)       |
//!  | (ext level 1) | rsp|               |    |    | mpl|         |                       |
//!  +---------------+----+---------------+----+----+----+---------+-----------------------+
//! ```
//!
//! A command is at most [`MAX_EXT_PAYLOAD`] bytes (17 frames), so that any
//! value the RESP and memcache front doors accept (32 KiB) fits with its
//! key and header. Requests are in [`request`], answers in [`response`],
//! the probe in [`hello`]; [`FrameDecoder`] reads a stream that mixes 1.x
//! and extended frames, [`ExtClient`] is the client side.

mod client;
mod error;
mod frame;
pub mod hello;
pub mod request;
pub mod response;
#[cfg(test)]
mod tests;

pub use client::{ExtAnswer, ExtClient, Negotiation, ProbeOutcome};
pub use error::{ExtDecodeError, ExtEncodeError, ExtRequestError, ExtResponseError};
pub use frame::{encode_extended, AnyOperation, Decoded, ExtCommand, FrameDecoder, Incoming};
pub use hello::{Accept, Offer, HELLO_LEVEL, HELLO_MAGIC};
pub use request::{encode_request, operation_of, ExtRequest, Refusal};
pub use response::{encode_reply, encode_status, parse_reply, ExtStatus};

use std::fmt;

use dc_ops::Ttl;

use crate::frame::MAX_FRAME_DATA;

/// The `op_class` of every extended frame (1.x knows only class 0).
pub const EXT_CLASS: u8 = 1;
/// The only version of the extension so far.
pub const EXT_VERSION: u16 = 1;
/// The `proto_level` of every frame of extension version `v`: version
/// half 0x0011, patch level `v`.
pub const fn ext_level(version: u16) -> u32 {
    0x0011_0000 | version as u32
}
/// Largest extended command payload: 17 frames, room for a 32 KiB value,
/// a 250-byte key and the store header.
pub const MAX_EXT_PAYLOAD: usize = 17 * MAX_FRAME_DATA;
/// Longest key (memcache's; the store's cap for every front door).
pub const MAX_KEY_LEN: usize = dc_ops::MAX_KEY_LEN;
/// Longest value.
pub const MAX_VALUE_LEN: usize = dc_ops::MAX_VALUE_LEN;

/// The operations of class 1. 0 to 3 mirror the 1.x codes (ADD, GET,
/// REMOVE, HAVE) so a trace reads the same; the payloads are the
/// extension's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ExtOperation {
    /// Store only if the key holds nothing.
    Add = 0,
    /// The value and flags under a key.
    Get = 1,
    /// Remove a key.
    Delete = 2,
    /// Whether a key holds a value.
    Exists = 3,
    /// Store whatever the key holds (overwrite).
    Set = 4,
    /// Store only if the key holds a value.
    Replace = 5,
    /// Give a key a new lifetime.
    Touch = 6,
    /// How long a key has left.
    Ttl = 7,
    /// memcache `incr`: unsigned, wraps.
    Incr = 8,
    /// memcache `decr`: unsigned, stops at 0.
    Decr = 9,
    /// Redis `INCRBY`/`DECRBY`: signed, refuses to overflow.
    IncrBy = 10,
}

impl ExtOperation {
    /// Every operation, in wire order.
    pub const ALL: [ExtOperation; 11] = [
        ExtOperation::Add,
        ExtOperation::Get,
        ExtOperation::Delete,
        ExtOperation::Exists,
        ExtOperation::Set,
        ExtOperation::Replace,
        ExtOperation::Touch,
        ExtOperation::Ttl,
        ExtOperation::Incr,
        ExtOperation::Decr,
        ExtOperation::IncrBy,
    ];

    /// The operation for a wire byte, if it names one.
    pub fn from_byte(b: u8) -> Option<ExtOperation> {
        ExtOperation::ALL.get(usize::from(b)).copied()
    }

    /// The wire byte.
    pub fn to_byte(self) -> u8 {
        self as u8
    }

    /// The upper-case name used in logs.
    pub fn name(self) -> &'static str {
        match self {
            ExtOperation::Add => "X-ADD",
            ExtOperation::Get => "X-GET",
            ExtOperation::Delete => "X-DELETE",
            ExtOperation::Exists => "X-EXISTS",
            ExtOperation::Set => "X-SET",
            ExtOperation::Replace => "X-REPLACE",
            ExtOperation::Touch => "X-TOUCH",
            ExtOperation::Ttl => "X-TTL",
            ExtOperation::Incr => "X-INCR",
            ExtOperation::Decr => "X-DECR",
            ExtOperation::IncrBy => "X-INCRBY",
        }
    }
}

impl fmt::Display for ExtOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Bytes a lifetime takes on the wire: a kind byte and a 64-bit value.
pub const TTL_LEN: usize = 9;

/// Lifetime kinds on the wire (the first byte of a lifetime).
pub mod ttl_kind {
    /// No lifetime asked for: the server's maximum applies. Value 0.
    pub const UNLIMITED: u8 = 0;
    /// Expires this many milliseconds after the server handles it.
    pub const AFTER_MS: u8 = 1;
    /// Expires at this Unix time, in seconds.
    pub const AT_UNIX: u8 = 2;
    /// Already expired. Value 0.
    pub const EXPIRED: u8 = 3;
}

/// A lifetime's 9 bytes.
pub(crate) fn ttl_bytes(ttl: Ttl) -> [u8; TTL_LEN] {
    let (kind, value) = match ttl {
        Ttl::Unlimited => (ttl_kind::UNLIMITED, 0),
        Ttl::After(ms) => (ttl_kind::AFTER_MS, ms),
        Ttl::AtUnix(secs) => (ttl_kind::AT_UNIX, secs),
        Ttl::Expired => (ttl_kind::EXPIRED, 0),
    };
    let mut out = [0; TTL_LEN];
    out[0] = kind;
    out[1..].copy_from_slice(&value.to_be_bytes());
    out
}

/// Reads a lifetime; `Err(kind)` for a kind byte that names none.
pub(crate) fn read_ttl(bytes: &[u8; TTL_LEN]) -> Result<Ttl, u8> {
    let [kind, value @ ..] = *bytes;
    let value = u64::from_be_bytes(value);
    match kind {
        ttl_kind::UNLIMITED => Ok(Ttl::Unlimited),
        ttl_kind::AFTER_MS => Ok(Ttl::After(value)),
        ttl_kind::AT_UNIX => Ok(Ttl::AtUnix(value)),
        ttl_kind::EXPIRED => Ok(Ttl::Expired),
        other => Err(other),
    }
}
