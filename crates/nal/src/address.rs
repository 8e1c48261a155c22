//! libnal address syntax: `IP:host:port`, `IP:port`, `UNIX:/path`; see
//! [`Address`].

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::NalError;

/// Shortest address accepted, in bytes (the original's limit).
pub const MIN_ADDRESS_LEN: usize = 2;
/// Longest address accepted, in bytes (the original's limit).
pub const MAX_ADDRESS_LEN: usize = 255;
/// Longest Unix socket path accepted, in bytes: `sun_path` on Linux holds 108
/// bytes including the terminating NUL.
pub const MAX_UNIX_PATH_LEN: usize = 107;

/// What every "invalid address" message tells the user to write instead.
const EXPECTED: &str = "IP:host:port, IP:port or UNIX:/path";

/// A network address in libnal syntax.
///
/// The accepted forms, with prefixes matched case-sensitively:
///
/// ```text
/// IP:<port>  IPv4:<port>  IP::<port>   every local interface; listen only
/// IP:<host>:<port>  IPv4:<host>:<port> a DNS name or a dotted quad
/// IP:[<ipv6>]:<port>                   an IPv6 literal (our extension)
/// UNIX:<path>                          a Unix-domain stream socket
/// ```
///
/// The host is everything between the prefix's colon and the next colon, so
/// `IP:a:b:c` is invalid: its port would be `b:c`. The original library's
/// `FD:` forms are refused with an error that says so, and Unix paths longer
/// than the kernel's limit are refused rather than silently cut short.
///
/// Parsing never touches the network; host names are resolved by
/// [`Address::resolve`], which binds and connects call.
///
/// Its [`Display`](fmt::Display) form is canonical (`IP:host:port`,
/// `IP:port`, `IP:[::1]:9001`, `UNIX:/path`) and parses back to the same
/// value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Address {
    /// A TCP address.
    Ip {
        /// A DNS name, a dotted quad or an IPv6 literal (stored without
        /// brackets, in canonical form). `None` means every local interface
        /// (INADDR_ANY), which can listen but not connect. Should not be
        /// `Some("")`: that is written `None`.
        host: Option<String>,
        /// The TCP port; 0 asks the kernel to pick one when listening.
        port: u16,
    },
    /// A Unix-domain stream socket at this path.
    Unix(PathBuf),
}

/// Why a string is not a valid [`Address`].
///
/// Every message quotes the bad input and says which forms are expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The string is shorter than [`MIN_ADDRESS_LEN`] or longer than
    /// [`MAX_ADDRESS_LEN`] bytes.
    #[error("invalid address {address:?}: expected {expected} (length {len} bytes is outside {min}-{max})",
        expected = EXPECTED, min = MIN_ADDRESS_LEN, max = MAX_ADDRESS_LEN)]
    Length {
        /// The rejected input.
        address: String,
        /// Its length in bytes.
        len: usize,
    },

    /// There is no colon, so there is no prefix.
    #[error("invalid address {address:?}: expected {expected} (missing the \"IP:\" or \"UNIX:\" prefix)",
        expected = EXPECTED)]
    MissingPrefix {
        /// The rejected input.
        address: String,
    },

    /// The prefix is not `IP`, `IPv4` or `UNIX`.
    #[error("invalid address {address:?}: expected {expected} (unknown prefix {prefix:?}; prefixes are case-sensitive)",
        expected = EXPECTED)]
    UnknownPrefix {
        /// The rejected input.
        address: String,
        /// The text before the first colon.
        prefix: String,
    },

    /// An `FD:` address. The original library used these internally for
    /// already-open descriptors; this implementation does not support them.
    #[error("invalid address {address:?}: FD: addresses (already-open file descriptors) are not supported; expected {expected}",
        expected = EXPECTED)]
    FdUnsupported {
        /// The rejected input.
        address: String,
    },

    /// The port is missing, not decimal, or above 65535.
    #[error("invalid address {address:?}: expected {expected} (port {port:?} is not a number 0-65535)",
        expected = EXPECTED)]
    BadPort {
        /// The rejected input.
        address: String,
        /// The text taken as the port.
        port: String,
    },

    /// A bracketed host is malformed or not an IPv6 literal.
    #[error("invalid address {address:?}: expected IP:[ipv6]:port, {expected} ({detail})",
        expected = EXPECTED)]
    BadIpv6 {
        /// The rejected input.
        address: String,
        /// What is wrong with it.
        detail: String,
    },

    /// The path of a `UNIX:` address is empty, too long or contains NUL.
    #[error("invalid address {address:?}: expected {expected} ({detail})",
        expected = EXPECTED)]
    BadUnixPath {
        /// The rejected input.
        address: String,
        /// What is wrong with it.
        detail: String,
    },
}

