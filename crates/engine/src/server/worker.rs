//! One worker: an event loop serving its share of the connections. The
//! first worker (the one with a [`Front`]) also accepts connections, takes
//! the signals, purges expired sessions and prints the activity line.

use std::io::{self, ErrorKind, Write};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use dc_store::Millis;
use log::{debug, info, warn};
use nal::{is_out_of_descriptors, Connection, IdleList, Listener, Rank, Selector, Stream};
use nal::{Interest, SpareDescriptor, Token};
use signal_hook::consts::signal::{SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;

use dc_metrics::RateLimitedLog;

use super::hub::{eviction_rank, Arrival, Hub, Retirement, WAKER};
use super::{
    io_err, ServerError, Shutdown, INPUT_CAP, LIMIT_LOG_INTERVAL, MAX_LISTENERS, SHUTDOWN_GRACE,
    TICK,
};
use crate::dispatch::{Dispatcher, StoreAccess};
use crate::execute::Executor;
use crate::metrics::{Refusal, ServerMetrics};
use crate::session::{FrontDoor, Session};
use crate::stats::ProgressLine;

use super::MAX_ANSWER;

// A request must fit the input buffer whole to be parsed: the codecs
// refuse (and skip) longer ones before that.
const _: () = assert!(dc_resp::request::MAX_REQUEST_LEN < INPUT_CAP);
const _: () = assert!(dc_resp::request::MAX_HEADER_LEN < INPUT_CAP);
const _: () = assert!(dc_memcache::text::MAX_GET_LINE_LEN < INPUT_CAP);
const _: () = assert!(dc_memcache::text::MAX_LINE_LEN < INPUT_CAP);

const SIGNALS: Token = Token(usize::MAX - 2);
/// Listener `i` has token `LISTENERS + i`, below the waker's and the
/// signals' tokens and far above any connection's.
const LISTENERS: usize = usize::MAX - 4 - MAX_LISTENERS;

/// A connected client.
#[derive(Debug)]
struct Client {
    conn: Connection,
    session: Session,
    /// The listener's protocol.
    door: FrontDoor,
    /// The client asked to close: send what is owed, read nothing more.
    closing: bool,
    peer: String,
    /// When it last sent anything (for the idle timeout).
    last_heard: Instant,
    /// It has sent something (for the order of closing idle connections).
    heard: bool,
}

impl Client {
    /// Whether anything is in flight: part of a request buffered (or whole
    /// ones held back), an answer unsent, a TLS handshake the peer has
    /// started or TLS records unsent, or a QUIT being carried out. Such a
    /// connection is never closed to make room.
    fn busy(&self) -> bool {
        let tls = match self.conn.stream() {
            Stream::Tls(tls) => tls.wants_write() || (self.heard && tls.is_handshaking()),
            _ => false,
        };
        tls || self.closing
            || self.conn.wants_write()
            || !self.conn.input().is_empty()
            || self.session.in_request()
    }

    fn rank(&self) -> Rank {
        if self.heard {
            Rank::Spoken
        } else {
            Rank::Silent
        }
    }
}

/// The warnings about limits, each rate-limited.
struct LimitLogs {
    connections: RateLimitedLog,
    accept: RateLimitedLog,
    idle: RateLimitedLog,
    protocol: RateLimitedLog,
    tls: RateLimitedLog,
    throttled: RateLimitedLog,
}

impl LimitLogs {
    fn new() -> LimitLogs {
        LimitLogs {
            connections: RateLimitedLog::new(LIMIT_LOG_INTERVAL),
            accept: RateLimitedLog::new(LIMIT_LOG_INTERVAL),
            idle: RateLimitedLog::new(LIMIT_LOG_INTERVAL),
            protocol: RateLimitedLog::new(LIMIT_LOG_INTERVAL),
            tls: RateLimitedLog::new(LIMIT_LOG_INTERVAL),
            throttled: RateLimitedLog::new(LIMIT_LOG_INTERVAL),
        }
    }
}

/// What only the first worker has: the listener, the signals, and the
/// server-wide chores.
pub(super) struct Front {
    /// Each listener and the protocol it speaks; listener `i` has token
    /// `LISTENERS + i`.
    listeners: Vec<(Listener, FrontDoor)>,
    signals: Signals,
    /// An accept failed for want of resources: retry on the next tick.
    accept_pending: bool,
    /// Given up when out of descriptors, to accept what is pending.
    spare: SpareDescriptor,
    progress: ProgressState,
}

impl Front {
    /// Registers the listeners and the stop signals with the first
    /// worker's selector.
    pub(super) fn new(
        mut listeners: Vec<(Listener, FrontDoor)>,
        selector: &Selector,
    ) -> Result<Front, ServerError> {
        for (i, (listener, _)) in listeners.iter_mut().enumerate() {
            selector
                .register(listener, Token(LISTENERS + i), Interest::READABLE)
                .map_err(io_err("registering a listener"))?;
        }
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGUSR1, SIGUSR2])
            .map_err(io_err("installing signal handlers"))?;
        selector
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .map_err(io_err("registering signal handlers"))?;
        Ok(Front {
            listeners,
            signals,
            accept_pending: false,
            spare: SpareDescriptor::new(),
            progress: ProgressState::new(),
        })
    }
}

