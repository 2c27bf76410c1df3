//! The batch writers' transaction (the message id map's, the archive's: [`BatchTx`]).
//!
//! On an SQLite file it runs on a pool of sqlx's SQLite driver of the writers' own
//! ([`WriterPool`]), not on the store's `Any` pool: `Any` copies every bound text twice on
//! its way to SQLite (its own `Arc<String>`, then sqlx-sqlite's, in its `map_arguments`),
//! four allocations a text, freed on SQLite's thread; SQLite's own driver binds a shared
//! `Arc<str>` as it is ([`Param::Shared`]). Measured with callgrind on bench/profile's
//! workload: a third fewer allocations and an eighth fewer instructions a message
//! (bench/README.md, "twelfth steps"). PostgreSQL, and SQLite in memory (where each
//! connection is a database of its own), keep the `Any` pool: the same SQL, bound either
//! way. (`Any` cannot take the shortcut itself: its SQLite side has no mapping for a shared
//! text and panics on one.)
//!
//! Two connections for all the writers of the process (each transport's id map and
//! archive, the cluster's span ends): SQLite takes one writer at a time, but a writer also
//! binds its statements and waits for its commit's disk sync on its connection's thread, so
//! with two the next transaction is ready when one commits. With one, the id map's writer
//! fell behind under callgrind and dropped records; more would only wait on SQLite's busy
//! handler.

use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};
use sqlx::{Any, Arguments, Database, Encode, Sqlite, Transaction, Type};

use crate::error::StoreError;
use crate::store::{Backend, Store};

