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
    Database(#[from] sqlx::Error),

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
    #[error("invalid password: {0}")]
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
}