/// One event loop and the connections it serves.
pub(super) struct Worker<S> {
    index: usize,
    selector: Selector,
    front: Option<Front>,
    clients: Slab<Client>,
    /// The clients with nothing in flight, in the order to close them when
    /// the table is full.
    idle: IdleList,
    /// What was last published of `idle` to the hub: how many, and the
    /// first one's rank.
    idle_published: (usize, u64),
    dispatcher: Dispatcher<S>,
    hub: Arc<Hub>,
    scratch: Vec<u8>,
    /// The last poll's events (token, and whether the peer hung up), kept
    /// to reuse the allocation.
    ready: Vec<(Token, bool)>,
    /// Connections handed over by the first worker, being taken in.
    arrivals: Vec<Arrival>,
    metrics: ServerMetrics,
    logs: LimitLogs,
}

impl<S: StoreAccess> Worker<S> {
    pub(super) fn new(
        index: usize,
        selector: Selector,
        front: Option<Front>,
        executor: Executor<S>,
        hub: &Arc<Hub>,
        metrics: ServerMetrics,
    ) -> Worker<S> {
        Worker {
            index,
            selector,
            front,
            clients: Slab::new(),
            idle: IdleList::new(),
            idle_published: (0, 0),
            dispatcher: Dispatcher::with_executor(executor),
            hub: Arc::clone(hub),
            scratch: Vec::new(),
            ready: Vec::new(),
            arrivals: Vec::new(),
            metrics,
            logs: LimitLogs::new(),
        }
    }

    pub(super) fn index(&self) -> usize {
        self.index
    }

    /// The store this worker serves (for the snapshot, before and after
    /// serving).
    pub(super) fn store(&self) -> &S {
        self.dispatcher.executor_ref().store()
    }

    /// The store, to fill from a snapshot before serving.
    pub(super) fn store_mut(&mut self) -> &mut S {
        self.dispatcher.executor().store_mut()
    }

