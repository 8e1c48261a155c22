//! The multiplexer on a virtual clock, without sockets.

use std::time::{Duration, Instant};

use dc_protocol::{encode, CommandHeader, Decoder, Kind, Operation, RequestError, Status};

use super::*;

/// The one server of these tests.
const L0: LinkId = LinkId(0);
use crate::backoff::{FIRST_RETRY, STABLE_AFTER};
use crate::error::LossReason;

/// One decoded command: (uid, operation, payload).
type Cmd = (u32, Operation, Vec<u8>);

const GET: Operation = Operation::Get;
const HAVE: Operation = Operation::Have;
const ADD: Operation = Operation::Add;
const DISCONNECTED: [u8; 1] = [2];

fn request(uid: u32, op: Operation, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    encode(&mut v, CommandHeader::request(uid, op), payload).unwrap();
    v
}

fn response(uid: u32, op: Operation, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    encode(&mut v, CommandHeader::response(uid, op), payload).unwrap();
    v
}

fn add_payload(timeout: u32, id: &[u8], data: &[u8]) -> Vec<u8> {
    let mut p = timeout.to_be_bytes().to_vec();
    p.extend_from_slice(&(id.len() as u32).to_be_bytes());
    p.extend_from_slice(id);
    p.extend_from_slice(data);
    p
}

fn decode_all(kind: Kind, mut input: &[u8]) -> Vec<Cmd> {
    let mut decoder = Decoder::new(kind);
    let mut got = Vec::new();
    loop {
        let d = decoder.decode(input).expect("well-formed output");
        input = &input[d.consumed..];
        match d.command {
            Some(c) => got.push((c.request_uid, c.operation, c.payload.to_vec())),
            None => break,
        }
    }
    assert!(input.is_empty(), "partial command left in the output");
    got
}

/// A multiplexer and a virtual clock.
struct Sim {
    mux: Mux,
    now: Instant,
}

impl Sim {
    fn new(config: MuxConfig) -> Sim {
        let now = Instant::now();
        Sim {
            // A 1.x server: these tests speak its frames only.
            mux: Mux::new(
                MuxConfig {
                    extension: false,
                    ..config
                },
                now,
            ),
            now,
        }
    }

    /// Default settings, connected.
    fn up() -> Sim {
        Sim::up_with(MuxConfig::default())
    }

    fn up_with(config: MuxConfig) -> Sim {
        let mut sim = Sim::new(config);
        sim.connect();
        sim
    }

    fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        self.mux.handle_timeout(self.now);
    }

    fn connect(&mut self) {
        self.mux.handle_timeout(self.now);
        assert_eq!(self.events(), vec![Event::Connect(L0)]);
        self.mux.upstream_connected(L0, self.now);
        assert_eq!(self.mux.upstream_state(), UpstreamState::Up);
    }

    fn client(&mut self) -> ClientId {
        let handle = self.mux.clients() + 100;
        self.mux.add_client(handle, self.now).unwrap()
    }

    /// Feeds bytes from a client; asserts they were all taken.
    fn send(&mut self, id: ClientId, bytes: &[u8]) {
        let r = self.mux.client_input(id, bytes, self.now);
        assert_eq!(r.consumed, bytes.len(), "input not all consumed");
    }

    /// What the multiplexer wrote to the server, drained.
    fn upstream_sent(&mut self) -> Vec<Cmd> {
        let out = self.mux.upstream_output(L0).expect("link 0");
        let got = decode_all(Kind::Request, out.as_slice());
        out.clear();
        got
    }

    fn answer(&mut self, bytes: &[u8]) {
        let consumed = self.mux.upstream_input(L0, bytes, self.now);
        assert_eq!(consumed, bytes.len());
    }

    /// What a client got, drained.
    fn received(&mut self, id: ClientId) -> Vec<Cmd> {
        let Some(out) = self.mux.client_output(id) else {
            return Vec::new();
        };
        let got = decode_all(Kind::Response, out.as_slice());
        out.clear();
        got
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.mux.poll_event()).collect()
    }
}

#[test]
fn each_answer_reports_how_long_the_server_took() {
    let mut sim = Sim::up();
    let a = sim.client();
    sim.send(a, &request(7, GET, b"k"));
    sim.advance(3);
    sim.send(a, &request(8, HAVE, b"k"));
    let sent = sim.upstream_sent();
    sim.advance(4);
    let mut waits = Vec::new();
    let answers = [
        response(sent[0].0, GET, &[1]),
        response(sent[1].0, HAVE, &[0]),
    ]
    .concat();
    let consumed = sim
        .mux
        .upstream_input_timed(L0, &answers, sim.now, |waited| waits.push(waited));
    assert_eq!(consumed, answers.len());
    assert_eq!(waits, [Duration::from_millis(7), Duration::from_millis(4)]);
}

