//! A transport's own persisted state, per account: small values by key (a Matrix sync
//! token, a device id), so a transport never writes files of its own. Values are
//! encrypted at rest like registration secrets (a token is a credential), bound to their
//! row. Bounded: keys of at most [`MAX_STATE_KEY_BYTES`], values of at most
//! [`MAX_STATE_VALUE_BYTES`], [`MAX_STATE_KEYS`] keys per account. Deleted with the
//! registration.

use crate::crypto::{open, seal};
use crate::error::StoreError;
use crate::store::Store;

/// Longest key.
pub const MAX_STATE_KEY_BYTES: usize = 128;
/// Largest value.
pub const MAX_STATE_VALUE_BYTES: usize = 64 * 1024;
/// Most keys per (transport, account).
pub const MAX_STATE_KEYS: i64 = 64;

/// Associated data binding a value to its row.
pub(crate) fn aad(transport: &str, account: &str, key: &str) -> Vec<u8> {
    [transport, account, key].join("\0").into_bytes()
}

impl Store {
    /// The value of `key` in `transport`'s state for `account`, if set.
    pub async fn transport_state(
        &self,
        transport: &str,
        account: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let blob: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT value FROM transport_state
             WHERE transport = $1 AND account = $2 AND key = $3",
        )
        .bind(transport)
        .bind(account)
        .bind(key)
        .fetch_optional(self.db()?)
        .await?;
        blob.map(|b| open(&self.cipher, &aad(transport, account, key), &b))
            .transpose()
    }

    /// Sets `key` to `value` in `transport`'s state for `account`.
    pub async fn put_transport_state(
        &self,
        transport: &str,
        account: &str,
        key: &str,
        value: &[u8],
    ) -> Result<(), StoreError> {
        if key.is_empty() || key.len() > MAX_STATE_KEY_BYTES || value.len() > MAX_STATE_VALUE_BYTES
        {
            return Err(StoreError::StateTooLarge {
                key: MAX_STATE_KEY_BYTES,
                value: MAX_STATE_VALUE_BYTES,
                keys: MAX_STATE_KEYS,
            });
        }
        let sealed = seal(&self.cipher, &aad(transport, account, key), value)?;
        let mut tx = self.begin_write().await?;
        let keys: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM transport_state
             WHERE transport = $1 AND account = $2 AND key <> $3",
        )
        .bind(transport)
        .bind(account)
        .bind(key)
        .fetch_one(&mut *tx)
        .await?;
        if keys >= MAX_STATE_KEYS {
            return Err(StoreError::StateTooLarge {
                key: MAX_STATE_KEY_BYTES,
                value: MAX_STATE_VALUE_BYTES,
                keys: MAX_STATE_KEYS,
            });
        }
        sqlx::query(
            "INSERT INTO transport_state (transport, account, key, value, updated_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (transport, account, key)
             DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(transport)
        .bind(account)
        .bind(key)
        .bind(sealed)
        .bind(crate::now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes `key` (nothing if unset).
    pub async fn delete_transport_state(
        &self,
        transport: &str,
        account: &str,
        key: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM transport_state WHERE transport = $1 AND account = $2 AND key = $3",
        )
        .bind(transport)
        .bind(account)
        .bind(key)
        .execute(self.db()?)
        .await?;
        Ok(())
    }
}
