//! What the legacy session tells the session ([`LegacyEvent`]), turned into stanzas and
//! state: login, outages, messages, rooms, contacts' presence.

use jid::Jid;
use tracing::{info, warn};
use xmpp_parsers::presence::Type as PresenceType;

use super::*;
use contacts::SENT_ELSEWHERE;

impl Session {
    /// The legacy login failed (`temporary`: the network could not be reached); the
    /// session is over. Returns true.
    pub(super) async fn on_login_failed(&mut self, reason: String, temporary: bool) -> bool {
        warn!(%reason, temporary, "legacy login failed");
        ServiceCounters::bump(&self.ctx.counters.login_failures);
        let text = format!("Login to {} failed: {reason}", self.ctx.display_name);
        self.status.set_last_error(&text);
        self.answer_logins(|| {
            if temporary {
                crate::server::LoginOutcome::TemporaryFailure(text.clone())
            } else {
                crate::server::LoginOutcome::NotAuthorized(text.clone())
            }
        });
        self.fail_outbox(&text).await;
        for room in self.rooms.keys().cloned().collect::<Vec<_>>() {
            self.on_room_join_failed(room, crate::legacy::RoomError::Other, text.clone())
                .await;
        }
        self.notice(&text).await;
        let mut p = self.presence(PresenceType::Error);
        p.payloads.push(
            xmpp_parsers::stanza_error::StanzaError::new(
                xmpp_parsers::stanza_error::ErrorType::Auth,
                xmpp_parsers::stanza_error::DefinedCondition::NotAuthorized,
                "en",
                text.clone(),
            )
            .into(),
        );
        self.to_resources(p, None).await;
        true
    }