#[test]
fn uids_are_rewritten_and_answers_mapped_back() {
    // The vector proxy_uid_rewrite_and_backend_loss, on the multiplexer.
    let mut sim = Sim::up();
    let a = sim.client();
    let b = sim.client();
    sim.send(a, &request(0xabcdef02, GET, b"k"));
    sim.send(b, &request(0x55, HAVE, b"k"));
    assert_eq!(
        sim.mux.upstream_output(L0).expect("link 0").as_slice(),
        [
            hex::decode("00110000000000000100010100016b").unwrap(),
            hex::decode("00110000000000000200030100016b").unwrap()
        ]
        .concat()
    );
    sim.upstream_sent();
    sim.answer(&hex::decode("001100000100000002000301000100").unwrap());
    assert_eq!(sim.received(a), vec![]);
    assert_eq!(
        sim.mux.client_output(b).unwrap().as_slice(),
        hex::decode("001100000100000055000301000100").unwrap()
    );
    sim.received(b);
    sim.answer(&hex::decode("001100000100000001000101000556414c5545").unwrap());
    assert_eq!(
        sim.mux.client_output(a).unwrap().as_slice(),
        hex::decode("0011000001abcdef02000101000556414c5545").unwrap()
    );
    sim.received(a);

    // The backend closes with uid 3 in flight: DISCONNECTED, then the next
    // request is answered at once (0x02, not the original's empty answer).
    sim.send(a, &request(0x77, GET, b"k"));
    assert_eq!(sim.upstream_sent(), vec![(3, GET, b"k".to_vec())]);
    sim.mux.upstream_lost(L0, UpstreamLoss::Closed, sim.now);
    assert_eq!(
        sim.events(),
        vec![Event::Disconnect(L0, UpstreamLoss::Closed)]
    );
    assert_eq!(
        sim.mux.client_output(a).unwrap().as_slice(),
        hex::decode("001100000100000077000101000102").unwrap()
    );
    sim.received(a);
    sim.send(a, &request(0x78, GET, b"k"));
    assert_eq!(
        sim.mux.client_output(a).unwrap().as_slice(),
        hex::decode("001100000100000078000101000102").unwrap()
    );
    assert!(sim.upstream_sent().is_empty());
    assert_eq!(sim.mux.stats().losses, 1);
}

#[test]
fn without_a_server_every_request_is_answered_at_once() {
    let mut sim = Sim::new(MuxConfig::default());
    sim.mux.handle_timeout(sim.now);
    assert_eq!(sim.events(), vec![Event::Connect(L0)]);
    sim.mux
        .upstream_lost(L0, UpstreamLoss::ConnectFailed("refused".into()), sim.now);
    assert!(matches!(sim.events()[..], [Event::Disconnect(L0, _)]));
    let a = sim.client();
    for (uid, op) in [
        (0xabcdef01, Operation::Add),
        (0xabcdef02, GET),
        (0xabcdef03, Operation::Remove),
        (0xabcdef04, HAVE),
    ] {
        let payload = if op == ADD {
            add_payload(60000, b"k", b"v")
        } else {
            b"k".to_vec()
        };
        sim.send(a, &request(uid, op, &payload));
        assert_eq!(sim.received(a), vec![(uid, op, DISCONNECTED.to_vec())]);
    }
    assert!(sim.upstream_sent().is_empty());
    assert_eq!(sim.mux.stats().disconnected, 4);
}

