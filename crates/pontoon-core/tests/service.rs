//! The service driven in memory: stanzas in as the component link would deliver them,
//! stanzas out as it would send them, with the in-memory test transport and a real SQLite
//! store. The end-to-end suite repeats this through a real Prosody.

use std::sync::Arc;
use std::time::Duration;

use minidom::Element;
use pontoon_core::{RebuildTransport, SessionState};
use pontoon_store::{Store, StoreKey, TransportPolicy};
use pontoon_testkit::TestTransport;
use pontoon_testkit::harness::*;
use pontoon_xmpp::component::LinkEvent;

#[tokio::test]
async fn register_login_echo_logout() {
    let mut h = Harness::start(enabled()).await;
    let reply = h.register("alice@localhost", "alice", "pw").await;
    assert_eq!(reply.attr("type"), Some("result"));
    let sub = h.recv().await;
    assert_eq!(sub.name(), "presence");
    assert_eq!(sub.attr("type"), Some("subscribe"));

    h.send("<presence xmlns='jabber:client' from='alice@localhost/res' to='test.localhost'/>")
        .await;
    let online = h
        .expect("available presence from the transport", |e| {
            e.name() == "presence"
                && e.attr("from") == Some("test.localhost")
                && e.attr("type").is_none()
        })
        .await;
    assert!(
        online
            .get_child("c", "http://jabber.org/protocol/caps")
            .is_some()
    );

    h.send("<message xmlns='jabber:client' type='chat' id='m1' from='alice@localhost/res' to='echo@test.localhost'><body>hi</body></message>")
        .await;
    let echo = h
        .expect("echo", |e| {
            e.name() == "message" && e.attr("from") == Some("echo@test.localhost")
        })
        .await;
    assert_eq!(
        echo.get_child("body", "jabber:client").map(|b| b.text()),
        Some("echo: hi".into())
    );

    h.send("<presence xmlns='jabber:client' type='unavailable' from='alice@localhost/res' to='test.localhost'/>")
        .await;
    h.expect("unavailable from the transport", |e| {
        e.name() == "presence"
            && e.attr("from") == Some("test.localhost")
            && e.attr("type") == Some("unavailable")
    })
    .await;
}

#[tokio::test]
async fn wrong_password_gives_error_presence_and_text() {
    let mut h = Harness::start(enabled()).await;
    h.register("bob@localhost", "bob", "wrong").await;
    h.send("<presence xmlns='jabber:client' from='bob@localhost/res' to='test.localhost'/>")
        .await;
    let msg = h
        .expect("notice", |e| {
            e.name() == "message" && e.attr("from") == Some("test.localhost")
        })
        .await;
    assert!(
        msg.get_child("body", "jabber:client")
            .is_some_and(|b| b.text().contains("invalid password"))
    );
    let p = h
        .expect("error presence", |e| {
            e.name() == "presence" && e.attr("type") == Some("error")
        })
        .await;
    assert_eq!(error_condition(&p).as_deref(), Some("not-authorized"));
}

#[tokio::test]
async fn legacy_id_cannot_be_claimed_twice_and_remove_works() {
    let mut h = Harness::start(enabled()).await;
    assert_eq!(
        h.register("a@localhost", "carol", "pw").await.attr("type"),
        Some("result")
    );
    let second = h.register("b@localhost", "carol", "pw").await;
    assert_eq!(second.attr("type"), Some("error"));
    assert_eq!(error_condition(&second).as_deref(), Some("conflict"));
    h.send("<iq xmlns='jabber:client' type='set' id='x' from='a@localhost/r' to='test.localhost'><query xmlns='jabber:iq:register'><remove/></query></iq>")
        .await;
    let r = h.expect("remove result", |e| e.name() == "iq").await;
    assert_eq!(r.attr("type"), Some("result"));
    assert!(
        h.store
            .registration("a@localhost", "test")
            .await
            .expect("store")
            .is_none()
    );
}

