//! The client against scripted fake servers: the recorded bytes of the
//! original library, connection policy, and every fixed defect of the
//! original (PROTOCOL.md §6.4 and §12 items 10-16).

use std::time::{Duration, Instant};

use dc_protocol::{CommandHeader, Decoder, Kind, Operation, Status, HEADER_LEN};
use serde_json::Value;

use super::fake_server::{FakeServer, Peer, Reply, IO_LIMIT};
use super::*;
use crate::error::{AnswerProblem, Step, Unavailability};
use crate::options::{FLAG_LATE, FLAG_PERSISTENT, FLAG_RETRY};

const MINUTE_MS: u32 = 60_000;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn client_case(name: &str) -> Value {
    vectors()["client_library"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no client_library case {name}"))
        .clone()
}

/// The bytes of each whole command in `bytes`.
fn split_commands(bytes: &[u8], kind: Kind) -> Vec<Vec<u8>> {
    let mut decoder = Decoder::new(kind);
    let mut commands = Vec::new();
    let (mut start, mut at) = (0, 0);
    while at < bytes.len() {
        let decoded = decoder.decode(&bytes[at..]).unwrap();
        assert!(decoded.consumed > 0, "truncated recording");
        at += decoded.consumed;
        if decoded.command.is_some() {
            commands.push(bytes[start..at].to_vec());
            start = at;
        }
    }
    commands
}

/// Per recorded connection: (what the client wrote, the answers it got).
fn recorded_connections(case: &Value) -> Vec<(Vec<u8>, Vec<Vec<u8>>)> {
    case["connections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let c2s = hex::decode(c["client_to_server"].as_str().unwrap()).unwrap();
            let s2c = hex::decode(c["server_to_client"].as_str().unwrap()).unwrap();
            (c2s, split_commands(&s2c, Kind::Response))
        })
        .collect()
}

/// A server that answers each request on connection `i` with the next
/// recorded answer of that connection, byte for byte.
fn replay_server(answers: Vec<Vec<Vec<u8>>>) -> FakeServer {
    FakeServer::start(move |index, peer: &mut Peer| {
        for answer in answers.get(index).cloned().unwrap_or_default() {
            if peer.request().is_none() {
                return;
            }
            peer.send(&answer);
        }
    })
}

/// Runs `calls` against a replay of the recorded case and checks that the
/// client wrote exactly the recorded bytes on each connection.
fn check_against_recording(name: &str, options: Options, calls: impl FnOnce(&mut Client)) {
    let case = client_case(name);
    let connections = recorded_connections(&case);
    let server = replay_server(connections.iter().map(|(_, a)| a.clone()).collect());
    let mut client = Client::new(&server.address, options).unwrap();
    calls(&mut client);
    drop(client);
    let written = server.finish();
    let expected: Vec<Vec<u8>> = connections.into_iter().map(|(c2s, _)| c2s).collect();
    assert_eq!(
        written.iter().map(hex::encode).collect::<Vec<_>>(),
        expected.iter().map(hex::encode).collect::<Vec<_>>(),
        "{name}: bytes written per connection"
    );
}

fn persistent_no_retry() -> Options {
    Options::from_flags(FLAG_PERSISTENT)
}

fn short_timeouts(options: Options) -> Options {
    options.with_io_timeout(Some(Duration::from_secs(5)))
}

/// A port nothing listens on.
fn dead_address() -> Address {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    Address::parse(&format!("IP:127.0.0.1:{port}")).unwrap()
}

/// The request_uid of each command in `bytes`.
fn uids(bytes: &[u8]) -> Vec<u32> {
    split_commands(bytes, Kind::Request)
        .iter()
        .map(|c| u32::from_be_bytes([c[5], c[6], c[7], c[8]]))
        .collect()
}

fn response(uid: u32, operation: Operation, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    dc_protocol::encode(&mut out, CommandHeader::response(uid, operation), payload).unwrap();
    out
}

/// A server that answers HAVE with "present" and GET with `value`.
fn plain_answer(req: &super::fake_server::Req) -> Vec<u8> {
    match req.operation {
        Operation::Get => b"value".to_vec(),
        _ => vec![0],
    }
}

// ---- the original library's bytes ------------------------------------

