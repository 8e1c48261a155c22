//! The typed requests both wires parse into.
//!
//! One model, two encodings: `text::parse` and `binary::parse` both yield a
//! [`Request`], borrowing keys and values from the input (no copy, no
//! allocation), and the server maps it onto [`dc_ops::Op`]s the same way
//! whichever wire it came from. What only one wire can say stays in that
//! wire's parse result (the binary opcode and opaque to echo, the text
//! protocol's refusals).
//!
//! | request   | text                                   | binary                        |
//! |-----------|----------------------------------------|-------------------------------|
//! | `Get`     | `get`/`gets <key>...`                  | GET, GETQ, GETK, GETKQ        |
//! | `Store`   | `set`/`add`/`replace`                  | SET, ADD, REPLACE (+Q)        |
//! | `Delete`  | `delete <key> [0] [noreply]`           | DELETE, DELETEQ               |
//! | `Counter` | `incr`/`decr <key> <delta>`            | INCREMENT, DECREMENT (+Q)     |
//! | `Touch`   | `touch <key> <exptime>`                | TOUCH                         |
//! | `Stats`   | `stats`                                | STAT                          |
//! | `Version` | `version`                              | VERSION                       |
//! | `Noop`    | —                                      | NOOP                          |
//! | `Quit`    | `quit`                                 | QUIT, QUITQ                   |

use dc_ops::StoreMode;

/// The keys of a get: one binary-safe key (the binary wire), or the rest
/// of a text `get` line, split on spaces when iterated (so a multi-key get
/// needs no list). A binary key is never split: ProFTPD's TPL keys hold
/// any byte, spaces included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keys<'a> {
    bytes: &'a [u8],
    line: bool,
}

impl<'a> Keys<'a> {
    /// One key, whatever bytes it holds (the binary wire's gets).
    pub fn one(key: &'a [u8]) -> Keys<'a> {
        Keys {
            bytes: key,
            line: false,
        }
    }

    /// The keys of a text command line: words separated by spaces.
    pub(crate) fn line(line: &'a [u8]) -> Keys<'a> {
        Keys {
            bytes: line,
            line: true,
        }
    }

    /// The keys, in request order.
    pub fn iter(&self) -> KeysIter<'a> {
        KeysIter {
            rest: self.bytes,
            line: self.line,
            done: false,
        }
    }
}

/// The keys of a [`Keys`], in order.
#[derive(Debug, Clone)]
pub struct KeysIter<'a> {
    rest: &'a [u8],
    line: bool,
    done: bool,
}

impl<'a> Iterator for KeysIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.done {
            return None;
        }
        if !self.line {
            self.done = true;
            return Some(self.rest);
        }
        let start = self.rest.iter().position(|&b| b != b' ')?;
        let word = &self.rest[start..];
        let end = word.iter().position(|&b| b == b' ').unwrap_or(word.len());
        self.rest = &word[end..];
        Some(&word[..end])
    }
}

/// A memcache request, as either wire states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// Read values. Binary gets carry one key; text ones one or more.
    Get {
        /// The keys.
        keys: Keys<'a>,
        /// `gets`: the text reply adds a cas field.
        cas: bool,
    },
    /// Store a value.
    Store {
        /// `set`, `add` or `replace`.
        mode: StoreMode,
        /// The key.
        key: &'a [u8],
        /// Opaque flags, stored and echoed.
        flags: u32,
        /// memcached's exptime (see [`dc_ops::Ttl::memcache`]).
        exptime: i64,
        /// The value.
        value: &'a [u8],
    },
    /// Remove a key.
    Delete {
        /// The key.
        key: &'a [u8],
    },
    /// Add to or subtract from a decimal counter.
    Counter {
        /// The key.
        key: &'a [u8],
        /// `decr` / DECREMENT.
        decrement: bool,
        /// By how much.
        delta: u64,
        /// Binary only: create a missing key with this value and exptime.
        create: Option<(u64, i64)>,
    },
    /// Give a key a new lifetime.
    Touch {
        /// The key.
        key: &'a [u8],
        /// memcached's exptime.
        exptime: i64,
    },
    /// The server's statistics (an empty group: the general ones).
    Stats {
        /// The statistics group asked for (binary STAT's key).
        group: &'a [u8],
    },
    /// The server's version.
    Version,
    /// Nothing (binary NOOP: answered, ends a batch of quiet requests).
    Noop,
    /// Close the connection.
    Quit,
}
