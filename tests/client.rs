//! dc_client end to end: the real dc_client in front of the real dc_server
//! (loopback TCP) or of a fake server scripted by the test, with local
//! clients on a unix socket in a temporary directory.
//!
//! Covers dc_test through the proxy, many concurrent clients, the server
//! killed and restarted under load, stalled and misbehaving clients and
//! servers, the limits, signals, and every `proxy_cases` vector (with the
//! `recommended` behaviour where the original's is a defect, and a 1-byte
//! DISCONNECTED where the original answered an empty payload).

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dc_ctx::{Client, ClientError, Options, Unavailability};
use dc_e2e::{
    free_port, run, start_server, start_server_unix, tcp_address, unhex, vectors, Conn, Daemon,
    IO_TIMEOUT,
};
use dc_protocol::{encode, CommandHeader, Operation};
use nix::sys::signal::Signal;
use serde_json::Value;

const GET: Operation = Operation::Get;
const HAVE: Operation = Operation::Have;
const ADD: Operation = Operation::Add;

// ---- helpers ----------------------------------------------------------

/// Starts dc_client on a unix socket in a fresh temporary directory,
/// forwarding to `server`.
fn start_dc_client(server: &str, extra: &[&str]) -> Daemon {
    let dir = tempfile::tempdir().expect("tempdir");
    let address = format!("UNIX:{}", dir.path().join("dc_client.sock").display());
    let mut args = vec![
        "-listen".to_string(),
        address.clone(),
        "-server".to_string(),
        server.to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Daemon::start_in(dir, "dc_client", &args, &address)
}

/// Waits until dc_client has its server connection.
fn wait_connected(dc: &Daemon) {
    assert!(
        dc.wait_for_log("connected to", IO_TIMEOUT),
        "dc_client did not connect to its server; stderr:\n{}",
        dc.stderr()
    );
}

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

/// One whole answer.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    uid: u32,
    op: u8,
    payload: Vec<u8>,
}

/// Reads one whole answer, frame by frame; `None` if the peer closed first.
fn try_read_answer(conn: &mut impl Read) -> Option<Answer> {
    let mut payload = Vec::new();
    loop {
        let mut header = [0u8; 14];
        match conn.read_exact(&mut header) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
                ) =>
            {
                return None
            }
            Err(e) => panic!("reading an answer: {e}"),
        }
        assert_eq!(&header[..5], &[0, 0x11, 0, 0, 1], "a response header");
        let len = u16::from_be_bytes([header[12], header[13]]) as usize;
        let start = payload.len();
        payload.resize(start + len, 0);
        conn.read_exact(&mut payload[start..])
            .expect("the rest of the frame");
        if header[11] == 1 {
            return Some(Answer {
                uid: u32::from_be_bytes([header[5], header[6], header[7], header[8]]),
                op: header[10],
                payload,
            });
        }
    }
}

fn read_answer(conn: &mut impl Read) -> Answer {
    try_read_answer(conn).expect("an answer, not end of file")
}

/// A fake cache server: a loopback listener the test accepts on and
/// scripts by hand.
struct FakeServer {
    listener: TcpListener,
}

/// The extension's offer: a 14-byte header and a 72-byte id.
const OFFER_LEN: usize = 14 + 72;
/// What an original server answers to it: HAVE, uid 0, `01` (absent).
const ORIGINAL_OFFER_ANSWER: &str = "001100000100000000000301000101";

impl FakeServer {
    fn new() -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        FakeServer { listener }
    }

    fn address(&self) -> String {
        tcp_address(self.listener.local_addr().unwrap().port())
    }

    /// Accepts dc_client's next connection and answers its offer of the
    /// protocol extension as an original 1.x server does (`01`: no such
    /// session), so that what follows is plain 1.x.
    fn accept(&self) -> TcpStream {
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                    let offer = read_n(&mut stream, OFFER_LEN);
                    assert_eq!(
                        hex::encode(&offer[..14]),
                        "0011000100000000000003010048",
                        "the offer: a HAVE at level 0x00110001, uid 0, 72-byte id"
                    );
                    stream.write_all(&unhex(ORIGINAL_OFFER_ANSWER)).unwrap();
                    return stream;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "dc_client did not connect");
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    }
}

fn read_n(stream: &mut impl Read, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    stream
        .read_exact(&mut buf)
        .unwrap_or_else(|e| panic!("expected {n} bytes: {e}"));
    buf
}

fn expect_eof(stream: &mut impl Read) {
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty(), "unexpected bytes before EOF: {rest:02x?}"),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("expected the peer to close: {e}"),
    }
}

fn proxy_case(name: &str) -> Value {
    vectors()["proxy_cases"]
        .as_array()
        .expect("proxy_cases")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no proxy case {name}"))
        .clone()
}

/// The original answered an empty payload when it had no server; we answer
/// one byte, DISCONNECTED (an empty answer hangs persistent original
/// clients). Other bytes are kept.
fn empty_to_disconnected(bytes: Vec<u8>) -> Vec<u8> {
    if bytes.len() == 14 && bytes[4] == 1 && bytes[12..14] == [0, 0] {
        let mut b = bytes;
        b[13] = 1;
        b.push(2);
        return b;
    }
    bytes
}

/// A proxy case being replayed.
struct Replay {
    dc: Daemon,
    conns: HashMap<String, Conn>,
    fake: Option<FakeServer>,
    backend: Option<TcpStream>,
    _server: Option<Daemon>,
}

