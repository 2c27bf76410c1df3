//! The persisted outbox: what a user sent while their legacy session had no connection to
//! the network (logging in, reconnecting) waits here rather than in memory, so that a
//! restart or a `kill -9` meanwhile loses none of it. Bounded per (transport, user)
//! ([`MAX_OUTBOX_MESSAGES`]): when full, [`Store::put_outbox`] says so and the caller
//! bounces the message to its sender. The core (`pontoon_core::outbox`) replays a user's
//! rows when their session connects, and bounces those that waited too long.
//!
//! A message handed to a transport that queues it (IRC's flood pacing) is a row too, marked
//! `handed_by` the instance, until the transport says it is done with it
//! ([`Store::settle_outbox`]); one whose instance died is released to wait again
//! ([`Store::release_stale_outbox`]) and goes out at the next connection.

use crate::error::StoreError;
use crate::store::Store;

/// Messages waiting per (transport, user), at most.
pub const MAX_OUTBOX_MESSAGES: i64 = 64;

/// Whom a waiting message is for, on the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutboxChat {
    /// A contact (their legacy id).
    Contact(String),
    /// A room (its legacy id).
    Room(String),
}

impl OutboxChat {
    fn kind(&self) -> &'static str {
        match self {
            OutboxChat::Contact(_) => "contact",
            OutboxChat::Room(_) => "room",
        }
    }

    fn id(&self) -> &str {
        match self {
            OutboxChat::Contact(id) | OutboxChat::Room(id) => id,
        }
    }

    fn from_row(kind: &str, id: String) -> Result<OutboxChat, StoreError> {
        match kind {
            "contact" => Ok(OutboxChat::Contact(id)),
            "room" => Ok(OutboxChat::Room(id)),
            _ => Err(StoreError::Invalid("unknown outbox chat kind")),
        }
    }
}

/// One message waiting to be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Its place in the user's queue.
    pub seq: i64,
    /// When it was kept (microseconds since the epoch).
    pub time: i64,
    /// Where it goes.
    pub chat: OutboxChat,
    /// The message as the user sent it (serialized XML).
    pub stanza: String,
}

/// A row as read: (seq, owner, time, kind, chat, stanza).
type Row = (i64, String, i64, String, String, String);

fn message((seq, _, time, kind, chat, stanza): Row) -> Result<OutboxMessage, StoreError> {
    Ok(OutboxMessage {
        seq,
        time,
        chat: OutboxChat::from_row(&kind, chat)?,
        stanza,
    })
}

/// Refuses a message larger than the archive takes.
fn check_size(stanza: &str) -> Result<(), StoreError> {
    if stanza.len() > crate::archive::MAX_ARCHIVED_STANZA_BYTES {
        return Err(StoreError::Invalid("outbox message too large"));
    }
    Ok(())
}

/// One row: waiting (`holder` `None`) or handed to a transport by `holder`; its `seq`.
async fn insert(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    (transport, owner, holder): (&str, &str, Option<&str>),
    chat: &OutboxChat,
    time: i64,
    stanza: &str,
) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO outbox (transport, owner, time, kind, chat, stanza, handed_by) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq",
    )
    .bind(transport)
    .bind(owner)
    .bind(time)
    .bind(chat.kind())
    .bind(chat.id())
    .bind(stanza)
    .bind(holder)
    .fetch_one(&mut **tx)
    .await?)
}

impl Store {
    /// Keeps `stanza`, sent by `owner` (a bare JID) to `chat` on `transport` at `time`;
    /// false when their queue is full (nothing kept). Refused when larger than the archive
    /// takes.
    pub async fn put_outbox(
        &self,
        transport: &str,
        owner: &str,
        chat: &OutboxChat,
        time: i64,
        stanza: &str,
    ) -> Result<bool, StoreError> {
        check_size(stanza)?;
        let mut tx = self.begin_write().await?;
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbox WHERE transport = $1 AND owner = $2 AND handed_by IS NULL",
        )
        .bind(transport)
        .bind(owner)
        .fetch_one(&mut *tx)
        .await?;
        if n >= MAX_OUTBOX_MESSAGES {
            return Ok(false);
        }
        insert(&mut tx, (transport, owner, None), chat, time, stanza).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Keeps `stanza`, sent by `owner` to `chat` on `transport` at `time` and handed to the
    /// transport by the instance `holder`, until the transport is done with it
    /// ([`Store::settle_outbox`]); its `seq`, the receipt the transport hands back. Not
    /// counted against [`MAX_OUTBOX_MESSAGES`] (the transport's own queue bounds these) and
    /// not offered as waiting ([`Store::outbox`]) unless `holder` dies with it
    /// ([`Store::release_stale_outbox`]).
    pub async fn put_outbox_handed(
        &self,
        (transport, owner, holder): (&str, &str, &str),
        chat: &OutboxChat,
        time: i64,
        stanza: &str,
    ) -> Result<i64, StoreError> {
        check_size(stanza)?;
        let mut tx = self.begin_write().await?;
        let seq = insert(
            &mut tx,
            (transport, owner, Some(holder)),
            chat,
            time,
            stanza,
        )
        .await?;
        tx.commit().await?;
        Ok(seq)
    }

