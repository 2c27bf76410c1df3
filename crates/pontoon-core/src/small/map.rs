//! A map over [`Table`]: a session's rooms, a connection's channels, a user's clients (and
//! their clients in each room).
//!
//! A user is in one room or a few, with one client or two, and a `HashMap` took a
//! four-slot table (150 to 270 bytes) for the usual single entry in every session and
//! every room; this keeps a few entries in a vector sized to them and moves to a hash
//! table (the process's keys) past [`super::table::FEW`], so a user in a hundred channels
//! still finds each in constant time. `STEP` as the table's (`Map<K, V, 1>`: exact
//! growth, for a user's clients).

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};

use super::{ProcessKeys, Table};

/// At most one value per key; the keys hash with [`ProcessKeys`].
#[derive(Clone, Debug)]
pub struct Map<K, V, const STEP: usize = 4>(Table<(K, V), STEP>);

impl<K, V, const STEP: usize> Default for Map<K, V, STEP> {
    fn default() -> Self {
        Map(Table::default())
    }
}

fn hash<Q: Hash + ?Sized>(key: &Q) -> u64 {
    ProcessKeys.hash_one(key)
}

impl<K: Hash + Eq, V, const STEP: usize> Map<K, V, STEP> {
    /// The value of `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0
            .find(|| hash(key), |(k, _)| k.borrow() == key)
            .map(|(_, v)| v)
    }

    /// The value of `key`, to change.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0
            .find_mut(|| hash(key), |(k, _)| k.borrow() == key)
            .map(|(_, v)| v)
    }

    /// Whether `key` is in.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key).is_some()
    }

    /// Sets `key` to `value`; the value it had, if it was in.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.0
            .insert((key, value), |(k, _)| hash(k), |(a, _), (b, _)| a == b)
            .map(|(_, v)| v)
    }

    /// Takes `key` out; its value, if it was in.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.0
            .remove(|| hash(key), |(k, _)| k.borrow() == key)
            .map(|(_, v)| v)
    }
}

impl<K, V, const STEP: usize> Map<K, V, STEP> {
    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every key and value, in the order they came while few, in no order after.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// Every key and value, the values to change.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut V)> {
        self.0.iter_mut().map(|(k, v)| (&*k, v))
    }

    /// The keys.
    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.0.iter().map(|(k, _)| k)
    }

    /// The values.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }

    /// The values, to change.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.0.iter_mut().map(|(_, v)| v)
    }

    /// Keeps only the entries `keep` says yes to.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.0.retain(|(k, v)| keep(k, v));
    }

    /// Takes every entry out.
    pub fn drain(&mut self) -> impl Iterator<Item = (K, V)> + use<K, V, STEP> {
        self.0.drain()
    }

    /// Forgets every entry, and the memory they took.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_by_borrowed_keys_few_or_many() {
        let mut m: Map<String, u32> = Map::default();
        assert_eq!(m.insert("a".into(), 1), None);
        assert_eq!(m.insert("a".into(), 2), Some(1));
        assert_eq!(m.get("a"), Some(&2));
        assert!(m.contains_key("a") && !m.contains_key("b"));
        for i in 0..40 {
            m.insert(format!("k{i}"), i);
        }
        assert_eq!(m.len(), 41);
        assert_eq!(m.get("k39"), Some(&39));
        if let Some(v) = m.get_mut("k39") {
            *v = 0;
        }
        assert_eq!(m.get("k39"), Some(&0));
        assert_eq!(m.insert("k3".into(), 30), Some(3));
        assert_eq!(m.remove("k3"), Some(30));
        assert_eq!(m.remove("k3"), None);
        m.retain(|k, _| k.starts_with('k'));
        assert_eq!(m.len(), 39);
        assert_eq!(m.keys().count(), 39);
        assert_eq!(m.drain().count(), 39);
        assert!(m.is_empty());
    }

    /// A user's clients: in the order they came, exactly as many slots as clients.
    #[test]
    fn exact_and_in_order() {
        let mut m: Map<&str, u32, 1> = Map::default();
        assert_eq!(m.insert("a", 1), None);
        assert_eq!(m.insert("b", 2), None);
        assert_eq!(m.insert("a", 3), Some(1), "the same key again replaces");
        assert_eq!(m.len(), 2);
        assert_eq!(std::mem::size_of_val(&m), 24);
        assert_eq!(m.keys().copied().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(m.values().copied().collect::<Vec<_>>(), [3, 2]);
        assert_eq!(m.remove("a"), Some(3));
        assert_eq!(m.keys().copied().collect::<Vec<_>>(), ["b"]);
        m.clear();
        assert!(m.is_empty());
    }
}
