//! How many connections to one IRC server are being opened at once.
//!
//! After a restart, or when many users join at the same moment, every session opens its
//! connection at once. IRC servers listen with small backlogs (ngircd: 10), and the kernel
//! drops the connection requests beyond it; each dropped one costs its user a one-second
//! retransmission, and 200 users at once lost about two seconds that way
//! (bench/README.md). Here each server host lets [`PER_SERVER`] connections open at a time:
//! a turn lasts from the TCP connect until the server has sent its first line (it has
//! accepted the connection then), or until the attempt ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connections to one server host being opened at once (below ngircd's backlog of 10).
pub const PER_SERVER: usize = 8;

/// The turns of every server host of one transport.
#[derive(Debug, Default)]
pub struct ConnectGate {
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// A connection's turn to open; the next one may start when it is dropped.
#[derive(Debug)]
pub struct Turn {
    _permit: OwnedSemaphorePermit,
}

impl ConnectGate {
    /// Waits for a turn to open a connection to `host` (case-insensitive).
    pub async fn enter(&self, host: &str) -> Turn {
        let semaphore = {
            let mut hosts = match self.hosts.lock() {
                Ok(h) => h,
                // A panic elsewhere while holding the lock: the map itself is still sound.
                Err(poisoned) => poisoned.into_inner(),
            };
            // Forget hosts nobody is opening a connection to (the map holds the only
            // reference), so the map stays as small as the set of busy servers.
            hosts.retain(|_, s| Arc::strong_count(s) > 1);
            hosts
                .entry(host.to_ascii_lowercase())
                .or_insert_with(|| Arc::new(Semaphore::new(PER_SERVER)))
                .clone()
        };
        loop {
            // Never closed, so this does not fail; should it, a fresh permit is as good.
            match semaphore.clone().acquire_owned().await {
                Ok(permit) => return Turn { _permit: permit },
                Err(_) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_host_lets_per_server_turns_at_once_and_others_are_independent() {
        let gate = Arc::new(ConnectGate::default());
        let mut turns = Vec::new();
        for _ in 0..PER_SERVER {
            turns.push(gate.enter("irc.example.org").await);
        }
        let waiting = tokio::spawn({
            let gate = gate.clone();
            async move { gate.enter("IRC.example.org").await }
        });
        // Another server is not held up.
        let other = tokio::time::timeout(Duration::from_secs(5), gate.enter("irc.other.net")).await;
        assert!(other.is_ok());
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "the ninth turn waits");
        turns.pop();
        let next = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert!(matches!(next, Ok(Ok(_))));
        drop((turns, other, next));
        // Hosts nobody connects to are forgotten.
        let _t = gate.enter("irc.third.org").await;
        let hosts = gate.hosts.lock().map(|h| h.len()).unwrap_or_default();
        assert_eq!(hosts, 1);
    }
}
