//! The stanzas a room sends: occupant presences (XEP-0045 §7.2, every item with its
//! affiliation and role), and groupchat messages with their XEP-0359 ids.

use crate::legacy::LegacyId;
use jid::Jid;
use minidom::Element;
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

/// The item of someone banned: no role, affiliation outcast (XEP-0045 §9.1).
pub(super) fn banned_item() -> Item {
    Item::new(xmpp_parsers::muc::user::Affiliation::Outcast, MucRole::None)
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
        p.payloads.push(
            crate::ids::occupant_id_of(room, &occupant.nick, occupant.person.as_deref()).into(),
        );
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
            .push(crate::ids::occupant_id_of(room, nick, person).into());
        if let Some(reason) = reason {
            p.set_status("", reason);
        }
        Some(p.into())
    }

    /// A live groupchat message from `from` (an occupant or the room): a subject change,
    /// a notice from the room.
    pub(super) async fn to_room_resources(
        &self,
        room_id: &LegacyId,
        from: Jid,
        subject: Option<&str>,
        body: Option<&str>,
    ) {
        let subject = subject.map(self::subject);
        self.show(crate::render::Shown {
            from: &from,
            chat: crate::render::Chat::Room(room_id),
            nick: from.resource().map(|r| r.as_str()),
            ids: &ClientIds::none(),
            id: None,
            body,
            payloads: subject.into_iter().collect(),
        })
        .await;
    }
}

impl Session {
    /// The XEP-0421 occupant id of `nick` in `room`: their person id's where the network
    /// gave one, else their nick's.
    pub(crate) fn occupant_id(&self, room: &str, nick: &str) -> pontoon_xmpp::outgoing::Flat {
        let person = self
            .rooms
            .get(room)
            .and_then(|r| r.occupants.get(nick))
            .and_then(|o| o.person());
        crate::ids::occupant_id_of(room, nick, person)
    }
}

/// A `<subject/>` (empty for none: XEP-0045 still sends it, to end the join burst).
pub(super) fn subject(text: &str) -> Element {
    let mut el = Element::bare("subject", pontoon_xmpp::ns::CLIENT);
    el.append_text_node(text);
    el
}
