//! Criterion benches of [`MemoryStore`] at 10k, 1M and 10M stored sessions
//! (32-byte ids, 200 bytes of data, sessions arriving steadily over a 300 s
//! timeout). The cost of each operation should not depend on the number
//! stored.
//!
//! ```text
//! cargo bench -p dc_store --bench store
//! DC_STORE_BENCH_10M=1 cargo bench -p dc_store --bench store   # adds 10M: ~6 GB, a few minutes
//! cargo bench -p dc_store --bench store -- 'get/'                # one family
//! ```
//!
//! Per size:
//! * `floor`: two dependent random reads, in memory the size of the hash
//!   index and of the records: the least any hash lookup can cost at this
//!   size, whatever the store. Past the CPU caches (32 MiB of L3 here), it
//!   grows with the size, through cache and TLB misses; compare the
//!   store's costs with it, not only with each other.
//! * `get/hit`: an id drawn uniformly from all stored ones, so at 1M and
//!   10M every lookup misses the CPU caches; `get/hit_recent` draws from
//!   the 64Ki most recently added, as session resumption tends to;
//!   `get/miss`: an id never stored.
//! * `add`: a new session (timed), later removed again (untimed) so the size
//!   stays put; `remove`: a stored session (timed), put back (untimed).
//! * `add_expiring`: the steady state of a server: the clock moves on with
//!   each add, so each add also expires the session whose time is up.
//! * `add_evicting`: a store full by count: an add evicts a batch of
//!   `max_sessions / 30` soonest-expiring sessions every so many adds.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use dc_store::{AddOutcome, Limits, MemoryStore, SessionStore};

const DATA: [u8; 200] = [0xd5; 200];
/// Bytes of one stored session's record: header, 32-byte id, data.
const RECORD_LEN: usize = 18 + 32 + 200;
const TIMEOUT_MS: u64 = 300_000;
/// Ids of sessions added by the `add` bench: far from those of the fill.
const FRESH: u64 = 1 << 40;

fn id(i: u64) -> [u8; 32] {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&i.to_le_bytes());
    id[24..].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    id
}

/// Session `k` of a steady stream of `n` per timeout arrives at `arrival`
/// and expires one timeout later.
fn arrival(k: u64, n: u64) -> u64 {
    k * TIMEOUT_MS / n
}

fn expiry(k: u64, n: u64) -> u64 {
    arrival(k, n) + TIMEOUT_MS
}

/// A store of `n` sessions, numbered `0..n`, each added at its arrival.
/// The clock then reads `arrival(n)`: nothing has expired yet.
fn filled(n: u64, max_sessions: usize) -> MemoryStore {
    let mut store = MemoryStore::new(Limits::new(max_sessions, usize::MAX).unwrap());
    for k in 0..n {
        let outcome = store.add(&id(k), &DATA, expiry(k, n), arrival(k, n));
        assert_eq!(outcome, AddOutcome::Stored);
    }
    store
}

/// xorshift64: cheap, good enough to scatter lookups.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// Times `op` on chunks of at most `n / 8` iterations, running `undo`
/// untimed after each chunk so the store keeps its size.
fn chunked(
    store: &mut MemoryStore,
    iters: u64,
    n: u64,
    mut op: impl FnMut(&mut MemoryStore, u64),
    mut undo: impl FnMut(&mut MemoryStore, u64),
) -> Duration {
    let chunk_max = (n / 8).max(1);
    let (mut done, mut total) = (0, Duration::ZERO);
    while done < iters {
        let chunk = (iters - done).min(chunk_max);
        let start = Instant::now();
        for j in done..done + chunk {
            op(store, j);
        }
        total += start.elapsed();
        for j in done..done + chunk {
            undo(store, j);
        }
        done += chunk;
    }
    total
}

