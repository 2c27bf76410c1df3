//! The message archive (XEP-0313 MAM, history on joining a room): what users were shown,
//! kept per conversation for the operator's retention.
//!
//! A room's messages are kept **once per room**, whatever the number of the gateway's users
//! in it ([`ArchiveKey::room`]): the core gives every copy of one message the same
//! stanza-id, and the store keeps the first (`ON CONFLICT DO NOTHING`). Who may read a room's
//! archive is what **spans** say: each user reads what was archived while they were in the
//! room ([`SpanChange`]), never what was said before they came or while they were away.
//! A user's own archive (direct chats) has their bare JID as `owner`.
//!
//! Writes come in batches ([`Store::write_archive`]: one transaction, one disk sync, for
//! whatever gathered), so archiving costs no sync per message.

use std::sync::Arc;

use sqlx::Row;

use crate::batch_tx::{BatchTx, Param};
use crate::error::StoreError;
use crate::multi_row::Inserts;
use crate::store::Store;

/// Longest archived stanza, in bytes (a message of the largest size a transport accepts,
/// with its ids, fits).
pub const MAX_ARCHIVED_STANZA_BYTES: usize = 96 * 1024;
/// Most results of one query.
pub const MAX_ARCHIVE_PAGE: usize = 250;

/// Which archive: a transport's room, or one user's own conversations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArchiveKey<'a> {
    /// The transport's name.
    pub transport: &'a str,
    /// The user whose archive it is; empty for a room's archive.
    pub owner: &'a str,
    /// The room's legacy id, or the contact's in a user's archive (`None` in a query: all
    /// of the owner's conversations).
    pub chat: Option<&'a str>,
}

impl<'a> ArchiveKey<'a> {
    /// The archive of the room `room` of `transport`.
    pub fn room(transport: &'a str, room: &'a str) -> Self {
        ArchiveKey {
            transport,
            owner: "",
            chat: Some(room),
        }
    }
}

/// One message to archive. Its texts are shared (`Arc<str>`): the writer binds them to its
/// statement without copying them (batch_tx.rs), and a transport's name or a room's id is
/// one allocation for all its records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveRecord {
    /// The transport's name.
    pub transport: Arc<str>,
    /// The user whose archive it goes to; empty for a room's.
    pub owner: Arc<str>,
    /// The room or contact (legacy id).
    pub chat: Arc<str>,
    /// Its XEP-0359 stanza-id: unique in its conversation (a second record with the same id
    /// is the same message, and not kept again).
    pub stanza_id: Arc<str>,
    /// When it was archived, in microseconds since the epoch.
    pub time: i64,
    /// Who sent it: a nick in a room, a legacy id in a direct chat.
    pub author: Arc<str>,
    /// The message as users were shown it (serialized XML, without `to`).
    pub stanza: Arc<str>,
}

/// A user enters or leaves a room, for what they may read of its archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanChange {
    /// The transport's name.
    pub transport: String,
    /// The room (legacy id); `None` with `enter` false: every room (a session starting
    /// again after a crash was in none meanwhile).
    pub room: Option<String>,
    /// The user (bare JID).
    pub user: String,
    /// When, in microseconds since the epoch.
    pub at: i64,
    /// Entering (a new span) rather than leaving (the open span ends).
    pub enter: bool,
    /// The instance whose session it is: a leave ends only that instance's spans, so that
    /// a session moving to another instance is not ended there by its old one's late leave.
    pub instance: String,
}

/// What [`Store::write_archive`] writes, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ArchiveWrite {
    /// A message.
    Message(ArchiveRecord),
    /// A user entering or leaving a room.
    Span(SpanChange),
    /// Every span of the transport still open that a dead instance wrote ends at this time
    /// (microseconds): whoever an instance left in a room when it stopped (or crashed) is
    /// in none until they join again. Written when an instance starts (for those before
    /// it) and by the instances' heartbeat (for one that died since).
    EndSpans {
        /// The transport's name; `None`: every transport's.
        transport: Option<String>,
        /// When.
        at: i64,
        /// The earliest heartbeat of an instance still alive (`cluster::alive_since`):
        /// spans of instances that beat since are left open. No instance but this one
        /// runs on SQLite, which has no heartbeats: every other's span ends.
        alive_since: i64,
        /// The instance writing it, whose spans are left open.
        instance: String,
    },
}

