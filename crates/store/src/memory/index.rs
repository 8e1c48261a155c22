//! [`IdIndex`]: the hash index from session id to [`Slot`].
//!
//! ```text
//!   groups: Vec<Group>, one 64-byte cache line each
//!  +------------------------------------+----------+--------------------------------+
//!  | tags: [u8; 12]                     | overflow | slots: [u32; 12]               |
//!  | 0 = empty, else 8 bits of the hash | u8       | Slot of the record with the id |
//!  +------------------------------------+----------+--------------------------------+
//!   home group = ⌊hash · groups / 2^64⌋, then linear probing group by group
//! ```
//!
//! An open-addressing table in the style of Folly's F14: a lookup reads one
//! cache line in the common case, compares 12 tags at once, and touches a
//! record only for a tag match (a false match is 1 in 255 per occupied
//! slot). It stores no id, only the [`Slot`] of the record that holds it, so
//! an id is stored once. `overflow` counts the entries that were placed past
//! this group because it was full; a lookup that finds no match in a group
//! whose count is 0 stops there, so removal needs no tombstones. A count
//! that reaches 255 stays there until the next resize.
//!
//! The table is at most 7/8 full, so it costs at least 64/12 · 8/7 = 6.1
//! bytes per session. The store sizes it for its `max_sessions` up front;
//! past that it grows by half when 7/8 full (58%–87.5% load, 6.1–9.1 bytes
//! per session), the caller listing every entry to rehash.

use super::slab::Slot;

/// Slots in one group: 12 tags, a counter and 12 slot numbers fill 64 bytes.
const GROUP_SLOTS: usize = 12;

/// One cache line of the table.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Group {
    tags: [u8; GROUP_SLOTS],
    overflow: u8,
    slots: [Slot; GROUP_SLOTS],
}

const _: () = assert!(std::mem::size_of::<Group>() == 64);

impl Group {
    const EMPTY: Group = Group {
        tags: [0; GROUP_SLOTS],
        overflow: 0,
        slots: [0; GROUP_SLOTS],
    };

    /// Bit `i` set where `tags[i] == tag`. Written so that it compiles to a
    /// vector compare.
    #[inline]
    fn matching(&self, tag: u8) -> u16 {
        let mut mask = 0;
        for (i, &t) in self.tags.iter().enumerate() {
            mask |= u16::from(t == tag) << i;
        }
        mask
    }
}

/// The tag of a hash: its low byte, never 0 (which marks an empty slot).
/// The home group comes from the high bits, so the two are independent.
#[inline]
fn tag_of(hash: u64) -> u8 {
    (hash as u8).max(1)
}

/// Hash index of slots. Every method that needs an id's hash takes it from
/// the caller, who owns the hasher and the records.
pub(crate) struct IdIndex {
    groups: Vec<Group>,
    len: usize,
}

impl IdIndex {
    /// An empty index that takes `entries` without growing.
    pub(crate) fn with_capacity(entries: usize) -> IdIndex {
        let groups = entries.div_ceil(GROUP_SLOTS * 7 / 8);
        IdIndex {
            groups: vec![Group::EMPTY; groups],
            len: 0,
        }
    }

    /// Whether the next insert would grow the table.
    pub(crate) fn is_full(&self) -> bool {
        self.len >= self.max_len()
    }

    /// Grows the table by half, refilled by `fill`, which must call its
    /// argument with the hash and slot of every entry.
    pub(crate) fn grow_with(&mut self, fill: impl FnOnce(&mut dyn FnMut(u64, Slot))) {
        let mut groups = vec![Group::EMPTY; Self::grown(self.groups.len())];
        let mut placed = 0;
        fill(&mut |hash, slot| {
            Self::place(&mut groups, hash, slot);
            placed += 1;
        });
        debug_assert_eq!(placed, self.len, "refill missed entries");
        self.groups = groups;
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Entries the table takes before it grows: 7/8 of its slots.
    fn max_len(&self) -> usize {
        self.groups.len() * GROUP_SLOTS * 7 / 8
    }

    /// First group to probe for `hash`. `groups` is not 0.
    #[inline]
    fn home(hash: u64, groups: usize) -> usize {
        ((u128::from(hash) * groups as u128) >> 64) as usize
    }

    /// The slot whose record has this hash and satisfies `is_it`.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut is_it: impl FnMut(Slot) -> bool) -> Option<Slot> {
        let n = self.groups.len();
        if n == 0 {
            return None;
        }
        let tag = tag_of(hash);
        let mut g = Self::home(hash, n);
        // Bounded so that even saturated counters cannot make it spin.
        for _ in 0..n {
            let group = &self.groups[g];
            let mut matches = group.matching(tag);
            while matches != 0 {
                let slot = group.slots[matches.trailing_zeros() as usize];
                if is_it(slot) {
                    return Some(slot);
                }
                matches &= matches - 1;
            }
            if group.overflow == 0 {
                return None;
            }
            g = if g + 1 == n { 0 } else { g + 1 };
        }
        None
    }

