//! One actor per IRC server connection of one user.
//!
//! The actor owns everything about that server: the socket, registration (CAP, SASL,
//! NICK/USER, nick collisions), the channels the user is in with their members and
//! topics, the paced outgoing queue, keepalive, and reconnection with backoff. It runs a
//! single `select!` loop and never awaits anything but the socket write (bounded by a
//! timeout), so commands are always taken promptly. Events for the core are buffered in a
//! small queue and handed over as the core takes them; while that queue is full the actor
//! stops reading the socket, which pushes back on the server instead of growing memory.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use pontoon_core::channel;
use pontoon_core::legacy::{
    ChatId, ClientIds, LeaveKind, LegacyEvent, MessageKind, Occupant, RoomError, SendError, Verbs,
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
    room: String,
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

    fn room_id(&self, chan: &str) -> String {
        address::room_id(chan, self.label.as_deref())
    }

    fn contact(&self, nick: &str) -> String {
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
        let rooms: Vec<String> = self.channels.values().map(|c| c.room.clone()).collect();
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

    /// Reports every queued user message as not delivered.
    fn fail_queue(&mut self, reason: &str) {
        let queue = std::mem::take(&mut self.user_q);
        for out in queue {
            if let Some(info) = out.info {
                self.fail_message(info, SendError::Unreachable, reason);
            }
        }
    }

    fn fail_message(&mut self, info: MsgInfo, error: SendError, reason: &str) {
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
    fn fail_room_message(
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

    /// Reports presence changes of watched nicks.
    fn report(&mut self, changes: impl IntoIterator<Item = Change>) {
        for c in changes {
            let contact = self.contact(&c.nick);
            self.emit(LegacyEvent::ContactPresence {
                contact,
                availability: c.availability,
                status: c.status,
            });
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

    /// Contacts were added or removed: send the changes soon, in one batch.
    fn watch_changed(&mut self) {
        if self.registered && self.watch_synced && self.watch_flush_at.is_none() {
            self.watch_flush_at = Some(Instant::now() + WATCH_BATCH);
        }
    }

    /// Sets up the watches on the server (once per connection, after the MOTD).
    fn sync_watches(&mut self) {
        self.watch_synced = true;
        self.flush_watches();
    }

    /// Sends pending MONITOR changes and schedules ISON for what MONITOR does not cover.
    fn flush_watches(&mut self) {
        self.watch_flush_at = None;
        if !self.registered || !self.watch_synced {
            return;
        }
        if !self.watch_headroom() {
            // The queue is nearly full: try again once it has drained a little.
            self.watch_flush_at = Some(Instant::now() + Duration::from_secs(1));
            return;
        }
        let removals = std::mem::take(&mut self.monitor_remove);
        for line in presence::monitor_lines('-', &removals) {
            if !self.queue_control(line) {
                break;
            }
        }
        if let Some(limit) = self.isupport.monitor {
            let adds = self.watcher.to_monitor(limit.min(presence::MAX_WATCHED));
            for line in presence::monitor_lines('+', &adds) {
                if !self.queue_control(line) {
                    break;
                }
            }
        }
        self.schedule_poll();
    }

    /// Whether the queue has room for a full set of MONITOR or ISON lines (1000 nicks fit
    /// in about 65 lines each way).
    fn watch_headroom(&self) -> bool {
        MAX_QUEUED_LINES.saturating_sub(self.user_q.len()) >= WATCH_HEADROOM
    }

    /// Plans the next ISON poll: now if a polled nick was never answered for, else at the
    /// regular interval; none when nothing is polled.
    fn schedule_poll(&mut self) {
        if self.ison_refused || self.watcher.ison_targets().is_empty() {
            self.ison_next = None;
            return;
        }
        let now = Instant::now();
        if self.watcher.poll_due() {
            self.ison_next = Some(now);
        } else if self.ison_next.is_none() {
            self.ison_next = Some(now + self.poll_interval());
        }
    }

    fn poll_interval(&self) -> Duration {
        self.cfg.presence_poll_interval.max(MIN_POLL_INTERVAL)
    }

    /// Polls the nicks MONITOR does not cover with ISON, in lines within the limit, paced
    /// like every other line.
    fn poll_ison(&mut self) {
        self.ison_next = None;
        if !self.registered || !self.watch_synced || self.ison_refused {
            return;
        }
        let targets = self.watcher.ison_targets();
        if targets.is_empty() {
            return;
        }
        let now = Instant::now();
        let interval = self.poll_interval();
        self.ison_next = Some(now + interval);
        if self.watcher.ison_waiting() {
            // The last poll is still unanswered: give it up to two intervals.
            if self.ison_sent_at.is_some_and(|t| now < t + interval * 2) {
                return;
            }
            self.watcher.clear_ison_pending();
        }
        if !self.watch_headroom() {
            // The queue is nearly full: poll at the next interval instead.
            return;
        }
        for (line, names) in presence::ison_lines(&targets) {
            if !self.watcher.ison_asked(&names, &self.isupport) || !self.queue_control(line) {
                break;
            }
        }
        self.ison_sent_at = Some(now);
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

    fn on_message_written(&mut self, info: MsgInfo) {
        match info.target {
            MsgTarget::Room(fold) => {
                let echo = self.neg.enabled("echo-message");
                let nick = self.nick.clone();
                let Some(chan) = self.channels.get_mut(&fold) else {
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
                        nick,
                        body: info.body,
                        kind: info.kind,
                        ids: info.ids,
                        reply_to: None,
                        attachments: Vec::new(),
                        // Without echo-message the server says nothing of the message.
                        id: None,
                        time: None,
                    });
                }
            }
            MsgTarget::Private(nick) => {
                let fold = self.isupport.fold(&nick);
                self.recent_private.push_back((fold, info.ids.id));
                if self.recent_private.len() > 16 {
                    self.recent_private.pop_front();
                }
            }
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

    /// Handles a command from the session. Returns true when the connection should end
    /// now (a quit while not connected).
    fn on_command(&mut self, cmd: ConnCommand) -> bool {
        match cmd {
            ConnCommand::Quit(reason) => {
                if !self.registered {
                    return true;
                }
                self.queue_quit(&reason);
                false
            }
            ConnCommand::Join { chan, key } => {
                self.join(chan, key);
                false
            }
            ConnCommand::Part { chan, reason } => {
                let fold = self.isupport.fold(&chan);
                let room = match self.channels.remove(&fold) {
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
                        }
                        c.room
                    }
                    None => self.room_id(&chan),
                };
                self.emit(LegacyEvent::OccupantLeft {
                    room,
                    nick: self.nick.clone(),
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
                if !self.channels.contains_key(&fold) {
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
                    });
                }
                false
            }
            ConnCommand::Topic { chan, topic } => {
                let fold = self.isupport.fold(&chan);
                if self.registered && self.channels.contains_key(&fold) {
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
                    self.wanted_nick = nick.clone();
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
                if self.watcher.add(&nick, &self.isupport) {
                    self.watch_changed();
                } else if self.watcher.len() >= presence::MAX_WATCHED {
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
                if self.watcher.remove(&nick, &self.isupport) {
                    self.monitor_remove.push(nick);
                }
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
    fn list(&mut self, request: u64) {
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
                self.listing = Some(l);
            }
        }
    }

    fn join(&mut self, chan: String, key: Option<String>) {
        let fold = self.isupport.fold(&chan);
        if let Some(c) = self.channels.get(&fold) {
            if c.state == ChanState::Joined {
                let ev = LegacyEvent::RoomJoined {
                    room: c.room.clone(),
                    nick: self.nick.clone(),
                    occupants: c
                        .members
                        .values()
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
                error: RoomError::Other,
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
                    error: RoomError::Other,
                    text: "too many lines are waiting to be sent; try again later".to_owned(),
                });
                return;
            }
        }
        self.channels.insert(
            fold,
            Channel {
                name: chan,
                room,
                key,
                state: ChanState::Joining,
                members: HashMap::new(),
                old_members: HashMap::new(),
                old_nick: None,
                topic: None,
                pending_echo: VecDeque::new(),
                last_written: None,
            },
        );
    }

    fn queue_message(&mut self, target: MsgTarget, to: &str, text: Text, ids: ClientIds) {
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
        let mut info = Some(info);
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
            });
        }
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
                if let Some(nick) = l.nick() {
                    let room = self.room_id(chan);
                    self.notice(format!("{nick} invites you to {chan} (join {room})"));
                }
                None
            }
            v if v.len() == 3 && v.bytes().all(|b| b.is_ascii_digit()) => self.on_numeric(&l),
            _ => None,
        }
    }

    fn on_numeric(&mut self, l: &IrcLine) -> Option<End> {
        if let Some(step) = self.neg.on_numeric(&l.verb, &l.params) {
            return self.apply_step(step);
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
                    self.isupport.apply(l.params.get(1..n - 1).unwrap_or(&[]));
                    self.watcher.refold(&self.isupport);
                    if self.isupport.monitor.is_some() {
                        self.watch_changed();
                    }
                }
                None
            }
            "376" => {
                // End of MOTD: registration is over, watch contacts.
                if self.registered && !self.watch_synced {
                    self.sync_watches();
                }
                None
            }
            "422" => {
                if self.registered && !self.watch_synced {
                    self.sync_watches();
                }
                self.generic_error(l);
                None
            }
            "730" | "731" => {
                // RPL_MONONLINE / RPL_MONOFFLINE: me, targets.
                let online = code == "730";
                let mut changes = Vec::new();
                for nick in presence::monitor_targets(l.last()) {
                    let c = if online {
                        self.watcher.online(nick, &self.isupport)
                    } else {
                        self.watcher.offline(nick, &self.isupport)
                    };
                    changes.extend(c);
                }
                self.report(changes);
                None
            }
            "734" => {
                // ERR_MONLISTFULL: me, limit, targets: poll those instead.
                for nick in presence::monitor_targets(l.param(2)) {
                    self.watcher.unmonitor(nick, &self.isupport);
                }
                self.schedule_poll();
                None
            }
            "303" => {
                // RPL_ISON: me, online nicks.
                let changes = self.watcher.on_ison_reply(l.last(), &self.isupport);
                self.report(changes);
                if !self.watcher.ison_waiting() && self.watcher.poll_due() {
                    self.ison_next = Some(Instant::now());
                }
                None
            }
            "421" if l.param(1).eq_ignore_ascii_case("MONITOR") => {
                // ISUPPORT said MONITOR, the server does not know it: poll instead.
                self.isupport.monitor = None;
                self.watcher.unmonitor_all();
                self.schedule_poll();
                None
            }
            "421" if l.param(1).eq_ignore_ascii_case("ISON") => {
                info!(server = %self.addr.host, "the server does not know ISON: contacts' presence is not followed");
                self.ison_refused = true;
                self.ison_next = None;
                self.watcher.clear_ison_pending();
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
            "332" => {
                let fold = self.isupport.fold(l.param(1));
                let topic = format::strip(l.last());
                if let Some(c) = self.channels.get_mut(&fold) {
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
                if let Some(c) = self.channels.get_mut(&fold)
                    && c.state != ChanState::Joined
                {
                    for (modes, nick) in entries {
                        if c.members.len() >= MAX_MEMBERS {
                            break;
                        }
                        let key = self.isupport.fold(&nick);
                        c.members.insert(key, Member { nick, modes });
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
                    .get(&fold)
                    .map(|c| c.state != ChanState::Joined);
                match joining {
                    Some(true) => {
                        let error = match code {
                            "471" => RoomError::Full,
                            "473" => RoomError::InviteOnly,
                            "474" => RoomError::Banned,
                            "475" => RoomError::BadKey,
                            "403" | "476" | "479" => RoomError::NotFound,
                            _ => RoomError::Other,
                        };
                        if let Some(c) = self.channels.remove(&fold) {
                            if c.state == ChanState::Rejoining {
                                self.emit(LegacyEvent::RoomNotice {
                                    room: c.room.clone(),
                                    text: format!("Could not rejoin {}: {text}", c.name),
                                });
                                self.emit(LegacyEvent::OccupantLeft {
                                    room: c.room,
                                    nick: self.nick.clone(),
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
                let fold = self.isupport.fold(l.param(1));
                let id = self
                    .recent_private
                    .iter()
                    .rev()
                    .find(|(n, _)| *n == fold)
                    .map(|(_, id)| id.clone());
                match id {
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
                if let Some(c) = self.channels.get_mut(&fold) {
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
            _ => None,
        }
    }

    /// An error numeric: to the room it names, else to the user.
    fn generic_error(&mut self, l: &IrcLine) {
        let subject = l.param(1);
        let text = format::strip(l.last());
        let fold = self.isupport.fold(subject);
        if l.params.len() >= 3 && self.channels.contains_key(&fold) {
            self.room_notice(&fold, format!("{subject}: {text}"));
        } else if l.params.len() >= 3 {
            self.notice(format!("{}: {subject}: {text}", self.host_name()));
        } else {
            self.notice(format!("{}: {text}", self.host_name()));
        }
    }

    fn nick_collision(&mut self, code: &str) -> Option<End> {
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
        self.nick = alt_nick(&base, self.nick_tries, max);
        self.reg_q
            .push_back(line::build("NICK", &[&self.nick], None));
        None
    }

    fn on_welcome(&mut self, l: &IrcLine) {
        self.registered = true;
        self.registered_at = Instant::now();
        let first = !self.ever_registered;
        self.ever_registered = true;
        if !l.param(0).is_empty() && l.param(0) != "*" {
            self.nick = l.param(0).to_owned();
        }
        // "Welcome to the network nick!user@host"
        if let Some(mask) = l.last().split(' ').next_back()
            && let Some((_, uh)) = mask.split_once('!')
            && let Some((user, host)) = uh.split_once('@')
        {
            self.user = Some(user.to_owned());
            self.host = Some(host.to_owned());
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
        // What this server carries natively: reactions, replies and typing are client tags.
        let tags = self.neg.enabled("message-tags");
        self.emit(LegacyEvent::Verbs {
            network: self.label.clone(),
            verbs: Verbs {
                reactions: tags,
                replies: tags,
                typing: tags,
            },
        });
        // (Re)join every channel, before any queued message.
        let nick = self.nick.clone();
        let mut joins = Vec::new();
        for c in self.channels.values_mut() {
            if c.state == ChanState::Joined || c.state == ChanState::Rejoining {
                if c.state == ChanState::Joined {
                    c.old_members = std::mem::take(&mut c.members);
                    c.old_nick = Some(nick.clone());
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
            });
        }
    }

    fn end_of_names(&mut self, fold: &str) {
        let nick = self.nick.clone();
        let me = self.isupport.fold(&nick);
        let Some(c) = self.channels.get_mut(fold) else {
            return;
        };
        c.members.entry(me).or_insert_with(|| Member {
            nick: nick.clone(),
            modes: Vec::new(),
        });
        match c.state {
            ChanState::Joined => {}
            ChanState::Joining => {
                c.state = ChanState::Joined;
                let ev = LegacyEvent::RoomJoined {
                    room: c.room.clone(),
                    nick,
                    occupants: c
                        .members
                        .values()
                        .map(|m| occupant(&self.isupport, m))
                        .collect(),
                    subject: c.topic.clone(),
                };
                self.emit(ev);
            }
            ChanState::Rejoining => {
                c.state = ChanState::Joined;
                let room = c.room.clone();
                let old = std::mem::take(&mut c.old_members);
                let old_nick = c.old_nick.take();
                let new: Vec<Member> = c.members.values().cloned().collect();
                let mut evs = Vec::new();
                if let Some(o) = old_nick.filter(|o| *o != nick) {
                    evs.push(LegacyEvent::OccupantRenamed {
                        room: room.clone(),
                        old: o,
                        new: nick.clone(),
                    });
                }
                for (k, m) in &old {
                    if !c.members.contains_key(k) && m.nick != nick {
                        evs.push(LegacyEvent::OccupantLeft {
                            room: room.clone(),
                            nick: m.nick.clone(),
                            kind: LeaveKind::Quit,
                            reason: Some("left while the gateway was reconnecting".to_owned()),
                        });
                    }
                }
                for m in new {
                    let k = self.isupport.fold(&m.nick);
                    let changed = old.get(&k).is_none_or(|o| o.modes != m.modes);
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

    /// TAGMSG (message-tags): another user's reaction or typing state, in a channel the
    /// user is in or to the user.
    fn on_tagmsg(&mut self, l: &IrcLine) {
        let Some(sender) = l.nick().map(str::to_owned) else {
            return;
        };
        if self.is_me(&sender) {
            return;
        }
        let target = l.param(0);
        let chat = if self.isupport.is_channel(target) {
            match self.channels.get(&self.isupport.fold(target)) {
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

    fn on_privmsg(&mut self, l: &IrcLine, notice: bool) {
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
                    self.notice(format!("{from}: {body}"));
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
                    .last_ctcp_reply
                    .is_none_or(|t| now >= t + CTCP_REPLY_INTERVAL);
                if allowed
                    && !self.is_me(&sender)
                    && self.user_q.len() < MAX_QUEUED_LINES / 2
                    && let Some(reply) = ctcp::reply(&c)
                {
                    let line = line::build("NOTICE", &[&sender], Some(&reply));
                    if self.queue_control(line) {
                        self.last_ctcp_reply = Some(now);
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
            let Some(c) = self.channels.get_mut(&fold) else {
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
                        nick: own_nick,
                        body: p.body,
                        kind: p.kind,
                        ids: p.ids,
                        reply_to: None,
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
                attachments,
                time,
            });
            return;
        }
        if self.is_me(&sender) {
            // echo-message of a private message: its msgid names the user's last message
            // to that nick (a split message, by its last line's, as in rooms).
            let target = self.isupport.fold(l.param(0));
            let sent = self
                .recent_private
                .iter()
                .rev()
                .find(|(n, _)| *n == target)
                .and_then(|(_, id)| id.clone());
            if let (Some(id), Some(msgid)) = (sent, l.tag("msgid")) {
                let to = self.contact(l.param(0));
                self.emit(LegacyEvent::MessageSent {
                    to,
                    id,
                    legacy_id: line::truncate(msgid, 128).to_owned(),
                });
            }
            return;
        }
        if body.trim().is_empty() {
            return;
        }
        if notice && (is_service(&sender) || !self.registered) {
            self.notice(format!("{sender}: {body}"));
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
            attachments,
            time,
        });
    }

    fn on_join(&mut self, l: &IrcLine) {
        let Some(nick) = l.nick().map(str::to_owned) else {
            return;
        };
        let fold = self.isupport.fold(l.param(0));
        if self.is_me(&nick) {
            if let Some(Source::User { user, host, .. }) = &l.source
                && !user.is_empty()
                && !host.is_empty()
            {
                self.user = Some(user.clone());
                self.host = Some(host.clone());
            }
            if let Some(c) = self.channels.get_mut(&fold)
                && c.state != ChanState::Joined
            {
                c.members.clear();
                c.topic = None;
            }
            return;
        }
        let change = self.watcher.online(&nick, &self.isupport);
        self.report(change);
        let key = self.isupport.fold(&nick);
        let Some(c) = self.channels.get_mut(&fold) else {
            return;
        };
        if c.members.len() >= MAX_MEMBERS {
            return;
        }
        let m = Member {
            nick,
            modes: Vec::new(),
        };
        if c.state == ChanState::Joined {
            let ev = LegacyEvent::OccupantUpdated {
                room: c.room.clone(),
                occupant: occupant(&self.isupport, &m),
            };
            c.members.insert(key, m);
            self.emit(ev);
        } else {
            c.members.insert(key, m);
        }
    }

    fn on_part(&mut self, l: &IrcLine) {
        let Some(nick) = l.nick().map(str::to_owned) else {
            return;
        };
        let fold = self.isupport.fold(l.param(0));
        let reason = l
            .params
            .get(1)
            .map(|r| format::strip(r))
            .filter(|r| !r.is_empty());
        if self.is_me(&nick) {
            if let Some(c) = self.channels.remove(&fold) {
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

    fn member_left(&mut self, fold: &str, nick: &str, kind: LeaveKind, reason: Option<String>) {
        let key = self.isupport.fold(nick);
        let Some(c) = self.channels.get_mut(fold) else {
            return;
        };
        if let Some(m) = c.members.remove(&key)
            && c.state == ChanState::Joined
        {
            let room = c.room.clone();
            self.emit(LegacyEvent::OccupantLeft {
                room,
                nick: m.nick,
                kind,
                reason,
            });
        }
    }

    fn on_kick(&mut self, l: &IrcLine) {
        let fold = self.isupport.fold(l.param(0));
        let victim = l.param(1).to_owned();
        let by = l.nick().map(str::to_owned);
        let reason = l
            .params
            .get(2)
            .map(|r| format::strip(r))
            .filter(|r| !r.is_empty());
        if self.is_me(&victim) {
            if let Some(c) = self.channels.remove(&fold) {
                self.emit(LegacyEvent::OccupantLeft {
                    room: c.room,
                    nick: self.nick.clone(),
                    kind: LeaveKind::Kick { by },
                    reason,
                });
            }
            return;
        }
        self.member_left(&fold, &victim, LeaveKind::Kick { by }, reason);
    }

    fn on_quit(&mut self, l: &IrcLine) {
        let Some(nick) = l.nick().map(str::to_owned) else {
            return;
        };
        if self.is_me(&nick) {
            return;
        }
        let change = self.watcher.offline(&nick, &self.isupport);
        self.report(change);
        let reason = l
            .params
            .first()
            .map(|r| format::strip(r))
            .filter(|r| !r.is_empty());
        let folds: Vec<String> = self.channels.keys().cloned().collect();
        for fold in folds {
            self.member_left(&fold, &nick, LeaveKind::Quit, reason.clone());
        }
    }

    fn on_nick(&mut self, l: &IrcLine) {
        let Some(old) = l.nick().map(str::to_owned) else {
            return;
        };
        let new = l.param(0).to_owned();
        if new.is_empty() {
            return;
        }
        if self.isupport.fold(&old) != self.isupport.fold(&new) {
            let gone = self.watcher.offline(&old, &self.isupport);
            let came = self.watcher.online(&new, &self.isupport);
            self.report(gone.into_iter().chain(came));
        }
        let me = self.is_me(&old);
        if me {
            self.nick = new.clone();
            self.wanted_nick = new.clone();
            self.pending_nick_room = None;
        }
        let old_key = self.isupport.fold(&old);
        let new_key = self.isupport.fold(&new);
        let mut evs = Vec::new();
        for c in self.channels.values_mut() {
            if let Some(mut m) = c.members.remove(&old_key) {
                m.nick = new.clone();
                c.members.insert(new_key.clone(), m);
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

    fn on_mode(&mut self, l: &IrcLine) {
        let target = l.param(0);
        if !self.isupport.is_channel(target) {
            return;
        }
        let fold = self.isupport.fold(target);
        let changes = self.isupport.parse_modes(l.params.get(1..).unwrap_or(&[]));
        let Some(c) = self.channels.get_mut(&fold) else {
            return;
        };
        let mut touched: Vec<String> = Vec::new();
        for ch in changes {
            if !self.isupport.is_prefix_mode(ch.mode) {
                continue;
            }
            let Some(arg) = ch.arg else { continue };
            let key = self.isupport.fold(&arg);
            if let Some(m) = c.members.get_mut(&key) {
                if ch.set {
                    if !m.modes.contains(&ch.mode) {
                        m.modes.push(ch.mode);
                    }
                } else {
                    m.modes.retain(|x| *x != ch.mode);
                }
                if !touched.contains(&key) {
                    touched.push(key);
                }
            }
        }
        if c.state != ChanState::Joined {
            return;
        }
        let room = c.room.clone();
        let evs: Vec<LegacyEvent> = touched
            .iter()
            .filter_map(|k| c.members.get(k))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn params(
        cfg: IrcConfig,
        host: &str,
        port: u16,
        password: Option<&str>,
    ) -> (ConnParams, channel::Receiver<LegacyEvent>) {
        let (events, rx) = channel::bounded(64);
        let (ended, _) = channel::bounded(1);
        let p = ConnParams {
            key: host.into(),
            generation: 1,
            addr: ServerAddr {
                host: host.into(),
                port,
                tls: false,
                verify_cert: true,
            },
            label: Some(host.into()),
            nick: "alice".into(),
            password: password.map(str::to_owned),
            primary: true,
            away: None,
            watch: Vec::new(),
            cfg: Arc::new(cfg),
            gate: Arc::default(),
            events,
            ended,
        };
        (p, rx)
    }

    /// The connection task's future stays small: it lives as long as the connection
    /// (issue 8, memory per session; 5,600 bytes before `Conn` was boxed, the connect
    /// future boxed and scoped; 752 after, in the test profile).
    #[test]
    fn run_future_size() {
        let (p, _rx) = params(IrcConfig::default(), "irc.test", 6667, None);
        let (_tx, inbox) = channel::bounded(1);
        let fut = Box::new(Conn::new(p)).run(inbox);
        let size = std::mem::size_of_val(&fut);
        assert!(size <= 1024, "Conn::run future is {size} bytes");
    }

    /// A connection that has registered (nothing is actually connected).
    fn registered(cfg: IrcConfig) -> Conn {
        let (p, _rx) = params(cfg, "irc.test", 6667, None);
        let mut c = Conn::new(p);
        c.start_registration(true);
        assert!(
            c.on_line(":irc.test 001 alice :Welcome alice!a@h")
                .is_none()
        );
        c.reg_q.clear();
        c.pending.clear();
        c
    }

    fn private(nick: &str, body: &str) -> ConnCommand {
        ConnCommand::Private {
            reply_to: None,
            nick: nick.into(),
            body: body.into(),
            kind: MessageKind::Text,
            id: Some(body.into()),
        }
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_fails_login_join_and_send() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        // No allowed list: any public host, and "localhost" is not one.
        let (p, mut rx) = params(IrcConfig::default(), "localhost", port, None);
        let mut c = Conn::new(p);
        assert!(!c.on_command(ConnCommand::Join {
            chan: "#chan".into(),
            key: None
        }));
        assert!(!c.on_command(private("bob", "hi")));
        let (_tx, inbox) = channel::bounded(1);
        timeout(Duration::from_secs(10), Box::new(c).run(inbox))
            .await
            .unwrap();
        let mut evs = Vec::new();
        while let Ok(e) = rx.try_recv() {
            evs.push(e);
        }
        assert!(
            evs.iter().any(
                |e| matches!(e, LegacyEvent::RoomJoinFailed { room, text, .. }
                if room == "#chan%localhost" && text.contains("not allowed"))
            ),
            "{evs:?}"
        );
        assert!(
            evs.iter()
                .any(|e| matches!(e, LegacyEvent::SendFailed { to, reason, .. }
                if to == "bob%localhost" && reason.contains("local or private address"))),
            "{evs:?}"
        );
        assert!(
            evs.iter()
                .any(|e| matches!(e, LegacyEvent::LoginFailed { reason } if reason.contains("not allowed"))),
            "{evs:?}"
        );
        // Nothing connected to the listener.
        assert!(
            timeout(Duration::from_millis(100), l.accept())
                .await
                .is_err(),
            "the gateway connected"
        );
    }

    #[test]
    fn channels_per_connection_and_control_lines_are_bounded() {
        let mut c = registered(IrcConfig {
            max_channels: 2,
            ..IrcConfig::default()
        });
        for chan in ["#a", "#b", "#c"] {
            c.on_command(ConnCommand::Join {
                chan: chan.into(),
                key: None,
            });
        }
        assert_eq!(c.channels.len(), 2);
        assert_eq!(c.user_q.len(), 2);
        assert!(
            matches!(c.pending.back(), Some(LegacyEvent::RoomJoinFailed { room, error: RoomError::Other, text })
                if room == "#c%irc.test" && text.contains("too many channels")),
            "{:?}",
            c.pending
        );
        // Joining again a channel one is in is not a new channel.
        c.pending.clear();
        c.on_command(ConnCommand::Join {
            chan: "#a".into(),
            key: None,
        });
        assert!(c.pending.is_empty(), "{:?}", c.pending);

        // Control lines share the user lines' bound.
        let mut c = registered(IrcConfig::default());
        for i in 0..MAX_QUEUED_LINES {
            c.on_command(private("bob", &format!("m{i}")));
        }
        assert_eq!(c.user_q.len(), MAX_QUEUED_LINES);
        assert!(c.pending.is_empty());
        c.on_command(ConnCommand::Join {
            chan: "#d".into(),
            key: None,
        });
        assert!(
            matches!(c.pending.pop_front(), Some(LegacyEvent::RoomJoinFailed { text, .. }) if text.contains("too many lines"))
        );
        assert!(c.channels.is_empty());
        c.on_command(ConnCommand::Away(Some("gone".into())));
        c.on_command(ConnCommand::List { request: 7 });
        assert!(matches!(
            c.pending.pop_front(),
            Some(LegacyEvent::Notice { .. })
        ));
        assert!(matches!(
            c.pending.pop_front(),
            Some(LegacyEvent::RoomListFailed { request: 7, .. })
        ));
        let ctcp = ":bob!b@h PRIVMSG alice :\u{1}VERSION\u{1}";
        assert!(c.on_line(ctcp).is_none());
        assert_eq!(c.user_q.len(), MAX_QUEUED_LINES);
    }

    #[test]
    fn sasl_only_over_tls_or_loopback() {
        let (p, _rx) = params(IrcConfig::default(), "irc.test", 6667, Some("pw"));
        let mut c = Conn::new(p);
        c.start_registration(false);
        assert!(
            matches!(c.pending.pop_front(), Some(LegacyEvent::Notice { text })
                if text.contains("not encrypted") && text.contains("password was not sent")),
        );
        c.reg_q.clear();
        c.on_line(":irc.test CAP * LS :sasl multi-prefix");
        assert_eq!(
            c.reg_q.iter().collect::<Vec<_>>(),
            vec!["CAP REQ :multi-prefix"]
        );
        // Told once per connection, not at every reconnect.
        c.start_registration(false);
        assert!(c.pending.is_empty(), "{:?}", c.pending);
        // Secure: SASL as before.
        c.start_registration(true);
        c.reg_q.clear();
        c.on_line(":irc.test CAP * LS :sasl multi-prefix");
        assert_eq!(
            c.reg_q.iter().collect::<Vec<_>>(),
            vec!["CAP REQ :sasl multi-prefix"]
        );
        assert!(c.pending.is_empty(), "{:?}", c.pending);
    }

    #[tokio::test(start_paused = true)]
    async fn ctcp_replies_are_rate_limited() {
        let mut c = registered(IrcConfig::default());
        let notices = |c: &Conn| {
            c.user_q
                .iter()
                .filter(|o| o.line.starts_with("NOTICE"))
                .count()
        };
        for _ in 0..20 {
            c.on_line(":bob!b@h PRIVMSG alice :\u{1}VERSION\u{1}");
            c.on_line(":eve!e@h PRIVMSG alice :\u{1}PING 123\u{1}");
        }
        assert_eq!(notices(&c), 1);
        tokio::time::advance(Duration::from_secs(1)).await;
        c.on_line(":bob!b@h PRIVMSG alice :\u{1}VERSION\u{1}");
        assert_eq!(notices(&c), 1);
        tokio::time::advance(CTCP_REPLY_INTERVAL).await;
        c.on_line(":bob!b@h PRIVMSG alice :\u{1}VERSION\u{1}");
        assert_eq!(notices(&c), 2);
        // The user's own lines are not held up behind replies.
        c.on_command(private("bob", "hello"));
        assert_eq!(c.user_q.len(), 3);
    }

    #[test]
    fn debug_hides_channel_keys() {
        let cmd = ConnCommand::Join {
            chan: "#secret".into(),
            key: Some("letmein".into()),
        };
        let shown = format!("{cmd:?}");
        assert!(
            !shown.contains("letmein") && shown.contains("#secret"),
            "{shown}"
        );
        let mut c = registered(IrcConfig::default());
        c.on_command(cmd);
        let shown = format!("{:?}", c.channels);
        assert!(
            !shown.contains("letmein") && shown.contains("<redacted>"),
            "{shown}"
        );
        // The key does go to the server.
        assert_eq!(
            c.user_q.back().map(|o| o.line.as_str()),
            Some("JOIN #secret letmein")
        );
    }

    #[test]
    fn quit_after_queued_messages_or_fails_them() {
        // Fast pacing: the messages go out before the QUIT.
        let mut c = registered(IrcConfig {
            flood_burst: 100,
            ..IrcConfig::default()
        });
        for i in 0..3 {
            c.on_command(private("bob", &format!("m{i}")));
        }
        c.on_command(ConnCommand::Quit("bye".into()));
        let lines: Vec<&str> = c.user_q.iter().map(|o| o.line.as_str()).collect();
        assert_eq!(
            lines,
            vec![
                "PRIVMSG bob :m0",
                "PRIVMSG bob :m1",
                "PRIVMSG bob :m2",
                "QUIT :bye"
            ]
        );
        assert!(c.reg_q.is_empty() && c.pending.is_empty());

        // Slow pacing: they could not go out in time, so they are failed, then QUIT.
        let mut c = registered(IrcConfig {
            flood_burst: 1,
            flood_per_second: 0.5,
            ..IrcConfig::default()
        });
        c.on_command(ConnCommand::Join {
            chan: "#room".into(),
            key: None,
        });
        for i in 0..3 {
            c.on_command(private("bob", &format!("m{i}")));
        }
        c.on_command(ConnCommand::Quit("bye".into()));
        assert!(c.user_q.is_empty());
        assert_eq!(c.reg_q.back().map(String::as_str), Some("QUIT :bye"));
        let failed: Vec<Option<String>> = c
            .pending
            .iter()
            .filter_map(|e| match e {
                LegacyEvent::SendFailed { id, reason, .. } => {
                    assert!(reason.contains("closing"), "{reason}");
                    Some(id.clone())
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            failed,
            vec![Some("m0".into()), Some("m1".into()), Some("m2".into())]
        );
    }

    #[test]
    fn nick_alternatives() {
        assert_eq!(alt_nick("bob", 1, 30), "bob_");
        assert_eq!(alt_nick("bob", 2, 30), "bob__");
        assert_eq!(alt_nick("bob", 3, 30), "bob1");
        assert_eq!(alt_nick("abcdefghi", 1, 9), "abcdefgh_");
    }

    #[test]
    fn idents() {
        assert_eq!(ident_of("Bob_[x]"), "bobx");
        assert_eq!(ident_of("[]"), "pontoon");
        assert_eq!(ident_of("averyveryverylongnick"), "averyveryv");
    }

    #[test]
    fn times() {
        assert_eq!(
            sane_time("2024-01-01T00:00:00.000Z").as_deref(),
            Some("2024-01-01T00:00:00.000Z")
        );
        assert_eq!(sane_time("<evil/>"), None);
        assert_eq!(sane_time(""), None);
    }

    #[test]
    fn server_time_stamps() {
        assert_eq!(server_time_millis("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            server_time_millis("2024-02-29T12:34:56.789Z"),
            Some(1_709_210_096_789)
        );
        assert_eq!(
            server_time_millis("2024-02-29T12:34:56Z"),
            Some(1_709_210_096_000)
        );
        assert_eq!(
            server_time_millis("2024-02-29T12:34:56.7Z"),
            Some(1_709_210_096_700)
        );
        assert_eq!(server_time_millis("2024-02-29T12:34:56"), None);
        assert_eq!(server_time_millis("2024-13-01T00:00:00Z"), None);
        assert_eq!(server_time_millis("yesterday"), None);
    }

    #[test]
    fn only_replayed_messages_keep_their_time() {
        let now = server_time_millis("2024-02-29T12:00:00.000Z").unwrap();
        // Live: stamped now, a little before, or ahead of our clock.
        assert_eq!(replay_time(Some("2024-02-29T12:00:00.000Z"), now), None);
        assert_eq!(replay_time(Some("2024-02-29T11:59:45.000Z"), now), None);
        assert_eq!(replay_time(Some("2024-02-29T12:00:05.000Z"), now), None);
        // Replayed: from a bouncer's buffer or history.
        assert_eq!(
            replay_time(Some("2024-02-29T11:50:00.000Z"), now).as_deref(),
            Some("2024-02-29T11:50:00.000Z")
        );
        assert_eq!(replay_time(None, now), None);
        assert_eq!(replay_time(Some("<evil/>"), now), None);
    }
}
