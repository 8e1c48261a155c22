//! Address syntax: libnal's `IP:host:port`, `IP:port`, `UNIX:/path`, and
//! the forms other daemons take (`host:port`, `:port`, `[::1]:port`, a plain
//! path); see [`Address`].

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

/// What every "invalid address" message tells the user to write instead:
/// every accepted form.
pub const ADDRESS_FORMS: &str = "host:port, :port, [ipv6]:port, /path, ./path, \
                                 IP:host:port, IP:port, IP:[ipv6]:port or UNIX:path";

/// The "Addresses:" paragraph of the programs' `--help`, one form per line.
pub const ADDRESS_HELP: &str = "\
Addresses:
  host:port, IP:host:port      a host name or IPv4 address, e.g. 127.0.0.1:9001
  [ipv6]:port, IP:[ipv6]:port  an IPv6 address, e.g. [::1]:9001
  :port, IP:port               every interface (to listen on only)
  /path, ./path, UNIX:path     a unix socket; a path without UNIX: must start
                               with / ./ ../ or hold a / and no colon";

/// The distcache prefixes, matched case-sensitively.
const PREFIXES: [&str; 4] = ["IP", "IPv4", "UNIX", "FD"];

/// A network address.
///
/// Two families of forms are accepted. First the distcache (libnal) forms,
/// recognised by the text before the first colon and matched
/// case-sensitively; they keep the original's meaning, so `IP:9001` is port
/// 9001 on every interface, never a host called "IP":
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
/// `FD:` forms are refused with an error that says so.
///
/// Then the forms every other daemon's listen address takes, for anything
/// without a distcache prefix, tried in this order:
///
/// ```text
/// /<path>  ./<path>  ../<path>         a Unix socket: starts with / ./ ../
/// <dir>/<name>                         a Unix socket: a '/' and no ':'
/// <host>:<port>                        a DNS name or dotted quad
/// [<ipv6>]:<port>                      an IPv6 literal
/// :<port>                              every local interface; listen only
/// ```
///
/// That rule is unambiguous because a `host:port` never holds a `/` and
/// always holds a `:`. A bare name (`dc.sock`, `localhost`, `9001`) is
/// refused: it could be a file or a host whose port was forgotten. The host
/// of a plain `host:port` is letters, digits, `.`, `-` and `_`; a case
/// variant of a prefix (`ip:80`, `unix:/x`), an IPv6 address without
/// brackets and a URL (`http://host:port`) are refused with a message saying
/// what to write instead. Unix paths longer than the kernel's limit are
/// refused rather than silently cut short.
///
/// Parsing never touches the network; host names are resolved by
/// [`Address::resolve`], which binds and connects call.
///
/// Its [`Display`](fmt::Display) form is canonical, in the distcache forms
/// (`IP:host:port`, `IP:port`, `IP:[::1]:9001`, `UNIX:/path`), and parses
/// back to the same value: `127.0.0.1:9100` displays as
/// `IP:127.0.0.1:9100`, `/run/dc.sock` as `UNIX:/run/dc.sock`.
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
/// Every message quotes the bad input and lists the accepted forms
/// ([`ADDRESS_FORMS`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The string is shorter than [`MIN_ADDRESS_LEN`] or longer than
    /// [`MAX_ADDRESS_LEN`] bytes.
    #[error("invalid address {address:?}: expected {expected} (length {len} bytes is outside {min}-{max})",
        expected = ADDRESS_FORMS, min = MIN_ADDRESS_LEN, max = MAX_ADDRESS_LEN)]
    Length {
        /// The rejected input.
        address: String,
        /// Its length in bytes.
        len: usize,
    },

    /// There is neither a colon nor a slash: no port, and not a path.
    #[error("invalid address {address:?}: expected {expected} (no ':' and no '/': write host:port, \
        :port for every interface, or ./name for a unix socket in this directory)",
        expected = ADDRESS_FORMS)]
    NoPortOrPath {
        /// The rejected input.
        address: String,
    },

    /// The text before the first colon looks like a prefix but is not
    /// `IP`, `IPv4` or `UNIX` (e.g. `ip:`, `TCP:host:port`).
    #[error("invalid address {address:?}: expected {expected} (unknown prefix {prefix:?}; \
        the prefixes are IP:, IPv4: and UNIX:, case-sensitive)",
        expected = ADDRESS_FORMS)]
    UnknownPrefix {
        /// The rejected input.
        address: String,
        /// The text before the first colon.
        prefix: String,
    },

    /// A URL (`http://host:port`), where an address was wanted.
    #[error("invalid address {address:?}: expected {expected} (a URL is not an address: \
        write just host:port)",
        expected = ADDRESS_FORMS)]
    Url {
        /// The rejected input.
        address: String,
    },

    /// An `FD:` address. The original library used these internally for
    /// already-open descriptors; this implementation does not support them.
    #[error("invalid address {address:?}: FD: addresses (already-open file descriptors) are not supported; expected {expected}",
        expected = ADDRESS_FORMS)]
    FdUnsupported {
        /// The rejected input.
        address: String,
    },

    /// The host of a plain `host:port` holds other characters than
    /// letters, digits, `.`, `-` and `_`.
    #[error("invalid address {address:?}: expected {expected} ({detail})",
        expected = ADDRESS_FORMS)]
    BadHost {
        /// The rejected input.
        address: String,
        /// What is wrong with it.
        detail: String,
    },

    /// The port is missing, not decimal, or above 65535.
    #[error("invalid address {address:?}: expected {expected} (port {port:?} is not a number 0-65535)",
        expected = ADDRESS_FORMS)]
    BadPort {
        /// The rejected input.
        address: String,
        /// The text taken as the port.
        port: String,
    },

    /// A bracketed host is malformed or not an IPv6 literal, or an IPv6
    /// literal is missing its brackets.
    #[error("invalid address {address:?}: expected {expected} ({detail})",
        expected = ADDRESS_FORMS)]
    BadIpv6 {
        /// The rejected input.
        address: String,
        /// What is wrong with it.
        detail: String,
    },

    /// A Unix socket path is empty, too long or contains NUL.
    #[error("invalid address {address:?}: expected {expected} ({detail})",
        expected = ADDRESS_FORMS)]
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
            | AddressError::NoPortOrPath { address }
            | AddressError::UnknownPrefix { address, .. }
            | AddressError::Url { address }
            | AddressError::FdUnsupported { address }
            | AddressError::BadHost { address, .. }
            | AddressError::BadPort { address, .. }
            | AddressError::BadIpv6 { address, .. }
            | AddressError::BadUnixPath { address, .. } => address,
        }
    }
}

