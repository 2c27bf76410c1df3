//! The store's behaviour suite, written once against `&Store` and run on SQLite always and
//! on PostgreSQL when `PONTOON_TEST_POSTGRES_URL` is set (each PostgreSQL run works in a
//! fresh schema, dropped afterwards, so reruns and parallel runs don't collide).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{AnyPool, Row};

use crate::{Registration, RegistrationQuery, Store, StoreError, StoreKey, TransportPolicy};

const PG_ENV: &str = "PONTOON_TEST_POSTGRES_URL";

fn key() -> StoreKey {
    StoreKey::from_bytes([0x5a; 32])
}

fn reg(jid: &str, transport: &str, legacy: &str, secret: Option<&str>) -> Registration {
    let mut r = Registration::new(jid, transport, legacy);
    r.secret = secret.map(str::to_owned);
    r
}

// ---------------------------------------------------------------- the suite

async fn put_get_update(store: &Store) {
    assert_eq!(
        store.registration("alice@example.org", "t1").await.unwrap(),
        None
    );
    let mut r = reg("alice@example.org", "t1", "alice", Some("pw-1"));
    r.options.insert("network".into(), "irc.libera.chat".into());
    r.created_at = 1; // ignored by the store
    store.put_registration(&r).await.unwrap();

    let got = store
        .registration("alice@example.org", "t1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.legacy_id, "alice");
    assert_eq!(got.secret.as_deref(), Some("pw-1"));
    assert_eq!(
        got.options.get("network").map(String::as_str),
        Some("irc.libera.chat")
    );
    assert!(got.created_at > 1_600_000_000, "created_at set by store");
    assert_eq!(got.created_at, got.updated_at);

    // Pretend the first put happened long ago, to observe created_at preservation.
    sqlx::query("UPDATE registrations SET created_at = 1000, updated_at = 1000 WHERE jid = $1")
        .bind("alice@example.org")
        .execute(&store.pool)
        .await
        .unwrap();
    let mut r2 = got.clone();
    r2.legacy_id = "alice_".into();
    r2.secret = Some("pw-2 ünïcode".into());
    r2.options.insert("tls".into(), "true".into());
    store.put_registration(&r2).await.unwrap();
    let got2 = store
        .registration("alice@example.org", "t1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got2.created_at, 1000, "created_at preserved on update");
    assert!(got2.updated_at > 1000, "updated_at refreshed");
    assert_eq!(got2.legacy_id, "alice_");
    assert_eq!(got2.secret.as_deref(), Some("pw-2 ünïcode"));
    assert_eq!(got2.options.len(), 2);

    // secret None => NULL
    let mut r3 = got2.clone();
    r3.secret = None;
    store.put_registration(&r3).await.unwrap();
    let got3 = store
        .registration("alice@example.org", "t1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got3.secret, None);

    // by legacy id; old legacy id is free again
    let by = store
        .registration_by_legacy_id("t1", "alice_")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by.jid, "alice@example.org");
    assert_eq!(
        store
            .registration_by_legacy_id("t1", "alice")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .registration_by_legacy_id("other", "alice_")
            .await
            .unwrap(),
        None
    );
}

async fn legacy_id_taken(store: &Store) {
    store
        .put_registration(&reg("a@x.org", "t2", "shared", Some("a")))
        .await
        .unwrap();
    let err = store
        .put_registration(&reg("b@x.org", "t2", "shared", Some("b")))
        .await
        .unwrap_err();
    match err {
        StoreError::LegacyIdTaken {
            transport,
            legacy_id,
        } => {
            assert_eq!((transport.as_str(), legacy_id.as_str()), ("t2", "shared"));
        }
        other => panic!("expected LegacyIdTaken, got {other:?}"),
    }
    // The database's own unique-violation (what a lost race produces) is recognised.
    let raw = sqlx::query(
        "INSERT INTO registrations (jid, transport, legacy_id, options, created_at, updated_at)
         VALUES ('c@x.org', 't2', 'shared', '{}', 0, 0)",
    )
    .execute(&store.pool)
    .await
    .unwrap_err();
    assert!(crate::registrations::is_legacy_id_violation(&raw), "{raw}");
    // b got nothing, a untouched
    assert_eq!(store.registration("b@x.org", "t2").await.unwrap(), None);
    let a = store.registration("a@x.org", "t2").await.unwrap().unwrap();
    assert_eq!(a.secret.as_deref(), Some("a"));
    // same legacy id on another transport is fine; same jid re-putting its own id is fine
    store
        .put_registration(&reg("b@x.org", "t2b", "shared", None))
        .await
        .unwrap();
    store
        .put_registration(&reg("a@x.org", "t2", "shared", Some("a2")))
        .await
        .unwrap();
    // a moves away, then b may take it
    store
        .put_registration(&reg("a@x.org", "t2", "other", None))
        .await
        .unwrap();
    store
        .put_registration(&reg("b@x.org", "t2", "shared", None))
        .await
        .unwrap();
}

/// Many concurrent puts for one legacy id from different JIDs: exactly one wins, the others
/// get LegacyIdTaken (pre-check or mapped unique violation), never a raw database error.
async fn legacy_id_race(store: &Store) {
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            s.put_registration(&reg(
                &format!("racer{i}@x.org"),
                "race",
                "prize",
                Some("pw"),
            ))
            .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::LegacyIdTaken { .. }) => {}
            Err(e) => panic!("unexpected error in race: {e:?}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(store.count_registrations(Some("race")).await.unwrap(), 1);
}

async fn delete(store: &Store) {
    store
        .put_registration(&reg("d@x.org", "t3", "d", None))
        .await
        .unwrap();
    assert!(store.delete_registration("d@x.org", "t3").await.unwrap());
    assert!(!store.delete_registration("d@x.org", "t3").await.unwrap());
    assert_eq!(store.registration("d@x.org", "t3").await.unwrap(), None);
}

async fn list_and_count(store: &Store) {
    let total_before = store.count_registrations(None).await.unwrap();
    // Inserted out of order; listing sorts by jid then transport.
    for (jid, t, l) in [
        ("carol@b.org", "lt", "Carol_100%"),
        ("alice@a.org", "lt", "alice"),
        ("bob@a.org", "lt", "BOBBY"),
        ("alice@a.org", "lt2", "alice"),
        ("dave@c.org", "lt", "d_ave"),
    ] {
        store
            .put_registration(&reg(jid, t, l, Some("s")))
            .await
            .unwrap();
    }
    assert_eq!(store.count_registrations(Some("lt")).await.unwrap(), 4);
    assert_eq!(store.count_registrations(Some("lt2")).await.unwrap(), 1);
    assert_eq!(store.count_registrations(Some("nope")).await.unwrap(), 0);
    assert_eq!(
        store.count_registrations(None).await.unwrap(),
        total_before + 5
    );

    let names = |v: Vec<Registration>| {
        v.into_iter()
            .map(|r| format!("{}/{}", r.jid, r.transport))
            .collect::<Vec<_>>()
    };
    let q = |transport: Option<&str>, search: Option<&str>, limit, offset| RegistrationQuery {
        transport: transport.map(str::to_owned),
        search: search.map(str::to_owned),
        limit,
        offset,
        ..Default::default()
    };
    let all_lt = store
        .list_registrations(&q(Some("lt"), None, 0, 0))
        .await
        .unwrap();
    assert_eq!(
        names(all_lt),
        [
            "alice@a.org/lt",
            "bob@a.org/lt",
            "carol@b.org/lt",
            "dave@c.org/lt"
        ]
    );
    // paging
    let p1 = store
        .list_registrations(&q(Some("lt"), None, 2, 0))
        .await
        .unwrap();
    let p2 = store
        .list_registrations(&q(Some("lt"), None, 2, 2))
        .await
        .unwrap();
    let p3 = store
        .list_registrations(&q(Some("lt"), None, 2, 4))
        .await
        .unwrap();
    assert_eq!(names(p1), ["alice@a.org/lt", "bob@a.org/lt"]);
    assert_eq!(names(p2), ["carol@b.org/lt", "dave@c.org/lt"]);
    assert!(p3.is_empty());
    // search: case-insensitive, on jid or legacy id
    let s = store
        .list_registrations(&q(None, Some("ALICE@A"), 0, 0))
        .await
        .unwrap();
    assert_eq!(names(s), ["alice@a.org/lt", "alice@a.org/lt2"]);
    let s = store
        .list_registrations(&q(Some("lt"), Some("bobby"), 0, 0))
        .await
        .unwrap();
    assert_eq!(names(s), ["bob@a.org/lt"]);
    let s = store
        .list_registrations(&q(Some("lt"), Some("@A.ORG"), 0, 0))
        .await
        .unwrap();
    assert_eq!(names(s), ["alice@a.org/lt", "bob@a.org/lt"]);
    // LIKE metacharacters are literal
    let s = store
        .list_registrations(&q(Some("lt"), Some("100%"), 0, 0))
        .await
        .unwrap();
    assert_eq!(names(s), ["carol@b.org/lt"]);
    let s = store
        .list_registrations(&q(Some("lt"), Some("d_a"), 0, 0))
        .await
        .unwrap();
    assert_eq!(names(s), ["dave@c.org/lt"]);
    let s = store
        .list_registrations(&q(Some("lt"), Some("_"), 0, 0))
        .await
        .unwrap();
    assert_eq!(names(s), ["carol@b.org/lt", "dave@c.org/lt"]);
    // counting uses the same filter as listing
    let count = |transport: Option<&str>, search: Option<&str>| {
        let query = q(transport, search, 1, 3);
        async move { store.count_registrations_matching(&query).await.unwrap() }
    };
    assert_eq!(count(Some("lt"), None).await, 4);
    assert_eq!(count(Some("lt2"), None).await, 1);
    assert_eq!(count(None, None).await, total_before + 5);
    assert_eq!(count(None, Some("ALICE@A")).await, 2);
    assert_eq!(count(Some("lt"), Some("@A.ORG")).await, 2);
    assert_eq!(count(Some("lt"), Some("100%")).await, 1);
    assert_eq!(count(Some("lt"), Some("_")).await, 2);
    assert_eq!(count(Some("nope"), Some("a")).await, 0);
    // secrets decrypt in listings too
    let s = store
        .list_registrations(&q(Some("lt2"), None, 0, 0))
        .await
        .unwrap();
    assert_eq!(s[0].secret.as_deref(), Some("s"));
}

async fn policies(store: &Store) {
    assert_eq!(store.transport_policy("pt").await.unwrap(), None);
    let defaults = TransportPolicy::default();
    assert!(
        !defaults.enabled && defaults.public_registration && !defaults.manual_registration_only
    );

    let mut seed = TransportPolicy {
        enabled: true,
        allowed_servers: vec!["example.org".into(), "example.net".into()],
        ..TransportPolicy::default()
    };
    seed.options
        .insert("connect_host".into(), "irc.libera.chat".into());
    seed.options.insert("connect_port".into(), "6697".into());
    let in_force = store.seed_transport_policy("pt", &seed).await.unwrap();
    assert_eq!(in_force, seed);
    assert_eq!(
        store.transport_policy("pt").await.unwrap(),
        Some(seed.clone())
    );

    // Operator edits at run time...
    let edited = TransportPolicy {
        enabled: false,
        public_registration: false,
        manual_registration_only: true,
        allowed_servers: vec![],
        allow_list: vec!["boss@example.org".into(), "friends.example".into()],
        debug_logging: true,
        options: BTreeMap::from([("tls".to_owned(), "required".to_owned())]),
        history_days: 0,
        history_per_room: 7,
        always_online_default: true,
        always_online_limit: 3,
    };
    store.put_transport_policy("pt", &edited).await.unwrap();
    // ...and a later start seeding from TOML does not override them.
    let in_force = store.seed_transport_policy("pt", &seed).await.unwrap();
    assert_eq!(in_force, edited);
    assert_eq!(
        store.transport_policy("pt").await.unwrap(),
        Some(edited.clone())
    );

    // put on a fresh transport inserts
    store
        .put_transport_policy("pt2", &TransportPolicy::default())
        .await
        .unwrap();
    assert_eq!(
        store.transport_policy("pt2").await.unwrap(),
        Some(TransportPolicy::default())
    );
    let all = store.transport_policies().await.unwrap();
    let names: Vec<_> = all.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(names, ["pt", "pt2"]);

    // Read-modify-write in one transaction: a fresh transport starts from the default...
    let (before, after) = store
        .update_transport_policy("pt3", |p| p.enabled = true)
        .await
        .unwrap();
    assert_eq!(before, TransportPolicy::default());
    assert!(after.enabled && after.public_registration);
    assert_eq!(store.transport_policy("pt3").await.unwrap(), Some(after));
    // ...and concurrent changes of different fields all survive.
    let flips = |n: usize, field: fn(&mut TransportPolicy, usize)| async move {
        for i in 0..n {
            store
                .update_transport_policy("pt3", |p| field(p, i))
                .await
                .unwrap();
        }
    };
    tokio::join!(
        flips(10, |p, i| {
            p.options.insert(format!("a{i}"), "1".into());
        }),
        flips(10, |p, i| {
            p.allow_list.push(format!("u{i}@example.org"));
        }),
    );
    let p = store.transport_policy("pt3").await.unwrap().unwrap();
    assert_eq!(p.options.len(), 10, "{p:?}");
    assert_eq!(p.allow_list.len(), 10, "{p:?}");
    assert!(p.enabled);
}

async fn secret_not_plaintext(store: &Store) {
    let secret = "correct horse battery staple";
    store
        .put_registration(&reg("e@x.org", "t4", "e", Some(secret)))
        .await
        .unwrap();
    let row =
        sqlx::query("SELECT secret, options FROM registrations WHERE jid = $1 AND transport = $2")
            .bind("e@x.org")
            .bind("t4")
            .fetch_one(&store.pool)
            .await
            .unwrap();
    let blob: Vec<u8> = row.try_get("secret").unwrap();
    assert!(blob.len() >= 24 + secret.len() + 16);
    assert!(!blob.windows(secret.len()).any(|w| w == secret.as_bytes()));
    assert!(!blob.windows(7).any(|w| w == b"correct"));

    // A ciphertext copied onto another row does not decrypt there (AAD binds the row).
    store
        .put_registration(&reg("f@x.org", "t4", "f", Some("other")))
        .await
        .unwrap();
    sqlx::query("UPDATE registrations SET secret = $1 WHERE jid = $2 AND transport = $3")
        .bind(blob)
        .bind("f@x.org")
        .bind("t4")
        .execute(&store.pool)
        .await
        .unwrap();
    assert!(matches!(
        store.registration("f@x.org", "t4").await,
        Err(StoreError::Crypto(_))
    ));
    store.delete_registration("f@x.org", "t4").await.unwrap();
}

async fn fingerprint_changes(store: &Store) {
    let empty = store.registrations_fingerprint("t9").await.unwrap();
    store
        .put_registration(&reg("g@x.org", "t9", "g", None))
        .await
        .unwrap();
    let one = store.registrations_fingerprint("t9").await.unwrap();
    assert_ne!(empty, one, "an insert changes the fingerprint");
    store
        .put_registration(&reg("g@x.org", "t9", "g2", None))
        .await
        .unwrap();
    let edited = store.registrations_fingerprint("t9").await.unwrap();
    assert_ne!(one, edited, "an edit within the same second changes it too");
    store.delete_registration("g@x.org", "t9").await.unwrap();
    let deleted = store.registrations_fingerprint("t9").await.unwrap();
    assert_ne!(deleted, edited, "a delete changes it");
    assert_ne!(deleted, empty, "an insert and a delete never cancel out");
}

async fn admins(store: &Store) {
    assert_eq!(store.count_admins().await.unwrap(), 0, "no default account");
    assert!(store.list_admins().await.unwrap().is_empty());
    assert!(!store.verify_admin("root", "root").await.unwrap());

    store.put_admin("root", "correct horse").await.unwrap();
    store.put_admin("ädmin", "battery staple").await.unwrap();
    assert_eq!(store.count_admins().await.unwrap(), 2);
    assert!(store.verify_admin("root", "correct horse").await.unwrap());
    assert!(!store.verify_admin("root", "battery staple").await.unwrap());
    assert!(!store.verify_admin("ädmin", "correct horse").await.unwrap());
    assert!(store.verify_admin("ädmin", "battery staple").await.unwrap());
    assert!(!store.verify_admin("nobody", "correct horse").await.unwrap());
    assert!(!store.verify_admin("has space", "x").await.unwrap());
    let long = "x".repeat(crate::MAX_PASSWORD_BYTES + 1);
    assert!(!store.verify_admin("root", &long).await.unwrap());

    // Only the PHC string is stored, never the password.
    let stored: String =
        sqlx::query_scalar("SELECT password_hash FROM admin_accounts WHERE name = 'root'")
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(!stored.contains("correct horse"));

    // The revision: read with the hash on a right password, and on its own.
    let rev = store.admin_updated_at("root").await.unwrap().unwrap();
    assert!(rev > 1_600_000_000);
    assert_eq!(
        store.check_admin("root", "correct horse").await.unwrap(),
        Some(rev)
    );
    assert_eq!(store.check_admin("root", "wrong").await.unwrap(), None);
    assert_eq!(store.check_admin("nobody", "x").await.unwrap(), None);
    assert_eq!(store.admin_updated_at("nobody").await.unwrap(), None);
    assert_eq!(store.admin_updated_at("has space").await.unwrap(), None);

    // Resetting the password keeps the account's creation time and moves the revision
    // forward, even twice within one second.
    sqlx::query("UPDATE admin_accounts SET created_at = 1000 WHERE name = 'root'")
        .execute(&store.pool)
        .await
        .unwrap();
    store.put_admin("root", "new password").await.unwrap();
    let rev2 = store.admin_updated_at("root").await.unwrap().unwrap();
    assert!(rev2 > rev, "{rev2} > {rev}");
    store.put_admin("root", "new password").await.unwrap();
    let rev3 = store.admin_updated_at("root").await.unwrap().unwrap();
    assert!(rev3 > rev2, "{rev3} > {rev2}");
    assert!(!store.verify_admin("root", "correct horse").await.unwrap());
    assert!(store.verify_admin("root", "new password").await.unwrap());
    let list = store.list_admins().await.unwrap();
    assert_eq!(
        list.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["root", "ädmin"]
    );
    assert_eq!(list[0].created_at, 1000);
    assert_eq!(
        list[0].updated_at, rev3,
        "the listed revision is the latest"
    );
    assert!(list[1].created_at > 1_600_000_000);

    for bad in ["", "a b", "tab\there", &"n".repeat(65)] {
        assert!(
            matches!(
                store.put_admin(bad, "pw").await,
                Err(StoreError::InvalidName { .. })
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        store.put_admin("root", "").await,
        Err(StoreError::InvalidPassword(_))
    ));
    assert!(matches!(
        store.put_admin("root", &long).await,
        Err(StoreError::InvalidPassword(_))
    ));

    assert!(store.admin_updated_at("ädmin").await.unwrap().is_some());
    assert!(store.delete_admin("ädmin").await.unwrap());
    assert_eq!(store.admin_updated_at("ädmin").await.unwrap(), None);
    assert!(!store.delete_admin("ädmin").await.unwrap());
    assert!(!store.verify_admin("ädmin", "battery staple").await.unwrap());
    assert_eq!(store.count_admins().await.unwrap(), 1);
    assert!(store.delete_admin("root").await.unwrap());
    assert_eq!(store.count_admins().await.unwrap(), 0);
}

async fn api_tokens(store: &Store) {
    assert!(store.list_api_tokens().await.unwrap().is_empty());
    let ci = store.create_api_token("ci").await.unwrap();
    let ops = store.create_api_token("ops-bot").await.unwrap();
    assert!(ci.starts_with(crate::TOKEN_PREFIX), "{ci}");
    assert_eq!(ci.len(), 4 + 43, "32 bytes, base64url without padding");
    assert!(
        ci[4..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    );
    assert_ne!(ci, ops);

    // Only the digest is stored.
    let rows = sqlx::query("SELECT token_sha256 FROM api_tokens")
        .fetch_all(&store.pool)
        .await
        .unwrap();
    for r in &rows {
        let h: String = r.try_get("token_sha256").unwrap();
        assert_eq!(h.len(), 64);
        assert!(!h.contains(&ci[4..]) && !h.contains(&ops[4..]));
    }

    match store.create_api_token("ci").await {
        Err(StoreError::TokenNameTaken(n)) => assert_eq!(n, "ci"),
        other => panic!("expected TokenNameTaken, got {other:?}"),
    }
    assert!(matches!(
        store.create_api_token("two words").await,
        Err(StoreError::InvalidName { .. })
    ));

    let listed = store.list_api_tokens().await.unwrap();
    assert_eq!(
        listed.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["ci", "ops-bot"]
    );
    assert!(listed.iter().all(|t| t.last_used_at.is_none()));

    assert_eq!(
        store.verify_api_token(&ci).await.unwrap().as_deref(),
        Some("ci")
    );
    assert_eq!(
        store.verify_api_token(&ops).await.unwrap().as_deref(),
        Some("ops-bot")
    );
    assert_eq!(store.verify_api_token("pnt_nope").await.unwrap(), None);
    assert_eq!(store.verify_api_token("").await.unwrap(), None);
    assert_eq!(store.verify_api_token(&ci[4..]).await.unwrap(), None);
    let mut tampered = ci.clone();
    tampered.push('A');
    assert_eq!(store.verify_api_token(&tampered).await.unwrap(), None);

    let used = store.list_api_tokens().await.unwrap();
    let first_use = used[0].last_used_at.expect("use recorded");
    assert!(first_use > 1_600_000_000);
    // Within the minute the use is not written again; after it, it is.
    sqlx::query("UPDATE api_tokens SET last_used_at = 5000 WHERE name = 'ci'")
        .execute(&store.pool)
        .await
        .unwrap();
    store.verify_api_token(&ci).await.unwrap();
    let refreshed = store.list_api_tokens().await.unwrap()[0].last_used_at;
    assert!(refreshed.unwrap() > 5000, "stale use refreshed");
    let now = crate::now();
    sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE name = 'ci'")
        .bind(now - 10)
        .execute(&store.pool)
        .await
        .unwrap();
    store.verify_api_token(&ci).await.unwrap();
    assert_eq!(
        store.list_api_tokens().await.unwrap()[0].last_used_at,
        Some(now - 10),
        "a recent use is not rewritten"
    );

    assert!(store.revoke_api_token("ci").await.unwrap());
    assert!(!store.revoke_api_token("ci").await.unwrap());
    assert_eq!(store.verify_api_token(&ci).await.unwrap(), None);
    assert_eq!(
        store.verify_api_token(&ops).await.unwrap().as_deref(),
        Some("ops-bot")
    );
    // The name is free again, and the new token differs from the revoked one.
    let ci2 = store.create_api_token("ci").await.unwrap();
    assert_ne!(ci2, ci);
    assert_eq!(store.verify_api_token(&ci).await.unwrap(), None);
    assert_eq!(
        store.verify_api_token(&ci2).await.unwrap().as_deref(),
        Some("ci")
    );
    store.revoke_api_token("ci").await.unwrap();
    store.revoke_api_token("ops-bot").await.unwrap();
}

async fn run_suite(store: &Store) {
    fingerprint_changes(store).await;
    put_get_update(store).await;
    legacy_id_taken(store).await;
    legacy_id_race(store).await;
    delete(store).await;
    list_and_count(store).await;
    crate::listing_tests::order_online_and_last_login(store).await;
    crate::audit::tests::suite(store).await;
    policies(store).await;
    secret_not_plaintext(store).await;
    admins(store).await;
    api_tokens(store).await;
    rosters(store).await;
    account_data(store).await;
    message_ids(store).await;
    transport_state(store).await;
    crate::badges::tests::suite(store).await;
    crate::archive::tests::suite(store).await;
    always_online(store).await;
    crate::offline::tests::suite(store).await;
    crate::outbox::tests::suite(store).await;
    crate::cluster::tests::suite(store).await;
}

async fn transport_state(store: &Store) {
    use crate::{MAX_STATE_KEYS, MAX_STATE_VALUE_BYTES};
    let (t, a) = ("matrix", "state@example.org");
    assert_eq!(store.transport_state(t, a, "sync").await.unwrap(), None);
    store
        .put_transport_state(t, a, "sync", b"s1")
        .await
        .unwrap();
    store
        .put_transport_state(t, a, "sync", b"s2")
        .await
        .unwrap();
    assert_eq!(
        store
            .transport_state(t, a, "sync")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"s2"[..])
    );
    // Another account, another transport: their own.
    assert_eq!(
        store
            .transport_state(t, "other@example.org", "sync")
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.transport_state("irc", a, "sync").await.unwrap(), None);
    // Encrypted at rest: a value long enough that random ciphertext cannot hold it by
    // chance (two bytes, as "s2", turned up in about one run in two thousand).
    let secret = b"a token that must not be stored in clear";
    store
        .put_transport_state(t, a, "token", secret)
        .await
        .unwrap();
    let raw: Vec<u8> =
        sqlx::query_scalar("SELECT value FROM transport_state WHERE account = $1 AND key = $2")
            .bind(a)
            .bind("token")
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert!(!raw.windows(secret.len()).any(|w| w == secret));
    store.delete_transport_state(t, a, "token").await.unwrap();
    // Bounds.
    let big = vec![0u8; MAX_STATE_VALUE_BYTES + 1];
    assert!(matches!(
        store.put_transport_state(t, a, "big", &big).await,
        Err(StoreError::StateTooLarge { .. })
    ));
    for i in 1..MAX_STATE_KEYS {
        store
            .put_transport_state(t, a, &format!("k{i}"), b"v")
            .await
            .unwrap();
    }
    assert!(matches!(
        store.put_transport_state(t, a, "one-too-many", b"v").await,
        Err(StoreError::StateTooLarge { .. })
    ));
    // Replacing an existing key is still allowed at the bound.
    store
        .put_transport_state(t, a, "sync", b"s3")
        .await
        .unwrap();
    store.delete_transport_state(t, a, "k1").await.unwrap();
    assert_eq!(store.transport_state(t, a, "k1").await.unwrap(), None);
    // Unregistering deletes it all.
    store
        .put_registration(&reg(a, t, "@state:example.org", Some("pw")))
        .await
        .unwrap();
    assert!(store.delete_registration(a, t).await.unwrap());
    assert_eq!(store.transport_state(t, a, "sync").await.unwrap(), None);
}

async fn message_ids(store: &Store) {
    use crate::{ChatKey, MAX_MESSAGE_ID_BYTES, MappedMessage, XmppIds};
    let ids = |id: Option<&str>, origin_id: Option<&str>, stanza_id: Option<&str>| XmppIds {
        id: id.map(Into::into),
        origin_id: origin_id.map(Into::into),
        stanza_id: stanza_id.map(Into::into),
        thread: None,
    };
    let just = |id: &str| ids(Some(id), None, None);
    let room = ChatKey {
        transport: "irc",
        account: "alice@example.org",
        chat: "#rust%irc.libera.chat",
    };
    let other_user = ChatKey {
        account: "bob@example.org",
        ..room
    };
    let own = |id: &str| MappedMessage {
        legacy_id: id.into(),
        author: "alice".into(),
        own: true,
    };
    store
        .put_message_ids(
            &room,
            &own("msgid-1"),
            &ids(Some("m1"), Some("origin-1"), Some("stanza-1")),
        )
        .await
        .unwrap();
    assert_eq!(
        store.legacy_message(&room, "origin-1").await.unwrap(),
        Some(own("msgid-1"))
    );
    // Each id comes back as what it is (a receipt names the id, a room reaction the
    // stanza-id), whatever their order.
    assert_eq!(
        store.xmpp_message_ids(&room, "msgid-1").await.unwrap(),
        ids(Some("m1"), Some("origin-1"), Some("stanza-1"))
    );
    // Someone else's message: its author, not the user's.
    let theirs = MappedMessage {
        legacy_id: "msgid-9".into(),
        author: "carol".into(),
        own: false,
    };
    store
        .put_message_ids(
            &room,
            &theirs,
            &ids(Some("stanza-9"), None, Some("stanza-9")),
        )
        .await
        .unwrap();
    assert_eq!(
        store.legacy_message(&room, "stanza-9").await.unwrap(),
        Some(theirs)
    );
    // One value that is both the id and the stanza-id is one row, and both come back.
    assert_eq!(
        store.xmpp_message_ids(&room, "msgid-9").await.unwrap(),
        ids(Some("stanza-9"), None, Some("stanza-9"))
    );
    // Conversations are apart: another user's room of the same name knows nothing of it.
    assert_eq!(
        store.legacy_message(&other_user, "origin-1").await.unwrap(),
        None
    );
    // The room's record (someone else's message, recorded once for every user of the
    // gateway in the room) is found by every user in it; a user's own record of the same
    // message wins for them (their client knows it by its own id too).
    let for_room = ChatKey {
        account: crate::ROOM_ACCOUNT,
        ..room
    };
    let dave = |own| MappedMessage {
        legacy_id: "msgid-7".into(),
        author: "dave".into(),
        own,
    };
    store
        .put_message_ids(
            &for_room,
            &dave(false),
            &ids(Some("stanza-7"), None, Some("stanza-7")),
        )
        .await
        .unwrap();
    for user in [&room, &other_user] {
        assert_eq!(
            store.legacy_message(user, "stanza-7").await.unwrap(),
            Some(dave(false))
        );
        assert_eq!(
            store.xmpp_message_ids(user, "msgid-7").await.unwrap(),
            ids(Some("stanza-7"), None, Some("stanza-7"))
        );
    }
    let daves = ChatKey {
        account: "dave@example.org",
        ..room
    };
    store
        .put_message_ids(
            &daves,
            &dave(true),
            &ids(Some("d1"), Some("d1"), Some("stanza-7")),
        )
        .await
        .unwrap();
    assert_eq!(
        store.legacy_message(&daves, "stanza-7").await.unwrap(),
        Some(dave(true))
    );
    assert_eq!(
        store.xmpp_message_ids(&daves, "msgid-7").await.unwrap(),
        ids(Some("d1"), Some("d1"), Some("stanza-7"))
    );
    assert_eq!(
        store.legacy_message(&other_user, "stanza-7").await.unwrap(),
        Some(dave(false))
    );
    // Where the network has no ids, a room message's legacy id is its stanza-id: found by
    // the key, and the ids its client gave it with it (by the index on legacy ids), the
    // user's record of it overriding the room's.
    let by_stanza_id = |own| MappedMessage {
        legacy_id: "s5".into(),
        author: "erin".into(),
        own,
    };
    store
        .put_message_ids(
            &for_room,
            &by_stanza_id(false),
            &ids(Some("s5"), None, Some("s5")),
        )
        .await
        .unwrap();
    store
        .put_message_ids(
            &daves,
            &by_stanza_id(true),
            &ids(Some("c5"), Some("o5"), Some("s5")),
        )
        .await
        .unwrap();
    assert_eq!(
        store.xmpp_message_ids(&daves, "s5").await.unwrap(),
        ids(Some("c5"), Some("o5"), Some("s5"))
    );
    assert_eq!(
        store.xmpp_message_ids(&room, "s5").await.unwrap(),
        ids(Some("s5"), None, Some("s5"))
    );
    assert_eq!(
        store.legacy_message(&daves, "c5").await.unwrap(),
        Some(by_stanza_id(true))
    );
    // A reused XMPP id names the newest message.
    store
        .put_message_ids(&room, &own("msgid-2"), &just("m1"))
        .await
        .unwrap();
    assert_eq!(
        store
            .legacy_message(&room, "m1")
            .await
            .unwrap()
            .map(|m| m.legacy_id.to_string()),
        Some("msgid-2".to_owned())
    );
    // One batch naming the same XMPP id twice (and a client giving one value as both id
    // and origin-id): one row, the last record winning.
    let batch = [
        crate::MessageIds {
            transport: "irc".into(),
            account: "alice@example.org".into(),
            chat: room.chat.into(),
            message: own("msgid-4"),
            xmpp_ids: ids(Some("same"), Some("same"), None),
        },
        crate::MessageIds {
            transport: "irc".into(),
            account: "alice@example.org".into(),
            chat: room.chat.into(),
            message: own("msgid-5"),
            xmpp_ids: just("same"),
        },
    ];
    store.put_message_ids_batch(&batch).await.unwrap();
    assert_eq!(
        store
            .legacy_message(&room, "same")
            .await
            .unwrap()
            .map(|m| m.legacy_id.to_string()),
        Some("msgid-5".to_owned())
    );
    // Bounds: empty and oversized ids are refused, nothing half-written.
    let long = "x".repeat(MAX_MESSAGE_ID_BYTES + 1);
    assert!(matches!(
        store
            .put_message_ids(&room, &own("msgid-3"), &ids(Some("ok"), Some(&long), None))
            .await,
        Err(StoreError::BadMessageId(_))
    ));
    assert_eq!(store.legacy_message(&room, "ok").await.unwrap(), None);
    assert!(
        store
            .put_message_ids(&room, &own(""), &just("a"))
            .await
            .is_err()
    );
    // Retention: everything recorded before a time is forgotten.
    let removed = store.expire_message_ids(crate::now() + 1).await.unwrap();
    assert_eq!(
        removed, 12,
        "origin-1, stanza-1, stanza-9, m1, same, the room's stanza-7, d1, dave's stanza-7, \
         the room's s5, and dave's c5, o5 and s5"
    );
    assert_eq!(store.legacy_message(&room, "stanza-1").await.unwrap(), None);
    // A batch longer than the widest statement: every record written, in its chat.
    let batch: Vec<crate::MessageIds> = (0..300)
        .map(|i| crate::MessageIds {
            transport: "irc".into(),
            account: if i % 2 == 0 {
                room.account
            } else {
                other_user.account
            }
            .into(),
            chat: room.chat.into(),
            message: own(&format!("bulk-{i}")),
            xmpp_ids: ids(Some(&format!("b{i}")), Some(&format!("bo{i}")), None),
        })
        .collect();
    store.put_message_ids_batch(&batch).await.unwrap();
    for i in [0, 127, 128, 255, 256, 299] {
        let chat = if i % 2 == 0 { &room } else { &other_user };
        assert_eq!(
            store
                .xmpp_message_ids(chat, &format!("bulk-{i}"))
                .await
                .unwrap(),
            ids(Some(&format!("b{i}")), Some(&format!("bo{i}")), None),
            "record {i}"
        );
    }
}

async fn account_data(store: &Store) {
    use crate::{MAX_ACCOUNT_DATA_BYTES, MAX_ACCOUNT_DATA_ITEMS};
    let user = "nick%net@irc.example.org";
    let kind = "private";
    assert!(
        store
            .account_data("irc", user, kind)
            .await
            .unwrap()
            .is_empty()
    );
    store
        .put_account_data("irc", user, kind, "b", "<b/>")
        .await
        .unwrap();
    store
        .put_account_data("irc", user, kind, "a", "<a/>")
        .await
        .unwrap();
    store
        .put_account_data("irc", user, kind, "b", "<b>2</b>")
        .await
        .unwrap();
    // Other kinds, accounts and transports are separate.
    store
        .put_account_data("irc", user, "pep", "a", "<x/>")
        .await
        .unwrap();
    store
        .put_account_data("irc", "other@irc.example.org", kind, "a", "<y/>")
        .await
        .unwrap();
    store
        .put_account_data("test", user, kind, "a", "<z/>")
        .await
        .unwrap();
    assert_eq!(
        store.account_data("irc", user, kind).await.unwrap(),
        vec![
            ("a".to_owned(), "<a/>".to_owned()),
            ("b".to_owned(), "<b>2</b>".to_owned())
        ]
    );
    assert_eq!(
        store
            .account_data_item("irc", user, "pep", "a")
            .await
            .unwrap()
            .as_deref(),
        Some("<x/>")
    );
    assert!(
        store
            .account_data_item("irc", user, "pep", "b")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .remove_account_data("irc", user, kind, "a")
            .await
            .unwrap()
    );
    assert!(
        !store
            .remove_account_data("irc", user, kind, "a")
            .await
            .unwrap()
    );
    // Bounded: size and count.
    let big = "x".repeat(MAX_ACCOUNT_DATA_BYTES + 1);
    assert!(matches!(
        store.put_account_data("irc", user, kind, "big", &big).await,
        Err(StoreError::AccountDataTooLarge(_))
    ));
    let full = "full@irc.example.org";
    for i in 0..MAX_ACCOUNT_DATA_ITEMS {
        store
            .put_account_data("irc", full, kind, &format!("{i:03}"), "<e/>")
            .await
            .unwrap();
    }
    assert!(matches!(
        store
            .put_account_data("irc", full, kind, "one more", "<e/>")
            .await,
        Err(StoreError::AccountDataFull(_))
    ));
    // Replacing an existing item is still allowed when full.
    store
        .put_account_data("irc", full, kind, "000", "<f/>")
        .await
        .unwrap();
}

async fn rosters(store: &Store) {
    use crate::RosterItem;
    let item = |jid: &str, name: Option<&str>| RosterItem {
        contact_jid: jid.to_owned(),
        name: name.map(str::to_owned),
        groups: vec!["IRC".to_owned()],
        subscription: "both".to_owned(),
    };
    let user = "nick%net@irc.example.org";
    assert!(store.roster("irc", user).await.unwrap().is_empty());
    store
        .put_roster_item("irc", user, &item("b@irc.example.org", None))
        .await
        .unwrap();
    store
        .put_roster_item("irc", user, &item("a@irc.example.org", Some("A")))
        .await
        .unwrap();
    store
        .put_roster_item("irc", user, &item("b@irc.example.org", Some("Bee")))
        .await
        .unwrap();
    // Another account and another transport are separate rosters.
    store
        .put_roster_item(
            "irc",
            "other@irc.example.org",
            &item("c@irc.example.org", None),
        )
        .await
        .unwrap();
    store
        .put_roster_item("test", user, &item("d@test.example.org", None))
        .await
        .unwrap();
    let r = store.roster("irc", user).await.unwrap();
    assert_eq!(
        r,
        vec![
            item("a@irc.example.org", Some("A")),
            item("b@irc.example.org", Some("Bee"))
        ]
    );
    assert_eq!(
        store
            .roster_item("irc", user, "b@irc.example.org")
            .await
            .unwrap(),
        Some(item("b@irc.example.org", Some("Bee")))
    );
    assert_eq!(
        store
            .roster_item("test", user, "b@irc.example.org")
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .remove_roster_item("irc", user, "a@irc.example.org")
            .await
            .unwrap()
    );
    assert!(
        !store
            .remove_roster_item("irc", user, "a@irc.example.org")
            .await
            .unwrap()
    );
    assert_eq!(store.roster("irc", user).await.unwrap().len(), 1);
    assert_eq!(store.roster("test", user).await.unwrap().len(), 1);
}

/// Data survives close + reopen; the migration is not re-applied; a wrong key is detected.
async fn survives_reopen(url: &str) {
    let store = Store::open(url, key()).await.unwrap();
    store
        .put_registration(&reg("g@x.org", "t5", "g", Some("kept")))
        .await
        .unwrap();
    store
        .put_transport_policy(
            "t5",
            &TransportPolicy {
                enabled: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    store.put_admin("keeper", "pw").await.unwrap();
    let token = store.create_api_token("kept").await.unwrap();
    store.close().await;

    let store = Store::open(url, key()).await.unwrap();
    assert!(store.verify_admin("keeper", "pw").await.unwrap());
    assert_eq!(
        store.verify_api_token(&token).await.unwrap().as_deref(),
        Some("kept")
    );
    let g = store.registration("g@x.org", "t5").await.unwrap().unwrap();
    assert_eq!(g.secret.as_deref(), Some("kept"));
    assert!(store.transport_policy("t5").await.unwrap().unwrap().enabled);
    let versions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM schema_version")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(versions, crate::migrate::latest_version());
    store.close().await;

    let wrong = Store::open(url, StoreKey::from_bytes([1; 32]))
        .await
        .unwrap();
    assert!(matches!(
        wrong.registration("g@x.org", "t5").await,
        Err(StoreError::Crypto(_))
    ));
    // Rows without a secret still read fine with any key.
    wrong
        .put_registration(&reg("h@x.org", "t5", "h", None))
        .await
        .unwrap();
    assert!(wrong.registration("h@x.org", "t5").await.unwrap().is_some());
    wrong.close().await;
}

/// Two processes on one database (the gateway and the operator's CLI): each sees the
/// other's writes at its next read. Reads must not leave SQLite statements holding an old
/// snapshot open.
async fn sees_other_writers(url: &str) {
    let gateway = Store::open(url, key()).await.unwrap();
    let cli = Store::open(url, key()).await.unwrap();
    // Reads that return a row (a policy, a count) must not keep an old snapshot alive.
    for t in ["t7", "t8"] {
        let p = TransportPolicy {
            enabled: true,
            ..TransportPolicy::default()
        };
        cli.put_transport_policy(t, &p).await.unwrap();
    }
    // Open every pooled connection, each leaving statements of its own behind.
    let reads: Vec<_> = (0..8)
        .map(|_| {
            let g = gateway.clone();
            tokio::spawn(async move {
                g.registrations_fingerprint("t7").await.unwrap();
                g.transport_policy("t7").await.unwrap();
                g.registration("nobody@x.org", "t7").await.unwrap();
            })
        })
        .collect();
    for r in reads {
        r.await.unwrap();
    }
    // The gateway polls its fingerprint, then registers a user itself.
    let start = gateway.registrations_fingerprint("t7").await.unwrap();
    for _ in 0..5 {
        assert_eq!(
            gateway.registrations_fingerprint("t7").await.unwrap(),
            start
        );
        assert!(gateway.transport_policy("t7").await.unwrap().is_some());
    }
    gateway
        .put_registration(&reg("own@x.org", "t7", "own", None))
        .await
        .unwrap();
    for _ in 0..5 {
        assert_ne!(
            gateway.registrations_fingerprint("t7").await.unwrap(),
            start
        );
    }
    for round in 0..3 {
        let jid = format!("w{round}@x.org");
        let before = gateway.registrations_fingerprint("t8").await.unwrap();
        assert!(gateway.registration(&jid, "t8").await.unwrap().is_none());
        assert!(gateway.transport_policy("t8").await.unwrap().is_some());
        cli.put_registration(&reg(&jid, "t8", &format!("w{round}"), None))
            .await
            .unwrap();
        assert_ne!(
            gateway.registrations_fingerprint("t8").await.unwrap(),
            before
        );
        assert!(gateway.registration(&jid, "t8").await.unwrap().is_some());
        let added = gateway.registrations_fingerprint("t8").await.unwrap();
        cli.delete_registration(&jid, "t8").await.unwrap();
        assert!(gateway.registration(&jid, "t8").await.unwrap().is_none());
        assert_ne!(
            gateway.registrations_fingerprint("t8").await.unwrap(),
            added
        );
    }
    cli.close().await;
    gateway.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sees_other_writers() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/pontoon.db", dir.path().display());
    sees_other_writers(&url).await;
}

// ---------------------------------------------------------------- SQLite

#[tokio::test]
async fn sqlite_suite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/nested/dir/pontoon.db", dir.path().display());
    let store = Store::open(&url, key()).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    {
        use std::os::unix::fs::PermissionsExt;
        let db = dir.path().join("nested/dir/pontoon.db");
        let mode = std::fs::metadata(&db).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(sync, 2, "synchronous=FULL");
    run_suite(&store).await;
    store.close().await;
}

#[tokio::test]
async fn sqlite_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/pontoon.db", dir.path().display());
    survives_reopen(&url).await;
}

#[tokio::test]
async fn sqlite_memory_suite() {
    let store = Store::open("sqlite::memory:", key()).await.unwrap();
    run_suite(&store).await;
    store.close().await;
}

#[tokio::test]
async fn sqlite_schema_too_new_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/pontoon.db", dir.path().display());
    let store = Store::open(&url, key()).await.unwrap();
    sqlx::query(
        "INSERT INTO schema_version (version, description, applied_at) VALUES (9999, 'future', 0)",
    )
    .execute(&store.pool)
    .await
    .unwrap();
    store.close().await;
    assert!(matches!(
        Store::open(&url, key()).await,
        Err(StoreError::SchemaTooNew { found: 9999, .. })
    ));
}

// ---------------------------------------------------------------- PostgreSQL

static PG_SEQ: AtomicU32 = AtomicU32::new(0);

/// A fresh schema on the test server; `url` points the store at it via `search_path`.
pub(crate) struct PgSchema {
    base: String,
    name: String,
    pub(crate) url: String,
}

impl PgSchema {
    pub(crate) async fn create() -> Option<PgSchema> {
        let Ok(base) = std::env::var(PG_ENV) else {
            println!("skipping PostgreSQL: {PG_ENV} unset");
            return None;
        };
        sqlx::any::install_default_drivers();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!(
            "pontoon_test_{}_{}_{}",
            std::process::id(),
            nanos,
            PG_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let admin = AnyPool::connect(&base)
            .await
            .expect("connect to test PostgreSQL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
        Some(PgSchema { base, name, url })
    }

    pub(crate) async fn drop(self) {
        let admin = AnyPool::connect(&self.base).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA {} CASCADE",
            self.name
        )))
        .execute(&admin)
        .await
        .unwrap();
        admin.close().await;
    }
}

#[tokio::test]
async fn postgres_suite() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let store = Store::open(&schema.url, key()).await.unwrap();
    assert_eq!(store.backend(), crate::Backend::Postgres);
    run_suite(&store).await;
    store.close().await;
    schema.drop().await;
}

#[tokio::test]
async fn postgres_survives_reopen() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    survives_reopen(&schema.url).await;
    schema.drop().await;
}

