//! The connection's life: its loop, connecting and registering, reconnecting with backoff,
//! and how it ends (a failed login, giving up, the last words to the session).

use super::*;

/// What the stream to the server allows.
#[derive(Clone, Copy, Debug)]
pub(super) struct Security {
    /// A password may be sent: TLS, or a server on this machine.
    pub(super) secure: bool,
    /// The stream is TLS (the client certificate, if any, was presented).
    pub(super) tls: bool,
}

impl Conn {
    /// The connection's life. A function returning an `async move` block rather than an
    /// `async fn`: an `async fn` keeps each argument twice in its future (the argument and
    /// the local it is moved to), and this future lives as long as the connection.
    #[allow(clippy::manual_async_fn)]
    pub(super) fn run(
        mut self: Box<Self>,
        mut inbox: channel::Receiver<ConnCommand>,
    ) -> impl std::future::Future<Output = ()> + Send {
        async move {
            let mut failures: u32 = 0;
            loop {
                let end = self.attempt(&mut inbox).await;
                let was_registered = self.registered;
                self.on_disconnect();
                let why = match &end {
                    End::Quit | End::Closed => "the connection was closed".to_owned(),
                    End::Lost(r) | End::Refused(r) => r.clone(),
                };
                let text = format!("{}: {why}", self.host_name());
                self.fail_listing(&text);
                let lost = matches!(end, End::Lost(_));
                match end {
                    End::Quit | End::Closed => {
                        // Accepted messages that did not go out are reported, not dropped.
                        let text = format!(
                            "the connection to {} was closed before it was sent",
                            self.host_name()
                        );
                        self.fail_queue(&text);
                        break;
                    }
                    End::Lost(reason) | End::Refused(reason) if !self.ever_registered => {
                        info!(server = %self.addr.host, %reason, "IRC login failed");
                        // Lost: the network's fault (unreachable, timeout); Refused: the
                        // server or the gateway said no (SASL, nick, address not allowed).
                        self.fail_login(&reason, lost);
                        break;
                    }
                    End::Refused(reason) => {
                        self.give_up(&reason);
                        break;
                    }
                    End::Lost(reason) => {
                        if was_registered {
                            failures = 0;
                        }
                        failures += 1;
                        info!(server = %self.addr.host, %reason, failures, "IRC connection lost");
                        if failures > MAX_RECONNECTS {
                            self.give_up(&reason);
                            break;
                        }
                        if !self.outage_notified {
                            self.outage_notified = true;
                            if self.primary {
                                // The session goes on: the core marks it reconnecting until the
                                // `Connected` that follows the next registration.
                                self.emit(LegacyEvent::Reconnecting {
                                    reason: reason.clone(),
                                });
                            }
                            let text = format!(
                                "Connection to {} lost ({reason}); reconnecting...",
                                self.host_name()
                            );
                            self.tell_everywhere(text);
                        }
                        if !self.backoff(failures, &mut inbox).await {
                            break;
                        }
                    }
                }
            }
            // Boxed: once per connection, and inline its waits would size this future for the
            // connection's whole life.
            Box::pin(self.finish()).await;
        }
    }

    /// Tells every room, or the user when there are none.
    pub(super) fn tell_everywhere(&mut self, text: String) {
        let rooms: Vec<LegacyId> = self.channels.values().map(|c| c.room.clone()).collect();
        if rooms.is_empty() {
            self.notice(text);
        } else {
            for room in rooms {
                self.emit(LegacyEvent::RoomNotice {
                    room,
                    text: text.clone(),
                });
            }
        }
    }

    pub(super) fn fail_login(&mut self, reason: &str, temporary: bool) {
        let text = format!("Cannot connect to {}: {reason}", self.host_name());
        self.fail_queue(&text);
        let channels: Vec<Box<Channel>> = self.channels.drain().map(|(_, c)| c).collect();
        for c in channels {
            self.emit(LegacyEvent::RoomJoinFailed {
                room: c.room,
                error: RoomError::Other,
                text: text.clone(),
            });
        }
        if self.primary {
            let reason = reason.to_owned();
            self.emit(if temporary {
                LegacyEvent::Unreachable { reason }
            } else {
                LegacyEvent::LoginFailed { reason }
            });
        }
    }

    pub(super) fn give_up(&mut self, reason: &str) {
        let text = format!("Gave up reconnecting to {}: {reason}", self.host_name());
        self.fail_queue(&text);
        let channels: Vec<Box<Channel>> = self.channels.drain().map(|(_, c)| c).collect();
        for c in channels {
            self.emit(LegacyEvent::RoomNotice {
                room: c.room.clone(),
                text: text.clone(),
            });
            self.emit(LegacyEvent::OccupantLeft {
                room: c.room,
                nick: self.nick.to_string(),
                kind: LeaveKind::Quit,
                reason: Some(text.clone()),
            });
        }
        let gone = self.watch.watcher().map(Watcher::all_gone);
        self.report(gone.into_iter().flatten());
        if self.primary {
            self.emit(LegacyEvent::Disconnected { reason: text });
        } else {
            self.notice(text);
        }
    }

