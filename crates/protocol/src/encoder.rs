//! Fragmenting a command into frames.
//!
//! The original receivers insist on this exact shape: chunks of 2048 bytes,
//! every frame but the last marked incomplete, no empty trailing frame after
//! a payload that is a multiple of 2048, and one empty frame for an empty
//! payload.

use crate::error::EncodeError;
use crate::frame::{Kind, Operation, HEADER_LEN, MAX_FRAME_DATA, MAX_PAYLOAD, PROTO_LEVEL};

/// The fields every frame of one command shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandHeader {
    /// Request or response.
    pub kind: Kind,
    /// Chosen by the requester, echoed by the responder.
    pub request_uid: u32,
    /// The cache operation.
    pub operation: Operation,
}

impl CommandHeader {
    /// The header of a request.
    pub fn request(request_uid: u32, operation: Operation) -> CommandHeader {
        CommandHeader {
            kind: Kind::Request,
            request_uid,
            operation,
        }
    }

    /// The header of a response.
    pub fn response(request_uid: u32, operation: Operation) -> CommandHeader {
        CommandHeader {
            kind: Kind::Response,
            request_uid,
            operation,
        }
    }
}

/// Bytes on the wire for a payload of `payload_len` bytes.
pub fn encoded_len(payload_len: usize) -> usize {
    let frames = payload_len.div_ceil(MAX_FRAME_DATA).max(1);
    frames * HEADER_LEN + payload_len
}

/// Appends the frames of one command carrying `payload` to `out`.
pub fn encode(out: &mut Vec<u8>, header: CommandHeader, payload: &[u8]) -> Result<(), EncodeError> {
    encode_parts(out, header, &[payload])
}

/// Appends the frames of one command whose payload is the concatenation of
/// `parts`, without first gathering the parts into one buffer (an ADD's
/// payload is a header, an id and the session data).
pub fn encode_parts(
    out: &mut Vec<u8>,
    header: CommandHeader,
    parts: &[&[u8]],
) -> Result<(), EncodeError> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total > MAX_PAYLOAD {
        return Err(EncodeError::PayloadTooLong { len: total });
    }
    let fields = FrameFields {
        proto_level: PROTO_LEVEL,
        kind: header.kind,
        request_uid: header.request_uid,
        op_class: 0,
        operation: header.operation.to_byte(),
    };
    write_frames(out, fields, parts, total);
    Ok(())
}

/// The header bytes every frame of one command repeats, as raw wire values
/// (the protocol extension writes its own level, class and operations).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameFields {
    pub proto_level: u32,
    pub kind: Kind,
    pub request_uid: u32,
    pub op_class: u8,
    pub operation: u8,
}

/// Cuts the concatenation of `parts` (`total` bytes, already checked
/// against the caller's limit) into frames, without gathering the parts
/// into one buffer first.
pub(crate) fn write_frames(out: &mut Vec<u8>, fields: FrameFields, parts: &[&[u8]], total: usize) {
    out.reserve(encoded_len(total));
    let mut remaining = total;
    let mut parts = parts.iter().copied().filter(|p| !p.is_empty());
    let mut current: &[u8] = &[];
    loop {
        let chunk = remaining.min(MAX_FRAME_DATA);
        remaining -= chunk;
        out.extend_from_slice(&fields.proto_level.to_be_bytes());
        out.push(u8::from(fields.kind == Kind::Response));
        out.extend_from_slice(&fields.request_uid.to_be_bytes());
        out.push(fields.op_class);
        out.push(fields.operation);
        out.push(u8::from(remaining == 0));
        out.extend_from_slice(&(chunk as u16).to_be_bytes());
        let mut need = chunk;
        while need > 0 {
            if current.is_empty() {
                // `total` counted every part, so one is left while need > 0.
                current = parts.next().unwrap_or_default();
                if current.is_empty() {
                    break;
                }
            }
            let take = need.min(current.len());
            out.extend_from_slice(&current[..take]);
            current = &current[take..];
            need -= take;
        }
        if remaining == 0 {
            return;
        }
    }
}
