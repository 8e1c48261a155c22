//! The executor against the reference [`Model`] on random operations, and
//! the lifetime rules by example.

use dc_ops::model::Model;
use dc_ops::{CounterChange, Execute, Op, Reply, StoreMode, Ttl};
use dc_store::{Limits, MemoryStore};
use proptest::prelude::*;

use super::*;

const UNIX_EPOCH_MS: u64 = 1_700_000_000_000;

fn executor(max_ttl: Millis) -> Executor<MemoryStore> {
    let mut e = Executor::new(
        MemoryStore::new(Limits::new(10_000, 64 << 20).unwrap()),
        max_ttl,
    );
    e.set_clock(0, UNIX_EPOCH_MS);
    e
}

/// The reply, owned, for comparing.
fn run(exec: &mut dyn Execute, op: &Op<'_>) -> String {
    let mut seen = String::new();
    exec.execute(op, &mut |r| seen = format!("{r:?}"));
    seen
}

#[test]
fn every_lifetime_is_capped_and_each_cap_counted() {
    let mut e = executor(10_000);
    for ttl in [
        Ttl::Unlimited,
        Ttl::After(20_000),
        Ttl::AtUnix(4_000_000_000),
    ] {
        let op = Op::Store {
            mode: StoreMode::Set,
            key: b"k",
            value: b"v",
            flags: 0,
            ttl,
        };
        assert_eq!(run(&mut e, &op), "Stored");
        assert_eq!(run(&mut e, &Op::Ttl { key: b"k" }), "Remaining(10000)");
    }
    assert_eq!(e.stats().ttl_clamps, 3);
    let op = Op::Store {
        mode: StoreMode::Set,
        key: b"k",
        value: b"v",
        flags: 0,
        ttl: Ttl::After(500),
    };
    assert_eq!(run(&mut e, &op), "Stored");
    assert_eq!(e.stats().ttl_clamps, 3);
    e.set_now(501);
    assert_eq!(run(&mut e, &Op::Get { key: b"k" }), "NotFound");
}

#[test]
fn an_absolute_time_in_the_past_stores_nothing_and_drops_the_old_value() {
    let mut e = executor(10_000);
    let set = |ttl| Op::Store {
        mode: StoreMode::Set,
        key: b"k",
        value: b"v",
        flags: 3,
        ttl,
    };
    assert_eq!(run(&mut e, &set(Ttl::After(1000))), "Stored");
    assert_eq!(run(&mut e, &set(Ttl::AtUnix(1_600_000_000))), "Stored");
    assert_eq!(run(&mut e, &Op::Get { key: b"k" }), "NotFound");
}

#[test]
fn counters_follow_each_protocols_rules() {
    let mut e = executor(10_000);
    let redis = |d| Op::Counter {
        key: b"r",
        change: CounterChange::Signed(d),
    };
    assert_eq!(run(&mut e, &redis(5)), "Signed(5)");
    assert_eq!(run(&mut e, &redis(-7)), "Signed(-2)");
    assert_eq!(run(&mut e, &redis(i64::MIN)), "Overflow");
    let mc = |decrement, delta| Op::Counter {
        key: b"m",
        change: CounterChange::Unsigned {
            decrement,
            delta,
            create: None,
        },
    };
    assert_eq!(run(&mut e, &mc(false, 1)), "NotFound");
    let op = Op::Store {
        mode: StoreMode::Set,
        key: b"m",
        value: b"10",
        flags: 9,
        ttl: Ttl::Unlimited,
    };
    assert_eq!(run(&mut e, &op), "Stored");
    assert_eq!(run(&mut e, &mc(true, 1)), "Unsigned(9)");
    // Rewritten in place as memcached does: padded to the old length, and
    // the flags kept.
    let mut got = Vec::new();
    e.execute(&Op::Get { key: b"m" }, &mut |r| {
        if let Reply::Value { data, flags } = r {
            got = data.to_vec();
            assert_eq!(*flags, 9);
        }
    });
    assert_eq!(got, b"9 ");
    assert_eq!(run(&mut e, &mc(true, 100)), "Unsigned(0)");
    assert_eq!(
        run(&mut e, &mc(false, u64::MAX)),
        "Unsigned(18446744073709551615)"
    );
    assert_eq!(run(&mut e, &mc(false, 2)), "Unsigned(1)");
    assert_eq!(run(&mut e, &redis(1)), "Signed(-1)");
    // "1 " (padded) is no Redis integer.
    assert_eq!(
        run(
            &mut e,
            &Op::Counter {
                key: b"m",
                change: CounterChange::Signed(1)
            }
        ),
        "NotNumeric"
    );
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![
        b"a".to_vec(),
        b"b".to_vec(),
        b"\0c".to_vec(),
        vec![b'k'; 250],
    ])
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        "[0-9]{1,3}".prop_map(String::into_bytes),
        Just(b"-5".to_vec()),
        Just(b"7  ".to_vec()),
    ]
}

