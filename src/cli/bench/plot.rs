//! `--plot`: an SVG of throughput (written to the WAL and arrived at the receiver, per
//! second) and lag (p50 and p99 per second) over the run. plotters' SVG backend writes
//! text as SVG `<text>`, so no font library is needed.

use super::report::Outcome;
use plotters::prelude::*;
use std::path::Path;

/// Per-second rates from cumulative polls: (second, written/s, arrived/s).
fn rates(outcome: &Outcome) -> Vec<(f64, f64, f64)> {
    let mut out = Vec::new();
    let mut prev = (0.0, 0u64, 0u64);
    for s in &outcome.timeline {
        if s.at - prev.0 >= 1.0 {
            let dt = s.at - prev.0;
            out.push((
                s.at,
                (s.written - prev.1) as f64 / dt,
                s.arrived.saturating_sub(prev.2) as f64 / dt,
            ));
            prev = (s.at, s.written, s.arrived);
        }
    }
    out
}

pub fn write_svg(path: &Path, outcome: &Outcome) -> Result<(), String> {
    let mut svg = String::new();
    draw(&mut svg, outcome)?;
    std::fs::write(path, svg).map_err(|e| e.to_string())
}

fn draw(svg: &mut String, outcome: &Outcome) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let rates = rates(outcome);
    let end = outcome
        .timeline
        .last()
        .map_or(1.0, |s| s.at)
        .max(rates.last().map_or(1.0, |r| r.0))
        .max(1.0);
    let root = SVGBackend::with_string(svg, (900, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let (top, bottom) = root.split_vertically(320);

    let max_rate = rates.iter().map(|r| r.1.max(r.2)).fold(1.0, f64::max) * 1.1;
    chart(
        &top,
        "throughput (samples/s)",
        (end, max_rate),
        [
            (
                "written to the WAL",
                BLUE,
                rates.iter().map(|r| (r.0, r.1)).collect(),
            ),
            (
                "arrived at the receiver",
                RED,
                rates.iter().map(|r| (r.0, r.2)).collect(),
            ),
        ],
    )?;
    let ticks: Vec<(f64, f64, f64)> = outcome
        .ticks
        .iter()
        .enumerate()
        .filter(|(_, t)| t.0 > 0)
        .map(|(s, t)| (s as f64 + 0.5, t.1, t.2))
        .collect();
    let max_lag = ticks.iter().map(|t| t.2).fold(1.0, f64::max) * 1.1;
    chart(
        &bottom,
        "lag, WAL append to receiver (ms)",
        (end, max_lag),
        [
            ("p50", GREEN, ticks.iter().map(|t| (t.0, t.1)).collect()),
            ("p99", MAGENTA, ticks.iter().map(|t| (t.0, t.2)).collect()),
        ],
    )?;
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

/// A named, coloured line.
type Line<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

/// One panel: two named lines over `0..x_max` x `0..y_max`, with a legend.
fn chart(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    caption: &str,
    (x_max, y_max): (f64, f64),
    lines: [Line<'_>; 2],
) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let mut c = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(|x| e(&x))?;
    c.configure_mesh()
        .x_desc("seconds")
        .draw()
        .map_err(|x| e(&x))?;
    for (name, color, points) in lines {
        c.draw_series(LineSeries::new(points, color))
            .map_err(|x| e(&x))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    c.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|x| e(&x))?;
    Ok(())
}
