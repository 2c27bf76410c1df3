//! Registrations: which bare JID uses which legacy login on which transport.
//!
//! One row per (jid, transport). A unique index on (transport, legacy_id) guarantees that
//! one user never rides on another user's legacy login; [`Store::put_registration`]
//! checks it inside the write transaction and also maps the index's violation (two
//! concurrent puts racing on PostgreSQL) to [`StoreError::LegacyIdTaken`].
//!
//! Strings are compared exactly (the caller normalises JIDs and legacy ids, e.g. IRC nick
//! case folding, before calling in). The secret is encrypted per row (see `crypto`); the
//! options map is stored as JSON text.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::crypto::{open, registration_aad, seal};
use crate::error::StoreError;
use crate::migrate::LEGACY_ID_INDEX;
use crate::store::{Backend, Store};

/// A user's registration with one transport.
#[derive(Clone, PartialEq, Eq)]
pub struct Registration {
    /// Bare JID of the XMPP user.
    pub jid: String,
    /// Transport name (e.g. `"irc"`).
    pub transport: String,
    /// The user's login on the legacy network; unique per transport.
    pub legacy_id: String,
    /// Legacy password or token, plaintext in memory only (encrypted in the database).
    /// `None` is stored as NULL (also on update: it clears a previously stored secret).
    pub secret: Option<String>,
    /// Per-registration options (e.g. `"network" => "irc.libera.chat"`).
    pub options: BTreeMap<String, String>,
    /// Unix seconds of the first put; set by the store, preserved on update.
    pub created_at: i64,
    /// Unix seconds of the latest put; set by the store.
    pub updated_at: i64,
    /// Unix seconds of the latest successful legacy login (see [`Store::record_login`]);
    /// `None` until the first. Set by the store, ignored by puts.
    pub last_login_at: Option<i64>,
    /// The user's choice to stay online while away (`None`: the transport's default). Set
    /// with [`Store::set_always_online`], ignored by puts.
    pub always_online: Option<bool>,
}

impl Registration {
    /// A registration without secret or options; timestamps are filled in by the store.
    pub fn new(
        jid: impl Into<String>,
        transport: impl Into<String>,
        legacy_id: impl Into<String>,
    ) -> Registration {
        Registration {
            jid: jid.into(),
            transport: transport.into(),
            legacy_id: legacy_id.into(),
            secret: None,
            options: BTreeMap::new(),
            created_at: 0,
            updated_at: 0,
            last_login_at: None,
            always_online: None,
        }
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("jid", &self.jid)
            .field("transport", &self.transport)
            .field("legacy_id", &self.legacy_id)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("options", &self.options)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("last_login_at", &self.last_login_at)
            .field("always_online", &self.always_online)
            .finish()
    }
}

/// See [`Store::registrations_fingerprint`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint(i64);

/// Filter, order and page for [`Store::list_registrations`].
#[derive(Clone, Debug, Default)]
pub struct RegistrationQuery {
    /// Only this transport, if set.
    pub transport: Option<String>,
    /// Case-insensitive substring of the JID or the legacy id, if set. (On SQLite case
    /// folding is ASCII-only; on PostgreSQL it is Unicode-aware.)
    pub search: Option<String>,
    /// Only the registrations whose (transport, JID) is in `online.keys` (`online.keep`
    /// true) or is not (false), if set: the caller knows who has a live session.
    pub online: Option<OnlineFilter>,
    /// The order of the rows.
    pub sort: RegistrationSort,
    /// Newest or last first instead of the sort's natural order.
    pub descending: bool,
    /// Page size; 0 means 100.
    pub limit: u32,
    /// Rows to skip.
    pub offset: u32,
}

/// The users with a live session, for [`RegistrationQuery::online`].
#[derive(Clone, Debug, Default)]
pub struct OnlineFilter {
    /// Keep the registrations in `users` (true) or those not in it (false).
    pub keep: bool,
    /// (transport, bare JID) of every user with a session.
    pub users: Vec<(String, String)>,
}

