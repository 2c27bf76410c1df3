//! XEP-0085 (chat state notifications) from the user's clients: writing, paused, or not.
//! Only a message without a body is a chat state of its own (a body says "active" by
//! itself, and the network learns that from the message).

use minidom::Element;

use crate::legacy::ChatState;

/// XEP-0085's namespace.
pub const NS: &str = "http://jabber.org/protocol/chatstates";

/// The chat state `stanza` carries, if any: composing, paused, or (active, inactive, gone)
/// not writing.
pub fn read(stanza: &Element) -> Option<ChatState> {
    stanza
        .children()
        .filter(|c| c.ns() == NS)
        .find_map(|c| match c.name() {
            "composing" => Some(ChatState::Composing),
            "paused" => Some(ChatState::Paused),
            "active" | "inactive" | "gone" => Some(ChatState::Active),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn reads_the_states() {
        let el: Element = "<message xmlns='jabber:client'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>".parse().unwrap();
        assert_eq!(read(&el), Some(ChatState::Composing));
        let el: Element = "<message xmlns='jabber:client'><gone xmlns='http://jabber.org/protocol/chatstates'/></message>".parse().unwrap();
        assert_eq!(read(&el), Some(ChatState::Active));
        let el: Element = "<message xmlns='jabber:client'><body>x</body></message>"
            .parse()
            .unwrap();
        assert_eq!(read(&el), None);
    }
}
