//! XEP-0050 ad-hoc commands for admins, and for others.

use super::*;

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
            "disconnect-session",
            // Every user's own (`adhoc::user`).
            "sync-contacts",
            "always-online",
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
    // Others see only every user's own.
    let nodes: Vec<&str> = items
        .get_child("query", "http://jabber.org/protocol/disco#items")
        .expect("items")
        .children()
        .filter_map(|i| i.attr("node"))
        .collect();
    assert_eq!(nodes, vec!["sync-contacts", "always-online"]);

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
