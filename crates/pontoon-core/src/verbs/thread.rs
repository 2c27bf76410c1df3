//! Threads both ways, where the network has them ([`crate::legacy::Verbs::threads`]).
//!
//! A network names a thread by the legacy id of its root message; XMPP by an opaque
//! `<thread/>` id (`crate::inbound::thread`). Towards XMPP, a thread is shown under the
//! thread id the user's client gave it, where it started the thread; else under the XMPP
//! id clients know its root by (its stanza-id in a room, which is the network's id; in a
//! direct chat the id Pontoon or the user's client gave it), as slidge does; a root the id
//! map does not know is shown under its network id, which is then remembered, so an
//! answer from the user's client names a root the map knows. Thread ids are kept in the
//! id map as such (`XmppIds::thread`), never as ids of the message itself.
//!
//! From XMPP, a thread id is resolved to its root, in this order: an id the map knows (the
//! root's own XMPP id, or a thread id remembered), the `parent` thread's root (a network's
//! threads do not nest: a sub-thread goes in its parent's), the message the text replies to
//! (XEP-0461: the thread hangs off it), else the message itself starts the thread: it goes
//! out without one, and the next message naming the thread joins it. Each resolution is
//! remembered in the id map under the thread id, after a restart too.

use std::collections::VecDeque;

use pontoon_store::{MappedMessage, XmppIds};

use crate::inbound::thread::Thread;
use crate::legacy::{ChatId, ClientIds, LegacyId};
use crate::session::Session;

/// Threads the user's clients started lately and the id of the message that started each,
/// until its reflection names it on the network: (chat, thread id, client id).
pub(crate) type NewThreads = VecDeque<(LegacyId, String, String)>;

/// Threads remembered before the network reflects their first message.
const NEW_THREADS: usize = 8;

impl Session {
    /// The network's id of the root of `thread` in `chat`, for a message with the client
    /// ids `ids` that replies to `reply` (an XMPP id), if any; `None` when the message
    /// starts the thread itself (remembered, for the messages that follow it).
    pub(super) async fn thread_root(
        &mut self,
        chat: &ChatId,
        thread: &Thread,
        reply: Option<&str>,
        ids: &ClientIds,
    ) -> Option<String> {
        let chat_id = chat.id();
        if let Some(m) = self.known_message(chat_id, &thread.id).await {
            return Some(m.legacy_id.to_string());
        }
        let started = self.verb_memory.as_ref().and_then(|m| {
            m.new_threads
                .iter()
                .position(|(c, t, _)| c == chat_id && *t == thread.id)
        });
        if let Some(pos) = started {
            let first = self.verb_memory().new_threads[pos].2.clone();
            // Reflected by now: the network's id names the root, remembered for good.
            return Some(match self.known_message(chat_id, &first).await {
                // (A direct message is known by its client's id until the network names it.)
                Some(m) if *m.legacy_id != *first => {
                    self.verb_memory().new_threads.remove(pos);
                    self.remember_thread(chat_id, &thread.id, &m).await;
                    m.legacy_id.to_string()
                }
                // Not yet: the transport knows the client's id for a moment.
                _ => first,
            });
        }
        for named in [thread.parent.as_deref(), reply].into_iter().flatten() {
            if let Some(m) = self.known_message(chat_id, named).await {
                self.remember_thread(chat_id, &thread.id, &m).await;
                return Some(m.legacy_id.to_string());
            }
        }
        if let Some(first) = ids.origin_id.clone().or_else(|| ids.id.clone()) {
            let new_threads = &mut self.verb_memory().new_threads;
            if new_threads.len() >= NEW_THREADS {
                new_threads.pop_front();
            }
            new_threads.push_back((chat_id.clone(), thread.id.clone(), first));
        }
        None
    }

    /// What a message from the network in `chat` (a room if `in_room`) says of the others:
    /// the `<reply/>` to the message `reply_to`, the `<thread/>` of the root `thread`.
    pub(crate) async fn related_elements(
        &self,
        chat: &str,
        reply_to: Option<String>,
        thread: Option<String>,
        in_room: bool,
    ) -> Vec<minidom::Element> {
        let mut out = Vec::with_capacity(2);
        if let Some(target) = reply_to {
            out.push(self.reply_element(chat, &target, in_room).await);
        }
        if let Some(root) = thread {
            out.extend(self.thread_element(chat, &root, in_room).await);
        }
        out
    }

    /// The `<thread/>` for a message from the network in the thread of `root` (a legacy
    /// id) in `chat` (a room if `in_room`); `None` for a root id too long to remember.
    pub(crate) async fn thread_element(
        &self,
        chat: &str,
        root: &str,
        in_room: bool,
    ) -> Option<minidom::Element> {
        if root.is_empty() || root.len() > crate::inbound::thread::MAX_THREAD_BYTES {
            return None;
        }
        let mut ids = self.xmpp_ids_of(chat, root).await;
        let id = match ids.thread.take() {
            Some(thread) => Some(thread.to_string()),
            None => super::incoming::as_known(ids, in_room),
        };
        let id = match id {
            Some(id) => id,
            None => {
                // A root older than the map: its network id names the thread from now on.
                let ids = XmppIds {
                    thread: Some(root.into()),
                    ..XmppIds::default()
                };
                self.remember_message(chat, "", root, ids);
                root.to_owned()
            }
        };
        Some(crate::inbound::thread::element(&id))
    }

    /// The message `xmpp_id` names in `chat`, if the id map knows it.
    async fn known_message(&self, chat: &str, xmpp_id: &str) -> Option<MappedMessage> {
        match self.mapped_message(chat, xmpp_id).await {
            Ok(found) => found,
            Err(e) => {
                tracing::debug!(error = %e, "message id map unavailable");
                None
            }
        }
    }

    /// From now on the thread id `thread` names the root `root` in `chat` (written before
    /// this returns, so what comes next in the thread is shown under it: once a thread).
    async fn remember_thread(&self, chat: &str, thread: &str, root: &MappedMessage) {
        let ids = XmppIds {
            thread: Some(thread.into()),
            ..XmppIds::default()
        };
        if root.own {
            self.remember_own_message(chat, &root.author, &root.legacy_id, ids);
        } else {
            self.remember_message(chat, &root.author, &root.legacy_id, ids);
        }
        self.ctx.id_map.settled().await;
    }
}
