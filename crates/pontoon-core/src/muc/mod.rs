//! Multi-user chat (XEP-0045): legacy rooms (IRC channels) as MUC rooms on the transport
//! domain.
//!
//! The session keeps, per room, the user's resources that joined it and the occupant list,
//! so a second client of the same user joins the same legacy room without a second legacy
//! join, and sees the room as the first did. The legacy network sees one member.

mod private;
mod render;
mod send_failed;

pub(crate) use render::private_marker;

use std::collections::{HashMap, HashSet};

use jid::Jid;
use minidom::Element;
use xmpp_parsers::message::Lang;
use xmpp_parsers::muc::user::Status;
use xmpp_parsers::presence::{Presence, Type as PresenceType};

use crate::control::ServiceCounters;
use crate::legacy::{
    Affiliation, ClientIds, LeaveKind, LegacyCommand, LegacyEvent, Occupant, Role, RoomError,
};
use crate::render::{Chat, Shown};
use crate::session::Session;
use crate::stanza::Refusal;
use crate::verbs::Pending;

/// Namespace of MUC join presences.
pub const NS_MUC: &str = "http://jabber.org/protocol/muc";

/// One legacy room as one user's session sees it.
#[derive(Debug, Default)]
pub(crate) struct Room {
    /// The nick the first client asked for.
    requested_nick: String,
    /// The user's nick in the room, once joined.
    pub(crate) nick: String,
    /// Joined on the legacy side.
    pub(crate) joined: bool,
    /// The user's resources in the room (joined, or waiting for the legacy join).
    resources: HashSet<Jid>,
    /// Everyone in the room, by nick.
    occupants: HashMap<String, Occupant>,
    /// The current subject.
    subject: Option<String>,
    /// The room's name, where the network gives it one besides its id.
    pub(crate) name: Option<String>,
    /// Occupants the user wrote to privately through the room (`room@domain/nick`): their
    /// answers come from that JID too, so the conversation stays in one window.
    private: Vec<String>,
    /// Degraded verbs (corrections, reactions) sent and not yet reflected, by the client's
    /// ids (see `crate::verbs`).
    pub(crate) pending: Vec<(ClientIds, crate::verbs::Pending)>,
}

impl Room {
    /// The person id of the occupant `nick`, where the network gives one.
    fn person_of(&self, nick: &str) -> Option<String> {
        self.occupants.get(nick).and_then(|o| o.person.clone())
    }

    /// The role of the occupant `nick`, if they are in the room.
    pub(crate) fn role_of(&self, nick: &str) -> Option<Role> {
        self.occupants.get(nick).map(|o| o.role)
    }

    /// The affiliation of the occupant `nick` (`None` for someone not in the room).
    fn affiliation_of(&self, nick: &str) -> Affiliation {
        self.occupants
            .get(nick)
            .map_or(Affiliation::None, |o| o.affiliation)
    }
}

/// The MUC error for a failed legacy join.
pub fn join_refusal(error: RoomError, text: &str) -> Refusal {
    match error {
        RoomError::Banned => Refusal::auth("forbidden", text),
        RoomError::Full => Refusal::wait("service-unavailable", text),
        RoomError::InviteOnly => Refusal::auth("registration-required", text),
        RoomError::BadKey => Refusal::auth("not-authorized", text),
        RoomError::NickInUse => Refusal::cancel("conflict", text),
        RoomError::NotFound => Refusal::cancel("item-not-found", text),
        RoomError::Other => Refusal::cancel("service-unavailable", text),
    }
}

impl Session {
    /// Everything a resource sees on entering: occupants, itself (110), then the subject.
    async fn send_join_burst(&self, room_id: &str, to: &Jid) {
        let Some(room) = self.rooms.get(room_id) else {
            return;
        };
        let mut burst = Vec::with_capacity(room.occupants.len() + 2);
        for occupant in room.occupants.values().filter(|o| o.nick != room.nick) {
            burst.extend(self.occupant_presence(room_id, to, occupant, vec![]));
        }
        let me = room.occupants.get(&room.nick).cloned().unwrap_or(Occupant {
            nick: room.nick.clone(),
            person: None,
            role: Role::Participant,
            affiliation: Affiliation::None,
        });
        let mut statuses = vec![Status::SelfPresence];
        if room.nick != room.requested_nick {
            statuses.push(Status::AssignedNick);
        }
        burst.extend(self.occupant_presence(room_id, to, &me, statuses));
        if let Some(room_jid) = self.room_jid(room_id) {
            let mut subject = self.groupchat(room_jid, to);
            subject
                .subjects
                .insert(Lang::default(), room.subject.clone().unwrap_or_default());
            burst.push(subject.into());
        }
        for el in burst {
            self.send(el).await;
        }
    }

