//! Session stores for distcache: the [`SessionStore`] trait that the server
//! engine talks to, and [`MemoryStore`], the default in-memory store that
//! keeps sessions ordered by expiry and evicts the soonest-expiring ones when
//! it is full. The store is sans-IO and reads no clock: every call that needs
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
//!   every `add` and `remove`.
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
//!   [`AddOutcome::TooLarge`] (see [`MAX_ID_LEN`]).
//! * **Memory is freed.** Evicted, removed and expired sessions are dropped
//!   (the original leaked evicted ones). Evictions and expirations are counted
//!   in [`StoreStats`].
//!
//! The store checks no protocol ranges (id 1..=64 bytes, data ≤ 32759 bytes,
//! timeout ≤ 7 days): the protocol layer rejects those first. It only
//! guarantees that no input, whatever its bytes or length, makes it panic.
//!
//! # Costs
//!
//! Lookups are one hash probe, O(1) on average at any size. `add`, `remove`,
//! and each eviction are O(log n) (one B-tree update). Purging `k` expired
//! sessions pops them off the front of the expiry index, O((k + 1) · log n)
//! with a B-tree of fan-out 6..12; it never visits a live session other than
//! the single one that ends the purge.
//!
//! ```
//! use dc_store::{AddOutcome, Limits, MemoryStore, SessionStore};
//!
//! let mut store = MemoryStore::new(Limits::new(512, 1 << 20)?);
//! assert_eq!(store.add(b"id", b"session", 1_000, 0), AddOutcome::Stored);
//! assert_eq!(store.get(b"id", 1_000), Some(&b"session"[..])); // at expiry: still live
//! assert_eq!(store.get(b"id", 1_001), None); // one millisecond later: gone
//! # Ok::<(), dc_store::LimitsError>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod limits;
mod memory;

pub use limits::{Limits, LimitsError, MAX_SESSIONS, MIN_MAX_BYTES};
pub use memory::{MemoryStore, MAX_ID_LEN};

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
    /// bytes, or its id and data together exceed [`Limits::max_bytes`].
    /// Nothing was evicted. The protocol layer's range checks make this
    /// unreachable from the wire with valid [`Limits`].
    TooLarge,
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
    /// Store `data` under `id`, expiring at `expires_at`. Purges expired
    /// sessions first (so an expired id can be added again), evicts to make
    /// room if full, never replaces a live id.
    fn add(&mut self, id: &[u8], data: &[u8], expires_at: Millis, now: Millis) -> AddOutcome;

    /// The data of the live session `id`, or `None`. Never returns an
    /// expired session. Does not change expiry or eviction order (nothing is
    /// LRU).
    fn get(&self, id: &[u8], now: Millis) -> Option<&[u8]>;

    /// Whether a live session `id` exists. Like [`get`](Self::get), it
    /// changes nothing.
    fn have(&self, id: &[u8], now: Millis) -> bool {
        self.get(id, now).is_some()
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