fn bench_size(group: &mut BenchmarkGroup<'_, WallTime>, n: u64, label: &str) {
    let mut rng = 0x2545_f491_4f6c_dd1d_u64;
    group.bench_function(format!("floor/{label}"), |b| {
        // What any hash lookup pays at this size, whatever the design: a
        // random read in memory the size of the index (~9 bytes a session)
        // and, depending on it, one in memory the size of the records.
        let index = vec![1u64; (n as usize * 9 / 8).max(1)];
        let records = vec![1u8; n as usize * RECORD_LEN + 8];
        b.iter(|| {
            let k = next_random(&mut rng) % n;
            let slot = index[(k as usize * 7) % index.len()] as usize;
            black_box(records[k as usize * RECORD_LEN + slot]);
        });
    });

    let now = arrival(n, n);
    // Room for the `add` bench's chunks of n / 8 new sessions.
    let mut store = filled(n, (n + n / 4) as usize);

    group.bench_function(format!("get/hit/{label}"), |b| {
        b.iter(|| {
            let k = next_random(&mut rng) % n;
            black_box(store.get(black_box(&id(k)), now));
        });
    });
    group.bench_function(format!("get/hit_recent/{label}"), |b| {
        let recent = n.min(1 << 16);
        b.iter(|| {
            let k = n - 1 - next_random(&mut rng) % recent;
            black_box(store.get(black_box(&id(k)), now));
        });
    });
    group.bench_function(format!("get/miss/{label}"), |b| {
        b.iter(|| {
            let k = n + next_random(&mut rng) % n;
            black_box(store.get(black_box(&id(k)), now));
        });
    });

    let mut fresh = 0u64;
    group.bench_function(format!("add/{label}"), |b| {
        b.iter_custom(|iters| {
            // New sessions expire after every stored one, as new arrivals do.
            let base = fresh;
            fresh += iters;
            let session = move |j: u64| (FRESH + base + j, expiry(n + (base + j) % n, n));
            chunked(
                &mut store,
                iters,
                n,
                |store, j| {
                    let (k, expires_at) = session(j);
                    let outcome = store.add(&id(k), &DATA, expires_at, now);
                    assert_eq!(black_box(outcome), AddOutcome::Stored);
                },
                |store, j| {
                    assert!(store.remove(&id(session(j).0), now));
                },
            )
        });
    });
    group.bench_function(format!("remove/{label}"), |b| {
        b.iter_custom(|iters| {
            // An odd stride not divisible by 5 visits every session of a
            // store of 10^k before repeating one.
            let start = next_random(&mut rng);
            let pick = move |j: u64| (start + j * 0x9e37_79b1) % n;
            chunked(
                &mut store,
                iters,
                n,
                |store, j| {
                    black_box(store.remove(&id(pick(j)), now));
                },
                |store, j| {
                    let k = pick(j);
                    let outcome = store.add(&id(k), &DATA, expiry(k, n), now);
                    assert_eq!(outcome, AddOutcome::Stored);
                },
            )
        });
    });
    let mut k = n;
    group.bench_function(format!("add_expiring/{label}"), |b| {
        b.iter(|| {
            let outcome = store.add(&id(k), &DATA, expiry(k, n), arrival(k, n));
            debug_assert_eq!(outcome, AddOutcome::Stored);
            k += 1;
        });
    });
    drop(store);

    let mut store = filled(n, n as usize);
    let mut k = n;
    group.bench_function(format!("add_evicting/{label}"), |b| {
        b.iter(|| {
            let outcome = store.add(&id(k), &DATA, expiry(k, n), now);
            debug_assert_eq!(outcome, AddOutcome::Stored);
            k += 1;
        });
    });
}

fn store(c: &mut Criterion) {
    let mut sizes = vec![(10_000, "10k"), (1_000_000, "1M")];
    if std::env::var_os("DC_STORE_BENCH_10M").is_some() {
        sizes.push((10_000_000, "10M"));
    }
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(1));
    for (n, label) in sizes {
        bench_size(&mut group, n, label);
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = store
}
criterion_main!(benches);
