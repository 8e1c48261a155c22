//! [`MemoryStore`]: the default store, held entirely in memory.
//!
//! Three structures share one set of sessions:
//!
//! ```text
//!   index: HashTable<u32>            entries: Slab<Entry>                 expiry: BTreeMap
//!   (hash of id -> slot)             (one slot per session)               ((expires_at, seq) -> slot)
//!  +-----+                          +--------------------------------+    +-------------------+
//!  |  7  |------------------------->| 7: bytes  ─────────────────────┼─┐  | (1000, 3)  ->  7  |
//!  +-----+                          |    id_len, expires_at, seq     |  │  | (1000, 9)  ->  2  |
//!  |  2  |-----> ...                +--------------------------------+  │  | (2500, 4)  -> 12  |
//!  +-----+                                                              │  +-------------------+
//!                                      one heap allocation per session: v   earliest first = next
//!                                      +------------+------------------+     to evict or expire
//!                                      | id (id_len)| data             |
//!                                      +------------+------------------+
//! ```
//!
//! * The hash index stores only slot numbers and hashes the id bytes in the
//!   slot, so an id is stored once. A probe is O(1) on average.
//! * The expiry index orders sessions by `(expires_at, seq)`, where `seq`
//!   counts adds: equal expiries leave in arrival order, as the original's
//!   sorted list did. Its front is both the next session to expire and the
//!   next to evict.
//! * A slot number is only ever in the two indexes while its slot is
//!   occupied; every removal goes through [`MemoryStore::detach`] and one
//!   expiry-index removal.
//!
//! The hasher is foldhash with a per-store random seed, so ids that collide
//! cannot be precomputed offline. foldhash is fast rather than
//! cryptographic; a peer probing one server's timing is not defended
//! against.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};
use slab::Slab;

use crate::{AddOutcome, Limits, Millis, SessionStore, StoreStats};

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;

/// Longest session id [`MemoryStore`] can hold: its length is kept in one
/// byte. The protocol allows at most 64; longer ids are refused with
/// [`AddOutcome::TooLarge`] and never found.
pub const MAX_ID_LEN: usize = u8::MAX as usize;

/// Position of a session in the expiry index: its expiry, then its arrival.
type ExpiryKey = (Millis, u64);

/// One stored session.
struct Entry {
    /// The id followed by the data, in a single allocation.
    bytes: Box<[u8]>,
    /// How many leading bytes of `bytes` are the id.
    id_len: u8,
    /// Live while `now <= expires_at`.
    expires_at: Millis,
    /// Arrival number: the tie-break in the expiry order.
    seq: u64,
}

impl Entry {
    fn id(&self) -> &[u8] {
        &self.bytes[..usize::from(self.id_len)]
    }

    fn data(&self) -> &[u8] {
        &self.bytes[usize::from(self.id_len)..]
    }

    fn expiry_key(&self) -> ExpiryKey {
        (self.expires_at, self.seq)
    }

    fn is_expired(&self, now: Millis) -> bool {
        now > self.expires_at
    }
}

/// The default [`SessionStore`]: sessions in memory, with O(1) lookups and
/// expiry-ordered eviction, bounded by [`Limits`].
pub struct MemoryStore {
    limits: Limits,
    entries: Slab<Entry>,
    index: HashTable<u32>,
    expiry: BTreeMap<ExpiryKey, u32>,
    hasher: DefaultHashBuilder,
    /// Sum of `bytes.len()` over `entries`.
    bytes: usize,
    next_seq: u64,
    evictions: u64,
    expirations: u64,
}

impl MemoryStore {
    /// An empty store bounded by `limits`.
    ///
    /// Nothing is allocated up front: memory grows with the sessions held,
    /// and the tables keep their high-water size once grown.
    #[must_use]
    pub fn new(limits: Limits) -> MemoryStore {
        MemoryStore {
            limits: limits.clamped(),
            entries: Slab::new(),
            index: HashTable::new(),
            expiry: BTreeMap::new(),
            hasher: DefaultHashBuilder::default(),
            bytes: 0,
            next_seq: 0,
            evictions: 0,
            expirations: 0,
        }
    }

    /// The limits in force (with `max_sessions` clamped into
    /// `1..=MAX_SESSIONS` if it was built without [`Limits::new`]).
    #[must_use]
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The slot of the stored session `id`, expired or not.
    fn find_slot(&self, id: &[u8]) -> Option<u32> {
        // Ids this long are never stored; don't spend a hash on them.
        if id.len() > MAX_ID_LEN {
            return None;
        }
        self.find_slot_hashed(id, self.hasher.hash_one(id))
    }

    /// [`find_slot`](Self::find_slot) for a caller that already hashed `id`.
    fn find_slot_hashed(&self, id: &[u8], hash: u64) -> Option<u32> {
        let entries = &self.entries;
        self.index
            .find(hash, |&slot| {
                entries
                    .get(slot as usize)
                    .is_some_and(|entry| entry.id() == id)
            })
            .copied()
    }

    /// The live session `id`.
    fn find_live(&self, id: &[u8], now: Millis) -> Option<&Entry> {
        let entry = self.entries.get(self.find_slot(id)? as usize)?;
        (!entry.is_expired(now)).then_some(entry)
    }

