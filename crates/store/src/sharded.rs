//! A store split into shards, each behind its own lock, so that several
//! server threads can share one cache.
//!
//! An id always lands in the same shard (a keyed hash picks it), so every
//! rule of the distcache contract holds per id exactly as in one store. What
//! changes is capacity: each shard gets an equal share of the [`Limits`] and
//! evicts on its own when its share is full. With random session ids the
//! shards fill evenly (for 100,000 sessions in 8 shards, one standard
//! deviation is 0.9% of a shard), so eviction starts within about a percent
//! of where one store would start it; the order within a shard is the exact
//! expiry order. Small stores are not split at all ([`shards_for`]), which
//! keeps the original's eviction behaviour exact for them.
//!
//! The hash that picks the shard is keyed at random per store and is not
//! the one the shards' own indexes use, so ids that land in one shard are
//! still spread over its index.

use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard, PoisonError};

use hashbrown::DefaultHashBuilder;

use crate::{Limits, LimitsError, MemoryStore, Millis, SessionStore, StoreStats, MIN_MAX_BYTES};

/// Fewest sessions a shard's share may hold: below this, splitting would
/// make eviction visibly earlier than one store's, for no gain.
pub const MIN_SESSIONS_PER_SHARD: usize = 1024;

/// A lock on its own cache line, so that threads taking neighbouring shards
/// do not slow each other down.
#[derive(Debug)]
#[repr(align(128))]
struct Shard<S>(Mutex<S>);

/// Sessions spread over several [`SessionStore`]s by id, each behind a
/// [`Mutex`]. Share it between threads with an `Arc`.
#[derive(Debug)]
pub struct ShardedStore<S> {
    shards: Box<[Shard<S>]>,
    hasher: DefaultHashBuilder,
}

/// How many shards `limits` can be split into, at most `wanted`: each
/// shard keeps at least [`MIN_SESSIONS_PER_SHARD`] sessions and
/// [`MIN_MAX_BYTES`] bytes. Never less than one.
pub fn shards_for(limits: &Limits, wanted: usize) -> usize {
    wanted
        .min(limits.max_sessions / MIN_SESSIONS_PER_SHARD)
        .min(limits.max_bytes / MIN_MAX_BYTES)
        .max(1)
}

impl ShardedStore<MemoryStore> {
    /// `shards` [`MemoryStore`]s sharing `limits` equally (the session count
    /// and bytes are divided, rounding down).
    ///
    /// # Errors
    ///
    /// [`LimitsError`] when a share falls below the limits' minimums: call
    /// with at most [`shards_for`] shards.
    pub fn memory(limits: Limits, shards: usize) -> Result<Self, LimitsError> {
        let shards = shards.max(1);
        let share = Limits::new(limits.max_sessions / shards, limits.max_bytes / shards)?;
        Ok(ShardedStore::new(
            (0..shards).map(|_| MemoryStore::new(share)).collect(),
        ))
    }
}

impl<S: SessionStore> ShardedStore<S> {
    /// A sharded store over `stores` (at least one: an empty list gets
    /// nothing stored anywhere, so it is refused by panicking, which only a
    /// programming error can cause).
    pub fn new(stores: Vec<S>) -> Self {
        assert!(!stores.is_empty(), "a sharded store needs a shard");
        ShardedStore {
            shards: stores.into_iter().map(|s| Shard(Mutex::new(s))).collect(),
            hasher: DefaultHashBuilder::default(),
        }
    }

    /// How many shards there are.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Which shard holds `id`.
    pub fn shard_of(&self, id: &[u8]) -> usize {
        let hash = self.hasher.hash_one(id);
        // Lemire's multiply-shift: uniform over any shard count, no division.
        let count = self.shards.len() as u128;
        ((u128::from(hash) * count) >> 64) as usize
    }