    /// A resource asked to join `room_id` as `nick`.
    pub(crate) async fn join_room(
        &mut self,
        from: Jid,
        room_id: String,
        nick: String,
        password: Option<String>,
    ) {
        if let Some(room) = self.rooms.get_mut(&room_id) {
            let newcomer = room.resources.insert(from.clone());
            let joined = room.joined;
            let current = room.nick.clone();
            if joined && !newcomer && nick != current {
                // A joined client asking for another nick: a nick change (XEP-0045 7.6).
                let _ = self
                    .legacy
                    .send(LegacyCommand::SetNick {
                        room: room_id,
                        nick,
                    })
                    .await;
                return;
            }
            // A presence update from a client already in the room (a status change) needs
            // no answer here; only a newcomer gets the room as it is.
            if joined && newcomer {
                self.send_join_burst(&room_id, &from).await;
            }
            return;
        }
        let mut resources = HashSet::new();
        resources.insert(from);
        self.rooms.insert(
            room_id.clone(),
            Room {
                requested_nick: nick.clone(),
                nick: nick.clone(),
                resources,
                ..Room::default()
            },
        );
        let _ = self
            .legacy
            .send(LegacyCommand::JoinRoom {
                room: room_id,
                nick,
                password,
            })
            .await;
    }

    /// A resource left `room_id`; the legacy room is left when the last one does.
    /// Returns true when the session has nothing left to do.
    pub(crate) async fn leave_room(&mut self, from: Jid, room_id: String) {
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        if !room.resources.remove(&from) {
            return;
        }
        let nick = room.nick.clone();
        let last = room.resources.is_empty();
        let affiliation = room.affiliation_of(&nick);
        let person = room.person_of(&nick);
        let item = render::gone_item(affiliation);
        if let Some(p) = self.unavailable_presence(
            &room_id,
            &from,
            (&nick, person.as_deref()),
            item,
            vec![Status::SelfPresence],
            None,
        ) {
            self.send(p).await;
        }
        if last {
            self.rooms.remove(&room_id);
            let _ = self
                .legacy
                .send(LegacyCommand::LeaveRoom {
                    room: room_id,
                    reason: None,
                })
                .await;
        }
    }

    /// A groupchat message (or subject change, correction, reaction...) from one of the
    /// user's resources.
    pub(crate) async fn room_message(
        &mut self,
        from: &Jid,
        room_id: String,
        verb: crate::inbound::Verb,
        stanza: &Element,
    ) {
        let in_room = self
            .rooms
            .get(&room_id)
            .is_some_and(|r| r.joined && r.resources.contains(from));
        if !in_room {
            self.bounce(
                stanza,
                Refusal::modify("not-acceptable", "You are not in this room; join it first."),
            )
            .await;
            return;
        }
        match verb {
            // Plain text, the common case, inline; every other verb boxed (this handler is
            // inlined in the session task's future, which lives as long as the session).
            // Files and replies take the long way, which degrades them where needed.
            crate::inbound::Verb::Text(text)
                if text.reply.is_none() && text.attachments.is_empty() =>
            {
                let command = self.room_command(room_id, text, None, None, stanza);
                if self.to_legacy(command, stanza).await {
                    ServiceCounters::bump(&self.ctx.counters.messages_to_legacy);
                }
            }
            verb => Box::pin(self.act(crate::legacy::ChatId::Room(room_id), verb, stanza)).await,
        }
    }

