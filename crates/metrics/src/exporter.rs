//! The HTTP endpoint Prometheus scrapes.

use std::sync::Arc;
use std::thread::JoinHandle;

use nal::{Address, AddressError};
use prometheus_client::registry::Registry;
use thiserror::Error;

/// Why the metrics endpoint could not start.
#[derive(Debug, Error)]
pub enum ExporterError {
    /// Metrics are served over TCP only (Prometheus scrapes nothing else).
    #[error("-metrics needs a TCP address (host:port, :port, [ipv6]:port, IP:host:port or IP:port), not the unix socket \"{0}\"")]
    NotIp(String),
    /// The `-metrics` value is not an address.
    #[error("-metrics: {0}")]
    Address(#[from] AddressError),
    /// The address could not be bound.
    #[error("cannot serve metrics on \"{address}\": {reason}")]
    Bind {
        /// The address asked for.
        address: String,
        /// What went wrong.
        reason: String,
    },
}

/// The content type of a scrape.
const OPENMETRICS: &[u8] = b"application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The `-metrics` option's value as an address to serve on: any TCP form
/// ([`Address`] lists them), not a unix socket. Checked when the command
/// line is read, so a bad value fails before anything is bound.
pub fn parse_address(text: &str) -> Result<Address, ExporterError> {
    match Address::parse(text)? {
        Address::Unix(_) => Err(ExporterError::NotIp(text.to_owned())),
        address => Ok(address),
    }
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
            // Through Address, so that an IPv6 address gets its brackets.
            Some(a) => Address::Ip {
                host: Some(a.ip().to_string()),
                port: a.port(),
            }
            .to_string(),
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
            // What prometheus-client's encoder writes (HELP and TYPE name
            // the family without _total, and it ends in "# EOF"): read as
            // the older text format, the counters would lose their HELP.
            if let Ok(h) = tiny_http::Header::from_bytes(&b"Content-Type"[..], OPENMETRICS) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn metrics_take_every_tcp_form_and_no_unix_socket() {
        for (text, canonical) in [
            ("127.0.0.1:9100", "IP:127.0.0.1:9100"),
            (":9100", "IP:9100"),
            ("[::1]:9100", "IP:[::1]:9100"),
            ("localhost:9100", "IP:localhost:9100"),
            ("IP:127.0.0.1:9100", "IP:127.0.0.1:9100"),
            ("IP:9100", "IP:9100"),
        ] {
            let address = parse_address(text).unwrap();
            assert_eq!(address.to_string(), canonical, "{text}");
        }
        for (text, needle) in [
            ("/run/m.sock", "not the unix socket \"/run/m.sock\""),
            ("UNIX:/run/m", "not the unix socket \"UNIX:/run/m\""),
            ("9100", "-metrics: invalid address \"9100\""),
            ("http://h:1", "a URL is not an address"),
        ] {
            let message = parse_address(text).unwrap_err().to_string();
            assert!(message.contains(needle), "{text}: {message}");
        }
    }

    #[test]
    fn serves_on_a_plain_host_port() {
        let address = parse_address("127.0.0.1:0").unwrap();
        let exporter = Exporter::start(&address, Arc::new(Registry::default())).unwrap();
        let bound = exporter.address().strip_prefix("IP:").unwrap().to_owned();
        let mut stream = std::net::TcpStream::connect(&bound).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        assert!(
            reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200"),
            "{reply}"
        );
        assert!(
            reply.to_ascii_lowercase().contains(
                "\r\ncontent-type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n"
            ),
            "{reply}"
        );
        assert!(reply.ends_with("# EOF\n"), "{reply}");
    }

    #[test]
    fn an_ipv6_address_is_reported_with_brackets() {
        let address = parse_address("[::1]:0").unwrap();
        let exporter = Exporter::start(&address, Arc::new(Registry::default())).unwrap();
        assert!(
            exporter.address().starts_with("IP:[::1]:"),
            "{}",
            exporter.address()
        );
        assert_eq!(
            Address::parse(exporter.address()).unwrap().unix_path(),
            None
        );
    }
}
