//! The load mode: many requests in flight on many connections, every
//! answer still checked, throughput and latency measured.
//!
//! The parts, from the bottom:
//!
//! * [`data`] — session ids and data made from (salt, index, version), so
//!   a GET answer is checked byte for byte without storing anything.
//! * [`model`] — one state per id (absent, present with a version and an
//!   expiry window, unknown); the rules for the right answer.
//! * [`workload`] — one connection's share of the ids, its next request,
//!   the check of each answer. Sans-IO.
//! * [`wire`] — the protocols (`--proto`): distcache as before, or RESP
//!   and memcache through their client codecs, answers mapped onto the
//!   model's rules.
//! * [`pipelined`] and [`per_op`] — the drivers: a mio event loop per
//!   thread over persistent pipelined connections, or one blocking client
//!   per thread opening a connection per operation.
//! * [`tally`] and [`report`] — counts, the latency histogram, the output.
//! * [`timeline`] and [`plot`] — with `--plot`, answers counted per slice
//!   of the run, and the chart drawn from them.
//!
//! See `docs/performance.md` for how to use it and what it measured.

pub mod args;
pub mod data;
pub mod gate;
pub mod mix;
pub mod model;
pub mod per_op;
pub mod pipelined;
pub mod plot;
pub mod report;
pub mod tally;
pub mod timeline;
pub mod wire;
pub mod workload;

use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use dc_ops::Protocol;
use nal::{BlockingStream, NalError, Stream};

use self::args::LoadConfig;
use self::data::{Keyspace, SplitMix64};
use self::gate::Gate;
use self::plot::{PlotFile, RunChart};
use self::report::{Progress, Summary, PROGRESS_EVERY};
use self::tally::{Live, Tally};
use self::wire::{Distcache, MemcacheBinary, MemcacheText, Redis, Wire};
use self::workload::{Plan, Workload};

/// Slack around each expiry for memcache: memcached's clock ticks once a
/// second, so a session lives up to a second less or more than asked.
pub const MEMCACHE_TTL_MARGIN_MS: u64 = 2_000;