impl AddressError {
    /// The rejected input, verbatim.
    pub fn address(&self) -> &str {
        match self {
            AddressError::Length { address, .. }
            | AddressError::MissingPrefix { address }
            | AddressError::UnknownPrefix { address, .. }
            | AddressError::FdUnsupported { address }
            | AddressError::BadPort { address, .. }
            | AddressError::BadIpv6 { address, .. }
            | AddressError::BadUnixPath { address, .. } => address,
        }
    }
}

impl Address {
    /// Parses an address in libnal syntax; see [`Address`] for the forms.
    pub fn parse(s: &str) -> Result<Address, AddressError> {
        let address = || s.to_owned();
        if !(MIN_ADDRESS_LEN..=MAX_ADDRESS_LEN).contains(&s.len()) {
            return Err(AddressError::Length {
                address: address(),
                len: s.len(),
            });
        }
        let Some((prefix, rest)) = s.split_once(':') else {
            return Err(AddressError::MissingPrefix { address: address() });
        };
        match prefix {
            "IP" | "IPv4" => parse_ip(s, prefix, rest),
            "UNIX" => parse_unix(s, rest),
            "FD" => Err(AddressError::FdUnsupported { address: address() }),
            _ => Err(AddressError::UnknownPrefix {
                address: address(),
                prefix: prefix.to_owned(),
            }),
        }
    }

    /// Whether a listener can be bound here. Every valid address can listen.
    pub fn can_listen(&self) -> bool {
        true
    }

    /// Whether a connection can be made here: not to `IP:<port>`, which
    /// names no particular host.
    pub fn can_connect(&self) -> bool {
        !matches!(self, Address::Ip { host: None, .. })
    }

    /// The socket path of a `UNIX:` address.
    pub fn unix_path(&self) -> Option<&Path> {
        match self {
            Address::Unix(path) => Some(path),
            Address::Ip { .. } => None,
        }
    }

    /// Whether connecting to this address needs a host name looked up (an
    /// `IP:` address whose host is not a literal IP address), which blocks.
    pub fn needs_lookup(&self) -> bool {
        match self {
            Address::Ip {
                host: Some(host), ..
            } => host.parse::<IpAddr>().is_err(),
            _ => false,
        }
    }

    /// This address with a relative `UNIX:` path made absolute against the
    /// current directory (for a daemon, which moves to `/`); `IP:`
    /// addresses and absolute paths are unchanged.
    pub fn into_absolute(self) -> Address {
        match self {
            Address::Unix(path) => {
                let absolute = std::path::absolute(&path).unwrap_or(path);
                Address::Unix(absolute)
            }
            other => other,
        }
    }

