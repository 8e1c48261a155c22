//! Decimal numbers as Redis reads and writes them.

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
