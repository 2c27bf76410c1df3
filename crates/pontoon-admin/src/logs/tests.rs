//! The log filter and buffer together, as the binary installs them.

#![allow(clippy::unwrap_used)]

use super::*;
use tracing::{Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::Layer;
use tracing_subscriber::prelude::*;

fn capture(filter: &LogFilter, buffer: &LogBuffer) -> impl Subscriber + Send + Sync {
    tracing_subscriber::registry()
        .with(filter.clone())
        .with(buffer.clone())
}

fn messages(buffer: &LogBuffer) -> Vec<String> {
    let mut v: Vec<String> = buffer
        .recent(&LogQuery::default())
        .into_iter()
        .map(|e| e.message)
        .collect();
    v.reverse();
    v
}

#[test]
fn debug_switch_applies_to_spans_made_before_it() {
    let filter = LogFilter::new("info").unwrap();
    let buffer = LogBuffer::default();
    tracing::subscriber::with_default(capture(&filter, &buffer), || {
        let irc = tracing::info_span!("service", transport = "irc");
        let other = tracing::info_span!("service", transport = "other");
        irc.in_scope(|| tracing::debug!("irc quiet"));
        filter.apply(&["irc".to_owned()]);
        irc.in_scope(|| {
            tracing::debug!("irc loud");
            // Nested spans inherit the transport.
            tracing::info_span!("room").in_scope(|| tracing::debug!("irc nested"));
        });
        other.in_scope(|| tracing::debug!("other quiet"));
        tracing::debug!("outside quiet");
        let session = tracing::debug_span!("session", transport = "irc", user = "a@b");
        session.in_scope(|| tracing::debug!("session loud"));
        tracing::info!("info always");
        filter.apply(&[]);
        irc.in_scope(|| tracing::debug!("irc quiet again"));
    });
    assert_eq!(
        messages(&buffer),
        [
            "debug logging per transport changed transports=irc",
            "irc loud",
            "irc nested",
            "session loud",
            "info always",
            "debug logging per transport changed transports=none",
        ]
    );
}

/// With a base level above INFO, the tagged spans must still be created (the global
/// maximum level would otherwise stop `info_span!` before any filter is asked), while
/// INFO events stay filtered out.
#[test]
fn tagged_spans_exist_under_a_warn_base() {
    let filter = LogFilter::new("warn").unwrap();
    assert_eq!(
        Layer::<tracing_subscriber::Registry>::max_level_hint(&filter),
        Some(LevelFilter::INFO)
    );
    let buffer = LogBuffer::default();
    tracing::subscriber::with_default(capture(&filter, &buffer), || {
        let irc = tracing::info_span!("service", transport = "irc");
        assert!(!irc.is_disabled(), "the tagged span was not created");
        irc.in_scope(|| {
            tracing::info!("irc info");
            tracing::warn!("irc warn");
            tracing::debug!("irc quiet");
        });
        filter.apply(&["irc".to_owned()]);
        irc.in_scope(|| tracing::debug!("irc loud"));
        tracing::info_span!("service", transport = "other")
            .in_scope(|| tracing::debug!("other quiet"));
        tracing::info!("info filtered");
    });
    let all = buffer.recent(&LogQuery::default());
    let got: Vec<(&str, Option<&str>)> = all
        .iter()
        .rev()
        .map(|e| (e.message.as_str(), e.transport.as_deref()))
        .collect();
    assert_eq!(got, [("irc warn", Some("irc")), ("irc loud", Some("irc"))]);
}

/// Why `LogFilter` exists: an `EnvFilter` with a span-field directive, swapped in by a
/// `reload` handle, does not see spans created before the swap.
#[test]
fn reloaded_env_filter_misses_older_spans() {
    use tracing_subscriber::reload;
    let (layer, handle) = reload::Layer::new(EnvFilter::new("info"));
    let buffer = LogBuffer::default();
    let sub = tracing_subscriber::registry()
        .with(layer)
        .with(buffer.clone());
    tracing::subscriber::with_default(sub, || {
        let old = tracing::info_span!("service", transport = "irc");
        handle
            .reload(EnvFilter::new("info,[{transport=irc}]=debug"))
            .unwrap();
        old.in_scope(|| tracing::debug!("old span"));
        let new = tracing::info_span!("service", transport = "irc");
        new.in_scope(|| tracing::debug!("new span"));
        tracing::info_span!("service", transport = "other")
            .in_scope(|| tracing::debug!("other span"));
    });
    assert_eq!(messages(&buffer), ["new span"]);
}

#[test]
fn entries_carry_the_transport_and_fields_and_no_secrets() {
    let filter = LogFilter::new("info").unwrap();
    let buffer = LogBuffer::default();
    tracing::subscriber::with_default(capture(&filter, &buffer), || {
        let who = String::from("irc");
        tracing::info_span!("session", transport = %who).in_scope(|| {
            tracing::warn!(
                user = "alice@localhost",
                password = "hunter2",
                "login failed"
            );
        });
        tracing::info!(transport = "test", "own field");
    });
    let all = buffer.recent(&LogQuery::default());
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].transport.as_deref(), Some("test"));
    assert_eq!(all[1].transport.as_deref(), Some("irc"));
    assert_eq!(all[1].user.as_deref(), Some("alice@localhost"));
    assert_eq!(all[0].user, None);
    assert!(all[0].seq > all[1].seq);
    assert_eq!(all[1].level, Level::WARN);
    assert_eq!(
        all[1].message,
        "login failed user=alice@localhost password=<redacted>"
    );
    let warn = buffer.recent(&LogQuery {
        min_level: Some(Level::WARN),
        ..LogQuery::default()
    });
    assert_eq!(warn.len(), 1);
    let irc = buffer.recent(&LogQuery {
        transport: Some("irc".into()),
        ..LogQuery::default()
    });
    assert_eq!(irc.len(), 1);
}

