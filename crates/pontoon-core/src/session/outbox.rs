//! The session's side of the persisted outbox (`crate::outbox`): what the user sends while
//! the session has no connection to the network is kept in the store, sent when it
//! connects, and bounced when it cannot be.
//!
//! What waited is sent one message per turn of the session's loop ([`Session::send_next_held`]),
//! not in one go: the network's events are read in between, so a transport that waits for
//! room to hand over its events (an echo, a receipt) never waits on a session that waits for
//! room to hand over the next message. Until the last one is out, what the user sends
//! meanwhile is kept too, behind it: the order holds.

use super::*;
use crate::inbound::Verb;
use crate::legacy::ChatId;
use tokio::time::Instant;

impl Session {
    /// Whether the session has a connection to the network: logged in, not reconnecting.
    pub(crate) fn link_up(&self) -> bool {
        self.state == LegacyState::Online && !self.reconnecting
    }

    /// Whether what the user sends goes to the network now: connected, with nothing older
    /// still waiting.
    pub(crate) fn sends_now(&self) -> bool {
        self.link_up() && self.held.is_none()
    }

    /// Whether a message that waited can be sent now (the session's loop asks): connected,
    /// and the transport's queue not backed up (one message at a time as it drains, so
    /// what waited leaves the store only when the network takes it, `backlog.rs`).
    pub(super) fn has_held_to_send(&self) -> bool {
        self.link_up() && self.held.is_some() && !self.backed_up()
    }

    /// Keeps a message to `chat` until the session can send it; bounced when it cannot be
    /// kept. A chat state is a hint of the moment: not kept.
    pub(crate) async fn hold(&mut self, chat: ChatId, verb: &Verb, stanza: &Element) {
        if matches!(verb, Verb::ChatState(_) | Verb::Nothing) {
            return;
        }
        let refusal = match self.ctx.outbox.keep(&self.user, &chat, stanza).await {
            Ok(true) => {
                debug!(chat = %chat.id(), "message kept until the connection is back");
                if self.held_due.is_none() {
                    let wait = crate::outbox::max_wait(&*self.ctx.transport);
                    self.held_due = Some(Instant::now() + wait);
                }
                return;
            }
            Ok(false) => Refusal::wait(
                "resource-constraint",
                format!(
                    "Too many messages are waiting for the connection to {}; try again when it is back.",
                    self.ctx.display_name
                ),
            ),
            Err(e) => {
                warn!(error = %e, "could not keep a message for the connection");
                Refusal::wait(
                    "internal-server-error",
                    format!(
                        "Not sent: {} is not connected and the gateway could not keep the message for later.",
                        self.ctx.display_name
                    ),
                )
            }
        };
        self.bounce(stanza, refusal).await;
    }

    /// When what waits while the session has no connection is next due to be bounced (the
    /// session's clock, `next_deadline`).
    pub(crate) fn held_deadline(&self) -> Option<Instant> {
        self.held_due.filter(|_| !self.link_up())
    }

    /// Still no connection when the oldest waiting message's time is up: it is bounced
    /// (with any other that waited as long), as the transports' own deadlines do.
    pub(crate) async fn expire_held(&mut self) {
        if self.held_due.is_none_or(|due| due > Instant::now()) {
            return;
        }
        self.held_due = None;
        if self.link_up() || !self.ctx.outbox.may_hold(&self.user) {
            return;
        }
        let wait = crate::outbox::max_wait(&*self.ctx.transport);
        let waiting = match self.ctx.outbox.take_for(&self.user).await {
            Ok(w) => w,
            Err(e) => {
                warn!(error = %e, "could not read the messages waiting for the connection");
                self.held_due = Some(Instant::now() + std::time::Duration::from_secs(5));
                return;
            }
        };
        let (stale, fresh): (Vec<_>, Vec<_>) = waiting
            .into_iter()
            .partition(|w| crate::outbox::too_old(w.time, wait));
        let last = stale.last().map(|w| w.seq);
        for held in stale {
            let refusal = crate::outbox::waited_too_long(&self.ctx.display_name);
            self.bounce(&held.stanza, refusal).await;
        }
        if let Some(last) = last {
            self.ctx.outbox.forget(&self.user, last).await;
        }
        // The next one is due when the oldest left has waited as long.
        self.held_due = fresh.first().map(|w| {
            let waited = crate::archive::now_micros().saturating_sub(w.time);
            let waited = std::time::Duration::from_micros(u64::try_from(waited).unwrap_or(0));
            Instant::now() + wait.saturating_sub(waited)
        });
    }