    /// Resolves an `IP:` address to one socket address.
    ///
    /// No host means INADDR_ANY. Literals are used as they are. A name goes
    /// through the system resolver (this blocks); of its results the first
    /// IPv4 address is preferred, as the original only ever used IPv4 and its
    /// peers may listen on IPv4 only, and otherwise the first address is
    /// taken.
    pub fn resolve(&self) -> Result<SocketAddr, NalError> {
        let (host, port) = match self {
            Address::Unix(_) => {
                return Err(NalError::NotIp {
                    address: self.to_string(),
                })
            }
            Address::Ip { host: None, port } => {
                return Ok(SocketAddr::from((Ipv4Addr::UNSPECIFIED, *port)))
            }
            Address::Ip {
                host: Some(host),
                port,
            } => (host, *port),
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        let resolve_error = |source| NalError::Resolve {
            address: self.to_string(),
            source,
        };
        let found: Vec<SocketAddr> = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(resolve_error)?
            .collect();
        found
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| found.first())
            .copied()
            .ok_or_else(|| {
                resolve_error(io::Error::new(
                    io::ErrorKind::NotFound,
                    "the name has no addresses",
                ))
            })
    }
}

fn parse_ip(s: &str, prefix: &str, rest: &str) -> Result<Address, AddressError> {
    let bad_ipv6 = |detail: String| AddressError::BadIpv6 {
        address: s.to_owned(),
        detail,
    };
    let (host, port_text) = if let Some(bracketed) = rest.strip_prefix('[') {
        if prefix != "IP" {
            return Err(bad_ipv6(format!(
                "{prefix}: cannot take a bracketed IPv6 address; write IP:[ipv6]:port"
            )));
        }
        let Some((literal, after)) = bracketed.split_once(']') else {
            return Err(bad_ipv6("missing ']' after the IPv6 address".into()));
        };
        let Ok(ip) = literal.parse::<Ipv6Addr>() else {
            return Err(bad_ipv6(format!(
                "bracketed host {literal:?} is not an IPv6 address"
            )));
        };
        let Some(port_text) = after.strip_prefix(':') else {
            return Err(bad_ipv6(format!(
                "expected \":<port>\" after ']', found {after:?}"
            )));
        };
        // Stored in canonical form so that equal addresses compare equal and
        // Display round-trips.
        (Some(ip.to_string()), port_text)
    } else {
        match rest.split_once(':') {
            None => (None, rest),
            Some(("", port_text)) => (None, port_text),
            Some((host, port_text)) => (Some(host.to_owned()), port_text),
        }
    };
    let port = parse_port(port_text).ok_or_else(|| AddressError::BadPort {
        address: s.to_owned(),
        port: port_text.to_owned(),
    })?;
    Ok(Address::Ip { host, port })
}

