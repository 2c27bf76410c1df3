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
