//! The gateway core: transports, sessions, and one module per XMPP feature.
//!
//! The core sees typed stanzas in `jabber:client` whatever the link (the component link,
//! or server mode's client router in [`server`]) and speaks to legacy networks only
//! through the vocabulary in [`legacy`]. It depends on no transport and no web framework.

mod address;
pub mod adhoc;
pub mod archive;
pub mod avatar;
pub mod batch;
pub mod channel;
pub mod cluster;
pub mod control;
pub mod directory;
pub mod disco;
pub mod escape;
pub mod explicit;
pub mod id_map;
pub mod ids;
pub mod inbound;
mod iq;
pub mod latency;
pub mod legacy;
mod lookup;
pub mod media;
mod message;
pub mod muc;
pub mod net;
pub mod ops;
pub mod outbox;
pub mod policy;
pub mod rate_limit;
pub use pontoon_xmpp::rate;
mod presence;
pub mod privilege;
mod prompt;
mod raw;
pub mod register;
pub(crate) mod render;
pub mod retention;
pub mod server;
pub mod service;
pub mod session;
pub mod settings;
pub mod small;
pub mod stanza;
pub mod state;
pub mod time;
pub mod transport;
pub mod upload;
pub(crate) mod verbs;
pub mod version;
pub mod watchdog;

pub use control::{
    ControlError, ServiceControl, ServiceStats, SessionInfo, SessionState, SessionStatus, Shown,
    UserPresence,
};
pub use service::{RebuildTransport, Service, ServiceConfig, ServiceError};
pub use transport::Transport;
