//! A map in a vector, for a few entries: a user's resources, the user's clients in a room.
//!
//! A user has one or two clients online, rarely more, and the same few are in each of
//! their rooms. A `HashMap` or `HashSet` takes a four-slot table (about 150 to 270 bytes)
//! for the usual single entry, in every session and every room; this vector holds exactly
//! its entries, and a look-up compares a few keys. Not for what grows with the network
//! (a room's occupants): a look-up here is linear.

/// Entries in the order they came, at most one per key.
#[derive(Clone, Debug)]
pub struct VecMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap(Vec::new())
    }
}

impl<K: PartialEq, V> VecMap<K, V> {
    /// Whether `key` is in.
    pub fn contains_key(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key` to `value`; the value it had, if it was in.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => Some(std::mem::replace(v, value)),
            None => {
                // One slot more, not the four a first push takes.
                self.0.reserve_exact(1);
                self.0.push((key, value));
                None
            }
        }
    }

    /// Takes `key` out; its value, if it was in. An emptied map keeps no memory.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.0.iter().position(|(k, _)| k == key)?;
        let (_, value) = self.0.remove(i);
        if self.0.is_empty() {
            self.0 = Vec::new();
        }
        Some(value)
    }
}

impl<K, V> VecMap<K, V> {
    /// Forgets every entry, and the memory they took.
    pub fn clear(&mut self) {
        self.0 = Vec::new();
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The keys, in the order they came.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.0.iter().map(|(k, _)| k)
    }

    /// The values, in the order their keys came.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_once_each_in_order_and_given_back() {
        let mut m = VecMap::default();
        assert_eq!(m.insert("a", 1), None);
        assert_eq!(m.insert("b", 2), None);
        assert_eq!(m.insert("a", 3), Some(1), "the same key again replaces");
        assert_eq!(m.len(), 2);
        assert_eq!(m.0.capacity(), 2, "sized to what it holds");
        assert_eq!(m.get(&"a"), Some(&3));
        assert!(m.contains_key(&"b") && !m.contains_key(&"c"));
        assert_eq!(m.keys().copied().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(m.values().copied().collect::<Vec<_>>(), [3, 2]);
        assert_eq!(m.remove(&"b"), Some(2));
        assert_eq!(m.remove(&"b"), None);
        m.remove(&"a");
        assert!(m.is_empty());
        assert_eq!(m.0.capacity(), 0, "empty, it keeps nothing");
        m.insert("c", 4);
        m.clear();
        assert_eq!((m.len(), m.0.capacity()), (0, 0));
    }
}
