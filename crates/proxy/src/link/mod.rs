//! One upstream of the pool, as one state machine: where its connection
//! stands, which dialect it speaks, the requests queued for it and those
//! waiting for its answers, and when to dial it again. Sans-IO: the
//! multiplexer drives it, the driver moves its bytes.
//!
//! ```text
//!            Connect                connected          probe answered
//!   Down ──────────────> Connecting ─────────> Up (probing) ──────────> Up (classic | extended)
//!    ^  retry_at (backoff)    │ failed / -timeout      │ lost, stalled, broken answer
//!    └────────────────────────┴────────────────────────┴──────────────────────────────┘
//! ```
//!
//! A dc_server link first sends the extension's probe
//! ([`dc_protocol::extension`]) and holds requests until the answer says
//! which dialect to use: extended frames for every operation if the server
//! accepted, else 1.x frames for the four operations 1.x has (anything else
//! fails at once on that link, and the next replica is tried). A backend
//! link (Redis) has no socket here: its operations go to a thread, which
//! owns the connection; its replies come back through the driver.

pub(crate) mod flight;

use std::fmt;
use std::time::Instant;

use std::collections::VecDeque;
use std::sync::Arc;

use dc_ops::{Op, OpBuf, ReplyBuf};
use dc_protocol::extension::{ExtClient, ExtOperation, Negotiation, ProbeOutcome};
use dc_protocol::ops::{answer_reply, op_request};
use dc_protocol::{encoded_len, Decoder, Kind, Operation};
use dc_redis_backend::{read_answer, LinkSetup, Plan};
use nal::Buffer;

use crate::backoff::Backoff;
use crate::error::UpstreamLoss;
use crate::mux::ServerSpec;
use flight::{Flight, InFlight};

/// Bytes of requests waiting to be written to one server. A request that
/// does not fit fails on that server: it is not keeping up, and waiting
/// would only stall the client.
pub const UPSTREAM_OUTPUT_CAP: usize = 4 << 20;

/// Operations queued for one backend thread and not yet taken by the
/// driver (it takes them on every turn of the loop, so this is only hit
/// when the thread cannot keep up).
pub const BACKEND_QUEUE_CAP: usize = 16 * 1024;

/// One upstream of the pool, by its place in the server list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub usize);

impl fmt::Display for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server #{}", self.0)
    }
}

/// What is at the other end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// A dc_server, or an original 1.x distcache server, over a socket the
    /// driver connects.
    Server,
    /// A backend reached through a thread of its own (Redis Sentinel or
    /// Cluster, or Redis over TLS): always up as far as the multiplexer
    /// goes; the thread reconnects by itself and fails operations fast
    /// meanwhile.
    Backend,
    /// One Redis server over a socket the driver connects, spoken to on
    /// the event loop itself (no thread hand-off): each operation as the
    /// Redis command of `dc_redis_backend::Plan`, answers in order.
    Redis,
}

/// Where a link's connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// No connection; the next attempt is due at the given time.
    Down {
        /// When the next connect attempt is due.
        retry_at: Instant,
    },
    /// A connect is in progress.
    Connecting {
        /// When it started.
        since: Instant,
        /// Requests are still queued for it (for
        /// [`CONNECT_QUEUE_WAIT`](crate::mux::CONNECT_QUEUE_WAIT)).
        queueing: bool,
    },
    /// Connected: requests are sent (held, while the probe is out).
    Up,
}

/// Which protocol a connected link speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Not known yet: the probe is out (or nothing is connected).
    Unknown,
    /// distcache 1.x only: ADD, GET, REMOVE and HAVE of ids up to 64 bytes.
    Classic,
    /// The extension: every operation.
    Extended,
    /// A backend thread: every operation.
    Backend,
    /// A Redis server: every operation.
    Redis,
}

