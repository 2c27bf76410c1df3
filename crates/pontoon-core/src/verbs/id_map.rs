//! Messages in the message id map (`pontoon_store::message_ids`), per chat (a room or a
//! contact): the XMPP ids a message is known by (the user's client's origin-id and id, the
//! stanza-id or id Pontoon gave it) name the legacy message (the network's id where it
//! has one), its author, and whether it is the user's own. A later correction, reaction,
//! retraction or reply from any of the user's clients finds its target there, after a
//! restart too, and is refused for a message that is unknown or not the user's.
//!
//! Records go to the store through the service's writer (`crate::id_map`), within about
//! 50 ms; a look-up that misses waits for the records still on their way, so a correction
//! sent at once finds its target too, and sessions keep no copy in memory.

use pontoon_store::{ChatKey, MappedMessage, MessageIds, StoreError};

use crate::legacy::ClientIds;
use crate::session::Session;

impl Session {
    /// Records the user's own message in `chat`, written as `author`, under `mapped_id`
    /// (the stanza-id of its reflection in a room, the legacy id in a direct chat).
    pub(crate) fn remember_own_message(
        &self,
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

    /// The message in `chat` that the XMPP id `xmpp_id` names, as the id map knows it once
    /// the records on their way are written.
    pub(crate) async fn mapped_message(
        &self,
        chat: &str,
        xmpp_id: &str,
    ) -> Result<Option<MappedMessage>, StoreError> {
        let account = self.user.to_string();
        let key = ChatKey {
            transport: &self.ctx.transport_name,
            account: &account,
            chat,
        };
        if let Some(m) = self.ctx.store.legacy_message(&key, xmpp_id).await? {
            return Ok(Some(m));
        }
        self.ctx.id_map.settled().await;
        self.ctx.store.legacy_message(&key, xmpp_id).await
    }
}