#[test]
fn non_persistent_matches_the_recording_one_connection_per_operation() {
    check_against_recording("ctx_non_persistent", Options::from_flags(0), |c| {
        c.add(b"id", b"value", MINUTE_MS).unwrap();
        assert_eq!(c.get(b"id").unwrap().as_deref(), Some(&b"value"[..]));
        assert!(c.has(b"id").unwrap());
        assert!(c.remove(b"id").unwrap());
        assert!(!c.has(b"id").unwrap());
        assert!(!c.is_connected());
    });
}

#[test]
fn persistent_get_matches_the_recording() {
    // The recording has two reget calls in between; they do no I/O and
    // this API has no reget (a GET returns the whole session).
    check_against_recording("ctx_persistent_get_reget", persistent_no_retry(), |c| {
        c.add(b"id", b"value", MINUTE_MS).unwrap();
        assert_eq!(c.get(b"id").unwrap().as_deref(), Some(&b"value"[..]));
        let mut buf = Vec::with_capacity(2);
        assert!(c.get_into(b"id", &mut buf).unwrap());
        assert_eq!(buf, b"value");
        assert!(c.has(b"id").unwrap());
    });
}

#[test]
fn short_sessions_fail_like_the_recording_and_keep_the_connection() {
    check_against_recording("ctx_get_short_session_fails", persistent_no_retry(), |c| {
        c.add(b"j", &[1, 2, 3, 4], MINUTE_MS).unwrap();
        let e = c.get(b"j").unwrap_err();
        assert!(
            matches!(
                e,
                ClientError::UnexpectedAnswer {
                    operation: Operation::Get,
                    problem: AnswerProblem::ShortSession { len: 4 },
                    ..
                }
            ),
            "{e}"
        );
        // The answer was consumed: the same connection carries on.
        assert!(c.is_connected());
        c.add(b"k", &[1, 2, 3, 4, 5], MINUTE_MS).unwrap();
        assert_eq!(c.get(b"k").unwrap(), Some(vec![1, 2, 3, 4, 5]));
    });
}

#[test]
fn a_miss_after_a_hit_matches_the_recording() {
    check_against_recording("ctx_reget_after_failed_get", persistent_no_retry(), |c| {
        c.add(b"A", b"AAAAA", MINUTE_MS).unwrap();
        let mut buf = Vec::new();
        assert!(c.get_into(b"A", &mut buf).unwrap());
        assert_eq!(buf, b"AAAAA");
        // The miss empties the buffer: nothing stale survives (defect 13).
        assert!(!c.get_into(b"B", &mut buf).unwrap());
        assert!(buf.is_empty());
    });
}

#[test]
fn late_connect_without_operations_never_connects() {
    check_against_recording(
        "ctx_late_no_ops",
        Options::from_flags(FLAG_PERSISTENT | FLAG_LATE),
        |c| assert!(!c.is_connected()),
    );
}

#[test]
fn add_timeout_500_is_an_error_not_an_abort() {
    // The original aborted the process here (defect 16). The persistent
    // connection was made and nothing was sent on it.
    check_against_recording("ctx_add_timeout_500", persistent_no_retry(), |c| {
        let e = c.add(b"id", b"value", 500).unwrap_err();
        assert!(
            matches!(
                e,
                ClientError::InvalidArgument(ArgumentError::TimeoutTooShort { timeout_ms: 500 })
            ),
            "{e}"
        );
        assert!(c.is_connected());
    });
}

#[test]
fn pid_check_reconnects_once_after_fork() {
    // The original reconnected for every operation in the child (4
    // connections, defect 12); refreshing the pid needs only 2. The bytes
    // are the recorded ones.
    let case = client_case("ctx_pidcheck_after_fork");
    let recorded = recorded_connections(&case);
    assert_eq!(recorded.len(), 4);
    let parent = recorded[0].clone();
    let child = (
        recorded[1..]
            .iter()
            .flat_map(|(c2s, _)| c2s.clone())
            .collect::<Vec<u8>>(),
        recorded[1..].iter().flat_map(|(_, a)| a.clone()).collect(),
    );
    let server = replay_server(vec![parent.1, child.1]);
    let mut client = Client::new(&server.address, Options::from_flags(3)).unwrap();
    assert!(client.has(b"id").unwrap());
    client.pretend_forked();
    for _ in 0..3 {
        assert!(client.has(b"id").unwrap());
    }
    drop(client);
    assert_eq!(server.finish(), vec![parent.0, child.0]);
}

// ---- wire rules ---------------------------------------------------------

