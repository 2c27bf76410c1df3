//! The command line.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::config::{self, Config};
use crate::{admin_cli, db_cli, operator, run};

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
    /// Use the embedded defaults (server mode on loopback, data under ./data) and no
    /// configuration file. Without it, `run` falls back to them only when the file is
    /// missing, and every other command refuses to run without the file.
    #[arg(long, global = true)]
    pub embedded_defaults: bool,
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
    /// The store's schema version and pending migrations; a backup of an SQLite store.
    #[command(subcommand)]
    Db(db_cli::DbCommand),
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
        Command::Run => {
            let cfg = if cli.embedded_defaults {
                Config::embedded(std::path::PathBuf::from("."))
            } else {
                Config::load(&cli.config, true)?
            };
            run::run(cfg).await
        }
        Command::Register(args) => {
            operator::register(&operator_config(&cli.config, cli.embedded_defaults)?, args).await
        }
        Command::Registrations(cmd) => {
            operator::registrations(&operator_config(&cli.config, cli.embedded_defaults)?, cmd)
                .await
        }
        Command::Policy(cmd) => {
            operator::policy(&operator_config(&cli.config, cli.embedded_defaults)?, cmd).await
        }
        Command::Admin(cmd) => {
            admin_cli::admin(&operator_config(&cli.config, cli.embedded_defaults)?, cmd).await
        }
        Command::Db(cmd) => {
            db_cli::db(&operator_config(&cli.config, cli.embedded_defaults)?, cmd).await
        }
    }
}

/// The configuration of a command that acts on the store: the file, which must exist, or
/// the embedded defaults when asked for. Falling back to the defaults when the file is
/// missing would act on another store (a new `./data`) than the running gateway's, and say
/// nothing.
fn operator_config(path: &std::path::Path, embedded_defaults: bool) -> anyhow::Result<Config> {
    if embedded_defaults {
        return Ok(Config::embedded(std::path::PathBuf::from(".")));
    }
    if !path.exists() {
        let looked = std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf());
        bail!(
            "no configuration file at {}: this command acts on the store your configuration names. \
             Run it where your pontoon.toml is, name it with --config FILE (or PONTOON_CONFIG), \
             or pass --embedded-defaults to use the store of the embedded defaults (./data)",
            looked.display()
        );
    }
    Ok(Config::load(path, false)?)
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
