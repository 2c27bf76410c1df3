//! The transport against a real ngircd started by the test on a free loopback port.
//!
//! Two gateway users share a channel (messages, private message, topic, nick change,
//! part), and a raw IRC client checks how the gateway's lines look on the network: split
//! to fit 512 bytes as relayed, in order, paced.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use pontoon_core::legacy::LegacyId;
use std::time::Duration;

use pontoon_core::legacy::{ClientIds, LeaveKind, LegacyCommand, LegacyEvent, MessageKind};
use pontoon_irc::{IrcConfig, IrcTransport, ServerAddr};
use support::{Gw, Raw, start_ngircd};
use tokio::time::{Instant, timeout};

#[tokio::test]
async fn two_users_and_an_observer_on_ngircd() {
    timeout(Duration::from_secs(120), async {
        let ircd = start_ngircd().await;
        let cfg = IrcConfig {
            fixed_server: Some(ServerAddr { host: "127.0.0.1".into(), port: ircd.port, tls: false, verify_cert: true }),
            flood_burst: 5,
            flood_per_second: 10.0,
            connect_timeout: Duration::from_secs(5),
            ..IrcConfig::default()
        };
        let t = IrcTransport::new(cfg);
        let mut alice = Gw::start_strict(&t, "alice").await;
        let mut bob = Gw::start_strict(&t, "bob").await;

        // Both join; alice creates the channel and is its operator.
        alice.cmd(LegacyCommand::JoinRoom { room: LegacyId::new("#test", None), nick: "alice".into(), password: None }).await;
        match alice.wait_for(|e| matches!(e, LegacyEvent::RoomJoined { .. })).await {
            LegacyEvent::RoomJoined { room, nick, occupants, .. } => {
                assert_eq!((room.as_str(), nick.as_str()), ("#test", "alice"));
                assert_eq!(occupants.len(), 1);
                assert_eq!(occupants[0].role, pontoon_core::legacy::Role::Moderator);
            }
            _ => unreachable!(),
        }
        bob.cmd(LegacyCommand::JoinRoom { room: LegacyId::new("#test", None), nick: "bob".into(), password: None }).await;
        match bob.wait_for(|e| matches!(e, LegacyEvent::RoomJoined { .. })).await {
            LegacyEvent::RoomJoined { occupants, .. } => {
                let mut nicks: Vec<String> = occupants.into_iter().map(|o| o.nick).collect();
                nicks.sort();
                assert_eq!(nicks, vec!["alice", "bob"]);
            }
            _ => unreachable!(),
        }
        alice.wait_for(|e| matches!(e, LegacyEvent::OccupantUpdated { occupant, .. } if occupant.nick == "bob")).await;

        // Channel messages both ways, with the reflection carrying the XMPP id.
        alice.cmd(LegacyCommand::SendRoomMessage { attachments: vec![], reply_to: None, thread: None, kind: MessageKind::Text, room: LegacyId::new("#test", None), body: "hello bob".into(), ids: ClientIds { id: Some("a1".into()), origin_id: None } }).await;
        assert_eq!(
            alice.wait_for(|e| matches!(e, LegacyEvent::RoomMessage { .. })).await,
            LegacyEvent::RoomMessage { attachments: vec![], reply_to: None, thread: None, kind: MessageKind::Text, room: LegacyId::new("#test", None), nick: "alice".into(), body: "hello bob".into(), ids: ClientIds { id: Some("a1".into()), origin_id: None }, id: None, time: None }
        );
        assert_eq!(
            bob.wait_for(|e| matches!(e, LegacyEvent::RoomMessage { .. })).await,
            LegacyEvent::RoomMessage { attachments: vec![], reply_to: None, thread: None, kind: MessageKind::Text, room: LegacyId::new("#test", None), nick: "alice".into(), body: "hello bob".into(), ids: ClientIds::none(), id: None, time: None }
        );
        bob.cmd(LegacyCommand::SendRoomMessage { attachments: vec![], reply_to: None, thread: None, kind: MessageKind::Action, room: LegacyId::new("#test", None), body: "waves".into(), ids: ClientIds::none() }).await;
        assert!(matches!(
            alice.wait_for(|e| matches!(e, LegacyEvent::RoomMessage { .. })).await,
            LegacyEvent::RoomMessage { nick, body, kind: MessageKind::Action, .. } if nick == "bob" && body == "waves"
        ));

        // A private message.
        alice.cmd(LegacyCommand::SendMessage { attachments: vec![], reply_to: None, thread: None, kind: MessageKind::Text, to: LegacyId::new("bob", None), body: "psst".into(), id: Some("p1".into()) }).await;
        assert_eq!(
            bob.wait_for(|e| matches!(e, LegacyEvent::Message { .. })).await,
            LegacyEvent::Message { attachments: vec![], reply_to: None, thread: None, kind: MessageKind::Text, from: LegacyId::new("alice", None), body: "psst".into(), id: None, time: None, by_user: false }
        );
        // To someone absent: a send failure with the id.
        alice.cmd(LegacyCommand::SendMessage { attachments: vec![], reply_to: None, thread: None, kind: MessageKind::Text, to: LegacyId::new("nobody", None), body: "hi".into(), id: Some("p2".into()) }).await;
        assert!(matches!(
            alice.wait_for(|e| matches!(e, LegacyEvent::SendFailed { .. })).await,
            LegacyEvent::SendFailed { to, id, .. } if to == "nobody" && id.as_deref() == Some("p2")
        ));

        // Topic.
        alice.cmd(LegacyCommand::SetSubject { room: LegacyId::new("#test", None), subject: "Gateway tests".into() }).await;
        assert_eq!(
            bob.wait_for(|e| matches!(e, LegacyEvent::RoomSubject { .. })).await,
            LegacyEvent::RoomSubject { room: LegacyId::new("#test", None), nick: Some("alice".into()), subject: "Gateway tests".into() }
        );

        // Nick change, seen by both.
        bob.cmd(LegacyCommand::SetNick { room: LegacyId::new("#test", None), nick: "robert".into() }).await;
        let renamed = LegacyEvent::OccupantRenamed { room: LegacyId::new("#test", None), old: "bob".into(), new: "robert".into() };
        assert_eq!(bob.wait_for(|e| matches!(e, LegacyEvent::OccupantRenamed { .. })).await, renamed);
        assert_eq!(alice.wait_for(|e| matches!(e, LegacyEvent::OccupantRenamed { .. })).await, renamed);

        // A raw observer joins and checks the gateway's lines as relayed.
        let mut raw = Raw::connect_as(ircd.port, "watcher", "raw observer").await;
        raw.send("JOIN #test").await;
        raw.until(|l| l.contains(" 366 ")).await;
        alice.wait_for(|e| matches!(e, LegacyEvent::OccupantUpdated { occupant, .. } if occupant.nick == "watcher")).await;

        let words: Vec<String> = (0..250).map(|i| format!("wört{i}")).collect();
        let long = words.join(" ");
        let paste: String = (0..15).map(|i| format!("paste line {i}\n")).collect();
        alice.cmd(LegacyCommand::SendRoomMessage { attachments: vec![], reply_to: None, thread: None, kind: MessageKind::Text, room: LegacyId::new("#test", None), body: long.clone(), ids: ClientIds::none() }).await;
        alice.cmd(LegacyCommand::SendRoomMessage { attachments: vec![], reply_to: None, thread: None, kind: MessageKind::Text, room: LegacyId::new("#test", None), body: "one\r\nQUIT :injected".into(), ids: ClientIds::none() }).await;
        let start = Instant::now();
        alice.cmd(LegacyCommand::SendRoomMessage { attachments: vec![], reply_to: None, thread: None, kind: MessageKind::Text, room: LegacyId::new("#test", None), body: paste, ids: ClientIds::none() }).await;
        let mut pieces = Vec::new();
        while pieces.join(" ") != long {
            let bytes = raw.raw_line().await;
            assert!(bytes.len() <= 512, "relayed line of {} bytes", bytes.len());
            let l = String::from_utf8(bytes).unwrap();
            let text = l.trim_end().split_once(" PRIVMSG #test :").expect("a PRIVMSG").1.to_owned();
            assert!(l.starts_with(":alice!"), "{l}");
            pieces.push(text);
            assert!(pieces.len() < 20);
        }
        assert!(pieces.len() >= 3, "{}", pieces.len());
        let l = raw.until(|l| l.contains("PRIVMSG")).await;
        assert!(l.ends_with("PRIVMSG #test :one"), "{l}");
        let l = raw.until(|l| l.contains("PRIVMSG")).await;
        assert!(l.ends_with("PRIVMSG #test :QUIT :injected"), "{l}");
        for i in 0..15 {
            let l = raw.until(|l| l.contains("PRIVMSG")).await;
            assert!(l.ends_with(&format!("PRIVMSG #test :paste line {i}")), "{l}");
        }
        // 5-line burst, then 10 lines/s: the last paste lines cannot arrive at once.
        assert!(start.elapsed() >= Duration::from_millis(900), "not paced: {:?}", start.elapsed());
        // alice is still connected (no QUIT was injected) and ngircd did not kill her.
        alice.cmd(LegacyCommand::SendRoomMessage { attachments: vec![], reply_to: None, thread: None, kind: MessageKind::Text, room: LegacyId::new("#test", None), body: "still here".into(), ids: ClientIds::none() }).await;
        let l = raw.until(|l| l.contains("PRIVMSG")).await;
        assert!(l.starts_with(":alice!") && l.ends_with(":still here"), "{l}");

        // Part.
        bob.cmd(LegacyCommand::LeaveRoom { room: LegacyId::new("#test", None), reason: Some("done".into()) }).await;
        assert!(matches!(
            bob.wait_for(|e| matches!(e, LegacyEvent::OccupantLeft { .. })).await,
            LegacyEvent::OccupantLeft { nick, kind: LeaveKind::Part, .. } if nick == "robert"
        ));
        assert_eq!(
            alice.wait_for(|e| matches!(e, LegacyEvent::OccupantLeft { .. })).await,
            LegacyEvent::OccupantLeft { room: LegacyId::new("#test", None), nick: "robert".into(), kind: LeaveKind::Part, reason: Some("done".into()) }
        );
        let l = raw.until(|l| l.contains(" PART ")).await;
        assert!(l.starts_with(":robert!") && l.ends_with("#test :done"), "{l}");

        // Disconnect: a QUIT with the reason reaches the network.
        alice.cmd(LegacyCommand::Disconnect { reason: "gateway test over".into() }).await;
        let l = raw.until(|l| l.contains(" QUIT ")).await;
        assert!(l.starts_with(":alice!") && l.contains("gateway test over"), "{l}");
        assert!(matches!(
            alice.wait_for(|e| matches!(e, LegacyEvent::Disconnected { .. })).await,
            LegacyEvent::Disconnected { .. }
        ));
        drop(ircd);
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn nick_collision_on_ngircd() {
    timeout(Duration::from_secs(60), async {
        let ircd = start_ngircd().await;
        let cfg = IrcConfig {
            fixed_server: Some(ServerAddr {
                host: "127.0.0.1".into(),
                port: ircd.port,
                tls: false,
                verify_cert: true,
            }),
            ..IrcConfig::default()
        };
        let t = IrcTransport::new(cfg);
        let _first = Gw::start_strict(&t, "carol").await;
        let mut second = Gw::start_strict(&t, "carol").await;
        match second
            .wait_for(|e| matches!(e, LegacyEvent::Notice { .. }))
            .await
        {
            LegacyEvent::Notice { text } => assert!(text.contains("carol_"), "{text}"),
            _ => unreachable!(),
        }
        second
            .cmd(LegacyCommand::JoinRoom {
                room: LegacyId::new("#c", None),
                nick: "carol".into(),
                password: None,
            })
            .await;
        assert!(matches!(
            second.wait_for(|e| matches!(e, LegacyEvent::RoomJoined { .. })).await,
            LegacyEvent::RoomJoined { nick, .. } if nick == "carol_"
        ));
        drop(ircd);
    })
    .await
    .expect("test timed out");
}
