//! The persisted outbox: what a user sends while their session has no connection waits in
//! the store, goes out when the connection is back, survives a restart, and is bounced
//! when it cannot be sent.

use super::*;

fn chat(id: &str, body: &str) -> String {
    format!(
        "<message xmlns='jabber:client' type='chat' id='{id}' from='d@localhost/res' to='echo@test.localhost'><body>{body}</body></message>"
    )
}

/// The test network drops dora's connection for `ms` milliseconds.
async fn reconnecting(h: &mut Harness, ms: u64) {
    h.send(&format!("<message xmlns='jabber:client' type='chat' from='d@localhost/res' to='test.localhost'><body>reconnect {ms}</body></message>"))
        .await;
    h.expect("the transport's notice", |e| {
        body(e).is_some_and(|b| b.contains("reconnecting"))
    })
    .await;
}

#[tokio::test]
async fn messages_sent_while_reconnecting_wait_in_the_store_and_go_out_in_order() {
    let mut h = Harness::start(enabled()).await;
    h.login("d@localhost", "dora").await;
    reconnecting(&mut h, 300).await;
    h.send(&chat("m1", "one")).await;
    h.send(&chat("m2", "two")).await;
    // A typing notification is a hint of the moment: not kept.
    h.send("<message xmlns='jabber:client' type='chat' from='d@localhost/res' to='echo@test.localhost'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")
        .await;
    assert_eq!(
        kept(&h, "d@localhost", 2).await,
        2,
        "both messages wait in the store"
    );
    h.expect("echo of the first", |e| {
        body(e).as_deref() == Some("echo: one")
    })
    .await;
    h.expect("echo of the second", |e| {
        body(e).as_deref() == Some("echo: two")
    })
    .await;
    assert_eq!(kept(&h, "d@localhost", 0).await, 0, "sent, then forgotten");
}

#[tokio::test]
async fn what_waits_survives_a_restart_and_goes_out_at_the_next_login() {
    let mut h = Harness::start(enabled()).await;
    h.login("d@localhost", "dora").await;
    reconnecting(&mut h, 300).await;
    h.send(&chat("m1", "kept across the restart")).await;
    assert_eq!(kept(&h, "d@localhost", 1).await, 1);
    let mut h = h.restart().await;
    // No bounce at the shutdown: it waits for the next run.
    assert_eq!(
        h.store
            .outbox("test", "d@localhost")
            .await
            .expect("outbox")
            .len(),
        1
    );
    h.come_online("d@localhost/res").await;
    h.expect("the echo after the restart", |e| {
        body(e).as_deref() == Some("echo: kept across the restart")
    })
    .await;
    assert_eq!(kept(&h, "d@localhost", 0).await, 0);
}

#[tokio::test]
async fn a_session_that_ends_without_connecting_bounces_what_waits() {
    let mut h = Harness::start(enabled()).await;
    h.register("w@localhost", "wrong", "wrong").await;
    // The test network refuses the password "wrong" after a short login.
    h.send("<presence xmlns='jabber:client' from='w@localhost/res' to='test.localhost'/>")
        .await;
    h.send("<message xmlns='jabber:client' type='chat' id='b1' from='w@localhost/res' to='echo@test.localhost'><body>lost?</body></message>")
        .await;
    let bounce = h
        .expect("the bounce", |e| {
            e.name() == "message" && e.attr("id") == Some("b1") && e.attr("type") == Some("error")
        })
        .await;
    assert_eq!(
        error_condition(&bounce).as_deref(),
        Some("recipient-unavailable")
    );
    assert_eq!(bounce.attr("from"), Some("echo@test.localhost"));
    assert_eq!(
        kept(&h, "w@localhost", 0).await,
        0,
        "bounced, then forgotten"
    );
}

/// Waits (bounded) until `user` has `n` messages waiting; returns how many there are.
async fn kept(h: &Harness, user: &str, n: usize) -> usize {
    let mut kept = usize::MAX;
    for _ in 0..100 {
        kept = h.store.outbox("test", user).await.expect("outbox").len();
        if kept == n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    kept
}

#[tokio::test]
async fn a_full_queue_bounces_at_once() {
    let mut h = Harness::start(enabled()).await;
    h.login("d@localhost", "dora").await;
    reconnecting(&mut h, 5000).await;
    let n = pontoon_store::MAX_OUTBOX_MESSAGES as usize;
    // One at a time: the session's inbox is small, and each one is written before the next.
    for i in 0..n {
        h.send(&chat(&format!("f{i}"), &format!("m{i}"))).await;
        assert_eq!(kept(&h, "d@localhost", i + 1).await, i + 1);
    }
    h.send(&chat(&format!("f{n}"), "one too many")).await;
    let bounce = h
        .expect("the refusal of the one too many", |e| {
            e.attr("type") == Some("error") && e.name() == "message"
        })
        .await;
    assert_eq!(bounce.attr("id"), Some(format!("f{n}").as_str()));
    assert_eq!(
        error_condition(&bounce).as_deref(),
        Some("resource-constraint")
    );
    // The rest go out once connected, in order.
    let mut echoed = Vec::new();
    while echoed.len() < n {
        let e = h.recv().await;
        if let Some(b) = body(&e).and_then(|b| b.strip_prefix("echo: ").map(str::to_owned)) {
            echoed.push(b);
        }
    }
    assert_eq!(echoed, (0..n).map(|i| format!("m{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn what_waited_too_long_for_a_user_without_a_session_is_bounced() {
    let temp = temp_store(&enabled()).await;
    // Left by an earlier run, two hours ago, for a user who did not come back since.
    let two_hours_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros() as i64
        - 7_200_000_000;
    let chat = pontoon_store::OutboxChat::Contact(r#"{"name":"echo"}"#.to_owned());
    assert!(
        temp.store
            .put_outbox("test", "e@localhost", &chat, two_hours_ago, "<message xmlns='jabber:client' type='chat' id='old' from='e@localhost/res' to='echo@test.localhost'><body>stale</body></message>")
            .await
            .expect("kept")
    );
    let mut h = Harness::launch(Options::new(enabled()), temp).await;
    let bounce = h
        .expect("the bounce", |e| e.attr("id") == Some("old"))
        .await;
    assert_eq!(bounce.attr("type"), Some("error"));
    assert_eq!(bounce.attr("to"), Some("e@localhost/res"));
    assert_eq!(
        error_condition(&bounce).as_deref(),
        Some("recipient-unavailable")
    );
    assert_eq!(kept(&h, "e@localhost", 0).await, 0);
}
