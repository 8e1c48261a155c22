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
//!
//! Each server of the pool has its own connection, token and log state;
//! local clients come in through any number of listeners, each with the
//! protocol of its front door ([`FrontKind`]).
//!
//! With TLS configured, a server connection counts as made only once
//! the handshake is done: until then requests queue as for a connect in
//! progress, and a handshake that fails is a failed connect. Every limit
//! hit and every TLS failure is logged at most once per
//! [`LIMIT_LOG_INTERVAL`], with the number left out; the counters are
//! published to the metrics every [`TICK`].
//!
//! At `-max-clients`, a newcomer is let in by closing a local client that
//! has nothing in flight (no partial request, no answer owed or unwritten):
//! one that never sent anything first, else the one idle longest, found in
//! O(1) on an [`IdleList`]. Only if every client is busy is the newcomer
//! refused. If accept runs out of descriptors anyway, a spare one is given
//! up to accept the pending connection, which is admitted the same way or
//! closed; without a spare, accept is retried after `ACCEPT_RETRY` (100 ms).

use std::io::{self, ErrorKind, Write};
use std::time::{Duration, Instant};

use dc_metrics::RateLimitedLog;
use log::{debug, info, warn};
use nal::{
    is_out_of_descriptors, Address, Buffer, Connection, IdleList, Interest, Listener, NalError,
    Rank, Selector, SpareDescriptor, Stream, Token,
};
use signal_hook::consts::signal::{SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook_mio::v1_0::Signals;
use slab::Slab;
use thiserror::Error;

use std::sync::Arc;

use dc_redis_backend::{BackendConfig, RedisBackend};

use crate::error::{ClientClose, LossReason, UpstreamLoss};
use crate::front::FrontKind;
use crate::link::{Dialect, LinkId, LinkState};
use crate::metrics::{Gauges, ProxyMetrics};
use crate::mux::{
    ClientId, Event, Mux, MuxConfig, PoolError, ServerSpec, CLIENT_OUTPUT_HIGH_WATER,
    CLIENT_PIPELINE_MAX, UPSTREAM_OUTPUT_CAP,
};
use crate::resolver::Resolver;
use crate::tls::{hint, UpstreamTls};

/// Bytes read ahead from one local client: a whole request of the largest
/// size and then some, so a pipelining client is served in few reads.
pub const CLIENT_INPUT_CAP: usize = 64 * 1024;
/// Bytes read ahead from the server.
pub const UPSTREAM_INPUT_CAP: usize = 256 * 1024;
/// Longest sleep without events, and the period of metrics publication.
pub const TICK: Duration = Duration::from_millis(500);
/// Pause before accepting again after accept failed (out of descriptors,
/// with no spare to give up): the pending connection stays in the backlog,
/// and retrying at once would spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);
/// Repeated warnings of one kind (a limit hit, a TLS failure, a lost
/// connection) are logged at most this often; the count of those left out
/// is logged with the next. The server's interval.
pub const LIMIT_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Tokens: local clients are keyed by their slab key, far below these.
const SIGNALS: Token = Token(usize::MAX - 1);
const UPSTREAM_BASE: usize = usize::MAX / 4;
const LISTENER_BASE: usize = usize::MAX / 2;

/// What a poll event's token stands for.
enum Source {
    Signals,
    Listener(usize),
    Upstream(LinkId),
    Local(usize),
}

fn source(token: Token) -> Source {
    match token.0 {
        t if t == SIGNALS.0 => Source::Signals,
        t if t >= LISTENER_BASE => Source::Listener(t - LISTENER_BASE),
        t if t >= UPSTREAM_BASE => Source::Upstream(LinkId(t - UPSTREAM_BASE)),
        t => Source::Local(t),
    }
}

/// One listener for local clients.
#[derive(Debug, Clone)]
pub struct ListenSpec {
    /// Where they connect.
    pub address: Address,
    /// The protocol they speak there.
    pub kind: FrontKind,
}

/// One cache server of the pool.
#[derive(Debug, Clone)]
pub struct UpstreamSpec {
    /// Where it listens.
    pub address: Address,
    /// Speak TLS to it (`None`: plain TCP, as the original).
    pub tls: Option<UpstreamTls>,
    /// It is a Redis server (`-server redis://...`), spoken to in RESP
    /// with this setup, rather than a dc_server.
    pub redis: Option<dc_redis_backend::LinkSetup>,
}

/// How the proxy is set up.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Where local clients connect, and in which protocol (at least one).
    pub listen: Vec<ListenSpec>,
    /// The cache servers (at least one), in the order given: a server's
    /// place on the ring depends on its name only, not on this order.
    pub servers: Vec<UpstreamSpec>,
    /// Redis backends (`-server redis://...`), after the servers in the
    /// pool.
    pub backends: Vec<BackendConfig>,
    /// Retry, timeouts, limits and replicas.
    pub mux: MuxConfig,
    /// SIGUSR1 and SIGUSR2 stop the proxy (otherwise they are ignored).
    pub killable: bool,
    /// While answers are awaited from the server, poll without sleeping
    /// for up to this long before blocking (zero: always block). See
    /// [`DEFAULT_SPIN`].
    pub spin: Duration,
    /// dc_client may run on one CPU only (its affinity mask or cgroup
    /// quota): then it spins only while every local client awaits an
    /// answer and none was answered on this turn, since a client that is
    /// not waiting for us may want that very CPU (see [`DEFAULT_SPIN`]).
    pub one_cpu: bool,
    /// Said at the end of the start-up line: why a limit is lower than
    /// asked (e.g. "-max-clients 1024 lowered to 200: open files limit is
    /// 256").
    pub notice: Option<String>,
}

