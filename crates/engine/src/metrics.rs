//! The server's Prometheus metrics.
//!
//! The event loop counts in plain integers (the sans-IO [`OpStats`] and the
//! store's own stats) and publishes the changes here on every tick, so the
//! request path pays nothing for metrics but one histogram observation. A
//! scrape therefore lags by at most one tick (500 ms).

use std::sync::Arc;

use dc_metrics::{counter, exponential_buckets, Count, Family, Gauge, Histogram, Labels, Registry};
use dc_ops::{OpKind, Protocol};
use dc_protocol::{Operation, Status};
use dc_store::{Limits, StoreStats};

use crate::execute::{ExecStats, Outcome};
use crate::stats::{OpStats, STATUSES};

/// Why a connection was not kept.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Refusal {
    /// The connection limit was reached.
    Limit,
    /// The connection was idle too long.
    Idle,
    /// It broke the protocol.
    Protocol,
    /// Its TLS handshake failed.
    Tls,
}

/// Metrics of one server. Each worker thread holds a clone: the counters
/// are shared, what each clone has published is its own.
#[derive(Clone)]
pub struct ServerMetrics {
    registry: Arc<Registry>,
    operations: Vec<Vec<Count>>,
    published: OpStats,
    sessions: Gauge,
    session_bytes: Gauge,
    sessions_limit: Gauge,
    session_bytes_limit: Gauge,
    connections_limit: Gauge,
    expirations: Count,
    evictions: Count,
    store_published: StoreStats,
    connections_open: Gauge,
    pub(crate) connections_accepted: Count,
    closed: Family<Labels, Count>,
    pub(crate) throttled: Count,
    pub(crate) accept_errors: Count,
    pub(crate) evicted: Count,
    pub(crate) request_seconds: Histogram,
    /// Requests per protocol (`distcache_requests_total{protocol}`).
    requests: Vec<Count>,
    /// Store operations by protocol, operation and result, created as they
    /// first happen (most combinations never do).
    store_ops: Family<Labels, Count>,
    store_op_counters: Vec<Option<Count>>,
    ttl_clamps: Count,
    exec_published: ExecStats,
    /// Server-wide totals for `INFO` and the activity line (not exported:
    /// the labelled series above hold the same counts).
    hits: Count,
    misses: Count,
    stores: Count,
    refused_total: Count,
}

/// The label value for an answer: GETs are hits and misses.
fn result_label(operation: Operation, status: Status) -> String {
    match (operation, status) {
        (Operation::Get, Status::Ok) => "hit".into(),
        (Operation::Get, Status::NotOk) => "miss".into(),
        (_, status) => status.name().to_ascii_lowercase(),
    }
}

