//! Messages a transport holds back: IRC writes a user's messages at its server's pace (a
//! burst, then a few a second: flood protection), so a pasted burst waits in the
//! transport's queue for seconds or minutes, where a `kill -9` would lose it. While that
//! can be the case, each message the session hands over is kept in the store first and
//! handed `LegacyCommand::Tracked` with the store's receipt; the transport settles it once
//! written or failed (`LegacyEvent::Settled`), and the row is forgotten. A row left by a
//! crash is sent by the next run, or by the instance that takes the session over
//! (`crate::outbox`). A message that goes out at once costs nothing.
//!
//! When "can be the case": the transport's queue said it is backed up
//! (`LegacyEvent::Backlog`), or the session's own estimate of the transport's bucket
//! ([`Pace`], from `Transport::pacing`) says the message is past the first half of a burst.
//! The estimate is needed because the transport's word comes back a moment after the
//! burst: a pasted burst arrives faster than that. Its half-burst margin covers what the
//! estimate does not see (the transport's own lines, long messages cut in several).
//!
//! What waited in the outbox goes out only while the queue is not backed up
//! (`outbox.rs`), one message at a time.

use super::*;
use crate::legacy::ChatId;

/// The session's estimate of the transport's flood bucket: how much of the burst the
/// messages it handed over recently have spent. 8 bytes (every session has one).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Pace {
    /// Messages' worth of the burst spent.
    spent: f32,
    /// When it was last updated (`now_ms`).
    at: u32,
}

/// Milliseconds since the first call, wrapping (about 49 days): all [`Pace`] compares is
/// the time between two messages.
fn now_ms() -> u32 {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let epoch = EPOCH.get_or_init(std::time::Instant::now);
    // Truncation is the wrap.
    #[allow(clippy::cast_possible_truncation)]
    let ms = epoch.elapsed().as_millis() as u32;
    ms
}

impl Pace {
    /// One more message handed to a transport pacing at `pacing`, at `now` (ms): whether it
    /// is past the first half of the burst (it may have to wait).
    fn spend(&mut self, pacing: crate::transport::Pacing, now: u32) -> bool {
        let elapsed = f64::from(now.wrapping_sub(self.at)) / 1000.0;
        let refilled = (elapsed * pacing.per_second) as f32;
        self.spent = (self.spent - refilled).max(0.0) + 1.0;
        self.at = now;
        #[allow(clippy::cast_precision_loss)]
        let half = (pacing.burst as f32 / 2.0).max(1.0);
        self.spent > half
    }
}

impl Session {
    /// Whether a transport connection's queue is backed up.
    pub(super) fn backed_up(&self) -> bool {
        self.backlog > 0
    }

    /// A connection's queue is backed up (`waiting`) or empty again.
    pub(super) fn on_backlog(&mut self, waiting: bool) {
        self.backlog = if waiting {
            self.backlog.saturating_add(1)
        } else {
            self.backlog.saturating_sub(1)
        };
        debug!(
            waiting,
            connections = self.backlog,
            "the network's queue of the user's messages"
        );
    }

    /// Hands the message `command` (`SendMessage`, `SendRoomMessage`) to the transport, kept
    /// in the store and tracked when it may wait in the transport's queue, and counts it
    /// ([`Session::sent_to_legacy`]); bounces `stanza` if the legacy session has ended.
    ///
    /// Not an `async fn`: the message goes into the queue's box at once, so this future
    /// (inlined in the per-message handlers the session boxes) does not keep it; the rare
    /// tracked path, with its store write, is boxed apart.
    pub(crate) fn message_to_legacy<'a>(
        &'a mut self,
        command: LegacyCommand,
        stanza: &'a Element,
    ) -> impl std::future::Future<Output = bool> + Send + 'a {
        use futures::future::Either;
        let past_burst = self
            .ctx
            .transport
            .pacing()
            .is_some_and(|p| self.pace.spend(p, now_ms()));
        if past_burst || self.backed_up() {
            return Either::Left(Box::pin(async move {
                let command = self.track(command, stanza).await;
                self.to_legacy_counted(command, stanza).await
            }));
        }
        Either::Right(self.to_legacy_counted(command, stanza))
    }

    /// [`Session::to_legacy`], then [`Session::sent_to_legacy`] if it went.
    fn to_legacy_counted<'a>(
        &'a self,
        command: LegacyCommand,
        stanza: &'a Element,
    ) -> impl std::future::Future<Output = bool> + Send + 'a {
        let sending = self.to_legacy(command, stanza);
        async move {
            let sent = sending.await;
            if sent {
                self.sent_to_legacy();
            }
            sent
        }
    }

    async fn track(&mut self, command: LegacyCommand, stanza: &Element) -> LegacyCommand {
        let chat = match &command {
            LegacyCommand::SendMessage { to, .. } => ChatId::Contact(to.clone()),
            LegacyCommand::SendRoomMessage { room, .. } => ChatId::Room(room.clone()),
            _ => return command,
        };
        match self.ctx.outbox.hand(&self.user, &chat, stanza).await {
            Ok(receipt) => {
                debug!(chat = %chat.id(), receipt, "message kept until the network takes it");
                self.tracked = true;
                LegacyCommand::Tracked {
                    receipt,
                    command: Box::new(command),
                }
            }
            Err(e) => {
                // It still goes: only its insurance against a crash is missing.
                warn!(error = %e, "could not keep a message the network queues");
                command
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Pacing;

    #[test]
    fn the_estimate_tracks_past_half_a_burst_and_refills() {
        let irc = Pacing {
            burst: 10,
            per_second: 2.0,
        };
        let mut pace = Pace::default();
        let burst: Vec<bool> = (0..8).map(|_| pace.spend(irc, 1000)).collect();
        assert_eq!(burst, [false, false, false, false, false, true, true, true]);
        // Four seconds later, eight messages' worth came back: the next goes at once.
        assert!(!pace.spend(irc, 5000));
        // One a second is within 2/s: never tracked.
        let steady: Vec<bool> = (6..20).map(|s| pace.spend(irc, s * 1000)).collect();
        assert!(steady.iter().all(|t| !t), "{steady:?}");
        // No pacing to speak of (the benchmark's settings): never tracked.
        let mut pace = Pace::default();
        let open = Pacing {
            burst: 10_000,
            per_second: 100_000.0,
        };
        assert!((0..1000).all(|_| !pace.spend(open, 7)));
    }
}