/// Default [`ProxyConfig::spin`]: a little more than a loopback or LAN
/// round trip to dc_server.
/// Blocking in `epoll_wait` and being woken when the answer lands costs two
/// context switches and, when the server's answer is raised on another CPU,
/// an inter-processor interrupt: on the VMs we measured that is over half
/// of what dc_client adds to a request (perf: `finish_task_switch` and the
/// wake-up in `sock_def_readable` take 64% of dc_client's cycles, its own
/// code 1%). Spinning only while a request is out turns that into polling
/// on a CPU that would otherwise idle, since the local client is itself
/// blocked waiting for the answer.
///
/// That holds while nobody else wants the CPU. On one CPU shared with
/// the applications, a client that was just answered, or is busy with
/// something else, may want it: spinning then delays it (16 connections
/// pinned with dc_test: p50 184-216 µs spinning against 142-185 blocking),
/// where with one connection the spin cuts what dc_client adds (32 µs
/// against 51-67). See [`ProxyConfig::one_cpu`].
pub const DEFAULT_SPIN: Duration = Duration::from_micros(50);

/// Why the proxy could not start or had to stop.
#[derive(Debug, Error)]
pub enum ProxyError {
    /// The server list cannot make a pool (none, too many, a server twice).
    #[error("bad server list: {0}")]
    Pool(#[from] PoolError),
    /// No listener was given.
    #[error("nothing to listen on")]
    NoListener,
    /// The listening address could not be bound.
    #[error(transparent)]
    Listen(#[from] NalError),
    /// The server's host name does not resolve.
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
    /// It has sent something (for the order of closing idle clients).
    heard: bool,
}

/// How far a connection to a cache server has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The TCP (or unix) connect is in progress.
    Connecting,
    /// Connected; the TLS handshake is in progress.
    Handshaking,
    /// Usable: the multiplexer has been told.
    Ready,
}

/// A connection to a cache server.
#[derive(Debug)]
struct UpstreamConn {
    conn: Connection,
    phase: Phase,
}

/// What the log says about one server's link.
#[derive(Debug, Default)]
struct LinkLog {
    up_since: Option<Instant>,
    down_since: Option<Instant>,
    failed_attempts: u64,
}

/// One server of the pool, as the driver keeps it.
#[derive(Debug)]
struct Upstream {
    spec: UpstreamSpec,
    /// Its address, looked up off the loop (host names only).
    resolver: Option<Resolver>,
    conn: Option<UpstreamConn>,
    log: LinkLog,
    /// TLS with it failed (logged once per interval).
    tls_log: RateLimitedLog,
    /// Its established connection lost.
    lost_log: RateLimitedLog,
    /// The queue to it full.
    full_log: RateLimitedLog,
    /// An operation its dialect cannot carry.
    unsupported_log: RateLimitedLog,
}

/// A Redis backend of the pool: its thread, started by [`Proxy::run`].
struct Backend {
    config: BackendConfig,
    name: String,
    running: Option<RedisBackend>,
    /// Replies taken from the thread, reused.
    replies: Vec<(u32, dc_ops::ReplyBuf)>,
}

/// The rate-limited warnings, one per kind.
#[derive(Debug)]
struct Logs {
    /// `-max-clients` reached, every client busy.
    refused: RateLimitedLog,
    /// `-max-clients` reached, an idle client closed to make room.
    evicted: RateLimitedLog,
    /// Accept failed (out of descriptors).
    accept: RateLimitedLog,
    /// A client closed for a protocol error or for not reading.
    clients: RateLimitedLog,
    /// A malformed request answered here.
    malformed: RateLimitedLog,
    /// A client closed at `-idle`.
    idle: RateLimitedLog,
    /// A client's requests left unread (pipeline or unread answers).
    throttled: RateLimitedLog,
}

impl Logs {
    fn new() -> Logs {
        let limit = || RateLimitedLog::new(LIMIT_LOG_INTERVAL);
        Logs {
            refused: limit(),
            evicted: limit(),
            accept: limit(),
            clients: limit(),
            malformed: limit(),
            idle: limit(),
            throttled: limit(),
        }
    }
}

/// The `dc_client` proxy: listeners for local clients, a connection to
/// each cache server, and the multiplexer between them.
pub struct Proxy {
    selector: Selector,
    listeners: Vec<(Listener, FrontKind)>,
    signals: Signals,
    locals: Slab<Local>,
    /// The local clients with nothing in flight, in the order to close
    /// them at `-max-clients`.
    idle: IdleList,
    /// Given up when accept runs out of descriptors.
    spare: SpareDescriptor,
    upstreams: Vec<Upstream>,
    /// The Redis backends; backend `i` is link `upstreams.len() + i`.
    backends: Vec<Backend>,
    mux: Mux,
    config: ProxyConfig,
    /// The last poll's events: token, and whether the peer hung up.
    tokens: Vec<(Token, bool)>,
    touched: Vec<ClientId>,
    accept_retry_at: Option<Instant>,
    /// Whether this turn of the loop wrote answers to local clients.
    answered: bool,
    logs: Logs,
    metrics: ProxyMetrics,
    next_tick: Instant,
}

impl Proxy {
    /// Binds the listening sockets and sets up signal handling. Nothing is
    /// sent to a server before [`run`](Self::run), so a caller can detach
    /// and drop privileges in between.
    pub fn bind(config: ProxyConfig) -> Result<Proxy, ProxyError> {
        if config.listen.is_empty() {
            return Err(ProxyError::NoListener);
        }
        let names: Vec<String> = config
            .servers
            .iter()
            .map(|s| ring_name(&s.address))
            .collect();
        let mut specs: Vec<ServerSpec> = names
            .iter()
            .zip(&config.servers)
            .map(|(name, spec)| match &spec.redis {
                Some(setup) => ServerSpec::redis(name.clone(), setup.clone()),
                None => ServerSpec::server(name.clone()),
            })
            .collect();
        let backends: Vec<Backend> = config
            .backends
            .iter()
            .map(|b| Backend {
                config: b.clone(),
                name: b.target.describe(),
                running: None,
                replies: Vec::new(),
            })
            .collect();
        specs.extend(backends.iter().map(|b| ServerSpec::backend(b.name.clone())));
        let mux = Mux::with_pool(config.mux, &specs, Instant::now())?;
        // The servers' names first: a typo fails before anything is bound.
        // Later lookups happen off the loop (see resolver).
        let limit = || RateLimitedLog::new(LIMIT_LOG_INTERVAL);
        let mut upstreams = Vec::with_capacity(config.servers.len());
        for spec in &config.servers {
            upstreams.push(Upstream {
                resolver: Resolver::for_address(&spec.address).map_err(ProxyError::Resolve)?,
                spec: spec.clone(),
                conn: None,
                log: LinkLog::default(),
                tls_log: limit(),
                lost_log: limit(),
                full_log: limit(),
                unsupported_log: limit(),
            });
        }
        // Handlers next: once a socket is bound, a supervisor that sees
        // it listening may signal us at once, and SIGUSR1/2 would kill.
        let mut signals = Signals::new([SIGINT, SIGTERM, SIGUSR1, SIGUSR2])
            .map_err(io_err("installing signal handlers"))?;
        let selector = Selector::new(1024).map_err(io_err("creating the event loop"))?;
        let mut listeners = Vec::with_capacity(config.listen.len());
        for (i, spec) in config.listen.iter().enumerate() {
            let mut listener = Listener::bind(&spec.address)?;
            selector
                .register(&mut listener, Token(LISTENER_BASE + i), Interest::READABLE)
                .map_err(io_err("registering a listener"))?;
            listeners.push((listener, spec.kind.clone()));
        }
        selector
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .map_err(io_err("registering signal handlers"))?;
        let addresses: Vec<String> = config
            .servers
            .iter()
            .map(|s| s.address.to_string())
            .chain(backends.iter().map(|b| b.name.clone()))
            .collect();
        let metrics = ProxyMetrics::new(&addresses, config.mux.max_clients);
        Ok(Proxy {
            selector,
            listeners,
            signals,
            locals: Slab::new(),
            idle: IdleList::new(),
            spare: SpareDescriptor::new(),
            upstreams,
            backends,
            mux,
            config,
            tokens: Vec::new(),
            touched: Vec::new(),
            accept_retry_at: None,
            answered: false,
            logs: Logs::new(),
            metrics,
            next_tick: Instant::now(),
        })
    }

