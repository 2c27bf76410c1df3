//! Invitations both ways: the user invites a contact into a room (XEP-0045 mediated, sent
//! to the room; XEP-0249 direct, sent to the contact), an XMPP address elsewhere gets the
//! room's mediated invitation, a legacy contact invited to a room elsewhere reads where to
//! go, and someone on the network inviting the user shows as a XEP-0249 invitation.

use super::*;
use pontoon_core::legacy::{LegacyCommand, LegacyEvent, MessageKind};

const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
const CONFERENCE: &str = "jabber:x:conference";

async fn with_network() -> (Harness, Arc<TestTransport>) {
    let transport = Arc::new(TestTransport::default());
    let h = Harness::start_with(Options {
        transport: transport.clone(),
        ..Options::new(enabled())
    })
    .await;
    (h, transport)
}

async fn invited(peer: &mut pontoon_testkit::TestPeer) -> LegacyEvent {
    loop {
        let e = peer.event().await;
        if matches!(e, LegacyEvent::Invited { .. } | LegacyEvent::Message { .. }) {
            return e;
        }
    }
}

#[tokio::test]
async fn the_user_invites_both_ways_and_is_invited() {
    let (mut h, transport) = with_network().await;
    let mut bob = transport.peer("bob");
    h.login("a@localhost", "anna").await;
    h.join_room("a@localhost/res", "#lobby@test.localhost/anna")
        .await;

    // Mediated, through the room: bob is invited on the network.
    h.send("<message xmlns='jabber:client' from='a@localhost/res' to='#lobby@test.localhost'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='bob@test.localhost'><reason>join us</reason></invite></x></message>").await;
    let LegacyEvent::Invited { room, by, reason } = invited(&mut bob).await else {
        panic!("not an invitation");
    };
    assert_eq!(room, "#lobby");
    assert_eq!(by.as_deref(), Some("anna"));
    assert_eq!(reason.as_deref(), Some("join us"));

    // Direct, to bob: the same.
    h.send("<message xmlns='jabber:client' from='a@localhost/res' to='bob@test.localhost'><x xmlns='jabber:x:conference' jid='#lobby@test.localhost'/></message>").await;
    assert!(
        matches!(invited(&mut bob).await, LegacyEvent::Invited { room, .. } if room == "#lobby")
    );

    // Direct, to a room elsewhere: bob reads where to go.
    h.send("<message xmlns='jabber:client' from='a@localhost/res' to='bob@test.localhost'><x xmlns='jabber:x:conference' jid='room@conference.example.org'/></message>").await;
    let LegacyEvent::Message {
        body: text, kind, ..
    } = invited(&mut bob).await
    else {
        panic!("not a message");
    };
    assert_eq!(kind, MessageKind::Action);
    assert!(
        text.contains("xmpp:room@conference.example.org?join"),
        "{text}"
    );

    // Mediated, to an XMPP address elsewhere: the room passes it on (XEP-0045 7.8.2).
    h.send("<message xmlns='jabber:client' id='inv9' from='a@localhost/res' to='#lobby@test.localhost'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='carol@elsewhere.example'/></x></message>").await;
    let passed = h
        .expect("the room's invitation to carol", |e| {
            e.attr("to") == Some("carol@elsewhere.example") && is_from(e, "#lobby@test.localhost")
        })
        .await;
    let invite = passed
        .get_child("x", MUC_USER)
        .and_then(|x| x.get_child("invite", MUC_USER))
        .expect("a muc#user invite");
    assert_eq!(invite.attr("from"), Some("a@localhost"));

    // Bob invites anna: a XEP-0249 invitation from bob's JID.
    bob.command(LegacyCommand::Invite {
        room: pontoon_testkit::id("#den"),
        contact: pontoon_testkit::id("anna"),
        reason: Some("quiet here".into()),
    })
    .await;
    let got = h
        .expect("bob's invitation", |e| {
            is_from(e, "bob@test.localhost") && e.get_child("x", CONFERENCE).is_some()
        })
        .await;
    let x = got.get_child("x", CONFERENCE).unwrap();
    assert_eq!(x.attr("jid"), Some("#den@test.localhost"));
    assert_eq!(x.attr("reason"), Some("quiet here"));
    assert!(body(&got).is_some_and(|b| b.contains("invites you")));
}

/// What cannot be an invitation, or cannot reach a private chat, is refused, not dropped.
#[tokio::test]
async fn bad_invitations_and_subjects_in_private_chats_are_refused() {
    let (mut h, _) = with_network().await;
    h.login("a@localhost", "anna").await;
    h.join_room("a@localhost/res", "#lobby@test.localhost/anna")
        .await;
    // A room invited into a room.
    assert_eq!(
        h.refusal_of("<message xmlns='jabber:client' id='i1' from='a@localhost/res' to='#lobby@test.localhost'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='#den@test.localhost'/></x></message>", "i1").await.as_deref(),
        Some("bad-request")
    );
    // A direct invitation without a room.
    assert_eq!(
        h.refusal_of("<message xmlns='jabber:client' id='i2' from='a@localhost/res' to='bob@test.localhost'><x xmlns='jabber:x:conference'/></message>", "i2").await.as_deref(),
        Some("bad-request")
    );
    // A subject, alone, to a contact: a private chat on the network has none.
    assert_eq!(
        h.refusal_of("<message xmlns='jabber:client' type='chat' id='s1' from='a@localhost/res' to='bob@test.localhost'><subject>news</subject></message>", "s1").await.as_deref(),
        Some("feature-not-implemented")
    );
}
