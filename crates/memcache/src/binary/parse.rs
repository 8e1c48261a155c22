//! Reading one binary request from the front of the input.
//!
//! The header alone decides whether the lengths fit the command (as in
//! memcached), so a bad request is refused before its body arrives:
//!
//! | input                                             | answer                       | then                 |
//! |---------------------------------------------------|------------------------------|----------------------|
//! | magic other than 0x80                             | (none)                       | [`ProtocolError::BadMagic`]: close |
//! | body length over [`MAX_BODY_LEN`]                 | (none)                       | [`ProtocolError::BodyTooLong`]: close |
//! | key over 250 bytes; extras/key/body lengths wrong | 0x0004 `Invalid arguments`   | close (as memcached) |
//! | unknown opcode                                    | 0x0081 `Unknown command`     | body skipped         |
//! | value over the cap                                | 0x0003 `Too large.`          | value skipped        |

use dc_ops::{StoreMode, MAX_KEY_LEN, MAX_VALUE_LEN};

use super::opcode::*;
use super::{status, Header, HEADER_LEN, REQUEST_MAGIC};
use crate::error::ProtocolError;
use crate::request::{Keys, Request};

/// The longest body taken: memcached's default item size (1 MiB) plus room
/// for extras and key. A longer one is not a request any memcached client
/// sends, so the connection is dropped rather than skipping it (memcached
/// would read and drop up to 4 GiB). Values between
/// [`MAX_VALUE_LEN`] and this are answered `E2BIG` and skipped.
pub const MAX_BODY_LEN: u32 = 1024 * 1024 + 512;

/// One step of reading the binary wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// Not a whole request yet: nothing used.
    Incomplete,
    /// A request.
    Request {
        /// Its header (the opcode and opaque to echo).
        header: Header,
        /// The request.
        request: Request<'a>,
        /// Bytes used.
        consumed: usize,
    },
    /// A request answered with an error `status` and no operation: then
    /// `skip` bytes after `consumed` are dropped, or the connection is
    /// closed when `close` is set.
    Refused {
        /// Its header.
        header: Header,
        /// The error status to answer.
        status: u16,
        /// Bytes used.
        consumed: usize,
        /// Bytes to skip after them.
        skip: usize,
        /// Close after answering.
        close: bool,
    },
    /// A storage request whose value is over [`MAX_VALUE_LEN`]: answer
    /// `E2BIG` (memcached deletes the key for a SET), skip the value.
    Oversized {
        /// Its header.
        header: Header,
        /// The command.
        mode: StoreMode,
        /// The key.
        key: &'a [u8],
        /// Bytes of header, extras and key.
        consumed: usize,
        /// Bytes of value to skip.
        skip: usize,
    },
}

/// Reads the request at the front of `input`.
pub fn parse(input: &[u8]) -> Result<Parsed<'_>, ProtocolError> {
    let Some(&magic) = input.first() else {
        return Ok(Parsed::Incomplete);
    };
    if magic != REQUEST_MAGIC {
        return Err(ProtocolError::BadMagic { found: magic });
    }
    let Some(header) = Header::read(input) else {
        return Ok(Parsed::Incomplete);
    };
    if header.body_len > MAX_BODY_LEN {
        return Err(ProtocolError::BodyTooLong {
            body_len: header.body_len,
            limit: MAX_BODY_LEN,
        });
    }
    let key_len = usize::from(header.key_len);
    let extras_len = usize::from(header.extras_len);
    let body_len = header.body_len as usize;
    let refuse = |status, skip, close| Parsed::Refused {
        header,
        status,
        consumed: HEADER_LEN,
        skip,
        close,
    };
    let invalid = refuse(status::EINVAL, 0, true);
    if key_len > MAX_KEY_LEN {
        return Ok(invalid);
    }
    // Exact lengths per command, as memcached's dispatch checks them.
    let fits = |extras: usize, key: bool, exact: bool| {
        extras_len == extras
            && (key_len > 0) == key
            && if exact {
                body_len == extras + key_len
            } else {
                body_len >= extras + key_len
            }
    };
    let op = header.opcode;
    let ok = match op {
        GET | GETQ | GETK | GETKQ | DELETE | DELETEQ => fits(0, true, true),
        SET | SETQ | ADD | ADDQ | REPLACE | REPLACEQ => fits(8, true, false),
        INCREMENT | INCREMENTQ | DECREMENT | DECREMENTQ => fits(20, true, true),
        TOUCH => fits(4, true, true),
        QUIT | QUITQ | NOOP | VERSION => fits(0, false, true),
        STAT => extras_len == 0 && body_len == key_len,
        _ => return Ok(refuse(status::UNKNOWN_COMMAND, body_len, false)),
    };
    if !ok {
        return Ok(invalid);
    }
    let fixed = HEADER_LEN + extras_len + key_len;
    if matches!(op, SET | SETQ | ADD | ADDQ | REPLACE | REPLACEQ) {
        let value_len = body_len - extras_len - key_len;
        if value_len > MAX_VALUE_LEN {
            if input.len() < fixed {
                return Ok(Parsed::Incomplete);
            }
            return Ok(Parsed::Oversized {
                header,
                mode: store_mode(op),
                key: &input[HEADER_LEN + extras_len..fixed],
                consumed: fixed,
                skip: value_len,
            });
        }
    }
    let end = HEADER_LEN + body_len;
    if input.len() < end {
        return Ok(Parsed::Incomplete);
    }
    let extras = &input[HEADER_LEN..HEADER_LEN + extras_len];
    let key = &input[HEADER_LEN + extras_len..fixed];
    let value = &input[fixed..end];
    let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let be64 = |b: &[u8]| u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    let request = match op {
        GET | GETQ | GETK | GETKQ => Request::Get {
            keys: Keys::one(key),
            cas: false,
        },
        SET | SETQ | ADD | ADDQ | REPLACE | REPLACEQ => Request::Store {
            mode: store_mode(op),
            key,
            flags: be32(&extras[0..4]),
            exptime: be32(&extras[4..8]).into(),
            value,
        },
        DELETE | DELETEQ => Request::Delete { key },
        INCREMENT | INCREMENTQ | DECREMENT | DECREMENTQ => {
            let expiration = be32(&extras[16..20]);
            Request::Counter {
                key,
                decrement: matches!(op, DECREMENT | DECREMENTQ),
                delta: be64(&extras[0..8]),
                create: (expiration != u32::MAX).then(|| (be64(&extras[8..16]), expiration.into())),
            }
        }
        TOUCH => Request::Touch {
            key,
            exptime: be32(extras).into(),
        },
        STAT => Request::Stats { group: key },
        VERSION => Request::Version,
        NOOP => Request::Noop,
        _ => Request::Quit,
    };
    Ok(Parsed::Request {
        header,
        request,
        consumed: end,
    })
}

fn store_mode(op: u8) -> StoreMode {
    match op {
        ADD | ADDQ => StoreMode::Add,
        REPLACE | REPLACEQ => StoreMode::Replace,
        _ => StoreMode::Set,
    }
}
