//! What `pontoon db` shows and does: a store's schema as found, without migrating it, and a
//! consistent copy of an SQLite store taken while the gateway runs.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use sqlx::{AnyConnection, Connection, Row};

use crate::error::StoreError;
use crate::migrate::{MIGRATIONS, latest_version};
use crate::policy::{COLUMNS, decode_policy};
use crate::store::parse_url;
use crate::{Backend, Store, TransportPolicy};

/// A store's schema as found, before any migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// The database engine.
    pub backend: Backend,
    /// The version applied; `None` when there is no database yet (no SQLite file).
    pub version: Option<i64>,
    /// The newest version this build knows.
    pub latest: i64,
    /// The migrations this build would apply at the next start: version and summary.
    pub pending: Vec<(i64, &'static str)>,
}

impl Store {
    /// The schema of the store at `url`, read without changing anything: an SQLite file that
    /// does not exist is not created.
    pub async fn schema_status(url: &str) -> Result<SchemaStatus, StoreError> {
        sqlx::any::install_default_drivers();
        let target = parse_url(url)?;
        let latest = latest_version();
        let pending_after = |v: i64| -> Vec<(i64, &'static str)> {
            MIGRATIONS
                .iter()
                .filter(|m| m.version > v)
                .map(|m| (m.version, m.description))
                .collect()
        };
        if target.file.as_ref().is_some_and(|f| !f.exists()) {
            return Ok(SchemaStatus {
                backend: target.backend,
                version: None,
                latest,
                pending: pending_after(0),
            });
        }
        let mut conn = AnyConnection::connect(&target.any_url).await?;
        let version: i64 =
            match sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(version) FROM schema_version")
                .fetch_one(&mut conn)
                .await
            {
                Ok(v) => v.unwrap_or(0),
                // No schema_version table: a database Pontoon never opened.
                Err(sqlx::Error::Database(_)) => 0,
                Err(e) => return Err(e.into()),
            };
        conn.close().await?;
        Ok(SchemaStatus {
            backend: target.backend,
            version: Some(version),
            latest,
            pending: pending_after(version),
        })
    }

    /// The transports' policies in the store at `url`, read without changing anything (no
    /// migration, no file created), for `check-config`'s comparison with the file. `None`
    /// when there is no store yet, or its schema is not this build's (the comparison would
    /// not be meaningful before the migrations the next start applies).
    pub async fn stored_policies(
        url: &str,
    ) -> Result<Option<Vec<(String, TransportPolicy)>>, StoreError> {
        let status = Store::schema_status(url).await?;
        if status.version != Some(status.latest) {
            return Ok(None);
        }
        let target = parse_url(url)?;
        let mut conn = AnyConnection::connect(&target.any_url).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM transport_policies ORDER BY transport"
        )))
        .fetch_all(&mut conn)
        .await?;
        conn.close().await?;
        let policies = rows
            .iter()
            .map(|r| Ok((r.try_get("transport")?, decode_policy(r)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some(policies))
    }

    /// Writes a consistent copy of an SQLite store to `dest` (a new file, mode 0600) while it
    /// is in use (`VACUUM INTO`: one read transaction, so writers are not stopped). The copy
    /// holds secrets encrypted with the store key, which is not in it: back the key up too.
    /// PostgreSQL stores are copied with PostgreSQL's own tools.
    pub async fn backup_to(&self, dest: &Path) -> Result<(), StoreError> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Unsupported(
                "db backup copies SQLite stores; for PostgreSQL use pg_dump (e.g. pg_dump -Fc -f pontoon.dump \"$URL\")",
            ));
        }
        let path = dest.to_str().ok_or_else(|| {
            StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the backup path is not UTF-8",
            ))
        })?;
        // VACUUM INTO takes an empty file: create it first, private, and never over another.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dest)?;
        let quoted = path.replace('\'', "''");
        let done = sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM INTO '{quoted}'")))
            .execute(self.db()?)
            .await;
        if let Err(e) = done {
            let _ = std::fs::remove_file(dest);
            return Err(e.into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Registration, StoreKey};

    #[tokio::test]
    async fn status_reads_without_creating_and_backup_copies() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/pontoon.db", dir.path().display());
        let none = Store::schema_status(&url).await.unwrap();
        assert_eq!(none.version, None);
        assert_eq!(none.pending.len(), MIGRATIONS.len());
        assert!(
            !dir.path().join("pontoon.db").exists(),
            "status created the file"
        );

        let store = Store::open(&url, StoreKey::from_bytes([3; 32]))
            .await
            .unwrap();
        store
            .put_registration(&Registration::new("a@example.org", "irc", "alice"))
            .await
            .unwrap();
        let now = Store::schema_status(&url).await.unwrap();
        assert_eq!(now.version, Some(latest_version()));
        assert!(now.pending.is_empty());

        let copy = dir.path().join("it's a copy.db");
        store.backup_to(&copy).await.unwrap();
        assert!(store.backup_to(&copy).await.is_err(), "overwrote a file");
        let copy_url = format!("sqlite://{}", copy.display()).replace(' ', "%20");
        let back = Store::open(&copy_url, StoreKey::from_bytes([3; 32]))
            .await
            .unwrap();
        assert!(
            back.registration("a@example.org", "irc")
                .await
                .unwrap()
                .is_some()
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
