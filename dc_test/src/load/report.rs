//! What a load run prints.
//!
//! On stderr, first the run's parameters, then (only when stderr is a
//! terminal) a live progress line, then the first few errors in full:
//!
//! ```text
//! Info, load: 16 connections x 16 in flight on 1 thread to IP:127.0.0.1:9001; 10000 ids of 32 bytes, data 100-1500 bytes, mix add=20,get=70,remove=10,have=0, ttl 300000 ms; for 10 s; seed 42
//! Error, connection 3: GET of id #1187 expected version 7 (812 bytes), got the data of id #1187 version 5 (stale) (the id was present, version 7); id 2a...
//! ```
//!
//! On stdout, one summary line — or with `--json` one JSON object, the
//! summary line then going to stderr:
//!
//! ```text
//! Info, load: 1402345 ops in 10.001 s, 140220 ops/s, 0 errors; latency us p50 101 p90 160 p99 290 p99.9 610 max 4100; GET hits 654321 misses 327654
//! ```

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use super::args::LoadConfig;
use super::tally::{Answers, Live, Tally};

/// The run's parameters, printed first.
pub fn start_line(config: &LoadConfig, seed: u64) -> String {
    let shape = if config.new_conn_per_op {
        format!("{} clients, a new connection per operation", config.conns)
    } else {
        let paced = config
            .rate
            .map(|r| format!(" at {r} ops/s"))
            .unwrap_or_default();
        format!(
            "{} connection{} x {} in flight on {} thread{}{paced}",
            config.conns,
            plural(config.conns),
            config.depth,
            config.threads,
            plural(config.threads)
        )
    };
    let until = match (config.duration, config.ops) {
        (Some(d), Some(ops)) => format!("{ops} ops or {} s", d.as_secs_f64()),
        (Some(d), None) => format!("for {} s", d.as_secs_f64()),
        (None, Some(ops)) => format!("{ops} ops"),
        (None, None) => "until stopped".to_string(),
    };
    // distcache, the reference, is not named: its line stays as it was.
    let over = match config.proto {
        dc_ops::Protocol::Distcache => String::new(),
        other => format!(" over {other}"),
    };
    format!(
        "Info, load: {shape} to {}{over}; {} ids of {} bytes, data {}-{} bytes, mix {}, ttl {} ms{}{}{}; {until}; seed {seed}",
        config.connect,
        config.ids,
        config.id_len,
        config.data_min,
        config.data_max,
        config.mix,
        config.ttl_ms,
        if config.prefill { ", prefilled" } else { "" },
        if config.allow_evictions {
            ", evictions allowed"
        } else {
            ""
        },
        if config.allow_outages {
            ", outages allowed"
        } else {
            ""
        },
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Slowest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

/// Timed operations by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ByOp {
    /// ADDs.
    pub add: u64,
    /// GETs.
    pub get: u64,
    /// REMOVEs.
    pub remove: u64,
    /// HAVEs.
    pub have: u64,
}

/// The result of a run: what `--json` prints, and what the summary line
/// says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// The server or proxy.
    pub address: String,
    /// The protocol spoken (`--proto`).
    pub proto: &'static str,
    /// Connections (or clients, with `new_conn_per_op`).
    pub conns: usize,
    /// Requests in flight per connection.
    pub depth: usize,
    /// Requests per second asked for with `--rate` (`null`: as fast as
    /// possible).
    pub rate: Option<f64>,
    /// Threads.
    pub threads: usize,
    /// A new connection per operation.
    pub new_conn_per_op: bool,
    /// Key space.
    pub ids: u32,
    /// Id length.
    pub id_len: usize,
    /// Shortest data.
    pub data_min: usize,
    /// Longest data.
    pub data_max: usize,
    /// Operation weights.
    pub mix: String,
    /// ADD lifetime.
    pub ttl_ms: u32,
    /// Whether every id was added first.
    pub prefill: bool,
    /// Whether missing sessions were tolerated.
    pub allow_evictions: bool,
    /// The seed, to repeat the run.
    pub seed: u64,
    /// Timed operations answered.
    pub ops: u64,
    /// Length of the timed phase.
    pub seconds: f64,
    /// `ops / seconds`.
    pub ops_per_sec: f64,
    /// Wrong answers and failed connections.
    pub errors: u64,
    /// Requests lost with failed connections.
    pub unanswered: u64,
    /// Latency of timed operations.
    pub latency_us: Latency,
    /// Timed operations by kind.
    pub by_op: ByOp,
    /// Right answers by kind (prefill included).
    pub answers: Answers,
    /// Prefill ADDs answered.
    pub prefilled: u64,
    /// The first errors, in full.
    pub first_errors: Vec<String>,
}