#[test]
fn buffer_is_bounded() {
    let buffer = LogBuffer::new(3);
    for i in 0..10 {
        buffer.push(LogEntry {
            seq: 0,
            user: None,
            time_ms: i,
            level: Level::INFO,
            target: "t".into(),
            transport: None,
            message: i.to_string(),
        });
    }
    assert_eq!(buffer.len(), 3);
    let recent = buffer.recent(&LogQuery {
        limit: 2,
        ..LogQuery::default()
    });
    assert_eq!(
        recent
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>(),
        ["9", "8"]
    );
}

#[test]
fn the_user_comes_from_the_session_span() {
    let filter = LogFilter::new("info").unwrap();
    let buffer = LogBuffer::default();
    tracing::subscriber::with_default(capture(&filter, &buffer), || {
        let user = String::from("bob@localhost");
        tracing::info_span!("session", transport = "irc", user = user.as_str()).in_scope(|| {
            tracing::info!("logged in");
            tracing::info!(user = %"carol@localhost", "about another user");
        });
    });
    let all = buffer.recent(&LogQuery::default());
    assert_eq!(all[1].user.as_deref(), Some("bob@localhost"));
    assert_eq!(all[0].user.as_deref(), Some("carol@localhost"));
}

#[test]
fn pages_go_older_and_newer() {
    let buffer = LogBuffer::new(100);
    for i in 0..25 {
        buffer.push(LogEntry {
            seq: 0,
            user: None,
            time_ms: i,
            level: if i % 5 == 0 { Level::WARN } else { Level::INFO },
            target: "t".into(),
            transport: None,
            message: i.to_string(),
        });
    }
    let messages = |p: &crate::logs::LogPage| {
        p.entries
            .iter()
            .map(|e| e.message.parse::<u32>().unwrap())
            .collect::<Vec<_>>()
    };
    let q = |before, after| LogQuery {
        limit: 10,
        before,
        after,
        ..LogQuery::default()
    };
    let first = buffer.page(&q(None, None));
    assert_eq!(messages(&first), (15..25).rev().collect::<Vec<_>>());
    assert!(first.older && !first.newer);
    let second = buffer.page(&q(Some(first.entries[9].seq), None));
    assert_eq!(messages(&second), (5..15).rev().collect::<Vec<_>>());
    assert!(second.older && second.newer);
    let third = buffer.page(&q(Some(second.entries[9].seq), None));
    assert_eq!(messages(&third), (0..5).rev().collect::<Vec<_>>());
    assert!(!third.older && third.newer);
    // Back: the page just newer than the third is the second again.
    let back = buffer.page(&q(None, Some(third.entries[0].seq)));
    assert_eq!(messages(&back), messages(&second));
    // Filters apply to the neighbours too: no older warning before the first one.
    let warn = buffer.page(&LogQuery {
        min_level: Some(Level::WARN),
        limit: 2,
        ..LogQuery::default()
    });
    assert_eq!(messages(&warn), [20, 15]);
    assert!(warn.older && !warn.newer);
    // A cursor past everything: an empty page that still leads back.
    let empty = buffer.page(&q(Some(1), None));
    assert!(empty.entries.is_empty() && !empty.older && empty.newer);
}
