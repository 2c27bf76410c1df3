//! A tiny XMPP server on the c2s wire layer: every account whose password
//! is `good` logs in, and messages with a body are echoed back.
//!
//! `cargo run -p pontoon-xmpp --example c2s_echo -- PORT TLS_DIR [DOMAIN]`
//! listens on 127.0.0.1:PORT (STARTTLS) and 127.0.0.1:PORT+1 (direct TLS)
//! with a CA generated in TLS_DIR, and prints `ready` once listening. Used
//! to check real clients (slixmpp) against the wire layer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use minidom::Element;
use pontoon_xmpp::c2s::{AuthOutcome, AuthRequest, C2sConfig, C2sEvent, C2sServer, ListenMode};
use pontoon_xmpp::ns;
use pontoon_xmpp::tls::{self, TlsSource};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

async fn auth(req: AuthRequest) -> AuthOutcome {
    if req.password.expose() == "good" {
        AuthOutcome::Success(Box::new(()))
    } else {
        AuthOutcome::NotAuthorized(format!("Wrong password for {}", req.username))
    }
}

fn set(el: &mut Element, name: &str, value: &str) {
    el.attrs_mut().insert(
        rxml::Namespace::NONE,
        rxml::NcName::try_from(name).unwrap(),
        value.to_owned(),
    );
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().expect("PORT").parse().expect("PORT");
    let dir = args.next().expect("TLS_DIR");
    let domain = args.next().unwrap_or_else(|| "localhost".into());
    let setup = tls::load(&TlsSource::Generated {
        dir: dir.into(),
        domains: vec![domain.clone()],
        include_localhost: true,
    })
    .unwrap();
    eprintln!("tls: {:?}", setup.origin);
    let cfg = C2sConfig::new(vec![domain], Some(setup.config));
    let (tx, mut rx) = mpsc::channel(64);
    let server = C2sServer::new(cfg, auth, tx).unwrap();
    server.spawn_listener(
        TcpListener::bind(("127.0.0.1", port)).await.unwrap(),
        ListenMode::StartTls,
    );
    server.spawn_listener(
        TcpListener::bind(("127.0.0.1", port + 1)).await.unwrap(),
        ListenMode::DirectTls,
    );
    println!("ready");
    let mut outs = HashMap::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            C2sEvent::Bound {
                conn, jid, handle, ..
            } => {
                eprintln!("bound {conn} {jid}");
                outs.insert(conn, handle);
            }
            C2sEvent::Stanza { conn, stanza, .. } => {
                let Some(h) = outs.get(&conn) else { continue };
                if stanza.is("message", ns::CLIENT)
                    && let Some(body) = stanza.get_child("body", ns::CLIENT)
                {
                    let mut reply = Element::bare("message", ns::CLIENT);
                    set(&mut reply, "to", stanza.attr("from").unwrap_or_default());
                    set(&mut reply, "from", stanza.attr("to").unwrap_or_default());
                    set(&mut reply, "type", "chat");
                    let mut b = Element::bare("body", ns::CLIENT);
                    b.append_text(format!("echo: {}", body.text()));
                    reply.append_child(b);
                    let _ = h.out.send(reply.into()).await;
                } else if stanza.is("iq", ns::CLIENT)
                    && matches!(stanza.attr("type"), Some("get" | "set"))
                {
                    // Answer every query with an empty result so clients
                    // (roster fetch) get going.
                    let mut reply = Element::bare("iq", ns::CLIENT);
                    set(&mut reply, "type", "result");
                    set(&mut reply, "id", stanza.attr("id").unwrap_or_default());
                    set(&mut reply, "to", stanza.attr("from").unwrap_or_default());
                    if stanza.get_child("query", "jabber:iq:roster").is_some() {
                        reply.append_child(Element::bare("query", "jabber:iq:roster"));
                    }
                    let _ = h.out.send(reply.into()).await;
                }
            }
            C2sEvent::Resumed { conn, .. } => eprintln!("resumed {conn}"),
            // The echo marks nothing it sends.
            C2sEvent::Delivered { .. } => {}
            C2sEvent::Closed { conn, reason, .. } => {
                eprintln!("closed {conn}: {reason}");
                outs.remove(&conn);
            }
        }
    }
}
