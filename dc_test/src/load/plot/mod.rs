//! The chart of a load run (`--plot FILE.svg`): three panels, one above
//! the other, under a title that says what ran —
//!
//! 1. throughput (operations answered per second) in each slice of the
//!    run ([`super::timeline`]);
//! 2. p50, p99 and p99.9 latency in each slice, on a log scale;
//! 3. the latency distribution of the whole run from the run's own
//!    histogram: latency against percentile, the percentile axis spread by
//!    "nines" (90%, 99%, 99.9%...) so the tail gets as much room as the
//!    body.
//!
//! Drawn with plotters' SVG backend, which writes text as `<text>`
//! elements for the viewer to lay out: no font is read here, and the file
//! renders the same in a browser or with `rsvg-convert`. The drawing takes
//! a [`RunChart`], plain numbers, so it can be tested without a run.
//! [`PlotFile`] is where it goes; `dc_chart::labels` writes its numbers.

mod file;

use std::io;
use std::path::PathBuf;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use thiserror::Error;

use super::args::LoadConfig;
use super::report::Summary;
use super::tally::Tally;
use super::timeline::Slice;

pub use self::file::PlotFile;
use dc_chart::labels::{
    log_bounds, log_ticks, nines_label, rate_label, seconds_axis, seconds_label, us_label,
};

/// Size of the chart, in pixels.
pub const SIZE: (u32, u32) = (1100, 1200);
/// Deepest percentile drawn, in nines (6: 99.9999%).
pub const MAX_NINES: f64 = 6.0;

/// Throughput's colour.
const THROUGHPUT: RGBColor = RGBColor(31, 119, 180);
/// The percentiles' colours: p50, p99, p99.9.
const P50: RGBColor = RGBColor(44, 160, 44);
const P99: RGBColor = RGBColor(255, 127, 14);
const P999: RGBColor = RGBColor(214, 39, 40);
const GREY: RGBColor = RGBColor(90, 90, 90);
/// The minor grid lines: barely there.
const LIGHT_GRID: RGBColor = RGBColor(246, 246, 246);

/// Why the chart could not be written.
#[derive(Debug, Error)]
pub enum PlotError {
    /// The file cannot be created or written.
    #[error("cannot write the chart to {path:?}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// plotters refused to draw (a bug here: the ranges are checked).
    #[error("cannot draw the chart: {0}")]
    Draw(String),
}

/// One slice of the run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Middle of the slice, in seconds from the start of the timed phase.
    pub t: f64,
    /// Operations answered per second in it.
    pub ops_per_sec: f64,
    /// Latency percentiles in it, in microseconds: p50, p99, p99.9 (none
    /// if nothing was answered in it).
    pub latency: Option<[u64; 3]>,
}

/// What the chart shows: plain numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct RunChart {
    /// First line: what ran.
    pub title: String,
    /// Under it: the workload, and what the run measured.
    pub subtitles: [String; 2],
    /// Length of the timed phase, in seconds.
    pub seconds: f64,
    /// Width of a slice, in seconds.
    pub slice: f64,
    /// The slices, in order.
    pub points: Vec<Point>,
    /// The distribution: (nines, latency in µs), nines = -log10(1 - q).
    pub distribution: Vec<(f64, u64)>,
    /// The run's p50, p99, p99.9 and max, in µs, marked on the
    /// distribution.
    pub marks: [u64; 4],
}

