//! [`Model`]: a plain, obviously correct cache on a virtual clock that
//! implements [`Execute`], as the reference for tests: the protocol crates
//! test their server codecs on it, and the engine checks its executor
//! against it on random operations.
//!
//! It follows the rules the executor documents: a lifetime is capped at
//! `max_ttl`, [`Ttl::Unlimited`] gets `max_ttl`, an absolute time is read
//! against the virtual Unix clock, counters are decimal text.

use std::collections::HashMap;

use crate::number::{memcache_counter_text, parse_i64, parse_memcache_counter};
use crate::{CounterChange, Execute, Millis, Op, Reply, ServerInfo, StoreMode, Ttl};

/// A reference cache: a hash map of key to (value, flags, expiry).
#[derive(Debug, Clone)]
pub struct Model {
    entries: HashMap<Vec<u8>, (Vec<u8>, u32, Millis)>,
    /// The virtual monotonic clock, in milliseconds.
    pub now: Millis,
    /// The virtual Unix time at `now == 0`, in milliseconds.
    pub unix_epoch_ms: u64,
    /// The longest lifetime any entry gets.
    pub max_ttl: Millis,
    /// The largest value stored.
    pub max_value: usize,
}

impl Model {
    /// An empty model at virtual time 0 (Unix time 1.7e9 s), with a
    /// one-day maximum lifetime and the front doors' value limit.
    pub fn new() -> Model {
        Model {
            entries: HashMap::new(),
            now: 0,
            unix_epoch_ms: 1_700_000_000_000,
            max_ttl: 86_400_000,
            max_value: crate::MAX_VALUE_LEN,
        }
    }

    /// The expiry instant for `ttl`, or `None` if already expired.
    pub fn expiry(&self, ttl: Ttl) -> Option<Millis> {
        let after = match ttl {
            Ttl::Unlimited => self.max_ttl,
            Ttl::After(ms) => ms.min(self.max_ttl),
            Ttl::AtUnix(secs) => {
                let at = secs.saturating_mul(1000);
                let unix_now = self.unix_epoch_ms + self.now;
                if at <= unix_now {
                    return None;
                }
                (at - unix_now).min(self.max_ttl)
            }
            Ttl::Expired => return None,
        };
        Some(self.now.saturating_add(after))
    }

    fn live(&self, key: &[u8]) -> Option<&(Vec<u8>, u32, Millis)> {
        self.entries.get(key).filter(|e| self.now <= e.2)
    }

    fn put(&mut self, key: &[u8], value: Vec<u8>, flags: u32, ttl: Ttl) {
        match self.expiry(ttl) {
            Some(at) => {
                self.entries.insert(key.to_vec(), (value, flags, at));
            }
            None => {
                self.entries.remove(key);
            }
        }
    }

