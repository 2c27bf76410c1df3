//! The user's available resources, each with what it last said (show and status).
//!
//! A user has one or two clients online, rarely more: a vector sized to them. A `HashMap`
//! took a four-slot table (about 270 bytes) for the usual single resource, in every
//! session (performance pass 4); a look-up here compares a few JIDs.

use jid::Jid;
use xmpp_parsers::presence::Show;

/// What a resource last said: its show and status.
pub(crate) type Said = (Option<Show>, Option<String>);

/// The available resources, in the order they came.
#[derive(Debug, Default)]
pub(crate) struct Resources(Vec<(Jid, Said)>);

impl Resources {
    /// Whether `jid` is available.
    pub(crate) fn contains_key(&self, jid: &Jid) -> bool {
        self.get(jid).is_some()
    }

    /// What `jid` last said.
    pub(crate) fn get(&self, jid: &Jid) -> Option<&Said> {
        self.0.iter().find(|(j, _)| j == jid).map(|(_, s)| s)
    }

    /// Records what `jid` says now.
    pub(crate) fn insert(&mut self, jid: Jid, said: Said) {
        match self.0.iter_mut().find(|(j, _)| *j == jid) {
            Some((_, s)) => *s = said,
            None => {
                // One slot more, not the four a first push takes.
                self.0.reserve_exact(1);
                self.0.push((jid, said));
            }
        }
    }

    /// Forgets `jid`; what it last said, if it was available.
    pub(crate) fn remove(&mut self, jid: &Jid) -> Option<Said> {
        let i = self.0.iter().position(|(j, _)| j == jid)?;
        let (_, said) = self.0.remove(i);
        if self.0.is_empty() {
            self.0 = Vec::new();
        }
        Some(said)
    }

    /// Forgets them all, and the memory they took.
    pub(crate) fn clear(&mut self) {
        self.0 = Vec::new();
    }

    /// Whether none is available.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The available resources, in the order they came.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &Jid> {
        self.0.iter().map(|(j, _)| j)
    }

    /// What each said.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Said> {
        self.0.iter().map(|(_, s)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(s: &str) -> Jid {
        Jid::new(s).unwrap()
    }

    #[test]
    fn kept_once_each_in_order_and_given_back() {
        let mut r = Resources::default();
        r.insert(jid("u@x/a"), (None, None));
        r.insert(jid("u@x/b"), (Some(Show::Away), Some("lunch".into())));
        r.insert(jid("u@x/a"), (Some(Show::Dnd), None));
        assert_eq!(r.keys().count(), 2, "the same resource again replaces");
        assert_eq!(r.0.capacity(), 2, "sized to what it holds");
        assert_eq!(r.get(&jid("u@x/a")), Some(&(Some(Show::Dnd), None)));
        assert!(r.contains_key(&jid("u@x/b")));
        assert_eq!(
            r.keys().map(ToString::to_string).collect::<Vec<_>>(),
            ["u@x/a", "u@x/b"]
        );
        assert_eq!(
            r.remove(&jid("u@x/b")),
            Some((Some(Show::Away), Some("lunch".into())))
        );
        assert_eq!(r.remove(&jid("u@x/b")), None);
        r.remove(&jid("u@x/a"));
        assert!(r.is_empty());
        assert_eq!(r.0.capacity(), 0, "empty, it keeps nothing");
    }
}
