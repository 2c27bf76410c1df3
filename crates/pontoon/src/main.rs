//! Pontoon: an XMPP gateway to other chat networks.
//!
//! The binary: command line, configuration, wiring of links, services and store, signals
//! and graceful shutdown. Protocol logic lives in the library crates.

mod admin_cli;
mod api_client;
mod cli;
mod db_cli;
mod files;
mod generate;
mod live_cli;
mod operator;
mod policy_drift;
mod reload;
mod run;
mod service_manager;
mod shutdown;

use std::process::ExitCode;

use clap::Parser;
// The configuration and the transports are the library's (src/lib.rs), shared with the fuzz
// target `config_load`; the modules above reach them as `crate::config` and `crate::transports`.
use pontoon::{config, transports};

/// Worker threads when `TOKIO_WORKER_THREADS` does not say: one. Tasks that hand work to each
/// other (a user's reader, session and writer) then stay on one thread instead of waking a
/// second one for each message: a third less CPU per message, the same wait for others under
/// load (logins over TLS, IQ floods, archive pages); measured in bench/README.md
/// ("Performance pass 4, eighth steps"). CPU-heavy work runs elsewhere: password hashing on
/// its own threads, SQLite on sqlx's, file I/O on tokio's blocking pool.
const DEFAULT_WORKER_THREADS: usize = 1;

/// The async runtime: multi-threaded (so blocking work can be handed off and an operator
/// can give it more threads), with `TOKIO_WORKER_THREADS` workers or
/// [`DEFAULT_WORKER_THREADS`].
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let workers = match std::env::var("TOKIO_WORKER_THREADS") {
        Err(std::env::VarError::NotPresent) => DEFAULT_WORKER_THREADS,
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(std::io::Error::other(format!(
                    "TOKIO_WORKER_THREADS must be a whole number of at least 1, not {v:?}"
                )));
            }
        },
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(std::io::Error::other(
                "TOKIO_WORKER_THREADS must be a whole number of at least 1",
            ));
        }
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(cli::dispatch(cli));
    // Tasks still running (a shutdown that gave up on them) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
