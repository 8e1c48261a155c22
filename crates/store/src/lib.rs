//! Session stores for distcache: the [`SessionStore`] trait that the server
//! engine talks to, [`MemoryStore`], the default in-memory store that
//! keeps sessions ordered by expiry and evicts the soonest-expiring ones when
//! it is full, and [`ShardedStore`], which splits a store over locked shards
//! for a server with several threads. The store is sans-IO and reads no clock: every call that needs
//! the time takes `now` as [`Millis`] from the caller's *monotonic* clock, so
//! the whole store can be driven by a fake clock in tests.
//!
//! # The distcache contract (PROTOCOL.md §5.2–5.6)
//!
//! * **Expiry.** A session added with `expires_at = t` is live while
//!   `now <= t` and expired once `now > t` (strictly later). Expired sessions
//!   are never returned by [`get`](SessionStore::get),
//!   [`have`](SessionStore::have) or [`remove`](SessionStore::remove), and
//!   they never block an [`add`](SessionStore::add) of the same id. They are
//!   purged lazily: by [`expire`](SessionStore::expire), and at the start of
//!   every `add`, [`store`](SessionStore::store), `remove` and
//!   [`touch`](SessionStore::touch).
//! * **Duplicates.** Adding an id that has a live session answers
//!   [`AddOutcome::Duplicate`] and changes nothing: the first data is kept,
//!   and nothing is evicted for the refused add.
//! * **Nothing is LRU.** `get` and `have` change neither a session's expiry
//!   nor its place in the eviction order.
//! * **Capacity by count.** When an add of a new id finds the store holding
//!   [`Limits::max_sessions`] live sessions, it first evicts a batch of
//!   `max(1, ⌊max_sessions / 30⌋)` sessions ([`Limits::eviction_batch`]), the
//!   ones with the earliest `expires_at`; among equal expiries the one added
//!   first goes first. With `max_sessions = 64` that is 2 sessions, as the
//!   captured `eviction_when_full` vector requires.
//! * **Capacity by bytes.** A session costs `id.len() + data.len()` bytes.
//!   If storing a new session would take the total over
//!   [`Limits::max_bytes`], sessions are evicted one at a time, in the same
//!   order, until it fits. A session that could never fit is refused with
//!   [`AddOutcome::TooLarge`] (see [`MAX_ID_LEN`] and [`MAX_DATA_LEN`]).
//! * **Beyond distcache.** The memcache and Redis front doors also
//!   [`store`](SessionStore::store) in [`StoreMode::Set`] (replace a live
//!   id: the old entry leaves first, so its bytes no longer count and it
//!   cannot be evicted for its successor, which takes a new place in the
//!   eviction order) and [`StoreMode::Replace`] (the same, only for a live
//!   id); keep memcache's 32 opaque flags with an entry (read back with
//!   [`entry`](SessionStore::entry); they count in no limit); and
//!   [`touch`](SessionStore::touch) an entry to a new expiry. distcache's
//!   add is [`StoreMode::Add`] with flags 0.
//! * **Memory is freed.** Evicted, removed and expired sessions are dropped
//!   (the original leaked evicted ones). Evictions and expirations are counted
//!   in [`StoreStats`].
//!
//! The store checks no protocol ranges (for distcache: id 1..=64 bytes,
//! data ≤ 32759 bytes, timeout ≤ 7 days): the protocol layer rejects those
//! first; the store's own bounds are [`MAX_ID_LEN`] (255) and
//! [`MAX_DATA_LEN`]. It only
//! guarantees that no input, whatever its bytes or length, makes it panic.
//!
//! # How [`MemoryStore`] is laid out
//!
//! Built for session traffic: every session has an expiry, sessions are
//! small (32-byte ids, 100–1500 bytes of data), reads dominate. Three
//! structures share one record per session, and none of them allocates
//! per session:
//!
//! ```text
//!  IdIndex: Vec<Group>                 Slabs: pages of equal-size slots      ExpiryIndex: radix tree over
//!  hash(id) -> Slot                    one record per session                expires_at, 64 slots a level
//!  +--------+----+-----------+         +-----------------------------+      +-------------------------+
//!  | tag×12 |ovfl| Slot×12 ──┼-------->| expires_at  u64             |      | occupied/expanded/sorted|
//!  +--------+----+-----------+         | prev, next  u32 ×2 <────────┼------| heads[d]: first record  |
//!   64 B = one cache line              | id_len, meta  u8 ×2         |      | counts[d]               |
//!   per 12 sessions                    | flags u32, only if non-zero |      +-------------------------+
//!                                      | id, data, 0-3 padding bytes |       536 B a node, only where
//!   Slot = page (22 bits) | slot (10)  +-----------------------------+       sessions are dense
//!                                       18-byte header (+4 with flags)
//! ```
//!
//! * **Records in slabs, not boxes.** A record (header, id, data) lives in
//!   a slot of a 16 KiB page whose size class is the record's length
//!   rounded up to a multiple of 4, so there is no allocator header and no
//!   stored data length per session (two bits of the meta byte say how
//!   much of the slot is padding; a third says whether 4 bytes of flags
//!   follow the header, so entries without flags pay nothing for them). Pages of a class grow 1, 1, 2, 4, …
//!   slots up to 16 KiB
//!   and are freed when they empty. Session data are in memory the store
//!   owns, so wiping them on remove, expiry and eviction (a later issue) is
//!   one place: the slab's `free`, with volatile writes so that the
//!   compiler cannot drop the stores.
//! * **An index of slot numbers.** The hash index holds 4-byte slots and
//!   1-byte tags in 64-byte groups (F14-style), never ids: a lookup hashes
//!   the id, reads one group, and compares the id in the record only on a
//!   tag match. Nothing is allocated on the way.
//! * **Exact eviction order without a B-tree or sequence numbers.** The
//!   expiry index is a 64-ary radix tree over the `u64` expiry, expanded
//!   only where sessions are dense; its leaves are circular lists threaded
//!   through the records' `prev`/`next`. Equal expiries always share a list
//!   and lists only append, split in order, or concatenate, so arrival
//!   order among equal expiries is kept for free. The earliest session is
//!   found with find-first-set down at most 11 levels. Any `u64` expiry
//!   fits: there is no wheel origin to re-base and no overflow list.
//!
//! | per session, beyond its id and data | bytes |
//! |---|---|
//! | record header: expiry 8, list links 4 + 4, id length 1, meta (padding, flags present) 1 | 18 |
//! | flags, only for entries whose flags are non-zero (memcache) | 0 or 4 |
//! | hash index: 64 B per 12 slots, sized for `max_sessions` at 87.5% load | 6.1 |
//! | padding to a multiple of 4 | 0–3, 1.5 on average |
//! | page table, tree nodes | about 2 |
//! | the partly filled last page of each size class | 16 KiB / 2 per class in use |
//!
//! Measured as the growth of the resident set over 1M sessions of 32-byte
//! ids and no flags: 27.5 bytes per session with 200 bytes of data (2 of
//! padding), 27.0 with 100 (2 of padding), and 30.4 with data spread over
//! 100–1500 bytes (350 size classes in use); against 101 for the first
//! version's `Box` per session and B-tree of `(expiry, seq)` keys. The
//! 18th header byte (a whole byte for the id length, a meta byte for
//! padding and flags) cost nothing at those two fixed lengths, which
//! had 3 bytes of padding before, and 1 byte with spread lengths (29.4
//! with the 17-byte header, on the same machine)
//! (`cargo test --release -p dc_store --test overhead -- --nocapture`, or
//! `cargo run --release -p dc_store --example overhead` for other sizes).
//!
//! | operation | cost, whatever the number stored |
//! |---|---|
//! | `get`, `have`, `entry` | one hash, one index group (one cache line), one record |
//! | `add`, `store` | one probe, a walk of at most 11 tree levels, one record written (`Set`/`Replace` of a live id: and one released) |
//! | `remove`, `touch`, one eviction | one probe or none, a walk (two for `touch`) of at most 11 levels |
//! | `expire` of *k* sessions | O(*k*) plus one walk; reads at most one list of live sessions (to sort it) |
//!
//! The occasional extra work is bounded too: a tree list that passes 512
//! sessions is split into a node (O(levels) moves per add, amortized), and
//! the list at the front of the eviction order is sorted, at most 512
//! sessions, before the first eviction from it. The hash index is
//! allocated for `max_sessions` up front (up to [`PRESIZED_SESSIONS`]), so
//! it never grows; past that it grows by half, rehashing every id: O(1)
//! amortized, but a pause of about 0.15 s per million sessions held.
//! `cargo bench -p dc_store --bench store` measures each operation at 10k,
//! 1M and (with `DC_STORE_BENCH_10M=1`) 10M stored sessions;
//! `cargo run --release -p dc_store --example flatness` compares the sizes
//! in interleaved rounds, next to the cost of two bare random memory reads
//! at each size, which is what the store's costs follow once they outgrow
//! the CPU caches.
//!
//! Size classes 4 bytes apart are the compromise between padding (a class
//! per byte wastes none) and partly filled pages (which grow with the
//! classes in use): with lengths spread over 100–1500 bytes a class per
//! byte cost 36.7 bytes a session, a class per 2 bytes 32.3, per 4 bytes
//! 30.6 (these with the 17-byte header). After the whole store has
//! churned (every session expired and replaced by one of another length,
//! four times over), the resident set per live session is what it was
//! after the first fill, within half a percent: 872 against 869 bytes
//! (40.4 and 36.8 beyond ids and data, with the index sized for 2M
//! sessions), since a freed slot serves the next session of its class and
//! the classes' shares barely move (`cargo test --release -p dc_store
//! --test overhead_churn -- --nocapture`). The example's churn phase
//! (`cargo run --release -p dc_store --example overhead 1000000 100-1500`)
//! prints 72 bytes against 31 because its limit is exactly the sessions it
//! adds: its first add at the limit evicts a batch of a thirtieth, and the
//! pages that held those sessions are kept for the next ones (864 resident
//! bytes per live session fresh, 904 churned: 1.05 times).
//!
//! ```
//! use dc_store::{AddOutcome, Limits, MemoryStore, SessionStore, StoreMode, StoreOutcome};
//!
//! let mut store = MemoryStore::new(Limits::new(512, 1 << 20)?);
//! assert_eq!(store.add(b"id", b"session", 1_000, 0), AddOutcome::Stored);
//! assert_eq!(store.get(b"id", 1_000), Some(&b"session"[..])); // at expiry: still live
//! assert_eq!(store.get(b"id", 1_001), None); // one millisecond later: gone
//!
//! // memcache's `set`, with flags, then `touch`.
//! let set = store.store(StoreMode::Set, b"key", b"value", 42, 2_000, 1_001);
//! assert_eq!(set, StoreOutcome::Stored);
//! assert_eq!(store.entry(b"key", 1_001).map(|e| e.flags), Some(42));
//! assert!(store.touch(b"key", 5_000, 1_001));
//! assert_eq!(store.entry(b"key", 4_000).map(|e| e.data), Some(&b"value"[..]));
//! # Ok::<(), dc_store::LimitsError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod limits;
mod memory;
mod sharded;

