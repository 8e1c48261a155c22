//! The event loops that serve clients over real sockets.
//!
//! One [`Selector`](nal::Selector) per worker thread. Readiness is
//! edge-triggered, so each connection is driven until it would block in
//! both directions: read what has arrived, answer every whole request,
//! write the answers. Answers are built in one scratch buffer per worker
//! and written straight from it; only what the socket does not take at
//! once is copied into the connection's capped output buffer.
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
//!
//! # Threads
//!
//! With [`ServerConfig::threads`] at 1 there is one loop and it owns a
//! [`MemoryStore`]: no lock anywhere. With more, each worker runs its own
//! loop on its own thread and they share a [`ShardedStore`]; a request
//! locks only its id's shard, for the time of one store operation. The
//! first worker also owns the listener and the signals: it keeps each new
//! connection unless another worker serves fewer, in which case it hands
//! the connection over (see [`hub`]). So one busy connection never pays a
//! cross-thread wake-up, and many connections spread over the cores.

mod hub;
mod worker;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use dc_resp::RespConfig;
use dc_store::{shards_for, Limits, MemoryStore, Millis, ShardedStore};
use log::{info, warn};
use nal::{Address, Listener, NalError};
use thiserror::Error;

use crate::dispatch::SharedStore;
use crate::execute::Executor;
use crate::metrics::ServerMetrics;
use crate::session::FrontDoor;
use hub::Hub;
use worker::Worker;

/// Bytes of received data buffered per connection: several whole frames,
/// so one read syscall can bring in a burst of pipelined requests.
pub const INPUT_CAP: usize = 64 * 1024;
/// Default answers waiting for a slow reader beyond which its requests are
/// no longer served until it reads some.
pub const DEFAULT_MAX_BUFFER: usize = 256 * 1024;
/// The largest single answer (16 full frames): a connection's output buffer
/// holds its high-water mark plus this, since one answer may start just
/// below the mark.
pub const MAX_ANSWER: usize = dc_protocol::MAX_PAYLOAD + 16 * dc_protocol::HEADER_LEN;

/// Most bytes a plain (not TLS) connection's buffers hold with
/// `-max-buffer` at `max_buffer` bytes: [`INPUT_CAP`] received, and
/// `max_buffer` plus one [`MAX_ANSWER`] waiting to be sent. The term per
/// connection of the memory bound in docs/server.md.
pub const fn connection_buffer_bound(max_buffer: usize) -> usize {
    INPUT_CAP + max_buffer + MAX_ANSWER
}
/// Default most client connections served at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Shortest time between two log lines about the same limit being hit.
pub const LIMIT_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Longest a loop sleeps without events: the period of expiry purges, of
/// metrics publication and of the activity line checks.
pub const TICK: Duration = Duration::from_millis(500);
/// Longest a stopping server waits for clients to read the answers they are
/// owed.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Shards per worker thread when the store is shared: enough that two
/// threads rarely want the same shard at once.
pub const SHARDS_PER_THREAD: usize = 4;
/// Most worker threads accepted by [`ServerConfig::threads`].
pub const MAX_THREADS: usize = 64;

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

/// One address to listen on, and the protocol spoken there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    /// Where.
    pub address: Address,
    /// What protocol.
    pub door: FrontDoor,
}

/// Most listening sockets one server has.
pub const MAX_LISTENERS: usize = 64;

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Limits on client connections.
    pub connections: ConnectionLimits,
    /// Where to listen, and what to speak there (at least one, at most
    /// [`MAX_LISTENERS`]).
    pub listeners: Vec<Listen>,
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
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Worker threads (1 to [`MAX_THREADS`]; other values are clamped).
    pub threads: usize,
    /// Longest lifetime of any entry, in milliseconds, whatever the
    /// protocol asked for.
    pub max_ttl: Millis,
    /// The RESP front door's settings (its password).
    pub redis: Arc<RespConfig>,
}

