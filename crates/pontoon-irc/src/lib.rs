//! The IRC transport for Pontoon.
//!
//! It bridges XMPP users to IRC networks: one session actor per user multiplexes one
//! connection actor per IRC server (a user in channels on two networks holds two
//! connections). Everything read from an IRC server is treated as hostile: lines are
//! bounded, decoded leniently and parsed without panics; everything written is built from
//! sanitised parts so no user text can inject a command.
//!
//! The pure parts (addresses, line codec, splitting, formatting, CTCP, capability
//! negotiation, ISUPPORT, presence watching, the channel directory) are
//! separate modules so they can be tested without a network; [`connection`] and
//! [`session`] hold the actors and [`transport`] the [`pontoon_core::Transport`]
//! implementation.

pub mod address;
pub mod away;
pub mod caps;
pub mod certfp;
pub mod client_tags;
pub mod config;
pub mod connection;
pub mod ctcp;
pub mod directory;
pub mod encoding;
pub mod files;
pub mod format;
pub mod gate;
pub mod isupport;
pub mod line;
pub mod presence;
pub mod probe;
pub mod raw;
pub mod sasl;
pub mod session;
pub mod settings;
pub mod slash;
pub mod split;
pub mod tls;
pub mod transport;

pub use config::{IrcConfig, OPTION_SPECS, ServerAddr};
pub use transport::IrcTransport;
