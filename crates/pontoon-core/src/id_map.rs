//! Writes to the message id map off the sessions' path: a session hands each record to one
//! writer task per service and goes on; the task writes what has gathered in one
//! transaction (one disk sync for many messages, instead of one per message).
//!
//! A record is in the store within about [`LINGER`] after its message was reflected; a session
//! keeps its room's last own messages in memory meanwhile (`muc/own_messages.rs`), so an
//! immediate correction finds its target all the same. Bounded: when the writer is
//! [`QUEUE`] records behind, new records are dropped with a warning (later corrections of
//! those messages get `item-not-found`; nothing else is affected).

use pontoon_store::{MessageIds, Store};
use tokio::sync::mpsc;
use tracing::warn;

/// Records waiting for the writer, at most.
pub const QUEUE: usize = 4096;
/// Records per transaction, at most.
const BATCH: usize = 256;
/// How long the writer waits for more records before a write.
pub const LINGER: std::time::Duration = std::time::Duration::from_millis(50);

/// Where sessions send their records.
#[derive(Clone, Debug)]
pub struct IdMapWriter {
    tx: mpsc::Sender<MessageIds>,
}

impl IdMapWriter {
    /// Starts the writer task; it ends once every writer handle is dropped and its queue
    /// is written.
    pub fn spawn(store: Store) -> IdMapWriter {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(write_loop(store, rx));
        IdMapWriter { tx }
    }

    /// Queues `record` without waiting. A record the store would refuse (an id too long,
    /// from a hostile network) is left out here, not in the batch it would spoil.
    pub fn record(&self, record: MessageIds) {
        if let Err(e) = record.check() {
            tracing::debug!(error = %e, "a message's ids are not recorded");
            return;
        }
        if let Err(e) = self.tx.try_send(record) {
            warn!(error = %e, "message id map writer behind; a message's ids are not recorded");
        }
    }
}

async fn write_loop(store: Store, mut rx: mpsc::Receiver<MessageIds>) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        // Linger a moment for more: one commit (one disk sync) for a busy moment's
        // messages rather than one per message. The in-memory recent messages cover the
        // delay (see the module's comment).
        if batch.len() < BATCH {
            tokio::time::sleep(LINGER).await;
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
        }
        if let Err(e) = store.put_message_ids_batch(&batch).await {
            warn!(error = %e, records = batch.len(), "could not record messages' ids");
        }
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pontoon_store::{ChatKey, MappedMessage, StoreKey};

    #[tokio::test]
    async fn records_reach_the_store() {
        let store = Store::open("sqlite::memory:", StoreKey::from_bytes([2; 32]))
            .await
            .unwrap();
        let writer = IdMapWriter::spawn(store.clone());
        for i in 0..300 {
            writer.record(MessageIds {
                transport: "irc".into(),
                account: "alice@example.org".into(),
                chat: "#c".into(),
                message: MappedMessage {
                    legacy_id: format!("l{i}"),
                    author: "alice".into(),
                    own: true,
                },
                xmpp_ids: vec![format!("x{i}")],
            });
        }
        let chat = ChatKey {
            transport: "irc",
            account: "alice@example.org",
            chat: "#c",
        };
        let mut found = None;
        for _ in 0..100 {
            found = store.legacy_message(&chat, "x299").await.unwrap();
            if found.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(found.map(|m| m.legacy_id).as_deref(), Some("l299"));
    }
}
