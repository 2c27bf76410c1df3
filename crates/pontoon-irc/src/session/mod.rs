//! The per-user multiplexer: one actor per user that routes the core's commands to one
//! connection actor per IRC server.
//!
//! A user in channels on two networks holds two connections; the session creates them on
//! demand (or at login for the fixed network or the registration's default network),
//! forgets them when they end, and quits them all on disconnect. It keeps the contacts
//! whose presence the user follows, per server, and hands them to each connection to that
//! server; a contact on a server the user is not connected to is remembered and watched
//! once a connection there opens (for a room or a message), rather than opening one just
//! for presence. It never blocks on the
//! core: its own events go through a small queue handed over as the core takes them, so
//! the core awaiting our inbox and us awaiting its event channel cannot deadlock.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use pontoon_core::channel;
use pontoon_core::legacy::{
    Availability, ChatId, ClientIds, LeaveKind, LegacyAccount, LegacyCommand, LegacyEvent,
    LegacyId, MessageKind,
};
use tokio::time::Instant;
use tracing::{Instrument, debug, warn};

use crate::address;
use crate::config::IrcConfig;
use crate::connection::{self, AnswerTo, ConnCommand, ConnParams, Ended};
use crate::gate::ConnectGate;
use crate::presence::MAX_WATCHED;
use crate::settings::Login;
use crate::slash::Slash;
use pontoon_core::settings::{ONLY_NETWORK, ROOM_STATE_KEY, Settings};
use pontoon_core::state::TransportState;

mod commands;
mod conns;

use conns::{ConnEntry, Conns};

/// Capacity of a session's command inbox.
const INBOX: usize = 64;
/// How long a disconnect waits for the connections to quit.
const QUIT_WAIT: Duration = Duration::from_secs(5);
/// Servers on which contacts may be followed.
const MAX_WATCHED_SERVERS: usize = 64;

struct Session {
    cfg: Arc<IrcConfig>,
    gate: Arc<ConnectGate>,
    /// The user's nick as registered (`LegacyAccount::legacy_id`).
    legacy_id: String,
    /// Their password, for the connection to their home network. (Not the whole account:
    /// its options were read once, at start.)
    secret: Option<String>,
    events: channel::Sender<LegacyEvent>,
    pending: VecDeque<LegacyEvent>,
    conns: Conns,
    ended_tx: channel::Sender<Ended>,
    next_generation: u64,
    away: Option<String>,
    /// The registration's network (or the fixed one): the only one the password is for.
    home: Option<String>,
    /// The nicks whose presence the user follows, per server key.
    watched: HashMap<String, BTreeSet<String>>,
    /// The user's settings per network (`crate::settings`), read at start and kept in
    /// step by the core's `SettingsChanged`.
    settings: Settings,
    /// Their settings per channel (key, encodings), likewise (`RoomSettingsChanged`);
    /// boxed, as most users have none.
    rooms: Option<Box<Settings>>,
    /// The receipt of the tracked message being routed (`LegacyCommand::Tracked`): the
    /// connection that takes it settles it (`commands.rs`).
    /// (Non-zero: the core's receipts are store sequence numbers; 8 bytes, not 16, in
    /// the session task's future.)
    tracking: Option<std::num::NonZeroU64>,
}

/// Starts a session for `account`; see [`pontoon_core::Transport::start_session`].
pub fn start(
    cfg: Arc<IrcConfig>,
    gate: Arc<ConnectGate>,
    account: LegacyAccount,
    events: channel::Sender<LegacyEvent>,
    state: TransportState,
) -> channel::Sender<LegacyCommand> {
    let (tx, rx) = channel::bounded(INBOX);
    // In the caller's span (the core's session span), so per-transport debug logging
    // reaches the session and its connections.
    let begin = Box::pin(begin(cfg, gate, account, events, state));
    tokio::spawn(run(begin, rx).in_current_span());
    tx
}

/// The user's settings per network and per channel, read once at start (the state is not
/// kept: the core tells the session of changes). A store that cannot read them costs the
/// user their settings this time, not the login.
async fn load_settings(state: TransportState) -> (Settings, Option<Box<Settings>>) {
    let networks = Settings::load(&state).await.unwrap_or_else(|e| {
        warn!(error = %e, "the user's network settings could not be read");
        Settings::default()
    });
    let rooms = Settings::load_from(&state, ROOM_STATE_KEY)
        .await
        .unwrap_or_else(|e| {
            warn!(error = %e, "the user's channel settings could not be read");
            Settings::default()
        });
    let rooms = (rooms != Settings::default()).then(|| Box::new(rooms));
    (networks, rooms)
}