impl Address {
    /// Parses an address in any accepted form; see [`Address`].
    pub fn parse(s: &str) -> Result<Address, AddressError> {
        if !(MIN_ADDRESS_LEN..=MAX_ADDRESS_LEN).contains(&s.len()) {
            return Err(AddressError::Length {
                address: s.to_owned(),
                len: s.len(),
            });
        }
        if let Some((prefix, rest)) = s.split_once(':') {
            match prefix {
                "IP" | "IPv4" => return parse_ip(s, prefix, rest),
                "UNIX" => return parse_unix(s, rest),
                "FD" => {
                    return Err(AddressError::FdUnsupported {
                        address: s.to_owned(),
                    })
                }
                _ => {}
            }
        }
        if is_plain_path(s) {
            return parse_unix(s, s);
        }
        parse_plain_host_port(s)
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
    let (host, port_text) = if let Some(bracketed) = rest.strip_prefix('[') {
        if prefix != "IP" {
            return Err(AddressError::BadIpv6 {
                address: s.to_owned(),
                detail: format!(
                    "{prefix}: cannot take a bracketed IPv6 address; write IP:[ipv6]:port"
                ),
            });
        }
        let (ip, port_text) = parse_bracketed(s, bracketed)?;
        (Some(ip), port_text)
    } else {
        match rest.split_once(':') {
            None => (None, rest),
            Some(("", port_text)) => (None, port_text),
            Some((host, port_text)) => (Some(host.to_owned()), port_text),
        }
    };
    Ok(Address::Ip {
        host,
        port: port_of(s, port_text)?,
    })
}

/// Whether `s`, which has no distcache prefix, is a Unix socket path: it
/// starts with `/`, `./` or `../`, or it holds a `/` and no `:`. Neither
/// can be a `host:port`, which never holds a `/` and always a `:`.
fn is_plain_path(s: &str) -> bool {
    s.starts_with('/')
        || s.starts_with("./")
        || s.starts_with("../")
        || (s.contains('/') && !s.contains(':'))
}

/// `host:port`, `:port` or `[ipv6]:port`, without a prefix.
fn parse_plain_host_port(s: &str) -> Result<Address, AddressError> {
    if s.contains("://") {
        return Err(AddressError::Url {
            address: s.to_owned(),
        });
    }
    if let Some(bracketed) = s.strip_prefix('[') {
        let (ip, port_text) = parse_bracketed(s, bracketed)?;
        return Ok(Address::Ip {
            host: Some(ip),
            port: port_of(s, port_text)?,
        });
    }
    let Some((host, port_text)) = s.split_once(':') else {
        return Err(AddressError::NoPortOrPath {
            address: s.to_owned(),
        });
    };
    if port_text.contains(':') {
        // More than one colon: an IPv6 literal without its brackets, or a
        // prefix this parser does not know.
        let unbracketed = s.parse::<Ipv6Addr>().is_ok()
            || s.rsplit_once(':')
                .is_some_and(|(ip, _)| ip.parse::<Ipv6Addr>().is_ok());
        if unbracketed {
            return Err(AddressError::BadIpv6 {
                address: s.to_owned(),
                detail: "an IPv6 address needs brackets, as in [::1]:9001".into(),
            });
        }
        if host.is_empty() {
            return Err(AddressError::BadPort {
                address: s.to_owned(),
                port: port_text.to_owned(),
            });
        }
        return Err(AddressError::UnknownPrefix {
            address: s.to_owned(),
            prefix: host.to_owned(),
        });
    }
    if ["IPv6"]
        .iter()
        .chain(&PREFIXES)
        .any(|p| host.eq_ignore_ascii_case(p))
    {
        return Err(AddressError::UnknownPrefix {
            address: s.to_owned(),
            prefix: host.to_owned(),
        });
    }
    if let Some(bad) = host
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        let detail = if bad == '/' {
            format!(
                "host {host:?} holds a '/': a unix socket path with a ':' in it \
                 must start with / or ./, or be written UNIX:path"
            )
        } else {
            format!("host {host:?} holds {bad:?}: a host is letters, digits, '.', '-' and '_'")
        };
        return Err(AddressError::BadHost {
            address: s.to_owned(),
            detail,
        });
    }
    Ok(Address::Ip {
        host: (!host.is_empty()).then(|| host.to_owned()),
        port: port_of(s, port_text)?,
    })
}

