//! RespServer end to end over the reference Model: exact bytes, the
//! oversized-value skip, and property tests of the client/server pair.

use std::sync::Arc;

use dc_ops::model::Model;
use dc_ops::{ClientCodec, CounterChange, Execute, Op, Reply, ServerCodec, Step, StoreMode, Ttl};
use dc_resp::{parse_frame, Frame, RequestError, RespClient, RespConfig, RespServer};
use proptest::prelude::*;

fn cmd(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

struct Served {
    out: Vec<u8>,
    closed: bool,
    error: Option<RequestError>,
    left: usize,
}

/// Serves all of `input` as one read: serve until Incomplete, close or error.
fn serve(server: &mut RespServer, model: &mut Model, input: &[u8]) -> Served {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        match server.serve(&input[at..], model, &mut out) {
            Ok(Step::Incomplete) => break,
            Ok(Step::Consumed {
                consumed, close, ..
            }) => {
                assert!(consumed > 0, "consumed nothing");
                at += consumed;
                if close {
                    return Served {
                        out,
                        closed: true,
                        error: None,
                        left: input.len() - at,
                    };
                }
            }
            Err(e) => {
                return Served {
                    out,
                    closed: true,
                    error: Some(e),
                    left: input.len() - at,
                }
            }
        }
    }
    Served {
        out,
        closed: false,
        error: None,
        left: input.len() - at,
    }
}

fn open() -> (RespServer, Model) {
    (
        RespServer::new(Arc::new(RespConfig::default())),
        Model::new(),
    )
}

fn answers(input: &[u8]) -> Vec<u8> {
    let (mut s, mut m) = open();
    serve(&mut s, &mut m, input).out
}