#[test]
fn answers_are_interpreted_like_the_original() {
    let server = FakeServer::replying(|_, req| {
        Reply::Payload(match (req.operation, req.payload.as_slice()) {
            (Operation::Add, _) => vec![101],
            (Operation::Remove, b"there") | (Operation::Have, b"there") => vec![0],
            (_, b"gone") => vec![2],
            (_, b"proxy") => vec![],
            (Operation::Get, b"big") => vec![0x5a; 5000],
            _ => vec![1],
        })
    });
    let mut c = Client::new(&server.address, persistent_no_retry()).unwrap();
    let e = c.add(b"id", b"data", MINUTE_MS).unwrap_err();
    assert!(
        matches!(
            e,
            ClientError::Refused {
                status: Status::AddMatchingSession,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains(&server.address.to_string()), "{e}");
    assert!(c.remove(b"there").unwrap());
    assert!(!c.remove(b"absent").unwrap());
    assert!(c.has(b"there").unwrap());
    assert!(!c.has(b"absent").unwrap());
    assert_eq!(c.get(b"absent").unwrap(), None);
    // Multi-frame answer (2048 + 2048 + 904).
    assert_eq!(c.get(b"big").unwrap(), Some(vec![0x5a; 5000]));
    for id in [&b"gone"[..], b"proxy"] {
        let reason = if id == b"gone" {
            Unavailability::Disconnected
        } else {
            Unavailability::EmptyAnswer
        };
        for e in [
            c.has(id).unwrap_err(),
            c.get(id).unwrap_err(),
            c.remove(id).unwrap_err(),
        ] {
            assert!(
                matches!(e, ClientError::Unavailable { reason: r, .. } if r == reason),
                "{e}"
            );
        }
    }
    assert!(c.is_connected());
    drop(c);
    // Everything above went over one connection.
    assert_eq!(server.finish().len(), 1);
}

fn invalid<T: std::fmt::Debug>(r: Result<T, ClientError>) -> ArgumentError {
    match r {
        Err(ClientError::InvalidArgument(a)) => a,
        other => panic!("expected an argument error, got {other:?}"),
    }
}

#[test]
fn arguments_are_checked_before_anything_is_sent() {
    let server = FakeServer::replying(|_, _| Reply::Payload(vec![0]));
    let mut c = Client::new(&server.address, Options::per_operation()).unwrap();
    use ArgumentError::*;
    assert_eq!(
        invalid(c.add(b"", b"data", MINUTE_MS)),
        EmptyId {
            operation: Operation::Add,
            max: 64
        }
    );
    assert_eq!(
        invalid(c.add(&[1; 65], b"data", MINUTE_MS)),
        IdTooLong {
            operation: Operation::Add,
            len: 65,
            max: 64
        }
    );
    assert_eq!(invalid(c.add(b"id", b"", MINUTE_MS)), EmptyData);
    assert_eq!(
        invalid(c.add(b"id", &vec![0; 32759], MINUTE_MS)),
        TooLarge {
            id_len: 2,
            data_len: 32759
        }
    );
    for timeout_ms in [0, 60, 500] {
        assert_eq!(
            invalid(c.add(b"id", b"data", timeout_ms)),
            TimeoutTooShort { timeout_ms }
        );
    }
    let huge = vec![1; MAX_LOOKUP_ID_LEN + 1];
    assert_eq!(
        invalid(c.get(b"")),
        EmptyId {
            operation: Operation::Get,
            max: MAX_LOOKUP_ID_LEN
        }
    );
    assert!(matches!(
        invalid(c.get(&huge)),
        IdTooLong { len: 32769, .. }
    ));
    assert!(matches!(invalid(c.remove(&huge)), IdTooLong { .. }));
    assert!(matches!(invalid(c.has(b"")), EmptyId { .. }));
    // Nothing reached the server: no connection was even made.
    drop(c);
    assert!(server.finish().is_empty());
}

#[test]
fn the_largest_requests_are_sent_whole() {
    let server = FakeServer::replying(|_, req| {
        Reply::Payload(match req.operation {
            Operation::Add => {
                // The server would parse it: 8-byte header, id, data.
                let parsed = Request::parse(Operation::Add, &req.payload).unwrap();
                assert_eq!(parsed.id().len(), 64);
                vec![0]
            }
            _ => vec![1],
        })
    });
    let mut c = Client::new(&server.address, persistent_no_retry()).unwrap();
    c.add(
        &[7; 64],
        &vec![9; MAX_PAYLOAD - 8 - 64],
        MIN_ADD_TIMEOUT_MS + 1,
    )
    .unwrap();
    assert!(!c.has(&vec![3; MAX_LOOKUP_ID_LEN]).unwrap());
    drop(c);
    let written = server.finish();
    let sizes: Vec<usize> = split_commands(&written[0], Kind::Request)
        .iter()
        .map(Vec::len)
        .collect();
    // 16 frames each.
    assert_eq!(sizes, vec![MAX_PAYLOAD + 16 * HEADER_LEN; 2]);
}

#[test]
fn request_uids_wrap_modulo_2_pow_32() {
    let server = FakeServer::replying(|_, _| Reply::Payload(vec![0]));
    let mut c = Client::new(&server.address, persistent_no_retry()).unwrap();
    c.set_next_uid(u32::MAX);
    for _ in 0..3 {
        assert!(c.has(b"id").unwrap());
    }
    drop(c);
    assert_eq!(uids(&server.finish()[0]), vec![u32::MAX, 0, 1]);
}

#[test]
fn uids_count_from_one_per_client() {
    let server = FakeServer::replying(|_, _| Reply::Payload(vec![0]));
    for _ in 0..2 {
        let mut c = Client::new(&server.address, persistent_no_retry()).unwrap();
        assert!(c.has(b"id").unwrap());
        assert!(c.has(b"id").unwrap());
    }
    let written = server.finish();
    assert_eq!(
        written.iter().map(|w| uids(w)).collect::<Vec<_>>(),
        vec![vec![1, 2], vec![1, 2]]
    );
}

#[test]
fn unix_addresses_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(IO_LIMIT)).unwrap();
        let mut request = [0u8; HEADER_LEN + 2];
        s.read_exact(&mut request).unwrap();
        s.write_all(&response(1, Operation::Have, &[0])).unwrap();
        request
    });
    let mut c = Client::new(&Address::Unix(path), Options::default()).unwrap();
    assert!(c.has(b"id").unwrap());
    assert_eq!(&server.join().unwrap()[HEADER_LEN..], b"id");
}

