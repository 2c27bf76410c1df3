//! Writes to the store off the sessions' path: a session hands each record to one writer
//! task and goes on; the task writes what has gathered in one transaction (one disk sync
//! for many messages, instead of one per message). The message id map
//! ([`crate::id_map`]) and the archive ([`crate::archive`]) each have one per service.
//!
//! A record is in the store within about [`LINGER`] after it was queued. A reader that
//! must see what was queued before it waits for it first ([`BatchWriter::settled`]), so
//! nothing needs a copy kept in the sessions' memory.
//!
//! Bounded, with back-pressure: a session checks [`BatchWriter::behind`] before its next
//! input (an atomic read) and, when the writer's queue is more than three quarters full,
//! waits for it to catch up ([`BatchWriter::caught_up`], at most [`CATCH_UP_WAIT`]); its
//! input queue then fills and holds back whoever feeds it, down to the sockets. Without it
//! a saturated gateway dropped most of its id map's records (measured: 94,000 of 120,000
//! in a `bench/isolated.py` run), and its CPU figures left their writing out. A store that
//! is stuck (one batch taking over [`STUCK_AFTER`]: locked, its server gone) holds nobody:
//! messages keep flowing and, once the queue is full, records are dropped with a warning
//! naming what was lost.
//!
//! The writer runs as one of the store's writers ([`Store::spawn_writer`]): when the store
//! closes, it writes what is queued, refuses what comes after (with a warning), and ends,
//! before the pool closes.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pontoon_store::Store;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// Records per transaction, at most. A commit writes every page its rows touched, and the
/// archive's per-conversation index puts each conversation's rows on a page of its own,
/// so more rows a commit share more pages: at saturation 1,024 against 256 wrote about
/// half the bytes (WAL and checkpoints) and took about a quarter less CPU a message, both
/// directions (bench/README.md, thirteenth steps); 2,048 measured no better.
const BATCH: usize = 1024;
/// How long the writer waits for more records before a write.
pub const LINGER: std::time::Duration = std::time::Duration::from_millis(50);
/// The longest [`BatchWriter::settled`] waits for records on their way.
const SETTLE_WAIT: Duration = Duration::from_secs(2);
/// The longest [`BatchWriter::caught_up`] holds a session.
pub const CATCH_UP_WAIT: Duration = Duration::from_secs(2);
/// A batch taking longer than this means the store is stuck: nobody is held back for it.
pub const STUCK_AFTER: Duration = Duration::from_secs(1);

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
    /// The queue again, outside the lock: only to read how full it is.
    probe: mpsc::Sender<(u64, T)>,
    /// The sequence number of the last record written (or given up on).
    written: watch::Receiver<u64>,
    /// Since when the writer is on its current batch.
    pace: Arc<Pace>,
    /// What a record is, for the warning when one is dropped.
    what: &'static str,
}

impl<T> Clone for BatchWriter<T> {
    fn clone(&self) -> Self {
        BatchWriter {
            tx: self.tx.clone(),
            probe: self.probe.clone(),
            written: self.written.clone(),
            pace: self.pace.clone(),
            what: self.what,
        }
    }
}

/// When the writer began the batch it is writing, to tell a busy store from a stuck one.
struct Pace {
    epoch: Instant,
    /// Milliseconds after `epoch`, plus one, when the current batch began; 0 between batches.
    busy_since: AtomicU64,
}

impl Pace {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    fn begin(&self) {
        self.busy_since.store(self.now(), Ordering::Relaxed);
    }

    fn end(&self) {
        self.busy_since.store(0, Ordering::Relaxed);
    }

    /// The current batch has taken longer than [`STUCK_AFTER`].
    fn stuck(&self) -> bool {
        let since = self.busy_since.load(Ordering::Relaxed);
        since != 0 && self.now().saturating_sub(since) > STUCK_AFTER.as_millis() as u64
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
        let pace = Arc::new(Pace {
            epoch: Instant::now(),
            busy_since: AtomicU64::new(0),
        });
        let loop_pace = pace.clone();
        store.spawn_writer(|closing| write_loop(rx, written_tx, write, closing, loop_pace));
        BatchWriter {
            probe: tx.clone(),
            tx: Arc::new(Mutex::new((tx, 0))),
            written,
            pace,
            what,
        }
    }

