//! Conversation threads: the `<thread/>` child of a message (RFC 6121 section 5.2.5), with
//! XEP-0201's `parent` attribute naming the thread it branched from. A thread id is opaque
//! to XMPP; Pontoon shows a network's thread under the XMPP id of its root message
//! (`crate::verbs::thread`), so a client's answer names the root the map knows. Written
//! here because xmpp-parsers 0.23 reads `<thread/>` only into its typed `Message`, which
//! the session does not build.

use minidom::Element;

use crate::stanza::Refusal;

/// Longest thread id taken, in bytes (XEP-0201 ids are UUIDs or message ids; the id map
/// keeps ids of at most this size).
pub const MAX_THREAD_BYTES: usize = pontoon_store::MAX_MESSAGE_ID_BYTES;

/// The thread a message belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thread {
    /// The thread's id.
    pub id: String,
    /// The thread it branched from (XEP-0201 `parent`), if the client said.
    pub parent: Option<String>,
}

/// The `<thread/>` of `stanza`, if it has one (an empty one is none), or the refusal of an
/// oversized one (`policy-violation`).
pub fn read(stanza: &Element) -> Result<Option<Thread>, Refusal> {
    let Some(el) = stanza.children().find(|c| {
        c.name() == "thread"
            && (c.ns() == pontoon_xmpp::ns::CLIENT || c.ns() == pontoon_xmpp::ns::COMPONENT_ACCEPT)
    }) else {
        return Ok(None);
    };
    let id = el.text();
    let id = id.trim();
    if id.is_empty() {
        return Ok(None);
    }
    let parent = el.attr("parent").map(str::trim).filter(|p| !p.is_empty());
    if id.len() > MAX_THREAD_BYTES || parent.is_some_and(|p| p.len() > MAX_THREAD_BYTES) {
        return Err(Refusal::modify(
            "policy-violation",
            format!("A thread id is limited to {MAX_THREAD_BYTES} bytes."),
        ));
    }
    Ok(Some(Thread {
        id: id.to_owned(),
        parent: parent.map(str::to_owned),
    }))
}

/// `<thread>id</thread>`, for a message from the network in the thread `id`.
pub fn element(id: &str) -> Element {
    Element::builder("thread", xmpp_parsers::ns::DEFAULT_NS)
        .append(id)
        .build()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn read_xml(xml: &str) -> Result<Option<Thread>, Refusal> {
        read(&xml.parse::<Element>().unwrap())
    }

    #[test]
    fn thread_and_parent_are_read() {
        let t = read_xml("<message xmlns='jabber:client'><body>hi</body><thread parent='p1'> t1 </thread></message>")
            .unwrap()
            .unwrap();
        assert_eq!(t.id, "t1");
        assert_eq!(t.parent.as_deref(), Some("p1"));
        let t = read_xml("<message xmlns='jabber:component:accept'><thread>t2</thread></message>")
            .unwrap()
            .unwrap();
        assert_eq!(
            t,
            Thread {
                id: "t2".into(),
                parent: None
            }
        );
    }

    #[test]
    fn empty_foreign_and_oversized_threads() {
        assert_eq!(
            read_xml("<message xmlns='jabber:client'><thread> </thread></message>").unwrap(),
            None
        );
        assert_eq!(
            read_xml(
                "<message xmlns='jabber:client'><thread xmlns='urn:example'>x</thread></message>"
            )
            .unwrap(),
            None
        );
        let long = "x".repeat(MAX_THREAD_BYTES + 1);
        let xml = format!("<message xmlns='jabber:client'><thread>{long}</thread></message>");
        assert!(read_xml(&xml).is_err());
        let xml =
            format!("<message xmlns='jabber:client'><thread parent='{long}'>t</thread></message>");
        assert!(read_xml(&xml).is_err());
    }

    #[test]
    fn the_element_round_trips() {
        let mut m: Element = "<message xmlns='jabber:client'/>".parse().unwrap();
        m.append_child(element("$root:example.org"));
        assert_eq!(read(&m).unwrap().unwrap().id, "$root:example.org");
    }
}
