//! What the distcache charts share: `dc_test -plot` (throughput and latency
//! over one run) and `dc_bench_chart` (bench/compare.sh's results) write
//! numbers the same way and put the same ticks on their log axes, and
//! their tests read the drawn texts back the same way. Drawing itself
//! (plotters) stays with each chart: their layouts share nothing.
#![forbid(unsafe_code)]

pub mod labels;
pub mod svg;
