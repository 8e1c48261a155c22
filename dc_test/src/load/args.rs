//! The load mode's command line.
//!
//! Giving any of these options (or `--load` alone) selects the load mode;
//! without them `dc_test` runs its original verify mode. `--connect`,
//! `--ops` and `--seed` are shared with the verify mode; the verify-only
//! options (`--sessions`, `--datamin`, `--persistent`...) are refused in
//! load mode by clap, as conflicting with this group.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use dc_ops::Protocol;
use dc_protocol::{MAX_ID_LEN, MAX_PAYLOAD, MAX_TIMEOUT_MS};
use nal::{Address, AddressError};
use thiserror::Error;

use super::data::{DATA_HEADER_LEN, MIN_ID_LEN};
use super::mix::{Mix, MixError, DEFAULT_MIX};

/// Most connections.
pub const MAX_CONNS: usize = 4096;
/// Most requests in flight per connection.
pub const MAX_DEPTH: usize = 1024;
/// Most threads.
pub const MAX_THREADS: usize = 256;
/// Most ids. The model keeps 16 bytes per id: 1.6 GB at this limit.
pub const MAX_IDS: u32 = 100_000_000;
/// Longest `--duration`, in seconds (a week).
pub const MAX_DURATION_S: f64 = 604_800.0;
/// Run time when neither `--duration` nor `--ops` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// Default `--ids`: the reference measurements' key space.
pub const DEFAULT_IDS: u32 = 10_000;
/// Default `--id-len`: a TLS session id.
pub const DEFAULT_ID_LEN: usize = 32;
/// Default `--data-min`.
pub const DEFAULT_DATA_MIN: usize = 100;
/// Default `--data-max`.
pub const DEFAULT_DATA_MAX: usize = 1500;
/// Default `--ttl-ms`: five minutes, a common TLS session cache lifetime,
/// and far longer than a default run so nothing expires during it.
pub const DEFAULT_TTL_MS: u32 = 300_000;

/// The ids of the load-mode options, which the verify-only options
/// conflict with (listed one by one, so that clap's message names only the
/// option actually given).
/// Highest `--rate`: far above what one machine can generate.
pub const MAX_RATE: f64 = 100_000_000.0;

pub const LOAD_OPTIONS: [&str; 19] = [
    "load",
    "proto",
    "conns",
    "depth",
    "rate",
    "duration",
    "ids",
    "id_len",
    "data_min",
    "data_max",
    "mix",
    "ttl_ms",
    "prefill",
    "new_conn_per_op",
    "threads",
    "allow_evictions",
    "allow_outages",
    "json",
    "plot",
];

