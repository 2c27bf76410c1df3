//! A backend's [`AddressRules`], compiled once at its handshake: the core parses every
//! address locally, in the time of a regular expression match, instead of asking the
//! backend for each stanza. The patterns come from the backend, so they are bounded in
//! size and compiled with `regex`, whose matching is linear in the name's length whatever
//! the pattern.

use pontoon_core::legacy::LegacyId;
use pontoon_core::transport::{Address, Invalid};
use regex::{Regex, RegexBuilder};

use crate::protocol::{AddressRules, Case};

/// The longest pattern a backend may declare.
const MAX_PATTERN: usize = 4096;
/// A compiled pattern's memory bound.
const MAX_COMPILED: usize = 1 << 20;
/// An XMPP localpart's limit: a longer name could not be a JID.
const MAX_NAME: usize = 1023;

/// Why a backend's rules were refused at its handshake.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RulesError {
    /// A pattern is longer than [`MAX_PATTERN`] or does not compile.
    #[error("the {which} pattern: {reason}")]
    Pattern {
        /// `contact` or `room`.
        which: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// `max_length` is 0 or beyond an XMPP localpart's.
    #[error("max_length must be from 1 to {MAX_NAME}")]
    Length,
}

/// [`AddressRules`], ready to use.
#[derive(Debug)]
pub struct Addresses {
    case: Case,
    max_length: usize,
    contact: Option<Regex>,
    room: Option<Regex>,
    occupant_contact: Option<String>,
}

fn compile(which: &'static str, pattern: &Option<String>) -> Result<Option<Regex>, RulesError> {
    let Some(pattern) = pattern else {
        return Ok(None);
    };
    if pattern.len() > MAX_PATTERN {
        return Err(RulesError::Pattern {
            which,
            reason: format!("longer than {MAX_PATTERN} bytes"),
        });
    }
    // Anchored, so the pattern describes the whole name.
    RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(MAX_COMPILED)
        .dfa_size_limit(MAX_COMPILED)
        .build()
        .map(Some)
        .map_err(|e| RulesError::Pattern {
            which,
            reason: e.to_string(),
        })
}

impl Addresses {
    /// Compiles `rules`, or says what is wrong with them.
    pub fn new(rules: &AddressRules) -> Result<Addresses, RulesError> {
        if rules.max_length == 0 || rules.max_length > MAX_NAME {
            return Err(RulesError::Length);
        }
        Ok(Addresses {
            case: rules.case,
            max_length: rules.max_length,
            contact: compile("contact", &rules.contact)?,
            room: compile("room", &rules.room)?,
            occupant_contact: rules.occupant_contact.clone(),
        })
    }

    /// `input` trimmed and folded, if it can be a name at all.
    fn fold(&self, input: &str) -> Result<String, Invalid> {
        let name = input.trim();
        if name.is_empty() {
            return Err(Invalid("an empty address".to_owned()));
        }
        if name.len() > self.max_length {
            return Err(Invalid(format!(
                "an address of more than {} bytes",
                self.max_length
            )));
        }
        if name.chars().any(char::is_control) {
            return Err(Invalid("an address with a control character".to_owned()));
        }
        Ok(match self.case {
            Case::Exact => name.to_owned(),
            Case::AsciiLowercase => name.to_ascii_lowercase(),
            Case::Lowercase => name.to_lowercase(),
        })
    }

    fn is_room(&self, name: &str) -> bool {
        self.room.as_ref().is_some_and(|r| r.is_match(name))
    }

    fn contact(&self, name: String) -> Result<LegacyId, Invalid> {
        let fits = match &self.contact {
            Some(pattern) => pattern.is_match(&name),
            None => !name.chars().any(char::is_whitespace),
        };
        if fits {
            Ok(LegacyId::new(&name, None))
        } else {
            Err(Invalid(format!(
                "{name:?} is not an address on this network"
            )))
        }
    }

    /// A contact's address, normalised; a room's is refused.
    pub fn normalize_contact(&self, input: &str) -> Result<LegacyId, Invalid> {
        let name = self.fold(input)?;
        if self.is_room(&name) {
            return Err(Invalid(
                "that is a room; join it as a room instead".to_owned(),
            ));
        }
        self.contact(name)
    }

    /// A room or a contact, told apart by the room pattern.
    pub fn parse(&self, local: &str) -> Result<Address, Invalid> {
        let name = self.fold(local)?;
        if self.is_room(&name) {
            return Ok(Address::Room(LegacyId::new(&name, None)));
        }
        self.contact(name).map(Address::Contact)
    }

    /// The contact behind occupant `nick` of `room`, where the rules say how to find one.
    pub fn occupant_contact(&self, room: &LegacyId, nick: &str) -> Option<LegacyId> {
        let template = self.occupant_contact.as_ref()?;
        let name = template
            .replace("{room}", room.name())
            .replace("{nick}", nick);
        self.normalize_contact(&name).ok()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn irc_like() -> Addresses {
        Addresses::new(&AddressRules {
            case: Case::AsciiLowercase,
            max_length: 64,
            contact: Some(r"[a-z_\[\]\\^{}|`][a-z0-9_\[\]\\^{}|`-]*".to_owned()),
            room: Some("[#&][^ ,]+".to_owned()),
            occupant_contact: Some("{nick}".to_owned()),
        })
        .unwrap()
    }

    #[test]
    fn rooms_and_contacts_are_told_apart_and_folded() {
        let a = irc_like();
        assert_eq!(
            a.parse("#Rust").unwrap(),
            Address::Room(LegacyId::new("#rust", None))
        );
        assert_eq!(
            a.parse(" Bob ").unwrap(),
            Address::Contact(LegacyId::new("bob", None))
        );
        assert!(a.parse("9lives").is_err());
        assert!(a.normalize_contact("#rust").is_err());
        assert!(a.parse(&"b".repeat(65)).is_err());
        assert!(a.parse("bo\u{0}b").is_err());
        assert_eq!(
            a.occupant_contact(&LegacyId::new("#rust", None), "Alice"),
            Some(LegacyId::new("alice", None))
        );
    }

    #[test]
    fn the_defaults_know_contacts_only() {
        let a = Addresses::new(&AddressRules::default()).unwrap();
        assert_eq!(
            a.parse("Bob@example.org").unwrap(),
            Address::Contact(LegacyId::new("Bob@example.org", None))
        );
        assert!(a.parse("two words").is_err());
        assert_eq!(a.occupant_contact(&LegacyId::new("r", None), "n"), None);
    }

    #[test]
    fn hostile_rules_are_refused() {
        let huge = AddressRules {
            room: Some("a".repeat(MAX_PATTERN + 1)),
            ..AddressRules::default()
        };
        assert!(matches!(
            Addresses::new(&huge),
            Err(RulesError::Pattern { which: "room", .. })
        ));
        let broken = AddressRules {
            contact: Some("(".to_owned()),
            ..AddressRules::default()
        };
        assert!(Addresses::new(&broken).is_err());
        // A pattern that compiles to too much memory.
        let big = AddressRules {
            contact: Some(r"\w{1000}\w{1000}".to_owned()),
            ..AddressRules::default()
        };
        assert!(Addresses::new(&big).is_err());
        let long = AddressRules {
            max_length: 5000,
            ..AddressRules::default()
        };
        assert_eq!(Addresses::new(&long).unwrap_err(), RulesError::Length);
    }
}