impl ServerMetrics {
    /// Registers every metric.
    pub fn new() -> ServerMetrics {
        let mut registry = Registry::with_prefix("distcache");
        let ops = Family::<Labels, Count>::default();
        registry.register(
            "operations",
            "Requests answered, by command and result",
            ops.clone(),
        );
        let operations = Operation::ALL
            .iter()
            .map(|&op| {
                STATUSES
                    .iter()
                    .map(|&st| {
                        counter(
                            &ops,
                            &[
                                ("command", &op.name().to_ascii_lowercase()),
                                ("result", &result_label(op, st)),
                            ],
                        )
                    })
                    .collect()
            })
            .collect();
        let sessions = Gauge::default();
        registry.register("sessions", "Sessions stored", sessions.clone());
        let session_bytes = Gauge::default();
        registry.register(
            "session_bytes",
            "Bytes of session ids and data stored",
            session_bytes.clone(),
        );
        // The caps, so that a dashboard or an alert can compare the sizes
        // and connections against them without knowing the command line.
        let sessions_limit = Gauge::default();
        registry.register(
            "sessions_limit",
            "Most sessions held (-sessions); the ones due to expire soonest are evicted beyond",
            sessions_limit.clone(),
        );
        let session_bytes_limit = Gauge::default();
        registry.register(
            "session_bytes_limit",
            "Most bytes of session ids and data held (-memory)",
            session_bytes_limit.clone(),
        );
        let connections_limit = Gauge::default();
        registry.register(
            "connections_limit",
            "Most client connections served at once (-max-connections)",
            connections_limit.clone(),
        );
        let expirations = Count::default();
        registry.register(
            "expirations",
            "Sessions dropped because they expired",
            expirations.clone(),
        );
        let evictions = Count::default();
        registry.register(
            "evictions",
            "Sessions pushed out to make room",
            evictions.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "connections_open",
            "Client connections open",
            connections_open.clone(),
        );
        let connections_accepted = Count::default();
        registry.register(
            "connections_accepted",
            "Client connections accepted",
            connections_accepted.clone(),
        );
        let closed = Family::<Labels, Count>::default();
        registry.register(
            "connections_refused",
            "Client connections refused or cut off, by reason (limit, idle, protocol, tls)",
            closed.clone(),
        );
        let throttled = Count::default();
        registry.register(
            "throttled",
            "Times a client's unread answers reached the buffer limit and its requests were held back",
            throttled.clone(),
        );
        let accept_errors = Count::default();
        registry.register(
            "accept_errors",
            "Failed accepts (e.g. out of file descriptors)",
            accept_errors.clone(),
        );
        let evicted = Count::default();
        registry.register(
            "connections_evicted",
            "Idle client connections closed to make room for a new one when the table was full",
            evicted.clone(),
        );
        let request_seconds = Histogram::new(exponential_buckets(0.000_005, 2.0, 18));
        registry.register(
            "request_duration_seconds",
            "Time from reading a request to handing its answer to the socket",
            request_seconds.clone(),
        );
        let requests_family = Family::<Labels, Count>::default();
        registry.register(
            "requests",
            "Requests answered, by protocol (a request may run several store operations, or none)",
            requests_family.clone(),
        );
        let requests = Protocol::ALL
            .iter()
            .map(|p| counter(&requests_family, &[("protocol", p.name())]))
            .collect();
        let store_ops = Family::<Labels, Count>::default();
        registry.register(
            "store_operations",
            "Operations run on the store, by protocol, operation and result",
            store_ops.clone(),
        );
        let ttl_clamps = Count::default();
        registry.register(
            "ttl_clamped",
            "Lifetimes cut down to -max-ttl (including entries stored with none)",
            ttl_clamps.clone(),
        );
        ServerMetrics {
            requests,
            store_ops,
            store_op_counters: vec![
                None;
                Protocol::ALL.len() * OpKind::ALL.len() * Outcome::ALL.len()
            ],
            ttl_clamps,
            exec_published: ExecStats::default(),
            hits: Count::default(),
            misses: Count::default(),
            stores: Count::default(),
            refused_total: Count::default(),
            registry: Arc::new(registry),
            operations,
            published: OpStats::default(),
            sessions,
            session_bytes,
            sessions_limit,
            session_bytes_limit,
            connections_limit,
            expirations,
            evictions,
            store_published: StoreStats::default(),
            connections_open,
            connections_accepted,
            closed,
            throttled,
            accept_errors,
            evicted,
            request_seconds,
        }
    }

    /// The registry, for the HTTP exporter.
    pub fn registry(&self) -> Arc<Registry> {
        Arc::clone(&self.registry)
    }

    /// Publishes the caps the server runs with (once, at start-up).
    pub(crate) fn set_limits(&self, limits: &Limits, max_connections: usize) {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.sessions_limit.set(gauge(limits.max_sessions));
        self.session_bytes_limit.set(gauge(limits.max_bytes));
        self.connections_limit.set(gauge(max_connections));
    }

    pub(crate) fn refused(&self, why: Refusal) {
        let reason = match why {
            Refusal::Limit => "limit",
            Refusal::Idle => "idle",
            Refusal::Protocol => "protocol",
            Refusal::Tls => "tls",
        };
        counter(&self.closed, &[("reason", reason)]).inc();
        self.refused_total.inc();
    }

    /// Connections refused or cut off since start, for every reason.
    pub(crate) fn refused_total(&self) -> u64 {
        self.refused_total.get()
    }

    /// Publishes the executor's counts since the last call (one worker's).
    pub(crate) fn publish_exec(&mut self, stats: &ExecStats) {
        let before = &self.exec_published;
        for (p, count) in stats.requests.iter().enumerate() {
            let delta = count - before.requests[p];
            if delta > 0 {
                self.requests[p].inc_by(delta);
            }
        }
        for (p, &protocol) in Protocol::ALL.iter().enumerate() {
            for (k, &kind) in OpKind::ALL.iter().enumerate() {
                for (o, &outcome) in Outcome::ALL.iter().enumerate() {
                    let delta = stats.ops[p][k][o] - before.ops[p][k][o];
                    if delta == 0 {
                        continue;
                    }
                    let slot = (p * OpKind::ALL.len() + k) * Outcome::ALL.len() + o;
                    let series = self.store_op_counters[slot].get_or_insert_with(|| {
                        counter(
                            &self.store_ops,
                            &[
                                ("protocol", protocol.name()),
                                ("operation", kind.name()),
                                ("result", outcome.name()),
                            ],
                        )
                    });
                    series.inc_by(delta);
                    match (kind, outcome) {
                        (OpKind::Get, Outcome::Hit) => self.hits.inc_by(delta),
                        (OpKind::Get, Outcome::Miss) => self.misses.inc_by(delta),
                        (OpKind::Store, Outcome::Stored) => self.stores.inc_by(delta),
                        _ => 0,
                    };
                }
            }
        }
        self.ttl_clamps.inc_by(stats.ttl_clamps - before.ttl_clamps);
        self.exec_published = stats.clone();
    }

