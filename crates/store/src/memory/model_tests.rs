//! [`MemoryStore`] against an obviously-correct model: a `Vec` of sessions,
//! scanned and sorted as needed, driven by a fake clock. Limits are small so
//! that evictions by count and by bytes happen often.

use proptest::prelude::*;

use super::*;
use crate::AddOutcome;

/// One session in the model.
#[derive(Debug, Clone)]
struct ModelSession {
    id: Vec<u8>,
    data: Vec<u8>,
    flags: u32,
    expires_at: Millis,
    /// Place among equal expiries: set when stored or touched.
    seq: u64,
}

/// The contract, written as plainly as possible.
#[derive(Debug)]
struct Model {
    limits: Limits,
    sessions: Vec<ModelSession>,
    next_seq: u64,
    evictions: u64,
    expirations: u64,
}

impl Model {
    fn new(limits: Limits) -> Model {
        Model {
            limits: limits.clamped(),
            sessions: Vec::new(),
            next_seq: 0,
            evictions: 0,
            expirations: 0,
        }
    }

    fn bytes(&self) -> usize {
        self.sessions
            .iter()
            .map(|s| s.id.len() + s.data.len())
            .sum()
    }

    fn live(&self, id: &[u8], now: Millis) -> Option<&ModelSession> {
        self.sessions
            .iter()
            .find(|s| s.id == id && now <= s.expires_at)
    }

    fn expire(&mut self, now: Millis) -> usize {
        let before = self.sessions.len();
        self.sessions.retain(|s| s.expires_at >= now);
        let expired = before - self.sessions.len();
        self.expirations += expired as u64;
        expired
    }

    fn evict_one(&mut self) {
        let first = self
            .sessions
            .iter()
            .enumerate()
            .min_by_key(|(_, s)| (s.expires_at, s.seq))
            .map(|(i, _)| i);
        if let Some(i) = first {
            self.sessions.remove(i);
            self.evictions += 1;
        }
    }

    fn store(
        &mut self,
        mode: StoreMode,
        id: &[u8],
        data: &[u8],
        flags: u32,
        expires_at: Millis,
        now: Millis,
    ) -> StoreOutcome {
        self.expire(now);
        let size = id.len() + data.len();
        if id.len() > MAX_ID_LEN || data.len() > MAX_DATA_LEN || size > self.limits.max_bytes {
            return StoreOutcome::TooLarge;
        }
        let live = self.sessions.iter().position(|s| s.id == id);
        match (mode, live) {
            (StoreMode::Add, Some(_)) | (StoreMode::Replace, None) => {
                return StoreOutcome::NotStored;
            }
            (_, Some(i)) => {
                self.sessions.remove(i);
            }
            (_, None) => {}
        }
        if self.sessions.len() >= self.limits.max_sessions {
            for _ in 0..(self.limits.max_sessions / 30).max(1) {
                self.evict_one();
            }
        }
        while self.bytes() + size > self.limits.max_bytes {
            self.evict_one();
        }
        self.sessions.push(ModelSession {
            id: id.to_vec(),
            data: data.to_vec(),
            flags,
            expires_at,
            seq: self.next_seq,
        });
        self.next_seq += 1;
        StoreOutcome::Stored
    }

    /// distcache's add, spelled out rather than through `From`.
    fn add(&mut self, id: &[u8], data: &[u8], expires_at: Millis, now: Millis) -> AddOutcome {
        match self.store(StoreMode::Add, id, data, 0, expires_at, now) {
            StoreOutcome::Stored => AddOutcome::Stored,
            StoreOutcome::NotStored => AddOutcome::Duplicate,
            StoreOutcome::TooLarge => AddOutcome::TooLarge,
        }
    }

    fn touch(&mut self, id: &[u8], expires_at: Millis, now: Millis) -> bool {
        self.expire(now);
        let Some(i) = self.sessions.iter().position(|s| s.id == id) else {
            return false;
        };
        if expires_at < now {
            self.sessions.remove(i);
            self.expirations += 1;
        } else {
            let s = &mut self.sessions[i];
            s.expires_at = expires_at;
            s.seq = self.next_seq;
            self.next_seq += 1;
        }
        true
    }

