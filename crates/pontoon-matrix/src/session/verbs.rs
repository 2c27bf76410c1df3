//! The user's verbs, carried natively on Matrix: reactions (`m.annotation`), edits
//! (`m.replace`), deletions and moderation (redactions), read markers (`m.read`
//! receipts), typing, replies (`m.in_reply_to`), room topics and invitations.
//!
//! Each answers the core as the vocabulary says: a verb the homeserver refuses comes back
//! as `VerbRefused` (shown in that chat), and what succeeds comes back through `/sync`
//! like everyone else's, which is how the core sees it done.

use std::time::Duration;

use pontoon_core::legacy::{
    Availability, ChatId, ChatState, LegacyEvent, LegacyId, MessageKind, Verbs,
};
use ruma::api::client::membership::invite_user;
use ruma::api::client::presence::set_presence;
use ruma::api::client::receipt::create_receipt;
use ruma::api::client::redact::redact_event;
use ruma::api::client::state::send_state_event;
use ruma::api::client::typing::create_typing_event::{self, v3::Typing, v3::TypingInfo};
use ruma::events::reaction::ReactionEventContent;
use ruma::events::relation::{Annotation, Replacement};
use ruma::events::room::message::{
    MessageType, Relation, RoomMessageEventContent, RoomMessageEventContentWithoutRelation,
};
use ruma::events::room::topic::RoomTopicEventContent;
use ruma::presence::PresenceState;
use ruma::{OwnedEventId, OwnedRoomId, OwnedTransactionId, OwnedUserId};

use super::Session;
use crate::http::HttpError;
use crate::ids::{self, MatrixId};

/// How long one verb's API call may take.
const VERB_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a typing notice lasts on the homeserver unless renewed.
const TYPING_FOR: Duration = Duration::from_secs(30);

/// What Matrix carries natively. Receipts of delivery do not exist on Matrix (only read
/// receipts).
pub const MATRIX_VERBS: Verbs = Verbs {
    reactions: true,
    replies: true,
    typing: true,
    corrections: true,
    retractions: true,
    moderation: true,
    markers: true,
    receipts: false,
    files: true,
    kicks: true,
    // Power-level changes from XMPP are not written yet.
    roles: false,
    threads: true,
    // Names and pictures come with the contacts (`profiles.rs`); no lookup beyond them.
    lookup: false,
    // Matrix bans are room members with membership "ban": not listed as outcasts yet.
    ban_list: false,
    // Room settings from XMPP (join rules, power levels) are not written yet.
    room_config: false,
};

/// A message body's content, of its kind.
pub(super) fn text_content(
    body: &str,
    kind: MessageKind,
) -> RoomMessageEventContentWithoutRelation {
    // Styling (XEP-0393) goes as HTML too, which Matrix clients show.
    let msgtype = match (kind, crate::format::styling_to_html(body)) {
        (MessageKind::Action, None) => MessageType::emote_plain(body),
        (MessageKind::Action, Some(html)) => MessageType::emote_html(body, html),
        (MessageKind::Notice, None) => MessageType::notice_plain(body),
        (MessageKind::Notice, Some(html)) => MessageType::notice_html(body, html),
        (_, None) => MessageType::text_plain(body),
        (_, Some(html)) => MessageType::text_html(body, html),
    };
    RoomMessageEventContentWithoutRelation::new(msgtype)
}

/// A message, replying to `reply_to` where given, in the thread `thread` (its root and
/// the latest event seen in it) where given.
pub(super) fn message(
    body: &str,
    kind: MessageKind,
    reply_to: Option<&str>,
    thread: Option<(OwnedEventId, OwnedEventId)>,
) -> RoomMessageEventContent {
    let mut content = text_content(body, kind).with_relation(None);
    let reply_to = reply_to.and_then(|t| OwnedEventId::try_from(t).ok());
    content.relates_to = super::threads::relation(reply_to, thread);
    content
}

/// Our own reactions, to take one back (a Matrix reaction is undone by redacting it):
/// (room, target, key) to the reaction's event id.
pub type OwnReactions = super::recent::Recent<(String, String, String), String>;

impl Session {
    /// The room a chat is on Matrix, if the session knows it.
    pub(super) fn chat_room(&self, chat: &ChatId) -> Option<OwnedRoomId> {
        let id = match chat {
            ChatId::Room(shown) => self.rooms.room_id(shown)?,
            ChatId::Contact(contact) => match ids::of(contact) {
                Ok(MatrixId::User(u)) => self.rooms.dm_room(&u)?,
                _ => return None,
            },
        };
        OwnedRoomId::try_from(id).ok()
    }

    /// The event a verb names: an event id, or the client's id of a message the user sent
    /// a moment ago.
    pub(super) fn event_id(&self, target: &str) -> Option<OwnedEventId> {
        OwnedEventId::try_from(target).ok().or_else(|| {
            OwnedEventId::try_from(self.sent_ids.get(&target.to_owned())?.as_str()).ok()
        })
    }

