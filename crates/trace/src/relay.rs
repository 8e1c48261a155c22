//! The relay: the mio loop (through `nal`) that carries each client's bytes
//! to the server and back, and shows them to a [`ConnectionTrace`] on the
//! way.
//!
//! ```text
//!   client ──► [client input, ≤ RELAY_BUFFER] ──write──► server
//!   client ◄──write── [server input, ≤ RELAY_BUFFER] ◄── server
//!                 │                        │
//!                 └──── a copy of each read, after it is passed on ───► trace
//! ```
//!
//! Each direction has one buffer: the input buffer of the side it comes
//! from. Bytes are read into it and written from it to the other side, in
//! order and unchanged. When the other side does not take them, the buffer
//! fills, reading from that side stops, its socket buffers fill, and TCP's
//! flow control slows the sender down: back-pressure, never dropping. The
//! trace only ever reads the bytes, after they have been offered to the
//! other side.
//!
//! A half-close (end of file from one side) is passed on with
//! `shutdown(SHUT_WR)` once every byte before it has been written. The pair
//! is closed when both directions have ended, or as soon as reading from or
//! writing to either side fails (a reset, a broken pipe); what the other side
//! had already sent is then still offered to its peer, once, without waiting.

use std::io::{self, ErrorKind, Write};
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use nal::{Address, Connection, Interest, Listener, NalError, Selector, Stream, Token};
use signal_hook::consts::signal::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;
use thiserror::Error;

use crate::connection::ConnectionTrace;
use crate::event::{CloseReason, Direction, Observer, Peer};
use crate::time::Clock;

/// Bytes buffered per direction of each relayed pair. Beyond this, reading
/// from the sending side stops until the receiving side takes some.
pub const RELAY_BUFFER: usize = 64 * 1024;

/// Events handled per wait of the loop; more are handled by the next one.
const EVENTS: usize = 1024;
const LISTENER: Token = Token(usize::MAX - 1);
const SIGNALS: Token = Token(usize::MAX - 2);

/// Where to listen and where to relay to.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Where clients connect.
    pub listen: Address,
    /// The server every client is relayed to. A host name is resolved once,
    /// when the relay starts, so that the loop never waits for DNS.
    pub server: Address,
    /// Most client connections relayed at once (each takes two file
    /// descriptors); one more is accepted and closed at once, with a log
    /// line at most every [`LIMIT_LOG_INTERVAL`].
    pub max_connections: usize,
}

/// Default [`RelayConfig::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Shortest time between two log lines about the connection limit.
pub const LIMIT_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// After an accept failed for want of file descriptors, the next try comes
/// this much later (edge-triggered readiness would not say again).
const ACCEPT_RETRY: Duration = Duration::from_millis(500);

/// Why the relay could not start or had to stop.
#[derive(Debug, Error)]
pub enum RelayError {
    /// The listening address could not be bound.
    #[error(transparent)]
    Listen(NalError),
    /// The server's host name did not resolve.
    #[error(transparent)]
    Resolve(NalError),
    /// The event loop failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The underlying error.
        source: io::Error,
    },
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> RelayError {
    move |source| RelayError::Io { what, source }
}

/// Why [`Relay::run`] returned normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Stopped by this signal (SIGINT or SIGTERM).
    Signal(i32),
}

/// A client connection and its connection to the server.
#[derive(Debug)]
struct Pair {
    trace: ConnectionTrace,
    client: Connection,
    server: Connection,
    /// The connect to the server has completed.
    connected: bool,
    /// End of file has been passed on to the client: the server is done.
    client_shut: bool,
    /// End of file has been passed on to the server: the client is done.
    server_shut: bool,
}

/// The relaying proxy; see the module doc.
pub struct Relay {
    selector: Selector,
    listener: Listener,
    signals: Signals,
    pairs: Slab<Pair>,
    /// The server, with its host name resolved.
    server: Address,
    /// The server as given, for the trace.
    server_label: String,
    next_number: u64,
    clock: Clock,
    /// The last poll's events, kept to reuse the allocation.
    ready: Vec<Ready>,
    max_connections: usize,
    /// An accept failed for want of resources: try again at this time.
    accept_retry_at: Option<Instant>,
    /// When the connection limit was last logged, and refusals since.
    limit_logged: Option<(Instant, u64)>,
}

/// What an event says about one socket.
#[derive(Debug, Clone, Copy)]
struct Ready {
    token: Token,
    /// Readable, or closed or failed (a read will say how).
    read: bool,
    /// Writable, or closed or failed.
    write: bool,
    /// The peer closed or the socket failed: read to the end this time.
    hangup: bool,
}

/// Which directions of a pair an event may let move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Wake {
    to_server: bool,
    to_client: bool,
}