#[test]
fn requests_wait_briefly_for_a_connect_in_progress() {
    let mut sim = Sim::new(MuxConfig::default());
    sim.mux.handle_timeout(sim.now);
    assert_eq!(sim.events(), vec![Event::Connect(L0)]);
    let a = sim.client();
    sim.send(a, &request(1, GET, b"x"));
    assert_eq!(sim.received(a), vec![]);
    assert_eq!(
        sim.mux.next_timeout(),
        Some(sim.now + CONNECT_QUEUE_WAIT),
        "the queue wait is the next deadline"
    );
    sim.advance(10);
    sim.mux.upstream_connected(L0, sim.now);
    assert_eq!(sim.upstream_sent(), vec![(1, GET, b"x".to_vec())]);
    sim.answer(&response(1, GET, b"hello"));
    assert_eq!(sim.received(a), vec![(1, GET, b"hello".to_vec())]);

    // A connect that takes longer: the queued request is answered when the
    // wait is over, later ones at once, and the connect may still succeed.
    sim.mux.upstream_lost(L0, UpstreamLoss::Closed, sim.now);
    sim.events();
    sim.advance(DEFAULT_RETRY.as_millis() as u64);
    assert_eq!(sim.events(), vec![Event::Connect(L0)]);
    sim.send(a, &request(2, GET, b"y"));
    sim.advance(CONNECT_QUEUE_WAIT.as_millis() as u64 - 1);
    assert_eq!(sim.received(a), vec![]);
    sim.advance(1);
    assert_eq!(sim.received(a), vec![(2, GET, DISCONNECTED.to_vec())]);
    sim.send(a, &request(3, GET, b"z"));
    assert_eq!(sim.received(a), vec![(3, GET, DISCONNECTED.to_vec())]);
    sim.mux.upstream_connected(L0, sim.now);
    assert!(
        sim.upstream_sent().is_empty(),
        "answered requests are not sent"
    );
    sim.send(a, &request(4, GET, b"w"));
    assert_eq!(sim.upstream_sent().len(), 1);
}

/// Fails the connect just asked for and returns when the next is due.
fn refuse(sim: &mut Sim) -> Instant {
    assert_eq!(sim.events(), vec![Event::Connect(L0)]);
    sim.mux
        .upstream_lost(L0, UpstreamLoss::ConnectFailed("refused".into()), sim.now);
    sim.events();
    match sim.mux.upstream_state() {
        UpstreamState::Down { retry_at } => retry_at,
        other => panic!("not down: {other:?}"),
    }
}

#[test]
fn reconnects_back_off_from_a_millisecond_to_retry() {
    let retry = Duration::from_millis(500);
    let mut sim = Sim::new(MuxConfig {
        retry,
        ..MuxConfig::default()
    });
    let start = sim.now;
    sim.mux.handle_timeout(sim.now);
    // Refused again and again: 1, 2, 4 ... ms apart, at most 50 ms apart
    // for the first 10 s, then every -retry.
    let mut due = Vec::new();
    while due.last().is_none_or(|&ms| ms < 12_000) {
        let at = refuse(&mut sim);
        assert_eq!(sim.mux.next_timeout(), Some(at));
        sim.now = at - Duration::from_nanos(1);
        sim.mux.handle_timeout(sim.now);
        assert!(sim.events().is_empty(), "an attempt before it was due");
        sim.now = at;
        sim.mux.handle_timeout(sim.now);
        due.push((at - start).as_millis());
    }
    assert_eq!(due[..10], [1, 3, 7, 15, 31, 63, 113, 163, 213, 263]);
    let fast = due.iter().filter(|&&ms| ms < 10_000).count();
    assert_eq!(due[fast - 1], 9_963);
    assert_eq!(due[fast..], [10_013, 10_513, 11_013, 11_513, 12_013]);
    // Connected, but closed at once (a full server): still backing off.
    assert_eq!(sim.events(), vec![Event::Connect(L0)]);
    sim.mux.upstream_connected(L0, sim.now);
    sim.advance(10);
    sim.mux.upstream_lost(L0, UpstreamLoss::Closed, sim.now);
    sim.events();
    assert_eq!(
        sim.mux.upstream_state(),
        UpstreamState::Down {
            retry_at: sim.now + Duration::from_millis(490)
        }
    );
    sim.advance(490);
    assert_eq!(sim.events(), vec![Event::Connect(L0)]);
    sim.mux.upstream_connected(L0, sim.now);
    // Lost after a lasting connection: at once, then fast again.
    sim.advance(STABLE_AFTER.as_millis() as u64);
    sim.mux.upstream_lost(L0, UpstreamLoss::Closed, sim.now);
    sim.events();
    sim.mux.handle_timeout(sim.now);
    let lost = sim.now;
    assert_eq!(refuse(&mut sim), lost + FIRST_RETRY);
    assert_eq!(sim.mux.stats().connect_attempts, due.len() as u64 + 3);
    assert_eq!(sim.mux.stats().connects, 2);
    assert_eq!(sim.mux.stats().losses, 2);
}

