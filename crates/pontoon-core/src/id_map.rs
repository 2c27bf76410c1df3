//! Writes to the message id map off the sessions' path, through one batch writer per
//! service ([`crate::batch`]): one disk sync for many messages, instead of one per message.
//!
//! A record is in the store within about [`LINGER`] after its message crossed. A look-up
//! that finds nothing while records are still on their way waits for them first
//! ([`IdMapWriter::settled`]), so a correction or reaction sent at once finds its target
//! without any copy kept in the sessions' memory. Bounded, with back-pressure on the
//! sessions ([`crate::batch`]); when the store is stuck and the writer [`QUEUE`] records
//! behind, new records are dropped with a warning (later look-ups of those messages get
//! `item-not-found`; nothing else is affected).

use std::sync::Arc;

use pontoon_store::{MessageIds, ROOM_ACCOUNT, Store};
use tracing::warn;

use crate::batch::BatchWriter;
pub use crate::batch::LINGER;

/// Records waiting for the writer, at most.
pub const QUEUE: usize = 4096;

/// Where sessions send their records.
#[derive(Clone, Debug)]
pub struct IdMapWriter {
    writer: BatchWriter<MessageIds>,
    /// The transport's name, shared by its records.
    transport: Arc<str>,
    /// [`ROOM_ACCOUNT`], shared by the rooms' records.
    room_account: Arc<str>,
}

impl IdMapWriter {
    /// Starts the writer task of `transport`'s records; it ends once every writer handle
    /// is dropped and its queue is written.
    pub fn spawn(store: Store, transport: &str) -> IdMapWriter {
        let writer = BatchWriter::spawn(
            &store.clone(),
            QUEUE,
            "a message's ids",
            Arc::new(move |records: Vec<MessageIds>| {
                let store = store.clone();
                Box::pin(async move {
                    if let Err(e) = store.put_message_ids_batch(&records).await {
                        warn!(error = %e, records = records.len(), "could not record messages' ids");
                    }
                })
            }),
        );
        IdMapWriter {
            writer,
            transport: transport.into(),
            room_account: ROOM_ACCOUNT.into(),
        }
    }

    /// The transport's name, for its records.
    pub fn transport(&self) -> &Arc<str> {
        &self.transport
    }

    /// [`ROOM_ACCOUNT`], for a room's records.
    pub fn room_account(&self) -> &Arc<str> {
        &self.room_account
    }

    /// Queues `record` without waiting. A record the store would refuse (an id too long,
    /// from a hostile network) is left out here, not in the batch it would spoil.
    pub fn record(&self, record: MessageIds) {
        if let Err(e) = record.check() {
            tracing::debug!(error = %e, "a message's ids are not recorded");
            return;
        }
        self.writer.queue(record);
    }

    /// Waits until every record queued before this call is written (at most a couple of
    /// seconds: a look-up then goes on with what the store has).
    pub async fn settled(&self) {
        self.writer.settled().await;
    }

    /// The writer is far behind: a session should wait before its next input
    /// ([`crate::batch::BatchWriter::behind`]).
    pub fn behind(&self) -> bool {
        self.writer.behind()
    }

    /// Waits (boundedly) until the writer is no longer behind.
    pub async fn caught_up(&self) {
        self.writer.caught_up().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pontoon_store::{ChatKey, MappedMessage, StoreKey};

    #[tokio::test]
    async fn records_reach_the_store_and_settled_waits_for_them() {
        let store = Store::open("sqlite::memory:", StoreKey::from_bytes([2; 32]))
            .await
            .unwrap();
        let writer = IdMapWriter::spawn(store.clone(), "irc");
        for i in 0..300 {
            writer.record(MessageIds {
                transport: "irc".into(),
                account: "alice@example.org".into(),
                chat: "#c".into(),
                message: MappedMessage {
                    legacy_id: format!("l{i}").into(),
                    author: "alice".into(),
                    own: true,
                },
                xmpp_ids: pontoon_store::XmppIds {
                    id: Some(format!("x{i}").into()),
                    ..Default::default()
                },
            });
        }
        writer.settled().await;
        let chat = ChatKey {
            transport: "irc",
            account: "alice@example.org",
            chat: "#c",
        };
        let found = store.legacy_message(&chat, "x299").await.unwrap();
        assert_eq!(found.map(|m| m.legacy_id).as_deref(), Some("l299"));
    }
}
