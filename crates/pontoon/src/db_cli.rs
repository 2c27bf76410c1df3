//! `pontoon db`: the store's schema and a backup, for upgrades and operators' routines.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use pontoon_store::{Backend, Store};

use crate::config::Config;
use crate::run::{open_store, redact_url, store_key, store_key_from_env};

/// `pontoon db ...`.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// The store's engine, its schema version and the migrations this build would apply at
    /// its next start (read only: nothing is migrated or created).
    Status,
    /// A consistent copy of an SQLite store, taken while the gateway runs, to a new file
    /// (mode 0600). Back the store key up too: the copy's secrets are encrypted with it.
    Backup {
        /// The file to write (must not exist).
        file: PathBuf,
    },
    /// Copy every row of the store into another, new one (e.g. from SQLite to PostgreSQL),
    /// then point `[store] url` at it. Stop the gateway first: what it writes after the copy
    /// began stays behind. The copy keeps the same store key.
    Copy {
        /// The destination's URL (postgres://user:password@host/db or sqlite:///path); its
        /// schema is created, and it must hold no registrations yet.
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

/// Runs a `pontoon db` command.
pub async fn db(cfg: &Config, cmd: DbCommand) -> anyhow::Result<()> {
    match cmd {
        DbCommand::Status => {
            let s = Store::schema_status(&cfg.store_url())
                .await
                .context("cannot read the store's schema")?;
            let engine = match s.backend {
                Backend::Sqlite => "SQLite",
                Backend::Postgres => "PostgreSQL",
            };
            match s.version {
                None => println!("{engine}: no database yet (created at the first start)"),
                Some(v) => println!(
                    "{engine}: schema version {v} (this build: {latest})",
                    latest = s.latest
                ),
            }
            if let Some(v) = s.version.filter(|v| *v > s.latest) {
                println!(
                    "the store is newer ({v}) than this build knows ({}): this build refuses to start on it",
                    s.latest
                );
            } else if s.pending.is_empty() {
                println!("no migration pending");
            } else {
                println!(
                    "{} migration(s) pending, applied at the next start:",
                    s.pending.len()
                );
                for (version, description) in &s.pending {
                    println!("  {version}: {description}");
                }
            }
            Ok(())
        }
        DbCommand::Copy { to } => copy(cfg, &to).await,
        DbCommand::Backup { file } => {
            let store = open_store(cfg).await?;
            store
                .backup_to(&file)
                .await
                .with_context(|| format!("cannot back the store up to {}", file.display()))?;
            store.close().await;
            let key = match store_key_from_env() {
                Some(_) => "the PONTOON_STORE_KEY in use".to_owned(),
                None => cfg.key_file().display().to_string(),
            };
            println!(
                "wrote {}; back the store key ({key}) up as well: the copy's passwords are encrypted with it",
                file.display()
            );
            Ok(())
        }
    }
}

/// `pontoon db copy --to URL`.
async fn copy(cfg: &Config, to: &str) -> anyhow::Result<()> {
    let from_url = cfg.store_url();
    if from_url == to {
        anyhow::bail!("the destination is the store this configuration uses");
    }
    let source = open_store(cfg).await?;
    let dest = Store::open(to, store_key(cfg)?)
        .await
        .with_context(|| format!("cannot open the destination store at {}", redact_url(to)))?;
    let copied = source.copy_to(&dest).await.with_context(|| {
        format!(
            "copying {} to {} failed; the destination is unchanged",
            redact_url(&from_url),
            redact_url(to)
        )
    });
    source.close().await;
    dest.close().await;
    for (table, rows) in copied? {
        println!("{table}: {rows} row(s)");
    }
    println!(
        "copied {} to {}. Now set [store] url to it in {}, keep the same store key, and start Pontoon",
        redact_url(&from_url),
        redact_url(to),
        cfg.file.as_ref().map_or_else(
            || "your configuration".to_owned(),
            |f| f.display().to_string()
        )
    );
    Ok(())
}