    /// The transport is done with the handed message `seq` (written, or failed and told):
    /// forgotten.
    pub async fn settle_outbox(&self, seq: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM outbox WHERE seq = $1 AND handed_by IS NOT NULL")
            .bind(seq)
            .execute(self.db()?)
            .await?;
        Ok(())
    }

    /// `owner`'s session on `transport` ended on `holder`: its transport is done with every
    /// message it was handed (written, or failed and told).
    pub async fn settle_outbox_of(
        &self,
        transport: &str,
        owner: &str,
        holder: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM outbox WHERE transport = $1 AND owner = $2 AND handed_by = $3")
            .bind(transport)
            .bind(owner)
            .bind(holder)
            .execute(self.db()?)
            .await?;
        Ok(())
    }

    /// What instances other than `holder` handed to their transports and can no longer
    /// see through (dead: no heartbeat at or after `alive_since`, or never in a cluster,
    /// such as this process's previous run) waits again, in its place; returns how many.
    pub async fn release_stale_outbox(
        &self,
        holder: &str,
        alive_since: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET handed_by = NULL WHERE handed_by IS NOT NULL AND handed_by <> $1 \
             AND handed_by NOT IN (SELECT id FROM instances WHERE heartbeat_at >= $2)",
        )
        .bind(holder)
        .bind(alive_since)
        .execute(self.db()?)
        .await?;
        Ok(done.rows_affected())
    }

    /// What waits for `owner` on `transport` (not handed to it), oldest first.
    pub async fn outbox(
        &self,
        transport: &str,
        owner: &str,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT seq, owner, time, kind, chat, stanza FROM outbox WHERE transport = $1 AND owner = $2 AND handed_by IS NULL ORDER BY seq LIMIT $3",
        )
        .bind(transport)
        .bind(owner)
        .bind(MAX_OUTBOX_MESSAGES)
        .fetch_all(self.db()?)
        .await?;
        rows.into_iter().map(message).collect()
    }

    /// Forgets `owner`'s waiting messages up to `through` (a `seq`): sent or bounced.
    pub async fn delete_outbox(
        &self,
        transport: &str,
        owner: &str,
        through: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM outbox WHERE transport = $1 AND owner = $2 AND seq <= $3 AND handed_by IS NULL",
        )
            .bind(transport)
            .bind(owner)
            .bind(through)
            .execute(self.db()?)
            .await?;
        Ok(())
    }

    /// The users with messages waiting on `transport`.
    pub async fn outbox_owners(&self, transport: &str) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT owner FROM outbox WHERE transport = $1 AND handed_by IS NULL",
        )
        .bind(transport)
        .fetch_all(self.db()?)
        .await?)
    }

    /// Takes (reads and forgets, at once) what waits on `transport` since before `before`
    /// (microseconds), except for the users in `skip`: the messages that waited too long,
    /// for the caller to bounce. At most [`MAX_OUTBOX_MESSAGES`] per call.
    pub async fn take_stale_outbox(
        &self,
        transport: &str,
        before: i64,
        skip: &[&str],
    ) -> Result<Vec<(String, OutboxMessage)>, StoreError> {
        let mut tx = self.begin_write().await?;
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT seq, owner, time, kind, chat, stanza FROM outbox WHERE transport = $1 AND time < $2 AND handed_by IS NULL ORDER BY seq LIMIT $3",
        )
        .bind(transport)
        .bind(before)
        .bind(MAX_OUTBOX_MESSAGES * 4)
        .fetch_all(&mut *tx)
        .await?;
        let mut taken = Vec::new();
        for row in rows {
            if skip.contains(&row.1.as_str()) {
                continue;
            }
            sqlx::query("DELETE FROM outbox WHERE seq = $1")
                .bind(row.0)
                .execute(&mut *tx)
                .await?;
            let owner = row.1.clone();
            taken.push((owner, message(row)?));
            if taken.len() as i64 >= MAX_OUTBOX_MESSAGES {
                break;
            }
        }
        tx.commit().await?;
        Ok(taken)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    pub(crate) async fn suite(store: &Store) {
        let who = "alice@example.org";
        let bob = OutboxChat::Contact("bob".into());
        let room = OutboxChat::Room("#room".into());
        assert!(store.outbox("irc", who).await.unwrap().is_empty());
        assert!(store.outbox_owners("irc").await.unwrap().is_empty());
        assert!(
            store
                .put_outbox("irc", who, &bob, 10, "<m0/>")
                .await
                .unwrap()
        );
        assert!(
            store
                .put_outbox("irc", who, &room, 20, "<m1/>")
                .await
                .unwrap()
        );
        assert!(
            store
                .put_outbox("irc", who, &bob, 30, "<m2/>")
                .await
                .unwrap()
        );
        // Another transport's queue is apart.
        assert!(store.put_outbox("mx", who, &bob, 5, "<o/>").await.unwrap());
        assert_eq!(store.outbox_owners("irc").await.unwrap(), [who]);
        let kept = store.outbox("irc", who).await.unwrap();
        assert_eq!(
            kept.iter()
                .map(|m| (m.chat.clone(), m.stanza.as_str(), m.time))
                .collect::<Vec<_>>(),
            [
                (bob.clone(), "<m0/>", 10),
                (room.clone(), "<m1/>", 20),
                (bob.clone(), "<m2/>", 30)
            ]
        );
        store.delete_outbox("irc", who, kept[1].seq).await.unwrap();
        let left = store.outbox("irc", who).await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].stanza, "<m2/>");
        // Bounded: a full queue takes no more (one is there already).
        for i in 1..MAX_OUTBOX_MESSAGES {
            assert!(
                store
                    .put_outbox("irc", who, &bob, 100 + i, "<m/>")
                    .await
                    .unwrap()
            );
        }
        assert!(
            !store
                .put_outbox("irc", who, &bob, 1000, "<over/>")
                .await
                .unwrap()
        );
        assert!(
            store
                .put_outbox("irc", who, &bob, 0, &"x".repeat(200_000))
                .await
                .is_err()
        );
        // Stale: what waited since before 101 (m2 at 30 and the first filler at 101 is not).
        let carol = "carol@example.org";
        assert!(
            store
                .put_outbox("irc", carol, &room, 1, "<c/>")
                .await
                .unwrap()
        );
        let stale = store.take_stale_outbox("irc", 101, &[carol]).await.unwrap();
        assert_eq!(
            stale
                .iter()
                .map(|(o, m)| (o.as_str(), m.stanza.as_str()))
                .collect::<Vec<_>>(),
            [(who, "<m2/>")]
        );
        let stale = store.take_stale_outbox("irc", 101, &[]).await.unwrap();
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].0, carol);
        assert!(store.outbox("irc", carol).await.unwrap().is_empty());
        assert_eq!(
            store.outbox("irc", who).await.unwrap().len() as i64,
            MAX_OUTBOX_MESSAGES - 1
        );
        assert_eq!(store.outbox("mx", who).await.unwrap().len(), 1);
        handed(store).await;
    }

    /// Messages in a transport's queue: not waiting, not counted, not stale; settled one
    /// by one or all at the session's end; waiting again, in their place, when their
    /// instance is dead.
    async fn handed(store: &Store) {
        let dora = "dora@example.org";
        let bob = OutboxChat::Contact("bob".into());
        let first = store
            .put_outbox_handed(("irc", dora, "A"), &bob, 1, "<h1/>")
            .await
            .unwrap();
        assert!(
            store
                .put_outbox("irc", dora, &bob, 2, "<w2/>")
                .await
                .unwrap()
        );
        let third = store
            .put_outbox_handed(("irc", dora, "A"), &bob, 3, "<h3/>")
            .await
            .unwrap();
        assert!(first < third);
        let waiting = |s: Vec<OutboxMessage>| s.into_iter().map(|m| m.stanza).collect::<Vec<_>>();
        assert_eq!(waiting(store.outbox("irc", dora).await.unwrap()), ["<w2/>"]);
        assert!(
            store
                .take_stale_outbox("irc", 2, &[])
                .await
                .unwrap()
                .is_empty(),
            "the transport's, not stale"
        );
        // Sending what waited forgets it, not what the transport has.
        let w2 = store.outbox("irc", dora).await.unwrap()[0].seq;
        store.delete_outbox("irc", dora, w2).await.unwrap();
        store.settle_outbox(first).await.unwrap();
        // A live holder keeps its own; a dead one's wait again.
        store.heartbeat("A", "", 100).await.unwrap();
        assert_eq!(store.release_stale_outbox("B", 50).await.unwrap(), 0);
        assert_eq!(store.release_stale_outbox("A", 150).await.unwrap(), 0);
        assert_eq!(store.release_stale_outbox("B", 150).await.unwrap(), 1);
        assert_eq!(waiting(store.outbox("irc", dora).await.unwrap()), ["<h3/>"]);
        assert_eq!(store.outbox("irc", dora).await.unwrap()[0].seq, third);
        store.delete_outbox("irc", dora, third).await.unwrap();
        // A session's end settles all it handed.
        store
            .put_outbox_handed(("irc", dora, "A"), &bob, 4, "<h4/>")
            .await
            .unwrap();
        store.settle_outbox_of("irc", dora, "A").await.unwrap();
        assert_eq!(store.release_stale_outbox("B", i64::MAX).await.unwrap(), 0);
        assert!(store.outbox("irc", dora).await.unwrap().is_empty());
        store.leave_cluster("A").await.unwrap();
    }
}
