//! The event loop that serves clients over real sockets.
//!
//! One thread, one [`Selector`]. Readiness is edge-triggered, so each
//! connection is driven until it would block in both directions: read what
//! has arrived, answer every whole request, write the answers. Answers are
//! built in one scratch buffer shared by all connections and written
//! straight from it; only what the socket does not take at once is copied
//! into the connection's capped output buffer.
//!
//! A connection whose peer stops reading is throttled, not dropped: once
//! [`ConnectionLimits::max_buffer`] bytes of answers wait for it, its
//! requests are left unread until the peer catches up. A connection that
//! breaks the protocol is closed alone, after the answers to its earlier
//! requests are sent. Connections beyond [`ConnectionLimits::max_connections`]
//! are closed as soon as they are accepted, and an accept that fails for
//! want of file descriptors is retried on the next tick, not spun on. Each
//! limit, when hit, is counted in the metrics and logged at most once per
//! [`LIMIT_LOG_INTERVAL`].

use std::io::{self, ErrorKind, Write};
use std::time::{Duration, Instant};

use dc_store::{Limits, MemoryStore, Millis, SessionStore};
use log::{debug, info, warn};
use nal::{Address, Connection, Listener, NalError, Selector, Stream};
use nal::{Interest, Token};
use signal_hook::consts::signal::{SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;
use thiserror::Error;

use dc_metrics::RateLimitedLog;

use crate::dispatch::Dispatcher;
use crate::metrics::{Refusal, ServerMetrics};
use crate::session::ClientSession;
use crate::stats::ProgressLine;

/// Bytes of received data buffered per connection: several whole frames,
/// so one read syscall can bring in a burst of pipelined requests.
pub const INPUT_CAP: usize = 64 * 1024;
/// Default answers waiting for a slow reader beyond which its requests are
/// no longer served until it reads some.
pub const DEFAULT_MAX_BUFFER: usize = 256 * 1024;
/// Default most client connections served at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// The largest single answer (16 full frames): a connection's output buffer
/// holds its high-water mark plus this, since one answer may start just
/// below the mark.
const MAX_ANSWER: usize = dc_protocol::MAX_PAYLOAD + 16 * dc_protocol::HEADER_LEN;
/// Shortest time between two log lines about the same limit being hit.
pub const LIMIT_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Longest the loop sleeps without events: the period of expiry purges and
/// of the activity line checks.
pub const TICK: Duration = Duration::from_millis(500);

/// Longest a stopping server waits for clients to read the answers they are
/// owed.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

const LISTENER: Token = Token(usize::MAX - 1);
const SIGNALS: Token = Token(usize::MAX - 2);

/// Limits on client connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections served at once; more are closed at accept.
    pub max_connections: usize,
    /// Answers a connection may leave unread before its further requests are
    /// held back (at least one largest answer is always allowed).
    pub max_buffer: usize,
    /// Close connections that have sent nothing for this long (`None`:
    /// never; the default, since persistent clients such as dc_client and
    /// the original client library may idle for hours, and the original
    /// library does not recover from a closed connection).
    pub idle_timeout: Option<Duration>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_buffer: DEFAULT_MAX_BUFFER,
            idle_timeout: None,
        }
    }
}

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Limits on client connections.
    pub connections: ConnectionLimits,
    /// Where to listen.
    pub listen: Address,
    /// Capacity of the session store.
    pub limits: Limits,
    /// Print the activity line whenever the operation count crosses a
    /// multiple of this (0: only the once-a-second line when the number of
    /// sessions changed, as the original).
    pub progress: u64,
    /// SIGUSR1 and SIGUSR2 stop the server (otherwise they are ignored).
    pub killable: bool,
    /// Serve TLS only, with this configuration (which should require
    /// client certificates); `None`: plain TCP, as the original.
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
}

/// Why the server could not start or had to stop.
#[derive(Debug, Error)]
pub enum ServerError {
    /// The listening address could not be bound.
    #[error(transparent)]
    Listen(#[from] NalError),
    /// The event loop failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The underlying error.
        source: io::Error,
    },
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> ServerError {
    move |source| ServerError::Io { what, source }
}

/// Why [`Server::run`] returned normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Stopped by this signal (SIGINT, SIGTERM, or SIGUSR1/2 with `killable`).
    Signal(i32),
}