#[tokio::test]
async fn refusals_are_never_silent() {
    let mut h = Harness::start(TransportPolicy::default()).await;
    h.send("<iq xmlns='jabber:client' type='get' id='d' from='a@localhost/r' to='test.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        .await;
    let r = h.recv().await;
    assert_eq!(error_condition(&r).as_deref(), Some("service-unavailable"));

    h.store
        .put_transport_policy("test", &enabled())
        .await
        .expect("policy");
    h.send("<iq xmlns='jabber:client' type='get' id='u' from='a@localhost/r' to='test.localhost'><query xmlns='urn:example:unknown'/></iq>")
        .await;
    assert_eq!(
        error_condition(&h.recv().await).as_deref(),
        Some("service-unavailable")
    );
    h.send("<message xmlns='jabber:client' type='chat' from='a@localhost/r' to='a\\20b@test.localhost'><body>x</body></message>")
        .await;
    assert_eq!(
        error_condition(&h.recv().await).as_deref(),
        Some("jid-malformed")
    );
    h.send("<message xmlns='jabber:client' type='chat' from='a@localhost/r' to='echo@test.localhost'><body>x</body></message>")
        .await;
    assert_eq!(
        error_condition(&h.recv().await).as_deref(),
        Some("registration-required")
    );
    h.send("<message xmlns='jabber:client' type='chat' from='a@localhost/r' to='test.localhost'><body>hello?</body></message>")
        .await;
    let help = h.recv().await;
    assert!(
        help.get_child("body", "jabber:client")
            .is_some_and(|b| b.text().contains("Commands"))
    );

    let mut manual = enabled();
    manual.manual_registration_only = true;
    h.store
        .put_transport_policy("test", &manual)
        .await
        .expect("policy");
    let r = h.register("z@localhost", "zed", "pw").await;
    assert_eq!(error_condition(&r).as_deref(), Some("not-allowed"));
}

#[tokio::test]
async fn shutdown_logs_users_out() {
    let mut h = Harness::start(enabled()).await;
    h.register("d@localhost", "dave", "pw").await;
    h.send("<presence xmlns='jabber:client' from='d@localhost/res' to='test.localhost'/>")
        .await;
    h.expect("online", |e| {
        e.name() == "presence"
            && e.attr("from") == Some("test.localhost")
            && e.attr("type").is_none()
    })
    .await;
    h.shutdown.cancel();
    h.expect("unavailable at shutdown", |e| {
        e.name() == "presence" && e.attr("type") == Some("unavailable")
    })
    .await;
    tokio::time::timeout(Duration::from_secs(6), h.task)
        .await
        .expect("service ends")
        .expect("no panic");
}

#[tokio::test]
async fn link_up_probes_registered_users() {
    let mut h = Harness::start(enabled()).await;
    h.register("e@localhost", "erin", "pw").await;
    h.recv().await; // subscribe
    h.to_service.send(LinkEvent::Up).await.expect("alive");
    let probe = h.recv().await;
    assert_eq!(probe.attr("type"), Some("probe"));
    assert_eq!(probe.attr("to"), Some("e@localhost"));
}

#[tokio::test]
async fn rooms_join_talk_rename_leave() {
    let mut h = Harness::start(enabled()).await;
    // Unregistered users join rooms directly (the test network allows it, like biboumi).
    h.send("<presence xmlns='jabber:client' from='a@localhost/one' to='#lobby@test.localhost/anna'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
        .await;
    let own = h
        .expect("self presence", |e| {
            is_from(e, "#lobby@test.localhost/anna") && e.name() == "presence"
        })
        .await;
    assert!(statuses(&own).contains(&"110".to_owned()));
    h.expect("subject", |e| {
        e.name() == "message" && e.get_child("subject", "jabber:client").is_some()
    })
    .await;

    h.send("<presence xmlns='jabber:client' from='b@localhost/x' to='#lobby@test.localhost/ben'/>")
        .await;
    h.expect_all(
        "anna sees ben; ben's self presence",
        &[
            &|e| e.attr("to") == Some("a@localhost/one") && is_from(e, "#lobby@test.localhost/ben"),
            &|e| e.attr("to") == Some("b@localhost/x") && statuses(e).contains(&"110".to_owned()),
        ],
    )
    .await;

    // A second client of anna's joins without a second legacy join and sees the room.
    h.send(
        "<presence xmlns='jabber:client' from='a@localhost/two' to='#lobby@test.localhost/anna'/>",
    )
    .await;
    h.expect("second resource gets ben", |e| {
        e.attr("to") == Some("a@localhost/two") && is_from(e, "#lobby@test.localhost/ben")
    })
    .await;

    h.send("<message xmlns='jabber:client' type='groupchat' id='g1' from='a@localhost/one' to='#lobby@test.localhost'><body>hello room</body></message>")
        .await;
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..12 {
        let e = h.recv().await;
        if e.name() == "message" && is_from(&e, "#lobby@test.localhost/anna") {
            assert_eq!(
                e.get_child("body", "jabber:client")
                    .map(|b| b.text())
                    .as_deref(),
                Some("hello room")
            );
            if e.attr("to") != Some("b@localhost/x") {
                assert_eq!(e.attr("id"), Some("g1"), "reflection keeps the id");
            }
            seen.insert(e.attr("to").unwrap_or_default().to_owned());
        }
        if seen.len() == 3 {
            break;
        }
    }
    assert_eq!(
        seen.len(),
        3,
        "both of anna's clients and ben get the message: {seen:?}"
    );

    // Nick change from a joined client.
    h.send(
        "<presence xmlns='jabber:client' from='b@localhost/x' to='#lobby@test.localhost/benny'/>",
    )
    .await;
    let renamed = h
        .expect("303 to anna", |e| {
            e.attr("to") == Some("a@localhost/one") && statuses(e).contains(&"303".to_owned())
        })
        .await;
    assert!(is_from(&renamed, "#lobby@test.localhost/ben"));

    // Leaving.
    h.send("<presence xmlns='jabber:client' type='unavailable' from='b@localhost/x' to='#lobby@test.localhost/benny'/>")
        .await;
    h.expect_all(
        "ben's own unavailable; anna sees benny leave",
        &[
            &|e| e.attr("to") == Some("b@localhost/x") && e.attr("type") == Some("unavailable"),
            &|e| {
                e.attr("to") == Some("a@localhost/one")
                    && is_from(e, "#lobby@test.localhost/benny")
                    && e.attr("type") == Some("unavailable")
            },
        ],
    )
    .await;

    // Errors: banned room, message to a room not joined.
    h.send(
        "<presence xmlns='jabber:client' from='a@localhost/one' to='#banned@test.localhost/anna'/>",
    )
    .await;
    let err = h
        .expect("banned", |e| {
            is_from(e, "#banned@test.localhost/anna") && e.attr("type") == Some("error")
        })
        .await;
    assert_eq!(error_condition(&err).as_deref(), Some("forbidden"));
    h.send("<message xmlns='jabber:client' type='groupchat' from='a@localhost/one' to='#elsewhere@test.localhost'><body>x</body></message>")
        .await;
    let err = h
        .expect("not in room", |e| {
            e.name() == "message" && e.attr("type") == Some("error")
        })
        .await;
    assert_eq!(error_condition(&err).as_deref(), Some("not-acceptable"));
    h.send("<presence xmlns='jabber:client' from='a@localhost/one' to='#lobby@test.localhost'/>")
        .await;
    let err = h
        .expect("no nick", |e| e.attr("type") == Some("error"))
        .await;
    assert_eq!(error_condition(&err).as_deref(), Some("jid-malformed"));
}

#[tokio::test]
async fn operator_delete_ends_the_session() {
    let mut h = Harness::start(enabled()).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    h.register("f@localhost", "fay", "pw").await;
    eprintln!(
        "fp after register: {:?} reg={:?}",
        h.store.registrations_fingerprint("test").await,
        h.store
            .registration("f@localhost", "test")
            .await
            .map(|r| r.is_some())
    );
    h.send("<presence xmlns='jabber:client' from='f@localhost/res' to='test.localhost'/>")
        .await;
    h.expect("online", |e| {
        e.name() == "presence"
            && e.attr("from") == Some("test.localhost")
            && e.attr("type").is_none()
    })
    .await;
    // Another process (the CLI) deletes the registration.
    let url = h.url.clone();
    let other = Store::open(
        &url,
        StoreKey::load_or_create(&h.dir.path().join("key")).expect("key"),
    )
    .await
    .expect("second store");
    assert!(
        other
            .delete_registration("f@localhost", "test")
            .await
            .expect("delete")
    );
    let gone = h
        .expect("unavailable after the operator's delete", |e| {
            e.name() == "presence" && e.attr("type") == Some("unavailable")
        })
        .await;
    assert_eq!(gone.attr("to"), Some("f@localhost/res"));
}

#[tokio::test]
async fn contacts_and_room_directory() {
    let mut h = Harness::start(enabled()).await;
    h.register("g@localhost", "gil", "pw").await;
    h.send("<presence xmlns='jabber:client' from='g@localhost/res' to='test.localhost'/>")
        .await;
    h.expect("online", |e| {
        e.name() == "presence" && is_from(e, "test.localhost") && e.attr("type").is_none()
    })
    .await;
    // A client probing a contact at login: the gateway follows it and answers.
    h.send("<presence xmlns='jabber:client' type='probe' from='g@localhost/res' to='echo@test.localhost'/>")
        .await;
    h.expect("echo online", |e| {
        e.name() == "presence" && is_from(e, "echo@test.localhost") && e.attr("type").is_none()
    })
    .await;
    h.send("<presence xmlns='jabber:client' type='probe' from='g@localhost/res' to='nobody@test.localhost'/>")
        .await;
    h.expect("nobody offline", |e| {
        is_from(e, "nobody@test.localhost") && e.attr("type") == Some("unavailable")
    })
    .await;

    // Rooms, listed and paged.
    for room in ["#a", "#b", "#c"] {
        h.send(&format!(
            "<presence xmlns='jabber:client' from='g@localhost/res' to='{room}@test.localhost/gil'/>"
        ))
        .await;
        h.expect("joined", |e| statuses(e).contains(&"110".to_owned()))
            .await;
    }
    h.send(
        "<iq xmlns='jabber:client' type='get' id='l1' from='g@localhost/res' to='test.localhost'>\
            <query xmlns='http://jabber.org/protocol/disco#items'>\
            <set xmlns='http://jabber.org/protocol/rsm'><max>2</max></set></query></iq>",
    )
    .await;
    let page = h.expect("first page", |e| e.attr("id") == Some("l1")).await;
    let q = page
        .get_child("query", "http://jabber.org/protocol/disco#items")
        .expect("items");
    let jids: Vec<_> = q
        .children()
        .filter(|c| c.name() == "item")
        .filter_map(|c| c.attr("jid").map(str::to_owned))
        .collect();
    assert_eq!(jids, vec!["#a@test.localhost", "#b@test.localhost"]);
    let set = q
        .get_child("set", "http://jabber.org/protocol/rsm")
        .expect("rsm");
    assert_eq!(
        set.get_child("count", "http://jabber.org/protocol/rsm")
            .map(|c| c.text())
            .as_deref(),
        Some("3")
    );
    h.send("<iq xmlns='jabber:client' type='get' id='l2' from='g@localhost/res' to='test.localhost'>\
            <query xmlns='http://jabber.org/protocol/disco#items'>\
            <set xmlns='http://jabber.org/protocol/rsm'><max>2</max><after>#b</after></set></query></iq>")
        .await;
    let page = h
        .expect("second page", |e| e.attr("id") == Some("l2"))
        .await;
    let n = page
        .get_child("query", "http://jabber.org/protocol/disco#items")
        .map(|q| q.children().filter(|c| c.name() == "item").count());
    assert_eq!(n, Some(1));
}

#[tokio::test]
async fn changed_registration_logs_in_again_after_the_old_session_ended() {
    let mut h = Harness::start(enabled()).await;
    h.register("k@localhost", "kim", "pw").await;
    h.send("<presence xmlns='jabber:client' from='k@localhost/res' to='test.localhost'/>")
        .await;
    h.expect("online", |e| {
        e.name() == "presence" && is_from(e, "test.localhost") && e.attr("type").is_none()
    })
    .await;
    let reply = h.register("k@localhost", "kim", "wrong").await;
    assert_eq!(reply.attr("type"), Some("result"));
    // The old session says goodbye first, then the gateway asks for the user's presence.
    h.expect("old session ends", |e| {
        is_from(e, "test.localhost") && e.attr("type") == Some("unavailable")
    })
    .await;
    h.expect("probe after the end", |e| e.attr("type") == Some("probe"))
        .await;
    // The user's answer logs in with the new (here: failing) details.
    h.send("<presence xmlns='jabber:client' from='k@localhost/res' to='test.localhost'/>")
        .await;
    let p = h
        .expect("new login fails with the new password", |e| {
            e.name() == "presence" && e.attr("type") == Some("error")
        })
        .await;
    assert_eq!(error_condition(&p).as_deref(), Some("not-authorized"));
}

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

    let sessions = h.control.sessions().await.expect("sessions");
    assert_eq!(sessions.len(), 1);
    let s = &sessions[0];
    assert_eq!(s.user, bare("alice@localhost"));
    assert_eq!(s.legacy_id.as_deref(), Some("alice"));
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
        assert_ne!(
            e.attr("type"),
            Some("probe"),
            "probe to a disabled transport's user: {}",
            String::from(&e)
        );
    }
}

