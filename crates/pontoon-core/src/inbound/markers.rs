//! XEP-0333 (displayed markers) and XEP-0184 (delivery receipts): what a client says it
//! has shown, and the elements Pontoon sends when the network says a contact received or
//! read the user's message. Parsed and built with xmpp-parsers.

use minidom::Element;
use xmpp_parsers::displayed_markers::Displayed;
use xmpp_parsers::message::Id;
use xmpp_parsers::receipts::Received;

/// XEP-0333's namespace, for disco.
pub const NS_MARKERS: &str = xmpp_parsers::ns::DISPLAYED_MARKERS;
/// XEP-0184's namespace, for disco.
pub const NS_RECEIPTS: &str = xmpp_parsers::ns::RECEIPTS;

/// The id of the message `stanza` says the user has seen (`<displayed/>`), if any: a
/// message id in a direct chat, a stanza-id in a room.
pub fn displayed(stanza: &Element) -> Option<String> {
    let el = stanza.get_child("displayed", NS_MARKERS)?;
    let Displayed { id } = Displayed::try_from(el.clone()).ok()?;
    Some(id.0).filter(|id| !id.is_empty())
}

/// `<displayed id='…'/>`: someone has seen the message `id`.
pub fn displayed_element(id: &str) -> Element {
    Displayed {
        id: Id(id.to_owned()),
    }
    .into()
}

/// `<markable/>`: the recipient may say when it has shown this message.
pub fn markable() -> Element {
    xmpp_parsers::displayed_markers::Markable.into()
}

/// `<received id='…'/>`: the message `id` reached its recipient.
pub fn received_element(id: &str) -> Element {
    Received { id: id.to_owned() }.into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn displayed_round_trips() {
        let m: Element = "<message xmlns='jabber:client'><displayed xmlns='urn:xmpp:chat-markers:0' id='m1'/></message>".parse().unwrap();
        assert_eq!(displayed(&m).as_deref(), Some("m1"));
        let none: Element = "<message xmlns='jabber:client'><displayed xmlns='urn:xmpp:chat-markers:0' id=''/></message>".parse().unwrap();
        assert_eq!(displayed(&none), None);
        assert_eq!(displayed_element("m1").attr("id"), Some("m1"));
        assert!(received_element("m2").is("received", NS_RECEIPTS));
    }
}
