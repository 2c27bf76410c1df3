//! Threads (RFC 6121 `<thread/>`, XEP-0201) in a room of the rich test network, which
//! carries them: a thread is shown under its root's stanza-id and an answer naming it joins
//! it; a thread a client starts goes out from its first message, and one started by a
//! reply hangs off the message answered.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use minidom::Element;
use pontoon_testkit::TestTransport;
use pontoon_testkit::harness::{Harness, Options, enabled, is_from, stanza_id};

fn thread_of(e: &Element) -> Option<String> {
    e.get_child("thread", "jabber:client").map(Element::text)
}

/// Whether `e` is for `to` and its body ends with `body` (a reply in a room is addressed
/// to its author's nick first).
fn body_is(e: &Element, to: &str, body: &str) -> bool {
    e.attr("to") == Some(to)
        && e.get_child("body", "jabber:client")
            .is_some_and(|b| b.text().ends_with(body))
}

#[tokio::test]
async fn threads_go_both_ways_in_a_room() {
    let h = Harness::start_with(Options {
        transport: std::sync::Arc::new(TestTransport::rich()),
        ..Options::new(enabled())
    })
    .await;
    let mut h = h;
    h.join_room("a@localhost/one", "#th@test.localhost/anna")
        .await;
    h.join_room("b@localhost/x", "#th@test.localhost/ben").await;
    let say = |from: &str, id: &str, body: &str, extra: &str| {
        format!(
            "<message xmlns='jabber:client' type='groupchat' id='{id}' from='{from}' to='#th@test.localhost'><body>{body}</body>{extra}</message>"
        )
    };
    // Ben's message; then he answers it in a thread named by its stanza-id.
    h.send(&say("b@localhost/x", "b1", "root", "")).await;
    let root = h
        .expect("anna sees the root", |e| {
            body_is(e, "a@localhost/one", "root")
        })
        .await;
    let root_sid = stanza_id(&root).unwrap();
    assert_eq!(thread_of(&root), None);
    h.send(&say(
        "b@localhost/x",
        "b2",
        "first in thread",
        &format!("<thread>{root_sid}</thread>"),
    ))
    .await;
    let first = h
        .expect("anna sees the threaded answer", |e| {
            body_is(e, "a@localhost/one", "first in thread")
        })
        .await;
    assert_eq!(thread_of(&first).as_deref(), Some(root_sid.as_str()));
    // Anna answers in the same thread: everyone sees it there, her reflection too.
    h.send(&say(
        "a@localhost/one",
        "a1",
        "me too",
        &format!("<thread>{root_sid}</thread>"),
    ))
    .await;
    let in_root = |to: &'static str| {
        let root_sid = root_sid.clone();
        move |e: &Element| {
            body_is(e, to, "me too") && thread_of(e).as_deref() == Some(root_sid.as_str())
        }
    };
    h.expect_all(
        "anna's answer in the thread, for both",
        &[&in_root("a@localhost/one"), &in_root("b@localhost/x")],
    )
    .await;
    // Anna starts a thread of her own: its first message goes out as it is, the next one
    // joins it (rooted at the first).
    h.send(&say(
        "a@localhost/one",
        "a2",
        "new topic",
        "<thread>fresh-thread-1</thread>",
    ))
    .await;
    let topic = h
        .expect("ben sees the new topic", |e| {
            body_is(e, "b@localhost/x", "new topic")
        })
        .await;
    assert_eq!(thread_of(&topic), None);
    let topic_sid = stanza_id(&topic).unwrap();
    h.send(&say(
        "a@localhost/one",
        "a3",
        "more on it",
        "<thread>fresh-thread-1</thread>",
    ))
    .await;
    let more = h
        .expect("ben sees it in the thread", |e| {
            body_is(e, "b@localhost/x", "more on it")
        })
        .await;
    assert_eq!(thread_of(&more).as_deref(), Some(topic_sid.as_str()));
    // Ben answers in it: anna sees it under the thread id her client gave it.
    h.send(&say(
        "b@localhost/x",
        "b4",
        "answer on topic",
        &format!("<thread>{topic_sid}</thread>"),
    ))
    .await;
    let answer = h
        .expect("anna sees ben's answer", |e| {
            body_is(e, "a@localhost/one", "answer on topic")
        })
        .await;
    assert_eq!(thread_of(&answer).as_deref(), Some("fresh-thread-1"));
    // A reply that starts a thread: the thread hangs off the message answered, and the
    // thread id names it from then on.
    h.send(&say("b@localhost/x", "b3", "another", "")).await;
    let another = h
        .expect("anna sees another", |e| {
            body_is(e, "a@localhost/one", "another")
        })
        .await;
    let another_sid = stanza_id(&another).unwrap();
    h.send(&say(
        "a@localhost/one",
        "a4",
        "about that",
        &format!(
            "<reply xmlns='urn:xmpp:reply:0' to='#th@test.localhost/ben' id='{another_sid}'/><thread>fresh-thread-2</thread>"
        ),
    ))
    .await;
    // Ben sees it in the thread of the message answered, anna under her thread id.
    let ben_sees = |e: &Element| {
        body_is(e, "b@localhost/x", "about that")
            && thread_of(e).as_deref() == Some(another_sid.as_str())
    };
    let anna_sees = |e: &Element| {
        body_is(e, "a@localhost/one", "about that")
            && thread_of(e).as_deref() == Some("fresh-thread-2")
    };
    h.expect_all("the reply in its thread", &[&ben_sees, &anna_sees])
        .await;
    h.send(&say(
        "a@localhost/one",
        "a5",
        "and more",
        "<thread>fresh-thread-2</thread>",
    ))
    .await;
    let and_more = h
        .expect("ben sees it in that thread", |e| {
            body_is(e, "b@localhost/x", "and more") && is_from(e, "#th@test.localhost/anna")
        })
        .await;
    assert_eq!(thread_of(&and_more).as_deref(), Some(another_sid.as_str()));
}

/// A network without threads (plain IRC-like): the thread is left out, the text goes.
#[tokio::test]
async fn without_threads_the_text_still_goes() {
    let mut h = Harness::start(enabled()).await;
    h.join_room("a@localhost/one", "#plain@test.localhost/anna")
        .await;
    h.send("<message xmlns='jabber:client' type='groupchat' id='p1' from='a@localhost/one' to='#plain@test.localhost'><body>hello</body><thread>t-1</thread></message>").await;
    let e = h
        .expect("the reflection", |e| e.attr("id") == Some("p1"))
        .await;
    assert_eq!(thread_of(&e), None);
    assert!(e.get_child("error", "jabber:client").is_none());
}
