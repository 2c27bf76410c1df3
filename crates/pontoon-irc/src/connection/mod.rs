//! One actor per IRC server connection of one user.
//!
//! The actor owns everything about that server: the socket, registration (CAP, SASL,
//! NICK/USER, nick collisions), the channels the user is in with their members and
//! topics, the paced outgoing queue, keepalive, and reconnection with backoff. It runs a
//! single `select!` loop and never awaits anything but the socket write (bounded by a
//! timeout), so commands are always taken promptly. Events for the core are buffered in a
//! small queue and handed over as the core takes them; while that queue is full the actor
//! stops reading the socket, which pushes back on the server instead of growing memory.
//!
//! This file has the actor, its loop, registration and the paced writer; what it does with
//! the session's commands is in `commands.rs`, with messages and client tags in
//! `messages.rs`, with channels and their members in `channels.rs`, with numeric replies in
//! `numerics.rs`, and with contacts' presence in `watch.rs`.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use pontoon_core::channel;
use pontoon_core::legacy::{
    ChatId, ClientIds, LeaveKind, LegacyEvent, LegacyId, MessageKind, Occupant, RoomError,
    SendError, Verbs,
};
use rand::Rng;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::codec::FramedRead;
use tracing::{Instrument, debug, info};

use crate::address;
use crate::caps::{Negotiator, Phase, Step};
use crate::client_tags;
use crate::config::{IrcConfig, ServerAddr};
use crate::ctcp;
use crate::directory::{self, Listing};
use crate::files;
use crate::format;
use crate::gate::ConnectGate;
use crate::isupport::ISupport;
use crate::line::{self, IrcLine, LineCodec, Source};
use crate::presence::{self, Change, Watcher};
use crate::split;
use crate::tls;

mod channels;
mod commands;
mod messages;
mod numerics;
mod watch;
use pontoon_core::rate::TokenBucket;

/// Lines of user messages that may wait in one connection's queue.
pub const MAX_QUEUED_LINES: usize = 512;
/// Stands in the send queue for the user's away status, which [`crate::away::Away`] turns
/// into a line when its turn comes (no IRC line is empty).
const AWAY_MARKER: &str = "";
/// Events waiting for the core before the connection stops reading its socket.
const EVENT_BACKLOG: usize = 256;
/// First capacity of a connection's read buffer (grows as needed; lines are limited by
/// the codec, not by this).
const READ_BUFFER: usize = 1024;
/// Silence after which we ping the server.
const PING_AFTER: Duration = Duration::from_secs(90);
/// Time the server has to answer our ping.
const PING_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest a socket write may block.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long capability negotiation may stay silent before we end it.
const CAP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long SASL may take before we go on without it.
const SASL_TIMEOUT: Duration = Duration::from_secs(15);
/// How long we wait for the server to close after our QUIT.
const QUIT_LINGER: Duration = Duration::from_secs(3);
/// Reconnection attempts before giving up (backoff is capped at 60 s).
const MAX_RECONNECTS: u32 = 30;
/// Members tracked per channel (a hostile server could send endless NAMES).
const MAX_MEMBERS: usize = 100_000;
/// Control lines (PONG and the like) that may wait; more PINGs are not answered.
const MAX_CONTROL_LINES: usize = 32;
/// How long a connection whose events nobody reads any more waits for the session's QUIT
/// (with the user's reason) before quitting with the default message.
const ORPHAN_QUIT_GRACE: Duration = Duration::from_secs(2);
/// Nick alternatives tried at login before giving up.
const MAX_NICK_TRIES: u32 = 9;
/// Contacts are watched on the server once the MOTD is over, or this long after the
/// welcome when the server sends no MOTD end.
const WATCH_SYNC_FALLBACK: Duration = Duration::from_secs(5);
/// Watch changes made within this long go out in one batch (the core adds contacts one by
/// one, hundreds at login).
const WATCH_BATCH: Duration = Duration::from_millis(200);
/// At most one CTCP reply per this long per connection (the rest are dropped: they are
/// unsolicited, and must not delay the user's own lines).
const CTCP_REPLY_INTERVAL: Duration = Duration::from_secs(3);
/// On QUIT, queued user messages go out first if they can within this long; otherwise
/// they are reported as not sent and the QUIT goes out at once.
const QUIT_FLUSH: Duration = Duration::from_secs(2);
/// Free queue lines needed before MONITOR or ISON lines are queued.
const WATCH_HEADROOM: usize = 160;
/// The shortest ISON interval, whatever the configuration says.
const MIN_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// What the session asks a connection to do.
pub(crate) enum ConnCommand {
    /// Join a channel.
    Join { chan: String, key: Option<String> },
    /// Leave a channel.
    Part {
        chan: String,
        reason: Option<String>,
    },
    /// Say something in a channel (`reply_to`: the msgid it answers, sent as
    /// `+draft/reply` where the server has message-tags).
    RoomMessage {
        chan: String,
        body: String,
        kind: MessageKind,
        ids: ClientIds,
        reply_to: Option<String>,
    },
    /// Say something to a nick.
    Private {
        nick: String,
        body: String,
        kind: MessageKind,
        id: Option<String>,
        reply_to: Option<String>,
    },
    /// Client tags without a message (TAGMSG: reactions, typing) to a channel or nick;
    /// dropped where the server has no message-tags.
    Tagmsg {
        target: String,
        tags: Vec<(&'static str, String)>,
    },
    /// Change a channel's topic.
    Topic { chan: String, topic: String },
    /// Invite a nick into a channel (IRC has no reason on INVITE).
    Invite { nick: String, chan: String },
    /// Change nick (asked from `chan`, if any).
    Nick { chan: Option<String>, nick: String },
    /// Set (Some) or clear (None) the away message.
    Away(Option<String>),
    /// Follow a nick's presence (lowercase, as in contact ids).
    Watch(String),
    /// Stop following a nick's presence.
    Unwatch(String),
    /// List the server's channels, answering `request`.
    List { request: u64 },
    /// Quit with a message and end.
    Quit(String),
}

/// Shows a secret only as whether there is one.
fn redacted(secret: &Option<String>) -> &'static str {
    match secret {
        Some(_) => "Some(<redacted>)",
        None => "None",
    }
}

