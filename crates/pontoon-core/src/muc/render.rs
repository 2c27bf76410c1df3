//! The stanzas a room sends: occupant presences (XEP-0045 §7.2, every item with its
//! affiliation and role), and groupchat messages with their XEP-0359 ids.

use jid::Jid;
use minidom::Element;
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::muc::user::{
    Affiliation as MucAffiliation, Item, MucUser, Role as MucRole, Status,
};
use xmpp_parsers::presence::Presence;

use crate::escape;
use crate::explicit;
use crate::legacy::{Affiliation, ClientIds, Occupant, Role};
use crate::session::Session;

fn muc_affiliation(a: Affiliation) -> MucAffiliation {
    match a {
        Affiliation::Owner => MucAffiliation::Owner,
        Affiliation::Admin => MucAffiliation::Admin,
        Affiliation::Member => MucAffiliation::Member,
        Affiliation::None => MucAffiliation::None,
    }
}

fn muc_role(r: Role) -> MucRole {
    match r {
        Role::Moderator => MucRole::Moderator,
        Role::Participant => MucRole::Participant,
        Role::Visitor => MucRole::Visitor,
    }
}

/// The item of an occupant who is in the room.
pub(super) fn present_item(occupant: &Occupant) -> Item {
    Item::new(
        muc_affiliation(occupant.affiliation),
        muc_role(occupant.role),
    )
}

/// The item of an occupant leaving the room: role `none`, the affiliation kept (XEP-0045
/// §7.14: affiliations outlast presence).
pub(super) fn gone_item(affiliation: Affiliation) -> Item {
    Item::new(muc_affiliation(affiliation), MucRole::None)
}

/// The empty `<x xmlns='…muc#user'/>` marking a private message through a room (§7.5).
pub(crate) fn private_marker() -> Element {
    explicit::muc_user(MucUser::new())
}

impl Session {
    /// The room's bare JID.
    pub(crate) fn room_jid(&self, room: &str) -> Option<Jid> {
        escape::legacy_jid(room, self.ctx.domain.domain(), None).ok()
    }

    /// An occupant's JID, `room@domain/nick`.
    pub(crate) fn occupant_jid(&self, room: &str, nick: &str) -> Option<Jid> {
        escape::legacy_jid(room, self.ctx.domain.domain(), Some(nick)).ok()
    }

    pub(super) fn occupant_presence(
        &self,
        room: &str,
        to: &Jid,
        occupant: &Occupant,
        statuses: Vec<Status>,
    ) -> Option<Element> {
        let from = self.occupant_jid(room, &occupant.nick)?;
        let x = MucUser::new()
            .with_items(vec![present_item(occupant)])
            .with_statuses(statuses);
        let mut p = Presence::available().with_from(from).with_to(to.clone());
        p.payloads.push(explicit::muc_user(x));
        p.payloads.push(crate::ids::occupant_id_of(
            room,
            &occupant.nick,
            occupant.person.as_deref(),
        ));
        Some(p.into())
    }

    pub(super) fn unavailable_presence(
        &self,
        room: &str,
        to: &Jid,
        (nick, person): (&str, Option<&str>),
        item: Item,
        statuses: Vec<Status>,
        reason: Option<&str>,
    ) -> Option<Element> {
        let from = self.occupant_jid(room, nick)?;
        let x = MucUser::new()
            .with_items(vec![item])
            .with_statuses(statuses);
        let mut p = Presence::unavailable().with_from(from).with_to(to.clone());
        p.payloads.push(explicit::muc_user(x));
        p.payloads
            .push(crate::ids::occupant_id_of(room, nick, person));
        if let Some(reason) = reason {
            p.set_status("", reason);
        }
        Some(p.into())
    }

    pub(super) fn groupchat(&self, from: Jid, to: &Jid) -> Message {
        let mut m = Message::new_with_type(MessageType::Groupchat, Some(to.clone()));
        m.from = Some(from);
        m
    }

    /// A live groupchat message without a body (a subject change, a notice from the room)
    /// to every resource of the user in the room, each with the same stanza-id.
    pub(super) async fn to_room_resources(
        &self,
        room_id: &str,
        from: Jid,
        subject: Option<&str>,
        body: Option<&str>,
    ) {
        let mut stamp =
            crate::ids::room_message_ids(&ClientIds::none(), &from, &crate::ids::fresh());
        if let Some(nick) = from.resource() {
            stamp.push(self.occupant_id(room_id, nick.as_str()));
        }
        for to in self.room_resources(room_id) {
            let mut m = self.groupchat(from.clone(), &to);
            if let Some(subject) = subject {
                m.subjects.insert(Lang::default(), subject.to_owned());
            }
            if let Some(body) = body {
                m.bodies.insert(Lang::default(), body.to_owned());
            }
            m.payloads.extend(stamp.iter().cloned());
            self.send(m.into()).await;
        }
    }
}

impl Session {
    /// The XEP-0421 occupant id of `nick` in `room`: their person id's where the network
    /// gave one, else their nick's.
    pub(crate) fn occupant_id(&self, room: &str, nick: &str) -> Element {
        let person = self
            .rooms
            .get(room)
            .and_then(|r| r.occupants.get(nick))
            .and_then(|o| o.person.as_deref());
        crate::ids::occupant_id_of(room, nick, person)
    }
}