/// The session's start (its settings read, its login connection spawned), boxed apart from
/// its run: the task's future keeps its arguments and its largest await for the session's
/// whole life (performance pass 4). Boxed as its own type, not `dyn`: a thin pointer.
type Begin<B> = std::pin::Pin<Box<B>>;

async fn begin(
    cfg: Arc<IrcConfig>,
    gate: Arc<ConnectGate>,
    account: LegacyAccount,
    events: channel::Sender<LegacyEvent>,
    state: TransportState,
) -> (Box<Session>, channel::Receiver<Ended>) {
    let (settings, rooms) = load_settings(state).await;
    let (ended_tx, ended_rx) = channel::bounded(16);
    let home = match &cfg.fixed_server {
        Some(s) => Some(s.host.clone()),
        None => account
            .options
            .get("network")
            .filter(|n| !n.trim().is_empty())
            .and_then(|n| address::check_network(&cfg, n).ok()),
    };
    let mut s = Box::new(Session {
        cfg,
        gate,
        legacy_id: account.legacy_id,
        secret: account.secret,
        events,
        pending: VecDeque::new(),
        conns: Conns::default(),
        ended_tx,
        next_generation: 0,
        away: None,
        home: home.clone(),
        watched: HashMap::new(),
        settings,
        rooms,
        tracking: None,
    });
    match home {
        // The login connection reports Connected or LoginFailed itself.
        Some(h) => {
            let nick = s.legacy_id.clone();
            s.spawn_conn(&h, &nick, true);
        }
        None => s.emit(LegacyEvent::Connected),
    }
    (s, ended_rx)
}

/// The session's run. A function returning an `async move` block rather than an `async fn`:
/// an `async fn` keeps each argument twice in its future (the argument and the local it is
/// moved to), and this future lives as long as the session.
#[allow(clippy::manual_async_fn)]
fn run<B>(
    begin: Begin<B>,
    mut inbox: channel::Receiver<LegacyCommand>,
) -> impl std::future::Future<Output = ()> + Send
where
    B: std::future::Future<Output = (Box<Session>, channel::Receiver<Ended>)> + Send,
{
    async move {
        let (mut s, mut ended_rx) = begin.await;
        // Every command, the quits and the hand-over in boxed futures: this future lives as
        // long as the session (issue 8, memory per session; the unit test `run_future_size`
        // keeps the bound). Room messages were inline until issue 14; each field the message
        // path gained (kind, reply) cost three to four times its size here, more than the one
        // allocation per sent message boxing costs.
        loop {
            s.flush();
            tokio::select! {
                // Boxed as queued, and kept in its box until handed on: a command is 176 bytes,
                // which this future would keep (a `match` on the unboxed command kept it for
                // every await in its arms).
                cmd = inbox.recv_stamped() => {
                    let Some(cmd) = cmd else {
                        let reason = s.cfg.quit_message.clone();
                        Box::pin(s.quit_all(&reason, &mut ended_rx)).await;
                        return;
                    };
                    if let LegacyCommand::Disconnect { reason } = &cmd.0 {
                        let reason = reason.clone();
                        Box::pin(s.quit_all(&reason, &mut ended_rx)).await;
                        s.emit(LegacyEvent::Disconnected { reason });
                        break;
                    }
                    // Boxed by `on_command`, each kind of command to its own size.
                    s.on_command(cmd.0).await;
                },
                Some(ended) = ended_rx.recv() => {
                    let current = s.conns.get(&ended.key).is_some_and(|c| c.generation == ended.generation);
                    if current {
                        s.conns.remove(&ended.key);
                        if ended.primary {
                            // The login connection is gone for good (it said why).
                            let reason = s.cfg.quit_message.clone();
                            Box::pin(s.quit_all(&reason, &mut ended_rx)).await;
                            break;
                        }
                    }
                },
                // Room again in the core's queue: `flush` at the top of the loop sends.
                room = s.events.clone().ready_owned(), if !s.pending.is_empty() => match room {
                    Ok(()) => {}
                    Err(_) => {
                        let reason = s.cfg.quit_message.clone();
                        Box::pin(s.quit_all(&reason, &mut ended_rx)).await;
                        return;
                    }
                },
            }
        }
        Box::pin(s.hand_over()).await;
    }
}

