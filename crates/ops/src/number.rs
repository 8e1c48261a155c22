//! Decimal numbers as the protocols read and write them: Redis's strict
//! integers, memcached's counters, and formatting without allocation.
//! Shared by the codecs and the executor, so a counter means one thing.

/// Redis's `string2ll`: an optional `-`, then decimal digits with no
/// leading zero (`0` itself excepted), no `+`, no spaces, within `i64`.
/// Every numeric argument and every `*`/`$` length goes through it, so
/// `$04` and `*+1` are refused exactly as Redis refuses them.
pub fn parse_i64(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    match digits {
        [] => return None,
        [b'0'] if !negative => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    // Accumulate negatively so that i64::MIN fits.
    let mut value: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_sub(i64::from(b - b'0'))?;
    }
    if negative {
        Some(value)
    } else {
        value.checked_neg()
    }
}

/// Appends `n` in decimal.
pub fn write_i64(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(format_i64(n, &mut [0; 20]));
}

/// Appends `n` in decimal.
pub fn write_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(format_u64(n, &mut [0; 20]));
}

/// `n` in decimal, written at the end of `buf`.
pub fn format_i64(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let at = digits(n.unsigned_abs(), buf);
    if n < 0 {
        // 19 digits at most for |i64|, so there is room for the sign.
        buf[at - 1] = b'-';
        return &buf[at - 1..];
    }
    &buf[at..]
}

/// `n` in decimal, written at the end of `buf`.
pub fn format_u64(n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let at = digits(n, buf);
    &buf[at..]
}

fn digits(mut n: u64, buf: &mut [u8; 20]) -> usize {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return at;
        }
    }
}

/// memcached's counter rule: decimal digits, then optionally the spaces it
/// pads a shrunken counter with, within `u64`.
pub fn parse_memcache_counter(text: &[u8]) -> Option<u64> {
    let end = text.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    let digits = &text[..end];
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut value: u64 = 0;
    for &b in digits {
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(value)
}

/// The text memcached leaves after a counter changes: the new number,
/// padded with spaces to the old length when it got shorter (memcached
/// rewrites the value in place).
pub fn memcache_counter_text(value: u64, old_len: usize) -> Vec<u8> {
    let mut buf = [0; 20];
    let mut text = format_u64(value, &mut buf).to_vec();
    if text.len() < old_len {
        text.resize(old_len, b' ');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_follow_string2ll() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-12"), Some(-12));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1.5",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"99999999999999999999",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn memcache_counters_allow_the_padding_memcached_leaves() {
        assert_eq!(parse_memcache_counter(b"10  "), Some(10));
        assert_eq!(
            parse_memcache_counter(b"18446744073709551615"),
            Some(u64::MAX)
        );
        for bad in [
            &b"-1"[..],
            b"",
            b" 1",
            b"1 2",
            b"18446744073709551616",
            b"1.0",
        ] {
            assert_eq!(parse_memcache_counter(bad), None, "{bad:?}");
        }
        assert_eq!(memcache_counter_text(9, 2), b"9 ");
        assert_eq!(memcache_counter_text(100, 2), b"100");
    }

    #[test]
    fn decimals_print() {
        let mut out = Vec::new();
        for n in [0, 7, -7, i64::MAX, i64::MIN] {
            out.clear();
            write_i64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
        out.clear();
        write_u64(&mut out, u64::MAX);
        assert_eq!(out, u64::MAX.to_string().as_bytes());
    }
}
