//! XEP-0280 Message Carbons in server mode.
//!
//! A resource turns carbons on or off with `<enable/>` / `<disable/>` (an IQ set to its own
//! account); it starts with them off. The router then copies, to every *other* bound
//! resource of the user that enabled carbons:
//!
//! - as `<sent>`: each eligible message a resource sends to a contact or a room occupant
//!   (anything outside the user's own account);
//! - as `<received>`: each eligible message from a contact that was delivered to one full
//!   JID. A message to the bare JID already goes to every available resource (see
//!   [`super`]), so only carbons-enabled resources that did not get it (unavailable ones)
//!   get a `<received>` copy of it.
//!
//! Eligible (XEP-0280 section 6): type `chat`, or type `normal` (or none) with a `<body>`;
//! never `groupchat`, `headline` or `error`, nor a message carrying `<private/>` (carbons)
//! or `<no-copy/>` (XEP-0334 hints). Messages between the user's own resources are never
//! copied.

use jid::{BareJid, FullJid};
use minidom::Element;
use pontoon_xmpp::c2s::ConnId;

use super::Router;

/// The carbons namespace (version 2).
pub const NS_CARBONS: &str = "urn:xmpp:carbons:2";
const NS_FORWARD: &str = "urn:xmpp:forward:0";
const NS_HINTS: &str = "urn:xmpp:hints";

/// Whether `msg` may be carbon-copied.
pub(crate) fn eligible(msg: &Element) -> bool {
    if msg.name() != "message" {
        return false;
    }
    let kind_ok = match msg.attr("type") {
        Some("chat") => true,
        None | Some("normal") => msg.children().any(|c| c.name() == "body"),
        _ => false,
    };
    kind_ok
        && msg.get_child("private", NS_CARBONS).is_none()
        && msg.get_child("no-copy", NS_HINTS).is_none()
        // Already a carbon (or a forwarded copy of one): never copied again.
        && msg.get_child("received", NS_CARBONS).is_none()
        && msg.get_child("sent", NS_CARBONS).is_none()
}

/// A `<sent>` carbon of `msg`, which the user sent from another client of a legacy network,
/// to the user's bare JID: the router hands it to their carbons-enabled resources only
/// ([`Router::sent_elsewhere`]).
pub(crate) fn sent_to_self(user: &BareJid, msg: Element) -> Element {
    wrap("sent", user, user.as_str(), msg)
}

/// The carbon (`<sent>` or `<received>`) of `msg` for `to` (a resource, or the bare JID).
fn wrap(direction: &str, user: &BareJid, to: &str, msg: Element) -> Element {
    let mut outer = super::elem(
        "message",
        pontoon_xmpp::ns::CLIENT,
        &[("from", user.as_str()), ("to", to)],
    );
    if let Some(t) = msg.attr("type") {
        super::set_attr(&mut outer, "type", t);
    }
    let mut forwarded = Element::bare("forwarded", NS_FORWARD);
    forwarded.append_child(msg);
    let mut carbon = Element::bare(direction, NS_CARBONS);
    carbon.append_child(forwarded);
    outer.append_child(carbon);
    outer
}

impl Router {
    /// An `<enable/>` or `<disable/>` IQ set from the client on `conn`.
    pub(crate) async fn on_carbons(&mut self, conn: ConnId, iq: &Element, payload: &Element) {
        let on = match (iq.attr("type"), payload.name()) {
            (Some("set"), "enable") => true,
            (Some("set"), "disable") => false,
            _ => {
                let refusal = crate::stanza::Refusal::modify(
                    "bad-request",
                    "Carbons are turned on with an <enable/> or off with a <disable/> set.",
                );
                self.reply_error(conn, iq, refusal).await;
                return;
            }
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            c.carbons = on;
        }
        self.reply_result(conn, iq, None).await;
    }

    /// The user's carbons-enabled resources, except `skip`.
    fn carbon_targets(&self, user: &BareJid, skip: &[ConnId]) -> Vec<(ConnId, FullJid)> {
        self.users
            .get(user)
            .into_iter()
            .flatten()
            .filter(|id| !skip.contains(id))
            .filter_map(|id| self.conns.get(id).map(|c| (*id, c)))
            .filter(|(_, c)| c.carbons)
            .map(|(id, c)| (id, c.handle.jid.clone()))
            .collect()
    }

    /// A [`sent_to_self`] carbon from a service: to every carbons-enabled resource, each by
    /// its full JID; false when `el` is not one.
    pub(crate) async fn sent_elsewhere(&self, user: &BareJid, el: &Element) -> bool {
        let carbon = el.name() == "message"
            && el.attr("from") == Some(user.as_str())
            && el.get_child("sent", NS_CARBONS).is_some();
        if !carbon {
            return false;
        }
        for (id, jid) in self.carbon_targets(user, &[]) {
            let mut copy = el.clone();
            super::set_attr(&mut copy, "to", jid.to_string());
            self.send_to_conn(id, copy).await;
        }
        true
    }

    /// `msg`, just sent by the resource on `from` to someone outside the user's account:
    /// a `<sent>` copy to the other enabled resources.
    pub(crate) async fn carbon_sent(&self, from: ConnId, user: &BareJid, msg: &Element) {
        if !eligible(msg) {
            return;
        }
        for (id, jid) in self.carbon_targets(user, &[from]) {
            self.send_to_conn(id, wrap("sent", user, &jid.to_string(), msg.clone()))
                .await;
        }
    }

    /// `msg`, from outside the user's account, was delivered to the resources `got`: a
    /// `<received>` copy to the other enabled resources.
    pub(crate) async fn carbon_received(&self, user: &BareJid, got: &[ConnId], msg: &Element) {
        if !eligible(msg) {
            return;
        }
        for (id, jid) in self.carbon_targets(user, got) {
            self.send_to_conn(id, wrap("received", user, &jid.to_string(), msg.clone()))
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::eligible;
    use minidom::Element;

    fn msg(xml: &str) -> Element {
        xml.parse().unwrap_or_else(|e| panic!("{xml}: {e}"))
    }

    #[test]
    fn eligibility_follows_xep_0280() {
        let c = "xmlns='jabber:client'";
        assert!(eligible(&msg(&format!("<message {c} type='chat'/>"))));
        assert!(eligible(&msg(&format!(
            "<message {c}><body>x</body></message>"
        ))));
        assert!(eligible(&msg(&format!(
            "<message {c} type='normal'><body>x</body></message>"
        ))));
        assert!(!eligible(&msg(&format!("<message {c} type='normal'/>"))));
        for t in ["groupchat", "headline", "error"] {
            assert!(!eligible(&msg(&format!(
                "<message {c} type='{t}'><body>x</body></message>"
            ))));
        }
        assert!(!eligible(&msg(&format!(
            "<message {c} type='chat'><body>x</body><private xmlns='urn:xmpp:carbons:2'/></message>"
        ))));
        assert!(!eligible(&msg(&format!(
            "<message {c} type='chat'><body>x</body><no-copy xmlns='urn:xmpp:hints'/></message>"
        ))));
        assert!(!eligible(&msg(&format!(
            "<message {c} type='chat'><received xmlns='urn:xmpp:carbons:2'/></message>"
        ))));
        assert!(!eligible(&msg(&format!("<presence {c}/>"))));
    }
}
