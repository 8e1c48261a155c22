//! [`Slabs`]: where session records live, packed into pages of equal-size
//! slots, one size class per record length rounded up to a multiple of 4.
//!
//! ```text
//!   Slot (u32): | page: 22 bits | slot in page: 10 bits |
//!
//!   pages: Vec<Page>                     Page.bytes: Box<[u8]>, capacity × slot_len
//!  +------------------------------+     +---------+---------+---------+-----------+
//!  | bytes, slot_len, class,      |---->| record  | record  | (free)  | (fresh)   |
//!  | used, free list, open links  |     +---------+---------+---------+-----------+
//!  +------------------------------+
//!
//!   record (slot_len = 18 + (4 if flags != 0) + id_len + data_len bytes,
//!   rounded up to a multiple of 4):
//!  +------------+--------+--------+--------+------------+----------+--------------+-----------+---------+
//!  | expires_at | prev   | next   | id_len | meta       | flags    | id           | data      | padding |
//!  | u64 LE     | u32 LE | u32 LE | u8     | F|pad(2)   | u32 LE   | id_len bytes | the rest  | 0-3     |
//!  +------------+--------+--------+--------+------------+----------+--------------+-----------+---------+
//!   0            8        12       16       17           18         18 or 22
//!                                           F = HAS_FLAGS (bit 2); the flags field is there only if F
//! ```
//!
//! * **Flags cost bytes only when set.** memcache stores 32 opaque flag
//!   bits with each value; distcache and Redis never set them. A record
//!   with flags 0 has no flags field at all, so sessions of those protocols
//!   pay nothing for it; a non-zero value takes 4 bytes after the header,
//!   announced by the `HAS_FLAGS` bit of the meta byte.
//! * **Size classes four bytes apart.** A class holds records of one
//!   length, a multiple of 4. A record that is shorter gets 1–3 bytes of
//!   padding, whose count is in the low two bits of its meta byte; so the
//!   data length need not be stored: it is the slot length minus the
//!   header, the flags field, the id and the padding. Fewer
//!   classes mean fewer partly filled last pages, which is what session
//!   sizes spread over hundreds of values cost: over 1M sessions of
//!   100–1500 bytes, 36.7 bytes a session with a class per length, 32.3
//!   with a class per 2 bytes, 30.6 per 4 (with the 17-byte header), for
//!   1.5 bytes of padding on average. Session sizes from one TLS front end cluster tightly, so few
//!   classes are in use at once.
//! * **Pages grow with their class.** A class's next page has as many slots
//!   as the class already has (1, 1, 2, 4, …) up to [`PAGE_BYTES`], so a
//!   class holding a handful of sessions holds a handful of slots, and a
//!   class holding millions wastes at most one partly-filled page.
//! * **Free slots are reused, empty pages are freed.** A released slot goes
//!   on its page's free list; a page whose last record is released is given
//!   back to the allocator, so memory follows the sessions held.
//! * `prev`/`next` belong to the expiry index, which keeps its lists in the
//!   records themselves. While a slot is free, its first two bytes link the
//!   page's free list.
//!
//! Zeroizing: session data are TLS master secrets. Every record is
//! released through [`Slabs::free`] (remove, expiry, eviction), which wipes
//! the slot with `zeroize` (volatile writes the compiler cannot drop) before
//! reusing it; a page is wiped whole when it is dropped, which covers the
//! sessions still held when the store is dropped at shutdown. While a page
//! lives its bytes are only reached through a slot, so no other copy stays.

use zeroize::Zeroize;

/// A record's place: page number in the high bits, slot within the page in
/// the low [`SLOT_BITS`].
pub(crate) type Slot = u32;

/// "No slot": the end of a list. Never a valid [`Slot`], because no page has
/// 1024 slots.
pub(crate) const NIL: Slot = u32::MAX;

/// Record header length: expiry, two links, the id length and the meta
/// byte.
pub(crate) const HEADER_LEN: usize = 18;

/// Length of the flags field, present only in records with non-zero flags.
const FLAGS_LEN: usize = 4;

