//! Writing binary responses, straight into the output buffer.

use super::opcode::{GETK, GETKQ};
use super::{status, Header, RESPONSE_MAGIC};
use crate::response::{Response, VERSION};

/// Appends a response packet with `status`, echoing `opcode` and `opaque`
/// (cas 0: we keep no CAS), carrying `extras`, `key` and `value`.
pub fn packet(
    opcode: u8,
    opaque: u32,
    status: u16,
    extras: &[u8],
    key: &[u8],
    value: &[u8],
    out: &mut Vec<u8>,
) {
    // Lengths are bounded by the caps (key 250, value 32 KiB, extras 4/8).
    let header = Header {
        magic: RESPONSE_MAGIC,
        opcode,
        key_len: key.len() as u16,
        extras_len: extras.len() as u8,
        data_type: 0,
        status,
        body_len: (extras.len() + key.len() + value.len()) as u32,
        opaque,
        cas: 0,
    };
    header.write(out);
    out.extend_from_slice(extras);
    out.extend_from_slice(key);
    out.extend_from_slice(value);
}

/// Appends an error packet with memcached's text for `status`.
pub fn error(opcode: u8, opaque: u32, status: u16, out: &mut Vec<u8>) {
    packet(opcode, opaque, status, &[], &[], status::text(status), out);
}

/// Appends `response` to a request with `opcode` and `opaque`.
///
/// Text-only responses ([`Response::End`], [`Response::ClientError`])
/// write nothing.
pub fn compose(opcode: u8, opaque: u32, response: &Response<'_>, out: &mut Vec<u8>) {
    let with_key = matches!(opcode, GETK | GETKQ);
    let ok = |extras: &[u8], key: &[u8], value: &[u8], out: &mut Vec<u8>| {
        packet(opcode, opaque, status::OK, extras, key, value, out)
    };
    match *response {
        Response::Hit { key, flags, data } => {
            let key = if with_key { key } else { &[] };
            ok(&flags.to_be_bytes(), key, data, out);
        }
        Response::Miss { key } if with_key => {
            packet(opcode, opaque, status::KEY_ENOENT, &[], key, &[], out)
        }
        Response::Miss { .. } | Response::NotFound => {
            error(opcode, opaque, status::KEY_ENOENT, out)
        }
        Response::Stored | Response::Deleted | Response::StatsEnd | Response::Ok => {
            ok(&[], &[], &[], out)
        }
        Response::Touched { flags } => ok(&flags.to_be_bytes(), &[], &[], out),
        Response::Number(n) => ok(&[], &[], &n.to_be_bytes(), out),
        Response::Version => ok(&[], &[], VERSION.as_bytes(), out),
        Response::Stat { name, value } => {
            let at = out.len();
            ok(&[], name.as_bytes(), &[], out);
            let value_at = out.len();
            value.write(out);
            let body = (name.len() + out.len() - value_at) as u32;
            out[at + 8..at + 12].copy_from_slice(&body.to_be_bytes());
        }
        Response::NotStored => error(opcode, opaque, status::NOT_STORED, out),
        Response::Exists => error(opcode, opaque, status::KEY_EEXISTS, out),
        Response::NonNumeric => error(opcode, opaque, status::DELTA_BADVAL, out),
        Response::TooLarge => error(opcode, opaque, status::E2BIG, out),
        Response::Unknown => error(opcode, opaque, status::UNKNOWN_COMMAND, out),
        Response::Invalid => error(opcode, opaque, status::EINVAL, out),
        Response::Unavailable => error(opcode, opaque, status::ETMPFAIL, out),
        Response::End | Response::ClientError(_) => {}
    }
}
