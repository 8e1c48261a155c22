//! What the worker threads share: the configuration, the clock's epoch, and
//! one inbox per worker through which the accepting worker hands over
//! connections and asks it to stop.
//!
//! Each inbox counts the connections its worker serves. The accepting
//! worker reads the counts to pick the least busy worker (itself on a tie,
//! since keeping a connection costs no wake-up) and to enforce the
//! connection limit over all workers. A handed-over connection is counted
//! by the sender, before the receiver has even seen it, so a burst of
//! accepts spreads out instead of piling on whichever worker looked idle
//! first.
//!
//! Each inbox also shows how many of its worker's connections are idle with
//! nothing in flight, and the rank of the first of them to close (published
//! by the worker as its [`IdleList`](nal::IdleList) changes). When the table
//! is full, the accepting worker closes its own first candidate or hands the
//! newcomer to the worker whose candidate ranks before it, marked to close
//! that one first: so the server-wide first candidate makes room, found in
//! O(workers).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use nal::{Address, Selector, Stream, Token, Waker};

use dc_metrics::RateLimitedLog;

use super::{io_err, ServerConfig, ServerError, LIMIT_LOG_INTERVAL};
use crate::session::FrontDoor;

/// A connection on its way to a worker, with the protocol its listener
/// speaks.
#[derive(Debug)]
pub(super) struct Arrival {
    pub(super) stream: Stream,
    pub(super) door: FrontDoor,
    /// The table was full when it came: the receiving worker closes its
    /// first idle connection (see [`nal::IdleList`]) to make room for it,
    /// or refuses it if it has none left.
    pub(super) evict: bool,
}

/// The token of each worker's waker.
pub(super) const WAKER: Token = Token(usize::MAX - 3);

/// A retired worker's count: never the least busy.
const RETIRED: usize = usize::MAX / 2;

/// An idle connection's place in the server-wide order of closing, lower
/// first: silent ones before those that spoke, then by the millisecond
/// (since [`Hub::started`]) they went idle.
pub(super) fn eviction_rank(rank: nal::Rank, since_ms: u64) -> u64 {
    let since = since_ms.min(u64::MAX >> 1);
    match rank {
        nal::Rank::Silent => since,
        nal::Rank::Spoken => since | 1 << 63,
    }
}

/// One worker's mailbox.
pub(super) struct Inbox {
    streams: Mutex<Vec<Arrival>>,
    waker: Waker,
    /// Connections this worker serves, plus those on their way to it.
    open: AtomicUsize,
    /// Of those, idle with nothing in flight (less the evictions asked of
    /// it since it last published).
    idle: AtomicUsize,
    /// The rank of the first of those to close (see [`eviction_rank`]).
    first_idle: AtomicU64,
    stop: AtomicBool,
}

/// Shared by every worker of one server.
pub(super) struct Hub {
    pub(super) config: ServerConfig,
    /// The epoch of the store's millisecond clock: the same for every
    /// worker, since they store and compare each other's expiries.
    pub(super) started: Instant,
    /// The addresses listened on, in the order of the configuration's
    /// listeners (with real ports after a bind to port 0).
    pub(super) local_addresses: Vec<Address>,
    /// Connections closed to make room, logged once per interval for the
    /// whole server (each worker closes its own).
    pub(super) evictions_log: Mutex<RateLimitedLog>,
    inboxes: Vec<Inbox>,
}

impl Hub {
    /// A hub for `threads` workers, and their selectors (each with its
    /// waker registered).
    pub(super) fn new(
        config: ServerConfig,
        local_addresses: Vec<Address>,
        threads: usize,
    ) -> Result<(Arc<Hub>, Vec<Selector>), ServerError> {
        let mut selectors = Vec::with_capacity(threads);
        let mut inboxes = Vec::with_capacity(threads);
        for _ in 0..threads {
            let selector = Selector::new(1024).map_err(io_err("creating the event loop"))?;
            let waker = selector
                .waker(WAKER)
                .map_err(io_err("creating the event loop's waker"))?;
            inboxes.push(Inbox {
                streams: Mutex::new(Vec::new()),
                waker,
                open: AtomicUsize::new(0),
                idle: AtomicUsize::new(0),
                first_idle: AtomicU64::new(0),
                stop: AtomicBool::new(false),
            });
            selectors.push(selector);
        }
        let hub = Hub {
            config,
            started: Instant::now(),
            local_addresses,
            evictions_log: Mutex::new(RateLimitedLog::new(LIMIT_LOG_INTERVAL)),
            inboxes,
        };
        Ok((Arc::new(hub), selectors))
    }