impl Wake {
    const BOTH: Wake = Wake {
        to_server: true,
        to_client: true,
    };
}

impl Relay {
    /// Resolves the server's address, binds the listening socket and sets up
    /// signal handling; relaying starts with [`run`](Self::run).
    pub fn bind(config: RelayConfig) -> Result<Relay, RelayError> {
        let server = match &config.server {
            Address::Ip {
                host: Some(_),
                port,
            } => {
                let resolved = config.server.resolve().map_err(RelayError::Resolve)?;
                Address::Ip {
                    host: Some(resolved.ip().to_string()),
                    port: *port,
                }
            }
            other => other.clone(),
        };
        let mut listener = Listener::bind(&config.listen).map_err(RelayError::Listen)?;
        let selector = Selector::new(EVENTS).map_err(io_err("creating the event loop"))?;
        selector
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(io_err("registering the listener"))?;
        let mut signals =
            Signals::new([SIGINT, SIGTERM]).map_err(io_err("installing signal handlers"))?;
        selector
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .map_err(io_err("registering signal handlers"))?;
        Ok(Relay {
            selector,
            listener,
            signals,
            pairs: Slab::new(),
            server,
            server_label: config.server.to_string(),
            next_number: 0,
            clock: Clock::new(),
            ready: Vec::new(),
            max_connections: config.max_connections.max(1),
            accept_retry_at: None,
            limit_logged: None,
        })
    }

    /// The address actually listened on (with the real port after a bind to
    /// port 0).
    pub fn local_address(&self) -> Address {
        self.listener.local_address()
    }

    /// The clock the relay stamps events with.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Relays until SIGINT or SIGTERM, reporting to `observer`. On the way
    /// out every open pair is closed (and reported closed).
    pub fn run<O: Observer + ?Sized>(&mut self, observer: &mut O) -> Result<Stopped, RelayError> {
        info!(
            "listening on {}, relaying to {}",
            self.local_address(),
            self.server_label
        );
        loop {
            let mut timeout = observer
                .wake_at()
                .map(|t| t.saturating_since(self.clock.now()));
            if let Some(at) = self.accept_retry_at {
                let until = at.saturating_duration_since(Instant::now());
                timeout = Some(timeout.map_or(until, |t| t.min(until)));
            }
            self.selector
                .poll(timeout)
                .map_err(io_err("waiting for events"))?;
            let mut ready = std::mem::take(&mut self.ready);
            ready.clear();
            ready.extend(self.selector.events().iter().map(|e| Ready {
                token: e.token(),
                read: e.is_readable() || e.is_read_closed() || e.is_error(),
                write: e.is_writable() || e.is_write_closed() || e.is_error(),
                hangup: e.is_read_closed() || e.is_error(),
            }));
            let mut stop = None;
            for event in &ready {
                match event.token {
                    LISTENER => self.accept_all(observer),
                    SIGNALS => stop = stop.or(self.take_signals()),
                    Token(n) => self.drive_event(n / 2, n % 2 == 1, *event, observer),
                }
            }
            self.ready = ready;
            if self.accept_retry_at.is_some_and(|t| Instant::now() >= t) {
                self.accept_all(observer);
            }
            if let Some(stopped) = stop {
                self.shutdown(observer);
                observer.idle(self.clock.now());
                return Ok(stopped);
            }
            observer.idle(self.clock.now());
        }
    }

    fn take_signals(&mut self) -> Option<Stopped> {
        self.signals
            .pending()
            .filter(|s| matches!(*s, SIGINT | SIGTERM))
            .last()
            .map(Stopped::Signal)
    }

    fn accept_all<O: Observer + ?Sized>(&mut self, observer: &mut O) {
        self.accept_retry_at = None;
        loop {
            match self.listener.accept() {
                Ok(Some(stream)) if self.pairs.len() >= self.max_connections => {
                    self.refuse(&stream);
                }
                Ok(Some(stream)) => self.open_pair(stream, observer),
                Ok(None) => return,
                Err(e) => {
                    // EMFILE and friends: the connection stays in the
                    // backlog. Retrying now would spin, and no new event
                    // may come: retry a little later.
                    warn!("accept on {} failed: {e}", self.local_address());
                    self.accept_retry_at = Some(Instant::now() + ACCEPT_RETRY);
                    return;
                }
            }
        }
    }

    /// Closes a client beyond the connection limit (by dropping it), with
    /// a warning at most every [`LIMIT_LOG_INTERVAL`].
    fn refuse(&mut self, stream: &Stream) {
        let now = Instant::now();
        let (last, since) = self.limit_logged.unwrap_or((now, 0));
        if self.limit_logged.is_none() || now.duration_since(last) >= LIMIT_LOG_INTERVAL {
            let more = if since > 0 {
                format!(" ({since} more since the last report)")
            } else {
                String::new()
            };
            warn!(
                "refusing {}: {} connections relayed already (-max-connections){more}",
                stream.peer_description(),
                self.max_connections
            );
            self.limit_logged = Some((now, 0));
        } else {
            self.limit_logged = Some((last, since + 1));
        }
    }

