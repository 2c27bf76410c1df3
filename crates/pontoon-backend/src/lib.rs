//! The host of out-of-process transports (issue 15, docs/backends.md): a backend is a
//! process, in any language, that speaks Pontoon's vocabulary as JSON lines over its stdin
//! and stdout.
//!
//! - [`framing`]: the lines both ways, every byte from the backend treated as hostile;
//! - [`protocol`]: the handshake and the envelope around the vocabulary;
//! - [`addresses`]: the backend's address rules, compiled once, so no stanza waits on it;
//! - [`process`], [`stdin`]: one process, started with the operator's command line only,
//!   written to with flow control;
//! - [`session`], [`worker`], [`pool`]: sessions multiplexed onto supervised processes;
//! - [`transport`]: all of it as a [`pontoon_core::Transport`].

pub mod addresses;
pub mod config;
pub mod framing;
pub mod pool;
pub mod process;
pub mod protocol;
pub mod session;
pub mod stdin;
pub mod transport;
pub mod worker;

pub use config::{BackendConfig, Limits};
pub use transport::BackendTransport;
