//! Verbs from the network, shown to the user's clients as the XEPs say: reactions
//! (XEP-0444) and chat states (XEP-0085), in rooms and direct chats, and the target of a
//! reply (XEP-0461).
//!
//! Networks send one reaction at a time (IRC's `+draft/react`), XEP-0444 the author's whole
//! set: the session keeps the last [`REACTION_SETS`] sets it showed, so a second reaction
//! adds to the first instead of replacing it (an older set is forgotten; at worst a client
//! then shows only the newest reactions of that person).

use crate::legacy::LegacyId;
use jid::Jid;
use minidom::Element;
use pontoon_store::ChatKey;

use super::Echo;
use crate::legacy::{ChatId, ChatState, ClientIds};
use crate::render::{Chat, Shown};
use crate::session::Session;

/// Reaction sets remembered per session.
const REACTION_SETS: usize = 16;

/// The reaction sets the session showed, by (chat, author, target).
pub(crate) type ShownReactions =
    super::reaction_sets::ReactionSets<(ChatId, String, String), REACTION_SETS>;

/// The id clients know a message by, of those the map has: in a room its stanza-id first,
/// in a direct chat the id its sender's client gave it.
pub(super) fn as_known(ids: pontoon_store::XmppIds, in_room: bool) -> Option<String> {
    let id = if in_room {
        ids.stanza_id.or(ids.id).or(ids.origin_id)
    } else {
        ids.id.or(ids.origin_id).or(ids.stanza_id)
    };
    id.map(|id| id.to_string())
}

impl Session {
    /// Who `author` is on XMPP in `chat`, and whether it speaks in a room; `None` for the
    /// user themself (their own verbs come back through their clients) or an unknown room.
    pub(super) fn author_jid(&self, chat: &ChatId, author: &str) -> Option<(Jid, bool)> {
        match chat {
            ChatId::Room(room) => {
                let r = self.rooms.get(room)?;
                if !r.joined || r.nick == author {
                    return None;
                }
                Some((self.occupant_jid(room, author)?, true))
            }
            ChatId::Contact(contact) => self.private_sender(contact).map(|(jid, _)| (jid, false)),
        }
    }

    /// Who shows `author`'s verb `echo` in `chat`, and whether in a room: others as
    /// [`Self::author_jid`] says, the user themself from their occupant JID when they did
    /// it from another client of the network (not for the echo of this session's own).
    pub(super) fn speaker(
        &mut self,
        chat: &ChatId,
        author: &str,
        echo: Echo,
    ) -> Option<(Jid, bool)> {
        if let Some(found) = self.author_jid(chat, author) {
            return Some(found);
        }
        self.own_elsewhere(chat, author, echo)
            .map(|jid| (jid, true))
    }

    /// The XMPP id clients know the network's message `legacy_id` by, in `chat` (a room if
    /// `in_room`): in a room its stanza-id (the network's id itself, where it has one), in
    /// a direct chat the id the sender's client gave it (the user's own messages) or the
    /// one Pontoon gave it; the network's id when the map knows nothing.
    pub(crate) async fn xmpp_id_of(&self, chat: &str, legacy_id: &str, in_room: bool) -> String {
        let ids = self.xmpp_ids_of(chat, legacy_id).await;
        as_known(ids, in_room).unwrap_or_else(|| legacy_id.to_owned())
    }

    /// Every XMPP id the map knows the network's message `legacy_id` in `chat` by (none
    /// if the map is unavailable).
    pub(crate) async fn xmpp_ids_of(&self, chat: &str, legacy_id: &str) -> pontoon_store::XmppIds {
        let account = self.user.to_string();
        let key = ChatKey {
            transport: &self.ctx.transport_name,
            account: &account,
            chat,
        };
        let mut ids = pontoon_store::XmppIds::default();
        for attempt in 0..2 {
            if attempt == 1 {
                // Not there yet: maybe still on its way to the store.
                self.ctx.id_map.settled().await;
            }
            match self.ctx.store.xmpp_message_ids(&key, legacy_id).await {
                Ok(found) if !found.is_empty() => {
                    ids = found;
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::debug!(error = %e, "message id map unavailable");
                    break;
                }
            }
        }
        ids
    }

