//! The store's memory overhead as the issue defines it: growth of the
//! process's resident set over 1M stored sessions (32-byte ids, 200 bytes of
//! data), beyond the ids and data themselves. It must stay at or under 32
//! bytes per session.
//!
//! Release builds only (a debug build takes minutes to fill the store):
//!
//! ```text
//! cargo test --release -p dc_store --test overhead -- --nocapture
//! ```
//!
//! The binary holds a single test so that nothing else allocates while it
//! measures. `examples/overhead.rs` prints the same measurement for other
//! sizes, and after churn.

mod common;

use common::{id, rss};
use dc_store::{AddOutcome, Limits, MemoryStore, SessionStore};

const SESSIONS: u64 = 1_000_000;
const DATA_LEN: usize = 200;
const TIMEOUT_MS: u64 = 300_000;

#[test]
#[cfg_attr(debug_assertions, ignore = "slow in debug builds; run with --release")]
fn a_million_sessions_cost_at_most_32_bytes_each_beyond_id_and_data() {
    let data = [0xd5u8; DATA_LEN];
    let before = rss();
    let mut store = MemoryStore::new(Limits::new(SESSIONS as usize, usize::MAX).unwrap());
    for i in 0..SESSIONS {
        // A steady stream over one timeout, as from a busy TLS front end.
        let now = i * TIMEOUT_MS / SESSIONS;
        assert_eq!(
            store.add(&id(i), &data, now + TIMEOUT_MS, now),
            AddOutcome::Stored
        );
    }
    let grown = rss() - before;
    let stats = store.stats();
    assert_eq!(stats.sessions, SESSIONS as usize);
    let overhead = (grown as f64 - stats.bytes as f64) / SESSIONS as f64;
    println!(
        "RSS grew {:.1} MiB for {} MiB of ids and data: {overhead:.1} bytes per session beyond them ({:?})",
        grown as f64 / (1 << 20) as f64,
        stats.bytes >> 20,
        store.index_memory(),
    );
    assert!(overhead <= 32.0, "{overhead:.1} bytes per session");
}