pub use dc_ops::StoreMode;
pub use limits::{Limits, LimitsError, MAX_SESSIONS, MIN_MAX_BYTES};
pub use memory::{
    IndexMemory, LiveEntry, MemoryStore, WalkCursor, MAX_DATA_LEN, MAX_ID_LEN, PRESIZED_SESSIONS,
};
pub use sharded::{shards_for, ShardedStore, MIN_SESSIONS_PER_SHARD};

/// Milliseconds on the caller's monotonic clock.
///
/// The epoch is the caller's choice (for example, process start); the store
/// only compares instants with each other.
pub type Millis = u64;

/// What [`SessionStore::add`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use]
pub enum AddOutcome {
    /// The session was stored (after evicting others if the store was full).
    Stored,
    /// An unexpired session with that id exists. It is *not* replaced and
    /// nothing was evicted.
    Duplicate,
    /// The session can never be stored: its id is longer than [`MAX_ID_LEN`]
    /// bytes, its data longer than [`MAX_DATA_LEN`], or its id and data
    /// together exceed [`Limits::max_bytes`].
    /// Nothing was evicted. The protocol layer's range checks make this
    /// unreachable from the wire with valid [`Limits`].
    TooLarge,
}

/// What [`SessionStore::store`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use]
pub enum StoreOutcome {
    /// The entry was stored (after evicting others if the store was full).
    Stored,
    /// [`StoreMode::Add`] on a live key, or [`StoreMode::Replace`] on a
    /// missing one: nothing changed, nothing evicted.
    NotStored,
    /// The id is longer than [`MAX_ID_LEN`] bytes, the data longer than
    /// [`MAX_DATA_LEN`], or id and data together exceed
    /// [`Limits::max_bytes`]: nothing changed (a live entry under the id is
    /// kept), nothing evicted.
    TooLarge,
}

