//! Service discovery (XEP-0030) and entity capabilities (XEP-0115).
//!
//! The transport domain is a `gateway/<type>` entity listing exactly the features the
//! core implements; legacy contacts answer as clients of that network.

use std::collections::BTreeSet;

use minidom::Element;
use xmpp_parsers::caps::{self, Caps};
use xmpp_parsers::disco::{DiscoInfoResult, DiscoItemsResult, Identity};
use xmpp_parsers::hashes::Algo;

use crate::legacy::Verbs;

/// The node Pontoon's capabilities are published under.
pub const CAPS_NODE: &str = "https://pontoon.chat/caps";

/// Namespaces of the features the transport domain implements.
pub const DOMAIN_FEATURES: &[&str] = &[
    "http://jabber.org/protocol/disco#info",
    "http://jabber.org/protocol/disco#items",
    "http://jabber.org/protocol/rsm",
    "http://jabber.org/protocol/commands",
    "jabber:iq:register",
    "jabber:iq:gateway",
    "jabber:iq:search",
    "jabber:iq:version",
    "urn:xmpp:ping",
];

/// disco#info of the transport domain.
pub fn domain_info(gateway_type: &str, name: &str, node: Option<String>) -> DiscoInfoResult {
    DiscoInfoResult {
        node,
        identities: vec![Identity::new("gateway", gateway_type, "en", name)],
        features: DOMAIN_FEATURES.iter().map(|f| (*f).to_owned()).collect(),
        extensions: vec![],
    }
}

/// Server mode: the domain is also the users' XMPP server (`server/im`), with the
/// features its accounts answer (see `server::account`).
pub fn add_server_identity(info: &mut DiscoInfoResult) {
    info.identities
        .push(Identity::new("server", "im", "en", "Pontoon"));
    for f in SERVER_FEATURES {
        info.features.insert((*f).to_owned());
    }
}

/// Features of server mode beyond the transport's (stream features such as XEP-0198 are
/// announced on the stream, not here).
pub const SERVER_FEATURES: &[&str] = &["urn:xmpp:ping", "urn:xmpp:carbons:2", "jabber:iq:private"];

/// What every chat (a contact or a room) takes from clients, whatever the network: the core
/// carries these verbs natively where the transport can and degrades them readably where it
/// cannot (`crate::verbs`), so clients may offer them. Retraction (XEP-0424) is not among
/// them: no line can unsay a message, and no transport deletes yet.
pub const MESSAGE_FEATURES: &[&str] = &[
    crate::inbound::correct::NS,
    xmpp_parsers::ns::REACTIONS,
    crate::inbound::reply::NS,
];

/// disco#info of a legacy contact, who can take `verbs` natively (the message verbs of
/// [`MESSAGE_FEATURES`] are offered whatever the network).
pub fn contact_info(name: &str, verbs: Verbs) -> DiscoInfoResult {
    let mut features = chat_features(verbs);
    if verbs.receipts {
        features.insert(crate::inbound::markers::NS_RECEIPTS.to_owned());
    }
    DiscoInfoResult {
        node: None,
        identities: vec![Identity::new("client", "pc", "en", name)],
        features,
        extensions: vec![],
    }
}

/// disco#info of a legacy room named `name`: a text conference with the MUC features it
/// really has, the message verbs (`verbs` natively, [`MESSAGE_FEATURES`] anyway), XEP-0421
/// occupant ids on every occupant's stanza, and XEP-0359 (every room message has a
/// stanza-id by the room, which clients trust, to name messages in reactions and replies,
/// only when this says so).
/// `archive`: the room's messages are archived (XEP-0313 on its JID, `crate::archive`).
pub fn room_info(name: &str, verbs: Verbs, (commands, archive): (bool, bool)) -> DiscoInfoResult {
    let mut features = chat_features(verbs);
    // Clients show a JID's ad-hoc commands (the room's settings) only where it lists them.
    if commands {
        features.insert(crate::adhoc::NS_COMMANDS.to_owned());
    }
    for f in [
        "http://jabber.org/protocol/muc",
        "muc_open",
        "muc_unsecured",
        "muc_semianonymous",
        "muc_temporary",
        "urn:xmpp:sid:0",
        crate::ids::NS_OCCUPANT_ID,
    ] {
        features.insert(f.to_owned());
    }
    if verbs.moderation {
        features.insert(crate::inbound::moderate::NS.to_owned());
    }
    if archive {
        for f in [crate::archive::mam::NS, crate::archive::mam::NS_EXTENDED] {
            features.insert(f.to_owned());
        }
    }
    DiscoInfoResult {
        node: None,
        identities: vec![Identity::new("conference", "text", "en", name)],
        features,
        extensions: vec![],
    }
}

