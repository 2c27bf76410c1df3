//! Pontoon's persistent state: registrations (bare JID + transport -> legacy login, with
//! the legacy secret encrypted at rest), the operator's per-transport policy, and the
//! web console's administrators and API tokens.
//!
//! One code path serves both backends: SQLite (the default, an embedded file created on
//! first run) and PostgreSQL (shared by several instances when scaling out). It goes
//! through sqlx's `Any` driver with runtime queries only (no `macros` feature, to keep
//! compile times down) and `$1`-style placeholders, which both backends accept (sqlx's
//! SQLite driver maps `$N` to the N-th bound argument). The few places where SQL differs
//! (DDL type names, the sort collation) switch on [`Backend`]. Integers are decoded as
//! `i64`, booleans are stored as 0/1 `SMALLINT` because the `Any` driver does not decode a
//! SQLite integer as `bool`. One exception: the batch writers' transactions (the id map's,
//! the archive's) run on a pool of sqlx's SQLite driver of their own when the store is an
//! SQLite file (`batch_tx`: `Any` copies every bound text twice), with the same SQL.
//!
//! Modules:
//! - `error`: [`StoreError`], the typed error for everything here.
//! - `crypto`: [`StoreKey`] and XChaCha20-Poly1305 sealing of secrets.
//! - `migrate`: our own ordered migrations, applied by [`Store::open`].
//! - `store`: opening/closing the pool, URL handling, SQLite durability settings.
//! - `batch_tx`, `multi_row`, `writers`: the batch writers' transaction, their multi-row
//!   inserts, and their tasks (finished before the store closes).
//! - `registrations`: [`Registration`] CRUD and listing.
//! - `policy`: [`TransportPolicy`] get/put/seed.
//! - `admins`: web console administrators ([`AdminAccount`]), argon2id password hashes.
//! - `tokens`: REST API bearer tokens ([`ApiToken`]), stored as SHA-256 digests.
//! - `audit`: the audit log of operator actions ([`AuditEntry`]).
//! - `cluster`: instances' heartbeats and session leases ([`Lease`]); `changes`: the
//!   PostgreSQL change feed ([`ChangeFeed`]).
//! - `archive`: the message archive (MAM) per room and per user, with who may read it.
//! - `message_ids`: the message id map (XMPP ids <-> legacy message ids, per [`ChatKey`]).
//! - `offline`: server mode's offline messages ([`OfflineMessage`]).
//! - `outbox`: messages waiting for the legacy connection ([`OutboxMessage`]).
//! - `links`: sealed links, self-contained tokens for URLs Pontoon hands out.
//! - `uploads`: XEP-0363 upload slots and stored files ([`Upload`]).
//! - `user_keys`: keys derived from a user's password ([`UserKey`]), for server mode.
//!
//! ```no_run
//! # async fn demo() -> Result<(), pontoon_store::StoreError> {
//! use pontoon_store::{Registration, Store, StoreKey};
//! let key = StoreKey::load_or_create(std::path::Path::new("/var/lib/pontoon/store.key"))?;
//! let store = Store::open("sqlite:///var/lib/pontoon/pontoon.db", key).await?;
//! let mut reg = Registration::new("alice@example.org", "irc", "alice");
//! reg.secret = Some("hunter2".into());
//! store.put_registration(&reg).await?;
//! # Ok(()) }
//! ```

mod account_data;
mod admins;
mod archive;
mod audit;
mod badges;
mod batch_tx;
mod changes;
mod cluster;
mod copy;
mod crypto;
mod error;
mod health;
mod links;
#[cfg(test)]
mod listing_tests;
mod maintenance;
mod message_ids;
mod migrate;
mod multi_row;
mod offline;
mod outbox;
mod passwords;
mod policy;
mod registrations;
mod rekey;
mod roster;
mod store;
mod tokens;
mod transport_state;
mod uploads;
mod user_keys;
mod writers;

#[cfg(test)]
mod tests;

pub use account_data::{MAX_ACCOUNT_DATA_BYTES, MAX_ACCOUNT_DATA_ITEMS};
pub use admins::{AdminAccount, MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS, check_new_password};
pub use archive::{
    ArchiveKey, ArchivePage, ArchiveQuery, ArchiveRecord, ArchiveWrite, ArchivedMessage,
    MAX_ARCHIVE_PAGE, MAX_ARCHIVED_STANZA_BYTES, SpanChange,
};
pub use audit::{AUDIT_KEEP_DAYS, AUDIT_KEEP_ROWS, AuditEntry, AuditPage, NewAuditEntry};
pub use changes::{Change, ChangeFeed};
pub use cluster::Lease;
pub use crypto::StoreKey;
pub use error::StoreError;
pub use links::MAX_LINK_TOKEN_CHARS;
pub use maintenance::SchemaStatus;
pub use message_ids::{
    ChatKey, MAX_MESSAGE_ID_BYTES, MappedMessage, MessageIds, ROOM_ACCOUNT, XmppIds,
};
pub use offline::{Delivery, MAX_OFFLINE_MESSAGES, OfflineMessage, OfflineQueues, away_queue};
pub use outbox::{MAX_OUTBOX_MESSAGES, OutboxChat, OutboxMessage};
pub use policy::{
    DEFAULT_ALWAYS_ONLINE_LIMIT, DEFAULT_HISTORY_DAYS, DEFAULT_HISTORY_PER_ROOM, TransportPolicy,
};
pub use registrations::{
    Fingerprint, OnlineFilter, Registration, RegistrationQuery, RegistrationSort,
};
pub use roster::{MAX_ROSTER_ITEMS, RosterItem};
pub use store::{Backend, Store};
pub use tokens::{ApiToken, TOKEN_PREFIX};
pub use transport_state::{MAX_STATE_KEY_BYTES, MAX_STATE_KEYS, MAX_STATE_VALUE_BYTES};
pub use uploads::{MAX_UPLOAD_NAME_BYTES, NewUpload, SlotOutcome, Upload};
pub use user_keys::UserKey;

/// Current time as unix seconds (the store's timestamp format).
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
