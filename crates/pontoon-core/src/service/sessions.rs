//! The service's sessions: starting, offering input, ending (and what is left when one
//! ends), and the operator's requests about them.

use std::sync::atomic::Ordering;

use jid::{BareJid, Jid};
use tracing::info;

use super::*;

impl Service {
    /// Answers an operator's request. Never waits on a session: what it reports comes from
    /// the sessions' shared status, and logouts are handed over without waiting.
    pub(super) async fn on_control(&mut self, request: ControlRequest) {
        match request {
            ControlRequest::Sessions(reply) => {
                let _ = reply.send(self.session_infos());
            }
            ControlRequest::Disconnect {
                user,
                reason,
                reply,
            } => {
                let had = self.sessions.contains_key(&user);
                if had {
                    info!(user = %user, %reason, "operator ends a session");
                    self.end_session(&user, &reason, false).await;
                }
                let _ = reply.send(had);
            }
            ControlRequest::Unregister { user, reply } => {
                let had = self
                    .store
                    .registration(user.as_str(), &self.cfg.transport_name)
                    .await
                    .map(|r| r.is_some());
                let outcome = match had {
                    Ok(false) => Ok(false),
                    Ok(true) => match self.unregister(&user).await {
                        Ok(()) => Ok(true),
                        Err(r) => Err(r.text),
                    },
                    Err(e) => Err(e.to_string()),
                };
                self.flush_after_reply().await;
                let _ = reply.send(outcome);
            }
            ControlRequest::Announce { text, reply } => {
                let n = self.announce(&text).await;
                let _ = reply.send(n);
            }
            ControlRequest::Reload(reply) => {
                self.reconcile().await;
                let _ = reply.send(());
            }
            ControlRequest::Login {
                user,
                username,
                password,
                reply,
            } => self.on_login(user, username, password, reply).await,
            ControlRequest::State { user, reply } => {
                let state = match self.sessions.get(&user) {
                    Some(h) => Some(h.state.clone()),
                    None if self.mode.registrations_log_in() => {
                        Some(crate::state::TransportState::new(
                            self.store.clone(),
                            &self.cfg.transport_name,
                            user.as_str(),
                        ))
                    }
                    None => None,
                };
                let _ = reply.send(state);
            }
            ControlRequest::ServerLogout { user } => {
                // The session stays online if the user chose so (`session/away.rs`).
                match self.offer(&user, SessionInput::ClientsGone) {
                    Offer::Taken => {}
                    Offer::NoSession(_) => {}
                    Offer::Busy(_) => {
                        info!(user = %user, "the user's last client is gone: logging out");
                        self.end_session(&user, "Logged out", false).await;
                    }
                }
            }
        }
    }

    /// Every session as the operator sees it (unsorted).
    pub(crate) fn session_infos(&self) -> Vec<SessionInfo> {
        self.sessions
            .iter()
            .map(|(user, h)| h.status.info(user, h.ending))
            .collect()
    }

    /// The users whose session is not already ending.
    pub(super) fn active_users(&self) -> Vec<BareJid> {
        self.sessions
            .iter()
            .filter(|(_, h)| !h.ending)
            .map(|(u, _)| u.clone())
            .collect()
    }

    /// Sends `text` from the transport's JID to every user with a session (to the bare
    /// JID); returns how many. A chat message, like the transport's other notices: clients
    /// show it in the conversation with the transport, where headlines are shown unevenly.
    pub(crate) async fn announce(&mut self, text: &str) -> usize {
        let users = self.active_users();
        for user in &users {
            let m = crate::stanza::chat(self.domain_jid.clone(), Jid::from(user.clone()), text);
            self.send(m).await;
        }
        info!(users = users.len(), "operator announcement sent");
        users.len()
    }

    /// Samples the gauges the operator's tools read: sessions per state, link queue depth.
    pub(super) fn sample(&self) {
        let mut counts = [0u64; 4];
        for h in self.sessions.values() {
            let state = if h.ending {
                SessionState::Ending
            } else {
                h.status.state()
            };
            counts[state.index()] += 1;
        }
        for (slot, n) in self.control.session_counts.iter().zip(counts) {
            slot.store(n, Ordering::Relaxed);
        }
        let depth = self.out.max_capacity().saturating_sub(self.out.capacity());
        self.counters
            .link_queue_depth
            .store(depth as u64, Ordering::Relaxed);
    }