/// Offsets of the header fields in a record.
const EXPIRES_AT: usize = 0;
const PREV: usize = 8;
const NEXT: usize = 12;
const ID_LEN: usize = 16;
const META: usize = 17;

/// In the meta byte: how many bytes of padding end the slot (0–3).
const PADDING_MASK: u8 = 0b011;
/// In the meta byte: a flags field follows the header.
const HAS_FLAGS: u8 = 0b100;
/// Slot lengths are multiples of this.
const SLOT_ALIGN: usize = 4;

/// The length of the record for a session: what to pass to
/// [`Slabs::alloc`] before [`Slabs::write`].
#[inline]
pub(crate) fn record_len(flags: u32, id_len: usize, data_len: usize) -> usize {
    let flags_len = if flags == 0 { 0 } else { FLAGS_LEN };
    HEADER_LEN + flags_len + id_len + data_len
}

/// A stored session as its record holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    pub(crate) id: &'a [u8],
    pub(crate) data: &'a [u8],
    pub(crate) flags: u32,
    pub(crate) expires_at: u64,
}

/// The slot length for a record of `record_len` bytes: rounded up to a
/// multiple of [`SLOT_ALIGN`].
fn slot_len_for(record_len: usize) -> Option<u32> {
    let rounded = record_len.checked_add(SLOT_ALIGN - 1)? & !(SLOT_ALIGN - 1);
    u32::try_from(rounded).ok()
}

/// The flags, id and data of a record, whose id-length and meta bytes say
/// where they are. Never panics, whatever the bytes.
#[inline]
fn split_record(record: &[u8]) -> (u32, &[u8], &[u8]) {
    let body = record.get(HEADER_LEN..).unwrap_or_default();
    let meta = record.get(META).copied().unwrap_or(0);
    let (flags, body) = match body.split_first_chunk::<FLAGS_LEN>() {
        Some((flags, rest)) if meta & HAS_FLAGS != 0 => (u32::from_le_bytes(*flags), rest),
        _ => (0, body),
    };
    let padding = usize::from(meta & PADDING_MASK);
    let id_len = usize::from(record.get(ID_LEN).copied().unwrap_or(0)).min(body.len());
    let end = body.len().saturating_sub(padding).max(id_len);
    let (id, data) = body[..end].split_at(id_len);
    (flags, id, data)
}

/// Bits of a [`Slot`] that number the slot within its page.
const SLOT_BITS: u32 = 10;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;

/// Most slots in one page. One below 2^10, so that `NIL` is never a slot.
const MAX_SLOTS_PER_PAGE: usize = (1 << SLOT_BITS) - 1;

/// Most pages: the rest of the 32 bits of a [`Slot`]. With full pages of
/// [`PAGE_BYTES`] that is 64 GiB of sessions.
const MAX_PAGES: usize = 1 << (32 - SLOT_BITS);

/// Target size of a full page. Large enough that the page table (40 bytes
/// per page) costs under a byte per session, small enough that the partly
/// filled last page of each size class costs little even when sessions
/// come in hundreds of sizes: over 1M sessions of 100–1500 bytes, 64 KiB
/// pages cost 19 bytes per session more than 16 KiB ones.
pub(crate) const PAGE_BYTES: usize = 16 * 1024;

/// "No slot" within a page's free list.
const NIL16: u16 = u16::MAX;

// The smallest record (empty id and data) must hold a free-list link, and
// the densest page must fit in the slot bits.
const _: () = assert!(HEADER_LEN >= 2);
const _: () = assert!(PAGE_BYTES / HEADER_LEN <= MAX_SLOTS_PER_PAGE);

/// One page of equal-size slots.
struct Page {
    /// `capacity * slot_len` bytes; empty while the page is unused.
    bytes: Box<[u8]>,
    /// Record length of this page's class.
    slot_len: u32,
    /// Index into [`Slabs::classes`].
    class: u32,
    /// Slots in `bytes`.
    capacity: u16,
    /// Slots holding a record.
    used: u16,
    /// Slots `fresh..capacity` have never been handed out.
    fresh: u16,
    /// First released slot, linked through the slots' first two bytes.
    free: u16,
    /// Neighbours in the class's list of pages that have a free slot.
    prev_open: u32,
    next_open: u32,
}

