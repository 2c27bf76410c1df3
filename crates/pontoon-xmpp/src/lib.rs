//! The XMPP wire for Pontoon: bytes in and out of XML streams.
//!
//! Everything that arrives from the network is treated as hostile, so this
//! crate is the single place where untrusted bytes become XML elements. It
//! enforces size and depth limits while the bytes are being parsed (never
//! after buffering a whole element), reports typed errors that map onto RFC
//! 6120 stream error conditions, and never panics on network input.
//!
//! Modules:
//! - [`limits`]: the bounds applied to every incoming stream.
//! - [`reader`]: the incremental, bounded XML stream reader.
//! - [`writer`]: a panic-free serializer for elements and stream framing.
//! - [`outgoing`]: what services hand a link to write: elements, or a message rendered
//!   once for its recipients and written straight to bytes.
//! - [`ns`]: namespace constants and the `jabber:component:accept` <->
//!   `jabber:client` rewriting done at the component boundary.
//! - [`stanza`]: helpers on stanzas (error replies).
//! - [`rate`]: the token bucket behind every rate limit and pacing.
//! - [`component`]: the XEP-0114 component link with reconnection.
//! - [`c2s`]: the client-to-server listener of server mode (STARTTLS,
//!   SASL PLAIN, resource binding, XEP-0198).
//! - [`handled`]: what XEP-0198's `h` counts: stanzas the application has handled.
//! - [`tls`]: the server TLS configuration (PEM, PKCS#12, generated CA).

pub mod c2s;
pub mod component;
pub mod handled;
pub mod limits;
pub mod ns;
pub mod outgoing;
pub mod rate;
pub mod reader;
pub mod stanza;
pub mod tls;
pub mod writer;

pub use component::{ComponentConfig, LinkError, LinkEvent, spawn_link};
pub use limits::Limits;
pub use outgoing::OutStanza;
pub use reader::{Frame, ReadError, SkipReason, StreamHeader, StreamReader};
