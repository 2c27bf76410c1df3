//! A room's messages both ways: a user's message to a room (checked, held or handed to the
//! transport) and a room's message to the user (one stanza per resource in the room). Both
//! run once per message in a future the session boxes, so each is shaped to keep that
//! future small (see the size test in `session/tests.rs`).

use jid::Jid;
use minidom::Element;
use pontoon_xmpp::OutStanza;

use crate::archive::IdsRecord;
use crate::channel::Stamp;
use crate::legacy::{LegacyEvent, LegacyId};
use crate::render::{Chat, Shown};
use crate::session::Session;
use crate::stanza::Refusal;
use crate::verbs::Pending;

impl Session {
    /// A groupchat message (or subject change, correction, reaction...) from one of the
    /// user's resources.
    ///
    /// Takes what it uses by value (and `handled`, the client's acknowledgement, dropped once
    /// the message is sent, kept or bounced): the session boxes this future per message, and
    /// a caller keeping the stanza and sender for it would keep a second copy of its
    /// arguments beside it.
    pub(crate) async fn room_message(
        &mut self,
        from: Jid,
        room_id: LegacyId,
        verb: crate::inbound::Verb,
        stanza: Element,
        handled: Option<pontoon_xmpp::handled::Handled>,
    ) {
        if !self.admits_or_bounce(&from, &room_id, &stanza).await {
            return;
        }
        if !self.sends_now() {
            // Boxed: rare (a user over their rate), and 1.9 KB of this future otherwise.
            Box::pin(self.hold(crate::legacy::ChatId::Room(room_id), &verb, &stanza)).await;
            return;
        }
        self.room_send(room_id, verb, &stanza).await;
        drop(handled);
    }

    /// Whether `from` is in the room; if not, `stanza` is refused (XEP-0410's answer).
    pub(crate) async fn admits_or_bounce(
        &self,
        from: &Jid,
        room_id: &LegacyId,
        stanza: &Element,
    ) -> bool {
        let in_room = self.rooms.get(room_id).is_some_and(|r| r.admits(from));
        if !in_room {
            // Boxed: rare, and this future is inlined in every room message's handler.
            Box::pin(self.bounce(
                stanza,
                Refusal::modify("not-acceptable", "You are not in this room; join it first."),
            ))
            .await;
        }
        in_room
    }

