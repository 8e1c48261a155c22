//! The executor: runs protocol-neutral [`Op`]s on the store, whatever front
//! door they came through. Sans-IO: the clocks are given to it.
//!
//! Lifetimes: every entry expires. A [`Ttl`] is turned into an instant on
//! the monotonic clock (so wall-clock jumps never expire or revive
//! anything), an absolute Unix time is read against the wall clock once,
//! when the request arrives, and every lifetime is capped at
//! [`Executor::max_ttl`] (`-max-ttl`): a session cache never keeps anything
//! forever, whether a client asked for no expiry (memcache exptime 0, Redis
//! `SET` without `EX`), for 55 years (ProFTPD's absolute epochs sent as
//! relative seconds) or for a week (distcache). Each cap applied is
//! counted.

use dc_ops::number::{memcache_counter_text, parse_i64, parse_memcache_counter};
use dc_ops::{
    CounterChange, Execute, Millis, Op, OpKind, Protocol, Reply, ServerInfo, StoreMode, Ttl,
};
use dc_store::{SessionStore, StoreOutcome};

use crate::dispatch::StoreAccess;

/// Default longest lifetime of any entry: one day.
pub const DEFAULT_MAX_TTL_MS: Millis = 86_400_000;

/// The result of an operation, as counted (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// A read found its key.
    Hit,
    /// A read did not.
    Miss,
    /// Stored.
    Stored,
    /// Not stored (add on a live key, replace on a missing one).
    NotStored,
    /// Refused as too large.
    TooLarge,
    /// Deleted.
    Deleted,
    /// A new lifetime was set.
    Touched,
    /// A delete, touch or counter found no key.
    NotFound,
    /// A counter changed.
    Counted,
    /// A counter held no number.
    NotNumeric,
    /// A counter would overflow.
    Overflow,
}

impl Outcome {
    /// Every outcome, in a fixed order (for counters).
    pub const ALL: [Outcome; 11] = [
        Outcome::Hit,
        Outcome::Miss,
        Outcome::Stored,
        Outcome::NotStored,
        Outcome::TooLarge,
        Outcome::Deleted,
        Outcome::Touched,
        Outcome::NotFound,
        Outcome::Counted,
        Outcome::NotNumeric,
        Outcome::Overflow,
    ];

    /// The metric label.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Miss => "miss",
            Outcome::Stored => "stored",
            Outcome::NotStored => "not_stored",
            Outcome::TooLarge => "too_large",
            Outcome::Deleted => "deleted",
            Outcome::Touched => "touched",
            Outcome::NotFound => "not_found",
            Outcome::Counted => "ok",
            Outcome::NotNumeric => "not_numeric",
            Outcome::Overflow => "overflow",
        }
    }

    fn of(kind: OpKind, reply: &Reply<'_>) -> Outcome {
        match (kind, reply) {
            (_, Reply::Value { .. } | Reply::Found | Reply::Remaining(_)) => Outcome::Hit,
            (OpKind::Get | OpKind::Exists | OpKind::Ttl, Reply::NotFound) => Outcome::Miss,
            (_, Reply::NotFound | Reply::Unavailable) => Outcome::NotFound,
            (_, Reply::Stored) => Outcome::Stored,
            (_, Reply::NotStored) => Outcome::NotStored,
            (_, Reply::TooLarge) => Outcome::TooLarge,
            (_, Reply::Deleted) => Outcome::Deleted,
            (_, Reply::Touched) => Outcome::Touched,
            (_, Reply::Signed(_) | Reply::Unsigned(_)) => Outcome::Counted,
            (_, Reply::NotNumeric) => Outcome::NotNumeric,
            (_, Reply::Overflow) => Outcome::Overflow,
        }
    }
}

/// Operations run, by protocol, kind and outcome; and lifetimes capped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecStats {
    /// `ops[protocol][kind][outcome]`, indexed by [`Protocol::index`],
    /// [`OpKind::index`] and the place in [`Outcome::ALL`].
    pub ops: [[[u64; Outcome::ALL.len()]; OpKind::ALL.len()]; Protocol::ALL.len()],
    /// Requests answered per protocol (a request may run several
    /// operations, or none: `PING`, `version`).
    pub requests: [u64; Protocol::ALL.len()],
    /// Lifetimes cut down to the maximum.
    pub ttl_clamps: u64,
}

impl ExecStats {
    /// How many operations of `kind` over `protocol` came to `outcome`.
    pub fn count(&self, protocol: Protocol, kind: OpKind, outcome: Outcome) -> u64 {
        let at = Outcome::ALL.iter().position(|&o| o == outcome).unwrap_or(0);
        self.ops[protocol.index()][kind.index()][at]
    }

    /// Requests answered over every protocol.
    pub fn requests_total(&self) -> u64 {
        self.requests.iter().sum()
    }
}

