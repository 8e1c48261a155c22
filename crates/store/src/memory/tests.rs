//! One test per rule of the distcache contract, plus scale tests.

use super::*;
use crate::{AddOutcome, MIN_MAX_BYTES};

fn store(max_sessions: usize) -> MemoryStore {
    MemoryStore::new(Limits::new(max_sessions, 1 << 30).unwrap())
}

/// A store whose limits bypass [`Limits::new`], for small byte caps.
fn store_unchecked(max_sessions: usize, max_bytes: usize) -> MemoryStore {
    MemoryStore::new(Limits {
        max_sessions,
        max_bytes,
    })
}

fn added(store: &mut MemoryStore, id: &[u8], expires_at: Millis, now: Millis) {
    assert_eq!(
        store.add(id, b"data", expires_at, now),
        AddOutcome::Stored,
        "adding {:?}",
        String::from_utf8_lossy(id)
    );
}

#[test]
fn record_header_stays_small() {
    // expires_at (8) + prev, next (4 + 4) + id_len (1) + meta (1); no
    // allocator header, no data length (the slot length gives it), and no
    // flags field unless the flags are non-zero.
    assert_eq!(slab::HEADER_LEN, 18);
    assert_eq!(record_len(0, 32, 100), 18 + 32 + 100);
    assert_eq!(record_len(1, 32, 100), 18 + 4 + 32 + 100);
}

#[test]
fn session_is_live_at_its_expiry_and_gone_one_millisecond_later() {
    let mut s = store(64);
    assert_eq!(s.add(b"id", b"data", 1000, 0), AddOutcome::Stored);
    assert_eq!(s.get(b"id", 1000), Some(&b"data"[..]));
    assert!(s.have(b"id", 1000));
    assert_eq!(s.get(b"id", 1001), None);
    assert!(!s.have(b"id", 1001));
    assert!(!s.remove(b"id", 1001));
    s.check_invariants();
}

#[test]
fn remove_at_exactly_expiry_removes_the_live_session() {
    let mut s = store(64);
    added(&mut s, b"id", 1000, 0);
    assert!(s.remove(b"id", 1000));
    assert!(!s.have(b"id", 1000));
    assert_eq!(s.stats().expirations, 0);
}

#[test]
fn timeout_zero_is_live_now_and_expired_at_the_next_millisecond() {
    let mut s = store(64);
    added(&mut s, b"id", 500, 500);
    assert!(s.have(b"id", 500));
    assert!(!s.have(b"id", 501));
}

#[test]
fn expire_drops_only_sessions_strictly_before_now() {
    let mut s = store(64);
    added(&mut s, b"a", 10, 0);
    added(&mut s, b"b", 20, 0);
    added(&mut s, b"c", 20, 0);
    added(&mut s, b"d", 30, 0);
    assert_eq!(s.expire(10), 0);
    assert_eq!(s.expire(11), 1);
    assert_eq!(s.expire(20), 0);
    assert_eq!(s.expire(25), 2);
    assert_eq!(s.len(), 1);
    assert!(s.have(b"d", 25));
    let stats = s.stats();
    assert_eq!(stats.expirations, 3);
    assert_eq!(stats.evictions, 0);
    s.check_invariants();
}

#[test]
fn expired_sessions_count_in_len_until_purged() {
    let mut s = store(64);
    added(&mut s, b"a", 10, 0);
    assert_eq!(s.len(), 1);
    assert!(!s.have(b"a", 11));
    assert_eq!(s.len(), 1, "get/have cannot purge");
    assert_eq!(s.expire(11), 1);
    assert!(s.is_empty());
}

#[test]
fn duplicate_keeps_the_first_data() {
    let mut s = store(64);
    assert_eq!(s.add(b"id", b"first", 1000, 0), AddOutcome::Stored);
    assert_eq!(s.add(b"id", b"second", 5000, 10), AddOutcome::Duplicate);
    assert_eq!(s.get(b"id", 1000), Some(&b"first"[..]));
    assert_eq!(s.get(b"id", 1001), None, "the first expiry is kept too");
    assert_eq!(s.len(), 1);
    assert_eq!(s.stats().bytes, 2 + 5);
}

