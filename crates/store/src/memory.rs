//! [`MemoryStore`]: the default store, held entirely in memory. The crate
//! documentation draws its layout; each structure has its own module:
//!
//! * [`slab`]: the records, in slab pages of size classes 4 bytes apart;
//! * [`index`]: the hash index from id to record;
//! * [`expiry`]: the eviction and expiry order, threaded through the
//!   records.
//!
//! A record is in all three or in none: every removal goes through
//! [`MemoryStore::release`] after the record left the expiry index.
//!
//! The hasher is foldhash with a per-store random seed, so ids that collide
//! cannot be precomputed offline. foldhash is fast rather than
//! cryptographic; a peer probing one server's timing is not defended
//! against.

mod expiry;
mod index;
mod slab;
mod walk;

use std::fmt;
use std::hash::BuildHasher;

use hashbrown::DefaultHashBuilder;

use crate::{Entry, Limits, Millis, SessionStore, StoreMode, StoreOutcome, StoreStats};
use expiry::ExpiryIndex;
use index::IdIndex;
use slab::{record_len, Slabs, Slot};
pub use walk::{LiveEntry, WalkCursor};

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;

/// Longest session id (key) [`MemoryStore`] can hold: its length is the
/// record's id-length byte. distcache allows at most 64, memcache 250, and
/// Apache sends keys of up to 252 bytes over Redis; longer ids are refused
/// with [`StoreOutcome::TooLarge`] and never found.
pub const MAX_ID_LEN: usize = u8::MAX as usize;

/// Longest session data [`MemoryStore`] can hold: 16 MiB, so that a record
/// always fits a slab slot. The protocol allows at most 32759 bytes; longer
/// data are refused with [`StoreOutcome::TooLarge`].
pub const MAX_DATA_LEN: usize = 16 << 20;

/// A store gets its whole hash index when it is created, sized for
/// `max_sessions` (6.1 bytes a session) up to this many: 16Mi sessions,
/// 97 MB. Such a store never pauses to grow its index. Beyond, the index
/// grows by half when 7/8 full, rehashing every stored id by streaming
/// through the slab pages: a pause of about 0.15 s per million sessions
/// held.
pub const PRESIZED_SESSIONS: usize = 1 << 24;

/// The default [`SessionStore`]: sessions in memory, with O(1) lookups and
/// expiry-ordered eviction, bounded by [`Limits`].
pub struct MemoryStore {
    limits: Limits,
    slabs: Slabs,
    index: IdIndex,
    expiry: ExpiryIndex,
    hasher: DefaultHashBuilder,
    /// Sum of `id.len() + data.len()` over the stored sessions.
    bytes: usize,
    evictions: u64,
    expirations: u64,
}

/// Heap memory of a [`MemoryStore`] other than its session records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexMemory {
    /// Bytes of the hash index from id to record.
    pub id_index: usize,
    /// Bytes of the expiry index's nodes.
    pub expiry_index: usize,
    /// Nodes of the expiry index in use (the root included).
    pub expiry_nodes: usize,
}

impl MemoryStore {
    /// An empty store bounded by `limits`.
    ///
    /// The hash index is allocated up front for `max_sessions`, up to
    /// [`PRESIZED_SESSIONS`], so that it never has to grow (6.1 bytes per
    /// session of `max_sessions`: 3 KB for the default 512). The rest grows
    /// with the sessions held: slab pages are freed as they empty, the
    /// expiry index keeps its high-water size.
    #[must_use]
    pub fn new(limits: Limits) -> MemoryStore {
        MemoryStore::with_expiry(limits, ExpiryIndex::new())
    }

