//! The comparison chart: one row of horizontal bars per case, one bar per
//! server, throughput on a log scale (the cases span two decades, from a
//! single round trip to 16 × 16 pipelined), each bar labelled with its
//! figures and each case with dc_server's ratio to the other server.
//!
//! Drawn with plotters' SVG backend: text goes out as `<text>` elements,
//! laid out by whatever shows the file, so no font is read here.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use thiserror::Error;

use crate::results::Section;
use dc_chart::labels;

/// Width of the chart, in pixels; the height follows the rows.
pub const WIDTH: u32 = 1200;
/// The server whose ratio to the others is written by each case.
pub const OURS: &str = "dc_server";

const HEAD: u32 = 112;
const AXIS: u32 = 56;
const SECTION_ROW: f64 = 34.0;
const BAR: f64 = 17.0;
const CASE_GAP: f64 = 13.0;
/// Room left of the bars for the case names.
const NAMES: u32 = 285;
/// Room right of the plot for the ratio column.
const RATIOS: u32 = 86;

const GREY: RGBColor = RGBColor(90, 90, 90);

/// plotters refused to draw (a bug here: the ranges are checked).
#[derive(Debug, Error)]
#[error("cannot draw the chart: {0}")]
pub struct DrawError(String);

/// What the chart says besides the bars.
#[derive(Debug, Clone, PartialEq)]
pub struct Captions {
    /// First line.
    pub title: String,
    /// Under it, smaller: how and where it was measured.
    pub note: String,
}

/// A server's colour: the same one in every case.
fn colour(server: &str) -> RGBColor {
    match server {
        "dc_server" => RGBColor(31, 119, 180),
        "redis-server" => RGBColor(214, 39, 40),
        "memcached" => RGBColor(44, 160, 44),
        _ => RGBColor(148, 103, 189),
    }
}

/// The chart of `sections` as an SVG document.
pub fn render(sections: &[Section], captions: &Captions) -> Result<String, DrawError> {
    let height = HEAD + body_height(sections).ceil() as u32 + AXIS + 10;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        draw(&root, sections, captions).map_err(|e| DrawError(e.to_string()))?;
        root.present().map_err(|e| DrawError(e.to_string()))?;
    }
    Ok(svg)
}

fn body_height(sections: &[Section]) -> f64 {
    sections
        .iter()
        .map(|s| {
            SECTION_ROW
                + s.cases
                    .iter()
                    .map(|c| c.bars.len() as f64 * BAR + CASE_GAP)
                    .sum::<f64>()
        })
        .sum()
}

fn text_style(size: u32, colour: RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    ("sans-serif", size)
        .into_font()
        .color(&colour)
        .pos(Pos::new(h, v))
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    sections: &[Section],
    captions: &Captions,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    let centre = (WIDTH / 2) as i32;
    let title = ("sans-serif", 23)
        .into_font()
        .style(FontStyle::Bold)
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Top));
    root.draw(&Text::new(captions.title.clone(), (centre, 12), title))?;
    root.draw(&Text::new(
        captions.note.clone(),
        (centre, 44),
        text_style(16, GREY, HPos::Center, VPos::Top),
    ))?;
    draw_legend(root, sections)?;

    let (_, body) = root.split_vertically(HEAD);
    let rows = body_height(sections);
    let (low, high) = x_range(sections);
    let mut chart = ChartBuilder::on(&body)
        .margin_right(RATIOS)
        .margin_left(10)
        .x_label_area_size(AXIS)
        .y_label_area_size(NAMES)
        .build_cartesian_2d(
            (low..high)
                .log_scale()
                .with_key_points(labels::log_ticks(low, high)),
            0.0..rows,
        )?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc("operations per second (log scale)")
        .x_label_formatter(&|v| labels::rate_label(*v))
        .light_line_style(RGBColor(246, 246, 246))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;

    // Rows from the top: y counts up from the bottom of the plot.
    let mut top = rows;
    let ratio_x = (WIDTH - 14) as i32;
    let (_, head_y) = chart.backend_coord(&(low, rows));
    root.draw(&Text::new(
        "dc / other",
        (ratio_x, head_y - 4),
        text_style(14, GREY, HPos::Right, VPos::Bottom),
    ))?;
    for section in sections {
        let (_, y) = chart.backend_coord(&(low, top - SECTION_ROW / 2.0 - 2.0));
        // The heading's row is blank across, axis and grid included: it
        // is read as a break between sections, and nothing crosses the
        // text.
        root.draw(&Rectangle::new(
            [(0, y - 12), (WIDTH as i32, y + 12)],
            WHITE.filled(),
        ))?;
        let heading = ("sans-serif", 16)
            .into_font()
            .style(FontStyle::Bold)
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Center));
        root.draw(&Text::new(section.name.clone(), (14, y), heading))?;
        top -= SECTION_ROW;
        for case in &section.cases {
            let size = case.bars.len() as f64 * BAR;
            let (left, mid) = chart.backend_coord(&(low, top - size / 2.0));
            root.draw(&Text::new(
                case.name.clone(),
                (left - 10, mid),
                text_style(15, BLACK, HPos::Right, VPos::Center),
            ))?;
            for (i, bar) in case.bars.iter().enumerate() {
                let upper = top - i as f64 * BAR - 1.5;
                let lower = top - (i + 1) as f64 * BAR + 1.5;
                let fill = colour(&bar.server);
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(low, upper), (bar.ops_per_sec, lower)],
                    fill.filled(),
                )))?;
                let mut label = format!("{} ops/s", labels::rate_label(bar.ops_per_sec));
                match (bar.p50_us, bar.p99_us) {
                    (Some(p50), Some(p99)) => label.push_str(&format!(
                        " · p50 {} · p99 {}",
                        labels::us_label(p50),
                        labels::us_label(p99)
                    )),
                    (None, Some(p99)) => {
                        label.push_str(&format!(" · p99 {}", labels::us_label(p99)))
                    }
                    _ => {}
                }
                let (end, y) = chart.backend_coord(&(bar.ops_per_sec, (upper + lower) / 2.0));
                root.draw(&Text::new(
                    label,
                    (end + 6, y),
                    text_style(13, GREY, HPos::Left, VPos::Center),
                ))?;
            }
            if let Some(ratio) = ratio(case) {
                let style = ("sans-serif", 16)
                    .into_font()
                    .style(FontStyle::Bold)
                    .color(&if ratio >= 1.0 { BLACK } else { P_BELOW })
                    .pos(Pos::new(HPos::Right, VPos::Center));
                root.draw(&Text::new(format!("{ratio:.2}×"), (ratio_x, mid), style))?;
            }
            top -= size + CASE_GAP;
        }
    }
    Ok(())
}

