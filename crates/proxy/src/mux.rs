//! The multiplexer, sans-IO: which local client asked what, which upstream
//! request_uid answers whom, and what to answer when the cache server is
//! not there.
//!
//! ```text
//!  local clients                 Mux                          cache server
//!  ------------                  ---                          ------------
//!  A: GET uid 0xabcdef02 --> slot A#0 --> uid 1 ----------->  GET uid 1
//!  B: HAVE uid 0x55      --> slot B#0 --> uid 2 ----------->  HAVE uid 2
//!  B  <-- HAVE uid 0x55   <-- slot B#0 <-- uid 2 <-----------  answer uid 2
//!  A  <-- GET uid 0xabcdef02 <-- A#0  <-- uid 1 <-----------  answer uid 1
//! ```
//!
//! It owns no socket and reads no clock. The driver feeds it what each
//! client sent ([`Mux::client_input`]), what the server sent
//! ([`Mux::upstream_input`]), how the upstream connection is doing
//! ([`Mux::upstream_connected`], [`Mux::upstream_lost`]) and the time
//! ([`Mux::handle_timeout`] at [`Mux::next_timeout`]). It writes the bytes
//! for each side into buffers the driver drains to the sockets
//! ([`Mux::client_output`], [`Mux::upstream_output`]), lists the clients
//! with new answers ([`Mux::take_touched`]) and asks for actions through
//! [`Event`]s: connect, drop the upstream connection, close a client.
//!
//! The rules:
//!
//! * Only whole requests go upstream, each re-encoded under a fresh uid, so
//!   a client that stops half-way through a frame holds up nobody.
//! * Requests are validated first. A refused ADD is answered here with the
//!   status the server would give; an ADD too short for its header (which
//!   would make the server drop the shared connection) is answered with
//!   DISCONNECTED (`0x02`) and not forwarded.
//! * Each client gets its answers in its own request order, under its own
//!   uids, however the server orders them.
//! * While there is no usable upstream connection every request is answered
//!   at once with DISCONNECTED; when the connection is lost, so is every
//!   request in flight. A client that leaves with requests in flight is
//!   forgotten; the late answers are dropped.
//! * A server that answers an unknown uid or the wrong operation, sends
//!   garbage, or leaves a request unanswered for the upstream timeout is
//!   dropped. Connect attempts are at least `retry` apart.
//! * Buffers are capped: a client that pipelines faster than it reads is
//!   no longer read, and one whose unread answers pass the output cap is cut
//!   off.

mod answers;
mod flight;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use dc_protocol::{
    encoded_len, CommandHeader, Decoder, Kind, Operation, Request, RequestError, Status,
};
use nal::Buffer;

use crate::backoff::Backoff;
use crate::error::{AtCapacity, ClientClose, UpstreamLoss};
pub use crate::stats::{Outcome, Stats};
use answers::Answers;
use flight::Flight;

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

/// Requests one client may have waiting for answers. Beyond it, its further
/// requests are left unread until answers go out.
pub const CLIENT_PIPELINE_MAX: usize = 32;
/// Unread answers beyond which a client's further requests are left unread.
pub const CLIENT_OUTPUT_HIGH_WATER: usize = 64 * 1024;
/// Unread answers beyond which a client is cut off. A TLS server waits for
/// each answer before its next request and never comes near this.
pub const CLIENT_OUTPUT_CAP: usize = 256 * 1024;
/// Bytes of requests waiting to be written to the server. A request that
/// does not fit is answered with DISCONNECTED: the server is not keeping
/// up, and waiting would only stall the client.
pub const UPSTREAM_OUTPUT_CAP: usize = 4 << 20;
/// How long requests wait for a connect in progress. If the connect takes
/// longer they are answered with DISCONNECTED and later ones get it at once,
/// so a server behind a black hole costs callers at most this. On a LAN a
/// connect takes well under a millisecond, so requests that arrive just as
/// `dc_client` starts or reconnects are served rather than refused.
pub const CONNECT_QUEUE_WAIT: Duration = Duration::from_millis(50);

