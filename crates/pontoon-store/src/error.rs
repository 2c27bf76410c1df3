//! The store's typed error.
//!
//! One enum for every fallible store operation so callers can react to the cases that
//! matter to them (a legacy login already in use, a key that does not decrypt the data)
//! without string matching. No variant ever carries a plaintext secret or key material:
//! bound query parameters never appear in sqlx error messages, secrets only ever reach the
//! database encrypted, and key errors describe the problem, not the bytes.

/// Errors returned by [`crate::Store`] and [`crate::StoreKey`].
#[derive(thiserror::Error, Debug)]
pub enum StoreError {
    /// The database reported an error (connection, SQL, constraint other than the ones
    /// mapped to dedicated variants).
    #[error("database error: {0}")]
    Database(sqlx::Error),

    /// The database server does not answer (PostgreSQL stopped or unreachable): refused at
    /// once until it answers again (see `health.rs`).
    #[error("the store's database has not answered for {for_secs} s")]
    Unreachable {
        /// How long it has not answered.
        for_secs: u64,
    },

    /// The operation does not exist for this backend (e.g. `db backup` on PostgreSQL,
    /// which has its own tools); the text says what to use instead.
    #[error("{0}")]
    Unsupported(&'static str),

    /// The database's disk is full (SQLite `SQLITE_FULL`, PostgreSQL `53100 disk_full`):
    /// writes fail until space is freed, reads still work. Told apart so that users are
    /// told to wait, not that the gateway is broken.
    #[error("the store's disk is full: {0}")]
    Full(sqlx::Error),

    /// Another bare JID is already registered with this legacy id on this transport.
    /// One user must never ride on another's legacy login.
    #[error(
        "legacy id {legacy_id:?} is already registered by another user on transport {transport:?}"
    )]
    LegacyIdTaken {
        /// Transport name.
        transport: String,
        /// The legacy id that is already taken.
        legacy_id: String,
    },

    /// A stored secret could not be decrypted: wrong store key or a tampered/moved row.
    #[error("cannot decrypt stored secret: {0}")]
    Crypto(&'static str),

    /// The store key is unusable (wrong length, bad base64, ...).
    #[error("invalid store key: {0}")]
    Key(String),

    /// File-system error (key file, SQLite directory).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// The database URL is not one the store understands. Never contains the URL's
    /// password.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),

    /// A row holds data the store cannot parse (e.g. an options column that is not the
    /// JSON the store writes).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),

    /// The database was migrated by a newer Pontoon than this one.
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// Version recorded in the database.
        found: i64,
        /// Highest version this build knows.
        supported: i64,
    },

    /// An administrator or API token name is not acceptable.
    #[error("invalid {what}: {reason}")]
    InvalidName {
        /// Which kind of name ("administrator name", "token name").
        what: &'static str,
        /// Why it is refused.
        reason: &'static str,
    },

    /// An administrator password is not acceptable (empty or too long).
    #[error("the password {0}")]
    InvalidPassword(&'static str),

    /// Password hashing failed (never contains the password).
    #[error("password hashing failed: {0}")]
    Hashing(String),

    /// An API token with this name already exists.
    #[error("an API token named {0:?} already exists")]
    TokenNameTaken(String),
    /// A server-mode roster already holds the most items allowed.
    #[error("the roster is full ({0} items at most)")]
    RosterFull(i64),
    /// A server-mode account already holds the most data items of one kind allowed.
    #[error("too many stored items ({0} at most)")]
    AccountDataFull(i64),
    /// A server-mode account data item is larger than allowed.
    #[error("the item is too large ({0} bytes at most)")]
    AccountDataTooLarge(usize),
    /// No store is behind this handle (a transport's own tests).
    #[error("no store is available here")]
    Unavailable,
    /// A transport state key or value is larger than allowed, or there are too many keys.
    #[error(
        "transport state: keys of 1 to {key} bytes, values of at most {value} bytes, {keys} keys per account"
    )]
    StateTooLarge {
        /// Longest key.
        key: usize,
        /// Largest value.
        value: usize,
        /// Most keys.
        keys: i64,
    },
    /// A message id is empty or longer than allowed, or a message has too many ids.
    #[error("a message id must be 1 to {0} bytes, at most 8 per message")]
    BadMessageId(usize),
    /// An archived message is larger than allowed, or names no id.
    #[error("archive: {0}")]
    Invalid(&'static str),
    /// What a query names (a message of an archive) is not there.
    #[error("not found")]
    NotFound,
}

impl StoreError {
    /// Whether the database server is known not to answer (logged once by the store when
    /// it goes; callers that retry on their own need not log each failure).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, StoreError::Unreachable { .. })
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if is_disk_full(&e) {
            StoreError::Full(e)
        } else {
            StoreError::Database(e)
        }
    }
}

/// SQLite's result code 13 (`SQLITE_FULL`, which has no extended codes) and PostgreSQL's
/// SQLSTATE `53100` (`disk_full`).
fn is_disk_full(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("13") | Some("53100")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;

    /// SQLite's own "disk full": a database capped at a few pages.
    #[tokio::test]
    async fn sqlite_full_is_told_apart() {
        let mut db = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .expect("in-memory SQLite");
        sqlx::query("CREATE TABLE t (b BLOB)")
            .execute(&mut db)
            .await
            .expect("create");
        sqlx::query("PRAGMA max_page_count = 4")
            .execute(&mut db)
            .await
            .expect("cap");
        let mut failed = None;
        for _ in 0..100 {
            if let Err(e) = sqlx::query("INSERT INTO t VALUES (zeroblob(4096))")
                .execute(&mut db)
                .await
            {
                failed = Some(e);
                break;
            }
        }
        let e = StoreError::from(failed.expect("the capped database fills up"));
        assert!(matches!(e, StoreError::Full(_)), "{e:?}");
        assert!(e.to_string().contains("disk is full"), "{e}");
    }

    #[test]
    fn other_errors_stay_database_errors() {
        let e = StoreError::from(sqlx::Error::RowNotFound);
        assert!(matches!(e, StoreError::Database(_)), "{e:?}");
    }
}