impl Replay {
    /// Starts dc_client as the case says (plus `extra` arguments) and
    /// replays its steps; `expect` may replace the bytes a `recv` step
    /// waits for (by step index).
    fn run(name: &str, extra: &[&str], expect: impl Fn(usize, Vec<u8>) -> Vec<u8>) -> Replay {
        let case = proxy_case(name);
        let mut args: Vec<&str> = case["dc_client_args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        args.extend_from_slice(extra);
        let (server, fake, address) = match case["backend"].as_str().unwrap() {
            "none" => (None, None, tcp_address(free_port())),
            "dc_server" => {
                let server = start_server(&[]);
                let address = server.address.clone();
                (Some(server), None, address)
            }
            "fake" => {
                let fake = FakeServer::new();
                let address = fake.address();
                (None, Some(fake), address)
            }
            other => panic!("unknown backend {other}"),
        };
        let dc = start_dc_client(&address, &args);
        if server.is_some() || fake.is_some() {
            wait_connected(&dc);
        }
        let mut replay = Replay {
            dc,
            conns: HashMap::new(),
            fake,
            backend: None,
            _server: server,
        };
        for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            replay.step(i, step, &expect);
        }
        replay
    }

    fn conn(&mut self, name: &str) -> &mut Conn {
        let address = self.dc.address.clone();
        self.conns
            .entry(name.to_string())
            .or_insert_with(|| Conn::connect(&address))
    }

    fn backend(&mut self) -> &mut TcpStream {
        if self.backend.is_none() {
            let fake = self.fake.as_ref().expect("a fake server");
            self.backend = Some(fake.accept());
        }
        self.backend.as_mut().unwrap()
    }

    fn step(&mut self, i: usize, step: &Value, expect: &impl Fn(usize, Vec<u8>) -> Vec<u8>) {
        let bytes = |key: &str| step[key].as_str().map(unhex);
        let on_backend = step["peer"] == "backend";
        if let Some(data) = bytes("send") {
            if on_backend {
                self.backend().write_all(&data).unwrap();
            } else {
                let name = step["conn"].as_str().unwrap().to_string();
                self.conn(&name).send(&data);
            }
        } else if let Some(want) = bytes("recv") {
            let want = expect(i, want);
            let got = if on_backend {
                read_n(self.backend(), want.len())
            } else {
                let name = step["conn"].as_str().unwrap().to_string();
                self.conn(&name).recv(want.len())
            };
            assert_eq!(hex::encode(got), hex::encode(want), "step {i}: {step}");
        } else if step["expect_eof"] == true {
            let name = step["conn"].as_str().unwrap().to_string();
            expect_eof(self.conn(&name));
        } else if step["close"] == true {
            if on_backend {
                self.backend = None;
            } else {
                self.conns.remove(step["conn"].as_str().unwrap());
            }
        } else {
            panic!("step {i}: unknown step {step}");
        }
    }

    fn assert_running(&mut self) {
        assert!(
            self.dc.is_running(),
            "dc_client died; stderr:\n{}",
            self.dc.stderr()
        );
    }

    /// After the server connection was dropped for misbehaving: the waiting
    /// client got DISCONNECTED, and dc_client connects again and serves.
    fn assert_server_dropped_and_replaced(&mut self) {
        let mut backend = self.backend.take().expect("the first server connection");
        expect_eof(&mut backend);
        let fresh = self.fake.as_ref().unwrap().accept();
        self.backend = Some(fresh);
        assert!(
            self.dc.wait_for_log("again", IO_TIMEOUT),
            "no reconnect; stderr:\n{}",
            self.dc.stderr()
        );
        self.assert_served_by_backend("a", 0x600d);
        self.assert_running();
    }

    /// A GET on client connection `conn` goes to the (fake) server and its
    /// answer comes back under the client's uid.
    fn assert_served_by_backend(&mut self, conn: &str, uid: u32) {
        self.conn(conn).send(&request(uid, GET, b"k"));
        let forwarded = read_n(self.backend(), 15);
        assert_eq!(&forwarded[9..], &unhex("00010100016b")[..]);
        let upstream_uid = u32::from_be_bytes(forwarded[5..9].try_into().unwrap());
        let answer = response(upstream_uid, GET, b"VALUE");
        self.backend().write_all(&answer).unwrap();
        let got = read_answer(self.conn(conn));
        assert_eq!(
            got,
            Answer {
                uid,
                op: 1,
                payload: b"VALUE".to_vec()
            }
        );
    }
}

// ---- the proxy_cases vectors ------------------------------------------

const COVERED_CASES: [&str; 11] = [
    "proxy_backend_down",
    "proxy_uid_rewrite_and_backend_loss",
    "proxy_pipelining_and_poisoned_backend",
    "proxy_client_closes_with_request_in_flight",
    "proxy_backend_unknown_uid",
    "proxy_backend_wrong_operation",
    "proxy_backend_wrong_version",
    "proxy_client_wrong_version",
    "proxy_backend_sends_request_frame",
    "proxy_client_sends_response_frame",
    "proxy_idle_timeout",
];

