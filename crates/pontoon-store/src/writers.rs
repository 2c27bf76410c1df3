//! Tasks that write to the store on others' behalf (the batch writers of the id map, the
//! archive, server mode's ledgers): [`Store::close`] tells them the store is closing and
//! waits for them to write what they hold before it closes the pool, so records queued
//! just before a shutdown are not lost to a closed pool.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::store::Store;

/// How long [`Store::close`] waits for its writers to finish (a full queue of a few
/// thousand records takes well under a second).
const WRITERS_WAIT: Duration = Duration::from_secs(3);

/// The writers of one store (shared by its clones).
#[derive(Default)]
pub(crate) struct Writers {
    /// Cancelled when the store starts closing.
    closing: CancellationToken,
    tasks: TaskTracker,
}

impl Writers {
    /// Tells every writer the store is closing, then waits (at most [`WRITERS_WAIT`])
    /// for each to end. False when some did not end in time. Idempotent.
    async fn finish(&self) -> bool {
        self.closing.cancel();
        self.tasks.close();
        tokio::time::timeout(WRITERS_WAIT, self.tasks.wait())
            .await
            .is_ok()
    }
}

impl Store {
    /// Tells every writer ([`Store::spawn_writer`]) the store is closing and waits (at
    /// most [`WRITERS_WAIT`]) for each to write what it holds and end; false (with a
    /// warning) when some did not in time. Records queued afterwards are refused, with a
    /// warning. [`Store::close`] does this first; the shutdown calls it earlier, before
    /// another instance may take the sessions over.
    pub async fn finish_writers(&self) -> bool {
        let finished = self.writers.finish().await;
        if !finished {
            tracing::warn!(
                within_secs = WRITERS_WAIT.as_secs(),
                "the store's writers did not finish in time; what they held is lost"
            );
        }
        finished
    }

    /// Spawns a writer task: `task` is given a token that is cancelled when the store
    /// starts closing; it should then write what it holds, accept nothing more, and end.
    /// [`Store::close`] waits for it (boundedly) before the pool closes.
    pub fn spawn_writer<F, Fut>(&self, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let closing = self.writers.closing.child_token();
        self.writers.tasks.spawn(task(closing));
    }
}
