//! A moderator's kicks and bans (XEP-0045 §8.2, §9.1), sent to the network where it can
//! carry them ([`Verbs::kicks`](crate::legacy::Verbs::kicks)). The IQ is answered once the
//! command is handed to the network; the room shows the occupant leaving when the network
//! says they left, and a refusal by the network comes back as a notice in the room.

use minidom::Element;

use crate::inbound::muc_admin::AdminRequest;
use crate::legacy::{LegacyCommand, LegacyId, Role};
use crate::session::Session;
use crate::stanza::Refusal;

impl Session {
    /// Carries out a moderator's `request` in `room`, answering `iq`.
    pub(crate) async fn room_admin(&mut self, room: LegacyId, request: AdminRequest, iq: &Element) {
        let nick = match &request {
            AdminRequest::Kick { nick, .. } | AdminRequest::Ban { nick, .. } => nick.clone(),
        };
        if let Some(refusal) = self.admin_refusal(&room, &nick) {
            return self.bounce(iq, refusal).await;
        }
        let command = match request {
            AdminRequest::Kick { nick, reason } => LegacyCommand::Kick { room, nick, reason },
            AdminRequest::Ban { nick, reason } => LegacyCommand::Ban { room, nick, reason },
        };
        if self.to_legacy(command, iq).await {
            self.send(crate::stanza::iq_result_to(iq, None)).await;
        }
    }

    /// Why the user may not send `nick` out of `room`, if they may not.
    fn admin_refusal(&self, room: &LegacyId, nick: &str) -> Option<Refusal> {
        let Some(r) = self.rooms.get(room).filter(|r| r.joined) else {
            return Some(Refusal::cancel(
                "not-acceptable",
                "Join the room before kicking or banning in it.",
            ));
        };
        if r.role_of(&r.nick) != Some(Role::Moderator) {
            return Some(Refusal::auth(
                "forbidden",
                "Only the room's moderators may kick or ban.",
            ));
        }
        if !self.verbs_for(room).kicks {
            return Some(Refusal::cancel(
                "feature-not-implemented",
                "This network does not let the gateway kick or ban.",
            ));
        }
        if r.role_of(nick).is_none() {
            return Some(Refusal::cancel(
                "item-not-found",
                format!("Nobody called {nick} is in the room."),
            ));
        }
        None
    }
}
