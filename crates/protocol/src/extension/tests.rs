//! Tests of the extension codec: exact bytes against the documented layout,
//! round trips, the probe, reassembly of mixed streams, hostile input.

use dc_ops::{CounterChange, Op, Reply, StoreMode, Ttl};
use proptest::prelude::*;

use super::hello::{ACCEPT_LEN, OFFER_LEN};
use super::*;
use crate::decoder::Decoder;
use crate::encoder::{encode, CommandHeader};
use crate::error::DecodeError;
use crate::frame::{Kind, Operation, HEADER_LEN, MAX_PAYLOAD, PROTO_LEVEL};
use crate::request::Request;

/// Bytes from hex; spaces are ignored so that fields can be told apart.
fn hex(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).expect("test hex")
}

/// A frame header written out field by field, for hand-made inputs.
#[allow(clippy::too_many_arguments)]
fn header(level: u32, kind: u8, uid: u32, class: u8, op: u8, complete: u8, len: u16) -> Vec<u8> {
    let mut h = level.to_be_bytes().to_vec();
    h.push(kind);
    h.extend_from_slice(&uid.to_be_bytes());
    h.extend_from_slice(&[class, op, complete]);
    h.extend_from_slice(&len.to_be_bytes());
    h
}

/// One whole command of either class, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owned {
    Classic {
        uid: u32,
        op: Operation,
        level: u32,
        payload: Vec<u8>,
    },
    Extended {
        uid: u32,
        op: ExtOperation,
        payload: Vec<u8>,
    },
}

fn owned(incoming: Incoming<'_>) -> Owned {
    match incoming {
        Incoming::Classic {
            command,
            proto_level,
        } => Owned::Classic {
            uid: command.request_uid,
            op: command.operation,
            level: proto_level,
            payload: command.payload.to_vec(),
        },
        Incoming::Extended(c) => Owned::Extended {
            uid: c.request_uid,
            op: c.operation,
            payload: c.payload.to_vec(),
        },
    }
}

/// Hands `bytes` to the decoder as a socket would (appended to what is
/// buffered), collecting every command completed.
fn feed(
    decoder: &mut FrameDecoder,
    buffered: &mut Vec<u8>,
    bytes: &[u8],
    out: &mut Vec<Owned>,
) -> Result<(), ExtDecodeError> {
    buffered.extend_from_slice(bytes);
    loop {
        let (consumed, got) = {
            let d = decoder.decode(buffered)?;
            (d.consumed, d.incoming.map(owned))
        };
        buffered.drain(..consumed);
        match got {
            Some(c) => out.push(c),
            None => return Ok(()),
        }
    }
}

/// Decodes `stream` cut into the given pieces, with the extension on or off.
fn decode_pieces(
    kind: Kind,
    version: Option<u16>,
    pieces: &[&[u8]],
) -> Result<Vec<Owned>, ExtDecodeError> {
    let mut decoder = FrameDecoder::new(kind);
    if let Some(v) = version {
        decoder.enable(v);
    }
    let mut buffered = Vec::new();
    let mut out = Vec::new();
    for piece in pieces {
        feed(&mut decoder, &mut buffered, piece, &mut out)?;
    }
    assert!(buffered.is_empty(), "bytes left over");
    assert!(!decoder.in_command(), "command left half-reassembled");
    Ok(out)
}

fn decode_all(
    kind: Kind,
    version: Option<u16>,
    stream: &[u8],
) -> Result<Vec<Owned>, ExtDecodeError> {
    decode_pieces(kind, version, &[stream])
}

/// The error `stream` gives, checked to be the same at every split point.
fn error_at_every_split(kind: Kind, version: Option<u16>, stream: &[u8]) -> ExtDecodeError {
    let whole = decode_all(kind, version, stream).expect_err("the stream is broken");
    for k in 0..=stream.len() {
        let (a, b) = stream.split_at(k);
        let mut decoder = FrameDecoder::new(kind);
        if let Some(v) = version {
            decoder.enable(v);
        }
        let mut buffered = Vec::new();
        let mut out = Vec::new();
        let got = feed(&mut decoder, &mut buffered, a, &mut out)
            .and_then(|()| feed(&mut decoder, &mut buffered, b, &mut out));
        assert_eq!(got, Err(whole.clone()), "split at {k}");
    }
    whole
}

fn request_bytes(uid: u32, op: &Op<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_request(&mut out, uid, EXT_VERSION, op).expect("encodes");
    out
}

fn reply_bytes(uid: u32, operation: ExtOperation, reply: &Reply<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_reply(&mut out, uid, EXT_VERSION, operation, reply).expect("encodes");
    out
}

