//! Server-mode account data: what a client stores on its account (XEP-0049 private XML
//! storage, XEP-0402 bookmarks in PEP), as serialised XML. Keyed by the transport, the
//! user's legacy account (their bare JID in server mode), a kind (what protocol stores it)
//! and an item key within the kind; never holds a password. Bounded: at most
//! [`MAX_ACCOUNT_DATA_ITEMS`] items of one kind per account, each at most
//! [`MAX_ACCOUNT_DATA_BYTES`].

use crate::error::StoreError;
use crate::store::Store;

/// Most items of one kind kept per account.
pub const MAX_ACCOUNT_DATA_ITEMS: i64 = 64;
/// Largest item, in bytes.
pub const MAX_ACCOUNT_DATA_BYTES: usize = 64 * 1024;

impl Store {
    /// Every item of `kind` stored for `account` on `transport`: `(item, data)`, by item.
    pub async fn account_data(
        &self,
        transport: &str,
        account: &str,
        kind: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT item, data FROM account_data
             WHERE transport = $1 AND account = $2 AND kind = $3 ORDER BY item",
        )
        .bind(transport)
        .bind(account)
        .bind(kind)
        .fetch_all(self.db()?)
        .await?;
        Ok(rows)
    }

    /// One item, if stored.
    pub async fn account_data_item(
        &self,
        transport: &str,
        account: &str,
        kind: &str,
        item: &str,
    ) -> Result<Option<String>, StoreError> {
        let data: Option<String> = sqlx::query_scalar(
            "SELECT data FROM account_data
             WHERE transport = $1 AND account = $2 AND kind = $3 AND item = $4",
        )
        .bind(transport)
        .bind(account)
        .bind(kind)
        .bind(item)
        .fetch_optional(self.db()?)
        .await?;
        Ok(data)
    }

    /// Stores (adds or replaces) one item.
    pub async fn put_account_data(
        &self,
        transport: &str,
        account: &str,
        kind: &str,
        item: &str,
        data: &str,
    ) -> Result<(), StoreError> {
        if data.len() > MAX_ACCOUNT_DATA_BYTES || item.len() > MAX_ACCOUNT_DATA_BYTES {
            return Err(StoreError::AccountDataTooLarge(MAX_ACCOUNT_DATA_BYTES));
        }
        let mut tx = self.begin_write().await?;
        let exists: Option<String> = sqlx::query_scalar(
            "SELECT item FROM account_data
             WHERE transport = $1 AND account = $2 AND kind = $3 AND item = $4",
        )
        .bind(transport)
        .bind(account)
        .bind(kind)
        .bind(item)
        .fetch_optional(&mut *tx)
        .await?;
        if exists.is_some() {
            sqlx::query(
                "UPDATE account_data SET data = $1, updated_at = $2
                 WHERE transport = $3 AND account = $4 AND kind = $5 AND item = $6",
            )
            .bind(data)
            .bind(crate::now())
            .bind(transport)
            .bind(account)
            .bind(kind)
            .bind(item)
            .execute(&mut *tx)
            .await?;
        } else {
            let count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM account_data
                 WHERE transport = $1 AND account = $2 AND kind = $3",
            )
            .bind(transport)
            .bind(account)
            .bind(kind)
            .fetch_one(&mut *tx)
            .await?;
            if count >= MAX_ACCOUNT_DATA_ITEMS {
                return Err(StoreError::AccountDataFull(MAX_ACCOUNT_DATA_ITEMS));
            }
            sqlx::query(
                "INSERT INTO account_data (transport, account, kind, item, data, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(transport)
            .bind(account)
            .bind(kind)
            .bind(item)
            .bind(data)
            .bind(crate::now())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Removes one item; `true` if it was there.
    pub async fn remove_account_data(
        &self,
        transport: &str,
        account: &str,
        kind: &str,
        item: &str,
    ) -> Result<bool, StoreError> {
        let res = sqlx::query(
            "DELETE FROM account_data
             WHERE transport = $1 AND account = $2 AND kind = $3 AND item = $4",
        )
        .bind(transport)
        .bind(account)
        .bind(kind)
        .bind(item)
        .execute(self.db()?)
        .await?;
        Ok(res.rows_affected() > 0)
    }
}