// ---------------------------------------------------------------------------------------
// XEP-0050 ad-hoc commands.

const ADMIN: &str = "boss@localhost";

#[tokio::test]
async fn adhoc_commands_for_admins() {
    let admin_full = format!("{ADMIN}/console");
    let admin = admin_full.as_str();
    let mut h = Harness::start_with(Options {
        admins: vec![bare(ADMIN)],
        ..Options::new(enabled())
    })
    .await;

    // Discovery: the feature for everyone, the commands for admins only.
    let info = h
        .get(
            admin,
            "i1",
            "<query xmlns='http://jabber.org/protocol/disco#info'/>",
        )
        .await;
    let q = info
        .get_child("query", "http://jabber.org/protocol/disco#info")
        .expect("info");
    assert!(
        q.children()
            .any(|f| f.name() == "feature" && f.attr("var") == Some(NS_COMMANDS))
    );
    let items = h
        .get(
            admin,
            "i2",
            &format!(
                "<query xmlns='http://jabber.org/protocol/disco#items' node='{NS_COMMANDS}'/>"
            ),
        )
        .await;
    let nodes: Vec<String> = items
        .get_child("query", "http://jabber.org/protocol/disco#items")
        .expect("items")
        .children()
        .filter_map(|i| i.attr("node").map(str::to_owned))
        .collect();
    assert_eq!(
        nodes,
        vec![
            "list-sessions",
            "add-registration",
            "remove-registration",
            "enable-transport",
            "disable-transport",
            "announce",
            "disconnect-session"
        ]
    );
    let items = h
        .get(
            "pleb@localhost/r",
            "i3",
            &format!(
                "<query xmlns='http://jabber.org/protocol/disco#items' node='{NS_COMMANDS}'/>"
            ),
        )
        .await;
    assert_eq!(
        items
            .get_child("query", "http://jabber.org/protocol/disco#items")
            .map(|q| q.children().count()),
        Some(0)
    );

    // add-registration: a form, then completed; the user is asked for their presence.
    let stage = h.execute(admin, "add-registration").await;
    assert_eq!(command_of(&stage).attr("status"), Some("executing"));
    assert_eq!(form_vars(&stage), vec!["jid", "username", "password"]);
    let bad = h
        .submit(
            admin,
            &stage,
            &[("jid", "not a jid@@"), ("username", "x"), ("password", "p")],
        )
        .await;
    assert_eq!(error_condition(&bad).as_deref(), Some("bad-request"));
    // A domain is not a user (the console and the API refuse it too).
    let bad = h
        .submit(
            admin,
            &stage,
            &[("jid", "localhost"), ("username", "x"), ("password", "p")],
        )
        .await;
    assert_eq!(error_condition(&bad).as_deref(), Some("bad-request"));
    assert!(String::from(&bad).contains("is a domain"));
    assert!(
        h.store
            .registration("localhost", "test")
            .await
            .expect("store")
            .is_none()
    );
    let done = h
        .submit(
            admin,
            &stage,
            &[
                ("jid", "fred@localhost"),
                ("username", "fred"),
                ("password", "pw"),
            ],
        )
        .await;
    assert_eq!(done.attr("type"), Some("result"), "{}", String::from(&done));
    assert_eq!(command_of(&done).attr("status"), Some("completed"));
    assert!(note_of(&done).contains("fred@localhost"));
    let sub = h
        .expect("subscribe", |e| e.attr("type") == Some("subscribe"))
        .await;
    assert_eq!(sub.attr("to"), Some("fred@localhost"));
    let reg = h
        .store
        .registration("fred@localhost", "test")
        .await
        .expect("store")
        .expect("registered");
    assert_eq!(reg.legacy_id, "fred");
    assert_eq!(reg.secret.as_deref(), Some("pw"));
    // The session is over: its id is not valid any more.
    let again = h
        .submit(
            admin,
            &stage,
            &[
                ("jid", "fred@localhost"),
                ("username", "fred"),
                ("password", "pw"),
            ],
        )
        .await;
    assert_eq!(error_condition(&again).as_deref(), Some("not-allowed"));

    // fred logs in; list-sessions shows him.
    h.send("<presence xmlns='jabber:client' from='fred@localhost/res' to='test.localhost'/>")
        .await;
    h.expect("fred online", |e| {
        is_from(e, "test.localhost") && e.attr("type").is_none()
    })
    .await;
    let list = h.execute(admin, "list-sessions").await;
    assert_eq!(command_of(&list).attr("status"), Some("completed"));
    assert_eq!(form_values(&list, "count"), vec!["1"]);
    let lines = form_values(&list, "sessions");
    assert_eq!(lines.len(), 1);
    assert!(
        lines[0].contains("fred@localhost")
            && lines[0].contains("fred")
            && lines[0].contains("online"),
        "{lines:?}"
    );

    // announce, canceled once, then sent.
    let stage = h.execute(admin, "announce").await;
    assert_eq!(form_vars(&stage), vec!["body"]);
    let sid = command_of(&stage)
        .attr("sessionid")
        .expect("sid")
        .to_owned();
    let canceled = h
        .iq(
            admin,
            "c1",
            &format!(
                "<command xmlns='{NS_COMMANDS}' node='announce' sessionid='{sid}' action='cancel'/>"
            ),
        )
        .await;
    assert_eq!(command_of(&canceled).attr("status"), Some("canceled"));
    let stage = h.execute(admin, "announce").await;
    // As long as the console allows, no longer.
    let long = "x".repeat(pontoon_core::control::MAX_ANNOUNCEMENT + 1);
    let refused = h.submit(admin, &stage, &[("body", &long)]).await;
    assert_eq!(error_condition(&refused).as_deref(), Some("bad-request"));
    assert!(String::from(&refused).contains("longer than 4000"));
    let done = h.submit(admin, &stage, &[("body", "hello everyone")]).await;
    assert!(note_of(&done).contains('1'), "{}", note_of(&done));
    h.expect("announcement", |e| {
        e.attr("to") == Some("fred@localhost") && body(e).as_deref() == Some("hello everyone")
    })
    .await;

    // disable-transport: completes at once, fred is logged out, the store says disabled.
    let done = h.execute(admin, "disable-transport").await;
    assert_eq!(command_of(&done).attr("status"), Some("completed"));
    assert!(note_of(&done).contains("disabled"));
    h.expect("fred logged out", |e| {
        is_from(e, "test.localhost") && e.attr("type") == Some("unavailable")
    })
    .await;
    let policy = h
        .store
        .transport_policy("test")
        .await
        .expect("store")
        .expect("policy");
    assert!(!policy.enabled);
    // Others get service-unavailable; the admin can still enable it.
    let refused = h
        .get(
            "pleb@localhost/r",
            "p1",
            "<query xmlns='http://jabber.org/protocol/disco#info'/>",
        )
        .await;
    assert_eq!(
        error_condition(&refused).as_deref(),
        Some("service-unavailable")
    );
    let done = h.execute(admin, "enable-transport").await;
    assert!(note_of(&done).contains("enabled"), "{}", note_of(&done));
    assert!(
        h.store
            .transport_policy("test")
            .await
            .expect("store")
            .expect("policy")
            .enabled
    );

    // remove-registration.
    let stage = h.execute(admin, "remove-registration").await;
    let done = h.submit(admin, &stage, &[("jid", "fred@localhost")]).await;
    assert_eq!(command_of(&done).attr("status"), Some("completed"));
    assert!(
        h.store
            .registration("fred@localhost", "test")
            .await
            .expect("store")
            .is_none()
    );

    // Errors: unknown node, bad action.
    let r = h.execute(admin, "no-such-command").await;
    assert_eq!(error_condition(&r).as_deref(), Some("item-not-found"));
    let r = h
        .iq(
            admin,
            "b1",
            &format!("<command xmlns='{NS_COMMANDS}' node='announce' action='dance'/>"),
        )
        .await;
    assert_eq!(error_condition(&r).as_deref(), Some("bad-request"));
}