impl Drop for Page {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl Page {
    /// A page-table entry with no page behind it.
    fn unused() -> Page {
        Page {
            bytes: Box::default(),
            slot_len: 0,
            class: 0,
            capacity: 0,
            used: 0,
            fresh: 0,
            free: NIL16,
            prev_open: NIL,
            next_open: NIL,
        }
    }
}

/// The pages of one record length.
struct Class {
    slot_len: u32,
    /// First page with a free slot, or `NIL`.
    open: u32,
    /// Slots over all of the class's pages.
    slots: usize,
}

/// Size-classed slab storage for session records. See the module docs.
pub(crate) struct Slabs {
    pages: Vec<Page>,
    /// Indexes of unused entries of `pages`.
    unused_pages: Vec<u32>,
    classes: Vec<Class>,
    class_of: hashbrown::HashMap<u32, u32>,
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

impl Slabs {
    pub(crate) fn new() -> Slabs {
        Slabs {
            pages: Vec::new(),
            unused_pages: Vec::new(),
            classes: Vec::new(),
            class_of: hashbrown::HashMap::new(),
        }
    }

    /// A slot for a record of `record_len` bytes (rounded up, see
    /// [`SLOT_ALIGN`]), or
    /// `None` if the record is too long for a slot (4 GiB) or every page
    /// number is taken.
    pub(crate) fn alloc(&mut self, record_len: usize) -> Option<Slot> {
        let slot_len = slot_len_for(record_len)?;
        let class = match self.class_of.get(&slot_len) {
            Some(&class) => class,
            None => {
                let class = u32::try_from(self.classes.len()).ok()?;
                self.classes.push(Class {
                    slot_len,
                    open: NIL,
                    slots: 0,
                });
                self.class_of.insert(slot_len, class);
                class
            }
        };
        let mut page = self.classes[class as usize].open;
        if page == NIL {
            page = self.new_page(class)?;
        }
        let p = &mut self.pages[page as usize];
        let index = if p.free == NIL16 {
            p.fresh += 1;
            p.fresh - 1
        } else {
            let index = p.free;
            let at = usize::from(index) * p.slot_len as usize;
            p.free = u16::from_le_bytes([p.bytes[at], p.bytes[at + 1]]);
            index
        };
        p.used += 1;
        if p.used == p.capacity {
            self.unlink_open(page);
        }
        Some(page << SLOT_BITS | u32::from(index))
    }

    /// Gives `slot` back. Frees its page if it was the page's last record.
    pub(crate) fn free(&mut self, slot: Slot) {
        let page = slot >> SLOT_BITS;
        let index = (slot & SLOT_MASK) as u16;
        let p = &mut self.pages[page as usize];
        let at = usize::from(index) * p.slot_len as usize;
        p.bytes[at..at + p.slot_len as usize].zeroize();
        p.bytes[at..at + 2].copy_from_slice(&p.free.to_le_bytes());
        // A stored record's `next` is never NIL (its list is circular):
        // this marks the slot free for `for_each_stored`.
        p.bytes[at + NEXT..at + NEXT + 4].copy_from_slice(&NIL.to_le_bytes());
        p.free = index;
        let was_full = p.used == p.capacity;
        p.used -= 1;
        if p.used == 0 {
            let (class, capacity) = (p.class as usize, p.capacity);
            if !was_full {
                self.unlink_open(page);
            }
            self.classes[class].slots -= usize::from(capacity);
            self.pages[page as usize] = Page::unused();
            self.unused_pages.push(page);
        } else if was_full {
            self.push_open(page);
        }
    }

    /// Starts a page for `class` and puts it on the class's open list.
    fn new_page(&mut self, class: u32) -> Option<u32> {
        let c = &self.classes[class as usize];
        let slot_len = c.slot_len as usize;
        let most = (PAGE_BYTES / slot_len).clamp(1, MAX_SLOTS_PER_PAGE);
        let capacity = c.slots.clamp(1, most);
        let page = match self.unused_pages.pop() {
            Some(page) => page,
            None if self.pages.len() < MAX_PAGES => {
                self.pages.push(Page::unused());
                (self.pages.len() - 1) as u32
            }
            None => return None,
        };
        self.pages[page as usize] = Page {
            bytes: vec![0; capacity * slot_len].into_boxed_slice(),
            slot_len: c.slot_len,
            class,
            capacity: capacity as u16,
            ..Page::unused()
        };
        self.classes[class as usize].slots += capacity;
        self.push_open(page);
        Some(page)
    }

