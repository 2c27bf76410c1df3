//! XEP-0363 uploads: one row per slot handed to a user, from the slot request until the
//! file is deleted. The file's bytes live on disk beside the store (`pontoon-http`), named
//! by the row's id; the row is what the upload service believes (owner, declared size and
//! type, whether the PUT completed), and what quotas and retention are computed from.
//! Rows, not files, so that every instance sharing a PostgreSQL store sees the same
//! quota.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore;
use sqlx::Row;

use crate::error::StoreError;
use crate::store::Store;

/// Longest file name kept for an upload (bytes); longer ones are refused by the caller.
pub const MAX_UPLOAD_NAME_BYTES: usize = 255;

/// One upload: a slot, and once its PUT completed, a stored file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    /// Unguessable id (base64url of 32 random bytes): the file's name on disk and its URL.
    pub id: String,
    /// The user's bare JID.
    pub owner: String,
    /// The transport the user was logged in to when asking.
    pub transport: String,
    /// The file name the client declared.
    pub name: String,
    /// The media type the client declared (`application/octet-stream` when none).
    pub media_type: String,
    /// The declared size in bytes; the PUT must carry exactly this many.
    pub size: u64,
    /// When the slot was handed out (unix seconds).
    pub created_at: i64,
    /// Until when the PUT is accepted (unix seconds).
    pub slot_expires_at: i64,
    /// When the PUT completed, if it did: only then is the file served.
    pub stored_at: Option<i64>,
}

/// A slot to hand out.
#[derive(Clone, Debug)]
pub struct NewUpload<'a> {
    /// The user's bare JID.
    pub owner: &'a str,
    /// The transport the user is on.
    pub transport: &'a str,
    /// Declared file name.
    pub name: &'a str,
    /// Declared media type.
    pub media_type: &'a str,
    /// Declared size in bytes.
    pub size: u64,
    /// How long the PUT may take to come, in seconds.
    pub slot_secs: i64,
}

/// What [`Store::create_upload`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotOutcome {
    /// The slot exists.
    Created(Upload),
    /// The owner's stored files and open slots plus this one would pass the quota.
    OverQuota {
        /// Bytes the owner has now.
        used: u64,
        /// When the owner's oldest file is deleted by retention (unix seconds), if ever.
        frees_at: Option<i64>,
    },
}

const COLUMNS: &str =
    "id, owner, transport, name, media_type, size, created_at, slot_expires_at, stored_at";