    /// The metrics registry, for an HTTP exporter.
    pub fn metrics_registry(&self) -> std::sync::Arc<dc_metrics::Registry> {
        self.metrics.registry()
    }

    /// The address local clients connect to first (with the real port
    /// after a bind to port 0).
    pub fn local_address(&self) -> Address {
        self.listeners[0].0.local_address()
    }

    /// Every listening address, in the order configured.
    pub fn local_addresses(&self) -> Vec<Address> {
        self.listeners
            .iter()
            .map(|(l, _)| l.local_address())
            .collect()
    }

    /// Serves until a stop signal arrives.
    pub fn run(&mut self) -> Result<Shutdown, ProxyError> {
        let mux = *self.mux.config();
        let listening: Vec<String> = self
            .listeners
            .iter()
            .map(|(l, kind)| match kind {
                FrontKind::Distcache => l.local_address().to_string(),
                kind => format!("{} ({})", l.local_address(), kind.name()),
            })
            .collect();
        let servers: Vec<String> = self
            .upstreams
            .iter()
            .map(|u| u.spec.address.to_string())
            .chain(self.backends.iter().map(|b| b.name.clone()))
            .collect();
        self.start_backends()?;
        let replicas = if servers.len() > 1 {
            format!(
                ", {} replica{} of each key",
                mux.replicas,
                if mux.replicas == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        };
        info!(
            "listening on {}, forwarding to {}{}{replicas} (retry up to {} ms, timeout {}, idle {}, up to {} clients, spin {} µs{}{})",
            listening.join(", "),
            servers.join(", "),
            if self.upstreams.iter().any(|u| u.spec.tls.is_some()) {
                " over TLS"
            } else {
                ""
            },
            mux.retry.as_millis(),
            mux.timeout
                .map_or("none".to_owned(), |t| format!("{} ms", t.as_millis())),
            mux.idle
                .map_or("never".to_owned(), |t| format!("{} ms", t.as_millis())),
            mux.max_clients,
            self.config.spin.as_micros(),
            if self.config.one_cpu && !self.config.spin.is_zero() {
                " while every client waits: one CPU"
            } else {
                ""
            },
            self.config
                .notice
                .as_ref()
                .map_or(String::new(), |n| format!("; {n}")),
        );
        loop {
            let now = Instant::now();
            self.mux.handle_timeout(now);
            if self.accept_retry_at.is_some_and(|t| now >= t) {
                self.accept_every(now);
            }
            self.settle(now);
            if now >= self.next_tick {
                self.next_tick = now + TICK;
                self.publish();
            }

            let wake = earliest(
                earliest(self.mux.next_timeout(), self.accept_retry_at),
                Some(self.next_tick),
            );
            let sleep = wake.map_or(TICK, |t| {
                t.saturating_duration_since(Instant::now()).min(TICK)
            });
            self.wait(sleep).map_err(io_err("waiting for events"))?;

            let now = Instant::now();
            self.tokens.clear();
            self.tokens.extend(
                self.selector
                    .events()
                    .iter()
                    .map(|e| (e.token(), e.is_read_closed() || e.is_error())),
            );
            for i in 0..self.tokens.len() {
                let (token, hangup) = self.tokens[i];
                if hangup {
                    self.note_hangup(token);
                }
                match source(token) {
                    Source::Listener(index) => self.accept_all(index, now),
                    Source::Signals => {
                        if let Some(shutdown) = self.take_signals() {
                            self.shutdown();
                            return Ok(shutdown);
                        }
                    }
                    Source::Upstream(link) if link.0 >= self.upstreams.len() => {
                        self.drive_backend(link, now)
                    }
                    Source::Upstream(link) => self.drive_upstream(link, now),
                    Source::Local(key) => self.drive_client(key, now),
                }
                self.process_events(now);
            }
        }
    }

    fn publish(&mut self) {
        let servers = self.upstreams.len();
        let links: Vec<_> = (0..self.mux.links())
            .map(LinkId)
            .filter_map(|link| {
                let up = match link.0.checked_sub(servers) {
                    Some(b) => self
                        .backends
                        .get(b)
                        .and_then(|b| b.running.as_ref())
                        .is_some_and(RedisBackend::is_up),
                    None => self.mux.link_usable(link),
                };
                Some((self.mux.link_stats(link)?, up))
            })
            .collect();
        let gauges = Gauges {
            connections: self.locals.len(),
            upstream_up: links.iter().any(|&(_, up)| up),
            in_flight: self.mux.in_flight(),
        };
        self.metrics.publish(self.mux.stats(), gauges, &links);
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
            for link in 0..self.upstreams.len() {
                self.flush_upstream(LinkId(link), now);
            }
            self.flush_backends();
            if !self.mux.has_events() && !self.mux.has_touched() {
                return;
            }
        }
    }