#[test]
fn duplicate_into_a_full_store_evicts_nothing() {
    let mut s = store(64);
    for i in 0..64u64 {
        added(&mut s, format!("E{i:02}").as_bytes(), 1000 + i, 0);
    }
    assert_eq!(s.add(b"E10", b"again", 9999, 0), AddOutcome::Duplicate);
    assert_eq!(s.len(), 64);
    assert_eq!(s.stats().evictions, 0);
    assert!(s.have(b"E00", 0));
}

#[test]
fn an_expired_id_can_be_added_again() {
    let mut s = store(64);
    assert_eq!(s.add(b"id", b"old", 100, 0), AddOutcome::Stored);
    assert_eq!(s.add(b"id", b"new", 300, 101), AddOutcome::Stored);
    assert_eq!(s.get(b"id", 101), Some(&b"new"[..]));
    assert_eq!(s.len(), 1);
    assert_eq!(s.stats().expirations, 1);
    s.check_invariants();
}

#[test]
fn ids_match_exactly() {
    let mut s = store(64);
    added(&mut s, b"ab", 100, 0);
    assert!(!s.have(b"a", 0));
    assert!(!s.have(b"abc", 0));
    assert!(!s.have(b"AB", 0));
    assert!(!s.have(b"", 0));
    assert!(s.have(b"ab", 0));
}

#[test]
fn empty_id_and_empty_data_are_stored_as_given() {
    // The protocol layer refuses both; the store just must not trip on them.
    let mut s = store(64);
    assert_eq!(s.add(b"", b"x", 100, 0), AddOutcome::Stored);
    assert_eq!(s.add(b"y", b"", 100, 0), AddOutcome::Stored);
    assert_eq!(s.get(b"", 0), Some(&b"x"[..]));
    assert_eq!(s.get(b"y", 0), Some(&b""[..]));
    assert_eq!(s.stats().bytes, 2);
}

#[test]
fn full_store_of_64_evicts_the_two_expiring_first_with_ties_by_arrival() {
    let mut s = store(64);
    // Two sessions tie for the earliest expiry; the later-added one of a
    // second tie must survive.
    added(&mut s, b"late", 9000, 0);
    added(&mut s, b"tie-1st", 500, 0);
    for i in 0..60u64 {
        added(&mut s, format!("mid{i}").as_bytes(), 1000 + i, 0);
    }
    added(&mut s, b"tie-2nd", 500, 0);
    added(&mut s, b"tie-3rd", 500, 0);
    assert_eq!(s.len(), 64);

    added(&mut s, b"NEW", 2000, 0);
    assert_eq!(s.stats().evictions, 2);
    assert_eq!(s.len(), 63);
    assert!(!s.have(b"tie-1st", 0));
    assert!(!s.have(b"tie-2nd", 0));
    assert!(s.have(b"tie-3rd", 0));
    assert!(s.have(b"late", 0));
    assert!(s.have(b"NEW", 0));
    s.check_invariants();
}

/// The captured vector `eviction_when_full` (PROTOCOL.md §5.6).
#[test]
fn captured_eviction_when_full() {
    let mut s = store(64);
    for i in 0..64u64 {
        let expires_at = 100_000 + ((i * 37) % 64) * 1000;
        added(&mut s, format!("E{i:02}").as_bytes(), expires_at, 0);
    }
    added(&mut s, b"NEW", 200_000, 0);
    assert!(!s.have(b"E00", 0));
    assert!(!s.have(b"E45", 0));
    assert!(s.have(b"E26", 0));
    assert!(s.have(b"E63", 0));
    assert!(s.have(b"NEW", 0));
    assert_eq!(s.len(), 63);
    assert_eq!(s.stats().evictions, 2);
}

#[test]
fn batch_is_one_below_sixty_sessions_and_seventeen_at_512() {
    let mut s = store(59);
    for i in 0..60u64 {
        added(&mut s, &i.to_be_bytes(), 1000 + i, 0);
    }
    assert_eq!(s.stats().evictions, 1);
    assert!(!s.have(&0u64.to_be_bytes(), 0));
    assert!(s.have(&1u64.to_be_bytes(), 0));

    let mut s = store(512);
    for i in 0..513u64 {
        added(&mut s, &i.to_be_bytes(), 1000 + i, 0);
    }
    assert_eq!(s.stats().evictions, 17);
    assert_eq!(s.len(), 512 - 17 + 1);
    assert!(!s.have(&16u64.to_be_bytes(), 0));
    assert!(s.have(&17u64.to_be_bytes(), 0));
}

