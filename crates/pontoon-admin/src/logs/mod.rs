//! The console's view of the log and the run-time debug switch per transport.
//!
//! [`LogBuffer`] is a `tracing_subscriber` layer keeping the last events in memory for the
//! Logs page and `GET /api/v1/logs`. [`LogFilter`] is the process's log filter: a base
//! `EnvFilter` (the configured level) plus "debug for everything inside a span of these
//! transports". [`Repeats`] holds back a warning or an error that keeps repeating. The
//! binary installs all three:
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//! let filter = pontoon_admin::logs::LogFilter::new("info").expect("valid directive");
//! let buffer = pontoon_admin::logs::LogBuffer::default();
//! tracing_subscriber::registry()
//!     .with(filter.clone())
//!     .with(tracing_subscriber::fmt::layer())
//!     .with(buffer.clone())
//!     .with(pontoon_admin::logs::Repeats::default())
//!     .init();
//! filter.apply(&["irc".to_owned()]); // irc's debug events now appear
//! ```
//!
//! Why not `EnvFilter` span directives (`[{transport=irc}]=debug`) swapped in through a
//! `reload` handle: an `EnvFilter` learns which spans match when they are created, so a
//! reloaded filter never matches spans that already exist, and a service's span lives as
//! long as the process (tested: events inside a span created before the reload stay
//! hidden). [`LogFilter`] instead remembers each `service`/`session` span's `transport`
//! field in the span's extensions and checks the current scope when asked about a debug
//! event, so switching applies to old and new spans alike. While no transport has debug
//! on, nothing changes for the hot path: the callsite cache answers as the base filter does.

mod buffer;
mod filter;
mod repeats;
mod spans;
#[cfg(test)]
mod tests;

pub use buffer::{DEFAULT_CAPACITY, LogBuffer, LogEntry, LogPage, LogQuery};
pub(crate) use filter::debug_transports;
pub use filter::{LogFilter, spawn_debug_watch};
pub use repeats::{AUDIT_TARGET, Repeats};
