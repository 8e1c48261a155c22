//! One client connection's protocol state, sans-IO: the bytes it has sent
//! go in, the answers to every whole request among them come out.
//!
//! Unlike the original, which handled at most one request per connection
//! per loop pass and lost answers queued behind a large GET, this serves
//! every complete request that is buffered, in order, and stops only when
//! the answers waiting to be sent pass a high-water mark (so a client that
//! pipelines without reading is slowed down rather than buffered without
//! bound).

use dc_protocol::{DecodeError, Decoder, Kind, RequestError};
use dc_store::Millis;
use thiserror::Error;

use crate::dispatch::{Dispatcher, StoreAccess};

/// Why a connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SessionError {
    /// The byte stream is not valid distcache 1.x.
    #[error("protocol error: {0}")]
    Decode(#[from] DecodeError),
    /// A request the original also answers by closing the connection.
    #[error("bad request: {0}")]
    Request(#[from] RequestError),
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
}

/// The protocol state of one client connection.
#[derive(Debug)]
pub struct ClientSession {
    decoder: Decoder,
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
            decoder: Decoder::new(Kind::Request),
        }
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
            let decoded = self.decoder.decode(&input[served.consumed..])?;
            served.consumed += decoded.consumed;
            let Some(command) = decoded.command else {
                return Ok(served);
            };
            dispatcher.handle(&command, now, out)?;
            served.requests += 1;
        }
    }
}