/// The multiplexer's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MuxConfig {
    /// Longest pause between connect attempts, which back off to it
    /// ([`crate::backoff`]).
    pub retry: Duration,
    /// Upstream timeout: the longest a request may wait for the server's
    /// answer, and a connect for completion. `None`: no limit.
    pub timeout: Option<Duration>,
    /// Close clients that have no request in progress and no traffic for
    /// this long. `None`: never.
    pub idle: Option<Duration>,
    /// Most local clients at once.
    pub max_clients: usize,
    /// The first upstream request_uid (the original starts at 1).
    pub first_uid: u32,
}

impl Default for MuxConfig {
    fn default() -> MuxConfig {
        MuxConfig {
            retry: DEFAULT_RETRY,
            timeout: Some(DEFAULT_TIMEOUT),
            idle: None,
            max_clients: DEFAULT_MAX_CLIENTS,
            first_uid: 1,
        }
    }
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
    /// Start connecting to the server, then report the outcome with
    /// [`Mux::upstream_connected`] or [`Mux::upstream_lost`].
    Connect,
    /// Close the upstream connection (or abandon the connect): it is gone
    /// or no longer trusted. Every request it carried has been answered
    /// with DISCONNECTED.
    Disconnect(UpstreamLoss),
    /// Close this client's connection; the multiplexer has forgotten it.
    CloseClient(ClientId, ClientClose),
    /// A client sent a request the server would have dropped the connection
    /// for; it was answered with DISCONNECTED and not forwarded. For the
    /// log only: the client may be closed by the time this is polled (for a
    /// protocol error further on in the same input).
    Malformed(ClientId, RequestError),
    /// Requests were answered with DISCONNECTED because the queue to the
    /// server was full ([`UPSTREAM_OUTPUT_CAP`]): the server is not keeping
    /// up. Reported once per batch of client input, for the log.
    UpstreamFull,
}

/// Where the upstream connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamState {
    /// No connection; the next attempt is due at the given time.
    Down {
        /// When the next connect attempt is due.
        retry_at: Instant,
    },
    /// A connect is in progress.
    Connecting {
        /// When it started.
        since: Instant,
        /// Requests are still queued for it (for [`CONNECT_QUEUE_WAIT`]).
        queueing: bool,
    },
    /// Connected: requests are forwarded.
    Up,
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
    decoder: Decoder,
    answers: Answers,
    last_active: Instant,
    /// Listed in `touched` already.
    touched: bool,
    /// The last [`Mux::client_input`] stopped reading it (for counting
    /// each throttling once).
    blocked: bool,
}

/// The upstream connection's state.
#[derive(Debug)]
struct Upstream {
    state: UpstreamState,
    decoder: Decoder,
    out: Buffer,
    flight: Flight,
    backoff: Backoff,
}

/// The multiplexer; see the module documentation.
#[derive(Debug)]
pub struct Mux {
    config: MuxConfig,
    clients: HashMap<u64, Client>,
    next_serial: u64,
    upstream: Upstream,
    events: VecDeque<Event>,
    touched: Vec<ClientId>,
    next_idle_scan: Option<Instant>,
    stats: Stats,
}

