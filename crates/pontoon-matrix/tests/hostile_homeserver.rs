//! A hostile homeserver, scripted: malformed events, an event for a room the user is not
//! in, a 429 with `retry_after_ms`, answers larger than the limit. A real Synapse never
//! sends these on purpose, so this fake does (in addition to the end-to-end suite against
//! Synapse): each is refused or survived with a clear word, and nothing else is harmed.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pontoon_core::channel;
use pontoon_core::legacy::{LegacyAccount, LegacyEvent};
use pontoon_core::state::TransportState;
use pontoon_matrix::http::Http;
use pontoon_matrix::{MatrixConfig, session};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// The answer limit of the session under test.
const LIMIT: usize = 64 * 1024;

/// What the fake saw: each sync's query string, and when.
#[derive(Default)]
struct Seen {
    syncs: Vec<(Instant, String)>,
}

fn json(status: u16, body: &str) -> (u16, String) {
    (status, body.to_owned())
}

/// The fake's script: the answer to a request, by its path and query.
fn answer(path: &str, seen: &Mutex<Seen>) -> (u16, String) {
    if path.starts_with("/_matrix/client/v3/login") {
        return json(
            200,
            r#"{"user_id":"@alice:hostile","access_token":"tok","device_id":"DEV"}"#,
        );
    }
    if path.contains("/account_data/m.direct") {
        return json(200, r#"{"@bob:hostile":["!dm:hostile"]}"#);
    }
    if !path.starts_with("/_matrix/client/v3/sync") {
        return json(404, r#"{"errcode":"M_NOT_FOUND","error":"nothing here"}"#);
    }
    let n = {
        let mut s = seen.lock().unwrap();
        s.syncs.push((Instant::now(), path.to_owned()));
        s.syncs.len()
    };
    let huge = format!(
        r#"{{"next_batch":"never","rooms":{{"join":{{"!dm:hostile":{{"timeline":{{"events":[{{"type":"m.room.message","sender":"@bob:hostile","event_id":"$big","origin_server_ts":1,"content":{{"msgtype":"m.text","body":"{}"}}}}]}}}}}}}}}}"#,
        "x".repeat(LIMIT)
    );
    match n {
        1 => json(200, r#"{"next_batch":"s1"}"#),
        2 => json(
            200,
            r#"{"next_batch":"s2","rooms":{"join":{
                "!dm:hostile":{"timeline":{"events":[
                    {"type":"m.room.message","sender":"@bob:hostile"},
                    {"type":"m.room.message","sender":"@bob:hostile","event_id":"$ok","origin_server_ts":1,
                     "content":{"msgtype":"m.text","body":"good one"}}]}},
                "!other:hostile":{"timeline":{"events":[
                    {"type":"m.room.message","sender":"@eve:hostile","event_id":"$x","origin_server_ts":1,
                     "content":{"msgtype":"m.text","body":"not for you"}}]}}}}}"#,
        ),
        3 => json(
            429,
            r#"{"errcode":"M_LIMIT_EXCEEDED","error":"slow down","retry_after_ms":400}"#,
        ),
        4..=7 if !path.contains("%22limit%22%3A0") => (200, huge),
        4..=7 => json(
            200,
            r#"{"next_batch":"s3","rooms":{"join":{"!dm:hostile":{"timeline":{"limited":true,"events":[]}}}}}"#,
        ),
        _ => json(200, r#"{"next_batch":"s4"}"#),
    }
}

/// Serves the script on loopback until the test ends.
async fn fake_homeserver(seen: Arc<Mutex<Seen>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut r = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let mut length = 0usize;
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).await.unwrap_or(0) == 0 {
                            return;
                        }
                        if h == "\r\n" {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if r.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let (status, text) = answer(&path, &seen);
                    let head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                        text.len()
                    );
                    let w = r.get_mut();
                    if w.write_all(head.as_bytes()).await.is_err()
                        || w.write_all(text.as_bytes()).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// The next event that is not bookkeeping (contact lists, verbs), bounded in time.
async fn next(events: &mut channel::Receiver<LegacyEvent>) -> LegacyEvent {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .expect("an event within 20 s")
            .expect("the session is running");
        if !matches!(
            e,
            LegacyEvent::ContactList { .. }
                | LegacyEvent::Verbs { .. }
                | LegacyEvent::Authenticated
        ) {
            return e;
        }
    }
}

#[tokio::test]
async fn a_hostile_homeserver_harms_nothing_else() {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let url = fake_homeserver(seen.clone()).await;
    let mut options = BTreeMap::new();
    options.insert("homeserver".to_owned(), url.clone());
    options.insert("server_name".to_owned(), "hostile".to_owned());
    options.insert("sync_timeout_secs".to_owned(), "1".to_owned());
    let mut cfg = MatrixConfig::from_options(&options).unwrap();
    cfg.max_response_bytes = LIMIT;
    let http = Http::new(vec!["127.0.0.1".to_owned()], LIMIT).unwrap();
    let (tx, mut events) = channel::bounded(64);
    let account = LegacyAccount {
        legacy_id: "@alice:hostile".to_owned(),
        secret: Some("pw".to_owned()),
        options: BTreeMap::new(),
    };
    let _commands = session::start(
        session::Shared::new(Arc::new(cfg), http),
        account,
        tx,
        TransportState::detached(),
    );

    assert_eq!(next(&mut events).await, LegacyEvent::Connected);
    // The malformed event and the one for a room the user is not in are skipped; the good
    // one between them arrives.
    match next(&mut events).await {
        LegacyEvent::Message { body, id, .. } => {
            assert_eq!((body.as_str(), id.as_deref()), ("good one", Some("$ok")));
        }
        other => panic!("expected the good message, got {other:?}"),
    }
    // The 429: the user is told the homeserver is away, and that it is back. Then the
    // answers too large: fewer events asked each time, then the user is told what was
    // skipped; the session goes on.
    let mut told = Vec::new();
    while !told.iter().any(|t: &String| t.contains("were skipped")) {
        match next(&mut events).await {
            LegacyEvent::Notice { text } => told.push(text),
            LegacyEvent::Reconnecting { reason } => told.push(format!("reconnecting: {reason}")),
            LegacyEvent::Connected => told.push("connected".to_owned()),
            other => panic!("unexpected {other:?} after {told:?}"),
        }
        assert!(told.len() < 10, "{told:?}");
    }
    assert!(
        told[0].starts_with("reconnecting: the homeserver asks to slow down"),
        "{told:?}"
    );
    assert!(told[1].contains("Pontoon keeps trying"), "{told:?}");
    assert_eq!(told[2], "connected", "{told:?}");
    assert!(told[3].contains("answers again"), "{told:?}");
    let s = seen.lock().unwrap();
    let after_429 = s.syncs[3].0 - s.syncs[2].0;
    assert!(
        after_429 >= Duration::from_millis(400),
        "retried {after_429:?} after a 429 that asked for 400 ms"
    );
    let limits: Vec<bool> = s.syncs[3..]
        .iter()
        .map(|(_, q)| q.contains("%22limit%22%3A0"))
        .collect();
    assert!(
        limits.contains(&true),
        "never asked for no events: {:?}",
        s.syncs
    );
}
