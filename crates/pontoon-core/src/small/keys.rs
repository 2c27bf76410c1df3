//! One set of random hash keys for the whole process.
//!
//! A `HashMap`/`HashSet` keeps its own 16 bytes of `RandomState` keys, in every room of
//! every session. The keys need to be random (nicks come from the network: fixed keys would
//! let a server flood one bucket), not different per table.

use std::hash::{BuildHasher, DefaultHasher, RandomState};
use std::sync::LazyLock;

/// The process's keys.
static KEYS: LazyLock<RandomState> = LazyLock::new(RandomState::new);

/// A `BuildHasher` of no size: SipHash with the process's random keys.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessKeys;

impl BuildHasher for ProcessKeys {
    type Hasher = DefaultHasher;

    fn build_hasher(&self) -> DefaultHasher {
        KEYS.build_hasher()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_keys_for_every_table() {
        assert_eq!(ProcessKeys.hash_one("nick"), ProcessKeys.hash_one("nick"));
        assert_ne!(ProcessKeys.hash_one("nick"), ProcessKeys.hash_one("kcin"));
        assert_eq!(std::mem::size_of::<ProcessKeys>(), 0);
    }
}
