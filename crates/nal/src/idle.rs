//! Which connection to close when a full connection table must make room
//! for a newcomer: one with nothing in flight (no partial request buffered,
//! no answer owed or unsent), and of those, first the ones that have never
//! sent anything, then the one idle longest.
//!
//! The ranking protects the clients that matter from a flood of idle
//! connections: pooled clients (Apache's, ProFTPD's, the original client
//! library's) that idle between requests and break when closed under them
//! have all sent something, so a flood of silent connections makes room by
//! closing its own oldest members. A client that sent a request is ranked
//! with the others that did, and those go in the order they went idle.
//!
//! Each rank is a doubly linked list threaded through an array indexed by
//! the connection's slab key, so every operation is O(1) and none hashes or
//! allocates once the array has grown to the table's size:
//!
//! ```text
//!  key:     0      1      2      3      4
//!         +------+------+------+------+------+
//!  node:  |  --  | p=3  |  --  | p=-  | p=1  |     oldest = 3, newest = 4
//!         |      | n=4  |      | n=1  | n=-  |     (0 and 2 are busy or gone)
//!         +------+------+------+------+------+
//! ```
//!
//! The event loop [`touch`](IdleList::touch)es a connection when it has just
//! moved and has nothing in flight, and [`remove`](IdleList::remove)s it
//! when it is busy or closed; so the list never holds a connection that
//! cannot be closed without losing anything, and the one to close is found
//! without scanning the table.

use std::time::Instant;

/// No neighbour.
const NIL: usize = usize::MAX;

#[derive(Debug, Clone, Copy)]
struct Node {
    prev: usize,
    next: usize,
    since: Instant,
    linked: bool,
}

/// Connections in the order they went idle, oldest first.
#[derive(Debug)]
struct Lru {
    nodes: Vec<Node>,
    head: usize,
    tail: usize,
    len: usize,
}

impl Lru {
    /// An empty list.
    fn new() -> Lru {
        Lru {
            nodes: Vec::new(),
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }

    /// Connections on the list.
    fn len(&self) -> usize {
        self.len
    }

    /// Whether no connection is idle.
    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether `key` is on the list.
    fn contains(&self, key: usize) -> bool {
        self.nodes.get(key).is_some_and(|n| n.linked)
    }

    /// Puts `key` last (newest), idle since `now`, whether or not it was on
    /// the list: it has just had traffic and has nothing in flight.
    fn touch(&mut self, key: usize, now: Instant) {
        self.remove(key);
        if key >= self.nodes.len() {
            // Slab keys are dense: the array grows to the table's size once.
            self.nodes.resize(
                key + 1,
                Node {
                    prev: NIL,
                    next: NIL,
                    since: now,
                    linked: false,
                },
            );
        }
        let tail = self.tail;
        self.nodes[key] = Node {
            prev: tail,
            next: NIL,
            since: now,
            linked: true,
        };
        match self.nodes.get_mut(tail) {
            Some(t) => t.next = key,
            None => self.head = key,
        }
        self.tail = key;
        self.len += 1;
    }

    /// Takes `key` off the list (it is busy, or closed). Returns whether it
    /// was on it.
    fn remove(&mut self, key: usize) -> bool {
        let Some(&node) = self.nodes.get(key).filter(|n| n.linked) else {
            return false;
        };
        match self.nodes.get_mut(node.prev) {
            Some(p) => p.next = node.next,
            None => self.head = node.next,
        }
        match self.nodes.get_mut(node.next) {
            Some(n) => n.prev = node.prev,
            None => self.tail = node.prev,
        }
        self.nodes[key].linked = false;
        self.len -= 1;
        true
    }

    /// The connection idle longest, and since when.
    fn oldest(&self) -> Option<(usize, Instant)> {
        self.nodes.get(self.head).map(|n| (self.head, n.since))
    }

    /// Takes the connection idle longest off the list and returns its key.
    #[cfg(test)]
    fn pop_oldest(&mut self) -> Option<usize> {
        let (key, _) = self.oldest()?;
        self.remove(key);
        Some(key)
    }
}

/// How an idle connection ranks for closing: lower first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rank {
    /// It has never sent anything.
    Silent,
    /// It has sent something before.
    Spoken,
}

/// The connection to close first, as [`IdleList::first`] gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Its slab key.
    pub key: usize,
    /// Its rank.
    pub rank: Rank,
    /// Since when it is idle.
    pub since: Instant,
}

/// The connections with nothing in flight, in the order to close them; see
/// the module documentation.
#[derive(Debug)]
pub struct IdleList {
    silent: Lru,
    spoken: Lru,
}

impl Default for IdleList {
    fn default() -> Self {
        IdleList::new()
    }
}

impl IdleList {
    /// An empty list.
    pub fn new() -> IdleList {
        IdleList {
            silent: Lru::new(),
            spoken: Lru::new(),
        }
    }

    /// Connections on the list.
    pub fn len(&self) -> usize {
        self.silent.len() + self.spoken.len()
    }

    /// Whether no connection is idle.
    pub fn is_empty(&self) -> bool {
        self.silent.is_empty() && self.spoken.is_empty()
    }

    /// Whether `key` is on the list.
    pub fn contains(&self, key: usize) -> bool {
        self.silent.contains(key) || self.spoken.contains(key)
    }

    /// Puts `key` last in its rank, idle since `now`, whether or not it was
    /// on the list: it has just had traffic (or just arrived) and has
    /// nothing in flight. `rank` says whether it has ever sent anything.
    pub fn touch(&mut self, key: usize, rank: Rank, now: Instant) {
        match rank {
            Rank::Silent => {
                self.spoken.remove(key);
                self.silent.touch(key, now);
            }
            Rank::Spoken => {
                self.silent.remove(key);
                self.spoken.touch(key, now);
            }
        }
    }