// Hand-written: channel keys must not end up in logs.
impl std::fmt::Debug for ConnCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnCommand::Join { chan, key } => f
                .debug_struct("Join")
                .field("chan", chan)
                .field("key", &format_args!("{}", redacted(key)))
                .finish(),
            ConnCommand::Part { chan, reason } => f
                .debug_struct("Part")
                .field("chan", chan)
                .field("reason", reason)
                .finish(),
            ConnCommand::RoomMessage {
                chan,
                body,
                kind,
                ids,
                reply_to,
            } => f
                .debug_struct("RoomMessage")
                .field("chan", chan)
                .field("body", body)
                .field("kind", kind)
                .field("ids", ids)
                .field("reply_to", reply_to)
                .finish(),
            ConnCommand::Private {
                nick,
                body,
                kind,
                id,
                reply_to,
            } => f
                .debug_struct("Private")
                .field("nick", nick)
                .field("body", body)
                .field("kind", kind)
                .field("id", id)
                .field("reply_to", reply_to)
                .finish(),
            ConnCommand::Tagmsg { target, tags } => f
                .debug_struct("Tagmsg")
                .field("target", target)
                .field("tags", tags)
                .finish(),
            ConnCommand::Topic { chan, topic } => f
                .debug_struct("Topic")
                .field("chan", chan)
                .field("topic", topic)
                .finish(),
            ConnCommand::Invite { nick, chan } => f
                .debug_struct("Invite")
                .field("nick", nick)
                .field("chan", chan)
                .finish(),
            ConnCommand::Nick { chan, nick } => f
                .debug_struct("Nick")
                .field("chan", chan)
                .field("nick", nick)
                .finish(),
            ConnCommand::Away(a) => f.debug_tuple("Away").field(a).finish(),
            ConnCommand::Watch(n) => f.debug_tuple("Watch").field(n).finish(),
            ConnCommand::Unwatch(n) => f.debug_tuple("Unwatch").field(n).finish(),
            ConnCommand::List { request } => {
                f.debug_struct("List").field("request", request).finish()
            }
            ConnCommand::Quit(r) => f.debug_tuple("Quit").field(r).finish(),
        }
    }
}

/// What a connection tells its session when it ends.
#[derive(Debug)]
pub(crate) struct Ended {
    /// The session's key for this connection.
    pub key: String,
    /// Which spawn of that key.
    pub generation: u64,
    /// Whether this was the login connection and it is gone for good.
    pub primary: bool,
}