    fn push_open(&mut self, page: u32) {
        let class = self.pages[page as usize].class as usize;
        let head = self.classes[class].open;
        if head != NIL {
            self.pages[head as usize].prev_open = page;
        }
        let p = &mut self.pages[page as usize];
        p.prev_open = NIL;
        p.next_open = head;
        self.classes[class].open = page;
    }

    fn unlink_open(&mut self, page: u32) {
        let p = &mut self.pages[page as usize];
        let (prev, next, class) = (p.prev_open, p.next_open, p.class as usize);
        p.prev_open = NIL;
        p.next_open = NIL;
        if prev == NIL {
            self.classes[class].open = next;
        } else {
            self.pages[prev as usize].next_open = next;
        }
        if next != NIL {
            self.pages[next as usize].prev_open = prev;
        }
    }

    /// The bytes of the record in `slot`.
    #[inline]
    fn record(&self, slot: Slot) -> &[u8] {
        let p = &self.pages[(slot >> SLOT_BITS) as usize];
        let len = p.slot_len as usize;
        let at = (slot & SLOT_MASK) as usize * len;
        &p.bytes[at..at + len]
    }

    #[inline]
    fn record_mut(&mut self, slot: Slot) -> &mut [u8] {
        let p = &mut self.pages[(slot >> SLOT_BITS) as usize];
        let len = p.slot_len as usize;
        let at = (slot & SLOT_MASK) as usize * len;
        &mut p.bytes[at..at + len]
    }

    /// Fills a freshly allocated slot, which must have been allocated for
    /// [`record_len`]`(flags, id.len(), data.len())` bytes, with `id` at
    /// most [`MAX_ID_LEN`](super::MAX_ID_LEN) (255) bytes.
    pub(crate) fn write(
        &mut self,
        slot: Slot,
        expires_at: u64,
        flags: u32,
        id: &[u8],
        data: &[u8],
    ) {
        let record = self.record_mut(slot);
        let len = record_len(flags, id.len(), data.len());
        debug_assert!((len..len + SLOT_ALIGN).contains(&record.len()));
        debug_assert!(id.len() <= usize::from(u8::MAX));
        record[EXPIRES_AT..EXPIRES_AT + 8].copy_from_slice(&expires_at.to_le_bytes());
        record[PREV..PREV + 4].copy_from_slice(&NIL.to_le_bytes());
        record[NEXT..NEXT + 4].copy_from_slice(&NIL.to_le_bytes());
        // At most SLOT_ALIGN - 1: the slot is the record rounded up.
        let padding = (record.len() - len) as u8 & PADDING_MASK;
        record[ID_LEN] = id.len() as u8;
        record[META] = if flags == 0 {
            padding
        } else {
            padding | HAS_FLAGS
        };
        let body = &mut record[HEADER_LEN..];
        let body = if flags == 0 {
            body
        } else {
            let (field, rest) = body.split_at_mut(FLAGS_LEN);
            field.copy_from_slice(&flags.to_le_bytes());
            rest
        };
        let (stored_id, rest) = body.split_at_mut(id.len());
        stored_id.copy_from_slice(id);
        rest[..data.len()].copy_from_slice(data);
    }

    /// The id, data, flags and expiry of the record in `slot`, from one
    /// lookup of its page.
    #[inline]
    pub(crate) fn session(&self, slot: Slot) -> Record<'_> {
        let record = self.record(slot);
        let (flags, id, data) = split_record(record);
        Record {
            id,
            data,
            flags,
            expires_at: read_u64(record, EXPIRES_AT),
        }
    }

    #[inline]
    pub(crate) fn id(&self, slot: Slot) -> &[u8] {
        split_record(self.record(slot)).1
    }

