//! Store-key rotation (`pontoon db rotate-key`): every secret decrypted with the key in use
//! and encrypted again with a new one, in one transaction, so the store is never half old,
//! half new. Where the new key is kept is the caller's business (the key file or
//! `PONTOON_STORE_KEY`); this module only re-encrypts.

use sqlx::Row;

use crate::crypto::{open, registration_aad, seal};
use crate::error::StoreError;
use crate::transport_state::aad as state_aad;
use crate::{Store, StoreKey};

impl Store {
    /// Re-encrypts every stored secret (registration passwords, transport state) with `new`.
    /// All or nothing: a row that does not decrypt with the current key stops the rotation
    /// and nothing changes. Returns how many values were re-encrypted. This store keeps using
    /// its current key afterwards: open the store again with `new`.
    pub async fn reencrypt(&self, new: &StoreKey) -> Result<u64, StoreError> {
        let new_cipher = new.cipher();
        let mut tx = self.begin_write().await?;
        let mut done = 0u64;
        let secrets = sqlx::query(
            "SELECT jid, transport, secret FROM registrations WHERE secret IS NOT NULL",
        )
        .fetch_all(&mut *tx)
        .await?;
        for row in secrets {
            let (jid, transport): (String, String) = (row.try_get(0)?, row.try_get(1)?);
            let aad = registration_aad(&jid, &transport);
            let plain = open(&self.cipher, &aad, &row.try_get::<Vec<u8>, _>(2)?)?;
            let sealed = seal(&new_cipher, &aad, &plain)?;
            sqlx::query("UPDATE registrations SET secret = $1 WHERE jid = $2 AND transport = $3")
                .bind(sealed)
                .bind(jid)
                .bind(transport)
                .execute(&mut *tx)
                .await?;
            done += 1;
        }
        let values = sqlx::query("SELECT transport, account, key, value FROM transport_state")
            .fetch_all(&mut *tx)
            .await?;
        for row in values {
            let (transport, account, key): (String, String, String) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            let aad = state_aad(&transport, &account, &key);
            let plain = open(&self.cipher, &aad, &row.try_get::<Vec<u8>, _>(3)?)?;
            let sealed = seal(&new_cipher, &aad, &plain)?;
            sqlx::query(
                "UPDATE transport_state SET value = $1 WHERE transport = $2 AND account = $3 AND key = $4",
            )
            .bind(sealed)
            .bind(transport)
            .bind(account)
            .bind(key)
            .execute(&mut *tx)
            .await?;
            done += 1;
        }
        tx.commit().await?;
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::{Registration, Store, StoreKey};

    /// After the rotation the secrets read back with the new key only.
    #[tokio::test]
    async fn secrets_read_with_the_new_key_only() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let (old, new) = (StoreKey::from_bytes([1; 32]), StoreKey::from_bytes([2; 32]));
        let store = Store::open(&url, old.clone()).await.unwrap();
        let mut r = Registration::new("alice@example.org", "irc", "alice");
        r.secret = Some("s3cret".into());
        store.put_registration(&r).await.unwrap();
        store
            .put_transport_state("irc", "alice", "token", b"t0ken")
            .await
            .unwrap();
        assert_eq!(store.reencrypt(&new).await.unwrap(), 2);
        store.close().await;

        let rotated = Store::open(&url, new).await.unwrap();
        let got = rotated
            .registration("alice@example.org", "irc")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.secret.as_deref(), Some("s3cret"));
        assert_eq!(
            rotated
                .transport_state("irc", "alice", "token")
                .await
                .unwrap()
                .as_deref(),
            Some(&b"t0ken"[..])
        );
        rotated.close().await;
        let stale = Store::open(&url, old).await.unwrap();
        assert!(
            stale
                .registration("alice@example.org", "irc")
                .await
                .is_err()
        );
    }
}
