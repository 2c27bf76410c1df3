//! `pontoon db`: the store's schema and a backup, for upgrades and operators' routines.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use pontoon_store::{Backend, Store, StoreKey};

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
    /// Replace the store key: every stored secret is encrypted again with a new key, in one
    /// transaction, then the key file is replaced (or, with PONTOON_STORE_KEY, the new key is
    /// printed for you to put there). Stop the gateway first.
    RotateKey,
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
        DbCommand::RotateKey => rotate_key(cfg).await,
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

/// `pontoon db rotate-key`.
async fn rotate_key(cfg: &Config) -> anyhow::Result<()> {
    refuse_if_running(cfg).await?;
    let new = StoreKey::generate()?;
    let from_env = store_key_from_env().is_some();
    let key_file = cfg.key_file();
    let pending = key_file.with_extension("key.new");
    if !from_env {
        if pending.exists() {
            anyhow::bail!(
                "{} exists: an earlier rotation was interrupted. If `pontoon db rotate-key` said the secrets were re-encrypted, that file holds the key now: move it to {}; otherwise delete it",
                pending.display(),
                key_file.display()
            );
        }
        // The new key is on disk before any secret depends on it.
        new.write_new(&pending)
            .with_context(|| format!("cannot write {}", pending.display()))?;
    }
    let store = open_store(cfg).await?;
    let done = store.reencrypt(&new).await;
    store.close().await;
    let done = match done {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&pending);
            return Err(anyhow::Error::new(e).context("rotation failed; nothing changed"));
        }
    };
    if from_env {
        println!("{}", new.to_base64());
        eprintln!(
            "{done} secret(s) re-encrypted. The new key is printed above: set PONTOON_STORE_KEY to it before the next start (the old key no longer reads the store)"
        );
        return Ok(());
    }
    std::fs::rename(&pending, &key_file).with_context(|| {
        format!(
            "the secrets are re-encrypted with the key in {}, but it could not replace {}: move it there before the next start",
            pending.display(),
            key_file.display()
        )
    })?;
    println!(
        "{done} secret(s) re-encrypted; {} holds the new key (back it up: the old one no longer reads the store)",
        key_file.display()
    );
    Ok(())
}

/// Refuses to go on while the gateway's console answers: a running gateway keeps writing
/// secrets with the key it started with.
async fn refuse_if_running(cfg: &Config) -> anyhow::Result<()> {
    if !cfg.admin.enabled {
        eprintln!(
            "warning: the console is disabled, so whether the gateway runs cannot be told: make sure it is stopped"
        );
        return Ok(());
    }
    let addr = crate::api_client::reachable(cfg.admin.listen_addr());
    let probe = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        tokio::net::TcpStream::connect(addr),
    )
    .await;
    if matches!(probe, Ok(Ok(_))) {
        anyhow::bail!(
            "the gateway is running (its console answers at {addr}): stop it first, since it keeps writing secrets with the key it started with"
        );
    }
    Ok(())
}
