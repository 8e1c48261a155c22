//! One client connection's protocol state, sans-IO: the bytes it has sent
//! go in, the answers to every whole request among them come out.
//!
//! Unlike the original, which handled at most one request per connection
//! per loop pass and lost answers queued behind a large GET, this serves
//! every complete request that is buffered, in order, and stops only when
//! the answers waiting to be sent pass a high-water mark (so a client that
//! pipelines without reading is slowed down rather than buffered without
//! bound).

use std::sync::Arc;

use dc_memcache::MemcacheServer;
use dc_ops::{Protocol, ServerCodec, Step};
use dc_protocol::extension::{
    ExtDecodeError, ExtEncodeError, ExtRequestError, FrameDecoder, Incoming,
};
use dc_protocol::{DecodeError, Kind, RequestError};
use dc_resp::{RespConfig, RespServer};
use dc_store::Millis;
use thiserror::Error;

use crate::dispatch::{Dispatcher, StoreAccess};
use crate::execute::Executor;
use crate::extension;
use dc_protocol::extension::EXT_VERSION;

/// Why a connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SessionError {
    /// The byte stream is not valid distcache 1.x.
    #[error("protocol error: {0}")]
    Decode(#[from] DecodeError),
    /// A request the original also answers by closing the connection.
    #[error("bad request: {0}")]
    Request(#[from] RequestError),
    /// The extended frames of a connection that negotiated the extension
    /// are broken.
    #[error("extension protocol error: {0}")]
    Extended(ExtDecodeError),
    /// An extended request whose fields do not add up.
    #[error("bad extended request: {0}")]
    ExtendedRequest(#[from] ExtRequestError),
    /// An answer the extension cannot carry (a bug: the executor answered
    /// an operation with a reply of another kind).
    #[error("cannot encode the answer: {0}")]
    ExtendedAnswer(#[from] ExtEncodeError),
    /// The byte stream is not valid RESP or memcache.
    #[error("{protocol} protocol error: {message}")]
    Codec {
        /// The protocol spoken.
        protocol: Protocol,
        /// What was wrong.
        message: String,
    },
}

/// What one call to [`ClientSession::serve`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Served {
    /// Input bytes used up; the caller discards them.
    pub consumed: usize,
    /// Requests answered.
    pub requests: usize,
    /// Serving stopped because `out` reached the high-water mark; call again
    /// once some of it has been sent.
    pub blocked: bool,
    /// The client asked to close (`QUIT`): send what is in `out`, then
    /// close; read nothing more.
    pub close: bool,
}

impl From<ExtDecodeError> for SessionError {
    fn from(e: ExtDecodeError) -> SessionError {
        match e {
            // The 1.x errors stay what they were for 1.x clients.
            ExtDecodeError::Frame(e) => SessionError::Decode(e),
            other => SessionError::Extended(other),
        }
    }
}

/// The protocol state of one client connection: 1.x frames, and after the
/// client's offer ([`crate::extension`]) extended ones too.
#[derive(Debug)]
pub struct ClientSession {
    decoder: FrameDecoder,
}

impl Default for ClientSession {
    fn default() -> Self {
        ClientSession::new()
    }
}

impl ClientSession {
    /// A fresh connection's state.
    pub fn new() -> ClientSession {
        ClientSession {
            decoder: FrameDecoder::new(Kind::Request),
        }
    }

    /// The extension version this connection negotiated, if it did.
    pub fn extension(&self) -> Option<u16> {
        self.decoder.version()
    }

    /// `true` while a multi-frame request is half received.
    pub fn in_request(&self) -> bool {
        self.decoder.in_command()
    }

    /// Answers every whole request in `input`, appending answers to `out`
    /// until `out` holds `high_water` bytes or more.
    ///
    /// On error, nothing more may be read from this connection: the stream
    /// cannot be resynchronised. Answers already in `out` for earlier
    /// requests are still valid.
    pub fn serve<S: StoreAccess>(
        &mut self,
        dispatcher: &mut Dispatcher<S>,
        input: &[u8],
        now: Millis,
        out: &mut Vec<u8>,
        high_water: usize,
    ) -> Result<Served, SessionError> {
        let mut served = Served::default();
        loop {
            if out.len() >= high_water {
                served.blocked = true;
                return Ok(served);
            }
            // Read before the decode, which borrows the decoder for as long
            // as its command lives.
            let version = self.decoder.version().unwrap_or(EXT_VERSION);
            let decoded = self.decoder.decode(&input[served.consumed..])?;
            served.consumed += decoded.consumed;
            match decoded.incoming {
                None => return Ok(served),
                Some(Incoming::Classic {
                    command,
                    proto_level,
                }) => match extension::accept_offer(&command, proto_level, out) {
                    Some(version) => self.decoder.enable(version),
                    None => dispatcher.handle(&command, now, out)?,
                },
                Some(Incoming::Extended(command)) => {
                    extension::serve_extended(dispatcher.executor(), &command, version, now, out)?;
                }
            }
            served.requests += 1;
        }
    }
}

/// Which protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrontDoor {
    /// distcache 1.x.
    Distcache,
    /// RESP2, as Redis.
    Redis,
    /// memcache, text or binary (told apart by the first byte).
    Memcache,
}

impl FrontDoor {
    /// The name used in logs and options.
    pub fn name(self) -> &'static str {
        match self {
            FrontDoor::Distcache => "distcache",
            FrontDoor::Redis => "redis",
            FrontDoor::Memcache => "memcache",
        }
    }
}

