//! The room archive: one copy per room message whoever sees it, history on joining as the
//! client asks, XEP-0313 queries with paging, and nothing of a room read by someone who was
//! not in it.

use super::*;
use pontoon_store::{ArchiveKey, ArchiveQuery};

const ROOM: &str = "#lobby@test.localhost";
const MAM: &str = "urn:xmpp:mam:2";

fn is_room_message(e: &Element, to: &str, text: &str) -> bool {
    e.name() == "message" && e.attr("to") == Some(to) && body(e).as_deref() == Some(text)
}

/// Sends a MAM query of the room from `from` with `rsm` and returns the bodies of the
/// results, the `<fin/>`'s `complete` and its last id.
async fn query(h: &mut Harness, from: &str, rsm: &str) -> (Vec<String>, bool, Option<String>) {
    h.send(&format!(
        "<iq xmlns='jabber:client' type='set' id='q1' from='{from}' to='{ROOM}'>\
         <query xmlns='{MAM}' queryid='f1'><set xmlns='http://jabber.org/protocol/rsm'>{rsm}</set></query></iq>"
    ))
    .await;
    let mut bodies = Vec::new();
    for _ in 0..20 {
        let e = h.recv().await;
        if let Some(result) = e.get_child("result", MAM) {
            assert_eq!(result.attr("queryid"), Some("f1"));
            assert_eq!(e.attr("from"), Some(ROOM));
            let forwarded = result
                .get_child("forwarded", "urn:xmpp:forward:0")
                .expect("forwarded");
            assert!(forwarded.get_child("delay", "urn:xmpp:delay").is_some());
            let m = forwarded
                .get_child("message", "jabber:client")
                .expect("message");
            bodies.push(body(m).unwrap_or_default());
        } else if e.name() == "iq" && e.attr("id") == Some("q1") {
            assert_eq!(e.attr("type"), Some("result"), "{}", String::from(&e));
            let fin = e.get_child("fin", MAM).expect("fin");
            let last = fin
                .get_child("set", "http://jabber.org/protocol/rsm")
                .and_then(|s| s.get_child("last", "http://jabber.org/protocol/rsm"))
                .map(|l| l.text());
            return (bodies, fin.attr("complete") == Some("true"), last);
        }
    }
    panic!("no answer to the query");
}

#[tokio::test]
async fn rooms_are_archived_once_shown_on_joining_and_queried_by_who_was_there() {
    let mut h = Harness::start(enabled()).await;
    h.join_room("a@localhost/one", &format!("{ROOM}/anna"))
        .await;
    h.join_room("b@localhost/x", &format!("{ROOM}/ben")).await;
    h.send(&format!("<message xmlns='jabber:client' type='groupchat' id='g1' from='a@localhost/one' to='{ROOM}'><body>m1</body></message>"))
        .await;
    let mut ids = Vec::new();
    for who in ["a@localhost/one", "b@localhost/x"] {
        let m = h.expect("m1", |e| is_room_message(e, who, "m1")).await;
        ids.push(stanza_id(&m));
    }
    assert_eq!(
        ids[0], ids[1],
        "every copy of a room message has one stanza-id"
    );
    // Ben leaves; anna says something he must never read; he comes back asking for history.
    h.send(&format!(
        "<presence xmlns='jabber:client' type='unavailable' from='b@localhost/x' to='{ROOM}/ben'/>"
    ))
    .await;
    h.expect("ben out", |e| {
        e.attr("to") == Some("b@localhost/x") && e.attr("type") == Some("unavailable")
    })
    .await;
    h.send(&format!("<message xmlns='jabber:client' type='groupchat' id='g2' from='a@localhost/one' to='{ROOM}'><body>m2</body></message>"))
        .await;
    h.expect("m2", |e| is_room_message(e, "a@localhost/one", "m2"))
        .await;
    h.send(&format!("<presence xmlns='jabber:client' from='b@localhost/x' to='{ROOM}/ben'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='10'/></x></presence>"))
        .await;
    let mut history = Vec::new();
    for _ in 0..20 {
        let e = h.recv().await;
        if e.attr("to") != Some("b@localhost/x") || e.name() != "message" {
            continue;
        }
        if e.get_child("subject", "jabber:client").is_some() {
            break;
        }
        let delay = e
            .get_child("delay", "urn:xmpp:delay")
            .expect("history is delayed");
        assert_eq!(delay.attr("from"), Some(ROOM));
        assert_eq!(stanza_id(&e), ids[0], "history keeps the stanza-id");
        history.push(body(&e).unwrap_or_default());
    }
    assert_eq!(
        history,
        ["m1"],
        "history: what ben was there for, and only that"
    );
    // Queries: ben reads m1 only; anna pages through both; carol, never there, nothing.
    assert_eq!(query(&mut h, "b@localhost/x", "").await.0, ["m1"]);
    let (page, complete, last) = query(&mut h, "a@localhost/one", "<max>1</max>").await;
    assert_eq!((page, complete), (vec!["m1".to_owned()], false));
    let after = format!("<max>1</max><after>{}</after>", last.unwrap());
    let (page, complete, _) = query(&mut h, "a@localhost/one", &after).await;
    assert_eq!((page, complete), (vec!["m2".to_owned()], true));
    let (page, complete, _) = query(&mut h, "a@localhost/one", "<max>1</max><before/>").await;
    assert_eq!((page, complete), (vec!["m2".to_owned()], false));
    assert_eq!(
        query(&mut h, "c@localhost/z", "").await,
        (vec![], true, None)
    );
    // An id the archive does not hold.
    let refused = h
        .refusal_of(
            &format!("<iq xmlns='jabber:client' type='set' id='q9' from='a@localhost/one' to='{ROOM}'><query xmlns='{MAM}'><set xmlns='http://jabber.org/protocol/rsm'><after>nope</after></set></query></iq>"),
            "q9",
        )
        .await;
    assert_eq!(refused.as_deref(), Some("item-not-found"));
    // Kept once each, though two users saw m1.
    let all = ArchiveQuery {
        max: 10,
        ..Default::default()
    };
    let stored = h
        .store
        .query_archive(&ArchiveKey::room("test", "#lobby"), &all)
        .await
        .unwrap();
    assert_eq!(stored.messages.len(), 2);
}

#[tokio::test]
async fn without_history_nothing_is_archived_and_queries_are_refused() {
    let policy = TransportPolicy {
        history_days: 0,
        ..enabled()
    };
    let mut h = Harness::start(policy).await;
    h.join_room("a@localhost/one", &format!("{ROOM}/anna"))
        .await;
    h.send(&format!("<iq xmlns='jabber:client' type='get' id='d1' from='a@localhost/one' to='{ROOM}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"))
        .await;
    let info = h.expect("disco", |e| e.attr("id") == Some("d1")).await;
    let features: Vec<&str> = info
        .get_child("query", "http://jabber.org/protocol/disco#info")
        .unwrap()
        .children()
        .filter_map(|f| f.attr("var"))
        .collect();
    assert!(!features.contains(&MAM));
    let refused = h
        .refusal_of(
            &format!("<iq xmlns='jabber:client' type='set' id='q1' from='a@localhost/one' to='{ROOM}'><query xmlns='{MAM}'/></iq>"),
            "q1",
        )
        .await;
    assert_eq!(refused.as_deref(), Some("service-unavailable"));
}