/// Runs operations on a store (see [`StoreAccess`]).
#[derive(Debug)]
pub struct Executor<S> {
    store: S,
    /// Longest lifetime given to any entry.
    max_ttl: Millis,
    /// The monotonic clock, as of the current request.
    now: Millis,
    /// The wall clock (Unix time in ms), as of the current request.
    unix_ms: u64,
    /// Who is asking (for the counters).
    protocol: Protocol,
    stats: ExecStats,
    /// What the server reports of itself beyond the store (refreshed by the
    /// event loop).
    facts: ServerInfo,
}

impl<S: StoreAccess> Executor<S> {
    /// An executor over `store`, capping lifetimes at `max_ttl`.
    pub fn new(store: S, max_ttl: Millis) -> Executor<S> {
        Executor {
            store,
            max_ttl: max_ttl.max(1),
            now: 0,
            unix_ms: 0,
            protocol: Protocol::Distcache,
            stats: ExecStats::default(),
            facts: ServerInfo::default(),
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, mutably.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// The longest lifetime any entry gets.
    pub fn max_ttl(&self) -> Millis {
        self.max_ttl
    }

    /// Counters so far.
    pub fn stats(&self) -> &ExecStats {
        &self.stats
    }

    /// Sets the clocks for the requests that follow: `now` on the monotonic
    /// clock the store runs on, `unix_ms` the wall clock.
    pub fn set_clock(&mut self, now: Millis, unix_ms: u64) {
        self.now = now;
        self.unix_ms = unix_ms;
    }

    /// Sets only the monotonic clock.
    pub fn set_now(&mut self, now: Millis) {
        self.now = now;
    }

    /// Names the protocol of the requests that follow, for the counters.
    pub fn set_protocol(&mut self, protocol: Protocol) {
        self.protocol = protocol;
    }

    /// Counts requests answered over the current protocol.
    pub fn count_requests(&mut self, requests: usize) {
        self.stats.requests[self.protocol.index()] += requests as u64;
    }

    /// Refreshes what `INFO`/`stats` report beyond the store.
    pub fn set_facts(&mut self, facts: ServerInfo) {
        self.facts = facts;
    }

    /// The expiry instant for `ttl`, capped; `None` if it is already over.
    pub fn expires_at(&mut self, ttl: Ttl) -> Option<Millis> {
        let wanted = match ttl {
            Ttl::Unlimited => None,
            Ttl::After(ms) => Some(ms),
            Ttl::AtUnix(secs) => {
                let at = secs.saturating_mul(1000);
                if at <= self.unix_ms {
                    return None;
                }
                Some(at - self.unix_ms)
            }
            Ttl::Expired => return None,
        };
        let after = match wanted {
            Some(ms) if ms <= self.max_ttl => ms,
            _ => {
                self.stats.ttl_clamps += 1;
                self.max_ttl
            }
        };
        Some(self.now.saturating_add(after))
    }

    /// Drops expired entries everywhere; returns how many.
    pub fn expire(&mut self) -> usize {
        self.store.expire(self.now)
    }

    fn run(&mut self, op: &Op<'_>, answer: &mut dyn FnMut(&Reply<'_>)) -> Outcome {
        let now = self.now;
        let kind = op.kind();
        let mut reply_with = |reply: Reply<'_>| {
            answer(&reply);
            Outcome::of(kind, &reply)
        };
        match *op {
            Op::Get { key } => {
                // Answered under the shard's lock: the value is copied once,
                // straight into the protocol's answer.
                self.store.with_store(key, |s| match s.entry(key, now) {
                    Some(e) => reply_with(Reply::Value {
                        data: e.data,
                        flags: e.flags,
                    }),
                    None => reply_with(Reply::NotFound),
                })
            }
            Op::Exists { key } => {
                let found = self.store.with_store(key, |s| s.have(key, now));
                reply_with(if found { Reply::Found } else { Reply::NotFound })
            }
            Op::Delete { key } => {
                let removed = self.store.with_store(key, |s| s.remove(key, now));
                reply_with(if removed {
                    Reply::Deleted
                } else {
                    Reply::NotFound
                })
            }
            Op::Touch { key, ttl } => {
                let touched = match self.expires_at(ttl) {
                    Some(at) => self.store.with_store(key, |s| s.touch(key, at, now)),
                    // A lifetime already over: the entry goes now.
                    None => self.store.with_store(key, |s| s.remove(key, now)),
                };
                reply_with(if touched {
                    Reply::Touched
                } else {
                    Reply::NotFound
                })
            }
            Op::Ttl { key } => {
                let left = self
                    .store
                    .with_store(key, |s| s.entry(key, now).map(|e| e.expires_at - now));
                reply_with(left.map_or(Reply::NotFound, Reply::Remaining))
            }
            Op::Store {
                mode,
                key,
                value,
                flags,
                ttl,
            } => {
                let reply = match self.expires_at(ttl) {
                    Some(at) => {
                        match self
                            .store
                            .with_store(key, |s| s.store(mode, key, value, flags, at, now))
                        {
                            StoreOutcome::Stored => Reply::Stored,
                            StoreOutcome::NotStored => Reply::NotStored,
                            StoreOutcome::TooLarge => Reply::TooLarge,
                        }
                    }
                    None => self.store_expired(mode, key),
                };
                reply_with(reply)
            }
            Op::Counter { key, change } => {
                let reply = self.count(key, change);
                reply_with(reply)
            }
        }
    }

