//! Component link tests against a tiny fake component server.

use super::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

const SECRET: &str = "secret";
const DOMAIN: &str = "test.localhost";
const STREAM_ID: &str = "abc123";
const T: Duration = Duration::from_secs(10);

fn cfg(port: u16, secret: &str) -> ComponentConfig {
    ComponentConfig {
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(100),
        connect_timeout: Duration::from_secs(2),
        ..ComponentConfig::new("127.0.0.1", port, DOMAIN, secret)
    }
}

async fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

struct Peer {
    reader: StreamReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Peer {
    async fn send(&mut self, s: &str) {
        self.writer.write_all(s.as_bytes()).await.unwrap();
    }
    async fn next(&mut self) -> Result<Frame, ReadError> {
        timeout(T, self.reader.next())
            .await
            .expect("peer read hung")
    }
}

enum Verdict {
    Accept,
    Reject(&'static str),
}

/// Accept one connection and run the server side of the handshake.
/// Returns the peer on success.
async fn serve(l: &TcpListener, verdict: Verdict) -> Option<Peer> {
    let (sock, _) = timeout(T, l.accept())
        .await
        .expect("no connection")
        .unwrap();
    let (r, w) = sock.into_split();
    let mut peer = Peer {
        reader: StreamReader::new(r, Limits::default()),
        writer: w,
    };
    let Frame::Header(h) = peer.next().await.unwrap() else {
        panic!("expected a header")
    };
    assert_eq!(h.default_ns, ns::COMPONENT_ACCEPT);
    assert_eq!(h.to.as_deref(), Some(DOMAIN));
    peer.send(&format!(
        "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' \
         xmlns:stream='http://etherx.jabber.org/streams' id='{STREAM_ID}' from='{DOMAIN}'>"
    ))
    .await;
    if let Verdict::Reject(cond) = verdict {
        peer.send(&String::from_utf8(writer::stream_error(cond, None)).unwrap())
            .await;
        return None;
    }
    let Frame::Stanza(hs) = peer.next().await.unwrap() else {
        panic!("expected the handshake")
    };
    assert!(hs.is("handshake", ns::COMPONENT_ACCEPT));
    if hs.text() == "b67adbb9f7287b8f2d9c809b39a804b2123fc4c0" {
        peer.send("<handshake/>").await;
        Some(peer)
    } else {
        peer.send(&String::from_utf8(writer::stream_error("not-authorized", None)).unwrap())
            .await;
        None
    }
}

async fn recv(rx: &mut mpsc::Receiver<LinkEvent>) -> LinkEvent {
    timeout(T, rx.recv())
        .await
        .expect("no link event")
        .expect("link task gone")
}

#[test]
fn digest_matches_sha1sum() {
    assert_eq!(
        handshake_digest(STREAM_ID, SECRET),
        "b67adbb9f7287b8f2d9c809b39a804b2123fc4c0"
    );
}

#[test]
fn debug_redacts_secret() {
    let c = ComponentConfig::new("h", 5347, "d", "hunter2");
    let s = format!("{c:?}");
    assert!(!s.contains("hunter2"), "{s}");
    assert!(s.contains("redacted"));
}

#[test]
fn backoff_is_capped_and_jittered() {
    let c = ComponentConfig::new("h", 1, "d", "s");
    for n in 1..100 {
        let d = c.backoff(n);
        let base = Duration::from_secs(1)
            .saturating_mul(1 << (n - 1).min(30))
            .min(Duration::from_secs(60));
        assert!(d >= base / 2 && d <= base, "{n}: {d:?}");
    }
    assert!(c.backoff(u32::MAX) <= Duration::from_secs(60));
}

#[tokio::test]
async fn connect_once_success_and_errors() {
    let (l, port) = listener().await;
    let server = tokio::spawn(async move {
        let ok = serve(&l, Verdict::Accept).await.is_some();
        let bad = serve(&l, Verdict::Accept).await.is_some();
        let _ = serve(&l, Verdict::Reject("host-unknown")).await;
        (ok, bad)
    });
    let s = timeout(T, connect_once(&cfg(port, SECRET)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s.stream_id, STREAM_ID);
    let e = timeout(T, connect_once(&cfg(port, "wrong")))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&e, LinkError::Auth(c) if c.starts_with("not-authorized")),
        "{e:?}"
    );
    let e = timeout(T, connect_once(&cfg(port, SECRET)))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&e, LinkError::Auth(c) if c.starts_with("host-unknown")),
        "{e:?}"
    );
    assert_eq!(server.await.unwrap(), (true, false));

    // nobody listening any more
    let (l, port) = listener().await;
    drop(l);
    let e = timeout(T, connect_once(&cfg(port, SECRET)))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(e, LinkError::Refused(_)), "{e:?}");
}

