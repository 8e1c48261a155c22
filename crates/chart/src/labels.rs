//! Numbers as the charts write them, and the ticks of their log axes.

/// A log axis's bounds around `values` (µs), with some room, never empty.
pub fn log_bounds(values: impl Iterator<Item = u64>) -> (f64, f64) {
    let (low, high) = values.fold((u64::MAX, 0), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if high == 0 {
        return (1.0, 1000.0);
    }
    let low = (low.max(1) as f64 / 1.6).max(0.5);
    let high = (high as f64 * 1.6).max(low * 10.0);
    (low, high)
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
    if dense.len() > 10 {
        ticks(&[1.0])
    } else {
        dense
    }
}

/// 850 µs, 1.5 ms, 12 ms, 2.5 s.
pub fn us_label(us: f64) -> String {
    let (value, unit) = if us < 1e3 {
        (us, "µs")
    } else if us < 1e6 {
        (us / 1e3, "ms")
    } else {
        (us / 1e6, "s")
    };
    format!("{} {unit}", short(value))
}

/// 950, 15.2k, 183k, 1.2M.
pub fn rate_label(rate: f64) -> String {
    if rate < 1e3 {
        short(rate)
    } else if rate < 1e6 {
        format!("{}k", short(rate / 1e3))
    } else {
        format!("{}M", short(rate / 1e6))
    }
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

/// A slice's width: 33.3 ms, 2 s.
pub fn seconds_label(s: f64) -> String {
    if s >= 1.0 {
        format!("{} s", short(s))
    } else {
        format!("{} ms", short(s * 1e3))
    }
}

/// Seconds on the time axis: 0, 0.5, 1.
pub fn seconds_axis(s: f64) -> String {
    short(s)
}

/// 0 nines: 0%, 1: 90%, 2: 99%, 3: 99.9%...
pub fn nines_label(nines: f64) -> String {
    let n = nines.round() as i32;
    match n {
        i32::MIN..=0 => "0%".to_string(),
        1 => "90%".to_string(),
        2 => "99%".to_string(),
        n => format!("99.{}%", "9".repeat((n - 2) as usize)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(us_label(850.0), "850 µs");
        assert_eq!(us_label(1500.0), "1.5 ms");
        assert_eq!(us_label(12_000.0), "12 ms");
        assert_eq!(us_label(2_500_000.0), "2.5 s");
        assert_eq!(rate_label(182_591.0), "183k");
        assert_eq!(rate_label(15_236.0), "15.2k");
        assert_eq!(rate_label(1_200_000.0), "1.2M");
        assert_eq!(rate_label(0.0), "0");
        assert_eq!(nines_label(0.0), "0%");
        assert_eq!(nines_label(1.0), "90%");
        assert_eq!(nines_label(4.0), "99.99%");
        assert_eq!(
            log_ticks(60.0, 2000.0),
            [100.0, 200.0, 500.0, 1000.0, 2000.0]
        );
        assert_eq!(log_ticks(1.0, 1e7).len(), 8);
        assert_eq!(log_ticks(1e3, 1e4), [1e3, 2e3, 5e3, 1e4]);
        assert_eq!(rate_label(948_066.0), "948k");
        assert_eq!(rate_label(1_611_925.0), "1.61M");
    }
}
