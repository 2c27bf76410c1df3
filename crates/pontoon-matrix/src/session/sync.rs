//! `/sync`: the request (with its filter) and what its answers mean for the user.
//!
//! The first sync of a new login only learns the account (its direct chats, its rooms):
//! showing the rooms' recent history as new messages would flood the user. From then on,
//! and when a session resumes from a stored token, every event since is shown.

use std::collections::HashMap;
use std::time::Duration;

use pontoon_core::legacy::{ChatId, ClientIds, LeaveKind, LegacyEvent, MessageKind};
use ruma::api::client::filter::{FilterDefinition, RoomEventFilter};
use ruma::api::client::sync::sync_events::v3;
use ruma::events::room::member::MembershipState;
use ruma::events::room::message::{MessageType, Relation, RoomMessageEventContent};
use ruma::events::{
    AnyGlobalAccountDataEvent, AnyStrippedStateEvent, AnySyncMessageLikeEvent, AnySyncStateEvent,
    AnySyncTimelineEvent, SyncMessageLikeEvent, SyncStateEvent,
};
use ruma::presence::PresenceState;
use tracing::{debug, warn};

use super::Session;
use super::rooms::nick_for;
use crate::ids::{self, MatrixId};

/// The longest message body shown; a longer one is cut, and says so.
const MAX_BODY: usize = 32 * 1024;

/// How many timeline events per room a sync asks for after an answer too large to read:
/// fewer each time, and at last none (the rest is skipped, and the user told).
const SHRINKING: [u32; 3] = [10, 1, 0];

/// The `/sync` request of the session now; `shrink` counts answers that were too large.
pub(super) fn request(s: &Session, timeout: Duration, shrink: usize) -> v3::Request {
    let mut filter = FilterDefinition::empty();
    // Not the user's own presence: the homeserver flips its `currently_active` about a
    // minute after every request, which would end each idle long-poll early (measured by
    // bench/matrix_presence_probe.py).
    if let Ok(me) = ruma::OwnedUserId::try_from(s.rooms.me()) {
        filter.presence.not_senders = vec![me];
    }
    let limit = match (s.since.is_none(), shrink) {
        (_, n) if n > 0 => Some(SHRINKING[(n - 1).min(SHRINKING.len() - 1)]),
        // A new login learns the rooms, not their history.
        (true, _) => Some(1),
        (false, _) => None,
    };
    if let Some(limit) = limit {
        let mut timeline = RoomEventFilter::empty();
        timeline.limit = Some(limit.into());
        filter.room.timeline = timeline;
    }
    let mut request = v3::Request::new();
    request.filter = Some(v3::Filter::FilterDefinition(filter));
    request.since = s.since.clone();
    request.timeout = Some(timeout);
    request
}

/// Whether a sync asking this much again would skip events (the last step of shrinking).
pub(super) fn skips(shrink: usize) -> bool {
    shrink >= SHRINKING.len()
}

/// A body as shown: cut at [`MAX_BODY`] bytes (on a character boundary), saying so.
fn shown_body(body: &str) -> String {
    if body.len() <= MAX_BODY {
        return body.to_owned();
    }
    let mut end = MAX_BODY;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{} [cut: the message had {} bytes]",
        &body[..end],
        body.len()
    )
}

/// The text and kind of a message's content, as the vocabulary says them.
fn text_of(content: &RoomMessageEventContent) -> (String, MessageKind) {
    msgtype_text(&content.msgtype)
}

/// A message type's text as shown (its HTML as XEP-0393 styling, where it has HTML) and
/// its kind.
fn msgtype_text(msgtype: &MessageType) -> (String, MessageKind) {
    use ruma::events::room::message::{FormattedBody, MessageFormat};
    let styled = |body: &str, formatted: &Option<FormattedBody>| match formatted {
        Some(f) if f.format == MessageFormat::Html => {
            shown_body(&crate::format::html_to_styling(&f.body))
        }
        _ => shown_body(body),
    };
    match msgtype {
        MessageType::Emote(e) => (styled(&e.body, &e.formatted), MessageKind::Action),
        MessageType::Notice(n) => (styled(&n.body, &n.formatted), MessageKind::Notice),
        MessageType::Text(t) => (styled(&t.body, &t.formatted), MessageKind::Text),
        other => (shown_body(other.body()), MessageKind::Text),
    }
}

