//! Multi-user chat (XEP-0045): legacy rooms (IRC channels) as MUC rooms on the transport
//! domain.
//!
//! The session keeps, per room, the user's resources that joined it and the occupant list,
//! so a second client of the same user joins the same legacy room without a second legacy
//! join, and sees the room as the first did. The legacy network sees one member.

mod admin;
pub mod config;
mod messages;
mod occupants;
mod private;
mod render;
mod room;
mod send_failed;

pub(crate) use room::Room;
use room::{Departure, Entry};

pub(crate) use render::private_marker;

use jid::Jid;
use minidom::Element;
use xmpp_parsers::muc::user::Status;
use xmpp_parsers::presence::{Presence, Type as PresenceType};

use crate::archive::history::HistoryRequest;
use crate::legacy::{ClientIds, LeaveKind, LegacyCommand, LegacyId, Occupant, RoomError};
use crate::render::{Chat, Shown};
use crate::session::Session;
use crate::stanza::Refusal;

/// Namespace of MUC join presences.
pub const NS_MUC: &str = "http://jabber.org/protocol/muc";

/// The MUC error for a failed legacy join.
pub fn join_refusal(error: RoomError, text: &str) -> Refusal {
    match error {
        RoomError::Banned => Refusal::auth("forbidden", text),
        RoomError::Full => Refusal::wait("service-unavailable", text),
        RoomError::InviteOnly => Refusal::auth("registration-required", text),
        RoomError::BadKey => Refusal::auth("not-authorized", text),
        RoomError::NickInUse => Refusal::cancel("conflict", text),
        RoomError::NotFound => Refusal::cancel("item-not-found", text),
        RoomError::TooManyRooms => Refusal::modify("policy-violation", text),
        RoomError::Busy => Refusal::wait("resource-constraint", text),
        RoomError::Other => Refusal::cancel("service-unavailable", text),
    }
}

impl Session {
    /// Everything a resource sees on entering: occupants, itself (110, and 210 when the nick
    /// it `requested` is not the one it has), the `history` it asked for, then the subject.
    async fn send_join_burst(
        &self,
        room_id: &str,
        to: &Jid,
        requested: Option<&str>,
        history: HistoryRequest,
    ) {
        let Some(room) = self.rooms.get(room_id) else {
            return;
        };
        let burst = room.burst(requested);
        let mut stanzas = Vec::with_capacity(burst.others.len() + 2);
        for occupant in &burst.others {
            stanzas.extend(self.occupant_presence(room_id, to, occupant, vec![]));
        }
        let mut statuses = vec![Status::SelfPresence];
        if burst.assigned_nick {
            statuses.push(Status::AssignedNick);
        }
        stanzas.extend(self.occupant_presence(room_id, to, &burst.me, statuses));
        let subject = render::subject(burst.subject);
        self.send_all(stanzas).await;
        if let Some(room_jid) = self.room_jid(room_id) {
            let user = self.user.as_str();
            let shown = (&room_jid, to);
            for m in self
                .ctx
                .archive
                .history(room_id, user, shown, history)
                .await
            {
                self.send(m).await;
            }
            self.show(Shown {
                from: &room_jid,
                chat: Chat::Entering(to),
                nick: None,
                ids: &ClientIds::none(),
                id: None,
                body: None,
                payloads: vec![subject],
            })
            .await;
        }
    }

    /// A resource asked to join `room_id` as `nick`.
    pub(crate) async fn join_room(
        &mut self,
        from: Jid,
        room_id: LegacyId,
        nick: String,
        (password, history): (Option<String>, HistoryRequest),
    ) {
        let entry = match self.rooms.get_mut(&room_id) {
            Some(room) => room.enter(from.clone(), &nick),
            None => {
                self.rooms.insert(
                    room_id.clone(),
                    Box::new(Room::new(from.clone(), nick.clone())),
                );
                Entry::LegacyJoin
            }
        };
        if matches!(entry, Entry::LegacyJoin | Entry::Waiting)
            && let Some(room) = self.rooms.get_mut(&room_id)
        {
            // Shown once the network says the user is in.
            let waiting = &mut room.rare_mut().history;
            waiting.retain(|(j, _)| *j != from);
            waiting.push((from.clone(), history));
        }
        let command = match entry {
            Entry::LegacyJoin => LegacyCommand::JoinRoom {
                room: room_id,
                nick,
                password,
            },
            Entry::NickChange => LegacyCommand::SetNick {
                room: room_id,
                nick,
            },
            Entry::Burst => {
                return self
                    .send_join_burst(&room_id, &from, Some(&nick), history)
                    .await;
            }
            Entry::Waiting | Entry::Nothing => return,
        };
        let _ = self.legacy.send(command).await;
    }

