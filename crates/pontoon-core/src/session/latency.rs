//! When a user's message was read from the XMPP side, carried to the place where it is
//! handed to the legacy session, for the latency histogram (`pontoon-core/src/latency.rs`).

use std::future::Future;
use std::time::Instant;

use tokio::task::futures::TaskLocalFuture;

use super::Session;
use crate::control::ServiceCounters;

tokio::task_local! {
    /// When the user's message being acted on was read from the XMPP side: set around the
    /// handling of one message ([`Session::reading`]) and read where the message is handed
    /// to the legacy session ([`Session::sent_to_legacy`]). A task-local rather than a
    /// parameter through every verb, or a field that every session would carry.
    static READ_AT: Instant;
}

impl Session {
    /// Runs `handling` (of a user's message read from the XMPP side at `read_at`) so that
    /// [`Session::sent_to_legacy`] knows when it was read. Not an `async fn`: that would
    /// keep `handling` twice (as its argument and inside the scope's future), doubling a
    /// message's future, which is boxed once per message.
    pub(crate) fn reading<F: Future>(read_at: Instant, handling: F) -> TaskLocalFuture<Instant, F> {
        READ_AT.scope(read_at, handling)
    }

    /// Counts a user's message handed to the legacy session, with its latency (from
    /// [`Session::reading`]; none outside it).
    pub(crate) fn sent_to_legacy(&self) {
        match READ_AT.try_with(|t| *t) {
            Ok(read_at) => self.ctx.counters.message_to_legacy(read_at),
            Err(_) => ServiceCounters::bump(&self.ctx.counters.messages_to_legacy),
        }
    }
}