#[test]
fn every_proxy_case_has_a_test() {
    let names: Vec<String> = vectors()["proxy_cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    let mut covered: Vec<String> = COVERED_CASES.iter().map(|s| s.to_string()).collect();
    covered.sort();
    assert_eq!(sorted, covered);
}

#[test]
fn vector_backend_down_answers_disconnected_at_once() {
    let mut r = Replay::run("proxy_backend_down", &[], |_, b| empty_to_disconnected(b));
    r.assert_running();
}

#[test]
fn vector_uid_rewrite_and_backend_loss() {
    let mut r = Replay::run("proxy_uid_rewrite_and_backend_loss", &[], |_, b| {
        empty_to_disconnected(b)
    });
    r.assert_running();
}

#[test]
fn vector_malformed_request_does_not_poison_the_server_connection() {
    // Recommended: the malformed ADD is answered by dc_client (the same
    // 0x02 the original's client got) and never reaches the server, so the
    // other client is served normally instead of getting backend-down
    // answers: HAVE of the session added in the first step finds it.
    let r = Replay::run("proxy_pipelining_and_poisoned_backend", &[], |i, b| {
        if i == 5 {
            unhex("001100000100000005000301000100")
        } else {
            b
        }
    });
    assert!(r.dc.stderr().contains("shorter than its 8-byte header"));
    assert!(!r.dc.stderr().contains("lost the connection"));
}

#[test]
fn vector_client_closing_with_a_request_in_flight_is_survived() {
    let mut r = Replay::run("proxy_client_closes_with_request_in_flight", &[], |_, b| b);
    // The server answers after the client left: dropped, nobody confused.
    r.backend()
        .write_all(&unhex("00110000010000000100010100056c61746521"))
        .unwrap();
    r.assert_served_by_backend("b", 6);
    r.assert_running();
    assert!(!r.dc.stderr().contains("lost the connection"));
}

#[test]
fn vector_server_answering_an_unknown_uid_is_dropped_not_fatal() {
    let mut r = Replay::run("proxy_backend_unknown_uid", &["-retry", "200"], |_, b| b);
    assert_eq!(
        r.conn("a").recv(15),
        unhex("001100000100000005000101000102")
    );
    r.assert_server_dropped_and_replaced();
    assert!(r.dc.stderr().contains("request_uid 99"));
}

#[test]
fn vector_server_answering_the_wrong_operation_is_dropped_not_fatal() {
    let mut r = Replay::run(
        "proxy_backend_wrong_operation",
        &["-retry", "200"],
        |_, b| b,
    );
    assert_eq!(
        r.conn("a").recv(15),
        unhex("001100000100000005000101000102")
    );
    r.assert_server_dropped_and_replaced();
}

#[test]
fn vector_server_with_a_wrong_version_is_dropped_not_fatal() {
    let mut r = Replay::run("proxy_backend_wrong_version", &["-retry", "200"], |_, b| b);
    assert_eq!(
        r.conn("a").recv(15),
        unhex("001100000100000005000101000102")
    );
    r.assert_server_dropped_and_replaced();
    assert!(r.dc.stderr().contains("protocol version mismatch"));
}

#[test]
fn vector_server_sending_a_request_frame_is_dropped() {
    let mut r = Replay::run(
        "proxy_backend_sends_request_frame",
        &["-retry", "200"],
        |_, b| b,
    );
    r.assert_server_dropped_and_replaced();
}

#[test]
fn vector_client_with_a_wrong_version_is_dropped_alone() {
    let mut r = Replay::run("proxy_client_wrong_version", &[], |_, b| b);
    r.assert_served_by_backend("b", 9);
    r.assert_running();
    assert!(r.dc.stderr().contains("protocol version mismatch"));
}

#[test]
fn vector_client_sending_a_response_frame_is_dropped_alone() {
    let mut r = Replay::run("proxy_client_sends_response_frame", &[], |_, b| b);
    r.assert_served_by_backend("b", 9);
    r.assert_running();
}

#[test]
fn vector_idle_clients_are_closed() {
    let started = Instant::now();
    let mut r = Replay::run("proxy_idle_timeout", &[], |_, b| b);
    let after = started.elapsed();
    assert!(
        after >= Duration::from_millis(295) && after < Duration::from_millis(1500),
        "closed after {after:?}, -idle 300"
    );
    // A client that keeps talking is not idle.
    let mut busy = Conn::connect(&r.dc.address);
    for uid in 0..6 {
        busy.send(&request(uid, HAVE, b"k"));
        assert_eq!(read_answer(&mut busy).payload, vec![1]);
        std::thread::sleep(Duration::from_millis(100));
    }
    r.assert_running();
}

// ---- the real thing -------------------------------------------------------

#[test]
fn dc_test_through_dc_client_persistent_and_per_operation() {
    let server = start_server(&[]);
    let dc = start_dc_client(&server.address, &[]);
    wait_connected(&dc);
    for extra in [&["-persistent", "-ops", "3000"][..], &["-ops", "1000"][..]] {
        let mut args = vec!["-connect", &dc.address, "-sessions", "20"];
        args.extend_from_slice(extra);
        let out = run("dc_test", &args, Duration::from_secs(60));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "dc_test {args:?}:\n{stderr}");
        assert!(stderr.contains("all tests complete"), "{stderr}");
    }
}

/// Adds, reads back, checks and removes sessions of its own through a
/// dc_ctx client.
fn ctx_worker(address: &nal::Address, options: Options, t: usize, rounds: usize) {
    let mut c = Client::new(address, options).unwrap();
    for i in 0..rounds {
        let id = format!("w{t}-s{}", i % 4).into_bytes();
        let data = format!("session {i} of worker {t}|")
            .repeat(1 + i % 7)
            .into_bytes();
        c.add(&id, &data, 60_000).unwrap();
        assert_eq!(c.get(&id).unwrap(), Some(data), "worker {t} round {i}");
        assert!(c.has(&id).unwrap());
        assert!(c.remove(&id).unwrap());
        assert!(!c.has(&id).unwrap());
    }
}

/// Pipelines batches of requests with its own uids on one raw connection
/// and checks each answer is its own, in order.
fn pipelining_worker(address: &str, t: usize, rounds: usize) {
    let mut conn = Conn::connect(address);
    let id = format!("p{t}").into_bytes();
    let data = format!("the data of pipelining worker {t}").into_bytes();
    conn.send(&request(0, ADD, &add_payload(60_000, &id, &data)));
    assert_eq!(read_answer(&mut conn).payload, vec![0]);
    let absent = format!("p{t}-absent").into_bytes();
    for i in 0..rounds {
        let mut batch = Vec::new();
        let mut expected = Vec::new();
        for k in 0..8u32 {
            let uid = ((t as u32) << 20) | ((i as u32) << 4) | k;
            let (op, payload, answer) = match k % 3 {
                0 => (GET, &id, data.clone()),
                1 => (HAVE, &id, vec![0]),
                _ => (HAVE, &absent, vec![1]),
            };
            batch.extend(request(uid, op, payload));
            expected.push(Answer {
                uid,
                op: op.to_byte(),
                payload: answer,
            });
        }
        conn.send(&batch);
        for want in expected {
            assert_eq!(read_answer(&mut conn), want, "worker {t} round {i}");
        }
    }
}

