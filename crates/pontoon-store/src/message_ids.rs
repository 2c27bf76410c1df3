//! The message id map: which legacy message an XMPP id names, and which XMPP ids a legacy
//! message has, per conversation ([`ChatKey`]: transport, the user's account, the contact
//! or room). Corrections (XEP-0308), reactions (XEP-0444), retractions (XEP-0424), replies
//! (XEP-0461) and receipts name their target by an XMPP id (the client's origin-id or id, or
//! the stanza-id Pontoon stamped); a legacy network names it by its own id. Both directions
//! must find it after a restart, so the map is persisted; it is kept for a bounded time
//! ([`Store::expire_message_ids`]) and every id is bounded in size.
//!
//! The table is keyed by the XMPP id first (then the conversation): Pontoon's own ids grow
//! with time (`pontoon_core::ids::fresh`), so a batch's rows land on the last pages of the
//! key instead of one page per conversation, and a commit writes a few pages, not one per
//! row (bench/README.md, "eleventh steps").

use std::collections::HashMap;
use std::sync::Arc;

use crate::batch_tx::{BatchTx, Param};
use crate::error::StoreError;
use crate::multi_row::Inserts;
use crate::store::Store;

/// The account of a room's own records: ids of a message in a room that every user of the
/// gateway in it knows the message by (someone else's message, whose stanza-id is the
/// same for all of them), recorded once for all. A look-up finds the user's own records
/// first, then the room's: the look-ups' SQL names it as `''` and relies on it sorting
/// before every account.
pub const ROOM_ACCOUNT: &str = "";

/// Longest id stored (XMPP or legacy), in bytes.
pub const MAX_MESSAGE_ID_BYTES: usize = 256;

/// The XMPP ids one message is known by, each for what it is. Clients name a message by
/// different ids for different verbs: its `id` (receipts, markers and corrections in
/// direct chats, corrections of one's own message in a room), its XEP-0359 origin-id (what
/// retractions of one's own message name) or, in a room, the stanza-id the room gave it
/// (reactions, replies, retractions and markers there); so the map keeps which is which,
/// and the answer names the message as the client knows it, after a restart too. One
/// value may be several of them (clients often give the same value as id and origin-id).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XmppIds {
    /// The `id` attribute of the message as the user's clients got or sent it.
    pub id: Option<Arc<str>>,
    /// Its XEP-0359 origin-id.
    pub origin_id: Option<Arc<str>>,
    /// Its XEP-0359 stanza-id (in a room, by the room).
    pub stanza_id: Option<Arc<str>>,
    /// A thread id (RFC 6121 `<thread/>`) that names it as the root of a thread: the one a
    /// client gave a thread it started, or the one Pontoon showed for a root it did not
    /// know. Never the id of the message itself: verbs do not name a message by it.
    pub thread: Option<Arc<str>>,
}

/// The bits of the `kinds` column: what a stored XMPP id is to its message (0, for rows
/// written before the column existed: unknown, read as an `id`).
const KIND_ID: i16 = 1;
const KIND_ORIGIN: i16 = 2;
const KIND_STANZA: i16 = 4;
const KIND_THREAD: i16 = 8;

impl XmppIds {
    /// Each distinct value once, with what it is (no allocation: one record's at most four).
    fn rows(&self) -> impl Iterator<Item = (&Arc<str>, i16)> {
        let mut rows: [Option<(&Arc<str>, i16)>; 4] = [None; 4];
        let mut n = 0;
        for (value, kind) in [
            (&self.id, KIND_ID),
            (&self.origin_id, KIND_ORIGIN),
            (&self.stanza_id, KIND_STANZA),
            (&self.thread, KIND_THREAD),
        ] {
            let Some(value) = value else {
                continue;
            };
            match rows.iter_mut().flatten().find(|(v, _)| **v == *value) {
                Some((_, kinds)) => *kinds |= kind,
                None => {
                    rows[n] = Some((value, kind));
                    n += 1;
                }
            }
        }
        rows.into_iter().flatten()
    }

    /// Adds a stored value with its `kinds` bits.
    fn add(&mut self, value: Arc<str>, kinds: i16) {
        let slots = [
            (KIND_ID, &mut self.id),
            (KIND_ORIGIN, &mut self.origin_id),
            (KIND_STANZA, &mut self.stanza_id),
            (KIND_THREAD, &mut self.thread),
        ];
        for (kind, slot) in slots {
            if kinds & kind != 0 || (kinds == 0 && kind == KIND_ID && slot.is_none()) {
                *slot = Some(value.clone());
            }
        }
    }

    /// No id at all.
    pub fn is_empty(&self) -> bool {
        self.id.is_none()
            && self.origin_id.is_none()
            && self.stanza_id.is_none()
            && self.thread.is_none()
    }
}