fn away_of(availability: Availability, status: Option<String>) -> Option<String> {
    match availability {
        Availability::Available | Availability::Chat => None,
        Availability::Away | Availability::ExtendedAway | Availability::DoNotDisturb => Some(
            status
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| match availability {
                    Availability::DoNotDisturb => "Busy".to_owned(),
                    _ => "Away".to_owned(),
                }),
        ),
        Availability::Offline => Some("Offline".to_owned()),
    }
}

impl Session {
    /// Hands over the events still waiting, bounded in time, when the session ends.
    async fn hand_over(&mut self) {
        let deadline = Instant::now() + QUIT_WAIT;
        while let Some(ev) = self.pending.pop_front() {
            if !matches!(
                tokio::time::timeout_at(deadline, self.events.send(ev)).await,
                Ok(Ok(()))
            ) {
                break;
            }
        }
    }

    /// A message to a room: to the connection of the room's server.
    async fn send_room_message(
        &mut self,
        room: LegacyId,
        body: String,
        kind: MessageKind,
        ids: ClientIds,
        reply_to: Option<String>,
    ) {
        if kind == MessageKind::Text
            && let Some(slash) = crate::slash::parse(&body)
        {
            // Boxed: rare, and this future is boxed per room message.
            return Box::pin(self.slash(room, slash)).await;
        }
        match self.room_conn(&room) {
            Some((key, chan)) => {
                let own = self.legacy_id.clone();
                let command = ConnCommand::RoomMessage {
                    chan,
                    body,
                    kind,
                    ids,
                    reply_to,
                };
                self.send_to(&key, &own, command).await;
            }
            None => self.emit(LegacyEvent::RoomNotice {
                room,
                text: format!("You are not in this room; message not sent: {body}"),
            }),
        }
    }

    /// A command typed in a room (`crate::slash`): asked on the room's connection, answered
    /// in the room; a refused one is answered at once, and nothing is sent.
    async fn slash(&mut self, room: LegacyId, slash: Result<Slash, String>) {
        let command = match slash {
            Ok(slash) => move |chan: String| match slash {
                Slash::Whois(nick) => ConnCommand::Whois {
                    to: AnswerTo::Room(chan),
                    nick,
                },
                Slash::Modes => ConnCommand::GetModes {
                    to: AnswerTo::Room(chan.clone()),
                    chan,
                },
                Slash::Bans => ConnCommand::ListBans {
                    to: AnswerTo::Room(chan.clone()),
                    chan,
                },
                Slash::Change(words) => ConnCommand::Mode { chan, words },
            },
            Err(text) => return self.emit(LegacyEvent::RoomNotice { room, text }),
        };
        if !self.send_to_room(&room, command).await {
            let text = "You are not in this channel: nothing was sent.".to_owned();
            self.emit(LegacyEvent::RoomNotice { room, text });
        }
    }

    fn emit(&mut self, ev: LegacyEvent) {
        self.events.send_or_keep(ev, &mut self.pending);
    }

    fn flush(&mut self) {
        if self.events.try_send_from(&mut self.pending).is_err() {
            self.pending = VecDeque::new();
        }
    }

    /// The connection key of the server an id is on: its network, or the fixed server.
    /// (The id was parsed once, by `Transport::parse_address`; its name is a valid nick or
    /// channel and its network an allowed server.)
    fn key_of(&self, id: &LegacyId) -> Option<String> {
        match (&self.cfg.fixed_server, id.network()) {
            (Some(f), _) => Some(f.host.clone()),
            (None, Some(s)) => Some(s.to_owned()),
            (None, None) => None,
        }
    }

