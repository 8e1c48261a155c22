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
//! [`OUTPUT_HIGH_WATER`] bytes of answers wait for it, its requests are left
//! unread until the peer catches up. A connection that breaks the protocol
//! is closed alone, after the answers to its earlier requests are sent.

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

use crate::dispatch::Dispatcher;
use crate::session::ClientSession;
use crate::stats::ProgressLine;

/// Bytes of received data buffered per connection: several whole frames,
/// so one read syscall can bring in a burst of pipelined requests.
pub const INPUT_CAP: usize = 64 * 1024;
/// Answers waiting for a slow reader beyond which its requests are no longer
/// served until it reads some.
pub const OUTPUT_HIGH_WATER: usize = 256 * 1024;
/// Cap of a connection's output buffer: the high-water mark plus the largest
/// single answer (16 full frames), which may land just below the mark.
pub const OUTPUT_CAP: usize =
    OUTPUT_HIGH_WATER + dc_protocol::MAX_PAYLOAD + 16 * dc_protocol::HEADER_LEN;
/// Longest the loop sleeps without events: the period of expiry purges and
/// of the activity line checks.
pub const TICK: Duration = Duration::from_millis(500);

/// Longest a stopping server waits for clients to read the answers they are
/// owed.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

const LISTENER: Token = Token(usize::MAX - 1);
const SIGNALS: Token = Token(usize::MAX - 2);

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
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
        })
    }

    /// The address actually listened on (with the real port after a bind to
    /// port 0).
    pub fn local_address(&self) -> Address {
        self.listener.local_address()
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
                    Token(key) => self.drive(key, now),
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
        loop {
            match self.listener.accept() {
                Ok(Some(stream)) => self.add_client(stream, now),
                Ok(None) => return,
                Err(e) => {
                    // EMFILE and friends: the connection stays in the
                    // backlog; retrying now would spin.
                    warn!("accept on {} failed: {e}", self.local_address());
                    return;
                }
            }
        }
    }

    fn add_client(&mut self, stream: Stream, now: Millis) {
        let peer = stream.peer_description();
        let entry = self.clients.vacant_entry();
        let key = entry.key();
        let mut client = Client {
            conn: Connection::new(stream, INPUT_CAP, OUTPUT_CAP),
            session: ClientSession::new(),
            peer,
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
        self.drive(key, now);
    }

    /// Moves one connection forward as far as it can go without blocking.
    fn drive(&mut self, key: usize, now: Millis) {
        let Some(client) = self.clients.get_mut(key) else {
            return; // a spurious event for a closed connection
        };
        match step(
            client,
            &mut self.dispatcher,
            &mut self.scratch,
            now,
            Reading::On,
        ) {
            Ok(Step::Open) => {}
            Ok(Step::Done) => {
                debug!("connection {key} from {} closed", client.peer);
                self.close(key);
            }
            Err(reason) => {
                match &reason {
                    Closed::Protocol(e) => {
                        warn!("closing connection {key} from {}: {e}", client.peer)
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
                        Reading::Stopped
                    ),
                    Ok(Step::Open)
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
        let expired = self.dispatcher.expire(now);
        if expired > 0 {
            debug!("{expired} sessions expired");
        }
        let operations = self.dispatcher.stats().operations;
        let sessions = self.dispatcher.store().len();
        if let Some(line) =
            self.progress
                .due(operations, sessions, self.config.progress, Instant::now())
        {
            info!("{line}");
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

fn step(
    client: &mut Client,
    dispatcher: &mut Dispatcher<MemoryStore>,
    scratch: &mut Vec<u8>,
    now: Millis,
    reading: Reading,
) -> Result<Step, Closed> {
    loop {
        let fill = match reading {
            Reading::On => client.conn.fill().map_err(Closed::Io)?,
            Reading::Stopped => nal::Fill::default(),
        };

        // Answer every whole request buffered, up to the high-water mark.
        let room = OUTPUT_HIGH_WATER.saturating_sub(client.conn.output().len());
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
                    Some(served)
                }
                Err(e) => {
                    // Answers to the requests before the bad one are still
                    // owed; send what the socket takes now, then close.
                    let _ = send(client, scratch);
                    let _ = client.conn.flush();
                    return Err(Closed::Protocol(e));
                }
            }
        } else {
            None
        };
        send(client, scratch).map_err(Closed::Io)?;
        let flushed = client.conn.flush().map_err(Closed::Io)?;

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
        if fill.eof && flushed {
            // The peer is done sending and has every answer it is owed.
            return if pending || client.session.in_request() {
                Err(Closed::MidFrame)
            } else {
                Ok(Step::Done)
            };
        }
        return Ok(Step::Open);
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
