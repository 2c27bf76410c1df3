//! The Matrix transport of Pontoon: each XMPP user reaches Matrix with their own account.
//!
//! Per user, Pontoon logs in as a device of the user's account through the client-server
//! API ([`login`]) and long-polls `/sync` with a loop of its own ([`session`]): direct
//! chats are contacts, joined rooms are MUC rooms. Matrix ids become JID localparts as
//! [`ids`] says. Every request goes through [`http`], which bounds what is read and
//! checks where it connects. Encrypted rooms go through [`crypto`] (matrix-sdk-crypto's
//! Olm and Megolm, keys in the transport's encrypted state); files both ways through
//! `media`. The session's state is small and lives in its own task, so
//! thousands of idle sessions cost one parked long-poll each.
//!
//! Why not `matrix-sdk`: it keeps one SQLite store per client and a full room model in
//! memory, which does not fit thousands of sessions in one process; ruma's typed requests
//! and events with our own sync loop do (see docs/matrix.md for the figures).

pub mod config;
pub mod crypto;
pub mod format;
pub mod http;
pub mod ids;
pub mod login;
mod media;
pub mod session;
mod transport;

pub use config::{MatrixConfig, OPTION_SPECS};
pub use transport::MatrixTransport;
