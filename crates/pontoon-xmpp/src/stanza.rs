//! Helpers on raw stanzas (`jabber:client` minidom elements).
//!
//! These work on untyped elements so that the wire layer can answer
//! stanzas it cannot or will not handle (too big for a legacy network,
//! unknown recipient, ...) without going through xmpp-parsers' typed
//! structs, which refuse to parse some malformed stanzas one still has to
//! answer.

use minidom::Element;

use crate::ns;

/// Stanza error types allowed by RFC 6120 section 8.3.2.
const ERROR_TYPES: [&str; 5] = ["auth", "cancel", "continue", "modify", "wait"];

/// Whether `el` is a `message`, `presence` or `iq` in `jabber:client`.
#[must_use]
pub fn is_stanza(el: &Element) -> bool {
    el.has_ns(ns::CLIENT) && matches!(el.name(), "message" | "presence" | "iq")
}

/// Build the RFC 6120 error reply to `stanza`.
///
/// The reply has the same name and `id`, `to` and `from` swapped,
/// `type='error'` and an `<error type='..'><COND xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>[<text/>]</error>`
/// child. No payload of the original is included (the RFC allows leaving it
/// out; it keeps error replies small).
///
/// Returns `None` when no error must be sent: the stanza is not a
/// `jabber:client` message/presence/iq, it is itself `type='error'`, or it
/// is an iq `result` (RFC 6120 section 8.2.3). An unknown `error_type`
/// becomes `cancel`; a `condition` that is not an XML name becomes
/// `undefined-condition`.
#[must_use]
pub fn error_reply(
    stanza: &Element,
    error_type: &str,
    condition: &str,
    text: Option<&str>,
) -> Option<Element> {
    if !is_stanza(stanza) {
        return None;
    }
    let ty = stanza.attr("type");
    if ty == Some("error") || (stanza.name() == "iq" && ty == Some("result")) {
        return None;
    }
    let error_type = if ERROR_TYPES.contains(&error_type) {
        error_type
    } else {
        "cancel"
    };
    let condition = if rxml::NcNameStr::from_str(condition).is_ok() {
        condition
    } else {
        "undefined-condition"
    };

    let mut reply = Element::bare(stanza.name(), ns::CLIENT);
    let attrs = reply.attrs_mut();
    let mut set = |name: &str, value: &str| {
        if let Ok(name) = rxml::NcName::try_from(name) {
            attrs.insert(rxml::Namespace::NONE, name, value.to_owned());
        }
    };
    if let Some(from) = stanza.attr("from") {
        set("to", from);
    }
    if let Some(to) = stanza.attr("to") {
        set("from", to);
    }
    if let Some(id) = stanza.attr("id") {
        set("id", id);
    }
    set("type", "error");

    let mut error = Element::bare("error", ns::CLIENT);
    if let Ok(name) = rxml::NcName::try_from("type") {
        error
            .attrs_mut()
            .insert(rxml::Namespace::NONE, name, error_type.to_owned());
    }
    error.append_child(Element::bare(condition, ns::XMPP_STANZAS));
    if let Some(text) = text {
        let mut t = Element::bare("text", ns::XMPP_STANZAS);
        t.append_text(text);
        error.append_child(t);
    }
    reply.append_child(error);
    Some(reply)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use xmpp_parsers::iq::Iq;
    use xmpp_parsers::message::Message;
    use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType};

    fn parse(s: &str) -> Element {
        s.parse().unwrap()
    }

    #[test]
    fn message_error_reply_parses_with_xmpp_parsers() {
        let m = parse(
            "<message xmlns='jabber:client' from='u@h/r' to='c@irc.h' id='m1' type='chat'>\
             <body>hi</body></message>",
        );
        let r = error_reply(&m, "cancel", "item-not-found", Some("no such nick")).unwrap();
        assert_eq!(r.attr("to"), Some("u@h/r"));
        assert_eq!(r.attr("from"), Some("c@irc.h"));
        assert_eq!(r.attr("id"), Some("m1"));
        assert_eq!(r.attr("type"), Some("error"));
        assert!(r.get_child("body", ns::CLIENT).is_none());
        // round trip through the wire and the typed parser
        let bytes = crate::writer::serialize(&r).unwrap();
        let el: Element = std::str::from_utf8(&bytes).unwrap().parse().unwrap();
        let typed = Message::try_from(el).unwrap();
        assert_eq!(typed.type_, xmpp_parsers::message::MessageType::Error);
        let err = typed
            .payloads
            .iter()
            .find(|p| p.is("error", ns::CLIENT))
            .cloned()
            .unwrap();
        let se = xmpp_parsers::stanza_error::StanzaError::try_from(err).unwrap();
        assert_eq!(se.type_, ErrorType::Cancel);
        assert_eq!(se.defined_condition, DefinedCondition::ItemNotFound);
    }

    #[test]
    fn iq_error_reply() {
        let iq = parse(
            "<iq xmlns='jabber:client' from='u@h/r' to='irc.h' id='q' type='get'>\
             <query xmlns='jabber:iq:version'/></iq>",
        );
        let r = error_reply(&iq, "modify", "bad-request", None).unwrap();
        let typed = Iq::try_from(r).unwrap();
        assert_eq!(typed.id(), "q");
        assert!(matches!(typed, Iq::Error { .. }));
    }

    #[test]
    fn never_answers_errors_or_results() {
        for s in [
            "<message xmlns='jabber:client' type='error' from='a' to='b'/>",
            "<presence xmlns='jabber:client' type='error' from='a' to='b'/>",
            "<iq xmlns='jabber:client' type='error' from='a' to='b' id='1'/>",
            "<iq xmlns='jabber:client' type='result' from='a' to='b' id='1'/>",
            "<message xmlns='jabber:component:accept' from='a' to='b'/>",
            "<foo xmlns='jabber:client'/>",
        ] {
            assert!(error_reply(&parse(s), "cancel", "x", None).is_none(), "{s}");
        }
    }

    #[test]
    fn bad_arguments_are_sanitized() {
        let p = parse("<presence xmlns='jabber:client' from='a' to='b'/>");
        let r = error_reply(&p, "weird", "not a name", None).unwrap();
        let e = r.get_child("error", ns::CLIENT).unwrap();
        assert_eq!(e.attr("type"), Some("cancel"));
        assert!(
            e.get_child("undefined-condition", ns::XMPP_STANZAS)
                .is_some()
        );
        assert_eq!(r.attr("id"), None);
    }
}
