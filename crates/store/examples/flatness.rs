//! How the cost of each operation changes with the number of sessions
//! stored, measured so that a busy machine disturbs it little: stores of
//! every size are built first, then measured in interleaved rounds, and each
//! operation keeps its best round. (The criterion benches in
//! `benches/store.rs` give distributions, but one noisy neighbour can move
//! a whole bench.)
//!
//! ```text
//! cargo run --release -p dc_store --example flatness [SIZE...]   # default 10000 1000000 10000000
//! ```
//!
//! Sessions as in the benches: 32-byte ids, 200 bytes of data, arriving
//! steadily over a 300 s timeout. Per round and size, 100,000 of each:
//! `floor`, two dependent random reads in memory the size of the index and
//! of the records (the least any lookup costs at that size, through the
//! caches and the TLB); `get`
//! of a random stored id, `get` of an absent id, `add` of a new session,
//! `remove` of a random stored session (put back untimed), and `add` with
//! the clock moving on so that each add also expires one session.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use dc_store::{AddOutcome, Limits, MemoryStore, SessionStore};

const DATA: [u8; 200] = [0xd5; 200];
const TIMEOUT_MS: u64 = 300_000;
const OPS: u64 = 100_000;
const ROUNDS: usize = 12;
const FRESH: u64 = 1 << 40;
const NAMES: [&str; 6] = [
    "floor",
    "get hit",
    "get miss",
    "add",
    "remove",
    "add+expire",
];
/// Bytes of one record: header, id, data.
const RECORD_LEN: usize = 18 + 32 + 200;

fn id(i: u64) -> [u8; 32] {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&i.to_le_bytes());
    id[24..].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    id
}

fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// A store of `n` sessions and where its clock and streams stand.
struct Sized {
    n: u64,
    store: MemoryStore,
    /// Next session of the steady stream (`add+expire`).
    next: u64,
    /// Sessions added by `add` so far.
    fresh: u64,
    /// Memory the size of the hash index and of the records, for `floor`.
    index_like: Vec<u64>,
    records_like: Vec<u8>,
    best: [f64; 6],
}

impl Sized {
    fn new(n: u64) -> Sized {
        let limits = Limits::new((n + OPS) as usize, usize::MAX).unwrap();
        let mut store = MemoryStore::new(limits);
        for k in 0..n {
            let now = k * TIMEOUT_MS / n;
            assert_eq!(
                store.add(&id(k), &DATA, now + TIMEOUT_MS, now),
                AddOutcome::Stored
            );
        }
        Sized {
            n,
            store,
            next: n,
            fresh: 0,
            index_like: vec![1; (n as usize * 9 / 8).max(1)],
            records_like: vec![1; n as usize * RECORD_LEN + 8],
            best: [f64::INFINITY; 6],
        }
    }

    /// The clock of the steady stream, and the expiry of its session `k`.
    fn now(&self) -> u64 {
        self.next * TIMEOUT_MS / self.n
    }

    fn round(&mut self, rng: &mut u64) {
        let (n, now) = (self.n, self.now());
        let mut timings = [0.0; 6];
        let mut time = |op: usize, f: &mut dyn FnMut()| {
            let start = Instant::now();
            f();
            timings[op] = start.elapsed().as_nanos() as f64 / OPS as f64;
        };
        // Stored ids are next - n .. next (older ones have expired).
        let base = self.next - n;
        let (index_like, records_like) = (&self.index_like, &self.records_like);
        time(0, &mut || {
            // Two dependent random reads: the least a lookup can cost here.
            for _ in 0..OPS {
                let k = (next_random(rng) % n) as usize;
                let slot = index_like[k * 7 % index_like.len()] as usize;
                black_box(records_like[k * RECORD_LEN + slot]);
            }
        });
        let store = &mut self.store;
        time(1, &mut || {
            for _ in 0..OPS {
                black_box(store.get(&id(base + next_random(rng) % n), now));
            }
        });
        time(2, &mut || {
            for _ in 0..OPS {
                black_box(store.get(&id(FRESH - 1 - next_random(rng) % n), now));
            }
        });
        let fresh = self.fresh;
        time(3, &mut || {
            for j in fresh..fresh + OPS {
                let outcome = store.add(&id(FRESH + j), &DATA, now + 2 * TIMEOUT_MS, now);
                assert_eq!(outcome, AddOutcome::Stored);
            }
        });
        for j in fresh..fresh + OPS {
            assert!(store.remove(&id(FRESH + j), now));
        }
        self.fresh += OPS;
        let picks: Vec<u64> = (0..OPS).map(|_| base + next_random(rng) % n).collect();
        let mut removed = Vec::with_capacity(OPS as usize);
        time(4, &mut || {
            for &k in &picks {
                if store.remove(&id(k), now) {
                    removed.push(k);
                }
            }
        });
        for k in removed {
            let outcome = store.add(&id(k), &DATA, k * TIMEOUT_MS / n + TIMEOUT_MS, now);
            assert_eq!(outcome, AddOutcome::Stored);
        }
        let next = self.next;
        time(5, &mut || {
            for k in next..next + OPS {
                let now = k * TIMEOUT_MS / n;
                assert_eq!(
                    store.add(&id(k), &DATA, now + TIMEOUT_MS, now),
                    AddOutcome::Stored
                );
            }
        });
        self.next += OPS;
        for (best, t) in self.best.iter_mut().zip(timings) {
            *best = best.min(t);
        }
    }
}

fn main() -> ExitCode {
    let sizes: Vec<u64> = match std::env::args()
        .skip(1)
        .map(|a| a.replace('_', "").parse::<u64>())
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(sizes) if sizes.is_empty() => vec![10_000, 1_000_000, 10_000_000],
        Ok(sizes) if sizes.iter().all(|&n| n >= 1000) => sizes,
        _ => {
            eprintln!("flatness: sizes must be numbers of sessions, at least 1000");
            return ExitCode::FAILURE;
        }
    };
    let mut stores: Vec<Sized> = sizes.iter().map(|&n| Sized::new(n)).collect();
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..ROUNDS {
        for store in &mut stores {
            store.round(&mut rng);
        }
    }
    print!("{:>12}", "ns/op, best");
    for store in &stores {
        print!("{:>11}", store.n);
    }
    println!("{:>14}", "largest/first");
    for (op, name) in NAMES.iter().enumerate() {
        print!("{name:>12}");
        for store in &stores {
            print!("{:>11.0}", store.best[op]);
        }
        let (first, last) = (stores[0].best[op], stores[stores.len() - 1].best[op]);
        println!("{:>14.2}", last / first);
    }
    ExitCode::SUCCESS
}
