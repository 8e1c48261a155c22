//! dc_server: the distcache session cache server. All the serving is in the
//! `dc_engine` crate; this binary reads the command line and does the
//! service chores in the order that keeps them safe: bind, set the socket's
//! owner and mode, detach, write the pidfile, drop privileges, load the
//! snapshot, serve.
// One module calls mallopt; everything else is safe code.
#![deny(unsafe_code)]

mod allocator;

use std::process::ExitCode;

use std::time::Duration;

use std::path::Path;
use std::sync::Arc;

use dc_engine::server::Listen;
use dc_engine::{ConnectionLimits, FrontDoor, Server, ServerConfig, Shutdown, SnapshotConfig};
use dc_resp::RespConfig;
use dc_store::Limits;
use nal::Address;

use dc_server::args::Args;

fn main() -> ExitCode {
    let args: Args = dc_cli::parse();
    args.service.start_logging();
    // Before the worker threads exist: arenas made earlier would stay.
    allocator::one_arena();
    let listeners: Vec<Listen> = [
        (FrontDoor::Distcache, "-listen", &args.listen),
        (FrontDoor::Redis, "-listen-redis", &args.listen_redis),
        (
            FrontDoor::Memcache,
            "-listen-memcache",
            &args.listen_memcache,
        ),
    ]
    .into_iter()
    .flat_map(|(door, option, values)| values.iter().map(move |v| (door, option, v)))
    .map(|(door, option, value)| Listen {
        address: listen_address(option, value),
        door,
    })
    .collect();
    let password = match (&args.requirepass, &args.redis_password_file) {
        (Some(p), _) => Some(p.as_bytes().to_vec()),
        (None, Some(file)) => Some(dc_cli::read_password("-redis-password-file", file)),
        (None, None) => None,
    };
    let limits = Limits::new(args.sessions, args.memory.saturating_mul(1 << 20))
        .unwrap_or_else(|e| dc_cli::fail(e));
    let metrics_address = args
        .metrics
        .as_deref()
        .map(|m| dc_metrics::parse_address(m).unwrap_or_else(|e| dc_cli::fail(e)));
    let tls = dc_tls::TlsFiles::from_options(
        args.tls_cert.as_deref(),
        args.tls_key.as_deref(),
        args.tls_ca.as_deref(),
    )
    .and_then(|files| files.map(|f| dc_tls::server_config(&f)).transpose())
    .unwrap_or_else(|e| dc_cli::fail(e));
    if tls.is_some() && listeners.iter().all(|l| l.address.unix_path().is_some()) {
        dc_cli::fail("TLS applies to IP: addresses only (a unix socket is protected by its mode)");
    }
    let unix_sockets: Vec<std::path::PathBuf> = listeners
        .iter()
        .filter_map(|l| l.address.unix_path().map(Path::to_path_buf))
        .collect();
    let threads = match args.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .clamp(1, dc_engine::server::MAX_THREADS);
    let reserve = descriptor_reserve(listeners.len(), threads, metrics_address.is_some());
    let fitted = dc_service::fit_connections("-max-connections", args.max_connections, reserve)
        .unwrap_or_else(|e| dc_cli::fail(e));
    let config = ServerConfig {
        tls,
        notice: fitted.notice,
        connections: ConnectionLimits {
            max_connections: fitted.connections,
            max_buffer: args.max_buffer.saturating_mul(1024),
            idle_timeout: (args.idle_timeout > 0).then(|| Duration::from_secs(args.idle_timeout)),
        },
        listeners,
        limits,
        max_ttl: args.max_ttl.saturating_mul(1000),
        redis: Arc::new(RespConfig { password }),
        // Made absolute now: -daemon changes directory to `/`.
        snapshot: args.snapshot.as_deref().map(|path| SnapshotConfig {
            path: dc_service::absolute_path(path),
            interval: args.snapshot_interval.map(Duration::from_secs),
            strict: args.snapshot_strict,
        }),
        progress: args.progress,
        killable: args.service.killable,
        threads,
    };
    let mut server =
        dc_service::with_private_umask(|| Server::bind(config)).unwrap_or_else(|e| dc_cli::fail(e));

    let service = args.service.options();
    let registry = server.metrics_registry();
    let unix_sockets: Vec<&Path> = unix_sockets.iter().map(|p| p.as_path()).collect();
    let _running = dc_service::become_service(&unix_sockets, &service, || {
        metrics_address
            .map(|address| dc_metrics::Exporter::start(&address, registry))
            .transpose()
    })
    .unwrap_or_else(|e| dc_cli::fail(e));

    // After the privilege drop: the snapshot is the -user's file, written
    // by it, and the bad one is renamed aside as it.
    if let Err(e) = server.restore() {
        return dc_cli::finish::<_>(Err(e));
    }
    let stopped = server.run().map(|Shutdown::Signal(signal)| signal);
    // Served, and the snapshot (if any) written: the process exits next,
    // so the store's memory is left for the kernel to take back at once.
    server.close_for_exit();
    dc_cli::finish(stopped)
}

/// Descriptors dc_server holds or may open besides its client connections:
/// dc_service's [`BASE_RESERVE`](dc_service::BASE_RESERVE) (standard
/// streams, log, pidfile, signal pipe, the spare for accept, slack), each
/// listener, each worker's event loop and waker, a session snapshot being
/// written and the one it replaces (2), and the metrics exporter if asked
/// for.
fn descriptor_reserve(listeners: usize, threads: usize, metrics: bool) -> u64 {
    let metrics = if metrics {
        dc_service::METRICS_RESERVE
    } else {
        0
    };
    dc_service::BASE_RESERVE + listeners as u64 + 2 * threads as u64 + 2 + metrics
}

/// The address `value` of option `option`, or the one-line error naming both.
fn listen_address(option: &str, value: &str) -> Address {
    match value.parse::<Address>() {
        Ok(a) if a.can_listen() => a.into_absolute(),
        Ok(a) => dc_cli::fail(format_args!("{option}: cannot listen on \"{a}\"")),
        Err(e) => dc_cli::fail(format_args!("{option}: {e}")),
    }
}