    /// Takes `key` off the list (it is busy, or closed). Returns whether it
    /// was on it.
    pub fn remove(&mut self, key: usize) -> bool {
        self.silent.remove(key) | self.spoken.remove(key)
    }

    /// The connection to close first: the silent one idle longest, else
    /// the one idle longest.
    pub fn first(&self) -> Option<Candidate> {
        let (key, since, rank) = match self.silent.oldest() {
            Some((key, since)) => (key, since, Rank::Silent),
            None => {
                let (key, since) = self.spoken.oldest()?;
                (key, since, Rank::Spoken)
            }
        };
        Some(Candidate { key, rank, since })
    }

    /// Takes the connection to close first off the list and returns it.
    pub fn pop_first(&mut self) -> Option<Candidate> {
        let first = self.first()?;
        self.remove(first.key);
        Some(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn keys(list: &Lru) -> Vec<usize> {
        let mut out = Vec::new();
        let mut at = list.head;
        while let Some(node) = list.nodes.get(at) {
            out.push(at);
            at = node.next;
        }
        // The backward links agree.
        let mut back = Vec::new();
        let mut at = list.tail;
        while let Some(node) = list.nodes.get(at) {
            back.push(at);
            at = node.prev;
        }
        back.reverse();
        assert_eq!(out, back, "forward and backward links disagree");
        assert_eq!(out.len(), list.len());
        out
    }

    #[test]
    fn the_oldest_is_the_one_touched_least_recently() {
        let t = Instant::now();
        let at = |ms| t + Duration::from_millis(ms);
        let mut list = Lru::new();
        assert_eq!(list.oldest(), None);
        assert_eq!(list.pop_oldest(), None);
        for (i, key) in [3, 0, 7, 1].into_iter().enumerate() {
            list.touch(key, at(i as u64));
        }
        assert_eq!(keys(&list), [3, 0, 7, 1]);
        assert_eq!(list.oldest(), Some((3, at(0))));
        // Traffic moves a connection to the back, with its new time.
        list.touch(3, at(10));
        assert_eq!(keys(&list), [0, 7, 1, 3]);
        assert_eq!(list.oldest(), Some((0, at(1))));
        assert_eq!(list.pop_oldest(), Some(0));
        assert_eq!(list.pop_oldest(), Some(7));
        assert_eq!(keys(&list), [1, 3]);
        assert!(!list.contains(0) && list.contains(1));
    }

    #[test]
    fn busy_and_closed_connections_leave_from_anywhere() {
        let t = Instant::now();
        let mut list = Lru::new();
        for key in 0..5 {
            list.touch(key, t);
        }
        assert!(list.remove(2), "the middle");
        assert!(list.remove(0), "the head");
        assert!(list.remove(4), "the tail");
        assert!(!list.remove(4), "not twice");
        assert!(!list.remove(99), "never seen");
        assert_eq!(keys(&list), [1, 3]);
        assert!(list.remove(1) && list.remove(3));
        assert!(list.is_empty());
        assert_eq!(list.oldest(), None);
        // Usable again after emptying.
        list.touch(4, t);
        assert_eq!(keys(&list), [4]);
        assert_eq!(list.pop_oldest(), Some(4));
        assert!(list.is_empty() && keys(&list).is_empty());
    }

    /// Against a plain vector of keys, oldest first, over a long random
    /// sequence of operations (a fixed seed: reproducible).
    #[test]
    fn agrees_with_a_vector_model() {
        let t = Instant::now();
        let mut list = Lru::new();
        let mut model: Vec<usize> = Vec::new();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for step in 0..20_000u64 {
            let key = (next() % 64) as usize;
            match next() % 3 {
                0 | 1 => {
                    list.touch(key, t + Duration::from_nanos(step));
                    model.retain(|&k| k != key);
                    model.push(key);
                }
                _ => {
                    let was = model.contains(&key);
                    model.retain(|&k| k != key);
                    assert_eq!(list.remove(key), was);
                }
            }
            if step % 97 == 0 {
                assert_eq!(
                    list.pop_oldest(),
                    (!model.is_empty()).then(|| model.remove(0))
                );
            }
            assert_eq!(list.oldest().map(|(k, _)| k), model.first().copied());
            assert_eq!(list.len(), model.len());
        }
        assert_eq!(keys(&list), model);
    }

    #[test]
    fn silent_connections_go_first_then_the_one_idle_longest() {
        let t = Instant::now();
        let at = |ms| t + Duration::from_millis(ms);
        let mut list = IdleList::new();
        assert_eq!(list.first(), None);
        list.touch(0, Rank::Spoken, at(0));
        list.touch(1, Rank::Silent, at(5));
        list.touch(2, Rank::Spoken, at(1));
        list.touch(3, Rank::Silent, at(6));
        assert_eq!(list.len(), 4);
        let first = list.first().unwrap();
        assert_eq!(
            (first.key, first.rank, first.since),
            (1, Rank::Silent, at(5))
        );
        // A silent one that speaks changes rank; one that goes busy leaves.
        list.touch(1, Rank::Spoken, at(7));
        assert!(list.remove(0));
        let order: Vec<usize> = std::iter::from_fn(|| list.pop_first().map(|c| c.key)).collect();
        assert_eq!(order, [3, 2, 1]);
        assert!(list.is_empty() && !list.contains(1));
        assert!(!list.remove(1));
    }
}
