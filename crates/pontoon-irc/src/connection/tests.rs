//! The connection actor's unit tests (a scripted server is in tests/scripted.rs).

use super::lifecycle::Security;
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
        login: crate::settings::Login {
            password: password.map(str::to_owned),
            ..Default::default()
        },
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
/// future boxed and scoped; 752 after, in the test profile; 1,032 since legacy events
/// carry a message's thread; 800 since one timer serves the next line and the deadlines;
/// 728 since the address and the loop's `now` are scoped away from the `select!`, which puts
/// the task in an 896-byte tokio cell instead of 1,024; 560 since the timer's write is made
/// after `select!`, not in its branch, and the queues are `crate::channel`'s own: a 768-byte
/// cell, at the edge).
#[test]
fn run_future_size() {
    let (p, _rx) = params(IrcConfig::default(), "irc.test", 6667, None);
    let (_tx, inbox) = channel::bounded(1);
    let fut = Box::new(Conn::new(p)).run(inbox);
    let size = std::mem::size_of_val(&fut);
    eprintln!("Conn::run future: {size} bytes");
    // At most 456: tokio's task cell (this future and about 170 bytes, in steps of 128) is
    // then 640 bytes; 560 made it 768 (performance pass 4: the writes' futures boxed).
    assert!(size <= 456, "Conn::run future is {size} bytes");
    // The connection's state, boxed for its life: 1,088 bytes before performance pass 4
    // moved the presence watching out, 928 before the occasional state was boxed apart,
    // 824 before the queues were `crate::channel`'s own, 792 before the negotiator stopped
    // keeping copies of the account and password, 736 before `small::Map` boxed its hash
    // table.
    let conn = std::mem::size_of::<Conn>();
    eprintln!("Conn: {conn} bytes");
    assert!(conn <= 728, "Conn is {conn} bytes");
}

/// A connection that has registered (nothing is actually connected).
fn registered(cfg: IrcConfig) -> Conn {
    let (p, _rx) = params(cfg, "irc.test", 6667, None);
    let mut c = Conn::new(p);
    c.start_registration(Security {
        secure: true,
        tls: false,
    });
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
        evs.iter().any(
            |e| matches!(e, LegacyEvent::LoginFailed { reason } if reason.contains("not allowed"))
        ),
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
        matches!(c.pending.back(), Some(LegacyEvent::RoomJoinFailed { room, error: RoomError::TooManyRooms, text })
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
    // No receiver: the events stay in the connection's backlog, to be read here.
    let (p, _) = params(IrcConfig::default(), "irc.test", 6667, Some("pw"));
    let mut c = Conn::new(p);
    c.start_registration(Security {
        secure: false,
        tls: false,
    });
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
    c.start_registration(Security {
        secure: false,
        tls: false,
    });
    assert!(c.pending.is_empty(), "{:?}", c.pending);
    // Secure: SASL as before.
    c.start_registration(Security {
        secure: true,
        tls: false,
    });
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

/// Behind the flood bucket, the queue says it is backed up once, each tracked message is
/// settled once its last line is written (not before), and the queue says when it is empty
/// again; a tracked message that is refused is settled at once.
#[tokio::test]
async fn tracked_messages_are_settled_when_written_and_the_backlog_is_told() {
    let mut c = registered(IrcConfig {
        flood_burst: 1,
        flood_per_second: 1000.0,
        ..IrcConfig::default()
    });
    let tracked = |receipt: u64, body: &str| ConnCommand::Tracked {
        receipt,
        command: Box::new(private("bob", body)),
    };
    let settled = |c: &mut Conn| -> Vec<u64> {
        c.pending
            .drain(..)
            .filter_map(|e| match e {
                LegacyEvent::Settled { receipt } => Some(receipt),
                _ => None,
            })
            .collect()
    };
    c.on_command(private("bob", "one"));
    c.on_command(tracked(7, "two"));
    let mut wire = Vec::new();
    c.write_ready(&mut wire).await.unwrap();
    assert!(
        c.pending
            .iter()
            .any(|e| matches!(e, LegacyEvent::Backlog { waiting: true })),
        "{:?}",
        c.pending
    );
    assert_eq!(settled(&mut c), Vec::<u64>::new(), "not written yet");
    assert_eq!(String::from_utf8_lossy(&wire), "PRIVMSG bob :one\r\n");
    tokio::time::sleep(Duration::from_millis(5)).await;
    c.write_ready(&mut wire).await.unwrap();
    assert!(String::from_utf8_lossy(&wire).ends_with("PRIVMSG bob :two\r\n"));
    assert!(
        c.pending
            .iter()
            .any(|e| matches!(e, LegacyEvent::Backlog { waiting: false })),
        "{:?}",
        c.pending
    );
    assert_eq!(settled(&mut c), [7]);
    // Nowhere to go: settled at once (after its refusal).
    c.on_command(ConnCommand::Tracked {
        receipt: 8,
        command: Box::new(ConnCommand::RoomMessage {
            chan: "#nowhere".into(),
            body: "x".into(),
            kind: MessageKind::Text,
            ids: ClientIds::none(),
            reply_to: None,
        }),
    });
    assert_eq!(settled(&mut c), [8]);
}

/// The user leaves a channel and joins it again before the server's echo of the PART comes
/// back: the echo is of the old visit, and the new join goes through (it was undone, and
/// the client shown it had left, when the echo came after the JOIN was sent).
#[test]
fn a_part_echo_does_not_undo_a_join_sent_after_it() {
    let mut c = registered(IrcConfig::default());
    let join = || ConnCommand::Join {
        chan: "#times".into(),
        key: None,
    };
    let joined = |c: &mut Conn| {
        c.on_line(":alice!a@h JOIN #times");
        c.on_line(":irc.test 353 alice = #times :alice bob");
        c.on_line(":irc.test 366 alice #times :End of /NAMES list.");
    };
    c.on_command(join());
    joined(&mut c);
    assert!(
        c.pending
            .iter()
            .any(|e| matches!(e, LegacyEvent::RoomJoined { .. }))
    );
    c.pending.clear();
    c.on_command(ConnCommand::Part {
        chan: "#times".into(),
        reason: None,
    });
    c.on_command(join());
    // (The PART command says the user left at once.)
    c.pending.clear();
    c.on_line(":alice!a@h PART #times");
    assert!(
        !c.pending
            .iter()
            .any(|e| matches!(e, LegacyEvent::OccupantLeft { .. })),
        "{:?}",
        c.pending
    );
    joined(&mut c);
    assert!(
        c.pending
            .iter()
            .any(|e| matches!(e, LegacyEvent::RoomJoined { .. })),
        "{:?}",
        c.pending
    );
    // A PART the user did not ask for is still one.
    c.pending.clear();
    c.on_line(":alice!a@h PART #times :forced");
    assert!(
        c.pending
            .iter()
            .any(|e| matches!(e, LegacyEvent::OccupantLeft { .. }))
    );
}