/// A connected client.
#[derive(Debug)]
struct Client {
    conn: Connection,
    session: ClientSession,
    peer: String,
    /// When it last sent anything (for the idle timeout).
    last_heard: Instant,
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

/// The distcache server: a listener, its clients and the session store.
pub struct Server {
    selector: Selector,
    listener: Listener,
    signals: Signals,
    clients: Slab<Client>,
    dispatcher: Dispatcher<MemoryStore>,
    config: ServerConfig,
    started: Instant,
    scratch: Vec<u8>,
    /// Tokens of the last poll's events, kept to reuse its allocation.
    ready: Vec<Token>,
    progress: ProgressState,
    metrics: ServerMetrics,
    logs: LimitLogs,
    /// An accept failed for want of resources: retry on the next tick.
    accept_pending: bool,
}

impl Server {
    /// Binds the listening socket and sets up signal handling; serving
    /// starts with [`run`](Self::run). Binding first lets a caller drop
    /// privileges in between.
    pub fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        let mut listener = Listener::bind(&config.listen)?;
        let selector = Selector::new(1024).map_err(io_err("creating the event loop"))?;
        selector
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(io_err("registering the listener"))?;
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGUSR1, SIGUSR2])
            .map_err(io_err("installing signal handlers"))?;
        selector
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .map_err(io_err("registering signal handlers"))?;
        let dispatcher = Dispatcher::new(MemoryStore::new(config.limits));
        Ok(Server {
            selector,
            listener,
            signals,
            clients: Slab::new(),
            dispatcher,
            config,
            started: Instant::now(),
            scratch: Vec::new(),
            ready: Vec::new(),
            progress: ProgressState::new(),
            metrics: ServerMetrics::new(),
            logs: LimitLogs {
                connections: RateLimitedLog::new(LIMIT_LOG_INTERVAL),
                accept: RateLimitedLog::new(LIMIT_LOG_INTERVAL),
                idle: RateLimitedLog::new(LIMIT_LOG_INTERVAL),
                protocol: RateLimitedLog::new(LIMIT_LOG_INTERVAL),
                tls: RateLimitedLog::new(LIMIT_LOG_INTERVAL),
                throttled: RateLimitedLog::new(LIMIT_LOG_INTERVAL),
            },
            accept_pending: false,
        })
    }

    /// The address actually listened on (with the real port after a bind to
    /// port 0).
    pub fn local_address(&self) -> Address {
        self.listener.local_address()
    }

    /// The metrics registry, for an HTTP exporter.
    pub fn metrics_registry(&self) -> std::sync::Arc<dc_metrics::Registry> {
        self.metrics.registry()
    }

    /// Serves until a stop signal arrives.
    pub fn run(&mut self) -> Result<Shutdown, ServerError> {
        info!(
            "listening on {}, up to {} sessions and {} bytes of session data",
            self.local_address(),
            self.config.limits.max_sessions,
            self.config.limits.max_bytes
        );
        let mut next_tick = Instant::now() + TICK;
        loop {
            let timeout = next_tick.saturating_duration_since(Instant::now());
            self.selector
                .poll(Some(timeout))
                .map_err(io_err("waiting for events"))?;
            let now = self.now();
            let woke = Instant::now();
            // Collected first: handling an event needs `self` mutably.
            let mut ready = std::mem::take(&mut self.ready);
            ready.clear();
            ready.extend(self.selector.events().iter().map(|e| e.token()));
            for &token in &ready {
                match token {
                    LISTENER => self.accept_all(now),
                    SIGNALS => {
                        if let Some(shutdown) = self.take_signals() {
                            self.shutdown();
                            return Ok(shutdown);
                        }
                    }
                    Token(key) => self.drive(key, now, woke),
                }
            }
            self.ready = ready;
            if Instant::now() >= next_tick {
                next_tick = Instant::now() + TICK;
                self.tick(now);
            }
        }
    }

    fn now(&self) -> Millis {
        Millis::try_from(self.started.elapsed().as_millis()).unwrap_or(Millis::MAX)
    }

    fn accept_all(&mut self, now: Millis) {
        self.accept_pending = false;
        loop {
            match self.listener.accept() {
                Ok(Some(stream)) => {
                    if self.clients.len() >= self.config.connections.max_connections {
                        // Accept and close at once: left in the backlog it
                        // would wait there, and the client with it.
                        self.metrics.refused(Refusal::Limit);
                        let (limit, peer) = (
                            self.config.connections.max_connections,
                            stream.peer_description(),
                        );
                        self.logs.connections.warn(Instant::now(), || {
                            format!("connection limit ({limit}) reached: refusing {peer}")
                        });
                        drop(stream);
                        continue;
                    }
                    self.metrics.connections_accepted.inc();
                    let stream = match &self.config.tls {
                        Some(tls) => match stream.into_tls_server(std::sync::Arc::clone(tls)) {
                            Ok(s) => s,
                            Err(e) => {
                                warn!("cannot start TLS: {e}");
                                continue;
                            }
                        },
                        None => stream,
                    };
                    self.add_client(stream, now);
                }
                Ok(None) => return,
                Err(e) => {
                    // EMFILE and friends: the connection stays in the
                    // backlog. Retrying now would spin, and with edge
                    // triggering no new event may come: retry on the tick.
                    self.metrics.accept_errors.inc();
                    let address = self.local_address();
                    self.logs.accept.warn(Instant::now(), || {
                        format!("accept on {address} failed: {e}")
                    });
                    self.accept_pending = true;
                    return;
                }
            }
        }
    }

    fn add_client(&mut self, stream: Stream, now: Millis) {
        let peer = stream.peer_description();
        let entry = self.clients.vacant_entry();
        let key = entry.key();
        let limits = self.config.connections;
        let mut client = Client {
            conn: Connection::new(stream, INPUT_CAP, limits.max_buffer + MAX_ANSWER),
            session: ClientSession::new(),
            peer,
            last_heard: Instant::now(),
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
            return;
        }
        debug!("connection {key} from {}", client.peer);
        entry.insert(client);
        // Data may already be waiting.
        self.drive(key, now, Instant::now());
    }

    /// Moves one connection forward as far as it can go without blocking.
    /// `woke` is when the loop woke for it (request latencies count from
    /// there).
    fn drive(&mut self, key: usize, now: Millis, woke: Instant) {
        let Some(client) = self.clients.get_mut(key) else {
            return; // a spurious event for a closed connection
        };
        let high_water = self.config.connections.max_buffer;
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
        }
        if progress.throttled {
            self.metrics.throttled.inc();
            let peer = client.peer.clone();
            self.logs.throttled.warn(Instant::now(), || {
                format!("{peer} is not reading its answers: holding back its requests ({high_water} bytes buffered)")
            });
        }
        match result {
            Ok((Step::Open, _)) => {}
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
        }
    }

    /// Returns the reason to stop, if a signal asks for it.
    fn take_signals(&mut self) -> Option<Shutdown> {
        let mut stop = None;
        for signal in self.signals.pending() {
            match signal {
                SIGINT | SIGTERM => stop = Some(Shutdown::Signal(signal)),
                SIGUSR1 | SIGUSR2 if self.config.killable => stop = Some(Shutdown::Signal(signal)),
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
        info!(
            "shutting down: {} connections, {} sessions, {} operations",
            self.clients.len(),
            self.dispatcher.store().len(),
            self.dispatcher.stats().operations
        );
        let _ = self.selector.deregister(&mut self.listener);
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        let high_water = self.config.connections.max_buffer;
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
        self.clients.clear();
    }

    fn tick(&mut self, now: Millis) {
        if self.accept_pending {
            self.accept_all(now);
        }
        if let Some(idle) = self.config.connections.idle_timeout {
            self.close_idle(idle);
        }
        let expired = self.dispatcher.expire(now);
        if expired > 0 {
            debug!("{expired} sessions expired");
        }
        let store = self.dispatcher.store().stats();
        self.metrics
            .publish(self.dispatcher.stats(), &store, self.clients.len());
        let stats = self.dispatcher.stats();
        if let Some(line) = self.progress.due(
            stats.operations,
            store.sessions,
            self.config.progress,
            Instant::now(),
        ) {
            let get = stats.of(dc_protocol::Operation::Get);
            info!(
                "{line}, connections = {}, get hits = {}, misses = {}, evictions = {}, expirations = {}",
                self.clients.len(),
                get.ok,
                get.not_ok,
                store.evictions,
                store.expirations
            );
        }
    }

    fn close_idle(&mut self, idle: Duration) {
        let now = Instant::now();
        let quiet: Vec<usize> = self
            .clients
            .iter()
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

fn step(
    client: &mut Client,
    dispatcher: &mut Dispatcher<MemoryStore>,
    scratch: &mut Vec<u8>,
    now: Millis,
    reading: Reading,
    high_water: usize,
) -> Result<(Step, Progress), (Closed, Progress)> {
    let mut progress = Progress::default();
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
        let served = if room > 0 {
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
