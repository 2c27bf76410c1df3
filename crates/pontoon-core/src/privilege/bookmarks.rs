//! The user's bookmarks (XEP-0402, their PEP node `urn:xmpp:bookmarks:1`), read and
//! written as the host server lets the component (XEP-0356 IQ permission on the pubsub
//! namespace, `urn:xmpp:privilege:2` only): each request is the user's own IQ to their bare
//! JID, wrapped in `<privileged_iq/>`; the server answers with the user's answer wrapped in
//! `<privilege><forwarded/></privilege>`. The policy (which rooms, when) is the session's
//! (`crate::session`); this module only speaks the wire.

use jid::{BareJid, Jid};
use minidom::Element;

use super::{Access, NS_V2, Privileges};

/// XEP-0402's PEP node and payload namespace.
pub const NS: &str = "urn:xmpp:bookmarks:1";
/// XEP-0060.
const NS_PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const NS_FORWARD: &str = "urn:xmpp:forward:0";
const NS_DATA: &str = "jabber:x:data";
const NS_CLIENT: &str = "jabber:client";

/// Most bookmark ids read from one answer.
const MAX_ITEMS: usize = 2000;

/// Whether `granted` lets the component read and write the user's bookmarks.
pub fn allowed(granted: &Privileges) -> bool {
    granted.version >= 2 && granted.iq(NS_PUBSUB) == Access::Both
}

/// A room to bookmark: its JID, its name, whether clients join it by themselves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bookmark {
    /// The room's JID on the transport.
    pub jid: BareJid,
    /// Its name, where it has one.
    pub name: Option<String>,
    /// Clients join it when they connect.
    pub autojoin: bool,
}

use crate::stanza::elem;

/// `element` with `children` appended.
fn with(mut element: Element, children: impl IntoIterator<Item = Element>) -> Element {
    for c in children {
        element.append_child(c);
    }
    element
}

/// A `kind` IQ from the user to themselves carrying `pubsub`, wrapped for their server.
fn privileged(component: &Jid, user: &BareJid, id: &str, kind: &str, pubsub: Element) -> Element {
    let me = user.as_str();
    let inner = elem(
        "iq",
        NS_CLIENT,
        &[("type", kind), ("from", me), ("to", me), ("id", id)],
    );
    let wrapper = with(elem("privileged_iq", NS_V2, &[]), [with(inner, [pubsub])]);
    let outer = elem(
        "iq",
        NS_CLIENT,
        &[
            ("type", kind),
            ("from", component.as_str()),
            ("to", me),
            ("id", id),
        ],
    );
    with(outer, [wrapper])
}

/// Reads every bookmark of `user` (their ids: the rooms' JIDs).
pub fn read(component: &Jid, user: &BareJid, id: &str) -> Element {
    let items = elem("items", NS_PUBSUB, &[("node", NS)]);
    let pubsub = with(elem("pubsub", NS_PUBSUB, &[]), [items]);
    privileged(component, user, id, "get", pubsub)
}

/// Publishes `bookmark` into `user`'s bookmarks, with the node options XEP-0402 asks for.
pub fn publish(component: &Jid, user: &BareJid, id: &str, bookmark: &Bookmark) -> Element {
    let autojoin = if bookmark.autojoin { "true" } else { "false" };
    let mut conference = elem("conference", NS, &[("autojoin", autojoin)]);
    if let Some(n) = &bookmark.name {
        crate::stanza::set_attr(&mut conference, "name", n.as_str());
    }
    let item = with(
        elem("item", NS_PUBSUB, &[("id", bookmark.jid.as_str())]),
        [conference],
    );
    let publish = with(elem("publish", NS_PUBSUB, &[("node", NS)]), [item]);
    let field = |var: &str, value: &str| {
        let mut f = elem("field", NS_DATA, &[("var", var)]);
        if var == "FORM_TYPE" {
            crate::stanza::set_attr(&mut f, "type", "hidden");
        }
        let mut v = elem("value", NS_DATA, &[]);
        v.append_text_node(value);
        with(f, [v])
    };
    let form = with(
        elem("x", NS_DATA, &[("type", "submit")]),
        [
            field(
                "FORM_TYPE",
                "http://jabber.org/protocol/pubsub#publish-options",
            ),
            field("pubsub#persist_items", "true"),
            field("pubsub#max_items", "max"),
            field("pubsub#send_last_published_item", "never"),
            field("pubsub#access_model", "whitelist"),
        ],
    );
    let options = with(elem("publish-options", NS_PUBSUB, &[]), [form]);
    let pubsub = with(elem("pubsub", NS_PUBSUB, &[]), [publish, options]);
    privileged(component, user, id, "set", pubsub)
}