/// The bytes redis-server 7.0.15 answered to each input (captured from
/// Debian's redis-server, one fresh connection per case).
const REDIS_7_ANSWERS: &[(&[&[u8]], &[u8])] = &[
    (&[b"PING"], b"+PONG\r\n"),
    (&[b"ping", b"hi"], b"$2\r\nhi\r\n"),
    (&[b"PING", b""], b"$0\r\n\r\n"),
    (&[b"PING", b"a", b"b"], b"-ERR wrong number of arguments for 'ping' command\r\n"),
    (&[b"FOO", b"x"], b"-ERR unknown command 'FOO', with args beginning with: 'x' \r\n"),
    (&[b"foo"], b"-ERR unknown command 'foo', with args beginning with: \r\n"),
    (&[b"FOO\0BAR", b"a\0b", b"c\r\nd"], b"-ERR unknown command 'FOO', with args beginning with: 'a' 'c  d' \r\n"),
    (&[b"GET"], b"-ERR wrong number of arguments for 'get' command\r\n"),
    (&[b"get", b"k", b"x"], b"-ERR wrong number of arguments for 'get' command\r\n"),
    (&[b"GET", b"nokey"], b"$-1\r\n"),
    (&[b"SETEX", b"k", b"0", b"v"], b"-ERR invalid expire time in 'setex' command\r\n"),
    (&[b"SETEX", b"k", b"-1", b"v"], b"-ERR invalid expire time in 'setex' command\r\n"),
    (&[b"SETEX", b"k", b"abc", b"v"], b"-ERR value is not an integer or out of range\r\n"),
    (&[b"SETEX", b"k", b"9223372036854775807", b"v"], b"-ERR invalid expire time in 'setex' command\r\n"),
    (&[b"SETEX", b"k", b"9223372036854776", b"v"], b"-ERR invalid expire time in 'setex' command\r\n"),
    (&[b"SETEX", b"k", b"99999999999999999999", b"v"], b"-ERR value is not an integer or out of range\r\n"),
    (&[b"SETEX", b"k", b"10"], b"-ERR wrong number of arguments for 'setex' command\r\n"),
    (&[b"SETEX", b"k", b"4294967295", b"v"], b"+OK\r\n"),
    (&[b"SET", b"k", b"v", b"EX", b"0"], b"-ERR invalid expire time in 'set' command\r\n"),
    (&[b"SET", b"k", b"v", b"EX", b"abc"], b"-ERR value is not an integer or out of range\r\n"),
    (&[b"SET", b"k", b"v", b"PX", b"0"], b"-ERR invalid expire time in 'set' command\r\n"),
    (&[b"SET", b"k", b"v", b"NX", b"XX"], b"-ERR syntax error\r\n"),
    (&[b"SET", b"k", b"v", b"BOGUS"], b"-ERR syntax error\r\n"),
    (&[b"SET", b"k", b"v", b"EX"], b"-ERR syntax error\r\n"),
    (&[b"SET", b"k", b"v", b"EX", b"10", b"PX", b"100"], b"-ERR syntax error\r\n"),
    (&[b"SET", b"k", b"v", b"EX", b"9223372036854775807"], b"-ERR invalid expire time in 'set' command\r\n"),
    (&[b"SET", b"k", b"v", b"PXAT", b"0"], b"-ERR invalid expire time in 'set' command\r\n"),
    (&[b"SET", b"k", b"v", b"XX"], b"$-1\r\n"),
    (&[b"AUTH", b"x"], b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"),
    (&[b"AUTH", b"u", b"x"], b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"),
    (&[b"AUTH", b"default", b"x"], b"+OK\r\n"),
    (&[b"AUTH"], b"-ERR wrong number of arguments for 'auth' command\r\n"),
    (&[b"AUTH", b"a", b"b", b"c"], b"-ERR syntax error\r\n"),
    (&[b"SELECT", b"x"], b"-ERR value is not an integer or out of range\r\n"),
    (&[b"SELECT", b"0"], b"+OK\r\n"),
    (&[b"SELECT", b"-1"], b"-ERR DB index is out of range\r\n"),
    (&[b"SELECT", b"16"], b"-ERR DB index is out of range\r\n"),
    (&[b"INFO", b"bogus"], b"$0\r\n\r\n"),
    (&[b"DEL"], b"-ERR wrong number of arguments for 'del' command\r\n"),
    (&[b"EXISTS"], b"-ERR wrong number of arguments for 'exists' command\r\n"),
    (&[b"DEL", b"a", b"b"], b":0\r\n"),
    (&[b"TTL", b"nokey"], b":-2\r\n"),
    (&[b"PTTL", b"nokey"], b":-2\r\n"),
    (&[b"EXPIRE", b"x", b"abc"], b"-ERR value is not an integer or out of range\r\n"),
    (&[b"EXPIRE", b"x"], b"-ERR wrong number of arguments for 'expire' command\r\n"),
    (&[b"EXPIRE", b"k", b"9223372036854775807"], b"-ERR invalid expire time in 'expire' command\r\n"),
    (&[b"EXPIRE", b"k", b"9223372036854775"], b"-ERR invalid expire time in 'expire' command\r\n"),
    (&[b"EXPIRE", b"e", b"100", b"ZZ"], b"-ERR Unsupported option ZZ\r\n"),
    (&[b"EXPIRE", b"nokey", b"5"], b":0\r\n"),
    (&[b"INCR", b"s", b"x"], b"-ERR wrong number of arguments for 'incr' command\r\n"),
    (&[b"INCRBY", b"n", b"x"], b"-ERR value is not an integer or out of range\r\n"),
    (&[b"DECRBY", b"n", b"-9223372036854775808"], b"-ERR decrement would overflow\r\n"),
    (&[b"QUIT"], b"+OK\r\n"),
    (&[b"QUIT", b"x"], b"+OK\r\n"),
];

#[test]
fn single_commands_answer_as_redis_7_does() {
    for (args, want) in REDIS_7_ANSWERS {
        let got = answers(&cmd(args));
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want),
            "{args:?}"
        );
    }
}

