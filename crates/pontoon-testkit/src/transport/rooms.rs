//! Rooms of the test network: join, leave, talk, subject, nick; applied under the network's
//! lock, returning the events to deliver once it is released (no await under the lock).

use pontoon_core::channel;
use pontoon_core::legacy::{
    Affiliation, ClientIds, LeaveKind, LegacyCommand, LegacyEvent, Occupant, Role, RoomError,
};

use super::{Me, Member, State};

/// Events to deliver: (recipient, event).
pub(super) type Out = Vec<(channel::Sender<LegacyEvent>, LegacyEvent)>;

/// A rich network's name for the room `id`.
pub(super) fn name_of(id: &str) -> String {
    format!("{} on the test network", id.trim_start_matches('#'))
}

fn occupant(m: &Member, first: bool, rich: bool) -> Occupant {
    Occupant {
        nick: m.nick.clone(),
        person: rich.then(|| m.person.clone()),
        role: if first {
            Role::Moderator
        } else {
            Role::Participant
        },
        affiliation: if first {
            Affiliation::Owner
        } else {
            Affiliation::None
        },
    }
}

impl State {
    /// `me`'s nick in `room`, if they are in it.
    pub(super) fn nick_in(&self, room: &str, me: &Me) -> Option<String> {
        let r = self.rooms.get(room)?;
        r.members
            .iter()
            .find(|m| m.to.same_channel(&me.events))
            .map(|m| m.nick.clone())
    }

    /// Everyone in `room`.
    pub(super) fn members(&self, room: &str) -> Vec<Member> {
        self.rooms
            .get(room)
            .map(|r| r.members.clone())
            .unwrap_or_default()
    }
}

/// Applies a room command; returns the events to deliver.
pub(super) fn apply(me: &Me, cmd: LegacyCommand) -> Out {
    let mut out = Vec::new();
    let Ok(mut net) = me.network.lock() else {
        return out;
    };
    match cmd {
        LegacyCommand::JoinRoom { room, nick, .. } => {
            if room == "#banned" {
                out.push((
                    me.events.clone(),
                    LegacyEvent::RoomJoinFailed {
                        room,
                        error: RoomError::Banned,
                        text: "You are banned from #banned".to_owned(),
                    },
                ));
                return out;
            }
            let r = net.rooms.entry(room.clone()).or_default();
            if r.members
                .iter()
                .any(|m| m.nick == nick && !m.to.same_channel(&me.events))
            {
                out.push((
                    me.events.clone(),
                    LegacyEvent::RoomJoinFailed {
                        room,
                        error: RoomError::NickInUse,
                        text: format!("{nick} is already in use"),
                    },
                ));
                return out;
            }
            let newcomer = Member {
                nick: nick.clone(),
                person: me.id.clone(),
                to: me.events.clone(),
            };
            for m in &r.members {
                out.push((
                    m.to.clone(),
                    LegacyEvent::OccupantUpdated {
                        room: room.clone(),
                        occupant: occupant(&newcomer, false, me.rich),
                    },
                ));
            }
            r.members.push(newcomer);
            let occupants = r
                .members
                .iter()
                .enumerate()
                .map(|(i, m)| occupant(m, i == 0, me.rich))
                .collect();
            out.push((
                me.events.clone(),
                LegacyEvent::RoomJoined {
                    name: me.rich.then(|| name_of(&room)),
                    room,
                    nick,
                    occupants,
                    subject: r.subject.clone(),
                },
            ));
        }
        LegacyCommand::LeaveRoom { room, reason } => {
            if let Some(r) = net.rooms.get_mut(&room)
                && let Some(pos) = r.members.iter().position(|m| m.to.same_channel(&me.events))
            {
                let gone = r.members.remove(pos);
                for m in r.members.iter().chain(std::iter::once(&gone)) {
                    out.push((
                        m.to.clone(),
                        LegacyEvent::OccupantLeft {
                            room: room.clone(),
                            nick: gone.nick.clone(),
                            kind: LeaveKind::Part,
                            reason: reason.clone(),
                        },
                    ));
                }
            }
        }
        LegacyCommand::SendRoomMessage {
            room,
            body,
            kind,
            ids,
            reply_to,
            thread,
            attachments,
        } => {
            let Some(nick) = net.nick_in(&room, me) else {
                return out;
            };
            let id = net.message_id(&nick);
            for m in net.members(&room) {
                let own = m.to.same_channel(&me.events);
                out.push((
                    m.to,
                    LegacyEvent::RoomMessage {
                        attachments: attachments.clone(),
                        reply_to: reply_to.clone(),
                        thread: thread.clone(),
                        room: room.clone(),
                        nick: nick.clone(),
                        body: body.clone(),
                        kind,
                        ids: if own { ids.clone() } else { ClientIds::none() },
                        id: Some(id.clone()),
                        time: None,
                    },
                ));
            }
        }
        LegacyCommand::SetSubject { room, subject } => {
            let Some(nick) = net.nick_in(&room, me) else {
                return out;
            };
            if let Some(r) = net.rooms.get_mut(&room) {
                r.subject = Some(subject.clone());
            }
            for m in net.members(&room) {
                out.push((
                    m.to,
                    LegacyEvent::RoomSubject {
                        room: room.clone(),
                        nick: Some(nick.clone()),
                        subject: subject.clone(),
                    },
                ));
            }
        }
        LegacyCommand::Invite {
            room,
            contact,
            reason,
        } => match net.users.get(contact.as_str()) {
            Some(peer) => out.push((
                peer.clone(),
                LegacyEvent::Invited {
                    room,
                    by: Some(super::id(&me.id)),
                    reason,
                },
            )),
            None => out.push((
                me.events.clone(),
                LegacyEvent::RoomNotice {
                    room,
                    text: format!("{contact} is not on the test network; not invited."),
                },
            )),
        },
        LegacyCommand::SetNick { nick, .. } => {
            for (name, r) in net.rooms.iter_mut() {
                let Some(pos) = r.members.iter().position(|m| m.to.same_channel(&me.events)) else {
                    continue;
                };
                let old = std::mem::replace(&mut r.members[pos].nick, nick.clone());
                for m in &r.members {
                    out.push((
                        m.to.clone(),
                        LegacyEvent::OccupantRenamed {
                            room: name.clone(),
                            old: old.clone(),
                            new: nick.clone(),
                        },
                    ));
                }
            }
        }
        _ => {}
    }
    out
}

/// `me` logged out: gone from the network and from every room (only their own entry: a
/// newer login of the same user may have replaced it).
pub(super) fn leave_all(me: &Me) -> Out {
    let mut out = Vec::new();
    let Ok(mut net) = me.network.lock() else {
        return out;
    };
    if net
        .users
        .get(&me.id)
        .is_some_and(|s| s.same_channel(&me.events))
    {
        net.users.remove(&me.id);
    }
    for (name, room) in net.rooms.iter_mut() {
        let Some(pos) = room
            .members
            .iter()
            .position(|m| m.to.same_channel(&me.events))
        else {
            continue;
        };
        let gone = room.members.remove(pos);
        for m in &room.members {
            out.push((
                m.to.clone(),
                LegacyEvent::OccupantLeft {
                    room: name.clone(),
                    nick: gone.nick.clone(),
                    kind: LeaveKind::Quit,
                    reason: Some("logged out".to_owned()),
                },
            ));
        }
    }
    out
}
