//! What a service hands the component link (or server mode's router) to write: an
//! element, or a message rendered once and addressed to one of its recipients.
//!
//! Why not always an element: a room message goes to each of the user's resources in the
//! room, and every minidom element costs its attributes in two nested B-trees and a deep
//! copy of its payloads; building, writing and dropping one per recipient (and one more
//! for the archive) was the largest part of a message's cost towards XMPP (bench/README.md,
//! performance pass 4). A [`Message`] is built once, shared by its recipients, and written
//! straight to bytes: the same bytes as the element [`Message::to_element`] would give
//! (tested below), so a reader cannot tell which way a stanza went.

use std::sync::Arc;

use jid::Jid;
use minidom::Element;

use crate::ns;
use crate::writer::{self, WriteError};

/// One stanza to write.
#[derive(Debug, Clone)]
pub enum OutStanza {
    /// Any stanza, as an element (in `jabber:client`).
    Element(Element),
    /// A shared message, to one recipient.
    Message(Addressed),
}

/// `<message type from id><body/>payloads</message>`, in `jabber:client`, without its
/// `to`: what every recipient of one message gets alike.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The `type` attribute (`groupchat`, `chat`, ...).
    pub kind: &'static str,
    /// Who it is from.
    pub from: Jid,
    /// Its `id` attribute, if any.
    pub id: Option<Box<str>>,
    /// Its text (a `<body/>` without `xml:lang`), if any.
    pub body: Option<Box<str>>,
    /// What it carries after the body, in order.
    pub payloads: Vec<Payload>,
}

/// One child of a [`Message`] after its body.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// Any element.
    Element(Element),
    /// An element without children, written without building one.
    Flat(Flat),
}

/// `<name xmlns='ns' a='…' b='…'/>`: an element without children, with one or two
/// attributes. The XEP-0359 and XEP-0421 ids on every room message are such elements;
/// kept as plain strings, they cost no B-tree to build, copy or drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flat {
    /// The element's name.
    pub name: &'static str,
    /// Its namespace.
    pub ns: &'static str,
    /// An attribute (name, value).
    pub attr: (&'static str, Box<str>),
    /// Perhaps another.
    pub other: Option<(&'static str, Box<str>)>,
}

impl Flat {
    /// Whether this is the element `name` in `ns`.
    #[must_use]
    pub fn is(&self, name: &str, ns: &str) -> bool {
        self.name == name && self.ns == ns
    }

    /// The value of the attribute `name`, if it has it.
    #[must_use]
    pub fn attr(&self, name: &str) -> Option<&str> {
        std::iter::once(&self.attr)
            .chain(&self.other)
            .find(|(n, _)| *n == name)
            .map(|(_, v)| &**v)
    }

    /// The attributes in the order an element keeps (and writes) them: by name.
    fn attrs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let a = (self.attr.0, &*self.attr.1);
        let b = self.other.as_ref().map(|(n, v)| (*n, &**v));
        let (first, second) = match b {
            Some(b) if b.0 < a.0 => (b, Some(a)),
            _ => (a, b),
        };
        std::iter::once(first).chain(second)
    }

    /// Appends it as a child of an element written in `parent_ns`, in `map.1` where it is
    /// in `map.0`; the bytes of its element's serialization.
    fn write(&self, parent_ns: &str, map: Option<(&str, &str)>, out: &mut Vec<u8>) {
        let ns = match map {
            Some((from, to)) if from == self.ns => to,
            _ => self.ns,
        };
        out.push(b'<');
        out.extend_from_slice(self.name.as_bytes());
        if ns != parent_ns {
            out.extend_from_slice(b" xmlns='");
            writer::escape_into(ns, true, out);
            out.push(b'\'');
        }
        for (name, value) in self.attrs() {
            out.push(b' ');
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"='");
            writer::escape_into(value, true, out);
            out.push(b'\'');
        }
        out.extend_from_slice(b"/>");
    }
}