#[tokio::test]
async fn handshake_timeout() {
    let (l, port) = listener().await;
    let server = tokio::spawn(async move {
        // accept and say nothing
        let (sock, _) = l.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        drop(sock);
    });
    let mut c = cfg(port, SECRET);
    c.connect_timeout = Duration::from_millis(200);
    let e = timeout(T, connect_once(&c)).await.unwrap().unwrap_err();
    assert!(matches!(e, LinkError::Timeout), "{e:?}");
    server.abort();
}

#[tokio::test]
async fn link_pumps_both_ways_with_namespace_rewriting_and_shuts_down() {
    let (l, port) = listener().await;
    let (in_tx, mut in_rx) = mpsc::channel(8);
    let (out_tx, out_rx) = mpsc::channel(8);
    let link = spawn_link(cfg(port, SECRET), in_tx, out_rx);
    let mut peer = serve(&l, Verdict::Accept).await.unwrap();
    assert_eq!(recv(&mut in_rx).await, LinkEvent::Up);

    // server -> gateway: jabber:component:accept becomes jabber:client
    peer.send(
        "<message from='u@localhost/r' to='x@test.localhost' id='1'><body>hi</body>\
         <x xmlns='urn:x'><y/></x></message>  ",
    )
    .await;
    let LinkEvent::Stanza(m, _, _) = recv(&mut in_rx).await else {
        panic!("expected a stanza")
    };
    assert!(m.is("message", ns::CLIENT));
    assert_eq!(m.get_child("body", ns::CLIENT).unwrap().text(), "hi");
    assert!(
        m.get_child("x", "urn:x")
            .unwrap()
            .get_child("y", "urn:x")
            .is_some()
    );
    let typed = xmpp_parsers::message::Message::try_from(m).unwrap();
    assert_eq!(typed.id.map(|i| i.0).as_deref(), Some("1"));

    // gateway -> server: jabber:client becomes jabber:component:accept
    for i in 0..3 {
        let mut el: Element = format!(
            "<message xmlns='jabber:client' to='u@localhost' from='x@test.localhost' id='o{i}'/>"
        )
        .parse()
        .unwrap();
        // IRC colour codes cannot be carried by XML: replaced, not a panic
        el.append_child(
            Element::builder("body", ns::CLIENT)
                .append(format!("\u{3}04colour {i}"))
                .build(),
        );
        out_tx.send(el.into()).await.unwrap();
    }
    drop(out_tx); // shutdown: queued stanzas first, then </stream:stream>
    for i in 0..3 {
        let Frame::Stanza(o) = peer.next().await.unwrap() else {
            panic!("expected a stanza")
        };
        assert!(o.is("message", ns::COMPONENT_ACCEPT), "{o:?}");
        assert_eq!(o.attr("id"), Some(format!("o{i}").as_str()));
        assert_eq!(
            o.get_child("body", ns::COMPONENT_ACCEPT).unwrap().text(),
            format!("\u{FFFD}04colour {i}")
        );
    }
    assert!(matches!(peer.next().await.unwrap(), Frame::End));
    peer.send("</stream:stream>").await;
    timeout(T, link).await.expect("link did not stop").unwrap();
}

