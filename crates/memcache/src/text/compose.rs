//! Writing text responses, straight into the output buffer.

use crate::response::{write_u64, Response, VERSION};

/// Appends `response` as the text wire says it. `cas` adds the cas field
/// (always 0: we keep no CAS) to a `VALUE` line, for `gets`.
///
/// Binary-only responses ([`Response::Miss`], [`Response::Ok`],
/// [`Response::Invalid`]) write nothing.
pub fn compose(response: &Response<'_>, cas: bool, out: &mut Vec<u8>) {
    let line: &str = match *response {
        Response::Hit { key, flags, data } => {
            out.extend_from_slice(b"VALUE ");
            out.extend_from_slice(key);
            out.push(b' ');
            write_u64(out, flags.into());
            out.push(b' ');
            write_u64(out, data.len() as u64);
            if cas {
                out.extend_from_slice(b" 0");
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
            return;
        }
        Response::Number(n) => {
            write_u64(out, n);
            out.extend_from_slice(b"\r\n");
            return;
        }
        Response::Version => {
            out.extend_from_slice(b"VERSION ");
            out.extend_from_slice(VERSION.as_bytes());
            out.extend_from_slice(b"\r\n");
            return;
        }
        Response::Stat { name, value } => {
            out.extend_from_slice(b"STAT ");
            out.extend_from_slice(name.as_bytes());
            out.push(b' ');
            value.write(out);
            out.extend_from_slice(b"\r\n");
            return;
        }
        Response::ClientError(text) => {
            out.extend_from_slice(b"CLIENT_ERROR ");
            text
        }
        Response::End | Response::StatsEnd => "END",
        Response::Stored => "STORED",
        Response::NotStored => "NOT_STORED",
        Response::Exists => "EXISTS",
        Response::NotFound => "NOT_FOUND",
        Response::Deleted => "DELETED",
        Response::Touched { .. } => "TOUCHED",
        Response::NonNumeric => "CLIENT_ERROR cannot increment or decrement non-numeric value",
        Response::TooLarge => "SERVER_ERROR object too large for cache",
        Response::Unknown => "ERROR",
        Response::Unavailable => "SERVER_ERROR temporarily unavailable",
        Response::Miss { .. } | Response::Ok | Response::Invalid => return,
    };
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends a refusal's line.
pub fn compose_line(text: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}
