//! The batch writers' transaction (the message id map's, the archive's: [`BatchTx`]).
//!
//! On an SQLite file it runs on a connection of its own, from a small pool of
//! sqlx's SQLite driver ([`WriterPool`]), not from the store's `Any` pool: `Any` copies every
//! bound text twice on its way to SQLite (its own `Arc<String>`, then sqlx-sqlite's, in its
//! `map_arguments`), four allocations a text, freed on SQLite's thread; SQLite's own driver
//! binds a shared `Arc<str>` as it is ([`Param::Shared`]). Measured with callgrind on
//! bench/profile's workload: a quarter fewer allocations and a tenth fewer instructions a
//! message (bench/README.md, "twelfth steps"). PostgreSQL, and SQLite in memory (where each
//! connection is a database of its own), keep the `Any` pool: one text of these statements,
//! bound either way.
//!
//! Two connections: SQLite has one writer at a time, but a writer binds its statements and
//! waits for its commit's disk sync on its connection's thread, and with one connection the
//! id map's and the archive's writers took turns at all of it (under callgrind the id map's
//! fell behind and dropped records; with two, as with the `Any` pool, it did not).

use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Any, Sqlite, Transaction};

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
/// the settings every connection of the store has (store.rs's `open_sqlite`).
pub(crate) async fn open_writer_pool(
    url: &str,
    busy_timeout: Duration,
) -> Result<WriterPool, StoreError> {
    let options: SqliteConnectOptions = url.parse()?;
    let options = options
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(busy_timeout)
        .foreign_keys(true)
        // Statement journals in memory (see store.rs).
        .pragma("temp_store", "MEMORY");
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
    ) -> Result<u64, sqlx::Error> {
        Ok(match &mut self.inner {
            Inner::Any(tx) => {
                let q = params.into_iter().fold(sqlx::query(sql), bind_any);
                q.execute(&mut **tx).await?.rows_affected()
            }
            Inner::Sqlite(tx) => {
                let q = params.into_iter().fold(sqlx::query(sql), bind_sqlite);
                q.execute(&mut **tx).await?.rows_affected()
            }
        })
    }

    /// Commits.
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self.inner {
            Inner::Any(tx) => tx.commit().await,
            Inner::Sqlite(tx) => tx.commit().await,
        }
    }
}

fn bind_any<'q>(q: Query<'q, Any, AnyArguments>, p: Param<'_>) -> Query<'q, Any, AnyArguments> {
    match p {
        Param::Shared(s) => q.bind(s.to_string()),
        Param::Text(s) => q.bind(s.to_owned()),
        Param::OptText(s) => q.bind(s.map(str::to_owned)),
        Param::Int(i) => q.bind(i),
        Param::Small(i) => q.bind(i),
    }
}

fn bind_sqlite<'q>(
    q: Query<'q, Sqlite, SqliteArguments>,
    p: Param<'_>,
) -> Query<'q, Sqlite, SqliteArguments> {
    match p {
        // sqlx-sqlite binds an `Arc<str>` it owns as it is (no copy, no allocation).
        Param::Shared(s) => q.bind(Arc::clone(s)),
        // One allocation, where `String` would take two (the text, then an `Arc` of it).
        Param::Text(s) => q.bind(Arc::<str>::from(s)),
        Param::OptText(s) => q.bind(s.map(Arc::<str>::from)),
        Param::Int(i) => q.bind(i),
        Param::Small(i) => q.bind(i),
    }
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
        store.close().await;
        assert!(pool.is_closed());
    }
}