impl RunChart {
    /// The chart of a run of `config` that counted `tally` (with its
    /// timeline) and was summed up as `summary`.
    pub fn new(config: &LoadConfig, summary: &Summary, tally: &Tally) -> RunChart {
        let shape = if config.new_conn_per_op {
            format!("{} clients, a connection per operation", config.conns)
        } else {
            let paced = config
                .rate
                .map(|r| format!(", paced at {r} ops/s"))
                .unwrap_or_default();
            format!(
                "{} conn{} × {} in flight{paced}",
                config.conns,
                if config.conns == 1 { "" } else { "s" },
                config.depth
            )
        };
        let title = format!(
            "dc_test load: {} to {}, {shape}",
            config.proto, config.connect
        );
        let workload = format!(
            "mix {}; {} ids of {} bytes, data {}-{} bytes, ttl {} ms{}; seed {}",
            config.mix,
            config.ids,
            config.id_len,
            config.data_min,
            config.data_max,
            config.ttl_ms,
            if config.prefill { ", prefilled" } else { "" },
            summary.seed,
        );
        let l = &summary.latency_us;
        let measured = format!(
            "{} ops in {:.1} s: {} ops/s, p50 {}, p99 {}, p99.9 {}, max {}; {} errors",
            summary.ops,
            summary.seconds,
            rate_label(summary.ops_per_sec),
            us_label(l.p50 as f64),
            us_label(l.p99 as f64),
            us_label(l.p999 as f64),
            us_label(l.max as f64),
            summary.errors,
        );
        let (points, slice) = match (&tally.timeline, tally.finished) {
            (Some(timeline), Some(finished)) => (
                points(&timeline.slices(finished)),
                timeline.width().as_secs_f64(),
            ),
            _ => (Vec::new(), 0.0),
        };
        RunChart {
            title,
            subtitles: [workload, measured],
            seconds: summary.seconds,
            slice,
            points,
            distribution: distribution(&tally.latency),
            marks: [l.p50, l.p99, l.p999, l.max],
        }
    }