    fn open_pair<O: Observer + ?Sized>(&mut self, client: Stream, observer: &mut O) {
        let number = self.next_number;
        self.next_number += 1;
        let now = self.clock.now();
        let peer = client.peer_description();
        let mut trace = ConnectionTrace::open(number, now, &peer, &self.server_label, observer);
        let server = match Stream::connect(&self.server) {
            Ok(server) => server,
            Err(e) => {
                warn!("connection {number} from {peer}: {e}");
                let reason = CloseReason::ConnectFailed(e.to_string());
                trace.close(&reason, self.clock.now(), observer);
                return;
            }
        };
        let entry = self.pairs.vacant_entry();
        let key = entry.key();
        let mut pair = Pair {
            trace,
            client: Connection::new(client, RELAY_BUFFER, 0),
            server: Connection::new(server, RELAY_BUFFER, 0),
            connected: false,
            client_shut: false,
            server_shut: false,
        };
        // Both interests, once: with edge triggering a writable event only
        // comes when a socket's send buffer frees up.
        let both = Interest::READABLE | Interest::WRITABLE;
        let registered = self
            .selector
            .register(&mut pair.client, Token(2 * key), both)
            .and_then(|()| {
                self.selector
                    .register(&mut pair.server, Token(2 * key + 1), both)
            });
        if let Err(e) = registered {
            warn!("connection {number} from {peer}: cannot watch it: {e}");
            let _ = self.selector.deregister(&mut pair.client);
            let reason = CloseReason::Failed {
                peer: Peer::Client,
                error: e.to_string(),
            };
            pair.trace.close(&reason, self.clock.now(), observer);
            return;
        }
        debug!(
            "connection {number} from {peer}: connecting to {}",
            self.server_label
        );
        entry.insert(pair);
        // The connect may be done already, and the client may have sent.
        self.drive(key, Wake::BOTH, observer);
    }

    /// Moves the directions of one pair that an event on one of its sockets
    /// concerns. Reading is what a readable socket needs; a writable one
    /// only matters to bytes waiting to be written to it. Waking a direction
    /// that has nothing to do would cost a read that can only say "would
    /// block", on every event.
    fn drive_event<O: Observer + ?Sized>(
        &mut self,
        key: usize,
        server_side: bool,
        event: Ready,
        observer: &mut O,
    ) {
        let Some(pair) = self.pairs.get_mut(key) else {
            return; // a spurious event for a closed pair
        };
        if event.hangup {
            if server_side {
                pair.server.note_hangup();
            } else {
                pair.client.note_hangup();
            }
        }
        let wake = if !pair.connected {
            // Any event on the server socket may be the connect's outcome.
            Wake::BOTH
        } else if server_side {
            Wake {
                to_client: event.read,
                to_server: event.write && !pair.client.input().is_empty(),
            }
        } else {
            Wake {
                to_server: event.read,
                to_client: event.write && !pair.server.input().is_empty(),
            }
        };
        if wake.to_server || wake.to_client {
            self.drive(key, wake, observer);
        }
    }

    /// Moves one pair forward as far as it goes without blocking.
    fn drive<O: Observer + ?Sized>(&mut self, key: usize, wake: Wake, observer: &mut O) {
        let Some(pair) = self.pairs.get_mut(key) else {
            return; // a spurious event for a closed pair
        };
        match pair.step(&self.clock, wake, observer) {
            Ok(true) => {}
            Ok(false) => self.close(key, CloseReason::Finished, observer),
            Err(reason) => self.close(key, reason, observer),
        }
    }

    fn close<O: Observer + ?Sized>(&mut self, key: usize, reason: CloseReason, observer: &mut O) {
        let Some(mut pair) = self.pairs.try_remove(key) else {
            return;
        };
        if let CloseReason::Failed { .. } = reason {
            pair.salvage();
        }
        let _ = self.selector.deregister(&mut pair.client);
        let _ = self.selector.deregister(&mut pair.server);
        match &reason {
            CloseReason::ConnectFailed(_) => {
                warn!("connection {}: {reason}", pair.trace.number())
            }
            _ => debug!("connection {} closed: {reason}", pair.trace.number()),
        }
        pair.trace.close(&reason, self.clock.now(), observer);
        // A failure on one side reaches the other as a reset, as it would
        // without dc_snoop in between, not as an orderly end.
        if let CloseReason::Failed { peer, .. } = reason {
            let Pair { client, server, .. } = pair;
            match peer {
                Peer::Server => client.into_stream().reset(),
                Peer::Client => server.into_stream().reset(),
            }
        }
    }

