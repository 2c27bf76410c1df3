//! The command line.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::config::{self, Config};
use crate::{admin_cli, operator, run};

/// Pontoon, an XMPP gateway to other chat networks.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Cli {
    /// Configuration file.
    #[arg(
        long,
        short,
        env = "PONTOON_CONFIG",
        default_value = "pontoon.toml",
        global = true
    )]
    pub config: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a fully commented configuration file.
    Init {
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Validate the configuration file and report every problem with its key and line.
    CheckConfig,
    /// Run the gateway (embedded defaults when the configuration file does not exist).
    Run,
    /// Register a user with a transport on their behalf (operators; ignores registration policy).
    Register(operator::RegisterArgs),
    /// List, edit and delete registrations.
    #[command(subcommand)]
    Registrations(operator::RegistrationsCommand),
    /// Show and change a transport's policy (enabled, registration, access lists).
    #[command(subcommand)]
    Policy(operator::PolicyCommand),
    /// Manage web console administrators and REST API tokens.
    #[command(subcommand)]
    Admin(admin_cli::AdminCommand),
}

/// Runs the chosen command.
pub async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init { force } => init(&cli.config, force),
        Command::CheckConfig => {
            let cfg = Config::load(&cli.config, false)?;
            for w in cfg.warnings() {
                eprintln!("warning: {w}");
            }
            println!(
                "{}: OK ({} transport(s): {})",
                cli.config.display(),
                cfg.transports.len(),
                cfg.transports
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(())
        }
        Command::Run => run::run(Config::load(&cli.config, true)?).await,
        Command::Register(args) => {
            operator::register(&Config::load(&cli.config, true)?, args).await
        }
        Command::Registrations(cmd) => {
            operator::registrations(&Config::load(&cli.config, true)?, cmd).await
        }
        Command::Policy(cmd) => operator::policy(&Config::load(&cli.config, true)?, cmd).await,
        Command::Admin(cmd) => admin_cli::admin(&Config::load(&cli.config, true)?, cmd).await,
    }
}

fn init(path: &std::path::Path, force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        bail!("{} exists; use --force to overwrite it", path.display());
    }
    std::fs::write(path, config::EXAMPLE)
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "wrote {}; edit it, then run `pontoon check-config`",
        path.display()
    );
    println!(
        "the web console will listen on http://{}/ (see [admin]); create its first administrator with `pontoon admin add <name>`",
        crate::config::DEFAULT_ADMIN_LISTEN
    );
    Ok(())
}
