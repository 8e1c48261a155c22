//! Listening sockets for `IP:` and `UNIX:` addresses.
//!
//! Unix-domain listeners deal with the socket file that outlives a crashed
//! server. The original unlinked whatever was at the path, which let a second
//! server silently steal a live server's address and could delete a regular
//! file given by mistake. Here an existing file is removed only if it is a
//! socket that nobody accepts on, and a listener removes its socket file when
//! dropped only if the file is still the one it created.

use std::fs;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use mio::event::Source;
use mio::{Interest, Registry, Token};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::{Address, NalError, Stream};

/// The listen backlog, as in the original library.
pub const LISTEN_BACKLOG: i32 = 511;

/// A non-blocking listening socket.
///
/// Register it for [`Interest::READABLE`] and, on each event, call
/// [`accept`](Self::accept) until it returns `Ok(None)`.
#[derive(Debug)]
pub struct Listener {
    socket: ListenerSocket,
    local: Address,
    /// Present for Unix listeners whose socket file we should remove on drop.
    socket_file: Option<SocketFile>,
}

#[derive(Debug)]
enum ListenerSocket {
    Tcp(mio::net::TcpListener),
    Unix(mio::net::UnixListener),
}

impl Listener {
    /// Binds and listens on `address`.
    ///
    /// TCP listeners set `SO_REUSEADDR` (so a restarted server need not wait
    /// out `TIME_WAIT`) and work over IPv4 or IPv6. For `UNIX:` addresses an
    /// existing file at the path is handled as follows:
    ///
    /// * a socket that refuses connections is stale: it is removed;
    /// * a socket that accepts connections belongs to a running process:
    ///   [`NalError::UnixInUse`];
    /// * anything else (regular file, directory, symbolic link):
    ///   [`NalError::UnixNotSocket`], and the file is left alone.
    pub fn bind(address: &Address) -> Result<Listener, NalError> {
        match address {
            Address::Ip { host, .. } => bind_tcp(address, host.is_some()),
            Address::Unix(path) => bind_unix(address, path),
        }
    }

    /// Accepts one pending connection.
    ///
    /// `Ok(None)` when none is pending. Interrupted calls and connections
    /// the peer aborted before we got to them are skipped. Accepted TCP
    /// streams have `TCP_NODELAY` set.
    ///
    /// An error such as "too many open files" leaves the connection pending,
    /// and as readiness is edge-triggered no new event may come for it: the
    /// caller should retry later (on a timer) rather than wait for an event.
    pub fn accept(&self) -> io::Result<Option<Stream>> {
        loop {
            let accepted = match &self.socket {
                ListenerSocket::Tcp(listener) => listener.accept().map(|(stream, peer)| {
                    if let Err(e) = stream.set_nodelay(true) {
                        // Only latency suffers; the connection is still good.
                        log::debug!("cannot set TCP_NODELAY for {peer}: {e}");
                    }
                    Stream::Tcp(stream)
                }),
                ListenerSocket::Unix(listener) => {
                    listener.accept().map(|(stream, _)| Stream::Unix(stream))
                }
            };
            match accepted {
                Ok(stream) => return Ok(Some(stream)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The address actually bound: for a port-0 bind it carries the port the
    /// kernel chose, and a host name is replaced by the address it resolved
    /// to. `IP:<port>` stays host-less.
    pub fn local_address(&self) -> Address {
        self.local.clone()
    }

    /// The bound socket address of a TCP listener (`None` for Unix).
    pub fn local_socket_addr(&self) -> Option<SocketAddr> {
        match &self.socket {
            ListenerSocket::Tcp(listener) => listener.local_addr().ok(),
            ListenerSocket::Unix(_) => None,
        }
    }

    /// Leaves the Unix socket file in place when this listener is dropped.
    ///
    /// Needed when a process forks and the copy of the listener that gets
    /// dropped is not the one that keeps serving.
    pub fn keep_socket_file_on_drop(&mut self) {
        if let Some(file) = &mut self.socket_file {
            file.remove_on_drop = false;
        }
    }
}

fn bind_tcp(address: &Address, has_host: bool) -> Result<Listener, NalError> {
    let target = address.resolve()?;
    let fail = |e| NalError::io(address, "listen on", e);
    let socket = Socket::new(
        Domain::for_address(target),
        Type::STREAM,
        Some(Protocol::TCP),
    )
    .map_err(fail)?;
    socket.set_reuse_address(true).map_err(fail)?;
    socket.set_nonblocking(true).map_err(fail)?;
    socket.bind(&target.into()).map_err(fail)?;
    socket.listen(LISTEN_BACKLOG).map_err(fail)?;
    let listener = mio::net::TcpListener::from_std(socket.into());
    let bound = listener.local_addr().map_err(fail)?;
    let local = Address::Ip {
        host: has_host.then(|| bound.ip().to_string()),
        port: bound.port(),
    };
    Ok(Listener {
        socket: ListenerSocket::Tcp(listener),
        local,
        socket_file: None,
    })
}

fn bind_unix(address: &Address, path: &Path) -> Result<Listener, NalError> {
    remove_stale_socket(address, path)?;
    let fail = |e| NalError::io(address, "listen on", e);
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(fail)?;
    socket.set_nonblocking(true).map_err(fail)?;
    socket
        .bind(&SockAddr::unix(path).map_err(fail)?)
        .map_err(fail)?;
    // From here on the file is ours: the guard removes it if a later step
    // fails, or when the listener is dropped.
    let meta = fs::symlink_metadata(path).map_err(fail)?;
    let socket_file = SocketFile {
        path: path.to_owned(),
        dev: meta.dev(),
        ino: meta.ino(),
        remove_on_drop: true,
    };
    socket.listen(LISTEN_BACKLOG).map_err(fail)?;
    let listener = mio::net::UnixListener::from_std(socket.into());
    Ok(Listener {
        socket: ListenerSocket::Unix(listener),
        local: address.clone(),
        socket_file: Some(socket_file),
    })
}

/// Makes way for a new Unix listener at `path`, or says why not.
fn remove_stale_socket(address: &Address, path: &Path) -> Result<(), NalError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(NalError::io(address, "inspect the path of", e)),
    };
    if !meta.file_type().is_socket() {
        return Err(NalError::UnixNotSocket {
            address: address.to_string(),
        });
    }
    let live = socket_is_live(path)
        .map_err(|e| NalError::io(address, "check the existing socket of", e))?;
    if live {
        return Err(NalError::UnixInUse {
            address: address.to_string(),
        });
    }
    log::debug!("removing stale socket {}", path.display());
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NalError::io(address, "remove the stale socket of", e)),
    }
}

