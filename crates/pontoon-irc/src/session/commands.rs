//! What the core asks of the IRC session ([`LegacyCommand`]), dispatched to the connection
//! of the network each command is for.

use super::*;

/// Why a room's question was not asked.
const NOT_IN_CHANNEL: &str = "You are not in that channel.";

impl Session {
    /// A moderator's kick (or ban, `ban`) of `nick` in `room`, on the room's connection.
    async fn kick(&mut self, room: LegacyId, nick: String, reason: Option<String>, ban: bool) {
        let own = self.legacy_id.clone();
        match self.room_conn(&room) {
            Some((key, chan)) => {
                let kick = ConnCommand::Kick {
                    chan,
                    nick,
                    reason,
                    ban,
                };
                self.send_to(&key, &own, kick).await;
            }
            None => self.emit(LegacyEvent::RoomNotice {
                room,
                text: format!("You are not in this room; {nick} was not sent out."),
            }),
        }
    }

    /// Handles one command of the core. A room message, the common command, and a private
    /// message are each their own boxed future; every other command shares one
    /// (`on_other_command`): a single future for all of them was as large as the largest arm
    /// for every message (1.4 KB, past the allocator's per-thread cache of 1,032 bytes, and
    /// copied whole into its box).
    pub(super) fn on_command(
        &mut self,
        cmd: LegacyCommand,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        match cmd {
            LegacyCommand::SendRoomMessage {
                room,
                body,
                kind,
                ids,
                reply_to,
                attachments: _,
                thread: _,
            } => Box::pin(self.send_room_message(room, body, kind, ids, reply_to)),
            // A private message: its own future too (592 bytes against the others' 1,112).
            LegacyCommand::SendMessage {
                to,
                body,
                kind,
                id,
                reply_to,
                // IRC has no files (`Verbs::files` is false): the core writes their links
                // into the body.
                attachments: _,
                thread: _,
            } => Box::pin(self.send_private(to, body, kind, id, reply_to)),
            cmd => Box::pin(self.on_other_command(cmd)),
        }
    }

    /// A private message to `to`, a nick of one of the user's networks.
    async fn send_private(
        &mut self,
        to: LegacyId,
        body: String,
        kind: MessageKind,
        id: Option<String>,
        reply_to: Option<String>,
    ) {
        match self.contact_of(&to) {
            Some((key, nick)) => {
                let own = self.legacy_id.clone();
                let command = ConnCommand::Private {
                    nick,
                    body,
                    kind,
                    id,
                    reply_to,
                };
                self.send_to(&key, &own, command).await;
            }
            None => self.emit(LegacyEvent::SendFailed {
                to,
                id,
                reason: "that is not an IRC nick".to_owned(),
            }),
        }
    }