    /// The thread a message goes in, from the root the core names (an event id, or the
    /// client's id of a message sent a moment ago): its root and the latest event the
    /// session saw in it (the root itself if none).
    pub(super) fn thread_of(&self, root: Option<&str>) -> Option<(OwnedEventId, OwnedEventId)> {
        let root = self.event_id(root?)?;
        let latest = self
            .thread_latest
            .get(&root.to_string())
            .and_then(|l| OwnedEventId::try_from(l.as_str()).ok())
            .unwrap_or_else(|| root.clone());
        Some((root, latest))
    }

    /// Tells the user in `chat` that the homeserver did not carry out their verb.
    async fn refused(&self, chat: ChatId, target: String, e: impl std::fmt::Display) {
        self.emit(LegacyEvent::VerbRefused {
            chat,
            target,
            reason: format!("Matrix: {e}"),
        })
        .await;
    }

    /// Reactions added and taken back.
    pub(super) async fn react(
        &mut self,
        chat: ChatId,
        target: String,
        added: Vec<String>,
        removed: Vec<String>,
    ) {
        let Some(room) = self.chat_room(&chat) else {
            return self.refused(chat, target, "the chat is not open").await;
        };
        let Some(event) = self.event_id(&target) else {
            return self.refused(chat, target, "not a Matrix message id").await;
        };
        for key in added {
            let txn = self.txn_id();
            let content = ReactionEventContent::new(Annotation::new(event.clone(), key.clone()));
            match self.send_event(&room, &txn, &content).await {
                Ok(id) => self
                    .own_reactions
                    .insert((room.to_string(), target.clone(), key), id),
                Err(e) => return self.refused(chat, target, e).await,
            }
        }
        for key in removed {
            let Some(id) = self
                .own_reactions
                .remove(&(room.to_string(), target.clone(), key))
            else {
                continue;
            };
            if let Err(e) = self.redact(&room, &id, None).await {
                return self.refused(chat, target, e).await;
            }
        }
    }

    /// Replaces the text of the user's message `target`.
    pub(super) async fn correct(
        &mut self,
        chat: ChatId,
        target: String,
        body: String,
        kind: MessageKind,
    ) {
        let Some(room) = self.chat_room(&chat) else {
            return self.refused(chat, target, "the chat is not open").await;
        };
        let Some(event) = self.event_id(&target) else {
            return self.refused(chat, target, "not a Matrix message id").await;
        };
        // The fallback for clients without edits is "* new text".
        let mut content = text_content(&format!("* {body}"), kind).with_relation(None);
        content.relates_to = Some(Relation::Replacement(Replacement::new(
            event,
            text_content(&body, kind),
        )));
        let txn = self.txn_id();
        if let Err(e) = self.send_event(&room, &txn, &content).await {
            self.refused(chat, target, e).await;
        }
    }

    /// Deletes `target` (the user's own, or as a moderator someone else's).
    pub(super) async fn retract(&mut self, chat: ChatId, target: String, reason: Option<String>) {
        let Some(room) = self.chat_room(&chat) else {
            return self.refused(chat, target, "the chat is not open").await;
        };
        let Some(event) = self.event_id(&target) else {
            return self.refused(chat, target, "not a Matrix message id").await;
        };
        if let Err(e) = self.redact(&room, event.as_str(), reason).await {
            self.refused(chat, target, e).await;
        }
    }

    async fn redact(
        &mut self,
        room: &OwnedRoomId,
        event: &str,
        reason: Option<String>,
    ) -> Result<(), HttpError> {
        let event = OwnedEventId::try_from(event)
            .map_err(|_| HttpError::Malformed("not a Matrix message id".to_owned()))?;
        let mut request = redact_event::v3::Request::new(
            room.clone(),
            event,
            OwnedTransactionId::from(self.txn_id()),
        );
        request.reason = reason;
        self.call(request, VERB_TIMEOUT).await.map(|_| ())
    }

    /// The user has read `chat` up to `target`: a read receipt.
    pub(super) async fn mark_read(&mut self, chat: ChatId, target: String) {
        let (Some(room), Some(event)) = (self.chat_room(&chat), self.event_id(&target)) else {
            return;
        };
        let request =
            create_receipt::v3::Request::new(room, create_receipt::v3::ReceiptType::Read, event);
        if let Err(e) = self.call(request, VERB_TIMEOUT).await {
            tracing::debug!(error = %e, "a read receipt was not taken");
        }
    }

