//! Pontoon's per-message path, one message at a time, without network or scheduler: the
//! "physical limit" of issue 8 that the end-to-end figures of `bench/run` are compared with.
//!
//! Two directions, each a loop body that handles exactly one message:
//!
//! - [`XmppToIrc::step`]: the bytes of one groupchat `<message>` on the component stream go
//!   through pontoon-xmpp's bounded [`StreamReader`] (rxml, minidom; built in `jabber:client`
//!   as the component link reads them), the addressing the core's `Service` does (sender and addressee
//!   JIDs, XEP-0106 unescaping, [`Transport::parse_address`] of the IRC transport), the
//!   body extraction of the core's message handling, the IRC session's room address
//!   parsing, and the IRC connection's PRIVMSG formatting (case folding, [`split::budget`],
//!   [`split::split`], [`line::build`]); the line plus CRLF is appended to an output
//!   buffer. [`XmppToIrc::step_with_reflection`] adds what Pontoon also does for every
//!   such message when the server has no `echo-message`: the groupchat stanza reflected to
//!   the sender, built and serialized like an IRC->XMPP delivery.
//! - [`IrcToXmpp::step`]: one `:nick!user@host PRIVMSG #chan :text` line is decoded from
//!   bytes by pontoon-irc's [`LineCodec`], parsed by [`line::parse`], handled as the
//!   connection handles a channel PRIVMSG ([`ctcp::parse`], [`format::to_styling`], channel and
//!   own-nick checks), then turned into the groupchat stanza as the core's room code builds
//!   it ([`escape::legacy_jid`], one [`pontoon_xmpp::outgoing::Message`] shared by the
//!   recipients) and written in `jabber:component:accept` straight to bytes by
//!   [`pontoon_xmpp::OutStanza::write_ns`], as the component link writes it.
//!
//! Every call into pontoon-xmpp, pontoon-core and pontoon-irc is the crates' real public
//! function. What those crates keep private is reproduced here with the same types and
//! the same steps, and named as such where it happens: the hand-offs between the tasks
//! (tokio channels: link -> service -> session -> IRC session -> connection and back), the
//! sessions' map look-ups, the policy check, the pacing token bucket and the socket writes
//! (here appends to a buffer). Those are exactly the parts that cost more end to end than
//! here, together with the system calls and the scheduler.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;
use jid::{BareJid, Jid};
use pontoon_core::Transport;
use pontoon_core::escape;
use pontoon_core::legacy::{ClientIds, LegacyCommand, LegacyEvent, LegacyId, MessageKind};
use pontoon_core::transport::Address;
use pontoon_irc::address;
use pontoon_irc::isupport::ISupport;
use pontoon_irc::line::{self, LineCodec, Source};
use pontoon_irc::{IrcConfig, IrcTransport, ctcp, format, split};
use pontoon_xmpp::outgoing::Payload;
use pontoon_xmpp::{Frame, Limits, StreamReader, ns};
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::codec::Decoder;

/// The transport domain of the benchmark (as in `bench/isolated.py`).
pub const DOMAIN: &str = "pontoon.bench";
/// The IRC server of the benchmark's addresses (`#chan%server`).
pub const IRC_SERVER: &str = "127.0.0.2";
/// The groupchat stanza of the XMPP->IRC direction, as the benchmark driver sends it.
pub const GROUPCHAT_STANZA: &str = "<message from='u70@bench.local/r' to='#c7%127.0.0.2@pontoon.bench' \
     type='groupchat' id='x1000042'><body>X1000042 hello from XMPP</body></message>";
/// The channel line of the IRC->XMPP direction (CRLF included).
pub const PRIVMSG_LINE: &str = ":bot!b@irc.bench PRIVMSG #c7 :I3000042 hello from IRC\r\n";
/// Output buffers are emptied once they hold this much (a flushed `BufWriter`).
const OUT_FLUSH: usize = 64 * 1024;
/// Lines per refill of the IRC input buffer (one socket read of a busy connection).
const LINES_PER_READ: usize = 64;

/// Why a step did not handle its message (never expected; reported, not panicked on).
#[derive(Debug)]
pub enum PathError {
    /// The stream reader failed or returned something else than a stanza.
    Read(String),
    /// An address did not parse, or the message was not routed where expected.
    Route(String),
    /// The element could not be serialized.
    Write(String),
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathError::Read(s) => write!(f, "read: {s}"),
            PathError::Route(s) => write!(f, "route: {s}"),
            PathError::Write(s) => write!(f, "write: {s}"),
        }
    }
}

