//! Incremental command reassembly.
//!
//! [`Decoder::decode`] is handed the bytes a connection has buffered, in
//! whatever split the network delivered them. It consumes whole frames only —
//! a frame is never acted on before all `14 + data_len` bytes are present
//! (the original decoded frames missing their last bytes from stale memory) —
//! and returns either nothing yet or one whole command:
//!
//! ```text
//!   input:  [frame 1/3][frame 2/3][frame 3/3][frame 1/1][par…
//!   call 1: consumes frames 1/3..3/3  -> Command (payload reassembled inside the decoder)
//!   call 2: consumes frame 1/1        -> Command (payload borrowed from the input)
//!   call 3: consumes nothing          -> no command: wait for more bytes
//! ```
//!
//! The caller drops `consumed` bytes from its buffer after each call. A
//! command that fits one frame is returned without copying its payload.

use crate::error::DecodeError;
use crate::frame::{FrameHeader, Kind, Operation, HEADER_LEN, MAX_PAYLOAD};

/// One whole command: a request or a response, reassembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command<'a> {
    /// Request or response.
    pub kind: Kind,
    /// The request_uid all of its frames carried.
    pub request_uid: u32,
    /// The operation all of its frames carried.
    pub operation: Operation,
    /// The reassembled payload (0..=32768 bytes).
    pub payload: &'a [u8],
}

/// What one call to [`Decoder::decode`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// Bytes of the input that were used up and can be discarded. Non-zero
    /// even without a command when fragments of a longer command were
    /// absorbed.
    pub consumed: usize,
    /// A whole command, if the input completed one.
    pub command: Option<Command<'a>>,
}

/// The command being reassembled from its frames.
#[derive(Debug, Clone, Copy)]
struct Partial {
    request_uid: u32,
    operation: Operation,
}

/// Reassembles frames into commands for one direction of one connection.
///
/// A decoder accepts only one [`Kind`]: a server-side decoder refuses
/// response frames, a client-side one refuses requests.
#[derive(Debug)]
pub struct Decoder {
    accept: Kind,
    partial: Option<Partial>,
    /// Payload of a multi-frame command; its capacity is kept between
    /// commands so reassembly does not allocate in steady state.
    payload: Vec<u8>,
    /// The last call returned a command borrowed from `payload`, which must
    /// be cleared before the next one starts.
    delivered: bool,
}

impl Decoder {
    /// A decoder for commands of the given kind.
    pub fn new(accept: Kind) -> Decoder {
        Decoder {
            accept,
            partial: None,
            payload: Vec::new(),
            delivered: false,
        }
    }

    /// The kind of command this decoder accepts.
    pub fn accepts(&self) -> Kind {
        self.accept
    }

    /// `true` when some frames of a command were absorbed and the rest are
    /// still to come. A peer that closes now has broken off mid-command.
    pub fn in_command(&self) -> bool {
        self.partial.is_some()
    }

    /// Forgets any half-reassembled command (e.g. when a connection is
    /// reused for a new peer).
    pub fn reset(&mut self) {
        self.partial = None;
        self.payload.clear();
        self.delivered = false;
    }

    /// Decodes as many whole frames from `input` as it takes to complete one
    /// command, or until the input runs out.
    ///
    /// Bytes of a trailing partial frame are not consumed; call again with
    /// them and more once more have arrived. After an error the decoder's
    /// state is unspecified and the connection should be dropped.
    pub fn decode<'a>(&'a mut self, input: &'a [u8]) -> Result<Decoded<'a>, DecodeError> {
        if self.delivered {
            self.payload.clear();
            self.delivered = false;
        }
        let mut consumed = 0;
        loop {
            let rest = &input[consumed..];
            let Some(header) = FrameHeader::check_prefix(rest)? else {
                return Ok(Decoded {
                    consumed,
                    command: None,
                });
            };
            if header.kind != self.accept {
                return Err(DecodeError::UnexpectedKind {
                    expected: self.accept,
                    found: header.kind,
                });
            }
            let frame_len = header.frame_len();
            if rest.len() < frame_len {
                return Ok(Decoded {
                    consumed,
                    command: None,
                });
            }
            let data = &rest[HEADER_LEN..frame_len];
            consumed += frame_len;

            match self.partial {
                None if header.complete => {
                    // The common case: a one-frame command, no copy.
                    return Ok(Decoded {
                        consumed,
                        command: Some(Command {
                            kind: header.kind,
                            request_uid: header.request_uid,
                            operation: header.operation,
                            payload: data,
                        }),
                    });
                }
                None => {
                    self.partial = Some(Partial {
                        request_uid: header.request_uid,
                        operation: header.operation,
                    });
                }
                Some(partial) => {
                    if header.request_uid != partial.request_uid {
                        return Err(DecodeError::UidMismatch {
                            expected: partial.request_uid,
                            found: header.request_uid,
                        });
                    }
                    if header.operation != partial.operation {
                        return Err(DecodeError::OperationMismatch {
                            expected: partial.operation,
                            found: header.operation,
                        });
                    }
                }
            }
            let len = self.payload.len() + data.len();
            if len > MAX_PAYLOAD {
                return Err(DecodeError::PayloadTooLong { len });
            }
            self.payload.extend_from_slice(data);
            if header.complete {
                let Some(partial) = self.partial.take() else {
                    // Unreachable: the `None if complete` arm returned above.
                    return Ok(Decoded {
                        consumed,
                        command: None,
                    });
                };
                self.delivered = true;
                return Ok(Decoded {
                    consumed,
                    command: Some(Command {
                        kind: header.kind,
                        request_uid: partial.request_uid,
                        operation: partial.operation,
                        payload: &self.payload,
                    }),
                });
            }
        }
    }
}