    #[inline]
    pub(crate) fn expires_at(&self, slot: Slot) -> u64 {
        read_u64(self.record(slot), EXPIRES_AT)
    }

    /// Changes the expiry of the record in `slot`. The caller takes it out
    /// of the expiry index first and puts it back after: the index finds a
    /// record by its expiry.
    #[inline]
    pub(crate) fn set_expires_at(&mut self, slot: Slot, expires_at: u64) {
        self.record_mut(slot)[EXPIRES_AT..EXPIRES_AT + 8]
            .copy_from_slice(&expires_at.to_le_bytes());
    }

    /// `id.len() + data.len()` of the record in `slot`.
    pub(crate) fn session_len(&self, slot: Slot) -> usize {
        let (_, id, data) = split_record(self.record(slot));
        id.len() + data.len()
    }

    #[inline]
    pub(crate) fn prev(&self, slot: Slot) -> Slot {
        read_u32(self.record(slot), PREV)
    }

    #[inline]
    pub(crate) fn next(&self, slot: Slot) -> Slot {
        read_u32(self.record(slot), NEXT)
    }

    #[inline]
    pub(crate) fn set_prev(&mut self, slot: Slot, prev: Slot) {
        self.record_mut(slot)[PREV..PREV + 4].copy_from_slice(&prev.to_le_bytes());
    }

    #[inline]
    pub(crate) fn set_next(&mut self, slot: Slot, next: Slot) {
        self.record_mut(slot)[NEXT..NEXT + 4].copy_from_slice(&next.to_le_bytes());
    }

    /// Calls `f` with the slot and id of every record that is linked into
    /// the expiry index, page by page. Reading the pages in order streams
    /// through memory instead of jumping from record to record, which is
    /// what makes rebuilding the hash index fast.
    pub(crate) fn for_each_stored(&self, mut f: impl FnMut(Slot, &[u8])) {
        for (page, p) in self.pages.iter().enumerate() {
            let len = p.slot_len as usize;
            if len == 0 {
                continue;
            }
            for (index, record) in p
                .bytes
                .chunks_exact(len)
                .take(usize::from(p.fresh))
                .enumerate()
            {
                if read_u32(record, NEXT) != NIL {
                    f(
                        (page as u32) << SLOT_BITS | index as u32,
                        split_record(record).1,
                    );
                }
            }
        }
    }

