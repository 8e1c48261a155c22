//! End-to-end tests of dc_snoop: the real binary between dc_test (or a test
//! socket) and dc_server (or a fake server that records what it receives).
//!
//! dc_snoop is started on port 0 (or a unix socket) and its address read
//! from its "listening on" log line, and readiness is awaited on that line,
//! not by connecting: a probe connection would be relayed and traced. Its
//! trace goes to a file (`-output`), which the tests poll until the lines
//! they expect are there, with a deadline.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dc_e2e::{run, start_server, start_server_unix, wait_for_file, Conn, Daemon, IO_TIMEOUT};
use dc_protocol::{encode, CommandHeader, Operation, Request};
use nix::sys::signal::Signal;
use serde_json::Value;

/// How long the trace may take to show what happened.
const TRACE_TIMEOUT: Duration = Duration::from_secs(10);

/// A running dc_snoop and the file its trace goes to.
struct Snoop {
    daemon: Daemon,
    trace: PathBuf,
}

impl Snoop {
    /// Starts dc_snoop on a free loopback port, relaying to `server`, with
    /// `extra` options.
    fn start(server: &str, extra: &[&str]) -> Snoop {
        let mut args = vec!["-listen", "IP:127.0.0.1:0", "-server", server];
        args.extend_from_slice(extra);
        Snoop::start_with(&args)
    }

    /// Starts dc_snoop with `args`, plus `-output` to a file.
    fn start_with(args: &[&str]) -> Snoop {
        let dir = tempfile::tempdir().expect("tempdir");
        let trace = dir.path().join("trace.out");
        let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        args.push("-output".into());
        args.push(trace.display().to_string());
        let mut daemon = Daemon::start_until_log(dir, "dc_snoop", &args, "listening on ");
        let log = daemon.stderr();
        let (_, rest) = log.split_once("listening on ").expect("listening line");
        daemon.address = rest.split(',').next().expect("address").to_string();
        Snoop { daemon, trace }
    }

    fn address(&self) -> &str {
        &self.daemon.address
    }

    /// The trace once it satisfies `ready`.
    fn wait_until(&self, ready: impl Fn(&str) -> bool) -> String {
        wait_for_file(&self.trace, TRACE_TIMEOUT, ready)
    }

    /// The trace once it has a line containing `needle`.
    fn wait_for(&self, needle: &str) -> String {
        self.wait_until(|t| t.contains(needle))
    }

    /// Stops it with SIGTERM and returns the final trace.
    fn stop(mut self) -> String {
        self.daemon.signal(Signal::SIGTERM);
        let status = self
            .daemon
            .wait_exit(Duration::from_secs(10))
            .expect("dc_snoop exits on SIGTERM");
        assert!(
            status.success(),
            "{status}; stderr:\n{}",
            self.daemon.stderr()
        );
        std::fs::read_to_string(&self.trace).expect("trace")
    }
}

fn dc_test(address: &str, args: &[&str]) {
    let mut all = vec!["-connect", address];
    all.extend_from_slice(args);
    let out = run("dc_test", &all, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "dc_test {all:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn lines_with<'a>(trace: &'a str, needle: &str) -> Vec<&'a str> {
    trace.lines().filter(|l| l.contains(needle)).collect()
}

fn request(uid: u32, request: Request<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    request.encode(&mut out, uid).expect("encode");
    out
}

fn response(uid: u32, op: Operation, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode(&mut out, CommandHeader::response(uid, op), payload).expect("encode");
    out
}

/// Accepts one connection within the I/O timeout.
fn accept(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).expect("blocking");
                stream.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
                return stream;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                assert!(
                    Instant::now() < deadline,
                    "no connection came through dc_snoop"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

fn fake_server() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = format!("IP:{}", listener.local_addr().expect("addr"));
    (listener, address)
}

/// Bytes that are no distcache frame (the first four are not 00 11 xx xx).
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 7 + usize::from(seed)) % 251) as u8 | 0x20)
        .collect()
}

