//! The backend's thread: a single-threaded tokio runtime that runs each
//! operation as a task on the current connection and hands the replies
//! back to the event loop.
//!
//! Connection states:
//!
//! ```text
//!   none --connect task--> up --an I/O or READONLY error--> none (reconnect)
//!     ^-- failed: retry after a pause doubling from 10 ms to 1 s --'
//! ```
//!
//! While there is no connection every operation is answered at once with
//! a failure: a TLS server then does a full handshake instead of waiting.
//! A cluster connection is never dropped: the cluster client follows slot
//! moves and promotions by itself, and an operation that fails meanwhile
//! fails alone.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use dc_ops::{Millis, OpBuf, ReplyBuf};
use log::{debug, info, warn};
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClientBuilder, SentinelServerType};
use redis::Cmd;
use redis::{
    AsyncConnectionConfig, Client, ConnectionAddr, ConnectionInfo, ErrorKind, ProtocolVersion,
    RedisConnectionInfo, RedisError, TlsCertificates, TlsMode,
};
use tokio::sync::mpsc;

use crate::command::Plan;
use crate::target::{Node, Target, Topology};

/// The first pause before connecting again; it doubles up to
/// [`RECONNECT_MAX`].
const RECONNECT_FIRST: Duration = Duration::from_millis(10);
/// The longest pause between connect attempts.
const RECONNECT_MAX: Duration = Duration::from_secs(1);

/// How the backend is set up.
#[derive(Debug, Clone)]
pub struct BackendConfig {
    /// Where Redis is.
    pub target: Target,
    /// The password (`AUTH`), from `-backend-password-file`.
    pub password: Option<String>,
    /// For TLS (`rediss...`): the CA certificates (PEM) the servers'
    /// certificates must chain to (`-backend-tls-ca`); `None`: the
    /// system's trust store.
    pub tls_ca: Option<Vec<u8>>,
    /// Put before every key (`-backend-prefix`), so that the sessions keep
    /// to themselves in a Redis shared with other uses.
    pub prefix: Vec<u8>,
    /// The longest an operation (or a connect) may take; then it fails.
    pub timeout: Duration,
    /// The longest lifetime an entry gets (and one with none).
    pub max_ttl: Millis,
}

/// What the thread and the event loop share.
#[derive(Default)]
struct Shared {
    replies: Mutex<Vec<(u32, ReplyBuf)>>,
    up: AtomicBool,
}

/// The handle the event loop holds; dropping it stops the thread.
pub struct RedisBackend {
    tx: Option<mpsc::UnboundedSender<Vec<(u32, OpBuf)>>>,
    shared: Arc<Shared>,
    wake: Arc<dyn Fn() + Send + Sync>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("up", &self.is_up())
            .finish_non_exhaustive()
    }
}

impl RedisBackend {
    /// Starts the thread; it connects at once. `wake` is called (from the
    /// thread) whenever replies are ready.
    pub fn start(
        config: BackendConfig,
        wake: Arc<dyn Fn() + Send + Sync>,
    ) -> io::Result<RedisBackend> {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (thread_shared, thread_wake) = (Arc::clone(&shared), Arc::clone(&wake));
        let thread = std::thread::Builder::new()
            .name("redis-backend".into())
            .spawn(move || {
                let local = tokio::task::LocalSet::new();
                local.block_on(&runtime, run(config, rx, thread_shared, thread_wake));
            })?;
        Ok(RedisBackend {
            tx: Some(tx),
            shared,
            wake,
            thread: Some(thread),
        })
    }

    /// Hands an operation to the thread; its reply comes back tagged `tag`.
    pub fn submit(&self, tag: u32, op: OpBuf) {
        self.submit_all(&mut vec![(tag, op)]);
    }