impl From<Flat> for Element {
    fn from(f: Flat) -> Element {
        let mut b = Element::builder(f.name, f.ns);
        for (n, v) in f.attrs() {
            b = b.attr(name(n), v);
        }
        b.build()
    }
}

impl From<Element> for Payload {
    fn from(el: Element) -> Self {
        Payload::Element(el)
    }
}

impl From<Flat> for Payload {
    fn from(f: Flat) -> Self {
        Payload::Flat(f)
    }
}

impl Payload {
    /// Whether this is the element `name` in `ns`.
    #[must_use]
    pub fn is(&self, name: &str, ns: &str) -> bool {
        match self {
            Payload::Element(el) => el.is(name, ns),
            Payload::Flat(f) => f.is(name, ns),
        }
    }

    /// As an element.
    #[must_use]
    pub fn to_element(&self) -> Element {
        match self {
            Payload::Element(el) => el.clone(),
            Payload::Flat(f) => f.clone().into(),
        }
    }
}

/// A shared [`Message`] and the one recipient of this copy.
#[derive(Debug, Clone)]
pub struct Addressed {
    /// The message.
    pub message: Arc<Message>,
    /// Its recipient.
    pub to: Jid,
}

impl From<Element> for OutStanza {
    fn from(el: Element) -> Self {
        OutStanza::Element(el)
    }
}

impl From<Addressed> for OutStanza {
    fn from(a: Addressed) -> Self {
        OutStanza::Message(a)
    }
}

impl OutStanza {
    /// The stanza as an element (server mode delivers elements; tests read them).
    #[must_use]
    pub fn into_element(self) -> Element {
        match self {
            OutStanza::Element(el) => el,
            OutStanza::Message(a) => a.message.to_element(Some(&a.to)),
        }
    }

    /// The stanza's element name (`message`, `presence`, `iq`).
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            OutStanza::Element(el) => el.name(),
            OutStanza::Message(_) => "message",
        }
    }

    /// Appends the stanza to `out`, written in `to_ns` where it is in `from_ns` (as
    /// [`writer::serialize_into_ns`]). On error `out` is left as it was.
    pub fn write_ns(
        &self,
        from_ns: &str,
        to_ns: &str,
        out: &mut Vec<u8>,
    ) -> Result<(), WriteError> {
        match self {
            OutStanza::Element(el) => writer::serialize_into_ns(el, from_ns, to_ns, out),
            OutStanza::Message(a) => a.message.write(Some(&a.to), Some((from_ns, to_ns)), out),
        }
    }
}

impl Message {
    /// The same message to each of `recipients`, sharing one copy.
    pub fn to_each(
        self,
        recipients: impl IntoIterator<Item = Jid>,
    ) -> impl Iterator<Item = OutStanza> {
        let message = Arc::new(self);
        recipients.into_iter().map(move |to| {
            OutStanza::Message(Addressed {
                message: Arc::clone(&message),
                to,
            })
        })
    }

    /// The message as an element, to `to` (none: without a `to`, as an archive keeps it).
    #[must_use]
    pub fn to_element(&self, to: Option<&Jid>) -> Element {
        let mut b = Element::builder("message", ns::CLIENT)
            .attr(name("type"), self.kind)
            .attr(name("from"), self.from.as_str());
        if let Some(to) = to {
            b = b.attr(name("to"), to.as_str());
        }
        if let Some(id) = &self.id {
            b = b.attr(name("id"), &**id);
        }
        let mut m = b.build();
        if let Some(body) = &self.body {
            m.append_child(Element::builder("body", ns::CLIENT).append(&**body).build());
        }
        for p in &self.payloads {
            m.append_child(p.to_element());
        }
        m
    }

