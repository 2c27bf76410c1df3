//! The transport against a scripted IRC server on 127.0.0.1: checks the exact lines it
//! sends and the events it reports, including misbehaviour a real server would not show.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use pontoon_core::legacy::LegacyId;
use std::collections::BTreeMap;
use std::time::Duration;

use pontoon_core::Transport;
use pontoon_core::channel;
use pontoon_core::legacy::{
    Affiliation, ClientIds, LeaveKind, LegacyAccount, LegacyCommand, LegacyEvent, MessageKind,
    Role, RoomError,
};
use pontoon_irc::{IrcConfig, IrcTransport, ServerAddr};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::{Instant, timeout};

const T: Duration = Duration::from_secs(10);

struct Server {
    listener: TcpListener,
}

struct Peer {
    rd: BufReader<OwnedReadHalf>,
    wr: OwnedWriteHalf,
}

impl Server {
    async fn new() -> Server {
        Server {
            listener: TcpListener::bind("127.0.0.1:0").await.unwrap(),
        }
    }
    fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }
    async fn accept(&self) -> Peer {
        let (s, _) = timeout(T, self.listener.accept())
            .await
            .expect("no connection")
            .unwrap();
        let (r, w) = s.into_split();
        Peer {
            rd: BufReader::new(r),
            wr: w,
        }
    }
}

impl Peer {
    /// The next line from the gateway; asserts it is CRLF-terminated and clean.
    async fn line(&mut self) -> String {
        let mut buf = Vec::new();
        let n = timeout(T, self.rd.read_until(b'\n', &mut buf))
            .await
            .expect("no line in time")
            .unwrap();
        assert!(n > 0, "gateway closed the connection");
        assert!(buf.ends_with(b"\r\n"), "line without CRLF: {buf:?}");
        let body = &buf[..buf.len() - 2];
        assert!(
            !body.contains(&b'\r') && !body.contains(&b'\n') && !body.contains(&0),
            "{body:?}"
        );
        assert!(
            buf.len() <= 512,
            "line longer than 512 bytes: {}",
            buf.len()
        );
        String::from_utf8(body.to_vec()).unwrap()
    }
    async fn expect(&mut self, want: &str) {
        let got = self.line().await;
        assert_eq!(got, want);
    }
    /// Skips lines until one starts with `prefix`.
    async fn until(&mut self, prefix: &str) -> String {
        loop {
            let l = self.line().await;
            if l.starts_with(prefix) {
                return l;
            }
        }
    }
    async fn send(&mut self, line: &str) {
        self.wr
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
    }
    /// A plain registration without capabilities.
    async fn register(&mut self, nick: &str) {
        self.expect("CAP LS 302").await;
        self.expect(&format!("NICK {nick}")).await;
        let user = self.line().await;
        assert!(user.starts_with("USER "), "{user}");
        assert!(user.ends_with(" 0 * :Pontoon XMPP gateway user"), "{user}");
        self.send(":irc.test CAP * LS :foo").await;
        self.expect("CAP END").await;
        self.welcome(nick).await;
    }
    async fn welcome(&mut self, nick: &str) {
        self.send(&format!(
            ":irc.test 001 {nick} :Welcome to the test network {nick}!{nick}@gw.example"
        ))
        .await;
        self.send(&format!(
            ":irc.test 005 {nick} PREFIX=(qaohv)~&@%+ CHANTYPES=#& CASEMAPPING=ascii :are supported"
        ))
        .await;
    }
    /// Answers a JOIN for `chan` with a topic and names.
    async fn join(&mut self, nick: &str, chan: &str, names: &str, topic: Option<&str>) {
        self.send(&format!(":{nick}!{nick}@gw.example JOIN {chan}"))
            .await;
        if let Some(t) = topic {
            self.send(&format!(":irc.test 332 {nick} {chan} :{t}"))
                .await;
        }
        self.send(&format!(":irc.test 353 {nick} = {chan} :{names}"))
            .await;
        self.send(&format!(":irc.test 366 {nick} {chan} :End of /NAMES list."))
            .await;
    }
}

fn config(port: u16) -> IrcConfig {
    IrcConfig {
        fixed_server: Some(ServerAddr {
            host: "127.0.0.1".into(),
            port,
            tls: false,
            verify_cert: true,
        }),
        flood_burst: 1000,
        flood_per_second: 1000.0,
        connect_timeout: Duration::from_secs(3),
        ..IrcConfig::default()
    }
}

fn account(nick: &str, password: Option<&str>) -> LegacyAccount {
    LegacyAccount {
        legacy_id: nick.into(),
        secret: password.map(str::to_owned),
        options: BTreeMap::new(),
    }
}

struct Gw {
    tx: channel::Sender<LegacyCommand>,
    rx: channel::Receiver<LegacyEvent>,
}

impl Gw {
    fn start(cfg: IrcConfig, acct: LegacyAccount) -> Gw {
        let t = IrcTransport::new(cfg);
        let (etx, rx) = channel::bounded(64);
        let tx = t.start_session(acct, etx, pontoon_core::state::TransportState::detached());
        Gw { tx, rx }
    }
    /// The next event, but the announcements of what a server carries (`Verbs`, after
    /// each registration: checked against InspIRCd in inspircd_sasl.rs).
    async fn event(&mut self) -> LegacyEvent {
        loop {
            let e = timeout(T, self.rx.recv())
                .await
                .expect("no event in time")
                .expect("session ended");
            if !matches!(e, LegacyEvent::Verbs { .. }) {
                return e;
            }
        }
    }
    /// Skips events until `f` matches.
    async fn wait_for(&mut self, f: impl Fn(&LegacyEvent) -> bool) -> LegacyEvent {
        loop {
            let e = self.event().await;
            if f(&e) {
                return e;
            }
        }
    }
    async fn cmd(&self, c: LegacyCommand) {
        self.tx.send(c).await.unwrap();
    }
    async fn join(&self, room: &str) {
        self.cmd(LegacyCommand::JoinRoom {
            room: lid(room),
            nick: "alice".into(),
            password: None,
        })
        .await;
    }
}

async fn connected(srv: &Server, nick: &str, cfg: IrcConfig) -> (Gw, Peer) {
    let mut gw = Gw::start(cfg, account(nick, None));
    let mut peer = srv.accept().await;
    peer.register(nick).await;
    assert_eq!(gw.event().await, LegacyEvent::Connected);
    (gw, peer)
}

async fn joined(srv: &Server) -> (Gw, Peer) {
    let (mut gw, mut peer) = connected(srv, "alice", config(srv.port())).await;
    gw.join("#chan").await;
    peer.expect("JOIN #chan").await;
    peer.join("alice", "#chan", "alice @bob", None).await;
    let e = gw.event().await;
    assert!(matches!(e, LegacyEvent::RoomJoined { .. }), "{e:?}");
    (gw, peer)
}