/// Several instances opening one fresh PostgreSQL database at once: the advisory lock
/// serialises migrations, all succeed.
#[tokio::test]
async fn postgres_concurrent_open() {
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = schema.url.clone();
        tasks.push(tokio::spawn(async move { Store::open(&url, key()).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap().close().await;
    }
    schema.drop().await;
}

/// A full disk refuses writes with [`StoreError::Full`], and once there is room again the
/// same connection writes (sqlx-sqlite 0.9.0 left it "in a transaction" for good: every
/// later write failed with "begin_with at non-zero transaction depth").
#[tokio::test]
async fn sqlite_writes_again_after_a_full_disk() {
    // One connection, so the full one is the one written with afterwards.
    let store = Store::open("sqlite::memory:", key()).await.unwrap();
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "PRAGMA max_page_count = {}",
        pages + 2
    )))
    .execute(&store.pool)
    .await
    .unwrap();
    let big = "x".repeat(2000);
    let mut full = None;
    for i in 0..100 {
        let mut r = reg(&format!("u{i}@example.org"), "irc", &format!("n{i}"), None);
        r.options.insert("padding".into(), big.clone());
        if let Err(e) = store.put_registration(&r).await {
            full = Some(e);
            break;
        }
    }
    let e = full.expect("the capped database fills up");
    assert!(matches!(e, StoreError::Full(_)), "{e:?}");
    sqlx::query("PRAGMA max_page_count = 1000000")
        .execute(&store.pool)
        .await
        .unwrap();
    store
        .put_registration(&reg("after@example.org", "irc", "after", None))
        .await
        .expect("writes work again once there is room");
    store.close().await;
}

