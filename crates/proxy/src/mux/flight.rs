//! Requests forwarded to the cache server and not yet answered.
//!
//! Every forwarded request gets an upstream request_uid from one counter,
//! starting at 1 like the original and wrapping modulo 2³² (the wire field
//! is 32 bits; the original's 64-bit counter broke after 2³² requests). A
//! uid still waiting for its answer is skipped, so two requests in flight
//! never share one. The table maps each uid back to the client and slot it
//! answers.
//!
//! `order` lists the uids in forwarding order, so the oldest request — the
//! one the stall timeout watches — is found without a scan, and a lost
//! connection answers its requests in the order they were sent. Entries of
//! answered requests are dropped from its front lazily.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use dc_protocol::Operation;

use crate::mux::ClientId;

/// One request waiting for the server's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InFlight {
    /// Who asked (the client may be gone by the time the answer comes).
    pub client: ClientId,
    /// The client's answer slot.
    pub seq: u64,
    /// The operation forwarded; the answer must be for the same one.
    pub operation: Operation,
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
            waiting: HashMap::new(),
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

    /// Takes the next free uid. The table holds far fewer than 2³² entries,
    /// so the search ends after a few steps at most.
    pub(crate) fn allocate_uid(&mut self) -> u32 {
        loop {
            let uid = self.next_uid;
            self.next_uid = self.next_uid.wrapping_add(1);
            if !self.waiting.contains_key(&uid) {
                return uid;
            }
        }
    }

    /// Records a forwarded request under `uid` (from
    /// [`allocate_uid`](Self::allocate_uid)).
    pub(crate) fn insert(
        &mut self,
        uid: u32,
        client: ClientId,
        seq: u64,
        operation: Operation,
        now: Instant,
    ) {
        let serial = self.next_serial;
        self.next_serial += 1;
        self.waiting.insert(
            uid,
            InFlight {
                client,
                seq,
                operation,
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

    fn client(n: u64) -> ClientId {
        ClientId {
            handle: n as usize,
            serial: n,
        }
    }

    #[test]
    fn uids_count_from_the_first_and_wrap() {
        let mut f = Flight::new(u32::MAX - 1);
        let now = Instant::now();
        let a = f.allocate_uid();
        f.insert(a, client(1), 0, Operation::Get, now);
        let b = f.allocate_uid();
        f.insert(b, client(1), 1, Operation::Get, now);
        let c = f.allocate_uid();
        assert_eq!((a, b, c), (u32::MAX - 1, u32::MAX, 0));
    }

    #[test]
    fn uids_in_flight_are_skipped_after_a_wrap() {
        let mut f = Flight::new(1);
        let now = Instant::now();
        for seq in 0..3 {
            let uid = f.allocate_uid();
            f.insert(uid, client(1), seq, Operation::Have, now);
        }
        // uids 1, 2, 3 wait; make the counter come round to them.
        f.next_uid = u32::MAX;
        assert_eq!(f.allocate_uid(), u32::MAX);
        assert_eq!(f.allocate_uid(), 0);
        assert_eq!(f.allocate_uid(), 4, "1, 2 and 3 are in flight");
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
                client(seq),
                seq,
                Operation::Get,
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
        let seqs: Vec<u64> = f.drain().iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![2, 3]);
        assert!(f.is_empty());
        assert_eq!(f.oldest(), None);
        assert!(f.take(4).is_none());
    }
}
