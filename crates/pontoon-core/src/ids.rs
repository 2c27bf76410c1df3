//! XEP-0359 unique and stable stanza ids: the `<origin-id/>` a client puts on its message,
//! handed back on the message's reflection, and the `<stanza-id/>` Pontoon stamps on every
//! live room message, `by` the room.

use std::fmt::Write as _;

use jid::Jid;
use minidom::Element;
use xmpp_parsers::ns;

use crate::legacy::ClientIds;
use pontoon_xmpp::outgoing::Flat;

/// Longest client id kept. Real clients use UUIDs (36 characters); a longer id is ignored
/// rather than carried through the transport and back.
const MAX_CLIENT_ID: usize = 256;

fn bounded(id: &str) -> Option<String> {
    (!id.is_empty() && id.len() <= MAX_CLIENT_ID).then(|| id.to_owned())
}

/// The ids a client gave `message`: its `id` attribute and its XEP-0359 origin-id.
pub fn client_ids(message: &Element) -> ClientIds {
    ClientIds {
        id: message.attr("id").and_then(bounded),
        origin_id: message
            .get_child("origin-id", ns::SID)
            .and_then(|o| o.attr("id"))
            .and_then(bounded),
    }
}

/// A new stanza-id: 32 hex digits, the time in milliseconds (48 bits) then 80 random bits,
/// so unique (and not guessable) without any state to keep, and in increasing order over
/// time: the store's indexes led by these ids (the id map's key, the archive's stanza-id
/// index) then append their rows instead of scattering them over their pages, each of
/// which a commit writes whole (bench/README.md, "eleventh steps"). The time it shows is
/// the message's, which its delay stamp and the archive show anyway.
pub fn fresh() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    time_ordered(millis, rand::random::<u128>())
}

/// [`fresh`]'s id for the time `millis` and the random bits `random` (its low 80 bits).
fn time_ordered(millis: u128, random: u128) -> String {
    const RANDOM_BITS: u32 = 80;
    let time = millis & ((1 << 48) - 1);
    let bits = (time << RANDOM_BITS) | (random & ((1 << RANDOM_BITS) - 1));
    // Sized up front: `format!` grew its string three times to reach 32 digits.
    let mut id = String::with_capacity(32);
    let _ = write!(id, "{bits:032x}");
    id
}

// The ids are flat payloads (`Flat`), not elements, nor xmpp-parsers' typed structs: they
// are on every message towards XMPP, and an element costs its attributes' B-trees to build,
// write and drop (bench/README.md; the tests below parse them with the typed structs).

/// `<origin-id id='…'/>`.
pub fn origin_id(id: &str) -> Flat {
    Flat {
        name: "origin-id",
        ns: ns::SID,
        attr: ("id", id.into()),
        other: None,
    }
}

/// `<stanza-id id='…' by='…'/>`.
pub fn stanza_id(id: &str, by: &str) -> Flat {
    Flat {
        name: "stanza-id",
        ns: ns::SID,
        attr: ("id", id.into()),
        other: Some(("by", by.into())),
    }
}

/// XEP-0421's namespace.
pub const NS_OCCUPANT_ID: &str = "urn:xmpp:occupant-id:0";

/// `<occupant-id id='…'/>` (XEP-0421) for the occupant `nick` of the room `room_id`: a
/// digest of the two, so the same for every user who sees the room and across restarts,
/// and opaque. On IRC the nick is all there is (case-insensitive), so a nick change is a
/// new occupant id; see [`occupant_id_of`] for networks with person ids.
pub fn occupant_id(room_id: &str, nick: &str) -> Flat {
    occupant_id_of(room_id, nick, None)
}

/// `<occupant-id/>` for the occupant `nick`, who is `person` on the network where it has
/// stable person ids (a Matrix user id): then the id follows the person across nick
/// changes. Person ids and nicks are hashed apart, so neither can pose as the other.
pub fn occupant_id_of(room_id: &str, nick: &str, person: Option<&str>) -> Flat {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(room_id.as_bytes());
    match person {
        Some(person) => {
            h.update([1]);
            h.update(person.as_bytes());
        }
        None => {
            h.update([0]);
            // An ASCII nick (the usual) is lower-cased as it is hashed, without a copy;
            // others as `to_lowercase` does (final sigma and all), so ids never change.
            if nick.is_ascii() {
                let mut lower = [0u8; 64];
                for chunk in nick.as_bytes().chunks(lower.len()) {
                    let lower = &mut lower[..chunk.len()];
                    lower.copy_from_slice(chunk);
                    lower.make_ascii_lowercase();
                    h.update(&*lower);
                }
            } else {
                h.update(nick.to_lowercase().as_bytes());
            }
        }
    }
    let digest = h.finalize();
    // 16 bytes are 22 characters of unpadded base64, written on the stack.
    let mut id = [0u8; 22];
    let written = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode_slice(&digest[..16], &mut id)
        .unwrap_or(0);
    let id = std::str::from_utf8(&id[..written]).unwrap_or_default();
    Flat {
        name: "occupant-id",
        ns: NS_OCCUPANT_ID,
        attr: ("id", id.into()),
        other: None,
    }
}

/// The bare part of `jid`, without allocating (node and domain never contain `/`).
fn bare_str(jid: &Jid) -> &str {
    let s = jid.as_str();
    s.split_once('/').map_or(s, |(bare, _)| bare)
}