impl Summary {
    /// Sums up `tally` for a run of `config`.
    pub fn new(config: &LoadConfig, seed: u64, tally: &Tally) -> Summary {
        let seconds = tally.elapsed().as_secs_f64();
        let h = &tally.latency;
        let at = |q: f64| {
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(q)
            }
        };
        let [add, get, remove, have] = tally.by_op;
        Summary {
            address: config.connect.to_string(),
            proto: config.proto.name(),
            conns: config.conns,
            depth: config.depth,
            rate: config.rate,
            threads: config.threads,
            new_conn_per_op: config.new_conn_per_op,
            ids: config.ids,
            id_len: config.id_len,
            data_min: config.data_min,
            data_max: config.data_max,
            mix: config.mix.to_string(),
            ttl_ms: config.ttl_ms,
            prefill: config.prefill,
            allow_evictions: config.allow_evictions,
            seed,
            ops: tally.ops,
            seconds,
            ops_per_sec: if seconds > 0.0 {
                tally.ops as f64 / seconds
            } else {
                0.0
            },
            errors: tally.errors,
            unanswered: tally.unanswered,
            latency_us: Latency {
                p50: at(0.5),
                p90: at(0.9),
                p99: at(0.99),
                p999: at(0.999),
                max: if h.is_empty() { 0 } else { h.max() },
                mean: if h.is_empty() { 0.0 } else { h.mean() },
            },
            by_op: ByOp {
                add,
                get,
                remove,
                have,
            },
            answers: tally.answers,
            prefilled: tally.prefilled,
            first_errors: tally.reported.clone(),
        }
    }

    /// The one-line summary.
    pub fn line(&self) -> String {
        let l = &self.latency_us;
        format!(
            "Info, load: {} ops in {:.3} s, {:.0} ops/s, {} errors; latency us p50 {} p90 {} p99 {} p99.9 {} max {}; GET hits {} misses {}{}",
            self.ops,
            self.seconds,
            self.ops_per_sec,
            self.errors,
            l.p50,
            l.p90,
            l.p99,
            l.p999,
            l.max,
            self.answers.hits,
            self.answers.misses,
            match self.answers.unavailable {
                0 => String::new(),
                n => format!("; {n} unavailable"),
            }
        )
    }

    /// The `--json` object, on one line.
    pub fn json(&self) -> String {
        // Plain data with string keys: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The lines describing the errors, for stderr (empty without errors).
    pub fn error_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .first_errors
            .iter()
            .map(|e| format!("Error, {e}"))
            .collect();
        if self.errors > 0 {
            let mut last = format!(
                "Error, {} errors (wrong answers or failed connections)",
                self.errors
            );
            if self.errors > self.first_errors.len() as u64 {
                last.push_str(&format!(", the first {} above", self.first_errors.len()));
            }
            if self.unanswered > 0 {
                last.push_str(&format!(
                    "; {} requests were lost with their connections",
                    self.unanswered
                ));
            }
            lines.push(last);
        }
        lines
    }
}

/// The live progress line: drawn only when stderr is a terminal, so logs
/// and pipes get the summary alone.
pub struct Progress {
    bar: Option<ProgressBar>,
    duration: Option<Duration>,
    ops_goal: Option<u64>,
    started: Option<Instant>,
    last: (Instant, u64),
}

/// How often the progress line is redrawn.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(250);

