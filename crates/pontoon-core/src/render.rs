//! The one place that turns what a session shows the user into message stanzas, and stamps
//! the ids every client relies on: in a room, the client's origin-id on a reflection of its
//! own message, a stanza-id by the room (one for every copy: it names the message, not the
//! copy) and the speaker's XEP-0421 occupant id; in a direct chat, the stanza's id and the
//! same value as XEP-0359 origin-id. Whatever message the session renders from the
//! network's events (messages, reflections, corrections, reactions, retractions, receipts,
//! markers, chat states, subjects, the room's announcements, the network's notices, the
//! subject ending a join burst) goes through [`Session::show`]; a room message is archived
//! here too ([`Chat::RoomKept`], `crate::archive`), as users saw it. Presences (occupants, contacts) are state, not
//! history: `muc/render.rs` and `session/contacts.rs` build those.
//!
//! Stanzas are built as elements directly, not through xmpp-parsers' typed `Message`: this
//! is the hot path towards XMPP, and the typed conversion cost about 5,000 instructions a
//! message (bench/README.md, issue 8).

use crate::legacy::LegacyId;
use jid::Jid;
use minidom::Element;
use pontoon_xmpp::OutStanza;
use pontoon_xmpp::outgoing::{Message, Payload};

use crate::legacy::ClientIds;
use crate::session::Session;

