//! One local client's protocol, whichever front door it came through: what
//! the multiplexer reads from it ([`FrontStep`]) and how its answers are
//! written ([`Front::compose`]).

use std::sync::Arc;

use dc_memcache::MemcacheServer;
use dc_ops::{Protocol, Reply, ReplyBuf, ServerInfo};
use dc_protocol::{Operation, RequestError};
use dc_resp::{RespConfig, RespServer};

use super::deferred::{Deferred, Served};
use super::distcache::{self, DistcacheFront, DistcacheStep};
use crate::error::ClientClose;
use crate::mux::requests::Compose;

/// The protocol a dc_client listener speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrontKind {
    /// distcache 1.x (`-listen`).
    Distcache,
    /// RESP2, as Redis (`-listen-redis`), with its password if any.
    Redis(Arc<RespConfig>),
    /// memcache text or binary, told apart by the first byte
    /// (`-listen-memcache`).
    Memcache,
}

impl FrontKind {
    /// The name used in logs and options.
    pub fn name(&self) -> &'static str {
        match self {
            FrontKind::Distcache => "distcache",
            FrontKind::Redis(_) => "redis",
            FrontKind::Memcache => "memcache",
        }
    }
}

/// What one [`Front::read`] found.
#[derive(Debug)]
pub(crate) enum FrontStep {
    /// Nothing whole yet; `consumed` bytes were absorbed.
    Incomplete { consumed: usize },
    /// Answered here: the answer (possibly none) is in `out`.
    Answered {
        consumed: usize,
        /// Requests answered (0 while skipping a refused value).
        requests: usize,
        /// The client asked to close once its answers are written.
        quit: bool,
        /// A distcache request answered without asking a server, and how.
        distcache: Option<(Operation, Option<RequestError>)>,
    },
    /// Operations to run; the answer is composed from their replies.
    Forward { consumed: usize, compose: Compose },
}

/// One local client's protocol state.
#[derive(Debug)]
pub(crate) enum Front {
    Distcache(DistcacheFront),
    Redis(Box<Deferred<RespServer>>),
    Memcache(Box<Deferred<MemcacheServer>>),
}

impl Front {
    pub(crate) fn new(kind: &FrontKind) -> Front {
        match kind {
            FrontKind::Distcache => Front::Distcache(DistcacheFront::new()),
            FrontKind::Redis(config) => Front::Redis(Box::new(Deferred::redis(Arc::clone(config)))),
            FrontKind::Memcache => Front::Memcache(Box::new(Deferred::memcache())),
        }
    }

    /// Whether part of a request has been received.
    pub(crate) fn in_request(&self) -> bool {
        match self {
            Front::Distcache(f) => f.in_request(),
            Front::Redis(d) => d.in_request(),
            Front::Memcache(d) => d.in_request(),
        }
    }

    /// Reads the next request from `input`, answering it into `out` if it
    /// needs no server. An error closes the client (its stream cannot be
    /// resynchronised); what `out` holds then is sent first.
    pub(crate) fn read(
        &mut self,
        input: &[u8],
        info: ServerInfo,
        out: &mut Vec<u8>,
    ) -> Result<FrontStep, ClientClose> {
        match self {
            Front::Distcache(front) => Ok(match front.read(input, out)? {
                DistcacheStep::Incomplete { consumed } => FrontStep::Incomplete { consumed },
                DistcacheStep::Forward {
                    consumed,
                    client_uid,
                    operation,
                    op,
                } => FrontStep::Forward {
                    consumed,
                    compose: Compose::Distcache {
                        client_uid,
                        operation,
                        op,
                    },
                },
                DistcacheStep::Answered {
                    consumed,
                    refused,
                    operation,
                } => FrontStep::Answered {
                    consumed,
                    requests: 1,
                    quit: false,
                    distcache: Some((operation, refused)),
                },
            }),
            Front::Redis(d) => deferred_step(d.serve(input, info, out), Protocol::Redis),
            Front::Memcache(d) => {
                let protocol = d.protocol();
                deferred_step(d.serve(input, info, out), protocol)
            }
        }
    }

    /// Appends the answer to a forwarded request, from its replies (one per
    /// operation, in order).
    pub(crate) fn compose(&mut self, compose: &Compose, replies: &[ReplyBuf], out: &mut Vec<u8>) {
        match (self, compose) {
            (
                _,
                Compose::Distcache {
                    client_uid,
                    operation,
                    ..
                },
            ) => {
                let reply = replies.first().map_or(Reply::Unavailable, ReplyBuf::reply);
                distcache::compose(out, *client_uid, *operation, &reply);
            }
            (Front::Redis(d), Compose::Deferred(request)) => d.compose(request, replies, out),
            (Front::Memcache(d), Compose::Deferred(request)) => d.compose(request, replies, out),
            // A deferred request is only made by a deferred front door.
            (Front::Distcache(_), Compose::Deferred(_)) => {}
        }
    }
}

fn deferred_step<E: std::error::Error>(
    served: Result<Served, E>,
    protocol: Protocol,
) -> Result<FrontStep, ClientClose> {
    match served {
        Err(e) => Err(ClientClose::Codec {
            protocol,
            message: e.to_string(),
        }),
        Ok(Served::Incomplete) => Ok(FrontStep::Incomplete { consumed: 0 }),
        Ok(Served::Answered {
            consumed,
            requests,
            close,
        }) => Ok(FrontStep::Answered {
            consumed,
            requests,
            quit: close,
            distcache: None,
        }),
        Ok(Served::Forward { consumed, request }) => Ok(FrontStep::Forward {
            consumed,
            compose: Compose::Deferred(request),
        }),
    }
}
