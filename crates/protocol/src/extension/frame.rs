//! Frames of a connection that may carry the extension: 1.x frames always,
//! class 1 frames once the extension is on.

use std::fmt;

use super::error::{ExtDecodeError, ExtEncodeError};
use super::{ext_level, ExtOperation, EXT_CLASS, MAX_EXT_PAYLOAD};
use crate::decoder::Command;
use crate::encoder::{write_frames, FrameFields};
use crate::error::DecodeError;
use crate::frame::{FrameHeader, Kind, Operation, HEADER_LEN, MAX_FRAME_DATA, MAX_PAYLOAD};

/// An operation of either class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnyOperation {
    /// Class 0: ADD, GET, REMOVE, HAVE.
    Classic(Operation),
    /// Class 1: the extension's.
    Extended(ExtOperation),
}

impl fmt::Display for AnyOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnyOperation::Classic(op) => op.fmt(f),
            AnyOperation::Extended(op) => op.fmt(f),
        }
    }
}

/// One whole extended command, reassembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtCommand<'a> {
    /// Request or response.
    pub kind: Kind,
    /// The request_uid all of its frames carried.
    pub request_uid: u32,
    /// The operation all of its frames carried.
    pub operation: ExtOperation,
    /// The reassembled payload (0..=[`MAX_EXT_PAYLOAD`] bytes).
    pub payload: &'a [u8],
}

/// A whole command of either class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// A 1.x command, with the `proto_level` its first frame carried (the
    /// probe is told apart by it).
    Classic {
        /// The command.
        command: Command<'a>,
        /// Its first frame's level.
        proto_level: u32,
    },
    /// An extended command.
    Extended(ExtCommand<'a>),
}

/// What one call to [`FrameDecoder::decode`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// Bytes of the input used up (non-zero without a command when
    /// fragments were absorbed).
    pub consumed: usize,
    /// A whole command, if the input completed one.
    pub incoming: Option<Incoming<'a>>,
}

/// A checked frame header of either class.
#[derive(Debug, Clone, Copy)]
struct Header {
    proto_level: u32,
    kind: Kind,
    request_uid: u32,
    operation: AnyOperation,
    complete: bool,
    data_len: u16,
}

#[derive(Debug, Clone, Copy)]
struct Partial {
    request_uid: u32,
    operation: AnyOperation,
    proto_level: u32,
}

/// Reassembles frames of one direction of a connection into commands of
/// either class. Until [`enable`](Self::enable) it is exactly the 1.x
/// [`Decoder`](crate::Decoder): a class 1 frame is `op_class 1`, a broken
/// stream, as the original and a connection that never negotiated see it.
#[derive(Debug)]
pub struct FrameDecoder {
    accept: Kind,
    version: Option<u16>,
    partial: Option<Partial>,
    payload: Vec<u8>,
    delivered: bool,
}

impl FrameDecoder {
    /// A decoder for commands of kind `accept`, the extension off.
    pub fn new(accept: Kind) -> FrameDecoder {
        FrameDecoder {
            accept,
            version: None,
            partial: None,
            payload: Vec::new(),
            delivered: false,
        }
    }

    /// Accepts class 1 frames of extension `version` from now on.
    pub fn enable(&mut self, version: u16) {
        self.version = Some(version);
    }

    /// The extension version accepted, if it is on.
    pub fn version(&self) -> Option<u16> {
        self.version
    }

    /// `true` while a command is half reassembled.
    pub fn in_command(&self) -> bool {
        self.partial.is_some()
    }

    fn check_prefix(&self, prefix: &[u8]) -> Result<Option<Header>, ExtDecodeError> {
        if let (Some(version), Some(&EXT_CLASS)) = (self.version, prefix.get(9)) {
            // The version half and `is_response` come before `op_class` on
            // the wire: check them as 1.x does first, so that the error a
            // broken stream gives does not depend on where it was split.
            FrameHeader::check_prefix(&prefix[..9])?;
            return check_extended(prefix, ext_level(version));
        }
        Ok(FrameHeader::check_prefix(prefix)?.map(|h| Header {
            proto_level: h.proto_level,
            kind: h.kind,
            request_uid: h.request_uid,
            operation: AnyOperation::Classic(h.operation),
            complete: h.complete,
            data_len: h.data_len,
        }))
    }