/// What an answer must be to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Not sent yet: held until the probe is answered.
    Held,
    /// A 1.x request of this operation.
    Classic(Operation),
    /// An extended request of this operation.
    Extended(ExtOperation),
    /// An operation handed to a backend thread.
    Backend,
    /// A Redis command (answered in order).
    Redis,
}

/// Why an operation could not be sent on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendError {
    /// The link's dialect cannot carry it (a 1.x server).
    Unsupported,
    /// The queue to the server is full.
    Full,
}

#[derive(Debug)]
enum Wire {
    Probing(Negotiation),
    Classic(Decoder),
    Extended(ExtClient),
    Backend,
    /// Redis: the commands sent and not answered, in order, and how many
    /// answers to the connection's AUTH and SELECT come before theirs.
    Resp {
        sent: VecDeque<(u32, Plan)>,
        hello: usize,
    },
}

/// What one [`Link::read`] found.
#[derive(Debug)]
pub(crate) enum Read {
    /// Nothing whole yet.
    Nothing,
    /// An answer to a request.
    Answer(InFlight, ReplyBuf),
    /// The probe's answer: requests held for it can now be sent.
    Negotiated(Dialect),
}

/// Counters of one link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkStats {
    /// Operations sent (or handed to the backend thread).
    pub requests: u64,
    /// Answers received.
    pub answered: u64,
    /// Operations that failed on this link: lost with the connection,
    /// unanswered within the timeout, refused by its dialect, or answered
    /// "unavailable" by the backend.
    pub failures: u64,
    /// Connect attempts.
    pub connect_attempts: u64,
    /// Connections made.
    pub connects: u64,
    /// Connections lost after they were made.
    pub losses: u64,
}

/// One upstream.
#[derive(Debug)]
pub(crate) struct Link {
    pub name: String,
    pub kind: LinkKind,
    pub state: LinkState,
    wire: Wire,
    pub out: Buffer,
    /// Operations for the backend thread, with their tags.
    pub backend_out: Vec<(u32, OpBuf)>,
    pub flight: Flight,
    /// Uids of requests waiting for the probe's answer, in order.
    held: Vec<u32>,
    pub backoff: Backoff,
    pub stats: LinkStats,
    /// Whether the extension is offered on connect.
    probe: bool,
    probe_uid: u32,
    /// Whether requests may wait for the next connect to complete (see
    /// [`Link::connecting`]).
    queue_on_connect: bool,
    /// The only server of its pool.
    solo: bool,
    /// For a Redis link: its AUTH, SELECT, key prefix and lifetime cap.
    resp: Option<Arc<LinkSetup>>,
}

impl Link {
    /// A link to `spec`, down; it offers the extension if `probe`, and is
    /// the only server of its pool if `solo`.
    pub(crate) fn new(
        spec: &ServerSpec,
        probe: bool,
        solo: bool,
        first_uid: u32,
        backoff: Backoff,
        now: Instant,
    ) -> Link {
        let (name, kind, resp) = (spec.name.clone(), spec.kind, spec.resp.clone());
        let state = match kind {
            LinkKind::Server | LinkKind::Redis => LinkState::Down { retry_at: now },
            LinkKind::Backend => LinkState::Up,
        };
        let wire = fresh_wire(kind);
        Link {
            name,
            kind,
            state,
            wire,
            out: Buffer::new(UPSTREAM_OUTPUT_CAP),
            backend_out: Vec::new(),
            flight: Flight::new(first_uid),
            held: Vec::new(),
            backoff,
            stats: LinkStats::default(),
            probe,
            probe_uid: 0,
            queue_on_connect: true,
            solo,
            resp,
        }
    }

    /// Whether requests may be routed to it: connected, or a connect is in
    /// progress and still queueing.
    pub(crate) fn usable(&self) -> bool {
        matches!(
            self.state,
            LinkState::Up | LinkState::Connecting { queueing: true, .. }
        )
    }

