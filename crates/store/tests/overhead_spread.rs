//! The store's memory overhead on the benchmark's workload: 1M sessions of
//! 32-byte ids and data spread evenly over 100–1500 bytes, so some 350 size
//! classes are in use at once. Like `overhead.rs` (one length), it must stay
//! at or under 32 bytes per session beyond the ids and data.
//!
//! Release builds only:
//!
//! ```text
//! cargo test --release -p dc_store --test overhead_spread -- --nocapture
//! ```
//!
//! A binary of its own: the resident set of a process that already filled
//! and dropped a store would understate the growth.

mod common;

use common::{id, rss};
use dc_store::{AddOutcome, Limits, MemoryStore, SessionStore};

const SESSIONS: u64 = 1_000_000;
const DATA_MIN: u64 = 100;
const DATA_MAX: u64 = 1500;
const TIMEOUT_MS: u64 = 300_000;

#[test]
#[cfg_attr(debug_assertions, ignore = "slow in debug builds; run with --release")]
fn a_million_sessions_of_spread_sizes_cost_at_most_32_bytes_each() {
    let data = [0x5au8; DATA_MAX as usize];
    let before = rss();
    let mut store = MemoryStore::new(Limits::new(SESSIONS as usize, usize::MAX).unwrap());
    for i in 0..SESSIONS {
        let now = i * TIMEOUT_MS / SESSIONS;
        // Every length in the range, in an order that interleaves them.
        let len = DATA_MIN + i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % (DATA_MAX - DATA_MIN + 1);
        let added = store.add(&id(i), &data[..len as usize], now + TIMEOUT_MS, now);
        assert_eq!(added, AddOutcome::Stored);
    }
    let grown = rss() - before;
    let stats = store.stats();
    assert_eq!(stats.sessions, SESSIONS as usize);
    let overhead = (grown as f64 - stats.bytes as f64) / SESSIONS as f64;
    println!(
        "RSS grew {:.1} MiB for {} MiB of ids and data: {overhead:.1} bytes per session beyond them",
        grown as f64 / (1 << 20) as f64,
        stats.bytes >> 20,
    );
    assert!(overhead <= 32.0, "{overhead:.1} bytes per session");
}