    fn spawn_conn(&mut self, key: &str, nick: &str, primary: bool) {
        self.next_generation += 1;
        let addr = match &self.cfg.fixed_server {
            Some(f) => f.clone(),
            None => self.cfg.network_addr(key),
        };
        let fixed = self.cfg.fixed_server.is_some();
        let label = (!fixed).then(|| key.to_owned());
        let registered = match &self.secret {
            Some(p) if !p.is_empty() && self.home.as_deref() == Some(key) => {
                Some((self.legacy_id.clone(), p.clone()))
            }
            _ => None,
        };
        // With one fixed server, its settings are those of the transport's only network.
        let network = if fixed { ONLY_NETWORK } else { key };
        let mut login = Login::new(self.settings.network(network), registered).with_channels(
            self.rooms.as_deref(),
            key,
            fixed,
        );
        // A network reached by name: the user's port (checked against the operator's list
        // again here, the last word on where the gateway dials) and TLS.
        let mut addr = addr;
        if !fixed {
            if let Some(port) = login.port.filter(|p| self.cfg.user_port_allowed(*p)) {
                addr.port = port;
            }
            if let Some(tls) = login.tls {
                addr.tls = tls;
            }
        }
        let nick = match login.nick.take() {
            Some(set) => set,
            None if address::valid_nick(nick) => nick.to_owned(),
            None => self.legacy_id.clone(),
        };
        debug!(server = %key, %nick, primary, "opening an IRC connection");
        let tx = connection::spawn(ConnParams {
            key: key.to_owned(),
            generation: self.next_generation,
            addr,
            label,
            nick,
            login,
            primary,
            away: self.away.clone(),
            watch: self
                .watched
                .get(key)
                .map(|w| w.iter().cloned().collect())
                .unwrap_or_default(),
            cfg: self.cfg.clone(),
            gate: self.gate.clone(),
            events: self.events.clone(),
            ended: self.ended_tx.clone(),
        });
        self.conns.insert(
            key,
            ConnEntry {
                tx,
                generation: self.next_generation,
            },
        );
    }

    /// Sends to the connection for `key`, opening it (with `nick`) if needed, unless the
    /// user already holds as many connections as allowed.
    async fn send_to(&mut self, key: &str, nick: &str, cmd: ConnCommand) {
        let cmd = match self.tracking.take() {
            Some(receipt)
                if matches!(
                    cmd,
                    ConnCommand::Private { .. } | ConnCommand::RoomMessage { .. }
                ) =>
            {
                ConnCommand::Tracked {
                    receipt: receipt.get(),
                    command: Box::new(cmd),
                }
            }
            other => {
                self.tracking = other;
                cmd
            }
        };
        if !self.conns.contains_key(key) {
            // Ids come parsed (`Transport::parse_address` checked their server); checked
            // again once per new connection, as the last word on where the gateway dials.
            if self.cfg.fixed_server.is_none()
                && let Err(e) = address::check_network(&self.cfg, key)
            {
                self.refuse(key, cmd, e.0);
                return;
            }
            let max = self.cfg.max_networks_per_user;
            if self.conns.len() >= max {
                let text = format!(
                    "too many IRC networks: at most {max} connections per user; leave the rooms of another network first"
                );
                self.refuse(key, cmd, text);
                return;
            }
            self.spawn_conn(key, nick, false);
        }
        let Some(entry) = self.conns.get(key) else {
            return;
        };
        // Waiting for room is rare and boxed: every command handler awaits this, and the
        // session task's future, which lives as long as the session, would hold a send
        // future inline (bench/README.md, performance pass 3).
        let cmd = match entry.tx.try_send(cmd) {
            Ok(()) => return,
            Err(channel::TrySendError::Full(cmd)) => match Box::pin(entry.tx.send(cmd)).await {
                Ok(()) => return,
                Err(channel::SendError(cmd)) => cmd,
            },
            Err(channel::TrySendError::Closed(cmd)) => cmd,
        };
        // It ended meanwhile: open a new one.
        self.conns.remove(key);
        self.spawn_conn(key, nick, false);
        if let Some(entry) = self.conns.get(key) {
            let _ = Box::pin(entry.tx.send(cmd)).await;
        }
    }

