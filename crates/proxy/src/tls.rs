//! TLS to the cache server: the client configuration (built by `dc_tls`
//! from `-tls-cert`, `-tls-key`, `-tls-ca`) and the name the server's
//! certificate must carry.
//!
//! The name is the host of the `-server` address as written: a DNS name
//! must appear in the certificate as a DNS subjectAltName, an IP address
//! as an IP subjectAltName (rustls, like browsers, ignores the common
//! name). TLS runs over TCP only.

use std::net::IpAddr;
use std::sync::Arc;

use nal::rustls::pki_types::{DnsName, ServerName};
use nal::rustls::ClientConfig;
use nal::Address;
use thiserror::Error;

/// How to speak TLS to the server.
#[derive(Debug, Clone)]
pub struct UpstreamTls {
    /// The rustls client configuration (trusted CA, our certificate).
    pub config: Arc<ClientConfig>,
    /// The name the server must prove it is.
    pub server_name: ServerName<'static>,
}

/// Why TLS cannot be used with a server address.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UpstreamTlsError {
    /// TLS runs over TCP only.
    #[error("TLS needs a TCP server address (host:port or IP:host:port), not \"{0}\"")]
    NotIp(String),
    /// The host is neither an IP address nor a valid DNS name.
    #[error("the server host \"{0}\" cannot be checked against a certificate: not a valid DNS name or IP address")]
    BadName(String),
}

impl UpstreamTls {
    /// TLS with `config` to `server`, whose certificate must name the
    /// address's host.
    pub fn new(
        config: Arc<ClientConfig>,
        server: &Address,
    ) -> Result<UpstreamTls, UpstreamTlsError> {
        Ok(UpstreamTls {
            config,
            server_name: server_name(server)?,
        })
    }
}

/// The name a server at `address` must prove: its IP address, or its DNS
/// name.
pub fn server_name(address: &Address) -> Result<ServerName<'static>, UpstreamTlsError> {
    let Address::Ip {
        host: Some(host), ..
    } = address
    else {
        return Err(UpstreamTlsError::NotIp(address.to_string()));
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    DnsName::try_from(host.as_str())
        .map(|name| ServerName::DnsName(name.to_owned()))
        .map_err(|_| UpstreamTlsError::BadName(host.clone()))
}

/// A hint for a TLS failure's log line, from rustls' reason.
pub(crate) fn hint(reason: &str) -> &'static str {
    if reason.contains("received fatal alert") {
        " (the server refused us: does it trust the CA that issued -tls-cert?)"
    } else if reason.contains("UnknownIssuer") {
        " (the server's certificate is not from the -tls-ca CA)"
    } else if reason.contains("NotValidForName") || reason.contains("not valid for name") {
        " (the server's certificate must name the -server host as a subjectAltName)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Result<ServerName<'static>, UpstreamTlsError> {
        server_name(&s.parse::<Address>().unwrap())
    }

    #[test]
    fn the_name_is_the_host_of_the_server_address() {
        assert_eq!(
            name("IP:cache.example.com:9001").unwrap(),
            ServerName::try_from("cache.example.com").unwrap()
        );
        assert!(matches!(
            name("IP:127.0.0.1:9001").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            name("IP:[::1]:9001").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert_eq!(
            name("UNIX:/tmp/dc"),
            Err(UpstreamTlsError::NotIp("UNIX:/tmp/dc".into()))
        );
        assert!(matches!(name("IP:9001"), Err(UpstreamTlsError::NotIp(_))));
    }
}
