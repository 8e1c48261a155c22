//! The multiplexer, sans-IO: which local client asked what, which server
//! of the pool each operation goes to, which answer belongs to whom, and
//! what to answer when no server can.
//!
//! ```text
//!  local clients            Mux                                  pool
//!  -------------            ---                                  ----
//!  A (1.x): GET 0xab  --> slot A#0 --> op: Get k1 --ring--> link 0 (dc_server, extended)
//!  B (RESP): DEL k2 k3 -> slot B#0 --> op: Delete k2 -----> link 1 (dc_server, 1.x)
//!                                  └-> op: Delete k3 -----> link 0
//!  B  <-- :2  <-- slot B#0 <-- both replies composed by B's front door
//! ```
//!
//! It owns no socket and reads no clock. The driver feeds it what each
//! client sent ([`Mux::client_input`]), what each server sent
//! ([`Mux::upstream_input`]) or a backend thread replied
//! ([`Mux::backend_reply`]), how each link's connection is doing
//! ([`Mux::upstream_connected`], [`Mux::upstream_lost`]) and the time
//! ([`Mux::handle_timeout`] at [`Mux::next_timeout`]). It writes the bytes
//! for each side into buffers the driver drains to the sockets
//! ([`Mux::client_output`], [`Mux::upstream_output`],
//! [`Mux::backend_queue`]), lists the clients with new answers
//! ([`Mux::take_touched`]) and asks for actions through [`Event`]s.
//!
//! The rules:
//!
//! * Each client speaks its front door's protocol ([`FrontKind`]); each
//!   whole request becomes one or more operations. A request that needs no
//!   server (PING, a refused ADD, a syntax error) is answered here.
//! * Each operation goes to the servers that own its key on the ring
//!   ([`crate::ring`]), skipping links that are down. With
//!   [`MuxConfig::replicas`] R, a write (store, delete, touch, counter) goes
//!   to the R first live owners and is answered with the first reply that
//!   is not a failure; a read (get, exists, ttl) asks them in turn, moving
//!   on after a miss or a failure, and is answered with the first hit, else
//!   a miss if any answered, else a failure.
//! * Every request is answered by its deadline, the upstream timeout after
//!   it arrived, whatever the servers do: with what is known by then.
//! * Each client gets its answers in its own request order.
//! * While no server can take an operation it fails at once: the client
//!   gets its protocol's failure answer (DISCONNECTED, `-ERR`,
//!   `SERVER_ERROR`, a binary error status).
//! * A server that answers an unknown uid or the wrong operation, sends
//!   garbage, or leaves an operation unanswered for its share of the
//!   upstream timeout (the timeout over [`MuxConfig::replicas`], so a read
//!   can still try the next replica in time) is dropped, and its operations
//!   go to the next replica. Reconnects back off ([`crate::backoff`]).
//! * Buffers are capped: a client that pipelines faster than it reads is
//!   no longer read, and one whose unread answers pass the output cap is cut
//!   off.

mod answers;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod pool_tests;
pub(crate) mod requests;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

// Client ids are ours: no peer chooses them.
use foldhash::HashMap;
use std::time::{Duration, Instant};

use dc_ops::{Op, OpBuf, OpKind, Reply, ReplyBuf, ServerInfo, StoreMode};
use dc_protocol::RequestError;
use nal::Buffer;

use crate::backoff::Backoff;
use crate::error::{AtCapacity, ClientClose, UpstreamLoss};
use crate::front::{Front, FrontKind, FrontStep};
use crate::link::{flight::InFlight, Link, Read, SendError};
pub use crate::link::{Dialect, LinkId, LinkKind, LinkState, LinkStats, UPSTREAM_OUTPUT_CAP};
use crate::ring::{Ring, RingError, Server};
pub use crate::stats::{Outcome, Stats};
use answers::Answers;
use requests::{Compose, OpRef, RequestRef, Requests};

/// The state of a link, under its older name.
pub type UpstreamState = LinkState;

/// Default longest pause between connect attempts (`-retry`), the
/// original's fixed pause.
pub const DEFAULT_RETRY: Duration = Duration::from_millis(5000);
/// Default upstream timeout (`-timeout`): a cache lookup slower than this
/// costs a TLS handshake more than a full handshake would, so the server is
/// treated as gone. The original had none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1000);
/// Default limit on local connections (`-max-clients`), the original's
/// fixed limit.
pub const DEFAULT_MAX_CLIENTS: usize = 1024;
/// Most servers in a pool: a request's replicas tried are kept as bits.
pub const MAX_SERVERS: usize = 64;

/// Requests one client may have waiting for answers. Beyond it, its further
/// requests are left unread until answers go out.
pub const CLIENT_PIPELINE_MAX: usize = 32;
/// Unread answers beyond which a client's further requests are left unread.
pub const CLIENT_OUTPUT_HIGH_WATER: usize = 64 * 1024;
/// Unread answers beyond which a client is cut off. A TLS server waits for
/// each answer before its next request and never comes near this.
pub const CLIENT_OUTPUT_CAP: usize = 256 * 1024;
/// How long requests wait for a connect in progress. If the connect takes
/// longer they go to the next replica (or fail) and later ones skip the
/// link, so a server behind a black hole costs callers at most this. On a
/// LAN a connect takes well under a millisecond, so requests that arrive
/// just as `dc_client` starts or reconnects are served rather than refused.
pub const CONNECT_QUEUE_WAIT: Duration = Duration::from_millis(50);

/// The multiplexer's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MuxConfig {
    /// Longest pause between connect attempts, which back off to it
    /// ([`crate::backoff`]).
    pub retry: Duration,
    /// Upstream timeout: the longest a request may wait for its answer, a
    /// server for its oldest answer, and a connect for completion. `None`:
    /// no limit.
    pub timeout: Option<Duration>,
    /// Close clients that have no request in progress and no traffic for
    /// this long. `None`: never.
    pub idle: Option<Duration>,
    /// Most local clients at once.
    pub max_clients: usize,
    /// The first upstream request_uid on each link (the original starts at
    /// 1).
    pub first_uid: u32,
    /// Servers that hold each key (`-replicas`), at least 1.
    pub replicas: usize,
    /// Offer the protocol extension to each dc_server on connect (without
    /// it only 1.x operations can be carried).
    pub extension: bool,
}

