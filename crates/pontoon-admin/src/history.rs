//! The Overview's charts: per transport, the sessions online and the messages per minute
//! (both directions) over the last 24 hours, one point a minute.
//!
//! Kept in memory only (a restart starts the charts again; Prometheus keeps the long
//! history): at most [`POINTS`] points of 24 bytes per transport, about 35 KB. Fed by the
//! console's sampler ([`crate::rates::sample`]), drawn on the server as inline SVG so the page
//! needs no script.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Time between two points.
pub(crate) const STEP: Duration = Duration::from_secs(60);
/// Points kept per transport: 24 hours.
pub(crate) const POINTS: usize = 24 * 60;

#[derive(Clone, Copy)]
struct Point {
    online: u64,
    /// Counters as read (both directions added); the chart shows their differences.
    messages: u64,
}

#[derive(Default)]
struct Series {
    last: Option<Instant>,
    points: VecDeque<Point>,
}

/// The recent points of every transport.
#[derive(Default)]
pub(crate) struct History {
    series: Mutex<HashMap<String, Series>>,
}

/// One transport's chart data, oldest first.
#[derive(Debug, PartialEq)]
pub(crate) struct Chart {
    /// Sessions online at each point.
    pub(crate) online: Vec<u64>,
    /// Messages passed (both directions) in the minute before each point but the first.
    pub(crate) messages_per_minute: Vec<u64>,
}

impl History {
    /// Records `transport`'s numbers now, if a [`STEP`] has passed since its last point.
    pub(crate) fn record(&self, transport: &str, online: u64, messages: u64) {
        self.record_at(Instant::now(), transport, online, messages);
    }

    fn record_at(&self, now: Instant, transport: &str, online: u64, messages: u64) {
        let mut map = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let s = map.entry(transport.to_owned()).or_default();
        if s.last.is_some_and(|t| now.duration_since(t) < STEP) {
            return;
        }
        s.last = Some(now);
        if s.points.len() == POINTS {
            s.points.pop_front();
        }
        s.points.push_back(Point { online, messages });
    }

    /// `transport`'s chart, ending with its numbers now (`online`, `messages`), so the
    /// newest point is live rather than up to a minute old.
    pub(crate) fn chart(&self, transport: &str, online: u64, messages: u64) -> Chart {
        let map = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let mut pts: Vec<Point> = map
            .get(transport)
            .map(|s| s.points.iter().copied().collect())
            .unwrap_or_default();
        pts.push(Point { online, messages });
        Chart {
            online: pts.iter().map(|p| p.online).collect(),
            messages_per_minute: pts
                .windows(2)
                .map(|w| w[1].messages.saturating_sub(w[0].messages))
                .collect(),
        }
    }
}

/// A small line chart of `values` (oldest first) as inline SVG, `label` as its title; made
/// of numbers and the caller's fixed label only, so it is safe to put in the page as is.
pub(crate) fn sparkline(values: &[u64], label: &'static str) -> String {
    const W: usize = 240;
    const H: usize = 40;
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let now = values.last().copied().unwrap_or(0);
    let mut svg = format!(
        "<svg class=\"spark\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\"><title>{label}, last 24 h: now {now}, highest {max}</title>"
    );
    if values.len() >= 2 {
        svg.push_str(
            "<polyline fill=\"none\" stroke=\"currentColor\" stroke-width=\"1.5\" points=\"",
        );
        // The newest point at the right edge; one pixel-ish step per point across 24 hours.
        let step = W as f64 / (POINTS - 1) as f64;
        let start = W as f64 - step * (values.len() - 1) as f64;
        for (i, v) in values.iter().enumerate() {
            let x = start + step * i as f64;
            let y = (H - 2) as f64 - (*v as f64 / max as f64) * (H - 4) as f64;
            let _ = write!(svg, "{x:.1},{y:.1} ");
        }
        svg.push_str("\"/>");
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_point_a_minute_for_a_day() {
        let h = History::default();
        let t0 = Instant::now();
        h.record_at(t0, "irc", 1, 0);
        h.record_at(t0 + Duration::from_secs(30), "irc", 5, 100); // too soon: ignored
        h.record_at(t0 + STEP, "irc", 2, 10);
        h.record_at(t0 + STEP * 2, "irc", 3, 25);
        // The numbers now end the chart.
        assert_eq!(
            h.chart("irc", 4, 30),
            Chart {
                online: vec![1, 2, 3, 4],
                messages_per_minute: vec![10, 15, 5],
            }
        );
        for i in 3..(POINTS as u32 + 10) {
            h.record_at(t0 + STEP * i, "irc", 0, 0);
        }
        assert_eq!(h.chart("irc", 0, 0).online.len(), POINTS + 1);
        assert_eq!(
            h.chart("other", 2, 7),
            Chart {
                online: vec![2],
                messages_per_minute: vec![],
            }
        );
    }

    #[test]
    fn sparkline_is_numbers_and_its_label() {
        let svg = sparkline(&[0, 5, 10], "sessions online");
        assert!(svg.starts_with("<svg class=\"spark\""), "{svg}");
        assert!(svg.contains("<title>sessions online, last 24 h: now 10, highest 10</title>"));
        assert!(svg.contains("<polyline"), "{svg}");
        // One point draws no line.
        assert!(!sparkline(&[3], "x").contains("<polyline"));
    }
}