/// One value bound to a batch writer's statement.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Param<'a> {
    /// A text the record shares: bound without a copy on SQLite.
    Shared(&'a Arc<str>),
    /// A text bound as a copy.
    Text(&'a str),
    /// A text or NULL.
    OptText(Option<&'a str>),
    /// An integer.
    Int(i64),
    /// A small integer.
    Small(i16),
}

/// The batch writers' own SQLite pool (two connections), for a store on an SQLite file.
pub(crate) type WriterPool = SqlitePool;

/// Opens [`WriterPool`] on the database `url` (an SQLite file, already in WAL mode), with
/// the settings every connection of the store has (`store::SQLITE_PRAGMAS`). The URL goes
/// the way the `Any` driver takes it (`store::sqlite_options`), so that both pools open
/// the same file whatever `..` or escapes its path has.
pub(crate) async fn open_writer_pool(url: &str) -> Result<WriterPool, StoreError> {
    let options = crate::store::SQLITE_PRAGMAS.into_iter().fold(
        crate::store::sqlite_options(url)?,
        |options, (name, value)| options.pragma(name, value),
    );
    Ok(SqlitePoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options)
        .await?)
}

enum Inner {
    Any(Transaction<'static, Any>),
    Sqlite(Transaction<'static, Sqlite>),
}

/// A batch writer's transaction: `BEGIN IMMEDIATE` on SQLite, as [`Store::begin_write`].
pub(crate) struct BatchTx {
    inner: Inner,
    backend: Backend,
}

impl BatchTx {
    /// Begins one, on the store's [`WriterPool`] if it has one.
    pub(crate) async fn begin(store: &Store) -> Result<BatchTx, StoreError> {
        let inner = match &store.writer_pool {
            Some(pool) => Inner::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            None => Inner::Any(store.begin_write().await?),
        };
        Ok(BatchTx {
            inner,
            backend: store.backend(),
        })
    }

    /// Which engine's SQL it takes (parameters `?` or `$n`, see multi_row.rs).
    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    /// Runs `sql` with `params` bound in order.
    pub(crate) async fn execute<'p>(
        &mut self,
        sql: &'static str,
        params: impl IntoIterator<Item = Param<'p>>,
    ) -> Result<(), sqlx::Error> {
        match &mut self.inner {
            Inner::Any(tx) => {
                let args = arguments::<Any, String>(params)?;
                sqlx::query_with(sql, args).execute(&mut **tx).await?;
            }
            Inner::Sqlite(tx) => {
                let args = arguments::<Sqlite, Arc<str>>(params)?;
                sqlx::query_with(sql, args).execute(&mut **tx).await?;
            }
        }
        Ok(())
    }

    /// Commits.
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self.inner {
            Inner::Any(tx) => tx.commit().await,
            Inner::Sqlite(tx) => tx.commit().await,
        }
    }
}

/// How a driver takes a text it owns: `Any` a `String` (it copies it again anyway),
/// sqlx-sqlite an `Arc<str>` (bound as it is: a shared text costs nothing, a borrowed one
/// one allocation, where a `String` would take two).
trait OwnedText: for<'a> From<&'a str> {
    fn shared(text: &Arc<str>) -> Self;
}

impl OwnedText for String {
    fn shared(text: &Arc<str>) -> Self {
        text.to_string()
    }
}

impl OwnedText for Arc<str> {
    fn shared(text: &Arc<str>) -> Self {
        Arc::clone(text)
    }
}

/// `params` as a driver's arguments, in one vector sized for them up front (a multi-row
/// statement binds up to 2,304 values: grown one by one, the vector was copied a dozen
/// times, a few per cent of a saturation run's samples).
fn arguments<'p, 'q, DB, T>(
    params: impl IntoIterator<Item = Param<'p>>,
) -> Result<DB::Arguments, sqlx::Error>
where
    DB: Database,
    T: OwnedText + Encode<'q, DB> + Type<DB> + 'q,
    Option<T>: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
    i16: Encode<'q, DB> + Type<DB>,
{
    let params = params.into_iter();
    let mut args = DB::Arguments::default();
    args.reserve(params.size_hint().0, 0);
    for p in params {
        match p {
            Param::Shared(s) => args.add(T::shared(s)),
            Param::Text(s) => args.add(T::from(s)),
            Param::OptText(s) => args.add(s.map(T::from)),
            Param::Int(i) => args.add(i),
            Param::Small(i) => args.add(i),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::crypto::StoreKey;

    /// The writers' connection is as durable and as patient as the store's others.
    #[tokio::test]
    async fn the_writers_connection_has_the_stores_settings() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/pontoon.db", dir.path().display());
        let store = Store::open(&url, StoreKey::from_bytes([7; 32]))
            .await
            .unwrap();
        let pool = store.writer_pool.clone().unwrap();
        let pragma = |name: &'static str| {
            let pool = pool.clone();
            async move {
                let sql = sqlx::AssertSqlSafe(format!("PRAGMA {name}"));
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            }
        };
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(journal, "wal");
        assert_eq!(pragma("synchronous").await, 2, "FULL");
        assert_eq!(pragma("busy_timeout").await, 5000);
        assert_eq!(pragma("foreign_keys").await, 1);
        assert_eq!(pragma("temp_store").await, 2, "MEMORY");
        // In memory, the writers share the store's one connection (a database of its own).
        let memory = Store::open("sqlite::memory:", StoreKey::from_bytes([7; 32]))
            .await
            .unwrap();
        assert!(memory.writer_pool.is_none());
        memory.close().await;
        store.close().await;
        assert!(pool.is_closed());
    }

    /// The bundled SQLite counts no memory statistics (`.cargo/config.toml`: without it,
    /// each of SQLite's allocations takes a process-wide mutex).
    #[tokio::test]
    async fn sqlite_is_built_without_memory_statistics() {
        let store = Store::open("sqlite::memory:", StoreKey::from_bytes([7; 32]))
            .await
            .unwrap();
        let options: Vec<String> = sqlx::query_scalar("PRAGMA compile_options")
            .fetch_all(&store.pool)
            .await
            .unwrap();
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "built with {options:?}"
        );
        store.close().await;
    }

    /// What the writers write, the store reads: both pools open the same file, whatever
    /// escapes or `..` the URL's path has. sqlx's `Any` driver reads the URL as a URL, which
    /// drops `link/..` as text, where the file system would follow the link first.
    #[tokio::test]
    async fn the_writers_write_where_the_store_reads() {
        let dir = tempfile::tempdir().unwrap();
        // `a b/link/..` is `a b` as text, `other` on the disk.
        std::fs::create_dir_all(dir.path().join("a b")).unwrap();
        std::fs::create_dir_all(dir.path().join("other").join("deep")).unwrap();
        std::os::unix::fs::symlink(
            dir.path().join("other").join("deep"),
            dir.path().join("a b").join("link"),
        )
        .unwrap();
        let url = format!("sqlite://{}/a%20b/link/../pontoon.db", dir.path().display());
        let store = Store::open(&url, StoreKey::from_bytes([7; 32]))
            .await
            .unwrap();
        assert!(store.writer_pool.is_some());
        let record = crate::MessageIds {
            transport: "irc".into(),
            account: "alice@example.org".into(),
            chat: "#c".into(),
            message: crate::MappedMessage {
                legacy_id: "l1".into(),
                author: "alice".into(),
                own: true,
            },
            xmpp_ids: crate::XmppIds {
                id: Some("x1".into()),
                ..Default::default()
            },
        };
        store.put_message_ids_batch(&[record]).await.unwrap();
        let chat = crate::ChatKey {
            transport: "irc",
            account: "alice@example.org",
            chat: "#c",
        };
        let found = store.legacy_message(&chat, "x1").await.unwrap();
        assert_eq!(found.map(|m| m.legacy_id).as_deref(), Some("l1"));
        store.close().await;
        // The file Pontoon made private is the database, not a stray one where the link
        // leads.
        let db = dir.path().join("a b").join("pontoon.db");
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&db).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);
        assert!(!dir.path().join("other").join("pontoon.db").exists());
    }
}