    /// Connections served over all workers.
    pub(super) fn open_total(&self) -> usize {
        self.inboxes
            .iter()
            .map(|i| i.open.load(Ordering::Relaxed))
            .filter(|&n| n < RETIRED)
            .sum()
    }

    /// The worker that should take a new connection: the one serving the
    /// fewest, `me` on a tie.
    pub(super) fn least_busy(&self, me: usize) -> usize {
        let mut best = me;
        let mut fewest = self.open(me);
        for (index, inbox) in self.inboxes.iter().enumerate() {
            let open = inbox.open.load(Ordering::Relaxed);
            if open < fewest {
                (best, fewest) = (index, open);
            }
        }
        best
    }

    /// Connections worker `index` serves.
    pub(super) fn open(&self, index: usize) -> usize {
        self.inboxes
            .get(index)
            .map_or(RETIRED, |i| i.open.load(Ordering::Relaxed))
    }

    /// Counts a connection worker `index` took on itself.
    pub(super) fn opened(&self, index: usize) {
        if let Some(inbox) = self.inboxes.get(index) {
            inbox.open.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Uncounts a connection worker `index` closed.
    pub(super) fn closed(&self, index: usize) {
        if let Some(inbox) = self.inboxes.get(index) {
            // Never below zero, whatever the bookkeeping.
            let _ = inbox
                .open
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
    }

    /// Publishes worker `index`'s idle connections: how many, and the
    /// [`eviction_rank`] of the first to close.
    pub(super) fn publish_idle(&self, index: usize, idle: usize, first: u64) {
        if let Some(inbox) = self.inboxes.get(index) {
            inbox.first_idle.store(first, Ordering::Relaxed);
            inbox.idle.store(idle, Ordering::Relaxed);
        }
    }

    /// The worker holding the server-wide first connection to close, as
    /// published, with worker `me`'s own given exactly (`mine`: its first
    /// candidate's [`eviction_rank`], if any); `None` if no worker has one.
    pub(super) fn first_idle(&self, me: usize, mine: Option<u64>) -> Option<usize> {
        let mut best = mine.map(|rank| (me, rank));
        for (index, inbox) in self.inboxes.iter().enumerate() {
            if index == me
                || inbox.idle.load(Ordering::Relaxed) == 0
                || inbox.open.load(Ordering::Relaxed) >= RETIRED
            {
                continue;
            }
            let rank = inbox.first_idle.load(Ordering::Relaxed);
            if best.is_none_or(|(_, first)| rank < first) {
                best = Some((index, rank));
            }
        }
        best.map(|(index, _)| index)
    }

    /// Counts an eviction asked of worker `index` against its published
    /// idle connections, so that a burst of newcomers spreads over the
    /// workers that can make room instead of all asking the same one.
    pub(super) fn claim_idle(&self, index: usize) {
        if let Some(inbox) = self.inboxes.get(index) {
            let _ = inbox
                .idle
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
    }

    /// Hands `stream` to worker `index`, counted already, and wakes it.
    /// Gives the stream back if that worker is gone.
    pub(super) fn hand_over(&self, index: usize, stream: Arrival) -> Result<(), Arrival> {
        let Some(inbox) = self.inboxes.get(index) else {
            return Err(stream);
        };
        if inbox.open.load(Ordering::Relaxed) >= RETIRED {
            return Err(stream);
        }
        inbox.open.fetch_add(1, Ordering::Relaxed);
        inbox
            .streams
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(stream);
        if inbox.waker.wake().is_err() {
            // It will find the stream on its next tick.
            log::debug!("cannot wake worker {index}");
        }
        Ok(())
    }

    /// The connections handed to worker `index` since it last looked.
    pub(super) fn take_streams(&self, index: usize, into: &mut Vec<Arrival>) {
        if let Some(inbox) = self.inboxes.get(index) {
            into.append(&mut inbox.streams.lock().unwrap_or_else(PoisonError::into_inner));
        }
    }

    /// Whether worker `index` has been asked to stop.
    pub(super) fn stopping(&self, index: usize) -> bool {
        self.inboxes
            .get(index)
            .is_none_or(|i| i.stop.load(Ordering::Acquire))
    }

    /// Asks every worker to stop, and wakes it to notice.
    pub(super) fn stop_all(&self) {
        for inbox in &self.inboxes {
            inbox.stop.store(true, Ordering::Release);
            let _ = inbox.waker.wake();
        }
    }

    /// Marks worker `index` as gone: it gets no more connections.
    pub(super) fn retire(&self, index: usize) {
        if let Some(inbox) = self.inboxes.get(index) {
            inbox.open.store(RETIRED, Ordering::Relaxed);
        }
    }
}

/// Makes sure a worker that has stopped (for any reason) gets no more
/// connections, and that streams left in its inbox are closed.
pub(super) struct Retirement<'a> {
    pub(super) hub: &'a Arc<Hub>,
    pub(super) index: usize,
}

impl Drop for Retirement<'_> {
    fn drop(&mut self) {
        self.hub.retire(self.index);
        let mut left = Vec::new();
        self.hub.take_streams(self.index, &mut left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{ConnectionLimits, Listen};
    use dc_store::Limits;

    fn hub(threads: usize) -> (Arc<Hub>, Vec<Selector>) {
        let config = ServerConfig {
            connections: ConnectionLimits::default(),
            listeners: vec![Listen {
                address: Address::parse("IP:127.0.0.1:0").unwrap(),
                door: FrontDoor::Distcache,
            }],
            limits: Limits::new(1000, 1 << 20).unwrap(),
            progress: 0,
            killable: false,
            tls: None,
            threads,
            max_ttl: crate::DEFAULT_MAX_TTL_MS,
            redis: Arc::default(),
            notice: None,
            snapshot: None,
        };
        let addresses = vec![config.listeners[0].address.clone()];
        Hub::new(config, addresses, threads).unwrap()
    }

    fn stream() -> Arrival {
        let (a, _b) = mio::net::UnixStream::pair().unwrap();
        Arrival {
            stream: Stream::Unix(a),
            door: FrontDoor::Distcache,
            evict: false,
        }
    }

    #[test]
    fn new_connections_go_to_the_least_busy_worker_and_ties_stay() {
        let (hub, _selectors) = hub(3);
        assert_eq!(hub.least_busy(0), 0, "a tie stays with the acceptor");
        hub.opened(0);
        assert_eq!(hub.least_busy(0), 1);
        // Handing over counts at once, so a burst spreads out.
        assert!(hub.hand_over(1, stream()).is_ok());
        assert_eq!(hub.least_busy(0), 2);
        assert!(hub.hand_over(2, stream()).is_ok());
        assert_eq!(hub.least_busy(0), 0);
        assert_eq!(hub.open_total(), 3);
        let mut arrived = Vec::new();
        hub.take_streams(1, &mut arrived);
        assert_eq!(arrived.len(), 1);
        hub.closed(1);
        hub.closed(1); // never below zero
        assert_eq!(hub.open(1), 0);
        assert_eq!(hub.open_total(), 2);
    }

    #[test]
    fn a_retired_worker_gets_nothing_and_counts_for_nothing() {
        let (hub, _selectors) = hub(2);
        hub.opened(0);
        hub.retire(1);
        assert_eq!(hub.least_busy(0), 0);
        assert!(hub.hand_over(1, stream()).is_err());
        assert!(hub.hand_over(7, stream()).is_err(), "no such worker");
        assert_eq!(hub.open_total(), 1);
    }

    #[test]
    fn silent_connections_rank_first_then_by_time() {
        use nal::Rank;
        assert!(eviction_rank(Rank::Silent, 99) < eviction_rank(Rank::Spoken, 1));
        assert!(eviction_rank(Rank::Spoken, 1) < eviction_rank(Rank::Spoken, 2));
        assert!(eviction_rank(Rank::Silent, u64::MAX) < eviction_rank(Rank::Spoken, 0));
    }

    #[test]
    fn the_first_idle_connection_is_found_over_all_workers() {
        let (hub, _selectors) = hub(3);
        assert_eq!(hub.first_idle(0, None), None, "nobody idle");
        assert_eq!(hub.first_idle(0, Some(50)), Some(0));
        hub.publish_idle(1, 2, 40);
        hub.publish_idle(2, 1, 45);
        assert_eq!(hub.first_idle(0, Some(50)), Some(1));
        assert_eq!(hub.first_idle(0, Some(10)), Some(0), "mine is older");
        // Each eviction asked of a worker counts against what it showed.
        hub.claim_idle(1);
        assert_eq!(hub.first_idle(0, None), Some(1));
        hub.claim_idle(1);
        assert_eq!(hub.first_idle(0, None), Some(2));
        hub.claim_idle(2);
        hub.claim_idle(2); // never below zero
        assert_eq!(hub.first_idle(0, None), None);
        // A retired worker is asked for nothing.
        hub.publish_idle(2, 5, 1);
        hub.retire(2);
        assert_eq!(hub.first_idle(0, Some(50)), Some(0));
    }

    #[test]
    fn stopping_reaches_every_worker() {
        let (hub, _selectors) = hub(2);
        assert!(!hub.stopping(0) && !hub.stopping(1));
        hub.stop_all();
        assert!(hub.stopping(0) && hub.stopping(1));
        assert!(hub.stopping(9), "an unknown worker has nothing to do");
    }
}