    /// Appends the message to `out` as XML, to `to` (none: without a `to`), in `map.1`
    /// where it is in `map.0` (the component namespace on a component link); the bytes
    /// of `to_element`'s serialization. On error `out` is left as it was.
    pub fn write(
        &self,
        to: Option<&Jid>,
        map: Option<(&str, &str)>,
        out: &mut Vec<u8>,
    ) -> Result<(), WriteError> {
        self.write_with(to, map, |_| true, out)
    }

    /// As [`Message::write`], with only the payloads `keep` says yes to.
    pub fn write_with(
        &self,
        to: Option<&Jid>,
        map: Option<(&str, &str)>,
        keep: impl Fn(&Payload) -> bool,
        out: &mut Vec<u8>,
    ) -> Result<(), WriteError> {
        let len = out.len();
        let ns = match map {
            Some((from, to)) if from == ns::CLIENT => to,
            _ => ns::CLIENT,
        };
        // Attributes in the order an element keeps them (by name), as its writer does.
        out.extend_from_slice(b"<message xmlns='");
        writer::escape_into(ns, true, out);
        out.extend_from_slice(b"' from='");
        writer::escape_into(self.from.as_str(), true, out);
        out.push(b'\'');
        if let Some(id) = &self.id {
            out.extend_from_slice(b" id='");
            writer::escape_into(id, true, out);
            out.push(b'\'');
        }
        if let Some(to) = to {
            out.extend_from_slice(b" to='");
            writer::escape_into(to.as_str(), true, out);
            out.push(b'\'');
        }
        out.extend_from_slice(b" type='");
        writer::escape_into(self.kind, true, out);
        out.push(b'\'');
        let mut payloads = self.payloads.iter().filter(|p| keep(p)).peekable();
        if self.body.is_none() && payloads.peek().is_none() {
            out.extend_from_slice(b"/>");
            return Ok(());
        }
        out.push(b'>');
        if let Some(body) = &self.body {
            out.extend_from_slice(b"<body>");
            writer::escape_into(body, false, out);
            out.extend_from_slice(b"</body>");
        }
        for p in payloads {
            match p {
                Payload::Element(el) => {
                    if let Err(e) = writer::write_child(el, ns, map, out) {
                        out.truncate(len);
                        return Err(e);
                    }
                }
                Payload::Flat(f) => f.write(ns, map, out),
            }
        }
        out.extend_from_slice(b"</message>");
        Ok(())
    }
}

