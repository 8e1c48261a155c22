//! dc_client: the local multiplexing proxy in front of dc_server. All the
//! proxying is in the `dc_proxy` crate; this binary reads the command line
//! (and the TLS files) and does the service chores in the order that keeps
//! them safe: bind, set the socket's owner and mode, detach, write the
//! pidfile, start the metrics endpoint, drop privileges, then contact the
//! server and serve.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use std::time::Duration;

use dc_proxy::driver::{ListenSpec, UpstreamSpec};
use dc_proxy::{FrontKind, Proxy, ProxyConfig, Shutdown, UpstreamTls};
use dc_redis_backend::{BackendConfig, LinkSetup, Target, Topology};
use dc_resp::RespConfig;
use nal::Address;

use dc_client::args::Args;

fn main() -> ExitCode {
    let args: Args = dc_cli::parse();
    args.service.start_logging();
    let password = args
        .redis_password_file
        .as_deref()
        .map(|f| dc_cli::read_password("-redis-password-file", f));
    let redis = FrontKind::Redis(Arc::new(RespConfig { password }));
    let listen: Vec<ListenSpec> = args
        .listeners()
        .into_iter()
        .map(|(option, value)| ListenSpec {
            address: listen_address(option, value),
            kind: match option {
                "-listen-redis" => redis.clone(),
                "-listen-memcache" => FrontKind::Memcache,
                _ => FrontKind::Distcache,
            },
        })
        .collect();
    let (urls, servers): (Vec<&str>, Vec<&str>) = args
        .servers()
        .unwrap_or_else(|e| dc_cli::fail(e))
        .into_iter()
        .partition(|s| Target::is_redis_url(s));
    let servers: Vec<Address> = servers.into_iter().map(server_address).collect();
    let backend_password = args.backend_password_file.as_deref().map(|f| {
        String::from_utf8_lossy(&dc_cli::read_password("-backend-password-file", f)).into_owned()
    });
    let backend_tls_ca = args.backend_tls_ca.as_deref().map(|f| {
        std::fs::read(f).unwrap_or_else(|e| {
            dc_cli::fail(format_args!(
                "-backend-tls-ca: cannot read \"{}\": {e}",
                f.display()
            ))
        })
    });
    let targets: Vec<Target> = urls
        .into_iter()
        .map(|url| Target::parse(url).unwrap_or_else(|e| dc_cli::fail(e)))
        .collect();
    // One Redis server without TLS is spoken to on the event loop itself;
    // Sentinel, Cluster and TLS go through the redis crate on its thread.
    let (direct, targets): (Vec<Target>, Vec<Target>) = targets
        .into_iter()
        .partition(|t| !t.tls && matches!(t.topology, Topology::Single { .. }));
    let redis_servers: Vec<UpstreamSpec> = direct
        .into_iter()
        .filter_map(|t| match t.topology {
            Topology::Single { node, db } => Some(UpstreamSpec {
                address: server_address(&format!("IP:{node}")),
                tls: None,
                redis: Some(LinkSetup {
                    password: backend_password.clone(),
                    db,
                    prefix: args.backend_prefix.as_bytes().to_vec(),
                    max_ttl: args.backend_max_ttl.saturating_mul(1000),
                }),
            }),
            _ => None,
        })
        .collect();
    let backends: Vec<BackendConfig> = targets
        .into_iter()
        .map(|target| BackendConfig {
            target,
            password: backend_password.clone(),
            tls_ca: backend_tls_ca.clone(),
            prefix: args.backend_prefix.as_bytes().to_vec(),
            // An operation fails at the latest when dc_client would give
            // up on it.
            timeout: args.mux_config().timeout.unwrap_or(Duration::from_secs(5)),
            max_ttl: args.backend_max_ttl.saturating_mul(1000),
        })
        .collect();
    // Keys are read now, before any privilege drop.
    let tls = args
        .tls_files()
        .and_then(|files| files.map(|f| dc_tls::client_config(&f)).transpose())
        .unwrap_or_else(|e| dc_cli::fail(e));
    let servers: Vec<UpstreamSpec> = servers
        .into_iter()
        .map(|address| UpstreamSpec {
            tls: tls.as_ref().map(|config| {
                UpstreamTls::new(Arc::clone(config), &address).unwrap_or_else(|e| dc_cli::fail(e))
            }),
            address,
            redis: None,
        })
        .chain(redis_servers)
        .collect();
    let metrics_address = args
        .metrics
        .as_deref()
        .map(|m| dc_metrics::parse_address(m).unwrap_or_else(|e| dc_cli::fail(e)));
    let mut mux = args.mux_config();
    let reserve = descriptor_reserve(
        listen.len(),
        servers.len(),
        backends.len(),
        metrics_address.is_some(),
    );
    let fitted = dc_service::fit_connections("-max-clients", mux.max_clients, reserve)
        .unwrap_or_else(|e| dc_cli::fail(e));
    mux.max_clients = fitted.connections;
    let unix_sockets: Vec<PathBuf> = listen
        .iter()
        .filter_map(|l| l.address.unix_path().map(Path::to_path_buf))
        .collect();
    let config = ProxyConfig {
        listen,
        servers,
        backends,
        mux,
        killable: args.service.killable,
        spin: std::time::Duration::from_micros(args.spin_us),
        // The CPUs it may run on: its affinity mask and cgroup quota.
        one_cpu: std::thread::available_parallelism().map_or(1, usize::from) == 1,
        notice: fitted.notice,
    };
    let mut proxy =
        dc_service::with_private_umask(|| Proxy::bind(config)).unwrap_or_else(|e| dc_cli::fail(e));

    let service = args.service.options();
    let registry = proxy.metrics_registry();
    let sockets: Vec<&Path> = unix_sockets.iter().map(PathBuf::as_path).collect();
    let _running = dc_service::become_service(&sockets, &service, || {
        metrics_address
            .map(|address| dc_metrics::Exporter::start(&address, registry))
            .transpose()
    })
    .unwrap_or_else(|e| dc_cli::fail(e));

    dc_cli::finish(proxy.run().map(|Shutdown::Signal(signal)| signal))
}