#[tokio::test]
async fn link_stops_within_close_timeout_if_peer_never_closes() {
    let (l, port) = listener().await;
    let (in_tx, mut in_rx) = mpsc::channel(8);
    let (out_tx, out_rx) = mpsc::channel::<OutStanza>(8);
    let link = spawn_link(cfg(port, SECRET), in_tx, out_rx);
    let mut peer = serve(&l, Verdict::Accept).await.unwrap();
    assert_eq!(recv(&mut in_rx).await, LinkEvent::Up);
    let started = Instant::now();
    drop(out_tx);
    assert!(matches!(peer.next().await.unwrap(), Frame::End));
    timeout(T, link).await.expect("link did not stop").unwrap();
    assert!(started.elapsed() < CLOSE_TIMEOUT + Duration::from_secs(1));
}

#[tokio::test]
async fn link_stops_when_inbound_closes() {
    let (l, port) = listener().await;
    let (in_tx, mut in_rx) = mpsc::channel(8);
    let (_out_tx, out_rx) = mpsc::channel::<OutStanza>(8);
    let link = spawn_link(cfg(port, SECRET), in_tx, out_rx);
    let mut peer = serve(&l, Verdict::Accept).await.unwrap();
    assert_eq!(recv(&mut in_rx).await, LinkEvent::Up);
    drop(in_rx);
    // the link notices at its next read
    peer.send("<presence/>").await;
    timeout(T, link).await.expect("link did not stop").unwrap();
    assert!(matches!(peer.next().await.unwrap(), Frame::End));
}

#[tokio::test]
async fn wrong_secret_is_retried_without_up() {
    let (l, port) = listener().await;
    let (in_tx, mut in_rx) = mpsc::channel(8);
    let (out_tx, out_rx) = mpsc::channel::<OutStanza>(8);
    let link = spawn_link(cfg(port, "wrong"), in_tx, out_rx);
    for _ in 0..3 {
        assert!(serve(&l, Verdict::Accept).await.is_none());
    }
    assert!(in_rx.try_recv().is_err(), "no Up on a failed handshake");
    drop(out_tx);
    timeout(T, link).await.expect("link did not stop").unwrap();
}

#[tokio::test]
async fn refused_then_server_appears() {
    let (l, port) = listener().await;
    drop(l);
    let (in_tx, mut in_rx) = mpsc::channel(8);
    let (out_tx, out_rx) = mpsc::channel::<OutStanza>(8);
    let link = spawn_link(cfg(port, SECRET), in_tx, out_rx);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let l = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let _peer = serve(&l, Verdict::Accept).await.unwrap();
    assert_eq!(recv(&mut in_rx).await, LinkEvent::Up);
    drop(out_tx);
    timeout(T, link).await.expect("link did not stop").unwrap();
}

#[tokio::test]
async fn server_restart_gives_down_then_up() {
    let (l, port) = listener().await;
    let (in_tx, mut in_rx) = mpsc::channel(8);
    let (out_tx, out_rx) = mpsc::channel::<OutStanza>(8);
    let link = spawn_link(cfg(port, SECRET), in_tx, out_rx);
    let peer = serve(&l, Verdict::Accept).await.unwrap();
    assert_eq!(recv(&mut in_rx).await, LinkEvent::Up);
    // "restart": the server vanishes without closing the stream
    drop(peer);
    drop(l);
    let LinkEvent::Down { reason } = recv(&mut in_rx).await else {
        panic!("expected Down")
    };
    assert!(reason.contains("read failed"), "{reason}");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let l = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let mut peer = serve(&l, Verdict::Accept).await.unwrap();
    assert_eq!(recv(&mut in_rx).await, LinkEvent::Up);

    // orderly close by the server, then a stream error: both give Down
    peer.send("</stream:stream>").await;
    assert!(matches!(peer.next().await.unwrap(), Frame::End));
    let LinkEvent::Down { reason } = recv(&mut in_rx).await else {
        panic!("expected Down")
    };
    assert!(reason.contains("closed"), "{reason}");
    let mut peer = serve(&l, Verdict::Accept).await.unwrap();
    assert_eq!(recv(&mut in_rx).await, LinkEvent::Up);
    peer.send(&String::from_utf8(writer::stream_error("system-shutdown", None)).unwrap())
        .await;
    let LinkEvent::Down { reason } = recv(&mut in_rx).await else {
        panic!("expected Down")
    };
    assert!(reason.contains("system-shutdown"), "{reason}");
    drop(out_tx);
    timeout(T, link).await.expect("link did not stop").unwrap();
}

