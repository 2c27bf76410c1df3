//! Always online: a user who chose it stays connected, and in their rooms, while none of
//! their clients is online; they read what was said meanwhile when they come back.

use super::*;

const ROOM: &str = "#lobby@test.localhost";

fn unavailable(from: &str, to: &str) -> String {
    format!("<presence xmlns='jabber:client' type='unavailable' from='{from}' to='{to}'/>")
}

#[tokio::test]
async fn always_online_keeps_the_session_in_its_rooms_while_away() {
    let mut h = Harness::start(enabled()).await;
    h.login("a@localhost", "anna").await;
    let form = h.execute("a@localhost/res", "always-online").await;
    assert_eq!(form_values(&form, "always_online"), ["0"]);
    let done = h
        .submit("a@localhost/res", &form, &[("always_online", "1")])
        .await;
    assert!(
        note_of(&done).contains("You stay online while away"),
        "{}",
        note_of(&done)
    );
    h.join_room("a@localhost/res", &format!("{ROOM}/anna"))
        .await;
    h.join_room("b@localhost/x", &format!("{ROOM}/ben")).await;
    // Anna's client goes offline: her server tells the transport, then the room.
    h.send(&unavailable("a@localhost/res", "test.localhost"))
        .await;
    h.send(&unavailable("a@localhost/res", &format!("{ROOM}/anna")))
        .await;
    h.send(&format!("<message xmlns='jabber:client' type='groupchat' id='g1' from='b@localhost/x' to='{ROOM}'><body>while you were away</body></message>"))
        .await;
    for _ in 0..10 {
        let e = h.recv().await;
        assert!(
            !(e.attr("to") == Some("b@localhost/x")
                && is_from(&e, &format!("{ROOM}/anna"))
                && e.attr("type") == Some("unavailable")),
            "ben saw anna leave: {}",
            String::from(&e)
        );
        if e.attr("to") == Some("b@localhost/x")
            && body(&e).as_deref() == Some("while you were away")
        {
            break;
        }
    }
    // The operator sees her session online with no client, still in the room.
    let mut seen = None;
    for _ in 0..50 {
        let sessions = h.control.sessions().await.expect("sessions");
        let anna = sessions
            .into_iter()
            .find(|s| s.user == bare("a@localhost"))
            .expect("anna's session is still there");
        if anna.resources.is_empty() {
            seen = Some(anna);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let anna = seen.expect("anna's client gone");
    assert_eq!(anna.state, SessionState::Online);
    assert_eq!(anna.rooms, vec!["#lobby".to_owned()]);
    // She comes back and rejoins: the room's history has what she missed.
    h.come_online("a@localhost/phone").await;
    h.send(&format!("<presence xmlns='jabber:client' from='a@localhost/phone' to='{ROOM}/anna'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='5'/></x></presence>"))
        .await;
    let missed = h
        .expect("history", |e| {
            e.attr("to") == Some("a@localhost/phone")
                && body(e).as_deref() == Some("while you were away")
        })
        .await;
    assert!(missed.get_child("delay", "urn:xmpp:delay").is_some());
    // Turned off while her client is online: nothing changes until she leaves.
    let form = h.execute("a@localhost/phone", "always-online").await;
    assert_eq!(form_values(&form, "always_online"), ["1"]);
    h.submit("a@localhost/phone", &form, &[("always_online", "0")])
        .await;
    h.send(&unavailable("a@localhost/phone", "test.localhost"))
        .await;
    h.expect("logged out", |e| {
        e.name() == "presence"
            && is_from(e, "test.localhost")
            && e.attr("type") == Some("unavailable")
    })
    .await;
}

#[tokio::test]
async fn always_online_is_bounded_by_the_operator() {
    let policy = TransportPolicy {
        always_online_limit: 0,
        ..enabled()
    };
    let mut h = Harness::start(policy).await;
    h.login("a@localhost", "anna").await;
    let form = h.execute("a@localhost/res", "always-online").await;
    let refused = h
        .submit("a@localhost/res", &form, &[("always_online", "1")])
        .await;
    assert_eq!(error_condition(&refused).as_deref(), Some("not-allowed"));
    // Unregistered: told to register.
    let form = h.execute("z@localhost/res", "always-online").await;
    assert_eq!(
        error_condition(&form).as_deref(),
        Some("registration-required")
    );
}

#[tokio::test]
async fn with_no_place_left_the_user_is_logged_out_and_told() {
    let policy = TransportPolicy {
        always_online_limit: 1,
        always_online_default: true,
        ..enabled()
    };
    let mut h = Harness::start(policy).await;
    h.login("a@localhost", "anna").await;
    h.login("b@localhost", "ben").await;
    h.send(&unavailable("a@localhost/res", "test.localhost"))
        .await;
    h.send(&unavailable("b@localhost/res", "test.localhost"))
        .await;
    h.expect("ben told", |e| {
        e.attr("to") == Some("b@localhost")
            && body(e).is_some_and(|b| b.contains("keeps no more users online"))
    })
    .await;
    for _ in 0..50 {
        let sessions = h.control.sessions().await.expect("sessions");
        if sessions.len() == 1 {
            assert_eq!(sessions[0].user, bare("a@localhost"));
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("ben's session did not end");
}

#[tokio::test]
async fn direct_messages_can_wait_at_the_gateway_until_a_client_is_back() {
    let mut h = Harness::start(enabled()).await;
    h.login("a@localhost", "anna").await;
    h.login("b@localhost", "ben").await;
    let form = h.execute("a@localhost/res", "always-online").await;
    assert_eq!(form_values(&form, "away_messages"), ["send"]);
    h.submit(
        "a@localhost/res",
        &form,
        &[("always_online", "1"), ("away_messages", "keep")],
    )
    .await;
    let form = h.execute("a@localhost/res", "always-online").await;
    assert_eq!(form_values(&form, "away_messages"), ["keep"]);
    h.send(&unavailable("a@localhost/res", "test.localhost"))
        .await;
    for _ in 0..50 {
        let sessions = h.control.sessions().await.expect("sessions");
        if sessions
            .iter()
            .any(|s| s.user == bare("a@localhost") && s.resources.is_empty())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Ben writes to anna on the network: nothing goes to her server while she is away.
    h.send("<message xmlns='jabber:client' type='chat' from='b@localhost/res' to='anna@test.localhost'><body>kept for you</body></message>")
        .await;
    let quiet = tokio::time::timeout(Duration::from_millis(500), async {
        loop {
            let e = h.recv().await;
            if e.attr("to").is_some_and(|t| t.starts_with("a@localhost")) && body(&e).is_some() {
                return e;
            }
        }
    })
    .await;
    assert!(
        quiet.is_err(),
        "sent to anna's server while she is away: {quiet:?}"
    );
    // Her client is back: the message comes, with the time it came.
    h.send("<presence xmlns='jabber:client' from='a@localhost/phone' to='test.localhost'/>")
        .await;
    let kept = h
        .expect("the kept message", |e| {
            body(e).as_deref() == Some("kept for you")
                && e.attr("to").is_some_and(|t| t.starts_with("a@localhost"))
        })
        .await;
    let delay = kept.get_child("delay", "urn:xmpp:delay").expect("a delay");
    assert_eq!(delay.attr("from"), Some("test.localhost"));
    assert_eq!(kept.attr("from"), Some("ben@test.localhost"));
}
