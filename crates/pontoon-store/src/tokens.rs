//! Bearer tokens for the REST API.
//!
//! A token is 32 random bytes shown once as `pnt_` + base64url (no padding); the store
//! keeps only the SHA-256 of that text (hex). Lookup is by digest, so no secret-dependent
//! comparison happens in our code, and a leaked database does not yield usable tokens
//! (they carry 256 bits of entropy: a fast hash is enough, unlike passwords).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::admins::check_name;
use crate::error::StoreError;
use crate::store::{Backend, Store};

/// The prefix of every token, so they are recognisable (e.g. by secret scanners).
pub const TOKEN_PREFIX: &str = "pnt_";

/// `last_used_at` is refreshed at most this often (seconds), so a busy API client does not
/// turn every request into a write.
const LAST_USED_GRANULARITY: i64 = 60;

/// Name of the unique index on token digests.
const DIGEST_INDEX: &str = "api_tokens_sha256";

/// An API token as listed (the token itself is never stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiToken {
    /// The token's name, chosen by the operator.
    pub name: String,
    /// Unix seconds of creation.
    pub created_at: i64,
    /// Unix seconds of the latest successful use (to the minute), if any.
    pub last_used_at: Option<i64>,
}

fn digest(token: &str) -> String {
    let sum = Sha256::digest(token.as_bytes());
    let mut hex = String::with_capacity(64);
    for b in sum {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

impl Store {
    /// Creates the token `name` and returns it; this is the only time the token is seen.
    /// Fails with [`StoreError::TokenNameTaken`] if a token of that name exists and with
    /// [`StoreError::InvalidName`] for a bad name (1 to 64 characters, no blanks).
    pub async fn create_api_token(&self, name: &str) -> Result<String, StoreError> {
        check_name("token name", name)?;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|_| StoreError::Crypto("operating system random generator failed"))?;
        let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        let taken = || StoreError::TokenNameTaken(name.to_owned());
        let mut tx = self.begin_write().await?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT name FROM api_tokens WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_some() {
            return Err(taken());
        }
        let res = sqlx::query(
            "INSERT INTO api_tokens (name, token_sha256, created_at, last_used_at)
             VALUES ($1, $2, $3, NULL)",
        )
        .bind(name)
        .bind(digest(&token))
        .bind(crate::now())
        .execute(&mut *tx)
        .await;
        match res {
            Ok(_) => {}
            // A concurrent creator won the race for the name.
            Err(e) if is_name_violation(&e) => return Err(taken()),
            Err(e) => return Err(e.into()),
        }
        match tx.commit().await {
            Ok(()) => Ok(token),
            Err(e) if is_name_violation(&e) => Err(taken()),
            Err(e) => Err(e.into()),
        }
    }

    /// The name of the token `token`, if it is a valid (not revoked) token. Records the use
    /// (at most once a minute per token).
    pub async fn verify_api_token(&self, token: &str) -> Result<Option<String>, StoreError> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
            return Ok(None);
        }
        let hash = digest(token);
        let row = sqlx::query("SELECT name, last_used_at FROM api_tokens WHERE token_sha256 = $1")
            .bind(&hash)
            .fetch_all(self.db()?)
            .await?
            .into_iter()
            .next();
        let Some(row) = row else {
            return Ok(None);
        };
        let name: String = row.try_get("name")?;
        let last: Option<i64> = row.try_get("last_used_at")?;
        let now = crate::now();
        if last.is_none_or(|t| now - t >= LAST_USED_GRANULARITY) {
            sqlx::query(
                "UPDATE api_tokens SET last_used_at = $1
                 WHERE token_sha256 = $2 AND (last_used_at IS NULL OR last_used_at <= $3)",
            )
            .bind(now)
            .bind(&hash)
            .bind(now - LAST_USED_GRANULARITY)
            .execute(self.db()?)
            .await?;
        }
        Ok(Some(name))
    }

    /// Every API token, by name.
    pub async fn list_api_tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        let rows = sqlx::query(match self.backend {
            // Byte order on both backends, whatever the database's locale.
            Backend::Sqlite => {
                "SELECT name, created_at, last_used_at FROM api_tokens ORDER BY name"
            }
            Backend::Postgres => {
                "SELECT name, created_at, last_used_at FROM api_tokens ORDER BY name COLLATE \"C\""
            }
        })
        .fetch_all(self.db()?)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ApiToken {
                    name: r.try_get("name")?,
                    created_at: r.try_get("created_at")?,
                    last_used_at: r.try_get("last_used_at")?,
                })
            })
            .collect()
    }

    /// Revokes (deletes) the token `name`; `true` if it existed. The next request that
    /// presents it is refused.
    pub async fn revoke_api_token(&self, name: &str) -> Result<bool, StoreError> {
        let res = sqlx::query("DELETE FROM api_tokens WHERE name = $1")
            .bind(name)
            .execute(self.db()?)
            .await?;
        Ok(res.rows_affected() > 0)
    }
}

/// Whether `e` is a unique violation on the token's name (not on its digest, which would
/// mean a 256-bit collision).
fn is_name_violation(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|db| {
        matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation)
            && db.constraint() != Some(DIGEST_INDEX)
            && !db.message().contains(DIGEST_INDEX)
            && !db.message().contains("api_tokens.token_sha256")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha256_hex() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
