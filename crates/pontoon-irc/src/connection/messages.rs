//! Messages: the user's messages queued and written, their failures tied back to them, and
//! other users' messages and client tags (PRIVMSG, NOTICE, TAGMSG) turned into events.

use super::*;

impl Conn {
    /// Reports every queued user message as not delivered.
    pub(super) fn fail_queue(&mut self, reason: &str) {
        let queue = std::mem::take(&mut self.user_q);
        for out in queue {
            if let Some(info) = out.info {
                self.fail_message(*info, SendError::Unreachable, reason);
            }
            if let Some(receipt) = out.receipt {
                self.emit(LegacyEvent::Settled { receipt });
            }
        }
        self.note_backlog();
    }

    pub(super) fn fail_message(&mut self, info: MsgInfo, error: SendError, reason: &str) {
        match info.target {
            MsgTarget::Private(nick) => {
                let to = self.contact(&nick);
                self.emit(LegacyEvent::SendFailed {
                    to,
                    id: info.ids.id,
                    reason: reason.to_owned(),
                });
            }
            MsgTarget::Room(fold) => {
                self.fail_room_message(&fold, info.ids, info.body, error, reason)
            }
        }
    }

    /// A message to the channel `fold` was not taken: an error for it if the client gave it
    /// an id, else a notice in the room.
    pub(super) fn fail_room_message(
        &mut self,
        fold: &str,
        ids: ClientIds,
        body: String,
        error: SendError,
        reason: &str,
    ) {
        let room = self.channels.get(fold).map(|c| c.room.clone());
        match room {
            Some(room) if !ids.is_empty() => self.emit(LegacyEvent::RoomSendFailed {
                room,
                ids,
                error,
                reason: reason.to_owned(),
            }),
            _ => self.room_notice(fold, format!("Message not sent ({reason}): {body}")),
        }
    }

    pub(super) fn on_message_written(&mut self, info: MsgInfo) {
        match info.target {
            MsgTarget::Room(fold) => {
                let echo = self.neg.enabled("echo-message");
                let nick = self.nick.clone();
                let Some(chan) = self.channels.get_mut(&*fold) else {
                    return;
                };
                if echo {
                    chan.pending_echo.push_back(PendingEcho {
                        body: info.body,
                        kind: info.kind,
                        ids: info.ids,
                        remaining: info.pieces,
                    });
                } else {
                    let room = chan.room.clone();
                    chan.last_written.clone_from(&info.ids.id);
                    self.emit(LegacyEvent::RoomMessage {
                        room,
                        nick: nick.to_string(),
                        body: info.body,
                        kind: info.kind,
                        ids: info.ids,
                        reply_to: None,
                        thread: None,
                        attachments: Vec::new(),
                        // Without echo-message the server says nothing of the message.
                        id: None,
                        time: None,
                    });
                }
            }
            MsgTarget::Private(nick) => {
                let fold = self.isupport.fold(&nick);
                let recent = &mut self.occasional().recent_private;
                recent.push_back((fold, info.ids.id));
                if recent.len() > 16 {
                    recent.pop_front();
                }
            }
        }
    }

    pub(super) fn queue_message(
        &mut self,
        target: MsgTarget,
        to: &str,
        text: Text,
        ids: ClientIds,
    ) {
        let Text {
            body,
            kind,
            reply_to,
        } = text;
        // The reply tag goes on the first line, where the server has message-tags.
        let mut reply_tag = reply_to.filter(|_| self.neg.enabled("message-tags"));
        let action = kind == MessageKind::Action;
        let verb = if kind == MessageKind::Notice {
            "NOTICE"
        } else {
            "PRIVMSG"
        };
        let text = body.as_str();
        let mut budget = split::budget(
            &self.nick,
            self.user.as_deref(),
            self.host.as_deref(),
            verb,
            to,
        );
        if action {
            budget = budget.saturating_sub(9);
        }
        let pieces = split::split(text, budget);
        if pieces.is_empty() {
            return;
        }
        let info = MsgInfo {
            target,
            body: body.clone(),
            kind,
            ids,
            pieces: pieces.len(),
        };
        if self.user_q.len() + pieces.len() > MAX_QUEUED_LINES {
            self.fail_message(
                info,
                SendError::Busy,
                "too many messages are waiting to be sent",
            );
            return;
        }
        let mut info = Some(Box::new(info));
        for piece in pieces {
            let text = if action { ctcp::action(&piece) } else { piece };
            let line = match reply_tag.take() {
                Some(id) => line::build_tagged(&[("+draft/reply", &id)], verb, &[to], Some(&text)),
                None => line::build(verb, &[to], Some(&text)),
            };
            self.user_q.push_back(Out {
                line,
                message: true,
                info: info.take(),
                receipt: None,
            });
        }
    }

    /// TAGMSG (message-tags): another user's reaction or typing state, in a channel the
    /// user is in or to the user.
    pub(super) fn on_tagmsg(&mut self, l: &IrcLine) {
        let Some(sender) = l.nick().map(str::to_owned) else {
            return;
        };
        if self.is_me(&sender) {
            return;
        }
        let target = l.param(0);
        let chat = if self.isupport.is_channel(target) {
            match self.channels.get(&*self.isupport.fold(target)) {
                Some(c) => ChatId::Room(c.room.clone()),
                None => return,
            }
        } else if self.is_me(target) {
            ChatId::Contact(self.contact(&sender))
        } else {
            return;
        };
        if let Some((target, emoji, removed)) = client_tags::reaction(l) {
            self.emit(LegacyEvent::Reaction {
                chat: chat.clone(),
                author: sender.clone(),
                target,
                emoji,
                removed,
            });
        }
        if let Some(state) = client_tags::typing(l) {
            self.emit(LegacyEvent::ChatState {
                chat,
                author: sender,
                state,
            });
        }
    }