#[test]
fn the_new_session_is_stored_even_if_it_expires_first() {
    let mut s = store(64);
    for i in 0..64u64 {
        added(&mut s, &i.to_be_bytes(), 1000 + i, 0);
    }
    added(&mut s, b"soonest", 10, 0);
    assert!(s.have(b"soonest", 0));
    assert!(!s.have(&0u64.to_be_bytes(), 0));
}

#[test]
fn expired_sessions_are_purged_before_counting_capacity() {
    let mut s = store(64);
    added(&mut s, b"short", 5, 0);
    for i in 0..63u64 {
        added(&mut s, &i.to_be_bytes(), 1000, 0);
    }
    // Full, but "short" has expired: it makes the room, nothing is evicted.
    added(&mut s, b"NEW", 1000, 6);
    assert_eq!(s.stats().evictions, 0);
    assert_eq!(s.stats().expirations, 1);
    assert_eq!(s.len(), 64);
}

#[test]
fn get_does_not_protect_a_session_from_eviction() {
    let mut s = store(64);
    for i in 0..64u64 {
        added(&mut s, &i.to_be_bytes(), 1000 + i, 0);
    }
    for _ in 0..10 {
        assert!(s.get(&0u64.to_be_bytes(), 0).is_some());
        assert!(s.have(&1u64.to_be_bytes(), 0));
    }
    added(&mut s, b"NEW", 5000, 0);
    assert!(!s.have(&0u64.to_be_bytes(), 0));
    assert!(!s.have(&1u64.to_be_bytes(), 0));
}

#[test]
fn byte_cap_evicts_soonest_expiring_one_at_a_time_until_it_fits() {
    let mut s = MemoryStore::new(Limits::new(1000, MIN_MAX_BYTES).unwrap());
    let big = vec![7u8; 20_000];
    assert_eq!(s.add(b"late", &big, 3000, 0), AddOutcome::Stored);
    assert_eq!(s.add(b"soon", &big, 1000, 0), AddOutcome::Stored);
    assert_eq!(s.add(b"mid", &big, 2000, 0), AddOutcome::Stored);
    assert_eq!(s.stats().bytes, 3 * 20_000 + 4 + 4 + 3);
    // 60011 + 20004 > 65536: one eviction (the soonest) makes room.
    assert_eq!(s.add(b"next", &big, 4000, 0), AddOutcome::Stored);
    assert_eq!(s.stats().evictions, 1);
    assert!(!s.have(b"soon", 0));
    assert!(s.have(b"mid", 0) && s.have(b"late", 0) && s.have(b"next", 0));
    s.check_invariants();

    // The largest session the wire allows needs two more evictions.
    let largest = vec![1u8; 32_696];
    assert_eq!(s.add(&[b'x'; 64], &largest, 5000, 0), AddOutcome::Stored);
    assert_eq!(s.stats().evictions, 3);
    assert!(!s.have(b"mid", 0) && !s.have(b"late", 0));
    assert!(s.have(b"next", 0));
    assert_eq!(s.stats().bytes, 20_004 + 64 + 32_696);
    s.check_invariants();
}

#[test]
fn byte_cap_ties_go_oldest_first() {
    let mut s = store_unchecked(100, 30);
    assert_eq!(s.add(b"a", b"123456789", 100, 0), AddOutcome::Stored);
    assert_eq!(s.add(b"b", b"123456789", 100, 0), AddOutcome::Stored);
    assert_eq!(s.add(b"c", b"123456789", 100, 0), AddOutcome::Stored);
    assert_eq!(s.add(b"d", b"123456789", 100, 0), AddOutcome::Stored);
    assert!(!s.have(b"a", 0));
    assert!(s.have(b"b", 0) && s.have(b"c", 0) && s.have(b"d", 0));
}

#[test]
fn sessions_that_can_never_fit_are_refused_without_evicting() {
    let mut s = store_unchecked(100, 100);
    added(&mut s, b"keep", 1000, 0);

    assert_eq!(s.add(b"id", &[0; 99], 1000, 0), AddOutcome::TooLarge);
    assert_eq!(
        s.add(b"id", &[0; 98], 1000, 0),
        AddOutcome::Stored,
        "exactly max_bytes fits"
    );
    assert!(!s.have(b"keep", 0), "evicted to make room");

    let long_id = [b'i'; MAX_ID_LEN + 1];
    assert_eq!(s.add(&long_id, b"", 1000, 0), AddOutcome::TooLarge);
    assert!(!s.have(&long_id, 0));
    assert!(!s.remove(&long_id, 0));

    let mut s = store(4);
    let longest = [b'i'; MAX_ID_LEN];
    assert_eq!(s.add(&longest, b"d", 1000, 0), AddOutcome::Stored);
    assert_eq!(s.get(&longest, 0), Some(&b"d"[..]));
    assert_eq!(s.stats().evictions, 0);
}

