//! dc_client's Prometheus metrics, under the server's prefix with
//! `client_` after it (`distcache_client_...`).
//!
//! As in the server, the multiplexer counts in plain integers ([`Stats`])
//! and the driver publishes the changes here on every tick, so the request
//! path pays for metrics only with one histogram observation per answer. A
//! scrape lags by at most one tick ([`TICK`](crate::driver::TICK)).

use std::sync::Arc;

use crate::error::LossReason;
use crate::link::LinkStats;
use crate::stats::{Outcome, Stats};
use dc_metrics::{counter, exponential_buckets, Count, Family, Gauge, Histogram, Labels, Registry};
use dc_protocol::Operation;

/// Metrics of one proxy.
pub struct ProxyMetrics {
    registry: Arc<Registry>,
    /// Indexed like [`Stats::outcomes`].
    requests: Vec<Vec<Count>>,
    published: Stats,
    upstream_up: Gauge,
    connect_attempts: Count,
    reconnects: Count,
    /// Indexed like [`Stats::gave_up`].
    losses: Vec<Count>,
    in_flight: Gauge,
    upstream_full: Count,
    late_answers: Count,
    connections_open: Gauge,
    connections_accepted: Count,
    refused_limit: Count,
    refused_idle: Count,
    refused_protocol: Count,
    refused_not_reading: Count,
    evicted: Count,
    throttled: Count,
    pub(crate) accept_errors: Count,
    pub(crate) request_seconds: Histogram,
    pub(crate) upstream_seconds: Histogram,
    /// One per server of the pool, in the server list's order.
    servers: Vec<ServerMetrics>,
}

/// The metrics of one server of the pool, under its `server` label.
struct ServerMetrics {
    up: Gauge,
    requests: Count,
    failures: Count,
    reconnects: Count,
    seconds: Histogram,
    published: LinkStats,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_005, 2.0, 18))
}

impl std::fmt::Debug for ProxyMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyMetrics")
            .field("published", &self.published)
            .finish_non_exhaustive()
    }
}

/// What the driver knows that the counters do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Gauges {
    /// Local connections open.
    pub connections: usize,
    /// The server connection is usable.
    pub upstream_up: bool,
    /// Requests waiting for the server's answer.
    pub in_flight: usize,
}

fn count(registry: &mut Registry, name: &str, help: &str) -> Count {
    let c = Count::default();
    registry.register(name, help, c.clone());
    c
}

fn gauge(registry: &mut Registry, name: &str, help: &str) -> Gauge {
    let g = Gauge::default();
    registry.register(name, help, g.clone());
    g
}

