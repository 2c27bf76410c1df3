//! Messages in the message id map (`pontoon_store::message_ids`), per chat (a room or a
//! contact): the XMPP ids a message is known by, each for what it is (`XmppIds`: the id
//! and origin-id its client gave it, the stanza-id or id Pontoon gave it) name the legacy
//! message (the network's id where it
//! has one), its author, and whether it is the user's own. A later correction, reaction,
//! retraction or reply from any of the user's clients finds its target there, after a
//! restart too, and is refused for a message that is unknown or not the user's.
//!
//! Records go to the store through the service's writer (`crate::id_map`), within about
//! 50 ms; a look-up that misses waits for the records still on their way, so a correction
//! sent at once finds its target too, and sessions keep no copy in memory.
//!
//! Others' messages in a room are recorded once for the room (`ROOM_ACCOUNT`), not once
//! per user of the gateway in it; a look-up finds the user's own records first, then the
//! room's.

use std::sync::Arc;

use pontoon_store::{ChatKey, MappedMessage, MessageIds, StoreError, XmppIds};

use crate::legacy::ClientIds;
use crate::session::Session;

/// The ids a room message is known by on XMPP: the id and origin-id its sender's client
/// gave it (the user's own, reflected), and the stanza-id the room stamped, which is also
/// its `id` when no client gave one (see `crate::render`).
pub(crate) fn room_ids(ids: &ClientIds, stanza_id: &str) -> XmppIds {
    // One text for both when the stanza-id is the id too (every line from the network).
    let stanza_id: Arc<str> = stanza_id.into();
    XmppIds {
        id: Some(
            ids.id
                .as_deref()
                .map_or_else(|| stanza_id.clone(), Into::into),
        ),
        origin_id: ids.origin_id.as_deref().map(Into::into),
        stanza_id: Some(stanza_id),
        thread: None,
    }
}

/// The ids a direct message is known by on XMPP: its id and origin-id (the user's own as
/// their client gave them; others' as Pontoon stamped them, one value for both).
pub(crate) fn direct_ids(ids: &ClientIds) -> XmppIds {
    XmppIds {
        id: ids.id.as_deref().map(Into::into),
        origin_id: ids.origin_id.as_deref().map(Into::into),
        stanza_id: None,
        thread: None,
    }
}

impl Session {
    /// Records the user's own message in `chat`, written as `author`: the network's id for
    /// it (or the one Pontoon uses until the network says), and the ids XMPP knows it by.
    pub(crate) fn remember_own_message(
        &self,
        chat: &str,
        author: &str,
        legacy_id: &str,
        xmpp_ids: XmppIds,
    ) {
        self.record(chat, legacy_id, author, true, xmpp_ids);
    }

    /// Records someone else's message in `chat`: the network's id for it, by `author`,
    /// and the ids XMPP knows it by.
    pub(crate) fn remember_message(
        &self,
        chat: &str,
        author: &str,
        legacy_id: &str,
        xmpp_ids: XmppIds,
    ) {
        self.record(chat, legacy_id, author, false, xmpp_ids);
    }

    /// Records someone else's message in the room `chat` for the room, not for this user:
    /// every user of the gateway in the room finds it (they know it by the same ids,
    /// `crate::archive::recent`), and one record stands for all their copies.
    pub(crate) fn remember_room_message(
        &self,
        chat: &str,
        author: &str,
        legacy_id: &str,
        xmpp_ids: XmppIds,
    ) {
        self.record_as(
            self.ctx.id_map.room_account().clone(),
            chat,
            (legacy_id, author, false),
            xmpp_ids,
        );
    }

    fn record(&self, chat: &str, legacy_id: &str, author: &str, own: bool, xmpp_ids: XmppIds) {
        self.record_as(
            self.user.as_str().into(),
            chat,
            (legacy_id, author, own),
            xmpp_ids,
        );
    }

    fn record_as(
        &self,
        account: Arc<str>,
        chat: &str,
        (legacy_id, author, own): (&str, &str, bool),
        xmpp_ids: XmppIds,
    ) {
        self.ctx.id_map.record(MessageIds {
            transport: self.ctx.id_map.transport().clone(),
            account,
            chat: chat.into(),
            message: MappedMessage {
                legacy_id: legacy_id.into(),
                author: author.into(),
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