#[test]
fn data_up_to_max_data_len_is_stored_and_longer_is_refused() {
    let mut s = store_unchecked(4, usize::MAX);
    let longest = vec![7u8; MAX_DATA_LEN];
    assert_eq!(s.add(b"a", &longest, 100, 0), AddOutcome::Stored);
    assert_eq!(s.get(b"a", 0).map(<[u8]>::len), Some(MAX_DATA_LEN));
    let too_long = vec![7u8; MAX_DATA_LEN + 1];
    assert_eq!(s.add(b"b", &too_long, 100, 0), AddOutcome::TooLarge);
    assert!(!s.have(b"b", 0));
    assert_eq!(s.len(), 1);
    s.check_invariants();
}

#[test]
fn an_index_sized_for_max_sessions_never_grows() {
    let mut s = store(10_000);
    let sized = s.index_memory().id_index;
    assert!(sized <= 10_000 * 64 / 10 + 64, "{sized} bytes");
    for i in 0..20_000u64 {
        added(&mut s, &i.to_be_bytes(), 1000 + i, 0);
    }
    assert_eq!(s.index_memory().id_index, sized);
}

#[test]
fn remove_frees_the_session_and_its_bytes() {
    let mut s = store(64);
    added(&mut s, b"a", 100, 0);
    added(&mut s, b"b", 100, 0);
    assert!(s.remove(b"a", 0));
    assert!(!s.remove(b"a", 0), "already gone");
    assert!(!s.remove(b"zzz", 0), "never there");
    assert_eq!(s.stats().bytes, 1 + 4);
    assert!(s.remove(b"b", 0));
    assert!(s.is_empty());
    assert_eq!(s.stats().bytes, 0);
    s.check_invariants();
    // The id can be used again, and its new session is independent.
    added(&mut s, b"a", 50, 0);
    assert_eq!(s.expire(51), 1);
}

#[test]
fn churn_reuses_slots_instead_of_growing() {
    let mut s = store(64);
    for i in 0..100_000u64 {
        added(&mut s, &i.to_be_bytes(), i % 977, 0);
        if i % 3 == 0 {
            s.remove(&(i / 2).to_be_bytes(), 0);
        }
    }
    assert!(s.len() <= 64);
    assert!(
        s.slot_capacity() <= 128,
        "slab grew to {}",
        s.slot_capacity()
    );
    assert_eq!(s.stats().bytes, s.len() * (8 + 4));
    s.check_invariants();
}

#[test]
fn unchecked_zero_sessions_behaves_as_one() {
    let mut s = store_unchecked(0, 1 << 20);
    assert_eq!(s.limits().max_sessions, 1);
    added(&mut s, b"a", 100, 0);
    added(&mut s, b"b", 100, 0);
    assert_eq!(s.len(), 1);
    assert!(s.have(b"b", 0));
}

#[test]
fn clock_going_backwards_does_not_resurrect_purged_sessions() {
    let mut s = store(64);
    added(&mut s, b"a", 100, 0);
    assert_eq!(s.expire(200), 1);
    assert!(!s.have(b"a", 50));
    added(&mut s, b"b", 100, 300); // already expired when added
    assert!(!s.have(b"b", 300));
    assert!(s.have(b"b", 50));
    s.check_invariants();
}

#[test]
fn debug_output_hides_session_data() {
    let mut s = store(64);
    added(&mut s, b"secret-id", 100, 0);
    let shown = format!("{s:?}");
    assert!(shown.contains("sessions: 1"), "{shown}");
    assert!(
        !shown.contains("secret") && !shown.contains("data"),
        "{shown}"
    );
}

#[test]
fn trait_object_works() {
    let mut s: Box<dyn SessionStore> = Box::new(store(64));
    assert_eq!(s.add(b"id", b"x", 10, 0), AddOutcome::Stored);
    assert!(s.have(b"id", 0));
    assert_eq!(
        s.stats(),
        StoreStats {
            sessions: 1,
            bytes: 3,
            evictions: 0,
            expirations: 0
        }
    );
}

