//! The transport's own persisted state for one account (`pontoon_store::transport_state`):
//! what a network needs to remember between sessions (a Matrix sync token, a device id),
//! handed to each session at start, so a transport never writes files. Values are bytes,
//! encrypted at rest, bounded by the store (`MAX_STATE_*`).
//!
//! In server mode the state is also sealed with a key derived from the user's password
//! ([`TransportState::sealed_by_password`]): only the user's next login can read what the
//! last one kept, and no password is stored. A login with another password finds nothing
//! (the old values do not open) and starts afresh.

use std::sync::{Arc, Mutex};

use pontoon_store::{Store, StoreError, UserKey};
use tokio::sync::OnceCell;

/// The state key of the salt of a user's key (not secret; never sealed by that key).
const SALT_KEY: &str = "pontoon.user-key-salt";

/// One account's state on one transport. Cloned cheaply: the session, its handle in the
/// service and the transport's session each keep it, and three copies of its names and
/// store handle were about 300 bytes per session (performance pass 4).
#[derive(Clone, Debug)]
pub struct TransportState(Arc<Inner>);

#[derive(Clone, Debug)]
struct Inner {
    store: Option<Store>,
    transport: Box<str>,
    account: Box<str>,
    /// Server mode: the user's password-derived key, derived at first use.
    sealer: Option<Arc<Sealer>>,
}

/// A key derived from the user's password when first needed, on a hashing thread.
struct Sealer {
    /// The password until the key is derived.
    password: Mutex<Option<String>>,
    key: OnceCell<UserKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl TransportState {
    /// The state of `account` (the user's bare JID) on `transport`, in `store`.
    pub fn new(store: Store, transport: &str, account: &str) -> Self {
        TransportState(Arc::new(Inner {
            store: Some(store),
            transport: transport.into(),
            account: account.into(),
            sealer: None,
        }))
    }

    /// No store behind it (a transport's own tests): nothing is ever set, and setting
    /// anything fails with [`StoreError::Unavailable`].
    pub fn detached() -> Self {
        TransportState(Arc::new(Inner {
            store: None,
            transport: "".into(),
            account: "".into(),
            sealer: None,
        }))
    }

    /// This state, its values also sealed with a key derived from `password` (server
    /// mode's login password).
    pub fn sealed_by_password(self, password: &str) -> Self {
        let mut inner = Arc::unwrap_or_clone(self.0);
        inner.sealer = Some(Arc::new(Sealer {
            password: Mutex::new(Some(password.to_owned())),
            key: OnceCell::new(),
        }));
        TransportState(Arc::new(inner))
    }

    /// The user's key, derived on first use (the salt made and kept on the first ever).
    async fn user_key(&self, store: &Store) -> Result<Option<&UserKey>, StoreError> {
        let Some(sealer) = &self.0.sealer else {
            return Ok(None);
        };
        let key = sealer
            .key
            .get_or_try_init(|| async {
                let password = sealer
                    .password
                    .lock()
                    .map_err(|_| StoreError::Crypto("the password lock was poisoned"))?
                    .clone()
                    .ok_or(StoreError::Crypto("no password to derive the key from"))?;
                let salt = match store
                    .transport_state(&self.0.transport, &self.0.account, SALT_KEY)
                    .await?
                    .and_then(|s| <[u8; 16]>::try_from(s.as_slice()).ok())
                {
                    Some(salt) => salt,
                    None => {
                        let salt: [u8; 16] = rand::random();
                        store
                            .put_transport_state(
                                &self.0.transport,
                                &self.0.account,
                                SALT_KEY,
                                &salt,
                            )
                            .await?;
                        salt
                    }
                };
                UserKey::derive(&password, salt).await
            })
            .await?;
        // Derived: the password is no longer needed here.
        if let Ok(mut p) = sealer.password.lock() {
            *p = None;
        }
        Ok(Some(key))
    }

    /// The value of `key`, if set (and, sealed by a password, readable with this one).
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(store) = &self.0.store else {
            return Ok(None);
        };
        let value = store
            .transport_state(&self.0.transport, &self.0.account, key)
            .await?;
        // Nothing set needs no key: a login whose transport keeps nothing derives none.
        let Some(value) = value else {
            return Ok(None);
        };
        match self.user_key(store).await? {
            Some(user_key) => Ok(user_key.open(key.as_bytes(), &value).ok()),
            None => Ok(Some(value)),
        }
    }

    /// Sets `key` to `value`.
    pub async fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let Some(store) = &self.0.store else {
            return Err(StoreError::Unavailable);
        };
        match self.user_key(store).await? {
            Some(user_key) => {
                let sealed = user_key.seal(key.as_bytes(), value)?;
                store
                    .put_transport_state(&self.0.transport, &self.0.account, key, &sealed)
                    .await
            }
            None => {
                store
                    .put_transport_state(&self.0.transport, &self.0.account, key, value)
                    .await
            }
        }
    }

    /// Removes `key`.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match &self.0.store {
            Some(s) => {
                s.delete_transport_state(&self.0.transport, &self.0.account, key)
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

    #[tokio::test]
    async fn sealed_values_open_with_the_same_password_only() {
        let store = Store::open("sqlite::memory:", StoreKey::from_bytes([3; 32]))
            .await
            .unwrap();
        let login =
            |pw: &str| TransportState::new(store.clone(), "m", "a@x").sealed_by_password(pw);
        login("pw1").put("device", b"D1").await.unwrap();
        assert_eq!(
            login("pw1").get("device").await.unwrap().as_deref(),
            Some(&b"D1"[..])
        );
        // Another password: as if nothing were kept.
        assert_eq!(login("pw2").get("device").await.unwrap(), None);
        // Without the password (the store key alone), the value stays sealed.
        let raw = TransportState::new(store.clone(), "m", "a@x")
            .get("device")
            .await
            .unwrap();
        assert!(raw.is_some_and(|v| v != b"D1"));
    }
}
