//! A deferred front door answers exactly as its codec answers when served
//! directly: the same requests, run on two identical model caches, give
//! the same bytes, whatever the protocol.

use dc_memcache::{BinaryClient, TextClient};
use dc_ops::model::Model;
use dc_ops::{ClientCodec, CounterChange, Execute, StoreMode, Ttl};
use dc_resp::RespClient;
use proptest::prelude::*;

use super::*;

/// Serves `input` directly on `model`, as dc_server would.
fn direct<C: ServerCodec>(mut codec: C, input: &[u8]) -> (Vec<u8>, Option<String>) {
    let mut model = Model::new();
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        match codec.serve(&input[at..], &mut model, &mut out) {
            Ok(Step::Incomplete) => return (out, None),
            Ok(Step::Consumed {
                consumed, close, ..
            }) => {
                at += consumed;
                if close || consumed == 0 && at == input.len() {
                    return (out, None);
                }
            }
            Err(e) => return (out, Some(e.to_string())),
        }
    }
}

/// Serves `input` through `deferred`, running each forwarded request's
/// operations on `model` only after the request was read (as the pool
/// would, later).
fn through<C: ServerCodec>(
    mut deferred: Deferred<C>,
    input: &[u8],
    reply: &mut dyn FnMut(&OpBuf) -> ReplyBuf,
) -> (Vec<u8>, Option<String>) {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        // What the direct run's model reports, for INFO and stats.
        let info = Model::new().info();
        match deferred.serve(&input[at..], info, &mut out) {
            Ok(Served::Incomplete) => return (out, None),
            Ok(Served::Answered {
                consumed, close, ..
            }) => {
                at += consumed;
                if close || consumed == 0 && at == input.len() {
                    return (out, None);
                }
            }
            Ok(Served::Forward { consumed, request }) => {
                at += consumed;
                let replies: Vec<ReplyBuf> = request.ops().iter().map(&mut *reply).collect();
                deferred.compose(&request, &replies, &mut out);
            }
            Err(e) => return (out, Some(e.to_string())),
        }
    }
}

fn on_model(model: &mut Model) -> impl FnMut(&OpBuf) -> ReplyBuf + '_ {
    |op| {
        let mut got = ReplyBuf::unavailable();
        model.execute(&op.op(), &mut |r| got = ReplyBuf::new(r));
        got
    }
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"a".to_vec()),
        Just(b"b".to_vec()),
        Just(b"k3".to_vec())
    ]
}

fn ttl() -> impl Strategy<Value = Ttl> {
    prop_oneof![
        Just(Ttl::Unlimited),
        (1u64..100_000).prop_map(Ttl::After),
        Just(Ttl::Expired),
    ]
}

fn op() -> impl Strategy<Value = OpBuf> {
    let value = prop_oneof![
        Just(b"7".to_vec()),
        Just(b"session".to_vec()),
        prop::collection::vec(any::<u8>(), 0..40)
    ];
    let mode = prop_oneof![
        Just(StoreMode::Add),
        Just(StoreMode::Set),
        Just(StoreMode::Replace)
    ];
    prop_oneof![
        key().prop_map(|key| OpBuf::new(&Op::Get { key: &key })),
        key().prop_map(|key| OpBuf::new(&Op::Exists { key: &key })),
        key().prop_map(|key| OpBuf::new(&Op::Delete { key: &key })),
        key().prop_map(|key| OpBuf::new(&Op::Ttl { key: &key })),
        (key(), ttl()).prop_map(|(key, ttl)| OpBuf::new(&Op::Touch { key: &key, ttl })),
        (key(), value, mode, any::<u16>(), ttl()).prop_map(|(key, value, mode, flags, ttl)| {
            OpBuf::new(&Op::Store {
                mode,
                key: &key,
                value: &value,
                flags: u32::from(flags),
                ttl,
            })
        }),
        (key(), -3i64..3).prop_map(|(key, delta)| OpBuf::new(&Op::Counter {
            key: &key,
            change: CounterChange::Signed(delta),
        })),
        (key(), 0u64..3, any::<bool>()).prop_map(|(key, delta, decrement)| OpBuf::new(
            &Op::Counter {
                key: &key,
                change: CounterChange::Unsigned {
                    decrement,
                    delta,
                    create: None,
                },
            }
        )),
    ]
}

/// A stream of requests: operations a client codec can say, mixed with
/// `extra`, requests that need no server or carry several keys.
fn stream<C: ClientCodec>(mut client: C, items: &[Result<OpBuf, &'static [u8]>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (tag, item) in items.iter().enumerate() {
        match item {
            Ok(op) => {
                let mark = out.len();
                if client.encode(tag as u32, &op.op(), &mut out).is_err() {
                    out.truncate(mark);
                }
            }
            Err(raw) => out.extend_from_slice(raw),
        }
    }
    out
}

fn items(
    extra: &'static [&'static [u8]],
) -> impl Strategy<Value = Vec<Result<OpBuf, &'static [u8]>>> {
    let extra = prop::sample::select(extra.to_vec());
    prop::collection::vec(
        prop_oneof![4 => op().prop_map(Ok), 1 => extra.prop_map(Err)],
        1..24,
    )
}