async fn always_online(store: &Store) {
    for jid in ["ao1@example.org", "ao2@example.org", "ao3@example.org"] {
        store
            .put_registration(&reg(jid, "ao", jid, None))
            .await
            .unwrap();
    }
    assert!(
        store
            .always_online_users("ao", false)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .set_always_online("ao1@example.org", "ao", Some(true))
            .await
            .unwrap()
    );
    assert!(
        store
            .set_always_online("ao2@example.org", "ao", Some(false))
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_always_online("nobody@example.org", "ao", Some(true))
            .await
            .unwrap()
    );
    assert_eq!(
        store.always_online_users("ao", false).await.unwrap(),
        ["ao1@example.org"]
    );
    // The default counts for those who did not choose.
    assert_eq!(
        store.always_online_users("ao", true).await.unwrap(),
        ["ao1@example.org", "ao3@example.org"]
    );
    let r = store
        .registration("ao1@example.org", "ao")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.always_online, Some(true));
    // A put (an edit of the registration) keeps the choice.
    store.put_registration(&r).await.unwrap();
    let again = store
        .registration("ao1@example.org", "ao")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.always_online, Some(true));
    for jid in ["ao1@example.org", "ao2@example.org", "ao3@example.org"] {
        store.delete_registration(jid, "ao").await.unwrap();
    }
}

