//! Messages in the message id map (`pontoon_store::message_ids`), per chat (a room or a
//! contact): the XMPP ids a message is known by (the user's client's origin-id and id, the
//! stanza-id or id Pontoon gave it) name the legacy message (the network's id where it
//! has one), its author, and whether it is the user's own. A later correction, reaction,
//! retraction or reply from any of the user's clients finds its target there, after a
//! restart too, and is refused for a message that is unknown or not the user's.
//!
//! Records go to the store through the service's writer (`crate::id_map`), within about
//! 50 ms; the session keeps its last [`RECENT`] messages of its own in memory meanwhile,
//! so a correction sent at once finds its target too.

use pontoon_store::{ChatKey, MappedMessage, MessageIds, StoreError};

use crate::legacy::ClientIds;
use crate::session::Session;

/// Own messages the session keeps in memory, over all its chats.
pub(crate) const RECENT: usize = 4;

/// One of the user's last own messages: its chat, its client's ids, the id it is mapped
/// under, and the user's name in the chat.
#[derive(Debug)]
pub(crate) struct RecentOwn {
    chat: String,
    ids: ClientIds,
    mapped_id: String,
    author: String,
}

impl Session {
    /// Records the user's own message in `chat`, written as `author`, under `mapped_id`
    /// (the stanza-id of its reflection in a room, the legacy id in a direct chat).
    pub(crate) fn remember_own_message(
        &mut self,
        chat: &str,
        author: &str,
        ids: &ClientIds,
        mapped_id: &str,
    ) {
        let xmpp_ids = [ids.origin_id.as_deref(), ids.id.as_deref(), Some(mapped_id)]
            .into_iter()
            .flatten()
            .map(str::to_owned)
            .collect();
        if self.recent_own.len() >= RECENT {
            self.recent_own.pop_front();
        }
        self.recent_own.push_back(RecentOwn {
            chat: chat.to_owned(),
            ids: ids.clone(),
            mapped_id: mapped_id.to_owned(),
            author: author.to_owned(),
        });
        self.record(chat, mapped_id, author, true, xmpp_ids);
    }

    /// Records someone else's message in `chat`: `xmpp_id` (the id Pontoon gave it on
    /// XMPP) names `legacy_id`, by `author`.
    pub(crate) fn remember_message(
        &self,
        chat: &str,
        author: &str,
        legacy_id: &str,
        xmpp_id: &str,
    ) {
        self.record(chat, legacy_id, author, false, vec![xmpp_id.to_owned()]);
    }

    fn record(&self, chat: &str, legacy_id: &str, author: &str, own: bool, xmpp_ids: Vec<String>) {
        self.ctx.id_map.record(MessageIds {
            transport: self.ctx.transport_name.clone(),
            account: self.user.to_string(),
            chat: chat.to_owned(),
            message: MappedMessage {
                legacy_id: legacy_id.to_owned(),
                author: author.to_owned(),
                own,
            },
            xmpp_ids,
        });
    }

    /// The message in `chat` that the XMPP id `xmpp_id` names: one of the session's last
    /// own messages, else as the id map knows it.
    pub(crate) async fn mapped_message(
        &self,
        chat: &str,
        xmpp_id: &str,
    ) -> Result<Option<MappedMessage>, StoreError> {
        let recent = self.recent_own.iter().rev().find(|r| {
            r.chat == chat
                && (r.mapped_id == xmpp_id
                    || r.ids.id.as_deref() == Some(xmpp_id)
                    || r.ids.origin_id.as_deref() == Some(xmpp_id))
        });
        if let Some(r) = recent {
            return Ok(Some(MappedMessage {
                legacy_id: r.mapped_id.clone(),
                author: r.author.clone(),
                own: true,
            }));
        }
        let account = self.user.to_string();
        let key = ChatKey {
            transport: &self.ctx.transport_name,
            account: &account,
            chat,
        };
        self.ctx.store.legacy_message(&key, xmpp_id).await
    }
}
