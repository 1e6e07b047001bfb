//! The two PNG plots: Strict commits/s against writer threads, and the get-latency percentile
//! curve. Text uses the `DejaVu` Sans font embedded in the binary, so no system font is needed.

use std::path::Path;

use plotters::prelude::*;

use crate::bench::{Results, WRITERS};
use crate::engines::{NOT_POWER_SAFE, Result};
use crate::report::percentile;

/// Engine names and their colors, in-mem first and drawn thicker.
const SERIES: [(&str, RGBColor); 7] = [
    ("in-mem", RGBColor(214, 39, 40)),
    ("redb", RGBColor(31, 119, 180)),
    ("fjall", RGBColor(44, 160, 44)),
    ("sled", RGBColor(148, 103, 189)),
    ("lmdb", RGBColor(140, 86, 75)),
    ("sqlite", RGBColor(255, 127, 14)),
    ("skipmap floor", RGBColor(127, 127, 127)),
];

fn text_error(e: impl std::fmt::Display) -> crate::engines::Error {
    e.to_string().into()
}

/// Registers the embedded font under the family name plotters asks for.
pub fn register_font() -> Result<()> {
    plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
        .map_err(|_| "the embedded DejaVu font did not load")?;
    Ok(())
}

fn width(name: &str) -> u32 {
    if name == "in-mem" { 3 } else { 2 }
}

/// Durable commits per second against writer threads, one line per engine.
pub fn strict_writers(r: &Results, path: &Path) -> Result<()> {
    let mut lines = Vec::new();
    let mut top: f64 = 1.0;
    for (name, color) in SERIES {
        let points: Vec<(f64, f64)> = WRITERS
            .iter()
            .filter_map(|&t| {
                let rate = r.median(&format!("durable_put_{t}t"), name)?;
                // Thread counts are tiny: the conversion is exact.
                #[allow(clippy::cast_precision_loss)]
                let x = t as f64;
                Some((x, rate))
            })
            .collect();
        if points.is_empty() {
            continue;
        }
        top = points.iter().fold(top, |m, p| m.max(p.1));
        let shown = if NOT_POWER_SAFE.iter().any(|(peer, _)| *peer == name) {
            format!("{name} (sync_file_range: not power-safe)")
        } else {
            name.to_string()
        };
        lines.push((name, shown, color, points));
    }
    let root = BitMapBackend::new(path, (1000, 620)).into_drawing_area();
    root.fill(&WHITE).map_err(text_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Durable commits/s against writer threads (in-mem Strict; peers' most durable mode)",
            ("sans-serif", 22),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(0.5f64..8.5f64, 0f64..top * 1.15)
        .map_err(text_error)?;
    chart
        .configure_mesh()
        .x_labels(9)
        .x_label_formatter(&|x| {
            let rounded = x.round();
            if (x - rounded).abs() < 1e-6 && [1.0, 2.0, 4.0, 8.0].contains(&rounded) {
                format!("{rounded:.0}")
            } else {
                String::new()
            }
        })
        .y_label_formatter(&|y| format!("{:.0}k", y / 1e3))
        .x_desc("writer threads")
        .y_desc("commits per second")
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()
        .map_err(text_error)?;
    for (name, shown, color, points) in lines {
        let style = color.stroke_width(width(name));
        chart
            .draw_series(LineSeries::new(points.clone(), style))
            .map_err(text_error)?
            .label(shown)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 5, color.filled())))
            .map_err(text_error)?;
    }
    if let Some(floor) = r.median("durable_put_1t", "fdatasync floor") {
        let style = BLACK.stroke_width(1);
        chart
            .draw_series(DashedLineSeries::new(
                vec![(0.5, floor), (8.5, floor)],
                8,
                6,
                style,
            ))
            .map_err(text_error)?
            .label("fdatasync floor (1 writer)")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
    }
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 16))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(text_error)?;
    root.present().map_err(text_error)?;
    Ok(())
}

/// Get latency (microseconds, log scale) against the percentile, on a "number of nines" axis.
pub fn get_latency(r: &Results, path: &Path) -> Result<()> {
    const STEPS: u32 = 200;
    const NINES_MAX: f64 = 4.0;
    let mut lines = Vec::new();
    let (mut lo, mut hi) = (f64::MAX, 0f64);
    for (name, color) in SERIES {
        let Some(samples) = r.get_latency_ns.get(name) else {
            continue;
        };
        let mut sorted = samples.clone();
        sorted.sort_unstable();
        let points: Vec<(f64, f64)> = (0..=STEPS)
            .map(|i| {
                let nines = 0.3 + (NINES_MAX - 0.3) * f64::from(i) / f64::from(STEPS);
                let p = 1.0 - 10f64.powf(-nines);
                (nines, f64::from(percentile(&sorted, p)).max(1.0) / 1e3)
            })
            .collect();
        for p in &points {
            lo = lo.min(p.1);
            hi = hi.max(p.1);
        }
        lines.push((name, color, points));
    }
    if lines.is_empty() {
        return Ok(());
    }
    let root = BitMapBackend::new(path, (1000, 620)).into_drawing_area();
    root.fill(&WHITE).map_err(text_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Random get latency, 1 thread, 1M keys (24 B keys, 100 B values)",
            ("sans-serif", 22),
        )
        .margin(20)
        .margin_right(45)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(0f64..NINES_MAX, (lo * 0.8..hi * 1.25).log_scale())
        .map_err(text_error)?;
    chart
        .configure_mesh()
        .x_labels(5)
        .x_label_formatter(&|x| match x.round() as i64 {
            0 => "p0".into(),
            1 => "p90".into(),
            2 => "p99".into(),
            3 => "p99.9".into(),
            4 => "p99.99".into(),
            _ => String::new(),
        })
        .y_label_formatter(&|y| {
            if *y >= 10.0 {
                format!("{y:.0} us")
            } else {
                format!("{y:.1} us")
            }
        })
        .x_desc("percentile (curve starts at p50)")
        .y_desc("latency")
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()
        .map_err(text_error)?;
    for (name, color, points) in lines {
        let style = color.stroke_width(width(name));
        chart
            .draw_series(LineSeries::new(points, style))
            .map_err(text_error)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
    }
    chart
        .configure_series_labels()
        .label_font(("sans-serif", 16))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(text_error)?;
    root.present().map_err(text_error)?;
    Ok(())
}
