//! Reading one text request from the front of the input.
//!
//! Every outcome says how many bytes it used, so the caller can pipeline.
//! The refusals are memcached 1.6's, checked byte for byte against it:
//!
//! | input                                         | answer                                  | then            |
//! |-----------------------------------------------|-----------------------------------------|-----------------|
//! | unknown command, wrong token count, empty line | `ERROR`                                | next line       |
//! | key over 250 bytes (or with a control byte)   | `CLIENT_ERROR bad command line format`  | next line (a set's data is read as commands, as memcached does) |
//! | bad flags/exptime/bytes on a storage line     | `CLIENT_ERROR bad command line format`  | next line       |
//! | data not followed by `\r\n`                   | `CLIENT_ERROR bad data chunk`           | after `<bytes>+2` bytes |
//! | `<bytes>` over the value cap                  | `SERVER_ERROR object too large for cache` | `<bytes>+2` bytes skipped |
//! | `delete <key> <not 0>`                        | `CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]` | next line |
//! | bad incr/decr delta                           | `CLIENT_ERROR invalid numeric delta argument` | next line |
//! | bad touch exptime                             | `CLIENT_ERROR invalid exptime argument` | next line       |
//! | over [`MAX_LINE_LEN`] bytes with no newline   | (none)                                  | [`ProtocolError::LineTooLong`]: close |

use dc_ops::{StoreMode, MAX_KEY_LEN, MAX_VALUE_LEN};

use super::{strtol32, strtoul32, strtoull, valid_text_key};
use crate::error::ProtocolError;
use crate::request::{Keys, Request};

/// memcached closes a connection that has sent this many bytes without a
/// newline (unless the line is a `get`/`gets`).
pub const MAX_LINE_LEN: usize = 2048;

/// The longest `get`/`gets` line taken. memcached takes multi-key get lines
/// of any length; we stop at 48 KiB (about 190 keys of the longest kind),
/// below the server's 64 KiB input buffer, which must hold the whole line.
pub const MAX_GET_LINE_LEN: usize = 48 * 1024;

/// Most tokens looked at on a non-get line: more than any command takes,
/// so a longer line is refused by its count.
const MAX_TOKENS: usize = 8;

/// memcached's refusals of a text request, each with its exact answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `ERROR`: unknown command or wrong number of tokens.
    Error,
    /// A bad key or number on the line.
    BadFormat,
    /// The data block did not end in `\r\n`.
    BadDataChunk,
    /// `delete` with something other than `0` / `noreply` after the key.
    DeleteUsage,
    /// `incr`/`decr` with a delta that is not a `u64`.
    BadDelta,
    /// `touch` with an exptime that is not a number.
    BadExptime,
}

impl Refusal {
    /// The answer line, without its CRLF.
    pub fn text(self) -> &'static str {
        match self {
            Refusal::Error => "ERROR",
            Refusal::BadFormat => "CLIENT_ERROR bad command line format",
            Refusal::BadDataChunk => "CLIENT_ERROR bad data chunk",
            Refusal::DeleteUsage => {
                "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]"
            }
            Refusal::BadDelta => "CLIENT_ERROR invalid numeric delta argument",
            Refusal::BadExptime => "CLIENT_ERROR invalid exptime argument",
        }
    }
}

/// One step of reading the text wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// Not a whole request yet: nothing used.
    Incomplete,
    /// A request.
    Request {
        /// The request.
        request: Request<'a>,
        /// `noreply` was given: answer nothing.
        noreply: bool,
        /// Bytes used (the line, and a storage command's data and CRLF).
        consumed: usize,
    },
    /// A request refused; the stream goes on after `consumed`.
    Refused {
        /// Why, and so the answer.
        refusal: Refusal,
        /// `noreply` was given: the refusal is not sent either (memcached).
        noreply: bool,
        /// Bytes used.
        consumed: usize,
    },
    /// A storage command whose value is over [`MAX_VALUE_LEN`]: answer
    /// `SERVER_ERROR object too large for cache`, then skip `skip` bytes
    /// (the data and its CRLF) after the `consumed` bytes of the line.
    Oversized {
        /// The command.
        mode: StoreMode,
        /// The key (memcached deletes it for a failed `set`).
        key: &'a [u8],
        /// `noreply` was given.
        noreply: bool,
        /// Bytes of the command line.
        consumed: usize,
        /// Bytes to skip after it.
        skip: usize,
    },
}

