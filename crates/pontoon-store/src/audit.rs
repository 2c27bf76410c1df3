//! The audit log: one row per operator action (who, what, on which transport and user,
//! and a summary of the change that never holds a secret).
//!
//! Retention is applied at append: entries older than [`AUDIT_KEEP_DAYS`] and all but the
//! newest [`AUDIT_KEEP_ROWS`] are deleted in the same statement batch. Operator actions
//! are rare (a handful a day), so one indexed delete per action costs nothing, and the log
//! stays bounded even on a gateway whose retention task never runs.

use sqlx::Row;

use crate::error::StoreError;
use crate::registrations::like_pattern;
use crate::store::Store;

/// Entries older than this many days are deleted.
pub const AUDIT_KEEP_DAYS: i64 = 365;
/// At most this many entries are kept (the newest).
pub const AUDIT_KEEP_ROWS: i64 = 100_000;
/// Longest stored text per field (bytes, cut at a character boundary), so a huge input
/// cannot bloat the log.
const MAX_FIELD_BYTES: usize = 2048;

/// One stored operator action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    /// Increasing with time of writing.
    pub id: i64,
    /// Unix seconds.
    pub time: i64,
    /// Who: `console:<admin name>`, `token:<API token name>`, `cli`, or an admin's bare XMPP
    /// JID (ad-hoc commands).
    pub actor: String,
    /// What, a short fixed word such as `policy.change` or `registration.add`.
    pub action: String,
    /// The transport acted on.
    pub transport: String,
    /// The user acted on, if any (bare JID).
    pub subject: Option<String>,
    /// A summary of the change (no secrets).
    pub detail: String,
}

/// An action to record.
#[derive(Clone, Copy, Debug)]
pub struct NewAuditEntry<'a> {
    /// See [`AuditEntry::actor`].
    pub actor: &'a str,
    /// See [`AuditEntry::action`].
    pub action: &'a str,
    /// See [`AuditEntry::transport`].
    pub transport: &'a str,
    /// See [`AuditEntry::subject`].
    pub subject: Option<&'a str>,
    /// See [`AuditEntry::detail`].
    pub detail: &'a str,
}

/// One page of the log, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditPage {
    /// How many entries match the search.
    pub total: u64,
    /// The entries of this page.
    pub items: Vec<AuditEntry>,
}