    fn remove(&mut self, id: &[u8], now: Millis) -> bool {
        self.expire(now);
        let before = self.sessions.len();
        self.sessions.retain(|s| s.id != id);
        self.sessions.len() != before
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            sessions: self.sessions.len(),
            bytes: self.bytes(),
            evictions: self.evictions,
            expirations: self.expirations,
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Add {
        id: Vec<u8>,
        data: Vec<u8>,
        /// Added to `now`; negative values give an already-expired session.
        ttl: i64,
    },
    Store {
        mode: StoreMode,
        id: Vec<u8>,
        data: Vec<u8>,
        flags: u32,
        ttl: i64,
    },
    Touch {
        id: Vec<u8>,
        /// Added to `now`; negative values expire the session at once.
        ttl: i64,
    },
    Get(Vec<u8>),
    Entry(Vec<u8>),
    Have(Vec<u8>),
    Remove(Vec<u8>),
    Expire,
}

/// Ids from a small alphabet so that duplicates and re-adds are common,
/// with the occasional id too long to store.
fn small_id() -> impl Strategy<Value = Vec<u8>> + Clone {
    prop_oneof![
        30 => proptest::collection::vec(0u8..4, 0..4),
        1 => proptest::collection::vec(any::<u8>(), MAX_ID_LEN - 1..MAX_ID_LEN + 3),
    ]
}

/// Enough distinct ids (252) to fill a store of 60+ sessions, few enough
/// that duplicates still happen.
fn wide_id() -> impl Strategy<Value = Vec<u8>> + Clone {
    proptest::collection::vec(0u8..6, 2..4)
}

/// Operations on ids drawn from `id`. Lifetimes are `short` half the time,
/// so sessions expire while the test watches, and up to 20 s otherwise, so
/// that stores fill up.
fn op(
    id: impl Strategy<Value = Vec<u8>> + Clone,
    short: std::ops::Range<i64>,
    adds: u32,
) -> impl Strategy<Value = Op> {
    let ttl = prop_oneof![short, 0i64..20_000];
    let mode = prop_oneof![
        Just(StoreMode::Add),
        Just(StoreMode::Set),
        Just(StoreMode::Replace)
    ];
    // Mostly none, as distcache and Redis send; some small and extreme.
    let flags = prop_oneof![4 => Just(0u32), 1 => 1u32..4, 1 => any::<u32>()];
    let data = proptest::collection::vec(any::<u8>(), 0..24);
    prop_oneof![
        adds => (id.clone(), data.clone(), ttl.clone())
            .prop_map(|(id, data, ttl)| Op::Add { id, data, ttl }),
        adds => (mode, id.clone(), data, flags, ttl.clone()).prop_map(
            |(mode, id, data, flags, ttl)| Op::Store {
                mode,
                id,
                data,
                flags,
                ttl
            }
        ),
        2 => (id.clone(), prop_oneof![1 => -5i64..0, 4 => ttl])
            .prop_map(|(id, ttl)| Op::Touch { id, ttl }),
        3 => id.clone().prop_map(Op::Get),
        2 => id.clone().prop_map(Op::Entry),
        2 => id.clone().prop_map(Op::Have),
        2 => id.prop_map(Op::Remove),
        1 => Just(Op::Expire),
    ]
}

/// Limits that make evictions frequent, including byte caps below one
/// session's size. They bypass `Limits::new` on purpose.
fn small_limits() -> impl Strategy<Value = Limits> {
    (
        prop_oneof![Just(0usize), 1usize..6, 58usize..66],
        prop_oneof![Just(0usize), 4usize..200, 200usize..2000, Just(usize::MAX)],
    )
        .prop_map(|(max_sessions, max_bytes)| Limits {
            max_sessions,
            max_bytes,
        })
}

/// The expiry index's list limit: the real one, or tiny ones.
fn split() -> impl Strategy<Value = u32> {
    prop_oneof![1 => Just(expiry::SPLIT), 3 => 1u32..10]
}

/// Runs `steps` (each an operation and a clock step) on a store and on the
/// model, comparing every answer and the stats after each.
///
/// `split` is the expiry index's list limit: the default leaves small
/// stores in a handful of lists, tiny values make every few adds split a
/// list into a tree node and every few removals fold one back.
fn check_against_model(
    limits: Limits,
    split: u32,
    steps: Vec<(Op, i64)>,
) -> Result<(), TestCaseError> {
    let mut store = MemoryStore::with_split(limits, split);
    let mut model = Model::new(limits);
    // Starts away from 0 so backward steps and negative ttls stay in range.
    let mut now: Millis = 1000;
    for (op, dt) in steps {
        // Mostly forwards, occasionally backwards: the store must stay
        // consistent even if the caller's clock misbehaves.
        now = now.saturating_add_signed(dt);
        match op {
            Op::Add { id, data, ttl } => {
                let expires_at = now.saturating_add_signed(ttl);
                prop_assert_eq!(
                    store.add(&id, &data, expires_at, now),
                    model.add(&id, &data, expires_at, now),
                    "add {:?} at {}",
                    id,
                    now
                );
            }
            Op::Store {
                mode,
                id,
                data,
                flags,
                ttl,
            } => {
                let expires_at = now.saturating_add_signed(ttl);
                prop_assert_eq!(
                    store.store(mode, &id, &data, flags, expires_at, now),
                    model.store(mode, &id, &data, flags, expires_at, now),
                    "store {:?} {:?} at {}",
                    mode,
                    id,
                    now
                );
            }
            Op::Touch { id, ttl } => {
                let expires_at = now.saturating_add_signed(ttl);
                prop_assert_eq!(
                    store.touch(&id, expires_at, now),
                    model.touch(&id, expires_at, now),
                    "touch {:?} to {} at {}",
                    id,
                    expires_at,
                    now
                );
            }
            Op::Get(id) => prop_assert_eq!(
                store.get(&id, now),
                model.live(&id, now).map(|s| &s.data[..]),
                "get {:?} at {}",
                id,
                now
            ),
            Op::Entry(id) => prop_assert_eq!(
                store.entry(&id, now),
                model.live(&id, now).map(|s| Entry {
                    data: &s.data,
                    flags: s.flags,
                    expires_at: s.expires_at
                }),
                "entry {:?} at {}",
                id,
                now
            ),
            Op::Have(id) => prop_assert_eq!(
                store.have(&id, now),
                model.live(&id, now).is_some(),
                "have {:?} at {}",
                id,
                now
            ),
            Op::Remove(id) => prop_assert_eq!(
                store.remove(&id, now),
                model.remove(&id, now),
                "remove {:?} at {}",
                id,
                now
            ),
            Op::Expire => prop_assert_eq!(store.expire(now), model.expire(now)),
        }
        prop_assert_eq!(store.stats(), model.stats());
        store.check_invariants();
    }
    // Every session the model holds is in the store, with its data, exactly
    // while it is live.
    for s in &model.sessions {
        let entry = Entry {
            data: &s.data,
            flags: s.flags,
            expires_at: s.expires_at,
        };
        prop_assert_eq!(store.entry(&s.id, s.expires_at), Some(entry));
        prop_assert_eq!(store.get(&s.id, s.expires_at), Some(&s.data[..]));
        prop_assert_eq!(store.get(&s.id, s.expires_at.saturating_add(1)), None);
    }
    // And the eviction order is the model's: evicting everything one by
    // one takes the sessions in (expiry, arrival-or-touch) order.
    let mut order: Vec<&ModelSession> = model.sessions.iter().collect();
    order.sort_by_key(|s| (s.expires_at, s.seq));
    for s in order {
        let slot = store.expiry.pop_front(&mut store.slabs);
        prop_assert_eq!(slot.map(|slot| store.slabs.id(slot)), Some(&s.id[..]));
        if let Some(slot) = slot {
            store.release(slot);
        }
    }
    prop_assert!(store.is_empty());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Tiny stores: every rule, with evictions by count and by bytes on
    /// most adds.
    #[test]
    fn small_store_matches_model(
        limits in small_limits(),
        split in split(),
        steps in proptest::collection::vec((op(small_id(), -3..60, 6), -2i64..25), 1..400),
    ) {
        check_against_model(limits, split, steps)?;
    }
}

proptest! {
    // Fewer, longer cases: each has to fill a store of 60+ sessions first.
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Stores of 60+ sessions that fill up, so count evictions come in
    /// batches of 2.
    #[test]
    fn full_store_matches_model(
        max_sessions in 60usize..=66,
        max_bytes in prop_oneof![Just(usize::MAX), 900usize..1200],
        split in split(),
        steps in proptest::collection::vec((op(wide_id(), 0..3000, 12), 0i64..10), 100..500),
    ) {
        check_against_model(Limits { max_sessions, max_bytes }, split, steps)?;
    }
}
