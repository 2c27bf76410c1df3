//! A moderator's kicks, bans and role changes (XEP-0045 §8.2-8.4, §9.1, §9.6-9.7), and the
//! outcast list (§9.5, the room's bans, listed through `crate::lookup`), sent to the network
//! where it can carry them ([`Verbs::kicks`](crate::legacy::Verbs::kicks),
//! [`Verbs::roles`](crate::legacy::Verbs::roles),
//! [`Verbs::ban_list`](crate::legacy::Verbs::ban_list)). The IQ is answered once the
//! command is handed to the network; the room shows the occupant leaving when the network
//! says they left, and a refusal by the network comes back as a notice in the room.

use minidom::Element;

use crate::inbound::muc_admin::AdminRequest;
use crate::legacy::{LegacyCommand, LegacyId, Role};
use crate::session::Session;
use crate::stanza::Refusal;

/// What an admin request asks, for the check of what the network carries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Asked {
    /// A kick or a ban.
    Out,
    /// A role change.
    Role,
    /// A ban lifted.
    Unban,
}

impl Session {
    /// Answers the admin IQ get `iq` for the outcasts of `room`: its ban list, where the
    /// network keeps one. Anyone in the room may ask (IRC shows the list to all).
    pub(crate) async fn room_outcasts(&mut self, room: LegacyId, iq: Element) {
        let refusal = if !self.rooms.get(&room).is_some_and(|r| r.joined) {
            Some(Refusal::cancel(
                "not-acceptable",
                "Join the room before asking for its ban list.",
            ))
        } else if !self.verbs_for(&room).ban_list {
            Some(Refusal::cancel(
                "feature-not-implemented",
                "This network keeps no ban list the gateway can show.",
            ))
        } else {
            None
        };
        match refusal {
            Some(r) => self.bounce(&iq, r).await,
            None => self.list_bans(room, iq).await,
        }
    }

    /// Carries out a moderator's `request` in `room`, answering `iq`.
    pub(crate) async fn room_admin(&mut self, room: LegacyId, request: AdminRequest, iq: &Element) {
        let (nick, kind) = match &request {
            AdminRequest::Kick { nick, .. } | AdminRequest::Ban { nick, .. } => {
                (nick.as_str(), Asked::Out)
            }
            AdminRequest::SetRole { nick, .. } => (nick.as_str(), Asked::Role),
            AdminRequest::Unban { .. } => ("", Asked::Unban),
        };
        if let Some(refusal) = self.admin_refusal(&room, nick, kind) {
            return self.bounce(iq, refusal).await;
        }
        let commands = match request {
            AdminRequest::Kick { nick, reason } => vec![LegacyCommand::Kick { room, nick, reason }],
            AdminRequest::Ban { nick, reason } => vec![LegacyCommand::Ban { room, nick, reason }],
            AdminRequest::SetRole { nick, role } => {
                vec![LegacyCommand::SetRole { room, nick, role }]
            }
            AdminRequest::Unban { masks } => masks
                .into_iter()
                .map(|mask| LegacyCommand::Unban {
                    room: room.clone(),
                    mask,
                })
                .collect(),
        };
        for command in commands {
            if !self.to_legacy(command, iq).await {
                return;
            }
        }
        self.send(crate::stanza::iq_result_to(iq, None)).await;
    }

    /// Why the user may not do `kind` to `nick` in `room`, if they may not.
    fn admin_refusal(&self, room: &LegacyId, nick: &str, kind: Asked) -> Option<Refusal> {
        let Some(r) = self.rooms.get(room).filter(|r| r.joined) else {
            return Some(Refusal::cancel(
                "not-acceptable",
                "Join the room before kicking or banning in it.",
            ));
        };
        if r.role_of(&r.nick) != Some(Role::Moderator) {
            return Some(Refusal::auth(
                "forbidden",
                "Only the room's moderators may kick, ban or change roles.",
            ));
        }
        let verbs = self.verbs_for(room);
        let (carried, what) = match kind {
            Asked::Out => (verbs.kicks, "kick or ban"),
            Asked::Role => (verbs.roles, "change roles"),
            Asked::Unban => (verbs.ban_list, "lift bans"),
        };
        if !carried {
            return Some(Refusal::cancel(
                "feature-not-implemented",
                format!("This network does not let the gateway {what}."),
            ));
        }
        if kind != Asked::Unban && r.role_of(nick).is_none() {
            return Some(Refusal::cancel(
                "item-not-found",
                format!("Nobody called {nick} is in the room."),
            ));
        }
        None
    }
}
