//! The simulator's chart, written by hand as SVG: one panel per scenario with each lane's success
//! rate over a trailing window of simulated minutes, and the outages shaded.

use super::run::{Lane, LaneResult, ScenarioResult};
use std::fmt::Write;

/// Minutes in the trailing window each point averages over.
pub const WINDOW_MINUTES: usize = 10;

const WIDTH: f64 = 960.0;
const PANEL: f64 = 300.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 140.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 40.0;

/// Colour and dash pattern of each lane's line.
fn style(lane: Lane) -> (&'static str, &'static str) {
    match lane {
        Lane::Oracle => ("#555555", "6 4"),
        Lane::Mode(mode) => match mode {
            shared::routing::RoutingMode::Priority => ("#d62728", ""),
            shared::routing::RoutingMode::RoundRobin => ("#ff7f0e", ""),
            shared::routing::RoutingMode::Weighted => ("#9467bd", ""),
            shared::routing::RoutingMode::Smart => ("#2ca02c", ""),
        },
    }
}

/// The success rate at each minute over the trailing window (shorter at the start).
pub fn moving_rate(lane: &LaneResult) -> Vec<f64> {
    (0..lane.per_minute.len())
        .map(|m| {
            let from = (m + 1).saturating_sub(WINDOW_MINUTES);
            let (sent, ok) = lane.per_minute[from..=m]
                .iter()
                .fold((0u64, 0u64), |(s, o), &(a, b)| {
                    (s + u64::from(a), o + u64::from(b))
                });
            if sent == 0 {
                0.0
            } else {
                ok as f64 / sent as f64
            }
        })
        .collect()
}

/// The whole chart.
pub fn chart(results: &[ScenarioResult]) -> String {
    let height = PANEL * results.len() as f64;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r##"<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>"##
    );
    for (k, result) in results.iter().enumerate() {
        panel(&mut out, result, PANEL * k as f64);
    }
    out.push_str("</svg>\n");
    out
}

fn panel(out: &mut String, result: &ScenarioResult, y0: f64) {
    let s = &result.scenario;
    let minutes = f64::from(s.minutes);
    let rates: Vec<(Lane, Vec<f64>)> = result
        .lanes
        .iter()
        .map(|l| (l.lane, moving_rate(l)))
        .collect();
    let lowest = rates
        .iter()
        .flat_map(|(_, r)| r.iter().copied())
        .fold(1.0, f64::min);
    // The y axis starts at the tenth below the lowest point, so differences stay visible.
    let floor = ((lowest * 10.0).floor() / 10.0).clamp(0.0, 0.9);
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, PANEL - TOP - BOTTOM);
    let x = |minute: f64| LEFT + plot_w * minute / minutes;
    let y = |rate: f64| y0 + TOP + plot_h * (1.0 - (rate - floor) / (1.0 - floor));
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="{:.1}" font-size="14" font-weight="bold">{} — success rate, trailing {WINDOW_MINUTES}-minute window ({} payments, seed {})</text>"#,
        y0 + 22.0,
        escape(&s.name),
        s.payments,
        s.seed
    );
    for g in &s.gateways {
        for o in &g.outages {
            let (x0, x1) = (x(o.start.clamp(0.0, minutes)), x(o.end.clamp(0.0, minutes)));
            let _ = writeln!(
                out,
                r##"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{plot_h:.1}" fill="#d62728" fill-opacity="{:.2}"/><text x="{:.1}" y="{:.1}" fill="#a00">{} {}</text>"##,
                y0 + TOP,
                x1 - x0,
                0.06 + 0.1 * o.error_rate,
                x0 + 3.0,
                y0 + TOP + 14.0,
                escape(&g.name),
                if o.error_rate >= 1.0 {
                    "down".to_string()
                } else {
                    format!("{:.0} % errors", o.error_rate * 100.0)
                }
            );
        }
    }
    let mut tick = floor;
    while tick <= 1.0 + 1e-9 {
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="#dddddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{:.0} %</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            y(tick) + 4.0,
            tick * 100.0,
            yy = y(tick)
        );
        tick += if 1.0 - floor > 0.35 { 0.1 } else { 0.05 };
    }
    let step = if minutes > 180.0 { 60 } else { 30 };
    for m in (0..=s.minutes).step_by(step) {
        let xx = x(f64::from(m));
        let _ = writeln!(
            out,
            r##"<line x1="{xx:.1}" x2="{xx:.1}" y1="{:.1}" y2="{:.1}" stroke="#888888"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle">{m} min</text>"##,
            y0 + TOP + plot_h,
            y0 + TOP + plot_h + 5.0,
            y0 + TOP + plot_h + 18.0
        );
    }
    let _ = writeln!(
        out,
        r##"<rect x="{LEFT}" y="{:.1}" width="{plot_w:.1}" height="{plot_h:.1}" fill="none" stroke="#888888"/>"##,
        y0 + TOP
    );
    for (k, (lane, series)) in rates.iter().enumerate() {
        let (colour, dash) = style(*lane);
        let points: Vec<String> = series
            .iter()
            .enumerate()
            .map(|(m, &r)| format!("{:.1},{:.1}", x(m as f64 + 0.5), y(r)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.6" stroke-dasharray="{dash}" points="{}"/>"#,
            points.join(" ")
        );
        let ly = y0 + TOP + 12.0 + 20.0 * k as f64;
        let share = result.oracle_share(*lane) * 100.0;
        let _ = writeln!(
            out,
            r#"<line x1="{:.1}" x2="{:.1}" y1="{ly:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/><text x="{:.1}" y="{:.1}">{} {:.1} %</text>"#,
            LEFT + plot_w + 10.0,
            LEFT + plot_w + 30.0,
            LEFT + plot_w + 35.0,
            ly + 4.0,
            lane.label(),
            share
        );
    }
    let _ = writeln!(
        out,
        r##"<text x="{:.1}" y="{:.1}" fill="#555">(% of oracle)</text>"##,
        LEFT + plot_w + 10.0,
        y0 + TOP + 12.0 + 20.0 * rates.len() as f64
    );
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