/// Decodes one extended request and parses it.
fn parse_one_request(bytes: &[u8]) -> (u32, ExtOperation, Vec<u8>) {
    let got = decode_all(Kind::Request, Some(EXT_VERSION), bytes).expect("decodes");
    match got.as_slice() {
        [Owned::Extended { uid, op, payload }] => (*uid, *op, payload.clone()),
        other => panic!("expected one extended command, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Requests: exact bytes, then round trips.

/// Every request kind, its uid, and the bytes the module docs' layout gives.
fn documented_requests() -> Vec<(Op<'static>, Vec<u8>)> {
    let level = "00110001";
    let frame = |uid: &str, op: &str, len: &str, payload: &str| {
        hex(&format!("{level} 00 {uid} 01 {op} 01 {len} {payload}"))
    };
    vec![
        (Op::Get { key: b"k" }, frame("00000007", "01", "0001", "6b")),
        (
            Op::Delete { key: b"k" },
            frame("00000007", "02", "0001", "6b"),
        ),
        (Op::Exists { key: b"" }, frame("00000007", "03", "0000", "")),
        (
            Op::Ttl { key: b"ab" },
            frame("ffffffff", "07", "0002", "6162"),
        ),
        (
            // ttl kind 1 (ms), 1000; flags 5; key_len 2; key; value.
            Op::Store {
                mode: StoreMode::Set,
                key: b"ab",
                value: b"xyz",
                flags: 5,
                ttl: Ttl::After(1000),
            },
            frame(
                "00000001",
                "04",
                "0014",
                "01 00000000000003e8 00000005 0002 6162 78797a",
            ),
        ),
        (
            Op::Store {
                mode: StoreMode::Add,
                key: b"a",
                value: b"",
                flags: 0,
                ttl: Ttl::Unlimited,
            },
            frame(
                "00000002",
                "00",
                "0010",
                "00 0000000000000000 00000000 0001 61",
            ),
        ),
        (
            Op::Store {
                mode: StoreMode::Replace,
                key: b"a",
                value: b"v",
                flags: 0xdead_beef,
                ttl: Ttl::Expired,
            },
            frame(
                "00000003",
                "05",
                "0011",
                "03 0000000000000000 deadbeef 0001 61 76",
            ),
        ),
        (
            Op::Touch {
                key: b"k",
                ttl: Ttl::AtUnix(0x0102_0304),
            },
            frame("00000002", "06", "000a", "02 0000000001020304 6b"),
        ),
        (
            // delta 5; create 1; initial 10; ttl none; key.
            Op::Counter {
                key: b"c",
                change: CounterChange::Unsigned {
                    decrement: false,
                    delta: 5,
                    create: Some((10, Ttl::Unlimited)),
                },
            },
            frame(
                "00000003",
                "08",
                "001b",
                "0000000000000005 01 000000000000000a 00 0000000000000000 63",
            ),
        ),
        (
            // create 0: initial and lifetime go as zeros.
            Op::Counter {
                key: b"c",
                change: CounterChange::Unsigned {
                    decrement: true,
                    delta: 1,
                    create: None,
                },
            },
            frame(
                "00000003",
                "09",
                "001b",
                "0000000000000001 00 0000000000000000 00 0000000000000000 63",
            ),
        ),
        (
            Op::Counter {
                key: b"c",
                change: CounterChange::Signed(-2),
            },
            frame("00000004", "0a", "0009", "fffffffffffffffe 63"),
        ),
    ]
}

#[test]
fn each_request_kind_is_encoded_as_documented() {
    let cases = documented_requests();
    let mut operations: Vec<ExtOperation> = cases.iter().map(|(op, _)| operation_of(op)).collect();
    operations.sort_by_key(|o| o.to_byte());
    operations.dedup();
    assert_eq!(operations, ExtOperation::ALL, "a case for every operation");
    for (op, want) in cases {
        let uid = u32::from_be_bytes([want[5], want[6], want[7], want[8]]);
        let mut out = Vec::new();
        let operation = encode_request(&mut out, uid, EXT_VERSION, &op).expect("encodes");
        assert_eq!(operation, operation_of(&op));
        assert_eq!(hex::encode(&out), hex::encode(&want), "{op:?}");
    }
}

#[test]
fn each_documented_request_parses_back_to_its_op() {
    for (op, bytes) in documented_requests() {
        let (_, operation, payload) = parse_one_request(&bytes);
        assert_eq!(operation, operation_of(&op));
        assert_eq!(
            ExtRequest::parse(operation, &payload),
            Ok(ExtRequest::Run(op)),
            "{op:?}"
        );
    }
}

#[test]
fn a_store_of_the_largest_value_and_key_round_trips_over_17_frames() {
    let key = [b'k'; MAX_KEY_LEN];
    let value = vec![0x5a; MAX_VALUE_LEN];
    let op = Op::Store {
        mode: StoreMode::Set,
        key: &key,
        value: &value,
        flags: 1,
        ttl: Ttl::After(60_000),
    };
    let bytes = request_bytes(9, &op);
    let payload_len = 15 + MAX_KEY_LEN + MAX_VALUE_LEN;
    assert!(payload_len > MAX_PAYLOAD, "more than 1.x carries");
    assert_eq!(bytes.len(), payload_len + 17 * HEADER_LEN);
    let (uid, operation, payload) = parse_one_request(&bytes);
    assert_eq!((uid, operation), (9, ExtOperation::Set));
    assert_eq!(
        ExtRequest::parse(operation, &payload),
        Ok(ExtRequest::Run(op))
    );
}

#[test]
fn encoding_refuses_keys_values_and_payloads_over_the_limits() {
    let long_key = [b'k'; MAX_KEY_LEN + 1];
    let long_value = vec![0; MAX_VALUE_LEN + 1];
    let mut out = Vec::new();
    assert_eq!(
        encode_request(&mut out, 1, 1, &Op::Get { key: &long_key }),
        Err(ExtEncodeError::KeyTooLong {
            len: MAX_KEY_LEN + 1
        })
    );
    let store = Op::Store {
        mode: StoreMode::Add,
        key: b"k",
        value: &long_value,
        flags: 0,
        ttl: Ttl::Unlimited,
    };
    assert_eq!(
        encode_request(&mut out, 1, 1, &store),
        Err(ExtEncodeError::ValueTooLong {
            len: MAX_VALUE_LEN + 1
        })
    );
    let big = vec![0; MAX_EXT_PAYLOAD + 1];
    assert_eq!(
        encode_extended(&mut out, Kind::Request, 1, 1, ExtOperation::Get, &[&big]),
        Err(ExtEncodeError::PayloadTooLong {
            len: MAX_EXT_PAYLOAD + 1
        })
    );
    assert!(out.is_empty(), "nothing written for a refused request");
}

#[test]
fn over_long_keys_and_values_received_are_refused_not_fatal() {
    let long_key = [b'k'; MAX_KEY_LEN + 1];
    assert_eq!(
        ExtRequest::parse(ExtOperation::Get, &long_key),
        Ok(ExtRequest::Refused(Refusal::KeyTooLong(MAX_KEY_LEN + 1)))
    );
    let mut touch = hex("00 0000000000000000");
    touch.extend_from_slice(&long_key);
    assert_eq!(
        ExtRequest::parse(ExtOperation::Touch, &touch),
        Ok(ExtRequest::Refused(Refusal::KeyTooLong(MAX_KEY_LEN + 1)))
    );
    let mut store = hex("00 0000000000000000 00000000 0001 6b");
    store.resize(store.len() + MAX_VALUE_LEN + 1, 0);
    let refused = ExtRequest::parse(ExtOperation::Set, &store);
    assert_eq!(
        refused,
        Ok(ExtRequest::Refused(Refusal::ValueTooLong(
            MAX_VALUE_LEN + 1
        )))
    );
    assert_eq!(Refusal::KeyTooLong(1).status(), ExtStatus::TooLarge);
}

#[test]
fn truncated_request_payloads_are_typed_errors() {
    use ExtOperation::*;
    let short = |operation, len, need| {
        assert_eq!(
            ExtRequest::parse(operation, &vec![0; len]),
            Err(ExtRequestError::TooShort {
                operation,
                len,
                need
            }),
            "{operation} of {len} bytes"
        );
    };
    for operation in [Add, Set, Replace] {
        for len in 0..15 {
            short(operation, len, 15);
        }
    }
    for len in 0..9 {
        short(Touch, len, 9);
    }
    for operation in [Incr, Decr] {
        for len in 0..26 {
            short(operation, len, 26);
        }
    }
    for len in 0..8 {
        short(IncrBy, len, 8);
    }
}

#[test]
fn a_key_len_past_the_payload_is_a_typed_error() {
    // key_len 3, but only 2 bytes follow the header.
    let payload = hex("00 0000000000000000 00000000 0003 6162");
    assert_eq!(
        ExtRequest::parse(ExtOperation::Set, &payload),
        Err(ExtRequestError::KeyLen {
            operation: ExtOperation::Set,
            key_len: 3,
            len: 17
        })
    );
}

#[test]
fn unknown_lifetime_kinds_and_create_flags_are_typed_errors() {
    let store = hex("04 0000000000000000 00000000 0000");
    assert_eq!(
        ExtRequest::parse(ExtOperation::Add, &store),
        Err(ExtRequestError::TtlKind {
            operation: ExtOperation::Add,
            kind: 4
        })
    );
    let touch = hex("ff 0000000000000000 6b");
    assert_eq!(
        ExtRequest::parse(ExtOperation::Touch, &touch),
        Err(ExtRequestError::TtlKind {
            operation: ExtOperation::Touch,
            kind: 0xff
        })
    );
    let counter = hex("0000000000000001 02 0000000000000000 00 0000000000000000 63");
    assert_eq!(
        ExtRequest::parse(ExtOperation::Incr, &counter),
        Err(ExtRequestError::CreateFlag {
            operation: ExtOperation::Incr,
            flag: 2
        })
    );
    let counter = hex("0000000000000001 01 0000000000000000 09 0000000000000000 63");
    assert_eq!(
        ExtRequest::parse(ExtOperation::Decr, &counter),
        Err(ExtRequestError::TtlKind {
            operation: ExtOperation::Decr,
            kind: 9
        })
    );
}

#[test]
fn operation_bytes_map_both_ways_and_stop_at_10() {
    for op in ExtOperation::ALL {
        assert_eq!(ExtOperation::from_byte(op.to_byte()), Some(op));
    }
    for b in 11..=255u8 {
        assert_eq!(ExtOperation::from_byte(b), None);
    }
    assert_eq!(ExtOperation::IncrBy.to_byte(), 10);
}

// ---------------------------------------------------------------------------
// Responses: exact bytes, round trips, refusals.

/// Every answer shape: operation, reply, and the documented bytes.
fn documented_replies() -> Vec<(ExtOperation, Reply<'static>, Vec<u8>)> {
    use ExtOperation::*;
    let frame = |op: &str, len: &str, payload: &str| {
        hex(&format!("00110001 01 0000002a 01 {op} 01 {len} {payload}"))
    };
    vec![
        (
            Get,
            Reply::Value {
                data: b"v",
                flags: 7,
            },
            frame("01", "0006", "00 00000007 76"),
        ),
        (
            Get,
            Reply::Value {
                data: b"",
                flags: 0,
            },
            frame("01", "0005", "00 00000000"),
        ),
        (Get, Reply::NotFound, frame("01", "0001", "01")),
        (Exists, Reply::Found, frame("03", "0001", "00")),
        (Delete, Reply::Deleted, frame("02", "0001", "00")),
        (Touch, Reply::Touched, frame("06", "0001", "00")),
        (Set, Reply::Stored, frame("04", "0001", "00")),
        (Add, Reply::NotStored, frame("00", "0001", "03")),
        (
            Ttl,
            Reply::Remaining(1500),
            frame("07", "0009", "00 00000000000005dc"),
        ),
        (
            Incr,
            Reply::Unsigned(u64::MAX),
            frame("08", "0009", "00 ffffffffffffffff"),
        ),
        (
            IncrBy,
            Reply::Signed(-1),
            frame("0a", "0009", "00 ffffffffffffffff"),
        ),
        (Decr, Reply::NotNumeric, frame("09", "0001", "04")),
        (IncrBy, Reply::Overflow, frame("0a", "0001", "05")),
        (Replace, Reply::TooLarge, frame("05", "0001", "06")),
        (Ttl, Reply::Unavailable, frame("07", "0001", "02")),
    ]
}

#[test]
fn each_reply_kind_is_encoded_as_documented() {
    for (operation, reply, want) in documented_replies() {
        assert_eq!(
            hex::encode(reply_bytes(42, operation, &reply)),
            hex::encode(&want),
            "{operation} {reply:?}"
        );
    }
}

#[test]
fn each_documented_reply_parses_back() {
    for (operation, reply, bytes) in documented_replies() {
        let got = decode_all(Kind::Response, Some(EXT_VERSION), &bytes).expect("decodes");
        let [Owned::Extended { uid, op, payload }] = got.as_slice() else {
            panic!("expected one extended answer, got {got:?}");
        };
        assert_eq!((*uid, *op), (42, operation));
        assert_eq!(parse_reply(operation, payload), Ok(reply));
    }
}

#[test]
fn every_status_byte_maps_both_ways_and_stops_at_6() {
    for code in 0..=6 {
        assert_eq!(ExtStatus::from_code(code).map(ExtStatus::code), Some(code));
    }
    for code in 7..=255 {
        assert_eq!(ExtStatus::from_code(code), None);
    }
}

#[test]
fn a_bare_status_is_one_byte() {
    let mut out = Vec::new();
    encode_status(&mut out, 5, 1, ExtOperation::Set, ExtStatus::TooLarge).unwrap();
    assert_eq!(
        hex::encode(out),
        hex::encode(hex("00110001 01 00000005 01 04 01 0001 06"))
    );
}

#[test]
fn replies_an_operation_cannot_come_to_are_not_encoded() {
    let mut out = Vec::new();
    let wrong = [
        (
            ExtOperation::Touch,
            Reply::Value {
                data: b"v",
                flags: 0,
            },
        ),
        (ExtOperation::Get, Reply::Stored),
        (ExtOperation::Set, Reply::NotFound),
        (ExtOperation::Incr, Reply::Signed(1)),
        (ExtOperation::IncrBy, Reply::Unsigned(1)),
        (ExtOperation::Get, Reply::Overflow),
        (ExtOperation::Exists, Reply::Deleted),
    ];
    for (operation, reply) in wrong {
        assert_eq!(
            encode_reply(&mut out, 1, 1, operation, &reply),
            Err(ExtEncodeError::WrongReply { operation }),
            "{operation} {reply:?}"
        );
    }
    for (operation, status) in [
        (ExtOperation::Get, ExtStatus::Ok),
        (ExtOperation::IncrBy, ExtStatus::Ok),
        (ExtOperation::Get, ExtStatus::NotStored),
    ] {
        assert_eq!(
            encode_status(&mut out, 1, 1, operation, status),
            Err(ExtEncodeError::WrongReply { operation })
        );
    }
    assert!(out.is_empty());
}

#[test]
fn malformed_answers_are_typed_errors() {
    use ExtOperation::*;
    assert_eq!(
        parse_reply(Get, b""),
        Err(ExtResponseError::Empty { operation: Get })
    );
    assert_eq!(
        parse_reply(Get, &[7]),
        Err(ExtResponseError::UnknownStatus {
            operation: Get,
            code: 7
        })
    );
    assert_eq!(
        parse_reply(Get, &[3]),
        Err(ExtResponseError::WrongStatus {
            operation: Get,
            status: ExtStatus::NotStored
        })
    );
    assert_eq!(
        parse_reply(Set, &[1]),
        Err(ExtResponseError::WrongStatus {
            operation: Set,
            status: ExtStatus::NotFound
        })
    );
    let body = |operation, payload: &[u8], len, expected| {
        assert_eq!(
            parse_reply(operation, payload),
            Err(ExtResponseError::Body {
                operation,
                status: ExtStatus::from_code(payload[0]).unwrap(),
                len,
                expected
            }),
            "{operation} {payload:?}"
        );
    };
    body(Get, &[0, 0, 0, 0], 3, "4 bytes of flags and the value");
    body(Ttl, &[0; 8], 7, "8 bytes");
    body(Incr, &[0; 10], 9, "8 bytes");
    body(IncrBy, &[0], 0, "8 bytes");
    body(Exists, &[0, 0], 1, "none");
    body(Get, &[1, 0], 1, "none");
}

// ---------------------------------------------------------------------------
// The probe.

fn offer_bytes(uid: u32) -> Vec<u8> {
    let mut out = Vec::new();
    Offer {
        lowest: 1,
        highest: 1,
    }
    .encode(&mut out, uid);
    out
}

/// A 1.x HAVE answer carrying `payload`, as every 1.x tool writes it.
fn classic_have_answer(uid: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    encode(
        &mut out,
        CommandHeader::response(uid, Operation::Have),
        payload,
    )
    .unwrap();
    out
}

/// Runs the client side of the probe against `answer`, one byte at a time.
fn probe_outcome(uid: u32, answer: &[u8]) -> Result<ProbeOutcome, ExtResponseError> {
    let mut out = Vec::new();
    let mut negotiation = Negotiation::start(uid, &mut out);
    assert_eq!(out, offer_bytes(uid), "start writes the offer");
    let mut buffered = Vec::new();
    for &b in answer {
        buffered.push(b);
        let (consumed, outcome) = negotiation.read(&buffered)?;
        buffered.drain(..consumed);
        if let Some(outcome) = outcome {
            assert!(buffered.is_empty());
            return Ok(outcome);
        }
    }
    panic!("the answer never completed");
}

#[test]
fn the_offer_is_a_72_byte_have_at_patch_level_1() {
    let mut want = hex("00110001 00 00000009 00 03 01 0048");
    want.extend_from_slice(HELLO_MAGIC);
    want.extend_from_slice(&hex("0001 0001"));
    want.extend_from_slice(&[0; 36]);
    assert_eq!(hex::encode(offer_bytes(9)), hex::encode(want));
    assert_eq!(OFFER_LEN, 72);
}

#[test]
fn a_1x_server_reads_the_offer_as_a_have_it_cannot_match() {
    let bytes = offer_bytes(9);
    let mut decoder = Decoder::new(Kind::Request);
    let d = decoder.decode(&bytes).expect("an ordinary 1.x frame");
    assert_eq!(d.consumed, bytes.len());
    let command = d.command.expect("whole");
    let request = Request::parse(command.operation, command.payload).unwrap();
    assert!(matches!(request, Request::Have { id } if id.len() > crate::frame::MAX_ID_LEN));
}

#[test]
fn our_server_recognises_the_offer_and_nothing_else() {
    let got = decode_all(Kind::Request, None, &offer_bytes(9)).unwrap();
    let [Owned::Classic {
        op, level, payload, ..
    }] = got.as_slice()
    else {
        panic!("{got:?}")
    };
    fn command(operation: Operation, payload: &[u8]) -> crate::decoder::Command<'_> {
        crate::decoder::Command {
            kind: Kind::Request,
            request_uid: 9,
            operation,
            payload,
        }
    }
    assert_eq!(
        Offer::recognise(&command(*op, payload), *level),
        Some(Offer {
            lowest: 1,
            highest: 1
        })
    );
    // The same id at the 1.x level (rewritten by a 1.x proxy), as a GET,
    // cut to 64 bytes, or with another magic: an ordinary request.
    assert_eq!(Offer::recognise(&command(*op, payload), PROTO_LEVEL), None);
    assert_eq!(
        Offer::recognise(&command(Operation::Get, payload), *level),
        None
    );
    assert_eq!(
        Offer::recognise(&command(*op, &payload[..64]), *level),
        None
    );
    let mut other = payload.clone();
    other[0] ^= 1;
    assert_eq!(Offer::recognise(&command(*op, &other), *level), None);
}

#[test]
fn our_servers_acceptance_is_40_bytes_and_turns_the_extension_on() {
    let mut answer = Vec::new();
    Accept::new(EXT_VERSION).encode(&mut answer, 9);
    let mut want = hex("00110001 01 00000009 00 03 01 0028");
    want.extend_from_slice(HELLO_MAGIC);
    want.extend_from_slice(&hex("0001 00fa 00008000"));
    assert_eq!(hex::encode(&answer), hex::encode(want));
    assert_eq!(ACCEPT_LEN, 40);
    assert_eq!(
        probe_outcome(9, &answer),
        Ok(ProbeOutcome::Accepted(Accept {
            version: 1,
            max_key_len: 250,
            max_value_len: 32768
        }))
    );
}

#[test]
fn an_original_servers_01_means_stay_on_1x() {
    assert_eq!(
        probe_outcome(9, &classic_have_answer(9, &[1])),
        Ok(ProbeOutcome::Classic)
    );
    // Any one status byte says the same (a 1.x server holding that id).
    assert_eq!(
        probe_outcome(9, &classic_have_answer(9, &[0])),
        Ok(ProbeOutcome::Classic)
    );
}

#[test]
fn a_proxy_without_a_server_says_nothing_about_the_server() {
    for payload in [&[][..], &[2]] {
        assert_eq!(
            probe_outcome(9, &classic_have_answer(9, payload)),
            Ok(ProbeOutcome::NoServer),
            "{payload:?}"
        );
    }
}

/// The acceptance bytes with `edit` applied to its payload, at `level`.
fn edited_acceptance(level: u32, edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut payload = HELLO_MAGIC.to_vec();
    payload.extend_from_slice(&hex("0001 00fa 00008000"));
    edit(&mut payload);
    let mut out = header(level, 1, 9, 0, 3, 1, payload.len() as u16);
    out.extend_from_slice(&payload);
    out
}

fn probe_refusal(answer: &[u8]) -> &'static str {
    match probe_outcome(9, answer) {
        Err(ExtResponseError::Probe { why, .. }) => why,
        other => panic!("expected a Probe error, got {other:?}"),
    }
}

#[test]
fn a_wrong_magic_is_refused() {
    let answer = edited_acceptance(hello::HELLO_LEVEL, |p| p[3] = b'X');
    assert_eq!(probe_refusal(&answer), " (no magic)");
}

#[test]
fn a_version_that_was_not_offered_is_refused() {
    for version in [0u16, 2, 0xffff] {
        let answer = edited_acceptance(HELLO_LEVEL, |p| {
            p[32..34].copy_from_slice(&version.to_be_bytes())
        });
        assert_eq!(
            probe_refusal(&answer),
            " (it names a version that was not offered)"
        );
    }
}

#[test]
fn a_short_answer_is_refused() {
    for len in 2..ACCEPT_LEN {
        let answer = edited_acceptance(HELLO_LEVEL, |p| p.truncate(len));
        assert_eq!(probe_refusal(&answer), " (too short)", "{len} bytes");
    }
}

#[test]
fn an_acceptance_off_the_hello_level_is_refused() {
    let answer = edited_acceptance(PROTO_LEVEL, |_| {});
    assert_eq!(probe_refusal(&answer), " (it is not at the hello level)");
}

#[test]
fn an_answer_to_another_request_is_refused() {
    let mut answer = Vec::new();
    Accept::new(1).encode(&mut answer, 10);
    assert_eq!(probe_refusal(&answer), " (it answers another request)");
    let mut get = Vec::new();
    encode(&mut get, CommandHeader::response(9, Operation::Get), &[1]).unwrap();
    assert_eq!(probe_refusal(&get), " (it answers another request)");
}

#[test]
fn an_extended_frame_before_the_acceptance_breaks_the_probe() {
    let answer = reply_bytes(9, ExtOperation::Exists, &Reply::Found);
    assert_eq!(
        probe_outcome(9, &answer),
        Err(ExtResponseError::Frame(ExtDecodeError::Frame(
            DecodeError::OpClass(1)
        )))
    );
}

// ---------------------------------------------------------------------------
// The frame decoder on mixed streams.

/// 1.x and extended requests, one- and multi-frame, in one stream, with
/// what decoding it must give.
fn mixed_request_stream() -> (Vec<u8>, Vec<Owned>) {
    let mut stream = Vec::new();
    let mut want = Vec::new();
    let classic = |stream: &mut Vec<u8>, uid, op, payload: Vec<u8>| {
        encode(stream, CommandHeader::request(uid, op), &payload).unwrap();
        Owned::Classic {
            uid,
            op,
            level: PROTO_LEVEL,
            payload,
        }
    };
    // A 1.x ADD over two frames.
    let mut add = hex("0000ea60 00000002 6964");
    add.resize(2100, 0x11);
    want.push(classic(&mut stream, 1, Operation::Add, add));
    // The probe: 1.x at patch level 1.
    stream.extend_from_slice(&offer_bytes(2));
    want.push(Owned::Classic {
        uid: 2,
        op: Operation::Have,
        level: HELLO_LEVEL,
        payload: offer_bytes(2)[HEADER_LEN..].to_vec(),
    });
    // An extended SET over two frames.
    let value = vec![0x22; 2100];
    let set = Op::Store {
        mode: StoreMode::Set,
        key: b"key",
        value: &value,
        flags: 3,
        ttl: Ttl::After(5),
    };
    let set_bytes = request_bytes(3, &set);
    let mut set_payload = Vec::new();
    for frame in [
        &set_bytes[..HEADER_LEN + 2048],
        &set_bytes[HEADER_LEN + 2048..],
    ] {
        set_payload.extend_from_slice(&frame[HEADER_LEN..]);
    }
    stream.extend_from_slice(&set_bytes);
    want.push(Owned::Extended {
        uid: 3,
        op: ExtOperation::Set,
        payload: set_payload,
    });
    want.push(classic(&mut stream, 4, Operation::Get, b"id".to_vec()));
    for (uid, op) in [
        (5, Op::Get { key: b"key" }),
        (
            6,
            Op::Counter {
                key: b"n",
                change: CounterChange::Signed(7),
            },
        ),
        (7, Op::Exists { key: b"" }),
    ] {
        let bytes = request_bytes(uid, &op);
        want.push(Owned::Extended {
            uid,
            op: operation_of(&op),
            payload: bytes[HEADER_LEN..].to_vec(),
        });
        stream.extend_from_slice(&bytes);
    }
    want.push(classic(&mut stream, 8, Operation::Remove, b"id".to_vec()));
    (stream, want)
}

#[test]
fn a_mixed_stream_decodes_the_same_split_at_every_byte() {
    let (stream, want) = mixed_request_stream();
    assert_eq!(
        decode_all(Kind::Request, Some(EXT_VERSION), &stream),
        Ok(want.clone())
    );
    for k in 0..=stream.len() {
        let (a, b) = stream.split_at(k);
        assert_eq!(
            decode_pieces(Kind::Request, Some(EXT_VERSION), &[a, b]),
            Ok(want.clone()),
            "split at {k}"
        );
    }
}

#[test]
fn a_mixed_stream_decodes_the_same_one_byte_at_a_time() {
    let (stream, want) = mixed_request_stream();
    let pieces: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(
        decode_pieces(Kind::Request, Some(EXT_VERSION), &pieces),
        Ok(want)
    );
}

#[test]
fn a_mixed_answer_stream_decodes_on_the_client_side() {
    let mut stream = classic_have_answer(1, &[1]);
    let value = vec![0x33; 5000];
    let get = Reply::Value {
        data: &value,
        flags: 9,
    };
    stream.extend_from_slice(&reply_bytes(2, ExtOperation::Get, &get));
    stream.extend_from_slice(&reply_bytes(3, ExtOperation::Incr, &Reply::Unsigned(4)));
    let pieces: Vec<&[u8]> = stream.chunks(7).collect();
    let got = decode_pieces(Kind::Response, Some(EXT_VERSION), &pieces).unwrap();
    assert_eq!(got.len(), 3);
    assert!(
        matches!(&got[0], Owned::Classic { uid: 1, op: Operation::Have, payload, .. } if payload == &[1])
    );
    let Owned::Extended {
        uid: 2,
        op,
        payload,
    } = &got[1]
    else {
        panic!("{:?}", got[1])
    };
    assert_eq!(parse_reply(*op, payload), Ok(get));
    let Owned::Extended {
        uid: 3,
        op,
        payload,
    } = &got[2]
    else {
        panic!("{:?}", got[2])
    };
    assert_eq!(parse_reply(*op, payload), Ok(Reply::Unsigned(4)));
}

#[test]
fn without_the_extension_an_extended_frame_is_op_class_1() {
    let (stream, _) = mixed_request_stream();
    let err = error_at_every_split(Kind::Request, None, &stream);
    assert_eq!(err, ExtDecodeError::Frame(DecodeError::OpClass(1)));
    assert_eq!(FrameDecoder::new(Kind::Request).version(), None);
}

#[test]
fn an_unknown_class_is_refused_with_the_extension_on() {
    let bytes = header(HELLO_LEVEL, 0, 1, 2, 0, 1, 0);
    let err = error_at_every_split(Kind::Request, Some(1), &bytes);
    assert_eq!(err, ExtDecodeError::Frame(DecodeError::OpClass(2)));
}

#[test]
fn an_extended_frame_at_another_level_is_refused() {
    let bytes = header(ext_level(2), 0, 1, EXT_CLASS, 1, 1, 0);
    let err = error_at_every_split(Kind::Request, Some(1), &bytes);
    assert_eq!(
        err,
        ExtDecodeError::Level {
            found: 0x0011_0002,
            expected: 0x0011_0001
        }
    );
    let bytes = header(PROTO_LEVEL, 0, 1, EXT_CLASS, 1, 1, 0);
    assert!(matches!(
        error_at_every_split(Kind::Request, Some(1), &bytes),
        ExtDecodeError::Level {
            found: 0x0011_0000,
            ..
        }
    ));
}

#[test]
fn a_foreign_version_is_the_1x_error_wherever_the_stream_is_split() {
    let bytes = header(0x0012_0001, 0, 1, EXT_CLASS, 1, 1, 0);
    let err = error_at_every_split(Kind::Request, Some(1), &bytes);
    assert_eq!(
        err,
        ExtDecodeError::Frame(DecodeError::Version { found: 0x0012_0001 })
    );
    let bytes = header(HELLO_LEVEL, 2, 1, EXT_CLASS, 1, 1, 0);
    assert_eq!(
        error_at_every_split(Kind::Request, Some(1), &bytes),
        ExtDecodeError::Frame(DecodeError::InvalidKind(2))
    );
}

#[test]
fn unknown_extended_operations_are_refused() {
    for op in [11u8, 12, 0x7f, 0xff] {
        let bytes = header(HELLO_LEVEL, 0, 1, EXT_CLASS, op, 1, 0);
        assert_eq!(
            error_at_every_split(Kind::Request, Some(1), &bytes),
            ExtDecodeError::Operation(op)
        );
    }
}

#[test]
fn bad_extended_header_fields_are_the_1x_errors() {
    let cases = [
        (
            header(HELLO_LEVEL, 0, 1, EXT_CLASS, 4, 2, 0),
            DecodeError::CompleteFlag(2),
        ),
        (
            header(HELLO_LEVEL, 0, 1, EXT_CLASS, 4, 1, 2049),
            DecodeError::DataLen(2049),
        ),
        (
            header(HELLO_LEVEL, 0, 1, EXT_CLASS, 4, 0, 2047),
            DecodeError::ShortFragment(2047),
        ),
        (
            header(HELLO_LEVEL, 1, 1, EXT_CLASS, 4, 1, 0),
            DecodeError::UnexpectedKind {
                expected: Kind::Request,
                found: Kind::Response,
            },
        ),
    ];
    for (bytes, want) in cases {
        assert_eq!(
            error_at_every_split(Kind::Request, Some(1), &bytes),
            ExtDecodeError::Frame(want)
        );
    }
}

/// `frames` full non-final frames of `op`, then a final one of `last` bytes.
fn long_command(class: u8, op: u8, frames: usize, last: u16) -> Vec<u8> {
    let level = if class == EXT_CLASS {
        HELLO_LEVEL
    } else {
        PROTO_LEVEL
    };
    let mut out = Vec::new();
    for _ in 0..frames {
        out.extend_from_slice(&header(level, 0, 1, class, op, 0, 2048));
        out.resize(out.len() + 2048, 0);
    }
    out.extend_from_slice(&header(level, 0, 1, class, op, 1, last));
    out.resize(out.len() + usize::from(last), 0);
    out
}

#[test]
fn an_extended_command_may_reach_17_frames_and_no_further() {
    let full = long_command(EXT_CLASS, 4, 16, 2048);
    let got = decode_all(Kind::Request, Some(1), &full).unwrap();
    assert!(
        matches!(&got[..], [Owned::Extended { payload, .. }] if payload.len() == MAX_EXT_PAYLOAD)
    );
    let full_then_empty = long_command(EXT_CLASS, 4, 17, 0);
    assert!(decode_all(Kind::Request, Some(1), &full_then_empty).is_ok());
    let over = long_command(EXT_CLASS, 4, 17, 1);
    assert_eq!(
        decode_all(Kind::Request, Some(1), &over),
        Err(ExtDecodeError::PayloadTooLong {
            len: MAX_EXT_PAYLOAD + 1
        })
    );
}

#[test]
fn a_1x_command_keeps_the_1x_limit_with_the_extension_on() {
    let over = long_command(0, 0, 16, 1);
    assert_eq!(
        decode_all(Kind::Request, Some(1), &over),
        Err(ExtDecodeError::Frame(DecodeError::PayloadTooLong {
            len: MAX_PAYLOAD + 1
        }))
    );
}

#[test]
fn fragments_of_one_command_must_agree() {
    let first = |class, op| {
        let level = if class == EXT_CLASS {
            HELLO_LEVEL
        } else {
            PROTO_LEVEL
        };
        let mut f = header(level, 0, 1, class, op, 0, 2048);
        f.resize(f.len() + 2048, 0);
        f
    };
    let cases = [
        (
            first(EXT_CLASS, 4),
            header(HELLO_LEVEL, 0, 1, EXT_CLASS, 1, 1, 0),
            ExtDecodeError::OperationMismatch {
                expected: AnyOperation::Extended(ExtOperation::Set),
                found: AnyOperation::Extended(ExtOperation::Get),
            },
        ),
        (
            first(0, 0),
            header(HELLO_LEVEL, 0, 1, EXT_CLASS, 0, 1, 0),
            ExtDecodeError::OperationMismatch {
                expected: AnyOperation::Classic(Operation::Add),
                found: AnyOperation::Extended(ExtOperation::Add),
            },
        ),
        (
            first(0, 1),
            header(PROTO_LEVEL, 0, 1, 0, 2, 1, 0),
            ExtDecodeError::Frame(DecodeError::OperationMismatch {
                expected: Operation::Get,
                found: Operation::Remove,
            }),
        ),
        (
            first(EXT_CLASS, 4),
            header(HELLO_LEVEL, 0, 2, EXT_CLASS, 4, 1, 0),
            ExtDecodeError::Frame(DecodeError::UidMismatch {
                expected: 1,
                found: 2,
            }),
        ),
    ];
    for (mut bytes, second, want) in cases {
        bytes.extend_from_slice(&second);
        assert_eq!(error_at_every_split(Kind::Request, Some(1), &bytes), want);
    }
}

#[test]
fn a_truncated_frame_waits_and_consumes_nothing() {
    let bytes = request_bytes(1, &Op::Get { key: b"key" });
    for n in 0..bytes.len() {
        let mut decoder = FrameDecoder::new(Kind::Request);
        decoder.enable(1);
        let d = decoder.decode(&bytes[..n]).unwrap();
        assert_eq!((d.consumed, d.incoming), (0, None), "{n} bytes");
    }
}

// ---------------------------------------------------------------------------
// The client side.

#[test]
fn the_client_sends_requests_and_reads_answers_by_tag() {
    let mut client = ExtClient::new(Accept::new(EXT_VERSION));
    let mut out = Vec::new();
    let op = Op::Counter {
        key: b"n",
        change: CounterChange::Signed(-3),
    };
    assert_eq!(client.encode(77, &op, &mut out), Ok(ExtOperation::IncrBy));
    assert_eq!(out, request_bytes(77, &op));
    let answer = reply_bytes(77, ExtOperation::IncrBy, &Reply::Signed(-3));
    let got = client.decode_reply(&answer).unwrap();
    assert_eq!(got.consumed, answer.len());
    assert_eq!(
        got.reply,
        Some((77, ExtOperation::IncrBy, Reply::Signed(-3)))
    );
}

#[test]
fn the_client_keeps_to_the_servers_limits() {
    let mut client = ExtClient::new(Accept {
        version: 1,
        max_key_len: 4,
        max_value_len: 2,
    });
    assert_eq!(client.accepted().max_key_len, 4);
    let mut out = Vec::new();
    assert_eq!(
        client.encode(1, &Op::Get { key: b"12345" }, &mut out),
        Err(ExtEncodeError::KeyTooLong { len: 5 })
    );
    let store = Op::Store {
        mode: StoreMode::Set,
        key: b"k",
        value: b"abc",
        flags: 0,
        ttl: Ttl::Unlimited,
    };
    assert_eq!(
        client.encode(1, &store, &mut out),
        Err(ExtEncodeError::ValueTooLong { len: 3 })
    );
    assert!(out.is_empty());
}

#[test]
fn the_client_refuses_a_1x_answer_and_a_broken_reply() {
    let mut client = ExtClient::new(Accept::new(EXT_VERSION));
    assert_eq!(
        client.decode_reply(&classic_have_answer(1, &[1])),
        Err(ExtResponseError::Classic(Operation::Have))
    );
    let mut client = ExtClient::new(Accept::new(EXT_VERSION));
    let mut bad = Vec::new();
    encode_extended(
        &mut bad,
        Kind::Response,
        1,
        1,
        ExtOperation::Ttl,
        &[&[0, 1]],
    )
    .unwrap();
    assert!(matches!(
        client.decode_reply(&bad),
        Err(ExtResponseError::Body { .. })
    ));
}

// ---------------------------------------------------------------------------
// Properties.

fn ttl_strategy() -> impl Strategy<Value = Ttl> {
    prop_oneof![
        Just(Ttl::Unlimited),
        any::<u64>().prop_map(Ttl::After),
        any::<u64>().prop_map(Ttl::AtUnix),
        Just(Ttl::Expired),
    ]
}

/// The owned parts of an arbitrary valid op; [`build`] borrows them.
#[derive(Debug, Clone)]
struct OpSpec {
    which: u8,
    key: Vec<u8>,
    value: Vec<u8>,
    flags: u32,
    ttl: Ttl,
    delta: u64,
    signed: i64,
    create: Option<(u64, Ttl)>,
}

fn op_spec() -> impl Strategy<Value = OpSpec> {
    let value = prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..=2100),
        1 => (MAX_VALUE_LEN - 2..=MAX_VALUE_LEN).prop_map(|n| vec![0xa5; n]),
    ];
    (
        0u8..11,
        proptest::collection::vec(any::<u8>(), 0..=MAX_KEY_LEN),
        value,
        any::<u32>(),
        ttl_strategy(),
        any::<u64>(),
        any::<i64>(),
        proptest::option::of((any::<u64>(), ttl_strategy())),
    )
        .prop_map(
            |(which, key, value, flags, ttl, delta, signed, create)| OpSpec {
                which,
                key,
                value,
                flags,
                ttl,
                delta,
                signed,
                create,
            },
        )
}

