//! What the user's messages ask for ([`crate::inbound::Verb`]), done the same way in a room
//! and in a direct chat: text (with its kind and the message it replies to), corrections
//! (XEP-0308), reactions (XEP-0444) and retractions (XEP-0424).
//!
//! Targets are found through the message id map ([`id_map`]): an unknown id is refused with
//! `item-not-found`, a correction or retraction of someone else's message with `forbidden`,
//! never ignored. What the network cannot carry is sent in the readable forms of
//! [`degrade`]; a retraction, which no line can express, is refused with
//! `feature-not-implemented` and says the message stays. In a room, the reflection of a
//! degraded verb reaches the user's clients as the verb itself (a `<replace/>` correction,
//! a `<reactions/>` set), so their windows show what the user did.

pub(crate) mod degrade;
mod id_map;
mod incoming;

pub(crate) use incoming::ShownReactions;

use minidom::Element;
use pontoon_store::MappedMessage;

use crate::control::ServiceCounters;
use crate::inbound::{Text, Verb};
use crate::legacy::{ClientIds, LegacyCommand};
use crate::session::Session;
use crate::stanza::Refusal;

/// Where a verb goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Chat {
    /// A room, by legacy id (the user is in it: the caller checked).
    Room(String),
    /// A direct chat with a contact, by legacy id.
    Contact(String),
}

impl Chat {
    /// The chat's legacy id (rooms' and contacts' ids never collide on a network: IRC
    /// channels start with a channel prefix, Matrix room ids with `!` or `#`).
    pub(crate) fn id(&self) -> &str {
        match self {
            Chat::Room(id) | Chat::Contact(id) => id,
        }
    }
}

/// A verb sent degraded to a room, shown as itself when its reflection comes back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Pending {
    /// A correction of the message with this XMPP id.
    Correction(String),
    /// The user's reactions to the message `target` are now `emojis`.
    Reactions {
        /// The XMPP id of the message reacted to.
        target: String,
        /// The whole set.
        emojis: Vec<String>,
    },
}

/// Degraded verbs waiting for their reflection, per room; the oldest is dropped beyond it.
pub(crate) const MAX_PENDING: usize = 8;
/// Reaction sets the session remembers, to send only what was added.
const REACTION_MEMORY: usize = 4;

/// The last reaction sets the user sent: (chat, target, set).
pub(crate) type SentReactions = std::collections::VecDeque<(String, String, Vec<String>)>;

impl Session {
    /// Does what `verb`, from `stanza`, asks in `chat`.
    pub(crate) async fn act(&mut self, chat: Chat, verb: Verb, stanza: &Element) {
        match verb {
            Verb::Text(text) => self.send_text(chat, text, None, stanza).await,
            // Boxed: rarer than text, and this future is inlined in the session task's.
            Verb::Correct { target, text } => {
                Box::pin(self.correct(chat, target, text, stanza)).await
            }
            Verb::React { target, emojis } => {
                Box::pin(self.react(chat, target, emojis, stanza)).await
            }
            Verb::Retract { target } => Box::pin(self.retract(chat, target, stanza)).await,
            Verb::Subject(subject) => {
                if let Chat::Room(room) = chat {
                    let command = LegacyCommand::SetSubject { room, subject };
                    self.to_legacy(command, stanza).await;
                }
            }
            Verb::Nothing => {}
        }
    }

    /// Sends `text` to `chat`; in a room, `pending` says what its reflection stands for.
    async fn send_text(
        &mut self,
        chat: Chat,
        mut text: Text,
        pending: Option<Pending>,
        stanza: &Element,
    ) {
        if let Some(reply) = text.reply.take() {
            // Boxed: a store look-up, inlined in the session task's future otherwise.
            let author = Box::pin(self.reply_author(&chat, &reply)).await;
            text.body = degrade::reply(&text.body, author.as_deref(), reply.fallback.as_deref());
        }
        match chat {
            Chat::Room(room) => self.send_room_text(room, text, pending, stanza).await,
            Chat::Contact(to) => self.send_legacy_message(to, text, stanza).await,
        }
    }

    /// Sends `text` (its reply already written out) to `room`; `pending` says what its
    /// reflection stands for.
    pub(crate) async fn send_room_text(
        &mut self,
        room: String,
        text: Text,
        pending: Option<Pending>,
        stanza: &Element,
    ) {
        let command = self.room_command(room, text, pending, stanza);
        if self.to_legacy(command, stanza).await {
            ServiceCounters::bump(&self.ctx.counters.messages_to_legacy);
        }
    }

    /// The command that sends `text` to `room`, noting `pending` for its reflection. (Not
    /// async: what an await holds lives in the session task's future.)
    pub(crate) fn room_command(
        &mut self,
        room: String,
        text: Text,
        pending: Option<Pending>,
        stanza: &Element,
    ) -> LegacyCommand {
        let ids = crate::ids::client_ids(stanza);
        if let (Some(p), Some(r)) = (pending, self.rooms.get_mut(&room)) {
            if r.pending.len() >= MAX_PENDING {
                r.pending.remove(0);
            }
            r.pending.push((ids.clone(), p));
        }
        LegacyCommand::SendRoomMessage {
            room,
            body: text.body,
            kind: text.kind,
            ids,
        }
    }

