//! Offline messages (RFC 6121 section 8.5.2.1.1, XEP-0160) in server mode: a message for a
//! user with no client bound (their session stays online while away, `session/away.rs`) or
//! that a client never acknowledged before its connection ended is kept in the store, with
//! a delay (XEP-0203) saying when; the user's next client gets them when it sends its first
//! available presence, oldest first, and they are forgotten once handed over (a client
//! that drops before acknowledging gives them back, `Router::on_closed`). A full queue
//! (`pontoon_store::MAX_OFFLINE_MESSAGES`) answers the sender with `resource-constraint`:
//! refused, never silently lost.

use jid::BareJid;
use minidom::Element;
use tracing::{debug, warn};

use super::{ConnId, Router};
use crate::stanza::Refusal;

/// Messages read from the store at a time while handing them over.
const PAGE: i64 = 100;

/// Whether `el` is a message worth keeping: one a person wrote (RFC 6121 keeps `chat` and
/// `normal`; not errors, not room traffic, not a bare chat state, not the gateway's own
/// notices, from its domain, such as a server's greeting during the login), unless it says
/// not to (XEP-0334 `<no-store/>`).
pub(crate) fn keepable(el: &Element) -> bool {
    let from_someone = el
        .attr("from")
        .and_then(|f| jid::Jid::new(f).ok())
        .is_some_and(|f| f.node().is_some());
    from_someone
        && el.name() == "message"
        && matches!(el.attr("type"), None | Some("chat") | Some("normal"))
        && !el.has_child("no-store", "urn:xmpp:hints")
        && el
            .children()
            .any(|c| c.ns() != "http://jabber.org/protocol/chatstates")
}

impl Router {
    /// Keeps `el` for `bare`, who has no client to take it; a full queue (or a store
    /// failure) answers its sender with an error.
    pub(crate) async fn keep_offline(&mut self, bare: &BareJid, mut el: Element) {
        if !keepable(&el) {
            debug!(to = %bare, "no client bound; not a message to keep: dropped");
            return;
        }
        let now = crate::archive::now_micros();
        if !el.has_child("delay", "urn:xmpp:delay") {
            el.append_child(
                xmpp_parsers::delay::Delay {
                    from: jid::Jid::new(bare.domain().as_str()).ok(),
                    stamp: crate::archive::mam::stamp(now),
                    data: Some("Offline storage".to_owned()),
                }
                .into(),
            );
        }
        let refusal = match self
            .store
            .put_offline(bare.as_str(), now, &String::from(&el))
            .await
        {
            Ok(true) => return,
            Ok(false) => Refusal::wait(
                "resource-constraint",
                "The user is offline and has too many messages waiting; try again later.",
            ),
            Err(e) => {
                warn!(to = %bare, error = %e, "could not keep an offline message");
                Refusal::wait(
                    "recipient-unavailable",
                    "The user is offline and the message could not be kept.",
                )
            }
        };
        if let Some(reply) = refusal.reply_to(&el) {
            self.forward_to_service(reply, super::forward::Origin::Router, None)
                .await;
        }
    }

    /// Hands what was kept for `bare` to the client `conn`, in a task of its own (waiting
    /// for room in that client's queue holds up nobody else).
    pub(crate) fn deliver_offline(&self, conn: ConnId, bare: &BareJid) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let out = c.handle.out.clone();
        let to = c.handle.jid.to_string();
        let store = self.store.clone();
        let owner = bare.to_string();
        tokio::spawn(async move {
            loop {
                let page = match store.offline_messages(&owner, PAGE).await {
                    Ok(page) if page.is_empty() => return,
                    Ok(page) => page,
                    Err(e) => {
                        warn!(error = %e, user = %owner, "could not read offline messages");
                        return;
                    }
                };
                let mut through = None;
                for m in page {
                    let Ok(mut el) = m.stanza.parse::<Element>() else {
                        through = Some(m.seq);
                        continue;
                    };
                    super::set_attr(&mut el, "to", &to);
                    if out.send(el).await.is_err() {
                        // The client is gone: the rest waits for the next one.
                        break;
                    }
                    through = Some(m.seq);
                }
                let Some(through) = through else {
                    return;
                };
                if let Err(e) = store.delete_offline(&owner, through).await {
                    warn!(error = %e, user = %owner, "could not forget delivered offline messages");
                    return;
                }
                if out.is_closed() {
                    return;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(xml: &str) -> Element {
        xml.parse().unwrap()
    }

    #[test]
    fn what_is_kept() {
        let from = |attrs: &str, inner: &str| {
            el(&format!(
                "<message xmlns='jabber:client' from='bob@irc.example.org' {attrs}>{inner}</message>"
            ))
        };
        assert!(keepable(&from("type='chat'", "<body>hi</body>")));
        assert!(keepable(&from("", "<body>hi</body>")));
        assert!(keepable(&el(
            "<message xmlns='jabber:client' from='#c@irc.example.org/bob'><body>hi</body></message>"
        )));
        assert!(!keepable(&from("type='groupchat'", "<body>hi</body>")));
        assert!(!keepable(&from("type='error'", "<body>hi</body>")));
        let composing = "<composing xmlns='http://jabber.org/protocol/chatstates'/>";
        assert!(!keepable(&from("type='chat'", composing)));
        let no_store = "<body>x</body><no-store xmlns='urn:xmpp:hints'/>";
        assert!(!keepable(&from("type='chat'", no_store)));
        // The gateway's own notices (a server's greeting at login) are not kept.
        assert!(!keepable(&el(
            "<message xmlns='jabber:client' from='irc.example.org' type='chat'><body>MOTD</body></message>"
        )));
        assert!(!keepable(&el("<presence xmlns='jabber:client'/>")));
    }
}