    /// Serves until a stop signal arrives (first worker) or the first
    /// worker asks it to stop (the others).
    pub(super) fn run(&mut self) -> Result<Shutdown, ServerError> {
        let hub = Arc::clone(&self.hub);
        let _retire = Retirement {
            hub: &hub,
            index: self.index,
        };
        let mut next_tick = Instant::now() + TICK;
        loop {
            let timeout = next_tick.saturating_duration_since(Instant::now());
            self.selector
                .poll(Some(timeout))
                .map_err(io_err("waiting for events"))?;
            let now = self.now();
            self.dispatcher.executor().set_clock(now, unix_ms());
            let woke = Instant::now();
            // Collected first: handling an event needs `self` mutably.
            let mut ready = std::mem::take(&mut self.ready);
            ready.clear();
            ready.extend(
                self.selector
                    .events()
                    .iter()
                    .map(|e| (e.token(), e.is_read_closed() || e.is_error())),
            );
            let mut stop = None;
            for &(token, hangup) in &ready {
                match token {
                    Token(t) if (LISTENERS..LISTENERS + MAX_LISTENERS).contains(&t) => {
                        self.accept_all(t - LISTENERS)
                    }
                    SIGNALS => stop = stop.or(self.take_signals()),
                    WAKER => {
                        if self.front.is_none() && self.hub.stopping(self.index) {
                            // The first worker stopped on a signal.
                            stop = Some(Shutdown::Signal(0));
                        }
                        self.take_arrivals();
                    }
                    Token(key) => {
                        if hangup {
                            if let Some(client) = self.clients.get_mut(key) {
                                client.conn.note_hangup();
                            }
                        }
                        self.drive(key, now, woke)
                    }
                }
            }
            self.ready = ready;
            if let Some(shutdown) = stop {
                self.shutdown();
                return Ok(shutdown);
            }
            if Instant::now() >= next_tick {
                next_tick = Instant::now() + TICK;
                self.tick(now);
            }
        }
    }

    /// What `INFO` and `stats` report beyond the store: server-wide
    /// figures, as last published by every worker.
    fn facts(&self) -> dc_ops::ServerInfo {
        let (hits, misses) = self.metrics.get_outcomes();
        dc_ops::ServerInfo {
            pid: std::process::id(),
            uptime_secs: self.hub.started.elapsed().as_secs(),
            connections: self.hub.open_total() as u64,
            connections_total: self.metrics.connections_accepted.get(),
            connections_refused: self.metrics.refused_total(),
            commands: self.metrics.requests_total(),
            hits,
            misses,
            stores: self.metrics.stores_total(),
            max_bytes: self.hub.config.limits.max_bytes as u64,
            threads: u32::try_from(self.hub.config.threads.clamp(1, super::MAX_THREADS))
                .unwrap_or(1),
            ..dc_ops::ServerInfo::default()
        }
    }

    fn now(&self) -> Millis {
        Millis::try_from(self.hub.started.elapsed().as_millis()).unwrap_or(Millis::MAX)
    }

    /// Accepts every connection waiting on listener `index`.
    fn accept_all(&mut self, index: usize) {
        loop {
            let Some(front) = self.front.as_mut() else {
                return;
            };
            let Some((listener, door)) = front.listeners.get_mut(index) else {
                return;
            };
            let door = *door;
            let stream = match listener.accept() {
                Ok(Some(stream)) => stream,
                Ok(None) => return,
                Err(e) => {
                    self.metrics.accept_errors.inc();
                    let address = &self.hub.local_addresses[index];
                    self.logs.accept.warn(Instant::now(), || {
                        format!("accept on {address} failed: {e}")
                    });
                    if is_out_of_descriptors(&e) && front.spare.release() {
                        // The spare's slot takes the pending connection: it
                        // is served if an idle one can make room, refused
                        // at once otherwise, and the spare taken back.
                        let accepted = listener.accept();
                        match accepted {
                            Ok(Some(stream)) => {
                                let room = if self.evict_first_here() {
                                    Room::Free
                                } else {
                                    Room::OutOfDescriptors
                                };
                                self.admit(stream, door, room);
                                self.restore_spare();
                                continue;
                            }
                            Ok(None) => {
                                self.restore_spare();
                                return;
                            }
                            Err(_) => {}
                        }
                    }
                    // EMFILE and friends with no spare to give: the
                    // connection stays in the backlog. Retrying now would
                    // spin, and with edge triggering no new event may come:
                    // retry on the tick.
                    if let Some(front) = self.front.as_mut() {
                        front.accept_pending = true;
                    }
                    return;
                }
            };
            let room = if self.hub.open_total() >= self.hub.config.connections.max_connections {
                Room::AtLimit
            } else {
                Room::Free
            };
            self.admit(stream, door, room);
        }
    }

