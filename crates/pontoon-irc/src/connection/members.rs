//! A channel's members, found by nick under the server's case mapping.
//!
//! Written here, over hashbrown's `HashTable`, rather than a `HashMap` keyed by the folded
//! nick: that map kept each nick twice (as written and folded, one more allocation per
//! member) in 48-byte slots, in every channel of every connection. Here a member is kept
//! once, in 40 bytes with its nick inline, and hashed and compared folded on the fly (IRC
//! case mappings fold one character to one character, so nothing is allocated to look one
//! up). Performance pass 4.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::LazyLock;

use hashbrown::HashTable;

use crate::isupport::ISupport;

/// One member of a channel.
#[derive(Clone, Debug)]
pub(super) struct Member {
    // Inline up to 24 bytes, and a boxed slice, not `String`/`Vec`: every connection keeps
    // every member of its channels.
    pub(super) nick: compact_str::CompactString,
    /// Prefix modes (`o`, `v`...), rarely more than one.
    pub(super) modes: Box<[char]>,
}

/// A channel's members (at most `MAX_MEMBERS`, which the callers check).
#[derive(Clone, Debug, Default)]
pub(super) struct Members(HashTable<Member>);

/// One hasher for every table: the nicks come from the network, so the keys are random per
/// process (as a `HashMap`'s), but a table need not keep its own 16 bytes of them.
static HASHER: LazyLock<RandomState> = LazyLock::new(RandomState::new);

fn hash(isupport: &ISupport, nick: &str) -> u64 {
    let mut h = HASHER.build_hasher();
    for c in nick.chars() {
        h.write_u32(isupport.fold_char(c) as u32);
    }
    h.finish()
}

impl Members {
    /// The member named `nick`, in any case.
    pub(super) fn get(&self, isupport: &ISupport, nick: &str) -> Option<&Member> {
        self.0
            .find(hash(isupport, nick), |m| isupport.same(&m.nick, nick))
    }

    /// The member named `nick`, to change.
    pub(super) fn get_mut(&mut self, isupport: &ISupport, nick: &str) -> Option<&mut Member> {
        self.0
            .find_mut(hash(isupport, nick), |m| isupport.same(&m.nick, nick))
    }

    /// Whether `nick` is a member.
    pub(super) fn contains(&self, isupport: &ISupport, nick: &str) -> bool {
        self.get(isupport, nick).is_some()
    }

    /// Adds `member`, in place of one with the same nick.
    pub(super) fn insert(&mut self, isupport: &ISupport, member: Member) {
        let h = hash(isupport, &member.nick);
        match self.0.find_mut(h, |m| isupport.same(&m.nick, &member.nick)) {
            Some(slot) => *slot = member,
            None => {
                self.0.insert_unique(h, member, |m| hash(isupport, &m.nick));
            }
        }
    }

    /// Adds `nick` without modes unless they are a member already.
    pub(super) fn add_if_absent(&mut self, isupport: &ISupport, nick: &str) {
        if !self.contains(isupport, nick) {
            self.insert(
                isupport,
                Member {
                    nick: nick.into(),
                    modes: Box::default(),
                },
            );
        }
    }

    /// Takes the member named `nick` out.
    pub(super) fn remove(&mut self, isupport: &ISupport, nick: &str) -> Option<Member> {
        self.0
            .find_entry(hash(isupport, nick), |m| isupport.same(&m.nick, nick))
            .ok()
            .map(|e| e.remove().0)
    }

    /// How many there are.
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// Forgets them all, and the memory they took.
    pub(super) fn clear(&mut self) {
        self.0 = HashTable::new();
    }

    /// Every member, in no order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Member> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(nick: &str) -> Member {
        Member {
            nick: nick.into(),
            modes: Box::default(),
        }
    }

    #[test]
    fn found_in_any_case_under_the_mapping() {
        let rfc = ISupport::default();
        let mut m = Members::default();
        m.insert(&rfc, member("Nick[A]"));
        assert!(m.contains(&rfc, "nick{a}"), "rfc1459 folds [ to {{");
        assert!(m.contains(&rfc, "NICK[a]"));
        assert!(!m.contains(&rfc, "nick"));
        m.insert(&rfc, member("NICK{A}"));
        assert_eq!(m.len(), 1, "the same member under the mapping");
        assert_eq!(
            &*m.get(&rfc, "nick[a]")
                .map(|x| x.nick.clone())
                .unwrap_or_default(),
            "NICK{A}"
        );
        let mut ascii = ISupport::default();
        ascii.apply(&["CASEMAPPING=ascii".to_owned()]);
        let mut n = Members::default();
        n.insert(&ascii, member("Nick[A]"));
        assert!(!n.contains(&ascii, "nick{a}"), "ascii does not fold [");
        assert!(n.contains(&ascii, "nick[a]"));
    }

    #[test]
    fn removed_renamed_and_cleared() {
        let i = ISupport::default();
        let mut m = Members::default();
        for n in ["a", "B", "c"] {
            m.insert(&i, member(n));
        }
        m.add_if_absent(&i, "b");
        assert_eq!(m.len(), 3);
        let b = m.remove(&i, "b").map(|x| x.nick);
        assert_eq!(b.as_deref(), Some("B"));
        assert!(m.remove(&i, "b").is_none());
        if let Some(x) = m.get_mut(&i, "A") {
            x.modes = vec!['o'].into_boxed_slice();
        }
        assert_eq!(m.get(&i, "a").map(|x| x.modes.to_vec()), Some(vec!['o']));
        let mut names: Vec<&str> = m.iter().map(|x| &*x.nick).collect();
        names.sort();
        assert_eq!(names, ["a", "c"]);
        m.clear();
        assert_eq!(m.len(), 0);
    }
}