/// Everything a connection needs to start.
pub(crate) struct ConnParams {
    pub key: String,
    pub generation: u64,
    pub addr: ServerAddr,
    /// The `%server` part of ids, `None` when the transport is fixed.
    pub label: Option<String>,
    pub nick: String,
    pub password: Option<String>,
    /// The login connection: reports `Connected` / `LoginFailed` / `Disconnected`.
    pub primary: bool,
    pub away: Option<String>,
    /// The nicks whose presence to follow.
    pub watch: Vec<String>,
    /// Whose turn it is to connect to a server (shared by the transport's connections).
    pub gate: Arc<ConnectGate>,
    pub cfg: Arc<IrcConfig>,
    pub events: channel::Sender<LegacyEvent>,
    pub ended: channel::Sender<Ended>,
}

/// Starts a connection actor; it connects at once.
pub(crate) fn spawn(params: ConnParams) -> channel::Sender<ConnCommand> {
    let (tx, rx) = channel::bounded(64);
    let conn = Conn::new(params);
    // In the session's span (the caller's), so per-transport debug logging reaches it.
    // Boxed: an async fn's future holds a by-value `self` twice (about 1.2 KiB each).
    tokio::spawn(Box::new(conn).run(rx).in_current_span());
    tx
}

#[derive(Debug)]
enum End {
    /// We quit (or were told to).
    Quit,
    /// The session is gone.
    Closed,
    /// The connection failed or dropped.
    Lost(String),
    /// The server refused the login in a way retrying will not fix.
    Refused(String),
}

#[derive(Clone, Debug)]
struct Member {
    nick: String,
    modes: Vec<char>,
}

#[derive(Debug, PartialEq, Eq)]
enum ChanState {
    Joining,
    Joined,
    /// Joining again after a reconnect; the members before it are kept for a diff.
    Rejoining,
}

#[derive(Debug)]
struct PendingEcho {
    body: String,
    kind: MessageKind,
    ids: ClientIds,
    remaining: usize,
}

struct Channel {
    name: String,
    room: LegacyId,
    key: Option<String>,
    state: ChanState,
    members: HashMap<String, Member>,
    old_members: HashMap<String, Member>,
    old_nick: Option<String>,
    topic: Option<String>,
    pending_echo: VecDeque<PendingEcho>,
    /// Without echo-message: the XMPP id of the last message written here, which a "cannot
    /// send to channel" error that follows is about (clients match errors by that id).
    last_written: Option<String>,
}

// Hand-written: the channel key must not end up in logs.
impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("name", &self.name)
            .field("room", &self.room)
            .field("key", &format_args!("{}", redacted(&self.key)))
            .field("state", &self.state)
            .field("members", &self.members.len())
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
enum MsgTarget {
    Room(String),
    Private(String),
}

/// A message's text as a connection sends it.
pub(crate) struct Text {
    body: String,
    kind: MessageKind,
    reply_to: Option<String>,
}

#[derive(Debug)]
struct MsgInfo {
    target: MsgTarget,
    body: String,
    kind: MessageKind,
    ids: ClientIds,
    pieces: usize,
}

#[derive(Debug)]
struct Out {
    line: String,
    /// A user message line (kept across reconnects); other lines are dropped then.
    message: bool,
    /// On the first line of a user message.
    info: Option<MsgInfo>,
}

struct Conn {
    gate: Arc<ConnectGate>,
    key: String,
    generation: u64,
    addr: ServerAddr,
    label: Option<String>,
    cfg: Arc<IrcConfig>,
    primary: bool,
    password: Option<String>,
    account: String,
    wanted_nick: String,
    nick: String,
    user: Option<String>,
    host: Option<String>,
    away: crate::away::Away,
    events: channel::Sender<LegacyEvent>,
    ended: channel::Sender<Ended>,
    pending: VecDeque<LegacyEvent>,
    events_closed: bool,

    isupport: ISupport,
    channels: HashMap<String, Channel>,
    reg_q: VecDeque<String>,
    user_q: VecDeque<Out>,
    bucket: TokenBucket,
    recent_private: VecDeque<(String, Option<String>)>,
    pending_nick_room: Option<String>,
    /// Contacts whose presence we follow.
    watcher: Watcher,
    /// The room listing under way, if any.
    listing: Option<Listing>,

    // Per attempt.
    registered: bool,
    ever_registered: bool,
    neg: Negotiator,
    neg_since: Instant,
    reg_deadline: Instant,
    nick_tries: u32,
    last_rx: Instant,
    ping_sent: Option<Instant>,
    quitting: Option<Instant>,
    outage_notified: bool,
    /// When the core stopped taking our events (we then only wait for the QUIT).
    events_closed_at: Option<Instant>,
    registered_at: Instant,
    /// Watches were set up on the server (after the MOTD).
    watch_synced: bool,
    /// When batched MONITOR changes go out.
    watch_flush_at: Option<Instant>,
    /// Nicks to take off the server's MONITOR list.
    monitor_remove: Vec<String>,
    /// The next ISON poll.
    ison_next: Option<Instant>,
    /// When the last ISON poll went out.
    ison_sent_at: Option<Instant>,
    /// The server does not know ISON.
    ison_refused: bool,
    /// When the last CTCP reply was queued.
    last_ctcp_reply: Option<Instant>,
    /// The user was told their password is not sent over cleartext.
    cleartext_notified: bool,
}

