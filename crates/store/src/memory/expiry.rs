//! [`ExpiryIndex`]: every stored session in exact eviction order — by
//! `expires_at`, then by arrival — without a comparison tree and without a
//! per-session sequence number.
//!
//! It is a radix tree over the 64 bits of `expires_at`, six bits (64 slots)
//! per level, whose slots are expanded into child nodes only where sessions
//! are dense:
//!
//! ```text
//!  level 10 (root)   slot = bits 60..64   one node, always present
//!        │ expanded slot
//!        v
//!  level  9          slot = bits 54..60
//!        ⋮
//!  level  1          slot = bits  6..12   a slot covers 64 ms
//!        │
//!        v
//!  level  0          slot = bits  0..6    a slot is one exact millisecond
//!
//!  Node (536 bytes): occupied, expanded, sorted: u64 bitmaps
//!                    heads:  [u32; 64]  first record of the slot's list, or child node
//!                    counts: [u32; 64]  sessions in the slot's list or subtree
//!
//!  A slot's list is circular and doubly linked through the records
//!  (prev/next in each record's header), so it costs no memory of its own:
//!
//!     heads[d] ──> [rec]<──>[rec]<──>[rec]<─┐   head.prev is the tail
//!                    ^──────────────────────┘
//! ```
//!
//! **Placement.** A session sits in the list of the first unexpanded slot on
//! the path of its `expires_at`. Lists keep arrival order, except that a
//! *sorted* list (flag in `sorted`) is ordered by `expires_at` with ties in
//! arrival order; a level-0 list is one instant, so it is always both.
//!
//! **Finding the next to evict** walks down the lowest occupied slot of each
//! node (find-first-set on `occupied`): O(levels). If it ends at a list that
//! covers more than one millisecond and is not sorted, the list is stably
//! sorted first — arrival order among equal expiries survives — and after
//! that each eviction from it is O(1).
//!
//! **Bounded work.** A list above level 0 holds at most `split` sessions:
//! the insert that takes it past `split` expands its slot into a child node,
//! moving each of those sessions once (and once more a level down for any
//! child list still over the limit). A node whose subtree falls below
//! `split / 8` sessions is folded back into its parent's slot by splicing
//! its lists, O(64) per node and no per-session work. So a sort handles at
//! most `split` sessions and a split at most `split + 1` per level; a list
//! refills past `split` only after 7/8 of `split` inserts into its range,
//! so moves cost O(levels) amortized per insert; and nodes exist only where
//! at least `split / 8` sessions are. With sessions of one lifetime
//! arriving steadily, the dense region is expanded to the millisecond and an
//! insert moves nothing.
//!
//! **Expiry** takes whole lists whose range ends before `now` without
//! reading their order. Only a list that straddles `now` (so covers more
//! than one millisecond) is looked into: sorted if it is not yet (at most
//! `split` sessions, once), then its expired prefix is cut off, reading the
//! first session kept. Expiry never walks the live sessions: at most one
//! list of them, to sort it. A `floor` below every stored expiry answers
//! "nothing to expire" without a walk on most adds.
//!
//! Any `u64` is a valid expiry: the tree covers the whole range, so there is
//! no wheel origin to re-base, no overflow list and no clock skew to guard.

use super::slab::{Slabs, Slot, NIL};

/// Bits of `expires_at` per level.
const DIGIT_BITS: u32 = 6;
const FANOUT: usize = 1 << DIGIT_BITS;
/// Level of the root: its slot is bits 60..64 of `expires_at`.
const TOP: u32 = 10;
const ROOT: u32 = 0;

/// Most sessions in a list above level 0; the insert that goes past it
/// expands the slot. The largest sort therefore handles 512 sessions and the
/// largest split 513 per level (tens of microseconds). A node needs
/// `SPLIT / 8` sessions to stay expanded, which caps node memory at about
/// 536 / 64 ≈ 8 bytes per session per level in the sparsest case; with
/// steady traffic it is well under a byte.
pub(crate) const SPLIT: u32 = 512;

