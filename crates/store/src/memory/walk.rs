//! Walking every live entry of a [`MemoryStore`] in pieces, for a snapshot
//! that must not hold the store (or its lock) for the whole write.

use super::MemoryStore;
use crate::Millis;

/// Where a [`MemoryStore::walk`] goes on from: a slab page number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalkCursor(usize);

/// A live entry met on a walk, borrowed from the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveEntry<'a> {
    /// Its id (key).
    pub id: &'a [u8],
    /// Its data.
    pub data: &'a [u8],
    /// Its opaque flags.
    pub flags: u32,
    /// When it expires (live while `now <= expires_at`).
    pub expires_at: Millis,
}

impl MemoryStore {
    /// Calls `f` with the live entries (at `now`) of the next piece of the
    /// store from `from` (start with [`WalkCursor::default`]): at least
    /// `at_least` entries unless the store ends first, in memory order
    /// (slab page by slab page, so the walk streams through memory).
    /// Returns where to go on from, or `None` once the walk is over.
    ///
    /// Between two calls the store may change. An entry that stays put for
    /// the whole walk is met exactly once; one stored, replaced or removed
    /// meanwhile may be met or not, and an id replaced meanwhile may be met
    /// twice (its newer version later), since its new record may land in a
    /// page not yet walked. That is a fuzzy snapshot, as Redis's forked
    /// one is not, but it holds the store only a piece at a time.
    pub fn walk(
        &self,
        from: WalkCursor,
        at_least: usize,
        now: Millis,
        mut f: impl FnMut(LiveEntry<'_>),
    ) -> Option<WalkCursor> {
        self.slabs
            .walk_pages(from.0, at_least, |record| {
                if now <= record.expires_at {
                    f(LiveEntry {
                        id: record.id,
                        data: record.data,
                        flags: record.flags,
                        expires_at: record.expires_at,
                    });
                }
            })
            .map(WalkCursor)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Limits, MemoryStore, SessionStore, StoreMode, WalkCursor};
    use std::collections::BTreeMap;

    fn walk_all(store: &MemoryStore, piece: usize, now: u64) -> Vec<(Vec<u8>, Vec<u8>, u32, u64)> {
        let mut seen = Vec::new();
        let mut cursor = Some(WalkCursor::default());
        while let Some(from) = cursor {
            cursor = store.walk(from, piece, now, |e| {
                seen.push((e.id.to_vec(), e.data.to_vec(), e.flags, e.expires_at))
            });
        }
        seen
    }

    #[test]
    fn a_walk_meets_every_live_entry_once_whatever_the_piece_size() {
        let mut store = MemoryStore::new(Limits::new(100_000, 64 << 20).unwrap());
        let mut model = BTreeMap::new();
        for i in 0..5000u32 {
            let id = i.to_be_bytes().to_vec();
            let data = vec![i as u8; (i % 700) as usize];
            let flags = i % 3;
            let expires = u64::from(100 + i % 50);
            let stored = store.store(StoreMode::Set, &id, &data, flags, expires, 0);
            assert_eq!(stored, crate::StoreOutcome::Stored);
            model.insert(id, (data, flags, expires));
        }
        for i in (0..5000u32).step_by(7) {
            assert!(store.remove(&i.to_be_bytes(), 0));
            model.remove(i.to_be_bytes().as_slice());
        }
        for piece in [1, 100, 1_000_000] {
            // At 120, those expiring before are no longer live.
            let mut seen = walk_all(&store, piece, 120);
            seen.sort();
            let expected: Vec<_> = model
                .iter()
                .filter(|(_, (_, _, e))| *e >= 120)
                .map(|(id, (d, f, e))| (id.clone(), d.clone(), *f, *e))
                .collect();
            assert_eq!(seen, expected, "pieces of {piece}");
        }
    }

    #[test]
    fn an_entry_that_stays_put_is_met_once_across_changes() {
        let mut store = MemoryStore::new(Limits::new(100_000, 64 << 20).unwrap());
        for i in 0..3000u32 {
            let _ = store.add(&i.to_be_bytes(), &[1; 200], 1000, 0);
        }
        let mut seen = BTreeMap::<Vec<u8>, usize>::new();
        let mut cursor = Some(WalkCursor::default());
        let mut round = 0u32;
        while let Some(from) = cursor {
            cursor = store.walk(from, 50, 0, |e| {
                *seen.entry(e.id.to_vec()).or_default() += 1
            });
            // Churn other ids between pieces.
            for j in 0..20u32 {
                let id = (1_000_000 + round * 20 + j).to_be_bytes();
                let _ = store.add(&id, &[2; 200], 1000, 0);
                let _ = store.remove(&(1_000_000 + round * 20 + j / 2).to_be_bytes(), 0);
            }
            round += 1;
        }
        for i in 0..3000u32 {
            assert_eq!(seen.get(i.to_be_bytes().as_slice()), Some(&1), "id {i}");
        }
    }
}
