//! The core's commands, carried out on the homeserver: messages, direct chats, rooms.

use std::collections::HashMap;
use std::time::Duration;

use pontoon_core::legacy::{
    ChatId, ClientIds, LegacyCommand, LegacyEvent, LegacyId, Occupant, RoomError, SendError,
};
use ruma::api::client::membership::{join_room_by_id_or_alias, joined_members};
use ruma::api::client::message::send_message_event;
use ruma::api::client::room::create_room;
use ruma::events::MessageLikeEventContent;
use ruma::events::room::message::RoomMessageEventContent;
use ruma::{OwnedRoomId, OwnedRoomOrAliasId, OwnedTransactionId, OwnedUserId};
use tracing::debug;

use super::Session;
use super::rooms::nick_for;
use crate::http::HttpError;
use crate::ids::{self, MatrixId};

/// How long one API call of a command may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// An occupant as the vocabulary says it, standing as their power `level` says.
pub(super) fn occupant(user: &str, nick: String, level: i64) -> Occupant {
    let (role, affiliation) = super::rooms::standing(level);
    Occupant {
        nick,
        person: Some(user.to_owned()),
        role,
        affiliation,
    }
}

impl Session {
    /// Carries out one command of the core.
    pub(super) async fn on_command(&mut self, command: LegacyCommand) {
        match command {
            LegacyCommand::SendMessage {
                to,
                body,
                kind,
                id,
                reply_to,
                attachments,
                thread,
                ..
            } => {
                let thread = self.thread_of(thread.as_deref());
                let contents = self
                    .contents(&body, kind, reply_to.as_deref(), thread, &attachments)
                    .await;
                match contents {
                    Ok(contents) => {
                        // The client's id names the first event (corrections, retractions).
                        let mut id = id;
                        for content in &contents {
                            self.send_direct(to.clone(), content, id.take()).await;
                        }
                    }
                    Err(reason) => {
                        self.emit(LegacyEvent::SendFailed { to, id, reason }).await;
                    }
                }
            }
            LegacyCommand::SendRoomMessage {
                room,
                body,
                kind,
                ids,
                reply_to,
                attachments,
                thread,
                ..
            } => {
                let thread = self.thread_of(thread.as_deref());
                let contents = self
                    .contents(&body, kind, reply_to.as_deref(), thread, &attachments)
                    .await;
                match contents {
                    Ok(contents) => {
                        let mut ids = Some(ids);
                        for content in &contents {
                            let ids = ids.take().unwrap_or_else(ClientIds::none);
                            self.send_room(room.clone(), content, ids).await;
                        }
                    }
                    Err(reason) => {
                        self.emit(LegacyEvent::RoomSendFailed {
                            room,
                            ids,
                            error: SendError::Refused,
                            reason,
                        })
                        .await;
                    }
                }
            }
            LegacyCommand::React {
                chat,
                target,
                added,
                removed,
            } => self.react(chat, target, added, removed).await,
            LegacyCommand::Correct {
                chat,
                target,
                body,
                kind,
            } => self.correct(chat, target, body, kind).await,
            LegacyCommand::Retract { chat, target } => self.retract(chat, target, None).await,
            LegacyCommand::Moderate {
                room,
                target,
                reason,
            } => self.retract(ChatId::Room(room), target, reason).await,
            LegacyCommand::MarkDisplayed { chat, target } => self.mark_read(chat, target).await,
            LegacyCommand::SetChatState { chat, state } => self.typing(chat, state).await,
            LegacyCommand::SetSubject { room, subject } => self.set_topic(room, subject).await,
            LegacyCommand::Kick { room, nick, reason } => {
                self.kick(room, nick, reason, false).await
            }
            LegacyCommand::Ban { room, nick, reason } => self.kick(room, nick, reason, true).await,
            LegacyCommand::Invite {
                room,
                contact,
                reason,
            } => self.invite(room, contact, reason).await,
            LegacyCommand::JoinRoom { room, .. } => self.join_room(room).await,
            LegacyCommand::LeaveRoom { room, .. } => {
                // Closing the MUC room does not leave the Matrix room: the user's other
                // Matrix clients keep it, and joining again shows it again.
                if self.rooms.close(&room).is_some() {
                    let nick = self.own_nick();
                    self.emit(LegacyEvent::OccupantLeft {
                        room,
                        nick,
                        kind: pontoon_core::legacy::LeaveKind::Part,
                        reason: None,
                    })
                    .await;
                }
            }
            LegacyCommand::ListRooms {
                request,
                network,
                search,
            } => {
                self.list_rooms(request, network, search).await;
            }
            LegacyCommand::SetPresence {
                availability,
                status,
            } => self.set_presence(availability, status).await,
            other => debug!(command = ?std::mem::discriminant(&other), "not carried on Matrix yet"),
        }
    }

