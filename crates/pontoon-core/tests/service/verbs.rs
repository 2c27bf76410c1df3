//! What real clients see in rooms (ids, affiliations, private conversations, help) and the message verbs in rooms and direct chats.

use super::*;

fn child<'a>(e: &'a Element, name: &str, ns: &str) -> Option<&'a Element> {
    e.get_child(name, ns)
}

/// What real clients need of a room (issue 13): the reflection of the user's own message
/// keeps its id and origin-id, every copy of a room message has the same stanza-id by the
/// room, occupants carry affiliation and role, and a private message sent through the room
/// is answered from the same occupant JID.
#[tokio::test]
async fn rooms_keep_ids_affiliations_and_private_conversations() {
    const SID: &str = "urn:xmpp:sid:0";
    const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
    let mut h = Harness::start(enabled()).await;
    h.join_room("a@localhost/one", "#lobby@test.localhost/anna")
        .await;
    h.join_room("b@localhost/x", "#lobby@test.localhost/ben")
        .await;
    h.send("<message xmlns='jabber:client' type='groupchat' id='g1' from='a@localhost/one' to='#lobby@test.localhost'><body>hello</body><origin-id xmlns='urn:xmpp:sid:0' id='origin-1'/></message>")
        .await;
    let mut reflection = None;
    let mut seen_by_ben = None;
    for _ in 0..10 {
        let e = h.recv().await;
        if e.name() != "message" || !is_from(&e, "#lobby@test.localhost/anna") {
            continue;
        }
        match e.attr("to") {
            Some("a@localhost/one") => reflection = Some(e),
            Some("b@localhost/x") => seen_by_ben = Some(e),
            _ => {}
        }
        if reflection.is_some() && seen_by_ben.is_some() {
            break;
        }
    }
    let (reflection, seen_by_ben) = (reflection.unwrap(), seen_by_ben.unwrap());
    assert_eq!(reflection.attr("id"), Some("g1"));
    assert_eq!(
        child(&reflection, "origin-id", SID).and_then(|o| o.attr("id")),
        Some("origin-1"),
        "the reflection keeps the client's origin-id"
    );
    assert!(
        child(&seen_by_ben, "origin-id", SID).is_none() && seen_by_ben.attr("id") != Some("g1"),
        "other users get none of anna's client ids"
    );
    assert_eq!(
        seen_by_ben.attr("id"),
        child(&seen_by_ben, "stanza-id", SID).and_then(|s| s.attr("id")),
        "others name the message by its stanza-id"
    );
    assert_eq!(
        child(&reflection, "stanza-id", SID).and_then(|s| s.attr("by")),
        Some("#lobby@test.localhost")
    );

    // Ben changes nick: anna sees the 303 with ben's affiliation and role.
    h.send(
        "<presence xmlns='jabber:client' from='b@localhost/x' to='#lobby@test.localhost/ben2'/>",
    )
    .await;
    let renamed = h
        .expect("303 to anna", |e| {
            e.attr("to") == Some("a@localhost/one") && statuses(e).contains(&"303".to_owned())
        })
        .await;
    let item = child(&renamed, "x", MUC_USER)
        .and_then(|x| child(x, "item", MUC_USER))
        .unwrap();
    assert_eq!(
        (
            item.attr("affiliation"),
            item.attr("role"),
            item.attr("nick")
        ),
        (Some("none"), Some("none"), Some("ben2"))
    );
    h.send("<presence xmlns='jabber:client' from='b@localhost/x' to='#lobby@test.localhost/ben'/>")
        .await;
    h.expect("ben is back as ben", |e| {
        e.attr("to") == Some("a@localhost/one")
            && is_from(e, "#lobby@test.localhost/ben")
            && e.attr("type").is_none()
    })
    .await;

    // Anna writes to ben through the room; ben (who did not) gets it from anna's contact JID.
    h.send("<message xmlns='jabber:client' type='chat' id='p1' from='a@localhost/one' to='#lobby@test.localhost/ben'><body>psst</body></message>")
        .await;
    let to_ben = h
        .expect("ben gets the private message", |e| {
            e.attr("to").is_some_and(|t| t.starts_with("b@localhost")) && e.name() == "message"
        })
        .await;
    assert_eq!(to_ben.attr("from"), Some("anna@test.localhost"));
    // Ben answers anna's contact JID; anna sees it in the room conversation she started.
    h.send("<message xmlns='jabber:client' type='chat' id='p2' from='b@localhost/x' to='anna@test.localhost'><body>yes?</body></message>")
        .await;
    let to_anna = h
        .expect("anna gets the answer", |e| {
            e.attr("to").is_some_and(|t| t.starts_with("a@localhost")) && e.name() == "message"
        })
        .await;
    assert_eq!(to_anna.attr("from"), Some("#lobby@test.localhost/ben"));
    assert!(
        child(&to_anna, "x", MUC_USER).is_some(),
        "marked as a MUC PM"
    );

    // Ben leaves: anna sees role none with his affiliation.
    h.send("<presence xmlns='jabber:client' type='unavailable' from='b@localhost/x' to='#lobby@test.localhost/ben'/>")
        .await;
    let left = h
        .expect("ben leaves", |e| {
            e.attr("to") == Some("a@localhost/one") && e.attr("type") == Some("unavailable")
        })
        .await;
    let item = child(&left, "x", MUC_USER)
        .and_then(|x| child(x, "item", MUC_USER))
        .unwrap();
    assert_eq!(
        (item.attr("affiliation"), item.attr("role")),
        (Some("none"), Some("none"))
    );
    // He comes back (as an IRC user reconnecting would): the conversation resumes.
    h.join_room("b@localhost/x", "#lobby@test.localhost/ben")
        .await;
    let to_anna = ben_writes_to_anna(&mut h, "p3").await;
    assert_eq!(to_anna.attr("from"), Some("#lobby@test.localhost/ben"));
    // Anna leaves the room (staying in another one): the conversation is over, and ben's
    // next message comes from his contact JID.
    h.join_room("a@localhost/one", "#side@test.localhost/anna")
        .await;
    h.send("<presence xmlns='jabber:client' type='unavailable' from='a@localhost/one' to='#lobby@test.localhost/anna'/>")
        .await;
    h.expect("anna out of #lobby", |e| {
        is_from(e, "#lobby@test.localhost/anna") && e.attr("type") == Some("unavailable")
    })
    .await;
    let to_anna = ben_writes_to_anna(&mut h, "p4").await;
    assert_eq!(to_anna.attr("from"), Some("ben@test.localhost"));
}

