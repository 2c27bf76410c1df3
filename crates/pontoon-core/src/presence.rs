//! Presence from users: subscriptions to the transport and its contacts, and availability,
//! which logs the user in to and out of the legacy network.
//!
//! Availability is coalesced: a presence that finds its session's inbox full is held by the
//! service, replacing any held one of the same resource, and handed over in order as the
//! inbox drains ([`Service::flush_held_presences`], at every tick). A client changing its
//! status thousands of times a second costs the session at most the latest of each
//! resource, and the last status always arrives; nothing waits one by one.

use crate::legacy::LegacyId;
use jid::Jid;
use minidom::Element;
use xmpp_parsers::presence::{Presence, Show, Type as PresenceType};

use crate::legacy::LegacyAccount;
use crate::policy::Action;
use crate::service::{Offer, Service, Target, busy};
use crate::session::SessionInput;
use crate::stanza::{Header, Refusal};

fn show_of(el: &Element) -> Option<Show> {
    match el.children().find(|c| c.name() == "show")?.text().as_str() {
        "away" => Some(Show::Away),
        "xa" => Some(Show::Xa),
        "dnd" => Some(Show::Dnd),
        "chat" => Some(Show::Chat),
        _ => None,
    }
}

fn status_of(el: &Element) -> Option<String> {
    el.children()
        .find(|c| c.name() == "status")
        .map(|s| s.text())
}

/// Most resources whose presence is held per user; beyond, the oldest held is replaced.
const MAX_HELD: usize = 16;

/// Holds `input` (a presence) behind those held already, replacing the one of the same
/// resource: only the latest of each resource is kept.
fn hold(held: &mut Vec<SessionInput>, input: SessionInput) {
    let from = match &input {
        SessionInput::Presence { from, .. } => from.clone(),
        _ => return,
    };
    held.retain(|h| !matches!(h, SessionInput::Presence { from: f, .. } if *f == from));
    if held.len() >= MAX_HELD {
        held.remove(0);
    }
    held.push(input);
}

impl Service {
    /// Hands held presences to their sessions, in order, as far as their inboxes have
    /// room; a user whose session ended meanwhile has them dropped (a new login starts
    /// from the client's next presence).
    pub(crate) fn flush_held_presences(&mut self) {
        let users: Vec<jid::BareJid> = self.held_presences.keys().cloned().collect();
        for user in users {
            let Some(mut held) = self.held_presences.remove(&user) else {
                continue;
            };
            let mut rest = held.drain(..);
            for input in rest.by_ref() {
                match self.offer(&user, input) {
                    Offer::Taken => {}
                    Offer::Busy(input) => {
                        let mut left = vec![*input];
                        left.extend(rest);
                        self.held_presences.insert(user.clone(), left);
                        break;
                    }
                    Offer::NoSession(_) => break,
                }
            }
        }
    }

    async fn reply_presence(&self, kind: PresenceType, from: Jid, to: &Jid) {
        let p = Presence::new(kind).with_from(from).with_to(to.clone());
        self.send(p.into()).await;
    }