/// The change feed tells a listener what another writer changed: registrations, policies,
/// a roster item, a freed lease.
#[tokio::test]
async fn postgres_change_feed() {
    use crate::Change;
    let Some(schema) = PgSchema::create().await else {
        return;
    };
    let store = Store::open(&schema.url, key()).await.unwrap();
    let other = Store::open(&schema.url, key()).await.unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let feed = store.change_feed(shutdown.clone()).await.unwrap().unwrap();
    let mut rx = feed.subscribe();
    // Other tests notify on the same database: wait for ours.
    async fn expect(rx: &mut tokio::sync::broadcast::Receiver<Change>, want: Change) {
        let found = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                if rx.recv().await.unwrap() == want {
                    return;
                }
            }
        })
        .await;
        assert!(found.is_ok(), "no {want:?} within 10 s");
    }
    let mut reg = Registration::new("feed@x.org", "feedtest", "alice");
    reg.secret = Some("pw".into());
    other.put_registration(&reg).await.unwrap();
    expect(&mut rx, Change::Registrations).await;
    other
        .put_transport_policy("feedtest", &TransportPolicy::default())
        .await
        .unwrap();
    expect(&mut rx, Change::Policies).await;
    let item = crate::roster::RosterItem {
        contact_jid: "bob@feed".into(),
        name: None,
        groups: vec![],
        subscription: "both".into(),
    };
    other
        .put_roster_item("feedtest", "feed@x.org", &item)
        .await
        .unwrap();
    expect(
        &mut rx,
        Change::Roster {
            transport: "feedtest".into(),
            account: "feed@x.org".into(),
            contact: "bob@feed".into(),
        },
    )
    .await;
    other.heartbeat("i1", "", 10).await.unwrap();
    other
        .acquire_lease("feedtest", "feed@x.org", "i1", 0)
        .await
        .unwrap();
    other
        .release_lease("feedtest", "feed@x.org", "i1")
        .await
        .unwrap();
    expect(
        &mut rx,
        Change::Lease {
            transport: "feedtest".into(),
            owner: "feed@x.org".into(),
        },
    )
    .await;
    other
        .ask_release("feedtest", "feed@x.org", "i2")
        .await
        .unwrap();
    expect(
        &mut rx,
        Change::Release {
            transport: "feedtest".into(),
            owner: "feed@x.org".into(),
            by: "i2".into(),
        },
    )
    .await;
    shutdown.cancel();
    other.close().await;
    store.close().await;
    schema.drop().await;
}
