//! A scripted cache server on 127.0.0.1 for the client's tests.
//!
//! The server thread accepts connections one at a time and hands each to
//! the test's handler; when the handler is done it keeps reading until the
//! client closes, so everything the client wrote is recorded. Every server
//! read is bounded by [`IO_LIMIT`], so a broken test fails instead of
//! hanging. [`FakeServer::finish`] stops the thread by connecting and
//! writing [`STOP`] (which no client request starts with).

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::Duration;

use dc_protocol::{CommandHeader, Decoder, Kind, Operation};
use nal::Address;

/// Longest any server-side read waits.
pub(super) const IO_LIMIT: Duration = Duration::from_secs(5);
const STOP: &[u8; 4] = b"STOP";

/// One whole request as the server decoded it.
#[derive(Debug, Clone)]
pub(super) struct Req {
    pub uid: u32,
    pub operation: Operation,
    pub payload: Vec<u8>,
}

/// The server's side of one connection.
pub(super) struct Peer {
    stream: Option<TcpStream>,
    decoder: Decoder,
    pending: Vec<u8>,
    /// Every byte read from the client.
    pub received: Vec<u8>,
}

impl Peer {
    /// Reads the next whole request; `None` once the client has closed (or
    /// after the server closed, or a read error).
    pub fn request(&mut self) -> Option<Req> {
        loop {
            if let Ok(decoded) = self.decoder.decode(&self.pending) {
                let consumed = decoded.consumed;
                let request = decoded.command.map(|c| Req {
                    uid: c.request_uid,
                    operation: c.operation,
                    payload: c.payload.to_vec(),
                });
                self.pending.drain(..consumed);
                if request.is_some() {
                    return request;
                }
            } else {
                panic!("fake server: the client sent an undecodable request");
            }
            if !self.read_some() {
                return None;
            }
        }
    }

    fn read_some(&mut self) -> bool {
        let Some(stream) = self.stream.as_mut() else {
            return false;
        };
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => {
                    self.pending.extend_from_slice(&chunk[..n]);
                    self.received.extend_from_slice(&chunk[..n]);
                    return true;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }

    /// Answers with one command.
    pub fn reply(&mut self, uid: u32, operation: Operation, payload: &[u8]) {
        let mut out = Vec::new();
        dc_protocol::encode(&mut out, CommandHeader::response(uid, operation), payload).unwrap();
        self.send(&out);
    }

    /// Writes raw bytes (ignoring errors: the client may be gone).
    pub fn send(&mut self, bytes: &[u8]) {
        if let Some(stream) = self.stream.as_mut() {
            let _ = stream.write_all(bytes);
        }
    }

    /// Closes the connection now, like a server that went away.
    pub fn close(&mut self) {
        self.stream = None;
    }

    /// Records what the client still sends, until it closes.
    fn drain(&mut self) {
        while self.read_some() {}
    }
}

/// A running fake server.
pub(super) struct FakeServer {
    pub address: Address,
    port: u16,
    thread: Option<JoinHandle<Vec<Vec<u8>>>>,
}

/// What a reply script answers to one request.
pub(super) enum Reply {
    /// Answer with this payload (uid and operation echoed).
    Payload(Vec<u8>),
    /// Write these bytes as they are.
    Raw(Vec<u8>),
    /// Answer, then close the connection.
    PayloadThenClose(Vec<u8>),
    /// Write these bytes, then close the connection.
    RawThenClose(Vec<u8>),
    /// Never answer; wait for the client to go away.
    Silence,
}

impl FakeServer {
    /// Starts a server that runs `handler(connection_index, peer)` for each
    /// connection, in order.
    pub fn start(mut handler: impl FnMut(usize, &mut Peer) + Send + 'static) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let thread = std::thread::spawn(move || {
            let mut connections = Vec::new();
            loop {
                let (stream, _) = listener.accept().unwrap();
                stream.set_read_timeout(Some(IO_LIMIT)).unwrap();
                stream.set_write_timeout(Some(IO_LIMIT)).unwrap();
                let mut magic = [0u8; 4];
                if stream.peek(&mut magic).unwrap_or(0) == 4 && &magic == STOP {
                    return connections;
                }
                let mut peer = Peer {
                    stream: Some(stream),
                    decoder: Decoder::new(Kind::Request),
                    pending: Vec::new(),
                    received: Vec::new(),
                };
                handler(connections.len(), &mut peer);
                peer.drain();
                connections.push(peer.received);
            }
        });
        FakeServer {
            address: Address::parse(&format!("IP:127.0.0.1:{port}")).unwrap(),
            port,
            thread: Some(thread),
        }
    }

    /// Starts a server that answers every request with
    /// `script(connection_index, request)`.
    pub fn replying(mut script: impl FnMut(usize, &Req) -> Reply + Send + 'static) -> FakeServer {
        FakeServer::start(move |index, peer| {
            while let Some(req) = peer.request() {
                match script(index, &req) {
                    Reply::Payload(p) => peer.reply(req.uid, req.operation, &p),
                    Reply::Raw(bytes) => peer.send(&bytes),
                    Reply::PayloadThenClose(p) => {
                        peer.reply(req.uid, req.operation, &p);
                        peer.close();
                        return;
                    }
                    Reply::RawThenClose(bytes) => {
                        peer.send(&bytes);
                        peer.close();
                        return;
                    }
                    Reply::Silence => return,
                }
            }
        })
    }

    /// Stops the server; returns what each connection received, in order.
    pub fn finish(mut self) -> Vec<Vec<u8>> {
        let mut stop = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stop.write_all(STOP).unwrap();
        self.thread.take().unwrap().join().unwrap()
    }
}
