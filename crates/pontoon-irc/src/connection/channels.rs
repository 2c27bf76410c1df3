//! Channels: joining, the member lists (NAMES, JOIN, PART, KICK, QUIT, NICK, MODE) and the
//! room events they make.

use super::*;

/// Most PARTs whose echo is awaited (a PART the server refused has none: the oldest goes).
const MAX_PARTING: usize = 8;

impl Conn {
    /// Our PART of `fold` was sent: its echo is due.
    pub(super) fn part_sent(&mut self, fold: &str) {
        let parting = &mut self.occasional().parting;
        if parting.len() >= MAX_PARTING {
            parting.remove(0);
        }
        parting.push(fold.to_owned());
    }

    /// The echo of our PART of `fold`, if one was due: taken off the list.
    pub(super) fn part_echoed(&mut self, fold: &str) -> bool {
        let Some(parting) = self.occasional.as_mut().map(|o| &mut o.parting) else {
            return false;
        };
        match parting.iter().position(|f| f == fold) {
            Some(i) => {
                parting.remove(i);
                true
            }
            None => false,
        }
    }

    pub(super) fn join(&mut self, chan: String, key: Option<String>) {
        let fold = self.isupport.fold(&chan);
        if let Some(c) = self.channels.get(&*fold) {
            if c.state == ChanState::Joined {
                let ev = LegacyEvent::RoomJoined {
                    room: c.room.clone(),
                    name: None,
                    nick: self.nick.to_string(),
                    occupants: c
                        .members
                        .iter()
                        .map(|m| occupant(&self.isupport, m))
                        .collect(),
                    subject: c.topic.clone(),
                };
                self.emit(ev);
            }
            // Joining: the answer is on its way.
            return;
        }
        let room = self.room_id(&chan);
        if self.channels.len() >= self.cfg.max_channels {
            let text = format!(
                "too many channels: at most {} on {}; leave one first",
                self.cfg.max_channels,
                self.host_name()
            );
            self.emit(LegacyEvent::RoomJoinFailed {
                room,
                error: RoomError::TooManyRooms,
                text,
            });
            return;
        }
        let key = key.filter(|k| !k.is_empty());
        if self.registered {
            let line = match &key {
                Some(k) => line::build("JOIN", &[&chan, k], None),
                None => line::build("JOIN", &[&chan], None),
            };
            if !self.queue_control(line) {
                self.emit(LegacyEvent::RoomJoinFailed {
                    room,
                    error: RoomError::Busy,
                    text: "too many lines are waiting to be sent; try again later".to_owned(),
                });
                return;
            }
        }
        self.channels.insert(
            fold.into(),
            Box::new(Channel {
                name: chan.into(),
                room,
                key,
                state: ChanState::Joining,
                members: Members::default(),
                before: None,
                topic: None,
                pending_echo: VecDeque::new(),
                last_written: None,
            }),
        );
    }

