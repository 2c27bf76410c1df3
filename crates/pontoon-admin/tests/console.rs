//! The web console over a real store and service: login, sessions, CSRF, and each page's
//! forms.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use pontoon_admin::logs::LogEntry;
use pontoon_store::Registration;
use support::*;

#[tokio::test]
async fn a_fresh_install_says_how_to_make_an_admin() {
    let env = env_with(config(), false).await;
    let mut b = Browser::new(&env);
    let r = b.get("/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/login");
    let page = b.get("/login").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains(
            "No administrator account yet: create one with <code>pontoon admin add &lt;name&gt;</code> on the server."
        ),
        "{}",
        page.body
    );
    for (user, pw) in [("admin", "admin"), ("root", "root")] {
        assert_eq!(b.login(user, pw).await.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn login_cookie_headers_and_logout() {
    let env = env().await;
    let mut b = Browser::new(&env);
    let login = b.get("/login").await;
    assert!(login.body.contains("id=\"login\""), "{}", login.body);
    assert!(!login.body.contains("No administrator account"));
    let r = b
        .post(
            "/login",
            &[
                ("username", ADMIN),
                ("password", PASSWORD),
                ("csrf", &login.csrf()),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/");
    let cookies: Vec<&str> = r
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("pontoon_session="))
        .expect("session cookie");
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(attr), "{session}");
    }
    assert!(
        !session.contains("Secure"),
        "no Secure over plain HTTP by default"
    );
    // 256 random bits, base64url.
    let id = &session["pontoon_session=".len()..session.find(';').unwrap()];
    assert_eq!(id.len(), 43);

    let overview = b.get("/").await;
    assert_eq!(overview.status, StatusCode::OK);
    assert!(overview.body.contains("<h1>Overview</h1>"));
    assert!(overview.body.contains("1.2.3") && overview.body.contains("component"));
    assert!(overview.body.contains("test.localhost"));
    // Component mode shows the link; the error count opens the errors in the log.
    assert!(overview.body.contains("<th>Link</th>"));
    assert!(
        overview
            .body
            .contains("<td class=\"errors\"><a href=\"/logs?transport=test&#38;level=INFO\"")
            || overview
                .body
                .contains("<td class=\"errors\"><a href=\"/logs?transport=test&amp;level=INFO\""),
        "{}",
        overview.body
    );
    for h in [
        "x-content-type-options",
        "x-frame-options",
        "content-security-policy",
        "referrer-policy",
    ] {
        assert!(overview.header(h).is_some(), "{h} missing");
    }
    for page in [
        "/transports",
        "/access",
        "/registrations",
        "/sessions",
        "/logs",
        "/admins",
    ] {
        let p = b.get(page).await;
        assert_eq!(p.status, StatusCode::OK, "{page}");
        for link in [
            "href=\"/access\"",
            "href=\"/logs\"",
            "href=\"/admins\"",
            "id=\"logout\"",
        ] {
            assert!(p.body.contains(link), "{page} lacks {link}");
        }
    }

    let r = b.post("/logout", &[("csrf", &overview.csrf())]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().starts_with("/login"));
    let r = b.get("/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/login");
    // The old session id is worthless even if replayed.
    b.cookies.insert("pontoon_session".into(), id.to_owned());
    assert_eq!(b.get("/").await.location(), "/login");
}

#[tokio::test]
async fn secure_cookies_when_configured() {
    let env = env_with(
        pontoon_admin::AdminConfig {
            secure_cookies: true,
            ..config()
        },
        true,
    )
    .await;
    let mut b = Browser::new(&env);
    let r = b.login(ADMIN, PASSWORD).await;
    let c = r.header("set-cookie").unwrap();
    assert!(c.contains("; Secure"), "{c}");
}

#[tokio::test]
async fn wrong_passwords_are_refused_then_rate_limited() {
    let env = env().await; // 3 failures per minute allowed
    let mut b = Browser::new(&env);
    let r = b.login(ADMIN, "wrong").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("Wrong user name or password"));
    assert!(!r.body.contains("wrong\""), "the password is not echoed");
    let r = b.login("nobody", "wrong").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("Wrong user name or password"));
    assert_eq!(b.login(ADMIN, "x").await.status, StatusCode::UNAUTHORIZED);
    let r = b.login(ADMIN, "y").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    // Even the right password waits out the minute.
    assert_eq!(
        b.login(ADMIN, PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// Parallel guesses count as much as sequential ones: an attempt counts from its start.
#[tokio::test]
async fn parallel_logins_do_not_get_extra_guesses() {
    let env = env().await; // 3 attempts per minute allowed
    let mut b = Browser::new(&env);
    let csrf = b.get("/login").await.csrf();
    let cookie = format!("pontoon_login={}", b.cookies["pontoon_login"]);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let app = env.app.clone();
        let body = form(&[
            ("username", ADMIN),
            ("password", &format!("guess{i}")),
            ("csrf", &csrf),
        ]);
        let cookie = cookie.clone();
        tasks.spawn(async move {
            let req = axum::http::Request::post("/login")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", cookie)
                .body(axum::body::Body::from(body))
                .unwrap();
            send(&app, req).await.status
        });
    }
    let mut checked = 0;
    while let Some(status) = tasks.join_next().await {
        match status.unwrap() {
            StatusCode::UNAUTHORIZED => checked += 1,
            // Over the limit, or more password checks than allowed at once.
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!((1..=3).contains(&checked), "{checked} passwords checked");
    // Whatever got through, the address has no guess left once three failed.
    for _ in checked..3 {
        assert_eq!(
            b.login(ADMIN, "again").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        b.login(ADMIN, PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// Successful logins do not use up the address's attempts.
#[tokio::test]
async fn successful_logins_are_not_counted() {
    let env = env().await; // 3 attempts per minute allowed
    for _ in 0..5 {
        logged_in(&env).await;
    }
    let mut b = Browser::new(&env);
    assert_eq!(
        b.login(ADMIN, "wrong").await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// Deleting an administrator or changing their password (as `pontoon admin delete|add`
/// does, on the store) ends their console sessions at their next request.
#[tokio::test]
async fn deleted_or_reset_accounts_lose_their_sessions() {
    let env = env().await;
    env.store
        .put_admin("other", "other password")
        .await
        .unwrap();
    let mut root = logged_in(&env).await;
    let mut other = Browser::new(&env);
    assert_eq!(
        other.login("other", "other password").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(root.get("/transports").await.status, StatusCode::OK);
    assert_eq!(other.get("/transports").await.status, StatusCode::OK);

    // A password reset: the old sessions end at once, the new password logs in.
    env.store.put_admin(ADMIN, "a new password").await.unwrap();
    let r = root.get("/transports").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/login?revoked=1");
    let page = root.get(r.location()).await;
    assert!(
        page.body
            .contains("account was deleted or its password changed"),
        "{}",
        page.body
    );
    // The session is gone for good, not only refused once.
    assert_eq!(root.get("/transports").await.location(), "/login");
    assert_eq!(
        root.login(ADMIN, "a new password").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(root.get("/transports").await.status, StatusCode::OK);
    // Other accounts' sessions are untouched.
    assert_eq!(other.get("/transports").await.status, StatusCode::OK);

    // A deleted account: its session's forms change nothing.
    let csrf = other.get("/transports").await.csrf();
    assert!(env.store.delete_admin("other").await.unwrap());
    let r = other
        .post("/transports/test/disable", &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/login?revoked=1");
    assert!(
        env.store
            .transport_policy("test")
            .await
            .unwrap()
            .unwrap()
            .enabled
    );
    // Deleted and made again with the same name and password: the old session stays over.
    env.store
        .put_admin("other", "other password")
        .await
        .unwrap();
    assert_eq!(other.get("/transports").await.location(), "/login");
}

#[tokio::test]
async fn forms_need_the_sessions_token() {
    let env = env().await;
    let mut b = logged_in(&env).await;
    for fields in [vec![], vec![("csrf", "forged")]] {
        let r = b.post("/transports/test/disable", &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(
            r.body.contains("Invalid or missing form token"),
            "{}",
            r.body
        );
    }
    let p = env.store.transport_policy("test").await.unwrap().unwrap();
    assert!(p.enabled, "nothing changed");
    // Another session's token does not do either.
    let other = logged_in(&env).await.get("/transports").await.csrf();
    let r = b
        .post("/transports/test/disable", &[("csrf", &other)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The login form has its own token.
    let mut fresh = Browser::new(&env);
    fresh.get("/login").await;
    let r = fresh
        .post("/login", &[("username", ADMIN), ("password", PASSWORD)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Unauthenticated posts go to the login page and change nothing.
    let r = Browser::new(&env)
        .post("/transports/test/disable", &[("csrf", "x")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/login");
}

#[tokio::test]
async fn an_idle_session_expires() {
    let env = env_with(
        pontoon_admin::AdminConfig {
            session_idle: Duration::from_millis(300),
            ..config()
        },
        true,
    )
    .await;
    let mut b = logged_in(&env).await;
    let page = b.get("/transports").await;
    assert_eq!(page.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = b.get("/transports").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().starts_with("/login"), "{}", r.location());
    let login = b.get(r.location()).await;
    assert!(
        login.body.contains("Your session has expired"),
        "{}",
        login.body
    );
    let r = b
        .post("/transports/test/disable", &[("csrf", &page.csrf())])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        env.store
            .transport_policy("test")
            .await
            .unwrap()
            .unwrap()
            .enabled
    );
}

#[tokio::test]
async fn transports_enable_disable_and_options() {
    let env = env().await;
    let mut b = logged_in(&env).await;
    let page = b.get("/transports").await;
    assert!(page.body.contains("id=\"disable-test\""), "{}", page.body);
    // A backend's processes, its stderr escaped.
    assert!(page.body.contains("Backend processes"), "{}", page.body);
    assert!(page.body.contains("running (pid 42)"), "{}", page.body);
    assert!(page.body.contains("starting&#60;/b&#62;"), "{}", page.body);
    assert!(!page.body.contains("<b>starting"), "{}", page.body);
    assert!(!page.body.contains("id=\"enable-test\""));
    // Asked again first: nothing changes until confirmed.
    let r = b
        .post("/transports/test/disable", &[("csrf", &page.csrf())])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Disable test?"), "{}", r.body);
    assert!(
        r.body
            .contains("<input type=\"hidden\" name=\"confirm\" value=\"yes\">")
    );
    assert!(
        env.store
            .transport_policy("test")
            .await
            .unwrap()
            .is_none_or(|p| p.enabled)
    );
    let r = b
        .post(
            "/transports/test/disable",
            &[("csrf", &page.csrf()), ("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/transports");
    assert!(
        !env.store
            .transport_policy("test")
            .await
            .unwrap()
            .unwrap()
            .enabled
    );
    let page = b.get("/transports").await;
    assert!(page.body.contains("id=\"enable-test\""));
    assert!(page.body.contains("test is disabled"), "flash shown once");
    assert!(!b.get("/transports").await.body.contains("test is disabled"));
    b.submit("/transports", "/transports/test/enable", &[])
        .await;
    assert!(
        env.store
            .transport_policy("test")
            .await
            .unwrap()
            .unwrap()
            .enabled
    );

    // Options the transport refuses: shown again with the reason, nothing stored.
    let r = b
        .submit(
            "/transports",
            "/transports/test/options",
            &[("options", "bogus = 1\n")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("has no option"), "{}", r.body);
    assert!(r.body.contains("bogus = 1"));
    assert!(
        env.store
            .transport_policy("test")
            .await
            .unwrap()
            .unwrap()
            .options
            .is_empty()
    );
    let r = b
        .submit(
            "/transports",
            "/transports/test/options",
            &[("options", "no equals sign")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = b
        .submit(
            "/transports",
            "/transports/test/options",
            &[("options", "\n# nothing\n")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // The typed form: one field per option the transport describes, its default as the
    // placeholder; a refused value is shown with the transport's reason, a good one stored
    // and an empty field leaves the default.
    let page = b.get("/transports").await;
    assert!(page.body.contains(r#"name="opt.rich""#), "{}", page.body);
    assert!(page.body.contains("default (false)"), "{}", page.body);
    let r = b
        .submit(
            "/transports",
            "/transports/test/options",
            &[("opt.rich", "maybe")],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.contains("rich must be true or false"), "{}", r.body);
    let stored = || async {
        env.store
            .transport_policy("test")
            .await
            .unwrap()
            .unwrap()
            .options
    };
    assert!(stored().await.is_empty());
    let r = b
        .submit(
            "/transports",
            "/transports/test/options",
            &[("opt.rich", "true")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(stored().await.get("rich").map(String::as_str), Some("true"));
    let r = b
        .submit(
            "/transports",
            "/transports/test/options",
            &[("opt.rich", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(stored().await.is_empty());
    // A transport without a connection test says so.
    let r = b.submit("/transports", "/transports/test/test", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = b.get("/transports").await;
    assert!(
        page.body
            .contains("test: this transport has no connection test"),
        "{}",
        page.body
    );
    // Unknown transports are refused.
    let r = b
        .submit("/transports", "/transports/nope/disable", &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        b.get("/transports")
            .await
            .body
            .contains("no transport named")
    );
}

#[tokio::test]
async fn policy_is_saved() {
    let env = env().await;
    let mut b = logged_in(&env).await;
    let page = b.get("/access").await;
    assert!(page.body.contains("<h1>Policy</h1>"), "{}", page.body);
    assert!(page.body.contains(">Save</button>"), "{}", page.body);
    // The store's defaults are shown.
    assert!(
        !page
            .body
            .contains(r#"name="always_online_default" value="on" checked"#),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(&format!(
            r#"name="always_online_limit" type="number" min="0" max="1000000" step="1" required value="{}""#,
            pontoon_store::DEFAULT_ALWAYS_ONLINE_LIMIT
        )),
        "{}",
        page.body
    );
    let r = b
        .post(
            "/transports/test/access",
            &[
                ("csrf", &page.csrf()),
                ("manual_registration_only", "on"),
                ("allowed_servers", "Example.org\n\nexample.net\n"),
                ("allow_list", "alice@example.org\nexample.com"),
                ("history_days", "7"),
                ("history_per_room", "0"),
                ("always_online_default", "on"),
                ("always_online_limit", "5"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let p = env.store.transport_policy("test").await.unwrap().unwrap();
    assert!(!p.public_registration, "unchecked box");
    assert!(p.manual_registration_only);
    assert_eq!(p.allowed_servers, ["example.org", "example.net"]);
    assert_eq!(p.allow_list, ["alice@example.org", "example.com"]);
    assert_eq!((p.history_days, p.history_per_room), (7, 0));
    assert_eq!((p.always_online_default, p.always_online_limit), (true, 5));
    let page = b.get("/access").await;
    assert!(
        page.body.contains("The policy of test is saved."),
        "{}",
        page.body
    );
    assert!(page.body.contains("alice@example.org"));
    assert!(
        page.body
            .contains(r#"name="always_online_default" value="on" checked"#),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(
            r#"name="always_online_limit" type="number" min="0" max="1000000" step="1" required value="5""#
        ),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(
            r#"name="history_days" type="number" min="0" max="36500" step="1" required value="7""#
        ),
        "{}",
        page.body
    );
    // Limits out of bounds or not numbers are refused and nothing changes.
    for (key, value, why) in [
        (
            "history_days",
            "36501",
            "history_days: 36501 is more than 36500",
        ),
        (
            "history_per_room",
            "lots",
            "is not a whole number (0 or more)",
        ),
        (
            "always_online_limit",
            "1000001",
            "always_online_limit: 1000001 is more than 1000000",
        ),
        (
            "always_online_limit",
            "-1",
            // The value is quoted (escaped in the page): the key and the reason.
            "always_online_limit: ",
        ),
    ] {
        b.submit(
            "/access",
            "/transports/test/access",
            &[
                ("manual_registration_only", "on"),
                ("allowed_servers", "example.org\nexample.net"),
                ("allow_list", "alice@example.org\nexample.com"),
                (key, value),
            ],
        )
        .await;
        let page = b.get("/access").await;
        assert!(page.body.contains(why), "{}", page.body);
        assert_eq!(
            env.store.transport_policy("test").await.unwrap().unwrap(),
            p
        );
    }
    // A bad entry is refused and nothing changes.
    b.submit(
        "/access",
        "/transports/test/access",
        &[("allowed_servers", "user@example.org")],
    )
    .await;
    assert!(
        b.get("/access")
            .await
            .body
            .contains("is not a server domain")
    );
    let p2 = env.store.transport_policy("test").await.unwrap().unwrap();
    assert_eq!(p, p2);
    // Unchecked, staying online while away is off; an absent limit keeps the stored one.
    b.submit(
        "/access",
        "/transports/test/access",
        &[("manual_registration_only", "on")],
    )
    .await;
    let p3 = env.store.transport_policy("test").await.unwrap().unwrap();
    assert_eq!(
        (p3.always_online_default, p3.always_online_limit),
        (false, 5)
    );
}

#[tokio::test]
async fn registrations_add_edit_delete_without_showing_passwords() {
    let env = env().await;
    let mut b = logged_in(&env).await;
    let r = b
        .submit(
            "/registrations",
            "/registrations",
            &[
                ("jid", "Alice@Localhost"),
                ("transport", "test"),
                ("legacy_id", "Alice"),
                ("password", "s3cret-pw"),
                ("options", ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let list = b.get("/registrations").await;
    assert!(list.body.contains("alice@localhost"), "{}", list.body);
    assert_eq!(list.body.matches("<select name=\"transport\"").count(), 1);
    assert!(list.body.contains("is registered with test"));
    assert!(!list.body.contains("s3cret-pw"));
    let reg = env
        .store
        .registration("alice@localhost", "test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reg.legacy_id, "alice", "normalised by the transport");
    assert_eq!(reg.secret.as_deref(), Some("s3cret-pw"));

    // A bad JID and a duplicate are refused with a message.
    b.submit(
        "/registrations",
        "/registrations",
        &[
            ("jid", "example.org"),
            ("transport", "test"),
            ("legacy_id", "x"),
        ],
    )
    .await;
    assert!(
        b.get("/registrations")
            .await
            .body
            .contains("a user&#39;s bare JID")
    );
    b.submit(
        "/registrations",
        "/registrations",
        &[
            ("jid", "alice@localhost"),
            ("transport", "test"),
            ("legacy_id", "y"),
        ],
    )
    .await;
    assert!(
        b.get("/registrations")
            .await
            .body
            .contains("already registered")
    );

    let edit = b.get("/registrations/test/alice@localhost").await;
    assert_eq!(edit.status, StatusCode::OK);
    assert!(edit.body.contains("value=\"alice\""));
    assert!(!edit.body.contains("s3cret-pw"), "write-only password");
    // Empty password keeps it.
    b.submit(
        "/registrations/test/alice@localhost",
        "/registrations/test/alice@localhost",
        &[("legacy_id", "alice2"), ("password", "")],
    )
    .await;
    let reg = env
        .store
        .registration("alice@localhost", "test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reg.legacy_id, "alice2");
    assert_eq!(reg.secret.as_deref(), Some("s3cret-pw"));
    b.submit(
        "/registrations/test/alice@localhost",
        "/registrations/test/alice@localhost",
        &[("legacy_id", "alice2"), ("clear_password", "on")],
    )
    .await;
    let reg = env
        .store
        .registration("alice@localhost", "test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reg.secret, None);
    assert_eq!(
        b.get("/registrations/test/nobody@localhost").await.status,
        StatusCode::NOT_FOUND
    );

    // Asked again first: nothing is deleted until confirmed.
    let r = b
        .submit(
            "/registrations/test/alice@localhost",
            "/registrations/test/alice@localhost/delete",
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body
            .contains("Delete the registration of alice@localhost with test?"),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("href=\"/registrations/test/alice@localhost\" id=\"cancel\"")
    );
    assert!(
        env.store
            .registration("alice@localhost", "test")
            .await
            .unwrap()
            .is_some()
    );
    let r = b
        .submit(
            "/registrations/test/alice@localhost",
            "/registrations/test/alice@localhost/delete",
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        env.store
            .registration("alice@localhost", "test")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn registrations_search_and_pages() {
    let env = env().await;
    for i in 0..60 {
        env.store
            .put_registration(&Registration::new(
                format!("user{i:02}@example.org"),
                "test",
                format!("nick{i:02}"),
            ))
            .await
            .unwrap();
    }
    let mut b = logged_in(&env).await;
    let p1 = b.get("/registrations").await;
    assert!(p1.body.contains("60 registration(s)"), "{}", p1.body);
    assert!(p1.body.contains("page 1 of 2"), "{}", p1.body);
    assert!(p1.body.contains("user49@example.org") && !p1.body.contains("user50@example.org"));
    assert!(p1.body.contains("rel=\"next\""));
    let p2 = b.get("/registrations?page=2").await;
    assert!(p2.body.contains("user59@example.org") && !p2.body.contains("user00@example.org"));
    let s = b.get("/registrations?q=NICK1&in_transport=test").await;
    assert!(s.body.contains("10 registration(s)"), "{}", s.body);
    let s = b.get("/registrations?in_transport=nope").await;
    assert!(s.body.contains("0 registration(s)"));
    // Page size, order, and the links keep both.
    let s = b
        .get("/registrations?per_page=25&sort=jid&order=desc")
        .await;
    assert!(s.body.contains("page 1 of 3"), "{}", s.body);
    assert!(s.body.contains("user59@example.org") && !s.body.contains("user34@example.org"));
    let before = s.body.split("id=\"next-page\"").next().unwrap_or_default();
    let next = before.rsplit("href=\"").next().unwrap_or_default();
    assert!(
        next.contains("sort=jid") && next.contains("order=desc") && next.contains("per_page=25"),
        "{next}"
    );
    // Nobody is online: everyone is offline, nobody ever logged in.
    let s = b.get("/registrations?online=yes").await;
    assert!(s.body.contains("0 registration(s)"), "{}", s.body);
    let s = b.get("/registrations?online=no&per_page=200").await;
    assert!(s.body.contains("60 registration(s)"), "{}", s.body);
    assert!(s.body.contains("<span class=\"badge off\">offline</span>"));
    assert!(s.body.contains("<td class=\"last-login\">never</td>"));
    // A hand-edited sort falls back to the usual order.
    assert_eq!(
        b.get("/registrations?sort=nope").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn sessions_are_listed_and_disconnected() {
    let mut env = env().await;
    env.store
        .put_registration(&{
            let mut r = Registration::new("alice@localhost", "test", "alice");
            r.secret = Some("pw".into());
            r
        })
        .await
        .unwrap();
    env.go_online("alice@localhost").await;
    let mut b = logged_in(&env).await;
    let mut page = b.get("/sessions").await;
    for _ in 0..50 {
        if page.body.contains("<td class=\"state\">online</td>") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        page = b.get("/sessions").await;
    }
    assert!(
        page.body
            .contains("<tr data-transport=\"test\" data-user=\"alice@localhost\">"),
        "{}",
        page.body
    );
    assert!(page.body.contains("<td class=\"state\">online</td>"));
    assert!(page.body.contains("<td class=\"legacy-id\">alice</td>"));
    assert!(page.body.contains("<td class=\"resources\">res</td>"));
    assert!(page.body.contains("<td class=\"last-error\"></td>"));
    assert!(page.body.contains("1 session(s)"));
    for (query, shown) in [
        ("q=ALI", true),
        ("q=bob", false),
        ("state=online", true),
        ("state=connecting", false),
        ("page=2", false),
    ] {
        let p = b.get(&format!("/sessions?{query}")).await;
        assert_eq!(
            p.body.contains("data-user=\"alice@localhost\""),
            shown,
            "{query}"
        );
    }
    assert!(page.body.contains(" UTC</td>"));
    assert!(page.body.contains("class=\"disconnect"));
    let filtered = b.get("/sessions?transport=other").await;
    assert!(!filtered.body.contains("data-user=\"alice@localhost\""));

    let r = b
        .post(
            "/sessions/test/alice@localhost/disconnect",
            &[("csrf", &page.csrf())],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    env.expect("unavailable from the transport", |e| {
        e.attr("type") == Some("unavailable") && e.attr("from") == Some("test.localhost")
    })
    .await;
    // A second disconnect finds nobody.
    for _ in 0..50 {
        if env.control.sessions().await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.submit(
        "/sessions",
        "/sessions/test/alice@localhost/disconnect",
        &[],
    )
    .await;
    assert!(b.get("/sessions").await.body.contains("has no session"));
}

#[tokio::test]
async fn logs_page_and_debug_switch() {
    let env = env().await;
    env.logs.push(LogEntry {
        seq: 0,
        user: None,
        time_ms: 1_700_000_000_123,
        level: tracing::Level::WARN,
        target: "pontoon_core::service".into(),
        transport: Some("test".into()),
        message: "something <odd> happened".into(),
    });
    let mut b = logged_in(&env).await;
    let page = b.get("/logs").await;
    assert!(page.body.contains("<h1>Logs</h1>"));
    assert!(
        page.body.contains("something &#60;odd&#62; happened")
            || page.body.contains("something &lt;odd&gt; happened"),
        "{}",
        page.body
    );
    assert!(page.body.contains("2023-11-14 22:13:20.123 UTC"));
    assert!(page.body.contains("id=\"debug-on-test\""));
    let r = b
        .post(
            "/transports/test/debug",
            &[("csrf", &page.csrf()), ("enabled", "on")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(env.filter.debug_transports(), ["test"]);
    assert!(
        env.store
            .transport_policy("test")
            .await
            .unwrap()
            .unwrap()
            .debug_logging
    );
    let page = b.get("/logs").await;
    assert!(page.body.contains("id=\"debug-off-test\""));
    b.post(
        "/transports/test/debug",
        &[("csrf", &page.csrf()), ("enabled", "off")],
    )
    .await;
    assert!(env.filter.debug_transports().is_empty());
    let none = b.get("/logs?level=error").await;
    assert!(!none.body.contains("something"));
    let some = b.get("/logs?transport=test&level=warn").await;
    assert!(some.body.contains("something"));

    // Each row names its user; 100 rows a page, older and newer.
    for i in 0..150 {
        env.logs.push(LogEntry {
            seq: 0,
            user: Some(format!("user{i}@localhost")),
            time_ms: 1_700_000_001_000 + i,
            level: tracing::Level::INFO,
            target: "t".into(),
            transport: Some("test".into()),
            message: format!("numbered event {i}."),
        });
    }
    let first = b.get("/logs?transport=test").await;
    assert!(
        first
            .body
            .contains("<td class=\"user\">user149@localhost</td>")
    );
    assert!(
        first.body.contains("numbered event 50.") && !first.body.contains("numbered event 49.")
    );
    assert!(
        first.body.contains("class=\"older-page\"") && !first.body.contains("class=\"newer-page\"")
    );
    let older = first
        .body
        .split("class=\"older-page\"")
        .next()
        .and_then(|b| b.rsplit("href=\"").next())
        .and_then(|h| h.split('"').next())
        .unwrap()
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    let second = b.get(&older).await;
    assert!(
        second.body.contains("numbered event 49.") && !second.body.contains("numbered event 50.")
    );
    assert!(
        second.body.contains("something"),
        "the older page reaches the first event"
    );
    assert!(
        second.body.contains("class=\"newer-page\"")
            && !second.body.contains("class=\"older-page\"")
    );
}

#[tokio::test]
async fn unknown_pages_and_the_stylesheet() {
    let env = env().await;
    let mut b = Browser::new(&env);
    let r = b.get("/nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.header("content-security-policy").is_some());
    let css = b.get("/assets/console.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
}