/// Longest wait for each connection at the start.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the load described by `config`, prints the result and returns the
/// exit status: success only if every answer was right (and the chart, if
/// asked for, was written).
pub fn run(config: &LoadConfig) -> ExitCode {
    let mix_ok = match config.proto {
        Protocol::Distcache => wire::check_mix::<Distcache>(&config.mix),
        Protocol::Redis => wire::check_mix::<Redis>(&config.mix),
        Protocol::MemcacheText => wire::check_mix::<MemcacheText>(&config.mix),
        Protocol::MemcacheBinary => wire::check_mix::<MemcacheBinary>(&config.mix),
    };
    if let Err(e) = mix_ok {
        dc_cli::fail(e);
    }
    // Before any load is sent: a chart that cannot be written fails now,
    // not after the run.
    let plot = config
        .plot
        .as_deref()
        .map(|path| PlotFile::create(path).unwrap_or_else(|e| dc_cli::fail(e)));
    let seed = config.seed.unwrap_or_else(rand::random);
    eprintln!("{}", report::start_line(config, seed));
    let driven = match config.proto {
        Protocol::Distcache => drive::<Distcache>(config, seed),
        Protocol::Redis => drive::<Redis>(config, seed),
        Protocol::MemcacheText => drive::<MemcacheText>(config, seed),
        Protocol::MemcacheBinary => drive::<MemcacheBinary>(config, seed),
    };
    let tally = match driven {
        Ok(tally) => tally,
        Err(e) => {
            if let Some(plot) = plot {
                plot.abandon();
            }
            dc_cli::fail(e)
        }
    };
    let summary = Summary::new(config, seed, &tally);
    for line in summary.error_lines() {
        eprintln!("{line}");
    }
    if config.json {
        eprintln!("{}", summary.line());
        println!("{}", summary.json());
    } else {
        println!("{}", summary.line());
    }
    let mut ok = summary.errors == 0;
    // Drawn whatever the outcome: a failed run is worth looking at too.
    if let Some(plot) = plot {
        let path = plot.path().to_path_buf();
        let chart = RunChart::new(config, &summary, &tally);
        match chart.render().and_then(|svg| plot.write(&svg)) {
            Ok(()) => eprintln!("Info, load: chart written to {}", path.display()),
            Err(e) => {
                eprintln!("Error, {e}");
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Sets up the workloads, connects, runs the threads and merges their
/// counts. Fails only if the server cannot be reached at the start.
fn drive<W: Wire>(config: &LoadConfig, seed: u64) -> Result<Tally, NalError> {
    let mut seeds = SplitMix64::new(seed);
    // The salt keeps this run's ids apart from earlier runs' on the same
    // server.
    let salt = (seeds.next_u64() >> 32) as u32;
    let plan = Plan {
        keyspace: Keyspace::new(salt, config.id_len, config.data_min, config.data_max),
        mix: config.mix,
        ttl_ms: config.ttl_ms,
        allow_evictions: config.allow_evictions,
        allow_outages: config.allow_outages,
        ttl_margin_ms: match W::PROTOCOL {
            Protocol::MemcacheText | Protocol::MemcacheBinary => MEMCACHE_TTL_MARGIN_MS,
            _ => model::TTL_MARGIN_MS,
        },
        origin: Instant::now(),
    };
    let conns = config.conns;
    let workloads: Vec<Workload> = (0..conns)
        .map(|c| {
            let budget = match config.ops {
                Some(ops) => ops / conns as u64 + u64::from((c as u64) < ops % conns as u64),
                None => u64::MAX,
            };
            Workload::new(plan, c, conns, config.ids, budget, seeds.next_u64())
        })
        .collect();
    if config.new_conn_per_op {
        // Fail fast, with the address in the message, if nobody listens.
        BlockingStream::connect(&config.connect, Some(CONNECT_TIMEOUT))?;
        Ok(run_per_op::<W>(config, workloads))
    } else {
        let mut connections = Vec::with_capacity(conns);
        for (no, work) in workloads.into_iter().enumerate() {
            let stream = connect(&config.connect)?;
            connections.push((no, stream, work));
        }
        Ok(run_pipelined::<W>(config, connections))
    }
}

fn connect(address: &nal::Address) -> Result<Stream, NalError> {
    BlockingStream::connect(address, Some(CONNECT_TIMEOUT))?
        .into_nonblocking()
        .map_err(|source| NalError::Io {
            address: address.to_string(),
            action: "connect to",
            source,
        })
}

fn run_pipelined<W: Wire>(
    config: &LoadConfig,
    connections: Vec<(usize, Stream, Workload)>,
) -> Tally {
    let settings = pipelined::Settings {
        depth: config.depth,
        // Each connection's share of the rate.
        interval: config
            .rate
            .map(|rate| Duration::from_secs_f64(config.conns as f64 / rate)),
        duration: config.duration,
        prefill: config.prefill,
        slices: slices(config),
    };
    // Connection c goes to thread c % threads.
    let mut groups: Vec<Vec<(usize, Stream, Workload)>> =
        (0..config.threads).map(|_| Vec::new()).collect();
    for connection in connections {
        let t = connection.0 % config.threads;
        groups[t].push(connection);
    }
    let jobs = groups
        .into_iter()
        .map(|group| {
            move |gate: &Gate, live: &Live| pipelined::run::<W>(group, settings, gate, live)
        })
        .collect();
    supervise(config, jobs)
}

fn run_per_op<W: Wire>(config: &LoadConfig, workloads: Vec<Workload>) -> Tally {
    let address = &config.connect;
    let settings = per_op::Settings {
        prefill: config.prefill,
        duration: config.duration,
        slices: slices(config),
    };
    let jobs = workloads
        .into_iter()
        .enumerate()
        .map(|(no, work)| {
            move |gate: &Gate, live: &Live| {
                per_op::run::<W>(no, address, work, settings, gate, live)
            }
        })
        .collect();
    supervise(config, jobs)
}

/// The slice width answers are counted in, when a chart is asked for.
fn slices(config: &LoadConfig) -> Option<Duration> {
    config
        .plot
        .as_ref()
        .map(|_| timeline::slice_width(config.duration))
}

/// Runs each job on a thread of its own, redraws the progress line while
/// they run, and merges their tallies.
fn supervise<J>(config: &LoadConfig, jobs: Vec<J>) -> Tally
where
    J: FnOnce(&Gate, &Live) -> Tally + Send,
{
    let gate = Gate::new(jobs.len());
    let live = Live::default();
    let mut total = Tally::new();
    let mut progress = Progress::new(config);
    thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<Tally>();
        for (t, job) in jobs.into_iter().enumerate() {
            let tx = tx.clone();
            let (gate, live) = (&gate, &live);
            let spawned = thread::Builder::new()
                .name(format!("load-{t}"))
                .spawn_scoped(scope, move || {
                    // The receiver outlives every sender.
                    let _ = tx.send(job(gate, live));
                });
            if let Err(e) = spawned {
                total.error(|| format!("cannot start thread {t}: {e}"));
                gate.withdraw();
            }
        }
        drop(tx);
        loop {
            match rx.recv_timeout(PROGRESS_EVERY) {
                Ok(tally) => total.merge(&tally),
                Err(RecvTimeoutError::Timeout) => progress.update(&live),
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
    });
    progress.finish();
    total
}
