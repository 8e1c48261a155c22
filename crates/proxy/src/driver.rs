//! The event loop that runs the [`Mux`] over real sockets.
//!
//! One thread, one [`Selector`], edge-triggered like the server's loop:
//! every readiness event is drained (accept until none is pending, read and
//! write until the socket would block). What to send where is decided by
//! the multiplexer; this file only moves bytes, turns socket outcomes into
//! calls on the multiplexer and carries out its [`Event`]s.
//!
//! Within one wake-up, every request that arrived is handed to the
//! multiplexer before the upstream connection is written, so the requests of
//! many clients leave in one write; answers are written to each client once
//! per wake-up for the same reason.

use std::io::{self, ErrorKind};
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use nal::{Address, Buffer, Connection, Interest, Listener, NalError, Selector, Stream, Token};
use signal_hook::consts::signal::{SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;
use thiserror::Error;

use crate::error::{ClientClose, UpstreamLoss};
use crate::mux::{ClientId, Event, Mux, MuxConfig, UpstreamState};

/// Bytes read ahead from one local client: a whole request of the largest
/// size and then some, so a pipelining client is served in few reads.
pub const CLIENT_INPUT_CAP: usize = 64 * 1024;
/// Bytes read ahead from the server.
pub const UPSTREAM_INPUT_CAP: usize = 256 * 1024;
/// Longest sleep without events.
const LONGEST_SLEEP: Duration = Duration::from_secs(1);
/// Pause before accepting again after accept failed (out of descriptors):
/// the pending connection stays in the backlog, and retrying at once would
/// spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);
/// Repeated warnings of one kind are logged at most this often; the count
/// of those left out is logged with the next.
const LOG_INTERVAL: Duration = Duration::from_secs(1);

const LISTENER: Token = Token(usize::MAX - 1);
const SIGNALS: Token = Token(usize::MAX - 2);
const UPSTREAM: Token = Token(usize::MAX - 3);

/// How the proxy is set up.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Where local clients connect.
    pub listen: Address,
    /// The cache server.
    pub server: Address,
    /// Retry, timeouts and limits.
    pub mux: MuxConfig,
    /// SIGUSR1 and SIGUSR2 stop the proxy (otherwise they are ignored).
    pub killable: bool,
}

/// Why the proxy could not start or had to stop.
#[derive(Debug, Error)]
pub enum ProxyError {
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

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> ProxyError {
    move |source| ProxyError::Io { what, source }
}

/// Why [`Proxy::run`] returned normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Stopped by this signal (SIGINT, SIGTERM, or SIGUSR1/2 with `killable`).
    Signal(i32),
}

/// A local client's connection.
#[derive(Debug)]
struct Local {
    conn: Connection,
    id: ClientId,
    /// The multiplexer stopped reading its requests (too many waiting):
    /// feed the rest again when answers go out.
    blocked: bool,
}

/// The connection to the cache server.
#[derive(Debug)]
struct UpstreamConn {
    conn: Connection,
    connected: bool,
}

