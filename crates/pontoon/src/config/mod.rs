//! The TOML configuration: static wiring (mode, domains, secrets, ports, storage, limits).
//!
//! Every key has a default, so Pontoon runs without a file. Errors name the key and the
//! line at fault, because an operator reads them in a terminal, not in a debugger.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

mod error;
mod http;
mod load;
mod sections;
#[cfg(test)]
mod tests;

pub use error::*;
pub use http::*;
pub use sections::*;

/// The commented example written by `pontoon init`.
pub const EXAMPLE: &str = include_str!("../../../../pontoon.example.toml");

/// The whole configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[general]`.
    pub general: General,
    /// `[store]`.
    pub store: StoreConfig,
    /// `[limits]`.
    pub limits: Limits,
    /// `[component]`.
    pub component: Component,
    /// `[admin]`.
    pub admin: AdminSection,
    /// `[server]`: the client listener of server mode.
    pub server: ServerSection,
    /// `[http]`: the public file listener.
    pub http: HttpSection,
    /// `[transports.NAME]`.
    pub transports: BTreeMap<String, TransportConfig>,
    /// Directory of the config file; relative paths are resolved against it.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The file this was read from; `None` for the embedded defaults. SIGHUP reads it again.
    #[serde(skip)]
    pub file: Option<PathBuf>,
    /// These are the embedded defaults, not a file: commands the log suggests need
    /// `--embedded-defaults` to act on the same store.
    #[serde(skip)]
    pub embedded: bool,
}
