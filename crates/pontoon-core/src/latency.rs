//! How long messages take through the gateway: a fixed-bucket histogram per service and
//! direction, recorded lock-free on the message path and read at scrape time.
//!
//! Written here rather than taken from the `metrics` facade: its Prometheus exporter keeps
//! every histogram sample until the next scrape (unbounded memory between scrapes, and no
//! scrape at all on a gateway nobody monitors), and its summaries cost a lock per record.
//! A message here costs one clock read where it was read, one at the hand-over, and two
//! relaxed atomic additions; the memory is 17 words per histogram, whatever the traffic.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The upper bounds of the buckets, in seconds (Prometheus `le`), for a gateway: from a
/// message handed straight through (well under a millisecond) to one that waited for a
/// slow legacy login or a full queue (seconds). Above the last is `+Inf`.
pub const BOUNDS_SECONDS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// [`BOUNDS_SECONDS`] in nanoseconds, compared on the record path.
const BOUNDS_NANOS: [u64; 15] = [
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
    30_000_000_000,
];

/// Buckets: one per bound, and the last for what is above every bound.
const BUCKETS: usize = BOUNDS_NANOS.len() + 1;

/// A latency histogram that many tasks record into without waiting.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Per bucket (not cumulative): how many durations fell in it.
    buckets: [AtomicU64; BUCKETS],
    /// The sum of every duration recorded, in nanoseconds (wraps after 584 years).
    sum_nanos: AtomicU64,
}

impl LatencyHistogram {
    /// Records one duration.
    pub fn record(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = BOUNDS_NANOS
            .iter()
            .position(|&b| nanos <= b)
            .unwrap_or(BUCKETS - 1);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Records the time since `since`.
    pub fn record_since(&self, since: Instant) {
        self.record(since.elapsed());
    }

    /// The counts now.
    pub fn snapshot(&self) -> LatencySnapshot {
        LatencySnapshot {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
            sum_nanos: self.sum_nanos.load(Ordering::Relaxed),
        }
    }
}

/// A copy of a [`LatencyHistogram`]'s counts, for export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencySnapshot {
    buckets: [u64; BUCKETS],
    sum_nanos: u64,
}

impl LatencySnapshot {
    /// Prometheus buckets: each bound of [`BOUNDS_SECONDS`] with how many durations were at
    /// most that long (cumulative), in order; `+Inf` is [`LatencySnapshot::count`].
    pub fn cumulative(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        BOUNDS_SECONDS
            .iter()
            .zip(self.buckets.iter().scan(0u64, |acc, n| {
                *acc = acc.saturating_add(*n);
                Some(*acc)
            }))
            .map(|(&b, n)| (b, n))
    }

    /// How many durations were recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().fold(0u64, |a, n| a.saturating_add(*n))
    }

    /// Their sum, in seconds.
    pub fn sum_seconds(&self) -> f64 {
        Duration::from_nanos(self.sum_nanos).as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_bounds_agree() {
        for (s, n) in BOUNDS_SECONDS.iter().zip(BOUNDS_NANOS) {
            assert_eq!(Duration::from_secs_f64(*s), Duration::from_nanos(n));
        }
        assert!(BOUNDS_NANOS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn durations_land_in_the_first_bucket_that_holds_them() {
        let h = LatencyHistogram::default();
        h.record(Duration::from_micros(100)); // <= 0.5 ms
        h.record(Duration::from_micros(500)); // = 0.5 ms: the bound is inclusive
        h.record(Duration::from_micros(501)); // <= 1 ms
        h.record(Duration::from_millis(7)); // <= 10 ms
        h.record(Duration::from_secs(60)); // above every bound
        let s = h.snapshot();
        let cum: Vec<(f64, u64)> = s.cumulative().collect();
        assert_eq!(cum.len(), BOUNDS_SECONDS.len());
        assert_eq!(cum[0], (0.0005, 2));
        assert_eq!(cum[1], (0.001, 3));
        assert_eq!(cum[3], (0.005, 3));
        assert_eq!(cum[4], (0.01, 4));
        assert_eq!(cum.last().unwrap(), &(30.0, 4));
        assert_eq!(s.count(), 5);
        let sum = 0.0001 + 0.0005 + 0.000501 + 0.007 + 60.0;
        assert!((s.sum_seconds() - sum).abs() < 1e-9, "{}", s.sum_seconds());
    }

    #[test]
    fn buckets_are_cumulative_and_end_at_the_count() {
        let h = LatencyHistogram::default();
        for micros in (0..20_000u64).map(|i| i * 977 % 12_000_000) {
            h.record(Duration::from_micros(micros));
        }
        let s = h.snapshot();
        let counts: Vec<u64> = s.cumulative().map(|(_, n)| n).collect();
        assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
        assert!(*counts.last().unwrap() <= s.count());
        assert_eq!(s.count(), 20_000);
    }

    #[test]
    fn many_tasks_record_without_losing_any() {
        let h = std::sync::Arc::new(LatencyHistogram::default());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let h = h.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u64 {
                        h.record(Duration::from_micros(i * (t + 1)));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(h.snapshot().count(), 40_000);
    }

    /// The record path is cheap: a guard against making it slow by accident (optimised, it
    /// is tens of nanoseconds, most of it the clock read; this bound is loose for debug
    /// builds on a loaded CI machine).
    #[test]
    fn recording_is_cheap() {
        let h = LatencyHistogram::default();
        let start = Instant::now();
        let n = 1_000_000u32;
        for i in 0..n {
            h.record_since(start - Duration::from_micros(u64::from(i % 5000)));
        }
        let per = start.elapsed() / n;
        assert_eq!(h.snapshot().count(), u64::from(n));
        assert!(per < Duration::from_micros(2), "{per:?} per record");
    }
}
