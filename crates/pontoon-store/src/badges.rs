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
        let mut tx = self.begin_write().await?;
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT created_at FROM presence_badges WHERE transport = $1 AND jid = $2",
        )
        .bind(transport)
        .bind(jid)
        .fetch_optional(&mut *tx)
        .await?;
        let changed = match (found.is_some(), on) {
            (false, true) => {
                sqlx::query(
                    "INSERT INTO presence_badges (transport, jid, created_at) VALUES ($1, $2, $3)",
                )
                .bind(transport)
                .bind(jid)
                .bind(crate::now())
                .execute(&mut *tx)
                .await?;
                true
            }
            (true, false) => {
                sqlx::query("DELETE FROM presence_badges WHERE transport = $1 AND jid = $2")
                    .bind(transport)
                    .bind(jid)
                    .execute(&mut *tx)
                    .await?;
                true
            }
            _ => false,
        };
        tx.commit().await?;
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::{Store, StoreKey};

    #[tokio::test]
    async fn badges_are_off_until_turned_on_and_go_with_the_registration() {
        let store = Store::open("sqlite::memory:", StoreKey::from_bytes([7; 32]))
            .await
            .unwrap();
        assert!(!store.presence_badge("irc", "a@example.org").await.unwrap());
        assert!(
            store
                .set_presence_badge("irc", "a@example.org", true)
                .await
                .unwrap()
        );
        assert!(
            !store
                .set_presence_badge("irc", "a@example.org", true)
                .await
                .unwrap()
        );
        assert!(store.presence_badge("irc", "a@example.org").await.unwrap());
        assert!(
            !store
                .presence_badge("matrix", "a@example.org")
                .await
                .unwrap()
        );
        assert!(
            store
                .set_presence_badge("irc", "a@example.org", false)
                .await
                .unwrap()
        );
        assert!(!store.presence_badge("irc", "a@example.org").await.unwrap());

        store
            .put_registration(&crate::Registration::new("a@example.org", "irc", "alice"))
            .await
            .unwrap();
        store
            .set_presence_badge("irc", "a@example.org", true)
            .await
            .unwrap();
        assert!(
            store
                .delete_registration("a@example.org", "irc")
                .await
                .unwrap()
        );
        assert!(!store.presence_badge("irc", "a@example.org").await.unwrap());
    }
}