fn ident_of(nick: &str) -> String {
    let id: String = nick
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(10)
        .collect::<String>()
        .to_ascii_lowercase();
    if id.is_empty() {
        "pontoon".to_owned()
    } else {
        id
    }
}

fn sane_time(t: &str) -> Option<String> {
    let ok = !t.is_empty()
        && t.len() <= 40
        && t.chars()
            .all(|c| c.is_ascii_digit() || "-:.TZ+".contains(c));
    ok.then(|| t.to_owned())
}

/// How old a server-time stamp must be for its message to count as replayed (a bouncer's
/// buffer, history): live traffic, stamped a moment ago, is not marked as delayed.
const REPLAY_AGE: Duration = Duration::from_secs(30);

/// Milliseconds since the Unix epoch of an IRCv3 server-time stamp
/// (`YYYY-MM-DDThh:mm:ss[.sss]Z`, always UTC), or `None` if it is not one.
fn server_time_millis(t: &str) -> Option<i64> {
    let t = t.strip_suffix('Z')?;
    let (date, time) = t.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut h = hms.splitn(3, ':').map(|x| x.parse::<i64>().ok());
    let (hh, mi, ss) = (h.next()??, h.next()??, h.next()??);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || hh > 23 || mi > 59 || ss > 60 {
        return None;
    }
    let ms = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().take(3).collect();
        let n = digits.parse::<i64>().ok()?;
        n * 10i64.pow(3 - digits.len() as u32)
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + da - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hh) * 60 + mi) * 60_000 + ss * 1000 + ms)
}