#[test]
fn a_misbehaving_server_is_dropped_and_its_requests_answered() {
    let cases: Vec<(Vec<u8>, UpstreamLoss)> = vec![
        (response(99, GET, &[1]), UpstreamLoss::UnknownUid(99)),
        (
            response(1, HAVE, &[1]),
            UpstreamLoss::WrongOperation {
                uid: 1,
                expected: GET,
                found: HAVE,
            },
        ),
        (
            hex::decode("001100000000000001000101000101").unwrap(),
            UpstreamLoss::Protocol(dc_protocol::DecodeError::UnexpectedKind {
                expected: Kind::Response,
                found: Kind::Request,
            }),
        ),
        (
            hex::decode("001200000100000001000101000101").unwrap(),
            UpstreamLoss::Protocol(dc_protocol::DecodeError::Version { found: 0x0012_0000 }),
        ),
    ];
    for (bad, loss) in cases {
        let mut sim = Sim::up();
        let a = sim.client();
        let b = sim.client();
        sim.send(a, &request(5, GET, b"k"));
        sim.send(b, &request(6, HAVE, b"k"));
        sim.upstream_sent();
        sim.answer(&bad);
        assert_eq!(
            sim.events(),
            vec![Event::Disconnect(L0, loss.clone())],
            "{loss}"
        );
        assert_eq!(sim.received(a), vec![(5, GET, DISCONNECTED.to_vec())]);
        assert_eq!(sim.received(b), vec![(6, HAVE, DISCONNECTED.to_vec())]);
        assert_eq!(sim.mux.in_flight(), 0);
        assert!(matches!(
            sim.mux.upstream_state(),
            UpstreamState::Down { .. }
        ));
        // Back in business after the retry period.
        sim.advance(DEFAULT_RETRY.as_millis() as u64);
        assert_eq!(sim.events(), vec![Event::Connect(L0)]);
        sim.mux.upstream_connected(L0, sim.now);
        sim.send(a, &request(7, GET, b"k"));
        let sent = sim.upstream_sent();
        assert_eq!(sent.len(), 1);
        sim.answer(&response(sent[0].0, GET, b"value"));
        assert_eq!(sim.received(a), vec![(7, GET, b"value".to_vec())]);
    }
}

#[test]
fn a_corrupt_client_is_closed_alone() {
    let mut sim = Sim::up();
    let a = sim.client();
    let b = sim.client();
    sim.send(b, &request(1, GET, b"k"));
    let r = sim.mux.client_input(
        a,
        &hex::decode("00120000000000000100010100016b").unwrap(),
        sim.now,
    );
    assert_eq!(r.consumed, 15);
    assert_eq!(
        sim.events(),
        vec![Event::CloseClient(
            a,
            ClientClose::Protocol(dc_protocol::DecodeError::Version { found: 0x0012_0000 })
        )]
    );
    assert!(!sim.mux.has_client(a));
    // A response frame from a client, too.
    let c = sim.client();
    sim.mux.client_input(
        c,
        &hex::decode("00110000010000000500010100016b").unwrap(),
        sim.now,
    );
    assert!(
        matches!(sim.events()[..], [Event::CloseClient(id, ClientClose::Protocol(_))] if id == c)
    );
    let sent = sim.upstream_sent();
    assert_eq!(sent.len(), 1);
    sim.answer(&response(sent[0].0, GET, b"fine!"));
    assert_eq!(sim.received(b), vec![(1, GET, b"fine!".to_vec())]);
    assert_eq!(sim.mux.stats().clients_corrupt, 2);
}

#[test]
fn answers_for_a_client_that_left_are_dropped() {
    let mut sim = Sim::up();
    let a = sim.client();
    sim.send(a, &request(5, GET, b"k"));
    sim.mux.remove_client(a);
    let b = sim.client();
    sim.send(b, &request(6, GET, b"k"));
    assert_eq!(
        sim.upstream_sent(),
        vec![(1, GET, b"k".to_vec()), (2, GET, b"k".to_vec())]
    );
    sim.answer(&response(1, GET, b"for-a"));
    sim.answer(&response(2, GET, b"for-b"));
    assert!(sim.events().is_empty(), "the server did nothing wrong");
    assert_eq!(sim.received(b), vec![(6, GET, b"for-b".to_vec())]);
    assert_eq!(sim.mux.stats().late_answers, 1);
    assert_eq!(sim.mux.upstream_state(), UpstreamState::Up);
}