/// Load-mode options (flattened into `dc_test`'s command line).
#[derive(Args, Debug, Clone, Default, PartialEq)]
#[group(id = "load_mode", multiple = true)]
#[command(next_help_heading = "Load mode (giving any of these options selects it)")]
pub struct LoadArgs {
    /// Run the load mode with its defaults: 1 connection, 1 request in
    /// flight, 10 seconds.
    #[arg(long)]
    pub load: bool,
    /// The protocol to speak: distcache, redis (RESP2: SET NX PX, GET,
    /// DEL, EXISTS), memcache (text: add, get, delete) or memcache-binary.
    /// Keys are the hex of the session ids except for distcache
    /// [default: distcache].
    #[arg(long, value_name = "PROTO")]
    pub proto: Option<String>,
    /// Connections to keep open [default: 1].
    #[arg(long, value_name = "N")]
    pub conns: Option<usize>,
    /// Requests in flight (pipelined) per connection [default: 1].
    #[arg(long, value_name = "D")]
    pub depth: Option<usize>,
    /// Send at this many requests per second in all, spread evenly over the
    /// connections, instead of as fast as answers come back. Latencies
    /// then count from when each request was due, not when it went out, so
    /// a server that falls behind shows it (no coordinated omission)
    /// [default: as fast as possible].
    #[arg(long, value_name = "OPS")]
    pub rate: Option<f64>,
    /// Stop after this many seconds (fractions allowed) [default: 10,
    /// unless --ops is given]. With --ops too, stop at whichever comes
    /// first.
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Number of distinct session ids (the key space), split between the
    /// connections [default: 10000; at most 100000000].
    #[arg(long, value_name = "N")]
    pub ids: Option<u32>,
    /// Session id length in bytes, 8 to 64 [default: 32].
    #[arg(long = "id-len", value_name = "N")]
    pub id_len: Option<usize>,
    /// Shortest session data in bytes, at least 24 [default: 100].
    #[arg(long = "data-min", value_name = "N")]
    pub data_min: Option<usize>,
    /// Longest session data in bytes, inclusive [default: 1500].
    #[arg(long = "data-max", value_name = "N")]
    pub data_max: Option<usize>,
    /// Relative weights of the operations
    /// [default: add=20,get=70,remove=10,have=0].
    #[arg(long, value_name = "SPEC")]
    pub mix: Option<String>,
    /// Lifetime every ADD asks for, in milliseconds [default: 300000].
    #[arg(long = "ttl-ms", value_name = "MS")]
    pub ttl_ms: Option<u32>,
    /// Add every id before the timed run (checked, not timed).
    #[arg(long)]
    pub prefill: bool,
    /// Open a new connection for every operation and close it after the
    /// answer, as Apache's mod_ssl does through dc_client. Each of the
    /// --conns clients is then its own thread with one request at a time.
    #[arg(long = "new-conn-per-op")]
    pub new_conn_per_op: bool,
    /// Threads sharing the connections, each running its own event loop
    /// [default: 1].
    #[arg(long, value_name = "T")]
    pub threads: Option<usize>,
    /// Do not count missing sessions as errors (the server may evict when
    /// the key space exceeds its -sessions or -memory). Wrong bytes still
    /// are.
    #[arg(long = "allow-evictions")]
    pub allow_evictions: bool,
    /// Count dc_client's "no cache could answer" (DISCONNECTED) as a right
    /// answer, for runs that break the cache on purpose; an ADD or REMOVE
    /// so answered leaves its id unknown. Wrong bytes are still errors.
    #[arg(long = "allow-outages")]
    pub allow_outages: bool,
    /// Print the result as one JSON object on stdout (the summary line goes
    /// to stderr).
    #[arg(long)]
    pub json: bool,
    /// Draw the run as a chart in FILE, an SVG: throughput and p50, p99
    /// and p99.9 latency over the run, and the latency distribution. The
    /// file is created before the run starts, so a path that cannot be
    /// written fails at once.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

/// A checked load-mode command line.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadConfig {
    /// The server or proxy.
    pub connect: Address,
    /// The protocol spoken.
    pub proto: Protocol,
    /// Connections (or, with `new_conn_per_op`, concurrent clients).
    pub conns: usize,
    /// Requests in flight per connection.
    pub depth: usize,
    /// Requests per second in all, if paced.
    pub rate: Option<f64>,
    /// Stop after this long, if set.
    pub duration: Option<Duration>,
    /// Stop after this many operations in all, if set.
    pub ops: Option<u64>,
    /// Size of the key space.
    pub ids: u32,
    /// Id length.
    pub id_len: usize,
    /// Shortest data.
    pub data_min: usize,
    /// Longest data (inclusive).
    pub data_max: usize,
    /// Operation weights.
    pub mix: Mix,
    /// Lifetime of added sessions.
    pub ttl_ms: u32,
    /// Add every id first.
    pub prefill: bool,
    /// A new connection per operation.
    pub new_conn_per_op: bool,
    /// Threads.
    pub threads: usize,
    /// Missing sessions are not errors.
    pub allow_evictions: bool,
    /// "No cache could answer" is not an error.
    pub allow_outages: bool,
    /// JSON output.
    pub json: bool,
    /// Where to draw the chart, if asked.
    pub plot: Option<PathBuf>,
    /// Seed, if one was given.
    pub seed: Option<u64>,
}