#[test]
fn sequences_answer_as_redis_7_does() {
    let cases: &[(Vec<u8>, &[u8])] = &[
        (
            [
                cmd(&[b"SET", b"n", b"10"]),
                cmd(&[b"INCR", b"n"]),
                cmd(&[b"DECR", b"n"]),
                cmd(&[b"INCRBY", b"n", b"5"]),
                cmd(&[b"DECRBY", b"n", b"3"]),
                cmd(&[b"INCRBY", b"n", b"9223372036854775807"]),
            ]
            .concat(),
            b"+OK\r\n:11\r\n:10\r\n:15\r\n:12\r\n-ERR increment or decrement would overflow\r\n",
        ),
        (
            [cmd(&[b"SET", b"s", b"abc"]), cmd(&[b"INCR", b"s"])].concat(),
            b"+OK\r\n-ERR value is not an integer or out of range\r\n",
        ),
        (
            [
                cmd(&[b"SET", b"n", b"1"]),
                cmd(&[b"SET", b"s", b"1"]),
                cmd(&[b"DEL", b"a", b"b", b"n"]),
                cmd(&[b"EXISTS", b"s", b"s", b"zz"]),
            ]
            .concat(),
            b"+OK\r\n+OK\r\n:1\r\n:2\r\n",
        ),
        (
            [
                cmd(&[b"SET", b"e", b"v"]),
                cmd(&[b"EXPIRE", b"e", b"100"]),
                cmd(&[b"TTL", b"e"]),
                cmd(&[b"EXPIRE", b"e", b"0"]),
                cmd(&[b"EXISTS", b"e"]),
                cmd(&[b"SET", b"e", b"v"]),
                cmd(&[b"EXPIRE", b"e", b"-5"]),
                cmd(&[b"EXISTS", b"e"]),
            ]
            .concat(),
            b"+OK\r\n:1\r\n:100\r\n:1\r\n:0\r\n+OK\r\n:1\r\n:0\r\n",
        ),
        (
            [
                cmd(&[b"SET", b"e", b"v", b"PX", b"1500"]),
                cmd(&[b"TTL", b"e"]),
                cmd(&[b"PTTL", b"e"]),
                cmd(&[b"SET", b"e", b"v", b"PX", b"1499"]),
                cmd(&[b"TTL", b"e"]),
                cmd(&[b"SET", b"e", b"v", b"PX", b"500"]),
                cmd(&[b"TTL", b"e"]),
            ]
            .concat(),
            b"+OK\r\n:2\r\n:1500\r\n+OK\r\n:1\r\n+OK\r\n:1\r\n",
        ),
        (
            [
                cmd(&[b"SET", b"k", b"v", b"NX"]),
                cmd(&[b"SET", b"k", b"w", b"NX"]),
                cmd(&[b"SET", b"zz", b"v", b"XX"]),
                cmd(&[b"SET", b"k", b"x", b"xx", b"ex", b"10", b"EX", b"20"]),
                cmd(&[b"GET", b"k"]),
                cmd(&[b"SET", b"k", b"v", b"EXAT", b"1"]),
                cmd(&[b"GET", b"k"]),
                cmd(&[b"SET", b"", b"v"]),
                cmd(&[b"GET", b""]),
            ]
            .concat(),
            b"+OK\r\n$-1\r\n$-1\r\n+OK\r\n$1\r\nx\r\n+OK\r\n$-1\r\n+OK\r\n$1\r\nv\r\n",
        ),
        (
            [
                cmd(&[b"SETEX", b"k", b"4294967295", b"v"]),
                cmd(&[b"GET", b"k"]),
            ]
            .concat(),
            b"+OK\r\n$1\r\nv\r\n",
        ),
        // Empty commands are ignored; inline commands are split like redis-cli's.
        (
            b"*0\r\n*-1\r\n\r\n\r\nPING\r\nPING\nping hello\r\nSET k \"a b\"\r\nGET k\r\n".to_vec(),
            b"+PONG\r\n+PONG\r\n$5\r\nhello\r\n+OK\r\n$3\r\na b\r\n",
        ),
        // Redis skips the two bytes after a bulk without looking at them.
        (b"*1\r\n$4\r\nPINGxx".to_vec(), b"+PONG\r\n"),
    ];
    for (input, want) in cases {
        let got = answers(input);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want),
            "{}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn protocol_errors_answer_as_redis_then_close() {
    let cases: &[(&[u8], &[u8])] = &[
        (
            b"*1\r\n$x\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$-1\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$536870913\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$+4\r\nPING\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$4 \r\nPING\r\n",
            b"-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*x\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*+1\r\n$4\r\nPING\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*01\r\n$04\r\nPING\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\n$4\r\nPING\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\nx\r\n",
            b"-ERR Protocol error: expected '$', got 'x'\r\n",
        ),
        (
            b"*1\r\n:4\r\n",
            b"-ERR Protocol error: expected '$', got ':'\r\n",
        ),
        (
            b"*2\r\n$4\r\nPINGxx\r\n",
            b"-ERR Protocol error: expected '$', got ' '\r\n",
        ),
        (
            b"GET \"unterminated\r\n",
            b"-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        // Deliberate: over 1024 arguments (Redis allows 1 Mi).
        (
            b"*1025\r\n",
            b"-ERR Protocol error: invalid multibulk length\r\n",
        ),
    ];
    for (input, want) in cases {
        let (mut s, mut m) = open();
        let served = serve(&mut s, &mut m, input);
        assert!(served.error.is_some(), "{input:?}");
        assert_eq!(
            String::from_utf8_lossy(&served.out),
            String::from_utf8_lossy(want),
            "{}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn quit_answers_then_closes() {
    let (mut s, mut m) = open();
    let input = [cmd(&[b"QUIT"]), cmd(&[b"PING"])].concat();
    let served = serve(&mut s, &mut m, &input);
    assert!(served.closed && served.error.is_none());
    assert_eq!(served.out, b"+OK\r\n");
    assert_eq!(served.left, cmd(&[b"PING"]).len());
}

#[test]
fn a_password_guards_all_but_ping_info_auth_and_quit() {
    let config = Arc::new(RespConfig {
        password: Some(b"sekret".to_vec()),
    });
    let mut s = RespServer::new(config);
    let mut m = Model::new();
    let input = [
        cmd(&[b"PING"]),
        cmd(&[b"GET", b"k"]),
        cmd(&[b"SELECT", b"0"]),
        cmd(&[b"FOO"]),
        cmd(&[b"GET"]),
        cmd(&[b"AUTH", b"x"]),
        cmd(&[b"AUTH", b"default", b"x"]),
        cmd(&[b"AUTH", b"bob", b"sekret"]),
        cmd(&[b"AUTH", b"sekret"]),
        cmd(&[b"GET", b"k"]),
    ]
    .concat();
    let served = serve(&mut s, &mut m, &input);
    assert_eq!(
        String::from_utf8_lossy(&served.out),
        "+PONG\r\n-NOAUTH Authentication required.\r\n-NOAUTH Authentication required.\r\n\
         -ERR unknown command 'FOO', with args beginning with: \r\n\
         -ERR wrong number of arguments for 'get' command\r\n\
         -WRONGPASS invalid username-password pair or user is disabled.\r\n\
         -WRONGPASS invalid username-password pair or user is disabled.\r\n\
         -WRONGPASS invalid username-password pair or user is disabled.\r\n+OK\r\n$-1\r\n"
    );
    let mut s = RespServer::new(Arc::new(RespConfig {
        password: Some(b"sekret".to_vec()),
    }));
    let served = serve(
        &mut s,
        &mut m,
        &[
            cmd(&[b"INFO", b"server"]),
            cmd(&[b"AUTH", b"default", b"sekret"]),
        ]
        .concat(),
    );
    assert!(served.out.starts_with(b"$") && served.out.ends_with(b"+OK\r\n"));
    assert!(s.authenticated());
}

#[test]
fn unknown_command_text_is_cut_where_redis_cuts_it() {
    let x = vec![b'x'; 200];
    let y = vec![b'y'; 100];
    let z = vec![b'z'; 100];
    let got = answers(&cmd(&[&x, &y, &z, b"w"]));
    let want = format!(
        "-ERR unknown command '{}', with args beginning with: '{}' '{}' \r\n",
        "x".repeat(128),
        "y".repeat(100),
        "z".repeat(25)
    );
    assert_eq!(String::from_utf8_lossy(&got), want);
    let b = vec![b'b'; 125];
    let got = answers(&cmd(&[b"A", &b, b"c"]));
    assert_eq!(
        String::from_utf8_lossy(&got),
        format!(
            "-ERR unknown command 'A', with args beginning with: '{}' \r\n",
            "b".repeat(125)
        )
    );
}

#[test]
fn info_is_a_bulk_of_sections() {
    let got = answers(&cmd(&[b"INFO", b"server"]));
    let Ok(Some((Frame::Bulk(text), used))) = parse_frame(&got) else {
        panic!("not a bulk");
    };
    assert_eq!(used, got.len());
    assert!(text.starts_with(b"# Server\r\nredis_version:7.0.0\r\n"));
}

#[test]
fn long_keys_and_values_are_refused_and_the_connection_goes_on() {
    let key = vec![b'k'; 251];
    let input = [
        cmd(&[b"GET", &key]),
        cmd(&[b"SET", &key, b"v"]),
        cmd(&[b"DEL", b"a", &key]),
        cmd(&[b"GET", &key[..250]]),
    ]
    .concat();
    let got = answers(&input);
    let too_long = "-ERR key is too long (251 bytes, at most 250)\r\n";
    assert_eq!(
        String::from_utf8_lossy(&got),
        format!("{too_long}{too_long}{too_long}$-1\r\n")
    );
}

#[test]
fn a_huge_set_is_skipped_in_pieces_and_the_next_command_answered() {
    let (mut s, mut m) = open();
    let header = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000000\r\n";
    let mut out = Vec::new();
    // The header: consumed, nothing answered yet.
    let step = s.serve(header, &mut m, &mut out).unwrap();
    assert_eq!(
        step,
        Step::Consumed {
            consumed: header.len(),
            requests: 0,
            close: false
        }
    );
    assert!(s.in_request());
    // 100 MB in 64 KiB reads, none buffered.
    let chunk = vec![b'v'; 65536];
    let mut left = 100_000_000usize;
    while left > 0 {
        let n = left.min(chunk.len());
        let step = s.serve(&chunk[..n], &mut m, &mut out).unwrap();
        assert_eq!(
            step,
            Step::Consumed {
                consumed: n,
                requests: 0,
                close: false
            }
        );
        left -= n;
    }
    assert!(out.is_empty());
    let tail = [
        b"\r\n".to_vec(),
        cmd(&[b"SET", b"k", b"small"]),
        cmd(&[b"GET", b"k"]),
    ]
    .concat();
    let served = serve(&mut s, &mut m, &tail);
    assert_eq!(
        String::from_utf8_lossy(&served.out),
        "-ERR argument is too large (100000000 bytes, at most 32768)\r\n+OK\r\n$5\r\nsmall\r\n"
    );
    assert!(!s.in_request() && served.left == 0);
    // Just over the value cap is skipped too; exactly at it is stored.
    let big = vec![b'x'; dc_ops::MAX_VALUE_LEN];
    let over = vec![b'x'; dc_ops::MAX_VALUE_LEN + 1];
    let got = answers(
        &[
            cmd(&[b"SET", b"a", &over, b"EX", b"10"]),
            cmd(&[b"SET", b"a", &big]),
            cmd(&[b"EXISTS", b"a"]),
        ]
        .concat(),
    );
    assert_eq!(
        String::from_utf8_lossy(&got),
        "-ERR argument is too large (32769 bytes, at most 32768)\r\n+OK\r\n:1\r\n"
    );
}

#[test]
fn a_request_too_large_in_all_is_skipped() {
    let arg = vec![b'k'; 30_000];
    let mut args: Vec<&[u8]> = vec![b"DEL"];
    args.extend(std::iter::repeat_n(&arg[..], 2));
    let got = answers(&[cmd(&args), cmd(&[b"PING"])].concat());
    assert_eq!(
        String::from_utf8_lossy(&got),
        "-ERR request is too large (at most 49152 bytes)\r\n+PONG\r\n"
    );
}

// ---- property tests ----

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"a".to_vec()),
        Just(b"b".to_vec()),
        Just(b"n".to_vec()),
        Just(b"k\0\r\n".to_vec()),
        prop::collection::vec(any::<u8>(), 0..=250),
    ]
}

