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

/// `<retract id='…'/>` and what a retraction carries besides it for clients without
/// XEP-0424 ([`fallback_marks`]); the body saying what happened is the caller's.
pub fn retraction(id: &str) -> Vec<Element> {
    let mut payloads = vec![element(id)];
    payloads.extend(fallback_marks());
    payloads
}

/// The XEP-0428 fallback marker and XEP-0334 store hint of a retraction, whose body is the
/// fallback.
pub fn fallback_marks() -> [Element; 2] {
    [
        crate::stanza::elem("fallback", "urn:xmpp:fallback:0", &[("for", NS)]),
        Element::bare("store", "urn:xmpp:hints"),
    ]
}