/// A load-mode command line that parsed but makes no sense.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LoadArgsError {
    /// `--connect` is missing.
    #[error("must provide -connect")]
    MissingConnect,
    /// `--connect` does not parse.
    #[error(transparent)]
    Address(#[from] AddressError),
    /// `--connect` names an address that can only listen.
    #[error(
        "cannot connect to \"{0}\": give a host (host:port, IP:host:port) or a unix socket path"
    )]
    NotConnectable(String),
    /// A number out of its range.
    #[error("--{option} {value} is out of range ({range})")]
    Range {
        /// The option, without dashes.
        option: &'static str,
        /// The value given.
        value: String,
        /// The accepted range, in words.
        range: String,
    },
    /// `--data-max` below `--data-min`.
    #[error("--data-max ({max}) must not be below --data-min ({min})")]
    DataRange {
        /// `--data-min`.
        min: usize,
        /// `--data-max`.
        max: usize,
    },
    /// Fewer ids than connections.
    #[error("--ids {ids} is fewer than --conns {conns}: every connection needs ids of its own (ids are split between connections so the expected answers are known)")]
    FewerIdsThanConns {
        /// `--ids`.
        ids: u32,
        /// `--conns`.
        conns: usize,
    },
    /// More threads than connections.
    #[error(
        "--threads {threads} is more than --conns {conns}: a thread needs at least one connection"
    )]
    MoreThreadsThanConns {
        /// `--threads`.
        threads: usize,
        /// `--conns`.
        conns: usize,
    },
    /// `--new-conn-per-op` with `--rate`.
    #[error("--rate paces persistent connections: it does not apply to --new-conn-per-op")]
    RatePerOp,
    /// `--new-conn-per-op` with pipelining.
    #[error("--new-conn-per-op sends one request per connection: --depth must be 1 (got {0})")]
    DepthPerOp(usize),
    /// `--new-conn-per-op` with a thread count other than the connections'.
    #[error("with --new-conn-per-op every client is its own thread: leave out --threads (got {threads}, --conns {conns})")]
    ThreadsPerOp {
        /// `--threads`.
        threads: usize,
        /// `--conns`.
        conns: usize,
    },
    /// A bad `--mix`.
    #[error(transparent)]
    Mix(#[from] MixError),
    /// An unknown `--proto`.
    #[error("--proto {0:?} is not a protocol this tool speaks (expected distcache, redis, memcache or memcache-binary)")]
    Proto(String),
    /// `--plot` names something other than an SVG file.
    #[error("--plot {0:?}: the chart is written as SVG, give a file name ending in .svg")]
    PlotNotSvg(PathBuf),
    /// A lifetime memcache cannot state.
    #[error("--ttl-ms {ttl_ms} with --proto {proto}: memcache states lifetimes in whole seconds, give a multiple of 1000")]
    WholeSeconds {
        /// `--proto`.
        proto: Protocol,
        /// `--ttl-ms`.
        ttl_ms: u32,
    },
}

/// The protocol named `name` (as `--proto` takes it).
pub fn parse_proto(name: &str) -> Result<Protocol, LoadArgsError> {
    Protocol::ALL
        .into_iter()
        .find(|p| p.name() == name)
        .ok_or_else(|| LoadArgsError::Proto(name.to_string()))
}

fn range<T: PartialOrd + ToString>(
    option: &'static str,
    value: T,
    min: T,
    max: T,
) -> Result<T, LoadArgsError> {
    if value < min || value > max {
        return Err(LoadArgsError::Range {
            option,
            value: value.to_string(),
            range: format!("{} to {}", min.to_string(), max.to_string()),
        });
    }
    Ok(value)
}

impl LoadArgs {
    /// Whether the load mode was asked for.
    pub fn selected(&self) -> bool {
        *self != LoadArgs::default()
    }

