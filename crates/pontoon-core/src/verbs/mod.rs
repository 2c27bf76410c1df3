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
pub(crate) mod id_map;
mod incoming;
mod incoming_edits;
mod invite;
mod outgoing;
mod reaction_sets;
mod thread;

pub(crate) use incoming::ShownReactions;
pub(crate) use thread::NewThreads;

use crate::legacy::LegacyId;
use minidom::Element;
use pontoon_store::MappedMessage;

use crate::inbound::{Text, Verb};
use crate::legacy::{ChatId, ClientIds, LegacyCommand, Verbs};
use crate::session::Session;
use crate::stanza::Refusal;

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

/// A verb the session carried natively in a room, already shown to the user's clients: the
/// network's echo of it is not shown again, while what the user does from another client
/// of the network (an edit made in a Matrix app) is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Echo {
    /// A correction of the message with this legacy id.
    Corrected(String),
    /// A retraction of the message with this legacy id.
    Retracted(String),
    /// A reaction to the message `target` (legacy id) added or taken back.
    Reaction {
        /// The legacy id of the message.
        target: String,
        /// The reaction.
        emoji: String,
        /// Taken back.
        removed: bool,
    },
}

impl Echo {
    /// The legacy id of the message the verb is about.
    fn target(&self) -> &str {
        match self {
            Echo::Corrected(t) | Echo::Retracted(t) | Echo::Reaction { target: t, .. } => t,
        }
    }
}

/// Echoes awaited per session; the oldest is forgotten beyond it (a network that does not
/// echo leaves them here until then).
const MAX_ECHOES: usize = 16;

/// The echoes awaited: (room, echo).
pub(crate) type Echoes = std::collections::VecDeque<(LegacyId, Echo)>;

/// The last reaction sets the user sent, by (chat, target).
pub(crate) type SentReactions = reaction_sets::ReactionSets<(LegacyId, String), REACTION_MEMORY>;

/// What a session's verbs remember, boxed apart and made at the first verb that needs it:
/// four queues were 128 bytes of every session (performance pass 4).
#[derive(Debug, Default)]
pub(crate) struct Memory {
    /// The last reaction sets the user sent.
    pub(crate) sent_reactions: SentReactions,
    /// Verbs carried natively in rooms whose echo from the network is not shown again.
    pub(crate) echoes: Echoes,
    /// Threads the user's clients started, until the network names their root.
    pub(crate) new_threads: NewThreads,
    /// The last reaction sets of others the user's clients were shown.
    pub(crate) shown_reactions: ShownReactions,
}

