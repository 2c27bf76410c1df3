//! Server-mode rosters: the contacts a user keeps in Pontoon when the legacy network keeps
//! no contact list (IRC). Keyed by the transport and the user's legacy account (their bare
//! JID in server mode); never holds a password.

use sqlx::Row;

use crate::error::StoreError;
use crate::store::Store;

/// Most roster items kept per account; more are refused with [`StoreError::RosterFull`].
pub const MAX_ROSTER_ITEMS: i64 = 2000;

/// One roster item (RFC 6121).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RosterItem {
    /// The contact's JID (bare).
    pub contact_jid: String,
    /// The name the user gave it.
    pub name: Option<String>,
    /// Its groups.
    pub groups: Vec<String>,
    /// `none`, `to`, `from` or `both`.
    pub subscription: String,
}

impl Store {
    /// The roster of `account` on `transport`, by contact JID.
    pub async fn roster(
        &self,
        transport: &str,
        account: &str,
    ) -> Result<Vec<RosterItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT contact_jid, name, groups, subscription FROM roster
             WHERE transport = $1 AND account = $2 ORDER BY contact_jid",
        )
        .bind(transport)
        .bind(account)
        .fetch_all(self.db()?)
        .await?;
        rows.iter().map(item_of).collect()
    }

    /// One item of `account`'s roster, if there.
    pub async fn roster_item(
        &self,
        transport: &str,
        account: &str,
        contact_jid: &str,
    ) -> Result<Option<RosterItem>, StoreError> {
        let row = sqlx::query(
            "SELECT contact_jid, name, groups, subscription FROM roster
             WHERE transport = $1 AND account = $2 AND contact_jid = $3",
        )
        .bind(transport)
        .bind(account)
        .bind(contact_jid)
        .fetch_optional(self.db()?)
        .await?;
        row.as_ref().map(item_of).transpose()
    }

    /// Adds or updates one item of `account`'s roster.
    pub async fn put_roster_item(
        &self,
        transport: &str,
        account: &str,
        item: &RosterItem,
    ) -> Result<(), StoreError> {
        let groups = serde_json::to_string(&item.groups).unwrap_or_else(|_| "[]".to_owned());
        let mut tx = self.begin_write().await?;
        let exists: Option<String> = sqlx::query_scalar(
            "SELECT contact_jid FROM roster WHERE transport = $1 AND account = $2 AND contact_jid = $3",
        )
        .bind(transport)
        .bind(account)
        .bind(&item.contact_jid)
        .fetch_optional(&mut *tx)
        .await?;
        if exists.is_some() {
            sqlx::query(
                "UPDATE roster SET name = $1, groups = $2, subscription = $3, updated_at = $4
                 WHERE transport = $5 AND account = $6 AND contact_jid = $7",
            )
            .bind(item.name.as_deref())
            .bind(&groups)
            .bind(&item.subscription)
            .bind(crate::now())
            .bind(transport)
            .bind(account)
            .bind(&item.contact_jid)
            .execute(&mut *tx)
            .await?;
        } else {
            let count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM roster WHERE transport = $1 AND account = $2",
            )
            .bind(transport)
            .bind(account)
            .fetch_one(&mut *tx)
            .await?;
            if count >= MAX_ROSTER_ITEMS {
                return Err(StoreError::RosterFull(MAX_ROSTER_ITEMS));
            }
            sqlx::query(
                "INSERT INTO roster (transport, account, contact_jid, name, groups, subscription, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(transport)
            .bind(account)
            .bind(&item.contact_jid)
            .bind(item.name.as_deref())
            .bind(&groups)
            .bind(&item.subscription)
            .bind(crate::now())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Removes one item; `true` if it was there.
    pub async fn remove_roster_item(
        &self,
        transport: &str,
        account: &str,
        contact_jid: &str,
    ) -> Result<bool, StoreError> {
        let res = sqlx::query(
            "DELETE FROM roster WHERE transport = $1 AND account = $2 AND contact_jid = $3",
        )
        .bind(transport)
        .bind(account)
        .bind(contact_jid)
        .execute(self.db()?)
        .await?;
        Ok(res.rows_affected() > 0)
    }
}

/// A roster row as an item.
fn item_of(r: &sqlx::any::AnyRow) -> Result<RosterItem, StoreError> {
    let groups: String = r.try_get("groups")?;
    Ok(RosterItem {
        contact_jid: r.try_get("contact_jid")?,
        name: r.try_get("name")?,
        groups: serde_json::from_str(&groups).unwrap_or_default(),
        subscription: r.try_get("subscription")?,
    })
}