    /// The dialect spoken.
    pub(crate) fn dialect(&self) -> Dialect {
        match &self.wire {
            Wire::Probing(_) => Dialect::Unknown,
            Wire::Classic(_) if self.state != LinkState::Up => Dialect::Unknown,
            Wire::Classic(_) => Dialect::Classic,
            Wire::Extended(_) => Dialect::Extended,
            Wire::Backend => Dialect::Backend,
            Wire::Resp { .. } => Dialect::Redis,
        }
    }

    /// A connect is starting: forget the old connection's dialect.
    ///
    /// Requests are routed to it meanwhile (and wait for the connect, up
    /// to the multiplexer's queueing limit) on its first connect, before
    /// anything failed, and always for the only server of a pool. A server
    /// of a larger pool that has failed is skipped until it is connected
    /// again: were it taken back on each of its reconnect attempts, a key's
    /// replicas would change from one request to the next, and a delete
    /// sent while it was in could miss the stand-in that holds the key
    /// while it is out.
    pub(crate) fn connecting(&mut self, now: Instant) {
        self.state = LinkState::Connecting {
            since: now,
            queueing: self.queue_on_connect || self.solo,
        };
        self.backoff.attempt(now);
        self.wire = fresh_wire(self.kind);
        self.stats.connect_attempts += 1;
    }

    /// The connection is made: send the probe (requests queued meanwhile
    /// are held for its answer), or, without the extension, go on in 1.x.
    pub(crate) fn connected(&mut self, now: Instant) {
        self.state = LinkState::Up;
        self.backoff.connected(now);
        self.stats.connects += 1;
        if let (Some(setup), Wire::Resp { hello, .. }) = (&self.resp, &mut self.wire) {
            // AUTH and SELECT go first, ahead of the commands queued while
            // the connect was in progress.
            let (first, answers) = setup.hello();
            if answers > 0 {
                let queued = self.out.as_slice().to_vec();
                self.out.clear();
                // The hello is a few dozen bytes: an empty buffer takes it
                // and the queue it was holding.
                let _ = self.out.extend(&first);
                let _ = self.out.extend(&queued);
                *hello = answers;
            }
            return;
        }
        if !self.probe {
            return;
        }
        // The probe goes first, ahead of any 1.x frames queued while the
        // connect was in progress; those are held and re-encoded.
        self.out.clear();
        // Uid 0, which requests never get: the original numbers its
        // requests from 1, and ours still are exactly as its (the probe
        // takes nothing from the sequence).
        let uid = flight::PROBE_UID;
        self.probe_uid = uid;
        let mut offer = Vec::new();
        let negotiation = Negotiation::start(uid, &mut offer);
        // The offer is 86 bytes: an empty buffer always takes it.
        let _ = self.out.extend(&offer);
        self.wire = Wire::Probing(negotiation);
        self.held = self.flight.uids().collect();
        for &uid in &self.held {
            if let Some(entry) = self.flight.get_mut(uid) {
                entry.expect = Expect::Held;
            }
        }
    }

    /// The connection is gone: back to waiting for the next attempt.
    pub(crate) fn lost(&mut self, now: Instant) -> Vec<InFlight> {
        if self.state == LinkState::Up {
            self.stats.losses += 1;
        }
        let retry_at = self.backoff.lost(now);
        self.state = LinkState::Down { retry_at };
        self.queue_on_connect = false;
        self.out.clear();
        self.wire = fresh_wire(self.kind);
        self.held.clear();
        self.take_all()
    }

    /// Every request waiting on the link, oldest first, taken off it.
    pub(crate) fn take_all(&mut self) -> Vec<InFlight> {
        self.held.clear();
        let all = self.flight.drain();
        self.stats.failures += all.len() as u64;
        all
    }