/// The slot of `t` at `level`.
#[inline]
fn digit(t: u64, level: u32) -> usize {
    ((t >> (DIGIT_BITS * level)) & (FANOUT as u64 - 1)) as usize
}

/// One node of the radix tree. See the module docs.
#[derive(Clone)]
struct Node {
    /// Slots with at least one session (in their list or subtree).
    occupied: u64,
    /// Slots whose `heads` entry is a child node.
    expanded: u64,
    /// Unexpanded slots whose list is ordered by expiry.
    sorted: u64,
    heads: [Slot; FANOUT],
    counts: [u32; FANOUT],
}

impl Node {
    const EMPTY: Node = Node {
        occupied: 0,
        expanded: 0,
        sorted: 0,
        heads: [NIL; FANOUT],
        counts: [0; FANOUT],
    };
}

/// The expanded slots walked from the root to a list: (node, slot).
struct Path {
    steps: [(u32, u8); TOP as usize],
    len: usize,
}

impl Path {
    fn new() -> Path {
        Path {
            steps: [(0, 0); TOP as usize],
            len: 0,
        }
    }

    fn push(&mut self, node: u32, slot: usize) {
        self.steps[self.len] = (node, slot as u8);
        self.len += 1;
    }

    fn steps(&self) -> &[(u32, u8)] {
        &self.steps[..self.len]
    }
}

/// Appends `slot` to the list starting at `head`.
fn push_back(head: &mut Slot, slot: Slot, slabs: &mut Slabs) {
    if *head == NIL {
        slabs.set_prev(slot, slot);
        slabs.set_next(slot, slot);
        *head = slot;
    } else {
        let tail = slabs.prev(*head);
        slabs.set_next(tail, slot);
        slabs.set_prev(slot, tail);
        slabs.set_next(slot, *head);
        slabs.set_prev(*head, slot);
    }
}

/// Takes `slot` out of the list starting at `head`.
fn unlink(head: &mut Slot, slot: Slot, slabs: &mut Slabs) {
    let next = slabs.next(slot);
    if next == slot {
        *head = NIL;
        return;
    }
    let prev = slabs.prev(slot);
    slabs.set_next(prev, next);
    slabs.set_prev(next, prev);
    if *head == slot {
        *head = next;
    }
}

/// Appends the whole list `other` to the list starting at `head`.
fn splice(head: &mut Slot, other: Slot, slabs: &mut Slabs) {
    if other == NIL {
        return;
    }
    if *head == NIL {
        *head = other;
        return;
    }
    let tail = slabs.prev(*head);
    let other_tail = slabs.prev(other);
    slabs.set_next(tail, other);
    slabs.set_prev(other, tail);
    slabs.set_next(other_tail, *head);
    slabs.set_prev(*head, other_tail);
}

/// Sessions ordered by (expiry, arrival). See the module docs.
pub(crate) struct ExpiryIndex {
    nodes: Vec<Node>,
    unused_nodes: Vec<u32>,
    /// No stored session expires before this (`u64::MAX` when empty).
    floor: u64,
    split: u32,
    collapse: u32,
    /// Reused by [`sort_list`](Self::sort_list).
    scratch: Vec<(u64, Slot)>,
}

impl ExpiryIndex {
    pub(crate) fn new() -> ExpiryIndex {
        ExpiryIndex::with_split(SPLIT)
    }

    /// An index whose lists above level 0 hold at most `split` sessions.
    /// Tests use tiny values to exercise expansion and folding.
    pub(crate) fn with_split(split: u32) -> ExpiryIndex {
        let split = split.max(1);
        ExpiryIndex {
            nodes: vec![Node::EMPTY],
            unused_nodes: Vec::new(),
            floor: u64::MAX,
            split,
            collapse: (split / 8).max(1),
            scratch: Vec::new(),
        }
    }

    /// Nodes in use, the root included.
    pub(crate) fn nodes(&self) -> usize {
        self.nodes.len() - self.unused_nodes.len()
    }