    /// The chart as an SVG document.
    pub fn render(&self) -> Result<String, PlotError> {
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
            self.draw(&root)
                .map_err(|e| PlotError::Draw(e.to_string()))?;
            root.present().map_err(|e| PlotError::Draw(e.to_string()))?;
        }
        Ok(svg)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        root.fill(&WHITE)?;
        let (head, body) = root.split_vertically(96);
        let centre = i32::try_from(SIZE.0 / 2).unwrap_or(0);
        let title = ("sans-serif", 23)
            .into_font()
            .style(FontStyle::Bold)
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Top));
        head.draw(&Text::new(self.title.clone(), (centre, 12), title))?;
        let subtitle = ("sans-serif", 17)
            .into_font()
            .color(&GREY)
            .pos(Pos::new(HPos::Center, VPos::Top));
        for (line, y) in self.subtitles.iter().zip([44, 68]) {
            head.draw(&Text::new(line.clone(), (centre, y), subtitle.clone()))?;
        }
        let panels = body.split_evenly((3, 1));
        self.draw_throughput(&panels[0])?;
        self.draw_latency(&panels[1])?;
        self.draw_distribution(&panels[2])?;
        Ok(())
    }

    fn time_range(&self) -> std::ops::Range<f64> {
        let end = self
            .points
            .iter()
            .map(|p| p.t + self.slice / 2.0)
            .fold(self.seconds, f64::max);
        0.0..end.max(1e-3)
    }

    fn draw_throughput<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let top = self
            .points
            .iter()
            .map(|p| p.ops_per_sec)
            .fold(0.0, f64::max);
        let top = if top > 0.0 { top * 1.12 } else { 1.0 };
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("Throughput, per {} slice", seconds_label(self.slice)),
                ("sans-serif", 19),
            )
            .margin(12)
            .margin_right(30)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(self.time_range(), 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc("seconds into the timed phase")
            .y_desc("ops/s")
            .y_label_formatter(&|v| rate_label(*v))
            .x_label_formatter(&|v| seconds_axis(*v))
            .light_line_style(LIGHT_GRID)
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .draw()?;
        chart.draw_series(LineSeries::new(
            self.points.iter().map(|p| (p.t, p.ops_per_sec)),
            THROUGHPUT.stroke_width(2),
        ))?;
        if self.points.is_empty() {
            no_data(&chart.plotting_area().strip_coord_spec())?;
        }
        Ok(())
    }

    fn draw_latency<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let values = self.points.iter().filter_map(|p| p.latency).flatten();
        let (low, high) = log_bounds(values);
        // Room above the lines for the legend (about a third of the
        // panel's height).
        let high = high * (high / low).powf(0.35);
        let mut chart = ChartBuilder::on(area)
            .caption(
                "Latency per slice: p50, p99, p99.9 (log scale)",
                ("sans-serif", 19),
            )
            .margin(12)
            .margin_right(30)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(
                self.time_range(),
                (low..high)
                    .log_scale()
                    .with_key_points(log_ticks(low, high)),
            )?;
        chart
            .configure_mesh()
            .x_desc("seconds into the timed phase")
            .y_desc("latency")
            .y_label_formatter(&|v| us_label(*v))
            .x_label_formatter(&|v| seconds_axis(*v))
            .light_line_style(LIGHT_GRID)
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .draw()?;
        for (i, (name, colour)) in [("p50", P50), ("p99", P99), ("p99.9", P999)]
            .into_iter()
            .enumerate()
        {
            let line = self
                .points
                .iter()
                .filter_map(|p| p.latency.map(|l| (p.t, l[i] as f64)));
            chart
                .draw_series(LineSeries::new(line, colour.stroke_width(2)))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 22, y)], colour.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font(("sans-serif", 15))
            .draw()?;
        if self.points.is_empty() {
            no_data(&chart.plotting_area().strip_coord_spec())?;
        }
        Ok(())
    }

    fn draw_distribution<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let deepest = self
            .distribution
            .iter()
            .map(|&(n, _)| n)
            .fold(1.0, f64::max)
            .ceil();
        let (low, high) = log_bounds(self.distribution.iter().map(|&(_, us)| us));
        let mut chart = ChartBuilder::on(area)
            .caption(
                "Latency distribution over the whole run (log scale)",
                ("sans-serif", 19),
            )
            .margin(12)
            .margin_right(30)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d(
                0.0..deepest,
                (low..high)
                    .log_scale()
                    .with_key_points(log_ticks(low, high)),
            )?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("latency")
            // One label per nine: 0%, 90%, 99%...
            .x_labels(deepest as usize + 1)
            .x_label_formatter(&|v| nines_label(*v))
            .y_label_formatter(&|v| us_label(*v))
            .light_line_style(LIGHT_GRID)
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .draw()?;
        chart.draw_series(LineSeries::new(
            self.distribution.iter().map(|&(n, us)| (n, us as f64)),
            THROUGHPUT.stroke_width(2),
        ))?;
        if self.distribution.is_empty() {
            no_data(&chart.plotting_area().strip_coord_spec())?;
            return Ok(());
        }
        // The summary's figures, where the curve reaches them.
        let last = self.distribution.last().map_or(0.0, |&(n, _)| n);
        let marks = [
            ("p50", 0.5f64, P50, self.marks[0]),
            ("p99", 0.99, P99, self.marks[1]),
            ("p99.9", 0.999, P999, self.marks[2]),
        ];
        for (name, q, colour, us) in marks {
            let x = -(1.0 - q).log10();
            if x > last + 1e-9 {
                continue; // too few samples to reach it
            }
            let at = (x, us as f64);
            chart.draw_series(std::iter::once(Circle::new(at, 4, colour.filled())))?;
            // Above left of the point, except near the left edge (p50):
            // below right, under the rising curve.
            let (anchor, offset) = if x < 1.0 {
                (Pos::new(HPos::Left, VPos::Top), (8, 6))
            } else {
                (Pos::new(HPos::Right, VPos::Bottom), (-8, -6))
            };
            let style = ("sans-serif", 14).into_font().color(&colour).pos(anchor);
            let label = format!("{name} {}", us_label(us as f64));
            chart.draw_series(std::iter::once(
                EmptyElement::at(at) + Text::new(label, offset, style),
            ))?;
        }
        let max = (last, self.marks[3] as f64);
        chart.draw_series(std::iter::once(Circle::new(max, 4, BLACK.filled())))?;
        let style = ("sans-serif", 14)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Right, VPos::Bottom));
        chart.draw_series(std::iter::once(
            EmptyElement::at(max)
                + Text::new(
                    format!("max {}", us_label(self.marks[3] as f64)),
                    (-6, -6),
                    style,
                ),
        ))?;
        Ok(())
    }
}

