//! A stream with a capped read buffer and a capped send buffer.
//!
//! Readiness from mio is edge-triggered, so each event must be drained:
//! [`Connection::fill`] reads until the socket is empty and
//! [`Connection::flush`] writes until it would block. The caps bound the
//! memory one peer can make us hold.
//!
//! On a plain TCP or unix socket, a read that returns fewer bytes than it
//! was offered has emptied the receive queue, and bytes arriving later raise
//! a new edge; so `fill` stops there instead of paying one more `read` just
//! to hear `EAGAIN` (tokio does the same). That is one syscall saved per
//! wake-up, which is a quarter of the syscalls of a request/answer round
//! trip. The exception is an event that also reported the peer closing or
//! an error: those arrive with the last bytes and raise no further edge, so
//! the caller says so with [`Connection::note_hangup`] and the next `fill`
//! reads on to the end of file or the error.

use std::io::{self, ErrorKind};

use mio::event::Source;
use mio::{Interest, Registry, Token};

use crate::{Buffer, BufferFull, Stream};

/// What one [`Connection::fill`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fill {
    /// Bytes added to the input buffer.
    pub bytes: usize,
    /// The peer closed its sending side (read returned end of file). No more
    /// bytes will come, but the peer may still read our answers.
    pub eof: bool,
    /// The input buffer is full, so reading stopped before the socket was
    /// drained. No new readable event will come for bytes already waiting:
    /// call `fill` again once input has been consumed.
    pub full: bool,
}

/// A [`Stream`] with an input and an output [`Buffer`].
#[derive(Debug)]
pub struct Connection {
    stream: Stream,
    input: Buffer,
    output: Buffer,
    read_closed: bool,
    /// The last event said the peer closed or failed: read to the end.
    hangup: bool,
    /// Whether a short read proves the receive queue empty (plain sockets;
    /// not TLS, whose reads end at record boundaries).
    short_read_drains: bool,
}

impl Connection {
    /// Wraps `stream`, holding at most `input_cap` received bytes and
    /// `output_cap` bytes waiting to be sent. Buffers grow on demand.
    pub fn new(stream: Stream, input_cap: usize, output_cap: usize) -> Connection {
        let short_read_drains = !stream.is_tls();
        Connection {
            stream,
            input: Buffer::new(input_cap),
            output: Buffer::new(output_cap),
            read_closed: false,
            hangup: false,
            short_read_drains,
        }
    }

    /// The underlying stream.
    pub fn stream(&self) -> &Stream {
        &self.stream
    }

    /// The underlying stream, mutably (to register it, for example).
    pub fn stream_mut(&mut self) -> &mut Stream {
        &mut self.stream
    }

    /// Gives the stream back, dropping any buffered bytes.
    pub fn into_stream(self) -> Stream {
        self.stream
    }

    /// Received bytes not yet consumed.
    pub fn input(&self) -> &Buffer {
        &self.input
    }

    /// Received bytes, mutably: consume what has been decoded.
    pub fn input_mut(&mut self) -> &mut Buffer {
        &mut self.input
    }

    /// Bytes waiting to be sent.
    pub fn output(&self) -> &Buffer {
        &self.output
    }

    /// Bytes waiting to be sent, mutably: encode answers straight into it
    /// with [`Buffer::extend_with`].
    pub fn output_mut(&mut self) -> &mut Buffer {
        &mut self.output
    }

    /// Records that a readiness event reported the peer closing its side or
    /// an error, so that the next [`fill`](Self::fill) reads until the end
    /// of file or the error rather than stopping at a short read.
    pub fn note_hangup(&mut self) {
        self.hangup = true;
    }