    fn process_events(&mut self, now: Instant) {
        while let Some(event) = self.mux.poll_event() {
            match event {
                Event::Connect(link) => self.start_connect(link, now),
                Event::Disconnect(link, loss) => self.on_disconnect(link, loss, now),
                Event::Negotiated(link, dialect) => self.on_negotiated(link, dialect),
                Event::CloseClient(id, reason) => {
                    let key = id.handle();
                    let peer = self
                        .locals
                        .get(key)
                        .filter(|l| l.id == id)
                        .map(|l| l.conn.stream().peer_description());
                    let Some(peer) = peer else { continue };
                    let log = match &reason {
                        ClientClose::Idle(_) => &mut self.logs.idle,
                        _ => &mut self.logs.clients,
                    };
                    log.warn(now, || {
                        format!("closing local client {key} ({peer}): {reason}")
                    });
                    self.close_local(key);
                }
                Event::Malformed(id, error) => {
                    self.logs.malformed.warn(now, || {
                        format!(
                            "local client {}: {error}; answered DISCONNECTED, not forwarded",
                            id.handle()
                        )
                    });
                }
                Event::UpstreamFull(link) => {
                    let Some(up) = self.upstreams.get_mut(link.0) else {
                        continue;
                    };
                    let server = &up.spec.address;
                    up.full_log.warn(now, || {
                        format!(
                            "{UPSTREAM_OUTPUT_CAP} bytes of requests wait to be written to \
                             {server}: failing further requests there until it reads them"
                        )
                    });
                }
                Event::Unsupported(link, kind) => {
                    let Some(up) = self.upstreams.get_mut(link.0) else {
                        continue;
                    };
                    let server = &up.spec.address;
                    up.unsupported_log.warn(now, || {
                        format!(
                            "{server} speaks distcache 1.x only: a {kind:?} operation cannot \
                             be carried there and was answered as failed"
                        )
                    });
                }
            }
        }
    }

    // ---- local clients --------------------------------------------------

    /// Accepts on every listener (after accept had to pause).
    fn accept_every(&mut self, now: Instant) {
        for index in 0..self.listeners.len() {
            self.accept_all(index, now);
            if self.accept_retry_at.is_some() {
                return;
            }
        }
    }

    fn accept_all(&mut self, index: usize, now: Instant) {
        if index >= self.listeners.len() {
            return;
        }
        self.accept_retry_at = None;
        self.spare.restore();
        loop {
            match self.listeners[index].0.accept() {
                Ok(Some(stream)) => self.admit(stream, index, now),
                Ok(None) => return,
                Err(e) => {
                    self.metrics.accept_errors.inc();
                    let address = self.listeners[index].0.local_address();
                    self.logs
                        .accept
                        .warn(now, || format!("accept on {address} failed: {e}"));
                    if is_out_of_descriptors(&e) && self.spare.release() {
                        // The spare's slot takes the pending connection. Out
                        // of descriptors is as full as -max-clients: it is
                        // served if an idle client makes room, else closed
                        // at once; then the spare is taken back.
                        match self.listeners[index].0.accept() {
                            Ok(Some(stream)) => {
                                let room = self.evict_first(now);
                                if room {
                                    self.add_local(stream, index, now);
                                } else {
                                    // Closed before the spare is taken
                                    // back: it holds the spare's slot.
                                    drop(stream);
                                    self.mux.refused_client();
                                    self.log_refused(now);
                                }
                                self.spare.restore();
                                continue;
                            }
                            Ok(None) => {
                                self.spare.restore();
                                return;
                            }
                            Err(_) => {}
                        }
                    }
                    self.accept_retry_at = Some(now + ACCEPT_RETRY);
                    return;
                }
            }
        }
    }

