//! Contacts' pictures as XEP-0084 (User Avatar) besides XEP-0153, for the clients that read
//! only those (Dino, Monal, Conversations prefer them): the contact's JID is the
//! component's own, so the component itself is the PEP service of its contacts, without
//! privileges. When a picture becomes known, the user gets the metadata notification a
//! PEP service sends (`<event/>` from the contact, type headline); a client that does not
//! have that picture asks the data node at the contact's JID by the picture's id, and the
//! session answers from the same cache as the vCard.

use minidom::Element;
use xmpp_parsers::avatar::{Data, Info, Metadata};
use xmpp_parsers::hashes::Sha1HexAttribute;

use super::Avatar;
use crate::stanza::{Refusal, elem};

/// The metadata node.
pub const NS_METADATA: &str = "urn:xmpp:avatar:metadata";
/// The data node.
pub const NS_DATA: &str = "urn:xmpp:avatar:data";
const NS_PUBSUB: &str = "http://jabber.org/protocol/pubsub";
const NS_EVENT: &str = "http://jabber.org/protocol/pubsub#event";

/// A picture's id: its SHA-1 in hexadecimal, as XEP-0084 and XEP-0153 both name it.
pub fn id_of(sha1: &[u8; 20]) -> String {
    sha1.iter().map(|b| format!("{b:02x}")).collect()
}

fn metadata(avatar: Option<&Avatar>) -> Element {
    let infos = avatar
        .and_then(|a| {
            Some(Info {
                bytes: u32::try_from(a.data.len()).ok()?,
                width: None,
                height: None,
                id: id_of(&a.sha1).parse::<Sha1HexAttribute>().ok()?,
                type_: a.media_type.to_owned(),
                url: None,
            })
        })
        .into_iter()
        .collect();
    Metadata { infos }.into()
}

fn item(ns: &str, id: Option<&str>, payload: Element) -> Element {
    let mut item = elem("item", ns, &[]);
    if let Some(id) = id {
        crate::stanza::set_attr(&mut item, "id", id);
    }
    item.append_child(payload);
    item
}

/// The `<event/>` of a metadata notification: the picture `avatar` (by its id), or none
/// (an empty `<metadata/>`, XEP-0084 4.6).
pub fn metadata_event(avatar: Option<&Avatar>) -> Element {
    let id = avatar.map(|a| id_of(&a.sha1));
    let entry = item(NS_EVENT, id.as_deref(), metadata(avatar));
    let mut items = elem("items", NS_EVENT, &[("node", NS_METADATA)]);
    items.append_child(entry);
    let mut event = elem("event", NS_EVENT, &[]);
    event.append_child(items);
    event
}

/// The answer to a pubsub request at a contact's JID: the items of XEP-0084's nodes for
/// `avatar` (the one whose id is asked, if an id is), anything else refused.
pub fn answer(request: &Element, avatar: Option<&Avatar>) -> Result<Element, Refusal> {
    let items = request
        .get_child("items", NS_PUBSUB)
        .ok_or_else(|| Refusal::cancel("feature-not-implemented", "Only items are read here."))?;
    let node = items.attr("node").unwrap_or_default();
    let wanted = items
        .get_child("item", NS_PUBSUB)
        .and_then(|i| i.attr("id"));
    let id = avatar.map(|a| id_of(&a.sha1));
    let found = match (node, avatar) {
        (NS_METADATA, _) if wanted.is_none() || wanted == id.as_deref() => Some(metadata(avatar)),
        (NS_DATA, Some(a)) if wanted.is_none() || wanted == id.as_deref() => Some(
            Data {
                data: a.data.to_vec(),
            }
            .into(),
        ),
        (NS_METADATA | NS_DATA, _) => None,
        _ => {
            return Err(Refusal::cancel(
                "item-not-found",
                "No such node: a contact has only their picture.",
            ));
        }
    };
    let Some(payload) = found else {
        return Err(Refusal::cancel("item-not-found", "No such picture."));
    };
    let mut items = elem("items", NS_PUBSUB, &[("node", node)]);
    items.append_child(item(NS_PUBSUB, id.as_deref(), payload));
    let mut pubsub = elem("pubsub", NS_PUBSUB, &[]);
    pubsub.append_child(items);
    Ok(pubsub)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn avatar() -> Avatar {
        Avatar {
            sha1: [0xab; 20],
            media_type: "image/png",
            data: bytes::Bytes::from_static(b"png!"),
        }
    }

    fn request(node: &str, id: Option<&str>) -> Element {
        let item = id.map_or(String::new(), |i| format!("<item id='{i}'/>"));
        format!("<pubsub xmlns='{NS_PUBSUB}'><items node='{node}'>{item}</items></pubsub>")
            .parse()
            .unwrap()
    }

    #[test]
    fn the_event_names_the_picture() {
        let xml = String::from(&metadata_event(Some(&avatar())));
        assert!(xml.contains(&format!("id='{}'", "ab".repeat(20))), "{xml}");
        assert!(xml.contains("bytes='4'"), "{xml}");
        assert!(xml.contains("type='image/png'"), "{xml}");
        assert!(xml.contains("node='urn:xmpp:avatar:metadata'"), "{xml}");
        let none = String::from(&metadata_event(None));
        assert!(!none.contains("<info"), "{none}");
    }

    #[test]
    fn the_data_is_answered_by_its_id() {
        let a = avatar();
        let id = id_of(&a.sha1);
        let answer = answer(&request(NS_DATA, Some(&id)), Some(&a)).unwrap();
        assert!(
            String::from(&answer).contains("cG5nIQ=="),
            "{}",
            String::from(&answer)
        );
        let refused = super::answer(&request(NS_DATA, Some("00")), Some(&a)).unwrap_err();
        assert_eq!(refused.condition, "item-not-found");
        let refused = super::answer(&request(NS_DATA, None), None).unwrap_err();
        assert_eq!(refused.condition, "item-not-found");
        let refused = super::answer(&request("urn:other", None), Some(&a)).unwrap_err();
        assert_eq!(refused.condition, "item-not-found");
    }
}
