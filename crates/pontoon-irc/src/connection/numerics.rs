//! Numeric replies: registration (welcome, nick collisions) and errors, each told to the
//! user where it belongs.

use super::*;

impl Conn {
    pub(super) fn on_numeric(&mut self, l: &IrcLine) -> Option<End> {
        if let Some(step) = self.neg.on_numeric(&l.verb, &l.params) {
            return self.apply_step(step);
        }
        if self.on_question_numeric(l) {
            return None;
        }
        let code = l.verb.as_str();
        if self.listing.as_ref().is_some_and(|x| x.sent) && is_list_error(l) {
            let text = format!("{}: {}", self.host_name(), format::strip(l.last()));
            self.fail_listing(&text);
            return None;
        }
        match code {
            "001" => {
                self.on_welcome(l);
                None
            }
            "005" => {
                let n = l.params.len();
                if n > 2 {
                    crate::isupport::update(&mut self.isupport, |t| {
                        t.apply(l.params.get(1..n - 1).unwrap_or(&[]))
                    });
                    if let Some(w) = self.watch.watcher() {
                        w.refold(&self.isupport);
                    }
                    if self.isupport.monitor.is_some() {
                        self.watch_changed();
                    }
                }
                None
            }
            "376" => {
                // End of MOTD: registration is over, watch contacts.
                if self.registered && !self.watch.synced() {
                    self.sync_watches();
                }
                None
            }
            "422" => {
                if self.registered && !self.watch.synced() {
                    self.sync_watches();
                }
                self.generic_error(l);
                None
            }
            "730" | "731" => {
                // RPL_MONONLINE / RPL_MONOFFLINE: me, targets.
                let online = code == "730";
                let mut changes = Vec::new();
                if let Some(w) = self.watch.watcher() {
                    for nick in presence::monitor_targets(l.last()) {
                        let c = if online {
                            w.online(nick, &self.isupport)
                        } else {
                            w.offline(nick, &self.isupport)
                        };
                        changes.extend(c);
                    }
                }
                self.report(changes);
                None
            }
            "734" => {
                // ERR_MONLISTFULL: me, limit, targets: poll those instead.
                if let Some(w) = self.watch.watcher() {
                    for nick in presence::monitor_targets(l.param(2)) {
                        w.unmonitor(nick, &self.isupport);
                    }
                }
                self.schedule_poll();
                None
            }
            "303" => {
                // RPL_ISON: me, online nicks.
                let changes = self
                    .watch
                    .watcher()
                    .map(|w| w.on_ison_reply(l.last(), &self.isupport));
                self.report(changes.into_iter().flatten());
                self.watch.ison_answered();
                None
            }
            "421" if l.param(1).eq_ignore_ascii_case("MONITOR") => {
                // ISUPPORT said MONITOR, the server does not know it: poll instead.
                crate::isupport::update(&mut self.isupport, |t| t.monitor = None);
                if let Some(w) = self.watch.watcher() {
                    w.unmonitor_all();
                }
                self.schedule_poll();
                None
            }
            "421" if l.param(1).eq_ignore_ascii_case("ISON") => {
                info!(server = %self.addr.host, "the server does not know ISON: contacts' presence is not followed");
                self.watch.ison_refused();
                None
            }
            "321" => None,
            "322" => {
                // RPL_LIST: me, channel, visible, topic.
                let label = self.label.clone();
                if let Some(listing) = self.listing.as_mut().filter(|x| x.sent)
                    && let Some(info) = directory::parse_entry(&l.params, label.as_deref())
                    && listing.add(info)
                {
                    info!(
                        server = %self.addr.host,
                        "LIST: stopped collecting after {} channels",
                        directory::MAX_ROOMS
                    );
                }
                None
            }
            "323" => {
                if self.listing.as_ref().is_some_and(|x| x.sent) {
                    self.finish_listing();
                }
                None
            }
            "432" | "433" | "436" | "437" if !self.registered => self.nick_collision(code),
            "432" | "433" | "436" | "437" if !self.isupport.is_channel(l.param(1)) => {
                let text = format!(
                    "Cannot change nick to {}: {}",
                    l.param(1),
                    format::strip(l.last())
                );
                match self.pending_nick_room.take() {
                    Some(fold) => self.room_notice(&fold, text),
                    None => self.notice(text),
                }
                None
            }
            // RPL_INVITING: the invitation the user sent went out.
            "341" => {
                let (nick, chan) = (l.param(1), l.param(2));
                let fold = self.isupport.fold(chan);
                self.room_notice(&fold, format!("{nick} was invited to {chan}."));
                None
            }
            "332" => {
                let fold = self.isupport.fold(l.param(1));
                let topic = format::strip(l.last());
                if let Some(c) = self.channels.get_mut(&*fold) {
                    c.topic = (!topic.is_empty()).then(|| topic.clone());
                    if c.state == ChanState::Joined {
                        let room = c.room.clone();
                        self.emit(LegacyEvent::RoomSubject {
                            room,
                            nick: None,
                            subject: topic,
                        });
                    }
                }
                None
            }
            "353" => {
                // RPL_NAMREPLY: me, type, channel, names
                let fold = self.isupport.fold(l.param(2));
                let entries: Vec<(Vec<char>, String)> = l
                    .last()
                    .split(' ')
                    .filter(|e| !e.is_empty())
                    .map(|e| self.isupport.parse_names_entry(e))
                    .filter(|(_, n)| !n.is_empty())
                    .collect();
                if let Some(c) = self.channels.get_mut(&*fold)
                    && c.state != ChanState::Joined
                {
                    for (modes, nick) in entries {
                        if c.members.len() >= MAX_MEMBERS {
                            break;
                        }
                        let member = Member {
                            nick: nick.into(),
                            modes: modes.into_iter().collect(),
                        };
                        c.members.insert(&self.isupport, member);
                    }
                }
                None
            }
            "366" => {
                let fold = self.isupport.fold(l.param(1));
                self.end_of_names(&fold);
                None
            }
            "471" | "473" | "474" | "475" | "403" | "476" | "479" | "405" | "470" | "477"
            | "489" | "520" | "437" => {
                let chan = l.param(1);
                let fold = self.isupport.fold(chan);
                let text = format::strip(l.last());
                let joining = self
                    .channels
                    .get(&*fold)
                    .map(|c| c.state != ChanState::Joined);
                match joining {
                    Some(true) => {
                        let error = match code {
                            "405" => RoomError::TooManyRooms,
                            "471" => RoomError::Full,
                            "473" => RoomError::InviteOnly,
                            "474" => RoomError::Banned,
                            "475" => RoomError::BadKey,
                            "403" | "476" | "479" => RoomError::NotFound,
                            _ => RoomError::Other,
                        };
                        if let Some(c) = self.channels.remove(&*fold) {
                            if c.state == ChanState::Rejoining {
                                self.emit(LegacyEvent::RoomNotice {
                                    room: c.room.clone(),
                                    text: format!("Could not rejoin {}: {text}", c.name),
                                });
                                self.emit(LegacyEvent::OccupantLeft {
                                    room: c.room,
                                    nick: self.nick.to_string(),
                                    kind: LeaveKind::Quit,
                                    reason: Some(text),
                                });
                            } else {
                                self.emit(LegacyEvent::RoomJoinFailed {
                                    room: c.room,
                                    error,
                                    text,
                                });
                            }
                        }
                    }
                    _ => self.generic_error(l),
                }
                None
            }
            "401" => {
                match self.last_private_to(l.param(1)) {
                    Some(id) => {
                        let to = self.contact(l.param(1));
                        self.emit(LegacyEvent::SendFailed {
                            to,
                            id,
                            reason: format!("{} is not on {}", l.param(1), self.host_name()),
                        });
                    }
                    None => self.generic_error(l),
                }
                None
            }
            "404" => {
                // Cannot send to channel: the message it refused is the oldest waiting for
                // its echo (echo-message), else the last one written.
                let fold = self.isupport.fold(l.param(1));
                let mut failed = None;
                if let Some(c) = self.channels.get_mut(&*fold) {
                    match c.pending_echo.front_mut() {
                        Some(front) => {
                            front.remaining = front.remaining.saturating_sub(1);
                            if front.remaining == 0 {
                                failed = c.pending_echo.pop_front().map(|p| (p.ids, p.body));
                            }
                        }
                        None => {
                            failed = c.last_written.take().map(|id| {
                                let ids = ClientIds {
                                    id: Some(id),
                                    origin_id: None,
                                };
                                (ids, String::new())
                            })
                        }
                    }
                }
                match failed {
                    Some((ids, body)) if !ids.is_empty() => {
                        let reason = format!("{}: {}", l.param(1), format::strip(l.last()));
                        self.fail_room_message(&fold, ids, body, SendError::Refused, &reason);
                    }
                    _ => self.generic_error(l),
                }
                None
            }
            c if c.starts_with('4') || c.starts_with('5') => {
                self.generic_error(l);
                None
            }
            _ => {
                if self.answering_raw() {
                    self.raw_answer(l);
                }
                None
            }
        }
    }

