//! Numbers as the chart writes them. (dc_test's `-plot` writes them the
//! same way; the two tools share no library, and these few lines are not
//! worth one.)

/// 950, 15.2k, 183k, 1.2M.
pub fn rate(rate: f64) -> String {
    if rate < 1e3 {
        short(rate)
    } else if rate < 1e6 {
        format!("{}k", short(rate / 1e3))
    } else {
        format!("{}M", short(rate / 1e6))
    }
}

/// 850 µs, 1.5 ms, 12 ms, 2.5 s.
pub fn micros(us: f64) -> String {
    let (value, unit) = if us < 1e3 {
        (us, "µs")
    } else if us < 1e6 {
        (us / 1e3, "ms")
    } else {
        (us / 1e6, "s")
    };
    format!("{} {unit}", short(value))
}

/// Three significant digits at most, no trailing zeros: 1.5, 15.2, 183.
pub fn short(v: f64) -> String {
    let text = if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Ticks for a log axis from `low` to `high`: 1, 2, 5 times the powers of
/// ten in the range, or the powers of ten alone when that would crowd it.
pub fn log_ticks(low: f64, high: f64) -> Vec<f64> {
    let ticks = |mantissas: &[f64]| -> Vec<f64> {
        let first = low.log10().floor() as i32;
        let last = high.log10().ceil() as i32;
        (first..=last)
            .flat_map(|e| mantissas.iter().map(move |m| m * 10f64.powi(e)))
            .filter(|v| (low..=high).contains(v))
            .collect()
    };
    let dense = ticks(&[1.0, 2.0, 5.0]);
    if dense.len() > 12 {
        ticks(&[1.0])
    } else {
        dense
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(rate(948_066.0), "948k");
        assert_eq!(rate(15_236.0), "15.2k");
        assert_eq!(rate(1_611_925.0), "1.61M");
        assert_eq!(micros(425.0), "425 µs");
        assert_eq!(micros(13_800.0), "13.8 ms");
        assert_eq!(log_ticks(1e3, 1e4), [1e3, 2e3, 5e3, 1e4]);
        assert_eq!(log_ticks(1e3, 1e8).len(), 6);
    }
}