impl std::error::Error for PathError {}

/// An endless component stream: the server's stream header once, then the same stanza
/// over and over, handed out in reads as large as the reader asks for (as a busy socket).
#[derive(Debug)]
pub struct Repeat {
    head: Vec<u8>,
    head_pos: usize,
    unit: Vec<u8>,
    pos: usize,
}

impl Repeat {
    /// `head` once, then `unit` forever.
    pub fn new(head: &[u8], unit: &[u8]) -> Self {
        Repeat {
            head: head.to_vec(),
            head_pos: 0,
            unit: unit.to_vec(),
            pos: 0,
        }
    }
}

impl AsyncRead for Repeat {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        while buf.remaining() > 0 {
            if this.head_pos < this.head.len() {
                let rest = this.head.get(this.head_pos..).unwrap_or_default();
                let n = rest.len().min(buf.remaining());
                buf.put_slice(rest.get(..n).unwrap_or_default());
                this.head_pos += n;
                continue;
            }
            if this.unit.is_empty() {
                break;
            }
            let rest = this.unit.get(this.pos..).unwrap_or_default();
            let n = rest.len().min(buf.remaining());
            buf.put_slice(rest.get(..n).unwrap_or_default());
            this.pos = (this.pos + n) % this.unit.len();
        }
        Poll::Ready(Ok(()))
    }
}

/// Polls a future that never waits (its I/O is in memory) to completion, without a runtime.
fn ready<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    // Bounded: an in-memory reader completes on the first poll.
    for _ in 0..4 {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return Some(v);
        }
    }
    None
}

/// The IRC transport as the benchmark configures it (`allowed_networks`, no pacing).
pub fn irc_config() -> IrcConfig {
    IrcConfig {
        allowed_networks: vec![IRC_SERVER.to_owned()],
        flood_burst: 10_000,
        flood_per_second: 100_000.0,
        ..IrcConfig::default()
    }
}

/// The server's ISUPPORT as the benchmark's IRC servers announce it (CASEMAPPING=ascii).
fn isupport() -> ISupport {
    let mut s = ISupport::default();
    s.apply(&[
        "CHANTYPES=#".to_owned(),
        "PREFIX=(ov)@+".to_owned(),
        "CASEMAPPING=ascii".to_owned(),
        "NICKLEN=30".to_owned(),
    ]);
    s
}

/// The groupchat stanza the core sends for a room message (what its private `groupchat`
/// helper and `on_room_message` build), serialized as the component link writes it.
fn write_groupchat(
    room: &str,
    nick: &str,
    body: &str,
    ids: &ClientIds,
    resources: &[Jid],
    out: &mut Vec<u8>,
) -> Result<(), PathError> {
    let from = escape::legacy_jid(room, DOMAIN, Some(nick))
        .map_err(|e| PathError::Route(format!("occupant JID: {e}")))?;
    // pontoon-core's render (`Session::render`): the XEP-0359 ids once per message, the
    // stanza-id as the `id` of others' messages, then the element built directly (issue 8
    // performance pass) for each resource.
    let stanza_id = pontoon_core::ids::stanza_id_for(None);
    let mut payloads: Vec<Payload> = Vec::with_capacity(4);
    payloads.extend(pontoon_core::ids::room_message_ids(ids, &from, &stanza_id).map(Payload::Flat));
    payloads.push(pontoon_core::ids::occupant_id(room, nick).into());
    let id = ids.id.as_deref().or(Some(stanza_id.as_str()));
    // One shared message for every resource, each written straight to bytes by the
    // component link's write loop (in the component namespace).
    let message = pontoon_xmpp::outgoing::Message {
        kind: "groupchat",
        from,
        id: id.map(Into::into),
        body: Some(body.into()),
        payloads,
    };
    for stanza in message.to_each(resources.iter().cloned()) {
        stanza
            .write_ns(ns::CLIENT, ns::COMPONENT_ACCEPT, out)
            .map_err(|e| PathError::Write(e.to_string()))?;
    }
    Ok(())
}

