//! Replies: the server-to-client half of RESP2, composed straight into
//! the output buffer and parsed without copying.
//!
//! ```text
//!   +OK\r\n                 simple string (status)
//!   -ERR message\r\n        error: first word is the code (ERR, NOAUTH, WRONGPASS)
//!   :42\r\n                 integer, signed 64-bit
//!   $5\r\nhello\r\n         bulk string, binary-safe; $-1\r\n is nil
//!   *2\r\n<reply><reply>    array of n replies; *-1\r\n is a nil array
//! ```
//!
//! Only RESP2: nil is `$-1`, never RESP3's `_` (apr_redis treats anything
//! else as an error).

use crate::error::ReplyError;
use crate::request::MAX_BULK_LEN;
use dc_ops::number::{parse_i64, write_i64};

/// `+OK\r\n`.
pub const OK: &[u8] = b"+OK\r\n";
/// `+PONG\r\n`.
pub const PONG: &[u8] = b"+PONG\r\n";
/// `$-1\r\n`, the RESP2 nil.
pub const NIL: &[u8] = b"$-1\r\n";

/// Appends a simple string, `+<text>\r\n` (`text` must hold no CR or LF).
pub fn write_simple(out: &mut Vec<u8>, text: &[u8]) {
    out.push(b'+');
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
}

/// Appends an error, `-<message>\r\n`; `message` starts with its code
/// (`ERR ...`) and must hold no CR or LF.
pub fn write_error(out: &mut Vec<u8>, message: &[u8]) {
    out.push(b'-');
    out.extend_from_slice(message);
    out.extend_from_slice(b"\r\n");
}

/// Appends an integer, `:<n>\r\n`.
pub fn write_integer(out: &mut Vec<u8>, n: i64) {
    out.push(b':');
    write_i64(out, n);
    out.extend_from_slice(b"\r\n");
}