/// Presence changes made while the AWAY waits its turn behind the flood pacing make one
/// line, with the last status (issue 20: a burst of presences queued one AWAY each, paced
/// at two a second, for minutes).
#[tokio::test]
async fn away_changes_waiting_for_their_turn_make_one_line() {
    timeout(Duration::from_secs(30), async {
        let srv = Server::new().await;
        let mut cfg = config(srv.port());
        cfg.flood_burst = 8;
        cfg.flood_per_second = 2.0;
        let (gw, mut p) = connected(&srv, "alice", cfg).await;
        // Spend what is left of the burst, so the next line waits half a second.
        for i in 0..8 {
            gw.cmd(LegacyCommand::SendMessage {
                attachments: vec![],
                reply_to: None,
                thread: None,
                kind: MessageKind::Text,
                to: LegacyId::new("dave", None),
                body: format!("m{i}"),
                id: None,
            })
            .await;
        }
        for i in 0..1000 {
            gw.cmd(LegacyCommand::SetPresence {
                availability: pontoon_core::legacy::Availability::Away,
                status: Some(format!("s{i}")),
            })
            .await;
        }
        let mut lines = Vec::new();
        loop {
            let l = p.line().await;
            let away = l.starts_with("AWAY");
            lines.push(l);
            if away {
                break;
            }
        }
        assert_eq!(
            lines.last().map(String::as_str),
            Some("AWAY :s999"),
            "{lines:?}"
        );
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("AWAY")).count(),
            1,
            "{lines:?}"
        );
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn cap_sasl_and_nick_collision() {
    timeout(Duration::from_secs(30), async {
        let srv = Server::new().await;
        let mut gw = Gw::start(config(srv.port()), account("alice", Some("s3cret")));
        let mut p = srv.accept().await;
        p.expect("CAP LS 302").await;
        p.expect("NICK alice").await;
        p.until("USER ").await;
        p.send(":irc.test CAP * LS * :multi-prefix sasl=PLAIN,EXTERNAL")
            .await;
        p.send(":irc.test CAP * LS :echo-message unknown-cap server-time")
            .await;
        p.expect("CAP REQ :sasl multi-prefix server-time echo-message")
            .await;
        p.send(":irc.test CAP * ACK :sasl multi-prefix server-time echo-message")
            .await;
        p.expect("AUTHENTICATE PLAIN").await;
        p.send("AUTHENTICATE +").await;
        // base64("\0alice\0s3cret")
        p.expect("AUTHENTICATE AGFsaWNlAHMzY3JldA==").await;
        p.send(":irc.test 900 * alice!alice@gw alice :You are now logged in as alice")
            .await;
        p.send(":irc.test 903 * :SASL authentication successful")
            .await;
        p.expect("CAP END").await;
        p.send(":irc.test 433 * alice :Nickname is already in use")
            .await;
        p.expect("NICK alice_").await;
        p.send(":irc.test 433 * alice_ :Nickname is already in use")
            .await;
        p.expect("NICK alice__").await;
        p.send(":irc.test 433 * alice__ :Nickname is already in use")
            .await;
        p.expect("NICK alice1").await;
        p.welcome("alice1").await;
        assert_eq!(gw.event().await, LegacyEvent::Authenticated);
        assert_eq!(gw.event().await, LegacyEvent::Connected);
        match gw.event().await {
            LegacyEvent::Notice { text } => assert!(text.contains("alice1"), "{text}"),
            e => panic!("{e:?}"),
        }
        // Keepalive: the server's PING is answered.
        p.send("PING :token123").await;
        p.expect("PONG :token123").await;
        // The joined room reports the nick actually in use.
        gw.join("#chan").await;
        p.expect("JOIN #chan").await;
        p.join("alice1", "#chan", "alice1", None).await;
        match gw.event().await {
            LegacyEvent::RoomJoined { nick, .. } => assert_eq!(nick, "alice1"),
            e => panic!("{e:?}"),
        }
        // echo-message: the reflection waits for the server's echo, with the XMPP id.
        gw.cmd(LegacyCommand::SendRoomMessage {
            attachments: vec![],
            reply_to: None,
            thread: None,
            kind: MessageKind::Text,
            room: LegacyId::new("#chan", None),
            body: "hello".into(),
            ids: ClientIds {
                id: Some("x1".into()),
                origin_id: None,
            },
        })
        .await;
        p.expect("PRIVMSG #chan :hello").await;
        assert!(
            timeout(Duration::from_millis(300), gw.rx.recv())
                .await
                .is_err(),
            "reflected before the echo"
        );
        p.send("@time=2024-05-01T10:00:00.000Z :alice1!alice@gw PRIVMSG #chan :hello")
            .await;
        assert_eq!(
            gw.event().await,
            LegacyEvent::RoomMessage {
                attachments: vec![],
                reply_to: None,
                thread: None,
                kind: MessageKind::Text,
                room: LegacyId::new("#chan", None),
                nick: "alice1".into(),
                body: "hello".into(),
                ids: ClientIds {
                    id: Some("x1".into()),
                    origin_id: None
                },
                id: None,
                time: Some("2024-05-01T10:00:00.000Z".into()),
            }
        );
        // A line the channel refuses: the error names the message that waited for its echo.
        gw.cmd(LegacyCommand::SendRoomMessage {
            attachments: vec![],
            reply_to: None,
            thread: None,
            kind: MessageKind::Text,
            room: LegacyId::new("#chan", None),
            body: "shh".into(),
            ids: ClientIds {
                id: Some("x2".into()),
                origin_id: Some("o2".into()),
            },
        })
        .await;
        p.expect("PRIVMSG #chan :shh").await;
        p.send(":irc.test 404 alice1 #chan :Cannot send to channel (+m)")
            .await;
        match gw.event().await {
            LegacyEvent::RoomSendFailed {
                room, ids, error, ..
            } => {
                assert_eq!(room, "#chan");
                assert_eq!(ids.id.as_deref(), Some("x2"));
                assert_eq!(error, pontoon_core::legacy::SendError::Refused);
            }
            e => panic!("{e:?}"),
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn sasl_failure_is_login_failed() {
    timeout(Duration::from_secs(30), async {
        let srv = Server::new().await;
        let mut gw = Gw::start(config(srv.port()), account("alice", Some("wrong")));
        let mut p = srv.accept().await;
        p.until("USER ").await;
        p.send(":irc.test CAP * LS :sasl").await;
        p.expect("CAP REQ :sasl").await;
        p.send(":irc.test CAP * ACK :sasl").await;
        p.expect("AUTHENTICATE PLAIN").await;
        p.send("AUTHENTICATE +").await;
        p.until("AUTHENTICATE ").await;
        p.send(":irc.test 904 * :SASL authentication failed").await;
        assert_eq!(
            gw.event().await,
            LegacyEvent::LoginFailed {
                reason: "SASL authentication failed: wrong password?".into()
            }
        );
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn server_without_cap_and_refused_connection() {
    timeout(Duration::from_secs(30), async {
        let srv = Server::new().await;
        let mut gw = Gw::start(config(srv.port()), account("bob", None));
        let mut p = srv.accept().await;
        p.expect("CAP LS 302").await;
        p.send(":irc.test 421 * CAP :Unknown command").await;
        p.expect("NICK bob").await;
        p.until("USER ").await;
        p.welcome("bob").await;
        assert_eq!(gw.event().await, LegacyEvent::Connected);

        // Nobody listening: the login fails with a reason, as unreachable (worth a retry).
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap().port()
        };
        let mut gw = Gw::start(config(port), account("bob", None));
        match gw.event().await {
            LegacyEvent::Unreachable { reason } => {
                assert!(reason.contains("cannot connect"), "{reason}")
            }
            e => panic!("{e:?}"),
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn join_names_topic_and_errors() {
    timeout(Duration::from_secs(30), async {
        let srv = Server::new().await;
        let (mut gw, mut p) = connected(&srv, "alice", config(srv.port())).await;
        gw.cmd(LegacyCommand::JoinRoom { room: LegacyId::new("#chan", None), nick: "alice".into(), password: Some("k\r\ney".into()) }).await;
        p.expect("JOIN #chan key").await;
        p.join("alice", "#Chan", "~owner &admin @+op %half +voice plain alice", Some("\x02Welcome\x02 here")).await;
        match gw.event().await {
            LegacyEvent::RoomJoined { room, nick, mut occupants, subject, name } => {
                assert_eq!(name, None, "IRC channels have no name besides their id");
                assert_eq!(room, "#chan");
                assert_eq!(nick, "alice");
                assert_eq!(subject.as_deref(), Some("Welcome here"));
                occupants.sort_by(|a, b| a.nick.cmp(&b.nick));
                let got: Vec<(&str, Role, Affiliation)> =
                    occupants.iter().map(|o| (o.nick.as_str(), o.role, o.affiliation)).collect();
                assert_eq!(
                    got,
                    vec![
                        ("admin", Role::Moderator, Affiliation::Admin),
                        ("alice", Role::Participant, Affiliation::None),
                        ("half", Role::Moderator, Affiliation::Member),
                        ("op", Role::Moderator, Affiliation::Admin),
                        ("owner", Role::Moderator, Affiliation::Owner),
                        ("plain", Role::Participant, Affiliation::None),
                        ("voice", Role::Participant, Affiliation::Member),
                    ]
                );
            }
            e => panic!("{e:?}"),
        }
        // Others come, change, rename, speak and go.
        p.send(":carol!c@h JOIN #chan").await;
        let e = gw.event().await;
        assert!(matches!(&e, LegacyEvent::OccupantUpdated { occupant, .. } if occupant.nick == "carol"), "{e:?}");
        p.send(":op!o@h MODE #chan +o-v+l carol voice 10").await;
        let e1 = gw.event().await;
        let e2 = gw.event().await;
        assert!(matches!(&e1, LegacyEvent::OccupantUpdated { occupant, .. } if occupant.nick == "carol" && occupant.role == Role::Moderator), "{e1:?}");
        assert!(matches!(&e2, LegacyEvent::OccupantUpdated { occupant, .. } if occupant.nick == "voice" && occupant.affiliation == Affiliation::None), "{e2:?}");
        p.send(":carol!c@h NICK :carol2").await;
        assert_eq!(gw.event().await, LegacyEvent::OccupantRenamed { room: LegacyId::new("#chan", None), old: "carol".into(), new: "carol2".into() });
        p.send(":carol2!c@h PRIVMSG #chan :\x0304,01red\x03 text").await;
        assert_eq!(gw.event().await, LegacyEvent::RoomMessage { attachments: vec![], reply_to: None, thread: None, kind: MessageKind::Text, room: LegacyId::new("#chan", None), nick: "carol2".into(), body: "red text".into(), ids: ClientIds::none(), id: None, time: None });
        p.send(":carol2!c@h PRIVMSG #chan :\x01ACTION waves\x01").await;
        assert_eq!(gw.event().await, LegacyEvent::RoomMessage { attachments: vec![], reply_to: None, thread: None, kind: MessageKind::Action, room: LegacyId::new("#chan", None), nick: "carol2".into(), body: "waves".into(), ids: ClientIds::none(), id: None, time: None });
        p.send(":carol2!c@h TOPIC #chan :new topic").await;
        assert_eq!(gw.event().await, LegacyEvent::RoomSubject { room: LegacyId::new("#chan", None), nick: Some("carol2".into()), subject: "new topic".into() });
        p.send(":op!o@h KICK #chan carol2 :behave").await;
        assert_eq!(gw.event().await, LegacyEvent::OccupantLeft { room: LegacyId::new("#chan", None), nick: "carol2".into(), kind: LeaveKind::Kick { by: Some("op".into()) }, reason: Some("behave".into()) });
        p.send(":plain!p@h PART #chan :bye").await;
        assert_eq!(gw.event().await, LegacyEvent::OccupantLeft { room: LegacyId::new("#chan", None), nick: "plain".into(), kind: LeaveKind::Part, reason: Some("bye".into()) });
        p.send(":half!p@h QUIT :gone").await;
        assert_eq!(gw.event().await, LegacyEvent::OccupantLeft { room: LegacyId::new("#chan", None), nick: "half".into(), kind: LeaveKind::Quit, reason: Some("gone".into()) });
        // Private messages (bold as XEP-0393 styling), CTCP.
        p.send(":Dave!d@h PRIVMSG alice :hi \x02there\x02").await;
        assert_eq!(gw.event().await, LegacyEvent::Message { attachments: vec![], reply_to: None, thread: None, kind: MessageKind::Text, from: LegacyId::new("dave", None), body: "hi *there*".into(), id: None, time: None, by_user: false });
        p.send(":Dave!d@h PRIVMSG alice :\x01VERSION\x01").await;
        let l = p.line().await;
        assert!(l.starts_with("NOTICE Dave :\x01VERSION Pontoon "), "{l}");
        p.send(":NickServ!s@services NOTICE alice :This nick is registered").await;
        // A service's notice comes from its own contact, where the user can answer it.
        assert_eq!(gw.event().await, LegacyEvent::Message { attachments: vec![], reply_to: None, thread: None, kind: MessageKind::Notice, from: LegacyId::new("nickserv", None), body: "This nick is registered".into(), id: None, time: None, by_user: false });
        // Join errors.
        gw.join("#banned").await;
        p.expect("JOIN #banned").await;
        p.send(":irc.test 474 alice #banned :Cannot join channel (+b)").await;
        assert_eq!(gw.event().await, LegacyEvent::RoomJoinFailed { room: LegacyId::new("#banned", None), error: RoomError::Banned, text: "Cannot join channel (+b)".into() });
        gw.join("#keyed").await;
        p.expect("JOIN #keyed").await;
        p.send(":irc.test 475 alice #keyed :Cannot join channel (+k)").await;
        assert!(matches!(gw.event().await, LegacyEvent::RoomJoinFailed { error: RoomError::BadKey, .. }));
        // Subject, nick change, being kicked, leaving.
        gw.cmd(LegacyCommand::SetSubject { room: LegacyId::new("#chan", None), subject: "t\r\nQUIT".into() }).await;
        p.expect("TOPIC #chan :t  QUIT").await;
        gw.cmd(LegacyCommand::SetNick { room: LegacyId::new("#chan", None), nick: "alice2".into() }).await;
        p.expect("NICK alice2").await;
        p.send(":irc.test 433 alice alice2 :Nickname is already in use").await;
        match gw.event().await {
            LegacyEvent::RoomNotice { room, text } => assert!(room == "#chan" && text.contains("alice2"), "{text}"),
            e => panic!("{e:?}"),
        }
        gw.cmd(LegacyCommand::SetNick { room: LegacyId::new("#chan", None), nick: "alice3".into() }).await;
        p.expect("NICK alice3").await;
        p.send(":alice!alice@gw NICK :alice3").await;
        assert_eq!(gw.event().await, LegacyEvent::OccupantRenamed { room: LegacyId::new("#chan", None), old: "alice".into(), new: "alice3".into() });
        gw.cmd(LegacyCommand::LeaveRoom { room: LegacyId::new("#chan", None), reason: Some("later".into()) }).await;
        p.expect("PART #chan :later").await;
        assert_eq!(gw.event().await, LegacyEvent::OccupantLeft { room: LegacyId::new("#chan", None), nick: "alice3".into(), kind: LeaveKind::Part, reason: Some("later".into()) });
        // Presence -> AWAY, only on change.
        gw.cmd(LegacyCommand::SetPresence { availability: pontoon_core::legacy::Availability::Away, status: Some("lunch".into()) }).await;
        gw.cmd(LegacyCommand::SetPresence { availability: pontoon_core::legacy::Availability::Away, status: Some("lunch".into()) }).await;
        p.expect("AWAY :lunch").await;
        gw.cmd(LegacyCommand::SetPresence { availability: pontoon_core::legacy::Availability::Available, status: None }).await;
        p.expect("AWAY").await;

        // Disconnect quits.
        gw.cmd(LegacyCommand::Disconnect { reason: "bye now".into() }).await;
        p.expect("QUIT :bye now").await;
        p.send("ERROR :Closing link: (alice@127.0.0.1) [Quit: bye now]").await;
        assert_eq!(gw.event().await, LegacyEvent::Disconnected { reason: "bye now".into() });
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn kicked_user_leaves() {
    timeout(Duration::from_secs(30), async {
        let srv = Server::new().await;
        let (mut gw, mut p) = joined(&srv).await;
        p.send(":bob!b@h KICK #chan alice :out").await;
        assert_eq!(
            gw.event().await,
            LegacyEvent::OccupantLeft {
                room: LegacyId::new("#chan", None),
                nick: "alice".into(),
                kind: LeaveKind::Kick {
                    by: Some("bob".into())
                },
                reason: Some("out".into())
            }
        );
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn quit_is_sent_even_when_the_core_stops_listening() {
    timeout(Duration::from_secs(30), async {
        let srv = Server::new().await;
        let (gw, mut p) = joined(&srv).await;
        // The core's session asks to leave the room and log out, then ends at once: it
        // drops its event receiver without reading what we report about the part.
        gw.cmd(LegacyCommand::LeaveRoom {
            room: LegacyId::new("#chan", None),
            reason: None,
        })
        .await;
        gw.cmd(LegacyCommand::Disconnect {
            reason: "Logged out".into(),
        })
        .await;
        let Gw { tx, rx } = gw;
        drop(rx);
        p.expect("PART #chan").await;
        p.expect("QUIT :Logged out").await;
        drop(tx);
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn quit_is_sent_when_the_core_drops_the_session() {
    timeout(Duration::from_secs(30), async {
        let srv = Server::new().await;
        let (gw, mut p) = joined(&srv).await;
        // Both ends dropped without a Disconnect: the default quit message goes out.
        drop(gw);
        p.expect("QUIT :Pontoon XMPP gateway").await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn long_and_multiline_messages_are_split_and_cannot_inject() {
    timeout(Duration::from_secs(30), async {
        let srv = Server::new().await;
        let (mut gw, mut p) = joined(&srv).await;
        let body = "hi\r\nQUIT :pwned\n\nJOIN #evil\rPRIVMSG x :\0y".to_owned();
        gw.cmd(LegacyCommand::SendRoomMessage {
            attachments: vec![],
            reply_to: None,
            thread: None,
            kind: MessageKind::Text,
            room: LegacyId::new("#chan", None),
            body: body.clone(),
            ids: ClientIds {
                id: Some("m1".into()),
                origin_id: None,
            },
        })
        .await;
        p.expect("PRIVMSG #chan :hi").await;
        p.expect("PRIVMSG #chan :QUIT :pwned").await;
        p.expect("PRIVMSG #chan :JOIN #evil").await;
        p.expect("PRIVMSG #chan :PRIVMSG x :y").await;
        // Reflected once, with the id, as sent.
        assert_eq!(
            gw.event().await,
            LegacyEvent::RoomMessage {
                attachments: vec![],
                reply_to: None,
                thread: None,
                kind: MessageKind::Text,
                room: LegacyId::new("#chan", None),
                nick: "alice".into(),
                body,
                ids: ClientIds {
                    id: Some("m1".into()),
                    origin_id: None
                },
                id: None,
                time: None
            }
        );
        // A long text with multi-byte chars: every relayed line fits 512 bytes.
        let words: Vec<String> = (0..300).map(|i| format!("wörd{i}€")).collect();
        let long = words.join(" ");
        gw.cmd(LegacyCommand::SendMessage {
            attachments: vec![],
            reply_to: None,
            thread: None,
            kind: MessageKind::Text,
            to: LegacyId::new("bob", None),
            body: long.clone(),
            id: None,
        })
        .await;
        let prefix = ":alice!alice@gw.example ";
        let mut pieces = Vec::new();
        loop {
            let l = p.line().await;
            let text = l
                .strip_prefix("PRIVMSG bob :")
                .expect("a PRIVMSG")
                .to_owned();
            assert!(
                prefix.len() + l.len() + 2 <= 512,
                "relayed line too long: {}",
                prefix.len() + l.len() + 2
            );
            pieces.push(text);
            if pieces.join(" ") == long {
                break;
            }
            assert!(pieces.len() < 20, "pieces do not add up");
        }
        assert!(pieces.len() >= 5, "{}", pieces.len());
        // An action becomes a CTCP ACTION; a notice a NOTICE.
        gw.cmd(LegacyCommand::SendRoomMessage {
            attachments: vec![],
            reply_to: None,
            thread: None,
            kind: MessageKind::Action,
            room: LegacyId::new("#chan", None),
            body: "waves".into(),
            ids: ClientIds::none(),
        })
        .await;
        p.expect("PRIVMSG #chan :\x01ACTION waves\x01").await;
        gw.cmd(LegacyCommand::SendRoomMessage {
            attachments: vec![],
            reply_to: None,
            thread: None,
            kind: MessageKind::Notice,
            room: LegacyId::new("#chan", None),
            body: "/me is not special here".into(),
            ids: ClientIds::none(),
        })
        .await;
        p.expect("NOTICE #chan :/me is not special here").await;
        // Hostile input from the server does not hurt: garbage, huge lines, bad UTF-8.
        p.wr.write_all(b":x!y@z PRIVMSG #chan :caf\xe9\r\n")
            .await
            .unwrap();
        let e = gw
            .wait_for(|e| matches!(e, LegacyEvent::RoomMessage { nick, .. } if nick == "x"))
            .await;
        assert!(matches!(e, LegacyEvent::RoomMessage { body, .. } if body == "café"));
        p.wr.write_all(&vec![b'A'; 20_000]).await.unwrap();
        p.send("").await;
        p.send(":::: :: :").await;
        p.send("@;;= :x 353").await;
        p.send(":irc.test 366").await;
        p.send("PING :still-alive").await;
        p.until("PONG :still-alive").await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn flood_pacing_keeps_order() {
    timeout(Duration::from_secs(30), async {
        let srv = Server::new().await;
        let cfg = IrcConfig {
            flood_burst: 3,
            flood_per_second: 20.0,
            ..config(srv.port())
        };
        let (gw, mut p) = connected(&srv, "alice", cfg).await;
        let body: String = (0..20).map(|i| format!("line {i}\n")).collect();
        let start = Instant::now();
        gw.cmd(LegacyCommand::SendMessage {
            attachments: vec![],
            reply_to: None,
            thread: None,
            kind: MessageKind::Text,
            to: LegacyId::new("bob", None),
            body,
            id: None,
        })
        .await;
        let mut times = Vec::new();
        for i in 0..20 {
            p.expect(&format!("PRIVMSG bob :line {i}")).await;
            times.push(start.elapsed());
        }
        // 3 at once, then 17 at 20/s (the registration lines used some tokens too).
        assert!(times[19] >= Duration::from_millis(800), "{:?}", times[19]);
        assert!(times[19] < Duration::from_secs(3), "{:?}", times[19]);
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn reconnects_and_rejoins() {
    timeout(Duration::from_secs(40), async {
        let srv = Server::new().await;
        let (mut gw, p) = joined(&srv).await;
        drop(p);
        // The core is told the session goes on while the transport reconnects...
        match gw.event().await {
            LegacyEvent::Reconnecting { reason } => assert!(!reason.is_empty()),
            e => panic!("{e:?}"),
        }
        // ...and the user, as before, in the room.
        match gw.event().await {
            LegacyEvent::RoomNotice { room, text } => {
                assert_eq!(room, "#chan");
                assert!(
                    text.contains("Connection to 127.0.0.1 lost") && text.contains("reconnecting"),
                    "{text}"
                );
            }
            e => panic!("{e:?}"),
        }
        // Sent while disconnected: queued, delivered after the rejoin.
        gw.cmd(LegacyCommand::SendRoomMessage {
            attachments: vec![],
            reply_to: None,
            thread: None,
            kind: MessageKind::Text,
            room: LegacyId::new("#chan", None),
            body: "queued".into(),
            ids: ClientIds {
                id: Some("q1".into()),
                origin_id: None,
            },
        })
        .await;
        let mut p = srv.accept().await;
        p.register("alice").await;
        p.expect("JOIN #chan").await;
        p.expect("PRIVMSG #chan :queued").await;
        p.join("alice", "#chan", "alice carol", None).await;
        let mut seen_reflection = false;
        let mut seen_carol = false;
        let mut seen_connected = false;
        loop {
            match gw.event().await {
                LegacyEvent::Connected => seen_connected = true,
                LegacyEvent::RoomMessage {
                    ids: ClientIds { id, .. },
                    ..
                } => {
                    assert_eq!(id.as_deref(), Some("q1"));
                    seen_reflection = true;
                }
                LegacyEvent::OccupantLeft { nick, .. } => assert_eq!(nick, "bob"),
                LegacyEvent::OccupantUpdated { occupant, .. } => {
                    if occupant.nick == "carol" {
                        seen_carol = true;
                    }
                }
                LegacyEvent::RoomNotice { text, .. } => {
                    assert_eq!(text, "Reconnected");
                    break;
                }
                // The rejoin's lines wait for the flood bucket: the queue says so.
                LegacyEvent::Backlog { .. } => {}
                e => panic!("{e:?}"),
            }
        }
        assert!(seen_reflection && seen_carol && seen_connected);
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn lazy_connection_per_server() {
    timeout(Duration::from_secs(30), async {
        let srv = Server::new().await;
        let cfg = IrcConfig {
            fixed_server: None,
            allowed_networks: vec!["127.0.0.1".into()],
            network_port: srv.port(),
            ..config(srv.port())
        };
        let mut gw = Gw::start(cfg, account("alice", None));
        // Not fixed and no default network: online at once, connect on first use.
        assert_eq!(gw.event().await, LegacyEvent::Connected);
        gw.cmd(LegacyCommand::JoinRoom {
            room: LegacyId::new("#chan", Some("127.0.0.1")),
            nick: "zed".into(),
            password: None,
        })
        .await;
        let mut p = srv.accept().await;
        p.register("zed").await;
        p.expect("JOIN #chan").await;
        p.join("zed", "#chan", "zed", None).await;
        match gw.event().await {
            LegacyEvent::RoomJoined { room, nick, .. } => {
                assert_eq!((room.as_str(), nick.as_str()), ("#chan%127.0.0.1", "zed"));
            }
            e => panic!("{e:?}"),
        }
        p.send(":Bob!b@h PRIVMSG zed :psst").await;
        assert_eq!(
            gw.event().await,
            LegacyEvent::Message {
                attachments: vec![],
                reply_to: None,
                thread: None,
                kind: MessageKind::Text,
                from: LegacyId::new("bob", Some("127.0.0.1")),
                body: "psst".into(),
                id: None,
                time: None,
                by_user: false
            }
        );
        // The user's own message the gateway did not send (another client on the login,
        // a bouncer's self-message): shown as the user's, in the chat with bob.
        p.send(":zed!z@h PRIVMSG bob :from my phone").await;
        assert!(matches!(
            gw.event().await,
            LegacyEvent::Message { from, body, by_user: true, .. }
                if from == "bob%127.0.0.1" && body == "from my phone"
        ));
        gw.cmd(LegacyCommand::SendMessage {
            attachments: vec![],
            reply_to: None,
            thread: None,
            kind: MessageKind::Text,
            to: LegacyId::new("bob", Some("127.0.0.1")),
            body: "yes?".into(),
            id: None,
        })
        .await;
        p.expect("PRIVMSG bob :yes?").await;
        // Its echo is the gateway's own: nothing to show.
        p.send(":zed!z@h PRIVMSG bob :yes?").await;
        p.send(":irc.test 401 zed bob :No such nick/channel").await;
        assert!(
            matches!(gw.event().await, LegacyEvent::SendFailed { to, .. } if to == "bob%127.0.0.1")
        );
        // A refused network fails the join, not the session.
        gw.cmd(LegacyCommand::JoinRoom {
            room: LegacyId::new("#x", Some("irc.elsewhere.example")),
            nick: "zed".into(),
            password: None,
        })
        .await;
        match gw.event().await {
            LegacyEvent::RoomJoinFailed { text, .. } => {
                assert!(text.contains("not allowed"), "{text}")
            }
            e => panic!("{e:?}"),
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn silent_server_times_out() {
    timeout(Duration::from_secs(30), async {
        let srv = Server::new().await;
        let cfg = IrcConfig {
            connect_timeout: Duration::from_millis(500),
            ..config(srv.port())
        };
        let mut gw = Gw::start(cfg, account("alice", None));
        let _p = srv.accept().await;
        match gw.event().await {
            LegacyEvent::Unreachable { reason } => assert!(reason.contains("in time"), "{reason}"),
            e => panic!("{e:?}"),
        }
    })
    .await
    .expect("test timed out");
}

// --- Contacts' presence (MONITOR, ISON) and the room directory (LIST) ---

use pontoon_core::legacy::{Availability, RoomInfo};

impl Peer {
    /// Registration without capabilities, ISUPPORT with `extra` tokens, and the MOTD end
    /// (after which contacts are watched).
    async fn register_with(&mut self, nick: &str, extra: &str) {
        self.expect("CAP LS 302").await;
        self.expect(&format!("NICK {nick}")).await;
        self.until("USER ").await;
        self.send(":irc.test CAP * LS :foo").await;
        self.expect("CAP END").await;
        self.send(&format!(
            ":irc.test 001 {nick} :Welcome {nick}!{nick}@gw.example"
        ))
        .await;
        self.send(&format!(
            ":irc.test 005 {nick} CASEMAPPING=rfc1459 {extra} :are supported"
        ))
        .await;
        self.send(&format!(":irc.test 376 {nick} :End of MOTD"))
            .await;
    }
}

impl Gw {
    async fn add(&self, contact: &str) {
        self.cmd(LegacyCommand::AddContact {
            contact: lid(contact),
        })
        .await;
    }
    /// The next contact presence (other events skipped).
    async fn presence(&mut self) -> (String, Availability, Option<String>) {
        match self
            .wait_for(|e| matches!(e, LegacyEvent::ContactPresence { .. }))
            .await
        {
            LegacyEvent::ContactPresence {
                contact,
                availability,
                status,
            } => (contact.to_string(), availability, status),
            _ => unreachable!(),
        }
    }
    /// Asserts no contact presence comes within `d`.
    async fn no_presence(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while let Ok(e) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            assert!(
                !matches!(e, Some(LegacyEvent::ContactPresence { .. })),
                "unexpected {e:?}"
            );
            if e.is_none() {
                return;
            }
        }
    }
}

fn p(contact: &str, a: Availability) -> (String, Availability, Option<String>) {
    (contact.to_owned(), a, None)
}

#[tokio::test]
async fn contacts_with_monitor() {
    timeout(Duration::from_secs(30), async {
        let srv = Server::new().await;
        let mut gw = Gw::start(config(srv.port()), account("alice", None));
        let mut peer = srv.accept().await;
        // Added before the login: watched once the MOTD is over, MONITOR within its limit
        // (2), the rest polled with ISON.
        // (As `parse_address` gives them: lowercased.)
        for c in ["bob", "carol", "dave"] {
            gw.add(c).await;
        }
        gw.add("#notacontact").await;
        peer.register_with("alice", "MONITOR=2").await;
        assert_eq!(gw.event().await, LegacyEvent::Connected);
        peer.expect("MONITOR + bob,carol").await;
        peer.expect("ISON :dave").await;
        peer.send(":irc.test 730 alice :Bob!b@host").await;
        assert_eq!(gw.presence().await, p("bob", Availability::Available));
        peer.send(":irc.test 731 alice :carol").await;
        assert_eq!(gw.presence().await, p("carol", Availability::Offline));
        peer.send(":irc.test 303 alice :").await;
        assert_eq!(gw.presence().await, p("dave", Availability::Offline));
        // Changes only: the same news again says nothing.
        peer.send(":irc.test 730 alice :bob!b@host").await;
        peer.send(":irc.test 731 alice :carol,stranger").await;
        gw.no_presence(Duration::from_millis(300)).await;
        // away-notify from a channel peer, and back.
        peer.send(":bob!b@host AWAY :gone \x02fishing\x02").await;
        assert_eq!(
            gw.presence().await,
            (
                "bob".to_owned(),
                Availability::Away,
                Some("gone fishing".to_owned())
            )
        );
        peer.send(":bob!b@host AWAY").await;
        assert_eq!(gw.presence().await, p("bob", Availability::Available));
        // A nick change away from a watched nick, and onto one.
        peer.send(":Bob!b@host NICK :dave").await;
        assert_eq!(gw.presence().await, p("bob", Availability::Offline));
        assert_eq!(gw.presence().await, p("dave", Availability::Available));
        peer.send(":dave!b@host QUIT :bye").await;
        assert_eq!(gw.presence().await, p("dave", Availability::Offline));
        // Removing a monitored contact frees a MONITOR slot for a polled one.
        gw.cmd(LegacyCommand::RemoveContact {
            contact: LegacyId::new("bob", None),
        })
        .await;
        peer.expect("MONITOR - bob").await;
        peer.expect("MONITOR + dave").await;
        // A full list sends the nick back to ISON.
        peer.send(":irc.test 734 alice 2 dave :Monitor list is full.")
            .await;
        peer.send(":irc.test 730 alice :carol").await;
        assert_eq!(gw.presence().await, p("carol", Availability::Available));
        // After a reconnect, MONITOR is set up again; only changes are reported.
        drop(peer);
        let mut peer = srv.accept().await;
        peer.register_with("alice", "MONITOR=100").await;
        peer.expect("MONITOR + carol,dave").await;
        peer.send(":irc.test 730 alice :carol").await;
        peer.send(":irc.test 730 alice :dave").await;
        assert_eq!(gw.presence().await, p("dave", Availability::Available));
        gw.no_presence(Duration::from_millis(300)).await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn contacts_with_ison_polling() {
    timeout(Duration::from_secs(30), async {
        let srv = Server::new().await;
        let cfg = IrcConfig {
            presence_poll_interval: Duration::from_millis(400),
            ..config(srv.port())
        };
        let mut gw = Gw::start(cfg, account("alice", None));
        let mut peer = srv.accept().await;
        peer.register_with("alice", "NICKLEN=30").await;
        assert_eq!(gw.event().await, LegacyEvent::Connected);
        // Added after the login: batched into one poll, right away.
        gw.add("bob").await;
        gw.add("carol").await;
        peer.expect("ISON :bob carol").await;
        peer.send(":irc.test 303 alice :Bob ").await;
        let mut got = vec![gw.presence().await, gw.presence().await];
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            got,
            vec![
                p("bob", Availability::Available),
                p("carol", Availability::Offline)
            ]
        );
        // Polled again at the interval; changes only.
        let start = Instant::now();
        peer.expect("ISON :bob carol").await;
        assert!(
            start.elapsed() >= Duration::from_millis(250),
            "{:?}",
            start.elapsed()
        );
        peer.send(":irc.test 303 alice :bob").await;
        peer.expect("ISON :bob carol").await;
        peer.send(":irc.test 303 alice :carol").await;
        let mut got = vec![gw.presence().await, gw.presence().await];
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            got,
            vec![
                p("bob", Availability::Offline),
                p("carol", Availability::Available)
            ]
        );
        // Many contacts: several ISON lines, each within 512 bytes (Peer::line checks),
        // answered in order.
        let many: Vec<String> = (0..40)
            .map(|i| format!("n{i:02}{}", "x".repeat(27)))
            .collect();
        for n in &many {
            gw.add(n).await;
        }
        let mut asked = Vec::new();
        while asked.len() < many.len() + 2 {
            let l = peer.until("ISON :").await;
            let names: Vec<String> = l["ISON :".len()..].split(' ').map(str::to_owned).collect();
            assert!(names.len() > 1);
            asked.extend(names);
        }
        asked.sort();
        let mut want = many.clone();
        want.extend(["bob".to_owned(), "carol".to_owned()]);
        want.sort();
        assert_eq!(asked, want);
        // A server that does not know ISON stops the polling, without a notice.
        peer.send(":irc.test 421 alice ISON :Unknown command").await;
        peer.send("PING :after").await;
        peer.expect("PONG :after").await;
        let quiet = timeout(Duration::from_millis(1200), peer.until("ISON")).await;
        assert!(quiet.is_err(), "still polling");
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn contacts_of_an_unconnected_server_wait_for_a_connection() {
    timeout(Duration::from_secs(30), async {
        let srv = Server::new().await;
        let cfg = IrcConfig {
            fixed_server: None,
            allowed_networks: vec!["127.0.0.1".into()],
            network_port: srv.port(),
            ..config(srv.port())
        };
        let mut gw = Gw::start(cfg, account("alice", None));
        assert_eq!(gw.event().await, LegacyEvent::Connected);
        gw.add("bob%127.0.0.1").await;
        gw.add("carol%irc.elsewhere.example").await; // refused: ignored
        // No connection is opened just for presence.
        assert!(
            timeout(Duration::from_millis(500), srv.listener.accept())
                .await
                .is_err()
        );
        gw.join("#chan%127.0.0.1").await;
        let mut peer = srv.accept().await;
        peer.register_with("alice", "MONITOR").await;
        peer.expect("JOIN #chan").await;
        peer.expect("MONITOR + bob").await;
        peer.send(":irc.test 730 alice :bob!b@h").await;
        assert_eq!(
            gw.presence().await,
            p("bob%127.0.0.1", Availability::Available)
        );
    })
    .await
    .expect("test timed out");
}

fn room(id: &str, n: u32, topic: Option<&str>) -> RoomInfo {
    RoomInfo {
        room: lid(id),
        name: None,
        occupants: Some(n),
        topic: topic.map(str::to_owned),
    }
}

#[tokio::test]
async fn room_directory_with_list() {
    timeout(Duration::from_secs(30), async {
        let srv = Server::new().await;
        let (mut gw, mut peer) = connected(&srv, "alice", config(srv.port())).await;
        let list = |request: u64| LegacyCommand::ListRooms {
            request,
            network: None,
            search: None,
        };
        gw.cmd(list(1)).await;
        peer.expect("LIST").await;
        // A second request while the first is under way shares it.
        gw.cmd(list(2)).await;
        peer.send(":irc.test 321 alice Channel :Users  Name").await;
        peer.send(":irc.test 322 alice #Zeta 3 :[+nt] \x0304last\x03 one")
            .await;
        peer.send(":irc.test 322 alice #alpha 12 :").await;
        peer.send(":irc.test 322 alice * 1 :secret").await;
        peer.send(":irc.test 322 alice #bad%name 1 :x").await;
        peer.send(":irc.test 322 alice #alpha 12 :dup").await;
        peer.send(":irc.test 323 alice :End of /LIST").await;
        let want = vec![
            RoomInfo {
                room: LegacyId::new("#alpha", None),
                name: None,
                occupants: Some(12),
                topic: None,
            },
            room("#zeta", 3, Some("last one")),
        ];
        for request in [1, 2] {
            assert_eq!(
                gw.wait_for(|e| matches!(e, LegacyEvent::RoomList { .. }))
                    .await,
                LegacyEvent::RoomList {
                    request,
                    rooms: want.clone()
                }
            );
        }
        // Errors fail the listing with the server's text.
        gw.cmd(list(3)).await;
        peer.expect("LIST").await;
        peer.send(":irc.test 322 alice #a 1 :x").await;
        peer.send(":irc.test 416 alice LIST :output too large, truncated")
            .await;
        peer.send(":irc.test 323 alice :End of /LIST").await;
        match gw
            .wait_for(|e| {
                matches!(
                    e,
                    LegacyEvent::RoomList { .. } | LegacyEvent::RoomListFailed { .. }
                )
            })
            .await
        {
            LegacyEvent::RoomListFailed { request, text } => {
                assert_eq!(request, 3);
                assert!(text.contains("output too large"), "{text}");
            }
            e => panic!("{e:?}"),
        }
        gw.cmd(list(4)).await;
        peer.expect("LIST").await;
        peer.send(":irc.test 481 alice :Permission Denied").await;
        assert_eq!(
            gw.wait_for(|e| matches!(e, LegacyEvent::RoomListFailed { .. }))
                .await,
            LegacyEvent::RoomListFailed {
                request: 4,
                text: "127.0.0.1: Permission Denied".into()
            }
        );
        // Other errors meanwhile do not end a listing.
        gw.cmd(list(5)).await;
        peer.expect("LIST").await;
        peer.send(":irc.test 401 alice nobody :No such nick").await;
        peer.send(":irc.test 323 alice :End of /LIST").await;
        assert_eq!(
            gw.wait_for(|e| matches!(
                e,
                LegacyEvent::RoomList { .. } | LegacyEvent::RoomListFailed { .. }
            ))
            .await,
            LegacyEvent::RoomList {
                request: 5,
                rooms: vec![]
            }
        );
        // Naming the fixed network is fine, another one is not.
        gw.cmd(LegacyCommand::ListRooms {
            request: 6,
            network: Some("irc.other.example".into()),
            search: None,
        })
        .await;
        match gw
            .wait_for(|e| matches!(e, LegacyEvent::RoomListFailed { .. }))
            .await
        {
            LegacyEvent::RoomListFailed { request, text } => {
                assert_eq!(request, 6);
                assert!(text.contains("only connects to"), "{text}");
            }
            e => panic!("{e:?}"),
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn room_directory_of_a_named_network_and_timeout() {
    timeout(Duration::from_secs(30), async {
        let srv = Server::new().await;
        let cfg = IrcConfig {
            fixed_server: None,
            allowed_networks: vec!["127.0.0.1".into()],
            network_port: srv.port(),
            list_timeout: Duration::from_millis(700),
            ..config(srv.port())
        };
        let mut gw = Gw::start(cfg, account("alice", None));
        assert_eq!(gw.event().await, LegacyEvent::Connected);
        // No network named where there are several.
        gw.cmd(LegacyCommand::ListRooms {
            request: 1,
            network: None,
            search: None,
        })
        .await;
        match gw.event().await {
            LegacyEvent::RoomListFailed { request, text } => {
                assert_eq!(request, 1);
                assert!(text.contains("name a network"), "{text}");
            }
            e => panic!("{e:?}"),
        }
        // A named network: connected lazily, LIST sent once registered.
        gw.cmd(LegacyCommand::ListRooms {
            request: 2,
            network: Some("127.0.0.1".into()),
            search: None,
        })
        .await;
        let mut peer = srv.accept().await;
        peer.register("alice").await;
        peer.expect("LIST").await;
        peer.send(":irc.test 322 alice #chan 2 :hi").await;
        peer.send(":irc.test 323 alice :End").await;
        assert_eq!(
            gw.wait_for(|e| matches!(e, LegacyEvent::RoomList { .. }))
                .await,
            LegacyEvent::RoomList {
                request: 2,
                rooms: vec![room("#chan%127.0.0.1", 2, Some("hi"))]
            }
        );
        // A server that never finishes: the listing fails after the timeout, and a late
        // end changes nothing.
        gw.cmd(LegacyCommand::ListRooms {
            request: 3,
            network: Some("127.0.0.1".into()),
            search: None,
        })
        .await;
        peer.expect("LIST").await;
        let start = Instant::now();
        peer.send(":irc.test 322 alice #chan 2 :hi").await;
        match gw
            .wait_for(|e| {
                matches!(
                    e,
                    LegacyEvent::RoomList { .. } | LegacyEvent::RoomListFailed { .. }
                )
            })
            .await
        {
            LegacyEvent::RoomListFailed { request, text } => {
                assert_eq!(request, 3);
                assert!(text.contains("did not list its channels"), "{text}");
            }
            e => panic!("{e:?}"),
        }
        assert!(
            start.elapsed() >= Duration::from_millis(500),
            "{:?}",
            start.elapsed()
        );
        peer.send(":irc.test 323 alice :End").await;
        peer.send("PING :sync").await;
        peer.expect("PONG :sync").await;
        // A listing cut by a lost connection fails too.
        gw.cmd(LegacyCommand::ListRooms {
            request: 4,
            network: Some("127.0.0.1".into()),
            search: None,
        })
        .await;
        peer.expect("LIST").await;
        drop(peer);
        match gw
            .wait_for(|e| {
                matches!(
                    e,
                    LegacyEvent::RoomList { .. } | LegacyEvent::RoomListFailed { .. }
                )
            })
            .await
        {
            LegacyEvent::RoomListFailed { request, .. } => assert_eq!(request, 4),
            e => panic!("{e:?}"),
        }
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn connections_per_user_are_capped() {
    timeout(Duration::from_secs(30), async {
        let srv = Server::new().await;
        let cfg = IrcConfig {
            fixed_server: None,
            allowed_networks: vec!["127.0.0.1".into(), "localhost".into()],
            network_port: srv.port(),
            max_networks_per_user: 1,
            ..config(srv.port())
        };
        let mut gw = Gw::start(cfg, account("alice", None));
        assert_eq!(gw.event().await, LegacyEvent::Connected);
        gw.join("#a%127.0.0.1").await;
        let mut p = srv.accept().await;
        p.register("alice").await;
        p.expect("JOIN #a").await;
        p.join("alice", "#a", "alice", None).await;
        assert!(matches!(gw.event().await, LegacyEvent::RoomJoined { .. }));
        // A second network is refused, whatever asks for it.
        gw.join("#b%localhost").await;
        match gw.event().await {
            LegacyEvent::RoomJoinFailed { room, error, text } => {
                assert_eq!((room.as_str(), error), ("#b%localhost", RoomError::Other));
                assert!(text.contains("too many IRC networks"), "{text}");
            }
            e => panic!("{e:?}"),
        }
        gw.cmd(LegacyCommand::SendMessage {
            attachments: vec![],
            reply_to: None,
            thread: None,
            kind: MessageKind::Text,
            to: LegacyId::new("bob", Some("localhost")),
            body: "hi".into(),
            id: Some("m1".into()),
        })
        .await;
        match gw.event().await {
            LegacyEvent::SendFailed { to, id, reason } => {
                assert_eq!((to.as_str(), id.as_deref()), ("bob%localhost", Some("m1")));
                assert!(reason.contains("at most 1"), "{reason}");
            }
            e => panic!("{e:?}"),
        }
        gw.cmd(LegacyCommand::ListRooms {
            request: 3,
            network: Some("localhost".into()),
            search: None,
        })
        .await;
        assert!(matches!(
            gw.event().await,
            LegacyEvent::RoomListFailed { request: 3, .. }
        ));
        // The open network still works.
        gw.cmd(LegacyCommand::SendRoomMessage {
            attachments: vec![],
            reply_to: None,
            thread: None,
            kind: MessageKind::Text,
            room: LegacyId::new("#a", Some("127.0.0.1")),
            body: "still here".into(),
            ids: ClientIds::none(),
        })
        .await;
        p.expect("PRIVMSG #a :still here").await;
        assert!(
            timeout(Duration::from_millis(200), srv.listener.accept())
                .await
                .is_err(),
            "a second connection was opened"
        );
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn messages_queued_before_login_are_failed_on_disconnect() {
    timeout(Duration::from_secs(30), async {
        let srv = Server::new().await;
        let mut gw = Gw::start(config(srv.port()), account("alice", None));
        let mut p = srv.accept().await;
        p.until("USER ").await;
        // Not registered yet: the message waits for the login.
        gw.cmd(LegacyCommand::SendMessage {
            attachments: vec![],
            reply_to: None,
            thread: None,
            kind: MessageKind::Text,
            to: LegacyId::new("bob", None),
            body: "early".into(),
            id: Some("e1".into()),
        })
        .await;
        gw.cmd(LegacyCommand::Disconnect {
            reason: "bye".into(),
        })
        .await;
        match gw.event().await {
            LegacyEvent::SendFailed { to, id, reason } => {
                assert_eq!((to.as_str(), id.as_deref()), ("bob", Some("e1")));
                assert!(reason.contains("closed before it was sent"), "{reason}");
            }
            e => panic!("{e:?}"),
        }
        assert!(matches!(
            gw.wait_for(|e| matches!(e, LegacyEvent::Disconnected { .. }))
                .await,
            LegacyEvent::Disconnected { .. }
        ));
    })
    .await
    .expect("test timed out");
}

/// The id the transport's `parse_address` gives `text` (`name%network`, or `name`).
fn lid(text: &str) -> LegacyId {
    match text.rsplit_once('%') {
        Some((name, network)) => LegacyId::new(name, Some(network)),
        None => LegacyId::new(text, None),
    }
}
