//! Capacity limits of a store, validated once at start-up.

use thiserror::Error;

/// The smallest accepted [`Limits::max_bytes`]: 64 KiB.
///
/// The largest session the protocol can carry is a 32 KiB payload minus its
/// 8-byte header (id and data together), so with this floor any session the
/// wire allows always fits, even in a store that holds nothing else.
pub const MIN_MAX_BYTES: usize = 64 * 1024;

/// The largest accepted [`Limits::max_sessions`].
///
/// The store's hash index holds 32-bit slot numbers to keep it small, so it
/// cannot address more sessions than this. The original server allows at most
/// 60000.
pub const MAX_SESSIONS: usize = u32::MAX as usize;

/// Sessions evicted per batch are `max_sessions / EVICTION_DIVISOR` (at least
/// one): the original's rule, kept for wire compatibility.
const EVICTION_DIVISOR: usize = 30;

/// How much a store may hold.
///
/// Build it with [`Limits::new`], which checks the values. The fields are
/// public for reading; a store given out-of-range values (by writing the
/// fields directly) clamps `max_sessions` into `1..=MAX_SESSIONS` and refuses
/// every session larger than `max_bytes` with
/// [`AddOutcome::TooLarge`](crate::AddOutcome::TooLarge).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Most sessions held at once (`-sessions N`; the original's default is
    /// 512).
    pub max_sessions: usize,
    /// Most bytes held at once, counting `id.len() + data.len()` per session.
    pub max_bytes: usize,
}

/// Why [`Limits::new`] refused its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum LimitsError {
    /// `max_sessions` was 0 or above [`MAX_SESSIONS`].
    #[error("max_sessions must be between 1 and {max}, got {value}")]
    MaxSessions {
        /// The value given.
        value: usize,
        /// The largest accepted value, [`MAX_SESSIONS`].
        max: usize,
    },
    /// `max_bytes` was below [`MIN_MAX_BYTES`].
    #[error("max_bytes must be at least {min} so that the largest session fits, got {value}")]
    MaxBytes {
        /// The value given.
        value: usize,
        /// The smallest accepted value, [`MIN_MAX_BYTES`].
        min: usize,
    },
}

impl Limits {
    /// Checked limits: `max_sessions` in `1..=MAX_SESSIONS`, `max_bytes` at
    /// least [`MIN_MAX_BYTES`].
    ///
    /// # Errors
    ///
    /// [`LimitsError::MaxSessions`] or [`LimitsError::MaxBytes`], carrying the
    /// refused value and the accepted bound.
    pub fn new(max_sessions: usize, max_bytes: usize) -> Result<Limits, LimitsError> {
        if !(1..=MAX_SESSIONS).contains(&max_sessions) {
            return Err(LimitsError::MaxSessions {
                value: max_sessions,
                max: MAX_SESSIONS,
            });
        }
        if max_bytes < MIN_MAX_BYTES {
            return Err(LimitsError::MaxBytes {
                value: max_bytes,
                min: MIN_MAX_BYTES,
            });
        }
        Ok(Limits {
            max_sessions,
            max_bytes,
        })
    }

    /// How many sessions an add evicts when the store is full by count:
    /// `max(1, ⌊max_sessions / 30⌋)`. 2 for 64 sessions, 17 for 512, 2000
    /// for 60000.
    #[must_use]
    pub fn eviction_batch(&self) -> usize {
        (self.max_sessions / EVICTION_DIVISOR).max(1)
    }

    /// These limits with `max_sessions` forced into `1..=MAX_SESSIONS`, for
    /// values that bypassed [`Limits::new`].
    pub(crate) fn clamped(self) -> Limits {
        Limits {
            max_sessions: self.max_sessions.clamp(1, MAX_SESSIONS),
            max_bytes: self.max_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_smallest_valid_values() {
        assert_eq!(
            Limits::new(1, MIN_MAX_BYTES),
            Ok(Limits {
                max_sessions: 1,
                max_bytes: MIN_MAX_BYTES
            })
        );
        assert!(Limits::new(MAX_SESSIONS, usize::MAX).is_ok());
    }

    #[test]
    fn refuses_zero_sessions_and_names_the_value() {
        let err = Limits::new(0, MIN_MAX_BYTES).unwrap_err();
        assert_eq!(
            err,
            LimitsError::MaxSessions {
                value: 0,
                max: MAX_SESSIONS
            }
        );
        assert_eq!(
            err.to_string(),
            format!("max_sessions must be between 1 and {MAX_SESSIONS}, got 0")
        );
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn refuses_more_sessions_than_the_index_can_address() {
        let too_many = MAX_SESSIONS + 1;
        assert_eq!(
            Limits::new(too_many, MIN_MAX_BYTES),
            Err(LimitsError::MaxSessions {
                value: too_many,
                max: MAX_SESSIONS
            })
        );
    }

    #[test]
    fn refuses_max_bytes_below_the_floor_and_names_the_value() {
        let err = Limits::new(512, MIN_MAX_BYTES - 1).unwrap_err();
        assert_eq!(
            err,
            LimitsError::MaxBytes {
                value: MIN_MAX_BYTES - 1,
                min: MIN_MAX_BYTES
            }
        );
        assert_eq!(
            err.to_string(),
            "max_bytes must be at least 65536 so that the largest session fits, got 65535"
        );
    }

    #[test]
    fn eviction_batch_is_a_thirtieth_but_at_least_one() {
        let batch = |n| Limits::new(n, MIN_MAX_BYTES).unwrap().eviction_batch();
        assert_eq!(batch(1), 1);
        assert_eq!(batch(29), 1);
        assert_eq!(batch(30), 1);
        assert_eq!(batch(59), 1);
        assert_eq!(batch(60), 2);
        assert_eq!(batch(64), 2);
        assert_eq!(batch(512), 17);
        assert_eq!(batch(60000), 2000);
    }

    #[test]
    fn clamping_fixes_unchecked_session_counts() {
        let zero = Limits {
            max_sessions: 0,
            max_bytes: 10,
        };
        assert_eq!(zero.clamped().max_sessions, 1);
        assert_eq!(zero.clamped().max_bytes, 10);
        let huge = Limits {
            max_sessions: usize::MAX,
            max_bytes: 10,
        };
        assert_eq!(huge.clamped().max_sessions, MAX_SESSIONS);
    }
}
