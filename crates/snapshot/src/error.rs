//! What can be wrong with a snapshot.

use std::io;

use thiserror::Error;

use crate::{FORMAT_VERSION, MAX_DATA_LEN, MAX_ID_LEN};

/// Why a snapshot could not be written or read. Each message names what
/// was found and what was expected, in one line.
#[derive(Debug, Error)]
pub enum SnapshotError {
    /// Reading or writing the underlying file failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The path is not a regular file (a directory, a device...).
    #[error("not a regular file (it is {0})")]
    NotAFile(&'static str),
    /// The file holds no byte at all (a crash between creating and
    /// writing it, or a `touch`).
    #[error("the file is empty")]
    Empty,
    /// The file does not start with the snapshot magic.
    #[error("not a dc_server snapshot: it starts with {found} instead of 89 44 43 53 0d 0a 1a 0a")]
    Foreign {
        /// Its first bytes, in hex.
        found: String,
    },
    /// A snapshot of another format version.
    #[error("format version {found}; this dc_server reads version {FORMAT_VERSION}")]
    Version {
        /// The version in the header.
        found: u32,
    },
    /// The file ends before its trailer.
    #[error("truncated: the file ends at byte {offset}, inside {reading}")]
    Truncated {
        /// Bytes in the file.
        offset: u64,
        /// What was being read.
        reading: &'static str,
    },
    /// A field holds a value no writer produces.
    #[error("corrupt at byte {offset}: {what}")]
    Corrupt {
        /// Where the field starts.
        offset: u64,
        /// What is wrong with it.
        what: String,
    },
    /// The checksum in the trailer does not match the content.
    #[error(
        "checksum mismatch: the trailer says {stored:08x}, the content hashes to {computed:08x}"
    )]
    Checksum {
        /// The CRC-32C in the trailer.
        stored: u32,
        /// The CRC-32C of the bytes read.
        computed: u32,
    },
    /// The trailer's record count does not match the records read.
    #[error("the trailer counts {stored} records, the file holds {found}")]
    Count {
        /// The count in the trailer.
        stored: u64,
        /// Records read.
        found: u64,
    },
    /// Bytes follow the trailer.
    #[error("bytes follow the trailer, which ends at byte {offset}")]
    Trailing {
        /// Where the trailer ends.
        offset: u64,
    },
    /// A record to write has an id or data too long for the format.
    #[error("a record of a {id_len}-byte id and {data_len} bytes of data does not fit the format (ids up to {MAX_ID_LEN}, data up to {MAX_DATA_LEN} bytes)")]
    TooLong {
        /// The id's length.
        id_len: usize,
        /// The data's length.
        data_len: usize,
    },
}
