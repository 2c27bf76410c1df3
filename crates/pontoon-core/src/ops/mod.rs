//! The operations on a gateway's state, one implementation each, whatever interface asks:
//! in-band registration (XEP-0077), ad-hoc commands (XEP-0050), the console and REST API
//! (pontoon-admin) and the command line (pontoon). Each interface turns [`OpsError`] into its
//! own way of saying no: an XMPP error condition, an HTTP status, an exit message.
//!
//! Registrations and policy changes are here (issue 14); sessions and announcements
//! follow.

pub mod always_online;
pub mod audit;
pub mod badges;
pub mod policy;
pub mod registrations;
pub mod settings;

/// Why an operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The details do not pass the transport's checks (or are missing).
    #[error("{0}")]
    Invalid(String),
    /// It exists already, or the legacy id is someone else's.
    #[error("{0}")]
    Conflict(String),
    /// No such registration.
    #[error("{0}")]
    NotFound(String),
    /// The store failed.
    #[error("storage: {0}")]
    Store(#[from] pontoon_store::StoreError),
}