/// The IPv6 literal (in canonical form) and the port text of
/// `<ipv6>]:<port>`, the part of `s` after its `[`.
fn parse_bracketed<'a>(s: &str, bracketed: &'a str) -> Result<(String, &'a str), AddressError> {
    let bad_ipv6 = |detail: String| AddressError::BadIpv6 {
        address: s.to_owned(),
        detail,
    };
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
    Ok((ip.to_string(), port_text))
}

/// The port `text` of address `s`, or the error that quotes both.
fn port_of(s: &str, text: &str) -> Result<u16, AddressError> {
    parse_port(text).ok_or_else(|| AddressError::BadPort {
        address: s.to_owned(),
        port: text.to_owned(),
    })
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
            // The forms without a prefix.
            ("127.0.0.1:9100", ip(Some("127.0.0.1"), 9100)),
            ("localhost:9001", ip(Some("localhost"), 9001)),
            ("cache-1.example.com:0", ip(Some("cache-1.example.com"), 0)),
            ("_srv.local:1", ip(Some("_srv.local"), 1)),
            ("IPX:80", ip(Some("IPX"), 80)),
            ("Unixhost:80", ip(Some("Unixhost"), 80)),
            (":9001", ip(None, 9001)),
            (":0", ip(None, 0)),
            ("[::1]:9001", ip(Some("::1"), 9001)),
            ("[0:0::1]:1", ip(Some("::1"), 1)),
            ("[::]:80", ip(Some("::"), 80)),
            ("/run/dc.sock", Address::Unix(PathBuf::from("/run/dc.sock"))),
            ("/a:b", Address::Unix(PathBuf::from("/a:b"))),
            ("./dc.sock", Address::Unix(PathBuf::from("./dc.sock"))),
            ("./x:1", Address::Unix(PathBuf::from("./x:1"))),
            ("../up/dc", Address::Unix(PathBuf::from("../up/dc"))),
            ("run/dc.sock", Address::Unix(PathBuf::from("run/dc.sock"))),
            ("//", Address::Unix(PathBuf::from("//"))),
        ];
        for (text, want) in cases {
            assert_eq!(Address::parse(text).as_ref(), Ok(&want), "{text}");
            assert_eq!(text.parse::<Address>(), Ok(want), "{text}");
        }
        let longest = format!("/{}", "p".repeat(MAX_UNIX_PATH_LEN - 1));
        assert!(Address::parse(&format!("UNIX:{longest}")).is_ok());
        assert!(Address::parse(&longest).is_ok());
    }

    /// The distcache prefixes keep their meaning: `IP:9001` is port 9001
    /// on every interface, not the host "IP", and so on.
    #[test]
    fn prefixes_win_over_host_port() {
        assert_eq!(Address::parse("IP:9001"), Ok(ip(None, 9001)));
        assert_eq!(Address::parse("IPv4:9001"), Ok(ip(None, 9001)));
        assert_eq!(
            Address::parse("UNIX:9001"),
            Ok(Address::Unix(PathBuf::from("9001")))
        );
        assert!(matches!(
            Address::parse("FD:9001"),
            Err(AddressError::FdUnsupported { .. })
        ));
        // A host called IP is still written with the prefix.
        assert_eq!(Address::parse("IP:IP:9001"), Ok(ip(Some("IP"), 9001)));
    }

    #[test]
    fn bad_forms_name_the_input() {
        let too_long_path = format!("UNIX:/{}", "p".repeat(MAX_UNIX_PATH_LEN));
        let too_long_plain_path = format!("/{}", "p".repeat(MAX_UNIX_PATH_LEN));
        let too_long = format!("IP:{}:1", "h".repeat(MAX_ADDRESS_LEN));
        let too_long_plain = format!("{}:1", "h".repeat(MAX_ADDRESS_LEN));
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
            // The forms without a prefix.
            "9001",
            "localhost",
            "dc.sock",
            ":",
            ":x",
            ":65536",
            ":a:b",
            "host:",
            "host:port",
            "host:+1",
            "a b:80",
            "host,x:80",
            "run/a:b",
            "::1",
            "::1:9001",
            "fe80::1:80",
            "1:2:3:4:5:6:7:8",
            "[::1]",
            "[::1]:",
            "[::1]9001",
            "[::1:80",
            "[1.2.3.4]:80",
            "[]:80",
            "http://127.0.0.1:9100",
            "tcp://h:1",
            "Ip:80",
            "ipV4:80",
            "Unix:/tmp/x",
            "fd:3",
            "/tmp/\0x",
            &too_long_plain_path,
            &too_long_plain,
        ];
        for text in bad {
            let err = Address::parse(text).expect_err(text);
            assert_eq!(err.address(), text);
            let message = err.to_string();
            assert!(
                message.contains(&format!("{text:?}")),
                "message for {text:?} does not quote it: {message}"
            );
            assert!(message.contains(ADDRESS_FORMS), "{message}");
        }
    }

    #[test]
    fn exact_messages() {
        assert_eq!(
            Address::parse("IP:a:b:c").unwrap_err().to_string(),
            "invalid address \"IP:a:b:c\": expected host:port, :port, [ipv6]:port, /path, \
             ./path, IP:host:port, IP:port, IP:[ipv6]:port or UNIX:path \
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
        for (text, kind, needle) in [
            ("localhost", "NoPortOrPath", "./name for a unix socket"),
            ("9001", "NoPortOrPath", ":port for every interface"),
            ("TCP:h:80", "UnknownPrefix", "unknown prefix \"TCP\""),
            ("ip:80", "UnknownPrefix", "case-sensitive"),
            ("http://h:80", "Url", "a URL is not an address"),
            ("::1:9001", "BadIpv6", "needs brackets, as in [::1]:9001"),
            ("fe80::1", "BadIpv6", "needs brackets"),
            ("run/a:b", "BadHost", "must start with / or ./"),
            ("a b:80", "BadHost", "host \"a b\" holds ' '"),
            (":a:b", "BadPort", "port \"a:b\""),
            ("[::1]9001", "BadIpv6", "after ']'"),
        ] {
            let err = Address::parse(text).unwrap_err();
            assert!(format!("{err:?}").starts_with(kind), "{text}: {err:?}");
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn display_is_canonical() {
        for (text, canonical) in [
            ("IP:9001", "IP:9001"),
            ("IPv4::9001", "IP:9001"),
            ("IPv4:localhost:09001", "IP:localhost:9001"),
            ("IP:[0::1]:1", "IP:[::1]:1"),
            ("UNIX:/tmp/x", "UNIX:/tmp/x"),
            ("127.0.0.1:9100", "IP:127.0.0.1:9100"),
            ("localhost:09001", "IP:localhost:9001"),
            (":9001", "IP:9001"),
            ("[0::1]:1", "IP:[::1]:1"),
            ("/run/dc.sock", "UNIX:/run/dc.sock"),
            ("./dc.sock", "UNIX:./dc.sock"),
            ("run/dc.sock", "UNIX:run/dc.sock"),
        ] {
            let address = Address::parse(text).unwrap();
            assert_eq!(address.to_string(), canonical);
            assert_eq!(Address::parse(canonical).unwrap(), address);
        }
    }

    #[test]
    fn listen_and_connect() {
        for text in ["IP:9001", ":9001", "IPv4::9001"] {
            let listen_only = Address::parse(text).unwrap();
            assert!(listen_only.can_listen() && !listen_only.can_connect());
        }
        for text in [
            "IP:localhost:9001",
            "IP:[::1]:1",
            "UNIX:/tmp/x",
            "localhost:9001",
            "[::1]:1",
            "/tmp/x",
            "./x",
        ] {
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

    /// `address` written without a prefix, where it has such a form: a
    /// host that spells a prefix, or a path that does not look like one,
    /// needs the prefix.
    fn plain_form(address: &Address) -> Option<String> {
        match address {
            Address::Ip { host: None, port } => Some(format!(":{port}")),
            Address::Ip {
                host: Some(host),
                port,
            } if host.contains(':') => Some(format!("[{host}]:{port}")),
            Address::Ip {
                host: Some(host),
                port,
            } => (!["ip", "ipv4", "ipv6", "unix", "fd"].contains(&host.as_str()))
                .then(|| format!("{host}:{port}")),
            Address::Unix(path) => {
                let path = path.to_str()?;
                is_plain_path(path).then(|| path.to_owned())
            }
        }
    }

    proptest! {
        #[test]
        fn plain_forms_mean_the_same(address in any_address()) {
            if let Some(plain) = plain_form(&address) {
                prop_assert_eq!(Address::parse(&plain), Ok(address));
            }
        }

        #[test]
        fn display_round_trips(address in any_address()) {
            let text = address.to_string();
            prop_assert_eq!(Address::parse(&text), Ok(address));
        }

        #[test]
        fn parse_never_panics_and_round_trips(text in "\\PC{0,80}|((IP|IPv4|UNIX|FD):)?[\\[\\]:/0-9a-f.]{0,30}") {
            if let Ok(address) = Address::parse(&text) {
                prop_assert_eq!(Address::parse(&address.to_string()), Ok(address));
            }
        }
    }
}