impl From<StoreOutcome> for AddOutcome {
    /// The answer of a [`StoreMode::Add`]: a refused add is a duplicate.
    fn from(outcome: StoreOutcome) -> AddOutcome {
        match outcome {
            StoreOutcome::Stored => AddOutcome::Stored,
            StoreOutcome::NotStored => AddOutcome::Duplicate,
            StoreOutcome::TooLarge => AddOutcome::TooLarge,
        }
    }
}

/// A live entry, borrowed from the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The data stored.
    pub data: &'a [u8],
    /// The opaque flags stored with it (memcache's; 0 for the other
    /// protocols).
    pub flags: u32,
    /// When it expires: it is live while `now <= expires_at`.
    pub expires_at: Millis,
}

/// A snapshot of a store's size and counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct StoreStats {
    /// Stored sessions, including expired ones not yet purged.
    pub sessions: usize,
    /// Sum of `id.len() + data.len()` over the stored sessions.
    pub bytes: usize,
    /// Sessions dropped to make room, by count or by bytes, since creation.
    pub evictions: u64,
    /// Expired sessions purged since creation.
    pub expirations: u64,
}

/// A cache of SSL/TLS sessions keyed by session id, following the distcache
/// contract described in the [crate documentation](crate).
///
/// Implementations are sans-IO: `now` always comes from the caller.
pub trait SessionStore {
    /// Store `data` under `id` with opaque `flags` (memcache's; 0 for the
    /// other protocols), expiring at `expires_at`. Purges expired sessions
    /// first, so an expired id counts as missing. Then, unless the entry is
    /// [`TooLarge`](StoreOutcome::TooLarge):
    ///
    /// * [`StoreMode::Add`] stores only if `id` has no live entry (the
    ///   distcache add: never replaces);
    /// * [`StoreMode::Set`] stores whatever `id` holds: a live entry is
    ///   released first, so that its bytes count no more, and the new one is
    ///   stored as a new entry, at the end of its expiry's place in the
    ///   eviction order, evicting others if needed (never the key being
    ///   stored);
    /// * [`StoreMode::Replace`] is `Set`, but only if `id` has a live entry.
    ///
    /// A mode that refuses answers [`StoreOutcome::NotStored`] and changes
    /// nothing.
    fn store(
        &mut self,
        mode: StoreMode,
        id: &[u8],
        data: &[u8],
        flags: u32,
        expires_at: Millis,
        now: Millis,
    ) -> StoreOutcome;