impl Session {
    /// Does what `verb`, from `stanza`, asks in `chat`.
    pub(crate) async fn act(&mut self, chat: ChatId, verb: Verb, stanza: &Element) {
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
            Verb::Subject(subject) => match chat {
                ChatId::Room(room) => {
                    let command = LegacyCommand::SetSubject { room, subject };
                    self.to_legacy(command, stanza).await;
                }
                // Not silence: a direct chat on a legacy network has no subject.
                ChatId::Contact(_) => {
                    let refusal = crate::stanza::Refusal::cancel(
                        "feature-not-implemented",
                        "A private chat on this network has no subject; write it in the text.",
                    );
                    self.bounce(stanza, refusal).await;
                }
            },
            Verb::Invite(invitation) => Box::pin(self.invite(chat, *invitation, stanza)).await,
            Verb::ChatState(state) => {
                // A hint: carried where the network has typing notifications, else nothing.
                if self.verbs_for(chat.id()).typing {
                    let _ = self
                        .legacy
                        .try_send(LegacyCommand::SetChatState { chat, state });
                }
            }
            Verb::Displayed { target } => Box::pin(self.displayed(chat, target)).await,
            Verb::Nothing => {}
        }
    }

    /// Sends `text` to `chat`; in a room, `pending` says what its reflection stands for.
    async fn send_text(
        &mut self,
        chat: ChatId,
        mut text: Text,
        pending: Option<Pending>,
        stanza: &Element,
    ) {
        if !text.attachments.is_empty() && !self.verbs_for(chat.id()).files {
            // The network has no files: their links go in the text.
            text.body = degrade::with_urls(&text.body, &std::mem::take(&mut text.attachments));
        }
        // The thread first: it may hang off the message replied to.
        let thread = match text.thread.take() {
            Some(t) if self.verbs_for(chat.id()).threads => {
                let ids = crate::ids::client_ids(stanza);
                let reply = text.reply.as_ref().map(|r| r.target.as_str());
                Box::pin(self.thread_root(&chat, &t, reply, &ids)).await
            }
            _ => None,
        };
        let mut reply_to = None;
        if let Some(reply) = text.reply.take() {
            // Boxed: a store look-up, inlined in the session task's future otherwise.
            let (author, legacy_id) = Box::pin(self.reply_target(&chat, &reply)).await;
            let native = self.verbs_for(chat.id()).replies;
            // In a room, addressed to the author even where the network has replies: IRC
            // users whose client does not show them still see whom it answers. A native
            // reply in a direct chat has only one person to answer.
            if !(native && matches!(chat, ChatId::Contact(_))) {
                text.body =
                    degrade::reply(&text.body, author.as_deref(), reply.fallback.as_deref());
            }
            if native {
                reply_to = legacy_id;
            }
        }
        match chat {
            ChatId::Room(room) => {
                let command = self.room_command(room, text, pending, (reply_to, thread), stanza);
                self.message_to_legacy(command, stanza).await;
            }
            ChatId::Contact(to) => {
                self.send_legacy_message(to, text, (reply_to, thread), stanza)
                    .await
            }
        }
    }

    /// The command that sends `text` to `room` (replying to and in the thread of the
    /// legacy ids given), noting `pending` for its reflection. (Not async: what an await
    /// holds lives in the session task's future.)
    pub(crate) fn room_command(
        &mut self,
        room: LegacyId,
        text: Text,
        pending: Option<Pending>,
        (reply_to, thread): (Option<String>, Option<String>),
        stanza: &Element,
    ) -> LegacyCommand {
        let ids = crate::ids::client_ids(stanza);
        if let (Some(p), Some(r)) = (pending, self.rooms.get_mut(&room)) {
            let pending = &mut r.rare_mut().pending;
            if pending.len() >= MAX_PENDING {
                pending.remove(0);
            }
            pending.push((ids.clone(), p));
        }
        LegacyCommand::SendRoomMessage {
            room,
            body: text.body,
            kind: text.kind,
            ids,
            reply_to,
            thread,
            attachments: text.attachments,
        }
    }

    /// What a reply answers: whom, to address them (the author the id map knows, else the
    /// one the client named; `None` for the user's own message), and the network's id of
    /// the message, if known.
    async fn reply_target(
        &self,
        chat: &ChatId,
        reply: &crate::inbound::reply::Reply,
    ) -> (Option<String>, Option<String>) {
        match self.mapped_message(chat.id(), &reply.target).await {
            Ok(Some(m)) if m.own => (None, Some(m.legacy_id.to_string())),
            Ok(Some(m)) => (Some(m.author.to_string()), Some(m.legacy_id.to_string())),
            _ => {
                let named = reply
                    .to
                    .as_deref()
                    .and_then(crate::inbound::reply::author_name)
                    .filter(|a| self.own_name(chat).as_deref() != Some(a));
                (named, None)
            }
        }
    }

    /// What the network of `chat` carries natively (nothing until the transport said).
    pub(crate) fn verbs_for(&self, chat: &LegacyId) -> Verbs {
        let network = chat.network();
        self.verbs
            .iter()
            .find(|(n, _)| n.as_deref() == network)
            .map(|(_, v)| *v)
            .unwrap_or_default()
    }

    /// The transport says what `network` carries.
    pub(crate) fn set_verbs(&mut self, network: Option<String>, verbs: Verbs) {
        match self.verbs.iter_mut().find(|(n, _)| *n == network) {
            Some(entry) => entry.1 = verbs,
            None => {
                // Most sessions reach one network: room for exactly it, not the four a
                // growing `Vec` takes (about 120 bytes per session).
                self.verbs.reserve_exact(1);
                self.verbs.push((network, verbs));
            }
        }
    }

    /// The user's name in `chat` (their nick in a room), if known.
    fn own_name(&self, chat: &ChatId) -> Option<String> {
        match chat {
            ChatId::Room(room) => self.rooms.get(room).map(|r| r.nick.to_string()),
            ChatId::Contact(_) => None,
        }
    }

    /// Hands `command` to the transport; bounces `stanza` if the legacy session has ended.
    /// (Not an `async fn`, which would keep the command in its future as well as in the
    /// queue's box: this future is inlined in the message handlers a session boxes per
    /// message.)
    pub(crate) fn to_legacy<'a>(
        &'a self,
        command: LegacyCommand,
        stanza: &'a Element,
    ) -> impl std::future::Future<Output = bool> + Send + 'a {
        let sending = self.legacy.send(command);
        async move {
            if sending.await.is_ok() {
                return true;
            }
            let refusal = Refusal::wait("recipient-unavailable", "The legacy session has ended.");
            // Boxed: rare, and inlined in the session task's future otherwise.
            Box::pin(self.bounce(stanza, refusal)).await;
            false
        }
    }

    /// The message `target` names in `chat`, or the refusal to answer: `item-not-found`
    /// when unknown, `forbidden` when `own_only` and it is someone else's.
    async fn find_target(
        &self,
        chat: &ChatId,
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

    /// If `ids` are those of a degraded verb waiting for its reflection in `room_id`: what
    /// the reflection stands for.
    pub(crate) fn reflected_pending(&mut self, room_id: &str, ids: &ClientIds) -> Option<Pending> {
        self.rooms.get_mut(room_id)?.take_pending(ids)
    }
}