    /// The `<reply/>` for a message from the network answering its message `target` in
    /// `chat` (a room if `in_room`): the id clients know it by, and its author if known.
    pub(crate) async fn reply_element(&self, chat: &str, target: &str, in_room: bool) -> Element {
        let id = self.xmpp_id_of(chat, target, in_room).await;
        let author = match self.mapped_message(chat, &id).await {
            Ok(Some(m)) if in_room => {
                let nick = if m.own {
                    self.rooms.get(chat).map(|r| r.nick.to_string())
                } else {
                    Some(m.author.to_string())
                };
                nick.and_then(|n| self.occupant_jid(chat, &n))
            }
            Ok(Some(m)) if !m.own => self.private_sender(chat).map(|(jid, _)| jid),
            Ok(Some(_)) => Some(Jid::from(self.user.clone())),
            _ => None,
        };
        crate::inbound::reply::element(&id, author.as_ref())
    }

    /// `author`'s reaction `emoji` to `target` in `chat` was added (or `removed`): their
    /// whole set, as the user's clients show it.
    pub(crate) async fn on_reaction(
        &mut self,
        chat: ChatId,
        author: String,
        target: String,
        emoji: String,
        removed: bool,
    ) {
        let echo = Echo::Reaction {
            target: target.clone(),
            emoji: emoji.clone(),
            removed,
        };
        let Some((from, in_room)) = self.speaker(&chat, &author, echo) else {
            return;
        };
        let chat_id = chat.id().to_owned();
        let target = self.xmpp_id_of(&chat_id, &target, in_room).await;
        if self.rooms.get(&chat_id).is_some_and(|r| r.nick == author) {
            // The user's own, from another client of the network: one set with what they
            // sent through the gateway.
            let key = (chat_id.clone(), target.clone());
            let set = self
                .verb_memory()
                .sent_reactions
                .toggle(key, emoji, removed);
            let payload = crate::inbound::reactions::element(&target, &set);
            return self
                .show_from(&chat_id, &author, &from, in_room, None, vec![payload])
                .await;
        }
        let set = self.verb_memory().shown_reactions.toggle(
            (chat, author.clone(), target.clone()),
            emoji,
            removed,
        );
        let payload = crate::inbound::reactions::element(&target, &set);
        self.show_from(&chat_id, &author, &from, in_room, None, vec![payload])
            .await;
    }

    /// What the user did in `room` (`payloads`: a reaction set, a correction with its new
    /// `body`...), carried natively: shown to each of their resources in the room as the
    /// room would reflect it, with the ids of `stanza`.
    pub(crate) async fn reflect_own(
        &self,
        room: &LegacyId,
        body: Option<&str>,
        payloads: Vec<Element>,
        stanza: &Element,
    ) {
        let Some(nick) = self.rooms.get(room).map(|r| r.nick.clone()) else {
            return;
        };
        let Some(from) = self.occupant_jid(room, &nick) else {
            return;
        };
        let ids = crate::ids::client_ids(stanza);
        self.show(Shown {
            from: &from,
            chat: Chat::Room(room),
            nick: Some(&nick),
            ids: &ids,
            id: None,
            body,
            payloads,
        })
        .await;
    }

    /// `author` is writing, paused or stopped in `chat`.
    pub(crate) async fn on_chat_state(&mut self, chat: ChatId, author: String, state: ChatState) {
        let Some((from, in_room)) = self.author_jid(&chat, &author) else {
            return;
        };
        let name = match state {
            ChatState::Composing => "composing",
            ChatState::Paused => "paused",
            ChatState::Active => "active",
        };
        let payload = Element::bare(name, crate::inbound::chat_state::NS);
        self.show_from(chat.id(), &author, &from, in_room, None, vec![payload])
            .await;
    }

    /// What `author` (their JID `from`) did in `chat`, carrying `payloads` and `body` if
    /// any: to each of the user's resources in the room, or to the user in a direct chat.
    pub(super) async fn show_from(
        &self,
        chat: &LegacyId,
        author: &str,
        from: &Jid,
        in_room: bool,
        body: Option<&str>,
        payloads: Vec<Element>,
    ) {
        let (chat, nick) = if in_room {
            (Chat::Room(chat), Some(author))
        } else {
            (Chat::Direct(chat), None)
        };
        self.show(Shown {
            from,
            chat,
            nick,
            ids: &ClientIds::none(),
            id: None,
            body,
            payloads,
        })
        .await;
    }
}