    /// Serves a connection just accepted, closing the first idle client to
    /// make room at `-max-clients`; refuses it if every client is busy.
    fn admit(&mut self, stream: Stream, listener: usize, now: Instant) {
        if self.mux.clients() >= self.mux.config().max_clients {
            self.evict_first(now);
        }
        self.add_local(stream, listener, now);
    }

    /// Closes the first idle client (see [`IdleList`]) to make room for a
    /// new one. Returns whether there was one.
    fn evict_first(&mut self, now: Instant) -> bool {
        while let Some(first) = self.idle.pop_first() {
            let Some(local) = self.locals.get(first.key) else {
                continue;
            };
            if !self.mux.evict_client(local.id) {
                // Busy after all (the list is kept after every move, so
                // this is a bookkeeping slip, not a flood): try the next.
                continue;
            }
            let peer = local.conn.stream().peer_description();
            let idle_ms = now.saturating_duration_since(first.since).as_millis();
            let silent = match first.rank {
                Rank::Silent => ", having sent nothing",
                Rank::Spoken => "",
            };
            let max = self.mux.config().max_clients;
            self.logs.evicted.warn(now, || {
                format!(
                    "{max} local clients connected (-max-clients): closing local client {} \
                     ({peer}), idle for {idle_ms} ms{silent}, to make room for a new one",
                    first.key
                )
            });
            self.close_local(first.key);
            return true;
        }
        false
    }

    fn log_refused(&mut self, now: Instant) {
        let max = self.mux.config().max_clients;
        self.logs.refused.warn(now, || {
            format!(
                "refusing a local connection: {}",
                crate::error::AtCapacity { max }
            )
        });
    }

    /// Puts local client `key` on the idle list, or takes it off, by
    /// whether it has anything in flight after what just happened on it.
    fn note_activity(&mut self, key: usize, now: Instant) {
        let idle = self.locals.get(key).and_then(|local| {
            let settled = local.conn.input().is_empty()
                && !local.blocked
                && self.mux.has_client(local.id)
                && self.mux.client_settled(local.id);
            let rank = if local.heard {
                Rank::Spoken
            } else {
                Rank::Silent
            };
            settled.then_some(rank)
        });
        match idle {
            Some(rank) => self.idle.touch(key, rank, now),
            None => {
                self.idle.remove(key);
            }
        }
    }

    fn add_local(&mut self, stream: Stream, listener: usize, now: Instant) {
        let entry = self.locals.vacant_entry();
        let key = entry.key();
        let kind = &self.listeners[listener].1;
        let id = match self.mux.add_client_of(key, kind, now) {
            Ok(id) => id,
            Err(_) => {
                self.log_refused(now);
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
            heard: false,
        });
        self.note_activity(key, now);
        // Not driven now: a fresh connection has rarely sent anything yet,
        // so a read here would mostly hear EAGAIN. Bytes that did arrive
        // are not missed: registering a ready socket with epoll queues an
        // event for it (ep_insert), edge-triggered or not.
    }

    /// Reads what a client sent, hands it to the multiplexer and writes its
    /// answers, until none of that makes progress; then notes whether it is
    /// idle.
    fn drive_client(&mut self, key: usize, now: Instant) {
        self.move_client(key, now);
        self.note_activity(key, now);
    }

