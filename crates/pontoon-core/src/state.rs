//! The transport's own persisted state for one account (`pontoon_store::transport_state`):
//! what a network needs to remember between sessions (a Matrix sync token, a device id),
//! handed to each session at start, so a transport never writes files. Values are bytes,
//! encrypted at rest, bounded by the store (`MAX_STATE_*`).

use pontoon_store::{Store, StoreError};

/// One account's state on one transport.
#[derive(Clone, Debug)]
pub struct TransportState {
    store: Option<Store>,
    transport: String,
    account: String,
}

impl TransportState {
    /// The state of `account` (the user's bare JID) on `transport`, in `store`.
    pub fn new(store: Store, transport: &str, account: &str) -> Self {
        TransportState {
            store: Some(store),
            transport: transport.to_owned(),
            account: account.to_owned(),
        }
    }

    /// No store behind it (a transport's own tests): nothing is ever set, and setting
    /// anything fails with [`StoreError::Unavailable`].
    pub fn detached() -> Self {
        TransportState {
            store: None,
            transport: String::new(),
            account: String::new(),
        }
    }

    /// The value of `key`, if set.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match &self.store {
            Some(s) => s.transport_state(&self.transport, &self.account, key).await,
            None => Ok(None),
        }
    }

    /// Sets `key` to `value`.
    pub async fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        match &self.store {
            Some(s) => {
                s.put_transport_state(&self.transport, &self.account, key, value)
                    .await
            }
            None => Err(StoreError::Unavailable),
        }
    }

    /// Removes `key`.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match &self.store {
            Some(s) => {
                s.delete_transport_state(&self.transport, &self.account, key)
                    .await
            }
            None => Err(StoreError::Unavailable),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use pontoon_store::StoreKey;

    #[tokio::test]
    async fn values_persist_per_account() {
        let store = Store::open("sqlite::memory:", StoreKey::from_bytes([3; 32]))
            .await
            .unwrap();
        let alice = TransportState::new(store.clone(), "test", "alice@example.org");
        let bob = TransportState::new(store.clone(), "test", "bob@example.org");
        alice.put("token", b"t1").await.unwrap();
        assert_eq!(
            alice.get("token").await.unwrap().as_deref(),
            Some(&b"t1"[..])
        );
        assert_eq!(bob.get("token").await.unwrap(), None);
        // A new session of alice's (a new handle) finds it.
        let again = TransportState::new(store, "test", "alice@example.org");
        assert_eq!(
            again.get("token").await.unwrap().as_deref(),
            Some(&b"t1"[..])
        );
        again.delete("token").await.unwrap();
        assert_eq!(alice.get("token").await.unwrap(), None);
        assert!(TransportState::detached().put("k", b"v").await.is_err());
    }
}
