//! The binary wire: a 24-byte big-endian header, then extras, key and
//! value. A connection whose first byte is 0x80 speaks it.
//!
//! ```text
//!   byte  0       1        2       3        4       5        6       7
//!       +-------+--------+----------------+-------+--------+----------------+
//!   0   | magic | opcode |  key length    |extlen |datatype| vbucket/status |
//!       +-------+--------+----------------+-------+--------+----------------+
//!   8   |        total body length        |             opaque              |
//!       +---------------------------------+---------------------------------+
//!   16  |                                cas                                |
//!       +-------------------------------------------------------------------+
//!   24  | extras (extlen) | key (key length) | value (body - extlen - keylen) |
//!
//!   magic 0x80 request, 0x81 response; the response echoes opcode and
//!   opaque; status 0 is success; datatype and cas are 0 in our answers.
//!
//!   SET/ADD/REPLACE extras:   flags u32 | expiration u32
//!   INCREMENT/DECREMENT:      delta u64 | initial u64 | expiration u32
//!                             (expiration 0xffffffff: do not create)
//!   TOUCH:                    expiration u32
//!   GET* response extras:     flags u32
//! ```

pub mod compose;
pub mod parse;

pub use parse::{parse, Parsed, MAX_BODY_LEN};

/// Bytes of a header.
pub const HEADER_LEN: usize = 24;
/// The first byte of a request.
pub const REQUEST_MAGIC: u8 = 0x80;
/// The first byte of a response.
pub const RESPONSE_MAGIC: u8 = 0x81;

/// The opcodes we serve (anything else is answered `UNKNOWN_COMMAND`).
pub mod opcode {
    /// GET.
    pub const GET: u8 = 0x00;
    /// SET.
    pub const SET: u8 = 0x01;
    /// ADD.
    pub const ADD: u8 = 0x02;
    /// REPLACE.
    pub const REPLACE: u8 = 0x03;
    /// DELETE.
    pub const DELETE: u8 = 0x04;
    /// INCREMENT.
    pub const INCREMENT: u8 = 0x05;
    /// DECREMENT.
    pub const DECREMENT: u8 = 0x06;
    /// QUIT.
    pub const QUIT: u8 = 0x07;
    /// GETQ: no answer on a miss.
    pub const GETQ: u8 = 0x09;
    /// NOOP.
    pub const NOOP: u8 = 0x0a;
    /// VERSION.
    pub const VERSION: u8 = 0x0b;
    /// GETK: the answer carries the key.
    pub const GETK: u8 = 0x0c;
    /// GETKQ.
    pub const GETKQ: u8 = 0x0d;
    /// STAT.
    pub const STAT: u8 = 0x10;
    /// SETQ: no answer on success.
    pub const SETQ: u8 = 0x11;
    /// ADDQ.
    pub const ADDQ: u8 = 0x12;
    /// REPLACEQ.
    pub const REPLACEQ: u8 = 0x13;
    /// DELETEQ.
    pub const DELETEQ: u8 = 0x14;
    /// INCREMENTQ.
    pub const INCREMENTQ: u8 = 0x15;
    /// DECREMENTQ.
    pub const DECREMENTQ: u8 = 0x16;
    /// QUITQ: close without an answer.
    pub const QUITQ: u8 = 0x17;
    /// TOUCH.
    pub const TOUCH: u8 = 0x1c;

    /// Whether success is answered with silence.
    pub fn is_quiet(op: u8) -> bool {
        matches!(
            op,
            GETQ | GETKQ | SETQ | ADDQ | REPLACEQ | DELETEQ | INCREMENTQ | DECREMENTQ | QUITQ
        )
    }
}

/// Response statuses, and the bodies memcached 1.6 sends with them.
pub mod status {
    /// Success.
    pub const OK: u16 = 0x0000;
    /// Key not found.
    pub const KEY_ENOENT: u16 = 0x0001;
    /// Key exists (ADD).
    pub const KEY_EEXISTS: u16 = 0x0002;
    /// Value too large.
    pub const E2BIG: u16 = 0x0003;
    /// Invalid arguments (lengths that do not fit the command).
    pub const EINVAL: u16 = 0x0004;
    /// Not stored.
    pub const NOT_STORED: u16 = 0x0005;
    /// INCREMENT/DECREMENT on a non-numeric value.
    pub const DELTA_BADVAL: u16 = 0x0006;
    /// Unknown command.
    pub const UNKNOWN_COMMAND: u16 = 0x0081;
    /// Temporary failure (a proxy with no upstream).
    pub const ETMPFAIL: u16 = 0x0086;

    /// The body memcached sends with an error status.
    pub fn text(status: u16) -> &'static [u8] {
        match status {
            KEY_ENOENT => b"Not found",
            KEY_EEXISTS => b"Data exists for key.",
            E2BIG => b"Too large.",
            EINVAL => b"Invalid arguments",
            NOT_STORED => b"Not stored.",
            DELTA_BADVAL => b"Non-numeric server-side value for incr or decr",
            UNKNOWN_COMMAND => b"Unknown command",
            ETMPFAIL => b"Temporary failure",
            _ => b"",
        }
    }
}

/// A packet header (either direction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// 0x80 request, 0x81 response.
    pub magic: u8,
    /// The command.
    pub opcode: u8,
    /// Bytes of key.
    pub key_len: u16,
    /// Bytes of extras.
    pub extras_len: u8,
    /// Data type (0: raw bytes; ignored in requests, as memcached does).
    pub data_type: u8,
    /// vbucket in a request, status in a response.
    pub status: u16,
    /// Bytes after the header: extras, key and value.
    pub body_len: u32,
    /// Echoed in the response.
    pub opaque: u32,
    /// Compare-and-swap value (ignored in requests, 0 in our responses).
    pub cas: u64,
}

impl Header {
    /// Reads a header from the first [`HEADER_LEN`] bytes; `None` if fewer.
    pub fn read(input: &[u8]) -> Option<Header> {
        let h: &[u8; HEADER_LEN] = input.get(..HEADER_LEN)?.try_into().ok()?;
        Some(Header {
            magic: h[0],
            opcode: h[1],
            key_len: u16::from_be_bytes([h[2], h[3]]),
            extras_len: h[4],
            data_type: h[5],
            status: u16::from_be_bytes([h[6], h[7]]),
            body_len: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
            opaque: u32::from_be_bytes([h[12], h[13], h[14], h[15]]),
            cas: u64::from_be_bytes([h[16], h[17], h[18], h[19], h[20], h[21], h[22], h[23]]),
        })
    }

    /// Appends the header.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(self.magic);
        out.push(self.opcode);
        out.extend_from_slice(&self.key_len.to_be_bytes());
        out.push(self.extras_len);
        out.push(self.data_type);
        out.extend_from_slice(&self.status.to_be_bytes());
        out.extend_from_slice(&self.body_len.to_be_bytes());
        out.extend_from_slice(&self.opaque.to_be_bytes());
        out.extend_from_slice(&self.cas.to_be_bytes());
    }
}