    /// Hands every operation of `ops` to the thread at once (one wake-up of
    /// it, and one pipeline to Redis), leaving `ops` empty.
    pub fn submit_all(&self, ops: &mut Vec<(u32, OpBuf)>) {
        if ops.is_empty() {
            return;
        }
        let batch = std::mem::take(ops);
        if let Some(tx) = &self.tx {
            match tx.send(batch) {
                Ok(()) => return,
                Err(mpsc::error::SendError(batch)) => *ops = batch,
            }
        }
        // The thread is gone (it cannot be, short of a panic there): the
        // operations fail, as any the backend cannot run.
        for (tag, _) in std::mem::take(ops) {
            self.push(tag, ReplyBuf::unavailable());
        }
    }

    /// Moves the replies ready into `into` (cleared first).
    pub fn take_replies(&self, into: &mut Vec<(u32, ReplyBuf)>) {
        into.clear();
        if let Ok(mut replies) = self.shared.replies.lock() {
            std::mem::swap(into, &mut *replies);
        }
    }

    /// Whether the thread holds a connection now.
    pub fn is_up(&self) -> bool {
        self.shared.up.load(Ordering::Relaxed)
    }

    fn push(&self, tag: u32, reply: ReplyBuf) {
        push(&self.shared, &self.wake, tag, reply);
    }
}