/// An attribute name known to be valid.
fn name(n: &'static str) -> rxml::NcName {
    rxml::NcName::try_from(n).unwrap_or_else(|_| unreachable!("{n} is an NCName"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(xml: &str) -> Element {
        xml.parse().expect("test XML")
    }

    fn cases() -> Vec<Message> {
        let from = Jid::new("#c7%irc.example@pontoon.example/n\\20ck").expect("JID");
        let stanza_id: Payload =
            el("<stanza-id xmlns='urn:xmpp:sid:0' id='s&apos;1' by='#c%irc@p'/>").into();
        let client: Payload =
            el("<subject xmlns='jabber:client'>a &lt;b&gt; &amp; \u{e9}</subject>").into();
        let nested: Payload =
            el("<x xmlns='urn:x'><y xmlns='jabber:client' a='1'>t</y><z/></x>").into();
        let flat = |name, ns, attr: (&'static str, &str), other: Option<(&'static str, &str)>| {
            Payload::Flat(Flat {
                name,
                ns,
                attr: (attr.0, attr.1.into()),
                other: other.map(|(n, v)| (n, v.into())),
            })
        };
        let flat_id = flat(
            "stanza-id",
            "urn:xmpp:sid:0",
            ("id", "s<'1\"&"),
            Some(("by", "#c@p")),
        );
        let flat_one = flat("occupant-id", "urn:xmpp:occupant-id:0", ("id", "abc"), None);
        let flat_client = flat("x", ns::CLIENT, ("b", "2"), Some(("a", "1")));
        let mut out = Vec::new();
        for kind in ["groupchat", "chat", "headline"] {
            for id in [None, Some("i<d>&'\"")] {
                for body in [
                    None,
                    Some(""),
                    Some("<b>&amp; 'q' \"x\" ]]> \u{e9}\u{FFFE}\x03"),
                ] {
                    for payloads in [
                        vec![],
                        vec![stanza_id.clone()],
                        vec![client.clone(), nested.clone(), stanza_id.clone()],
                        vec![flat_id.clone(), flat_one.clone(), flat_client.clone()],
                    ] {
                        out.push(Message {
                            kind,
                            from: from.clone(),
                            id: id.map(Into::into),
                            body: body.map(Into::into),
                            payloads,
                        });
                    }
                }
            }
        }
        out
    }

    /// Written directly or through its element, a message is the same bytes, with or
    /// without a `to`, in either namespace.
    #[test]
    fn writes_the_bytes_of_its_element() {
        let to = Jid::new("u1@example.org/r'\"&").expect("JID");
        for m in cases() {
            for to in [None, Some(&to)] {
                let element = m.to_element(to);
                for map in [None, Some((ns::CLIENT, ns::COMPONENT_ACCEPT))] {
                    let mut direct = b"before".to_vec();
                    m.write(to, map, &mut direct).expect("writes");
                    let mut via = b"before".to_vec();
                    match map {
                        Some((f, t)) => writer::serialize_into_ns(&element, f, t, &mut via),
                        None => writer::serialize_into(&element, &mut via),
                    }
                    .expect("writes");
                    assert_eq!(
                        String::from_utf8_lossy(&direct),
                        String::from_utf8_lossy(&via),
                        "{m:?} to {to:?} {map:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_flat_payload_is_its_element() {
        for m in cases() {
            for p in &m.payloads {
                let Payload::Flat(f) = p else { continue };
                let el = p.to_element();
                assert!(p.is(el.name(), &el.ns()));
                for (n, v) in f.attrs() {
                    assert_eq!(el.attr(n), Some(v));
                    assert_eq!(f.attr(n), Some(v));
                }
                assert_eq!(el.attrs().into_iter().count(), f.attrs().count());
            }
        }
    }

    #[test]
    fn a_filter_leaves_payloads_out() {
        let m = &cases()[6];
        assert_eq!(m.payloads.len(), 3);
        let mut kept = Vec::new();
        m.write_with(
            None,
            None,
            |p| !p.is("stanza-id", "urn:xmpp:sid:0"),
            &mut kept,
        )
        .expect("writes");
        let mut fewer = m.clone();
        fewer.payloads.pop();
        let mut want = Vec::new();
        fewer.write(None, None, &mut want).expect("writes");
        assert_eq!(kept, want);
    }

    #[test]
    fn each_recipient_gets_the_message_to_them() {
        let m = cases().remove(5);
        let to: Vec<Jid> = ["a@x/1", "a@x/2"].map(|j| Jid::new(j).expect("JID")).into();
        let all: Vec<OutStanza> = m.clone().to_each(to.clone()).collect();
        assert_eq!(all.len(), 2);
        for (o, to) in all.into_iter().zip(&to) {
            assert_eq!(o.name(), "message");
            assert_eq!(o.into_element(), m.to_element(Some(to)));
        }
        let iq: OutStanza = el("<iq xmlns='jabber:client' type='error' id='1'/>").into();
        assert_eq!(iq.name(), "iq");
    }

    /// A payload that cannot be written leaves nothing half-written.
    #[test]
    fn an_error_leaves_the_buffer_as_it_was() {
        let mut m = cases().remove(0);
        m.payloads.push(Element::bare("ok", "urn:x").into());
        let mut deep = Element::bare("d", "urn:x");
        for _ in 0..300 {
            let mut outer = Element::bare("d", "urn:x");
            outer.append_child(deep);
            deep = outer;
        }
        m.payloads.push(deep.into());
        let mut out = b"kept".to_vec();
        assert!(m.write(None, None, &mut out).is_err());
        assert_eq!(out, b"kept");
    }
}
