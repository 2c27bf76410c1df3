//! The transport against InspIRCd 3 + Atheme (SASL PLAIN, echo-message, server-time),
//! both started by the test in a temp dir on free loopback ports.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use pontoon_core::legacy::LegacyId;
use std::collections::BTreeMap;
use std::time::Duration;

use pontoon_core::Transport;
use pontoon_core::channel;
use pontoon_core::legacy::{ClientIds, LegacyAccount, LegacyCommand, LegacyEvent, MessageKind};
use pontoon_irc::{IrcConfig, IrcTransport, ServerAddr};
use tokio::time::timeout;

fn transport(port: u16) -> IrcTransport {
    IrcTransport::new(IrcConfig {
        fixed_server: Some(ServerAddr {
            host: "127.0.0.1".into(),
            port,
            tls: false,
            verify_cert: true,
        }),
        connect_timeout: Duration::from_secs(5),
        ..IrcConfig::default()
    })
}

async fn login(
    t: &IrcTransport,
    nick: &str,
    password: &str,
) -> (
    channel::Sender<LegacyCommand>,
    channel::Receiver<LegacyEvent>,
) {
    let (etx, erx) = channel::bounded(256);
    let tx = t.start_session(
        LegacyAccount {
            legacy_id: nick.into(),
            secret: Some(password.into()),
            options: BTreeMap::new(),
        },
        etx,
        pontoon_core::state::TransportState::detached(),
    );
    (tx, erx)
}

async fn next_non_notice(rx: &mut channel::Receiver<LegacyEvent>) -> LegacyEvent {
    loop {
        let e = timeout(Duration::from_secs(15), rx.recv())
            .await
            .expect("no event")
            .expect("session ended");
        // Server notices, and services' notices (from their own contacts).
        let notice = matches!(
            e,
            LegacyEvent::Notice { .. }
                | LegacyEvent::NetworkNotice { .. }
                | LegacyEvent::Message {
                    kind: MessageKind::Notice,
                    ..
                }
        );
        if !notice {
            return e;
        }
    }
}

#[tokio::test]
async fn sasl_and_echo_message_on_inspircd_atheme() {
    timeout(Duration::from_secs(90), async {
        let net = support::start_inspircd_atheme().await;
        let t = transport(net.port);

        // Wrong password: the login fails with the SASL reason.
        let (_tx, mut rx) = login(&t, "seeded", "not-the-password").await;
        assert_eq!(
            next_non_notice(&mut rx).await,
            LegacyEvent::LoginFailed { reason: "SASL authentication failed: wrong password?".into() }
        );

        // Right password: connected, and logged in (NickServ does not ask to identify).
        let (tx, mut rx) = login(&t, "seeded", "plainpass1").await;
        assert_eq!(next_non_notice(&mut rx).await, LegacyEvent::Authenticated);
        // InspIRCd has message-tags: reactions, replies and typing go natively; kicks, roles and lookups always do.
        let tags = pontoon_core::legacy::Verbs { reactions: true, replies: true, typing: true, kicks: true, roles: true, lookup: true, ban_list: true, room_config: true, ..Default::default() };
        assert_eq!(next_non_notice(&mut rx).await, LegacyEvent::Connected);
        assert_eq!(next_non_notice(&mut rx).await, LegacyEvent::Verbs { network: None, verbs: tags });

        // echo-message + server-time: the reflection comes from the server's echo.
        tx.send(LegacyCommand::JoinRoom { room: LegacyId::new("#sasl", None), nick: "seeded".into(), password: None }).await.unwrap();
        assert!(matches!(next_non_notice(&mut rx).await, LegacyEvent::RoomJoined { nick, .. } if nick == "seeded"));
        tx.send(LegacyCommand::SendRoomMessage { attachments: vec![], reply_to: None, thread: None, kind: MessageKind::Text, room: LegacyId::new("#sasl", None), body: "echoed".into(), ids: ClientIds { id: Some("e1".into()), origin_id: None } }).await.unwrap();
        match next_non_notice(&mut rx).await {
            LegacyEvent::RoomMessage { nick, body, ids: ClientIds { id, .. }, time, .. } => {
                assert_eq!((nick.as_str(), body.as_str(), id.as_deref()), ("seeded", "echoed", Some("e1")));
                // The echo carries a server-time tag, but it is live traffic: no delay.
                assert!(time.is_none(), "a live echo must not be marked as delayed: {time:?}");
            }
            e => panic!("{e:?}"),
        }
        tx.send(LegacyCommand::Disconnect { reason: "done".into() }).await.unwrap();
        // The server's ERROR after our QUIT is a goodbye, not a lost connection.
        assert_eq!(next_non_notice(&mut rx).await, LegacyEvent::Disconnected { reason: "done".into() });
        drop(net);
    })
    .await
    .expect("test timed out");
}