    /// The live entry under `id` (data, flags, expiry), or `None`. Never
    /// returns an expired entry. Changes nothing: not the expiry, not the
    /// eviction order (nothing is LRU).
    fn entry(&self, id: &[u8], now: Millis) -> Option<Entry<'_>>;

    /// Give the live entry under `id` a new expiry: it moves in the eviction
    /// order as if stored with that expiry now (after every entry expiring
    /// at or before it). Purges expired sessions first. `false` if `id` is
    /// absent or expired. An `expires_at < now` makes the entry expired at
    /// once: it is purged and counted as an expiration (and `true` is
    /// returned: it was live and was touched).
    fn touch(&mut self, id: &[u8], expires_at: Millis, now: Millis) -> bool;

    /// Store `data` under `id`, expiring at `expires_at`. Purges expired
    /// sessions first (so an expired id can be added again), evicts to make
    /// room if full, never replaces a live id: [`store`](Self::store) in
    /// [`StoreMode::Add`] with flags 0.
    fn add(&mut self, id: &[u8], data: &[u8], expires_at: Millis, now: Millis) -> AddOutcome {
        self.store(StoreMode::Add, id, data, 0, expires_at, now)
            .into()
    }

    /// The data of the live session `id`, or `None`: the data of its
    /// [`entry`](Self::entry). Never returns an expired session. Does not
    /// change expiry or eviction order (nothing is LRU).
    fn get(&self, id: &[u8], now: Millis) -> Option<&[u8]> {
        self.entry(id, now).map(|entry| entry.data)
    }

    /// Whether a live session `id` exists. Like [`get`](Self::get), it
    /// changes nothing.
    fn have(&self, id: &[u8], now: Millis) -> bool {
        self.entry(id, now).is_some()
    }

    /// Remove a live session; `false` if absent or expired.
    fn remove(&mut self, id: &[u8], now: Millis) -> bool;

    /// Drop every session with `expires_at < now`. Returns how many.
    ///
    /// Never scans live sessions: the cost depends on the number expired.
    fn expire(&mut self, now: Millis) -> usize;

    /// Stored sessions (may include expired ones not yet purged by
    /// [`expire`](Self::expire)).
    fn len(&self) -> usize;

    /// Whether no session is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Current size and counters.
    fn stats(&self) -> StoreStats;
}
