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
