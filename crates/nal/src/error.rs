//! Errors from binding, connecting and resolving.
//!
//! Every variant names the address (in its canonical libnal form) so that a
//! binary can print the error as one self-explanatory line.

use std::io;

/// A failure to resolve, bind, listen on or connect to an [`Address`].
///
/// [`Address`]: crate::Address
#[derive(Debug, thiserror::Error)]
pub enum NalError {
    /// An operating-system call failed. `action` says which step, phrased so
    /// that the message reads "cannot {action} {address}": for example
    /// `listen on` or `connect to`.
    #[error("cannot {action} {address:?}: {source}")]
    Io {
        /// The address, in canonical form.
        address: String,
        /// The step that failed, e.g. `"listen on"`.
        action: &'static str,
        /// What the operating system said.
        source: io::Error,
    },

    /// The host name of an `IP:` address did not resolve to any address.
    #[error("cannot resolve {address:?}: {source}")]
    Resolve {
        /// The address, in canonical form.
        address: String,
        /// What the resolver said.
        source: io::Error,
    },

    /// The address cannot be connected to: `IP:<port>` (or `:<port>`) names every local
    /// interface and is only meaningful for listening.
    #[error("cannot connect to {address:?}: an address without a host can only listen (expected host:port, [ipv6]:port, IP:host:port or a unix socket path)")]
    NotConnectable {
        /// The address, in canonical form.
        address: String,
    },

    /// An IP-only operation (such as resolving) was asked of a `UNIX:`
    /// address.
    #[error("{address:?} is not an IP address")]
    NotIp {
        /// The address, in canonical form.
        address: String,
    },

    /// A socket file exists at the path and a process accepts connections on
    /// it. We never take a live socket away from its owner.
    #[error("{address} is in use by a running process")]
    UnixInUse {
        /// The address, in canonical form.
        address: String,
    },

    /// Something other than a socket exists at the path. We never unlink
    /// regular files, directories or symbolic links to make room.
    #[error("{address} exists and is not a socket")]
    UnixNotSocket {
        /// The address, in canonical form.
        address: String,
    },
}

impl NalError {
    /// The address this error is about, in canonical form.
    pub fn address(&self) -> &str {
        match self {
            NalError::Io { address, .. }
            | NalError::Resolve { address, .. }
            | NalError::NotConnectable { address }
            | NalError::NotIp { address }
            | NalError::UnixInUse { address }
            | NalError::UnixNotSocket { address } => address,
        }
    }

    /// The underlying I/O error, when there is one; lets callers tell, say,
    /// "connection refused" from "address in use" without parsing text.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            NalError::Io { source, .. } | NalError::Resolve { source, .. } => Some(source),
            _ => None,
        }
    }

    pub(crate) fn io(address: &impl ToString, action: &'static str, source: io::Error) -> Self {
        NalError::Io {
            address: address.to_string(),
            action,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_address() {
        let e = NalError::io(
            &"IP:127.0.0.1:9001",
            "listen on",
            io::Error::from(io::ErrorKind::AddrInUse),
        );
        let text = e.to_string();
        assert!(
            text.starts_with("cannot listen on \"IP:127.0.0.1:9001\": "),
            "{text}"
        );
        assert_eq!(e.address(), "IP:127.0.0.1:9001");
        assert_eq!(
            e.io_error().map(io::Error::kind),
            Some(io::ErrorKind::AddrInUse)
        );

        let e = NalError::UnixInUse {
            address: "UNIX:/tmp/x".into(),
        };
        assert_eq!(e.to_string(), "UNIX:/tmp/x is in use by a running process");
        let e = NalError::UnixNotSocket {
            address: "UNIX:/tmp/x".into(),
        };
        assert_eq!(e.to_string(), "UNIX:/tmp/x exists and is not a socket");
        assert!(e.io_error().is_none());
    }
}