/// Why the server could not start or had to stop.
#[derive(Debug, Error)]
pub enum ServerError {
    /// The listening address could not be bound.
    #[error(transparent)]
    Listen(#[from] NalError),
    /// No listener, or too many.
    #[error("{0} listening addresses given: between 1 and {MAX_LISTENERS} are needed")]
    Listeners(usize),
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

/// The loops, by how the store is reached.
enum Workers {
    /// One thread owning its store.
    One(Box<Worker<MemoryStore>>),
    /// Several threads sharing a sharded store; the first one accepts.
    Many(Vec<Worker<SharedStore<MemoryStore>>>),
}

/// The distcache server: a listener, its clients and the session store.
pub struct Server {
    workers: Workers,
    hub: Arc<Hub>,
    metrics: ServerMetrics,
}

impl Server {
    /// Binds the listening socket and sets up signal handling and the
    /// workers' event loops; serving starts with [`run`](Self::run), which
    /// starts the threads. Binding first lets a caller drop privileges and
    /// detach (fork) in between.
    pub fn bind(config: ServerConfig) -> Result<Server, ServerError> {
        let threads = config.threads.clamp(1, MAX_THREADS);
        if config.listeners.is_empty() || config.listeners.len() > MAX_LISTENERS {
            return Err(ServerError::Listeners(config.listeners.len()));
        }
        let metrics = ServerMetrics::new();
        let mut listeners = Vec::with_capacity(config.listeners.len());
        for listen in &config.listeners {
            listeners.push((Listener::bind(&listen.address)?, listen.door));
        }
        let addresses = listeners.iter().map(|(l, _)| l.local_address()).collect();
        let (hub, selectors) = Hub::new(config, addresses, threads)?;
        let first = selectors.first().ok_or_else(no_selector)?;
        let mut front = Some(worker::Front::new(listeners, first)?);
        let mut selectors = selectors.into_iter();
        let workers = if threads == 1 {
            let selector = selectors.next().ok_or_else(no_selector)?;
            let store = MemoryStore::new(hub.config.limits);
            Workers::One(Box::new(Worker::new(
                0,
                selector,
                front.take(),
                Executor::new(store, hub.config.max_ttl),
                &hub,
                metrics.clone(),
            )))
        } else {
            let limits = hub.config.limits;
            let shards = shards_for(&limits, threads * SHARDS_PER_THREAD);
            // shards_for keeps every share above the minimums.
            let store = ShardedStore::memory(limits, shards).map_err(|e| ServerError::Io {
                what: "sharing out the store's limits",
                source: io::Error::new(io::ErrorKind::InvalidInput, e),
            })?;
            let store = SharedStore(Arc::new(store));
            Workers::Many(
                selectors
                    .enumerate()
                    .map(|(index, selector)| {
                        Worker::new(
                            index,
                            selector,
                            front.take(),
                            Executor::new(store.clone(), hub.config.max_ttl),
                            &hub,
                            metrics.clone(),
                        )
                    })
                    .collect(),
            )
        };
        let workers = match workers {
            Workers::Many(ws) if ws.is_empty() => return Err(no_selector()),
            w => w,
        };
        Ok(Server {
            workers,
            hub,
            metrics,
        })
    }

    /// The first address actually listened on (with the real port after a
    /// bind to port 0).
    pub fn local_address(&self) -> Address {
        self.hub.local_addresses[0].clone()
    }

    /// Every address listened on, in the order of the configuration.
    pub fn local_addresses(&self) -> &[Address] {
        &self.hub.local_addresses
    }

    /// The listeners, as the start-up line names them.
    fn listening(&self) -> String {
        let doors = self.hub.config.listeners.iter().map(|l| l.door);
        let all_distcache = self.hub.config.listeners.len() == 1
            && self.hub.config.listeners[0].door == FrontDoor::Distcache;
        self.hub
            .local_addresses
            .iter()
            .zip(doors)
            .map(|(address, door)| {
                if all_distcache {
                    address.to_string()
                } else {
                    format!("{address} ({})", door.name())
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The metrics registry, for an HTTP exporter.
    pub fn metrics_registry(&self) -> Arc<dc_metrics::Registry> {
        self.metrics.registry()
    }

    /// Serves until a stop signal arrives, then lets every worker answer
    /// what it has received and returns once all have stopped.
    pub fn run(&mut self) -> Result<Shutdown, ServerError> {
        let limits = self.hub.config.limits;
        let listening = self.listening();
        match &mut self.workers {
            Workers::One(worker) => {
                info!(
                    "listening on {}, up to {} sessions and {} bytes of session data",
                    listening, limits.max_sessions, limits.max_bytes
                );
                worker.run()
            }
            Workers::Many(workers) => {
                info!(
                    "listening on {} with {} threads, up to {} sessions and {} bytes of session data",
                    listening,
                    workers.len(),
                    limits.max_sessions,
                    limits.max_bytes
                );
                let hub = Arc::clone(&self.hub);
                let Some((first, rest)) = workers.split_first_mut() else {
                    return Err(no_selector());
                };
                std::thread::scope(|scope| {
                    let mut handles = Vec::new();
                    for worker in rest {
                        let index = worker.index();
                        let spawned = std::thread::Builder::new()
                            .name(format!("dc_server-{index}"))
                            .spawn_scoped(scope, move || worker.run());
                        match spawned {
                            Ok(handle) => handles.push((index, handle)),
                            Err(e) => {
                                // The others serve on; the first worker never
                                // hands a connection to a worker that is gone.
                                warn!("cannot start worker thread {index}: {e}");
                                hub.retire(index);
                            }
                        }
                    }
                    let result = first.run();
                    hub.stop_all();
                    for (index, handle) in handles {
                        match handle.join() {
                            Ok(Ok(_)) => {}
                            Ok(Err(e)) => warn!("worker {index} failed: {e}"),
                            Err(_) => warn!("worker {index} panicked"),
                        }
                    }
                    result
                })
            }
        }
    }
}

fn no_selector() -> ServerError {
    ServerError::Io {
        what: "setting up the workers",
        source: io::Error::other("no event loop was created"),
    }
}