    /// Returns true when the session is over.
    /// `sent_at`: when the legacy session handed the event over, for the latency.
    pub(super) async fn on_event(
        &mut self,
        event: LegacyEvent,
        sent_at: crate::channel::Stamp,
    ) -> bool {
        let mut event = event;
        if let LegacyEvent::Message {
            attachments, body, ..
        }
        | LegacyEvent::RoomMessage {
            attachments, body, ..
        } = &mut event
        {
            crate::media::expose(
                self.ctx.media.as_ref(),
                &self.ctx.transport_name,
                self.user.as_str(),
                attachments,
                body,
            );
        }
        match event {
            LegacyEvent::Connected if self.reconnecting && self.state == LegacyState::Online => {
                // The transport told the user about the outage and the return itself; the
                // transport's presence, away during it, is available again.
                info!("connected to the legacy network again");
                self.reconnecting = false;
                ServiceCounters::bump(&self.ctx.counters.legacy_reconnects);
                self.status.set_state(SessionState::Online);
                if !self.resources.is_empty() {
                    self.send(Element::from(self.presence(PresenceType::None)))
                        .await;
                }
                self.load_held().await;
                false
            }
            LegacyEvent::Connected => {
                info!("logged in to the legacy network");
                if self.reconnecting {
                    // The connection dropped during the login and is back.
                    ServiceCounters::bump(&self.ctx.counters.legacy_reconnects);
                }
                self.state = LegacyState::Online;
                self.reconnecting = false;
                self.status.set_state(SessionState::Online);
                self.record_login();
                // A refused login leaves nothing to serve (its client never binds).
                if self.answer_logins_online() && self.unused() {
                    return self.logout("Unchecked login refused").await;
                }
                if !self.resources.is_empty() {
                    self.send(Element::from(self.presence(PresenceType::None)))
                        .await;
                }
                self.load_held().await;
                // Started by the gateway with no client (always online, after a restart).
                if std::mem::take(&mut self.away.resume) {
                    return !self.resume_away().await
                        && self.logout("No place to stay online while away").await;
                }
                false
            }
            LegacyEvent::Reconnecting { reason } => {
                info!(%reason, "legacy connection lost; the transport is reconnecting");
                self.status
                    .set_last_error(&format!("Connection lost: {reason}"));
                // The transport's contact shows the outage in the user's roster: away,
                // with the reason, until `Connected`.
                if self.state == LegacyState::Online && !self.resources.is_empty() {
                    let mut away = self.presence(PresenceType::None);
                    away.show = Some(xmpp_parsers::presence::Show::Xa);
                    away.set_status("", format!("Reconnecting: {reason}"));
                    self.send(Element::from(away)).await;
                }
                // Counted when the connection is back (`Connected`), once per outage.
                self.reconnecting = true;
                self.status.set_state(SessionState::Reconnecting);
                false
            }
            LegacyEvent::Authenticated => {
                self.authenticated = true;
                false
            }
            LegacyEvent::Backlog { waiting } => {
                self.on_backlog(waiting);
                false
            }
            LegacyEvent::Settled { receipt } => {
                self.ctx.outbox.settle(receipt).await;
                false
            }
            LegacyEvent::SecretConsumed => {
                self.forget_secret();
                false
            }
            LegacyEvent::LoginFailed { reason } => self.on_login_failed(reason, false).await,
            LegacyEvent::Unreachable { reason } => self.on_login_failed(reason, true).await,
            LegacyEvent::Disconnected { reason } => {
                let text = format!("Disconnected from {}: {reason}", self.ctx.display_name);
                self.status.set_last_error(&text);
                self.end_with_notice(&text).await;
                true
            }
            LegacyEvent::Message {
                from,
                body,
                kind,
                id,
                reply_to,
                thread,
                attachments,
                time,
                by_user,
            } => {
                // Boxed: rare, and store look-ups inlined in the session task's future.
                let related = match (reply_to, thread) {
                    (None, None) => Vec::new(),
                    (reply_to, thread) => {
                        Box::pin(self.related_elements(&from, reply_to, thread, false)).await
                    }
                };
                if let Some((jid, through_room)) = self.private_sender(&from) {
                    self.ctx.counters.message_to_xmpp(sent_at.instant());
                    // The id clients name this message by (XEP-0359 origin-id, and the
                    // stanza's id): the network's id where it has one.
                    let xmpp_id = crate::ids::stanza_id_for(id.as_deref());
                    let stamped = crate::legacy::ClientIds {
                        id: Some(xmpp_id.clone()),
                        origin_id: Some(xmpp_id.clone()),
                    };
                    self.remember_message(
                        &from,
                        &from,
                        id.as_deref().unwrap_or(&xmpp_id),
                        crate::verbs::id_map::direct_ids(&stamped),
                    );
                    let mut body = crate::inbound::action::body(kind, &body);
                    let mut payloads = related;
                    payloads.extend(attachments.iter().flat_map(crate::inbound::oob::elements));
                    if through_room {
                        payloads.push(crate::muc::private_marker());
                    }
                    payloads.extend(time.and_then(|t| stanza::delay(&t)));
                    // Sent by the user elsewhere: as theirs in server mode and where their
                    // server lets the gateway, else from the contact, said to be theirs.
                    let server_mode = self.ctx.ends_with_login;
                    let granted = self.sent_as_user(by_user && !server_mode);
                    let user = Jid::from(self.user.clone());
                    let via = match &granted {
                        Some(granted) => Some(crate::render::SentVia::Host(granted)),
                        None if by_user && server_mode => Some(crate::render::SentVia::Carbon),
                        None => None,
                    };
                    let (from_jid, chat) = match via {
                        Some(via) => (&user, crate::render::Chat::Sent(&jid, via)),
                        None => {
                            if by_user {
                                body = format!("{SENT_ELSEWHERE}{body}").into();
                            }
                            (&jid, crate::render::Chat::Direct(&from))
                        }
                    };
                    self.show(crate::render::Shown {
                        from: from_jid,
                        chat,
                        nick: None,
                        ids: &crate::legacy::ClientIds::none(),
                        id: Some(&xmpp_id),
                        body: Some(&body),
                        payloads,
                    })
                    .await;
                }
                false
            }
            LegacyEvent::RoomJoined {
                room,
                name,
                nick,
                occupants,
                subject,
            } => {
                self.on_room_joined(room, name, nick, occupants, subject)
                    .await;
                false
            }
            LegacyEvent::RoomJoinFailed { room, error, text } => {
                self.status
                    .set_last_error(&format!("Joining {room} failed: {text}"));
                self.on_room_join_failed(room, error, text).await;
                self.idle() && self.logout("No rooms left").await
            }
            LegacyEvent::OccupantUpdated { room, occupant } => {
                self.on_occupant_updated(room, occupant).await;
                false
            }
            LegacyEvent::OccupantLeft {
                room,
                nick,
                kind,
                reason,
            } => {
                self.on_occupant_left(room, nick, kind, reason).await;
                self.idle() && self.logout("No rooms left").await
            }
            LegacyEvent::OccupantRenamed { room, old, new } => {
                self.on_occupant_renamed(room, old, new).await;
                false
            }
            event @ LegacyEvent::RoomMessage { .. } => {
                self.on_room_message(event, sent_at).await;
                false
            }
            LegacyEvent::RoomSubject {
                room,
                nick,
                subject,
            } => {
                self.on_room_subject(room, nick, subject).await;
                false
            }
            LegacyEvent::RoomNotice { room, text } => {
                self.on_room_notice(room, text).await;
                false
            }
            LegacyEvent::Verbs { network, verbs } => {
                self.set_verbs(network, verbs);
                false
            }
            LegacyEvent::Reaction {
                chat,
                author,
                target,
                emoji,
                removed,
            } => {
                self.on_reaction(chat, author, target, emoji, removed).await;
                false
            }
            LegacyEvent::ChatState {
                chat,
                author,
                state,
            } => {
                self.on_chat_state(chat, author, state).await;
                false
            }
            LegacyEvent::Corrected {
                chat,
                author,
                target,
                body,
                kind,
            } => {
                Box::pin(self.on_corrected(chat, author, target, body, kind)).await;
                false
            }
            LegacyEvent::Retracted {
                chat,
                author,
                target,
                moderator,
                reason,
            } => {
                Box::pin(self.on_retracted(chat, author, target, moderator, reason)).await;
                false
            }
            LegacyEvent::Receipt {
                chat,
                author,
                target,
                receipt,
            } => {
                Box::pin(self.on_receipt(chat, author, target, receipt)).await;
                false
            }
            LegacyEvent::ContactList { contacts } => {
                Box::pin(self.on_contact_list(contacts)).await;
                false
            }
            LegacyEvent::ContactUpdated { contact } => {
                Box::pin(self.on_contact_updated(contact)).await;
                false
            }
            LegacyEvent::ContactRemoved { contact } => {
                Box::pin(self.on_contact_removed(contact)).await;
                false
            }
            LegacyEvent::MemberOf { rooms } => {
                Box::pin(self.on_member_of(rooms)).await;
                false
            }
            LegacyEvent::RoomSendFailed {
                room,
                ids,
                error,
                reason,
            } => {
                self.status
                    .set_last_error(&format!("A message to {room} failed: {reason}"));
                self.on_room_send_failed(room, ids, error, reason).await;
                false
            }
            LegacyEvent::Invited { room, by, reason } => {
                Box::pin(self.on_invited(room, by, reason)).await;
                false
            }
            LegacyEvent::VerbRefused {
                chat,
                target,
                reason,
            } => {
                Box::pin(self.on_verb_refused(chat, target, reason)).await;
                false
            }
            LegacyEvent::MessageSent { to, id, legacy_id } => {
                // The network's id now names the user's message too, by each id its
                // client knows it by (a retraction names the origin-id).
                let origin_id = self
                    .sent
                    .iter()
                    .rev()
                    .find(|(i, _, _)| *i == id)
                    .and_then(|(_, _, o)| o.clone());
                let ids = crate::legacy::ClientIds {
                    id: Some(id),
                    origin_id,
                };
                let xmpp_ids = crate::verbs::id_map::direct_ids(&ids);
                self.remember_own_message(&to, "", &legacy_id, xmpp_ids);
                false
            }
            LegacyEvent::SendFailed { to, id, reason } => {
                self.status
                    .set_last_error(&format!("A message to {to} failed: {reason}"));
                // The resource that sent it; else any online one (a bare JID would be dropped).
                let sender = id
                    .as_ref()
                    .and_then(|id| self.sent.iter().rev().find(|(i, _, _)| i == id))
                    .map(|(_, from, _)| from.clone())
                    .or_else(|| self.resources.keys().next().cloned())
                    .unwrap_or_else(|| Jid::from(self.user.clone()));
                if let Some((jid, _)) = self.private_sender(&to) {
                    let mut m = xmpp_parsers::message::Message::error(Some(sender));
                    m.from = Some(jid);
                    m.id = id.map(xmpp_parsers::message::Id);
                    m.payloads.push(
                        xmpp_parsers::stanza_error::StanzaError::new(
                            xmpp_parsers::stanza_error::ErrorType::Wait,
                            xmpp_parsers::stanza_error::DefinedCondition::RecipientUnavailable,
                            "en",
                            reason,
                        )
                        .into(),
                    );
                    self.send(Element::from(m)).await;
                }
                false
            }
            LegacyEvent::ContactPresence {
                contact,
                availability,
                status,
            } => {
                if let Some(known) = self.contacts.get_mut(&contact) {
                    known.presence = Some((availability, status.clone()));
                }
                self.send_contact_presence(&contact, availability, status, None)
                    .await;
                false
            }
            LegacyEvent::RoomList { request, rooms } => {
                self.on_room_list(request, rooms).await;
                false
            }
            LegacyEvent::RoomListFailed { request, text } => {
                self.on_room_list_failed(request, text).await;
                false
            }
            LegacyEvent::Notice { text } => {
                self.notice(&text).await;
                false
            }
            LegacyEvent::RoomConfig { request, config } => {
                self.on_room_config(request, config).await;
                false
            }
            LegacyEvent::BanList { request, masks } => {
                self.on_ban_list(request, masks).await;
                false
            }
            LegacyEvent::LookedUp { request, details } => {
                self.on_looked_up(request, details).await;
                false
            }
            LegacyEvent::NetworkNotice { network, text } => {
                self.network_notice(&network, &text).await;
                false
            }
        }
    }
}

impl Session {
    /// Stores when the user's registration last logged in (for the operator's lists), in
    /// its own task: the session does not wait on the store, and a failure costs only the
    /// timestamp. A session without a registration (server mode, anonymous) changes no row.
    fn record_login(&self) {
        let store = self.ctx.store.clone();
        let transport = self.ctx.transport_name.clone();
        let user = self.user.to_string();
        tokio::spawn(async move {
            if let Err(e) = store.record_login(&user, &transport).await {
                debug!(error = %e, "the last login time was not stored");
            }
        });
    }

    /// Deletes the password stored with the user's registration, in its own task like
    /// [`Session::record_login`]. Server mode stores none, and the update changes no row.
    fn forget_secret(&self) {
        let store = self.ctx.store.clone();
        let transport = self.ctx.transport_name.clone();
        let user = self.user.to_string();
        tokio::spawn(async move {
            match store.forget_registration_secret(&user, &transport).await {
                Ok(()) => info!(
                    "the registration's password is deleted; the transport keeps its own token"
                ),
                Err(e) => warn!(error = %e, "the registration's password could not be deleted"),
            }
        });
    }
}
