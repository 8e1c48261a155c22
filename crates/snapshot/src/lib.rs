//! The snapshot file of dc_server's warm restart (`-snapshot FILE`): every
//! live session with its flags and remaining lifetime, written as a stream
//! and read back as one, so that neither side ever holds a second copy of
//! the store.
//!
//! This crate is the format alone: a [`Writer`] over any [`Write`] and a
//! [`Reader`] over any [`Read`], with the typed [`SnapshotError`] that says
//! what is wrong with a file. Where the file lives, when it is written and
//! what is done with a bad one is the server's business (`dc_engine`).
//!
//! # Layout
//!
//! Every integer is little-endian.
//!
//! ```text
//!  header, 24 bytes
//!  +--------------------------+-------------+--------------+-------------------+
//!  | magic                    | version u32 | reserved u32 | created  u64      |
//!  | 89 'D' 'C' 'S' \r \n 1a \n | = 1         | = 0          | Unix time, in ms  |
//!  +--------------------------+-------------+--------------+-------------------+
//!   0                          8             12             16                 24
//!
//!  one record per session, 18 bytes + id + data
//!  +--------+--------+-----------+-------------+--------------+--------+----------+
//!  | 'R' u8 | id_len | flags u32 | ttl_ms u64  | data_len u32 | id     | data     |
//!  |        | u8     | (memcache)| (remaining) | ≤ 16 MiB     | id_len | data_len |
//!  +--------+--------+-----------+-------------+--------------+--------+----------+
//!
//!  trailer, 13 bytes, once, last
//!  +--------+-------------+-------------------------------------------------+
//!  | 'E' u8 | records u64 | crc32c u32 of every byte before it, header on   |
//!  +--------+-------------+-------------------------------------------------+
//! ```
//!
//! * **Magic.** PNG's trick: the high-bit first byte catches a 7-bit
//!   transfer, `\r\n` a line-ending conversion, `1a` a DOS `type`. A file
//!   that does not start with it is [`SnapshotError::Foreign`].
//! * **Version.** Bumped on any change of layout; a reader refuses any
//!   other ([`SnapshotError::Version`]) rather than guess.
//! * **Remaining lifetime, not an absolute expiry.** `ttl_ms` counts from
//!   `created`. The store runs on a monotonic clock, so each session's
//!   remaining lifetime is what it really knows; the wall clock is read
//!   once per file (at `created`) and once more when loading, and the
//!   time between the two is taken off every record. A wall-clock step
//!   during the write therefore moves nothing, and the conversion is in one
//!   place per side instead of once per record. (An absolute expiry per
//!   record holds the same information; it would need the wall clock read
//!   against the monotonic one for every record.)
//! * **Tagged records and a trailer.** The tag tells a record from the
//!   trailer, so the writer need not know the count in advance (it streams
//!   a store that keeps changing, chunk by chunk). The trailer's count and
//!   checksum make a truncated file ([`SnapshotError::Truncated`]), a torn
//!   or flipped byte ([`SnapshotError::Checksum`]) and bytes appended after
//!   the end ([`SnapshotError::Trailing`]) all detectable. CRC-32C (the
//!   `crc32c` crate, one SSE 4.2 or ARMv8 instruction per 8 bytes) hashes
//!   well over 10 GB/s, so checking costs little next to the reading.
//! * **A reader trusts no length.** An id is at most 255 bytes by
//!   construction and data at most [`MAX_DATA_LEN`]; a larger length is
//!   [`SnapshotError::Corrupt`], never an allocation.
//!
//! # Secrets
//!
//! Session data are TLS master secrets. Every buffer of this crate
//! ([`SecretBuf`]) is wiped when dropped and never reallocated without
//! wiping the old allocation: no copy of a session outlives the reader or
//! writer that held it. (The file itself is the caller's to protect: the
//! server creates it with mode 0600.)
//!
//! ```
//! use dc_snapshot::{Reader, Writer};
//!
//! let mut writer = Writer::new(Vec::new(), 1_700_000_000_000)?;
//! writer.write_record(b"id", b"secret", 0, 30_000)?;
//! let (file, count) = writer.finish()?;
//! assert_eq!(count, 1);
//!
//! let mut reader = Reader::new(&file[..])?;
//! assert_eq!(reader.header().created_unix_ms, 1_700_000_000_000);
//! let record = reader.next_record()?.expect("one record");
//! assert_eq!((record.id, record.data, record.ttl_ms), (&b"id"[..], &b"secret"[..], 30_000));
//! assert!(reader.next_record()?.is_none()); // the trailer checked out
//! # Ok::<(), dc_snapshot::SnapshotError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod buf;
mod error;
mod read;
mod segment;
mod write;

pub use buf::SecretBuf;
pub use error::SnapshotError;
pub use read::{Reader, Record};
pub use segment::{header, trailer, Segment, SegmentWriter};
pub use write::{encode_record, Writer};

/// The first eight bytes of every snapshot.
pub const MAGIC: [u8; 8] = [0x89, b'D', b'C', b'S', b'\r', b'\n', 0x1a, b'\n'];

/// The layout version this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Bytes of the header.
pub const HEADER_LEN: usize = 24;

/// Bytes of a record before its id and data.
pub const RECORD_HEADER_LEN: usize = 18;

/// Bytes of the trailer.
pub const TRAILER_LEN: usize = 13;

/// Longest data a record may carry: the store's own bound (16 MiB).
pub const MAX_DATA_LEN: usize = 16 << 20;

/// Longest id a record may carry (its length is one byte).
pub const MAX_ID_LEN: usize = u8::MAX as usize;

/// Tag of a record.
const RECORD_TAG: u8 = b'R';
/// Tag of the trailer.
const TRAILER_TAG: u8 = b'E';

/// What the header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// When the snapshot was started, in ms since the Unix epoch: every
    /// record's `ttl_ms` counts from here.
    pub created_unix_ms: u64,
}

#[cfg(test)]
mod tests;
