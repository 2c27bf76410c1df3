//! The user's verbs on earlier messages, sent to the network: corrections (XEP-0308),
//! reactions (XEP-0444), retractions (XEP-0424), moderation (XEP-0425) and displayed
//! markers (XEP-0333). Native where the network carries the verb ([`Verbs`]), else in the
//! readable forms of [`degrade`], or refused with a reason when no line can say it.
//!
//! In a room, a verb carried natively is shown to the user's clients at once, as the room
//! would reflect it; the network's own echo of the user's verb is then not shown again
//! ([`Echo`]), while what the user does from another client of the network is.

use crate::legacy::LegacyId;
use minidom::Element;

use super::{Echo, Pending, degrade};
use crate::inbound::Text;
use crate::inbound::moderate::Moderation;
use crate::legacy::{ChatId, LegacyCommand, Role};
use crate::session::Session;
use crate::stanza::Refusal;

impl Session {
    pub(super) async fn correct(
        &mut self,
        chat: ChatId,
        target: String,
        mut text: Text,
        stanza: &Element,
    ) {
        let message = match self.find_target(&chat, &target, true, "corrected").await {
            Ok(m) => m,
            Err(r) => return self.bounce(stanza, r).await,
        };
        if !self.verbs_for(chat.id()).corrections {
            text.body = degrade::correction(&text.body);
            return self
                .send_text(chat, text, Some(Pending::Correction(target)), stanza)
                .await;
        }
        let body = crate::inbound::action::body(text.kind, &text.body).into_owned();
        self.expect_echo(&chat, Echo::Corrected(message.legacy_id.to_string()));
        let command = LegacyCommand::Correct {
            chat: chat.clone(),
            target: message.legacy_id.to_string(),
            body: text.body,
            kind: text.kind,
        };
        if self.to_legacy(command, stanza).await
            && let ChatId::Room(room) = &chat
        {
            let replace = crate::inbound::correct::replace_element(&target);
            self.reflect_own(room, Some(&body), vec![replace], stanza)
                .await;
        }
    }

    pub(super) async fn react(
        &mut self,
        chat: ChatId,
        target: String,
        emojis: Vec<String>,
        stanza: &Element,
    ) {
        let message = match self.find_target(&chat, &target, false, "reacted to").await {
            Ok(m) => m,
            Err(r) => return self.bounce(stanza, r).await,
        };
        let key = (chat.id().to_owned(), target.clone());
        let before = self.verb_memory().sent_reactions.take(&key);
        let added: Vec<String> = emojis
            .iter()
            .filter(|e| !before.contains(e))
            .cloned()
            .collect();
        self.verb_memory().sent_reactions.put(key, emojis.clone());
        if self.verbs_for(chat.id()).reactions {
            let removed: Vec<String> = before.into_iter().filter(|e| !emojis.contains(e)).collect();
            for (emoji, removed) in added
                .iter()
                .map(|e| (e, false))
                .chain(removed.iter().map(|e| (e, true)))
            {
                let echo = Echo::Reaction {
                    target: message.legacy_id.to_string(),
                    emoji: emoji.clone(),
                    removed,
                };
                self.expect_echo(&chat, echo);
            }
            let command = LegacyCommand::React {
                chat: chat.clone(),
                target: message.legacy_id.to_string(),
                added,
                removed,
            };
            if self.to_legacy(command, stanza).await
                && let ChatId::Room(room) = &chat
            {
                // As a room reflects it: the user's clients see the set they now have.
                let set = crate::inbound::reactions::element(&target, &emojis);
                self.reflect_own(room, None, vec![set], stanza).await;
            }
            return;
        }
        if added.is_empty() {
            let refusal = Refusal::cancel(
                "feature-not-implemented",
                "This network cannot take a reaction back: the earlier reaction stays visible there.",
            );
            return self.bounce(stanza, refusal).await;
        }
        let author = (!message.own).then_some(&*message.author);
        let text = Text {
            kind: crate::legacy::MessageKind::Action,
            body: degrade::reaction(&added, author),
            reply: None,
            attachments: Vec::new(),
            thread: None,
        };
        let pending = Pending::Reactions { target, emojis };
        self.send_text(chat, text, Some(pending), stanza).await;
    }