/// XMPP->IRC: one groupchat stanza from bytes to a PRIVMSG line per [`step`](Self::step).
pub struct XmppToIrc {
    reader: StreamReader<Repeat>,
    transport: IrcTransport,
    isupport: ISupport,
    /// The service's map of logged-in users (the real one maps to session handles).
    sessions: HashMap<BareJid, u32>,
    /// The session's rooms and the user's resources in each.
    rooms: HashMap<LegacyId, HashSet<Jid>>,
    /// The IRC session's connections, by server.
    conns: HashSet<String>,
    /// The connection's channels, folded.
    channels: HashSet<String>,
    nick: String,
    user: Option<String>,
    host: Option<String>,
    irc_out: Vec<u8>,
    xmpp_out: Vec<u8>,
}

impl std::fmt::Debug for XmppToIrc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XmppToIrc").finish_non_exhaustive()
    }
}

impl XmppToIrc {
    /// A component stream that repeats `stanza` (see [`GROUPCHAT_STANZA`]) with its user
    /// joined to the stanza's room.
    pub fn new(stanza: &str) -> Result<Self, PathError> {
        let head = format!(
            "<?xml version='1.0'?><stream:stream xmlns:stream='{}' xmlns='{}' from='{DOMAIN}' id='bench'>",
            ns::STREAMS,
            ns::COMPONENT_ACCEPT
        );
        let mut reader = StreamReader::new(
            Repeat::new(head.as_bytes(), stanza.as_bytes()),
            Limits::default(),
        );
        // As the component link reads: stanzas built in jabber:client.
        reader.map_content_ns(ns::COMPONENT_ACCEPT, ns::CLIENT);
        match ready(reader.next()) {
            Some(Ok(Frame::Header(_))) => {}
            other => return Err(PathError::Read(format!("no stream header: {other:?}"))),
        }
        let cfg = irc_config();
        let mut s = XmppToIrc {
            reader,
            transport: IrcTransport::new(cfg),
            isupport: isupport(),
            sessions: HashMap::new(),
            rooms: HashMap::new(),
            conns: HashSet::new(),
            channels: HashSet::new(),
            nick: "u70".to_owned(),
            user: Some("~u70".to_owned()),
            host: Some("127.0.0.1".to_owned()),
            irc_out: Vec::with_capacity(OUT_FLUSH + 1024),
            xmpp_out: Vec::with_capacity(OUT_FLUSH + 1024),
        };
        // Log the stanza's sender in and join it to the stanza's room, as a join would.
        let mut once = StreamReader::new(
            Repeat::new(format!("{head}{stanza}").as_bytes(), b""),
            Limits::default(),
        );
        let el = match (ready(once.next()), ready(once.next())) {
            (Some(Ok(Frame::Header(_))), Some(Ok(Frame::Stanza(el)))) => el,
            other => return Err(PathError::Read(format!("not a stanza: {other:?}"))),
        };
        let from = Jid::new(el.attr("from").unwrap_or_default())
            .map_err(|e| PathError::Route(e.to_string()))?;
        let to = Jid::new(el.attr("to").unwrap_or_default())
            .map_err(|e| PathError::Route(e.to_string()))?;
        let local = escape::unescape(to.node().map(|n| n.as_str()).unwrap_or_default());
        let Ok(Address::Room(room)) = s.transport.parse_address(&local) else {
            return Err(PathError::Route(format!("{local} is not a room")));
        };
        s.sessions.insert(from.to_bare(), 1);
        s.conns
            .insert(room.network().unwrap_or_default().to_owned());
        s.channels.insert(s.isupport.fold(room.name()));
        s.rooms.entry(room).or_default().insert(from);
        Ok(s)
    }

    /// Handles one stanza; returns the bytes of IRC output it produced.
    pub fn step(&mut self) -> Result<usize, PathError> {
        self.route(false)
    }

    /// As [`step`](Self::step), plus the groupchat stanza Pontoon reflects to the sender
    /// once the PRIVMSG is written (servers without `echo-message`, such as the
    /// benchmark's); returns the bytes of IRC and XMPP output.
    pub fn step_with_reflection(&mut self) -> Result<usize, PathError> {
        self.route(true)
    }

    /// The IRC output of the last steps (emptied every 64 KiB).
    pub fn irc_output(&self) -> &[u8] {
        &self.irc_out
    }

    /// The XMPP output (reflections) of the last steps (emptied every 64 KiB).
    pub fn xmpp_output(&self) -> &[u8] {
        &self.xmpp_out
    }