fn row_to_upload(row: &sqlx::any::AnyRow) -> Result<Upload, StoreError> {
    let size: i64 = row.try_get("size")?;
    Ok(Upload {
        id: row.try_get("id")?,
        owner: row.try_get("owner")?,
        transport: row.try_get("transport")?,
        name: row.try_get("name")?,
        media_type: row.try_get("media_type")?,
        size: u64::try_from(size)
            .map_err(|_| StoreError::Corrupt("negative upload size".into()))?,
        created_at: row.try_get("created_at")?,
        slot_expires_at: row.try_get("slot_expires_at")?,
        stored_at: row.try_get("stored_at")?,
    })
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// Hands out a slot for `new`, unless the owner's stored files and unexpired slots
    /// plus `new.size` would pass `quota` bytes. `retention_secs` (files are deleted that
    /// long after upload) tells when space frees up.
    pub async fn create_upload(
        &self,
        new: &NewUpload<'_>,
        quota: u64,
        retention_secs: Option<i64>,
    ) -> Result<SlotOutcome, StoreError> {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|_| StoreError::Crypto("operating system random generator failed"))?;
        let id = URL_SAFE_NO_PAD.encode(bytes);
        let now = crate::now();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) AS used, MIN(created_at) AS oldest
             FROM uploads
             WHERE owner = $1 AND (stored_at IS NOT NULL OR slot_expires_at > $2)",
        )
        .bind(new.owner)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let used: i64 = row.try_get("used")?;
        let oldest: Option<i64> = row.try_get("oldest")?;
        let used = u64::try_from(used).unwrap_or(0);
        if used.saturating_add(new.size) > quota {
            return Ok(SlotOutcome::OverQuota {
                used,
                frees_at: oldest.zip(retention_secs).map(|(o, r)| o.saturating_add(r)),
            });
        }
        sqlx::query(
            "INSERT INTO uploads (id, owner, transport, name, media_type, size, created_at,
                                  slot_expires_at, stored_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)",
        )
        .bind(&id)
        .bind(new.owner)
        .bind(new.transport)
        .bind(new.name)
        .bind(new.media_type)
        .bind(to_i64(new.size))
        .bind(now)
        .bind(now.saturating_add(new.slot_secs))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(SlotOutcome::Created(Upload {
            id,
            owner: new.owner.to_owned(),
            transport: new.transport.to_owned(),
            name: new.name.to_owned(),
            media_type: new.media_type.to_owned(),
            size: new.size,
            created_at: now,
            slot_expires_at: now.saturating_add(new.slot_secs),
            stored_at: None,
        }))
    }

    /// The upload `id`, if it exists.
    pub async fn upload(&self, id: &str) -> Result<Option<Upload>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM uploads WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.db()?)
        .await?;
        row.as_ref().map(row_to_upload).transpose()
    }

    /// Marks the PUT of `id` complete, if its slot is still open and unused; false when
    /// it was not (expired, used, deleted meanwhile).
    pub async fn finish_upload(&self, id: &str) -> Result<bool, StoreError> {
        let now = crate::now();
        let done = sqlx::query(
            "UPDATE uploads SET stored_at = $2
             WHERE id = $1 AND stored_at IS NULL AND slot_expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .execute(self.db()?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes the row of `id` (its file is the caller's to delete).
    pub async fn delete_upload(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM uploads WHERE id = $1")
            .bind(id)
            .execute(self.db()?)
            .await?;
        Ok(())
    }

    /// Up to `limit` ids of uploads to delete now: slots whose time passed without a PUT,
    /// and files stored before `stored_before` (unix seconds; retention).
    pub async fn stale_uploads(
        &self,
        stored_before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let now = crate::now();
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM uploads
             WHERE (stored_at IS NULL AND slot_expires_at <= $1)
                OR (stored_at IS NOT NULL AND stored_at < $2)
             ORDER BY created_at LIMIT $3",
        )
        .bind(now)
        .bind(stored_before.unwrap_or(i64::MIN))
        .bind(limit)
        .fetch_all(self.db()?)
        .await?;
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::StoreKey;

    async fn store() -> Store {
        Store::open("sqlite::memory:", StoreKey::from_bytes([5; 32]))
            .await
            .unwrap()
    }

    fn new(size: u64, slot_secs: i64) -> NewUpload<'static> {
        NewUpload {
            owner: "alice@example.org",
            transport: "irc",
            name: "a.png",
            media_type: "image/png",
            size,
            slot_secs,
        }
    }

    #[tokio::test]
    async fn slots_count_against_the_quota_until_they_expire() {
        let s = store().await;
        let SlotOutcome::Created(first) = s
            .create_upload(&new(600, 60), 1000, Some(3600))
            .await
            .unwrap()
        else {
            panic!("no slot");
        };
        assert_eq!(first.id.len(), 43);
        assert_eq!(s.upload(&first.id).await.unwrap().unwrap(), first);
        match s
            .create_upload(&new(600, 60), 1000, Some(3600))
            .await
            .unwrap()
        {
            SlotOutcome::OverQuota { used, frees_at } => {
                assert_eq!(used, 600);
                assert_eq!(frees_at, Some(first.created_at + 3600));
            }
            other => panic!("{other:?}"),
        }
        // An expired, unused slot frees its space and is swept.
        let SlotOutcome::Created(gone) = s.create_upload(&new(100, -1), 1000, None).await.unwrap()
        else {
            panic!("no slot");
        };
        assert!(!s.finish_upload(&gone.id).await.unwrap());
        assert_eq!(
            s.stale_uploads(None, 10).await.unwrap(),
            vec![gone.id.clone()]
        );
        assert!(s.finish_upload(&first.id).await.unwrap());
        assert!(
            !s.finish_upload(&first.id).await.unwrap(),
            "one PUT per slot"
        );
        assert!(
            s.upload(&first.id)
                .await
                .unwrap()
                .unwrap()
                .stored_at
                .is_some()
        );
        // Retention: stored before the cut-off.
        let later = crate::now() + 10;
        let stale = s.stale_uploads(Some(later), 10).await.unwrap();
        assert!(stale.contains(&first.id));
        s.delete_upload(&first.id).await.unwrap();
        assert_eq!(s.upload(&first.id).await.unwrap(), None);
    }
}