/// Logs a kind of warning at most once per [`LOG_INTERVAL`].
#[derive(Debug, Default)]
struct LogLimit {
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimit {
    /// `Some(n)` if a line may be logged now, `n` being the lines left out
    /// since the last one.
    fn allow(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < LOG_INTERVAL)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

fn and_more(suppressed: u64) -> String {
    if suppressed == 0 {
        String::new()
    } else {
        format!(" ({suppressed} similar lines left out)")
    }
}

/// What the log says about the upstream link.
#[derive(Debug, Default)]
struct LinkLog {
    up_since: Option<Instant>,
    down_since: Option<Instant>,
    failed_attempts: u64,
}

#[derive(Debug, Default)]
struct Logs {
    link: LinkLog,
    refused: LogLimit,
    accept: LogLimit,
    clients: LogLimit,
}

/// The `dc_client` proxy: a listener for local clients, the connection to
/// the cache server, and the multiplexer between them.
pub struct Proxy {
    selector: Selector,
    listener: Listener,
    signals: Signals,
    locals: Slab<Local>,
    upstream: Option<UpstreamConn>,
    mux: Mux,
    config: ProxyConfig,
    tokens: Vec<Token>,
    touched: Vec<ClientId>,
    accept_retry_at: Option<Instant>,
    logs: Logs,
}

impl Proxy {
    /// Binds the listening socket and sets up signal handling. Nothing is
    /// sent to the server before [`run`](Self::run), so a caller can detach
    /// and drop privileges in between.
    pub fn bind(config: ProxyConfig) -> Result<Proxy, ProxyError> {
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
        Ok(Proxy {
            selector,
            listener,
            signals,
            locals: Slab::new(),
            upstream: None,
            mux: Mux::new(config.mux, Instant::now()),
            config,
            tokens: Vec::new(),
            touched: Vec::new(),
            accept_retry_at: None,
            logs: Logs::default(),
        })
    }

    /// The address local clients connect to (with the real port after a
    /// bind to port 0).
    pub fn local_address(&self) -> Address {
        self.listener.local_address()
    }

    /// Serves until a stop signal arrives.
    pub fn run(&mut self) -> Result<Shutdown, ProxyError> {
        let mux = *self.mux.config();
        info!(
            "listening on {}, forwarding to {} (retry {} ms, timeout {}, idle {}, up to {} clients)",
            self.local_address(),
            self.config.server,
            mux.retry.as_millis(),
            mux.timeout
                .map_or("none".to_owned(), |t| format!("{} ms", t.as_millis())),
            mux.idle
                .map_or("never".to_owned(), |t| format!("{} ms", t.as_millis())),
            mux.max_clients,
        );
        loop {
            let now = Instant::now();
            self.mux.handle_timeout(now);
            if self.accept_retry_at.is_some_and(|t| now >= t) {
                self.accept_all(now);
            }
            self.settle(now);

            let wake = earliest(self.mux.next_timeout(), self.accept_retry_at);
            let sleep = wake.map_or(LONGEST_SLEEP, |t| {
                t.saturating_duration_since(Instant::now())
                    .min(LONGEST_SLEEP)
            });
            self.selector
                .poll(Some(sleep))
                .map_err(io_err("waiting for events"))?;

            let now = Instant::now();
            self.tokens.clear();
            self.tokens
                .extend(self.selector.events().iter().map(|e| e.token()));
            for i in 0..self.tokens.len() {
                match self.tokens[i] {
                    LISTENER => self.accept_all(now),
                    SIGNALS => {
                        if let Some(shutdown) = self.take_signals() {
                            self.shutdown();
                            return Ok(shutdown);
                        }
                    }
                    UPSTREAM => self.drive_upstream(now),
                    Token(key) => self.drive_client(key, now),
                }
                self.process_events(now);
            }
        }
    }

    /// Carries out what the multiplexer asked for and writes what it
    /// produced, until nothing is left to do without new events.
    fn settle(&mut self, now: Instant) {
        loop {
            self.process_events(now);
            if self.mux.has_touched() {
                self.flush_touched(now);
                continue;
            }
            self.flush_upstream(now);
            if !self.mux.has_events() && !self.mux.has_touched() {
                return;
            }
        }
    }

    fn process_events(&mut self, now: Instant) {
        while let Some(event) = self.mux.poll_event() {
            match event {
                Event::Connect => self.start_connect(now),
                Event::Disconnect(loss) => self.on_disconnect(loss, now),
                Event::CloseClient(id, reason) => {
                    let key = id.handle();
                    let peer = self
                        .locals
                        .get(key)
                        .filter(|l| l.id == id)
                        .map(|l| l.conn.stream().peer_description());
                    let Some(peer) = peer else { continue };
                    match &reason {
                        ClientClose::Idle(_) => debug!("closing local client {key}: {reason}"),
                        _ => {
                            if let Some(more) = self.logs.clients.allow(now) {
                                warn!(
                                    "dropping local client {key} ({peer}): {reason}{}",
                                    and_more(more)
                                );
                            }
                        }
                    }
                    self.close_local(key);
                }
                Event::Malformed(id, error) => {
                    if let Some(more) = self.logs.clients.allow(now) {
                        warn!(
                            "local client {}: {error}; answered DISCONNECTED, not forwarded{}",
                            id.handle(),
                            and_more(more)
                        );
                    }
                }
            }
        }
    }

    // ---- local clients --------------------------------------------------

    fn accept_all(&mut self, now: Instant) {
        self.accept_retry_at = None;
        loop {
            match self.listener.accept() {
                Ok(Some(stream)) => self.add_local(stream, now),
                Ok(None) => return,
                Err(e) => {
                    if let Some(more) = self.logs.accept.allow(now) {
                        warn!(
                            "accept on {} failed: {e}{}",
                            self.listener.local_address(),
                            and_more(more)
                        );
                    }
                    self.accept_retry_at = Some(now + ACCEPT_RETRY);
                    return;
                }
            }
        }
    }

    fn add_local(&mut self, stream: Stream, now: Instant) {
        let entry = self.locals.vacant_entry();
        let key = entry.key();
        let id = match self.mux.add_client(key, now) {
            Ok(id) => id,
            Err(full) => {
                if let Some(more) = self.logs.refused.allow(now) {
                    warn!("refusing a local connection: {full}{}", and_more(more));
                }
                return; // dropping the stream closes it
            }
        };
        let mut conn = Connection::new(stream, CLIENT_INPUT_CAP, 0);
        // Both interests, once: with edge triggering, a writable event only
        // comes when the socket's send buffer frees up.
        if let Err(e) = self.selector.register(
            &mut conn,
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            warn!("cannot watch a local connection: {e}");
            self.mux.remove_client(id);
            return;
        }
        debug!(
            "local client {key} connected ({})",
            conn.stream().peer_description()
        );
        entry.insert(Local {
            conn,
            id,
            blocked: false,
        });
        self.drive_client(key, now);
    }

    /// Reads what a client sent, hands it to the multiplexer and writes its
    /// answers, until none of that makes progress.
    fn drive_client(&mut self, key: usize, now: Instant) {
        let Some(local) = self.locals.get_mut(key) else {
            return; // a spurious event for a closed connection
        };
        let id = local.id;
        loop {
            let fill = match local.conn.fill() {
                Ok(fill) => fill,
                Err(e) => {
                    debug!("local client {key} failed: {e}");
                    self.drop_local(key);
                    return;
                }
            };
            if fill.bytes > 0 {
                self.mux.client_active(id, now);
            }
            let input = self
                .mux
                .client_input(id, local.conn.input().as_slice(), now);
            local.conn.input_mut().consume(input.consumed);
            local.blocked = input.blocked;
            if !self.mux.has_client(id) {
                return; // closed by the multiplexer; its event says why
            }
            let written = match self.mux.client_output(id) {
                Some(out) => match write_buffer(out, local.conn.stream_mut()) {
                    Ok(n) => n,
                    Err(e) => {
                        debug!("local client {key} failed: {e}");
                        self.drop_local(key);
                        return;
                    }
                },
                None => 0,
            };
            if written > 0 {
                self.mux.client_active(id, now);
            }
            if (fill.full || input.blocked) && (input.consumed > 0 || written > 0) {
                continue;
            }
            if fill.eof && !input.blocked {
                if !local.conn.input().is_empty() || self.mux.client_in_request(id) {
                    debug!("local client {key} closed in the middle of a request");
                    self.drop_local(key);
                    return;
                }
                if self.mux.client_settled(id) {
                    debug!("local client {key} closed");
                    self.drop_local(key);
                }
            }
            return;
        }
    }

    fn flush_touched(&mut self, now: Instant) {
        let mut touched = std::mem::take(&mut self.touched);
        self.mux.take_touched(&mut touched);
        for &id in &touched {
            let key = id.handle();
            match self.locals.get(key) {
                Some(local) if local.id == id && local.blocked => self.drive_client(key, now),
                Some(local) if local.id == id => self.flush_client(key, now),
                _ => {}
            }
        }
        self.touched = touched;
    }

    fn flush_client(&mut self, key: usize, now: Instant) {
        let Some(local) = self.locals.get_mut(key) else {
            return;
        };
        let id = local.id;
        let Some(out) = self.mux.client_output(id) else {
            return;
        };
        match write_buffer(out, local.conn.stream_mut()) {
            Ok(0) => {}
            Ok(_) => self.mux.client_active(id, now),
            Err(e) => {
                debug!("local client {key} failed: {e}");
                self.drop_local(key);
                return;
            }
        }
        // A client that has closed its side and got every answer it is owed.
        if local.conn.is_read_closed()
            && local.conn.input().is_empty()
            && self.mux.client_settled(id)
        {
            debug!("local client {key} closed");
            self.drop_local(key);
        }
    }

    /// Closes a client's connection at our initiative or its own, telling
    /// the multiplexer.
    fn drop_local(&mut self, key: usize) {
        if let Some(local) = self.locals.get(key) {
            self.mux.remove_client(local.id);
        }
        self.close_local(key);
    }

    /// Closes a client's connection (the multiplexer knows already).
    fn close_local(&mut self, key: usize) {
        if let Some(mut local) = self.locals.try_remove(key) {
            let _ = self.selector.deregister(&mut local.conn);
        }
    }

    // ---- upstream -------------------------------------------------------

    fn start_connect(&mut self, now: Instant) {
        if let Some(mut old) = self.upstream.take() {
            let _ = self.selector.deregister(&mut old.conn);
        }
        let stream = match Stream::connect(&self.config.server) {
            Ok(stream) => stream,
            Err(e) => {
                self.mux
                    .upstream_lost(UpstreamLoss::ConnectFailed(e.to_string()), now);
                return;
            }
        };
        let mut conn = Connection::new(stream, UPSTREAM_INPUT_CAP, 0);
        if let Err(e) =
            self.selector
                .register(&mut conn, UPSTREAM, Interest::READABLE | Interest::WRITABLE)
        {
            self.mux.upstream_lost(
                UpstreamLoss::ConnectFailed(format!("cannot watch the connection: {e}")),
                now,
            );
            return;
        }
        debug!("connecting to {}", self.config.server);
        self.upstream = Some(UpstreamConn {
            conn,
            connected: false,
        });
    }

    fn drive_upstream(&mut self, now: Instant) {
        let Some(up) = self.upstream.as_mut() else {
            return;
        };
        if !up.connected {
            match up.conn.stream().is_connected() {
                Ok(true) => {
                    up.connected = true;
                    self.mux.upstream_connected(now);
                    let link = &mut self.logs.link;
                    match link.down_since.take() {
                        Some(since) => info!(
                            "connected to {} again, after {} ms without it ({} failed attempts)",
                            self.config.server,
                            now.duration_since(since).as_millis(),
                            link.failed_attempts
                        ),
                        None => info!("connected to {}", self.config.server),
                    }
                    link.up_since = Some(now);
                    link.failed_attempts = 0;
                }
                Ok(false) => return,
                Err(e) => {
                    let reason = format!("cannot connect to {}: {e}", self.config.server);
                    self.mux
                        .upstream_lost(UpstreamLoss::ConnectFailed(reason), now);
                    return;
                }
            }
        }
        loop {
            let fill = match up.conn.fill() {
                Ok(fill) => fill,
                Err(e) => {
                    let reason = format!("reading from the server failed: {e}");
                    self.mux.upstream_lost(UpstreamLoss::Io(reason), now);
                    return;
                }
            };
            let consumed = self.mux.upstream_input(up.conn.input().as_slice(), now);
            up.conn.input_mut().consume(consumed);
            if self.mux.upstream_state() != UpstreamState::Up {
                return; // the multiplexer gave up on it
            }
            if fill.eof {
                self.mux.upstream_lost(UpstreamLoss::Closed, now);
                return;
            }
            if fill.full && consumed > 0 {
                continue;
            }
            break;
        }
        self.flush_upstream(now);
    }

    fn flush_upstream(&mut self, now: Instant) {
        let Some(up) = self.upstream.as_mut().filter(|u| u.connected) else {
            return;
        };
        let out = self.mux.upstream_output();
        if out.is_empty() {
            return;
        }
        if let Err(e) = write_buffer(out, up.conn.stream_mut()) {
            let reason = format!("writing to the server failed: {e}");
            self.mux.upstream_lost(UpstreamLoss::Io(reason), now);
        }
    }

    fn on_disconnect(&mut self, loss: UpstreamLoss, now: Instant) {
        if let Some(mut old) = self.upstream.take() {
            let _ = self.selector.deregister(&mut old.conn);
        }
        let next = match self.mux.upstream_state() {
            UpstreamState::Down { retry_at } => retry_at.saturating_duration_since(now),
            _ => Duration::ZERO,
        };
        let link = &mut self.logs.link;
        if link.up_since.take().is_some() {
            link.down_since = Some(now);
            warn!(
                "lost the connection to {}: {loss}; answering DISCONNECTED until it is back \
                 (next attempt in {} ms)",
                self.config.server,
                next.as_millis()
            );
            return;
        }
        link.down_since.get_or_insert(now);
        link.failed_attempts += 1;
        if link.failed_attempts == 1 {
            warn!(
                "{loss}; answering DISCONNECTED until {} can be reached (retrying every {} ms)",
                self.config.server,
                self.mux.config().retry.as_millis()
            );
        } else {
            debug!("{loss} (attempt {})", link.failed_attempts);
        }
    }

    // ---- signals --------------------------------------------------------

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

    /// Writes what can still be written without waiting, then drops every
    /// connection.
    fn shutdown(&mut self) {
        let s = *self.mux.stats();
        info!(
            "shutting down: {} local clients; {} requests, {} forwarded, {} answered by the \
             server, {} answered DISCONNECTED, {} refused ADDs, {} malformed, {} late answers \
             dropped; {} clients accepted, {} refused, {} corrupt, {} cut off, {} idle; \
             {} connects, {} lost",
            self.locals.len(),
            s.requests,
            s.forwarded,
            s.answered,
            s.disconnected,
            s.refused,
            s.malformed,
            s.late_answers,
            s.clients,
            s.clients_refused,
            s.clients_corrupt,
            s.clients_cut_off,
            s.clients_idle,
            s.connects,
            s.losses,
        );
        for (_, local) in self.locals.iter_mut() {
            if let Some(out) = self.mux.client_output(local.id) {
                let _ = write_buffer(out, local.conn.stream_mut());
            }
        }
        self.locals.clear();
        self.upstream = None;
    }
}

/// Writes `buffer` to `stream` until it is empty or the socket would block;
/// returns the bytes written.
fn write_buffer(buffer: &mut Buffer, stream: &mut Stream) -> io::Result<usize> {
    let mut total = 0;
    while !buffer.is_empty() {
        match buffer.write_to(stream) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => total += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(total)
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
