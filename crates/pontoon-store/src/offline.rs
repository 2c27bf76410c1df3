//! Server mode's offline messages: what reaches a user while none of their clients is
//! connected (their session stays online while away, or a client dropped before
//! acknowledging), kept until a client of theirs comes online (RFC 6121 section 8.5.2,
//! XEP-0160). Bounded per user ([`MAX_OFFLINE_MESSAGES`]): when full, [`Store::put_offline`]
//! says so and the caller answers the sender with an error.
//!
//! A message in a connected client's hands is a row too, *held* by the instance that
//! delivered it (`held_by`, with that instance's mark `delivery`) until the client
//! acknowledges it ([`Delivery`]): if the instance dies first, the row is released to the
//! user's next client ([`Store::release_stale_holds`]), so a `kill -9` loses nothing the
//! client had not acknowledged. Held rows are not offered as offline messages meanwhile.

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

/// What happened to a message in a client's hands, for [`Store::apply_deliveries`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Given to a client of `owner` under `mark`: kept, held, until acknowledged. Never
    /// refused for a full queue (the client's own queue bounds what it holds).
    Hold {
        /// The user (bare JID).
        owner: String,
        /// When (microseconds since the epoch).
        time: i64,
        /// The message (serialized XML).
        stanza: String,
        /// The holder's number for it.
        mark: i64,
    },
    /// The client acknowledged `mark`: forgotten.
    Delivered(i64),
    /// The client left without acknowledging `mark` and none of the user's clients is
    /// left to take it: an offline message again, for the next.
    Release(i64),
}

/// Whose kept messages [`Store::take_expired_offline`] looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfflineQueues<'a> {
    /// Server mode's users (queues named by a bare JID).
    Users,
    /// Component mode's users of this transport, kept while they were away (queues named
    /// by [`away_queue`]).
    Transport(&'a str),
}

/// The queue of what component mode keeps for `user` of `transport` while they are away:
/// `user/transport`, which [`OfflineQueues::Transport`] finds (a bare JID has no `/`).
pub fn away_queue(user: &str, transport: &str) -> String {
    format!("{user}/{transport}")
}

