//! The message id map: which legacy message an XMPP id names, and which XMPP ids a legacy
//! message has, per conversation ([`ChatKey`]: transport, the user's account, the contact
//! or room). Corrections (XEP-0308), reactions (XEP-0444), retractions (XEP-0424), replies
//! (XEP-0461) and receipts name their target by an XMPP id (the client's origin-id or id, or
//! the stanza-id Pontoon stamped); a legacy network names it by its own id. Both directions
//! must find it after a restart, so the map is persisted; it is kept for a bounded time
//! ([`Store::expire_message_ids`]) and every id is bounded in size.

use crate::error::StoreError;
use crate::store::Store;

/// Longest id stored (XMPP or legacy), in bytes.
pub const MAX_MESSAGE_ID_BYTES: usize = 256;
/// Most XMPP ids recorded for one legacy message at once (origin-id, id, stanza-id...).
pub const MAX_XMPP_IDS_PER_MESSAGE: usize = 8;

/// One conversation of one user on one transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChatKey<'a> {
    /// The transport's name.
    pub transport: &'a str,
    /// The user's account (their bare JID).
    pub account: &'a str,
    /// The contact's or room's legacy id.
    pub chat: &'a str,
}

/// A legacy message as the map knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappedMessage {
    /// The network's id of the message.
    pub legacy_id: String,
    /// Who sent it: the legacy id of its author (a contact, an occupant, the user).
    pub author: String,
    /// Whether the user sent it (only they may correct or retract it).
    pub own: bool,
}

/// One message's ids, owned: what a batch write takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageIds {
    /// The transport's name.
    pub transport: String,
    /// The user's account (their bare JID).
    pub account: String,
    /// The contact's or room's legacy id.
    pub chat: String,
    /// The legacy message.
    pub message: MappedMessage,
    /// The XMPP ids that name it.
    pub xmpp_ids: Vec<String>,
}

fn check(id: &str) -> Result<(), StoreError> {
    if id.is_empty() || id.len() > MAX_MESSAGE_ID_BYTES {
        return Err(StoreError::BadMessageId(MAX_MESSAGE_ID_BYTES));
    }
    Ok(())
}

impl MessageIds {
    /// Whether the store takes this record: ids non-empty and within
    /// [`MAX_MESSAGE_ID_BYTES`], an author within it too, at most
    /// [`MAX_XMPP_IDS_PER_MESSAGE`] XMPP ids. A batch writer checks each record before
    /// queueing it, since one bad record refuses a whole batch.
    pub fn check(&self) -> Result<(), StoreError> {
        check(&self.message.legacy_id)?;
        if self.message.author.len() > MAX_MESSAGE_ID_BYTES
            || self.xmpp_ids.len() > MAX_XMPP_IDS_PER_MESSAGE
        {
            return Err(StoreError::BadMessageId(MAX_MESSAGE_ID_BYTES));
        }
        self.xmpp_ids.iter().try_for_each(|id| check(id))
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
        xmpp_ids: &[&str],
    ) -> Result<(), StoreError> {
        let record = MessageIds {
            transport: chat.transport.to_owned(),
            account: chat.account.to_owned(),
            chat: chat.chat.to_owned(),
            message: message.clone(),
            xmpp_ids: xmpp_ids.iter().map(|s| (*s).to_owned()).collect(),
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
        let mut rows: Vec<(&MessageIds, &str)> = Vec::new();
        let mut seen = std::collections::HashMap::new();
        for r in records {
            for id in &r.xmpp_ids {
                let key = (&r.transport, &r.account, &r.chat, id.as_str());
                match seen.get(&key) {
                    Some(&i) => rows[i] = (r, id.as_str()),
                    None => {
                        seen.insert(key, rows.len());
                        rows.push((r, id.as_str()));
                    }
                }
            }
        }
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        // One fixed statement, prepared once per connection (a multi-row statement of
        // varying length was prepared anew for every batch: slower, measured).
        for (r, id) in rows {
            sqlx::query(
                "INSERT INTO message_ids
                 (transport, account, chat, xmpp_id, legacy_id, author, own, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                 ON CONFLICT (transport, account, chat, xmpp_id)
                 DO UPDATE SET legacy_id = excluded.legacy_id, author = excluded.author,
                               own = excluded.own, created_at = excluded.created_at",
            )
            .bind(&r.transport)
            .bind(&r.account)
            .bind(&r.chat)
            .bind(id)
            .bind(&r.message.legacy_id)
            .bind(&r.message.author)
            .bind(i16::from(r.message.own))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The legacy message the XMPP id `xmpp_id` names in `chat`, if recorded.
    pub async fn legacy_message(
        &self,
        chat: &ChatKey<'_>,
        xmpp_id: &str,
    ) -> Result<Option<MappedMessage>, StoreError> {
        let row: Option<(String, String, i64)> = sqlx::query_as(
            "SELECT legacy_id, author, own FROM message_ids
             WHERE transport = $1 AND account = $2 AND chat = $3 AND xmpp_id = $4",
        )
        .bind(chat.transport)
        .bind(chat.account)
        .bind(chat.chat)
        .bind(xmpp_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(legacy_id, author, own)| MappedMessage {
            legacy_id,
            author,
            own: own != 0,
        }))
    }

    /// Every XMPP id recorded for the legacy message `legacy_id` in `chat`, sorted (a scan
    /// of the chat's ids: no index on legacy ids until a network edit needs this often).
    pub async fn xmpp_message_ids(
        &self,
        chat: &ChatKey<'_>,
        legacy_id: &str,
    ) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT xmpp_id FROM message_ids
             WHERE transport = $1 AND account = $2 AND chat = $3 AND legacy_id = $4
             ORDER BY xmpp_id",
        )
        .bind(chat.transport)
        .bind(chat.account)
        .bind(chat.chat)
        .bind(legacy_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Forgets every id recorded before `before` (unix seconds); returns how many.
    pub async fn expire_message_ids(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM message_ids WHERE created_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