impl Progress {
    /// A progress line for `config`, or a silent one when stderr is not a
    /// terminal.
    pub fn new(config: &LoadConfig) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let style = ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr_with_hz(4))
                .with_style(style)
        });
        Progress {
            bar,
            duration: config.duration,
            ops_goal: config.ops,
            started: None,
            last: (Instant::now(), 0),
        }
    }

    /// Redraws from the live counters.
    pub fn update(&mut self, live: &Live) {
        let Some(bar) = &self.bar else {
            return;
        };
        let now = Instant::now();
        let ops = live.ops.load(Ordering::Relaxed);
        let errors = live.errors.load(Ordering::Relaxed);
        if ops == 0 {
            let prefilled = live.prefilled.load(Ordering::Relaxed);
            bar.set_message(format!("prefill: {prefilled} adds, {errors} errors"));
            self.last = (now, 0);
            return;
        }
        let started = *self.started.get_or_insert(self.last.0);
        let (then, ops_then) = self.last;
        let secs = now.saturating_duration_since(then).as_secs_f64();
        let rate = if secs > 0.0 {
            (ops - ops_then) as f64 / secs
        } else {
            0.0
        };
        self.last = (now, ops);
        let by_time = self.duration.map(|d| {
            now.saturating_duration_since(started).as_secs_f64() / d.as_secs_f64().max(1e-9)
        });
        let by_ops = self.ops_goal.map(|goal| ops as f64 / goal.max(1) as f64);
        let done = by_time.into_iter().chain(by_ops).fold(0.0, f64::max);
        bar.set_position((done.min(1.0) * 1000.0) as u64);
        bar.set_message(format!("{ops} ops, {rate:.0} ops/s, {errors} errors"));
    }

    /// Removes the line, before the summary is printed.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::args::LoadArgs;

    fn config(args: LoadArgs) -> LoadConfig {
        args.validate(Some("IP:127.0.0.1:9001".into()), None, None)
            .unwrap()
    }

    #[test]
    fn start_line_says_what_runs() {
        let c = config(LoadArgs {
            conns: Some(16),
            depth: Some(16),
            prefill: true,
            ..LoadArgs::default()
        });
        assert_eq!(
            start_line(&c, 42),
            "Info, load: 16 connections x 16 in flight on 1 thread to IP:127.0.0.1:9001; \
             10000 ids of 32 bytes, data 100-1500 bytes, mix add=20,get=70,remove=10,have=0, \
             ttl 300000 ms, prefilled; for 10 s; seed 42"
        );
        let c = config(LoadArgs {
            new_conn_per_op: true,
            ..LoadArgs::default()
        });
        assert!(start_line(&c, 1)
            .starts_with("Info, load: 1 clients, a new connection per operation to "));
        let c = config(LoadArgs {
            conns: Some(4),
            rate: Some(1000.0),
            ..LoadArgs::default()
        });
        assert!(start_line(&c, 1)
            .starts_with("Info, load: 4 connections x 1 in flight on 1 thread at 1000 ops/s to "));
    }

    #[test]
    fn summary_line_json_and_errors() {
        let c = config(LoadArgs::default());
        let mut tally = Tally::new();
        let t0 = Instant::now();
        tally.started = Some(t0);
        tally.finished = Some(t0 + Duration::from_secs(2));
        tally.ops = 1000;
        tally.by_op = [200, 700, 100, 0];
        tally.answers.hits = 600;
        tally.answers.misses = 100;
        for us in [10u64, 20, 30, 40, 1000] {
            tally.latency.record(us).unwrap();
        }
        let s = Summary::new(&c, 7, &tally);
        assert_eq!(
            s.line(),
            "Info, load: 1000 ops in 2.000 s, 500 ops/s, 0 errors; latency us p50 30 p90 1000 p99 1000 p99.9 1000 max 1000; GET hits 600 misses 100"
        );
        assert!(s.error_lines().is_empty());
        let json: serde_json::Value = serde_json::from_str(&s.json()).unwrap();
        assert_eq!(json["ops"], 1000);
        assert_eq!(json["errors"], 0);
        assert_eq!(json["latency_us"]["p50"], 30);
        assert_eq!(json["by_op"]["get"], 700);
        assert_eq!(json["answers"]["hits"], 600);
        assert_eq!(json["mix"], "add=20,get=70,remove=10,have=0");
        assert_eq!(json["seed"], 7);

        tally.error(|| "connection 0: GET of id #3 missed".into());
        tally.errors += 20;
        tally.unanswered = 4;
        let lines = Summary::new(&c, 7, &tally).error_lines();
        assert_eq!(lines[0], "Error, connection 0: GET of id #3 missed");
        assert_eq!(
            lines[1],
            "Error, 21 errors (wrong answers or failed connections), the first 1 above; 4 requests were lost with their connections"
        );

        let empty = Summary::new(&c, 7, &Tally::new());
        assert_eq!((empty.ops_per_sec, empty.latency_us.max), (0.0, 0));
    }
}
