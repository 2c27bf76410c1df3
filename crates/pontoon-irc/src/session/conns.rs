//! A user's open connections, by server key.
//!
//! A small vector rather than a map: a user holds one connection, rarely a few (at most
//! `max_networks_per_user`), and a `HashMap` kept room for four entries in every session
//! (about 200 bytes, performance pass 4); a scan of one or two keys is as quick as a hash.

use pontoon_core::channel;

use crate::connection::ConnCommand;

/// One open connection: its inbox, and which of the server's connections it is.
pub(super) struct ConnEntry {
    pub(super) tx: channel::Sender<ConnCommand>,
    pub(super) generation: u64,
}

/// The open connections, by server key.
#[derive(Default)]
pub(super) struct Conns(Vec<(Box<str>, ConnEntry)>);

impl Conns {
    /// The connection to `key`.
    pub(super) fn get(&self, key: &str) -> Option<&ConnEntry> {
        self.0.iter().find(|(k, _)| &**k == key).map(|(_, c)| c)
    }

    /// Whether there is a connection to `key`.
    pub(super) fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Adds (or replaces) the connection to `key`.
    pub(super) fn insert(&mut self, key: &str, entry: ConnEntry) {
        match self.0.iter_mut().find(|(k, _)| &**k == key) {
            Some(slot) => slot.1 = entry,
            None => {
                self.0.reserve_exact(1);
                self.0.push((key.into(), entry));
            }
        }
    }

    /// Forgets the connection to `key`.
    pub(super) fn remove(&mut self, key: &str) {
        if let Some(i) = self.0.iter().position(|(k, _)| &**k == key) {
            self.0.swap_remove(i);
        }
        if self.0.is_empty() {
            self.0 = Vec::new();
        }
    }

    /// How many there are.
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// Every connection.
    pub(super) fn values(&self) -> impl Iterator<Item = &ConnEntry> {
        self.0.iter().map(|(_, c)| c)
    }

    /// Forgets them all.
    pub(super) fn clear(&mut self) {
        self.0 = Vec::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(generation: u64) -> ConnEntry {
        ConnEntry {
            tx: channel::bounded(1).0,
            generation,
        }
    }

    #[test]
    fn by_key() {
        let mut c = Conns::default();
        c.insert("a.example", entry(1));
        c.insert("b.example", entry(2));
        c.insert("a.example", entry(3));
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("a.example").map(|e| e.generation), Some(3));
        c.remove("a.example");
        assert!(!c.contains_key("a.example"));
        assert_eq!(c.values().map(|e| e.generation).collect::<Vec<_>>(), [2]);
        c.remove("b.example");
        assert_eq!(c.len(), 0);
    }
}
