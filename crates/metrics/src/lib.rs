//! Prometheus metrics for the distcache daemons.
//!
//! The metric types come from `prometheus-client` (its text encoding is the
//! exposition format Prometheus scrapes); [`Exporter`] serves them over HTTP
//! with `tiny_http` on a thread of its own, so a scrape never stalls the
//! event loop. Daemons resolve every labelled counter they update on a hot
//! path once, at start-up ([`counter`]), so counting a request is one atomic
//! add.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod exporter;
mod rate;

use prometheus_client::metrics::counter::Counter;

pub use exporter::{parse_address, Exporter, ExporterError};
pub use prometheus_client::metrics::family::Family;
pub use prometheus_client::metrics::gauge::Gauge;
pub use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
pub use prometheus_client::registry::Registry;
pub use rate::RateLimitedLog;

/// A monotonically increasing count.
pub type Count = Counter;

/// Labels as (name, value) pairs.
pub type Labels = Vec<(&'static str, String)>;

/// The counter of `family` for `labels`, created if needed. Keep the handle:
/// it shares the family's storage, and updating it takes no lock.
pub fn counter(family: &Family<Labels, Counter>, labels: &[(&'static str, &str)]) -> Counter {
    let labels: Labels = labels.iter().map(|&(k, v)| (k, v.to_string())).collect();
    family.get_or_create(&labels).clone()
}

/// Renders `registry` in the Prometheus text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}