    /// Reads until the socket is empty (it would block, or a read came back
    /// short on a plain socket, see the [module docs](self)), the input
    /// buffer is full, or the peer closes its side. Interrupted reads are
    /// retried.
    ///
    /// Once end of file has been seen, further calls report `eof` without
    /// reading. An error means the connection is broken; bytes read before
    /// it are still in the input buffer.
    pub fn fill(&mut self) -> io::Result<Fill> {
        let mut fill = Fill {
            eof: self.read_closed,
            ..Fill::default()
        };
        while !self.read_closed {
            if self.input.space() == 0 {
                fill.full = true;
                break;
            }
            match self.input.read_offered(&mut self.stream) {
                Ok((0, _)) => {
                    self.read_closed = true;
                    fill.eof = true;
                }
                Ok((n, offered)) => {
                    fill.bytes += n;
                    if n < offered && self.short_read_drains && !self.hangup {
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(fill)
    }

    /// Writes until the output buffer is empty or the socket would block.
    /// Interrupted writes are retried.
    ///
    /// Returns `true` when everything has been sent, `false` when bytes
    /// remain: wait for a writable event, then flush again.
    pub fn flush(&mut self) -> io::Result<bool> {
        loop {
            if self.output.is_empty() {
                return Ok(true);
            }
            match self.output.write_to(&mut self.stream) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Queues `data` to be sent by [`flush`](Self::flush): all of it, or
    /// none if the output buffer would exceed its cap.
    pub fn send(&mut self, data: &[u8]) -> Result<(), BufferFull> {
        self.output.extend(data)
    }

    /// Whether bytes are waiting to be sent.
    pub fn wants_write(&self) -> bool {
        !self.output.is_empty()
    }

    /// Whether the peer has closed its sending side (end of file seen).
    pub fn is_read_closed(&self) -> bool {
        self.read_closed
    }

    /// The interest to register: always readable (to notice the peer
    /// closing), plus writable while bytes are waiting to be sent.
    pub fn interest(&self) -> Interest {
        if self.wants_write() {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        }
    }
}

impl Source for Connection {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        self.stream.register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        self.stream.reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.stream.deregister(registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Address, Listener, Selector};
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};

    fn pair(input_cap: usize, output_cap: usize) -> (Connection, mio::net::UnixStream) {
        let (ours, theirs) = mio::net::UnixStream::pair().unwrap();
        (
            Connection::new(Stream::Unix(ours), input_cap, output_cap),
            theirs,
        )
    }

    #[test]
    fn fill_stops_when_full_and_resumes() {
        let (mut conn, mut peer) = pair(10, 10);
        peer.write_all(b"0123456789abcdef").unwrap();
        let fill = conn.fill().unwrap();
        assert_eq!(
            fill,
            Fill {
                bytes: 10,
                eof: false,
                full: true
            }
        );
        assert_eq!(conn.input().as_slice(), b"0123456789");
        conn.input_mut().consume(10);
        let fill = conn.fill().unwrap();
        assert_eq!((fill.bytes, fill.eof, fill.full), (6, false, false));
        assert_eq!(conn.input().as_slice(), b"abcdef");
        // Nothing more to read: WouldBlock ends the drain quietly.
        assert_eq!(conn.fill().unwrap(), Fill::default());
    }

    #[test]
    fn fill_stops_at_a_short_read_unless_told_of_a_hangup() {
        let (mut conn, mut peer) = pair(64, 64);
        peer.write_all(b"last words").unwrap();
        drop(peer);
        // The read came back short, so it stops there: no end of file yet.
        let fill = conn.fill().unwrap();
        assert_eq!((fill.bytes, fill.eof), (10, false));
        // The event that brought the bytes also reported the hangup.
        conn.note_hangup();
        let fill = conn.fill().unwrap();
        assert_eq!((fill.bytes, fill.eof), (0, true));
    }

    #[test]
    fn fill_reports_eof_once_peer_closes() {
        let (mut conn, mut peer) = pair(64, 64);
        peer.write_all(b"last words").unwrap();
        drop(peer);
        conn.note_hangup();
        let fill = conn.fill().unwrap();
        assert_eq!((fill.bytes, fill.eof), (10, true));
        assert!(conn.is_read_closed());
        assert_eq!(conn.input().as_slice(), b"last words");
        assert!(conn.fill().unwrap().eof, "eof is sticky");
    }

    #[test]
    fn flush_reports_backpressure() {
        let big = 8 << 20;
        let (mut conn, mut peer) = pair(16, big);
        assert_eq!(conn.interest(), Interest::READABLE);
        let payload: Vec<u8> = (0..big).map(|i| (i % 253) as u8).collect();
        conn.send(&payload).unwrap();
        let err = conn.send(b"x").unwrap_err();
        assert_eq!((err.len, err.cap), (big, big));
        // 8 MiB is more than a socket buffer holds.
        assert!(!conn.flush().unwrap());
        assert!(conn.wants_write());
        assert_eq!(conn.interest(), Interest::READABLE | Interest::WRITABLE);
        let mut got = Vec::with_capacity(big);
        let mut chunk = vec![0u8; 64 * 1024];
        let deadline = Instant::now() + Duration::from_secs(10);
        while got.len() < big {
            assert!(Instant::now() < deadline, "transfer timed out");
            match peer.read(&mut chunk) {
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    conn.flush().unwrap();
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(conn.flush().unwrap());
        assert!(!conn.wants_write());
        assert!(got == payload);
    }

    const LISTENER: Token = Token(0);
    const CLIENT: Token = Token(1);
    const SERVER: Token = Token(2);

    /// Fills, moves input to output and flushes until none of that makes
    /// progress, i.e. until only a new event can. Returns true once the peer
    /// has closed and everything has been echoed.
    fn echo_pump(conn: &mut Connection) -> bool {
        loop {
            let fill = conn.fill().unwrap();
            let n = conn.input().len().min(conn.output().space());
            let moved = conn.input().as_slice()[..n].to_vec();
            conn.send(&moved).unwrap();
            conn.input_mut().consume(n);
            let before = conn.output().len();
            conn.flush().unwrap();
            let written = before - conn.output().len();
            if fill.eof && conn.input().is_empty() && !conn.wants_write() {
                return true;
            }
            if n == 0 && written == 0 && fill.bytes == 0 {
                return false;
            }
        }
    }

    /// Client state for the echo test.
    struct Client<'a> {
        conn: Connection,
        connected: bool,
        to_send: &'a [u8],
        shut: bool,
        received: Vec<u8>,
        eof: bool,
    }

    impl Client<'_> {
        fn pump(&mut self) {
            if !self.connected {
                self.connected = self.conn.stream().is_connected().unwrap();
                if !self.connected {
                    return;
                }
            }
            loop {
                let n = self.to_send.len().min(self.conn.output().space());
                self.conn.send(&self.to_send[..n]).unwrap();
                self.to_send = &self.to_send[n..];
                let before = self.conn.output().len();
                self.conn.flush().unwrap();
                let written = before - self.conn.output().len();
                if self.to_send.is_empty() && !self.conn.wants_write() && !self.shut {
                    self.conn.stream().shutdown_write().unwrap();
                    self.shut = true;
                }
                let fill = self.conn.fill().unwrap();
                self.received
                    .extend_from_slice(self.conn.input().as_slice());
                self.conn.input_mut().clear();
                self.eof = fill.eof;
                if fill.eof || (n == 0 && written == 0 && fill.bytes == 0) {
                    return;
                }
            }
        }
    }

    /// Echoes 256 KiB through a server connection with small caps, driven
    /// by one selector, and checks every byte comes back before the server
    /// closes.
    fn echo_through(address: &Address) {
        let mut selector = Selector::new(64).unwrap();
        let mut listener = Listener::bind(address).unwrap();
        selector
            .register(&mut listener, LISTENER, Interest::READABLE)
            .unwrap();
        let payload: Vec<u8> = (0..256 * 1024).map(|i| (i % 251) as u8).collect();
        let mut client = Client {
            conn: Connection::new(
                Stream::connect(&listener.local_address()).unwrap(),
                4096,
                4096,
            ),
            connected: false,
            to_send: &payload,
            shut: false,
            received: Vec::new(),
            eof: false,
        };
        let both = Interest::READABLE | Interest::WRITABLE;
        selector.register(&mut client.conn, CLIENT, both).unwrap();
        let mut server: Option<Connection> = None;
        let deadline = Instant::now() + Duration::from_secs(20);
        while !client.eof {
            let left = deadline
                .checked_duration_since(Instant::now())
                .expect("echo did not finish in time");
            selector.poll(Some(left)).unwrap();
            let events: Vec<(Token, bool)> = selector
                .events()
                .iter()
                .map(|e| (e.token(), e.is_read_closed() || e.is_error()))
                .collect();
            for (token, hangup) in events {
                match token {
                    LISTENER => {
                        while let Some(stream) = listener.accept().unwrap() {
                            assert!(server.is_none(), "one client only");
                            assert_eq!(stream.is_tcp(), address.unix_path().is_none());
                            let mut conn = Connection::new(stream, 1000, 1500);
                            selector.register(&mut conn, SERVER, both).unwrap();
                            server = Some(conn);
                        }
                    }
                    SERVER => {
                        if let Some(conn) = server.as_mut() {
                            if hangup {
                                conn.note_hangup();
                            }
                            if echo_pump(conn) {
                                conn.stream().shutdown_write().unwrap();
                            }
                        }
                    }
                    CLIENT => {
                        if hangup {
                            client.conn.note_hangup();
                        }
                        client.pump()
                    }
                    _ => {}
                }
            }
        }
        assert_eq!(client.received.len(), payload.len());
        assert!(client.received == payload, "echo differs");
        selector.deregister(&mut client.conn).unwrap();
        if let Some(mut conn) = server {
            selector.deregister(&mut conn).unwrap();
        }
        selector.deregister(&mut listener).unwrap();
    }

    #[test]
    fn tcp_echo_loopback() {
        echo_through(&Address::parse("IP:127.0.0.1:0").unwrap());
    }

    #[test]
    fn unix_echo() {
        let dir = tempfile::tempdir().unwrap();
        echo_through(&Address::Unix(dir.path().join("echo.sock")));
    }
}
