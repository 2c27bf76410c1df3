//! A room message the network did not take comes back to the user's clients as an error
//! for that very message (its `id`), from the room, so the client marks it failed where the
//! user wrote it, instead of an uncorrelated notice.

use crate::legacy::LegacyId;
use minidom::Element;
use xmpp_parsers::message::{Id, Message};

use crate::legacy::{ClientIds, SendError};
use crate::session::Session;
use crate::stanza::Refusal;

/// The refusal a [`SendError`] is shown as.
fn refusal(error: SendError, reason: String) -> Refusal {
    match error {
        SendError::Refused => Refusal::auth("forbidden", reason),
        SendError::Busy => Refusal::wait("resource-constraint", reason),
        SendError::Unreachable => Refusal::wait("recipient-unavailable", reason),
    }
}

impl Session {
    /// The user's message with `ids` to `room_id` failed for `reason`.
    pub(crate) async fn on_room_send_failed(
        &mut self,
        room_id: LegacyId,
        ids: ClientIds,
        error: SendError,
        reason: String,
    ) {
        let Some(room) = self.room_jid(&room_id) else {
            return;
        };
        let error = refusal(error, format!("Not sent: {reason}")).to_error();
        let stanzas: Vec<Element> = self
            .room_resources(&room_id)
            .into_iter()
            .map(|to| {
                let mut m = Message::error(Some(to));
                m.from = Some(room.clone());
                m.id = ids.id.clone().map(Id);
                m.payloads.push(error.clone().into());
                m.into()
            })
            .collect();
        self.send_all(stanzas).await;
    }
}