/// What any chat offers: disco, the message verbs, and what the network carries natively.
fn chat_features(verbs: Verbs) -> BTreeSet<String> {
    let mut features: BTreeSet<String> = MESSAGE_FEATURES.iter().map(|f| (*f).to_owned()).collect();
    features.insert("http://jabber.org/protocol/disco#info".to_owned());
    for (native, ns) in [
        (verbs.retractions, crate::inbound::retract::NS),
        (verbs.typing, crate::inbound::chat_state::NS),
        (verbs.markers, crate::inbound::markers::NS_MARKERS),
    ] {
        if native {
            features.insert(ns.to_owned());
        }
    }
    features
}

/// disco#info of a legacy network reached through the transport: a directory of rooms.
pub fn network_info(name: &str) -> DiscoInfoResult {
    let features = [
        "http://jabber.org/protocol/disco#info",
        "http://jabber.org/protocol/disco#items",
        "http://jabber.org/protocol/rsm",
        crate::inbound::search::NS,
    ]
    .iter()
    .map(|f| (*f).to_owned())
    .collect();
    DiscoInfoResult {
        node: None,
        identities: vec![Identity::new("conference", "irc", "en", name)],
        features,
        extensions: vec![],
    }
}

/// disco#items of the transport domain: none until rooms come.
pub fn domain_items(node: Option<String>) -> Element {
    DiscoItemsResult {
        node,
        items: vec![],
        rsm: None,
    }
    .into()
}

/// The `<c/>` element for presence from the transport, hashing [`domain_info`].
pub fn caps_element(gateway_type: &str, name: &str) -> Option<Element> {
    caps_of(&domain_info(gateway_type, name, None))
}

/// The XEP-0115 `<c/>` element announcing `info` (presence from the transport and from
/// contacts carries one, so clients know what each takes without asking each time).
pub fn caps_of(info: &DiscoInfoResult) -> Option<Element> {
    let data = caps::compute_disco(info);
    let hash = caps::hash_caps(&data, Algo::Sha_1).ok()?;
    Some(Caps::new(CAPS_NODE, hash).into())
}

/// Whether a disco#info `node` is ours: none, or our caps node and version.
pub fn is_caps_node(node: &str) -> bool {
    node.starts_with(CAPS_NODE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_are_stable_and_identity_is_gateway() {
        let a = caps_element("irc", "IRC").map(|e| String::from(&e));
        let b = caps_element("irc", "IRC").map(|e| String::from(&e));
        assert!(a.is_some());
        assert_eq!(a, b);
        let info = domain_info("irc", "IRC", None);
        assert_eq!(info.identities[0].category, "gateway");
        assert_eq!(info.identities[0].type_, "irc");
    }

    #[test]
    fn chats_offer_the_message_verbs() {
        let plain = Verbs::default();
        for info in [
            room_info("#c", plain, (false, false)),
            contact_info("bob", plain),
        ] {
            for f in MESSAGE_FEATURES {
                assert!(info.features.contains(*f), "{f}");
            }
            assert!(!info.features.contains("urn:xmpp:message-retract:1"));
            assert!(!info.features.contains("urn:xmpp:chat-markers:0"));
        }
        assert!(
            room_info("#c", plain, (false, false))
                .features
                .contains("urn:xmpp:sid:0")
        );
        assert!(
            !room_info("#c", plain, (false, false))
                .features
                .contains("urn:xmpp:message-moderate:1")
        );
        // What the network carries natively is said too, and only then.
        let room = room_info("#c", Verbs::ALL, (false, true));
        assert!(room.features.contains("urn:xmpp:mam:2"));
        assert!(
            !room_info("#c", plain, (false, false))
                .features
                .contains("urn:xmpp:mam:2")
        );
        for f in [
            "urn:xmpp:message-retract:1",
            "urn:xmpp:message-moderate:1",
            "urn:xmpp:chat-markers:0",
            "http://jabber.org/protocol/chatstates",
        ] {
            assert!(room.features.contains(f), "{f}");
        }
        assert!(
            contact_info("bob", Verbs::ALL)
                .features
                .contains("urn:xmpp:receipts")
        );
    }
}