    /// A resource left `room_id`; the legacy room is left when the last one does.
    pub(crate) async fn leave_room(&mut self, from: Jid, room_id: LegacyId) {
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        let Some(me) = room.exit(&from) else {
            return;
        };
        let last = room.is_empty();
        self.show_departure(&room_id, &[from], &me, None, vec![], None)
            .await;
        if last {
            self.rooms.remove(&room_id);
            self.archive_left(&room_id);
            let _ = self
                .legacy
                .send(LegacyCommand::LeaveRoom {
                    room: room_id,
                    reason: None,
                })
                .await;
        }
    }

    /// Shows `to` that someone left: an unavailable presence with what they were (110
    /// when it is the user, `statuses` besides).
    async fn show_departure(
        &self,
        room_id: &str,
        to: &[Jid],
        who: &Departure,
        item: Option<xmpp_parsers::muc::user::Item>,
        mut statuses: Vec<Status>,
        reason: Option<&str>,
    ) {
        if who.own {
            statuses.push(Status::SelfPresence);
        }
        let item = item.unwrap_or_else(|| render::gone_item(who.affiliation));
        for to in to {
            if let Some(p) = self.unavailable_presence(
                room_id,
                to,
                (&who.nick, who.person.as_deref()),
                item.clone(),
                statuses.clone(),
                reason,
            ) {
                self.send(p).await;
            }
        }
    }

