//! The store's memory after churn: 1M sessions of 32-byte ids and data
//! spread over 100–1500 bytes, then every one of them expired and replaced
//! by a session of another random length, four times over. The resident
//! set per live session must stay within 1.3 times what it was after the
//! first fill, and so must the overhead beyond the ids and data.
//!
//! Sessions arrive at a steady rate with a fixed lifetime, as from a busy
//! TLS front end, so the oldest ones expire as new ones come: each size
//! class loses its oldest records and gains new ones at random.
//!
//! Release builds only:
//!
//! ```text
//! cargo test --release -p dc_store --test overhead_churn -- --nocapture
//! ```
//!
//! A binary of its own, like `overhead_spread.rs`: it measures the growth
//! of its own process's resident set.

mod common;

use common::{id, rss};
use dc_store::{AddOutcome, Limits, MemoryStore, SessionStore};

const SESSIONS: u64 = 1_000_000;
/// Times every session is replaced after the first fill.
const ROUNDS: u64 = 4;
const DATA_MIN: u64 = 100;
const DATA_MAX: u64 = 1500;
const TIMEOUT_MS: u64 = 300_000;
/// Most the churned store may cost per live session, relative to the
/// fresh fill (in total and beyond ids and data).
const MOST_GROWTH: f64 = 1.3;

/// What the store costs per live session now.
struct Footprint {
    sessions: usize,
    /// Resident set growth per live session.
    per_session: f64,
    /// The same, less the ids and data.
    overhead: f64,
}

fn footprint(store: &MemoryStore, before: u64) -> Footprint {
    let grown = rss() - before;
    let stats = store.stats();
    let sessions = stats.sessions as f64;
    Footprint {
        sessions: stats.sessions,
        per_session: grown as f64 / sessions,
        overhead: (grown as f64 - stats.bytes as f64) / sessions,
    }
}

#[test]
#[cfg_attr(debug_assertions, ignore = "slow in debug builds; run with --release")]
fn churned_store_costs_within_1_3x_of_a_fresh_fill() {
    let data = [0x5au8; DATA_MAX as usize];
    let before = rss();
    // Room for twice the sessions held, so that only expiry replaces them
    // (never a batch eviction by count).
    let mut store = MemoryStore::new(Limits::new(2 * SESSIONS as usize, usize::MAX).unwrap());
    let add = |store: &mut MemoryStore, i: u64| {
        let now = i * TIMEOUT_MS / SESSIONS;
        let len = DATA_MIN + i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % (DATA_MAX - DATA_MIN + 1);
        let added = store.add(&id(i), &data[..len as usize], now + TIMEOUT_MS, now);
        assert_eq!(added, AddOutcome::Stored);
    };
    for i in 0..SESSIONS {
        add(&mut store, i);
    }
    let fresh = footprint(&store, before);
    for i in SESSIONS..(ROUNDS + 1) * SESSIONS {
        add(&mut store, i);
    }
    let churned = footprint(&store, before);
    for (phase, f) in [("fresh", &fresh), ("churned", &churned)] {
        println!(
            "{phase:>8}: {} sessions, RSS {:.1} bytes per session, {:.1} beyond id and data",
            f.sessions, f.per_session, f.overhead
        );
    }
    assert!(
        churned.sessions as u64 >= SESSIONS * 99 / 100,
        "only {} sessions live after churn",
        churned.sessions
    );
    assert!(
        churned.per_session <= MOST_GROWTH * fresh.per_session,
        "{:.1} bytes per session after churn, {:.1} fresh",
        churned.per_session,
        fresh.per_session
    );
    assert!(
        churned.overhead <= MOST_GROWTH * fresh.overhead,
        "{:.1} bytes of overhead per session after churn, {:.1} fresh",
        churned.overhead,
        fresh.overhead
    );
}
