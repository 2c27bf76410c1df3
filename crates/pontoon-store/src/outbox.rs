//! The persisted outbox: what a user sent while their legacy session had no connection to
//! the network (logging in, reconnecting) waits here rather than in memory, so that a
//! restart or a `kill -9` meanwhile loses none of it. Bounded per (transport, user)
//! ([`MAX_OUTBOX_MESSAGES`]): when full, [`Store::put_outbox`] says so and the caller
//! bounces the message to its sender. The core (`pontoon_core::outbox`) replays a user's
//! rows when their session connects, and bounces those that waited too long.

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
        if stanza.len() > crate::archive::MAX_ARCHIVED_STANZA_BYTES {
            return Err(StoreError::Invalid("outbox message too large"));
        }
        let mut tx = self.begin_write().await?;
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE transport = $1 AND owner = $2")
                .bind(transport)
                .bind(owner)
                .fetch_one(&mut *tx)
                .await?;
        if n >= MAX_OUTBOX_MESSAGES {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO outbox (transport, owner, time, kind, chat, stanza) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(transport)
        .bind(owner)
        .bind(time)
        .bind(chat.kind())
        .bind(chat.id())
        .bind(stanza)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// What waits for `owner` on `transport`, oldest first.
    pub async fn outbox(
        &self,
        transport: &str,
        owner: &str,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT seq, owner, time, kind, chat, stanza FROM outbox WHERE transport = $1 AND owner = $2 ORDER BY seq LIMIT $3",
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
        sqlx::query("DELETE FROM outbox WHERE transport = $1 AND owner = $2 AND seq <= $3")
            .bind(transport)
            .bind(owner)
            .bind(through)
            .execute(self.db()?)
            .await?;
        Ok(())
    }

    /// The users with messages waiting on `transport`.
    pub async fn outbox_owners(&self, transport: &str) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT DISTINCT owner FROM outbox WHERE transport = $1")
                .bind(transport)
                .fetch_all(self.db()?)
                .await?,
        )
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
            "SELECT seq, owner, time, kind, chat, stanza FROM outbox WHERE transport = $1 AND time < $2 ORDER BY seq LIMIT $3",
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
    }
}
