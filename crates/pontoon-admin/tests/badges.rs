//! The operator's switch of a user's presence badge: the REST API and the registration
//! page, both through `pontoon_core::ops::badges`, audited.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use axum::http::{Method, StatusCode};
use serde_json::json;
use support::*;

#[tokio::test]
async fn the_api_reads_and_switches_a_badge() {
    let env = env().await;
    let api = Api::new(&env).await;
    let r = api.get("/badges/test/alice@localhost").await;
    assert_eq!(
        (r.status, r.json()),
        (StatusCode::OK, json!({"enabled": false}))
    );
    let r = api
        .call(
            Method::PUT,
            "/badges/test/alice@localhost",
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(
        (r.status, r.json()),
        (StatusCode::OK, json!({"enabled": true}))
    );
    assert!(
        env.store
            .presence_badge("test", "alice@localhost")
            .await
            .unwrap()
    );
    assert_eq!(
        api.get("/badges/test/alice@localhost").await.json()["enabled"],
        true
    );
    let audit = api.get("/audit").await.json();
    assert_eq!(audit["items"][0]["action"], "badge.on");
    assert_eq!(audit["items"][0]["subject"], "alice@localhost");

    // Nothing new to record when nothing changed.
    api.call(
        Method::PUT,
        "/badges/test/alice@localhost",
        Some(json!({"enabled": true})),
    )
    .await;
    let audit = api.get("/audit").await.json();
    assert_eq!(audit["items"].as_array().unwrap().len(), 1);

    assert_eq!(
        api.get("/badges/nope/alice@localhost").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get("/badges/test/localhost").await.status,
        StatusCode::NOT_FOUND
    );
    let bad = api
        .call(
            Method::PUT,
            "/badges/test/alice@localhost",
            Some(json!({"on": true})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    let r = api
        .call(
            Method::PUT,
            "/badges/test/alice@localhost",
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        !env.store
            .presence_badge("test", "alice@localhost")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn the_registration_page_switches_a_badge() {
    let env = env().await;
    env.store
        .put_registration(&pontoon_store::Registration::new(
            "bob@localhost",
            "test",
            "bob",
        ))
        .await
        .unwrap();
    let mut b = logged_in(&env).await;
    let page = "/registrations/test/bob@localhost";
    let p = b.get(page).await;
    assert!(p.body.contains("<dd id=\"badge\">off</dd>"), "{}", p.body);
    assert!(p.body.contains("id=\"badge-on\""));
    let r = b
        .submit(page, &format!("{page}/badge"), &[("badge", "on")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let p = b.get(page).await;
    assert!(p.body.contains("<dd id=\"badge\">on</dd>"), "{}", p.body);
    assert!(
        p.body
            .contains("The presence badge of bob@localhost is on.")
    );
    assert!(
        env.store
            .presence_badge("test", "bob@localhost")
            .await
            .unwrap()
    );
    b.submit(page, &format!("{page}/badge"), &[("badge", "off")])
        .await;
    assert!(
        !env.store
            .presence_badge("test", "bob@localhost")
            .await
            .unwrap()
    );
    // Without the session's token nothing changes.
    let r = b.post(&format!("{page}/badge"), &[("badge", "on")]).await;
    assert_ne!(r.status, StatusCode::SEE_OTHER);
    assert!(
        !env.store
            .presence_badge("test", "bob@localhost")
            .await
            .unwrap()
    );
}