const RESP_EXTRA: &[&[u8]] = &[
    b"*1\r\n$4\r\nPING\r\n",
    b"*3\r\n$3\r\nDEL\r\n$1\r\na\r\n$1\r\nb\r\n",
    b"*4\r\n$6\r\nEXISTS\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\na\r\n",
    b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n",
    b"*1\r\n$5\r\nBOGUS\r\n",
    b"*2\r\n$3\r\nGET\r\n",
    b"*4\r\n$5\r\nSETEX\r\n$1\r\nb\r\n$2\r\n10\r\n$1\r\nv\r\n",
];

const TEXT_EXTRA: &[&[u8]] = &[
    b"get a b k3 a\r\n",
    b"gets a\r\n",
    b"version\r\n",
    b"bogus\r\n",
    b"set a 0 0 2 noreply\r\nhi\r\n",
    b"delete b noreply\r\n",
];

const BINARY_EXTRA: &[&[u8]] = &[
    // NOOP
    b"\x80\x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x09\x00\x00\x00\x00\x00\x00\x00\x00",
    // GETQ "a"
    b"\x80\x09\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00\x00a",
    // VERSION
    b"\x80\x0b\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x00",
    // TOUCH "b" exptime 100
    b"\x80\x1c\x00\x01\x04\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x64b",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn resp_answers_as_served_directly(items in items(RESP_EXTRA)) {
        let input = stream(RespClient::new(), &items);
        let want = direct(RespServer::new(Arc::new(RespConfig::default())), &input);
        let mut model = Model::new();
        let got = through(Deferred::redis(Arc::new(RespConfig::default())), &input, &mut on_model(&mut model));
        prop_assert_eq!(String::from_utf8_lossy(&got.0), String::from_utf8_lossy(&want.0));
        prop_assert_eq!(got.1, want.1);
    }

    #[test]
    fn memcache_text_answers_as_served_directly(items in items(TEXT_EXTRA)) {
        let input = stream(TextClient::new(), &items);
        let want = direct(MemcacheServer::new(), &input);
        let mut model = Model::new();
        let got = through(Deferred::memcache(), &input, &mut on_model(&mut model));
        prop_assert_eq!(String::from_utf8_lossy(&got.0), String::from_utf8_lossy(&want.0));
        prop_assert_eq!(got.1, want.1);
    }

    #[test]
    fn memcache_binary_answers_as_served_directly(items in items(BINARY_EXTRA)) {
        let input = stream(BinaryClient::new(), &items);
        let want = direct(MemcacheServer::new(), &input);
        let mut model = Model::new();
        let got = through(Deferred::memcache(), &input, &mut on_model(&mut model));
        prop_assert_eq!(got, want);
    }
}

#[test]
fn a_password_is_checked_before_anything_is_forwarded() {
    let config = Arc::new(RespConfig {
        password: Some(b"secret".to_vec()),
    });
    let mut forwarded = 0;
    let input = b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n";
    let got = through(Deferred::redis(config), input, &mut |_| {
        forwarded += 1;
        ReplyBuf::new(&Reply::NotFound)
    });
    assert_eq!(
        String::from_utf8_lossy(&got.0),
        "-NOAUTH Authentication required.\r\n+OK\r\n$-1\r\n"
    );
    assert_eq!(forwarded, 1, "only the GET after AUTH reaches the pool");
}

#[test]
fn no_upstream_gets_each_protocols_own_failure() {
    let fail = &mut |_: &OpBuf| ReplyBuf::unavailable();
    let resp = through(
        Deferred::redis(Arc::new(RespConfig::default())),
        b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n",
        fail,
    );
    assert_eq!(resp.0, b"-ERR cache unavailable\r\n");
    let text = through(Deferred::memcache(), b"get a\r\n", fail);
    assert!(
        text.0.starts_with(b"SERVER_ERROR "),
        "{:?}",
        String::from_utf8_lossy(&text.0)
    );
    let binary = through(
        Deferred::memcache(),
        b"\x80\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00\x00a",
        fail,
    );
    // A response, for the same opaque, with an error status.
    assert_eq!(binary.0[0], 0x81);
    assert_ne!(&binary.0[6..8], b"\x00\x00", "status");
    assert_eq!(&binary.0[12..16], b"\x00\x00\x00\x07", "opaque");
}

#[test]
fn a_refused_huge_set_deletes_the_old_value_then_skips_it() {
    // memcache text drops the old value of a set refused for its size; the
    // delete goes to the pool and the composer must not be left skipping.
    let mut model = Model::new();
    let big = dc_ops::MAX_VALUE_LEN + 1;
    let mut input = format!("set a 0 0 {big}\r\n").into_bytes();
    input.resize(input.len() + big, b'x');
    input.extend_from_slice(b"\r\nget a\r\n");
    let want = direct(MemcacheServer::new(), &input);
    let got = through(Deferred::memcache(), &input, &mut on_model(&mut model));
    assert_eq!(
        String::from_utf8_lossy(&got.0),
        String::from_utf8_lossy(&want.0)
    );
    assert!(got.0.ends_with(b"END\r\n"));
}