    /// Checks the limits and fills in the defaults. `connect`, `ops` and
    /// `seed` are the options shared with the verify mode.
    pub fn validate(
        self,
        connect: Option<String>,
        ops: Option<u64>,
        seed: Option<u64>,
    ) -> Result<LoadConfig, LoadArgsError> {
        let text = connect.ok_or(LoadArgsError::MissingConnect)?;
        let address: Address = text.parse()?;
        if !address.can_connect() {
            return Err(LoadArgsError::NotConnectable(address.to_string()));
        }
        let proto = match self.proto.as_deref() {
            Some(name) => parse_proto(name)?,
            None => Protocol::Distcache,
        };
        let conns = range("conns", self.conns.unwrap_or(1), 1, MAX_CONNS)?;
        let depth = range("depth", self.depth.unwrap_or(1), 1, MAX_DEPTH)?;
        let rate = match self.rate {
            Some(r) if r.is_finite() && (1.0..=MAX_RATE).contains(&r) => Some(r),
            Some(r) => {
                return Err(LoadArgsError::Range {
                    option: "rate",
                    value: r.to_string(),
                    range: format!("1 to {MAX_RATE} requests per second"),
                })
            }
            None => None,
        };
        let duration = match self.duration {
            Some(secs) if secs.is_finite() && secs > 0.0 && secs <= MAX_DURATION_S => {
                Some(Duration::from_secs_f64(secs))
            }
            Some(secs) => {
                return Err(LoadArgsError::Range {
                    option: "duration",
                    value: secs.to_string(),
                    range: format!("above 0, at most {MAX_DURATION_S} seconds"),
                })
            }
            None if ops.is_none() => Some(DEFAULT_DURATION),
            None => None,
        };
        if let Some(ops) = ops {
            range("ops", ops, 1, u64::MAX)?;
        }
        let ids = range("ids", self.ids.unwrap_or(DEFAULT_IDS), 1, MAX_IDS)?;
        let id_len = range(
            "id-len",
            self.id_len.unwrap_or(DEFAULT_ID_LEN),
            MIN_ID_LEN,
            MAX_ID_LEN,
        )?;
        // An ADD's payload is 8 header bytes, the id and the data.
        let longest = MAX_PAYLOAD - 8 - id_len;
        let data_min = range(
            "data-min",
            self.data_min.unwrap_or(DEFAULT_DATA_MIN),
            DATA_HEADER_LEN,
            longest,
        )?;
        let data_max = range(
            "data-max",
            self.data_max.unwrap_or(DEFAULT_DATA_MAX),
            DATA_HEADER_LEN,
            longest,
        )?;
        if data_max < data_min {
            return Err(LoadArgsError::DataRange {
                min: data_min,
                max: data_max,
            });
        }
        let mix: Mix = self.mix.as_deref().unwrap_or(DEFAULT_MIX).parse()?;
        let ttl_ms = range(
            "ttl-ms",
            self.ttl_ms.unwrap_or(DEFAULT_TTL_MS),
            1,
            MAX_TIMEOUT_MS,
        )?;
        let memcache = matches!(proto, Protocol::MemcacheText | Protocol::MemcacheBinary);
        if memcache && ttl_ms % 1000 != 0 {
            return Err(LoadArgsError::WholeSeconds { proto, ttl_ms });
        }
        if (ids as usize) < conns {
            return Err(LoadArgsError::FewerIdsThanConns { ids, conns });
        }
        let threads = if self.new_conn_per_op {
            range("conns", conns, 1, MAX_THREADS)?;
            if depth != 1 {
                return Err(LoadArgsError::DepthPerOp(depth));
            }
            if rate.is_some() {
                return Err(LoadArgsError::RatePerOp);
            }
            match self.threads {
                Some(threads) if threads != conns => {
                    return Err(LoadArgsError::ThreadsPerOp { threads, conns })
                }
                _ => conns,
            }
        } else {
            let threads = range("threads", self.threads.unwrap_or(1), 1, MAX_THREADS)?;
            if threads > conns {
                return Err(LoadArgsError::MoreThreadsThanConns { threads, conns });
            }
            threads
        };
        if let Some(path) = &self.plot {
            let svg = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
            if !svg {
                return Err(LoadArgsError::PlotNotSvg(path.clone()));
            }
        }
        Ok(LoadConfig {
            connect: address,
            proto,
            conns,
            depth,
            rate,
            duration,
            ops,
            ids,
            id_len,
            data_min,
            data_max,
            mix,
            ttl_ms,
            prefill: self.prefill,
            new_conn_per_op: self.new_conn_per_op,
            threads,
            allow_evictions: self.allow_evictions,
            allow_outages: self.allow_outages,
            json: self.json,
            plot: self.plot,
            seed,
        })
    }
}
