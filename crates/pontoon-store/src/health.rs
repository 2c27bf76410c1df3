//! Whether the database server answers, so that a PostgreSQL server that is down costs
//! callers nothing.
//!
//! sqlx's pool retries a refused connection until its acquire timeout; every store call
//! made meanwhile waits that long, and the service loops that call the store (the
//! reconcile tick, registrations, logins) stop serving everyone else. So a task pings the
//! server every [`PING_EVERY`]; while the ping fails, every call fails at once with
//! [`StoreError::Unreachable`], and the first successful ping lets calls through again.
//! SQLite is a local file: it has no such state and is never watched.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::AnyPool;

use crate::error::StoreError;

/// How often the server is pinged.
pub const PING_EVERY: Duration = Duration::from_secs(1);

/// How long a ping may take before the server counts as down.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Up or down, shared by every clone of a store.
#[derive(Debug, Default)]
pub(crate) struct Health {
    /// Unix milliseconds since which the server has not answered; 0 while it answers.
    down_since_ms: AtomicU64,
}

impl Health {
    /// `Ok` while the server answers; [`StoreError::Unreachable`] (at once) while not.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        match self.down_since_ms.load(Ordering::Relaxed) {
            0 => Ok(()),
            since => Err(StoreError::Unreachable {
                for_secs: now_ms().saturating_sub(since) / 1000,
            }),
        }
    }

    /// Records a ping's outcome; logs the changes (once each, not per ping).
    fn record(&self, answered: Result<(), String>) {
        let was = self.down_since_ms.load(Ordering::Relaxed);
        match answered {
            Ok(()) if was != 0 => {
                self.down_since_ms.store(0, Ordering::Relaxed);
                tracing::info!(
                    down_secs = now_ms().saturating_sub(was) / 1000,
                    "the store's database answers again"
                );
            }
            Err(error) if was == 0 => {
                self.down_since_ms.store(now_ms().max(1), Ordering::Relaxed);
                tracing::error!(
                    %error,
                    "the store's database does not answer: what needs it is refused until it does"
                );
            }
            _ => {}
        }
    }
}

/// Starts pinging the server behind `pool`. The task ends when every store clone is gone
/// (it holds only a weak reference to `health`) or the pool is closed.
pub(crate) fn watch(pool: AnyPool, health: &Arc<Health>) {
    let health: Weak<Health> = Arc::downgrade(health);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PING_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if pool.is_closed() {
                break;
            }
            let answered =
                match tokio::time::timeout(PING_TIMEOUT, sqlx::query("SELECT 1").execute(&pool))
                    .await
                {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err(format!("no answer within {PING_TIMEOUT:?}")),
                };
            let Some(health) = health.upgrade() else {
                break;
            };
            health.record(answered);
        }
    });
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_fails_at_once_and_up_lets_calls_through() {
        let h = Health::default();
        assert!(h.check().is_ok());
        h.record(Err("refused".into()));
        assert!(matches!(
            h.check(),
            Err(StoreError::Unreachable { for_secs: 0 })
        ));
        h.record(Err("refused again".into()));
        assert!(h.check().is_err());
        h.record(Ok(()));
        assert!(h.check().is_ok());
    }
}
