//! Several instances on one store: who is alive, and which instance owns each (transport,
//! user) session.
//!
//! Every instance has a row in `instances` whose heartbeat it moves forward every few
//! seconds ([`Store::heartbeat`]); an instance whose heartbeat is older than the lease time
//! is dead to the others. A session's lease (`session_leases`) names its instance and is
//! valid while that instance is alive: renewing every lease of an instance costs one
//! statement, whatever the number of its sessions. [`Store::acquire_lease`] takes a lease
//! that is free, already ours, or held by a dead instance, in one statement, so two
//! instances never both win.

use crate::error::StoreError;
use crate::store::Store;

/// Who holds a session's lease, as [`Store::acquire_lease`] found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lease {
    /// This instance holds it now.
    Acquired,
    /// A live instance holds it.
    Held {
        /// The holder's id.
        instance: String,
        /// The address the holder gave (`""` when none): where a client may be sent.
        address: String,
    },
}

impl Store {
    /// Records `instance` (alive at `now`, microseconds) with the `address` clients may be
    /// sent to (`""` for none), or moves its heartbeat forward.
    pub async fn heartbeat(
        &self,
        instance: &str,
        address: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO instances (id, address, heartbeat_at) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET address = excluded.address, heartbeat_at = excluded.heartbeat_at",
        )
        .bind(instance)
        .bind(address)
        .bind(now)
        .execute(self.db()?)
        .await?;
        Ok(())
    }

    /// Takes the lease of `owner`'s session on `transport` for `instance`, unless a live
    /// instance (heartbeat at or after `alive_since`) other than it holds it.
    pub async fn acquire_lease(
        &self,
        transport: &str,
        owner: &str,
        instance: &str,
        alive_since: i64,
    ) -> Result<Lease, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO session_leases (transport, owner, instance) VALUES ($1, $2, $3) \
             ON CONFLICT (transport, owner) DO UPDATE SET instance = excluded.instance \
             WHERE session_leases.instance = excluded.instance \
             OR NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = session_leases.instance AND i.heartbeat_at >= $4)",
        )
        .bind(transport)
        .bind(owner)
        .bind(instance)
        .bind(alive_since)
        .execute(&mut *tx)
        .await?;
        let holder: (String, Option<String>) = sqlx::query_as(
            "SELECT l.instance, i.address FROM session_leases l LEFT JOIN instances i ON i.id = l.instance \
             WHERE l.transport = $1 AND l.owner = $2",
        )
        .bind(transport)
        .bind(owner)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(if holder.0 == instance {
            Lease::Acquired
        } else {
            Lease::Held {
                instance: holder.0,
                address: holder.1.unwrap_or_default(),
            }
        })
    }

    /// Gives up `instance`'s lease of `owner`'s session on `transport` (if it holds it).
    pub async fn release_lease(
        &self,
        transport: &str,
        owner: &str,
        instance: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM session_leases WHERE transport = $1 AND owner = $2 AND instance = $3",
        )
        .bind(transport)
        .bind(owner)
        .bind(instance)
        .execute(self.db()?)
        .await?;
        Ok(())
    }

    /// `instance` stops: its leases are free at once, and it is forgotten.
    pub async fn leave_cluster(&self, instance: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM session_leases WHERE instance = $1")
            .bind(instance)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM instances WHERE id = $1")
            .bind(instance)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The live instances (heartbeat at or after `alive_since`): (id, address), by id.
    pub async fn live_instances(
        &self,
        alive_since: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        Ok(
            sqlx::query_as(
                "SELECT id, address FROM instances WHERE heartbeat_at >= $1 ORDER BY id",
            )
            .bind(alive_since)
            .fetch_all(self.db()?)
            .await?,
        )
    }

    /// Forgets instances dead since before `dead_since`, and their leases; returns how many.
    pub async fn forget_dead_instances(&self, dead_since: i64) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "DELETE FROM session_leases WHERE instance IN (SELECT id FROM instances WHERE heartbeat_at < $1)",
        )
        .bind(dead_since)
        .execute(&mut *tx)
        .await?;
        let gone = sqlx::query("DELETE FROM instances WHERE heartbeat_at < $1")
            .bind(dead_since)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(gone.rows_affected())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    pub(crate) async fn suite(store: &Store) {
        store
            .heartbeat("a", "a.example.org:5222", 100)
            .await
            .unwrap();
        store.heartbeat("b", "", 100).await.unwrap();
        // Free: a takes it; again: still a's; b cannot while a lives.
        assert_eq!(
            store.acquire_lease("irc", "u@x", "a", 50).await.unwrap(),
            Lease::Acquired
        );
        assert_eq!(
            store.acquire_lease("irc", "u@x", "a", 50).await.unwrap(),
            Lease::Acquired
        );
        assert_eq!(
            store.acquire_lease("irc", "u@x", "b", 50).await.unwrap(),
            Lease::Held {
                instance: "a".into(),
                address: "a.example.org:5222".into()
            }
        );
        // Another transport's lease of the same user is apart.
        assert_eq!(
            store.acquire_lease("mx", "u@x", "b", 50).await.unwrap(),
            Lease::Acquired
        );
        // a's heartbeat is older than what counts as alive: b takes it over.
        store.heartbeat("b", "", 200).await.unwrap();
        assert_eq!(
            store.live_instances(150).await.unwrap(),
            [("b".to_owned(), String::new())]
        );
        assert_eq!(
            store.acquire_lease("irc", "u@x", "b", 150).await.unwrap(),
            Lease::Acquired
        );
        // a, back, finds it held.
        store
            .heartbeat("a", "a.example.org:5222", 210)
            .await
            .unwrap();
        assert!(matches!(
            store.acquire_lease("irc", "u@x", "a", 150).await.unwrap(),
            Lease::Held { .. }
        ));
        // Released: free for a.
        store.release_lease("irc", "u@x", "b").await.unwrap();
        assert_eq!(
            store.acquire_lease("irc", "u@x", "a", 150).await.unwrap(),
            Lease::Acquired
        );
        // b leaves: its leases (mx) are free.
        store.leave_cluster("b").await.unwrap();
        assert_eq!(
            store.acquire_lease("mx", "u@x", "a", 150).await.unwrap(),
            Lease::Acquired
        );
        // Long dead instances are forgotten with their leases.
        store.heartbeat("c", "", 10).await.unwrap();
        assert_eq!(
            store.acquire_lease("irc", "v@x", "c", 0).await.unwrap(),
            Lease::Acquired
        );
        assert_eq!(store.forget_dead_instances(100).await.unwrap(), 1);
        assert_eq!(
            store.acquire_lease("irc", "v@x", "a", 150).await.unwrap(),
            Lease::Acquired
        );
        store.leave_cluster("a").await.unwrap();
    }
}