    /// Whom a reply answers, to address them: the author the id map knows, else the one the
    /// client named; `None` for the user's own message.
    async fn reply_author(
        &self,
        chat: &Chat,
        reply: &crate::inbound::reply::Reply,
    ) -> Option<String> {
        match self.mapped_message(chat.id(), &reply.target).await {
            Ok(Some(m)) if m.own => None,
            Ok(Some(m)) => Some(m.author),
            _ => reply
                .to
                .as_deref()
                .and_then(crate::inbound::reply::author_name)
                .filter(|a| self.own_name(chat).as_deref() != Some(a)),
        }
    }

    /// The user's name in `chat` (their nick in a room), if known.
    fn own_name(&self, chat: &Chat) -> Option<String> {
        match chat {
            Chat::Room(room) => self.rooms.get(room).map(|r| r.nick.clone()),
            Chat::Contact(_) => None,
        }
    }

    /// Hands `command` to the transport; bounces `stanza` if the legacy session has ended.
    pub(crate) async fn to_legacy(&self, command: LegacyCommand, stanza: &Element) -> bool {
        if self.legacy.send(command).await.is_ok() {
            return true;
        }
        let refusal = Refusal::wait("recipient-unavailable", "The legacy session has ended.");
        // Boxed: rare, and inlined in the session task's future otherwise.
        Box::pin(self.bounce(stanza, refusal)).await;
        false
    }

    /// The message `target` names in `chat`, or the refusal to answer: `item-not-found`
    /// when unknown, `forbidden` when `own_only` and it is someone else's.
    async fn find_target(
        &self,
        chat: &Chat,
        target: &str,
        own_only: bool,
        what: &str,
    ) -> Result<MappedMessage, Refusal> {
        match self.mapped_message(chat.id(), target).await {
            Err(e) => {
                tracing::warn!(error = %e, "message id map unavailable");
                Err(Refusal::wait(
                    "internal-server-error",
                    format!("The gateway could not look the {what} message up; try again later."),
                ))
            }
            Ok(None) => Err(Refusal::cancel(
                "item-not-found",
                format!(
                    "No message with that id is known in this chat (it may be older than the gateway keeps message ids), so it cannot be {what}."
                ),
            )),
            Ok(Some(m)) if own_only && !m.own => Err(Refusal::auth(
                "forbidden",
                format!("Only your own messages can be {what}."),
            )),
            Ok(Some(m)) => Ok(m),
        }
    }

    async fn correct(&mut self, chat: Chat, target: String, mut text: Text, stanza: &Element) {
        if let Err(r) = self.find_target(&chat, &target, true, "corrected").await {
            return self.bounce(stanza, r).await;
        }
        text.body = degrade::correction(&text.body);
        self.send_text(chat, text, Some(Pending::Correction(target)), stanza)
            .await;
    }

    async fn react(&mut self, chat: Chat, target: String, emojis: Vec<String>, stanza: &Element) {
        let message = match self.find_target(&chat, &target, false, "reacted to").await {
            Ok(m) => m,
            Err(r) => return self.bounce(stanza, r).await,
        };
        let before = self
            .sent_reactions
            .iter()
            .position(|(c, t, _)| c == chat.id() && *t == target)
            .and_then(|i| self.sent_reactions.remove(i))
            .map(|(_, _, set)| set)
            .unwrap_or_default();
        let added: Vec<String> = emojis
            .iter()
            .filter(|e| !before.contains(e))
            .cloned()
            .collect();
        if self.sent_reactions.len() >= REACTION_MEMORY {
            self.sent_reactions.pop_front();
        }
        self.sent_reactions
            .push_back((chat.id().to_owned(), target.clone(), emojis.clone()));
        if added.is_empty() {
            let refusal = Refusal::cancel(
                "feature-not-implemented",
                "This network cannot take a reaction back: the earlier reaction stays visible there.",
            );
            return self.bounce(stanza, refusal).await;
        }
        let author = (!message.own).then_some(message.author.as_str());
        let text = Text {
            kind: crate::legacy::MessageKind::Action,
            body: degrade::reaction(&added, author),
            reply: None,
        };
        let pending = Pending::Reactions { target, emojis };
        self.send_text(chat, text, Some(pending), stanza).await;
    }

    async fn retract(&mut self, chat: Chat, target: String, stanza: &Element) {
        let refusal = match self.find_target(&chat, &target, true, "retracted").await {
            Err(r) => r,
            Ok(_) => Refusal::cancel(
                "feature-not-implemented",
                "This network cannot delete messages: yours stays visible there.",
            ),
        };
        self.bounce(stanza, refusal).await;
    }

    /// If `ids` are those of a degraded verb waiting for its reflection in `room_id`: what
    /// the reflection stands for.
    pub(crate) fn reflected_pending(&mut self, room_id: &str, ids: &ClientIds) -> Option<Pending> {
        let room = self.rooms.get_mut(room_id)?;
        let pos = room.pending.iter().position(|(i, _)| i == ids)?;
        Some(room.pending.remove(pos).1)
    }
}