    fn route(&mut self, reflect: bool) -> Result<usize, PathError> {
        // pontoon-xmpp: bytes -> element in jabber:client (the link's read loop).
        let el = match ready(self.reader.next()) {
            Some(Ok(Frame::Stanza(el))) => el,
            other => return Err(PathError::Read(format!("{other:?}"))),
        };

        // pontoon-core, Service::handle: sender, type, id, addressee.
        let from = el
            .attr("from")
            .and_then(|f| Jid::new(f).ok())
            .ok_or_else(|| PathError::Route("no valid from".to_owned()))?;
        let kind = el.attr("type").unwrap_or_default().to_owned();
        let ids = pontoon_core::ids::client_ids(&el);
        let to = Jid::new(el.attr("to").unwrap_or_default())
            .map_err(|e| PathError::Route(e.to_string()))?;
        if to.domain().as_str() != DOMAIN {
            return Err(PathError::Route("foreign domain".to_owned()));
        }
        let node = to
            .node()
            .ok_or_else(|| PathError::Route("no node".to_owned()))?;
        let local = escape::unescape(node.as_str());
        let room = match self.transport.parse_address(&local) {
            Ok(Address::Room(room)) if to.resource().is_none() => room,
            other => return Err(PathError::Route(format!("not a room: {other:?}"))),
        };
        if el.name() != "message" || kind != "groupchat" {
            return Err(PathError::Route("not a groupchat message".to_owned()));
        }

        // on_message / route_room_message: the verb (read once), the user's session.
        let verb =
            pontoon_core::inbound::read_message(&el).map_err(|r| PathError::Route(r.text))?;
        let pontoon_core::inbound::Verb::Text(text) = verb else {
            return Err(PathError::Route("not text".to_owned()));
        };
        let (body, kind) = (text.body, text.kind);
        if !self.sessions.contains_key(&from.to_bare()) {
            return Err(PathError::Route("no session".to_owned()));
        }
        // (the stanza goes to the session's inbox here: a tokio channel, not covered)

        // The session's room_message: in the room, then the legacy command.
        if !self.rooms.get(&room).is_some_and(|r| r.contains(&from)) {
            return Err(PathError::Route("not in the room".to_owned()));
        }
        let command = LegacyCommand::SendRoomMessage {
            reply_to: None,
            thread: None,
            attachments: Vec::new(),
            room,
            body,
            kind,
            ids,
        };
        // (another channel hop: session -> IRC session)

        // pontoon-irc, the IRC session: which connection, which channel.
        let LegacyCommand::SendRoomMessage {
            room,
            body,
            kind,
            ids,
            ..
        } = command
        else {
            return Err(PathError::Route("unexpected command".to_owned()));
        };
        // The address was parsed once (parse_address above): the session reads it.
        let chan = room.name();
        if !chan.starts_with(['#', '&']) {
            return Err(PathError::Route("not a channel".to_owned()));
        }
        if !self.conns.contains(room.network().unwrap_or_default()) {
            return Err(PathError::Route("no connection".to_owned()));
        }
        // (channel hop: IRC session -> connection)

        // The connection: in the channel, then queue_message's formatting.
        let fold = self.isupport.fold(chan);
        if !self.channels.contains(&fold) {
            return Err(PathError::Route("not in the channel".to_owned()));
        }
        let (action, text) = match body.strip_prefix("/me ") {
            Some(rest) => (true, rest),
            None => (false, body.as_str()),
        };
        let mut budget = split::budget(
            &self.nick,
            self.user.as_deref(),
            self.host.as_deref(),
            "PRIVMSG",
            chan,
        );
        if action {
            budget = budget.saturating_sub(9);
        }
        let pieces = split::split(text, budget);
        // The message's bookkeeping until it is written (the real MsgInfo keeps a copy).
        let kept_body = body.clone();
        let mut written = 0;
        for piece in pieces {
            let text = if action { ctcp::action(&piece) } else { piece };
            let l = line::build("PRIVMSG", &[chan], Some(&text));
            // (pacing token bucket: not covered; the write loop appends CRLF)
            if self.irc_out.len() > OUT_FLUSH {
                self.irc_out.clear();
            }
            self.irc_out.extend_from_slice(l.as_bytes());
            self.irc_out.extend_from_slice(b"\r\n");
            written += l.len() + 2;
        }
        if reflect {
            // on_message_written without echo-message: a RoomMessage event with our nick,
            // which the core turns into a groupchat stanza to each of the user's resources.
            let event = LegacyEvent::RoomMessage {
                attachments: vec![],
                reply_to: None,
                thread: None,
                room: address::room_id(chan, room.network()),
                nick: self.nick.clone(),
                body: kept_body,
                kind,
                ids,
                id: None,
                time: None,
            };
            if let LegacyEvent::RoomMessage {
                room,
                nick,
                body,
                ids,
                ..
            } = event
            {
                let resources: Vec<Jid> = self
                    .rooms
                    .get(&room)
                    .map(|r| r.iter().cloned().collect())
                    .unwrap_or_default();
                if self.xmpp_out.len() > OUT_FLUSH {
                    self.xmpp_out.clear();
                }
                let before = self.xmpp_out.len();
                write_groupchat(&room, &nick, &body, &ids, &resources, &mut self.xmpp_out)?;
                written += self.xmpp_out.len() - before;
            }
        }
        Ok(written)
    }
}

