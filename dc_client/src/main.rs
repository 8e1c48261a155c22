//! dc_client: the local multiplexing proxy in front of dc_server. All the
//! proxying is in the `dc_proxy` crate; this binary reads the command line
//! (and the TLS files) and does the service chores in the order that keeps
//! them safe: bind, set the socket's owner and mode, detach, write the
//! pidfile, start the metrics endpoint, drop privileges, then contact the
//! server and serve.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use dc_proxy::{Proxy, ProxyConfig, Shutdown, UpstreamTls};
use nal::Address;

use dc_client::args::Args;

fn main() -> ExitCode {
    let args: Args = dc_cli::parse();
    args.service.start_logging();
    let listen = match args.listen.parse::<Address>() {
        Ok(a) if a.can_listen() => a.into_absolute(),
        Ok(a) => dc_cli::fail(format_args!("bad listen address \"{a}\"")),
        Err(e) => dc_cli::fail(format_args!("bad listen address: {e}")),
    };
    let server = args.server().unwrap_or_else(|e| dc_cli::fail(e));
    let server = match server.parse::<Address>() {
        Ok(a) if a.can_connect() => a.into_absolute(),
        Ok(a) => dc_cli::fail(format_args!(
            "cannot connect to server address \"{a}\": give a host (host:port, IP:host:port) or a unix socket path"
        )),
        Err(e) => dc_cli::fail(format_args!("bad server address: {e}")),
    };
    // Keys are read now, before any privilege drop.
    let tls = args
        .tls_files()
        .and_then(|files| files.map(|f| dc_tls::client_config(&f)).transpose())
        .unwrap_or_else(|e| dc_cli::fail(e))
        .map(|config| UpstreamTls::new(config, &server).unwrap_or_else(|e| dc_cli::fail(e)));
    let metrics_address = args
        .metrics
        .as_deref()
        .map(|m| dc_metrics::parse_address(m).unwrap_or_else(|e| dc_cli::fail(e)));
    let mut mux = args.mux_config();
    let reserve = descriptor_reserve(metrics_address.is_some());
    let fitted = dc_service::fit_connections("-max-clients", mux.max_clients, reserve)
        .unwrap_or_else(|e| dc_cli::fail(e));
    mux.max_clients = fitted.connections;
    let config = ProxyConfig {
        listen: listen.clone(),
        server,
        mux,
        tls,
        killable: args.service.killable,
        spin: std::time::Duration::from_micros(args.spin_us),
        notice: fitted.notice,
    };
    let mut proxy =
        dc_service::with_private_umask(|| Proxy::bind(config)).unwrap_or_else(|e| dc_cli::fail(e));

    let service = args.service.options();
    let registry = proxy.metrics_registry();
    let _running = dc_service::become_service(listen.unix_path().as_slice(), &service, || {
        metrics_address
            .map(|address| dc_metrics::Exporter::start(&address, registry))
            .transpose()
    })
    .unwrap_or_else(|e| dc_cli::fail(e));

    dc_cli::finish(proxy.run().map(|Shutdown::Signal(signal)| signal))
}

/// Descriptors dc_client holds or may open besides its local clients:
/// dc_service's [`BASE_RESERVE`](dc_service::BASE_RESERVE) (standard
/// streams, log, pidfile, signal pipe, the spare for accept, slack), the
/// listener, the event loop, the server connection and one being made to
/// replace it (2), the background lookups of the server's name (4: a DNS
/// socket and the files the resolver reads), and the metrics exporter if
/// asked for.
fn descriptor_reserve(metrics: bool) -> u64 {
    let metrics = if metrics {
        dc_service::METRICS_RESERVE
    } else {
        0
    };
    dc_service::BASE_RESERVE + 1 + 1 + 2 + 4 + metrics
}
