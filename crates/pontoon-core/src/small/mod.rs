//! Small collections for what every session keeps for as long as it lives, where the
//! standard ones cost more than what they hold (performance pass 4): a set and a map that
//! keep a few entries in a vector and more in a hash table ([`Table`], [`Map`]), and one
//! set of hash keys per process for hash tables keyed by what the network sends
//! ([`ProcessKeys`]).

mod keys;
mod map;
mod table;

pub use keys::ProcessKeys;
pub use map::Map;
pub use table::{FEW, Table};