/// The stanza-id of a room message: the network's id of the message where it has one (so
/// a client's reference to it names the legacy message with no look-up), else a fresh one.
pub fn stanza_id_for(legacy_id: Option<&str>) -> String {
    legacy_id
        .filter(|id| !id.is_empty() && id.len() <= MAX_CLIENT_ID)
        .map_or_else(fresh, str::to_owned)
}

/// The XEP-0359 payloads of a room message from `from` (the occupant or the room): the
/// client's origin-id on a reflection of the user's own message, then the stanza-id by the
/// room.
pub fn room_message_ids(ids: &ClientIds, from: &Jid, stanza: &str) -> impl Iterator<Item = Flat> {
    let origin = ids.origin_id.as_deref().map(origin_id);
    origin
        .into_iter()
        .chain(std::iter::once(stanza_id(stanza, bare_str(from))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occupant_ids_are_stable_opaque_and_per_room() {
        let a = occupant_id("#c", "Bob");
        assert_eq!(a.attr("id"), occupant_id("#c", "bob").attr("id"));
        assert_ne!(a.attr("id"), occupant_id("#d", "bob").attr("id"));
        assert_ne!(a.attr("id"), occupant_id("#c", "bobby").attr("id"));
        assert!(!a.attr("id").unwrap_or_default().contains("bob"));
        let person = |nick| occupant_id_of("#c", nick, Some("@bob:example.org"));
        assert_eq!(person("bob").attr("id"), person("robert").attr("id"));
        assert_ne!(person("bob").attr("id"), a.attr("id"));
        let parsed = xmpp_parsers::occupant_id::OccupantId::try_from(Element::from(a));
        assert!(parsed.is_ok());
    }

    /// Clients keep occupant ids (to tell who is who across nick changes): the same nick
    /// in the same room has the same id in every version. Expected values computed apart
    /// (SHA-256 of room, 0, lower-cased nick; 16 bytes, unpadded URL-safe base64).
    #[test]
    fn occupant_ids_never_change() {
        fn id(room: &str, nick: &str) -> Option<String> {
            occupant_id(room, nick).attr("id").map(str::to_owned)
        }
        assert_eq!(id("#c", "Bob").as_deref(), Some("CdZDOqRPN1PD49KSSRvjmw"));
        // Beyond one 64-byte chunk, and a final sigma as `str::to_lowercase` reads it.
        assert_eq!(
            id("#c", &"A".repeat(100)).as_deref(),
            Some("8L_5gPMf1qYtYUn_fX1SOA")
        );
        assert_eq!(id("#c", "ΣΑΣ").as_deref(), Some("TOQcjZ11JKluBc_10hEwDA"));
    }
    use xmpp_parsers::stanza_id::{OriginId, StanzaId};

    #[test]
    fn fresh_ids_grow_with_time_and_differ_within_a_millisecond() {
        let earlier = time_ordered(1_780_000_000_000, u128::MAX);
        let later = time_ordered(1_780_000_000_001, 0);
        assert!(earlier < later, "{earlier} {later}");
        assert_eq!(earlier.len(), 32);
        assert_eq!(&earlier[..12], "019e70448800");
        assert_eq!(&earlier[12..], "ffffffffffffffffffff");
        // Today's, in the same millisecond or not, sort after that one, and differ.
        let (a, b) = (fresh(), fresh());
        assert_ne!(a, b);
        assert!(a.as_str() > later.as_str() && b.as_str() > later.as_str());
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()), "{a}");
    }

    #[test]
    fn client_ids_are_read_and_bounded() {
        let m: Element = "<message xmlns='jabber:client' id='m1'><origin-id xmlns='urn:xmpp:sid:0' id='o1'/></message>"
            .parse()
            .unwrap();
        assert_eq!(
            client_ids(&m),
            ClientIds {
                id: Some("m1".into()),
                origin_id: Some("o1".into())
            }
        );
        let long = "x".repeat(MAX_CLIENT_ID + 1);
        let m: Element = format!(
            "<message xmlns='jabber:client' id='{long}'><origin-id xmlns='urn:xmpp:sid:0' id=''/></message>"
        )
        .parse()
        .unwrap();
        assert_eq!(client_ids(&m), ClientIds::none());
    }

    #[test]
    fn stamped_ids_parse_as_xep_0359() {
        let room: Jid = "#room@irc.example".parse().unwrap();
        let occupant: Jid = "#room@irc.example/n/ck".parse().unwrap();
        let ids = ClientIds {
            id: Some("m1".into()),
            origin_id: Some("o1".into()),
        };
        let els: Vec<Element> = room_message_ids(&ids, &occupant, &fresh())
            .map(Element::from)
            .collect();
        assert_eq!(OriginId::try_from(els[0].clone()).unwrap().id, "o1");
        let sid = StanzaId::try_from(els[1].clone()).unwrap();
        assert_eq!(sid.by, room);
        assert_eq!(sid.id.len(), 32);
        assert!(sid.id.bytes().all(|b| b.is_ascii_hexdigit()), "{}", sid.id);
        let again: Vec<Element> = room_message_ids(&ClientIds::none(), &room, &stanza_id_for(None))
            .map(Element::from)
            .collect();
        assert_eq!(again.len(), 1);
        assert_ne!(StanzaId::try_from(again[0].clone()).unwrap().id, sid.id);
        // The network's id, when it has one, is the stanza-id.
        assert_eq!(stanza_id_for(Some("001~abc")), "001~abc");
        assert_eq!(stanza_id_for(Some("")).len(), 32);
    }
}