/// `s` cut to at most [`MAX_FIELD_BYTES`] at a character boundary.
fn capped(s: &str) -> &str {
    if s.len() <= MAX_FIELD_BYTES {
        return s;
    }
    let mut end = MAX_FIELD_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

const SEARCH: &str = "(LOWER(actor) LIKE $1 ESCAPE '\\' OR LOWER(action) LIKE $1 ESCAPE '\\' \
    OR LOWER(transport) LIKE $1 ESCAPE '\\' OR LOWER(COALESCE(subject, '')) LIKE $1 ESCAPE '\\' \
    OR LOWER(detail) LIKE $1 ESCAPE '\\')";

impl Store {
    /// Records one operator action now, then trims the log (see the module docs).
    pub async fn append_audit(&self, e: &NewAuditEntry<'_>) -> Result<(), StoreError> {
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO audit_log (time, actor, action, transport, subject, detail)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(now)
        .bind(capped(e.actor))
        .bind(capped(e.action))
        .bind(capped(e.transport))
        .bind(e.subject.map(capped))
        .bind(capped(e.detail))
        .execute(&mut *tx)
        .await?;
        // Ids only grow, so "all but the newest N" is an id bound.
        sqlx::query(
            "DELETE FROM audit_log WHERE time < $1
             OR id <= (SELECT MAX(id) FROM audit_log) - $2",
        )
        .bind(now - AUDIT_KEEP_DAYS * 86_400)
        .bind(AUDIT_KEEP_ROWS)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Entries newest first, `limit` from `offset`, those whose actor, action, transport,
    /// subject or detail contain `search` (case-insensitive) when it is not empty.
    pub async fn audit_log(
        &self,
        search: &str,
        limit: u32,
        offset: u64,
    ) -> Result<AuditPage, StoreError> {
        let search = search.trim();
        let filter = if search.is_empty() {
            "($1 = '')".to_owned()
        } else {
            SEARCH.to_owned()
        };
        let pattern = if search.is_empty() {
            String::new()
        } else {
            like_pattern(search)
        };
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM audit_log WHERE {filter}"
        )))
        .bind(&pattern)
        .fetch_one(self.db()?)
        .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, time, actor, action, transport, subject, detail FROM audit_log
             WHERE {filter} ORDER BY id DESC LIMIT $2 OFFSET $3"
        )))
        .bind(&pattern)
        .bind(i64::from(limit))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(self.db()?)
        .await?;
        let items = rows
            .iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    time: r.try_get("time")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    transport: r.try_get("transport")?,
                    subject: r.try_get("subject")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(AuditPage {
            total: u64::try_from(total).unwrap_or(0),
            items,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn entry<'a>(actor: &'a str, action: &'a str, subject: Option<&'a str>) -> NewAuditEntry<'a> {
        NewAuditEntry {
            actor,
            action,
            transport: "irc",
            subject,
            detail: "enabled: false",
        }
    }

    /// Append, newest-first paging, search (escaped, case-insensitive) and trimming; part
    /// of the store's suite (`tests::run_suite`, SQLite and PostgreSQL alike).
    pub(crate) async fn suite(store: &Store) {
        assert_eq!(
            store.audit_log("", 10, 0).await.unwrap(),
            AuditPage::default()
        );
        store
            .append_audit(&entry("root", "policy.change", None))
            .await
            .unwrap();
        store
            .append_audit(&entry("api:ci", "registration.add", Some("Alice@x.org")))
            .await
            .unwrap();
        store
            .append_audit(&entry("cli", "registration.delete", Some("bob_1@x.org")))
            .await
            .unwrap();
        let all = store.audit_log("", 10, 0).await.unwrap();
        assert_eq!(all.total, 3);
        let actions: Vec<&str> = all.items.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            ["registration.delete", "registration.add", "policy.change"]
        );
        assert!(all.items[0].time > 0);
        assert_eq!(all.items[2].subject, None);
        assert_eq!(all.items[2].detail, "enabled: false");
        // Paging keeps the total.
        let page = store.audit_log("", 1, 1).await.unwrap();
        assert_eq!(page.total, 3);
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].action, "registration.add");
        // Search: every field, case-insensitive, LIKE characters literal.
        assert_eq!(store.audit_log("alice@", 10, 0).await.unwrap().total, 1);
        assert_eq!(store.audit_log("API:", 10, 0).await.unwrap().total, 1);
        assert_eq!(
            store.audit_log("registration.", 10, 0).await.unwrap().total,
            2
        );
        assert_eq!(store.audit_log("b_1", 10, 0).await.unwrap().total, 1);
        assert_eq!(store.audit_log("b%1", 10, 0).await.unwrap().total, 0);
        assert_eq!(store.audit_log("enabled", 10, 0).await.unwrap().total, 3);
        assert_eq!(store.audit_log("irc", 10, 0).await.unwrap().total, 3);
        // Old entries go at the next append.
        sqlx::query("UPDATE audit_log SET time = 1 WHERE action = 'policy.change'")
            .execute(store.db().unwrap())
            .await
            .unwrap();
        store
            .append_audit(&entry("root", "session.end", Some("c@x.org")))
            .await
            .unwrap();
        let all = store.audit_log("", 10, 0).await.unwrap();
        assert_eq!(all.total, 3);
        assert!(all.items.iter().all(|e| e.action != "policy.change"));
        assert_eq!(all.items[0].action, "session.end");
    }

    /// A SQLite store's log copied into PostgreSQL (`pontoon db copy`) keeps its entries, and
    /// the next append gets a fresh id (the serial's sequence is moved past the copied ids).
    #[tokio::test]
    async fn copied_into_postgres_then_appended() {
        let Some(schema) = crate::tests::PgSchema::create().await else {
            return;
        };
        let key = || crate::StoreKey::from_bytes([3; 32]);
        let from = Store::open("sqlite::memory:", key()).await.unwrap();
        for actor in ["a", "b"] {
            from.append_audit(&entry(actor, "policy.change", None))
                .await
                .unwrap();
        }
        let to = Store::open(&schema.url, key()).await.unwrap();
        from.copy_to(&to).await.unwrap();
        to.append_audit(&entry("c", "policy.change", None))
            .await
            .unwrap();
        let page = to.audit_log("", 10, 0).await.unwrap();
        let actors: Vec<&str> = page.items.iter().map(|e| e.actor.as_str()).collect();
        assert_eq!(actors, ["c", "b", "a"]);
        to.close().await;
        schema.drop().await;
    }

    #[test]
    fn long_fields_are_cut_at_a_character() {
        let long = "é".repeat(MAX_FIELD_BYTES);
        let cut = capped(&long);
        assert!(cut.len() <= MAX_FIELD_BYTES);
        assert!(cut.chars().all(|c| c == 'é'));
        assert_eq!(capped("short"), "short");
    }
}
