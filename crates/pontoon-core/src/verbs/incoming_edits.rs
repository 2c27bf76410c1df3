//! What others do to earlier messages, shown to the user's clients as the XEPs say: edits
//! (XEP-0308), deletions by their author (XEP-0424) or by a room moderator (XEP-0425),
//! and what became of the user's own messages: delivered (XEP-0184), seen (XEP-0333).
//!
//! Targets are named by the ids the user's clients know the messages by
//! (`Session::xmpp_id_of`): a room's stanza-id, a direct message's id.

use super::Echo;
use crate::legacy::LegacyId;
use crate::legacy::{ChatId, ClientIds, MessageKind, Receipt};
use crate::render::{Chat, Shown};
use crate::session::Session;

impl Session {
    /// `author` edited their message `target` in `chat`: it now says `body`.
    pub(crate) async fn on_corrected(
        &mut self,
        chat: ChatId,
        author: String,
        target: String,
        body: String,
        kind: MessageKind,
    ) {
        let echo = Echo::Corrected(target.clone());
        let Some((from, in_room)) = self.speaker(&chat, &author, echo) else {
            return;
        };
        let chat_id = chat.id();
        let target = self.xmpp_id_of(chat_id, &target, in_room).await;
        let body = crate::inbound::action::body(kind, &body);
        let replace = crate::inbound::correct::replace_element(&target);
        self.show_from(chat_id, &author, &from, in_room, Some(&body), vec![replace])
            .await;
    }

    /// `author`'s message `target` in `chat` was deleted, by them or by the room's
    /// `moderator`.
    pub(crate) async fn on_retracted(
        &mut self,
        chat: ChatId,
        author: String,
        target: String,
        moderator: Option<String>,
        reason: Option<String>,
    ) {
        if let (ChatId::Room(room), Some(moderator)) = (&chat, moderator) {
            let target = self.xmpp_id_of(room, &target, true).await;
            return self
                .announce_moderation(room, &author, &target, &moderator, reason.as_deref())
                .await;
        }
        let echo = Echo::Retracted(target.clone());
        let Some((from, in_room)) = self.speaker(&chat, &author, echo) else {
            return;
        };
        let chat_id = chat.id();
        let target = self.xmpp_id_of(chat_id, &target, in_room).await;
        let text =
            format!("{author} retracted a message, but your client does not support retractions.");
        let payloads = crate::inbound::retract::retraction(&target);
        self.show_from(chat_id, &author, &from, in_room, Some(&text), payloads)
            .await;
    }

    /// The room `room` announces that `moderator` (a nick) deleted `author`'s message
    /// (`target`, its stanza-id), as XEP-0425 has a room do: from the room itself.
    pub(crate) async fn announce_moderation(
        &self,
        room: &LegacyId,
        author: &str,
        target: &str,
        moderator: &str,
        reason: Option<&str>,
    ) {
        let (Some(room_jid), Some(by)) = (self.room_jid(room), self.occupant_jid(room, moderator))
        else {
            return;
        };
        let retraction = crate::inbound::moderate::retraction(
            target,
            &by.to_string(),
            self.occupant_id(room, moderator).into(),
            reason,
        );
        let text = match reason {
            Some(r) => format!("{moderator} deleted a message by {author}: {r}"),
            None => format!("{moderator} deleted a message by {author}."),
        };
        let mut payloads = vec![retraction];
        payloads.extend(crate::inbound::retract::fallback_marks());
        self.show(Shown {
            from: &room_jid,
            chat: Chat::Room(room),
            nick: None,
            ids: &ClientIds::none(),
            id: None,
            body: Some(&text),
            payloads,
        })
        .await;
    }

    /// The network says what became of the user's message `target` in `chat`: delivered
    /// to, or seen by, `author`. Rooms show who saw it (XEP-0333 allows markers there);
    /// delivery receipts are for direct chats only (XEP-0184).
    pub(crate) async fn on_receipt(
        &mut self,
        chat: ChatId,
        author: String,
        target: String,
        receipt: Receipt,
    ) {
        let Some((from, in_room)) = self.author_jid(&chat, &author) else {
            return;
        };
        let chat_id = chat.id();
        let target = self.xmpp_id_of(chat_id, &target, in_room).await;
        let payload = match receipt {
            Receipt::Delivered if in_room => return,
            Receipt::Delivered => crate::inbound::markers::received_element(&target),
            Receipt::Displayed => crate::inbound::markers::displayed_element(&target),
        };
        self.show_from(chat_id, &author, &from, in_room, None, vec![payload])
            .await;
    }
}