    /// Fails the room listing under way, if any, with `text`.
    pub(super) fn fail_listing(&mut self, text: &str) {
        if let Some(l) = self.listing.take() {
            for request in l.waiters {
                self.emit(LegacyEvent::RoomListFailed {
                    request,
                    text: text.to_owned(),
                });
            }
        }
    }

    /// Answers the room listing under way with what was collected.
    pub(super) fn finish_listing(&mut self) {
        let Some(l) = self.listing.take() else {
            return;
        };
        if l.truncated() {
            info!(server = %self.addr.host, kept = l.len(), "LIST was cut short at the room limit");
        }
        let (mut waiters, rooms) = l.finish();
        let last = waiters.pop();
        for request in waiters {
            let rooms = rooms.clone();
            self.emit(LegacyEvent::RoomList { request, rooms });
        }
        if let Some(request) = last {
            self.emit(LegacyEvent::RoomList { request, rooms });
        }
    }

    /// Hands the remaining events over (bounded in time) and tells the session.
    pub(super) async fn finish(mut self: Box<Self>) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Some(ev) = self.pending.pop_front() {
            if self.events_closed {
                break;
            }
            match tokio::time::timeout_at(deadline, self.events.send(ev)).await {
                Ok(Ok(())) => {}
                _ => break,
            }
        }
        let _ = self
            .ended
            .send(Ended {
                key: self.key.to_string(),
                generation: self.generation,
                primary: self.primary,
            })
            .await;
    }

    /// Waits before reconnecting, still taking commands. Returns false to stop.
    pub(super) async fn backoff(
        &mut self,
        failures: u32,
        inbox: &mut channel::Receiver<ConnCommand>,
    ) -> bool {
        let base = 2f64
            .powi(failures.saturating_sub(1).min(6) as i32)
            .min(60.0);
        let jitter: f64 = rand::rng().random_range(0.75..1.25);
        let wait = Duration::from_secs_f64((base * jitter).clamp(1.0, 60.0));
        debug!(server = %self.addr.host, ?wait, "reconnecting after backoff");
        let until = Instant::now() + wait;
        loop {
            self.flush();
            if self.events_closed {
                return false;
            }
            tokio::select! {
                _ = sleep_until(until) => return true,
                cmd = inbox.recv() => match cmd {
                    None => return false,
                    Some(cmd) => {
                        if self.on_command(cmd) {
                            return false;
                        }
                    }
                },
                room = self.events.clone().ready_owned(), if !self.pending.is_empty() => {
                    self.on_room(room);
                }
            }
        }
    }

    /// The session's event queue has room again (`flush` sends what waits), or is gone.
    pub(super) fn on_room(&mut self, room: Result<(), channel::SendError<()>>) {
        match room {
            Ok(()) => self.flush(),
            Err(_) => {
                self.pending.clear();
                self.events_closed = true;
            }
        }
    }

    /// Resets per-attempt state after a connection ended.
    pub(super) fn on_disconnect(&mut self) {
        self.registered = false;
        self.watch.connection_reset();
        self.reg_q.clear();
        self.user_q.retain(|o| o.message);
        self.away.on_disconnect();
        self.quitting = None;
        let mut undelivered = Vec::new();
        for c in self.channels.values_mut() {
            let n = c.pending_echo.len();
            c.pending_echo.clear();
            if n > 0 {
                undelivered.push((c.room.clone(), n));
            }
        }
        for (room, n) in undelivered {
            self.emit(LegacyEvent::RoomNotice {
                room,
                text: format!(
                    "The connection dropped before the server confirmed {n} message(s); they may not have been delivered."
                ),
            });
        }
    }

    /// One connection attempt: connect, register, serve until it ends.
    pub(super) async fn attempt(&mut self, inbox: &mut channel::Receiver<ConnCommand>) -> End {
        // The connect future boxed, and in its own scope with the connected stream (moved
        // out by `split`) and the address: inline, they kept about 1.5 KiB of this future,
        // which lives as long as the connection (issue 8, memory per session).
        let (security, rd, mut wr, mut turn) = {
            let addr = self.addr.clone();
            let allow_internal = self.cfg.explicit_host(&addr.host);
            // Our turn among the connections being opened to this server first (the wait
            // is not part of the connect timeout), then the connect.
            let mut connect = Box::pin({
                let gate = self.gate.clone();
                let addr = addr.clone();
                let limit = self.cfg.connect_timeout;
                let own_tls = self
                    .extras
                    .as_ref()
                    .and_then(|x| x.certificate.as_ref())
                    .and_then(|c| c.config.clone());
                async move {
                    let turn = gate.enter(&addr.host).await;
                    (
                        turn,
                        timeout(limit, tls::connect(&addr, allow_internal, own_tls)).await,
                    )
                }
            });
            let (turn, stream) = loop {
                self.flush();
                if self.events_closed {
                    return End::Closed;
                }
                tokio::select! {
                    (turn, r) = &mut connect => match r {
                        Ok(Ok(s)) => break (turn, s),
                        // Retrying will not make the address acceptable.
                        Ok(Err(e @ tls::ConnectError::Refused { .. })) => return End::Refused(e.to_string()),
                        Ok(Err(e)) => return End::Lost(e.to_string()),
                        Err(_) => return End::Lost(format!("no connection within {} s", self.cfg.connect_timeout.as_secs_f64())),
                    },
                    cmd = inbox.recv() => match cmd {
                        None => return End::Closed,
                        Some(cmd) => if self.on_command(cmd) { return End::Quit },
                    },
                    room = self.events.clone().ready_owned(), if !self.pending.is_empty() => {
                        self.on_room(room);
                    }
                }
            };
            debug!(server = %addr.host, "connected, registering");
            // SASL PLAIN sends the password as is: only over TLS or to this machine.
            let secure = stream.tls || address::loopback_ip(stream.peer.ip());
            let (rd, wr) = tokio::io::split(stream.stream);
            (
                Security {
                    secure,
                    tls: stream.tls,
                },
                rd,
                wr,
                Some(turn),
            )
        };
        // No read buffer kept between reads (`reader.rs`): an idle connection holds none.
        let codec = match self.extras.as_ref() {
            Some(x) => {
                LineCodec::with_fallback(x.fallback.unwrap_or(crate::encoding::DEFAULT_FALLBACK))
                    .with_channels(x.channel_fallbacks.clone())
            }
            None => LineCodec::default(),
        };
        let mut reader = reader::LineReader::new(rd, codec);
        // A due write was made this turn without going through `select!` (below).
        let mut wrote_due = false;
        self.start_registration(security);
        loop {
            self.flush();
            if self.events_closed {
                // Nobody reads our events any more (the user's session ended, possibly
                // right after asking us to part and quit): still leave IRC properly, with
                // the session's QUIT if it comes soon, else the default one, instead of
                // dropping the socket.
                if !self.registered {
                    return End::Closed;
                }
                let since = *self.events_closed_at.get_or_insert_with(Instant::now);
                if self.quitting.is_none() && Instant::now() >= since + ORPHAN_QUIT_GRACE {
                    let reason = self.cfg.quit_message.clone();
                    self.queue_quit(&reason);
                }
            }
            // (Scoped: every local alive at the `select!` below is kept in this future.)
            let (send_at, due) = {
                let now = Instant::now();
                let send_at = self.next_send(now);
                (send_at, send_at.is_some_and(|at| at <= now))
            };
            if due && !wrote_due {
                // Due now: written at once. Through the timer below it would wait for the
                // timer wheel's next millisecond tick, which was most of the median
                // XMPP->IRC latency (performance pass 4). What else is already queued goes
                // in the same write (under load, one system call carries many lines, as the
                // timer's wait used to gather them). Once per turn of the loop: the next
                // turn goes through `select!`, so a slow server's writes (the bucket refilled
                // meanwhile) never keep the loop from reading or from its timers.
                for _ in 0..GATHER_COMMANDS {
                    if self.quitting.is_some() {
                        break;
                    }
                    let Ok(cmd) = inbox.try_recv() else { break };
                    if self.on_command(cmd) && self.quitting.is_none() {
                        return End::Quit;
                    }
                }
                // Boxed, here and below: inline, the write's future (its timeout's timer)
                // was the largest thing this future kept, and made the task's cell 128
                // bytes bigger for the connection's whole life; one allocation per write
                // costs less (performance pass 4).
                if let Some(end) = Box::pin(self.write_due(&mut wr)).await {
                    return end;
                }
                wrote_due = true;
                continue;
            }
            wrote_due = false;
            let deadline = self.next_deadline();
            // The timer's work is done after `select!`, not in its branch: an await in a
            // branch keeps the whole output of `select!` (128 bytes) in this future, which
            // lives as long as the connection (performance pass 4).
            let timer = tokio::select! {
                line = reader.next(), if self.pending.len() < EVENT_BACKLOG => match line {
                    Some(Ok(text)) => {
                        // The server has accepted us: the next connection may open.
                        drop(turn.take());
                        self.last_rx = Instant::now();
                        self.ping_sent = None;
                        if let Some(end) = self.on_line(&text) {
                            return end;
                        }
                        false
                    }
                    Some(Err(e)) => return End::Lost(e.to_string()),
                    None if self.quitting.is_some() => return End::Quit,
                    None => return End::Lost("the server closed the connection".to_owned()),
                },
                cmd = inbox.recv(), if self.quitting.is_none() => match cmd {
                    None => {
                        let reason = self.cfg.quit_message.clone();
                        self.queue_quit(&reason);
                        false
                    }
                    Some(cmd) => {
                        if self.on_command(cmd) && self.quitting.is_none() {
                            return End::Quit;
                        }
                        false
                    }
                },
                // One timer for the next line and the connection's deadlines: a tokio
                // `Sleep` is about 100 bytes of this future, which lives as long as the
                // connection (performance pass 4).
                _ = sleep_until(send_at.map_or(deadline, |at| at.min(deadline))) => true,
                room = self.events.clone().ready_owned(), if !self.pending.is_empty() => {
                    self.on_room(room);
                    false
                }
            };
            if timer {
                let now = Instant::now();
                if send_at.is_some_and(|at| at <= now)
                    && let Some(end) = Box::pin(self.write_due(&mut wr)).await
                {
                    return end;
                }
                if deadline <= now
                    && let Some(end) = self.on_timer()
                {
                    return end;
                }
            }
        }
    }

    /// Writes what is due (`write_ready`); after QUIT, closes our side and waits for the
    /// server's. `Some` when the connection is lost.
    async fn write_due<W: AsyncWrite + Unpin>(&mut self, wr: &mut W) -> Option<End> {
        match self.write_ready(wr).await {
            Ok(true) => {
                let _ = timeout(WRITE_TIMEOUT, wr.shutdown()).await;
                self.quitting = Some(Instant::now() + QUIT_LINGER);
                None
            }
            Ok(false) => None,
            Err(e) => Some(End::Lost(e)),
        }
    }

    /// Starts registering; `secure` says whether the password may be sent (TLS or a
    /// loopback server), else SASL is skipped and the user told so (once). The client
    /// certificate, presented only over TLS, logs in by SASL EXTERNAL where the user has
    /// one and no registration's password logs in.
    pub(super) fn start_registration(&mut self, security: Security) {
        let Security { secure, tls } = security;
        // Echoes due on the connection before this one never come.
        if let Some(o) = self.occasional.as_mut() {
            o.parting.clear();
        }
        let now = Instant::now();
        let untold = self
            .extras
            .as_mut()
            .and_then(|x| x.certificate.as_mut())
            .filter(|c| !tls && !c.told_no_tls);
        if let Some(c) = untold {
            c.told_no_tls = true;
            let text = format!(
                "{}: the connection is not TLS, so your client certificate was not presented; set tls on (and a TLS port) to use it.",
                self.host_name()
            );
            self.notice(text);
        }
        let external = tls && self.extras.as_ref().is_some_and(|x| x.external);
        self.registered = false;
        let server_password = self.extras.as_ref().and_then(|x| x.server_password.clone());
        // Only over TLS; the negotiator is told there is one, the connection keeps it.
        let password = if secure {
            self.password.as_deref().is_some_and(|p| !p.is_empty())
        } else {
            if (self.password.is_some() || server_password.is_some()) && !self.cleartext_notified {
                self.cleartext_notified = true;
                let text = format!(
                    "{}: the connection is not encrypted, so your password was not sent (no login); use a TLS connection to log in.",
                    self.host_name()
                );
                self.notice(text);
            }
            false
        };
        self.neg = Negotiator::new(password)
            .with_identify(self.identify)
            .with_external(external);
        self.neg_since = now;
        self.reg_deadline = now + self.cfg.connect_timeout.saturating_mul(4);
        self.nick_tries = 0;
        self.last_rx = now;
        self.ping_sent = None;
        self.quitting = None;
        self.isupport = crate::isupport::default_shared();
        self.nick = self.wanted_nick.clone();
        // PASS comes before everything else (RFC 2812 3.1.1); only where a password may go.
        if let Some(pass) = server_password.filter(|_| secure) {
            self.reg_q.push_back(line::build("PASS", &[], Some(&pass)));
        }
        self.reg_q.push_back(self.neg.start());
        self.reg_q
            .push_back(line::build("NICK", &[&self.nick], None));
        let ident = ident_of(&self.nick);
        let realname = self.cfg.realname.clone();
        self.reg_q
            .push_back(line::build("USER", &[&ident, "0", "*"], Some(&realname)));
    }
}
