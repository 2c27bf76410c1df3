//! Schema migrations, our own (no sqlx `migrate` feature, no compile-time macros).
//!
//! A `schema_version` table records every applied migration; [`MIGRATIONS`] (in
//! `migrate/list.rs`) is the ordered list, each with SQLite and PostgreSQL text (they
//! differ in type names, `BLOB` vs `BYTEA`, `INTEGER` vs `BIGINT`, and in what only one
//! engine needs: PostgreSQL's change-feed triggers, SQLite's `WITHOUT ROWID` and table
//! rewrites). [`migrate`] runs in `Store::open`, inside one transaction: either the
//! database ends at the newest version or nothing changed.
//! Concurrent openers are serialised with `BEGIN IMMEDIATE` on SQLite and a transaction-
//! scoped advisory lock on PostgreSQL (several instances may share one PostgreSQL store).
//!
//! Rules for new migrations: append only, never edit an applied one, keep booleans as
//! `SMALLINT` 0/1 and timestamps as 64-bit unix seconds (the Any driver decodes integers
//! uniformly across backends, but not booleans).

use sqlx::AnyPool;

use crate::Backend;
use crate::error::StoreError;

/// One schema change.
pub(crate) struct Migration {
    /// Strictly increasing, starting at 1.
    pub version: i64,
    /// Human-readable summary, recorded in `schema_version`.
    pub description: &'static str,
    /// Statements for SQLite, run in order.
    pub sqlite: &'static [&'static str],
    /// Statements for PostgreSQL, run in order.
    pub postgres: &'static [&'static str],
}

mod list;
pub(crate) use list::MIGRATIONS;

/// Name of the unique index guarding (transport, legacy_id); used to recognise its
/// violation in database errors.
pub(crate) const LEGACY_ID_INDEX: &str = "registrations_transport_legacy_id";

/// Arbitrary constant key for `pg_advisory_xact_lock` ("PONTOON" in ASCII, truncated).
const PG_MIGRATION_LOCK: i64 = 0x0050_4f4e_544f_4f4e;

/// The highest schema version this build knows.
pub(crate) fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Brings the schema up to [`latest_version`] in a single transaction.
/// Returns the version the database was at before.
pub(crate) async fn migrate(pool: &AnyPool, backend: Backend) -> Result<i64, StoreError> {
    let mut tx = match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => pool.begin().await?,
    };
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(PG_MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
    }
    let create_version_table = match backend {
        Backend::Sqlite => {
            "CREATE TABLE IF NOT EXISTS schema_version (
                version INTEGER NOT NULL PRIMARY KEY,
                description TEXT NOT NULL,
                applied_at INTEGER NOT NULL
            )"
        }
        Backend::Postgres => {
            "CREATE TABLE IF NOT EXISTS schema_version (
                version BIGINT NOT NULL PRIMARY KEY,
                description TEXT NOT NULL,
                applied_at BIGINT NOT NULL
            )"
        }
    };
    sqlx::query(create_version_table).execute(&mut *tx).await?;
    let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
        .fetch_one(&mut *tx)
        .await?;
    let current = current.unwrap_or(0);
    let latest = latest_version();
    if current > latest {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported: latest,
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let statements = match backend {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        };
        for stmt in statements {
            sqlx::query(*stmt).execute(&mut *tx).await?;
        }
        sqlx::query(
            "INSERT INTO schema_version (version, description, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.description)
        .bind(crate::now())
        .execute(&mut *tx)
        .await?;
        tracing::info!(
            version = m.version,
            description = m.description,
            "applied store migration"
        );
    }
    tx.commit().await?;
    Ok(current)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn versions_strictly_increase() {
        let mut last = 0;
        for m in MIGRATIONS {
            assert!(m.version > last, "migration {} out of order", m.version);
            // The same tables both ways; 18 adds PostgreSQL's change-feed triggers, which
            // SQLite (one instance, no feed) has no use for; 21 changes how SQLite stores a
            // table (PostgreSQL has no such choice); 22 changes a table's key, which SQLite
            // does by rewriting the table and PostgreSQL in place.
            if ![18, 21, 22].contains(&m.version) {
                assert_eq!(m.sqlite.len(), m.postgres.len());
            }
            last = m.version;
        }
        assert_eq!(latest_version(), last);
    }

    /// Migrations 21 and 22, which rewrite the id map's table on SQLite, keep every record
    /// written before them.
    #[tokio::test]
    async fn the_id_map_moves_to_its_new_keys_with_its_records() {
        use crate::{ChatKey, MappedMessage, Store, StoreKey, XmppIds};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/pontoon.db", dir.path().display());
        let key = || StoreKey::from_bytes([7; 32]);
        let chat = ChatKey {
            transport: "irc",
            account: "alice@example.org",
            chat: "#c",
        };
        let message = MappedMessage {
            legacy_id: "l1".into(),
            author: "bob".into(),
            own: false,
        };
        let ids = XmppIds {
            id: Some("x1".into()),
            stanza_id: Some("s1".into()),
            ..Default::default()
        };
        let store = Store::open(&url, key()).await.unwrap();
        store.put_message_ids(&chat, &message, &ids).await.unwrap();
        // Back to the table as version 20 left it, rows and all, on one connection (spread
        // over the pool's, the rename failed: "there is already another table or index
        // with this name").
        let mut conn = store.pool.acquire().await.unwrap();
        for stmt in [
            "CREATE TABLE old_ids AS SELECT * FROM message_ids",
            "DROP TABLE message_ids",
            "ALTER TABLE old_ids RENAME TO message_ids",
            "DELETE FROM schema_version WHERE version >= 21",
        ] {
            sqlx::query(stmt).execute(&mut *conn).await.unwrap();
        }
        drop(conn);
        store.close().await;
        let store = Store::open(&url, key()).await.unwrap();
        let sql: String =
            sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE name = 'message_ids'")
                .fetch_one(&store.pool)
                .await
                .unwrap();
        assert!(sql.ends_with("WITHOUT ROWID"), "{sql}");
        assert!(
            sql.contains("PRIMARY KEY (xmpp_id, transport, account, chat)"),
            "{sql}"
        );
        assert_eq!(
            store.legacy_message(&chat, "s1").await.unwrap(),
            Some(message)
        );
        assert_eq!(store.xmpp_message_ids(&chat, "l1").await.unwrap(), ids);
        store.close().await;
    }
}
