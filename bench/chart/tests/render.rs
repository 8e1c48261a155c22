//! dc_bench_chart end to end: a results file in, an SVG out that
//! rsvg-convert (Debian librsvg2-bin) renders; a bad file is one clear
//! error naming the line.

use std::path::Path;
use std::process::{Command, Output};

const RESULTS: &str = "\
# as bench/compare.sh writes it
section,case,server,ops_per_sec,p50_us,p99_us
distcache protocol,1 conn × 1 in flight,dc_server,15236,61,111
distcache protocol,1 conn × 1 in flight,redis-server,12437,71,159
distcache protocol,16 conns × 16 pipelined,dc_server,948066,247,425
distcache protocol,16 conns × 16 pipelined,redis-server,652061,359,1015
same generator,memcache text 16 × 16,dc_server,416448,608,846
same generator,memcache text 16 × 16,memcached,98901,2643,4375
redis-benchmark,SET,dc_server,56007,,
redis-benchmark,SET,redis-server,45218,,
";

fn chart(args: &[&Path], extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dc_bench_chart"))
        .args(args)
        .args(extra)
        .output()
        .expect("dc_bench_chart runs")
}

#[test]
fn results_become_a_chart_that_renders() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("results.csv");
    let svg_path = dir.path().join("chart.svg");
    std::fs::write(&csv, RESULTS).unwrap();
    let out = chart(&[&csv, &svg_path], &["-note", "a test, not a measurement"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("Info, 4 cases in 3 sections drawn to "),
        "{stderr}"
    );

    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    let texts = dc_chart::svg::texts(&svg);
    for text in [
        "dc_server against redis-server and memcached",
        "a test, not a measurement",
        "distcache protocol",
        "same generator",
        "redis-benchmark",
        "1 conn × 1 in flight",
        "16 conns × 16 pipelined",
        "memcache text 16 × 16",
        "SET",
        "dc_server",
        "redis-server",
        "memcached",
        "948k ops/s · p50 247 µs · p99 425 µs",
        "45.2k ops/s",
        "1.23×",
        "1.45×",
        "4.21×",
        "1.24×",
        "operations per second (log scale)",
        "100k",
    ] {
        assert!(texts.iter().any(|t| t == text), "{text:?} not in {texts:?}");
    }
    // A bar per server and case, in the server's colour.
    let bars = |colour: &str| {
        svg.lines()
            .filter(|l| l.starts_with("<rect") && l.contains(&format!("fill=\"{colour}\"")))
            .count()
    };
    // dc_server: 4 bars and its legend square; redis-server 3 + 1;
    // memcached 1 + 1.
    assert_eq!(
        (bars("#1F77B4"), bars("#D62728"), bars("#2CA02C")),
        (5, 4, 2)
    );

    let png_path = dir.path().join("chart.png");
    let rendered = Command::new("rsvg-convert")
        .arg(&svg_path)
        .arg("-o")
        .arg(&png_path)
        .output()
        .unwrap_or_else(|e| {
            panic!("rsvg-convert does not run ({e}): install it (Debian: apt-get install librsvg2-bin; .ci/run does)")
        });
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let png = std::fs::read(&png_path).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && &png[12..16] == b"IHDR");
    let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    let height = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
    assert_eq!(width, 1200);
    assert!((300..2000).contains(&height), "{height}");
    assert!(png.len() > 20_000, "{} bytes: a blank page?", png.len());
}

#[test]
fn a_bad_results_file_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("results.csv");
    let svg = dir.path().join("chart.svg");
    std::fs::write(
        &csv,
        "section,case,server,ops_per_sec,p50_us,p99_us\na,b,dc_server,fast,1,2\n",
    )
    .unwrap();
    let out = chart(&[&csv, &svg], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        format!("Error, {csv:?}: line 2: ops_per_sec \"fast\" is not a positive number")
    );
    assert!(!svg.exists());

    let missing = dir.path().join("none.csv");
    let out = chart(&[&missing, &svg], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("Error, cannot read the results {missing:?}: ")),
        "{stderr}"
    );

    std::fs::write(&csv, RESULTS).unwrap();
    let out = chart(&[&csv, Path::new("/nonexistent/dir/chart.svg")], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("Error, cannot write the chart to \"/nonexistent/dir/chart.svg\": "),
        "{stderr}"
    );
}
