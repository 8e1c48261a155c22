//! The frame: the unit every distcache 1.x peer sends.
//!
//! ```text
//!  0               4    5               9    10   11   12        14
//!  +---------------+----+---------------+----+----+----+---------+------------------+
//!  | proto_level   | is | request_uid   | op | op | co | data_len| data (0..=2048)  |
//!  | 0x00110000    | rsp| (echoed)      | cls|    | mpl| (u16 BE)|                  |
//!  +---------------+----+---------------+----+----+----+---------+------------------+
//! ```
//!
//! All integers are big-endian. A command (request or response) of up to
//! 32768 payload bytes is cut into frames of 2048 data bytes; every frame but
//! the last has `complete = 0` and exactly 2048 bytes of data.

use std::fmt;

use crate::error::DecodeError;

/// The protocol level every 1.x tool sends: version 0x0011, patch 0.
pub const PROTO_LEVEL: u32 = 0x0011_0000;
/// The version half of [`PROTO_LEVEL`]. Receivers accept any patch level.
pub const PROTO_VERSION: u16 = 0x0011;
/// Bytes in a frame header.
pub const HEADER_LEN: usize = 14;
/// Most data bytes one frame may carry.
pub const MAX_FRAME_DATA: usize = 2048;
/// Largest frame on the wire, header included.
pub const MAX_FRAME_LEN: usize = HEADER_LEN + MAX_FRAME_DATA;
/// Largest command payload. The limit is on bytes, not frames: sixteen full
/// frames followed by an empty final one are still accepted.
pub const MAX_PAYLOAD: usize = 32768;
/// Frames the original sender needs at most for one command.
pub const MAX_FRAMES: usize = MAX_PAYLOAD / MAX_FRAME_DATA;
/// Longest session id that can match anything (ADD refuses longer ones).
pub const MAX_ID_LEN: usize = 64;
/// Longest session lifetime an ADD may ask for: 7 days, in milliseconds.
pub const MAX_TIMEOUT_MS: u32 = 604_800_000;

/// Whether a frame belongs to a request or to a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Sent by a client (`is_response = 0`).
    Request,
    /// Sent by a server (`is_response = 1`).
    Response,
}

impl Kind {
    pub(crate) fn from_byte(b: u8) -> Result<Kind, DecodeError> {
        match b {
            0 => Ok(Kind::Request),
            1 => Ok(Kind::Response),
            other => Err(DecodeError::InvalidKind(other)),
        }
    }

    fn to_byte(self) -> u8 {
        match self {
            Kind::Request => 0,
            Kind::Response => 1,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Request => "request",
            Kind::Response => "response",
        })
    }
}

/// The four cache operations of the "user" operation class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Operation {
    /// Store a session.
    Add = 0,
    /// Fetch a session's data.
    Get = 1,
    /// Delete a session.
    Remove = 2,
    /// Ask whether a session is stored.
    Have = 3,
}

impl Operation {
    /// All operations, in wire order.
    pub const ALL: [Operation; 4] = [
        Operation::Add,
        Operation::Get,
        Operation::Remove,
        Operation::Have,
    ];

    /// The operation for a wire byte, if it names one.
    pub fn from_byte(b: u8) -> Option<Operation> {
        Operation::ALL.get(usize::from(b)).copied()
    }

    /// The wire byte.
    pub fn to_byte(self) -> u8 {
        self as u8
    }

    /// The upper-case name used in logs: `ADD`, `GET`, `REMOVE`, `HAVE`.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Add => "ADD",
            Operation::Get => "GET",
            Operation::Remove => "REMOVE",
            Operation::Have => "HAVE",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A decoded and validated frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The sender's protocol level (any patch level of version 0x0011).
    pub proto_level: u32,
    /// Request or response.
    pub kind: Kind,
    /// Opaque to the responder; echoed in the response.
    pub request_uid: u32,
    /// The cache operation.
    pub operation: Operation,
    /// `true` on the last frame of a command.
    pub complete: bool,
    /// Data bytes following the header (at most [`MAX_FRAME_DATA`]).
    pub data_len: u16,
}

