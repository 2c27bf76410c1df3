//! What the host writes to a backend's stdin, with flow control: lines wait in a queue that
//! a task of its own writes out, so the worker never blocks on the pipe. The worker takes
//! no new input from sessions while more than [`HIGH_WATER`] lines wait (their queues fill
//! and the core waits: back-pressure), and takes it again once they are down to
//! [`LOW_WATER`]. A backend that is merely slower than a burst is waited for; one that stops
//! reading is found by [`Stdin::stalled`]: lines wait and none was written for a while.
//!
//! The queue itself has no hard bound: what the worker puts in it beyond the high water is
//! what one input, or the logins after a restart, need (a login and the joins of the rooms
//! the host already keeps), proportional to state the host holds anyway.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::ChildStdin;
use tokio::sync::{Notify, mpsc};

/// Lines waiting beyond which the worker stops taking input.
pub const HIGH_WATER: usize = 1024;
/// Lines waiting at or below which it takes input again.
pub const LOW_WATER: usize = 256;

/// The backend is gone: its stdin is closed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the backend's input is closed")]
pub struct Closed;

/// Counters shared with the writing task.
#[derive(Debug, Default)]
struct Flow {
    /// Lines queued and not yet written.
    queued: AtomicUsize,
    /// When a line was last written, or the queue last became non-empty (ms since `epoch`).
    progress_ms: AtomicU64,
    /// Signalled when the queue drains to [`LOW_WATER`].
    drained: Notify,
}

/// The host's side of a backend's stdin.
#[derive(Debug)]
pub struct Stdin {
    lines: Option<mpsc::UnboundedSender<Vec<u8>>>,
    flow: Arc<Flow>,
    epoch: tokio::time::Instant,
}

impl Stdin {
    /// Starts the task that writes to `pipe`.
    pub fn new(pipe: ChildStdin) -> Stdin {
        let (lines, rx) = mpsc::unbounded_channel();
        let flow = Arc::new(Flow::default());
        let epoch = tokio::time::Instant::now();
        tokio::spawn(write(pipe, rx, flow.clone(), epoch));
        Stdin {
            lines: Some(lines),
            flow,
            epoch,
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Queues one line (its newline added).
    pub fn send(&self, mut line: Vec<u8>) -> Result<(), Closed> {
        line.push(b'\n');
        let lines = self.lines.as_ref().ok_or(Closed)?;
        if self.flow.queued.fetch_add(1, Ordering::AcqRel) == 0 {
            // Waiting starts now, not at the last write, however long ago that was.
            self.flow
                .progress_ms
                .store(self.now_ms(), Ordering::Release);
        }
        lines.send(line).map_err(|_| Closed)
    }

    /// Whether the worker may take more input.
    pub fn has_room(&self) -> bool {
        self.flow.queued.load(Ordering::Acquire) < HIGH_WATER
    }

    /// Lines waiting to be written.
    pub fn queued(&self) -> usize {
        self.flow.queued.load(Ordering::Acquire)
    }

    /// Waits until the queue is down to [`LOW_WATER`].
    pub async fn room(&self) {
        loop {
            let drained = self.flow.drained.notified();
            tokio::pin!(drained);
            // Registered before the check, so a drain in between still wakes us.
            drained.as_mut().enable();
            if self.flow.queued.load(Ordering::Acquire) <= LOW_WATER {
                return;
            }
            drained.await;
        }
    }

    /// Whether lines wait and none was written for `within`: the backend stopped reading.
    pub fn stalled(&self, within: Duration) -> bool {
        let since = self.now_ms()
            - self
                .flow
                .progress_ms
                .load(Ordering::Acquire)
                .min(self.now_ms());
        self.queued() > 0 && Duration::from_millis(since) > within
    }

    /// Closes the pipe once what is queued is written: the backend reads its EOF.
    pub fn close(&mut self) {
        self.lines = None;
    }
}

async fn write(
    mut pipe: ChildStdin,
    mut lines: mpsc::UnboundedReceiver<Vec<u8>>,
    flow: Arc<Flow>,
    epoch: tokio::time::Instant,
) {
    while let Some(line) = lines.recv().await {
        if pipe.write_all(&line).await.is_err() {
            return;
        }
        let now = u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        flow.progress_ms.store(now, Ordering::Release);
        let left = flow.queued.fetch_sub(1, Ordering::AcqRel) - 1;
        if left <= LOW_WATER {
            flow.drained.notify_waiters();
        }
        // Flushed when nothing else waits, so a burst goes out in few writes.
        if left == 0 && pipe.flush().await.is_err() {
            return;
        }
    }
}