    /// [`Session::on_command`] of every command but a room or private message.
    async fn on_other_command(&mut self, cmd: LegacyCommand) {
        let own = self.legacy_id.clone();
        match cmd {
            LegacyCommand::Tracked { receipt, command } => {
                // The connection the message goes to settles it (`send_to`); one that goes
                // nowhere (refused, and said so) is settled here.
                self.tracking = std::num::NonZeroU64::new(receipt);
                self.on_command(*command).await;
                if let Some(receipt) = self.tracking.take() {
                    self.emit(LegacyEvent::Settled {
                        receipt: receipt.get(),
                    });
                }
            }
            // Not sent here by `on_command`; handled by it if they were.
            cmd @ (LegacyCommand::SendMessage { .. } | LegacyCommand::SendRoomMessage { .. }) => {
                self.on_command(cmd).await
            }
            LegacyCommand::JoinRoom {
                room,
                nick,
                password,
            } => match self.channel_of(&room) {
                Some((key, chan)) => {
                    // The room password the client gave, else the key the user keeps.
                    let password = password.filter(|p| !p.is_empty()).or_else(|| {
                        let values = self.rooms.as_deref()?.network(room.as_ref())?;
                        values.get(crate::settings::KEY).cloned()
                    });
                    let join = ConnCommand::Join {
                        chan,
                        key: password,
                    };
                    self.send_to(&key, &nick, join).await;
                }
                None => self.emit(LegacyEvent::RoomJoinFailed {
                    room,
                    error: pontoon_core::legacy::RoomError::NotFound,
                    text: "that is not an IRC channel".to_owned(),
                }),
            },
            LegacyCommand::LeaveRoom { room, reason } => match self.room_conn(&room) {
                Some((key, chan)) => {
                    self.send_to(&key, &own, ConnCommand::Part { chan, reason })
                        .await;
                }
                None => self.emit(LegacyEvent::OccupantLeft {
                    room,
                    nick: own,
                    kind: LeaveKind::Part,
                    reason,
                }),
            },
            LegacyCommand::React {
                chat,
                target,
                added,
                removed,
            } => {
                let mut tags = Vec::new();
                for e in added {
                    tags.push(vec![("+draft/react", e), ("+draft/reply", target.clone())]);
                }
                for e in removed {
                    tags.push(vec![
                        ("+draft/unreact", e),
                        ("+draft/reply", target.clone()),
                    ]);
                }
                for t in tags {
                    self.send_tags(&chat, t).await;
                }
            }
            LegacyCommand::SetChatState { chat, state } => {
                let value = match state {
                    pontoon_core::legacy::ChatState::Composing => "active",
                    pontoon_core::legacy::ChatState::Paused => "paused",
                    pontoon_core::legacy::ChatState::Active => "done",
                };
                self.send_tags(&chat, vec![("+typing", value.to_owned())])
                    .await;
            }
            LegacyCommand::Invite { room, contact, .. } => {
                let nick = contact.name().to_owned();
                match self.room_conn(&room) {
                    Some((key, chan)) if contact.network() == room.network() => {
                        self.send_to(&key, &own, ConnCommand::Invite { nick, chan })
                            .await;
                    }
                    Some(_) => self.emit(LegacyEvent::RoomNotice {
                        room,
                        text: format!("{nick} is on another IRC server; not invited."),
                    }),
                    None => self.emit(LegacyEvent::RoomNotice {
                        room,
                        text: format!("You are not in this channel; {nick} was not invited."),
                    }),
                }
            }
            LegacyCommand::SetRole { room, nick, role } => match self.room_conn(&room) {
                Some((key, chan)) => {
                    self.send_to(&key, &own, ConnCommand::SetRole { chan, nick, role })
                        .await;
                }
                None => self.emit(LegacyEvent::RoomNotice {
                    room,
                    text: format!("You are not in this room; {nick}'s role was not changed."),
                }),
            },
            LegacyCommand::Kick { room, nick, reason } => {
                self.kick(room, nick, reason, false).await;
            }
            LegacyCommand::Ban { room, nick, reason } => {
                self.kick(room, nick, reason, true).await;
            }
            LegacyCommand::SetSubject { room, subject } => match self.room_conn(&room) {
                Some((key, chan)) => {
                    self.send_to(
                        &key,
                        &own,
                        ConnCommand::Topic {
                            chan,
                            topic: subject,
                        },
                    )
                    .await;
                }
                None => self.emit(LegacyEvent::RoomNotice {
                    room,
                    text: "You are not in this room; the topic was not changed.".to_owned(),
                }),
            },
            LegacyCommand::SetNick { room, nick } => {
                if !address::valid_nick(&nick) {
                    self.emit(LegacyEvent::RoomNotice {
                        room,
                        text: format!("{nick:?} is not a valid IRC nick."),
                    });
                    return;
                }
                match self.room_conn(&room) {
                    Some((key, chan)) => {
                        self.send_to(
                            &key,
                            &own,
                            ConnCommand::Nick {
                                chan: Some(chan),
                                nick,
                            },
                        )
                        .await;
                    }
                    None => self.emit(LegacyEvent::RoomNotice {
                        room,
                        text: "You are not in this room.".to_owned(),
                    }),
                }
            }
            LegacyCommand::SetPresence {
                availability,
                status,
            } => {
                let away = away_of(availability, status);
                if away != self.away {
                    self.away = away.clone();
                    let txs: Vec<channel::Sender<ConnCommand>> =
                        self.conns.values().map(|c| c.tx.clone()).collect();
                    for tx in txs {
                        let _ = tx.send(ConnCommand::Away(away.clone())).await;
                    }
                }
            }
            LegacyCommand::SettingsChanged { network, values } => {
                let key = self.settings_key(&network);
                self.settings.replace(&network, values);
                if key.as_ref().is_some_and(|k| self.conns.contains_key(k)) {
                    self.tell(
                        &network,
                        "You are connected there now: this applies from the next connection (your next login).".to_owned(),
                    );
                }
            }
            LegacyCommand::RoomSettingsChanged { room, values } => {
                let rooms = self.rooms.get_or_insert_with(Box::default);
                rooms.replace(room.as_ref(), values);
                let connected = self.room_conn(&room).is_some();
                if connected {
                    self.emit(LegacyEvent::RoomNotice {
                        room,
                        text: "The key applies when you next join; encodings from your next connection (your next login).".to_owned(),
                    });
                }
            }
            LegacyCommand::LookUp { request, contact } => {
                // A lookup opens no connection: without one, the network is not asked.
                let sent = match self.contact_of(&contact) {
                    Some((key, nick)) => {
                        let to = AnswerTo::Core(request);
                        let whois = ConnCommand::Whois { to, nick };
                        self.send_if_open(&key, whois).await
                    }
                    None => false,
                };
                if !sent {
                    self.emit(LegacyEvent::LookedUp {
                        request,
                        details: None,
                    });
                }
            }
            LegacyCommand::ListBans { request, room } => {
                let list = |chan| ConnCommand::ListBans {
                    to: AnswerTo::Core(request),
                    chan,
                };
                if !self.send_to_room(&room, list).await {
                    let masks = Err(NOT_IN_CHANNEL.to_owned());
                    self.emit(LegacyEvent::BanList { request, masks });
                }
            }
            LegacyCommand::GetRoomConfig { request, room } => {
                let read = |chan| ConnCommand::GetModes {
                    to: AnswerTo::Core(request),
                    chan,
                };
                if !self.send_to_room(&room, read).await {
                    let config = Err(NOT_IN_CHANNEL.to_owned());
                    self.emit(LegacyEvent::RoomConfig { request, config });
                }
            }
            LegacyCommand::SetRoomConfig { room, config } => {
                self.send_to_room(&room, |chan| ConnCommand::SetModes { chan, config })
                    .await;
            }
            LegacyCommand::Unban { room, mask } => {
                self.send_to_room(&room, |chan| ConnCommand::Unban { chan, mask })
                    .await;
            }
            LegacyCommand::DescribeConnection { network } => {
                let key = self.settings_key(&network);
                match key.and_then(|k| self.conns.get(&k).map(|c| c.tx.clone())) {
                    Some(tx) => {
                        let _ = tx.send(ConnCommand::Describe).await;
                    }
                    None => self.tell(
                        &network,
                        "Not connected to this network: join a room there or write to someone on it.".to_owned(),
                    ),
                }
            }
            LegacyCommand::Raw { network, line } => {
                match address::check_network(&self.cfg, &network) {
                    Ok(key) => self.send_to(&key, &own, ConnCommand::Raw(line)).await,
                    Err(e) => self.emit(LegacyEvent::Notice { text: e.0 }),
                }
            }
            // With one fixed server there is no network JID: `raw <command>` to the
            // transport is the same raw command.
            LegacyCommand::UserCommand { name, args }
                if self.cfg.fixed_server.is_some() && name.eq_ignore_ascii_case("raw") =>
            {
                match (crate::raw::check(&args), &self.cfg.fixed_server) {
                    (Ok(()), Some(f)) => {
                        let key = f.host.clone();
                        self.send_to(&key, &own, ConnCommand::Raw(args.trim().to_owned()))
                            .await;
                    }
                    (Err(e), _) => self.emit(LegacyEvent::Notice {
                        text: e.to_string(),
                    }),
                    (Ok(()), None) => {}
                }
            }
            LegacyCommand::UserCommand { name, .. } => {
                self.emit(LegacyEvent::Notice {
                    text: format!(
                        "Unknown command {name}. Join IRC channels as rooms (#channel{}) and message nicks as contacts.",
                        if self.cfg.fixed_server.is_some() { "" } else { "%server" }
                    ),
                });
            }
            LegacyCommand::AddContact { contact } => self.add_contact(contact).await,
            LegacyCommand::RemoveContact { contact } => {
                if let Some((key, nick)) = self.contact_of(&contact) {
                    let now_empty = self.watched.get_mut(&key).is_some_and(|w| {
                        w.remove(&nick);
                        w.is_empty()
                    });
                    if now_empty {
                        self.watched.remove(&key);
                    }
                    self.send_if_open(&key, ConnCommand::Unwatch(nick)).await;
                }
            }
            LegacyCommand::ListRooms {
                request, network, ..
            } => {
                let key = match (network, &self.cfg.fixed_server) {
                    (None, Some(f)) => Ok(f.host.clone()),
                    (None, None) => Err("name a network: this gateway reaches several, list the rooms of one (like irc.example.org)".to_owned()),
                    (Some(n), _) => address::check_network(&self.cfg, &n).map_err(|e| e.0),
                };
                match key {
                    Ok(key) => {
                        self.send_to(&key, &own, ConnCommand::List { request })
                            .await;
                    }
                    Err(text) => self.emit(LegacyEvent::RoomListFailed { request, text }),
                }
            }
            LegacyCommand::Disconnect { .. } => {}
            // A command of a newer vocabulary than this transport knows: said, not dropped.
            other => {
                debug!(command = ?other, "a command IRC does not carry");
                self.emit(LegacyEvent::Notice {
                    text: "IRC cannot carry that request; nothing was sent.".to_owned(),
                });
            }
        }
    }