async fn ben_writes_to_anna(h: &mut Harness, id: &str) -> Element {
    h.send(&format!("<message xmlns='jabber:client' type='chat' id='{id}' from='b@localhost/x' to='anna@test.localhost'><body>{id}</body></message>"))
        .await;
    h.expect("anna gets ben's message", |e| {
        e.attr("to").is_some_and(|t| t.starts_with("a@localhost")) && e.name() == "message"
    })
    .await
}

/// The transport's help text names only commands that exist: each one it lists is answered
/// with something other than the help text itself.
#[tokio::test]
async fn help_lists_only_commands_that_answer() {
    let mut h = Harness::start(enabled()).await;
    h.send("<message xmlns='jabber:client' type='chat' from='a@localhost/one' to='test.localhost'><body>help</body></message>")
        .await;
    let help = h
        .expect("help", |e| e.name() == "message")
        .await
        .get_child("body", "jabber:client")
        .unwrap()
        .text();
    assert!(!help.contains("'register'"), "{help}");
    let commands: Vec<String> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands you can send here"))
        .skip(1)
        .filter_map(|l| l.trim().split(" - ").next().map(str::to_owned))
        .collect();
    assert!(commands.contains(&"status".to_owned()), "{help}");
    for command in commands.iter().filter(|c| *c != "help") {
        h.send(&format!("<message xmlns='jabber:client' type='chat' from='a@localhost/one' to='test.localhost'><body>{command}</body></message>"))
            .await;
        let answer = h.expect("answer", |e| e.name() == "message").await;
        let text = answer.get_child("body", "jabber:client").unwrap().text();
        assert_ne!(
            text, help,
            "{command} is listed but answered with the help text"
        );
    }
}