    /// Calls `f` with every stored record of the pages from `from` on,
    /// page by page, stopping after the page on which `at_least` records
    /// were reached. Returns the page to go on from, or `None` when every
    /// page was visited. Whole pages only, so a walk resumed later (after
    /// other changes) visits each record that stayed put exactly once.
    pub(crate) fn walk_pages(
        &self,
        from: usize,
        at_least: usize,
        mut f: impl FnMut(Record<'_>),
    ) -> Option<usize> {
        let mut seen = 0;
        for (page, p) in self.pages.iter().enumerate().skip(from) {
            if seen >= at_least {
                return Some(page);
            }
            let len = p.slot_len as usize;
            if len == 0 {
                continue;
            }
            for record in p.bytes.chunks_exact(len).take(usize::from(p.fresh)) {
                if read_u32(record, NEXT) != NIL {
                    let (flags, id, data) = split_record(record);
                    f(Record {
                        id,
                        data,
                        flags,
                        expires_at: read_u64(record, EXPIRES_AT),
                    });
                    seen += 1;
                }
            }
        }
        None
    }

    /// Slots over all pages, used or not.
    #[cfg(test)]
    pub(crate) fn slot_capacity(&self) -> usize {
        self.classes.iter().map(|c| c.slots).sum()
    }

    /// Checks page bookkeeping and returns how many slots are in use.
    #[cfg(test)]
    pub(crate) fn check(&self) -> usize {
        let mut open = vec![false; self.pages.len()];
        for (class_index, class) in self.classes.iter().enumerate() {
            let (mut page, mut prev) = (class.open, NIL);
            while page != NIL {
                let p = &self.pages[page as usize];
                assert_eq!(p.class as usize, class_index, "open page in wrong class");
                assert!(p.used < p.capacity, "full page on the open list");
                assert_eq!(p.prev_open, prev, "open list back link");
                assert!(!open[page as usize], "open list has a cycle");
                open[page as usize] = true;
                (prev, page) = (page, p.next_open);
            }
        }
        let mut unused = vec![false; self.pages.len()];
        for &page in &self.unused_pages {
            unused[page as usize] = true;
        }
        let mut class_slots = vec![0; self.classes.len()];
        let mut used = 0;
        for (page, p) in self.pages.iter().enumerate() {
            assert_eq!(p.capacity == 0, unused[page], "unused page list");
            if p.capacity == 0 {
                continue;
            }
            class_slots[p.class as usize] += usize::from(p.capacity);
            assert!(p.used > 0, "empty page kept");
            assert_eq!(open[page], p.used < p.capacity, "open list membership");
            let (mut free, mut index) = (0, p.free);
            while index != NIL16 {
                assert!(index < p.fresh, "free slot never handed out");
                free += 1;
                assert!(free <= p.capacity, "free list has a cycle");
                let at = usize::from(index) * p.slot_len as usize;
                index = u16::from_le_bytes([p.bytes[at], p.bytes[at + 1]]);
            }
            assert_eq!(p.used + free, p.fresh, "used + free = handed out");
            used += usize::from(p.used);
        }
        for (class, &slots) in self.classes.iter().zip(&class_slots) {
            assert_eq!(class.slots, slots, "class slot count");
        }
        used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record's id, data, flags and expiry, for comparing.
    fn parts(r: Record<'_>) -> (&[u8], &[u8], u32, u64) {
        (r.id, r.data, r.flags, r.expires_at)
    }

    #[test]
    fn records_round_trip_and_links_are_separate_from_data() {
        let mut slabs = Slabs::new();
        let a = slabs.alloc(HEADER_LEN + 2 + 3).unwrap();
        let b = slabs.alloc(HEADER_LEN + 2).unwrap();
        slabs.write(a, u64::MAX, 0, b"ab", b"xyz");
        slabs.write(b, 7, 0, b"cd", b"");
        slabs.set_next(a, b);
        slabs.set_prev(a, 12345);
        assert_eq!(
            parts(slabs.session(a)),
            (&b"ab"[..], &b"xyz"[..], 0, u64::MAX)
        );
        assert_eq!((slabs.next(a), slabs.prev(a)), (b, 12345));
        assert_eq!(slabs.session_len(a), 5);
        assert_eq!(slabs.id(b), b"cd");
        assert_eq!(slabs.expires_at(b), 7);
        slabs.set_expires_at(b, 8);
        assert_eq!(parts(slabs.session(b)), (&b"cd"[..], &b""[..], 0, 8));
        assert_eq!(slabs.check(), 2);
    }

    #[test]
    fn pages_double_then_cap_and_empty_pages_are_freed() {
        let mut slabs = Slabs::new();
        let len = HEADER_LEN + 32 + 200;
        let slots: Vec<Slot> = (0..1000).map(|_| slabs.alloc(len).unwrap()).collect();
        let per_page = PAGE_BYTES / len;
        // 1, 1, 2, ..., 128, then full pages.
        assert!(slabs.slot_capacity() < 1000 + per_page);
        assert_eq!(slabs.check(), 1000);
        for &slot in &slots {
            slabs.free(slot);
        }
        assert_eq!(slabs.check(), 0);
        assert_eq!(slabs.slot_capacity(), 0, "every page given back");
        assert!(slabs.pages.iter().all(|p| p.bytes.is_empty()));
    }

    #[test]
    fn stored_records_are_visited_and_free_slots_skipped() {
        let mut slabs = Slabs::new();
        let slots: Vec<Slot> = (0..300u32)
            .map(|i| {
                let slot = slabs.alloc(HEADER_LEN + 4 + (i % 3) as usize).unwrap();
                slabs.write(slot, 0, 0, &i.to_le_bytes(), &[0; 2][..(i % 3) as usize]);
                slabs.set_next(slot, slot); // as if linked
                slot
            })
            .collect();
        for &slot in slots.iter().step_by(2) {
            slabs.free(slot);
        }
        let mut seen = Vec::new();
        slabs.for_each_stored(|slot, id| {
            let i = u32::from_le_bytes(id.try_into().unwrap());
            assert_eq!(slots[i as usize], slot);
            seen.push(i);
        });
        seen.sort_unstable();
        assert_eq!(seen, (1..300).step_by(2).collect::<Vec<u32>>());
    }

    #[test]
    fn released_slots_are_reused_first() {
        let mut slabs = Slabs::new();
        let slots: Vec<Slot> = (0..100).map(|_| slabs.alloc(40).unwrap()).collect();
        let capacity = slabs.slot_capacity();
        // Pages hold 1, 1, 2, ..., 32, then 64 slots: slots 64.. share the
        // last page, which stays in use.
        for &slot in slots[64..].iter().step_by(3) {
            slabs.free(slot);
        }
        for _ in slots[64..].iter().step_by(3) {
            slabs.alloc(40).unwrap();
        }
        assert_eq!(slabs.slot_capacity(), capacity);
        assert_eq!(slabs.check(), 100);
    }

    #[test]
    fn classes_are_even_lengths_and_huge_records_get_their_own_page() {
        let mut slabs = Slabs::new();
        // 18 to 20 bytes share the 20-byte class; 21 takes the 24-byte one.
        let empty = slabs.alloc(HEADER_LEN).unwrap();
        let one = slabs.alloc(HEADER_LEN + 1).unwrap();
        let also_one = slabs.alloc(HEADER_LEN + 1).unwrap();
        let two = slabs.alloc(HEADER_LEN + 2).unwrap();
        let three = slabs.alloc(HEADER_LEN + 3).unwrap();
        let slot_len = |s: Slot| slabs.pages[(s >> SLOT_BITS) as usize].slot_len;
        assert_eq!(
            [empty, one, also_one, two, three].map(slot_len),
            [20, 20, 20, 20, 24]
        );
        assert_eq!(slabs.classes.len(), 2);
        slabs.write(three, 6, 0, b"id", b"d");
        slabs.write(empty, 1, 0, b"", b"");
        slabs.write(one, 2, 0, b"i", b"");
        slabs.write(also_one, 3, 0, b"", b"d");
        slabs.write(two, 4, 0, b"i", b"d");
        assert_eq!(parts(slabs.session(empty)), (&b""[..], &b""[..], 0, 1));
        assert_eq!(parts(slabs.session(one)), (&b"i"[..], &b""[..], 0, 2));
        assert_eq!(parts(slabs.session(also_one)), (&b""[..], &b"d"[..], 0, 3));
        assert_eq!(parts(slabs.session(two)), (&b"i"[..], &b"d"[..], 0, 4));
        assert_eq!(parts(slabs.session(three)), (&b"id"[..], &b"d"[..], 0, 6));
        let lens = [empty, one, also_one, two, three].map(|s| slabs.session_len(s));
        assert_eq!(lens, [0, 1, 1, 2, 3]);
        let huge = slabs.alloc(HEADER_LEN + 3 * PAGE_BYTES + 1).unwrap();
        let data = vec![7u8; 3 * PAGE_BYTES];
        slabs.write(huge, 5, 0, b"h", &data);
        assert_eq!(slabs.session_len(huge), 3 * PAGE_BYTES + 1);
        assert!(slabs.session(huge).data == &data[..]);
        assert_eq!(slabs.check(), 6);
        assert_eq!(slabs.alloc(usize::MAX), None, "longer than a slot can be");
    }

    #[test]
    fn an_id_of_the_longest_length_flags_and_padding_do_not_mix() {
        let mut slabs = Slabs::new();
        let id = [0xa5u8; super::super::MAX_ID_LEN];
        assert_eq!(id.len(), 255);
        for flags in [0, 1, 0xdead_beef, u32::MAX] {
            for data_len in [0usize, 1, 2, 3, 4, 5] {
                // Data that looks like padding counts and flag bits.
                let data = vec![0xff; data_len];
                let len = record_len(flags, id.len(), data_len);
                assert_eq!(
                    len,
                    HEADER_LEN + 255 + data_len + if flags == 0 { 0 } else { 4 }
                );
                let slot = slabs.alloc(len).unwrap();
                slabs.write(slot, 9, flags, &id, &data);
                assert_eq!(parts(slabs.session(slot)), (&id[..], &data[..], flags, 9));
                assert_eq!(slabs.session_len(slot), 255 + data_len);
                assert_eq!(slabs.id(slot), &id[..]);
            }
        }
        assert_eq!(slabs.check(), 24);
    }

    #[test]
    fn flags_cost_four_bytes_only_when_set() {
        assert_eq!(record_len(0, 32, 100), HEADER_LEN + 132);
        assert_eq!(record_len(1, 32, 100), HEADER_LEN + 136);
        let mut slabs = Slabs::new();
        // One slot, rewritten with and without flags: the same bytes read
        // back each way, none left over from the other.
        let slot = slabs.alloc(record_len(7, 2, 2)).unwrap();
        slabs.write(slot, 1, 7, b"id", b"da");
        assert_eq!(parts(slabs.session(slot)), (&b"id"[..], &b"da"[..], 7, 1));
        slabs.free(slot);
        let slot = slabs.alloc(record_len(0, 2, 6)).unwrap();
        slabs.write(slot, 2, 0, b"id", b"datada");
        assert_eq!(
            parts(slabs.session(slot)),
            (&b"id"[..], &b"datada"[..], 0, 2)
        );
    }

    #[test]
    fn garbage_records_never_panic() {
        // Whatever the header says, splitting stays inside the slot.
        for len in [0usize, 1, HEADER_LEN - 1, HEADER_LEN, HEADER_LEN + 3, 40] {
            for id_len in [0u8, 1, 3, 255] {
                for meta in 0..=u8::MAX {
                    let mut record = vec![0xee; len];
                    if len > META {
                        record[ID_LEN] = id_len;
                        record[META] = meta;
                    }
                    let (_, id, data) = split_record(&record);
                    assert!(id.len() + data.len() <= len);
                }
            }
        }
    }
}

#[cfg(test)]
mod zeroize_tests {
    use super::*;

    fn holds(slabs: &Slabs, needle: &[u8]) -> bool {
        slabs
            .pages
            .iter()
            .any(|p| p.bytes.windows(needle.len()).any(|w| w == needle))
    }

    #[test]
    fn freed_records_leave_no_trace_of_their_secret() {
        let mut slabs = Slabs::new();
        let secret = b"MASTER-SECRET-0123456789";
        let len = HEADER_LEN + 2 + secret.len();
        // A class's pages hold 1, 1, 2, ... slots: the third and fourth
        // records share a page, which outlives the third one's free.
        let slots: Vec<Slot> = (0..4).map(|_| slabs.alloc(len).unwrap()).collect();
        let (a, b) = (slots[2], slots[3]);
        assert_eq!(a >> SLOT_BITS, b >> SLOT_BITS, "same page");
        slabs.write(a, 1, 0, b"id", secret);
        slabs.write(b, 1, 0, b"jd", b"other-data-other-data-xx");
        assert!(holds(&slabs, secret));
        slabs.free(a);
        assert!(
            !holds(&slabs, secret),
            "a freed slot still holds the secret"
        );
        assert_eq!(slabs.session(b).data, b"other-data-other-data-xx");
    }

    #[test]
    fn freed_records_with_flags_leave_no_trace_either() {
        let mut slabs = Slabs::new();
        let secret = b"MASTER-SECRET-9876543210";
        let len = record_len(0x0bad_cafe, 2, secret.len());
        let slots: Vec<Slot> = (0..4).map(|_| slabs.alloc(len).unwrap()).collect();
        let (a, b) = (slots[2], slots[3]);
        slabs.write(a, 1, 0x0bad_cafe, b"id", secret);
        slabs.write(b, 1, 0x0bad_cafe, b"jd", b"other-data-other-data-xx");
        slabs.free(a);
        assert!(!holds(&slabs, secret));
        assert_eq!(slabs.session(b).flags, 0x0bad_cafe);
    }
}
