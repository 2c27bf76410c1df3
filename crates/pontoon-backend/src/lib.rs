//! The host of out-of-process transports (issue 15, docs/backends.md): a backend is a
//! process that speaks Pontoon's vocabulary as JSON lines over its stdin and stdout.
//!
//! Built so far: [`framing`], the JSON lines both ways, with every byte from the backend
//! treated as hostile. The handshake, the `Transport` that spawns and multiplexes backends,
//! and their supervision come next.

pub mod framing;
