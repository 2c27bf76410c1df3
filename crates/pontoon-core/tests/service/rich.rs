//! The service over the rich test network (every verb native, a contact list, room names,
//! person ids), in component mode: what the transport's users see when the network carries
//! what plain IRC cannot. The verbs in rooms both ways are the conformance suite's
//! (`pontoon-testkit`); this covers direct chats, moderation, contact lists and disco.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use minidom::Element;
use pontoon_testkit::TestTransport;
use pontoon_testkit::harness::{Harness, Options, enabled, error_condition, is_from, stanza_id};

const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";

async fn rich() -> (Harness, Arc<TestTransport>) {
    let transport = Arc::new(TestTransport::rich());
    let h = Harness::start_with(Options {
        transport: transport.clone(),
        ..Options::new(enabled())
    })
    .await;
    (h, transport)
}

fn features(iq: &Element) -> Vec<String> {
    iq.get_child("query", DISCO_INFO)
        .map(|q| {
            q.children()
                .filter(|c| c.name() == "feature")
                .filter_map(|c| c.attr("var").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The network's contact list reaches the user as subscription requests with the names the
/// contacts show (XEP-0172); one added later asks too, one removed unsubscribes.
#[tokio::test]
async fn the_contact_list_asks_into_the_roster() {
    let (mut h, _) = rich().await;
    h.login("a@localhost", "anna").await;
    let sub = h
        .expect("echo asks to be added", |e| {
            e.name() == "presence"
                && is_from(e, "echo@test.localhost")
                && e.attr("type") == Some("subscribe")
        })
        .await;
    let nick = sub.get_child("nick", "http://jabber.org/protocol/nick");
    assert_eq!(nick.map(Element::text).as_deref(), Some("Echo"));
    h.send("<message xmlns='jabber:client' type='chat' from='a@localhost/res' to='test.localhost'><body>friend bob Bobby</body></message>").await;
    let bob = h
        .expect("bob asks to be added", |e| {
            is_from(e, "bob@test.localhost") && e.attr("type") == Some("subscribe")
        })
        .await;
    assert_eq!(
        bob.get_child("nick", "http://jabber.org/protocol/nick")
            .map(Element::text)
            .as_deref(),
        Some("Bobby")
    );
    h.send("<message xmlns='jabber:client' type='chat' from='a@localhost/res' to='test.localhost'><body>unfriend bob</body></message>").await;
    h.expect_all(
        "bob leaves the roster",
        &[
            &|e| is_from(e, "bob@test.localhost") && e.attr("type") == Some("unsubscribe"),
            &|e| is_from(e, "bob@test.localhost") && e.attr("type") == Some("unsubscribed"),
        ],
    )
    .await;
}

/// A contact's presence carries entity caps (XEP-0115) hashing what the chat with them
/// takes, and disco#info at that caps node answers with the same, verifiably.
#[tokio::test]
async fn contacts_announce_their_caps() {
    let (mut h, _) = rich().await;
    h.login("a@localhost", "anna").await;
    let online = h
        .expect("echo comes online with caps", |e| {
            e.name() == "presence" && is_from(e, "echo@test.localhost") && e.attr("type").is_none()
        })
        .await;
    let c = online
        .get_child("c", "http://jabber.org/protocol/caps")
        .expect("caps on the contact's presence");
    let node = format!("{}#{}", c.attr("node").unwrap(), c.attr("ver").unwrap());
    let answer = h
        .get_to(
            "a@localhost/res",
            "echo@test.localhost",
            "caps1",
            &format!("<query xmlns='{DISCO_INFO}' node='{node}'/>"),
        )
        .await;
    assert_eq!(
        answer.attr("type"),
        Some("result"),
        "{}",
        String::from(&answer)
    );
    let query = answer.get_child("query", DISCO_INFO).unwrap();
    assert_eq!(query.attr("node"), Some(node.as_str()));
    assert!(features(&answer).contains(&"urn:xmpp:message-retract:1".to_owned()));
    // The hash is the one of what was answered (what a client checks before caching).
    let info = xmpp_parsers::disco::DiscoInfoResult::try_from(query.clone()).unwrap();
    let data = xmpp_parsers::caps::compute_disco(&info);
    let hash = xmpp_parsers::caps::hash_caps(&data, xmpp_parsers::hashes::Algo::Sha_1).unwrap();
    use base64::Engine as _;
    let ver = base64::engine::general_purpose::STANDARD.encode(&hash.hash);
    assert_eq!(c.attr("ver"), Some(ver.as_str()));
    let other = h
        .get_to(
            "a@localhost/res",
            "echo@test.localhost",
            "caps2",
            &format!("<query xmlns='{DISCO_INFO}' node='urn:other#x'/>"),
        )
        .await;
    assert_eq!(error_condition(&other).as_deref(), Some("item-not-found"));
}

/// disco#info of a room and a contact says what the network carries, with the room's name;
/// without a session, what every network of the transport takes.
#[tokio::test]
async fn disco_says_what_the_network_carries() {
    let (mut h, _) = rich().await;
    let before = h
        .get_to(
            "a@localhost/one",
            "#lobby@test.localhost",
            "d0",
            &format!("<query xmlns='{DISCO_INFO}'/>"),
        )
        .await;
    assert!(!features(&before).contains(&"urn:xmpp:message-moderate:1".to_owned()));
    h.join_room("a@localhost/one", "#lobby@test.localhost/anna")
        .await;
    let room = h
        .get_to(
            "a@localhost/one",
            "#lobby@test.localhost",
            "d1",
            &format!("<query xmlns='{DISCO_INFO}'/>"),
        )
        .await;
    let f = features(&room);
    for want in [
        "urn:xmpp:message-retract:1",
        "urn:xmpp:message-moderate:1",
        "urn:xmpp:chat-markers:0",
        "http://jabber.org/protocol/chatstates",
        "urn:xmpp:occupant-id:0",
    ] {
        assert!(f.contains(&want.to_owned()), "{want}: {f:?}");
    }
    let identity = room
        .get_child("query", DISCO_INFO)
        .and_then(|q| q.get_child("identity", DISCO_INFO))
        .and_then(|i| i.attr("name"))
        .map(str::to_owned);
    assert_eq!(identity.as_deref(), Some("lobby on the test network"));
    let contact = h
        .get_to(
            "a@localhost/one",
            "echo@test.localhost",
            "d2",
            &format!("<query xmlns='{DISCO_INFO}'/>"),
        )
        .await;
    // No nodes: a XEP-0045 reserved-nick query finds none.
    let node = h
        .get_to(
            "a@localhost/one",
            "#lobby@test.localhost",
            "d3",
            &format!("<query xmlns='{DISCO_INFO}' node='x-roomuser-item'/>"),
        )
        .await;
    assert_eq!(error_condition(&node).as_deref(), Some("item-not-found"));
    assert!(features(&contact).contains(&"urn:xmpp:receipts".to_owned()));
}

/// XEP-0425: the room's owner (a moderator) deletes someone's message and everyone sees the
/// room announce it once the network confirms it (the moderator too, once); a participant is refused with forbidden; an unknown message with
/// item-not-found.
#[tokio::test]
async fn moderators_retract_others_messages() {
    let (mut h, _) = rich().await;
    h.join_room("a@localhost/one", "#mod@test.localhost/anna")
        .await;
    h.join_room("b@localhost/x", "#mod@test.localhost/ben")
        .await;
    h.send("<message xmlns='jabber:client' type='groupchat' id='b1' from='b@localhost/x' to='#mod@test.localhost'><body>spam</body></message>").await;
    let spam = h
        .expect("anna sees ben's message", |e| {
            e.attr("to") == Some("a@localhost/one")
                && is_from(e, "#mod@test.localhost/ben")
                && e.get_child("body", "jabber:client").is_some()
        })
        .await;
    let sid = stanza_id(&spam).unwrap();
    let moderate = |from: &str, id: &str, target: &str| {
        format!(
            "<iq xmlns='jabber:client' type='set' id='{id}' from='{from}' to='#mod@test.localhost'><moderate xmlns='urn:xmpp:message-moderate:1' id='{target}'><retract xmlns='urn:xmpp:message-retract:1'/><reason>spam</reason></moderate></iq>"
        )
    };
    assert_eq!(
        h.refusal_of(&moderate("b@localhost/x", "m0", &sid), "m0")
            .await
            .as_deref(),
        Some("forbidden")
    );
    assert_eq!(
        h.refusal_of(&moderate("a@localhost/one", "m1", "unknown"), "m1")
            .await
            .as_deref(),
        Some("item-not-found")
    );
    h.send(&moderate("a@localhost/one", "m2", &sid)).await;
    let announced = |to: &'static str| {
        move |e: &Element| {
            e.attr("to") == Some(to)
                && is_from(e, "#mod@test.localhost")
                && e.get_child("retract", "urn:xmpp:message-retract:1")
                    .is_some_and(|r| {
                        r.get_child("moderated", "urn:xmpp:message-moderate:1")
                            .is_some()
                    })
        }
    };
    h.expect_all(
        "the result, and the room's announcement to both",
        &[
            &|e| e.name() == "iq" && e.attr("id") == Some("m2") && e.attr("type") == Some("result"),
            &announced("a@localhost/one"),
            &announced("b@localhost/x"),
        ],
    )
    .await;
    // Shown once to the moderator, when the network confirmed it: nothing more before what
    // anna says next.
    h.send("<message xmlns='jabber:client' type='groupchat' id='a1' from='a@localhost/one' to='#mod@test.localhost'><body>next</body></message>").await;
    for _ in 0..10 {
        let e = h.recv().await;
        assert!(
            !announced("a@localhost/one")(&e),
            "announced twice: {}",
            String::from(&e)
        );
        if e.attr("to") == Some("a@localhost/one") && e.attr("id") == Some("a1") {
            break;
        }
    }
}

/// A verb the network refuses (here: a correction in a direct chat with someone not on the
/// network) is told to the user, never lost in silence.
#[tokio::test]
async fn a_refused_verb_is_told() {
    let (mut h, _) = rich().await;
    h.login("a@localhost", "anna").await;
    h.send("<message xmlns='jabber:client' type='chat' id='g1' from='a@localhost/res' to='ghost@test.localhost'><body>hi</body></message>").await;
    let bounced = h
        .expect("not delivered", |e| {
            e.attr("id") == Some("g1") && e.attr("type") == Some("error")
        })
        .await;
    assert_eq!(
        error_condition(&bounced).as_deref(),
        Some("recipient-unavailable")
    );
    h.send("<message xmlns='jabber:client' type='chat' id='g2' from='a@localhost/res' to='ghost@test.localhost'><body>hi!</body><replace xmlns='urn:xmpp:message-correct:0' id='g1'/></message>").await;
    let told = h
        .expect("the refusal is told", |e| {
            is_from(e, "test.localhost")
                && pontoon_testkit::harness::body(e)
                    .is_some_and(|b| b.contains("ghost is not on the test network"))
        })
        .await;
    assert!(
        pontoon_testkit::harness::body(&told)
            .unwrap()
            .starts_with("In the chat with ghost: The network did not do that"),
        "{}",
        String::from(&told)
    );
}

/// Direct chats on a network with receipts and read markers: the user's message is
/// acknowledged under every id the client gave it (a retraction names the origin-id), the
/// contact's messages are markable, and a receipt names the client's id.
#[tokio::test]
async fn direct_messages_are_markable_acknowledged_and_retractable_by_origin_id() {
    use pontoon_core::legacy::{LegacyCommand, LegacyEvent};
    let (mut h, transport) = rich().await;
    let mut bob = transport.peer("bob");
    h.login("a@localhost", "anna").await;
    h.send("<message xmlns='jabber:client' type='chat' id='s1' from='a@localhost/res' to='bob@test.localhost'><body>hi</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/></message>").await;
    let legacy_id = loop {
        if let LegacyEvent::Message {
            id: Some(id), body, ..
        } = bob.event().await
            && body == "hi"
        {
            break id;
        }
    };
    let receipt = h
        .expect("delivered", |e| {
            e.get_child("received", "urn:xmpp:receipts").is_some()
        })
        .await;
    assert_eq!(
        receipt
            .get_child("received", "urn:xmpp:receipts")
            .and_then(|r| r.attr("id")),
        Some("s1")
    );
    // Retracted by its origin-id: the network is asked to delete its own id for it.
    h.send("<message xmlns='jabber:client' type='chat' id='s2' from='a@localhost/res' to='bob@test.localhost'><retract xmlns='urn:xmpp:message-retract:1' id='o1'/><body>retracted</body></message>").await;
    loop {
        if let LegacyEvent::Retracted { target, .. } = bob.event().await {
            assert_eq!(target, legacy_id);
            break;
        }
    }
    // Bob's messages to anna are markable.
    bob.command(LegacyCommand::SendMessage {
        to: pontoon_testkit::id("anna"),
        body: "hello anna".into(),
        kind: Default::default(),
        id: None,
        reply_to: None,
        thread: None,
        attachments: vec![],
    })
    .await;
    let m = h
        .expect("bob's message", |e| {
            is_from(e, "bob@test.localhost") && e.get_child("body", "jabber:client").is_some()
        })
        .await;
    assert!(m.get_child("markable", "urn:xmpp:chat-markers:0").is_some());
}

/// The user's own verbs in a room: carried natively and shown once (the network's echo is
/// not shown again), and shown too when made from another client of the network.
#[tokio::test]
async fn own_verbs_are_shown_once_and_from_other_clients_too() {
    use pontoon_core::legacy::{ChatId, LegacyCommand, MessageKind};
    const CORRECT: &str = "urn:xmpp:message-correct:0";
    let (mut h, transport) = rich().await;
    h.join_room("a@localhost/one", "#own@test.localhost/anna")
        .await;
    h.send("<message xmlns='jabber:client' type='groupchat' id='o1' from='a@localhost/one' to='#own@test.localhost'><body>typo</body></message>").await;
    let original = h
        .expect("the reflection", |e| e.attr("id") == Some("o1"))
        .await;
    let sid = stanza_id(&original).unwrap();
    h.send("<message xmlns='jabber:client' type='groupchat' id='o2' from='a@localhost/one' to='#own@test.localhost'><body>typo fixed</body><replace xmlns='urn:xmpp:message-correct:0' id='o1'/></message>").await;
    h.expect("the correction, once", |e| {
        e.attr("id") == Some("o2") && e.get_child("replace", CORRECT).is_some()
    })
    .await;
    h.send("<message xmlns='jabber:client' type='groupchat' id='o3' from='a@localhost/one' to='#own@test.localhost'><body>next</body></message>").await;
    for _ in 0..10 {
        let e = h.recv().await;
        assert!(
            e.get_child("replace", CORRECT).is_none(),
            "the network's echo shown again: {}",
            String::from(&e)
        );
        if e.attr("id") == Some("o3") {
            break;
        }
    }
    // Anna's other client of the network edits her message: her XMPP clients see it.
    let device = transport.device("anna").expect("anna is logged in");
    device
        .command(LegacyCommand::Correct {
            chat: ChatId::Room(pontoon_testkit::id("#own")),
            target: sid.clone(),
            body: "edited elsewhere".into(),
            kind: MessageKind::Text,
        })
        .await;
    let edited = h
        .expect("the edit from the other client", |e| {
            is_from(e, "#own@test.localhost/anna")
                && e.get_child("body", "jabber:client")
                    .map(Element::text)
                    .as_deref()
                    == Some("edited elsewhere")
        })
        .await;
    assert_eq!(
        edited
            .get_child("replace", CORRECT)
            .and_then(|r| r.attr("id")),
        Some(sid.as_str())
    );
    // A reaction through the gateway, then one from the other client: one set, both in it.
    h.send(&format!("<message xmlns='jabber:client' type='groupchat' id='o4' from='a@localhost/one' to='#own@test.localhost'><reactions xmlns='urn:xmpp:reactions:0' id='{sid}'><reaction>❤</reaction></reactions></message>")).await;
    h.expect("the reaction reflected", |e| e.attr("id") == Some("o4"))
        .await;
    device
        .command(LegacyCommand::React {
            chat: ChatId::Room(pontoon_testkit::id("#own")),
            target: sid.clone(),
            added: vec!["👍".into()],
            removed: vec![],
        })
        .await;
    let set = h
        .expect("the set from the other client", |e| {
            is_from(e, "#own@test.localhost/anna")
                && e.get_child("reactions", "urn:xmpp:reactions:0").is_some()
        })
        .await;
    let emojis: Vec<String> = set
        .get_child("reactions", "urn:xmpp:reactions:0")
        .unwrap()
        .children()
        .map(Element::text)
        .collect();
    assert_eq!(emojis, vec!["❤".to_owned(), "👍".to_owned()]);
    // Her own message from the other client is hers: not markable.
    device
        .command(LegacyCommand::SendRoomMessage {
            room: pontoon_testkit::id("#own"),
            body: "from my phone".into(),
            kind: MessageKind::Text,
            ids: Default::default(),
            reply_to: None,
            thread: None,
            attachments: vec![],
        })
        .await;
    let own = h
        .expect("her message from the other client", |e| {
            e.get_child("body", "jabber:client")
                .map(Element::text)
                .as_deref()
                == Some("from my phone")
        })
        .await;
    assert!(
        own.get_child("markable", "urn:xmpp:chat-markers:0")
            .is_none()
    );
    // ...and hers to correct through the gateway.
    let own_sid = stanza_id(&own).unwrap();
    h.send(&format!("<message xmlns='jabber:client' type='groupchat' id='o5' from='a@localhost/one' to='#own@test.localhost'><body>from my phone, fixed</body><replace xmlns='urn:xmpp:message-correct:0' id='{own_sid}'/></message>")).await;
    let fixed = h
        .expect("the correction reflected", |e| e.attr("id") == Some("o5"))
        .await;
    assert!(
        fixed.get_child("error", "jabber:client").is_none(),
        "{}",
        String::from(&fixed)
    );
}