    pub(super) async fn on_session_ended(&mut self, mut ended: SessionEnded) {
        let was_current = self
            .sessions
            .get(&ended.user)
            .is_some_and(|s| s.generation == ended.generation);
        self.forget_session(&ended.user, ended.generation);
        let leftovers = ended.leftovers();
        if was_current {
            // Probes at the next login teach the contacts again; keep nothing for nobody.
            self.contacts.remove(&ended.user);
            self.mode.session_ended(&ended.user);
        }
        if !self.mode.registrations_log_in() {
            // No probes and no relogins in server mode: clients log in again themselves.
            self.relogin.remove(&ended.user);
            let refusal = Refusal::cancel(
                "recipient-unavailable",
                "Your legacy session ended before this was sent; log in again.",
            );
            self.bounce_leftovers(leftovers, refusal).await;
            return;
        }
        if self.relogin.remove(&ended.user) {
            // The user's answer to this probe logs them in with their new details.
            let probe = xmpp_parsers::presence::Presence::probe()
                .with_from(self.domain_jid.clone())
                .with_to(Jid::from(ended.user.clone()));
            self.send(probe.into()).await;
        }
        // Stanzas the session never read are handled afresh: a presence that arrived while
        // it was logging out starts a new login, a message gets a new session or a bounce.
        for mut input in leftovers {
            let read_at = input.read_at();
            let handled = input.take_handled();
            if let Some(stanza) = input.into_stanza() {
                Box::pin(self.handle(stanza, read_at, handled)).await;
            }
        }
    }

    /// Ends `user`'s session with `reason`. With `relogin`, probes the user once it is over,
    /// so their answer logs them in again: never two sessions of one user at once.
    pub(crate) async fn end_session(&mut self, user: &BareJid, reason: &str, relogin: bool) {
        if relogin && self.mode.registrations_log_in() {
            self.relogin.insert(user.clone());
        }
        let Some(handle) = self.sessions.get_mut(user) else {
            if self.relogin.remove(user) {
                let probe = xmpp_parsers::presence::Presence::probe()
                    .with_from(self.domain_jid.clone())
                    .with_to(Jid::from(user.clone()));
                self.send(probe.into()).await;
            }
            return;
        };
        if handle.ending {
            return;
        }
        handle.ending = true;
        let tx = handle.tx.clone();
        let logout = SessionInput::Logout {
            reason: reason.to_owned(),
        };
        if let Err(tokio::sync::mpsc::error::TrySendError::Full(logout)) = tx.try_send(logout) {
            // Once per ending session: wait for room without holding up the domain.
            tokio::spawn(
                async move {
                    let _ = tx.send(logout).await;
                }
                .in_current_span(),
            );
        }
    }

    /// Offers `input` to `user`'s session without waiting: one stalled session (a slow legacy
    /// server) must never stall every other user of the domain.
    pub(crate) fn offer(&self, user: &BareJid, input: SessionInput) -> Offer {
        use tokio::sync::mpsc::error::TrySendError;
        match self.sessions.get(user) {
            None => Offer::NoSession(Box::new(input)),
            Some(handle) => match handle.tx.try_send(input) {
                Ok(()) => Offer::Taken,
                Err(TrySendError::Full(input)) => Offer::Busy(Box::new(input)),
                Err(TrySendError::Closed(input)) => Offer::NoSession(Box::new(input)),
            },
        }
    }

    pub(super) fn forget_session(&mut self, user: &BareJid, generation: u64) {
        if self
            .sessions
            .get(user)
            .is_some_and(|s| s.generation == generation)
        {
            self.sessions.remove(user);
            self.control.presences.remove(user);
            self.held_presences.remove(user);
        }
    }

    /// Refuses the messages and iqs an ended session never read (presences need no answer).
    pub(super) async fn bounce_leftovers(&self, leftovers: Vec<SessionInput>, refusal: Refusal) {
        for input in leftovers {
            if let Some(stanza) = input.into_stanza()
                && matches!(stanza.name(), "message" | "iq")
            {
                self.refuse(&stanza, refusal.clone()).await;
            }
        }
    }

    /// Starts a session for `user` (replacing a finished one); `always_online`: the user's
    /// choice, if they made one (else the policy's default); `resume`: started by the
    /// gateway with no client, to stay online while away (`session/away.rs`).
    pub(crate) fn start_session(
        &mut self,
        user: BareJid,
        account: crate::legacy::LegacyAccount,
        (registration, always_online, resume): (Option<i64>, Option<bool>, bool),
    ) -> SessionHandle {
        self.next_generation += 1;
        // Their presence came (or the gateway logs them in by itself): no subscription
        // request of theirs is pending any more (`reconcile.rs`, `probe_registered`).
        self.subscribing.remove(&user);
        let always_online = always_online.unwrap_or(self.policy.always_online_default);
        let handle = crate::session::spawn(
            self.session_ctx.clone(),
            user.clone(),
            account,
            self.next_generation,
            (registration, always_online, resume),
        );
        if let Some(contacts) = self.contacts.get(&user) {
            // A fresh inbox has room for this one input: the session follows them first.
            let _ = handle.tx.try_send(SessionInput::AddContacts {
                contacts: contacts.iter().cloned().collect(),
            });
        }
        self.control
            .presences
            .insert(user.clone(), handle.status.clone());
        self.sessions.insert(user, handle.clone());
        handle
    }
}