    /// The writer is more than three quarters of its queue behind, and its store is not
    /// stuck: whoever queues records should wait for it ([`BatchWriter::caught_up`]).
    /// Two atomic reads in the usual case.
    pub fn behind(&self) -> bool {
        self.probe.capacity() < self.probe.max_capacity() / 4
            && !self.probe.is_closed()
            && !self.pace.stuck()
    }

    /// Waits until the writer is no longer [`behind`](BatchWriter::behind), at most
    /// [`CATCH_UP_WAIT`].
    pub async fn caught_up(&self) {
        let mut written = self.written.clone();
        let _ = tokio::time::timeout(CATCH_UP_WAIT, written.wait_for(|_| !self.behind())).await;
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
    pace: Arc<Pace>,
) {
    // Grown as busy moments need it (up to BATCH), not sized for the worst at start.
    let mut batch = Vec::new();
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
        pace.begin();
        write(batch.drain(..).map(|(_, r)| r).collect()).await;
        pace.end();
        written.send_replace(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer whose every batch takes `each`, into `written`, with a queue of `queue`.
    async fn slow_writer(
        each: Duration,
        queue: usize,
    ) -> (Store, BatchWriter<u32>, Arc<Mutex<Vec<u32>>>) {
        let key = pontoon_store::StoreKey::from_bytes([7; 32]);
        let store = Store::open("sqlite::memory:", key).await.expect("store");
        let written = Arc::new(Mutex::new(Vec::new()));
        let into = written.clone();
        let writer = BatchWriter::spawn(
            &store,
            queue,
            "a number",
            Arc::new(move |batch: Vec<u32>| {
                let into = into.clone();
                Box::pin(async move {
                    tokio::time::sleep(each).await;
                    into.lock().expect("lock").extend(batch);
                })
            }),
        );
        (store, writer, written)
    }

    #[tokio::test]
    async fn closing_the_store_writes_what_was_queued_and_refuses_what_comes_after() {
        // A slow store: the shutdown must wait for every batch.
        let (store, writer, written) = slow_writer(Duration::from_millis(20), 1000).await;
        for n in 0..600 {
            assert!(writer.queue(n));
        }
        assert!(store.finish_writers().await);
        assert_eq!(*written.lock().expect("lock"), (0..600).collect::<Vec<_>>());
        assert!(!writer.queue(600), "a record after the close is refused");
    }

    #[tokio::test]
    async fn a_writer_three_quarters_behind_holds_its_feeders_until_it_catches_up() {
        let (_store, writer, written) = slow_writer(Duration::from_millis(100), 100).await;
        for n in 0..70 {
            assert!(writer.queue(n));
        }
        assert!(!writer.behind(), "70 of 100 queued is not behind");
        for n in 70..90 {
            assert!(writer.queue(n));
        }
        assert!(writer.behind(), "90 of 100 queued");
        writer.caught_up().await;
        assert!(!writer.behind());
        assert!(
            !written.lock().expect("lock").is_empty(),
            "a batch was written meanwhile"
        );
    }

    #[tokio::test]
    async fn a_stuck_store_holds_nobody() {
        let (_store, writer, _written) = slow_writer(Duration::from_secs(30), 100).await;
        // The first record starts a batch that will not end; the rest wait behind it.
        assert!(writer.queue(0));
        tokio::time::sleep(LINGER * 2).await;
        for n in 1..90 {
            assert!(writer.queue(n));
        }
        assert!(writer.behind(), "busy for less than STUCK_AFTER: behind");
        tokio::time::sleep(STUCK_AFTER + Duration::from_millis(200)).await;
        assert!(!writer.behind(), "stuck: nobody waits for it");
        let started = Instant::now();
        writer.caught_up().await;
        assert!(started.elapsed() < Duration::from_millis(100));
    }
}
