//! A room's occupants, found by nick: a set keyed on each occupant's own nick, so the nick
//! is kept once (a map from nick to occupant kept it twice, with an allocation more per
//! occupant, in every room of every session: performance pass 4).

use std::borrow::Borrow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use crate::legacy::Occupant;

/// An occupant, equal to another by nick alone.
#[derive(Clone, Debug)]
struct ByNick(Occupant);

impl PartialEq for ByNick {
    fn eq(&self, other: &Self) -> bool {
        self.0.nick == other.0.nick
    }
}

impl Eq for ByNick {}

impl Hash for ByNick {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `str` hashes: `Borrow<str>` requires the same hash.
        self.0.nick.as_str().hash(state);
    }
}

impl Borrow<str> for ByNick {
    fn borrow(&self) -> &str {
        &self.0.nick
    }
}

/// Everyone in a room, by nick.
#[derive(Clone, Debug, Default)]
pub(crate) struct Occupants(HashSet<ByNick>);

impl Occupants {
    /// The occupant `nick`.
    pub(crate) fn get(&self, nick: &str) -> Option<&Occupant> {
        self.0.get(nick).map(|o| &o.0)
    }

    /// Whether `nick` is in the room.
    pub(crate) fn contains(&self, nick: &str) -> bool {
        self.0.contains(nick)
    }

    /// Adds `occupant`, replacing whoever had the same nick.
    pub(crate) fn insert(&mut self, occupant: Occupant) {
        self.0.replace(ByNick(occupant));
    }

    /// Takes `nick` out of the room.
    pub(crate) fn remove(&mut self, nick: &str) -> Option<Occupant> {
        self.0.take(nick).map(|o| o.0)
    }

    /// Everyone, in no order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Occupant> {
        self.0.iter().map(|o| &o.0)
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
        assert_eq!(all.iter().count(), 1);
    }
}
