//! TLS over a non-blocking TCP stream.
//!
//! rustls is sans-IO: it is handed the bytes that arrived and hands back the
//! bytes to send. [`TlsStream`] drives it over a mio socket with the
//! semantics the rest of nal expects of a stream: `read` yields plaintext or
//! `WouldBlock`; `write` takes plaintext or says `WouldBlock` while records
//! are still waiting for the socket (so a peer that does not read cannot
//! make us buffer without bound); `flush` pushes waiting records and says
//! `WouldBlock` until they are all out. The handshake happens along the
//! way, in both directions.

use std::io::{self, ErrorKind, Read, Write};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};

/// Plaintext rustls may hold before `write` pushes back.
const PLAINTEXT_LIMIT: usize = 64 * 1024;

/// A TLS session over a non-blocking TCP stream.
pub struct TlsStream {
    pub(crate) socket: mio::net::TcpStream,
    tls: Connection,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("socket", &self.socket)
            .field("handshaking", &self.tls.is_handshaking())
            .finish()
    }
}

impl TlsStream {
    /// The server end of a TLS session over an accepted socket.
    pub fn server(socket: mio::net::TcpStream, config: Arc<ServerConfig>) -> io::Result<TlsStream> {
        let tls = ServerConnection::new(config).map_err(tls_error)?;
        Ok(TlsStream::new(socket, tls.into()))
    }

    /// The client end of a TLS session over a connected (or connecting)
    /// socket, expecting the server to prove it is `server_name`.
    pub fn client(
        socket: mio::net::TcpStream,
        config: Arc<ClientConfig>,
        server_name: ServerName<'static>,
    ) -> io::Result<TlsStream> {
        let tls = ClientConnection::new(config, server_name).map_err(tls_error)?;
        Ok(TlsStream::new(socket, tls.into()))
    }

    fn new(socket: mio::net::TcpStream, mut tls: Connection) -> TlsStream {
        tls.set_buffer_limit(Some(PLAINTEXT_LIMIT));
        TlsStream { socket, tls }
    }

    /// Whether the handshake is still under way.
    pub fn is_handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    /// Whether TLS records are waiting to be written to the socket (the
    /// peer is not reading them yet).
    pub fn wants_write(&self) -> bool {
        self.tls.wants_write()
    }

    /// Sends the close_notify alert (best effort), then closes the sending
    /// direction of the socket.
    pub fn shutdown_write(&mut self) -> io::Result<()> {
        self.tls.send_close_notify();
        let _ = self.push_records();
        self.socket.shutdown(std::net::Shutdown::Write)
    }

    /// Writes waiting TLS records to the socket. `Ok(true)` when none is
    /// left, `Ok(false)` when the socket would block.
    fn push_records(&mut self) -> io::Result<bool> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.socket) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => return Ok(n), // 0: the peer's close_notify
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                // The socket closed without close_notify: the end of the
                // stream all the same (the protocol has its own framing, so
                // a truncation is noticed there).
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            match self.tls.read_tls(&mut self.socket) {
                Ok(0) => return Ok(0),
                Ok(_) => {
                    self.tls.process_new_packets().map_err(|e| {
                        // Tell the peer why before giving up (best effort).
                        let _ = self.push_records();
                        tls_error(e)
                    })?;
                    // Handshake messages to answer, or alerts.
                    self.push_records()?;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if !self.push_records()? {
            // Records are still waiting for the socket: push back rather
            // than let them pile up.
            return Err(ErrorKind::WouldBlock.into());
        }
        let n = self.tls.writer().write(buf)?;
        if n == 0 {
            return Err(ErrorKind::WouldBlock.into());
        }
        self.push_records()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.push_records()? {
            Ok(())
        } else {
            Err(ErrorKind::WouldBlock.into())
        }
    }
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, format!("TLS: {e}"))
}
