//! Presence badges: the users who chose to show their presence on a transport over HTTP
//! (`pontoon_http`'s presence routes). Off unless a row is here; a row holds nothing but
//! the choice. Kept apart from registrations: server mode has none, and a registration's
//! options are the transport's (rewritten by every edit of the registration).

use crate::error::StoreError;
use crate::store::Store;

impl Store {
    /// Whether `jid` shows their presence on `transport` over HTTP.
    pub async fn presence_badge(&self, transport: &str, jid: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT created_at FROM presence_badges WHERE transport = $1 AND jid = $2",
        )
        .bind(transport)
        .bind(jid)
        .fetch_optional(self.db()?)
        .await?;
        Ok(found.is_some())
    }

    /// Turns `jid`'s presence badge on `transport` on or off; returns whether that changed
    /// anything.
    pub async fn set_presence_badge(
        &self,
        transport: &str,
        jid: &str,
        on: bool,
    ) -> Result<bool, StoreError> {
        // One statement each way: the row count says whether anything changed.
        let res = if on {
            sqlx::query(
                "INSERT INTO presence_badges (transport, jid, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT (transport, jid) DO NOTHING",
            )
            .bind(transport)
            .bind(jid)
            .bind(crate::now())
            .execute(self.db()?)
            .await?
        } else {
            sqlx::query("DELETE FROM presence_badges WHERE transport = $1 AND jid = $2")
                .bind(transport)
                .bind(jid)
                .execute(self.db()?)
                .await?
        };
        let changed = res.rows_affected() > 0;
        Ok(changed)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::{Registration, Store};

    /// Off until turned on, per transport, and gone with the registration; part of the
    /// store's suite (`tests::run_suite`, SQLite and PostgreSQL alike).
    pub(crate) async fn suite(store: &Store) {
        let (t, u) = ("badgenet", "badge@example.org");
        assert!(!store.presence_badge(t, u).await.unwrap());
        assert!(store.set_presence_badge(t, u, true).await.unwrap());
        assert!(!store.set_presence_badge(t, u, true).await.unwrap());
        assert!(store.presence_badge(t, u).await.unwrap());
        assert!(!store.presence_badge("othernet", u).await.unwrap());
        assert!(store.set_presence_badge(t, u, false).await.unwrap());
        assert!(!store.set_presence_badge(t, u, false).await.unwrap());
        assert!(!store.presence_badge(t, u).await.unwrap());

        store
            .put_registration(&Registration::new(u, t, "badge-user"))
            .await
            .unwrap();
        store.set_presence_badge(t, u, true).await.unwrap();
        assert!(store.delete_registration(u, t).await.unwrap());
        assert!(!store.presence_badge(t, u).await.unwrap());
    }
}