    /// Sends `op` under a fresh uid; the caller records it in the flight
    /// table with the returned expectation.
    pub(crate) fn send(&mut self, op: &Op<'_>) -> Result<(u32, Expect), SendError> {
        let uid = self.flight.allocate_uid();
        let expect = match &mut self.wire {
            Wire::Probing(_) => {
                self.held.push(uid);
                Expect::Held
            }
            Wire::Classic(_) => encode_classic(&mut self.out, uid, op)?,
            Wire::Extended(client) => encode_extended(&mut self.out, client, uid, op)?,
            Wire::Backend => {
                if self.backend_out.len() >= BACKEND_QUEUE_CAP {
                    return Err(SendError::Full);
                }
                self.backend_out.push((uid, OpBuf::new(op)));
                Expect::Backend
            }
            Wire::Resp { sent, .. } => {
                let Some(setup) = &self.resp else {
                    return Err(SendError::Unsupported);
                };
                let (plan, command) = Plan::new(op, &setup.prefix, setup.max_ttl);
                self.out
                    .extend_with(command.max_resp_len(), |v| command.write_resp(v))
                    .map_err(|_| SendError::Full)?;
                sent.push_back((uid, plan));
                Expect::Redis
            }
        };
        self.stats.requests += 1;
        Ok((uid, expect))
    }

    /// Encodes a request that was held for the probe, now that the dialect
    /// is known.
    pub(crate) fn send_held(&mut self, uid: u32, op: &Op<'_>) -> Result<Expect, SendError> {
        match &mut self.wire {
            Wire::Classic(_) => encode_classic(&mut self.out, uid, op),
            Wire::Extended(client) => encode_extended(&mut self.out, client, uid, op),
            Wire::Probing(_) | Wire::Backend | Wire::Resp { .. } => Ok(Expect::Held),
        }
    }

    /// The uids held for the probe, taken.
    pub(crate) fn take_held(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.held)
    }

    /// Reads one answer (or the probe's) from the front of `input`: the
    /// bytes used and what they were. An error means the server is broken
    /// and the connection must go.
    pub(crate) fn read(&mut self, input: &[u8]) -> Result<(usize, Read), UpstreamLoss> {
        match &mut self.wire {
            Wire::Probing(negotiation) => {
                let (consumed, outcome) = negotiation
                    .read(input)
                    .map_err(|e| UpstreamLoss::Extension(e.to_string()))?;
                let Some(outcome) = outcome else {
                    return Ok((consumed, Read::Nothing));
                };
                let _ = self.flight.take(self.probe_uid);
                let dialect = match outcome {
                    ProbeOutcome::Accepted(accept) => {
                        self.wire = Wire::Extended(ExtClient::new(accept));
                        Dialect::Extended
                    }
                    ProbeOutcome::Classic | ProbeOutcome::NoServer => {
                        self.wire = classic_wire();
                        Dialect::Classic
                    }
                };
                Ok((consumed, Read::Negotiated(dialect)))
            }
            Wire::Classic(decoder) => {
                let decoded = decoder.decode(input).map_err(UpstreamLoss::Protocol)?;
                let Some(command) = decoded.command else {
                    return Ok((decoded.consumed, Read::Nothing));
                };
                let uid = command.request_uid;
                let entry = self.flight.take(uid).ok_or(UpstreamLoss::UnknownUid(uid))?;
                let Expect::Classic(expected) = entry.expect else {
                    self.flight.restore(uid, entry);
                    return Err(UpstreamLoss::UnknownUid(uid));
                };
                if expected != command.operation {
                    // Still owed an answer: it fails with the rest.
                    self.flight.restore(uid, entry);
                    return Err(UpstreamLoss::WrongOperation {
                        uid,
                        expected,
                        found: command.operation,
                    });
                }
                let Some(reply) = answer_reply(expected, command.payload) else {
                    self.flight.restore(uid, entry);
                    return Err(UpstreamLoss::BadAnswer {
                        uid,
                        operation: expected.name(),
                        len: command.payload.len(),
                    });
                };
                self.stats.answered += 1;
                Ok((decoded.consumed, Read::Answer(entry, ReplyBuf::new(&reply))))
            }
            Wire::Extended(client) => {
                let answer = client
                    .decode_reply(input)
                    .map_err(|e| UpstreamLoss::Extension(e.to_string()))?;
                let consumed = answer.consumed;
                let Some((uid, operation, reply)) = answer.reply else {
                    return Ok((consumed, Read::Nothing));
                };
                let reply = ReplyBuf::new(&reply);
                let entry = self.flight.take(uid).ok_or(UpstreamLoss::UnknownUid(uid))?;
                if entry.expect != Expect::Extended(operation) {
                    self.flight.restore(uid, entry);
                    return Err(UpstreamLoss::Extension(format!(
                        "the server answered request_uid {uid} as an extended {operation:?}, \
                         which is not what was asked"
                    )));
                }
                self.stats.answered += 1;
                Ok((consumed, Read::Answer(entry, reply)))
            }
            Wire::Backend => Ok((input.len(), Read::Nothing)),
            Wire::Resp { sent, hello } => {
                let Some((answer, used)) =
                    read_answer(input).map_err(|e| UpstreamLoss::Redis(e.to_string()))?
                else {
                    return Ok((0, Read::Nothing));
                };
                if *hello > 0 {
                    *hello -= 1;
                    if let Err(e) = answer {
                        return Err(UpstreamLoss::Redis(format!("AUTH or SELECT refused: {e}")));
                    }
                    return Ok((used, Read::Nothing));
                }
                let Some((uid, plan)) = sent.pop_front() else {
                    return Err(UpstreamLoss::Redis(
                        "an answer to no command (the server answers more than asked)".into(),
                    ));
                };
                let reply = plan.reply(answer);
                let Some(entry) = self.flight.take(uid) else {
                    // Given up on meanwhile: the answer is read and dropped.
                    return Ok((used, Read::Nothing));
                };
                self.stats.answered += 1;
                Ok((used, Read::Answer(entry, reply)))
            }
        }
    }

    /// A backend thread's reply to the operation tagged `uid`; `None` if it
    /// was given up meanwhile (timed out).
    pub(crate) fn backend_reply(&mut self, uid: u32) -> Option<InFlight> {
        let entry = self.flight.take(uid)?;
        self.stats.answered += 1;
        Some(entry)
    }
}