/// 32-byte ids, as mod_ssl sends them, 8 data bytes, varied expiries.
fn fill_and_look_up(n: u64) {
    let id = |i: u64| {
        let mut id = [0u8; 32];
        id[..8].copy_from_slice(&i.to_le_bytes());
        id[24..].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
        id
    };
    let mut s = MemoryStore::new(Limits::new(n as usize, usize::MAX).unwrap());
    for i in 0..n {
        let expires_at = 1_000_000 + (i * 7919) % 100_000;
        assert_eq!(
            s.add(&id(i), &i.to_le_bytes(), expires_at, 0),
            AddOutcome::Stored
        );
    }
    assert_eq!(s.len(), n as usize);
    assert_eq!(s.stats().evictions, 0);
    for i in 0..n {
        assert_eq!(s.get(&id(i), 1), Some(&i.to_le_bytes()[..]));
    }
    assert!(!s.have(&id(n), 1));
    // Everything expires in one purge.
    assert_eq!(s.expire(2_000_000), n as usize);
    assert!(s.is_empty());
}

#[test]
fn two_hundred_thousand_sessions() {
    fill_and_look_up(200_000);
}

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "slow in debug builds; run with --release or --ignored"
)]
fn a_million_sessions() {
    fill_and_look_up(1_000_000);
}

// ---- store(mode), entry, touch and flags ----

fn stored(s: &mut MemoryStore, mode: StoreMode, id: &[u8], data: &[u8], flags: u32, at: Millis) {
    assert_eq!(
        s.store(mode, id, data, flags, at, 0),
        StoreOutcome::Stored,
        "{mode:?} {:?}",
        String::from_utf8_lossy(id)
    );
}

fn entry_of(s: &MemoryStore, id: &[u8], now: Millis) -> Option<(Vec<u8>, u32, Millis)> {
    s.entry(id, now)
        .map(|e| (e.data.to_vec(), e.flags, e.expires_at))
}

#[test]
fn add_mode_refuses_a_live_id_and_takes_a_missing_or_expired_one() {
    let mut s = store(64);
    assert_eq!(
        s.store(StoreMode::Add, b"id", b"first", 7, 100, 0),
        StoreOutcome::Stored
    );
    assert_eq!(
        s.store(StoreMode::Add, b"id", b"second", 8, 500, 10),
        StoreOutcome::NotStored
    );
    assert_eq!(entry_of(&s, b"id", 10), Some((b"first".to_vec(), 7, 100)));
    assert_eq!(s.stats().bytes, 2 + 5);
    // Expired at 101: an add takes its place, and the old one is counted
    // as an expiration.
    assert_eq!(
        s.store(StoreMode::Add, b"id", b"third", 9, 500, 101),
        StoreOutcome::Stored
    );
    assert_eq!(entry_of(&s, b"id", 101), Some((b"third".to_vec(), 9, 500)));
    assert_eq!(s.stats().expirations, 1);
    assert_eq!(s.len(), 1);
    s.check_invariants();
}

#[test]
fn add_is_store_in_add_mode_with_flags_zero() {
    let mut s = store(64);
    assert_eq!(s.add(b"id", b"x", 100, 0), AddOutcome::Stored);
    assert_eq!(entry_of(&s, b"id", 0), Some((b"x".to_vec(), 0, 100)));
    assert_eq!(s.add(b"id", b"y", 100, 0), AddOutcome::Duplicate);
    assert_eq!(
        s.add(&[0; MAX_ID_LEN + 1], b"y", 100, 0),
        AddOutcome::TooLarge
    );
    for (outcome, add) in [
        (StoreOutcome::Stored, AddOutcome::Stored),
        (StoreOutcome::NotStored, AddOutcome::Duplicate),
        (StoreOutcome::TooLarge, AddOutcome::TooLarge),
    ] {
        assert_eq!(AddOutcome::from(outcome), add);
    }
}

#[test]
fn set_replaces_a_live_id_with_new_data_flags_and_expiry() {
    let mut s = store(64);
    stored(&mut s, StoreMode::Set, b"id", b"old", 1, 100);
    stored(&mut s, StoreMode::Set, b"id", b"newer", 2, 50);
    assert_eq!(entry_of(&s, b"id", 0), Some((b"newer".to_vec(), 2, 50)));
    assert_eq!(s.get(b"id", 50), Some(&b"newer"[..]));
    assert_eq!(s.get(b"id", 51), None, "the new, earlier expiry holds");
    assert_eq!(s.len(), 1);
    let stats = s.stats();
    assert_eq!(
        (stats.bytes, stats.evictions, stats.expirations),
        (2 + 5, 0, 0)
    );
    s.check_invariants();
}

