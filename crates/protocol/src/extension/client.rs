//! The client side: the probe ([`Negotiation`]) and, once the server
//! accepted, [`ExtClient`], which sends any [`Op`] as an extended request
//! and reads the answers back as [`Reply`]s, matched by tag.
//!
//! This is not a [`dc_ops::ClientCodec`]: that trait's replies borrow the
//! input, and an answer of more than one frame (a value over 2043 bytes)
//! is reassembled inside the decoder, so here a reply borrows the client.

use dc_ops::{Op, Reply};

use super::error::{ExtEncodeError, ExtResponseError};
use super::frame::{FrameDecoder, Incoming};
use super::hello::{Accept, Offer, HELLO_LEVEL};
use super::request::encode_request;
use super::response::parse_reply;
use super::{ExtOperation, EXT_VERSION};
use crate::frame::{Kind, Operation};

/// What the answer to the probe says about the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// The server speaks the extension: send extended frames from now on.
    Accepted(Accept),
    /// A 1.x server (the original, or any that answered the HAVE with one
    /// status byte): only the four 1.x operations can be sent.
    Classic,
    /// A proxy answered that it has no server (an empty answer or `02`):
    /// nothing is known; probe again on the next connection.
    NoServer,
}

/// The probe on one fresh connection.
#[derive(Debug)]
pub struct Negotiation {
    request_uid: u32,
    decoder: FrameDecoder,
}

impl Negotiation {
    /// Writes the offer, tagged `request_uid`, to `out`. Nothing else
    /// may be sent on the connection before [`read`](Self::read) gives
    /// the outcome (1.x requests could be, but the answer is awaited
    /// first so that no extended frame can follow an unread refusal).
    pub fn start(request_uid: u32, out: &mut Vec<u8>) -> Negotiation {
        Offer {
            lowest: EXT_VERSION,
            highest: EXT_VERSION,
        }
        .encode(out, request_uid);
        Negotiation {
            request_uid,
            decoder: FrameDecoder::new(Kind::Response),
        }
    }

    /// Reads the probe's answer from `input`: the bytes used and, once it
    /// is whole, the outcome.
    pub fn read(
        &mut self,
        input: &[u8],
    ) -> Result<(usize, Option<ProbeOutcome>), ExtResponseError> {
        let decoded = self.decoder.decode(input)?;
        let consumed = decoded.consumed;
        let Some(incoming) = decoded.incoming else {
            return Ok((consumed, None));
        };
        let Incoming::Classic {
            command,
            proto_level,
        } = incoming
        else {
            return Err(ExtResponseError::Probe {
                len: 0,
                why: " (an extended frame before any was negotiated)",
            });
        };
        if command.operation != Operation::Have || command.request_uid != self.request_uid {
            return Err(ExtResponseError::Probe {
                len: command.payload.len(),
                why: " (it answers another request)",
            });
        }
        let outcome = match command.payload {
            [] | [2] => ProbeOutcome::NoServer,
            payload => match Accept::parse(payload)? {
                None => ProbeOutcome::Classic,
                // An acceptance travels at the hello level, as the offer
                // does; one at any other level went through something that
                // rewrote the header (a 1.x proxy), which would drop the
                // extended frames that followed.
                Some(_) if proto_level != HELLO_LEVEL => {
                    return Err(ExtResponseError::Probe {
                        len: payload.len(),
                        why: " (it is not at the hello level)",
                    })
                }
                Some(accept) if accept.version == EXT_VERSION => ProbeOutcome::Accepted(accept),
                Some(_) => {
                    return Err(ExtResponseError::Probe {
                        len: payload.len(),
                        why: " (it names a version that was not offered)",
                    })
                }
            },
        };
        Ok((consumed, Some(outcome)))
    }
}

/// One answer read by [`ExtClient::decode_reply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtAnswer<'a> {
    /// Input bytes used up (non-zero without a reply when fragments of a
    /// longer answer were absorbed).
    pub consumed: usize,
    /// A whole answer: its tag, the operation it answers, the reply.
    pub reply: Option<(u32, ExtOperation, Reply<'a>)>,
}

/// The client side of a connection on which the server accepted the
/// extension.
#[derive(Debug)]
pub struct ExtClient {
    accept: Accept,
    decoder: FrameDecoder,
}

impl ExtClient {
    /// A client for a connection whose probe came back `accept`.
    pub fn new(accept: Accept) -> ExtClient {
        let mut decoder = FrameDecoder::new(Kind::Response);
        decoder.enable(accept.version);
        ExtClient { accept, decoder }
    }

    /// What the server accepted.
    pub fn accepted(&self) -> Accept {
        self.accept
    }

    /// Appends the request for `op`, tagged `tag`; returns the operation
    /// its answer will echo. Keys and values beyond the server's limits
    /// are refused before anything is written.
    pub fn encode(
        &mut self,
        tag: u32,
        op: &Op<'_>,
        out: &mut Vec<u8>,
    ) -> Result<ExtOperation, ExtEncodeError> {
        let key = op.key().len();
        if key > usize::from(self.accept.max_key_len) {
            return Err(ExtEncodeError::KeyTooLong { len: key });
        }
        if let Op::Store { value, .. } = op {
            if value.len() as u64 > u64::from(self.accept.max_value_len) {
                return Err(ExtEncodeError::ValueTooLong { len: value.len() });
            }
        }
        encode_request(out, tag, self.accept.version, op)
    }

    /// Reads whole frames from `input` until one answer is complete or the
    /// input runs out. After an error the connection must be dropped.
    pub fn decode_reply<'a>(
        &'a mut self,
        input: &'a [u8],
    ) -> Result<ExtAnswer<'a>, ExtResponseError> {
        let decoded = self.decoder.decode(input)?;
        let reply = match decoded.incoming {
            None => None,
            Some(Incoming::Classic { command, .. }) => {
                return Err(ExtResponseError::Classic(command.operation))
            }
            Some(Incoming::Extended(command)) => Some((
                command.request_uid,
                command.operation,
                parse_reply(command.operation, command.payload)?,
            )),
        };
        Ok(ExtAnswer {
            consumed: decoded.consumed,
            reply,
        })
    }
}