/// The user's answer inside the server's answer to a privileged IQ, if it carries one.
pub fn unwrap(answer: &Element) -> Option<&Element> {
    answer
        .children()
        .find(|c| c.is("privilege", NS_V2) || c.is("privilege", super::NS_V1))?
        .get_child("forwarded", NS_FORWARD)?
        .get_child("iq", NS_CLIENT)
}

/// The rooms' JIDs bookmarked, from the answer to [`read`]; `None` when it has none to read
/// (an error: the node does not exist yet, or the read failed).
pub fn read_ids(answer: &Element) -> Option<Vec<String>> {
    let inner = unwrap(answer)?;
    if inner.attr("type") != Some("result") {
        return None;
    }
    let items = inner
        .get_child("pubsub", NS_PUBSUB)?
        .get_child("items", NS_PUBSUB)?;
    Some(
        items
            .children()
            .filter(|c| c.is("item", NS_PUBSUB))
            .take(MAX_ITEMS)
            .filter_map(|c| c.attr("id").map(str::to_owned))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn only_v2_with_pubsub_both() {
        let mut p = Privileges {
            version: 2,
            iq: vec![(NS_PUBSUB.to_owned(), Access::Both)],
            ..Default::default()
        };
        assert!(allowed(&p));
        p.iq = vec![(NS_PUBSUB.to_owned(), Access::Set)];
        assert!(!allowed(&p));
        p.version = 1;
        assert!(!allowed(&p));
    }

    #[test]
    fn a_publish_wraps_the_users_own_iq() {
        let el = publish(
            &Jid::new("irc.localhost").unwrap(),
            &BareJid::new("alice@localhost").unwrap(),
            "b1",
            &Bookmark {
                jid: BareJid::new("#rust@irc.localhost").unwrap(),
                name: Some("Rust".into()),
                autojoin: true,
            },
        );
        let xml = String::from(&el);
        assert!(
            xml.contains("<privileged_iq xmlns='urn:xmpp:privilege:2'>"),
            "{xml}"
        );
        assert!(xml.contains("<iq xmlns='jabber:client'"), "{xml}");
        assert!(xml.contains("from='alice@localhost'"), "{xml}");
        assert!(xml.contains("autojoin='true'"), "{xml}");
        assert!(xml.contains("name='Rust'"), "{xml}");
        assert!(xml.contains("<value>max</value>"), "{xml}");
    }

    #[test]
    fn the_ids_are_read_from_the_forwarded_answer() {
        let answer: Element = "<iq xmlns='jabber:client' type='result' id='b1' from='alice@localhost'>\
            <privilege xmlns='urn:xmpp:privilege:2'><forwarded xmlns='urn:xmpp:forward:0'>\
            <iq xmlns='jabber:client' type='result' id='b1'><pubsub xmlns='http://jabber.org/protocol/pubsub'>\
            <items node='urn:xmpp:bookmarks:1'><item id='#a@irc.localhost'><conference xmlns='urn:xmpp:bookmarks:1'/></item>\
            <item id='x@conference.localhost'/></items></pubsub></iq></forwarded></privilege></iq>"
            .parse()
            .unwrap();
        assert_eq!(
            read_ids(&answer).unwrap(),
            vec!["#a@irc.localhost", "x@conference.localhost"]
        );
        let refused: Element = "<iq xmlns='jabber:client' type='error' id='b1'/>"
            .parse()
            .unwrap();
        assert!(read_ids(&refused).is_none());
    }
}
