//! What the service hands a session ([`SessionInput`]): presences, messages, room joins,
//! commands, logouts.

use xmpp_parsers::presence::Type as PresenceType;

use super::*;

impl Session {
    /// Handles one input; returns true when the session is over.
    ///
    /// Each kind of input is its own boxed future, sized for what it does: the session
    /// boxes one per input, and a single `async fn` for all of them was as large as the
    /// largest (5.5 KB, for a presence or a logout) for every room message, which then
    /// went past the allocator's per-thread cache (1,032 bytes) and was copied whole.
    pub(super) fn on_input(
        &mut self,
        input: SessionInput,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + '_>> {
        use futures::FutureExt;
        match input {
            // A user's room message, the common input.
            SessionInput::RoomMessage {
                from,
                room,
                verb,
                stanza,
                read_at,
                handled,
            } => Box::pin(
                Session::reading(
                    read_at,
                    self.room_message(from, room, verb, stanza, handled),
                )
                .map(|()| false),
            ),
            // A user's message to a contact: its own future too (1,848 bytes against the
            // others' 4,624).
            SessionInput::Message {
                to,
                verb,
                via_room,
                stanza,
                read_at,
                handled,
            } => Box::pin(self.chat_message(to, verb, via_room, stanza, read_at, handled)),
            input => Box::pin(self.on_other_input(input)),
        }
    }

    /// A user's message (or correction, reaction...) to a contact: sent now, or held while
    /// the user is over their rate. `handled`, the client's acknowledgement, is dropped once
    /// the message is sent, kept or bounced.
    async fn chat_message(
        &mut self,
        to: LegacyId,
        verb: crate::inbound::Verb,
        via_room: Option<(LegacyId, String)>,
        stanza: Element,
        read_at: std::time::Instant,
        handled: Option<pontoon_xmpp::handled::Handled>,
    ) -> bool {
        if let Some((room, nick)) = via_room {
            self.note_private_conversation(&room, &nick);
        }
        let chat = crate::legacy::ChatId::Contact(to);
        if self.sends_now() {
            Session::reading(read_at, self.act(chat, verb, &stanza)).await;
        } else {
            // Boxed: rare (a user over their rate), and 1.9 KB of this future otherwise.
            Box::pin(self.hold(chat, &verb, &stanza)).await;
        }
        drop(handled);
        false
    }

