//! Writes to the store off the sessions' path: a session hands each record to one writer
//! task and goes on; the task writes what has gathered in one transaction (one disk sync
//! for many messages, instead of one per message). The message id map
//! ([`crate::id_map`]) and the archive ([`crate::archive`]) each have one per service.
//!
//! A record is in the store within about [`LINGER`] after it was queued. A reader that
//! must see what was queued before it waits for it first ([`BatchWriter::settled`]), so
//! nothing needs a copy kept in the sessions' memory. Bounded: when the writer is `queue`
//! records behind, new records are dropped with a warning naming what was lost.
//!
//! The writer runs as one of the store's writers ([`Store::spawn_writer`]): when the store
//! closes, it writes what is queued, refuses what comes after (with a warning), and ends,
//! before the pool closes.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use pontoon_store::Store;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// Records per transaction, at most.
const BATCH: usize = 256;
/// How long the writer waits for more records before a write.
pub const LINGER: std::time::Duration = std::time::Duration::from_millis(50);
/// The longest [`BatchWriter::settled`] waits for records on their way.
const SETTLE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// What writes one batch: its records, in the order they were queued.
pub type WriteBatch<T> =
    Arc<dyn Fn(Vec<T>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The writer's queue, and the sequence number of the last record queued.
type Queue<T> = (mpsc::Sender<(u64, T)>, u64);

/// Where records go to be written in batches.
pub struct BatchWriter<T> {
    /// The queue, and the sequence number of the last record queued (numbered under the
    /// lock, so the queue's order is the numbers' order).
    tx: Arc<Mutex<Queue<T>>>,
    /// The sequence number of the last record written (or given up on).
    written: watch::Receiver<u64>,
    /// What a record is, for the warning when one is dropped.
    what: &'static str,
}

impl<T> Clone for BatchWriter<T> {
    fn clone(&self) -> Self {
        BatchWriter {
            tx: self.tx.clone(),
            written: self.written.clone(),
            what: self.what,
        }
    }
}

impl<T> std::fmt::Debug for BatchWriter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchWriter")
            .field("what", &self.what)
            .finish()
    }
}

impl<T: Send + 'static> BatchWriter<T> {
    /// Starts the writer task as one of `store`'s writers, holding at most `queue`
    /// records; it ends once every handle is dropped or the store closes, after writing
    /// its queue. `what` names a record in warnings.
    pub fn spawn(
        store: &Store,
        queue: usize,
        what: &'static str,
        write: WriteBatch<T>,
    ) -> BatchWriter<T> {
        let (tx, rx) = mpsc::channel(queue);
        let (written_tx, written) = watch::channel(0);
        store.spawn_writer(|closing| write_loop(rx, written_tx, write, closing));
        BatchWriter {
            tx: Arc::new(Mutex::new((tx, 0))),
            written,
            what,
        }
    }

    /// Queues `record` without waiting; false when the writer is too far behind (the
    /// record is dropped, with a warning).
    pub fn queue(&self, record: T) -> bool {
        let Ok(mut queue) = self.tx.lock() else {
            return false;
        };
        let (tx, last) = &mut *queue;
        match tx.try_send((*last + 1, record)) {
            Ok(()) => {
                *last += 1;
                true
            }
            Err(TrySendError::Full(_)) => {
                warn!("store writer behind; {} not written", self.what);
                false
            }
            Err(TrySendError::Closed(_)) => {
                warn!("the store is closing; {} not written", self.what);
                false
            }
        }
    }

    /// Waits until every record queued before this call is written (at most a couple of
    /// seconds: the caller then goes on with what the store has).
    pub async fn settled(&self) {
        let Some(target) = self.tx.lock().ok().map(|q| q.1) else {
            return;
        };
        let mut written = self.written.clone();
        let _ = tokio::time::timeout(SETTLE_WAIT, written.wait_for(|w| *w >= target)).await;
    }
}

async fn write_loop<T>(
    mut rx: mpsc::Receiver<(u64, T)>,
    written: watch::Sender<u64>,
    write: WriteBatch<T>,
    closing: CancellationToken,
) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let received = tokio::select! {
            n = rx.recv_many(&mut batch, BATCH) => n,
            // Closing: what is queued is still received (then 0), nothing more is taken.
            () = closing.cancelled(), if !rx.is_closed() => {
                rx.close();
                continue;
            }
        };
        if received == 0 {
            break;
        }
        // Linger a moment for more: one commit (one disk sync) for a busy moment's
        // records rather than one per record. Readers wait for it (`settled`). Not when
        // the store is closing: it waits for this.
        if batch.len() < BATCH && !closing.is_cancelled() {
            tokio::select! {
                () = tokio::time::sleep(LINGER) => {}
                () = closing.cancelled() => {}
            }
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
        }
        let last = batch.last().map(|(seq, _)| *seq).unwrap_or_default();
        write(batch.drain(..).map(|(_, r)| r).collect()).await;
        written.send_replace(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closing_the_store_writes_what_was_queued_and_refuses_what_comes_after() {
        let key = pontoon_store::StoreKey::from_bytes([7; 32]);
        let store = Store::open("sqlite::memory:", key).await.expect("store");
        let written = Arc::new(Mutex::new(Vec::new()));
        let into = written.clone();
        let writer = BatchWriter::spawn(
            &store,
            1000,
            "a number",
            Arc::new(move |batch: Vec<u32>| {
                let into = into.clone();
                Box::pin(async move {
                    // A slow store: the shutdown must wait for every batch.
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    into.lock().expect("lock").extend(batch);
                })
            }),
        );
        for n in 0..600 {
            assert!(writer.queue(n));
        }
        assert!(store.finish_writers().await);
        assert_eq!(*written.lock().expect("lock"), (0..600).collect::<Vec<_>>());
        assert!(!writer.queue(600), "a record after the close is refused");
    }
}
