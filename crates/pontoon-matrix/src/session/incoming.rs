//! Others' verbs from `/sync`, as the vocabulary says them: reactions and their undoing,
//! deletions (by their author or a moderator), typing, and read receipts.
//!
//! In a direct chat the user's own verbs are not reported back (the core shows a direct
//! chat from the contact's side only); in a room they are, and the core tells its own
//! echoes from what the user did in another Matrix client.

use std::time::Duration;

use pontoon_core::legacy::{ChatId, ChatState, LegacyEvent, Receipt};
use ruma::api::client::room::get_room_event;
use ruma::events::receipt::ReceiptType;
use ruma::events::{AnySyncEphemeralRoomEvent, SyncEphemeralRoomEvent};
use ruma::{OwnedEventId, OwnedRoomId};

use super::Session;
use crate::ids;

/// Someone's reaction, remembered so that its redaction can be shown as taken back.
#[derive(Debug)]
pub struct SeenReaction {
    room: String,
    sender: String,
    target: String,
    key: String,
}

/// Reactions seen, by their event id.
pub type SeenReactions = super::recent::Recent<String, SeenReaction>;

impl Session {
    /// The chat an event of `sender` in `room_id` belongs to, and its author as the
    /// vocabulary names them; `None` for rooms not open and the user's own in a direct chat.
    pub(super) fn chat_of(&self, room_id: &str, sender: &str) -> Option<(ChatId, String)> {
        if let Some(contact) = self.rooms.dm_user(room_id) {
            if sender == self.rooms.me() {
                return None;
            }
            let id = ids::contact(contact);
            return Some((ChatId::Contact(id.clone()), id.as_str().to_owned()));
        }
        let me = self.rooms.me().to_owned();
        let room = self.rooms.open_room_ref(room_id)?;
        let shown = room.shown_as.clone()?;
        let nick = room.members.get(sender).cloned().unwrap_or_else(|| {
            if sender == me {
                me.clone()
            } else {
                sender.to_owned()
            }
        });
        Some((ChatId::Room(shown), nick))
    }

    /// `sender` reacted with `key` to `target`.
    pub(super) async fn on_reaction(
        &mut self,
        room_id: &str,
        sender: &str,
        event_id: &str,
        target: &str,
        key: &str,
    ) {
        let key: String = key.chars().take(64).collect();
        if sender == self.rooms.me() {
            self.own_reactions.insert(
                (room_id.to_owned(), target.to_owned(), key.clone()),
                event_id.to_owned(),
            );
        }
        self.seen_reactions.insert(
            event_id.to_owned(),
            SeenReaction {
                room: room_id.to_owned(),
                sender: sender.to_owned(),
                target: target.to_owned(),
                key: key.clone(),
            },
        );
        let Some((chat, author)) = self.chat_of(room_id, sender) else {
            return;
        };
        self.emit(LegacyEvent::Reaction {
            chat,
            author,
            target: target.to_owned(),
            emoji: key,
            removed: false,
        })
        .await;
    }

    /// `sender` redacted `redacts`: a reaction taken back, or a message deleted.
    pub(super) async fn on_redaction(
        &mut self,
        room_id: &str,
        sender: &str,
        redacts: &str,
        reason: Option<String>,
    ) {
        if let Some(r) = self.seen_reactions.remove(&redacts.to_owned()) {
            if r.sender == self.rooms.me() {
                self.own_reactions
                    .remove(&(r.room.clone(), r.target.clone(), r.key.clone()));
            }
            if let Some((chat, author)) = self.chat_of(&r.room, &r.sender) {
                self.emit(LegacyEvent::Reaction {
                    chat,
                    author,
                    target: r.target,
                    emoji: r.key,
                    removed: true,
                })
                .await;
            }
            return;
        }
        // Who wrote the deleted message: the homeserver still knows the sender of a
        // redacted event.
        let writer = self
            .sender_of(room_id, redacts)
            .await
            .unwrap_or_else(|| sender.to_owned());
        let Some((chat, author)) = self.chat_of(room_id, &writer) else {
            return;
        };
        let moderator = if writer == sender {
            None
        } else {
            self.chat_of(room_id, sender).map(|(_, nick)| nick)
        };
        self.emit(LegacyEvent::Retracted {
            chat,
            author,
            target: redacts.to_owned(),
            moderator,
            reason: reason.map(|r| r.chars().take(512).collect()),
        })
        .await;
    }

    /// The sender of event `event_id`, asked of the homeserver.
    async fn sender_of(&self, room_id: &str, event_id: &str) -> Option<String> {
        let request = get_room_event::v3::Request::new(
            OwnedRoomId::try_from(room_id).ok()?,
            OwnedEventId::try_from(event_id).ok()?,
        );
        let answer = self.call(request, Duration::from_secs(15)).await.ok()?;
        let v: serde_json::Value = serde_json::from_str(answer.event.json().get()).ok()?;
        v.get("sender")?.as_str().map(str::to_owned)
    }

    /// Typing and read receipts of one room.
    pub(super) async fn on_ephemeral(&mut self, room_id: &str, ev: AnySyncEphemeralRoomEvent) {
        match ev {
            AnySyncEphemeralRoomEvent::Typing(SyncEphemeralRoomEvent { content, .. }) => {
                let now: Vec<String> = content
                    .user_ids
                    .iter()
                    .map(|u| u.to_string())
                    .filter(|u| u != self.rooms.me())
                    .take(32)
                    .collect();
                let before = self
                    .typing
                    .insert(room_id.to_owned(), now.clone())
                    .unwrap_or_default();
                for user in before.iter().filter(|u| !now.contains(u)) {
                    if let Some((chat, author)) = self.chat_of(room_id, user) {
                        let state = ChatState::Active;
                        self.emit(LegacyEvent::ChatState {
                            chat,
                            author,
                            state,
                        })
                        .await;
                    }
                }
                for user in now.iter().filter(|u| !before.contains(u)) {
                    if let Some((chat, author)) = self.chat_of(room_id, user) {
                        let state = ChatState::Composing;
                        self.emit(LegacyEvent::ChatState {
                            chat,
                            author,
                            state,
                        })
                        .await;
                    }
                }
            }
            AnySyncEphemeralRoomEvent::Receipt(SyncEphemeralRoomEvent { content, .. }) => {
                for (event_id, receipts) in content.0.iter().take(64) {
                    // Only for what the user sent: that is what XEP-0333 markers are about.
                    if self.own_events.get(&event_id.to_string()).is_none() {
                        continue;
                    }
                    let Some(readers) = receipts.get(&ReceiptType::Read) else {
                        continue;
                    };
                    for reader in readers.keys().take(32) {
                        if reader.as_str() == self.rooms.me() {
                            continue;
                        }
                        if let Some((chat, author)) = self.chat_of(room_id, reader.as_str()) {
                            self.emit(LegacyEvent::Receipt {
                                chat,
                                author,
                                target: event_id.to_string(),
                                receipt: Receipt::Displayed,
                            })
                            .await;
                        }
                    }
                }
            }
            _ => {}
        }
    }
}