fn as_gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl ProxyMetrics {
    /// Registers every metric, for a proxy to `servers` (their addresses,
    /// in the server list's order) taking up to `max_clients` local
    /// connections.
    pub fn new(servers: &[String], max_clients: usize) -> ProxyMetrics {
        let mut registry = Registry::with_prefix("distcache_client");
        // The server as a label of its own series (always 1), the usual
        // way to name what a process talks to: a dashboard joins it onto
        // upstream_up to show each node's server.
        let upstream = Family::<Labels, Gauge>::default();
        registry.register(
            "upstream_info",
            "Each cache server this proxy forwards to (-server), as the label server; always 1",
            upstream.clone(),
        );
        for server in servers {
            upstream
                .get_or_create(&vec![("server", server.clone())])
                .set(1);
        }
        let server_up = Family::<Labels, Gauge>::default();
        registry.register(
            "server_up",
            "1 while requests can be sent to this server of the pool, else 0",
            server_up.clone(),
        );
        let server_requests = Family::<Labels, Count>::default();
        registry.register(
            "server_requests",
            "Operations sent to this server of the pool",
            server_requests.clone(),
        );
        let server_failures = Family::<Labels, Count>::default();
        registry.register(
            "server_failures",
            "Operations that failed on this server (lost with its connection, unanswered \
             within -timeout, or not expressible in its dialect); each went on to the next \
             replica or failed",
            server_failures.clone(),
        );
        let server_reconnects = Family::<Labels, Count>::default();
        registry.register(
            "server_reconnects",
            "Connections to this server established after the first",
            server_reconnects.clone(),
        );
        let server_seconds =
            Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register(
            "server_request_duration_seconds",
            "Time from an operation being queued for this server to its answer read back",
            server_seconds.clone(),
        );
        let servers = servers
            .iter()
            .map(|server| {
                let labels: Labels = vec![("server", server.clone())];
                ServerMetrics {
                    up: server_up.get_or_create(&labels).clone(),
                    requests: server_requests.get_or_create(&labels).clone(),
                    failures: server_failures.get_or_create(&labels).clone(),
                    reconnects: server_reconnects.get_or_create(&labels).clone(),
                    seconds: server_seconds.get_or_create(&labels).clone(),
                    published: LinkStats::default(),
                }
            })
            .collect();
        gauge(
            &mut registry,
            "connections_limit",
            "Most local client connections at once (-max-clients, as fitted to the open-file limit)",
        )
        .set(as_gauge(max_clients));
        let family = Family::<Labels, Count>::default();
        registry.register(
            "requests",
            "Requests from local clients, by command and how they were answered \
             (the server's answer, or disconnected / refused here)",
            family.clone(),
        );
        let requests = Operation::ALL
            .iter()
            .map(|&op| {
                let command = op.name().to_ascii_lowercase();
                Outcome::ALL
                    .iter()
                    .map(|o| counter(&family, &[("command", &command), ("result", o.label())]))
                    .collect()
            })
            .collect();
        let upstream_up = gauge(
            &mut registry,
            "upstream_up",
            "1 while some server of the pool is usable, else 0",
        );
        let connect_attempts = count(
            &mut registry,
            "upstream_connect_attempts",
            "Attempts to connect to the server",
        );
        let reconnects = count(
            &mut registry,
            "upstream_reconnects",
            "Connections to the server established after the first",
        );
        let lost = Family::<Labels, Count>::default();
        registry.register(
            "upstream_losses",
            "Server connections and connect attempts given up, by reason",
            lost.clone(),
        );
        let losses = LossReason::ALL
            .iter()
            .map(|r| counter(&lost, &[("reason", r.label())]))
            .collect();
        let in_flight = gauge(
            &mut registry,
            "requests_in_flight",
            "Requests forwarded to the server and not answered yet",
        );
        let upstream_full = count(
            &mut registry,
            "upstream_queue_full",
            "Requests answered disconnected because the queue to the server was full",
        );
        let late_answers = count(
            &mut registry,
            "late_answers",
            "Answers from the server dropped because their client had left",
        );
        let connections_open = gauge(
            &mut registry,
            "connections_open",
            "Local client connections open",
        );
        let connections_accepted = count(
            &mut registry,
            "connections_accepted",
            "Local client connections accepted",
        );
        let refused = Family::<Labels, Count>::default();
        registry.register(
            "connections_refused",
            "Local client connections refused or closed, by reason \
             (limit, idle, protocol, not_reading)",
            refused.clone(),
        );
        let evicted = count(
            &mut registry,
            "connections_evicted",
            "Idle local client connections closed to make room for a new one at -max-clients",
        );
        let throttled = count(
            &mut registry,
            "throttled",
            "Times a local client's requests were left unread because it had too many \
             waiting or too many answers unread",
        );
        let accept_errors = count(
            &mut registry,
            "accept_errors",
            "Failed accepts (e.g. out of file descriptors)",
        );
        let request_seconds = Histogram::new(exponential_buckets(0.000_005, 2.0, 18));
        registry.register(
            "request_duration_seconds",
            "Time from a request being complete to its answer handed to the client's socket",
            request_seconds.clone(),
        );
        let upstream_seconds = Histogram::new(exponential_buckets(0.000_005, 2.0, 18));
        registry.register(
            "upstream_request_duration_seconds",
            "Time from a request being queued for the server to its answer read back \
             (the server's and the link's share of request_duration_seconds)",
            upstream_seconds.clone(),
        );
        ProxyMetrics {
            registry: Arc::new(registry),
            requests,
            published: Stats::default(),
            upstream_up,
            connect_attempts,
            reconnects,
            losses,
            in_flight,
            upstream_full,
            late_answers,
            connections_open,
            connections_accepted,
            refused_limit: counter(&refused, &[("reason", "limit")]),
            refused_idle: counter(&refused, &[("reason", "idle")]),
            refused_protocol: counter(&refused, &[("reason", "protocol")]),
            refused_not_reading: counter(&refused, &[("reason", "not_reading")]),
            evicted,
            throttled,
            accept_errors,
            request_seconds,
            upstream_seconds,
            servers,
        }
    }

    /// Server `index`'s latency histogram.
    pub(crate) fn server_seconds(&self, index: usize) -> Option<&Histogram> {
        self.servers.get(index).map(|s| &s.seconds)
    }

    /// The registry, for the HTTP exporter.
    pub fn registry(&self) -> Arc<Registry> {
        Arc::clone(&self.registry)
    }

    /// Publishes what changed since the last call; `links` has each
    /// server's counters and whether it is usable, in the server list's
    /// order.
    pub fn publish(&mut self, stats: &Stats, gauges: Gauges, links: &[(LinkStats, bool)]) {
        for (server, &(now, up)) in self.servers.iter_mut().zip(links) {
            let old = server.published;
            add(&server.requests, now.requests, old.requests);
            add(&server.failures, now.failures, old.failures);
            add(
                &server.reconnects,
                now.connects.saturating_sub(1),
                old.connects.saturating_sub(1),
            );
            server.up.set(i64::from(up));
            server.published = now;
        }
        let old = &self.published;
        for (op, row) in stats.outcomes.iter().enumerate() {
            for (i, &n) in row.iter().enumerate() {
                add(&self.requests[op][i], n, old.outcomes[op][i]);
            }
        }
        for (i, &n) in stats.gave_up.iter().enumerate() {
            add(&self.losses[i], n, old.gave_up[i]);
        }
        add(
            &self.connect_attempts,
            stats.connect_attempts,
            old.connect_attempts,
        );
        add(
            &self.reconnects,
            stats.connects.saturating_sub(1),
            old.connects.saturating_sub(1),
        );
        add(&self.upstream_full, stats.overloaded, old.overloaded);
        add(&self.late_answers, stats.late_answers, old.late_answers);
        add(&self.connections_accepted, stats.clients, old.clients);
        add(
            &self.refused_limit,
            stats.clients_refused,
            old.clients_refused,
        );
        add(&self.refused_idle, stats.clients_idle, old.clients_idle);
        add(
            &self.refused_protocol,
            stats.clients_corrupt,
            old.clients_corrupt,
        );
        add(
            &self.refused_not_reading,
            stats.clients_cut_off,
            old.clients_cut_off,
        );
        add(&self.evicted, stats.clients_evicted, old.clients_evicted);
        add(&self.throttled, stats.throttled, old.throttled);
        self.published = *stats;
        self.upstream_up.set(i64::from(gauges.upstream_up));
        self.connections_open.set(as_gauge(gauges.connections));
        self.in_flight.set(as_gauge(gauges.in_flight));
    }
}

