//! What XEP-0198's `h` counts: stanzas the server has *handled*, not merely read. A client
//! that loses its stream re-sends what `h` does not cover, so a stanza is counted only once
//! the application has done with it (a message passed to the network or kept in the store,
//! a presence applied): a `kill -9` between reading a message and keeping it then loses
//! nothing the client believes delivered.
//!
//! The c2s connection issues one [`Handled`] per stanza it reads, in order, and the
//! application drops it when done; [`Receipts::handled`] is the number of stanzas done
//! without a gap from the first, which is what `<a h=.../>` reports. Written here because
//! no crate of the field tracks completion out of order for XEP-0198.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

/// One stanza read from a client, not yet handled; handled when dropped.
#[derive(Debug)]
#[must_use = "the stanza counts as handled when this is dropped"]
pub struct Handled {
    receipts: Arc<Receipts>,
    seq: u64,
}

/// The same receipt (of the same stream).
impl PartialEq for Handled {
    fn eq(&self, other: &Handled) -> bool {
        Arc::ptr_eq(&self.receipts, &other.receipts) && self.seq == other.seq
    }
}

impl Drop for Handled {
    fn drop(&mut self) {
        self.receipts.done(self.seq);
    }
}

/// The count of one stream's handled stanzas (the `h` of XEP-0198).
#[derive(Debug, Default)]
pub struct Receipts {
    state: Mutex<State>,
    caught_up: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// Stanzas issued so far (the next one's number).
    issued: u64,
    /// Stanzas handled without a gap from the first.
    handled: u64,
    /// Handled ones beyond a gap (an earlier one is still in the application's hands).
    ahead: BTreeSet<u64>,
}

impl Receipts {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A receipt for the next stanza read.
    pub fn issue(self: &Arc<Self>) -> Handled {
        let mut state = self.state();
        let seq = state.issued;
        state.issued += 1;
        Handled {
            receipts: self.clone(),
            seq,
        }
    }

    fn done(&self, seq: u64) {
        let mut state = self.state();
        if seq == state.handled {
            state.handled += 1;
            loop {
                let next = state.handled;
                if !state.ahead.remove(&next) {
                    break;
                }
                state.handled += 1;
            }
            if state.handled == state.issued {
                self.caught_up.notify_one();
            }
        } else {
            state.ahead.insert(seq);
        }
    }

    /// Stanzas handled without a gap, as XEP-0198 counts them (modulo 2^32).
    pub fn handled(&self) -> u32 {
        // Truncation is XEP-0198's wrap-around.
        self.state().handled as u32
    }

    /// Whether every stanza issued so far is handled.
    pub fn all_handled(&self) -> bool {
        let state = self.state();
        state.handled == state.issued
    }

    /// Waits until every stanza issued so far is handled, or `limit` has passed; returns
    /// the count then.
    pub async fn settle(&self, limit: Duration) -> u32 {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.caught_up.notified();
            if self.all_handled() {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                break;
            }
        }
        self.handled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_what_is_handled_without_a_gap() {
        let receipts = Arc::new(Receipts::default());
        let a = receipts.issue();
        let b = receipts.issue();
        let c = receipts.issue();
        assert_eq!(receipts.handled(), 0);
        drop(b);
        drop(c);
        assert_eq!(receipts.handled(), 0, "the first is still in hand");
        assert!(!receipts.all_handled());
        drop(a);
        assert_eq!(receipts.handled(), 3);
        assert!(receipts.all_handled());
    }

    #[tokio::test]
    async fn settle_waits_for_the_last_and_no_longer_than_asked() {
        let receipts = Arc::new(Receipts::default());
        let a = receipts.issue();
        let later = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(a);
        });
        assert_eq!(receipts.settle(Duration::from_secs(5)).await, 1);
        later.await.ok();
        let _kept = receipts.issue();
        let started = std::time::Instant::now();
        assert_eq!(receipts.settle(Duration::from_millis(30)).await, 1);
        assert!(started.elapsed() >= Duration::from_millis(30));
    }
}