    /// Takes the session in `slot` out of the slab and the hash index and
    /// uncounts its bytes. The caller has already taken it out of the expiry
    /// index.
    fn detach(&mut self, slot: u32) -> Option<Entry> {
        let entry = self.entries.try_remove(slot as usize)?;
        let hash = self.hasher.hash_one(entry.id());
        // The slot number identifies the session; no need to compare ids.
        if let Ok(found) = self.index.find_entry(hash, |&s| s == slot) {
            found.remove();
        }
        self.bytes -= entry.bytes.len();
        Some(entry)
    }

    /// Drops the session that expires first (oldest first among equals).
    /// Returns false if the store is empty.
    fn evict_one(&mut self) -> bool {
        let Some((_, slot)) = self.expiry.pop_first() else {
            return false;
        };
        self.detach(slot);
        self.evictions += 1;
        true
    }

    /// Checks that the three structures agree. Panics on any mismatch.
    #[cfg(test)]
    fn check_invariants(&self) {
        assert_eq!(self.entries.len(), self.index.len(), "slab vs hash index");
        assert_eq!(
            self.entries.len(),
            self.expiry.len(),
            "slab vs expiry index"
        );
        assert!(
            self.entries.len() <= self.limits.max_sessions,
            "over max_sessions"
        );
        assert!(self.bytes <= self.limits.max_bytes, "over max_bytes");
        let mut bytes = 0;
        for (key, &slot) in &self.expiry {
            let entry = &self.entries[slot as usize];
            assert_eq!(
                entry.expiry_key(),
                *key,
                "expiry index points at the wrong slot"
            );
            assert_eq!(
                self.find_slot(entry.id()),
                Some(slot),
                "id not found via hash index"
            );
            bytes += entry.bytes.len();
        }
        assert_eq!(bytes, self.bytes, "byte count");
    }

    /// Capacity of the slab, for tests that check slots are reused.
    #[cfg(test)]
    fn slot_capacity(&self) -> usize {
        self.entries.capacity()
    }
}

impl SessionStore for MemoryStore {
    fn add(&mut self, id: &[u8], data: &[u8], expires_at: Millis, now: Millis) -> AddOutcome {
        self.expire(now);

        let Ok(id_len) = u8::try_from(id.len()) else {
            return AddOutcome::TooLarge;
        };
        let size = id.len().saturating_add(data.len());
        if size > self.limits.max_bytes {
            return AddOutcome::TooLarge;
        }
        let hash = self.hasher.hash_one(id);
        if self.find_slot_hashed(id, hash).is_some() {
            // Expired sessions were just purged, so this one is live.
            return AddOutcome::Duplicate;
        }

        if self.entries.len() >= self.limits.max_sessions {
            for _ in 0..self.limits.eviction_batch() {
                if !self.evict_one() {
                    break;
                }
            }
        }
        // Terminates: `size <= max_bytes`, so an empty store always has room.
        while self.bytes.saturating_add(size) > self.limits.max_bytes {
            if !self.evict_one() {
                break;
            }
        }

        // Unreachable: the store now holds fewer than max_sessions <=
        // u32::MAX sessions, so the next free slot is below u32::MAX. Refuse
        // rather than corrupt the index if that ever stops being true.
        let Ok(slot) = u32::try_from(self.entries.vacant_key()) else {
            return AddOutcome::TooLarge;
        };
        let seq = self.next_seq;
        // 2^64 adds would take centuries; wrapping only bends the tie order.
        self.next_seq = self.next_seq.wrapping_add(1);

        let mut bytes = Vec::with_capacity(size);
        bytes.extend_from_slice(id);
        bytes.extend_from_slice(data);
        self.entries.insert(Entry {
            bytes: bytes.into_boxed_slice(),
            id_len,
            expires_at,
            seq,
        });
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.index.insert_unique(hash, slot, |&s| {
            entries
                .get(s as usize)
                .map_or(0, |entry| hasher.hash_one(entry.id()))
        });
        let displaced = self.expiry.insert((expires_at, seq), slot);
        debug_assert!(displaced.is_none(), "expiry keys are unique by seq");
        self.bytes += size;
        AddOutcome::Stored
    }

    fn get(&self, id: &[u8], now: Millis) -> Option<&[u8]> {
        self.find_live(id, now).map(Entry::data)
    }

    fn have(&self, id: &[u8], now: Millis) -> bool {
        self.find_live(id, now).is_some()
    }

    fn remove(&mut self, id: &[u8], now: Millis) -> bool {
        // After the purge, whatever is found is live.
        self.expire(now);
        let Some(slot) = self.find_slot(id) else {
            return false;
        };
        let Some(entry) = self.detach(slot) else {
            return false;
        };
        self.expiry.remove(&entry.expiry_key());
        true
    }

    fn expire(&mut self, now: Millis) -> usize {
        let mut expired = 0;
        while let Some(first) = self.expiry.first_entry() {
            if first.key().0 >= now {
                break;
            }
            let slot = first.remove();
            self.detach(slot);
            expired += 1;
        }
        self.expirations += expired as u64;
        expired
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            sessions: self.entries.len(),
            bytes: self.bytes,
            evictions: self.evictions,
            expirations: self.expirations,
        }
    }
}

/// Shows limits and counters only: session data holds key material and must
/// not end up in logs.
impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("limits", &self.limits)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
