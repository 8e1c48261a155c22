//! Property test: random clients, a random (but well-behaved) server and
//! random connection trouble, on a virtual clock. Whatever happens, every
//! request a client sent gets exactly one answer, in that client's order,
//! under its own uid, and that answer is either the one the server gave to
//! *that* request or DISCONNECTED — never another client's.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use dc_protocol::{encode, CommandHeader, Decoder, Kind, Operation, Request};
use proptest::prelude::*;

use super::*;

/// The one server of these tests.
const L0: LinkId = LinkId(0);

#[derive(Debug, Clone)]
enum Action {
    /// A client queues a request (not yet sent).
    Queue {
        client: usize,
        op: u8,
        uid: u32,
        big: bool,
    },
    /// A client sends up to `n` of its queued bytes.
    Feed { client: usize, n: usize },
    /// A client reads its answers.
    Read { client: usize },
    /// A client disconnects; a new one takes its place.
    Leave { client: usize },
    /// The server answers the `pick`-th request it holds.
    Answer { pick: usize },
    /// The server answers everything it holds, in order.
    AnswerAll,
    /// The connection to the server breaks.
    Break,
    /// The server becomes reachable or not.
    Reachable(bool),
    /// A pending connect completes (succeeds if the server is reachable).
    ConnectOutcome,
    /// Time passes.
    Advance { ms: u64 },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (0..4usize, 0..5u8, any::<u32>(), prop::bool::weighted(0.1))
            .prop_map(|(client, op, uid, big)| Action::Queue { client, op, uid, big }),
        6 => (0..4usize, 1..3000usize).prop_map(|(client, n)| Action::Feed { client, n }),
        3 => (0..4usize).prop_map(|client| Action::Read { client }),
        1 => (0..4usize).prop_map(|client| Action::Leave { client }),
        4 => (0..64usize).prop_map(|pick| Action::Answer { pick }),
        2 => Just(Action::AnswerAll),
        1 => Just(Action::Break),
        1 => any::<bool>().prop_map(Action::Reachable),
        2 => Just(Action::ConnectOutcome),
        2 => prop_oneof![0..60u64, 0..1500u64, 4000..6000u64].prop_map(|ms| Action::Advance { ms }),
    ]
}

/// What a request should be answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// Refused here with this status (a bad ADD).
    Status(u8),
    /// The server's answer to this tag, or DISCONNECTED.
    Server(Vec<u8>),
}

#[derive(Debug)]
struct SentRequest {
    uid: u32,
    op: Operation,
    expect: Expect,
    /// Offset just past its last byte in the client's byte stream.
    end: usize,
}

struct SimClient {
    id: ClientId,
    /// Bytes queued by the client, from `fed` on not yet sent.
    bytes: Vec<u8>,
    fed: usize,
    /// Of the bytes fed, those the multiplexer took.
    consumed: usize,
    requests: Vec<SentRequest>,
    /// Requests answered so far.
    answered: usize,
    next_tag: u32,
}

/// The server: holds forwarded requests until the test answers them.
struct SimServer {
    held: Vec<(u32, Operation, Vec<u8>)>,
    decoder: Decoder,
    /// The answer given for each tag.
    answers: HashMap<Vec<u8>, Vec<u8>>,
}

struct World {
    mux: Mux,
    now: Instant,
    clients: Vec<SimClient>,
    next_handle: usize,
    server: SimServer,
    reachable: bool,
    connect_pending: bool,
    left_tags: HashSet<Vec<u8>>,
}