    /// An error numeric: to the room it names, else to the user.
    pub(super) fn generic_error(&mut self, l: &IrcLine) {
        let subject = l.param(1);
        let text = format::strip(l.last());
        let fold = self.isupport.fold(subject);
        if self.answering_raw() {
            self.raw_answer(l);
        } else if l.params.len() >= 3 && self.channels.contains_key(&*fold) {
            self.room_notice(&fold, format!("{subject}: {text}"));
        } else if l.params.len() >= 3 {
            self.notice(format!("{}: {subject}: {text}", self.host_name()));
        } else {
            self.notice(format!("{}: {text}", self.host_name()));
        }
    }

    pub(super) fn nick_collision(&mut self, code: &str) -> Option<End> {
        self.nick_tries += 1;
        if self.nick_tries > MAX_NICK_TRIES {
            return Some(End::Refused(format!(
                "the nick {} and its alternatives are taken",
                self.wanted_nick
            )));
        }
        let max = if code == "432" {
            9
        } else {
            self.isupport.nicklen.unwrap_or(address::MAX_NICK_LEN)
        };
        let base = line::truncate(&self.wanted_nick, max).to_owned();
        self.nick = alt_nick(&base, self.nick_tries, max).into();
        self.reg_q
            .push_back(line::build("NICK", &[&self.nick], None));
        None
    }

