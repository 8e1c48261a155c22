//! Checks with a counting allocator that evicted, removed and expired
//! sessions give their memory back (the original leaked evicted ones), that
//! lookups allocate nothing, and measures the store's per-session heap
//! overhead. (`tests/overhead.rs` measures the resident set instead, which
//! also counts the allocator's own headers and rounding.)
//!
//! Counting needs a `GlobalAlloc`, which is `unsafe` to implement; that is
//! why this lives in its own test binary rather than in the crate, which
//! forbids `unsafe`. The allocator only forwards to `System` and counts.
//! The binary holds a single test so that no other test allocates while it
//! measures.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use dc_store::{AddOutcome, Limits, MemoryStore, SessionStore};

/// Bytes currently allocated through the global allocator (as requested,
/// not counting the allocator's own headers and rounding).
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

/// Allocations made through the global allocator so far.
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

struct CountingAllocator;

// SAFETY: every method forwards to `System` with the caller's arguments, so
// `System`'s guarantees carry over; the counter has no effect on them.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: our caller upholds `GlobalAlloc::alloc`'s contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Ordering::Relaxed);
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: our caller upholds `GlobalAlloc::realloc`'s contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE_BYTES.fetch_add(new_size, Ordering::Relaxed);
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        new
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: our caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn live_bytes() -> usize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

fn allocations() -> usize {
    ALLOCATIONS.load(Ordering::Relaxed)
}

fn id(i: u64) -> [u8; 32] {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&i.to_le_bytes());
    id[24..].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    id
}

#[test]
fn sessions_give_their_memory_back() {
    let data = [0xd5u8; 1000];

    // Eviction: a full store of 64 that keeps evicting must not grow.
    let mut store = MemoryStore::new(Limits::new(64, 1 << 20).unwrap());
    let mut next = 0u64;
    let mut add = |store: &mut MemoryStore, expires_at: u64| {
        next += 1;
        assert_eq!(
            store.add(&id(next), &data, expires_at, 0),
            AddOutcome::Stored
        );
    };
    // Warm up so that the tables reach their steady size.
    for i in 0..1000 {
        add(&mut store, 1_000_000 + i);
    }
    let warm = live_bytes();
    for i in 0..20_000 {
        add(&mut store, 2_000_000 + i);
    }
    let after_churn = live_bytes();
    assert!(store.stats().evictions > 10_000);
    // A leak would be about 20 MB; allow a slab page or two of jitter.
    assert!(
        after_churn <= warm + 4096,
        "heap grew from {warm} to {after_churn} bytes while evicting"
    );

    // Expiry: purging everything frees every session's allocation.
    let (sessions, held) = (store.len(), store.stats().bytes);
    let before = live_bytes();
    assert_eq!(store.expire(u64::MAX), sessions);
    let freed = before - live_bytes();
    assert!(freed >= held, "expiry freed {freed} of {held} bytes");

    // Removal: the same.
    let mut store = MemoryStore::new(Limits::new(64, 1 << 20).unwrap());
    for i in 0..60 {
        assert_eq!(store.add(&id(i), &data, 100, 0), AddOutcome::Stored);
    }
    let held = store.stats().bytes;
    let before = live_bytes();
    for i in 0..60 {
        assert!(store.remove(&id(i), 0));
    }
    let freed = before - live_bytes();
    assert!(freed >= held, "removal freed {freed} of {held} bytes");

    // Overhead per session beyond its id and data, at a large size.
    let n = 100_000u64;
    let before = live_bytes();
    let mut store = MemoryStore::new(Limits::new(n as usize, usize::MAX).unwrap());
    for i in 0..n {
        let expires_at = 1_000_000 + (i * 7919) % 100_000;
        assert_eq!(
            store.add(&id(i), &data[..100], expires_at, 0),
            AddOutcome::Stored
        );
    }
    let used = live_bytes() - before;
    let overhead = (used - store.stats().bytes) / n as usize;
    eprintln!("store overhead: {overhead} bytes per session ({n} sessions, before malloc headers)");
    // 18-byte record header, 6-9 bytes of hash index, a few bytes of
    // partly filled pages and tree nodes. Catches a structural regression.
    assert!(overhead <= 32, "overhead {overhead} bytes per session");

    // Lookups allocate nothing: hits, misses, expired and over-long ids.
    let allocated = allocations();
    let mut found = 0;
    for i in 0..2 * n {
        found += usize::from(store.get(&id(i), 0).is_some());
        found += usize::from(store.have(&id(i), 2_000_000));
    }
    assert!(store.get(&[0; 300], 0).is_none());
    assert_eq!(found, n as usize);
    assert_eq!(allocations(), allocated, "get/have allocated");
}
