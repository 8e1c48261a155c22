//! Blocking streams with timeouts, for the client library and for tests.
//!
//! The original client library had no timeouts at all, so one stuck server
//! could hang its caller for ever; every blocking operation here can be
//! bounded.

use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::{Address, NalError, Stream};

/// A blocking stream socket: TCP (`TCP_NODELAY` set) or Unix-domain.
#[derive(Debug)]
pub enum BlockingStream {
    /// A TCP connection.
    Tcp(std::net::TcpStream),
    /// A Unix-domain stream connection.
    Unix(std::os::unix::net::UnixStream),
}

impl BlockingStream {
    /// Connects to `address`, giving up after `timeout` if one is given.
    ///
    /// A zero timeout is an error (`InvalidInput`), not "no limit". Resolving
    /// a host name is not covered by the timeout.
    pub fn connect(
        address: &Address,
        timeout: Option<Duration>,
    ) -> Result<BlockingStream, NalError> {
        if !address.can_connect() {
            return Err(NalError::NotConnectable {
                address: address.to_string(),
            });
        }
        let fail = |e| NalError::io(address, "connect to", e);
        match address {
            Address::Unix(path) => {
                let socket = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(fail)?;
                let target = SockAddr::unix(path).map_err(fail)?;
                connect_socket(&socket, &target, timeout).map_err(fail)?;
                Ok(BlockingStream::Unix(socket.into()))
            }
            Address::Ip { .. } => {
                let target = address.resolve()?;
                let socket = Socket::new(
                    Domain::for_address(target),
                    Type::STREAM,
                    Some(Protocol::TCP),
                )
                .map_err(fail)?;
                connect_socket(&socket, &target.into(), timeout).map_err(fail)?;
                let stream: std::net::TcpStream = socket.into();
                stream.set_nodelay(true).map_err(fail)?;
                Ok(BlockingStream::Tcp(stream))
            }
        }
    }

    /// Limits how long a read may block (`None`: no limit). A read that runs
    /// out of time fails with `WouldBlock` or `TimedOut`.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            BlockingStream::Tcp(s) => s.set_read_timeout(timeout),
            BlockingStream::Unix(s) => s.set_read_timeout(timeout),
        }
    }

    /// Limits how long a write may block (`None`: no limit).
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            BlockingStream::Tcp(s) => s.set_write_timeout(timeout),
            BlockingStream::Unix(s) => s.set_write_timeout(timeout),
        }
    }

    /// Closes the sending direction; reading stays possible.
    pub fn shutdown_write(&self) -> io::Result<()> {
        match self {
            BlockingStream::Tcp(s) => s.shutdown(Shutdown::Write),
            BlockingStream::Unix(s) => s.shutdown(Shutdown::Write),
        }
    }

    /// Who is on the other end, for log lines (see
    /// [`Stream::peer_description`]).
    pub fn peer_description(&self) -> String {
        match self {
            BlockingStream::Tcp(s) => match s.peer_addr() {
                Ok(addr) => addr.to_string(),
                Err(_) => "tcp (not connected)".to_owned(),
            },
            BlockingStream::Unix(_) => "unix".to_owned(),
        }
    }

    /// Switches to non-blocking mode for use with a [`Selector`](crate::Selector):
    /// connect with a timeout here, then hand the stream to an event loop.
    pub fn into_nonblocking(self) -> io::Result<Stream> {
        match self {
            BlockingStream::Tcp(s) => {
                s.set_nonblocking(true)?;
                Ok(Stream::Tcp(mio::net::TcpStream::from_std(s)))
            }
            BlockingStream::Unix(s) => {
                s.set_nonblocking(true)?;
                Ok(Stream::Unix(mio::net::UnixStream::from_std(s)))
            }
        }
    }
}

fn connect_socket(socket: &Socket, target: &SockAddr, timeout: Option<Duration>) -> io::Result<()> {
    match timeout {
        None => socket.connect(target),
        // socket2 (like std) refuses a zero timeout; say so in our words.
        Some(t) if t.is_zero() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the connect timeout must be greater than zero",
        )),
        Some(t) => socket.connect_timeout(target, t),
    }
}

impl Read for BlockingStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            BlockingStream::Tcp(s) => s.read(buf),
            BlockingStream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for BlockingStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            BlockingStream::Tcp(s) => s.write(buf),
            BlockingStream::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            BlockingStream::Tcp(s) => s.flush(),
            BlockingStream::Unix(s) => s.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Listener;
    use std::time::Instant;

    const TIMEOUT: Duration = Duration::from_secs(5);

    /// Connects to `address`, where the caller runs an echo server that
    /// answers once it reads end of file, and checks the bytes come back.
    fn round_trip(address: &Address) {
        let mut client = BlockingStream::connect(address, Some(TIMEOUT)).unwrap();
        client.set_read_timeout(Some(TIMEOUT)).unwrap();
        client.set_write_timeout(Some(TIMEOUT)).unwrap();
        client.write_all(b"ping").unwrap();
        client.shutdown_write().unwrap();
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"ping");
    }

    #[test]
    fn blocking_tcp_connect_and_echo() {
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = Address::Ip {
            host: Some("127.0.0.1".into()),
            port: server.local_addr().unwrap().port(),
        };
        let echo = std::thread::spawn(move || {
            let (mut s, _) = server.accept().unwrap();
            s.set_read_timeout(Some(TIMEOUT)).unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            s.write_all(&got).unwrap();
        });
        round_trip(&address);
        echo.join().unwrap();
    }

    #[test]
    fn blocking_unix_connect_and_echo() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("echo.sock");
        let server = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let echo = std::thread::spawn(move || {
            let (mut s, _) = server.accept().unwrap();
            s.set_read_timeout(Some(TIMEOUT)).unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            s.write_all(&got).unwrap();
        });
        round_trip(&Address::Unix(path));
        echo.join().unwrap();
    }

    #[test]
    fn connect_errors_name_the_address() {
        // Bind then drop to get a port nobody listens on.
        let port = {
            let listener = Listener::bind(&Address::parse("IP:127.0.0.1:0").unwrap()).unwrap();
            listener.local_socket_addr().unwrap().port()
        };
        let address = Address::Ip {
            host: Some("127.0.0.1".into()),
            port,
        };
        let start = Instant::now();
        let err = BlockingStream::connect(&address, Some(TIMEOUT)).unwrap_err();
        assert!(start.elapsed() < TIMEOUT);
        assert_eq!(
            err.io_error().map(io::Error::kind),
            Some(io::ErrorKind::ConnectionRefused)
        );
        assert!(err
            .to_string()
            .starts_with(&format!("cannot connect to \"{address}\": ")));

        let zero = BlockingStream::connect(&address, Some(Duration::ZERO)).unwrap_err();
        assert_eq!(
            zero.io_error().map(io::Error::kind),
            Some(io::ErrorKind::InvalidInput)
        );
        let listen_only = Address::parse("IP:9001").unwrap();
        assert!(matches!(
            BlockingStream::connect(&listen_only, None),
            Err(NalError::NotConnectable { .. })
        ));
    }

    #[test]
    fn into_nonblocking_keeps_the_connection() {
        let listener = Listener::bind(&Address::parse("IP:127.0.0.1:0").unwrap()).unwrap();
        let client = BlockingStream::connect(&listener.local_address(), None).unwrap();
        let description = client.peer_description();
        let stream = client.into_nonblocking().unwrap();
        assert!(stream.is_connected().unwrap());
        assert_eq!(stream.peer_description(), description);
    }
}