/// How [`Store::list_registrations`] orders its rows; ties are broken by JID then
/// transport, so pages never overlap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RegistrationSort {
    /// By JID, then transport (byte order).
    #[default]
    Jid,
    /// By transport, then JID.
    Transport,
    /// By the latest login; registrations that never logged in come last.
    LastLogin,
    /// By the time the registration was made.
    Created,
}

impl RegistrationSort {
    /// Every sort by its name in the API (`jid`, `transport`, `last_login`, `created`).
    pub const NAMES: [(&'static str, RegistrationSort); 4] = [
        ("jid", RegistrationSort::Jid),
        ("transport", RegistrationSort::Transport),
        ("last_login", RegistrationSort::LastLogin),
        ("created", RegistrationSort::Created),
    ];

    /// The sort named `name`, if any.
    pub fn from_name(name: &str) -> Option<RegistrationSort> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
    }

    /// The `ORDER BY` list (a fixed string: nothing from the request goes into it).
    fn order_by(self, backend: Backend, descending: bool) -> String {
        let c = match backend {
            Backend::Sqlite => "",
            Backend::Postgres => " COLLATE \"C\"",
        };
        let dir = if descending { " DESC" } else { "" };
        let (jid, transport) = (format!("jid{c}"), format!("transport{c}"));
        match self {
            RegistrationSort::Jid => format!("{jid}{dir}, {transport}{dir}"),
            RegistrationSort::Transport => format!("{transport}{dir}, {jid}{dir}"),
            // NULLs (never logged in) last either way; both backends know CASE.
            RegistrationSort::LastLogin => format!(
                "CASE WHEN last_login_at IS NULL THEN 1 ELSE 0 END, last_login_at{dir}, {jid}, {transport}"
            ),
            RegistrationSort::Created => format!("created_at{dir}, {jid}, {transport}"),
        }
    }
}

const DEFAULT_LIMIT: u32 = 100;
const COLUMNS: &str = "jid, transport, legacy_id, secret, options, created_at, updated_at, last_login_at, always_online";

