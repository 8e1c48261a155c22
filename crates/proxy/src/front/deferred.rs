//! The RESP and memcache front doors: the same server codecs dc_server
//! serves with, run where each operation's reply comes later, from the
//! pool.
//!
//! A server codec calls [`Execute::execute`] and writes the answer inside
//! the reply callback, which suits a server whose store answers at once.
//! Here the reply is a network round trip away, so each request is served
//! twice:
//!
//! ```text
//!  pass 1 (on arrival):  codec.serve(bytes, Recorder) -> ops [Get k1, Get k2]
//!                        no ops (PING, AUTH, a syntax error): its answer is
//!                        final and goes out now
//!                        ops: the answer is dropped, the bytes are kept
//!  ... the pool replies ...
//!  pass 2 (on replies):  composer.serve(bytes, Replay[r1, r2]) -> answer
//! ```
//!
//! The codecs decide a request's operations from the request alone (never
//! from an earlier reply), so the second pass asks for the same operations
//! in the same order and gets the pool's replies to them. The composer is a
//! second codec that only ever sees requests that carry operations, which
//! a RESP codec serves only once authenticated: it is made without a
//! password, the first codec having checked it already.

use std::sync::Arc;

use dc_memcache::MemcacheServer;
use dc_ops::{Execute, Op, OpBuf, Protocol, Reply, ReplyBuf, ServerCodec, ServerInfo, Step};
use dc_resp::{RespConfig, RespServer};

/// What one [`Deferred::serve`] did.
#[derive(Debug)]
pub(crate) enum Served {
    /// No whole request yet; nothing consumed.
    Incomplete,
    /// Served without the pool: the answer (possibly none) is in `out`.
    Answered {
        consumed: usize,
        requests: usize,
        close: bool,
    },
    /// A request whose operations go to the pool.
    Forward {
        consumed: usize,
        request: DeferredRequest,
    },
}

/// A request waiting for its operations' replies: its bytes, served again
/// once they come.
#[derive(Debug)]
pub(crate) struct DeferredRequest {
    bytes: Vec<u8>,
    ops: Vec<OpBuf>,
}

impl DeferredRequest {
    /// Its operations, in the order the codec asked for them.
    pub(crate) fn ops(&self) -> &[OpBuf] {
        &self.ops
    }
}

/// One client's RESP or memcache stream, served with deferred replies.
#[derive(Debug)]
pub(crate) struct Deferred<C> {
    /// Reads the client's stream and answers what needs no server.
    codec: C,
    /// Composes the answers of forwarded requests from their replies.
    composer: C,
    /// A new composer, for when one is left mid-request (a memcache store
    /// refused for its size goes on to skip the value).
    fresh: fn() -> C,
}

impl Deferred<RespServer> {
    /// A RESP front door with `config`'s password, if any.
    pub(crate) fn redis(config: Arc<RespConfig>) -> Deferred<RespServer> {
        Deferred {
            codec: RespServer::new(config),
            composer: resp_composer(),
            fresh: resp_composer,
        }
    }
}

fn resp_composer() -> RespServer {
    RespServer::new(Arc::new(RespConfig::default()))
}

impl Deferred<MemcacheServer> {
    /// A memcache front door (text or binary, from the first byte).
    pub(crate) fn memcache() -> Deferred<MemcacheServer> {
        Deferred {
            codec: MemcacheServer::new(),
            composer: MemcacheServer::new(),
            fresh: MemcacheServer::new,
        }
    }
}

impl<C: ServerCodec> Deferred<C> {
    /// The protocol spoken.
    pub(crate) fn protocol(&self) -> Protocol {
        self.codec.protocol()
    }

    /// Whether part of a request has been consumed but not answered.
    pub(crate) fn in_request(&self) -> bool {
        self.codec.in_request()
    }

    /// Serves at most one request from the front of `input`: answered into
    /// `out` when it needs no server, else its operations are returned.
    /// On an error, `out` ends with the protocol's error answer.
    pub(crate) fn serve(
        &mut self,
        input: &[u8],
        info: ServerInfo,
        out: &mut Vec<u8>,
    ) -> Result<Served, C::Error> {
        let start = out.len();
        let mut recorder = Recorder {
            info,
            ops: Vec::new(),
        };
        let step = self.codec.serve(input, &mut recorder, out)?;
        let Step::Consumed {
            consumed,
            requests,
            close,
        } = step
        else {
            return Ok(Served::Incomplete);
        };
        if recorder.ops.is_empty() {
            return Ok(Served::Answered {
                consumed,
                requests,
                close,
            });
        }
        // Written as if every reply were "nothing": composed again later.
        out.truncate(start);
        Ok(Served::Forward {
            consumed,
            request: DeferredRequest {
                bytes: input[..consumed].to_vec(),
                ops: recorder.ops,
            },
        })
    }

    /// Appends the answer to `request`, whose operations got `replies` (one
    /// each, in order).
    pub(crate) fn compose(
        &mut self,
        request: &DeferredRequest,
        replies: &[ReplyBuf],
        out: &mut Vec<u8>,
    ) {
        let start = out.len();
        let mut replay = Replay {
            ops: &request.ops,
            replies,
            next: 0,
            diverged: false,
        };
        let served = self.composer.serve(&request.bytes, &mut replay, out);
        let whole = matches!(served, Ok(Step::Consumed { consumed, .. }) if consumed == request.bytes.len());
        if self.composer.in_request() || !whole || replay.diverged {
            self.composer = (self.fresh)();
        }
        if !whole || replay.diverged {
            // Cannot happen with codecs that choose operations from the
            // request alone; if one ever does otherwise, the client gets
            // its protocol's failure answer rather than a wrong one.
            out.truncate(start);
            let mut failing = Failing;
            let _ = self.composer.serve(&request.bytes, &mut failing, out);
            self.composer = (self.fresh)();
        }
    }
}

/// Pass one: notes each operation and replies nothing.
struct Recorder {
    info: ServerInfo,
    ops: Vec<OpBuf>,
}

impl Execute for Recorder {
    fn execute(&mut self, op: &Op<'_>, _answer: &mut dyn FnMut(&Reply<'_>)) {
        self.ops.push(OpBuf::new(op));
    }

    fn info(&self) -> ServerInfo {
        self.info
    }
}

/// Pass two: the i-th operation gets the i-th reply.
struct Replay<'a> {
    ops: &'a [OpBuf],
    replies: &'a [ReplyBuf],
    next: usize,
    diverged: bool,
}

impl Execute for Replay<'_> {
    fn execute(&mut self, op: &Op<'_>, answer: &mut dyn FnMut(&Reply<'_>)) {
        let i = self.next;
        self.next += 1;
        match (self.ops.get(i), self.replies.get(i)) {
            (Some(recorded), Some(reply)) if recorded.op() == *op => answer(&reply.reply()),
            _ => {
                self.diverged = true;
                answer(&Reply::Unavailable);
            }
        }
    }

    fn info(&self) -> ServerInfo {
        ServerInfo::default()
    }
}

/// Every operation fails (the answer when no reply can be matched).
struct Failing;

impl Execute for Failing {
    fn execute(&mut self, _op: &Op<'_>, answer: &mut dyn FnMut(&Reply<'_>)) {
        answer(&Reply::Unavailable);
    }

    fn info(&self) -> ServerInfo {
        ServerInfo::default()
    }
}

#[cfg(test)]
mod tests;