#[test]
fn set_on_an_expired_or_missing_id_stores_it() {
    let mut s = store(64);
    stored(&mut s, StoreMode::Set, b"new", b"a", 0, 100);
    assert_eq!(
        s.store(StoreMode::Set, b"new", b"b", 3, 300, 101),
        StoreOutcome::Stored
    );
    assert_eq!(entry_of(&s, b"new", 101), Some((b"b".to_vec(), 3, 300)));
    assert_eq!(s.stats().expirations, 1);
    assert_eq!(s.len(), 1);
    s.check_invariants();
}

#[test]
fn replace_needs_a_live_id() {
    let mut s = store(64);
    assert_eq!(
        s.store(StoreMode::Replace, b"id", b"x", 1, 100, 0),
        StoreOutcome::NotStored
    );
    assert!(s.is_empty());
    stored(&mut s, StoreMode::Add, b"id", b"x", 1, 100);
    assert_eq!(
        s.store(StoreMode::Replace, b"id", b"yy", 2, 200, 100),
        StoreOutcome::Stored
    );
    assert_eq!(entry_of(&s, b"id", 100), Some((b"yy".to_vec(), 2, 200)));
    // Expired at 201: replacing it is replacing nothing.
    assert_eq!(
        s.store(StoreMode::Replace, b"id", b"z", 3, 300, 201),
        StoreOutcome::NotStored
    );
    assert!(!s.have(b"id", 201));
    assert!(s.is_empty(), "purged by the refused replace");
    assert_eq!(s.stats().expirations, 1);
    s.check_invariants();
}

#[test]
fn refused_stores_change_nothing_and_evict_nothing() {
    let mut s = store(64);
    for i in 0..64u64 {
        added(&mut s, format!("E{i:02}").as_bytes(), 1000 + i, 0);
    }
    let before = s.stats();
    assert_eq!(
        s.store(StoreMode::Replace, b"missing", b"x", 0, 9999, 0),
        StoreOutcome::NotStored
    );
    assert_eq!(
        s.store(StoreMode::Add, b"E05", b"x", 0, 9999, 0),
        StoreOutcome::NotStored
    );
    let huge = vec![0; MAX_DATA_LEN + 1];
    for mode in [StoreMode::Add, StoreMode::Set, StoreMode::Replace] {
        assert_eq!(
            s.store(mode, b"E07", &huge, 1, 9999, 0),
            StoreOutcome::TooLarge
        );
    }
    assert_eq!(s.stats(), before);
    assert_eq!(entry_of(&s, b"E07", 0), Some((b"data".to_vec(), 0, 1007)));
    s.check_invariants();
}

#[test]
fn setting_a_live_id_in_a_full_store_evicts_nothing() {
    let mut s = store(64);
    for i in 0..64u64 {
        added(&mut s, format!("E{i:02}").as_bytes(), 1000 + i, 0);
    }
    // E00 expires first: it is replaced, not evicted, and nobody else goes.
    stored(&mut s, StoreMode::Set, b"E00", b"again", 5, 1000);
    stored(&mut s, StoreMode::Replace, b"E01", b"again", 0, 1001);
    assert_eq!(s.len(), 64);
    assert_eq!(s.stats().evictions, 0);
    assert_eq!(s.get(b"E00", 0), Some(&b"again"[..]));
    s.check_invariants();
}