pub(super) fn rfc3339(ts: ruma::MilliSecondsSinceUnixEpoch) -> Option<String> {
    Some(pontoon_core::time::Utc::from_unix(i64::from(ts.as_secs())).rfc3339())
}

impl Session {
    /// Applies one `/sync` answer: the user sees what it brought.
    pub(super) async fn apply(&mut self, response: v3::Response) {
        let initial = self.since.is_none();
        self.e2ee_sync(&response).await;
        self.since = Some(response.next_batch);
        for raw in &response.account_data.events {
            if let Ok(AnyGlobalAccountDataEvent::Direct(ev)) = raw.deserialize() {
                self.rooms
                    .set_direct(ev.content.0.into_iter().map(|(user, rooms)| {
                        (
                            user.to_string(),
                            rooms.into_iter().map(|r| r.to_string()).collect(),
                        )
                    }));
                self.emit_contacts().await;
            }
        }
        for (room_id, invited) in response.rooms.invite {
            self.on_invite(room_id.as_str(), &invited.invite_state.events)
                .await;
        }
        // The rooms the user is in, for their bookmarks: all of them on a new login, then
        // those they join (from any client).
        let member_of = self.member_of(&response.rooms.join, initial);
        if !member_of.is_empty() {
            self.emit(LegacyEvent::MemberOf { rooms: member_of }).await;
        }
        if !initial {
            for (room_id, joined) in response.rooms.join {
                for raw in &joined.timeline.events {
                    if self.e2ee_timeline(room_id.as_str(), raw).await {
                        continue;
                    }
                    match raw.deserialize() {
                        Ok(ev) => self.on_timeline(room_id.as_str(), ev).await,
                        Err(e) => {
                            debug!(room = %room_id, error = %e, "an event that does not parse was skipped")
                        }
                    }
                }
                for raw in &joined.ephemeral.events {
                    if let Ok(ev) = raw.deserialize() {
                        self.on_ephemeral(room_id.as_str(), ev).await;
                    }
                }
            }
        }
        for raw in &response.presence.events {
            let Ok(ev) = raw.deserialize() else { continue };
            let user = ev.sender.as_str();
            if self.rooms.dm_room(user).is_none() {
                continue;
            }
            let availability = match ev.content.presence {
                PresenceState::Online => pontoon_core::legacy::Availability::Available,
                PresenceState::Unavailable => pontoon_core::legacy::Availability::Away,
                _ => pontoon_core::legacy::Availability::Offline,
            };
            let status = ev
                .content
                .status_msg
                .filter(|m| !m.is_empty())
                .map(|m| m.chars().take(512).collect());
            self.emit(LegacyEvent::ContactPresence {
                contact: ids::contact(user),
                availability,
                status,
            })
            .await;
        }
    }

    /// The contact list is the users the account has direct chats with, by their names.
    pub(super) async fn emit_contacts(&self) {
        let contacts = self.contacts_with_names().await;
        self.emit(LegacyEvent::ContactList { contacts }).await;
    }

