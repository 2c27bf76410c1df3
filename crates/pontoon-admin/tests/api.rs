//! The REST API, metrics and health endpoints over a real store and service.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use pontoon_admin::logs::LogEntry;
use pontoon_xmpp::component::LinkEvent;
use serde_json::{Value, json};
use support::*;

fn code(a: &Answer) -> String {
    a.json()["error"]["code"].as_str().unwrap_or("").to_owned()
}

#[tokio::test]
async fn tokens_are_required() {
    let env = env().await;
    let anon = send(
        &env.app,
        Request::get("/api/v1/status").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
    assert!(
        anon.header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(code(&anon), "unauthorized");
    let bad = send(
        &env.app,
        Request::get("/api/v1/transports")
            .header("authorization", "Bearer pnt_nope")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    let basic = send(
        &env.app,
        Request::get("/api/v1/transports")
            .header("authorization", "Basic cm9vdDpyb290")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    // A revoked token stops working at once.
    let api = Api::new(&env).await;
    assert_eq!(api.get("/status").await.status, StatusCode::OK);
    for t in env.store.list_api_tokens().await.unwrap() {
        env.store.revoke_api_token(&t.name).await.unwrap();
    }
    assert_eq!(api.get("/status").await.status, StatusCode::UNAUTHORIZED);
    // The document needs no token; unknown routes are JSON 404s.
    let doc = send(
        &env.app,
        Request::get("/api/v1/openapi.json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.json()["openapi"], "3.1.0");
    let none = send(
        &env.app,
        Request::get("/api/v1/nope").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    assert_eq!(code(&none), "not_found");
}

#[tokio::test]
async fn every_documented_route_is_routed() {
    let env = env().await;
    let api = Api::new(&env).await;
    let doc: Value = serde_json::from_str(
        &send(
            &env.app,
            Request::get("/api/v1/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .body,
    )
    .unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if method == "parameters" {
                continue;
            }
            let concrete = path
                .replace("{name}", "test")
                .replace("{transport}", "test")
                .replace("{jid}", "nobody@localhost");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = matches!(m, Method::POST | Method::PATCH).then(|| json!({}));
            let a = api.call(m, &concrete, body).await;
            assert_ne!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            if a.status == StatusCode::NOT_FOUND {
                assert_ne!(
                    a.json()["error"]["message"],
                    "no such API route",
                    "{method} {path} is not routed"
                );
            }
        }
    }
}

#[tokio::test]
async fn status_and_transports() {
    let env = env().await;
    let api = Api::new(&env).await;
    let s = api.get("/status").await;
    assert_eq!(s.status, StatusCode::OK);
    let s = s.json();
    assert_eq!(s["version"], "1.2.3");
    assert_eq!(s["mode"], "component");
    assert!(s["uptime_seconds"].is_u64());
    let t = &s["transports"][0];
    assert_eq!(t["name"], "test");
    let one = api.get("/transports/test").await.json();
    assert_eq!(one["processes"][0]["state"], "running (pid 42)");
    assert_eq!(one["processes"][0]["restarts"], 2);
    assert_eq!(one["processes"][0]["stderr"][0], "<b>starting</b>");
    assert_eq!(t["domain"], "test.localhost");
    assert_eq!(t["enabled"], true);
    assert_eq!(t["link_up"], true);
    assert_eq!(t["sessions"]["online"], 0);
    for k in [
        "messages_to_legacy",
        "messages_to_xmpp",
        "errors",
        "login_failures",
        "legacy_reconnects",
    ] {
        assert!(t[k].is_u64(), "{k}");
    }

    let list = api.get("/transports").await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let one = api.get("/transports/test").await.json();
    assert_eq!(one["display_name"], "Test network");
    assert_eq!(one["public_registration"], true);
    assert_eq!(one["options"], json!({}));
    let none = api.get("/transports/nope").await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    assert_eq!(code(&none), "not_found");

    let r = api
        .call(
            Method::PATCH,
            "/transports/test",
            Some(
                json!({"allowed_servers": ["localhost"], "allow_list": ["User1@localhost"],
                         "manual_registration_only": true, "public_registration": false}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let t = r.json();
    assert_eq!(t["allowed_servers"], json!(["localhost"]));
    assert_eq!(t["allow_list"], json!(["user1@localhost"]));
    let p = env.store.transport_policy("test").await.unwrap().unwrap();
    assert!(p.manual_registration_only && !p.public_registration && p.enabled);
    // The archive's limits: shown, changed alone, checked.
    assert_eq!(t["history_days"], pontoon_store::DEFAULT_HISTORY_DAYS);
    assert_eq!(
        t["history_per_room"],
        pontoon_store::DEFAULT_HISTORY_PER_ROOM
    );
    let r = api
        .call(
            Method::PATCH,
            "/transports/test",
            Some(json!({"history_days": 0, "history_per_room": 500})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["history_days"], 0);
    assert_eq!(r.json()["history_per_room"], 500);
    let p = env.store.transport_policy("test").await.unwrap().unwrap();
    assert_eq!((p.history_days, p.history_per_room), (0, 500));
    assert!(p.manual_registration_only, "the other fields are kept");
    let r = api
        .call(
            Method::PATCH,
            "/transports/test",
            Some(json!({"history_per_room": 10_000_001})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&r), "invalid");
    assert!(
        r.body
            .contains("history_per_room: 10000001 is more than 10000000"),
        "{}",
        r.body
    );
    let r = api
        .call(
            Method::PATCH,
            "/transports/test",
            Some(json!({"history_days": -1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let p2 = env.store.transport_policy("test").await.unwrap().unwrap();
    assert_eq!(p, p2);
    // Staying online while away: shown, changed alone, checked.
    assert_eq!(t["always_online_default"], false);
    assert_eq!(
        t["always_online_limit"],
        pontoon_store::DEFAULT_ALWAYS_ONLINE_LIMIT
    );
    let r = api
        .call(
            Method::PATCH,
            "/transports/test",
            Some(json!({"always_online_default": true, "always_online_limit": 0})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["always_online_default"], true);
    assert_eq!(r.json()["always_online_limit"], 0);
    let p = env.store.transport_policy("test").await.unwrap().unwrap();
    assert_eq!((p.always_online_default, p.always_online_limit), (true, 0));
    assert_eq!(
        (p.history_days, p.history_per_room),
        (0, 500),
        "the other fields are kept"
    );
    let r = api
        .call(
            Method::PATCH,
            "/transports/test",
            Some(json!({"always_online_limit": 1_000_001})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&r), "invalid");
    assert!(
        r.body
            .contains("always_online_limit: 1000001 is more than 1000000"),
        "{}",
        r.body
    );
    let r = api
        .call(
            Method::PATCH,
            "/transports/test",
            Some(json!({"always_online_default": "yes"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let p2 = env.store.transport_policy("test").await.unwrap().unwrap();
    assert_eq!(p, p2);

    // Refused options: 422, nothing stored.
    let r = api
        .call(
            Method::PATCH,
            "/transports/test",
            Some(json!({"options": {"no_such_option": "1"}, "enabled": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&r), "invalid");
    let p = env.store.transport_policy("test").await.unwrap().unwrap();
    assert!(p.options.is_empty() && p.enabled);
    let r = api
        .call(
            Method::PATCH,
            "/transports/test",
            Some(json!({"allowed_servers": ["a@b"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Malformed requests.
    let bad = send(
        &env.app,
        Request::patch("/api/v1/transports/test")
            .header("authorization", format!("Bearer {}", api.token))
            .header("content-type", "application/json")
            .body(Body::from("{not json"))
            .unwrap(),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&bad), "bad_request");
    let r = api
        .call(
            Method::PATCH,
            "/transports/test",
            Some(json!({"colour": "red"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = api
        .call(
            Method::PATCH,
            "/transports/test",
            Some(json!({"enabled": "yes"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = api
        .call(Method::PUT, "/transports/test", Some(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let huge = "x".repeat(70 * 1024);
    let r = api
        .call(
            Method::PATCH,
            "/transports/test",
            Some(json!({"allow_list": [huge]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);

    // Disabling takes effect in the service at once.
    let r = api
        .call(
            Method::PATCH,
            "/transports/test",
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(r.json()["enabled"], false);
    // Debug logging switches the filter at once.
    let r = api
        .call(
            Method::PATCH,
            "/transports/test",
            Some(json!({"debug_logging": true})),
        )
        .await;
    assert_eq!(r.json()["debug_logging"], true);
    assert_eq!(env.filter.debug_transports(), ["test"]);
}

#[tokio::test]
async fn registrations_crud() {
    let mut env = env().await;
    let api = Api::new(&env).await;
    let r = api
        .call(
            Method::POST,
            "/registrations",
            Some(
                json!({"jid": "user1@localhost", "transport": "test", "legacy_id": "Alice",
                        "password": "secret-pw"}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(!r.body.contains("secret-pw"));
    let reg = r.json();
    assert_eq!(reg["has_password"], true);
    assert_eq!(reg["legacy_id"], "alice");
    assert!(reg["created_at"].as_i64().unwrap() > 1_600_000_000);

    let dup = api
        .call(
            Method::POST,
            "/registrations",
            Some(json!({"jid": "user1@localhost", "transport": "test", "legacy_id": "x"})),
        )
        .await;
    assert_eq!(dup.status, StatusCode::CONFLICT);
    assert_eq!(code(&dup), "conflict");
    let taken = api
        .call(
            Method::POST,
            "/registrations",
            Some(json!({"jid": "user2@localhost", "transport": "test", "legacy_id": "ALICE"})),
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.body);
    assert!(taken.body.contains("already registered by another JID"));
    // No password is fine for the operator (the transport's form would want one).
    let r = api
        .call(
            Method::POST,
            "/registrations",
            Some(json!({"jid": "user3@localhost", "transport": "test", "legacy_id": "carol"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json()["has_password"], false);
    api.call(Method::DELETE, "/registrations/test/user3@localhost", None)
        .await;
    for jid in ["not a jid", "localhost", "a@b/c"] {
        let r = api
            .call(
                Method::POST,
                "/registrations",
                Some(json!({"jid": jid, "transport": "test", "legacy_id": "x"})),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{jid}: {}",
            r.body
        );
    }
    let r = api
        .call(
            Method::POST,
            "/registrations",
            Some(json!({"jid": "user2@localhost", "transport": "test", "legacy_id": "bad nick!"})),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the transport's rules"
    );
    let r = api
        .call(
            Method::POST,
            "/registrations",
            Some(json!({"jid": "user2@localhost", "transport": "nope", "legacy_id": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = api
        .call(
            Method::POST,
            "/registrations",
            Some(json!({"jid": "user2@localhost"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    let list = api.get("/registrations?search=USER1").await.json();
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["legacy_id"], "alice");
    let list = api
        .get("/registrations?transport=test&limit=1&offset=1")
        .await
        .json();
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"], json!([]));
    assert_eq!(
        api.get("/registrations?transport=nope").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get("/registrations?limit=lots").await.status,
        StatusCode::BAD_REQUEST
    );
    for (query, message) in [
        ("limit=0", "limit must be between 1 and 1000 (got 0)"),
        ("limit=5000", "limit must be between 1 and 1000 (got 5000)"),
        (
            "sort=age",
            "unknown sort \"age\" (jid, transport, last_login, created)",
        ),
        ("sort=jid&order=up", "unknown order \"up\" (asc, desc)"),
    ] {
        let r = api.get(&format!("/registrations?{query}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(
            r.json(),
            json!({"error": {"code": "bad_request", "message": message}}),
            "{query}"
        );
    }
    // Before any login: offline, never logged in.
    let list = api.get("/registrations?sort=last_login").await.json();
    assert_eq!(list["items"][0]["session"], Value::Null);
    assert_eq!(list["items"][0]["last_login_at"], Value::Null);
    assert_eq!(list["next"], Value::Null);

    // The user goes online: the registration made for them logs them in.
    env.go_online("user1@localhost").await;

    let r = api
        .call(
            Method::PATCH,
            "/registrations/test/user1@localhost",
            Some(json!({"legacy_id": "alice2"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["legacy_id"], "alice2");
    assert_eq!(r.json()["has_password"], true);
    let r = api
        .call(
            Method::PATCH,
            "/registrations/test/user1@localhost",
            Some(json!({"password": null})),
        )
        .await;
    assert_eq!(r.json()["has_password"], false);
    let r = api
        .call(
            Method::PATCH,
            "/registrations/test/user1@localhost",
            Some(json!({"password": "new"})),
        )
        .await;
    assert_eq!(r.json()["has_password"], true);
    // An empty string is refused, not taken as "remove" (null does that).
    let r = api
        .call(
            Method::PATCH,
            "/registrations/test/user1@localhost",
            Some(json!({"password": ""})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(code(&r), "invalid");
    let got = api.get("/registrations/test/user1@localhost").await;
    assert_eq!(got.json()["has_password"], true);
    let got = api.get("/registrations/test/user1@localhost").await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(!got.body.contains("\"new\""));
    let r = api
        .call(
            Method::PATCH,
            "/registrations/test/nobody@localhost",
            Some(json!({"legacy_id": "z"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let d = api
        .call(Method::DELETE, "/registrations/test/user1@localhost", None)
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.get("/registrations/test/user1@localhost").await.status,
        StatusCode::NOT_FOUND
    );
    let d = api
        .call(Method::DELETE, "/registrations/test/user1@localhost", None)
        .await;
    assert_eq!(d.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sessions_and_announcements() {
    let mut env = env().await;
    let api = Api::new(&env).await;
    api.call(
        Method::POST,
        "/registrations",
        Some(
            json!({"jid": "user1@localhost", "transport": "test", "legacy_id": "alice",
                    "password": "pw"}),
        ),
    )
    .await;
    env.go_online("user1@localhost").await;
    let mut page = Value::Null;
    for _ in 0..50 {
        page = api.get("/sessions?transport=test").await.json();
        if page["items"][0]["state"] == "online" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        (
            &page["total"],
            &page["offset"],
            &page["limit"],
            &page["next"]
        ),
        (&json!(1), &json!(0), &json!(100), &Value::Null)
    );
    let row = &page["items"][0];
    assert_eq!(row["user"], "user1@localhost");
    assert_eq!(row["transport"], "test");
    assert_eq!(row["legacy_id"], "alice");
    assert_eq!(row["resources"], json!(["user1@localhost/res"]));
    assert_eq!(row["rooms"], json!([]));
    assert_eq!(row["last_error"], Value::Null);
    assert!(row["since"].as_i64().unwrap() > 1_600_000_000);
    assert_eq!(api.get("/sessions").await.json()["total"], 1);
    // Search (any case, JID or legacy id) and state.
    for (query, total) in [
        ("q=ALI", 1),
        ("q=user1@", 1),
        ("q=bob", 0),
        ("state=online", 1),
        ("state=connecting", 0),
        ("limit=1&offset=1", 1),
    ] {
        let p = api.get(&format!("/sessions?{query}")).await.json();
        assert_eq!(p["total"], total, "{query}: {p}");
    }
    assert_eq!(
        api.get("/sessions?limit=1&offset=1").await.json()["items"],
        json!([])
    );
    // Refusals: exact bodies.
    for (query, message) in [
        ("limit=0", "limit must be between 1 and 1000 (got 0)"),
        ("limit=1001", "limit must be between 1 and 1000 (got 1001)"),
        (
            "state=up",
            "unknown state \"up\" (connecting, online, reconnecting, ending)",
        ),
    ] {
        let r = api.get(&format!("/sessions?{query}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(
            r.json(),
            json!({"error": {"code": "bad_request", "message": message}}),
            "{query}"
        );
    }
    assert_eq!(
        api.get("/sessions?transport=nope").await.status,
        StatusCode::NOT_FOUND
    );
    // The registration shows the session, and its login time once stored.
    let mut reg = Value::Null;
    for _ in 0..50 {
        reg = api.get("/registrations?online=true").await.json();
        if !reg["items"][0]["last_login_at"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(reg["total"], 1, "{reg}");
    assert_eq!(reg["items"][0]["session"], "online");
    assert!(reg["items"][0]["last_login_at"].as_i64().unwrap() > 1_600_000_000);
    assert_eq!(
        api.get("/registrations?online=false").await.json()["total"],
        0
    );

    let r = api
        .call(
            Method::POST,
            "/transports/test/announce",
            Some(json!({"text": "Maintenance at 22:00"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["sent"], 1);
    env.expect("the announcement", |e| {
        e.name() == "message"
            && e.get_child("body", "jabber:client")
                .is_some_and(|b| b.text() == "Maintenance at 22:00")
    })
    .await;
    let r = api
        .call(
            Method::POST,
            "/transports/test/announce",
            Some(json!({"text": "  "})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    let d = api
        .call(Method::DELETE, "/sessions/test/user1@localhost", None)
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT);
    env.expect("unavailable", |e| {
        e.attr("type") == Some("unavailable") && e.attr("from") == Some("test.localhost")
    })
    .await;
    for _ in 0..50 {
        if api.get("/sessions").await.json() == json!([]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let d = api
        .call(Method::DELETE, "/sessions/test/user1@localhost", None)
        .await;
    assert_eq!(d.status, StatusCode::NOT_FOUND);
    let d = api
        .call(Method::DELETE, "/sessions/test/not%20a%20jid", None)
        .await;
    assert_eq!(d.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn logs_are_served_newest_first() {
    let env = env().await;
    let api = Api::new(&env).await;
    for (i, (level, transport)) in [
        (tracing::Level::INFO, Some("test")),
        (tracing::Level::DEBUG, Some("test")),
        (tracing::Level::WARN, None),
    ]
    .into_iter()
    .enumerate()
    {
        env.logs.push(LogEntry {
            seq: 0,
            user: None,
            time_ms: 1_700_000_000_000 + i as i64,
            level,
            target: "t".into(),
            transport: transport.map(str::to_owned),
            message: format!("event {i}"),
        });
    }
    let all = api.get("/logs").await.json();
    let messages: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["event 2", "event 1", "event 0"]);
    assert_eq!(all[1]["level"], "DEBUG");
    assert_eq!(all[1]["transport"], "test");
    assert_eq!(all[1]["time"], 1_700_000_000);
    assert_eq!(
        api.get("/logs?transport=test")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        api.get("/logs?limit=1")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        api.get("/logs?level=warn")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        api.get("/logs?level=loud").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn metrics_and_health() {
    let mut env = env().await;
    let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
    let h = send(&env.app, get("/healthz")).await;
    assert_eq!((h.status, h.body.as_str()), (StatusCode::OK, "ok\n"));
    assert_eq!(send(&env.app, get("/readyz")).await.status, StatusCode::OK);

    let api = Api::new(&env).await;
    api.call(
        Method::POST,
        "/registrations",
        Some(
            json!({"jid": "user1@localhost", "transport": "test", "legacy_id": "alice",
                    "password": "pw"}),
        ),
    )
    .await;
    env.go_online("user1@localhost").await;
    env.send_xml("<message xmlns='jabber:client' type='chat' id='m1' from='user1@localhost/res' to='echo@test.localhost'><body>hi</body></message>").await;
    env.expect("echo", |e| e.attr("from") == Some("echo@test.localhost"))
        .await;

    let mut m = send(&env.app, get("/metrics")).await;
    for _ in 0..50 {
        if m.body
            .contains("pontoon_sessions{transport=\"test\",state=\"online\"} 1")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        m = send(&env.app, get("/metrics")).await;
    }
    assert_eq!(m.status, StatusCode::OK);
    assert!(m.header("content-type").unwrap().starts_with("text/plain"));
    let text = &m.body;
    for name in [
        "pontoon_sessions",
        "pontoon_messages_total",
        "pontoon_errors_total",
        "pontoon_login_failures_total",
        "pontoon_reconnects_total",
        "pontoon_queue_depth",
        "pontoon_link_up",
        "pontoon_transport_enabled",
        "pontoon_loop_busy_seconds",
        "pontoon_uptime_seconds",
        "pontoon_build_info",
        "pontoon_message_latency_seconds",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "{name} missing:\n{text}"
        );
    }
    for line in [
        "pontoon_sessions{transport=\"test\",state=\"online\"} 1",
        "pontoon_sessions{transport=\"test\",state=\"ending\"} 0",
        "pontoon_messages_total{transport=\"test\",direction=\"to_legacy\"} 1",
        "pontoon_messages_total{transport=\"test\",direction=\"to_xmpp\"} 1",
        "pontoon_link_up{transport=\"test\"} 1",
        "pontoon_transport_enabled{transport=\"test\"} 1",
        "pontoon_reconnects_total{transport=\"test\",link=\"legacy\"} 0",
        "pontoon_queue_depth{transport=\"test\",queue=\"xmpp_out\"}",
        "pontoon_build_info{version=\"1.2.3\"} 1",
        "pontoon_loop_busy_seconds{loop=\"service test\"}",
        "pontoon_message_latency_seconds_count{transport=\"test\",direction=\"to_legacy\"} 1",
        "pontoon_message_latency_seconds_count{transport=\"test\",direction=\"to_xmpp\"} 1",
        "pontoon_message_latency_seconds_bucket{transport=\"test\",direction=\"to_xmpp\",le=\"+Inf\"} 1",
    ] {
        assert!(text.contains(line), "{line} missing:\n{text}");
    }

    // The link goes down: not ready, with the reason.
    env.to_service
        .send(LinkEvent::Down {
            reason: "test".into(),
        })
        .await
        .unwrap();
    let mut r = send(&env.app, get("/readyz")).await;
    for _ in 0..50 {
        if r.status == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        r = send(&env.app, get("/readyz")).await;
    }
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.body.contains("transport test"), "{}", r.body);
    let m = send(&env.app, get("/metrics")).await;
    assert!(m.body.contains("pontoon_link_up{transport=\"test\"} 0"));
    // A disabled transport does not hold readiness back.
    api.call(
        Method::PATCH,
        "/transports/test",
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(send(&env.app, get("/readyz")).await.status, StatusCode::OK);
}

/// Registrations made by the operator are checked under the transport's options in force
/// (its stored policy), not under none.
#[tokio::test]
async fn registrations_follow_the_transport_options() {
    let env = env().await;
    let api = Api::new(&env).await;
    let mut policy = env.store.transport_policy("test").await.unwrap().unwrap();
    policy.options.insert("deny".into(), "mallory".into());
    env.store
        .put_transport_policy("test", &policy)
        .await
        .unwrap();
    let r = api
        .call(
            Method::POST,
            "/registrations",
            Some(json!({"jid": "m@localhost", "transport": "test", "legacy_id": "mallory"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.body.contains("denied by the transport"), "{}", r.body);
    let r = api
        .call(
            Method::POST,
            "/registrations",
            Some(json!({"jid": "m@localhost", "transport": "test", "legacy_id": "molly"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // Editing is checked the same way.
    let r = api
        .call(
            Method::PATCH,
            "/registrations/test/m@localhost",
            Some(json!({"legacy_id": "mallory"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
}
