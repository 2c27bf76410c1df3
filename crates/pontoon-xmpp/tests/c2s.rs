//! End-to-end tests of the c2s listener with a scripted client.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod support;

use std::time::Duration;

use pontoon_xmpp::c2s::{C2sEvent, CloseReason};
use pontoon_xmpp::ns;
use pontoon_xmpp::reader::Frame;
use support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const USER: &str = "nick%irc.example";

#[tokio::test]
async fn starttls_login_bind_and_messages() {
    let mut s = Server::start(true, |_| {}).await;
    let ca = s.ca.clone().unwrap();
    let (mut c, f) = starttls(s.addr, &ca).await;
    assert!(offers_plain(&f), "{f:?}");
    assert!(f.get_child("starttls", ns::TLS).is_none());

    let (cond, text) = sasl_failure(&c.auth(USER, "wrong").await);
    assert_eq!(cond, "not-authorized");
    assert_eq!(text.as_deref(), Some("Wrong password for nick%irc.example"));
    let (cond, text) = sasl_failure(&c.auth(USER, "down").await);
    assert_eq!(cond, "temporary-auth-failure");
    assert_eq!(text.as_deref(), Some("irc.example is unreachable"));
    let ok = c.auth(USER, "good").await;
    assert!(ok.is("success", ns::SASL), "{ok:?}");

    let jid = c.restart_and_bind(Some("phone")).await;
    assert_eq!(jid, "nick%irc.example@example.test/phone");
    let C2sEvent::Bound {
        conn,
        jid: bound,
        token,
        handle,
    } = s.event().await
    else {
        panic!("expected Bound")
    };
    assert_eq!(bound.to_string(), jid);
    assert_eq!(token.downcast_ref::<String>().unwrap(), USER);
    assert_eq!(s.server.bound(), 1);
    assert_eq!(s.server.unauthenticated(), 0);

    // from is stamped by the server, whatever the client wrote
    c.send("<message to='alice@irc.example.test' from='mallory@evil' id='m1'><body>hi</body></message>")
        .await;
    let C2sEvent::Stanza {
        conn: c2, stanza, ..
    } = s.event().await
    else {
        panic!("expected a stanza")
    };
    assert_eq!(c2, conn);
    assert_eq!(stanza.attr("from"), Some(jid.as_str()));
    assert_eq!(stanza.attr("to"), Some("alice@irc.example.test"));
    assert_eq!(stanza.get_child("body", ns::CLIENT).unwrap().text(), "hi");

    // and the other way
    handle
        .out
        .send(message(&jid, "hello back").into())
        .await
        .unwrap();
    let m = c.el().await;
    assert!(m.is("message", ns::CLIENT));
    assert_eq!(
        m.get_child("body", ns::CLIENT).unwrap().text(),
        "hello back"
    );

    // the legacy session iq is answered by the server
    c.send("<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
        .await;
    let r = c.el().await;
    assert_eq!(r.attr("type"), Some("result"));
    assert_eq!(r.attr("id"), Some("s1"));

    c.send("</stream:stream>").await;
    assert!(matches!(c.frame().await, Ok(Frame::End)));
    let C2sEvent::Closed {
        conn: c3, reason, ..
    } = s.event().await
    else {
        panic!("expected Closed")
    };
    assert_eq!(c3, conn);
    assert_eq!(reason, CloseReason::ClientClosed);
    assert_eq!(s.server.bound(), 0);
}

#[tokio::test]
async fn direct_tls_login_with_generated_resource() {
    let mut s = Server::start(true, |_| {}).await;
    let ca = s.ca.clone().unwrap();
    let (mut c, f) = direct_tls(s.tls_addr.unwrap(), &ca).await;
    assert!(f.get_child("starttls", ns::TLS).is_none());
    assert!(offers_plain(&f));
    assert!(c.auth(USER, "good").await.is("success", ns::SASL));
    let jid = c.restart_and_bind(None).await;
    let (bare, resource) = jid.split_once('/').unwrap();
    assert_eq!(bare, "nick%irc.example@example.test");
    assert!(!resource.is_empty());
    assert!(matches!(s.event().await, C2sEvent::Bound { .. }));
}

#[tokio::test]
async fn plaintext_login_is_refused_unless_allowed_on_loopback() {
    // TLS configured, plain text not allowed: STARTTLS is required and no
    // mechanism is offered before it; PLAIN in the clear is refused.
    let s = Server::start(true, |_| {}).await;
    let (mut c, f) = plain(s.addr).await;
    assert!(!offers_plain(&f));
    let (cond, _) = sasl_failure(&c.auth(USER, "good").await);
    assert_eq!(cond, "encryption-required");

    // Allowed on loopback: STARTTLS offered but optional, PLAIN offered.
    let mut s = Server::start(true, |c| c.allow_plaintext_on_loopback = true).await;
    let (mut c, f) = plain(s.addr).await;
    let st = f.get_child("starttls", ns::TLS).unwrap();
    assert!(st.get_child("required", ns::TLS).is_none());
    assert!(offers_plain(&f));
    assert!(c.auth(USER, "good").await.is("success", ns::SASL));
    c.restart_and_bind(Some("desk")).await;
    assert!(matches!(s.event().await, C2sEvent::Bound { .. }));
}

#[tokio::test]
async fn sasl_errors() {
    let s = Server::start(false, |c| c.max_auth_failures = 10).await;
    let (mut c, _) = plain(s.addr).await;
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>!!notbase64</auth>")
        .await;
    assert_eq!(sasl_failure(&c.el().await).0, "incorrect-encoding");
    // "nouser" in base64: no NUL separators
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>bm91c2Vy</auth>")
        .await;
    assert_eq!(sasl_failure(&c.el().await).0, "malformed-request");
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>x</auth>")
        .await;
    assert_eq!(sasl_failure(&c.el().await).0, "invalid-mechanism");
    // no initial response: empty challenge, then abort
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>")
        .await;
    assert!(c.el().await.is("challenge", ns::SASL));
    c.send("<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
        .await;
    assert_eq!(sasl_failure(&c.el().await).0, "aborted");
    // authzid of someone else
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(b"other@example.test\0nick\0good");
    c.send(&format!(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{b64}</auth>"
    ))
    .await;
    assert_eq!(sasl_failure(&c.el().await).0, "invalid-authzid");
    // challenge then response works
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>=</auth>")
        .await;
    assert_eq!(sasl_failure(&c.el().await).0, "malformed-request");
    c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'></auth>")
        .await;
    assert!(c.el().await.is("challenge", ns::SASL));
    let b64 = base64::engine::general_purpose::STANDARD.encode(b"\0nick\0good");
    c.send(&format!(
        "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{b64}</response>"
    ))
    .await;
    assert!(c.el().await.is("success", ns::SASL));
}

#[tokio::test]
async fn too_many_failures_on_one_connection_close_it() {
    let s = Server::start(false, |c| c.max_auth_failures = 2).await;
    let (mut c, _) = plain(s.addr).await;
    assert_eq!(sasl_failure(&c.auth(USER, "bad").await).0, "not-authorized");
    assert_eq!(sasl_failure(&c.auth(USER, "bad").await).0, "not-authorized");
    c.expect_stream_error("policy-violation").await;
}

#[tokio::test]
async fn auth_attempts_per_address_are_limited() {
    let s = Server::start(false, |c| {
        c.auth_attempts_per_minute = 2;
        c.max_auth_failures = 10;
    })
    .await;
    let (mut c, _) = plain(s.addr).await;
    assert_eq!(sasl_failure(&c.auth(USER, "bad").await).0, "not-authorized");
    assert_eq!(sasl_failure(&c.auth(USER, "bad").await).0, "not-authorized");
    let (cond, text) = sasl_failure(&c.auth(USER, "good").await);
    assert_eq!(cond, "temporary-auth-failure");
    assert!(text.unwrap().contains("Too many login attempts"));
    assert!(matches!(c.frame().await, Ok(Frame::End) | Err(_)));
    // a new connection from the same address is limited too
    let (mut c, _) = plain(s.addr).await;
    let (cond, _) = sasl_failure(&c.auth(USER, "good").await);
    assert_eq!(cond, "temporary-auth-failure");
}

#[tokio::test]
async fn unauthenticated_connections_are_capped() {
    let mut s = Server::start(false, |c| c.max_unauthenticated = 2).await;
    let (a, _) = plain(s.addr).await;
    let (mut b, _) = plain(s.addr).await;
    assert_eq!(s.server.unauthenticated(), 2);
    // the third is refused with a stream error
    let tcp = TcpStream::connect(s.addr).await.unwrap();
    let mut third = Client::new(tcp);
    let Frame::Header(_) = third.frame().await.unwrap() else {
        panic!("expected a header")
    };
    third.expect_stream_error("policy-violation").await;
    // authenticating frees a slot
    assert!(b.auth(USER, "good").await.is("success", ns::SASL));
    b.restart_and_bind(None).await;
    assert!(matches!(s.event().await, C2sEvent::Bound { .. }));
    let (_c, f) = plain(s.addr).await;
    assert!(offers_plain(&f));
    // and so does leaving
    drop(a);
    for _ in 0..100 {
        if s.server.unauthenticated() < 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(s.server.unauthenticated(), 1);
}

/// One address cannot take every unauthenticated slot: beyond its share it is refused,
/// and a client from another address still gets in.
#[tokio::test]
async fn unauthenticated_connections_are_capped_per_address() {
    let s = Server::start(false, |c| {
        c.max_unauthenticated = 10;
        c.max_unauthenticated_per_address = 3;
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(plain(s.addr).await);
    }
    let tcp = TcpStream::connect(s.addr).await.unwrap();
    let mut fourth = Client::new(tcp);
    let Frame::Header(_) = fourth.frame().await.unwrap() else {
        panic!("expected a header")
    };
    fourth.expect_stream_error("policy-violation").await;
    assert_eq!(s.server.unauthenticated(), 3);
    // Another loopback address has its own share.
    let other = tokio::net::TcpSocket::new_v4().unwrap();
    other.bind("127.0.0.62:0".parse().unwrap()).unwrap();
    let tcp = other.connect(s.addr).await.unwrap();
    let mut c = Client::new(tcp);
    let f = c.open(DOMAIN).await;
    assert!(offers_plain(&f));
    assert!(c.auth(USER, "good").await.is("success", ns::SASL));
    // A slot given back is the address's again.
    drop(held.pop());
    for _ in 0..100 {
        if s.server.unauthenticated() < 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_again, f) = plain(s.addr).await;
    assert!(offers_plain(&f));
}

/// A bound client that sends faster than its stanza rate is read no faster: after the
/// burst, stanzas reach the application at the rate (nothing refused, nothing lost).
#[tokio::test]
async fn bound_clients_are_read_at_their_stanza_rate() {
    let mut s = Server::start(false, |c| {
        c.stanzas_per_second = 20.0;
        c.stanza_burst = 5;
    })
    .await;
    let (mut c, _) = plain(s.addr).await;
    assert!(c.auth(USER, "good").await.is("success", ns::SASL));
    c.restart_and_bind(None).await;
    // The handle stays alive: dropping it closes the stream.
    let C2sEvent::Bound {
        handle: _handle, ..
    } = s.event().await
    else {
        panic!("not bound")
    };
    let burst: String = (0..25)
        .map(|i| format!("<message to='x@{DOMAIN}' id='m{i}'><body>{i}</body></message>"))
        .collect();
    let started = tokio::time::Instant::now();
    c.send(&burst).await;
    let mut ids = Vec::new();
    while ids.len() < 25 {
        if let C2sEvent::Stanza { stanza, .. } = s.event().await {
            ids.push(stanza.attr("id").unwrap_or_default().to_owned());
        }
    }
    let took = started.elapsed();
    // 5 at once, then 20 more at 20 a second: about one second.
    assert!(
        took >= Duration::from_millis(900),
        "read too fast: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "read too slowly: {took:?}");
    let want: Vec<String> = (0..25).map(|i| format!("m{i}")).collect();
    assert_eq!(ids, want);
}

#[tokio::test]
async fn stream_errors_for_bad_streams() {
    let s = Server::start(false, |_| {}).await;
    // unknown host
    let tcp = TcpStream::connect(s.addr).await.unwrap();
    let mut c = Client::new(tcp);
    c.send("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='other.test' version='1.0'>")
        .await;
    assert!(matches!(c.frame().await.unwrap(), Frame::Header(_)));
    c.expect_stream_error("host-unknown").await;
    // wrong namespace
    let tcp = TcpStream::connect(s.addr).await.unwrap();
    let mut c = Client::new(tcp);
    c.send("<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='example.test' version='1.0'>")
        .await;
    assert!(matches!(c.frame().await.unwrap(), Frame::Header(_)));
    c.expect_stream_error("invalid-namespace").await;
    // a stanza before authentication
    let (mut c, _) = plain(s.addr).await;
    c.send("<message to='a@b'><body>x</body></message>").await;
    c.expect_stream_error("not-authorized").await;
    // an unknown element before authentication
    let (mut c, _) = plain(s.addr).await;
    c.send("<foo xmlns='urn:bar'/>").await;
    c.expect_stream_error("unsupported-stanza-type").await;
    // a stanza after authentication but before binding
    let (mut c, _) = plain(s.addr).await;
    assert!(c.auth(USER, "good").await.is("success", ns::SASL));
    c.r.reset();
    c.open(DOMAIN).await;
    c.send("<presence/>").await;
    c.expect_stream_error("not-authorized").await;
    // a bad resource is a bind error, not fatal
    let (mut c, _) = plain(s.addr).await;
    assert!(c.auth(USER, "good").await.is("success", ns::SASL));
    c.r.reset();
    c.open(DOMAIN).await;
    c.send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>a\u{7}b</resource></bind></iq>")
        .await;
    // U+0007 is not even XML: not-well-formed
    c.expect_stream_error("not-well-formed").await;
    let (mut c, _) = plain(s.addr).await;
    assert!(c.auth(USER, "good").await.is("success", ns::SASL));
    c.r.reset();
    c.open(DOMAIN).await;
    let long = "r".repeat(2000);
    c.send(&format!("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{long}</resource></bind></iq>"))
        .await;
    let e = c.el().await;
    assert_eq!(e.attr("type"), Some("error"));
    assert!(
        e.get_child("error", ns::CLIENT)
            .unwrap()
            .get_child("bad-request", ns::XMPP_STANZAS)
            .is_some()
    );
}

#[tokio::test]
async fn negotiation_times_out() {
    let s = Server::start(false, |c| {
        c.negotiation_timeout = Duration::from_millis(300)
    })
    .await;
    let (mut c, _) = plain(s.addr).await;
    c.expect_stream_error("connection-timeout").await;
    // the authenticator's own time does not count, but its bound does
    let s = Server::start(false, |c| {
        c.negotiation_timeout = Duration::from_millis(300);
        c.auth_timeout = Duration::from_millis(500);
    })
    .await;
    let (mut c, _) = plain(s.addr).await;
    let (cond, text) = sasl_failure(&c.auth(USER, "slow").await);
    assert_eq!(cond, "temporary-auth-failure");
    assert!(text.unwrap().contains("too long"));
}

async fn bound_plain(
    s: &mut Server,
    resource: &str,
) -> (Client<TcpStream>, pontoon_xmpp::c2s::C2sHandle) {
    let (mut c, _) = plain(s.addr).await;
    assert!(c.auth(USER, "good").await.is("success", ns::SASL));
    c.restart_and_bind(Some(resource)).await;
    let C2sEvent::Bound { handle, .. } = s.event().await else {
        panic!("expected Bound")
    };
    (c, handle)
}

#[tokio::test]
async fn garbage_and_oversized_input_close_only_that_stream() {
    let mut s = Server::start(false, |c| {
        c.limits.max_stanza_bytes = 4096;
    })
    .await;
    let (mut good, good_h) = bound_plain(&mut s, "good").await;
    let (mut bad, bad_h) = bound_plain(&mut s, "bad").await;
    bad.send("<message><<<garbage").await;
    bad.expect_stream_error("not-well-formed").await;
    let C2sEvent::Closed { conn, reason, .. } = s.event().await else {
        panic!("expected Closed")
    };
    assert_eq!(conn, bad_h.conn);
    assert!(
        matches!(reason, CloseReason::ProtocolError(_)),
        "{reason:?}"
    );

    let (mut big, big_h) = bound_plain(&mut s, "big").await;
    let body = "x".repeat(8000);
    big.send(&format!("<message to='a@b'><body>{body}</body></message>"))
        .await;
    big.expect_stream_error("policy-violation").await;
    let C2sEvent::Closed { conn, .. } = s.event().await else {
        panic!("expected Closed")
    };
    assert_eq!(conn, big_h.conn);

    // an unknown element after binding
    let (mut odd, _odd_h) = bound_plain(&mut s, "odd").await;
    odd.send("<foo xmlns='urn:bar'/>").await;
    odd.expect_stream_error("unsupported-stanza-type").await;
    assert!(matches!(s.event().await, C2sEvent::Closed { .. }));

    // the good client is unaffected
    good.send("<message to='x@y'><body>still here</body></message>")
        .await;
    let C2sEvent::Stanza { conn, .. } = s.event().await else {
        panic!("expected a stanza")
    };
    assert_eq!(conn, good_h.conn);
    good_h
        .out
        .send(message("x@y", "pong").into())
        .await
        .unwrap();
    assert!(good.el().await.is("message", ns::CLIENT));
}

#[tokio::test]
async fn same_resource_replaces_the_older_login() {
    let mut s = Server::start(false, |_| {}).await;
    let (mut old, old_h) = bound_plain(&mut s, "r").await;
    let (_new, new_h) = bound_plain(&mut s, "r").await;
    assert_ne!(old_h.conn, new_h.conn);
    old.expect_stream_error("conflict").await;
    let C2sEvent::Closed { conn, reason, .. } = s.event().await else {
        panic!("expected Closed")
    };
    assert_eq!(conn, old_h.conn);
    assert_eq!(reason, CloseReason::Replaced);
    assert_eq!(s.server.bound(), 1);
}

#[tokio::test]
async fn application_close() {
    let mut s = Server::start(false, |_| {}).await;
    let (mut c, h) = bound_plain(&mut s, "r").await;
    assert!(h.close(Some("system-shutdown"), Some("bye".into())));
    c.expect_stream_error("system-shutdown").await;
    let C2sEvent::Closed { reason, .. } = s.event().await else {
        panic!("expected Closed")
    };
    assert_eq!(reason, CloseReason::ClosedByApplication);
    assert!(h.out.send(message("a@b", "late").into()).await.is_err());

    // dropping every sender of the queue closes the stream cleanly
    let (mut c, h) = bound_plain(&mut s, "r").await;
    drop(h);
    assert!(matches!(c.frame().await, Ok(Frame::End)));
    let C2sEvent::Closed { reason, .. } = s.event().await else {
        panic!("expected Closed")
    };
    assert_eq!(reason, CloseReason::ClosedByApplication);
}

#[tokio::test]
async fn idle_streams_are_pinged_then_closed() {
    let mut s = Server::start(false, |c| {
        // generous against a loaded machine: keepalives come every 100 ms
        c.idle_timeout = Duration::from_millis(700);
        c.ping_timeout = Duration::from_millis(300);
    })
    .await;
    let (mut c, h) = bound_plain(&mut s, "r").await;
    // whitespace keepalives count as activity
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.send(" ").await;
    }
    // then silence: a ping, and after no answer the stream is closed
    let ping = c.el().await;
    assert!(ping.is("iq", ns::CLIENT));
    assert_eq!(ping.attr("type"), Some("get"));
    assert!(ping.get_child("ping", ns::PING).is_some());
    c.expect_stream_error("connection-timeout").await;
    let C2sEvent::Closed { conn, reason, .. } = s.event().await else {
        panic!("expected Closed")
    };
    assert_eq!(conn, h.conn);
    assert_eq!(reason, CloseReason::Idle);

    // answering the ping keeps the stream (and the answer is not forwarded)
    let (mut c, _h) = bound_plain(&mut s, "r2").await;
    let ping = c.el().await;
    let id = ping.attr("id").unwrap().to_owned();
    c.send(&format!("<iq type='result' id='{id}' to='example.test'/>"))
        .await;
    let ping2 = c.el().await;
    assert!(ping2.get_child("ping", ns::PING).is_some());
    s.no_event(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn stream_management_acks_and_resumption() {
    let mut s = Server::start(false, |c| {
        c.sm_resume_timeout = Duration::from_secs(30);
    })
    .await;
    let (mut c, h) = bound_plain(&mut s, "r").await;
    c.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
        .await;
    let enabled = c.el().await;
    assert!(enabled.is("enabled", ns::SM), "{enabled:?}");
    assert_eq!(enabled.attr("resume"), Some("true"));
    let id = enabled.attr("id").unwrap().to_owned();

    // inbound counting: a stanza counts once the application has handled it (dropped
    // its receipt), so the answer to <r/> waits for both
    c.send("<message to='a@b'><body>1</body></message><presence/><r xmlns='urn:xmpp:sm:3'/>")
        .await;
    let first = s.event().await;
    assert!(matches!(
        first,
        C2sEvent::Stanza {
            handled: Some(_),
            ..
        }
    ));
    let second = s.event().await;
    assert!(matches!(second, C2sEvent::Stanza { .. }));
    drop(second);
    assert!(
        tokio::time::timeout(Duration::from_millis(100), c.el())
            .await
            .is_err(),
        "acknowledged before the application handled the first stanza"
    );
    drop(first);
    let a = c.el().await;
    assert!(a.is("a", ns::SM));
    assert_eq!(a.attr("h"), Some("2"));

    // outbound: each batch asks for an ack
    h.out.send(message("nick@x", "one").into()).await.unwrap();
    let m = c.el().await;
    assert_eq!(m.get_child("body", ns::CLIENT).unwrap().text(), "one");
    let r = c.el().await;
    assert!(r.is("r", ns::SM));
    c.send("<a xmlns='urn:xmpp:sm:3' h='1'/>").await;
    h.out.send(message("nick@x", "two").into()).await.unwrap();
    h.out.send(message("nick@x", "three").into()).await.unwrap();
    // read until both arrived (the acks requests may interleave)
    let mut bodies = Vec::new();
    while bodies.len() < 2 {
        let el = c.el().await;
        if el.is("message", ns::CLIENT) {
            bodies.push(el.get_child("body", ns::CLIENT).unwrap().text());
        }
    }
    assert_eq!(bodies, ["two", "three"]);
    // the connection dies without acks for two and three
    drop(c);
    s.no_event(Duration::from_millis(200)).await;
    assert_eq!(s.server.bound(), 1);

    // a new login resumes: the server says how much it got, and re-sends
    // what was not acknowledged
    let (mut c, _) = plain(s.addr).await;
    assert!(c.auth(USER, "good").await.is("success", ns::SASL));
    c.r.reset();
    let f = c.open(DOMAIN).await;
    assert!(f.get_child("sm", ns::SM).is_some());
    c.send(&format!(
        "<resume xmlns='urn:xmpp:sm:3' previd='{id}' h='1'/>"
    ))
    .await;
    let resumed = c.el().await;
    assert!(resumed.is("resumed", ns::SM), "{resumed:?}");
    assert_eq!(resumed.attr("h"), Some("2"));
    let again = c.el().await;
    assert_eq!(again.get_child("body", ns::CLIENT).unwrap().text(), "two");
    let again = c.el().await;
    assert_eq!(again.get_child("body", ns::CLIENT).unwrap().text(), "three");
    let C2sEvent::Resumed { conn, token } = s.event().await else {
        panic!("expected Resumed")
    };
    assert_eq!(conn, h.conn);
    assert!(token.downcast_ref::<String>().is_some());
    // the same handle keeps working
    h.out.send(message("nick@x", "four").into()).await.unwrap();
    loop {
        let el = c.el().await;
        if el.is("message", ns::CLIENT) {
            assert_eq!(el.get_child("body", ns::CLIENT).unwrap().text(), "four");
            break;
        }
    }
    // a wrong previd fails and the client can bind instead
    let (mut c2, _) = plain(s.addr).await;
    assert!(c2.auth(USER, "good").await.is("success", ns::SASL));
    c2.r.reset();
    c2.open(DOMAIN).await;
    c2.send("<resume xmlns='urn:xmpp:sm:3' previd='nope' h='0'/>")
        .await;
    let failed = c2.el().await;
    assert!(failed.is("failed", ns::SM));
    c2.send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
        .await;
    assert_eq!(c2.el().await.attr("type"), Some("result"));
    assert!(matches!(s.event().await, C2sEvent::Bound { .. }));
}

#[tokio::test]
async fn resumption_expires_and_reports_undelivered() {
    let mut s = Server::start(false, |c| {
        c.sm_resume_timeout = Duration::from_millis(300);
    })
    .await;
    let (mut c, h) = bound_plain(&mut s, "r").await;
    c.send("<enable xmlns='urn:xmpp:sm:3' resume='1'/>").await;
    assert!(c.el().await.is("enabled", ns::SM));
    h.out.send(message("nick@x", "lost").into()).await.unwrap();
    assert!(c.el().await.is("message", ns::CLIENT));
    // abrupt end
    let mut tcp = c.r.into_parts().0;
    let _ = tcp.shutdown().await;
    drop(tcp);
    let C2sEvent::Closed {
        conn,
        reason,
        undelivered,
    } = s.event().await
    else {
        panic!("expected Closed")
    };
    assert_eq!(conn, h.conn);
    assert_eq!(reason, CloseReason::ResumeExpired);
    assert_eq!(undelivered.len(), 1);
    assert_eq!(
        undelivered[0]
            .stanza
            .get_child("body", ns::CLIENT)
            .unwrap()
            .text(),
        "lost"
    );
    assert_eq!(s.server.bound(), 0);
}

#[tokio::test]
async fn acking_more_than_sent_is_a_stream_error() {
    let mut s = Server::start(false, |_| {}).await;
    // (dropping every handle would close the stream: keep it)
    let (mut c, _h) = bound_plain(&mut s, "r").await;
    c.send("<enable xmlns='urn:xmpp:sm:3'/>").await;
    let enabled = c.el().await;
    assert!(enabled.is("enabled", ns::SM));
    assert!(enabled.attr("id").is_none());
    c.send("<a xmlns='urn:xmpp:sm:3' h='5'/>").await;
    c.expect_stream_error("undefined-condition").await;
}

/// `<r/>` and `<a/>` before `<enable/>` are no element of the stream: a stream error that
/// says so, not silence.
#[tokio::test]
async fn acks_without_stream_management_are_a_stream_error() {
    for el in [
        "<r xmlns='urn:xmpp:sm:3'/>",
        "<a xmlns='urn:xmpp:sm:3' h='0'/>",
    ] {
        let mut s = Server::start(false, |_| {}).await;
        let (mut c, _h) = bound_plain(&mut s, "r").await;
        c.send(el).await;
        c.expect_stream_error("unsupported-stanza-type").await;
    }
}

/// An acknowledgement below an earlier one is told as going backwards (not as "more than
/// was sent").
#[tokio::test]
async fn acks_that_go_backwards_say_so() {
    let mut s = Server::start(false, |_| {}).await;
    let (mut c, h) = bound_plain(&mut s, "r").await;
    c.send("<enable xmlns='urn:xmpp:sm:3'/>").await;
    assert!(c.el().await.is("enabled", ns::SM));
    h.out.send(message("nick@x", "one").into()).await.unwrap();
    assert!(c.el().await.is("message", ns::CLIENT));
    assert!(c.el().await.is("r", ns::SM));
    c.send("<a xmlns='urn:xmpp:sm:3' h='1'/>").await;
    c.send("<a xmlns='urn:xmpp:sm:3' h='0'/>").await;
    let el = c.el().await;
    assert!(el.is("error", ns::STREAMS), "{el:?}");
    assert!(
        el.get_child("undefined-condition", ns::XMPP_STREAMS)
            .is_some()
    );
    let text = el
        .get_child("text", ns::XMPP_STREAMS)
        .map(|t| t.text())
        .unwrap_or_default();
    assert!(text.contains("never go backwards"), "{text}");
}

#[tokio::test]
async fn close_all_ends_bound_and_parked_sessions() {
    let mut s = Server::start(false, |_| {}).await;
    let (mut a, _ha) = bound_plain(&mut s, "a").await;
    let (mut b, _hb) = bound_plain(&mut s, "b").await;
    b.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
        .await;
    assert!(b.el().await.is("enabled", ns::SM));
    drop(b);
    s.no_event(Duration::from_millis(200)).await;
    s.server.close_all("system-shutdown", None).await;
    a.expect_stream_error("system-shutdown").await;
    for _ in 0..2 {
        let C2sEvent::Closed { reason, .. } = s.event().await else {
            panic!("expected Closed")
        };
        assert_eq!(reason, CloseReason::ClosedByApplication);
    }
    assert_eq!(s.server.bound(), 0);
}

#[tokio::test]
async fn server_generated_stanzas_count_for_stream_management() {
    let mut s = Server::start(false, |_| {}).await;
    let (mut c, h) = bound_plain(&mut s, "r").await;
    c.send("<enable xmlns='urn:xmpp:sm:3'/>").await;
    assert!(c.el().await.is("enabled", ns::SM));
    // the session iq result is a stanza the client counts
    c.send("<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
        .await;
    assert_eq!(c.el().await.attr("type"), Some("result"));
    h.out.send(message("nick@x", "one").into()).await.unwrap();
    assert!(c.el().await.is("message", ns::CLIENT));
    assert!(c.el().await.is("r", ns::SM));
    c.send("<a xmlns='urn:xmpp:sm:3' h='2'/>").await;
    c.send("<message to='a@b'/>").await;
    assert!(matches!(s.event().await, C2sEvent::Stanza { .. }));
    // nothing is left unacknowledged, and the session iq result is never
    // reported as undelivered
    h.out.send(message("nick@x", "two").into()).await.unwrap();
    assert!(c.el().await.is("message", ns::CLIENT));
    c.send("</stream:stream>").await;
    let C2sEvent::Closed { undelivered, .. } = s.event().await else {
        panic!("expected Closed")
    };
    assert_eq!(undelivered.len(), 1);
    assert_eq!(
        undelivered[0]
            .stanza
            .get_child("body", ns::CLIENT)
            .unwrap()
            .text(),
        "two"
    );
}

#[tokio::test]
async fn resumption_takes_over_a_connection_not_yet_noticed_dead() {
    let mut s = Server::start(false, |_| {}).await;
    let (mut old, h) = bound_plain(&mut s, "r").await;
    old.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
        .await;
    let id = old.el().await.attr("id").unwrap().to_owned();
    h.out
        .send(message("nick@x", "unacked").into())
        .await
        .unwrap();
    assert!(old.el().await.is("message", ns::CLIENT));
    // the old TCP connection is still open when the client resumes
    let (mut c, _) = plain(s.addr).await;
    assert!(c.auth(USER, "good").await.is("success", ns::SASL));
    c.r.reset();
    c.open(DOMAIN).await;
    c.send(&format!(
        "<resume xmlns='urn:xmpp:sm:3' previd='{id}' h='0'/>"
    ))
    .await;
    let resumed = c.el().await;
    assert!(resumed.is("resumed", ns::SM), "{resumed:?}");
    let again = c.el().await;
    assert_eq!(
        again.get_child("body", ns::CLIENT).unwrap().text(),
        "unacked"
    );
    // the old connection is told, and only Resumed is reported
    loop {
        let el = old.el().await;
        if el.is("error", ns::STREAMS) {
            assert!(el.get_child("conflict", ns::XMPP_STREAMS).is_some());
            break;
        }
    }
    let C2sEvent::Resumed { conn, .. } = s.event().await else {
        panic!("expected Resumed")
    };
    assert_eq!(conn, h.conn);
    s.no_event(Duration::from_millis(100)).await;
    // another account cannot take the session
    let (mut other, _) = plain(s.addr).await;
    assert!(other.auth("someone", "good").await.is("success", ns::SASL));
    other.r.reset();
    other.open(DOMAIN).await;
    other
        .send(&format!(
            "<resume xmlns='urn:xmpp:sm:3' previd='{id}' h='0'/>"
        ))
        .await;
    assert!(other.el().await.is("failed", ns::SM));
}

/// A marked stanza is reported delivered once the client acknowledges it (with stream
/// management) or once it is written (without: all a server can know); unmarked ones and
/// the server's own stanzas are never reported.
#[tokio::test]
async fn marked_stanzas_are_reported_when_delivered() {
    use pontoon_xmpp::c2s::Outgoing;
    let marked = |body: &str, mark: u64| Outgoing {
        stanza: message("nick@x", body),
        delivery: Some(mark),
    };
    let mut s = Server::start(false, |_| {}).await;
    let (mut c, h) = bound_plain(&mut s, "sm").await;
    c.send("<enable xmlns='urn:xmpp:sm:3'/>").await;
    assert!(c.el().await.is("enabled", ns::SM));
    h.out.send(marked("one", 7)).await.unwrap();
    h.out.send(message("nick@x", "plain").into()).await.unwrap();
    h.out.send(marked("two", 9)).await.unwrap();
    let mut bodies = 0;
    while bodies < 3 {
        if c.el().await.is("message", ns::CLIENT) {
            bodies += 1;
        }
    }
    s.no_event(Duration::from_millis(100)).await;
    c.send("<a xmlns='urn:xmpp:sm:3' h='2'/>").await;
    let C2sEvent::Delivered { conn, deliveries } = s.event().await else {
        panic!("expected Delivered")
    };
    assert_eq!((conn, deliveries), (h.conn, vec![7]));
    c.send("<a xmlns='urn:xmpp:sm:3' h='3'/>").await;
    let C2sEvent::Delivered { deliveries, .. } = s.event().await else {
        panic!("expected Delivered")
    };
    assert_eq!(deliveries, [9]);

    let (mut c, h) = bound_plain(&mut s, "plain").await;
    h.out.send(marked("three", 11)).await.unwrap();
    assert!(c.el().await.is("message", ns::CLIENT));
    let C2sEvent::Delivered { conn, deliveries } = s.event().await else {
        panic!("expected Delivered")
    };
    assert_eq!((conn, deliveries), (h.conn, vec![11]));
}
