//! A channel's members, found by nick under the server's case mapping.
//!
//! Written here, over [`pontoon_core::small::Table`], rather than a `HashMap` keyed by the
//! folded nick: that map kept each nick twice (as written and folded, one more allocation
//! per member) in 48-byte slots, in every channel of every connection. Here a member is kept
//! once, in 32 bytes with its nick inline, and hashed and compared folded on the fly (IRC
//! case mappings fold one character to one character, so nothing is allocated to look one
//! up); a small channel's members are in a vector sized to them. A member's prefix modes
//! are inline too ([`PrefixModes`]). Performance pass 4.

use std::hash::{BuildHasher, Hasher};

use pontoon_core::small::{ProcessKeys, Table};

use crate::isupport::ISupport;

/// One member of a channel.
#[derive(Clone, Debug)]
pub(super) struct Member {
    // Inline up to 24 bytes, and a boxed slice, not `String`/`Vec`: every connection keeps
    // every member of its channels.
    pub(super) nick: compact_str::CompactString,
    /// Prefix modes (`o`, `v`...), rarely more than one.
    pub(super) modes: PrefixModes,
}

/// A member's prefix modes (`o`, `v`...), inline: a boxed slice took 16 bytes of the slot
/// and a heap block for every member with one. Up to eight, in ASCII (PREFIX modes are
/// letters; a server that announces more, or others, has those not kept), sorted, so equal
/// sets compare equal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct PrefixModes([u8; 8]);

impl PrefixModes {
    /// Whether `mode` is set.
    pub(super) fn contains(&self, mode: char) -> bool {
        u8::try_from(mode).is_ok_and(|m| m != 0 && self.0.contains(&m))
    }

    /// Sets `mode` (kept if there is room and it is ASCII).
    pub(super) fn set(&mut self, mode: char) {
        let Ok(m) = u8::try_from(mode) else { return };
        if m == 0 || !m.is_ascii() || self.0.contains(&m) {
            return;
        }
        if let Some(free) = self.0.iter_mut().find(|x| **x == 0) {
            *free = m;
            // Zeros (free slots) last, the modes in order before them.
            self.0.sort_unstable_by_key(|x| (*x == 0, *x));
        }
    }

    /// Unsets `mode`.
    pub(super) fn unset(&mut self, mode: char) {
        let Ok(m) = u8::try_from(mode) else { return };
        if let Some(slot) = self.0.iter_mut().find(|x| **x == m && m != 0) {
            *slot = 0;
            self.0.sort_unstable_by_key(|x| (*x == 0, *x));
        }
    }

    /// The modes, for [`ISupport::role_of`]: on the stack, nothing allocated.
    pub(super) fn chars(&self) -> ([char; 8], usize) {
        let mut out = ['\0'; 8];
        let mut n = 0;
        for m in self.0.iter().take_while(|m| **m != 0) {
            out[n] = char::from(*m);
            n += 1;
        }
        (out, n)
    }
}

impl FromIterator<char> for PrefixModes {
    fn from_iter<I: IntoIterator<Item = char>>(iter: I) -> Self {
        let mut modes = PrefixModes::default();
        for m in iter {
            modes.set(m);
        }
        modes
    }
}

/// A channel's members (at most `MAX_MEMBERS`, which the callers check).
#[derive(Clone, Debug, Default)]
pub(super) struct Members(Table<Member>);

/// The process's keys for every table ([`ProcessKeys`]): the nicks come from the network,
/// so the keys are random, but a table need not keep its own 16 bytes of them.
fn hash(isupport: &ISupport, nick: &str) -> u64 {
    let mut h = ProcessKeys.build_hasher();
    for c in nick.chars() {
        h.write_u32(isupport.fold_char(c) as u32);
    }
    h.finish()
}

impl Members {
    /// The member named `nick`, in any case.
    pub(super) fn get(&self, isupport: &ISupport, nick: &str) -> Option<&Member> {
        self.0
            .find(|| hash(isupport, nick), |m| isupport.same(&m.nick, nick))
    }

    /// The member named `nick`, to change.
    pub(super) fn get_mut(&mut self, isupport: &ISupport, nick: &str) -> Option<&mut Member> {
        self.0
            .find_mut(|| hash(isupport, nick), |m| isupport.same(&m.nick, nick))
    }

    /// Whether `nick` is a member.
    pub(super) fn contains(&self, isupport: &ISupport, nick: &str) -> bool {
        self.get(isupport, nick).is_some()
    }

    /// Adds `member`, in place of one with the same nick.
    pub(super) fn insert(&mut self, isupport: &ISupport, member: Member) {
        self.0.insert(
            member,
            |m| hash(isupport, &m.nick),
            |a, b| isupport.same(&a.nick, &b.nick),
        );
    }

    /// Adds `nick` without modes unless they are a member already.
    pub(super) fn add_if_absent(&mut self, isupport: &ISupport, nick: &str) {
        if !self.contains(isupport, nick) {
            self.insert(
                isupport,
                Member {
                    nick: nick.into(),
                    modes: PrefixModes::default(),
                },
            );
        }
    }

    /// Takes the member named `nick` out.
    pub(super) fn remove(&mut self, isupport: &ISupport, nick: &str) -> Option<Member> {
        self.0
            .remove(|| hash(isupport, nick), |m| isupport.same(&m.nick, nick))
    }

    /// How many there are.
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// Forgets them all, and the memory they took.
    pub(super) fn clear(&mut self) {
        self.0.clear();
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
            modes: PrefixModes::default(),
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
            x.modes.set('o');
        }
        assert_eq!(m.get(&i, "a").map(|x| x.modes.contains('o')), Some(true));
        let mut names: Vec<&str> = m.iter().map(|x| &*x.nick).collect();
        names.sort();
        assert_eq!(names, ["a", "c"]);
        m.clear();
        assert_eq!(m.len(), 0);
    }

    #[test]
    fn prefix_modes_are_a_small_sorted_set() {
        let mut m: PrefixModes = ['v', 'o', 'v'].into_iter().collect();
        assert!(m.contains('o') && m.contains('v') && !m.contains('h'));
        assert_eq!(
            m,
            ['o', 'v'].into_iter().collect(),
            "the order does not matter"
        );
        let (chars, n) = m.chars();
        assert_eq!(&chars[..n], ['o', 'v']);
        m.unset('o');
        assert!(!m.contains('o'));
        let (chars, n) = m.chars();
        assert_eq!(&chars[..n], ['v']);
        m.set('é');
        m.set('\0');
        assert!(!m.contains('é') && !m.contains('\0'));
        for c in "abcdefghij".chars() {
            m.set(c);
        }
        assert_eq!(m.chars().1, 8, "eight kept at most");
        assert_eq!(std::mem::size_of::<Member>(), 32);
    }
}