#[tokio::test]
async fn oversized_stanza_is_bounced_and_the_link_stays_up() {
    let (l, port) = listener().await;
    let (in_tx, mut in_rx) = mpsc::channel(8);
    let (out_tx, out_rx) = mpsc::channel::<OutStanza>(8);
    let mut c = cfg(port, SECRET);
    c.limits.max_stanza_bytes = 1024;
    let link = spawn_link(c, in_tx, out_rx);
    let mut peer = serve(&l, Verdict::Accept).await.unwrap();
    assert_eq!(recv(&mut in_rx).await, LinkEvent::Up);
    let junk = "x".repeat(4000);
    // an oversized error is dropped silently
    peer.send(&format!(
        "<message from='evil@remote/r' to='x@test.localhost' id='e' type='error'><body>{junk}</body></message>"
    ))
    .await;
    // an oversized message is answered
    peer.send(&format!(
        "<message from='evil@remote/r' to='x@test.localhost' id='big' type='chat'><body>{junk}</body></message>\
         <message from='u@localhost/r' to='x@test.localhost' id='next'><body>fine</body></message>"
    ))
    .await;
    let LinkEvent::Stanza(m, _, _) = recv(&mut in_rx).await else {
        panic!("expected a stanza")
    };
    assert_eq!(m.attr("id"), Some("next"));
    let Frame::Stanza(reply) = peer.next().await.unwrap() else {
        panic!("expected the error reply")
    };
    assert!(reply.is("message", ns::COMPONENT_ACCEPT), "{reply:?}");
    assert_eq!(reply.attr("id"), Some("big"));
    assert_eq!(reply.attr("to"), Some("evil@remote/r"));
    assert_eq!(reply.attr("from"), Some("x@test.localhost"));
    assert_eq!(reply.attr("type"), Some("error"));
    let error = reply.get_child("error", ns::COMPONENT_ACCEPT).unwrap();
    assert_eq!(error.attr("type"), Some("modify"));
    assert!(
        error
            .get_child("policy-violation", ns::XMPP_STANZAS)
            .is_some()
    );
    assert_eq!(
        error.get_child("text", ns::XMPP_STANZAS).unwrap().text(),
        "Stanza too large (limit 1024 bytes)"
    );
    // too deep: answered as well; the link still works both ways
    let mut deep =
        String::from("<iq from='evil@remote/r' to='test.localhost' id='deep' type='get'>");
    for _ in 0..40 {
        deep.push_str("<a>");
    }
    for _ in 0..40 {
        deep.push_str("</a>");
    }
    deep.push_str("</iq>");
    peer.send(&deep).await;
    let Frame::Stanza(reply) = peer.next().await.unwrap() else {
        panic!("expected the error reply")
    };
    assert_eq!(reply.name(), "iq");
    assert_eq!(reply.attr("id"), Some("deep"));
    let text = reply
        .get_child("error", ns::COMPONENT_ACCEPT)
        .and_then(|e| e.get_child("text", ns::XMPP_STANZAS))
        .unwrap()
        .text();
    assert!(text.contains("nested too deeply"), "{text}");
    out_tx
        .send(
            "<presence xmlns='jabber:client' id='out'/>"
                .parse::<Element>()
                .unwrap()
                .into(),
        )
        .await
        .unwrap();
    let Frame::Stanza(p) = peer.next().await.unwrap() else {
        panic!("expected the presence")
    };
    assert_eq!(p.attr("id"), Some("out"));
    assert!(in_rx.try_recv().is_err(), "no Down");
    drop(out_tx);
    assert!(matches!(peer.next().await.unwrap(), Frame::End));
    peer.send("</stream:stream>").await;
    timeout(T, link).await.expect("link did not stop").unwrap();
}