    /// Requests answered by every worker over every protocol, as
    /// published so far.
    pub(crate) fn requests_total(&self) -> u64 {
        self.requests.iter().map(Count::get).sum()
    }

    /// GET hits and misses over every protocol, as published so far.
    pub(crate) fn get_outcomes(&self) -> (u64, u64) {
        (self.hits.get(), self.misses.get())
    }

    /// Values stored over every protocol, as published so far.
    pub(crate) fn stores_total(&self) -> u64 {
        self.stores.get()
    }

    /// The activity line's tail when other protocols than distcache were
    /// spoken: `, redis = N, memcache = M` (empty otherwise, so a
    /// distcache-only server prints the original's line).
    pub(crate) fn by_protocol(&self) -> String {
        let counts: Vec<(Protocol, u64)> = Protocol::ALL
            .iter()
            .zip(&self.requests)
            .map(|(&p, c)| (p, c.get()))
            .collect();
        if counts
            .iter()
            .all(|&(p, n)| p == Protocol::Distcache || n == 0)
        {
            return String::new();
        }
        counts.iter().map(|(p, n)| format!(", {p} = {n}")).collect()
    }

    /// Publishes the requests answered since the last call (one worker's
    /// counts: every worker publishes its own).
    pub(crate) fn publish_ops(&mut self, ops: &OpStats) {
        for (op, row) in ops.answers.iter().enumerate() {
            for (slot, &count) in row.iter().enumerate() {
                let delta = count - self.published.answers[op][slot];
                if delta > 0 {
                    self.operations[op][slot].inc_by(delta);
                }
            }
        }
        self.published = ops.clone();
    }

    /// Publishes the store's size and counters and the connections open
    /// (server-wide figures: one worker publishes them).
    pub(crate) fn publish_store(&mut self, store: &StoreStats, connections: usize) {
        self.sessions
            .set(i64::try_from(store.sessions).unwrap_or(i64::MAX));
        self.session_bytes
            .set(i64::try_from(store.bytes).unwrap_or(i64::MAX));
        self.expirations.inc_by(
            store
                .expirations
                .saturating_sub(self.store_published.expirations),
        );
        self.evictions.inc_by(
            store
                .evictions
                .saturating_sub(self.store_published.evictions),
        );
        self.store_published = *store;
        self.connections_open
            .set(i64::try_from(connections).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
impl ServerMetrics {
    /// The distcache requests answered by every worker, as published so far.
    pub(crate) fn answered(&self) -> OpStats {
        let mut stats = OpStats::default();
        for (op, row) in self.operations.iter().enumerate() {
            for (slot, counter) in row.iter().enumerate() {
                stats.answers[op][slot] = counter.get();
                stats.operations += counter.get();
            }
        }
        stats
    }
}

impl Default for ServerMetrics {
    fn default() -> Self {
        ServerMetrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_deltas_under_stable_names() {
        let mut m = ServerMetrics::new();
        let mut ops = OpStats::default();
        ops.count(Operation::Get, Status::Ok);
        ops.count(Operation::Get, Status::NotOk);
        ops.count(Operation::Add, Status::AddMatchingSession);
        let store = StoreStats {
            sessions: 3,
            bytes: 120,
            evictions: 2,
            expirations: 1,
        };
        m.set_limits(&Limits::new(1000, 1 << 20).unwrap(), 64);
        m.publish_ops(&ops);
        m.publish_store(&store, 4);
        m.publish_ops(&ops); // nothing new: nothing added twice
        m.publish_store(&store, 4);
        // A second worker's clone shares the counters, not the bookkeeping.
        let mut other = m.clone();
        other.published = OpStats::default();
        let mut theirs = OpStats::default();
        theirs.count(Operation::Get, Status::Ok);
        other.publish_ops(&theirs);
        assert_eq!(m.answered().of(Operation::Get).ok, 2);
        assert_eq!(m.answered().operations, 4);
        let text = dc_metrics::render(&m.registry());
        for line in [
            r#"distcache_operations_total{command="get",result="hit"} 2"#,
            r#"distcache_operations_total{command="get",result="miss"} 1"#,
            r#"distcache_operations_total{command="add",result="matching_session"} 1"#,
            "distcache_sessions 3",
            "distcache_session_bytes 120",
            "distcache_evictions_total 2",
            "distcache_expirations_total 1",
            "distcache_connections_open 4",
            "distcache_sessions_limit 1000",
            "distcache_session_bytes_limit 1048576",
            "distcache_connections_limit 64",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
    }
}
