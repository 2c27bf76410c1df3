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
//! This file has the actor's state and its timers and line dispatch; what the session sees
//! of it (commands, parameters, its end) is in `api.rs`; its loop, connecting,
//! registering and reconnecting are in `lifecycle.rs`, the paced writer in `send.rs`; what
//! it does with the session's commands is in `commands.rs`, with messages and client tags in
//! `messages.rs`, with channels and their members in `channels.rs`, with numeric replies in
//! `numerics.rs`, and with contacts' presence in `watch.rs`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use compact_str::CompactString;
use futures::StreamExt;
use pontoon_core::channel;
use pontoon_core::legacy::{
    ChatId, ClientIds, LeaveKind, LegacyEvent, LegacyId, MessageKind, Occupant, RoomError,
    SendError, Verbs,
};
use rand::Rng;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, sleep_until, timeout};
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
use members::{Member, Members};

mod api;
mod channels;
mod commands;
mod describe;
mod lifecycle;
mod members;
mod messages;
mod moderation;
mod numerics;
mod questions;
mod raw;
mod reader;
mod send;
mod watch;
use pontoon_core::rate::TokenBucket;

use api::redacted;
pub(crate) use api::{ConnCommand, ConnParams, Ended, spawn};
pub(crate) use questions::AnswerTo;

/// Lines of user messages that may wait in one connection's queue.
pub const MAX_QUEUED_LINES: usize = 512;
/// Stands in the send queue for the user's away status, which [`crate::away::Away`] turns
/// into a line when its turn comes (no IRC line is empty).
const AWAY_MARKER: &str = "";
/// Events waiting for the core before the connection stops reading its socket.
const EVENT_BACKLOG: usize = 256;
/// Commands already queued that a write which is due takes along (`lifecycle.rs`).
const GATHER_COMMANDS: usize = 64;
/// Slots a drained send queue keeps (`pontoon_core::channel::shrink_drained`): none. Four
/// (so that one line at a time allocated nothing) kept about 320 bytes in every idle
/// connection; a message now costs one allocation of its queue, a few hundred instructions
/// against the hundred thousand of its whole path (performance pass 4).
pub(crate) const KEEP_SLOTS: usize = 0;
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

#[derive(Debug, PartialEq, Eq)]
enum ChanState {
    Joining,
    Joined,
    /// Joining again after a reconnect; the members before it are kept for a diff.
    Rejoining,
}

/// A channel as it was when the connection dropped.
#[derive(Debug)]
struct Before {
    members: Members,
    /// The user's nick then.
    nick: String,
}

#[derive(Debug)]
struct PendingEcho {
    body: String,
    kind: MessageKind,
    ids: ClientIds,
    remaining: usize,
}

struct Channel {
    /// Inline (a channel's name is short): a `String` took a 32-byte heap block.
    name: CompactString,
    room: LegacyId,
    key: Option<String>,
    state: ChanState,
    members: Members,
    /// Before a reconnect, for the diff once joined again (boxed: rare, 56 bytes).
    before: Option<Box<Before>>,
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
    /// On the first line of a user message (boxed: the queue keeps a few slots for as long
    /// as the connection lives, 168 bytes each with it inline, 56 boxed).
    info: Option<Box<MsgInfo>>,
    /// On the last line of a tracked message (`LegacyCommand::Tracked`): settled once
    /// written (`send.rs`).
    receipt: Option<u64>,
}

/// (Names as `CompactString`s: inline up to 24 bytes, where a `String` of a few bytes took
/// a 32-byte heap block more, six per connection; performance pass 4.)
struct Conn {
    gate: Arc<ConnectGate>,
    key: CompactString,
    generation: u64,
    addr: ServerAddr,
    label: Option<String>,
    cfg: Arc<IrcConfig>,
    primary: bool,
    password: Option<String>,
    account: CompactString,
    /// How the password is used (SASL, NickServ).
    identify: crate::settings::Identify,
    /// The server password and the commands after connecting, where the user set them.
    extras: Option<Box<Extras>>,
    wanted_nick: CompactString,
    nick: CompactString,
    user: Option<CompactString>,
    host: Option<CompactString>,
    away: crate::away::Away,
    events: channel::Sender<LegacyEvent>,
    ended: channel::Sender<Ended>,
    pending: VecDeque<LegacyEvent>,
    events_closed: bool,