fn ttl() -> impl Strategy<Value = Ttl> {
    prop_oneof![
        Just(Ttl::Unlimited),
        (1u64..200_000_000).prop_map(Ttl::After),
        (1_699_999_990u64..1_700_100_000).prop_map(Ttl::AtUnix),
        Just(Ttl::Expired),
    ]
}

#[derive(Debug, Clone)]
enum TestOp {
    Get(Vec<u8>),
    Exists(Vec<u8>),
    Delete(Vec<u8>),
    Touch(Vec<u8>, Ttl),
    Ttl(Vec<u8>),
    Store(StoreMode, Vec<u8>, Vec<u8>, Ttl),
    Counter(Vec<u8>, i64),
    Advance(u64),
}

fn test_op() -> impl Strategy<Value = TestOp> {
    let value = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        Just(b"41".to_vec()),
        Just(b"-9223372036854775807".to_vec()),
    ];
    let mode = prop_oneof![
        Just(StoreMode::Set),
        Just(StoreMode::Add),
        Just(StoreMode::Replace)
    ];
    let delta = prop_oneof![-5i64..5, Just(i64::MAX), Just(i64::MIN)];
    prop_oneof![
        key().prop_map(TestOp::Get),
        key().prop_map(TestOp::Exists),
        key().prop_map(TestOp::Delete),
        (key(), ttl()).prop_map(|(k, t)| TestOp::Touch(k, t)),
        key().prop_map(TestOp::Ttl),
        (mode, key(), value, ttl()).prop_map(|(m, k, v, t)| TestOp::Store(m, k, v, t)),
        (key(), delta).prop_map(|(k, d)| TestOp::Counter(k, d)),
        (0u64..5_000_000).prop_map(TestOp::Advance),
    ]
}

