//! Lifetimes as the protocols state them.

use crate::Millis;

/// memcache's `REALTIME_MAXDELTA`: an exptime up to 30 days is relative,
/// anything larger is an absolute Unix time.
pub const MEMCACHE_RELATIVE_LIMIT_SECS: i64 = 60 * 60 * 24 * 30;

/// A lifetime as a request expressed it. The executor turns it into an
/// expiry instant with its clocks, capped by the server's maximum lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ttl {
    /// The request asked for none (memcache exptime 0, Redis `SET` without
    /// `EX`): the server's maximum lifetime applies.
    Unlimited,
    /// Expires this many milliseconds from now.
    After(Millis),
    /// Expires at this Unix time, in seconds.
    AtUnix(u64),
    /// Already expired: storing it leaves nothing readable.
    Expired,
}

impl Ttl {
    /// memcached's exptime rule: 0 is none, negative is expired, up to 30
    /// days is relative seconds, larger is an absolute Unix time.
    pub fn memcache(exptime: i64) -> Ttl {
        match exptime {
            0 => Ttl::Unlimited,
            e if e < 0 => Ttl::Expired,
            e if e <= MEMCACHE_RELATIVE_LIMIT_SECS => Ttl::After(e.unsigned_abs() * 1000),
            e => Ttl::AtUnix(e.unsigned_abs()),
        }
    }

    /// Relative seconds (Redis `EX`, `SETEX`, `EXPIRE`).
    pub fn seconds(secs: u64) -> Ttl {
        Ttl::After(secs.saturating_mul(1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memcache_exptime_follows_memcached() {
        assert_eq!(Ttl::memcache(0), Ttl::Unlimited);
        assert_eq!(Ttl::memcache(-1), Ttl::Expired);
        assert_eq!(Ttl::memcache(300), Ttl::After(300_000));
        assert_eq!(
            Ttl::memcache(MEMCACHE_RELATIVE_LIMIT_SECS),
            Ttl::After(2_592_000_000)
        );
        assert_eq!(Ttl::memcache(2_592_001), Ttl::AtUnix(2_592_001));
        assert_eq!(Ttl::memcache(1_767_225_600), Ttl::AtUnix(1_767_225_600));
    }
}