fn listen_address(option: &str, value: &str) -> Address {
    match value.parse::<Address>() {
        Ok(a) if a.can_listen() => a.into_absolute(),
        Ok(a) if option == "-listen" => dc_cli::fail(format_args!("bad listen address \"{a}\"")),
        Ok(a) => dc_cli::fail(format_args!("{option}: cannot listen on \"{a}\"")),
        Err(e) if option == "-listen" => dc_cli::fail(format_args!("bad listen address: {e}")),
        Err(e) => dc_cli::fail(format_args!("{option}: {e}")),
    }
}

fn server_address(value: &str) -> Address {
    match value.parse::<Address>() {
        Ok(a) if a.can_connect() => a.into_absolute(),
        Ok(a) => dc_cli::fail(format_args!(
            "cannot connect to server address \"{a}\": give a host (host:port, IP:host:port) or a unix socket path"
        )),
        Err(e) => dc_cli::fail(format_args!("bad server address \"{value}\": {e}")),
    }
}

/// Descriptors dc_client holds or may open besides its local clients:
/// dc_service's [`BASE_RESERVE`](dc_service::BASE_RESERVE) (standard
/// streams, log, pidfile, signal pipe, the spare for accept, slack), the
/// listeners, the event loop, each server's connection and one being made
/// to replace it (2 each), the background lookups of the servers' names (4
/// each: a DNS socket and the files the resolver reads), and the metrics
/// exporter if asked for.
fn descriptor_reserve(listeners: usize, servers: usize, backends: usize, metrics: bool) -> u64 {
    let metrics = if metrics {
        dc_service::METRICS_RESERVE
    } else {
        0
    };
    // A backend: its thread's runtime and waker, and a connection to each
    // node of a cluster (or a sentinel and the master), counted as 32.
    dc_service::BASE_RESERVE
        + listeners as u64
        + 1
        + 6 * servers as u64
        + 32 * backends as u64
        + metrics
}
