//! A room's occupants, found by nick: a set keyed on each occupant's own nick, so the nick
//! is kept once (a map from nick to occupant kept it twice, with an allocation more per
//! occupant, in every room of every session: performance pass 4), in a compact entry of 32
//! bytes: the nick and the person's network name in one inline string (an [`Occupant`] is
//! 56 bytes and a heap block per name; a separate `Option<Box<str>>` for the rare person
//! made the slot 48). Every session keeps every room's list: a small room's in a vector
//! sized to it, a big one's in a hash table ([`crate::small::Table`]).

use std::hash::BuildHasher;

use crate::legacy::{Affiliation, Occupant, Role};

/// An occupant as the room keeps them; equal to another by nick alone.
#[derive(Clone, Debug)]
pub(crate) struct Seat {
    /// The nick, then the person's network name if there is one: inline up to 24 bytes
    /// (a boxed nick of a few bytes took a 32-byte heap block more).
    text: compact_str::CompactString,
    /// Where the nick ends in `text`.
    nick_len: u32,
    /// Their role.
    pub(crate) role: Role,
    /// Their affiliation.
    pub(crate) affiliation: Affiliation,
}

impl Seat {
    /// Their nick in the room.
    pub(crate) fn nick(&self) -> &str {
        // `nick_len` is a char boundary: it is the length of the nick `text` starts with.
        self.text.get(..self.nick_len as usize).unwrap_or_default()
    }

    /// Their network identity where it is not the nick (see [`Occupant::person`]; an empty
    /// one is none).
    pub(crate) fn person(&self) -> Option<&str> {
        self.text
            .get(self.nick_len as usize..)
            .filter(|p| !p.is_empty())
    }

    /// The occupant, as the vocabulary says it.
    pub(crate) fn to_occupant(&self) -> Occupant {
        Occupant {
            nick: self.nick().to_owned(),
            person: self.person().map(str::to_owned),
            role: self.role,
            affiliation: self.affiliation,
        }
    }
}

impl From<Occupant> for Seat {
    fn from(o: Occupant) -> Self {
        // A nick beyond 4 GiB cannot reach here (stanzas and lines are far smaller); were
        // it to, it would be cut at a char boundary rather than wrap.
        let mut nick = o.nick;
        if u32::try_from(nick.len()).is_err() {
            let mut end = u32::MAX as usize;
            while !nick.is_char_boundary(end) {
                end -= 1;
            }
            nick.truncate(end);
        }
        let nick_len = u32::try_from(nick.len()).unwrap_or(0);
        let text = match o.person {
            None => nick.into(),
            Some(person) => {
                let mut t = compact_str::CompactString::with_capacity(nick.len() + person.len());
                t.push_str(&nick);
                t.push_str(&person);
                t
            }
        };
        Seat {
            text,
            nick_len,
            role: o.role,
            affiliation: o.affiliation,
        }
    }
}

impl From<Seat> for Occupant {
    fn from(s: Seat) -> Self {
        s.to_occupant()
    }
}

/// Everyone in a room, by nick.
#[derive(Clone, Debug, Default)]
pub(crate) struct Occupants(crate::small::Table<Seat>);

/// A nick's hash, with the process's keys (nicks come from the network).
fn hash(nick: &str) -> u64 {
    crate::small::ProcessKeys.hash_one(nick)
}

impl Occupants {
    /// The occupant `nick`.
    pub(crate) fn get(&self, nick: &str) -> Option<&Seat> {
        self.0.find(|| hash(nick), |s| s.nick() == nick)
    }

    /// Whether `nick` is in the room.
    pub(crate) fn contains(&self, nick: &str) -> bool {
        self.get(nick).is_some()
    }

    /// Adds `occupant`, replacing whoever had the same nick.
    pub(crate) fn insert(&mut self, occupant: Occupant) {
        self.0.insert(
            occupant.into(),
            |s| hash(s.nick()),
            |a, b| a.nick() == b.nick(),
        );
    }

    /// Takes `nick` out of the room.
    pub(crate) fn remove(&mut self, nick: &str) -> Option<Occupant> {
        self.0
            .remove(|| hash(nick), |s| s.nick() == nick)
            .map(Occupant::from)
    }

    /// Everyone but `nick`, in no order.
    pub(crate) fn others(&self, nick: &str) -> impl Iterator<Item = Occupant> {
        self.0
            .iter()
            .filter(move |s| s.nick() != nick)
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

    #[test]
    fn the_person_rides_with_the_nick() {
        let mut all = Occupants::default();
        all.insert(Occupant {
            nick: "Zoë".into(),
            person: Some("@zoe:example.org".into()),
            role: Role::Participant,
            affiliation: Affiliation::Member,
        });
        all.insert(occupant("bob", Role::Participant));
        let zoe = all.get("Zoë").map(Seat::to_occupant);
        assert_eq!(zoe.as_ref().map(|o| o.nick.as_str()), Some("Zoë"));
        assert_eq!(
            zoe.and_then(|o| o.person).as_deref(),
            Some("@zoe:example.org")
        );
        assert_eq!(all.get("bob").and_then(Seat::person), None);
        assert!(!all.contains("Zoë@zoe:example.org"));
        let taken = all.remove("Zoë");
        assert_eq!(
            taken.and_then(|o| o.person).as_deref(),
            Some("@zoe:example.org")
        );
    }

    #[test]
    fn a_seat_is_32_bytes() {
        assert!(std::mem::size_of::<Seat>() <= 32);
    }
}