#[test]
fn set_never_evicts_the_key_it_stores_and_accounts_bytes() {
    let mut s = store_unchecked(100, 40);
    stored(&mut s, StoreMode::Set, b"a", b"123456789", 0, 100); // 10 bytes, expires first
    stored(&mut s, StoreMode::Set, b"b", b"123456789", 0, 200); // 10
    stored(&mut s, StoreMode::Set, b"c", b"123456789", 0, 300); // 10
    assert_eq!(s.stats().bytes, 30);
    // Bigger: a's 10 bytes no longer count, 30 - 10 + 20 = 40 fits.
    stored(&mut s, StoreMode::Set, b"a", &[1; 19], 0, 100);
    assert_eq!(s.stats().bytes, 40);
    assert_eq!(s.stats().evictions, 0);
    // Bigger still: 20 + 30 > 40, so the soonest other, b, goes, not a.
    stored(&mut s, StoreMode::Set, b"a", &[2; 29], 0, 100);
    assert_eq!(s.stats().evictions, 1);
    assert!(!s.have(b"b", 0) && s.have(b"c", 0));
    assert_eq!(s.get(b"a", 0), Some(&[2; 29][..]));
    assert_eq!(s.stats().bytes, 30 + 10);
    // Smaller: the bytes go down by the difference.
    stored(&mut s, StoreMode::Replace, b"a", b"12", 0, 100);
    assert_eq!(s.stats().bytes, 3 + 10);
    // As large as the store: everyone else goes, the key stays.
    stored(&mut s, StoreMode::Set, b"a", &[3; 39], 0, 100);
    assert_eq!(s.stats().bytes, 40);
    assert_eq!(s.len(), 1);
    assert_eq!(s.stats().evictions, 2);
    s.check_invariants();
}

#[test]
fn set_puts_the_entry_at_the_end_of_its_expiry_ties() {
    let mut s = store(64);
    for i in 0..64u64 {
        added(&mut s, &i.to_be_bytes(), 1000, 0);
    }
    // 0 was first of the tie; set again, it is now last.
    stored(
        &mut s,
        StoreMode::Set,
        &0u64.to_be_bytes(),
        b"data",
        0,
        1000,
    );
    added(&mut s, b"NEW", 2000, 0);
    assert!(s.have(&0u64.to_be_bytes(), 0));
    assert!(!s.have(&1u64.to_be_bytes(), 0) && !s.have(&2u64.to_be_bytes(), 0));
    s.check_invariants();
}

#[test]
fn flags_round_trip_and_can_change_both_ways() {
    let mut s = store(64);
    for flags in [0, 1, 0x8000_0000, u32::MAX] {
        let id = flags.to_be_bytes();
        stored(&mut s, StoreMode::Set, &id, b"value", flags, 100);
        assert_eq!(entry_of(&s, &id, 0), Some((b"value".to_vec(), flags, 100)));
    }
    // The same id through non-zero, zero and back, with data of lengths
    // that move it between size classes and paddings.
    for (i, flags) in [7u32, 0, 0xdead_beef, 0, 0, 1].into_iter().enumerate() {
        let data = vec![i as u8; i];
        stored(&mut s, StoreMode::Set, b"k", &data, flags, 100);
        assert_eq!(entry_of(&s, b"k", 0), Some((data, flags, 100)));
        s.check_invariants();
    }
    // Flags do not count as session bytes.
    assert_eq!(s.stats().bytes, 4 * (4 + 5) + 1 + 5);
    // get and have see through flags.
    assert_eq!(s.get(&u32::MAX.to_be_bytes(), 0), Some(&b"value"[..]));
    assert!(s.have(b"k", 100) && !s.have(b"k", 101));
}

#[test]
fn ids_of_255_bytes_are_stored_and_256_refused() {
    let mut s = store(64);
    let longest = [0xabu8; 255];
    assert_eq!(MAX_ID_LEN, 255);
    for (mode, flags) in [
        (StoreMode::Add, 0),
        (StoreMode::Set, 9),
        (StoreMode::Replace, 0),
    ] {
        stored(&mut s, mode, &longest, b"d", flags, 100);
        assert_eq!(entry_of(&s, &longest, 0), Some((b"d".to_vec(), flags, 100)));
    }
    assert!(s.touch(&longest, 200, 0));
    assert_eq!(s.stats().bytes, 256);
    let too_long = [0xabu8; 256];
    for mode in [StoreMode::Add, StoreMode::Set, StoreMode::Replace] {
        assert_eq!(
            s.store(mode, &too_long, b"d", 0, 100, 0),
            StoreOutcome::TooLarge
        );
    }
    assert!(s.entry(&too_long, 0).is_none());
    assert!(!s.touch(&too_long, 100, 0));
    assert!(!s.remove(&too_long, 0));
    assert!(s.remove(&longest, 0));
    assert!(s.is_empty());
    s.check_invariants();
}