    fn shutdown<O: Observer + ?Sized>(&mut self, observer: &mut O) {
        info!("stopping: closing {} relayed connections", self.pairs.len());
        let keys: Vec<usize> = self.pairs.iter().map(|(key, _)| key).collect();
        for key in keys {
            self.close(key, CloseReason::Shutdown, observer);
        }
    }
}

impl Pair {
    /// Relays the directions in `wake` until nothing moves. `Ok(false)`:
    /// both directions have ended.
    fn step<O: Observer + ?Sized>(
        &mut self,
        clock: &Clock,
        mut wake: Wake,
        observer: &mut O,
    ) -> Result<bool, CloseReason> {
        if !self.connected {
            match self.server.stream().is_connected() {
                Ok(true) => {
                    self.connected = true;
                    // The client may have sent while we were connecting.
                    wake = Wake::BOTH;
                }
                Ok(false) => return Ok(true),
                Err(e) => return Err(CloseReason::ConnectFailed(e.to_string())),
            }
        }
        while wake.to_server || wake.to_client {
            wake.to_server = wake.to_server
                && pump(
                    Side {
                        conn: &mut self.client,
                        peer: Peer::Client,
                    },
                    Side {
                        conn: &mut self.server,
                        peer: Peer::Server,
                    },
                    &mut self.server_shut,
                    Direction::ClientToServer,
                    &mut self.trace,
                    clock,
                    observer,
                )?;
            wake.to_client = wake.to_client
                && pump(
                    Side {
                        conn: &mut self.server,
                        peer: Peer::Server,
                    },
                    Side {
                        conn: &mut self.client,
                        peer: Peer::Client,
                    },
                    &mut self.client_shut,
                    Direction::ServerToClient,
                    &mut self.trace,
                    clock,
                    observer,
                )?;
        }
        Ok(!(self.client_shut && self.server_shut))
    }

    /// Offers what each side already sent to the other, once, without
    /// waiting: one side failed, but the other may still be listening.
    fn salvage(&mut self) {
        if !self.connected {
            return;
        }
        let (n, _) = write_some(self.server.stream_mut(), self.client.input().as_slice());
        self.client.input_mut().consume(n);
        let (n, _) = write_some(self.client.stream_mut(), self.server.input().as_slice());
        self.server.input_mut().consume(n);
    }
}

/// One end of a direction.
struct Side<'a> {
    conn: &'a mut Connection,
    peer: Peer,
}

/// Reads what `from` has sent, writes as much of it as `to` takes, shows the
/// new bytes to the trace, and passes end of file on once everything before
/// it is written. Returns whether another round may move more (reading
/// stopped on a full buffer and writing has since made room).
#[allow(clippy::too_many_arguments)]
fn pump<O: Observer + ?Sized>(
    from: Side<'_>,
    to: Side<'_>,
    to_shut: &mut bool,
    direction: Direction,
    trace: &mut ConnectionTrace,
    clock: &Clock,
    observer: &mut O,
) -> Result<bool, CloseReason> {
    let before = from.conn.input().len();
    let fill = from.conn.fill();
    // Stamped as they are read, so round trips do not include time spent
    // printing.
    let now = clock.now();
    let data = from.conn.input().as_slice();
    let (written, write_error) = write_some(to.conn.stream_mut(), data);
    // Bytes read before a read error are relayed and traced all the same.
    trace.feed(direction, &data[before..], now, observer);
    from.conn.input_mut().consume(written);
    let failed = |peer: Peer, e: io::Error| CloseReason::Failed {
        peer,
        error: e.to_string(),
    };
    if let Some(e) = write_error {
        return Err(failed(to.peer, e));
    }
    let fill = fill.map_err(|e| failed(from.peer, e))?;
    if fill.eof && from.conn.input().is_empty() && !*to_shut {
        *to_shut = true;
        if let Err(e) = to.conn.stream().shutdown_write() {
            // The peer is already gone; the next read or write says so.
            debug!("passing end of file on to the {}: {e}", to.peer);
        }
    }
    Ok(fill.full && written > 0)
}

/// Writes as much of `data` as the socket takes now. Returns the count
/// written, and the error that stopped it, if any (not `WouldBlock`).
fn write_some(stream: &mut Stream, data: &[u8]) -> (usize, Option<io::Error>) {
    let mut written = 0;
    while written < data.len() {
        match stream.write(&data[written..]) {
            Ok(0) => return (written, Some(ErrorKind::WriteZero.into())),
            Ok(n) => written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return (written, Some(e)),
        }
    }
    (written, None)
}
