//! Message rates for the overview: samples of each transport's message counters, taken
//! every few seconds by [`sample`] (and whenever a page or the API asks), compared with
//! the counters now.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::Shared;

/// How often the background sampler runs and the least time between two samples.
const EVERY: Duration = Duration::from_secs(5);
/// The window a rate is computed over.
const WINDOW: Duration = Duration::from_secs(60);

#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    to_legacy: u64,
    to_xmpp: u64,
}

/// Per-minute message rates of one transport.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Rate {
    pub(crate) to_legacy: f64,
    pub(crate) to_xmpp: f64,
}

/// Recent counter samples per transport (at most WINDOW / EVERY + 2 each).
#[derive(Default)]
pub(crate) struct Rates {
    samples: Mutex<HashMap<String, VecDeque<Sample>>>,
}

impl Rates {
    /// Records the counters of `transport` now (if the last sample is old enough) and
    /// returns its rate over the last minute (or since the first sample, if younger).
    pub(crate) fn observe(&self, transport: &str, to_legacy: u64, to_xmpp: u64) -> Rate {
        self.observe_at(Instant::now(), transport, to_legacy, to_xmpp)
    }

    fn observe_at(&self, now: Instant, transport: &str, to_legacy: u64, to_xmpp: u64) -> Rate {
        let mut map = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let q = map.entry(transport.to_owned()).or_default();
        // Keep one sample at least WINDOW old, drop older ones.
        while q.len() > 1 && q.get(1).is_some_and(|s| now.duration_since(s.at) >= WINDOW) {
            q.pop_front();
        }
        let rate = match q.front() {
            Some(first) if now.duration_since(first.at) >= Duration::from_secs(1) => {
                let minutes = now.duration_since(first.at).as_secs_f64() / 60.0;
                Rate {
                    to_legacy: to_legacy.saturating_sub(first.to_legacy) as f64 / minutes,
                    to_xmpp: to_xmpp.saturating_sub(first.to_xmpp) as f64 / minutes,
                }
            }
            _ => Rate::default(),
        };
        if q.back().is_none_or(|s| now.duration_since(s.at) >= EVERY) {
            q.push_back(Sample {
                at: now,
                to_legacy,
                to_xmpp,
            });
        }
        rate
    }
}

/// Samples every transport every few seconds until `stop` is cancelled.
pub(crate) async fn sample(state: Shared, stop: CancellationToken) {
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {
                for c in &state.gw.services {
                    let s = c.stats();
                    state.rates.observe(c.transport(), s.messages_to_legacy, s.messages_to_xmpp);
                    let online = s.sessions[pontoon_core::SessionState::Online.index()];
                    let messages = s.messages_to_legacy.saturating_add(s.messages_to_xmpp);
                    state.history.record(c.transport(), online, messages);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_over_the_last_minute() {
        let r = Rates::default();
        let t0 = Instant::now();
        assert_eq!(r.observe_at(t0, "irc", 0, 0), Rate::default());
        let rate = r.observe_at(t0 + Duration::from_secs(30), "irc", 10, 20);
        assert!((rate.to_legacy - 20.0).abs() < 0.01, "{rate:?}");
        assert!((rate.to_xmpp - 40.0).abs() < 0.01, "{rate:?}");
        // Samples every 5 s for two minutes at 1 message per second.
        for i in 7..=24 {
            r.observe_at(t0 + Duration::from_secs(i * 5), "irc", i * 5, 0);
        }
        let rate = r.observe_at(t0 + Duration::from_secs(121), "irc", 121, 0);
        assert!((rate.to_legacy - 60.0).abs() < 1.0, "{rate:?}");
        let n = r.samples.lock().map(|m| m["irc"].len()).unwrap_or(0);
        assert!(n <= 14, "{n} samples kept");
    }
}
