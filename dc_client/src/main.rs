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
            "cannot connect to server address \"{a}\": give a host (IP:host:port) or UNIX:/path"
        )),
        Err(e) => dc_cli::fail(format_args!("bad server address: {e}")),
    };
    // Keys are read now, before any privilege drop.
    let tls = args
        .tls_files()
        .and_then(|files| files.map(|f| dc_tls::client_config(&f)).transpose())
        .unwrap_or_else(|e| dc_cli::fail(e))
        .map(|config| UpstreamTls::new(config, &server).unwrap_or_else(|e| dc_cli::fail(e)));
    let metrics_address = args.metrics.as_deref().map(|m| {
        m.parse::<Address>()
            .unwrap_or_else(|e| dc_cli::fail(format_args!("-metrics: {e}")))
    });
    let mut mux = args.mux_config();
    mux.max_clients = fit_descriptor_limit(mux.max_clients);
    let config = ProxyConfig {
        listen: listen.clone(),
        server,
        mux,
        tls,
        killable: args.service.killable,
        spin: std::time::Duration::from_micros(args.spin_us),
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

/// Descriptors needed besides the local clients: standard streams, the
/// listener, the event loop, the signal pipe, the server connection, a
/// pidfile being written, and slack.
const SPARE_DESCRIPTORS: u64 = 32;

/// Makes sure `max_clients` local connections fit the open-file limit, so
/// the excess is refused by the `-max-clients` check (accepted and closed at
/// once, with a log line) rather than left waiting in the listen backlog
/// when accept runs out of descriptors. Raises the soft limit up to the
/// hard one if needed; if even that is too low, lowers the client limit and
/// says so.
fn fit_descriptor_limit(max_clients: usize) -> usize {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let need = max_clients as u64 + SPARE_DESCRIPTORS;
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return max_clients;
    };
    if soft >= need {
        return max_clients;
    }
    let raised = need.min(hard);
    let soft = match setrlimit(Resource::RLIMIT_NOFILE, raised, hard) {
        Ok(()) => raised,
        Err(_) => soft,
    };
    if soft >= need {
        return max_clients;
    }
    let fits = soft.saturating_sub(SPARE_DESCRIPTORS).max(1) as usize;
    log::warn!(
        "-max-clients {max_clients} needs {need} open files but the limit is {soft}; \
         accepting at most {fits} local clients"
    );
    fits
}