impl Default for MuxConfig {
    fn default() -> MuxConfig {
        MuxConfig {
            retry: DEFAULT_RETRY,
            timeout: Some(DEFAULT_TIMEOUT),
            idle: None,
            max_clients: DEFAULT_MAX_CLIENTS,
            first_uid: 1,
            replicas: 1,
            extension: true,
        }
    }
}

/// One server of the pool, as the multiplexer knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    /// Its name on the ring (`host:port`, as libmemcached names servers)
    /// and in logs and metrics.
    pub name: String,
    /// What it is.
    pub kind: LinkKind,
    /// For a Redis server: its AUTH, SELECT, prefix and lifetime cap.
    pub resp: Option<std::sync::Arc<dc_redis_backend::LinkSetup>>,
}

impl ServerSpec {
    /// A dc_server (or 1.x server) reached over a socket.
    pub fn server(name: impl Into<String>) -> ServerSpec {
        ServerSpec {
            name: name.into(),
            kind: LinkKind::Server,
            resp: None,
        }
    }

    /// One Redis server, spoken to on the event loop.
    pub fn redis(name: impl Into<String>, setup: dc_redis_backend::LinkSetup) -> ServerSpec {
        ServerSpec {
            name: name.into(),
            kind: LinkKind::Redis,
            resp: Some(std::sync::Arc::new(setup)),
        }
    }

    /// A backend reached through a thread (Redis).
    pub fn backend(name: impl Into<String>) -> ServerSpec {
        ServerSpec {
            name: name.into(),
            kind: LinkKind::Backend,
            resp: None,
        }
    }
}

/// Why a multiplexer cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The ring refused the server list (none, or a name twice).
    #[error(transparent)]
    Ring(#[from] RingError),
    /// More servers than [`MAX_SERVERS`].
    #[error("{0} servers given; a pool holds at most {MAX_SERVERS}")]
    TooMany(usize),
}

/// A local client, as the multiplexer knows it. Ids are never reused, so an
/// answer that arrives after its client left cannot reach a newcomer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientId {
    handle: usize,
    serial: u64,
}

impl ClientId {
    /// The handle the driver gave [`Mux::add_client`] (its connection key).
    pub fn handle(&self) -> usize {
        self.handle
    }
}

/// Something the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Start connecting to this server, then report the outcome with
    /// [`Mux::upstream_connected`] or [`Mux::upstream_lost`].
    Connect(LinkId),
    /// Close this server's connection (or abandon the connect): it is gone
    /// or no longer trusted. Every operation it carried has gone to the
    /// next replica or failed.
    Disconnect(LinkId, UpstreamLoss),
    /// The server answered the probe: it speaks this dialect (for the log:
    /// a 1.x server cannot carry the extended operations).
    Negotiated(LinkId, Dialect),
    /// Close this client's connection; the multiplexer has forgotten it.
    CloseClient(ClientId, ClientClose),
    /// A client sent a request the server would have dropped the connection
    /// for; it was answered with DISCONNECTED and not forwarded. For the
    /// log only.
    Malformed(ClientId, RequestError),
    /// Operations failed on this server because the queue to it was full
    /// ([`UPSTREAM_OUTPUT_CAP`]): it is not keeping up. Reported once per
    /// batch of client input, for the log.
    UpstreamFull(LinkId),
    /// An operation a 1.x server cannot carry was sent its way and failed
    /// there (for the log).
    Unsupported(LinkId, OpKind),
}

/// What one [`Mux::client_input`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientInput {
    /// Input bytes used up; the caller discards them.
    pub consumed: usize,
    /// Reading stopped because the client has too many requests waiting or
    /// too many answers unread. Feed the rest again after its output drains
    /// (the client shows up in [`Mux::take_touched`] when answers come).
    pub blocked: bool,
}

/// One local client's state.
#[derive(Debug)]
struct Client {
    handle: usize,
    front: Front,
    answers: Answers,
    last_active: Instant,
    /// Listed in `touched` already.
    touched: bool,
    /// The last [`Mux::client_input`] stopped reading it (for counting
    /// each throttling once).
    blocked: bool,
    /// It asked to close (QUIT): nothing more is read; it is closed once
    /// its answers are written.
    quit: bool,
    /// Its requests sent on to the pool and not answered yet.
    in_progress: Vec<RequestRef>,
    /// Its requests not sent yet, in order: the first touches a key that
    /// an earlier ADD of this client has not settled (see
    /// [`Mux::blocked_by_add`]).
    held: VecDeque<RequestRef>,
}

/// The multiplexer; see the module documentation.
#[derive(Debug)]
pub struct Mux {
    config: MuxConfig,
    clients: HashMap<u64, Client>,
    next_serial: u64,
    links: Vec<Link>,
    ring: Ring,
    requests: Requests,
    events: VecDeque<Event>,
    touched: Vec<ClientId>,
    next_idle_scan: Option<Instant>,
    stats: Stats,
    info: ServerInfo,
    /// Reused for each answer composed.
    scratch: Vec<u8>,
}

impl Mux {
    /// A multiplexer for one dc_server, with no clients and no connection
    /// yet; the first [`handle_timeout`](Self::handle_timeout) asks for a
    /// connect.
    pub fn new(config: MuxConfig, now: Instant) -> Mux {
        match Mux::with_pool(config, &[ServerSpec::server("server")], now) {
            Ok(mux) => mux,
            // One server of one name always makes a ring.
            Err(e) => unreachable!("a pool of one: {e}"),
        }
    }