fn classic_wire() -> Wire {
    Wire::Classic(Decoder::new(Kind::Response))
}

/// The wire a link of `kind` starts each connection with.
fn fresh_wire(kind: LinkKind) -> Wire {
    match kind {
        LinkKind::Server => classic_wire(),
        LinkKind::Backend => Wire::Backend,
        LinkKind::Redis => Wire::Resp {
            sent: VecDeque::new(),
            hello: 0,
        },
    }
}

fn encode_classic(out: &mut Buffer, uid: u32, op: &Op<'_>) -> Result<Expect, SendError> {
    let request = op_request(op).ok_or(SendError::Unsupported)?;
    out.extend_with(encoded_len(request.payload_len()), |v| {
        // Any request op_request makes fits a 1.x command.
        let _ = request.encode(v, uid);
    })
    .map_err(|_| SendError::Full)?;
    Ok(Expect::Classic(request.operation()))
}

fn encode_extended(
    out: &mut Buffer,
    client: &mut ExtClient,
    uid: u32,
    op: &Op<'_>,
) -> Result<Expect, SendError> {
    let value = match op {
        Op::Store { value, .. } => value.len(),
        _ => 0,
    };
    // Header, lifetime and flags, and a frame header per 2 KiB.
    let bound = op.key().len() + value + 64 + 16 * (1 + (op.key().len() + value) / 2048);
    let mut result = Err(SendError::Unsupported);
    out.extend_with(bound, |v| {
        result = client
            .encode(uid, op, v)
            .map(Expect::Extended)
            .map_err(|_| SendError::Unsupported);
    })
    .map_err(|_| SendError::Full)?;
    result
}
