//! A session's login and logout as the user's clients see them: answering server-mode
//! logins, the user's presence on the network, and the end of the session.

use jid::Jid;
use xmpp_parsers::presence::{Presence, Type as PresenceType};

use super::*;

impl Session {
    /// Answers every waiting server-mode login with `outcome`.
    pub(super) fn answer_logins(&mut self, outcome: impl Fn() -> crate::server::LoginOutcome) {
        for (reply, _) in self.login_waiters.drain(..) {
            let _ = reply.send(outcome());
        }
    }

    /// The outcome of a server-mode login into this online session.
    pub(super) fn login_outcome(&self, require_checked: bool) -> crate::server::LoginOutcome {
        if require_checked && !self.authenticated {
            crate::server::LoginOutcome::NotAuthorized(format!(
                "{} could not check your password (the server offers no account login), and this gateway does not accept unchecked logins",
                self.ctx.display_name
            ))
        } else {
            crate::server::LoginOutcome::Success
        }
    }

    /// Answers the waiting server-mode logins now that the session is online; returns
    /// whether one was refused (the network could not check the password).
    pub(super) fn answer_logins_online(&mut self) -> bool {
        let mut refused = false;
        for (reply, require_checked) in std::mem::take(&mut self.login_waiters) {
            let outcome = self.login_outcome(require_checked);
            refused |= outcome != crate::server::LoginOutcome::Success;
            let _ = reply.send(outcome);
        }
        refused
    }

    /// The user's presence as the legacy network sees it: the most available resource.
    pub(super) async fn update_legacy_presence(&mut self) {
        let best = self
            .resources
            .values()
            .map(|(show, status)| (availability(show.as_ref()), status.clone()))
            .min_by_key(|(a, _)| match a {
                Availability::Chat | Availability::Available => 0,
                Availability::Away => 1,
                Availability::DoNotDisturb => 2,
                Availability::ExtendedAway => 3,
                Availability::Offline => 4,
            });
        let Some((availability, status)) = best else {
            return;
        };
        // What the user's presence badge shows (`crate::control::Shown`).
        self.status
            .set_shown(availability.into(), status.as_deref());
        if self.last_sent_presence.as_ref() == Some(&(availability, status.clone())) {
            return;
        }
        self.last_sent_presence = Some((availability, status.clone()));
        let _ = self
            .legacy
            .send(LegacyCommand::SetPresence {
                availability,
                status,
            })
            .await;
    }

    pub(super) async fn logout(&mut self, reason: &str) -> bool {
        self.logout_to(reason, None).await
    }

    /// The transport's presence to every resource of the user by full JID (servers only
    /// deliver bare-JID presence to resources still online), plus `gone`, the resource that
    /// just left; to the bare JID when none is known.
    pub(super) async fn to_resources(&self, p: Presence, gone: Option<Jid>) {
        let mut targets: Vec<Jid> = self.resources.keys().cloned().collect();
        targets.extend(gone.filter(|g| g.resource().is_some()));
        if targets.is_empty() {
            self.send(Element::from(p)).await;
            return;
        }
        for to in targets {
            let mut p = p.clone();
            p.to = Some(to);
            self.send(Element::from(p)).await;
        }
    }

    pub(super) async fn logout_to(&mut self, reason: &str, gone: Option<Jid>) -> bool {
        info!(%reason, "logging out of the legacy network");
        self.status.set_state(SessionState::Ending);
        let _ = self
            .legacy
            .send(LegacyCommand::Disconnect {
                reason: reason.to_owned(),
            })
            .await;
        self.fail_outbox("You were logged out before the message could be sent.")
            .await;
        self.close_rooms(reason).await;
        let mut p = self.presence(PresenceType::Unavailable);
        p.set_status("", reason);
        self.to_resources(p, gone).await;
        self.resources.clear();
        true
    }

    pub(super) async fn end_with_notice(&mut self, text: &str) {
        self.fail_outbox(text).await;
        self.close_rooms(text).await;
        self.notice(text).await;
        let mut p = self.presence(PresenceType::Unavailable);
        p.set_status("", text);
        self.to_resources(p, None).await;
    }
}
