//! XEP-0308 last message correction in rooms. The target is found through the message id
//! map: an unknown id is refused with `item-not-found`, someone else's message with
//! `forbidden`, never ignored. No transport can edit a message yet (IRC has no edits), so
//! the correction goes out degraded, as a new line marked [`CORRECTION_MARK`]; the user's
//! clients get its reflection as a correction of the original (`<replace/>`, the mark
//! left out), so their window shows the corrected message in place.

use minidom::Element;

use crate::legacy::{ClientIds, LegacyCommand};
use crate::session::Session;
use crate::stanza::Refusal;

/// XEP-0308's namespace.
pub const NS_CORRECT: &str = "urn:xmpp:message-correct:0";
/// What a correction looks like on a network without edits.
pub const CORRECTION_MARK: &str = "(correction) ";
/// Corrections waiting for their reflection, per room; the oldest is dropped beyond it.
const MAX_PENDING: usize = 8;

/// The id of the message `stanza` corrects, if it is a correction.
pub(super) fn target(stanza: &Element) -> Option<String> {
    stanza
        .get_child("replace", NS_CORRECT)
        .and_then(|r| r.attr("id"))
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

/// `<replace xmlns='urn:xmpp:message-correct:0' id='…'/>`.
pub(super) fn replace_element(id: &str) -> Element {
    crate::stanza::elem("replace", NS_CORRECT, &[("id", id)])
}

impl Session {
    /// A correction of `target` with the new text `body` from one of the user's clients.
    pub(super) async fn correct_room_message(
        &mut self,
        room_id: String,
        body: String,
        target: String,
        stanza: &Element,
    ) {
        let refusal = match self.mapped_room_message(&room_id, &target).await {
            Err(e) => {
                tracing::warn!(error = %e, "message id map unavailable");
                Some(Refusal::wait(
                    "internal-server-error",
                    "The gateway could not look the corrected message up; try again later.",
                ))
            }
            Ok(None) => Some(Refusal::cancel(
                "item-not-found",
                "No message of yours with that id is known in this room (it may be older than the gateway keeps message ids).",
            )),
            Ok(Some(m)) if !m.own => Some(Refusal::auth(
                "forbidden",
                "You can only correct your own messages.",
            )),
            Ok(Some(_)) => None,
        };
        if let Some(r) = refusal {
            self.bounce(stanza, r).await;
            return;
        }
        let ids = crate::ids::client_ids(stanza);
        if let Some(room) = self.rooms.get_mut(&room_id) {
            if room.corrections.len() >= MAX_PENDING {
                room.corrections.remove(0);
            }
            room.corrections.push((ids.clone(), target));
        }
        let command = LegacyCommand::SendRoomMessage {
            room: room_id,
            body: format!("{CORRECTION_MARK}{body}"),
            ids,
        };
        if self.legacy.send(command).await.is_err() {
            self.bounce(
                stanza,
                Refusal::wait("recipient-unavailable", "The legacy session has ended."),
            )
            .await;
        }
    }

    /// If `ids` are those of a correction waiting for its reflection: the id it corrects.
    pub(super) fn reflected_correction(
        &mut self,
        room_id: &str,
        ids: &ClientIds,
    ) -> Option<String> {
        let room = self.rooms.get_mut(room_id)?;
        let pos = room.corrections.iter().position(|(i, _)| i == ids)?;
        Some(room.corrections.remove(pos).1)
    }
}
