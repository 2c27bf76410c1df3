//! The typed legacy address of a contact or a room.
//!
//! A JID's localpart is parsed once, by the transport ([`crate::transport::Transport::parse_address`]),
//! into a [`LegacyId`]: its name on the network and, for a transport that reaches several
//! networks (an IRC transport open to any server), which network. From then on the id
//! crosses typed, in both directions: the transport reads `name()` and `network()`, never
//! the text again, and the core uses the text as the key (JID localpart, store key).

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

/// A contact's or room's address on its network, as the transport parsed it.
///
/// Its text is `name`, or `name%network` where the transport reaches several networks
/// (the convention of XMPP gateways: `#rust%irc.libera.chat`, `bob%irc.libera.chat`).
/// Equality, order and hash are the text's: within one transport every id has a network
/// or none has, so the text names the id. As JSON: `{"name": "#rust", "network":
/// "irc.libera.chat"}`, `network` left out when there is none.
#[derive(Clone)]
pub struct LegacyId {
    /// `name` or `name%network`.
    text: Box<str>,
    /// Where the name ends (the text's length when there is no network): a `u32` keeps
    /// the id as small as the `String` it replaces.
    name_len: u32,
}

impl LegacyId {
    /// The id of `name` on `network` (`None` for a transport with one network). The
    /// network names a host or the like: it has no `%`.
    pub fn new(name: &str, network: Option<&str>) -> LegacyId {
        let text: Box<str> = match network {
            // Sized exactly: `format!` grew its string, and the box then shrank it again.
            Some(n) => {
                let mut text = String::with_capacity(name.len() + 1 + n.len());
                text.push_str(name);
                text.push('%');
                text.push_str(n);
                text.into_boxed_str()
            }
            None => name.into(),
        };
        LegacyId {
            // Names are short (a JID localpart is at most 1023 bytes); saturating keeps a
            // freak from panicking, and the text is still the whole id.
            name_len: u32::try_from(name.len()).unwrap_or(u32::MAX),
            text,
        }
    }

    /// The name on the network: a nick, a channel, a Matrix id.
    pub fn name(&self) -> &str {
        self.text
            .get(..self.name_len as usize)
            .unwrap_or(&self.text)
    }

    /// The network, for a transport that reaches several.
    pub fn network(&self) -> Option<&str> {
        self.text.get(self.name_len as usize + 1..)
    }

    /// The whole id as text (`name` or `name%network`): what the JID localpart escapes.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for LegacyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.text, f)
    }
}

impl fmt::Display for LegacyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for LegacyId {
    fn eq(&self, other: &LegacyId) -> bool {
        self.text == other.text
    }
}

impl Eq for LegacyId {}

impl PartialOrd for LegacyId {
    fn partial_cmp(&self, other: &LegacyId) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for LegacyId {
    fn cmp(&self, other: &LegacyId) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl Hash for LegacyId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

/// Maps keyed by id are looked up by text too (equality and hash are the text's).
impl Borrow<str> for LegacyId {
    fn borrow(&self) -> &str {
        &self.text
    }
}

impl AsRef<str> for LegacyId {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

/// Reads as the text, where a `&str` is wanted (logging, JIDs, store keys).
impl std::ops::Deref for LegacyId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

impl PartialEq<str> for LegacyId {
    fn eq(&self, other: &str) -> bool {
        &*self.text == other
    }
}

impl PartialEq<&str> for LegacyId {
    fn eq(&self, other: &&str) -> bool {
        &*self.text == *other
    }
}

/// The JSON form of [`LegacyId`].
#[derive(Serialize, Deserialize)]
struct Parts<'a> {
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    network: Option<std::borrow::Cow<'a, str>>,
}

impl Serialize for LegacyId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Parts {
            name: self.name().into(),
            network: self.network().map(Into::into),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for LegacyId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<LegacyId, D::Error> {
        let parts = Parts::deserialize(d)?;
        if parts.network.as_deref().is_some_and(|n| n.contains('%')) {
            return Err(serde::de::Error::custom("a network has no '%'"));
        }
        Ok(LegacyId::new(&parts.name, parts.network.as_deref()))
    }
}

impl schemars::JsonSchema for LegacyId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "LegacyId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A contact's or room's address on a network: its name as the network spells it, and for a transport that reaches several networks, which one (no '%' in it).",
            "type": "object",
            "properties": {
                "name": { "type": "string" },
                "network": { "type": "string" }
            },
            "required": ["name"]
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn name_and_network_come_back_as_given() {
        let room = LegacyId::new("#a%b", Some("irc.libera.chat"));
        assert_eq!(room.name(), "#a%b");
        assert_eq!(room.network(), Some("irc.libera.chat"));
        assert_eq!(room.as_str(), "#a%b%irc.libera.chat");
        let alone = LegacyId::new("@bob:example.org", None);
        assert_eq!(alone.name(), "@bob:example.org");
        assert_eq!(alone.network(), None);
        assert_eq!(alone, "@bob:example.org");
        assert_eq!(
            std::mem::size_of::<LegacyId>(),
            std::mem::size_of::<String>()
        );
    }

    #[test]
    fn json_is_name_and_network() {
        let id = LegacyId::new("#rust", Some("irc.libera.chat"));
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, r##"{"name":"#rust","network":"irc.libera.chat"}"##);
        assert_eq!(serde_json::from_str::<LegacyId>(&json).unwrap(), id);
        let alone: LegacyId = serde_json::from_str(r#"{"name":"bob"}"#).unwrap();
        assert_eq!(alone.network(), None);
        assert!(serde_json::from_str::<LegacyId>(r#"{"name":"a","network":"b%c"}"#).is_err());
    }

    #[test]
    fn maps_find_ids_by_text() {
        let mut rooms = std::collections::HashMap::new();
        rooms.insert(LegacyId::new("#c", Some("net")), 1);
        assert_eq!(rooms.get("#c%net"), Some(&1));
    }
}
