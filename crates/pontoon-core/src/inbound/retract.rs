//! XEP-0424 (message retraction, version 1): `<retract id='…'/>` names the retracted
//! message (its origin-id in direct chats, its stanza-id in rooms). Written here because
//! xmpp-parsers 0.23 has no module for it.

use minidom::Element;

/// XEP-0424's namespace (version 1; clients of 2023 on).
pub const NS: &str = "urn:xmpp:message-retract:1";

/// The id of the message `stanza` retracts, if it is a retraction.
pub fn target(stanza: &Element) -> Option<String> {
    stanza
        .get_child("retract", NS)
        .and_then(|r| r.attr("id"))
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

/// `<retract id='…'/>`: the message `id` is retracted.
pub fn element(id: &str) -> Element {
    crate::stanza::elem("retract", NS, &[("id", id)])
}

/// What a retraction carries besides `<retract/>` for clients without XEP-0424 (XEP-0428
/// fallback marker, a body saying what happened, XEP-0334 store hint), `text` the body.
pub fn fallback(text: &str) -> [Element; 3] {
    let mut body = Element::bare("body", pontoon_xmpp::ns::CLIENT);
    body.append_text_node(text);
    [
        body,
        crate::stanza::elem("fallback", "urn:xmpp:fallback:0", &[("for", NS)]),
        Element::bare("store", "urn:xmpp:hints"),
    ]
}