/// One connection's protocol state, whichever front door it came through.
#[derive(Debug)]
pub enum Session {
    /// A distcache 1.x client.
    Distcache(ClientSession),
    /// A RESP client.
    Redis(RespServer),
    /// A memcache client.
    Memcache(MemcacheServer),
}

impl Session {
    /// A fresh connection's state, for a client of `door`; `redis` is the
    /// RESP front door's configuration (its password).
    pub fn new(door: FrontDoor, redis: &Arc<RespConfig>) -> Session {
        match door {
            FrontDoor::Distcache => Session::Distcache(ClientSession::new()),
            FrontDoor::Redis => Session::Redis(RespServer::new(Arc::clone(redis))),
            FrontDoor::Memcache => Session::Memcache(MemcacheServer::new()),
        }
    }

    /// The protocol spoken (for memcache, known from the first byte).
    pub fn protocol(&self) -> Protocol {
        match self {
            Session::Distcache(_) => Protocol::Distcache,
            Session::Redis(c) => c.protocol(),
            Session::Memcache(c) => c.protocol(),
        }
    }

    /// `true` while part of a request has been received.
    pub fn in_request(&self) -> bool {
        match self {
            Session::Distcache(s) => s.in_request(),
            Session::Redis(c) => c.in_request(),
            Session::Memcache(c) => c.in_request(),
        }
    }

    /// Answers every whole request in `input`, as
    /// [`ClientSession::serve`] does for distcache.
    pub fn serve<S: StoreAccess>(
        &mut self,
        dispatcher: &mut Dispatcher<S>,
        input: &[u8],
        now: Millis,
        out: &mut Vec<u8>,
        high_water: usize,
    ) -> Result<Served, SessionError> {
        match self {
            Session::Distcache(s) => s.serve(dispatcher, input, now, out, high_water),
            Session::Redis(c) => serve_codec(c, dispatcher.executor(), input, out, high_water),
            Session::Memcache(c) => serve_codec(c, dispatcher.executor(), input, out, high_water),
        }
    }
}

/// Serves every whole request in `input` with a [`ServerCodec`], up to the
/// high-water mark of `out`.
pub fn serve_codec<C: ServerCodec, S: StoreAccess>(
    codec: &mut C,
    exec: &mut Executor<S>,
    input: &[u8],
    out: &mut Vec<u8>,
    high_water: usize,
) -> Result<Served, SessionError> {
    let mut served = Served::default();
    while served.consumed < input.len() {
        if out.len() >= high_water {
            served.blocked = true;
            break;
        }
        exec.set_protocol(codec.protocol());
        let step = codec
            .serve(&input[served.consumed..], exec, out)
            .map_err(|e| SessionError::Codec {
                protocol: codec.protocol(),
                message: e.to_string(),
            })?;
        match step {
            Step::Incomplete => break,
            Step::Consumed {
                consumed,
                requests,
                close,
            } => {
                served.consumed += consumed;
                served.requests += requests;
                exec.count_requests(requests);
                if close {
                    served.close = true;
                    break;
                }
                if consumed == 0 && requests == 0 {
                    // No progress: wait for more input rather than spin.
                    break;
                }
            }
        }
    }
    Ok(served)
}
