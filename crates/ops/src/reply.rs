//! What an operation came to.

use crate::Millis;

/// The outcome of one [`Op`](crate::Op), for the protocol to compose into
/// its own answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reply<'a> {
    /// `Get`: the value and its flags.
    Value {
        /// The stored bytes.
        data: &'a [u8],
        /// The flags stored with them.
        flags: u32,
    },
    /// `Exists`: the key holds a value.
    Found,
    /// Any operation on a key that holds nothing (a miss, nothing deleted,
    /// nothing touched, a counter that was not created).
    NotFound,
    /// `Store`: stored.
    Stored,
    /// `Store` in `Add` mode on a key that holds a value, or in `Replace`
    /// mode on one that does not.
    NotStored,
    /// `Delete`: removed.
    Deleted,
    /// `Touch`: the lifetime was changed.
    Touched,
    /// `Ttl`: the time left to live (every entry has one: the server caps
    /// lifetimes).
    Remaining(Millis),
    /// `Counter` with [`CounterChange::Signed`](crate::CounterChange): the new value.
    Signed(i64),
    /// `Counter` with [`CounterChange::Unsigned`](crate::CounterChange): the new value.
    Unsigned(u64),
    /// `Counter` on a value that is not a decimal number of the right kind.
    NotNumeric,
    /// `Counter` whose result would leave the signed 64-bit range.
    Overflow,
    /// `Store`: the key or value is larger than the store takes.
    TooLarge,
    /// No cache could answer (a proxy whose upstreams are down).
    Unavailable,
}