// ---- connection policy ----------------------------------------------------

#[test]
fn addresses_must_be_connectable() {
    let e = Client::new(&Address::parse("IP:9001").unwrap(), Options::default()).unwrap_err();
    assert!(matches!(e, ClientError::NotConnectable { .. }), "{e}");
    assert!(e.to_string().contains("IP:9001"), "{e}");
    let e = Client::new(
        &dead_address(),
        Options::default().with_io_timeout(Some(Duration::ZERO)),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            ClientError::InvalidArgument(ArgumentError::ZeroIoTimeout)
        ),
        "{e}"
    );
}

#[test]
fn connect_failures_name_the_address() {
    let address = dead_address();
    // Persistent: at creation.
    let e = Client::new(&address, Options::default()).unwrap_err();
    assert!(matches!(e, ClientError::Connect { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("connect to {address} failed: ")),
        "{text}"
    );
    assert!(text.to_lowercase().contains("refused"), "{text}");
    // Per operation and late: at the first call, and creation succeeds.
    for options in [
        Options::per_operation(),
        Options::default().with_late_connect(true),
    ] {
        let mut c = Client::new(&address, options).unwrap();
        let e = c.has(b"id").unwrap_err();
        assert!(matches!(e, ClientError::Connect { .. }), "{e}");
        assert!(e
            .to_string()
            .starts_with(&format!("connect to {address} failed: ")));
    }
}

/// The "server" answers one HAVE on its first connection and then goes
/// away, as a restarted server would; later connections are served.
fn restarting_server() -> FakeServer {
    FakeServer::replying(|index, _| {
        if index == 0 {
            Reply::PayloadThenClose(vec![1])
        } else {
            Reply::Payload(vec![1])
        }
    })
}

#[test]
fn server_restart_with_retry_recovers_within_the_call() {
    for flags in [
        FLAG_PERSISTENT | FLAG_RETRY,
        FLAG_PERSISTENT | FLAG_RETRY | FLAG_LATE,
    ] {
        let server = restarting_server();
        let mut c =
            Client::new(&server.address, short_timeouts(Options::from_flags(flags))).unwrap();
        // ctx_server_restart_flags_5 and _13: 0, 0, 0.
        for _ in 0..3 {
            assert!(!c.has(b"id").unwrap(), "flags {flags}");
        }
        drop(c);
        let written = server.finish();
        assert_eq!(written.len(), 2, "flags {flags}");
        // The resent request keeps its uid.
        assert_eq!(uids(&written[1]), vec![2, 3], "flags {flags}");
    }
}

#[test]
fn server_restart_without_retry_fails_once_then_recovers() {
    // The original failed every later call for ever (defect 11;
    // ctx_server_restart_flags_1 and _9: 0, -1, -1).
    for flags in [FLAG_PERSISTENT, FLAG_PERSISTENT | FLAG_LATE] {
        let server = restarting_server();
        let mut c =
            Client::new(&server.address, short_timeouts(Options::from_flags(flags))).unwrap();
        assert!(!c.has(b"id").unwrap());
        let e = c.has(b"id").unwrap_err();
        assert!(
            matches!(e, ClientError::Closed { .. } | ClientError::Io { .. }),
            "flags {flags}: {e}"
        );
        assert!(!c.is_connected());
        assert!(!c.has(b"id").unwrap(), "flags {flags}");
        assert!(!c.has(b"id").unwrap(), "flags {flags}");
        drop(c);
        let written = server.finish();
        assert_eq!(written.len(), 2, "flags {flags}");
        assert_eq!(uids(&written[1]), vec![3, 4], "flags {flags}");
    }
}

#[test]
fn proxy_without_backend_fails_each_call_and_never_hangs() {
    // ctx_flags_1_via_dc_client_without_backend: the original hung at the
    // second call (defect 10). ctx_flags_0_...: each call fails on its own
    // connection.
    for (options, connections) in [(persistent_no_retry(), 1), (Options::from_flags(0), 3)] {
        let server = FakeServer::replying(|_, _| Reply::Payload(Vec::new()));
        let mut c = Client::new(&server.address, short_timeouts(options)).unwrap();
        let start = Instant::now();
        let errors = [
            c.has(b"id").unwrap_err(),
            c.get(b"id").unwrap_err(),
            c.has(b"id").unwrap_err(),
        ];
        assert!(start.elapsed() < IO_LIMIT);
        for e in errors {
            assert!(
                matches!(
                    e,
                    ClientError::Unavailable {
                        reason: Unavailability::EmptyAnswer,
                        ..
                    }
                ),
                "{e}"
            );
        }
        drop(c);
        assert_eq!(server.finish().len(), connections);
    }
}

/// A server whose first answer on its first connection is `bad(uid)`;
/// everything else is answered properly.
fn server_with_one_bad_answer(bad: fn(u32) -> Vec<u8>) -> FakeServer {
    let mut done = false;
    FakeServer::replying(move |_, req| {
        if done {
            Reply::Payload(plain_answer(req))
        } else {
            done = true;
            Reply::Raw(bad(req.uid))
        }
    })
}

fn recovers_after(bad: fn(u32) -> Vec<u8>, check: fn(&ClientError) -> bool) {
    let server = server_with_one_bad_answer(bad);
    let mut c = Client::new(&server.address, short_timeouts(persistent_no_retry())).unwrap();
    let start = Instant::now();
    let e = c.has(b"id").unwrap_err();
    assert!(check(&e), "{e}");
    assert!(e.to_string().contains(&server.address.to_string()), "{e}");
    // The connection was dropped, the next call starts clean on a new one.
    assert!(!c.is_connected());
    assert_eq!(c.get(b"id").unwrap().as_deref(), Some(&b"value"[..]));
    assert!(c.has(b"id").unwrap());
    assert!(start.elapsed() < IO_LIMIT);
    drop(c);
    assert_eq!(server.finish().len(), 2);
}

#[test]
fn an_answer_with_the_wrong_uid_drops_the_connection() {
    recovers_after(
        |uid| response(uid.wrapping_add(1), Operation::Have, &[0]),
        |e| {
            matches!(
                e,
                ClientError::UnexpectedAnswer {
                    problem: AnswerProblem::Uid {
                        expected: 1,
                        found: 2
                    },
                    ..
                }
            )
        },
    );
}

#[test]
fn an_answer_to_another_operation_drops_the_connection() {
    recovers_after(
        |uid| response(uid, Operation::Get, b"value"),
        |e| {
            matches!(
                e,
                ClientError::UnexpectedAnswer {
                    problem: AnswerProblem::Operation {
                        found: Operation::Get
                    },
                    ..
                }
            )
        },
    );
}

#[test]
fn a_wrong_protocol_version_is_an_error_not_an_abort() {
    // Defect 1: the original aborted the application.
    recovers_after(
        |uid| {
            let mut bytes = response(uid, Operation::Have, &[0]);
            bytes[..4].copy_from_slice(&0x0012_0000u32.to_be_bytes());
            bytes
        },
        |e| {
            matches!(
                e,
                ClientError::Protocol {
                    source: dc_protocol::DecodeError::Version { found: 0x0012_0000 },
                    ..
                }
            )
        },
    );
}

#[test]
fn garbage_is_a_protocol_error() {
    recovers_after(
        |_| b"HTTP/1.0 400 Bad Request\r\n\r\n".to_vec(),
        |e| matches!(e, ClientError::Protocol { .. }),
    );
}

#[test]
fn unsolicited_bytes_after_an_answer_retire_the_connection() {
    // Two answers to one request: the first is used, the connection is
    // not trusted with another request.
    let mut first = true;
    let server = FakeServer::replying(move |_, req| {
        let mut bytes = response(req.uid, req.operation, &plain_answer(req));
        if std::mem::take(&mut first) {
            bytes.extend(response(req.uid.wrapping_add(1), req.operation, &[0]));
        }
        Reply::Raw(bytes)
    });
    let mut c = Client::new(&server.address, short_timeouts(persistent_no_retry())).unwrap();
    assert!(c.has(b"id").unwrap());
    assert!(!c.is_connected());
    assert!(c.has(b"id").unwrap());
    drop(c);
    assert_eq!(server.finish().len(), 2);
}

#[test]
fn a_silent_server_times_out_within_bounds() {
    // Defect 14: the original waited for ever.
    let timeout = Duration::from_millis(300);
    let mut first = true;
    let server = FakeServer::replying(move |_, req| {
        if std::mem::take(&mut first) {
            Reply::Silence
        } else {
            Reply::Payload(plain_answer(req))
        }
    });
    let options = persistent_no_retry().with_io_timeout(Some(timeout));
    let mut c = Client::new(&server.address, options).unwrap();
    let start = Instant::now();
    let e = c.has(b"id").unwrap_err();
    let waited = start.elapsed();
    assert!(
        matches!(
            e,
            ClientError::TimedOut {
                step: Step::Receive,
                after,
                ..
            } if after == timeout
        ),
        "{e}"
    );
    assert!(
        waited >= timeout && waited < timeout + IO_LIMIT,
        "{waited:?}"
    );
    assert_eq!(
        e.to_string(),
        format!("receiving from {} timed out after 300 ms", server.address)
    );
    // Timeouts are not retried, even with retry on; the next call works.
    assert!(c.has(b"id").unwrap());
    drop(c);
    assert_eq!(server.finish().len(), 2);
}

#[test]
fn a_server_that_stops_mid_answer_is_a_lost_connection() {
    // Half of a three-frame answer, then the server goes away; later
    // connections are served.
    let server = || {
        FakeServer::replying(|index, req| {
            let bytes = response(req.uid, req.operation, &[0x11; 5000]);
            if index == 0 {
                Reply::RawThenClose(bytes[..2100].to_vec())
            } else {
                Reply::Raw(bytes)
            }
        })
    };
    let s = server();
    let mut c = Client::new(&s.address, short_timeouts(persistent_no_retry())).unwrap();
    let e = c.get(b"id").unwrap_err();
    assert!(
        matches!(
            e,
            ClientError::Closed {
                operation: Operation::Get,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(c.get(b"id").unwrap(), Some(vec![0x11; 5000]));
    drop(c);
    assert_eq!(s.finish().len(), 2);

    let s = server();
    let options = short_timeouts(Options::from_flags(FLAG_PERSISTENT | FLAG_RETRY));
    let mut c = Client::new(&s.address, options).unwrap();
    assert_eq!(c.get(b"id").unwrap(), Some(vec![0x11; 5000]));
    drop(c);
    assert_eq!(s.finish().len(), 2);
}

#[test]
fn per_operation_mode_never_keeps_a_connection() {
    let server = FakeServer::replying(|_, req| Reply::Payload(plain_answer(req)));
    let mut c = Client::new(&server.address, Options::per_operation()).unwrap();
    assert!(!c.is_connected());
    for _ in 0..4 {
        assert!(c.has(b"id").unwrap());
        assert!(!c.is_connected());
    }
    let mut buf = Vec::new();
    assert!(c.get_into(b"id", &mut buf).unwrap());
    drop(c);
    let written = server.finish();
    assert_eq!(written.len(), 5);
    assert_eq!(
        written.iter().map(|w| uids(w)).collect::<Vec<_>>(),
        vec![vec![1], vec![2], vec![3], vec![4], vec![5]]
    );
}
