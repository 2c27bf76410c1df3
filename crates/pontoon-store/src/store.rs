//! Opening the store: URL handling, the connection pool, SQLite durability settings and
//! migrations.
//!
//! SQLite is tuned so that an acknowledged registration survives `kill -9` and power
//! loss: WAL journal (set once, it is persistent in the file) and `synchronous=FULL` plus a
//! busy timeout on every pooled connection. Writers that read before they write use
//! `BEGIN IMMEDIATE` on SQLite so concurrent writers queue on the busy timeout instead of
//! failing with `SQLITE_BUSY` when upgrading a read lock.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chacha20poly1305::XChaCha20Poly1305;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyConnection, AnyPool, Connection, Transaction};

use crate::batch_tx::{self, WriterPool};
use crate::crypto::StoreKey;
use crate::error::StoreError;
use crate::health::{self, Health};
use crate::migrate;
use crate::writers::Writers;

/// Which database engine a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file (or in-memory database).
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// Handle to the gateway's persistent state. Cheap to clone (a pool and a key inside);
/// all clones share one pool.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    /// SQLite file: the batch writers' own pool of two connections (batch_tx.rs).
    pub(crate) writer_pool: Option<WriterPool>,
    pub(crate) backend: Backend,
    pub(crate) cipher: Arc<XChaCha20Poly1305>,
    health: Arc<Health>,
    /// Tasks writing on others' behalf, finished before the pool closes.
    pub(crate) writers: Arc<Writers>,
    /// PostgreSQL: the URL again, for the change feed's own connection (`changes.rs`).
    pub(crate) listen_url: Option<Arc<str>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// How long a PostgreSQL call waits for a pooled connection.
/// Longer than the watchdog's stall threshold (5 s): a loop held this long by a wedged
/// server is reported (`/readyz`, a WARN) before the store gives up.
const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The settings of every SQLite connection of the store, its pool's and the batch writers'
/// (batch_tx.rs), as `PRAGMA` names and values: durability (`synchronous=FULL`), how long
/// a writer waits for another writer's lock (`busy_timeout`, ms), foreign keys, and
/// statement journals in memory, not temporary files (each multi-row insert of the batch
/// writers opens one, and on a file it cost a write system call per page: a fifth of the
/// store thread's time in a saturation run, measured).
pub(crate) const SQLITE_PRAGMAS: [(&str, &str); 4] = [
    ("synchronous", "FULL"),
    ("busy_timeout", "5000"),
    ("foreign_keys", "ON"),
    ("temp_store", "MEMORY"),
];

/// A parsed database URL, ready for the `Any` driver.
pub(crate) struct Target {
    pub(crate) backend: Backend,
    pub(crate) any_url: String,
    in_memory: bool,
    /// SQLite database file, to be created before connecting.
    pub(crate) file: Option<PathBuf>,
}

impl Store {
    /// Opens (and migrates) the store.
    ///
    /// `url` is one of `sqlite:///abs/path/pontoon.db`, `sqlite://relative.db` (relative to
    /// the working directory), `sqlite::memory:` (tests; one connection, gone on close), or
    /// `postgres://...` / `postgresql://...`. For SQLite the file (mode 0600) and its parent
    /// directories (mode 0700) are created if missing (`mode=rwc` is added unless the URL sets `mode`), the journal
    /// is switched to WAL, and every connection gets `synchronous=FULL`, a busy timeout and
    /// its temporary storage (statement journals) in memory.
    /// Pending migrations are applied in one transaction.
    pub async fn open(url: &str, key: StoreKey) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let target = parse_url(url)?;
        let pool = match target.backend {
            Backend::Sqlite => open_sqlite(&target).await?,
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(10)
                    // Not sqlx's 30 s: a caller waits at most this long before the
                    // health task has seen the server go (health.rs).
                    .acquire_timeout(PG_ACQUIRE_TIMEOUT)
                    .connect(&target.any_url)
                    .await?
            }
        };
        let mut store = Store {
            pool,
            writer_pool: None,
            backend: target.backend,
            cipher: Arc::new(key.cipher()),
            health: Arc::default(),
            writers: Arc::default(),
            listen_url: (target.backend == Backend::Postgres)
                .then(|| target.any_url.as_str().into()),
        };
        if store.backend == Backend::Postgres {
            health::watch(store.pool.clone(), &store.health);
        }
        let before = migrate::migrate(&store.pool, store.backend).await?;
        if store.backend == Backend::Sqlite && !target.in_memory {
            store.writer_pool = Some(batch_tx::open_writer_pool(&target.any_url).await?);
        }
        tracing::debug!(
            backend = ?store.backend,
            from_version = before,
            version = migrate::latest_version(),
            "store opened"
        );
        Ok(store)
    }

    /// Closes the store: lets its writers write what they hold ([`Store::finish_writers`],
    /// at most a few seconds), then closes the writers' pool (SQLite file) and the store's:
    /// waits for in-flight queries and closes every connection (for SQLite the last one
    /// checkpoints the WAL). Clones of this store become unusable.
    pub async fn close(&self) {
        self.finish_writers().await;
        if let Some(writer_pool) = &self.writer_pool {
            writer_pool.close().await;
        }
        self.pool.close().await;
    }

    /// The pool, once the server is known to answer: every operation goes through here,
    /// so that none waits on a server that is down (health.rs).
    pub(crate) fn db(&self) -> Result<&AnyPool, StoreError> {
        self.health.check()?;
        Ok(&self.pool)
    }

    /// Which database engine this store uses.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Begins a transaction for read-then-write work: `BEGIN IMMEDIATE` on SQLite (take
    /// the write lock up front, waiting on the busy timeout), a plain `BEGIN` on PostgreSQL.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.db()?.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.db()?.begin().await?,
        })
    }
}