    fn move_client(&mut self, key: usize, now: Instant) {
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
                local.heard = true;
            }
            let input = self
                .mux
                .client_input(id, local.conn.input().as_slice(), now);
            local.conn.input_mut().consume(input.consumed);
            if input.blocked && !local.blocked {
                let peer = local.conn.stream().peer_description();
                self.logs.throttled.warn(now, || {
                    format!(
                        "local client {key} ({peer}) is not keeping up with its answers \
                         ({CLIENT_PIPELINE_MAX} requests waiting or {CLIENT_OUTPUT_HIGH_WATER} \
                         bytes unread): its further requests are left unread meanwhile"
                    )
                });
            }
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
                let histogram = &self.metrics.request_seconds;
                self.mux.client_written(id, written, Instant::now(), |d| {
                    histogram.observe(d.as_secs_f64())
                });
            }
            if self.mux.client_quit(id) && self.mux.client_settled(id) {
                debug!("local client {key} asked to close");
                self.drop_local(key);
                return;
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
                Some(local) if local.id == id => {
                    self.flush_client(key);
                    self.note_activity(key, now);
                }
                _ => {}
            }
        }
        self.touched = touched;
    }

    fn flush_client(&mut self, key: usize) {
        let Some(local) = self.locals.get_mut(key) else {
            return;
        };
        let id = local.id;
        let Some(out) = self.mux.client_output(id) else {
            return;
        };
        match write_buffer(out, local.conn.stream_mut()) {
            Ok(0) => {}
            Ok(n) => {
                self.answered = true;
                let histogram = &self.metrics.request_seconds;
                self.mux.client_written(id, n, Instant::now(), |d| {
                    histogram.observe(d.as_secs_f64())
                });
            }
            Err(e) => {
                debug!("local client {key} failed: {e}");
                self.drop_local(key);
                return;
            }
        }
        // A client that has closed its side (or asked to) and got every
        // answer it is owed.
        if (local.conn.is_read_closed() && local.conn.input().is_empty()
            || self.mux.client_quit(id))
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
        // Closing the socket takes it out of the epoll set: no
        // `epoll_ctl(DEL)` first, which was one syscall in eight of a
        // connection per operation (Apache's way). The descriptor is never
        // duplicated, so the close is the last reference to it.
        drop(self.locals.try_remove(key));
        self.idle.remove(key);
    }

    // ---- upstream -------------------------------------------------------

    fn start_connect(&mut self, link: LinkId, now: Instant) {
        let Some(up) = self.upstreams.get_mut(link.0) else {
            return;
        };
        // Closing the old socket takes it out of the epoll set.
        up.conn = None;
        let server = &up.spec.address;
        // A host name is never looked up here: that blocks (see resolver).
        let connected = match up.resolver.as_mut() {
            Some(resolver) => match resolver.target() {
                Some(target) => Stream::connect_resolved(server, target),
                None => Err(NalError::Resolve {
                    address: server.to_string(),
                    source: io::Error::new(
                        ErrorKind::NotFound,
                        "the host name has not resolved yet (looking it up again)",
                    ),
                }),
            },
            None => Stream::connect(server),
        };
        let stream = match connected {
            Ok(stream) => stream,
            Err(e) => {
                self.mux
                    .upstream_lost(link, UpstreamLoss::ConnectFailed(e.to_string()), now);
                return;
            }
        };
        let stream = match &up.spec.tls {
            Some(tls) => {
                match stream.into_tls_client(tls.config.clone(), tls.server_name.clone()) {
                    Ok(stream) => stream,
                    Err(e) => {
                        let reason = format!("cannot start TLS with {server}: {e}");
                        self.mux.upstream_lost(link, UpstreamLoss::Tls(reason), now);
                        return;
                    }
                }
            }
            None => stream,
        };
        let mut conn = Connection::new(stream, UPSTREAM_INPUT_CAP, 0);
        if let Err(e) = self.selector.register(
            &mut conn,
            Token(UPSTREAM_BASE + link.0),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            self.mux.upstream_lost(
                link,
                UpstreamLoss::ConnectFailed(format!("cannot watch the connection: {e}")),
                now,
            );
            return;
        }
        debug!("connecting to {server}");
        up.conn = Some(UpstreamConn {
            conn,
            phase: Phase::Connecting,
        });
    }

    /// Waits up to `sleep` for events: first polling without sleeping for
    /// up to [`ProxyConfig::spin`] while answers are awaited from the
    /// server, then blocking.
    fn wait(&mut self, sleep: Duration) -> io::Result<()> {
        let spin = self.config.spin.min(sleep);
        let answered = std::mem::take(&mut self.answered);
        // On one CPU, a client not waiting for us may want it.
        let yield_cpu = self.config.one_cpu
            && (answered || self.mux.requests_in_progress() < self.mux.clients());
        if spin.is_zero() || self.mux.in_flight() == 0 || yield_cpu {
            return self.selector.poll(Some(sleep));
        }
        let start = Instant::now();
        loop {
            self.selector.poll(Some(Duration::ZERO))?;
            if !self.selector.events().is_empty() {
                return Ok(());
            }
            let spent = start.elapsed();
            if spent >= spin {
                return self.selector.poll(Some(sleep.saturating_sub(spent)));
            }
            // No sched_yield here: with anything else runnable on this CPU
            // it hands over a whole time slice (milliseconds), not the
            // microseconds the answer is due in.
        }
    }

    /// Tells the connection behind `token` that its peer hung up, so that
    /// its next read goes on to the end of file (see `nal::Connection`).
    fn note_hangup(&mut self, token: Token) {
        let conn = match source(token) {
            Source::Upstream(link) => self
                .upstreams
                .get_mut(link.0)
                .and_then(|u| u.conn.as_mut())
                .map(|up| &mut up.conn),
            Source::Listener(_) | Source::Signals => None,
            Source::Local(key) => self.locals.get_mut(key).map(|local| &mut local.conn),
        };
        if let Some(conn) = conn {
            conn.note_hangup();
        }
    }

    /// Starts each backend's thread, with a waker for its replies. In
    /// [`run`](Self::run), not [`bind`](Self::bind): a thread would not
    /// survive the fork of `-daemon`, and it should run as the `-user`.
    fn start_backends(&mut self) -> Result<(), ProxyError> {
        let servers = self.upstreams.len();
        for (i, backend) in self.backends.iter_mut().enumerate() {
            let token = Token(UPSTREAM_BASE + servers + i);
            let waker = Arc::new(
                self.selector
                    .waker(token)
                    .map_err(io_err("creating a backend's waker"))?,
            );
            let wake: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
                let _ = waker.wake();
            });
            let running = RedisBackend::start(backend.config.clone(), wake)
                .map_err(io_err("starting a backend's thread"))?;
            backend.running = Some(running);
        }
        Ok(())
    }

    /// A backend's thread has replies: hand them to the multiplexer.
    fn drive_backend(&mut self, link: LinkId, now: Instant) {
        let Some(backend) = link
            .0
            .checked_sub(self.upstreams.len())
            .and_then(|i| self.backends.get_mut(i))
        else {
            return;
        };
        let Some(running) = backend.running.as_ref() else {
            return;
        };
        running.take_replies(&mut backend.replies);
        let histogram = &self.metrics.upstream_seconds;
        let server_histogram = self.metrics.server_seconds(link.0);
        for (tag, reply) in backend.replies.drain(..) {
            self.mux
                .backend_reply(link, tag, Some(reply), now, |waited| {
                    histogram.observe(waited.as_secs_f64());
                    if let Some(h) = server_histogram {
                        h.observe(waited.as_secs_f64());
                    }
                });
        }
    }

    /// Hands the operations queued for each backend to its thread.
    fn flush_backends(&mut self) {
        let servers = self.upstreams.len();
        for (i, backend) in self.backends.iter().enumerate() {
            let Some(running) = backend.running.as_ref() else {
                continue;
            };
            let Some(queue) = self.mux.backend_queue(LinkId(servers + i)) else {
                continue;
            };
            running.submit_all(queue);
        }
    }

    fn drive_upstream(&mut self, link: LinkId, now: Instant) {
        let Some(upstream) = self.upstreams.get_mut(link.0) else {
            return;
        };
        let Some(up) = upstream.conn.as_mut() else {
            return;
        };
        let server = &upstream.spec.address;
        if up.phase == Phase::Connecting {
            match up.conn.stream().is_connected() {
                Ok(true) if up.conn.stream().is_tls() => up.phase = Phase::Handshaking,
                Ok(true) => up.phase = Phase::Ready,
                Ok(false) => return,
                Err(e) => {
                    let reason = format!("cannot connect to {server}: {e}");
                    self.mux
                        .upstream_lost(link, UpstreamLoss::ConnectFailed(reason), now);
                    return;
                }
            }
        }
        if up.phase == Phase::Handshaking {
            match advance_handshake(&mut up.conn) {
                Ok(false) => return,
                Ok(true) => up.phase = Phase::Ready,
                Err(e) => {
                    let reason = format!("TLS handshake with {server} failed: {e}");
                    let reason = format!("{reason}{}", hint(&reason));
                    self.mux.upstream_lost(link, UpstreamLoss::Tls(reason), now);
                    return;
                }
            }
        }
        if matches!(
            self.mux.link_state(link),
            Some(LinkState::Connecting { .. })
        ) {
            self.mux.upstream_connected(link, now);
            if self.mux.link_state(link) != Some(LinkState::Up) {
                return; // the multiplexer gave up on it meanwhile
            }
            let tls = if up.conn.stream().is_tls() {
                " (TLS)"
            } else {
                ""
            };
            let log = &mut upstream.log;
            match log.down_since.take() {
                Some(since) => info!(
                    "connected to {server}{tls} again, after {} ms without it ({} failed attempts)",
                    now.duration_since(since).as_millis(),
                    log.failed_attempts
                ),
                None => info!("connected to {server}{tls}"),
            }
            log.up_since = Some(now);
            log.failed_attempts = 0;
        }
        loop {
            let fill = match up.conn.fill() {
                Ok(fill) => fill,
                Err(e) => {
                    let loss = io_loss(&up.conn, "reading from the server failed", e);
                    self.mux.upstream_lost(link, loss, now);
                    return;
                }
            };
            let histogram = &self.metrics.upstream_seconds;
            let server_histogram = self.metrics.server_seconds(link.0);
            let consumed =
                self.mux
                    .upstream_input_timed(link, up.conn.input().as_slice(), now, |waited| {
                        histogram.observe(waited.as_secs_f64());
                        if let Some(h) = server_histogram {
                            h.observe(waited.as_secs_f64());
                        }
                    });
            up.conn.input_mut().consume(consumed);
            if self.mux.link_state(link) != Some(LinkState::Up) {
                return; // the multiplexer gave up on it
            }
            if fill.eof {
                self.mux.upstream_lost(link, UpstreamLoss::Closed, now);
                return;
            }
            if fill.full && consumed > 0 {
                continue;
            }
            break;
        }
        self.flush_upstream(link, now);
    }

    fn flush_upstream(&mut self, link: LinkId, now: Instant) {
        let Some(up) = self
            .upstreams
            .get_mut(link.0)
            .and_then(|u| u.conn.as_mut())
            .filter(|u| u.phase == Phase::Ready)
        else {
            return;
        };
        let Some(out) = self.mux.upstream_output(link) else {
            return;
        };
        let tls = up.conn.stream().is_tls();
        if out.is_empty() && !tls {
            return;
        }
        let mut written = write_buffer(out, up.conn.stream_mut()).map(drop);
        if tls && written.is_ok() {
            // TLS records may wait in rustls after the plaintext went in.
            written = push_records(up.conn.stream_mut());
        }
        if let Err(e) = written {
            let loss = io_loss(&up.conn, "writing to the server failed", e);
            self.mux.upstream_lost(link, loss, now);
        }
    }

    fn on_negotiated(&mut self, link: LinkId, dialect: Dialect) {
        let Some(up) = self.upstreams.get(link.0) else {
            return;
        };
        let server = &up.spec.address;
        match dialect {
            Dialect::Classic => info!(
                "{server} speaks distcache 1.x only (no protocol extension): GET, HAVE, ADD \
                 and DELETE of ids up to 64 bytes go there; other operations fail at once"
            ),
            Dialect::Extended => debug!("{server} speaks the protocol extension"),
            Dialect::Unknown | Dialect::Backend | Dialect::Redis => {}
        }
    }

    fn on_disconnect(&mut self, link: LinkId, loss: UpstreamLoss, now: Instant) {
        let state = self.mux.link_state(link);
        let pool = self.upstreams.len() > 1;
        let distcache_only = self
            .listeners
            .iter()
            .all(|(_, kind)| *kind == FrontKind::Distcache);
        let Some(up) = self.upstreams.get_mut(link.0) else {
            return;
        };
        up.conn = None;
        let next = match state {
            Some(LinkState::Down { retry_at }) => retry_at.saturating_duration_since(now),
            _ => Duration::ZERO,
        };
        let server = &up.spec.address;
        // What requests get meanwhile.
        let meanwhile = if pool {
            "its keys go to the next server of the ring until it is back".to_owned()
        } else if distcache_only {
            "answering DISCONNECTED until it is back".to_owned()
        } else {
            "answering every request with its protocol's failure at once until it is back"
                .to_owned()
        };
        let log = &mut up.log;
        let was_up = log.up_since.take().is_some();
        if was_up {
            log.down_since = Some(now);
        } else {
            log.down_since.get_or_insert(now);
            log.failed_attempts += 1;
        }
        if loss.reason() == LossReason::Tls {
            // Every attempt fails the same way until someone fixes the
            // certificates: once per interval is enough.
            let line = format!(
                "{loss}; {meanwhile} (TLS with {server} must work; next attempt in {} ms)",
                next.as_millis()
            );
            if !up.tls_log.warn(now, || line.clone()) {
                debug!("{line}");
            }
            return;
        }
        if was_up {
            let line = format!(
                "lost the connection to {server}: {loss}; {meanwhile} (next attempt in {} ms)",
                next.as_millis()
            );
            if !up.lost_log.warn(now, || line.clone()) {
                debug!("{line}");
            }
            return;
        }
        if log.failed_attempts == 1 {
            warn!(
                "{loss}; {meanwhile} (retrying {server} from 1 ms apart, backing off to \
                 every {} ms)",
                self.mux.config().retry.as_millis()
            );
        } else {
            debug!("{loss} (attempt {})", log.failed_attempts);
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
             server, {} answered DISCONNECTED ({} for a full queue to the server), {} refused \
             ADDs, {} malformed, {} late answers dropped; {} clients accepted, {} refused, \
             {} evicted, {} corrupt, {} cut off, {} idle, {} throttled; {} connect attempts, \
             {} connects, \
             {} lost, {} TLS failures",
            self.locals.len(),
            s.requests,
            s.forwarded,
            s.answered,
            s.disconnected,
            s.overloaded,
            s.refused,
            s.malformed,
            s.late_answers,
            s.clients,
            s.clients_refused,
            s.clients_evicted,
            s.clients_corrupt,
            s.clients_cut_off,
            s.clients_idle,
            s.throttled,
            s.connect_attempts,
            s.connects,
            s.losses,
            s.gave_up(LossReason::Tls),
        );
        for (_, local) in self.locals.iter_mut() {
            if let Some(out) = self.mux.client_output(local.id) {
                let _ = write_buffer(out, local.conn.stream_mut());
            }
        }
        self.locals.clear();
        for up in &mut self.upstreams {
            up.conn = None;
        }
        // Their threads stop and are joined.
        for backend in &mut self.backends {
            backend.running = None;
        }
    }
}

