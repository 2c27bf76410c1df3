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
    let LinkEvent::Stanza(m) = recv(&mut in_rx).await else {
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
        out_tx.send(el).await.unwrap();
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
    let (out_tx, out_rx) = mpsc::channel::<Element>(8);
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
    let (_out_tx, out_rx) = mpsc::channel::<Element>(8);
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
    let (out_tx, out_rx) = mpsc::channel::<Element>(8);
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
    let (out_tx, out_rx) = mpsc::channel::<Element>(8);
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
    let (out_tx, out_rx) = mpsc::channel::<Element>(8);
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
async fn policy_violation_from_server_gets_stream_error() {
    let (l, port) = listener().await;
    let (in_tx, mut in_rx) = mpsc::channel(8);
    let (out_tx, out_rx) = mpsc::channel::<Element>(8);
    let mut c = cfg(port, SECRET);
    c.limits.max_stanza_bytes = 1024;
    let link = spawn_link(c, in_tx, out_rx);
    let mut peer = serve(&l, Verdict::Accept).await.unwrap();
    assert_eq!(recv(&mut in_rx).await, LinkEvent::Up);
    peer.send(&format!(
        "<message><body>{}</body></message>",
        "x".repeat(4000)
    ))
    .await;
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

#[tokio::test]
async fn back_pressure_keeps_order_and_loses_nothing() {
    let (l, port) = listener().await;
    let (in_tx, mut in_rx) = mpsc::channel(1);
    let (out_tx, out_rx) = mpsc::channel::<Element>(1);
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
        let LinkEvent::Stanza(m) = recv(&mut in_rx).await else {
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