/// IRC->XMPP: one channel PRIVMSG from bytes to a serialized groupchat stanza per
/// [`step`](Self::step).
pub struct IrcToXmpp {
    codec: LineCodec,
    input: BytesMut,
    read: Vec<u8>,
    isupport: ISupport,
    nick: String,
    /// The connection's channels: folded name -> room id.
    channels: HashMap<String, LegacyId>,
    /// The session's rooms: room id -> the user's resources in it.
    resources: HashMap<LegacyId, Vec<Jid>>,
    out: Vec<u8>,
}

impl std::fmt::Debug for IrcToXmpp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IrcToXmpp").finish_non_exhaustive()
    }
}

impl IrcToXmpp {
    /// A connection that receives `line` (CRLF-terminated, see [`PRIVMSG_LINE`]) over and
    /// over, its user `u70` joined to the line's channel from `u70@bench.local/r`.
    pub fn new(line: &str) -> Result<Self, PathError> {
        let l = line::parse(line.trim_end()).map_err(|e| PathError::Read(e.to_string()))?;
        let chan = l.param(0).to_owned();
        let isupport = isupport();
        let room = address::room_id(&chan, Some(IRC_SERVER));
        let user = Jid::new("u70@bench.local/r").map_err(|e| PathError::Route(e.to_string()))?;
        let mut channels = HashMap::new();
        channels.insert(isupport.fold(&chan), room.clone());
        let mut resources = HashMap::new();
        resources.insert(room, vec![user]);
        Ok(IrcToXmpp {
            codec: LineCodec::default(),
            input: BytesMut::with_capacity(line.len() * LINES_PER_READ),
            read: line.repeat(LINES_PER_READ).into_bytes(),
            isupport,
            nick: "u70".to_owned(),
            channels,
            resources,
            out: Vec::with_capacity(OUT_FLUSH + 1024),
        })
    }