    fn run(&mut self, op: &Op<'_>) -> Reply<'static> {
        match *op {
            Op::Get { .. } => unreachable!("answered with a borrow in execute"),
            Op::Exists { key } => {
                if self.live(key).is_some() {
                    Reply::Found
                } else {
                    Reply::NotFound
                }
            }
            Op::Delete { key } => {
                let live = self.live(key).is_some();
                self.entries.remove(key);
                if live {
                    Reply::Deleted
                } else {
                    Reply::NotFound
                }
            }
            Op::Touch { key, ttl } => {
                let Some((value, flags, _)) = self.live(key).cloned() else {
                    return Reply::NotFound;
                };
                self.put(key, value, flags, ttl);
                Reply::Touched
            }
            Op::Ttl { key } => match self.live(key) {
                Some(&(_, _, at)) => Reply::Remaining(at - self.now),
                None => Reply::NotFound,
            },
            Op::Store {
                mode,
                key,
                value,
                flags,
                ttl,
            } => {
                if key.len() > crate::MAX_KEY_LEN || value.len() > self.max_value {
                    return Reply::TooLarge;
                }
                let live = self.live(key).is_some();
                let allowed = match mode {
                    StoreMode::Add => !live,
                    StoreMode::Set => true,
                    StoreMode::Replace => live,
                };
                if !allowed {
                    return Reply::NotStored;
                }
                self.put(key, value.to_vec(), flags, ttl);
                Reply::Stored
            }
            Op::Counter { key, change } => self.count(key, change),
        }
    }

    fn count(&mut self, key: &[u8], change: CounterChange) -> Reply<'static> {
        let existing = self.live(key).cloned();
        match change {
            CounterChange::Signed(delta) => {
                let (old, flags, at) = match &existing {
                    Some((v, f, at)) => match parse_i64(v) {
                        Some(n) => (n, *f, Some(*at)),
                        None => return Reply::NotNumeric,
                    },
                    None => (0, 0, None),
                };
                let Some(new) = old.checked_add(delta) else {
                    return Reply::Overflow;
                };
                let at = at.or_else(|| self.expiry(Ttl::Unlimited)).unwrap_or(0);
                self.entries
                    .insert(key.to_vec(), (new.to_string().into_bytes(), flags, at));
                Reply::Signed(new)
            }
            CounterChange::Unsigned {
                decrement,
                delta,
                create,
            } => match existing {
                Some((v, flags, at)) => {
                    let Some(old) = parse_memcache_counter(&v) else {
                        return Reply::NotNumeric;
                    };
                    let new = if decrement {
                        old.saturating_sub(delta)
                    } else {
                        old.wrapping_add(delta)
                    };
                    self.entries.insert(
                        key.to_vec(),
                        (memcache_counter_text(new, v.len()), flags, at),
                    );
                    Reply::Unsigned(new)
                }
                None => match create {
                    Some((initial, ttl)) => {
                        self.put(key, initial.to_string().into_bytes(), 0, ttl);
                        Reply::Unsigned(initial)
                    }
                    None => Reply::NotFound,
                },
            },
        }
    }
}

impl Default for Model {
    fn default() -> Self {
        Model::new()
    }
}

impl Execute for Model {
    fn execute(&mut self, op: &Op<'_>, answer: &mut dyn FnMut(&Reply<'_>)) {
        if let Op::Get { key } = *op {
            match self.live(key) {
                Some((data, flags, _)) => answer(&Reply::Value {
                    data,
                    flags: *flags,
                }),
                None => answer(&Reply::NotFound),
            }
            return;
        }
        let reply = self.run(op);
        answer(&reply);
    }

    fn info(&self) -> ServerInfo {
        ServerInfo {
            pid: 1,
            uptime_secs: self.now / 1000,
            unix_time: (self.unix_epoch_ms + self.now) / 1000,
            items: self.entries.len() as u64,
            threads: 1,
            ..ServerInfo::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_capped_and_absolute_times_read_on_the_unix_clock() {
        let mut m = Model::new();
        m.max_ttl = 10_000;
        assert_eq!(m.expiry(Ttl::Unlimited), Some(10_000));
        assert_eq!(m.expiry(Ttl::After(5)), Some(5));
        assert_eq!(m.expiry(Ttl::AtUnix(1_700_000_002)), Some(2_000));
        assert_eq!(m.expiry(Ttl::AtUnix(1_600_000_000)), None);
        let mut seen = None;
        m.execute(
            &Op::Store {
                mode: StoreMode::Add,
                key: b"k",
                value: b"1",
                flags: 7,
                ttl: Ttl::Unlimited,
            },
            &mut |r| seen = Some(format!("{r:?}")),
        );
        assert_eq!(seen.as_deref(), Some("Stored"));
        m.execute(&Op::Get { key: b"k" }, &mut |r| {
            assert_eq!(
                *r,
                Reply::Value {
                    data: b"1",
                    flags: 7
                }
            )
        });
        m.now = 10_001;
        m.execute(&Op::Get { key: b"k" }, &mut |r| {
            assert_eq!(*r, Reply::NotFound)
        });
    }
}