impl Drop for RedisBackend {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop.
        self.tx = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn push(shared: &Shared, wake: &Arc<dyn Fn() + Send + Sync>, tag: u32, reply: ReplyBuf) {
    push_all(shared, wake, vec![(tag, reply)]);
}

/// Hands replies to the loop, waking it once.
fn push_all(shared: &Shared, wake: &Arc<dyn Fn() + Send + Sync>, batch: Vec<(u32, ReplyBuf)>) {
    if let Ok(mut replies) = shared.replies.lock() {
        replies.extend(batch);
    }
    wake();
}

/// Most operations sent to Redis as one pipeline.
const MAX_BATCH: usize = 512;

/// A connection to run commands on.
#[derive(Clone)]
enum Conn {
    One(MultiplexedConnection),
    Cluster(ClusterConnection),
}

/// Whether an error means the connection is no good (rather than the
/// operation).
fn breaks_connection(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.kind() == ErrorKind::ReadOnly
}

/// What connect tasks and operation tasks tell the loop.
enum Note {
    Connected(Conn),
    ConnectFailed(String),
    /// Connection `generation` broke.
    Broken(u64, String),
}

async fn run(
    config: BackendConfig,
    mut ops: mpsc::UnboundedReceiver<Vec<(u32, OpBuf)>>,
    shared: Arc<Shared>,
    wake: Arc<dyn Fn() + Send + Sync>,
) {
    let target = config.target.describe();
    let (notes_tx, mut notes) = mpsc::unbounded_channel::<Note>();
    let mut current: Option<(Conn, u64)> = None;
    let mut generation = 0u64;
    let mut connecting = false;
    let mut pause = RECONNECT_FIRST;
    let mut retry_at = Some(tokio::time::Instant::now());
    let mut failures = 0u64;
    loop {
        if current.is_none()
            && !connecting
            && retry_at.is_some_and(|t| t <= tokio::time::Instant::now())
        {
            connecting = true;
            retry_at = None;
            let (config, notes_tx) = (config.clone(), notes_tx.clone());
            tokio::task::spawn_local(async move {
                let note = match tokio::time::timeout(
                    config.timeout.max(Duration::from_millis(100)),
                    connect(&config),
                )
                .await
                {
                    Ok(Ok(conn)) => Note::Connected(conn),
                    Ok(Err(e)) => Note::ConnectFailed(e.to_string()),
                    Err(_) => {
                        Note::ConnectFailed(format!("no connection within {:?}", config.timeout))
                    }
                };
                let _ = notes_tx.send(note);
            });
        }
        let sleep = async {
            match retry_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            batch = ops.recv() => {
                let Some(mut batch) = batch else { break };
                // Whatever else is queued goes with it.
                while batch.len() < MAX_BATCH {
                    match ops.try_recv() {
                        Ok(more) => batch.extend(more),
                        Err(_) => break,
                    }
                }
                let plans: Vec<(u32, Plan, Cmd)> = batch
                    .iter()
                    .map(|(tag, op)| {
                        let (plan, command) = Plan::new(&op.op(), &config.prefix, config.max_ttl);
                        (*tag, plan, command.to_cmd())
                    })
                    .collect();
                let Some((conn, gen)) = current.clone() else {
                    let failed = plans.iter().map(|(tag, ..)| (*tag, ReplyBuf::unavailable())).collect();
                    push_all(&shared, &wake, failed);
                    continue;
                };
                let timeout = config.timeout;
                match conn {
                    Conn::One(conn) => {
                        let (shared, wake, notes_tx) =
                            (Arc::clone(&shared), Arc::clone(&wake), notes_tx.clone());
                        tokio::task::spawn_local(async move {
                            let replies = run_pipeline(conn, plans, timeout, |why| {
                                let _ = notes_tx.send(Note::Broken(gen, why));
                            })
                            .await;
                            push_all(&shared, &wake, replies);
                        });
                    }
                    Conn::Cluster(conn) => {
                        // One task per operation: the cluster client routes
                        // each to its shard, and one shard failing over
                        // delays no other's answers.
                        for (tag, plan, cmd) in plans {
                            let (shared, wake, mut conn) =
                                (Arc::clone(&shared), Arc::clone(&wake), conn.clone());
                            tokio::task::spawn_local(async move {
                                let answer = with_timeout(timeout, conn.req_packed_command(&cmd)).await;
                                push(&shared, &wake, tag, plan.reply(answer));
                            });
                        }
                    }
                }
            }
            note = notes.recv() => match note {
                Some(Note::Connected(conn)) => {
                    connecting = false;
                    generation += 1;
                    current = Some((conn, generation));
                    shared.up.store(true, Ordering::Relaxed);
                    pause = RECONNECT_FIRST;
                    if failures > 0 {
                        info!("connected to {target} again ({failures} failed attempts)");
                    } else {
                        info!("connected to {target}");
                    }
                    failures = 0;
                }
                Some(Note::ConnectFailed(why)) => {
                    connecting = false;
                    failures += 1;
                    if failures == 1 {
                        warn!("cannot connect to {target}: {why}; failing its operations at once until it can be reached (retrying from {} ms apart, backing off to every {} ms)", RECONNECT_FIRST.as_millis(), RECONNECT_MAX.as_millis());
                    } else {
                        debug!("cannot connect to {target}: {why} (attempt {failures})");
                    }
                    retry_at = Some(tokio::time::Instant::now() + pause);
                    pause = (pause * 2).min(RECONNECT_MAX);
                }
                Some(Note::Broken(gen, why)) => {
                    if current.as_ref().is_some_and(|(_, g)| *g == gen) {
                        current = None;
                        shared.up.store(false, Ordering::Relaxed);
                        warn!("lost the connection to {target}: {why}; failing its operations at once until it is back");
                        retry_at = Some(tokio::time::Instant::now());
                    }
                }
                None => break,
            },
            () = sleep => {}
        }
    }
    shared.up.store(false, Ordering::Relaxed);
}

/// `future`, failed as a timeout if it takes longer than `timeout`.
async fn with_timeout<T>(
    timeout: Duration,
    future: impl std::future::Future<Output = Result<T, RedisError>>,
) -> Result<T, RedisError> {
    match tokio::time::timeout(timeout, future).await {
        Ok(answer) => answer,
        Err(_) => Err(RedisError::from(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {timeout:?}"),
        ))),
    }
}

/// Sends `plans` as one pipeline and reads their answers; `broken` hears
/// why if the connection failed.
async fn run_pipeline(
    mut conn: MultiplexedConnection,
    plans: Vec<(u32, Plan, Cmd)>,
    timeout: Duration,
    broken: impl FnOnce(String),
) -> Vec<(u32, ReplyBuf)> {
    let mut pipe = redis::pipe();
    let plans: Vec<(u32, Plan)> = plans
        .into_iter()
        .map(|(tag, plan, cmd)| {
            pipe.add_command(cmd);
            (tag, plan)
        })
        .collect();
    let failed = || {
        plans
            .iter()
            .map(|(tag, _)| (*tag, ReplyBuf::unavailable()))
            .collect()
    };
    let answers = with_timeout(timeout, conn.req_packed_commands(&pipe, 0, plans.len())).await;
    match answers {
        Ok(values) if values.len() == plans.len() => plans
            .iter()
            .zip(values)
            .map(|((tag, plan), value)| {
                let answer = match value {
                    redis::Value::ServerError(e) => Err(RedisError::from(e)),
                    value => Ok(value),
                };
                (*tag, plan.reply(answer))
            })
            .collect(),
        Ok(values) => {
            broken(format!(
                "{} answers to a pipeline of {}",
                values.len(),
                plans.len()
            ));
            failed()
        }
        Err(e) => {
            if breaks_connection(&e) {
                broken(e.to_string());
            }
            failed()
        }
    }
}