    /// The session is connected: reads what waits in the store (unless what was read
    /// before is still being sent), for the loop to send.
    pub(super) async fn load_held(&mut self) {
        if self.held.is_some() || !self.ctx.outbox.may_hold(&self.user) {
            return;
        }
        match self.ctx.outbox.take_for(&self.user).await {
            Ok(waiting) if waiting.is_empty() => self.ctx.outbox.drained(&self.user),
            Ok(waiting) => {
                info!(
                    messages = waiting.len(),
                    "sending what waited for the connection"
                );
                self.held = Some(Box::new(waiting.into()));
            }
            // They wait for the next connection, or the service's sweep.
            Err(e) => warn!(error = %e, "could not read the messages waiting for the connection"),
        }
    }

    /// Sends the oldest message that waited, as if it had just come (a room message only
    /// while the user's client is still in the room; one that waited longer than
    /// `crate::outbox::MAX_WAIT` is bounced instead), then forgets it.
    pub(super) async fn send_next_held(&mut self) {
        let Some(held) = self.held.as_mut().and_then(|h| h.pop_front()) else {
            self.held = None;
            return;
        };
        if self.held.as_ref().is_some_and(|h| h.is_empty()) {
            self.held = None;
        }
        if crate::outbox::too_old(held.time, crate::outbox::max_wait(&*self.ctx.transport)) {
            let refusal = crate::outbox::waited_too_long(&self.ctx.display_name);
            self.bounce(&held.stanza, refusal).await;
        } else {
            match crate::inbound::read_message(&held.stanza) {
                Ok(verb) => self.send_held(held.chat, verb, &held.stanza).await,
                Err(refusal) => self.bounce(&held.stanza, refusal).await,
            }
        }
        self.ctx.outbox.forget(&self.user, held.seq).await;
        if self.held.is_none() {
            // What the user sent while these went out.
            self.load_held().await;
        }
    }

    async fn send_held(&mut self, chat: ChatId, verb: Verb, stanza: &Element) {
        match chat {
            ChatId::Contact(_) => Box::pin(self.act(chat, verb, stanza)).await,
            ChatId::Room(room) => {
                let from = stanza.attr("from").and_then(|f| Jid::new(f).ok());
                match from {
                    Some(from) if self.admits_or_bounce(&from, &room, stanza).await => {
                        Box::pin(self.room_send(room, verb, stanza)).await
                    }
                    Some(_) => {}
                    None => warn!("a kept room message has no sender; forgotten"),
                }
            }
        }
    }

    /// The session ends without sending what waits: each message is bounced with `text`,
    /// unless the gateway is shutting down (then it waits for the next run).
    pub(super) async fn fail_outbox(&mut self, text: &str) {
        self.held = None;
        if self.ctx.outbox.is_closing() || !self.ctx.outbox.may_hold(&self.user) {
            return;
        }
        let waiting = match self.ctx.outbox.take_for(&self.user).await {
            Ok(w) => w,
            Err(e) => {
                warn!(error = %e, "could not read the messages waiting for the connection");
                return;
            }
        };
        let last = waiting.last().map(|w| w.seq);
        for held in waiting {
            self.bounce(&held.stanza, Refusal::wait("recipient-unavailable", text))
                .await;
        }
        if let Some(last) = last {
            self.ctx.outbox.forget(&self.user, last).await;
        }
        self.ctx.outbox.drained(&self.user);
    }
}