/// Appends a bulk string, `$<len>\r\n<data>\r\n`.
pub fn write_bulk(out: &mut Vec<u8>, data: &[u8]) {
    write_bulk_header(out, data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends the `$<len>\r\n` of a bulk string whose bytes the caller adds,
/// then `\r\n`.
pub fn write_bulk_header(out: &mut Vec<u8>, len: usize) {
    out.push(b'$');
    write_i64(out, len as i64);
    out.extend_from_slice(b"\r\n");
}

/// Appends an array header, `*<n>\r\n`; the `n` replies follow.
pub fn write_array_header(out: &mut Vec<u8>, n: usize) {
    out.push(b'*');
    write_i64(out, n as i64);
    out.extend_from_slice(b"\r\n");
}

/// One reply frame, borrowing from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// `+text`.
    Simple(&'a [u8]),
    /// `-message` (the message includes its code).
    Error(&'a [u8]),
    /// `:n`.
    Integer(i64),
    /// `$len` and its bytes.
    Bulk(&'a [u8]),
    /// `$-1`.
    Nil,
    /// `*n`: the `n` element frames follow, each parsed on its own.
    Array(usize),
    /// `*-1`.
    NilArray,
}

impl std::fmt::Display for Frame<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Frame::Simple(s) => write!(f, "+{}", String::from_utf8_lossy(s)),
            Frame::Error(s) => write!(f, "-{}", String::from_utf8_lossy(s)),
            Frame::Integer(n) => write!(f, ":{n}"),
            Frame::Bulk(b) => write!(f, "bulk of {} bytes", b.len()),
            Frame::Nil => f.write_str("nil"),
            Frame::Array(n) => write!(f, "array of {n}"),
            Frame::NilArray => f.write_str("nil array"),
        }
    }
}

/// Parses the reply frame at the front of `input`: the frame and the bytes
/// it took, or `None` while it is incomplete. Strict: lines must end in
/// CRLF and bulks be followed by CRLF.
pub fn parse_frame(input: &[u8]) -> Result<Option<(Frame<'_>, usize)>, ReplyError> {
    let Some(&kind) = input.first() else {
        return Ok(None);
    };
    if !matches!(kind, b'+' | b'-' | b':' | b'$' | b'*') {
        return Err(ReplyError::Type(kind));
    }
    let Some(lf) = input.iter().position(|&b| b == b'\n') else {
        if let Some(cr) = input.iter().position(|&b| b == b'\r') {
            if cr + 1 < input.len() {
                return Err(ReplyError::LineEnd);
            }
        }
        return Ok(None);
    };
    if lf < 1 || input[lf - 1] != b'\r' {
        return Err(ReplyError::LineEnd);
    }
    let line = &input[1..lf - 1];
    if line.contains(&b'\r') {
        return Err(ReplyError::LineEnd);
    }
    let after = lf + 1;
    let number =
        || parse_i64(line).ok_or_else(|| ReplyError::Number(String::from_utf8_lossy(line).into()));
    let frame = match kind {
        b'+' => Frame::Simple(line),
        b'-' => Frame::Error(line),
        b':' => Frame::Integer(number()?),
        b'$' => match number()? {
            -1 => Frame::Nil,
            len if (0..=MAX_BULK_LEN).contains(&len) => {
                let len = len as usize;
                if input.len() < after + len + 2 {
                    return Ok(None);
                }
                if &input[after + len..after + len + 2] != b"\r\n" {
                    return Err(ReplyError::BulkEnd { len });
                }
                return Ok(Some((
                    Frame::Bulk(&input[after..after + len]),
                    after + len + 2,
                )));
            }
            len => return Err(ReplyError::Length(len)),
        },
        _ => match number()? {
            -1 => Frame::NilArray,
            n if (0..=MAX_BULK_LEN).contains(&n) => Frame::Array(n as usize),
            n => return Err(ReplyError::Length(n)),
        },
    };
    Ok(Some((frame, after)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composes_exact_bytes() {
        let mut out = Vec::new();
        write_simple(&mut out, b"OK");
        write_error(&mut out, b"ERR syntax error");
        write_integer(&mut out, -2);
        write_bulk(&mut out, b"a\r\nb");
        write_bulk(&mut out, b"");
        write_array_header(&mut out, 2);
        assert_eq!(
            out,
            b"+OK\r\n-ERR syntax error\r\n:-2\r\n$4\r\na\r\nb\r\n$0\r\n\r\n*2\r\n"
        );
    }

    #[test]
    fn parses_every_frame_and_waits_for_the_rest() {
        let input = b"+OK\r\n-ERR x\r\n:-2\r\n$4\r\na\r\nb\r\n$-1\r\n*2\r\n*-1\r\n";
        let want = [
            Frame::Simple(b"OK"),
            Frame::Error(b"ERR x"),
            Frame::Integer(-2),
            Frame::Bulk(b"a\r\nb"),
            Frame::Nil,
            Frame::Array(2),
            Frame::NilArray,
        ];
        let mut at = 0;
        for w in want {
            let (frame, used) = parse_frame(&input[at..]).unwrap().unwrap();
            for end in at..at + used {
                assert_eq!(parse_frame(&input[at..end]), Ok(None), "prefix to {end}");
            }
            assert_eq!(frame, w);
            at += used;
        }
        assert_eq!(at, input.len());
    }

    #[test]
    fn garbage_is_a_typed_error() {
        assert_eq!(parse_frame(b"x\r\n"), Err(ReplyError::Type(b'x')));
        assert_eq!(parse_frame(b"+OK\n"), Err(ReplyError::LineEnd));
        assert_eq!(parse_frame(b"+O\rK\r\n"), Err(ReplyError::LineEnd));
        assert_eq!(parse_frame(b"$-2\r\n"), Err(ReplyError::Length(-2)));
        assert_eq!(
            parse_frame(b"$1\r\nab\r\n"),
            Err(ReplyError::BulkEnd { len: 1 })
        );
        assert!(matches!(
            parse_frame(b":1x\r\n"),
            Err(ReplyError::Number(_))
        ));
    }
}
