//! A session's pace when the store's writers fall behind: its next input waits for them
//! (boundedly) instead of their queues overflowing and its records (the message id map,
//! the archive) being dropped. See [`crate::batch`] for when a writer counts as behind.

use super::SessionContext;

impl SessionContext {
    /// One of the writers this session feeds is far behind (two atomic reads each).
    pub(crate) fn writers_behind(&self) -> bool {
        self.id_map.behind() || self.archive.behind()
    }

    /// Waits until neither writer is behind, each at most
    /// [`crate::batch::CATCH_UP_WAIT`].
    pub(crate) async fn writers_caught_up(&self) {
        self.id_map.caught_up().await;
        self.archive.caught_up().await;
    }
}
