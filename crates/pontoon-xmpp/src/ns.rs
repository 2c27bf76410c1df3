//! XML namespaces used on the wire, and namespace rewriting at the boundary.
//!
//! The rest of Pontoon sees every stanza in `jabber:client`, whatever link
//! it came from, so that xmpp-parsers' typed `Message`/`Presence`/`Iq` parse
//! them (its `component` feature, which would switch the namespace globally,
//! stays off). The component link therefore reads `jabber:component:accept`
//! as `jabber:client` and writes it back, without copying a stanza (see
//! [`crate::component`]); [`rewrite_ns`] renames an element that declares the
//! component namespace itself.

use minidom::{Element, Node};

/// The client stanza namespace (RFC 6120).
pub const CLIENT: &str = "jabber:client";
/// The component stanza namespace (XEP-0114).
pub const COMPONENT_ACCEPT: &str = "jabber:component:accept";
/// The stream namespace, bound to the `stream:` prefix.
pub const STREAMS: &str = "http://etherx.jabber.org/streams";
/// The namespace of stream error conditions.
pub const XMPP_STREAMS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
/// The namespace of stanza error conditions.
pub const XMPP_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

/// STARTTLS negotiation (RFC 6120 section 5).
pub const TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
/// SASL negotiation (RFC 6120 section 6).
pub const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
/// Resource binding (RFC 6120 section 7).
pub const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
/// The legacy session establishment of RFC 3921 (still sent by some
/// clients; answered with an empty result).
pub const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
/// XEP-0198 stream management.
pub const SM: &str = "urn:xmpp:sm:3";
/// XEP-0199 ping.
pub const PING: &str = "urn:xmpp:ping";

/// Rename elements in namespace `from` to namespace `to`, recursively.
///
/// The element and its descendants in `from` are renamed as long as the
/// chain of ancestors up to `el` is in `from` as well; an element in any
/// other namespace (a payload such as `<x xmlns='jabber:x:data'>`) is kept
/// as it is together with its whole subtree. That keeps stanzas embedded in
/// payloads intact, e.g. a XEP-0297 `<forwarded>` message, which is always
/// in `jabber:client`. Attributes and text are kept. Renamed elements carry
/// no explicit prefix declarations: serializers declare what they need.
#[must_use]
pub fn rewrite_ns(mut el: Element, from: &str, to: &str) -> Element {
    // `has_ns`, not `ns()`: the latter copies the namespace into a new String.
    if !el.has_ns(from) {
        return el;
    }
    let mut out = Element::bare(el.name(), to);
    *out.attrs_mut() = std::mem::take(el.attrs_mut());
    for node in el.take_nodes() {
        match node {
            Node::Element(child) => {
                out.append_child(rewrite_ns(child, from, to));
            }
            Node::Text(text) => out.append_node(Node::Text(text)),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_only_the_given_namespace() {
        let el: Element = "<message xmlns='jabber:component:accept' to='a@b' id='1'>\
            <body>hi</body><x xmlns='urn:x'><y/></x>\
            <forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client'><body>inner</body></message></forwarded>\
            </message>"
            .parse()
            .unwrap();
        let out = rewrite_ns(el, COMPONENT_ACCEPT, CLIENT);
        assert!(out.is("message", CLIENT));
        assert_eq!(out.attr("to"), Some("a@b"));
        assert!(out.get_child("body", CLIENT).is_some());
        assert_eq!(out.get_child("body", CLIENT).unwrap().text(), "hi");
        let x = out.get_child("x", "urn:x").unwrap();
        assert!(x.get_child("y", "urn:x").is_some());
        let fwd = out.get_child("forwarded", "urn:xmpp:forward:0").unwrap();
        assert!(fwd.get_child("message", CLIENT).is_some());
        let back = rewrite_ns(out, CLIENT, COMPONENT_ACCEPT);
        assert!(back.is("message", COMPONENT_ACCEPT));
        assert!(back.get_child("body", COMPONENT_ACCEPT).is_some());
        // the forwarded message lives under a foreign-namespace element and
        // stays in jabber:client (XEP-0297).
        let fwd = back.get_child("forwarded", "urn:xmpp:forward:0").unwrap();
        assert!(fwd.get_child("message", CLIENT).is_some());
    }
}
