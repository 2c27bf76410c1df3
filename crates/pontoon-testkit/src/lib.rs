//! Pontoon's test kit: what the test suites of every crate share.
//!
//! - [`TestTransport`]: the in-memory test network, in a plain flavour (every verb
//!   degraded by the core) and a rich one (every verb native).
//! - [`harness`]: a real service over a real SQLite store, driven with stanzas as the
//!   component link delivers them.
//! - [`xep_check`]: the XEP rules every stanza Pontoon sends must keep.
//! - [`conformance`]: the suite every transport runs against its real peer.

pub mod conformance;
pub mod harness;
mod transport;
pub mod xep_check;

pub use transport::{OPTION_SPECS, TestDevice, TestPeer, TestTransport, id};
