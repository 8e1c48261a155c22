//! Keeps glibc's malloc to one arena, so that the resident set follows what
//! the store and the connections hold (see docs/server.md, "Memory").
//!
//! glibc gives each thread that contends for the heap an arena of its own
//! (up to 8 per CPU) and frees a block into the arena that allocated it.
//! The worker threads share one store: a session stored through worker A
//! is often evicted by worker B, so its memory goes back to A's arena,
//! where B cannot use it, and B's arena grows to store B's next session.
//! Every arena then holds about the whole store at its own busiest moment:
//! at `-memory 256` with 8 workers and 200 clients adding 32 KB sessions,
//! the resident set reached 504 MiB, against 273 MiB with one arena
//! (`cargo test --release -p dc_e2e --test memory -- --nocapture`). With
//! one arena, a block freed by any thread serves the next allocation of
//! any thread.
//!
//! The cost is one lock for allocations that miss glibc's per-thread cache
//! (blocks over 1 KiB: record pages and buffer growth, not per request),
//! held for a few hundred nanoseconds. Measured against a general-purpose
//! allocator that returns memory by itself (jemalloc, preloaded, which keeps
//! per-CPU arenas and returns freed pages after a decay time), one arena
//! held less: 318 MiB for jemalloc in the same run.
//!
//! Other C libraries (musl) have no per-thread arenas; there this is a
//! no-op.
#![allow(unsafe_code)]

/// Limits malloc to one arena. Call before any thread is started: arenas
/// made before the call are kept.
pub fn one_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets a tunable of the allocator and is
        // documented as callable at any time; M_ARENA_MAX with a positive
        // value is a valid request. Nothing else runs yet.
        let ok = unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
        if ok == 0 {
            // Not fatal: the server works, only its memory may exceed the
            // documented bound. glibc does not refuse this value in practice.
            log::warn!("mallopt(M_ARENA_MAX, 1) failed: memory may exceed -memory's bound");
        }
    }
}
