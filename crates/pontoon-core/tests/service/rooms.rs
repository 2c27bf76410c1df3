//! Rooms and contacts: joining, talking, renaming, leaving, the directory, and what an operator's deletion or a changed registration does to a session.

use super::*;

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
    h.come_online("f@localhost/res").await;
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
