//! The text wire: lines of space-separated tokens ending in `\r\n` (a bare
//! `\n` is taken too), storage commands followed by a data block.
//!
//! ```text
//!   set mod_ssl-sess:ab12... 0 299 1234 \r\n      <- tokens split on one or more
//!   ^cmd ^key               ^flags ^exptime ^bytes   spaces; trailing space is fine
//!   <1234 bytes of data>\r\n                       <- exactly <bytes>, then CRLF
//!
//!   STORED\r\n
//!
//!   get k1 k2\r\n
//!   VALUE k1 0 5\r\n       (gets: VALUE k1 0 5 0 — we keep no CAS, it is 0)
//!   hello\r\n
//!   END\r\n
//! ```
//!
//! [`parse()`] reads one request from the front of the input; [`compose`]
//! writes responses. [`TextClient`](crate::TextClient) is the other side.

pub mod compose;
pub mod parse;

pub use parse::{parse, Parsed, Refusal, MAX_GET_LINE_LEN, MAX_LINE_LEN};

/// memcached's `safe_strtoull`: an optional sign and decimal digits within
/// `u64`; a `-` is taken only when the result still reads as a
/// non-negative `i64` (so `-0` is 0 and `-1` is refused).
pub(crate) fn strtoull(token: &[u8]) -> Option<u64> {
    let (negative, digits) = match token.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, token),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    if negative {
        n = n.wrapping_neg();
        if (n as i64) < 0 {
            return None;
        }
    }
    Some(n)
}

/// memcached's `safe_strtoul` into a `uint32_t`: [`strtoull`], truncated to
/// 32 bits as memcached's assignment does (flags `4294967296` store as 0).
pub(crate) fn strtoul32(token: &[u8]) -> Option<u32> {
    strtoull(token).map(|n| n as u32)
}

/// memcached's `safe_strtol` into an `int32_t`: a signed decimal within
/// `i64`, refused above `i32::MAX`, truncated to 32 bits below `i32::MIN`
/// as memcached's assignment does.
pub(crate) fn strtol32(token: &[u8]) -> Option<i32> {
    let (negative, digits) = match token.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, token),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    let n = if negative { -n } else { n };
    if n > i64::from(i32::MAX) {
        return None;
    }
    Some(n as i32)
}

/// Whether `key` may travel on the text wire: 1 to 250 bytes, no space and
/// no control character (memcached checks only the length; a control
/// character in a key is refused here on purpose).
pub fn valid_text_key(key: &[u8]) -> bool {
    !key.is_empty()
        && key.len() <= dc_ops::MAX_KEY_LEN
        && key.iter().all(|&b| b > b' ' && b != 0x7f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_memcached() {
        assert_eq!(strtoull(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(strtoull(b"18446744073709551616"), None);
        assert_eq!(strtoull(b"+2"), Some(2));
        assert_eq!(strtoull(b"-0"), Some(0));
        assert_eq!(strtoull(b"-1"), None);
        assert_eq!(strtoull(b""), None);
        assert_eq!(strtoull(b"1x"), None);
        assert_eq!(strtoul32(b"4294967296"), Some(0));
        assert_eq!(strtol32(b"-1"), Some(-1));
        assert_eq!(strtol32(b"2147483648"), None);
        assert_eq!(strtol32(b"abc"), None);
        assert!(valid_text_key(b"mod_ssl-sess:ab"));
        assert!(!valid_text_key(b"a\x01b"));
        assert!(!valid_text_key(&[b'a'; 251]));
    }
}