    /// The user's nick in rooms: their Matrix id until rooms tell their display name.
    fn own_nick(&self) -> String {
        self.rooms.me().to_owned()
    }

    /// Joins a room by id or alias; answers the room id.
    pub(super) async fn join(&self, room: &str) -> Result<OwnedRoomId, HttpError> {
        let target = OwnedRoomOrAliasId::try_from(room)
            .map_err(|e| HttpError::Malformed(format!("{room}: {e}")))?;
        let answer = self
            .call(
                join_room_by_id_or_alias::v3::Request::new(target),
                CALL_TIMEOUT,
            )
            .await?;
        Ok(answer.room_id)
    }

    async fn join_room(&mut self, shown: LegacyId) {
        let failed = |error: RoomError, text: String| LegacyEvent::RoomJoinFailed {
            room: shown.clone(),
            error,
            text,
        };
        let id = match ids::of(&shown) {
            Ok(MatrixId::User(_)) | Err(_) => {
                let e = failed(RoomError::NotFound, "not a Matrix room".to_owned());
                self.emit(e).await;
                return;
            }
            Ok(id) => id,
        };
        let room_id = match self.join(id.as_str()).await {
            Ok(r) => r,
            Err(e) => {
                let error = match e.code() {
                    Some("M_FORBIDDEN") => RoomError::InviteOnly,
                    Some("M_NOT_FOUND") => RoomError::NotFound,
                    _ if e.is_transient() => RoomError::Busy,
                    _ => RoomError::Other,
                };
                self.emit(failed(error, e.to_string())).await;
                return;
            }
        };
        let members = match self
            .call(
                joined_members::v3::Request::new(room_id.clone()),
                CALL_TIMEOUT,
            )
            .await
        {
            Ok(a) => a.joined,
            Err(e) => {
                self.emit(failed(RoomError::Busy, e.to_string())).await;
                return;
            }
        };
        let mut nicks: HashMap<String, String> = HashMap::with_capacity(members.len());
        // Sorted, so that who gets the plain name among equals does not depend on hashing.
        let mut sorted: Vec<(OwnedUserId, Option<String>)> = members
            .into_iter()
            .map(|(u, m)| (u, m.display_name))
            .collect();
        sorted.sort();
        for (user, display) in &sorted {
            let nick = nick_for(user.as_str(), display.as_deref(), &nicks);
            nicks.insert(user.to_string(), nick);
        }
        let name = self.state_field(&room_id, "m.room.name", "name").await;
        let subject = self.state_field(&room_id, "m.room.topic", "topic").await;
        let me = self.rooms.me().to_owned();
        let nick = nicks.get(&me).cloned().unwrap_or_else(|| me.clone());
        let levels = self.power_levels(&room_id).await;
        let occupants = nicks
            .iter()
            .map(|(user, nick)| occupant(user, nick.clone(), levels.of(user)))
            .collect();
        self.rooms
            .open(room_id.as_str(), shown.clone(), nicks, levels);
        self.emit(LegacyEvent::RoomJoined {
            room: shown,
            name,
            nick,
            occupants,
            subject,
        })
        .await;
    }

    /// A room's power levels (the defaults when it has none or they cannot be read).
    async fn power_levels(&self, room_id: &OwnedRoomId) -> super::rooms::PowerLevels {
        use ruma::api::client::state::get_state_event_for_key::v3::{Request, StateEventFormat};
        let json = |text: &str| serde_json::from_str::<serde_json::Value>(text).ok();
        let request = Request::new(room_id.clone(), "m.room.power_levels".into(), String::new());
        let levels = match self.call(request, CALL_TIMEOUT).await {
            Ok(a) => json(a.event_or_content.get())
                .map(|v| super::rooms::PowerLevels::from_content(&v))
                .unwrap_or_default(),
            Err(_) => Default::default(),
        };
        // Version 12 rooms: the creators, all-powerful, are named in the create event.
        let mut request = Request::new(room_id.clone(), "m.room.create".into(), String::new());
        request.format = StateEventFormat::Event;
        match self.call(request, CALL_TIMEOUT).await {
            Ok(a) => match json(a.event_or_content.get()) {
                Some(create) => levels.with_creators(&create),
                None => levels,
            },
            Err(_) => levels,
        }
    }