    /// Bytes held by the node table.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.unused_nodes.capacity() * 4
            + self.scratch.capacity() * std::mem::size_of::<(u64, Slot)>()
    }

    fn alloc_node(&mut self) -> u32 {
        match self.unused_nodes.pop() {
            Some(node) => {
                self.nodes[node as usize] = Node::EMPTY;
                node
            }
            None => {
                self.nodes.push(Node::EMPTY);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    /// Adds `slot`, expiring at `t`, after every stored session that
    /// expires at or before `t`.
    pub(crate) fn insert(&mut self, slot: Slot, t: u64, slabs: &mut Slabs) {
        self.floor = self.floor.min(t);
        let (mut node, mut level) = (ROOT, TOP);
        loop {
            let d = digit(t, level);
            let bit = 1u64 << d;
            let n = &mut self.nodes[node as usize];
            n.counts[d] += 1;
            n.occupied |= bit;
            if n.expanded & bit != 0 {
                node = n.heads[d];
                level -= 1;
                continue;
            }
            let mut head = n.heads[d];
            let sorted = n.sorted & bit != 0;
            let count = n.counts[d];
            if head == NIL {
                n.sorted |= bit;
            } else if level > 0 && sorted && slabs.expires_at(slabs.prev(head)) > t {
                n.sorted &= !bit;
            }
            push_back(&mut head, slot, slabs);
            self.nodes[node as usize].heads[d] = head;
            if level > 0 && count > self.split {
                self.expand(node, d, level, slabs);
            }
            return;
        }
    }

    /// Takes `slot`, which is in the index, out of it.
    pub(crate) fn remove(&mut self, slot: Slot, slabs: &mut Slabs) {
        let t = slabs.expires_at(slot);
        let mut path = Path::new();
        let (mut node, mut level) = (ROOT, TOP);
        loop {
            let d = digit(t, level);
            let n = &self.nodes[node as usize];
            if n.expanded & (1 << d) != 0 {
                path.push(node, d);
                node = n.heads[d];
                level -= 1;
                continue;
            }
            let mut head = n.heads[d];
            unlink(&mut head, slot, slabs);
            self.nodes[node as usize].heads[d] = head;
            self.uncount(&path, node, d, 1, slabs);
            return;
        }
    }

    /// Takes out and returns the session to evict next: the earliest
    /// expiry, the earliest arrival among equals.
    pub(crate) fn pop_front(&mut self, slabs: &mut Slabs) -> Option<Slot> {
        let mut path = Path::new();
        let mut node = ROOT;
        loop {
            let n = &self.nodes[node as usize];
            if n.occupied == 0 {
                return None;
            }
            let d = n.occupied.trailing_zeros() as usize;
            let bit = 1u64 << d;
            if n.expanded & bit != 0 {
                path.push(node, d);
                node = n.heads[d];
                continue;
            }
            // Level-0 lists are always flagged sorted.
            if n.sorted & bit == 0 {
                self.sort_list(node, d, slabs);
            }
            let mut head = self.nodes[node as usize].heads[d];
            let first = head;
            unlink(&mut head, first, slabs);
            self.nodes[node as usize].heads[d] = head;
            self.uncount(&path, node, d, 1, slabs);
            return Some(first);
        }
    }

    /// Takes out some sessions that expire before `now`, as a circular list
    /// linked through the records, and returns its first; `None` once no
    /// session expires before `now`. Live sessions are read only in a list
    /// that straddles `now`: to sort it if it is not sorted yet, and the
    /// first one kept.
    pub(crate) fn take_expired(&mut self, now: u64, slabs: &mut Slabs) -> Option<Slot> {
        if now <= self.floor {
            return None;
        }
        let mut path = Path::new();
        let (mut node, mut level, mut base) = (ROOT, TOP, 0u64);
        loop {
            let n = &self.nodes[node as usize];
            if n.occupied == 0 {
                self.floor = u64::MAX;
                return None;
            }
            let d = n.occupied.trailing_zeros() as usize;
            let bit = 1u64 << d;
            let shift = DIGIT_BITS * level;
            let lo = base | (d as u64) << shift;
            if lo >= now {
                self.floor = lo;
                return None;
            }
            if n.expanded & bit != 0 {
                path.push(node, d);
                node = n.heads[d];
                level -= 1;
                base = lo;
                continue;
            }
            let hi = lo | ((1u64 << shift) - 1);
            let count = n.counts[d];
            let head = n.heads[d];
            if hi < now {
                self.nodes[node as usize].heads[d] = NIL;
                self.uncount(&path, node, d, count, slabs);
                return Some(head);
            }
            // The list straddles `now` (so it covers more than one
            // millisecond): its expired sessions are a prefix once sorted.
            if n.sorted & bit == 0 {
                self.sort_list(node, d, slabs);
            }
            let head = self.nodes[node as usize].heads[d];
            let (mut last, mut cur, mut expired) = (NIL, head, 0);
            while slabs.expires_at(cur) < now {
                expired += 1;
                last = cur;
                cur = slabs.next(cur);
                if cur == head {
                    break;
                }
            }
            if expired == 0 {
                self.floor = slabs.expires_at(head);
                return None;
            }
            if expired < count {
                // Cut the circle into head..=last (expired) and cur..=tail.
                let tail = slabs.prev(head);
                slabs.set_next(last, head);
                slabs.set_prev(head, last);
                slabs.set_next(tail, cur);
                slabs.set_prev(cur, tail);
                self.nodes[node as usize].heads[d] = cur;
            } else {
                self.nodes[node as usize].heads[d] = NIL;
            }
            self.uncount(&path, node, d, expired, slabs);
            return Some(head);
        }
    }

    /// Accounts for `k` sessions taken out of the list at `(node, d)`,
    /// reached through `path`, and folds the highest node on the path that
    /// became too sparse to stay expanded.
    fn uncount(&mut self, path: &Path, node: u32, d: usize, k: u32, slabs: &mut Slabs) {
        for &(parent, pd) in path.steps() {
            self.nodes[parent as usize].counts[usize::from(pd)] -= k;
        }
        let n = &mut self.nodes[node as usize];
        n.counts[d] -= k;
        if n.counts[d] == 0 {
            let bit = 1u64 << d;
            n.occupied &= !bit;
            n.sorted &= !bit;
            n.heads[d] = NIL;
        }
        for (depth, &(parent, pd)) in path.steps().iter().enumerate() {
            let pd = usize::from(pd);
            if self.nodes[parent as usize].counts[pd] < self.collapse {
                self.fold(parent, pd, TOP - 1 - depth as u32, slabs);
                return;
            }
        }
    }

    /// Splits the list at `(node, d)` on `level` (above 0) into a new child
    /// node, keeping arrival order within each of the child's lists, and
    /// splits the child's lists that are still over the limit.
    fn expand(&mut self, node: u32, d: usize, level: u32, slabs: &mut Slabs) {
        let child = self.alloc_node();
        let n = &self.nodes[node as usize];
        let head = n.heads[d];
        let was_sorted = n.sorted & (1 << d) != 0;
        let mut cur = head;
        loop {
            let next = slabs.next(cur);
            let cd = digit(slabs.expires_at(cur), level - 1);
            let c = &mut self.nodes[child as usize];
            c.counts[cd] += 1;
            c.occupied |= 1 << cd;
            let mut child_head = c.heads[cd];
            push_back(&mut child_head, cur, slabs);
            self.nodes[child as usize].heads[cd] = child_head;
            if next == head {
                break;
            }
            cur = next;
        }
        let c = &mut self.nodes[child as usize];
        // Sublists of a sorted list are sorted; a level-0 list always is.
        if was_sorted || level == 1 {
            c.sorted = c.occupied;
        }
        let n = &mut self.nodes[node as usize];
        n.heads[d] = child;
        n.expanded |= 1 << d;
        n.sorted &= !(1 << d);
        // If every session went to one slot, that list is over the limit in
        // turn (at most once per level, down to level 0).
        if level > 1 {
            let c = &self.nodes[child as usize];
            let mut occupied = c.occupied;
            while occupied != 0 {
                let cd = occupied.trailing_zeros() as usize;
                occupied &= occupied - 1;
                if self.nodes[child as usize].counts[cd] > self.split {
                    self.expand(child, cd, level - 1, slabs);
                }
            }
        }
    }

    /// Folds the child node at `(parent, d)`, whose level is `level`, and
    /// everything below it back into one list in the parent's slot.
    fn fold(&mut self, parent: u32, d: usize, level: u32, slabs: &mut Slabs) {
        let child = self.nodes[parent as usize].heads[d];
        let (list, sorted) = self.gather(child, level, slabs);
        let bit = 1u64 << d;
        let p = &mut self.nodes[parent as usize];
        p.heads[d] = list;
        p.expanded &= !bit;
        if list == NIL {
            p.occupied &= !bit;
            p.sorted &= !bit;
        } else if sorted {
            p.sorted |= bit;
        } else {
            p.sorted &= !bit;
        }
    }

    /// Joins every list under `node` (on `level`) into one, in slot order,
    /// and frees the nodes. The result is sorted if every part was: the
    /// slots cover consecutive ranges of time. Joining lists preserves the
    /// arrival order of equal expiries, because equal expiries are always in
    /// one list.
    fn gather(&mut self, node: u32, level: u32, slabs: &mut Slabs) -> (Slot, bool) {
        let (mut list, mut sorted) = (NIL, true);
        let mut occupied = self.nodes[node as usize].occupied;
        while occupied != 0 {
            let d = occupied.trailing_zeros() as usize;
            occupied &= occupied - 1;
            let n = &self.nodes[node as usize];
            let (part, part_sorted) = if n.expanded & (1 << d) != 0 {
                self.gather(n.heads[d], level - 1, slabs)
            } else {
                (n.heads[d], level == 0 || n.sorted & (1 << d) != 0)
            };
            splice(&mut list, part, slabs);
            sorted &= part_sorted;
        }
        self.unused_nodes.push(node);
        (list, sorted)
    }

    /// Stably sorts the list at `(node, d)` by expiry.
    fn sort_list(&mut self, node: u32, d: usize, slabs: &mut Slabs) {
        let n = &mut self.nodes[node as usize];
        n.sorted |= 1 << d;
        let head = n.heads[d];
        self.scratch.clear();
        let mut cur = head;
        loop {
            self.scratch.push((slabs.expires_at(cur), cur));
            cur = slabs.next(cur);
            if cur == head {
                break;
            }
        }
        // Stable: equal expiries keep their arrival order.
        self.scratch.sort_by_key(|&(t, _)| t);
        let k = self.scratch.len();
        for i in 0..k {
            let slot = self.scratch[i].1;
            slabs.set_next(slot, self.scratch[(i + 1) % k].1);
            slabs.set_prev(slot, self.scratch[(i + k - 1) % k].1);
        }
        self.nodes[node as usize].heads[d] = self.scratch[0].1;
    }
}

#[cfg(test)]
impl ExpiryIndex {
    /// Checks every structural rule and returns the stored slots.
    pub(crate) fn check(&self, slabs: &Slabs) -> Vec<Slot> {
        let mut slots = Vec::new();
        let mut nodes = 0;
        self.check_node(ROOT, TOP, 0, slabs, &mut slots, &mut nodes);
        assert_eq!(nodes, self.nodes(), "nodes in use");
        if let Some(min) = slots.iter().map(|&s| slabs.expires_at(s)).min() {
            assert!(self.floor <= min, "floor {} above {min}", self.floor);
        }
        slots
    }

    fn check_node(
        &self,
        node: u32,
        level: u32,
        base: u64,
        slabs: &Slabs,
        out: &mut Vec<Slot>,
        nodes: &mut usize,
    ) -> u32 {
        *nodes += 1;
        let n = &self.nodes[node as usize];
        let shift = DIGIT_BITS * level;
        let mut total = 0;
        for d in 0..FANOUT {
            let bit = 1u64 << d;
            if n.occupied & bit == 0 {
                assert_eq!(n.heads[d], NIL, "empty slot with a head");
                assert_eq!(n.counts[d], 0, "empty slot with a count");
                assert_eq!((n.expanded | n.sorted) & bit, 0, "empty slot flagged");
                continue;
            }
            assert!(level < TOP || d < 16, "root slot beyond 64 bits");
            let lo = base | (d as u64) << shift;
            let hi = lo | ((1u64 << shift) - 1);
            let count = n.counts[d];
            assert!(count > 0, "occupied slot with no count");
            if n.expanded & bit != 0 {
                assert!(level > 0, "level-0 slot expanded");
                assert_eq!(n.sorted & bit, 0, "expanded slot flagged sorted");
                let below = self.check_node(n.heads[d], level - 1, lo, slabs, out, nodes);
                assert_eq!(below, count, "subtree count");
                assert!(count >= self.collapse, "node too sparse to stay");
            } else {
                let head = n.heads[d];
                let (mut cur, mut seen, mut last_t) = (head, 0, 0);
                loop {
                    let t = slabs.expires_at(cur);
                    assert!((lo..=hi).contains(&t), "{t} outside slot {lo}..={hi}");
                    if seen > 0 && (level == 0 || n.sorted & bit != 0) {
                        assert!(last_t <= t, "sorted list out of order");
                    }
                    assert_eq!(slabs.prev(slabs.next(cur)), cur, "broken back link");
                    out.push(cur);
                    (last_t, seen) = (t, seen + 1);
                    cur = slabs.next(cur);
                    if cur == head {
                        break;
                    }
                    assert!(seen <= count, "list longer than its count");
                }
                assert_eq!(seen, count, "list count");
                if level > 0 {
                    assert!(count <= self.split, "list over the split limit");
                }
            }
            total += count;
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::super::slab::HEADER_LEN;
    use super::*;

    /// The index and a model of it: (expiry, arrival) -> slot.
    struct Harness {
        index: ExpiryIndex,
        slabs: Slabs,
        model: BTreeMap<(u64, u64), Slot>,
        arrivals: u64,
    }

    impl Harness {
        fn new(split: u32) -> Harness {
            Harness {
                index: ExpiryIndex::with_split(split),
                slabs: Slabs::new(),
                model: BTreeMap::new(),
                arrivals: 0,
            }
        }

        fn insert(&mut self, t: u64) {
            let slot = self.slabs.alloc(HEADER_LEN).unwrap();
            self.slabs.write(slot, t, 0, b"", b"");
            self.index.insert(slot, t, &mut self.slabs);
            self.model.insert((t, self.arrivals), slot);
            self.arrivals += 1;
        }

        /// Removes the `pick`-th stored session (modulo their number).
        fn remove(&mut self, pick: usize) {
            if self.model.is_empty() {
                return;
            }
            let key = *self.model.keys().nth(pick % self.model.len()).unwrap();
            let slot = self.model.remove(&key).unwrap();
            self.index.remove(slot, &mut self.slabs);
            self.slabs.free(slot);
        }

        fn pop(&mut self) {
            let want = self.model.pop_first().map(|(_, slot)| slot);
            let got = self.index.pop_front(&mut self.slabs);
            assert_eq!(got, want, "evicted the wrong session");
            if let Some(slot) = got {
                self.slabs.free(slot);
            }
        }

        fn expire(&mut self, now: u64) {
            let mut got = Vec::new();
            while let Some(head) = self.index.take_expired(now, &mut self.slabs) {
                let mut cur = head;
                loop {
                    got.push(cur);
                    cur = self.slabs.next(cur);
                    if cur == head {
                        break;
                    }
                }
            }
            let mut want = Vec::new();
            while let Some(entry) = self.model.first_entry() {
                if entry.key().0 >= now {
                    break;
                }
                want.push(entry.remove());
            }
            got.sort_unstable();
            want.sort_unstable();
            assert_eq!(got, want, "expired the wrong sessions at {now}");
            for slot in got {
                self.slabs.free(slot);
            }
        }

        fn check(&self) {
            let mut slots = self.index.check(&self.slabs);
            let mut want: Vec<Slot> = self.model.values().copied().collect();
            slots.sort_unstable();
            want.sort_unstable();
            assert_eq!(slots, want, "stored sessions");
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64),
        Remove(usize),
        Pop,
        Expire(u64),
    }

    /// Expiries clustered near a few centres so that lists fill and split,
    /// plus the extremes of the range.
    fn expiry() -> impl Strategy<Value = u64> {
        prop_oneof![
            8 => (0u64..4, 0u64..5000).prop_map(|(c, dt)| c * 300_000 + dt),
            2 => (0u64..4, 0u64..64).prop_map(|(c, dt)| c * 300_000 + dt),
            1 => any::<u64>(),
            1 => prop_oneof![Just(0), Just(u64::MAX), Just(u64::MAX - 1), Just(1 << 60)],
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            10 => expiry().prop_map(Op::Insert),
            3 => any::<usize>().prop_map(Op::Remove),
            3 => Just(Op::Pop),
            1 => expiry().prop_map(Op::Expire),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn matches_a_sorted_map(
            split in prop_oneof![Just(1u32), 2u32..12, Just(SPLIT)],
            ops in proptest::collection::vec(op(), 1..400),
        ) {
            let mut h = Harness::new(split);
            for op in ops {
                match op {
                    Op::Insert(t) => h.insert(t),
                    Op::Remove(pick) => h.remove(pick),
                    Op::Pop => h.pop(),
                    Op::Expire(now) => h.expire(now),
                }
                h.check();
            }
            while !h.model.is_empty() {
                h.pop();
            }
            h.check();
            prop_assert_eq!(h.index.nodes(), 1, "only the root is left");
        }
    }

    #[test]
    fn equal_expiries_leave_in_arrival_order_through_splits() {
        let mut h = Harness::new(4);
        for i in 0..200u64 {
            h.insert(1000 + i % 3);
            h.insert(5000 + (i * 37) % 4096);
        }
        h.check();
        assert!(h.index.nodes() > 3, "lists were split");
        for _ in 0..400 {
            h.pop();
        }
        h.check();
        assert_eq!(h.index.nodes(), 1);
    }

    #[test]
    fn steady_fixed_lifetime_traffic_expands_to_the_millisecond() {
        // 40 sessions per millisecond, 5 s lifetime: every list above level
        // 0 would overflow, so inserts land in exact-millisecond lists.
        let mut h = Harness::new(SPLIT);
        for ms in 0..5_000u64 {
            h.expire(ms);
            for _ in 0..40 {
                h.insert(ms + 5_000);
            }
        }
        h.check();
        let nodes = h.index.nodes();
        assert!(nodes < 100, "{nodes} nodes for 200,000 sessions");
        h.expire(7_500);
        assert_eq!(h.model.len(), 2_500 * 40);
        h.check();
    }

    #[test]
    fn sparse_leftovers_are_folded_back() {
        let mut h = Harness::new(16);
        // Fill many separate regions past the split limit, then remove all
        // but one session of each: the nodes must go.
        for region in 0..50u64 {
            for i in 0..20 {
                h.insert(region << 30 | i << 8);
            }
        }
        let grown = h.index.nodes();
        assert!(grown > 50, "{grown} nodes");
        for region in 0..50u64 {
            for i in 1..20 {
                let key = *h
                    .model
                    .keys()
                    .find(|&&(t, _)| t == region << 30 | i << 8)
                    .unwrap();
                let slot = h.model.remove(&key).unwrap();
                h.index.remove(slot, &mut h.slabs);
                h.slabs.free(slot);
            }
        }
        h.check();
        assert!(h.index.nodes() < 10, "{} nodes left", h.index.nodes());
    }
}