fn redis_info(config: &BackendConfig, db: i64) -> RedisConnectionInfo {
    RedisConnectionInfo {
        db,
        username: None,
        password: config.password.clone(),
        protocol: ProtocolVersion::RESP2,
    }
}

fn address(node: &Node, tls: bool) -> ConnectionAddr {
    if tls {
        ConnectionAddr::TcpTls {
            host: node.host.clone(),
            port: node.port,
            insecure: false,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(node.host.clone(), node.port)
    }
}

/// The CA to check the servers against, if one was given.
fn certificates(config: &BackendConfig) -> Option<TlsCertificates> {
    let ca = config.tls_ca.as_ref().filter(|_| config.target.tls)?;
    Some(TlsCertificates {
        client_tls: None,
        root_cert: Some(ca.clone()),
    })
}

async fn connect(config: &BackendConfig) -> Result<Conn, RedisError> {
    let timeouts = AsyncConnectionConfig::new()
        .set_connection_timeout(config.timeout)
        .set_response_timeout(config.timeout);
    let tls = config.target.tls;
    let certs = certificates(config);
    match &config.target.topology {
        Topology::Single { node, db } => {
            let info = ConnectionInfo {
                addr: address(node, tls),
                redis: redis_info(config, *db),
            };
            let client = match certs {
                Some(certs) => Client::build_with_tls(info, certs)?,
                None => Client::open(info)?,
            };
            let conn = client
                .get_multiplexed_async_connection_with_config(&timeouts)
                .await?;
            Ok(Conn::One(conn))
        }
        Topology::Sentinel {
            sentinels,
            master,
            db,
        } => {
            let mut builder = SentinelClientBuilder::new(
                sentinels.iter().map(|n| address(n, tls)),
                master.clone(),
                SentinelServerType::Master,
            )?
            .set_client_to_redis_db(*db);
            if let Some(password) = &config.password {
                builder = builder.set_client_to_redis_password(password.clone());
            }
            if tls {
                builder = builder
                    .set_client_to_redis_tls_mode(TlsMode::Secure)
                    .set_client_to_sentinel_tls_mode(TlsMode::Secure);
            }
            if let Some(certs) = certs {
                builder = builder
                    .set_client_to_redis_certificates(certs.clone())
                    .set_client_to_sentinel_certificates(certs);
            }
            let mut client = builder.build()?;
            let master = client.async_get_client().await?;
            let conn = master
                .get_multiplexed_async_connection_with_config(&timeouts)
                .await?;
            Ok(Conn::One(conn))
        }
        Topology::Cluster { nodes } => {
            let nodes: Vec<ConnectionInfo> = nodes
                .iter()
                .map(|n| ConnectionInfo {
                    addr: address(n, tls),
                    redis: redis_info(config, 0),
                })
                .collect();
            let mut builder = ClusterClientBuilder::new(nodes)
                .connection_timeout(config.timeout)
                .response_timeout(config.timeout)
                // One retry (after a MOVED or a failed node, with the
                // topology refreshed): beyond that the operation fails and
                // the TLS server does a full handshake.
                .retries(1);
            if let Some(password) = &config.password {
                builder = builder.password(password.clone());
            }
            if tls {
                builder = builder.tls(TlsMode::Secure);
            }
            if let Some(certs) = certs {
                builder = builder.certs(certs);
            }
            let conn = builder.build()?.get_async_connection().await?;
            Ok(Conn::Cluster(conn))
        }
    }
}
