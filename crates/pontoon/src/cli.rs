//! The command line.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::config::{self, Config};
use crate::{admin_cli, db_cli, generate, live_cli, operator, run};

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
    /// The running gateway's state: version, uptime, each transport's sessions and counters
    /// (asks it through its REST API).
    Status(live_cli::StatusArgs),
    /// The legacy sessions the running gateway holds now (through its REST API).
    Sessions(live_cli::SessionsArgs),
    /// Send a message to every user of a transport who has a session (through the REST API).
    Announce(live_cli::AnnounceArgs),
    /// Print the shell completion script for SHELL (the Debian package installs them).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Write the man pages (pontoon.1 and one per subcommand) into DIR.
    Manpages {
        /// The directory to write into (it must exist).
        dir: PathBuf,
    },
}

/// Runs the chosen command.
pub async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let store_config = || configuration(&cli.config, cli.embedded_defaults, false);
    match cli.command {
        Command::Init { force } => init(&cli.config, force),
        Command::CheckConfig => {
            let cfg = Config::load(&cli.config, false)?;
            for w in cfg.warnings() {
                eprintln!("warning: {w}");
            }
            for w in store_drift(&cfg).await {
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
        Command::Run => run::run(configuration(&cli.config, cli.embedded_defaults, true)?).await,
        Command::Register(args) => operator::register(&store_config()?, args).await,
        Command::Registrations(cmd) => operator::registrations(&store_config()?, cmd).await,
        Command::Policy(cmd) => operator::policy(&store_config()?, cmd).await,
        Command::Admin(cmd) => admin_cli::admin(&store_config()?, cmd).await,
        Command::Db(cmd) => db_cli::db(&store_config()?, cmd).await,
        Command::Status(args) => live_cli::status(&store_config()?, args).await,
        Command::Sessions(args) => live_cli::sessions(&store_config()?, args).await,
        Command::Announce(args) => live_cli::announce(&store_config()?, args).await,
        Command::Completions { shell } => generate::completions(shell),
        Command::Manpages { dir } => generate::manpages(&dir),
    }
}

/// `check-config`'s comparison of the file's transport policies with the store's (which
/// are in force once seeded): one warning per transport that differs, with the command that
/// applies the file's values. Reads the store without changing it; says so when it cannot.
async fn store_drift(cfg: &Config) -> Vec<String> {
    let url = cfg.store_url();
    let stored = match pontoon_store::Store::stored_policies(&url).await {
        Ok(Some(stored)) => stored,
        // No store yet, or one the next start migrates: the file's values will be seeded.
        Ok(None) => return Vec::new(),
        Err(e) => {
            return vec![format!(
                "cannot read the store to compare its policies with this file: {e}"
            )];
        }
    };
    let flag = run::cli_flag(cfg);
    cfg.transports
        .iter()
        .filter_map(|(name, t)| {
            let (_, policy) = stored.iter().find(|(n, _)| n == name)?;
            let d = crate::policy_drift::drift(name, &t.policy_seed(), policy, flag)?;
            Some(format!(
                "transport {name}: the store's policy is in force and differs from this file for {}; to apply the file's values: {}",
                d.keys.join(", "),
                d.command
            ))
        })
        .collect()
}

/// The configuration a command acts on: the embedded defaults when asked for, else the
/// file. A missing file gives the embedded defaults only where `allow_missing` (`run`, the
/// README's first start); a command that acts on the store stops instead, since falling back
/// would act on another store (a new `./data`) than the running gateway's, and say nothing.
fn configuration(
    path: &std::path::Path,
    embedded_defaults: bool,
    allow_missing: bool,
) -> anyhow::Result<Config> {
    if embedded_defaults {
        return Ok(Config::embedded(std::path::PathBuf::from(".")));
    }
    if !allow_missing && !path.exists() {
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
    Ok(Config::load(path, allow_missing)?)
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
