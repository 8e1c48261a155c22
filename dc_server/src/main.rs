//! dc_server: the distcache session cache server. All the serving is in the
//! `dc_engine` crate; this binary reads the command line and does the
//! service chores in the order that keeps them safe: bind, set the socket's
//! owner and mode, detach, write the pidfile, drop privileges, serve.
#![forbid(unsafe_code)]

mod args;

use std::process::ExitCode;

use std::time::Duration;

use dc_engine::{ConnectionLimits, Server, ServerConfig, Shutdown};
use dc_store::Limits;
use nal::Address;

use crate::args::Args;

fn main() -> ExitCode {
    let args: Args = dc_cli::parse();
    args.service.start_logging();
    let listen = match args.listen.parse::<Address>() {
        Ok(a) if a.can_listen() => a.into_absolute(),
        Ok(a) => dc_cli::fail(format_args!("cannot listen on \"{a}\"")),
        Err(e) => dc_cli::fail(e),
    };
    let limits = Limits::new(args.sessions, args.memory.saturating_mul(1 << 20))
        .unwrap_or_else(|e| dc_cli::fail(e));
    let metrics_address = args.metrics.as_deref().map(|m| {
        m.parse::<Address>()
            .unwrap_or_else(|e| dc_cli::fail(format_args!("-metrics: {e}")))
    });
    let tls = dc_tls::TlsFiles::from_options(
        args.tls_cert.as_deref(),
        args.tls_key.as_deref(),
        args.tls_ca.as_deref(),
    )
    .and_then(|files| files.map(|f| dc_tls::server_config(&f)).transpose())
    .unwrap_or_else(|e| dc_cli::fail(e));
    if tls.is_some() && listen.unix_path().is_some() {
        dc_cli::fail("TLS applies to IP: addresses only (a unix socket is protected by its mode)");
    }
    let config = ServerConfig {
        tls,
        connections: ConnectionLimits {
            max_connections: args.max_connections,
            max_buffer: args.max_buffer.saturating_mul(1024),
            idle_timeout: (args.idle_timeout > 0).then(|| Duration::from_secs(args.idle_timeout)),
        },
        listen: listen.clone(),
        limits,
        progress: args.progress,
        killable: args.service.killable,
        threads: match args.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        },
    };
    let mut server =
        dc_service::with_private_umask(|| Server::bind(config)).unwrap_or_else(|e| dc_cli::fail(e));

    let service = args.service.options();
    let registry = server.metrics_registry();
    let _running = dc_service::become_service(listen.unix_path(), &service, || {
        metrics_address
            .map(|address| dc_metrics::Exporter::start(&address, registry))
            .transpose()
    })
    .unwrap_or_else(|e| dc_cli::fail(e));

    dc_cli::finish(server.run().map(|Shutdown::Signal(signal)| signal))
}
