//! What the session sees of a connection: the commands it sends ([`ConnCommand`]), what it
//! starts one with ([`ConnParams`], [`spawn`]) and what it hears when one ends ([`Ended`]).

use super::*;

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
    /// Carry out `command` (a message) and settle `receipt` once done with it
    /// (`LegacyCommand::Tracked`).
    Tracked {
        receipt: u64,
        command: Box<ConnCommand>,
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
    /// Send a raw line the user typed (`crate::raw` checked it).
    Raw(String),
    /// Tell the user how the connection stands (`describe.rs`).
    Describe,
    /// Look `nick` up (WHOIS) for whoever asked (`questions.rs`).
    Whois { to: AnswerTo, nick: String },
    /// List the bans of `chan` for whoever asked (`questions.rs`).
    ListBans { to: AnswerTo, chan: String },
    /// Lift the ban `mask` in `chan`.
    Unban { chan: String, mask: String },
    /// Read the modes of `chan` for whoever asked (`questions.rs`).
    GetModes { to: AnswerTo, chan: String },
    /// Change modes of `chan` as the user typed them (`/mode +m`, `crate::slash`).
    Mode { chan: String, words: Vec<String> },
    /// Change the modes of `chan` (`questions.rs`).
    SetModes {
        chan: String,
        config: pontoon_core::legacy::RoomConfig,
    },
    /// As a channel operator, give `nick` in `chan` another role (op, voice, neither).
    SetRole {
        chan: String,
        nick: String,
        role: pontoon_core::legacy::Role,
    },
    /// As a channel operator, send `nick` out of `chan`, and with `ban` keep them out
    /// (`moderation.rs`).
    Kick {
        chan: String,
        nick: String,
        reason: Option<String>,
        ban: bool,
    },
    /// Quit with a message and end.
    Quit(String),
}

/// Shows a secret only as whether there is one.
pub(super) fn redacted(secret: &Option<String>) -> &'static str {
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
            ConnCommand::Tracked { receipt, command } => f
                .debug_struct("Tracked")
                .field("receipt", receipt)
                .field("command", command)
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
            ConnCommand::Describe => f.write_str("Describe"),
            ConnCommand::ListBans { to, chan } => f
                .debug_struct("ListBans")
                .field("to", to)
                .field("chan", chan)
                .finish(),
            ConnCommand::GetModes { to, chan } => f
                .debug_struct("GetModes")
                .field("to", to)
                .field("chan", chan)
                .finish(),
            // A key (+k) must not end up in logs.
            ConnCommand::Mode { chan, words } => f
                .debug_struct("Mode")
                .field("chan", chan)
                .field("modes", &words.first())
                .finish_non_exhaustive(),
            // The room password must not end up in logs.
            ConnCommand::SetModes { chan, .. } => f
                .debug_struct("SetModes")
                .field("chan", chan)
                .finish_non_exhaustive(),
            ConnCommand::Unban { chan, mask } => f
                .debug_struct("Unban")
                .field("chan", chan)
                .field("mask", mask)
                .finish(),
            ConnCommand::Whois { to, nick } => f
                .debug_struct("Whois")
                .field("to", to)
                .field("nick", nick)
                .finish(),
            ConnCommand::SetRole { chan, nick, role } => f
                .debug_struct("SetRole")
                .field("chan", chan)
                .field("nick", nick)
                .field("role", role)
                .finish(),
            ConnCommand::Kick {
                chan,
                nick,
                reason,
                ban,
            } => f
                .debug_struct("Kick")
                .field("chan", chan)
                .field("nick", nick)
                .field("reason", reason)
                .field("ban", ban)
                .finish(),
            // The verb only: the rest may be a password (PRIVMSG NickServ :IDENTIFY ...).
            ConnCommand::Raw(line) => f
                .debug_tuple("Raw")
                .field(&line.split(' ').next().unwrap_or(""))
                .finish(),
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
    /// The password, account, server password, commands and pacing (`crate::settings`).
    pub login: crate::settings::Login,
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
