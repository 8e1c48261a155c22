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
//! requests are sent.
//!
//! # Admission
//!
//! When [`ConnectionLimits::max_connections`] are open, a newcomer is let
//! in by closing a connection that has nothing in flight (no partial
//! request buffered, no answer owed or unsent): one that never sent
//! anything first, else the one idle longest (see [`nal::IdleList`]; over
//! several workers, see [`hub`]). So a flood of idle connections cannot
//! lock out a client that sends requests. Only if every connection is busy
//! is the newcomer refused: accepted and closed at once. The binary sizes
//! the limit to the open-files limit, so the kernel's descriptors do not run
//! out first; if they do anyway (`EMFILE`, `ENFILE`), a spare descriptor is
//! given up to accept the pending connection, which is then admitted the
//! same way or closed, and without a spare the accept is retried on the next
//! tick: never spun on. Each limit, when hit, is counted in the metrics and
//! logged at most once per [`LIMIT_LOG_INTERVAL`].
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

mod bulk_load;
mod hub;
mod snapshot;
mod worker;

use std::io;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use dc_resp::RespConfig;
use dc_snapshot::SnapshotError;
use dc_store::{shards_for, Limits, MemoryStore, Millis, SessionStore, ShardedStore, StoreMode};
use log::{error, info, warn};
use nal::{Address, Listener, NalError};
use thiserror::Error;

use crate::dispatch::SharedStore;
use crate::execute::Executor;
use crate::metrics::ServerMetrics;
use crate::session::FrontDoor;
use bulk_load::BulkLoader;
use hub::Hub;
use worker::Worker;