#[test]
fn sixty_concurrent_clients_each_get_their_own_answers() {
    let server = start_server(&[]);
    let dc = start_dc_client(&server.address, &[]);
    wait_connected(&dc);
    let address: nal::Address = dc.address.parse().unwrap();
    std::thread::scope(|s| {
        for t in 0..60 {
            let address = &address;
            let text = &dc.address;
            s.spawn(move || match t % 3 {
                0 => ctx_worker(address, Options::persistent(), t, 40),
                1 => ctx_worker(address, Options::per_operation(), t, 15),
                _ => pipelining_worker(text, t, 30),
            });
        }
    });
    assert!(!dc.stderr().contains("WARN"), "{}", dc.stderr());
}

#[test]
fn large_requests_and_answers_are_carried_whole_and_half_close_is_served() {
    // The server on a unix socket too, for once.
    let server = start_server_unix(&[]);
    let dc = start_dc_client(&server.address, &[]);
    wait_connected(&dc);
    let address: nal::Address = dc.address.parse().unwrap();
    let data: Vec<u8> = (0..32_000u32).map(|i| (i % 253) as u8).collect();
    let mut c = Client::new(&address, Options::persistent()).unwrap();
    c.add(b"big", &data, 60_000).unwrap();
    assert_eq!(c.get(b"big").unwrap().as_deref(), Some(&data[..]));
    // Pipelined behind a 16-frame answer, then a half-close: every answer
    // comes, then end of file.
    let mut conn = Conn::connect(&dc.address);
    let mut batch = request(1, GET, b"big");
    batch.extend(request(2, HAVE, b"big"));
    conn.send(&batch);
    conn.shutdown_write();
    let first = read_answer(&mut conn);
    assert_eq!((first.uid, first.payload.len()), (1, data.len()));
    assert!(first.payload == data);
    assert_eq!(read_answer(&mut conn).payload, vec![0]);
    expect_eof(&mut conn);
}

