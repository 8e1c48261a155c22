//! Byte-exact answers (taken from memcached 1.6.18), splits, and the
//! round trip of both clients through the server over the Model.

use dc_ops::model::Model;
use dc_ops::{ClientCodec, CounterChange, Execute, Op, Reply, ServerCodec, Step, StoreMode, Ttl};
use proptest::prelude::*;

use crate::{BinaryClient, MemcacheServer, ProtocolError, TextClient};

/// What a connection fed `chunks` in turn answers: the bytes, whether it
/// asked to close, and the error that ended it.
fn drive(model: &mut Model, chunks: &[&[u8]]) -> (Vec<u8>, bool, Option<ProtocolError>) {
    let mut server = MemcacheServer::new();
    let mut input = Vec::new();
    let mut out = Vec::new();
    for chunk in chunks {
        input.extend_from_slice(chunk);
        loop {
            match server.serve(&input, model, &mut out) {
                Ok(Step::Incomplete) => break,
                Ok(Step::Consumed {
                    consumed, close, ..
                }) => {
                    assert!(consumed > 0);
                    input.drain(..consumed);
                    if close {
                        return (out, true, None);
                    }
                }
                Err(e) => return (out, false, Some(e)),
            }
        }
    }
    (out, false, None)
}

fn text(input: &[u8]) -> Vec<u8> {
    drive(&mut Model::new(), &[input]).0
}

fn req(op: u8, key: &[u8], extras: &[u8], value: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, op];
    v.extend_from_slice(&(key.len() as u16).to_be_bytes());
    v.push(extras.len() as u8);
    v.extend_from_slice(&[0, 0, 0]);
    v.extend_from_slice(&((extras.len() + key.len() + value.len()) as u32).to_be_bytes());
    v.extend_from_slice(&0x11223344u32.to_be_bytes());
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(extras);
    v.extend_from_slice(key);
    v.extend_from_slice(value);
    v
}

fn res(op: u8, status: u16, key: &[u8], extras: &[u8], value: &[u8]) -> Vec<u8> {
    let mut v = vec![0x81, op];
    v.extend_from_slice(&(key.len() as u16).to_be_bytes());
    v.push(extras.len() as u8);
    v.push(0);
    v.extend_from_slice(&status.to_be_bytes());
    v.extend_from_slice(&((extras.len() + key.len() + value.len()) as u32).to_be_bytes());
    v.extend_from_slice(&0x11223344u32.to_be_bytes());
    v.extend_from_slice(&[0; 8]);
    v.extend_from_slice(extras);
    v.extend_from_slice(key);
    v.extend_from_slice(value);
    v
}