impl Session {
    /// An IQ to `chat` the session answers: disco#info saying what the chat takes (the
    /// network's verbs, the room's name), a moderator's retraction, kick or ban.
    pub(crate) async fn on_chat_iq(&mut self, chat: ChatId, iq: Element) {
        let Some(payload) = iq.children().next() else {
            return;
        };
        if let (ChatId::Room(room), true) =
            (&chat, payload.is("moderate", crate::inbound::moderate::NS))
        {
            match crate::inbound::moderate::read(payload) {
                Ok(request) => self.moderate(room.clone(), request, &iq).await,
                Err(refusal) => self.bounce(&iq, refusal).await,
            }
            return;
        }
        if let (ChatId::Room(room), true) =
            (&chat, payload.is("query", crate::inbound::muc_admin::NS))
        {
            let read = if iq.attr("type") == Some("get") {
                crate::inbound::muc_admin::read_list(payload).map(|()| None)
            } else {
                crate::inbound::muc_admin::read(payload).map(Some)
            };
            match read {
                Ok(Some(request)) => self.room_admin(room.clone(), request, &iq).await,
                Ok(None) => self.room_outcasts(room.clone(), iq).await,
                Err(refusal) => self.bounce(&iq, refusal).await,
            }
            return;
        }
        if let (ChatId::Room(room), true) = (&chat, payload.is("query", crate::muc::config::NS)) {
            self.room_config(room.clone(), iq).await;
            return;
        }
        if let (ChatId::Contact(contact), true) = (
            &chat,
            payload.is("pubsub", "http://jabber.org/protocol/pubsub"),
        ) {
            self.answer_avatar_items(contact, iq).await;
            return;
        }
        if payload.is("vCard", "vcard-temp") {
            match &chat {
                ChatId::Contact(contact) => self.answer_vcard(contact, iq).await,
                ChatId::Room(room) => self.answer_occupant_vcard(room, iq).await,
            }
            return;
        }
        let verbs = self.verbs_for(chat.id());
        let mut info = match &chat {
            ChatId::Room(room) => {
                let name = self.rooms.get(room).and_then(|r| r.name.as_deref());
                let commands = !self.ctx.transport.descriptor().room_settings.is_empty();
                let archive = self.ctx.archive.is_on();
                crate::disco::room_info(name.unwrap_or(room), verbs, (commands, archive))
            }
            ChatId::Contact(contact) => self.contact_info(contact),
        };
        // A contact's caps node (XEP-0115) is answered with the same info, naming it.
        info.node = payload.attr("node").map(str::to_owned);
        self.send(crate::stanza::iq_result_to(&iq, Some(info.into())))
            .await;
    }
}

impl Session {
    /// What the verbs remember, made if this is the first verb to need it.
    pub(crate) fn verb_memory(&mut self) -> &mut Memory {
        self.verb_memory.get_or_insert_default()
    }

    /// The network will echo `echo`, which the session sent natively in `chat`: in a room,
    /// remember not to show it again.
    pub(crate) fn expect_echo(&mut self, chat: &ChatId, echo: Echo) {
        let ChatId::Room(room) = chat else {
            return;
        };
        let echoes = &mut self.verb_memory().echoes;
        if echoes.len() >= MAX_ECHOES {
            echoes.pop_front();
        }
        echoes.push_back((room.clone(), echo));
    }

    /// The network refused what the user asked of its message `target` in `chat`: no echo
    /// of it will come, and the user reads why where they asked.
    pub(crate) async fn on_verb_refused(&mut self, chat: ChatId, target: String, reason: String) {
        if let (ChatId::Room(room), Some(memory)) = (&chat, self.verb_memory.as_mut()) {
            memory
                .echoes
                .retain(|(r, echo)| r != room || echo.target() != target);
        }
        let text = format!("The network did not do that: {reason}");
        match chat {
            ChatId::Room(room) => self.on_room_notice(room, text).await,
            ChatId::Contact(contact) => {
                let name = self.ctx.transport.contact_name(&contact);
                self.notice(&format!("In the chat with {name}: {text}"))
                    .await;
            }
        }
    }

    /// The user's own verb `echo` came from the network in `chat`, written as `author`: the
    /// JID to show it from (their occupant JID), unless it is the echo of what this session
    /// sent (then forgotten) or not the user's at all.
    pub(crate) fn own_elsewhere(
        &mut self,
        chat: &ChatId,
        author: &str,
        echo: Echo,
    ) -> Option<jid::Jid> {
        let ChatId::Room(room) = chat else {
            return None;
        };
        self.rooms
            .get(room)
            .filter(|r| r.joined && r.nick == author)?;
        if let Some(echoes) = self.verb_memory.as_mut().map(|m| &mut m.echoes)
            && let Some(i) = echoes
                .iter()
                .position(|(e_room, e)| e_room == room && *e == echo)
        {
            echoes.remove(i);
            return None;
        }
        self.occupant_jid(room, author)
    }
}