    pub(super) fn room_resources(&self, room_id: &str) -> Vec<Jid> {
        self.rooms
            .get(room_id)
            .map(|r| r.resources.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) async fn on_room_joined(
        &mut self,
        room_id: String,
        name: Option<String>,
        nick: String,
        occupants: Vec<Occupant>,
        subject: Option<String>,
    ) {
        let Some(room) = self.rooms.get_mut(&room_id) else {
            // Every client left while the join was under way.
            let _ = self
                .legacy
                .send(LegacyCommand::LeaveRoom {
                    room: room_id,
                    reason: None,
                })
                .await;
            return;
        };
        room.joined = true;
        room.name = name;
        room.nick = nick;
        room.subject = subject;
        room.occupants = occupants.into_iter().map(|o| (o.nick.clone(), o)).collect();
        for to in self.room_resources(&room_id) {
            self.send_join_burst(&room_id, &to).await;
        }
    }

    pub(crate) async fn on_room_join_failed(
        &mut self,
        room_id: String,
        error: RoomError,
        text: String,
    ) {
        let Some(room) = self.rooms.remove(&room_id) else {
            return;
        };
        let refusal = join_refusal(error, &text);
        let Some(from) = self.occupant_jid(&room_id, &room.requested_nick) else {
            return;
        };
        for to in room.resources {
            let mut p = Presence::new(PresenceType::Error)
                .with_from(from.clone())
                .with_to(to);
            p.payloads.push(refusal.to_error().into());
            self.send(p.into()).await;
        }
    }

    pub(crate) async fn on_occupant_updated(&mut self, room_id: String, occupant: Occupant) {
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        let own = occupant.nick == room.nick;
        room.occupants
            .insert(occupant.nick.clone(), occupant.clone());
        if !room.joined {
            return;
        }
        let statuses = if own {
            vec![Status::SelfPresence]
        } else {
            vec![]
        };
        for to in self.room_resources(&room_id) {
            if let Some(p) = self.occupant_presence(&room_id, &to, &occupant, statuses.clone()) {
                self.send(p).await;
            }
        }
    }

    pub(crate) async fn on_occupant_left(
        &mut self,
        room_id: String,
        nick: String,
        kind: LeaveKind,
        reason: Option<String>,
    ) {
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        let own = nick == room.nick;
        let gone = room.occupants.remove(&nick);
        let affiliation = gone.as_ref().map_or(Affiliation::None, |o| o.affiliation);
        let person = gone.and_then(|o| o.person);
        let mut statuses = Vec::new();
        let mut item = render::gone_item(affiliation);
        if let LeaveKind::Kick { by } = &kind {
            statuses.push(Status::Kicked);
            // xmpp-parsers' Actor cannot be built from outside; say who in the reason.
            let text = match (by, &reason) {
                (Some(by), Some(r)) => format!("Kicked by {by}: {r}"),
                (Some(by), None) => format!("Kicked by {by}"),
                (None, Some(r)) => r.clone(),
                (None, None) => "Kicked".to_owned(),
            };
            item = item.with_reason(text);
        }
        if own {
            statuses.push(Status::SelfPresence);
        }
        let resources = self.room_resources(&room_id);
        for to in &resources {
            if let Some(p) = self.unavailable_presence(
                &room_id,
                to,
                (&nick, person.as_deref()),
                item.clone(),
                statuses.clone(),
                reason.as_deref(),
            ) {
                self.send(p).await;
            }
        }
        if own {
            self.rooms.remove(&room_id);
        }
    }

    pub(crate) async fn on_occupant_renamed(&mut self, room_id: String, old: String, new: String) {
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        let own = old == room.nick;
        let occupant = room.occupants.remove(&old).map(|mut o| {
            o.nick = new.clone();
            o
        });
        let occupant = occupant.unwrap_or(Occupant {
            nick: new.clone(),
            person: None,
            role: Role::Participant,
            affiliation: Affiliation::None,
        });
        room.occupants.insert(new.clone(), occupant.clone());
        if own {
            room.nick = new.clone();
        }
        for n in room.private.iter_mut().filter(|n| **n == old) {
            n.clone_from(&new);
        }
        let mut statuses = vec![Status::NewNick];
        if own {
            statuses.push(Status::SelfPresence);
        }
        let item = render::gone_item(occupant.affiliation).with_nick(new.clone());
        let after = if own {
            vec![Status::SelfPresence]
        } else {
            vec![]
        };
        for to in self.room_resources(&room_id) {
            if let Some(p) = self.unavailable_presence(
                &room_id,
                &to,
                (&old, occupant.person.as_deref()),
                item.clone(),
                statuses.clone(),
                None,
            ) {
                self.send(p).await;
            }
            if let Some(p) = self.occupant_presence(&room_id, &to, &occupant, after.clone()) {
                self.send(p).await;
            }
        }
    }

    /// A [`LegacyEvent::RoomMessage`] (anything else is ignored).
    pub(crate) async fn on_room_message(&mut self, event: LegacyEvent) {
        let reply = match &event {
            LegacyEvent::RoomMessage {
                room,
                reply_to: Some(target),
                ..
            } => {
                // Boxed: rare, and inlined in the session task's future otherwise.
                Some(Box::pin(self.reply_element(room, target, true)).await)
            }
            _ => None,
        };
        for m in self.room_message_stanzas(event, reply) {
            self.send(m).await;
        }
    }

    /// The stanzas a [`LegacyEvent::RoomMessage`] makes, one per resource of the user in
    /// the room. (Not async: what an await holds lives in the session task's future.)
    fn room_message_stanzas(&mut self, event: LegacyEvent, reply: Option<Element>) -> Vec<Element> {
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
        ServiceCounters::bump(&self.ctx.counters.messages_to_xmpp);
        // One stanza-id for every resource: it names the message, not the copy.
        let stanza_id = crate::ids::stanza_id_for(id.as_deref());
        // The user's own message (reflected with their client's ids) may stand for a
        // degraded verb (see `crate::verbs`); it is recorded as theirs, others' as others'.
        let mut pending = None;
        let own = self.rooms.get(&room_id).is_some_and(|r| r.nick == nick);
        if ids.is_empty() && own {
            // The user's own, written from another client of the network.
            self.remember_own_message(&room_id, &nick, &ids, &stanza_id);
        } else if ids.is_empty() {
            let legacy_id = id.as_deref().unwrap_or(&stanza_id);
            self.remember_message(&room_id, &nick, legacy_id, &stanza_id);
        } else {
            pending = self.reflected_pending(&room_id, &ids);
            if !matches!(pending, Some(Pending::Reactions { .. })) {
                self.remember_own_message(&room_id, &nick, &ids, &stanza_id);
            }
        }
        let mut payloads: Vec<Element> = reply.into_iter().collect();
        payloads.extend(attachments.iter().map(crate::inbound::oob::element));
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
            chat: Chat::Room(&room_id),
            nick: Some(&nick),
            ids: &ids,
            id: Some(&stanza_id),
            body: body.as_deref(),
            payloads,
        })
    }

    pub(crate) async fn on_room_subject(
        &mut self,
        room_id: String,
        nick: Option<String>,
        subject: String,
    ) {
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        room.subject = Some(subject.clone());
        if !room.joined {
            return;
        }
        let from = match &nick {
            Some(nick) => self.occupant_jid(&room_id, nick),
            None => self.room_jid(&room_id),
        };
        let Some(from) = from else { return };
        self.to_room_resources(&room_id, from, Some(&subject), None)
            .await;
    }

    pub(crate) async fn on_room_notice(&mut self, room_id: String, text: String) {
        let Some(from) = self.room_jid(&room_id) else {
            return;
        };
        self.to_room_resources(&room_id, from, None, Some(&text))
            .await;
    }

    /// The legacy session is ending: every client in a room is told it is out (110 + 332).
    pub(crate) async fn close_rooms(&mut self, reason: &str) {
        let rooms = std::mem::take(&mut self.rooms);
        for (room_id, room) in rooms {
            let affiliation = room.affiliation_of(&room.nick);
            let person = room.person_of(&room.nick);
            for to in &room.resources {
                let item = render::gone_item(affiliation);
                let statuses = vec![Status::SelfPresence, Status::ServiceShutdown];
                if let Some(p) = self.unavailable_presence(
                    &room_id,
                    to,
                    (&room.nick, person.as_deref()),
                    item,
                    statuses,
                    Some(reason),
                ) {
                    self.send(p).await;
                }
            }
        }
    }

    /// The user went offline everywhere: every room is gone for them. Returns the rooms.
    pub(crate) fn forget_rooms(&mut self) -> Vec<String> {
        self.rooms.drain().map(|(id, _)| id).collect()
    }

    /// A resource went offline: it is out of every room. Returns the rooms nobody of the
    /// user's is left in (forgotten here; the caller leaves them on the legacy side).
    pub(crate) fn drop_resource_from_rooms(&mut self, resource: &Jid) -> Vec<String> {
        let mut emptied = Vec::new();
        self.rooms.retain(|id, room| {
            room.resources.remove(resource);
            if room.resources.is_empty() {
                emptied.push(id.clone());
                false
            } else {
                true
            }
        });
        emptied
    }

    /// Whether any of the user's resources is in a room.
    pub(crate) fn in_rooms(&self) -> bool {
        !self.rooms.is_empty()
    }

    /// The legacy ids of the rooms joined on the legacy side.
    pub(crate) fn joined_rooms(&self) -> impl Iterator<Item = &String> {
        self.rooms
            .iter()
            .filter(|(_, r)| r.joined)
            .map(|(id, _)| id)
    }
}
