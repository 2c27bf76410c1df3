//! Small collections for what every session keeps for as long as it lives, where the
//! standard ones cost more than what they hold (performance pass 4): a map in a vector
//! sized to its entries ([`VecMap`]), and one set of hash keys per process for hash tables
//! keyed by what the network sends ([`ProcessKeys`]).

mod keys;
mod vec_map;

pub use keys::ProcessKeys;
pub use vec_map::VecMap;
