//! Writes to the message id map off the sessions' path: a session hands each record to one
//! writer task per service and goes on; the task writes what has gathered in one
//! transaction (one disk sync for many messages, instead of one per message).
//!
//! A record is in the store within about [`LINGER`] after its message crossed. A look-up
//! that finds nothing while records are still on their way waits for them first
//! ([`IdMapWriter::settled`]), so a correction or reaction sent at once finds its target
//! without any copy kept in the sessions' memory. Bounded: when the writer is [`QUEUE`]
//! records behind, new records are dropped with a warning (later look-ups of those
//! messages get `item-not-found`; nothing else is affected).

use std::sync::{Arc, Mutex};

use pontoon_store::{MessageIds, Store};
use tokio::sync::{mpsc, watch};
use tracing::warn;

/// Records waiting for the writer, at most.
pub const QUEUE: usize = 4096;
/// Records per transaction, at most.
const BATCH: usize = 256;
/// How long the writer waits for more records before a write.
pub const LINGER: std::time::Duration = std::time::Duration::from_millis(50);
/// The longest a look-up waits for records on their way.
const SETTLE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The writer's queue, and the sequence number of the last record queued.
type Queue = (mpsc::Sender<(u64, MessageIds)>, u64);

/// Where sessions send their records.
#[derive(Clone, Debug)]
pub struct IdMapWriter {
    /// The queue, and the sequence number of the last record queued (numbered under the
    /// lock, so the queue's order is the numbers' order).
    tx: Arc<Mutex<Queue>>,
    /// The sequence number of the last record written (or given up on).
    written: watch::Receiver<u64>,
}

impl IdMapWriter {
    /// Starts the writer task; it ends once every writer handle is dropped and its queue
    /// is written.
    pub fn spawn(store: Store) -> IdMapWriter {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (written_tx, written) = watch::channel(0);
        tokio::spawn(write_loop(store, rx, written_tx));
        IdMapWriter {
            tx: Arc::new(Mutex::new((tx, 0))),
            written,
        }
    }

    /// Queues `record` without waiting. A record the store would refuse (an id too long,
    /// from a hostile network) is left out here, not in the batch it would spoil.
    pub fn record(&self, record: MessageIds) {
        if let Err(e) = record.check() {
            tracing::debug!(error = %e, "a message's ids are not recorded");
            return;
        }
        let Ok(mut queue) = self.tx.lock() else {
            return;
        };
        let (tx, last) = &mut *queue;
        match tx.try_send((*last + 1, record)) {
            Ok(()) => *last += 1,
            Err(e) => {
                warn!(error = %e, "message id map writer behind; a message's ids are not recorded")
            }
        }
    }

    /// Waits until every record queued before this call is written (at most a couple of
    /// seconds: a look-up then goes on with what the store has).
    pub async fn settled(&self) {
        let Some(target) = self.tx.lock().ok().map(|q| q.1) else {
            return;
        };
        let mut written = self.written.clone();
        let _ = tokio::time::timeout(SETTLE_WAIT, written.wait_for(|w| *w >= target)).await;
    }
}

async fn write_loop(
    store: Store,
    mut rx: mpsc::Receiver<(u64, MessageIds)>,
    written: watch::Sender<u64>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        // Linger a moment for more: one commit (one disk sync) for a busy moment's
        // messages rather than one per message. Look-ups wait for it (`settled`).
        if batch.len() < BATCH {
            tokio::time::sleep(LINGER).await;
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
        }
        let last = batch.last().map(|(seq, _)| *seq).unwrap_or_default();
        let records: Vec<MessageIds> = batch.drain(..).map(|(_, r)| r).collect();
        if let Err(e) = store.put_message_ids_batch(&records).await {
            warn!(error = %e, records = records.len(), "could not record messages' ids");
        }
        written.send_replace(last);
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
                xmpp_ids: pontoon_store::XmppIds {
                    id: Some(format!("x{i}")),
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
