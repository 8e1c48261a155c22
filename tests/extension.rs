//! dc_server speaks the protocol extension (`dc_protocol::extension`) to a
//! client that offers it, over a real socket, and stays plain 1.x for
//! every client that does not.

use dc_e2e::{start_server, Conn};
use dc_ops::{CounterChange, Op, Reply, StoreMode, Ttl};
use dc_protocol::extension::{ExtClient, Negotiation, ProbeOutcome, MAX_KEY_LEN};
use dc_protocol::{encode, CommandHeader, Decoder, Kind, Operation};

/// One frame as it arrives: its 14-byte header, then its data.
fn frame(conn: &mut Conn) -> Vec<u8> {
    let mut bytes = conn.recv(14);
    let len = usize::from(u16::from_be_bytes([bytes[12], bytes[13]]));
    bytes.extend(conn.recv(len));
    bytes
}

/// Offers the extension on `conn`: the client, once accepted.
fn negotiate(conn: &mut Conn) -> ExtClient {
    let mut offer = Vec::new();
    let mut probe = Negotiation::start(1, &mut offer);
    conn.send(&offer);
    let answer = frame(conn);
    match probe.read(&answer).expect("a valid answer") {
        (_, Some(ProbeOutcome::Accepted(accept))) => ExtClient::new(accept),
        other => panic!("not accepted: {other:?}"),
    }
}

/// Sends `op` and reads its answer, as text.
fn run(conn: &mut Conn, client: &mut ExtClient, tag: u32, op: &Op<'_>) -> String {
    let mut request = Vec::new();
    client.encode(tag, op, &mut request).expect("encodable");
    conn.send(&request);
    // An answer may take several frames (a value over 2043 bytes), which
    // the client reassembles.
    loop {
        let input = frame(conn);
        let decoded = client.decode_reply(&input).expect("a valid answer");
        assert_eq!(decoded.consumed, input.len());
        if let Some((got, _, reply)) = decoded.reply {
            assert_eq!(got, tag);
            return format!("{reply:?}");
        }
    }
}

#[test]
fn dc_server_serves_extended_operations_to_a_client_that_offered_them() {
    let server = start_server(&[]);
    let mut conn = Conn::connect(&server.address);
    let mut c = negotiate(&mut conn);
    assert_eq!(usize::from(c.accepted().max_key_len), MAX_KEY_LEN);
    let key = vec![b'k'; MAX_KEY_LEN];
    let value = vec![b'v'; 30_000];
    let day = Ttl::After(86_400_000);
    let store = |mode, value| Op::Store {
        mode,
        key: &key,
        value,
        flags: 42,
        ttl: day,
    };
    assert_eq!(
        run(&mut conn, &mut c, 2, &store(StoreMode::Add, b"first")),
        "Stored"
    );
    assert_eq!(
        run(&mut conn, &mut c, 3, &store(StoreMode::Set, &value)),
        "Stored"
    );
    assert_eq!(
        run(&mut conn, &mut c, 4, &Op::Get { key: &key }),
        format!(
            "{:?}",
            Reply::Value {
                data: &value,
                flags: 42
            }
        )
    );
    let touch = Op::Touch {
        key: &key,
        ttl: Ttl::After(60_000),
    };
    assert_eq!(run(&mut conn, &mut c, 5, &touch), "Touched");
    let left = run(&mut conn, &mut c, 6, &Op::Ttl { key: &key });
    let ms: u64 = left
        .strip_prefix("Remaining(")
        .and_then(|s| s.strip_suffix(')'))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{left}"));
    assert!((59_000..=60_000).contains(&ms), "{ms}");
    let incr = Op::Counter {
        key: b"hits",
        change: CounterChange::Signed(3),
    };
    assert_eq!(run(&mut conn, &mut c, 7, &incr), "Signed(3)");
    assert_eq!(
        run(&mut conn, &mut c, 8, &Op::Delete { key: &key }),
        "Deleted"
    );
    assert_eq!(
        run(&mut conn, &mut c, 9, &Op::Exists { key: &key }),
        "NotFound"
    );
}

#[test]
fn a_1x_client_sees_what_the_extension_stored_and_never_an_extended_frame() {
    let server = start_server(&[]);
    let mut ext = Conn::connect(&server.address);
    let mut c = negotiate(&mut ext);
    let set = Op::Store {
        mode: StoreMode::Set,
        key: b"session-id",
        value: b"master secret",
        flags: 0,
        ttl: Ttl::After(60_000),
    };
    assert_eq!(run(&mut ext, &mut c, 2, &set), "Stored");

    let mut plain = Conn::connect(&server.address);
    // A HAVE of a 72-byte id that is not the offer: the original's answer.
    let mut have = Vec::new();
    encode(
        &mut have,
        CommandHeader::request(1, Operation::Have),
        &[7; 72],
    )
    .unwrap();
    plain.send(&have);
    let mut decoder = Decoder::new(Kind::Response);
    let answer = frame(&mut plain);
    let command = decoder.decode(&answer).unwrap().command.unwrap();
    assert_eq!(command.payload, [1]);
    let mut get = Vec::new();
    encode(
        &mut get,
        CommandHeader::request(2, Operation::Get),
        b"session-id",
    )
    .unwrap();
    plain.send(&get);
    let answer = frame(&mut plain);
    let command = decoder.decode(&answer).unwrap().command.unwrap();
    assert_eq!(
        (command.request_uid, command.payload),
        (2, &b"master secret"[..])
    );
}