impl Store {
    /// Inserts or updates the registration of (`reg.jid`, `reg.transport`).
    ///
    /// Sets `created_at` on insert (preserved on update) and `updated_at` always, strictly
    /// increasing on every write of a row even within one second, so it works as the row's
    /// revision; the timestamps in `reg` are ignored. Fails with [`StoreError::LegacyIdTaken`] if another
    /// JID already holds (`transport`, `legacy_id`). The secret is encrypted with a fresh
    /// nonce and the row's associated data; `secret: None` stores NULL.
    pub async fn put_registration(&self, reg: &Registration) -> Result<(), StoreError> {
        let secret = match &reg.secret {
            Some(s) => Some(seal(
                &self.cipher,
                &registration_aad(&reg.jid, &reg.transport),
                s.as_bytes(),
            )?),
            None => None,
        };
        let options = encode_json(&reg.options)?;
        let now = crate::now();
        let taken = || StoreError::LegacyIdTaken {
            transport: reg.transport.clone(),
            legacy_id: reg.legacy_id.clone(),
        };

        let mut tx = self.begin_write().await?;
        let holder: Option<String> = sqlx::query_scalar(
            "SELECT jid FROM registrations WHERE transport = $1 AND legacy_id = $2 AND jid <> $3",
        )
        .bind(&reg.transport)
        .bind(&reg.legacy_id)
        .bind(&reg.jid)
        .fetch_optional(&mut *tx)
        .await?;
        if holder.is_some() {
            return Err(taken());
        }
        let res = sqlx::query(
            "INSERT INTO registrations
                (jid, transport, legacy_id, secret, options, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (jid, transport) DO UPDATE SET
                legacy_id = excluded.legacy_id,
                secret = excluded.secret,
                options = excluded.options,
                updated_at = CASE WHEN excluded.updated_at > registrations.updated_at
                                  THEN excluded.updated_at
                                  ELSE registrations.updated_at + 1 END",
        )
        .bind(&reg.jid)
        .bind(&reg.transport)
        .bind(&reg.legacy_id)
        .bind(secret)
        .bind(options)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match res {
            Ok(_) => {}
            Err(e) if is_legacy_id_violation(&e) => return Err(taken()),
            Err(e) => return Err(e.into()),
        }
        bump_revision(&mut tx, &reg.transport).await?;
        match tx.commit().await {
            Ok(()) => Ok(()),
            Err(e) if is_legacy_id_violation(&e) => Err(taken()),
            Err(e) => Err(e.into()),
        }
    }

    /// The registration of `jid` with `transport`, if any.
    pub async fn registration(
        &self,
        jid: &str,
        transport: &str,
    ) -> Result<Option<Registration>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM registrations WHERE jid = $1 AND transport = $2"
        )))
        .bind(jid)
        .bind(transport)
        .fetch_all(self.db()?)
        .await?
        .into_iter()
        .next();
        row.map(|r| self.decode(&r)).transpose()
    }

    /// The registration holding `legacy_id` on `transport`, if any.
    pub async fn registration_by_legacy_id(
        &self,
        transport: &str,
        legacy_id: &str,
    ) -> Result<Option<Registration>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM registrations WHERE transport = $1 AND legacy_id = $2"
        )))
        .bind(transport)
        .bind(legacy_id)
        .fetch_all(self.db()?)
        .await?
        .into_iter()
        .next();
        row.map(|r| self.decode(&r)).transpose()
    }

    /// Deletes the registration of `jid` with `transport`; `true` if a row was deleted.
    pub async fn delete_registration(
        &self,
        jid: &str,
        transport: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let res = sqlx::query("DELETE FROM registrations WHERE jid = $1 AND transport = $2")
            .bind(jid)
            .bind(transport)
            .execute(&mut *tx)
            .await?;
        let deleted = res.rows_affected() > 0;
        if deleted {
            bump_revision(&mut tx, transport).await?;
            // The transport's state for the account goes with it (tokens included).
            sqlx::query("DELETE FROM transport_state WHERE transport = $1 AND account = $2")
                .bind(transport)
                .bind(jid)
                .execute(&mut *tx)
                .await?;
            // So does the choice to show their presence.
            sqlx::query("DELETE FROM presence_badges WHERE transport = $1 AND jid = $2")
                .bind(transport)
                .bind(jid)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    /// Registrations matching `q`, in `q.sort` order (text in byte order on both
    /// backends), one page of at most `q.limit` (0 => 100) rows after `q.offset`.
    pub async fn list_registrations(
        &self,
        q: &RegistrationQuery,
    ) -> Result<Vec<Registration>, StoreError> {
        let (filter, n) = Filter::of(q, self.backend)?;
        let mut sql = format!("SELECT {COLUMNS} FROM registrations{}", filter.sql);
        sql.push_str(" ORDER BY ");
        sql.push_str(&q.sort.order_by(self.backend, q.descending));
        sql.push_str(&format!(" LIMIT ${} OFFSET ${}", n + 1, n + 2));

        let query = filter.bind(sqlx::query(AssertSqlSafe(sql)));
        let limit = if q.limit == 0 { DEFAULT_LIMIT } else { q.limit };
        let rows = query
            .bind(i64::from(limit))
            .bind(i64::from(q.offset))
            .fetch_all(self.db()?)
            .await?;
        rows.iter().map(|r| self.decode(r)).collect()
    }

    /// Notes that `jid`'s registration with `transport` logged in now (no row changes
    /// when there is none). Neither the registration's revision nor `updated_at` moves:
    /// a login is not an edit, and running services must not reload for it.
    pub async fn record_login(&self, jid: &str, transport: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE registrations SET last_login_at = $1 WHERE jid = $2 AND transport = $3",
        )
        .bind(crate::now())
        .bind(jid)
        .bind(transport)
        .execute(self.db()?)
        .await?;
        Ok(())
    }

    /// Records `jid`'s choice to stay online on `transport` while away (`None`: the
    /// transport's default); false when there is no such registration. Like
    /// [`Store::record_login`], the revision does not move: running services are told by
    /// the operation that made the change.
    pub async fn set_always_online(
        &self,
        jid: &str,
        transport: &str,
        on: Option<bool>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE registrations SET always_online = $1 WHERE jid = $2 AND transport = $3",
        )
        .bind(on.map(i16::from))
        .bind(jid)
        .bind(transport)
        .execute(self.db()?)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The users of `transport` who stay online while away: those who chose so, and with
    /// `default` those who did not choose; oldest registration first.
    pub async fn always_online_users(
        &self,
        transport: &str,
        default: bool,
    ) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT jid FROM registrations WHERE transport = $1
             AND COALESCE(always_online, $2) = 1 ORDER BY created_at, jid",
        )
        .bind(transport)
        .bind(i16::from(default))
        .fetch_all(self.db()?)
        .await?;
        Ok(rows.into_iter().map(|(j,)| j).collect())
    }

    /// Deletes the secret of `jid`'s registration with `transport` (the transport keeps a
    /// token of its own instead). Like [`Store::record_login`], the revision does not move:
    /// the login that used the secret is the one running.
    pub async fn forget_registration_secret(
        &self,
        jid: &str,
        transport: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE registrations SET secret = NULL WHERE jid = $1 AND transport = $2")
            .bind(jid)
            .bind(transport)
            .execute(self.db()?)
            .await?;
        Ok(())
    }

    /// The revision of a transport's registrations: a counter bumped by every write and
    /// delete, in the same transaction. A running gateway polls it to notice operators'
    /// changes (from the CLI or another instance) without reading every registration.
    pub async fn registrations_fingerprint(
        &self,
        transport: &str,
    ) -> Result<Fingerprint, StoreError> {
        let revision: Option<i64> =
            sqlx::query_scalar("SELECT revision FROM registration_revisions WHERE transport = $1")
                .bind(transport)
                .fetch_all(self.db()?)
                .await?
                .into_iter()
                .next();
        Ok(Fingerprint(revision.unwrap_or(0)))
    }

    /// Number of registrations, on one transport or on all.
    pub async fn count_registrations(&self, transport: Option<&str>) -> Result<u64, StoreError> {
        let n: i64 = match transport {
            Some(t) => {
                sqlx::query_scalar("SELECT COUNT(*) FROM registrations WHERE transport = $1")
                    .bind(t)
                    .fetch_all(self.db()?)
                    .await?
            }
            None => {
                sqlx::query_scalar("SELECT COUNT(*) FROM registrations")
                    .fetch_all(self.db()?)
                    .await?
            }
        }
        .into_iter()
        .next()
        .unwrap_or(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Number of registrations matching `q`'s `transport` and `search`, exactly as
    /// [`Store::list_registrations`] filters them (`limit` and `offset` are ignored).
    pub async fn count_registrations_matching(
        &self,
        q: &RegistrationQuery,
    ) -> Result<u64, StoreError> {
        let (filter, _) = Filter::of(q, self.backend)?;
        let sql = format!("SELECT COUNT(*) FROM registrations{}", filter.sql);
        let n: i64 = match filter
            .bind(sqlx::query(AssertSqlSafe(sql)))
            .fetch_all(self.db()?)
            .await?
            .first()
        {
            Some(row) => row.try_get(0)?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn decode(&self, row: &AnyRow) -> Result<Registration, StoreError> {
        let jid: String = row.try_get("jid")?;
        let transport: String = row.try_get("transport")?;
        let blob: Option<Vec<u8>> = row.try_get("secret")?;
        let secret = match blob {
            Some(b) => {
                let plain = open(&self.cipher, &registration_aad(&jid, &transport), &b)?;
                Some(
                    String::from_utf8(plain)
                        .map_err(|_| StoreError::Crypto("decrypted secret is not UTF-8"))?,
                )
            }
            None => None,
        };
        let options: String = row.try_get("options")?;
        Ok(Registration {
            legacy_id: row.try_get("legacy_id")?,
            secret,
            options: decode_json(&options, "registration options")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            last_login_at: row.try_get("last_login_at")?,
            always_online: row
                .try_get::<Option<i64>, _>("always_online")?
                .map(|v| v != 0),
            jid,
            transport,
        })
    }
}

/// The `WHERE` clause of a [`RegistrationQuery`] and the values it binds, shared by the
/// listing and the count so both always agree.
struct Filter {
    /// ` WHERE ...` with placeholders `$1`, `$2`... (empty without a filter).
    sql: String,
    transport: Option<String>,
    pattern: Option<String>,
    /// The online users as a JSON array of `"transport/jid"` strings.
    online: Option<String>,
}

impl Filter {
    /// The filter of `q` and the number of placeholders it uses.
    fn of(q: &RegistrationQuery, backend: Backend) -> Result<(Filter, usize), StoreError> {
        let mut clauses = Vec::new();
        let mut n = 0;
        if q.transport.is_some() {
            n += 1;
            clauses.push(format!("transport = ${n}"));
        }
        let pattern = q.search.as_deref().map(like_pattern);
        if pattern.is_some() {
            n += 1;
            clauses.push(format!(
                "(LOWER(jid) LIKE ${n} ESCAPE '\\' OR LOWER(legacy_id) LIKE ${n} ESCAPE '\\')"
            ));
        }
        // One bound JSON array, however many users are online (no statement per user, no
        // placeholder limit): "transport/jid" is unambiguous, a bare JID has no '/'.
        let online = match &q.online {
            Some(o) => {
                n += 1;
                let set = match backend {
                    Backend::Sqlite => format!("SELECT value FROM json_each(${n})"),
                    Backend::Postgres => format!("SELECT json_array_elements_text(${n}::json)"),
                };
                let not = if o.keep { "" } else { "NOT " };
                clauses.push(format!("(transport || '/' || jid) {not}IN ({set})"));
                let keys: Vec<String> = o.users.iter().map(|(t, j)| format!("{t}/{j}")).collect();
                Some(encode_json(&keys)?)
            }
            None => None,
        };
        let sql = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        Ok((
            Filter {
                sql,
                transport: q.transport.clone(),
                pattern,
                online,
            },
            n,
        ))
    }

    /// Binds the filter's values, in placeholder order.
    fn bind(
        self,
        mut query: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
        if let Some(t) = self.transport {
            query = query.bind(t);
        }
        if let Some(p) = self.pattern {
            query = query.bind(p);
        }
        if let Some(o) = self.online {
            query = query.bind(o);
        }
        query
    }
}

/// `%needle%` lower-cased, with LIKE metacharacters escaped by `\`.
pub(crate) fn like_pattern(needle: &str) -> String {
    let mut p = String::with_capacity(needle.len() + 2);
    p.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Whether `e` is a violation of the (transport, legacy_id) unique index.
pub(crate) fn is_legacy_id_violation(e: &sqlx::Error) -> bool {
    let Some(db) = e.as_database_error() else {
        return false;
    };
    if !matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation) {
        return false;
    }
    // PostgreSQL names the index; SQLite names the columns.
    db.constraint() == Some(LEGACY_ID_INDEX)
        || db.message().contains(LEGACY_ID_INDEX)
        || db.message().contains("registrations.legacy_id")
}

pub(crate) fn encode_json<T: serde::Serialize + ?Sized>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("cannot encode JSON: {e}")))
}

pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(
    s: &str,
    what: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// Bumps the registrations revision of `transport` inside the caller's transaction.
async fn bump_revision(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    transport: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO registration_revisions (transport, revision) VALUES ($1, 1)
         ON CONFLICT (transport) DO UPDATE SET revision = registration_revisions.revision + 1",
    )
    .bind(transport)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_escaping() {
        assert_eq!(like_pattern("A_b%c\\"), "%a\\_b\\%c\\\\%");
    }

    #[test]
    fn debug_redacts_secret() {
        let mut r = Registration::new("a@b", "irc", "nick");
        r.secret = Some("hunter2".into());
        let s = format!("{r:?}");
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("<redacted>"));
    }
}
