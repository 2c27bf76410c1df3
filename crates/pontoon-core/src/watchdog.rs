//! Knowing when a loop every user depends on has stopped making progress.
//!
//! The service loop of each transport domain and the client router of server mode handle
//! one event at a time; while one handler waits (on a queue, the store, a deadlock), every
//! user of that loop waits too, and nothing else notices: the process answers, the link is
//! up. Each such loop owns a [`LoopWatch`] and marks itself busy around every event it
//! handles ([`LoopWatch::busy`]); [`watch`] looks at all of them once a second and logs a
//! WARN when one has been busy with the same event for longer than [`STALL_AFTER`], and
//! the readiness endpoint reports it ([`LoopWatch::stalled_for`]). An idle loop (waiting
//! for its next event) is healthy, however long it waits.
//!
//! Cost: two relaxed atomic stores per event handled; one timer task per process.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A loop busy with one event for longer than this is stalled.
pub const STALL_AFTER: Duration = Duration::from_secs(5);

/// How often [`watch`] looks.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// The progress of one loop, shared between the loop and whoever watches it. Cheap to
/// clone.
#[derive(Clone, Debug)]
pub struct LoopWatch {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    name: String,
    origin: Instant,
    /// Milliseconds since `origin` at which the current event's handling started, plus
    /// one; zero while the loop waits for its next event.
    busy_since: AtomicU64,
}

/// Marks its loop busy until dropped (see [`LoopWatch::busy`]).
#[must_use = "the loop is busy only while the guard lives"]
#[derive(Debug)]
pub struct Busy<'a>(&'a Inner);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy_since.store(0, Ordering::Relaxed);
    }
}

impl LoopWatch {
    /// A watch for the loop called `name` (shown in logs and in readiness: `service irc`,
    /// `client router`).
    pub fn new(name: impl Into<String>) -> Self {
        LoopWatch {
            inner: Arc::new(Inner {
                name: name.into(),
                origin: Instant::now(),
                busy_since: AtomicU64::new(0),
            }),
        }
    }

    /// The loop's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Marks the loop busy with one event until the guard is dropped.
    pub fn busy(&self) -> Busy<'_> {
        let ms = millis(self.inner.origin.elapsed()).saturating_add(1);
        self.inner.busy_since.store(ms, Ordering::Relaxed);
        Busy(&self.inner)
    }

    /// How long the loop has been busy with its current event (zero while it waits for
    /// its next one).
    pub fn busy_for(&self) -> Duration {
        let since = self.inner.busy_since.load(Ordering::Relaxed);
        if since == 0 {
            return Duration::ZERO;
        }
        let now = millis(self.inner.origin.elapsed()).saturating_add(1);
        Duration::from_millis(now.saturating_sub(since))
    }

    /// How long the loop has been busy with its current event, if longer than
    /// [`STALL_AFTER`].
    pub fn stalled_for(&self) -> Option<Duration> {
        let busy = self.busy_for();
        (busy > STALL_AFTER).then_some(busy)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Watches `loops` until `shutdown`: a WARN when one stalls (once per stall, with how long
/// so far) and an INFO when it moves again.
pub async fn watch(loops: Vec<LoopWatch>, shutdown: CancellationToken) {
    let mut stalled = vec![false; loops.len()];
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        for (w, was) in loops.iter().zip(stalled.iter_mut()) {
            match (w.stalled_for(), *was) {
                (Some(d), false) => {
                    *was = true;
                    tracing::warn!(
                        target: "pontoon::watchdog",
                        loop_name = w.name(),
                        busy_secs = d.as_secs(),
                        "a loop every user depends on has made no progress for {} s: users of it are not being served",
                        d.as_secs()
                    );
                }
                (None, true) => {
                    *was = false;
                    tracing::info!(target: "pontoon::watchdog", loop_name = w.name(), "the loop is making progress again");
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn busy_too_long_is_a_stall_idle_is_not() {
        let w = LoopWatch::new("service test");
        assert_eq!(w.stalled_for(), None);
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(w.stalled_for(), None, "idle for long is healthy");
        {
            let _busy = w.busy();
            tokio::time::advance(Duration::from_secs(1)).await;
            assert_eq!(w.stalled_for(), None);
            tokio::time::advance(STALL_AFTER).await;
            let d = w.stalled_for();
            assert!(d.is_some_and(|d| d >= STALL_AFTER), "{d:?}");
        }
        assert_eq!(w.stalled_for(), None, "done with the event");
    }
}
