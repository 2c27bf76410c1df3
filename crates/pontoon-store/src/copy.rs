//! `pontoon db copy`: every row of one store into another, empty one, so an operator who
//! outgrows SQLite moves to PostgreSQL without losing registrations, rosters or the id map.
//!
//! Rows are copied column by column as found (integers, text, bytes, nulls), not through
//! the typed accessors: secrets stay encrypted with the same store key, timestamps and
//! revisions keep their values, and a table added by a later migration only needs adding to
//! [`TABLES`] (a test checks the list against the schema).

use sqlx::any::AnyRow;
use sqlx::{Column, Row, ValueRef};

use crate::Store;
use crate::error::StoreError;

/// Every table of the schema but `schema_version` (the destination's migrations write it),
/// in the order they are copied.
pub(crate) const TABLES: &[&str] = &[
    "transport_policies",
    "registrations",
    "registration_revisions",
    "admin_accounts",
    "api_tokens",
    "roster",
    "account_data",
    "message_ids",
    "transport_state",
    "audit_log",
    "uploads",
    "presence_badges",
    "archive",
    "archive_spans",
    "offline_messages",
    "outbox",
    "instances",
    "session_leases",
];

/// One value as found in a row.
enum Cell {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

impl Store {
    /// Copies every row of this store into `dest`, which must be at the same schema version
    /// (both opened by this build) and hold no registration, policy or console account yet.
    /// Reads in one transaction, so the copy is consistent even if a gateway still writes;
    /// writes in one transaction, so a failed copy leaves `dest` as it was. Returns the rows
    /// copied per table, in [`TABLES`] order.
    pub async fn copy_to(&self, dest: &Store) -> Result<Vec<(&'static str, u64)>, StoreError> {
        for table in ["registrations", "transport_policies", "admin_accounts"] {
            let n: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                    .fetch_one(dest.db()?)
                    .await?;
            if n > 0 {
                return Err(StoreError::Unsupported(
                    "the destination store is not empty (it has registrations, policies or console accounts); copy into a new database",
                ));
            }
        }
        let mut read = self.db()?.begin().await?;
        let mut write = dest.db()?.begin().await?;
        let mut copied = Vec::with_capacity(TABLES.len());
        for &table in TABLES {
            let rows: Vec<AnyRow> =
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
                    .fetch_all(&mut *read)
                    .await?;
            for row in &rows {
                let columns: Vec<&str> = row.columns().iter().map(|c| c.name()).collect();
                let cells = (0..columns.len())
                    .map(|i| cell(row, i))
                    .collect::<Result<Vec<Cell>, StoreError>>()?;
                // A NULL is written as the literal: bound, it has a type of its own (text),
                // which PostgreSQL refuses for a column of another (a smallint, a bytea).
                let mut n = 0;
                let marks: Vec<String> = cells
                    .iter()
                    .map(|c| match c {
                        Cell::Null => "NULL".to_owned(),
                        _ => {
                            n += 1;
                            format!("${n}")
                        }
                    })
                    .collect();
                let sql = format!(
                    "INSERT INTO {table} ({}) VALUES ({})",
                    columns.join(", "),
                    marks.join(", ")
                );
                let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
                for c in cells {
                    insert = match c {
                        Cell::Null => insert,
                        Cell::Int(v) => insert.bind(v),
                        Cell::Text(v) => insert.bind(v),
                        Cell::Bytes(v) => insert.bind(v),
                    };
                }
                insert.execute(&mut *write).await?;
            }
            copied.push((table, rows.len() as u64));
        }
        if dest.backend == crate::Backend::Postgres {
            // Copied ids do not advance the serials' sequences: move them past them.
            for (table, column) in [
                ("audit_log", "id"),
                ("archive", "seq"),
                ("offline_messages", "seq"),
                ("outbox", "seq"),
            ] {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), COALESCE(MAX({column}), 0) + 1, false) FROM {table}"
                )))
                .execute(&mut *write)
                .await?;
            }
        }
        write.commit().await?;
        read.rollback().await?;
        Ok(copied)
    }
}

/// Column `i` of `row`, as whichever of the schema's value kinds it holds.
fn cell(row: &AnyRow, i: usize) -> Result<Cell, StoreError> {
    if row.try_get_raw(i)?.is_null() {
        return Ok(Cell::Null);
    }
    if let Ok(v) = row.try_get::<i64, _>(i) {
        return Ok(Cell::Int(v));
    }
    if let Ok(v) = row.try_get::<i32, _>(i) {
        return Ok(Cell::Int(v.into()));
    }
    if let Ok(v) = row.try_get::<i16, _>(i) {
        return Ok(Cell::Int(v.into()));
    }
    if let Ok(v) = row.try_get::<String, _>(i) {
        return Ok(Cell::Text(v));
    }
    Ok(Cell::Bytes(row.try_get::<Vec<u8>, _>(i)?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::TABLES;
    use crate::{Registration, Store, StoreKey};

    async fn memory() -> Store {
        Store::open("sqlite::memory:", StoreKey::from_bytes([7; 32]))
            .await
            .unwrap()
    }

    /// The list names every table of the schema, so none is left behind.
    #[tokio::test]
    async fn every_table_is_copied() {
        let store = memory().await;
        let mut tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'schema_version'",
        )
        .fetch_all(store.db().unwrap())
        .await
        .unwrap();
        tables.sort();
        let mut listed: Vec<&str> = TABLES.to_vec();
        listed.sort_unstable();
        assert_eq!(tables, listed);
    }

    /// Rows arrive with their values, secrets still readable with the same key; a store
    /// that is not empty is refused.
    #[tokio::test]
    async fn rows_are_copied_as_found() {
        let (from, to) = (memory().await, memory().await);
        let mut r = Registration::new("alice@example.org", "irc", "alice");
        r.secret = Some("s3cret".into());
        from.put_registration(&r).await.unwrap();
        from.put_admin("root", "long enough").await.unwrap();
        let copied = from.copy_to(&to).await.unwrap();
        assert!(copied.contains(&("registrations", 1)), "{copied:?}");
        assert!(copied.contains(&("admin_accounts", 1)), "{copied:?}");
        let got = to
            .registration("alice@example.org", "irc")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.secret.as_deref(), Some("s3cret"));
        assert_eq!(
            got.updated_at,
            from.registration("alice@example.org", "irc")
                .await
                .unwrap()
                .unwrap()
                .updated_at
        );
        let again = from.copy_to(&to).await.unwrap_err();
        assert!(again.to_string().contains("not empty"), "{again}");
    }
}