/// One conversation of one user on one transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChatKey<'a> {
    /// The transport's name.
    pub transport: &'a str,
    /// The user's account (their bare JID); look-ups find the room's records
    /// ([`ROOM_ACCOUNT`]) too.
    pub account: &'a str,
    /// The contact's or room's legacy id.
    pub chat: &'a str,
}

/// A legacy message as the map knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappedMessage {
    /// The network's id of the message.
    pub legacy_id: Arc<str>,
    /// Who sent it: the legacy id of its author (a contact, an occupant, the user).
    pub author: Arc<str>,
    /// Whether the user sent it (only they may correct or retract it).
    pub own: bool,
}

/// One message's ids, owned: what a batch write takes. Its texts are `Arc<str>`, bound
/// without a copy (batch_tx.rs); the conversation's are shared by all its records, and a
/// line's stanza-id that is its id too is one text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageIds {
    /// The transport's name.
    pub transport: Arc<str>,
    /// The user's account (their bare JID), or [`ROOM_ACCOUNT`] for the room's record.
    pub account: Arc<str>,
    /// The contact's or room's legacy id.
    pub chat: Arc<str>,
    /// The legacy message.
    pub message: MappedMessage,
    /// The XMPP ids that name it.
    pub xmpp_ids: XmppIds,
}

fn check(id: &str) -> Result<(), StoreError> {
    if id.is_empty() || id.len() > MAX_MESSAGE_ID_BYTES {
        return Err(StoreError::BadMessageId(MAX_MESSAGE_ID_BYTES));
    }
    Ok(())
}

impl MessageIds {
    /// Whether the store takes this record: ids non-empty and within
    /// [`MAX_MESSAGE_ID_BYTES`], an author within it too. A batch writer checks each
    /// record before queueing it, since one bad record refuses a whole batch.
    pub fn check(&self) -> Result<(), StoreError> {
        check(&self.message.legacy_id)?;
        if self.message.author.len() > MAX_MESSAGE_ID_BYTES {
            return Err(StoreError::BadMessageId(MAX_MESSAGE_ID_BYTES));
        }
        self.xmpp_ids.rows().try_for_each(|(id, _)| check(id))
    }
}

impl Store {
    /// Records that `xmpp_ids` name the legacy message `message` in `chat`. An XMPP id
    /// already recorded in the chat now names this message (ids are reused only by
    /// misbehaving clients; the newest wins).
    pub async fn put_message_ids(
        &self,
        chat: &ChatKey<'_>,
        message: &MappedMessage,
        xmpp_ids: &XmppIds,
    ) -> Result<(), StoreError> {
        let record = MessageIds {
            transport: chat.transport.into(),
            account: chat.account.into(),
            chat: chat.chat.into(),
            message: message.clone(),
            xmpp_ids: xmpp_ids.clone(),
        };
        self.put_message_ids_batch(std::slice::from_ref(&record))
            .await
    }

    /// Records many messages' ids in one transaction (one disk sync). Every record is
    /// checked first: one bad record refuses the whole batch, nothing is half-written.
    pub async fn put_message_ids_batch(&self, records: &[MessageIds]) -> Result<(), StoreError> {
        records.iter().try_for_each(MessageIds::check)?;
        // One row per (chat, XMPP id), the last record winning (a client often gives the
        // same value as id and origin-id).
        let mut rows: Vec<(&MessageIds, &Arc<str>, i16)> = Vec::with_capacity(records.len() * 2);
        // foldhash, not SipHash: the keys are ours, and SipHash over four strings per row
        // was 3,000 instructions a message (`bench/profile`).
        let mut seen: HashMap<_, usize, foldhash::fast::RandomState> =
            HashMap::with_capacity_and_hasher(records.len() * 2, Default::default());
        for r in records {
            for (id, kinds) in r.xmpp_ids.rows() {
                let key = (&r.transport, &r.account, &r.chat, id);
                match seen.get(&key) {
                    Some(&i) => rows[i] = (r, id, kinds),
                    None => {
                        seen.insert(key, rows.len());
                        rows.push((r, id, kinds));
                    }
                }
            }
        }
        let now = crate::now();
        static INSERTS: std::sync::OnceLock<Inserts> = std::sync::OnceLock::new();
        let inserts = INSERTS.get_or_init(|| {
            Inserts::new(
                "INSERT INTO message_ids
                 (transport, account, chat, xmpp_id, legacy_id, author, own, created_at, kinds)",
                9,
                "ON CONFLICT (xmpp_id, transport, account, chat)
                 DO UPDATE SET legacy_id = excluded.legacy_id, author = excluded.author,
                               own = excluded.own, created_at = excluded.created_at,
                               kinds = excluded.kinds",
            )
        });
        let mut tx = BatchTx::begin(self).await?;
        // No (chat, XMPP id) twice in one statement (deduplicated above): PostgreSQL refuses
        // a statement that would update one row twice.
        inserts
            .execute(&mut tx, &rows, |(r, id, kinds)| {
                [
                    Param::Shared(&r.transport),
                    Param::Shared(&r.account),
                    Param::Shared(&r.chat),
                    Param::Shared(id),
                    Param::Shared(&r.message.legacy_id),
                    Param::Shared(&r.message.author),
                    Param::Small(i16::from(r.message.own)),
                    Param::Int(now),
                    Param::Small(*kinds),
                ]
            })
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The legacy message the XMPP id `xmpp_id` names in `chat`, if recorded: the user's
    /// record, else the room's.
    pub async fn legacy_message(
        &self,
        chat: &ChatKey<'_>,
        xmpp_id: &str,
    ) -> Result<Option<MappedMessage>, StoreError> {
        // '' sorts before any account: DESC puts the user's record first.
        let row: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT legacy_id, author, own FROM message_ids
             WHERE transport = $1 AND account IN ($2, '') AND chat = $3 AND xmpp_id = $4
             ORDER BY account DESC LIMIT 1",
        )
        .bind(chat.transport)
        .bind(chat.account)
        .bind(chat.chat)
        .bind(xmpp_id)
        .fetch_optional(self.db()?)
        .await?;
        Ok(row.map(|(legacy_id, author, own)| MappedMessage {
            legacy_id: legacy_id.into(),
            author: author.into(),
            own: own != 0,
        }))
    }