    /// The user is typing in `chat`, or stopped.
    pub(super) async fn typing(&mut self, chat: ChatId, state: ChatState) {
        let (Some(room), Ok(me)) = (
            self.chat_room(&chat),
            OwnedUserId::try_from(self.rooms.me()),
        ) else {
            return;
        };
        let typing = match state {
            ChatState::Composing => Typing::Yes(TypingInfo::new(TYPING_FOR)),
            _ => Typing::No,
        };
        let request = create_typing_event::v3::Request::new(me, room, typing);
        if let Err(e) = self.call(request, VERB_TIMEOUT).await {
            tracing::debug!(error = %e, "a typing notice was not taken");
        }
    }

    /// Sends `nick` out of the open room `shown` (and keeps them out when `ban`).
    pub(super) async fn kick(
        &mut self,
        shown: LegacyId,
        nick: String,
        reason: Option<String>,
        ban: bool,
    ) {
        let Some(room_id) = self.rooms.room_id(&shown).map(str::to_owned) else {
            return;
        };
        let user = self.rooms.open_room_ref(&room_id).and_then(|r| {
            r.members
                .iter()
                .find(|(_, n)| **n == nick)
                .and_then(|(u, _)| OwnedUserId::try_from(u.as_str()).ok())
        });
        let (Ok(room), Some(user)) = (OwnedRoomId::try_from(room_id.as_str()), user) else {
            let text = format!("Nobody called {nick} is in the room.");
            self.emit(LegacyEvent::RoomNotice { room: shown, text })
                .await;
            return;
        };
        let sent = if ban {
            let mut request = ruma::api::client::membership::ban_user::v3::Request::new(room, user);
            request.reason = reason;
            self.call(request, VERB_TIMEOUT).await.map(|_| ())
        } else {
            let mut request =
                ruma::api::client::membership::kick_user::v3::Request::new(room, user);
            request.reason = reason;
            self.call(request, VERB_TIMEOUT).await.map(|_| ())
        };
        if let Err(e) = sent {
            let done = if ban { "banned" } else { "kicked" };
            let text = format!("{nick} was not {done}: {e}");
            self.emit(LegacyEvent::RoomNotice { room: shown, text })
                .await;
        }
    }

    /// The user's presence (all their XMPP resources together) as Matrix presence.
    pub(super) async fn set_presence(
        &mut self,
        availability: Availability,
        status: Option<String>,
    ) {
        let Ok(me) = OwnedUserId::try_from(self.rooms.me()) else {
            return;
        };
        let state = match availability {
            Availability::Available | Availability::Chat => PresenceState::Online,
            Availability::Offline => PresenceState::Offline,
            _ => PresenceState::Unavailable,
        };
        let mut request = set_presence::v3::Request::new(me, state);
        request.status_msg = status.map(|s| s.chars().take(256).collect());
        if let Err(e) = self.call(request, VERB_TIMEOUT).await {
            tracing::debug!(error = %e, "the presence was not taken");
        }
    }

    /// Changes the topic of the open room `shown`.
    pub(super) async fn set_topic(&mut self, shown: LegacyId, topic: String) {
        let Some(room) = self
            .rooms
            .room_id(&shown)
            .and_then(|r| OwnedRoomId::try_from(r).ok())
        else {
            return;
        };
        let request = match send_state_event::v3::Request::new(
            room,
            &ruma::events::EmptyStateKey,
            &RoomTopicEventContent::new(topic),
        ) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "a topic could not be written");
                return;
            }
        };
        if let Err(e) = self.call(request, VERB_TIMEOUT).await {
            self.emit(LegacyEvent::RoomNotice {
                room: shown,
                text: format!("The topic was not changed: {e}"),
            })
            .await;
        }
    }

    /// Invites `contact` into the open room `shown`.
    pub(super) async fn invite(
        &mut self,
        shown: LegacyId,
        contact: LegacyId,
        reason: Option<String>,
    ) {
        let room = self
            .rooms
            .room_id(&shown)
            .and_then(|r| OwnedRoomId::try_from(r).ok());
        let user = match ids::of(&contact) {
            Ok(MatrixId::User(u)) => OwnedUserId::try_from(u).ok(),
            _ => None,
        };
        let (Some(room), Some(user)) = (room, user) else {
            return;
        };
        let mut invited = invite_user::v3::InviteUserId::new(user);
        invited.reason = reason;
        let recipient = invite_user::v3::InvitationRecipient::UserId(invited);
        let request = invite_user::v3::Request::new(room, recipient);
        if let Err(e) = self.call(request, VERB_TIMEOUT).await {
            self.emit(LegacyEvent::RoomNotice {
                room: shown,
                text: format!("The invitation was not sent: {e}"),
            })
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_name_their_target() {
        let c = message("yes", MessageKind::Text, Some("$abc:x"), None);
        assert!(matches!(c.relates_to, Some(Relation::Reply(_))));
        let c = message("yes", MessageKind::Text, Some("not an id"), None);
        assert!(c.relates_to.is_none());
    }
}
