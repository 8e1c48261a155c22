//! The dc_client multiplexer (sans-IO) driven by arbitrary input: bytes
//! from up to four local clients and from the server, interleaved in any
//! order and split anywhere, connects that succeed or fail, lost
//! connections, clients coming and going, partial writes and time passing.
//! It must never panic; everything it writes to a client must decode as
//! whole, valid responses that answer that client's own requests, under
//! its uids, in its order; and everything it writes to the server must be
//! valid requests.
//!
//! Input: two bytes of settings, then operations, each a selector byte and
//! its arguments (see `step`); input running out ends the run.
#![no_main]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use dc_protocol::{encode, CommandHeader, Decoder, Kind, Operation};
use dc_proxy::{ClientId, Event, Mux, MuxConfig, UpstreamLoss, UpstreamState};
use libfuzzer_sys::fuzz_target;

const CLIENTS: usize = 4;

/// The fuzz input, consumed from the front.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        taken
    }
}

/// One local client as the harness sees it.
struct Local {
    id: ClientId,
    /// Sent but not yet taken by the multiplexer.
    pending: Vec<u8>,
    /// The requests the multiplexer took, decoded independently.
    requests: Decoder,
    /// A protocol error in what it sent: no more requests are expected.
    broken: bool,
    /// (uid, operation) of every request taken and not yet answered.
    expected: VecDeque<(u32, Operation)>,
    /// Written to it and not yet decoded.
    received: Vec<u8>,
    answers: Decoder,
}

impl Local {
    fn new(id: ClientId) -> Local {
        Local {
            id,
            pending: Vec::new(),
            requests: Decoder::new(Kind::Request),
            broken: false,
            expected: VecDeque::new(),
            received: Vec::new(),
            answers: Decoder::new(Kind::Response),
        }
    }

    /// Notes the bytes the multiplexer took as requests it owes answers.
    fn taken(&mut self, mut bytes: &[u8]) {
        while !self.broken && !bytes.is_empty() {
            match self.requests.decode(bytes) {
                Ok(d) => {
                    bytes = &bytes[d.consumed..];
                    match d.command {
                        Some(c) => self.expected.push_back((c.request_uid, c.operation)),
                        None => break,
                    }
                }
                // The multiplexer closes it (and reports all consumed).
                Err(_) => self.broken = true,
            }
        }
    }

    /// Checks every whole answer written to it so far.
    fn check_answers(&mut self) {
        let mut at = 0;
        loop {
            let d = self
                .answers
                .decode(&self.received[at..])
                .expect("what a client gets decodes as responses");
            at += d.consumed;
            let Some(c) = d.command else { break };
            let want = self
                .expected
                .pop_front()
                .expect("an answer to a request the client sent");
            assert_eq!(
                (c.request_uid, c.operation),
                want,
                "answers carry the client's uid, in its order"
            );
        }
        self.received.drain(..at);
    }
}

struct Harness {
    mux: Mux,
    now: Instant,
    locals: [Option<Local>; CLIENTS],
    next_handle: usize,
    connect_pending: bool,
    /// What the server received, decoded.
    server_requests: Decoder,
    /// Requests the server received and has not answered.
    outstanding: Vec<(u32, Operation)>,
    /// Bytes from the server not yet taken.
    from_server: Vec<u8>,
}

impl Harness {
    fn settle(&mut self) {
        while let Some(event) = self.mux.poll_event() {
            match event {
                Event::Connect => self.connect_pending = true,
                Event::Disconnect(_) => {
                    self.connect_pending = false;
                    self.server_requests.reset();
                    self.outstanding.clear();
                    self.from_server.clear();
                }
                Event::CloseClient(id, _) => {
                    for slot in &mut self.locals {
                        if slot.as_ref().is_some_and(|l| l.id == id) {
                            // What was already written must have been valid.
                            if let Some(l) = slot.as_mut() {
                                l.check_answers();
                            }
                            *slot = None;
                        }
                    }
                    assert!(!self.mux.has_client(id));
                }
                // Only logged (the client may have been closed since, by a
                // later request of the same batch).
                Event::Malformed(..) | Event::UpstreamFull => {}
            }
        }
        assert!(self.mux.clients() <= self.mux.config().max_clients);
    }

    fn feed_client(&mut self, k: usize) {
        let Some(local) = self.locals[k].as_mut() else {
            return;
        };
        let input = self.mux.client_input(local.id, &local.pending, self.now);
        assert!(input.consumed <= local.pending.len());
        let taken: Vec<u8> = local.pending.drain(..input.consumed).collect();
        local.taken(&taken);
    }

    fn drain_client(&mut self, k: usize, max: usize) {
        let Some(local) = self.locals[k].as_mut() else {
            return;
        };
        let Some(out) = self.mux.client_output(local.id) else {
            return;
        };
        let n = out.len().min(max);
        local.received.extend_from_slice(&out.as_slice()[..n]);
        out.consume(n);
        self.mux.client_written(local.id, n, self.now, |d| {
            assert!(d <= Duration::from_secs(1 << 20), "a sane latency");
        });
        local.check_answers();
    }

    fn server_reads(&mut self) {
        if self.mux.upstream_state() != UpstreamState::Up {
            return;
        }
        let out = self.mux.upstream_output();
        let mut at = 0;
        loop {
            let d = self
                .server_requests
                .decode(&out.as_slice()[at..])
                .expect("what the server gets decodes as requests");
            at += d.consumed;
            let Some(c) = d.command else { break };
            self.outstanding.push((c.request_uid, c.operation));
        }
        out.consume(at);
    }

    fn server_sends(&mut self, bytes: &[u8]) {
        self.from_server.extend_from_slice(bytes);
        let consumed = self.mux.upstream_input(&self.from_server, self.now);
        assert!(consumed <= self.from_server.len());
        self.from_server.drain(..consumed);
    }