    /// The XMPP output of the last steps (emptied every 64 KiB).
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    /// Handles one line; returns the bytes of XMPP output it produced.
    pub fn step(&mut self) -> Result<usize, PathError> {
        if self.input.is_empty() {
            self.input.extend_from_slice(&self.read);
        }
        // pontoon-irc: the connection's FramedRead<LineCodec>, then on_line.
        let text = self
            .codec
            .decode(&mut self.input)
            .map_err(|e| PathError::Read(e.to_string()))?
            .ok_or_else(|| PathError::Read("no complete line".to_owned()))?;
        let l = line::parse(&text).map_err(|e| PathError::Read(e.to_string()))?;
        if l.verb != "PRIVMSG" || l.params.len() < 2 {
            return Err(PathError::Route(format!("not a PRIVMSG: {}", l.verb)));
        }
        // on_privmsg (the server-time tag's replay check is not covered: no tag here).
        let text = l.param(1);
        let sender = match &l.source {
            Some(Source::User { nick, .. }) if !nick.is_empty() && !nick.contains('.') => {
                nick.clone()
            }
            _ => return Err(PathError::Route("not from a user".to_owned())),
        };
        let mut body_text = text;
        let mut action = false;
        if let Some(c) = ctcp::parse(text) {
            if !c.command.eq_ignore_ascii_case("ACTION") {
                return Err(PathError::Route("CTCP request".to_owned()));
            }
            action = true;
            body_text = c.args;
        }
        let styled = format::to_styling(body_text);
        let body = if action {
            format!("/me {styled}")
        } else {
            styled
        };
        let mut target = l.param(0);
        while let Some(c) = target.chars().next() {
            if self.isupport.mode_of_symbol(c).is_some() && target.len() > 1 {
                target = target.get(c.len_utf8()..).unwrap_or("");
            } else {
                break;
            }
        }
        if !self.isupport.is_channel(target) {
            return Err(PathError::Route("not a channel".to_owned()));
        }
        let fold = self.isupport.fold(target);
        let me = self.isupport.fold(&sender) == self.isupport.fold(&self.nick);
        let Some(room) = self.channels.get(&fold).cloned() else {
            return Err(PathError::Route("not in the channel".to_owned()));
        };
        if me || body.trim().is_empty() {
            return Err(PathError::Route("own or empty message".to_owned()));
        }
        let event = LegacyEvent::RoomMessage {
            attachments: pontoon_irc::files::attachments(&body),
            reply_to: pontoon_irc::client_tags::reply(&l),
            thread: None,
            room,
            nick: sender,
            body,
            kind: MessageKind::Text,
            ids: ClientIds::none(),
            id: None,
            time: None,
        };
        // (channel hops: connection -> IRC session -> core session, not covered)

        // pontoon-core, on_room_message: one groupchat stanza per resource in the room,
        // then the component link's write loop.
        let LegacyEvent::RoomMessage {
            room,
            nick,
            body,
            ids,
            ..
        } = event
        else {
            return Err(PathError::Route("unexpected event".to_owned()));
        };
        let resources = self.resources.get(&room).cloned().unwrap_or_default();
        if self.out.len() > OUT_FLUSH {
            self.out.clear();
        }
        let before = self.out.len();
        write_groupchat(&room, &nick, &body, &ids, &resources, &mut self.out)?;
        Ok(self.out.len() - before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xmpp_to_irc_writes_the_privmsg() {
        let mut p = XmppToIrc::new(GROUPCHAT_STANZA).unwrap();
        for _ in 0..1000 {
            assert!(p.step().unwrap() > 0);
        }
        let out = String::from_utf8(p.irc_output().to_vec()).unwrap();
        assert!(
            out.starts_with("PRIVMSG #c7 :X1000042 hello from XMPP\r\n"),
            "{out}"
        );
        assert!(p.xmpp_output().is_empty());
    }

    #[test]
    fn reflection_goes_back_to_the_sender() {
        let mut p = XmppToIrc::new(GROUPCHAT_STANZA).unwrap();
        p.step_with_reflection().unwrap();
        let xml = String::from_utf8(p.xmpp_output().to_vec()).unwrap();
        assert!(
            xml.contains("type='groupchat'") || xml.contains("type=\"groupchat\""),
            "{xml}"
        );
        assert!(xml.contains("u70@bench.local/r"), "{xml}");
        assert!(
            xml.contains("%23c7%25127.0.0.2@pontoon.bench/u70")
                || xml.contains("#c7%127.0.0.2@pontoon.bench/u70"),
            "{xml}"
        );
        assert!(xml.contains("X1000042 hello from XMPP"), "{xml}");
    }

    #[test]
    fn irc_to_xmpp_writes_the_groupchat_stanza() {
        let mut p = IrcToXmpp::new(PRIVMSG_LINE).unwrap();
        for _ in 0..1000 {
            assert!(p.step().unwrap() > 0);
        }
        let xml = String::from_utf8(p.output().to_vec()).unwrap();
        let first = xml.split("</message>").next().unwrap();
        assert!(first.starts_with("<message"), "{first}");
        assert!(first.contains("jabber:component:accept"), "{first}");
        assert!(first.contains("u70@bench.local/r"), "{first}");
        assert!(first.contains("/bot"), "{first}");
        assert!(
            first.contains("<body>I3000042 hello from IRC</body>"),
            "{first}"
        );
        // The stanza the gateway writes parses back with pontoon-xmpp's own reader.
        let doc = format!(
            "<stream:stream xmlns:stream='{}' xmlns='{}'>{first}</message>",
            ns::STREAMS,
            ns::COMPONENT_ACCEPT
        );
        let mut r = StreamReader::new(Repeat::new(doc.as_bytes(), b""), Limits::default());
        assert!(matches!(ready(r.next()), Some(Ok(Frame::Header(_)))));
        match ready(r.next()) {
            Some(Ok(Frame::Stanza(el))) => assert_eq!(el.attr("type"), Some("groupchat")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_input_is_an_error_not_a_panic() {
        assert!(XmppToIrc::new("<message/>").is_err());
        let mut p = IrcToXmpp::new(":irc.bench NOTICE #c7 :x\r\n").unwrap();
        assert!(p.step().is_err());
    }
}
