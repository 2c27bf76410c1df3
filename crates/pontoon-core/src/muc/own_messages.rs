//! The user's own room messages in the message id map (`pontoon_store::message_ids`): the
//! ids their client gave a message (origin-id, id) and the stanza-id Pontoon stamped name the
//! legacy message (the network's id where it has one, else that stanza-id), so a later
//! correction or retraction from any of the user's clients finds it, after a restart too,
//! and is refused for a message that is not theirs.

use pontoon_store::{ChatKey, MappedMessage, StoreError};
use tracing::warn;

use crate::legacy::ClientIds;
use crate::session::Session;

impl Session {
    fn chat_key<'a>(&'a self, account: &'a str, room_id: &'a str) -> ChatKey<'a> {
        ChatKey {
            transport: &self.ctx.transport_name,
            account,
            chat: room_id,
        }
    }

    /// Records the user's message in `room_id`, reflected as `nick`, under `stanza_id`.
    /// A store failure costs only later references to it: it is logged, not fatal.
    pub(super) async fn remember_own_message(
        &self,
        room_id: &str,
        nick: &str,
        ids: &ClientIds,
        stanza_id: &str,
    ) {
        let account = self.user.to_string();
        let message = MappedMessage {
            legacy_id: stanza_id.to_owned(),
            author: nick.to_owned(),
            own: true,
        };
        let names: Vec<&str> = [ids.origin_id.as_deref(), ids.id.as_deref(), Some(stanza_id)]
            .into_iter()
            .flatten()
            .collect();
        let chat = self.chat_key(&account, room_id);
        if let Err(e) = self
            .ctx
            .store
            .put_message_ids(&chat, &message, &names)
            .await
        {
            warn!(error = %e, room = room_id, "could not record a message's ids");
        }
    }

    /// The room message the XMPP id `xmpp_id` names, as the id map knows it.
    pub(crate) async fn mapped_room_message(
        &self,
        room_id: &str,
        xmpp_id: &str,
    ) -> Result<Option<MappedMessage>, StoreError> {
        let account = self.user.to_string();
        let chat = self.chat_key(&account, room_id);
        self.ctx.store.legacy_message(&chat, xmpp_id).await
    }
}
