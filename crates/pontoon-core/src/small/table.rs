//! A set that keeps a few entries in a vector and more in a hash table: a room's
//! occupants, a channel's members.
//!
//! A hash table keeps about 1.6 slots and a control byte per entry (a room of ten took a
//! 16-slot table, 544 bytes, where the ten entries are 320), and every session keeps every
//! room's list, in the core and again in the IRC connection. Most rooms a gateway user is
//! in are small: up to [`FEW`] entries live in a vector sized to them and a look-up
//! compares them in turn; past that the entries move to a hash table, and look-ups stay
//! constant-time for the big rooms. Hashing and equality are the caller's (closures, as
//! hashbrown's `HashTable`): the IRC side compares nicks folded under the server's case
//! mapping without allocating. The hash table is boxed: most tables never have one, and
//! inline it made every table 32 bytes instead of 24. Performance pass 4.
//!
//! How a vector grows is the table's `STEP`: by four by default (rooms fill up as their
//! members arrive, and exact growth left a freed block at every arrival), by one for what
//! rarely changes and is usually one or two (a user's clients).

use hashbrown::HashTable;

/// Up to this many entries are kept in a vector.
pub const FEW: usize = 16;

/// Entries at most one per key, where the caller says what the key is (`eq`, `hash`); a
/// vector grows `STEP` entries at a time.
#[derive(Clone, Debug)]
pub struct Table<T, const STEP: usize = 4>(Repr<T>);

#[derive(Clone, Debug)]
enum Repr<T> {
    /// In the order they came.
    Few(Vec<T>),
    Many(Box<HashTable<T>>),
}

impl<T, const STEP: usize> Default for Table<T, STEP> {
    fn default() -> Self {
        Table(Repr::Few(Vec::new()))
    }
}

impl<T, const STEP: usize> Table<T, STEP> {
    /// The entry `eq` picks out; `hash` is its key's hash (not computed while few).
    pub fn find(&self, hash: impl FnOnce() -> u64, mut eq: impl FnMut(&T) -> bool) -> Option<&T> {
        match &self.0 {
            Repr::Few(v) => v.iter().find(|x| eq(x)),
            Repr::Many(t) => t.find(hash(), eq),
        }
    }

    /// The entry `eq` picks out, to change (not its key).
    pub fn find_mut(
        &mut self,
        hash: impl FnOnce() -> u64,
        mut eq: impl FnMut(&T) -> bool,
    ) -> Option<&mut T> {
        match &mut self.0 {
            Repr::Few(v) => v.iter_mut().find(|x| eq(x)),
            Repr::Many(t) => t.find_mut(hash(), eq),
        }
    }

    /// Adds `value`, in place of the entry with the same key (`same`), which is returned;
    /// `hash` hashes any entry's key.
    pub fn insert(
        &mut self,
        value: T,
        hash: impl Fn(&T) -> u64,
        mut same: impl FnMut(&T, &T) -> bool,
    ) -> Option<T> {
        match &mut self.0 {
            Repr::Few(v) => {
                if let Some(old) = v.iter_mut().find(|x| same(x, &value)) {
                    return Some(std::mem::replace(old, value));
                }
                if v.len() < FEW {
                    if v.len() == v.capacity() {
                        v.reserve_exact(grown::<STEP>(v.len()) - v.len());
                    }
                    v.push(value);
                    return None;
                }
                let mut t = HashTable::with_capacity(FEW * 2);
                for x in std::mem::take(v) {
                    t.insert_unique(hash(&x), x, &hash);
                }
                t.insert_unique(hash(&value), value, &hash);
                self.0 = Repr::Many(Box::new(t));
                None
            }
            Repr::Many(t) => {
                let h = hash(&value);
                match t.find_mut(h, |x| same(x, &value)) {
                    Some(old) => Some(std::mem::replace(old, value)),
                    None => {
                        t.insert_unique(h, value, hash);
                        None
                    }
                }
            }
        }
    }

    /// Takes out the entry `eq` picks out. An emptied table keeps no memory.
    pub fn remove(
        &mut self,
        hash: impl FnOnce() -> u64,
        mut eq: impl FnMut(&T) -> bool,
    ) -> Option<T> {
        let out = match &mut self.0 {
            Repr::Few(v) => {
                let i = v.iter().position(&mut eq)?;
                // In order: a user's first client stays first.
                let x = v.remove(i);
                give_back::<T, STEP>(v);
                x
            }
            Repr::Many(t) => t.find_entry(hash(), eq).ok()?.remove().0,
        };
        if self.is_empty() {
            self.clear();
        }
        Some(out)
    }

    /// Keeps only the entries `keep` says yes to.
    pub fn retain(&mut self, keep: impl FnMut(&mut T) -> bool) {
        match &mut self.0 {
            Repr::Few(v) => {
                v.retain_mut(keep);
                give_back::<T, STEP>(v);
            }
            Repr::Many(t) => t.retain(keep),
        }
        if self.is_empty() {
            self.clear();
        }
    }

    /// Takes every entry out, in no order.
    pub fn drain(&mut self) -> impl Iterator<Item = T> + use<T, STEP> {
        match std::mem::take(&mut self.0) {
            Repr::Few(v) => Either::Few(v.into_iter()),
            Repr::Many(t) => Either::Many((*t).into_iter()),
        }
    }

    /// Forgets every entry, and the memory they took.
    pub fn clear(&mut self) {
        self.0 = Repr::Few(Vec::new());
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Few(v) => v.len(),
            Repr::Many(t) => t.len(),
        }
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry: in the order they came while few, in no order after.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        match &self.0 {
            Repr::Few(v) => Either::Few(v.iter()),
            Repr::Many(t) => Either::Many(t.iter()),
        }
    }

    /// Every entry, to change (not their keys).
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        match &mut self.0 {
            Repr::Few(v) => Either::Few(v.iter_mut()),
            Repr::Many(t) => Either::Many(t.iter_mut()),
        }
    }
}

