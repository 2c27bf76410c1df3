//! Keeps the message id map bounded in time: at start and then every hour, the ids recorded
//! longer ago than the retention (`[store] message_id_retention_days`) are forgotten. A
//! correction or retraction naming an older message is then refused with `item-not-found`.

use std::time::Duration;

use pontoon_store::Store;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// How often the expiry runs.
const EVERY: Duration = Duration::from_secs(3600);

/// Runs until `shutdown`.
pub async fn keep_message_ids(store: Store, retention: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let before = now.saturating_sub(retention).as_secs();
        let before = i64::try_from(before).unwrap_or(i64::MAX);
        match store.expire_message_ids(before).await {
            Ok(n) => debug!(forgotten = n, "message id map trimmed"),
            Err(e) => warn!(error = %e, "could not trim the message id map"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pontoon_store::{ChatKey, MappedMessage, StoreKey};

    #[tokio::test]
    async fn ids_older_than_the_retention_are_forgotten() {
        let store = Store::open("sqlite::memory:", StoreKey::from_bytes([1; 32]))
            .await
            .unwrap();
        let chat = ChatKey {
            transport: "irc",
            account: "alice@example.org",
            chat: "#c",
        };
        let m = MappedMessage {
            legacy_id: "l1".into(),
            author: "alice".into(),
            own: true,
        };
        let ids = pontoon_store::XmppIds {
            id: Some("x1".into()),
            ..Default::default()
        };
        store.put_message_ids(&chat, &m, &ids).await.unwrap();
        // Stamps are whole seconds: let one pass, then keep nothing older than now.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(keep_message_ids(
            store.clone(),
            Duration::ZERO,
            shutdown.clone(),
        ));
        let mut gone = false;
        for _ in 0..50 {
            if store.legacy_message(&chat, "x1").await.unwrap().is_none() {
                gone = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        shutdown.cancel();
        task.await.unwrap();
        assert!(gone, "the expired id is still mapped");
    }
}