/// The server's answer to a request carrying `tag`: distinct per tag for
/// every operation, so a misrouted answer shows.
fn server_answer(op: Operation, tag: &[u8]) -> Vec<u8> {
    let h = tag
        .iter()
        .fold(7u32, |h, &b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    match op {
        Operation::Get => [b"ans:", tag].concat(),
        Operation::Add => vec![if h % 2 == 0 { 0 } else { 101 }],
        _ => vec![(h % 2) as u8],
    }
}

/// The tag inside a forwarded payload.
fn tag_of(op: Operation, payload: &[u8]) -> Vec<u8> {
    match op {
        Operation::Add => {
            let id_len = u32::from_be_bytes([payload[4], payload[5], payload[6], payload[7]]);
            payload[8..8 + id_len as usize].to_vec()
        }
        _ => payload.to_vec(),
    }
}

impl World {
    fn new() -> World {
        let now = Instant::now();
        let mut world = World {
            mux: Mux::new(
                MuxConfig {
                    retry: Duration::from_millis(1000),
                    extension: false,
                    ..MuxConfig::default()
                },
                now,
            ),
            now,
            clients: Vec::new(),
            next_handle: 0,
            server: SimServer {
                held: Vec::new(),
                decoder: Decoder::new(Kind::Request),
                answers: HashMap::new(),
            },
            reachable: true,
            connect_pending: false,
            left_tags: HashSet::new(),
        };
        for _ in 0..4 {
            let c = world.new_client();
            world.clients.push(c);
        }
        world.mux.handle_timeout(now);
        world.settle();
        world
    }

    fn new_client(&mut self) -> SimClient {
        self.next_handle += 1;
        SimClient {
            id: self.mux.add_client(self.next_handle, self.now).unwrap(),
            bytes: Vec::new(),
            fed: 0,
            consumed: 0,
            requests: Vec::new(),
            answered: 0,
            next_tag: 0,
        }
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::Queue {
                client,
                op,
                uid,
                big,
            } => self.queue(client, op, uid, big),
            Action::Feed { client, n } => self.feed(client, n),
            Action::Read { client } => self.read(client),
            Action::Leave { client } => {
                let old = &self.clients[client];
                for r in &old.requests[old.answered..] {
                    if let Expect::Server(tag) = &r.expect {
                        self.left_tags.insert(tag.clone());
                    }
                }
                self.mux.remove_client(old.id);
                self.clients[client] = self.new_client();
            }
            Action::Answer { pick } => {
                if !self.server.held.is_empty() {
                    let held = self.server.held.remove(pick % self.server.held.len());
                    self.answer(held);
                }
            }
            Action::AnswerAll => {
                for held in std::mem::take(&mut self.server.held) {
                    self.answer(held);
                }
            }
            Action::Break => {
                self.mux.upstream_lost(L0, UpstreamLoss::Closed, self.now);
            }
            Action::Reachable(r) => self.reachable = r,
            Action::ConnectOutcome => self.resolve_connect(),
            Action::Advance { ms } => {
                self.now += Duration::from_millis(ms);
                self.mux.handle_timeout(self.now);
            }
        }
        self.settle();
    }

    fn queue(&mut self, client: usize, op: u8, uid: u32, big: bool) {
        let c = &mut self.clients[client];
        let tag = format!("c{}-{}", c.id.serial, c.next_tag).into_bytes();
        c.next_tag += 1;
        let (op, payload, expect) = match op {
            0 => {
                let data = vec![b'd'; if big { 9000 } else { 20 }];
                let mut p = 60_000u32.to_be_bytes().to_vec();
                p.extend_from_slice(&(tag.len() as u32).to_be_bytes());
                p.extend_from_slice(&tag);
                p.extend_from_slice(&data);
                (Operation::Add, p, Expect::Server(tag))
            }
            1 => {
                // Refused here: timeout over 7 days.
                let mut p = u32::MAX.to_be_bytes().to_vec();
                p.extend_from_slice(&1u32.to_be_bytes());
                p.extend_from_slice(b"xdata");
                (Operation::Add, p, Expect::Status(102))
            }
            2 => (Operation::Get, tag.clone(), Expect::Server(tag)),
            3 => (Operation::Remove, tag.clone(), Expect::Server(tag)),
            _ => (Operation::Have, tag.clone(), Expect::Server(tag)),
        };
        encode(&mut c.bytes, CommandHeader::request(uid, op), &payload).unwrap();
        let end = c.bytes.len();
        c.requests.push(SentRequest {
            uid,
            op,
            expect,
            end,
        });
    }

    fn feed(&mut self, client: usize, n: usize) {
        let c = &mut self.clients[client];
        c.fed = c.fed.saturating_add(n).min(c.bytes.len());
        let r = self
            .mux
            .client_input(c.id, &c.bytes[c.consumed..c.fed], self.now);
        c.consumed += r.consumed;
    }

    fn read(&mut self, client: usize) {
        let c = &mut self.clients[client];
        let out = self.mux.client_output(c.id).expect("client is open");
        let mut decoder = Decoder::new(Kind::Response);
        let mut input = out.as_slice();
        loop {
            let d = decoder.decode(input).expect("answers are well-formed");
            input = &input[d.consumed..];
            let Some(cmd) = d.command else { break };
            let i = c.answered;
            let req = c
                .requests
                .get(i)
                .unwrap_or_else(|| panic!("client {:?}: answer to no request", c.id));
            assert!(
                req.end <= c.consumed,
                "answer to request {i} before it was consumed"
            );
            assert_eq!(cmd.request_uid, req.uid, "answer {i}: uid");
            assert_eq!(cmd.operation, req.op, "answer {i}: operation");
            match &req.expect {
                Expect::Status(s) => assert_eq!(cmd.payload, [*s], "answer {i}"),
                Expect::Server(tag) => {
                    if cmd.payload != [2] {
                        assert_eq!(
                            Some(&cmd.payload.to_vec()),
                            self.server.answers.get(tag),
                            "answer {i}: not the server's answer to this request"
                        );
                    }
                }
            }
            c.answered += 1;
        }
        assert!(input.is_empty());
        out.clear();
    }

    fn answer(&mut self, (uid, op, tag): (u32, Operation, Vec<u8>)) {
        let answer = server_answer(op, &tag);
        let mut bytes = Vec::new();
        encode(&mut bytes, CommandHeader::response(uid, op), &answer).unwrap();
        let before = self.mux.stats().answered;
        self.server.answers.insert(tag, answer);
        let consumed = self.mux.upstream_input(L0, &bytes, self.now);
        assert_eq!(consumed, bytes.len());
        assert_eq!(
            self.mux.stats().answered,
            before + 1,
            "the answer was taken"
        );
    }

    fn resolve_connect(&mut self) {
        if !self.connect_pending {
            return;
        }
        self.connect_pending = false;
        if self.reachable {
            self.mux.upstream_connected(L0, self.now);
        } else {
            self.mux.upstream_lost(
                L0,
                UpstreamLoss::ConnectFailed("unreachable".into()),
                self.now,
            );
        }
    }

    /// Carries out events and moves forwarded requests to the server.
    fn settle(&mut self) {
        while let Some(event) = self.mux.poll_event() {
            match event {
                Event::Connect(_) => self.connect_pending = true,
                Event::Disconnect(_, loss) => {
                    assert!(
                        matches!(
                            loss,
                            UpstreamLoss::Closed
                                | UpstreamLoss::ConnectFailed(_)
                                | UpstreamLoss::ConnectTimeout(_)
                                | UpstreamLoss::Stalled(_)
                        ),
                        "a well-behaved server was dropped: {loss}"
                    );
                    self.connect_pending = false;
                    // Whatever the server held died with the connection.
                    self.server.held.clear();
                    self.server.decoder.reset();
                }
                Event::CloseClient(id, why) => panic!("client {id:?} closed: {why}"),
                Event::Malformed(id, e) => panic!("client {id:?} malformed: {e}"),
                Event::UpstreamFull(_) => panic!("the queue to a reading server filled up"),
                other => panic!("unexpected {other:?}"),
            }
        }
        if self.mux.upstream_state() == UpstreamState::Up {
            let out = self.mux.upstream_output(L0).expect("link 0");
            let mut input = out.as_slice();
            loop {
                let d = self
                    .server
                    .decoder
                    .decode(input)
                    .expect("forwarded requests are valid");
                input = &input[d.consumed..];
                let Some(cmd) = d.command else { break };
                assert!(
                    Request::parse(cmd.operation, cmd.payload).is_ok(),
                    "only valid requests are forwarded"
                );
                let tag = tag_of(cmd.operation, cmd.payload);
                assert!(
                    !self.server.held.iter().any(|h| h.0 == cmd.request_uid),
                    "uid {} forwarded twice",
                    cmd.request_uid
                );
                self.server.held.push((cmd.request_uid, cmd.operation, tag));
            }
            assert!(input.is_empty(), "a partial request was forwarded");
            out.clear();
        }
    }

    /// Brings the server back and lets everything finish.
    fn finish(&mut self) {
        self.reachable = true;
        for _ in 0..1000 {
            self.resolve_connect();
            self.settle();
            if self.mux.upstream_state() == UpstreamState::Up {
                break;
            }
            self.now += Duration::from_millis(1000);
            self.mux.handle_timeout(self.now);
            self.settle();
        }
        assert_eq!(self.mux.upstream_state(), UpstreamState::Up);
        for _ in 0..10_000 {
            for i in 0..self.clients.len() {
                self.feed(i, usize::MAX);
                self.settle();
                self.read(i);
            }
            self.apply(Action::AnswerAll);
            for i in 0..self.clients.len() {
                self.read(i);
            }
            let done = self
                .clients
                .iter()
                .all(|c| c.consumed == c.bytes.len() && c.answered == c.requests.len());
            if done {
                break;
            }
        }
        for c in &self.clients {
            assert_eq!(c.consumed, c.bytes.len(), "client {:?} not read", c.id);
            assert_eq!(
                c.answered,
                c.requests.len(),
                "client {:?} not answered",
                c.id
            );
        }
        assert_eq!(self.mux.in_flight(), 0);
        // Every request was forwarded, refused, or answered DISCONNECTED
        // without being forwarded; every forwarded one was answered by the
        // server or lost with its connection.
        let s = self.mux.stats();
        let lost_in_flight = s.forwarded - s.answered;
        assert_eq!(
            s.requests,
            s.forwarded + s.refused + s.malformed + (s.disconnected - lost_in_flight),
            "{s:?}"
        );
        // And each is counted once by how it was answered.
        let counted: u64 = s.outcomes.iter().flatten().sum();
        assert_eq!(counted, s.requests, "{s:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn every_request_gets_its_own_answer(actions in prop::collection::vec(action(), 1..150)) {
        let mut world = World::new();
        for action in actions {
            world.apply(action);
        }
        world.finish();
    }
}