#[test]
fn bad_requests_are_answered_here_and_not_forwarded() {
    let mut sim = Sim::up();
    let a = sim.client();
    let refused = [
        (
            add_payload(604_800_001, b"k", b"v"),
            Status::AddTimeoutRange,
        ),
        (add_payload(1000, b"k", b""), Status::AddCorrupt),
        (add_payload(1000, b"", b"data"), Status::AddIdRange),
        (add_payload(1000, &[b'i'; 65], b"data"), Status::AddIdRange),
    ];
    for (i, (payload, status)) in refused.iter().enumerate() {
        sim.send(a, &request(i as u32, ADD, payload));
        assert_eq!(sim.received(a), vec![(i as u32, ADD, vec![status.code()])]);
    }
    // An ADD too short for its header: the server would drop the shared
    // connection; the client gets DISCONNECTED and stays connected.
    sim.send(a, &hex::decode("00110000000000000400000100020000").unwrap());
    assert_eq!(
        sim.mux.client_output(a).unwrap().as_slice(),
        hex::decode("001100000100000004000001000102").unwrap()
    );
    sim.received(a);
    assert_eq!(
        sim.events(),
        vec![Event::Malformed(a, RequestError::AddTooShort { len: 2 })]
    );
    assert!(sim.upstream_sent().is_empty());
    assert!(sim.mux.has_client(a));
    assert_eq!(sim.mux.stats().refused, 4);
    assert_eq!(sim.mux.stats().malformed, 1);
    // Lookups of any id length go through: the server decides.
    sim.send(a, &request(9, GET, &[b'x'; 100]));
    assert_eq!(sim.upstream_sent().len(), 1);
}

#[test]
fn large_requests_and_answers_are_carried_whole() {
    let mut sim = Sim::up();
    let a = sim.client();
    let b = sim.client();
    let data: Vec<u8> = (0..30_000u32).map(|i| (i % 251) as u8).collect();
    let add = request(0x10, ADD, &add_payload(60_000, b"big", &data));
    // Arrives in pieces, with another client's request in between: only
    // whole requests go upstream, so frames never interleave there.
    let (first, rest) = add.split_at(5000);
    let r = sim.mux.client_input(a, first, sim.now);
    let left = &first[r.consumed..];
    sim.send(b, &request(0x20, GET, b"small"));
    let mut more = left.to_vec();
    more.extend_from_slice(rest);
    sim.send(a, &more);
    let sent = sim.upstream_sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0], (1, GET, b"small".to_vec()));
    assert_eq!(sent[1].0, 2);
    assert_eq!(&sent[1].2[8 + 3..], &data[..]);
    sim.answer(&response(2, ADD, &[0]));
    sim.answer(&response(1, GET, &data));
    assert_eq!(sim.received(a), vec![(0x10, ADD, vec![0])]);
    assert_eq!(sim.received(b), vec![(0x20, GET, data.clone())]);
}

#[test]
fn each_client_gets_its_answers_in_its_own_order() {
    let mut sim = Sim::up();
    let a = sim.client();
    // GET, a refused ADD (answered here), GET, pipelined in one write.
    let mut burst = request(7, GET, b"one");
    burst.extend(request(8, ADD, &add_payload(1000, b"", b"x")));
    burst.extend(request(9, GET, b"two"));
    sim.send(a, &burst);
    let sent = sim.upstream_sent();
    assert_eq!(sent.len(), 2);
    // The server answers the second first.
    sim.answer(&response(sent[1].0, GET, b"second"));
    assert_eq!(sim.received(a), vec![]);
    sim.answer(&response(sent[0].0, GET, b"first"));
    assert_eq!(
        sim.received(a),
        vec![
            (7, GET, b"first".to_vec()),
            (8, ADD, vec![Status::AddIdRange.code()]),
            (9, GET, b"second".to_vec())
        ]
    );
}

#[test]
fn a_stalled_server_is_given_up_after_the_timeout() {
    let mut sim = Sim::up_with(MuxConfig {
        timeout: Some(Duration::from_millis(300)),
        retry: Duration::from_millis(100),
        ..MuxConfig::default()
    });
    let a = sim.client();
    sim.send(a, &request(1, GET, b"k"));
    sim.advance(200);
    sim.send(a, &request(2, GET, b"k"));
    assert_eq!(
        sim.mux.next_timeout(),
        Some(sim.now + Duration::from_millis(100))
    );
    sim.advance(99);
    assert!(sim.events().is_empty());
    sim.advance(1);
    assert_eq!(
        sim.events(),
        vec![Event::Disconnect(
            L0,
            UpstreamLoss::Stalled(Duration::from_millis(300))
        )]
    );
    assert_eq!(
        sim.received(a),
        vec![
            (1, GET, DISCONNECTED.to_vec()),
            (2, GET, DISCONNECTED.to_vec())
        ]
    );
    // The last attempt was long ago: reconnect at once.
    sim.mux.handle_timeout(sim.now);
    assert_eq!(sim.events(), vec![Event::Connect(L0)]);
    // A connect that hangs is given up after the timeout too.
    sim.advance(300);
    assert_eq!(
        sim.events(),
        vec![Event::Disconnect(
            L0,
            UpstreamLoss::ConnectTimeout(Duration::from_millis(300))
        )]
    );
}