    pub(super) fn on_welcome(&mut self, l: &IrcLine) {
        self.registered = true;
        self.registered_at = Instant::now();
        let first = !self.ever_registered;
        self.ever_registered = true;
        if !l.param(0).is_empty() && l.param(0) != "*" {
            self.nick = l.param(0).into();
        }
        // "Welcome to the network nick!user@host"
        if let Some(mask) = l.last().split(' ').next_back()
            && let Some((_, uh)) = mask.split_once('!')
            && let Some((user, host)) = uh.split_once('@')
        {
            self.user = Some(user.into());
            self.host = Some(host.into());
        }
        info!(server = %self.addr.host, nick = %self.nick, "registered on IRC");
        if self.primary {
            if first && self.neg.authenticated() {
                // SASL checked the password (server mode relies on it).
                self.emit(LegacyEvent::Authenticated);
            }
            // The first time: logged in. After a lost connection: back again (the user is
            // told below, in the rooms or by a notice).
            self.emit(LegacyEvent::Connected);
        }
        if !self.is_me(&self.wanted_nick) {
            let text = format!(
                "The nick {} is taken on {}; you are {} there.",
                self.wanted_nick,
                self.host_name(),
                self.nick
            );
            self.notice(text);
        }
        if let Some(line) = self.away.on_registered() {
            self.reg_q.push_back(line);
        }
        // The user's settings: NickServ where SASL did not log in, then their commands.
        let password = self.password.as_deref().unwrap_or_default();
        if let Some(line) = self.neg.identify_line(&self.account, password) {
            self.reg_q.push_back(line);
        }
        if let Some(extras) = &self.extras {
            self.reg_q.extend(extras.commands.iter().cloned());
        }
        // What this server carries natively: reactions, replies and typing are client tags.
        let tags = self.neg.enabled("message-tags");
        self.emit(LegacyEvent::Verbs {
            network: self.label.clone(),
            verbs: Verbs {
                reactions: tags,
                replies: tags,
                typing: tags,
                // KICK, and MODE +b before it for a ban; op and voice as roles
                // (`moderation.rs`).
                kicks: true,
                roles: true,
                // WHOIS, as the person's vCard, and the ban list (`questions.rs`).
                lookup: true,
                ban_list: true,
                // Channel modes +m +i +t +k as the room's configuration (`questions.rs`).
                room_config: true,
                // IRC has no edits, deletions or read markers (ngircd and InspIRCd 3 offer
                // no draft/message-redaction or draft/read-marker).
                ..Verbs::default()
            },
        });
        // (Re)join every channel, before any queued message.
        let nick = self.nick.clone();
        let mut joins = Vec::new();
        for c in self.channels.values_mut() {
            if c.state == ChanState::Joined || c.state == ChanState::Rejoining {
                if c.state == ChanState::Joined {
                    c.before = Some(Box::new(super::Before {
                        members: std::mem::take(&mut c.members),
                        nick: nick.to_string(),
                    }));
                }
                c.state = ChanState::Rejoining;
            }
            c.members.clear();
            let line = match &c.key {
                Some(k) => line::build("JOIN", &[&c.name, k], None),
                None => line::build("JOIN", &[&c.name], None),
            };
            joins.push(line);
        }
        for line in joins.into_iter().rev() {
            self.user_q.push_front(Out {
                line,
                message: false,
                info: None,
                receipt: None,
            });
        }
        if !first && self.channels.is_empty() {
            let text = format!("Reconnected to {}.", self.host_name());
            self.notice(text);
        }
        if !first {
            self.outage_notified = false;
        }
        if let Some(listing) = self.listing.as_mut().filter(|x| !x.sent) {
            listing.sent = true;
            self.user_q.push_back(Out {
                line: "LIST".to_owned(),
                message: false,
                info: None,
                receipt: None,
            });
        }
    }
}