fn build(spec: &OpSpec) -> Op<'_> {
    let key = &spec.key[..];
    let store = |mode| Op::Store {
        mode,
        key,
        value: &spec.value,
        flags: spec.flags,
        ttl: spec.ttl,
    };
    let unsigned = |decrement| Op::Counter {
        key,
        change: CounterChange::Unsigned {
            decrement,
            delta: spec.delta,
            create: spec.create,
        },
    };
    match spec.which {
        0 => store(StoreMode::Add),
        1 => Op::Get { key },
        2 => Op::Delete { key },
        3 => Op::Exists { key },
        4 => store(StoreMode::Set),
        5 => store(StoreMode::Replace),
        6 => Op::Touch { key, ttl: spec.ttl },
        7 => Op::Ttl { key },
        8 => unsigned(false),
        9 => unsigned(true),
        _ => Op::Counter {
            key,
            change: CounterChange::Signed(spec.signed),
        },
    }
}

/// An arbitrary reply, valid or not for the operation it is paired with.
fn reply_strategy() -> impl Strategy<Value = (u8, Vec<u8>, u32, u64, i64)> {
    (
        0u8..14,
        proptest::collection::vec(any::<u8>(), 0..=3000),
        any::<u32>(),
        any::<u64>(),
        any::<i64>(),
    )
}