#[test]
fn without_a_timeout_nothing_is_given_up() {
    let mut sim = Sim::up_with(MuxConfig {
        timeout: None,
        ..MuxConfig::default()
    });
    let a = sim.client();
    sim.send(a, &request(1, GET, b"k"));
    assert_eq!(sim.mux.next_timeout(), None);
    sim.advance(3_600_000);
    assert!(sim.events().is_empty());
    assert_eq!(sim.mux.in_flight(), 1);
}

#[test]
fn idle_clients_are_closed_unless_a_request_is_in_progress() {
    let idle = Duration::from_millis(300);
    let mut sim = Sim::up_with(MuxConfig {
        idle: Some(idle),
        ..MuxConfig::default()
    });
    let quiet = sim.client();
    let busy = sim.client();
    let chatty = sim.client();
    sim.send(busy, &request(1, GET, b"k"));
    assert_eq!(sim.mux.next_timeout(), Some(sim.now + idle));
    sim.advance(200);
    sim.mux.client_active(chatty, sim.now);
    sim.advance(100);
    assert_eq!(
        sim.events(),
        vec![Event::CloseClient(quiet, ClientClose::Idle(idle))]
    );
    assert!(sim.mux.has_client(busy), "its request is in progress");
    sim.advance(200);
    assert_eq!(
        sim.events(),
        vec![Event::CloseClient(chatty, ClientClose::Idle(idle))]
    );
    // Answered: now it may go idle, counted from its last traffic.
    let sent = sim.upstream_sent();
    sim.answer(&response(sent[0].0, GET, b"value"));
    sim.received(busy);
    sim.mux.client_active(busy, sim.now);
    sim.advance(299);
    assert!(sim.mux.has_client(busy));
    sim.advance(80);
    assert!(!sim.mux.has_client(busy));
    assert_eq!(sim.mux.stats().clients_idle, 3);
    assert_eq!(sim.mux.next_timeout(), None);
}

#[test]
fn clients_beyond_the_limit_are_refused() {
    let mut sim = Sim::up_with(MuxConfig {
        max_clients: 2,
        ..MuxConfig::default()
    });
    let a = sim.client();
    let _b = sim.client();
    assert_eq!(
        sim.mux.add_client(9, sim.now),
        Err(crate::AtCapacity { max: 2 })
    );
    sim.mux.remove_client(a);
    assert!(sim.mux.add_client(9, sim.now).is_ok());
    assert_eq!(sim.mux.stats().clients_refused, 1);
}

#[test]
fn only_a_client_with_nothing_in_flight_is_evicted() {
    let mut sim = Sim::up_with(MuxConfig {
        max_clients: 3,
        ..MuxConfig::default()
    });
    let waiting = sim.client();
    let half = sim.client();
    let idle = sim.client();
    sim.send(waiting, &request(1, GET, b"k"));
    let r = sim
        .mux
        .client_input(half, &request(2, GET, b"k")[..7], sim.now);
    assert_eq!(r.consumed, 0);
    assert!(!sim.mux.evict_client(waiting), "its answer is owed");
    // Half a frame stays in the driver's input buffer (the driver checks
    // that); a frame of a multi-frame request is held here.
    let big = request(3, GET, &[1u8; 5000]);
    sim.send(half, &big[..2062]);
    assert!(!sim.mux.evict_client(half), "a request is half received");
    // An answer not yet written out counts too.
    let sent = sim.upstream_sent();
    sim.answer(&response(sent[0].0, GET, b"v"));
    assert!(!sim.mux.evict_client(waiting), "its answer is unwritten");
    assert_eq!(sim.received(waiting).len(), 1);
    assert!(sim.mux.evict_client(waiting), "all written: idle");
    assert!(sim.mux.evict_client(idle));
    assert!(!sim.mux.evict_client(idle), "gone already");
    assert!(!sim.mux.has_client(idle));
    assert_eq!(sim.mux.stats().clients_evicted, 2);
    assert!(sim.mux.add_client(9, sim.now).is_ok(), "room was made");
}