    /// An invitation: a direct chat is accepted at once (the user asked for nothing
    /// else by being someone's contact); a room invitation is shown (XEP-0249).
    async fn on_invite(
        &mut self,
        room_id: &str,
        state: &[ruma::serde::Raw<AnyStrippedStateEvent>],
    ) {
        let me = self.rooms.me().to_owned();
        let mut inviter = None;
        let mut direct = false;
        for raw in state {
            if let Ok(AnyStrippedStateEvent::RoomMember(ev)) = raw.deserialize()
                && ev.state_key.as_str() == me
            {
                inviter = Some(ev.sender.to_string());
                direct = ev.content.is_direct.unwrap_or(false);
            }
        }
        let Some(inviter) = inviter else { return };
        if self.rooms.dm_user(room_id).is_some() {
            return;
        }
        if direct {
            match self.join(room_id).await {
                Ok(_) => {
                    self.rooms.add_direct(&inviter, room_id);
                    self.store_direct().await;
                    self.emit_contacts().await;
                }
                Err(e) => warn!(room = %room_id, error = %e, "accepting a direct chat failed"),
            }
            return;
        }
        self.emit(LegacyEvent::Invited {
            room: ids::room(&MatrixId::Room(room_id.to_owned())),
            by: Some(ids::contact(&inviter)),
            reason: None,
        })
        .await;
    }