    /// One operation; `None` when the input ran out.
    fn step(&mut self, input: &mut Input) -> Option<()> {
        match input.byte()? % 12 {
            // A client sends raw bytes: client, length, bytes.
            0 => {
                let k = usize::from(input.byte()?) % CLIENTS;
                let n = usize::from(input.byte()?);
                let bytes = input.bytes(n);
                if let Some(l) = self.locals[k].as_mut() {
                    l.pending.extend_from_slice(bytes);
                }
                self.feed_client(k);
            }
            // A client sends a request frame: client, operation, uid,
            // payload length, payload.
            1 => {
                let k = usize::from(input.byte()?) % CLIENTS;
                let op = Operation::ALL[usize::from(input.byte()? % 4)];
                let uid = u32::from(input.byte()?);
                let n = usize::from(input.byte()?);
                let payload = input.bytes(n);
                if let Some(l) = self.locals[k].as_mut() {
                    let _ = encode(&mut l.pending, CommandHeader::request(uid, op), payload);
                }
                self.feed_client(k);
            }
            // A client is read again (after being held back).
            2 => {
                let k = usize::from(input.byte()?) % CLIENTS;
                self.feed_client(k);
            }
            // A client's socket takes some of its answers: client, 8-byte
            // units (0: everything).
            3 => {
                let k = usize::from(input.byte()?) % CLIENTS;
                let n = usize::from(input.byte()?) * 8;
                self.drain_client(k, if n == 0 { usize::MAX } else { n });
            }
            // A client connects, or leaves.
            4 => {
                let k = usize::from(input.byte()?) % CLIENTS;
                match self.locals[k].take() {
                    Some(l) => self.mux.remove_client(l.id),
                    None => {
                        self.next_handle += 1;
                        if let Ok(id) = self.mux.add_client(self.next_handle, self.now) {
                            self.locals[k] = Some(Local::new(id));
                        }
                    }
                }
            }
            // The server reads what was written to it.
            5 => self.server_reads(),
            // The server answers a request it read: which, kind, length,
            // data. The kind's top bit answers with the wrong operation.
            6 => {
                let i = usize::from(input.byte()?);
                let kind = input.byte()?;
                let n = usize::from(input.byte()?);
                let data = input.bytes(n);
                if self.outstanding.is_empty() {
                    return Some(());
                }
                let (uid, mut op) = self.outstanding.remove(i % self.outstanding.len());
                if kind & 0x80 != 0 {
                    op = Operation::ALL[(usize::from(op.to_byte()) + 1) % 4];
                }
                let status = [[0u8], [1], [2], [101]][usize::from(kind & 3)];
                let payload = if kind & 4 != 0 { data } else { &status[..] };
                let mut bytes = Vec::new();
                let _ = encode(&mut bytes, CommandHeader::response(uid, op), payload);
                // Delivered in two pieces, split anywhere.
                let cut = usize::from(kind >> 3) % (bytes.len() + 1);
                self.server_sends(&bytes[..cut]);
                self.server_sends(&bytes[cut..]);
            }
            // The server sends raw bytes: length, bytes.
            7 => {
                let n = usize::from(input.byte()?);
                let bytes = input.bytes(n);
                self.server_sends(bytes);
            }
            // Time passes: milliseconds.
            8 => {
                self.now += Duration::from_millis(u64::from(input.byte()?));
                self.mux.handle_timeout(self.now);
            }
            // A connect in progress completes or fails.
            9 => {
                let ok = input.byte()? & 1 == 0;
                if self.connect_pending {
                    self.connect_pending = false;
                    if ok {
                        self.mux.upstream_connected(self.now);
                    } else {
                        let loss = UpstreamLoss::ConnectFailed("refused".into());
                        self.mux.upstream_lost(loss, self.now);
                    }
                }
            }
            // The connection breaks.
            10 => {
                let loss = match input.byte()? % 3 {
                    0 => UpstreamLoss::Closed,
                    1 => UpstreamLoss::Io("reset".into()),
                    _ => UpstreamLoss::Tls("TLS: received fatal alert".into()),
                };
                self.mux.upstream_lost(loss, self.now);
            }
            // The driver collects the clients with new answers.
            _ => {
                let mut touched = Vec::new();
                self.mux.take_touched(&mut touched);
            }
        }
        Some(())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let (Some(a), Some(b)) = (input.byte(), input.byte()) else {
        return;
    };
    let ms = |n: u8| Duration::from_millis(u64::from(n));
    let config = MuxConfig {
        retry: ms(1 + (a & 0x1f)),
        timeout: (b & 0x80 == 0).then(|| ms(10 + (b & 0x3f))),
        idle: (b & 0x40 != 0).then(|| ms(50)),
        max_clients: 3,
        // Near the top, so uids wrap.
        first_uid: if a & 0x80 != 0 { u32::MAX - 3 } else { 1 },
    };
    let now = Instant::now();
    let mut h = Harness {
        mux: Mux::new(config, now),
        now,
        locals: Default::default(),
        next_handle: 0,
        connect_pending: false,
        server_requests: Decoder::new(Kind::Request),
        outstanding: Vec::new(),
        from_server: Vec::new(),
    };
    loop {
        let more = h.step(&mut input);
        h.settle();
        if more.is_none() {
            break;
        }
    }
    // Whatever is left for the clients still there is whole responses.
    for k in 0..CLIENTS {
        h.drain_client(k, usize::MAX);
        if let Some(l) = h.locals[k].as_ref() {
            assert!(l.received.is_empty(), "a partial answer was left");
            assert!(!l.answers.in_command(), "a partial answer was left");
        }
    }
});