    /// A multiplexer for a pool of servers, in the order given (a server's
    /// [`LinkId`] is its place in `servers`).
    pub fn with_pool(
        config: MuxConfig,
        servers: &[ServerSpec],
        now: Instant,
    ) -> Result<Mux, PoolError> {
        if servers.len() > MAX_SERVERS {
            return Err(PoolError::TooMany(servers.len()));
        }
        let names: Vec<Server> = servers.iter().map(|s| Server::new(&s.name)).collect();
        let ring = Ring::new(&names)?;
        let links = servers
            .iter()
            .map(|s| {
                Link::new(
                    s,
                    config.extension && s.kind == LinkKind::Server,
                    servers.len() == 1,
                    config.first_uid,
                    Backoff::new(config.retry, now),
                    now,
                )
            })
            .collect();
        Ok(Mux {
            config: MuxConfig {
                replicas: config.replicas.max(1),
                ..config
            },
            clients: HashMap::default(),
            next_serial: 0,
            links,
            ring,
            requests: Requests::default(),
            events: VecDeque::new(),
            touched: Vec::new(),
            next_idle_scan: None,
            stats: Stats::default(),
            info: ServerInfo {
                pid: std::process::id(),
                threads: 1,
                ..ServerInfo::default()
            },
            scratch: Vec::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &MuxConfig {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Servers in the pool.
    pub fn links(&self) -> usize {
        self.links.len()
    }

    /// Where a server's connection stands.
    pub fn link_state(&self, link: LinkId) -> Option<LinkState> {
        self.links.get(link.0).map(|l| l.state)
    }

    /// The dialect a server speaks.
    pub fn link_dialect(&self, link: LinkId) -> Option<Dialect> {
        self.links.get(link.0).map(Link::dialect)
    }

    /// A server's counters.
    pub fn link_stats(&self, link: LinkId) -> Option<LinkStats> {
        self.links.get(link.0).map(|l| l.stats)
    }

    /// A server's name.
    pub fn link_name(&self, link: LinkId) -> Option<&str> {
        self.links.get(link.0).map(|l| l.name.as_str())
    }

    /// Whether requests can be routed to the server now.
    pub fn link_usable(&self, link: LinkId) -> bool {
        self.links.get(link.0).is_some_and(Link::usable)
    }

    /// Where the first server's connection stands (the one server of a
    /// pool of one).
    pub fn upstream_state(&self) -> UpstreamState {
        self.links[0].state
    }

    /// Operations waiting for a server's answer, over the pool.
    pub fn in_flight(&self) -> usize {
        self.links.iter().map(|l| l.flight.len()).sum()
    }

    /// Client requests waiting for their answer.
    pub fn requests_in_progress(&self) -> usize {
        self.requests.len()
    }

    /// Local clients connected.
    pub fn clients(&self) -> usize {
        self.clients.len()
    }

    /// The facts a RESP `INFO` or memcache `stats` reports, as the driver
    /// knows them (uptime, time, CPU); the counters are the multiplexer's.
    pub fn set_info(&mut self, info: ServerInfo) {
        self.info = info;
    }

    // ---- local clients --------------------------------------------------

    /// Registers a new distcache 1.x client; see
    /// [`add_client_of`](Self::add_client_of).
    pub fn add_client(&mut self, handle: usize, now: Instant) -> Result<ClientId, AtCapacity> {
        self.add_client_of(handle, &FrontKind::Distcache, now)
    }

    /// Registers a new local client that came through a front door of
    /// `kind`. `handle` is the driver's key for its connection, given back
    /// by [`ClientId::handle`]. At [`MuxConfig::max_clients`] it is
    /// refused: the driver makes room first, if it can, with
    /// [`evict_client`](Self::evict_client).
    pub fn add_client_of(
        &mut self,
        handle: usize,
        kind: &FrontKind,
        now: Instant,
    ) -> Result<ClientId, AtCapacity> {
        if self.clients.len() >= self.config.max_clients {
            self.stats.clients_refused += 1;
            return Err(AtCapacity {
                max: self.config.max_clients,
            });
        }
        let serial = self.next_serial;
        self.next_serial += 1;
        self.clients.insert(
            serial,
            Client {
                handle,
                front: Front::new(kind),
                answers: Answers::new(CLIENT_OUTPUT_CAP),
                last_active: now,
                touched: false,
                blocked: false,
                quit: false,
                in_progress: Vec::new(),
                held: VecDeque::new(),
            },
        );
        self.stats.clients += 1;
        if let Some(idle) = self.config.idle {
            let due = now + idle;
            self.next_idle_scan = Some(self.next_idle_scan.map_or(due, |t| t.min(due)));
        }
        Ok(ClientId { handle, serial })
    }

    /// Whether `id` is still a client (not closed by either side).
    pub fn has_client(&self, id: ClientId) -> bool {
        self.client(id).is_some()
    }

    /// Forgets a client whose connection the driver closed (end of file,
    /// I/O error, shutdown). Answers still to come for it are dropped.
    pub fn remove_client(&mut self, id: ClientId) {
        if self.client(id).is_some() {
            self.forget_client(id);
        }
    }

    /// Closes a client that has nothing in flight to make room for a new one
    /// at [`MuxConfig::max_clients`] (the driver chose it). Returns whether
    /// it was closed: a client owed something is kept.
    pub fn evict_client(&mut self, id: ClientId) -> bool {
        if self.client(id).is_none() || !self.client_settled(id) {
            return false;
        }
        self.forget_client(id);
        self.stats.clients_evicted += 1;
        true
    }

    /// Counts a local client that the driver refused without asking (out of
    /// descriptors, and no idle client to close).
    pub fn refused_client(&mut self) {
        self.stats.clients_refused += 1;
    }

    /// Notes traffic on a client's connection (bytes read or written), for
    /// the idle timeout.
    pub fn client_active(&mut self, id: ClientId, now: Instant) {
        if let Some(client) = self.client_mut(id) {
            client.last_active = now;
        }
    }

    /// Handles the whole requests at the start of `input`, the bytes the
    /// client sent that are not consumed yet.
    ///
    /// Forwards their operations, or answers them at once; a partial
    /// request at the end stays in the input (whole frames of it may be
    /// absorbed). On a protocol error the client is closed
    /// ([`Event::CloseClient`]) and everything is reported consumed.
    pub fn client_input(&mut self, id: ClientId, input: &[u8], now: Instant) -> ClientInput {
        let mut result = ClientInput::default();
        let mut wrote = false;
        let mut close = None;
        let info = self.current_info();
        loop {
            // Fields, not methods, so that the client's borrow leaves the
            // counters and the event queue free.
            let Some(client) = self
                .clients
                .get_mut(&id.serial)
                .filter(|c| c.handle == id.handle)
            else {
                return ClientInput {
                    consumed: input.len(),
                    blocked: false,
                };
            };
            if client.quit {
                result.consumed = input.len();
                break;
            }
            if client.answers.owed() >= CLIENT_PIPELINE_MAX
                || client.answers.out().len() >= CLIENT_OUTPUT_HIGH_WATER
            {
                result.blocked = true;
                break;
            }
            let mut out = std::mem::take(&mut self.scratch);
            out.clear();
            let step = client.front.read(&input[result.consumed..], info, &mut out);
            let step = match step {
                Ok(step) => step,
                Err(reason) => {
                    // The codec's own error answer goes out first.
                    if !out.is_empty() {
                        let _ = client.answers.answer_now(&out, now);
                        wrote = true;
                    }
                    self.scratch = out;
                    close = Some(reason);
                    break;
                }
            };
            let mut stop = false;
            match step {
                FrontStep::Incomplete { consumed } => {
                    result.consumed += consumed;
                    stop = true;
                }
                FrontStep::Answered {
                    consumed,
                    requests,
                    quit,
                    distcache,
                } => {
                    result.consumed += consumed;
                    self.stats.requests += requests as u64;
                    if !out.is_empty() {
                        wrote = true;
                        if client.answers.answer_now(&out, now).is_err() {
                            close = Some(not_reading(&client.answers));
                        }
                    }
                    client.quit |= quit;
                    if let Some((operation, refused)) = distcache {
                        match refused {
                            None => self.stats.refused += 1,
                            Some(error) => {
                                self.stats.malformed += 1;
                                self.events.push_back(Event::Malformed(id, error));
                            }
                        }
                        self.stats.count(operation, Outcome::Refused);
                    }
                    if consumed == 0 && requests == 0 {
                        stop = true;
                    }
                }
                FrontStep::Forward { consumed, compose } => {
                    result.consumed += consumed;
                    self.stats.requests += 1;
                    let seq = client.answers.open(now);
                    let deadline = self.config.timeout.map(|t| now + t);
                    let too_many = compose.ops().len() > requests::MAX_OPS;
                    let request = self.requests.insert(id, seq, compose, deadline);
                    self.scratch = out;
                    if too_many {
                        // More keys than a request may carry: failed whole,
                        // never sent.
                        self.expire_request(request, now);
                    } else {
                        self.admit_request(id, request, now);
                    }
                    wrote |= self.client(id).is_some_and(|c| !c.answers.out().is_empty());
                    continue;
                }
            }
            self.scratch = out;
            if close.is_some() || stop {
                break;
            }
        }
        let Some(client) = self
            .clients
            .get_mut(&id.serial)
            .filter(|c| c.handle == id.handle)
        else {
            result.consumed = input.len();
            return result;
        };
        if result.blocked && !client.blocked {
            self.stats.throttled += 1;
        }
        client.blocked = result.blocked;
        if let Some(reason) = close {
            result.consumed = input.len();
            self.close_client(id, reason);
        } else if wrote {
            self.mark_touched(id);
        }
        result
    }

    /// The answers waiting to be written to a client: write from the front
    /// and consume what was written, then report it with
    /// [`client_written`](Self::client_written).
    pub fn client_output(&mut self, id: ClientId) -> Option<&mut Buffer> {
        self.client_mut(id).map(|c| c.answers.out_mut())
    }

    /// Notes that `bytes` of a client's output were handed to its socket at
    /// `now` (counts as traffic for the idle timeout). `observe` gets, for
    /// every answer now written whole, the time from its request being
    /// complete to then.
    pub fn client_written(
        &mut self,
        id: ClientId,
        bytes: usize,
        now: Instant,
        observe: impl FnMut(Duration),
    ) {
        if let Some(client) = self.client_mut(id) {
            if bytes > 0 {
                client.last_active = now;
            }
            client.answers.written(bytes, now, observe);
        }
    }

    /// Whether a client is owed nothing: no answer pending or unwritten,
    /// and no request half received. A client that closed its side can then
    /// be closed.
    pub fn client_settled(&self, id: ClientId) -> bool {
        self.client(id).is_none_or(|c| {
            c.answers.owed() == 0 && c.answers.out().is_empty() && !c.front.in_request()
        })
    }

    /// Whether a client asked to close (QUIT): close it once it is
    /// [settled](Self::client_settled).
    pub fn client_quit(&self, id: ClientId) -> bool {
        self.client(id).is_some_and(|c| c.quit)
    }

    /// Whether a client has sent part of a request but not all of it.
    pub fn client_in_request(&self, id: ClientId) -> bool {
        self.client(id).is_some_and(|c| c.front.in_request())
    }

    /// Moves the clients that got answers since the last call into `into`
    /// (which is cleared first): their output needs writing. Ids of clients
    /// closed since may appear; skip them.
    pub fn take_touched(&mut self, into: &mut Vec<ClientId>) {
        into.clear();
        std::mem::swap(into, &mut self.touched);
        for id in into.iter() {
            if let Some(client) = self.clients.get_mut(&id.serial) {
                client.touched = false;
            }
        }
    }

    /// Whether clients wait in [`take_touched`](Self::take_touched).
    pub fn has_touched(&self) -> bool {
        !self.touched.is_empty()
    }

    // ---- upstream -------------------------------------------------------

    /// The connect asked for by [`Event::Connect`] succeeded: requests are
    /// sent from now on, starting with those queued meanwhile (after the
    /// extension's probe, when it is offered).
    pub fn upstream_connected(&mut self, link: LinkId, now: Instant) {
        let Some(l) = self.links.get_mut(link.0) else {
            return;
        };
        if let LinkState::Connecting { .. } = l.state {
            l.connected(now);
            self.stats.connects += 1;
        }
    }

    /// The connection failed, closed, or could not be made. Its operations
    /// go to the next replica or fail, and [`Event::Disconnect`] follows,
    /// so the driver has one place to drop the connection and log why.
    /// Ignored when already down.
    pub fn upstream_lost(&mut self, link: LinkId, loss: UpstreamLoss, now: Instant) {
        let down = self
            .links
            .get(link.0)
            .is_none_or(|l| matches!(l.state, LinkState::Down { .. }));
        if !down {
            self.lose_link(link, loss, now);
        }
    }

    /// Handles the answers at the start of `input`, the bytes the server
    /// sent that are not consumed yet, and returns how many bytes were used
    /// up. Anything wrong with them drops the connection
    /// ([`Event::Disconnect`]); input that arrives while not connected is
    /// discarded.
    pub fn upstream_input(&mut self, link: LinkId, input: &[u8], now: Instant) -> usize {
        self.upstream_input_timed(link, input, now, |_| {})
    }

    /// [`upstream_input`](Self::upstream_input), handing `observe` the
    /// wait of each operation answered: from being queued for the server
    /// to its answer read at `now` (the server's and the link's share of a
    /// client's wait).
    pub fn upstream_input_timed(
        &mut self,
        link: LinkId,
        input: &[u8],
        now: Instant,
        mut observe: impl FnMut(Duration),
    ) -> usize {
        if self
            .links
            .get(link.0)
            .is_none_or(|l| l.state != LinkState::Up)
        {
            return input.len();
        }
        let mut consumed = 0;
        loop {
            let read = self.links[link.0].read(&input[consumed..]);
            let (used, read) = match read {
                Ok(read) => read,
                Err(loss) => {
                    self.lose_link(link, loss, now);
                    return input.len();
                }
            };
            consumed += used;
            match read {
                Read::Nothing => break,
                Read::Answer(entry, reply) => {
                    observe(now.saturating_duration_since(entry.sent_at));
                    self.stats.answered += 1;
                    self.on_reply(link, entry, Some(reply), now);
                }
                Read::Negotiated(dialect) => {
                    self.events.push_back(Event::Negotiated(link, dialect));
                    self.send_held(link, now);
                }
            }
            if used == 0 {
                break;
            }
        }
        consumed
    }

    /// The requests waiting to be written to a server: write from the
    /// front and consume what was written. Only written while
    /// [`LinkState::Up`].
    pub fn upstream_output(&mut self, link: LinkId) -> Option<&mut Buffer> {
        self.links.get_mut(link.0).map(|l| &mut l.out)
    }

    /// The operations waiting for a backend thread, with their tags: the
    /// driver takes them all and hands them over.
    pub fn backend_queue(&mut self, link: LinkId) -> Option<&mut Vec<(u32, OpBuf)>> {
        self.links.get_mut(link.0).map(|l| &mut l.backend_out)
    }

    /// A backend thread's reply to the operation tagged `tag`: `None` when
    /// the backend failed it (down, timed out, refused).
    pub fn backend_reply(
        &mut self,
        link: LinkId,
        tag: u32,
        reply: Option<ReplyBuf>,
        now: Instant,
        observe: impl FnOnce(Duration),
    ) {
        let Some(l) = self.links.get_mut(link.0) else {
            return;
        };
        let Some(entry) = l.backend_reply(tag) else {
            return; // given up already
        };
        observe(now.saturating_duration_since(entry.sent_at));
        match reply {
            Some(reply) => {
                self.stats.answered += 1;
                self.on_reply(link, entry, Some(reply), now);
            }
            None => {
                l.stats.failures += 1;
                self.on_reply(link, entry, None, now);
            }
        }
    }

    // ---- time and events ------------------------------------------------

    /// The next action the driver should take.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether events wait in [`poll_event`](Self::poll_event).
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has something to
    /// do (`None`: not until something else happens).
    pub fn next_timeout(&self) -> Option<Instant> {
        let mut next = earliest(self.next_idle_scan, self.requests.next_deadline());
        for link in &self.links {
            next = earliest(next, self.link_timeout(link));
        }
        next
    }

    fn link_timeout(&self, link: &Link) -> Option<Instant> {
        match link.state {
            LinkState::Down { retry_at } => Some(retry_at),
            LinkState::Connecting { since, queueing } => {
                let queue =
                    (queueing && !link.flight.is_empty()).then(|| since + CONNECT_QUEUE_WAIT);
                let connect = self.config.timeout.map(|t| since + t);
                earliest(queue, connect)
            }
            LinkState::Up => match (self.stall_after(), link.flight.oldest()) {
                (Some(t), Some(oldest)) => Some(oldest + t),
                _ => None,
            },
        }
    }

    /// Does what is due at `now`: connect attempts, giving up on a slow
    /// connect or a stalled server, answering requests at their deadline,
    /// closing idle clients.
    pub fn handle_timeout(&mut self, now: Instant) {
        for index in 0..self.links.len() {
            self.link_due(LinkId(index), now);
        }
        for request in self.requests.due(now) {
            self.expire_request(request, now);
        }
        if self.next_idle_scan.is_some_and(|t| now >= t) {
            self.close_idle_clients(now);
        }
    }

    /// How long a server may leave its oldest operation unanswered before
    /// it is dropped as stalled: the upstream timeout shared among the
    /// replicas a read may have to try in turn, so that a read whose first
    /// replica stalls is still answered by the next within the timeout.
    fn stall_after(&self) -> Option<Duration> {
        let replicas = u32::try_from(self.config.replicas).unwrap_or(u32::MAX);
        self.config.timeout.map(|t| t / replicas.max(1))
    }

    fn link_due(&mut self, id: LinkId, now: Instant) {
        let timeout = self.config.timeout;
        let stall = self.stall_after();
        let link = &mut self.links[id.0];
        match link.state {
            LinkState::Down { retry_at } if now >= retry_at => {
                link.connecting(now);
                self.stats.connect_attempts += 1;
                self.events.push_back(Event::Connect(id));
            }
            LinkState::Down { .. } => {}
            LinkState::Connecting { since, queueing } => {
                if let Some(timeout) = timeout.filter(|&t| now >= since + t) {
                    self.lose_link(id, UpstreamLoss::ConnectTimeout(timeout), now);
                } else if queueing && now >= since + CONNECT_QUEUE_WAIT {
                    link.state = LinkState::Connecting {
                        since,
                        queueing: false,
                    };
                    link.out.clear();
                    let failed = link.take_all();
                    self.fail_entries(id, failed, now);
                }
            }
            LinkState::Up => {
                let Some(timeout) = stall else { return };
                let Some(oldest) = link.flight.oldest() else {
                    return;
                };
                if now < oldest + timeout {
                    return;
                }
                if link.kind == LinkKind::Backend {
                    // The thread answers for its own connection: give up
                    // on what is overdue, not on the link.
                    let mut overdue = Vec::new();
                    while link.flight.oldest().is_some_and(|t| now >= t + timeout) {
                        let Some(uid) = link.flight.uids().next() else {
                            break;
                        };
                        let Some(entry) = link.flight.take(uid) else {
                            break;
                        };
                        link.stats.failures += 1;
                        overdue.push(entry);
                    }
                    self.fail_entries(id, overdue, now);
                } else {
                    self.lose_link(id, UpstreamLoss::Stalled(timeout), now);
                }
            }
        }
    }

    // ---- internals ------------------------------------------------------

    fn current_info(&self) -> ServerInfo {
        ServerInfo {
            connections: self.clients.len() as u64,
            connections_total: self.stats.clients,
            connections_refused: self.stats.clients_refused,
            commands: self.stats.requests,
            ..self.info
        }
    }

    fn client(&self, id: ClientId) -> Option<&Client> {
        self.clients
            .get(&id.serial)
            .filter(|c| c.handle == id.handle)
    }

    fn client_mut(&mut self, id: ClientId) -> Option<&mut Client> {
        self.clients
            .get_mut(&id.serial)
            .filter(|c| c.handle == id.handle)
    }

    fn mark_touched(&mut self, id: ClientId) {
        if let Some(client) = self
            .clients
            .get_mut(&id.serial)
            .filter(|c| c.handle == id.handle)
        {
            if !client.touched {
                client.touched = true;
                self.touched.push(id);
            }
        }
    }

    /// Drops a client, and its requests never sent (those sent are
    /// answered by the servers and dropped then).
    fn forget_client(&mut self, id: ClientId) -> bool {
        let Some(client) = self.clients.remove(&id.serial) else {
            return false;
        };
        for request in client.held {
            self.requests.remove(request);
        }
        true
    }

    fn close_client(&mut self, id: ClientId, reason: ClientClose) {
        if !self.forget_client(id) {
            return;
        }
        match reason {
            ClientClose::Protocol(_) | ClientClose::Codec { .. } => self.stats.clients_corrupt += 1,
            ClientClose::NotReading { .. } => self.stats.clients_cut_off += 1,
            ClientClose::Idle(_) => self.stats.clients_idle += 1,
        }
        self.events.push_back(Event::CloseClient(id, reason));
    }

    fn lose_link(&mut self, id: LinkId, loss: UpstreamLoss, now: Instant) {
        let link = &mut self.links[id.0];
        if link.state == LinkState::Up {
            self.stats.losses += 1;
        }
        self.stats.gave_up[loss.reason() as usize] += 1;
        let failed = link.lost(now);
        self.events.push_back(Event::Disconnect(id, loss));
        self.fail_entries(id, failed, now);
    }

    /// Operations that failed on a link: each goes on to its next replica.
    fn fail_entries(&mut self, link: LinkId, entries: Vec<InFlight>, now: Instant) {
        for entry in entries {
            self.on_reply(link, entry, None, now);
        }
    }

    /// Sends the requests held for a link's probe, now that its dialect is
    /// known.
    fn send_held(&mut self, id: LinkId, now: Instant) {
        let held = self.links[id.0].take_held();
        let mut failed = Vec::new();
        for uid in held {
            let link = &mut self.links[id.0];
            let Some(entry) = link.flight.get_mut(uid) else {
                continue;
            };
            let op_ref = entry.op;
            let sent = match self
                .requests
                .get(op_ref.request())
                .and_then(|p| p.op(op_ref.index()))
            {
                Some(op) => link.send_held(uid, &op),
                // Its request was answered meanwhile: nothing to send, and
                // the uid is dropped below.
                None => Err(SendError::Unsupported),
            };
            match sent {
                Ok(expect) => {
                    if let Some(entry) = link.flight.get_mut(uid) {
                        entry.expect = expect;
                    }
                }
                Err(why) => {
                    if let Some(entry) = link.flight.take(uid) {
                        link.stats.failures += 1;
                        if self.requests.get(op_ref.request()).is_some() {
                            self.note_send_error(id, why, op_ref);
                            failed.push(entry);
                        }
                    }
                }
            }
        }
        self.fail_entries(id, failed, now);
    }

    fn note_send_error(&mut self, link: LinkId, why: SendError, op_ref: OpRef) {
        match why {
            SendError::Full => {
                self.stats.overloaded += 1;
                if self.events.back() != Some(&Event::UpstreamFull(link)) {
                    self.events.push_back(Event::UpstreamFull(link));
                }
            }
            SendError::Unsupported => {
                let kind = self
                    .requests
                    .get(op_ref.request())
                    .and_then(|p| p.op(op_ref.index()))
                    .map(|op| op.kind());
                if let Some(kind) = kind {
                    self.events.push_back(Event::Unsupported(link, kind));
                }
            }
        }
    }

    /// Starts a client's new request, or holds it behind an earlier one.
    ///
    /// With replicas, an ADD is settled only once every replica has
    /// answered, and where some refused it, it is deleted again where it
    /// was stored. A later request of the same client on that key, sent
    /// meanwhile, could read the data of the refused ADD from a replica
    /// not yet repaired; so it waits (and every later request of the
    /// client behind it, to keep their order) until the ADD is settled.
    /// Requests on other keys, and every request of a client that does not
    /// pipeline (a TLS server), never wait.
    fn admit_request(&mut self, id: ClientId, request: RequestRef, now: Instant) {
        let hold = self.config.replicas > 1
            && self.client(id).is_some_and(|c| {
                !c.held.is_empty() || self.blocked_by_add(&c.in_progress, request)
            });
        let Some(client) = self.client_mut(id) else {
            return;
        };
        if hold {
            client.held.push_back(request);
        } else {
            client.in_progress.push(request);
            self.start_request(request, now);
        }
    }

    /// Whether `request` touches a key that an ADD among `earlier` has not
    /// settled.
    fn blocked_by_add(&self, earlier: &[RequestRef], request: RequestRef) -> bool {
        let Some(new) = self.requests.get(request) else {
            return false;
        };
        earlier
            .iter()
            .filter_map(|&r| self.requests.get(r))
            .any(|old| {
                old.compose
                    .ops()
                    .iter()
                    .zip(&old.ops)
                    .filter(|(op, state)| {
                        state.reply.is_none()
                            && matches!(
                                op.op(),
                                Op::Store {
                                    mode: StoreMode::Add,
                                    ..
                                }
                            )
                    })
                    .any(|(op, _)| new.compose.ops().iter().any(|o| o.key() == op.key()))
            })
    }

    /// Starts the held requests of a client that are no longer blocked,
    /// in order, after an ADD of its was settled or a request answered.
    fn release_held(&mut self, id: ClientId, now: Instant) {
        loop {
            let Some(client) = self.client(id) else {
                return;
            };
            let Some(&front) = client.held.front() else {
                return;
            };
            let gone = self.requests.get(front).is_none();
            if !gone && self.blocked_by_add(&client.in_progress, front) {
                return;
            }
            let Some(client) = self.client_mut(id) else {
                return;
            };
            client.held.pop_front();
            if !gone {
                client.in_progress.push(front);
                self.start_request(front, now);
            }
        }
    }

    /// Sends every operation of a new request on its way.
    fn start_request(&mut self, request: RequestRef, now: Instant) {
        let n = self.requests.get(request).map_or(0, |p| p.ops.len());
        for index in 0..n {
            self.route(request.op(index), now);
        }
    }

    /// Sends an operation to the replicas that own its key now: the
    /// first `replicas` live servers after it on the ring that were not
    /// asked yet, all at once, reads as well as writes. Asking them together
    /// keeps each client's requests in its order on every replica (a read
    /// sent to the second replica only after the first missed could see a
    /// write the client sent after it) and lets a dead replica cost no
    /// wait. When none is left to ask, the operation is settled with what
    /// is known.
    fn route(&mut self, op_ref: OpRef, now: Instant) {
        let replicas = self.config.replicas;
        let Some((op, state)) = self.requests.op_mut(op_ref) else {
            return;
        };
        if state.reply.is_some() {
            return;
        }
        let links = &mut self.links;
        let tried = state.tried;
        // In ring order, without allocating: at most MAX_SERVERS owners.
        let mut next = [0u8; MAX_SERVERS];
        let mut count = 0;
        for owner in self
            .ring
            .owners(op.key(), links.len(), |i| links[i].usable())
            .filter(|&i| tried & (1u64 << i) == 0)
            .take(replicas)
        {
            next[count] = owner as u8;
            count += 1;
        }
        let mut errors = Vec::new();
        for &owner in &next[..count] {
            let owner = usize::from(owner);
            state.tried |= 1u64 << owner;
            let link = &mut links[owner];
            match link.send(&op) {
                Ok((uid, expect)) => {
                    link.flight.insert(uid, op_ref, expect, now);
                    state.waiting |= 1u64 << owner;
                    self.stats.forwarded += 1;
                }
                Err(why) => {
                    link.stats.failures += 1;
                    errors.push((LinkId(owner), why));
                }
            }
        }
        let settled = state.waiting == 0;
        for (link, why) in errors {
            self.note_send_error(link, why, op_ref);
        }
        if settled {
            self.settle_op(op_ref, now);
        }
    }

    /// Settles an operation that has no replica left to hear from: with
    /// what a replica said, a miss if one said so, else a failure.
    fn settle_op(&mut self, op_ref: OpRef, now: Instant) {
        let Some(state) = self
            .requests
            .get_mut(op_ref.request())
            .and_then(|p| p.ops.get_mut(op_ref.index()))
        else {
            return;
        };
        let reply = match state.best.take() {
            Some(reply) => reply,
            None if state.misses > 0 => ReplyBuf::new(&Reply::NotFound),
            None => ReplyBuf::unavailable(),
        };
        self.finish_op(op_ref, reply, now);
    }

    /// A server's reply to one operation (`None`: it failed there).
    ///
    /// The first reply that settles the operation answers it (a hit; a
    /// write's, see [`settles_write`]). Others are held until every
    /// replica asked has answered. If none could answer (all failed), the
    /// next live servers on the ring are asked: they own the key while
    /// these are away. Once a replica has answered, the operation is not
    /// sent further: a write it acknowledged is not copied to servers that
    /// may then miss the client's later writes to that key.
    fn on_reply(&mut self, link: LinkId, entry: InFlight, reply: Option<ReplyBuf>, now: Instant) {
        let op_ref = entry.op;
        // None: the request was answered already (by another replica, or
        // at its deadline), or this was a repair.
        let Some((op, state)) = self.requests.op_mut(op_ref) else {
            return;
        };
        state.waiting &= !(1u64 << link.0);
        if state.reply.is_some() {
            return;
        }
        let ring = &self.ring;
        // Whether a replica before `link` on the ring is still to answer:
        // its word comes first (a stand-in that took over while it was
        // away may hold newer data only where it is missing).
        let earlier_waiting = |link: usize, waiting: u64| {
            ring.owners(op.key(), MAX_SERVERS, |_| true)
                .take_while(|&i| i != link)
                .any(|i| waiting & (1u64 << i) != 0)
        };
        if let Some(reply) = reply.filter(|r| r.reply() != Reply::Unavailable) {
            let answer = reply.reply();
            if is_write(op.kind()) {
                if settles_write(&op, &answer) {
                    self.finish_op(op_ref, reply, now);
                    return;
                }
                state.answered = state.answered.saturating_add(1);
                let add = matches!(
                    op,
                    Op::Store {
                        mode: StoreMode::Add,
                        ..
                    }
                );
                if add && answer == Reply::Stored {
                    state.stored_on |= 1u64 << link.0;
                }
                let better = match (&state.best, answer) {
                    (None, _) => true,
                    // An ADD refused anywhere was refused: the id is taken.
                    (Some(_), Reply::NotStored) => add,
                    _ => false,
                };
                if better {
                    state.best = Some(reply);
                }
            } else if answer == Reply::NotFound {
                state.answered = state.answered.saturating_add(1);
                state.misses = state.misses.saturating_add(1);
            } else {
                // A hit: the first replica's in ring order among those
                // that hit.
                let first = match &state.hit {
                    Some((held, _)) => !earlier_waiting(link.0, 1u64 << *held),
                    None => true,
                };
                if first {
                    state.hit = Some((link.0, reply));
                }
            }
        }
        if let Some((held, _)) = &state.hit {
            if !earlier_waiting(*held, state.waiting) {
                if let Some((_, hit)) = state.hit.take() {
                    self.finish_op(op_ref, hit, now);
                }
                return;
            }
        }
        if state.waiting != 0 {
            return;
        }
        if state.answered > 0 {
            self.settle_op(op_ref, now);
        } else {
            self.route(op_ref, now);
        }
    }

    /// An ADD refused by one replica but stored by others leaves those
    /// holding data under an id that was already taken: it is deleted
    /// there again, so that every replica answers for the first data.
    fn repair_add(&mut self, op_ref: OpRef, now: Instant) {
        let Some(pending) = self.requests.get(op_ref.request()) else {
            return;
        };
        let Some(state) = pending.ops.get(op_ref.index()) else {
            return;
        };
        let refused = state
            .reply
            .as_ref()
            .is_some_and(|r| r.reply() == Reply::NotStored);
        let Some(op) = pending.op(op_ref.index()) else {
            return;
        };
        if !refused || state.stored_on == 0 {
            return;
        }
        let delete = Op::Delete { key: op.key() };
        for (index, link) in self.links.iter_mut().enumerate() {
            if state.stored_on & (1u64 << index) == 0 || !link.usable() {
                continue;
            }
            if let Ok((uid, expect)) = link.send(&delete) {
                // Its reply finds no request and is dropped.
                link.flight.insert(uid, OpRef::detached(), expect, now);
                self.stats.repairs += 1;
            }
        }
    }

    /// Settles one operation's reply; answers the client once every
    /// operation of its request is settled.
    fn finish_op(&mut self, op_ref: OpRef, reply: ReplyBuf, now: Instant) {
        let request = op_ref.request();
        let Some(pending) = self.requests.get_mut(request) else {
            return;
        };
        let Some(state) = pending.ops.get_mut(op_ref.index()) else {
            return;
        };
        if state.reply.is_some() {
            return;
        }
        state.reply = Some(reply);
        let repair = state.stored_on != 0;
        let add = pending.op(op_ref.index()).is_some_and(|op| {
            matches!(
                op,
                Op::Store {
                    mode: StoreMode::Add,
                    ..
                }
            )
        });
        let client = pending.client;
        pending.open -= 1;
        let done = pending.open == 0;
        if repair {
            self.repair_add(op_ref, now);
        }
        if done {
            self.answer(request);
        }
        if add || done {
            self.release_held(client, now);
        }
    }

    /// Answers a request whose deadline came: every operation not settled
    /// gets what is known (a miss if a replica said so, else a failure).
    fn expire_request(&mut self, request: RequestRef, now: Instant) {
        let Some(pending) = self.requests.get(request) else {
            return;
        };
        let open: Vec<usize> = pending
            .ops
            .iter()
            .enumerate()
            .filter(|(_, s)| s.reply.is_none())
            .map(|(i, _)| i)
            .collect();
        for index in open {
            self.settle_op(request.op(index), now);
        }
    }

    /// Composes a finished request's answer into its client's slot.
    fn answer(&mut self, request: RequestRef) {
        let Some(pending) = self.requests.remove(request) else {
            return;
        };
        let replies: Vec<ReplyBuf> = pending
            .ops
            .into_iter()
            .map(|s| s.reply.unwrap_or_else(ReplyBuf::unavailable))
            .collect();
        if replies.iter().any(|r| r.reply() == Reply::Unavailable) {
            self.stats.disconnected += 1;
        }
        if let Compose::Distcache { operation, .. } = &pending.compose {
            let outcome = match replies.first().map(ReplyBuf::reply) {
                Some(Reply::Unavailable) | None => Outcome::Disconnected,
                Some(reply) => dc_protocol::ops::write_answer(&reply, |payload| {
                    Outcome::of_answer(*operation, payload)
                }),
            };
            self.stats.count(*operation, outcome);
        }
        let id = pending.client;
        let Some(client) = self
            .clients
            .get_mut(&id.serial)
            .filter(|c| c.handle == id.handle)
        else {
            self.stats.late_answers += 1;
            return;
        };
        client.in_progress.retain(|&r| r != request);
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        client.front.compose(&pending.compose, &replies, &mut out);
        let filled = client.answers.fill(pending.seq, &out);
        self.scratch = out;
        match filled {
            Ok(()) => self.mark_touched(id),
            Err(_) => {
                let reason = not_reading(&client.answers);
                self.forget_client(id);
                self.stats.clients_cut_off += 1;
                self.events.push_back(Event::CloseClient(id, reason));
            }
        }
    }

    fn close_idle_clients(&mut self, now: Instant) {
        let Some(idle) = self.config.idle else {
            self.next_idle_scan = None;
            return;
        };
        let mut next: Option<Instant> = None;
        let mut expired = Vec::new();
        for (&serial, client) in &self.clients {
            if client.answers.owed() > 0 {
                // A request is in progress; the upstream timeout covers it.
                // Look again a little later.
                next = earliest(next, Some(now + (idle / 4).max(Duration::from_millis(1))));
                continue;
            }
            let due = client.last_active + idle;
            if now >= due {
                expired.push(ClientId {
                    handle: client.handle,
                    serial,
                });
            } else {
                next = earliest(next, Some(due));
            }
        }
        self.next_idle_scan = next;
        for id in expired {
            self.close_client(id, ClientClose::Idle(idle));
        }
    }
}

/// Whether an operation changes what is stored (and so goes to every
/// replica).
fn is_write(kind: OpKind) -> bool {
    !matches!(kind, OpKind::Get | OpKind::Exists | OpKind::Ttl)
}

/// Whether one replica's reply to a write is the answer, whatever the
/// others say. A write is acknowledged by the first replica whose reply
/// settles it: a SET stored, a DELETE or TOUCH that found the key. A reply
/// that another replica could contradict waits for the rest: a DELETE or
/// TOUCH that found nothing (another replica may hold the key), a REPLACE
/// that found nothing, and every ADD (refused anywhere means the id is
/// taken).
fn settles_write(op: &Op<'_>, reply: &Reply<'_>) -> bool {
    let contradictable = match op {
        Op::Store { mode, .. } => {
            *mode == StoreMode::Add || *mode == StoreMode::Replace && *reply == Reply::NotStored
        }
        Op::Delete { .. } | Op::Touch { .. } => *reply == Reply::NotFound,
        _ => false,
    };
    !contradictable
}

fn not_reading(answers: &Answers) -> ClientClose {
    ClientClose::NotReading {
        pending: answers.out().len(),
        cap: CLIENT_OUTPUT_CAP,
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