    /// Serves a connection just accepted, here or on the least busy worker;
    /// if there is no `room`, only by closing the server-wide first idle
    /// connection (here, or on the worker that has it), and otherwise it is
    /// refused.
    fn admit(&mut self, stream: Stream, door: FrontDoor, room: Room) {
        let max_connections = self.hub.config.connections.max_connections;
        let mut evict_at = None;
        if room != Room::Free {
            let mine = self.idle.first().map(|c| self.rank_of(c));
            match self.hub.first_idle(self.index, mine) {
                Some(worker) if worker == self.index => {
                    self.evict_first_here();
                }
                Some(worker) => {
                    self.hub.claim_idle(worker);
                    evict_at = Some(worker);
                }
                None => {
                    // Accept and close at once: left in the backlog it
                    // would wait there, and the client with it.
                    self.metrics.refused(Refusal::Limit);
                    let peer = stream.peer_description();
                    self.logs.connections.warn(Instant::now(), || {
                        let why = match room {
                            Room::OutOfDescriptors => "out of file descriptors".to_string(),
                            _ => format!("connection limit ({max_connections}) reached"),
                        };
                        format!("{why} and every connection busy: refusing {peer}")
                    });
                    return;
                }
            }
        }
        self.metrics.connections_accepted.inc();
        // TLS on IP listeners; a unix socket is protected by its mode.
        let tls = match stream {
            Stream::Unix(_) => None,
            _ => self.hub.config.tls.as_ref(),
        };
        let stream = match tls {
            Some(tls) => match stream.into_tls_server(Arc::clone(tls)) {
                Ok(s) => s,
                Err(e) => {
                    warn!("cannot start TLS: {e}");
                    return;
                }
            },
            None => stream,
        };
        let to = evict_at.unwrap_or_else(|| self.hub.least_busy(self.index));
        let arrival = Arrival {
            stream,
            door,
            evict: evict_at.is_some(),
        };
        let arrival = if to == self.index {
            arrival
        } else {
            match self.hub.hand_over(to, arrival) {
                Ok(()) => return,
                // That worker is gone: room must be made here.
                Err(arrival) if arrival.evict && !self.evict_first_here() => {
                    self.metrics.refused(Refusal::Limit);
                    return;
                }
                Err(arrival) => arrival,
            }
        };
        self.hub.opened(self.index);
        self.add_client(arrival);
    }

    /// Takes the spare descriptor back after giving it up, or, if the
    /// process is still out of descriptors, leaves that to the next tick.
    fn restore_spare(&mut self) {
        if let Some(front) = self.front.as_mut() {
            if !front.spare.restore() {
                debug!("cannot take the spare descriptor back yet");
            }
        }
    }

