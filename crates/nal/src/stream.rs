//! Non-blocking byte streams: TCP or Unix-domain, behind one type.

use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;

use mio::event::Source;
use mio::{Interest, Registry, Token};

use crate::tls::TlsStream;
use crate::{Address, NalError};

/// A non-blocking stream socket, accepted by a [`Listener`] or made by
/// [`Stream::connect`].
///
/// [`Listener`]: crate::Listener
#[derive(Debug)]
pub enum Stream {
    /// A TCP connection (`TCP_NODELAY` set).
    Tcp(mio::net::TcpStream),
    /// A Unix-domain stream connection.
    Unix(mio::net::UnixStream),
    /// A TLS session over a TCP connection.
    Tls(Box<TlsStream>),
}

impl Stream {
    /// Starts a non-blocking connect to `address`.
    ///
    /// Returns as soon as the connect is under way. Register the stream for
    /// [`Interest::WRITABLE`]; when it becomes writable, call
    /// [`is_connected`](Self::is_connected) to learn how the connect went.
    /// Resolving a host name blocks. `TCP_NODELAY` is set, as the original
    /// library did for every TCP connection: requests are small and latency
    /// matters more than packet count.
    pub fn connect(address: &Address) -> Result<Stream, NalError> {
        if !address.can_connect() {
            return Err(NalError::NotConnectable {
                address: address.to_string(),
            });
        }
        let connect_error = |e| NalError::io(address, "connect to", e);
        match address {
            Address::Unix(path) => mio::net::UnixStream::connect(path)
                .map(Stream::Unix)
                .map_err(connect_error),
            Address::Ip { .. } => {
                let target = address.resolve()?;
                let stream = mio::net::TcpStream::connect(target).map_err(connect_error)?;
                stream.set_nodelay(true).map_err(connect_error)?;
                Ok(Stream::Tcp(stream))
            }
        }
    }

    /// Like [`connect`](Self::connect) to the `IP:` `address`, whose host
    /// has already been looked up as `target`: nothing blocks. Errors name
    /// `address`.
    pub fn connect_resolved(address: &Address, target: SocketAddr) -> Result<Stream, NalError> {
        let connect_error = |e| NalError::io(address, "connect to", e);
        let stream = mio::net::TcpStream::connect(target).map_err(connect_error)?;
        stream.set_nodelay(true).map_err(connect_error)?;
        Ok(Stream::Tcp(stream))
    }

    /// Wraps an accepted TCP stream in the server end of a TLS session.
    /// Other streams are refused (TLS runs over TCP only).
    pub fn into_tls_server(self, config: Arc<rustls::ServerConfig>) -> io::Result<Stream> {
        match self {
            Stream::Tcp(s) => Ok(Stream::Tls(Box::new(TlsStream::server(s, config)?))),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "TLS runs over TCP only",
            )),
        }
    }

    /// Wraps a TCP stream (connected or connecting) in the client end of a
    /// TLS session that expects the server to prove it is `server_name`.
    pub fn into_tls_client(
        self,
        config: Arc<rustls::ClientConfig>,
        server_name: rustls::pki_types::ServerName<'static>,
    ) -> io::Result<Stream> {
        match self {
            Stream::Tcp(s) => Ok(Stream::Tls(Box::new(TlsStream::client(
                s,
                config,
                server_name,
            )?))),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "TLS runs over TCP only",
            )),
        }
    }

    /// Closes the sending direction, so the peer reads end of file once it
    /// has read what was sent. Reading stays possible.
    ///
    /// For TLS this closes the socket's sending side without a
    /// close_notify alert (which would need `&mut self`); our readers treat
    /// that as the end of the stream, and the protocol's framing notices any
    /// truncation. Use [`TlsStream::shutdown_write`] for a clean close.
    pub fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
            Stream::Tls(s) => s.socket.shutdown(Shutdown::Write),
        }
    }

    /// Closes the connection with a reset rather than an orderly end of
    /// file, for passing on that the other side of a relay failed: a TCP
    /// peer then reads "connection reset" (`SO_LINGER` with a zero timeout,
    /// then close). A unix socket has no reset and is simply closed.
    pub fn reset(self) {
        if let Some(tcp) = self.tcp() {
            // If the option cannot be set, the close below is a plain one.
            let _ = socket2::SockRef::from(tcp).set_linger(Some(std::time::Duration::ZERO));
        }
    }

    fn tcp(&self) -> Option<&mio::net::TcpStream> {
        match self {
            Stream::Tcp(s) => Some(s),
            Stream::Tls(s) => Some(&s.socket),
            Stream::Unix(_) => None,
        }
    }

    /// Who is on the other end, for log lines: `"127.0.0.1:5555"` for TCP,
    /// `"unix"` for a Unix socket (whose clients are normally unnamed).
    pub fn peer_description(&self) -> String {
        match self.tcp() {
            Some(s) => match s.peer_addr() {
                Ok(addr) if matches!(self, Stream::Tls(_)) => format!("{addr} (TLS)"),
                Ok(addr) => addr.to_string(),
                Err(_) => "tcp (not connected)".to_owned(),
            },
            None => "unix".to_owned(),
        }
    }

    /// Takes the pending socket error (`SO_ERROR`), which is how a failed
    /// non-blocking connect reports itself.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Stream::Unix(s) => s.take_error(),
            _ => self.tcp().map_or(Ok(None), |s| s.take_error()),
        }
    }

    /// How a non-blocking connect is going; call it when the stream is
    /// reported writable (or readable, or closed).
    ///
    /// `Ok(true)`: connected. `Ok(false)`: still in progress; wait for the
    /// next event (the event may have been spurious). `Err`: the connect
    /// failed, with the reason.
    pub fn is_connected(&self) -> io::Result<bool> {
        if let Some(e) = self.take_error()? {
            return Err(e);
        }
        let peer = match self {
            Stream::Unix(s) => s.peer_addr().map(drop),
            _ => match self.tcp() {
                Some(s) => s.peer_addr().map(drop),
                None => Ok(()),
            },
        };
        match peer {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether this is a TCP stream.
    pub fn is_tcp(&self) -> bool {
        self.tcp().is_some()
    }

    /// Whether this stream runs TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Unix(s) => s.write_vectored(bufs),
            Stream::Tls(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

impl Source for Stream {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(registry, token, interests),
            Stream::Unix(s) => s.register(registry, token, interests),
            Stream::Tls(s) => s.socket.register(registry, token, interests),
        }
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(registry, token, interests),
            Stream::Unix(s) => s.reregister(registry, token, interests),
            Stream::Tls(s) => s.socket.reregister(registry, token, interests),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(registry),
            Stream::Unix(s) => s.deregister(registry),
            Stream::Tls(s) => s.socket.deregister(registry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_only_address_cannot_connect() {
        let address = Address::parse("IP:9001").unwrap();
        let err = Stream::connect(&address).unwrap_err();
        assert!(matches!(err, NalError::NotConnectable { .. }));
        assert!(err.to_string().contains("\"IP:9001\""), "{err}");
    }

    #[test]
    fn missing_unix_socket_is_a_connect_error() {
        let dir = tempfile::tempdir().unwrap();
        let address = Address::Unix(dir.path().join("nobody"));
        let err = Stream::connect(&address).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("cannot connect to \"UNIX:"), "{text}");
        assert_eq!(
            err.io_error().map(io::Error::kind),
            Some(io::ErrorKind::NotFound)
        );
    }
}
