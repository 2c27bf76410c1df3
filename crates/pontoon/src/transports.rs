//! The transports built into this binary, by name.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use pontoon_core::Transport;

/// Host names of Pontoon's own listeners (the file listener's public host), which
/// transports may fetch from even when they resolve to internal addresses: the operator
/// named them. Set once at start, before any transport is built.
static OWN_HOSTS: OnceLock<Vec<String>> = OnceLock::new();

/// Records Pontoon's own host names (see [`OWN_HOSTS`]); later calls change nothing.
pub fn trust_hosts(hosts: Vec<String>) {
    let _ = OWN_HOSTS.set(hosts);
}

/// Names of the transports this build offers.
pub fn available() -> Vec<&'static str> {
    [
        "irc",
        #[cfg(feature = "matrix")]
        "matrix",
        #[cfg(feature = "test-transport")]
        "test",
    ]
    .into_iter()
    .collect()
}

/// The options the transport named `name` accepts, for the console's forms (none for a
/// name this build does not know).
pub fn option_specs(name: &str) -> &'static [pontoon_core::transport::OptionSpec] {
    match name {
        "irc" => pontoon_irc::OPTION_SPECS,
        #[cfg(feature = "matrix")]
        "matrix" => pontoon_matrix::OPTION_SPECS,
        #[cfg(feature = "test-transport")]
        "test" => pontoon_testkit::OPTION_SPECS,
        _ => &[],
    }
}

/// Builds the transport named `name` with its options, or says what is wrong.
pub fn build(name: &str, options: &BTreeMap<String, String>) -> Result<Arc<dyn Transport>, String> {
    match name {
        "irc" => {
            let cfg = pontoon_irc::IrcConfig::from_options(options)?;
            Ok(Arc::new(pontoon_irc::IrcTransport::new(cfg)))
        }
        #[cfg(feature = "matrix")]
        "matrix" => {
            let mut cfg = pontoon_matrix::MatrixConfig::from_options(options)?;
            cfg.own_hosts = OWN_HOSTS.get().cloned().unwrap_or_default();
            Ok(Arc::new(pontoon_matrix::MatrixTransport::new(cfg)?))
        }
        #[cfg(feature = "test-transport")]
        "test" => Ok(Arc::new(pontoon_testkit::TestTransport::from_options(
            options,
        )?)),
        _ => {
            let _ = options;
            Err(format!(
                "no transport named {name:?} in this build (available: {})",
                available().join(", ")
            ))
        }
    }
}