/// Moves a TLS handshake on: sends what rustls has for the server (our
/// hello, our certificate and finished), reads and processes what the
/// server sent. `Ok(true)` once it is done.
fn advance_handshake(conn: &mut Connection) -> io::Result<bool> {
    push_records(conn.stream_mut())?;
    let fill = conn.fill()?;
    let handshaking = match conn.stream() {
        Stream::Tls(tls) => tls.is_handshaking(),
        _ => false,
    };
    if !handshaking {
        return Ok(true);
    }
    if fill.eof {
        return Err(io::Error::new(
            ErrorKind::UnexpectedEof,
            "the server closed the connection (does it serve TLS?)",
        ));
    }
    Ok(false)
}

/// Pushes the TLS records rustls holds to the socket, as far as it takes
/// them (a no-op for other streams).
fn push_records(stream: &mut Stream) -> io::Result<()> {
    loop {
        match stream.flush() {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// What an I/O error on the server connection means: rustls' errors (kind
/// `InvalidData`, "TLS: ...") are TLS failures, with a hint.
fn io_loss(conn: &Connection, what: &str, e: io::Error) -> UpstreamLoss {
    if conn.stream().is_tls() && e.kind() == ErrorKind::InvalidData {
        let reason = e.to_string();
        let hint = hint(&reason);
        UpstreamLoss::Tls(format!("{what}: {reason}{hint}"))
    } else {
        UpstreamLoss::Io(format!("{what}: {e}"))
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

/// A server's name on the ring: `host:port`, as libmemcached names its
/// servers (so a pool places keys as a ketama memcache client would), or a
/// unix socket's path.
pub fn ring_name(address: &Address) -> String {
    match address {
        Address::Ip {
            host: Some(host),
            port,
        } if host.contains(':') => format!("[{host}]:{port}"),
        Address::Ip {
            host: Some(host),
            port,
        } => format!("{host}:{port}"),
        Address::Ip { host: None, port } => format!("localhost:{port}"),
        Address::Unix(path) => path.display().to_string(),
    }
}
