//! How the operator runs a backend: its command line and environment (from
//! `[transports.NAME]` in pontoon.toml, never from the store, so that the console cannot
//! change what Pontoon executes), and the host's limits.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// How to run one backend transport.
#[derive(Clone, Debug, PartialEq)]
pub struct BackendConfig {
    /// The transport's name, for logs.
    pub name: String,
    /// The program and its arguments.
    pub command: Vec<String>,
    /// The backend's whole environment: nothing of Pontoon's is passed on but `PATH`
    /// (unless set here), so no secret in Pontoon's environment reaches it.
    pub env: BTreeMap<String, String>,
    /// Its working directory; Pontoon's own when unset.
    pub working_dir: Option<PathBuf>,
    /// Users served by one process; 0 for all of them in one.
    pub users_per_process: usize,
    /// The transport's options, handed to each process in its welcome.
    pub options: BTreeMap<String, String>,
    /// Limits and timings.
    pub limits: Limits,
}

/// The host's limits and timings for a backend; the defaults suit a backend written with
/// the SDK.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// How long a starting backend has to say hello.
    pub hello_timeout: Duration,
    /// How often a backend is pinged.
    pub ping_interval: Duration,
    /// How long it has to answer a ping (or to take a line written to it) before it is
    /// taken for hung, killed and restarted.
    pub answer_timeout: Duration,
    /// The first wait before a restart; doubled at each failure in a row, up to
    /// `restart_max`.
    pub restart_first: Duration,
    /// The longest wait before a restart.
    pub restart_max: Duration,
    /// A process up for this long counts as a success: the next failure waits
    /// `restart_first` again.
    pub stable_after: Duration,
    /// Events a session may send at once...
    pub event_burst: u32,
    /// ...and per second after that; beyond, they are dropped and the user told.
    pub events_per_second: f64,
    /// Commands a session may have written and not yet done: its credit. Beyond, its further
    /// commands wait (back-pressure on that user only).
    pub max_unacked: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            hello_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(15),
            answer_timeout: Duration::from_secs(10),
            restart_first: Duration::from_secs(1),
            restart_max: Duration::from_secs(60),
            stable_after: Duration::from_secs(60),
            // Joining a large room is one event per occupant.
            event_burst: 2000,
            events_per_second: 200.0,
            max_unacked: 1024,
        }
    }
}

/// What `PATH` is when the operator sets none.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";
