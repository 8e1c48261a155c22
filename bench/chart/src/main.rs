//! `dc_bench_chart`: draws the results of `bench/compare.sh` (a CSV, see
//! [`results`]) as one SVG bar chart of every server and case (see
//! [`draw`]). The script runs it at the end; by hand:
//!
//! ```sh
//! dc_bench_chart docs/performance.csv docs/performance.svg -title "..." -note "..."
//! ```
#![forbid(unsafe_code)]

mod draw;
mod results;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Draws bench/compare.sh's results as one SVG bar chart: a row per case,
/// a bar per server, throughput on a log scale, and dc_server's ratio to
/// the other server.
#[derive(Parser, Debug)]
#[command(name = "dc_bench_chart", version)]
struct Args {
    /// The results: a CSV with the header
    /// section,case,server,ops_per_sec,p50_us,p99_us.
    results: PathBuf,
    /// The chart to write (SVG).
    chart: PathBuf,
    /// The chart's title.
    #[arg(long, default_value = "dc_server against redis-server and memcached")]
    title: String,
    /// A line under the title: how and where it was measured.
    #[arg(long, default_value = "")]
    note: String,
}

fn main() -> ExitCode {
    let args = dc_cli::parse::<Args>();
    let text = std::fs::read_to_string(&args.results).unwrap_or_else(|e| {
        dc_cli::fail(format!("cannot read the results {:?}: {e}", args.results))
    });
    let sections =
        results::parse(&text).unwrap_or_else(|e| dc_cli::fail(format!("{:?}: {e}", args.results)));
    let captions = draw::Captions {
        title: args.title,
        note: args.note,
    };
    let svg = draw::render(&sections, &captions).unwrap_or_else(|e| dc_cli::fail(e));
    if let Err(e) = std::fs::write(&args.chart, svg) {
        dc_cli::fail(format!("cannot write the chart to {:?}: {e}", args.chart));
    }
    let cases: usize = sections.iter().map(|s| s.cases.len()).sum();
    eprintln!(
        "Info, {cases} cases in {} sections drawn to {}",
        sections.len(),
        args.chart.display()
    );
    ExitCode::SUCCESS
}