#[test]
fn server_killed_under_load_every_request_is_answered_at_once() {
    let server = start_server(&[]);
    let dc = start_dc_client(&server.address, &["-retry", "200"]);
    wait_connected(&dc);
    let address: nal::Address = dc.address.parse().unwrap();
    let ops = AtomicU64::new(0);
    let killed_at: Mutex<Option<Instant>> = Mutex::new(None);
    // Bounds the run in case a worker never sees enough failures.
    let deadline = Instant::now() + Duration::from_secs(15);
    let worst_after_kill = Mutex::new(Duration::ZERO);
    std::thread::scope(|s| {
        // Raw persistent connections: every request must get an answer.
        for t in 0..16u32 {
            let (ops, killed_at, worst) = (&ops, &killed_at, &worst_after_kill);
            let text = &dc.address;
            s.spawn(move || {
                let mut conn = Conn::connect(text);
                let mut disconnected = 0;
                for n in 0.. {
                    let started = Instant::now();
                    let after_kill = killed_at.lock().unwrap().is_some();
                    conn.send(&request(t << 24 | n, HAVE, b"some-session"));
                    let answer = read_answer(&mut conn);
                    assert_eq!(answer.uid, t << 24 | n);
                    match answer.payload[..] {
                        [1] => assert!(!after_kill || disconnected == 0),
                        [2] => disconnected += 1,
                        ref other => panic!("unexpected answer {other:?}"),
                    }
                    if after_kill {
                        let mut w = worst.lock().unwrap();
                        *w = (*w).max(started.elapsed());
                    }
                    ops.fetch_add(1, Ordering::Relaxed);
                    if disconnected >= 20 || Instant::now() > deadline {
                        break;
                    }
                }
                assert!(disconnected > 0, "never noticed the server was gone");
            });
        }
        // One connection per operation through dc_ctx: failures are
        // DISCONNECTED answers, never timeouts.
        for t in 0..4 {
            let (address, killed_at) = (&address, &killed_at);
            s.spawn(move || {
                let mut options = Options::per_operation();
                options.io_timeout = Some(Duration::from_secs(3));
                let mut c = Client::new(address, options).unwrap();
                let mut failures = 0;
                while failures < 10 && Instant::now() < deadline {
                    match c.has(format!("k{t}").as_bytes()) {
                        Ok(_) => {}
                        Err(ClientError::Unavailable {
                            reason: Unavailability::Disconnected,
                            ..
                        }) => {
                            assert!(killed_at.lock().unwrap().is_some());
                            failures += 1;
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        }
        let load_deadline = Instant::now() + Duration::from_secs(10);
        while ops.load(Ordering::Relaxed) < 2000 && Instant::now() < load_deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        *killed_at.lock().unwrap() = Some(Instant::now());
        server.signal(Signal::SIGKILL);
    });
    let worst = *worst_after_kill.lock().unwrap();
    assert!(
        worst < Duration::from_millis(1000),
        "a request took {worst:?} after the kill"
    );
    assert!(dc.stderr().contains("lost the connection"));
}

/// A server given by host name: looked up at start, then again off the
/// event loop before each reconnect, so a slow DNS cannot stall the proxy.
#[test]
fn a_server_given_by_host_name_is_reached_and_reached_again() {
    let port = free_port();
    let address = tcp_address(port);
    let server_args = vec!["-listen".to_string(), address.clone()];
    let server = Daemon::start("dc_server", &server_args, &address);
    let by_name = format!("IP:localhost:{port}");
    let dc = start_dc_client(&by_name, &["-retry", "200"]);
    wait_connected(&dc);
    let mut c = Conn::connect(&dc.address);
    c.send(&request(1, HAVE, b"k"));
    assert_eq!(read_answer(&mut c).payload, [1]);
    server.signal(Signal::SIGKILL);
    drop(server);
    let _server = Daemon::start("dc_server", &server_args, &address);
    let deadline = Instant::now() + IO_TIMEOUT;
    for uid in 2.. {
        c.send(&request(uid, HAVE, b"k"));
        if read_answer(&mut c).payload == [1] {
            break; // served by the new server
        }
        assert!(
            Instant::now() < deadline,
            "not served again:\n{}",
            dc.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        dc.stderr().contains("connected to IP:localhost:"),
        "{}",
        dc.stderr()
    );
}

#[test]
fn server_restarted_is_used_again_long_before_the_retry_interval() {
    // The default -retry: the backoff from 1 ms finds the new server long
    // before a whole -retry.
    let retry = Duration::from_millis(5000);
    let address = tcp_address(free_port());
    let server_args = vec!["-listen".to_string(), address.clone()];
    let server = Daemon::start("dc_server", &server_args, &address);
    let dc = start_dc_client(&address, &[]);
    wait_connected(&dc);
    let local: nal::Address = dc.address.parse().unwrap();
    let mut c = Client::new(&local, Options::persistent()).unwrap();
    c.add(b"before", b"data before the restart", 60_000)
        .unwrap();

    server.signal(Signal::SIGKILL);
    drop(server);
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        match c.has(b"before") {
            Err(ClientError::Unavailable { .. }) => break,
            Ok(true) => {}
            other => panic!("{other:?}"),
        }
        assert!(Instant::now() < deadline, "the loss went unnoticed");
        std::thread::sleep(Duration::from_millis(5));
    }

    let _server = Daemon::start("dc_server", &server_args, &address);
    let restarted = Instant::now();
    let mut probe = Conn::connect(&dc.address);
    let served_after = loop {
        probe.send(&request(7, HAVE, b"before"));
        let answer = read_answer(&mut probe);
        if answer.payload != [2] {
            // A fresh server: the old session is gone.
            assert_eq!(answer.payload, [1]);
            break restarted.elapsed();
        }
        assert!(
            restarted.elapsed() < retry,
            "not served again; stderr:\n{}",
            dc.stderr()
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    eprintln!("dc_client served again {served_after:?} after the server restart");
    // What the backoff allows from the kill to the new server's readiness
    // (about as long again), with room for a loaded machine; a whole
    // -retry would be 5 s.
    assert!(
        served_after <= Duration::from_millis(1000),
        "served again only after {served_after:?}; stderr:\n{}",
        dc.stderr()
    );
    // The same persistent client carries on, and new sessions are found.
    c.add(b"after", b"data after the restart", 60_000).unwrap();
    assert_eq!(
        c.get(b"after").unwrap().as_deref(),
        Some(&b"data after the restart"[..])
    );
    assert!(!c.has(b"before").unwrap());
}

#[test]
fn stalled_and_non_reading_clients_hold_up_nobody() {
    let server = start_server(&[]);
    let dc = start_dc_client(&server.address, &[]);
    wait_connected(&dc);
    let address: nal::Address = dc.address.parse().unwrap();
    let mut c = Client::new(&address, Options::persistent()).unwrap();
    c.add(b"big", &[7u8; 30_000], 60_000).unwrap();

    // Half a frame, then nothing; it never reads either.
    let get_k = request(1, GET, b"k");
    let mut half = Conn::connect(&dc.address);
    half.send(&get_k[..7]);
    // Pipelines GETs of a large session and never reads the answers.
    let mut hog = Conn::connect(&dc.address);
    let burst: Vec<u8> = (0..300).flat_map(|uid| request(uid, GET, b"big")).collect();
    hog.send(&burst);

    // Everybody else is served, promptly.
    let started = Instant::now();
    let mut per_op = Client::new(&address, Options::per_operation()).unwrap();
    for i in 0..100 {
        let id = format!("other-{i}").into_bytes();
        c.add(&id, b"other data", 60_000).unwrap();
        assert!(per_op.has(&id).unwrap());
    }
    assert!(started.elapsed() < Duration::from_secs(5));

    // The hog is held back (32 requests waiting), then cut off at its
    // output cap...
    assert!(
        dc.wait_for_log("does not read its answers", IO_TIMEOUT),
        "{}",
        dc.stderr()
    );
    assert!(dc.stderr().contains("is not keeping up with its answers"));
    let mut got = Vec::new();
    let _ = hog.read_to_end(&mut got);
    assert!(got.len() < 300 * 30_000, "it got everything: {}", got.len());
    // ...while the half-frame client is still there, and served once its
    // frame is complete.
    half.send(&get_k[7..]);
    assert_eq!(
        read_answer(&mut half),
        Answer {
            uid: 1,
            op: 1,
            payload: vec![1]
        }
    );
}

#[test]
fn a_stalled_server_is_given_up_after_the_timeout() {
    let fake = FakeServer::new();
    let dc = start_dc_client(&fake.address(), &["-timeout", "300", "-retry", "100"]);
    let mut up = fake.accept();
    wait_connected(&dc);
    let mut a = Conn::connect(&dc.address);
    a.send(&request(5, GET, b"k"));
    assert_eq!(read_n(&mut up, 15), unhex("00110000000000000100010100016b"));
    let sent = Instant::now();
    assert_eq!(a.recv(15), unhex("001100000100000005000101000102"));
    let waited = sent.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_millis(1500),
        "answered after {waited:?} with -timeout 300"
    );
    expect_eof(&mut up);
    let mut up = fake.accept();
    assert!(dc.wait_for_log("again", IO_TIMEOUT));
    a.send(&request(6, HAVE, b"k"));
    let forwarded = read_n(&mut up, 15);
    let uid = u32::from_be_bytes(forwarded[5..9].try_into().unwrap());
    up.write_all(&response(uid, HAVE, &[0])).unwrap();
    assert_eq!(read_answer(&mut a).payload, vec![0]);
    assert!(dc.stderr().contains("no answer from the server"));
}

/// A whole request and the first 7 bytes of another in one write; once the
/// first is answered, dc_client holds the half, so the client is in the
/// middle of a request and is never closed to make room.
fn make_busy(c: &mut Conn, uid: u32) {
    let mut bytes = request(uid, HAVE, b"k");
    bytes.extend_from_slice(&request(uid + 1, HAVE, b"k")[..7]);
    c.send(&bytes);
    assert_eq!(read_answer(c).payload, vec![1]);
}

/// The rest of [`make_busy`]'s half request, answered.
fn finish_request(c: &mut Conn, uid: u32) {
    c.send(&request(uid + 1, HAVE, b"k")[7..]);
    assert_eq!(read_answer(c).payload, vec![1]);
}

/// At the limit with every client busy, none can be closed to make room:
/// a newcomer is refused. (With idle ones, see tests/admission.rs.)
#[test]
fn local_connections_beyond_the_limit_are_refused_cleanly_when_all_are_busy() {
    let server = start_server(&[]);
    let dc = start_dc_client(&server.address, &["-max-clients", "3"]);
    wait_connected(&dc);
    let mut conns: Vec<Conn> = (0..3)
        .map(|i| {
            let mut c = Conn::connect(&dc.address);
            make_busy(&mut c, 10 * i);
            c
        })
        .collect();
    let mut extra = Conn::connect(&dc.address);
    expect_eof(&mut extra);
    assert!(dc.wait_for_log("refusing a local connection", IO_TIMEOUT));
    // The others are unaffected.
    finish_request(&mut conns[0], 0);
    // Once one leaves, a newcomer is served.
    drop(conns.pop());
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let mut c = Conn::connect(&dc.address);
        c.send(&request(10, HAVE, b"k"));
        if let Some(answer) = try_read_answer(&mut c) {
            assert_eq!(answer.payload, vec![1]);
            break;
        }
        assert!(Instant::now() < deadline, "no room freed");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn signals_stop_it_cleanly() {
    let server = start_server(&[]);
    let mut dc = start_dc_client(&server.address, &[]);
    wait_connected(&dc);
    dc.signal(Signal::SIGUSR1);
    assert!(dc.wait_for_log("ignoring signal", IO_TIMEOUT));
    let mut c = Conn::connect(&dc.address);
    c.send(&request(1, HAVE, b"k"));
    assert_eq!(read_answer(&mut c).payload, vec![1]);
    dc.signal(Signal::SIGTERM);
    let status = dc.wait_exit(IO_TIMEOUT).expect("exit on SIGTERM");
    assert_eq!(status.code(), Some(0));

    let mut dc = start_dc_client(&server.address, &["-killable"]);
    dc.signal(Signal::SIGUSR2);
    let status = dc
        .wait_exit(IO_TIMEOUT)
        .expect("exit on SIGUSR2 with -killable");
    assert_eq!(status.code(), Some(0));
}

// ---- metrics ------------------------------------------------------------

/// Scrapes `/metrics` from `address` (IP:host:port) with a bare HTTP GET;
/// `None` while nothing listens there yet (the exporter starts just after
/// the local socket is bound).
fn try_scrape(address: &str) -> Option<String> {
    let hostport = address.strip_prefix("IP:").unwrap();
    let mut s = TcpStream::connect(hostport).ok()?;
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    write!(s, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(
        text.starts_with("HTTP/1.") && text.contains(" 200 "),
        "{text}"
    );
    Some(text)
}

/// The value of one sample line (`name{labels} value`) in a scrape.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

/// Waits (up to 5 s: metrics are published every 500 ms) until `check`
/// holds for a scrape, and returns that scrape.
fn scrape_until(address: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        let text = try_scrape(address);
        if let Some(text) = &text {
            if check(text) {
                return text.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "metrics never matched:\n{}",
            text.as_deref().unwrap_or("(no endpoint)")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn requests_series(command: &str, result: &str) -> String {
    format!(r#"distcache_client_requests_total{{command="{command}",result="{result}"}}"#)
}

#[test]
fn metrics_follow_a_known_run_and_the_server_going_and_coming_back() {
    let address = tcp_address(free_port());
    let server_args = vec!["-listen".to_string(), address.clone()];
    let server = Daemon::start("dc_server", &server_args, &address);
    let metrics = tcp_address(free_port());
    let dc = start_dc_client(&address, &["-retry", "200", "-metrics", &metrics]);
    wait_connected(&dc);
    let mut c = Conn::connect(&dc.address);
    let mut ask = |uid: u32, op: Operation, payload: &[u8]| {
        c.send(&request(uid, op, payload));
        read_answer(&mut c).payload
    };
    assert_eq!(ask(1, ADD, &add_payload(60_000, b"m1", b"first")), [0]);
    assert_eq!(ask(2, ADD, &add_payload(60_000, b"m1", b"again")), [101]);
    assert_eq!(ask(3, GET, b"m1"), b"first");
    assert_eq!(ask(4, GET, b"nope"), [1]);
    assert_eq!(ask(5, HAVE, b"nope"), [1]);
    // Refused here: an empty id (the server's status), an ADD too short.
    assert_eq!(ask(6, ADD, &add_payload(60_000, b"", b"x")), [103]);
    assert_eq!(ask(7, ADD, &[0, 0, 0]), [2]);
    let text = scrape_until(&metrics, |t| {
        sample(t, &requests_series("add", "refused")) == Some(2.0)
            && sample(t, &requests_series("have", "notok")) == Some(1.0)
    });
    for (series, want) in [
        (requests_series("add", "ok"), 1.0),
        (requests_series("add", "matching_session"), 1.0),
        (requests_series("get", "hit"), 1.0),
        (requests_series("get", "miss"), 1.0),
        (requests_series("have", "disconnected"), 0.0),
        ("distcache_client_upstream_up".into(), 1.0),
        ("distcache_client_upstream_reconnects_total".into(), 0.0),
        ("distcache_client_connections_open".into(), 1.0),
        ("distcache_client_requests_in_flight".into(), 0.0),
        // Every answer written was timed, the local ones included.
        (
            "distcache_client_request_duration_seconds_count".into(),
            7.0,
        ),
    ] {
        assert_eq!(sample(&text, &series), Some(want), "{series}:\n{text}");
    }

    // The server goes: answers are DISCONNECTED, counted as such.
    server.signal(Signal::SIGKILL);
    drop(server);
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut disconnected = 0;
    for uid in 100.. {
        if ask(uid, HAVE, b"m1") == [2] {
            disconnected += 1;
            if disconnected == 3 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the loss went unnoticed");
    }
    let text = scrape_until(&metrics, |t| {
        sample(t, "distcache_client_upstream_up") == Some(0.0)
            && sample(t, &requests_series("have", "disconnected")) == Some(3.0)
    });
    let lost = ["closed", "io"]
        .iter()
        .filter_map(|r| {
            sample(
                &text,
                &format!(r#"distcache_client_upstream_losses_total{{reason="{r}"}}"#),
            )
        })
        .sum::<f64>();
    assert!(lost >= 1.0, "{text}");

    // It comes back. (A reconnect may also have reached the dying server's
    // listener in the moment before it closed: count at least one.)
    let _server = Daemon::start("dc_server", &server_args, &address);
    let deadline = Instant::now() + IO_TIMEOUT;
    for uid in 200.. {
        match &ask(uid, GET, b"m1")[..] {
            [2] => {}
            [1] => break, // a fresh server: a miss
            other => panic!("unexpected answer {other:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "not served again:\n{}",
            dc.stderr()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let text = scrape_until(&metrics, |t| {
        sample(t, "distcache_client_upstream_up") == Some(1.0)
            && sample(t, &requests_series("get", "miss")) == Some(2.0)
    });
    assert!(sample(&text, "distcache_client_upstream_reconnects_total") >= Some(1.0));
    assert!(sample(&text, "distcache_client_upstream_connect_attempts_total") >= Some(2.0));
}

#[test]
fn each_limit_is_counted_and_logged_once_per_interval() {
    let server = start_server(&[]);
    let metrics = tcp_address(free_port());
    let dc = start_dc_client(
        &server.address,
        &["-max-clients", "2", "-idle", "1000", "-metrics", &metrics],
    );
    wait_connected(&dc);
    // The harness's probe that saw dc_client listening counts as a client
    // until dc_client has read its close.
    assert!(dc.wait_for_log("local client 0 closed", IO_TIMEOUT));
    let mut a = Conn::connect(&dc.address);
    let mut b = Conn::connect(&dc.address);
    // Busy, so that none can be closed to make room.
    for c in [&mut a, &mut b] {
        make_busy(c, 1);
    }
    // Three refused at the limit: one log line.
    for _ in 0..3 {
        let mut extra = Conn::connect(&dc.address);
        expect_eof(&mut extra);
    }
    // Both are closed at -idle, which makes room for a client that breaks
    // the protocol.
    expect_eof(&mut a);
    expect_eof(&mut b);
    let mut corrupt = Conn::connect(&dc.address);
    corrupt.send(&[0x00, 0x12, 0, 0, 1, 0, 0, 0, 1, 0, 3, 1, 0, 1, b'k']);
    expect_eof(&mut corrupt);
    scrape_until(&metrics, |t| {
        let refused = |r: &str| {
            sample(
                t,
                &format!(r#"distcache_client_connections_refused_total{{reason="{r}"}}"#),
            )
        };
        refused("limit") == Some(3.0)
            && refused("idle") == Some(2.0)
            && refused("protocol") == Some(1.0)
            // a, b, the corrupt one, and the start-up probe
            && sample(t, "distcache_client_connections_accepted_total") == Some(4.0)
    });
    let log = dc.stderr();
    let warned = |what: &str| {
        log.lines()
            .filter(|l| l.contains("WARN") && l.contains(what))
            .count()
    };
    assert_eq!(warned("refusing a local connection"), 1, "{log}");
    assert_eq!(warned("idle for"), 1, "{log}");
}

#[test]
fn tls_and_metrics_options_are_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dc_tls::testing::TestCa::new("cache CA");
    let files = ca.issue(dir.path(), "client", &["web1"], &ca);
    let (cert, key, cafile) = (
        files.cert.to_str().unwrap(),
        files.key.to_str().unwrap(),
        files.ca.to_str().unwrap(),
    );
    let listen = format!("UNIX:{}", dir.path().join("dc.sock").display());
    let server = tcp_address(free_port());
    let server = server.as_str();
    for (args, needle) in [
        (
            vec!["-server", server, "-tls-cert", cert],
            "missing -tls-key, -tls-ca",
        ),
        (
            vec![
                "-server",
                "UNIX:/tmp/nowhere",
                "-tls-cert",
                cert,
                "-tls-key",
                key,
                "-tls-ca",
                cafile,
            ],
            "TLS needs a TCP server address",
        ),
        (
            vec![
                "-server",
                server,
                "-tls-cert",
                cert,
                "-tls-key",
                cafile,
                "-tls-ca",
                cafile,
            ],
            "private key",
        ),
        (vec!["-server", server, "-metrics", "bogus"], "-metrics"),
    ] {
        let mut all = vec!["-listen", &listen];
        all.extend(args);
        let out = run("dc_client", &all, Duration::from_secs(10));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{all:?}: {stderr}");
        assert!(
            stderr.contains("Error, ") && stderr.contains(needle),
            "{all:?}: {stderr}"
        );
    }
}

// ---- TLS to the server ----------------------------------------------------

/// dc_client as started under `taskset -c 0` (one CPU) or as is, with
/// `extra`: the spin its start-up line says it uses.
fn logged_spin(pinned: bool, extra: &[&str]) -> String {
    let server = start_server(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let address = format!("UNIX:{}", dir.path().join("dc_client.sock").display());
    let mut args: Vec<String> = Vec::new();
    let program = if pinned {
        args.extend([
            "-c".into(),
            "0".into(),
            dc_e2e::bin("dc_client").display().to_string(),
        ]);
        std::path::PathBuf::from("/usr/bin/taskset")
    } else {
        dc_e2e::bin("dc_client")
    };
    args.extend([
        "-listen".into(),
        address.clone(),
        "-server".into(),
        server.address.clone(),
    ]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let dc = Daemon::start_program(&program, dir, &args, &address);
    assert!(
        dc.wait_for_log("listening on", IO_TIMEOUT),
        "{}",
        dc.stderr()
    );
    let log = dc.stderr();
    let spin = log
        .split("spin ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no spin in the start-up line: {log}"));
    spin.to_string()
}

#[test]
fn on_one_cpu_dc_client_spins_only_while_every_client_waits() {
    const ONE_CPU: &str = "50 µs while every client waits: one CPU";
    assert_eq!(logged_spin(true, &[]), ONE_CPU);
    assert_eq!(logged_spin(true, &["-spin-us", "0"]), "0 µs");
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let expected = if cpus > 1 { "50 µs" } else { ONE_CPU };
    assert_eq!(logged_spin(false, &[]), expected, "with {cpus} CPUs");
}

mod tls {
    use super::*;
    use dc_tls::testing::TestCa;
    use dc_tls::TlsFiles;

    /// A TLS dc_server whose certificate (from `ca`) names `names`, and
    /// which trusts client certificates from `ca`.
    fn tls_server(dir: &std::path::Path, ca: &TestCa, names: &[&str]) -> Daemon {
        let files = ca.issue(dir, "server", names, ca);
        let address = tcp_address(free_port());
        let args: Vec<String> = [
            "-listen",
            &address,
            "-tls-cert",
            files.cert.to_str().unwrap(),
            "-tls-key",
            files.key.to_str().unwrap(),
            "-tls-ca",
            files.ca.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        Daemon::start("dc_server", &args, &address)
    }

    /// dc_client speaking TLS to `server` with `files`.
    fn tls_dc_client(server: &str, files: &TlsFiles, extra: &[&str]) -> Daemon {
        let mut args = vec![
            "-tls-cert",
            files.cert.to_str().unwrap(),
            "-tls-key",
            files.key.to_str().unwrap(),
            "-tls-ca",
            files.ca.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        start_dc_client(server, &args)
    }

    /// Asks HAVE until dc_client's log has `needle`; every answer must be
    /// DISCONNECTED, promptly.
    fn only_disconnected_until_logged(dc: &Daemon, needle: &str) {
        let mut c = Conn::connect(&dc.address);
        let deadline = Instant::now() + IO_TIMEOUT;
        for uid in 0.. {
            let asked = Instant::now();
            c.send(&request(uid, HAVE, b"k"));
            assert_eq!(read_answer(&mut c).payload, [2], "uid {uid}");
            assert!(asked.elapsed() < Duration::from_millis(1500));
            if dc.stderr().contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never logged {needle:?}:\n{}",
                dc.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn dc_test_through_dc_client_over_tls() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("cache CA");
        let server = tls_server(dir.path(), &ca, &["localhost", "127.0.0.1"]);
        let files = ca.issue(dir.path(), "client", &["web1"], &ca);
        let dc = tls_dc_client(&server.address, &files, &[]);
        assert!(
            dc.wait_for_log("(TLS)", IO_TIMEOUT),
            "no TLS connection; stderr:\n{}",
            dc.stderr()
        );
        for extra in [&["-persistent", "-ops", "2000"][..], &["-ops", "500"][..]] {
            let mut args = vec!["-connect", &dc.address, "-sessions", "20"];
            args.extend_from_slice(extra);
            let out = run("dc_test", &args, Duration::from_secs(60));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "dc_test {args:?}:\n{stderr}");
            assert!(stderr.contains("all tests complete"), "{stderr}");
        }
        assert!(!dc.stderr().contains("WARN"), "{}", dc.stderr());
        assert!(!server.stderr().contains("TLS: "), "{}", server.stderr());
    }

    #[test]
    fn a_dc_client_certified_by_another_ca_is_refused_by_the_server() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("cache CA");
        let server = tls_server(dir.path(), &ca, &["127.0.0.1"]);
        let stranger = TestCa::new("some other CA").issue(dir.path(), "stranger", &["web2"], &ca);
        let dc = tls_dc_client(&server.address, &stranger, &["-retry", "200"]);
        // TLS 1.3: dc_client's side of the handshake is done before the
        // server checks its certificate, so dc_client learns of the refusal
        // from the server's alert (or a reset) right after connecting.
        only_disconnected_until_logged(&dc, "answering DISCONNECTED");
        assert!(
            server.wait_for_log("UnknownIssuer", IO_TIMEOUT),
            "{}",
            server.stderr()
        );
        eprintln!("dc_client's log:\n{}", dc.stderr());
    }

    #[test]
    fn a_dc_client_trusting_another_ca_or_name_refuses_the_server() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("cache CA");
        let server = tls_server(dir.path(), &ca, &["127.0.0.1"]);
        let other = TestCa::new("some other CA");
        let misled = ca.issue(dir.path(), "misled", &["web3"], &other);
        let dc = tls_dc_client(&server.address, &misled, &["-retry", "200"]);
        only_disconnected_until_logged(&dc, "invalid peer certificate: UnknownIssuer");
        assert!(
            dc.stderr().contains("TLS handshake with"),
            "{}",
            dc.stderr()
        );

        // A certificate from the right CA that names another host.
        let server = tls_server(dir.path(), &ca, &["cache.example.com"]);
        let files = ca.issue(dir.path(), "client", &["web1"], &ca);
        let dc = tls_dc_client(&server.address, &files, &["-retry", "200"]);
        only_disconnected_until_logged(&dc, "certificate not valid for name \"127.0.0.1\"");
    }

    #[test]
    fn tls_to_a_plaintext_server_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("cache CA");
        let server = start_server(&[]);
        let files = ca.issue(dir.path(), "client", &["web1"], &ca);
        let metrics = tcp_address(free_port());
        let mut dc = tls_dc_client(
            &server.address,
            &files,
            &["-retry", "100", "-metrics", &metrics],
        );
        only_disconnected_until_logged(&dc, "TLS handshake with");
        assert!(dc.is_running());
        // Every attempt fails the same way, and is counted; the warning is
        // logged once per interval.
        scrape_until(&metrics, |t| {
            sample(t, r#"distcache_client_upstream_losses_total{reason="tls"}"#) >= Some(3.0)
                && sample(t, "distcache_client_upstream_up") == Some(0.0)
        });
        let log = dc.stderr();
        let warned = log
            .lines()
            .filter(|l| l.contains("WARN") && l.contains("TLS handshake with"))
            .count();
        assert_eq!(warned, 1, "{log}");
    }
}