    pub(super) fn end_of_names(&mut self, fold: &str) {
        let nick = self.nick.clone();
        let Some(c) = self.channels.get_mut(fold) else {
            return;
        };
        c.members.add_if_absent(&self.isupport, &nick);
        match c.state {
            ChanState::Joined => {}
            ChanState::Joining => {
                c.state = ChanState::Joined;
                let ev = LegacyEvent::RoomJoined {
                    room: c.room.clone(),
                    name: None,
                    nick: nick.to_string(),
                    occupants: c
                        .members
                        .iter()
                        .map(|m| occupant(&self.isupport, m))
                        .collect(),
                    subject: c.topic.clone(),
                };
                self.emit(ev);
            }
            ChanState::Rejoining => {
                c.state = ChanState::Joined;
                let room = c.room.clone();
                let (old, old_nick) = match c.before.take() {
                    Some(b) => (b.members, Some(b.nick)),
                    None => (Members::default(), None),
                };
                let new: Vec<Member> = c.members.iter().cloned().collect();
                let mut evs = Vec::new();
                if let Some(o) = old_nick.filter(|o| *o != nick) {
                    evs.push(LegacyEvent::OccupantRenamed {
                        room: room.clone(),
                        old: o,
                        new: nick.to_string(),
                    });
                }
                for m in old.iter() {
                    if !c.members.contains(&self.isupport, &m.nick) && *m.nick != *nick {
                        evs.push(LegacyEvent::OccupantLeft {
                            room: room.clone(),
                            nick: m.nick.to_string(),
                            kind: LeaveKind::Quit,
                            reason: Some("left while the gateway was reconnecting".to_owned()),
                        });
                    }
                }
                for m in new {
                    let changed = old
                        .get(&self.isupport, &m.nick)
                        .is_none_or(|o| o.modes != m.modes);
                    if changed {
                        evs.push(LegacyEvent::OccupantUpdated {
                            room: room.clone(),
                            occupant: occupant(&self.isupport, &m),
                        });
                    }
                }
                if let Some(topic) = c.topic.clone() {
                    evs.push(LegacyEvent::RoomSubject {
                        room: room.clone(),
                        nick: None,
                        subject: topic,
                    });
                }
                evs.push(LegacyEvent::RoomNotice {
                    room,
                    text: "Reconnected".to_owned(),
                });
                for ev in evs {
                    self.emit(ev);
                }
            }
        }
    }

    pub(super) fn on_join(&mut self, l: &IrcLine) {
        let Some(nick) = l.nick().map(str::to_owned) else {
            return;
        };
        let fold = self.isupport.fold(l.param(0));
        if self.is_me(&nick) {
            if let Some(Source::User { user, host, .. }) = &l.source
                && !user.is_empty()
                && !host.is_empty()
            {
                self.user = Some(user.as_str().into());
                self.host = Some(host.as_str().into());
            }
            if let Some(c) = self.channels.get_mut(&*fold)
                && c.state != ChanState::Joined
            {
                c.members.clear();
                c.topic = None;
            }
            return;
        }
        let change = self
            .watch
            .watcher()
            .and_then(|w| w.online(&nick, &self.isupport));
        self.report(change);
        let Some(c) = self.channels.get_mut(&*fold) else {
            return;
        };
        if c.members.len() >= MAX_MEMBERS {
            return;
        }
        let m = Member {
            nick: nick.into(),
            modes: Default::default(),
        };
        if c.state == ChanState::Joined {
            let ev = LegacyEvent::OccupantUpdated {
                room: c.room.clone(),
                occupant: occupant(&self.isupport, &m),
            };
            c.members.insert(&self.isupport, m);
            self.emit(ev);
        } else {
            c.members.insert(&self.isupport, m);
        }
    }

    pub(super) fn on_part(&mut self, l: &IrcLine) {
        let Some(nick) = l.nick().map(str::to_owned) else {
            return;
        };
        let fold = self.isupport.fold(l.param(0));
        let reason = reason_at(l, 1);
        if self.is_me(&nick) {
            if self.part_echoed(&fold) {
                // The echo of a PART we sent: the user left already, and the channel, if
                // we have one, is a JOIN sent since, which the server answers next.
                return;
            }
            if let Some(c) = self.channels.remove(&*fold) {
                self.emit(LegacyEvent::OccupantLeft {
                    room: c.room,
                    nick,
                    kind: LeaveKind::Part,
                    reason,
                });
            }
            return;
        }
        self.member_left(&fold, &nick, LeaveKind::Part, reason);
    }

    pub(super) fn member_left(
        &mut self,
        fold: &str,
        nick: &str,
        kind: LeaveKind,
        reason: Option<String>,
    ) {
        let Some(c) = self.channels.get_mut(fold) else {
            return;
        };
        if let Some(m) = c.members.remove(&self.isupport, nick)
            && c.state == ChanState::Joined
        {
            let room = c.room.clone();
            self.emit(LegacyEvent::OccupantLeft {
                room,
                nick: m.nick.into(),
                kind,
                reason,
            });
        }
    }

