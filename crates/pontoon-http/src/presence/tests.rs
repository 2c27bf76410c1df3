//! The presence routes over a real service (`pontoon_testkit`'s harness): the user's own
//! `badge` command, their presence as their client changes it, and what others see.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use pontoon_testkit::harness::{DOMAIN, Harness, body, enabled, is_from};
use tower::ServiceExt;

use super::*;

async fn get(router: &Router, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let res = router
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, b) = res.into_parts();
    let bytes = axum::body::to_bytes(b, 1 << 20).await.unwrap();
    (
        parts.status,
        parts.headers,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

/// Polls `path` (within five seconds) until its body satisfies `wanted`; returns the body.
async fn until(router: &Router, path: &str, wanted: impl Fn(&str) -> bool) -> String {
    let mut body = String::new();
    for _ in 0..100 {
        body = get(router, path).await.2;
        if wanted(&body) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    body
}

/// Sends `text` to the transport from `from` and returns its answer.
async fn command(h: &mut Harness, from: &str, text: &str) -> String {
    h.send(&format!(
        "<message xmlns='jabber:client' type='chat' from='{from}' to='{DOMAIN}'><body>{text}</body></message>"
    ))
    .await;
    let reply = h
        .expect("the transport's answer", |e| {
            e.name() == "message" && is_from(e, DOMAIN) && body(e).is_some()
        })
        .await;
    body(&reply).unwrap()
}

#[tokio::test]
async fn badges_show_only_who_opted_in_and_follow_their_presence() {
    let mut h = Harness::start(enabled()).await;
    h.login("alice@example.org", "alice").await;
    h.login("bob@example.org", "bob").await;
    let router = PresenceService::new(h.store.clone(), [h.control.clone()]).router();

    // Nobody opted in: bob (registered, online) looks exactly like nobody at all.
    let bob = get(&router, "/presence/test/bob@example.org.svg").await;
    let nobody = get(&router, "/presence/test/nobody@example.org.svg").await;
    let junk = get(&router, "/presence/test/not%20a%20jid.json").await;
    let no_transport = get(&router, "/presence/irc/bob@example.org.svg").await;
    assert_eq!(bob.0, StatusCode::NOT_FOUND);
    assert_eq!(bob.2, NOT_FOUND);
    for other in [&nobody, &junk, &no_transport] {
        assert_eq!((bob.0, &bob.1, &bob.2), (other.0, &other.1, &other.2));
    }
    assert_eq!(bob.1[header::X_CONTENT_TYPE_OPTIONS], "nosniff");

    let said = command(&mut h, "alice@example.org/res", "badge").await;
    assert!(said.contains("is off"), "{said}");
    let said = command(&mut h, "alice@example.org/res", "Badge on").await;
    assert!(said.contains("now on"), "{said}");
    let (status, headers, svg) = get(&router, "/presence/test/alice@example.org.svg").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/svg+xml");
    assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=60");
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    assert!(
        svg.contains(">Test network<") && svg.contains(">online<"),
        "{svg}"
    );

    h.send("<presence xmlns='jabber:client' from='alice@example.org/res' to='test.localhost'><show>dnd</show><status>busy &amp; &lt;b&gt;</status></presence>").await;
    let json = until(&router, "/presence/test/alice@example.org.json", |b| {
        b.contains("busy")
    })
    .await;
    assert_eq!(
        json,
        "{\"transport\":\"test\",\"user\":\"alice@example.org\",\"presence\":\"busy\",\"status\":\"busy & <b>\"}\n"
    );

    h.send("<presence xmlns='jabber:client' type='unavailable' from='alice@example.org/res' to='test.localhost'/>").await;
    h.until("alice's session ended", |c| {
        c.presence_of(&"alice@example.org".parse().unwrap()).shown == Shown::Offline
    })
    .await;
    let json = get(&router, "/presence/test/alice@example.org.json")
        .await
        .2;
    assert!(
        json.contains("\"presence\":\"offline\",\"status\":null"),
        "{json}"
    );

    // The transport's own status: down until its link to the XMPP server is up, then up
    // with the users logged in (bob).
    let down = get(&router, "/status/test.json").await.2;
    assert!(down.contains("\"status\":\"down\""), "{down}");
    let (_, headers, svg) = get(&router, "/status/test.svg").await;
    assert!(svg.contains(">down<"), "{svg}");
    assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=60");
    h.to_service
        .send(pontoon_xmpp::component::LinkEvent::Up)
        .await
        .unwrap();
    let doc = until(&router, "/status/test.json", |b| {
        b.contains("\"up\",\"users_online\":1")
    })
    .await;
    assert_eq!(
        doc,
        "{\"transport\":\"test\",\"name\":\"Test network\",\"status\":\"up\",\"users_online\":1}\n"
    );
    assert_eq!(get(&router, "/status/nope.json").await.2, NOT_FOUND);
    assert_eq!(
        get(&router, "/status/test.png").await.0,
        StatusCode::NOT_FOUND
    );

    let said = command(&mut h, "alice@example.org/res", "badge off").await;
    assert!(said.contains("now off"), "{said}");
    assert_eq!(
        get(&router, "/presence/test/alice@example.org.svg").await,
        bob
    );
    let said = command(&mut h, "carol@example.org/res", "badge on").await;
    assert!(said.contains("Register"), "{said}");
}

#[tokio::test]
async fn past_the_rate_a_client_gets_429() {
    let h = Harness::start(enabled()).await;
    let svc = PresenceService::with_rate(
        h.store.clone(),
        [h.control.clone()],
        limit::Rate {
            burst: 3,
            per_second: 0.001,
        },
    );
    let router = svc.router();
    for _ in 0..3 {
        assert_eq!(get(&router, "/status/test.svg").await.0, StatusCode::OK);
    }
    let (status, headers, _) = get(&router, "/status/test.svg").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers[header::RETRY_AFTER], "60");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
}