#[test]
fn a_client_that_pipelines_too_far_is_read_no_further() {
    let mut sim = Sim::up();
    let a = sim.client();
    let burst: Vec<u8> = (0..40).flat_map(|uid| request(uid, HAVE, b"k")).collect();
    let r = sim.mux.client_input(a, &burst, sim.now);
    assert!(r.blocked);
    assert_eq!(r.consumed, 15 * CLIENT_PIPELINE_MAX);
    let sent = sim.upstream_sent();
    assert_eq!(sent.len(), CLIENT_PIPELINE_MAX);
    for (uid, _, _) in &sent {
        sim.answer(&response(*uid, HAVE, &[0]));
    }
    let mut touched = Vec::new();
    sim.mux.take_touched(&mut touched);
    assert_eq!(touched, vec![a]);
    assert_eq!(sim.received(a).len(), CLIENT_PIPELINE_MAX);
    let r = sim.mux.client_input(a, &burst[r.consumed..], sim.now);
    assert!(!r.blocked);
    assert_eq!(sim.upstream_sent().len(), 40 - CLIENT_PIPELINE_MAX);
    assert_eq!(sim.mux.stats().throttled, 1, "counted once per pause");
}

#[test]
fn a_client_that_does_not_read_is_cut_off_alone() {
    let mut sim = Sim::up();
    let slow = sim.client();
    let other = sim.client();
    let burst: Vec<u8> = (0..20).flat_map(|uid| request(uid, GET, b"k")).collect();
    sim.send(slow, &burst);
    sim.send(other, &request(1, GET, b"k"));
    let sent = sim.upstream_sent();
    let big = vec![7u8; 30_000];
    // Its answers pile up unread (nobody drains its output here).
    for (uid, _, _) in &sent[..20] {
        sim.answer(&response(*uid, GET, &big));
    }
    let events = sim.events();
    assert!(
        matches!(&events[..], [Event::CloseClient(id, ClientClose::NotReading { .. })] if *id == slow),
        "{events:?}"
    );
    sim.answer(&response(sent[20].0, GET, b"yours"));
    assert_eq!(sim.received(other), vec![(1, GET, b"yours".to_vec())]);
    assert_eq!(sim.mux.stats().clients_cut_off, 1);
    assert_eq!(sim.mux.stats().late_answers, 20 - 9);
}

#[test]
fn half_a_frame_holds_up_nobody() {
    let mut sim = Sim::up();
    let stuck = sim.client();
    let other = sim.client();
    let r = sim
        .mux
        .client_input(stuck, &request(1, GET, b"k")[..7], sim.now);
    assert_eq!(r.consumed, 0);
    // Two of three frames of a large request: absorbed, not forwarded.
    let big = request(2, GET, &[1u8; 5000]);
    let r = sim.mux.client_input(stuck, &big[..2 * 2062], sim.now);
    assert_eq!(r.consumed, 2 * 2062);
    assert!(sim.mux.client_in_request(stuck));
    assert!(!sim.mux.client_settled(stuck));
    for uid in 0..3 {
        sim.send(other, &request(uid, HAVE, b"k"));
        let sent = sim.upstream_sent();
        assert_eq!(sent.len(), 1);
        sim.answer(&response(sent[0].0, HAVE, &[1]));
        assert_eq!(sim.received(other), vec![(uid, HAVE, vec![1])]);
    }
}

#[test]
fn upstream_uids_wrap_and_skip_those_in_flight() {
    let mut sim = Sim::up_with(MuxConfig {
        first_uid: u32::MAX,
        ..MuxConfig::default()
    });
    let a = sim.client();
    sim.send(a, &request(1, GET, b"a"));
    sim.send(a, &request(2, GET, b"b"));
    sim.send(a, &request(3, GET, b"c"));
    let uids: Vec<u32> = sim.upstream_sent().iter().map(|c| c.0).collect();
    // 0 is the extension probe's, even on a link that never probes.
    assert_eq!(uids, vec![u32::MAX, 1, 2]);
    sim.answer(&response(1, GET, b"bbbbb"));
    sim.answer(&response(u32::MAX, GET, b"aaaaa"));
    sim.answer(&response(2, GET, b"ccccc"));
    let got: Vec<Vec<u8>> = sim.received(a).into_iter().map(|c| c.2).collect();
    assert_eq!(
        got,
        vec![b"aaaaa".to_vec(), b"bbbbb".to_vec(), b"ccccc".to_vec()]
    );
}

