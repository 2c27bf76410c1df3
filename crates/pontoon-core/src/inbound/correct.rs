//! XEP-0308 (last message correction): the id of the message a correction replaces.

use minidom::Element;

/// XEP-0308's namespace.
pub const NS: &str = "urn:xmpp:message-correct:0";

/// The id of the message `stanza` corrects, if it is a correction.
pub fn target(stanza: &Element) -> Option<String> {
    stanza
        .get_child("replace", NS)
        .and_then(|r| r.attr("id"))
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

/// `<replace xmlns='urn:xmpp:message-correct:0' id='…'/>`, for a reflection.
pub fn replace_element(id: &str) -> Element {
    crate::stanza::elem("replace", NS, &[("id", id)])
}
