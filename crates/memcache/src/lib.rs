//! Sans-IO memcache codec: one request/response model and the two wires
//! that parse into it and compose from it, the text protocol (Apache
//! `mod_socache_memcache` through apr-util) and the binary one (ProFTPD's
//! `mod_tls_memcache` and `mod_ban` through libmemcached).
//!
//! Nothing here owns a socket, reads a clock or blocks. [`MemcacheServer`]
//! is fed whatever bytes have arrived and serves at most one request per
//! call onto a [`dc_ops::Execute`]; [`TextClient`] and [`BinaryClient`] are
//! the other side, for a load generator and for `dc_client`.
//!
//! ```text
//!                       first byte 0x80? ──yes──> binary::parse ─┐
//!   bytes ──MemcacheServer─┤                                     ├─> Request ──> Op(s) ──Execute──> Reply
//!                          └──no───> text::parse ────────────────┘                                  │
//!   out <── text::compose / binary::compose <── Response <──────────────────────────────────────────┘
//! ```
//!
//! The two wires, in short (details in [`text`] and [`binary`]):
//!
//! ```text
//!   text:    set <key> <flags> <exptime> <bytes> [noreply]\r\n<data>\r\n  ->  STORED\r\n
//!            get <key>...\r\n  ->  VALUE <key> <flags> <bytes>\r\n<data>\r\n ... END\r\n
//!
//!   binary:  +------+------+-------+------+------+--------+-------+-------+-----+---------------------+
//!            |magic |opcode|keylen |extlen|dtype |vb/stat |bodylen|opaque | cas | extras, key, value  |
//!            | 0x80 |  u8  | u16   |  u8  |  u8  |  u16   |  u32  |  u32  | u64 |                     |
//!            +------+------+-------+------+------+--------+-------+-------+-----+---------------------+
//!             24 bytes, big-endian; responses: magic 0x81, opcode and opaque echoed
//! ```
//!
//! Supported: text `get`, `gets`, `set`, `add`, `replace`, `delete`
//! (`<key>`, `<key> 0`, `[noreply]`), `incr`, `decr`, `touch`, `version`,
//! `stats`, `quit`; binary GET, GETQ, GETK, GETKQ, SET(Q), ADD(Q),
//! REPLACE(Q), DELETE(Q), INCREMENT(Q), DECREMENT(Q), TOUCH, STAT, VERSION,
//! NOOP, QUIT, QUITQ. Anything else is `ERROR` / `UNKNOWN_COMMAND`.
//! Exptimes follow memcached's 30-day rule ([`dc_ops::Ttl::memcache`]);
//! flags are stored and echoed.
//!
//! Every answer was checked byte for byte against memcached 1.6.18,
//! including its refusals (`CLIENT_ERROR bad data chunk` goes on after
//! `<bytes>+2` bytes; an oversize value is swallowed and, for a `set`, the
//! old value deleted; a binary EINVAL closes the connection; a text line
//! over 2048 bytes without a newline closes it without a word). The
//! deliberate differences:
//!
//! * **No CAS.** `gets` prints cas 0, binary responses carry cas 0, and a
//!   request's cas is ignored (a binary SET with cas ≠ 0 stores anyway).
//!   There is no `cas` command.
//! * **Value cap** [`dc_ops::MAX_VALUE_LEN`] (32 KiB, not memcached's
//!   1 MiB): a longer value gets `SERVER_ERROR object too large for cache`
//!   / `E2BIG` and is skipped as it arrives, without being buffered.
//! * **Binary body cap** [`binary::MAX_BODY_LEN`] (1 MiB + 512): a longer
//!   body length closes the connection, where memcached would swallow it.
//!   A bad magic byte mid-stream closes it too, as in memcached.
//! * **Version** [`VERSION`], `1.6.0`: numeric, as libmemcached requires.
//! * **Keys** on the text wire may not hold control bytes (memcached only
//!   checks the length): refused with `CLIENT_ERROR bad command line format`.
//! * **Long multi-key gets** stop at [`text::MAX_GET_LINE_LEN`] (64 KiB);
//!   memcached takes any length. Other lines: 2048 bytes, as memcached.
//! * **stats** gives the 22 statistics `mod_status` reads (pid … threads,
//!   from [`dc_ops::ServerInfo`], 0 where unknown) and takes no argument
//!   (`stats <anything>` is `ERROR`); binary STAT with a group key answers
//!   `KEY_ENOENT`.
//! * **Not implemented:** `cas`, `append`, `prepend`, `flush_all`,
//!   `verbosity`, the meta commands, GAT, SASL; they answer `ERROR` /
//!   `UNKNOWN_COMMAND`.
//! * Numbers follow memcached's `strtoul`/`strtol` rules (sign, digits,
//!   range, the 32-bit truncation of flags), except that leading blanks
//!   inside a token (tabs) are not skipped.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod binary;
mod client;
pub mod error;
pub mod request;
pub mod response;
mod server;
pub mod text;

pub use client::{BinaryClient, TextClient};
pub use error::{ClientError, ProtocolError};
pub use request::{Keys, KeysIter, Request};
pub use response::{Response, StatValue, VERSION};
pub use server::MemcacheServer;

#[cfg(test)]
mod tests;