/// The capacity a full vector of `len` grows to: one for the first entry (a user's one
/// room), then in steps of `STEP`. Growing a room's members by one at a time kept the
/// vector exact but left a freed block behind at every step (ten for a room of ten, in
/// every session): the process's resident memory grew although its heap shrank. Doubling
/// would keep a room of ten in sixteen slots, as big as the hash table.
fn grown<const STEP: usize>(len: usize) -> usize {
    if len == 0 { 1 } else { (len / STEP + 1) * STEP }
}

/// Gives back what a vector no longer needs, once it is a step or more.
fn give_back<T, const STEP: usize>(v: &mut Vec<T>) {
    if v.is_empty() {
        *v = Vec::new();
    } else if v.capacity() >= v.len() + 2 * STEP {
        v.shrink_to(grown::<STEP>(v.len() - 1));
    }
}

impl<T> Default for Repr<T> {
    fn default() -> Self {
        Repr::Few(Vec::new())
    }
}

/// One iterator of two kinds, as the table is kept.
enum Either<A, B> {
    Few(A),
    Many(B),
}

impl<T, A: Iterator<Item = T>, B: Iterator<Item = T>> Iterator for Either<A, B> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match self {
            Either::Few(a) => a.next(),
            Either::Many(b) => b.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Either::Few(a) => a.size_hint(),
            Either::Many(b) => b.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    use crate::small::ProcessKeys;

    fn h(s: &str) -> u64 {
        ProcessKeys.hash_one(s)
    }

    const STEP: usize = 4;

    fn add<const S: usize>(
        t: &mut Table<(String, u32), S>,
        k: &str,
        v: u32,
    ) -> Option<(String, u32)> {
        t.insert((k.to_owned(), v), |x| h(&x.0), |a, b| a.0 == b.0)
    }

    fn get<const S: usize>(t: &Table<(String, u32), S>, k: &str) -> Option<u32> {
        t.find(|| h(k), |x| x.0 == k).map(|x| x.1)
    }

    #[test]
    fn few_in_a_vector_sized_to_them() {
        let mut t: Table<_> = Table::default();
        assert_eq!(add(&mut t, "a", 1), None);
        assert_eq!(add(&mut t, "b", 2), None);
        assert_eq!(
            add(&mut t, "a", 3).map(|x| x.1),
            Some(1),
            "the same key replaces"
        );
        assert_eq!(t.len(), 2);
        assert!(matches!(&t.0, Repr::Few(v) if v.capacity() == STEP));
        assert_eq!(get(&t, "a"), Some(3));
        let order: Vec<&str> = t.iter().map(|x| &*x.0).collect();
        assert_eq!(order, ["a", "b"]);
        if let Some(x) = t.find_mut(|| h("b"), |x| x.0 == "b") {
            x.1 = 5;
        }
        assert_eq!(get(&t, "b"), Some(5));
        assert_eq!(t.remove(|| h("a"), |x| x.0 == "a").map(|x| x.1), Some(3));
        assert!(t.remove(|| h("a"), |x| x.0 == "a").is_none());
        t.retain(|x| x.0 != "b");
        assert!(t.is_empty());
        assert!(matches!(&t.0, Repr::Few(v) if v.capacity() == 0));
    }

    #[test]
    fn grown_in_steps_and_given_back() {
        assert_eq!(
            (0..10).map(grown::<4>).collect::<Vec<_>>(),
            [1, 4, 4, 4, 8, 8, 8, 8, 12, 12]
        );
        assert_eq!((0..4).map(grown::<1>).collect::<Vec<_>>(), [1, 2, 3, 4]);
        let mut exact: Table<_, 1> = Table::default();
        for i in 0..3u32 {
            add(&mut exact, &format!("k{i}"), i);
            assert!(matches!(&exact.0, Repr::Few(v) if v.capacity() == v.len()));
        }
        let mut t: Table<_> = Table::default();
        for i in 0..12u32 {
            add(&mut t, &format!("k{i}"), i);
        }
        assert!(matches!(&t.0, Repr::Few(v) if v.capacity() == 12));
        for i in 0..9u32 {
            let k = format!("k{i}");
            t.remove(|| h(&k), |x| x.0 == k);
        }
        assert!(matches!(&t.0, Repr::Few(v) if v.len() == 3 && v.capacity() <= 8));
    }

    #[test]
    fn many_move_to_a_hash_table_and_stay_found() {
        let mut t: Table<_> = Table::default();
        for i in 0..100u32 {
            add(&mut t, &format!("k{i}"), i);
            assert_eq!(t.len(), i as usize + 1);
        }
        assert!(matches!(&t.0, Repr::Many(_)));
        for i in 0..100u32 {
            assert_eq!(get(&t, &format!("k{i}")), Some(i));
        }
        assert_eq!(add(&mut t, "k7", 71).map(|x| x.1), Some(7));
        assert_eq!(t.len(), 100);
        t.retain(|x| x.1 % 2 == 0);
        assert_eq!(t.len(), 50);
        assert_eq!(t.iter_mut().count(), 50);
        let mut all: Vec<u32> = t.drain().map(|x| x.1).collect();
        all.sort_unstable();
        assert_eq!(all.len(), 50);
        assert_eq!(all[3], 6);
        assert!(t.is_empty() && matches!(&t.0, Repr::Few(_)));
    }

    #[test]
    fn no_bigger_than_a_vector() {
        assert_eq!(std::mem::size_of::<Table<(String, u32)>>(), 24);
    }
}