impl Mux {
    /// A multiplexer with no clients and no upstream connection; the first
    /// [`handle_timeout`](Self::handle_timeout) asks for a connect.
    pub fn new(config: MuxConfig, now: Instant) -> Mux {
        Mux {
            config,
            clients: HashMap::new(),
            next_serial: 0,
            upstream: Upstream {
                state: UpstreamState::Down { retry_at: now },
                decoder: Decoder::new(Kind::Response),
                out: Buffer::new(UPSTREAM_OUTPUT_CAP),
                flight: Flight::new(config.first_uid),
                backoff: Backoff::new(config.retry, now),
            },
            events: VecDeque::new(),
            touched: Vec::new(),
            next_idle_scan: None,
            stats: Stats::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &MuxConfig {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Where the upstream connection stands.
    pub fn upstream_state(&self) -> UpstreamState {
        self.upstream.state
    }

    /// Requests waiting for the server's answer.
    pub fn in_flight(&self) -> usize {
        self.upstream.flight.len()
    }

    /// Local clients connected.
    pub fn clients(&self) -> usize {
        self.clients.len()
    }

    // ---- local clients --------------------------------------------------

    /// Registers a new local client. `handle` is the driver's key for its
    /// connection, given back by [`ClientId::handle`]. At
    /// [`MuxConfig::max_clients`] it is refused: the driver makes room
    /// first, if it can, with [`evict_client`](Self::evict_client).
    pub fn add_client(&mut self, handle: usize, now: Instant) -> Result<ClientId, AtCapacity> {
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
                decoder: Decoder::new(Kind::Request),
                answers: Answers::new(CLIENT_OUTPUT_CAP),
                last_active: now,
                touched: false,
                blocked: false,
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
            self.clients.remove(&id.serial);
        }
    }

    /// Closes a client that has nothing in flight to make room for a new one
    /// at [`MuxConfig::max_clients`] (the driver chose it). Returns whether
    /// it was closed: a client owed something is kept.
    pub fn evict_client(&mut self, id: ClientId) -> bool {
        if self.client(id).is_none() || !self.client_settled(id) {
            return false;
        }
        self.clients.remove(&id.serial);
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
    /// Forwards them, or answers them at once; a partial request at the end
    /// stays in the input (whole frames of it are absorbed). On a protocol
    /// error the client is closed ([`Event::CloseClient`]) and everything is
    /// reported consumed.
    pub fn client_input(&mut self, id: ClientId, input: &[u8], now: Instant) -> ClientInput {
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
        let mut result = ClientInput::default();
        let mut close = None;
        let out_before = client.answers.out().len();
        loop {
            if client.answers.owed() >= CLIENT_PIPELINE_MAX
                || client.answers.out().len() >= CLIENT_OUTPUT_HIGH_WATER
            {
                result.blocked = true;
                break;
            }
            let decoded = match client.decoder.decode(&input[result.consumed..]) {
                Ok(decoded) => decoded,
                Err(e) => {
                    close = Some(ClientClose::Protocol(e));
                    break;
                }
            };
            result.consumed += decoded.consumed;
            let Some(command) = decoded.command else {
                break;
            };
            self.stats.requests += 1;
            let routed = route(
                &mut client.answers,
                &mut self.upstream,
                &mut self.stats,
                &mut self.events,
                id,
                command.request_uid,
                command.operation,
                command.payload,
                now,
            );
            if routed.is_err() {
                close = Some(not_reading(&client.answers));
                break;
            }
        }
        if result.blocked && !client.blocked {
            self.stats.throttled += 1;
        }
        client.blocked = result.blocked;
        let wrote = client.answers.out().len() != out_before;
        if let Some(reason) = close {
            result.consumed = input.len();
            self.close_client(id, reason);
        } else if wrote {
            mark_touched(client, id, &mut self.touched);
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
            c.answers.owed() == 0 && c.answers.out().is_empty() && !c.decoder.in_command()
        })
    }

    /// Whether a client has sent some frames of a request but not its last.
    pub fn client_in_request(&self, id: ClientId) -> bool {
        self.client(id).is_some_and(|c| c.decoder.in_command())
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
    /// forwarded from now on, starting with those queued meanwhile.
    pub fn upstream_connected(&mut self, now: Instant) {
        if let UpstreamState::Connecting { .. } = self.upstream.state {
            self.upstream.state = UpstreamState::Up;
            self.upstream.backoff.connected(now);
            self.stats.connects += 1;
        }
    }

    /// The upstream connection failed, closed, or could not be made. Every
    /// request in flight is answered with DISCONNECTED and
    /// [`Event::Disconnect`] follows, so the driver has one place to drop
    /// the connection and log why. Ignored when already down.
    pub fn upstream_lost(&mut self, loss: UpstreamLoss, now: Instant) {
        if !matches!(self.upstream.state, UpstreamState::Down { .. }) {
            self.lose_upstream(loss, now);
        }
    }

    /// Handles the answers at the start of `input`, the bytes the server
    /// sent that are not consumed yet, and returns how many bytes were used
    /// up. Anything wrong with them drops the connection
    /// ([`Event::Disconnect`]); input that arrives while not connected is
    /// discarded.
    pub fn upstream_input(&mut self, input: &[u8], now: Instant) -> usize {
        self.upstream_input_timed(input, now, |_| {})
    }

    /// [`upstream_input`](Self::upstream_input), handing `observe` the
    /// wait of each request answered: from being queued for the server to
    /// its answer read at `now` (the server's and the link's share of a
    /// client's wait).
    pub fn upstream_input_timed(
        &mut self,
        input: &[u8],
        now: Instant,
        mut observe: impl FnMut(Duration),
    ) -> usize {
        if self.upstream.state != UpstreamState::Up {
            return input.len();
        }
        let mut consumed = 0;
        let mut loss = None;
        loop {
            let decoded = match self.upstream.decoder.decode(&input[consumed..]) {
                Ok(decoded) => decoded,
                Err(e) => {
                    loss = Some(UpstreamLoss::Protocol(e));
                    break;
                }
            };
            consumed += decoded.consumed;
            let Some(command) = decoded.command else {
                break;
            };
            let uid = command.request_uid;
            let Some(entry) = self.upstream.flight.take(uid) else {
                loss = Some(UpstreamLoss::UnknownUid(uid));
                break;
            };
            if entry.operation != command.operation {
                loss = Some(UpstreamLoss::WrongOperation {
                    uid,
                    expected: entry.operation,
                    found: command.operation,
                });
                // It is still owed an answer: DISCONNECTED, with the rest.
                self.upstream.flight.restore(uid, entry);
                break;
            }
            self.stats.answered += 1;
            observe(now.saturating_duration_since(entry.sent_at));
            self.stats.count(
                entry.operation,
                Outcome::of_answer(entry.operation, command.payload),
            );
            deliver(
                &mut self.clients,
                &mut self.touched,
                &mut self.events,
                &mut self.stats,
                entry.client,
                entry.seq,
                command.payload,
            );
        }
        if let Some(loss) = loss {
            self.lose_upstream(loss, now);
            return input.len();
        }
        consumed
    }

    /// The requests waiting to be written to the server: write from the
    /// front and consume what was written. Only written while
    /// [`UpstreamState::Up`].
    pub fn upstream_output(&mut self) -> &mut Buffer {
        &mut self.upstream.out
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
        let upstream = match self.upstream.state {
            UpstreamState::Down { retry_at } => Some(retry_at),
            UpstreamState::Connecting { since, queueing } => {
                let queue = (queueing && !self.upstream.flight.is_empty())
                    .then(|| since + CONNECT_QUEUE_WAIT);
                let connect = self.config.timeout.map(|t| since + t);
                earliest(queue, connect)
            }
            UpstreamState::Up => match (self.config.timeout, self.upstream.flight.oldest()) {
                (Some(t), Some(oldest)) => Some(oldest + t),
                _ => None,
            },
        };
        earliest(upstream, self.next_idle_scan)
    }

    /// Does what is due at `now`: a connect attempt, giving up on a slow
    /// connect or a stalled server, closing idle clients.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.upstream.state {
            UpstreamState::Down { retry_at } if now >= retry_at => {
                self.upstream.state = UpstreamState::Connecting {
                    since: now,
                    queueing: true,
                };
                self.upstream.backoff.attempt(now);
                self.upstream.decoder.reset();
                self.stats.connect_attempts += 1;
                self.events.push_back(Event::Connect);
            }
            UpstreamState::Down { .. } => {}
            UpstreamState::Connecting { since, queueing } => {
                if let Some(timeout) = self.config.timeout.filter(|&t| now >= since + t) {
                    self.lose_upstream(UpstreamLoss::ConnectTimeout(timeout), now);
                } else if queueing && now >= since + CONNECT_QUEUE_WAIT {
                    self.upstream.state = UpstreamState::Connecting {
                        since,
                        queueing: false,
                    };
                    self.upstream.out.clear();
                    self.answer_in_flight_disconnected();
                }
            }
            UpstreamState::Up => {
                if let (Some(timeout), Some(oldest)) =
                    (self.config.timeout, self.upstream.flight.oldest())
                {
                    if now >= oldest + timeout {
                        self.lose_upstream(UpstreamLoss::Stalled(timeout), now);
                    }
                }
            }
        }
        if self.next_idle_scan.is_some_and(|t| now >= t) {
            self.close_idle_clients(now);
        }
    }

    // ---- internals ------------------------------------------------------

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

    fn close_client(&mut self, id: ClientId, reason: ClientClose) {
        if self.clients.remove(&id.serial).is_none() {
            return;
        }
        match reason {
            ClientClose::Protocol(_) => self.stats.clients_corrupt += 1,
            ClientClose::NotReading { .. } => self.stats.clients_cut_off += 1,
            ClientClose::Idle(_) => self.stats.clients_idle += 1,
        }
        self.events.push_back(Event::CloseClient(id, reason));
    }

    fn lose_upstream(&mut self, loss: UpstreamLoss, now: Instant) {
        if self.upstream.state == UpstreamState::Up {
            self.stats.losses += 1;
        }
        self.stats.gave_up[loss.reason() as usize] += 1;
        let retry_at = self.upstream.backoff.lost(now);
        self.upstream.state = UpstreamState::Down { retry_at };
        self.upstream.out.clear();
        self.upstream.decoder.reset();
        self.answer_in_flight_disconnected();
        self.events.push_back(Event::Disconnect(loss));
    }

    fn answer_in_flight_disconnected(&mut self) {
        for entry in self.upstream.flight.drain() {
            self.stats.disconnected += 1;
            self.stats.count(entry.operation, Outcome::Disconnected);
            deliver(
                &mut self.clients,
                &mut self.touched,
                &mut self.events,
                &mut self.stats,
                entry.client,
                entry.seq,
                &[Status::Disconnected.code()],
            );
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

/// Forwards one whole request or answers it here.
#[allow(clippy::too_many_arguments)]
fn route(
    answers: &mut Answers,
    upstream: &mut Upstream,
    stats: &mut Stats,
    events: &mut VecDeque<Event>,
    id: ClientId,
    client_uid: u32,
    operation: Operation,
    payload: &[u8],
    now: Instant,
) -> Result<(), nal::BufferFull> {
    const DISCONNECTED: [u8; 1] = [Status::Disconnected as u8];
    match Request::parse(operation, payload) {
        Ok(_) => {}
        Err(RequestError::Refused(status)) => {
            stats.refused += 1;
            stats.count(operation, Outcome::Refused);
            return answers.answer_now(client_uid, operation, &[status.code()], now);
        }
        Err(error @ RequestError::AddTooShort { .. }) => {
            stats.malformed += 1;
            stats.count(operation, Outcome::Refused);
            events.push_back(Event::Malformed(id, error));
            return answers.answer_now(client_uid, operation, &DISCONNECTED, now);
        }
    }
    let forwarding = matches!(
        upstream.state,
        UpstreamState::Up | UpstreamState::Connecting { queueing: true, .. }
    );
    if !forwarding {
        stats.disconnected += 1;
        stats.count(operation, Outcome::Disconnected);
        return answers.answer_now(client_uid, operation, &DISCONNECTED, now);
    }
    let uid = upstream.flight.allocate_uid();
    let header = CommandHeader::request(uid, operation);
    let queued = upstream.out.extend_with(encoded_len(payload.len()), |v| {
        let _ = dc_protocol::encode(v, header, payload);
    });
    if queued.is_err() {
        stats.overloaded += 1;
        stats.disconnected += 1;
        stats.count(operation, Outcome::Disconnected);
        if !matches!(events.back(), Some(Event::UpstreamFull)) {
            events.push_back(Event::UpstreamFull);
        }
        return answers.answer_now(client_uid, operation, &DISCONNECTED, now);
    }
    let seq = answers.open(client_uid, operation, now);
    upstream.flight.insert(uid, id, seq, operation, now);
    stats.forwarded += 1;
    Ok(())
}

/// Gives an answer to the client slot waiting for it, if the client is
/// still there; cuts the client off if it has stopped reading.
fn deliver(
    clients: &mut HashMap<u64, Client>,
    touched: &mut Vec<ClientId>,
    events: &mut VecDeque<Event>,
    stats: &mut Stats,
    id: ClientId,
    seq: u64,
    payload: &[u8],
) {
    let Some(client) = clients
        .get_mut(&id.serial)
        .filter(|c| c.handle == id.handle)
    else {
        stats.late_answers += 1;
        return;
    };
    match client.answers.fill(seq, payload) {
        Ok(()) => mark_touched(client, id, touched),
        Err(_) => {
            let reason = not_reading(&client.answers);
            clients.remove(&id.serial);
            stats.clients_cut_off += 1;
            events.push_back(Event::CloseClient(id, reason));
        }
    }
}

fn mark_touched(client: &mut Client, id: ClientId, touched: &mut Vec<ClientId>) {
    if !client.touched {
        client.touched = true;
        touched.push(id);
    }
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