/// Whether some process accepts connections on the socket at `path`.
fn socket_is_live(path: &Path) -> io::Result<bool> {
    let probe = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    // Non-blocking so that a live server with a full backlog answers
    // EAGAIN at once instead of making us wait for it.
    probe.set_nonblocking(true)?;
    match probe.connect(&SockAddr::unix(path)?) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(false),
        // Gone since we looked: nothing to remove, nobody to disturb.
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// The socket file a Unix listener created, identified by device and inode
/// so that a file someone else put at the same path later is never removed.
#[derive(Debug)]
struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
    remove_on_drop: bool,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if !self.remove_on_drop {
            return;
        }
        let ours = fs::symlink_metadata(&self.path).is_ok_and(|meta| {
            meta.file_type().is_socket() && meta.dev() == self.dev && meta.ino() == self.ino
        });
        if ours {
            if let Err(e) = fs::remove_file(&self.path) {
                log::warn!("cannot remove socket {}: {e}", self.path.display());
            }
        }
    }
}

impl Source for Listener {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match &mut self.socket {
            ListenerSocket::Tcp(l) => l.register(registry, token, interests),
            ListenerSocket::Unix(l) => l.register(registry, token, interests),
        }
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match &mut self.socket {
            ListenerSocket::Tcp(l) => l.reregister(registry, token, interests),
            ListenerSocket::Unix(l) => l.reregister(registry, token, interests),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match &mut self.socket {
            ListenerSocket::Tcp(l) => l.deregister(registry),
            ListenerSocket::Unix(l) => l.deregister(registry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::{UnixListener as StdUnixListener, UnixStream as StdUnixStream};

    fn unix_address(dir: &Path, name: &str) -> (Address, PathBuf) {
        let path = dir.join(name);
        (Address::Unix(path.clone()), path)
    }

    #[test]
    fn tcp_port_zero_reports_real_port() {
        let listener = Listener::bind(&Address::parse("IP:127.0.0.1:0").unwrap()).unwrap();
        let local = listener.local_address();
        match &local {
            Address::Ip {
                host: Some(host),
                port,
            } => {
                assert_eq!(host, "127.0.0.1");
                assert_ne!(*port, 0);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(
            listener.local_socket_addr().map(|a| a.port()),
            match local {
                Address::Ip { port, .. } => Some(port),
                Address::Unix(_) => None,
            }
        );
        assert!(listener.accept().unwrap().is_none(), "nothing pending");
    }

    #[test]
    fn all_interfaces_stays_hostless() {
        let listener = Listener::bind(&Address::parse("IP:0").unwrap()).unwrap();
        assert!(matches!(
            listener.local_address(),
            Address::Ip { host: None, port } if port != 0
        ));
    }

    #[test]
    fn tcp_port_in_use_names_the_address() {
        // Without SO_REUSEPORT two listeners cannot share a port, even with
        // SO_REUSEADDR.
        let first = Listener::bind(&Address::parse("IP:127.0.0.1:0").unwrap()).unwrap();
        let taken = first.local_address();
        let err = Listener::bind(&taken).unwrap_err();
        assert_eq!(
            err.io_error().map(io::Error::kind),
            Some(io::ErrorKind::AddrInUse)
        );
        assert!(
            err.to_string()
                .starts_with(&format!("cannot listen on \"{taken}\": ")),
            "{err}"
        );
    }

    #[test]
    fn ipv6_loopback_when_available() {
        let address = Address::parse("IP:[::1]:0").unwrap();
        let mut listener = match Listener::bind(&address) {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("skipping: ::1 is not available here: {e}");
                return;
            }
        };
        let local = listener.local_address();
        assert!(
            matches!(&local, Address::Ip { host: Some(h), port } if h == "::1" && *port != 0),
            "{local:?}"
        );
        assert!(local.to_string().starts_with("IP:[::1]:"));
        let mut selector = crate::Selector::new(8).unwrap();
        selector
            .register(&mut listener, Token(0), Interest::READABLE)
            .unwrap();
        let client = std::net::TcpStream::connect(local.resolve().unwrap()).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let accepted = loop {
            if let Some(stream) = listener.accept().unwrap() {
                break stream;
            }
            let left = deadline
                .checked_duration_since(std::time::Instant::now())
                .expect("accept timed out");
            selector.poll(Some(left)).unwrap();
        };
        assert_eq!(
            accepted.peer_description(),
            client.local_addr().unwrap().to_string()
        );
    }

    #[test]
    fn unix_stale_socket_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let (address, path) = unix_address(dir.path(), "stale.sock");
        // A socket file nobody listens on any more, as a crash leaves it.
        drop(StdUnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let listener = Listener::bind(&address).unwrap();
        assert_eq!(listener.local_address(), address);
        StdUnixStream::connect(&path).expect("the new listener accepts");
        drop(listener);
        assert!(!path.exists(), "socket file removed on drop");
    }

    #[test]
    fn unix_live_socket_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (address, path) = unix_address(dir.path(), "live.sock");
        let _owner = StdUnixListener::bind(&path).unwrap();
        let err = Listener::bind(&address).unwrap_err();
        assert!(matches!(err, NalError::UnixInUse { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("{address} is in use by a running process")
        );
        assert!(path.exists(), "the live socket is left alone");
        StdUnixStream::connect(&path).expect("its owner still has it");
    }

    #[test]
    fn unix_regular_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (address, path) = unix_address(dir.path(), "precious.txt");
        fs::write(&path, b"keep me").unwrap();
        let err = Listener::bind(&address).unwrap_err();
        assert!(matches!(err, NalError::UnixNotSocket { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("{address} exists and is not a socket")
        );
        assert_eq!(fs::read(&path).unwrap(), b"keep me");
    }

    #[test]
    fn unix_symlink_to_socket_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target.sock");
        drop(StdUnixListener::bind(&target).unwrap());
        let (address, link) = unix_address(dir.path(), "link.sock");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = Listener::bind(&address).unwrap_err();
        assert!(matches!(err, NalError::UnixNotSocket { .. }), "{err:?}");
        assert!(target.exists() && link.exists());
    }

    #[test]
    fn drop_leaves_a_replaced_socket_file() {
        let dir = tempfile::tempdir().unwrap();
        let (address, path) = unix_address(dir.path(), "replaced.sock");
        let first = Listener::bind(&address).unwrap();
        fs::remove_file(&path).unwrap();
        let second = Listener::bind(&address).unwrap();
        drop(first);
        assert!(path.exists(), "the second listener's file survives");
        drop(second);
        assert!(!path.exists());
    }

    #[test]
    fn keep_socket_file_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let (address, path) = unix_address(dir.path(), "kept.sock");
        let mut listener = Listener::bind(&address).unwrap();
        listener.keep_socket_file_on_drop();
        drop(listener);
        assert!(path.exists());
        // And it is now stale, so a new bind takes it over.
        drop(Listener::bind(&address).unwrap());
    }
}