/// "no operations answered", across the middle of an empty panel.
fn no_data<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (w, h) = area.dim_in_pixel();
    let style = ("sans-serif", 16)
        .into_font()
        .color(&GREY)
        .pos(Pos::new(HPos::Center, VPos::Center));
    let at = (
        i32::try_from(w / 2).unwrap_or(0),
        i32::try_from(h / 2).unwrap_or(0),
    );
    area.draw(&Text::new("no operations answered", at, style))
}

/// The points of `slices`. A last slice cut shorter than half a width (the
/// answers still in flight at the deadline) is folded into the one before
/// it, so its few answers over a short time do not show as a spike or a
/// dip.
fn points(slices: &[Slice<'_>]) -> Vec<Point> {
    let mut slices: Vec<(f64, f64, hdrhistogram::Histogram<u32>)> = slices
        .iter()
        .map(|s| {
            (
                s.start.as_secs_f64(),
                s.length.as_secs_f64(),
                s.latency.clone(),
            )
        })
        .collect();
    let width = slices.first().map_or(0.0, |s| s.1);
    if slices.len() >= 2 && slices.last().is_some_and(|s| s.1 < width / 2.0) {
        if let Some((_, length, latency)) = slices.pop() {
            if let Some(previous) = slices.last_mut() {
                previous.1 += length;
                // Same bounds on both sides, so this cannot fail.
                let _ = previous.2.add(&latency);
            }
        }
    }
    slices
        .into_iter()
        .filter(|(_, length, _)| *length > 0.0)
        .map(|(start, length, h)| Point {
            t: start + length / 2.0,
            ops_per_sec: h.len() as f64 / length,
            latency: (!h.is_empty()).then(|| [0.5, 0.99, 0.999].map(|q| h.value_at_quantile(q))),
        })
        .collect()
}

/// The latency curve: (nines, latency) every 1/40 of a nine, down to
/// as deep as the samples reach (a run of N answers says nothing past
/// 1 - 1/N) or [`MAX_NINES`].
fn distribution(h: &hdrhistogram::Histogram<u64>) -> Vec<(f64, u64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let deepest = (h.len() as f64).log10().clamp(0.0, MAX_NINES);
    let steps = (deepest * 40.0).floor() as u32;
    let mut curve: Vec<(f64, u64)> = (0..=steps)
        .map(|i| {
            let nines = f64::from(i) / 40.0;
            (nines, h.value_at_quantile(1.0 - 10f64.powf(-nines)))
        })
        .collect();
    curve.push((deepest.max(1e-3), h.max()));
    curve
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run that ramps up, dips in the middle and has a slow tail.
    fn synthetic() -> RunChart {
        let points = (0..60)
            .map(|i| {
                let t = f64::from(i) * 0.1 + 0.05;
                let dip = if (25..30).contains(&i) { 0.4 } else { 1.0 };
                let p50 = 90 + i as u64;
                Point {
                    t,
                    ops_per_sec: 150_000.0 * dip,
                    latency: Some([p50, p50 * 4, p50 * 30]),
                }
            })
            .collect();
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for i in 0..100_000u64 {
            h.record(50 + i % 200 + if i % 1000 == 0 { 20_000 } else { 0 })
                .unwrap();
        }
        RunChart {
            title: "dc_test load: distcache to IP:127.0.0.1:9001, 16 conns × 16 in flight".into(),
            subtitles: [
                "mix add=20,get=70,remove=10,have=0; 10000 ids of 32 bytes, data 100-1500 bytes, ttl 300000 ms, prefilled; seed 42".into(),
                "900000 ops in 6.0 s: 150k ops/s, p50 150 µs, p99 248 µs, p99.9 249 µs, max 20.1 ms; 0 errors".into(),
            ],
            seconds: 6.0,
            slice: 0.1,
            points,
            distribution: distribution(&h),
            marks: [
                h.value_at_quantile(0.5),
                h.value_at_quantile(0.99),
                h.value_at_quantile(0.999),
                h.max(),
            ],
        }
    }

    #[test]
    fn draws_every_panel_and_series() {
        let svg = synthetic().render().unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.trim_end().ends_with("</svg>"));
        let texts = dc_chart::svg::texts(&svg);
        for text in [
            "dc_test load: distcache to IP:127.0.0.1:9001, 16 conns × 16 in flight",
            "Throughput, per 100 ms slice",
            "Latency per slice: p50, p99, p99.9 (log scale)",
            "Latency distribution over the whole run (log scale)",
            "seconds into the timed phase",
            "percentile",
            "ops/s",
            "140k",
            "1 ms",
            "99.9%",
            "p50",
            "p99",
            "p99.9",
            "p99 248 µs",
            "max 20.1 ms",
        ] {
            assert!(
                texts.iter().any(|t| t == text),
                "{text:?} missing from {texts:?}"
            );
        }
        // Each series in its colour: throughput and the distribution,
        // then the percentiles.
        for colour in ["#1F77B4", "#2CA02C", "#FF7F0E", "#D62728"] {
            assert!(svg.contains(&format!("stroke=\"{colour}\"")), "{colour}");
        }
        assert!(!texts.iter().any(|t| t == "no operations answered"));
    }

    #[test]
    fn an_empty_run_still_draws_and_says_so() {
        let chart = RunChart {
            title: "t".into(),
            subtitles: ["s".into(), "0 ops".into()],
            seconds: 0.0,
            slice: 0.0,
            points: Vec::new(),
            distribution: Vec::new(),
            marks: [0; 4],
        };
        let svg = chart.render().unwrap();
        let texts = dc_chart::svg::texts(&svg);
        let empty = texts.iter().filter(|t| *t == "no operations answered");
        assert_eq!(empty.count(), 3, "{texts:?}");
    }

    #[test]
    fn the_curve_stops_where_the_samples_do() {
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 1_000_000, 3).unwrap();
        for v in 1..=1000 {
            h.record(v).unwrap();
        }
        let curve = distribution(&h);
        // 1000 samples: three nines deep, then the max.
        assert_eq!(curve.first(), Some(&(0.0, 1)));
        let &(deepest, max) = curve.last().unwrap();
        assert!((deepest - 3.0).abs() < 1e-9 && max == 1000, "{curve:?}");
        let at_two = curve.iter().find(|(n, _)| (*n - 2.0).abs() < 1e-9).unwrap();
        assert!((989..=991).contains(&at_two.1), "{at_two:?}");
        assert!(curve.windows(2).all(|w| w[0].1 <= w[1].1));
    }

    #[test]
    fn slices_become_points_and_a_short_last_one_is_folded_in() {
        use crate::load::timeline::Timeline;
        use std::time::{Duration, Instant};
        let t0 = Instant::now();
        let ms = Duration::from_millis(1);
        let mut t = Timeline::new(t0, 100 * ms);
        for i in 0..100u32 {
            t.record(t0 + i * 2 * ms, 100); // 100 in the first 200 ms
        }
        t.record(t0 + 205 * ms, 5000);
        let p = points(&t.slices(t0 + 210 * ms));
        assert_eq!(p.len(), 2, "{p:?}");
        assert!((p[0].ops_per_sec - 500.0).abs() < 1e-6);
        // 50 + 1 answers over 110 ms.
        assert!((p[1].ops_per_sec - 51.0 / 0.11).abs() < 1e-6, "{p:?}");
        assert!(p[1].latency.unwrap()[2] >= 4900);
    }
}