/// A ratio below 1 is written in this colour.
const P_BELOW: RGBColor = RGBColor(180, 30, 30);

/// dc_server's throughput over the other server's, for a case of exactly
/// those two.
fn ratio(case: &crate::results::Case) -> Option<f64> {
    let ours = case.bars.iter().find(|b| b.server == OURS)?;
    let [a, b] = &case.bars[..] else {
        return None;
    };
    let other = if a.server == OURS { b } else { a };
    (other.server != OURS).then(|| ours.ops_per_sec / other.ops_per_sec)
}

/// The throughput axis: from a power of ten below the slowest bar to far
/// enough past the fastest that its label fits.
fn x_range(sections: &[Section]) -> (f64, f64) {
    let values = sections
        .iter()
        .flat_map(|s| &s.cases)
        .flat_map(|c| &c.bars)
        .map(|b| b.ops_per_sec);
    let (lo, hi) = values.fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if hi <= 0.0 {
        return (1.0, 10.0);
    }
    let low = 10f64.powf((lo / 2.0).log10().floor());
    // The longest label takes about a quarter of the plot's width.
    let decades = (hi / low).log10();
    let high = hi * 10f64.powf(decades * 0.4 + 0.1);
    (low, high)
}

/// A square of each server's colour and its name, under the note.
fn draw_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    sections: &[Section],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let mut servers: Vec<&str> = Vec::new();
    for bar in sections.iter().flat_map(|s| &s.cases).flat_map(|c| &c.bars) {
        if !servers.contains(&bar.server.as_str()) {
            servers.push(&bar.server);
        }
    }
    // Each entry: a 14 px square, a gap, the name (about 8 px a letter).
    let widths: Vec<i32> = servers
        .iter()
        .map(|s| 14 + 8 + 9 * s.len() as i32 + 28)
        .collect();
    let mut x = (WIDTH as i32 - widths.iter().sum::<i32>()) / 2;
    let y = 80;
    for (server, width) in servers.iter().zip(widths) {
        root.draw(&Rectangle::new(
            [(x, y - 7), (x + 14, y + 7)],
            colour(server).filled(),
        ))?;
        root.draw(&Text::new(
            server.to_string(),
            (x + 22, y),
            text_style(15, BLACK, HPos::Left, VPos::Center),
        ))?;
        x += width;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{Bar, Case};

    fn bar(server: &str, ops: f64) -> Bar {
        Bar {
            server: server.into(),
            ops_per_sec: ops,
            p50_us: Some(100.0),
            p99_us: Some(300.0),
        }
    }

    #[test]
    fn ratios_are_ours_over_the_other() {
        let case = Case {
            name: "c".into(),
            bars: vec![bar("dc_server", 150.0), bar("redis-server", 100.0)],
        };
        assert_eq!(ratio(&case), Some(1.5));
        let alone = Case {
            name: "c".into(),
            bars: vec![bar("dc_server", 150.0)],
        };
        assert_eq!(ratio(&alone), None);
        let theirs = Case {
            name: "c".into(),
            bars: vec![bar("memcached", 150.0), bar("redis-server", 100.0)],
        };
        assert_eq!(ratio(&theirs), None);
    }

    #[test]
    fn the_axis_covers_every_bar_with_room_for_labels() {
        let sections = vec![Section {
            name: "s".into(),
            cases: vec![Case {
                name: "c".into(),
                bars: vec![bar("dc_server", 12_000.0), bar("redis-server", 950_000.0)],
            }],
        }];
        let (low, high) = x_range(&sections);
        assert_eq!(low, 1000.0);
        assert!(high > 950_000.0 * 5.0, "{high}");
    }
}
