//! Keys derived from a user's password, for server mode: what a transport keeps between a
//! user's logins (a Matrix device's token and encryption keys) is sealed with a key only
//! the user's next login can derive again, on top of the store key, so that neither the
//! store nor its key file alone can read it, and no password is ever stored. The salt is
//! per (transport, user) and not secret.

use chacha20poly1305::{Key, KeyInit, XChaCha20Poly1305};

use crate::crypto::{open, seal};
use crate::error::StoreError;

/// A key derived from a user's password (argon2id, about 19 MiB and a few tens of
/// milliseconds on a hashing thread of its own). `Debug` shows nothing of it.
#[derive(Clone)]
pub struct UserKey(XChaCha20Poly1305);

impl std::fmt::Debug for UserKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserKey(..)")
    }
}

impl UserKey {
    /// Derives the key of `password` with `salt`.
    pub async fn derive(password: &str, salt: [u8; 16]) -> Result<UserKey, StoreError> {
        let bytes = crate::passwords::derive_key(password.to_owned(), salt).await?;
        Ok(UserKey(XChaCha20Poly1305::new(&Key::from(bytes))))
    }

    /// Seals `plaintext`, bound to `aad`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        seal(&self.0, aad, plaintext)
    }

    /// Opens what [`UserKey::seal`] sealed with the same key and `aad`; another password's
    /// key fails with [`StoreError::Crypto`].
    pub fn open(&self, aad: &[u8], blob: &[u8]) -> Result<Vec<u8>, StoreError> {
        open(&self.0, aad, blob)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn only_the_same_password_and_salt_open() {
        let key = UserKey::derive("hunter2", [1; 16]).await.unwrap();
        let blob = key.seal(b"k", b"device token").unwrap();
        let again = UserKey::derive("hunter2", [1; 16]).await.unwrap();
        assert_eq!(again.open(b"k", &blob).unwrap(), b"device token");
        assert!(again.open(b"other", &blob).is_err());
        let other = UserKey::derive("hunter3", [1; 16]).await.unwrap();
        assert!(other.open(b"k", &blob).is_err());
        let salted = UserKey::derive("hunter2", [2; 16]).await.unwrap();
        assert!(salted.open(b"k", &blob).is_err());
    }
}