    /// [`Session::on_input`] of every input but a user's message.
    async fn on_other_input(&mut self, input: SessionInput) -> bool {
        match input {
            SessionInput::Presence {
                from,
                available,
                show,
                status,
                stanza,
            } => {
                // The transport's presence answers a resource that is new, or that sends
                // the same presence again (a client back on the same resource): not every
                // status change, or a client flooding them would get one presence back per
                // change on every resource of the user.
                let mut answer = false;
                if available {
                    self.come_back().await;
                    if !self.resources.contains_key(&from)
                        && stanza
                            .get_child("c", "http://jabber.org/protocol/caps")
                            .is_some()
                    {
                        self.on_client_caps(&from).await;
                    }
                    let now = (show, status);
                    answer = self
                        .resources
                        .get(&from)
                        .is_none_or(|before| *before == now);
                    self.resources.insert(from.clone(), now);
                } else {
                    // A resource that goes offline leaves its rooms too: the server tells
                    // the rooms later, but by then the legacy session should already have
                    // quit with the user's message rather than parted room by room.
                    // Unless the user stays online while away: then the network keeps
                    // them in their rooms (`away.rs`).
                    let all = from.resource().is_none();
                    if all {
                        self.resources.clear();
                    } else {
                        self.resources.remove(&from);
                    }
                    let stay = self.resources.is_empty() && self.go_away().await;
                    let emptied = match (stay, all) {
                        (true, _) => {
                            self.vacate_rooms(if all { None } else { Some(&from) });
                            Vec::new()
                        }
                        (false, true) => self.forget_rooms(),
                        (false, false) => self.drop_resource_from_rooms(&from),
                    };
                    if self.idle() {
                        let reason = status.unwrap_or_else(|| "Logged out".to_owned());
                        return self.logout_to(&reason, Some(from)).await;
                    }
                    for room in emptied {
                        let _ = self
                            .legacy
                            .send(LegacyCommand::LeaveRoom { room, reason: None })
                            .await;
                    }
                }
                if self.resources.is_empty() {
                    // Only in rooms (joined without the transport in the roster), or a
                    // server-mode login whose clients are all unavailable: offline to the
                    // presence badge.
                    self.status.set_shown(crate::control::Shown::Offline, None);
                    return false;
                }
                self.update_legacy_presence().await;
                if answer && self.state == LegacyState::Online {
                    // So every client shows the transport online.
                    self.send(Element::from(self.presence(PresenceType::None)))
                        .await;
                }
                false
            }
            // Not sent here by `on_input`; handled by it if they were.
            input @ (SessionInput::Message { .. } | SessionInput::RoomMessage { .. }) => {
                self.on_input(input).await
            }
            SessionInput::Command { name, args } => {
                if self.state == LegacyState::Online {
                    let _ = self
                        .legacy
                        .send(LegacyCommand::UserCommand { name, args })
                        .await;
                } else {
                    self.notice("You are not logged in yet; try again in a moment.")
                        .await;
                }
                false
            }
            SessionInput::Logout { reason } => self.logout(&reason).await,
            SessionInput::ClientsGone => {
                // Server mode: the user's last client disconnected.
                if self.go_away().await {
                    return false;
                }
                info!("the user's last client is gone: logging out");
                self.logout("Logged out").await
            }
            SessionInput::AlwaysOnline { on } => self.set_always_online(on).await,
            SessionInput::AwaitLogin {
                reply,
                require_checked,
            } => {
                if self.state == LegacyState::Online {
                    let _ = reply.send(self.login_outcome(require_checked));
                } else {
                    self.login_waiters.push((reply, require_checked));
                }
                false
            }
            SessionInput::AddContact { contact, reply_to } => {
                self.add_contact(contact, reply_to).await;
                false
            }
            SessionInput::AddContacts { contacts } => {
                for contact in contacts {
                    self.follow_silently(contact).await;
                }
                false
            }
            SessionInput::RemoveContact { contact } => {
                if self.contacts.remove(&contact).is_some() {
                    let _ = self
                        .legacy
                        .send(LegacyCommand::RemoveContact { contact })
                        .await;
                }
                false
            }
            SessionInput::Bookmarks { choice } => {
                self.on_bookmarks_command(choice).await;
                false
            }
            SessionInput::SyncContacts => {
                self.sync_contacts().await;
                false
            }
            SessionInput::HostAnswer { stanza } => {
                self.on_host_answer(stanza).await;
                false
            }
            SessionInput::AvatarFetched {
                contact,
                reference,
                sha1,
            } => {
                self.on_avatar_fetched(contact, reference, sha1).await;
                false
            }
            SessionInput::Raw {
                network,
                line,
                stanza,
            } => {
                self.send_raw(network, line, stanza).await;
                false
            }
            SessionInput::Settings {
                scope,
                request,
                reply,
            } => {
                self.on_settings(scope, request, reply).await;
                false
            }
            SessionInput::ChatIq { chat, stanza } => {
                Box::pin(self.on_chat_iq(chat, stanza)).await;
                false
            }
            SessionInput::ListRooms {
                network,
                search,
                stanza,
            } => {
                self.list_rooms(network, search, stanza).await;
                false
            }
            SessionInput::JoinRoom {
                from,
                room,
                nick,
                password,
                stanza,
            } => {
                let history = crate::archive::history::HistoryRequest::of_join(&stanza);
                self.join_room(from, room, nick, (password, history)).await;
                false
            }
            SessionInput::LeaveRoom { from, room } => {
                self.leave_room(from, room).await;
                self.idle() && self.logout("Left the last room").await
            }
        }
    }
}