impl FrameHeader {
    /// Validates the header fields present in `prefix` (which may be shorter
    /// than a header), in the order the original receiver checks them.
    ///
    /// Checking a prefix lets a receiver reject garbage as soon as the first
    /// bad byte arrives instead of waiting for bytes that may never come.
    /// Returns the full header once all [`HEADER_LEN`] bytes are present.
    pub fn check_prefix(prefix: &[u8]) -> Result<Option<FrameHeader>, DecodeError> {
        if prefix.len() < 4 {
            return Ok(None);
        }
        let proto_level = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        if (proto_level >> 16) as u16 != PROTO_VERSION {
            return Err(DecodeError::Version { found: proto_level });
        }
        let Some(&kind) = prefix.get(4) else {
            return Ok(None);
        };
        let kind = Kind::from_byte(kind)?;
        // Bytes 5..9 (the uid) admit any value.
        if let Some(&class) = prefix.get(9) {
            if class != 0 {
                return Err(DecodeError::OpClass(class));
            }
        }
        let operation = match prefix.get(10) {
            Some(&b) => Some(Operation::from_byte(b).ok_or(DecodeError::Operation(b))?),
            None => None,
        };
        let complete = match prefix.get(11) {
            Some(0) => Some(false),
            Some(1) => Some(true),
            Some(&other) => return Err(DecodeError::CompleteFlag(other)),
            None => None,
        };
        if prefix.len() < HEADER_LEN {
            return Ok(None);
        }
        let (Some(operation), Some(complete)) = (operation, complete) else {
            return Ok(None);
        };
        let data_len = u16::from_be_bytes([prefix[12], prefix[13]]);
        if usize::from(data_len) > MAX_FRAME_DATA {
            return Err(DecodeError::DataLen(data_len));
        }
        if !complete && usize::from(data_len) != MAX_FRAME_DATA {
            return Err(DecodeError::ShortFragment(data_len));
        }
        Ok(Some(FrameHeader {
            proto_level,
            kind,
            request_uid: u32::from_be_bytes([prefix[5], prefix[6], prefix[7], prefix[8]]),
            operation,
            complete,
            data_len,
        }))
    }

    /// Appends the 14 header bytes to `out`. The level written is always
    /// [`PROTO_LEVEL`], whatever the header was decoded with, as the original
    /// tools do.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&PROTO_LEVEL.to_be_bytes());
        out.push(self.kind.to_byte());
        out.extend_from_slice(&self.request_uid.to_be_bytes());
        out.push(0);
        out.push(self.operation.to_byte());
        out.push(u8::from(self.complete));
        out.extend_from_slice(&self.data_len.to_be_bytes());
    }

    /// Length of the whole frame, header included.
    pub fn frame_len(&self) -> usize {
        HEADER_LEN + usize::from(self.data_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(bytes: &str) -> Vec<u8> {
        hex::decode(bytes).unwrap()
    }

    #[test]
    fn parses_a_valid_header() {
        let h = FrameHeader::check_prefix(&header("001100000100000007000101000101"))
            .unwrap()
            .unwrap();
        assert_eq!(h.kind, Kind::Response);
        assert_eq!(h.request_uid, 7);
        assert_eq!(h.operation, Operation::Get);
        assert!(h.complete);
        assert_eq!(h.data_len, 1);
        let mut out = Vec::new();
        h.write(&mut out);
        assert_eq!(out, header("0011000001000000070001010001"));
    }

    #[test]
    fn accepts_any_patch_level_but_writes_zero() {
        let h = FrameHeader::check_prefix(&header("0011ffff0000000001000301000461626364"))
            .unwrap()
            .unwrap();
        assert_eq!(h.proto_level, 0x0011_ffff);
        let mut out = Vec::new();
        h.write(&mut out);
        assert_eq!(&out[..4], &[0, 0x11, 0, 0]);
    }

    #[test]
    fn rejects_each_bad_field_as_soon_as_it_arrives() {
        let cases: &[(&str, DecodeError)] = &[
            ("00120000", DecodeError::Version { found: 0x0012_0000 }),
            ("47455420", DecodeError::Version { found: 0x4745_5420 }),
            ("0011000002", DecodeError::InvalidKind(2)),
            ("001100000000000001" /* uid */, DecodeError::OpClass(1)),
            (
                "00110000000000000100", /* class 0 */
                DecodeError::Operation(4),
            ),
            ("0011000000000000010001", DecodeError::CompleteFlag(2)),
            ("00110000000000000100010108 01", DecodeError::DataLen(2049)),
            (
                "00110000000000000100010000 03",
                DecodeError::ShortFragment(3),
            ),
        ];
        for (prefix, want) in cases {
            let mut bytes = header(&prefix.replace(' ', ""));
            // Append the byte whose value the case is about where the hex
            // stops short of the field.
            match want {
                DecodeError::OpClass(_) => bytes.push(1),
                DecodeError::Operation(_) => bytes.push(4),
                DecodeError::CompleteFlag(_) => bytes.push(2),
                _ => {}
            }
            assert_eq!(
                FrameHeader::check_prefix(&bytes),
                Err(want.clone()),
                "{prefix}"
            );
        }
    }

    #[test]
    fn a_short_prefix_is_not_an_error() {
        let full = header("0011000000000000010001010004");
        for n in 0..HEADER_LEN {
            assert_eq!(
                FrameHeader::check_prefix(&full[..n]),
                Ok(None),
                "prefix {n}"
            );
        }
        assert!(FrameHeader::check_prefix(&full).unwrap().is_some());
    }
}