/// The stamp to pass on as the message's time: only for replayed content, that is a stamp
/// at least [`REPLAY_AGE`] older than `now` (ms since the epoch); live messages get none.
fn replay_time(stamp: Option<&str>, now_ms: i64) -> Option<String> {
    let stamp = sane_time(stamp?)?;
    let at = server_time_millis(&stamp)?;
    (now_ms.saturating_sub(at) >= REPLAY_AGE.as_millis() as i64).then_some(stamp)
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn occupant(isupport: &ISupport, m: &Member) -> Occupant {
    let (role, affiliation) = isupport.role_of(&m.modes);
    Occupant {
        nick: m.nick.clone(),
        person: None,
        role,
        affiliation,
    }
}

/// Whether a nick looks like a network service (NickServ, ChanServ, ...).
fn is_service(nick: &str) -> bool {
    let n = nick.to_ascii_lowercase();
    n.ends_with("serv") || n == "global" || n == "services"
}

/// Whether a numeric answers our LIST with an error: too many results (416), no
/// privilege (481), or any error or try-again naming LIST.
fn is_list_error(l: &IrcLine) -> bool {
    let code = l.verb.as_str();
    let names_list = l.param(1).eq_ignore_ascii_case("LIST");
    matches!(code, "416" | "481")
        || (names_list && (code == "263" || code.starts_with('4') || code.starts_with('5')))
}

/// A nick alternative for a collision at login.
fn alt_nick(base: &str, attempt: u32, max: usize) -> String {
    let suffix = match attempt {
        1 => "_".to_owned(),
        2 => "__".to_owned(),
        n => (n - 2).to_string(),
    };
    let keep = max.saturating_sub(suffix.len()).max(1);
    format!("{}{}", line::truncate(base, keep), suffix)
}

impl Conn {
    fn new(p: ConnParams) -> Conn {
        let now = Instant::now();
        let mut watcher = Watcher::new();
        let isupport = ISupport::default();
        for nick in &p.watch {
            watcher.add(nick, &isupport);
        }
        Conn {
            gate: p.gate,
            watcher,
            listing: None,
            registered_at: now,
            watch_synced: false,
            watch_flush_at: None,
            monitor_remove: Vec::new(),
            ison_next: None,
            ison_sent_at: None,
            ison_refused: false,
            last_ctcp_reply: None,
            cleartext_notified: false,
            key: p.key,
            generation: p.generation,
            label: p.label,
            primary: p.primary,
            account: p.nick.clone(),
            neg: Negotiator::new(&p.nick, p.password.clone()),
            password: p.password,
            wanted_nick: p.nick.clone(),
            nick: p.nick,
            user: None,
            host: None,
            away: crate::away::Away::new(p.away),
            events: p.events,
            ended: p.ended,
            pending: VecDeque::new(),
            events_closed: false,
            isupport,
            channels: HashMap::new(),
            reg_q: VecDeque::new(),
            user_q: VecDeque::new(),
            bucket: TokenBucket::new(p.cfg.flood_burst, p.cfg.flood_per_second, now),
            recent_private: VecDeque::new(),
            pending_nick_room: None,
            registered: false,
            ever_registered: false,
            neg_since: now,
            reg_deadline: now,
            nick_tries: 0,
            last_rx: now,
            ping_sent: None,
            quitting: None,
            outage_notified: false,
            events_closed_at: None,
            addr: p.addr,
            cfg: p.cfg,
        }
    }

    fn host_name(&self) -> &str {
        &self.addr.host
    }

    fn emit(&mut self, ev: LegacyEvent) {
        self.pending.push_back(ev);
    }

    fn flush(&mut self) {
        if self.events.try_send_from(&mut self.pending).is_err() {
            self.pending.clear();
            self.events_closed = true;
        }
    }

    fn notice(&mut self, text: String) {
        self.emit(LegacyEvent::Notice { text });
    }

    fn room_notice(&mut self, fold: &str, text: String) {
        if let Some(room) = self.channels.get(fold).map(|c| c.room.clone()) {
            self.emit(LegacyEvent::RoomNotice { room, text });
        } else {
            self.notice(text);
        }
    }

    fn room_id(&self, chan: &str) -> LegacyId {
        address::room_id(chan, self.label.as_deref())
    }

    fn contact(&self, nick: &str) -> LegacyId {
        address::contact_id(nick, self.label.as_deref())
    }

    fn is_me(&self, nick: &str) -> bool {
        self.isupport.fold(nick) == self.isupport.fold(&self.nick)
    }

    async fn run(mut self: Box<Self>, mut inbox: channel::Receiver<ConnCommand>) {
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
        self.finish().await;
    }

    /// Tells every room, or the user when there are none.
    fn tell_everywhere(&mut self, text: String) {
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

    fn fail_login(&mut self, reason: &str, temporary: bool) {
        let text = format!("Cannot connect to {}: {reason}", self.host_name());
        self.fail_queue(&text);
        let channels: Vec<Channel> = self.channels.drain().map(|(_, c)| c).collect();
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

    fn give_up(&mut self, reason: &str) {
        let text = format!("Gave up reconnecting to {}: {reason}", self.host_name());
        self.fail_queue(&text);
        let channels: Vec<Channel> = self.channels.drain().map(|(_, c)| c).collect();
        for c in channels {
            self.emit(LegacyEvent::RoomNotice {
                room: c.room.clone(),
                text: text.clone(),
            });
            self.emit(LegacyEvent::OccupantLeft {
                room: c.room,
                nick: self.nick.clone(),
                kind: LeaveKind::Quit,
                reason: Some(text.clone()),
            });
        }
        let gone = self.watcher.all_gone();
        self.report(gone);
        if self.primary {
            self.emit(LegacyEvent::Disconnected { reason: text });
        } else {
            self.notice(text);
        }
    }

    /// Fails the room listing under way, if any, with `text`.
    fn fail_listing(&mut self, text: &str) {
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
    fn finish_listing(&mut self) {
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
    async fn finish(mut self: Box<Self>) {
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
                key: self.key.clone(),
                generation: self.generation,
                primary: self.primary,
            })
            .await;
    }

    /// Waits before reconnecting, still taking commands. Returns false to stop.
    async fn backoff(&mut self, failures: u32, inbox: &mut channel::Receiver<ConnCommand>) -> bool {
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
    fn on_room(&mut self, room: Result<(), channel::SendError<()>>) {
        match room {
            Ok(()) => self.flush(),
            Err(_) => {
                self.pending.clear();
                self.events_closed = true;
            }
        }
    }

    /// Resets per-attempt state after a connection ended.
    fn on_disconnect(&mut self) {
        self.registered = false;
        self.watcher.connection_reset();
        self.watch_synced = false;
        self.watch_flush_at = None;
        self.monitor_remove.clear();
        self.ison_next = None;
        self.ison_sent_at = None;
        self.ison_refused = false;
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
    async fn attempt(&mut self, inbox: &mut channel::Receiver<ConnCommand>) -> End {
        let addr = self.addr.clone();
        let allow_internal = self.cfg.explicit_host(&addr.host);
        // The connect future boxed, and in its own scope with the connected stream (moved
        // out by `split`): inline, they kept about 1.5 KiB of this future, which lives as long
        // as the connection (issue 8, memory per session).
        let (secure, rd, mut wr, mut turn) = {
            // Our turn among the connections being opened to this server first (the wait
            // is not part of the connect timeout), then the connect.
            let mut connect = Box::pin({
                let gate = self.gate.clone();
                let addr = addr.clone();
                let limit = self.cfg.connect_timeout;
                async move {
                    let turn = gate.enter(&addr.host).await;
                    (
                        turn,
                        timeout(limit, tls::connect(&addr, allow_internal)).await,
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
            (secure, rd, wr, Some(turn))
        };
        // A small first read buffer (FramedRead's default is 8 KiB, allocated for every
        // connection): it grows when a read fills it, and an idle connection holds only this
        // (issue 8, memory per session).
        let mut reader = FramedRead::with_capacity(rd, LineCodec::default(), READ_BUFFER);
        self.start_registration(secure);
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
            let now = Instant::now();
            let send_at = self.next_send(now);
            let deadline = self.next_deadline();
            tokio::select! {
                line = reader.next(), if self.pending.len() < EVENT_BACKLOG => match line {
                    Some(Ok(text)) => {
                        // The server has accepted us: the next connection may open.
                        drop(turn.take());
                        self.last_rx = Instant::now();
                        self.ping_sent = None;
                        if let Some(end) = self.on_line(&text) {
                            return end;
                        }
                    }
                    Some(Err(e)) => return End::Lost(e.to_string()),
                    None if self.quitting.is_some() => return End::Quit,
                    None => return End::Lost("the server closed the connection".to_owned()),
                },
                cmd = inbox.recv(), if self.quitting.is_none() => match cmd {
                    None => {
                        let reason = self.cfg.quit_message.clone();
                        self.queue_quit(&reason);
                    }
                    Some(cmd) => {
                        if self.on_command(cmd) && self.quitting.is_none() {
                            return End::Quit;
                        }
                    }
                },
                _ = sleep_until(send_at.unwrap_or(now)), if send_at.is_some() => {
                    match self.write_ready(&mut wr).await {
                        Ok(true) => {
                            // QUIT is out: close our side and wait for the server's.
                            let _ = timeout(WRITE_TIMEOUT, wr.shutdown()).await;
                            self.quitting = Some(Instant::now() + QUIT_LINGER);
                        }
                        Ok(false) => {}
                        Err(e) => return End::Lost(e),
                    }
                },
                _ = sleep_until(deadline) => {
                    if let Some(end) = self.on_timer() {
                        return end;
                    }
                },
                room = self.events.clone().ready_owned(), if !self.pending.is_empty() => {
                    self.on_room(room);
                }
            }
        }
    }

    /// Starts registering; `secure` says whether the password may be sent (TLS or a
    /// loopback server), else SASL is skipped and the user told so (once).
    fn start_registration(&mut self, secure: bool) {
        let now = Instant::now();
        self.registered = false;
        let password = if secure {
            self.password.clone()
        } else {
            if self.password.is_some() && !self.cleartext_notified {
                self.cleartext_notified = true;
                let text = format!(
                    "{}: the connection is not encrypted, so your password was not sent (no SASL login); use a TLS connection to log in.",
                    self.host_name()
                );
                self.notice(text);
            }
            None
        };
        self.neg = Negotiator::new(&self.account, password);
        self.neg_since = now;
        self.reg_deadline = now + self.cfg.connect_timeout.saturating_mul(4);
        self.nick_tries = 0;
        self.last_rx = now;
        self.ping_sent = None;
        self.quitting = None;
        self.isupport = ISupport::default();
        self.nick = self.wanted_nick.clone();
        self.reg_q.push_back(self.neg.start());
        self.reg_q
            .push_back(line::build("NICK", &[&self.nick], None));
        let ident = ident_of(&self.nick);
        let realname = self.cfg.realname.clone();
        self.reg_q
            .push_back(line::build("USER", &[&ident, "0", "*"], Some(&realname)));
    }

    fn next_deadline(&self) -> Instant {
        let far = Instant::now() + Duration::from_secs(3600);
        let mut d = far;
        if let Some(q) = self.quitting {
            d = d.min(q);
        }
        if let Some(c) = self.events_closed_at.filter(|_| self.quitting.is_none()) {
            d = d.min(c + ORPHAN_QUIT_GRACE);
        }
        if let Some(l) = &self.listing {
            d = d.min(l.deadline);
        }
        if self.registered {
            if !self.watch_synced {
                d = d.min(self.registered_at + WATCH_SYNC_FALLBACK);
            }
            for t in [self.watch_flush_at, self.ison_next].into_iter().flatten() {
                d = d.min(t);
            }
        }
        if !self.registered {
            d = d.min(self.reg_deadline);
            match self.neg.phase() {
                Phase::Listing | Phase::Requested => d = d.min(self.neg_since + CAP_TIMEOUT),
                Phase::Authenticating => d = d.min(self.neg_since + SASL_TIMEOUT),
                Phase::Done => {}
            }
        } else {
            d = d.min(match self.ping_sent {
                Some(t) => t + PING_TIMEOUT,
                None => self.last_rx + PING_AFTER,
            });
        }
        d
    }

    fn on_timer(&mut self) -> Option<End> {
        let now = Instant::now();
        if self.quitting.is_some_and(|q| now >= q) {
            return Some(End::Quit);
        }
        if self.listing.as_ref().is_some_and(|l| now >= l.deadline) {
            let text = format!(
                "{} did not list its channels within {} s",
                self.host_name(),
                self.cfg.list_timeout.as_secs_f64()
            );
            self.fail_listing(&text);
        }
        if self.registered {
            if !self.watch_synced && now >= self.registered_at + WATCH_SYNC_FALLBACK {
                self.sync_watches();
            }
            if self.watch_flush_at.is_some_and(|t| now >= t) {
                self.flush_watches();
            }
            if self.ison_next.is_some_and(|t| now >= t) {
                self.poll_ison();
            }
        }
        if !self.registered {
            if now >= self.reg_deadline {
                return Some(End::Lost(
                    "the server did not complete the login in time".to_owned(),
                ));
            }
            let limit = match self.neg.phase() {
                Phase::Authenticating => SASL_TIMEOUT,
                _ => CAP_TIMEOUT,
            };
            if self.neg.phase() != Phase::Done && now >= self.neg_since + limit {
                let step = self.neg.on_timeout();
                return self.apply_step(step);
            }
            return None;
        }
        match self.ping_sent {
            Some(t) if now >= t + PING_TIMEOUT => Some(End::Lost("ping timeout".to_owned())),
            None if now >= self.last_rx + PING_AFTER => {
                self.ping_sent = Some(now);
                self.reg_q.push_back("PING :pontoon".to_owned());
                None
            }
            _ => None,
        }
    }

    fn apply_step(&mut self, step: Step) -> Option<End> {
        self.neg_since = Instant::now();
        self.reg_q.extend(step.send);
        if let Some(text) = step.notice {
            self.notice(format!("{}: {text}", self.host_name()));
        }
        step.failed.map(End::Refused)
    }

    /// When the next line may be written, if there is one.
    fn next_send(&mut self, now: Instant) -> Option<Instant> {
        let has = !self.reg_q.is_empty() || (self.registered && !self.user_q.is_empty());
        has.then(|| self.bucket.next_available(now))
    }

    /// Writes what the bucket allows. Returns true when QUIT was written.
    async fn write_ready<W: AsyncWrite + Unpin>(&mut self, wr: &mut W) -> Result<bool, String> {
        let now = Instant::now();
        let mut buf = String::new();
        let mut quit = false;
        loop {
            let sendable = !self.reg_q.is_empty() || (self.registered && !self.user_q.is_empty());
            if !sendable || !self.bucket.try_take(now) {
                break;
            }
            let line = if let Some(l) = self.reg_q.pop_front() {
                l
            } else {
                match self.user_q.pop_front() {
                    Some(out) if out.line == AWAY_MARKER => match self.away.take_line() {
                        Some(line) => line,
                        None => continue,
                    },
                    Some(out) => {
                        if let Some(info) = out.info {
                            self.on_message_written(info);
                        }
                        out.line
                    }
                    None => break,
                }
            };
            quit |= line.starts_with("QUIT");
            buf.push_str(&line);
            buf.push_str("\r\n");
            if quit {
                break;
            }
        }
        if buf.is_empty() {
            return Ok(false);
        }
        match timeout(WRITE_TIMEOUT, wr.write_all(buf.as_bytes())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("write failed: {e}")),
            Err(_) => return Err("the server stopped reading".to_owned()),
        }
        match timeout(WRITE_TIMEOUT, wr.flush()).await {
            Ok(Ok(())) => Ok(quit),
            Ok(Err(e)) => Err(format!("write failed: {e}")),
            Err(_) => Err("the server stopped reading".to_owned()),
        }
    }

    fn queue_quit(&mut self, reason: &str) {
        let line = line::build("QUIT", &[], Some(reason));
        let now = Instant::now();
        // Everything queued goes out before the QUIT, if the pacing allows it soon.
        let ahead = self.reg_q.len() + self.user_q.len() + 1;
        if self.registered && self.bucket.available_within(now, QUIT_FLUSH) >= ahead as f64 {
            self.user_q.push_back(Out {
                line,
                message: false,
                info: None,
            });
        } else {
            // Too much to send in time (or not logged in): say so, then quit at once.
            let text = format!(
                "the connection to {} is closing and it could not be sent in time",
                self.host_name()
            );
            self.fail_queue(&text);
            self.reg_q.push_back(line);
        }
        self.quitting = Some(now + QUIT_LINGER + Duration::from_secs(10));
    }

    /// Queues a control line (JOIN, PART, TOPIC, ...) behind the user's messages, within
    /// the same bound. Returns false when the queue is full and the line was dropped.
    #[must_use]
    fn queue_control(&mut self, line: String) -> bool {
        if self.user_q.len() >= MAX_QUEUED_LINES {
            debug!(server = %self.addr.host, "queue full; dropping a control line");
            return false;
        }
        self.user_q.push_back(Out {
            line,
            message: false,
            info: None,
        });
        true
    }

    /// Handles one line from the server; returns how the connection ends, if it does.
    fn on_line(&mut self, text: &str) -> Option<End> {
        let l = match line::parse(text) {
            Ok(l) => l,
            Err(e) => {
                debug!(server = %self.addr.host, error = %e, "ignoring a malformed line");
                return None;
            }
        };
        match l.verb.as_str() {
            "PING" => {
                if self.reg_q.len() < MAX_CONTROL_LINES {
                    self.reg_q
                        .push_front(line::build("PONG", &[], Some(l.param(0))));
                }
                None
            }
            "PONG" => None,
            // After our QUIT, ERROR is the server's goodbye, not a fault.
            "ERROR" if self.quitting.is_some() => Some(End::Quit),
            "ERROR" => Some(End::Lost(format!(
                "the server closed the link: {}",
                format::strip(l.last())
            ))),
            "CAP" => {
                let step = self.neg.on_cap(&l.params);
                self.apply_step(step)
            }
            "AUTHENTICATE" => {
                let step = self.neg.on_authenticate(l.param(0));
                self.apply_step(step)
            }
            "PRIVMSG" => {
                self.on_privmsg(&l, false);
                None
            }
            "NOTICE" => {
                self.on_privmsg(&l, true);
                None
            }
            "TAGMSG" => {
                self.on_tagmsg(&l);
                None
            }
            "JOIN" => {
                self.on_join(&l);
                None
            }
            "PART" => {
                self.on_part(&l);
                None
            }
            "KICK" => {
                self.on_kick(&l);
                None
            }
            "QUIT" => {
                self.on_quit(&l);
                None
            }
            "NICK" => {
                self.on_nick(&l);
                None
            }
            "MODE" => {
                self.on_mode(&l);
                None
            }
            "AWAY" => {
                // away-notify: a channel peer set or cleared its away message.
                if let Some(nick) = l.nick() {
                    let message = l.params.first().map(String::as_str);
                    let change = self.watcher.away(nick, message, &self.isupport);
                    self.report(change);
                }
                None
            }
            "TOPIC" => {
                let fold = self.isupport.fold(l.param(0));
                let subject = format::strip(l.param(1));
                let nick = l.nick().map(str::to_owned);
                if let Some(c) = self.channels.get_mut(&fold) {
                    c.topic = (!subject.is_empty()).then(|| subject.clone());
                    let room = c.room.clone();
                    self.emit(LegacyEvent::RoomSubject {
                        room,
                        nick,
                        subject,
                    });
                }
                None
            }
            "INVITE" => {
                let chan = l.param(1);
                if let Some(nick) = l.nick()
                    && address::valid_channel(chan)
                {
                    let by = address::valid_nick(nick).then(|| self.contact(nick));
                    self.emit(LegacyEvent::Invited {
                        room: self.room_id(chan),
                        by,
                        reason: None,
                    });
                }
                None
            }
            v if v.len() == 3 && v.bytes().all(|b| b.is_ascii_digit()) => self.on_numeric(&l),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
