//! A fleet run as a picture a person reads at a glance (SVG, no scripts, no fonts to fetch): on
//! the left, start scripts completed and uplinks sent per virtual hour; on the right, how many
//! devices spent how much energy per day.

use crate::summary::Summary;
use std::fmt::Write;

const WIDTH: f64 = 420.0;
const HEIGHT: f64 = 260.0;
const MARGIN: f64 = 40.0;

/// The summary's plot, as an SVG document.
pub fn svg(summary: &Summary) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">"##,
        w = WIDTH * 2.0,
        h = HEIGHT
    );
    out.push_str(r##"<rect width="100%" height="100%" fill="white"/>"##);
    per_hour(&mut out, summary);
    energy(&mut out, summary);
    out.push_str("</svg>\n");
    out
}

/// The plot area's corners: left, top, right, bottom.
fn frame(out: &mut String, left: f64, title: &str, x_label: &str) -> (f64, f64, f64, f64) {
    let (x0, y0, x1, y1) = (left + MARGIN, 24.0, left + WIDTH - 10.0, HEIGHT - MARGIN);
    let _ = write!(
        out,
        r##"<text x="{tx}" y="14" font-weight="bold">{title}</text><path d="M{x0} {y0} V{y1} H{x1}" fill="none" stroke="#444"/><text x="{lx}" y="{ly}" text-anchor="middle">{x_label}</text>"##,
        tx = left + 10.0,
        lx = (x0 + x1) / 2.0,
        ly = HEIGHT - 8.0
    );
    (x0, y0, x1, y1)
}

fn label(out: &mut String, x: f64, y: f64, anchor: &str, text: impl std::fmt::Display) {
    let _ = write!(
        out,
        r##"<text x="{x:.1}" y="{y:.1}" text-anchor="{anchor}">{text}</text>"##
    );
}

fn per_hour(out: &mut String, summary: &Summary) {
    let (x0, y0, x1, y1) = frame(out, 0.0, "per virtual hour", "hour");
    let hours = summary.hours.len().max(1) as f64;
    let top = summary
        .hours
        .iter()
        .map(|h| h.starts.max(h.uplinks_sent))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let point = |i: usize, v: u64| {
        let x = x0 + (x1 - x0) * (i as f64 + 0.5) / hours;
        let y = y1 - (y1 - y0) * v as f64 / top;
        format!("{x:.1},{y:.1}")
    };
    let lines = [("starts", "#1f77b4"), ("uplinks sent", "#d62728")];
    for (n, (name, colour)) in lines.iter().enumerate() {
        let points: Vec<String> = summary
            .hours
            .iter()
            .enumerate()
            .map(|(i, h)| point(i, if n == 0 { h.starts } else { h.uplinks_sent }))
            .collect();
        let _ = write!(
            out,
            r##"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"##,
            points.join(" ")
        );
        let y = y0 + 12.0 + 14.0 * n as f64;
        let _ = write!(
            out,
            r##"<rect x="{}" y="{}" width="10" height="3" fill="{colour}"/>"##,
            x1 - 110.0,
            y - 4.0
        );
        label(out, x1 - 96.0, y, "start", name);
    }
    label(out, x0 - 4.0, y0 + 4.0, "end", top as u64);
    label(out, x0 - 4.0, y1, "end", 0);
    label(out, x1, y1 + 14.0, "end", summary.hours.len());
}

fn energy(out: &mut String, summary: &Summary) {
    let (x0, y0, x1, y1) = frame(
        out,
        WIDTH,
        "devices by energy per day",
        "µAh per device per day",
    );
    let bars: Vec<(u64, u64)> = summary.total.energy_nah_per_day.bars().collect();
    let most = bars.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1) as f64;
    let width = (x1 - x0) / bars.len().max(1) as f64;
    for (i, (floor, n)) in bars.iter().enumerate() {
        let height = (y1 - y0) * *n as f64 / most;
        let _ = write!(
            out,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{height:.1}" fill="#2ca02c"><title>{n} devices from {:.3} µAh/day</title></rect>"##,
            x0 + width * i as f64 + 1.0,
            y1 - height,
            (width - 2.0).max(1.0),
            *floor as f64 / 1000.0
        );
    }
    if let (Some((first, _)), Some((last, _))) = (bars.first(), bars.last()) {
        label(
            out,
            x0,
            y1 + 14.0,
            "start",
            format!("{:.1}", *first as f64 / 1000.0),
        );
        label(
            out,
            x1,
            y1 + 14.0,
            "end",
            format!("{:.1}", *last as f64 / 1000.0),
        );
    }
    label(out, x0 - 4.0, y0 + 4.0, "end", most as u64);
}
