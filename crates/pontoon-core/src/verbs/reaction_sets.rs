//! Reaction sets a session remembers, by key, newest last and the oldest forgotten beyond
//! `N`. XEP-0444 speaks in whole sets, networks in single reactions added or taken back:
//! the session keeps recent sets to turn one into the other, both for the sets it showed
//! the user (others' reactions) and for the user's own.

use std::collections::VecDeque;

/// At most `N` reaction sets by key `K`.
#[derive(Debug)]
pub(crate) struct ReactionSets<K, const N: usize> {
    sets: VecDeque<(K, Vec<String>)>,
}

impl<K, const N: usize> Default for ReactionSets<K, N> {
    fn default() -> Self {
        ReactionSets {
            sets: VecDeque::new(),
        }
    }
}

impl<K: PartialEq, const N: usize> ReactionSets<K, N> {
    /// Takes the set kept for `key` out (an empty one if none is kept).
    pub(crate) fn take(&mut self, key: &K) -> Vec<String> {
        self.sets
            .iter()
            .position(|(k, _)| k == key)
            .and_then(|i| self.sets.remove(i))
            .map(|(_, set)| set)
            .unwrap_or_default()
    }

    /// Keeps `set` for `key` as the newest, forgetting the oldest beyond `N`.
    pub(crate) fn put(&mut self, key: K, set: Vec<String>) {
        if self.sets.len() >= N {
            self.sets.pop_front();
        }
        self.sets.push_back((key, set));
    }

    /// The set for `key` with `emoji` added (or taken back when `removed`), kept and
    /// returned.
    pub(crate) fn toggle(&mut self, key: K, emoji: String, removed: bool) -> Vec<String> {
        let mut set = self.take(&key);
        set.retain(|e| *e != emoji);
        if !removed {
            set.push(emoji);
        }
        self.put(key, set.clone());
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_toggle_and_forget_the_oldest() {
        let mut sets: ReactionSets<&str, 2> = ReactionSets::default();
        assert_eq!(sets.toggle("a", "👍".into(), false), vec!["👍"]);
        assert_eq!(sets.toggle("a", "🎉".into(), false), vec!["👍", "🎉"]);
        assert_eq!(sets.toggle("a", "👍".into(), true), vec!["🎉"]);
        sets.put("b", vec!["x".into()]);
        sets.put("c", vec!["y".into()]);
        // Two kept: "a" was the oldest.
        assert!(sets.take(&"a").is_empty());
        assert_eq!(sets.take(&"b"), vec!["x"]);
    }
}
