//! The service driven in memory: stanzas in as the component link would deliver them,
//! stanzas out as it would send them, with the in-memory test transport and a real SQLite
//! store. The end-to-end suite repeats this through a real Prosody.

use std::sync::Arc;
use std::time::Duration;

use minidom::Element;
use pontoon_core::test_transport::TestTransport;
use pontoon_core::{Service, ServiceConfig};
use pontoon_store::{Store, StoreKey, TransportPolicy};
use pontoon_xmpp::component::LinkEvent;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

struct Harness {
    to_service: mpsc::Sender<LinkEvent>,
    from_service: mpsc::Receiver<Element>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    store: Store,
    url: String,
    _dir: tempfile::TempDir,
}

async fn harness(policy: TransportPolicy) -> Harness {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = StoreKey::load_or_create(&dir.path().join("key")).expect("key");
    let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let store = Store::open(&url, key).await.expect("store");
    let url = url.clone();
    store
        .put_transport_policy("test", &policy)
        .await
        .expect("policy");
    let (out_tx, from_service) = mpsc::channel(64);
    let (to_service, in_rx) = mpsc::channel(64);
    let service = Service::new(
        ServiceConfig {
            transport_name: "test".into(),
            domain: "test.localhost".into(),
            display_name: "Test network".into(),
            inbox_capacity: 16,
        },
        Arc::new(TestTransport::default()),
        store.clone(),
        out_tx,
    )
    .await
    .expect("service");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(service.run(in_rx, shutdown.clone()));
    Harness {
        to_service,
        from_service,
        shutdown,
        task,
        store,
        url,
        _dir: dir,
    }
}

fn enabled() -> TransportPolicy {
    TransportPolicy {
        enabled: true,
        ..TransportPolicy::default()
    }
}

impl Harness {
    async fn send(&self, xml: &str) {
        let el: Element = xml.parse().expect("test stanza parses");
        self.to_service
            .send(LinkEvent::Stanza(el))
            .await
            .expect("service alive");
    }

    async fn recv(&mut self) -> Element {
        let el = tokio::time::timeout(Duration::from_secs(5), self.from_service.recv())
            .await
            .expect("a stanza within 5 s")
            .expect("channel open");
        eprintln!("<- {}", String::from(&el));
        el
    }

    /// Receives until a stanza matches, failing after 10 stanzas.
    async fn expect(&mut self, what: &str, pred: impl Fn(&Element) -> bool) -> Element {
        for _ in 0..10 {
            let el = self.recv().await;
            if pred(&el) {
                return el;
            }
        }
        panic!("no stanza matched: {what}");
    }

    /// Receives until every predicate matched some stanza (in any order), failing after 20.
    async fn expect_all(&mut self, what: &str, preds: &[&dyn Fn(&Element) -> bool]) {
        let mut done = vec![false; preds.len()];
        for _ in 0..20 {
            let el = self.recv().await;
            for (i, p) in preds.iter().enumerate() {
                if !done[i] && p(&el) {
                    done[i] = true;
                }
            }
            if done.iter().all(|d| *d) {
                return;
            }
        }
        panic!("not all matched: {what} {done:?}");
    }

    async fn register(&mut self, user: &str, username: &str, password: &str) -> Element {
        self.send(&format!(
            "<iq xmlns='jabber:client' type='set' id='r1' from='{user}/res' to='test.localhost'>\
             <query xmlns='jabber:iq:register'><username>{username}</username><password>{password}</password></query></iq>"
        ))
        .await;
        self.expect("register reply", |e| e.name() == "iq").await
    }
}

fn error_condition(el: &Element) -> Option<String> {
    el.get_child("error", "jabber:client")?
        .children()
        .find(|c| c.ns() == "urn:ietf:params:xml:ns:xmpp-stanzas" && c.name() != "text")
        .map(|c| c.name().to_owned())
}

#[tokio::test]
async fn register_login_echo_logout() {
    let mut h = harness(enabled()).await;
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
    let mut h = harness(enabled()).await;
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
    let mut h = harness(enabled()).await;
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
    let mut h = harness(TransportPolicy::default()).await;
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
    let mut h = harness(enabled()).await;
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
    let mut h = harness(enabled()).await;
    h.register("e@localhost", "erin", "pw").await;
    h.recv().await; // subscribe
    h.to_service.send(LinkEvent::Up).await.expect("alive");
    let probe = h.recv().await;
    assert_eq!(probe.attr("type"), Some("probe"));
    assert_eq!(probe.attr("to"), Some("e@localhost"));
}

fn is_from(e: &Element, from: &str) -> bool {
    e.attr("from") == Some(from)
}

fn statuses(e: &Element) -> Vec<String> {
    e.get_child("x", "http://jabber.org/protocol/muc#user")
        .map(|x| {
            x.children()
                .filter(|c| c.name() == "status")
                .filter_map(|c| c.attr("code").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn rooms_join_talk_rename_leave() {
    let mut h = harness(enabled()).await;
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
    let mut h = harness(enabled()).await;
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
        StoreKey::load_or_create(&h._dir.path().join("key")).expect("key"),
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
    let mut h = harness(enabled()).await;
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
    let mut h = harness(enabled()).await;
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