fn add(counter: &Count, now: u64, before: u64) {
    let delta = now.saturating_sub(before);
    if delta > 0 {
        counter.inc_by(delta);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_deltas_under_stable_names() {
        let servers = ["IP:cachehost:9001".to_owned(), "IP:other:9001".to_owned()];
        let mut m = ProxyMetrics::new(&servers, 77);
        let mut stats = Stats::default();
        stats.count(Operation::Get, Outcome::Hit);
        stats.count(Operation::Get, Outcome::Miss);
        stats.count(Operation::Have, Outcome::Disconnected);
        stats.count(Operation::Add, Outcome::Refused);
        stats.connect_attempts = 3;
        stats.connects = 2;
        stats.gave_up[LossReason::Closed as usize] = 1;
        stats.gave_up[LossReason::Tls as usize] = 1;
        stats.clients = 5;
        stats.clients_refused = 1;
        stats.clients_idle = 2;
        stats.throttled = 4;
        let gauges = Gauges {
            connections: 2,
            upstream_up: true,
            in_flight: 1,
        };
        let a = LinkStats {
            requests: 7,
            failures: 2,
            connects: 3,
            ..LinkStats::default()
        };
        let links = [(a, true), (LinkStats::default(), false)];
        m.publish(&stats, gauges, &links);
        m.publish(&stats, gauges, &links); // nothing new: nothing added twice
        m.server_seconds(1).unwrap().observe(0.002);
        m.request_seconds.observe(0.001);
        let text = dc_metrics::render(&m.registry());
        for line in [
            r#"distcache_client_requests_total{command="get",result="hit"} 1"#,
            r#"distcache_client_requests_total{command="get",result="miss"} 1"#,
            r#"distcache_client_requests_total{command="have",result="disconnected"} 1"#,
            r#"distcache_client_requests_total{command="add",result="refused"} 1"#,
            r#"distcache_client_requests_total{command="remove",result="ok"} 0"#,
            "distcache_client_upstream_up 1",
            "distcache_client_upstream_connect_attempts_total 3",
            "distcache_client_upstream_reconnects_total 1",
            r#"distcache_client_upstream_losses_total{reason="closed"} 1"#,
            r#"distcache_client_upstream_losses_total{reason="tls"} 1"#,
            r#"distcache_client_upstream_losses_total{reason="stalled"} 0"#,
            "distcache_client_requests_in_flight 1",
            "distcache_client_connections_open 2",
            "distcache_client_connections_accepted_total 5",
            r#"distcache_client_connections_refused_total{reason="limit"} 1"#,
            r#"distcache_client_connections_refused_total{reason="idle"} 2"#,
            r#"distcache_client_connections_refused_total{reason="protocol"} 0"#,
            "distcache_client_throttled_total 4",
            "distcache_client_request_duration_seconds_count 1",
            r#"distcache_client_upstream_info{server="IP:cachehost:9001"} 1"#,
            "distcache_client_connections_limit 77",
            r#"distcache_client_server_up{server="IP:cachehost:9001"} 1"#,
            r#"distcache_client_server_up{server="IP:other:9001"} 0"#,
            r#"distcache_client_server_requests_total{server="IP:cachehost:9001"} 7"#,
            r#"distcache_client_server_failures_total{server="IP:cachehost:9001"} 2"#,
            r#"distcache_client_server_reconnects_total{server="IP:cachehost:9001"} 2"#,
            r#"distcache_client_server_request_duration_seconds_count{server="IP:other:9001"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
        let mut down = gauges;
        down.upstream_up = false;
        m.publish(&stats, down, &links);
        let text = dc_metrics::render(&m.registry());
        assert!(text.lines().any(|l| l == "distcache_client_upstream_up 0"));
    }
}
