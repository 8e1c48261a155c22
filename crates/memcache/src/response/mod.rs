//! The typed responses both wires compose from, and the statistics list.
//!
//! | response      | text                                          | binary (status, body)               |
//! |---------------|-----------------------------------------------|-------------------------------------|
//! | `Hit`         | `VALUE <key> <flags> <bytes>[ <cas>]` + data  | 0x0000, extras = flags, (key), value|
//! | `End`         | `END`                                         | —                                   |
//! | `Miss`        | —                                             | 0x0001 `Not found` (GETK: the key)  |
//! | `Stored`      | `STORED`                                      | 0x0000                              |
//! | `NotStored`   | `NOT_STORED`                                  | 0x0005 `Not stored.`                |
//! | `Exists`      | `EXISTS`                                      | 0x0002 `Data exists for key.`       |
//! | `NotFound`    | `NOT_FOUND`                                   | 0x0001 `Not found`                  |
//! | `Deleted`     | `DELETED`                                     | 0x0000                              |
//! | `Touched`     | `TOUCHED`                                     | 0x0000, extras = flags              |
//! | `Number`      | `<n>`                                         | 0x0000, body = u64 BE               |
//! | `NonNumeric`  | `CLIENT_ERROR cannot increment or decrement non-numeric value` | 0x0006 `Non-numeric server-side value for incr or decr` |
//! | `TooLarge`    | `SERVER_ERROR object too large for cache`     | 0x0003 `Too large.`                 |
//! | `Version`     | `VERSION 1.6.0`                               | 0x0000, body `1.6.0`                |
//! | `Stat`        | `STAT <name> <value>`                         | 0x0000, key = name, body = value    |
//! | `StatsEnd`    | `END`                                         | 0x0000, empty                       |
//! | `Ok`          | —                                             | 0x0000, empty (NOOP, QUIT)          |
//! | `Unknown`     | `ERROR`                                       | 0x0081 `Unknown command`            |
//! | `Invalid`     | —                                             | 0x0004 `Invalid arguments`          |
//! | `ClientError` | `CLIENT_ERROR <text>`                         | —                                   |
//! | `Unavailable` | `SERVER_ERROR temporarily unavailable`        | 0x0086 `Temporary failure`          |

use dc_ops::ServerInfo;

/// The version this server reports (`version`, VERSION, `STAT version`).
/// libmemcached needs a numeric `major.minor.micro` with a major of 1 to
/// 255, so this is memcached-like rather than our crate's version.
pub const VERSION: &str = "1.6.0";

/// A memcache response, as either wire states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response<'a> {
    /// A value found.
    Hit {
        /// Its key.
        key: &'a [u8],
        /// Its flags.
        flags: u32,
        /// The value.
        data: &'a [u8],
    },
    /// Text: the end of a get's values.
    End,
    /// Binary: a get that found nothing.
    Miss {
        /// The key asked for (GETK echoes it).
        key: &'a [u8],
    },
    /// Stored.
    Stored,
    /// Not stored.
    NotStored,
    /// `add` on a key that holds a value (binary).
    Exists,
    /// The key holds nothing.
    NotFound,
    /// Removed.
    Deleted,
    /// The lifetime changed (binary carries the flags, as memcached does).
    Touched {
        /// The entry's flags.
        flags: u32,
    },
    /// A counter's new value.
    Number(u64),
    /// The value under a counter's key is not a number.
    NonNumeric,
    /// The value is over [`dc_ops::MAX_VALUE_LEN`].
    TooLarge,
    /// The version, [`VERSION`].
    Version,
    /// One statistic.
    Stat {
        /// Its name.
        name: &'a str,
        /// Its value.
        value: StatValue<'a>,
    },
    /// The end of the statistics.
    StatsEnd,
    /// Binary success with nothing to say (NOOP, QUIT).
    Ok,
    /// A command the server does not know.
    Unknown,
    /// Binary: a header whose lengths do not fit its command.
    Invalid,
    /// Text: a request refused with memcached's words.
    ClientError(&'static str),
    /// No cache could answer (a proxy whose upstreams are down).
    Unavailable,
}

/// The value of one statistic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatValue<'a> {
    /// A count.
    Count(u64),
    /// Text.
    Text(&'a str),
    /// CPU time given in microseconds, printed as seconds (`0.007290`).
    Seconds(u64),
}

/// Calls `each` with the statistics Apache's `mod_status` page reads, in
/// memcached's order, from `info`. Counts we do not keep are 0.
pub fn for_each_stat(info: &ServerInfo, mut each: impl FnMut(&'static str, StatValue<'_>)) {
    use StatValue::{Count, Seconds, Text};
    each("pid", Count(info.pid.into()));
    each("uptime", Count(info.uptime_secs));
    each("time", Count(info.unix_time));
    each("version", Text(VERSION));
    each("pointer_size", Count(usize::BITS.into()));
    each("rusage_user", Seconds(info.cpu_user_us));
    each("rusage_system", Seconds(info.cpu_system_us));
    each("curr_items", Count(info.items));
    each("total_items", Count(info.stores));
    each("bytes", Count(info.bytes));
    each("curr_connections", Count(info.connections));
    each("total_connections", Count(info.connections_total));
    each("connection_structures", Count(info.connections));
    each("cmd_get", Count(info.hits + info.misses));
    each("cmd_set", Count(info.stores));
    each("get_hits", Count(info.hits));
    each("get_misses", Count(info.misses));
    each("evictions", Count(info.evictions));
    each("bytes_read", Count(0));
    each("bytes_written", Count(0));
    each("limit_maxbytes", Count(info.max_bytes));
    each("threads", Count(info.threads.into()));
}

pub(crate) use dc_ops::number::write_u64;

impl StatValue<'_> {
    /// Appends the value as memcached prints it.
    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        match *self {
            StatValue::Count(n) => write_u64(out, n),
            StatValue::Text(t) => out.extend_from_slice(t.as_bytes()),
            StatValue::Seconds(us) => {
                write_u64(out, us / 1_000_000);
                out.push(b'.');
                let frac = us % 1_000_000;
                let start = out.len();
                write_u64(out, frac);
                let digits = out.len() - start;
                // Zero-pad the fraction to six digits, as "%06ld" does.
                for _ in digits..6 {
                    out.insert(start, b'0');
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_memcached_prints_them() {
        let mut out = Vec::new();
        write_u64(&mut out, 0);
        out.push(b' ');
        write_u64(&mut out, u64::MAX);
        out.push(b' ');
        StatValue::Seconds(7_290).write(&mut out);
        out.push(b' ');
        StatValue::Seconds(12_345_678).write(&mut out);
        assert_eq!(out, b"0 18446744073709551615 0.007290 12.345678");
    }
}
