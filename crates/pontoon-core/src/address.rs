//! The legacy address a JID localpart on the transport's domain names: unescaped
//! (XEP-0106), parsed by the transport, and refused unless it writes back to the same
//! localpart. Every JID that reaches the network (an addressee, an invitee) goes through
//! here, so one legacy id always has one JID.

use crate::escape;
use crate::stanza::Refusal;
use crate::transport::{Address, Transport};

/// The address the localpart `node` of a JID on `domain` names, or the `jid-malformed`
/// refusal that tells the user why (and, when it only was not canonical, which JID to use).
pub(crate) fn of_localpart(
    transport: &dyn Transport,
    display_name: &str,
    domain: &str,
    node: &str,
) -> Result<Address, Refusal> {
    // Most localparts hold no escape: read as they are, without a copy (every message).
    let id = if node.contains('\\') {
        std::borrow::Cow::Owned(escape::unescape(node))
    } else {
        std::borrow::Cow::Borrowed(node)
    };
    let address = transport.parse_address(&id).map_err(|e| {
        Refusal::modify(
            "jid-malformed",
            format!("{id:?} is not a valid {display_name} address: {e}"),
        )
    })?;
    // One legacy id, one JID: a localpart the transport had to change to read (a stripped
    // escaped space, a non-canonical escape, a server part the fixed transport drops) would
    // open a second conversation with the same person, or reach someone else than written.
    // Case aside: localparts are compared without it.
    let text = match &address {
        Address::Contact(c) | Address::Room(c) => c.as_str(),
        Address::Network(n) => n.as_str(),
    };
    let canonical = escape::escape(text);
    // Equal as written in nearly every message: the case-folded copies only when not.
    if canonical != node && canonical.to_lowercase() != node.to_lowercase() {
        return Err(Refusal::modify(
            "jid-malformed",
            format!(
                "{node:?} is not how {display_name} writes this address: use {canonical}@{domain}"
            ),
        ));
    }
    Ok(address)
}