#[tokio::test]
async fn adhoc_commands_are_forbidden_to_others() {
    let mut h = Harness::start_with(Options {
        admins: vec![bare(ADMIN)],
        ..Options::new(enabled())
    })
    .await;
    for node in ["list-sessions", "disable-transport", "add-registration"] {
        let r = h.execute("mallory@localhost/r", node).await;
        assert_eq!(error_condition(&r).as_deref(), Some("forbidden"), "{node}");
    }
    assert!(
        h.store
            .transport_policy("test")
            .await
            .expect("store")
            .expect("policy")
            .enabled
    );
    // A resource of the admin's own bare JID cannot continue another resource's session.
    let stage = h.execute(&format!("{ADMIN}/one"), "announce").await;
    let c = command_of(&stage);
    let (node, sid) = (
        c.attr("node").expect("node"),
        c.attr("sessionid").expect("sid"),
    );
    let r = h
        .iq(
            &format!("{ADMIN}/two"),
            "t1",
            &format!(
                "<command xmlns='{NS_COMMANDS}' node='{node}' sessionid='{sid}'>{}</command>",
                submit_form(&[("body", "x")])
            ),
        )
        .await;
    assert_eq!(error_condition(&r).as_deref(), Some("bad-request"));
}

// ---------------------------------------------------------------------------------------
// Per-transport debug logging: the spans an EnvFilter directive can match.

