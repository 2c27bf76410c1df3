//! Pontoon's configuration and the transports built in, as a library: the binary
//! (`src/main.rs`) uses them from here, and so does the fuzz target `config_load`
//! (`fuzz/fuzz_targets/config_load.rs`), which feeds [`config::Config::from_toml`] any text.

pub mod config;
pub mod transports;