    fn with_expiry(limits: Limits, expiry: ExpiryIndex) -> MemoryStore {
        let limits = limits.clamped();
        MemoryStore {
            limits,
            slabs: Slabs::new(),
            index: IdIndex::with_capacity(limits.max_sessions.min(PRESIZED_SESSIONS)),
            expiry,
            hasher: DefaultHashBuilder::default(),
            bytes: 0,
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

    /// Memory of the indexes, for monitoring and for the overhead
    /// measurements.
    #[must_use]
    pub fn index_memory(&self) -> IndexMemory {
        IndexMemory {
            id_index: self.index.heap_bytes(),
            expiry_index: self.expiry.heap_bytes(),
            expiry_nodes: self.expiry.nodes(),
        }
    }

    /// The slot of the stored session `id`, expired or not.
    #[inline]
    fn find_slot(&self, id: &[u8]) -> Option<Slot> {
        // Ids this long are never stored; don't spend a hash on them.
        if id.len() > MAX_ID_LEN {
            return None;
        }
        self.find_slot_hashed(id, self.hasher.hash_one(id))
    }

    /// [`find_slot`](Self::find_slot) for a caller that already hashed `id`.
    #[inline]
    fn find_slot_hashed(&self, id: &[u8], hash: u64) -> Option<Slot> {
        let slabs = &self.slabs;
        self.index.find(hash, |slot| slabs.id(slot) == id)
    }

    /// Takes the session in `slot`, already out of the expiry index, out of
    /// the hash index and the slabs, and uncounts its bytes.
    fn release(&mut self, slot: Slot) {
        let hash = self.hasher.hash_one(self.slabs.id(slot));
        let found = self.index.remove(hash, slot);
        debug_assert!(found, "released slot {slot} was not indexed");
        self.bytes -= self.slabs.session_len(slot);
        self.slabs.free(slot);
    }

    /// Takes the session in `slot`, which is in every structure, out of
    /// all of them.
    fn unlink_and_release(&mut self, slot: Slot) {
        self.expiry.remove(slot, &mut self.slabs);
        self.release(slot);
    }

    /// Drops the session that expires first (oldest first among equals).
    /// Returns false if the store is empty.
    fn evict_one(&mut self) -> bool {
        let Some(slot) = self.expiry.pop_front(&mut self.slabs) else {
            return false;
        };
        self.release(slot);
        self.evictions += 1;
        true
    }

    /// A store whose expiry lists split past `split` sessions instead of
    /// 512, so that small tests exercise splitting and folding.
    #[cfg(test)]
    fn with_split(limits: Limits, split: u32) -> MemoryStore {
        MemoryStore::with_expiry(limits, ExpiryIndex::with_split(split))
    }

    /// Checks that the three structures agree. Panics on any mismatch.
    #[cfg(test)]
    fn check_invariants(&self) {
        let slabs = &self.slabs;
        let hasher = &self.hasher;
        let mut by_expiry = self.expiry.check(slabs);
        let mut by_id = self.index.check(|slot| hasher.hash_one(slabs.id(slot)));
        assert_eq!(slabs.check(), by_id.len(), "slabs vs hash index");
        assert!(
            self.index.len() <= self.limits.max_sessions,
            "over max_sessions"
        );
        assert!(self.bytes <= self.limits.max_bytes, "over max_bytes");
        let mut bytes = 0;
        for &(slot, hash) in &by_id {
            let id = slabs.id(slot);
            assert_eq!(
                self.find_slot_hashed(id, hash),
                Some(slot),
                "id stored twice"
            );
            bytes += slabs.session_len(slot);
        }
        assert_eq!(bytes, self.bytes, "byte count");
        by_expiry.sort_unstable();
        by_id.sort_unstable();
        let by_id: Vec<Slot> = by_id.into_iter().map(|(slot, _)| slot).collect();
        assert_eq!(by_expiry, by_id, "expiry index vs hash index");
    }

    /// Slots over all slab pages, for tests that check slots are reused.
    #[cfg(test)]
    fn slot_capacity(&self) -> usize {
        self.slabs.slot_capacity()
    }
}

impl SessionStore for MemoryStore {
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

        if id.len() > MAX_ID_LEN || data.len() > MAX_DATA_LEN {
            return StoreOutcome::TooLarge;
        }
        let size = id.len() + data.len();
        if size > self.limits.max_bytes {
            return StoreOutcome::TooLarge;
        }
        let hash = self.hasher.hash_one(id);
        // Expired sessions were just purged, so whatever is found is live.
        match (mode, self.find_slot_hashed(id, hash)) {
            (StoreMode::Add, Some(_)) | (StoreMode::Replace, None) => {
                return StoreOutcome::NotStored;
            }
            (StoreMode::Set | StoreMode::Replace, Some(old)) => {
                // The old entry goes first: its bytes and its place no
                // longer count, and it cannot be evicted for its successor.
                self.unlink_and_release(old);
            }
            (StoreMode::Add | StoreMode::Set, None) => {}
        }

        if self.index.len() >= self.limits.max_sessions {
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

        // Fails only when every one of the 2^22 page numbers is taken, which
        // needs over 64 GiB of sessions. Refuse rather than corrupt.
        let Some(slot) = self.slabs.alloc(record_len(flags, id.len(), data.len())) else {
            return StoreOutcome::TooLarge;
        };
        self.slabs.write(slot, expires_at, flags, id, data);
        let (slabs, hasher) = (&self.slabs, &self.hasher);
        if self.index.is_full() {
            // Rehash every stored id, reading the slab pages in order
            // rather than each record at random: several times faster.
            self.index.grow_with(|place| {
                slabs.for_each_stored(|slot, id| place(hasher.hash_one(id), slot));
            });
        }
        self.index
            .insert(hash, slot, |s| hasher.hash_one(slabs.id(s)));
        self.expiry.insert(slot, expires_at, &mut self.slabs);
        self.bytes += size;
        StoreOutcome::Stored
    }

    #[inline]
    fn entry(&self, id: &[u8], now: Millis) -> Option<Entry<'_>> {
        let record = self.slabs.session(self.find_slot(id)?);
        (now <= record.expires_at).then_some(Entry {
            data: record.data,
            flags: record.flags,
            expires_at: record.expires_at,
        })
    }

    fn touch(&mut self, id: &[u8], expires_at: Millis, now: Millis) -> bool {
        // After the purge, whatever is found is live.
        self.expire(now);
        let Some(slot) = self.find_slot(id) else {
            return false;
        };
        // The index finds a record by its expiry: out under the old one,
        // back in under the new, at the end of its list as if just stored.
        self.expiry.remove(slot, &mut self.slabs);
        if expires_at < now {
            // Expired at once: purged as `expire` would have.
            self.release(slot);
            self.expirations += 1;
        } else {
            self.slabs.set_expires_at(slot, expires_at);
            self.expiry.insert(slot, expires_at, &mut self.slabs);
        }
        true
    }

    #[inline]
    fn have(&self, id: &[u8], now: Millis) -> bool {
        self.entry(id, now).is_some()
    }

    fn remove(&mut self, id: &[u8], now: Millis) -> bool {
        // After the purge, whatever is found is live.
        self.expire(now);
        let Some(slot) = self.find_slot(id) else {
            return false;
        };
        self.unlink_and_release(slot);
        true
    }

    fn expire(&mut self, now: Millis) -> usize {
        let mut expired = 0;
        while let Some(first) = self.expiry.take_expired(now, &mut self.slabs) {
            // A circular list of records: read each link before freeing.
            let mut slot = first;
            loop {
                let next = self.slabs.next(slot);
                self.release(slot);
                expired += 1;
                if next == first {
                    break;
                }
                slot = next;
            }
        }
        self.expirations += expired as u64;
        expired
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    fn stats(&self) -> StoreStats {
        StoreStats {
            sessions: self.index.len(),
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
