//! The operator's handle: sessions, disconnect, announce, reload, counters, option changes.

use super::*;

// ---------------------------------------------------------------------------------------
// The operator's handle: sessions, disconnect, announce, reload, counters.

#[tokio::test]
async fn control_lists_disconnects_announces_and_reloads() {
    let mut h = Harness::start(enabled()).await;
    h.login("alice@localhost", "alice").await;
    h.send("<presence xmlns='jabber:client' from='alice@localhost/res' to='#lobby@test.localhost/alice'/>")
        .await;
    h.expect("joined", |e| statuses(e).contains(&"110".to_owned()))
        .await;
    // The join is over for the client with the subject (after the room's history).
    h.expect("subject", |e| {
        e.name() == "message" && e.get_child("subject", "jabber:client").is_some()
    })
    .await;

    let sessions = h.control.sessions().await.expect("sessions");
    assert_eq!(sessions.len(), 1);
    let s = &sessions[0];
    assert_eq!(s.user, bare("alice@localhost"));
    assert_eq!(s.legacy_id, "alice");
    assert_eq!(s.last_error, None);
    assert_eq!(s.state, SessionState::Online);
    assert_eq!(s.resources, vec!["alice@localhost/res".to_owned()]);
    assert_eq!(s.rooms, vec!["#lobby".to_owned()]);
    assert!(s.since > 1_600_000_000);

    assert_eq!(h.control.announce("maintenance at noon").await, Ok(1));
    let m = h
        .expect("announcement", |e| {
            e.name() == "message" && is_from(e, "test.localhost")
        })
        .await;
    assert_eq!(m.attr("to"), Some("alice@localhost"));
    assert_eq!(m.attr("type"), Some("chat"));
    assert_eq!(body(&m).as_deref(), Some("maintenance at noon"));

    assert_eq!(
        h.control.disconnect(&bare("nobody@localhost"), "x").await,
        Ok(false)
    );
    assert_eq!(
        h.control
            .disconnect(&bare("alice@localhost"), "Kicked by the operator")
            .await,
        Ok(true)
    );
    let gone = h
        .expect("unavailable", |e| {
            is_from(e, "test.localhost") && e.attr("type") == Some("unavailable")
        })
        .await;
    assert_eq!(
        gone.get_child("status", "jabber:client").map(|s| s.text()),
        Some("Kicked by the operator".to_owned())
    );
    for _ in 0..50 {
        if h.control.sessions().await.expect("sessions").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(h.control.sessions().await.expect("sessions").is_empty());

    // Reload applies the store's policy before it answers.
    h.login("bob@localhost", "bob").await;
    h.store
        .put_transport_policy("test", &TransportPolicy::default())
        .await
        .expect("policy");
    h.control.reload().await.expect("reload");
    let sessions = h.control.sessions().await.expect("sessions");
    assert!(
        sessions.iter().all(|s| s.state == SessionState::Ending),
        "{sessions:?}"
    );
    h.expect("bob logged out", |e| {
        is_from(e, "test.localhost") && e.attr("type") == Some("unavailable")
    })
    .await;
}

#[tokio::test]
async fn counters_follow_messages_errors_logins_and_the_link() {
    let mut h = Harness::start(enabled()).await;
    h.to_service.send(LinkEvent::Up).await.expect("alive");
    h.login("carl@localhost", "carl").await;
    h.send("<message xmlns='jabber:client' type='chat' id='m1' from='carl@localhost/res' to='echo@test.localhost'><body>hi</body></message>")
        .await;
    h.expect("echo", |e| {
        is_from(e, "echo@test.localhost") && e.name() == "message"
    })
    .await;
    let stats = h.control.stats();
    assert_eq!(stats.messages_to_legacy, 1);
    assert_eq!(stats.messages_to_xmpp, 1);
    assert!(stats.link_up);
    assert_eq!(stats.link_reconnects, 0);
    h.until("one session online", |c| c.stats().sessions == [0, 1, 0, 0])
        .await;

    // A room message counts both ways (sent, and reflected back).
    h.send(
        "<presence xmlns='jabber:client' from='carl@localhost/res' to='#r@test.localhost/carl'/>",
    )
    .await;
    h.expect("joined", |e| statuses(e).contains(&"110".to_owned()))
        .await;
    h.send("<message xmlns='jabber:client' type='groupchat' from='carl@localhost/res' to='#r@test.localhost'><body>yo</body></message>")
        .await;
    h.expect("reflection", |e| {
        e.name() == "message" && body(e).as_deref() == Some("yo")
    })
    .await;
    let stats = h.control.stats();
    assert_eq!((stats.messages_to_legacy, stats.messages_to_xmpp), (2, 2));
    // Every counted message has its latency, both ways, and in the test network it is
    // well under the last bound.
    for latency in [stats.latency_to_legacy, stats.latency_to_xmpp] {
        assert_eq!(latency.count(), 2);
        let (_, within) = latency.cumulative().last().expect("buckets");
        assert_eq!(within, 2);
        assert!(latency.sum_seconds() > 0.0 && latency.sum_seconds() < 10.0);
    }

    assert_eq!(stats.errors, 0);
    h.send("<message xmlns='jabber:client' type='chat' from='z@localhost/r' to='echo@test.localhost'><body>x</body></message>")
        .await;
    h.expect("refusal", |e| e.attr("type") == Some("error"))
        .await;
    assert_eq!(h.control.stats().errors, 1);

    h.register("w@localhost", "wendy", "wrong").await;
    h.send("<presence xmlns='jabber:client' from='w@localhost/res' to='test.localhost'/>")
        .await;
    h.expect("error presence", |e| {
        e.name() == "presence" && e.attr("type") == Some("error")
    })
    .await;
    let stats = h.control.stats();
    assert_eq!(stats.login_failures, 1);
    assert_eq!(stats.errors, 2, "the error presence counts too");

    h.to_service
        .send(LinkEvent::Down {
            reason: "test".into(),
        })
        .await
        .expect("alive");
    h.until("link down", |c| !c.stats().link_up).await;
    h.to_service.send(LinkEvent::Up).await.expect("alive");
    h.until("link up again", |c| c.stats().link_up).await;
    assert_eq!(h.control.stats().link_reconnects, 1);
    assert_eq!(h.control.stats().link_queue_depth, 0);
}

#[tokio::test]
async fn legacy_reconnect_keeps_the_session_and_is_counted() {
    let mut h = Harness::start(enabled()).await;
    h.login("dora@localhost", "dora").await;
    h.send("<message xmlns='jabber:client' type='chat' from='dora@localhost/res' to='test.localhost'><body>reconnect</body></message>")
        .await;
    h.expect("the transport's notice", |e| {
        body(e).is_some_and(|b| b.contains("reconnecting"))
    })
    .await;
    let s = h.control.sessions().await.expect("sessions");
    assert_eq!(s[0].state, SessionState::Reconnecting);
    // Counted once the connection is back, not when it drops.
    assert_eq!(h.control.stats().legacy_reconnects, 0);
    h.expect("back", |e| body(e).as_deref() == Some("Reconnected."))
        .await;
    let s = h.control.sessions().await.expect("sessions");
    assert_eq!(s[0].state, SessionState::Online);
    assert_eq!(h.control.stats().legacy_reconnects, 1);
    // Nothing else for the user: no presence change from the transport.
    let quiet = tokio::time::timeout(Duration::from_millis(300), h.from_service.recv()).await;
    assert!(quiet.is_err(), "unexpected stanza: {quiet:?}");
    // And the session still works.
    h.send("<message xmlns='jabber:client' type='chat' from='dora@localhost/res' to='echo@test.localhost'><body>still</body></message>")
        .await;
    h.expect("echo", |e| body(e).as_deref() == Some("echo: still"))
        .await;
}

#[tokio::test]
async fn option_changes_rebuild_the_transport_and_log_users_in_again() {
    let built = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = built.clone();
    let rebuild: RebuildTransport = Arc::new(move |options| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if options.contains_key("bad") {
            return Err("option bad is not valid".to_owned());
        }
        Ok(Arc::new(TestTransport::default()) as Arc<dyn pontoon_core::Transport>)
    });
    let mut h = Harness::start_with(Options {
        rebuild: Some(rebuild),
        ..Options::new(enabled())
    })
    .await;
    h.login("eve@localhost", "eve").await;
    let mut policy = enabled();
    policy.options.insert("speed".into(), "fast".into());
    h.store
        .put_transport_policy("test", &policy)
        .await
        .expect("policy");
    h.control.reload().await.expect("reload");
    assert_eq!(built.load(std::sync::atomic::Ordering::SeqCst), 1);
    h.expect("logged out", |e| {
        is_from(e, "test.localhost") && e.attr("type") == Some("unavailable")
    })
    .await;
    h.expect("probe to log in again", |e| e.attr("type") == Some("probe"))
        .await;
    h.send("<presence xmlns='jabber:client' from='eve@localhost/res' to='test.localhost'/>")
        .await;
    h.expect("online through the new transport", |e| {
        is_from(e, "test.localhost") && e.attr("type").is_none()
    })
    .await;
    h.expect("echo's presence", |e| is_from(e, "echo@test.localhost"))
        .await;

    // Invalid options keep the running transport and its sessions.
    policy.options.insert("bad".into(), "1".into());
    h.store
        .put_transport_policy("test", &policy)
        .await
        .expect("policy");
    h.control.reload().await.expect("reload");
    assert_eq!(built.load(std::sync::atomic::Ordering::SeqCst), 2);
    let quiet = tokio::time::timeout(Duration::from_millis(700), h.from_service.recv()).await;
    assert!(quiet.is_err(), "unexpected stanza: {quiet:?}");
    let s = h.control.sessions().await.expect("sessions");
    assert_eq!(s[0].state, SessionState::Online);
    // Tried once, not at every tick.
    assert_eq!(built.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test]
async fn options_changed_and_disabled_at_once_probe_nobody() {
    let rebuild: RebuildTransport =
        Arc::new(|_| Ok(Arc::new(TestTransport::default()) as Arc<dyn pontoon_core::Transport>));
    let mut h = Harness::start_with(Options {
        rebuild: Some(rebuild),
        ..Options::new(enabled())
    })
    .await;
    h.login("gus@localhost", "gus").await;
    // New options and disabled, seen in one reconcile: the options would log gus in again,
    // the disable must win.
    let mut policy = enabled();
    policy.enabled = false;
    policy.options.insert("speed".into(), "fast".into());
    h.store
        .put_transport_policy("test", &policy)
        .await
        .expect("policy");
    h.control.reload().await.expect("reload");
    h.expect("logged out", |e| {
        is_from(e, "test.localhost") && e.attr("type") == Some("unavailable")
    })
    .await;
    h.until("session gone", |c| {
        c.stats().sessions.iter().sum::<u64>() == 0
    })
    .await;
    // No probe to the user of a disabled transport, now or at a later tick.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1200);
    while let Ok(Some(e)) = tokio::time::timeout_at(deadline, h.from_service.recv()).await {
        let e = e.into_element();
        assert_ne!(
            e.attr("type"),
            Some("probe"),
            "probe to a disabled transport's user: {}",
            String::from(&e)
        );
    }
}
