//! Requests sent on one link and not yet answered.
//!
//! Every request sent gets an upstream request_uid from one counter,
//! starting at 1 like the original and wrapping modulo 2³² (the wire field
//! is 32 bits; the original's 64-bit counter broke after 2³² requests). A
//! uid still waiting for its answer is skipped, so two requests in flight
//! never share one, and 0 is left to the extension's probe. The table maps each uid back to the operation of the
//! client request it belongs to.
//!
//! `order` lists the uids in forwarding order, so the oldest request — the
//! one the stall timeout watches — is found without a scan, and a lost
//! connection answers its requests in the order they were sent. Entries of
//! answered requests are dropped from its front lazily.

use std::collections::VecDeque;

// Uids come from our own counter: no peer chooses them.
use foldhash::HashMap;
use std::time::Instant;

use crate::link::Expect;
use crate::mux::requests::OpRef;

/// The uid of the extension's probe on every connection: no request gets
/// it, so its answer cannot be mistaken for one.
pub(crate) const PROBE_UID: u32 = 0;

/// One request waiting for the server's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InFlight {
    /// The operation it carries (its request may be answered and gone by
    /// the time the answer comes).
    pub op: OpRef,
    /// What the answer must be to (a wrong one means a broken server).
    pub expect: Expect,
    /// When it was queued for the server.
    pub sent_at: Instant,
    /// Tells apart two uses of one uid across a wrap of the counter.
    serial: u64,
}

#[derive(Debug)]
pub(crate) struct Flight {
    waiting: HashMap<u32, InFlight>,
    order: VecDeque<(u32, u64)>,
    next_uid: u32,
    next_serial: u64,
}

impl Flight {
    pub(crate) fn new(first_uid: u32) -> Flight {
        Flight {
            waiting: HashMap::default(),
            order: VecDeque::new(),
            next_uid: first_uid,
            next_serial: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Takes the next free uid (never [`PROBE_UID`]). The table holds far
    /// fewer than 2³² entries, so the search ends after a few steps at
    /// most.
    pub(crate) fn allocate_uid(&mut self) -> u32 {
        loop {
            let uid = self.next_uid;
            self.next_uid = self.next_uid.wrapping_add(1);
            if uid != PROBE_UID && !self.waiting.contains_key(&uid) {
                return uid;
            }
        }
    }

    /// Records a forwarded request under `uid` (from
    /// [`allocate_uid`](Self::allocate_uid)).
    pub(crate) fn insert(&mut self, uid: u32, op: OpRef, expect: Expect, now: Instant) {
        let serial = self.next_serial;
        self.next_serial += 1;
        self.waiting.insert(
            uid,
            InFlight {
                op,
                expect,
                sent_at: now,
                serial,
            },
        );
        self.order.push_back((uid, serial));
    }

    /// Removes and returns the request waiting under `uid`.
    pub(crate) fn take(&mut self, uid: u32) -> Option<InFlight> {
        let entry = self.waiting.remove(&uid)?;
        self.prune();
        Some(entry)
    }

    /// Puts back an entry that [`take`](Self::take) returned.
    pub(crate) fn restore(&mut self, uid: u32, entry: InFlight) {
        self.waiting.insert(uid, entry);
        self.order.push_front((uid, entry.serial));
    }

    /// When the oldest waiting request was sent.
    pub(crate) fn oldest(&self) -> Option<Instant> {
        // `prune` keeps the front live.
        let &(uid, _) = self.order.front()?;
        self.waiting.get(&uid).map(|e| e.sent_at)
    }

    /// The entry waiting under `uid`, to change.
    pub(crate) fn get_mut(&mut self, uid: u32) -> Option<&mut InFlight> {
        self.waiting.get_mut(&uid)
    }

    /// The uids waiting, oldest first.
    pub(crate) fn uids(&self) -> impl Iterator<Item = u32> + '_ {
        self.order
            .iter()
            .filter(|(uid, serial)| self.waiting.get(uid).is_some_and(|e| e.serial == *serial))
            .map(|&(uid, _)| uid)
    }

    /// Removes every waiting request, oldest first.
    pub(crate) fn drain(&mut self) -> Vec<InFlight> {
        let mut all = Vec::with_capacity(self.waiting.len());
        for (uid, serial) in self.order.drain(..) {
            if self.waiting.get(&uid).is_some_and(|e| e.serial == serial) {
                if let Some(entry) = self.waiting.remove(&uid) {
                    all.push(entry);
                }
            }
        }
        // Unreachable in practice: every entry is listed in `order`.
        all.extend(self.waiting.drain().map(|(_, e)| e));
        all
    }

    fn prune(&mut self) {
        while let Some(&(uid, serial)) = self.order.front() {
            if self.waiting.get(&uid).is_some_and(|e| e.serial == serial) {
                return;
            }
            self.order.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(n: u64) -> OpRef {
        OpRef::for_tests(n)
    }

    const GET: Expect = Expect::Classic(dc_protocol::Operation::Get);

    #[test]
    fn uids_count_from_the_first_and_wrap() {
        let mut f = Flight::new(u32::MAX - 1);
        let now = Instant::now();
        let a = f.allocate_uid();
        f.insert(a, op(0), GET, now);
        let b = f.allocate_uid();
        f.insert(b, op(1), GET, now);
        let c = f.allocate_uid();
        assert_eq!((a, b, c), (u32::MAX - 1, u32::MAX, 1), "0 is the probe's");
    }

    #[test]
    fn uids_in_flight_are_skipped_after_a_wrap() {
        let mut f = Flight::new(1);
        let now = Instant::now();
        for seq in 0..3 {
            let uid = f.allocate_uid();
            f.insert(uid, op(seq), GET, now);
        }
        // uids 1, 2, 3 wait; make the counter come round to them.
        f.next_uid = u32::MAX;
        assert_eq!(f.allocate_uid(), u32::MAX);
        assert_eq!(
            f.allocate_uid(),
            4,
            "0 is the probe's; 1, 2 and 3 are in flight"
        );
        f.take(2).unwrap();
        f.next_uid = 1;
        assert_eq!(f.allocate_uid(), 2);
    }

    #[test]
    fn oldest_follows_answers_and_drain_keeps_order() {
        let mut f = Flight::new(1);
        let t0 = Instant::now();
        for seq in 0..4u64 {
            let uid = f.allocate_uid();
            f.insert(
                uid,
                op(seq),
                GET,
                t0 + std::time::Duration::from_millis(seq),
            );
        }
        assert_eq!(f.oldest(), Some(t0));
        f.take(2).unwrap();
        assert_eq!(
            f.oldest(),
            Some(t0),
            "answering a later one changes nothing"
        );
        f.take(1).unwrap();
        assert_eq!(f.oldest(), Some(t0 + std::time::Duration::from_millis(2)));
        let seqs: Vec<OpRef> = f.drain().iter().map(|e| e.op).collect();
        assert_eq!(seqs, vec![op(2), op(3)]);
        assert!(f.is_empty());
        assert_eq!(f.oldest(), None);
        assert!(f.take(4).is_none());
    }
}