    /// The connection key of the network a setting or `connection` command names
    /// ([`ONLY_NETWORK`]: the fixed server); `None` for one the user may not reach.
    fn settings_key(&self, network: &str) -> Option<String> {
        match (&self.cfg.fixed_server, network) {
            (Some(f), ONLY_NETWORK) => Some(f.host.clone()),
            (None, ONLY_NETWORK) | (Some(_), _) => None,
            (None, n) => address::check_network(&self.cfg, n).ok(),
        }
    }

    /// Text for the user from `network`'s JID (the transport's for [`ONLY_NETWORK`]).
    fn tell(&mut self, network: &str, text: String) {
        self.emit(if network == ONLY_NETWORK {
            LegacyEvent::Notice { text }
        } else {
            LegacyEvent::NetworkNotice {
                network: network.to_owned(),
                text,
            }
        });
    }

    /// Client tags (a TAGMSG) to the channel or nick `chat` names, on its server's
    /// connection; nothing where the user is not in the room or the id is not a nick.
    async fn send_tags(&mut self, chat: &ChatId, tags: Vec<(&'static str, String)>) {
        let own = self.legacy_id.clone();
        let target = match chat {
            ChatId::Room(room) => self.room_conn(room),
            ChatId::Contact(contact) => self.contact_of(contact),
        };
        if let Some((key, target)) = target {
            self.send_to(&key, &own, ConnCommand::Tagmsg { target, tags })
                .await;
        }
    }
}