/// A query of one archive (XEP-0313 with RSM paging). Bounds are exclusive ids or inclusive
/// times; results are always in the archive's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArchiveQuery {
    /// Only messages archived at or after this time (microseconds).
    pub start: Option<i64>,
    /// Only messages archived at or before this time (microseconds).
    pub end: Option<i64>,
    /// Only messages after this one (stanza-id).
    pub after_id: Option<String>,
    /// Only messages before this one (stanza-id).
    pub before_id: Option<String>,
    /// Only these messages (stanza-ids), if any are given.
    pub ids: Vec<String>,
    /// Only what this author said (a nick in a room, a legacy id in a direct chat).
    pub author: Option<String>,
    /// In a room: only what was archived while this user was in it.
    pub reader: Option<String>,
    /// At most this many (capped at [`MAX_ARCHIVE_PAGE`]).
    pub max: usize,
    /// The last `max` matches rather than the first (RSM `<before/>`).
    pub from_end: bool,
}

/// A message found in an archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchivedMessage {
    /// Its stanza-id.
    pub stanza_id: String,
    /// When it was archived (microseconds).
    pub time: i64,
    /// The room or contact.
    pub chat: String,
    /// The message (serialized XML).
    pub stanza: String,
}

/// One page of results.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArchivePage {
    /// The messages, oldest first.
    pub messages: Vec<ArchivedMessage>,
    /// No more matches beyond this page in the direction of paging.
    pub complete: bool,
}

impl ArchiveRecord {
    /// Checks the sizes the store takes.
    pub fn check(&self) -> Result<(), StoreError> {
        let id = crate::message_ids::MAX_MESSAGE_ID_BYTES;
        if self.stanza_id.is_empty() || self.stanza_id.len() > id {
            return Err(StoreError::Invalid("archived stanza-id empty or too long"));
        }
        if self.chat.len() > 1024 || self.author.len() > 1024 || self.owner.len() > 3071 {
            return Err(StoreError::Invalid(
                "archived conversation or author too long",
            ));
        }
        if self.stanza.len() > MAX_ARCHIVED_STANZA_BYTES {
            return Err(StoreError::Invalid("archived stanza too large"));
        }
        Ok(())
    }
}