    pub(super) fn room_resources(&self, room_id: &str) -> Vec<Jid> {
        self.rooms
            .get(room_id)
            .map(|r| r.resources().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) async fn on_room_joined(
        &mut self,
        room_id: LegacyId,
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
        room.on_joined(name, nick, occupants, subject);
        let waiting = room.take_history();
        // The user is in from now: the history shows what their earlier visits saw until
        // now, what comes next is shown live. The span is stored after the history is read.
        let entered = crate::archive::now_micros();
        for to in self.room_resources(&room_id) {
            let mut history = waiting
                .iter()
                .find(|(j, _)| *j == to)
                .map_or_else(HistoryRequest::default_request, |(_, h)| *h);
            history.until = entered;
            self.send_join_burst(&room_id, &to, None, history).await;
        }
        let user = self.user.as_str();
        self.ctx
            .archive
            .span(user, Some(&room_id), (true, Some(entered)));
    }

    pub(crate) async fn on_room_join_failed(
        &mut self,
        room_id: LegacyId,
        error: RoomError,
        text: String,
    ) {
        let Some(room) = self.rooms.remove(&room_id) else {
            return;
        };
        let refusal = join_refusal(error, &text);
        let Some(from) = self.occupant_jid(&room_id, room.requested_nick()) else {
            return;
        };
        for to in room.resources().cloned() {
            let mut p = Presence::new(PresenceType::Error)
                .with_from(from.clone())
                .with_to(to);
            p.payloads.push(refusal.to_error().into());
            self.send(Element::from(p)).await;
        }
    }

    pub(crate) async fn on_occupant_updated(&mut self, room_id: LegacyId, occupant: Occupant) {
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        let Some(own) = room.on_occupant(occupant.clone()) else {
            return;
        };
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
        room_id: LegacyId,
        nick: String,
        kind: LeaveKind,
        reason: Option<String>,
    ) {
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        let gone = room.on_left(nick);
        let mut statuses = Vec::new();
        let mut item = None;
        if let LeaveKind::Kick { by } | LeaveKind::Ban { by } = &kind {
            let banned = matches!(kind, LeaveKind::Ban { .. });
            let (status, done) = if banned {
                (Status::Banned, "Banned")
            } else {
                (Status::Kicked, "Kicked")
            };
            statuses.push(status);
            // xmpp-parsers' Actor cannot be built from outside; say who in the reason.
            let text = match (by, &reason) {
                (Some(by), Some(r)) => format!("{done} by {by}: {r}"),
                (Some(by), None) => format!("{done} by {by}"),
                (None, Some(r)) => r.clone(),
                (None, None) => done.to_owned(),
            };
            let gone_item = if banned {
                render::banned_item()
            } else {
                render::gone_item(gone.affiliation)
            };
            item = Some(gone_item.with_reason(text));
        }
        let resources = self.room_resources(&room_id);
        self.show_departure(
            &room_id,
            &resources,
            &gone,
            item,
            statuses,
            reason.as_deref(),
        )
        .await;
        if gone.own {
            self.rooms.remove(&room_id);
            self.archive_left(&room_id);
        }
    }

    pub(crate) async fn on_occupant_renamed(
        &mut self,
        room_id: LegacyId,
        old: String,
        new: String,
    ) {
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        let rename = room.on_renamed(old, new);
        let (occupant, own) = (&rename.occupant, rename.own);
        let mut statuses = vec![Status::NewNick];
        if own {
            statuses.push(Status::SelfPresence);
        }
        let item = render::gone_item(occupant.affiliation).with_nick(occupant.nick.clone());
        let after = if own {
            vec![Status::SelfPresence]
        } else {
            vec![]
        };
        for to in self.room_resources(&room_id) {
            if let Some(p) = self.unavailable_presence(
                &room_id,
                &to,
                (&rename.old, occupant.person.as_deref()),
                item.clone(),
                statuses.clone(),
                None,
            ) {
                self.send(p).await;
            }
            if let Some(p) = self.occupant_presence(&room_id, &to, occupant, after.clone()) {
                self.send(p).await;
            }
        }
    }

    pub(crate) async fn on_room_subject(
        &mut self,
        room_id: LegacyId,
        nick: Option<String>,
        subject: String,
    ) {
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        if !room.on_subject(subject.clone()) {
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

    pub(crate) async fn on_room_notice(&mut self, room_id: LegacyId, text: String) {
        let Some(from) = self.room_jid(&room_id) else {
            return;
        };
        self.to_room_resources(&room_id, from, None, Some(&text))
            .await;
    }

    /// The legacy session is ending: every client in a room is told it is out (110 + 332).
    pub(crate) async fn close_rooms(&mut self, reason: &str) {
        let mut rooms = std::mem::take(&mut self.rooms);
        for (room_id, room) in rooms.drain() {
            let to: Vec<Jid> = room.resources().cloned().collect();
            let statuses = vec![Status::ServiceShutdown];
            self.show_departure(
                &room_id,
                &to,
                &room.me_leaving(),
                None,
                statuses,
                Some(reason),
            )
            .await;
        }
    }

    /// The user went offline everywhere: every room is gone for them. Returns the rooms.
    pub(crate) fn forget_rooms(&mut self) -> Vec<LegacyId> {
        let rooms: Vec<LegacyId> = self.rooms.drain().map(|(id, _)| id).collect();
        for room in &rooms {
            self.archive_left(room);
        }
        rooms
    }

    /// Tells the archive the user left `room`: they read nothing of it from now.
    fn archive_left(&self, room: &str) {
        self.ctx
            .archive
            .span(self.user.as_str(), Some(room), (false, None));
    }

    /// A resource went offline: it is out of every room. Returns the rooms nobody of the
    /// user's is left in (forgotten here; the caller leaves them on the legacy side).
    pub(crate) fn drop_resource_from_rooms(&mut self, resource: &Jid) -> Vec<LegacyId> {
        let mut emptied = Vec::new();
        self.rooms.retain(|id, room| {
            if room.drop_resource(resource) {
                emptied.push(id.clone());
                false
            } else {
                true
            }
        });
        for room in &emptied {
            self.archive_left(room);
        }
        emptied
    }

    /// `resource` (every one of the user's, with `None`) leaves every room on the XMPP
    /// side only: the user stays in them on the network (always online, `session/away.rs`).
    pub(crate) fn vacate_rooms(&mut self, resource: Option<&Jid>) {
        for room in self.rooms.values_mut() {
            match resource {
                Some(r) => {
                    room.drop_resource(r);
                }
                None => room.drop_all_resources(),
            }
        }
    }

    /// Whether any of the user's resources is in `room`.
    pub(crate) fn in_room(&self, room: &LegacyId) -> bool {
        self.rooms
            .get(room)
            .is_some_and(|r| r.resources().next().is_some())
    }

    /// Whether any of the user's resources is in a room.
    pub(crate) fn in_rooms(&self) -> bool {
        !self.rooms.is_empty()
    }

    /// The legacy ids of the rooms joined on the legacy side.
    pub(crate) fn joined_rooms(&self) -> impl Iterator<Item = &LegacyId> {
        self.rooms
            .iter()
            .filter(|(_, r)| r.joined)
            .map(|(id, _)| id)
    }
}
