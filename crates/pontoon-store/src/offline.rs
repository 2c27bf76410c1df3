//! Server mode's offline messages: what reaches a user while none of their clients is
//! connected (their session stays online while away, or a client dropped before
//! acknowledging), kept until a client of theirs comes online (RFC 6121 section 8.5.2,
//! XEP-0160). Bounded per user ([`MAX_OFFLINE_MESSAGES`]): when full, [`Store::put_offline`]
//! says so and the caller answers the sender with an error.

use crate::error::StoreError;
use crate::store::Store;

/// Messages kept per user, at most.
pub const MAX_OFFLINE_MESSAGES: i64 = 1000;

/// One message kept for a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfflineMessage {
    /// Its place in the user's queue.
    pub seq: i64,
    /// When it was kept (microseconds since the epoch).
    pub time: i64,
    /// The message (serialized XML).
    pub stanza: String,
}

impl Store {
    /// Keeps `stanza` for `owner` (a bare JID); false when their queue is full (nothing
    /// kept). Refused when larger than the archive takes.
    pub async fn put_offline(
        &self,
        owner: &str,
        time: i64,
        stanza: &str,
    ) -> Result<bool, StoreError> {
        if stanza.len() > crate::archive::MAX_ARCHIVED_STANZA_BYTES {
            return Err(StoreError::Invalid("offline message too large"));
        }
        let mut tx = self.begin_write().await?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM offline_messages WHERE owner = $1")
            .bind(owner)
            .fetch_one(&mut *tx)
            .await?;
        if n >= MAX_OFFLINE_MESSAGES {
            return Ok(false);
        }
        sqlx::query("INSERT INTO offline_messages (owner, time, stanza) VALUES ($1, $2, $3)")
            .bind(owner)
            .bind(time)
            .bind(stanza)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The messages kept for `owner`, oldest first, at most `limit`.
    pub async fn offline_messages(
        &self,
        owner: &str,
        limit: i64,
    ) -> Result<Vec<OfflineMessage>, StoreError> {
        let rows: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT seq, time, stanza FROM offline_messages WHERE owner = $1 ORDER BY seq LIMIT $2",
        )
        .bind(owner)
        .bind(limit)
        .fetch_all(self.db()?)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, time, stanza)| OfflineMessage { seq, time, stanza })
            .collect())
    }

    /// Forgets `owner`'s messages up to `through` (a `seq`), handed to a client.
    pub async fn delete_offline(&self, owner: &str, through: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM offline_messages WHERE owner = $1 AND seq <= $2")
            .bind(owner)
            .bind(through)
            .execute(self.db()?)
            .await?;
        Ok(())
    }

    /// Forgets what was kept before `before` (microseconds); returns how many.
    pub async fn expire_offline(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM offline_messages WHERE time < $1")
            .bind(before)
            .execute(self.db()?)
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    pub(crate) async fn suite(store: &Store) {
        let who = "alice%irc@gw.example.org";
        assert!(store.offline_messages(who, 10).await.unwrap().is_empty());
        for i in 0..3 {
            assert!(
                store
                    .put_offline(who, i, &format!("<m{i}/>"))
                    .await
                    .unwrap()
            );
        }
        let kept = store.offline_messages(who, 2).await.unwrap();
        assert_eq!(
            kept.iter().map(|m| m.stanza.as_str()).collect::<Vec<_>>(),
            ["<m0/>", "<m1/>"]
        );
        store.delete_offline(who, kept[1].seq).await.unwrap();
        let left = store.offline_messages(who, 10).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].stanza, "<m2/>");
        // Bounded: a full queue takes no more (one is there already).
        for i in 1..MAX_OFFLINE_MESSAGES {
            assert!(
                store
                    .put_offline(who, 100, &format!("<m{i}/>"))
                    .await
                    .unwrap()
            );
        }
        assert!(!store.put_offline(who, 100, "<over/>").await.unwrap());
        assert!(
            store
                .put_offline(who, 0, &"x".repeat(200_000))
                .await
                .is_err()
        );
        assert_eq!(store.expire_offline(50).await.unwrap(), 1);
        assert_eq!(
            store.expire_offline(i64::MAX).await.unwrap(),
            (MAX_OFFLINE_MESSAGES - 1) as u64
        );
    }
}
