//! The user's own room messages in the message id map (`pontoon_store::message_ids`): the
//! ids their client gave a message (origin-id, id) and the stanza-id Pontoon stamped name the
//! legacy message (the network's id where it has one, else that stanza-id), so a later
//! correction or retraction from any of the user's clients finds it, after a restart too,
//! and is refused for a message that is not theirs.
//!
//! Records go to the store through the service's writer (`id_map.rs`), within about 50 ms;
//! the room keeps its last [`RECENT`] own messages in memory meanwhile, so a
//! correction sent at once finds its target too.

use pontoon_store::{ChatKey, MappedMessage, MessageIds, StoreError};

use crate::legacy::ClientIds;
use crate::session::Session;

/// Own messages a room keeps in memory.
const RECENT: usize = 2;

impl Session {
    /// Records the user's message in `room_id`, reflected as `nick`, under `stanza_id`.
    pub(super) fn remember_own_message(
        &mut self,
        room_id: &str,
        nick: &str,
        ids: &ClientIds,
        stanza_id: &str,
    ) {
        let message = MappedMessage {
            legacy_id: stanza_id.to_owned(),
            author: nick.to_owned(),
            own: true,
        };
        let xmpp_ids = [ids.origin_id.as_deref(), ids.id.as_deref(), Some(stanza_id)]
            .into_iter()
            .flatten()
            .map(str::to_owned)
            .collect();
        if let Some(room) = self.rooms.get_mut(room_id) {
            if room.recent_own.len() >= RECENT {
                room.recent_own.remove(0);
            }
            room.recent_own.push((ids.clone(), stanza_id.to_owned()));
        }
        self.ctx.id_map.record(MessageIds {
            transport: self.ctx.transport_name.clone(),
            account: self.user.to_string(),
            chat: room_id.to_owned(),
            message,
            xmpp_ids,
        });
    }

    /// The room message the XMPP id `xmpp_id` names: one of the room's last own messages,
    /// else as the id map knows it.
    pub(crate) async fn mapped_room_message(
        &self,
        room_id: &str,
        xmpp_id: &str,
    ) -> Result<Option<MappedMessage>, StoreError> {
        let recent = self.rooms.get(room_id).and_then(|room| {
            room.recent_own.iter().rev().find(|(ids, sid)| {
                sid == xmpp_id
                    || ids.id.as_deref() == Some(xmpp_id)
                    || ids.origin_id.as_deref() == Some(xmpp_id)
            })
        });
        if let Some((_, sid)) = recent {
            let nick = self.rooms.get(room_id).map(|r| r.nick.clone());
            return Ok(Some(MappedMessage {
                legacy_id: sid.clone(),
                author: nick.unwrap_or_default(),
                own: true,
            }));
        }
        let account = self.user.to_string();
        let chat = ChatKey {
            transport: &self.ctx.transport_name,
            account: &account,
            chat: room_id,
        };
        self.ctx.store.legacy_message(&chat, xmpp_id).await
    }
}