#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs a login and logout with `directive` as the only filter; returns the log.
fn logs_with(directive: &str) -> String {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(directive))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // One thread: the spawned service and session tasks see this thread's subscriber.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut h = Harness::start(enabled()).await;
        h.login("gus@localhost", "gus").await;
        h.send("<presence xmlns='jabber:client' type='unavailable' from='gus@localhost/res' to='test.localhost'/>")
            .await;
        h.expect("logged out", |e| e.attr("type") == Some("unavailable"))
            .await;
        h.shutdown.cancel();
        let _ = h.task.await;
    });
    let bytes = captured.0.lock().expect("lock").clone();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn debug_logging_can_be_switched_on_per_transport() {
    let on = logs_with("[{transport=test}]=debug");
    // Debug events of the service and of a session (a task of its own, in a child span).
    assert!(on.contains("DEBUG"), "{on}");
    assert!(on.contains("registrations changed in the store"), "{on}");
    assert!(on.contains("session ended"), "{on}");
    assert!(on.contains("session{transport="), "{on}");
    let off = logs_with("[{transport=irc}]=debug");
    assert!(!off.contains("DEBUG"), "{off}");
    assert!(!off.contains("session ended"), "{off}");
}

/// Issue 20: one user's burst of requests is answered up to the burst, then refused at
/// once with `policy-violation`; another user is served meanwhile; subscription requests
/// count, probes (which servers send for every contact) do not.
#[tokio::test]
async fn requests_beyond_a_user_s_rate_are_refused_and_others_are_served() {
    let mut h = Harness::start(enabled()).await;
    let burst = pontoon_core::rate_limit::StanzaRate::default().burst as usize;
    let n = burst + 300;
    // Written by another task while this one reads the answers (both queues are bounded,
    // as the component link's are).
    let to_service = h.to_service.clone();
    tokio::spawn(async move {
        let mut all: Vec<String> = (0..n)
            .map(|i| format!("<iq xmlns='jabber:client' type='get' id='q{i}' from='flood@example.org/r' to='test.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"))
            .collect();
        all.push("<iq xmlns='jabber:client' type='get' id='other' from='calm@example.org/r' to='test.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>".to_owned());
        for xml in all {
            let el: Element = xml.parse().expect("test stanza parses");
            if to_service.send(LinkEvent::Stanza(el)).await.is_err() {
                return;
            }
        }
    });
    let (mut results, mut refused, mut other) = (0, 0, false);
    for _ in 0..=n {
        let el = h.recv().await;
        if el.attr("id") == Some("other") {
            other = el.attr("type") == Some("result");
        } else if el.attr("type") == Some("result") {
            results += 1;
        } else {
            let err = el.get_child("error", "jabber:client").expect("an error");
            assert_eq!(err.attr("type"), Some("wait"));
            assert!(err.has_child("policy-violation", "urn:ietf:params:xml:ns:xmpp-stanzas"));
            refused += 1;
        }
    }
    assert!(other, "the other user was not answered");
    assert!(
        results >= burst && refused >= 40,
        "{results} answered, {refused} refused"
    );
    // Probes are not counted (the burst is spent): each one is still answered.
    h.send("<presence xmlns='jabber:client' type='probe' from='flood@example.org/r' to='test.localhost'/>").await;
    let p = h
        .expect("the transport's presence", |el| el.name() == "presence")
        .await;
    assert_ne!(p.attr("type"), Some("error"), "{}", String::from(&p));
    // Subscription requests are (the bucket refills at 50 a second meanwhile: a few pass).
    for _ in 0..30 {
        h.send("<presence xmlns='jabber:client' type='subscribe' from='flood@example.org/r' to='test.localhost'/>").await;
    }
    let mut refused = 0;
    for _ in 0..30 {
        let p = h.expect("an answer", |el| el.name() == "presence").await;
        refused += usize::from(p.attr("type") == Some("error"));
    }
    assert!(
        refused >= 20,
        "only {refused} of 30 subscription requests refused"
    );
    h.shutdown.cancel();
}

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
    const SID: &str = "urn:xmpp:sid:0";
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
    let sid = original
        .get_child("stanza-id", SID)
        .and_then(|s| s.attr("id"));
    assert!(
        sid.is_some_and(|s| s.starts_with("test-")),
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
    const SID: &str = "urn:xmpp:sid:0";
    const REACTIONS: &str = "urn:xmpp:reactions:0";
    let mut h = anna_and_ben_in_lobby().await;
    let body_to = message_to;
    h.send("<message xmlns='jabber:client' type='groupchat' id='m1' from='a@localhost/one' to='#lobby@test.localhost'><body>lunch?</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/></message>")
        .await;
    let at_ben = h
        .expect("anna's message at ben", body_to("b@localhost/x", "lunch?"))
        .await;
    let sid = at_ben
        .get_child("stanza-id", SID)
        .and_then(|s| s.attr("id"))
        .expect("a stanza-id")
        .to_owned();

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
    h.send("<presence xmlns='jabber:client' from='alice@localhost/res' to='test.localhost'/>")
        .await;
    h.expect("online", |e| {
        e.name() == "presence"
            && e.attr("from") == Some("test.localhost")
            && e.attr("type").is_none()
    })
    .await;
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