    /// Reports that `cmd` for the server `key` was not carried out, as the event its
    /// kind of command fails with.
    fn refuse(&mut self, key: &str, cmd: ConnCommand, text: String) {
        let label = self.cfg.fixed_server.is_none().then_some(key);
        let ev = match cmd {
            ConnCommand::Tracked { receipt, command } => {
                self.refuse(key, *command, text);
                LegacyEvent::Settled { receipt }
            }
            ConnCommand::Join { chan, .. } => LegacyEvent::RoomJoinFailed {
                room: address::room_id(&chan, label),
                error: pontoon_core::legacy::RoomError::Other,
                text,
            },
            ConnCommand::Private { nick, id, .. } => LegacyEvent::SendFailed {
                to: address::contact_id(&nick, label),
                id,
                reason: text,
            },
            ConnCommand::RoomMessage { chan, body, .. } => LegacyEvent::RoomNotice {
                room: address::room_id(&chan, label),
                text: format!("Message not sent ({text}): {body}"),
            },
            ConnCommand::List { request } => LegacyEvent::RoomListFailed { request, text },
            _ => LegacyEvent::Notice { text },
        };
        self.emit(ev);
    }

    /// The server key and nick of a contact id (`None` for a channel's).
    fn contact_of(&self, contact: &LegacyId) -> Option<(String, String)> {
        let nick = contact.name();
        if nick.starts_with(['#', '&']) {
            return None;
        }
        Some((self.key_of(contact)?, nick.to_owned()))
    }

    /// The server key and channel of a room id (`None` for a nick's).
    fn channel_of(&self, room: &LegacyId) -> Option<(String, String)> {
        let chan = room.name();
        if !chan.starts_with(['#', '&']) {
            return None;
        }
        Some((self.key_of(room)?, chan.to_owned()))
    }

    /// Follows a contact's presence: on its server's connection if there is one, else
    /// once a connection there opens.
    async fn add_contact(&mut self, contact: LegacyId) {
        let Some((key, nick)) = self.contact_of(&contact) else {
            debug!(%contact, "not a contact id; presence not followed");
            return;
        };
        if !self.watched.contains_key(&key) && self.watched.len() >= MAX_WATCHED_SERVERS {
            self.emit(LegacyEvent::Notice {
                text: format!(
                    "Not following {contact}: contacts are followed on at most {MAX_WATCHED_SERVERS} servers."
                ),
            });
            return;
        }
        let set = self.watched.entry(key.clone()).or_default();
        if set.contains(&nick) {
            return;
        }
        if set.len() >= MAX_WATCHED {
            self.emit(LegacyEvent::Notice {
                text: format!(
                    "Not following {contact}: at most {MAX_WATCHED} contacts per server."
                ),
            });
            return;
        }
        set.insert(nick.clone());
        self.send_if_open(&key, ConnCommand::Watch(nick)).await;
    }

    /// Sends to the connection for `key` if there is one; never opens one. Whether it
    /// went (a question not sent is answered by the caller).
    async fn send_if_open(&mut self, key: &str, cmd: ConnCommand) -> bool {
        let Some(entry) = self.conns.get(key) else {
            return false;
        };
        // If it ended meanwhile, the session hears so and the next connection to the
        // server gets the watch list when it starts.
        entry.tx.send(cmd).await.is_ok()
    }

    /// Sends the command `make` builds from the channel's name to the open connection of
    /// `room`; whether it went.
    async fn send_to_room(
        &mut self,
        room: &LegacyId,
        make: impl FnOnce(String) -> ConnCommand,
    ) -> bool {
        match self.room_conn(room) {
            Some((key, chan)) => self.send_if_open(&key, make(chan)).await,
            None => false,
        }
    }

    /// The open connection and channel name for a room id.
    fn room_conn(&self, room: &LegacyId) -> Option<(String, String)> {
        self.channel_of(room)
            .filter(|(key, _)| self.conns.contains_key(key))
    }

    /// Quits every connection and waits (bounded) for them to end.
    async fn quit_all(&mut self, reason: &str, ended_rx: &mut channel::Receiver<Ended>) {
        let mut waiting = 0usize;
        for entry in self.conns.values() {
            if entry
                .tx
                .send(ConnCommand::Quit(reason.to_owned()))
                .await
                .is_ok()
            {
                waiting += 1;
            }
        }
        self.conns.clear();
        self.flush();
        let deadline = Instant::now() + QUIT_WAIT;
        while waiting > 0 {
            match tokio::time::timeout_at(deadline, ended_rx.recv()).await {
                Ok(Some(_)) => waiting -= 1,
                _ => break,
            }
        }
    }
}

#[cfg(test)]
mod tests;