    /// Shared with every connection that got the same 005 (`isupport::shared`).
    isupport: Arc<ISupport>,
    /// By folded name, inline (a `String` key took a 32-byte heap block); the usual one or
    /// few in a vector sized to them (`pontoon_core::small::Map`).
    channels: pontoon_core::small::Map<CompactString, Box<Channel>>,
    reg_q: VecDeque<String>,
    user_q: VecDeque<Out>,
    bucket: TokenBucket,
    pending_nick_room: Option<String>,
    /// What the connection needs now and then (`Occasional`), made at the first use.
    occasional: Option<Box<Occasional>>,
    /// Contacts whose presence we follow (`watch.rs`).
    watch: watch::Watching,
    /// The room listing under way, if any (boxed: rare, and 120 bytes).
    listing: Option<Box<Listing>>,

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
    /// The core was told the user's queue is backed up (`LegacyEvent::Backlog`, `send.rs`).
    backlog_told: bool,
    /// When the core stopped taking our events (we then only wait for the QUIT).
    events_closed_at: Option<Instant>,
    registered_at: Instant,
    /// The user was told their password is not sent over cleartext.
    cleartext_notified: bool,
}

/// What a connection needs only now and then, boxed apart and made at its first use: about
/// 110 bytes of every connection otherwise (performance pass 4).
#[derive(Default)]
struct Occasional {
    /// The user's last private messages written: folded nick, XMPP id (`messages.rs`).
    recent_private: VecDeque<(String, Option<String>)>,
    /// Until when the server's unread lines answer the user's raw command (`raw.rs`).
    raw_until: Option<Instant>,
    /// Occupants the user banned, until the server's KICK of them (`moderation.rs`).
    banning: Vec<(String, String)>,
    /// Lookups and ban lists under way (`questions.rs`).
    questions: Vec<questions::Question>,
    /// When the last CTCP reply was queued.
    last_ctcp_reply: Option<Instant>,
    /// Channels we sent PART for whose echo has not come back (folded): a JOIN the user
    /// sends meanwhile must not be undone by that echo (`channels.rs`, `on_part`).
    parting: Vec<String>,
}

/// What a connection takes from the user's settings beyond its password, boxed: most
/// connections have none (`crate::settings`).
struct Extras {
    /// Sent as `PASS` first.
    server_password: Option<String>,
    /// Sent once registered.
    commands: Vec<String>,
    /// The user's client certificate, if they made one.
    certificate: Option<Certificate>,
    /// Log in with SASL EXTERNAL (the certificate) first.
    external: bool,
    /// What text that is not UTF-8 is read as.
    fallback: Option<crate::encoding::Charset>,
    /// What the user's lines are written in, where not UTF-8.
    send: Option<crate::encoding::Charset>,
    /// Channels with a charset of their own for what is read, and for what is written.
    channel_fallbacks: crate::encoding::ChannelCharsets,
    channel_sends: crate::encoding::ChannelCharsets,
}

/// A client certificate as a connection uses it.
struct Certificate {
    /// The TLS set-up presenting it; none where the address is not TLS.
    config: Option<Arc<rustls::ClientConfig>>,
    /// Its SHA-256 fingerprint, for `connection`.
    fingerprint: String,
    /// The user was told it is not presented without TLS.
    told_no_tls: bool,
}

impl Extras {
    fn of(login: &crate::settings::Login, addr: &ServerAddr) -> Option<Box<Extras>> {
        let certificate = login.certificate.as_ref().and_then(|c| {
            let fingerprint = c
                .chain
                .first()
                .map(|der| crate::certfp::sha256(der))
                .unwrap_or_default();
            let config = match addr.tls.then(|| tls::config_with_cert(addr.verify_cert, c)) {
                None => None,
                Some(Ok(config)) => Some(config),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "the user's client certificate is not used");
                    return None;
                }
            };
            Some(Certificate {
                config,
                fingerprint,
                told_no_tls: false,
            })
        });
        let any = login.server_password.is_some()
            || !login.commands.is_empty()
            || certificate.is_some()
            || login.fallback.is_some()
            || login.send.is_some()
            || !login.channel_fallbacks.is_empty()
            || !login.channel_sends.is_empty();
        any.then(|| {
            Box::new(Extras {
                server_password: login.server_password.clone(),
                commands: login.commands.clone(),
                external: login.external && certificate.is_some(),
                certificate,
                fallback: login.fallback,
                send: login.send,
                channel_fallbacks: login.channel_fallbacks.clone(),
                channel_sends: login.channel_sends.clone(),
            })
        })
    }
}

