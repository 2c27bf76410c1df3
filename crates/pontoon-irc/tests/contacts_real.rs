//! Contacts' presence and the room directory against real servers: ngircd (no MONITOR:
//! ISON polling) and InspIRCd 3 (MONITOR, away-notify), with raw IRC clients as contacts.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use pontoon_core::legacy::LegacyId;
use std::time::Duration;

use pontoon_core::legacy::{Availability, LegacyCommand, LegacyEvent, RoomInfo};
use pontoon_irc::{IrcConfig, IrcTransport, ServerAddr};
use support::{Gw, Raw};
use tokio::time::{Instant, timeout};

fn transport(port: u16, poll: Duration) -> IrcTransport {
    IrcTransport::new(IrcConfig {
        fixed_server: Some(ServerAddr {
            host: "127.0.0.1".into(),
            port,
            tls: false,
            verify_cert: true,
        }),
        connect_timeout: Duration::from_secs(5),
        presence_poll_interval: poll,
        ..IrcConfig::default()
    })
}

async fn list(gw: &mut Gw, request: u64) -> Vec<RoomInfo> {
    gw.cmd(LegacyCommand::ListRooms {
        request,
        network: None,
        search: None,
    })
    .await;
    match gw
        .wait_for(|e| {
            matches!(e, LegacyEvent::RoomList { request: r, .. } | LegacyEvent::RoomListFailed { request: r, .. } if *r == request)
        })
        .await
    {
        LegacyEvent::RoomList { rooms, .. } => rooms,
        e => panic!("{e:?}"),
    }
}

#[tokio::test]
async fn ison_presence_and_list_on_ngircd() {
    timeout(Duration::from_secs(90), async {
        let ircd = support::start_ngircd().await;
        let t = transport(ircd.port, Duration::from_secs(1));
        let mut alice = Gw::start(&t, "alice").await;
        alice
            .cmd(LegacyCommand::AddContact {
                contact: LegacyId::new("bob", None),
            })
            .await;
        // The first poll answers at once: bob is not there.
        assert_eq!(
            alice.presence_of("bob").await,
            (Availability::Offline, None)
        );
        // bob connects: the next poll (1 s here, 30 s by default) sees him.
        let start = Instant::now();
        let mut bob = Raw::connect(ircd.port, "Bob").await;
        assert_eq!(
            alice.presence_of("bob").await,
            (Availability::Available, None)
        );
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );

        // The directory lists bob's channels, with their topics.
        bob.send("JOIN #one").await;
        bob.send("JOIN #two").await;
        bob.send("TOPIC #two :\x02Second\x02 channel").await;
        bob.until(|l| l.contains(" TOPIC #two ")).await;
        let mut rooms = list(&mut alice, 1).await;
        // ngircd's own &server channel is listed too.
        rooms.retain(|r| r.room.starts_with('#'));
        assert_eq!(
            rooms,
            vec![
                RoomInfo {
                    room: LegacyId::new("#one", None),
                    name: None,
                    occupants: Some(1),
                    topic: None
                },
                RoomInfo {
                    room: LegacyId::new("#two", None),
                    name: None,
                    occupants: Some(1),
                    topic: Some("Second channel".into())
                },
            ]
        );

        // bob quits: offline at the next poll.
        bob.quit("bye").await;
        assert_eq!(
            alice.presence_of("bob").await,
            (Availability::Offline, None)
        );
        drop(ircd);
    })
    .await
    .expect("test timed out");
}

#[tokio::test]
async fn monitor_and_away_notify_on_inspircd() {
    timeout(Duration::from_secs(90), async {
        let ircd = support::start_inspircd().await;
        // A long poll interval: everything below must come from MONITOR and away-notify.
        let t = transport(ircd.port, Duration::from_secs(3600));
        let mut alice = Gw::start(&t, "alice").await;
        alice
            .cmd(LegacyCommand::AddContact {
                contact: LegacyId::new("bob", None),
            })
            .await;
        assert_eq!(
            alice.presence_of("bob").await,
            (Availability::Offline, None)
        );
        let mut bob = Raw::connect(ircd.port, "bob").await;
        assert_eq!(
            alice.presence_of("bob").await,
            (Availability::Available, None)
        );

        // Sharing a channel, bob's AWAY reaches alice through away-notify.
        bob.send("JOIN #shared").await;
        bob.until(|l| l.contains(" 366 ")).await;
        alice
            .cmd(LegacyCommand::JoinRoom {
                room: LegacyId::new("#shared", None),
                nick: "alice".into(),
                password: None,
            })
            .await;
        alice
            .wait_for(|e| matches!(e, LegacyEvent::RoomJoined { .. }))
            .await;
        bob.send("AWAY :gone fishing").await;
        assert_eq!(
            alice.presence_of("bob").await,
            (Availability::Away, Some("gone fishing".into()))
        );
        bob.send("AWAY").await;
        assert_eq!(
            alice.presence_of("bob").await,
            (Availability::Available, None)
        );

        // The directory on InspIRCd, which puts the modes before the topic ("[+nt] ").
        let rooms = list(&mut alice, 7).await;
        assert_eq!(
            rooms,
            vec![RoomInfo {
                room: LegacyId::new("#shared", None),
                name: None,
                occupants: Some(2),
                topic: None
            }]
        );

        // bob quits: offline at once (QUIT in the channel and MONITOR agree, reported once).
        bob.quit("bye").await;
        assert_eq!(
            alice.presence_of("bob").await,
            (Availability::Offline, None)
        );
        let extra = timeout(
            Duration::from_millis(500),
            alice.wait_for(|e| matches!(e, LegacyEvent::ContactPresence { .. })),
        )
        .await;
        assert!(extra.is_err(), "reported twice: {extra:?}");
        drop(ircd);
    })
    .await
    .expect("test timed out");
}
