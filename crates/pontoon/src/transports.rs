//! The transports of this process, by name: those built into this binary, and the
//! backends (`kind = "backend"`) started from the configuration.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use pontoon_backend::BackendTransport;
use pontoon_core::Transport;

use crate::config::TransportConfig;

/// The backends this process started, by transport name: building one of them again (the
/// console's checks, an options change) answers the running one, whose processes keep the
/// options they were started with.
static BACKENDS: Mutex<BTreeMap<String, Arc<BackendTransport>>> = Mutex::new(BTreeMap::new());

/// The transport `name` as configured by `table`: a backend is started (its first process
/// says hello within its timeout) and kept for [`build`]; a built-in one is built.
pub async fn open(
    name: &str,
    table: &TransportConfig,
    base_dir: &std::path::Path,
    options: &BTreeMap<String, String>,
) -> Result<Arc<dyn Transport>, String> {
    let Some(backend) = table.backend(name, base_dir) else {
        return build(name, options);
    };
    if let Some(running) = running(name) {
        return Ok(running);
    }
    let started = BackendTransport::start(backend, options.clone())
        .await
        .map_err(|e| format!("its backend did not start: {e}"))?;
    let started = Arc::new(started);
    if let Ok(mut backends) = BACKENDS.lock() {
        backends.insert(name.to_owned(), started.clone());
    }
    Ok(started)
}

/// Stops every backend this process started (after the services logged their users
/// out), each given its moment to exit.
pub async fn stop_backends() {
    let running: Vec<Arc<BackendTransport>> = BACKENDS
        .lock()
        .map(|b| b.values().cloned().collect())
        .unwrap_or_default();
    for backend in running {
        backend.stop().await;
    }
}

/// The running backend transport `name`, if this process started one.
pub fn running(name: &str) -> Option<Arc<BackendTransport>> {
    BACKENDS.lock().ok()?.get(name).cloned()
}

/// Checks `options` for the transport `table` configures: a backend's options are its own
/// to check (it gets them at its next start), a built-in transport's are checked by
/// building it.
pub fn check(
    name: &str,
    table: Option<&TransportConfig>,
    options: &BTreeMap<String, String>,
) -> Result<(), String> {
    if table.is_some_and(TransportConfig::is_backend) || running(name).is_some() {
        return Ok(());
    }
    build(name, options).map(|_| ())
}

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

/// Builds the transport named `name` with its options, or says what is wrong; a backend
/// this process started is answered as it runs.
pub fn build(name: &str, options: &BTreeMap<String, String>) -> Result<Arc<dyn Transport>, String> {
    if let Some(running) = running(name) {
        return Ok(running);
    }
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