/// Reads the request at the front of `input`.
pub fn parse(input: &[u8]) -> Result<Parsed<'_>, ProtocolError> {
    let Some((line, line_len)) = find_line(input)? else {
        return Ok(Parsed::Incomplete);
    };
    let mut tokens: [&[u8]; MAX_TOKENS] = [&[]; MAX_TOKENS];
    let mut count = 0;
    for token in line.split(|&b| b == b' ').filter(|t| !t.is_empty()) {
        if count == MAX_TOKENS {
            count += 1;
            break;
        }
        tokens[count] = token;
        count += 1;
    }
    let refused = |refusal, noreply| Parsed::Refused {
        refusal,
        noreply,
        consumed: line_len,
    };
    let request = |request, noreply| Parsed::Request {
        request,
        noreply,
        consumed: line_len,
    };
    // Like memcached's set_noreply_maybe: the last token decides.
    let noreply = count > 1 && count <= MAX_TOKENS && tokens[count - 1] == b"noreply";
    let key = tokens[1];
    let key_ok = valid_text_key(key);
    Ok(match tokens[0] {
        b"get" | b"gets" => {
            if count < 2 {
                return Ok(refused(Refusal::Error, false));
            }
            // The rest of the line after the command word.
            let start = tokens[0].as_ptr() as usize - line.as_ptr() as usize + tokens[0].len();
            let keys = Keys::line(&line[start..]);
            if !keys.iter().all(valid_text_key) {
                return Ok(refused(Refusal::BadFormat, false));
            }
            let cas = tokens[0] == b"gets";
            request(Request::Get { keys, cas }, false)
        }
        b"set" | b"add" | b"replace" => {
            if count != 5 && count != 6 {
                return Ok(refused(Refusal::Error, false));
            }
            let mode = match tokens[0] {
                b"set" => StoreMode::Set,
                b"add" => StoreMode::Add,
                _ => StoreMode::Replace,
            };
            if !key_ok {
                return Ok(refused(Refusal::BadFormat, noreply));
            }
            let (Some(flags), Some(exptime), Some(bytes)) = (
                strtoul32(tokens[2]),
                strtol32(tokens[3]),
                strtol32(tokens[4]),
            ) else {
                return Ok(refused(Refusal::BadFormat, noreply));
            };
            let Ok(bytes) = usize::try_from(bytes) else {
                return Ok(refused(Refusal::BadFormat, noreply));
            };
            if bytes > MAX_VALUE_LEN {
                return Ok(Parsed::Oversized {
                    mode,
                    key,
                    noreply,
                    consumed: line_len,
                    skip: bytes + 2,
                });
            }
            let end = line_len + bytes + 2;
            if input.len() < end {
                return Ok(Parsed::Incomplete);
            }
            if &input[end - 2..end] != b"\r\n" {
                return Ok(Parsed::Refused {
                    refusal: Refusal::BadDataChunk,
                    noreply,
                    consumed: end,
                });
            }
            Parsed::Request {
                request: Request::Store {
                    mode,
                    key,
                    flags,
                    exptime: exptime.into(),
                    value: &input[line_len..line_len + bytes],
                },
                noreply,
                consumed: end,
            }
        }
        b"delete" => {
            if !(2..=4).contains(&count) {
                return Ok(refused(Refusal::Error, false));
            }
            if count > 2 {
                let hold_is_zero = tokens[2] == b"0";
                let valid = (count == 3 && (hold_is_zero || noreply))
                    || (count == 4 && hold_is_zero && noreply);
                if !valid {
                    return Ok(refused(Refusal::DeleteUsage, noreply));
                }
            }
            if !key_ok {
                return Ok(refused(Refusal::BadFormat, noreply));
            }
            request(Request::Delete { key }, noreply)
        }
        b"incr" | b"decr" => {
            if count != 3 && count != 4 {
                return Ok(refused(Refusal::Error, false));
            }
            if !key_ok {
                return Ok(refused(Refusal::BadFormat, noreply));
            }
            let Some(delta) = strtoull(tokens[2]) else {
                return Ok(refused(Refusal::BadDelta, noreply));
            };
            let decrement = tokens[0] == b"decr";
            request(
                Request::Counter {
                    key,
                    decrement,
                    delta,
                    create: None,
                },
                noreply,
            )
        }
        b"touch" => {
            if count != 3 && count != 4 {
                return Ok(refused(Refusal::Error, false));
            }
            if !key_ok {
                return Ok(refused(Refusal::BadFormat, noreply));
            }
            let Some(exptime) = strtol32(tokens[2]) else {
                return Ok(refused(Refusal::BadExptime, noreply));
            };
            request(
                Request::Touch {
                    key,
                    exptime: exptime.into(),
                },
                noreply,
            )
        }
        // memcached looks at the first token only for these two.
        b"version" => request(Request::Version, false),
        b"quit" => request(Request::Quit, false),
        b"stats" if count == 1 => request(Request::Stats { group: b"" }, false),
        _ => refused(Refusal::Error, false),
    })
}

/// The line at the front of `input` without its `\n` (and `\r`), and the
/// bytes it takes with them; `None` while it has no newline yet.
fn find_line(input: &[u8]) -> Result<Option<(&[u8], usize)>, ProtocolError> {
    // Decide on the content alone (not on how much has arrived), so that
    // every split of a stream gives the same outcome.
    let window = &input[..input.len().min(MAX_LINE_LEN + 1)];
    let newline = match window.iter().position(|&b| b == b'\n') {
        Some(at) => at,
        None if input.len() <= MAX_LINE_LEN => return Ok(None),
        None => {
            // memcached lets only a multi-key get run long.
            let start = input.iter().take_while(|&&b| b == b' ').count();
            let rest = &input[start.min(input.len())..];
            if start > 100 || !(rest.starts_with(b"get ") || rest.starts_with(b"gets ")) {
                return Err(ProtocolError::LineTooLong {
                    limit: MAX_LINE_LEN,
                });
            }
            let window = &input[..input.len().min(MAX_GET_LINE_LEN + 1)];
            match window.iter().position(|&b| b == b'\n') {
                Some(at) => at,
                None if input.len() <= MAX_GET_LINE_LEN => return Ok(None),
                None => {
                    return Err(ProtocolError::LineTooLong {
                        limit: MAX_GET_LINE_LEN,
                    })
                }
            }
        }
    };
    let mut line = &input[..newline];
    if let [rest @ .., b'\r'] = line {
        line = rest;
    }
    debug_assert!(line.len() <= MAX_GET_LINE_LEN && MAX_KEY_LEN < MAX_LINE_LEN);
    Ok(Some((line, newline + 1)))
}
