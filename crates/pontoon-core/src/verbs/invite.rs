//! Invitations both ways. The user invites a legacy contact into a legacy room (a XEP-0045
//! mediated invitation sent to the room, or a XEP-0249 direct one sent to the contact):
//! the network's invitation ([`LegacyCommand::Invite`]). An XMPP address elsewhere is
//! passed on as XMPP does it (the room mediates) or, to a legacy contact, as a line they
//! can read. Someone on the network invites the user: a XEP-0249 invitation from them.

use jid::Jid;
use minidom::Element;

use crate::inbound::invite::{self, Invitation};
use crate::legacy::{ChatId, LegacyCommand, LegacyId, MessageKind};
use crate::render::{Chat, Shown};
use crate::session::Session;
use crate::stanza::Refusal;
use crate::transport::Address;

impl Session {
    /// The user's invitation, sent in `chat` (a room: `invitation.jid` is the invitee; a
    /// contact: it is the room).
    pub(crate) async fn invite(&mut self, chat: ChatId, invitation: Invitation, stanza: &Element) {
        let Invitation { jid, reason } = invitation;
        let address = match self.address_of(&jid) {
            Ok(address) => address,
            Err(refusal) => return self.bounce(stanza, refusal).await,
        };
        let command = match (chat, address) {
            (ChatId::Room(room), Some(Address::Contact(contact)))
            | (ChatId::Contact(contact), Some(Address::Room(room))) => LegacyCommand::Invite {
                room,
                contact,
                reason,
            },
            (ChatId::Room(room), None) => {
                return self.mediate(&room, &jid, reason.as_deref(), stanza).await;
            }
            (ChatId::Contact(contact), None) => {
                // A room elsewhere: the contact reads where to go.
                let text = match &reason {
                    Some(r) => format!("invites you to the XMPP group chat xmpp:{jid}?join ({r})"),
                    None => format!("invites you to the XMPP group chat xmpp:{jid}?join"),
                };
                LegacyCommand::SendMessage {
                    to: contact,
                    body: text,
                    kind: MessageKind::Action,
                    id: stanza.attr("id").map(str::to_owned),
                    reply_to: None,
                    thread: None,
                    attachments: Vec::new(),
                }
            }
            (ChatId::Room(_), Some(_)) => {
                let refusal =
                    Refusal::modify("bad-request", "Only a person can be invited to a room.");
                return self.bounce(stanza, refusal).await;
            }
            (ChatId::Contact(_), Some(_)) => {
                let refusal =
                    Refusal::modify("bad-request", "A person is invited to a room, not to that.");
                return self.bounce(stanza, refusal).await;
            }
        };
        self.to_legacy(command, stanza).await;
    }

    /// The legacy address of `jid` if it is on this transport (`None`: elsewhere).
    fn address_of(&self, jid: &Jid) -> Result<Option<Address>, Refusal> {
        if jid.domain() != self.ctx.domain.domain() {
            return Ok(None);
        }
        let Some(node) = jid.node() else {
            return Err(Refusal::modify(
                "bad-request",
                "That is the transport itself.",
            ));
        };
        crate::address::of_localpart(
            self.ctx.transport.as_ref(),
            &self.ctx.display_name,
            self.ctx.domain.domain().as_str(),
            node.as_str(),
        )
        .map(Some)
    }

    /// XEP-0045 7.8.2: the room passes the user's invitation on to an XMPP address.
    async fn mediate(
        &self,
        room: &LegacyId,
        invitee: &Jid,
        reason: Option<&str>,
        stanza: &Element,
    ) {
        let Some(room_jid) = self.room_jid(room) else {
            return;
        };
        let inviter = Jid::from(self.user.clone());
        let body = format!("{inviter} invites you to {room_jid}");
        let mut m = crate::stanza::elem(
            "message",
            pontoon_xmpp::ns::CLIENT,
            &[("from", room_jid.as_str()), ("to", invitee.as_str())],
        );
        if let Some(id) = stanza.attr("id") {
            crate::stanza::set_attr(&mut m, "id", id);
        }
        let mut b = Element::bare("body", pontoon_xmpp::ns::CLIENT);
        b.append_text_node(body);
        m.append_child(b);
        m.append_child(invite::mediated(&inviter, reason));
        self.send(m).await;
    }

    /// Someone on the network invited the user into `room`: a XEP-0249 invitation, from
    /// them where the network says who, else from the transport.
    pub(crate) async fn on_invited(
        &self,
        room: LegacyId,
        by: Option<LegacyId>,
        reason: Option<String>,
    ) {
        let Some(room_jid) = self.room_jid(&room) else {
            return;
        };
        let from = by.as_ref().and_then(|b| self.contact_jid(b));
        let who = by.as_ref().map_or_else(
            || "Someone".to_owned(),
            |b| self.ctx.transport.contact_name(b),
        );
        let body = match &reason {
            Some(r) => format!("{who} invites you to {room_jid} ({r})"),
            None => format!("{who} invites you to {room_jid}"),
        };
        let (from, chat) = match (&from, &by) {
            (Some(jid), Some(by)) => (jid.clone(), Chat::Direct(by)),
            _ => (self.ctx.domain.clone(), Chat::Gateway),
        };
        self.show(Shown {
            from: &from,
            chat,
            nick: None,
            ids: &crate::legacy::ClientIds::none(),
            id: None,
            body: Some(&body),
            payloads: vec![invite::direct(&room_jid, reason.as_deref())],
        })
        .await;
    }
}