fn ttl() -> impl Strategy<Value = Ttl> {
    prop_oneof![
        Just(Ttl::Unlimited),
        (0u64..5000).prop_map(Ttl::After),
        (1_699_999_990u64..1_700_000_020).prop_map(Ttl::AtUnix),
        Just(Ttl::Expired),
    ]
}

#[derive(Debug, Clone)]
enum Step {
    Op(OwnedOp),
    Wait(u64),
}

#[derive(Debug, Clone)]
enum OwnedOp {
    Get(Vec<u8>),
    Exists(Vec<u8>),
    Delete(Vec<u8>),
    Touch(Vec<u8>, Ttl),
    Ttl(Vec<u8>),
    Store(StoreMode, Vec<u8>, Vec<u8>, u32, Ttl),
    Counter(Vec<u8>, CounterChange),
}

impl OwnedOp {
    fn op(&self) -> Op<'_> {
        match self {
            OwnedOp::Get(k) => Op::Get { key: k },
            OwnedOp::Exists(k) => Op::Exists { key: k },
            OwnedOp::Delete(k) => Op::Delete { key: k },
            OwnedOp::Touch(k, ttl) => Op::Touch { key: k, ttl: *ttl },
            OwnedOp::Ttl(k) => Op::Ttl { key: k },
            OwnedOp::Store(mode, k, v, flags, ttl) => Op::Store {
                mode: *mode,
                key: k,
                value: v,
                flags: *flags,
                ttl: *ttl,
            },
            OwnedOp::Counter(k, change) => Op::Counter {
                key: k,
                change: *change,
            },
        }
    }
}

fn change() -> impl Strategy<Value = CounterChange> {
    prop_oneof![
        prop_oneof![Just(i64::MAX), Just(i64::MIN), -10i64..10].prop_map(CounterChange::Signed),
        (
            any::<bool>(),
            prop_oneof![Just(u64::MAX), 0u64..10],
            prop::option::of((0u64..100, ttl()))
        )
            .prop_map(|(decrement, delta, create)| CounterChange::Unsigned {
                decrement,
                delta,
                create
            }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let mode = prop::sample::select(vec![StoreMode::Add, StoreMode::Set, StoreMode::Replace]);
    prop_oneof![
        key().prop_map(|k| Step::Op(OwnedOp::Get(k))),
        key().prop_map(|k| Step::Op(OwnedOp::Exists(k))),
        key().prop_map(|k| Step::Op(OwnedOp::Delete(k))),
        (key(), ttl()).prop_map(|(k, t)| Step::Op(OwnedOp::Touch(k, t))),
        key().prop_map(|k| Step::Op(OwnedOp::Ttl(k))),
        (
            mode,
            key(),
            value(),
            prop_oneof![Just(0u32), any::<u32>()],
            ttl()
        )
            .prop_map(|(m, k, v, f, t)| Step::Op(OwnedOp::Store(m, k, v, f, t))),
        (key(), change()).prop_map(|(k, c)| Step::Op(OwnedOp::Counter(k, c))),
        (0u64..3000).prop_map(Step::Wait),
    ]
}

proptest! {
    /// Whatever the operations and the passing of time, the executor over
    /// the real store answers as the reference model does.
    #[test]
    fn the_executor_answers_as_the_model(steps in prop::collection::vec(step(), 1..120)) {
        let mut exec = executor(4_000);
        let mut model = Model::new();
        model.max_ttl = 4_000;
        model.unix_epoch_ms = UNIX_EPOCH_MS;
        let mut now = 0;
        for step in &steps {
            match step {
                Step::Wait(ms) => {
                    now += ms;
                    exec.set_clock(now, UNIX_EPOCH_MS + now);
                    model.now = now;
                }
                Step::Op(op) => {
                    let op = op.op();
                    prop_assert_eq!(run(&mut exec, &op), run(&mut model, &op), "{:?}", op);
                }
            }
        }
    }
}
