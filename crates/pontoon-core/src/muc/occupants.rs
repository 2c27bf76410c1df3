//! A room's occupants, found by nick: a set keyed on each occupant's own nick, so the nick
//! is kept once (a map from nick to occupant kept it twice, with an allocation more per
//! occupant, in every room of every session: performance pass 4), in a compact entry
//! (48 bytes a slot with the nick inline, instead of an [`Occupant`]'s 56 and the nick's heap
//! block; a hash set keeps about 1.6 slots per occupant, and every session keeps every
//! room's list).

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use crate::legacy::{Affiliation, Occupant, Role};

/// An occupant as the room keeps them; equal to another by nick alone.
#[derive(Clone, Debug)]
pub(crate) struct Seat {
    /// Inline up to 24 bytes: a boxed nick of a few bytes took a 32-byte heap block more.
    nick: compact_str::CompactString,
    person: Option<Box<str>>,
    /// Their role.
    pub(crate) role: Role,
    /// Their affiliation.
    pub(crate) affiliation: Affiliation,
}

impl Seat {
    /// Their network identity where it is not the nick (see [`Occupant::person`]).
    pub(crate) fn person(&self) -> Option<&str> {
        self.person.as_deref()
    }

    /// The occupant, as the vocabulary says it.
    pub(crate) fn to_occupant(&self) -> Occupant {
        Occupant {
            nick: self.nick.to_string(),
            person: self.person.as_deref().map(str::to_owned),
            role: self.role,
            affiliation: self.affiliation,
        }
    }
}

impl From<Occupant> for Seat {
    fn from(o: Occupant) -> Self {
        Seat {
            nick: o.nick.into(),
            person: o.person.map(String::into_boxed_str),
            role: o.role,
            affiliation: o.affiliation,
        }
    }
}

impl From<Seat> for Occupant {
    fn from(s: Seat) -> Self {
        Occupant {
            nick: s.nick.into(),
            person: s.person.map(str::into_string),
            role: s.role,
            affiliation: s.affiliation,
        }
    }
}

impl PartialEq for Seat {
    fn eq(&self, other: &Self) -> bool {
        self.nick == other.nick
    }
}

impl Eq for Seat {}

impl Hash for Seat {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `str` hashes: `Borrow<str>` requires the same hash.
        self.nick.hash(state);
    }
}

impl Borrow<str> for Seat {
    fn borrow(&self) -> &str {
        &self.nick
    }
}

/// Everyone in a room, by nick.
#[derive(Clone, Debug, Default)]
pub(crate) struct Occupants(HashSet<Seat>);

impl Occupants {
    /// The occupant `nick`.
    pub(crate) fn get(&self, nick: &str) -> Option<&Seat> {
        self.0.get(nick)
    }

    /// Whether `nick` is in the room.
    pub(crate) fn contains(&self, nick: &str) -> bool {
        self.0.contains(nick)
    }

    /// Adds `occupant`, replacing whoever had the same nick.
    pub(crate) fn insert(&mut self, occupant: Occupant) {
        self.0.replace(occupant.into());
    }

    /// Takes `nick` out of the room.
    pub(crate) fn remove(&mut self, nick: &str) -> Option<Occupant> {
        self.0.take(nick).map(Occupant::from)
    }

    /// Everyone but `nick`, in no order.
    pub(crate) fn others(&self, nick: &str) -> impl Iterator<Item = Occupant> {
        self.0
            .iter()
            .filter(move |s| &*s.nick != nick)
            .map(Seat::to_occupant)
    }

    /// How many.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

impl FromIterator<Occupant> for Occupants {
    fn from_iter<I: IntoIterator<Item = Occupant>>(iter: I) -> Self {
        let mut all = Occupants::default();
        for o in iter {
            all.insert(o);
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::{Affiliation, Role};

    fn occupant(nick: &str, role: Role) -> Occupant {
        Occupant {
            nick: nick.into(),
            person: None,
            role,
            affiliation: Affiliation::None,
        }
    }

    #[test]
    fn found_replaced_and_taken_by_nick() {
        let mut all: Occupants = [
            occupant("bob", Role::Participant),
            occupant("eve", Role::Visitor),
        ]
        .into_iter()
        .collect();
        assert_eq!(all.len(), 2);
        assert_eq!(all.get("bob").map(|o| o.role), Some(Role::Participant));
        all.insert(occupant("bob", Role::Moderator));
        assert_eq!(all.len(), 2);
        assert_eq!(all.get("bob").map(|o| o.role), Some(Role::Moderator));
        assert!(all.contains("eve"));
        assert_eq!(all.remove("eve").map(|o| o.nick), Some("eve".to_owned()));
        assert!(!all.contains("eve"));
        assert_eq!(all.others("nobody").count(), 1);
        assert_eq!(all.others("bob").count(), 0);
    }
}