    /// Adds `slot`, whose id hashes to `hash` and is not in the index yet.
    /// If the table has to grow, `hash_of` gives the hash of each slot
    /// already in it (callers that can list their entries faster grow with
    /// [`grow_with`](Self::grow_with) first).
    pub(crate) fn insert(&mut self, hash: u64, slot: Slot, hash_of: impl Fn(Slot) -> u64) {
        if self.len >= self.max_len() {
            self.grow(hash_of);
        }
        Self::place(&mut self.groups, hash, slot);
        self.len += 1;
    }

    /// Puts `slot` in the first free place from its home group on.
    /// `groups` has a free place.
    fn place(groups: &mut [Group], hash: u64, slot: Slot) {
        let n = groups.len();
        let mut g = Self::home(hash, n);
        loop {
            let group = &mut groups[g];
            let empty = group.matching(0);
            if empty != 0 {
                let i = empty.trailing_zeros() as usize;
                group.tags[i] = tag_of(hash);
                group.slots[i] = slot;
                return;
            }
            group.overflow = group.overflow.saturating_add(1);
            g = if g + 1 == n { 0 } else { g + 1 };
        }
    }

    /// Takes `slot`, whose id hashes to `hash`, out of the index. Returns
    /// whether it was there.
    pub(crate) fn remove(&mut self, hash: u64, slot: Slot) -> bool {
        let n = self.groups.len();
        if n == 0 {
            return false;
        }
        let tag = tag_of(hash);
        let home = Self::home(hash, n);
        let mut g = home;
        for _ in 0..n {
            let group = &mut self.groups[g];
            let mut matches = group.matching(tag);
            while matches != 0 {
                let i = matches.trailing_zeros() as usize;
                if group.slots[i] == slot {
                    group.tags[i] = 0;
                    self.len -= 1;
                    // Un-count this entry in the groups it was pushed past.
                    let mut passed = home;
                    while passed != g {
                        let over = &mut self.groups[passed].overflow;
                        if *over != u8::MAX {
                            *over -= 1;
                        }
                        passed = if passed + 1 == n { 0 } else { passed + 1 };
                    }
                    return true;
                }
                matches &= matches - 1;
            }
            if group.overflow == 0 {
                return false;
            }
            g = if g + 1 == n { 0 } else { g + 1 };
        }
        false
    }

    /// Moves every entry into a table half as large again.
    fn grow(&mut self, hash_of: impl Fn(Slot) -> u64) {
        let mut groups = vec![Group::EMPTY; Self::grown(self.groups.len())];
        for group in &self.groups {
            let mut full = !group.matching(0) & ((1 << GROUP_SLOTS) - 1);
            while full != 0 {
                let slot = group.slots[full.trailing_zeros() as usize];
                Self::place(&mut groups, hash_of(slot), slot);
                full &= full - 1;
            }
        }
        self.groups = groups;
    }

    /// Groups after growing from `groups`.
    fn grown(groups: usize) -> usize {
        groups + groups / 2 + 1
    }

