//! Sealed links: opaque tokens that carry their own data, encrypted and authenticated with
//! the store key, for URLs Pontoon hands out and must later believe (a link to a legacy
//! network's media). Nothing is stored per link, so minting one costs no write and every
//! instance sharing the key can open it; the purpose is the associated data, so a token
//! minted for one use never opens as another, nor as a stored secret (those are bound to
//! `jid \0 transport` rows). Rotating the store key invalidates every link, which is fine
//! for links that expire anyway.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::crypto::{open, seal};
use crate::error::StoreError;
use crate::store::Store;

/// Longest token [`Store::open_link`] looks at (a link's payload is small).
pub const MAX_LINK_TOKEN_CHARS: usize = 2048;

fn aad(purpose: &str) -> Vec<u8> {
    let mut aad = b"pontoon link\0".to_vec();
    aad.extend_from_slice(purpose.as_bytes());
    aad
}

impl Store {
    /// Seals `payload` for `purpose` into a URL-safe token (base64url, no padding).
    pub fn seal_link(&self, purpose: &str, payload: &[u8]) -> Result<String, StoreError> {
        let blob = seal(&self.cipher, &aad(purpose), payload)?;
        Ok(URL_SAFE_NO_PAD.encode(blob))
    }

    /// Opens a token sealed by [`Store::seal_link`] for the same `purpose`; a token that is
    /// too long, not base64url, tampered with or minted for another purpose is
    /// [`StoreError::Crypto`].
    pub fn open_link(&self, purpose: &str, token: &str) -> Result<Vec<u8>, StoreError> {
        if token.len() > MAX_LINK_TOKEN_CHARS {
            return Err(StoreError::Crypto("link token too long"));
        }
        let blob = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| StoreError::Crypto("link token is not base64url"))?;
        open(&self.cipher, &aad(purpose), &blob)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::{Store, StoreKey};

    async fn store(key: u8) -> Store {
        Store::open("sqlite::memory:", StoreKey::from_bytes([key; 32]))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_link_opens_for_its_purpose_only() {
        let s = store(1).await;
        let token = s.seal_link("media", b"payload").unwrap();
        assert!(!token.contains(['/', '+', '=']));
        assert_eq!(s.open_link("media", &token).unwrap(), b"payload");
        assert!(s.open_link("badge", &token).is_err());
        assert!(store(2).await.open_link("media", &token).is_err());
        let mut tampered = token.clone();
        tampered.replace_range(10..11, if &token[10..11] == "A" { "B" } else { "A" });
        assert!(s.open_link("media", &tampered).is_err());
        assert!(s.open_link("media", "not base64!").is_err());
        assert!(s.open_link("media", &"A".repeat(5000)).is_err());
    }
}
