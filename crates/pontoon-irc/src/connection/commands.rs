//! What the session asks a connection ([`ConnCommand`]): join, part, say, topic, nick, away,
//! follow contacts, list channels, quit.

use super::*;

impl Conn {
    /// Handles a command from the session. Returns true when the connection should end
    /// now (a quit while not connected).
    pub(super) fn on_command(&mut self, cmd: ConnCommand) -> bool {
        match cmd {
            ConnCommand::Tracked { receipt, command } => {
                let queued = self.user_q.len();
                let quit = self.on_command(*command);
                // The message's last line carries the receipt, settled once written.
                let grew = self.user_q.len() > queued;
                match self.user_q.back_mut() {
                    Some(last) if grew && last.message => last.receipt = Some(receipt),
                    // Not queued (refused, and said so): done with it.
                    _ => self.emit(LegacyEvent::Settled { receipt }),
                }
                quit
            }
            ConnCommand::Quit(reason) => {
                if !self.registered {
                    return true;
                }
                self.queue_quit(&reason);
                false
            }
            ConnCommand::Raw(line) => {
                self.send_raw(line);
                false
            }
            ConnCommand::Describe => {
                self.describe();
                false
            }
            ConnCommand::Whois { to, nick } => {
                self.look_up(to, nick);
                false
            }
            ConnCommand::ListBans { to, chan } => {
                self.list_bans(to, chan);
                false
            }
            ConnCommand::Mode { chan, words } => {
                self.change_modes(&chan, &words);
                false
            }
            ConnCommand::Unban { chan, mask } => {
                self.unban(&chan, &mask);
                false
            }
            ConnCommand::GetModes { to, chan } => {
                self.get_modes(to, chan);
                false
            }
            ConnCommand::SetModes { chan, config } => {
                self.set_modes(&chan, &config);
                false
            }
            ConnCommand::SetRole { chan, nick, role } => {
                self.set_role(&chan, &nick, role);
                false
            }
            ConnCommand::Kick {
                chan,
                nick,
                reason,
                ban,
            } => {
                self.kick(&chan, &nick, reason.as_deref(), ban);
                false
            }
            ConnCommand::Join { chan, key } => {
                self.join(chan, key);
                false
            }
            ConnCommand::Part { chan, reason } => {
                let fold = self.isupport.fold(&chan);
                let room = match self.channels.remove(&*fold) {
                    Some(c) => {
                        if self.registered
                            && !self.queue_control(line::build(
                                "PART",
                                &[&c.name],
                                reason.as_deref(),
                            ))
                        {
                            let text = format!(
                                "Too many lines are waiting to be sent to {}; {} may not have been left on IRC.",
                                self.host_name(),
                                c.name
                            );
                            self.notice(text);
                        } else if self.registered {
                            self.part_sent(&fold);
                        }
                        c.room
                    }
                    None => self.room_id(&chan),
                };
                self.emit(LegacyEvent::OccupantLeft {
                    room,
                    nick: self.nick.to_string(),
                    kind: LeaveKind::Part,
                    reason,
                });
                false
            }
            ConnCommand::RoomMessage {
                chan,
                body,
                kind,
                ids,
                reply_to,
            } => {
                let fold = self.isupport.fold(&chan);
                if !self.channels.contains_key(&*fold) {
                    let room = self.room_id(&chan);
                    self.emit(if ids.is_empty() {
                        LegacyEvent::RoomNotice {
                            room,
                            text: format!("You are not in {chan}; message not sent: {body}"),
                        }
                    } else {
                        LegacyEvent::RoomSendFailed {
                            room,
                            ids,
                            error: SendError::Unreachable,
                            reason: format!("you are not in {chan}"),
                        }
                    });
                    return false;
                }
                let text = Text {
                    body,
                    kind,
                    reply_to,
                };
                self.queue_message(MsgTarget::Room(fold), &chan, text, ids);
                false
            }
            ConnCommand::Private {
                nick,
                body,
                kind,
                id,
                reply_to,
            } => {
                let ids = ClientIds {
                    id,
                    origin_id: None,
                };
                let text = Text {
                    body,
                    kind,
                    reply_to,
                };
                self.queue_message(MsgTarget::Private(nick.clone()), &nick, text, ids);
                false
            }
            ConnCommand::Tagmsg { target, tags } => {
                // Reactions and typing need message-tags; a hint past the queue's bound is
                // dropped (a reaction's refusal would have nowhere useful to go).
                if self.registered
                    && self.neg.enabled("message-tags")
                    && self.user_q.len() < MAX_QUEUED_LINES
                {
                    let tags: Vec<(&str, &str)> =
                        tags.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    self.user_q.push_back(Out {
                        line: line::build_tagged(&tags, "TAGMSG", &[&target], None),
                        message: false,
                        info: None,
                        receipt: None,
                    });
                }
                false
            }
            ConnCommand::Topic { chan, topic } => {
                let fold = self.isupport.fold(&chan);
                if self.registered && self.channels.contains_key(&*fold) {
                    if !self.queue_control(line::build("TOPIC", &[&chan], Some(&topic))) {
                        self.room_notice(
                            &fold,
                            "Too many lines are waiting to be sent; the topic was not changed."
                                .to_owned(),
                        );
                    }
                } else {
                    self.room_notice(
                        &fold,
                        format!("Not connected to {chan}; the topic was not changed.",),
                    );
                }
                false
            }
            ConnCommand::Invite { nick, chan } => {
                let fold = self.isupport.fold(&chan);
                if self.registered && self.channels.contains_key(&*fold) {
                    if !self.queue_control(line::build("INVITE", &[&nick, &chan], None)) {
                        self.room_notice(
                            &fold,
                            format!(
                                "Too many lines are waiting to be sent; {nick} was not invited."
                            ),
                        );
                    }
                } else {
                    self.room_notice(
                        &fold,
                        format!("Not connected to {chan}; {nick} was not invited."),
                    );
                }
                false
            }
            ConnCommand::Nick { chan, nick } => {
                if self.registered {
                    let room = chan.map(|c| self.isupport.fold(&c));
                    if self.queue_control(line::build("NICK", &[&nick], None)) {
                        self.pending_nick_room = room;
                    } else {
                        let text =
                            "Too many lines are waiting to be sent; the nick was not changed."
                                .to_owned();
                        match room {
                            Some(fold) => self.room_notice(&fold, text),
                            None => self.notice(text),
                        }
                    }
                } else {
                    self.wanted_nick = nick.as_str().into();
                    let text = format!(
                        "Not connected to {}; you will be {nick} once reconnected.",
                        self.host_name()
                    );
                    match chan {
                        Some(c) => {
                            let fold = self.isupport.fold(&c);
                            self.room_notice(&fold, text);
                        }
                        None => self.notice(text),
                    }
                }
                false
            }
            ConnCommand::Away(away) => {
                // Coalesced: at most one AWAY waits, saying the status of its turn.
                let change = self.away.set(away, self.registered);
                if change == crate::away::Change::Queue
                    && !self.queue_control(AWAY_MARKER.to_owned())
                {
                    self.away.not_queued();
                    let text = format!(
                        "Too many lines are waiting to be sent to {}; your away status there was not updated.",
                        self.host_name()
                    );
                    self.notice(text);
                }
                false
            }
            ConnCommand::Watch(nick) => {
                if self.watch.add(&nick, &self.isupport) {
                    self.watch_changed();
                } else if self.watch.len() >= presence::MAX_WATCHED {
                    let text = format!(
                        "Not following {nick} on {}: at most {} contacts per server.",
                        self.host_name(),
                        presence::MAX_WATCHED
                    );
                    self.notice(text);
                }
                false
            }
            ConnCommand::Unwatch(nick) => {
                self.watch.remove(nick, &self.isupport);
                self.watch_changed();
                false
            }
            ConnCommand::List { request } => {
                self.list(request);
                false
            }
        }
    }

    /// Starts (or joins) a room listing for `request`.
    pub(super) fn list(&mut self, request: u64) {
        match &mut self.listing {
            Some(l) if l.waiters.len() >= directory::MAX_WAITERS => {
                self.emit(LegacyEvent::RoomListFailed {
                    request,
                    text: "too many room listings are waiting; try again later".to_owned(),
                });
            }
            Some(l) => l.waiters.push(request),
            None => {
                let mut l = Listing::new(request, Instant::now() + self.cfg.list_timeout);
                if self.registered {
                    if !self.queue_control("LIST".to_owned()) {
                        self.emit(LegacyEvent::RoomListFailed {
                            request,
                            text: "too many lines are waiting to be sent; try again later"
                                .to_owned(),
                        });
                        return;
                    }
                    l.sent = true;
                }
                self.listing = Some(Box::new(l));
            }
        }
    }
}