    /// Sends `content` to `room_id`; answers the event id.
    pub(super) async fn send_event<C: MessageLikeEventContent>(
        &mut self,
        room_id: &OwnedRoomId,
        txn: &str,
        content: &C,
    ) -> Result<String, HttpError> {
        let deadline = tokio::time::Instant::now() + self.cfg.send_deadline;
        let mut backoff = Duration::from_secs(1);
        // Encrypted once (the same ciphertext on every try), waiting out the homeserver
        // like the sending below.
        let encrypted = loop {
            match self.e2ee_request(room_id, txn, content).await {
                Ok(r) => break r,
                Err(e) if e.is_transient() && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(e.retry_after().unwrap_or(backoff)).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
                Err(e) => return Err(e),
            }
        };
        let request = match encrypted {
            Some(encrypted) => encrypted,
            None => send_message_event::v3::Request::new(
                room_id.clone(),
                OwnedTransactionId::from(txn),
                content,
            )
            .map_err(|e| HttpError::Malformed(e.to_string()))?,
        };
        loop {
            // The same transaction id on every try: the homeserver sends it once.
            match self.call(request.clone(), CALL_TIMEOUT).await {
                Ok(a) => {
                    self.own_events.insert(a.event_id.to_string(), ());
                    return Ok(a.event_id.to_string());
                }
                Err(e) if e.is_transient() && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(e.retry_after().unwrap_or(backoff)).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn send_direct(
        &mut self,
        to: LegacyId,
        content: &RoomMessageEventContent,
        id: Option<String>,
    ) {
        let fail = |reason: String| LegacyEvent::SendFailed {
            to: to.clone(),
            id: id.clone(),
            reason,
        };
        let user = match ids::of(&to) {
            Ok(MatrixId::User(u)) => u,
            _ => {
                self.emit(fail("not a Matrix user".to_owned())).await;
                return;
            }
        };
        let room_id = match self.rooms.dm_room(&user) {
            Some(r) => OwnedRoomId::try_from(r).ok(),
            None => None,
        };
        let room_id = match room_id {
            Some(r) => r,
            None => match self.open_direct(&user).await {
                Ok(r) => r,
                Err(e) => {
                    self.emit(fail(format!("no direct chat with {user}: {e}")))
                        .await;
                    return;
                }
            },
        };
        let txn = self.txn_id();
        match self.send_event(&room_id, &txn, content).await {
            Ok(event_id) => {
                if let Some(id) = id {
                    self.sent_ids.insert(id.clone(), event_id.clone());
                    self.emit(LegacyEvent::MessageSent {
                        to,
                        id,
                        legacy_id: event_id,
                    })
                    .await;
                }
            }
            Err(e) => {
                self.emit(fail(e.to_string())).await;
            }
        }
    }

    /// Opens a direct chat with `user`, as Element does: a private room, the user invited
    /// with `is_direct`, recorded in the account's `m.direct`.
    async fn open_direct(&mut self, user: &str) -> Result<OwnedRoomId, HttpError> {
        let invitee = OwnedUserId::try_from(user)
            .map_err(|e| HttpError::Malformed(format!("{user}: {e}")))?;
        let mut request = create_room::v3::Request::new();
        request.invite = vec![invitee];
        request.is_direct = true;
        request.preset = Some(create_room::v3::RoomPreset::TrustedPrivateChat);
        let answer = self.call(request, CALL_TIMEOUT).await?;
        self.rooms.add_direct(user, answer.room_id.as_str());
        self.store_direct().await;
        self.emit_contacts().await;
        Ok(answer.room_id)
    }

    async fn send_room(
        &mut self,
        shown: LegacyId,
        content: &RoomMessageEventContent,
        ids: ClientIds,
    ) {
        let Some(room_id) = self
            .rooms
            .room_id(&shown)
            .and_then(|r| OwnedRoomId::try_from(r).ok())
        else {
            self.emit(LegacyEvent::RoomSendFailed {
                room: shown,
                ids,
                error: SendError::Unreachable,
                reason: "you are not in this room".to_owned(),
            })
            .await;
            return;
        };
        let txn = self.txn_id();
        if let Some(room) = self.rooms.open_room(room_id.as_str()) {
            room.pending.insert(txn.clone(), ids.clone());
        }
        let sent = self.send_event(&room_id, &txn, content).await;
        if let Ok(event_id) = &sent {
            for id in [&ids.id, &ids.origin_id].into_iter().flatten() {
                self.sent_ids.insert(id.clone(), event_id.clone());
            }
        }
        if let Err(e) = sent {
            if let Some(room) = self.rooms.open_room(room_id.as_str()) {
                room.pending.remove(&txn);
            }
            let error = if e.is_transient() {
                SendError::Unreachable
            } else {
                SendError::Refused
            };
            self.emit(LegacyEvent::RoomSendFailed {
                room: shown,
                ids,
                error,
                reason: e.to_string(),
            })
            .await;
        }
    }
}
