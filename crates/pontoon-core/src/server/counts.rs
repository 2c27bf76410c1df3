//! How many clients are connected in server mode, for the operator (`/metrics`): kept by
//! the router as clients bind and leave, read without waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A cheap, cloneable handle on the router's client counts. Made before the router (so the
/// console can be given it first) and handed to it with
/// [`Router::with_counts`](super::Router::with_counts).
#[derive(Clone, Debug, Default)]
pub struct ClientCounts(Arc<[AtomicU64; 2]>);

impl ClientCounts {
    /// Client streams bound to a resource, including ones that wait to be resumed
    /// (XEP-0198) until they are given up.
    pub fn connections(&self) -> u64 {
        self.0[0].load(Ordering::Relaxed)
    }

    /// Users with at least one such stream.
    pub fn users(&self) -> u64 {
        self.0[1].load(Ordering::Relaxed)
    }

    pub(crate) fn set(&self, connections: usize, users: usize) {
        let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
        self.0[0].store(n(connections), Ordering::Relaxed);
        self.0[1].store(n(users), Ordering::Relaxed);
    }
}