#[test]
fn dc_test_through_snoop_passes_and_every_command_is_shown() {
    let server = start_server(&[]);
    let snoop = Snoop::start(&server.address, &[]);
    // Session data over 2048 bytes: every ADD and GET hit spans two frames.
    dc_test(
        snoop.address(),
        &[
            "-sessions",
            "3",
            "-ops",
            "20",
            "-persistent",
            "-datamin",
            "2100",
            "-datamax",
            "4000",
            "-seed",
            "1",
        ],
    );
    let trace = snoop.wait_for("#0 closed");
    let requests = lines_with(&trace, "#0 c->s uid=");
    let responses = lines_with(&trace, "#0 s->c uid=");
    assert_eq!(requests.len(), 20, "{trace}");
    assert_eq!(responses.len(), 20, "{trace}");
    for uid in 1..=20 {
        let tag = format!(" uid={uid} ");
        assert_eq!(
            lines_with(&trace, &format!("c->s{tag}")).len(),
            1,
            "uid {uid}: {trace}"
        );
        assert_eq!(
            lines_with(&trace, &format!("s->c{tag}")).len(),
            1,
            "uid {uid}: {trace}"
        );
    }
    for line in trace.lines() {
        let (time, rest) = line.split_at(12);
        assert!(
            time.len() == 12 && &time[2..3] == ":" && &time[5..6] == ":" && &time[8..9] == ".",
            "{line}"
        );
        assert!(rest.starts_with(" #0 "), "{line}");
    }
    assert!(trace
        .lines()
        .next()
        .unwrap()
        .contains("#0 open client=127.0.0.1:"));
    // The seed gives ADDs, GET hits and misses, each shown whole, once.
    let adds = lines_with(&trace, "c->s uid=");
    assert!(
        adds.iter()
            .any(|l| l.contains(" ADD id=") && l.contains(" timeout=") && l.contains(" data=")),
        "{trace}"
    );
    assert!(
        lines_with(&trace, " ADD ")
            .iter()
            .any(|l| l.contains("result=OK rtt=")),
        "{trace}"
    );
    let hits = lines_with(&trace, "result=hit size=");
    assert!(!hits.is_empty(), "{trace}");
    for hit in hits {
        let size: usize = hit
            .split("size=")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|s| s.parse().ok())
            .expect("size");
        assert!((2100..4000).contains(&size), "{hit}");
        assert!(hit.contains(&format!("payload={size} ")), "{hit}");
    }
    assert!(!lines_with(&trace, "result=miss").is_empty(), "{trace}");
    let closed = lines_with(&trace, "#0 closed");
    assert_eq!(closed.len(), 1);
    assert!(
        closed[0].contains("closed (both sides done)")
            && closed[0].contains("c->s 20 requests")
            && closed[0].contains("s->c 20 responses"),
        "{}",
        closed[0]
    );
    assert!(!trace.contains("UNDECODABLE"), "{trace}");
}