/// anna (a@localhost/one) and ben (b@localhost/x) in #lobby on the test network.
async fn anna_and_ben_in_lobby() -> Harness {
    let mut h = Harness::start(enabled()).await;
    h.join_room("a@localhost/one", "#lobby@test.localhost/anna")
        .await;
    h.join_room("b@localhost/x", "#lobby@test.localhost/ben")
        .await;
    h
}

/// XEP-0308 in a room (issue 14): the network cannot edit, so the correction goes out as a
/// marked new line, and the user's clients get its reflection as a correction of the
/// original; the stanza-id of a message is the network's id for it; a correction naming an
/// unknown message is refused with item-not-found.
#[tokio::test]
async fn room_corrections_are_degraded_readably_and_checked() {
    const CORRECT: &str = "urn:xmpp:message-correct:0";
    let mut h = anna_and_ben_in_lobby().await;
    let to = message_to;
    h.send("<message xmlns='jabber:client' type='groupchat' id='m1' from='a@localhost/one' to='#lobby@test.localhost'><body>helo</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/></message>")
        .await;
    let mut original = None;
    for _ in 0..4 {
        let e = h.recv().await;
        if to("a@localhost/one", "helo")(&e) {
            original = Some(e);
            break;
        }
    }
    let original = original.expect("anna's reflection");
    let sid = stanza_id(&original);
    assert!(
        sid.as_deref().is_some_and(|s| s.starts_with("test-")),
        "the network's id: {sid:?}"
    );

    h.send("<message xmlns='jabber:client' type='groupchat' id='m2' from='a@localhost/one' to='#lobby@test.localhost'><body>hello</body><replace xmlns='urn:xmpp:message-correct:0' id='m1'/><origin-id xmlns='urn:xmpp:sid:0' id='o2'/></message>")
        .await;
    h.expect_all(
        "anna's clients get a correction of m1; ben (like IRC users) a marked line",
        &[
            &|e| {
                to("a@localhost/one", "hello")(e)
                    && e.get_child("replace", CORRECT).and_then(|r| r.attr("id")) == Some("m1")
            },
            &to("b@localhost/x", "(correction) hello"),
        ],
    )
    .await;
    // Unknown target: refused, not sent.
    h.send("<message xmlns='jabber:client' type='groupchat' id='m3' from='a@localhost/one' to='#lobby@test.localhost'><body>nope</body><replace xmlns='urn:xmpp:message-correct:0' id='never-sent'/></message>")
        .await;
    let err = h
        .expect("item-not-found", |e| {
            e.attr("type") == Some("error") && e.attr("id") == Some("m3")
        })
        .await;
    assert_eq!(error_condition(&err).as_deref(), Some("item-not-found"));
    // Ben cannot correct anna's message: her ids are not his.
    assert_eq!(
        h.refusal_of("<message xmlns='jabber:client' type='groupchat' id='b1' from='b@localhost/x' to='#lobby@test.localhost'><body>hijack</body><replace xmlns='urn:xmpp:message-correct:0' id='m1'/></message>", "b1").await.as_deref(),
        Some("item-not-found")
    );
}