    /// Sends a user's room message to the network.
    ///
    /// Not an `async fn` (which would keep `verb` beside the message it becomes): part of
    /// the future the session boxes per room message.
    pub(crate) fn room_send<'a>(
        &'a mut self,
        room_id: LegacyId,
        verb: crate::inbound::Verb,
        stanza: &'a Element,
    ) -> impl std::future::Future<Output = ()> + Send + 'a {
        use futures::FutureExt;
        use futures::future::Either;
        match verb {
            // Plain text, the common case, inline; every other verb boxed.
            // Files, replies and threads take the long way, which degrades them where needed.
            crate::inbound::Verb::Text(text)
                if text.reply.is_none() && text.attachments.is_empty() && text.thread.is_none() =>
            {
                let command = self.room_command(room_id, text, None, (None, None), stanza);
                Either::Left(self.message_to_legacy(command, stanza).map(|_| ()))
            }
            verb => Either::Right(Box::pin(self.act(
                crate::legacy::ChatId::Room(room_id),
                verb,
                stanza,
            ))),
        }
    }

    /// A [`LegacyEvent::RoomMessage`] (anything else is ignored).
    /// `sent_at`: when the legacy session handed the event over, for the latency.
    ///
    /// Not an `async fn`: the stanzas of a plain message are made here, so the future (boxed
    /// by the session once per message) keeps them, not the 248-byte event beside them; it
    /// stays within the allocator's per-thread cache (1,032 bytes), which a larger block
    /// bypasses, also sweeping the allocator's free lists each time.
    pub(crate) fn on_room_message(
        &mut self,
        event: LegacyEvent,
        sent_at: Stamp,
    ) -> impl std::future::Future<Output = ()> + Send + '_ {
        use futures::future::Either;
        let reply = matches!(
            &event,
            LegacyEvent::RoomMessage {
                reply_to: Some(_),
                ..
            } | LegacyEvent::RoomMessage {
                thread: Some(_),
                ..
            }
        );
        if reply {
            // Boxed apart: rare, with a store look-up and all it keeps across it.
            return Either::Left(Box::pin(async move {
                let stanzas = self.room_reply_stanzas(event, sent_at).await;
                self.send_all(stanzas).await;
            }));
        }
        let stanzas = self.room_message_stanzas(event, Vec::new(), sent_at);
        Either::Right(self.send_all(stanzas))
    }

    /// [`Session::room_message_stanzas`] for a message that replies to another or is in a
    /// thread.
    async fn room_reply_stanzas(&mut self, event: LegacyEvent, sent_at: Stamp) -> Vec<OutStanza> {
        let related = match &event {
            LegacyEvent::RoomMessage {
                room,
                reply_to,
                thread,
                ..
            } => {
                self.related_elements(room, reply_to.clone(), thread.clone(), true)
                    .await
            }
            _ => Vec::new(),
        };
        self.room_message_stanzas(event, related, sent_at)
    }

    /// The stanzas a [`LegacyEvent::RoomMessage`] makes, one per resource of the user in
    /// the room. (Not async: what an await holds lives in the session task's future.)
    fn room_message_stanzas(
        &mut self,
        event: LegacyEvent,
        related: Vec<Element>,
        sent_at: Stamp,
    ) -> Vec<OutStanza> {
        let LegacyEvent::RoomMessage {
            room: room_id,
            nick,
            body,
            kind,
            ids,
            id,
            attachments,
            time,
            ..
        } = event
        else {
            return Vec::new();
        };
        let Some(from) = self.occupant_jid(&room_id, &nick) else {
            return Vec::new();
        };
        self.ctx.counters.message_to_xmpp(sent_at.instant());
        // The user's own message (reflected with their client's ids) may stand for a
        // degraded verb (see `crate::verbs`); it is recorded as theirs, others' as others'.
        let own = !ids.is_empty() || self.rooms.get(&room_id).is_some_and(|r| r.nick == nick);
        // One stanza-id for every resource, and every user of the gateway in the room: it
        // names the message, not the copy (`crate::archive::recent`).
        let claim = self.ctx.archive.room_message_id(
            &room_id,
            (id.as_deref(), &nick, &body),
            (self.generation, own),
        );
        let stanza_id = claim.id;
        let mut pending = None;
        let xmpp_ids = crate::verbs::id_map::room_ids(&ids, &stanza_id);
        if ids.is_empty() && own {
            // The user's own, written from another client of the network.
            self.remember_own_message(&room_id, &nick, &stanza_id, xmpp_ids);
        } else if ids.is_empty() {
            let legacy_id = id.as_deref().unwrap_or(&stanza_id);
            match claim.record {
                IdsRecord::ByUser => self.remember_message(&room_id, &nick, legacy_id, xmpp_ids),
                IdsRecord::ForRoom => {
                    self.remember_room_message(&room_id, &nick, legacy_id, xmpp_ids)
                }
                IdsRecord::Done => {}
            }
        } else {
            pending = self.reflected_pending(&room_id, &ids);
            if !matches!(pending, Some(Pending::Reactions { .. })) {
                self.remember_own_message(&room_id, &nick, &stanza_id, xmpp_ids);
            }
        }
        let mut payloads = related;
        payloads.extend(attachments.iter().flat_map(crate::inbound::oob::elements));
        let mut body = Some(crate::inbound::action::body(kind, &body));
        match pending {
            Some(Pending::Correction(target)) => {
                payloads.push(crate::inbound::correct::replace_element(&target));
                if let Some(b) = &mut body
                    && let Some(text) = crate::verbs::degrade::unmark_correction(b)
                {
                    *b = std::borrow::Cow::Owned(text.to_owned());
                }
            }
            Some(Pending::Reactions { target, emojis }) => {
                // Shown as the reaction it is, without the line that carried it.
                payloads.push(crate::inbound::reactions::element(&target, &emojis));
                body = None;
            }
            None => {}
        }
        payloads.extend(time.and_then(|t| crate::stanza::delay(&t)));
        self.render(Shown {
            from: &from,
            chat: if claim.first {
                Chat::RoomKept(&room_id)
            } else {
                Chat::Room(&room_id)
            },
            nick: Some(&nick),
            ids: &ids,
            id: Some(&stanza_id),
            body: body.as_deref(),
            payloads,
        })
    }
}