    /// Bytes the table occupies.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.groups.capacity() * std::mem::size_of::<Group>()
    }

    /// Checks that every entry is found from its hash and that the overflow
    /// counts are exact (or saturated). Returns the slots with their hashes.
    #[cfg(test)]
    pub(crate) fn check(&self, hash_of: impl Fn(Slot) -> u64) -> Vec<(Slot, u64)> {
        let n = self.groups.len();
        let mut overflow = vec![0usize; n];
        let mut slots = Vec::new();
        for (g, group) in self.groups.iter().enumerate() {
            for i in 0..GROUP_SLOTS {
                if group.tags[i] == 0 {
                    continue;
                }
                let slot = group.slots[i];
                let hash = hash_of(slot);
                assert_eq!(group.tags[i], tag_of(hash), "tag of slot {slot}");
                let mut passed = Self::home(hash, n);
                while passed != g {
                    overflow[passed] += 1;
                    passed = (passed + 1) % n;
                }
                assert_eq!(self.find(hash, |s| s == slot), Some(slot));
                slots.push((slot, hash));
            }
        }
        for (group, &count) in self.groups.iter().zip(&overflow) {
            // A saturated count stays saturated until the next resize.
            if group.overflow != u8::MAX {
                assert_eq!(usize::from(group.overflow), count, "overflow count");
            }
        }
        assert_eq!(slots.len(), self.len, "len");
        assert!(self.len <= self.max_len() || n == 0);
        slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A "hash" that is the slot number spread over 64 bits, or a constant
    /// to force every entry into one probe sequence.
    fn spread(slot: Slot) -> u64 {
        u64::from(slot).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    #[test]
    fn finds_what_was_inserted_and_nothing_else() {
        let mut index = IdIndex::with_capacity(0);
        assert_eq!(index.find(1, |_| true), None);
        for slot in 0..10_000 {
            index.insert(spread(slot), slot, spread);
        }
        assert_eq!(index.len(), 10_000);
        for slot in 0..10_000 {
            assert_eq!(index.find(spread(slot), |s| s == slot), Some(slot));
        }
        assert_eq!(index.find(spread(10_000), |s| s == 10_000), None);
        index.check(spread);
        // 64 bytes per 12 slots at a load between 7/12 and 7/8.
        let per_entry = index.heap_bytes() as f64 / 10_000.0;
        assert!((6.0..9.2).contains(&per_entry), "{per_entry} bytes/entry");
    }

    #[test]
    fn removal_keeps_colliding_entries_reachable() {
        // Every entry has the same home group and tag: a long probe run
        // (but short enough that no overflow count saturates).
        let same = |_: Slot| 0x0123_4567_89ab_cdef;
        let mut index = IdIndex::with_capacity(0);
        for slot in 0..200 {
            index.insert(same(slot), slot, same);
        }
        index.check(same);
        for slot in (0..200).step_by(2) {
            assert!(index.remove(same(slot), slot));
            assert!(!index.remove(same(slot), slot), "already gone");
        }
        index.check(same);
        for slot in 0..200 {
            let found = index.find(same(slot), |s| s == slot);
            assert_eq!(found.is_some(), slot % 2 == 1, "slot {slot}");
        }
        for slot in (1..200).step_by(2) {
            assert!(index.remove(same(slot), slot));
        }
        assert_eq!(index.len(), 0);
        index.check(same);
        assert!(index.groups.iter().all(|g| g.overflow == 0));
    }

    #[test]
    fn saturated_overflow_counts_only_lengthen_probes() {
        let same = |_: Slot| 42;
        let mut index = IdIndex::with_capacity(0);
        for slot in 0..600 {
            index.insert(same(slot), slot, same);
        }
        for slot in 0..590 {
            assert!(index.remove(same(slot), slot));
        }
        index.check(same);
        for slot in 0..600 {
            assert_eq!(index.find(same(slot), |s| s == slot).is_some(), slot >= 590);
        }
    }

    #[test]
    fn a_presized_table_takes_its_capacity_without_growing() {
        for capacity in [1, 10, 11, 1000] {
            let mut index = IdIndex::with_capacity(capacity);
            let size = index.heap_bytes();
            for slot in 0..capacity as Slot {
                assert!(!index.is_full());
                index.insert(spread(slot), slot, |_| unreachable!("grew"));
            }
            assert_eq!(index.heap_bytes(), size);
            index.check(spread);
        }
    }

    #[test]
    fn growing_from_an_outside_list_of_entries() {
        let mut index = IdIndex::with_capacity(0);
        for slot in 0..1000 {
            if index.is_full() {
                let stored = index.len() as Slot;
                index.grow_with(|place| (0..stored).for_each(|s| place(spread(s), s)));
            }
            index.insert(spread(slot), slot, |_| unreachable!("grew"));
        }
        index.check(spread);
    }

    #[test]
    fn churn_at_a_steady_size_does_not_grow_the_table() {
        let mut index = IdIndex::with_capacity(0);
        for slot in 0..1000 {
            index.insert(spread(slot), slot, spread);
        }
        let size = index.heap_bytes();
        for slot in 1000..200_000 {
            assert!(index.remove(spread(slot - 1000), slot - 1000));
            index.insert(spread(slot), slot, spread);
        }
        assert_eq!(index.heap_bytes(), size);
        index.check(spread);
    }
}