/// Reactions, retractions and replies in a room, on a network with none of them (the test
/// network, like IRC): reactions and replies go out as readable lines and come back to the
/// user's clients as what they are; a retraction is refused with the reason; targets are
/// checked (unknown: item-not-found; someone else's message: forbidden).
#[tokio::test]
async fn room_verbs_are_degraded_readably_and_checked() {
    const REACTIONS: &str = "urn:xmpp:reactions:0";
    let mut h = anna_and_ben_in_lobby().await;
    let body_to = message_to;
    h.send("<message xmlns='jabber:client' type='groupchat' id='m1' from='a@localhost/one' to='#lobby@test.localhost'><body>lunch?</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/></message>")
        .await;
    let at_ben = h
        .expect("anna's message at ben", body_to("b@localhost/x", "lunch?"))
        .await;
    let sid = stanza_id(&at_ben).expect("a stanza-id");

    // Ben reacts at once (by the stanza-id, as XEP-0444 says for rooms).
    h.send(&format!("<message xmlns='jabber:client' type='groupchat' id='r1' from='b@localhost/x' to='#lobby@test.localhost'><reactions xmlns='urn:xmpp:reactions:0' id='{sid}'><reaction>👍</reaction></reactions></message>"))
        .await;
    h.expect_all(
        "anna (like IRC users) sees an action; ben's clients see his reaction",
        &[
            &body_to("a@localhost/one", "/me reacted 👍 to anna's message"),
            &|e: &Element| {
                e.attr("to") == Some("b@localhost/x")
                    && e.get_child("body", "jabber:client").is_none()
                    && e.get_child("reactions", REACTIONS).is_some_and(|r| {
                        r.attr("id") == Some(sid.as_str())
                            && r.children().map(|c| c.text()).collect::<Vec<_>>() == ["👍"]
                    })
            },
        ],
    )
    .await;
    // Adding a reaction sends only the new one; taking all back is refused with the reason.
    h.send(&format!("<message xmlns='jabber:client' type='groupchat' id='r2' from='b@localhost/x' to='#lobby@test.localhost'><reactions xmlns='urn:xmpp:reactions:0' id='{sid}'><reaction>👍</reaction><reaction>🍕</reaction></reactions></message>"))
        .await;
    h.expect(
        "only the new reaction",
        body_to("a@localhost/one", "/me reacted 🍕 to anna's message"),
    )
    .await;
    h.send(&format!("<message xmlns='jabber:client' type='groupchat' id='r3' from='b@localhost/x' to='#lobby@test.localhost'><reactions xmlns='urn:xmpp:reactions:0' id='{sid}'/></message>"))
        .await;
    let err = h
        .expect("refused", |e| {
            e.attr("type") == Some("error") && e.attr("id") == Some("r3")
        })
        .await;
    assert_eq!(
        error_condition(&err).as_deref(),
        Some("feature-not-implemented")
    );
    // Unknown targets, and too many reactions.
    assert_eq!(
        h.refusal_of("<message xmlns='jabber:client' type='groupchat' id='r4' from='b@localhost/x' to='#lobby@test.localhost'><reactions xmlns='urn:xmpp:reactions:0' id='nope'><reaction>👍</reaction></reactions></message>", "r4").await.as_deref(),
        Some("item-not-found")
    );
    let many: String = (0..17)
        .map(|i| format!("<reaction>{i}</reaction>"))
        .collect();
    assert_eq!(
        h.refusal_of(&format!("<message xmlns='jabber:client' type='groupchat' id='r5' from='b@localhost/x' to='#lobby@test.localhost'><reactions xmlns='urn:xmpp:reactions:0' id='{sid}'>{many}</reactions></message>"), "r5").await.as_deref(),
        Some("policy-violation")
    );

    // Ben may not correct or retract anna's message: forbidden, now that he knows it.
    assert_eq!(
        h.refusal_of(&format!("<message xmlns='jabber:client' type='groupchat' id='b1' from='b@localhost/x' to='#lobby@test.localhost'><body>hijack</body><replace xmlns='urn:xmpp:message-correct:0' id='{sid}'/></message>"), "b1").await.as_deref(),
        Some("forbidden")
    );
    assert_eq!(
        h.refusal_of(&format!("<message xmlns='jabber:client' type='groupchat' id='b2' from='b@localhost/x' to='#lobby@test.localhost'><retract xmlns='urn:xmpp:message-retract:1' id='{sid}'/><body>retracted</body></message>"), "b2").await.as_deref(),
        Some("forbidden")
    );
    // Anna retracting her own: the network cannot, and she is told it stays.
    h.send("<message xmlns='jabber:client' type='groupchat' id='a2' from='a@localhost/one' to='#lobby@test.localhost'><retract xmlns='urn:xmpp:message-retract:1' id='o1'/><body>retracted</body></message>")
        .await;
    let err = h
        .expect("refused", |e| {
            e.attr("type") == Some("error") && e.attr("id") == Some("a2")
        })
        .await;
    assert_eq!(
        error_condition(&err).as_deref(),
        Some("feature-not-implemented")
    );

    // Ben replies with a quote: the room reads "anna: yes!", without the quote.
    let quote = "> anna:\n> lunch?\n";
    let end = quote.chars().count();
    h.send(&format!("<message xmlns='jabber:client' type='groupchat' id='p1' from='b@localhost/x' to='#lobby@test.localhost'><body>{quote}yes!</body><reply xmlns='urn:xmpp:reply:0' to='#lobby@test.localhost/anna' id='{sid}'/><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='{end}'/></fallback></message>"))
        .await;
    h.expect(
        "the reply, addressed",
        body_to("a@localhost/one", "anna: yes!"),
    )
    .await;
}

