//! The HTTP endpoint Prometheus scrapes.

use std::sync::Arc;
use std::thread::JoinHandle;

use nal::Address;
use prometheus_client::registry::Registry;
use thiserror::Error;

/// Why the metrics endpoint could not start.
#[derive(Debug, Error)]
pub enum ExporterError {
    /// Metrics are served over TCP only.
    #[error("-metrics needs an IP address (IP:host:port or IP:port), not \"{0}\"")]
    NotIp(String),
    /// The address could not be bound.
    #[error("cannot serve metrics on \"{address}\": {reason}")]
    Bind {
        /// The address asked for.
        address: String,
        /// What went wrong.
        reason: String,
    },
}

/// Serves `GET /metrics` (any other path: 404) on a thread of its own.
pub struct Exporter {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    address: String,
}

impl Exporter {
    /// Binds `address` and starts serving `registry`. Call after any fork
    /// (daemon mode): the thread does not survive one.
    pub fn start(address: &Address, registry: Arc<Registry>) -> Result<Exporter, ExporterError> {
        let Address::Ip { .. } = address else {
            return Err(ExporterError::NotIp(address.to_string()));
        };
        let bind_err = |reason: String| ExporterError::Bind {
            address: address.to_string(),
            reason,
        };
        let socket = address.resolve().map_err(|e| bind_err(e.to_string()))?;
        let server =
            Arc::new(tiny_http::Server::http(socket).map_err(|e| bind_err(e.to_string()))?);
        let bound = match server.server_addr().to_ip() {
            Some(a) => format!("IP:{}:{}", a.ip(), a.port()),
            None => address.to_string(),
        };
        let serving = Arc::clone(&server);
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || serve(&serving, &registry))
            .map_err(|e| bind_err(e.to_string()))?;
        log::info!("serving metrics on {bound}/metrics");
        Ok(Exporter {
            server,
            thread: Some(thread),
            address: bound,
        })
    }

    /// The address actually bound (with the real port after port 0).
    pub fn address(&self) -> &str {
        &self.address
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(server: &tiny_http::Server, registry: &Registry) {
    for request in server.incoming_requests() {
        let path = request.url().split('?').next().unwrap_or("");
        let response = if *request.method() == tiny_http::Method::Get && path == "/metrics" {
            let body = crate::render(registry);
            let mut r = tiny_http::Response::from_string(body);
            if let Ok(h) = tiny_http::Header::from_bytes(
                &b"Content-Type"[..],
                &b"text/plain; version=0.0.4; charset=utf-8"[..],
            ) {
                r.add_header(h);
            }
            r
        } else {
            tiny_http::Response::from_string("not found: try GET /metrics\n").with_status_code(404)
        };
        if let Err(e) = request.respond(response) {
            log::debug!("metrics scrape failed: {e}");
        }
    }
}