/// Where a message goes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Chat<'a> {
    /// To each of the user's resources in this room (its legacy id), as `groupchat`.
    Room(&'a LegacyId),
    /// As [`Chat::Room`], and into the room's archive (`crate::archive`): this session
    /// is the first of the gateway's to show the message.
    RoomKept(&'a LegacyId),
    /// To the user's bare JID, as `chat`, in the direct chat with this contact (its
    /// legacy id).
    Direct(&'a LegacyId),
    /// To one resource entering a room, as `groupchat`: the end of its join burst (the
    /// subject). The room's state, not a message of its history: no stanza-id.
    Entering(&'a Jid),
    /// To the user's bare JID, as `chat`, from the transport itself: what the network
    /// or the gateway tells the user outside any conversation (a notice).
    Gateway,
    /// From the user (`from` is their bare JID) to this contact's JID, as `chat`: what they
    /// sent from another client of the network, shown as theirs by XEP-0280 carbons.
    Sent(&'a Jid, SentVia<'a>),
}

/// How a message the user sent elsewhere reaches their clients ([`Chat::Sent`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum SentVia<'a> {
    /// Component mode: handed to their server to send as theirs (XEP-0356 message
    /// permission, `crate::privilege::as_user`), which carbons it and archives it.
    Host(&'a crate::privilege::Privileges),
    /// Server mode: Pontoon is their server, and sends the carbon itself
    /// (`crate::server::carbons`).
    Carbon,
}

/// A message a session shows the user.
pub(crate) struct Shown<'a> {
    /// Who it is from: an occupant's JID, the room's, or a contact's.
    pub from: &'a Jid,
    /// Where it goes.
    pub chat: Chat<'a>,
    /// The speaker's nick in a room (for the occupant id); `None` for the room itself.
    pub nick: Option<&'a str>,
    /// The ids the user's client gave it, on a reflection of its own message.
    pub ids: &'a ClientIds,
    /// The id that names it: in a room its stanza-id (the network's id where it has one),
    /// in a direct chat its id and origin-id. `None`: a fresh one.
    pub id: Option<&'a str>,
    /// Its text, if it has any.
    pub body: Option<&'a str>,
    /// What else it carries (a reply, files, a correction, reactions, a delay...).
    pub payloads: Vec<Element>,
}

impl Session {
    /// Renders `shown`, stamps its ids, and sends it to every recipient.
    pub(crate) async fn show(&self, shown: Shown<'_>) {
        // Away, a direct message may wait for the user's return (`session/away_messages.rs`).
        let keep = matches!(shown.chat, Chat::Direct(_)) && self.keeps_while_away();
        for m in self.render(shown) {
            if keep {
                self.keep_while_away(m.into_element()).await;
            } else {
                self.send(m).await;
            }
        }
    }

    /// The stanzas `shown` makes, one per recipient, sharing one [`Message`]. (Not async:
    /// what an await holds lives in the session task's future.)
    pub(crate) fn render(&self, shown: Shown<'_>) -> Vec<OutStanza> {
        let fresh;
        let id = match shown.id {
            Some(id) => id,
            None => {
                fresh = crate::ids::fresh();
                fresh.as_str()
            }
        };
        // The ids go after what the message carries.
        let mut payloads: Vec<Payload> = Vec::with_capacity(shown.payloads.len() + 4);
        payloads.extend(shown.payloads.into_iter().map(Payload::Element));
        // Others' messages are markable where the network takes read markers (XEP-0333:
        // clients send markers only for those); the user's own, from wherever, are not.
        let markable_in = match shown.chat {
            Chat::Room(room) | Chat::RoomKept(room)
                if shown.ids.is_empty()
                    && shown
                        .nick
                        .is_some_and(|n| self.rooms.get(room).is_none_or(|r| r.nick != n)) =>
            {
                Some(room)
            }
            Chat::Direct(contact) => Some(contact),
            _ => None,
        };
        if let Some(chat_id) = markable_in
            && shown.body.is_some()
            && self.verbs.iter().any(|(_, v)| v.markers)
            && self.verbs_for(chat_id).markers
        {
            payloads.push(crate::inbound::markers::markable().into());
        }
        let (kind, recipients, stanza_id) = match shown.chat {
            Chat::Room(room) | Chat::RoomKept(room) => {
                let ids = crate::ids::room_message_ids(shown.ids, shown.from, id);
                payloads.extend(ids.map(Payload::Flat));
                if let Some(nick) = shown.nick {
                    payloads.push(self.occupant_id(room, nick).into());
                }
                // A reflection keeps the client's id; others' messages are named by their
                // stanza-id (XEP-0308 corrections name the `id` attribute).
                let stanza_id = shown.ids.id.as_deref().or(Some(id));
                ("groupchat", self.room_resources(room), stanza_id)
            }
            Chat::Entering(to) => ("groupchat", vec![to.clone()], Some(id)),
            Chat::Direct(contact) => {
                payloads.push(crate::ids::origin_id(id).into());
                let user = Jid::from(self.user.clone());
                if self.keeps_own_archive() {
                    // Server mode: the user's archive is Pontoon's to keep (and to name).
                    payloads.push(crate::ids::stanza_id(id, self.user.as_str()).into());
                    let kept = message("chat", shown.from, Some(id), shown.body, payloads.clone())
                        .to_element(Some(&user));
                    let owner = (self.user.as_str(), contact.as_ref());
                    self.ctx.archive.keep_direct(owner, id, contact, kept);
                }
                ("chat", vec![user], Some(id))
            }
            Chat::Gateway => {
                payloads.push(crate::ids::origin_id(id).into());
                ("chat", vec![Jid::from(self.user.clone())], Some(id))
            }
            Chat::Sent(to, via) => {
                payloads.push(crate::ids::origin_id(id).into());
                let sent = crate::privilege::sent_id(id);
                let m = message("chat", shown.from, Some(&sent), shown.body, payloads)
                    .to_element(Some(to));
                if self.keeps_own_archive()
                    && let Some(contact) = to.node()
                {
                    let contact = crate::escape::unescape(contact.as_str());
                    let owner = (self.user.as_str(), contact.as_str());
                    self.ctx
                        .archive
                        .keep_direct(owner, id, self.user.as_str(), m.clone());
                }
                let host = self.user.domain().as_str();
                return vec![OutStanza::Element(match via {
                    SentVia::Host(granted) => {
                        crate::privilege::as_user(&self.ctx.domain, host, granted, m)
                    }
                    SentVia::Carbon => crate::server::carbons::sent_to_self(&self.user, m),
                })];
            }
        };
        let mut m = message(kind, shown.from, Some(id), shown.body, payloads);
        if let Chat::RoomKept(room) = shown.chat
            && self.ctx.archive.is_on()
        {
            // Kept whoever it goes to (perhaps nobody online right now), as anyone in the
            // room sees it: named by its stanza-id, without the ids the user's client gave
            // it, and without a `to`.
            let mut xml = Vec::with_capacity(512);
            let neutral = |p: &Payload| !p.is("origin-id", xmpp_parsers::ns::SID);
            match m
                .write_with(None, None, neutral, &mut xml)
                .map(|()| String::from_utf8(xml))
            {
                Ok(Ok(xml)) => {
                    let author = shown.nick.unwrap_or_default();
                    self.ctx.archive.keep_room_message(room, id, author, xml);
                }
                _ => tracing::debug!("a room message is not archived: it does not serialize"),
            }
        }
        if stanza_id != Some(id) {
            m.id = stanza_id.map(Into::into);
        }
        m.to_each(recipients).collect()
    }
}

impl Session {
    /// Server mode with the archive on: the user's direct chats go to their own archive
    /// (in component mode their server keeps theirs).
    pub(crate) fn keeps_own_archive(&self) -> bool {
        self.ctx.ends_with_login && self.ctx.archive.is_on()
    }

    /// Archives what the user's client sent to `to` (server mode), under a fresh
    /// stanza-id.
    pub(crate) fn keep_sent(&self, to: &LegacyId, stanza: &Element) {
        if self.keeps_own_archive() {
            let owner = (self.user.as_str(), to.as_ref());
            let id = crate::ids::fresh();
            self.ctx
                .archive
                .keep_direct(owner, &id, self.user.as_str(), stanza.clone());
        }
    }
}

/// `<message type=kind from id><body/>payloads</message>`, for any recipient.
fn message(
    kind: &'static str,
    from: &Jid,
    id: Option<&str>,
    body: Option<&str>,
    payloads: Vec<Payload>,
) -> Message {
    Message {
        kind,
        from: from.clone(),
        id: id.map(Into::into),
        body: body.map(Into::into),
        payloads,
    }
}