async fn open_sqlite(target: &Target) -> Result<AnyPool, StoreError> {
    if let Some(file) = &target.file {
        prepare_sqlite_file(file)?;
    }
    if !target.in_memory {
        // Switch to WAL once, on a lone connection: changing the journal mode needs an
        // exclusive lock the busy timeout cannot wait for, so do it before the pool exists.
        let mut conn = AnyConnection::connect(&target.any_url).await?;
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode=WAL")
            .fetch_one(&mut conn)
            .await?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(journal_mode = %mode, "SQLite refused WAL journal mode");
        }
        conn.close().await?;
    }
    let mut opts = AnyPoolOptions::new().after_connect(|conn, _meta| {
        Box::pin(async move {
            for (name, value) in SQLITE_PRAGMAS {
                sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA {name}={value}")))
                    .execute(&mut *conn)
                    .await?;
            }
            Ok(())
        })
    });
    opts = if target.in_memory {
        // Every new connection to `:memory:` is a new, empty database: keep exactly one
        // connection alive for the life of the pool.
        opts.max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        // WAL: many readers, one writer at a time.
        opts.max_connections(4)
    };
    Ok(opts
        .acquire_timeout(Duration::from_secs(30))
        .connect(&target.any_url)
        .await?)
}

/// Creates the SQLite file's parent directories (0700) and the file itself (0600) if missing.
fn prepare_sqlite_file(file: &Path) -> Result<(), StoreError> {
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)?;
    }
    // Create the database file ourselves, private to the gateway's user (SQLite gives
    // the -wal and -shm files the same mode). An existing file is left as it is.
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
    {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

pub(crate) fn parse_url(url: &str) -> Result<Target, StoreError> {
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let params: Vec<&str> = query
            .map(|q| q.split('&').filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        if path == ":memory:" || params.contains(&"mode=memory") {
            return Ok(Target {
                backend: Backend::Sqlite,
                any_url: "sqlite::memory:".to_owned(),
                in_memory: true,
                file: None,
            });
        }
        if path.is_empty() {
            return Err(StoreError::InvalidUrl(
                "SQLite URL has no file path (use sqlite:///abs/path.db or sqlite://rel.db)"
                    .to_owned(),
            ));
        }
        let mut params = params;
        if !params.iter().any(|p| p.starts_with("mode=")) {
            params.push("mode=rwc");
        }
        // Only create the file when the URL allows creation (an explicit `mode=ro`/`rw`
        // means "it must already exist").
        let create = params.contains(&"mode=rwc");
        let any_url = format!("sqlite://{path}?{}", params.join("&"));
        let file = if create {
            Some(sqlite_options(&any_url)?.get_filename().to_path_buf())
        } else {
            None
        };
        return Ok(Target {
            backend: Backend::Sqlite,
            any_url,
            in_memory: false,
            file,
        });
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Target {
            backend: Backend::Postgres,
            any_url: url.to_owned(),
            in_memory: false,
            file: None,
        });
    }
    // Never echo the URL: it may carry a password.
    let scheme = url.split_once(':').map_or("(none)", |(s, _)| s);
    Err(StoreError::InvalidUrl(format!(
        "unsupported scheme {scheme:?}; expected sqlite: or postgres://"
    )))
}

/// The options sqlx's SQLite driver opens `any_url` with when the `Any` driver hands it
/// over: the URL normalized as a URL first (`link/..` dropped as text, where the file
/// system would follow the link), then sqlx-sqlite's own reading (its `%XX` decoding). The
/// file Pontoon creates (`prepare_sqlite_file`) and the batch writers' pool (batch_tx.rs)
/// take it from here, so that they name the file the store opens.
pub(crate) fn sqlite_options(any_url: &str) -> Result<SqliteConnectOptions, StoreError> {
    let any: AnyConnectOptions = any_url.parse()?;
    Ok(SqliteConnectOptions::try_from(&any)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls() {
        let t = parse_url("sqlite::memory:").unwrap();
        assert!(t.in_memory);
        let t = parse_url("sqlite:///tmp/pontoon-url-test/x.db").unwrap();
        assert_eq!(t.any_url, "sqlite:///tmp/pontoon-url-test/x.db?mode=rwc");
        assert!(t.file.is_some());
        let t = parse_url("sqlite://rel.db?mode=rw").unwrap();
        assert_eq!(t.any_url, "sqlite://rel.db?mode=rw");
        assert!(t.file.is_none());
        let t = parse_url("postgres://u:pw@h/db").unwrap();
        assert_eq!(t.backend, Backend::Postgres);
        let e = parse_url("mysql://u:sekrit@h/db")
            .err()
            .unwrap()
            .to_string();
        assert!(!e.contains("sekrit"), "{e}");
        assert!(parse_url("sqlite://").is_err());
        let t = parse_url("sqlite:///tmp/a%20b/c/../x.db").unwrap();
        assert_eq!(t.file.unwrap(), PathBuf::from("/tmp/a b/x.db"));
    }
}
