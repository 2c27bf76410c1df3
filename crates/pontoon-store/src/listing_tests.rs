//! The registrations listing's order, online filter and last login, part of the store's
//! suite (`tests::run_suite`, on SQLite and PostgreSQL alike).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::{OnlineFilter, Registration, RegistrationQuery, RegistrationSort, Store};

fn names(v: Vec<Registration>) -> Vec<String> {
    v.into_iter()
        .map(|r| format!("{}/{}", r.jid, r.transport))
        .collect()
}

/// Sorting, paging under each sort, the online filter and `record_login`.
pub(crate) async fn order_online_and_last_login(store: &Store) {
    for (jid, t, l) in [
        ("zed@s.org", "st", "zed"),
        ("amy@s.org", "st2", "amy"),
        ("bea@s.org", "st", "bea"),
        ("amy@s.org", "st", "amy"),
    ] {
        store
            .put_registration(&Registration::new(jid, t, l))
            .await
            .unwrap();
    }
    // Distinct creation times, oldest first: zed, amy/st2, bea, amy/st.
    for (i, (jid, t)) in [
        ("zed@s.org", "st"),
        ("amy@s.org", "st2"),
        ("bea@s.org", "st"),
        ("amy@s.org", "st"),
    ]
    .iter()
    .enumerate()
    {
        sqlx::query("UPDATE registrations SET created_at = $1 WHERE jid = $2 AND transport = $3")
            .bind(1000 + i64::try_from(i).unwrap())
            .bind(*jid)
            .bind(*t)
            .execute(&store.pool)
            .await
            .unwrap();
    }
    let list = |sort, descending, online: Option<OnlineFilter>, limit, offset| {
        let q = RegistrationQuery {
            search: Some("@s.org".into()),
            online,
            sort,
            descending,
            limit,
            offset,
            ..Default::default()
        };
        async move {
            let page = store.list_registrations(&q).await.unwrap();
            let total = store.count_registrations_matching(&q).await.unwrap();
            (names(page), total)
        }
    };
    let (by_jid, total) = list(RegistrationSort::Jid, false, None, 0, 0).await;
    assert_eq!(total, 4);
    assert_eq!(
        by_jid,
        [
            "amy@s.org/st",
            "amy@s.org/st2",
            "bea@s.org/st",
            "zed@s.org/st"
        ]
    );
    let (by_jid_desc, _) = list(RegistrationSort::Jid, true, None, 0, 0).await;
    assert_eq!(
        by_jid_desc,
        [
            "zed@s.org/st",
            "bea@s.org/st",
            "amy@s.org/st2",
            "amy@s.org/st"
        ]
    );
    let (by_transport, _) = list(RegistrationSort::Transport, false, None, 0, 0).await;
    assert_eq!(
        by_transport,
        [
            "amy@s.org/st",
            "bea@s.org/st",
            "zed@s.org/st",
            "amy@s.org/st2"
        ]
    );
    let (created, _) = list(RegistrationSort::Created, true, None, 0, 0).await;
    assert_eq!(
        created,
        [
            "amy@s.org/st",
            "bea@s.org/st",
            "amy@s.org/st2",
            "zed@s.org/st"
        ]
    );
    // Pages under a sort never overlap and cover everything.
    let mut paged = Vec::new();
    for offset in [0, 3] {
        paged.extend(
            list(RegistrationSort::Created, true, None, 3, offset)
                .await
                .0,
        );
    }
    assert_eq!(paged, created);

    // Last login: set by record_login, which is no edit (updated_at and the revision stay).
    let before = store
        .registration("bea@s.org", "st")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(before.last_login_at, None);
    let fp = store.registrations_fingerprint("st").await.unwrap();
    store.record_login("bea@s.org", "st").await.unwrap();
    store.record_login("nobody@s.org", "st").await.unwrap();
    let after = store
        .registration("bea@s.org", "st")
        .await
        .unwrap()
        .unwrap();
    assert!(after.last_login_at.unwrap() > 1_600_000_000);
    assert_eq!(after.updated_at, before.updated_at);
    assert_eq!(store.registrations_fingerprint("st").await.unwrap(), fp);
    sqlx::query("UPDATE registrations SET last_login_at = 5 WHERE jid = 'zed@s.org'")
        .execute(&store.pool)
        .await
        .unwrap();
    // Never logged in comes last, in both directions.
    let (recent, _) = list(RegistrationSort::LastLogin, true, None, 0, 0).await;
    assert_eq!(
        recent,
        [
            "bea@s.org/st",
            "zed@s.org/st",
            "amy@s.org/st",
            "amy@s.org/st2"
        ]
    );
    let (oldest, _) = list(RegistrationSort::LastLogin, false, None, 0, 0).await;
    assert_eq!(
        oldest,
        [
            "zed@s.org/st",
            "bea@s.org/st",
            "amy@s.org/st",
            "amy@s.org/st2"
        ]
    );

    // Online: the caller's set of live sessions, on (transport, JID) both.
    let users = vec![
        ("st".to_owned(), "amy@s.org".to_owned()),
        ("st".to_owned(), "zed@s.org".to_owned()),
        ("other".to_owned(), "bea@s.org".to_owned()),
    ];
    let online = |keep| {
        Some(OnlineFilter {
            keep,
            users: users.clone(),
        })
    };
    let (on, total) = list(RegistrationSort::Jid, false, online(true), 0, 0).await;
    assert_eq!(
        (on, total),
        (vec!["amy@s.org/st".into(), "zed@s.org/st".into()], 2)
    );
    let (off, total) = list(RegistrationSort::Jid, false, online(false), 0, 0).await;
    assert_eq!(
        (off, total),
        (vec!["amy@s.org/st2".into(), "bea@s.org/st".into()], 2)
    );
    // Nobody online: an empty set, not an error.
    let none = Some(OnlineFilter {
        keep: true,
        users: Vec::new(),
    });
    assert_eq!(list(RegistrationSort::Jid, false, none, 0, 0).await.1, 0);
    assert_eq!(
        RegistrationSort::from_name("last_login"),
        Some(RegistrationSort::LastLogin)
    );
    assert_eq!(RegistrationSort::from_name("LAST_LOGIN"), None);
}