impl Store {
    /// Writes `writes` in one transaction, in order. A message whose stanza-id its
    /// conversation has already is the same message (another user's copy): left as it is.
    /// Entering a room ends any span of the same user there still open (one left open by
    /// a crash) at the new one's start; a leave with no room ends all the user's spans.
    pub async fn write_archive(&self, writes: &[ArchiveWrite]) -> Result<(), StoreError> {
        let mut tx = BatchTx::begin(self).await?;
        // A run of messages goes in as a few multi-row statements, before whatever comes
        // after it (the order of writes is kept).
        let mut messages: Vec<&ArchiveRecord> = Vec::new();
        for w in writes {
            if !matches!(w, ArchiveWrite::Message(_)) {
                insert_messages(&mut tx, &messages).await?;
                messages.clear();
            }
            match w {
                ArchiveWrite::Message(r) => {
                    r.check()?;
                    messages.push(r);
                }
                ArchiveWrite::EndSpans {
                    transport,
                    at,
                    alive_since,
                    instance,
                } => {
                    tx.execute(
                        "UPDATE archive_spans SET left_at = $2
                         WHERE ($1 IS NULL OR transport = $1) AND left_at IS NULL AND instance <> $4
                         AND NOT EXISTS (SELECT 1 FROM instances i
                             WHERE i.id = archive_spans.instance AND i.heartbeat_at >= $3)",
                        [
                            Param::OptText(transport.as_deref()),
                            Param::Int(*at),
                            Param::Int(*alive_since),
                            Param::Text(instance),
                        ],
                    )
                    .await?;
                }
                ArchiveWrite::Span(s) => {
                    // `room IS NULL` never holds: a `None` room matches every room. Entering
                    // ends the user's open span there whoever wrote it (left open by a
                    // crash, or by the instance the session came from); leaving ends only
                    // this instance's.
                    tx.execute(
                        "UPDATE archive_spans SET left_at = $4
                         WHERE transport = $1 AND ($2 IS NULL OR room = $2) AND account = $3
                         AND left_at IS NULL AND ($5 IS NULL OR instance = $5)",
                        [
                            Param::Text(&s.transport),
                            Param::OptText(s.room.as_deref()),
                            Param::Text(&s.user),
                            Param::Int(s.at),
                            Param::OptText((!s.enter).then_some(s.instance.as_str())),
                        ],
                    )
                    .await?;
                    if let (true, Some(room)) = (s.enter, &s.room) {
                        tx.execute(
                            "INSERT INTO archive_spans (transport, room, account, joined_at, instance)
                             VALUES ($1, $2, $3, $4, $5)
                             ON CONFLICT (transport, room, account, joined_at)
                             DO UPDATE SET left_at = NULL, instance = excluded.instance",
                            [
                                Param::Text(&s.transport),
                                Param::Text(room),
                                Param::Text(&s.user),
                                Param::Int(s.at),
                                Param::Text(&s.instance),
                            ],
                        )
                        .await?;
                    }
                }
            }
        }
        insert_messages(&mut tx, &messages).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One page of `key`'s archive matching `q`.
    pub async fn query_archive(
        &self,
        key: &ArchiveKey<'_>,
        q: &ArchiveQuery,
    ) -> Result<ArchivePage, StoreError> {
        let mut sql = String::from(
            "SELECT a.seq, a.stanza_id, a.time, a.chat, a.stanza FROM archive a
             WHERE a.transport = $1 AND a.owner = $2",
        );
        let mut args: Vec<Arg> = vec![
            Arg::Text(key.transport.to_owned()),
            Arg::Text(key.owner.to_owned()),
        ];
        let mut push = |sql: &mut String, clause: &str, arg: Arg| {
            args.push(arg);
            sql.push_str(&clause.replace('?', &format!("${}", args.len())));
        };
        if let Some(chat) = key.chat {
            push(&mut sql, " AND a.chat = ?", Arg::Text(chat.to_owned()));
        }
        if let Some(author) = &q.author {
            push(&mut sql, " AND a.author = ?", Arg::Text(author.clone()));
        }
        if let Some(t) = q.start {
            push(&mut sql, " AND a.time >= ?", Arg::Int(t));
        }
        if let Some(t) = q.end {
            push(&mut sql, " AND a.time <= ?", Arg::Int(t));
        }
        for (id, op) in [(&q.after_id, '>'), (&q.before_id, '<')] {
            if let Some(id) = id {
                let seq = self
                    .archive_seq(key, id)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                push(&mut sql, &format!(" AND a.seq {op} ?"), Arg::Int(seq));
            }
        }
        if !q.ids.is_empty() {
            sql.push_str(" AND a.stanza_id IN (");
            for (i, id) in q.ids.iter().take(MAX_ARCHIVE_PAGE).enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                push(&mut sql, "?", Arg::Text(id.clone()));
            }
            sql.push(')');
        }
        if let Some(reader) = &q.reader {
            push(
                &mut sql,
                " AND EXISTS (SELECT 1 FROM archive_spans s
                   WHERE s.transport = a.transport AND s.room = a.chat AND s.account = ?
                   AND a.time >= s.joined_at AND (s.left_at IS NULL OR a.time <= s.left_at))",
                Arg::Text(reader.clone()),
            );
        }
        let max = q.max.min(MAX_ARCHIVE_PAGE);
        let order = if q.from_end { "DESC" } else { "ASC" };
        // One more than asked: whether there is more tells `complete`.
        sql.push_str(&format!(" ORDER BY a.seq {order} LIMIT {}", max + 1));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for a in args {
            query = match a {
                Arg::Text(t) => query.bind(t),
                Arg::Int(i) => query.bind(i),
            };
        }
        let rows = query.fetch_all(self.db()?).await?;
        let complete = rows.len() <= max;
        let mut messages = rows
            .iter()
            .take(max)
            .map(|r| {
                Ok(ArchivedMessage {
                    stanza_id: r.try_get("stanza_id")?,
                    time: r.try_get("time")?,
                    chat: r.try_get("chat")?,
                    stanza: r.try_get("stanza")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        if q.from_end {
            messages.reverse();
        }
        Ok(ArchivePage { messages, complete })
    }

    /// Whether `id` is a message of `key`'s archive.
    pub async fn archive_has(&self, key: &ArchiveKey<'_>, id: &str) -> Result<bool, StoreError> {
        Ok(self.archive_seq(key, id).await?.is_some())
    }

    async fn archive_seq(&self, key: &ArchiveKey<'_>, id: &str) -> Result<Option<i64>, StoreError> {
        let seq: Option<i64> =
            match key.chat {
                Some(chat) => {
                    sqlx::query_scalar(
                        "SELECT seq FROM archive
                     WHERE transport = $1 AND owner = $2 AND chat = $3 AND stanza_id = $4",
                    )
                    .bind(key.transport)
                    .bind(key.owner)
                    .bind(chat)
                    .bind(id)
                    .fetch_optional(self.db()?)
                    .await?
                }
                None => sqlx::query_scalar(
                    "SELECT seq FROM archive WHERE transport = $1 AND owner = $2 AND stanza_id = $3
                     ORDER BY seq LIMIT 1",
                )
                .bind(key.transport)
                .bind(key.owner)
                .bind(id)
                .fetch_optional(self.db()?)
                .await?,
            };
        Ok(seq)
    }

    /// Forgets what `transport` archived before `before` (microseconds), and in each
    /// conversation all but its newest `keep` messages (0: no count limit); spans ended
    /// before `before` go too. Returns the messages forgotten.
    pub async fn expire_archive(
        &self,
        transport: &str,
        before: i64,
        keep: u64,
    ) -> Result<u64, StoreError> {
        let mut forgotten = sqlx::query("DELETE FROM archive WHERE transport = $1 AND time < $2")
            .bind(transport)
            .bind(before)
            .execute(self.db()?)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM archive_spans WHERE transport = $1 AND left_at < $2")
            .bind(transport)
            .bind(before)
            .execute(self.db()?)
            .await?;
        if keep == 0 {
            return Ok(forgotten);
        }
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let over: Vec<(String, String)> = sqlx::query_as(
            "SELECT owner, chat FROM archive WHERE transport = $1
             GROUP BY owner, chat HAVING COUNT(*) > $2",
        )
        .bind(transport)
        .bind(keep)
        .fetch_all(self.db()?)
        .await?;
        for (owner, chat) in over {
            forgotten += sqlx::query(
                "DELETE FROM archive WHERE transport = $1 AND owner = $2 AND chat = $3
                 AND seq < (SELECT seq FROM archive WHERE transport = $1 AND owner = $2
                            AND chat = $3 ORDER BY seq DESC LIMIT 1 OFFSET $4)",
            )
            .bind(transport)
            .bind(&owner)
            .bind(&chat)
            .bind(keep - 1)
            .execute(self.db()?)
            .await?
            .rows_affected();
        }
        Ok(forgotten)
    }

    /// Forgets `user`'s own archive and spans on `transport` (they unregistered).
    pub async fn forget_archive_of(&self, transport: &str, user: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM archive WHERE transport = $1 AND owner = $2")
            .bind(transport)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM archive_spans WHERE transport = $1 AND account = $2")
            .bind(transport)
            .bind(user)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A value bound to a query built at run time.
enum Arg {
    Text(String),
    Int(i64),
}

/// Inserts a run of archived messages (already checked) with the multi-row statements.
async fn insert_messages(tx: &mut BatchTx, messages: &[&ArchiveRecord]) -> Result<(), StoreError> {
    static INSERTS: std::sync::OnceLock<Inserts> = std::sync::OnceLock::new();
    let inserts = INSERTS.get_or_init(|| {
        Inserts::new(
            "INSERT INTO archive (transport, owner, chat, stanza_id, time, author, stanza)",
            7,
            "ON CONFLICT (stanza_id, transport, owner, chat) DO NOTHING",
        )
    });
    inserts
        .execute(tx, messages, |r| {
            [
                Param::Shared(&r.transport),
                Param::Shared(&r.owner),
                Param::Shared(&r.chat),
                Param::Shared(&r.stanza_id),
                Param::Int(r.time),
                Param::Shared(&r.author),
                Param::Shared(&r.stanza),
            ]
        })
        .await?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn msg(room: &str, id: &str, time: i64) -> ArchiveWrite {
        ArchiveWrite::Message(ArchiveRecord {
            transport: "irc".into(),
            owner: "".into(),
            chat: room.into(),
            stanza_id: id.into(),
            time,
            author: "bob".into(),
            stanza: format!("<message xmlns='jabber:client'><body>{id}</body></message>").into(),
        })
    }

    fn span(room: &str, user: &str, at: i64, enter: bool) -> ArchiveWrite {
        ArchiveWrite::Span(SpanChange {
            transport: "irc".into(),
            room: Some(room.into()),
            user: user.into(),
            at,
            enter,
            instance: "i1".into(),
        })
    }

    fn ids(page: &ArchivePage) -> Vec<&str> {
        page.messages.iter().map(|m| m.stanza_id.as_str()).collect()
    }

    /// Two instances on one store: one starting leaves the live one's spans open; a
    /// session moving from one to the other is not ended by its old instance's late leave;
    /// the spans of an instance that died end.
    async fn several_instances(store: &Store) {
        let on = |instance: &str, room: Option<&str>, at, enter| {
            ArchiveWrite::Span(SpanChange {
                transport: "irc".into(),
                room: room.map(str::to_owned),
                user: "alice@x".into(),
                at,
                enter,
                instance: instance.into(),
            })
        };
        let end_dead = |instance: &str, alive_since| ArchiveWrite::EndSpans {
            transport: None,
            at: 1_000,
            alive_since,
            instance: instance.into(),
        };
        store.heartbeat("arch-a", "", 900).await.unwrap();
        store.heartbeat("arch-b", "", 900).await.unwrap();
        store
            .write_archive(&[
                on("arch-a", Some("#c"), 100, true),
                end_dead("arch-b", 800),
                msg("#c", "c1", 110),
                on("arch-b", Some("#c"), 120, true),
                on("arch-a", None, 125, false),
                msg("#c", "c2", 130),
            ])
            .await
            .unwrap();
        // arch-a is dead to a later start: only its spans end (there are none left open).
        store
            .write_archive(&[end_dead("arch-c", 950), msg("#c", "c3", 1_100)])
            .await
            .unwrap();
        let alices = ArchiveQuery {
            reader: Some("alice@x".into()),
            max: 10,
            ..ArchiveQuery::default()
        };
        let c = ArchiveKey::room("irc", "#c");
        assert_eq!(
            ids(&store.query_archive(&c, &alices).await.unwrap()),
            ["c1", "c2"],
            "in the room on arch-a, then on arch-b until arch-b was dead"
        );
        store.leave_cluster("arch-a").await.unwrap();
        store.leave_cluster("arch-b").await.unwrap();
    }

    /// The store's behaviour suite's part about the archive (SQLite and PostgreSQL).
    pub(crate) async fn suite(store: &Store) {
        let room = ArchiveKey::room("irc", "#a");
        // Alice is in #a from 10 to 40 and from 60 on; Bob's copy of message m2 is the
        // same message, kept once.
        let mut writes = vec![span("#a", "alice@x", 10, true)];
        for (i, t) in [(1, 5), (2, 20), (3, 30), (4, 50), (5, 70), (6, 80)] {
            writes.push(msg("#a", &format!("m{i}"), t));
        }
        writes.insert(4, span("#a", "alice@x", 40, false));
        writes.push(msg("#a", "m2", 99));
        writes.push(span("#a", "alice@x", 60, true));
        writes.push(msg("#b", "m1", 20));
        store.write_archive(&writes).await.unwrap();
        // Spans are checked at query time, whatever the order they were written in.
        let all = ArchiveQuery {
            max: 100,
            ..Default::default()
        };
        let page = store.query_archive(&room, &all).await.unwrap();
        assert_eq!(ids(&page), ["m1", "m2", "m3", "m4", "m5", "m6"]);
        assert!(page.complete);
        let alices = ArchiveQuery {
            reader: Some("alice@x".into()),
            ..all.clone()
        };
        let page = store.query_archive(&room, &alices).await.unwrap();
        assert_eq!(ids(&page), ["m2", "m3", "m5", "m6"]);
        let carol = ArchiveQuery {
            reader: Some("carol@x".into()),
            ..all.clone()
        };
        assert!(
            store
                .query_archive(&room, &carol)
                .await
                .unwrap()
                .messages
                .is_empty()
        );
        // Paging: the first two, the two after m3, the last two, the two before m5.
        let first = ArchiveQuery {
            max: 2,
            ..all.clone()
        };
        let page = store.query_archive(&room, &first).await.unwrap();
        assert_eq!((ids(&page), page.complete), (vec!["m1", "m2"], false));
        let after = ArchiveQuery {
            after_id: Some("m3".into()),
            ..first.clone()
        };
        let page = store.query_archive(&room, &after).await.unwrap();
        assert_eq!((ids(&page), page.complete), (vec!["m4", "m5"], false));
        let last = ArchiveQuery {
            from_end: true,
            ..first.clone()
        };
        let page = store.query_archive(&room, &last).await.unwrap();
        assert_eq!((ids(&page), page.complete), (vec!["m5", "m6"], false));
        let before = ArchiveQuery {
            before_id: Some("m5".into()),
            from_end: true,
            ..first.clone()
        };
        let page = store.query_archive(&room, &before).await.unwrap();
        assert_eq!(ids(&page), ["m3", "m4"]);
        let before = ArchiveQuery {
            before_id: Some("m3".into()),
            from_end: true,
            max: 5,
            ..all.clone()
        };
        let page = store.query_archive(&room, &before).await.unwrap();
        assert_eq!((ids(&page), page.complete), (vec!["m1", "m2"], true));
        // By time, by ids; an unknown id is not found.
        let times = ArchiveQuery {
            start: Some(20),
            end: Some(50),
            ..all.clone()
        };
        let page = store.query_archive(&room, &times).await.unwrap();
        assert_eq!(ids(&page), ["m2", "m3", "m4"]);
        let by_id = ArchiveQuery {
            ids: vec!["m6".into(), "m1".into(), "nope".into()],
            ..all.clone()
        };
        assert_eq!(
            ids(&store.query_archive(&room, &by_id).await.unwrap()),
            ["m1", "m6"]
        );
        let unknown = ArchiveQuery {
            after_id: Some("nope".into()),
            ..all.clone()
        };
        assert!(matches!(
            store.query_archive(&room, &unknown).await,
            Err(StoreError::NotFound)
        ));
        assert!(store.archive_has(&room, "m4").await.unwrap());
        assert!(
            !store
                .archive_has(&ArchiveKey::room("irc", "#b"), "m4")
                .await
                .unwrap()
        );
        // A crash left a span open: closed at the next start.
        store
            .write_archive(&[span("#b", "alice@x", 1, true)])
            .await
            .unwrap();
        let all_rooms = ArchiveWrite::Span(SpanChange {
            transport: "irc".into(),
            room: None,
            user: "alice@x".into(),
            at: 25,
            enter: false,
            instance: "i1".into(),
        });
        store.write_archive(&[all_rooms]).await.unwrap();
        store
            .write_archive(&[
                span("#b", "bob@x", 1, true),
                ArchiveWrite::EndSpans {
                    transport: Some("irc".into()),
                    at: 25,
                    alive_since: i64::MAX,
                    instance: "i2".into(),
                },
            ])
            .await
            .unwrap();
        let bobs = ArchiveQuery {
            reader: Some("bob@x".into()),
            ..all.clone()
        };
        let b = ArchiveKey::room("irc", "#b");
        assert_eq!(ids(&store.query_archive(&b, &bobs).await.unwrap()), ["m1"]);
        assert_eq!(
            ids(&store.query_archive(&b, &alices).await.unwrap()),
            ["m1"]
        );
        // Retention: older than 25 gone (m1, m2 of #a, m1 of #b), then #a keeps its two
        // newest.
        assert_eq!(store.expire_archive("irc", 25, 0).await.unwrap(), 3);
        assert_eq!(store.expire_archive("irc", 0, 2).await.unwrap(), 2);
        assert_eq!(
            ids(&store.query_archive(&room, &all).await.unwrap()),
            ["m5", "m6"]
        );
        // A long run of messages (written as multi-row statements of several widths), one
        // of them twice in the same statement: kept once.
        let mut bulk: Vec<ArchiveWrite> =
            (0..40).map(|i| msg("#bulk", &format!("b{i}"), i)).collect();
        bulk.insert(5, msg("#bulk", "b3", 3));
        store.write_archive(&bulk).await.unwrap();
        let page = store
            .query_archive(
                &ArchiveKey::room("irc", "#bulk"),
                &ArchiveQuery {
                    max: 100,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let want: Vec<String> = (0..40).map(|i| format!("b{i}")).collect();
        assert_eq!(ids(&page), want);
        several_instances(store).await;
        // Limits.
        let ArchiveWrite::Message(mut big) = msg("#a", "m9", 1) else {
            unreachable!()
        };
        big.stanza = "x".repeat(MAX_ARCHIVED_STANZA_BYTES + 1).into();
        assert!(
            store
                .write_archive(&[ArchiveWrite::Message(big)])
                .await
                .is_err()
        );
        // A user's own archive, forgotten when they unregister.
        let mut own = msg("bob", "d1", 5);
        if let ArchiveWrite::Message(r) = &mut own {
            r.owner = "alice@x".into();
        }
        store.write_archive(&[own]).await.unwrap();
        let mine = ArchiveKey {
            transport: "irc",
            owner: "alice@x",
            chat: None,
        };
        assert_eq!(
            ids(&store.query_archive(&mine, &all).await.unwrap()),
            ["d1"]
        );
        store.forget_archive_of("irc", "alice@x").await.unwrap();
        assert!(
            store
                .query_archive(&mine, &all)
                .await
                .unwrap()
                .messages
                .is_empty()
        );
        store.expire_archive("irc", i64::MAX, 0).await.unwrap();
    }
}