    /// Locks the shard that holds `id`.
    pub fn lock(&self, id: &[u8]) -> MutexGuard<'_, S> {
        self.lock_shard(self.shard_of(id))
    }

    /// Locks shard `index` (taken modulo the shard count).
    pub fn lock_shard(&self, index: usize) -> MutexGuard<'_, S> {
        // A thread that panicked while holding a shard cannot have left it
        // half changed in a way the next caller could see as anything worse
        // than a lost request: keep serving rather than spread the panic.
        self.shards[index % self.shards.len()]
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops the expired sessions of every shard, one lock at a time.
    pub fn expire(&self, now: Millis) -> usize {
        (0..self.shards.len())
            .map(|i| self.lock_shard(i).expire(now))
            .sum()
    }

    /// Sessions stored over all shards.
    pub fn len(&self) -> usize {
        (0..self.shards.len())
            .map(|i| self.lock_shard(i).len())
            .sum()
    }

    /// Whether no shard holds a session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shards' sizes and counters, added up.
    pub fn stats(&self) -> StoreStats {
        (0..self.shards.len())
            .map(|i| self.lock_shard(i).stats())
            .fold(StoreStats::default(), |a, b| StoreStats {
                sessions: a.sessions + b.sessions,
                bytes: a.bytes + b.bytes,
                evictions: a.evictions + b.evictions,
                expirations: a.expirations + b.expirations,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AddOutcome;
    use std::sync::Arc;

    fn limits(sessions: usize) -> Limits {
        Limits::new(sessions, 64 << 20).unwrap()
    }

    #[test]
    fn small_stores_are_not_split() {
        assert_eq!(shards_for(&limits(512), 8), 1);
        assert_eq!(shards_for(&limits(100_000), 8), 8);
        assert_eq!(shards_for(&limits(3 * 1024), 8), 3);
        assert_eq!(
            shards_for(&Limits::new(100_000, 3 * MIN_MAX_BYTES).unwrap(), 8),
            3
        );
        assert_eq!(shards_for(&limits(100_000), 0), 1);
    }

    #[test]
    fn each_id_lives_in_one_shard_and_keeps_the_contract() {
        let store = ShardedStore::memory(limits(8192), 4).unwrap();
        assert_eq!(store.shard_count(), 4);
        for i in 0..1000u32 {
            let id = i.to_be_bytes();
            assert_eq!(
                store.lock(&id).add(&id, b"data", 100, 0),
                AddOutcome::Stored
            );
        }
        for i in 0..1000u32 {
            let id = i.to_be_bytes();
            let shard = store.shard_of(&id);
            assert_eq!(store.lock_shard(shard).get(&id, 50), Some(&b"data"[..]));
            assert_eq!(
                store.lock(&id).add(&id, b"x", 100, 0),
                AddOutcome::Duplicate
            );
        }
        let stats = store.stats();
        assert_eq!((stats.sessions, stats.bytes), (1000, 1000 * 8));
        // Every shard got a fair part of 1000 random-keyed ids.
        for i in 0..4 {
            let n = store.lock_shard(i).len();
            assert!((150..=350).contains(&n), "shard {i} holds {n}");
        }
        assert_eq!(store.expire(101), 1000);
        assert!(store.is_empty());
        assert_eq!(store.stats().expirations, 1000);
    }

    #[test]
    fn capacity_is_shared_out() {
        let store = ShardedStore::memory(limits(4096), 4).unwrap();
        assert_eq!(store.lock_shard(0).limits().max_sessions, 1024);
        for i in 0..20_000u32 {
            let id = i.to_be_bytes();
            let _ = store.lock(&id).add(&id, b"d", 1000 + u64::from(i), 0);
        }
        let stats = store.stats();
        assert!(stats.sessions <= 4096, "{stats:?}");
        assert!(stats.sessions > 3500, "{stats:?}");
        assert_eq!(stats.evictions as usize, 20_000 - stats.sessions);
    }

    #[test]
    fn threads_share_it() {
        let store = Arc::new(ShardedStore::memory(limits(1 << 16), 8).unwrap());
        let threads: Vec<_> = (0..4u32)
            .map(|t| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    for i in 0..5000u32 {
                        let id = [t.to_be_bytes(), i.to_be_bytes()].concat();
                        assert_eq!(store.lock(&id).add(&id, &id, 10, 0), AddOutcome::Stored);
                        assert_eq!(store.lock(&id).get(&id, 1), Some(&id[..]));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(store.len(), 20_000);
    }
}