impl TestOp {
    fn op(&self) -> Option<Op<'_>> {
        Some(match self {
            TestOp::Get(key) => Op::Get { key },
            TestOp::Exists(key) => Op::Exists { key },
            TestOp::Delete(key) => Op::Delete { key },
            TestOp::Touch(key, ttl) => Op::Touch { key, ttl: *ttl },
            TestOp::Ttl(key) => Op::Ttl { key },
            TestOp::Store(mode, key, value, ttl) => Op::Store {
                mode: *mode,
                key,
                value,
                flags: 0,
                ttl: *ttl,
            },
            TestOp::Counter(key, d) => Op::Counter {
                key,
                change: CounterChange::Signed(*d),
            },
            TestOp::Advance(_) => return None,
        })
    }
}

fn owned(reply: &Reply<'_>) -> String {
    format!("{reply:?}")
}

/// A command stream for the split tests: what a client would pipeline.
fn command() -> impl Strategy<Value = Vec<u8>> {
    let arg = prop_oneof![
        key(),
        Just(b"10".to_vec()),
        Just(b"EX".to_vec()),
        Just(b"NX".to_vec()),
        Just(b"-1".to_vec()),
    ];
    const NAMES: [&[u8]; 13] = [
        b"GET", b"SET", b"SETEX", b"DEL", b"EXISTS", b"INCR", b"INCRBY", b"EXPIRE", b"TTL",
        b"PING", b"SELECT", b"NOPE", b"get",
    ];
    let name = prop::sample::select(&NAMES[..]);
    prop_oneof![
        5 => (name, prop::collection::vec(arg, 0..5)).prop_map(|(n, args)| {
            let mut all: Vec<&[u8]> = vec![n];
            all.extend(args.iter().map(|a| &a[..]));
            cmd(&all)
        }),
        1 => Just(b"PING\r\n".to_vec()),
        1 => Just(b"*0\r\n".to_vec()),
        1 => (1usize..3).prop_map(|n| {
            let mut c = format!("*3\r\n$3\r\nSET\r\n$1\r\nz\r\n${}\r\n", 32768 + n).into_bytes();
            c.extend(std::iter::repeat_n(b'v', 32768 + n));
            c.extend_from_slice(b"\r\n");
            c
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Client-encoded operations served over a Model and decoded again
    /// come to what the Model answers to the operations directly.
    #[test]
    fn client_and_server_agree_with_the_model(ops in prop::collection::vec(test_op(), 1..40)) {
        let mut direct = Model::new();
        let mut served = Model::new();
        let mut server = RespServer::new(Arc::new(RespConfig::default()));
        let mut client = RespClient::new();
        for (tag, t) in ops.iter().enumerate() {
            let Some(op) = t.op() else {
                if let TestOp::Advance(ms) = t {
                    direct.now += ms;
                    served.now += ms;
                }
                continue;
            };
            let mut want = String::new();
            direct.execute(&op, &mut |r| want = owned(r));
            let mut wire = Vec::new();
            client.encode(tag as u32, &op, &mut wire).unwrap();
            let mut out = Vec::new();
            let step = server.serve(&wire, &mut served, &mut out).unwrap();
            prop_assert_eq!(step, Step::Consumed { consumed: wire.len(), requests: 1, close: false });
            let (used, got_tag, reply) = client.decode_reply(&out, op.kind()).unwrap().unwrap();
            prop_assert_eq!(used, out.len());
            prop_assert_eq!(got_tag, tag as u32);
            prop_assert_eq!(owned(&reply), want, "{:?}", op);
        }
    }

    /// Any split of a pipelined stream gives the answers of the whole.
    #[test]
    fn every_split_answers_like_the_whole(cmds in prop::collection::vec(command(), 1..12), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8)) {
        let stream = cmds.concat();
        let whole = answers(&stream);
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        cuts.push(stream.len());
        cuts.sort_unstable();
        let (mut s, mut m) = open();
        let mut buffer = Vec::new();
        let mut out = Vec::new();
        let mut fed = 0;
        'feed: for cut in cuts {
            buffer.extend_from_slice(&stream[fed..cut]);
            fed = cut;
            loop {
                match s.serve(&buffer, &mut m, &mut out) {
                    Ok(Step::Incomplete) => break,
                    Ok(Step::Consumed { consumed, close, .. }) => {
                        buffer.drain(..consumed);
                        if close { break 'feed; }
                    }
                    Err(_) => break 'feed,
                }
            }
        }
        prop_assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(&whole));
    }

    /// Arbitrary bytes never panic, and every answer is a valid reply.
    #[test]
    fn arbitrary_bytes_are_answered_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let (mut s, mut m) = open();
        let served = serve(&mut s, &mut m, &bytes);
        let mut at = 0;
        while at < served.out.len() {
            let (_, used) = parse_frame(&served.out[at..]).expect("valid reply").expect("whole reply");
            at += used;
        }
    }
}

#[test]
fn config_get_lists_what_redis_benchmark_reads_and_nothing_else() {
    let got = answers(
        &[
            cmd(&[b"CONFIG", b"GET", b"save"]),
            cmd(&[b"config", b"get", b"appendonly", b"maxclients"]),
            cmd(&[b"CONFIG", b"GET", b"nosuch"]),
            cmd(&[b"CONFIG", b"SET", b"save", b""]),
        ]
        .concat(),
    );
    assert_eq!(
        String::from_utf8_lossy(&got),
        "*2\r\n$4\r\nsave\r\n$0\r\n\r\n*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n*0\r\n\
         -ERR unknown subcommand 'SET'. Try CONFIG HELP.\r\n"
    );
}