#[test]
fn entry_changes_nothing() {
    let mut s = store(64);
    for i in 0..64u64 {
        added(&mut s, &i.to_be_bytes(), 1000 + i, 0);
    }
    for _ in 0..10 {
        assert!(s.entry(&0u64.to_be_bytes(), 0).is_some());
    }
    assert!(s.entry(&0u64.to_be_bytes(), 1001).is_none(), "expired");
    added(&mut s, b"NEW", 5000, 0);
    assert!(!s.have(&0u64.to_be_bytes(), 0), "entry is not LRU");
}

#[test]
fn touch_later_moves_an_entry_back_in_the_eviction_order() {
    let mut s = store(64);
    for i in 0..64u64 {
        added(&mut s, &i.to_be_bytes(), 1000 + i, 0);
    }
    assert!(s.touch(&0u64.to_be_bytes(), 5000, 0));
    assert_eq!(
        entry_of(&s, &0u64.to_be_bytes(), 0).map(|e| e.2),
        Some(5000)
    );
    added(&mut s, b"NEW", 6000, 0);
    assert!(s.have(&0u64.to_be_bytes(), 0), "touched: evicted later");
    assert!(!s.have(&1u64.to_be_bytes(), 0) && !s.have(&2u64.to_be_bytes(), 0));
    assert!(s.have(&0u64.to_be_bytes(), 5000) && !s.have(&0u64.to_be_bytes(), 5001));
    s.check_invariants();
}

#[test]
fn touch_earlier_moves_an_entry_forward_and_ties_go_after() {
    let mut s = store(64);
    for i in 0..64u64 {
        added(&mut s, &i.to_be_bytes(), 1000 + i, 0);
    }
    // 63 expires last; touched to 1000 it ties with 0 but arrived later.
    assert!(s.touch(&63u64.to_be_bytes(), 1000, 0));
    added(&mut s, b"NEW", 6000, 0);
    assert!(!s.have(&0u64.to_be_bytes(), 0));
    assert!(!s.have(&63u64.to_be_bytes(), 0), "touched: evicted earlier");
    assert!(s.have(&1u64.to_be_bytes(), 0));
    // Touching to the same expiry also goes to the end of the tie.
    let mut s = store(64);
    for i in 0..64u64 {
        added(&mut s, &i.to_be_bytes(), 1000, 0);
    }
    assert!(s.touch(&0u64.to_be_bytes(), 1000, 0));
    added(&mut s, b"NEW", 6000, 0);
    assert!(s.have(&0u64.to_be_bytes(), 0));
    assert!(!s.have(&1u64.to_be_bytes(), 0) && !s.have(&2u64.to_be_bytes(), 0));
    s.check_invariants();
}

#[test]
fn touch_keeps_data_and_flags_and_needs_a_live_entry() {
    let mut s = store(64);
    assert!(!s.touch(b"missing", 100, 0));
    stored(&mut s, StoreMode::Set, b"id", b"data", 42, 100);
    assert!(s.touch(b"id", 100, 100), "live at its expiry");
    assert!(s.touch(b"id", 300, 50));
    assert_eq!(entry_of(&s, b"id", 300), Some((b"data".to_vec(), 42, 300)));
    assert!(!s.touch(b"id", 1000, 301), "expired");
    assert!(s.is_empty(), "purged by the touch");
    assert_eq!(s.stats().expirations, 1);
    s.check_invariants();
}

#[test]
fn touch_into_the_past_expires_at_once() {
    let mut s = store(64);
    added(&mut s, b"a", 1000, 0);
    added(&mut s, b"b", 1000, 0);
    // At now itself it is still live.
    assert!(s.touch(b"a", 10, 10));
    assert!(s.have(b"a", 10));
    assert!(s.touch(b"a", 9, 10));
    assert!(!s.have(b"a", 0), "gone, not just expired");
    let stats = s.stats();
    assert_eq!((stats.sessions, stats.bytes), (1, 5));
    assert_eq!((stats.expirations, stats.evictions), (1, 0));
    assert!(!s.touch(b"a", 1000, 10));
    s.check_invariants();
}

#[test]
fn trait_object_stores_in_every_mode() {
    let mut s: Box<dyn SessionStore> = Box::new(store(64));
    assert_eq!(
        s.store(StoreMode::Set, b"id", b"x", 3, 10, 0),
        StoreOutcome::Stored
    );
    assert_eq!(
        s.entry(b"id", 0),
        Some(Entry {
            data: b"x",
            flags: 3,
            expires_at: 10
        })
    );
    assert!(s.touch(b"id", 20, 0));
    assert_eq!(s.get(b"id", 20), Some(&b"x"[..]));
}