#[test]
fn text_answers_match_memcached() {
    let cases: &[(&[u8], &[u8])] = &[
        (b"set k 0 299 3 \r\nabc\r\nget k\r\n", b"STORED\r\nVALUE k 0 3\r\nabc\r\nEND\r\n"),
        (b"set  k  7  0  3  \r\nabc\r\ngets k k\r\n", b"STORED\r\nVALUE k 7 3 0\r\nabc\r\nVALUE k 7 3 0\r\nabc\r\nEND\r\n"),
        (b"set k 0 0 3\r\nabcd\r\nget k\r\n", b"CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n"),
        (b"set k 0 0 3\r\nabcXYget k\r\n", b"CLIENT_ERROR bad data chunk\r\nEND\r\n"),
        (b"set k 0 0 3 noreply\r\nabcd\r\n", b"ERROR\r\n"),
        (b"set k x 0 3\r\nabc\r\n", b"CLIENT_ERROR bad command line format\r\nERROR\r\n"),
        (b"set k 0 0 -1\r\nabc\r\n", b"CLIENT_ERROR bad command line format\r\nERROR\r\n"),
        (b"set k x 0 1 noreply\r\nx\r\n", b"ERROR\r\n"),
        (b"set k 0 0\r\nabc\r\n", b"ERROR\r\nERROR\r\n"),
        (b"set k 0 0 3 foo\r\nabc\r\n", b"STORED\r\n"),
        (b"set k 0 0 3 noreply\r\nabc\r\nget k\r\n", b"VALUE k 0 3\r\nabc\r\nEND\r\n"),
        (b"set f 4294967296 0 1\r\nx\r\nget f\r\n", b"STORED\r\nVALUE f 0 1\r\nx\r\nEND\r\n"),
        (b"set k 0 -1 1\r\nx\r\nget k\r\n", b"STORED\r\nEND\r\n"),
        (b"set k 0 0 0\r\n\r\nget k\r\n", b"STORED\r\nVALUE k 0 0\r\n\r\nEND\r\n"),
        (b"add k 0 0 1\r\ny\r\nadd k 0 0 1\r\ny\r\nreplace zz 0 0 1\r\ny\r\n", b"STORED\r\nNOT_STORED\r\nNOT_STORED\r\n"),
        (b"delete k x\r\n", b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"),
        (b"delete k 1\r\n", b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"),
        (b"delete k x noreply\r\ndelete k noreply\r\n", b""),
        (b"delete k 0\r\nset k 0 0 1\r\nx\r\ndelete k 0\r\n", b"NOT_FOUND\r\nSTORED\r\nDELETED\r\n"),
        (b"delete\r\ndelete k 0 noreply x\r\n", b"ERROR\r\nERROR\r\n"),
        (b"get\r\ngets\r\n", b"ERROR\r\nERROR\r\n"),
        (b"set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\nget n\r\nincr n x\r\nincr n -1\r\nincr n\r\nincr n 18446744073709551616\r\n",
         b"STORED\r\n15\r\n0\r\nVALUE n 0 2\r\n0 \r\nEND\r\nCLIENT_ERROR invalid numeric delta argument\r\nCLIENT_ERROR invalid numeric delta argument\r\nERROR\r\nCLIENT_ERROR invalid numeric delta argument\r\n"),
        (b"incr n 1\r\nset n 0 0 3\r\nabc\r\nincr n 1\r\n", b"NOT_FOUND\r\nSTORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
        (b"set n 0 0 1\r\n5\r\nincr n +2\r\nincr n -0\r\nincr n 1 noreply x\r\n", b"STORED\r\n7\r\n7\r\nERROR\r\n"),
        (b"set k 0 0 1\r\nx\r\ntouch k 10\r\ntouch zz 10\r\ntouch k x\r\ntouch k\r\n", b"STORED\r\nTOUCHED\r\nNOT_FOUND\r\nCLIENT_ERROR invalid exptime argument\r\nERROR\r\n"),
        (b"version\r\nversion x\r\n", b"VERSION 1.6.0\r\nVERSION 1.6.0\r\n"),
        (b"foo\r\n\r\nGET k\r\nstats foo\r\n", b"ERROR\r\nERROR\r\nERROR\r\nERROR\r\n"),
        (b"get k\n  get k \r\n", b"END\r\nEND\r\n"),
        (b"set k 0 0 1\nx\nget k\n", b"CLIENT_ERROR bad data chunk\r\nERROR\r\n"),
    ];
    for (input, want) in cases {
        assert_eq!(
            String::from_utf8_lossy(&text(input)),
            String::from_utf8_lossy(want),
            "for {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn text_keys_are_checked() {
    let long = [b'a'; 251];
    let mut get = b"set k 0 0 1\r\nx\r\nget k ".to_vec();
    get.extend_from_slice(&long);
    get.extend_from_slice(b"\r\n");
    // The whole get is refused: no VALUE for the good key (as memcached).
    assert_eq!(
        text(&get),
        b"STORED\r\nCLIENT_ERROR bad command line format\r\n"
    );
    let mut set = b"set ".to_vec();
    set.extend_from_slice(&long);
    set.extend_from_slice(b" 0 0 1\r\nx\r\n");
    assert_eq!(
        text(&set),
        b"CLIENT_ERROR bad command line format\r\nERROR\r\n"
    );
    // Deliberately stricter than memcached: no control bytes in keys.
    assert_eq!(
        text(b"get a\x01b\r\n"),
        b"CLIENT_ERROR bad command line format\r\n"
    );
    let mut ok = b"get ".to_vec();
    ok.extend_from_slice(&long[..250]);
    ok.extend_from_slice(b"\r\n");
    assert_eq!(text(&ok), b"END\r\n");
}

#[test]
fn quit_closes_without_an_answer() {
    let (out, closed, err) = drive(&mut Model::new(), &[b"version\r\nquit\r\nversion\r\n"]);
    assert_eq!(out, b"VERSION 1.6.0\r\n");
    assert!(closed && err.is_none());
}

#[test]
fn a_long_line_without_newline_closes_silently() {
    let (out, _, err) = drive(&mut Model::new(), &[&[b'a'; 2049]]);
    assert!(out.is_empty());
    assert_eq!(err, Some(ProtocolError::LineTooLong { limit: 2048 }));
    // Exactly 2048 bytes without a newline: still waiting.
    let (_, _, err) = drive(&mut Model::new(), &[&[b'a'; 2048]]);
    assert_eq!(err, None);
    // A long multi-key get is taken.
    let mut get = b"get".to_vec();
    for _ in 0..1100 {
        get.extend_from_slice(b" a");
    }
    get.extend_from_slice(b"\r\n");
    assert_eq!(text(&get), b"END\r\n");
}

#[test]
fn a_huge_set_is_skipped_in_pieces_and_deletes_the_old_value() {
    let mut model = Model::new();
    let value = vec![b'y'; 2_000_000];
    let mut chunks: Vec<&[u8]> = vec![b"set k 0 0 1\r\nx\r\nset k 0 0 2000000\r\n"];
    chunks.extend(value.chunks(4096));
    chunks.push(b"\r\nget k\r\nadd j 0 0 40000 noreply\r\n");
    let mut server = MemcacheServer::new();
    let mut out = Vec::new();
    let mut skipped_steps = 0;
    let mut input = Vec::new();
    let mut max_buffered = 0;
    for chunk in &chunks {
        input.extend_from_slice(chunk);
        max_buffered = max_buffered.max(input.len());
        while let Step::Consumed {
            consumed, requests, ..
        } = server.serve(&input, &mut model, &mut out).unwrap()
        {
            if requests == 0 {
                skipped_steps += 1;
            }
            input.drain(..consumed);
        }
    }
    assert_eq!(
        out,
        b"STORED\r\nSERVER_ERROR object too large for cache\r\nEND\r\n".as_slice()
    );
    assert!(
        skipped_steps > 400,
        "skipped as it arrived: {skipped_steps}"
    );
    assert!(max_buffered < 8192, "never buffered: {max_buffered}");
    assert!(server.in_request(), "still skipping the add's value");
}

#[test]
fn binary_answers_match_memcached() {
    let fl = [0, 0, 0, 5, 0, 0, 0, 0];
    let incr = |delta: u64, initial: u64, exp: u32| {
        let mut e = delta.to_be_bytes().to_vec();
        e.extend_from_slice(&initial.to_be_bytes());
        e.extend_from_slice(&exp.to_be_bytes());
        e
    };
    let cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (req(0x01, b"bk", &fl, b"val"), res(0x01, 0, b"", b"", b"")),
        (
            req(0x0c, b"bk", b"", b""),
            res(0x0c, 0, b"bk", &[0, 0, 0, 5], b"val"),
        ),
        (
            req(0x00, b"bk", b"", b""),
            res(0x00, 0, b"", &[0, 0, 0, 5], b"val"),
        ),
        (
            req(0x00, b"nokey", b"", b""),
            res(0x00, 1, b"", b"", b"Not found"),
        ),
        (
            req(0x0c, b"nokey", b"", b""),
            res(0x0c, 1, b"nokey", b"", b""),
        ),
        (
            req(0x02, b"bk", &fl, b"v"),
            res(0x02, 2, b"", b"", b"Data exists for key."),
        ),
        (
            req(0x03, b"nokey", &fl, b"v"),
            res(0x03, 1, b"", b"", b"Not found"),
        ),
        (
            req(0x04, b"nokey", b"", b""),
            res(0x04, 1, b"", b"", b"Not found"),
        ),
        (
            req(0x05, b"bk", &incr(1, 0, u32::MAX), b""),
            res(
                0x05,
                6,
                b"",
                b"",
                b"Non-numeric server-side value for incr or decr",
            ),
        ),
        (
            req(0x05, b"nokey", &incr(1, 0, u32::MAX), b""),
            res(0x05, 1, b"", b"", b"Not found"),
        ),
        (
            req(0x05, b"ctr", &incr(1, 42, 0), b""),
            res(0x05, 0, b"", b"", &42u64.to_be_bytes()),
        ),
        (
            req(0x05, b"ctr", &incr(1, 42, 0), b""),
            res(0x05, 0, b"", b"", &43u64.to_be_bytes()),
        ),
        (
            req(0x06, b"ctr", &incr(100, 0, 0), b""),
            res(0x06, 0, b"", b"", &0u64.to_be_bytes()),
        ),
        (
            req(0x50, b"", b"", b"abc"),
            res(0x50, 0x81, b"", b"", b"Unknown command"),
        ),
        (req(0x0b, b"", b"", b""), res(0x0b, 0, b"", b"", b"1.6.0")),
        (req(0x0a, b"", b"", b""), res(0x0a, 0, b"", b"", b"")),
        (
            [
                req(0x09, b"bk", b"", b""),
                req(0x09, b"nokey", b"", b""),
                req(0x0d, b"bk", b"", b""),
                req(0x0d, b"nokey", b"", b""),
                req(0x0a, b"", b"", b""),
            ]
            .concat(),
            [
                res(0x09, 0, b"", &[0, 0, 0, 5], b"val"),
                res(0x0d, 0, b"bk", &[0, 0, 0, 5], b"val"),
                res(0x0a, 0, b"", b"", b""),
            ]
            .concat(),
        ),
        (
            [req(0x11, b"q", &fl, b"1"), req(0x0a, b"", b"", b"")].concat(),
            res(0x0a, 0, b"", b"", b""),
        ),
        (
            [req(0x14, b"nokey", b"", b""), req(0x0a, b"", b"", b"")].concat(),
            [
                res(0x14, 1, b"", b"", b"Not found"),
                res(0x0a, 0, b"", b"", b""),
            ]
            .concat(),
        ),
        (
            [req(0x12, b"bk", &fl, b"v"), req(0x0a, b"", b"", b"")].concat(),
            [
                res(0x12, 2, b"", b"", b"Data exists for key."),
                res(0x0a, 0, b"", b"", b""),
            ]
            .concat(),
        ),
        (
            [
                req(0x1c, b"bk", &100u32.to_be_bytes(), b""),
                req(0x1c, b"nokey", &100u32.to_be_bytes(), b""),
            ]
            .concat(),
            [
                res(0x1c, 0, b"", &[0, 0, 0, 5], b""),
                res(0x1c, 1, b"", b"", b"Not found"),
            ]
            .concat(),
        ),
        (
            [
                req(0x01, b"big", &fl, &vec![b'x'; 1024 * 1024]),
                req(0x0a, b"", b"", b""),
            ]
            .concat(),
            [
                res(0x01, 3, b"", b"", b"Too large."),
                res(0x0a, 0, b"", b"", b""),
            ]
            .concat(),
        ),
    ];
    let mut model = Model::new();
    for (input, want) in cases {
        let (out, _, err) = drive(&mut model, &[&input]);
        assert_eq!(err, None);
        assert_eq!(out, want, "for {:02x?}", &input[..24]);
    }
}

#[test]
fn binary_refusals_close_like_memcached() {
    let fl = [0u8; 8];
    for input in [
        req(0x01, b"bk", b"1234", b"val"),
        req(0x00, b"bk", b"1234", b""),
        req(0x04, b"bk", b"1234", b""),
        req(0x00, b"", b"", b""),
        req(0x00, &[b'a'; 251], b"", b""),
        req(0x01, b"", &fl, b"v"),
        req(0x05, b"ctr", b"12345678", b""),
    ] {
        let (out, closed, err) = drive(&mut Model::new(), &[&input]);
        assert_eq!(out, res(input[1], 4, b"", b"", b"Invalid arguments"));
        assert!(closed && err.is_none());
    }
    let (out, closed, _) = drive(&mut Model::new(), &[&req(0x17, b"", b"", b"")]);
    assert!(out.is_empty() && closed);
    let (out, closed, _) = drive(&mut Model::new(), &[&req(0x07, b"", b"", b"")]);
    assert_eq!(out, res(0x07, 0, b"", b"", b""));
    assert!(closed);
    let noop = req(0x0a, b"", b"", b"");
    let (out, _, err) = drive(&mut Model::new(), &[&noop, &[0; 24]]);
    assert_eq!(out, res(0x0a, 0, b"", b"", b""));
    assert_eq!(err, Some(ProtocolError::BadMagic { found: 0 }));
    let mut huge = req(0x01, b"bk", &fl, b"");
    huge[8..12].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    let (_, _, err) = drive(&mut Model::new(), &[&huge]);
    assert!(matches!(err, Some(ProtocolError::BodyTooLong { .. })));
}

#[test]
fn binary_stats_end_with_an_empty_packet() {
    let (out, _, _) = drive(&mut Model::new(), &[&req(0x10, b"", b"", b"")]);
    assert!(out.starts_with(&res(0x10, 0, b"pid", b"", b"1")));
    assert!(out.ends_with(&res(0x10, 0, b"", b"", b"")));
    let (text_out, _, _) = drive(&mut Model::new(), &[b"stats\r\n"]);
    let text_out = String::from_utf8(text_out).unwrap();
    assert!(text_out.starts_with("STAT pid 1\r\nSTAT uptime 0\r\nSTAT time 1700000000\r\nSTAT version 1.6.0\r\nSTAT pointer_size 64\r\nSTAT rusage_user 0.000000\r\n"));
    assert!(text_out.ends_with("STAT threads 1\r\nEND\r\n"));
    assert_eq!(text_out.matches("STAT ").count(), 22);
}

#[test]
fn protocol_is_chosen_by_the_first_byte() {
    let mut server = MemcacheServer::new();
    let mut model = Model::new();
    let mut out = Vec::new();
    assert_eq!(server.protocol(), dc_ops::Protocol::MemcacheText);
    server.serve(&[0x80], &mut model, &mut out).unwrap();
    assert_eq!(server.protocol(), dc_ops::Protocol::MemcacheBinary);
    // Text after binary is a bad magic: the choice holds.
    let err = server
        .serve(b"version\r\n", &mut model, &mut out)
        .unwrap_err();
    assert_eq!(err, ProtocolError::BadMagic { found: b'v' });
}

fn pipelined_text() -> Vec<u8> {
    let mut v =
        b"set k 0 0 3 \r\nabc\r\nget k nokey k\r\nset n 0 0 2 noreply\r\n10\r\nincr n 5\r\n"
            .to_vec();
    v.extend_from_slice(b"set k 0 0 3\r\nabcd\r\nset big 0 0 40000\r\n");
    v.extend_from_slice(&vec![b'z'; 40000]);
    v.extend_from_slice(b"\r\ndelete k 0\r\ntouch n 10\r\nbogus\r\nversion\r\nstats\r\nquit\r\n");
    v
}

fn pipelined_binary() -> Vec<u8> {
    let fl = [0, 0, 0, 9, 0, 0, 0, 0];
    [
        req(0x11, b"a", &fl, b"one"),
        req(0x0d, b"a", b"", b""),
        req(0x0d, b"b", b"", b""),
        req(0x09, b"a", b"", b""),
        req(0x01, b"big", &fl, &vec![b'q'; 40000]),
        req(0x14, b"b", b"", b""),
        req(0x77, b"", b"", b"xyz"),
        req(0x10, b"", b"", b""),
        req(0x0a, b"", b"", b""),
        req(0x07, b"", b"", b""),
    ]
    .concat()
}

#[test]
fn every_split_of_a_pipelined_stream_answers_the_same() {
    for stream in [pipelined_text(), pipelined_binary()] {
        let whole = drive(&mut Model::new(), &[&stream]);
        assert!(whole.1, "ends in quit");
        // Every single split point (two pieces), near both ends and around
        // the big value densely, sparsely elsewhere.
        for at in (0..stream.len()).filter(|i| i % 97 == 0 || *i < 400 || *i > stream.len() - 600) {
            let (a, b) = stream.split_at(at);
            assert_eq!(drive(&mut Model::new(), &[a, b]), whole, "split at {at}");
        }
        // Byte by byte.
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(drive(&mut Model::new(), &bytes), whole);
    }
}

/// Keys for a client: text keys are what the text wire can carry; binary
/// keys are any bytes, spaces and NULs included (ProFTPD's TPL keys).
fn key(binary: bool) -> BoxedStrategy<Vec<u8>> {
    let text = prop::sample::select(vec![
        b"a".to_vec(),
        b"b".to_vec(),
        b"mod_ssl-sess:00ff".to_vec(),
    ]);
    if !binary {
        return text.boxed();
    }
    prop_oneof![
        text,
        Just(b"a b".to_vec()),
        Just(b"tpl\x00\x20\x00\x00\x00s\x00".to_vec()),
        prop::collection::vec(any::<u8>(), 1..=250),
    ]
    .boxed()
}

fn ttl() -> impl Strategy<Value = Ttl> {
    prop_oneof![
        Just(Ttl::Unlimited),
        (1u64..100).prop_map(|s| Ttl::After(s * 1000)),
        (1_800_000_000u64..1_900_000_000).prop_map(Ttl::AtUnix),
        Just(Ttl::Expired),
    ]
}

#[derive(Debug, Clone)]
enum OwnedOp {
    Get(Vec<u8>),
    Store(StoreMode, Vec<u8>, Vec<u8>, u32, Ttl),
    Delete(Vec<u8>),
    Touch(Vec<u8>, Ttl),
    Counter(Vec<u8>, bool, u64, Option<(u64, Ttl)>),
}

impl OwnedOp {
    fn op(&self) -> Op<'_> {
        match self {
            OwnedOp::Get(key) => Op::Get { key },
            OwnedOp::Store(mode, key, value, flags, ttl) => Op::Store {
                mode: *mode,
                key,
                value,
                flags: *flags,
                ttl: *ttl,
            },
            OwnedOp::Delete(key) => Op::Delete { key },
            OwnedOp::Touch(key, ttl) => Op::Touch { key, ttl: *ttl },
            OwnedOp::Counter(key, decrement, delta, create) => Op::Counter {
                key,
                change: CounterChange::Unsigned {
                    decrement: *decrement,
                    delta: *delta,
                    create: *create,
                },
            },
        }
    }
}

fn owned_op(creating: bool) -> impl Strategy<Value = OwnedOp> {
    let mode = prop::sample::select(vec![StoreMode::Set, StoreMode::Add, StoreMode::Replace]);
    let value = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        (0u64..1000).prop_map(|n| n.to_string().into_bytes()),
        Just(b"18446744073709551615".to_vec()),
    ];
    // Only the binary wire creates counters, and only it carries any key.
    let create = if creating {
        prop::option::of((any::<u64>(), ttl())).boxed()
    } else {
        Just(None).boxed()
    };
    prop_oneof![
        key(creating).prop_map(OwnedOp::Get),
        (mode, key(creating), value, any::<u32>(), ttl())
            .prop_map(|(m, k, v, f, t)| OwnedOp::Store(m, k, v, f, t)),
        key(creating).prop_map(OwnedOp::Delete),
        (key(creating), ttl()).prop_map(|(k, t)| OwnedOp::Touch(k, t)),
        (
            key(creating),
            any::<bool>(),
            prop_oneof![0u64..10, any::<u64>()],
            create
        )
            .prop_map(|(k, d, n, c)| OwnedOp::Counter(k, d, n, c)),
    ]
}

/// Runs `ops` through `client` → server over a Model → `client`, and
/// directly on another Model: the replies must agree.
fn round_trip<C: ClientCodec>(mut client: C, ops: &[OwnedOp]) {
    let mut direct = Model::new();
    let mut served = Model::new();
    let mut server = MemcacheServer::new();
    for (tag, owned) in ops.iter().enumerate() {
        let op = owned.op();
        let mut want = String::new();
        direct.execute(&op, &mut |r| want = format!("{r:?}"));
        let mut request = Vec::new();
        client.encode(tag as u32, &op, &mut request).unwrap();
        let mut out = Vec::new();
        let step = server.serve(&request, &mut served, &mut out).unwrap();
        assert_eq!(
            step,
            Step::Consumed {
                consumed: request.len(),
                requests: 1,
                close: false
            }
        );
        let (used, got_tag, reply) = client.decode_reply(&out, op.kind()).unwrap().unwrap();
        assert_eq!(used, out.len());
        assert_eq!(got_tag, tag as u32);
        assert_eq!(format!("{reply:?}"), want, "for {op:?}");
        direct.now += 700;
        served.now += 700;
    }
}

proptest! {
    #[test]
    fn text_client_through_the_server_agrees_with_the_model(ops in prop::collection::vec(owned_op(false), 1..40)) {
        round_trip(TextClient::new(), &ops);
    }

    #[test]
    fn binary_client_through_the_server_agrees_with_the_model(ops in prop::collection::vec(owned_op(true), 1..40)) {
        round_trip(BinaryClient::new(), &ops);
    }

    #[test]
    fn random_splits_answer_as_the_whole(cuts in prop::collection::vec(1usize..3000, 0..30), binary in any::<bool>()) {
        let stream = if binary { pipelined_binary() } else { pipelined_text() };
        let whole = drive(&mut Model::new(), &[&stream]);
        let mut pieces = Vec::new();
        let mut rest = &stream[..];
        for cut in cuts {
            let (a, b) = rest.split_at(cut.min(rest.len()));
            pieces.push(a);
            rest = b;
        }
        pieces.push(rest);
        prop_assert_eq!(drive(&mut Model::new(), &pieces), whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600), piece in 1usize..64) {
        let chunks: Vec<&[u8]> = bytes.chunks(piece).collect();
        drive(&mut Model::new(), &chunks);
    }

    #[test]
    fn arbitrary_text_like_bytes_never_panic(words in prop::collection::vec(prop::sample::select(vec![
        "get ", "gets ", "set ", "add ", "delete ", "incr ", "touch ", "k ", "0 ", "-1 ", "3 ", "noreply", "\r\n", "\n", "abc", " ", "stats", "version", "40000 ",
    ]), 0..60)) {
        let bytes: Vec<u8> = words.concat().into_bytes();
        drive(&mut Model::new(), &[&bytes]);
    }
}

#[test]
fn clients_refuse_what_memcache_cannot_say() {
    let mut out = Vec::new();
    let mut text = TextClient::new();
    assert!(text.encode(0, &Op::Exists { key: b"k" }, &mut out).is_err());
    assert!(text.encode(0, &Op::Get { key: b"a b" }, &mut out).is_err());
    let signed = Op::Counter {
        key: b"k",
        change: CounterChange::Signed(1),
    };
    assert!(text.encode(0, &signed, &mut out).is_err());
    assert!(BinaryClient::new().encode(0, &signed, &mut out).is_err());
    assert!(out.is_empty());
    // Lifetimes: ms rounded up to seconds, expired as -1.
    let store = |ttl| Op::Store {
        mode: StoreMode::Set,
        key: b"k",
        value: b"v",
        flags: 3,
        ttl,
    };
    text.encode(0, &store(Ttl::After(1500)), &mut out).unwrap();
    text.encode(0, &store(Ttl::Expired), &mut out).unwrap();
    text.encode(0, &store(Ttl::AtUnix(1_800_000_000)), &mut out)
        .unwrap();
    assert_eq!(
        out,
        b"set k 3 2 1\r\nv\r\nset k 3 -1 1\r\nv\r\nset k 3 1800000000 1\r\nv\r\n".as_slice()
    );
    assert_eq!(
        text.decode_reply(b"STORED\r\n", dc_ops::OpKind::Store)
            .unwrap(),
        Some((8, 0, Reply::Stored))
    );
}

#[test]
fn a_binary_key_is_one_key_whatever_its_bytes() {
    use crate::binary::{opcode, status};
    // ProFTPD's TPL keys hold lengths as raw integers: 0x20 is a space.
    let key = b"tpl\x00\x20\x00\x00\x00s\x00 two words";
    let set_extras = [0, 0, 0, 7, 0, 0, 0, 0];
    let input = [
        req(opcode::SET, key, &set_extras, b"session"),
        req(opcode::GETK, key, &[], b""),
        req(opcode::GETK, b"two", &[], b""),
    ]
    .concat();
    let (out, closed, error) = drive(&mut Model::new(), &[&input]);
    assert!(!closed && error.is_none());
    let expected = [
        res(opcode::SET, status::OK, b"", &[], b""),
        res(opcode::GETK, status::OK, key, &[0, 0, 0, 7], b"session"),
        res(opcode::GETK, status::KEY_ENOENT, b"two", &[], b""),
    ]
    .concat();
    assert_eq!(out, expected);
}
