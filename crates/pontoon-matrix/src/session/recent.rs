//! A map that keeps only its newest entries: what a session remembers about recent events
//! (its own reactions, who reacted with what, its own messages) without growing for ever.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// At most `capacity` entries; inserting beyond forgets the oldest.
#[derive(Debug)]
pub struct Recent<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
    capacity: usize,
}

/// How many entries each of a session's maps keeps.
pub const RECENT: usize = 256;

impl<K, V> Default for Recent<K, V> {
    fn default() -> Self {
        Recent {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity: RECENT,
        }
    }
}

impl<K: Hash + Eq + Clone, V> Recent<K, V> {
    /// Remembers `value` under `key`.
    pub fn insert(&mut self, key: K, value: V) {
        if self.map.insert(key.clone(), value).is_none() {
            self.order.push_back(key);
            while self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }

    /// The value under `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    /// Forgets and answers the value under `key`.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let v = self.map.remove(key)?;
        self.order.retain(|k| k != key);
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest() {
        let mut r: Recent<u32, u32> = Recent::default();
        for i in 0..(RECENT as u32 + 10) {
            r.insert(i, i * 2);
        }
        assert_eq!(r.get(&0), None);
        assert_eq!(r.get(&20), Some(&40));
        assert_eq!(r.remove(&20), Some(40));
        assert_eq!(r.remove(&20), None);
        assert!(r.map.len() <= RECENT && r.order.len() <= RECENT);
    }
}