    pub(crate) async fn on_presence(&mut self, el: Element, header: Header, target: Target) {
        let user = header.user().clone();
        if let Target::Room(room, nick) = target {
            self.on_room_presence(el, header, room, nick).await;
            return;
        }
        let to = match &target {
            Target::Domain => self.domain().clone(),
            Target::Contact(_) | Target::Room(..) | Target::Network(_) => el
                .attr("to")
                .and_then(|t| Jid::new(t).ok())
                .map(|j| Jid::from(j.to_bare()))
                .unwrap_or_else(|| self.domain().clone()),
        };
        let reply_to = Jid::from(user.clone());
        match header.kind.as_str() {
            "subscribe" => {
                let registered = self.is_user(&user).await;
                let kind = if registered {
                    PresenceType::Subscribed
                } else {
                    PresenceType::Unsubscribed
                };
                self.reply_presence(kind, to.clone(), &reply_to).await;
                if registered
                    && matches!(target, Target::Domain)
                    && self.sessions.contains_key(&user)
                {
                    self.send_current_presence(&reply_to).await;
                }
                if let (true, Target::Contact(contact)) = (registered, &target) {
                    self.follow_contact(&user, contact.clone(), reply_to.clone())
                        .await;
                }
            }
            "unsubscribe" | "unsubscribed" => {
                if let Target::Contact(contact) = &target {
                    self.unfollow_contact(&user, contact).await;
                    if header.kind == "unsubscribe" {
                        self.reply_presence(PresenceType::Unsubscribed, to, &reply_to)
                            .await;
                    }
                }
                // Removing the transport from the roster means leaving it (XEP-0100): the
                // user's server says `unsubscribe` (with `unsubscribed`). A lone
                // `unsubscribed` is no such word: it is also how a server answers a probe
                // before the subscription exists (RFC 6121 section 4.3.2), as when the
                // registered users are probed while one has just registered.
                if matches!(target, Target::Domain) && header.kind == "unsubscribe" {
                    if let Err(refusal) = self.unregister(&user).await {
                        tracing::warn!(user = %user, text = %refusal.text, "unregister failed");
                    }
                    self.flush_after_reply().await;
                }
            }
            "probe" => match &target {
                Target::Domain => self.send_current_presence(&header.from).await,
                Target::Contact(contact) => {
                    // Clients probe their contacts at login: the contact list, learned.
                    self.follow_contact(&user, contact.clone(), header.from.clone())
                        .await;
                }
                _ => {
                    self.reply_presence(PresenceType::Unavailable, to, &header.from)
                        .await
                }
            },
            "" | "unavailable" if matches!(target, Target::Domain) => {
                self.on_availability(el, header).await;
            }
            // Broadcast copies to contacts, subscribed acks and errors need nothing.
            _ => {}
        }
    }

    /// Whether `user` uses the transport: registered (component mode) or logged in
    /// (server mode).
    pub(crate) async fn is_user(&self, user: &jid::BareJid) -> bool {
        // A session means a registration (or, in server mode, a login): no store read on
        // the service loop for the users it serves right now.
        if !self.mode.registrations_log_in() || self.sessions.contains_key(user) {
            return self.sessions.contains_key(user);
        }
        matches!(
            self.store
                .registration(user.as_str(), &self.cfg.transport_name)
                .await,
            Ok(Some(_))
        )
    }

    /// Most contacts remembered per user.
    const MAX_CONTACTS: usize = 2000;

    /// Remembers that `user` follows `contact` and lets their session follow it; answers
    /// `reply_to` with what is known (unavailable until the network says otherwise).
    async fn follow_contact(&mut self, user: &jid::BareJid, contact: LegacyId, reply_to: Jid) {
        // Only users of the transport are remembered: a remote server probing from made-up
        // JIDs must not grow this map.
        let known = self.sessions.contains_key(user) || self.is_user(user).await;
        if known {
            let set = self.contacts.entry(user.clone()).or_default();
            if set.len() < Self::MAX_CONTACTS {
                set.insert(contact.clone());
            }
        }
        let input = SessionInput::AddContact {
            contact: contact.clone(),
            reply_to: reply_to.clone(),
        };
        if let Offer::Taken = self.offer(user, input) {
            return;
        }
        if let Ok(from) = crate::escape::legacy_jid(&contact, &self.cfg.domain, None) {
            self.reply_presence(PresenceType::Unavailable, from, &reply_to)
                .await;
        }
    }

    async fn unfollow_contact(&mut self, user: &jid::BareJid, contact: &LegacyId) {
        if let Some(set) = self.contacts.get_mut(user) {
            set.remove(contact);
        }
        let input = SessionInput::RemoveContact {
            contact: contact.clone(),
        };
        let _ = self.offer(user, input);
    }

    async fn send_current_presence(&self, to: &Jid) {
        let online = self
            .sessions
            .get(&to.to_bare())
            .is_some_and(|s| s.status.is_online());
        let mut p = if online {
            Presence::available()
        } else {
            Presence::unavailable()
        }
        .with_from(self.domain().clone())
        .with_to(to.clone());
        if online {
            p.payloads
                .extend(self.session_ctx.presence_payloads.iter().cloned());
        }
        self.send(p.into()).await;
    }