#[tokio::test]
async fn giant_never_closing_element_tears_the_stream_down() {
    let (l, port) = listener().await;
    let (in_tx, mut in_rx) = mpsc::channel(8);
    let (out_tx, out_rx) = mpsc::channel::<OutStanza>(8);
    let mut c = cfg(port, SECRET);
    c.limits.max_stanza_bytes = 1024;
    let link = spawn_link(c, in_tx, out_rx);
    let mut peer = serve(&l, Verdict::Accept).await.unwrap();
    assert_eq!(recv(&mut in_rx).await, LinkEvent::Up);
    peer.send("<message id='giant'><body>").await;
    // more than the absolute skipping bound, and no end tag
    let chunk = "x".repeat(1024);
    for _ in 0..(crate::reader::DISCARD_FACTOR + 2) {
        peer.send(&chunk).await;
    }
    let LinkEvent::Down { reason } = recv(&mut in_rx).await else {
        panic!("expected Down")
    };
    assert!(reason.contains("policy"), "{reason}");
    let Frame::Stanza(e) = peer.next().await.unwrap() else {
        panic!("expected a stream error")
    };
    assert_eq!(
        parse_stream_error(&e).unwrap().condition,
        "policy-violation"
    );
    assert!(matches!(peer.next().await.unwrap(), Frame::End));
    // and it reconnects
    let _peer = serve(&l, Verdict::Accept).await.unwrap();
    assert_eq!(recv(&mut in_rx).await, LinkEvent::Up);
    drop(out_tx);
    timeout(T, link).await.expect("link did not stop").unwrap();
}