#[test]
fn one_connection_per_operation_over_unix_sockets() {
    let server = start_server_unix(&[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let listen = format!("UNIX:{}", dir.path().join("snoop.sock").display());
    // -connect is the original's alias of -server.
    let snoop = Snoop::start_with(&["-listen", &listen, "-connect", &server.address]);
    assert_eq!(snoop.address(), listen);
    dc_test(
        snoop.address(),
        &["-sessions", "2", "-ops", "4", "-seed", "3"],
    );
    let trace = snoop.wait_until(|t| t.matches(" closed (both sides done)").count() == 4);
    for n in 0..4 {
        let open = format!("#{n} open client=unix server={}", server.address);
        assert_eq!(lines_with(&trace, &open).len(), 1, "{trace}");
        assert_eq!(
            lines_with(&trace, &format!("#{n} c->s uid=")).len(),
            1,
            "{trace}"
        );
        assert_eq!(
            lines_with(&trace, &format!("#{n} s->c uid=")).len(),
            1,
            "{trace}"
        );
        let closed = lines_with(&trace, &format!("#{n} closed"));
        assert!(
            closed[0].contains("c->s 1 requests") && closed[0].contains("s->c 1 responses"),
            "{trace}"
        );
    }
}

#[test]
fn garbage_is_relayed_unchanged_both_ways_and_marked_undecodable() {
    let (listener, address) = fake_server();
    let snoop = Snoop::start(&address, &[]);
    let mut client = Conn::connect(snoop.address());
    let mut server = accept(&listener);
    let mut upstream = b"GET / HTTP/1.1\r\nHost: cache\r\n\r\n".to_vec();
    upstream.extend(pattern(100_000, 1));
    // A valid frame after the garbage is relayed too, but not decoded.
    upstream.extend(request(1, Request::Have { id: b"x" }));
    client.send(&upstream);
    client.shutdown_write();
    let mut got = Vec::new();
    server
        .read_to_end(&mut got)
        .expect("the client's bytes, then its end of file");
    assert!(
        got == upstream,
        "the server got {} bytes, not the {} sent (or not the same)",
        got.len(),
        upstream.len()
    );
    let downstream = [
        b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec(),
        pattern(70_000, 2),
    ]
    .concat();
    server.write_all(&downstream).expect("reply");
    drop(server);
    let back = client.read_to_eof();
    assert!(
        back == downstream,
        "the client got {} bytes, not the {} sent (or not the same)",
        back.len(),
        downstream.len()
    );

    let trace = snoop.wait_for("#0 closed");
    let undecodable = lines_with(&trace, "UNDECODABLE");
    assert_eq!(undecodable.len(), 1, "one mark per connection: {trace}");
    let mark = undecodable[0];
    assert!(
        mark.contains(
            "#0 c->s UNDECODABLE at byte 0: protocol version mismatch: peer sent level 47455420"
        ),
        "{mark}"
    );
    assert!(
        mark.contains(
            "first 32 bytes: 47 45 54 20 2f 20 48 54 54 50 2f 31 2e 31 0d 0a 48 6f 73 74"
        ),
        "{mark}"
    );
    assert!(
        mark.ends_with("|GET / HTTP/1.1..Host: cache....!|"),
        "{mark}"
    );
    assert!(lines_with(&trace, "uid=").is_empty(), "{trace}");
    let closed = lines_with(&trace, "#0 closed (both sides done)");
    assert_eq!(closed.len(), 1, "{trace}");
    let totals = format!(
        "c->s 0 requests {} bytes, s->c 0 responses {} bytes, undecodable",
        upstream.len(),
        downstream.len()
    );
    assert!(closed[0].ends_with(&totals), "{}", closed[0]);
}

#[test]
fn decoding_stops_at_the_first_bad_byte_but_relaying_goes_on() {
    let (listener, address) = fake_server();
    let snoop = Snoop::start(&address, &[]);
    let mut client = Conn::connect(snoop.address());
    let mut server = accept(&listener);
    let good = request(1, Request::Have { id: b"x" });
    let bad = b"\x00\x12\x00\x00 is version 0x0012".to_vec();
    let sent = [good.clone(), bad].concat();
    client.send(&sent);
    let mut got = vec![0; sent.len()];
    server.read_exact(&mut got).expect("relayed bytes");
    assert_eq!(got, sent);
    let answer = response(1, Operation::Have, &[0]);
    server.write_all(&answer).expect("answer");
    assert_eq!(client.recv(answer.len()), answer);
    drop(server);
    assert!(client.read_to_eof().is_empty());
    drop(client);

    let trace = snoop.wait_for("#0 closed");
    assert_eq!(
        lines_with(&trace, "#0 c->s uid=1 HAVE id=78 payload=1").len(),
        1,
        "{trace}"
    );
    let mark = lines_with(&trace, "UNDECODABLE");
    assert_eq!(mark.len(), 1, "{trace}");
    assert!(
        mark[0].contains(&format!(
            "#0 c->s UNDECODABLE at byte {}: protocol version mismatch: peer sent level 00120000",
            good.len()
        )),
        "{}",
        mark[0]
    );
    // The answer was relayed, but this connection is no longer decoded.
    assert!(lines_with(&trace, "s->c uid=").is_empty(), "{trace}");
    assert!(
        lines_with(&trace, "#0 closed")[0].ends_with(&format!(
            "c->s 1 requests {} bytes, s->c 0 responses {} bytes, 1 unanswered, undecodable",
            sent.len(),
            answer.len()
        )),
        "{trace}"
    );
}

#[test]
fn a_multi_frame_get_is_shown_once_and_stopping_reports_open_connections() {
    let server = start_server(&[]);
    let snoop = Snoop::start(&server.address, &[]);
    let mut client = Conn::connect(snoop.address());
    let data = pattern(5000, 3);
    let add = request(
        1,
        Request::Add {
            timeout_ms: 60_000,
            id: b"multi",
            data: &data,
        },
    );
    assert_eq!(add.len(), 8 + 5 + 5000 + 3 * 14, "three frames");
    // Written in pieces that cut the frames anywhere.
    for piece in add.chunks(700) {
        client.send(piece);
    }
    assert_eq!(client.recv(15), response(1, Operation::Add, &[0]));
    let get = request(2, Request::Get { id: b"multi" });
    client.send(&get);
    let answer = response(2, Operation::Get, &data);
    assert_eq!(answer.len(), 5000 + 3 * 14, "three frames");
    assert!(client.recv(answer.len()) == answer);

    let trace = snoop.wait_for("s->c uid=2");
    assert_eq!(lines_with(&trace, "c->s uid=").len(), 2, "{trace}");
    assert_eq!(lines_with(&trace, "s->c uid=").len(), 2, "{trace}");
    assert_eq!(
        lines_with(
            &trace,
            "#0 c->s uid=1 ADD id=6d756c7469 payload=5013 timeout=60000ms data=5000"
        )
        .len(),
        1,
        "{trace}"
    );
    assert_eq!(
        lines_with(
            &trace,
            "#0 s->c uid=2 GET id=6d756c7469 payload=5000 result=hit size=5000 rtt="
        )
        .len(),
        1,
        "{trace}"
    );

    // Stopping dc_snoop closes the pair it still relays, with its totals.
    let trace = snoop.stop();
    let closed = lines_with(&trace, "#0 closed (dc_snoop stopped)");
    assert_eq!(closed.len(), 1, "{trace}");
    let totals = format!(
        "c->s 2 requests {} bytes, s->c 2 responses {} bytes",
        add.len() + get.len(),
        15 + answer.len()
    );
    assert!(closed[0].ends_with(&totals), "{}", closed[0]);
    assert!(client.read_to_eof().is_empty());
}

#[test]
fn half_closes_are_passed_on_after_the_bytes_before_them() {
    let (listener, address) = fake_server();
    let snoop = Snoop::start(&address, &[]);

    // The client is done first: the server reads all it sent, then end of
    // file, and can still answer; its own end of file ends the pair.
    let mut client = Conn::connect(snoop.address());
    let mut server = accept(&listener);
    let upstream = pattern(300_000, 4);
    let downstream = pattern(200_000, 5);
    let got = std::thread::scope(|s| {
        s.spawn(|| {
            client.send(&upstream);
            client.shutdown_write();
        });
        let mut got = Vec::new();
        server.read_to_end(&mut got).map(|_| got)
    });
    assert!(got.expect("read to end of file") == upstream);
    let back = std::thread::scope(|s| {
        let reader = s.spawn(|| client.read_to_eof());
        server.write_all(&downstream).expect("answer");
        server
            .shutdown(std::net::Shutdown::Write)
            .expect("half-close");
        reader.join().expect("reader")
    });
    assert!(back == downstream);
    snoop.wait_for("#0 closed (both sides done)");

    // The server is done first: the client reads its end of file and can
    // still send.
    let mut client = Conn::connect(snoop.address());
    let mut server = accept(&listener);
    server.write_all(b"bye").expect("write");
    server
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    assert_eq!(client.read_to_eof(), b"bye");
    client.send(b"still here");
    client.shutdown_write();
    let mut got = Vec::new();
    server.read_to_end(&mut got).expect("read to end of file");
    assert_eq!(got, b"still here");
    snoop.wait_for("#1 closed (both sides done)");
}

#[test]
fn json_lines_parse() {
    let server = start_server(&[]);
    let snoop = Snoop::start(&server.address, &["-json"]);
    dc_test(
        snoop.address(),
        &["-sessions", "2", "-ops", "10", "-persistent", "-seed", "5"],
    );
    let trace = snoop.wait_for("\"event\":\"closed\"");
    let values: Vec<Value> = trace
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let kind = |v: &Value| v["event"].as_str().expect("event").to_owned();
    assert_eq!(kind(&values[0]), "open");
    assert_eq!(kind(values.last().expect("lines")), "closed");
    let requests: Vec<&Value> = values.iter().filter(|v| kind(v) == "request").collect();
    let responses: Vec<&Value> = values.iter().filter(|v| kind(v) == "response").collect();
    assert_eq!((requests.len(), responses.len()), (10, 10), "{trace}");
    for v in &values {
        let time = v["time"].as_str().expect("time");
        assert!(time.len() == 24 && time.ends_with('Z'), "{v}");
        assert_eq!(v["conn"], 0, "{v}");
    }
    for r in &requests {
        assert_eq!(r["dir"], "c->s");
        assert!(["ADD", "GET", "REMOVE", "HAVE"].contains(&r["op"].as_str().expect("op")));
        let id = r["id"].as_str().expect("id");
        assert_eq!(r["id_len"].as_u64(), Some(id.len() as u64 / 2), "{r}");
        assert!(r["uid"].is_u64() && r["payload_len"].is_u64(), "{r}");
    }
    for r in &responses {
        assert_eq!(r["dir"], "s->c");
        assert!(r["rtt_ms"].is_f64() && r["id"].is_string(), "{r}");
        let result = r["result"].as_str().expect("result");
        if result == "hit" {
            assert_eq!(r["size"], r["payload_len"], "{r}");
        }
    }
    let closed = values.last().expect("closed");
    assert_eq!(closed["to_server"]["requests"], 10);
    assert_eq!(closed["to_client"]["responses"], 10);
    assert_eq!(closed["reason"], "both sides done");
}

#[test]
fn quiet_mode_prints_counts_per_command_and_result() {
    let server = start_server(&[]);
    let snoop = Snoop::start(&server.address, &["-summary", "1"]);
    dc_test(
        snoop.address(),
        &["-sessions", "3", "-ops", "30", "-persistent", "-seed", "9"],
    );
    // Periodic lines come every second.
    snoop.wait_for(" summary (last ");
    let trace = snoop.stop();
    assert!(lines_with(&trace, "uid=").is_empty(), "{trace}");
    let total = lines_with(&trace, " summary (total ");
    assert_eq!(total.len(), 1, "{trace}");
    let total = total[0];
    assert!(
        total.contains("connections opened=1 closed=1 open=0 undecodable=0"),
        "{total}"
    );
    // Requests per command, and responses per command and result, each add
    // up to the operations run.
    let sum = |section: &str| -> u64 {
        section
            .split_whitespace()
            .filter_map(|word| word.rsplit_once('='))
            .map(|(_, n)| n.parse::<u64>().expect("count"))
            .sum()
    };
    let (_, counts) = total.split_once("; requests ").expect("requests");
    let (requests, responses) = counts.split_once("; responses ").expect("responses");
    assert_eq!(sum(requests), 30, "{total}");
    assert_eq!(sum(responses), 30, "{total}");
    assert!(responses.contains("ADD:OK="), "{total}");
}

/// Peak resident memory of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[test]
fn a_stalled_server_gets_back_pressure_and_every_byte_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server_path = dir.path().join("fake.sock");
    let listener = UnixListener::bind(&server_path).expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let listen = format!("UNIX:{}", dir.path().join("snoop.sock").display());
    let server_address = format!("UNIX:{}", server_path.display());
    let snoop = Snoop::start_with(&["-listen", &listen, "-server", &server_address]);
    let payload = pattern(32 << 20, 6);
    let mut client = UnixStream::connect(dir.path().join("snoop.sock")).expect("connect");
    let (done_tx, done) = mpsc::channel();
    let got = std::thread::scope(|s| {
        let deadline = Instant::now() + IO_TIMEOUT;
        // Declared in the scope, so a failure below drops it (dc_snoop then
        // drops the client) before the scope waits for the writer.
        let mut server = loop {
            match listener.accept() {
                Ok((server, _)) => break server,
                Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => panic!("no connection came through dc_snoop: {e}"),
            }
        };
        server.set_nonblocking(false).expect("blocking");
        server.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        let payload = &payload;
        s.spawn(move || {
            let sent = client.write_all(payload);
            let _ = client.shutdown(std::net::Shutdown::Write);
            let _ = done_tx.send(sent.is_ok());
        });
        // The server reads nothing yet: the writer must be held back, not
        // its bytes piled up in dc_snoop.
        assert!(
            done.recv_timeout(Duration::from_millis(500)).is_err(),
            "32 MiB went through to a server that reads nothing"
        );
        let mut got = Vec::with_capacity(payload.len());
        server
            .read_to_end(&mut got)
            .expect("everything, then end of file");
        got
    });
    assert_eq!(
        done.recv_timeout(IO_TIMEOUT),
        Ok(true),
        "the writer finished"
    );
    assert!(
        got.len() == payload.len() && got == payload,
        "{} bytes arrived",
        got.len()
    );
    let peak = peak_rss_kib(snoop.daemon.pid());
    assert!(
        peak < 24 * 1024,
        "dc_snoop peaked at {peak} KiB relaying 32 MiB"
    );
    let trace = snoop.wait_for("#0 closed");
    assert!(trace.contains("#0 closed (both sides done)"), "{trace}");
}

#[test]
fn a_server_that_is_down_closes_the_client() {
    // Nothing listens on a port that was just free.
    let server = dc_e2e::tcp_address(dc_e2e::free_port());
    let snoop = Snoop::start(&server, &[]);
    let mut client = Conn::connect(snoop.address());
    assert!(client.read_to_eof().is_empty());
    let trace = snoop.wait_for("#0 closed");
    assert!(
        trace.contains("#0 closed (cannot connect to the server: Connection refused"),
        "{trace}"
    );
    assert!(
        snoop.daemon.stderr().contains("cannot connect"),
        "{}",
        snoop.daemon.stderr()
    );
}

#[test]
fn a_server_reset_reaches_the_client_as_a_reset() {
    let (listener, address) = fake_server();
    let snoop = Snoop::start(&address, &[]);
    let mut client = Conn::connect(snoop.address());
    let server = accept(&listener);
    client.send(b"unread bytes");
    // Once they are in the server's socket, closing it unread resets the
    // connection.
    let mut first = [0u8; 1];
    server.peek(&mut first).expect("bytes arrive");
    drop(server);
    // Passed on as a reset, not as an orderly end of file.
    let mut buf = [0u8; 16];
    let got = client.read(&mut buf);
    assert!(
        matches!(&got, Err(e) if e.kind() == ErrorKind::ConnectionReset),
        "the client saw {got:?}"
    );
    let trace = snoop.wait_for("#0 closed");
    assert!(
        trace.contains("#0 closed (server connection failed: Connection reset by peer"),
        "{trace}"
    );
}

#[test]
fn connections_beyond_the_limit_are_closed_and_the_others_relayed() {
    let server = start_server(&[]);
    let snoop = Snoop::start(&server.address, &["-max-connections", "2"]);
    let have = request(1, Request::Have { id: b"k" });
    // A HAVE's answer: a header and one status byte, 1 for "not there".
    let answer = dc_protocol::HEADER_LEN + 1;
    let answered = |c: &mut Conn| c.recv(answer)[answer - 1] == 1;
    let mut kept: Vec<Conn> = (0..2).map(|_| Conn::connect(snoop.address())).collect();
    for c in &mut kept {
        c.send(&have);
        assert!(answered(c));
    }
    for _ in 0..3 {
        let mut extra = Conn::connect(snoop.address());
        assert!(extra.read_to_eof().is_empty(), "the third was relayed");
    }
    let log = snoop.daemon.stderr();
    assert_eq!(log.matches("-max-connections").count(), 1, "{log}");
    // The two relayed ones carry on; closing one makes room.
    kept[0].send(&have);
    assert!(answered(&mut kept[0]));
    drop(kept.remove(0));
    snoop.wait_for("#0 closed");
    let mut again = Conn::connect(snoop.address());
    again.send(&have);
    assert!(answered(&mut again));
}