    pub(super) async fn on_timeline(&mut self, room_id: &str, ev: AnySyncTimelineEvent) {
        match ev {
            AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomMessage(
                SyncMessageLikeEvent::Original(m),
            )) => {
                let sender = m.sender.to_string();
                let time = rfc3339(m.origin_server_ts);
                let txn = m.unsigned.transaction_id.as_ref().map(|t| t.to_string());
                self.on_message(room_id, &sender, m.event_id.as_str(), m.content, txn, time)
                    .await;
            }
            AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::Reaction(
                SyncMessageLikeEvent::Original(r),
            )) => {
                let a = &r.content.relates_to;
                self.on_reaction(
                    room_id,
                    r.sender.as_str(),
                    r.event_id.as_str(),
                    a.event_id.as_str(),
                    &a.key,
                )
                .await;
            }
            AnySyncTimelineEvent::MessageLike(AnySyncMessageLikeEvent::RoomRedaction(
                ruma::events::room::redaction::SyncRoomRedactionEvent::Original(r),
            )) => {
                let Some(redacts) = r.content.redacts.as_ref().or(r.redacts.as_ref()) else {
                    return;
                };
                let redacts = redacts.to_string();
                self.on_redaction(
                    room_id,
                    r.sender.as_str(),
                    &redacts,
                    r.content.reason.clone(),
                )
                .await;
            }
            AnySyncTimelineEvent::State(AnySyncStateEvent::RoomMember(
                SyncStateEvent::Original(ev),
            )) => {
                let user = ev.state_key.to_string();
                let display = ev.content.displayname.clone();
                if ev.content.membership == MembershipState::Join {
                    let avatar = ev.content.avatar_url.as_ref().map(|u| u.to_string());
                    self.on_contact_member(room_id, &user, display.as_deref(), avatar.as_deref())
                        .await;
                }
                let by = ev.sender.to_string();
                self.on_member(
                    room_id,
                    &user,
                    display.as_deref(),
                    &ev.content.membership,
                    &by,
                    ev.content.reason.clone(),
                )
                .await;
            }
            AnySyncTimelineEvent::State(AnySyncStateEvent::RoomPowerLevels(
                SyncStateEvent::Original(ev),
            )) => {
                let Ok(content) = serde_json::to_value(&ev.content) else {
                    return;
                };
                self.on_power_levels(room_id, super::rooms::PowerLevels::from_content(&content))
                    .await;
            }
            AnySyncTimelineEvent::State(AnySyncStateEvent::RoomTopic(
                SyncStateEvent::Original(ev),
            )) => {
                let Some(room) = self.rooms.open_room(room_id) else {
                    return;
                };
                let Some(shown) = room.shown_as.clone() else {
                    return;
                };
                let nick = room.members.get(ev.sender.as_str()).cloned();
                self.emit(LegacyEvent::RoomSubject {
                    room: shown,
                    nick,
                    subject: shown_body(&ev.content.topic),
                })
                .await;
            }
            _ => {}
        }
    }

    pub(super) async fn on_message(
        &mut self,
        room_id: &str,
        sender: &str,
        event_id: &str,
        content: RoomMessageEventContent,
        txn: Option<String>,
        time: Option<String>,
    ) {
        let me = self.rooms.me() == sender;
        if me {
            self.own_events.insert(event_id.to_owned(), ());
        }
        let (reply_to, thread) = super::threads::received(content.relates_to.as_ref());
        if let Some(root) = &thread {
            self.thread_latest.insert(root.clone(), event_id.to_owned());
        }
        // Where it goes and who said it: a direct chat from the contact, or an open room
        // from a member (the user's own, with their client's ids when it is our echo).
        let by_user = me && txn.is_none();
        let (chat, author, ids) = if let Some(contact) = self.rooms.dm_user(room_id) {
            if me && !by_user {
                // Our own echo (its transaction id is the gateway's): already shown.
                return;
            }
            // The user's own without a transaction id of ours: sent from another of their
            // Matrix clients (Element), shown as theirs.
            let contact = contact.to_owned();
            (
                ChatId::Contact(ids::contact(&contact)),
                contact,
                ClientIds::none(),
            )
        } else {
            let Some(room) = self.rooms.open_room(room_id) else {
                return;
            };
            let Some(shown) = room.shown_as.clone() else {
                return;
            };
            let nick = room
                .members
                .get(sender)
                .cloned()
                .unwrap_or_else(|| sender.to_owned());
            let ids = match (me, txn) {
                (true, Some(t)) => room.pending.remove(&t).unwrap_or_default(),
                _ => ClientIds::none(),
            };
            (ChatId::Room(shown), nick, ids)
        };
        if let Some(Relation::Replacement(r)) = &content.relates_to {
            let (body, kind) = msgtype_text(&r.new_content.msgtype);
            self.emit(LegacyEvent::Corrected {
                chat,
                author,
                target: r.event_id.to_string(),
                body,
                kind,
            })
            .await;
            return;
        }
        let (mut body, kind) = text_of(&content);
        let mut attachments = Vec::new();
        match crate::media::attachment(&content.msgtype) {
            Some(crate::media::Carried::File(file, caption)) => {
                attachments.push(file);
                body = caption;
            }
            Some(crate::media::Carried::Said(text)) => body = text,
            None => {}
        }
        let event = match chat {
            ChatId::Contact(from) => LegacyEvent::Message {
                from,
                body,
                kind,
                id: Some(event_id.to_owned()),
                reply_to,
                thread,
                attachments,
                time,
                by_user,
            },
            ChatId::Room(room) => LegacyEvent::RoomMessage {
                room,
                nick: author,
                body,
                kind,
                ids,
                id: Some(event_id.to_owned()),
                reply_to,
                thread,
                attachments,
                time,
            },
        };
        self.emit(event).await;
    }

    async fn on_member(
        &mut self,
        room_id: &str,
        user: &str,
        display: Option<&str>,
        membership: &MembershipState,
        by: &str,
        reason: Option<String>,
    ) {
        let Some(room) = self.rooms.open_room(room_id) else {
            return;
        };
        let Some(shown) = room.shown_as.clone() else {
            return;
        };
        match membership {
            MembershipState::Join => {
                let nick = nick_for(user, display, &room.members);
                let old = room.members.insert(user.to_owned(), nick.clone());
                match old {
                    Some(old) if old != nick => {
                        self.emit(LegacyEvent::OccupantRenamed {
                            room: shown,
                            old,
                            new: nick,
                        })
                        .await;
                    }
                    Some(_) => {}
                    None => {
                        let level = room.levels.of(user);
                        self.emit(LegacyEvent::OccupantUpdated {
                            room: shown,
                            occupant: super::commands::occupant(user, nick, level),
                        })
                        .await;
                    }
                }
            }
            MembershipState::Leave | MembershipState::Ban => {
                let Some(nick) = room.members.remove(user) else {
                    return;
                };
                let by_nick = room
                    .members
                    .get(by)
                    .cloned()
                    .or_else(|| Some(by.to_owned()));
                let kind = match membership {
                    MembershipState::Ban => LeaveKind::Ban { by: by_nick },
                    _ if by != user => LeaveKind::Kick { by: by_nick },
                    _ => LeaveKind::Part,
                };
                if user == self.rooms.me() {
                    self.rooms.close(&shown);
                }
                self.emit(LegacyEvent::OccupantLeft {
                    room: shown,
                    nick,
                    kind,
                    reason,
                })
                .await;
            }
            _ => {}
        }
    }

    /// New power levels in an open room: everyone whose standing changed is shown anew.
    async fn on_power_levels(&mut self, room_id: &str, levels: super::rooms::PowerLevels) {
        let Some(room) = self.rooms.open_room(room_id) else {
            return;
        };
        let Some(shown) = room.shown_as.clone() else {
            return;
        };
        // The creators come from the create event, which does not change.
        let levels = super::rooms::PowerLevels {
            creators: room.levels.creators.clone(),
            ..levels
        };
        let changed: Vec<(String, String, i64)> = room
            .members
            .iter()
            .filter(|(user, _)| {
                super::rooms::standing(room.levels.of(user))
                    != super::rooms::standing(levels.of(user))
            })
            .map(|(user, nick)| (user.clone(), nick.clone(), levels.of(user)))
            .collect();
        room.levels = levels;
        for (user, nick, level) in changed {
            self.emit(LegacyEvent::OccupantUpdated {
                room: shown.clone(),
                occupant: super::commands::occupant(&user, nick, level),
            })
            .await;
        }
    }

    /// Reads the account's `m.direct` (a resumed sync does not repeat account data that
    /// did not change, so a session learns its direct chats here), and shows the contacts.
    pub(super) async fn load_direct(&mut self) -> Result<(), crate::http::HttpError> {
        let Ok(user) = ruma::UserId::parse(self.rooms.me()) else {
            return Ok(());
        };
        let request = ruma::api::client::config::get_global_account_data::v3::Request::new(
            user,
            ruma::events::GlobalAccountDataEventType::Direct,
        );
        let answer = self.call(request, Duration::from_secs(30)).await;
        let direct: HashMap<String, Vec<String>> = match answer {
            Ok(a) => serde_json::from_str(a.account_data.json().get()).unwrap_or_default(),
            Err(e) if e.code() == Some("M_NOT_FOUND") => HashMap::new(),
            Err(e) => return Err(e),
        };
        self.rooms.set_direct(direct);
        self.emit_contacts().await;
        Ok(())
    }

    /// Writes the account's `m.direct` as the session knows it.
    pub(super) async fn store_direct(&self) {
        let map: HashMap<&str, Vec<&str>> = self.rooms.direct_map();
        let Ok(content) = serde_json::value::to_raw_value(&map) else {
            return;
        };
        let Ok(user) = ruma::UserId::parse(self.rooms.me()) else {
            return;
        };
        let request = ruma::api::client::config::set_global_account_data::v3::Request::new_raw(
            user,
            "m.direct".into(),
            ruma::serde::Raw::from_json(content),
        );
        if let Err(e) = self.call(request, Duration::from_secs(30)).await {
            warn!(error = %e, "the direct chats could not be saved on the homeserver");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_bodies() {
        let ts =
            ruma::MilliSecondsSinceUnixEpoch(1_700_000_000_123u64.try_into().unwrap_or_default());
        assert_eq!(rfc3339(ts).as_deref(), Some("2023-11-14T22:13:20Z"));
        let long = "é".repeat(MAX_BODY);
        let shown = shown_body(&long);
        assert!(shown.len() < MAX_BODY + 60, "{}", shown.len());
        assert!(shown.ends_with(&format!("[cut: the message had {} bytes]", long.len())));
    }
}