    pub(super) fn on_kick(&mut self, l: &IrcLine) {
        let fold = self.isupport.fold(l.param(0));
        let victim = l.param(1).to_owned();
        let by = l.nick().map(str::to_owned);
        let reason = reason_at(l, 2);
        if self.is_me(&victim) {
            if let Some(c) = self.channels.remove(&*fold) {
                self.emit(LegacyEvent::OccupantLeft {
                    room: c.room,
                    nick: self.nick.to_string(),
                    kind: LeaveKind::Kick { by },
                    reason,
                });
            }
            return;
        }
        let kind = self.kick_kind(&fold, &victim, by);
        self.member_left(&fold, &victim, kind, reason);
    }

    pub(super) fn on_quit(&mut self, l: &IrcLine) {
        let Some(nick) = l.nick().map(str::to_owned) else {
            return;
        };
        if self.is_me(&nick) {
            return;
        }
        let change = self
            .watch
            .watcher()
            .and_then(|w| w.offline(&nick, &self.isupport));
        self.report(change);
        let reason = reason_at(l, 0);
        let folds: Vec<CompactString> = self.channels.keys().cloned().collect();
        for fold in folds {
            self.member_left(&fold, &nick, LeaveKind::Quit, reason.clone());
        }
    }

    pub(super) fn on_nick(&mut self, l: &IrcLine) {
        let Some(old) = l.nick().map(str::to_owned) else {
            return;
        };
        let new = l.param(0).to_owned();
        if new.is_empty() {
            return;
        }
        if !self.isupport.same(&old, &new)
            && let Some(w) = self.watch.watcher()
        {
            let gone = w.offline(&old, &self.isupport);
            let came = w.online(&new, &self.isupport);
            self.report(gone.into_iter().chain(came));
        }
        let me = self.is_me(&old);
        if me {
            self.nick = new.as_str().into();
            self.wanted_nick = new.as_str().into();
            self.pending_nick_room = None;
        }
        let mut evs = Vec::new();
        for c in self.channels.values_mut() {
            if let Some(mut m) = c.members.remove(&self.isupport, &old) {
                m.nick = new.as_str().into();
                c.members.insert(&self.isupport, m);
                if c.state == ChanState::Joined {
                    evs.push(LegacyEvent::OccupantRenamed {
                        room: c.room.clone(),
                        old: old.clone(),
                        new: new.clone(),
                    });
                }
            }
        }
        for ev in evs {
            self.emit(ev);
        }
    }

    pub(super) fn on_mode(&mut self, l: &IrcLine) {
        let target = l.param(0);
        if !self.isupport.is_channel(target) {
            return;
        }
        let fold = self.isupport.fold(target);
        let changes = self.isupport.parse_modes(l.params.get(1..).unwrap_or(&[]));
        let Some(c) = self.channels.get_mut(&*fold) else {
            return;
        };
        let mut touched: Vec<compact_str::CompactString> = Vec::new();
        for ch in changes {
            if !self.isupport.is_prefix_mode(ch.mode) {
                continue;
            }
            let Some(arg) = ch.arg else { continue };
            if let Some(m) = c.members.get_mut(&self.isupport, &arg) {
                if ch.set {
                    m.modes.set(ch.mode);
                } else {
                    m.modes.unset(ch.mode);
                }
                if !touched.contains(&m.nick) {
                    touched.push(m.nick.clone());
                }
            }
        }
        if c.state != ChanState::Joined {
            return;
        }
        let room = c.room.clone();
        let evs: Vec<LegacyEvent> = touched
            .iter()
            .filter_map(|k| c.members.get(&self.isupport, k))
            .map(|m| LegacyEvent::OccupantUpdated {
                room: room.clone(),
                occupant: occupant(&self.isupport, m),
            })
            .collect();
        for ev in evs {
            self.emit(ev);
        }
    }
}

/// The free-text reason in parameter `i` of `l` (PART, KICK, QUIT), formatting stripped;
/// `None` when absent or empty.
fn reason_at(l: &IrcLine, i: usize) -> Option<String> {
    l.params
        .get(i)
        .map(|r| format::strip(r))
        .filter(|r| !r.is_empty())
}
