//! XEP-0425 (moderated message retraction, version 0.3, `urn:xmpp:message-moderate:1`): a
//! room moderator's IQ asking to retract someone else's message, and the message a room
//! sends everyone when it did. Written here because xmpp-parsers 0.23 has no module for
//! it; the older `:0` form (with XEP-0422 fastening) is not read.

use minidom::Element;

use crate::stanza::{Refusal, elem};

/// XEP-0425's namespace.
pub const NS: &str = "urn:xmpp:message-moderate:1";
/// Longest reason accepted, in bytes.
pub const MAX_REASON_BYTES: usize = 1024;

/// A moderator's request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moderation {
    /// The stanza-id of the message to retract.
    pub target: String,
    /// Why, if the moderator said.
    pub reason: Option<String>,
}

/// Reads `<moderate id='…'><retract/><reason/></moderate>`, the payload of the IQ.
pub fn read(moderate: &Element) -> Result<Moderation, Refusal> {
    let target = moderate.attr("id").filter(|id| !id.is_empty());
    let retract = moderate.get_child("retract", crate::inbound::retract::NS);
    let (Some(target), Some(_)) = (target, retract) else {
        return Err(Refusal::modify(
            "bad-request",
            "A moderation names the message (its stanza-id) and asks to retract it (XEP-0425).",
        ));
    };
    let reason = super::reason(moderate, NS, MAX_REASON_BYTES, "A moderation reason")?;
    Ok(Moderation {
        target: target.to_owned(),
        reason,
    })
}

/// The payload of the room's message announcing that `moderator` (their occupant JID and
/// occupant id) retracted the message `target`.
pub fn retraction(
    target: &str,
    moderator: &str,
    moderator_id: Element,
    reason: Option<&str>,
) -> Element {
    let mut moderated = elem("moderated", NS, &[("by", moderator)]);
    moderated.append_child(moderator_id);
    let mut retract = crate::inbound::retract::element(target);
    retract.append_child(moderated);
    if let Some(reason) = reason {
        let mut r = elem("reason", crate::inbound::retract::NS, &[]);
        r.append_text_node(reason);
        retract.append_child(r);
    }
    retract
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn read_xml(xml: &str) -> Result<Moderation, Refusal> {
        read(&xml.parse::<Element>().unwrap())
    }

    #[test]
    fn requests_are_read_and_checked() {
        let m = read_xml("<moderate xmlns='urn:xmpp:message-moderate:1' id='s1'><retract xmlns='urn:xmpp:message-retract:1'/><reason>spam</reason></moderate>").unwrap();
        assert_eq!(m.target, "s1");
        assert_eq!(m.reason.as_deref(), Some("spam"));
        let e = read_xml("<moderate xmlns='urn:xmpp:message-moderate:1' id='s1'/>").unwrap_err();
        assert_eq!(e.condition, "bad-request");
        let long = "x".repeat(MAX_REASON_BYTES + 1);
        let e = read_xml(&format!("<moderate xmlns='urn:xmpp:message-moderate:1' id='s1'><retract xmlns='urn:xmpp:message-retract:1'/><reason>{long}</reason></moderate>")).unwrap_err();
        assert_eq!(e.condition, "policy-violation");
    }

    #[test]
    fn the_announcement_says_who_and_why() {
        let id = crate::ids::occupant_id("#c", "op").into();
        let r = retraction("s1", "#c@irc.example/op", id, Some("spam"));
        assert_eq!(r.attr("id"), Some("s1"));
        let moderated = r.get_child("moderated", NS).unwrap();
        assert_eq!(moderated.attr("by"), Some("#c@irc.example/op"));
        assert!(
            moderated
                .get_child("occupant-id", crate::ids::NS_OCCUPANT_ID)
                .is_some()
        );
        assert_eq!(
            r.get_child("reason", crate::inbound::retract::NS)
                .unwrap()
                .text(),
            "spam"
        );
    }
}