    pub(super) async fn retract(&mut self, chat: ChatId, target: String, stanza: &Element) {
        let message = match self.find_target(&chat, &target, true, "retracted").await {
            Ok(m) => m,
            Err(r) => return self.bounce(stanza, r).await,
        };
        if !self.verbs_for(chat.id()).retractions {
            let refusal = Refusal::cancel(
                "feature-not-implemented",
                "This network cannot delete messages: yours stays visible there.",
            );
            return self.bounce(stanza, refusal).await;
        }
        self.expect_echo(&chat, Echo::Retracted(message.legacy_id.to_string()));
        let command = LegacyCommand::Retract {
            chat: chat.clone(),
            target: message.legacy_id.to_string(),
        };
        if self.to_legacy(command, stanza).await
            && let ChatId::Room(room) = &chat
        {
            let text = "You retracted a message, but your client does not support retractions.";
            let payloads = crate::inbound::retract::retraction(&target);
            self.reflect_own(room, Some(text), payloads, stanza).await;
        }
    }

    /// A moderator's request (`iq`) to retract someone's message in `room` (XEP-0425): the
    /// IQ is answered once the request is on its way; the room's announcement comes when
    /// the network says the message is gone (`LegacyEvent::Retracted` naming the user as
    /// moderator), so a deletion the network refuses is never shown.
    pub(crate) async fn moderate(&mut self, room: LegacyId, request: Moderation, iq: &Element) {
        let refusal = match self.moderation_refusal(&room) {
            Some(r) => Err(r),
            None => {
                let chat = ChatId::Room(room.clone());
                self.find_target(&chat, &request.target, false, "moderated")
                    .await
            }
        };
        let message = match refusal {
            Ok(m) => m,
            Err(r) => return self.bounce(iq, r).await,
        };
        let command = LegacyCommand::Moderate {
            room: room.clone(),
            target: message.legacy_id.to_string(),
            reason: request.reason.clone(),
        };
        if !self.to_legacy(command, iq).await {
            return;
        }
        self.send(crate::stanza::iq_result_to(iq, None)).await;
    }

    /// Why the user may not moderate in `room`, if they may not.
    fn moderation_refusal(&self, room: &LegacyId) -> Option<Refusal> {
        let Some(r) = self.rooms.get(room).filter(|r| r.joined) else {
            return Some(Refusal::cancel(
                "not-acceptable",
                "Join the room before moderating it.",
            ));
        };
        if r.role_of(&r.nick) != Some(Role::Moderator) {
            return Some(Refusal::auth(
                "forbidden",
                "Only the room's moderators may retract others' messages.",
            ));
        }
        if !self.verbs_for(room).moderation {
            return Some(Refusal::cancel(
                "feature-not-implemented",
                "This network cannot delete messages: the message stays visible there.",
            ));
        }
        None
    }

    /// The user has seen the message `target` in `chat`: the network learns it where it
    /// carries read markers. A marker is a hint: one naming an unknown message is let go.
    pub(super) async fn displayed(&mut self, chat: ChatId, target: String) {
        if !self.verbs_for(chat.id()).markers {
            return;
        }
        match self.mapped_message(chat.id(), &target).await {
            Ok(Some(m)) if !m.own => {
                let command = LegacyCommand::MarkDisplayed {
                    chat,
                    target: m.legacy_id.to_string(),
                };
                let _ = self.legacy.try_send(command);
            }
            Ok(_) => tracing::debug!("displayed marker for a message not known here"),
            Err(e) => tracing::debug!(error = %e, "message id map unavailable"),
        }
    }
}