fn reply_of(r: &(u8, Vec<u8>, u32, u64, i64)) -> Reply<'_> {
    match r.0 {
        0 => Reply::Value {
            data: &r.1,
            flags: r.2,
        },
        1 => Reply::Found,
        2 => Reply::NotFound,
        3 => Reply::Stored,
        4 => Reply::NotStored,
        5 => Reply::Deleted,
        6 => Reply::Touched,
        7 => Reply::Remaining(r.3),
        8 => Reply::Signed(r.4),
        9 => Reply::Unsigned(r.3),
        10 => Reply::NotNumeric,
        11 => Reply::Overflow,
        12 => Reply::TooLarge,
        _ => Reply::Unavailable,
    }
}

/// Byte soup with a good chance of plausible headers in it, so that the
/// decoder gets past the first checks.
fn hostile_stream() -> impl Strategy<Value = Vec<u8>> {
    let plausible = (
        prop_oneof![
            Just(HELLO_LEVEL),
            Just(PROTO_LEVEL),
            Just(ext_level(2)),
            any::<u32>()
        ],
        0u8..3,
        0u32..3,
        0u8..3,
        prop_oneof![0u8..12, any::<u8>()],
        0u8..3,
        prop_oneof![Just(2048u16), 0u16..40, any::<u16>()],
        proptest::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(level, kind, uid, class, op, complete, len, tail)| {
            let mut f = header(level, kind, uid, class, op, complete, len);
            let data = usize::from(len).min(2048);
            f.resize(f.len() + data, 0);
            f.extend_from_slice(&tail);
            f
        });
    proptest::collection::vec(
        prop_oneof![
            3 => plausible,
            1 => proptest::collection::vec(any::<u8>(), 0..64),
        ],
        0..24,
    )
    .prop_map(|chunks| chunks.concat())
}

