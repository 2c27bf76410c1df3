//! [`Repeats`]: a warning or error that keeps coming is shown a few times, then held back,
//! and a line every [`WINDOW`] says how many were held.
//!
//! A hostile client or a failing peer can make one `warn!` fire thousands of times
//! (one per refused stanza, per failed connection); the log must still say what happened
//! without burying everything else. Lines are grouped by call site (the place in the code),
//! which is what "the same line" means to an operator: the fields (a connection, a user)
//! differ, the story does not. Only WARN and ERROR events are counted, so the hot path of
//! INFO and DEBUG events is untouched, and the map holds at most one entry per call site.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::callsite::Identifier;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// How long a call site's count runs before it starts again.
pub const WINDOW: Duration = Duration::from_secs(10);

/// Lines shown per call site and window; the rest are held back.
pub const SHOWN: u32 = 5;

/// The target of the lines saying how many were held (never held themselves).
const TARGET: &str = "pontoon::log_repeats";

/// The target of lines an operator's tools count one by one (failed logins, for fail2ban
/// and the like): never held.
pub const AUDIT_TARGET: &str = "pontoon::audit";

/// One call site's count in the current window.
struct Window {
    started: Instant,
    count: u32,
    held: u32,
    level: Level,
    /// The message of the window's first line, to say which line was held.
    text: String,
}

/// The layer holding back repeated warnings and errors. Cheap to clone: install one clone
/// in the subscriber and run [`Repeats::spawn_reporter`] with another.
#[derive(Clone, Default)]
pub struct Repeats {
    windows: Arc<Mutex<HashMap<Identifier, Window>>>,
}

impl fmt::Debug for Repeats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Repeats").finish_non_exhaustive()
    }
}

/// Picks the message out of an event.
struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            value.clone_into(&mut self.0);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl Repeats {
    /// Whether an event at `level` from `callsite` is shown now (`message` is asked for
    /// only when a window starts).
    fn admit(
        &self,
        callsite: Identifier,
        level: Level,
        now: Instant,
        message: impl FnOnce() -> String,
    ) -> bool {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let w = windows.entry(callsite).or_insert_with(|| Window {
            started: now,
            count: 0,
            held: 0,
            level,
            text: String::new(),
        });
        if w.count == 0 {
            w.text = message();
        }
        w.count = w.count.saturating_add(1);
        if w.count <= SHOWN {
            true
        } else {
            w.held = w.held.saturating_add(1);
            false
        }
    }

    /// The windows over by `now` that held lines back: (level, first message, how many
    /// held). Ended windows start again.
    fn take_ended(&self, now: Instant) -> Vec<(Level, String, u32)> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let mut ended = Vec::new();
        windows.retain(|_, w| {
            if now.duration_since(w.started) < WINDOW {
                return true;
            }
            if w.held > 0 {
                ended.push((w.level, std::mem::take(&mut w.text), w.held));
            }
            // A quiet call site is forgotten; a busy one starts a new window at its next line.
            false
        });
        ended
    }

    /// Says, every second, how many lines the ended windows held back. Runs until
    /// `shutdown` is cancelled, then says it for the windows still open.
    pub fn spawn_reporter(&self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                let last = tokio::select! {
                    _ = shutdown.cancelled() => true,
                    _ = tick.tick() => false,
                };
                let now = Instant::now() + if last { WINDOW } else { Duration::ZERO };
                for (level, text, held) in this.take_ended(now) {
                    report(level, &text, held);
                }
                if last {
                    break;
                }
            }
        })
    }
}

fn report(level: Level, text: &str, held: u32) {
    if level == Level::ERROR {
        tracing::error!(target: TARGET, held, line = %text, "a log line kept repeating; {held} more were held back");
    } else {
        tracing::warn!(target: TARGET, held, line = %text, "a log line kept repeating; {held} more were held back");
    }
}

impl<S: Subscriber> Layer<S> for Repeats {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        let meta = event.metadata();
        // More verbose levels compare greater.
        if *meta.level() > Level::WARN || meta.target() == TARGET || meta.target() == AUDIT_TARGET {
            return true;
        }
        self.admit(meta.callsite(), *meta.level(), Instant::now(), || {
            let mut m = Message(String::new());
            event.record(&mut m);
            m.0
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::logs::{LogBuffer, LogQuery};
    use tracing_subscriber::prelude::*;

    #[test]
    fn a_repeated_warning_is_shown_five_times_then_counted() {
        let repeats = Repeats::default();
        let buffer = LogBuffer::default();
        let subscriber = tracing_subscriber::registry()
            .with(repeats.clone())
            .with(buffer.clone());
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..40 {
                tracing::warn!(conn = i, "the service is too far behind");
                tracing::info!(conn = i, "info lines are never held");
            }
            tracing::error!("another line, its own count");
            for i in 0..10 {
                tracing::warn!(target: AUDIT_TARGET, ip = i, "console login failed");
            }
            let recent = buffer.recent(&LogQuery::default());
            let warned = recent
                .iter()
                .filter(|e| e.message.starts_with("the service is too far behind"))
                .count();
            assert_eq!(warned, SHOWN as usize);
            assert_eq!(
                recent
                    .iter()
                    .filter(|e| e.message.starts_with("info lines"))
                    .count(),
                40
            );
            assert!(recent.iter().any(|e| e.message.starts_with("another line")));
            let audited = recent
                .iter()
                .filter(|e| e.message.starts_with("console login failed"))
                .count();
            assert_eq!(audited, 10, "audit lines are never held");
            // Once the window is over, one line says how many were held.
            for (level, text, held) in repeats.take_ended(Instant::now() + WINDOW) {
                report(level, &text, held);
            }
            let recent = buffer.recent(&LogQuery::default());
            let summary: Vec<_> = recent
                .iter()
                .filter(|e| e.message.contains("more were held back"))
                .collect();
            assert_eq!(summary.len(), 1, "{summary:?}");
            assert!(summary[0].message.contains("35 more"), "{:?}", summary[0]);
            assert!(summary[0].message.contains("the service is too far behind"));
            // And the count starts again.
            tracing::warn!(conn = 99, "the service is too far behind");
            let recent = buffer.recent(&LogQuery::default());
            assert!(recent.iter().any(|e| e.message.contains("conn=99")));
        });
    }
}