/// Decimal digits only: `u16::from_str` alone would also take a leading `+`.
fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_unix(s: &str, path: &str) -> Result<Address, AddressError> {
    let bad = |detail: String| AddressError::BadUnixPath {
        address: s.to_owned(),
        detail,
    };
    if path.is_empty() {
        return Err(bad("the path after UNIX: is empty".into()));
    }
    if path.len() > MAX_UNIX_PATH_LEN {
        return Err(bad(format!(
            "the path is {} bytes; Unix socket paths are limited to {MAX_UNIX_PATH_LEN}",
            path.len()
        )));
    }
    if path.contains('\0') {
        return Err(bad("the path contains a NUL byte".into()));
    }
    Ok(Address::Unix(PathBuf::from(path)))
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Address::parse(s)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Ip { host: None, port } => write!(f, "IP:{port}"),
            Address::Ip {
                host: Some(host),
                port,
            } if host.contains(':') => write!(f, "IP:[{host}]:{port}"),
            Address::Ip {
                host: Some(host),
                port,
            } => write!(f, "IP:{host}:{port}"),
            Address::Unix(path) => write!(f, "UNIX:{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(host: Option<&str>, port: u16) -> Address {
        Address::Ip {
            host: host.map(str::to_owned),
            port,
        }
    }

    #[test]
    fn good_forms() {
        let cases = [
            ("IP:9001", ip(None, 9001)),
            ("IPv4:9001", ip(None, 9001)),
            ("IP::9001", ip(None, 9001)),
            ("IPv4::0", ip(None, 0)),
            ("IP:65535", ip(None, 65535)),
            ("IP:localhost:9001", ip(Some("localhost"), 9001)),
            ("IPv4:10.0.0.1:1", ip(Some("10.0.0.1"), 1)),
            ("IP:cache.example.com:007", ip(Some("cache.example.com"), 7)),
            ("IP:[::1]:9001", ip(Some("::1"), 9001)),
            ("IP:[0:0:0:0:0:0:0:1]:9001", ip(Some("::1"), 9001)),
            ("IP:[fe80::1]:0", ip(Some("fe80::1"), 0)),
            (
                "UNIX:/tmp/dc.sock",
                Address::Unix(PathBuf::from("/tmp/dc.sock")),
            ),
            ("UNIX:rel", Address::Unix(PathBuf::from("rel"))),
            ("UNIX:/a:b:c", Address::Unix(PathBuf::from("/a:b:c"))),
        ];
        for (text, want) in cases {
            assert_eq!(Address::parse(text).as_ref(), Ok(&want), "{text}");
            assert_eq!(text.parse::<Address>(), Ok(want), "{text}");
        }
        let longest = format!("UNIX:/{}", "p".repeat(MAX_UNIX_PATH_LEN - 1));
        assert!(Address::parse(&longest).is_ok());
    }

    #[test]
    fn bad_forms_name_the_input() {
        let too_long_path = format!("UNIX:/{}", "p".repeat(MAX_UNIX_PATH_LEN));
        let too_long = format!("IP:{}:1", "h".repeat(MAX_ADDRESS_LEN));
        let bad = [
            "",
            "I",
            "IP",
            "IP:",
            "IP::",
            "IP:a:b:c",
            "IP:host:",
            "IP:host:port",
            "IP:65536",
            "IP:99999999999999999999",
            "IP:+80",
            "IP:-1",
            "IP: 80",
            "IP:80 ",
            "ip:80",
            "ipv4:80",
            "IPv6:80",
            "TCP:host:80",
            "unix:/tmp/x",
            "UNIX:",
            "UNIX:/tmp/\0x",
            "FD:3",
            "FD:3:4",
            "IP:[::1]",
            "IP:[::1:80",
            "IP:[::1]80",
            "IP:[nothex]:80",
            "IP:[1.2.3.4]:80",
            "IP:[]:80",
            "IPv4:[::1]:80",
            "IP:[::1]:x",
            "nocolon",
            &too_long_path,
            &too_long,
        ];
        for text in bad {
            let err = Address::parse(text).expect_err(text);
            assert_eq!(err.address(), text);
            let message = err.to_string();
            assert!(
                message.contains(&format!("{text:?}")),
                "message for {text:?} does not quote it: {message}"
            );
            assert!(message.contains(EXPECTED), "{message}");
        }
    }

    #[test]
    fn exact_messages() {
        assert_eq!(
            Address::parse("IP:a:b:c").unwrap_err().to_string(),
            "invalid address \"IP:a:b:c\": expected IP:host:port, IP:port or UNIX:/path \
             (port \"b:c\" is not a number 0-65535)"
        );
        let fd = Address::parse("FD:3").unwrap_err().to_string();
        assert!(fd.contains("not supported"), "{fd}");
        let long = Address::parse(&format!("UNIX:/{}", "p".repeat(200)))
            .unwrap_err()
            .to_string();
        assert!(long.contains("limited to 107"), "{long}");
        let prefix = Address::parse("unix:/x").unwrap_err();
        assert!(
            matches!(prefix, AddressError::UnknownPrefix { ref prefix, .. } if prefix == "unix")
        );
    }

    #[test]
    fn display_is_canonical() {
        for (text, canonical) in [
            ("IP:9001", "IP:9001"),
            ("IPv4::9001", "IP:9001"),
            ("IPv4:localhost:09001", "IP:localhost:9001"),
            ("IP:[0::1]:1", "IP:[::1]:1"),
            ("UNIX:/tmp/x", "UNIX:/tmp/x"),
        ] {
            let address = Address::parse(text).unwrap();
            assert_eq!(address.to_string(), canonical);
            assert_eq!(Address::parse(canonical).unwrap(), address);
        }
    }

    #[test]
    fn listen_and_connect() {
        let listen_only = Address::parse("IP:9001").unwrap();
        assert!(listen_only.can_listen() && !listen_only.can_connect());
        for text in ["IP:localhost:9001", "IP:[::1]:1", "UNIX:/tmp/x"] {
            let address = Address::parse(text).unwrap();
            assert!(address.can_listen() && address.can_connect(), "{text}");
        }
    }

    #[test]
    fn only_host_names_need_a_lookup() {
        for (a, needs) in [
            ("IP:cachehost:9001", true),
            ("IP:127.0.0.1:9001", false),
            ("IP:[::1]:9001", false),
            ("IP:9001", false),
            ("UNIX:/tmp/x", false),
        ] {
            assert_eq!(Address::parse(a).unwrap().needs_lookup(), needs, "{a}");
        }
    }

    #[test]
    fn resolve_forms() {
        assert_eq!(
            Address::parse("IP:9001").unwrap().resolve().unwrap(),
            "0.0.0.0:9001".parse().unwrap()
        );
        assert_eq!(
            Address::parse("IP:127.0.0.1:5").unwrap().resolve().unwrap(),
            "127.0.0.1:5".parse().unwrap()
        );
        assert_eq!(
            Address::parse("IP:[::1]:5").unwrap().resolve().unwrap(),
            "[::1]:5".parse().unwrap()
        );
        // "localhost" is in every hosts file; the IPv4 answer is preferred.
        let local = Address::parse("IP:localhost:5").unwrap().resolve().unwrap();
        assert!(local.ip().is_loopback() && local.port() == 5, "{local}");
        let unix = Address::parse("UNIX:/tmp/x").unwrap().resolve();
        assert!(matches!(unix, Err(NalError::NotIp { .. })));
        // The .invalid TLD is reserved never to resolve (RFC 2606).
        let missing = Address::parse("IP:no-such-host.invalid:5")
            .unwrap()
            .resolve()
            .unwrap_err();
        assert!(matches!(missing, NalError::Resolve { .. }));
        assert!(missing.to_string().contains("IP:no-such-host.invalid:5"));
    }

    fn any_address() -> impl Strategy<Value = Address> {
        prop_oneof![
            any::<u16>().prop_map(|port| Address::Ip { host: None, port }),
            ("[a-z0-9][a-z0-9.-]{0,40}", any::<u16>()).prop_map(|(host, port)| Address::Ip {
                host: Some(host),
                port
            }),
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(octets, port)| Address::Ip {
                host: Some(Ipv4Addr::from(octets).to_string()),
                port
            }),
            (any::<[u8; 16]>(), any::<u16>()).prop_map(|(octets, port)| Address::Ip {
                host: Some(Ipv6Addr::from(octets).to_string()),
                port
            }),
            "/?[a-zA-Z0-9_.:/-]{1,100}".prop_map(|p| Address::Unix(PathBuf::from(p))),
        ]
    }

    proptest! {
        #[test]
        fn display_round_trips(address in any_address()) {
            let text = address.to_string();
            prop_assert_eq!(Address::parse(&text), Ok(address));
        }

        #[test]
        fn parse_never_panics_and_round_trips(text in "\\PC{0,80}|(IP|IPv4|UNIX|FD):[\\[\\]:0-9a-f.]{0,30}") {
            if let Ok(address) = Address::parse(&text) {
                prop_assert_eq!(Address::parse(&address.to_string()), Ok(address));
            }
        }
    }
}