impl Store {
    /// Applies `deliveries` of the instance `holder`, in order, in one transaction. A
    /// message larger than the archive takes is not held (it is in the client's hands
    /// already; only its insurance is missing).
    pub async fn apply_deliveries(
        &self,
        holder: &str,
        deliveries: &[Delivery],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for d in deliveries {
            match d {
                Delivery::Hold {
                    owner,
                    time,
                    stanza,
                    mark,
                } => {
                    if stanza.len() > crate::archive::MAX_ARCHIVED_STANZA_BYTES {
                        continue;
                    }
                    sqlx::query(
                        "INSERT INTO offline_messages (owner, time, stanza, held_by, delivery) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(owner)
                    .bind(time)
                    .bind(stanza)
                    .bind(holder)
                    .bind(mark)
                    .execute(&mut *tx)
                    .await?;
                }
                Delivery::Delivered(mark) => {
                    sqlx::query(
                        "DELETE FROM offline_messages WHERE held_by = $1 AND delivery = $2",
                    )
                    .bind(holder)
                    .bind(mark)
                    .execute(&mut *tx)
                    .await?;
                }
                Delivery::Release(mark) => {
                    sqlx::query(
                        "UPDATE offline_messages SET held_by = NULL, delivery = NULL WHERE held_by = $1 AND delivery = $2",
                    )
                    .bind(holder)
                    .bind(mark)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Marks the offline message `seq` as in the hands of a client of `holder` under
    /// `mark` (handed over: forgotten when acknowledged, [`Delivery::Delivered`]); false
    /// when it is gone or held already.
    pub async fn hold_offline(
        &self,
        seq: i64,
        holder: &str,
        mark: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE offline_messages SET held_by = $2, delivery = $3 WHERE seq = $1 AND held_by IS NULL",
        )
        .bind(seq)
        .bind(holder)
        .bind(mark)
        .execute(self.db()?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Releases what instances other than `holder` held for `owner` and can no longer
    /// deliver (they are dead: no heartbeat at or after `alive_since`, or never joined a
    /// cluster, such as this process's previous run): offline messages again. Returns how
    /// many.
    pub async fn release_stale_holds(
        &self,
        owner: &str,
        holder: &str,
        alive_since: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE offline_messages SET held_by = NULL, delivery = NULL \
             WHERE owner = $1 AND held_by IS NOT NULL AND held_by <> $2 \
             AND held_by NOT IN (SELECT id FROM instances WHERE heartbeat_at >= $3)",
        )
        .bind(owner)
        .bind(holder)
        .bind(alive_since)
        .execute(self.db()?)
        .await?;
        Ok(done.rows_affected())
    }

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

    /// The messages kept for `owner` and in no client's hands, oldest first, at most `limit`.
    pub async fn offline_messages(
        &self,
        owner: &str,
        limit: i64,
    ) -> Result<Vec<OfflineMessage>, StoreError> {
        let rows: Vec<(i64, i64, String)> = sqlx::query_as(
            "SELECT seq, time, stanza FROM offline_messages WHERE owner = $1 AND held_by IS NULL ORDER BY seq LIMIT $2",
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

    /// Forgets `owner`'s messages up to `through` (a `seq`), handed over (held ones too).
    pub async fn delete_offline(&self, owner: &str, through: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM offline_messages WHERE owner = $1 AND seq <= $2")
            .bind(owner)
            .bind(through)
            .execute(self.db()?)
            .await?;
        Ok(())
    }

    /// Forgets the one message `seq` (one no client can read).
    pub async fn forget_offline(&self, seq: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM offline_messages WHERE seq = $1")
            .bind(seq)
            .execute(self.db()?)
            .await?;
        Ok(())
    }

    /// Forgets up to `limit` of the messages of `queues` kept before `before`
    /// (microseconds) and in no client's hands, oldest first, and returns them (for their
    /// senders to be told, or to be sent on). One statement: two instances expiring at once
    /// never both take a message.
    pub async fn take_expired_offline(
        &self,
        queues: OfflineQueues<'_>,
        before: i64,
        limit: i64,
    ) -> Result<Vec<OfflineMessage>, StoreError> {
        let (condition, pattern) = match queues {
            OfflineQueues::Users => ("owner NOT LIKE $3", "%/%".to_owned()),
            OfflineQueues::Transport(name) => {
                let escaped: String = name
                    .chars()
                    .flat_map(|c| match c {
                        '%' | '_' | '\\' => vec!['\\', c],
                        c => vec![c],
                    })
                    .collect();
                ("owner LIKE $3 ESCAPE '\\'", format!("%/{escaped}"))
            }
        };
        let rows: Vec<(i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "DELETE FROM offline_messages WHERE seq IN (SELECT seq FROM offline_messages \
             WHERE time < $1 AND held_by IS NULL AND {condition} ORDER BY seq LIMIT $2) \
             RETURNING seq, time, stanza"
        )))
        .bind(before)
        .bind(limit)
        .bind(pattern)
        .fetch_all(self.db()?)
        .await?;
        let mut taken: Vec<OfflineMessage> = rows
            .into_iter()
            .map(|(seq, time, stanza)| OfflineMessage { seq, time, stanza })
            .collect();
        taken.sort_by_key(|m| m.seq);
        Ok(taken)
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
        // Expiry by kind of queue: a component-mode queue of transport "i_c" is neither a
        // server-mode user's nor transport "irc"'s (`_` is no wildcard).
        let away = away_queue("alice@example.org", "i_c");
        assert!(store.put_offline(&away, 1, "<away/>").await.unwrap());
        let users = OfflineQueues::Users;
        let expired = store.take_expired_offline(users, 50, 10).await.unwrap();
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].stanza, "<m2/>");
        let irc = OfflineQueues::Transport("irc");
        assert!(
            store
                .take_expired_offline(irc, 50, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let i_c = OfflineQueues::Transport("i_c");
        let expired = store.take_expired_offline(i_c, 50, 10).await.unwrap();
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].stanza, "<away/>");
        assert_eq!(
            store
                .take_expired_offline(users, i64::MAX, 2000)
                .await
                .unwrap()
                .len(),
            (MAX_OFFLINE_MESSAGES - 1) as usize
        );
        assert!(
            store
                .take_expired_offline(users, i64::MAX, 10)
                .await
                .unwrap()
                .is_empty()
        );
        held(store).await;
    }

    /// Messages in a client's hands: held, not offered, forgotten when acknowledged, back
    /// to the queue when released or when their holder is dead.
    async fn held(store: &Store) {
        let who = "bob%irc@gw.example.org";
        let hold = |mark: i64| Delivery::Hold {
            owner: who.to_owned(),
            time: mark,
            stanza: format!("<h{mark}/>"),
            mark,
        };
        store
            .apply_deliveries("A", &[hold(1), hold(2), hold(3), Delivery::Delivered(1)])
            .await
            .unwrap();
        assert!(
            store.offline_messages(who, 10).await.unwrap().is_empty(),
            "in a client's hands: not offered"
        );
        // Another instance's marks are not ours to settle.
        store
            .apply_deliveries("B", &[Delivery::Delivered(2), Delivery::Release(3)])
            .await
            .unwrap();
        assert!(store.offline_messages(who, 10).await.unwrap().is_empty());
        store
            .apply_deliveries("A", &[Delivery::Release(3)])
            .await
            .unwrap();
        let back = store.offline_messages(who, 10).await.unwrap();
        assert_eq!(
            back.iter().map(|m| m.stanza.as_str()).collect::<Vec<_>>(),
            ["<h3/>"]
        );
        // Handed over again: held under a new mark, then acknowledged.
        assert!(store.hold_offline(back[0].seq, "B", 40).await.unwrap());
        assert!(
            !store.hold_offline(back[0].seq, "C", 41).await.unwrap(),
            "held once"
        );
        store
            .apply_deliveries("B", &[Delivery::Delivered(40)])
            .await
            .unwrap();
        // A live holder keeps what it holds; a dead or unknown one's comes back.
        store.heartbeat("A", "", 100).await.unwrap();
        assert_eq!(store.release_stale_holds(who, "B", 50).await.unwrap(), 0);
        assert_eq!(
            store
                .release_stale_holds("someone@else", "B", 150)
                .await
                .unwrap(),
            0,
            "another user's are theirs to release"
        );
        assert_eq!(store.release_stale_holds(who, "B", 150).await.unwrap(), 1);
        assert_eq!(store.release_stale_holds(who, "A", 150).await.unwrap(), 0);
        let back = store.offline_messages(who, 10).await.unwrap();
        assert_eq!(
            back.iter().map(|m| m.stanza.as_str()).collect::<Vec<_>>(),
            ["<h2/>"]
        );
        store.delete_offline(who, back[0].seq).await.unwrap();
        store.leave_cluster("A").await.unwrap();
    }
}