    /// The server-wide place of this worker's idle connection `c` in the
    /// order of closing.
    fn rank_of(&self, c: nal::Candidate) -> u64 {
        let since = c.since.saturating_duration_since(self.hub.started);
        eviction_rank(c.rank, u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }

    /// Closes this worker's first idle connection to make room for a new
    /// one. Returns whether there was one.
    fn evict_first_here(&mut self) -> bool {
        let Some(first) = self.idle.pop_first() else {
            return false;
        };
        if let Some(client) = self.clients.get(first.key) {
            let peer = client.peer.clone();
            let idle_ms = first.since.elapsed().as_millis();
            let silent = match first.rank {
                Rank::Silent => ", having sent nothing",
                Rank::Spoken => "",
            };
            let max = self.hub.config.connections.max_connections;
            let mut log = self
                .hub
                .evictions_log
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            log.warn(Instant::now(), || {
                format!(
                    "connection table full ({max}): closing connection {} from {peer}, idle for \
                     {idle_ms} ms{silent}, to make room for a new one",
                    first.key
                )
            });
        }
        self.metrics.evicted.inc();
        self.close(first.key);
        true
    }

    /// Publishes to the hub what changed of this worker's idle
    /// connections, so that the accepting worker can find the first one to
    /// close server-wide.
    fn publish_idle(&mut self) {
        let first = self.idle.first().map_or(0, |c| self.rank_of(c));
        let now = (self.idle.len(), first);
        if now != self.idle_published {
            self.idle_published = now;
            self.hub.publish_idle(self.index, now.0, now.1);
        }
    }

    /// Puts client `key` on the idle list, or takes it off, by whether it
    /// has anything in flight after what just happened on it.
    fn note_activity(&mut self, key: usize, now: Instant) {
        match self.clients.get(key) {
            Some(client) if !client.busy() => self.idle.touch(key, client.rank(), now),
            _ => {
                self.idle.remove(key);
            }
        }
        self.publish_idle();
    }

    /// Takes in the connections the first worker handed over, making room
    /// first for those that came to a full table.
    fn take_arrivals(&mut self) {
        let mut arrivals = std::mem::take(&mut self.arrivals);
        self.hub.take_streams(self.index, &mut arrivals);
        let max_connections = self.hub.config.connections.max_connections;
        for arrival in arrivals.drain(..) {
            // Counted already, so the table is over the limit by it unless
            // a connection closed meanwhile.
            if arrival.evict && self.hub.open_total() > max_connections && !self.evict_first_here()
            {
                // What this worker showed as idle went busy meanwhile.
                self.metrics.refused(Refusal::Limit);
                let peer = arrival.stream.peer_description();
                self.logs.connections.warn(Instant::now(), || {
                    format!(
                        "connection limit ({max_connections}) reached and every connection busy: \
                         refusing {peer}"
                    )
                });
                self.hub.closed(self.index);
                continue;
            }
            self.add_client(arrival);
        }
        self.arrivals = arrivals;
    }

    /// Starts serving `stream`, already counted as this worker's.
    fn add_client(&mut self, Arrival { stream, door, .. }: Arrival) {
        let peer = stream.peer_description();
        let entry = self.clients.vacant_entry();
        let key = entry.key();
        let limits = self.hub.config.connections;
        let mut client = Client {
            conn: Connection::new(stream, INPUT_CAP, limits.max_buffer + MAX_ANSWER),
            session: Session::new(door, &self.hub.config.redis),
            door,
            closing: false,
            peer,
            last_heard: Instant::now(),
            heard: false,
        };
        // Both interests, once: with edge triggering, a writable event only
        // comes when the socket's send buffer frees up, so this costs
        // nothing and saves a reregister per answer that does not fit.
        if let Err(e) = self.selector.register(
            &mut client.conn,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            warn!("cannot watch the connection from {}: {e}", client.peer);
            self.hub.closed(self.index);
            return;
        }
        debug!(
            "connection {key} from {} (worker {})",
            client.peer, self.index
        );
        entry.insert(client);
        self.note_activity(key, Instant::now());
        // Not driven now: a fresh connection has rarely sent anything yet,
        // so a read here would mostly hear EAGAIN. Bytes that did arrive
        // are not missed: registering a ready socket with epoll queues an
        // event for it (ep_insert), edge-triggered or not.
    }

    /// Moves one connection forward as far as it can go without blocking.
    /// `woke` is when the loop woke for it (request latencies count from
    /// there).
    fn drive(&mut self, key: usize, now: Millis, woke: Instant) {
        let Some(client) = self.clients.get_mut(key) else {
            return; // a spurious event for a closed connection
        };
        let high_water = self.hub.config.connections.max_buffer;
        let result = step(
            client,
            &mut self.dispatcher,
            &mut self.scratch,
            now,
            Reading::On,
            high_water,
        );
        let progress = match &result {
            Ok((_, p)) | Err((_, p)) => *p,
        };
        if progress.answered > 0 {
            let seconds = woke.elapsed().as_secs_f64();
            for _ in 0..progress.answered {
                self.metrics.request_seconds.observe(seconds);
            }
        }
        if progress.heard {
            client.last_heard = Instant::now();
            client.heard = true;
        }
        if progress.throttled {
            self.metrics.throttled.inc();
            let peer = client.peer.clone();
            self.logs.throttled.warn(Instant::now(), || {
                format!("{peer} is not reading its answers: holding back its requests ({high_water} bytes buffered)")
            });
        }
        match result {
            Ok((Step::Open, _)) => self.note_activity(key, Instant::now()),
            Ok((Step::Done, _)) => {
                debug!("connection {key} from {} closed", client.peer);
                self.close(key);
            }
            Err((reason, _)) => {
                match &reason {
                    Closed::Protocol(e) => {
                        self.metrics.refused(Refusal::Protocol);
                        let peer = client.peer.clone();
                        self.logs.protocol.warn(Instant::now(), || {
                            format!("closing connection {key} from {peer}: {e}")
                        });
                    }
                    // A failed handshake (a plaintext peer, a certificate
                    // from another CA, none at all) is worth a warning.
                    Closed::Io(e) if e.kind() == ErrorKind::InvalidData => {
                        self.metrics.refused(Refusal::Tls);
                        let peer = client.peer.clone();
                        self.logs.tls.warn(Instant::now(), || {
                            format!("closing connection {key} from {peer}: {e}")
                        });
                    }
                    Closed::Io(e) => debug!("connection {key} from {} failed: {e}", client.peer),
                    Closed::MidFrame => info!(
                        "connection {key} from {} closed in the middle of a request",
                        client.peer
                    ),
                }
                self.close(key);
            }
        }
    }

    fn close(&mut self, key: usize) {
        if self.clients.contains(key) {
            let mut client = self.clients.remove(key);
            let _ = self.selector.deregister(&mut client.conn);
            self.hub.closed(self.index);
            if self.idle.remove(key) {
                self.publish_idle();
            }
        }
    }

    /// Returns the reason to stop, if a signal asks for it.
    fn take_signals(&mut self) -> Option<Shutdown> {
        let front = self.front.as_mut()?;
        let killable = self.hub.config.killable;
        let mut stop = None;
        for signal in front.signals.pending() {
            match signal {
                SIGINT | SIGTERM => stop = Some(Shutdown::Signal(signal)),
                SIGUSR1 | SIGUSR2 if killable => stop = Some(Shutdown::Signal(signal)),
                other => info!("ignoring signal {other} (start with -killable to stop on it)"),
            }
        }
        stop
    }

    /// Stops accepting and reading, then gives every connection up to
    /// [`SHUTDOWN_GRACE`] to be answered every whole request it has sent
    /// (including ones held back by back-pressure) and to take the answers;
    /// then drops them all.
    fn shutdown(&mut self) {
        if let Some(front) = self.front.as_mut() {
            for (listener, _) in &mut front.listeners {
                let _ = self.selector.deregister(listener);
            }
            // The other workers drain their connections alongside.
            self.hub.stop_all();
            self.metrics.publish_ops(self.dispatcher.stats());
            info!(
                "shutting down: {} connections, {} sessions, {} operations",
                self.hub.open_total(),
                self.dispatcher.store().len(),
                self.metrics.requests_total(),
            );
        }
        debug!(
            "worker {} stopping: {} connections, {} operations served",
            self.index,
            self.clients.len(),
            self.dispatcher.executor_ref().stats().requests_total()
        );
        // Connections handed over but not yet taken in are owed nothing.
        self.take_arrivals();
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        let high_water = self.hub.config.connections.max_buffer;
        let mut keys: Vec<usize> = Vec::new();
        loop {
            let now = self.now();
            keys.clear();
            keys.extend(self.clients.iter().map(|(key, _)| key));
            for &key in &keys {
                let Some(client) = self.clients.get_mut(key) else {
                    continue;
                };
                let owed = matches!(
                    step(
                        client,
                        &mut self.dispatcher,
                        &mut self.scratch,
                        now,
                        Reading::Stopped,
                        high_water,
                    ),
                    Ok((Step::Open, _))
                ) && !client.conn.output().is_empty();
                if !owed {
                    self.close(key);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if self.clients.is_empty() || left.is_zero() {
                break;
            }
            if self.selector.poll(Some(left)).is_err() {
                break;
            }
        }
        if !self.clients.is_empty() {
            warn!(
                "{} connections did not take their answers within {SHUTDOWN_GRACE:?}",
                self.clients.len()
            );
        }
        let keys: Vec<usize> = self.clients.iter().map(|(key, _)| key).collect();
        for key in keys {
            self.close(key);
        }
    }

    fn tick(&mut self, now: Millis) {
        // Handed-over connections whose wake-up was lost.
        self.take_arrivals();
        if let Some(idle) = self.hub.config.connections.idle_timeout {
            self.close_idle(idle);
        }
        self.metrics.publish_ops(self.dispatcher.stats());
        self.metrics
            .publish_exec(self.dispatcher.executor_ref().stats());
        let facts = self.facts();
        self.dispatcher.executor().set_facts(facts);
        // The rest is server-wide: the first worker does it for all.
        let retry = self.front.as_mut().filter(|f| f.accept_pending).map(|f| {
            f.accept_pending = false;
            f.spare.restore();
            f.listeners.len()
        });
        for index in 0..retry.unwrap_or(0) {
            self.accept_all(index);
        }
        let every = self.hub.config.progress;
        let Some(front) = self.front.as_mut() else {
            return;
        };
        let expired = self.dispatcher.expire(now);
        if expired > 0 {
            debug!("{expired} sessions expired");
        }
        let store = self.dispatcher.store().stats();
        let connections = self.hub.open_total();
        self.metrics.publish_store(&store, connections);
        // Every worker's counts, as last published (this one's just now).
        let operations = self.metrics.requests_total();
        if let Some(line) = front
            .progress
            .due(operations, store.sessions, every, Instant::now())
        {
            let (hits, misses) = self.metrics.get_outcomes();
            info!(
                "{line}, connections = {}, get hits = {}, misses = {}, evictions = {}, expirations = {}{}",
                connections,
                hits,
                misses,
                store.evictions,
                store.expirations,
                self.metrics.by_protocol(),
            );
        }
    }

    fn close_idle(&mut self, idle: Duration) {
        let now = Instant::now();
        // Only distcache clients: Apache's and ProFTPD's RESP and memcache
        // connections are pooled for hours and break when closed under
        // them (CONSUMERS.md §1, §3a).
        let quiet: Vec<usize> = self
            .clients
            .iter()
            .filter(|(_, c)| c.door == FrontDoor::Distcache)
            .filter(|(_, c)| now.duration_since(c.last_heard) >= idle)
            .map(|(key, _)| key)
            .collect();
        for key in quiet {
            if let Some(client) = self.clients.get(key) {
                let peer = client.peer.clone();
                self.logs.idle.warn(now, || {
                    format!("closing connection {key} from {peer}: idle for {idle:?}")
                });
            }
            self.metrics.refused(Refusal::Idle);
            self.close(key);
        }
    }
}

/// The wall clock, in milliseconds since the Unix epoch (for lifetimes
/// given as an absolute time; expiry itself runs on the monotonic clock).
pub(super) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Whether a newcomer fits without closing another connection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Room {
    Free,
    /// `max_connections` are open.
    AtLimit,
    /// Accepted with the spare descriptor: none is left.
    OutOfDescriptors,
}

/// Whether to read more requests from the connection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    On,
    /// Shutting down: only answer what was already received.
    Stopped,
}

/// Whether the connection stays.
enum Step {
    Open,
    Done,
}

/// Why a connection was closed early.
enum Closed {
    Protocol(crate::session::SessionError),
    Io(io::Error),
    MidFrame,
}

/// What one [`step`] did, whatever its outcome (for metrics and limits).
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    /// Requests answered.
    answered: usize,
    /// Bytes arrived from the client.
    heard: bool,
    /// Serving stopped at the high-water mark with requests still waiting.
    throttled: bool,
}

fn step<S: StoreAccess>(
    client: &mut Client,
    dispatcher: &mut Dispatcher<S>,
    scratch: &mut Vec<u8>,
    now: Millis,
    reading: Reading,
    high_water: usize,
) -> Result<(Step, Progress), (Closed, Progress)> {
    let mut progress = Progress::default();
    let reading = if client.closing {
        Reading::Stopped
    } else {
        reading
    };
    loop {
        let fill = match reading {
            Reading::On => match client.conn.fill() {
                Ok(fill) => fill,
                Err(e) => return Err((Closed::Io(e), progress)),
            },
            Reading::Stopped => nal::Fill::default(),
        };
        progress.heard |= fill.bytes > 0;

        // Answer every whole request buffered, up to the high-water mark.
        let room = high_water.saturating_sub(client.conn.output().len());
        scratch.clear();
        let served = if room > 0 && !client.closing {
            let result = client.session.serve(
                dispatcher,
                client.conn.input().as_slice(),
                now,
                scratch,
                room,
            );
            match result {
                Ok(served) => {
                    client.conn.input_mut().consume(served.consumed);
                    progress.answered += served.requests;
                    client.closing |= served.close;
                    Some(served)
                }
                Err(e) => {
                    // Answers to the requests before the bad one are still
                    // owed; send what the socket takes now, then close.
                    let _ = send(client, scratch);
                    let _ = client.conn.flush();
                    return Err((Closed::Protocol(e), progress));
                }
            }
        } else {
            None
        };
        if let Err(e) = send(client, scratch) {
            return Err((Closed::Io(e), progress));
        }
        let flushed = match client.conn.flush() {
            Ok(flushed) => flushed,
            Err(e) => return Err((Closed::Io(e), progress)),
        };

        if client.closing {
            // QUIT: close once every answer is out (what came after it is
            // never read).
            return Ok((if flushed { Step::Done } else { Step::Open }, progress));
        }
        let pending = !client.conn.input().is_empty();
        // Requests wait in the input that serving stopped short of (output at
        // the high-water mark) and the output has now drained: serve them.
        if flushed && pending && served.is_none_or(|s| s.blocked) {
            continue;
        }
        // Reading stopped on a full input buffer and this pass made room:
        // more may wait in the socket, and no new event will say so.
        if fill.full && served.is_some_and(|s| s.consumed > 0) {
            continue;
        }
        progress.throttled = !flushed && pending && served.is_none_or(|s| s.blocked);
        if fill.eof && flushed {
            // The peer is done sending and has every answer it is owed.
            return if pending || client.session.in_request() {
                Err((Closed::MidFrame, progress))
            } else {
                Ok((Step::Done, progress))
            };
        }
        return Ok((Step::Open, progress));
    }
}

/// Writes `answers` to the socket, straight from the scratch buffer when
/// nothing older is waiting, and queues what the socket does not take.
fn send(client: &mut Client, answers: &[u8]) -> io::Result<()> {
    let mut rest = answers;
    if client.conn.output().is_empty() {
        while !rest.is_empty() {
            match client.conn.stream_mut().write(rest) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
    client
        .conn
        .send(rest)
        .map_err(|full| io::Error::new(ErrorKind::OutOfMemory, full.to_string()))
}

/// When to print the activity line.
#[derive(Debug)]
struct ProgressState {
    operations: u64,
    sessions: usize,
    printed_at: Option<Instant>,
}

impl ProgressState {
    fn new() -> ProgressState {
        ProgressState {
            operations: 0,
            sessions: 0,
            printed_at: None,
        }
    }

    /// The original prints when the operation count crosses a multiple of
    /// `every` (if set), and at most once a second when the number of
    /// sessions changed.
    fn due(
        &mut self,
        operations: u64,
        sessions: usize,
        every: u64,
        now: Instant,
    ) -> Option<ProgressLine> {
        let crossed = every > 0 && operations / every != self.operations / every;
        let changed = sessions != self.sessions
            && self
                .printed_at
                .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1));
        if !crossed && !changed {
            return None;
        }
        let line = ProgressLine {
            operations,
            operations_delta: operations - self.operations,
            sessions,
            previous_sessions: self.sessions,
        };
        self.operations = operations;
        self.sessions = sessions;
        self.printed_at = Some(now);
        Some(line)
    }
}