/// The consumer stops reading `inbound` (full) and blocks sending on a
/// full `outbound` while the server restarts. The link must neither wait
/// for room for `Down` nor for `Up`: it reconnects, drains `outbound`, and
/// once the consumer reads again everything flows, in order.
#[tokio::test]
async fn full_channels_during_a_restart_do_not_deadlock() {
    let (l, port) = listener().await;
    let (in_tx, mut in_rx) = mpsc::channel(2);
    let (out_tx, out_rx) = mpsc::channel::<OutStanza>(1);
    let link = spawn_link(cfg(port, SECRET), in_tx, out_rx);
    let mut peer = serve(&l, Verdict::Accept).await.unwrap();
    assert_eq!(recv(&mut in_rx).await, LinkEvent::Up);
    // fill inbound; the consumer does not read it for now
    peer.send("<message id='s0'/><message id='s1'/><message id='s2'/>")
        .await;
    timeout(T, async {
        while in_rx.len() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("inbound did not fill");
    // the server goes away
    drop(peer);
    drop(l);
    // the consumer now blocks on the full outbound channel
    const N: usize = 50;
    let consumer = tokio::spawn(async move {
        for i in 0..N {
            let el: Element = format!("<message xmlns='jabber:client' id='o{i}'/>")
                .parse()
                .unwrap();
            out_tx.send(el.into()).await.unwrap();
        }
        out_tx
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!consumer.is_finished(), "outbound should be full by now");
    // the server comes back: the link reconnects and drains outbound
    let l = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    let mut peer = serve(&l, Verdict::Accept).await.unwrap();
    let mut last = None;
    while last != Some(format!("o{}", N - 1)) {
        let Frame::Stanza(o) = peer.next().await.unwrap() else {
            panic!("expected a stanza")
        };
        let id = o.attr("id").map(str::to_owned);
        if let (Some(prev), Some(cur)) = (&last, &id) {
            let n = |s: &str| s[1..].parse::<usize>().unwrap();
            assert!(n(cur) > n(prev), "{prev} then {cur}");
        }
        last = id;
    }
    let out_tx = timeout(T, consumer).await.expect("consumer stuck").unwrap();
    // the consumer reads again: the old stanzas, then Up (Down was dropped
    // for lack of room), then the new connection's stanzas
    let mut seen = Vec::new();
    loop {
        match recv(&mut in_rx).await {
            LinkEvent::Stanza(m, _, _) => {
                let id = m.attr("id").unwrap().to_owned();
                seen.push(id.clone());
                if id == "s0" || id == "s1" {
                    continue;
                }
                // first stanza of the new connection, only after Up
                assert_eq!(id, "new", "{seen:?}");
                break;
            }
            LinkEvent::Up => {
                seen.push("Up".into());
                peer.send("<message id='new'/>").await;
            }
            LinkEvent::Down { .. } => seen.push("Down".into()),
            LinkEvent::Standby => panic!("no other instance holds the domain here"),
        }
    }
    assert_eq!(seen.first().map(String::as_str), Some("s0"));
    assert_eq!(seen.get(1).map(String::as_str), Some("s1"));
    assert!(seen.contains(&"Up".to_owned()), "{seen:?}");
    // s2 was in the old socket when it died: lost, as documented
    assert!(!seen.contains(&"s2".to_owned()), "{seen:?}");
    drop(out_tx);
    assert!(matches!(peer.next().await.unwrap(), Frame::End));
    peer.send("</stream:stream>").await;
    timeout(T, link).await.expect("link did not stop").unwrap();
}

/// A producer keeps `outbound` non-empty for much longer than the write
/// timeout while the peer reads steadily but slowly: the link must not
/// time out (the timeout is per write, not per batch).
#[tokio::test]
async fn sustained_traffic_does_not_time_out() {
    use tokio::io::AsyncReadExt;
    const WRITE_T: Duration = Duration::from_millis(200);
    const N: usize = 1000;
    let (w, mut r) = tokio::io::duplex(16 * 1024);
    let mut writer = BufWriter::new(w);
    let (out_tx, mut out_rx) = mpsc::channel::<OutStanza>(N);
    let (_reply_tx, mut reply_rx) = mpsc::channel::<Element>(1);
    let body = "b".repeat(1000);
    for i in 0..N {
        let el: Element =
            format!("<message xmlns='jabber:client' id='{i}'><body>{body}</body></message>")
                .parse()
                .unwrap();
        out_tx.send(el.into()).await.unwrap();
    }
    drop(out_tx);
    // ~1 MB read at ~1.6 MB/s: about 0.6 s of continuous writing, three
    // times the write timeout, with the channel never empty until the end
    let peer = tokio::spawn(async move {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 8 * 1024];
        loop {
            let n = r.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        got
    });
    let started = Instant::now();
    let end = timeout(
        T,
        write_loop(&mut writer, &mut out_rx, &mut reply_rx, WRITE_T),
    )
    .await
    .expect("write loop hung");
    assert!(
        matches!(end, WriteEnd::Closed),
        "{:?}",
        match end {
            WriteEnd::Failed(r) => r,
            WriteEnd::Closed => String::new(),
        }
    );
    assert!(started.elapsed() > WRITE_T * 2, "{:?}", started.elapsed());
    writer.shutdown().await.unwrap();
    let got = timeout(T, peer).await.unwrap().unwrap();
    let text = String::from_utf8(got).unwrap();
    assert_eq!(text.matches("<message").count(), N);
    assert!(text.ends_with("</stream:stream>"));
    let first = text
        .find("id=\"0\"")
        .or_else(|| text.find("id='0'"))
        .unwrap();
    let last = text
        .find(&format!("id=\"{}\"", N - 1))
        .or_else(|| text.find(&format!("id='{}'", N - 1)))
        .unwrap();
    assert!(first < last);
}

/// A peer that stops reading is still detected, within about the write
/// timeout.
#[tokio::test]
async fn stalled_peer_times_out() {
    const WRITE_T: Duration = Duration::from_millis(200);
    let (w, _r) = tokio::io::duplex(1024);
    let mut writer = BufWriter::new(w);
    let (out_tx, mut out_rx) = mpsc::channel::<OutStanza>(8);
    let (_reply_tx, mut reply_rx) = mpsc::channel::<Element>(1);
    let el: Element = format!(
        "<message xmlns='jabber:client'><body>{}</body></message>",
        "b".repeat(100_000)
    )
    .parse()
    .unwrap();
    out_tx.send(el.into()).await.unwrap();
    let started = Instant::now();
    let end = timeout(
        T,
        write_loop(&mut writer, &mut out_rx, &mut reply_rx, WRITE_T),
    )
    .await
    .expect("write loop hung");
    assert!(
        matches!(&end, WriteEnd::Failed(r) if r.contains("timed out")),
        "expected a timeout"
    );
    assert!(started.elapsed() < WRITE_T * 5, "{:?}", started.elapsed());
}

#[tokio::test]
async fn back_pressure_keeps_order_and_loses_nothing() {
    let (l, port) = listener().await;
    let (in_tx, mut in_rx) = mpsc::channel(1);
    let (out_tx, out_rx) = mpsc::channel::<OutStanza>(1);
    let link = spawn_link(cfg(port, SECRET), in_tx, out_rx);
    let mut peer = serve(&l, Verdict::Accept).await.unwrap();
    assert_eq!(recv(&mut in_rx).await, LinkEvent::Up);
    let sender = tokio::spawn(async move {
        for i in 0..500 {
            peer.send(&format!("<message id='{i}'><body>{i}</body></message>"))
                .await;
        }
        peer
    });
    for i in 0..500 {
        let LinkEvent::Stanza(m, _, _) = recv(&mut in_rx).await else {
            panic!("expected a stanza")
        };
        assert_eq!(m.attr("id"), Some(i.to_string().as_str()));
        if i % 100 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let _peer = sender.await.unwrap();
    drop(out_tx);
    timeout(T, link).await.expect("link did not stop").unwrap();
}

#[tokio::test]
async fn another_instance_holding_the_domain_puts_the_link_on_standby_until_it_goes() {
    let (l, port) = listener().await;
    let (in_tx, mut in_rx) = mpsc::channel(8);
    let (out_tx, out_rx) = mpsc::channel::<OutStanza>(8);
    let mut c = cfg(port, SECRET);
    c.standby_retry = Duration::from_millis(50);
    let link = spawn_link(c, in_tx, out_rx);
    assert!(serve(&l, Verdict::Reject("conflict")).await.is_none());
    assert_eq!(recv(&mut in_rx).await, LinkEvent::Standby);
    // What the instance's ending sessions say meanwhile is not sent on takeover.
    let m: Element = "<message xmlns='jabber:client' id='stale'/>"
        .parse()
        .unwrap();
    out_tx.send(m.into()).await.unwrap();
    // Still held: tried again, and no second Standby.
    assert!(serve(&l, Verdict::Reject("conflict")).await.is_none());
    // The other one is gone: taken over.
    let mut peer = serve(&l, Verdict::Accept).await.unwrap();
    assert_eq!(recv(&mut in_rx).await, LinkEvent::Up);
    let m: Element = "<message xmlns='jabber:client' id='fresh'/>"
        .parse()
        .unwrap();
    out_tx.send(m.into()).await.unwrap();
    let Frame::Stanza(first) = peer.next().await.unwrap() else {
        panic!("expected a stanza")
    };
    assert_eq!(first.attr("id"), Some("fresh"));
    drop(out_tx);
    timeout(T, link).await.expect("link did not stop").unwrap();
}
