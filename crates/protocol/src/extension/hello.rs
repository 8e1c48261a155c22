//! The probe that turns the extension on, and its answer.
//!
//! ```text
//! offer  (a 1.x HAVE request, proto_level 0x00110001, payload = the id, 72 bytes):
//!   +--------------------------------+-------------+-------------+------------------+
//!   | HELLO_MAGIC (32)               | lowest (u16)| highest(u16)| 36 zero bytes    |
//!   +--------------------------------+-------------+-------------+------------------+
//!
//! accept (a 1.x HAVE answer, proto_level 0x00110001, 40 bytes):
//!   +--------------------------------+-------------+-------------+------------------+
//!   | HELLO_MAGIC (32)               | version(u16)| max key(u16)| max value (u32)  |
//!   +--------------------------------+-------------+-------------+------------------+
//! ```
//!
//! The offer's id is longer than the 64 bytes any 1.x ADD stores, so a 1.x
//! server holds nothing under it: the original answers `01`. Any one-byte
//! answer means "1.x only"; an empty one or `02` comes from a proxy with
//! no server behind it and says nothing about the server.

use super::error::ExtResponseError;
use super::{MAX_KEY_LEN, MAX_VALUE_LEN};
use crate::decoder::Command;
use crate::encoder::{write_frames, FrameFields};
use crate::frame::{Kind, Operation};

/// The first 32 bytes of the offer and of its acceptance.
pub const HELLO_MAGIC: &[u8; 32] = b"distcache-rs protocol extension\0";
/// The `proto_level` of the offer and of the acceptance (patch level 1:
/// the original and every 1.x receiver ignore the patch level).
pub const HELLO_LEVEL: u32 = 0x0011_0001;
/// Bytes of the offer our client sends (more than 64, see above).
pub const OFFER_LEN: usize = 72;
/// Bytes of an acceptance.
pub const ACCEPT_LEN: usize = 40;
/// The shortest payload read as an offer: longer than any 1.x id.
const MIN_OFFER_LEN: usize = 65;

/// What a client offers: the range of extension versions it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    /// The lowest version the client speaks.
    pub lowest: u16,
    /// The highest.
    pub highest: u16,
}

impl Offer {
    /// Recognises the offer in a 1.x command: a HAVE request at
    /// [`HELLO_LEVEL`] whose id is at least 65 bytes and starts with
    /// [`HELLO_MAGIC`]. Anything else is an ordinary 1.x request (`None`).
    pub fn recognise(command: &Command<'_>, proto_level: u32) -> Option<Offer> {
        let id = command.payload;
        if command.kind != Kind::Request
            || command.operation != Operation::Have
            || proto_level != HELLO_LEVEL
            || id.len() < MIN_OFFER_LEN
            || !id.starts_with(HELLO_MAGIC)
        {
            return None;
        }
        Some(Offer {
            lowest: u16::from_be_bytes([id[32], id[33]]),
            highest: u16::from_be_bytes([id[34], id[35]]),
        })
    }

    /// The highest version both sides speak, if any.
    pub fn choose(&self, lowest: u16, highest: u16) -> Option<u16> {
        let version = self.highest.min(highest);
        (version >= self.lowest.max(lowest)).then_some(version)
    }

    /// Appends the offer's frame (a HAVE request) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>, request_uid: u32) {
        let mut id = [0u8; OFFER_LEN];
        id[..32].copy_from_slice(HELLO_MAGIC);
        id[32..34].copy_from_slice(&self.lowest.to_be_bytes());
        id[34..36].copy_from_slice(&self.highest.to_be_bytes());
        hello_frame(out, Kind::Request, request_uid, &id);
    }
}

/// The server's acceptance: the version chosen and its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accept {
    /// The extension version the connection speaks from now on.
    pub version: u16,
    /// Longest key the server takes.
    pub max_key_len: u16,
    /// Longest value the server takes.
    pub max_value_len: u32,
}

impl Accept {
    /// This build's acceptance of `version`.
    pub fn new(version: u16) -> Accept {
        Accept {
            version,
            max_key_len: MAX_KEY_LEN as u16,
            max_value_len: MAX_VALUE_LEN as u32,
        }
    }

    /// Appends the acceptance (a HAVE answer) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>, request_uid: u32) {
        let mut payload = [0u8; ACCEPT_LEN];
        payload[..32].copy_from_slice(HELLO_MAGIC);
        payload[32..34].copy_from_slice(&self.version.to_be_bytes());
        payload[34..36].copy_from_slice(&self.max_key_len.to_be_bytes());
        payload[36..40].copy_from_slice(&self.max_value_len.to_be_bytes());
        hello_frame(out, Kind::Response, request_uid, &payload);
    }

    /// Reads an acceptance from the payload of the probe's answer;
    /// `Ok(None)` when it is not one because the server speaks 1.x only.
    pub(crate) fn parse(payload: &[u8]) -> Result<Option<Accept>, ExtResponseError> {
        if payload.len() == 1 {
            return Ok(None);
        }
        let probe = |why| ExtResponseError::Probe {
            len: payload.len(),
            why,
        };
        if payload.len() < ACCEPT_LEN {
            return Err(probe(" (too short)"));
        }
        if !payload.starts_with(HELLO_MAGIC) {
            return Err(probe(" (no magic)"));
        }
        Ok(Some(Accept {
            version: u16::from_be_bytes([payload[32], payload[33]]),
            max_key_len: u16::from_be_bytes([payload[34], payload[35]]),
            max_value_len: u32::from_be_bytes([payload[36], payload[37], payload[38], payload[39]]),
        }))
    }
}

fn hello_frame(out: &mut Vec<u8>, kind: Kind, request_uid: u32, payload: &[u8]) {
    let fields = FrameFields {
        proto_level: HELLO_LEVEL,
        kind,
        request_uid,
        op_class: 0,
        operation: Operation::Have.to_byte(),
    };
    write_frames(out, fields, &[payload], payload.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_chosen_from_the_overlap() {
        let offer = Offer {
            lowest: 1,
            highest: 3,
        };
        assert_eq!(offer.choose(1, 1), Some(1));
        assert_eq!(offer.choose(2, 5), Some(3));
        assert_eq!(offer.choose(4, 5), None);
        let old = Offer {
            lowest: 0,
            highest: 0,
        };
        assert_eq!(old.choose(1, 1), None);
    }
}