    /// A store whose lifetime is already over: what it would replace goes,
    /// and nothing stays (memcached's negative or past exptime).
    fn store_expired(&mut self, mode: StoreMode, key: &[u8]) -> Reply<'static> {
        let now = self.now;
        self.store.with_store(key, |s| {
            let live = s.have(key, now);
            match mode {
                StoreMode::Add if live => Reply::NotStored,
                StoreMode::Replace if !live => Reply::NotStored,
                _ => {
                    s.remove(key, now);
                    Reply::Stored
                }
            }
        })
    }

    fn count(&mut self, key: &[u8], change: CounterChange) -> Reply<'static> {
        let now = self.now;
        // A created counter's lifetime, worked out before the lock.
        let created_at = match change {
            CounterChange::Signed(_) => self.expires_at(Ttl::Unlimited),
            CounterChange::Unsigned {
                create: Some((_, ttl)),
                ..
            } => self.expires_at(ttl),
            CounterChange::Unsigned { create: None, .. } => None,
        };
        self.store.with_store(key, |s| {
            let existing = s.entry(key, now).map(|e| {
                (
                    Number::read(e.data, change),
                    e.data.len(),
                    e.flags,
                    e.expires_at,
                )
            });
            let (reply, text, flags, at) = match (change, existing) {
                (_, Some((None, ..))) => return Reply::NotNumeric,
                (CounterChange::Signed(delta), found) => {
                    let (old, flags, at) = match found {
                        Some((Some(Number::Signed(n)), _, flags, at)) => (n, flags, Some(at)),
                        _ => (0, 0, created_at),
                    };
                    let Some(new) = old.checked_add(delta) else {
                        return Reply::Overflow;
                    };
                    (Reply::Signed(new), new.to_string().into_bytes(), flags, at)
                }
                (
                    CounterChange::Unsigned {
                        decrement, delta, ..
                    },
                    Some((Some(Number::Unsigned(old)), old_len, flags, at)),
                ) => {
                    let new = if decrement {
                        old.saturating_sub(delta)
                    } else {
                        old.wrapping_add(delta)
                    };
                    // memcached rewrites a shrunken counter in place,
                    // padded with spaces to its old length.
                    let text = memcache_counter_text(new, old_len);
                    (Reply::Unsigned(new), text, flags, Some(at))
                }
                (CounterChange::Unsigned { create, .. }, _) => match create {
                    Some((initial, _)) => {
                        let text = memcache_counter_text(initial, 0);
                        (Reply::Unsigned(initial), text, 0, created_at)
                    }
                    None => return Reply::NotFound,
                },
            };
            let Some(at) = at else {
                // Created with a lifetime already over: nothing stays.
                s.remove(key, now);
                return reply;
            };
            match s.store(StoreMode::Set, key, &text, flags, at, now) {
                StoreOutcome::Stored => reply,
                StoreOutcome::NotStored | StoreOutcome::TooLarge => Reply::TooLarge,
            }
        })
    }
}

/// A counter's value as read.
enum Number {
    Signed(i64),
    Unsigned(u64),
}

impl Number {
    /// The number stored, read by the rules of the change asked for;
    /// `None` if it is not one.
    fn read(data: &[u8], change: CounterChange) -> Option<Number> {
        match change {
            CounterChange::Signed(_) => parse_i64(data).map(Number::Signed),
            CounterChange::Unsigned { .. } => parse_memcache_counter(data).map(Number::Unsigned),
        }
    }
}

impl<S: StoreAccess> Execute for Executor<S> {
    fn execute(&mut self, op: &Op<'_>, answer: &mut dyn FnMut(&Reply<'_>)) {
        let outcome = self.run(op, answer);
        let at = Outcome::ALL
            .iter()
            .position(|&o| o == outcome)
            .unwrap_or_default();
        self.stats.ops[self.protocol.index()][op.kind().index()][at] += 1;
    }

    fn info(&self) -> ServerInfo {
        let store = self.store.stats();
        ServerInfo {
            items: store.sessions as u64,
            bytes: store.bytes as u64,
            evictions: store.evictions,
            unix_time: self.unix_ms / 1000,
            ..self.facts
        }
    }
}

#[cfg(test)]
mod tests;