impl Conn {
    /// What the connection needs now and then, made if this is the first time.
    fn occasional(&mut self) -> &mut Occasional {
        self.occasional.get_or_insert_default()
    }
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
    let (modes, n) = m.modes.chars();
    let (role, affiliation) = isupport.role_of(&modes[..n]);
    Occupant {
        nick: m.nick.to_string(),
        person: None,
        role,
        affiliation,
    }
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
        let mut watch = watch::Watching::default();
        let isupport = crate::isupport::default_shared();
        let pacing = p.login.pacing(&p.cfg);
        let extras = Extras::of(&p.login, &p.addr);
        for nick in &p.watch {
            watch.add(nick, &isupport);
        }
        Conn {
            gate: p.gate,
            watch,
            listing: None,
            occasional: None,
            registered_at: now,
            cleartext_notified: false,
            key: p.key.into(),
            generation: p.generation,
            label: p.label,
            primary: p.primary,
            account: p
                .login
                .account
                .clone()
                .unwrap_or_else(|| p.nick.clone())
                .into(),
            neg: Negotiator::new(false),
            identify: p.login.identify,
            extras,
            password: p.login.password,
            wanted_nick: p.nick.as_str().into(),
            nick: p.nick.into(),
            user: None,
            host: None,
            away: crate::away::Away::new(p.away),
            events: p.events,
            ended: p.ended,
            pending: VecDeque::new(),
            events_closed: false,
            isupport,
            channels: pontoon_core::small::Map::default(),
            reg_q: VecDeque::new(),
            user_q: VecDeque::new(),
            bucket: TokenBucket::new(pacing.0, pacing.1, now),
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
            backlog_told: false,
            events_closed_at: None,
            addr: p.addr,
            cfg: p.cfg,
        }
    }

    fn host_name(&self) -> &str {
        &self.addr.host
    }

    fn emit(&mut self, ev: LegacyEvent) {
        self.events.send_or_keep(ev, &mut self.pending);
    }

    fn flush(&mut self) {
        if self.events.try_send_from(&mut self.pending).is_err() {
            self.pending = VecDeque::new();
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
        self.isupport.same(nick, &self.nick)
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
        if let Some(l) = self.question_deadline() {
            d = d.min(l);
        }
        if self.registered {
            if !self.watch.synced() {
                d = d.min(self.registered_at + WATCH_SYNC_FALLBACK);
            }
            if let Some(t) = self.watch.next_due() {
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
        self.expire_questions(now);
        if self.listing.as_ref().is_some_and(|l| now >= l.deadline) {
            let text = format!(
                "{} did not list its channels within {} s",
                self.host_name(),
                self.cfg.list_timeout.as_secs_f64()
            );
            self.fail_listing(&text);
        }
        if self.registered {
            if !self.watch.synced() && now >= self.registered_at + WATCH_SYNC_FALLBACK {
                self.sync_watches();
            }
            let (flush, poll) = self.watch.due(now);
            if flush {
                self.flush_watches();
            }
            if poll {
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
                let password = self.password.as_deref().unwrap_or_default();
                let step = self
                    .neg
                    .on_authenticate(l.param(0), &self.account, password);
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
                    let change = self
                        .watch
                        .watcher()
                        .and_then(|w| w.away(nick, message, &self.isupport));
                    self.report(change);
                }
                None
            }
            "TOPIC" => {
                let fold = self.isupport.fold(l.param(0));
                let subject = format::strip(l.param(1));
                let nick = l.nick().map(str::to_owned);
                if let Some(c) = self.channels.get_mut(&*fold) {
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