    /// Decodes whole frames from `input` until one command is complete or
    /// the input runs out, as [`Decoder::decode`](crate::Decoder::decode)
    /// does. After an error the connection must be dropped.
    pub fn decode<'a>(&'a mut self, input: &'a [u8]) -> Result<Decoded<'a>, ExtDecodeError> {
        if self.delivered {
            self.payload.clear();
            self.delivered = false;
        }
        let mut consumed = 0;
        loop {
            let rest = &input[consumed..];
            let Some(header) = self.check_prefix(rest)? else {
                return Ok(Decoded {
                    consumed,
                    incoming: None,
                });
            };
            if header.kind != self.accept {
                return Err(DecodeError::UnexpectedKind {
                    expected: self.accept,
                    found: header.kind,
                }
                .into());
            }
            let frame_len = HEADER_LEN + usize::from(header.data_len);
            if rest.len() < frame_len {
                return Ok(Decoded {
                    consumed,
                    incoming: None,
                });
            }
            let data = &rest[HEADER_LEN..frame_len];
            consumed += frame_len;
            let partial = match self.partial {
                None if header.complete => {
                    let incoming = whole(
                        header.kind,
                        header.request_uid,
                        header.operation,
                        header.proto_level,
                        data,
                    );
                    return Ok(Decoded {
                        consumed,
                        incoming: Some(incoming),
                    });
                }
                None => {
                    let p = Partial {
                        request_uid: header.request_uid,
                        operation: header.operation,
                        proto_level: header.proto_level,
                    };
                    self.partial = Some(p);
                    p
                }
                Some(p) => {
                    if header.request_uid != p.request_uid {
                        return Err(DecodeError::UidMismatch {
                            expected: p.request_uid,
                            found: header.request_uid,
                        }
                        .into());
                    }
                    if header.operation != p.operation {
                        return Err(match (p.operation, header.operation) {
                            (AnyOperation::Classic(expected), AnyOperation::Classic(found)) => {
                                DecodeError::OperationMismatch { expected, found }.into()
                            }
                            (expected, found) => {
                                ExtDecodeError::OperationMismatch { expected, found }
                            }
                        });
                    }
                    p
                }
            };
            let len = self.payload.len() + data.len();
            let over = match partial.operation {
                AnyOperation::Classic(_) if len > MAX_PAYLOAD => {
                    Some(DecodeError::PayloadTooLong { len }.into())
                }
                AnyOperation::Extended(_) if len > MAX_EXT_PAYLOAD => {
                    Some(ExtDecodeError::PayloadTooLong { len })
                }
                _ => None,
            };
            if let Some(err) = over {
                return Err(err);
            }
            self.payload.extend_from_slice(data);
            if header.complete {
                self.partial = None;
                self.delivered = true;
                let incoming = whole(
                    header.kind,
                    partial.request_uid,
                    partial.operation,
                    partial.proto_level,
                    &self.payload,
                );
                return Ok(Decoded {
                    consumed,
                    incoming: Some(incoming),
                });
            }
        }
    }
}

fn whole(
    kind: Kind,
    request_uid: u32,
    operation: AnyOperation,
    proto_level: u32,
    payload: &[u8],
) -> Incoming<'_> {
    match operation {
        AnyOperation::Classic(operation) => Incoming::Classic {
            command: Command {
                kind,
                request_uid,
                operation,
                payload,
            },
            proto_level,
        },
        AnyOperation::Extended(operation) => Incoming::Extended(ExtCommand {
            kind,
            request_uid,
            operation,
            payload,
        }),
    }
}

/// The header checks of a class 1 frame (`prefix[9]` is 1, and the first
/// 9 bytes passed the 1.x checks), field by field as the bytes arrive, in
/// the 1.x order; the exact level is checked once the class is known.
fn check_extended(prefix: &[u8], level: u32) -> Result<Option<Header>, ExtDecodeError> {
    let found = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    if found != level {
        return Err(ExtDecodeError::Level {
            found,
            expected: level,
        });
    }
    let kind = Kind::from_byte(prefix[4])?;
    let operation = match prefix.get(10) {
        Some(&b) => ExtOperation::from_byte(b).ok_or(ExtDecodeError::Operation(b))?,
        None => return Ok(None),
    };
    let complete = match prefix.get(11) {
        Some(0) => false,
        Some(1) => true,
        Some(&other) => return Err(DecodeError::CompleteFlag(other).into()),
        None => return Ok(None),
    };
    if prefix.len() < HEADER_LEN {
        return Ok(None);
    }
    let data_len = u16::from_be_bytes([prefix[12], prefix[13]]);
    if usize::from(data_len) > MAX_FRAME_DATA {
        return Err(DecodeError::DataLen(data_len).into());
    }
    if !complete && usize::from(data_len) != MAX_FRAME_DATA {
        return Err(DecodeError::ShortFragment(data_len).into());
    }
    Ok(Some(Header {
        proto_level: found,
        kind,
        request_uid: u32::from_be_bytes([prefix[5], prefix[6], prefix[7], prefix[8]]),
        operation: AnyOperation::Extended(operation),
        complete,
        data_len,
    }))
}

/// Appends the class 1 frames of one extended command of extension
/// `version` whose payload is the concatenation of `parts`.
pub fn encode_extended(
    out: &mut Vec<u8>,
    kind: Kind,
    request_uid: u32,
    version: u16,
    operation: ExtOperation,
    parts: &[&[u8]],
) -> Result<(), ExtEncodeError> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    if total > MAX_EXT_PAYLOAD {
        return Err(ExtEncodeError::PayloadTooLong { len: total });
    }
    let fields = FrameFields {
        proto_level: ext_level(version),
        kind,
        request_uid,
        op_class: EXT_CLASS,
        operation: operation.to_byte(),
    };
    write_frames(out, fields, parts, total);
    Ok(())
}