    /// The XMPP ids recorded for the legacy message `legacy_id` in `chat`, each for what
    /// it is, the user's records overriding the room's.
    ///
    /// Two look-ups: the XMPP id that is the legacy id itself (a room message's stanza-id
    /// where the network has no ids, or is the network's id) by the key, and the others by
    /// an index on legacy ids that holds only the rows whose XMPP id differs (the ids a
    /// client gave its message, the network's id learnt later): most records are of the
    /// first kind, and cost that index nothing.
    pub async fn xmpp_message_ids(
        &self,
        chat: &ChatKey<'_>,
        legacy_id: &str,
    ) -> Result<XmppIds, StoreError> {
        // The second WHERE names the partial index's condition as the index does, so that
        // both engines use it. `account` is selected only to order by: a compound SELECT
        // orders by its result columns.
        let rows: Vec<(String, i16, String)> = sqlx::query_as(
            "SELECT xmpp_id, kinds, account FROM message_ids
             WHERE transport = $1 AND account IN ($2, '') AND chat = $3
               AND xmpp_id = $4 AND legacy_id = $4
             UNION ALL
             SELECT xmpp_id, kinds, account FROM message_ids
             WHERE transport = $1 AND account IN ($2, '') AND chat = $3
               AND legacy_id = $4 AND legacy_id <> xmpp_id
             ORDER BY account, xmpp_id",
        )
        .bind(chat.transport)
        .bind(chat.account)
        .bind(chat.chat)
        .bind(legacy_id)
        .fetch_all(self.db()?)
        .await?;
        let mut ids = XmppIds::default();
        for (id, kinds, _) in rows {
            ids.add(id.into(), kinds);
        }
        Ok(ids)
    }

    /// Forgets every id recorded before `before` (unix seconds); returns how many.
    pub async fn expire_message_ids(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM message_ids WHERE created_at < $1")
            .bind(before)
            .execute(self.db()?)
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_old_rows_read_as_ids() {
        let ids = XmppIds {
            id: Some("a".into()),
            origin_id: Some("a".into()),
            stanza_id: Some("s".into()),
            thread: None,
        };
        let rows: Vec<(&str, i16)> = ids.rows().map(|(v, k)| (&**v, k)).collect();
        assert_eq!(rows, [("a", KIND_ID | KIND_ORIGIN), ("s", KIND_STANZA)]);
        let mut back = XmppIds::default();
        for (v, k) in rows {
            back.add(v.into(), k);
        }
        assert_eq!(back, ids);
        // A thread id is only that.
        let mut root = XmppIds::default();
        root.add("t".into(), KIND_THREAD);
        assert_eq!(root.thread.as_deref(), Some("t"));
        assert!(root.id.is_none() && root.origin_id.is_none() && root.stanza_id.is_none());
        // A row from before migration 8 says nothing of what it is: an id, unless one is
        // known already.
        let mut old = XmppIds::default();
        old.add("x".into(), 0);
        old.add("y".into(), 0);
        assert_eq!(old.id.as_deref(), Some("x"));
        assert!(old.origin_id.is_none() && old.stanza_id.is_none());
    }
}