proptest! {
    #[test]
    fn arbitrary_valid_requests_round_trip(spec in op_spec(), uid in any::<u32>(), cut in 1usize..3000) {
        let op = build(&spec);
        let bytes = request_bytes(uid, &op);
        let cut = cut.min(bytes.len());
        let got = decode_pieces(Kind::Request, Some(EXT_VERSION), &[&bytes[..cut], &bytes[cut..]]).unwrap();
        let [Owned::Extended { uid: got_uid, op: operation, payload }] = got.as_slice() else {
            panic!("{got:?}")
        };
        prop_assert_eq!(*got_uid, uid);
        prop_assert_eq!(*operation, operation_of(&op));
        prop_assert_eq!(ExtRequest::parse(*operation, payload), Ok(ExtRequest::Run(op)));
    }

    #[test]
    fn arbitrary_replies_round_trip_or_are_refused(
        which in 0u8..11,
        r in reply_strategy(),
        uid in any::<u32>(),
    ) {
        let operation = ExtOperation::ALL[usize::from(which)];
        let reply = reply_of(&r);
        let mut out = Vec::new();
        match encode_reply(&mut out, uid, EXT_VERSION, operation, &reply) {
            Err(e) => {
                prop_assert_eq!(e, ExtEncodeError::WrongReply { operation });
                prop_assert!(out.is_empty());
            }
            Ok(()) => {
                let mut client = ExtClient::new(Accept::new(EXT_VERSION));
                let got = client.decode_reply(&out).unwrap();
                prop_assert_eq!(got.consumed, out.len());
                prop_assert_eq!(got.reply, Some((uid, operation, reply)));
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_frame_decoder(
        bytes in hostile_stream(),
        kind in prop_oneof![Just(Kind::Request), Just(Kind::Response)],
        enabled in any::<bool>(),
        piece in 1usize..100,
    ) {
        let version = enabled.then_some(EXT_VERSION);
        let pieces: Vec<&[u8]> = bytes.chunks(piece).collect();
        let mut decoder = FrameDecoder::new(kind);
        if let Some(v) = version {
            decoder.enable(v);
        }
        let mut buffered = Vec::new();
        let mut out = Vec::new();
        for p in pieces {
            if feed(&mut decoder, &mut buffered, p, &mut out).is_err() {
                break;
            }
            prop_assert!(buffered.len() < HEADER_LEN + 2048, "a whole frame left unread");
        }
        for c in &out {
            match c {
                Owned::Extended { op, payload, .. } => {
                    prop_assert!(payload.len() <= MAX_EXT_PAYLOAD);
                    let _ = ExtRequest::parse(*op, payload);
                    let _ = parse_reply(*op, payload);
                }
                Owned::Classic { payload, .. } => prop_assert!(payload.len() <= MAX_PAYLOAD),
            }
        }
    }

    #[test]
    fn arbitrary_payloads_never_panic_the_parsers(
        which in 0u8..11,
        payload in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let operation = ExtOperation::ALL[usize::from(which)];
        let _ = ExtRequest::parse(operation, &payload);
        let _ = parse_reply(operation, &payload);
        let _ = Accept::parse(&payload);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_probe(bytes in hostile_stream()) {
        let mut out = Vec::new();
        let mut negotiation = Negotiation::start(1, &mut out);
        let _ = negotiation.read(&bytes);
    }
}