    async fn on_availability(&mut self, el: Element, header: Header) {
        let user = header.user().clone();
        let available = header.kind.is_empty();
        let input = SessionInput::Presence {
            from: header.from.clone(),
            available,
            show: show_of(&el),
            status: status_of(&el),
            stanza: el.clone(),
        };
        // An available presence with no session logs the user in, if they may.
        let needs_login = available;
        self.deliver_or_login(&el, user, input, needs_login, None)
            .await;
    }

    /// Hands `input` to the user's session; with none running and `login` set, starts one
    /// (with the user's registration, or the transport's anonymous account for `nick`)
    /// after the policy check, refusing `el` with a readable error otherwise.
    async fn deliver_or_login(
        &mut self,
        el: &Element,
        user: jid::BareJid,
        input: SessionInput,
        login: bool,
        anonymous_nick: Option<&str>,
    ) {
        if matches!(input, SessionInput::Presence { .. })
            && let Some(held) = self.held_presences.get_mut(&user)
        {
            // Presences are held already: this one goes behind them, in order.
            hold(held, input);
            self.flush_held_presences();
            return;
        }
        let input = match self.offer(&user, input) {
            Offer::Taken => return,
            Offer::Busy(input) if matches!(*input, SessionInput::Presence { .. }) => {
                hold(self.held_presences.entry(user).or_default(), *input);
                return;
            }
            Offer::Busy(_) => {
                self.refuse(el, busy()).await;
                return;
            }
            // No session, or it just ended: treat the input as a fresh one.
            Offer::NoSession(input) => *input,
        };
        if !login {
            return;
        }
        self.reload_policy().await;
        if let Err(refusal) = self.check(&user, Action::Use) {
            self.refuse(el, refusal).await;
            return;
        }
        if !self.mode.registrations_log_in() {
            // Server mode: sessions start only at login, with the password the user gave.
            let refusal = Refusal::auth(
                "not-authorized",
                "Your legacy session has ended; log in again.",
            );
            self.refuse(el, refusal).await;
            return;
        }
        let account = match self
            .store
            .registration(user.as_str(), &self.cfg.transport_name)
            .await
        {
            Ok(Some(reg)) => Some((
                LegacyAccount {
                    legacy_id: reg.legacy_id,
                    secret: reg.secret,
                    options: reg.options,
                },
                (Some(reg.updated_at), reg.always_online),
            )),
            Ok(None) => anonymous_nick
                .and_then(|n| self.transport.anonymous_account(n))
                .map(|a| (a, (None, Some(false)))),
            Err(e) => {
                let refusal = self.store_failure(e);
                self.refuse(el, refusal).await;
                return;
            }
        };
        let Some((account, registration)) = account else {
            let refusal = Refusal::auth(
                "registration-required",
                format!("Register with {} first.", self.cfg.domain),
            );
            self.refuse(el, refusal).await;
            return;
        };
        let (registration, always_online) = registration;
        let handle = self.start_session(user, account, (registration, always_online, false));
        let _ = handle.tx.send(input).await;
    }

    /// Presence to `room/nick`: a MUC join, nick change or leave.
    async fn on_room_presence(
        &mut self,
        el: Element,
        header: Header,
        room: LegacyId,
        nick: Option<String>,
    ) {
        let available = match header.kind.as_str() {
            "" => true,
            "unavailable" => false,
            _ => return,
        };
        let user = header.user().clone();
        if !available {
            let input = SessionInput::LeaveRoom {
                from: header.from.clone(),
                room,
            };
            if let Offer::Busy(_) = self.offer(&user, input) {
                self.refuse(&el, busy()).await;
            }
            return;
        }
        let Some(nick) = nick.filter(|n| !n.trim().is_empty()) else {
            self.refuse(
                &el,
                Refusal::modify("jid-malformed", "A nickname is required to join a room."),
            )
            .await;
            return;
        };
        let password = el
            .get_child("x", crate::muc::NS_MUC)
            .and_then(|x| x.children().find(|c| c.name() == "password"))
            .map(|p| p.text());
        let input = SessionInput::JoinRoom {
            from: header.from.clone(),
            room,
            nick: nick.clone(),
            password,
            stanza: el.clone(),
        };
        self.deliver_or_login(&el, user, input, true, Some(&nick))
            .await;
    }
}