pub use snapshot::{Loaded, Saved, SnapshotConfig, PIECE};

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
    /// Most connections served at once: beyond it, an idle one is closed to
    /// make room, or the newcomer refused if none is idle.
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
    /// Said at the end of the start-up line: why a limit is lower than
    /// asked (e.g. "-max-connections 4096 lowered to 230: open files limit
    /// is 256").
    pub notice: Option<String>,
    /// Warm restart: the snapshot file to load at start (with
    /// [`Server::restore`]) and to write at shutdown; `None`: none.
    pub snapshot: Option<SnapshotConfig>,
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
    /// The snapshot could not be written, or (with
    /// [`SnapshotConfig::strict`]) read.
    #[error("snapshot {}: {source}", path.display())]
    Snapshot {
        /// The snapshot file.
        path: PathBuf,
        /// What is wrong.
        source: SnapshotError,
    },
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
    /// The store the workers share, when they share one.
    shared: Option<Arc<ShardedStore<MemoryStore>>>,
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
        metrics.set_limits(&config.limits, config.connections.max_connections);
        let mut listeners = Vec::with_capacity(config.listeners.len());
        for listen in &config.listeners {
            listeners.push((Listener::bind(&listen.address)?, listen.door));
        }
        let addresses = listeners.iter().map(|(l, _)| l.local_address()).collect();
        let (hub, selectors) = Hub::new(config, addresses, threads)?;
        let first = selectors.first().ok_or_else(no_selector)?;
        let mut front = Some(worker::Front::new(listeners, first)?);
        let mut selectors = selectors.into_iter();
        // A periodic snapshot is written by a thread of its own, which
        // needs the store shared even with one worker.
        let periodic = hub
            .config
            .snapshot
            .as_ref()
            .is_some_and(|s| s.interval.is_some());
        let mut shared = None;
        let workers = if threads == 1 && !periodic {
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
            shared = Some(Arc::clone(&store.0));
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
            shared,
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
        let shutdown = self.serve()?;
        self.save_snapshot()?;
        Ok(shutdown)
    }

    /// Drops the server for a process exit: listeners closed (their socket
    /// files removed), connections and threads gone, but the sessions'
    /// memory left for the kernel to take back at exit, all at once.
    /// Dropping the store would wipe and free it page by page (about 2 s
    /// for 1 GB of sessions on the development VM), which a restart would
    /// wait for; the kernel zeroes every page before another process can
    /// map it. Only for a process that exits next: until then the sessions
    /// stay in its memory.
    pub fn close_for_exit(mut self) {
        if let Some(shared) = &self.shared {
            std::mem::forget(Arc::clone(shared));
        }
        if let (Workers::One(worker), Ok(tiny)) =
            (&mut self.workers, Limits::new(1, dc_store::MIN_MAX_BYTES))
        {
            std::mem::forget(std::mem::replace(
                worker.store_mut(),
                MemoryStore::new(tiny),
            ));
        }
    }

    /// The serving part of [`run`](Self::run).
    fn serve(&mut self) -> Result<Shutdown, ServerError> {
        let limits = self.hub.config.limits;
        let listening = self.listening();
        let connections = self.hub.config.connections.max_connections;
        let notice = self
            .hub
            .config
            .notice
            .as_ref()
            .map_or(String::new(), |n| format!(" ({n})"));
        match &mut self.workers {
            Workers::One(worker) => {
                info!(
                    "listening on {}, up to {} sessions and {} bytes of session data, \
                     {connections} connections{notice}",
                    listening, limits.max_sessions, limits.max_bytes
                );
                worker.run()
            }
            Workers::Many(workers) => {
                info!(
                    "listening on {} with {} threads, up to {} sessions and {} bytes of session \
                     data, {connections} connections{notice}",
                    listening,
                    workers.len(),
                    limits.max_sessions,
                    limits.max_bytes
                );
                let hub = Arc::clone(&self.hub);
                let shared = self.shared.clone();
                let abort = AtomicBool::new(false);
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
                    let (stop_snapshots, stopped) = mpsc::channel::<()>();
                    let periodic = hub.config.snapshot.as_ref().and_then(|config| {
                        let (interval, store) = (config.interval?, shared.as_deref()?);
                        let (hub, abort, stopped) = (&hub, &abort, stopped);
                        let spawned = std::thread::Builder::new()
                            .name("dc_server-snapshot".into())
                            .spawn_scoped(scope, move || {
                                while let Err(mpsc::RecvTimeoutError::Timeout) =
                                    stopped.recv_timeout(interval)
                                {
                                    save_logged(hub, config, store, abort);
                                }
                            });
                        spawned
                            .map_err(|e| warn!("cannot start the snapshot thread: {e}"))
                            .ok()
                    });
                    let result = first.run();
                    hub.stop_all();
                    // A periodic write under way is abandoned: the final
                    // one follows at once.
                    abort.store(true, std::sync::atomic::Ordering::Relaxed);
                    drop(stop_snapshots);
                    if let Some(handle) = periodic {
                        let _ = handle.join();
                    }
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

impl Server {
    /// Loads the configured snapshot into the store; call it once, after
    /// dropping privileges and before [`run`](Self::run) (clients that
    /// connect meanwhile wait in the backlog). A missing file is a first
    /// start. A bad one is logged in one line, renamed aside to
    /// `FILE.bad-<unix time>`, and the server starts empty; unless the
    /// configuration is strict, when it is an error (and the file stays).
    pub fn restore(&mut self) -> Result<Option<Loaded>, ServerError> {
        let Some(config) = self.hub.config.snapshot.clone() else {
            return Ok(None);
        };
        let now = self.now();
        let unix_ms = worker::unix_ms();
        let max_ttl = self.hub.config.max_ttl;
        let loaded = match (&mut self.workers, &self.shared) {
            (Workers::One(worker), _) => {
                let store = worker.store_mut();
                let loaded = snapshot::load(
                    &config.path,
                    now,
                    unix_ms,
                    max_ttl,
                    |id, data, flags, at| {
                        let _ = store.store(StoreMode::Set, id, data, flags, at, now);
                    },
                );
                if loaded.is_err() {
                    *store = MemoryStore::new(*store.limits());
                }
                loaded
            }
            (Workers::Many(workers), Some(shared)) => {
                let loaded = std::thread::scope(|scope| {
                    // One storing thread per worker: the threads the
                    // operator gave the server.
                    let mut loader = BulkLoader::start(scope, shared, workers.len(), now)
                        .map_err(SnapshotError::Io)?;
                    let loaded = snapshot::load(
                        &config.path,
                        now,
                        unix_ms,
                        max_ttl,
                        |id, data, flags, at| loader.insert(id, data, flags, at),
                    );
                    if loader.finish() {
                        loaded
                    } else {
                        Err(SnapshotError::Io(io::Error::other(
                            "a thread storing the sessions failed",
                        )))
                    }
                });
                if loaded.is_err() {
                    for shard in 0..shared.shard_count() {
                        let mut store = shared.lock_shard(shard);
                        *store = MemoryStore::new(*store.limits());
                    }
                }
                loaded
            }
            (Workers::Many(_), None) => return Err(no_selector()),
        };
        if loaded.is_ok() {
            // The snapshot the last write replaced (kept under a second name
            // so that the rename did not drop its pages at shutdown): removed
            // while serving, on a thread of its own. After a bad load it is
            // kept, the one good copy there may be.
            let written = config.path.clone();
            let spawned = std::thread::Builder::new()
                .name("dc_server-snapshot-cleanup".into())
                .spawn(move || snapshot::remove_superseded(&written));
            if let Err(e) = spawned {
                warn!(
                    "snapshot {}: cannot start the cleanup thread: {e}",
                    config.path.display()
                );
            }
        }
        let path = config.path.display();
        match loaded {
            Ok(Some(loaded)) => {
                info!(
                    "snapshot {path}: loaded {} sessions in {} ms ({} expired since it was written)",
                    loaded.sessions,
                    loaded.took.as_millis(),
                    loaded.expired
                );
                Ok(Some(loaded))
            }
            Ok(None) => {
                info!("snapshot {path}: none yet, starting empty");
                Ok(None)
            }
            Err(source) if config.strict => Err(ServerError::Snapshot {
                path: config.path.clone(),
                source,
            }),
            Err(e) => {
                match snapshot::set_aside(&config.path, unix_ms) {
                    Ok(aside) => warn!(
                        "snapshot {path}: {e}; set aside as {}, starting empty",
                        aside.display()
                    ),
                    Err(moved) => {
                        warn!("snapshot {path}: {e}; cannot set it aside ({moved}), starting empty")
                    }
                }
                Ok(None)
            }
        }
    }

    /// The store's clock.
    fn now(&self) -> Millis {
        Millis::try_from(self.hub.started.elapsed().as_millis()).unwrap_or(Millis::MAX)
    }

    /// Writes the configured snapshot once serving has stopped.
    fn save_snapshot(&self) -> Result<(), ServerError> {
        let Some(config) = &self.hub.config.snapshot else {
            return Ok(());
        };
        let store: &dyn snapshot::Walkable = match (&self.workers, &self.shared) {
            (_, Some(shared)) => shared.as_ref(),
            (Workers::One(worker), None) => worker.store(),
            (Workers::Many(_), None) => return Err(no_selector()),
        };
        let saved = snapshot::save(
            &config.path,
            store,
            self.now(),
            worker::unix_ms(),
            snapshot::Writing::Final {
                threads: std::thread::available_parallelism().map_or(1, usize::from),
            },
        )
        .map_err(|source| ServerError::Snapshot {
            path: config.path.clone(),
            source,
        })?;
        if let Some(saved) = saved {
            log_saved(config, &saved);
        }
        Ok(())
    }
}

/// A periodic snapshot: logged, whatever happens, and never fatal.
fn save_logged(
    hub: &Hub,
    config: &SnapshotConfig,
    store: &ShardedStore<MemoryStore>,
    abort: &AtomicBool,
) {
    let now = Millis::try_from(hub.started.elapsed().as_millis()).unwrap_or(Millis::MAX);
    match snapshot::save(
        &config.path,
        store,
        now,
        worker::unix_ms(),
        snapshot::Writing::Live(abort),
    ) {
        Ok(Some(saved)) => {
            log_saved(config, &saved);
            // On this background thread the dropped pages cost nobody; the
            // final write then finds no leftover to remove.
            snapshot::remove_superseded(&config.path);
        }
        Ok(None) => info!(
            "snapshot {}: periodic write abandoned for the final one",
            config.path.display()
        ),
        Err(e) => error!("snapshot {}: cannot write it: {e}", config.path.display()),
    }
}

fn log_saved(config: &SnapshotConfig, saved: &Saved) {
    info!(
        "snapshot {}: wrote {} sessions, {} bytes, in {} ms (and {} ms to sync)",
        config.path.display(),
        saved.sessions,
        saved.bytes,
        saved.write.as_millis(),
        saved.sync.as_millis()
    );
}

fn no_selector() -> ServerError {
    ServerError::Io {
        what: "setting up the workers",
        source: io::Error::other("no event loop was created"),
    }
}
