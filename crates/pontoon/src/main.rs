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

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
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
