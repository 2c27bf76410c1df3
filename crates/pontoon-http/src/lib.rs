//! Pontoon's HTTP side.
//!
//! - [`server`]: the hardened HTTP/1.1 server every listener of Pontoon runs on (a cap on
//!   open connections, time limits on headers and requests, unambiguous framing). The
//!   console (`pontoon-admin`) serves through it too.
//! - [`files`]: the public file listener: the HTTP half of XEP-0363 uploads (the PUT of a
//!   slot the XMPP side handed out, `pontoon_core::upload`, and the GET of the stored
//!   file) and the network files behind media links (`pontoon_core::media`), each served
//!   so that a browser never runs what it fetched.
//! - [`presence`]: presence badges on the same listener, for status pages: a user's
//!   presence on a transport (for users who turned theirs on) and the transport's status.
//!
//! The listener is its own, apart from the console's: operators expose it publicly (it is
//! what clients and legacy users fetch from) while the console stays on loopback.

pub mod files;
pub mod presence;
pub mod server;

pub use files::{FileConfig, FileService, Network, Scanner};
pub use presence::PresenceService;