    pub(super) fn on_privmsg(&mut self, l: &IrcLine, notice: bool) {
        let text = l.param(1);
        if l.params.len() < 2 {
            return;
        }
        let time = replay_time(l.tag("time"), now_millis());
        let sender = match &l.source {
            Some(Source::User { nick, .. }) if !nick.is_empty() && !nick.contains('.') => {
                nick.clone()
            }
            other => {
                // Server notices (and anything from a server).
                let from = match other {
                    Some(Source::Server(s)) => s.clone(),
                    Some(Source::User { nick, .. }) => nick.clone(),
                    None => self.host_name().to_owned(),
                };
                let body = format::strip(text);
                if !body.trim().is_empty() {
                    self.network_notice(format!("{from}: {body}"));
                }
                return;
            }
        };
        let mut body_text = text;
        let mut action = false;
        if let Some(c) = ctcp::parse(text) {
            if notice {
                return; // CTCP replies are never shown.
            }
            if c.command.eq_ignore_ascii_case("ACTION") {
                action = true;
                body_text = c.args;
            } else {
                let now = Instant::now();
                let allowed = self
                    .occasional
                    .as_ref()
                    .and_then(|o| o.last_ctcp_reply)
                    .is_none_or(|t| now >= t + CTCP_REPLY_INTERVAL);
                if allowed
                    && !self.is_me(&sender)
                    && self.user_q.len() < MAX_QUEUED_LINES / 2
                    && let Some(reply) = ctcp::reply(&c)
                {
                    let line = line::build("NOTICE", &[&sender], Some(&reply));
                    if self.queue_control(line) {
                        self.occasional().last_ctcp_reply = Some(now);
                    }
                }
                return;
            }
        }
        let body = format::to_styling(body_text);
        let attachments = files::attachments(&body);
        let kind = if action {
            MessageKind::Action
        } else if notice {
            MessageKind::Notice
        } else {
            MessageKind::Text
        };
        let mut target = l.param(0);
        // STATUSMSG (@#chan): a message to the channel's operators.
        while let Some(c) = target.chars().next() {
            if self.isupport.mode_of_symbol(c).is_some() && target.len() > 1 {
                target = target.get(c.len_utf8()..).unwrap_or("");
            } else {
                break;
            }
        }
        if self.isupport.is_channel(target) {
            let fold = self.isupport.fold(target);
            let me = self.is_me(&sender);
            let own_nick = self.nick.clone();
            let Some(c) = self.channels.get_mut(&*fold) else {
                return;
            };
            let room = c.room.clone();
            // IRCv3 msgid (with message-tags): the network's id of the message.
            let id = l.tag("msgid").map(|m| line::truncate(m, 128).to_owned());
            if me {
                // echo-message: our own message coming back (a split message is named by its
                // last line's msgid).
                let done = match c.pending_echo.front_mut() {
                    Some(p) => {
                        p.remaining = p.remaining.saturating_sub(1);
                        p.remaining == 0
                    }
                    None => false,
                };
                if done && let Some(p) = c.pending_echo.pop_front() {
                    self.emit(LegacyEvent::RoomMessage {
                        room,
                        nick: own_nick.to_string(),
                        body: p.body,
                        kind: p.kind,
                        ids: p.ids,
                        reply_to: None,
                        thread: None,
                        attachments: Vec::new(),
                        id,
                        time,
                    });
                }
                return;
            }
            if body.trim().is_empty() {
                return;
            }
            self.emit(LegacyEvent::RoomMessage {
                room,
                nick: sender,
                body,
                kind,
                ids: ClientIds::none(),
                id,
                reply_to: client_tags::reply(l),
                thread: None,
                attachments,
                time,
            });
            return;
        }
        if self.is_me(&sender) {
            let to = self.contact(l.param(0));
            let msgid = l.tag("msgid").map(|m| line::truncate(m, 128).to_owned());
            match self.last_private_to(l.param(0)) {
                // echo-message of a private message: its msgid names the user's last
                // message to that nick (a split message, by its last line's, as in rooms).
                Some(sent) => {
                    if let (Some(id), Some(legacy_id)) = (sent, msgid) {
                        self.emit(LegacyEvent::MessageSent { to, id, legacy_id });
                    }
                }
                // Not what the gateway sent: the user wrote it from another client on the
                // same login (a bouncer's self-message, or its echo to every client).
                None if !body.trim().is_empty() => self.emit(LegacyEvent::Message {
                    from: to,
                    body,
                    kind,
                    id: msgid,
                    reply_to: client_tags::reply(l),
                    thread: None,
                    attachments,
                    time,
                    by_user: true,
                }),
                None => {}
            }
            return;
        }
        if body.trim().is_empty() {
            return;
        }
        // Before registration a notice is the server's; a service's (NickServ, ChanServ)
        // comes from its own JID like any nick's, so the user can answer it there.
        if notice && !self.registered {
            self.network_notice(format!("{sender}: {body}"));
            return;
        }
        let from = self.contact(&sender);
        let id = l.tag("msgid").map(|m| line::truncate(m, 128).to_owned());
        self.emit(LegacyEvent::Message {
            from,
            body,
            kind,
            id,
            reply_to: client_tags::reply(l),
            thread: None,
            attachments,
            time,
            by_user: false,
        });
    }

    /// The XMPP id of the user's last private message to `nick` written recently: `None`
    /// if none was, `Some(None)` if it had no id.
    pub(super) fn last_private_to(&self, nick: &str) -> Option<Option<String>> {
        let fold = self.isupport.fold(nick);
        self.occasional
            .as_ref()?
            .recent_private
            .iter()
            .rev()
            .find(|(n, _)| *n == fold)
            .map(|(_, id)| id.clone())
    }
}