/// The same verbs in a direct chat: messages from contacts carry an id (and origin-id)
/// clients can name; the user's own messages are known by the ids their client gave.
#[tokio::test]
async fn direct_chat_verbs_find_their_targets() {
    let mut h = Harness::start(enabled()).await;
    h.register("alice@localhost", "alice", "pw").await;
    h.come_online("alice@localhost/res").await;
    let from_echo = |body: &'static str| {
        move |e: &Element| {
            e.name() == "message"
                && e.attr("from") == Some("echo@test.localhost")
                && e.get_child("body", "jabber:client")
                    .map(|b| b.text())
                    .as_deref()
                    == Some(body)
        }
    };
    h.send("<message xmlns='jabber:client' type='chat' id='m1' from='alice@localhost/res' to='echo@test.localhost'><body>/me waves</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/></message>")
        .await;
    // The action crossed as an action (the echo keeps its kind).
    let echo = h.expect("echo", from_echo("/me echo: waves")).await;
    let id = echo.attr("id").expect("an id").to_owned();
    let origin = echo
        .get_child("origin-id", "urn:xmpp:sid:0")
        .and_then(|o| o.attr("id"));
    assert_eq!(origin, Some(id.as_str()));
    // A correction of her own message, by its origin-id.
    h.send("<message xmlns='jabber:client' type='chat' id='m2' from='alice@localhost/res' to='echo@test.localhost'><body>waves twice</body><replace xmlns='urn:xmpp:message-correct:0' id='o1'/></message>")
        .await;
    h.expect(
        "the marked correction",
        from_echo("echo: (correction) waves twice"),
    )
    .await;
    // A reaction to the echo's message, by the id it came with.
    h.send(&format!("<message xmlns='jabber:client' type='chat' id='m3' from='alice@localhost/res' to='echo@test.localhost'><reactions xmlns='urn:xmpp:reactions:0' id='{id}'><reaction>👍</reaction></reactions></message>"))
        .await;
    h.expect(
        "the reaction as an action",
        from_echo("/me echo: reacted 👍 to echo's message"),
    )
    .await;
    // The echo's message is not hers to retract.
    assert_eq!(
        h.refusal_of(&format!("<message xmlns='jabber:client' type='chat' id='m4' from='alice@localhost/res' to='echo@test.localhost'><retract xmlns='urn:xmpp:message-retract:1' id='{id}'/></message>"), "m4").await.as_deref(),
        Some("forbidden")
    );
}