#[test]
fn requests_beyond_the_upstream_cap_are_answered_disconnected() {
    let mut sim = Sim::up();
    let data = vec![3u8; 30_000];
    let add = |uid: u32| request(uid, ADD, &add_payload(60_000, &uid.to_be_bytes(), &data));
    // Nothing drains the upstream output: the server is not reading.
    let clients: Vec<ClientId> = (0..5).map(|_| sim.client()).collect();
    for (n, &c) in clients.iter().enumerate() {
        let burst: Vec<u8> = (0..30).flat_map(|i| add((n * 100 + i) as u32)).collect();
        sim.send(c, &burst);
    }
    let cap_requests = UPSTREAM_OUTPUT_CAP / (30_000 + 12 + 15 * 14);
    assert_eq!(sim.mux.stats().overloaded, 150 - cap_requests as u64);
    // One event for the log per batch of input that overflowed (only the
    // last client's did).
    assert_eq!(sim.events(), vec![Event::UpstreamFull(L0)]);
    let sent = sim.upstream_sent();
    assert_eq!(sent.len(), cap_requests);
    // Once the server answers, every client gets 30 answers in order: the
    // refused ones were queued behind those forwarded before them.
    for (uid, _, _) in &sent {
        sim.answer(&response(*uid, ADD, &[0]));
    }
    let mut disconnected = 0;
    for &c in &clients {
        let got = sim.received(c);
        let uids: Vec<u32> = got.iter().map(|g| g.0).collect();
        let n = (c.handle() - 100) as u32;
        assert_eq!(uids, (0..30).map(|i| n * 100 + i).collect::<Vec<_>>());
        disconnected += got.iter().filter(|g| g.2 == DISCONNECTED).count();
    }
    assert_eq!(disconnected, 150 - cap_requests);
}

#[test]
fn requests_are_counted_by_command_and_outcome() {
    let mut sim = Sim::up();
    let a = sim.client();
    sim.send(a, &request(1, GET, b"k"));
    sim.send(a, &request(2, HAVE, b"k"));
    sim.send(a, &request(3, ADD, &add_payload(60_000, b"", b"data")));
    sim.send(a, &request(4, ADD, &[0, 0, 0]));
    let sent = sim.upstream_sent();
    sim.answer(&response(sent[0].0, GET, &[1]));
    sim.answer(&response(sent[1].0, HAVE, &[0]));
    sim.send(a, &request(5, GET, b"k"));
    sim.mux.upstream_lost(L0, UpstreamLoss::Closed, sim.now);
    sim.send(a, &request(6, HAVE, b"k"));
    let s = *sim.mux.stats();
    assert_eq!(s.outcome(GET, Outcome::Miss), 1);
    assert_eq!(s.outcome(HAVE, Outcome::Ok), 1);
    assert_eq!(
        s.outcome(ADD, Outcome::Refused),
        2,
        "bad fields and too short"
    );
    assert_eq!(s.outcome(GET, Outcome::Disconnected), 1, "lost in flight");
    assert_eq!(s.outcome(HAVE, Outcome::Disconnected), 1, "no server");
    assert_eq!(s.outcomes.iter().flatten().sum::<u64>(), s.requests);
    assert_eq!(s.gave_up(LossReason::Closed), 1);
    // A failed connect is given up too, by its own reason.
    sim.advance(DEFAULT_RETRY.as_millis() as u64);
    sim.events();
    sim.mux.upstream_lost(
        L0,
        UpstreamLoss::Tls("TLS: bad certificate".into()),
        sim.now,
    );
    let s = *sim.mux.stats();
    assert_eq!(s.gave_up(LossReason::Tls), 1);
    assert_eq!((s.connect_attempts, s.connects, s.losses), (2, 1, 1));
}

#[test]
fn latency_runs_from_the_request_to_its_answer_being_written() {
    let mut sim = Sim::up();
    let a = sim.client();
    let t0 = sim.now;
    sim.send(a, &request(1, GET, b"k"));
    let sent = sim.upstream_sent();
    sim.advance(3);
    sim.answer(&response(sent[0].0, GET, b"hello"));
    sim.advance(2);
    let mut seen = Vec::new();
    // The driver writes part of the answer, then the rest.
    let out = sim.mux.client_output(a).unwrap();
    let len = out.len();
    out.consume(4);
    sim.mux.client_written(a, 4, sim.now, |d| seen.push(d));
    assert!(seen.is_empty(), "not written whole yet");
    sim.mux.client_output(a).unwrap().consume(len - 4);
    sim.mux
        .client_written(a, len - 4, t0 + Duration::from_millis(7), |d| seen.push(d));
    assert_eq!(seen, vec![Duration::from_millis(7)]);
}
